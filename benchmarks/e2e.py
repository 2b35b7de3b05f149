"""End to end through the catalog, against the bare FastAPI routes, in one run on one machine.

Starts throw-away embedded PostgreSQL and Redis, runs the catalog and the recommender as their
own processes on 127.0.0.1, seeds the demo set through the catalog, trains a model through the
recommender's API (benchmarks/stack.py), starts the bare baseline (benchmarks/bare.py: a fixed
10-item list; one asyncpg INSERT on the same PostgreSQL), then measures each row with wrk
(1 thread, 32 connections, 8 s, median of 3; a Python client when wrk is missing) and prints it
beside its baseline with the ratio, the load average and the share of the host's CPU
stolen by its hypervisor (which the load average does not show):

- recommendations through the catalog, cached: every student's k=10 list, again and again;
- similar épreuves through the catalog, cached: every épreuve's k=10 list;
- recommendations through the catalog, uncached: (student, k) never asked before;
- POST /v1/interactions beside the bare INSERT, with commit-to-stream latency (the stream
  entry's XADD time minus the event's time, read back from the stream);
- the first recommendation after an interaction: 16 students each alternating one interaction
  and one recommendation request (nothing cached for them then), latency of the latter, and
  the CPU each service spent per pair;
- the recommender stopped: the catalog's last resort.
Rows through the catalog also give its calls to the recommender by outcome during the row
(anything but `ok` was answered by the catalog's own fallback: a time-out, an open breaker).
`--soak SECONDS` then runs the cached reads (of the other students) and the alternating students
together for that long and samples the resident memory of each service every 10 s.

    nice -n 10 .venv/bin/python benchmarks/e2e.py [--seconds 8] [--runs 3] [--workers 1]
        [--soak 600] [--profile DIR]   # --profile: py-spy samples of the catalog per row

Writes benchmarks/out/e2e-<time>.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import redis

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.load import (  # noqa: E402
    Connection,
    Load,
    Request,
    against,
    announce,
    bare_baseline,
    host_ticks,
    load_average,
    measure,
    prepare,
    ratio_table,
    steal_share,
)
from benchmarks.stack import Stack, running  # noqa: E402

KINDS = ("VIEW", "CLICK", "DOWNLOAD")
ALTERNATING_USERS = 16
SERVICES = ("catalog", "recommender")


def _get(path: str, token: str) -> Request:
    return ("GET", path, {"Authorization": f"Bearer {token}"}, b"")


def _post(epreuve_id: int, kind: str, token: str) -> Request:
    body = json.dumps({"epreuve_id": epreuve_id, "kind": kind}).encode()
    return ("POST", "/v1/interactions", {"Authorization": f"Bearer {token}"}, body)


async def _warm(base: str, requests: list[Request], rounds: int = 6) -> int:
    """Every request until the recommender answered it (so that the catalog cached it): a
    fallback answer (a time-out on a loaded machine, the breaker open) is not cached. Few at a
    time, again after the breaker's pause; returns how many never were (then said loudly)."""
    pending = list(requests)
    async with httpx.AsyncClient(base_url=base, timeout=60) as http:
        for round_ in range(rounds):
            missed = []
            for start in range(0, len(pending), 4):
                batch = pending[start : start + 4]
                answers = await asyncio.gather(*(http.get(r[1], headers=r[2]) for r in batch))
                assert all(a.status_code == 200 for a in answers), answers[0].text
                missed += [r for r, a in zip(batch, answers, strict=True) if _fallback(a)]
            pending = missed
            if not pending:
                return 0
            print(f"warm-up: {len(pending)} answers from the fallback, again", flush=True)
            await asyncio.sleep(11 if round_ < rounds - 1 else 0)  # the breaker's reset pause
    print(f"WARNING: {len(pending)} answers never cached: the cached rows include misses")
    return len(pending)


def _fallback(answer: httpx.Response) -> bool:
    return bool(answer.json()["source"] != "recommender")


def _percentiles(samples: list[float]) -> dict[str, float]:
    ms = np.asarray(samples) * 1000.0 if samples else np.zeros(1)
    return {
        "n": len(samples),
        "p50_ms": round(float(np.percentile(ms, 50)), 2),
        "p99_ms": round(float(np.percentile(ms, 99)), 2),
    }


def _commit_to_stream(stack: Stack, start_id: str) -> dict[str, float]:
    """XADD time (the entry id, stamped by Redis) minus the event's time, per interaction."""
    client = redis.Redis.from_url(stack.env["REDIS_URL"])
    delays, last = [], start_id
    while entries := client.xrange("catalog.events", min=f"({last}", count=10_000):
        for entry_id, fields in entries:
            last = entry_id.decode()
            if fields[b"type"] == b"interaction.created":
                occurred = datetime.fromisoformat(fields[b"occurred_at"].decode()).timestamp()
                delays.append(int(last.split("-")[0]) / 1000 - occurred)
    client.close()
    return _percentiles(delays)


def _last_stream_id(stack: Stack) -> str:
    client = redis.Redis.from_url(stack.env["REDIS_URL"])
    last = client.xrevrange("catalog.events", count=1)
    client.close()
    return last[0][0].decode() if last else "0"


async def _misses(http: httpx.AsyncClient) -> float:
    text = (await http.get("/metrics")).text
    for line in text.splitlines():
        if line.startswith('catalog_recommendations_cache_total{result="miss"}'):
            return float(line.split()[-1])
    return 0.0


def _share(share: float | None) -> str:
    return "n/a (one worker's counters)" if share is None else f"{share:.0%}"


async def _alternating(
    stack: Stack, tokens: list[str], epreuves: list[int], seconds: float
) -> dict[str, Any]:
    """16 students, each: one interaction, then its recommendations (latency of the latter).
    Each student on its own keep-alive connection (`load.Connection`: a few µs of client CPU a
    request, where httpx took ~1.7 ms, CPU this machine's two cores then lacked for the
    servers it measures)."""
    latencies: list[float] = []
    errors = 0
    deadline = time.perf_counter() + seconds
    async with httpx.AsyncClient(base_url=stack.catalog, timeout=30) as http:
        misses_before = await _misses(http)

        async def student(token: str, rng: random.Random) -> None:
            nonlocal errors
            answer = prepare(stack.catalog, _get("/v1/users/me/recommendations?k=10", token))
            async with Connection(stack.catalog) as connection:
                while time.perf_counter() < deadline:
                    post = _post(rng.choice(epreuves), rng.choice(KINDS), token)
                    posted, _ = await connection.send(prepare(stack.catalog, post))
                    started = time.perf_counter()
                    answered, _ = await connection.send(answer)
                    latencies.append(time.perf_counter() - started)
                    errors += posted != 201 or answered != 200

        chosen = tokens[:ALTERNATING_USERS]
        cpu_before = {name: stack.cpu_seconds(name) for name in SERVICES}
        client_before, ticks = time.process_time(), host_ticks()
        await asyncio.gather(*(student(t, random.Random(n)) for n, t in enumerate(chosen)))
        client = time.process_time() - client_before
        cpu = {name: stack.cpu_seconds(name) - cpu_before[name] for name in SERVICES}
        misses = await _misses(http) - misses_before
    pairs = max(len(latencies), 1)
    return {
        **_percentiles(latencies),
        # What one pair (an interaction, then its computed answer) costs each service: the
        # loop's rate is bounded by the busiest core, and its latency is 16 / that rate.
        "cpu_ms_per_pair": {name: round(1000 * cpu[name] / pairs, 2) for name in SERVICES},
        "client_cpu_ms_per_pair": round(1000 * client / pairs, 2),
        "errors": errors,
        # Answers computed (not served from the cache) per recommendation request. /metrics
        # is one process's: with several workers its counters say nothing of the others.
        "computed_share": (
            round(misses / max(len(latencies), 1), 3)
            if stack.env["CATALOG_WORKERS"] == "1"
            else None
        ),
        "load_average": load_average(),
        "steal_share": steal_share(ticks),
    }


def _calls(stack: Stack) -> dict[str, float]:
    """The catalog's calls to the recommender so far, by outcome (ok, timeout, open, …)."""
    calls = {}
    for line in httpx.get(f"{stack.catalog}/metrics", timeout=30).text.splitlines():
        if line.startswith('catalog_recommender_calls_total{outcome="'):
            calls[line.split('"')[1]] = float(line.split()[-1])
    return calls


def _calls_since(stack: Stack, before: dict[str, float]) -> dict[str, int]:
    """Outcomes during a row: anything but `ok` means answers from the catalog's fallback."""
    after = _calls(stack)
    return {k: int(v - before.get(k, 0.0)) for k, v in after.items() if v > before.get(k, 0.0)}


def _profiled(stack: Stack, profile: Path | None, name: str, load: Load) -> Any:
    """py-spy samples of the catalog during one row (pip install py-spy; not a dependency)."""
    if profile is None:
        return None
    profile.mkdir(parents=True, exist_ok=True)
    spy = str(Path(sys.executable).with_name("py-spy"))
    out = profile / f"catalog-{name.replace(' ', '_').replace(',', '').replace('/', '_')}.txt"
    seconds = str(int(load.seconds * load.runs) + 1)
    pid = str(stack.processes["catalog"].pid)
    cmd = [spy, "record", "-p", pid, "-d", seconds, "-r", "200", "-f", "raw", "-o", str(out)]
    return subprocess.Popen(cmd, stdout=subprocess.DEVNULL)  # noqa: S603


def _rows(stack: Stack, bare: str, load: Load, profile: Path | None) -> list[dict[str, Any]]:
    students = list(range(12, stack.notes["users"] + 1))  # ids 1-11: the admin and teachers
    tokens = stack.student_tokens(students)
    epreuves = list(range(1, stack.notes["items"] + 1))
    rng = random.Random(0)
    cached = [_get("/v1/users/me/recommendations?k=10", t) for t in tokens]
    similar = [
        _get(f"/v1/epreuves/{e}/similar?k=10", tokens[n % len(tokens)])
        for n, e in enumerate(epreuves)
    ]
    uncached = [
        _get(f"/v1/users/me/recommendations?k={k}", t)
        for t in tokens
        for k in range(1, 101)
        if k != 10
    ]
    rng.shuffle(uncached)
    posts = [_post(rng.choice(epreuves), rng.choice(KINDS), t) for t in tokens for _ in range(40)]
    stack.notes["warm_uncached"] = asyncio.run(_warm(stack.catalog, cached + similar))

    rows: list[dict[str, Any]] = []
    bare_get = measure(bare, [("GET", "/items", {}, b"")], load)
    rows.append(against("bare FastAPI: GET /items (fixed 10-item list)", bare_get, None, ""))
    for name, requests, target in (
        ("catalog recommendations k=10, cached", cached, "≥ 0.5"),
        ("catalog similar k=10, cached", similar, "≥ 0.5"),
        ("catalog recommendations, uncached", uncached, ""),
    ):
        spy = _profiled(stack, profile, name, load)
        before = _calls(stack)
        rows.append(against(name, measure(stack.catalog, requests, load), bare_get, target))
        rows[-1]["recommender_calls"] = _calls_since(stack, before)
        if spy is not None:
            spy.wait(60)
        print(ratio_table(rows[-1:]).splitlines()[-1], rows[-1]["recommender_calls"], flush=True)

    bare_insert = measure(
        bare, [("POST", "/insert", {}, b'{"epreuve_id": 1, "kind": "VIEW"}')], load
    )
    rows.append(against("bare FastAPI: POST /insert (one asyncpg INSERT)", bare_insert, None, ""))
    start_id = _last_stream_id(stack)
    spy = _profiled(stack, profile, "interactions", load)
    ingest = measure(stack.catalog, posts, load)
    if spy is not None:
        spy.wait(60)
    time.sleep(2)  # the relay's last batches
    row = against("catalog POST /v1/interactions", ingest, bare_insert, "≥ 0.6")
    row["commit_to_stream"] = _commit_to_stream(stack, start_id)
    rows.append(row)
    print(ratio_table(rows[-1:]).splitlines()[-1], "c2s", row["commit_to_stream"], flush=True)

    before = _calls(stack)
    first = asyncio.run(_alternating(stack, tokens, epreuves, load.seconds * load.runs))
    first["recommender_calls"] = _calls_since(stack, before)
    rows.append(
        {
            "name": "first recommendation after an interaction (16 students)",
            "per_second": float("nan"),
            "target": "p50<25 p99<100",
            **first,
        }
    )
    print(f"first recommendation after an interaction: {first}", flush=True)
    stack.notes["tokens"], stack.notes["epreuves"], stack.notes["cached"] = tokens, epreuves, cached
    return rows


def _soak(stack: Stack, load: Load, seconds: float) -> dict[str, Any]:
    """Cached reads (wrk, back to back) and the alternating students together for `seconds`,
    the resident memory of each service sampled every 10 s."""
    samples: list[dict[str, float]] = []
    stop = threading.Event()

    def sample() -> None:
        started = time.monotonic()
        while not stop.is_set():
            samples.append(
                {
                    "t_s": round(time.monotonic() - started),
                    "catalog_mb": stack.rss_mb("catalog"),
                    "recommender_mb": stack.rss_mb("recommender"),
                    "load_average": load_average(),
                }
            )
            stop.wait(10)

    def reads() -> None:
        slice_load = Load(load.connections, min(30.0, seconds), 1, load.threads, load.tool)
        while not stop.is_set():
            # Not the alternating students: their misses are what `computed_share` counts.
            measure(stack.catalog, stack.notes["cached"][ALTERNATING_USERS:], slice_load)

    threads = [threading.Thread(target=sample), threading.Thread(target=reads)]
    for thread in threads:
        thread.start()
    try:
        alternating = asyncio.run(
            _alternating(stack, stack.notes["tokens"], stack.notes["epreuves"], seconds)
        )
    finally:
        stop.set()
        for thread in threads:
            thread.join()
    first, last = samples[0], samples[-1]
    tenth = samples[max(len(samples) // 10, 1) - 1] if len(samples) > 1 else first
    return {
        "seconds": seconds,
        "alternating": alternating,
        "samples": samples,
        # Growth after the first tenth (warm-up: imports, pools, caches filling).
        "catalog_growth_mb": round(last["catalog_mb"] - tenth["catalog_mb"], 1),
        "recommender_growth_mb": round(last["recommender_mb"] - tenth["recommender_mb"], 1),
        "catalog_mb": [first["catalog_mb"], tenth["catalog_mb"], last["catalog_mb"]],
        "recommender_mb": [
            first["recommender_mb"],
            tenth["recommender_mb"],
            last["recommender_mb"],
        ],
    }


def _fallback_row(stack: Stack, load: Load) -> dict[str, Any]:
    stack.stop("recommender")
    tokens = stack.notes["tokens"]
    requests = [_get(f"/v1/users/me/recommendations?k={k}", t) for t in tokens for k in (7, 8)]
    return against(
        "recommender stopped: the catalog's last resort",
        measure(stack.catalog, requests, load),
        None,
        "",
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=8.0, help="per run")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--runs", type=int, default=3, help="runs per row (the median is kept)")
    parser.add_argument(
        "--workers", type=int, default=1, help="CATALOG_WORKERS and RECOMMENDER_WORKERS"
    )
    parser.add_argument("--epochs", type=int, default=15, help="training epochs")
    parser.add_argument("--soak", type=float, default=0.0, help="seconds of soak (0: none)")
    parser.add_argument("--tool", choices=["wrk", "python"], default=Load().tool)
    parser.add_argument("--profile", type=Path, help="folder for py-spy samples of the catalog")
    args = parser.parse_args()
    load = Load(connections=args.connections, seconds=args.seconds, runs=args.runs, tool=args.tool)
    announce(load)

    with running(workers=args.workers, epochs=args.epochs) as stack:
        print(f"seeded and trained: {stack.notes}", flush=True)
        with bare_baseline(stack.env["DATABASE_URL"], stack.scratch / "bare.log") as bare:
            rows = _rows(stack, bare, load, args.profile)
        soak = _soak(stack, load, args.soak) if args.soak > 0 else None
        rows.append(_fallback_row(stack, load))
        notes = {k: v for k, v in stack.notes.items() if k not in ("tokens", "epreuves", "cached")}
    report = {
        "benchmark": "e2e",
        "at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {"cpus": os.cpu_count(), "load_average_at_end": load_average()},
        "load": vars(load),
        "workers": args.workers,
        "stack": notes,
        "rows": rows,
        "soak": soak,
    }
    out = ROOT / "benchmarks" / "out" / f"e2e-{datetime.now(UTC):%Y%m%dT%H%M%S}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2))
    print()
    print(ratio_table([r for r in rows if r["per_second"] == r["per_second"]]))
    first = next(r for r in rows if r["name"].startswith("first"))
    print(
        f"first recommendation after an interaction: p50 {first['p50_ms']} ms, "
        f"p99 {first['p99_ms']} ms, computed {_share(first['computed_share'])} "
        f"(target p50 < 25, p99 < 100); recommender calls {first['recommender_calls']}; "
        f"CPU ms per pair {first['cpu_ms_per_pair']}, host CPU stolen {first['steal_share']}"
    )
    ingest = next(r for r in rows if "commit_to_stream" in r)
    print(f"commit-to-stream: {ingest['commit_to_stream']} (target p99 < 200 ms)")
    if soak:
        print(
            f"soak {soak['seconds']:.0f} s: RSS (start, after a tenth, end) catalog "
            f"{soak['catalog_mb']} MB, recommender {soak['recommender_mb']} MB"
        )
    print(
        f"tool: {load.tool}, {load.connections} connections, {load.seconds:g} s x {load.runs}; "
        f"workers {args.workers}"
    )
    print(f"written: {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
