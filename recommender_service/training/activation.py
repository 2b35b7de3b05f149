"""Whether a newly trained version replaces the active one (DESIGN §4).

Metrics of two runs on two data snapshots are not comparable: newer data makes a harder test
split. So the candidate is judged against the active version on the same rows, the candidate's
own leave-one-out test split (each user's latest interaction among 99 sampled negatives, in raw
ids), restricted to the rows the active version cannot have trained on: pairs with no
interaction stored by its data snapshot. The candidate's ranks there come from its selected
model, which was trained without those rows; the active version's from its served artefact,
ranking as serving does (`ml.heldout.served_ranks`): users and items it never saw count against
it. The rule, on NDCG@10 (`ACTIVATION_TOLERANCE`, default 0.02):

1. No active version: the candidate is activated.
2. Guard: a candidate clearly worse than popularity on its whole test split is kept.
3. The active artefact cannot be loaded, or no test row is newer than its data: activated
   (nothing shows the candidate worse, and it has seen more data).
4. Clearly worse than the active version on the common rows: kept. Otherwise activated; a tie
   goes to the newer data.

"Clearly worse" means below the reference by more than the tolerance AND by more than twice
the standard error of the paired per-row difference, so that a handful of new rows cannot
flip the decision by chance. The decision, its reason and both scores are stored with the
version. An admin's `POST /v1/models/{id}/activate` bypasses this rule and always wins.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from sqlalchemy.ext.asyncio import AsyncSession

from recommender_service.ml.artifact import TrainedModel
from recommender_service.ml.heldout import HeldOut, ranking_metrics, served_ranks
from recommender_service.readmodel import service as readmodel
from recommender_service.registry import service as registry

log = logging.getLogger(__name__)

K = 10
METRIC = f"ndcg@{K}"


@dataclass(frozen=True)
class Decision:
    activated: bool
    reason: str
    against_version: int | None = None
    scores: dict[str, Any] = field(default_factory=dict)

    @property
    def label(self) -> str:
        return "activated" if self.activated else "kept"

    def confirmed(self, active_id: int | None) -> Decision:
        """This decision if the active version is still the one it was judged against."""
        if active_id == self.against_version:
            return self
        return Decision(
            False,
            f"version {active_id} became active while this run was judged (an admin's choice wins)",
            self.against_version,
            self.scores,
        )


def clearly_worse(candidate: np.ndarray, reference: np.ndarray, tolerance: float) -> bool:
    """Per-row NDCG gains, paired: worse by more than `tolerance` and than 2 standard errors."""
    diff = _gains(candidate) - _gains(reference)
    if len(diff) == 0:
        return False
    mean = float(diff.mean())
    error = float(diff.std(ddof=1) / np.sqrt(len(diff))) if len(diff) > 1 else 0.0
    return mean < -tolerance and mean + 2 * error < 0


def _gains(ranks: np.ndarray) -> np.ndarray:
    ranks = np.asarray(ranks, dtype=np.float64)
    return np.where(ranks < K, 1.0 / np.log2(ranks + 2.0), 0.0)


def decide(
    *,
    held: HeldOut,
    tolerance: float,
    against: int | None,
    common: np.ndarray | None = None,
    active_ranks: np.ndarray | None = None,
    unscorable: str | None = None,
) -> Decision:
    """The rule of the module docstring. `common`: a row mask of `held` (the rows the active
    version cannot have trained on) and `active_ranks` its ranks on them; `unscorable`: why
    the active version could not be scored."""
    candidate, popularity = (
        ranking_metrics(held.ranks, K),
        ranking_metrics(held.popularity_ranks, K),
    )
    whole = {"rows": len(held), "candidate": candidate, "popularity": popularity}
    scores: dict[str, Any] = {"metric": METRIC, "tolerance": tolerance, "test_split": whole}

    def verdict(activated: bool, reason: str) -> Decision:
        return Decision(activated, reason, against, scores)

    if against is None:
        return verdict(True, "no active version")
    if clearly_worse(held.ranks, held.popularity_ranks, tolerance):
        c, p = candidate[METRIC], popularity[METRIC]
        return verdict(False, f"below popularity on its test split: {METRIC} {c:.4f} vs {p:.4f}")
    if unscorable is not None:
        return verdict(True, f"version {against} cannot be scored ({unscorable})")
    if common is None or active_ranks is None or not common.any():
        return verdict(True, f"no held-out interaction is newer than version {against}'s data")
    rows = held.subset(common)
    scores.update(
        rows=len(rows),
        candidate=ranking_metrics(rows.ranks, K),
        active=ranking_metrics(active_ranks, K),
        popularity=ranking_metrics(rows.popularity_ranks, K),
    )
    figures = (
        f"{METRIC} {scores['candidate'][METRIC]:.4f} vs {scores['active'][METRIC]:.4f} on the "
        f"{len(rows)} held-out interactions newer than its data"
    )
    if clearly_worse(rows.ranks, active_ranks, tolerance):
        return verdict(False, f"clearly worse than version {against}: {figures}")
    return verdict(True, f"not clearly worse than version {against}: {figures}")


async def judge(*, session: AsyncSession, held: HeldOut, tolerance: float) -> Decision:
    """Loads the active version's artefact and applies `decide` on the common rows."""
    active = await registry.get_active(session=session)
    if active is None:
        return decide(held=held, tolerance=tolerance, against=None)
    try:
        blob = await registry.load_artifact(session=session, version_id=active.id)
        model = await asyncio.to_thread(TrainedModel.from_bytes, blob)
    except Exception as exc:  # a corrupt or foreign artefact must not block new versions
        log.warning("activation: version %d cannot be loaded (%s)", active.id, exc)
        return decide(held=held, tolerance=tolerance, against=active.id, unscorable=str(exc))
    if active.data_snapshot_at is None:  # a version from before snapshots were recorded
        common = np.zeros(len(held), dtype=bool)
    else:
        common = ~await readmodel.pairs_stored_by(
            session, at=active.data_snapshot_at, user_ids=held.user_ids, item_ids=held.items
        )
    active_ranks = await asyncio.to_thread(served_ranks, model, held.subset(common))
    return decide(
        held=held, tolerance=tolerance, against=active.id, common=common, active_ranks=active_ranks
    )
