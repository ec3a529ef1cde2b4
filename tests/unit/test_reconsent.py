"""Fresh credentials after a re-consent, and the cache that keeps credentials per principal,
offline: Secret Manager and Google's token endpoint are fakes (the token endpoint answers as
Google does, `invalid_grant` for a refresh token it no longer honours)."""

from __future__ import annotations

import json
import urllib.parse
from types import SimpleNamespace
from typing import Any

import pytest
from google.auth.exceptions import RefreshError

from tests.reliability.test_secrets_never_leak import (
    ACCESS_TOKENS,
    PLANTED_CLIENT_SECRET,
    PLANTED_REFRESH_TOKEN,
    RE_CONSENTED_REFRESH_TOKEN,
)
from workspace_client.cache import ExpiringCache
from workspace_client.credentials import AuthSpec, CredentialsProvider, scopes_for

MESSAGE_CREATED = "google.workspace.chat.message.v1.created"
# The planted credentials live with the secrets test, which the leak scan watches for.
OLD_TOKEN = PLANTED_REFRESH_TOKEN
NEW_TOKEN = RE_CONSENTED_REFRESH_TOKEN
FRESH_ACCESS_TOKEN = ACCESS_TOKENS["refresh_token"]
ALICE = AuthSpec.parse("user-secret:projects/p/secrets/alice")


def authorized_user(refresh_token: str) -> bytes:
    return json.dumps(
        {
            "type": "authorized_user",
            "client_id": "client.apps.googleusercontent.com",
            "client_secret": PLANTED_CLIENT_SECRET,
            "refresh_token": refresh_token,
        }
    ).encode()


class SecretVersions:
    """Secret Manager's `latest` of one secret; a test stores a new version by assigning."""

    def __init__(self, latest: bytes) -> None:
        self.latest = latest
        self.reads = 0

    def access_secret_version(self, *, name: str) -> Any:
        assert name == "projects/p/secrets/alice/versions/latest"
        self.reads += 1
        return SimpleNamespace(payload=SimpleNamespace(data=self.latest))


class TokenEndpoint:
    """Google's token endpoint as google-auth calls it: `invalid_grant` for revoked tokens."""

    def __init__(self, *revoked: str) -> None:
        self.revoked = set(revoked)
        self.grants: list[str] = []

    def __call__(self, url: str, method: str = "GET", body: Any = None, **_: Any) -> Any:
        refresh_token = urllib.parse.parse_qs(body.decode())["refresh_token"][0]
        self.grants.append(refresh_token)
        answer: dict[str, Any]
        if refresh_token in self.revoked:
            answer, status = {"error": "invalid_grant", "error_description": "revoked"}, 400
        else:
            answer, status = {"access_token": FRESH_ACCESS_TOKEN, "expires_in": 3600}, 200
        return SimpleNamespace(status=status, headers={}, data=json.dumps(answer).encode())


def provider_over(secrets: SecretVersions) -> CredentialsProvider:
    return CredentialsProvider(
        secret_client_factory=lambda: secrets,
        source_credentials_factory=lambda: pytest.fail("no service account here"),
    )


def test_a_refused_refresh_token_is_replaced_by_the_secrets_new_version_once() -> None:
    # GIVEN credentials built from a secret whose refresh token the user has since revoked
    secrets = SecretVersions(authorized_user(OLD_TOKEN))
    credentials = provider_over(secrets).credentials_for(
        ALICE, scopes_for([MESSAGE_CREATED], "user-secret")
    )
    google = TokenEndpoint(OLD_TOKEN)
    # AND the operator stored the token of the user's new consent as the latest version
    secrets.latest = authorized_user(NEW_TOKEN)
    # WHEN the credentials refresh
    credentials.refresh(google)  # type: ignore[no-untyped-call]
    # THEN the refused token was followed by one re-read and the new token, which worked
    assert google.grants == [OLD_TOKEN, NEW_TOKEN]
    assert secrets.reads == 2
    assert credentials.token == FRESH_ACCESS_TOKEN
    assert credentials.refresh_token == NEW_TOKEN  # type: ignore[attr-defined]
    assert tuple(credentials.scopes) == scopes_for([MESSAGE_CREATED], "user-secret")  # type: ignore[attr-defined]


def test_a_secret_still_holding_the_refused_token_fails_after_one_read_without_a_loop() -> None:
    # GIVEN a revoked refresh token and no new version stored yet
    secrets = SecretVersions(authorized_user(OLD_TOKEN))
    credentials = provider_over(secrets).credentials_for(ALICE, ())
    google = TokenEndpoint(OLD_TOKEN)
    # WHEN the credentials refresh
    with pytest.raises(RefreshError) as refused:
        credentials.refresh(google)  # type: ignore[no-untyped-call]
    # THEN the refusal is the answer: the secret was read once more, the token not tried again
    assert not refused.value.retryable
    assert google.grants == [OLD_TOKEN]
    assert secrets.reads == 2


def test_a_new_token_refused_too_is_tried_once_and_the_failure_raised() -> None:
    secrets = SecretVersions(authorized_user(OLD_TOKEN))
    credentials = provider_over(secrets).credentials_for(ALICE, ())
    secrets.latest = authorized_user(NEW_TOKEN)
    google = TokenEndpoint(OLD_TOKEN, NEW_TOKEN)
    with pytest.raises(RefreshError):
        credentials.refresh(google)  # type: ignore[no-untyped-call]
    assert google.grants == [OLD_TOKEN, NEW_TOKEN]


def test_a_retryable_refresh_failure_does_not_read_the_secret() -> None:
    # GIVEN a token endpoint that is down (retryable, as google-auth marks a 503)
    secrets = SecretVersions(authorized_user(OLD_TOKEN))
    credentials = provider_over(secrets).credentials_for(ALICE, ())

    def down(url: str, method: str = "GET", body: Any = None, **_: Any) -> Any:
        data = json.dumps({"error": "temporarily_unavailable"}).encode()
        return SimpleNamespace(status=503, headers={}, data=data)

    # WHEN the refresh fails THEN the failure is raised as it is, with no re-read
    with pytest.raises(RefreshError) as failed:
        credentials.refresh(down)  # type: ignore[no-untyped-call]
    assert failed.value.retryable
    assert secrets.reads == 1


def test_the_cache_drops_entries_past_their_lifetime_and_beyond_its_size() -> None:
    now = [0.0]
    cache: ExpiringCache[str, int] = ExpiringCache(size=2, lifetime=60, monotonic=lambda: now[0])
    assert cache.setdefault("a", 1) == 1
    assert cache.setdefault("a", 2) == 1  # a live entry is kept
    cache.setdefault("b", 2)
    assert cache.get("a") == 1  # used: "b" is now the least recently used
    cache.setdefault("c", 3)
    assert (cache.get("a"), cache.get("b"), cache.get("c")) == (1, None, 3)
    now[0] = 60.0
    assert cache.get("a") is None and len(cache) == 1
    cache.discard(lambda key: key == "c")
    assert len(cache) == 0
    with pytest.raises(ValueError, match="size and a lifetime"):
        ExpiringCache(size=0)
