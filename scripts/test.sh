#!/usr/bin/env bash
# The whole test suite: lint, types, then pytest (docs/testing.md).
#   ./scripts/test.sh           everything, with branch coverage and its floor (CI runs this):
#                               the unit tests first (lint and types beside them), so a unit
#                               failure shows in seconds; then every other test on KEEPER_TEST_WORKERS parallel
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
debian=""
if ! "$fast"; then
  # Java and Chromium serve only the parallel step (the emulators, the report's rendering):
  # where apt-get must install them (about 30 s on a fresh machine), it does so in the
  # background while the virtualenv, lint and the unit tests go on. An early exit waits for
  # it rather than leave dpkg half done.
  debian_log=$(mktemp)
  bash scripts/bootstrap.sh --test-tools --debian-only >"$debian_log" 2>&1 &
  debian=$!
  trap 'wait' EXIT
fi
bash scripts/bootstrap.sh --venv-only
# Bytecode is written and then read by every later process: this image sets
# PYTHONDONTWRITEBYTECODE, so each of the run's ~150 Python processes (workers, functions,
# emulators, CLI calls) compiled the repository's modules again, and each worker re-ran
# pytest's assertion rewriting on every test module (docs/testing.md, Figures).
unset PYTHONDONTWRITEBYTECODE
export PATH="$PWD/.venv/bin:$PATH" # the virtualenv's tools (shellcheck) for the tests

# The background install's outcome, before the tests that need it: its failure is reported
# and the tests run anyway, so one run reports every failure.
debian_installed() {
  if wait "$debian"; then
    return 0
  fi
  cat "$debian_log" >&2
  echo "Installing Java or Chromium from Debian's packages failed (above)." >&2
  return 1
}

lint() {
  .venv/bin/ruff check . && .venv/bin/ruff format --check . && .venv/bin/mypy
}
if "$fast" || [ "$#" -gt 0 ]; then
  lint # a failure stops the run here
fi
if "$fast"; then
  KEEPER_FUZZ_EXAMPLES="${KEEPER_FUZZ_EXAMPLES:-1000}" .venv/bin/pytest -m "not integration" "$@"
  exit
fi
# The emulators' JVMs compile with C1 only: a test run is too short to repay C2's compiling,
# and it cut the CPU time of a Firestore-heavy subset by a third (docs/testing.md).
export JAVA_TOOL_OPTIONS="-XX:TieredStopAtLevel=1${JAVA_TOOL_OPTIONS:+ $JAVA_TOOL_OPTIONS}"
# Branch coverage of the product code in the pytest processes (pyproject.toml), measured by
# pytest-cov in each worker; the floor (fail_under) is enforced on the whole suite only, by
# the report at the end, not on a run narrowed by arguments.
# Tests are handed out a few at a time (--maxschedchunk=1): a worker busy with a long test
# holds at most one other test queued behind it, not a quarter of its share.
parallel=(-n "${KEEPER_TEST_WORKERS:-4}" --maxschedchunk=1)
coverage=(--cov --cov-report= --cov-fail-under=0)
.venv/bin/coverage erase
if [ "$#" -gt 0 ]; then
  debian_installed
  .venv/bin/pytest "${coverage[@]}" "${parallel[@]}" "$@"
  .venv/bin/coverage report --fail-under=0
  exit
fi
status=0
# Lint and types beside the unit tests (one process each on 2 cores: mypy's 3 CPU-s no
# longer wait in line); their report follows the unit tests', and a failure fails the run.
lint_log=$(mktemp)
lint >"$lint_log" 2>&1 &
linting=$!
.venv/bin/pytest "${coverage[@]}" tests/unit || status=$?
wait "$linting" || status=1
cat "$lint_log"
debian_installed || status=1
# --durations: CI's log shows where the time went (docs/testing.md, Figures).
.venv/bin/pytest "${coverage[@]}" --cov-append "${parallel[@]}" --durations=25 \
  --ignore=tests/unit || status=$?
.venv/bin/coverage report || status=$?
exit "$status"
