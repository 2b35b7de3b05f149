"""Settings of the recommender service, read once from the environment (DESIGN §6)."""

from __future__ import annotations

import os
import socket
from functools import lru_cache
from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from shared.events import CONSUMER_GROUP, DEFAULT_STREAM
from shared.training import ModelName


def _default_torch_threads() -> int:
    # Leave a core to the event loop so that training never starves serving.
    return max(1, (os.cpu_count() or 2) - 1)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=None, extra="ignore", frozen=True)

    # Connections (names fixed by DESIGN §7).
    database_url: str = "postgresql://postgres@127.0.0.1:5432/epreuves"
    redis_url: str = "redis://127.0.0.1:6379/0"
    service_api_key: SecretStr = SecretStr("")
    recommender_host: str = "127.0.0.1"
    recommender_port: int = 8001
    access_log: bool = False  # uvicorn's per-request log line (costly at high request rates)
    # uvicorn worker processes of `serve`, for a host with cores to spare: each runs the whole
    # replica (model, memory caches, consumer, scheduler) under a consumer name of its own.
    recommender_workers: int = Field(default=1, ge=1)
    data_dir: Path = Path(".data")
    catalog_url: str = "http://127.0.0.1:8000"

    # Consumer (DESIGN §3).
    events_stream: str = DEFAULT_STREAM
    consumer_group: str = CONSUMER_GROUP
    # One consumer name per replica (DESIGN §3), stable across its restarts so that a restarted
    # replica re-reads its own pending entries at once: the host name and REPLICA_ID.
    replica_id: str = Field(default="1", min_length=1, max_length=64)
    consumer_name: str = Field(
        default_factory=lambda data: (
            f"{socket.gethostname()}-{data['replica_id']}"
            + (f"-{os.getpid()}" if data["recommender_workers"] > 1 else "")
        ),
        min_length=1,
    )
    consumer_enabled: bool = True
    consumer_batch: int = Field(default=100, ge=1)
    consumer_block_ms: int = Field(default=2000, ge=1)
    max_deliveries: int = Field(default=5, ge=1)
    claim_idle_ms: int = Field(default=60_000, ge=1)
    # Consumers of the group idle this long with nothing pending are removed (dead replicas).
    consumer_idle_delete_ms: int = Field(default=3_600_000, ge=1000)
    bootstrap_enabled: bool = True
    bootstrap_page_size: int = Field(default=1000, ge=1, le=10_000)
    bootstrap_timeout_seconds: float = Field(default=60.0, ge=0)

    # Model and training.
    recommender_model: ModelName = "neumf"  # auto: the best candidate on validation
    train_budget_seconds: float | None = Field(default=None, gt=0)  # auto: no candidate after
    # Unset: the ML package's defaults (DESIGN §4).
    train_epochs: int | None = Field(default=None, ge=1)
    train_batch_size: int | None = Field(default=None, ge=1)
    train_lr: float | None = Field(default=None, gt=0)
    train_embedding_dim: int | None = Field(default=None, ge=1)
    train_holdout_metrics: bool = True
    train_refit_full: bool = True
    torch_threads: int = Field(default_factory=_default_torch_threads, ge=1)
    # The run's lease: the Redis lock and the registry heartbeat, renewed every third of it.
    training_lock_ttl_ms: int = Field(default=60_000, ge=1000)
    auto_retrain_enabled: bool = True
    retrain_min_new_interactions: int = Field(default=500, ge=1)
    retrain_max_age_hours: float = Field(default=24.0, gt=0)
    retrain_check_seconds: float = Field(default=60.0, gt=0)
    retrain_min_interval_seconds: float = Field(default=600.0, ge=0)
    retrain_backoff_seconds: float = Field(default=60.0, gt=0)
    retrain_backoff_max_seconds: float = Field(default=3600.0, gt=0)
    # A new version is kept (not activated) when its NDCG@10 on the held-out data it shares
    # with the active version is below the active's by more than this (training/activation).
    activation_tolerance: float = Field(default=0.02, ge=0, le=1)
    min_training_interactions: int = Field(default=20, ge=1)

    # Serving.
    cache_ttl_seconds: int = Field(default=3600, ge=1)
    fallback_cache_ttl_seconds: int = Field(default=60, ge=1)
    model_poll_seconds: float = Field(default=5.0, gt=0)
    popularity_half_life_days: float = Field(default=30.0, gt=0)
    # "because you viewed X" only when X is this close (cosine in the model's item space) or
    # of the same matière; otherwise an honest reason (serving/reasons.py).
    reason_min_similarity: float = Field(default=0.5, ge=-1, le=1)
    # In-process memory per replica (serving.cache, .history, .items): answers in front of
    # Redis, users' histories, and how often the item table (with popularity) is re-read.
    memory_cache_entries: int = Field(default=10_000, ge=0)
    history_cache_users: int = Field(default=10_000, ge=0)
    item_table_refresh_seconds: float = Field(default=60.0, gt=0)
    # Rotation (serving.rerank): an item in this many of a user's lists without an interaction
    # of theirs has its relevance multiplied by the factor in their later lists (1: off).
    rotation_after: int = Field(default=5, ge=1)
    rotation_factor: float = Field(default=0.5, ge=0, le=1)
    # How old the impression counts held with a user's history may get (read on a cache miss).
    rotation_refresh_seconds: float = Field(default=300.0, ge=0)


@lru_cache
def get_settings() -> Settings:
    return Settings()
