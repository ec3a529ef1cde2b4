"""Cloud Run's front end, for the chaos soak: one push endpoint whose requests land on any of
several function instances, healthy or not.

Pub/Sub push has one URL per subscription; Cloud Run routes each request to some instance of
the revision. This balancer does the same on loopback (stdlib only: a test helper, not a
product part): each POST goes to a backend chosen at random; a backend that refuses the
connection, dies mid-request or does not answer within the acknowledgement deadline is a
failed delivery (502/504), exactly what Pub/Sub then redelivers. It remembers, per Pub/Sub
message, every status it returned, so a test can tell what was acknowledged, and by whom.
"""

from __future__ import annotations

import http.client
import json
import random
import threading
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit


@dataclass(frozen=True)
class Delivery:
    backend: str  # the backend's label
    status: int
    ce_id: str | None


@dataclass
class Balancer:
    """Routes to `backends` (label -> base URL); both may change while it runs."""

    rng: random.Random
    timeout: float
    backends: dict[str, str] = field(default_factory=dict)
    deliveries: dict[str, list[Delivery]] = field(default_factory=lambda: defaultdict(list))
    url: str = ""
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def set_backend(self, label: str, url: str) -> None:
        with self._lock:
            self.backends[label] = url

    def pick(self) -> tuple[str, str]:
        with self._lock:
            label = self.rng.choice(sorted(self.backends))
            return label, self.backends[label]

    def record(self, message_id: str, delivery: Delivery) -> None:
        with self._lock:
            self.deliveries[message_id].append(delivery)

    def acknowledged(self) -> dict[str, Delivery]:
        """Per Pub/Sub message id, the delivery that was acknowledged (a 2xx), if any."""
        with self._lock:
            return {
                message_id: ok[0]
                for message_id, seen in self.deliveries.items()
                if (ok := [d for d in seen if d.status < 300])
            }

    def forward(self, path: str, body: bytes, headers: dict[str, str]) -> tuple[str, int, bytes]:
        label, base = self.pick()
        target = urlsplit(base)
        connection = http.client.HTTPConnection(target.hostname, target.port, timeout=self.timeout)
        try:
            connection.request("POST", path, body=body, headers=headers)
            response = connection.getresponse()
            return label, response.status, response.read()
        except TimeoutError:
            return label, 504, b"no answer within the acknowledgement deadline"
        except (OSError, http.client.HTTPException) as error:
            return label, 502, f"instance failed: {type(error).__name__}".encode()
        finally:
            connection.close()


def _message_ids(body: bytes) -> tuple[str, str | None]:
    try:
        message = json.loads(body).get("message", {})
        ce_id = (message.get("attributes") or {}).get("ce-id")
        return str(message.get("messageId", "?")), ce_id
    except (ValueError, AttributeError):
        return "?", None


@contextmanager
def balancer(rng: random.Random, timeout: float) -> Iterator[Balancer]:
    state = Balancer(rng, timeout)

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            headers = {"Content-Type": self.headers.get("Content-Type", "application/json")}
            label, status, answer = state.forward(self.path, body, headers)
            message_id, ce_id = _message_ids(body)
            state.record(message_id, Delivery(label, status, ce_id))
            self.send_response(status)
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

        def log_message(self, format: str, *args: object) -> None:
            return  # quiet: the test reports what matters

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    state.url = f"http://127.0.0.1:{server.server_address[1]}/"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
