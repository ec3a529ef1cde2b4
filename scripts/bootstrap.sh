#!/usr/bin/env bash
# Install what is missing; idempotent and quiet when all is there.
#   Debian's packages: Java (the Google Cloud CLI's Firestore and Pub/Sub emulators are Java)
#     and, with --test-tools, Chromium (the report is rendered headless in a test).
#   .venv: the pinned requirements-dev.txt (shellcheck for the deploy scripts among them),
#     installed by uv, pinned there too: 7 CPU-seconds with the bytecode where pip took 20
#     (docs/testing.md).
# --debian-only or --venv-only does one half: scripts/test.sh installs Debian's packages in the
# background while the virtualenv, lint and the unit tests go on.
set -euo pipefail
cd "$(dirname "$0")/.."

test_tools=false
debian=true
venv=true
for arg in "$@"; do
  case "$arg" in
    --test-tools) test_tools=true ;;
    --debian-only) venv=false ;;
    --venv-only) debian=false ;;
    *)
      echo "usage: $0 [--test-tools] [--debian-only | --venv-only]" >&2
      exit 2
      ;;
  esac
done

if ! command -v gcloud >/dev/null 2>&1; then
  echo "The Google Cloud CLI (gcloud) is required for the Firestore and Pub/Sub emulators." >&2
  exit 1
fi

if "$debian"; then
  missing=()
  command -v java >/dev/null 2>&1 || missing+=(default-jre-headless)
  if "$test_tools"; then
    command -v chromium >/dev/null 2>&1 || missing+=(chromium)
  fi
  if [ "${#missing[@]}" -gt 0 ]; then
    echo "Installing ${missing[*]} from Debian's packages..." >&2
    apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  fi
fi

if "$venv"; then
  python="${PYTHON:-python3}"
  stamp=.venv/.requirements.sha256
  want=$(cat requirements.txt requirements-dev.txt | sha256sum | cut -d' ' -f1)
  if [ ! -x .venv/bin/python ]; then
    # Without pip (uv installs the rest): ensurepip took 2.3 of the venv's 2.5 CPU-s.
    "$python" -m venv --without-pip .venv
  fi
  if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
    echo "Installing Python requirements into .venv..." >&2
    uv=$(grep -E '^uv==' requirements-dev.txt | cut -d' ' -f1)
    # uv itself, by this Python's pip into the virtualenv; else by the virtualenv's own pip.
    pip=(--quiet --disable-pip-version-check)
    if ! "$python" -m pip --python .venv/bin/python install "${pip[@]}" "$uv" 2>/dev/null; then
      .venv/bin/python -m ensurepip --default-pip >/dev/null
      .venv/bin/python -m pip install "${pip[@]}" "$uv"
    fi
    .venv/bin/uv pip install --quiet --compile-bytecode --python .venv/bin/python -r requirements-dev.txt
    echo "$want" > "$stamp"
  fi
fi
