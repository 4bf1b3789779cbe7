"""The two base models every YAML section is built from (a leaf module, so any package's config
can use them without importing the root config)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict


class StrictModel(BaseModel):
    """Unknown keys are errors: a typo in a config must not be silently ignored."""

    model_config = ConfigDict(extra="forbid")


class PartConfig(BaseModel):
    """A part picked by name from its registry; every other key is an option of that part."""

    name: str
    model_config = ConfigDict(extra="allow")

    def options(self) -> dict[str, Any]:
        return dict(self.model_extra or {})
