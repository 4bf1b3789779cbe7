"""Parts built by name (as detectron2's ``Registry``): ``DETECTORS.build("onnx-yolox", ...)``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Generic, TypeVar

from mtmc.errors import MtmcError

T = TypeVar("T")


class Registry(Generic[T]):
    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._builders: dict[str, Callable[..., T]] = {}

    def register(self, name: str) -> Callable[[Callable[..., T]], Callable[..., T]]:
        def add(builder: Callable[..., T]) -> Callable[..., T]:
            if name in self._builders:
                raise ValueError(f"{self.kind} '{name}' is registered twice")
            self._builders[name] = builder
            return builder

        return add

    def names(self) -> list[str]:
        return sorted(self._builders)

    def build(self, name: str, **options: Any) -> T:
        if name not in self._builders:
            raise MtmcError(f"unknown {self.kind} '{name}': valid names are {', '.join(self.names())}")
        return self._builders[name](**options)
