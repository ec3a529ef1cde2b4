"""Dispatch before any client exists: GIVEN a message that is no lifecycle event the keeper
handles, WHEN dispatched, THEN it is acknowledged without building the context (so no
Firestore access and no API call), and lifecycle events leave exactly one decision line."""

from __future__ import annotations

import base64
import json
import logging
from typing import Any

import pytest

from handlers import HANDLERS, dispatch
from keeper.domain.events import REMINDER
from keeper.domain.outcomes import Action, Outcome
from keeper.runtime.logs import LABELS_KEY, JsonFormatter

SOURCE = "//workspaceevents.googleapis.com/subscriptions/chat-spaces-abc"


def no_context() -> Any:
    raise AssertionError("the context must not be built for this message")


def push(message: dict[str, Any]) -> dict[str, Any]:
    return {"message": message, "subscription": "projects/p/subscriptions/push"}


def encoded(value: Any) -> str:
    return base64.b64encode(json.dumps(value).encode()).decode()


@pytest.mark.parametrize(
    "data",
    [
        push({"data": encoded({"hello": "world"}), "messageId": "1"}),
        push({"data": encoded({}), "messageId": "2", "attributes": {"origin": "fixture"}}),
        push({"data": "", "messageId": "3", "attributes": {"ce-type": 7}}),
        push({"data": encoded({}), "attributes": {"ce-type": "google.workspace.chat.v1.x"}}),
        push({"data": encoded({}), "attributes": {"ce-type": REMINDER.replace("v1", "v9")}}),
        "not json at all",
        {"no": "message"},
    ],
    ids=["plain", "plain-attributes", "odd-ce-type", "chat-event", "future-type", "garbage", "x"],
)
def test_messages_that_are_no_handled_lifecycle_event_cost_nothing(data):
    outcome = dispatch(data, no_context)
    assert outcome.action is Action.NOTHING
    assert outcome.result == "ignored"


class _Ledger:
    def __init__(self) -> None:
        self.entries: list[Any] = []

    def record_event(self, entry: Any) -> None:
        self.entries.append(entry)


class _Context:
    def __init__(self) -> None:
        self.store = _Ledger()

    @staticmethod
    def clock() -> Any:
        from datetime import UTC, datetime

        return datetime(2026, 12, 1, tzinfo=UTC)


def lifecycle(**attributes: Any) -> dict[str, Any]:
    base = {"ce-type": REMINDER, "ce-id": "e-1", "ce-source": SOURCE, "ce-specversion": "1.0"}
    return push(
        {
            "data": encoded({"subscription": {"name": "subscriptions/chat-spaces-abc"}}),
            "messageId": "m-1",
            "attributes": {**base, **attributes},
        }
    )


def test_a_malformed_lifecycle_event_is_recorded_under_its_message_id_every_delivery():
    # GIVEN a reminder whose ce-source is no subscription, delivered twice
    ctx = _Context()
    data = lifecycle(**{"ce-source": "//elsewhere/x"})
    # WHEN dispatched both times
    outcomes = [dispatch(data, lambda: ctx) for _ in range(2)]
    # THEN both are acknowledged as rejected, under one ledger id (one document)
    assert [o.result for o in outcomes] == ["rejected", "rejected"]
    assert {e.event_id for e in ctx.store.entries} == {"malformed:m-1"}


@pytest.fixture
def json_records(caplog: pytest.LogCaptureFixture) -> Any:
    caplog.set_level(logging.DEBUG, logger="handlers")
    formatter = JsonFormatter()

    def records(level: int = logging.INFO) -> list[dict[str, Any]]:
        return [
            json.loads(formatter.format(r))
            for r in caplog.records
            if r.name == "handlers" and r.levelno >= level
        ]

    return records


def test_every_lifecycle_event_leaves_one_decision_line(json_records, monkeypatch):
    # GIVEN a reminder whose handler decides it is not due yet
    decided = Outcome(Action.NOTHING, "skipped", "not due until 2026-12-03 12:00 UTC", "k1")
    monkeypatch.setitem(HANDLERS, REMINDER, lambda ctx, event: decided)  # type: ignore[index]
    # WHEN it is dispatched
    dispatch(lifecycle(), _Context)
    # THEN exactly one line says what was decided and why, labelled for Cloud Logging
    [line] = json_records()
    assert line["severity"] == "INFO"
    assert line["message"] == "skipped: not due until 2026-12-03 12:00 UTC"
    assert line[LABELS_KEY] == {
        "event_id": "e-1",
        "event_type": REMINDER,
        "subscription": "subscriptions/chat-spaces-abc",
        "action": "nothing",
        "outcome": "skipped",
        "key": "k1",
    }


def test_a_failure_of_the_keeper_itself_is_an_error_line_and_raises(json_records, monkeypatch):
    # GIVEN a handler that hits a bug
    def broken(ctx: Any, event: Any) -> Outcome:
        raise KeyError("boom")

    monkeypatch.setitem(HANDLERS, REMINDER, broken)  # type: ignore[index]
    # WHEN dispatched THEN it raises (redelivery), after one error line labelled failure=keeper
    with pytest.raises(KeyError):
        dispatch(lifecycle(), _Context)
    [line] = json_records()
    assert line["severity"] == "ERROR"
    assert line[LABELS_KEY]["failure"] == "keeper"
    assert "KeyError" in line["stack_trace"]
    # AND ignored events stay below INFO: they would flood
    dispatch(push({"data": encoded({}), "messageId": "9"}), no_context)
    assert len(json_records()) == 1
