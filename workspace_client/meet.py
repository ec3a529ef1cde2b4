"""The Google Meet REST API v2 client: the read methods a replay of missed Meet events needs
(conference records and their participants, participant sessions, recordings, transcripts and
smart notes), built on the bundled `meet.v2` discovery document (static discovery) like the
Workspace Events client, and sent through the same request choke point
(`GoogleApiClient._execute`). One request per call, so that a caller paces and retries each
read (docs/replay.md)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from workspace_client.client import GoogleApiClient, build_service
from workspace_client.models import format_timestamp

__all__ = [
    "ARTIFACT_KINDS",
    "DEFAULT_MEET_ENDPOINT",
    "MeetClient",
    "conference_records_filter",
]

DEFAULT_MEET_ENDPOINT = "https://meet.googleapis.com/"


@dataclass(frozen=True)
class _ListMethod:
    """One list method of the discovery document: its resource path, the response field
    holding the items, and its largest page (values above are coerced to it)."""

    method: str
    field: str
    max_page_size: int


_CONFERENCES = _ListMethod("conferenceRecords.list", "conferenceRecords", 100)
_PARTICIPANTS = _ListMethod("conferenceRecords.participants.list", "participants", 250)
_SESSIONS = _ListMethod(
    "conferenceRecords.participants.participantSessions.list", "participantSessions", 250
)
# The artifacts of a conference record, by the live event family that announces them
# (`google.workspace.meet.recording.v2.fileGenerated`, ...): all three are in the bundled
# document (revision 20261029), smart notes included.
ARTIFACT_KINDS: dict[str, _ListMethod] = {
    "recording": _ListMethod("conferenceRecords.recordings.list", "recordings", 100),
    "transcript": _ListMethod("conferenceRecords.transcripts.list", "transcripts", 100),
    "smartNote": _ListMethod("conferenceRecords.smartNotes.list", "smartNotes", 100),
}


def _quoted(value: str) -> str:
    if '"' in value or "\\" in value:
        raise ValueError(f"cannot be used in a filter: {value!r}")
    return f'"{value}"'


def conference_records_filter(
    space: str | None = None,
    started_after: datetime | None = None,
    started_before: datetime | None = None,
) -> str:
    """A `conferenceRecords.list` filter: the space (`space.name = "spaces/S"`) and bounds on
    `start_time` (both inclusive), joined by AND, as the discovery document's examples write
    them; empty for no condition."""
    parts = []
    if space is not None:
        parts.append(f"space.name = {_quoted(space)}")
    if started_after is not None:
        parts.append(f'start_time >= "{format_timestamp(started_after)}"')
    if started_before is not None:
        parts.append(f'start_time <= "{format_timestamp(started_before)}"')
    return " AND ".join(parts)


class MeetClient(GoogleApiClient):
    """Reads Meet conference records as one principal; see `GoogleApiClient` for the
    arguments. Every `*_page` method is one request and returns the page's resources as the
    API returns them (camelCase JSON) and the next page's token (None: the last)."""

    def __init__(
        self, credentials: Any, *, endpoint: str = DEFAULT_MEET_ENDPOINT, **options: Any
    ) -> None:
        super().__init__(credentials, endpoint=endpoint, **options)

    def conference_records_page(
        self, filter: str = "", page_token: str | None = None
    ) -> tuple[list[dict[str, Any]], str | None]:
        """`conferenceRecords.list`: newest start first (the method's default order); build
        `filter` with `conference_records_filter`."""
        request = self._records().list(
            filter=filter or None, pageSize=_CONFERENCES.max_page_size, pageToken=page_token
        )
        return self._page(_CONFERENCES.method, _CONFERENCES.field, request)

    def participants_page(
        self, conference_record: str, page_token: str | None = None
    ) -> tuple[list[dict[str, Any]], str | None]:
        """`conferenceRecords.participants.list` of `conferenceRecords/C`."""
        request = (
            self._records()
            .participants()
            .list(
                parent=conference_record, pageSize=_PARTICIPANTS.max_page_size, pageToken=page_token
            )
        )
        return self._page(_PARTICIPANTS.method, _PARTICIPANTS.field, request)

    def participant_sessions_page(
        self, participant: str, page_token: str | None = None
    ) -> tuple[list[dict[str, Any]], str | None]:
        """`...participants.participantSessions.list` of `conferenceRecords/C/participants/P`."""
        request = (
            self._records()
            .participants()
            .participantSessions()
            .list(parent=participant, pageSize=_SESSIONS.max_page_size, pageToken=page_token)
        )
        return self._page(_SESSIONS.method, _SESSIONS.field, request)

    def artifacts_page(
        self, kind: str, conference_record: str, page_token: str | None = None
    ) -> tuple[list[dict[str, Any]], str | None]:
        """The recordings, transcripts or smart notes (`kind`, a key of `ARTIFACT_KINDS`) of
        `conferenceRecords/C`."""
        method = ARTIFACT_KINDS[kind]
        collection = getattr(self._records(), method.field)()
        request = collection.list(
            parent=conference_record, pageSize=method.max_page_size, pageToken=page_token
        )
        return self._page(method.method, method.field, request)

    def _records(self) -> Any:
        return build_service("meet", "v2", self.endpoint).conferenceRecords()
