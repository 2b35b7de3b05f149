from migrations.runner import run_env
from recommender_service.db import Base

run_env(Base.metadata, schema="recommender")
