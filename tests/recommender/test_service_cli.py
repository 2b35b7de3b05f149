"""`python -m recommender_service train` as `make run` uses it: sync, train, register, plot."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

import redis.asyncio as aioredis
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from recommender_service.readmodel.models import User
from recommender_service.registry import service as registry
from shared.enums import Filiere, Niveau
from shared.events import UserUpserted
from tests.recommender.conftest import SERVICE_KEY, STREAM, load_synthetic, publish
from tests.recommender.synthetic import generate


async def _cli(env: dict[str, str], *args: str) -> tuple[int, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "recommender_service", *args,
        env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    out, _ = await asyncio.wait_for(process.communicate(), 120)
    return process.returncode or 0, out.decode()


async def test_train_syncs_the_stream_registers_activates_and_plots(
    database_url: str,
    redis_url: str,
    tmp_path: Path,
    sessionmaker: async_sessionmaker[AsyncSession],
    redis: aioredis.Redis,
) -> None:
    await load_synthetic(sessionmaker, generate(30, 20, 600, seed=1))
    await publish(redis, UserUpserted(id=4242, niveau=Niveau.M1, filiere=Filiere.PHYSIQUE))
    env = {
        **os.environ, "DATABASE_URL": database_url, "REDIS_URL": redis_url,
        "SERVICE_API_KEY": SERVICE_KEY, "EVENTS_STREAM": STREAM, "DATA_DIR": str(tmp_path),
        "BOOTSTRAP_ENABLED": "false", "TRAIN_HOLDOUT_METRICS": "false",
        "TRAIN_REFIT_FULL": "false", "MIN_TRAINING_INTERACTIONS": "5",
    }  # fmt: skip
    plot = tmp_path / "curves.png"
    code, out = await _cli(
        env, "train", "--model", "gmf", "--epochs", "2", "--embedding-dim", "8", "--plot", str(plot)
    )
    assert code == 0, out
    assert "read model synced (1 new stream entries)" in out
    assert "activated" in out
    assert plot.stat().st_size > 0
    async with sessionmaker() as session:
        assert (await session.get(User, 4242)).filiere == "PHYSIQUE"
        active = await registry.get_active(session=session)
    assert (active.algorithm, active.trigger, active.hyperparameters["epochs"]) == ("gmf", "cli", 2)
    code, out = await _cli(env, "train", "--if-missing")
    assert code == 0, out
    assert f"version {active.id} is active; nothing to do" in out


async def test_train_auto_prints_every_candidate_and_registers_the_chosen_family(
    database_url: str,
    redis_url: str,
    tmp_path: Path,
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    await load_synthetic(sessionmaker, generate(30, 20, 600, seed=1))
    env = {
        **os.environ, "DATABASE_URL": database_url, "REDIS_URL": redis_url,
        "SERVICE_API_KEY": SERVICE_KEY, "EVENTS_STREAM": STREAM, "DATA_DIR": str(tmp_path),
        "BOOTSTRAP_ENABLED": "false", "TRAIN_HOLDOUT_METRICS": "false",
        "MIN_TRAINING_INTERACTIONS": "5", "RECOMMENDER_MODEL": "auto",
    }  # fmt: skip
    code, out = await _cli(env, "train", "--epochs", "2", "--embedding-dim", "8")
    assert code == 0, out
    async with sessionmaker() as session:
        active = await registry.get_active(session=session)
    assert active is not None
    candidates = active.metrics["candidates"]
    assert {"ease", "ials", "neumf"} <= set(candidates)
    assert [n for n, row in candidates.items() if row["chosen"]] == [active.algorithm]
    rows = out[out.index("candidate ") :].splitlines()[1 : 1 + len(candidates)]
    assert [line.split()[0] for line in rows] == list(candidates)
    assert [line.split()[0] for line in rows if line.endswith("← chosen")] == [active.algorithm]


async def test_the_service_shuts_down_without_waiting_out_the_model_poll(
    database_url: str, redis_url: str, tmp_path: Path
) -> None:
    import time

    from recommender_service.main import create_app
    from tests.recommender.conftest import make_settings

    settings = make_settings(
        database_url, redis_url, tmp_path, model_poll_seconds=30.0, consumer_enabled=True
    )
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        await asyncio.sleep(0.3)  # the watcher is now waiting for a message
        started = time.monotonic()
    assert time.monotonic() - started < 1.0


def test_progress_bar_counts_epochs_of_each_stage() -> None:
    import io

    from recommender_service.offline.console import StageBar

    bar = StageBar(file=io.StringIO())
    for _ in range(3):
        bar({"stage": "select", "epochs": 5, "loss": 0.5, "val_hr@10": 0.4})
    assert (bar.bar.n, bar.bar.total) == (3, 5)
    bar({"stage": "refit", "epochs": 2, "loss": 0.4})
    assert (bar.bar.n, bar.bar.total, bar.bar.desc) == (1, 2, "refit: ")
    bar({"stage": "select:ease", "epoch": 1, "loss": None, "val_ndcg@10": 0.3})
    assert (bar.bar.n, bar.bar.total, bar.bar.desc) == (1, None, "select:ease: ")
