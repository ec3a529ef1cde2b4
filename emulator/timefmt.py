"""RFC 3339 timestamps and protobuf Duration strings, as proto3 JSON writes and reads them."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone

_TIMESTAMP = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?([Zz]|[+-]\d{2}:\d{2})$"
)
_DURATION = re.compile(r"^(-)?(\d+)(?:\.(\d{1,9}))?s$")


def format_time(moment: datetime) -> str:
    """UTC, `Z` suffix, 0, 3 or 6 fractional digits (proto3 JSON uses the shortest of 0/3/6/9)."""
    moment = moment.astimezone(UTC)
    base = moment.strftime("%Y-%m-%dT%H:%M:%S")
    micros = moment.microsecond
    if micros == 0:
        return f"{base}Z"
    if micros % 1000 == 0:
        return f"{base}.{micros // 1000:03d}Z"
    return f"{base}.{micros:06d}Z"


def parse_time(text: str) -> datetime:
    match = _TIMESTAMP.match(text)
    if match is None:
        raise ValueError(f"not an RFC 3339 timestamp: {text!r}")
    year, month, day, hour, minute, second, fraction, zone = match.groups()
    micros = int((fraction or "0").ljust(9, "0")[:6])
    tz = UTC
    if zone not in ("Z", "z"):
        sign = 1 if zone[0] == "+" else -1
        tz = timezone(sign * timedelta(hours=int(zone[1:3]), minutes=int(zone[4:6])))
    moment = datetime(
        int(year), int(month), int(day), int(hour), int(minute), int(second), micros, tzinfo=tz
    )
    return moment.astimezone(UTC)


def parse_duration(text: str) -> timedelta:
    """A `google.protobuf.Duration` in JSON form: `"86400s"`, `"1.5s"`, `"-3s"`."""
    match = _DURATION.match(text)
    if match is None:
        raise ValueError(f"not a Duration: {text!r}")
    sign, seconds, fraction = match.groups()
    micros = int((fraction or "0").ljust(9, "0")[:6])
    value = timedelta(seconds=int(seconds), microseconds=micros)
    return -value if sign else value
