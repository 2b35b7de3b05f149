"""Data-parallel training (ml/distributed.py): the deal of each epoch's positives, the one-process
identities, and two CPU processes in a real gloo group training one model together."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from recommender_service.ml import distributed
from recommender_service.ml.config import TrainConfig
from recommender_service.ml.data import IndexedData, NegativeSampler, index_data, leave_one_out
from recommender_service.ml.evaluation import (
    RankingTask,
    evaluate_ranking,
    model_score_fn,
    popularity_score_fn,
)
from recommender_service.ml.families import train_family
from tests.recommender.synthetic import generate

CONFIG = TrainConfig(
    model="gmf", embedding_dim=16, epochs=6, patience=6, batch_size=512, lr=0.01, seed=5
)


def test_a_deal_gives_each_row_to_one_rank_every_epoch_and_deals_afresh_the_next() -> None:
    shares = [distributed.deal(11, 1, 7, r, 3) for r in range(3)]
    assert [len(s) for s in shares] == [4, 4, 4]  # 11 rows padded to 12: equal steps
    dealt = np.concatenate(shares)
    assert sorted(set(dealt.tolist())) == list(range(11))
    assert len(dealt) - len(set(dealt.tolist())) == 1  # the one row of padding
    again = distributed.deal(11, 1, 7, 0, 3)
    assert np.array_equal(again, shares[0])  # every rank computes the same deal
    assert not np.array_equal(distributed.deal(11, 2, 7, 0, 3), shares[0])


def test_outside_a_group_everything_is_the_one_process_case() -> None:
    assert not distributed.in_group()
    assert (distributed.rank(), distributed.world_size(), distributed.is_leader()) == (0, 1, True)
    assert distributed.share(10, 1, 0) is None
    assert distributed.rank_seed(42) == 42
    assert distributed.from_leader(lambda: {"ndcg@10": 0.5}) == {"ndcg@10": 0.5}
    assert distributed.mean(0.25) == 0.25
    model = torch.nn.Linear(2, 1)
    assert distributed.wrap(model, torch.device("cpu")) is model


@pytest.mark.parametrize("model", ["ease", "ials", "auto"])
def test_families_without_sgd_epochs_are_refused_with_the_reason(model: str) -> None:
    with pytest.raises(distributed.DistributedError, match=f"not '{model}': EASE"):
        distributed.check_family(model)
    for shared in ("neumf", "gmf", "mlp", "mf"):
        distributed.check_family(shared)


def test_join_outside_torchrun_names_what_is_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in distributed.TORCHRUN_ENV:
        monkeypatch.delenv(name, raising=False)
    missing = r"runs under torchrun \(no RANK, WORLD_SIZE, MASTER_ADDR, MASTER_PORT in"
    with pytest.raises(distributed.DistributedError, match=missing):
        distributed.join("cpu")


def _split() -> tuple[IndexedData, RankingTask]:
    """Training pairs and a validation task, alike in every process (seeded)."""
    data = index_data(generate(150, 80, 6000, seed=3).interactions())
    rest, val = leave_one_out(data.users, data.timestamps, 1)
    every = NegativeSampler(data.users, data.items, data.n_items, 1)
    return data.subset(rest), RankingTask.sample(data.users[val], data.items[val], every, 99)


def _fit(out: Path) -> None:
    train, task = _split()
    module, result = train_family(
        CONFIG, train, validate=lambda m: evaluate_ranking(model_score_fn(m), task, 10)
    )
    torch.save(
        {
            "state": module.state_dict(),
            "history": [{k: v for k, v in row.items() if k != "seconds"} for row in result.history],
            "validation": evaluate_ranking(model_score_fn(module), task, 10),
        },
        out,
    )


def _rank(rank: int, world: int, store: str, out_dir: str) -> None:
    dist.init_process_group(
        "gloo", init_method=f"file://{store}", rank=rank, world_size=world
    )  # fmt: skip
    try:
        _fit(Path(out_dir) / f"rank{rank}.pt")
    finally:
        dist.destroy_process_group()


@pytest.fixture(scope="module")
def two_ranks(tmp_path_factory: pytest.TempPathFactory) -> list[dict]:
    out = tmp_path_factory.mktemp("ddp")
    mp.start_processes(
        _rank, args=(2, str(out / "store"), str(out)), nprocs=2, start_method="spawn"
    )  # fmt: skip
    return [torch.load(out / f"rank{r}.pt") for r in range(2)]


def test_two_ranks_hold_the_same_weights_and_the_same_history(two_ranks: list[dict]) -> None:
    first, second = two_ranks
    assert first["state"].keys() == second["state"].keys()
    for name, tensor in first["state"].items():
        assert torch.equal(tensor, second["state"][name]), name
    # Rank 0's validation (broadcast) and the averaged loss: one history for both.
    assert first["history"] == second["history"]
    assert [row["epoch"] for row in first["history"]] == list(range(1, 7))


def test_two_ranks_learn_as_well_as_one_process(two_ranks: list[dict], tmp_path: Path) -> None:
    _fit(tmp_path / "one.pt")
    one = torch.load(tmp_path / "one.pt")
    train, task = _split()
    popularity = evaluate_ranking(popularity_score_fn(train.items, train.n_items), task, 10)
    together = two_ranks[0]["validation"]
    assert together["ndcg@10"] > popularity["ndcg@10"] + 0.05
    assert abs(together["ndcg@10"] - one["validation"]["ndcg@10"]) < 0.08
    assert abs(together["hr@10"] - one["validation"]["hr@10"]) < 0.1
    # Not the one-process run replayed: each rank drew its own negatives.
    assert not torch.equal(one["state"]["user.weight"], two_ranks[0]["state"]["user.weight"])
