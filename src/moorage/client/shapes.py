"""Response shapes that are not one model (``list[App]``), checked by a pydantic
``TypeAdapter`` made on first use: making one builds its validator, and a command that
never reads a shape should not pay for it at start (``moor apps`` imports client modules
that also list add-ons, formations and volumes)."""

from __future__ import annotations

from typing import Any, Generic, TypeVar

from pydantic import TypeAdapter

T = TypeVar("T")


class Shape(Generic[T]):
    """``Shape(list[App]).validate_python(data)``: a ``TypeAdapter(list[App])`` made once,
    at the first call."""

    def __init__(self, shape: type[T]) -> None:
        self._shape = shape
        self._adapter: TypeAdapter[T] | None = None

    def validate_python(self, data: Any) -> T:
        if self._adapter is None:
            self._adapter = TypeAdapter(self._shape)
        return self._adapter.validate_python(data)
