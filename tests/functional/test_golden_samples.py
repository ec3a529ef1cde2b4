"""The sample events of `samples/events/` (the README's curl examples) as golden fixtures:
GIVEN a managed subscription whose state at the API matches the sample, WHEN the sample's
Pub/Sub push body (retargeted at it) reaches the function through functions-framework's test
client, THEN the keeper makes the API calls and records the state the event calls for."""

from __future__ import annotations

import json
import re
from datetime import timedelta

import pytest

from devstack.samples import SAMPLES, load, payload, retarget
from handlers import HANDLERS
from handlers.envelope import parse_envelope, parse_lifecycle
from keeper.domain.events import EXPIRED, REMINDER, SUSPENDED
from keeper.domain.models import State
from keeper.domain.outcomes import Action
from keeper.domain.policy import SUSPENSION_POLICY, Remedy
from tests.support.keeper_stack import CHAT_MESSAGE_CREATED, KeeperStack

SAMPLE_TARGET = "//chat.googleapis.com/spaces/AAAAsample"
SUSPENSIONS = sorted(p.name for p in SAMPLES.glob("suspended-*.json"))


def reason_of(sample: str) -> str:
    reason: str = payload(load(sample))["subscription"]["suspension_reason"]
    return reason


def manage(stack: KeeperStack, auth: str = "delegated:alice@example.com"):
    return stack.register(SAMPLE_TARGET, auth)


def test_the_samples_cover_a_reminder_every_suspension_reason_an_expiry_and_a_chat_event():
    names = sorted(p.name for p in SAMPLES.glob("*.json"))
    assert {reason_of(s) for s in SUSPENSIONS} == set(SUSPENSION_POLICY)
    assert set(names) == {
        "chat-message-created.json",
        "expiration-reminder.json",
        "expired.json",
        *SUSPENSIONS,
    }


@pytest.mark.parametrize("sample", sorted(p.name for p in SAMPLES.glob("*.json")))
def test_each_sample_is_a_pubsub_push_body_in_googles_shape(sample):
    body = load(sample)
    event = parse_envelope(body)
    attributes = body["message"]["attributes"]
    assert attributes["ce-specversion"] == "1.0"
    assert attributes["ce-datacontenttype"] == "application/json"
    assert body["message"]["messageId"] == body["message"]["message_id"]
    assert body["subscription"].startswith("projects/")
    if event.type in HANDLERS:
        lifecycle = parse_lifecycle(event)
        data = payload(body)["subscription"]
        assert lifecycle.subscription_name == data["name"]
        assert attributes["ce-subject"] == attributes["ce-source"]
        assert "target_resource" in data and "expire_time" in data  # snake_case, as Google's
        assert lifecycle.payload.target_resource == SAMPLE_TARGET
    else:
        assert event.type == CHAT_MESSAGE_CREATED
        assert attributes["ce-subject"] == SAMPLE_TARGET


def test_retargeting_names_the_subscription_everywhere_and_keeps_the_id_stable():
    body = load("expiration-reminder.json")
    once = retarget(body, "subscriptions/chat-spaces-other")
    assert once == retarget(body, "subscriptions/chat-spaces-other")
    event = parse_lifecycle(parse_envelope(once))
    assert event.subscription_name == "subscriptions/chat-spaces-other"
    assert event.event_id != body["message"]["attributes"]["ce-id"]
    assert once["message"]["orderingKey"].endswith("subscriptions/chat-spaces-other")


def test_golden_reminder_renews(keeper_stack):
    # GIVEN a managed subscription 12 h before its expiry
    sub = manage(keeper_stack)
    now = keeper_stack.control.now()
    keeper_stack.control.advance((sub.expire_time - now).total_seconds() - 12 * 3600 + 1)
    keeper_stack.pull()  # the emulator's own reminder is not delivered
    keeper_stack.clear_calls()
    # WHEN the sample reminder arrives
    reminder = retarget(load("expiration-reminder.json"), sub.name, sub.expire_time.isoformat())
    response = keeper_stack.push(reminder["message"])
    # THEN one patch renewed it and the record has the new expiry
    assert response.status_code == 200
    assert [c["method"] for c in keeper_stack.api_calls()] == ["subscriptions.patch"]
    record = keeper_stack.record(sub.key)
    assert record.expire_time > sub.expire_time + timedelta(hours=11)
    assert keeper_stack.store.history(sub.key)[-1].action is Action.RENEW


@pytest.mark.parametrize("sample", SUSPENSIONS)
def test_golden_suspension_gets_its_reasons_remedy(keeper_stack, sample):
    reason = reason_of(sample)
    auth = "app" if reason.startswith("APP_") else "delegated:alice@example.com"
    # GIVEN a managed subscription the API shows suspended for the sample's reason, its cause
    # already gone
    sub = manage(keeper_stack, auth)
    keeper_stack.control.suspend(sub.name, reason, silent=True, cause_fixed=True)
    keeper_stack.clear_calls()
    # WHEN the sample suspension arrives
    response = keeper_stack.push(retarget(load(sample), sub.name)["message"])
    # THEN the reason's remedy: a person is asked, or it is reactivated
    assert response.status_code == 200
    record = keeper_stack.record(sub.key)
    reactivations = keeper_stack.api_calls("subscriptions.reactivate")
    if SUSPENSION_POLICY[reason].remedy is Remedy.PERSON:
        assert reactivations == []
        assert record.state is State.NEEDS_ATTENTION
        assert SUSPENSION_POLICY[reason].advice in (record.last_problem or "")
    else:
        assert len(reactivations) == 1
        assert record.state is State.ACTIVE


def test_golden_expiry_recreates(keeper_stack):
    # GIVEN a managed subscription Google has deleted at its expiry
    sub = manage(keeper_stack)
    keeper_stack.control.expire(sub.name, silent=True)
    keeper_stack.clear_calls()
    # WHEN the sample expiry arrives
    response = keeper_stack.push(retarget(load("expired.json"), sub.name)["message"])
    # THEN one create; Google's names are deterministic per target and principal (the
    # emulator's default), so the recreated subscription keeps its name and adds no lineage
    assert response.status_code == 200
    assert [c["method"] for c in keeper_stack.api_calls()] == ["subscriptions.create"]
    record = keeper_stack.record(sub.key)
    assert record.state is State.ACTIVE
    assert (record.name, record.lineage) == (sub.name, ())


@pytest.mark.parametrize("retargeted", [False, True])
def test_golden_chat_event_is_acknowledged_and_touches_nothing(keeper_stack, retargeted):
    # GIVEN a managed subscription
    sub = manage(keeper_stack)
    history = keeper_stack.store.history(sub.key)
    keeper_stack.clear_calls()
    body = load("chat-message-created.json")
    # WHEN an ordinary Chat event arrives on its topic (as is, or naming it)
    response = keeper_stack.push((retarget(body, sub.name) if retargeted else body)["message"])
    # THEN acknowledged, no API call, nothing recorded
    assert response.status_code == 200
    assert keeper_stack.control.requests() == []
    assert keeper_stack.store.history(sub.key) == history


@pytest.mark.parametrize("sample", ["expiration-reminder.json", "expired.json", SUSPENSIONS[0]])
def test_golden_lifecycle_events_for_an_unmanaged_subscription_change_nothing(keeper_stack, sample):
    # GIVEN no managed subscription by the sample's name
    keeper_stack.clear_calls()
    # WHEN the sample arrives as it is
    response = keeper_stack.push(load(sample)["message"])
    # THEN acknowledged without a write
    assert response.status_code == 200
    assert keeper_stack.api_calls() == []
    assert list(keeper_stack.store.all()) == []


def test_the_samples_carry_the_lifecycle_types_the_keeper_handles():
    types = {load(p.name)["message"]["attributes"]["ce-type"] for p in SAMPLES.glob("*.json")}
    assert types == {REMINDER, SUSPENDED, EXPIRED, CHAT_MESSAGE_CREATED}


def test_the_command_prints_the_retargeted_push_body(capsys):
    from devstack.samples import main

    # WHEN the README's command retargets the reminder
    status = main(
        [
            "expiration-reminder.json",
            "--subscription",
            "subscriptions/chat-spaces-mine",
            "--expire-time",
            "2026-12-08T10:00:00Z",
        ]
    )
    # THEN it prints the push body naming that subscription and expiry
    assert status == 0
    body = json.loads(capsys.readouterr().out)
    assert payload(body)["subscription"]["name"] == "subscriptions/chat-spaces-mine"
    assert payload(body)["subscription"]["expire_time"] == "2026-12-08T10:00:00Z"
    assert body == retarget(
        load("expiration-reminder.json"), "subscriptions/chat-spaces-mine", "2026-12-08T10:00:00Z"
    )


def test_the_readme_sends_samples_that_exist():
    readme = (SAMPLES.parent.parent / "README.md").read_text()
    named = set(re.findall(r"samples/events/([a-z/-]+\.json)", readme))
    named |= set(re.findall(r"devstack\.samples ([a-z-]+\.json)", readme))
    assert named, "the README sends no sample"
    assert named <= {str(p.relative_to(SAMPLES)) for p in SAMPLES.rglob("*.json")}


def test_golden_eventarc_structured_cloudevent_is_acknowledged_and_touches_nothing(keeper_stack):
    # GIVEN the Chat sample as Eventarc delivers it (a structured messagePublished CloudEvent)
    sub = manage(keeper_stack)
    history = keeper_stack.store.history(sub.key)
    keeper_stack.clear_calls()
    event = json.loads((SAMPLES / "eventarc" / "chat-message-created.json").read_text())
    assert event["data"]["message"] == load("chat-message-created.json")["message"]
    # WHEN it is posted as Eventarc posts it
    response = keeper_stack.client.post(
        "/", data=json.dumps(event), headers={"Content-Type": "application/cloudevents+json"}
    )
    # THEN acknowledged, no API call, nothing recorded
    assert response.status_code == 200
    assert keeper_stack.control.requests() == []
    assert keeper_stack.store.history(sub.key) == history
