"""Settings: every variable declared once, parsed by its type, documented as the code reads it."""

from __future__ import annotations

from dataclasses import fields
from pathlib import Path

import pytest

from service.settings import Settings, settings_table

README = Path(__file__).resolve().parents[2] / "README.md"


def test_the_readme_table_is_the_one_the_declarations_generate():
    assert settings_table() in README.read_text("utf-8"), (
        "README's configuration table is stale: regenerate it with `python -m service.settings`"
    )


def test_every_setting_has_a_variable_and_a_meaning():
    for f in fields(Settings):
        assert f.metadata["env"] and all(name.isupper() for name in f.metadata["env"])
        assert len(f.metadata["meaning"]) > 10, f.name


@pytest.mark.parametrize(
    ("env", "field", "value"),
    [
        ({"LLM_TIMEOUT": "2.5"}, "llm_timeout_s", 2.5),
        ({"LLM_CONCURRENCY": " 3 "}, "llm_concurrency", 3),
        ({"DEGRADED_MODE": "off"}, "degraded_mode", False),
        ({"LLM_REPLAY": "yes", "LLM_CACHE_DIR": "/tmp/x"}, "llm_replay", True),
        ({"DATABASE_PATH": "/srv/docs.db"}, "database_path", Path("/srv/docs.db")),
        ({"LLM_MODEL_PATH": ""}, "llm_model_path", None),  # empty = unset
        ({"OPENAI_BASE_URL": "http://h/v1"}, "llm_base_url", "http://h/v1"),
        (
            {"LLM_BASE_URL": "http://a/v1", "OPENAI_BASE_URL": "http://b/v1"},
            "llm_base_url",
            "http://a/v1",
        ),
        ({"SUMMARY_MODE": "abstractive"}, "summary_mode", "abstractive"),
        ({"CORS_ORIGINS": "https://a, https://b,"}, "cors_origins", ("https://a", "https://b")),
        ({"TRUSTED_PROXIES": "10.0.0.1"}, "trusted_proxies", ("10.0.0.1",)),
        ({"API_KEYS": "k1,k2"}, "api_keys", frozenset({"k1", "k2"})),
    ],
)
def test_variables_are_read_as_their_field_type_says(env, field, value):
    assert getattr(Settings.from_env(env), field) == value


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"LLM_TIMEOUT": "soon"}, "LLM_TIMEOUT"),
        ({"DEGRADED_MODE": "maybe"}, "DEGRADED_MODE: not a boolean"),
        ({"SUMMARY_MODE": "poem"}, "SUMMARY_MODE: expected abstractive|extractive"),
        ({"LLM_STRUCTURED_OUTPUT": "xml"}, "LLM_STRUCTURED_OUTPUT"),
        ({"LLM_CONCURRENCY": "0"}, "LLM_CONCURRENCY must be at least 1"),
        ({"CHUNK_TOKENS": "32", "CHUNK_OVERLAP_TOKENS": "32"}, "CHUNK_OVERLAP_TOKENS"),
        ({"RATE_LIMIT": "lots"}, "RATE_LIMIT"),
        ({"LLM_REPLAY": "1"}, "LLM_REPLAY needs LLM_CACHE_DIR"),
    ],
)
def test_bad_values_name_the_variable_to_fix(env, message):
    with pytest.raises(ValueError, match=message):
        Settings.from_env(env)


def test_an_unset_environment_gives_the_declared_defaults():
    assert Settings.from_env({}) == Settings()
