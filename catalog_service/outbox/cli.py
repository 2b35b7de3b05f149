"""`python -m catalog_service outbox-backlog [--wait SECONDS]`: the events not yet on the stream.

Without `--wait`, prints the backlog once. With it, waits until the relay of a running catalog has
published every event, printing progress (`make run` waits so before the recommender's first
training); exit 1 when time is up first.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time

from catalog_service.config import get_settings
from catalog_service.outbox.service import Backlog, backlog
from shared.database import make_engine, make_sessionmaker

PROGRESS_EVERY_S = 2.0


def _line(left: Backlog) -> str:
    age = "" if left.oldest_pending_age_s is None else f", oldest {left.oldest_pending_age_s:.0f} s"
    return f"outbox: {left.pending} events not yet on the stream{age}"


async def _run(wait_s: float | None) -> int:
    engine = make_engine(get_settings().database_url, pool_size=1)
    sessions = make_sessionmaker(engine)
    deadline = time.monotonic() + (wait_s or 0)
    try:
        while True:
            async with sessions() as session:
                left = await backlog(session=session)
            if wait_s is None or left.pending == 0:
                print(_line(left), flush=True)
                return 0
            if time.monotonic() > deadline:
                print(f"{_line(left)} after {wait_s:g} s", file=sys.stderr)
                return 1
            print(_line(left), flush=True)
            await asyncio.sleep(PROGRESS_EVERY_S)
    finally:
        await engine.dispose()


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m catalog_service outbox-backlog")
    parser.add_argument(
        "--wait", type=float, metavar="SECONDS", help="wait until the backlog is empty"
    )
    args = parser.parse_args(argv)
    return asyncio.run(_run(args.wait))
