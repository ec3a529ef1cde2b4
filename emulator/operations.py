"""Long-running operations (`operations.get`): every mutation answers with one, done after
the configured number of polls. Names are one opaque path segment, `operations/<opaque>`
(docs/api-reference.md §10); `@type` strings follow the proto package's `Any` mapping."""

from __future__ import annotations

import base64
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from emulator.errors import ApiError
from emulator.store import State

TYPE_PREFIX = "type.googleapis.com/google.apps.events.subscriptions.v1."
EMPTY_TYPE = "type.googleapis.com/google.protobuf.Empty"


def opaque(length: int) -> str:
    return base64.b32encode(secrets.token_bytes(length)).decode("ascii").rstrip("=").lower()


def operation_id() -> str:
    """One URL-safe path segment, unpadded base64 of random bytes."""
    return base64.urlsafe_b64encode(secrets.token_bytes(24)).decode("ascii").rstrip("=")


@dataclass
class Operation:
    name: str
    kind: str  # Create | Update | Delete | Reactivate
    outcome: dict[str, Any]  # {"response": …} or {"error": …}
    polls_left: int
    subscription_id: str | None = None

    def to_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "name": self.name,
            "metadata": {"@type": f"{TYPE_PREFIX}{self.kind}SubscriptionMetadata"},
        }
        if self.polls_left == 0:  # proto3 JSON leaves out `done: false`
            body["done"] = True
            body.update(self.outcome)
        return body


class Operations:
    """`operations.get`, and the Operation every mutation answers with."""

    def __init__(self, state: State) -> None:
        self.state = state

    def finish(
        self,
        kind: str,
        preview: dict[str, Any],
        commit: Callable[[], dict[str, Any]],
        *,
        validate_only: bool,
        failure: ApiError | None,
        subscription_id: str | None = None,
    ) -> dict[str, Any]:
        """Apply the change (unless validate-only or failing) and record its Operation."""
        if failure is not None:
            outcome: dict[str, Any] = {"error": failure.to_status()}
        else:
            outcome = {"response": preview if validate_only else commit()}
        name = f"operations/{operation_id()}"
        operation = Operation(
            name,
            kind,
            outcome,
            self.state.config.operation_pending_polls,
            None if validate_only or failure else subscription_id,
        )
        self.state.store.operations[name] = operation
        return operation.to_json()

    def get(self, name: str) -> dict[str, Any]:
        with self.state.lock:
            operation = self.state.store.operations.get(name)
            if operation is None:
                raise ApiError("NOT_FOUND", f"Operation '{name}' not found.", reason="NOT_FOUND")
            body = operation.to_json()
            operation.polls_left = max(0, operation.polls_left - 1)
            return body

    def reconciling(self, subscription_id: str) -> bool:
        """An update of the subscription is still being applied (its Operation not done)."""
        return any(
            op.kind == "Update" and op.polls_left > 0 and op.subscription_id == subscription_id
            for op in self.state.store.operations.values()
        )
