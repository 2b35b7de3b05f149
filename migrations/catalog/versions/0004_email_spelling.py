"""Emails in their one spelling: NFC, trimmed, case-folded (shared.text.fold_email).

Accounts were unique on the lower-cased address only, so NFC and NFD spellings of one address
could be two accounts, and logins now look addresses up by the folded spelling. Rows whose
folded spelling is already taken by another account keep theirs (logged): merging two accounts
is a decision for an admin, not for a migration.

Revision ID: 0004_email_spelling
Revises: 0003_evaluations_comments
Create Date: 2026-12-02
"""

import logging
import unicodedata
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004_email_spelling"
down_revision: str | None = "0003_evaluations_comments"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

logger = logging.getLogger("alembic.runtime.migration")


def _folded(email: str) -> str:
    # Frozen copy of the rule at this revision (the application's may evolve).
    return unicodedata.normalize("NFC", email).strip(" \t\n\r").casefold()


def upgrade() -> None:
    bind = op.get_bind()
    rows = bind.execute(sa.text('SELECT id, email FROM catalog."user" ORDER BY id')).all()
    taken = {email for _id, email in rows}
    for user_id, email in rows:
        folded = _folded(email)
        if folded == email:
            continue
        if folded in taken:
            logger.warning("user %s keeps %r: %r is another account's", user_id, email, folded)
            continue
        bind.execute(
            sa.text('UPDATE catalog."user" SET email = :email WHERE id = :id'),
            {"email": folded, "id": user_id},
        )
        taken.discard(email)
        taken.add(folded)


def downgrade() -> None:
    # The folded spelling is as valid an address as the one it replaced: nothing to undo.
    pass
