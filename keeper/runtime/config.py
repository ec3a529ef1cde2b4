"""One frozen configuration object read from the environment, failing fast by variable name."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from workspace_client.chat import DEFAULT_CHAT_ENDPOINT
from workspace_client.client import DEFAULT_ENDPOINT
from workspace_client.drive_activity import DEFAULT_DRIVE_ACTIVITY_ENDPOINT
from workspace_client.meet import DEFAULT_MEET_ENDPOINT

if TYPE_CHECKING:
    from workspace_client.credentials import CredentialsMode


class ConfigError(ValueError):
    """A required environment variable is missing or has an invalid value."""


def _flag(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    value = raw.strip().lower()
    if value in {"1", "true", "yes", "on"}:
        return True
    if value in {"0", "false", "no", "off"}:
        return False
    raise ConfigError(f"{name} must be true or false, not {raw!r}")


def _positive_int(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name} must be an integer, not {raw!r}") from None
    if value <= 0:
        raise ConfigError(f"{name} must be positive, not {value}")
    return value


def _percent(env: Mapping[str, str], name: str, default: int) -> int:
    value = _positive_int(env, name, default)
    if value > 100:
        raise ConfigError(f"{name} is a percentage: at most 100, not {value}")
    return value


@dataclass(frozen=True)
class Config:
    project: str
    api_endpoint: str = DEFAULT_ENDPOINT
    # The Chat API (spaces.spaceEvents, to replay missed Chat events).
    chat_api_endpoint: str = DEFAULT_CHAT_ENDPOINT
    # The Meet REST API and the Drive Activity API (to replay missed Meet and Drive events).
    meet_api_endpoint: str = DEFAULT_MEET_ENDPOINT
    drive_activity_api_endpoint: str = DEFAULT_DRIVE_ACTIVITY_ENDPOINT
    credentials: CredentialsMode = "auto"
    collection_prefix: str = "keeper"
    # Granting the app's push service account on a topic changes IAM: off unless asked for.
    fix_topic_iam: bool = False
    # Whether `register`/`adopt` without --replay turn replays on: off, since an app that does
    # not expect them would see events twice (the overlap) or late.
    replay_default: bool = False
    chat_push_service_account: str = "chat-api-push@system.gserviceaccount.com"
    ledger_ttl_days: int = 14
    operation_deadline_seconds: int = 20
    # Where alerts for a person go (projects/P/topics/T); None: logged and recorded only.
    alerts_topic: str | None = None
    # Where the app is told that a subscription needs a person, and that it recovered
    # (docs/design.md, Notices); None: no notices.
    notices_topic: str | None = None
    # The Chat app also tells the user who can fix it, by direct message (KEEPER_DIRECT_MESSAGES).
    direct_messages: bool = False
    # The sweep (keeper/sweep/run.py): where it fans out shards of due work (None: no fan-out),
    # how long one invocation works, how many subscriptions one invocation takes on, the
    # shortest interval between two checks of a subscription against the API (the sweep's
    # tick; keeper.sweep.plan.verify_every lengthens it as the read quota requires), and its
    # share of the API quota (the rest is left for the lifecycle handler).
    sweep_topic: str | None = None
    sweep_budget_seconds: int = 240
    sweep_shard_size: int = 500
    sweep_verify_minutes: int = 10
    sweep_quota_percent: int = 95
    # The pull subscription on the dead-letter topic (`python -m keeper dead-letters`).
    dead_letter_subscription: str | None = None

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Config:
        env = os.environ if env is None else env
        project = env.get("GOOGLE_CLOUD_PROJECT", "").strip()
        if not project:
            raise ConfigError("GOOGLE_CLOUD_PROJECT is required")
        credentials = env.get("KEEPER_CREDENTIALS", "auto").strip() or "auto"
        if credentials not in ("auto", "anonymous"):
            raise ConfigError(f"KEEPER_CREDENTIALS must be auto or anonymous, not {credentials!r}")
        endpoint = env.get("WORKSPACE_EVENTS_API_ENDPOINT", "").strip() or DEFAULT_ENDPOINT
        if not endpoint.startswith(("http://", "https://")):
            raise ConfigError(f"WORKSPACE_EVENTS_API_ENDPOINT must be an http(s) URL: {endpoint!r}")
        local_only = credentials == "anonymous"
        if local_only and not _loopback(endpoint):
            raise ConfigError(
                "KEEPER_CREDENTIALS=anonymous needs a loopback WORKSPACE_EVENTS_API_ENDPOINT, "
                f"not {endpoint!r}"
            )
        # The APIs replays read: the local stack's emulator serves them all at one base URL,
        # so anonymous credentials never reach Google's by default.
        chat, meet, drive = (
            _replay_endpoint(env, name, endpoint if local_only else default, local_only)
            for name, default in (
                ("KEEPER_CHAT_API_ENDPOINT", DEFAULT_CHAT_ENDPOINT),
                ("KEEPER_MEET_API_ENDPOINT", DEFAULT_MEET_ENDPOINT),
                ("KEEPER_DRIVE_ACTIVITY_API_ENDPOINT", DEFAULT_DRIVE_ACTIVITY_ENDPOINT),
            )
        )
        return cls(
            project=project,
            api_endpoint=endpoint if endpoint.endswith("/") else endpoint + "/",
            chat_api_endpoint=chat,
            meet_api_endpoint=meet,
            drive_activity_api_endpoint=drive,
            credentials=credentials,  # type: ignore[arg-type]  # checked above
            collection_prefix=env.get("KEEPER_COLLECTION_PREFIX", "keeper").strip() or "keeper",
            fix_topic_iam=_flag(env, "KEEPER_FIX_TOPIC_IAM", default=False),
            replay_default=_flag(env, "KEEPER_REPLAY_DEFAULT", default=False),
            chat_push_service_account=env.get(
                "KEEPER_CHAT_PUSH_SERVICE_ACCOUNT", cls.chat_push_service_account
            ),
            ledger_ttl_days=_positive_int(env, "KEEPER_LEDGER_TTL_DAYS", 14),
            operation_deadline_seconds=_positive_int(env, "KEEPER_OPERATION_DEADLINE_SECONDS", 20),
            alerts_topic=_resource(env, "KEEPER_ALERTS_TOPIC", "topics"),
            notices_topic=_resource(env, "KEEPER_NOTICES_TOPIC", "topics"),
            direct_messages=_flag(env, "KEEPER_DIRECT_MESSAGES", default=False),
            sweep_topic=_resource(env, "KEEPER_SWEEP_TOPIC", "topics"),
            sweep_budget_seconds=_positive_int(env, "KEEPER_SWEEP_BUDGET_SECONDS", 240),
            sweep_shard_size=_positive_int(env, "KEEPER_SWEEP_SHARD_SIZE", 500),
            sweep_verify_minutes=_positive_int(env, "KEEPER_SWEEP_VERIFY_MINUTES", 10),
            sweep_quota_percent=_percent(env, "KEEPER_SWEEP_QUOTA_PERCENT", 95),
            dead_letter_subscription=_resource(
                env, "KEEPER_DEAD_LETTER_SUBSCRIPTION", "subscriptions"
            ),
        )


def _replay_endpoint(env: Mapping[str, str], name: str, unset: str, local_only: bool) -> str:
    value = env.get(name, "").strip() or unset
    if not value.startswith(("http://", "https://")):
        raise ConfigError(f"{name} must be an http(s) URL: {value!r}")
    if local_only and not _loopback(value):
        raise ConfigError(f"KEEPER_CREDENTIALS=anonymous needs a loopback {name}, not {value!r}")
    return value if value.endswith("/") else value + "/"


def _loopback(endpoint: str) -> bool:
    # Imported here: the credentials module is heavy, and `import main` validates the config.
    from workspace_client.credentials import is_loopback_endpoint  # noqa: PLC0415

    return is_loopback_endpoint(endpoint)


def _resource(env: Mapping[str, str], name: str, kind: str) -> str | None:
    """A Pub/Sub resource name, projects/PROJECT/{kind}/NAME, or None when unset."""
    value = env.get(name, "").strip()
    if not value:
        return None
    parts = value.split("/")
    if len(parts) != 4 or parts[0] != "projects" or parts[2] != kind or not all(parts):
        singular = kind.removesuffix("s").upper()
        raise ConfigError(f"{name} must be projects/PROJECT/{kind}/{singular}, not {value!r}")
    return value
