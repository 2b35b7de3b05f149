"""Fault suite: the services under a steady write load while their parts are killed, judged by
the invariant (every acknowledged write in the catalog, on the stream and in the read model,
exactly once).

Starts a throw-away embedded PostgreSQL (or uses DATABASE_URL's server, on a database of its own,
and its pg_ctl when DEVSTACK_PGDATA / DEVSTACK_PG_CTL name it) and always a Redis of its own (it
is killed), runs the catalog and the recommender as processes on free loopback ports, registers
students and uploads épreuves through the API, then runs, in turn, with authenticated
`POST /v1/interactions` from every student:

- `recommender_kill`: kill -9 of the recommender, several times, each followed by a restart;
- `redis_outage`: kill -9 of Redis, down for a while under the writes, started again;
- `postgres_restart`: `pg_ctl restart -m fast`, then `-m immediate`, under the writes;
- `catalog_kill`: kill -9 of the catalog with thousands of outbox rows unpublished (Redis down
  while they pile up), then Redis and the catalog started again.

    nice -n 10 .venv/bin/python benchmarks/faults.py                      # everything (~6 min)
    nice -n 10 .venv/bin/python benchmarks/faults.py --only redis_outage --outage-s 10

Writes benchmarks/out/faults-<time>.json and prints a summary table; exit 1 when the invariant
fails in any scenario. Loopback only; every wait is bounded. The scenarios themselves live in
tests/faults/ (the test suite runs them small).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import shutil
import sys
import tempfile
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from shared.devstack import EmbeddedPostgres, PostgresControl  # noqa: E402
from tests.conftest import own_database  # noqa: E402
from tests.faults import scenarios  # noqa: E402
from tests.faults.stack import FaultStack  # noqa: E402

OUT = ROOT / "benchmarks" / "out"
SCENARIOS = ("recommender_kill", "redis_outage", "postgres_restart", "catalog_kill")


@contextlib.asynccontextmanager
async def _database(scratch: Path) -> AsyncIterator[tuple[str, PostgresControl | None]]:
    """A database of our own: on DATABASE_URL's server, else on an embedded server."""
    server = os.environ.get("DATABASE_URL")
    if server is not None:
        async with own_database(server, "epreuves_faults") as url:
            yield url, PostgresControl.from_env()
        return
    postgres = await asyncio.to_thread(EmbeddedPostgres, scratch / "postgres", keep=False)
    try:
        yield await asyncio.to_thread(postgres.url, "faults"), postgres.control
    finally:
        await asyncio.to_thread(postgres.stop)


async def _run(args: argparse.Namespace, scratch: Path) -> list[dict[str, Any]]:
    load = scenarios.Load(rate_per_s=args.rate, warm_s=3, tail_s=5, converge_s=args.converge_s)
    extra = {"CLAIM_IDLE_MS": str(args.claim_idle_ms)} if args.claim_idle_ms else {}
    reports: list[dict[str, Any]] = []
    async with _database(scratch) as (database_url, control):
        print("starting the stack…", flush=True)
        stack = await FaultStack.start(
            scratch, database_url=database_url, postgres=control,
            students=args.clients, epreuves=20, extra_env=extra,
        )  # fmt: skip
        try:
            for name in args.only or SCENARIOS:
                print(f"\n== {name}", flush=True)
                if name == "postgres_restart" and control is None:
                    print("skipped: PostgreSQL is external and no pg_ctl is named", flush=True)
                    reports.append({"scenario": name, "skipped": "no PostgresControl"})
                    continue
                report = await _scenario(name, stack, load, args)
                print(json.dumps(report["recovery"]), flush=True)
                reports.append(report)
        finally:
            await stack.close()
    return reports


async def _scenario(
    name: str, stack: FaultStack, load: scenarios.Load, args: argparse.Namespace
) -> dict[str, Any]:
    if name == "recommender_kill":
        return await scenarios.recommender_kill(stack, load, kills=args.kills, every_s=10)
    if name == "redis_outage":
        return await scenarios.redis_outage(stack, load, outage_s=args.outage_s)
    if name == "postgres_restart":
        return await scenarios.postgres_restart(stack, load, pause_s=args.pause_s)
    return await scenarios.catalog_kill(stack, load, backlog=args.backlog)


def _seconds(value: Any) -> str:
    values = value if isinstance(value, list) else [value]
    return ", ".join("never" if v is None else f"{v:g}" for v in values) + " s"


def _recovery_line(recovery: dict[str, Any]) -> str:
    parts = []
    for key, value in recovery.items():
        words = key.removesuffix("_s").replace("_", " ")
        if isinstance(value, dict) and "writes_recovered_s" in value:  # one restart mode
            parts.append(
                f"{key}: pg_ctl {_seconds(value['pg_ctl_restart_s'])}, "
                f"writes back after {_seconds(value['writes_recovered_s'])}"
            )
        elif key.endswith("_s"):
            parts.append(f"{words} {_seconds(value)}")
        elif isinstance(value, int):
            parts.append(f"{words} {value}")
    return "; ".join(parts)


def _table(reports: list[dict[str, Any]]) -> str:
    head = f"{'scenario':<18} {'acked':>7} {'lost':>5} {'doubled':>7} {'writes/s':>8}  5xx by code"
    lines = [head, "-" * 78]
    for report in reports:
        if "skipped" in report:
            lines.append(f"{report['scenario']:<18} skipped: {report['skipped']}")
            continue
        inv = report["invariant"]
        errors = ", ".join(f"{k}: {v}" for k, v in report["server_errors"].items()) or "none"
        lines.append(
            f"{report['scenario']:<18} {inv['acknowledged']:>7} {inv['lost']:>5} "
            f"{inv['doubled']:>7} {report['writes']['per_second']:>8}  {errors}"
        )
        lines.append(f"{'':<18} {_recovery_line(report['recovery'])}")
        if not inv["holds"]:
            lines.append(f"{'':<18} INVARIANT BROKEN: {inv}")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="+", choices=SCENARIOS, help="these scenarios only")
    parser.add_argument("--clients", type=int, default=32, help="concurrent students writing")
    parser.add_argument("--rate", type=float, default=200.0, help="writes per second, in all")
    parser.add_argument("--kills", type=int, default=3, help="recommender kills")
    parser.add_argument("--outage-s", type=float, default=30.0, help="Redis down for this long")
    parser.add_argument("--pause-s", type=float, default=15.0, help="between PostgreSQL restarts")
    parser.add_argument("--backlog", type=int, default=3000, help="unpublished rows at the kill")
    parser.add_argument("--converge-s", type=float, default=240.0, help="bound on catching up")
    parser.add_argument(
        "--claim-idle-ms", type=int, default=None, help="the recommender's CLAIM_IDLE_MS"
    )
    parser.add_argument("--keep", action="store_true", help="keep the scratch folder (logs)")
    args = parser.parse_args()
    scratch = Path(tempfile.mkdtemp(prefix="epreuves-faults-"))
    started = datetime.now(UTC)
    try:
        reports = asyncio.run(_run(args, scratch))
    finally:
        if args.keep:
            print(f"kept {scratch} (service logs under logs/)")
        else:
            shutil.rmtree(scratch, ignore_errors=True)
    result = {
        "benchmark": "faults",
        "at": started.isoformat(timespec="seconds"),
        "machine": {"cpus": os.cpu_count()},
        "params": vars(args),
        "scenarios": reports,
    }
    OUT.mkdir(parents=True, exist_ok=True)
    path = OUT / f"faults-{started:%Y%m%dT%H%M%S}.json"
    path.write_text(json.dumps(result, indent=2))
    print(f"\n{_table(reports)}\n\nwritten to {path}")
    held = all(r.get("skipped") or r["invariant"]["holds"] for r in reports)
    return 0 if held else 1


if __name__ == "__main__":
    sys.exit(main())
