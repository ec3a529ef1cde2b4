"""Bad input: a property-based fuzzer (hypothesis) throws generated and mutated Pub/Sub messages
at the function.

GIVEN a managed subscription that needs nothing (any genuine lifecycle event about it is a
no-op), WHEN envelopes with broken attributes, base64, JSON, field types, huge and unicode
values, and subscription names with `/`, `..`, `%2F`, query strings are pushed, THEN the
function never answers 5xx (no retry can fix such input), never writes to the API, and every
rejection is in the ledger with its reason.

Every run (CI included) pushes KEEPER_FUZZ_EXAMPLES envelopes, 10,000 by default (about
20 ms each); set it lower for a quick local run.
"""

from __future__ import annotations

import base64
import json
import os
import uuid
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from handlers import HANDLERS
from handlers.envelope import SOURCE_PREFIX
from tests.support.keeper_stack import WRITE_METHODS, KeeperStack
from tests.support.reliability import record_figure

EXAMPLES = int(os.environ.get("KEEPER_FUZZ_EXAMPLES", "10000"))
HANDLED = tuple(HANDLERS)  # the lifecycle types the keeper acts on
REJECTIONS = {"rejected", "unmanaged"}

text = st.text(max_size=40)
huge = st.integers(min_value=10_000, max_value=300_000).map(lambda n: "é" * n)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | text,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(text, inner, max_size=3),
    max_leaves=8,
)
weird_ids = st.sampled_from(
    [
        "../etc/passwd",
        "a/../../b",
        "a%2Fb",
        "%2e%2e%2Fx",
        "x?alt=media",
        "x#frag",
        "x y",
        "ü",
        "-leading",
        "",
        "a/b",
        "x\x00y",
        "x\n",
        "subscriptions/x",
        "x" * 300,
    ]
) | st.text(min_size=1, max_size=30)


@st.composite
def sources(draw: Any, managed: str) -> Any:
    """ce-source values: the managed name, names with path tricks, other shapes and types."""
    return draw(
        st.one_of(
            st.just(SOURCE_PREFIX + managed),
            weird_ids.map(lambda i: SOURCE_PREFIX + "subscriptions/" + i),
            weird_ids.map(lambda i: SOURCE_PREFIX + managed + i),
            weird_ids.map(lambda i: "//evil.example.com/subscriptions/" + i),
            text,
            huge,
            json_values,
        )
    )


@st.composite
def payloads(draw: Any, managed: str) -> Any:
    """message.data: valid base64 of valid or broken JSON, broken base64, other types."""
    subscription = draw(
        st.fixed_dictionaries(
            {},
            optional={
                "name": st.one_of(st.just(managed), weird_ids, json_values),
                "targetResource": st.one_of(st.just("//chat.googleapis.com/spaces/X"), text),
                "target_resource": text,
                "expireTime": st.one_of(st.just("2026-11-23T12:00:00Z"), text, json_values),
                "expire_time": json_values,
                "state": st.one_of(st.sampled_from(["ACTIVE", "SUSPENDED", "DELETED"]), text),
                "suspensionReason": st.one_of(st.just("OTHER"), text, json_values),
                "eventTypes": json_values,
            },
        )
    )
    document = draw(st.one_of(st.just({"subscription": subscription}), json_values))
    as_json = json.dumps(document).encode()
    return draw(
        st.one_of(
            st.just(base64.b64encode(as_json).decode()),
            st.binary(max_size=64).map(lambda b: base64.b64encode(b).decode()),
            st.just(base64.b64encode(b"\xff\xfe" + as_json).decode()),
            st.just(base64.b64encode(as_json).decode()[:-3]),
            text,
            huge,
            json_values,
        )
    )


@st.composite
def envelopes(draw: Any, managed: str) -> dict[str, Any]:
    """A Pub/Sub push body whose message is generated, then mutated."""
    attributes: dict[str, Any] = {
        "ce-type": draw(st.one_of(st.sampled_from(HANDLED), text, json_values)),
        "ce-id": draw(st.one_of(st.uuids().map(str), text, huge, json_values)),
        "ce-source": draw(sources(managed)),
        "ce-specversion": "1.0",
        "ce-time": draw(st.one_of(st.just("2026-11-23T12:00:00Z"), text, json_values)),
    }
    for key in draw(st.lists(st.sampled_from(sorted(attributes)), max_size=3)):
        attributes.pop(key, None)
    attributes |= draw(st.dictionaries(text, json_values, max_size=2))
    # Pub/Sub always sends `messageId` and `data` (functions-framework refuses a push body
    # without them before the keeper runs); their values, and everything else, are fuzzed.
    message: dict[str, Any] = {
        "data": draw(payloads(managed)),
        "messageId": draw(st.one_of(st.uuids().map(str), json_values)),
    }
    if draw(st.integers(0, 9)):  # now and then no attributes at all
        message["attributes"] = draw(st.one_of(st.just(attributes), json_values))
    message |= draw(
        st.dictionaries(
            st.sampled_from(["publishTime", "orderingKey", "x"]), json_values, max_size=2
        )
    )
    return {"message": message, "subscription": "projects/p/subscriptions/push"}


def must_be_recorded(envelope: dict[str, Any], managed: str) -> bool:
    """A handled lifecycle event, with an id that survives redelivery, that is not a
    well-formed event about the managed subscription: the keeper must say in the ledger why
    it refused it. Anything without a lifecycle ce-type is no lifecycle event and costs nothing."""
    message = envelope["message"]
    attributes = message.get("attributes", {})
    if not isinstance(attributes, dict) or attributes.get("ce-type") not in HANDLED:
        return False  # not a lifecycle event the keeper handles: it costs nothing
    # what handlers.envelope keeps: a messageId that is a string or a number, a ce-id string
    message_id, ce_id = message.get("messageId"), attributes.get("ce-id")
    stable_id = bool(isinstance(message_id, str | int) and str(message_id)) or bool(
        isinstance(ce_id, str) and ce_id
    )
    return stable_id and attributes.get("ce-source") != SOURCE_PREFIX + managed


def newest_ledger_entry(stack: KeeperStack) -> dict[str, Any] | None:
    newest = stack.store.recent_events(limit=1)
    return newest[0] if newest else None


# Huge values are the point: hypothesis may warn that their repr is large when it reports.
@pytest.mark.timeout(120 + EXAMPLES * 0.15)  # about 30 ms an envelope; the suite's default is 300 s
@pytest.mark.filterwarnings(
    "ignore:Generating overly large repr:hypothesis.errors.HypothesisWarning"
)
def test_fuzzed_envelopes_are_refused_and_recorded_without_a_write(keeper_stack: KeeperStack):
    stack = keeper_stack
    managed = stack.register().name
    assert managed is not None
    stack.clear_calls()
    seen = {"examples": 0, "recorded": 0}
    last = newest_ledger_entry(stack)

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        derandomize=True,
        suppress_health_check=list(HealthCheck),
    )
    @given(envelope=envelopes(managed))
    def push_one(envelope: dict[str, Any]) -> None:
        nonlocal last
        seen["examples"] += 1
        # unique ids: every refusal of this example gets a ledger entry of its own
        message = envelope["message"]
        attributes = message.get("attributes")
        if isinstance(attributes, dict) and isinstance(attributes.get("ce-id"), str):
            attributes["ce-id"] += f"#{uuid.uuid4()}"
        if isinstance(message.get("messageId"), str):
            message["messageId"] += f"#{uuid.uuid4()}"
        response = stack.client.post("/" + stack.topic, json=envelope)
        assert response.status_code < 500, "no retry can fix this input"
        writes = [r for r in stack.control.requests() if r["method"] in WRITE_METHODS]
        assert writes == []
        stack.clear_calls()
        newest = newest_ledger_entry(stack)
        recorded = newest is not None and newest != last
        if recorded:
            assert newest["outcome"] in REJECTIONS, newest
            assert newest["reason"]
            seen["recorded"] += 1
            last = newest
        if must_be_recorded(envelope, managed):
            assert recorded, "a refused lifecycle event must be in the ledger with its reason"

    push_one()
    assert seen["examples"] >= EXAMPLES
    record_figure(
        "bad input",
        "generated and mutated envelopes",
        seen["examples"],
        lost=0,
        note=f"{seen['recorded']} rejections recorded with a reason; 0 API writes; 0 5xx",
    )
