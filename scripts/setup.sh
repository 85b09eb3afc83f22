#!/usr/bin/env bash
# Installs everything luaprof and its tests need on Debian bookworm (run as root; idempotent):
# Lua interpreters and headers, build tools, gdb, Go (pprof reader), Chromium (browser tests), real
# servers that embed Lua (HAProxy, sysbench; nginx with lua-nginx-module unpacked by scripts/hosts/),
# the npm dependencies and the build (scripts/build.sh), extra Lua runtimes built from Debian source
# packages. The README's first command (scripts/demo.sh) installs only what the demo needs.
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf '\033[1msetup:\033[0m %s\n' "$*" >&2; }

if [ "$(id -u)" -ne 0 ]; then
  echo "setup.sh: run as root (it installs Debian packages)" >&2
  exit 1
fi

PACKAGES=(
  lua5.1 lua5.2 lua5.3 lua5.4 luajit
  liblua5.1-0-dev liblua5.2-dev liblua5.3-dev liblua5.4-dev libluajit-5.1-dev
  build-essential pkg-config gdb binutils dpkg-dev util-linux libc6-dbg
  golang-go chromium
  haproxy sysbench libpcre3
  tmux # test/e2e-top.test.ts drives luaprof top in a real terminal
  strace
)
missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  log "installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# npm dependencies and the build (shared with scripts/demo.sh).
bash scripts/build.sh

# Extra runtimes (e.g. Lua 5.4.7, OpenResty's LuaJIT) built from Debian source packages, cached in .cache/.
for script in scripts/runtimes/*.sh; do
  [ -e "$script" ] || continue
  log "runtime: $script"
  bash "$script"
done

# Real servers that cannot be installed beside the test matrix (package conflicts), unpacked into .cache/.
for script in scripts/hosts/*.sh; do
  log "host: $script"
  bash "$script"
done

log "done"
