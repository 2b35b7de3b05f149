"""A/B tests of model versions: at most one running experiment.

Revision ID: 0005_experiments
Revises: 0004_impressions
Create Date: 2026-12-08
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005_experiments"
down_revision: str | None = "0004_impressions"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

S = "recommender"


def upgrade() -> None:
    op.create_table(
        "experiment",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("candidate_version", sa.BigInteger(), nullable=False),
        sa.Column("control_version", sa.BigInteger(), nullable=False),
        sa.Column("traffic", sa.Float(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.CheckConstraint("traffic > 0 AND traffic < 1", name=op.f("ck_experiment_traffic")),
        sa.ForeignKeyConstraint(
            ["candidate_version"],
            [f"{S}.model_version.id"],
            name=op.f("fk_experiment_candidate_version_model_version"),
        ),
        sa.ForeignKeyConstraint(
            ["control_version"],
            [f"{S}.model_version.id"],
            name=op.f("fk_experiment_control_version_model_version"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_experiment")),
        schema=S,
    )
    op.create_index(
        "uq_experiment_one_running",
        "experiment",
        ["status"],
        unique=True,
        schema=S,
        postgresql_where=sa.text("status = 'running'"),
    )


def downgrade() -> None:
    op.drop_table("experiment", schema=S)
