"""Every setting is documented in ``.env.example`` and read from the environment."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.settings import Settings

ROOT = Path(__file__).resolve().parents[1]


def test_every_setting_is_in_env_example() -> None:
    documented = {
        line.split("=", 1)[0].strip()
        for line in (ROOT / ".env.example").read_text(encoding="utf-8").splitlines()
        if "=" in line and not line.lstrip().startswith("#")
    }
    fields = {name.upper() for name in Settings.model_fields}
    assert fields == documented


def test_settings_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgresql://u:pw@db/k")
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-secret-token")
    monkeypatch.setenv("HTTP_PORT", "8080")
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    assert settings.database_url == "postgresql://u:pw@db/k"
    assert settings.http_port == 8080
    assert settings.slack_enabled and not settings.telegram_enabled
    assert "xoxb-secret-token" not in repr(settings)


def test_blank_values_mean_unset(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SLACK_BOT_TOKEN", "")
    monkeypatch.setenv("TELEGRAM_BOT_TOKEN", "")
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    assert not settings.slack_enabled and not settings.telegram_enabled


def test_defaults_use_sqlite_under_data() -> None:
    assert Settings(_env_file=None).database_url == "sqlite:///./data/kpibot.db"  # type: ignore[call-arg]
