"""Model selection (`auto`): every candidate fitted and reported, the best on validation chosen,
the time budget, the blend, and the test items never reaching the choice."""

from __future__ import annotations

import gzip
import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from recommender_service.ml.blend import Blend, simplex
from recommender_service.ml.config import TrainConfig
from recommender_service.ml.data import IndexedData
from recommender_service.ml.evaluation import RankingTask
from recommender_service.ml.ials import IALS
from recommender_service.ml.search import log_search
from recommender_service.ml.selection import select, summary
from recommender_service.offline import evaluate_cli
from tests.recommender.synthetic import generate

AUTO = TrainConfig(
    model="auto", candidates=("gmf", "ials", "ease"), epochs=3, patience=2, embedding_dim=8,
    ials_factors=8, ials_iterations=4, holdout_metrics=False, refit_full=False, seed=5,
)  # fmt: skip


@pytest.fixture(scope="module")
def split() -> tuple[IndexedData, RankingTask]:
    s = generate(60, 40, 2400, seed=4)
    users = np.unique(s.user_ids, return_inverse=True)[1].reshape(-1)
    items = np.unique(s.item_ids, return_inverse=True)[1].reshape(-1)
    pairs = np.unique(np.c_[users, items], axis=0)
    rng = np.random.default_rng(0)
    held = np.array([rng.choice(np.flatnonzero(pairs[:, 0] == u)) for u in range(60)])
    rest = np.setdiff1d(np.arange(len(pairs)), held)
    train = IndexedData.dense(pairs[rest, 0], pairs[rest, 1], 60, 40)
    seen = {(int(u), int(i)) for u, i in pairs}
    negatives = np.full((60, 20), -1)  # -1 pads a user with fewer unseen items
    for u in range(60):
        unseen = [i for i in range(40) if (u, i) not in seen][:20]
        negatives[u, : len(unseen)] = unseen
    candidates = np.c_[pairs[held, 1], negatives]
    return train, RankingTask(np.arange(60), candidates)


@pytest.fixture(scope="module")
def selection(split):
    rows: list[dict] = []
    return select(AUTO, *split, progress=rows.append), rows


def test_candidates_are_fitted_cheapest_first_and_the_best_on_validation_chosen(selection):
    chosen, rows = selection[0].chosen, selection[1]
    names = [c.name for c in selection[0].candidates]
    assert names[:3] == ["ease", "ials", "gmf"]
    assert set(names) <= {"ease", "ials", "gmf", "blend"}
    best = max(c.validation["ndcg@10"] for c in selection[0].candidates)
    assert chosen.validation["ndcg@10"] == best
    stages = [r["stage"] for r in rows]
    assert stages == sorted(stages, key=["select:ease", "select:ials", "select:gmf"].index)


def test_every_candidate_config_rebuilds_what_its_search_found(selection):
    by_name = {c.name: c for c in selection[0].candidates}
    assert by_name["ease"].config.ease_l2 == by_name["ease"].result.tuned["ease_l2"]
    assert by_name["ials"].config.ials_alpha == by_name["ials"].result.tuned["ials_alpha"]
    assert by_name["gmf"].config.model == "gmf" and by_name["gmf"].result.tuned == {}


def test_summary_reports_validation_and_test_figures_of_every_candidate(selection):
    test = {"hr@10": 0.5, "ndcg@10": 0.25}
    rows = summary(selection[0], lambda c: test)
    assert set(rows) == {c.name for c in selection[0].candidates}
    for c in selection[0].candidates:
        assert rows[c.name]["val_ndcg@10"] == c.validation["ndcg@10"]
        assert rows[c.name]["hr@10"] == 0.5 and rows[c.name]["chosen"] == (c is selection[0].chosen)
    assert sum(r["chosen"] for r in rows.values()) == 1


def test_a_spent_budget_starts_no_candidate_after_the_first(split) -> None:
    spent = select(TrainConfig(**{**AUTO.to_dict(), "budget_seconds": 1e-9}), *split)
    assert [c.name for c in spent.candidates] == ["ease"]
    assert spent.skipped == ["ials", "gmf"]
    assert summary(spent, lambda c: {})["gmf"] == {"skipped": "time budget spent"}


def test_a_single_family_is_its_own_selection_without_a_blend(split) -> None:
    single = select(TrainConfig(**{**AUTO.to_dict(), "model": "ease"}), *split)
    assert [c.name for c in single.candidates] == ["ease"] and single.skipped == []


def test_a_blend_sums_its_parts_over_their_spreads_and_mixes_their_cosines() -> None:
    torch.manual_seed(0)
    a, b = IALS(4, 5, 3), IALS(4, 5, 2)
    blend = Blend([a, b], [0.25, 0.75])
    blend.scales = torch.tensor([2.0, 4.0])
    users, items = torch.tensor([0, 3, 1]), torch.tensor([4, 0, 2])
    expected = 0.25 * a(users, items) / 2 + 0.75 * b(users, items) / 4
    torch.testing.assert_close(blend(users, items), expected)
    unit = torch.nn.functional.normalize
    cos = 0.25 * (unit(a.item_vectors()) @ unit(a.item_vectors())[1])
    cos += 0.75 * (unit(b.item_vectors()) @ unit(b.item_vectors())[1])
    vectors = blend.item_vectors()
    torch.testing.assert_close(vectors @ vectors[1], cos)


def test_the_weight_grid_covers_the_simplex_in_tenths() -> None:
    points = list(simplex(3))
    assert len(points) == 66 and len(set(points)) == 66
    assert all(math.isclose(sum(p), 1.0) and min(p) >= 0 for p in points)
    assert (1.0, 0.0, 0.0) in points and (0.3, 0.3, 0.4) in points


def test_log_search_walks_to_the_optimum_and_never_fits_a_point_twice() -> None:
    fitted: list[float] = []

    def fit(point: dict[str, float]) -> tuple[float, float]:
        fitted.append(point["x"])
        return -((math.log(point["x"]) - math.log(37.0)) ** 2), point["x"]

    found = log_search(fit, {"x": 1.0})
    assert 37.0 / math.sqrt(2) <= found.payload <= 37.0 * math.sqrt(2)
    assert len(fitted) == len({round(x, 9) for x in fitted}) <= 12
    limited = log_search(fit, {"x": 1.0}, max_trials=3)
    assert len(limited.trials) == 3


def _ncf_folder(folder: Path, seed: int) -> None:
    """The same training file; test items and negatives drawn with `seed`."""
    s = generate(50, 80, 1500, seed=8)
    users = np.unique(s.user_ids, return_inverse=True)[1].reshape(-1)
    items = np.unique(s.item_ids, return_inverse=True)[1].reshape(-1)
    pairs = np.unique(np.c_[users, items], axis=0)
    with gzip.open(folder / "ml-1m.train.rating.reconstructed.gz", "wt") as fh:
        fh.write("".join(f"{u}\t{i}\t1\t0\n" for u, i in pairs))
    rng = np.random.default_rng(seed)
    tests, negatives = [], []
    for u in range(50):
        unseen = np.setdiff1d(np.arange(80), pairs[pairs[:, 0] == u, 1])
        picked = rng.choice(unseen, size=11, replace=False)
        tests.append(f"{u}\t{picked[0]}\t5\t9\n")
        negatives.append(f"({u},{picked[0]})\t" + "\t".join(map(str, picked[1:])) + "\n")
    (folder / "ml-1m.test.rating").write_text("".join(tests))
    (folder / "ml-1m.test.negative").write_text("".join(negatives))


def test_other_test_items_change_no_choice_no_validation_figure_no_hyperparameter(
    tmp_path: Path,
) -> None:
    results = []
    for seed in (1, 2):
        folder = tmp_path / f"test-seed-{seed}"
        folder.mkdir()
        _ncf_folder(folder, seed)
        out = tmp_path / f"{seed}.json"
        argv = ["--dataset", str(folder), "--model", "auto", "--candidates", "ease,ials,mf"]
        argv += ["--epochs", "2", "--embedding-dim", "8", "--ials-factors", "8", "--quiet"]
        assert evaluate_cli.main([*argv, "--json", str(out)]) == 0
        results.append(json.loads(out.read_text()))
    first, second = results
    assert first["chosen"] == second["chosen"]
    assert first["hyperparameters"] == second["hyperparameters"]
    for name, row in first["candidates"].items():
        other = second["candidates"][name]
        assert {k: v for k, v in row.items() if k.startswith("val_")} == {
            k: v for k, v in other.items() if k.startswith("val_")
        }
        assert row["tuned"] == other["tuned"]
    assert any(
        row["hr@10"] != second["candidates"][n]["hr@10"] for n, row in first["candidates"].items()
    )  # the test items did change
