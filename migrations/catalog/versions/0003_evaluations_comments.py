"""Evaluations (one rating per user and épreuve) and comments.

Revision ID: 0003_evaluations_comments
Revises: 0002_core
Create Date: 2026-11-26
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003_evaluations_comments"
down_revision: str | None = "0002_core"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

S = "catalog"


def _at(name: str) -> sa.Column[object]:
    return sa.Column(name, sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False)


def _references(table: str, column: str, target: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        [column],
        [f"{S}.{target}.id"],
        name=op.f(f"fk_{table}_{column}_{target}"),
        ondelete="CASCADE",
    )


def upgrade() -> None:
    op.create_table(
        "evaluation",
        sa.Column("id", sa.BigInteger(), sa.Identity(), nullable=False),
        sa.Column("user_id", sa.BigInteger(), nullable=False),
        sa.Column("epreuve_id", sa.BigInteger(), nullable=False),
        sa.Column("difficulty", sa.SmallInteger(), nullable=False),
        sa.Column("relevance", sa.SmallInteger(), nullable=False),
        _at("created_at"),
        _at("updated_at"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_evaluation")),
        _references("evaluation", "user_id", "user"),
        _references("evaluation", "epreuve_id", "epreuve"),
        sa.UniqueConstraint("user_id", "epreuve_id", name=op.f("uq_evaluation_user_id_epreuve_id")),
        sa.CheckConstraint(
            "difficulty BETWEEN 1 AND 5", name=op.f("ck_evaluation_difficulty_range")
        ),
        sa.CheckConstraint("relevance BETWEEN 1 AND 5", name=op.f("ck_evaluation_relevance_range")),
        schema=S,
    )
    op.create_index("ix_evaluation_epreuve_id", "evaluation", ["epreuve_id"], schema=S)

    op.create_table(
        "comment",
        sa.Column("id", sa.BigInteger(), sa.Identity(), nullable=False),
        sa.Column("epreuve_id", sa.BigInteger(), nullable=False),
        sa.Column("author_id", sa.BigInteger(), nullable=False),
        sa.Column("content", sa.Text(), nullable=False),
        _at("created_at"),
        _at("updated_at"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_comment")),
        _references("comment", "epreuve_id", "epreuve"),
        _references("comment", "author_id", "user"),
        sa.CheckConstraint(
            "char_length(content) BETWEEN 1 AND 2000", name=op.f("ck_comment_content_length")
        ),
        schema=S,
    )
    op.create_index(
        "ix_comment_epreuve_id_created_at", "comment", ["epreuve_id", "created_at"], schema=S
    )
    op.create_index("ix_comment_author_id", "comment", ["author_id"], schema=S)


def downgrade() -> None:
    op.drop_table("comment", schema=S)
    op.drop_table("evaluation", schema=S)
