"""A/B arms: which users an experiment serves its candidate, by a stable hash.

The hash is of (experiment id, user id), so a user keeps their arm for the whole experiment,
on every replica and across restarts (no state to share), and a new experiment draws a new,
independent split. blake2b rather than Python's `hash`, which is salted per process.
"""

from __future__ import annotations

import hashlib

from shared.enums import Arm

_SCALE = float(2**64)


def bucket(experiment_id: int, user_id: int) -> float:
    """The user's place in [0, 1) for this experiment, uniform over users."""
    digest = hashlib.blake2b(f"{experiment_id}:{user_id}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / _SCALE


def arm_of(experiment_id: int, user_id: int, traffic: float) -> Arm:
    """CANDIDATE for the `traffic` share of users, CONTROL for the others."""
    return Arm.CANDIDATE if bucket(experiment_id, user_id) < traffic else Arm.CONTROL
