"""Credentials per subscription: act as the principal that authorized it.

Only whoever authorized a subscription can renew, reactivate or recreate it
(docs/api-reference.md §6): the user (through domain-wide delegation or the user's own refresh
token) or the Chat app. ``AuthSpec`` names that principal, ``scopes_for`` derives the
least-privilege scopes, ``CredentialsProvider`` builds credentials and ``ClientFactory``
clients, both cached per principal and scopes.

Nothing touches the network, or imports google.oauth2, IAM or Secret Manager, until
credentials are built for a principal.
"""

from __future__ import annotations

import functools
import ipaddress
import json
import logging
import os
import re
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import KW_ONLY, dataclass, field, replace
from typing import TYPE_CHECKING, Any, Literal, Protocol, TypeVar
from urllib.parse import urlsplit

from google.auth.credentials import Credentials
from google.auth.exceptions import DefaultCredentialsError, GoogleAuthError

from workspace_client.cache import ExpiringCache
from workspace_client.chat import DEFAULT_CHAT_ENDPOINT, ChatClient
from workspace_client.client import (
    DEFAULT_ENDPOINT,
    DEFAULT_POLL,
    DEFAULT_RETRY,
    PollPolicy,
    RetryPolicy,
    WorkspaceEventsClient,
)
from workspace_client.drive_activity import DEFAULT_DRIVE_ACTIVITY_ENDPOINT, DriveActivityClient
from workspace_client.errors import CredentialsUnavailable, Unavailable, from_transport_error
from workspace_client.meet import DEFAULT_MEET_ENDPOINT, MeetClient

if TYPE_CHECKING:
    from google.auth.transport import Request


logger = logging.getLogger(__name__)

AuthKind = Literal["delegated", "user-secret", "app"]
CredentialsMode = Literal["auto", "anonymous"]

SCOPE_PREFIX = "https://www.googleapis.com/auth/"
# A user's subscription to every space they are a member of.
ALL_USER_SPACES = "//chat.googleapis.com/spaces/-"
# Drive Activity's `activity.query` takes drive.activity(.readonly) only (driveactivity.v2).
DRIVE_ACTIVITY_SCOPE = "drive.activity.readonly"
TOKEN_URI = "https://oauth2.googleapis.com/token"
# What the function's own identity needs to call the IAM Credentials signBlob API.
_CLOUD_PLATFORM = SCOPE_PREFIX + "cloud-platform"

_EMAIL = re.compile(r"^[^@\s:]+@[^@\s:]+$")
_SECRET = re.compile(r"^projects/[^/\s]+/secrets/[^/\s]+(?:/versions/[^/\s]+)?$")
_EVENT_TYPE = re.compile(r"^google\.workspace\.(\w+)\.(\w+)\.v\d+\.\w+$")

R = TypeVar("R")


class UnsupportedEventType(ValueError):
    """No known scope covers this event type under this kind of authentication."""


class AnonymousCredentialsRefused(ValueError):
    """``KEEPER_CREDENTIALS=anonymous`` was asked for with a non-loopback endpoint."""


# -- who authorized the subscription ----------------------------------------------------


@dataclass(frozen=True, slots=True)
class AuthSpec:
    """A principal in the README's ``--auth`` syntax (``delegated:USER_EMAIL``,
    ``user-secret:projects/P/secrets/S[/versions/V]``, ``app``); ``str(spec)`` gives it back."""

    kind: AuthKind
    user: str | None = None
    secret: str | None = None

    def __post_init__(self) -> None:
        if self.kind == "delegated":
            if not self.user or not _EMAIL.fullmatch(self.user) or self.secret is not None:
                raise ValueError(f"delegated auth needs a user email: {self.user!r}")
        elif self.kind == "user-secret":
            if not self.secret or not _SECRET.fullmatch(self.secret) or self.user is not None:
                raise ValueError(
                    f"user-secret auth needs projects/P/secrets/S[/versions/V]: {self.secret!r}"
                )
        elif self.kind == "app":
            if self.user is not None or self.secret is not None:
                raise ValueError("app auth takes no argument")
        else:
            raise ValueError(f"unknown auth kind: {self.kind!r}")

    @classmethod
    def parse(cls, text: AuthSpec | str) -> AuthSpec:
        """The spec ``text`` names (a spec passes through as it is)."""
        if isinstance(text, AuthSpec):
            return text
        kind, _, argument = text.strip().partition(":")
        if kind == "delegated":
            return cls("delegated", user=argument)
        if kind == "user-secret":
            return cls("user-secret", secret=argument)
        if kind == "app" and not argument:
            return cls("app")
        raise ValueError(
            f"--auth must be delegated:EMAIL, user-secret:projects/P/secrets/S or app: {text!r}"
        )

    @property
    def secret_version(self) -> str:
        """The Secret Manager version to read; ``latest`` unless the spec pins one."""
        if self.secret is None:
            raise ValueError(f"{self} has no secret")
        return self.secret if "/versions/" in self.secret else f"{self.secret}/versions/latest"

    def __str__(self) -> str:
        argument = self.user or self.secret
        return f"{self.kind}:{argument}" if argument else self.kind


# A principal acting with sorted scopes: what credentials and clients are cached by.
Principal = tuple[AuthSpec, tuple[str, ...]]


# -- scopes -----------------------------------------------------------------------------

# (app, resource family) -> scope, per docs/api-reference.md §6. The narrowest documented scope
# wins: the keeper only manages subscriptions, it never reads or writes the resources.
_USER_SCOPES: dict[tuple[str, str], str] = {
    ("chat", "message"): "chat.messages.readonly",
    ("chat", "reaction"): "chat.messages.reactions.readonly",
    ("chat", "membership"): "chat.memberships.readonly",
    ("chat", "space"): "chat.spaces.readonly",
    ("chat", "spacereadstate"): "chat.users.readstate.readonly",
    ("chat", "threadreadstate"): "chat.users.readstate.readonly",
    ("chat", "availability"): "chat.users.availability.readonly",
    # drive.readonly is documented for every Drive family. drive.metadata.readonly is
    # narrower for comments/replies/etc. but not for files, so one scope keeps it simple.
    **{
        ("drive", family): "drive.readonly"
        for family in ("file", "comment", "reply", "permission", "approval", "accessproposal")
    },
    **{
        ("meet", family): "meetings.space.readonly"
        for family in ("conference", "participant", "recording", "transcript", "smartnote")
    },
}

# Chat app authentication: chat.app.* for create/patch/reactivate. There is no
# chat.app.* reactions scope: reactions come with the messages scope.
_APP_SCOPES: dict[tuple[str, str], str] = {
    ("chat", "message"): "chat.app.messages.readonly",
    ("chat", "reaction"): "chat.app.messages.readonly",
    ("chat", "membership"): "chat.app.memberships.readonly",
    ("chat", "space"): "chat.app.spaces.readonly",
    ("chat", "spacereadstate"): "chat.app.all.users.readstate.readonly",
    ("chat", "threadreadstate"): "chat.app.all.users.readstate.readonly",
}
# ...on an organization (a `//admin.googleapis.com/customers/*` target, org-wide): the
# chat.app.all.* scope of each family's chat.app.* one, the one whose discovery description
# names it (messages and reactions, members, spaces, read state; docs/api-reference.md §10).
_APP_ALL_SCOPES: dict[tuple[str, str], str] = {
    key: "chat.app.all." + scope.removeprefix("chat.app.").removeprefix("all.")
    for key, scope in _APP_SCOPES.items()
}
CUSTOMER_TARGET = "//admin.googleapis.com/customers/"
# ...and chat.bot, the only scope discovery accepts from an app for get/list/delete and
# operations.get. One token carries both, so one client serves every method.
_APP_READ_SCOPE = "chat.bot"


def is_org_wide(target_resource: str | None) -> bool:
    """A Chat app's subscription to its whole organization (`customers/my_customer` or an id)."""
    return target_resource is not None and target_resource.startswith(CUSTOMER_TARGET)


def scopes_for(
    event_types: Iterable[str], auth_kind: AuthKind, target_resource: str | None = None
) -> tuple[str, ...]:
    """Full scope URLs that cover every event type (create/patch/reactivate need all): for a
    Chat app on an organization (``target_resource`` under ``//admin.googleapis.com/customers/``)
    the ``chat.app.all.*`` ones.

    Raises ``UnsupportedEventType`` for a type no known scope covers, including Drive and
    Meet types under ``app`` auth (Chat apps can subscribe to Chat spaces only).
    """
    table, scopes = _USER_SCOPES, set[str]()
    if auth_kind == "app":
        table = _APP_ALL_SCOPES if is_org_wide(target_resource) else _APP_SCOPES
        scopes.add(_APP_READ_SCOPE)
    types = list(event_types)
    if not types:
        raise UnsupportedEventType("at least one event type is needed to choose scopes")
    for event_type in types:
        match = _EVENT_TYPE.fullmatch(event_type)
        # Lower-cased: the docs spell Drive's accessproposal and Meet's smartNote both ways.
        key = (match.group(1), match.group(2).lower()) if match else None
        if key is None or key not in table:
            raise UnsupportedEventType(
                f"no known scope covers {event_type!r} under {auth_kind} authentication"
            )
        scopes.add(table[key])
    return tuple(sorted(SCOPE_PREFIX + scope for scope in scopes))


# -- anonymous mode (local emulator only) -----------------------------------------------


def is_loopback_endpoint(endpoint: str) -> bool:
    """True when the endpoint's host is localhost, 127.0.0.0/8 or ::1."""
    host = urlsplit(endpoint).hostname
    try:
        return host == "localhost" or (host is not None and ipaddress.ip_address(host).is_loopback)
    except ValueError:
        return False


class EmulatorCredentials(Credentials):
    """Sends ``Authorization: Bearer emulator:<auth spec>[;scopes=A,B]``, which the local
    emulator maps to the authorizing principal holding those scopes (it enforces them as Google
    does). Never valid against Google: the provider refuses this mode for a remote endpoint."""

    def __init__(self, auth: AuthSpec, scopes: Sequence[str] = ()) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        granted = ",".join(scope.removeprefix(SCOPE_PREFIX) for scope in scopes)
        self.token = f"emulator:{auth};scopes={granted}" if granted else f"emulator:{auth}"

    def refresh(self, request: Request) -> None:
        """Nothing to refresh: the token never expires (``expiry`` stays None)."""


# -- building real credentials ----------------------------------------------------------


class SecretVersionReader(Protocol):
    """The part of ``secretmanager.SecretManagerServiceClient`` used here."""

    def access_secret_version(self, *, name: str) -> Any: ...


def service_account_key_file(environ: Mapping[str, str] = os.environ) -> str | None:
    """``GOOGLE_APPLICATION_CREDENTIALS`` when it names a *service-account key* file; else
    None (keyless signing), as an authorized-user or external-account file cannot sign."""
    path = environ.get("GOOGLE_APPLICATION_CREDENTIALS")
    if not path:
        return None
    try:
        with open(path, encoding="utf-8") as file:
            kind = json.load(file).get("type")
    except (OSError, ValueError, AttributeError):
        return None
    return path if kind == "service_account" else None


def _default_source() -> tuple[Credentials, str | None]:
    import google.auth  # noqa: PLC0415 - lazy: only when keyless signing is first needed

    return google.auth.default(scopes=[_CLOUD_PLATFORM])


def _default_request() -> Request:
    from google.auth.transport.requests import Request  # noqa: PLC0415 - lazy, pulls requests

    return Request()


def _default_secret_client() -> SecretVersionReader:
    from google.cloud import secretmanager  # noqa: PLC0415 - lazy: heavy gRPC import

    client: SecretVersionReader = secretmanager.SecretManagerServiceClient()
    return client


@dataclass(eq=False)
class CredentialsProvider:
    """Builds and caches google.auth credentials per (principal, scopes); thread-safe.

    ``key_file``: a service-account key for delegation and app auth; None signs keylessly
    through the IAM Credentials API as the function's own service account
    (``service_account_email``, or the one Application Default Credentials resolve to), which
    needs ``roles/iam.serviceAccountTokenCreator`` on itself. The ``*_factory`` arguments let
    tests run without network or metadata server."""

    _: KW_ONLY
    mode: CredentialsMode = "auto"
    endpoint: str = DEFAULT_ENDPOINT
    key_file: str | None = None
    service_account_email: str | None = None
    secret_client_factory: Callable[[], SecretVersionReader] = _default_secret_client
    source_credentials_factory: Callable[[], tuple[Credentials, str | None]] = _default_source
    request_factory: Callable[[], Request] = _default_request
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)
    _cache: ExpiringCache[Principal, Credentials] = field(
        default_factory=ExpiringCache, init=False, repr=False
    )
    _secret_client: SecretVersionReader | None = field(default=None, init=False, repr=False)
    _signer: tuple[Any, str] | None = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        if self.mode not in ("auto", "anonymous"):
            raise ValueError(f"KEEPER_CREDENTIALS must be auto or anonymous: {self.mode!r}")
        if self.mode == "anonymous" and not is_loopback_endpoint(self.endpoint):
            raise AnonymousCredentialsRefused(
                "anonymous credentials are only allowed for a loopback endpoint, "
                f"not {self.endpoint!r}"
            )

    @classmethod
    def from_environ(
        cls,
        *,
        mode: CredentialsMode = "auto",
        endpoint: str = DEFAULT_ENDPOINT,
        environ: Mapping[str, str] = os.environ,
    ) -> CredentialsProvider:
        """A provider that uses ``GOOGLE_APPLICATION_CREDENTIALS`` when it is a key file."""
        return cls(mode=mode, endpoint=endpoint, key_file=service_account_key_file(environ))

    def credentials_for(self, auth: AuthSpec, scopes: Sequence[str]) -> Credentials:
        key = (auth, tuple(sorted(scopes)))
        return self._cache.get_or_build(key, lambda: self._build(*key))

    def forget(self, auth: AuthSpec) -> None:
        """Drop cached credentials for a principal, e.g. after its secret was replaced."""
        self._cache.discard(lambda key: key[0] == auth)

    def _build(self, auth: AuthSpec, scopes: tuple[str, ...]) -> Credentials:
        if self.mode == "anonymous":
            return EmulatorCredentials(auth, scopes)
        if auth.kind == "user-secret":
            return self._user_credentials(auth, scopes)
        # Delegation impersonates the user (subject); a Chat app acts as itself (no subject).
        return self._service_account_credentials(scopes, subject=auth.user)

    def _service_account_credentials(
        self, scopes: tuple[str, ...], subject: str | None
    ) -> Credentials:
        from google.oauth2.service_account import (  # noqa: PLC0415 - lazy: pulls cryptography
            Credentials as ServiceAccount,
        )

        if self.key_file is None:
            credentials: Credentials = ServiceAccount(  # type: ignore[no-untyped-call]
                *self._keyless_signer(), TOKEN_URI, scopes=scopes, subject=subject
            )
        else:
            credentials = ServiceAccount.from_service_account_file(  # type: ignore[no-untyped-call]
                self.key_file, scopes=scopes, subject=subject
            )
        return credentials

    def _keyless_signer(self) -> tuple[Any, str]:
        """An IAM signBlob signer for the function's own service account, built once."""
        with self._lock:
            if self._signer is not None:
                return self._signer
        from google.auth import iam  # noqa: PLC0415 - lazy, with the rest of google.auth

        try:
            source, _ = self.source_credentials_factory()
            request = self.request_factory()
            email = self.service_account_email or getattr(source, "service_account_email", None)
            if not email or email == "default":
                # Metadata-server credentials only learn their email on the first refresh.
                source.refresh(request)  # type: ignore[no-untyped-call]
                email = getattr(source, "service_account_email", None)
        except DefaultCredentialsError as exc:
            raise CredentialsUnavailable(f"no default credentials to sign with: {exc}") from exc
        except GoogleAuthError as exc:
            raise from_transport_error(exc) from exc
        if not email or email == "default":
            raise CredentialsUnavailable(
                "keyless signing needs the function's service account email; "
                "pass service_account_email"
            )
        signer = (iam.Signer(request, source, email), str(email))  # type: ignore[no-untyped-call]
        with self._lock:
            self._signer = self._signer or signer
            return self._signer

    def _user_credentials(self, auth: AuthSpec, scopes: tuple[str, ...]) -> Credentials:
        from workspace_client.user_secret import (  # noqa: PLC0415 - lazy, as above
            RereadingUserCredentials,
        )

        name = auth.secret_version
        info = self._read_authorized_user(name)
        logger.info("loaded user credentials from %s", name)
        # The scopes go into every refresh request, and Google refuses scopes the user
        # never granted: the consent that produced the token must cover these.
        credentials: RereadingUserCredentials = RereadingUserCredentials.from_authorized_user_info(  # type: ignore[no-untyped-call]
            info, scopes=list(scopes)
        )
        # After a re-consent the operator stores a new version: a refused refresh token is
        # replaced by what the secret holds then (the latest version, unless the spec pins one).
        credentials.reread = functools.partial(self._read_authorized_user, name)
        credentials.secret_name = name
        return credentials

    def _read_authorized_user(self, name: str) -> dict[str, Any]:
        """The authorized-user JSON kept in Secret Manager. It holds a refresh token: its
        content is never logged or put into an error message."""
        from google.api_core import exceptions as api  # noqa: PLC0415 - lazy

        transient = (api.RetryError, api.ServerError, api.TooManyRequests)
        try:
            payload = self._secrets().access_secret_version(name=name).payload.data
        except transient as exc:
            raise Unavailable(f"reading {name}: {type(exc).__name__}") from exc
        except api.GoogleAPICallError as exc:
            # Not found, no access: a configuration problem a retry will not fix.
            raise CredentialsUnavailable(f"reading {name}: {exc.message}") from exc
        try:
            info = json.loads(payload)
        except ValueError:
            raise CredentialsUnavailable(f"{name} does not hold JSON") from None
        required = ("client_id", "client_secret", "refresh_token")
        if (
            not isinstance(info, dict)
            or info.get("type", "authorized_user") != "authorized_user"
            or not all(info.get(field) for field in required)
        ):
            raise CredentialsUnavailable(
                f"{name} is not an authorized_user JSON with {', '.join(required)}"
            )
        return info

    def _secrets(self) -> SecretVersionReader:
        with self._lock:
            if self._secret_client is None:
                self._secret_client = self.secret_client_factory()
            return self._secret_client


# -- one client per principal -----------------------------------------------------------


@dataclass(eq=False)
class ClientFactory:
    """Hands out one cached ``WorkspaceEventsClient`` per (principal, scopes), and clients of
    the read APIs (Chat, Meet, Drive Activity) as the same principals."""

    provider: CredentialsProvider
    _: KW_ONLY
    timeout: float = 15.0
    retry: RetryPolicy = DEFAULT_RETRY
    polling: PollPolicy = DEFAULT_POLL
    chat_endpoint: str = DEFAULT_CHAT_ENDPOINT
    meet_endpoint: str = DEFAULT_MEET_ENDPOINT
    drive_activity_endpoint: str = DEFAULT_DRIVE_ACTIVITY_ENDPOINT
    _clients: ExpiringCache[Principal, WorkspaceEventsClient] = field(
        default_factory=ExpiringCache, init=False, repr=False
    )

    def paced(self) -> ClientFactory:
        """A factory of clients for a caller that paces itself and owns its 429 retries (the
        sweep): they raise RateLimited at once. Same credentials."""
        return replace(self, retry=replace(self.retry, rate_limited=False))

    def clients_for(
        self, auth: AuthSpec | str, event_types: Iterable[str], target_resource: str | None = None
    ) -> WorkspaceEventsClient:
        """The client acting as ``auth`` with the scopes its event types need."""
        key, endpoint = _key(auth, event_types, target_resource), self.provider.endpoint
        return self._clients.get_or_build(
            key, lambda: self._client(WorkspaceEventsClient, endpoint, key, polling=self.polling)
        )

    def chat_for(
        self, auth: AuthSpec | str, event_types: Iterable[str], target_resource: str | None = None
    ) -> ChatClient:
        """A Chat API client acting as ``auth`` with the same scopes (the Chat read scopes its
        event types need cover ``spaces.spaceEvents``; docs/api-reference.md §9), and, for a
        user's subscription to all their spaces, ``chat.spaces.readonly``, which ``spaces.list``
        needs to name them (docs/api-reference.md §11)."""
        key = _key(auth, event_types, target_resource)
        all_spaces = target_resource == ALL_USER_SPACES and key[0].kind != "app"
        more = ("chat.spaces.readonly",) if all_spaces else ()
        return self._client(ChatClient, self.chat_endpoint, key, *more)

    def meet_for(
        self, auth: AuthSpec | str, event_types: Iterable[str], target_resource: str | None = None
    ) -> MeetClient:
        """A Meet REST API client with the subscription's own scopes (its Meet read scopes
        cover conferenceRecords; docs/replay.md)."""
        key = _key(auth, event_types, target_resource)
        return self._client(MeetClient, self.meet_endpoint, key)

    def drive_activity_for(
        self, auth: AuthSpec | str, event_types: Iterable[str], target_resource: str | None = None
    ) -> DriveActivityClient:
        """A Drive Activity API client: the subscription's scopes and the Drive Activity read
        scope, which no Drive event scope covers (docs/replay.md)."""
        key = _key(auth, event_types, target_resource)
        endpoint = self.drive_activity_endpoint
        return self._client(DriveActivityClient, endpoint, key, DRIVE_ACTIVITY_SCOPE)

    def chat_with_scopes(self, auth: AuthSpec | str, scopes: Iterable[str]) -> ChatClient:
        """A Chat API client acting as ``auth`` with exactly ``scopes`` (short names, such as
        ``chat.bot``): for calls no event type decides the scopes of, as the Chat app's
        direct messages (docs/api-reference.md §11)."""
        return self._client(ChatClient, self.chat_endpoint, (AuthSpec.parse(auth), ()), *scopes)

    def _client(
        self, api: Callable[..., R], endpoint: str, key: Principal, *more: str, **options: Any
    ) -> R:
        """A client of `api` at `endpoint`, acting as the `key`'s principal with its scopes and
        the short-named scopes `more`."""
        spec, scopes = key
        scopes = tuple(sorted({*scopes, *(SCOPE_PREFIX + scope for scope in more)}))
        credentials = self.provider.credentials_for(spec, scopes)
        return api(
            credentials, endpoint=endpoint, timeout=self.timeout, retry=self.retry, **options
        )

    def forget(self, auth: AuthSpec | str) -> None:
        """Drop the cached clients and credentials of a principal."""
        spec = AuthSpec.parse(auth)
        self._clients.discard(lambda key: key[0] == spec)
        self.provider.forget(spec)


def _key(
    auth: AuthSpec | str, event_types: Iterable[str], target_resource: str | None = None
) -> Principal:
    spec = AuthSpec.parse(auth)
    return spec, scopes_for(event_types, spec.kind, target_resource)
