"""Ingest benchmark: POST /v1/interactions throughput, request latency, commit-to-stream latency.

Starts embedded PostgreSQL and Redis (shared.devstack), migrates, creates users and épreuves,
serves the catalog with uvicorn on 127.0.0.1 (uvloop, httptools, no access log), then drives
POST /v1/interactions with concurrent authenticated clients (httpx, or a minimal HTTP/1.1 client
that leaves more CPU to the server) for a fixed time. A separate process follows the stream with
XREAD BLOCK. Commit-to-stream latency = XADD time (the entry id's milliseconds, stamped by Redis)
- the event's `occurred_at` (stamped by the server just before its COMMIT, so this slightly
overstates it); the reader's own lag is reported apart. CPU milliseconds per interaction of each
component (catalog, PostgreSQL, Redis, load generator) are reported too: unlike rates, they do
not depend on what else the machine is running.

    .venv/bin/python benchmarks/ingest.py --seconds 20 --clients 32 --workers 1 2

Writes one JSON file per run under benchmarks/out/ and prints a table.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import io
import json
import multiprocessing as mp
import os
import random
import socket
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import redis
import uvloop

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from catalog_service.auth.tokens import TokenSigner, TokenType  # noqa: E402
from catalog_service.epreuves import service as epreuves_service  # noqa: E402
from catalog_service.epreuves.schemas import EpreuveCreate  # noqa: E402
from catalog_service.users.schemas import UserCreate  # noqa: E402
from catalog_service.users.service import create_user  # noqa: E402
from migrations.runner import upgrade  # noqa: E402
from shared.database import make_engine, make_sessionmaker  # noqa: E402
from shared.devstack import EmbeddedPostgres, EmbeddedRedis  # noqa: E402
from shared.enums import EpreuveType, Filiere, Niveau, Role  # noqa: E402

JWT_SECRET = "bench-jwt-secret-0123456789abcdef"
STREAM = "bench.catalog.events"
KINDS = ["CLICK", "VIEW", "DOWNLOAD"]


def _one_page_pdf() -> bytes:
    """Uploads must parse as a PDF with a page: the smallest one pypdf writes."""
    from pypdf import PdfWriter

    writer = PdfWriter()
    writer.add_blank_page(595, 842)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def _seed(database_url: str, uploads: Path, users: int, epreuves: int) -> tuple[list, list]:
    """Users (one per client) and épreuves, created through the services (with their events)."""
    engine = make_engine(database_url, pool_size=2)
    sessions = make_sessionmaker(engine)
    password_hash = "$argon2id$v=19$m=65536,t=3,p=4$c2FsdHNhbHQ$" + "A" * 43  # never logged in
    document = _one_page_pdf()
    user_ids, epreuve_ids = [], []
    try:
        async with sessions() as session:
            teacher = await create_user(
                session=session,
                data=UserCreate(
                    email="teacher@bench.example",
                    password="unused-password",
                    full_name="Bench Teacher",
                    role=Role.TEACHER,
                ),
                password_hash=password_hash,
            )
            for n in range(users):
                user = await create_user(
                    session=session,
                    data=UserCreate(
                        email=f"student{n}@bench.example",
                        password="unused-password",
                        full_name=f"Student {n}",
                        role=Role.STUDENT,
                        niveau=list(Niveau)[n % 5],
                        filiere=list(Filiere)[n % 4],
                    ),
                    password_hash=password_hash,
                )
                user_ids.append(user.id)
            for n in range(epreuves):
                epreuve = await epreuves_service.create(
                    session=session,
                    teacher=teacher,
                    data=EpreuveCreate(
                        title=f"Épreuve {n}",
                        matiere="Analyse",
                        filiere=list(Filiere)[n % 4],
                        niveau=list(Niveau)[n % 5],
                        type=EpreuveType.PARTIEL,
                        annee=2020 + n % 5,
                        description="",
                    ),
                    file=io.BytesIO(document),
                    filename="sujet.pdf",
                    upload_root=uploads,
                    max_bytes=1 << 20,
                )
                epreuve_ids.append(epreuve.id)
    finally:
        await engine.dispose()
    return user_ids, epreuve_ids


def _follow_stream(redis_url: str, start_id: str, stop: Any, conn: Any) -> None:
    """Reader process: (interaction id, occurred_at, XADD time, read time) per interaction."""
    client = redis.Redis.from_url(redis_url)
    last, seen = start_id, []
    idle_since = None
    while True:
        entries = client.xread({STREAM: last}, block=100, count=1000)
        now = time.time()
        if entries:
            idle_since = None
            for entry_id, fields in entries[0][1]:
                last = entry_id
                if fields[b"type"] != b"interaction.created":
                    continue
                occurred = datetime.fromisoformat(fields[b"occurred_at"].decode()).timestamp()
                appended = int(entry_id.split(b"-")[0]) / 1000  # Redis stamps the XADD time
                seen.append((json.loads(fields[b"payload"])["id"], occurred, appended, now))
        elif stop.is_set():
            idle_since = idle_since or now
            if now - idle_since > 2.0:
                break
    conn.send(seen)
    conn.close()


class _RawClient:
    """A minimal HTTP/1.1 keep-alive client: the same requests as httpx at a fraction of its CPU,
    so that on a small machine the load generator does not eat the server's cores."""

    def __init__(self, port: int) -> None:
        self._port = port
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    async def post(self, path: str, body: bytes, token: str) -> tuple[int, bytes]:
        if self._writer is None:
            self._reader, self._writer = await asyncio.open_connection("127.0.0.1", self._port)
        assert self._reader is not None
        head = (
            f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {token}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
        )
        self._writer.write(head.encode() + body)
        headers = await self._reader.readuntil(b"\r\n\r\n")
        status = int(headers[9:12])
        length = 0
        for line in headers.split(b"\r\n"):
            if line[:15].lower() == b"content-length:":
                length = int(line[15:])
        return status, await self._reader.readexactly(length)

    async def close(self) -> None:
        if self._writer is not None:
            self._writer.close()


async def _drive(
    port: int, tokens: list[str], epreuves: list[int], seconds: float, client: str
) -> tuple[list[tuple[int, float, float]], int]:
    """Each client: sequential POSTs for `seconds`. Returns (id, sent, answered) and errors."""
    done: list[tuple[int, float, float]] = []
    errors = 0
    deadline = time.monotonic() + seconds
    limits = httpx.Limits(max_connections=len(tokens), max_keepalive_connections=len(tokens))

    async def one_client(token: str, seed: int, http: httpx.AsyncClient) -> None:
        nonlocal errors
        rng = random.Random(seed)
        raw = _RawClient(port) if client == "raw" else None
        headers = {"Authorization": f"Bearer {token}"}
        while time.monotonic() < deadline:
            body = {"epreuve_id": rng.choice(epreuves), "kind": rng.choice(KINDS)}
            sent = time.time()
            try:
                if raw is not None:
                    status, content = await raw.post(
                        "/v1/interactions", json.dumps(body).encode(), token
                    )
                else:
                    response = await http.post("/v1/interactions", json=body, headers=headers)
                    status, content = response.status_code, response.content
            except (httpx.HTTPError, OSError, asyncio.IncompleteReadError):
                errors += 1
                raw = _RawClient(port) if raw is not None else None
                continue
            if status != 201:
                errors += 1
                continue
            done.append((json.loads(content)["id"], sent, time.time()))
        if raw is not None:
            await raw.close()

    base_url = f"http://127.0.0.1:{port}"
    async with httpx.AsyncClient(base_url=base_url, limits=limits, timeout=30) as http:
        await asyncio.gather(*(one_client(t, n, http) for n, t in enumerate(tokens)))
    return done, errors


def _tree_cpu(pid: int | None) -> float:
    """CPU seconds (user + system) used so far by a process and its live descendants."""
    import psutil  # ships with the embedded extra (pgserver needs it)

    if pid is None:
        return 0.0
    try:
        root = psutil.Process(pid)
        total = 0.0
        for process in [root, *root.children(recursive=True)]:
            with contextlib.suppress(psutil.Error):
                times = process.cpu_times()
                total += times.user + times.system
        return total
    except psutil.Error:
        return 0.0


def _percentiles(values: list[float]) -> dict[str, float]:
    if not values:
        return {"p50": float("nan"), "p99": float("nan"), "max": float("nan")}
    array = np.asarray(values) * 1000.0
    return {
        "p50": round(float(np.percentile(array, 50)), 2),
        "p99": round(float(np.percentile(array, 99)), 2),
        "max": round(float(array.max()), 2),
    }


def _serve(
    env: dict[str, str], port: int, workers: int, log: Path, profile: Path | None
) -> subprocess.Popen[bytes]:
    # With one worker uvicorn serves in its own process, which cProfile can then watch.
    profiler = ["-m", "cProfile", "-o", str(profile)] if profile and workers == 1 else []
    cmd = [
        sys.executable, *profiler, "-m", "uvicorn", "--factory", "catalog_service.main:create_app",
        "--host", "127.0.0.1", "--port", str(port), "--workers", str(workers),
        "--loop", "uvloop", "--http", "httptools", "--no-access-log", "--log-level", "warning",
    ]  # fmt: skip
    with log.open("ab") as out:
        process = subprocess.Popen(cmd, env=env, cwd=ROOT, stdout=out, stderr=out)  # noqa: S603
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"uvicorn exited with {process.returncode}; see {log}")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=2).status_code == 200:
                return process
        time.sleep(0.3)
    process.kill()
    raise SystemExit(f"uvicorn not ready after 60s; see {log}")


def run_once(
    args: argparse.Namespace, workers: int, env: dict[str, str], seed: tuple, pids: dict[str, int]
) -> dict:
    user_ids, epreuve_ids = seed
    signer = TokenSigner(
        secret=JWT_SECRET,
        algorithm="HS256",
        access_ttl=timedelta(hours=2),
        refresh_ttl=timedelta(days=1),
    )
    tokens = [signer.issue(uid, TokenType.ACCESS, version=0) for uid in user_ids[: args.clients]]
    port = _free_port()
    server = _serve(env, port, workers, Path(env["DATA_DIR"]) / "uvicorn.log", args.profile)
    stream_client = redis.Redis.from_url(env["REDIS_URL"])
    start_id = "$"
    with contextlib.suppress(redis.ResponseError, IndexError):
        start_id = stream_client.xrevrange(STREAM, count=1)[0][0].decode()
    stream_client.close()
    ctx = mp.get_context("spawn")
    stop = ctx.Event()
    receiver, sender = ctx.Pipe(duplex=False)
    reader = ctx.Process(target=_follow_stream, args=(env["REDIS_URL"], start_id, stop, sender))
    reader.start()
    try:
        time.sleep(0.5)
        # Backends of the servers' idle pools die and respawn: count CPU per component anyway.
        watched = {**pids, "catalog": server.pid}
        cpu_before = {name: _tree_cpu(pid) for name, pid in watched.items()}
        own_before = time.process_time()
        started, started_wall = time.monotonic(), time.time()
        done, errors = uvloop.run(_drive(port, tokens, epreuve_ids, args.seconds, args.client))
        elapsed = time.monotonic() - started
        cpu = {name: _tree_cpu(pid) - cpu_before[name] for name, pid in watched.items()}
        cpu["load_generator"] = time.process_time() - own_before
        stop.set()
        seen = receiver.recv()
        reader.join(10)
    finally:
        server.send_signal(2)
        try:
            server.wait(20)
        except subprocess.TimeoutExpired:
            server.kill()
    answered = {i: (sent, got) for i, sent, got in done}
    arrivals = {i: (occurred, appended) for i, occurred, appended, _ in seen}
    read_lag = [read - appended for _, _, appended, read in seen]
    matched = [i for i in answered if i in arrivals]
    return {
        "workers": workers,
        "client": args.client,
        "clients": args.clients,
        "seconds": round(elapsed, 2),
        "interactions": len(done),
        "errors": errors,
        "interactions_per_s": round(len(done) / elapsed, 1),
        "request_ms": _percentiles([got - sent for sent, got in answered.values()]),
        "commit_to_stream_ms": _percentiles([a - o for o, a in arrivals.values()]),
        # How late our own reader saw entries (its scheduling, not the relay's).
        "reader_lag_ms": _percentiles(read_lag),
        "response_to_stream_ms": _percentiles([arrivals[i][1] - answered[i][1] for i in matched]),
        # CPU milliseconds each component spent per interaction: independent of neighbours' load.
        "cpu_ms_per_interaction": {
            name: round(1000 * used / max(len(done), 1), 3) for name, used in cpu.items()
        },
        # When the slow deliveries happened (seconds after the load started): a burst, or spread?
        "slow_c2s_at_s": sorted(
            round(a - started_wall, 1) for o, a in arrivals.values() if a - o > 0.2
        )[:50],
        "on_stream": len(seen),
        "missing_on_stream": len(set(answered) - set(arrivals)),
        "duplicates_on_stream": len(seen) - len(arrivals),
    }


def _table(results: list[dict]) -> str:
    head = (
        f"{'workers':>7} {'client':>6} {'clients':>7} {'inter/s':>9} {'req p50':>8} {'req p99':>8} "
        f"{'c2s p50':>8} {'c2s p99':>8} {'errors':>6} {'missing':>7} {'dups':>5}"
    )
    lines = [head, "-" * len(head)]
    for r in results:
        lines.append(
            f"{r['workers']:>7} {r['client']:>6} {r['clients']:>7} {r['interactions_per_s']:>9.1f} "
            f"{r['request_ms']['p50']:>8.1f} {r['request_ms']['p99']:>8.1f} "
            f"{r['commit_to_stream_ms']['p50']:>8.1f} {r['commit_to_stream_ms']['p99']:>8.1f} "
            f"{r['errors']:>6} {r['missing_on_stream']:>7} {r['duplicates_on_stream']:>5}"
        )
    lines.append(
        "(ms; c2s = commit-to-stream: XADD time (stream id) - event occurred_at (before COMMIT))"
    )
    for r in results:
        cpu = ", ".join(f"{k} {v:.2f}" for k, v in r["cpu_ms_per_interaction"].items())
        lines.append(f"CPU ms per interaction, {r['workers']} worker(s): {cpu}")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--epreuves", type=int, default=100)
    parser.add_argument("--pool-size", type=int, default=10, help="DB_POOL_SIZE per worker")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "out")
    parser.add_argument(
        "--client",
        choices=["httpx", "raw"],
        default="httpx",
        help="load generator: httpx clients, or a minimal HTTP/1.1 client that uses less CPU",
    )
    parser.add_argument("--profile", type=Path, help="cProfile output of a 1-worker server")
    args = parser.parse_args()

    scratch = Path(tempfile.mkdtemp(prefix="bench-ingest-"))
    postgres = EmbeddedPostgres(scratch / "postgres", keep=False)
    cache = EmbeddedRedis(scratch / "redis", persist=False).start()
    results = []
    try:
        database_url = postgres.url("bench")
        upgrade("catalog", database_url)
        seed = asyncio.run(_seed(database_url, scratch / "uploads", args.clients, args.epreuves))
        env = {
            **os.environ,
            "DATABASE_URL": database_url,
            "REDIS_URL": cache.url,
            "JWT_SECRET": JWT_SECRET,
            "SERVICE_API_KEY": "bench-service-key",
            "DATA_DIR": str(scratch),
            "EVENTS_STREAM": STREAM,
            "DB_POOL_SIZE": str(args.pool_size),
            "LOG_LEVEL": "warning",
            "PYTHONPATH": str(ROOT),
        }
        for workers in args.workers:
            pids = {"postgres": postgres._server.get_pid(), "redis": cache._process.pid}
            result = run_once(args, workers, env, seed, pids)
            result["machine"] = {"cpus": os.cpu_count(), "python": sys.version.split()[0]}
            results.append(result)
            print(_table([result]).splitlines()[-2], flush=True)
    finally:
        cache.stop()
        postgres.stop()
    args.out.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    path = args.out / f"ingest-{stamp}.json"
    path.write_text(json.dumps(results, indent=2))
    print()
    print(_table(results))
    print(f"\nresults: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
