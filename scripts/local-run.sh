#!/usr/bin/env bash
# The main job, locally: start the real local stack (Firestore and Pub/Sub emulators, the
# Workspace Events API emulator, the function behind a Pub/Sub push subscription), register a
# subscription, and walk it through reminder, suspension and expiry, printing what the keeper
# did. Everything it starts is stopped when it ends.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
exec .venv/bin/python -m devstack.demo "$@"
