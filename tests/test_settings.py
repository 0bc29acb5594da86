"""Settings: environment, mounted YAML file, overrides, and errors that name the field."""

from __future__ import annotations

import pytest

from ctrbench.errors import ConfigError
from ctrbench.settings import CONFIG_FILE_ENV, LoadSettings, PostgresSettings, load


def test_precedence_is_override_then_env_then_file_then_default(monkeypatch, tmp_path):
    cfg = tmp_path / "ctr.yaml"
    cfg.write_text("num_producers: 7\nduration_seconds: 30\nseed: 5\n")
    monkeypatch.setenv(CONFIG_FILE_ENV, str(cfg))
    monkeypatch.setenv("DURATION_SECONDS", "45")
    s = load(LoadSettings, seed=9)
    assert (s.num_producers, s.duration_seconds, s.seed, s.events_per_producer) == (7, 45.0, 9, 60_000)


def test_invalid_value_names_field_value_and_rule():
    with pytest.raises(ConfigError) as err:
        load(LoadSettings, mmpp_rate_ratio=0.5)
    assert str(err.value) == ("invalid configuration: MMPP_RATE_RATIO=0.5: "
                              "Input should be greater than or equal to 1")


def test_unknown_distribution_is_refused(monkeypatch):
    monkeypatch.setenv("DISTRIBUTION", "uniform")
    with pytest.raises(ConfigError, match="DISTRIBUTION=uniform: Input should be 'mmpp' or 'normal'"):
        load(LoadSettings)


def test_missing_config_file_is_refused(monkeypatch):
    monkeypatch.setenv(CONFIG_FILE_ENV, "/nonexistent/ctr.yaml")
    with pytest.raises(ConfigError, match="no such file"):
        load(LoadSettings)


def test_password_is_not_printed():
    s = load(PostgresSettings, postgres_password="hunter2")
    assert "hunter2" not in repr(s) and s.dsn()["password"] == "hunter2"
