"""The production wiring on the real stack: the Workspace Events API emulator publishes to the
Pub/Sub emulator, which pushes to TWO function processes (functions-framework), each through
its own push subscription, so every lifecycle event reaches two instances at once.

GIVEN a registered subscription, WHEN its lifecycle events flow, THEN each is acted on once."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from devstack.processes import start_function
from keeper.domain.models import State
from tests.support.keeper_stack import KeeperStack, rest

HOUR = 3600


@pytest.fixture
def two_functions(keeper_stack: KeeperStack, tmp_path: Path, monkeypatch) -> Iterator[KeeperStack]:
    import os

    env = {
        k: os.environ[k]
        for k in (
            "GOOGLE_CLOUD_PROJECT",
            "FIRESTORE_EMULATOR_HOST",
            "PUBSUB_EMULATOR_HOST",
            "WORKSPACE_EVENTS_API_ENDPOINT",
            "KEEPER_CREDENTIALS",
        )
    }
    processes = [start_function("on_workspace_event", tmp_path, env) for _ in range(2)]
    try:
        for index, process in enumerate(processes):
            rest(
                keeper_stack.pubsub_host,
                "PUT",
                f"projects/{keeper_stack.project}/subscriptions/push-{index}",
                {
                    "topic": keeper_stack.topic,
                    "enableMessageOrdering": True,
                    "pushConfig": {"pushEndpoint": f"{process.url}{keeper_stack.topic}"},
                },
            )
        yield keeper_stack
    finally:
        for process in processes:
            process.stop()


def wait_until(condition, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.2)
    raise AssertionError("condition not met in time")


def settle(stack: KeeperStack, seconds: float = 2.0) -> None:
    """Give redeliveries time to arrive: anything that would act twice does so by then."""
    time.sleep(seconds)


def test_every_lifecycle_event_through_push_to_two_instances_acts_once(two_functions):
    stack = two_functions
    sub = stack.register()
    stack.clear_calls()

    # a reminder, delivered to both instances
    left = (sub.expire_time - stack.control.now()).total_seconds()
    stack.control.advance(left - 12 * HOUR + 1)
    wait_until(lambda: stack.record(sub.key).expire_time > sub.expire_time)
    settle(stack)
    assert len(stack.api_calls("subscriptions.patch")) == 1

    # a suspension whose cause is gone
    stack.control.suspend(sub.name, "OTHER", cause_fixed=True)
    wait_until(lambda: stack.api_calls("subscriptions.reactivate"))
    settle(stack)
    assert len(stack.api_calls("subscriptions.reactivate")) == 1
    wait_until(lambda: stack.record(sub.key).state is State.ACTIVE)

    # an expiry
    stack.control.expire(sub.name)
    wait_until(lambda: stack.api_calls("subscriptions.create"))
    settle(stack)
    assert len(stack.api_calls("subscriptions.create")) == 1
    record = stack.record(sub.key)
    # recreated under the same (deterministic) name: nothing joins the lineage
    assert (record.name, record.lineage) == (sub.name, ())
    assert record.state is State.ACTIVE
    assert record.lease is None
