"""Tracker options: defaults from one YAML per tracker, caller overrides, checked ranges.

A typo or an out-of-range value fails at build time with one line that names the key and its
valid range (as Norfair does), never deep inside a frame loop.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from mtmc.errors import MtmcError

CONFIG_DIR = Path(__file__).resolve().parent / "configs"


@dataclass(frozen=True)
class OptionRule:
    """What one option may hold: ``kind`` is ``bool``, ``int`` or ``float``; bounds are inclusive."""

    kind: type
    low: float = -math.inf
    high: float = math.inf
    low_open: bool = False  # True: the value must be strictly greater than ``low``
    optional: bool = False  # True: null (None) is allowed

    def describe(self) -> str:
        if self.kind is bool:
            text = "true or false"
        else:
            noun = "an integer" if self.kind is int else "a number"
            lower = f"> {self.low:g}" if self.low_open else f">= {self.low:g}"
            if math.isinf(self.low):
                text = f"{noun} <= {self.high:g}"
            elif math.isinf(self.high):
                text = f"{noun} {lower}"
            else:
                text = f"{noun} with {self.low:g} {'<' if self.low_open else '<='} value <= {self.high:g}"
        return text + (" or null" if self.optional else "")

    def accepts(self, value: Any) -> bool:
        if value is None:
            return self.optional
        if self.kind is bool:
            return isinstance(value, bool)
        if isinstance(value, bool) or not isinstance(value, int | float):
            return False
        if self.kind is int and not float(value).is_integer():
            return False
        above = value > self.low if self.low_open else value >= self.low
        return above and value <= self.high


def load_options(tracker: str, rules: dict[str, OptionRule], overrides: dict[str, Any]) -> dict[str, Any]:
    """Defaults of ``configs/<tracker>.yaml`` updated by ``overrides``, every value checked."""
    path = CONFIG_DIR / f"{tracker}.yaml"
    defaults = yaml.safe_load(path.read_text()) or {}
    options = {**defaults, **overrides}
    unknown = sorted(set(options) - set(rules))
    if unknown:
        raise MtmcError(
            f"{tracker}: unknown option {', '.join(map(repr, unknown))}; valid options are {', '.join(rules)}"
        )
    missing = sorted(set(rules) - set(options))
    if missing:
        raise MtmcError(f"{path}: missing default for {', '.join(missing)}")
    for key, value in options.items():
        rule = rules[key]
        if not rule.accepts(value):
            raise MtmcError(f"{tracker}: option {key} must be {rule.describe()}, got {value!r}")
        if rule.kind is int and value is not None:
            options[key] = int(value)
        elif rule.kind is float and value is not None:
            options[key] = float(value)
    return options
