"""The README's configuration table and the Settings object name the same variables."""

from __future__ import annotations

import re
from pathlib import Path

from aftercare.settings import Settings, load_settings, setting_env_names

README = Path(__file__).resolve().parents[1] / "README.md"


def _documented_variables() -> set[str]:
    section = README.read_text(encoding="utf-8").split("## Configuration", 1)[1].split("\n## ")[0]
    rows = [line for line in section.splitlines() if line.startswith("| `AFTERCARE_")]
    return {name for row in rows for name in re.findall(r"`(AFTERCARE_[A-Z0-9_]+)`", row)}


def test_every_setting_is_documented_and_every_documented_variable_is_a_setting() -> None:
    assert _documented_variables() == set(setting_env_names())


def test_the_model_settings_are_read_from_the_environment() -> None:
    settings = load_settings({"AFTERCARE_SENTIMENT_INT8": "true", "AFTERCARE_TORCH_THREADS": "1"})
    assert settings.sentiment_int8 is True and settings.torch_threads == 1
    assert Settings().sentiment_int8 is False and Settings().torch_threads == 0
