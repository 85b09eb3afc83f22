#!/usr/bin/env bash
# The npm dependencies (when package.json or the lock changed) and the build into dist/: what both the
# demo (scripts/demo.sh) and the test setup (scripts/setup.sh) need. Needs Node >= 20 with npm.
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf '\033[1mbuild:\033[0m %s\n' "$*" >&2; }

if [ ! -d node_modules ] || [ package.json -nt node_modules ] || [ package-lock.json -nt node_modules ]; then
  log "installing npm dependencies"
  npm ci --no-audit --no-fund --no-update-notifier --loglevel=error
  touch node_modules
fi

log "building dist/"
npm run --silent build
chmod +x dist/cli/main.js
