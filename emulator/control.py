"""A typed client for the emulator's control surface (`/emulator/…`), standard library only."""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from emulator.casing import camel
from emulator.timefmt import parse_time


class ControlError(RuntimeError):
    """The control surface refused a call; `body` is Google's error JSON."""

    def __init__(self, status: int, body: Any) -> None:
        message = body.get("error", {}).get("message") if isinstance(body, dict) else body
        super().__init__(f"HTTP {status}: {message}")
        self.status = status
        self.body = body


@dataclass(frozen=True)
class Advance:
    now: datetime
    published: list[dict[str, Any]]  # the lifecycle events produced, oldest first


def _subscription_id(subscription: str) -> str:
    return urllib.parse.quote(subscription.removeprefix("subscriptions/"), safe="")


class EmulatorControl:
    """`EmulatorControl("http://127.0.0.1:PORT/")`: one method per control endpoint."""

    def __init__(self, base_url: str, timeout: float = 60.0) -> None:
        self.base_url = base_url.rstrip("/") + "/"
        self.timeout = timeout

    def _call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        data = None if body is None else json.dumps(body).encode("utf-8")
        request = urllib.request.Request(
            urllib.parse.urljoin(self.base_url, f"emulator/{path}"),
            data=data,
            method=method,
            headers={"Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                return json.loads(response.read() or b"{}")
        except urllib.error.HTTPError as error:
            payload = error.read()
            try:
                parsed: Any = json.loads(payload)
            except ValueError:
                parsed = payload.decode("utf-8", errors="replace")
            raise ControlError(error.code, parsed) from None

    def reset(self) -> None:
        """Forget everything: subscriptions, operations, faults, config, quotas, clock, logs."""
        self._call("POST", "reset", {})

    def now(self) -> datetime:
        return parse_time(self._call("GET", "clock")["now"])

    def advance(self, seconds: float) -> Advance:
        """Move the clock forward and publish every lifecycle event that became due."""
        reply = self._call("POST", "clock:advance", {"seconds": seconds})
        return Advance(parse_time(reply["now"]), reply["published"])

    def suspend(
        self,
        subscription: str,
        reason: str,
        *,
        silent: bool | None = None,
        cause_fixed: bool = False,
    ) -> dict[str, Any]:
        """Suspend as Google would for `reason` (a suspensionReason); returns the subscription.
        `silent` None: as Google, announced except for endpoint causes (the config's
        `endpoint_suspensions` decides those)."""
        body: dict[str, Any] = {"reason": reason, "causeFixed": cause_fixed}
        if silent is not None:
            body["silent"] = silent
        result: dict[str, Any] = self._call(
            "POST", f"subscriptions/{_subscription_id(subscription)}:suspend", body
        )
        return result

    def fix_cause(self, subscription: str) -> dict[str, Any]:
        """The cause of the suspension is gone (reactivate may now succeed)."""
        result: dict[str, Any] = self._call(
            "POST", f"subscriptions/{_subscription_id(subscription)}:fixCause", {}
        )
        return result

    def expire(self, subscription: str, *, silent: bool = False) -> dict[str, Any] | None:
        """Expire now: publish `expired` unless silent; deleted for good once the config's
        `expired_visible_seconds` have passed; returns the event."""
        reply = self._call(
            "POST", f"subscriptions/{_subscription_id(subscription)}:expire", {"silent": silent}
        )
        event: dict[str, Any] | None = reply["event"]
        return event

    def add_fault(
        self,
        method: str = "*",
        *,
        count: int = 1,
        status: int | str | None = None,
        message: str | None = None,
        delay_seconds: float = 0.0,
        drop_connection: bool = False,
        operation_error: dict[str, Any] | None = None,
        answer_delay_seconds: float = 0.0,
    ) -> list[dict[str, Any]]:
        """Make the next `count` calls of `method` ("subscriptions.patch", "*") fail.

        `status` (HTTP code or canonical name) answers with Google's error JSON;
        `delay_seconds` stalls; `drop_connection` closes without an answer;
        `operation_error` ({"code": 13, "message": …}) lets the mutation's Operation fail;
        `answer_delay_seconds` carries the call out and holds its answer back.
        """
        body: dict[str, Any] = {"method": method, "count": count}
        if status is not None:
            body["status"] = status
        if message is not None:
            body["message"] = message
        if delay_seconds:
            body["delaySeconds"] = delay_seconds
        if drop_connection:
            body["dropConnection"] = True
        if operation_error is not None:
            body["operationError"] = operation_error
        if answer_delay_seconds:
            body["answerDelaySeconds"] = answer_delay_seconds
        faults: list[dict[str, Any]] = self._call("POST", "faults", body)["faults"]
        return faults

    def post(self, space: str, event_type: str, **resource: Any) -> dict[str, Any]:
        """A Chat event in `space` (`spaces/S`) now: a message, reaction or membership change
        (`event_type`), the resource's fields given override the emulator's. Recorded in the
        space's history and delivered to its ACTIVE subscriptions of that type; returns
        `{"spaceEvent": ..., "deliveries": [{"subscription", "outcome", "messageId"}]}`."""
        return self._post(space, {"eventType": event_type, "resource": resource})

    def post_batch(
        self, space: str, event_type: str, resources: list[dict[str, Any]]
    ) -> dict[str, Any]:
        """Several changes of `event_type` at once: one event of its batch form
        (`...message.v1.created` -> `...message.v1.batchCreated`), as Chat groups them."""
        return self._post(space, {"eventType": event_type, "resources": resources})

    def _post(self, space: str, body: dict[str, Any]) -> dict[str, Any]:
        space_id = space.removeprefix("spaces/")
        result: dict[str, Any] = self._call("POST", f"spaces/{space_id}:post", body)
        return result

    # -- Meet and Drive: each change is recorded, and delivered to the ACTIVE subscriptions of
    # its target; the answer holds the resource and `deliveries` as `post` does.

    def _meet(self, operation: str, body: dict[str, Any]) -> dict[str, Any]:
        result: dict[str, Any] = self._call("POST", f"meet/{operation}", body)
        return result

    def meet_start(self, space: str, owner: str | None = None) -> dict[str, Any]:
        """A conference begins in `space` (`spaces/S`) now; `owner` (`users/ID`) owns the
        space, so its user subscriptions see it. Returns `{"conferenceRecord": ...}`."""
        body = {"space": space, **({"owner": owner} if owner else {})}
        return self._meet("conferences:start", body)

    def meet_end(self, conference_record: str) -> dict[str, Any]:
        """The conference ends now (open sessions leave and running artifacts end first)."""
        return self._meet("conferences:end", {"conferenceRecord": conference_record})

    def meet_join(
        self, conference_record: str, user: str, display_name: str | None = None
    ) -> dict[str, Any]:
        """`user` (`users/ID`) joins now: returns `{"participantSession": ...}`."""
        body = {"conferenceRecord": conference_record, "user": user}
        if display_name:
            body["displayName"] = display_name
        return self._meet("participants:join", body)

    def meet_leave(self, participant_session: str) -> dict[str, Any]:
        return self._meet("participants:leave", {"participantSession": participant_session})

    def meet_start_artifact(self, conference_record: str, kind: str) -> dict[str, Any]:
        """A `recording`, `transcript` or `smartNote` begins now: returns `{kind: ...}`."""
        return self._meet("artifacts:start", {"conferenceRecord": conference_record, "kind": kind})

    def meet_end_artifact(self, artifact: str, *, generate_file: bool = False) -> dict[str, Any]:
        """The artifact stops now; with `generate_file` its file is ready at once too."""
        return self._meet("artifacts:end", {"artifact": artifact, "generateFile": generate_file})

    def meet_generate_file(self, artifact: str) -> dict[str, Any]:
        return self._meet("artifacts:generateFile", {"artifact": artifact})

    def drive_change(self, file_id: str, event_type: str, **fields: Any) -> dict[str, Any]:
        """The change `event_type` names (`google.workspace.drive.file.v3.renamed`...) on file
        `file_id` now; `fields`: `parent`, `mime_type`, `title`, `actor`. Recorded as Drive
        Activity records it; returns `{"activity": ..., "deliveries": [...]}`."""
        body = {"eventType": event_type, **{camel(k): v for k, v in fields.items()}}
        file = urllib.parse.quote(file_id, safe="")
        result: dict[str, Any] = self._call("POST", f"drive/files/{file}:change", body)
        return result

    def direct_message(self, user: str) -> dict[str, Any]:
        """Make the direct message space between `user` (`users/ID`, or `users/EMAIL` for the
        user of `delegated:EMAIL`) and the Chat app, as when the user first messages the app;
        returns the Space."""
        space: dict[str, Any] = self._call("POST", "directMessages", {"user": user})
        return space

    def messages(self) -> list[dict[str, Any]]:
        """Every message created through `spaces.messages.create`, oldest first."""
        messages: list[dict[str, Any]] = self._call("GET", "messages")["messages"]
        return messages

    def faults(self) -> list[dict[str, Any]]:
        faults: list[dict[str, Any]] = self._call("GET", "faults")["faults"]
        return faults

    def configure(self, **changes: Any) -> dict[str, Any]:
        """Change config fields (snake_case here: `latency_seconds=0.2`, `quota={...}`)."""
        body = {
            camel(key): (
                {camel(k): v for k, v in value.items()} if isinstance(value, dict) else value
            )
            for key, value in changes.items()
        }
        config: dict[str, Any] = self._call("POST", "config", body)
        return config

    def config(self) -> dict[str, Any]:
        config: dict[str, Any] = self._call("GET", "config")
        return config

    def requests(self) -> list[dict[str, Any]]:
        """Every API request received, in order: method, httpMethod, path, query, body…"""
        requests: list[dict[str, Any]] = self._call("GET", "requests")["requests"]
        return requests

    def clear_requests(self) -> None:
        self._call("DELETE", "requests")

    def events(self) -> list[dict[str, Any]]:
        """Every lifecycle event produced: attributes, data, topic, orderingKey, delivered."""
        events: list[dict[str, Any]] = self._call("GET", "events")["events"]
        return events
