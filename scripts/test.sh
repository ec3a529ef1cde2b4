#!/usr/bin/env bash
# The whole test suite: lint, types, then pytest (unit tests first, then the tests that need
# no Java emulator, then functional and integration tests on the real Firestore, Pub/Sub and
# Workspace Events API emulators, which the tests start).
#   ./scripts/test.sh           everything, with branch coverage and its floor (CI runs this)
#   ./scripts/test.sh --fast    lint, types and the tests that need no Java emulator
#                               (pytest -m "not integration": unit, in-memory store, contract,
#                               1,000 of the fuzzer's 10,000 envelopes)
# Other arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
fast=false
if [ "${1:-}" = "--fast" ]; then
  fast=true
  shift
fi
bash scripts/bootstrap.sh --test-tools

.venv/bin/ruff check .
.venv/bin/ruff format --check .
.venv/bin/mypy
if "$fast"; then
  KEEPER_FUZZ_EXAMPLES="${KEEPER_FUZZ_EXAMPLES:-1000}" .venv/bin/pytest -m "not integration" "$@"
else
  # Branch coverage of the product code in the pytest process (pyproject.toml); the floor
  # (fail_under) is enforced on the whole suite only, not on a run narrowed by arguments.
  .venv/bin/coverage erase
  .venv/bin/coverage run -m pytest "$@"
  if [ "$#" -eq 0 ]; then
    .venv/bin/coverage report
  else
    .venv/bin/coverage report --fail-under=0
  fi
fi
