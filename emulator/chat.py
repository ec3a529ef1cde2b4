"""The Chat side of the emulator: the events of Chat spaces, as `spaces.spaceEvents` returns
them (the bundled `chat.v1` discovery document) and as a subscription delivers them (binary
CloudEvents on Pub/Sub, data shaped per event type; reference §4, §9).

Every event the control surface posts is recorded (the space's history, 28 days back); it is
delivered at once to the space's subscriptions that are ACTIVE and subscribed to its type.
"""

from __future__ import annotations

import json
import re
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
_EVENT_TYPE = re.compile(r"^google\.workspace\.chat\.(?P<family>[a-z]+)\.v1\.(?P<verb>[a-z]+)$")
_SPACE = re.compile(r"^spaces/[^/]+$")


def parse_event_type(event_type: str) -> tuple[str, str]:
    """`google.workspace.chat.message.v1.created` -> (`message`, `created`); 400 otherwise."""
    match = _EVENT_TYPE.fullmatch(event_type)
    if match is None or match["verb"] not in VERBS.get(match["family"], ()):
        raise invalid_argument(f"The emulator cannot post Chat events of type {event_type!r}.")
    return match["family"], match["verb"]


def check_space(space: str) -> str:
    if not _SPACE.fullmatch(space):
        raise invalid_argument(f"Invalid space name {space!r}: expected spaces/SPACE.")
    return space


@dataclass(frozen=True)
class ChatEvent:
    """One event of a space: the `SpaceEvent` and the Chat resource it is about."""

    space: str  # spaces/S
    event_id: str
    event_type: str
    event_time: datetime
    resource: dict[str, Any]  # the Message, Reaction or Membership, as the Chat API returns it
    sequence: int  # its position in the emulator's record of every Chat event

    @property
    def name(self) -> str:
        return f"{self.space}/spaceEvents/{self.event_id}"

    @property
    def family(self) -> str:
        return parse_event_type(self.event_type)[0]

    @property
    def data_field(self) -> str:
        family, verb = parse_event_type(self.event_type)
        return f"{family}{verb.capitalize()}EventData"

    def space_event(self, event_time: str) -> dict[str, Any]:
        """The `SpaceEvent` resource (`event_time` formatted by the caller)."""
        return {
            "name": self.name,
            "eventTime": event_time,
            "eventType": self.event_type,
            self.data_field: {self.family: self.resource},
        }

    def cloud_event_data(self, include_resource: bool) -> bytes:
        """The Pub/Sub message data a subscription receives: the resource, or only its name
        without `includeResource` (a deleted resource has only its name either way)."""
        resource = self.resource if include_resource else {"name": self.resource["name"]}
        return json.dumps({self.family: resource}, separators=(",", ":")).encode("utf-8")

    def attributes(self, event_time: str) -> dict[str, str]:
        """The binary CloudEvent attributes. The ce-id of a live delivery is the SpaceEvent's
        id [unverified: Google's pages show no ce-id of a Chat event], so a replay under the
        same id is recognised as the same event."""
        return {
            "ce-id": self.event_id,
            "ce-type": self.event_type,
            "ce-source": CHAT_SOURCE + self.space,
            "ce-subject": CHAT_SOURCE + self.resource["name"],
            "ce-time": event_time,
            "ce-specversion": "1.0",
            "ce-datacontenttype": "application/json",
        }


def resource_for(
    space: str, family: str, number: int, at: str, given: dict[str, Any]
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
