from catalog_service.db import Base
from migrations.runner import run_env

run_env(Base.metadata, schema="catalog")
