"""An index on interaction (user_id, epreuve_id): whether a user used an épreuve, in one probe.

Every recommendation miss with `exclude_seen` (the default) asks it for each listed épreuve;
with only (user_id, created_at) and (epreuve_id), each probe read the user's whole history, a
cost that grew with every interaction. Built concurrently, outside the migration's
transaction, so that writes go on during the build on a large table; an index left invalid
by an interrupted build is dropped and rebuilt when the migration runs again.

Revision ID: 0007_interaction_user_epreuve
Revises: 0006_impressions
Create Date: 2026-12-03
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0007_interaction_user_epreuve"
down_revision: str | None = "0006_impressions"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

S = "catalog"
NAME = "ix_interaction_user_id_epreuve_id"


def upgrade() -> None:
    with op.get_context().autocommit_block():
        op.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {S}.{NAME}")
        op.create_index(
            NAME, "interaction", ["user_id", "epreuve_id"], schema=S,
            postgresql_concurrently=True,
        )  # fmt: skip


def downgrade() -> None:
    with op.get_context().autocommit_block():
        op.drop_index(NAME, "interaction", schema=S, postgresql_concurrently=True)
