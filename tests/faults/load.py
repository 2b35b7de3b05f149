"""A steady load of authenticated `POST /v1/interactions` from many clients, and its ledger.

Each client sends at its share of `rate_per_s` (never faster: a fault must not turn into a
retry storm) and records every outcome: the id of each acknowledged write (201), the status and
error code of every other answer, the exception name when no answer came. Each request carries
a unique token in its `metadata`, so that a write stored twice can be found in the catalog.
"""

from __future__ import annotations

import asyncio
import math
import random
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import httpx

KINDS = ("VIEW", "CLICK", "DOWNLOAD")


@dataclass
class Ledger:
    acked: dict[int, str] = field(default_factory=dict)  # interaction id → request token
    outcomes: list[tuple[float, str]] = field(default_factory=list)  # (monotonic time, label)
    started_at: float = field(default_factory=time.monotonic)
    stopped_at: float | None = None

    @property
    def per_second(self) -> float:
        """Writes answered per second (the target rate, unless answers come slower)."""
        elapsed = (self.stopped_at or time.monotonic()) - self.started_at
        return round(len(self.outcomes) / elapsed, 1) if elapsed > 0 else 0.0

    def record(self, label: str) -> None:
        self.outcomes.append((time.monotonic(), label))

    def counts(self, start: float = -math.inf, end: float = math.inf) -> dict[str, int]:
        """Outcomes by label (`"201"`, `"503 unavailable"`, `"ConnectError"`…) in a time span."""
        return dict(Counter(label for t, label in self.outcomes if start <= t <= end))

    def server_errors(self) -> dict[str, int]:
        """5xx answers by status and error code, e.g. {"503 unavailable": 12}."""
        return {k: v for k, v in self.counts().items() if k[:1] == "5"}

    def recovered_after(self, fault_at: float) -> float | None:
        """Seconds from `fault_at` until writes succeed again: the first 201 after the last
        failure that followed the fault; 0 when no write failed; None when none succeeded."""
        failures = [t for t, label in self.outcomes if t >= fault_at and label != "201"]
        if not failures:
            return 0.0
        last = max(failures)
        after = [t for t, label in self.outcomes if t > last and label == "201"]
        return round(min(after) - fault_at, 2) if after else None


class WriteLoad:
    """`async with WriteLoad(...) as ledger:` the load runs inside the block."""

    def __init__(
        self,
        base_url: str,
        *,
        students: list[dict[str, str]],
        epreuves: list[int],
        rate_per_s: float,
        timeout_s: float = 10.0,
    ) -> None:
        self.base_url = base_url
        self.students = students
        self.epreuves = epreuves
        self.interval_s = len(students) / rate_per_s
        self.timeout_s = timeout_s
        self.ledger = Ledger()
        self._stop = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._http: httpx.AsyncClient | None = None

    async def __aenter__(self) -> Ledger:
        limits = httpx.Limits(max_connections=len(self.students))
        self._http = httpx.AsyncClient(
            base_url=self.base_url, timeout=self.timeout_s, limits=limits
        )
        self._tasks = [
            asyncio.create_task(self._client(n, headers)) for n, headers in enumerate(self.students)
        ]
        return self.ledger

    async def __aexit__(self, *_exc: object) -> None:
        self._stop.set()
        await asyncio.gather(*self._tasks)
        self.ledger.stopped_at = time.monotonic()
        if self._http is not None:
            await self._http.aclose()

    async def _client(self, n: int, headers: dict[str, str]) -> None:
        assert self._http is not None
        pick = random.Random(n)
        next_at = time.monotonic() + pick.random() * self.interval_s  # spread the clients
        while not self._stop.is_set():
            await asyncio.sleep(max(0.0, next_at - time.monotonic()))
            next_at = max(next_at + self.interval_s, time.monotonic())
            token = uuid.uuid4().hex
            body: dict[str, Any] = {
                "epreuve_id": pick.choice(self.epreuves),
                "kind": pick.choice(KINDS),
                "metadata": {"request": token},
            }
            self.ledger.record(await self._send(body, headers, token))

    async def _send(self, body: dict[str, Any], headers: dict[str, str], token: str) -> str:
        assert self._http is not None
        try:
            answer = await self._http.post("/v1/interactions", json=body, headers=headers)
        except httpx.HTTPError as exc:
            return type(exc).__name__
        if answer.status_code == 201:
            self.ledger.acked[int(answer.json()["id"])] = token
            return "201"
        try:
            code = answer.json().get("code")
        except ValueError:
            code = None
        return f"{answer.status_code} {code or 'no-json'}"
