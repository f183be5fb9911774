"""Settings read every knob from the environment and a malformed value stops the start with its name."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _start_with(env_overrides: dict) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RISKAPP_")}
    env.update(env_overrides)
    return subprocess.run([sys.executable, "manage.py", "check"], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=120)


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("RISKAPP_DEBUG", "maybe"),
        ("RISKAPP_HEARTBEAT_TIMEOUT", "five minutes"),
        ("RISKAPP_MAX_UPLOAD_BYTES", "lots"),
        ("DATABASE_URL", "nosuchdb://x"),
        ("CELERY_BROKER_URL", "carrier-pigeon://coop"),
        ("RISKAPP_DEVICE", "tpu"),
        ("RISKAPP_LOG_LEVEL", "LOUD"),
    ],
)
def test_malformed_value_fails_at_start_naming_the_variable(variable, value):
    result = _start_with({variable: value})
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    assert variable in result.stderr


def test_production_without_a_secret_key_refuses_to_start():
    result = _start_with({"RISKAPP_PRODUCTION": "true"})
    assert result.returncode != 0
    assert "RISKAPP_SECRET_KEY" in result.stderr


def test_embedded_defaults_are_sqlite_in_wal_mode_and_the_filesystem_broker(monkeypatch, tmp_path):
    from riskapp.envconfig import env_broker, env_database

    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.delenv("CELERY_BROKER_URL", raising=False)
    database = env_database("DATABASE_URL", tmp_path / "db.sqlite3")
    assert database["ENGINE"] == "django.db.backends.sqlite3"
    assert "journal_mode=WAL" in database["OPTIONS"]["init_command"]
    url, options = env_broker("CELERY_BROKER_URL", tmp_path)
    assert url == "filesystem://"
    assert options["data_folder_in"].startswith(str(tmp_path))


def test_database_and_broker_urls_switch_to_postgres_and_redis(monkeypatch, tmp_path):
    from riskapp.envconfig import env_broker, env_database

    monkeypatch.setenv("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/riskapp")
    monkeypatch.setenv("CELERY_BROKER_URL", "redis://127.0.0.1:6379/0")
    assert env_database("DATABASE_URL", tmp_path / "x")["ENGINE"] == "django.db.backends.postgresql"
    assert env_broker("CELERY_BROKER_URL", tmp_path)[0] == "redis://127.0.0.1:6379/0"


@pytest.mark.parametrize(("raw", "expected"), [("500MB", 500 * 10**6), ("1GiB", 1 << 30), ("2048", 2048)])
def test_sizes_accept_units(monkeypatch, raw, expected):
    from riskapp.envconfig import env_size

    monkeypatch.setenv("RISKAPP_X", raw)
    assert env_size("RISKAPP_X", 1) == expected
