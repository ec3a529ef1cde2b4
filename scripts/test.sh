#!/usr/bin/env bash
# The whole test suite: lint, types, then pytest (unit, functional, and integration tests on
# the real Firestore, Pub/Sub and Workspace Events API emulators, which the tests start).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh --test-tools

.venv/bin/ruff check .
.venv/bin/ruff format --check .
.venv/bin/mypy
.venv/bin/pytest "$@"
