#!/usr/bin/env bash
# Install what is missing: a virtualenv with the pinned requirements, and Java for the
# Google Cloud CLI's Firestore and Pub/Sub emulators; with --test-tools also Debian's
# Chromium (the report is rendered headless in a test) and shellcheck (deploy scripts).
# Idempotent and quiet when all is there.
set -euo pipefail
cd "$(dirname "$0")/.."

apt_install() {
  echo "Installing $* from Debian's packages..." >&2
  if [ -z "${APT_UPDATED:-}" ]; then
    apt-get update -qq >/dev/null
    APT_UPDATED=1
  fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

if ! command -v gcloud >/dev/null 2>&1; then
  echo "The Google Cloud CLI (gcloud) is required for the Firestore and Pub/Sub emulators." >&2
  exit 1
fi
if ! command -v java >/dev/null 2>&1; then
  apt_install default-jre-headless
fi
if [ "${1:-}" = "--test-tools" ]; then
  command -v chromium >/dev/null 2>&1 || apt_install chromium
  command -v shellcheck >/dev/null 2>&1 || apt_install shellcheck
fi

python="${PYTHON:-python3}"
stamp=.venv/.requirements.sha256
want=$(cat requirements.txt requirements-dev.txt | sha256sum | cut -d' ' -f1)
if [ ! -x .venv/bin/python ]; then
  "$python" -m venv .venv
fi
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  echo "Installing Python requirements into .venv..." >&2
  .venv/bin/python -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
  echo "$want" > "$stamp"
fi
