"""Reconstruct the Meet and Drive events a subscription missed, from what the Meet REST API and
the Drive Activity API still hold about the window.

Neither API keeps the events themselves (the Chat API's spaceEvents has no Meet or Drive
counterpart), so each event is rebuilt from the resource it is about: a conference record's
start and end, a participant session's join and leave, an artifact's state, a Drive action.
Google's live `ce-id` is not in those records: a replay's `ce-id` is derived from the event
type and the resource name (and, for Drive, the action's time), so a replay published twice
carries the same id, and apps deduplicate Meet and Drive events by it. What cannot be rebuilt
exactly is returned apart (Drive) or documented (docs/replay.md, with the sources of every
shape and mapping here).

The pure functions turn API resources into `Replayed` events; `replay_meet` and `replay_drive`
do the reads, each request through the caller's `read` (its pacer and retry owner).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from itertools import chain
from typing import Any, Protocol, TypeVar

from workspace_client.client import pages
from workspace_client.drive_activity import DriveActivityClient, activity_filter
from workspace_client.meet import ARTIFACT_KINDS, MeetClient, conference_records_filter
from workspace_client.models import format_timestamp, parse_timestamp

_T = TypeVar("_T")

MEET = "google.workspace.meet."
DRIVE = "google.workspace.drive."
MEET_SPACE_TARGET = "//meet.googleapis.com/spaces/"
MEET_USER_TARGET = "//cloudidentity.googleapis.com/users/"
DRIVE_FILE_TARGET = "//drive.googleapis.com/files/"
DRIVE_SHARED_TARGET = "//drive.googleapis.com/drives/"
MEET_SUBJECT = "//meet.googleapis.com/"
DRIVE_SUBJECT = "//drive.googleapis.com/"

# A conference ends at the latest 24 hours after it starts (docs/replay.md, Meet): the records
# listed for a window are those that started up to this long before it.
MAX_CONFERENCE = timedelta(hours=24)
# How long after an artifact ends its file may still be generated: Google gives no figure
# (docs/replay.md), so an artifact that ended this long before the window is replayed too;
# an app that already had it drops it by its (type, name).
FILE_GENERATION_MARGIN = timedelta(hours=1)


@dataclass(frozen=True)
class Replayed:
    """One reconstructed event: the CloudEvent's id, type, time and subject, the API resource
    it was rebuilt from, and its data shaped as the subscription's payload options ask."""

    ce_id: str
    ce_type: str
    time: datetime
    subject: str
    source_resource: str
    data: Mapping[str, Any]


@dataclass(frozen=True)
class Unmapped:
    """A Drive action in the window that stands for a subscribed event but cannot be rebuilt
    as that event exactly: for the resync alert, the item, the action and when."""

    item: str  # items/ID
    action: str  # the action detail case, e.g. PERMISSION_CHANGE
    time: datetime


@dataclass(frozen=True)
class DriveReplay:
    events: list[Replayed]
    unmapped: list[Unmapped]


@dataclass(frozen=True)
class PayloadOptions:
    """The subscription's `payloadOptions`."""

    include_resource: bool = False
    field_mask: str | None = None


class Read(Protocol):
    """Sends one request (the callable) the caller's way: paced, its 429s retried."""

    def __call__(self, call: Callable[[], _T], /) -> _T: ...


def replay_id(ce_type: str, resource: str, at: datetime | None = None) -> str:
    """The stable `ce-id` of a reconstructed event: its type and resource name, and for Drive
    the action's time (a file changes many times)."""
    suffix = "" if at is None else "@" + format_timestamp(at)
    return f"{ce_type}:{resource}{suffix}"


def shaped(
    family: str, resource: Mapping[str, Any], name_fields: Iterable[str], options: PayloadOptions
) -> dict[str, Any]:
    """`resource` as a payload carries it: only its naming fields without `includeResource`,
    else the fields of `fieldMask` (paths relative to the payload, `file.mimeType`; paths of
    other families and unknown fields ignored), else all of it."""
    if not options.include_resource:
        return {field: resource[field] for field in name_fields if field in resource}
    if not options.field_mask:
        return dict(resource)
    kept: dict[str, Any] = {}
    for path in options.field_mask.split(","):
        head, _, rest = path.strip().partition(".")
        if head == family and rest:
            _copy(resource, kept, rest.split("."))
    return kept


def _copy(source: Any, target: dict[str, Any], parts: list[str]) -> None:
    if not isinstance(source, Mapping) or parts[0] not in source:
        return
    if len(parts) == 1:
        target[parts[0]] = source[parts[0]]
    else:
        _copy(source[parts[0]], target.setdefault(parts[0], {}), parts[1:])


def _time(value: Any) -> datetime | None:
    return parse_timestamp(value) if isinstance(value, str) and value else None


def read_pages(
    read: Read, fetch: Callable[..., tuple[list[_T], str | None]]
) -> Iterator[Sequence[_T]]:
    """Every page of a list method, lazily, each one `read` of `fetch(page_token=...)`."""
    return pages(lambda token: read(functools.partial(fetch, page_token=token)))


def _items(
    read: Read, fetch: Callable[..., tuple[list[dict[str, Any]], str | None]], *args: Any, **kw: Any
) -> Iterator[dict[str, Any]]:
    """Every item of the list method `fetch(*args, **kw, page_token=...)` (read_pages)."""
    return chain.from_iterable(read_pages(read, functools.partial(fetch, *args, **kw)))


# -- Meet ---------------------------------------------------------------------------------

# The live Meet event types, each with the resource family its data names (events-meet page),
# in the order that breaks ties between events of the same instant.
MEET_TYPES: dict[str, str] = {
    MEET + "conference.v2.started": "conferenceRecord",
    MEET + "participant.v2.joined": "participantSession",
    **{MEET + f"{kind}.v2.started": kind for kind in ("recording", "transcript", "smartNote")},
    MEET + "participant.v2.left": "participantSession",
    **{MEET + f"{kind}.v2.ended": kind for kind in ("recording", "transcript", "smartNote")},
    MEET + "conference.v2.ended": "conferenceRecord",
    **{
        MEET + f"{kind}.v2.fileGenerated": kind for kind in ("recording", "transcript", "smartNote")
    },
}
_MEET_RANK = {event_type: rank for rank, event_type in enumerate(MEET_TYPES)}
_ENDED = frozenset({"ENDED", "FILE_GENERATED"})


def _meet_events(
    kind: str,
    resource: Mapping[str, Any],
    space: str,
    options: PayloadOptions,
    **times: datetime | None,
) -> list[Replayed]:
    """The `kind` events of `resource`: one per verb given a time (`started=...`), in order."""
    name = str(resource["name"])
    events = []
    for verb, at in times.items():
        ce_type = f"{MEET}{kind}.v2.{verb}"
        family = MEET_TYPES[ce_type]
        data = {family: shaped(family, resource, ("name",), options)}
        if at is not None:
            ce_id = replay_id(ce_type, name)
            events.append(Replayed(ce_id, ce_type, at, MEET_SUBJECT + space, name, data))
    return events


def conference_events(
    record: Mapping[str, Any], options: PayloadOptions = PayloadOptions()
) -> list[Replayed]:
    """`conference.v2.started` at the record's start, `ended` at its end once it has one."""
    start, end = _time(record.get("startTime")), _time(record.get("endTime"))
    space = str(record.get("space", ""))
    return _meet_events("conference", record, space, options, started=start, ended=end)


def session_events(
    session: Mapping[str, Any], space: str, options: PayloadOptions = PayloadOptions()
) -> list[Replayed]:
    """`participant.v2.joined` at the session's start, `left` at its end once it has one."""
    start, end = _time(session.get("startTime")), _time(session.get("endTime"))
    return _meet_events("participant", session, space, options, joined=start, left=end)


def artifact_events(
    kind: str,
    artifact: Mapping[str, Any],
    space: str,
    options: PayloadOptions = PayloadOptions(),
) -> list[Replayed]:
    """A recording's, transcript's or smart note's (`kind`) `started` at its start time,
    `ended` at its end once its state is ENDED or FILE_GENERATED, and `fileGenerated` once
    its state is FILE_GENERATED: at its end time, as the file's own time is not in the
    resource (docs/replay.md)."""
    state = artifact.get("state")
    start, end = _time(artifact.get("startTime")), _time(artifact.get("endTime"))
    return _meet_events(
        kind,
        artifact,
        space,
        options,
        started=start,
        ended=end if state in _ENDED else None,
        fileGenerated=end if state == "FILE_GENERATED" else None,
    )


def in_window(
    events: Iterable[Replayed], event_types: Iterable[str], start: datetime, end: datetime
) -> list[Replayed]:
    """The events of the subscribed types in (start, end], in event-time order; a
    `fileGenerated` counts from `FILE_GENERATION_MARGIN` before `start`."""
    wanted, early = frozenset(event_types), start - FILE_GENERATION_MARGIN
    kept = [
        e
        for e in events
        if e.ce_type in wanted
        and (early if e.ce_type.endswith(".fileGenerated") else start) < e.time <= end
    ]
    return sorted(kept, key=lambda e: (e.time, _MEET_RANK.get(e.ce_type, 0), e.ce_id))


def meet_space(target: str) -> str | None:
    """The `spaces/S` a Meet target names; None for a user target (all the user's spaces)."""
    if target.startswith(MEET_SPACE_TARGET):
        return target.removeprefix(MEET_SUBJECT)
    if target.startswith(MEET_USER_TARGET):
        return None
    raise ValueError(f"not a Meet target: {target!r}")


def replay_meet(
    meet: MeetClient,
    target: str,
    event_types: Iterable[str],
    start: datetime,
    end: datetime,
    *,
    read: Read,
    options: PayloadOptions = PayloadOptions(),
) -> list[Replayed]:
    """The events of `event_types` the subscription to `target` (a meeting space, or a user's
    spaces) would have received in (start, end], in event-time order, rebuilt from the
    conference records that may hold them. Reads only what the types need: participants and
    their sessions for joined/left, each artifact kind for its own events."""
    wanted = [t for t in event_types if t in MEET_TYPES]
    if not wanted:
        return []
    families = {t.removeprefix(MEET).split(".")[0] for t in wanted}
    space = meet_space(target)
    # A conference that may hold an event of the window began at most a day before it (and
    # an artifact's file may come an hour after it ended).
    flt = conference_records_filter(space, start - MAX_CONFERENCE - FILE_GENERATION_MARGIN, end)
    events: list[Replayed] = []
    for record in _items(read, meet.conference_records_page, flt):
        ended = _time(record.get("endTime"))
        if ended is not None and ended <= start - FILE_GENERATION_MARGIN:
            continue  # over before the window: nothing of it is missed
        name, record_space = str(record["name"]), str(record.get("space", ""))
        events += conference_events(record, options)
        if "participant" in families:
            for participant in _items(read, meet.participants_page, name):
                left = _time(participant.get("latestEndTime"))
                if left is not None and left <= start:
                    continue  # every session of theirs ended before the window
                sessions = _items(read, meet.participant_sessions_page, str(participant["name"]))
                for session in sessions:
                    events += session_events(session, record_space, options)
        for kind in (kind for kind in ARTIFACT_KINDS if kind in families):
            for artifact in _items(read, meet.artifacts_page, kind, name):
                events += artifact_events(kind, artifact, record_space, options)
    return in_window(events, wanted, start, end)


# -- Drive --------------------------------------------------------------------------------

FILE = DRIVE + "file.v3."
# The one mapping from Drive Activity actions to Drive event types (docs/replay.md, Drive: the
# events-drive page's table and the `ActionDetail` schema of the bundled driveactivity.v2
# document). Key: the action detail's field and, for delete and restore, its `type`. Value:
# the event types it is, by preference (Google's pages spell a file's creation both ways).
DRIVE_ACTIONS: dict[tuple[str, str | None], tuple[str, ...]] = {
    ("create", None): (FILE + "created", FILE + "added"),
    ("edit", None): (FILE + "contentChanged",),
    ("move", None): (FILE + "moved",),
    ("rename", None): (FILE + "renamed",),
    ("delete", "TRASH"): (FILE + "trashed",),
    ("delete", "PERMANENT_DELETE"): (FILE + "deleted",),
    ("restore", "UNTRASH"): (FILE + "untrashed",),
}
# Actions that stand for events of these families but cannot be rebuilt as them exactly
# (docs/replay.md): a permission change names who gained or lost access, not the permission's
# id; a comment action carries legacy ids, not the Drive API's comment and reply ids, and has
# no subtype for an edit. (A delete or restore of a type the table does not know is unmapped
# too, when a type of its own is subscribed.)
DRIVE_UNMAPPED: dict[str, frozenset[str]] = {
    "permissionChange": frozenset({"permission"}),
    "comment": frozenset({"comment", "reply"}),
}


def drive_family(event_type: str) -> str:
    """`google.workspace.drive.accessProposal.v3.created` -> `accessproposal`."""
    return event_type.removeprefix(DRIVE).split(".")[0].lower()


def action_case(field: str) -> str:
    """An `ActionDetail` field as the filter names its case: `permissionChange` ->
    `PERMISSION_CHANGE`."""
    return re.sub(r"(?<!^)(?=[A-Z])", "_", field).upper()


def drive_action_cases(event_types: Iterable[str]) -> list[str]:
    """The action detail cases to query for `event_types`: those that map to one of them, and
    those that stand for one of their families without an exact mapping."""
    wanted = frozenset(event_types)
    fields = [*(field for field, _ in DRIVE_ACTIONS), *DRIVE_UNMAPPED]
    return [action_case(f) for f in dict.fromkeys(fields) if _stands_for(f, wanted)]


def _stands_for(field: str, wanted: frozenset[str]) -> bool:
    """Whether an action of `field` may be one of the `wanted` events."""
    if field in DRIVE_UNMAPPED:
        families = {drive_family(t) for t in wanted if t.startswith(DRIVE)}
        return bool(families & DRIVE_UNMAPPED[field])
    return any(wanted.intersection(types) for (f, _), types in DRIVE_ACTIONS.items() if f == field)


def _action_time(action: Mapping[str, Any], activity: Mapping[str, Any]) -> datetime | None:
    for holder in (action, activity):
        at = _time(holder.get("timestamp")) or _time((holder.get("timeRange") or {}).get("endTime"))
        if at is not None:
            return at
    return None


def _drive_item(target: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """The Drive item a target is, or is on (a comment's file)."""
    item = target.get("driveItem") or (target.get("fileComment") or {}).get("parent")
    return item if isinstance(item, Mapping) and item.get("name") else None


def drive_events(
    activities: Iterable[Mapping[str, Any]],
    event_types: Iterable[str],
    options: PayloadOptions = PayloadOptions(),
) -> DriveReplay:
    """The events of `event_types` that Drive Activity's `activities` stand for, one per
    action and item, in event-time order; and the actions of a subscribed family that cannot
    be rebuilt exactly, apart."""
    wanted = frozenset(event_types)
    events: list[Replayed] = []
    unmapped: list[Unmapped] = []
    for activity in activities:
        for action in activity.get("actions") or ():
            detail = action.get("detail") or {}
            if len(detail) != 1:
                continue  # ActionDetail is a oneof: exactly one field
            ((field, value),) = detail.items()
            at = _action_time(action, activity)
            subtype = value.get("type") if field in ("delete", "restore") else None
            mapped = [t for t in DRIVE_ACTIONS.get((field, subtype), ()) if t in wanted]
            unmappable = not mapped and _stands_for(field, wanted)
            if at is None or not (mapped or unmappable):
                continue
            targets = [action["target"]] if action.get("target") else activity.get("targets", [])
            for item in filter(None, map(_drive_item, targets)):
                if mapped:
                    events.append(_file_event(mapped[0], at, item, value, options))
                else:
                    unmapped.append(Unmapped(str(item["name"]), action_case(field), at))
    events.sort(key=lambda e: (e.time, e.ce_id))
    unmapped.sort(key=lambda u: (u.time, u.item, u.action))
    return DriveReplay(events, unmapped)


def _file_event(
    ce_type: str,
    at: datetime,
    item: Mapping[str, Any],
    detail: Mapping[str, Any],
    options: PayloadOptions,
) -> Replayed:
    """A file event as the events-drive page shows it: `{"file": {"id": ...}}`, with the
    resource the fields Drive Activity knows (`mimeType`; `parent` for a move). A file's
    `version` is not in Drive Activity."""
    file_id = str(item["name"]).removeprefix("items/")
    resource: dict[str, Any] = {"id": file_id}
    parents = [_drive_item(p) for p in detail.get("addedParents") or ()]
    parent = next((p for p in parents if p is not None), None)
    if parent is not None:
        resource["parent"] = str(parent["name"]).removeprefix("items/")
    if item.get("mimeType"):
        resource["mimeType"] = item["mimeType"]
    name = f"files/{file_id}"
    data = {"file": shaped("file", resource, ("id",), options)}
    return Replayed(replay_id(ce_type, name, at), ce_type, at, DRIVE_SUBJECT + name, name, data)


def drive_query_scope(target: str, include_descendants: bool | None) -> dict[str, str]:
    """The `activity.query` scope of a Drive target: the file itself (`itemName`), or the
    folder or shared drive and everything under it (`ancestorName`)."""
    if target.startswith(DRIVE_FILE_TARGET):
        item = "items/" + target.removeprefix(DRIVE_FILE_TARGET)
        return {"ancestor_name" if include_descendants else "item_name": item}
    if target.startswith(DRIVE_SHARED_TARGET):
        return {"ancestor_name": "items/" + target.removeprefix(DRIVE_SHARED_TARGET)}
    raise ValueError(f"not a Drive target: {target!r}")


def replay_drive(
    drive: DriveActivityClient,
    target: str,
    event_types: Iterable[str],
    start: datetime,
    end: datetime,
    *,
    include_descendants: bool | None,
    read: Read,
    options: PayloadOptions = PayloadOptions(),
) -> DriveReplay:
    """The events of `event_types` the subscription to `target` would have received in
    (start, end], in event-time order, rebuilt from Drive Activity (only the action types
    they need), and the subscribed actions that cannot be rebuilt exactly."""
    types = list(event_types)
    cases = drive_action_cases(types)
    if not cases:
        return DriveReplay([], [])
    scope = drive_query_scope(target, include_descendants)
    flt = activity_filter(start, end, cases)
    activities = _items(read, drive.query_page, **scope, filter=flt)
    found = drive_events(activities, types, options)
    # An action inside an activity may carry its own time: keep the window's bounds exact.
    return DriveReplay(
        [e for e in found.events if start < e.time <= end],
        [u for u in found.unmapped if start < u.time <= end],
    )
