"""lowerCamelCase (JSON names) and snake_case (proto names), as proto3 JSON maps them."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

_UPPER = re.compile(r"(?<=[a-z0-9])([A-Z])")


def snake(name: str) -> str:
    return _UPPER.sub(r"_\1", name).lower()


def camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


def rename_keys(value: Any, rename: Callable[[str], str]) -> Any:
    """`value` with every object key renamed, at every depth (`@type` keys stay)."""
    if isinstance(value, dict):
        return {
            (key if key.startswith("@") else rename(key)): rename_keys(item, rename)
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [rename_keys(item, rename) for item in value]
    return value
