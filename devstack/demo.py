"""The local run: the real local stack, one subscription walked through its whole life.

Starts the Firestore and Pub/Sub emulators, the Workspace Events API emulator and the
function under functions-framework behind a Pub/Sub push subscription (as Eventarc wires it
in production), registers a Chat subscription with replay on, then moves the emulator's clock
and injects faults so that a reminder, suspensions and an expiry flow through Pub/Sub to the
function; messages posted in the space while it cannot deliver are replayed to the app's
topic once delivery resumes. Prints what the keeper did at each step, and stops everything it
started.
"""

from __future__ import annotations

import argparse
import base64
import io
import json
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from devstack.stack import (
    DEAD_LETTER_TOPIC,
    export_line,
    local_stack,
    pubsub_rest,
    say,
    wait_for_ctrl_c,
    write_env_file,
)
from keeper.domain.models import HistoryEntry
from keeper.domain.outcomes import Action
from keeper.operator.report import span
from keeper.runtime import logs
from keeper.sweep.plan import verify_every

PROJECT = "keeper-local"
TOPIC = f"projects/{PROJECT}/topics/workspace-events"
SPACE = "spaces/AAAAlocalrun"
TARGET = "//chat.googleapis.com/" + SPACE
EVENT_TYPE = "google.workspace.chat.message.v1.created"
MEET_SPACE = "spaces/localrunmeeting"
MEET_TARGET = "//meet.googleapis.com/" + MEET_SPACE
MEET_TYPES = tuple(
    "google.workspace.meet." + t
    for t in ("conference.v2.started", "participant.v2.joined", "conference.v2.ended")
)
AUTH = "delegated:alice@example.com"
HOUR = 3600
WAIT_SECONDS = 60  # for the function to act on an event (real time; it takes about a second)


DONE = {
    Action.RENEW: "renewed",
    Action.REACTIVATE: "reactivated",
    Action.RECREATE: "recreated",
}


def narrate(entry: HistoryEntry) -> str:
    """One history entry for the walkthrough: a write that succeeded says what it achieved
    (a renewal its new expiry, not the old one; a reactivation no remedy left to do);
    anything else says what the keeper decided and why."""
    if entry.outcome == "done" and entry.action in DONE and entry.api_result:
        return f"{DONE[entry.action]} ({entry.api_call}): {entry.api_result}"
    call = f"  [{entry.api_call}: {entry.api_result}]" if entry.api_call else ""
    return f"{entry.action} -> {entry.outcome}: {entry.reason}{call}"


class Walkthrough:
    def __init__(self, emulator_url: str, pubsub: str, app: str, push: str, endpoint: str) -> None:
        from devstack.context import local_context  # noqa: PLC0415
        from emulator.control import EmulatorControl  # noqa: PLC0415

        self.control = EmulatorControl(emulator_url)
        self.ctx = local_context()
        self.key = ""
        self.seen = 0
        self.pubsub, self.app, self.push, self.endpoint = pubsub, app, push, endpoint

    def post(self, *texts: str) -> None:
        """Messages posted in the space (the emulator's control call), a second apart."""
        for text in texts:
            self.control.post(SPACE, EVENT_TYPE, text=text)
            self.control.advance(1)
        say(f"   ... {len(texts)} messages posted in {SPACE}: " + ", ".join(map(repr, texts)))

    def app_messages(self) -> list[dict[str, Any]]:
        """What reached the app's own subscription of the topic since the last look."""
        pulled = pubsub_rest(self.pubsub, "POST", f"{self.app}:pull",
                             {"maxMessages": 100, "returnImmediately": True})  # fmt: skip
        received = pulled.get("receivedMessages", [])
        if received:
            ids = [r["ackId"] for r in received]
            pubsub_rest(self.pubsub, "POST", f"{self.app}:acknowledge", {"ackIds": ids})
        return [r["message"] for r in received]

    def show_replays(self, expected: int) -> None:
        """Print the replays the app's topic received (waiting for `expected` of them)."""
        replays: list[dict[str, Any]] = []
        deadline = time.monotonic() + 60
        while len(replays) < expected and time.monotonic() < deadline:
            replays += [
                m
                for m in self.app_messages()
                if m.get("attributes", {}).get("ce-keeperreplay") == "true"
            ]
            time.sleep(0.2)
        texts = [
            json.loads(base64.b64decode(m["data"]))["message"].get("text", "") for m in replays
        ]
        ids = [m["attributes"]["ce-id"] for m in replays]
        times = [m["attributes"]["ce-time"] for m in replays]
        once = "once each" if len(set(ids)) == len(ids) else "SOME TWICE"
        order = "in order" if times == sorted(times) else "OUT OF ORDER"
        say(f"   the app's topic got {len(replays)} replayed messages (ce-keeperreplay=true), "
            f"{once}, {order}: " + ", ".join(map(repr, texts)))  # fmt: skip

    def pause_push(self, paused: bool) -> None:
        """Pub/Sub holding the function's events (unreachable), or delivering them again."""
        config = {} if paused else {"pushEndpoint": self.endpoint}
        pubsub_rest(self.pubsub, "POST", f"{self.push}:modifyPushConfig", {"pushConfig": config})

    def cli(self, *args: str) -> str:
        from keeper.operator.cli import main  # noqa: PLC0415

        out = io.StringIO()
        status = main(list(args), context=lambda: self.ctx, out=out)
        if status != 0:
            raise SystemExit(f"python -m keeper {' '.join(args)} failed")
        return out.getvalue().rstrip()

    def name(self) -> str:
        found = self.ctx.store.get(self.key)
        assert found is not None and found.sub.name is not None
        return found.sub.name

    def recreated(self) -> bool:
        """The keeper recreated it (Google's names are deterministic: it may keep its name)."""
        history = self.ctx.store.history(self.key)[self.seen :]
        return any(e.action is Action.RECREATE and e.outcome == "done" for e in history)

    def move_clock(self, seconds: float, why: str) -> None:
        """Move the emulator's clock (Google's time, and the keeper's), saying by how much."""
        self.control.advance(seconds)
        say(f"   ... the clock moves {span(seconds)} forward: {why}")

    def alerted(self) -> bool:
        """A person was alerted (the alert published to the alerts topic)."""
        history = self.ctx.store.history(self.key)[self.seen :]
        return any(e.outcome == "alerted" for e in history)

    def wait_for_keeper(self, what: str, done: Callable[[], bool] | None = None) -> None:
        """Wait until the function recorded something new in the history, then print it."""
        say(f"   ... waiting for the function to handle {what} (up to {WAIT_SECONDS} s)")
        deadline = time.monotonic() + WAIT_SECONDS
        while time.monotonic() < deadline:
            history = self.ctx.store.history(self.key)
            if len(history) > self.seen and (done is None or done()):
                # Read again: `done` may have seen entries recorded since the first read.
                history = self.ctx.store.history(self.key)
                for entry in history[self.seen :]:
                    say(f"   keeper ({entry.actor}): {narrate(entry)}")
                self.seen = len(history)
                return
            time.sleep(0.2)
        raise SystemExit(f"the keeper did not react to {what} within {WAIT_SECONDS} s")

    def run(self) -> None:
        say("1. Register a Chat subscription (python -m keeper register ...)")
        say(
            "   "
            + self.cli(
                "register",
                "--target",
                TARGET,
                "--event-type",
                EVENT_TYPE,
                "--topic",
                TOPIC,
                "--auth",
                AUTH,
                "--include-resource",
                "--replay",
            )
        )
        self.key = next(iter(self.ctx.store.all())).key
        self.seen = len(self.ctx.store.history(self.key))
        sub = self.ctx.store.get(self.key)
        assert sub is not None and sub.sub.expire_time is not None

        say("\n2. Move the clock to 12 h before expiry: Google sends expirationReminder")
        left = (sub.sub.expire_time - self.control.now()).total_seconds()
        self.move_clock(left - 12 * HOUR + 1, "12 h before the expiry")
        self.wait_for_keeper("the reminder")

        say(
            "\n3. Suspend it with ENDPOINT_PERMISSION_DENIED, silently, as Google may (the grant"
            " is back already)"
        )
        self.control.suspend(self.name(), "ENDPOINT_PERMISSION_DENIED", cause_fixed=True)
        config = self.ctx.config
        every = verify_every(
            self.ctx.store.count(), config.sweep_verify_minutes, config.sweep_quota_percent
        )
        say(
            "   ... no event comes; the sweep checks each subscription against Google's view "
            f"every {span(every.total_seconds())} for a fleet of this size (docs/capacity.md)"
        )
        suspended_at = self.control.now()
        self.move_clock(every.total_seconds() + 1, "one check interval")
        say("   python -m keeper sweep")
        say("   " + self.cli("sweep").replace("\n", "\n   "))
        found = (self.control.now() - suspended_at).total_seconds()
        say(f"   the silent suspension was found and fixed {span(found)} after it happened")
        self.seen = len(self.ctx.store.history(self.key))

        say("\n4. Suspend it with OTHER while the cause persists: reactivate is refused")
        self.control.suspend(self.name(), "OTHER", cause_fixed=False)
        self.wait_for_keeper("the suspension")
        self.post("while suspended 1", "while suspended 2", "while suspended 3")
        say(
            "   ... the cause goes away; 10 minutes later the sweep retries "
            "(python -m keeper sweep)"
        )
        self.control.fix_cause(self.name())
        self.move_clock(10 * 60, "past the first retry's 5-minute backoff, to the next tick")
        say("   " + self.cli("sweep").replace("\n", "\n   "))
        self.seen = len(self.ctx.store.history(self.key))
        self.show_replays(3)

        say("\n5. Suspend it with USER_SCOPE_REVOKED: only alice can fix that")
        self.control.suspend(self.name(), "USER_SCOPE_REVOKED", cause_fixed=False)
        self.wait_for_keeper("the suspension", done=self.alerted)
        self.control.fix_cause(self.name())
        say(
            f"   ... told by the alert on {self.ctx.config.alerts_topic}, alice authorizes the "
            "app again (re-consent: the emulator's cause is fixed); the subscription stays "
            "suspended until the keeper next writes it"
        )

        say(
            "\n6. Let it expire while the function is unreachable (Pub/Sub holds the expired "
            "event): Google deletes it for good; the keeper recreates it under alice's renewed "
            "consent"
        )
        self.pause_push(True)
        self.control.expire(self.name())
        self.post("after the expiry 1", "after the expiry 2")
        say("   ... the function is reachable again: Pub/Sub delivers the expired event")
        self.pause_push(False)
        self.wait_for_keeper("the expiry", done=self.recreated)
        self.show_replays(2)

        self.meeting()

        say("\n8. python -m keeper list")
        say(self.cli("list"))
        say(f"\n9. python -m keeper show {self.key}")
        say(self.cli("show", self.key))

    def meeting(self) -> None:
        """A Meet subscription with --replay misses a meeting while suspended; the keeper
        rebuilds the meeting's events from the Meet REST API once it reactivates it."""
        say(
            "\n7. A Meet subscription with --replay misses a meeting while suspended: the keeper "
            "rebuilds its events from the Meet REST API (docs/replay.md)"
        )
        chat_key = self.key
        types = [arg for t in MEET_TYPES for arg in ("--event-type", t)]
        say("   " + self.cli("register", "--target", MEET_TARGET, *types, "--topic", TOPIC,
                              "--auth", AUTH, "--replay"))  # fmt: skip
        self.key = next(s.key for s in self.ctx.store.all() if s.target_resource == MEET_TARGET)
        self.seen = len(self.ctx.store.history(self.key))
        self.control.suspend(self.name(), "OTHER", cause_fixed=False)
        self.wait_for_keeper("the suspension")
        record = self.control.meet_start(MEET_SPACE)["conferenceRecord"]["name"]
        self.control.advance(1)
        self.control.meet_join(record, "users/bob")
        self.control.advance(1)
        self.control.meet_end(record)
        self.control.advance(1)
        say(f"   ... a meeting in {MEET_SPACE}: it starts, bob joins, it ends; nothing delivered")
        self.control.fix_cause(self.name())
        self.move_clock(10 * 60, "past the retry's backoff, to the next tick")
        say("   " + self.cli("sweep").replace("\n", "\n   "))
        replayed = [
            m["attributes"]["ce-type"].removeprefix("google.workspace.meet.")
            for m in self.app_messages()
            if m.get("attributes", {}).get("ce-keeperreplay") == "true"
        ]
        say(
            f"   the app's topic got {len(replayed)} rebuilt Meet events (ce-keeperreplay=true): "
            + ", ".join(replayed)
        )
        self.key = chat_key
        self.seen = len(self.ctx.store.history(self.key))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="scripts/local-run.sh", description=__doc__)
    parser.add_argument("--logs", type=Path, help="where the processes' logs go")
    parser.add_argument(
        "--stay",
        action="store_true",
        help="keep the stack running after the walkthrough, for the CLI, until Ctrl-C",
    )
    args = parser.parse_args(argv)
    log_dir = args.logs or Path(tempfile.mkdtemp(prefix="keeper-local-"))
    say(f"Starting the local stack (logs in {log_dir}) ...")
    log_dir.mkdir(parents=True, exist_ok=True)
    with (
        (log_dir / "walkthrough.log").open("a", encoding="utf-8") as keeper_log,
        local_stack(PROJECT, log_dir) as stack,
    ):
        logs.configure(stream=keeper_log)  # this process's keeper log lines: a file, not here
        settings = stack.operator_settings()
        os.environ.update(settings)  # this process's CLI reads them, as the function does
        function = stack.function("on_workspace_event", settings)
        topic = stack.topic(TOPIC.rsplit("/", 1)[-1])
        dead_letters = f"projects/{stack.project}/topics/{DEAD_LETTER_TOPIC}"
        push = stack.subscribe(topic, "keeper-push", function, dead_letters)
        app = stack.subscribe(topic, "app")  # what the app itself reads from its topic
        say("\n".join(stack.describe()))
        say(f"  on_workspace_event        {function.url} (push from {topic})\n")
        endpoint = f"{function.url}{topic}"
        Walkthrough(stack.emulator.url, stack.pubsub.address, app, push, endpoint).run()
        if args.stay:
            env_file = write_env_file(log_dir / "operator.env", settings)
            say("\nThe stack stays up. In another shell, from this folder:")
            say(f"  {export_line(settings)}")
            say("  .venv/bin/python -m devstack.cli list  # the keeper's CLI, emulator's clock")
            say(f"  or: .venv/bin/python -m devstack.cli --env-file {env_file} doctor")
            say("Ctrl-C stops it.")
            wait_for_ctrl_c()
        say("\nStopping the local stack.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
