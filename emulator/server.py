"""The HTTP face: the Workspace Events API v1 at `/`, the control surface at `/emulator/`."""

from __future__ import annotations

import functools
import json
import logging
import socket
import threading
import time
from collections.abc import Callable
from typing import Any

from flask import Flask, Response, request
from werkzeug.datastructures import MultiDict
from werkzeug.serving import BaseWSGIServer, make_server

from emulator.auth import Principal, bearer_token, principal_for_token
from emulator.discovery import DiscoveryDocument
from emulator.errors import ApiError, invalid_argument
from emulator.meet import ARTIFACTS, Meet
from emulator.partial import parse_fields, select
from emulator.publisher import PubSubPublisher
from emulator.state import Workspace
from emulator.timefmt import format_time
from emulator.traffic import Fault, FaultBook, QuotaMeter, RequestEntry, RequestLog, quota_user

_LOG = logging.getLogger("emulator")
_SECRET_PARAMS = frozenset({"access_token", "oauth_token", "key"})
TICK_SECONDS = 0.5

Handler = Callable[
    [Principal, dict[str, str], dict[str, Any], dict[str, Any], ApiError | None], Any
]


def _handlers(workspace: Workspace) -> dict[str, Handler]:
    """One entry per discovery method id: (principal, path args, query, body, op failure)."""
    return {
        "subscriptions.create": lambda p, _a, q, b, f: workspace.subscriptions.create(
            p, b, validate_only=q.get("validateOnly", False), failure=f
        ),
        "subscriptions.get": lambda p, a, _q, _b, _f: workspace.subscriptions.get(p, a["name"]),
        "subscriptions.list": lambda p, _a, q, _b, _f: workspace.subscriptions.list_subscriptions(
            p, q.get("filter"), q.get("pageSize"), q.get("pageToken")
        ),
        "subscriptions.patch": lambda p, a, q, b, f: workspace.subscriptions.patch(
            p,
            a["name"],
            b,
            q.get("updateMask"),
            validate_only=q.get("validateOnly", False),
            failure=f,
        ),
        "subscriptions.reactivate": lambda p, a, _q, _b, f: workspace.subscriptions.reactivate(
            p, a["name"], failure=f
        ),
        "subscriptions.delete": lambda p, a, q, _b, f: workspace.subscriptions.delete(
            p,
            a["name"],
            allow_missing=q.get("allowMissing", False),
            etag=q.get("etag"),
            validate_only=q.get("validateOnly", False),
            failure=f,
        ),
        "operations.get": lambda _p, a, _q, _b, _f: workspace.operations.get(a["name"]),
        "spaces.spaceEvents.list": lambda p, a, q, _b, _f: workspace.space_events.list_space_events(
            p, a["parent"], q.get("filter"), q.get("pageSize"), q.get("pageToken")
        ),
        "spaces.spaceEvents.get": lambda p, a, _q, _b, _f: workspace.space_events.get_space_event(
            p, a["name"]
        ),
        **_meet_handlers(workspace),
        "activity.query": lambda p, _a, _q, b, _f: workspace.drive_activity.query(p, b),
        "spaces.list": lambda p, _a, q, _b, _f: workspace.chat_spaces.list_spaces(
            p, q.get("filter"), q.get("pageSize"), q.get("pageToken")
        ),
        "spaces.findDirectMessage": lambda p, _a, q, _b, _f: (
            workspace.chat_spaces.find_direct_message(p, q.get("name"))
        ),
        "spaces.messages.create": lambda p, a, q, b, _f: workspace.chat_spaces.create_message(
            p, a["parent"], q, b
        ),
    }


def _meet_handlers(workspace: Workspace) -> dict[str, Handler]:
    """The Meet REST API's conference-record reads (emulator/meet.py)."""
    meet = workspace.meet
    handlers: dict[str, Handler] = {
        "conferenceRecords.list": lambda p, _a, q, _b, _f: meet.list_conference_records(
            p, q.get("filter"), q.get("pageSize"), q.get("pageToken")
        ),
        "conferenceRecords.get": lambda p, a, _q, _b, _f: meet.get_conference_record(p, a["name"]),
        "conferenceRecords.participants.list": lambda p, a, q, _b, _f: meet.list_participants(
            p, a["parent"], q.get("filter"), q.get("pageSize"), q.get("pageToken")
        ),
        "conferenceRecords.participants.get": lambda p, a, _q, _b, _f: meet.get_participant(
            p, a["name"]
        ),
        "conferenceRecords.participants.participantSessions.list": (
            lambda p, a, q, _b, _f: meet.list_participant_sessions(
                p, a["parent"], q.get("filter"), q.get("pageSize"), q.get("pageToken")
            )
        ),
        "conferenceRecords.participants.participantSessions.get": (
            lambda p, a, _q, _b, _f: meet.get_participant_session(p, a["name"])
        ),
    }
    for kind, collection in ARTIFACTS.items():
        handlers[f"conferenceRecords.{collection}.list"] = functools.partial(
            _list_artifacts, meet, kind
        )
        handlers[f"conferenceRecords.{collection}.get"] = lambda p, a, _q, _b, _f: (
            meet.get_artifact(p, a["name"])
        )
    return handlers


def _list_artifacts(
    meet: Meet,
    kind: str,
    principal: Principal,
    args: dict[str, str],
    query: dict[str, Any],
    _body: dict[str, Any],
    _failure: ApiError | None,
) -> Any:
    return meet.list_artifacts(
        principal, kind, args["parent"], query.get("pageSize"), query.get("pageToken")
    )


def _json_response(payload: Any, status: int = 200, *, pretty: bool = True) -> Response:
    text = json.dumps(payload, indent=2 if pretty else None, ensure_ascii=False)
    return Response(text + "\n", status=status, content_type="application/json; charset=UTF-8")


def _logged_query(args: MultiDict[str, str]) -> dict[str, str | list[str]]:
    query: dict[str, str | list[str]] = {}
    for name in args:
        values = ["<redacted>" if name in _SECRET_PARAMS else v for v in args.getlist(name)]
        query[name] = values[0] if len(values) == 1 else values
    return query


def _logged_body(raw: bytes) -> Any:
    if not raw:
        return None
    try:
        return json.loads(raw)
    except ValueError:
        return raw.decode("utf-8", errors="replace")


def _drop_connection() -> Response:
    """Close the client's connection without an answer (werkzeug then ignores the write)."""
    connection = request.environ.get("werkzeug.socket")
    if isinstance(connection, socket.socket):
        connection.shutdown(socket.SHUT_RDWR)
    return Response(b"", status=500)


class Emulator:
    """The emulator's parts: document, state, traffic controls; and the Flask app over them."""

    def __init__(self, project: str, pubsub_host: str | None) -> None:
        self.project = project
        self.discovery = DiscoveryDocument.bundled()
        # At the same base URL, the Chat API's spaceEvents (for replays of missed events), the
        # spaces of a user, and the Chat app's direct messages (emulator/chat_spaces.py).
        self.chat_discovery = DiscoveryDocument.bundled(
            "chat.v1",
            served=("spaces.spaceEvents.", "spaces.list", "spaces.findDirectMessage",
                    "spaces.messages.create"),
        )  # fmt: skip
        # ... and the Meet REST API's conference records (not its spaces, nor transcript
        # entries), and Drive Activity's query (for replays of missed Meet and Drive events).
        self.meet_discovery = DiscoveryDocument.bundled(
            "meet.v2",
            served=(
                "conferenceRecords.list",
                "conferenceRecords.get",
                "conferenceRecords.participants.",
                "conferenceRecords.recordings.",
                "conferenceRecords.smartNotes.",
                "conferenceRecords.transcripts.list",
                "conferenceRecords.transcripts.get",
            ),
        )
        self.drive_activity_discovery = DiscoveryDocument.bundled("driveactivity.v2")
        self.workspace = Workspace(PubSubPublisher(pubsub_host), project)
        self.faults = FaultBook()
        self.quota = QuotaMeter()
        self.requests = RequestLog()
        self._handlers = _handlers(self.workspace)
        self.app = self._build_app()

    def reset(self) -> None:
        self.workspace.reset()
        self.faults.clear()
        self.quota.clear()
        self.requests.clear()

    # -- the API -------------------------------------------------------------------------

    def serve_api(self, path: str = "") -> Response:
        raw = request.get_data(cache=True)
        entry = self.requests.add(
            RequestEntry(
                http_method=request.method,
                path=request.path,
                query=_logged_query(request.args),
                body=_logged_body(raw),
                time=self.workspace.clock.now(),
            )
        )
        pretty = True
        fault = None
        try:
            latency = self.workspace.config.latency_seconds
            if latency:
                time.sleep(latency)
            document = self._document_for(request.path)
            route = document.route(request.method, request.path)
            entry.method = route.method.id
            query = document.parse_query(
                route.method, {name: request.args.getlist(name) for name in request.args}
            )
            pretty = query.get("prettyPrint", True)
            if query.get("alt", "json") != "json":
                raise invalid_argument("The emulator answers only alt=json.", field="alt")
            selector = parse_fields(query["fields"]) if query.get("fields") else None
            fault = self.faults.take_request_fault(route.method.id)
            if fault is not None:
                time.sleep(fault.delay_seconds)
                if fault.drop_connection:
                    _LOG.info("dropped the connection of %s (injected fault)", route.method.id)
                    return _drop_connection()
                if fault.error is not None:
                    raise fault.error
            token = bearer_token(
                request.headers.get("Authorization"),
                query.get("access_token") or query.get("oauth_token"),
            )
            principal = principal_for_token(token, self.project)
            entry.principal = principal.key
            self.quota.charge(
                route.method.id,
                quota_user(principal, query.get("quotaUser")),
                self.workspace.config.quota,
                self.workspace.clock.now(),
                space=_space_of(route.path_args),
            )
            body = document.parse_body(route.method, raw)
            failure = (
                self.faults.take_operation_error(route.method.id) if route.method.mutating else None
            )
            result = select(
                self._handlers[route.method.id](principal, route.path_args, query, body, failure),
                selector,
            )
            status = 200
        except ApiError as error:
            status, result = error.http_code, error.to_body()
        entry.status = status
        _LOG.info("%s %s %s -> %s", entry.method or "-", request.method, request.path, status)
        if fault is not None and fault.answer_delay_seconds:
            time.sleep(fault.answer_delay_seconds)  # done, and logged; the caller waits
        return _json_response(result, status, pretty=pretty)

    def _document_for(self, path: str) -> DiscoveryDocument:
        """The Chat API's document for its paths (`/v1/spaces…`), Meet's for
        `/v2/conferenceRecords…`, Drive Activity's for `/v2/activity…`, else the Workspace
        Events API's."""
        if path == "/v1/spaces" or path.startswith(("/v1/spaces/", "/v1/spaces:")):
            return self.chat_discovery
        if path.startswith("/v2/conferenceRecords"):
            return self.meet_discovery
        if path.startswith("/v2/activity"):
            return self.drive_activity_discovery
        return self.discovery

    # -- the control surface -------------------------------------------------------------

    def _control(self, action: Callable[[dict[str, Any]], Any]) -> Response:
        try:
            raw = request.get_data(cache=True)
            body = json.loads(raw) if raw.strip() else {}
            if not isinstance(body, dict):
                raise invalid_argument("The control surface takes a JSON object.")
            return _json_response(action(body))
        except json.JSONDecodeError as error:
            failure = invalid_argument(f"Invalid JSON: {error.msg}.")
        except ValueError as error:
            failure = invalid_argument(str(error))
        except ApiError as error:
            failure = error
        return _json_response(failure.to_body(), failure.http_code)

    def _reset(self, _body: dict[str, Any]) -> dict[str, Any]:
        self.reset()
        return {}

    def _clock(self, _body: dict[str, Any]) -> dict[str, Any]:
        return {"now": format_time(self.workspace.clock.now())}

    def _advance(self, body: dict[str, Any]) -> dict[str, Any]:
        seconds = body.get("seconds")
        if not isinstance(seconds, int | float) or isinstance(seconds, bool):
            raise invalid_argument("seconds must be a number.", field="seconds")
        now, produced = self.workspace.lifecycle.advance(seconds)
        return {"now": format_time(now), "published": [event.to_json() for event in produced]}

    def _suspend(self, subscription_id: str) -> Callable[[dict[str, Any]], Any]:
        def action(body: dict[str, Any]) -> dict[str, Any]:
            _only(body, {"reason", "silent", "causeFixed"})
            return self.workspace.lifecycle.suspend(
                subscription_id,
                str(body.get("reason", "")),
                silent=None if body.get("silent") is None else bool(body["silent"]),
                cause_fixed=bool(body.get("causeFixed", False)),
            )

        return action

    def _expire(self, subscription_id: str) -> Callable[[dict[str, Any]], Any]:
        def action(body: dict[str, Any]) -> dict[str, Any]:
            _only(body, {"silent"})
            record = self.workspace.lifecycle.expire(
                subscription_id, silent=bool(body.get("silent", False))
            )
            return {"event": record.to_json() if record else None}

        return action

    def _post(self, space: str) -> Callable[[dict[str, Any]], Any]:
        def action(body: dict[str, Any]) -> dict[str, Any]:
            _only(body, {"eventType", "resource", "resources"})
            # `resources` (several): one event of the type's batch form.
            resources = body.get("resources") or [body.get("resource") or {}]
            if not isinstance(resources, list) or not all(isinstance(r, dict) for r in resources):
                raise invalid_argument("resource must be an object, resources a list of them.")
            event_type = str(body.get("eventType") or "")
            return self.workspace.space_events.post_chat_event(
                f"spaces/{space}", event_type, resources
            )

        return action

    def _meet(self, operation: str) -> Callable[[dict[str, Any]], Any]:
        """A change in Meet (emulator/meet.py), by the control call's name."""
        meet = self.workspace.meet
        calls: dict[str, tuple[set[str], Callable[[dict[str, Any]], Any]]] = {
            "conferences:start": (
                {"space", "owner"},
                lambda b: meet.start_conference(str(b.get("space", "")), b.get("owner")),
            ),
            "conferences:end": (
                {"conferenceRecord"},
                lambda b: meet.end_conference(str(b.get("conferenceRecord", ""))),
            ),
            "participants:join": (
                {"conferenceRecord", "user", "displayName"},
                lambda b: meet.join(
                    str(b.get("conferenceRecord", "")), str(b.get("user", "")), b.get("displayName")
                ),
            ),
            "participants:leave": (
                {"participantSession"},
                lambda b: meet.leave(str(b.get("participantSession", ""))),
            ),
            "artifacts:start": (
                {"conferenceRecord", "kind"},
                lambda b: meet.start_artifact(
                    str(b.get("conferenceRecord", "")), str(b.get("kind", ""))
                ),
            ),
            "artifacts:end": (
                {"artifact", "generateFile"},
                lambda b: meet.end_artifact(
                    str(b.get("artifact", "")), bool(b.get("generateFile", False))
                ),
            ),
            "artifacts:generateFile": (
                {"artifact"},
                lambda b: meet.generate_file(str(b.get("artifact", ""))),
            ),
        }

        def action(body: dict[str, Any]) -> Any:
            if operation not in calls:
                raise ApiError("NOT_FOUND", f"No Meet control call {operation!r}.")
            allowed, call = calls[operation]
            _only(body, allowed)
            return call(body)

        return action

    def _drive_change(self, file_id: str) -> Callable[[dict[str, Any]], Any]:
        def action(body: dict[str, Any]) -> dict[str, Any]:
            _only(body, {"eventType", "actor", "parent", "mimeType", "title"})
            return self.workspace.drive_activity.change(
                file_id,
                str(body.get("eventType", "")),
                actor=str(body.get("actor", "users/1")),
                parent=body.get("parent"),
                mime_type=body.get("mimeType"),
                title=body.get("title"),
            )

        return action

    def _add_fault(self, body: dict[str, Any]) -> dict[str, Any]:
        documents = (
            self.discovery,
            self.chat_discovery,
            self.meet_discovery,
            self.drive_activity_discovery,
        )
        known = {m.id for document in documents for m in document.methods}
        self.faults.add(Fault.from_json(body, known))
        return {"faults": self.faults.to_json()}

    def _set_config(self, body: dict[str, Any]) -> dict[str, Any]:
        with self.workspace.lock:
            self.workspace.config = self.workspace.config.updated(body)
            return self.workspace.config.to_json()

    def _clear_requests(self, _body: dict[str, Any]) -> dict[str, Any]:
        self.requests.clear()
        return {}

    def _build_app(self) -> Flask:
        app = Flask("emulator")
        control = self._control
        routes: list[tuple[str, str, Callable[..., Response]]] = [
            ("/emulator/reset", "POST", lambda: control(self._reset)),
            ("/emulator/clock", "GET", lambda: control(self._clock)),
            ("/emulator/clock:advance", "POST", lambda: control(self._advance)),
            (
                "/emulator/subscriptions/<sid>:suspend",
                "POST",
                lambda sid: control(self._suspend(sid)),
            ),
            (
                "/emulator/subscriptions/<sid>:fixCause",
                "POST",
                lambda sid: control(lambda _b: self.workspace.lifecycle.fix_cause(sid)),
            ),
            (
                "/emulator/subscriptions/<sid>:expire",
                "POST",
                lambda sid: control(self._expire(sid)),
            ),
            (
                "/emulator/spaces/<space>:post",
                "POST",
                lambda space: control(self._post(space)),
            ),
            (
                "/emulator/meet/<operation>",
                "POST",
                lambda operation: control(self._meet(operation)),
            ),
            (
                "/emulator/drive/files/<file_id>:change",
                "POST",
                lambda file_id: control(self._drive_change(file_id)),
            ),
            (
                "/emulator/directMessages",
                "POST",
                lambda: control(
                    lambda b: self.workspace.chat_spaces.create_direct_message(str(b.get("user")))
                ),
            ),
            (
                "/emulator/messages",
                "GET",
                lambda: control(lambda _b: {"messages": self.workspace.chat_spaces.messages()}),
            ),
            ("/emulator/faults", "POST", lambda: control(self._add_fault)),
            (
                "/emulator/faults",
                "GET",
                lambda: control(lambda _b: {"faults": self.faults.to_json()}),
            ),
            ("/emulator/config", "POST", lambda: control(self._set_config)),
            (
                "/emulator/config",
                "GET",
                lambda: control(lambda _b: self.workspace.config.to_json()),
            ),
            (
                "/emulator/requests",
                "GET",
                lambda: control(lambda _b: {"requests": self.requests.to_json()}),
            ),
            ("/emulator/requests", "DELETE", lambda: control(self._clear_requests)),
            (
                "/emulator/events",
                "GET",
                lambda: control(
                    lambda _b: {"events": [e.to_json() for e in self.workspace.lifecycle.events()]}
                ),
            ),
        ]
        for index, (rule, method, view) in enumerate(routes):
            app.add_url_rule(rule, f"control{index}", view, methods=[method])
        api_methods = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"]
        app.add_url_rule("/", "api_root", self.serve_api, methods=api_methods)
        app.add_url_rule("/<path:path>", "api", self.serve_api, methods=api_methods)
        return app


def _only(body: dict[str, Any], allowed: set[str]) -> None:
    unknown = set(body) - allowed
    if unknown:
        raise invalid_argument(f"Unknown fields: {', '.join(sorted(unknown))}.")


class Ticker(threading.Thread):
    """Lets real time pass: publishes due lifecycle events every `TICK_SECONDS`."""

    def __init__(self, workspace: Workspace) -> None:
        super().__init__(name="lifecycle-ticker", daemon=True)
        self.workspace = workspace
        self.stopped = threading.Event()

    def run(self) -> None:
        while not self.stopped.wait(TICK_SECONDS):
            try:
                self.workspace.lifecycle.process_due()
            except Exception:
                _LOG.exception("processing due lifecycle events failed")


def build_server(emulator: Emulator, host: str, port: int) -> BaseWSGIServer:
    return make_server(host, port, emulator.app, threaded=True)


def _space_of(path_args: dict[str, str]) -> str | None:
    """The space a Chat API request reads (`spaces/S` of its parent or name), if any."""
    path = path_args.get("parent") or path_args.get("name") or ""
    return "/".join(path.split("/")[:2]) if path.startswith("spaces/") else None
