"""The Meet side of the emulator: conference records, participants and their sessions,
recordings, transcripts and smart notes, served as the Meet REST API v2 serves them (the
bundled `meet.v2` discovery document: filters, paging, newest first, records kept 30 days after
the conference ends) and delivered live as Google's Meet events (events-meet page: the data
names the resource).

One record of activity, made by the control surface (start and end conferences, join and
leave, start, end and generate artifacts): every change is kept, and delivered at once to the
ACTIVE subscriptions of its meeting space or of the space's owner (docs/replay.md).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, TypeVar

from emulator.auth import Principal, stable_number
from emulator.delivery import deliver
from emulator.errors import ApiError, invalid_argument
from emulator.paging import next_page_token, page_position
from emulator.timefmt import format_time, parse_time

_T = TypeVar("_T")

if TYPE_CHECKING:
    from emulator.store import State
    from emulator.subscriptions import Subscription

MEET_SOURCE = "//meet.googleapis.com/"
USER_TARGET = "//cloudidentity.googleapis.com/"
EVENT = "google.workspace.meet."
RETENTION = timedelta(days=30)  # ConferenceRecord.expireTime: 30 days after the end
READ_SCOPES = frozenset({"meetings.space.created", "meetings.space.readonly"})
# The artifact kinds and their collections (the discovery document's resources).
ARTIFACTS = {"recording": "recordings", "transcript": "transcripts", "smartNote": "smartNotes"}
_STATES = ("STARTED", "ENDED", "FILE_GENERATED")
_SPACE = re.compile(r"^spaces/[A-Za-z0-9_-]+$")
# (default, maximum) page sizes, as the discovery document states them per method.
_PAGE_SIZES = {
    "conferenceRecords": (25, 100),
    "participants": (100, 250),
    "participantSessions": (100, 250),
    "artifacts": (10, 100),
}


def require_scope(principal: Principal, allowed: frozenset[str]) -> None:
    """403 ACCESS_TOKEN_SCOPE_INSUFFICIENT unless the token holds one of the method's scopes
    (a token without scopes holds every scope, as emulator.scopes)."""
    if principal.scopes is None or not principal.scopes.isdisjoint(allowed):
        return
    raise ApiError(
        "PERMISSION_DENIED",
        "Request had insufficient authentication scopes.",
        reason="ACCESS_TOKEN_SCOPE_INSUFFICIENT",
    )


def not_found(name: str) -> ApiError:
    return ApiError("NOT_FOUND", f"Requested entity was not found: {name}.", reason="NOT_FOUND")


# -- the filter grammar of the list methods -------------------------------------------------

_TERM = re.compile(
    r'^(?P<field>[a-z_.]+)\s*(?:(?P<op><=|>=|!=|=|<|>)\s*"(?P<value>[^"\\]*)"'
    r"|\s+IS\s+(?P<negated>NOT\s+)?NULL)$"
)
_COMPARE: dict[str, Callable[[Any, Any], bool]] = {
    "=": lambda a, b: a == b,
    "!=": lambda a, b: a != b,
    "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b,
    ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b,
}


@dataclass(frozen=True)
class Condition:
    field: str
    op: str  # a comparison, or "IS NULL" / "IS NOT NULL"
    value: str | datetime | None

    def holds(self, values: Mapping[str, str | datetime | None]) -> bool:
        actual = values.get(self.field)
        if self.op == "IS NULL":
            return actual is None
        if self.op == "IS NOT NULL":
            return actual is not None
        return actual is not None and _COMPARE[self.op](actual, self.value)


def parse_filter(text: str | None, fields: Mapping[str, bool]) -> list[Condition]:
    """`field op "value"` or `field IS [NOT] NULL` terms joined by AND, as the discovery
    document's examples write them; `fields` maps each filterable field to whether it is a
    timestamp (compared in time) or a string (= and != only). Anything else is 400."""
    conditions: list[Condition] = []
    for term in re.split(r"\s+AND\s+", text.strip()) if text and text.strip() else []:
        match = _TERM.fullmatch(term.strip())
        if match is None or match["field"] not in fields:
            raise invalid_argument(f"Invalid filter: {term!r}.", field="filter")
        name, is_time = match["field"], fields[match["field"]]
        if match["op"] is None:
            op = "IS NOT NULL" if match["negated"] else "IS NULL"
            conditions.append(Condition(name, op, None))
            continue
        if not is_time and match["op"] not in ("=", "!="):
            raise invalid_argument(f"Invalid filter: {term!r}.", field="filter")
        try:
            value: str | datetime = parse_time(match["value"]) if is_time else match["value"]
        except ValueError:
            raise invalid_argument(
                f"Invalid timestamp in filter: {term!r}.", field="filter"
            ) from None
        conditions.append(Condition(name, match["op"], value))
    return conditions


def page_of(
    items: list[dict[str, Any]],
    field: str,
    sizes: tuple[int, int],
    page_size: int | None,
    page_token: str | None,
    request_key: str,
) -> dict[str, Any]:
    """One page of `items` (already filtered and ordered): the default size when unset, larger
    sizes coerced to the maximum, and a token bound to the request."""
    if page_size is not None and page_size < 0:
        raise invalid_argument("page_size must not be negative.", field="page_size")
    default, largest = sizes
    size = min(page_size or default, largest)
    digest = hashlib.sha256(request_key.encode()).hexdigest()[:16]
    offset = page_position(page_token, digest)
    response: dict[str, Any] = {}
    page = items[offset : offset + size]
    if page:
        response[field] = page
    if offset + size < len(items):
        response["nextPageToken"] = next_page_token(digest, offset + size)
    return response


def _filtered(
    items: Iterable[_T],
    filter_text: str | None,
    fields: Mapping[str, bool],
    values: Callable[[_T], Mapping[str, Any]],
) -> list[_T]:
    """The items whose `values` meet every condition of a list method's filter."""
    conditions = parse_filter(filter_text, fields)
    return [item for item in items if all(c.holds(values(item)) for c in conditions)]


def _page(
    kept: Sequence[Any],
    field: str,
    method: str,
    page_size: int | None,
    page_token: str | None,
    request_key: str,
) -> dict[str, Any]:
    """`page_of` the kept resources at `method`'s page sizes."""
    items = [resource.to_json() for resource in kept]
    return page_of(items, field, _PAGE_SIZES[method], page_size, page_token, request_key)


# -- the record of activity -----------------------------------------------------------------


@dataclass
class Conference:
    id: str
    space: str
    owner: str | None  # users/ID: the space's owner, whose user subscriptions see it
    start: datetime
    end: datetime | None = None

    @property
    def name(self) -> str:
        return f"conferenceRecords/{self.id}"

    def to_json(self) -> dict[str, Any]:
        resource = {"name": self.name, "startTime": format_time(self.start)}
        if self.end is not None:
            resource["endTime"] = format_time(self.end)
            resource["expireTime"] = format_time(self.end + RETENTION)
        resource["space"] = self.space
        return resource


@dataclass
class Session:
    participant: str  # conferenceRecords/C/participants/P
    id: str
    start: datetime
    end: datetime | None = None

    @property
    def name(self) -> str:
        return f"{self.participant}/participantSessions/{self.id}"

    def to_json(self) -> dict[str, Any]:
        resource = {"name": self.name, "startTime": format_time(self.start)}
        if self.end is not None:
            resource["endTime"] = format_time(self.end)
        return resource


@dataclass
class Participant:
    record: str  # conferenceRecords/C
    id: str
    user: str  # users/ID
    display_name: str
    sessions: list[Session] = field(default_factory=list)

    @property
    def name(self) -> str:
        return f"{self.record}/participants/{self.id}"

    @property
    def earliest_start(self) -> datetime:
        return min(s.start for s in self.sessions)

    @property
    def latest_end(self) -> datetime | None:
        ends = [s.end for s in self.sessions]
        return None if any(e is None for e in ends) else max(e for e in ends if e is not None)

    def to_json(self) -> dict[str, Any]:
        resource: dict[str, Any] = {
            "name": self.name,
            "earliestStartTime": format_time(self.earliest_start),
            "signedinUser": {"user": self.user, "displayName": self.display_name},
        }
        if self.latest_end is not None:
            resource["latestEndTime"] = format_time(self.latest_end)
        return resource


@dataclass
class Artifact:
    kind: str  # recording, transcript, smartNote
    record: str
    id: str
    start: datetime
    end: datetime | None = None
    state: str = "STARTED"

    @property
    def name(self) -> str:
        return f"{self.record}/{ARTIFACTS[self.kind]}/{self.id}"

    def to_json(self) -> dict[str, Any]:
        resource: dict[str, Any] = {
            "name": self.name,
            "state": self.state,
            "startTime": format_time(self.start),
        }
        if self.end is not None:
            resource["endTime"] = format_time(self.end)
        if self.state == "FILE_GENERATED":
            file_id = f"f{stable_number(self.name)}"
            if self.kind == "recording":
                resource["driveDestination"] = {
                    "file": file_id,
                    "exportUri": f"https://drive.google.com/file/d/{file_id}/view",
                }
            else:
                resource["docsDestination"] = {
                    "document": file_id,
                    "exportUri": f"https://docs.google.com/document/d/{file_id}/view",
                }
        return resource


@dataclass
class MeetRecords:
    """Everything that happened in Meet, by resource name."""

    conferences: dict[str, Conference] = field(default_factory=dict)
    participants: dict[str, Participant] = field(default_factory=dict)
    sessions: dict[str, Session] = field(default_factory=dict)
    artifacts: dict[str, Artifact] = field(default_factory=dict)
    events: int = 0  # live events made, for their ids


class Meet:
    """The Meet REST API's conference records and the control calls that make them; each
    public method takes the shared lock."""

    def __init__(self, state: State) -> None:
        self.state = state

    @property
    def records(self) -> MeetRecords:
        return self.state.store.meet

    # -- reads --------------------------------------------------------------------------

    def list_conference_records(
        self,
        principal: Principal,
        filter_text: str | None,
        page_size: int | None,
        page_token: str | None,
    ) -> dict[str, Any]:
        """Newest start first; `space.name`, `space.meeting_code`, `start_time`, `end_time`
        filterable. [unverified] Google lists the records the caller may see; the emulator has
        no access model for Meet and lists every record kept."""
        with self.state.lock:
            require_scope(principal, READ_SCOPES)
            kept = _filtered(
                self._visible(),
                filter_text,
                {"space.name": False, "space.meeting_code": False, "start_time": True,
                 "end_time": True},
                lambda c: {"space.name": c.space, "space.meeting_code": None,
                           "start_time": c.start, "end_time": c.end},
            )  # fmt: skip
            kept.sort(key=lambda c: (c.start, c.id), reverse=True)
            return _page(kept, "conferenceRecords", "conferenceRecords", page_size, page_token,
                         f"{principal.key}\n{filter_text}")  # fmt: skip

    def get_conference_record(self, principal: Principal, name: str) -> dict[str, Any]:
        with self.state.lock:
            require_scope(principal, READ_SCOPES)
            return self._conference(name).to_json()

    def list_participants(
        self,
        principal: Principal,
        parent: str,
        filter_text: str | None,
        page_size: int | None,
        page_token: str | None,
    ) -> dict[str, Any]:
        """Latest join first; `earliest_start_time`, `latest_end_time` filterable."""
        with self.state.lock:
            require_scope(principal, READ_SCOPES)
            self._conference(parent)
            kept = _filtered(
                (p for p in self.records.participants.values() if p.record == parent),
                filter_text,
                {"earliest_start_time": True, "latest_end_time": True},
                lambda p: {
                    "earliest_start_time": p.earliest_start,
                    "latest_end_time": p.latest_end,
                },
            )
            kept.sort(key=lambda p: (p.earliest_start, p.id), reverse=True)
            return _page(kept, "participants", "participants", page_size, page_token,
                         f"{principal.key}\n{parent}\n{filter_text}")  # fmt: skip

    def get_participant(self, principal: Principal, name: str) -> dict[str, Any]:
        with self.state.lock:
            require_scope(principal, READ_SCOPES)
            participant = self.records.participants.get(name)
            if participant is None:
                raise not_found(name)
            self._conference(participant.record)
            return participant.to_json()

    def list_participant_sessions(
        self,
        principal: Principal,
        parent: str,
        filter_text: str | None,
        page_size: int | None,
        page_token: str | None,
    ) -> dict[str, Any]:
        """Latest join first; `start_time`, `end_time` filterable."""
        with self.state.lock:
            require_scope(principal, READ_SCOPES)
            participant = self.records.participants.get(parent)
            if participant is None:
                raise not_found(parent)
            self._conference(participant.record)
            kept = _filtered(
                participant.sessions,
                filter_text,
                {"start_time": True, "end_time": True},
                lambda s: {"start_time": s.start, "end_time": s.end},
            )
            kept.sort(key=lambda s: (s.start, s.id), reverse=True)
            return _page(kept, "participantSessions", "participantSessions", page_size,
                         page_token, f"{principal.key}\n{parent}\n{filter_text}")  # fmt: skip

    def get_participant_session(self, principal: Principal, name: str) -> dict[str, Any]:
        with self.state.lock:
            require_scope(principal, READ_SCOPES)
            session = self.records.sessions.get(name)
            if session is None:
                raise not_found(name)
            self._conference(session.participant.split("/participants/")[0])
            return session.to_json()

    def list_artifacts(
        self,
        principal: Principal,
        kind: str,
        parent: str,
        page_size: int | None,
        page_token: str | None,
    ) -> dict[str, Any]:
        """The recordings, transcripts or smart notes of a record, in the order they began."""
        with self.state.lock:
            require_scope(principal, READ_SCOPES)
            self._conference(parent)
            kept = [
                a for a in self.records.artifacts.values() if a.record == parent and a.kind == kind
            ]
            kept.sort(key=lambda a: (a.start, a.id))
            return _page(kept, ARTIFACTS[kind], "artifacts", page_size, page_token,
                         f"{principal.key}\n{kind}\n{parent}")  # fmt: skip

    def get_artifact(self, principal: Principal, name: str) -> dict[str, Any]:
        with self.state.lock:
            require_scope(principal, READ_SCOPES)
            artifact = self.records.artifacts.get(name)
            if artifact is None:
                raise not_found(name)
            self._conference(artifact.record)
            return artifact.to_json()

    def _visible(self) -> list[Conference]:
        now = self.state.clock.now()
        return [
            c for c in self.records.conferences.values() if c.end is None or c.end + RETENTION > now
        ]

    def _conference(self, name: str) -> Conference:
        """A record kept (within 30 days of its end), or 404."""
        conference = self.records.conferences.get(name)
        if conference is None or conference not in self._visible():
            raise not_found(name)
        return conference

    # -- the control surface -------------------------------------------------------------

    def start_conference(self, space: str, owner: str | None = None) -> dict[str, Any]:
        """A conference begins in `space` now (`owner`, `users/ID`, owns the space)."""
        with self.state.lock:
            if not _SPACE.fullmatch(space):
                raise invalid_argument(f"Invalid space name {space!r}: expected spaces/SPACE.")
            if owner is not None and not re.fullmatch(r"users/[^/]+", owner):
                raise invalid_argument(f"Invalid owner {owner!r}: expected users/ID.")
            if any(c.space == space and c.end is None for c in self.records.conferences.values()):
                raise ApiError("FAILED_PRECONDITION", f"A conference is already on in {space}.")
            now = self.state.clock.now()
            number = len(self.records.conferences) + 1
            conference = Conference(f"c{stable_number(f'{space}:{number}')}", space, owner, now)
            self.records.conferences[conference.name] = conference
            return self._announce("conference.v2.started", conference, conference, now)

    def end_conference(self, name: str) -> dict[str, Any]:
        """The conference ends now: everyone still in it leaves first, and every artifact
        still running ends."""
        with self.state.lock:
            conference = self._live(name)
            now = self.state.clock.now()
            deliveries = []
            for session in list(self.records.sessions.values()):
                if session.end is None and session.participant.startswith(name + "/"):
                    session.end = now
                    deliveries += self._announce("participant.v2.left", conference, session, now)[
                        "deliveries"
                    ]
            for artifact in self.records.artifacts.values():
                if artifact.record == name and artifact.state == "STARTED":
                    artifact.end, artifact.state = now, "ENDED"
                    deliveries += self._announce(
                        f"{artifact.kind}.v2.ended", conference, artifact, now
                    )["deliveries"]
            conference.end = now
            ended = self._announce("conference.v2.ended", conference, conference, now)
            return {**ended, "deliveries": deliveries + ended["deliveries"]}

    def join(self, record: str, user: str, display_name: str | None = None) -> dict[str, Any]:
        """`user` (`users/ID`) joins the conference now: a new session (a participant once per
        user)."""
        with self.state.lock:
            conference = self._live(record)
            if not re.fullmatch(r"users/[^/]+", user):
                raise invalid_argument(f"Invalid user {user!r}: expected users/ID.")
            participant_name = f"{record}/participants/p{stable_number(user)}"
            participant = self.records.participants.get(participant_name)
            if participant is None:
                participant = Participant(
                    record, f"p{stable_number(user)}", user, display_name or user
                )
                self.records.participants[participant_name] = participant
            if any(s.end is None for s in participant.sessions):
                raise ApiError("FAILED_PRECONDITION", f"{user} is already in {record}.")
            now = self.state.clock.now()
            number = len(self.records.sessions) + 1
            session = Session(participant_name, f"s{number}", now)
            participant.sessions.append(session)
            self.records.sessions[session.name] = session
            return self._announce("participant.v2.joined", conference, session, now)

    def leave(self, session_name: str) -> dict[str, Any]:
        with self.state.lock:
            session = self.records.sessions.get(session_name)
            if session is None or session.end is not None:
                raise invalid_argument(f"No session {session_name!r} is on.")
            conference = self._live(session.participant.split("/participants/")[0])
            session.end = self.state.clock.now()
            return self._announce("participant.v2.left", conference, session, session.end)

    def start_artifact(self, record: str, kind: str) -> dict[str, Any]:
        """A recording, transcript or smart note (`kind`) begins now."""
        with self.state.lock:
            conference = self._live(record)
            if kind not in ARTIFACTS:
                raise invalid_argument(f"kind must be one of {', '.join(ARTIFACTS)}.")
            now = self.state.clock.now()
            number = len(self.records.artifacts) + 1
            artifact = Artifact(kind, record, f"a{number}", now)
            self.records.artifacts[artifact.name] = artifact
            return self._announce(f"{kind}.v2.started", conference, artifact, now)

    def end_artifact(self, name: str, generate_file: bool = False) -> dict[str, Any]:
        """The artifact stops now; with `generate_file` its file is generated at once too."""
        with self.state.lock:
            artifact = self._artifact(name, "STARTED")
            conference = self.records.conferences[artifact.record]
            now = self.state.clock.now()
            artifact.end, artifact.state = now, "ENDED"
            ended = self._announce(f"{artifact.kind}.v2.ended", conference, artifact, now)
            if not generate_file:
                return ended
            generated = self.generate_file(name)
            return {**generated, "deliveries": ended["deliveries"] + generated["deliveries"]}

    def generate_file(self, name: str) -> dict[str, Any]:
        """The artifact's file is ready now (it must have ended)."""
        with self.state.lock:
            artifact = self._artifact(name, "ENDED")
            conference = self.records.conferences[artifact.record]
            artifact.state = "FILE_GENERATED"
            now = self.state.clock.now()
            return self._announce(f"{artifact.kind}.v2.fileGenerated", conference, artifact, now)

    def _live(self, name: str) -> Conference:
        conference = self.records.conferences.get(name)
        if conference is None or conference.end is not None:
            raise invalid_argument(f"No conference {name!r} is on.")
        return conference

    def _artifact(self, name: str, state: str) -> Artifact:
        artifact = self.records.artifacts.get(name)
        if artifact is None or artifact.state != state:
            raise invalid_argument(f"No artifact {name!r} in state {state}.")
        return artifact

    def _announce(
        self,
        event: str,
        conference: Conference,
        resource: Conference | Session | Artifact,
        at: datetime,
    ) -> dict[str, Any]:
        """Deliver `google.workspace.meet.<event>` about `resource` to the subscriptions of
        the conference's space and of its owner: data `{family: {"name": ...}}`, or with
        `includeResource` the resource (events-meet page)."""
        self.records.events += 1
        family = {Conference: "conferenceRecord", Session: "participantSession"}.get(
            type(resource), getattr(resource, "kind", "")
        )
        targets = {MEET_SOURCE + conference.space}
        if conference.owner is not None:
            targets.add(USER_TARGET + conference.owner)

        def takes(subscription: Subscription) -> bool:
            return (
                subscription.target_resource in targets
                and EVENT + event in subscription.event_types
            )

        def data_for(options: Mapping[str, Any]) -> Mapping[str, Any]:
            full = resource.to_json()
            return {family: full if options.get("includeResource") else {"name": full["name"]}}

        deliveries = deliver(
            self.state,
            event_id=f"meet{stable_number(f'{self.records.events}:{event}:{resource.name}')}",
            event_type=EVENT + event,
            subject=MEET_SOURCE + conference.space,
            at=at,
            takes=takes,
            data_for=data_for,
        )
        return {"eventType": EVENT + event, family: resource.to_json(), "deliveries": deliveries}
