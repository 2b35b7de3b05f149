"""The activation decision (training/activation.py): a new version is judged against the active
one on the held-out rows they share, and replaces it unless clearly worse."""

from __future__ import annotations

import asyncio

import httpx
import numpy as np
import pytest
import redis.asyncio as aioredis
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from recommender_service.config import Settings
from recommender_service.ml.artifact import TrainedModel
from recommender_service.ml.heldout import HeldOut, ranking_metrics, served_ranks
from recommender_service.registry import service as registry
from recommender_service.training.activation import Decision, decide, judge
from tests.recommender.conftest import ReadModel, load_synthetic, train_version
from tests.recommender.synthetic import FILIERES, SyntheticData, generate

MISS = 100
NOT_WORSE = "not clearly worse than version 1: ndcg@10"


def _held(ranks: list[int], popularity: list[int] | None = None) -> HeldOut:
    n = len(ranks)
    return HeldOut(
        user_ids=np.arange(n, dtype=np.int64),
        candidates=np.zeros((n, MISS), dtype=np.int64),
        ranks=np.asarray(ranks),
        popularity_ranks=np.asarray(popularity if popularity is not None else [MISS] * n),
    )


def _decide(candidate: list[int], active: list[int], **kw: object) -> Decision:
    held = _held(candidate, **kw)  # type: ignore[arg-type]
    common = np.ones(len(candidate), dtype=bool)
    return decide(
        held=held, tolerance=0.02, against=1, common=common, active_ranks=np.asarray(active)
    )


@pytest.mark.parametrize(
    ("candidate", "active", "expected"),
    [
        ([MISS] * 30, [0] * 30, "kept: clearly worse than version 1: ndcg@10 0.0000 vs 1.0000"),
        ([0] * 30, [0] * 30, f"activated: {NOT_WORSE} 1.0000 vs 1.0000"),
        ([0] * 30, [MISS] * 30, f"activated: {NOT_WORSE} 1.0000 vs 0.0000"),
    ],
    ids=["worse", "equal", "better"],
)  # fmt: skip
def test_a_second_version_is_kept_only_when_clearly_worse_on_the_common_rows(
    candidate: list[int], active: list[int], expected: str
) -> None:
    decision = _decide(candidate, active)
    suffix = " on the 30 held-out interactions newer than its data"
    assert f"{decision.label}: {decision.reason}" == expected + suffix
    assert decision.against_version == 1
    assert decision.scores["rows"] == 30
    assert decision.scores["candidate"] == ranking_metrics(np.asarray(candidate), 10)
    assert decision.scores["active"] == ranking_metrics(np.asarray(active), 10)
    assert decision.scores["test_split"]["rows"] == 30


def test_worse_within_the_tolerance_or_on_too_few_rows_is_not_clearly_worse() -> None:
    # NDCG 1 → 0.9877 on average: 0.012 below, inside the 0.02 tolerance.
    assert _decide([0] * 29 + [1], [0] * 30).activated is True
    # 0.33 below, but one row in three: within two standard errors of no difference.
    assert _decide([MISS, 0, 0], [0, 0, 0]).activated is True
    assert _decide([MISS] * 6, [0] * 6).activated is False


def test_the_first_version_is_activated_and_one_below_popularity_is_kept() -> None:
    first = decide(held=_held([MISS] * 30), tolerance=0.02, against=None)
    assert (first.label, first.reason) == ("activated", "no active version")
    below = _decide([MISS] * 30, [MISS] * 30, popularity=[0] * 30)
    assert (below.label, below.reason) == (
        "kept",
        "below popularity on its test split: ndcg@10 0.0000 vs 1.0000",
    )


def test_without_rows_newer_than_the_active_data_or_a_loadable_artefact_it_is_activated() -> None:
    held = _held([3] * 30)
    none_new = decide(
        held=held, tolerance=0.02, against=4, common=np.zeros(30, bool), active_ranks=np.zeros(0)
    )
    assert (none_new.label, none_new.reason) == (
        "activated",
        "no held-out interaction is newer than version 4's data",
    )
    broken = decide(held=held, tolerance=0.02, against=4, unscorable="bad artefact")
    assert (broken.label, broken.reason) == (
        "activated",
        "version 4 cannot be scored (bad artefact)",
    )


def test_a_decision_is_kept_when_another_version_became_active_meanwhile() -> None:
    decision = _decide([0] * 30, [MISS] * 30)
    assert decision.confirmed(1) is decision
    changed = decision.confirmed(7)
    assert (changed.label, changed.reason) == (
        "kept",
        "version 7 became active while this run was judged (an admin's choice wins)",
    )


async def test_the_active_artefact_is_judged_on_the_rows_newer_than_its_data(
    settings: Settings,
    sessionmaker: async_sessionmaker[AsyncSession],
    redis: aioredis.Redis,
    read_model: ReadModel,
) -> None:
    data = generate(30, 40, 400, seed=2)
    await load_synthetic(sessionmaker, data)
    v1 = await train_version(settings, sessionmaker, redis)
    # After v1's snapshot: a new pair for each of 20 known users, and 3 students it never saw.
    items = data.all_item_ids
    new_rows: list[tuple[int, int]] = []
    for user_id in data.all_user_ids[:20]:
        unseen = np.setdiff1d(items, data.item_ids[data.user_ids == user_id])
        new_rows.append((int(user_id), int(unseen[0])))
    new_rows += [(900_000 + n, int(items[n])) for n in range(3)]
    for user_id, item_id in new_rows:
        await read_model.interaction(user_id, item_id, days_ago=0.01)
    old_user = int(data.user_ids[0])
    old_row = (old_user, int(data.item_ids[0]))  # stored before v1's snapshot: v1 trained on it
    rows = [old_row, *new_rows]
    candidates = np.array([[i, *items[items != i]] for _, i in rows])
    async with sessionmaker() as session:
        blob = await registry.load_artifact(session=session, version_id=v1.version_id)
    active_model = TrainedModel.from_bytes(blob)
    users = np.array([u for u, _ in rows])
    probe = HeldOut(users, candidates, np.zeros(len(rows), np.int64), np.full(len(rows), MISS))
    active_ranks = served_ranks(active_model, probe)
    assert (active_ranks[-3:] == candidates.shape[1]).all()  # unknown users: misses

    for label, candidate_ranks in (("equal", active_ranks), ("better", np.zeros(len(rows)))):
        held = HeldOut(users, candidates, np.asarray(candidate_ranks), np.full(len(rows), MISS))
        async with sessionmaker() as session:
            decision = await judge(session=session, held=held, tolerance=0.02)
        assert decision.activated is True, label
        assert decision.against_version == v1.version_id
        assert decision.scores["rows"] == len(new_rows)  # the old pair is left out
        assert decision.scores["active"] == ranking_metrics(active_ranks[1:], 10)
        assert decision.scores["candidate"] == ranking_metrics(held.ranks[1:], 10)


async def test_a_worse_second_run_is_kept_and_an_admin_activation_still_wins(
    settings: Settings,
    sessionmaker: async_sessionmaker[AsyncSession],
    redis: aioredis.Redis,
    read_model: ReadModel,
    client: httpx.AsyncClient,
) -> None:
    data = generate(80, 120, 4000, seed=3)  # enough items that ranking at random misses
    await load_synthetic(sessionmaker, data)
    settings = settings.model_copy(update={"train_embedding_dim": 16})
    first = await train_version(settings, sessionmaker, redis, epochs=10)
    for n, user_id in enumerate(data.all_user_ids[:30]):
        await read_model.interaction(int(user_id), int(data.all_item_ids[n]), days_ago=0.01)
    # One epoch at a learning rate that leaves the weights where they started: random ranks.
    second = await train_version(settings, sessionmaker, redis, epochs=1, lr=1e-7)
    assert second.decision.label == "kept"
    assert second.decision.reason.startswith("below popularity on its test split: ndcg@10 ")
    listing = {v["id"]: v for v in (await client.get("/v1/models")).json()["items"]}
    assert (listing[first.version_id]["status"], listing[first.version_id]["decision"]) == (
        "active",
        "activated",
    )
    assert listing[first.version_id]["decision_reason"] == "no active version"
    kept = listing[second.version_id]
    assert (kept["status"], kept["decision"]) == ("ready", "kept")
    assert kept["decision_reason"] == second.decision.reason
    assert kept["decision_scores"]["test_split"]["candidate"] == {
        "hr@10": second.metrics["hr@10"],
        "ndcg@10": second.metrics["ndcg@10"],
    }
    status = (await client.get("/v1/model")).json()
    assert (status["active"]["id"], status["latest_trained"]["id"]) == (
        first.version_id,
        second.version_id,
    )
    assert status["latest_trained"]["decision"] == "kept"

    forced = await client.post(f"/v1/models/{second.version_id}/activate")
    assert forced.status_code == 200
    assert (forced.json()["status"], forced.json()["decision"]) == ("active", "activated")
    assert forced.json()["decision_reason"] == (
        f"activated by an admin (automatic decision: kept, {second.decision.reason})"
    )
    assert (await client.get("/v1/model")).json()["active"]["id"] == second.version_id


def _planted_newcomers(data: SyntheticData, rng: np.random.Generator) -> dict[int, list[int]]:
    """40 new students, 10 per filière, each downloading 4 papers of their own filière (some
    of them new papers too)."""
    by_filiere = {f: [i for i, fil in data.item_filiere.items() if fil == f] for f in FILIERES}
    choices = {}
    for n in range(40):
        filiere = FILIERES[n % len(FILIERES)]
        choices[900_000 + n] = [int(i) for i in rng.choice(by_filiere[filiere], 4, replace=False)]
    return choices


@pytest.mark.slow
async def test_new_students_with_planted_behaviour_get_a_new_version_that_knows_them(
    settings: Settings,
    sessionmaker: async_sessionmaker[AsyncSession],
    redis: aioredis.Redis,
    read_model: ReadModel,
    client: httpx.AsyncClient,
) -> None:
    data = generate(200, 150, 15_000, seed=5)
    await load_synthetic(sessionmaker, data)
    # As served in production: the selected model is refit on every interaction, so it learns
    # each newcomer's four downloads, not the two that model selection trains on.
    settings = settings.model_copy(
        update={
            "train_epochs": 15, "train_embedding_dim": None, "train_batch_size": None,
            "train_refit_full": True,
        }
    )  # fmt: skip
    first = await train_version(settings, sessionmaker, redis, seed=7)
    # New papers (two per filière) and new students with planted behaviour arrive.
    for n in range(8):
        item_id = 7000 + n
        data.item_filiere[item_id] = FILIERES[n % len(FILIERES)]
        await read_model.item(item_id, filiere=FILIERES[n % len(FILIERES)], niveau="L1")
    newcomers = _planted_newcomers(data, np.random.default_rng(11))
    for user_id, items in newcomers.items():
        filiere = data.item_filiere[items[0]]
        await read_model.user(user_id, niveau="L1", filiere=filiere)
        for j, item_id in enumerate(items):
            await read_model.interaction(user_id, item_id, days_ago=0.01 * (4 - j))
    second = await train_version(settings, sessionmaker, redis, seed=7)

    assert second.decision.label == "activated"
    assert second.decision.against_version == first.version_id
    assert second.decision.scores["rows"] == 40  # the newcomers' held-out downloads
    assert second.decision.scores["active"] == {"hr@10": 0.0, "ndcg@10": 0.0}  # never saw them
    assert second.decision.scores["candidate"]["ndcg@10"] > 0.0
    shares = []
    for user_id, items in newcomers.items():
        body = await _served_by(client, user_id, second.version_id)
        own = data.item_filiere[items[0]]
        shares.append(np.mean([item["filiere"] == own for item in body["items"]]))
    assert float(np.mean(shares)) >= 0.6


async def _served_by(client: httpx.AsyncClient, user_id: int, version_id: int) -> dict:
    for _ in range(200):
        body = (await client.get(f"/v1/users/{user_id}/recommendations", params={"k": 10})).json()
        if body["model_version"] == version_id:
            assert body["fallback"] is None
            return body
        await asyncio.sleep(0.05)
    raise AssertionError(f"user {user_id} never served by version {version_id}: {body}")
