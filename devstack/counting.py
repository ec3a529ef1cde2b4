"""Count round trips exactly: every gRPC call the Firestore client makes to the emulator and
every document its streamed reads (queries, batched gets) return; every request an API client
sends, per discovery method id.

Used by the round-trip budget tests, the client's tests and the benchmarks; never by the
product, whose clients only offer the seam (``GoogleApiClient(on_request=...)``)."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

import grpc  # type: ignore[import-untyped]
from google.cloud import firestore

# The streamed reads, and the field of their responses that carries a document.
_DOCUMENT_FIELD = {"RunQuery": "document", "BatchGetDocuments": "found"}


class CallCounter:
    """Thread-safe count of the requests API clients send, per discovery method id: pass
    ``on_request=counter.add`` to each ``GoogleApiClient`` to count (one counter may serve
    several). Retries count as separate requests: that is what the API's per-minute quota
    sees."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: Counter[str] = Counter()

    def add(self, method: str) -> None:
        with self._lock:
            self._counts[method] += 1

    def __getitem__(self, method: str) -> int:
        with self._lock:
            return self._counts[method]

    @property
    def total(self) -> int:
        with self._lock:
            return sum(self._counts.values())

    def snapshot(self) -> dict[str, int]:
        with self._lock:
            return dict(self._counts)

    def reset(self) -> None:
        with self._lock:
            self._counts.clear()

    def __repr__(self) -> str:
        return f"CallCounter({self.snapshot()!r})"


# grpc ships no type information, hence the ignores.
class RoundTripCounter(
    grpc.UnaryUnaryClientInterceptor,  # type: ignore[misc]
    grpc.UnaryStreamClientInterceptor,  # type: ignore[misc]
):
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.calls: Counter[str] = Counter()
        self._documents = 0

    def _count(self, method: str) -> str:
        name = method.rsplit("/", 1)[-1]
        with self._lock:
            self.calls[name] += 1
        return name

    def _count_documents(self, field: str) -> Callable[[Any], None]:
        def seen(response: Any) -> None:
            if field in response:
                with self._lock:
                    self._documents += 1

        return seen

    def intercept_unary_unary(self, continuation: Any, details: Any, request: Any) -> Any:
        self._count(details.method)
        return continuation(details, request)

    def intercept_unary_stream(self, continuation: Any, details: Any, request: Any) -> Any:
        call = continuation(details, request)
        field = _DOCUMENT_FIELD.get(self._count(details.method))
        return _CountedStream(call, self._count_documents(field)) if field else call

    @property
    def total(self) -> int:
        with self._lock:
            return sum(self.calls.values())

    @property
    def documents(self) -> int:
        """Documents returned by queries and batched gets since the last reset."""
        with self._lock:
            return self._documents

    def reset(self) -> None:
        with self._lock:
            self.calls.clear()
            self._documents = 0


class _CountedStream:
    """A streaming call whose responses pass through `seen`; everything else (cancel,
    metadata, ...) is the call's own."""

    def __init__(self, call: Any, seen: Callable[[Any], None]) -> None:
        self._call = call
        self._seen = seen

    def __iter__(self) -> Iterator[Any]:
        return self

    def __next__(self) -> Any:
        response = next(self._call)
        self._seen(response)
        return response

    def __getattr__(self, name: str) -> Any:
        return getattr(self._call, name)


class CountingFirestoreClient(firestore.Client):
    """A Firestore client (emulator only) whose every RPC passes through `counter`."""

    def __init__(self, counter: RoundTripCounter, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.counter = counter

    def _emulator_channel(self, transport: Any) -> Any:
        channel = super()._emulator_channel(transport)  # type: ignore[no-untyped-call]
        return grpc.intercept_channel(channel, self.counter)
