"""Recommender serving against the bare FastAPI route, in one run on one machine.

Starts embedded PostgreSQL and Redis (shared.devstack) in a scratch folder, migrates, loads the
reference-size synthetic set (200 users, 150 épreuves, 15,000 interactions) into the read model,
trains and activates a NeuMF version, serves the recommender with its own command on 127.0.0.1
(consumer and auto-retrain off) and the bare baseline (`benchmarks/bare.py`) beside it, then
measures each row with wrk (1 thread, 32 connections, 8 s, median of 3; a Python client when wrk
is missing) and prints it beside the baseline, with the ratio, the load average and the share
of the host's CPU stolen by its hypervisor:

- cached: the same 200 (user, k=10) requests again and again, answered from memory;
- uncached: parameters never asked before (user × k × exclude_seen), so each request scores the
  user against every item, masks, ranks and writes the cache;
- similar items, cached (150 items, k=10) and uncached (item × k).

    nice -n 10 .venv/bin/python benchmarks/serve.py [--seconds 8] [--connections 32] [--runs 3]
        [--profile DIR]   # py-spy samples of the recommender during each row (collapsed stacks)

Writes benchmarks/out/serve-<time>.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.load import (  # noqa: E402
    Load,
    Request,
    against,
    announce,
    bare_baseline,
    free_port,
    load_average,
    measure,
    ratio_table,
    wait_ready,
)
from migrations.runner import upgrade  # noqa: E402
from recommender_service.config import Settings  # noqa: E402
from shared.database import make_engine, make_sessionmaker  # noqa: E402
from shared.devstack import EmbeddedPostgres, EmbeddedRedis  # noqa: E402
from shared.service_auth import SERVICE_KEY_HEADER  # noqa: E402
from tests.recommender.conftest import load_synthetic, train_version  # noqa: E402
from tests.recommender.synthetic import generate  # noqa: E402

KEY = "bench-service-key"
USERS = list(range(1000, 1200))
ITEMS = list(range(5000, 5150))
HEADERS = {SERVICE_KEY_HEADER: KEY}


async def _prepare(settings: Settings, epochs: int) -> dict[str, Any]:
    import redis.asyncio as aioredis

    engine = make_engine(settings.database_url, pool_size=2)
    sessionmaker = make_sessionmaker(engine)
    redis = aioredis.from_url(settings.redis_url, decode_responses=True)
    try:
        await load_synthetic(sessionmaker, generate(len(USERS), len(ITEMS), 15_000, seed=0))
        started = time.perf_counter()
        outcome = await train_version(settings, sessionmaker, redis, epochs=epochs)
        return {
            "version": outcome.version_id,
            "train_wall_seconds": round(time.perf_counter() - started, 2),
        }
    finally:
        await redis.aclose()
        await engine.dispose()


def _get(path: str) -> Request:
    return ("GET", path, HEADERS, b"")


async def _warm(base: str, requests: list[Request]) -> None:
    """Every request once (in parallel), so that the measured rows read the cache only."""
    limits = httpx.Limits(max_connections=16)
    async with httpx.AsyncClient(base_url=base, headers=HEADERS, limits=limits) as http:
        for start in range(0, len(requests), 16):
            batch = requests[start : start + 16]
            answers = await asyncio.gather(*(http.get(path) for _, path, _, _ in batch))
            assert all(a.status_code == 200 for a in answers), answers[0].text


def _rows(base: str, bare: str, load: Load, profile: Path | None, pid: int) -> list[dict]:
    rng = random.Random(0)
    uncached = [
        _get(f"/v1/users/{u}/recommendations?k={k}&exclude_seen={x}")
        for u in USERS
        for k in range(1, 101)
        for x in ("true", "false")
        if k != 10
    ]
    rng.shuffle(uncached)
    similar_uncached = [_get(f"/v1/items/{i}/similar?k={k}") for i in ITEMS for k in range(1, 101)]
    rng.shuffle(similar_uncached)
    cached = [_get(f"/v1/users/{u}/recommendations?k=10") for u in USERS]
    similar_cached = [_get(f"/v1/items/{i}/similar?k=10") for i in ITEMS]
    asyncio.run(_warm(base, cached + similar_cached))

    baseline = measure(bare, [("GET", "/items", {}, b"")], load)
    print(f"bare FastAPI GET /items: {baseline['per_second']:.0f}/s", flush=True)
    rows = [against("bare FastAPI: GET /items (fixed 10-item list)", baseline, None, "")]
    plan = [
        ("recommender recommendations k=10, cached", cached, "≥ 0.8"),
        ("recommender similar items k=10, cached", similar_cached, ""),
        ("recommender recommendations, uncached", uncached, ""),
        ("recommender similar items, uncached", similar_uncached, ""),
    ]
    for name, requests, target in plan:
        spy = None
        if profile is not None:
            spy = _py_spy(pid, profile / f"{name.replace(' ', '_').replace(',', '')}.txt", load)
        rows.append(against(name, measure(base, requests, load), baseline, target))
        if spy is not None:
            spy.wait(60)
        print(ratio_table(rows[-1:]).splitlines()[-1], flush=True)
    return rows


def _py_spy(pid: int, out: Path, load: Load) -> subprocess.Popen[bytes]:
    out.parent.mkdir(parents=True, exist_ok=True)
    duration = str(int(load.seconds * load.runs) + 1)
    spy = str(Path(sys.executable).with_name("py-spy"))  # pip install py-spy (not a dependency)
    cmd = [spy, "record", "-p", str(pid), "-d", duration, "-o", str(out), "-r", "200", "-f", "raw"]
    return subprocess.Popen(cmd, stdout=subprocess.DEVNULL)  # noqa: S603


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=8.0, help="per run")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--runs", type=int, default=3, help="runs per row (the median is kept)")
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--workers", type=int, default=1, help="RECOMMENDER_WORKERS")
    parser.add_argument("--tool", choices=["wrk", "python"], default=Load().tool)
    parser.add_argument("--profile", type=Path, help="folder for py-spy flame graphs")
    args = parser.parse_args()
    load = Load(connections=args.connections, seconds=args.seconds, runs=args.runs, tool=args.tool)
    announce(load)

    scratch = Path(tempfile.mkdtemp(prefix="bench-serve-"))
    postgres = EmbeddedPostgres(scratch / "pg", keep=False)
    redis_server = EmbeddedRedis(scratch / "redis", persist=False).start()
    server: subprocess.Popen[bytes] | None = None
    try:
        database_url = postgres.url("bench")
        upgrade("recommender", database_url)
        port = free_port()
        env = {
            **os.environ, "DATABASE_URL": database_url, "REDIS_URL": redis_server.url,
            "SERVICE_API_KEY": KEY, "RECOMMENDER_PORT": str(port), "DATA_DIR": str(scratch),
            "CONSUMER_ENABLED": "false", "AUTO_RETRAIN_ENABLED": "false",
            "BOOTSTRAP_ENABLED": "false", "RECOMMENDER_WORKERS": str(args.workers),
        }  # fmt: skip
        settings = Settings(
            database_url=database_url, redis_url=redis_server.url, train_holdout_metrics=False
        )
        prepared = asyncio.run(_prepare(settings, args.epochs))
        with (scratch / "recommender.log").open("ab") as log:
            server = subprocess.Popen(
                [sys.executable, "-m", "recommender_service", "serve"],
                env=env, cwd=ROOT, stdout=log, stderr=log,
            )  # fmt: skip
        base = f"http://127.0.0.1:{port}"
        wait_ready(f"{base}/readyz", server, "the recommender")
        with bare_baseline(None, scratch / "bare.log") as bare:
            rows = _rows(base, bare, load, args.profile, server.pid)
    finally:
        if server is not None:
            server.terminate()
            server.wait(20)
        redis_server.stop()
        postgres.stop()
    report = {
        "benchmark": "serve",
        "at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {"cpus": os.cpu_count(), "load_average_at_end": load_average()},
        "load": vars(load),
        "workers": args.workers,
        "dataset": {"users": len(USERS), "items": len(ITEMS), "interactions": 15_000},
        "model": prepared,
        "rows": rows,
    }
    out = ROOT / "benchmarks" / "out" / f"serve-{datetime.now(UTC):%Y%m%dT%H%M%S}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2))
    print()
    print(ratio_table(rows))
    print(f"tool: {load.tool}, {load.connections} connections, {load.seconds:g} s × {load.runs}")
    print(f"written: {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
