"""Test tiers, for tests/conftest.py's collection hook.

A test that needs the Java emulators (Firestore, Pub/Sub: the fixtures it uses say so) is
marked `integration`, so `./scripts/test.sh --fast` (`-m "not integration"`) leaves it out.
The full run orders the tests by tier: unit tests first, then the other tests that need no
Java emulator, then the rest, so a quick failure shows quickly.

After the unit tests, the tests marked `slow(seconds=N)` (N: what the test takes alone, about)
come first, longest first, each followed by a quick one: pytest-xdist hands tests out in this
order, two to a worker (the running one and the next), so the long tests start at once, each
on a worker of its own, and none waits behind another long one nor ends the run alone.
"""

from __future__ import annotations

from itertools import zip_longest

import pytest

JAVA_FIXTURES = frozenset({"firestore_emulator_host", "pubsub_emulator_host"})


def needs_java(item: pytest.Item) -> bool:
    return bool(JAVA_FIXTURES & set(getattr(item, "fixturenames", ())))


def mark_and_order_by_tier(items: list[pytest.Item]) -> None:
    for item in items:
        if needs_java(item):
            item.add_marker(pytest.mark.integration)

    def tier(item: pytest.Item) -> int:
        if item.get_closest_marker("integration"):
            return 2
        return 0 if item.path.is_relative_to(item.config.rootpath / "tests" / "unit") else 1

    items.sort(key=tier)  # stable: each tier keeps the collection order
    unit = [item for item in items if tier(item) == 0]
    slow = sorted((item for item in items if seconds(item)), key=seconds, reverse=True)
    quick = [item for item in items if tier(item) != 0 and not seconds(item)]
    # zip_longest: with more slow tests than quick ones (a run narrowed to the soaks, say),
    # the slow tests left over still run.
    paired = [one for pair in zip_longest(slow, quick) for one in pair if one is not None]
    items[:] = [*unit, *paired]


def seconds(item: pytest.Item) -> float:
    """What a test marked `slow(seconds=N)` takes alone; 0 for the others."""
    marker = item.get_closest_marker("slow")
    return float(marker.kwargs["seconds"]) if marker else 0.0
