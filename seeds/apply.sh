#!/usr/bin/env bash
# Example deploy step: applies every seed file in a folder to a hub, pruning subscribers that no file
# names any more. Run it from CI after the hub is up. Needs SWITCHYARD_HUB_URL and
# SWITCHYARD_ADMIN_TOKEN in the environment.
#   bash seeds/apply.sh [FOLDER] [--dry-run]
set -euo pipefail
folder=${1:-seeds/subscribers}
shift || true
bin=${SWITCHYARD_BIN:-switchyard}
: "${SWITCHYARD_HUB_URL:?set SWITCHYARD_HUB_URL}" "${SWITCHYARD_ADMIN_TOKEN:?set SWITCHYARD_ADMIN_TOKEN}"

# One combined list, so that --prune sees every subscriber the team manages.
combined=$(mktemp)
trap 'rm -f "$combined"' EXIT
python3 - "$folder" >"$combined" <<'PY'
import glob, json, sys
entries = []
for path in sorted(glob.glob(sys.argv[1] + "/*.json")):
    with open(path) as f:
        entries += json.load(f)
json.dump(entries, sys.stdout)
PY
"$bin" seed "$combined" --prune "$@"
