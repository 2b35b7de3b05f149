"""End-to-end benchmark: recommendations through the catalog, and how fast an interaction shows.

Starts throw-away embedded PostgreSQL and Redis, migrates, runs the catalog and the recommender
as their own processes on 127.0.0.1 (`python -m … serve`), seeds the full demo set through the
catalog (`python -m catalog_service seed`), waits until the recommender has consumed it, trains
a model through its API, then measures with concurrent authenticated clients:

- `uncached`: GET /v1/users/me/recommendations with a (user, k) pair never asked before, so the
  recommender's Redis cache misses every time (a fresh ranking per request);
- `cached`: the same (user, k=10) pairs again and again (the recommender answers from Redis;
  the catalog still authenticates, calls it and hydrates the records from PostgreSQL);
- `fallback`: the recommender stopped, the catalog's own popularity answers;
- `freshness`: from the commit of a DOWNLOAD (the POST /v1/interactions answer) until (a) the
  catalog's list for that user changes, and (b) the recommender's own answer changes: the
  outbox relay, the stream, the consumer, the read model and the cache invalidation.

    nice -n 10 .venv/bin/python benchmarks/e2e.py --seconds 10 --clients 16

Writes benchmarks/out/e2e-<time>.json and prints a table. Loopback only, bounded in time.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from catalog_service.auth.tokens import TokenSigner, TokenType  # noqa: E402
from migrations.runner import upgrade  # noqa: E402
from shared.devstack import EmbeddedPostgres, EmbeddedRedis  # noqa: E402
from shared.service_auth import SERVICE_KEY_HEADER  # noqa: E402

OUT = ROOT / "benchmarks" / "out"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _percentiles(samples: list[float]) -> dict[str, float]:
    if not samples:
        return {"n": 0}
    values = np.asarray(samples) * 1000.0
    return {
        "n": len(samples),
        "p50_ms": round(float(np.percentile(values, 50)), 2),
        "p99_ms": round(float(np.percentile(values, 99)), 2),
        "max_ms": round(float(values.max()), 2),
    }


@contextlib.contextmanager
def _servers(scratch: Path) -> Iterator[dict[str, str]]:
    postgres = EmbeddedPostgres(scratch / "postgres", keep=False)
    redis_server = EmbeddedRedis(scratch / "redis", persist=False).start()
    try:
        yield {"DATABASE_URL": postgres.url("bench"), "REDIS_URL": redis_server.url}
    finally:
        redis_server.stop()
        postgres.stop()


def _start(module: str, env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        return subprocess.Popen(  # noqa: S603
            [sys.executable, "-m", module, "serve"], env=env, stdout=out, stderr=out, cwd=ROOT
        )


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


async def _until(check: Callable[[], Awaitable[bool]], timeout_s: float, what: str) -> float:
    started = time.perf_counter()
    while time.perf_counter() - started < timeout_s:
        with contextlib.suppress(httpx.HTTPError):
            if await check():
                return time.perf_counter() - started
        await asyncio.sleep(0.25)
    raise SystemExit(f"timed out after {timeout_s:.0f} s: {what}")


async def _drive(
    catalog: httpx.AsyncClient,
    requests: Callable[[int], tuple[dict[str, str], dict[str, Any]]],
    *,
    seconds: float,
    clients: int,
) -> dict[str, Any]:
    """`clients` loops, each sending the next request of `requests(n)` until time is up."""
    latencies: list[float] = []
    sources: dict[str, int] = {}
    errors = 0
    counter = 0
    deadline = time.perf_counter() + seconds

    async def client() -> None:
        nonlocal counter, errors
        while time.perf_counter() < deadline:
            counter += 1
            headers, params = requests(counter)
            started = time.perf_counter()
            response = await catalog.get(
                "/v1/users/me/recommendations", params=params, headers=headers
            )
            latencies.append(time.perf_counter() - started)
            if response.status_code != 200:
                errors += 1
                continue
            source = response.json()["source"]
            sources[source] = sources.get(source, 0) + 1

    started = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(clients)))
    elapsed = time.perf_counter() - started
    return {
        "requests": len(latencies),
        "per_second": round(len(latencies) / elapsed, 1),
        "errors": errors,
        "sources": sources,
        **_percentiles(latencies),
    }


async def _cache_counters(service: httpx.AsyncClient) -> dict[str, int]:
    stats = (await service.get("/v1/stats")).json()
    return {k: int(v) for k, v in stats["cache"].items()}


async def _freshness(
    catalog: httpx.AsyncClient,
    service: httpx.AsyncClient,
    students: list[tuple[int, dict[str, str]]],
    samples: int,
) -> dict[str, Any]:
    """Commit of a DOWNLOAD → (a) the catalog's answer changes, (b) the recommender's does."""
    to_catalog: list[float] = []
    to_recommender: list[float] = []
    for user_id, headers in random.sample(students, samples):
        params = {"k": 10}
        before = (
            await catalog.get("/v1/users/me/recommendations", params=params, headers=headers)
        ).json()
        direct = f"/v1/users/{user_id}/recommendations"
        await service.get(direct, params={"k": 15})  # warm the recommender's cache
        target = before["items"][0]["id"]
        posted = await catalog.post(
            "/v1/interactions", json={"epreuve_id": target, "kind": "DOWNLOAD"}, headers=headers
        )
        committed = time.perf_counter()
        assert posted.status_code == 201, posted.text
        seen_by_catalog = seen_by_recommender = None
        while seen_by_recommender is None and time.perf_counter() - committed < 10:
            if seen_by_catalog is None:
                now = await catalog.get(
                    "/v1/users/me/recommendations", params=params, headers=headers
                )
                if target not in [i["id"] for i in now.json()["items"]]:
                    seen_by_catalog = time.perf_counter() - committed
            answer = (await service.get(direct, params={"k": 15})).json()
            if target not in [i["item_id"] for i in answer["items"]]:
                seen_by_recommender = time.perf_counter() - committed
            else:
                await asyncio.sleep(0.002)
        if seen_by_catalog is not None:
            to_catalog.append(seen_by_catalog)
        if seen_by_recommender is not None:
            to_recommender.append(seen_by_recommender)
    return {
        "catalog_answer_changed": _percentiles(to_catalog),
        "recommender_answer_changed": _percentiles(to_recommender),
        "missed": samples - len(to_recommender),
    }


async def _measure(args: argparse.Namespace, env: dict[str, str]) -> dict[str, Any]:
    catalog_url = f"http://127.0.0.1:{env['CATALOG_PORT']}"
    recommender_url = env["RECOMMENDER_URL"]
    logs = Path(env["DATA_DIR"])
    results: dict[str, Any] = {}
    processes = [
        _start("recommender_service", env, logs / "recommender.log"),
        _start("catalog_service", env, logs / "catalog.log"),
    ]
    limits = httpx.Limits(max_connections=args.clients * 2)
    try:
        async with (
            httpx.AsyncClient(base_url=catalog_url, timeout=30, limits=limits) as catalog,
            httpx.AsyncClient(
                base_url=recommender_url,
                timeout=60,
                headers={SERVICE_KEY_HEADER: env["SERVICE_API_KEY"]},
            ) as service,
        ):

            async def ready(client: httpx.AsyncClient) -> bool:
                return (await client.get("/readyz")).status_code == 200

            await _until(lambda: ready(service), 120, "recommender ready")
            await _until(lambda: ready(catalog), 120, "catalog ready")

            started = time.perf_counter()
            seeded = await asyncio.to_thread(
                subprocess.run,
                [sys.executable, "-m", "catalog_service", "seed", "--seed", "42"],
                env=env, cwd=ROOT, capture_output=True, text=True, timeout=600, check=False,
            )  # fmt: skip
            if seeded.returncode != 0:
                raise SystemExit(f"seed failed: {seeded.stderr[-2000:]}")
            results["seed_seconds"] = round(time.perf_counter() - started, 1)
            print(f"seeded in {results['seed_seconds']} s", flush=True)

            async def consumed() -> bool:
                counts = (await service.get("/v1/stats")).json()["read_model"]
                return bool(counts["interactions"] == 15_000)

            results["consumed_after_seed_seconds"] = round(
                await _until(consumed, 300, "recommender consumed the seed"), 1
            )
            body = {"epochs": args.epochs, "batch_size": args.batch_size, "embedding_dim": 32}
            trained = await service.post("/v1/models/train", json=body)
            version = trained.json()["run_id"]

            async def served() -> bool:
                return bool((await service.get("/v1/model")).json()["served_version"] == version)

            results["train_seconds"] = round(await _until(served, 600, "model trained"), 1)
            print(f"trained version {version} in {results['train_seconds']} s", flush=True)

            signer = TokenSigner(secret=env["JWT_SECRET"])
            users = (await service.get("/v1/stats")).json()["read_model"]["users"]
            students = [
                (uid, {"Authorization": f"Bearer {signer.issue(uid, TokenType.ACCESS, version=0)}"})
                for uid in range(12, users + 1)  # ids 1-11: the admin and the teachers
            ]
            pairs = [(s, k) for s in range(len(students)) for k in range(1, 96) if k != 10]
            random.Random(1).shuffle(pairs)

            def uncached(n: int) -> tuple[dict[str, str], dict[str, Any]]:
                student, k = pairs[n % len(pairs)]
                return students[student][1], {"k": k}

            def cached(n: int) -> tuple[dict[str, str], dict[str, Any]]:
                return students[n % len(students)][1], {"k": 10}

            for _warm in range(2):  # every (user, k=10) answer in the recommender's cache
                await _drive(catalog, cached, seconds=2, clients=args.clients)
            for name, requests in (("uncached", uncached), ("cached", cached)):
                before = await _cache_counters(service)
                results[name] = await _drive(
                    catalog, requests, seconds=args.seconds, clients=args.clients
                )
                after = await _cache_counters(service)
                results[name]["recommender_cache"] = {k: after[k] - before[k] for k in after}
                print(f"{name}: {results[name]}", flush=True)

            results["freshness"] = await _freshness(catalog, service, students, args.samples)
            print(f"freshness: {results['freshness']}", flush=True)

            _stop(processes[0])
            results["fallback"] = await _drive(
                catalog, cached, seconds=args.seconds, clients=args.clients
            )
            print(f"fallback: {results['fallback']}", flush=True)
    finally:
        for process in processes:
            _stop(process)
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0, help="per measured phase")
    parser.add_argument("--clients", type=int, default=16, help="concurrent HTTP clients")
    parser.add_argument("--epochs", type=int, default=15, help="training epochs")
    parser.add_argument("--batch-size", type=int, default=512, help="training batch size")
    parser.add_argument("--samples", type=int, default=20, help="freshness measurements")
    args = parser.parse_args()
    scratch = Path(tempfile.mkdtemp(prefix="epreuves-bench-e2e-"))
    try:
        with _servers(scratch) as urls:
            for schema in ("catalog", "recommender"):
                upgrade(schema, urls["DATABASE_URL"])
            recommender_port = str(_free_port())
            env = {
                **os.environ,
                **urls,
                "DATA_DIR": str(scratch / "data"),
                "SERVICE_API_KEY": secrets.token_urlsafe(24),
                "JWT_SECRET": secrets.token_urlsafe(32),
                "CATALOG_PORT": str(_free_port()),
                "RECOMMENDER_PORT": recommender_port,
                "RECOMMENDER_URL": f"http://127.0.0.1:{recommender_port}",
                "LOG_LEVEL": "WARNING",
                "AUTO_RETRAIN_ENABLED": "false",
            }
            Path(env["DATA_DIR"]).mkdir(parents=True)
            env["CATALOG_URL"] = f"http://127.0.0.1:{env['CATALOG_PORT']}"
            results = asyncio.run(_measure(args, env))
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    report = {
        "benchmark": "e2e",
        "at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {"cpus": os.cpu_count()},
        "params": vars(args),
        **results,
    }
    OUT.mkdir(parents=True, exist_ok=True)
    path = OUT / f"e2e-{datetime.now(UTC):%Y%m%dT%H%M%S}.json"
    path.write_text(json.dumps(report, indent=2))
    print(json.dumps(report, indent=2))
    print(f"written to {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
