"""Secrets: no access token, refresh token, client secret or private key in any log or any
Firestore document.

The emulator's own tokens (`emulator:...`) are not secrets, so a scan of an ordinary run would
prove little. Here real secrets are planted and travel the real credential paths: with
KEEPER_CREDENTIALS=auto, a `user-secret:` subscription reads an authorized-user refresh token
and client secret from Secret Manager (a double of its client, standing in for the service)
and a `delegated:` one signs with a service-account private key from
GOOGLE_APPLICATION_CREDENTIALS; both refresh at a local OAuth token endpoint, which answers
with access tokens the API then receives. The keeper registers, renews, reactivates,
recreates and fails transiently with them; the planted values are then searched for
literally, and the scan (tests/support/secrets.py) keeps watching for them in everything
that follows: after every test, what it logged, the documents it left and the lines the
processes' log files gained.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import urllib.parse
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import google.oauth2.credentials
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from emulator.auth import Principal
from keeper.domain.models import ManagedSubscription, State
from tests.support.keeper_stack import KeeperStack
from tests.support.reliability import (
    EXPIRY,
    HOUR,
    RENEWAL,
    SUSPENSION,
    api_subscriptions_on,
    api_view,
    latest_published_per_subscription,
    record_figure,
    redeliver_until_acknowledged,
)
from tests.support.secrets import PATTERNS, SecretScan

PLANTED_REFRESH_TOKEN = "1//0planted-refresh-token-must-never-leak-Zq9"
PLANTED_CLIENT_SECRET = "GOCSPX-planted-client-secret-Zq9"
ACCESS_TOKENS = {
    "refresh_token": "ya29.planted-user-access-token-Zq9",
    "urn:ietf:params:oauth:grant-type:jwt-bearer": "ya29.planted-delegated-access-token-Zq9",
}
SECRET = "projects/p/secrets/alice-refresh-token"


class TokenEndpoint:
    """A local OAuth token endpoint: answers each grant type with its planted access token
    and keeps the request bodies it received (proof that the secrets were really used)."""

    def __init__(self) -> None:
        self.received: list[str] = []
        self.revoked: set[str] = set()  # refresh tokens answered with invalid_grant, as Google does
        self.expires_in = 3600  # google-auth refreshes before each request below 225 s
        endpoint = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"])).decode()
                endpoint.received.append(body)
                grant = next(g for g in ACCESS_TOKENS if g.replace(":", "%3A") in body)
                status, answer = (
                    200,
                    json.dumps(
                        {
                            "access_token": ACCESS_TOKENS[grant],
                            "expires_in": endpoint.expires_in,
                            "token_type": "Bearer",
                        }
                    ).encode(),
                )
                if any(urllib.parse.quote(token, safe="") in body for token in endpoint.revoked):
                    status, answer = 400, b'{"error": "invalid_grant"}'
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, format: str, *args: Any) -> None:
                """Quiet."""

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/token"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def token_endpoint() -> Iterator[TokenEndpoint]:
    endpoint = TokenEndpoint()
    yield endpoint
    endpoint.close()


def private_key_pem() -> str:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()


@pytest.fixture
def stored_secret(token_endpoint: TokenEndpoint) -> dict[str, str]:
    """The authorized-user JSON Secret Manager holds as SECRET's latest version; a test that
    changes it stores a new version."""
    return {
        "type": "authorized_user",
        "client_id": "planted-client.apps.googleusercontent.com",
        "client_secret": PLANTED_CLIENT_SECRET,
        "refresh_token": PLANTED_REFRESH_TOKEN,
        "token_uri": token_endpoint.url,
    }


@pytest.fixture
def planted_credentials(
    keeper_stack: KeeperStack,
    token_endpoint: TokenEndpoint,
    stored_secret: dict[str, str],
    secret_scan: SecretScan,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> str:
    """Real credentials for the keeper; returns the planted private key."""
    from google.cloud import secretmanager

    class SecretManagerDouble:
        def access_secret_version(self, *, name: str) -> Any:
            assert name == f"{SECRET}/versions/latest"
            return SimpleNamespace(payload=SimpleNamespace(data=json.dumps(stored_secret)))

    key = private_key_pem()
    key_file = tmp_path / "service-account.json"
    key_file.write_text(
        json.dumps(
            {
                "type": "service_account",
                "project_id": "p",
                "private_key_id": "planted-key-id",
                "private_key": key,
                "client_email": "keeper@p.iam.gserviceaccount.com",
                "client_id": "1",
                "token_uri": token_endpoint.url,
            }
        )
    )
    monkeypatch.setattr(secretmanager, "SecretManagerServiceClient", SecretManagerDouble)
    # google-auth ignores an authorized user's token_uri: point its constant at the local one
    monkeypatch.setattr(
        google.oauth2.credentials, "_GOOGLE_OAUTH2_TOKEN_ENDPOINT", token_endpoint.url
    )
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(key_file))
    monkeypatch.setenv("KEEPER_CREDENTIALS", "auto")
    secret_scan.watch(
        PLANTED_REFRESH_TOKEN, PLANTED_CLIENT_SECRET, *ACCESS_TOKENS.values(), key.splitlines()[1]
    )
    return key


def token_of(sub: ManagedSubscription) -> str:
    """The access token the keeper acts with for `sub` (to ask the API as its owner)."""
    grant = (
        "refresh_token"
        if sub.auth.startswith("user-secret:")
        else "urn:ietf:params:oauth:grant-type:jwt-bearer"
    )
    return ACCESS_TOKENS[grant]


def test_planted_secrets_travel_the_real_paths_and_never_reach_a_log_or_a_document(
    keeper_stack: KeeperStack,
    planted_credentials: str,
    token_endpoint: TokenEndpoint,
    caplog: pytest.LogCaptureFixture,
):
    stack = keeper_stack
    # GIVEN subscriptions authorized by a stored refresh token and by delegation with a key
    subs = [
        stack.register("//chat.googleapis.com/spaces/SECRET", f"user-secret:{SECRET}"),
        stack.register("//chat.googleapis.com/spaces/KEYED", "delegated:carol@example.com"),
    ]
    # WHEN the keeper renews (after a transient failure), reactivates and recreates with them
    stack.control.advance(
        (min(s.expire_time for s in subs) - stack.control.now()).total_seconds() - 12 * HOUR + 60
    )
    reminders = latest_published_per_subscription(stack, RENEWAL.event_type)
    assert set(reminders) == {s.name for s in subs}
    stack.control.add_fault("subscriptions.patch", count=4, status=503)
    for message in reminders.values():
        assert redeliver_until_acknowledged(stack, message)[-1] == 200
    for situation in (SUSPENSION, EXPIRY):
        for sub in subs:
            situation.cause(stack, sub)
        for message in latest_published_per_subscription(stack, situation.event_type).values():
            assert redeliver_until_acknowledged(stack, message)[-1] == 200
    for sub in subs:
        record = stack.record(sub.key)
        assert record.state is State.ACTIVE and record.name == sub.name  # deterministic names
        assert api_view(stack, record.name, token=token_of(sub))["state"] == "ACTIVE"
        assert len(api_subscriptions_on(stack, sub, token=token_of(sub))) == 1

    # THEN the secrets were really used: refreshed at the token endpoint, tokens sent to the API
    assert any("planted-refresh-token" in body for body in token_endpoint.received)
    assert any("jwt-bearer" in body for body in token_endpoint.received)
    principals = {r["principal"] for r in stack.control.requests()}
    expected = {Principal.user("token:" + t, delegated=False).key for t in ACCESS_TOKENS.values()}
    assert expected <= principals
    # AND no planted value nor anything shaped like a credential is in a log or a document
    scan = SecretScan()
    scan.watch(PLANTED_REFRESH_TOKEN, PLANTED_CLIENT_SECRET, *ACCESS_TOKENS.values())
    scan.watch(planted_credentials.splitlines()[1])
    assert caplog.records, "the keeper logged what it did"
    for record in caplog.records:
        scan.check("log", logging.Formatter().format(record) + str(record.__dict__))
    scan.check("captured output", caplog.text)
    assert scan.scan_firestore(os.environ["FIRESTORE_EMULATOR_HOST"], stack.project) > 0
    scan.check("emulator request log", json.dumps(stack.control.requests()))
    assert scan.findings == []
    record_figure(
        "secrets",
        "planted refresh token, client secret, private key, access tokens",
        5,
        lost=0,
        note="0 found in logs, Firestore, the API's request log",
    )


RE_CONSENTED_REFRESH_TOKEN = "1//0re-consented-refresh-token-must-never-leak-Zq9"


def test_a_replaced_secret_serves_the_next_event_on_the_same_warm_instance(
    keeper_stack: KeeperStack,
    planted_credentials: str,
    token_endpoint: TokenEndpoint,
    stored_secret: dict[str, str],
    secret_scan: SecretScan,
):
    stack = keeper_stack
    secret_scan.watch(RE_CONSENTED_REFRESH_TOKEN)
    # GIVEN a subscription kept with a stored refresh token, its credentials cached by the
    # instance (short-lived access tokens: each request refreshes, as after a revocation)
    token_endpoint.expires_in = 60
    sub = stack.register("//chat.googleapis.com/spaces/RECONSENT", f"user-secret:{SECRET}")
    stack.control.advance((sub.expire_time - stack.control.now()).total_seconds() - 12 * HOUR + 60)
    reminder = latest_published_per_subscription(stack, RENEWAL.event_type)[sub.name]
    # AND the user revoked that consent: Google refuses the refresh token (invalid_grant)
    token_endpoint.revoked.add(PLANTED_REFRESH_TOKEN)
    # WHEN the reminder arrives before anyone stored a new consent
    # THEN the instance fails it (redelivered), having re-read the secret once
    assert stack.push(reminder).status_code == 500
    assert stack.api_calls("subscriptions.patch") == []
    # WHEN the user consents again and the operator stores the new token as the latest version
    stored_secret["refresh_token"] = RE_CONSENTED_REFRESH_TOKEN
    stack.clear_calls()
    # THEN the very next delivery, on the same warm instance, renews with it
    assert stack.push(reminder).status_code == 200
    assert [c["status"] for c in stack.api_calls("subscriptions.patch")] == [200]
    assert stack.record(sub.key).expire_time > sub.expire_time
    assert any("re-consented-refresh-token" in body for body in token_endpoint.received)


def test_the_scan_finds_what_it_looks_for():
    """The scan is not vacuous: each pattern and each planted value is found."""
    scan = SecretScan()
    scan.watch(PLANTED_CLIENT_SECRET)
    samples = {
        "OAuth access token": "token=ya29.a0AfH6SMBx-abcdefgh",
        "OAuth refresh token": "1//0gAbCdEfGhIjKlMn",
        "private key": private_key_pem(),
        "bearer header": "Authorization: Bearer emulator:delegated:alice@example.com",
        "credential field": '{"refresh_token": "x"}',
    }
    assert set(samples) == set(PATTERNS)
    for name, sample in samples.items():
        assert name in scan.leaks(sample)
    assert scan.leaks(f"secret is {PLANTED_CLIENT_SECRET}.") == [
        f"planted value {PLANTED_CLIENT_SECRET[:12]}..."
    ]
    assert scan.leaks("subscriptions/chat-spaces-abc renewed until 2026-12-01") == []


def test_each_test_is_scanned_in_its_own_process_as_it_ends(
    secret_scan: SecretScan, tmp_path: Path
):
    """The check after every test (tests/support/secrets.py) sees this process's log records
    and reads only what each log file gained since it last looked, so under pytest-xdist every
    worker checks what its own tests left."""
    # GIVEN the scan of this process, and a file standing for a process's log (not named
    # *.log, so that this test's own check does not find the value planted in it)
    records = secret_scan.records
    log = tmp_path / "function-log.txt"
    log.write_text("renewed subscriptions/chat-spaces-abc\n")
    # WHEN the keeper logs and the file is scanned, then gains a line with a planted value
    logging.getLogger("keeper").warning("a record for the scan")
    probe = SecretScan()
    probe.watch(PLANTED_CLIENT_SECRET)
    probe.scan_files([log], since=0)
    with log.open("a") as file:
        file.write(f"client secret {PLANTED_CLIENT_SECRET}\n")
    probe.scan_files([log], since=0)
    probe.scan_files([log], since=0)
    # THEN the record reached this process's scan, and the leak is found once, in its file
    assert secret_scan.records > records
    assert probe.findings == [f"{log}: planted value {PLANTED_CLIENT_SECRET[:12]}..."]
    assert probe.files == 1
