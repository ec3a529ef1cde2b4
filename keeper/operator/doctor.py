"""`python -m keeper doctor`: are a deployment's prerequisites in place? One finding per check.

Two sources of truth are read:
- what the keeper itself uses (Firestore, Pub/Sub, the Workspace Events API under each
  managed subscription's credentials), through the keeper's own context, so the same checks
  run on the local stack's emulators;
- the Google Cloud control plane (Service Usage, Firestore Admin, Resource Manager, IAM),
  through `ControlPlane`, which the local stack does not have: there those checks say so.

Nothing is changed, except one test message published to the alerts topic.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Protocol

from keeper.domain.models import ManagedSubscription
from keeper.engine.alerts import Alert
from keeper.engine.endpoint import (
    PUBLISHER_ROLE,
    EndpointInspector,
    EndpointProblem,
    Grant,
    push_service_account,
)
from keeper.engine.ports import Context
from keeper.operator.report import plural
from keeper.runtime.config import Config
from workspace_client.credentials import is_org_wide, scopes_for

# What the functions use at run time (the deploy also enables its build and deploy APIs).
REQUIRED_APIS = (
    "workspaceevents.googleapis.com",
    "firestore.googleapis.com",
    "pubsub.googleapis.com",
    "iamcredentials.googleapis.com",
    "cloudfunctions.googleapis.com",
    "run.googleapis.com",
    "eventarc.googleapis.com",
    "cloudscheduler.googleapis.com",
    "logging.googleapis.com",
    "monitoring.googleapis.com",
)
SECRET_MANAGER_API = "secretmanager.googleapis.com"
# Domain restricted sharing: when it lists customer ids only, the Workspace apps' push
# service accounts (system.gserviceaccount.com) cannot be granted on a topic.
DOMAIN_RESTRICTION = "constraints/iam.allowedPolicyMemberDomains"
PROJECT_ROLES = ("roles/datastore.user",)
TOKEN_CREATOR = "roles/iam.serviceAccountTokenCreator"
LOCAL = "not on the local stack"


class Status(StrEnum):
    OK = "ok"
    FAIL = "FAIL"
    NOT_HERE = "n/a"  # the check cannot apply where the keeper runs (the local stack)
    SKIPPED = "skip"  # the check needs what an earlier one found missing


@dataclass(frozen=True)
class Finding:
    check: str
    status: Status
    detail: str
    fix: str = ""

    def to_json(self) -> dict[str, str]:
        doc = {"check": self.check, "status": self.status.value, "detail": self.detail}
        return {**doc, "fix": self.fix} if self.fix else doc


def ok(check: str, detail: str) -> Finding:
    return Finding(check, Status.OK, detail)


def fail(check: str, detail: str, fix: str) -> Finding:
    return Finding(check, Status.FAIL, detail, fix)


def not_here(check: str, why: str) -> Finding:
    return Finding(check, Status.NOT_HERE, f"{LOCAL}: {why}")


class ControlPlaneError(Exception):
    """A control-plane read answered with an HTTP error."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"HTTP {status}: {message}")
        self.status = status


class NoControlPlane(ValueError):
    """No credentials to read the control plane with (the CLI prints it, exit status 1)."""


class Session(Protocol):
    """`google.auth.transport.requests.AuthorizedSession`, or a recorded double of it."""

    def request(self, method: str, url: str, **kwargs: Any) -> Any: ...


class ControlPlane:
    """Read-only calls to the Google Cloud REST APIs a deployment depends on."""

    def __init__(self, session: Session) -> None:
        self._session = session

    @classmethod
    def as_operator(cls, environ: Mapping[str, str] = os.environ) -> ControlPlane:
        """As the person at the keyboard: their gcloud account (the one that ran deploy.sh),
        not Application Default Credentials, which usually impersonate the runtime service
        account (deploy/README.md), and that account may not read IAM policies or enabled
        services. Without gcloud: Application Default Credentials."""
        import google.auth  # noqa: PLC0415
        from google.auth import exceptions as auth_errors  # noqa: PLC0415
        from google.auth.transport.requests import AuthorizedSession  # noqa: PLC0415
        from google.oauth2.credentials import Credentials  # noqa: PLC0415

        credentials: Any
        try:
            gcloud = shutil.which("gcloud", path=environ.get("PATH"))
            if gcloud:
                token = subprocess.run(
                    [gcloud, "auth", "print-access-token"],
                    capture_output=True,
                    text=True,
                    check=True,
                    timeout=60,
                    env=dict(environ),
                ).stdout.strip()
                credentials = Credentials(token)  # type: ignore[no-untyped-call]
            else:
                credentials, _ = google.auth.default(
                    scopes=["https://www.googleapis.com/auth/cloud-platform"]
                )
        except (subprocess.SubprocessError, auth_errors.GoogleAuthError) as error:
            # gcloud's first line says what is wrong; the rest repeats how to log in.
            detail = str(getattr(error, "stderr", "") or error).strip() or repr(error)
            raise NoControlPlane(
                f"cannot read Google Cloud as you ({detail.splitlines()[0]}): run `gcloud auth "
                "login`, or point FIRESTORE_EMULATOR_HOST at the local stack"
            ) from None
        return cls(AuthorizedSession(credentials))  # type: ignore[no-untyped-call]

    def _call(self, method: str, url: str, body: Mapping[str, Any] | None = None) -> dict[str, Any]:
        response = self._session.request(method, url, json=body, timeout=30)
        if response.status_code >= 400:
            try:
                message = response.json()["error"]["message"]
            except (ValueError, KeyError, TypeError):
                message = response.text[:200]
            raise ControlPlaneError(response.status_code, message)
        found: dict[str, Any] = response.json()
        return found

    def enabled_services(self, project: str) -> set[str]:
        names: set[str] = set()
        token = ""
        while True:
            page = self._call(
                "GET",
                f"https://serviceusage.googleapis.com/v1/projects/{project}/services"
                f"?filter=state:ENABLED&pageSize=200&pageToken={token}",
            )
            names |= {s["config"]["name"] for s in page.get("services", [])}
            token = page.get("nextPageToken", "")
            if not token:
                return names

    def firestore_database(self, project: str) -> dict[str, Any] | None:
        try:
            return self._call("GET", _firestore(project))
        except ControlPlaneError as error:
            if error.status == 404:
                return None
            raise

    def firestore_indexes(self, project: str) -> list[dict[str, Any]]:
        return list(
            self._call("GET", _firestore(project, "/collectionGroups/-/indexes")).get("indexes", [])
        )

    def firestore_field(self, project: str, group: str, field: str) -> dict[str, Any]:
        return self._call("GET", _firestore(project, f"/collectionGroups/{group}/fields/{field}"))

    def effective_org_policy(self, project: str, constraint: str) -> dict[str, Any]:
        body = {"constraint": constraint}
        return self._call("POST", f"{_PROJECTS}{project}:getEffectiveOrgPolicy", body)

    def project_roles(self, project: str, member: str) -> set[str]:
        return _roles_of(self._call("POST", f"{_PROJECTS}{project}:getIamPolicy", {}), member)

    def project_number(self, project: str) -> str:
        return str(self._call("GET", _PROJECTS + project)["projectNumber"])

    def service_account_roles(self, project: str, account: str, member: str) -> set[str]:
        policy = self._call(
            "POST",
            f"https://iam.googleapis.com/v1/projects/{project}/serviceAccounts/{account}"
            ":getIamPolicy",
        )
        return _roles_of(policy, member)


_PROJECTS = "https://cloudresourcemanager.googleapis.com/v1/projects/"


def _firestore(project: str, rest: str = "") -> str:
    return f"https://firestore.googleapis.com/v1/projects/{project}/databases/(default){rest}"


def _roles_of(policy: Mapping[str, Any], member: str) -> set[str]:
    return {b["role"] for b in policy.get("bindings", []) if member in b.get("members", [])}


def run(
    ctx: Context,
    control_plane: ControlPlane | None,
    service_account: str | None,
    progress: Callable[[str], None] = lambda _: None,
) -> list[Finding]:
    """Every check, in the order a deployment depends on them. `control_plane` None: the
    local stack (emulators), where the control-plane checks do not apply."""
    subs = list(ctx.store.all())
    checks: list[tuple[str, Callable[[], Iterable[Finding]]]] = [
        ("apis", lambda: [_apis(ctx.config, control_plane, subs)]),
        ("firestore", lambda: _firestore_checks(ctx, control_plane)),
        ("topics", lambda: _topics(ctx, subs)),
        ("push-publisher", lambda: _push_publishers(ctx, control_plane, subs)),
        (
            "runtime-roles",
            lambda: [_runtime_roles(ctx.config, control_plane, service_account, ctx.endpoints)],
        ),
        ("credentials", lambda: _credentials(ctx, subs)),
        ("org-wide-chat", lambda: _org_wide_chat(subs)),
        ("addon-push-identity", lambda: _addon_push_identity(ctx, control_plane)),
        ("alerts-publish", lambda: [_test_publish(ctx)]),
    ]
    return _each(checks, progress)


def _each(
    checks: Sequence[tuple[str, Callable[[], Iterable[Finding]]]], progress: Callable[[str], None]
) -> list[Finding]:
    findings: list[Finding] = []
    for name, check in checks:
        progress(f"checking {name}")
        try:
            findings += list(check())  # all or nothing: a check that fails says only that
        except Exception as error:  # a doctor reports; it never stops at the first problem
            findings.append(
                fail(name, f"could not check: {error}", "fix what it says, then run doctor again")
            )
    return findings


def without_credentials(
    config: Config,
    control_plane: Callable[[], ControlPlane | None],
    service_account: str | None,
    missing: str,
    fix: str,
    progress: Callable[[str], None] = lambda _: None,
) -> list[Finding]:
    """`doctor` when the keeper's Google credentials are missing or refused: that first, then
    the checks that need none of them (the control plane is read as the operator, through
    gcloud), then the ones left out."""
    findings = [fail("google-credentials", missing, fix)]
    try:
        cp = control_plane()
    except NoControlPlane as error:
        findings.append(fail("control-plane", str(error), "gcloud auth login"))
    else:
        checks: list[tuple[str, Callable[[], Iterable[Finding]]]] = [
            ("apis", lambda: [_apis(config, cp, [])]),
            ("firestore", lambda: _firestore_database(config, cp)),
            ("runtime-roles", lambda: [_runtime_roles(config, cp, service_account, None)]),
        ]
        findings += _each(checks, progress)
    skipped = ["topics", "push-publisher", "credentials"]
    if config.alerts_topic:
        skipped.append("alerts-publish")
    else:
        findings.append(_no_alerts_topic())
    needs = "needs the keeper's Google credentials"
    return findings + [Finding(check, Status.SKIPPED, needs) for check in skipped]


def _apis(config: Config, cp: ControlPlane | None, subs: Sequence[ManagedSubscription]) -> Finding:
    if cp is None:
        return not_here("apis", "the emulators need no API enabled")
    wanted = set(REQUIRED_APIS)
    if any(s.auth.startswith("user-secret:") for s in subs):
        wanted.add(SECRET_MANAGER_API)
    missing = sorted(wanted - cp.enabled_services(config.project))
    if missing:
        return fail(
            "apis",
            f"not enabled: {', '.join(missing)}",
            f"gcloud services enable {' '.join(missing)} --project={config.project}",
        )
    return ok("apis", f"{plural(len(wanted), 'API')} enabled")


def _firestore_checks(ctx: Context, cp: ControlPlane | None) -> Iterator[Finding]:
    ctx.store.get("doctor-probe")  # one read: the database answers (raises if it does not)
    if cp is None:
        yield ok("firestore", "the database answers")
        yield not_here("firestore-indexes", "the emulator needs no indexes or TTL policy")
    else:
        yield from _firestore_database(ctx.config, cp)


def _firestore_database(config: Config, cp: ControlPlane | None) -> Iterator[Finding]:
    """The database, its indexes and TTL policy, as the control plane describes them."""
    if cp is None:
        yield not_here("firestore", "the emulator needs no database, indexes or TTL policy")
        return
    project = config.project
    database = cp.firestore_database(project)
    if database is None:
        fix = f"gcloud firestore databases create --location=REGION --project={project}"
        yield fail("firestore", "no (default) database", fix)
        return
    yield ok("firestore", f"(default) database, {database.get('type', '?')}")
    prefix = config.collection_prefix + "_"
    building = [
        index["name"].split("/collectionGroups/")[-1]
        for index in cp.firestore_indexes(project)
        if index["name"].split("/collectionGroups/")[-1].startswith(prefix)
        and index.get("state") != "READY"
    ]
    ttl = cp.firestore_field(project, f"{prefix}events", "expire_at").get("ttlConfig", {})
    if building:
        yield fail(
            "firestore-indexes",
            f"not ready: {', '.join(building)}",
            "wait for them to build (gcloud firestore indexes composite list)",
        )
    elif ttl.get("state") != "ACTIVE":
        yield fail(
            "firestore-indexes",
            f"TTL policy on {prefix}events.expire_at is {ttl.get('state', 'missing')}",
            f"gcloud firestore fields ttls update expire_at --collection-group={prefix}events "
            f"--enable-ttl --project={project}",
        )
    else:
        yield ok("firestore-indexes", f"indexes ready, TTL on {prefix}events active")


def _topics(ctx: Context, subs: Sequence[ManagedSubscription]) -> Iterator[Finding]:
    topics = {s.pubsub_topic: "events" for s in subs}
    if ctx.config.alerts_topic:
        topics[ctx.config.alerts_topic] = "alerts"
    if ctx.config.sweep_topic:
        topics[ctx.config.sweep_topic] = "sweep"
    if not topics:
        yield ok("topic", "no managed subscriptions and no alerts topic: none needed")
    for topic, role in sorted(topics.items()):
        # Any member will do: only the topic's existence is read here.
        if ctx.endpoints.inspect(topic, ctx.config.chat_push_service_account).topic_exists:
            yield ok("topic", f"{topic} ({role}) exists")
        else:
            project, name = topic.split("/")[1], topic.rsplit("/", 1)[-1]
            fix = f"gcloud pubsub topics create {name} --project={project}"
            yield fail("topic", f"{topic} ({role}) does not exist", fix)


def _push_publishers(
    ctx: Context, cp: ControlPlane | None, subs: Sequence[ManagedSubscription]
) -> list[Finding]:
    chat_account = ctx.config.chat_push_service_account
    needed = {
        (s.pubsub_topic, push_service_account(s.event_types, chat_account)): s.event_types
        for s in subs
    }
    restriction = _domain_restriction(ctx, cp) if needed else None
    findings = []
    for (topic, _member), event_types in sorted(needed.items()):
        verdict = ctx.endpoint(topic, event_types)
        if verdict.problem is EndpointProblem.TOPIC_MISSING:
            continue  # reported by the topic check
        if verdict.grant is Grant.GRANTED:
            findings.append(ok("push-publisher", verdict.text))
        elif verdict.grant is Grant.UNKNOWN and cp is None:
            why = f"the Pub/Sub emulator has no IAM ({verdict.text}?)"
            findings.append(not_here("push-publisher", why))
        elif verdict.grant is Grant.UNKNOWN:
            findings.append(
                fail(
                    "push-publisher",
                    f"cannot read the IAM policy of {topic}",
                    "grant the runtime service account the topic inspector role (deploy.sh)",
                )
            )
        else:
            fix = (
                f"gcloud pubsub topics add-iam-policy-binding {topic.rsplit('/', 1)[-1]} "
                f"--member=serviceAccount:{verdict.member} --role={PUBLISHER_ROLE} "
                f"--project={topic.split('/')[1]}"
            )
            if restriction:
                fix = f"{restriction}; then {fix}"
            findings.append(fail("push-publisher", verdict.text, fix))
    return findings or [ok("push-publisher", "no managed subscriptions: no grant needed")]


def _domain_restriction(ctx: Context, cp: ControlPlane | None) -> str | None:
    """What the organisation policy says against granting a Google push account, if anything."""
    if cp is None:
        return None
    policy = cp.effective_org_policy(ctx.config.project, DOMAIN_RESTRICTION).get("listPolicy")
    if not policy or policy.get("allValues") == "ALLOW" or not policy.get("allowedValues"):
        return None
    allowed = ", ".join(policy["allowedValues"])
    return (
        f"the organisation policy {DOMAIN_RESTRICTION} allows members of {allowed} only, "
        "which blocks the grant: ask an organisation policy administrator for an exception "
        "on this project"
    )


def _runtime_roles(
    config: Config,
    cp: ControlPlane | None,
    account: str | None,
    endpoints: EndpointInspector | None,
) -> Finding:
    """`endpoints` None: the alerts topic's grant is not read (no keeper credentials)."""
    if cp is None:
        return not_here("runtime-roles", "the emulators check no IAM")
    project = config.project
    account = account or f"keeper-runtime@{project}.iam.gserviceaccount.com"
    member = f"serviceAccount:{account}"
    missing = [r for r in PROJECT_ROLES if r not in cp.project_roles(project, member)]
    if TOKEN_CREATOR not in cp.service_account_roles(project, account, member):
        missing.append(f"{TOKEN_CREATOR} on itself")
    if config.alerts_topic and endpoints is not None:
        grant = endpoints.inspect(config.alerts_topic, account).publisher
        if grant is Grant.MISSING:
            missing.append(f"{PUBLISHER_ROLE} on {config.alerts_topic}")
    if missing:
        return fail(
            "runtime-roles",
            f"{account} lacks {', '.join(missing)}",
            "run deploy/deploy.sh again (it grants each role; deploy/README.md says why)",
        )
    return ok("runtime-roles", f"{account} holds its roles")


def _credentials(ctx: Context, subs: Sequence[ManagedSubscription]) -> Iterator[Finding]:
    """For each principal the managed subscriptions act as, a token is minted and the API
    accepts it: one `get` of a subscription it authorized."""
    by_auth: dict[str, ManagedSubscription] = {}
    for sub in subs:
        if sub.name:
            by_auth.setdefault(sub.auth, sub)
    if not by_auth:
        yield ok("credentials", "no managed subscriptions: no principal to check")
    for auth, sub in sorted(by_auth.items()):
        kind = "domain-wide delegation" if auth.startswith("delegated:") else "credentials"
        if ctx.config.credentials == "anonymous":
            kind = "the emulator's token"  # the local stack: no delegation to check
        try:
            ctx.client(sub).get(sub.name or "")
        except Exception as error:
            problem = f"{auth}: {kind} not usable: {type(error).__name__}: {error}"
            yield fail("credentials", problem, _credentials_fix(auth))
        else:
            yield ok(
                "credentials", f"{auth}: a token minted and accepted ({kind}; read {sub.name})"
            )


def _credentials_fix(auth: str) -> str:
    if auth.startswith("delegated:"):
        return (
            "in the Admin console (Security > API controls > Domain-wide delegation), authorize "
            "the runtime service account's client id for the subscription's scopes"
        )
    if auth.startswith("user-secret:"):
        return "have the user authorize again and store the new refresh token in the secret"
    return "an administrator approves the Chat app's chat.app.* scopes (one-time approval)"


# The Workspace add-ons service agent: the push identity of a Chat app built as a Workspace
# add-on (docs/api-reference.md §10), named in KEEPER_CHAT_PUSH_SERVICE_ACCOUNT.
ADDON_AGENT = re.compile(r"service-(\d+)@gcp-sa-gsuiteaddons\.iam\.gserviceaccount\.com")
ADDON_DOMAIN = "@gcp-sa-gsuiteaddons.iam.gserviceaccount.com"


def _org_wide_chat(subs: Sequence[ManagedSubscription]) -> Iterator[Finding]:
    """Org-wide Chat subscriptions (a `customers/` target) need Chat app authentication with
    the chat.app.all.* scopes, approved once by an administrator, and the Chat app configured
    with the service account the keeper signs as. No API shows the approval or the Chat API's
    configuration, so that part is a manual step (n/a); a user's org-wide record fails."""
    for sub in subs:
        if not is_org_wide(sub.target_resource):
            continue
        label = f"{sub.name or sub.key} on {sub.target_resource}"
        if sub.auth != "app":
            yield fail(
                "org-wide-chat",
                f"{label} is managed under --auth {sub.auth}: only a Chat app can "
                "subscribe to an organization",
                "unregister it, and register the target again with --auth app",
            )
            continue
        scopes = ", ".join(scopes_for(sub.event_types, "app", sub.target_resource))
        yield Finding(
            "org-wide-chat",
            Status.NOT_HERE,
            f"{label}: no API shows the administrator's approval of the Chat app's "
            "scopes or the Chat app's service-account configuration",
            "check by hand: in the Google Cloud console, Google Chat API > Configuration "
            "names the service account the keeper signs as (app authentication); in the "
            f"Admin console an administrator approved the Chat app for {scopes}",
        )


def _addon_push_identity(ctx: Context, cp: ControlPlane | None) -> Iterator[Finding]:
    """When KEEPER_CHAT_PUSH_SERVICE_ACCOUNT names the Workspace add-ons service agent
    (`service-PROJECT_NUMBER@gcp-sa-gsuiteaddons...`), it must be this project's: the Chat
    app, its subscriptions and their topics live in one project. Silent otherwise."""
    account = ctx.config.chat_push_service_account
    if not account.endswith(ADDON_DOMAIN):
        return
    match = ADDON_AGENT.fullmatch(account)
    if match is None:
        yield fail(
            "addon-push-identity",
            f"KEEPER_CHAT_PUSH_SERVICE_ACCOUNT={account} is not an add-ons service agent name",
            "set it to service-PROJECT_NUMBER@gcp-sa-gsuiteaddons.iam.gserviceaccount.com",
        )
    elif cp is None:
        yield not_here("addon-push-identity", f"no project number to compare {account} with")
    elif match.group(1) != (number := cp.project_number(ctx.config.project)):
        yield fail(
            "addon-push-identity",
            f"{account} is the add-ons service agent of project number {match.group(1)}, "
            f"but {ctx.config.project} is number {number}",
            f"set KEEPER_CHAT_PUSH_SERVICE_ACCOUNT=service-{number}{ADDON_DOMAIN}",
        )
    else:
        yield ok(
            "addon-push-identity",
            f"{account} is this project's Workspace add-ons service agent (the push-publisher "
            "check covers its grant)",
        )


def _test_publish(ctx: Context) -> Finding:
    topic = ctx.config.alerts_topic
    if not topic or ctx.alerts is None:
        return _no_alerts_topic()
    now = ctx.clock().isoformat()
    test = Alert("doctor", None, "", "", None, "test from python -m keeper doctor", now, "test")
    try:
        ctx.alerts.publish(test)
    except Exception as error:
        return fail(
            "alerts-publish",
            f"publishing to {topic} failed: {type(error).__name__}: {error}",
            f"create {topic} and let the runtime service account publish to it (deploy.sh)",
        )
    return ok("alerts-publish", f"published a test message (kind=test) to {topic}")


def _no_alerts_topic() -> Finding:
    return fail(
        "alerts-publish",
        "KEEPER_ALERTS_TOPIC is not set: a person is never told",
        "set KEEPER_ALERTS_TOPIC=projects/P/topics/T (deploy.sh sets it)",
    )


def describe(findings: Sequence[Finding]) -> list[str]:
    """One line per finding: status, check, what was found and, when it failed, the fix."""
    width = max((len(f.check) for f in findings), default=0)
    return [
        f"{f.status.value:<4}  {f.check:<{width}}  {f.detail}"
        + (f" -> fix: {f.fix}" if f.fix else "")
        for f in findings
    ]


def control_plane_for(environ: Mapping[str, str] = os.environ) -> ControlPlane | None:
    """None on the local stack (the Firestore emulator stands in for Google Cloud)."""
    if environ.get("FIRESTORE_EMULATOR_HOST"):
        return None
    return ControlPlane.as_operator(environ)
