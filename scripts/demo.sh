#!/usr/bin/env bash
# The README's first command: only what the demo needs (the npm dependencies and the build, and
# lua5.4 when no Lua interpreter is present), then the bundled demo program profiled into demo.html.
# Everything the tests need is installed by scripts/setup.sh (the README's second command).
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf '\033[1mdemo:\033[0m [%3ds] %s\n' "$SECONDS" "$*" >&2; }
die() {
  echo "demo: $*" >&2
  exit 1
}

node_major=$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo none)
if [ "$node_major" = none ] || [ "$node_major" -lt 20 ] || ! command -v npm >/dev/null; then
  die "luaprof needs Node.js 20 or newer with npm (found: node ${node_major}). Debian bookworm's nodejs is 18:
  install Node 20 LTS from NodeSource's Debian repository or nodejs.org's Linux binaries (see README.md)"
fi

lua=
for candidate in lua5.4 lua5.3 lua5.2 lua5.1 luajit lua; do
  if command -v "$candidate" >/dev/null; then
    lua=$candidate
    break
  fi
done
if [ -z "$lua" ]; then
  [ "$(id -u)" -eq 0 ] || die "no Lua interpreter found: install one (apt-get install lua5.4) or run this as root"
  log "no Lua interpreter found: installing lua5.4"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends lua5.4 >/dev/null
  lua=lua5.4
fi

log "npm dependencies and the build"
bash scripts/build.sh

log "profiling $lua fixtures/lua/demo.lua (about 3 s)"
node dist/cli/main.js record -r 200 -o demo.html -- "$lua" fixtures/lua/demo.lua
log "done: open $(pwd)/demo.html in a browser (one self-contained file, no network requests)"
if [ -n "${DISPLAY:-}${WAYLAND_DISPLAY:-}" ] && command -v xdg-open >/dev/null; then xdg-open demo.html >/dev/null 2>&1 || true; fi
