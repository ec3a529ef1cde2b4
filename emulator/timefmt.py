"""Time as proto3 JSON writes it, read as strictly as Google's front end reads it.

Writing and Durations are the client's own protobuf-based helpers; reading a timestamp is
protobuf's reader as it is, because the client takes a timestamp without an offset as UTC
where Google refuses it.
"""

from __future__ import annotations

from datetime import UTC, datetime

from google.protobuf.timestamp_pb2 import Timestamp

from workspace_client.models import format_timestamp as format_time
from workspace_client.models import parse_duration as parse_duration

__all__ = ["format_time", "parse_duration", "parse_time"]


def parse_time(text: str) -> datetime:
    """An RFC 3339 timestamp with its offset, as aware UTC; ValueError otherwise."""
    stamp = Timestamp()
    stamp.FromJsonString(text)
    return stamp.ToDatetime(tzinfo=UTC)
