"""Time as Google's responses write it, read as strictly as Google's front end reads it.

Durations are the client's own protobuf-based helper; reading a timestamp is protobuf's reader
as it is, because the client takes a timestamp without an offset as UTC where Google refuses
it.
"""

from __future__ import annotations

from datetime import UTC, datetime

from google.protobuf.timestamp_pb2 import Timestamp

from workspace_client.models import parse_duration as parse_duration

__all__ = ["format_time", "parse_duration", "parse_time"]


def format_time(value: datetime) -> str:
    """RFC 3339 in UTC with microseconds, as Google's responses and events carry them (the
    overview page's `ce-time` "2023-09-07T21:37:53.274191Z"; docs/api-reference.md §10)."""
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_time(text: str) -> datetime:
    """An RFC 3339 timestamp with its offset, as aware UTC; ValueError otherwise."""
    stamp = Timestamp()
    stamp.FromJsonString(text)
    return stamp.ToDatetime(tzinfo=UTC)
