"""A/B arms: a stable assignment, the traffic share respected, independent experiments."""

from __future__ import annotations

import subprocess
import sys

import pytest

from recommender_service.serving.arms import arm_of, bucket
from shared.enums import Arm

USERS = range(1, 10_001)


def test_a_user_keeps_their_arm_across_calls_and_processes() -> None:
    here = [arm_of(3, u, 0.3).value for u in range(1, 201)]
    assert here == [arm_of(3, u, 0.3).value for u in range(1, 201)]
    # Another interpreter, another hash seed: the same arms (no per-process salt).
    code = (
        "from recommender_service.serving.arms import arm_of;"
        "print(','.join(arm_of(3, u, 0.3).value for u in range(1, 201)))"
    )
    out = subprocess.run(  # noqa: S603 (our own interpreter and code)
        [sys.executable, "-c", code], capture_output=True, text=True, check=True,
        env={"PYTHONHASHSEED": "12345", "PATH": ""},
    )  # fmt: skip
    assert out.stdout.strip().split(",") == here


@pytest.mark.parametrize("traffic", [0.01, 0.1, 0.25, 0.5, 0.9])
def test_the_candidate_share_of_10000_users_is_the_traffic_within_one_point(
    traffic: float,
) -> None:
    share = sum(arm_of(7, u, traffic) is Arm.CANDIDATE for u in USERS) / len(USERS)
    assert abs(share - traffic) <= 0.01


def test_a_larger_share_keeps_the_candidates_of_a_smaller_one() -> None:
    small = {u for u in USERS if arm_of(7, u, 0.1) is Arm.CANDIDATE}
    large = {u for u in USERS if arm_of(7, u, 0.2) is Arm.CANDIDATE}
    assert small < large


def test_two_experiments_split_the_users_independently() -> None:
    first = {u for u in USERS if arm_of(1, u, 0.5) is Arm.CANDIDATE}
    second = {u for u in USERS if arm_of(2, u, 0.5) is Arm.CANDIDATE}
    # Independent halves overlap on about a quarter of the users, not on all or none.
    assert abs(len(first & second) / len(USERS) - 0.25) <= 0.02
    assert all(0.0 <= bucket(1, u) < 1.0 for u in USERS)
