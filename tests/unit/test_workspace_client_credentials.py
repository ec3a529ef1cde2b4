"""Auth specs, scopes per event type, and credentials built per principal, all offline.

Service-account keys are generated at test time (never committed); Secret Manager, the
IAM signer's source credentials and the metadata server are fakes.
"""

from __future__ import annotations

import json
import logging
import threading
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from google.api_core import exceptions as api_exceptions
from google.auth import iam
from google.auth.credentials import Credentials
from google.oauth2 import credentials as user_credentials
from google.oauth2 import service_account

from workspace_client.credentials import (
    TOKEN_URI,
    AnonymousCredentialsRefused,
    AuthSpec,
    ClientFactory,
    CredentialsProvider,
    EmulatorCredentials,
    UnsupportedEventType,
    is_loopback_endpoint,
    scopes_for,
    service_account_key_file,
)
from workspace_client.errors import CredentialsUnavailable, Unavailable

AUTH = "https://www.googleapis.com/auth/"
MESSAGE_CREATED = "google.workspace.chat.message.v1.created"
SA_EMAIL = "keeper@test-project.iam.gserviceaccount.com"
REFRESH_TOKEN = "1//refresh-token-that-must-never-be-logged"


# -- AuthSpec ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("delegated:alice@example.com", AuthSpec("delegated", user="alice@example.com")),
        (
            "user-secret:projects/p/secrets/alice-token",
            AuthSpec("user-secret", secret="projects/p/secrets/alice-token"),
        ),
        (
            "user-secret:projects/p/secrets/alice-token/versions/3",
            AuthSpec("user-secret", secret="projects/p/secrets/alice-token/versions/3"),
        ),
        ("app", AuthSpec("app")),
    ],
)
def test_auth_spec_parses_the_design_modes_and_prints_them_back(
    text: str, expected: AuthSpec
) -> None:
    spec = AuthSpec.parse(text)
    assert spec == expected
    assert str(spec) == text


@pytest.mark.parametrize(
    "text",
    [
        "",
        "delegated",
        "delegated:",
        "delegated:alice",
        "delegated:alice@example.com:extra",
        "user-secret:",
        "user-secret:alice-token",
        "user-secret:projects/p/secrets/s/versions/",
        "app:something",
        "oauth:alice@example.com",
    ],
)
def test_auth_spec_rejects_malformed_modes(text: str) -> None:
    with pytest.raises(ValueError):
        AuthSpec.parse(text)


def test_secret_version_defaults_to_latest() -> None:
    assert AuthSpec.parse("user-secret:projects/p/secrets/s").secret_version == (
        "projects/p/secrets/s/versions/latest"
    )
    assert AuthSpec.parse("user-secret:projects/p/secrets/s/versions/7").secret_version == (
        "projects/p/secrets/s/versions/7"
    )


# -- scopes --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("event_types", "kind", "expected"),
    [
        ([MESSAGE_CREATED], "delegated", ["chat.messages.readonly"]),
        (
            [
                "google.workspace.chat.message.v1.updated",
                "google.workspace.chat.message.v1.deleted",
            ],
            "user-secret",
            ["chat.messages.readonly"],
        ),
        (
            ["google.workspace.chat.reaction.v1.created"],
            "delegated",
            ["chat.messages.reactions.readonly"],
        ),
        (
            ["google.workspace.chat.membership.v1.updated"],
            "delegated",
            ["chat.memberships.readonly"],
        ),
        (["google.workspace.chat.space.v1.updated"], "delegated", ["chat.spaces.readonly"]),
        (
            [MESSAGE_CREATED, "google.workspace.chat.membership.v1.created"],
            "delegated",
            ["chat.memberships.readonly", "chat.messages.readonly"],
        ),
        (["google.workspace.drive.file.v3.created"], "delegated", ["drive.readonly"]),
        (["google.workspace.drive.accessProposal.v3.created"], "delegated", ["drive.readonly"]),
        (["google.workspace.meet.conference.v2.started"], "delegated", ["meetings.space.readonly"]),
        (
            ["google.workspace.meet.transcript.v2.fileGenerated"],
            "user-secret",
            ["meetings.space.readonly"],
        ),
        ([MESSAGE_CREATED], "app", ["chat.app.messages.readonly", "chat.bot"]),
        (
            ["google.workspace.chat.reaction.v1.deleted"],
            "app",
            ["chat.app.messages.readonly", "chat.bot"],
        ),
        (
            [
                "google.workspace.chat.membership.v1.created",
                "google.workspace.chat.space.v1.updated",
            ],
            "app",
            ["chat.app.memberships.readonly", "chat.app.spaces.readonly", "chat.bot"],
        ),
    ],
)
def test_scopes_are_the_narrowest_documented_for_every_event_type(
    event_types: list[str], kind: Any, expected: list[str]
) -> None:
    assert scopes_for(event_types, kind) == tuple(AUTH + scope for scope in expected)


@pytest.mark.parametrize(
    ("event_types", "kind"),
    [
        ([], "delegated"),
        (["google.workspace.events.subscription.v1.expired"], "delegated"),
        (["google.workspace.chat.users.v1.readStateUpdated"], "delegated"),
        (["google.workspace.unknown.thing.v1.happened"], "delegated"),
        (["not-an-event-type"], "delegated"),
        (["google.workspace.drive.file.v3.created"], "app"),
        (["google.workspace.meet.conference.v2.started"], "app"),
        ([MESSAGE_CREATED, "google.workspace.drive.file.v3.created"], "app"),
    ],
)
def test_unknown_families_and_non_chat_types_under_app_auth_are_refused(
    event_types: list[str], kind: Any
) -> None:
    with pytest.raises(UnsupportedEventType):
        scopes_for(event_types, kind)
    assert issubclass(UnsupportedEventType, ValueError)


# -- anonymous mode ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("endpoint", "loopback"),
    [
        ("http://127.0.0.1:8089/", True),
        ("http://127.8.9.10:1/", True),
        ("http://[::1]:8089/", True),
        ("http://localhost:8089/", True),
        ("https://workspaceevents.googleapis.com/", False),
        ("http://10.0.0.1:8089/", False),
        ("http://localhost.example.com/", False),
        ("http://[::2]/", False),
        ("not a url", False),
    ],
)
def test_loopback_detection(endpoint: str, loopback: bool) -> None:
    assert is_loopback_endpoint(endpoint) is loopback


@pytest.mark.parametrize(
    "endpoint", ["https://workspaceevents.googleapis.com/", "http://192.168.1.5:8089/"]
)
def test_anonymous_credentials_are_refused_for_a_non_loopback_endpoint(endpoint: str) -> None:
    with pytest.raises(AnonymousCredentialsRefused, match="loopback"):
        CredentialsProvider(mode="anonymous", endpoint=endpoint)


@pytest.mark.parametrize(
    "text", ["delegated:alice@example.com", "app", "user-secret:projects/p/secrets/s"]
)
def test_anonymous_credentials_name_the_principal_for_the_emulator(text: str) -> None:
    # GIVEN anonymous mode against a loopback emulator (no factory may be touched)
    provider = CredentialsProvider(
        mode="anonymous",
        endpoint="http://127.0.0.1:8089/",
        secret_client_factory=_must_not_be_called,
        source_credentials_factory=_must_not_be_called,
    )
    # WHEN credentials are built for a principal
    spec = AuthSpec.parse(text)
    credentials = provider.credentials_for(spec, scopes_for([MESSAGE_CREATED], spec.kind))
    # THEN they are valid forever and send "Bearer emulator:<spec>;scopes=<its scopes>"
    headers: dict[str, str] = {}
    credentials.before_request(None, "GET", "http://127.0.0.1:8089/v1/x", headers)
    assert isinstance(credentials, EmulatorCredentials)
    assert credentials.valid
    granted = ",".join(s.removeprefix(AUTH) for s in scopes_for([MESSAGE_CREATED], spec.kind))
    assert headers["authorization"] == f"Bearer emulator:{text};scopes={granted}"


def test_credentials_mode_must_be_auto_or_anonymous() -> None:
    with pytest.raises(ValueError, match="KEEPER_CREDENTIALS"):
        CredentialsProvider(mode="none")  # type: ignore[arg-type]


# -- service-account credentials (delegation, app) -----------------------------------------


def _must_not_be_called() -> Any:
    raise AssertionError("this factory must not be called")


@pytest.fixture(scope="module")
def key_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A throwaway service-account key, generated for this test run only."""
    private_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = private_key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    info = {
        "type": "service_account",
        "project_id": "test-project",
        "private_key_id": "test-key",
        "private_key": pem,
        "client_email": SA_EMAIL,
        "client_id": "1234",
        "token_uri": TOKEN_URI,
    }
    path = tmp_path_factory.mktemp("keys") / "service-account.json"
    path.write_text(json.dumps(info))
    return path


def test_delegation_with_a_key_file_impersonates_the_user(key_file: Path) -> None:
    # GIVEN a provider with a service-account key
    provider = CredentialsProvider(key_file=str(key_file))
    scopes = scopes_for([MESSAGE_CREATED], "delegated")
    # WHEN building credentials for a delegated user
    credentials = provider.credentials_for(AuthSpec.parse("delegated:alice@example.com"), scopes)
    # THEN they are that service account, acting for the user, with exactly these scopes
    assert isinstance(credentials, service_account.Credentials)
    assert credentials.service_account_email == SA_EMAIL
    assert credentials._subject == "alice@example.com"
    assert tuple(credentials.scopes) == scopes
    assert not credentials.valid  # no token yet: nothing was fetched


def test_app_auth_with_a_key_file_has_no_subject_and_the_chat_app_scopes(key_file: Path) -> None:
    provider = CredentialsProvider(key_file=str(key_file))
    scopes = scopes_for([MESSAGE_CREATED], "app")
    credentials = provider.credentials_for(AuthSpec("app"), scopes)
    assert isinstance(credentials, service_account.Credentials)
    assert credentials._subject is None
    assert set(credentials.scopes) == {AUTH + "chat.app.messages.readonly", AUTH + "chat.bot"}


class FakeSourceCredentials(Credentials):
    """The function's own identity, as ADC would give it, without a metadata server."""

    def __init__(self, email: str, email_after_refresh: str | None = None) -> None:
        super().__init__()
        self.service_account_email = email
        self._email_after_refresh = email_after_refresh
        self.refreshes = 0

    def refresh(self, request: Any) -> None:
        self.refreshes += 1
        if self._email_after_refresh is not None:
            self.service_account_email = self._email_after_refresh


def keyless_provider(source: Credentials, **options: Any) -> tuple[CredentialsProvider, list[int]]:
    builds: list[int] = []

    def source_factory() -> tuple[Credentials, str | None]:
        builds.append(1)
        return source, "test-project"

    provider = CredentialsProvider(
        source_credentials_factory=source_factory,
        request_factory=SimpleNamespace,  # an unused transport: nothing is sent
        secret_client_factory=_must_not_be_called,
        **options,
    )
    return provider, builds


def test_keyless_delegation_signs_through_the_iam_credentials_api() -> None:
    # GIVEN no key file, and the function's own service account as ADC
    source = FakeSourceCredentials(SA_EMAIL)
    provider, _ = keyless_provider(source)
    scopes = scopes_for([MESSAGE_CREATED], "delegated")
    # WHEN building delegated credentials
    credentials = provider.credentials_for(AuthSpec.parse("delegated:bob@example.com"), scopes)
    # THEN they are service-account credentials whose signer is an IAM signBlob signer
    assert isinstance(credentials, service_account.Credentials)
    assert isinstance(credentials.signer, iam.Signer)
    assert credentials.signer_email == SA_EMAIL
    assert credentials._subject == "bob@example.com"
    assert credentials._token_uri == TOKEN_URI
    assert tuple(credentials.scopes) == scopes
    assert source.refreshes == 0


def test_keyless_signer_is_built_once_for_all_principals() -> None:
    provider, builds = keyless_provider(FakeSourceCredentials(SA_EMAIL))
    scopes = scopes_for([MESSAGE_CREATED], "delegated")
    first = provider.credentials_for(AuthSpec.parse("delegated:a@example.com"), scopes)
    second = provider.credentials_for(AuthSpec.parse("delegated:b@example.com"), scopes)
    app = provider.credentials_for(AuthSpec("app"), scopes_for([MESSAGE_CREATED], "app"))
    assert len(builds) == 1
    assert first.signer is second.signer is app.signer
    assert app._subject is None


def test_keyless_learns_a_metadata_server_email_by_refreshing_the_source() -> None:
    # GIVEN metadata-server credentials that say "default" until refreshed
    source = FakeSourceCredentials("default", email_after_refresh=SA_EMAIL)
    provider, _ = keyless_provider(source)
    credentials = provider.credentials_for(
        AuthSpec.parse("delegated:a@example.com"), scopes_for([MESSAGE_CREATED], "delegated")
    )
    assert source.refreshes == 1
    assert credentials.signer_email == SA_EMAIL


def test_keyless_uses_an_explicit_service_account_email_without_refreshing() -> None:
    source = FakeSourceCredentials("default")
    provider, _ = keyless_provider(source, service_account_email="other@p.iam.gserviceaccount.com")
    credentials = provider.credentials_for(AuthSpec("app"), scopes_for([MESSAGE_CREATED], "app"))
    assert credentials.signer_email == "other@p.iam.gserviceaccount.com"
    assert source.refreshes == 0


def test_keyless_without_a_learnable_email_is_credentials_unavailable() -> None:
    provider, _ = keyless_provider(FakeSourceCredentials("default"))
    with pytest.raises(CredentialsUnavailable, match="service_account_email"):
        provider.credentials_for(AuthSpec("app"), scopes_for([MESSAGE_CREATED], "app"))


# -- user-secret -----------------------------------------------------------------------------

AUTHORIZED_USER = {
    "type": "authorized_user",
    "client_id": "client-id.apps.googleusercontent.com",
    "client_secret": "client-secret",
    "refresh_token": REFRESH_TOKEN,
}


class FakeSecretManager:
    def __init__(self, payload: bytes | Exception) -> None:
        self.payload = payload
        self.reads: list[str] = []

    def access_secret_version(self, *, name: str) -> Any:
        self.reads.append(name)
        if isinstance(self.payload, Exception):
            raise self.payload
        return SimpleNamespace(payload=SimpleNamespace(data=self.payload))


def secret_provider(payload: bytes | Exception) -> tuple[CredentialsProvider, FakeSecretManager]:
    secrets = FakeSecretManager(payload)
    provider = CredentialsProvider(
        secret_client_factory=lambda: secrets, source_credentials_factory=_must_not_be_called
    )
    return provider, secrets


def test_user_secret_builds_user_credentials_from_secret_manager(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # GIVEN an authorized-user JSON in Secret Manager
    provider, secrets = secret_provider(json.dumps(AUTHORIZED_USER).encode())
    scopes = scopes_for([MESSAGE_CREATED], "user-secret")
    # WHEN building credentials for it
    with caplog.at_level(logging.DEBUG):
        credentials = provider.credentials_for(
            AuthSpec.parse("user-secret:projects/p/secrets/alice"), scopes
        )
    # THEN the latest version was read, and the user's credentials carry the derived scopes
    assert secrets.reads == ["projects/p/secrets/alice/versions/latest"]
    assert isinstance(credentials, user_credentials.Credentials)
    assert credentials.refresh_token == REFRESH_TOKEN
    assert credentials.client_id == AUTHORIZED_USER["client_id"]
    assert tuple(credentials.scopes) == scopes
    # AND the refresh token appears in no log record
    assert caplog.records
    assert all(REFRESH_TOKEN not in record.getMessage() for record in caplog.records)


@pytest.mark.parametrize(
    "payload",
    [
        b"not json " + REFRESH_TOKEN.encode(),
        json.dumps([REFRESH_TOKEN]).encode(),
        json.dumps({**AUTHORIZED_USER, "type": "service_account"}).encode(),
        json.dumps({**AUTHORIZED_USER, "client_secret": ""}).encode(),
        json.dumps({"refresh_token": REFRESH_TOKEN}).encode(),
    ],
    ids=["not-json", "not-an-object", "wrong-type", "empty-field", "missing-fields"],
)
def test_a_malformed_secret_is_credentials_unavailable_without_leaking_its_content(
    payload: bytes,
) -> None:
    provider, _ = secret_provider(payload)
    with pytest.raises(CredentialsUnavailable) as raised:
        provider.credentials_for(AuthSpec.parse("user-secret:projects/p/secrets/s"), ())
    assert REFRESH_TOKEN not in str(raised.value)
    assert raised.value.__cause__ is None or REFRESH_TOKEN not in str(raised.value.__cause__)


@pytest.mark.parametrize(
    ("failure", "expected"),
    [
        (api_exceptions.NotFound("no such secret"), CredentialsUnavailable),
        (api_exceptions.PermissionDenied("no accessor role"), CredentialsUnavailable),
        (api_exceptions.ServiceUnavailable("try later"), Unavailable),
        (api_exceptions.TooManyRequests("quota"), Unavailable),
        (api_exceptions.InternalServerError("oops"), Unavailable),
        (api_exceptions.RetryError("deadline", cause=None), Unavailable),
    ],
)
def test_secret_manager_failures_are_mapped_to_transient_or_permanent(
    failure: Exception, expected: type[Exception]
) -> None:
    provider, _ = secret_provider(failure)
    with pytest.raises(expected, match="projects/p/secrets/s/versions/latest"):
        provider.credentials_for(AuthSpec.parse("user-secret:projects/p/secrets/s"), ())


# -- caching -------------------------------------------------------------------------------


def test_credentials_are_cached_per_principal_and_scopes() -> None:
    provider, secrets = secret_provider(json.dumps(AUTHORIZED_USER).encode())
    alice = AuthSpec.parse("user-secret:projects/p/secrets/alice")
    chat = scopes_for([MESSAGE_CREATED], "user-secret")
    meet = scopes_for(["google.workspace.meet.conference.v2.started"], "user-secret")
    first = provider.credentials_for(alice, chat)
    assert provider.credentials_for(alice, tuple(reversed(chat))) is first
    assert provider.credentials_for(alice, meet) is not first
    provider.forget(alice)
    assert provider.credentials_for(alice, chat) is not first
    assert len(secrets.reads) == 3


def test_concurrent_callers_share_one_credentials_object() -> None:
    provider, _ = secret_provider(json.dumps(AUTHORIZED_USER).encode())
    alice = AuthSpec.parse("user-secret:projects/p/secrets/alice")
    results: list[Credentials] = []
    start = threading.Barrier(8)

    def build() -> None:
        start.wait()
        results.append(provider.credentials_for(alice, ()))

    threads = [threading.Thread(target=build) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len({id(result) for result in results}) == 1


def test_client_factory_hands_out_one_client_per_principal() -> None:
    # GIVEN a factory over an anonymous provider for a loopback emulator
    provider = CredentialsProvider(mode="anonymous", endpoint="http://127.0.0.1:8089")
    factory = ClientFactory(provider)
    # WHEN asking for clients
    alice = factory.clients_for("delegated:alice@example.com", [MESSAGE_CREATED])
    again = factory.clients_for(AuthSpec.parse("delegated:alice@example.com"), [MESSAGE_CREATED])
    bob = factory.clients_for("delegated:bob@example.com", [MESSAGE_CREATED])
    # THEN a principal's client is reused and points at the provider's endpoint
    assert alice is again
    assert bob is not alice
    assert alice.endpoint == "http://127.0.0.1:8089/"
    # AND forgetting a principal builds a fresh client next time
    factory.forget("delegated:alice@example.com")
    assert factory.clients_for("delegated:alice@example.com", [MESSAGE_CREATED]) is not alice


def test_client_factory_refuses_event_types_without_scopes() -> None:
    factory = ClientFactory(CredentialsProvider(mode="anonymous", endpoint="http://[::1]:1/"))
    with pytest.raises(UnsupportedEventType):
        factory.clients_for("app", ["google.workspace.drive.file.v3.created"])


# -- environment ---------------------------------------------------------------------------


def test_service_account_key_file_only_for_service_account_keys(
    key_file: Path, tmp_path: Path
) -> None:
    user_file = tmp_path / "adc.json"
    user_file.write_text(json.dumps(AUTHORIZED_USER))
    assert service_account_key_file({"GOOGLE_APPLICATION_CREDENTIALS": str(key_file)}) == str(
        key_file
    )
    assert service_account_key_file({"GOOGLE_APPLICATION_CREDENTIALS": str(user_file)}) is None
    assert service_account_key_file({"GOOGLE_APPLICATION_CREDENTIALS": str(tmp_path / "x")}) is None
    assert service_account_key_file({}) is None


def test_from_environ_uses_the_key_file(key_file: Path) -> None:
    provider = CredentialsProvider.from_environ(
        environ={"GOOGLE_APPLICATION_CREDENTIALS": str(key_file)}
    )
    credentials = provider.credentials_for(
        AuthSpec.parse("delegated:alice@example.com"), scopes_for([MESSAGE_CREATED], "delegated")
    )
    assert credentials.service_account_email == SA_EMAIL
