"""`train --distributed`: one training run across the processes torchrun starts.

Rank 0 owns the run exactly as a one-process `train` does: it syncs the read model, reaps
abandoned runs, takes the lease, records the version, reads the snapshot, writes the per-epoch
progress, evaluates, stores the artefact, judges the activation and plots. The one difference
is its `Crew.fit`, which first broadcasts the snapshot and the run's configuration to the other
ranks. Those (`follow`) touch neither PostgreSQL nor Redis: they run the same `pipeline.fit` on
that job (the same splits and stages, so they reach the same trainings in the same order), take
their share of every SGD epoch (ml/distributed.py), and drop their copy of the model. When rank
0 trains nothing (`--if-missing` with a version active, a run already in progress, too little
data, an error before fitting), `Crew.dismiss` tells them so and they exit 0.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from recommender_service.ml import distributed
from recommender_service.ml.artifact import TrainedModel
from recommender_service.ml.config import TrainConfig
from recommender_service.ml.data import InteractionData
from recommender_service.ml.features import SideInfo
from recommender_service.ml.pipeline import fit


@dataclass(frozen=True)
class Job:
    """What every rank fits: rank 0's snapshot of the read model and the run's configuration."""

    data: InteractionData
    config: TrainConfig
    item_pool: np.ndarray | None
    side: SideInfo | None = None  # neumf_features' metadata


class Crew:
    """Rank 0's side: the job goes to the other ranks once, or word that there is none."""

    def __init__(self) -> None:
        self.sent = False

    def fit(
        self, data: InteractionData, config: TrainConfig, *, item_pool: np.ndarray | None = None,
        side: SideInfo | None = None, **kwargs: Any,
    ) -> TrainedModel:  # fmt: skip
        """`pipeline.fit`, after the other ranks have the same arguments."""
        self._send(Job(data, config, item_pool, side))
        return fit(data, config, item_pool=item_pool, side=side, **kwargs)

    def dismiss(self) -> None:
        """Releases the other ranks if no job was sent (they wait for one otherwise)."""
        if not self.sent:
            self._send(None)

    def _send(self, job: Job | None) -> None:
        self.sent = True
        distributed.from_leader(lambda: job)


def follow(*, threads: int) -> int:
    """A rank other than 0: receive the job, fit it alongside rank 0, keep nothing."""
    me = f"rank {distributed.rank()} of {distributed.world_size()}"
    job: Job | None = distributed.from_leader(lambda: None)  # rank 0's, not this None
    if job is None:
        print(f"{me}: rank 0 started no run; nothing to train", flush=True)
        return 0
    # Each machine's own core count; the device kind is the run's (this rank's GPU, if any).
    fit(job.data, replace(job.config, threads=threads), item_pool=job.item_pool, side=job.side)
    print(
        f"{me}: trained its share of {len(job.data)} pairs ({job.config.model}); "
        "rank 0 registers the version",
        flush=True,
    )
    return 0
