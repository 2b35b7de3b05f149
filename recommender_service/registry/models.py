"""Model versions, their artefacts (a separate table so listing versions loads no blob), and the
per-epoch log of each training run."""

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from recommender_service.db import Base


class VersionStatus(StrEnum):
    TRAINING = "training"
    READY = "ready"
    ACTIVE = "active"
    FAILED = "failed"
    ARCHIVED = "archived"


class ModelVersion(Base):
    __tablename__ = "model_version"
    __table_args__ = (
        # At most one active version, enforced by the database itself.
        Index(
            "uq_model_version_one_active",
            "status",
            unique=True,
            postgresql_where=text("status = 'active'"),
        ),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    activated_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    algorithm: Mapped[str] = mapped_column(String(32))
    hyperparameters: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)
    trigger: Mapped[str] = mapped_column(String(16), default="cli")
    status: Mapped[str] = mapped_column(String(16), default=VersionStatus.TRAINING.value)
    # The data snapshot: interactions ingested up to this time were in the training set.
    data_snapshot_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    n_users: Mapped[int | None] = mapped_column(Integer)
    n_items: Mapped[int | None] = mapped_column(Integer)
    n_interactions: Mapped[int | None] = mapped_column(Integer)
    metrics: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)
    train_seconds: Mapped[float | None] = mapped_column(Float)
    error: Mapped[str | None] = mapped_column(Text)
    # The automatic activation decision (training/activation.py): activated | kept, why, and
    # both versions' scores on their common held-out data.
    decision: Mapped[str | None] = mapped_column(String(16))
    decision_reason: Mapped[str | None] = mapped_column(Text)
    decision_scores: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    # The run's lease (training/lease.py): owner "host:pid", its Redis lock token, heartbeat.
    owner: Mapped[str | None] = mapped_column(String(255))
    lease_token: Mapped[str | None] = mapped_column(String(64))
    heartbeat_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class ModelArtifact(Base):
    __tablename__ = "model_artifact"

    version_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("model_version.id", ondelete="CASCADE"), primary_key=True
    )
    blob: Mapped[bytes] = mapped_column(LargeBinary)
    size_bytes: Mapped[int] = mapped_column(Integer)


class TrainingEpoch(Base):
    """One line of a run's log, written as the epoch ends (progress is visible while training)."""

    __tablename__ = "training_epoch"

    version_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("model_version.id", ondelete="CASCADE"), primary_key=True
    )
    # "select" (early-stopped on validation), then "refit" (on every interaction).
    stage: Mapped[str] = mapped_column(String(16), primary_key=True, default="train")
    epoch: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    loss: Mapped[float | None] = mapped_column(Float)
    metrics: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)
    logged_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class ExperimentStatus(StrEnum):
    RUNNING = "running"
    PROMOTED = "promoted"  # the candidate became the active version
    STOPPED = "stopped"


class Experiment(Base):
    """An A/B test: the candidate version served to `traffic` of the users (registry.
    experiments), the active version to the others."""

    __tablename__ = "experiment"
    __table_args__ = (
        # At most one running experiment, enforced by the database itself.
        Index(
            "uq_experiment_one_running",
            "status",
            unique=True,
            postgresql_where=text("status = 'running'"),
        ),
        CheckConstraint("traffic > 0 AND traffic < 1", name="traffic"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    ended_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    candidate_version: Mapped[int] = mapped_column(BigInteger, ForeignKey("model_version.id"))
    # The active version when it started (the control arm serves the active version).
    control_version: Mapped[int] = mapped_column(BigInteger, ForeignKey("model_version.id"))
    traffic: Mapped[float] = mapped_column(Float)
    status: Mapped[str] = mapped_column(String(16), default=ExperimentStatus.RUNNING.value)
