"""Serving benchmark: recommendations/s and latency p50/p99, uncached and cached, on loopback.

Starts embedded PostgreSQL and Redis (shared.devstack) in a scratch folder, migrates, loads the
reference-size synthetic set (200 users, 150 épreuves, 15,000 interactions) into the read model,
trains and activates a NeuMF version, then serves the recommender with uvicorn on 127.0.0.1 in
its own process (consumer and auto-retrain off) and drives it with concurrent httpx clients:

- uncached: every request has parameters never asked before (user × k × exclude_seen), so each
  one scores the user against every item, masks, ranks and writes the cache;
- cached: the same 200 (user, k=10) requests again and again, answered from Redis;
- similar: item-to-item lists, uncached (distinct item × k) then cached.

    nice -n 10 .venv/bin/python benchmarks/serve.py --seconds 10 --clients 16

Writes benchmarks/out/serve.json and prints a table. Bounded: each phase stops after --seconds.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import random
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from migrations.runner import upgrade  # noqa: E402
from recommender_service.config import Settings  # noqa: E402
from shared.database import make_engine, make_sessionmaker  # noqa: E402
from shared.devstack import EmbeddedPostgres, EmbeddedRedis  # noqa: E402
from shared.service_auth import SERVICE_KEY_HEADER  # noqa: E402
from tests.recommender.conftest import load_synthetic, train_version  # noqa: E402
from tests.recommender.synthetic import generate  # noqa: E402

KEY = "bench-service-key"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def _prepare(settings: Settings, epochs: int) -> dict[str, Any]:
    import redis.asyncio as aioredis

    engine = make_engine(settings.database_url, pool_size=2)
    sessionmaker = make_sessionmaker(engine)
    redis = aioredis.from_url(settings.redis_url, decode_responses=True)
    try:
        await load_synthetic(sessionmaker, generate(200, 150, 15_000, seed=0))
        started = time.perf_counter()
        outcome = await train_version(settings, sessionmaker, redis, epochs=epochs)
        return {
            "version": outcome.version_id,
            "train_wall_seconds": round(time.perf_counter() - started, 2),
            "metrics": {k: round(v, 4) for k, v in outcome.metrics.items() if v is not None},
        }
    finally:
        await redis.aclose()
        await engine.dispose()


async def _drive(
    base: str, paths: itertools.cycle | Any, *, seconds: float, clients: int
) -> dict[str, float]:
    latencies: list[float] = []
    errors = 0
    deadline = time.perf_counter() + seconds

    async def worker(http: httpx.AsyncClient) -> None:
        nonlocal errors
        while time.perf_counter() < deadline:
            try:
                path = next(paths)
            except StopIteration:
                return
            t0 = time.perf_counter()
            response = await http.get(path)
            latencies.append(time.perf_counter() - t0)
            errors += response.status_code != 200

    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(
        base_url=base, headers={SERVICE_KEY_HEADER: KEY}, limits=limits, timeout=30
    ) as http:
        t0 = time.perf_counter()
        await asyncio.gather(*(worker(http) for _ in range(clients)))
        elapsed = time.perf_counter() - t0
    ms = np.array(latencies) * 1000
    return {
        "requests": len(latencies),
        "errors": errors,
        "per_second": round(len(latencies) / elapsed, 1),
        "p50_ms": round(float(np.percentile(ms, 50)), 2),
        "p99_ms": round(float(np.percentile(ms, 99)), 2),
    }


async def _stats(base: str) -> dict[str, int]:
    async with httpx.AsyncClient(base_url=base, headers={SERVICE_KEY_HEADER: KEY}) as http:
        return (await http.get("/v1/stats")).json()["cache"]


async def _phases(base: str, seconds: float, clients: int) -> dict[str, Any]:
    rng = random.Random(0)
    users = list(range(1000, 1200))
    items = list(range(5000, 5150))
    combos = [(u, k, x) for u in users for k in range(1, 101) for x in ("true", "false")]
    rng.shuffle(combos)
    results: dict[str, Any] = {}
    before = await _stats(base)
    results["recommendations_uncached"] = await _drive(
        base,
        iter(f"/v1/users/{u}/recommendations?k={k}&exclude_seen={x}" for u, k, x in combos),
        seconds=seconds,
        clients=clients,
    )
    after = await _stats(base)
    results["recommendations_uncached"]["cache_hits"] = after["hits"] - before["hits"]
    warm = [f"/v1/users/{u}/recommendations?k=10" for u in users]
    await _drive(base, iter(warm), seconds=120, clients=clients)  # every key, not a time slice
    before = await _stats(base)
    results["recommendations_cached"] = await _drive(
        base, itertools.cycle(warm), seconds=seconds, clients=clients
    )
    after = await _stats(base)
    results["recommendations_cached"]["cache_misses"] = after["misses"] - before["misses"]
    similar = [(i, k) for i in items for k in range(1, 101)]
    rng.shuffle(similar)
    results["similar_uncached"] = await _drive(
        base,
        iter(f"/v1/items/{i}/similar?k={k}" for i, k in similar),
        seconds=seconds,
        clients=clients,
    )
    warm_similar = [f"/v1/items/{i}/similar?k=10" for i in items]
    await _drive(base, iter(warm_similar), seconds=120, clients=clients)
    results["similar_cached"] = await _drive(
        base, itertools.cycle(warm_similar), seconds=seconds, clients=clients
    )
    return results


def _wait_ready(base: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit("recommender exited early")
        try:
            if httpx.get(f"{base}/readyz", timeout=2).json().get("model_version"):
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    raise SystemExit("recommender not ready with a model after 120 s")


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=10.0, help="per phase")
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "out" / "serve.json")
    args = parser.parse_args()

    scratch = Path(tempfile.mkdtemp(prefix="bench-serve-"))
    postgres = EmbeddedPostgres(scratch / "pg", keep=False)
    redis_server = EmbeddedRedis(scratch / "redis", persist=False).start()
    server: subprocess.Popen[bytes] | None = None
    try:
        database_url = postgres.url("bench")
        upgrade("recommender", database_url)
        port = _free_port()
        env = {
            **os.environ, "DATABASE_URL": database_url, "REDIS_URL": redis_server.url,
            "SERVICE_API_KEY": KEY, "RECOMMENDER_PORT": str(port), "DATA_DIR": str(scratch),
            "CONSUMER_ENABLED": "false", "AUTO_RETRAIN_ENABLED": "false",
            "BOOTSTRAP_ENABLED": "false",
        }  # fmt: skip
        settings = Settings(
            database_url=database_url, redis_url=redis_server.url, train_holdout_metrics=False
        )
        prepared = asyncio.run(_prepare(settings, args.epochs))
        server = subprocess.Popen(
            [sys.executable, "-m", "recommender_service", "serve"],
            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        base = f"http://127.0.0.1:{port}"
        _wait_ready(base, server)
        results = asyncio.run(_phases(base, args.seconds, args.clients))
    finally:
        if server is not None:
            server.terminate()
            server.wait(15)
        redis_server.stop()
        postgres.stop()
    report = {
        "dataset": {"users": 200, "items": 150, "interactions": 15_000},
        "clients": args.clients,
        "seconds_per_phase": args.seconds,
        "cpu_count": os.cpu_count(),
        # A shared machine: the load says how much of it the run actually had.
        "load_average_1m_at_end": round(os.getloadavg()[0], 2),
        "model": prepared,
        "results": results,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2))
    print(f"{'phase':<26}{'req/s':>9}{'p50 ms':>9}{'p99 ms':>9}{'errors':>8}")
    for phase, r in results.items():
        print(f"{phase:<26}{r['per_second']:>9}{r['p50_ms']:>9}{r['p99_ms']:>9}{r['errors']:>8}")
    print(f"model: {prepared}\nload average (1 min): {os.getloadavg()[0]:.2f}")
    print(f"written: {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
