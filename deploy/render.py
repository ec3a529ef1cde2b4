"""Helpers deploy.sh and teardown.sh call with python3 (standard library only).

    render.py monitoring SRC_DIR OUT_DIR   fill ${VAR} placeholders of SRC_DIR/*.json from the
                                           environment into OUT_DIR; alert policies also get
                                           ALERT_NOTIFICATION_CHANNELS
    render.py display-name FILE            an alert policy's or a dashboard's displayName
                                           (${VAR} placeholders filled)
    render.py policy-names < JSON          the names of the alert policies in a Monitoring
                                           API list answer, one a line
    render.py firestore FILE               the gcloud arguments (one command a line, fields
                                           separated by \\x1f) that apply a Firebase-format
                                           firestore.indexes.json: composite indexes, TTL
                                           policies, single-field exemptions

Collection groups named `keeper_*` in the indexes file follow KEEPER_COLLECTION_PREFIX.
"""

from __future__ import annotations

import json
import os
import re
import sys
from pathlib import Path
from typing import Any

PLACEHOLDER = re.compile(r"\$\{([A-Z][A-Z0-9_]*)\}")
SEP = "\x1f"


def fill(text: str, env: dict[str, str]) -> str:
    def value(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in env:
            raise SystemExit(f"render.py: {name} is not set")
        return env[name]

    return PLACEHOLDER.sub(value, text)


def channels(env: dict[str, str]) -> list[str]:
    raw = env.get("ALERT_NOTIFICATION_CHANNELS", "")
    return [c for c in re.split(r"[\s,]+", raw) if c]


def monitoring(src: Path, out: Path, env: dict[str, str]) -> None:
    out.mkdir(parents=True, exist_ok=True)
    for template in sorted(src.glob("*.json")):
        doc = json.loads(fill(template.read_text(), env))
        if template.name.startswith("alert-"):
            doc["notificationChannels"] = channels(env)
        (out / template.name).write_text(json.dumps(doc, indent=2) + "\n")


def collection(name: str, env: dict[str, str]) -> str:
    prefix = env.get("KEEPER_COLLECTION_PREFIX") or "keeper"
    return prefix + name[len("keeper") :] if name.startswith("keeper_") else name


def field_config(field: dict[str, Any]) -> str:
    path = field["fieldPath"]
    if "order" in field:
        return f"field-path={path},order={field['order'].lower()}"
    if "arrayConfig" in field:
        return f"field-path={path},array-config={field['arrayConfig'].lower()}"
    raise SystemExit(f"render.py: unsupported index field {field!r}")


def firestore(path: Path, env: dict[str, str]) -> list[list[str]]:
    spec = json.loads(path.read_text())
    database = env.get("FIRESTORE_DATABASE") or "(default)"
    commands = []
    for index in spec.get("indexes", []):
        scope = (
            "collection-group" if index.get("queryScope") == "COLLECTION_GROUP" else "collection"
        )
        commands.append(
            [
                "firestore",
                "indexes",
                "composite",
                "create",
                f"--database={database}",
                f"--collection-group={collection(index['collectionGroup'], env)}",
                f"--query-scope={scope}",
                *(f"--field-config={field_config(f)}" for f in index["fields"]),
                "--async",
            ]
        )
    for override in spec.get("fieldOverrides", []):
        group = collection(override["collectionGroup"], env)
        where = [override["fieldPath"], f"--database={database}", f"--collection-group={group}"]
        if "ttl" in override:
            ttl = "--enable-ttl" if override["ttl"] else "--disable-ttl"
            commands.append(["firestore", "fields", "ttls", "update", *where, ttl, "--async"])
        if "indexes" in override:
            if override["indexes"]:
                raise SystemExit("render.py: only exemptions (indexes: []) are supported")
            commands.append(
                ["firestore", "indexes", "fields", "update", *where, "--disable-indexes", "--async"]
            )
    return commands


def main(argv: list[str]) -> None:
    env = dict(os.environ)
    match argv:
        case ["monitoring", src, out]:
            monitoring(Path(src), Path(out), env)
        case ["display-name", file]:
            sys.stdout.write(json.loads(fill(Path(file).read_text(), env))["displayName"] + "\n")
        case ["policy-names"]:
            listing = json.loads(sys.stdin.read() or "{}")
            for policy in listing.get("alertPolicies", []):
                sys.stdout.write(policy["name"] + "\n")
        case ["firestore", file]:
            for command in firestore(Path(file), env):
                sys.stdout.write(SEP.join(command) + "\n")
        case _:
            raise SystemExit(__doc__)


if __name__ == "__main__":
    main(sys.argv[1:])
