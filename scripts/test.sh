#!/usr/bin/env bash
# The whole test suite: lint, types, then pytest (docs/testing.md).
#   ./scripts/test.sh           everything, with branch coverage and its floor (CI runs this):
#                               the unit tests first, alone, so a unit failure shows in
#                               seconds; then every other test on KEEPER_TEST_WORKERS parallel
#                               pytest-xdist workers (default 4), each starting its own
#                               Firestore, Pub/Sub and Workspace Events API emulators; the
#                               coverage of both runs and of every worker is combined.
#   ./scripts/test.sh --fast    lint, types and the tests that need no Java emulator
#                               (pytest -m "not integration": unit, in-memory store, contract,
#                               1,000 of the fuzzer's 10,000 envelopes), in one process
# Other arguments go to pytest (the full run is then one parallel run of what they select;
# `-n 0` runs it in one process).
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
  exit
fi
# Branch coverage of the product code in the pytest processes (pyproject.toml), measured by
# pytest-cov in each worker; the floor (fail_under) is enforced on the whole suite only, by
# the report at the end, not on a run narrowed by arguments.
# Tests are handed out a few at a time (--maxschedchunk=1): a worker busy with a long test
# holds at most one other test queued behind it, not a quarter of its share.
parallel=(-n "${KEEPER_TEST_WORKERS:-4}" --maxschedchunk=1)
coverage=(--cov --cov-report= --cov-fail-under=0)
.venv/bin/coverage erase
if [ "$#" -gt 0 ]; then
  .venv/bin/pytest "${coverage[@]}" "${parallel[@]}" "$@"
  .venv/bin/coverage report --fail-under=0
  exit
fi
status=0
.venv/bin/pytest "${coverage[@]}" tests/unit || status=$?
.venv/bin/pytest "${coverage[@]}" --cov-append "${parallel[@]}" --ignore=tests/unit || status=$?
.venv/bin/coverage report || status=$?
exit "$status"
