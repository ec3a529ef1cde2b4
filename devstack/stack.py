"""The whole local stack as one context manager: emulators, the keeper's environment, and
functions behind Pub/Sub push subscriptions, all stopped on exit."""

from __future__ import annotations

import contextlib
import json
import os
import shlex
import signal
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator, Mapping
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from devstack.processes import (
    ManagedProcess,
    start_firestore,
    start_function,
    start_pubsub,
    start_workspace_emulator,
)

# What deploy/deploy.sh names them (deploy/lib.sh), so the local stack reads like a deployment.
ALERTS_TOPIC = "keeper-alerts"
DEAD_LETTER_TOPIC = "keeper-dead-letter"
DEAD_LETTER_INBOX = "keeper-dead-letter-inbox"
DEAD_LETTER_ATTEMPTS = 10


def pubsub_rest(host: str, method: str, path: str, body: Mapping[str, Any] | None = None) -> Any:
    """One call to the Pub/Sub emulator's REST API (`path` without the leading `v1/`)."""
    request = urllib.request.Request(
        f"http://{host}/v1/{path}",
        data=None if body is None else json.dumps(body).encode(),
        method=method,
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        text = response.read()
    return json.loads(text) if text else {}


@dataclass
class LocalStack:
    project: str
    log_dir: Path
    firestore: ManagedProcess
    pubsub: ManagedProcess
    emulator: ManagedProcess
    _exit: ExitStack
    functions: list[ManagedProcess] = field(default_factory=list)

    @property
    def env(self) -> dict[str, str]:
        """The keeper's environment on this stack (loopback only, anonymous credentials)."""
        return {
            "GOOGLE_CLOUD_PROJECT": self.project,
            "FIRESTORE_EMULATOR_HOST": self.firestore.address,
            "PUBSUB_EMULATOR_HOST": self.pubsub.address,
            "WORKSPACE_EVENTS_API_ENDPOINT": self.emulator.url,
            "KEEPER_CREDENTIALS": "anonymous",
        }

    def operator_settings(self) -> dict[str, str]:
        """The keeper's environment with everything `python -m keeper` reads: the alerts
        topic, and a dead-letter topic with its pull subscription, created here as
        deploy/deploy.sh creates them. Call it once per stack."""
        alerts = self.topic(ALERTS_TOPIC)
        inbox = self.subscribe(self.topic(DEAD_LETTER_TOPIC), DEAD_LETTER_INBOX)
        return {
            **self.env,
            "KEEPER_ALERTS_TOPIC": alerts,
            "KEEPER_DEAD_LETTER_SUBSCRIPTION": inbox,
        }

    def describe(self) -> list[str]:
        """Where each service listens, one line each."""
        return [
            f"  Firestore emulator        {self.firestore.address}",
            f"  Pub/Sub emulator          {self.pubsub.address}",
            f"  Workspace Events emulator {self.emulator.url}",
        ]

    def topic(self, name: str) -> str:
        topic = f"projects/{self.project}/topics/{name}"
        pubsub_rest(self.pubsub.address, "PUT", topic, {})
        return topic

    def subscribe(
        self,
        topic: str,
        name: str,
        push_to: ManagedProcess | None = None,
        dead_letter_topic: str | None = None,
    ) -> str:
        """A subscription on `topic`: pull, or push to a function as the deploy wires it,
        with the deploy's dead-letter policy when `dead_letter_topic` is given."""
        body: dict[str, Any] = {"topic": topic, "enableMessageOrdering": True}
        if push_to is not None:
            # functions-framework takes the CloudEvent's source topic from the path.
            body["pushConfig"] = {"pushEndpoint": f"{push_to.url}{topic}"}
        if dead_letter_topic is not None:
            body["deadLetterPolicy"] = {
                "deadLetterTopic": dead_letter_topic,
                "maxDeliveryAttempts": DEAD_LETTER_ATTEMPTS,
            }
        subscription = f"projects/{self.project}/subscriptions/{name}"
        pubsub_rest(self.pubsub.address, "PUT", subscription, body)
        return subscription

    def function(self, target: str, extra_env: Mapping[str, str] | None = None) -> ManagedProcess:
        process = start_function(target, self.log_dir, {**self.env, **(extra_env or {})})
        self._exit.callback(process.stop)
        self.functions.append(process)
        return process


def say(text: str = "") -> None:
    """One line for the person running the local stack."""
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def export_line(env: Mapping[str, str]) -> str:
    return "export " + " ".join(f"{name}={shlex.quote(value)}" for name, value in env.items())


def write_env_file(path: Path, env: Mapping[str, str]) -> Path:
    """The settings as `python -m keeper --env-file` reads them (deploy/operator.env's form)."""
    lines = [f"{name}={shlex.quote(value)}" for name, value in env.items()]
    path.write_text("# The local stack's settings, for --env-file\n" + "\n".join(lines) + "\n")
    return path


def wait_for_ctrl_c() -> None:
    with contextlib.suppress(KeyboardInterrupt):
        while True:
            time.sleep(3600)


def _exit_on_sigterm(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)


@contextmanager
def local_stack(project: str, log_dir: Path) -> Iterator[LocalStack]:
    """Start the emulators; the current process gets the keeper's environment too."""
    with ExitStack() as exit_stack:
        if threading.current_thread() is threading.main_thread():
            # `kill` or a CI cancel (SIGTERM) still stops everything the stack started.
            previous = signal.signal(signal.SIGTERM, _exit_on_sigterm)
            exit_stack.callback(signal.signal, signal.SIGTERM, previous)
        firestore = start_firestore(log_dir)
        exit_stack.callback(firestore.stop)
        pubsub = start_pubsub(log_dir)
        exit_stack.callback(pubsub.stop)
        emulator = start_workspace_emulator(
            log_dir, {"PUBSUB_EMULATOR_HOST": pubsub.address, "GOOGLE_CLOUD_PROJECT": project}
        )
        exit_stack.callback(emulator.stop)
        stack = LocalStack(project, log_dir, firestore, pubsub, emulator, exit_stack)
        os.environ.update(stack.env)
        yield stack
