"""ORM base of the recommender service: every table lives in the `recommender` schema."""

from sqlalchemy.orm import DeclarativeBase

from shared.database import schema_metadata

SCHEMA = "recommender"


class Base(DeclarativeBase):
    metadata = schema_metadata(SCHEMA)
