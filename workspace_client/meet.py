"""The Google Meet REST API v2 client (`meet.v2`): the read methods a replay of missed Meet
events needs (conference records and their participants, participant sessions, recordings,
transcripts and smart notes). One request per call, so that a caller paces and retries each
read (docs/replay.md)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from workspace_client.client import GoogleApiClient
from workspace_client.models import quoted, time_terms

DEFAULT_MEET_ENDPOINT = "https://meet.googleapis.com/"
# Each list method's largest page (the discovery document's; larger values are coerced to it).
_RECORDS_PAGE, _PEOPLE_PAGE = 100, 250
# The artifacts of a conference record, by the live event family that announces them
# (`google.workspace.meet.recording.v2.fileGenerated`, ...), to their collection: all three are
# in the bundled document (revision 20261029), smart notes included.
ARTIFACT_KINDS = {"recording": "recordings", "transcript": "transcripts", "smartNote": "smartNotes"}


def conference_records_filter(
    space: str | None = None,
    started_after: datetime | None = None,
    started_before: datetime | None = None,
) -> str:
    """A `conferenceRecords.list` filter: the space (`space.name = "spaces/S"`) and bounds on
    `start_time` (both inclusive), joined by AND, as the discovery document's examples write
    them; empty for no condition."""
    parts = [] if space is None else [f"space.name = {quoted(space)}"]
    parts += time_terms(("start_time >= ", started_after), ("start_time <= ", started_before))
    return " AND ".join(parts)


Page = tuple[list[dict[str, Any]], str | None]


class MeetClient(GoogleApiClient):
    """Reads Meet conference records as one principal; see `GoogleApiClient` for the
    arguments. Every `*_page` method is one request and returns the page's resources as the
    API returns them (camelCase JSON) and the next page's token (None: the last)."""

    default_endpoint = DEFAULT_MEET_ENDPOINT
    api = ("meet", "v2")

    def conference_records_page(self, filter: str = "", page_token: str | None = None) -> Page:
        """`conferenceRecords.list`: newest start first (the method's default order); build
        `filter` with `conference_records_filter`."""
        return self._page(
            "conferenceRecords.list",
            filter=filter or None,
            pageSize=_RECORDS_PAGE,
            pageToken=page_token,
        )

    def participants_page(self, conference_record: str, page_token: str | None = None) -> Page:
        """`conferenceRecords.participants.list` of `conferenceRecords/C`."""
        return self._children("participants", conference_record, _PEOPLE_PAGE, page_token)

    def participant_sessions_page(self, participant: str, page_token: str | None = None) -> Page:
        """`...participants.participantSessions.list` of `conferenceRecords/C/participants/P`."""
        collection = "participants.participantSessions"
        return self._children(collection, participant, _PEOPLE_PAGE, page_token)

    def artifacts_page(
        self, kind: str, conference_record: str, page_token: str | None = None
    ) -> Page:
        """The recordings, transcripts or smart notes (`kind`, a key of `ARTIFACT_KINDS`) of
        `conferenceRecords/C`."""
        collection = ARTIFACT_KINDS[kind]
        return self._children(collection, conference_record, _RECORDS_PAGE, page_token)

    def _children(self, collection: str, parent: str, size: int, token: str | None) -> Page:
        method = f"conferenceRecords.{collection}.list"
        return self._page(method, parent=parent, pageSize=size, pageToken=token)
