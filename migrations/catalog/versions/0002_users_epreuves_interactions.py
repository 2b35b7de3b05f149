"""Users, épreuves and interactions.

Enumerations are VARCHAR + CHECK (easy to extend, nothing to drop but the tables). Free-text
search uses a pg_trgm GIN index when the server ships the extension (the docker image does; the
embedded pgserver does not, where ILIKE scans instead).

Revision ID: 0002_core
Revises: 0001_outbox
Create Date: 2026-11-26
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0002_core"
down_revision: str | None = "0001_outbox"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

S = "catalog"
NIVEAUX = ("L1", "L2", "L3", "M1", "M2")
FILIERES = ("MATH", "INFO", "PHYSIQUE", "CHIMIE")
TYPES = ("PARTIEL", "EXAMEN", "TD", "CC", "RATTRAPAGE")
KINDS = ("VIEW", "DOWNLOAD", "CLICK", "RATE")
ROLES = ("student", "teacher", "admin")
# Must match catalog_service.epreuves.service.SEARCH_TEXT.
SEARCH_EXPR = "(title || ' ' || matiere || ' ' || description)"


def _in(column: str, values: tuple[str, ...], nullable: bool = False) -> str:
    listed = ", ".join(f"'{v}'" for v in values)
    check = f"{column} IN ({listed})"
    return f"{column} IS NULL OR {check}" if nullable else check


def _at(name: str) -> sa.Column[object]:
    return sa.Column(name, sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False)


def _timestamps() -> list[sa.Column[object]]:
    return [_at("created_at"), _at("updated_at")]


def _trgm_available() -> bool:
    bind = op.get_bind()
    found = bind.execute(
        sa.text("SELECT 1 FROM pg_available_extensions WHERE name = 'pg_trgm'")
    ).scalar()
    return found is not None


def upgrade() -> None:
    op.create_table(
        "user",
        sa.Column("id", sa.BigInteger(), sa.Identity(), nullable=False),
        sa.Column("email", sa.String(320), nullable=False),
        sa.Column("password_hash", sa.String(255), nullable=False),
        sa.Column("full_name", sa.String(200), nullable=False),
        sa.Column("niveau", sa.String(16), nullable=True),
        sa.Column("filiere", sa.String(16), nullable=True),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("is_active", sa.Boolean(), server_default=sa.true(), nullable=False),
        *_timestamps(),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_user")),
        sa.UniqueConstraint("email", name=op.f("uq_user_email")),
        sa.CheckConstraint(_in("niveau", NIVEAUX, nullable=True), name=op.f("ck_user_niveau")),
        sa.CheckConstraint(_in("filiere", FILIERES, nullable=True), name=op.f("ck_user_filiere")),
        sa.CheckConstraint(_in("role", ROLES), name=op.f("ck_user_role")),
        sa.CheckConstraint("email = lower(email)", name=op.f("ck_user_email_lower")),
        schema=S,
    )
    op.create_index("ix_user_role", "user", ["role"], schema=S)
    op.create_index("ix_user_niveau_filiere", "user", ["niveau", "filiere"], schema=S)

    op.create_table(
        "epreuve",
        sa.Column("id", sa.BigInteger(), sa.Identity(), nullable=False),
        sa.Column("title", sa.String(200), nullable=False),
        sa.Column("matiere", sa.String(100), nullable=False),
        sa.Column("filiere", sa.String(16), nullable=False),
        sa.Column("niveau", sa.String(16), nullable=False),
        sa.Column("type", sa.String(16), nullable=False),
        sa.Column("annee", sa.SmallInteger(), nullable=False),
        sa.Column("teacher_id", sa.BigInteger(), nullable=False),
        sa.Column("description", sa.Text(), server_default="", nullable=False),
        sa.Column("file_path", sa.String(255), nullable=True),
        sa.Column("file_size", sa.BigInteger(), nullable=True),
        sa.Column("file_sha256", sa.String(64), nullable=True),
        sa.Column("original_filename", sa.String(255), nullable=True),
        sa.Column("views", sa.Integer(), server_default="0", nullable=False),
        sa.Column("downloads", sa.Integer(), server_default="0", nullable=False),
        sa.Column("avg_difficulty", sa.Float(), nullable=True),
        sa.Column("avg_relevance", sa.Float(), nullable=True),
        sa.Column("evaluations", sa.Integer(), server_default="0", nullable=False),
        sa.Column("is_active", sa.Boolean(), server_default=sa.true(), nullable=False),
        *_timestamps(),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_epreuve")),
        sa.ForeignKeyConstraint(
            ["teacher_id"],
            [f"{S}.user.id"],
            name=op.f("fk_epreuve_teacher_id_user"),
            ondelete="RESTRICT",
        ),
        sa.CheckConstraint(_in("filiere", FILIERES), name=op.f("ck_epreuve_filiere")),
        sa.CheckConstraint(_in("niveau", NIVEAUX), name=op.f("ck_epreuve_niveau")),
        sa.CheckConstraint(_in("type", TYPES), name=op.f("ck_epreuve_type")),
        sa.CheckConstraint("annee BETWEEN 1900 AND 2200", name=op.f("ck_epreuve_annee")),
        sa.CheckConstraint("views >= 0 AND downloads >= 0", name=op.f("ck_epreuve_counters")),
        schema=S,
    )
    for column in (
        "filiere", "niveau", "type", "matiere", "annee", "teacher_id", "created_at", "views",
        "downloads", "avg_relevance",
    ):  # fmt: skip
        op.create_index(f"ix_epreuve_{column}", "epreuve", [column], schema=S)
    op.create_index(
        "ix_epreuve_popularity", "epreuve", [sa.text("(views + downloads) DESC")], schema=S
    )
    if _trgm_available():
        op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
        op.execute(
            f"CREATE INDEX ix_epreuve_search_trgm ON {S}.epreuve "
            f"USING gin ({SEARCH_EXPR} gin_trgm_ops)"
        )

    op.create_table(
        "interaction",
        sa.Column("id", sa.BigInteger(), sa.Identity(), nullable=False),
        sa.Column("user_id", sa.BigInteger(), nullable=False),
        sa.Column("epreuve_id", sa.BigInteger(), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("metadata", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("relevance", sa.SmallInteger(), nullable=True),
        _at("created_at"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_interaction")),
        sa.ForeignKeyConstraint(
            ["user_id"], [f"{S}.user.id"], name=op.f("fk_interaction_user_id_user"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["epreuve_id"], [f"{S}.epreuve.id"], name=op.f("fk_interaction_epreuve_id_epreuve"),
            ondelete="CASCADE",
        ),
        sa.CheckConstraint(_in("kind", KINDS), name=op.f("ck_interaction_kind")),
        sa.CheckConstraint(
            "relevance IS NULL OR relevance BETWEEN 1 AND 5", name=op.f("ck_interaction_relevance")
        ),
        schema=S,
    )  # fmt: skip
    op.create_index(
        "ix_interaction_user_id_created_at", "interaction", ["user_id", "created_at"], schema=S
    )
    op.create_index("ix_interaction_epreuve_id", "interaction", ["epreuve_id"], schema=S)
    op.create_index("ix_interaction_kind", "interaction", ["kind"], schema=S)


def downgrade() -> None:
    op.drop_table("interaction", schema=S)
    # The extension may serve others: only our index goes.
    op.execute(f"DROP INDEX IF EXISTS {S}.ix_epreuve_search_trgm")
    op.drop_table("epreuve", schema=S)
    op.drop_table("user", schema=S)
