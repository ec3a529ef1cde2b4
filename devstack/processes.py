"""Start and stop the local stack's processes.

The gcloud wrappers (`gcloud emulators firestore start`) leave their Java child running when
stopped, so the emulators are started from their jars directly and stopped by PID.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent


class StackError(RuntimeError):
    """A process of the local stack could not be started."""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def gcloud_sdk_root() -> Path:
    """The Google Cloud SDK root, without spawning gcloud when the usual layout is present."""
    gcloud = shutil.which("gcloud")
    if gcloud is None:
        raise StackError("the Google Cloud CLI (gcloud) is not installed")
    candidate = Path(os.path.realpath(gcloud)).parent.parent
    if (candidate / "platform").is_dir():
        return candidate
    out = subprocess.run(
        ["gcloud", "info", "--format=value(installation.sdk_root)"],
        check=True,
        capture_output=True,
        text=True,
    )
    return Path(out.stdout.strip())


@dataclass
class ManagedProcess:
    """A child process of the stack, reachable at host:port."""

    name: str
    process: subprocess.Popen[bytes]
    host: str
    port: int
    log_path: Path
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def url(self) -> str:
        return f"http://{self.address}/"

    def alive(self) -> bool:
        return self.process.poll() is None

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the process and everything it started: it leads its own process group, so
        gunicorn's worker or a JVM's helpers never outlive it."""
        self._signal_group(signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=timeout)
        self._signal_group(signal.SIGKILL)  # whatever of the group outlived a graceful stop
        self.process.wait(timeout=timeout)

    def kill(self) -> None:
        """Die at once, as an instance does when its host is lost: SIGKILL to the group."""
        self._signal_group(signal.SIGKILL)
        self.process.wait(timeout=10)

    def _signal_group(self, signum: int) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.process.pid, signum)

    def log_tail(self, lines: int = 40) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])


def _spawn(
    name: str,
    argv: list[str],
    *,
    port: int,
    log_dir: Path,
    env: Mapping[str, str] | None = None,
    ready: Callable[[ManagedProcess], bool],
    timeout: float = 60.0,
) -> ManagedProcess:
    log_dir.mkdir(parents=True, exist_ok=True)
    log_path = log_dir / f"{name}-{port}.log"
    log = log_path.open("wb")
    process = subprocess.Popen(
        argv,
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        env={**os.environ, **(env or {})},
        cwd=REPO_ROOT,
        start_new_session=True,
    )
    log.close()
    managed = ManagedProcess(name, process, "127.0.0.1", port, log_path)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not managed.alive():
            raise StackError(f"{name} exited early:\n{managed.log_tail()}")
        if ready(managed):
            return managed
        time.sleep(0.1)
    managed.stop()
    raise StackError(f"{name} was not ready within {timeout:.0f} s:\n{managed.log_tail()}")


def _http_ok(url: str, expect: bytes | None = None) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1) as response:
            body: bytes = response.read()
            return expect is None or body.strip() == expect
    except (urllib.error.URLError, OSError):
        return False


def start_firestore(
    log_dir: Path, port: int | None = None, import_data: Path | None = None
) -> ManagedProcess:
    """The Firestore emulator; `import_data` (the `.overall_export_metadata` file of an export
    made through its `/emulator/v1/projects/P:export` endpoint) seeds it, as when a database
    comes back."""
    port = port or free_port()
    jar = gcloud_sdk_root() / "platform/cloud-firestore-emulator/cloud-firestore-emulator.jar"
    if not jar.exists():
        raise StackError(f"Firestore emulator jar not found at {jar}")
    argv = [
        "java",
        "-Xmx2g",  # holds the 100,000 records of the sweep benchmark
        "-XX:+UseSerialGC",
        "-cp",
        str(jar),
        "com.google.cloud.datastore.emulator.firestore.CloudFirestore",
        "start",
        "--host=127.0.0.1",
        f"--port={port}",
        *([f"--import-data={import_data}"] if import_data else []),
    ]
    return _spawn(
        "firestore",
        argv,
        port=port,
        log_dir=log_dir,
        ready=lambda p: _http_ok(p.url, b"Ok"),
    )


def clear_firestore(address: str, project: str) -> None:
    """Delete every document of `project` in the Firestore emulator at `address`."""
    request = urllib.request.Request(
        f"http://{address}/emulator/v1/projects/{project}/databases/(default)/documents",
        method="DELETE",
    )
    urllib.request.urlopen(request, timeout=600).close()


def start_pubsub(log_dir: Path, port: int | None = None) -> ManagedProcess:
    port = port or free_port()
    jars = sorted((gcloud_sdk_root() / "platform/pubsub-emulator/lib").glob("*-all.jar"))
    if not jars:
        raise StackError("Pub/Sub emulator jar not found in the Google Cloud SDK")
    argv = [
        "java",
        "-Xmx256m",
        "-XX:+UseSerialGC",
        "-jar",
        str(jars[-1]),
        "--host=127.0.0.1",
        f"--port={port}",
    ]
    return _spawn(
        "pubsub",
        argv,
        port=port,
        log_dir=log_dir,
        ready=lambda p: _http_ok(p.url, b"Ok"),
    )


def start_workspace_emulator(
    log_dir: Path, env: Mapping[str, str], port: int | None = None
) -> ManagedProcess:
    port = port or free_port()
    argv = [sys.executable, "-m", "emulator", "--host", "127.0.0.1", "--port", str(port)]
    return _spawn(
        "workspace-emulator",
        argv,
        port=port,
        log_dir=log_dir,
        env=env,
        ready=lambda p: _http_ok(f"{p.url}emulator/clock"),
    )


PRODUCT_FUNCTION = REPO_ROOT / "main.py"
LOCAL_FUNCTION = REPO_ROOT / "devstack" / "function.py"  # main.py's, on the emulator's clock


def start_function(
    target: str,
    log_dir: Path,
    env: Mapping[str, str],
    port: int | None = None,
    source: Path = LOCAL_FUNCTION,
) -> ManagedProcess:
    """functions-framework serving `target` from `source`, as Cloud Run would."""
    port = port or free_port()
    framework = Path(sys.executable).parent / "functions-framework"
    argv = [
        str(framework),
        "--source",
        str(source),
        "--target",
        target,
        "--signature-type",
        "cloudevent",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
    ]
    return _spawn(
        f"function-{target}",
        argv,
        port=port,
        log_dir=log_dir,
        # functions-framework puts only the source's folder on the path, not the project's
        env={"PYTHONPATH": str(REPO_ROOT), **env},
        ready=_port_open,
    )


def _port_open(process: ManagedProcess) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((process.host, process.port)) == 0
