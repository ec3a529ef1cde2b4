"""A bounded, thread-safe cache whose entries expire: what the credentials and clients per
principal are kept in, so an instance neither grows without end nor keeps a principal's
credentials forever (a new secret version is read within an entry's lifetime even when the old
refresh token still works).

By hand: no cache library is installed (cachetools is not among the dependencies), and this
is an ordered dict with a clock.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")

# An instance serves a few principals at a time; the sweep may touch thousands in a run.
DEFAULT_SIZE = 1000
# Within an hour of a new secret version, credentials built from the old one are gone even if
# the old refresh token still works (a rotation without a revocation).
DEFAULT_LIFETIME_SECONDS = 3600.0


class ExpiringCache(Generic[K, V]):
    """At most `size` entries, each kept `lifetime` seconds from when it was stored; past the
    size, the least recently used goes first."""

    def __init__(
        self,
        size: int = DEFAULT_SIZE,
        lifetime: float = DEFAULT_LIFETIME_SECONDS,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        if size < 1 or lifetime <= 0:
            raise ValueError(f"a cache needs a size and a lifetime: {size}, {lifetime}")
        self._size = size
        self._lifetime = lifetime
        self._monotonic = monotonic
        self._entries: OrderedDict[K, tuple[float, V]] = OrderedDict()
        self._lock = threading.RLock()

    def get(self, key: K) -> V | None:
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return None
            if self._monotonic() >= entry[0]:
                del self._entries[key]
                return None
            self._entries.move_to_end(key)
            return entry[1]

    def setdefault(self, key: K, value: V) -> V:
        """The live entry of `key` if there is one, else `value`, stored."""
        with self._lock:
            kept = self.get(key)
            if kept is not None:
                return kept
            self._entries[key] = (self._monotonic() + self._lifetime, value)
            while len(self._entries) > self._size:
                self._entries.popitem(last=False)
            return value

    def get_or_build(self, key: K, build: Callable[[], V]) -> V:
        """The live entry of `key`, else what `build()` returns, stored. Built outside the
        lock: building may read a secret over the network, and two threads building one
        value at once waste only one build (both get the first stored)."""
        found = self.get(key)
        return self.setdefault(key, build()) if found is None else found

    def discard(self, matches: Callable[[K], bool]) -> None:
        with self._lock:
            for key in [key for key in self._entries if matches(key)]:
                del self._entries[key]

    def __len__(self) -> int:
        return len(self._entries)
