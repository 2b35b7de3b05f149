"""Domain events published by the catalog on one Redis stream and consumed by the recommender.

A stream entry is a flat map of strings: `event_id`, `type`, `occurred_at`, `schema_version`
and `payload` (JSON text). `Event.to_fields` / `Event.fields_of` / `Event.from_fields` are
the only (de)serialisers, so both sides agree on the entry's shape. The outbox relay passes each
row's payload on as PostgreSQL's text of it (`fields_of`): decoding and encoding it again would
cost the catalog CPU for the same JSON value.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from shared.enums import Arm, EpreuveType, Filiere, InteractionKind, Niveau, Role, Surface

DEFAULT_STREAM = "catalog.events"
CONSUMER_GROUP = "recommender"
SCHEMA_VERSION = 1


class EventType(StrEnum):
    USER_UPSERTED = "user.upserted"
    USER_DELETED = "user.deleted"
    EPREUVE_UPSERTED = "epreuve.upserted"
    EPREUVE_DELETED = "epreuve.deleted"
    INTERACTION_CREATED = "interaction.created"
    EVALUATION_UPSERTED = "evaluation.upserted"
    IMPRESSIONS_RECORDED = "impressions.recorded"


class Payload(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")


class UserUpserted(Payload):
    id: int
    niveau: Niveau | None = None
    filiere: Filiere | None = None
    role: Role = Role.STUDENT
    is_active: bool = True


class UserDeleted(Payload):
    id: int


class EpreuveUpserted(Payload):
    id: int
    title: str
    matiere: str
    filiere: Filiere
    niveau: Niveau
    type: EpreuveType
    annee: int
    is_active: bool = True


class EpreuveDeleted(Payload):
    id: int


class InteractionCreated(Payload):
    id: int
    user_id: int
    epreuve_id: int
    kind: InteractionKind
    created_at: datetime
    # Relevance (1-5) for RATE interactions, when the client sent one.
    relevance: int | None = None


class EvaluationUpserted(Payload):
    user_id: int
    epreuve_id: int
    difficulty: int = Field(ge=1, le=5)
    relevance: int = Field(ge=1, le=5)
    updated_at: datetime


# Who made a list the catalog showed: the recommender, or the catalog's own last resort.
ListSource = Literal["recommender", "fallback"]


class ImpressionRecorded(Payload):
    """A recommendation list as the catalog showed it to a user: `item_ids[p - 1]` was at
    position p. Interactions that name its `id` (their `recommendation_id`) are attributed to
    it; the recommender counts what each user was shown (rotation). Published in batches
    (`ImpressionsRecorded`)."""

    id: uuid.UUID = Field(description="The list's recommendation_id")
    user_id: int
    surface: Surface
    anchor_id: int | None = Field(default=None, description="The épreuve a similar list is about")
    item_ids: list[int] = Field(max_length=100)
    source: ListSource
    model_version: int | None = None
    strategy: str | None = Field(
        default=None, max_length=32, description="The fallback that answered; None: the model"
    )
    arm: Arm | None = Field(default=None, description="Its A/B arm; None when none ran")
    experiment_id: int | None = None
    shown_at: datetime


class ImpressionsRecorded(Payload):
    """The lists one flush of the catalog's impression log wrote: one event for them all, so
    that a list shown costs a row, not an event (outbox row, stream entry, consumer pass)."""

    lists: list[ImpressionRecorded] = Field(max_length=10_000)


PAYLOADS: dict[EventType, type[Payload]] = {
    EventType.USER_UPSERTED: UserUpserted,
    EventType.USER_DELETED: UserDeleted,
    EventType.EPREUVE_UPSERTED: EpreuveUpserted,
    EventType.EPREUVE_DELETED: EpreuveDeleted,
    EventType.INTERACTION_CREATED: InteractionCreated,
    EventType.EVALUATION_UPSERTED: EvaluationUpserted,
    EventType.IMPRESSIONS_RECORDED: ImpressionsRecorded,
}
_TYPES: dict[type[Payload], EventType] = {model: t for t, model in PAYLOADS.items()}


def event_type(payload: Payload) -> EventType:
    """The event type a typed payload is published as (its class decides)."""
    return _TYPES[type(payload)]


class InvalidEvent(ValueError):
    """A stream entry that does not follow this contract (to be dead-lettered, not retried)."""


class Event(BaseModel):
    model_config = ConfigDict(frozen=True)

    event_id: uuid.UUID = Field(default_factory=uuid.uuid4)
    type: EventType
    occurred_at: datetime = Field(default_factory=lambda: datetime.now(UTC))
    schema_version: int = SCHEMA_VERSION
    payload: dict[str, Any]

    @classmethod
    def of(cls, payload: Payload, *, occurred_at: datetime | None = None) -> Event:
        """Builds the event for a typed payload (its type follows from the payload's class)."""
        extra = {"occurred_at": occurred_at} if occurred_at else {}
        return cls(type=event_type(payload), payload=payload.model_dump(mode="json"), **extra)

    def parsed(self) -> Payload:
        """The payload validated against its type's model."""
        try:
            return PAYLOADS[self.type].model_validate(self.payload)
        except ValidationError as exc:
            raise InvalidEvent(f"{self.type} payload: {exc}") from exc

    def to_fields(self) -> dict[str, str]:
        payload = json.dumps(self.payload, separators=(",", ":"), sort_keys=True)
        return self.fields_of(
            self.event_id, self.type, self.occurred_at, self.schema_version, payload
        )

    @staticmethod
    def fields_of(
        event_id: uuid.UUID | str,
        type: str,
        occurred_at: datetime,
        schema_version: int,
        payload_json: str,
    ) -> dict[str, str]:
        """The stream entry of an event whose payload is already JSON text."""
        return {
            "event_id": str(event_id),
            "type": str(type),
            "occurred_at": occurred_at.astimezone(UTC).isoformat(),
            "schema_version": str(schema_version),
            "payload": payload_json,
        }

    @classmethod
    def from_fields(cls, fields: dict[str, str] | dict[bytes, bytes]) -> Event:
        decoded = {
            (k.decode() if isinstance(k, bytes) else k): (v.decode() if isinstance(v, bytes) else v)
            for k, v in fields.items()
        }
        try:
            payload = json.loads(decoded["payload"])
            event = cls(
                event_id=decoded["event_id"],
                type=decoded["type"],
                occurred_at=decoded["occurred_at"],
                schema_version=int(decoded.get("schema_version", SCHEMA_VERSION)),
                payload=payload,
            )
        except (KeyError, ValueError, TypeError, ValidationError) as exc:
            raise InvalidEvent(f"malformed stream entry: {exc}") from exc
        if event.occurred_at.tzinfo is None:
            raise InvalidEvent("occurred_at must carry a time zone")
        return event
