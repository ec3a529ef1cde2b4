"""What the reliability suites (tests/reliability/) share: the lifecycle situations that make
the keeper call each API method, the API's own view of a subscription (to judge convergence),
and redelivery as Pub/Sub does it (until the function acknowledges).

Nothing here mocks the stack: it drives the `keeper_stack` fixture (real Firestore and Pub/Sub
emulators, the Workspace Events API emulator, the function under functions-framework).
"""

from __future__ import annotations

import functools
import http.client
import json
import os
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from devstack.processes import ManagedProcess, start_firestore, start_function
from handlers.envelope import SOURCE_PREFIX
from keeper.domain.models import ManagedSubscription, State
from tests.support.gcloud_emulators import LOG_DIR
from tests.support.keeper_stack import KeeperStack
from tests.support.workspace_emulator import ALICE
from workspace_client.models import list_filter, parse_timestamp

HOUR = 3600
# The keeper's API client in these suites: a short socket timeout (so a stalled call times out
# in a second, not 15 s) and millisecond backoff between its attempts (the production policy
# sleeps up to 8 s with full jitter). The number of attempts is the production one.
CLIENT_TIMEOUT_SECONDS = 1.0
FAST_BACKOFF_SECONDS = 0.01
# How long the function waits for a long-running operation here (production: 20 s).
OPERATION_DEADLINE_SECONDS = 3  # above the client timeout, as in production (20 s vs 15 s)


@pytest.fixture
def fast_api_client(monkeypatch: pytest.MonkeyPatch) -> None:
    """Build the keeper's API clients with the short timeout and backoff above, and wait at
    most OPERATION_DEADLINE_SECONDS for an operation. In-process only (the function under the
    functions-framework test client): `keeper.runtime.context` builds its ClientFactory on first use."""
    from workspace_client import credentials
    from workspace_client.client import RetryPolicy

    monkeypatch.setattr(
        credentials,
        "ClientFactory",
        functools.partial(
            credentials.ClientFactory,
            timeout=CLIENT_TIMEOUT_SECONDS,
            retry=RetryPolicy(initial_backoff=FAST_BACKOFF_SECONDS),
        ),
    )
    monkeypatch.setenv("KEEPER_OPERATION_DEADLINE_SECONDS", str(OPERATION_DEADLINE_SECONDS))


# How long a `dead-letters` command's pull waits before the inbox counts as empty, here
# (production: keeper.operator.dead_letters.EMPTY_PULL_SECONDS, 10 s). The Pub/Sub emulator
# answers a pull at once when a message is there and otherwise holds it until the deadline, so
# every command ends on one such wait: 10 s each, most of the dead-letter tests' time.
EMPTY_PULL_SECONDS = 3.0


@pytest.fixture
def short_empty_pulls(monkeypatch: pytest.MonkeyPatch) -> None:
    """The operator's dead-letter commands conclude "empty" after EMPTY_PULL_SECONDS."""
    from keeper.operator import dead_letters

    monkeypatch.setattr(dead_letters, "EMPTY_PULL_SECONDS", EMPTY_PULL_SECONDS)


# -- the API's own view ---------------------------------------------------------------------


def api_view(stack: KeeperStack, name: str, token: str = ALICE) -> dict[str, Any] | None:
    """The subscription as the API returns it to its owner, or None when it does not exist."""
    status, body = stack.emulator.call("GET", f"/v1/{name}", token=token)
    if status == 404:
        return None
    assert status == 200, body
    return dict(body)


def api_subscriptions_on(
    stack: KeeperStack, sub: ManagedSubscription, token: str = ALICE
) -> list[dict[str, Any]]:
    """Every subscription the API holds for the managed subscription's owner and target."""
    query = {"filter": list_filter(sub.event_types, sub.target_resource), "pageSize": "100"}
    status, body = stack.emulator.call("GET", "/v1/subscriptions", token=token, query=query)
    assert status == 200, body
    return [s for s in body.get("subscriptions", []) if s["targetResource"] == sub.target_resource]


def api_expiry(view: dict[str, Any]) -> datetime:
    return parse_timestamp(view["expireTime"])


# -- lifecycle situations -------------------------------------------------------------------


def advance_to_reminder(stack: KeeperStack, sub: ManagedSubscription, hours_before: int) -> None:
    """Move the emulator's clock just past the T-`hours_before` reminder of `sub`."""
    assert sub.expire_time is not None
    left = (sub.expire_time - stack.control.now()).total_seconds()
    stack.control.advance(left - hours_before * HOUR + 1)


def published(stack: KeeperStack, event_type: str) -> dict[str, Any]:
    """The one lifecycle message of `event_type` the emulator published since the last pull."""
    messages = [m for m in stack.pull() if m["attributes"]["ce-type"] == event_type]
    assert len(messages) == 1, messages
    return messages[0]


def latest_published_per_subscription(
    stack: KeeperStack, event_type: str
) -> dict[str, dict[str, Any]]:
    """Subscription name -> the last message of `event_type` published for it since the last
    pull (messages arrive in order per subscription: the ordering key is its name)."""
    latest: dict[str, dict[str, Any]] = {}
    for message in stack.pull():
        if message["attributes"]["ce-type"] == event_type:
            name = message["attributes"]["ce-source"].removeprefix(SOURCE_PREFIX)
            latest[name] = message
    return latest


def writes_on(stack: KeeperStack, sub: ManagedSubscription) -> list[dict[str, Any]]:
    """The API writes (create, patch, reactivate, delete) the emulator received for `sub`:
    by its (old) name in the path, or by its target in a create's body."""
    assert sub.name is not None
    return [
        call
        for call in stack.api_calls()
        if sub.name in call["path"]
        or (
            isinstance(call["body"], dict)
            and call["body"].get("targetResource") == sub.target_resource
        )
    ]


@dataclass(frozen=True)
class Situation:
    """A lifecycle event and what the keeper must have achieved once it is handled."""

    name: str
    event_type: str
    write: str  # the API method that carries out the remedy
    cause: Callable[[KeeperStack, ManagedSubscription], None]
    assert_converged: Callable[[KeeperStack, ManagedSubscription], None]

    def happen(self, stack: KeeperStack, sub: ManagedSubscription) -> dict[str, Any]:
        """Cause the situation at the emulator; returns the lifecycle message it published."""
        self.cause(stack, sub)
        return published(stack, self.event_type)


def _due_for_renewal(stack: KeeperStack, sub: ManagedSubscription) -> None:
    advance_to_reminder(stack, sub, 12)


def _suspended_cause_gone(stack: KeeperStack, sub: ManagedSubscription) -> None:
    assert sub.name is not None
    stack.control.suspend(sub.name, "OTHER", cause_fixed=True)


def _expired(stack: KeeperStack, sub: ManagedSubscription) -> None:
    assert sub.name is not None
    stack.control.expire(sub.name)


def _expired_and_recreated_behind_the_keepers_back(
    stack: KeeperStack, sub: ManagedSubscription
) -> None:
    """Expired, and a subscription on the same target under the same user exists again (an
    earlier attempt that died before recording it): create answers ALREADY_EXISTS. With names
    that are not deterministic and an error that does not name the existing one (both
    unverified at Google), the keeper finds it with the filtered `list`."""
    stack.control.configure(deterministic_names=False, already_exists_names_it=False)
    _expired(stack, sub)
    status, operation = stack.emulator.call(
        "POST",
        "/v1/subscriptions",
        body={
            "targetResource": sub.target_resource,
            "eventTypes": list(sub.event_types),
            "notificationEndpoint": {"pubsubTopic": sub.pubsub_topic},
        },
    )
    assert status == 200, operation


REGISTERED_SETTINGS = (
    "key", "auth", "target_resource", "event_types", "pubsub_topic", "include_resource",
    "field_mask", "include_descendants", "ttl", "created_at",
)  # fmt: skip


def assert_settings_kept(after: ManagedSubscription, before: ManagedSubscription) -> None:
    """No registered metadata was lost or changed on the way."""
    kept = {field: getattr(after, field) for field in REGISTERED_SETTINGS}
    assert kept == {field: getattr(before, field) for field in REGISTERED_SETTINGS}


def assert_no_lease_held(stack: KeeperStack, record: ManagedSubscription) -> None:
    """Nobody is acting on the subscription. A lease left by a crashed instance may remain on
    the record once it ran out: the next claim overwrites it."""
    assert record.lease is None or not record.lease.held_at(stack.control.now()), record.lease


def assert_renewed(stack: KeeperStack, before: ManagedSubscription) -> None:
    assert before.name is not None and before.expire_time is not None
    view = api_view(stack, before.name)
    assert view is not None and view["state"] == "ACTIVE"
    assert api_expiry(view) > before.expire_time
    record = stack.record(before.key)
    assert record.state is State.ACTIVE
    assert record.expire_time is not None
    # Never later than the API's expiry (the keeper must not believe in time it does not have).
    # It may be a little earlier: a renewal the client gave up on (timeout) can still be
    # applied by the API after the retry that the keeper recorded.
    assert timedelta(0) <= api_expiry(view) - record.expire_time < timedelta(minutes=1)
    assert_no_lease_held(stack, record)
    assert_settings_kept(record, before)


def assert_reactivated(stack: KeeperStack, before: ManagedSubscription) -> None:
    assert before.name is not None
    view = api_view(stack, before.name)
    assert view is not None and view["state"] == "ACTIVE"
    record = stack.record(before.key)
    assert record.state is State.ACTIVE
    assert record.name == before.name
    assert_no_lease_held(stack, record)
    assert_settings_kept(record, before)


def assert_recreated_once(stack: KeeperStack, before: ManagedSubscription) -> None:
    """Exactly one subscription on the target at the API, live, recorded under the same key
    (under the same deterministic name, or with the old name in its lineage) and every
    registered setting intact."""
    living = api_subscriptions_on(stack, before)
    assert len(living) == 1, living
    assert api_expiry(living[0]) > stack.control.now()
    record = stack.record(before.key)
    assert record.name == living[0]["name"]
    earlier = () if record.name == before.name else (before.name,)
    assert record.lineage == (*before.lineage, *earlier)
    assert record.expire_time == api_expiry(living[0])
    assert record.state is State.ACTIVE
    assert_no_lease_held(stack, record)
    assert_settings_kept(record, before)


RENEWAL = Situation(
    "renewal", "google.workspace.events.subscription.v1.expirationReminder",
    "subscriptions.patch", _due_for_renewal, assert_renewed,
)  # fmt: skip
SUSPENSION = Situation(
    "suspension", "google.workspace.events.subscription.v1.suspended",
    "subscriptions.reactivate", _suspended_cause_gone, assert_reactivated,
)  # fmt: skip
EXPIRY = Situation(
    "expiry", "google.workspace.events.subscription.v1.expired",
    "subscriptions.create", _expired, assert_recreated_once,
)  # fmt: skip
EXPIRY_ALREADY_RECREATED = Situation(
    "expiry-already-exists", "google.workspace.events.subscription.v1.expired",
    "subscriptions.create", _expired_and_recreated_behind_the_keepers_back,
    assert_recreated_once,
)  # fmt: skip
LIFECYCLE = (RENEWAL, SUSPENSION, EXPIRY)


# -- delivery -------------------------------------------------------------------------------


def redeliver_until_acknowledged(
    stack: KeeperStack, message: dict[str, Any], attempts: int = 10
) -> list[int]:
    """Push `message` as Pub/Sub does: again after every 5xx, until it is acknowledged.
    Returns the HTTP statuses of every delivery."""
    statuses: list[int] = []
    for _ in range(attempts):
        statuses.append(stack.push(message).status_code)
        if statuses[-1] < 500:
            return statuses
    raise AssertionError(f"still not acknowledged after {attempts} deliveries: {statuses}")


# -- function processes ---------------------------------------------------------------------

KEEPER_ENV = (
    "GOOGLE_CLOUD_PROJECT",
    "FIRESTORE_EMULATOR_HOST",
    "PUBSUB_EMULATOR_HOST",
    "WORKSPACE_EVENTS_API_ENDPOINT",
    "KEEPER_CREDENTIALS",
)


@contextmanager
def function_processes(
    count: int, log_dir: Path, **extra_env: str
) -> Iterator[list[ManagedProcess]]:
    """`count` functions-framework processes serving `on_workspace_event` with the keeper's
    environment of the current test (set by the keeper_stack fixture), plus `extra_env`."""
    env = {name: os.environ[name] for name in KEEPER_ENV} | extra_env
    processes: list[ManagedProcess] = []
    try:
        for _ in range(count):
            processes.append(start_function("on_workspace_event", log_dir, env))
        yield processes
    finally:
        for process in processes:
            process.stop()


NO_ANSWER = 599  # the push got no HTTP answer: the process died, or the deadline passed


def push_to(
    process: ManagedProcess, stack: KeeperStack, message: dict[str, Any], timeout: float = 60.0
) -> int:
    """Deliver one message to a function process as a Pub/Sub push; returns the HTTP status,
    or NO_ANSWER when none came within `timeout` (Pub/Sub's acknowledgement deadline: it then
    counts the delivery as failed and delivers again later)."""
    body = {"message": message, "subscription": f"projects/{stack.project}/subscriptions/push"}
    request = urllib.request.Request(
        f"{process.url}{stack.topic}",
        data=json.dumps(body).encode(),
        method="POST",
        headers={"Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return int(response.status)
    except urllib.error.HTTPError as error:
        return int(error.code)
    except (urllib.error.URLError, OSError, http.client.HTTPException):
        return NO_ANSWER


# -- figures --------------------------------------------------------------------------------

FIGURES_ENV = "KEEPER_RELIABILITY_FIGURES"


def record_figure(suite: str, injected: str, times: int, lost: int | None, note: str = "") -> None:
    """Append one row of the README's reliability table to the JSON-lines file named by
    $KEEPER_RELIABILITY_FIGURES (bench/reliability.py sets it); nothing when unset. `lost` is
    None for what was injected into a run whose losses are counted once, at its end."""
    path = os.environ.get(FIGURES_ENV)
    if not path:
        return
    row = {"suite": suite, "injected": injected, "times": times, "lost": lost, "note": note}
    with open(path, "a", encoding="utf-8") as file:
        file.write(json.dumps(row) + "\n")


# -- judging the end of a run -----------------------------------------------------------------


@dataclass(frozen=True)
class EndState:
    active: int  # ACTIVE at the API and in the record, one subscription at the API
    flagged: int  # NEEDS_ATTENTION with a reason, at most one subscription at the API
    lost: list[str]
    doubled: list[str]  # targets with more than one subscription for one principal

    def note(self) -> str:
        return (
            f"{self.active} ACTIVE at the API and in the record, {self.flagged} flagged with a "
            f"reason, {len(self.lost)} lost, {len(self.doubled)} doubled"
        )


def end_state(stack: KeeperStack, registered: list[ManagedSubscription]) -> EndState:
    """Every registered subscription judged against the API's own view."""
    records = {sub.key: sub for sub in stack.store.all()}
    lost: list[str] = [sub.key for sub in registered if sub.key not in records]
    flagged = active = 0
    for sub in registered:
        record = records.get(sub.key)
        if record is None:
            continue
        living = api_subscriptions_on(stack, record, token=f"emulator:{sub.auth}")
        if record.state is State.NEEDS_ATTENTION and record.last_problem and len(living) <= 1:
            flagged += 1
        elif (
            record.state is State.ACTIVE
            and [s["name"] for s in living] == [record.name]
            and living[0]["state"] == "ACTIVE"
        ):
            active += 1
        else:
            lost.append(f"{record} at the API: {living}")
    doubled: list[str] = []
    for auth in sorted({sub.auth for sub in registered}):
        query = {"filter": list_filter(registered[0].event_types), "pageSize": "100"}
        targets: dict[str, int] = {}
        while True:
            status, page = stack.emulator.call(
                "GET", "/v1/subscriptions", token=f"emulator:{auth}", query=query
            )
            assert status == 200, page
            for listed in page.get("subscriptions", []):
                targets[listed["targetResource"]] = targets.get(listed["targetResource"], 0) + 1
            if not page.get("nextPageToken"):
                break
            query["pageToken"] = page["nextPageToken"]
        doubled += [target for target, n in targets.items() if n > 1]
    return EndState(active, flagged, lost, doubled)


# -- a Firestore that can go away and come back -------------------------------------------------


class RestartableFirestore:
    """A Firestore emulator of its own, on a fixed port, so it can be stopped and started
    again at the same address while function processes keep their clients. The emulator keeps
    data in memory only, so the data is exported before the stop and imported at the start:
    the database comes back as a real one would, with everything it held."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.process: ManagedProcess = start_firestore(LOG_DIR, port)

    @property
    def address(self) -> str:
        return self.process.address

    def stop_keeping_data(self, project: str, directory: Path) -> Path:
        """Export `project`'s documents, then stop; returns the export to start from."""
        directory.mkdir(parents=True, exist_ok=True)
        request = urllib.request.Request(
            f"http://{self.address}/emulator/v1/projects/{project}:export",
            data=json.dumps(
                {
                    "database": f"projects/{project}/databases/(default)",
                    "export_directory": str(directory),
                }
            ).encode(),
            method="POST",
            headers={"Content-Type": "application/json"},
        )
        urllib.request.urlopen(request, timeout=30).close()
        self.process.stop()
        [export] = directory.glob("*/*.overall_export_metadata")
        return export

    def start(self, import_data: Path) -> None:
        self.process = start_firestore(LOG_DIR, self.port, import_data=import_data)


@pytest.fixture(scope="module", name="restartable_firestore")
def restartable_firestore_fixture() -> Iterator[RestartableFirestore]:
    """A module's own Firestore emulator, which its tests may stop and start again."""
    from devstack.processes import free_port

    firestore = RestartableFirestore(free_port())
    yield firestore
    firestore.process.stop()


@pytest.fixture(name="firestore_emulator_host")
def restartable_firestore_host_fixture(restartable_firestore: RestartableFirestore) -> str:
    """Imported into a module, overrides the session's emulator there: keeper_stack then
    uses the module's restartable one."""
    return restartable_firestore.address
