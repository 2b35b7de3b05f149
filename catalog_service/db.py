"""ORM base of the catalog service: every table lives in the `catalog` schema."""

from sqlalchemy.orm import DeclarativeBase

from shared.database import schema_metadata

SCHEMA = "catalog"


class Base(DeclarativeBase):
    metadata = schema_metadata(SCHEMA)
