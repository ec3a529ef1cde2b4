"""The sample events in `samples/events/`: Pub/Sub push bodies as Pub/Sub delivers Google's
events to the function, retargeted at a subscription of your own.

`python -m devstack.samples FILE [--subscription subscriptions/ID [--expire-time T]]` prints
the push body of FILE, naming ID instead of the sample's subscription (in the `ce-source`,
`ce-subject` and ordering key attributes and in the payload, whose `expire_time` becomes T),
ready for `curl --data @-`. The event id of a
retargeted event is derived from the sample's and the name: the same command twice is a
redelivery (answered from the ledger), another name is another event.
"""

from __future__ import annotations

import argparse
import base64
import json
import sys
import uuid
from pathlib import Path
from typing import Any

SAMPLES = Path(__file__).resolve().parent.parent / "samples" / "events"
SOURCE_PREFIX = "//workspaceevents.googleapis.com/"


def load(name: str | Path) -> dict[str, Any]:
    """The push body of one sample: a file name in samples/events/ or a path."""
    path = Path(name)
    if not path.is_file():
        path = SAMPLES / name
    body: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return body


def payload(body: dict[str, Any]) -> dict[str, Any]:
    """The decoded CloudEvent data of a push body."""
    data: dict[str, Any] = json.loads(base64.b64decode(body["message"]["data"]))
    return data


def retarget(
    body: dict[str, Any], subscription: str, expire_time: str | None = None
) -> dict[str, Any]:
    """`body` about `subscription` instead of the sample's own subscription (and, for a
    lifecycle event, with its payload's `expire_time` when given)."""
    message = body["message"]
    attributes = dict(message["attributes"])
    source = SOURCE_PREFIX + subscription
    sample_source = attributes["ce-source"]
    attributes["ce-source"] = source
    if attributes.get("ce-subject") == sample_source:  # lifecycle events: subject = source
        attributes["ce-subject"] = source
    attributes["ce-id"] = str(uuid.uuid5(uuid.NAMESPACE_URL, f"{attributes['ce-id']} {source}"))
    data = payload(body)
    if isinstance(data.get("subscription"), dict):
        data["subscription"] = {**data["subscription"], "name": subscription}
        if expire_time:
            data["subscription"]["expire_time"] = expire_time
    encoded = base64.b64encode(json.dumps(data, separators=(",", ":")).encode()).decode()
    new_message = {**message, "attributes": attributes, "data": encoded, "orderingKey": source}
    return {**body, "message": new_message}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m devstack.samples", description=__doc__)
    parser.add_argument("file", help="a file of samples/events/ (name or path)")
    parser.add_argument("--subscription", help="subscriptions/ID to name instead of the sample's")
    parser.add_argument("--expire-time", help="RFC 3339: the expiry the lifecycle payload carries")
    args = parser.parse_args(argv)
    body = load(args.file)
    if args.subscription:
        body = retarget(body, args.subscription, args.expire_time)
    elif args.expire_time:
        parser.error("--expire-time goes with --subscription")
    sys.stdout.write(json.dumps(body) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
