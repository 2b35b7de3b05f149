"""The model registry: versions, their artefacts, per-epoch training logs.

Revision ID: 0002_model_registry
Revises: 0001_read_model
Create Date: 2026-11-26
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0002_model_registry"
down_revision: str | None = "0001_read_model"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

S = "recommender"
JSON = postgresql.JSONB(astext_type=sa.Text())


def upgrade() -> None:
    op.create_table(
        "model_version",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("activated_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("algorithm", sa.String(length=32), nullable=False),
        sa.Column("hyperparameters", JSON, nullable=False),
        sa.Column("trigger", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("data_snapshot_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("n_users", sa.Integer(), nullable=True),
        sa.Column("n_items", sa.Integer(), nullable=True),
        sa.Column("n_interactions", sa.Integer(), nullable=True),
        sa.Column("metrics", JSON, nullable=False),
        sa.Column("train_seconds", sa.Float(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_model_version")),
        schema=S,
    )
    op.create_index(
        "uq_model_version_one_active",
        "model_version",
        ["status"],
        unique=True,
        schema=S,
        postgresql_where=sa.text("status = 'active'"),
    )
    op.create_table(
        "model_artifact",
        sa.Column("version_id", sa.BigInteger(), nullable=False),
        sa.Column("blob", sa.LargeBinary(), nullable=False),
        sa.Column("size_bytes", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["version_id"],
            [f"{S}.model_version.id"],
            name=op.f("fk_model_artifact_version_id_model_version"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("version_id", name=op.f("pk_model_artifact")),
        schema=S,
    )
    op.create_table(
        "training_epoch",
        sa.Column("version_id", sa.BigInteger(), nullable=False),
        sa.Column("stage", sa.String(length=16), nullable=False),
        sa.Column("epoch", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("loss", sa.Float(), nullable=True),
        sa.Column("metrics", JSON, nullable=False),
        sa.Column(
            "logged_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.ForeignKeyConstraint(
            ["version_id"],
            [f"{S}.model_version.id"],
            name=op.f("fk_training_epoch_version_id_model_version"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("version_id", "stage", "epoch", name=op.f("pk_training_epoch")),
        schema=S,
    )


def downgrade() -> None:
    op.drop_table("training_epoch", schema=S)
    op.drop_table("model_artifact", schema=S)
    op.drop_index("uq_model_version_one_active", table_name="model_version", schema=S)
    op.drop_table("model_version", schema=S)
