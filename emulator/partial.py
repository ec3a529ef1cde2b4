"""Partial responses: the `fields` system parameter (`name,expireTime`, `subscriptions(name)`).

fields := field ("," field)*
field  := NAME ("/" NAME)* ["(" fields ")"]
"""

from __future__ import annotations

import re
from typing import Any

from emulator.errors import invalid_argument

Selector = dict[str, "Selector | None"]  # None: the whole value

_TOKEN = re.compile(r"\s*([A-Za-z0-9_@.$]+|[(),/*])")


def _tokens(text: str) -> list[str]:
    tokens, position = [], 0
    while position < len(text.rstrip()):
        match = _TOKEN.match(text, position)
        if match is None:
            raise invalid_argument(f"Invalid field selector {text!r}.", field="fields")
        tokens.append(match.group(1))
        position = match.end()
    return tokens


def parse_fields(text: str) -> Selector:
    tokens = _tokens(text)
    selector, position = _parse_list(tokens, 0, text)
    if position != len(tokens):
        raise invalid_argument(f"Invalid field selector {text!r}.", field="fields")
    return selector


def _parse_list(tokens: list[str], position: int, text: str) -> tuple[Selector, int]:
    selector: Selector = {}
    while True:
        path = []
        while True:
            if position >= len(tokens) or tokens[position] in "(),/":
                raise invalid_argument(f"Invalid field selector {text!r}.", field="fields")
            path.append(tokens[position])
            position += 1
            if position < len(tokens) and tokens[position] == "/":
                position += 1
                continue
            break
        inner: Selector | None = None
        if position < len(tokens) and tokens[position] == "(":
            inner, position = _parse_list(tokens, position + 1, text)
            if position >= len(tokens) or tokens[position] != ")":
                raise invalid_argument(f"Invalid field selector {text!r}.", field="fields")
            position += 1
        _merge(selector, path, inner)
        if position < len(tokens) and tokens[position] == ",":
            position += 1
            continue
        return selector, position


def _merge(selector: Selector, path: list[str], inner: Selector | None) -> None:
    head, *rest = path
    if not rest:
        selector[head] = inner
        return
    child = selector.get(head, {})
    if child is None:  # already selected whole
        return
    selector[head] = child
    _merge(child, rest, inner)


def select(value: Any, selector: Selector | None) -> Any:
    """`value` reduced to the selected fields (lists: each element)."""
    if selector is None or "*" in selector:
        return value
    if isinstance(value, list):
        return [select(item, selector) for item in value]
    if not isinstance(value, dict):
        return value
    return {key: select(value[key], inner) for key, inner in selector.items() if key in value}
