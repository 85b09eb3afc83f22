#!/usr/bin/env bash
# Builds PUC Lua 5.4.x interpreters from Debian's lua5.4 sources:
#
#   5.4.2 from bullseye, 5.4.7 from trixie, 5.4.9 from sid (source packages, through their suite's
#   Sources index); 5.4.8 from the upstream tarball Debian's pool still holds (see POOL_SHA256)
#     → .cache/runtimes/lua5.4.N/bin/lua5.4.N (the test matrix's extra PUC runtimes, test/helpers/runtimes.ts)
#
# usage: scripts/runtimes/lua54.sh [5.4.N …]     (no argument: every release above)
#        scripts/runtimes/lua54.sh --source 5.4.N  (fetch and unpack only; prints the source tree: generate.sh)
# Idempotent: a release whose interpreter is present and reports its version is not rebuilt, and a
# fetched source tree is reused. Fails when a suite's lua5.4 is not the expected release (the list below
# then needs updating, together with the layouts, sampler/lua/versions/generated.ts). Run as root by
# scripts/setup.sh on Debian bookworm; sources come from deb.debian.org through
# scripts/layouts/debian-source.sh.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD

# release → Debian suite whose lua5.4 source package is that release
declare -A SUITE=([5.4.2]=bullseye [5.4.7]=trixie [5.4.9]=sid)
# release → SHA-256 of pool/main/l/lua5.4/lua5.4_<release>.orig.tar.gz on deb.debian.org, for releases
# no suite lists any more (5.4.8 was in sid/forky only between 5.4.7 and 5.4.9). No signed Sources index
# vouches for such a file, so its hash is pinned here and a mismatch is refused. 5.4.8's is also the
# SHA-256 lua.org publishes for www.lua.org/ftp/lua-5.4.8.tar.gz (the same bytes, 374332 of them).
declare -A POOL_SHA256=([5.4.8]=4f18ddae154e793e46eeab727c59ef1c0c0c2b744e7b94219710d76f530629ae)
ALL=(5.4.2 5.4.7 5.4.8 5.4.9)

log() { printf '\033[1mlua54:\033[0m %s\n' "$*" >&2; }

built() { # built BIN VERSION: the interpreter is there and says it is that release
  [ -x "$1" ] && "$1" -v 2>&1 | grep -q "^Lua ${2//./\\.} "
}

# shellcheck source=../layouts/debian-source.sh
source "$ROOT/scripts/layouts/debian-source.sh"

# source VERSION: fetches (once) and unpacks the release's sources, checks lua.h says it is that
# release, prints the tree.
source_tree() {
  local version=$1 src release from
  if [ -n "${SUITE[$version]:-}" ]; then
    from="${SUITE[$version]}'s lua5.4 (update SUITE in $0)"
    src=$(fetch_debian_source lua5.4 "${SUITE[$version]}" "$ROOT/.cache/lua-src/lua5.4-${SUITE[$version]}") || return 1
  elif [ -n "${POOL_SHA256[$version]:-}" ]; then
    from="the pool's lua5.4_$version.orig.tar.gz"
    src=$(fetch_debian_pool_orig lua5.4 "$version" "${POOL_SHA256[$version]}" "$ROOT/.cache/lua-src/lua5.4-pool-$version") || return 1
  else
    log "unknown release $version (known: ${ALL[*]})"
    return 1
  fi
  release=$(sed -n 's/^#define LUA_VERSION_RELEASE[[:space:]]*"\([0-9]*\)".*/5.4.\1/p' "$src/src/lua.h")
  if [ "$release" != "$version" ]; then
    log "$from is ${release:-unknown} ($src), not $version"
    return 1
  fi
  echo "$src"
}

build() {
  local version=$1
  local prefix=$ROOT/.cache/runtimes/lua$version
  local bin=$prefix/bin/lua$version
  if built "$bin" "$version"; then
    log "$version: already built ($bin)"
    return 0
  fi
  local t0=$SECONDS src
  src=$(source_tree "$version") || return 1
  log "$version: building from $(debian_source_origin "$(dirname "$src")")"
  local work
  work=$(mktemp -d)
  cp "$src"/src/*.c "$src"/src/*.h "$work"/
  # Debian's luaconf.h includes a generated multiarch header.
  printf '#ifndef _LUA_DEB_MULTIARCH_\n#define _LUA_DEB_MULTIARCH_\n#define DEB_HOST_MULTIARCH "x86_64-linux-gnu"\n#endif\n' > "$work/lua5.4-deb-multiarch.h"
  rm -f "$work/luac.c" "$work/onelua.c"
  # Like Debian's build: -O2 -g, the core linked into the executable, exported API (-Wl,-E) for C
  # modules. One object per source file, compiled in parallel.
  local cflags=(-std=gnu99 -O2 -g -Wall -DLUA_COMPAT_5_3 -DLUA_USE_LINUX)
  (cd "$work" && printf '%s\n' ./*.c | xargs -P "$(nproc)" -I{} gcc "${cflags[@]}" -c {} \
    && gcc -o "lua$version" ./*.o -Wl,-E -lm -ldl) || { rm -rf "$work"; log "$version: build failed"; return 1; }
  mkdir -p "$prefix/bin"
  install -m 0755 "$work/lua$version" "$bin.tmp"
  mv "$bin.tmp" "$bin"
  rm -rf "$work"
  built "$bin" "$version" || { log "$version: $bin does not report Lua $version: $("$bin" -v 2>&1)"; return 1; }
  log "$version: built in $((SECONDS - t0)) s: $("$bin" -v 2>&1)"
}

if [ "${1:-}" = --source ]; then
  [ $# = 2 ] || { log "usage: $0 --source 5.4.N"; exit 2; }
  source_tree "$2"
  exit
fi
RELEASES=("$@")
[ ${#RELEASES[@]} -gt 0 ] || RELEASES=("${ALL[@]}")
for v in "${RELEASES[@]}"; do build "$v"; done
