"""The `subscriptions.list` filter (docs/api-reference.md §2), and the Chat API's `spaceEvents.list`
filter (docs/api-reference.md §9), one grammar:

    filter     := term (AND term)*
    term       := types | KEY "=" STRING
    types      := type_term | "(" type_term (OR type_term)* ")" | type_term (OR type_term)*
    type_term  := event_types ":" STRING

KEY is `target_resource` for subscriptions, `start_time` or `end_time` (RFC 3339) for space
events; each at most once, and the types once. Space events take the camelCase spellings of the
keys too (`eventTypes`, `startTime`, `endTime`), as Google's own Node sample sends them
(docs/api-reference.md §10). At least one event type is required. A
subscription matches when it has any of the types (and the target, when given).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from emulator.errors import invalid_argument
from emulator.timefmt import parse_time

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


@dataclass(frozen=True)
class SpaceEventsFilter:
    event_types: frozenset[str]
    start_time: datetime | None  # exclusive
    end_time: datetime | None  # inclusive

    def matches(self, event_type: str, event_time: datetime) -> bool:
        if self.start_time is not None and event_time <= self.start_time:
            return False
        if self.end_time is not None and event_time > self.end_time:
            return False
        return event_type in self.event_types


_CAMEL_KEYS = {"eventTypes": "event_types", "startTime": "start_time", "endTime": "end_time"}


class _Parser:
    def __init__(
        self, text: str, keys: tuple[str, ...], aliases: dict[str, str] | None = None
    ) -> None:
        self.text = text
        self.tokens = [(aliases or {}).get(token, token) for token in _tokens(text)]
        self.position = 0
        self.keys = keys

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

    def parse(self) -> tuple[frozenset[str], dict[str, str]]:
        types: frozenset[str] | None = None
        values: dict[str, str] = {}
        while True:
            key = self.peek()
            if key in self.keys:
                assert key is not None
                if key in values:
                    raise _bad(self.text, f"{key} given twice")
                self.take()
                self.take("=")
                values[key] = self.string()
            else:
                if types is not None:
                    raise _bad(self.text, "event types given twice")
                types = self.type_group()
            if self.peek() is None:
                break
            self.take("AND")
        if not types:
            raise _bad(self.text, "at least one event type is required")
        return types, values

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


def _required(text: str | None) -> str:
    if not text or not text.strip():
        raise invalid_argument(
            "Filter is required: name at least one event type, e.g. "
            'event_types:"google.workspace.chat.message.v1.created".',
            field="filter",
            reason="INVALID_FILTER",
        )
    return text


def parse_filter(text: str | None) -> SubscriptionFilter:
    types, values = _Parser(_required(text), ("target_resource",)).parse()
    return SubscriptionFilter(types, values.get("target_resource"))


def parse_space_events_filter(text: str | None) -> SpaceEventsFilter:
    """`spaceEvents.list`: batch types are not named (they come with their single types)."""
    filter_text = _required(text)
    types, values = _Parser(filter_text, ("start_time", "end_time"), _CAMEL_KEYS).parse()
    batch = sorted(t for t in types if ".batch" in t)
    if batch:
        raise _bad(filter_text, f"omit batch event types ({', '.join(batch)})")
    times: dict[str, datetime] = {}
    for key, value in values.items():
        try:
            times[key] = parse_time(value)
        except ValueError:
            raise _bad(filter_text, f"{key} is not an RFC 3339 timestamp: {value}") from None
    return SpaceEventsFilter(types, times.get("start_time"), times.get("end_time"))


def _bad(text: str, why: str) -> Exception:
    return invalid_argument(
        f"Invalid filter {text!r}: {why}.", field="filter", reason="INVALID_FILTER"
    )
