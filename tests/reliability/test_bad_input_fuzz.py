"""Bad input: a property-based fuzzer (hypothesis) throws generated and mutated Pub/Sub messages
at the keeper.

GIVEN a managed subscription that needs nothing (any genuine lifecycle event about it is a
no-op), WHEN envelopes with broken attributes, base64, JSON, field types, huge and unicode
values, and subscription names with `/`, `..`, `%2F`, query strings are delivered, THEN the
keeper never fails (no retry can fix such input), never writes to the API, and every
rejection is in the ledger with its reason.

Two runs of the same generator. KEEPER_FUZZ_EXAMPLES envelopes (10,000 by default) go to
`dispatch()` on the in-memory store, with the Workspace Events API emulator in-process (the
fast tier); KEEPER_FUZZ_E2E_EXAMPLES (300 by default) are pushed end to end, through
functions-framework to Firestore and the emulator, where 5xx is the failure. Each example is
checked by reading the ledger entries under its own ids, so its cost does not grow with the
ledger. The in-memory run is cut into FUZZ_SLICES slices, each a seeded run of the generator
with its share of the examples, so that parallel workers (pytest-xdist) share its cost.
"""

from __future__ import annotations

import base64
import functools
import json
import os
import uuid
from collections.abc import Callable
from typing import Any

import flask
import pytest
from functions_framework.event_conversion import background_event_to_cloud_event
from functions_framework.exceptions import EventConversionException
from hypothesis import HealthCheck, given, seed, settings
from hypothesis import strategies as st

from handlers import HANDLERS
from handlers.envelope import SOURCE_PREFIX
from keeper.store.protocol import Store
from tests.support.keeper_stack import WRITE_METHODS, KeeperStack
from tests.support.memory_stack import MemoryKeeper
from tests.support.reliability import record_figure

EXAMPLES = int(os.environ.get("KEEPER_FUZZ_EXAMPLES", "10000"))
E2E_EXAMPLES = int(os.environ.get("KEEPER_FUZZ_E2E_EXAMPLES", "300"))
FUZZ_SLICES = 4  # the in-memory run's slices: distinct seeds, EXAMPLES in all
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


# The strategies are built once (per managed name) and drawn from many times: Hypothesis
# computes a strategy's properties (validation, emptiness, recursion) on its first draw and
# keeps them, so building them inside each example cost more than drawing from them (measured:
# 7.8 CPU-s for 1,000 envelopes built per example, 3.5 built once; docs/testing.md).


@functools.cache
def sources(managed: str) -> st.SearchStrategy[Any]:
    """ce-source values: the managed name, names with path tricks, other shapes and types."""
    return st.one_of(
        st.just(SOURCE_PREFIX + managed),
        weird_ids.map(lambda i: SOURCE_PREFIX + "subscriptions/" + i),
        weird_ids.map(lambda i: SOURCE_PREFIX + managed + i),
        weird_ids.map(lambda i: "//evil.example.com/subscriptions/" + i),
        text,
        huge,
        json_values,
    )


def _base64(data: bytes) -> str:
    return base64.b64encode(data).decode()


@functools.cache
def payloads(managed: str) -> st.SearchStrategy[Any]:
    """message.data: valid base64 of valid or broken JSON, broken base64, other types."""
    subscription = st.fixed_dictionaries(
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
    document = st.one_of(subscription.map(lambda sub: {"subscription": sub}), json_values)
    as_json = document.map(lambda d: json.dumps(d).encode())
    return st.one_of(
        as_json.map(_base64),
        st.binary(max_size=64).map(_base64),
        as_json.map(lambda j: _base64(b"\xff\xfe" + j)),
        as_json.map(lambda j: _base64(j)[:-3]),
        text,
        huge,
        json_values,
    )


CE_TYPES = st.one_of(st.sampled_from(HANDLED), text, json_values)
CE_IDS = st.one_of(st.uuids().map(str), text, huge, json_values)
CE_TIMES = st.one_of(st.just("2026-11-23T12:00:00Z"), text, json_values)
CE_ATTRIBUTES = ("ce-id", "ce-source", "ce-specversion", "ce-time", "ce-type")
DROPPED_ATTRIBUTES = st.lists(st.sampled_from(CE_ATTRIBUTES), max_size=3)
EXTRA_ATTRIBUTES = st.dictionaries(text, json_values, max_size=2)
MESSAGE_IDS = st.one_of(st.uuids().map(str), json_values)
EXTRA_MESSAGE_FIELDS = st.dictionaries(
    st.sampled_from(["publishTime", "orderingKey", "x"]), json_values, max_size=2
)


@st.composite
def envelopes(draw: Any, managed: str) -> dict[str, Any]:
    """A Pub/Sub push body whose message is generated, then mutated."""
    attributes: dict[str, Any] = {
        "ce-type": draw(CE_TYPES),
        "ce-id": draw(CE_IDS),
        "ce-source": draw(sources(managed)),
        "ce-specversion": "1.0",
        "ce-time": draw(CE_TIMES),
    }
    for key in draw(DROPPED_ATTRIBUTES):
        attributes.pop(key, None)
    attributes |= draw(EXTRA_ATTRIBUTES)
    # Pub/Sub always sends `messageId` and `data` (functions-framework refuses a push body
    # without them before the keeper runs); their values, and everything else, are fuzzed.
    message: dict[str, Any] = {
        "data": draw(payloads(managed)),
        "messageId": draw(MESSAGE_IDS),
    }
    if draw(st.integers(0, 9)):  # now and then no attributes at all
        message["attributes"] = draw(st.one_of(st.just(attributes), json_values))
    message |= draw(EXTRA_MESSAGE_FIELDS)
    return {"message": message, "subscription": "projects/p/subscriptions/push"}


def must_be_recorded(envelope: dict[str, Any], managed: str) -> bool:
    """A handled lifecycle event, with an id that survives redelivery, that is not a
    well-formed event about the managed subscription: the keeper must say in the ledger why
    it refused it. Anything without a lifecycle ce-type is no lifecycle event and costs nothing."""
    attributes = envelope["message"].get("attributes", {})
    if not isinstance(attributes, dict) or attributes.get("ce-type") not in HANDLED:
        return False  # not a lifecycle event the keeper handles: it costs nothing
    return bool(ledger_ids(envelope)) and attributes.get("ce-source") != SOURCE_PREFIX + managed


def ledger_ids(envelope: dict[str, Any]) -> set[str]:
    """The ledger ids the keeper may record this message under (handlers/__init__.py and
    handlers/base.py): its ce-id, or `malformed:` and its messageId (else its ce-id). A ce-id
    counts only as a non-empty string, a messageId as a string or a number; without either
    nothing stable names the message, and the log line is its only record."""
    message = envelope["message"]
    attributes = message.get("attributes")
    ce_id = attributes.get("ce-id") if isinstance(attributes, dict) else None
    ce_id = ce_id if isinstance(ce_id, str) and ce_id else None
    message_id = message.get("messageId")
    message_id = str(message_id) if isinstance(message_id, str | int) else None
    ids = {f"malformed:{message_id or ce_id}"} if message_id or ce_id else set()
    return ids | ({ce_id} if ce_id else set())


_FRAMEWORK = flask.Flask("fuzz")


def as_functions_framework_passes_it(envelope: dict[str, Any]) -> Any:
    """The data `on_workspace_event` gets for this Pub/Sub push body: functions-framework's
    own conversion of a raw push body into the Eventarc CloudEvent. None when the framework
    refuses the body (HTTP 400) before the keeper runs."""
    with _FRAMEWORK.test_request_context(
        "/projects/p/topics/workspace-events", method="POST", json=envelope
    ):
        try:
            return background_event_to_cloud_event(flask.request).data
        except EventConversionException:
            return None


def make_ids_unique(envelope: dict[str, Any]) -> None:
    """Every refusal of this example gets a ledger entry of its own (string ids only: the
    fuzzed non-string ids keep their values and may share an entry with an earlier example)."""
    message = envelope["message"]
    attributes = message.get("attributes")
    if isinstance(attributes, dict) and isinstance(attributes.get("ce-id"), str):
        attributes["ce-id"] += f"#{uuid.uuid4()}"
    if isinstance(message.get("messageId"), str):
        message["messageId"] += f"#{uuid.uuid4()}"


def fuzz(
    label: str,
    managed: str,
    examples: int,
    store: Store,
    deliver: Callable[[dict[str, Any]], None],
    writes: Callable[[], list[str]],
    clear_calls: Callable[[], None],
    run_seed: int | None = None,
) -> None:
    """Deliver `examples` generated envelopes; after each, no API write, and the refusal in
    the ledger under the message's own ids. Records the figure for the README's table.
    `run_seed` picks one seeded sequence of examples; without it the sequence is derived from
    the test (derandomized), the same on every run."""
    seen = {"examples": 0, "recorded": 0}
    clear_calls()

    @settings(
        max_examples=examples,
        deadline=None,
        database=None,
        derandomize=run_seed is None,
        suppress_health_check=list(HealthCheck),
    )
    @seed(run_seed)
    @given(envelope=envelopes(managed))
    def deliver_one(envelope: dict[str, Any]) -> None:
        seen["examples"] += 1
        make_ids_unique(envelope)
        ids = ledger_ids(envelope)
        before = {i: store.ledger_entry(i) for i in ids}
        deliver(envelope)
        assert writes() == []
        clear_calls()
        after = {i: store.ledger_entry(i) for i in ids}
        present = [entry for entry in after.values() if entry is not None]
        new = [entry for i, entry in after.items() if entry is not None and entry != before[i]]
        for entry in present:
            assert entry["outcome"] in REJECTIONS, entry
            assert entry["reason"]
        seen["recorded"] += bool(new)
        if must_be_recorded(envelope, managed):
            assert present, "a refused lifecycle event must be in the ledger with its reason"

    deliver_one()
    assert seen["examples"] >= examples
    record_figure(
        "bad input",
        f"generated and mutated envelopes, {label}",
        seen["examples"],
        lost=0,
        note=f"{seen['recorded']} rejections recorded with a reason; 0 API writes; 0 failures",
    )


# Huge values are the point: hypothesis may warn that their repr is large when it reports.
LARGE_REPR = "ignore:Generating overly large repr:hypothesis.errors.HypothesisWarning"


# About 10 s alone, but CPU-bound: 45-65 s in the full run, where 4 workers share 2 cores; ranked
# by the latter, so the slices start early and none ends the run alone.
@pytest.mark.slow(seconds=25)
# Without coverage's tracer (pytest-cov): it made Hypothesis's drawing, most of this test's CPU,
# 1.7 times slower (docs/testing.md), and the end-to-end run below covers the same handlers.
@pytest.mark.no_cover
@pytest.mark.timeout(120 + EXAMPLES * 0.02)  # a few ms an envelope; the suite's default is 300 s
@pytest.mark.filterwarnings(LARGE_REPR)
@pytest.mark.parametrize("part", range(FUZZ_SLICES), ids=lambda p: f"slice{p + 1}of{FUZZ_SLICES}")
def test_fuzzed_envelopes_are_refused_and_recorded_without_a_write(
    memory_keeper: MemoryKeeper, part: int
):
    keeper = memory_keeper
    managed = keeper.register().name
    assert managed is not None

    def deliver(envelope: dict[str, Any]) -> None:
        data = as_functions_framework_passes_it(envelope)
        if data is not None:
            keeper.dispatch(data)  # raises where the function would ask for a redelivery

    label = "dispatch() on the in-memory store"
    examples = len(range(part, EXAMPLES, FUZZ_SLICES))  # the slices add up to EXAMPLES
    store, writes, clear = keeper.store, keeper.writes, keeper.clear_calls
    fuzz(label, managed, examples, store, deliver, writes, clear, run_seed=part)


@pytest.mark.slow(seconds=10)
@pytest.mark.timeout(120 + E2E_EXAMPLES * 0.15)  # about 30 ms an envelope
@pytest.mark.filterwarnings(LARGE_REPR)
def test_fuzzed_envelopes_pushed_end_to_end_never_get_a_5xx(keeper_stack: KeeperStack):
    stack = keeper_stack
    managed = stack.register().name
    assert managed is not None

    def deliver(envelope: dict[str, Any]) -> None:
        response = stack.client.post("/" + stack.topic, json=envelope)
        assert response.status_code < 500, "no retry can fix this input"

    def writes() -> list[str]:
        return [r["method"] for r in stack.api_calls(*WRITE_METHODS)]

    fuzz(
        "pushed end to end", managed, E2E_EXAMPLES, stack.store, deliver, writes, stack.clear_calls
    )
