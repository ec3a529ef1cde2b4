"""Who is calling: the bearer token mapped to a principal.

The keeper, run against the emulator with `KEEPER_CREDENTIALS=anonymous`, sends tokens of the
form `emulator:<auth-spec>[;scopes=SCOPE,SCOPE…]` (`delegated:EMAIL`,
`user-secret:SECRET_RESOURCE`, `app`; scopes as full URLs or without the
`https://www.googleapis.com/auth/` prefix), and the scopes are enforced (emulator.scopes). Any
other bearer token is an ordinary user holding every scope, as is an emulator token without
scopes. Tokens are never stored or logged: only the principal is.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field, replace

from emulator.errors import ApiError

_EMULATOR_PREFIX = "emulator:"
_SCOPE_PREFIX = "https://www.googleapis.com/auth/"


def stable_number(text: str) -> str:
    """A stable numeric id (like a Directory API user id) derived from `text`."""
    return str(int(hashlib.sha256(text.encode("utf-8")).hexdigest()[:15], 16))


@dataclass(frozen=True)
class Principal:
    """The authorizing identity of a call.

    `key` identifies it for ownership and per-user quota: `users/<id>` for a user, the service
    account authority for the Chat app.
    """

    authority: str
    user_authority: str
    service_account_authority: str
    delegated: bool
    # The OAuth scopes the token carries (short names); None: every scope.
    scopes: frozenset[str] | None = field(default=None, compare=False)

    @property
    def is_app(self) -> bool:
        return bool(self.service_account_authority)

    @property
    def key(self) -> str:
        return self.service_account_authority or self.user_authority

    @classmethod
    def user(cls, seed: str, *, delegated: bool) -> Principal:
        authority = f"users/{stable_number(seed)}"
        return cls(authority, authority, "", delegated)

    @classmethod
    def app(cls, project: str) -> Principal:
        account = f"projects/{project}/serviceAccounts/{stable_number('app:' + project)}"
        return cls("", "", account, False)


def _unauthenticated(message: str, reason: str) -> ApiError:
    return ApiError("UNAUTHENTICATED", message, reason=reason)


def principal_for_token(token: str | None, project: str) -> Principal:
    """The principal a bearer token stands for; 401 when there is no usable token."""
    if not token:
        raise _unauthenticated(
            "Request is missing required authentication credential. Expected OAuth 2 access "
            "token, login cookie or other valid authentication credential. See "
            "https://developers.google.com/identity/sign-in/web/devconsole-project.",
            "CREDENTIALS_MISSING",
        )
    if not token.startswith(_EMULATOR_PREFIX):
        return Principal.user("token:" + token, delegated=False)
    spec, _, scope_part = token.removeprefix(_EMULATOR_PREFIX).partition(";")
    scopes = _scopes(scope_part)
    mode, _, value = spec.partition(":")
    if mode == "delegated" and value:
        return replace(Principal.user(value.lower(), delegated=True), scopes=scopes)
    if mode == "user-secret" and value:
        return replace(Principal.user("user-secret:" + value, delegated=False), scopes=scopes)
    if mode == "app" and not value:
        return replace(Principal.app(project), scopes=scopes)
    raise _unauthenticated(
        "Request had invalid authentication credentials. An emulator token must be "
        "emulator:delegated:EMAIL, emulator:user-secret:SECRET_RESOURCE or emulator:app.",
        "ACCESS_TOKEN_TYPE_UNSUPPORTED",
    )


def _scopes(part: str) -> frozenset[str] | None:
    """`scopes=a,b` -> {a, b} (prefix stripped); "" -> None (every scope)."""
    if not part:
        return None
    name, _, value = part.partition("=")
    if name != "scopes":
        raise _unauthenticated(
            "Request had invalid authentication credentials: after ';' an emulator token "
            "takes only scopes=SCOPE,SCOPE.",
            "ACCESS_TOKEN_TYPE_UNSUPPORTED",
        )
    return frozenset(
        scope.strip().removeprefix(_SCOPE_PREFIX) for scope in value.split(",") if scope.strip()
    )


def bearer_token(authorization: str | None, query_token: str | None) -> str | None:
    """The token of `Authorization: Bearer …`, or of the `access_token`/`oauth_token` param."""
    if authorization:
        scheme, _, credential = authorization.partition(" ")
        if scheme.lower() == "bearer" and credential.strip():
            return credential.strip()
        return None
    return query_token or None
