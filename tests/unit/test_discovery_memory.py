"""The discovery-built services hold no docstrings worth tens of MiB: googleapiclient writes
each method's docstring from the discovery document's descriptions and every nested schema,
and the Chat API's alone held 53 MiB for the process's life (the replay's peak memory,
docs/benchmarks.md). Built without the descriptions, they still send the same requests."""

from __future__ import annotations

import tracemalloc
import uuid
from urllib.parse import parse_qs, urlsplit

from workspace_client.client import build_service

MAX_MIB = 15


def test_the_chat_service_is_built_small_and_still_builds_its_requests() -> None:
    # GIVEN an endpoint no service was built for yet in this process
    endpoint = f"http://{uuid.uuid4().hex[:8]}.invalid/"
    # WHEN the Chat API's spaceEvents resource is built, its memory traced
    tracemalloc.start()
    try:
        resource = build_service("chat", "v1", endpoint, "spaces", "spaceEvents")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # THEN it peaked far below the 62 MiB the described document took
    assert peak / 2**20 < MAX_MIB
    # AND a list request still has its method's path and parameters
    request = resource.list(parent="spaces/S", filter='event_types:"x"', pageSize=5)
    url = urlsplit(request.uri)
    assert url.path == "/v1/spaces/S/spaceEvents"
    assert parse_qs(url.query) == {
        "filter": ['event_types:"x"'],
        "pageSize": ["5"],
        "alt": ["json"],
    }
