"""The circuit breaker's state machine, on a clock the test moves."""

from __future__ import annotations

import pytest

from catalog_service.recommendations.breaker import BreakerState, CircuitBreaker


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def breaker(clock: Clock) -> CircuitBreaker:
    return CircuitBreaker(failure_threshold=3, reset_timeout_s=10.0, clock=clock)


def _fail(breaker: CircuitBreaker, times: int) -> None:
    for _ in range(times):
        assert breaker.allow()
        breaker.record_failure()


def test_stays_closed_below_the_threshold(breaker: CircuitBreaker) -> None:
    _fail(breaker, 2)
    assert breaker.state is BreakerState.CLOSED
    assert breaker.allow()


def test_a_success_resets_the_consecutive_count(breaker: CircuitBreaker) -> None:
    _fail(breaker, 2)
    breaker.record_success()
    _fail(breaker, 2)
    assert breaker.state is BreakerState.CLOSED


def test_opens_at_the_threshold_and_refuses_calls(breaker: CircuitBreaker, clock: Clock) -> None:
    _fail(breaker, 3)
    assert breaker.state is BreakerState.OPEN
    clock.now += 9.9
    assert not breaker.allow()


def test_half_open_lets_one_probe_through(breaker: CircuitBreaker, clock: Clock) -> None:
    _fail(breaker, 3)
    clock.now += 10.0
    assert breaker.state is BreakerState.HALF_OPEN
    assert breaker.allow()
    assert not breaker.allow()


def test_a_successful_probe_closes(breaker: CircuitBreaker, clock: Clock) -> None:
    _fail(breaker, 3)
    clock.now += 10.0
    assert breaker.allow()
    breaker.record_success()
    assert breaker.state is BreakerState.CLOSED
    assert breaker.allow() and breaker.allow()


def test_a_failed_probe_opens_for_another_full_cool_down(
    breaker: CircuitBreaker, clock: Clock
) -> None:
    _fail(breaker, 3)
    clock.now += 10.0
    assert breaker.allow()
    breaker.record_failure()
    assert breaker.state is BreakerState.OPEN
    clock.now += 9.9
    assert not breaker.allow()
    clock.now += 0.1
    assert breaker.allow()


def test_a_probe_that_never_reported_does_not_wedge_the_breaker(
    breaker: CircuitBreaker, clock: Clock
) -> None:
    _fail(breaker, 3)
    clock.now += 10.0
    assert breaker.allow()  # its request is cancelled: no outcome is ever recorded
    clock.now += 5.0
    assert not breaker.allow()
    clock.now += 5.0
    assert breaker.allow()


@pytest.mark.parametrize(("failures", "reset"), [(0, 1.0), (1, 0.0)])
def test_rejects_nonsense_settings(failures: int, reset: float) -> None:
    with pytest.raises(ValueError, match="failure_threshold"):
        CircuitBreaker(failure_threshold=failures, reset_timeout_s=reset)
