"""Model versions record their activation decision and the lease of the run that trains them.

Revision ID: 0003_activation_and_lease
Revises: 0002_model_registry
Create Date: 2026-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0003_activation_and_lease"
down_revision: str | None = "0002_model_registry"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

S = "recommender"
COLUMNS = (
    # activated | kept, why, and the scores of both versions on their common held-out data.
    ("decision", sa.String(length=16)),
    ("decision_reason", sa.Text()),
    ("decision_scores", postgresql.JSONB(astext_type=sa.Text())),
    # The run's lease: who trains it, the token of its Redis lock, its last heartbeat.
    ("owner", sa.String(length=255)),
    ("lease_token", sa.String(length=64)),
    ("heartbeat_at", sa.DateTime(timezone=True)),
)


def upgrade() -> None:
    for name, type_ in COLUMNS:
        op.add_column("model_version", sa.Column(name, type_, nullable=True), schema=S)


def downgrade() -> None:
    for name, _ in reversed(COLUMNS):
        op.drop_column("model_version", name, schema=S)
