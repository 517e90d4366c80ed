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
