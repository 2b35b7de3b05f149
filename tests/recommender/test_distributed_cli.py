"""`torchrun --nproc_per_node=2 -m recommender_service train|evaluate --distributed`: two CPU
processes (gloo on loopback, a port torchrun picks) train one version, which rank 0 alone
registers, or run the offline protocol, whose JSON has a one-process run's keys."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path

import pytest
import redis.asyncio as aioredis
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from recommender_service.offline import evaluate_cli
from recommender_service.registry import service as registry
from shared.model_metrics import POPULARITY_PREFIX
from tests.recommender.conftest import (
    SERVICE_KEY,
    STREAM,
    load_synthetic,
    make_settings,
    train_version,
)
from tests.recommender.synthetic import generate

pytestmark = pytest.mark.slow

TRAIN = ("train", "--model", "gmf", "--epochs", "5", "--embedding-dim", "16", "--device", "cpu")
TORCHRUN = (sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2")


async def _run(env: dict[str, str], *command: str) -> tuple[int, str]:
    process = await asyncio.create_subprocess_exec(
        *command, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
    )
    out, _ = await asyncio.wait_for(process.communicate(), 300)  # two processes on a busy CI
    return process.returncode or 0, out.decode()


def _env(database_url: str, redis_url: str, tmp_path: Path) -> dict[str, str]:
    return {
        **os.environ, "DATABASE_URL": database_url, "REDIS_URL": redis_url,
        "SERVICE_API_KEY": SERVICE_KEY, "EVENTS_STREAM": STREAM, "DATA_DIR": str(tmp_path),
        "BOOTSTRAP_ENABLED": "false", "MIN_TRAINING_INTERACTIONS": "5",
    }  # fmt: skip


async def test_two_processes_register_one_version_as_good_as_one_process(
    database_url: str,
    redis_url: str,
    tmp_path: Path,
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    synthetic = generate(120, 60, 4000, seed=1)
    await load_synthetic(sessionmaker, synthetic)
    env = _env(database_url, redis_url, tmp_path)
    code, out = await _run(env, *TORCHRUN, "-m", "recommender_service", *TRAIN, "--distributed")
    assert code == 0, out
    pairs = len(synthetic.interactions())
    assert f"rank 1 of 2: trained its share of {pairs} pairs (gmf)" in out
    assert out.count("activated: no active version") == 1  # rank 0's report, once
    async with sessionmaker() as session:
        versions, total = await registry.list_versions(session=session, limit=10, offset=0)
        together = versions[0]
        epochs = await registry.list_epochs(session=session, version_id=together.id)
    assert total == 1
    assert (together.status, together.algorithm, together.trigger) == ("active", "gmf", "cli")
    assert together.hyperparameters["world_size"] == 2
    # Selection (5 epochs) and the refit (to the best epoch), each logged once, by rank 0.
    assert [(e.stage, e.epoch) for e in epochs] == [("select", n) for n in range(1, 6)] + [
        ("refit", n) for n in range(1, int(together.metrics["best_epoch"]) + 1)
    ]
    assert {"hr@10", "ndcg@10", "precision@10", "rmse"} <= together.metrics.keys()

    # The same run in one process (the job the CLI runs, without torchrun), for comparison.
    settings = make_settings(
        database_url, redis_url, tmp_path, train_epochs=5, train_embedding_dim=16,
        train_batch_size=None, train_holdout_metrics=True, train_refit_full=True,
    )  # fmt: skip
    async with aioredis.from_url(redis_url) as redis:
        outcome = await train_version(settings, sessionmaker, redis, model="gmf")
    async with sessionmaker() as session:
        alone = await registry.get_version(session=session, version_id=outcome.version_id)
    assert alone.hyperparameters["world_size"] == 1
    for name in ("hr@10", "ndcg@10"):  # 120 test users: a generous band around one process
        assert abs(together.metrics[name] - alone.metrics[name]) < 0.12, name
        assert together.metrics[name] > together.metrics[f"{POPULARITY_PREFIX}{name}"]


async def test_a_family_without_sgd_epochs_is_refused_before_any_process_group(
    database_url: str, redis_url: str, tmp_path: Path
) -> None:
    env = _env(database_url, redis_url, tmp_path)
    code, out = await _run(
        env, sys.executable, "-m", "recommender_service", "train", "--model", "ease",
        "--distributed",
    )  # fmt: skip
    assert code == 2
    assert "not started: --distributed trains the SGD families" in out
    assert "not 'ease'" in out


async def test_evaluate_distributed_writes_the_keys_of_a_one_process_run(tmp_path: Path) -> None:
    data = generate(n_users=80, n_items=60, n_interactions=2500, seed=2)
    (tmp_path / "u.data").write_text(
        "".join(
            f"{u}\t{i}\t1\t{t}\n"
            for u, i, t in zip(data.user_ids, data.item_ids, data.timestamps, strict=True)
        )
    )
    args = ("--dataset", str(tmp_path), "--model", "neumf", "--epochs", "3", "--pretrain-epochs")
    args = (*args, "2", "--threads", "1", "--device", "cpu", "--quiet")
    shared, alone = tmp_path / "two.json", tmp_path / "one.json"
    code, out = await _run(
        dict(os.environ), *TORCHRUN, "-m", "recommender_service", "evaluate", *args,
        "--distributed", "--json", str(shared),
    )  # fmt: skip
    assert code == 0, out
    assert evaluate_cli.main([*args, "--json", str(alone)]) == 0
    two, one = json.loads(shared.read_text()), json.loads(alone.read_text())
    assert two.keys() == one.keys()
    assert two["hyperparameters"].keys() == one["hyperparameters"].keys()
    assert [r.keys() for r in two["history"]] == [r.keys() for r in one["history"]]
    assert (two["world_size"], one["world_size"], two["model"]) == (2, 1, "neumf")
    assert two["epochs"] == len(two["history"]) == 3
    assert abs(two["hr@10"] - one["hr@10"]) < 0.15  # 80 test users: a generous band
