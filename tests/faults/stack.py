"""Both services as real processes on loopback, on a database of their own, for fault scenarios.

`FaultStack.start(...)` migrates the database, starts the catalog (`python -m catalog_service
serve`), registers students and uploads épreuves through its HTTP API, then starts the
recommender (which bootstraps from the catalog's export). The stack owns a Redis of its own
(EmbeddedRedis, every write fsynced), so that a scenario can kill it; PostgreSQL can be
restarted when a `PostgresControl` is given (an embedded server). Services log to files under
the stack's folder; `kill(...)` is a kill -9, `restart(...)` starts the same command again.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg
import httpx
import redis.asyncio as aioredis

from catalog_service.auth.tokens import TokenSigner, TokenType
from migrations.runner import upgrade
from shared.devstack import EmbeddedRedis, PostgresControl
from shared.devstack.supervisor import ChildProcess
from shared.events import DEFAULT_STREAM
from shared.service_auth import SERVICE_KEY_HEADER
from tests.catalog.conftest import PDF_BYTES
from tests.e2e.servers import free_port

ADMIN = ("admin@faults.example", "faults-admin-password")
FILIERES = ("MATH", "INFO", "PHYSIQUE", "CHIMIE")


async def eventually(check: Callable[[], Awaitable[bool]], *, timeout_s: float, what: str) -> float:
    """Seconds until `check()` holds (polled every 0.1 s); AssertionError past `timeout_s`."""
    started = time.monotonic()
    while time.monotonic() - started < timeout_s:
        try:
            if await check():
                return time.monotonic() - started
        except (httpx.HTTPError, OSError, asyncpg.PostgresError):
            pass
        await asyncio.sleep(0.1)
    raise AssertionError(f"not within {timeout_s:g} s: {what}")


@dataclass
class FaultStack:
    folder: Path
    database_url: str
    redis: EmbeddedRedis
    postgres: PostgresControl | None
    env: dict[str, str]
    catalog: ChildProcess
    recommender: ChildProcess
    students: list[dict[str, str]] = field(default_factory=list)  # one Authorization header each
    epreuves: list[int] = field(default_factory=list)
    stream: str = DEFAULT_STREAM

    @property
    def catalog_url(self) -> str:
        return f"http://127.0.0.1:{self.env['CATALOG_PORT']}"

    @property
    def recommender_url(self) -> str:
        return f"http://127.0.0.1:{self.env['RECOMMENDER_PORT']}"

    @classmethod
    async def start(
        cls,
        folder: Path,
        *,
        database_url: str,
        postgres: PostgresControl | None,
        students: int = 16,
        epreuves: int = 12,
        extra_env: dict[str, str] | None = None,
    ) -> FaultStack:
        """The stack on `database_url` (an empty database: it is migrated here)."""
        for schema in ("catalog", "recommender"):
            await asyncio.to_thread(upgrade, schema, database_url)
        redis = await asyncio.to_thread(EmbeddedRedis(folder / "redis").start)
        catalog_port, recommender_port = free_port(), free_port()
        env = {
            **os.environ,
            "DATABASE_URL": database_url,
            "REDIS_URL": redis.url,
            "SERVICE_API_KEY": secrets.token_urlsafe(24),
            "JWT_SECRET": secrets.token_urlsafe(32),
            "JWT_ACCESS_MINUTES": "240",
            "DATA_DIR": str(folder / "data"),
            "CATALOG_PORT": str(catalog_port),
            "RECOMMENDER_PORT": str(recommender_port),
            "RECOMMENDER_URL": f"http://127.0.0.1:{recommender_port}",
            "CATALOG_URL": f"http://127.0.0.1:{catalog_port}",
            "FIRST_ADMIN_EMAIL": ADMIN[0],
            "FIRST_ADMIN_PASSWORD": ADMIN[1],
            "AUTH_RATE_LIMIT_ACCOUNT": "100000",
            "AUTH_RATE_LIMIT_IP": "100000",
            "AUTO_RETRAIN_ENABLED": "false",
            "LOG_LEVEL": "WARNING",
            **(extra_env or {}),
        }
        logs = folder / "logs"
        logs.mkdir(parents=True, exist_ok=True)

        def service(module: str, url: str) -> ChildProcess:
            return ChildProcess.python(
                module, "serve", env=env, ready_url=f"{url}/readyz", log_file=logs / f"{module}.log"
            )

        stack = cls(
            folder, database_url, redis, postgres, env,
            catalog=service("catalog_service", f"http://127.0.0.1:{catalog_port}"),
            recommender=service("recommender_service", f"http://127.0.0.1:{recommender_port}"),
        )  # fmt: skip
        try:
            await stack.restart(stack.catalog)
            await stack._populate(students, epreuves)
            await stack.restart(stack.recommender)
            await stack._bootstrapped()
        except BaseException:
            await stack.close()
            raise
        return stack

    async def _populate(self, students: int, epreuves: int) -> None:
        """Students registered and épreuves uploaded through the catalog's API."""
        signer = TokenSigner(secret=self.env["JWT_SECRET"])
        async with httpx.AsyncClient(base_url=self.catalog_url, timeout=60) as http:
            token = await http.post(
                "/v1/auth/token", data={"username": ADMIN[0], "password": ADMIN[1]}
            )
            token.raise_for_status()
            admin = {"Authorization": f"Bearer {token.json()['access_token']}"}
            for n in range(epreuves):
                form = {
                    "title": f"Partiel {n}", "matiere": "Analyse", "filiere": FILIERES[n % 4],
                    "niveau": "L2", "type": "PARTIEL", "annee": "2024", "description": "",
                }  # fmt: skip
                files = {"file": ("sujet.pdf", PDF_BYTES, "application/pdf")}
                created = await http.post("/v1/epreuves", data=form, files=files, headers=admin)
                created.raise_for_status()
                self.epreuves.append(int(created.json()["id"]))
            for n in range(students):
                body = {
                    "email": f"student{n}@faults.example", "password": "student-password",
                    "full_name": f"Student {n}", "niveau": "L2", "filiere": FILIERES[n % 4],
                }  # fmt: skip
                registered = await http.post("/v1/auth/register", json=body)
                registered.raise_for_status()
                user_id = int(registered.json()["id"])
                access = signer.issue(user_id, TokenType.ACCESS, version=0)
                self.students.append({"Authorization": f"Bearer {access}"})

    async def _bootstrapped(self) -> None:
        """Until the recommender's read model holds the students and épreuves (its bootstrap
        runs after it answers ready): scenarios start on a settled pipeline."""

        async def loaded() -> bool:
            async with httpx.AsyncClient(base_url=self.recommender_url, timeout=10) as http:
                stats = await http.get("/v1/stats", headers=self.service_headers())
            counts = stats.json()["read_model"]
            return bool(
                counts["items"] == len(self.epreuves) and counts["users"] > len(self.students)
            )

        await eventually(loaded, timeout_s=120, what="the recommender's bootstrap")

    async def restart(self, service: ChildProcess, *, timeout_s: float = 180) -> float:
        """Starts `service` (again) and waits until it is ready; returns the seconds waited."""
        service.start()
        return await self.wait_ready(service, timeout_s=timeout_s)

    async def wait_ready(self, service: ChildProcess, *, timeout_s: float = 180) -> float:
        async def ready() -> bool:
            if service.exit_status() is not None:
                raise RuntimeError(f"{service.name} exited ({service.exit_status()})")
            return await asyncio.to_thread(service.ready)

        return await eventually(ready, timeout_s=timeout_s, what=f"{service.name} ready")

    async def kill(self, service: ChildProcess) -> None:
        await asyncio.to_thread(service.kill)

    def service_headers(self) -> dict[str, str]:
        return {SERVICE_KEY_HEADER: self.env["SERVICE_API_KEY"]}

    async def redis_client(self) -> aioredis.Redis:
        return aioredis.from_url(self.redis.url)

    async def close(self) -> None:
        for service in (self.recommender, self.catalog):
            await asyncio.to_thread(service.stop)
        await asyncio.to_thread(self.redis.stop)
