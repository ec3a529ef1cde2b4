"""The `subscriptions.list` filter (reference §2).

    filter     := types [AND target] | target AND types
    types      := type_term | "(" type_term (OR type_term)* ")" | type_term (OR type_term)*
    type_term  := event_types ":" STRING
    target     := target_resource "=" STRING

At least one event type is required. A subscription matches when it has any of the types
(and the target, when given).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from emulator.errors import invalid_argument

_TOKEN = re.compile(r'\s*(?:(?P<string>"(?:[^"\\]|\\.)*")|(?P<word>[A-Za-z_]+)|(?P<op>[():=]))')


@dataclass(frozen=True)
class SubscriptionFilter:
    event_types: frozenset[str]
    target_resource: str | None

    def matches(self, event_types: list[str], target_resource: str) -> bool:
        if self.target_resource is not None and self.target_resource != target_resource:
            return False
        return not self.event_types.isdisjoint(event_types)


def _tokens(text: str) -> list[str]:
    tokens: list[str] = []
    position = 0
    while position < len(text):
        match = _TOKEN.match(text, position)
        if match is None:
            if text[position:].strip():
                raise _bad(text, f"unexpected character at position {position}")
            break
        tokens.append(match.group(match.lastgroup or ""))
        position = match.end()
    return tokens


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = _tokens(text)
        self.position = 0

    def peek(self) -> str | None:
        return self.tokens[self.position] if self.position < len(self.tokens) else None

    def take(self, expected: str | None = None) -> str:
        token = self.peek()
        if token is None or (expected is not None and token != expected):
            raise _bad(self.text, f"expected {expected or 'more'}, found {token or 'end'}")
        self.position += 1
        return token

    def string(self) -> str:
        token = self.take()
        if not token.startswith('"'):
            raise _bad(self.text, f"expected a quoted string, found {token}")
        return re.sub(r"\\(.)", r"\1", token[1:-1])

    def parse(self) -> SubscriptionFilter:
        types: frozenset[str] | None = None
        target: str | None = None
        while True:
            if self.peek() == "target_resource":
                if target is not None:
                    raise _bad(self.text, "target_resource given twice")
                self.take()
                self.take("=")
                target = self.string()
            else:
                if types is not None:
                    raise _bad(self.text, "event types given twice")
                types = self.type_group()
            if self.peek() is None:
                break
            self.take("AND")
        if not types:
            raise _bad(self.text, "at least one event type is required")
        return SubscriptionFilter(types, target)

    def type_group(self) -> frozenset[str]:
        parenthesised = self.peek() == "("
        if parenthesised:
            self.take("(")
        types = {self.type_term()}
        while self.peek() == "OR":
            self.take()
            types.add(self.type_term())
        if parenthesised:
            self.take(")")
        return frozenset(types)

    def type_term(self) -> str:
        self.take("event_types")
        self.take(":")
        return self.string()


def parse_filter(text: str | None) -> SubscriptionFilter:
    if not text or not text.strip():
        raise invalid_argument(
            "Filter is required: name at least one event type, e.g. "
            'event_types:"google.workspace.chat.message.v1.created".',
            field="filter",
            reason="INVALID_FILTER",
        )
    return _Parser(text).parse()


def _bad(text: str, why: str) -> Exception:
    return invalid_argument(
        f"Invalid filter {text!r}: {why}.", field="filter", reason="INVALID_FILTER"
    )
