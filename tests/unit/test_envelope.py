"""Envelope parsing: GIVEN a Pub/Sub message as functions-framework hands it over, WHEN parsed,
THEN one typed event or a MalformedEvent with the reason."""

import base64
import json

import pytest

from handlers import HANDLERS
from handlers.envelope import MalformedEvent, parse_envelope, parse_lifecycle
from keeper.domain.events import REMINDER, SUSPENDED

SOURCE = "//workspaceevents.googleapis.com/subscriptions/chat-spaces-abc"


def message(attributes=None, payload=None, raw=None):
    data = raw
    if payload is not None:
        data = base64.b64encode(json.dumps(payload).encode()).decode()
    msg = {"attributes": attributes or {}, "messageId": "m1"}
    if data is not None:
        msg["data"] = data
    return {"subscription": "projects/p/subscriptions/eventarc-sub", "message": msg}


def attrs(**overrides):
    base = {
        "ce-type": SUSPENDED,
        "ce-id": "e1",
        "ce-source": SOURCE,
        "ce-subject": SOURCE,
        "ce-time": "2026-11-23T12:00:00Z",
        "ce-specversion": "1.0",
        "ce-datacontenttype": "application/json",
    }
    base.update(overrides)
    return {k: v for k, v in base.items() if v is not None}


@pytest.mark.parametrize(
    "payload",
    [
        {
            "subscription": {
                "name": "subscriptions/chat-spaces-abc",
                "suspensionReason": "OTHER",
                "expireTime": "2026-11-30T12:00:00Z",
                "targetResource": "//x/y",
            }
        },
        {
            "subscription": {
                "name": "subscriptions/chat-spaces-abc",
                "suspension_reason": "OTHER",
                "expire_time": "2026-11-30T12:00:00Z",
                "target_resource": "//x/y",
            }
        },
    ],
    ids=["camelCase", "snake_case"],
)
def test_lifecycle_payload_in_either_casing(payload):
    event = parse_lifecycle(parse_envelope(message(attrs(), payload)))
    assert event.subscription_name == "subscriptions/chat-spaces-abc"
    assert event.payload.suspension_reason == "OTHER"
    assert event.payload.target_resource == "//x/y"
    assert event.payload.expire_time.isoformat() == "2026-11-30T12:00:00+00:00"


def test_outer_pubsub_subscription_is_not_mistaken_for_the_workspace_one():
    event = parse_lifecycle(parse_envelope(message(attrs(), {"subscription": {}})))
    assert event.subscription_name == "subscriptions/chat-spaces-abc"


def test_json_string_data_is_accepted():
    data = json.dumps(message(attrs(**{"ce-type": REMINDER}), {"subscription": {}}))
    assert parse_envelope(data).type == REMINDER


def test_ordinary_events_are_routed_without_decoding_the_payload():
    event = parse_envelope(
        message(attrs(**{"ce-type": "google.workspace.chat.message.v1.created"}), raw="%%%")
    )
    assert event.type not in HANDLERS


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        ("not json", "not JSON"),
        ({"no": "message"}, "data.message"),
        ({"message": {"attributes": "nope"}}, "attributes"),
        (message(attrs(**{"ce-id": None}), {"subscription": {}}), "ce-id"),
        (
            message(attrs(**{"ce-source": "//evil/subscriptions/x"}), {"subscription": {}}),
            "ce-source",
        ),
        (
            message(attrs(**{"ce-source": SOURCE.replace("abc", "../x")}), {"subscription": {}}),
            "subscriptions/<id>",
        ),
        (
            message(attrs(**{"ce-source": SOURCE + "%2Fx"}), {"subscription": {}}),
            "subscriptions/<id>",
        ),
        (
            message(attrs(**{"ce-source": SOURCE + "?a=b"}), {"subscription": {}}),
            "subscriptions/<id>",
        ),
        (
            message(attrs(**{"ce-source": SOURCE + "/x"}), {"subscription": {}}),
            "subscriptions/<id>",
        ),
        (message(attrs(), raw="!!!not base64"), "base64"),
        (message(attrs(), raw=base64.b64encode(b"\xff\xfe").decode()), "JSON"),
        (message(attrs(), payload=[1, 2]), "payload"),
        (message(attrs(), payload={"subscription": "x"}), "payload.subscription"),
        (message(attrs(), payload={"subscription": {"name": "subscriptions/other"}}), "another"),
        (message(attrs(), payload={"subscription": {"expireTime": "yesterday"}}), "invalid"),
        (message(attrs(**{"ce-time": "noon"}), {"subscription": {}}), "ce-time"),
        (message(attrs()), "empty"),
    ],
)
def test_malformed_input_is_rejected_with_a_reason(data, reason):
    with pytest.raises(MalformedEvent, match=reason):
        parse_lifecycle(parse_envelope(data))
