"""Injected faults, latency, failing operations and quotas."""

from __future__ import annotations

import http.client
import time
import urllib.parse

import pytest
from google.oauth2.credentials import Credentials
from googleapiclient.discovery import build
from googleapiclient.errors import HttpError

from emulator.control import ControlError
from tests.support.workspace_emulator import (
    ALICE,
    BOB,
    MESSAGE_CREATED,
    WorkspaceEmulator,
    subscription_body,
)

pytestmark = pytest.mark.integration

LIST_QUERY = {"filter": f'event_types:"{MESSAGE_CREATED}"'}


def topic_of(emulator: WorkspaceEmulator) -> str:
    return f"projects/{emulator.project}/topics/unused"


@pytest.mark.parametrize(
    ("status", "canonical"),
    [
        (503, "UNAVAILABLE"),
        (429, "RESOURCE_EXHAUSTED"),
        (500, "INTERNAL"),
        (403, "PERMISSION_DENIED"),
    ],
)
def test_a_status_fault_fails_the_next_n_matching_calls_with_google_error_json(
    workspace_emulator: WorkspaceEmulator, status: int, canonical: str
) -> None:
    resource = workspace_emulator.create(topic_of(workspace_emulator))
    workspace_emulator.control.add_fault("subscriptions.patch", count=2, status=status)
    renew = {"body": {"ttl": "0s"}, "query": {"updateMask": "ttl"}}
    # other methods are untouched
    assert workspace_emulator.call("GET", f"/v1/{resource['name']}")[0] == 200
    for _ in range(2):
        code, answer = workspace_emulator.call("PATCH", f"/v1/{resource['name']}", **renew)
        assert code == status
        assert answer["error"]["code"] == status
        assert answer["error"]["status"] == canonical
        assert answer["error"]["details"][0]["domain"] == "workspaceevents.googleapis.com"
    assert workspace_emulator.call("PATCH", f"/v1/{resource['name']}", **renew)[0] == 200


def test_the_google_client_sees_a_fault_as_http_error(
    workspace_emulator: WorkspaceEmulator,
) -> None:
    workspace_emulator.control.add_fault("*", status=503)
    client = build(
        "workspaceevents",
        "v1",
        static_discovery=True,
        credentials=Credentials(token=ALICE),
        client_options={"api_endpoint": workspace_emulator.url},
    )
    with pytest.raises(HttpError) as caught:
        client.subscriptions().get(name="subscriptions/x").execute()
    assert caught.value.status_code == 503
    assert caught.value.error_details[0]["reason"] == "UNAVAILABLE"


def test_a_delay_fault_stalls_the_call_then_answers(workspace_emulator: WorkspaceEmulator) -> None:
    workspace_emulator.control.add_fault("subscriptions.list", delay_seconds=0.6)
    started = time.monotonic()
    status, _ = workspace_emulator.call("GET", "/v1/subscriptions", query=LIST_QUERY)
    assert status == 200
    assert time.monotonic() - started >= 0.6


def test_configured_latency_applies_to_every_api_call(
    workspace_emulator: WorkspaceEmulator,
) -> None:
    workspace_emulator.control.configure(latency_seconds=0.3)
    started = time.monotonic()
    for _ in range(2):
        workspace_emulator.call("GET", "/v1/subscriptions", query=LIST_QUERY)
    assert time.monotonic() - started >= 0.6


def test_a_drop_fault_closes_the_connection_without_an_answer(
    workspace_emulator: WorkspaceEmulator,
) -> None:
    workspace_emulator.control.add_fault("subscriptions.get", drop_connection=True)
    url = urllib.parse.urlsplit(workspace_emulator.url)
    connection = http.client.HTTPConnection(url.hostname or "", url.port, timeout=10)
    try:
        connection.request(
            "GET", "/v1/subscriptions/x", headers={"Authorization": f"Bearer {ALICE}"}
        )
        with pytest.raises((http.client.RemoteDisconnected, ConnectionError)):
            connection.getresponse()
    finally:
        connection.close()
    # the next call is answered again, and the log shows the dropped one without a status
    assert workspace_emulator.call("GET", "/v1/subscriptions/x")[0] == 404
    dropped, answered = workspace_emulator.control.requests()
    assert (dropped["method"], dropped["status"]) == ("subscriptions.get", None)
    assert answered["status"] == 404


def test_an_operation_fault_makes_the_next_mutation_fail_in_its_operation(
    workspace_emulator: WorkspaceEmulator,
) -> None:
    resource = workspace_emulator.create(topic_of(workspace_emulator))
    workspace_emulator.control.configure(operation_pending_polls=1)
    workspace_emulator.control.add_fault(
        "operation", operation_error={"code": 13, "message": "backend failed"}
    )
    status, operation = workspace_emulator.call(
        "PATCH", f"/v1/{resource['name']}", body={"ttl": "0s"}, query={"updateMask": "ttl"}
    )
    assert status == 200 and "done" not in operation
    _, pending = workspace_emulator.call("GET", f"/v1/{operation['name']}")
    assert "done" not in pending  # one pending poll
    _, finished = workspace_emulator.call("GET", f"/v1/{operation['name']}")
    assert finished["done"] is True
    assert "response" not in finished
    assert finished["error"]["code"] == 13
    assert finished["error"]["message"] == "backend failed"
    # the failed update changed nothing
    _, current = workspace_emulator.call("GET", f"/v1/{resource['name']}")
    assert current["etag"] == resource["etag"]


def test_invalid_faults_are_refused(workspace_emulator: WorkspaceEmulator) -> None:
    with pytest.raises(ControlError) as caught:
        workspace_emulator.control.add_fault("subscriptions.frobnicate", status=503)
    assert caught.value.status == 400
    with pytest.raises(ControlError):
        workspace_emulator.control.add_fault("subscriptions.get")  # no effect given


def test_quota_limits_writes_per_user_within_a_sliding_minute(
    workspace_emulator: WorkspaceEmulator,
) -> None:
    # GIVEN quotas of 3 writes per user per minute
    workspace_emulator.control.configure(
        quota={"enabled": True, "writes_per_user_per_minute": 3, "reads_per_user_per_minute": 1}
    )
    topic = topic_of(workspace_emulator)
    for _ in range(3):
        workspace_emulator.create(topic)
    # WHEN a fourth write comes within the minute THEN 429 RESOURCE_EXHAUSTED
    status, answer = workspace_emulator.call(
        "POST", "/v1/subscriptions", body=subscription_body(topic)
    )
    assert (status, answer["error"]["status"]) == (429, "RESOURCE_EXHAUSTED")
    # AND another user is not affected, reads have their own quota, operations are free
    workspace_emulator.create(topic, token=BOB)
    assert workspace_emulator.call("GET", "/v1/subscriptions", query=LIST_QUERY)[0] == 200
    assert workspace_emulator.call("GET", "/v1/subscriptions", query=LIST_QUERY)[0] == 429
    assert workspace_emulator.call("GET", "/v1/operations/x/y")[0] == 404
    # WHEN the emulator clock moves past the window THEN writes pass again
    workspace_emulator.control.advance(61)
    workspace_emulator.create(topic)


def test_quota_limits_writes_per_project(workspace_emulator: WorkspaceEmulator) -> None:
    workspace_emulator.control.configure(quota={"enabled": True, "writes_per_minute": 2})
    topic = topic_of(workspace_emulator)
    workspace_emulator.create(topic)
    workspace_emulator.create(topic, token=BOB)
    status, _ = workspace_emulator.call(
        "POST", "/v1/subscriptions", body=subscription_body(topic), token="emulator:app"
    )
    assert status == 429


def test_reset_clears_faults_config_and_state(workspace_emulator: WorkspaceEmulator) -> None:
    resource = workspace_emulator.create(topic_of(workspace_emulator))
    workspace_emulator.control.add_fault("*", status=503, count=5)
    workspace_emulator.control.configure(latency_seconds=1, payload_case="snake")
    before = workspace_emulator.control.advance(3600).now
    workspace_emulator.control.reset()
    assert workspace_emulator.control.faults() == []
    assert workspace_emulator.control.config()["latencySeconds"] == 0
    assert workspace_emulator.control.now() < before
    assert workspace_emulator.control.requests() == []
    assert workspace_emulator.call("GET", f"/v1/{resource['name']}")[0] == 404
