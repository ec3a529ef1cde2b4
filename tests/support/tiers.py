"""Test tiers, for tests/conftest.py's collection hook.

A test that needs the Java emulators (Firestore, Pub/Sub: the fixtures it uses say so) is
marked `integration`, so `./scripts/test.sh --fast` (`-m "not integration"`) leaves it out.
The full run orders the tests by tier: unit tests first, then the other tests that need no
Java emulator, then the rest, so a quick failure shows quickly. Within a tier the tests marked
`slow` (tens of seconds each: the soaks, the fuzzer, the restarts) come first, so that parallel
workers (pytest-xdist hands out tests in this order) start them early instead of waiting on
them at the end.
"""

from __future__ import annotations

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

    def order(item: pytest.Item) -> tuple[int, bool]:
        return tier(item), item.get_closest_marker("slow") is None

    items.sort(key=order)  # stable: otherwise the collection order
