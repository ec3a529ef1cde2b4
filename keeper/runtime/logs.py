"""Structured logging: one JSON object per line, in the shape Cloud Logging indexes."""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TextIO

from keeper.domain.outcomes import Outcome, Result

if TYPE_CHECKING:
    from keeper.domain.models import HistoryEntry, ManagedSubscription

LABELS_KEY = "logging.googleapis.com/labels"

# Cloud Logging's severities that Python's standard levels are named after; others: DEFAULT.
_SEVERITIES = frozenset({"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"})


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "severity": record.levelname if record.levelname in _SEVERITIES else "DEFAULT",
            "message": record.getMessage(),
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "logger": record.name,
        }
        labels = getattr(record, "labels", None)
        if labels:
            entry[LABELS_KEY] = {k: str(v) for k, v in labels.items() if v is not None}
        if record.exc_info:
            entry["stack_trace"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False, default=str)


def configure(level: int = logging.INFO, stream: TextIO = sys.stdout) -> None:
    """Route the root logger to `stream` as JSON lines (idempotent)."""
    root = logging.getLogger()
    if any(isinstance(h.formatter, JsonFormatter) for h in root.handlers):
        return
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    root.addHandler(handler)
    root.setLevel(level)


def labels(**values: object) -> dict[str, dict[str, object]]:
    """`extra=` for a log call: `log.info("renewed", extra=labels(subscription=name))`."""
    return {"labels": values}


# Results a person may want to look at; everything else the keeper decided is routine.
_NOTEWORTHY = frozenset(
    {Result.FLAGGED, Result.FAILED, Result.REJECTED, Result.DEFERRED, Result.ERROR}
)


def log_outcome(logger: logging.Logger, outcome: Outcome, **values: object) -> None:
    """The one line that says what the keeper decided about an event or item, and why."""
    what = outcome.result if outcome.action == "nothing" else f"{outcome.action} {outcome.result}"
    logger.log(
        logging.WARNING if outcome.result in _NOTEWORTHY else logging.INFO,
        "%s: %s",
        what,
        outcome.reason,
        extra=labels(
            **{
                **values,
                "action": outcome.action,
                "outcome": outcome.result,
                "key": outcome.key,
                # the name it has now: a recreated subscription's differs from the event's
                "subscription": outcome.name or values.get("subscription"),
            }
        ),
    )


def log_failure(logger: logging.Logger, what: str, error: BaseException, **values: object) -> None:
    """An event, item or run the keeper could not finish. Transient failures and Google's
    refusals are a warning; the keeper's own are an error with the stack, and the
    `failure=keeper` label is what the deploy's "keeper errors" alert counts."""
    from keeper.domain.errors import FailureKind, classify  # noqa: PLC0415

    kind = classify(error)
    if kind is FailureKind.KEEPER:
        logger.error(
            "%s: keeper failure (%s): %s",
            what,
            type(error).__name__,
            error,
            exc_info=error,
            extra=labels(failure=kind, **values),
        )
    else:
        logger.warning(
            "%s: %s failure: %r", what, kind, error, extra=labels(failure=kind, **values)
        )


def log_gap(logger: logging.Logger, entry: HistoryEntry, sub: ManagedSubscription) -> None:
    """The line that says delivery stopped (a warning) or resumed, when `entry` says so."""
    if entry.gap is None:
        return
    gap = sub.gaps[-1]
    logger.log(
        logging.WARNING if gap.open else logging.INFO,
        "%s",
        entry.gap,
        extra=labels(
            subscription=sub.name,
            key=sub.key,
            gap_cause=gap.cause,
            gap_start=gap.start.isoformat(),
            gap_end=gap.end.isoformat() if gap.end else None,
        ),
    )
