"""The Chat side of the emulator: the events of Chat spaces, as `spaces.spaceEvents` returns
them (the bundled `chat.v1` discovery document) and as a subscription delivers them (binary
CloudEvents on Pub/Sub, data shaped per event type; docs/api-reference.md §4, §9).

Every event the control surface posts is recorded (the space's history, 28 days back); it is
delivered at once to the space's subscriptions that are ACTIVE and subscribed to its type.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from emulator.errors import invalid_argument

CHAT_SOURCE = "//chat.googleapis.com/"
HISTORY = timedelta(days=28)  # how far back spaceEvents.list reaches
# The families the control surface can post, and the verbs each has (events-chat page).
VERBS: dict[str, tuple[str, ...]] = {
    "message": ("created", "updated", "deleted"),
    "reaction": ("created", "deleted"),
    "membership": ("created", "updated", "deleted"),
}
# A batch payload's list field per family: `{"messages": [{"message": {...}}, ...]}`.
PLURAL = {"message": "messages", "reaction": "reactions", "membership": "memberships"}
_EVENT_TYPE = re.compile(r"^google\.workspace\.chat\.(?P<family>[a-z]+)\.v1\.(?P<verb>[a-z]+)$")
_SPACE = re.compile(r"^spaces/[^/]+$")


def parse_event_type(event_type: str) -> tuple[str, str]:
    """`google.workspace.chat.message.v1.created` -> (`message`, `created`); 400 otherwise."""
    match = _EVENT_TYPE.fullmatch(event_type)
    if match is None or match["verb"] not in VERBS.get(match["family"], ()):
        raise invalid_argument(f"The emulator cannot post Chat events of type {event_type!r}.")
    return match["family"], match["verb"]


def batch_type(event_type: str) -> str:
    """`...message.v1.created` -> `...message.v1.batchCreated` (events-chat page)."""
    prefix, verb = event_type.rsplit(".", 1)
    return f"{prefix}.batch{verb.capitalize()}"


def single_type(event_type: str) -> str:
    """The single type a batch type groups (itself for a single type)."""
    prefix, verb = event_type.rsplit(".", 1)
    if not verb.startswith("batch"):
        return event_type
    return f"{prefix}.{verb[len('batch') :][:1].lower()}{verb[len('batch') + 1 :]}"


def check_space(space: str) -> str:
    if not _SPACE.fullmatch(space):
        raise invalid_argument(f"Invalid space name {space!r}: expected spaces/SPACE.")
    return space


def masked(resource: dict[str, Any], family: str, field_mask: str | None) -> dict[str, Any]:
    """The resource as a subscription with `fieldMask` receives it: only the fields the mask
    names (paths like `message.sender`, relative to the `{"message": ...}` payload; paths of
    other resources and unknown fields are ignored, docs/api-reference.md §1) [unverified:
    whether Google keeps `name` when the mask leaves it out; here it follows the mask]."""
    if not field_mask:
        return resource
    kept: dict[str, Any] = {}
    for path in (p.strip() for p in field_mask.split(",")):
        head, _, rest = path.partition(".")
        if head != family or not rest:
            continue
        source: Any = resource
        target = kept
        parts = rest.split(".")
        for part in parts[:-1]:
            if not isinstance(source, dict) or part not in source:
                break
            source = source[part]
            target = target.setdefault(part, {})
        else:
            if isinstance(source, dict) and parts[-1] in source:
                target[parts[-1]] = source[parts[-1]]
    return kept


@dataclass(frozen=True)
class ChatEvent:
    """One event of a space: the `SpaceEvent` and the Chat resources it is about (one, or
    several for a batch type)."""

    space: str  # spaces/S
    event_id: str
    event_type: str  # as the SpaceEvent names it: a single type or its batch type
    event_time: datetime
    resources: tuple[dict[str, Any], ...]  # Messages, Reactions or Memberships, as Chat returns
    sequence: int  # its position in the emulator's record of every Chat event

    @property
    def name(self) -> str:
        return f"{self.space}/spaceEvents/{self.event_id}"

    @property
    def single_type(self) -> str:
        return single_type(self.event_type)

    @property
    def family(self) -> str:
        return parse_event_type(self.single_type)[0]

    @property
    def batch(self) -> bool:
        return self.event_type != self.single_type

    @property
    def data_field(self) -> str:
        family, verb = parse_event_type(self.single_type)
        batch = "Batch" if self.batch else ""
        return f"{family}{batch}{verb.capitalize()}EventData"

    def _payload(self, resources: list[dict[str, Any]]) -> dict[str, Any]:
        if self.batch:
            return {PLURAL[self.family]: [{self.family: r} for r in resources]}
        return {self.family: resources[0]}

    def space_event(self, event_time: str) -> dict[str, Any]:
        """The `SpaceEvent` resource (`event_time` formatted by the caller)."""
        return {
            "name": self.name,
            "eventTime": event_time,
            "eventType": self.event_type,
            self.data_field: self._payload(list(self.resources)),
        }

    def cloud_event_data(self, payload_options: Mapping[str, Any]) -> dict[str, Any]:
        """The data a subscription receives: each resource restricted to the `fieldMask`, or
        only its name without `includeResource`."""
        if payload_options.get("includeResource"):
            mask = payload_options.get("fieldMask")
            resources = [masked(r, self.family, mask) for r in self.resources]
        else:
            resources = [{"name": r["name"]} for r in self.resources]
        return self._payload(resources)


def resource_for(
    space: str, family: str, number: str, at: str, given: dict[str, Any]
) -> dict[str, Any]:
    """A plausible Chat resource of `family`, numbered `number`, with the caller's fields."""
    if family == "message":
        base: dict[str, Any] = {
            "name": f"{space}/messages/m{number}",
            "createTime": at,
            "sender": {"name": "users/1", "type": "HUMAN"},
            "text": "",
            "space": {"name": space},
        }
    elif family == "reaction":
        message = given.get("message") or f"{space}/messages/m{number}"
        base = {
            "name": f"{message}/reactions/r{number}",
            "user": {"name": "users/1", "type": "HUMAN"},
            "emoji": {"unicode": "\U0001f44d"},
        }
    else:
        base = {
            "name": f"{space}/members/u{number}",
            "state": "JOINED",
            "role": "ROLE_MEMBER",
            "member": {"name": f"users/u{number}", "type": "HUMAN"},
            "createTime": at,
        }
    resource = {**base, **{k: v for k, v in given.items() if k != "message"}}
    if not str(resource.get("name", "")).startswith(space + "/"):
        raise invalid_argument(f"A resource of {space} must be named {space}/...")
    return resource
