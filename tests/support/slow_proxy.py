"""A loopback TCP proxy that holds each chunk a client sends for a while before passing it on:
a slow network in front of an emulator, for one process only (its `*_EMULATOR_HOST` points
here), and that can cut the line, losing what it holds. Written by hand: no package on this image delays a TCP stream, and gRPC's HTTP/2
frames pass through a byte pump unchanged."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import closing, contextmanager


class SlowLine:
    def __init__(self) -> None:
        self.cut = threading.Event()

    def pump(self, source: socket.socket, sink: socket.socket, delay: float) -> None:
        with closing(source), closing(sink):
            while True:
                try:
                    chunk = source.recv(65536)
                except OSError:
                    return
                time.sleep(delay)
                if not chunk or self.cut.is_set():
                    return
                try:
                    sink.sendall(chunk)
                except OSError:
                    return


@contextmanager
def slow_proxy(upstream: str, delay: float) -> Iterator[tuple[str, SlowLine]]:
    """Yields `127.0.0.1:port`, forwarding to `upstream` (`host:port`), and the line: what
    clients send is held `delay` seconds per chunk, the answers pass at once; once
    `line.cut` is set, nothing more passes (what was held is lost)."""
    host, port = upstream.rsplit(":", 1)
    listener = socket.create_server(("127.0.0.1", 0))
    stopped = threading.Event()
    line = SlowLine()

    def accept() -> None:
        while not stopped.is_set():
            try:
                client, _ = listener.accept()
            except OSError:
                return
            server = socket.create_connection((host, int(port)))
            for source, sink, wait in ((client, server, delay), (server, client, 0.0)):
                threading.Thread(target=line.pump, args=(source, sink, wait), daemon=True).start()

    threading.Thread(target=accept, daemon=True).start()
    try:
        yield f"127.0.0.1:{listener.getsockname()[1]}", line
    finally:
        stopped.set()
        listener.close()
