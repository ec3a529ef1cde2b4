"""The mass-outage bench's busiest minute counts requests as a sliding 60 s quota window does:
(t - 60 s, t]."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from bench.mass_outage import busiest_minute

T0 = datetime(2026, 12, 3, tzinfo=UTC)


def at(*seconds: float) -> list[datetime]:
    return [T0 + timedelta(seconds=s) for s in seconds]


def test_requests_exactly_a_minute_apart_are_in_different_windows() -> None:
    # GIVEN requests at 0 s and 60 s, THEN no window holds both
    assert busiest_minute(at(60, 0)) == 1


def test_the_busiest_window_is_found_wherever_it_lies() -> None:
    # GIVEN a burst of four within 59.9 s after a lone request, in any order
    assert busiest_minute(at(100, 0, 159.9, 120, 130)) == 4
    # AND nothing at all counts nothing
    assert busiest_minute([]) == 0
