"""Settings of the catalog service, read once from the environment (DESIGN §6, §7)."""

from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from shared.events import DEFAULT_STREAM


class Settings(BaseSettings):
    """Every field reads the environment variable of the same name in upper case.

    Defaults suit the embedded mode of `make run`; no secret has a usable default.
    """

    model_config = SettingsConfigDict(extra="ignore", case_sensitive=False)

    # Dependencies (names fixed by DESIGN §7).
    database_url: str = "postgresql://postgres@127.0.0.1:5432/epreuves"
    redis_url: str = "redis://127.0.0.1:6379/0"
    service_api_key: SecretStr = SecretStr("")
    recommender_url: str = "http://127.0.0.1:8001"
    # Total budget of one call to the recommender (retry included); past it, the fallback.
    recommender_timeout_s: float = Field(default=0.8, gt=0)
    # Circuit breaker: open after this many consecutive failures, probe again after the pause.
    recommender_breaker_failures: int = Field(default=5, ge=1)
    recommender_breaker_reset_s: float = Field(default=10.0, gt=0)
    # The cache of final recommendation answers (recommendations.cache): their life (counters
    # and averages in them lag by at most this), and the entries kept in each process's memory.
    recommendations_cache_ttl_s: int = Field(default=300, ge=1)
    memory_cache_entries: int = Field(default=10_000, ge=0)
    data_dir: Path = Path(".data")
    catalog_host: str = "127.0.0.1"
    catalog_port: int = Field(default=8000, ge=1, le=65535)
    first_admin_email: str | None = None
    first_admin_password: SecretStr | None = None
    db_pool_size: int = Field(default=10, ge=1)
    log_level: str = "INFO"

    # Tokens. JWT_SECRET has no default: `create_app` refuses to start without it.
    jwt_secret: SecretStr | None = None
    jwt_algorithm: Literal["HS256", "HS384", "HS512"] = "HS256"
    jwt_access_minutes: int = Field(default=30, ge=1)
    jwt_refresh_days: int = Field(default=7, ge=1)
    # Attempts on /v1/auth/token and /v1/auth/register per window: per account (from any IP)
    # and per client IP (on any account). Behind a NAT many users share one IP: raise the
    # latter there.
    auth_rate_limit_account: int = Field(default=10, ge=1)
    auth_rate_limit_ip: int = Field(default=60, ge=1)
    auth_rate_window_s: int = Field(default=60, ge=1)
    # The admin console's signed session cookie: its own key, or one derived from JWT_SECRET.
    session_secret: SecretStr | None = None
    admin_session_hours: int = Field(default=8, ge=1)
    # Proxies whose X-Forwarded-For / X-Forwarded-Proto are believed (comma-separated IPs or
    # CIDRs, or "*"); none by default, so a client cannot pick the address it is counted as.
    forwarded_allow_ips: str = ""

    # Uploaded PDFs.
    upload_dir: Path | None = None
    max_upload_mb: int = Field(default=20, ge=1)

    # Browser frontends on other origins: `https://app.example,https://admin.example`. Unset:
    # no CORS header at all. `*` is refused: credentials (the bearer token) are allowed.
    cors_origins: Annotated[list[str], NoDecode] = Field(default_factory=list)

    # Recommendation lists: an interaction naming a list counts for it within this window;
    # impressions are buffered in process and written in batches (impressions.log).
    attribution_window_minutes: int = Field(default=30, ge=1, le=7 * 24 * 60)
    # The `diversity` of a list that asks for none (chosen from docs/BENCHMARKS.md's curve).
    diversity_default: float = Field(default=0.3, ge=0, le=1)
    impression_flush_seconds: float = Field(default=0.5, gt=0)
    impression_max_batch: int = Field(default=500, ge=1, le=10_000)
    impression_max_pending: int = Field(default=100_000, ge=1)

    # Events.
    events_stream: str = DEFAULT_STREAM
    outbox_relay_enabled: bool = True
    outbox_poll_interval: float = Field(default=1.0, gt=0)

    @field_validator("cors_origins", mode="before")
    @classmethod
    def _origins(cls, value: object) -> object:
        if isinstance(value, str):
            value = [origin.strip() for origin in value.split(",") if origin.strip()]
        if isinstance(value, list) and "*" in value:
            raise ValueError("CORS_ORIGINS must name origins, not '*' (credentials are allowed)")
        return value

    @property
    def uploads_path(self) -> Path:
        """UPLOAD_DIR, or DATA_DIR/uploads when unset."""
        return self.upload_dir if self.upload_dir is not None else self.data_dir / "uploads"

    @property
    def max_upload_bytes(self) -> int:
        return self.max_upload_mb * 1024 * 1024


@lru_cache
def get_settings() -> Settings:
    return Settings()
