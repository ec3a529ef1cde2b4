"""The keeper's own failures are never acknowledged, on the production path: Pub/Sub emulator
push to functions-framework processes, a dead-letter policy as the deploy wires it, and the
operator's `dead-letters` commands.

Credential discovery runs for real in the function processes and stays on loopback: the
metadata server google-auth would probe is pointed at a closed local port (GCE_METADATA_HOST,
GCE_METADATA_IP), the GCE check is off (NO_GCE_CHECK) and gcloud's config is an empty folder.
"""

from __future__ import annotations

import io
import json
import os
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from devstack.context import local_context
from devstack.processes import PRODUCT_FUNCTION, StackError, free_port, start_function
from handlers import dispatch
from keeper.domain.events import REMINDER
from keeper.operator.cli import main as cli_main
from tests.support.keeper_stack import KeeperStack, rest

HOUR = 3600
KEEPER_ENV = (
    "GOOGLE_CLOUD_PROJECT",
    "FIRESTORE_EMULATOR_HOST",
    "PUBSUB_EMULATOR_HOST",
    "WORKSPACE_EVENTS_API_ENDPOINT",
)
MAX_DELIVERY_ATTEMPTS = 5  # Pub/Sub's minimum; the deploy uses 10


def healthy_env() -> dict[str, str]:
    return {name: os.environ[name] for name in KEEPER_ENV} | {"KEEPER_CREDENTIALS": "anonymous"}


def no_credentials_env(tmp_path: Path) -> dict[str, str]:
    """Real credential discovery (KEEPER_CREDENTIALS=auto) on a machine that has none."""
    closed = f"127.0.0.1:{free_port()}"
    gcloud_config = tmp_path / "gcloud"
    gcloud_config.mkdir(exist_ok=True)
    return healthy_env() | {
        "KEEPER_CREDENTIALS": "auto",
        "GCE_METADATA_HOST": closed,
        "GCE_METADATA_IP": closed,
        "NO_GCE_CHECK": "true",
        "CLOUDSDK_CONFIG": str(gcloud_config),
        "GOOGLE_APPLICATION_CREDENTIALS": "",
    }


def wait_until(condition, timeout: float = 90.0, every: float = 0.3) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(every)
    raise AssertionError("condition not met in time")


@pytest.fixture
def dead_letter_inbox(
    keeper_stack: KeeperStack, monkeypatch: pytest.MonkeyPatch, short_empty_pulls: None
) -> str:
    """The dead-letter topic and its pull subscription, as deploy/deploy.sh creates them; the
    commands on it wait 3 s, not 10, on the empty pull each ends with (short_empty_pulls)."""
    project = keeper_stack.project
    topic = f"projects/{project}/topics/keeper-dead-letter"
    inbox = f"projects/{project}/subscriptions/keeper-dead-letter-inbox"
    rest(keeper_stack.pubsub_host, "PUT", topic, {})
    rest(keeper_stack.pubsub_host, "PUT", inbox, {"topic": topic})
    monkeypatch.setenv("KEEPER_DEAD_LETTER_SUBSCRIPTION", inbox)
    return inbox


def push_to(stack: KeeperStack, url: str, name: str) -> None:
    """A push subscription on the app's topic with the deploy's dead-letter policy."""
    rest(
        stack.pubsub_host,
        "PUT",
        f"projects/{stack.project}/subscriptions/{name}",
        {
            "topic": stack.topic,
            "pushConfig": {"pushEndpoint": f"{url}{stack.topic}"},
            "ackDeadlineSeconds": 10,
            "deadLetterPolicy": {
                "deadLetterTopic": f"projects/{stack.project}/topics/keeper-dead-letter",
                "maxDeliveryAttempts": MAX_DELIVERY_ATTEMPTS,
            },
            # No retryPolicy: see tests/reliability/test_soak.py (the emulator's push
            # redelivery stalls with one when several messages fail at once).
        },
    )


def cli(*args: str) -> tuple[int, str]:
    out = io.StringIO()
    status = cli_main(list(args), context=local_context, out=out, dispatch=dispatch)
    return status, out.getvalue()


@pytest.fixture
def function_without_credentials(keeper_stack: KeeperStack, tmp_path: Path) -> Iterator[str]:
    process = start_function("on_workspace_event", tmp_path, no_credentials_env(tmp_path))
    try:
        yield process.url
    finally:
        process.stop()


@pytest.mark.slow(seconds=15)
def test_an_instance_without_credentials_dead_letters_the_event_and_the_operator_replays_it(
    keeper_stack, dead_letter_inbox, function_without_credentials
):
    # GIVEN a managed subscription whose events reach only an instance that has no credentials
    stack = keeper_stack
    sub = stack.register()
    push_to(stack, function_without_credentials, "push-broken")
    stack.clear_calls()
    # WHEN its 12-hour reminder arrives
    left = (sub.expire_time - stack.control.now()).total_seconds()
    stack.control.advance(left - 12 * HOUR + 1)
    # THEN every delivery fails, and after the maximum attempts the reminder is dead-lettered
    status, listed = 0, ""

    def dead_lettered() -> bool:
        nonlocal status, listed
        status, listed = cli("dead-letters", "list", "--json")
        return status == 0 and len(json.loads(listed)) == 1

    wait_until(dead_lettered)
    [letter] = json.loads(listed)
    assert letter["event_type"] == REMINDER
    assert letter["subscription"] == sub.name.removeprefix("subscriptions/")
    assert letter["delivery_attempts"] == MAX_DELIVERY_ATTEMPTS
    # AND nothing was renewed or recorded as handled: the event was never acknowledged
    assert stack.api_calls() == []
    assert stack.record(sub.key).expire_time == sub.expire_time
    # AND listing leaves it in the inbox
    assert len(json.loads(cli("dead-letters", "list", "--json")[1])) == 1

    # WHEN the operator replays it with working credentials
    status, replayed = cli("dead-letters", "replay", "--json")
    # THEN it is handled once: renewed, and gone from the inbox
    assert status == 0, replayed
    assert [r["result"] for r in json.loads(replayed)] == ["handled"]
    assert len(stack.api_calls("subscriptions.patch")) == 1
    assert stack.record(sub.key).expire_time > sub.expire_time
    assert cli("dead-letters", "list") == (0, "no dead-lettered events\n")


def test_a_replay_that_fails_again_keeps_the_event_in_the_inbox(
    keeper_stack, dead_letter_inbox, tmp_path, monkeypatch
):
    # GIVEN a dead-lettered reminder (published to the inbox as Pub/Sub dead-letters it)
    stack = keeper_stack
    sub = stack.register()
    message = stack.lifecycle_message(REMINDER, sub.name, {"name": sub.name})
    message["attributes"]["CloudPubSubDeadLetterSourceDeliveryCount"] = "10"
    rest(
        stack.pubsub_host,
        "POST",
        f"projects/{stack.project}/topics/keeper-dead-letter:publish",
        {"messages": [{"data": message["data"], "attributes": message["attributes"]}]},
    )
    # WHEN the operator replays it while the API still fails
    stack.control.add_fault("subscriptions.patch", count=20, status=503)
    stack.control.advance((sub.expire_time - stack.control.now()).total_seconds() - HOUR)
    status, replayed = cli("dead-letters", "replay", "--json")
    # THEN the command says so with a non-zero exit, and the event is still there
    assert status == 1
    assert [r["result"] for r in json.loads(replayed)] == ["failed"]
    assert len(json.loads(cli("dead-letters", "list", "--json")[1])) == 1


def test_dead_letters_without_an_inbox_configured_says_which_variable(keeper_stack):
    err = io.StringIO()
    assert cli_main(["dead-letters", "list"], context=local_context, err=err) == 1
    assert "KEEPER_DEAD_LETTER_SUBSCRIPTION" in err.getvalue()


@pytest.mark.parametrize(
    ("change", "variable"),
    [
        ({"GOOGLE_CLOUD_PROJECT": ""}, "GOOGLE_CLOUD_PROJECT"),
        ({"KEEPER_SWEEP_QUOTA_PERCENT": "abc"}, "KEEPER_SWEEP_QUOTA_PERCENT"),
        ({"KEEPER_ALERTS_TOPIC": "alerts"}, "KEEPER_ALERTS_TOPIC"),
    ],
    ids=["project-unset", "quota-typo", "alerts-topic-not-a-path"],
)
@pytest.mark.parametrize("target", ["on_workspace_event", "on_sweep"])
def test_an_instance_with_a_bad_configuration_never_starts_and_names_the_variable(
    keeper_stack, tmp_path, change, variable, target
):
    # GIVEN a deploy with a bad variable
    env = healthy_env() | change
    # WHEN the instance starts THEN it exits instead of serving, naming the variable
    with pytest.raises(StackError, match="exited early") as raised:
        start_function(target, tmp_path, env, source=PRODUCT_FUNCTION)
    assert f"invalid configuration, the instance cannot start: {variable}" in str(raised.value)


def test_a_sweep_that_cannot_obtain_credentials_fails_the_tick(keeper_stack, tmp_path):
    # GIVEN a managed subscription due for a check, and a sweep instance without credentials
    stack = keeper_stack
    sub = stack.register()
    stack.clear_calls()
    process = start_function("on_sweep", tmp_path, no_credentials_env(tmp_path))
    try:
        stack.control.advance(7 * HOUR)  # past the verification interval
        # WHEN a tick arrives
        tick = json.dumps(
            {
                "message": {"data": "", "messageId": "tick-1"},
                "subscription": f"projects/{stack.project}/subscriptions/sweep",
            }
        ).encode()
        request = urllib.request.Request(
            f"{process.url}projects/{stack.project}/topics/keeper-sweep",
            data=tick,
            headers={"Content-Type": "application/json"},
        )
        # THEN the tick is not acknowledged (Pub/Sub redelivers; it does not count as a run)
        with pytest.raises(urllib.error.HTTPError) as raised:
            urllib.request.urlopen(request, timeout=60)
        raised.value.close()
        assert raised.value.code == 500
        # AND nothing was changed at the API
        assert stack.api_calls() == []
        assert stack.record(sub.key).name == sub.name
    finally:
        process.stop()
