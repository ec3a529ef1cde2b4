"""Routing and request validation driven by the bundled discovery document.

The document shipped inside google-api-python-client (`workspaceevents.v1.json`) is the only
source of paths, HTTP methods, query parameters (the method's own plus the global ones) and
body schemas. Anything it does not define is rejected the way Google's front end rejects it.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from importlib import resources
from typing import Any

from emulator.casing import camel, snake
from emulator.errors import ApiError, invalid_argument, unknown_name
from emulator.timefmt import parse_duration, parse_time

_DOCUMENTS = "discovery_cache/documents/"
_INT32 = (-(2**31), 2**31 - 1)


@dataclass(frozen=True)
class Parameter:
    name: str
    type: str
    location: str
    enum: tuple[str, ...] | None
    repeated: bool

    @classmethod
    def from_json(cls, name: str, spec: dict[str, Any]) -> Parameter:
        enum = spec.get("enum")
        return cls(
            name=name,
            type=spec.get("type", "string"),
            location=spec.get("location", "query"),
            enum=tuple(enum) if enum else None,
            repeated=bool(spec.get("repeated", False)),
        )

    def convert(self, values: list[str]) -> Any:
        """The typed value of a query parameter given as strings; ApiError if malformed."""
        if len(values) > 1 and not self.repeated:
            raise invalid_argument(
                f"Invalid value at '{self.name}': a single value is expected, got {len(values)}",
                field=self.name,
            )
        converted = [self._convert_one(value) for value in values]
        return converted if self.repeated else converted[0]

    def _convert_one(self, value: str) -> Any:
        if self.enum is not None and value not in self.enum:
            raise invalid_argument(
                f"Invalid value at '{self.name}' (TYPE_ENUM), \"{value}\"", field=self.name
            )
        if self.type == "boolean":
            if value not in ("true", "false"):
                raise invalid_argument(
                    f"Invalid value at '{self.name}' (TYPE_BOOL), \"{value}\"", field=self.name
                )
            return value == "true"
        if self.type == "integer":
            try:
                number = int(value)
            except ValueError:
                number = None
            if number is None or not _INT32[0] <= number <= _INT32[1]:
                raise invalid_argument(
                    f"Invalid value at '{self.name}' (TYPE_INT32), \"{value}\"", field=self.name
                )
            return number
        return value


@dataclass(frozen=True)
class Method:
    """One REST method of the document, e.g. `subscriptions.patch`."""

    id: str
    http_method: str
    path_regex: re.Pattern[str]
    parameters: dict[str, Parameter]
    request_schema: str | None

    @property
    def mutating(self) -> bool:
        return self.http_method != "GET"


@dataclass(frozen=True)
class Route:
    method: Method
    path_args: dict[str, str]


def _path_regex(
    service_path: str, template: str, params: dict[str, Parameter], raw: dict[str, Any]
) -> re.Pattern[str]:
    pattern = re.escape("/" + service_path)
    position = 0
    for match in re.finditer(r"\{(\+?)([A-Za-z0-9_.]+)\}", template):
        pattern += re.escape(template[position : match.start()])
        name = match.group(2)
        value_pattern = raw[name].get("pattern", "^[^/]+$") if name in params else "^[^/]+$"
        pattern += f"(?P<{name}>{value_pattern.removeprefix('^').removesuffix('$')})"
        position = match.end()
    pattern += re.escape(template[position:])
    return re.compile(pattern)


class DiscoveryDocument:
    """The parsed discovery document: routing table, global parameters and schemas."""

    def __init__(
        self, document: dict[str, Any], served: str | tuple[str, ...] | None = None
    ) -> None:
        self.name: str = document["name"]
        self.schemas: dict[str, Any] = document["schemas"]
        self.global_parameters = {
            name: Parameter.from_json(name, spec) for name, spec in document["parameters"].items()
        }
        self.methods: list[Method] = []
        self._collect(document.get("resources", {}), document.get("servicePath", ""))
        if served is not None:  # only the methods whose id starts so (`spaces.spaceEvents.`, …)
            self.methods = [m for m in self.methods if m.id.startswith(served)]

    @classmethod
    def bundled(
        cls, document: str = "workspaceevents.v1", served: str | tuple[str, ...] | None = None
    ) -> DiscoveryDocument:
        """Load a document installed with google-api-python-client (never the network)."""
        path = resources.files("googleapiclient").joinpath(f"{_DOCUMENTS}{document}.json")
        return cls(json.loads(path.read_text(encoding="utf-8")), served)

    def _collect(self, tree: dict[str, Any], service_path: str, prefix: str = "") -> None:
        for resource_name, resource in tree.items():
            qualified = f"{prefix}{resource_name}"
            for method_name, spec in resource.get("methods", {}).items():
                raw = spec.get("parameters", {})
                params = {name: Parameter.from_json(name, p) for name, p in raw.items()}
                self.methods.append(
                    Method(
                        id=f"{qualified}.{method_name}",
                        http_method=spec["httpMethod"],
                        path_regex=_path_regex(service_path, spec["path"], params, raw),
                        parameters=params,
                        request_schema=spec.get("request", {}).get("$ref"),
                    )
                )
            self._collect(resource.get("resources", {}), service_path, f"{qualified}.")

    def route(self, http_method: str, path: str) -> Route:
        """The method serving this request, or 404 as Google's front end answers."""
        for method in self.methods:
            match = method.path_regex.fullmatch(path)
            if match and method.http_method == http_method:
                return Route(method, match.groupdict())
        raise ApiError(
            "NOT_FOUND",
            f"The requested URL {path} was not found on this server ({http_method}).",
            reason="METHOD_NOT_FOUND",
            metadata={"service": f"{self.name}.googleapis.com"},
        )

    def parse_query(self, method: Method, args: dict[str, list[str]]) -> dict[str, Any]:
        """Typed query parameters; unknown names and malformed values are 400."""
        parsed: dict[str, Any] = {}
        for name, given in args.items():
            spec = method.parameters.get(name) or self.global_parameters.get(name)
            values = given
            if spec is None and name.startswith("$"):
                # Google's front end takes every system parameter with a `$` too; the
                # generated REST clients send `$alt=json;enum-encoding=int` on every call.
                spec = self.global_parameters.get(name[1:])
                values = [value.split(";", 1)[0] for value in given]
            if spec is None or spec.location != "query":
                raise unknown_name(name, "", query=True)
            parsed[spec.name] = spec.convert(values)
        return parsed

    def parse_body(self, method: Method, raw: bytes) -> dict[str, Any]:
        """The request body in canonical lowerCamelCase, output-only fields dropped.

        Accepts proto3 JSON: lowerCamelCase or snake_case names, `null` meaning unset.
        """
        text = raw.decode("utf-8", errors="replace").strip()
        if not text:
            return {}
        try:
            body = json.loads(text)
        except json.JSONDecodeError as error:
            raise invalid_argument(
                f"Invalid JSON payload received. {error.msg} at line {error.lineno} "
                f"column {error.colno}."
            ) from None
        if method.request_schema is None:
            if body in ({}, None):
                return {}
            raise invalid_argument(
                "Invalid JSON payload received. This method does not take a request body."
            )
        if not isinstance(body, dict):
            raise invalid_argument(
                f"Invalid JSON payload received. Expected an object, got {type(body).__name__}."
            )
        # A request message named "...Request" is the whole body (`body: "*"`); otherwise the
        # body is one field of the request named after its type (`body: "subscription"`).
        schema = method.request_schema
        root = "" if schema.endswith("Request") else snake(schema)
        return self._object(schema, body, root)

    def _object(self, schema_name: str, value: dict[str, Any], where: str) -> dict[str, Any]:
        properties: dict[str, Any] = self.schemas[schema_name].get("properties", {})
        result: dict[str, Any] = {}
        seen: set[str] = set()
        for key, item in value.items():
            name = key if key in properties else camel(key)
            if name not in properties or (key != name and snake(name) != key):
                raise unknown_name(key, where, query=False)
            if name in seen:
                raise invalid_argument(
                    f"Invalid JSON payload received. Multiple values for field "
                    f'"{snake(name)}"{_at(where)}.'
                )
            seen.add(name)
            spec = properties[name]
            field_path = f"{where}.{snake(name)}" if where else snake(name)
            if item is None:
                continue
            converted = self._value(spec, item, field_path)
            if not spec.get("readOnly", False):
                result[name] = converted
        return result

    def _value(self, spec: dict[str, Any], item: Any, where: str) -> Any:
        if "$ref" in spec:
            if not isinstance(item, dict):
                raise _bad_value(where, "TYPE_MESSAGE", item)
            return self._object(spec["$ref"], item, where)
        kind = spec.get("type")
        if kind == "array":
            if not isinstance(item, list):
                raise _bad_value(where, "TYPE_LIST", item)
            return [self._value(spec["items"], element, where) for element in item]
        if kind == "boolean":
            if not isinstance(item, bool):
                raise _bad_value(where, "TYPE_BOOL", item)
            return item
        if kind == "integer":
            if isinstance(item, bool) or not isinstance(item, int | str):
                raise _bad_value(where, "TYPE_INT32", item)
            try:
                return int(item)
            except ValueError:
                raise _bad_value(where, "TYPE_INT32", item) from None
        if kind == "object":
            if not isinstance(item, dict):
                raise _bad_value(where, "TYPE_MESSAGE", item)
            return item
        return _string(spec, item, where)


def _string(spec: dict[str, Any], item: Any, where: str) -> str:
    if not isinstance(item, str):
        raise _bad_value(where, "TYPE_STRING", item)
    parsers = {"google-datetime": parse_time, "google-duration": parse_duration}
    parse = parsers.get(spec.get("format", ""))
    try:
        if parse is not None:
            parse(item)
    except ValueError:
        type_url = {
            "google-datetime": "type.googleapis.com/google.protobuf.Timestamp",
            "google-duration": "type.googleapis.com/google.protobuf.Duration",
        }[spec["format"]]
        raise _bad_value(where, type_url, item) from None
    if "enum" in spec and item not in spec["enum"]:
        raise _bad_value(where, "TYPE_ENUM", item)
    return item


def _at(where: str) -> str:
    return f" at '{where}'" if where else ""


def _bad_value(where: str, kind: str, item: Any) -> ApiError:
    shown = item if isinstance(item, str) else json.dumps(item)
    return invalid_argument(f"Invalid value at '{where}' ({kind}), \"{shown}\"", field=where)
