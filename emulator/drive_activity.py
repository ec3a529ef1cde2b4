"""The Drive side of the emulator: a small tree of Drive files whose changes are recorded as
the Drive Activity API v2 records them (`activity.query` of the bundled `driveactivity.v2`
discovery document: `itemName` or `ancestorName`, the filter grammar, paging, newest first),
and delivered live as Google's Drive events (events-drive page: `{"file": {"id": ...}}`, the
resource with `includeResource`).

The control surface makes each change by naming the Drive event it is (`...file.v3.renamed`);
the emulator records the action Drive Activity would hold for it (docs/replay.md), so a test can
change files during a suspension and find the events missed and the actions still queryable.
"""

from __future__ import annotations

import functools
import hashlib
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from emulator.auth import Principal, stable_number
from emulator.chat import masked
from emulator.delivery import deliver
from emulator.discovery import DiscoveryDocument
from emulator.errors import invalid_argument
from emulator.meet import require_scope
from emulator.paging import next_page_token, page_position
from emulator.timefmt import format_time, parse_time

if TYPE_CHECKING:
    from emulator.store import State
    from emulator.subscriptions import Subscription

DRIVE_SOURCE = "//drive.googleapis.com/"
EVENT = "google.workspace.drive."
FOLDER = "application/vnd.google-apps.folder"
READ_SCOPES = frozenset({"drive.activity", "drive.activity.readonly"})
# `pageSize` is the least the caller wants, and the default is not published: the emulator
# answers exactly the size asked for, 50 when unset.
_DEFAULT_PAGE = 50
_MAX_PAGE = 1000
_ID = re.compile(r"^[A-Za-z0-9_-]+$")


@dataclass
class DriveFile:
    id: str
    parent: str | None
    mime_type: str
    title: str
    version: int = 1

    def item(self) -> dict[str, Any]:
        """The file as a Drive Activity target's `driveItem`."""
        kind = (
            {"driveFolder": {"type": "STANDARD_FOLDER"}}
            if self.mime_type == FOLDER
            else {"driveFile": {}}
        )
        return {"name": f"items/{self.id}", "title": self.title, "mimeType": self.mime_type, **kind}

    def resource(self) -> dict[str, Any]:
        """The file as a Drive event carries it with `includeResource` (events-drive page)."""
        resource: dict[str, Any] = {"id": self.id}
        if self.parent is not None:
            resource["parent"] = self.parent
        resource["version"] = str(self.version)
        resource["mimeType"] = self.mime_type
        return resource


def action_case(detail_field: str) -> str:
    """`permissionChange` -> `PERMISSION_CHANGE`, as the filter names it."""
    return re.sub(r"(?<!^)(?=[A-Z])", "_", detail_field).upper()


@functools.cache
def known_cases() -> frozenset[str]:
    """The action detail cases the filter takes: the fields of the document's ActionDetail."""
    schemas = DiscoveryDocument.bundled("driveactivity.v2").schemas
    return frozenset(action_case(name) for name in schemas["ActionDetail"]["properties"])


@dataclass(frozen=True)
class DriveAction:
    """One recorded action: what Drive Activity returns for it, and where it happened."""

    sequence: int
    time: datetime
    item: str  # the file's id
    ancestors: tuple[str, ...]  # its folders, nearest first, at the time
    detail: dict[str, Any]  # the ActionDetail
    target: dict[str, Any]  # the Target
    actor: str  # users/ID

    @property
    def case(self) -> str:
        (detail_field,) = self.detail
        return action_case(detail_field)

    def to_json(self) -> dict[str, Any]:
        return {
            "primaryActionDetail": self.detail,
            "actors": [{"user": {"knownUser": {"personName": f"people/{self.actor[6:]}"}}}],
            "actions": [{"detail": self.detail}],
            "targets": [self.target],
            "timestamp": format_time(self.time),
        }


@dataclass
class DriveRecords:
    files: dict[str, DriveFile] = field(default_factory=dict)
    actions: list[DriveAction] = field(default_factory=list)


@dataclass(frozen=True)
class _Change:
    """How a Drive event type changes a file (returning the ActionDetail Drive Activity
    records for it), and the family its event data names."""

    apply: Callable[[DriveFile, Mapping[str, Any]], dict[str, Any]]  # -> the ActionDetail
    family: str = "file"


def _create(file: DriveFile, _given: Mapping[str, Any]) -> dict[str, Any]:
    return {"create": {"new": {}}}


def _move(file: DriveFile, given: Mapping[str, Any]) -> dict[str, Any]:
    parent = given.get("parent")
    if not isinstance(parent, str) or not _ID.fullmatch(parent):
        raise invalid_argument("A move needs the new parent's id.")
    old, file.parent = file.parent, parent
    detail: dict[str, Any] = {"addedParents": [{"driveItem": {"name": f"items/{parent}"}}]}
    if old is not None:
        detail["removedParents"] = [{"driveItem": {"name": f"items/{old}"}}]
    return {"move": detail}


def _edit(file: DriveFile, _given: Mapping[str, Any]) -> dict[str, Any]:
    file.version += 1
    return {"edit": {}}


def _rename(file: DriveFile, given: Mapping[str, Any]) -> dict[str, Any]:
    title = given.get("title")
    if not isinstance(title, str) or not title:
        raise invalid_argument("A rename needs the new title.")
    old, file.title = file.title, title
    return {"rename": {"oldTitle": old, "newTitle": title}}


def _typed(
    detail_field: str, kind: str
) -> Callable[[DriveFile, Mapping[str, Any]], dict[str, Any]]:
    return lambda _file, _given: {detail_field: {"type": kind}}


# The Drive events the control surface can make (events-drive page), each with the action
# Drive Activity records for it (the bundled document's ActionDetail).
CHANGES: dict[str, _Change] = {
    "file.v3.created": _Change(_create),
    "file.v3.added": _Change(_create),
    "file.v3.moved": _Change(_move),
    "file.v3.contentChanged": _Change(_edit),
    "file.v3.renamed": _Change(_rename),
    "file.v3.trashed": _Change(_typed("delete", "TRASH")),
    "file.v3.deleted": _Change(_typed("delete", "PERMANENT_DELETE")),
    "file.v3.untrashed": _Change(_typed("restore", "UNTRASH")),
    "permission.v3.created": _Change(
        lambda _f, _g: {"permissionChange": {"addedPermissions": [{"role": "EDITOR"}]}},
        "permission",
    ),
    "comment.v3.created": _Change(
        lambda _f, _g: {"comment": {"post": {"subtype": "ADDED"}}}, "comment"
    ),
}


def _data(family: str, file: DriveFile, number: str, options: Mapping[str, Any]) -> dict[str, Any]:
    """The event data for `family` as the events-drive page shows it."""
    full = bool(options.get("includeResource"))
    if family == "permission":
        permission = {"id": f"perm{number}", **({"file_id": file.id} if full else {})}
        return {"permission": [permission]}
    if family == "comment":
        return {"comment": {"id": f"comment{number}", "file_id": file.id}}
    if not full:
        return {"file": {"id": file.id}}
    return {"file": masked(file.resource(), "file", options.get("fieldMask"))}


# -- the filter grammar of activity.query ---------------------------------------------------

_TIME = re.compile(r'time\s*(?P<op><=|>=|<|>|=)\s*(?:"(?P<text>[^"]*)"|(?P<millis>\d+))')
_CASES = re.compile(
    r"(?P<negated>-?)detail\.action_detail_case\s*:\s*"
    r"(?:\((?P<several>[A-Z_ ]+)\)|(?P<one>[A-Z_]+))"
)
_SEPARATOR = re.compile(r"\s+(?:AND\s+)?|\s*$")


@dataclass(frozen=True)
class ActivityFilter:
    times: tuple[tuple[str, datetime], ...] = ()
    included: frozenset[str] | None = None
    excluded: frozenset[str] = frozenset()

    def matches(self, action: DriveAction) -> bool:
        compare = {
            "<": action.time.__lt__,
            "<=": action.time.__le__,
            ">": action.time.__gt__,
            ">=": action.time.__ge__,
            "=": action.time.__eq__,
        }
        if not all(compare[op](value) for op, value in self.times):
            return False
        if self.included is not None and action.case not in self.included:
            return False
        return action.case not in self.excluded


def parse_activity_filter(text: str | None, known_cases: frozenset[str]) -> ActivityFilter:
    """The discovery document's grammar: expressions joined by an optional AND, each `time`
    compared with an RFC 3339 string or milliseconds since the epoch, or
    `[-]detail.action_detail_case:CASE` / `:(CASE CASE)`; anything else is 400."""
    times: list[tuple[str, datetime]] = []
    included: set[str] | None = None
    excluded: set[str] = set()
    text = (text or "").strip()
    position = 0
    while position < len(text):
        time_match = _TIME.match(text, position)
        case_match = None if time_match else _CASES.match(text, position)
        match = time_match or case_match
        if match is None:
            raise invalid_argument(f"Invalid filter at position {position}.", field="filter")
        if time_match is not None:
            try:
                value = (
                    parse_time(time_match["text"])
                    if time_match["text"] is not None
                    else datetime.fromtimestamp(int(time_match["millis"]) / 1000, UTC)
                )
            except ValueError:
                raise invalid_argument("Invalid time in filter.", field="filter") from None
            times.append((time_match["op"], value))
        elif case_match is not None:
            cases = set((case_match["several"] or case_match["one"]).split())
            if not cases or not cases <= known_cases:
                raise invalid_argument(
                    f"Unknown action detail case in {case_match[0]!r}.", field="filter"
                )
            if case_match["negated"]:
                excluded |= cases
            else:
                included = cases if included is None else included & cases
        separator = _SEPARATOR.match(text, match.end())
        if separator is None or (separator.end() == match.end() and separator.end() < len(text)):
            raise invalid_argument(f"Invalid filter at position {match.end()}.", field="filter")
        position = separator.end()
    return ActivityFilter(
        tuple(times), None if included is None else frozenset(included), frozenset(excluded)
    )


class DriveActivity:
    """`activity.query` and the control call that changes Drive files; each public method
    takes the shared lock."""

    def __init__(self, state: State) -> None:
        self.state = state

    @property
    def records(self) -> DriveRecords:
        return self.state.store.drive

    def query(self, principal: Principal, body: Mapping[str, Any]) -> dict[str, Any]:
        """The actions on `itemName`, or on `ancestorName` and everything under it (neither:
        every action), matching the filter, newest first. [unverified] Google returns only
        what the caller may see; the emulator has no Drive access model."""
        with self.state.lock:
            require_scope(principal, READ_SCOPES)
            item, ancestor = body.get("itemName"), body.get("ancestorName")
            if item and ancestor:
                raise invalid_argument("Set at most one of item_name and ancestor_name.")
            for name in (item, ancestor):
                if name and not re.fullmatch(r"items/[A-Za-z0-9_-]+", name):
                    raise invalid_argument(f"Invalid item name {name!r}: expected items/ID.")
            query = parse_activity_filter(body.get("filter"), known_cases())
            kept = [
                a
                for a in self.records.actions
                if (not item or a.item == item[6:])
                and (not ancestor or ancestor[6:] in (a.item, *a.ancestors))
                and query.matches(a)
            ]
            kept.sort(key=lambda a: a.sequence, reverse=True)
            page_size = body.get("pageSize")
            if page_size is not None and page_size < 0:
                raise invalid_argument("page_size must not be negative.", field="page_size")
            size = min(page_size or _DEFAULT_PAGE, _MAX_PAGE)
            request = {k: v for k, v in body.items() if k not in ("pageSize", "pageToken")}
            digest = hashlib.sha256(f"{principal.key}\n{sorted(request.items())}".encode())
            key = digest.hexdigest()[:16]
            offset = page_position(body.get("pageToken"), key)
            response: dict[str, Any] = {}
            if kept[offset : offset + size]:
                response["activities"] = [a.to_json() for a in kept[offset : offset + size]]
            if offset + size < len(kept):
                response["nextPageToken"] = next_page_token(key, offset + size)
            return response

    def change(
        self,
        file_id: str,
        event_type: str,
        *,
        actor: str = "users/1",
        parent: str | None = None,
        mime_type: str | None = None,
        title: str | None = None,
    ) -> dict[str, Any]:
        """Make the change `event_type` names on `file_id` now: recorded as Drive Activity
        records it, and delivered to the ACTIVE subscriptions of the file, of a folder above it
        (with includeDescendants) or of its shared drive."""
        with self.state.lock:
            change = CHANGES.get(event_type.removeprefix(EVENT))
            if change is None:
                raise invalid_argument(f"The emulator cannot make Drive events {event_type!r}.")
            if not _ID.fullmatch(file_id):
                raise invalid_argument(f"Invalid file id {file_id!r}.")
            file = self.records.files.get(file_id)
            creating = change.apply is _create
            if creating == (file is not None):
                raise invalid_argument(
                    f"File {file_id} {'exists' if file is not None else 'does not exist'}."
                )
            if file is None:
                file = DriveFile(file_id, parent, mime_type or "text/plain", title or file_id)
                self.records.files[file_id] = file
            detail = change.apply(file, {"parent": parent, "title": title})
            now = self.state.clock.now()
            ancestors = self._ancestors(file)
            target: dict[str, Any] = {"driveItem": file.item()}
            number = str(len(self.records.actions) + 1)
            if change.family == "comment":
                target = {"fileComment": {"legacyCommentId": f"legacy{number}",
                                          "parent": file.item()}}  # fmt: skip
            action = DriveAction(
                len(self.records.actions) + 1, now, file_id, ancestors, detail, target, actor
            )
            self.records.actions.append(action)

            def takes(subscription: Subscription) -> bool:
                if event_type not in subscription.event_types:
                    return False
                resource = subscription.target_resource.removeprefix(DRIVE_SOURCE)
                kind, _, target_id = resource.partition("/")
                descendants = bool((subscription.drive_options or {}).get("includeDescendants"))
                if kind == "drives":
                    return target_id in ancestors
                return kind == "files" and (
                    target_id == file_id or (descendants and target_id in ancestors)
                )

            deliveries = deliver(
                self.state,
                event_id=f"drive{stable_number(f'{number}:{event_type}:{file_id}')}",
                event_type=event_type,
                subject=f"{DRIVE_SOURCE}files/{file_id}",
                at=now,
                takes=takes,
                data_for=lambda options: _data(change.family, file, number, options),
            )
            return {"activity": action.to_json(), "deliveries": deliveries}

    def _ancestors(self, file: DriveFile) -> tuple[str, ...]:
        chain: list[str] = []
        parent = file.parent
        while parent is not None and parent not in chain:
            chain.append(parent)
            known = self.records.files.get(parent)
            parent = known.parent if known is not None else None
        return tuple(chain)
