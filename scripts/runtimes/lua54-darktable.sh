#!/usr/bin/env bash
# Builds PUC Lua releases that no Debian suite ships as lua5.4 and Debian's pool no longer holds, from
# the copies Debian's darktable source packages vendor in src/external/lua (Debian's darktable links the
# system Lua; the copy is only source):
#
#   5.4.3 from bookworm's darktable 4.2.1 ("This is Lua 5.4.3, released on 15 Mar 2021")
#   5.4.6 from sid's darktable 5.4.1      ("This is Lua 5.4.6, released on 02 May 2023")
#     → .cache/runtimes/lua5.4.N/bin/lua5.4.N (runtimes of the test matrix, test/helpers/runtimes.ts)
#
# The upstream tarball is downloaded against the SHA-256 its suite's signed Sources index lists
# (scripts/layouts/debian-source.sh keeps that index; the mirror may lack the tarball's .asc, which
# apt-get source insists on) and only its Lua copy is unpacked. Each copy was compared file by file with
# the lua/lua repository's tag of its release: the 60 files the tag and the copy share (every .c and .h
# built here; luac.c is not built) are byte-identical. TREE_SHA256 pins them: the SHA-256 of `sha256sum`
# over those files in name order, the same for the tag and for the copy; a copy that differs is refused,
# and so is a suite whose darktable moved on (update the tables below after comparing the new copy).
#
# usage: scripts/runtimes/lua54-darktable.sh [5.4.N …]   (no argument: both; run as root by setup.sh's loop)
# Idempotent: an interpreter that is present and reports its release is not rebuilt.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD

declare -A SUITE=([5.4.3]=bookworm [5.4.6]=sid)
declare -A DARKTABLE=([5.4.3]=4.2.1 [5.4.6]=5.4.1)
declare -A TREE_SHA256=(
  [5.4.3]=96da1244e9301c08501accc5ba7496a919af07f4181d3db7022ff87f9c643caf
  [5.4.6]=d0d0114e6e1a6a0fff6255aaae0dbd31de55d705228822151cd533e0a5b68fcd
)
ALL=(5.4.3 5.4.6)

log() { printf '\033[1mlua54-darktable:\033[0m %s\n' "$*" >&2; }

# shellcheck source=../layouts/debian-source.sh
source "$ROOT/scripts/layouts/debian-source.sh"

# source_tree VERSION: the vendored Lua of the release's darktable, fetched once; its src/ on stdout.
source_tree() {
  local version=$1 suite=${SUITE[$1]} dt=${DARKTABLE[$1]}
  local dest=$ROOT/.cache/lua-src/darktable-$suite
  if [ ! -e "$dest/lua-$version/.luaprof-complete" ]; then
    ensure_deb_src "$suite" >&2 || return 1
    local stanza dir sum file
    # (awk stops reading at the stanza: the index reader then ends on SIGPIPE, which pipefail reports)
    stanza=$(sources_stanza darktable "$suite" || true)
    [ -n "$stanza" ] || { log "darktable is not in $suite's Sources index"; return 1; }
    dir=$(printf '%s\n' "$stanza" | sed -n 's/^Directory: //p')
    read -r sum file < <(printf '%s\n' "$stanza" | stanza_files | grep -F " darktable_$dt.orig.tar.xz") \
      || { log "$suite's darktable is not $dt any more ($(printf '%s\n' "$stanza" | sed -n 's/^Version: //p')): update $0"; return 1; }
    rm -rf "$dest" && mkdir -p "$dest/lua-$version"
    /usr/lib/apt/apt-helper download-file "http://deb.debian.org/debian/$dir/$file" "$dest/$file" "SHA256:$sum" >/dev/null 2>&1 \
      || { log "cannot download $dir/$file"; return 1; }
    tar -xJf "$dest/$file" -C "$dest/lua-$version" --strip-components=4 "darktable-$dt/src/external/lua" || return 1
    rm -f "$dest/$file"
    echo "Debian $suite source package darktable_$dt (upstream tarball $file, SHA-256 $sum from the signed Sources index)" > "$dest/.luaprof-origin"
    touch "$dest/lua-$version/.luaprof-complete"
  fi
  local src=$dest/lua-$version/src release got
  release=$(sed -n 's/^#define LUA_VERSION_RELEASE[[:space:]]*"\([0-9]*\)".*/5.4.\1/p' "$src/lua.h")
  [ "$release" = "$version" ] || { log "$src is Lua ${release:-unknown}, not $version"; return 1; }
  got=$(cd "$src" && ls ./*.c ./*.h | sed 's|^\./||' | grep -vx luac.c | sort | xargs sha256sum | sha256sum | cut -d' ' -f1)
  [ "$got" = "${TREE_SHA256[$version]}" ] \
    || { log "$src: sources differ from lua/lua's v$version (tree SHA-256 $got, pinned ${TREE_SHA256[$version]}): refused"; return 1; }
  echo "$src"
}

build() {
  local version=$1
  [ -n "${SUITE[$version]:-}" ] || { log "unknown release $version (known: ${ALL[*]})"; return 1; }
  local prefix=$ROOT/.cache/runtimes/lua$version
  local bin=$prefix/bin/lua$version
  if [ -x "$bin" ] && "$bin" -v 2>&1 | grep -q "^Lua ${version//./\\.} "; then
    log "$version: already built ($bin)"
    return 0
  fi
  local t0=$SECONDS src work
  src=$(source_tree "$version") || return 1
  log "$version: building from $(cat "$(dirname "$(dirname "$src")")/.luaprof-origin"), src/external/lua"
  work=$(mktemp -d)
  cp "$src"/*.c "$src"/*.h "$work"/
  rm -f "$work/luac.c" "$work/onelua.c"
  # As scripts/runtimes/lua54.sh builds Debian's lua5.4: -O2 -g, the core linked into the executable,
  # exported API (-Wl,-E), one object per source file compiled in parallel.
  local cflags=(-std=gnu99 -O2 -g -Wall -DLUA_COMPAT_5_3 -DLUA_USE_LINUX)
  (cd "$work" && printf '%s\n' ./*.c | xargs -P "$(nproc)" -I{} gcc "${cflags[@]}" -c {} \
    && gcc -o "lua$version" ./*.o -Wl,-E -lm -ldl) || { rm -rf "$work"; log "$version: build failed"; return 1; }
  mkdir -p "$prefix/bin"
  install -m 0755 "$work/lua$version" "$bin.tmp"
  mv "$bin.tmp" "$bin"
  rm -rf "$work"
  "$bin" -v 2>&1 | grep -q "^Lua ${version//./\\.} " || { log "$bin does not report Lua $version: $("$bin" -v 2>&1)"; return 1; }
  log "$version: built in $((SECONDS - t0)) s: $("$bin" -v 2>&1)"
}

RELEASES=("$@")
[ ${#RELEASES[@]} -gt 0 ] || RELEASES=("${ALL[@]}")
for v in "${RELEASES[@]}"; do build "$v"; done
