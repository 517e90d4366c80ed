"""Configuration, read from the environment (and ``.env``) with pydantic-settings."""

from __future__ import annotations

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Every setting kpibot reads. ``.env.example`` documents each one.

    Secrets are ``SecretStr`` so that they never appear in reprs or logs."""

    # A blank line copied from .env.example (``SLACK_BOT_TOKEN=``) means "not set", not an
    # empty secret that would switch a platform on.
    model_config = SettingsConfigDict(
        env_file=".env", env_file_encoding="utf-8", extra="ignore", env_ignore_empty=True
    )

    database_url: str = Field(
        default="sqlite:///./data/kpibot.db",
        description="SQLAlchemy URL. sqlite:///path or postgresql://user@host/db.",
        repr=False,  # it may carry a password: never in reprs or dumps
        exclude=True,
    )
    http_host: str = "127.0.0.1"
    http_port: int = 3000
    log_level: str = "INFO"
    log_format: str = Field(default="text", description="text | json")

    slack_bot_token: SecretStr | None = None
    slack_app_token: SecretStr | None = None
    slack_signing_secret: SecretStr | None = None
    slack_api_url: str = "https://slack.com/api/"

    telegram_bot_token: SecretStr | None = None
    telegram_base_url: str = "https://api.telegram.org/bot"
    telegram_webhook_url: str | None = None
    telegram_webhook_secret: SecretStr | None = None

    deals_dir: str | None = Field(
        default=None, description="If set, every *.yaml deal file here is applied at start."
    )
    outbox_lease_seconds: int = 120
    missed_grace_hours: int = 12
    replicas: int = Field(
        default=1,
        ge=1,
        description="How many replicas send for the same bot tokens; each keeps to 1/REPLICAS "
        "of a platform's per-token budget (Telegram's 30 messages a second).",
    )

    # -- HTTP hardening (issue 19): /metrics, connection timeouts -----------------------------
    metrics_host: str = Field(
        default="127.0.0.1", description="Interface of the separate /metrics server."
    )
    metrics_port: int | None = Field(
        default=None,
        ge=0,
        le=65535,
        description="If set, /metrics is served only on METRICS_HOST:METRICS_PORT, not on the "
        "public HTTP port.",
    )
    metrics_token: SecretStr | None = Field(
        default=None,
        description="If set, /metrics answers only 'Authorization: Bearer <token>'. Without "
        "it and without METRICS_PORT, /metrics is not served at all.",
    )
    http_header_timeout: float = Field(
        default=75.0,
        gt=0,
        description="Seconds a connection may take to send its request head, or stay idle "
        "between requests; keep it above the load balancer's idle timeout.",
    )

    # --- graceful stop (issue 20) ---
    shutdown_grace_seconds: float = Field(
        default=30.0,
        ge=0,
        description="On SIGTERM/SIGINT, how long the scheduler's sends already under way may "
        "take to finish and be marked sent before the process exits anyway.",
    )

    # --- TikTok Shop export import (issue 15) ---
    import_max_bytes: int = Field(
        default=20 * 1024 * 1024,
        ge=1,
        description="The largest Seller Center export file `kpibot import` or /import accepts.",
    )

    @property
    def slack_enabled(self) -> bool:
        return self.slack_bot_token is not None

    @property
    def telegram_enabled(self) -> bool:
        return self.telegram_bot_token is not None

    # --- Dashboard and exports (issue 16) ---
    secret_key: SecretStr | None = Field(
        default=None,
        description="Signs dashboard links; required to serve the dashboard. Changing it "
        "invalidates every link given out.",
    )
    public_url: str = Field(
        default="http://127.0.0.1:3000",
        description="The address people open dashboard links at (this server, as the "
        "outside sees it).",
    )
    dashboard_link_days: int = Field(
        default=7, ge=1, le=366, description="How many days a dashboard link stays valid."
    )

    # --- TikTok Shop Open API (issue 17) ---
    tiktok_shop_app_key: str | None = Field(
        default=None,
        description="The Partner Center app's key. Unset: the TikTok Shop connection is off.",
    )
    tiktok_shop_app_secret: SecretStr | None = Field(
        default=None, description="The Partner Center app's secret (signs every request)."
    )
    tiktok_shop_service_id: str | None = Field(
        default=None,
        description="The app's service id: the authorization link is "
        "services.tiktokshop.com/open/authorize?service_id=... when set.",
    )
    tiktok_shop_api_url: str = Field(
        default="https://open-api.tiktokglobalshop.com", description="The Open API's address."
    )
    tiktok_shop_auth_url: str = Field(
        default="https://auth.tiktok-shops.com",
        description="The authorization server (authorize page, token get and refresh).",
    )

    @property
    def tiktok_enabled(self) -> bool:
        """The TikTok Shop connection is on: app key, secret and SECRET_KEY are all set."""
        return bool(self.tiktok_shop_app_key and self.tiktok_shop_app_secret and self.secret_key)
