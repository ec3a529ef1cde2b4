"""Chat spaces and the messages sent to them through the API, as the bundled `chat.v1` discovery
document defines `spaces.list`, `spaces.findDirectMessage` and `spaces.messages.create`: who
is a member of which space (recorded from the events the control surface posts), the direct
message spaces between a user and the Chat app (made by a control call), and every message
created, recorded for the control surface to list.

Users are named as the Chat API names them, `users/ID`, where ID is the emulator's stable id of
the principal (emulator/auth.py); `users/EMAIL` stands for the user whose token is
`emulator:delegated:EMAIL`. Scopes are the methods' reference pages' (docs/api-reference.md
§11): an app reads and writes with `chat.bot`.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, TypeGuard

from emulator.auth import Principal, stable_number
from emulator.chat import ChatEvent, check_space
from emulator.errors import ApiError, invalid_argument
from emulator.paging import next_page_token, page_position
from emulator.timefmt import format_time

if TYPE_CHECKING:
    from emulator.store import State

# spaces.list: 100 when unspecified, larger values are changed to 1,000 (its discovery text).
_DEFAULT_PAGE = 100
_MAX_PAGE = 1000
# (app authentication, user authentication) scopes of each method (its reference page).
_SPACES_READ = (frozenset({"chat.bot"}), frozenset({"chat.spaces", "chat.spaces.readonly"}))
_SCOPES: dict[str, tuple[frozenset[str], frozenset[str]]] = {
    "spaces.list": _SPACES_READ,
    "spaces.findDirectMessage": _SPACES_READ,
    "spaces.messages.create": (
        frozenset({"chat.bot"}),
        frozenset({"chat.messages.create", "chat.messages", "chat.import"}),
    ),
}
_SPACE_TYPE = re.compile(
    r'^\s*(?:space_type|spaceType)\s*=\s*"(SPACE|GROUP_CHAT|DIRECT_MESSAGE)"\s*$'
)
_CLIENT_MESSAGE_ID = re.compile(r"^client-[a-z0-9-]{1,56}$")


@dataclass
class ChatSpacesRecord:
    """What the store keeps: the members of each space (`users/ID`), the direct message space
    of each user with the Chat app, and every message created through the API, in order."""

    members: dict[str, set[str]] = field(default_factory=dict)
    direct_messages: dict[str, str] = field(default_factory=dict)  # users/ID -> spaces/S
    messages: list[dict[str, Any]] = field(default_factory=list)
    request_ids: dict[str, tuple[str, dict[str, Any]]] = field(default_factory=dict)


def user_name(name: str) -> str:
    """`users/ID` as is; `users/EMAIL` as the emulator's id of that delegated user."""
    if not _is_user(name):
        raise invalid_argument(f"Invalid user name {name!r}: expected users/USER.", field="name")
    user = name.removeprefix("users/")
    return f"users/{stable_number(user.lower())}" if "@" in user else name


def note_members(record: ChatSpacesRecord, event: ChatEvent) -> None:
    """Who a posted event shows to be in its space: a message's human sender, a membership's
    member (gone once it is deleted or no longer JOINED)."""
    members = record.members.setdefault(event.space, set())
    for resource in event.resources:
        if event.family == "message":
            sender = resource.get("sender") or {}
            if sender.get("type", "HUMAN") == "HUMAN":
                _add(members, sender.get("name"))
        elif event.family == "membership":
            member = (resource.get("member") or {}).get("name")
            joined = resource.get("state", "JOINED") == "JOINED"
            if event.single_type.endswith(".deleted") or not joined:
                members.discard(user_name(member) if _is_user(member) else "")
            else:
                _add(members, member)


def _is_user(name: object) -> TypeGuard[str]:
    return isinstance(name, str) and name.startswith("users/") and name != "users/"


def _add(members: set[str], name: object) -> None:
    """A posted resource may name anyone (or no one): only `users/…` names are members."""
    if _is_user(name):
        members.add(user_name(name))


def _check_scopes(principal: Principal, method: str) -> None:
    if principal.scopes is None:
        return
    app, user = _SCOPES[method]
    if principal.scopes.isdisjoint(app if principal.is_app else user):
        raise ApiError(
            "PERMISSION_DENIED",
            "Request had insufficient authentication scopes.",
            reason="ACCESS_TOKEN_SCOPE_INSUFFICIENT",
            metadata={"service": "chat.googleapis.com"},
        )


def _space_types(filter_text: str | None) -> set[str] | None:
    """`space_type = "SPACE" OR spaceType = "GROUP_CHAT"` -> {SPACE, GROUP_CHAT}; 400 else."""
    if not filter_text:
        return None
    types = set()
    for part in filter_text.split(" OR "):
        match = _SPACE_TYPE.fullmatch(part)
        if match is None:
            raise invalid_argument(f"Invalid filter: {filter_text!r}.", field="filter")
        types.add(match[1])
    return types


def _space(name: str, *, direct: bool) -> dict[str, Any]:
    """The Space resource: a named space, or a direct message between a user and the app."""
    space: dict[str, Any] = {"name": name, "spaceType": "SPACE"}
    if direct:
        space.update(spaceType="DIRECT_MESSAGE", singleUserBotDm=True)
    return space


def _sender(principal: Principal) -> str:
    """The caller as a message's sender names it: `users/ID` (for the app, its stable id)."""
    return "users/" + principal.key.rsplit("/", 1)[-1]


class ChatSpaces:
    """`spaces.list`, `spaces.findDirectMessage`, `spaces.messages.create`, and the control
    calls that make a direct message space and list the messages; each takes the lock."""

    def __init__(self, state: State) -> None:
        self.state = state

    @property
    def _record(self) -> ChatSpacesRecord:
        return self.state.store.chat_spaces

    def create_direct_message(self, user: str) -> dict[str, Any]:
        """Control: the direct message space between `user` and the Chat app, made if need be
        (as when the user first messages the app)."""
        with self.state.lock:
            member = user_name(user)
            space = self._record.direct_messages.setdefault(
                member, f"spaces/dm{stable_number('dm:' + member)}"
            )
            self._record.members.setdefault(space, set()).add(member)
            return _space(space, direct=True)

    def messages(self) -> list[dict[str, Any]]:
        """Control: every message created through the API, oldest first."""
        with self.state.lock:
            return list(self._record.messages)

    def find_direct_message(self, principal: Principal, name: str | None) -> dict[str, Any]:
        with self.state.lock:
            _check_scopes(principal, "spaces.findDirectMessage")
            if not name:
                raise invalid_argument("name is required.", field="name")
            user = user_name(name)
            # Only direct messages with the Chat app exist here: under user authentication
            # (a DM between two users) none is ever found.
            space = self._record.direct_messages.get(user) if principal.is_app else None
            if space is None:
                raise ApiError("NOT_FOUND", "Direct message space not found.")
            return _space(space, direct=True)

    def _member_of(self, principal: Principal) -> set[str]:
        """The caller's spaces: the app's direct messages; a user's by membership."""
        if principal.is_app:
            return set(self._record.direct_messages.values())
        me = principal.user_authority
        return {space for space, members in self._record.members.items() if me in members}

    def _spaces_of(self, principal: Principal) -> list[str]:
        """The spaces `spaces.list` shows the caller: direct messages only once a message was
        sent in them (its page says so of group chats and direct messages)."""
        direct = set(self._record.direct_messages.values())
        written = {str(m["space"]["name"]) for m in self._record.messages}
        mine = self._member_of(principal)
        return sorted(space for space in mine if space not in direct or space in written)

    def list_spaces(
        self,
        principal: Principal,
        filter_text: str | None,
        page_size: int | None,
        page_token: str | None,
    ) -> dict[str, Any]:
        with self.state.lock:
            _check_scopes(principal, "spaces.list")
            types = _space_types(filter_text)
            if page_size is not None and page_size < 0:
                raise invalid_argument("page_size must not be negative.", field="page_size")
            size = min(page_size or _DEFAULT_PAGE, _MAX_PAGE)
            digest = hashlib.sha256(f"{principal.key}\n{filter_text}".encode()).hexdigest()[:16]
            after = page_position(page_token, digest)
            direct = set(self._record.direct_messages.values())
            spaces = [_space(name, direct=name in direct) for name in self._spaces_of(principal)]
            matching = [s for s in spaces if types is None or s["spaceType"] in types][after:]
            response: dict[str, Any] = {}
            if matching:
                response["spaces"] = matching[:size]
            if len(matching) > size:
                response["nextPageToken"] = next_page_token(digest, after + size)
            return response

    def create_message(
        self, principal: Principal, parent: str, query: dict[str, Any], body: dict[str, Any]
    ) -> dict[str, Any]:
        with self.state.lock:
            _check_scopes(principal, "spaces.messages.create")
            check_space(parent)
            request_id = query.get("requestId")
            if request_id and request_id in self._record.request_ids:
                caller, message = self._record.request_ids[request_id]
                if caller != principal.key:
                    # [unverified] which status Google answers with; its page says "an error".
                    raise invalid_argument(
                        "The request ID was used by another caller.", field="request_id"
                    )
                return message
            if parent not in self._member_of(principal):
                # [unverified] Google may answer 403 for a space the caller is not in.
                raise ApiError("NOT_FOUND", f"Space {parent} not found.")
            if not body.get("text") and not body.get("cardsV2"):
                raise invalid_argument("Message cannot be empty.", field="message")
            message_id = query.get("messageId")
            if message_id is not None and not _CLIENT_MESSAGE_ID.fullmatch(message_id):
                raise invalid_argument(
                    "messageId must begin with client- and have at most 63 lowercase letters, "
                    "digits and hyphens.",
                    field="message_id",
                )
            number = len(self._record.messages) + 1
            name = f"{parent}/messages/{message_id or f'dm{number}'}"
            if any(m["name"] == name for m in self._record.messages):
                raise ApiError("ALREADY_EXISTS", f"Message {name} already exists.")
            now: datetime = self.state.clock.now()
            message = {
                **{k: v for k, v in body.items() if k in ("text", "cardsV2")},
                "name": name,
                "sender": {
                    "name": _sender(principal),
                    "type": "BOT" if principal.is_app else "HUMAN",
                },
                "createTime": format_time(now),
                "space": {"name": parent},
                "thread": {"name": f"{parent}/threads/t{number}"},
            }
            self._record.messages.append(message)
            if request_id:
                self._record.request_ids[request_id] = (principal.key, message)
            return message
