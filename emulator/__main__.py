"""`python -m emulator --host 127.0.0.1 --port PORT`: serve until SIGTERM or SIGINT."""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import sys
import threading
from types import FrameType

from emulator.server import Emulator, Ticker, build_server

_SEVERITY = {"WARNING": "WARNING", "ERROR": "ERROR", "CRITICAL": "CRITICAL", "DEBUG": "DEBUG"}


class JsonFormatter(logging.Formatter):
    """One JSON object per line, with the `severity` Cloud Logging understands."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "severity": _SEVERITY.get(record.levelname, "INFO"),
            "message": record.getMessage(),
            "logger": record.name,
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry)


def _configure_logging() -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    logging.basicConfig(level=logging.INFO, handlers=[handler], force=True)
    # werkzeug's access log prints whole URLs, which may carry an access_token parameter.
    logging.getLogger("werkzeug").setLevel(logging.WARNING)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m emulator", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8086, help="0 picks a free port")
    args = parser.parse_args(argv)
    _configure_logging()

    emulator = Emulator(
        project=os.environ.get("GOOGLE_CLOUD_PROJECT") or "emulator-project",
        pubsub_host=os.environ.get("PUBSUB_EMULATOR_HOST") or None,
    )
    server = build_server(emulator, args.host, args.port)
    ticker = Ticker(emulator.workspace)
    stop = threading.Event()

    def on_signal(_signum: int, _frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    serving = threading.Thread(target=server.serve_forever, name="http", daemon=True)
    serving.start()
    ticker.start()
    sys.stdout.write(
        f"Workspace Events API emulator listening on http://{args.host}:{server.server_port}/\n"
    )
    sys.stdout.flush()
    while not stop.wait(1.0):
        pass
    ticker.stopped.set()
    server.shutdown()
    server.server_close()
    logging.getLogger("emulator").info("stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
