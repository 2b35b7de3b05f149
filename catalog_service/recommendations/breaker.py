"""A small circuit breaker in front of the recommender.

closed → (N consecutive failures) → open → (cool-down) → half-open: one probe call is let
through; its success closes the circuit, its failure opens it again for another cool-down.
While open, callers skip the network entirely and answer with their fallback at once.

Per process on purpose (each catalog replica judges its own path to the recommender), and a
dozen lines of state: the maintained Python libraries (pybreaker, aiobreaker, purgatory) either
wrap the call in ways that fight asyncio.timeout or add a storage layer we do not need.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from enum import StrEnum


class BreakerState(StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


class CircuitBreaker:
    def __init__(
        self,
        *,
        failure_threshold: int = 5,
        reset_timeout_s: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if failure_threshold < 1 or reset_timeout_s <= 0:
            raise ValueError("failure_threshold >= 1 and reset_timeout_s > 0 are required")
        self.failure_threshold = failure_threshold
        self.reset_timeout_s = reset_timeout_s
        self._clock = clock
        self._failures = 0
        self._opened_at: float | None = None
        self._probe_started: float | None = None

    @property
    def state(self) -> BreakerState:
        if self._opened_at is None:
            return BreakerState.CLOSED
        if self._clock() - self._opened_at < self.reset_timeout_s:
            return BreakerState.OPEN
        return BreakerState.HALF_OPEN

    def allow(self) -> bool:
        """Whether a call may go out now (in half-open: one probe at a time)."""
        state = self.state
        if state is BreakerState.CLOSED:
            return True
        if state is BreakerState.OPEN:
            return False
        now = self._clock()
        # A probe whose outcome never came back (its request was cancelled) must not wedge
        # the breaker: after another cool-down, a new probe may go.
        if self._probe_started is None or now - self._probe_started >= self.reset_timeout_s:
            self._probe_started = now
            return True
        return False

    def record_success(self) -> None:
        self._failures = 0
        self._opened_at = None
        self._probe_started = None

    def record_failure(self) -> None:
        self._probe_started = None
        if self._opened_at is not None:  # a failed probe: another full cool-down
            self._opened_at = self._clock()
            return
        self._failures += 1
        if self._failures >= self.failure_threshold:
            self._opened_at = self._clock()
