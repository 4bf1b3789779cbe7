"""docs/configuration.md is generated from the config models and kept current."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import BaseModel, Field

from mtmc.config_reference import DOCUMENTS, _load, missing_descriptions, reference, type_name

DOC = Path(__file__).resolve().parents[1] / "docs" / "configuration.md"


def test_the_committed_reference_is_what_the_models_say() -> None:
    assert DOC.read_text() == reference(), (
        "docs/configuration.md is stale: run `.venv/bin/python -m mtmc.config_reference -o docs/configuration.md`"
    )


@pytest.mark.parametrize("path", [path for _, path, _ in DOCUMENTS])
def test_every_key_says_what_it_does(path: str) -> None:
    assert missing_descriptions(_load(path)) == []


def test_nested_and_listed_keys_are_documented_with_defaults() -> None:
    text = reference()
    assert "### `topology`" in text and "| `exclusive_views` | true/false | false |" in text
    assert "### `cameras[]`" in text and "| `source` | text | required |" in text
    assert "`cosine`, `geometric`" in text  # the matcher's default cues by name, not a repr


def test_a_key_without_a_description_is_found_however_deep() -> None:
    class Inner(BaseModel):
        told: int = Field(1, description="says")
        silent: int = 2

    class Outer(BaseModel):
        inner: Inner = Field(default_factory=Inner)
        items: list[Inner] = Field(default_factory=list, description="several")

    assert missing_descriptions(Outer) == ["inner.silent", "items.silent"]
    assert type_name(list[Inner] | None) == "list of section or null"
