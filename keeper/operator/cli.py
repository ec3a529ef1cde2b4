"""`python -m keeper`: put subscriptions under management and see what the keeper does."""

from __future__ import annotations

import argparse
import json
import logging
import os
import shlex
import shutil
import sys
import textwrap
import threading
import time
import traceback
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import datetime
from enum import Enum
from pathlib import Path
from typing import Any, TextIO

import google.auth
from google.api_core import exceptions as api_exceptions
from google.auth.exceptions import DefaultCredentialsError, RefreshError, TransportError
from google.auth.transport.requests import Request

from keeper.domain.errors import Refused
from keeper.domain.models import ManagedSubscription
from keeper.engine import fleet, onboard
from keeper.engine.ports import Context, Dispatch
from keeper.operator import dead_letters, doctor, views
from keeper.operator.report import (
    gap_line,
    next_step,
    not_delivering,
    plural,
    render_html,
    resource_label,
    time_left,
)
from keeper.runtime import logs
from keeper.runtime.config import Config, ConfigError
from keeper.sweep import run as sweep
from workspace_client.credentials import AnonymousCredentialsRefused, AuthSpec, UnsupportedEventType
from workspace_client.errors import WorkspaceEventsError
from workspace_client.models import SubscriptionSpec


class CliError(Exception):
    """A problem the operator can fix; printed without a traceback, exit status 1."""


AUTH_HELP = (
    "whose authority the keeper acts under: delegated:EMAIL (domain-wide delegation), "
    "user-secret:projects/P/secrets/S (a user's refresh token in Secret Manager) or app (the "
    "Chat app)"
)
REPLAY_HELP = (
    "after an outage, republish the events it missed to its topic (marked "
    "ce-keeperreplay=true): Chat's from the Chat API, Meet's and Drive's rebuilt from the Meet "
    "and Drive Activity APIs; default: KEEPER_REPLAY_DEFAULT (off)"
)
KEY_HELP = "the keeper's key (the first column of `list`) or subscriptions/ID"
ENV_FILE_HELP = (
    "read KEY=VALUE settings (deploy/operator.env, written by deploy/deploy.sh) before "
    "anything else; they override the environment; default: $KEEPER_ENV_FILE"
)
EXAMPLES = """examples:
  python -m keeper --env-file deploy/operator.env doctor
  python -m keeper list
  python -m keeper show KEY --json
run `python -m keeper COMMAND --help` for a command's options and an example"""


def _auth(text: str) -> str:
    """An `--auth` mode, checked as it is parsed."""
    try:
        AuthSpec.parse(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None
    return text


def _global_options(parser: argparse.ArgumentParser, default: Any) -> None:
    """The options every command takes, before or after its name. On the commands their
    default is SUPPRESS, so one given before the command is not reset after it."""
    parser.add_argument(
        "--json", action="store_true", default=default(False), help="machine-readable output"
    )
    parser.add_argument(
        "--verbose",
        action="store_true",
        default=default(False),
        help="the keeper's log lines on stderr, and a traceback when the keeper fails",
    )
    parser.add_argument(
        "--env-file",
        type=Path,
        metavar="FILE",
        default=default(_env_file_default()),
        help=ENV_FILE_HELP,
    )


def _env_file_default() -> Path | None:
    named = os.environ.get("KEEPER_ENV_FILE", "").strip()
    return Path(named) if named else None


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m keeper",
        description=__doc__,
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _global_options(parser, lambda value: value)
    common = argparse.ArgumentParser(add_help=False)
    _global_options(common, lambda _: argparse.SUPPRESS)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, help: str, example: str) -> argparse.ArgumentParser:
        return commands.add_parser(
            name,
            help=help,
            description=help[0].upper() + help[1:] + ".",
            epilog=f"example:\n  python -m keeper {example}",
            parents=[common],
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )

    def auth(parsed: argparse.ArgumentParser, help: str, default: str | None = None) -> None:
        parsed.add_argument("--auth", type=_auth, default=default, help=AUTH_HELP + help)

    register = command(
        "register",
        "create a subscription through the API and manage it",
        "register --target //chat.googleapis.com/spaces/AAAA --event-type "
        "google.workspace.chat.message.v1.created --topic projects/P/topics/T --auth app",
    )
    register.add_argument(
        "--target",
        required=True,
        help="the Workspace resource: //chat.googleapis.com/spaces/SPACE, "
        "//meet.googleapis.com/spaces/SPACE, //cloudidentity.googleapis.com/users/USER ...",
    )
    register.add_argument(
        "--event-type",
        action="append",
        required=True,
        dest="event_types",
        metavar="TYPE",
        help="an event type to receive, e.g. google.workspace.chat.message.v1.created; "
        "repeat it for several",
    )
    register.add_argument(
        "--topic", required=True, help="the Pub/Sub topic events go to: projects/P/topics/T"
    )
    register.add_argument(
        "--include-resource",
        action="store_true",
        help="events carry the resource's data (such subscriptions live 4 hours, or 24 under "
        "domain-wide delegation, instead of 7 days)",
    )
    register.add_argument(
        "--field-mask",
        metavar="MASK",
        help="with --include-resource, only these fields of the resource, e.g. message.text",
    )
    register.add_argument(
        "--ttl", help='how long it lives, e.g. "86400s"; default: the longest Google allows'
    )
    auth(register, "; default: app", default="app")
    register.add_argument("--replay", action="store_true", help=REPLAY_HELP)
    register.add_argument(
        "--dry-run",
        action="store_true",
        help="say what it would do (on a managed target: patch, or replace with a gap); "
        "change nothing",
    )

    adopt = command(
        "adopt",
        "manage an existing subscription",
        "adopt chat-spaces-czZBQUFB --auth delegated:alice@example.com",
    )
    adopt.add_argument(
        "name", help="the subscription's name: subscriptions/ID, or ID without the prefix"
    )
    auth(adopt, "; default: app when the Chat app authorized it, else refused: name the user")
    adopt.add_argument("--replay", action="store_true", help=REPLAY_HELP)

    bulk = command(
        "import",
        "adopt in bulk what exists at Google for some credentials",
        "import --auth app --event-type google.workspace.chat.message.v1.created --dry-run",
    )
    auth(bulk, "; the credentials to list with, and the mode to keep what fits under")
    bulk.add_argument(
        "--event-type",
        action="append",
        required=True,
        dest="event_types",
        help="list the subscriptions with this type (the list filter needs one); repeatable",
    )
    bulk.add_argument("--target", metavar="RES", help="only the subscriptions on this resource")
    bulk.add_argument(
        "--users",
        type=Path,
        metavar="FILE",
        help="one email address a line: import for each under delegated:ADDRESS",
    )
    bulk.add_argument("--dry-run", action="store_true", help="list and judge; adopt nothing")

    listing = command(
        "list", "every managed subscription, its state and the next action", "list --wide"
    )
    listing.add_argument(
        "--wide",
        action="store_true",
        help="full subscription names, the expiry time and whole problems, however wide",
    )
    report = command(
        "report",
        "write a self-contained HTML page of the same, with a timeline",
        "report --html keeper.html",
    )
    report.add_argument("--html", required=True, type=Path, metavar="FILE", help="where to write")
    show = command("show", "metadata and full history of one managed subscription", "show KEY")
    show.add_argument("name_or_key", metavar="KEY_OR_NAME", help=KEY_HELP)
    run_sweep = command("sweep", "run the sweep now and print its plan", "sweep --dry-run")
    run_sweep.add_argument("--dry-run", action="store_true", help="plan only; change nothing")
    dead_letters = command(
        "dead-letters",
        "the lifecycle events the keeper failed to handle",
        "dead-letters replay --id 1234567890",
    )
    dead_letters.add_argument(
        "verb",
        choices=["list", "replay"],
        help="list: show them; replay: hand them to the keeper again, acknowledging each handled",
    )
    dead_letters.add_argument(
        "--id",
        action="append",
        default=[],
        dest="ids",
        metavar="ID",
        help="replay only this message id or ce-id; repeat it for several",
    )
    forget = command("forget", "stop managing a subscription", "forget KEY --delete")
    forget.add_argument("name_or_key", metavar="KEY_OR_NAME", help=KEY_HELP)
    forget.add_argument("--delete", action="store_true", help="also delete it at Google")
    checkup = command(
        "doctor",
        "check a deployment's prerequisites, one line per check",
        "--env-file deploy/operator.env doctor",
    )
    checkup.add_argument(
        "--service-account",
        metavar="EMAIL",
        help="the functions' runtime service account (default: deploy.sh's keeper-runtime@PROJECT)",
    )
    return parser


def main(
    argv: Sequence[str] | None,
    context: Callable[[], Context],
    out: TextIO = sys.stdout,
    control_plane: Callable[[], doctor.ControlPlane | None] = doctor.control_plane_for,
    err: TextIO | None = None,
    log_stream: TextIO | None = None,
    dispatch: Dispatch | None = None,
    credentials_check: Callable[[], None] | None = None,
) -> int:
    """Output for people (or `--json`) on `out`; errors and progress (on a terminal only) on
    `err`. `log_stream`: where the keeper's JSON log lines go (`python -m keeper`: stderr),
    errors only unless `--verbose`. `control_plane`: what `doctor` reads (None: the local
    stack). `dispatch`: the event handler `dead-letters replay` hands each event to (the entry
    point's, injected: nothing here imports the layer above). `credentials_check`: raises
    when the keeper's Google credentials are missing or refused, before the context is built
    (`python -m keeper`: usable_google_credentials; None: none, as for an injected context)."""
    args = build_parser().parse_args(argv)
    err = sys.stderr if err is None else err  # read now: tests and callers replace sys.stderr
    if log_stream is not None:
        logs.configure(logging.INFO if args.verbose else logging.ERROR, stream=log_stream)
    args.control_plane = control_plane
    args.dispatch = dispatch
    args.progress = _Progress(err)
    # `show` wraps to a terminal; piped or captured, its lines stay whole (as `ls` does).
    args.columns = shutil.get_terminal_size((LIST_WIDTH, 24)).columns if out.isatty() else None
    args.err = err
    check = credentials_check or (lambda: None)
    try:
        if args.env_file is not None:
            os.environ.update(read_env_file(args.env_file))
        if args.command == "doctor":
            result = _doctor(context, check, args)
        else:
            check()
            result = _COMMANDS[args.command](context(), args)
    except _OPERATORS_TO_FIX as error:
        err.write(f"error: {error}\n")
        return 1
    except Exception as error:
        if args.verbose:
            traceback.print_exception(error, file=err)
        if isinstance(error, _CREDENTIALS_ERRORS):
            missing, fix = credentials_problem(error)
            err.write(f"error: {missing}: {fix}\n")
        else:  # a bug of the keeper's own: never passed off as the operator's mistake
            err.write(
                f"error: the keeper failed unexpectedly ({type(error).__name__}: {error}); "
                "--verbose shows the traceback\n"
            )
        return 1
    if args.json:
        out.write(json.dumps(result.json, indent=2, default=str) + "\n")
    else:
        out.write(result.text.rstrip("\n") + "\n")
    return result.status


def read_env_file(path: Path) -> dict[str, str]:
    """KEY=VALUE lines as deploy/deploy.sh writes them (values shell-quoted where needed, `#`
    comments, an optional `export`), read with the shell's own quoting rules (shlex)."""
    settings: dict[str, str] = {}
    for number, line in enumerate(_lines(path, "--env-file"), start=1):
        try:
            words = shlex.split(line, comments=True)
        except ValueError as error:
            raise CliError(f"{path}:{number}: {error}") from None
        if words[:1] == ["export"]:
            words = words[1:]
        for word in words:
            name, equals, value = word.partition("=")
            if not equals or not name.isidentifier():
                raise CliError(f"{path}:{number}: not KEY=VALUE: {word!r}")
            settings[name] = value
    return settings


# What the operator can fix, said in one line: their input, Google's answer, the settings.
_OPERATORS_TO_FIX = (
    CliError,
    Refused,
    WorkspaceEventsError,
    ConfigError,
    UnsupportedEventType,
    AnonymousCredentialsRefused,
    doctor.NoControlPlane,
)
# The keeper's own Google credentials missing, refused, or without the roles it needs.
_CREDENTIALS_ERRORS = (
    DefaultCredentialsError,
    RefreshError,
    TransportError,
    api_exceptions.Unauthenticated,
    api_exceptions.PermissionDenied,
)
_LOGIN = (
    "run `gcloud auth application-default login --impersonate-service-account="
    "keeper-runtime@{project}.iam.gserviceaccount.com` (the keeper's service account, which "
    "holds its roles), or point GOOGLE_APPLICATION_CREDENTIALS at a key file"
)


def credentials_problem(error: Exception) -> tuple[str, str]:
    """What is wrong with the keeper's Google credentials, and how to get working ones."""
    project = os.environ.get("GOOGLE_CLOUD_PROJECT", "").strip() or "PROJECT"
    login = _LOGIN.format(project=project)
    # google-auth's errors carry the server's answer as a second argument: the first says it.
    first = error.args[0] if error.args else type(error).__name__
    detail = str(first).splitlines()[0]
    if isinstance(error, DefaultCredentialsError):
        key_file = os.environ.get("GOOGLE_APPLICATION_CREDENTIALS", "").strip()
        if key_file:
            return f"GOOGLE_APPLICATION_CREDENTIALS={key_file} is not usable ({detail})", login
        return "no Google credentials (Application Default Credentials are not set up)", login
    if isinstance(error, RefreshError):
        return f"Google refused the credentials ({detail})", login
    if isinstance(error, TransportError):
        return (
            f"could not reach Google to get an access token ({detail})",
            "check the network and proxy settings (HTTPS_PROXY), then try again",
        )
    return (
        f"Google refused the request under these credentials ({detail})",
        "act as the keeper's service account, which holds its roles: " + login,
    )


def usable_google_credentials() -> None:
    """Mint one token under Application Default Credentials, so that missing or refused
    credentials fail here, in one sentence, rather than in a client's retries."""
    if Config.from_env().credentials == "anonymous":
        return  # the local stack: the emulators take any token
    credentials, _ = google.auth.default(scopes=["https://www.googleapis.com/auth/cloud-platform"])
    credentials.refresh(Request())  # type: ignore[no-untyped-call]


class _Progress:
    """A one-line status on a terminal (`err` a TTY) while a long command works; nothing
    otherwise, so pipes and logs never see it."""

    def __init__(self, err: TextIO) -> None:
        self._err = err
        self._label = ""

    def step(self, label: str) -> None:
        self._label = label

    @contextmanager
    def running(self, label: str) -> Iterator[_Progress]:
        self._label = label
        if not self._err.isatty():
            yield self
            return
        done = threading.Event()
        started = time.monotonic()

        def draw() -> None:
            while not done.is_set():
                elapsed = time.monotonic() - started
                self._err.write(f"\r\033[K{self._label} ... {elapsed:.0f} s")
                self._err.flush()
                done.wait(0.5)

        painter = threading.Thread(target=draw, daemon=True)
        painter.start()
        try:
            yield self
        finally:
            done.set()
            painter.join()
            self._err.write("\r\033[K")
            self._err.flush()


@dataclass(frozen=True)
class Answer:
    """What a command answers: `text` for people, `json` for `--json`, the exit status."""

    text: str
    json: Any
    status: int = 0


def _register(ctx: Context, args: argparse.Namespace) -> Answer:
    try:
        spec = SubscriptionSpec(
            target_resource=args.target,
            event_types=tuple(args.event_types),
            pubsub_topic=args.topic,
            include_resource=args.include_resource,
            field_mask=args.field_mask,
            ttl=args.ttl,
        )
    except ValueError as error:
        raise CliError(str(error)) from None
    done = onboard.register(ctx, spec, args.auth, args.replay, dry_run=args.dry_run)
    if isinstance(done, onboard.Planned):
        return Answer(
            json={"dryRun": True, "key": done.key, "plan": done.what},
            text=f"dry run: {done.what}; nothing changed",
        )
    return _onboarded(done)


def _adopt(ctx: Context, args: argparse.Namespace) -> Answer:
    return _onboarded(onboard.adopt(ctx, args.name, args.auth, args.replay))


def _onboarded(done: onboard.Onboarded) -> Answer:
    return Answer(
        json=views.subscription(done.sub), text=f"{done.how}: {done.api.name} (key {done.sub.key})"
    )


def _import(ctx: Context, args: argparse.Namespace) -> Answer:
    auths = ([args.auth] if args.auth else []) + (_users(args.users) if args.users else [])
    if not auths:
        raise CliError("import needs --auth MODE, --users FILE, or both")

    def draw(at: fleet.Progress) -> None:
        args.progress.step(
            f"{_bar(at.principal - 1, at.principals)} {at.principal}/{at.principals} {at.auth}: "
            f"{at.listed} listed, {at.adopted} {'to adopt' if args.dry_run else 'adopted'}"
        )

    with args.progress.running(f"listing under {auths[0]}"):
        principals = fleet.import_all(
            ctx, auths, args.event_types, target=args.target, dry_run=args.dry_run, progress=draw
        )
    adopted = fleet.Verdict.WOULD_ADOPT if args.dry_run else fleet.Verdict.ADOPTED
    counted = (adopted, fleet.Verdict.MANAGED, fleet.Verdict.REFUSED)
    rows: list[tuple[str, ...]] = [
        ("PRINCIPAL", "PAGES", "LISTED", str(adopted).upper(), "ALREADY MANAGED", "REFUSED")
    ]
    rows += [
        (p.auth, str(p.pages), str(len(p.found)), *(str(p.count(v)) for v in counted))
        for p in principals
    ]
    lines = [("dry run: nothing stored\n" if args.dry_run else "") + _table(rows)]
    refused = [f for p in principals for f in p.found if f.verdict is fleet.Verdict.REFUSED]
    if refused:
        lines.append(f"\nrefused ({plural(len(refused), 'subscription')}):")
        lines += [f"  {f.detail}" for f in refused]  # the reason names the subscription
    failures = [p for p in principals if p.failure]
    for p in failures:
        args.err.write(f"error: the import under {p.auth} stopped: {p.failure}\n")
    return Answer(
        json={
            "dryRun": args.dry_run,
            "principals": [
                {"auth": p.auth, "pages": p.pages, "listed": len(p.found), "failure": p.failure}
                for p in principals
            ],
            "subscriptions": [{**asdict(f), "auth": p.auth} for p in principals for f in p.found],
        },
        text="\n".join(lines),
        status=1 if failures else 0,
    )


def _users(path: Path) -> list[str]:
    """`delegated:ADDRESS` for each address of the file (blank lines and # comments skipped)."""
    auths = []
    for number, line in enumerate(_lines(path, "--users"), start=1):
        address = line.split("#", 1)[0].strip()
        if not address:
            continue
        try:
            auths.append(str(AuthSpec.parse(f"delegated:{address}")))
        except ValueError:
            raise CliError(f"{path}:{number}: not an email address: {address!r}") from None
    return list(dict.fromkeys(auths))


def _lines(path: Path, option: str) -> list[str]:
    try:
        return path.read_text(encoding="utf-8").splitlines()
    except OSError as error:
        raise CliError(f"cannot read {option} {path}: {error.strerror}") from None


def _bar(done: int, total: int, width: int = 20) -> str:
    filled = width * done // total if total else width
    return "[" + "#" * filled + "." * (width - filled) + "]"


_WIDE_HEADER = (
    "KEY", "NAME", "STATE", "EXPIRES (UTC)", "IN", "NEXT ACTION", "NOT DELIVERING", "LAST PROBLEM"
)  # fmt: skip
_HEADER = ("KEY", "WATCHING", "STATE", "EXPIRES IN", "NEXT ACTION", "NOT DELIVERING")


def _list(ctx: Context, args: argparse.Namespace) -> Answer:
    now = ctx.clock()
    subs = list(ctx.store.all())
    json_view = [views.subscription(s) for s in subs]
    if not subs:
        return Answer(json=json_view, text="no managed subscriptions")
    wide: list[tuple[str, ...]] = [
        (
            s.key,
            s.name or "-",
            s.state.value,
            f"{s.expire_time:%Y-%m-%d %H:%M}" if s.expire_time else "-",
            time_left(s.expire_time, now),
            next_step(s, now),
            not_delivering(s, now),
            s.last_problem or "",
        )
        for s in subs
    ]
    if args.wide:
        return Answer(json=json_view, text=_table([_WIDE_HEADER, *wide]))
    # The narrow row: what it watches for the name, and neither the expiry time nor the problem.
    rows = [
        (key, resource_label(s.target_resource), state, left, step, gap)
        for s, (key, _, state, _, left, step, gap, _) in zip(subs, wide, strict=True)
    ]
    # Google's names are left to --wide: about 100 characters that differ in the middle, so no
    # shortening tells two apart. Past the width, the gap's cause shrinks first (the state and
    # the problem say it too), then what it watches and the next action.
    lines = _table([_HEADER, *rows], LIST_WIDTH, shrink={5: 14, 1: 12, 4: 12}).splitlines()
    text = [lines[0]]
    for sub, line in zip(subs, lines[1:], strict=True):
        text.append(line)
        if sub.last_problem:
            # The problem, the most telling field, whole on the lines below its row.
            text.append(_wrapped("    problem: " + sub.last_problem, LIST_WIDTH, 4))
    return Answer(json=json_view, text="\n".join(text))


# `list` fits this many columns; `--wide` and `--json` give every value whole.
LIST_WIDTH = 120


def _report(ctx: Context, args: argparse.Namespace) -> Answer:
    with args.progress.running("reading the managed subscriptions"):
        subs = list(ctx.store.all())
    args.html.write_text(render_html(subs, ctx.clock(), ctx.config.project), encoding="utf-8")
    return Answer(
        json={"file": str(args.html), "subscriptions": len(subs)},
        text=f"wrote {args.html} ({plural(len(subs), 'subscription')})",
    )


def _show(ctx: Context, args: argparse.Namespace) -> Answer:
    sub = _find(ctx, args.name_or_key)
    history = ctx.store.history(sub.key)
    doc = {name: v for name, v in views.fields_of(sub).items() if name != "gaps"}
    width = max(len(field) for field in doc)
    columns = args.columns
    lines = [
        _wrapped(f"{field + ':':<{width + 1}} {_human(value)}", columns, width + 2)
        for field, value in doc.items()
    ]
    lines.append(f"gaps in delivery ({plural(len(sub.gaps), 'gap')}):")
    lines += [_wrapped(f"  {gap_line(sub, gap)}", columns, 4) for gap in sub.gaps]
    lines.append(f"history ({plural(len(history), 'entry', 'entries')}):")
    lines += [
        _wrapped(
            f"  {h.at:%Y-%m-%d %H:%M:%S} {h.actor:<5} {h.action:<10} {h.outcome:<8} {h.reason}"
            + (f" [{h.api_call}: {h.api_result}]" if h.api_call else "")
            + (f" ({h.gap})" if h.gap else ""),
            columns,
            4,
        )
        for h in history
    ]
    return Answer(json=views.shown(sub, history), text="\n".join(lines))


def _wrapped(line: str, columns: int | None, indent: int) -> str:
    """A line wrapped to `columns` (None: kept whole), its continuation lines indented."""
    if columns is None:
        return line
    return textwrap.fill(line, columns, subsequent_indent=" " * indent, break_on_hyphens=False)


def _human(value: Any) -> str:
    """A field's value as a person reads it: no Python reprs."""
    if value is None or value in ([], ()):
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, datetime):
        return f"{value:%Y-%m-%d %H:%M:%S} UTC"
    if isinstance(value, list | tuple):
        return ", ".join(_human(item) for item in value)
    if isinstance(value, Enum):
        return str(value.value)
    return str(value)


def _sweep(ctx: Context, args: argparse.Namespace) -> Answer:
    status = 0
    try:
        with args.progress.running("sweeping" + (" (dry run)" if args.dry_run else "")):
            items = sweep.run(ctx, dry_run=args.dry_run)
    except sweep.SweepFailed as failed:
        items, status = failed.items, 1
        args.err.write(f"error: the sweep failed: {failed}\n")
    text = "\n".join(sweep.describe(items)) or "nothing due"
    return Answer(
        json=[
            {
                "key": i.key,
                "name": i.name,
                "action": i.plan.action.value,
                "reason": i.plan.reason,
                "result": i.outcome.result if i.outcome else None,
            }
            for i in items
        ],
        text=("dry run: nothing changed\n" if args.dry_run else "") + text,
        status=status,
    )


def _dead_letters(ctx: Context, args: argparse.Namespace) -> Answer:
    if ctx.config.dead_letter_subscription is None:
        raise CliError(
            "KEEPER_DEAD_LETTER_SUBSCRIPTION is not set: the pull subscription on the "
            "dead-letter topic, projects/PROJECT/subscriptions/NAME"
        )
    inbox = dead_letters.DeadLetterInbox(ctx.config.dead_letter_subscription)
    if args.verb == "list":
        letters = dead_letters.listing(inbox)
        rows = [("MESSAGE", "EVENT", "CE-ID", "SUBSCRIPTION", "ATTEMPTS", "PUBLISHED (UTC)")]
        rows += [
            (
                m.message_id,
                m.short_type(),
                m.event_id or "-",
                m.subscription or "-",
                str(m.delivery_attempts),
                m.publish_time[:19].replace("T", " "),
            )
            for m in letters
        ]
        text = _table(rows) if letters else "no dead-lettered events"
        if letters:
            text += f"\n{plural(len(letters), 'event')} in {inbox.subscription}"
        return Answer(json=[m.to_json() for m in letters], text=text)
    dispatch: Dispatch | None = args.dispatch
    if dispatch is None:
        raise CliError("replaying dead letters needs the event handler: use `python -m keeper`")
    results = dead_letters.replay(inbox, lambda body: dispatch(body, lambda: ctx), args.ids)
    failed = [r for r in results if r[1] is dead_letters.ReplayResult.FAILED]
    lines = [
        f"{r.value:<8} {m.message_id} {m.short_type()} {m.event_id}: {d}" for m, r, d in results
    ]
    lines.append(
        f"replayed {len(results) - len(failed)} of {len(results)}; "
        + (f"{len(failed)} still in the inbox" if failed else "the inbox has none of them left")
        if results
        else "nothing to replay"
    )
    return Answer(
        json=[{**m.to_json(), "result": r.value, "detail": d} for m, r, d in results],
        text="\n".join(lines),
        status=1 if failed else 0,
    )


def _forget(ctx: Context, args: argparse.Namespace) -> Answer:
    sub = _find(ctx, args.name_or_key)
    if args.delete and sub.name:
        ctx.client(sub).delete(sub.name, allow_missing=True)
    ctx.store.forget(sub.key)
    deleted = " and deleted it at Google" if args.delete else ""
    return Answer(
        json={"key": sub.key, "name": sub.name, "deleted": bool(args.delete)},
        text=f"stopped managing {sub.name} ({sub.key}){deleted}",
    )


def _doctor(
    context: Callable[[], Context], credentials_check: Callable[[], None], args: argparse.Namespace
) -> Answer:
    account = args.service_account
    with args.progress.running("checking") as progress:
        try:
            credentials_check()
            ctx = context()
        except _CREDENTIALS_ERRORS as error:
            missing, fix = credentials_problem(error)
            findings = doctor.without_credentials(
                Config.from_env(), args.control_plane, account, missing, fix, progress.step
            )
        else:
            findings = doctor.run(ctx, args.control_plane(), account, progress.step)
    failed = sum(1 for f in findings if f.status is doctor.Status.FAIL)
    summary = f"{failed} of {len(findings)} checks failed" if failed else "all checks passed"
    return Answer(
        json=[f.to_json() for f in findings],
        text="\n".join([*doctor.describe(findings), summary]),
        status=1 if failed else 0,
    )


_COMMANDS: dict[str, Callable[[Context, argparse.Namespace], Answer]] = {
    "register": _register,
    "adopt": _adopt,
    "import": _import,
    "list": _list,
    "report": _report,
    "show": _show,
    "sweep": _sweep,
    "forget": _forget,
    "dead-letters": _dead_letters,
}


def _find(ctx: Context, name_or_key: str) -> ManagedSubscription:
    found = ctx.store.find(name_or_key)
    if found is None:
        raise CliError(f"not managed: {name_or_key}")
    return found.sub


def _table(
    rows: Sequence[Sequence[str]], width: int | None = None, shrink: Mapping[int, int] | None = None
) -> str:
    """Columns two spaces apart. Past `width`, the columns in `shrink` (index: narrowest
    width) give up characters, in its order, their cells cut with "…"."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    excess = sum(widths) + 2 * (len(widths) - 1) - width if width is not None else 0
    for column, narrowest in (shrink or {}).items():
        if excess <= 0:
            break
        cut = min(excess, max(0, widths[column] - narrowest))
        widths[column] -= cut
        excess -= cut
    return "\n".join(
        "  ".join(_cut(c, w).ljust(w) for c, w in zip(row, widths, strict=True)).rstrip()
        for row in rows
    )


def _cut(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"
