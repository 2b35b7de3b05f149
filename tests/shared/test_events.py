"""The event contract: what the catalog writes, the recommender reads back unchanged."""

from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared.enums import EpreuveType, Filiere, InteractionKind, Niveau
from shared.events import (
    EpreuveUpserted,
    Event,
    EventType,
    InteractionCreated,
    InvalidEvent,
)


def test_event_of_payload_infers_its_type() -> None:
    payload = EpreuveUpserted(
        id=3, title="Analyse 2", matiere="Analyse", filiere=Filiere.MATH,
        niveau=Niveau.L2, type=EpreuveType.PARTIEL, annee=2024,
    )  # fmt: skip
    assert Event.of(payload).type is EventType.EPREUVE_UPSERTED


@given(
    user_id=st.integers(min_value=1, max_value=2**62),
    epreuve_id=st.integers(min_value=1, max_value=2**62),
    kind=st.sampled_from(InteractionKind),
    relevance=st.none() | st.integers(min_value=1, max_value=5),
)
def test_stream_fields_round_trip(
    user_id: int, epreuve_id: int, kind: InteractionKind, relevance: int | None
) -> None:
    payload = InteractionCreated(
        id=1, user_id=user_id, epreuve_id=epreuve_id, kind=kind,
        created_at=datetime(2025, 3, 1, 12, tzinfo=UTC), relevance=relevance,
    )  # fmt: skip
    event = Event.of(payload)
    fields = {k.encode(): v.encode() for k, v in event.to_fields().items()}
    back = Event.from_fields(fields)
    assert back == event
    assert back.parsed() == payload


@pytest.mark.parametrize(
    "fields",
    [
        {},
        {"event_id": "not-a-uuid", "type": "user.upserted", "occurred_at": "2025-01-01T00:00:00Z",
         "payload": "{}"},
        {"event_id": "7d4e1f0c-52a4-4c39-8f43-7c0a6a3f8c11", "type": "nope",
         "occurred_at": "2025-01-01T00:00:00Z", "payload": "{}"},
        {"event_id": "7d4e1f0c-52a4-4c39-8f43-7c0a6a3f8c11", "type": "user.upserted",
         "occurred_at": "2025-01-01T00:00:00", "payload": "{\"id\": 1}"},
        {"event_id": "7d4e1f0c-52a4-4c39-8f43-7c0a6a3f8c11", "type": "user.upserted",
         "occurred_at": "2025-01-01T00:00:00Z", "payload": "{not json"},
    ],
)  # fmt: skip
def test_malformed_entries_are_invalid_events(fields: dict[str, str]) -> None:
    with pytest.raises(InvalidEvent):
        Event.from_fields(fields)


def test_payload_that_breaks_its_model_is_an_invalid_event() -> None:
    event = Event(type=EventType.INTERACTION_CREATED, payload={"id": 1, "kind": "TELEPORT"})
    with pytest.raises(InvalidEvent):
        event.parsed()
