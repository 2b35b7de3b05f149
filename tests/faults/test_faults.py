"""The fault scenarios that fit the test budget, small, against real processes: each asserts
that every acknowledged write is in the catalog, on the stream and in the read model exactly
once (benchmarks/faults.py runs them at full length and reports the figures)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.faults import scenarios
from tests.faults.stack import FaultStack

pytestmark = pytest.mark.slow

LOAD = scenarios.Load(rate_per_s=60, warm_s=2, tail_s=2, converge_s=90)


def _holds(report: dict[str, Any]) -> dict[str, Any]:
    print(json.dumps(report, indent=1))
    invariant: dict[str, Any] = report["invariant"]
    assert invariant["acknowledged"] > 0, report
    assert invariant["holds"], report
    return invariant


async def test_redis_killed_under_writes_loses_and_doubles_nothing(
    fault_stack: FaultStack,
) -> None:
    report = await scenarios.redis_outage(fault_stack, LOAD, outage_s=4)
    _holds(report)
    # The catalog keeps accepting writes while Redis is down: they wait in the outbox.
    assert set(report["recovery"]["outcomes_during_outage"]) == {"201"}, report
    assert report["recovery"]["backlog_when_redis_back"] > 0


async def test_catalog_killed_with_a_backlog_loses_and_doubles_nothing(
    fault_stack: FaultStack,
) -> None:
    report = await scenarios.catalog_kill(fault_stack, LOAD, backlog=300)
    _holds(report)
    assert report["recovery"]["unpublished_rows_at_kill"] >= 300


async def test_recommender_killed_twice_under_writes_loses_and_doubles_nothing(
    fault_stack: FaultStack,
) -> None:
    report = await scenarios.recommender_kill(fault_stack, LOAD, kills=2, every_s=2)
    _holds(report)
    assert report["server_errors"] == {}  # the catalog's writes never need the recommender


async def test_postgres_restarted_under_writes_loses_and_doubles_nothing(
    fault_stack: FaultStack,
) -> None:
    if fault_stack.postgres is None:
        pytest.skip("DATABASE_URL names an external PostgreSQL: this test restarts the server")
    report = await scenarios.postgres_restart(fault_stack, LOAD, pause_s=3)
    _holds(report)
