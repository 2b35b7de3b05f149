"""The product on throw-away embedded PostgreSQL and Redis, for the end-to-end benchmarks: both
services as their own processes (`python -m … serve`) on 127.0.0.1, the demo set seeded
through the catalog's own command, the recommender's read model caught up, a model trained
through its API; tokens for the seeded students.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import psutil

from benchmarks.load import ROOT, free_port, wait_ready
from catalog_service.auth.tokens import TokenSigner, TokenType
from migrations.runner import upgrade
from shared.devstack import EmbeddedPostgres, EmbeddedRedis
from shared.service_auth import SERVICE_KEY_HEADER


@dataclass
class Stack:
    env: dict[str, str]
    scratch: Path
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    notes: dict[str, Any] = field(default_factory=dict)

    @property
    def catalog(self) -> str:
        return f"http://127.0.0.1:{self.env['CATALOG_PORT']}"

    @property
    def recommender(self) -> str:
        return self.env["RECOMMENDER_URL"]

    @property
    def service_headers(self) -> dict[str, str]:
        return {SERVICE_KEY_HEADER: self.env["SERVICE_API_KEY"]}

    def start(self, name: str) -> None:
        module = {"catalog": "catalog_service", "recommender": "recommender_service"}[name]
        with (self.scratch / f"{name}.log").open("ab") as log:
            self.processes[name] = subprocess.Popen(  # noqa: S603
                [sys.executable, "-m", module, "serve"],
                env=self.env, cwd=ROOT, stdout=log, stderr=log,
            )  # fmt: skip
        url = self.catalog if name == "catalog" else self.recommender
        wait_ready(f"{url}/readyz", self.processes[name], name)

    def stop(self, name: str) -> None:
        process = self.processes.pop(name, None)
        if process is not None and process.poll() is None:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()

    def rss_mb(self, name: str) -> float:
        """Resident memory of a service: its process and its workers."""
        total = 0
        for process in self._tree(name):
            with contextlib.suppress(psutil.Error):
                total += process.memory_info().rss
        return round(total / 2**20, 1)

    def cpu_seconds(self, name: str) -> float:
        """CPU time (user + system) a service has used so far: its process and its workers."""
        total = 0.0
        for process in self._tree(name):
            with contextlib.suppress(psutil.Error):
                times = process.cpu_times()
                total += times.user + times.system
        return total

    def _tree(self, name: str) -> list[psutil.Process]:
        root = psutil.Process(self.processes[name].pid)
        return [root, *root.children(recursive=True)]

    def student_tokens(self, user_ids: list[int]) -> list[str]:
        signer = TokenSigner(secret=self.env["JWT_SECRET"], access_ttl=timedelta(hours=6))
        return [signer.issue(uid, TokenType.ACCESS, version=0) for uid in user_ids]


async def until(check: Callable[[], Awaitable[bool]], seconds: float, what: str) -> float:
    started = time.perf_counter()
    while time.perf_counter() - started < seconds:
        with contextlib.suppress(httpx.HTTPError):
            if await check():
                return time.perf_counter() - started
        await asyncio.sleep(0.25)
    raise SystemExit(f"timed out after {seconds:.0f} s: {what}")


@contextlib.contextmanager
def running(*, workers: int, epochs: int) -> Iterator[Stack]:
    """The stack, seeded and trained; everything is stopped and removed on leaving."""
    scratch = Path(tempfile.mkdtemp(prefix="bench-e2e-"))
    postgres = EmbeddedPostgres(scratch / "postgres", keep=False)
    redis_server = EmbeddedRedis(scratch / "redis", persist=False).start()
    recommender_port = str(free_port())
    env = {
        **os.environ,
        "DATABASE_URL": postgres.url("bench"),
        "REDIS_URL": redis_server.url,
        "DATA_DIR": str(scratch / "data"),
        "SERVICE_API_KEY": secrets.token_urlsafe(24),
        "JWT_SECRET": secrets.token_urlsafe(32),
        "CATALOG_PORT": str(free_port()),
        "RECOMMENDER_PORT": recommender_port,
        "RECOMMENDER_URL": f"http://127.0.0.1:{recommender_port}",
        "CATALOG_WORKERS": str(workers),
        "RECOMMENDER_WORKERS": str(workers),
        "LOG_LEVEL": "WARNING",
        "AUTO_RETRAIN_ENABLED": "false",
        "PYTHONPATH": str(ROOT),
    }
    env["CATALOG_URL"] = f"http://127.0.0.1:{env['CATALOG_PORT']}"
    Path(env["DATA_DIR"]).mkdir(parents=True)
    stack = Stack(env, scratch)
    try:
        for schema in ("catalog", "recommender"):
            upgrade(schema, env["DATABASE_URL"])
        stack.start("recommender")
        stack.start("catalog")
        asyncio.run(_seed_and_train(stack, epochs))
        yield stack
    finally:
        for name in list(stack.processes):
            stack.stop(name)
        redis_server.stop()
        postgres.stop()
        shutil.rmtree(scratch, ignore_errors=True)


async def _seed_and_train(stack: Stack, epochs: int) -> None:
    started = time.perf_counter()
    seeded = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "catalog_service", "seed", "--seed", "42"],
        env=stack.env, cwd=ROOT, capture_output=True, text=True, timeout=900, check=False,
    )  # fmt: skip
    if seeded.returncode != 0:
        raise SystemExit(f"seed failed: {seeded.stderr[-2000:]}")
    stack.notes["seed_seconds"] = round(time.perf_counter() - started, 1)
    async with httpx.AsyncClient(
        base_url=stack.recommender, headers=stack.service_headers, timeout=60
    ) as service:

        async def consumed() -> bool:
            counts = (await service.get("/v1/stats")).json()["read_model"]
            return bool(counts["interactions"] == 15_000)

        await until(consumed, 600, "the recommender consumed the seed")
        body = {"epochs": epochs, "batch_size": 512, "embedding_dim": 32}
        version = (await service.post("/v1/models/train", json=body)).json()["run_id"]

        async def served() -> bool:
            return bool((await service.get("/v1/model")).json()["served_version"] == version)

        stack.notes["train_seconds"] = round(await until(served, 900, "model trained"), 1)
        stack.notes["model_version"] = version
        stats = (await service.get("/v1/stats")).json()["read_model"]
        stack.notes["users"], stack.notes["items"] = stats["users"], stats["items"]
