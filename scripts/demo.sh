#!/usr/bin/env bash
# The README's first command: set up, then profile the bundled demo program into an HTML flamegraph.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
npx luaprof record -r 200 -o demo.html -- lua5.4 fixtures/lua/demo.lua
echo "Open $(pwd)/demo.html in a browser (or: npx luaprof view demo.json)"
if [ -n "${DISPLAY:-}${WAYLAND_DISPLAY:-}" ] && command -v xdg-open >/dev/null; then xdg-open demo.html >/dev/null 2>&1 || true; fi
