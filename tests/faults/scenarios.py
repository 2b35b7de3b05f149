"""The fault scenarios of issue 8, each under a steady write load, each judged by the invariant.

A scenario takes a started `FaultStack` and a `Load`, injects its fault while the load runs,
lets the load go on for `tail_s`, waits until the pipeline has caught up, and returns its report:
writes sent and acknowledged, outcomes by status and error code, 5xx by code, recovery seconds,
and the invariant (tests.faults.invariant). The tests run them small; benchmarks/faults.py runs
them at full length.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass
from typing import Any, Literal

from tests.faults.invariant import check, converge, pending_outbox, watermark
from tests.faults.load import Ledger, WriteLoad
from tests.faults.stack import FaultStack, eventually

Recovery = dict[str, Any]


@dataclass(frozen=True)
class Load:
    rate_per_s: float = 100.0
    warm_s: float = 3.0  # load before the fault
    tail_s: float = 5.0  # load after the recovery
    converge_s: float = 180.0  # bound on the wait for the stream and the read model


async def _scenario(
    stack: FaultStack,
    name: str,
    load: Load,
    params: dict[str, Any],
    fault: Callable[[Ledger, Recovery], Awaitable[None]],
) -> dict[str, Any]:
    since = await watermark(stack)
    started = time.monotonic()
    recovery: Recovery = {}
    writes = WriteLoad(
        stack.catalog_url, students=stack.students, epreuves=stack.epreuves,
        rate_per_s=load.rate_per_s,
    )  # fmt: skip
    async with writes as ledger:
        await asyncio.sleep(load.warm_s)
        await fault(ledger, recovery)
        await asyncio.sleep(load.tail_s)
    recovery["converged_after_load_s"] = await converge(stack, since, timeout_s=load.converge_s)
    invariant = await check(stack, ledger, since)
    return {
        "scenario": name,
        "params": {**params, "load": asdict(load), "clients": len(stack.students)},
        "seconds": round(time.monotonic() - started, 1),
        "writes": {
            "sent": len(ledger.outcomes),
            "acknowledged": len(ledger.acked),
            "per_second": ledger.per_second,
        },
        "outcomes": ledger.counts(),
        "server_errors": ledger.server_errors(),
        "recovery": recovery,
        "invariant": invariant.as_dict(),
    }


async def recommender_kill(
    stack: FaultStack, load: Load, *, kills: int = 3, every_s: float = 10.0
) -> dict[str, Any]:
    """kill -9 of the recommender, `kills` times, each followed by a restart."""

    async def fault(ledger: Ledger, recovery: Recovery) -> None:
        ready, writes = [], []
        for n in range(kills):
            if n:
                await asyncio.sleep(every_s)
            killed = time.monotonic()
            await stack.kill(stack.recommender)
            await stack.restart(stack.recommender)
            ready.append(round(time.monotonic() - killed, 2))
            writes.append(ledger.recovered_after(killed))
        recovery["recommender_ready_after_kill_s"] = ready
        recovery["writes_recovered_s"] = writes

    params = {"kills": kills, "every_s": every_s}
    return await _scenario(stack, "recommender_kill", load, params, fault)


async def redis_outage(stack: FaultStack, load: Load, *, outage_s: float = 30.0) -> dict[str, Any]:
    """kill -9 of Redis, down for `outage_s` under the writes, then started again."""

    async def fault(ledger: Ledger, recovery: Recovery) -> None:
        killed = time.monotonic()
        await asyncio.to_thread(stack.redis.kill)
        await asyncio.sleep(outage_s)
        await asyncio.to_thread(stack.redis.start)
        recovery["backlog_when_redis_back"] = await pending_outbox(stack)
        recovery["outbox_drained_after_redis_back_s"] = round(
            await eventually(_drained(stack), timeout_s=load.converge_s, what="outbox drained"), 2
        )
        recovery["writes_recovered_s"] = ledger.recovered_after(killed)
        recovery["outcomes_during_outage"] = ledger.counts(killed, killed + outage_s)

    return await _scenario(stack, "redis_outage", load, {"outage_s": outage_s}, fault)


async def postgres_restart(
    stack: FaultStack,
    load: Load,
    *,
    modes: tuple[Literal["fast", "immediate"], ...] = ("fast", "immediate"),
    pause_s: float = 10.0,
) -> dict[str, Any]:
    """`pg_ctl restart -m <mode>` under the writes, once per mode, `pause_s` apart."""
    control = stack.postgres
    if control is None:
        raise ValueError("postgres_restart needs an embedded PostgreSQL (PostgresControl)")

    async def fault(ledger: Ledger, recovery: Recovery) -> None:
        for mode in modes:
            started = time.monotonic()
            await asyncio.to_thread(control.restart, mode)
            restarted = time.monotonic() - started
            await asyncio.sleep(pause_s)
            recovery[mode] = {
                "pg_ctl_restart_s": round(restarted, 2),
                "writes_recovered_s": ledger.recovered_after(started),
                "outcomes": ledger.counts(started, time.monotonic()),
            }

    params = {"modes": list(modes), "pause_s": pause_s}
    return await _scenario(stack, "postgres_restart", load, params, fault)


async def catalog_kill(
    stack: FaultStack, load: Load, *, backlog: int = 2000, backlog_timeout_s: float = 120.0
) -> dict[str, Any]:
    """kill -9 of the catalog while `backlog` outbox rows wait for the relay (Redis down while
    they pile up under the writes), then Redis and the catalog started again."""

    async def fault(ledger: Ledger, recovery: Recovery) -> None:
        await asyncio.to_thread(stack.redis.kill)

        async def piled_up() -> bool:
            return await pending_outbox(stack) >= backlog

        await eventually(piled_up, timeout_s=backlog_timeout_s, what=f"{backlog} rows pending")
        killed = time.monotonic()
        await stack.kill(stack.catalog)
        recovery["unpublished_rows_at_kill"] = await pending_outbox(stack)
        await asyncio.to_thread(stack.redis.start)
        await stack.restart(stack.catalog)
        recovery["catalog_ready_after_kill_s"] = round(time.monotonic() - killed, 2)
        await eventually(_drained(stack), timeout_s=load.converge_s, what="outbox drained")
        recovery["outbox_drained_after_kill_s"] = round(time.monotonic() - killed, 2)
        recovery["writes_recovered_s"] = ledger.recovered_after(killed)

    return await _scenario(stack, "catalog_kill", load, {"backlog": backlog}, fault)


def _drained(stack: FaultStack) -> Callable[[], Awaitable[bool]]:
    async def drained() -> bool:
        return await pending_outbox(stack) == 0

    return drained
