#!/usr/bin/env bash
# Builds PUC Lua 5.4.3, which no Debian suite ships as lua5.4 and Debian's pool no longer holds, from the
# copy Debian bookworm's darktable source package vendors (darktable 4.2.1, src/external/lua: "This is
# Lua 5.4.3, released on 15 Mar 2021"; Debian's darktable links the system Lua, the copy is only source)
#   → .cache/runtimes/lua5.4.3/bin/lua5.4.3 (a runtime of the test matrix, test/helpers/runtimes.ts)
#
# The source package comes through bookworm's signed Sources index (scripts/layouts/debian-source.sh).
# Its Lua sources were compared file by file with the lua/lua repository's tag v5.4.3: the 60 files the
# tag and the copy share (every .c and .h built here; luac.c is not built) are byte-identical. TREE_SHA256
# pins them: the SHA-256 of `sha256sum` over those files in name order, the same for the tag and for the
# copy; a copy that differs is refused.
#
# usage: scripts/runtimes/lua543-darktable.sh     (run as root by scripts/setup.sh's loop)
# Idempotent: an interpreter that is present and reports 5.4.3 is not rebuilt.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
VERSION=5.4.3
TREE_SHA256=96da1244e9301c08501accc5ba7496a919af07f4181d3db7022ff87f9c643caf
PREFIX=$ROOT/.cache/runtimes/lua$VERSION
BIN=$PREFIX/bin/lua$VERSION

log() { printf '\033[1mlua543-darktable:\033[0m %s\n' "$*" >&2; }

if [ -x "$BIN" ] && "$BIN" -v 2>&1 | grep -q "^Lua ${VERSION//./\\.} "; then
  log "$VERSION: already built ($BIN)"
  exit 0
fi

# shellcheck source=../layouts/debian-source.sh
source "$ROOT/scripts/layouts/debian-source.sh"
t0=$SECONDS
# Only the upstream tarball is needed (the mirror may lack its .asc, which apt-get source insists on): it
# is downloaded against the SHA-256 bookworm's signed index lists, and only its Lua copy unpacked.
dest=$ROOT/.cache/lua-src/darktable-bookworm
src=$dest/lua-$VERSION/src
if [ ! -e "$dest/lua-$VERSION/.luaprof-complete" ]; then
  ensure_deb_src bookworm
  # (awk stops reading at the stanza: the index reader then ends on SIGPIPE, which pipefail reports)
  stanza=$(sources_stanza darktable bookworm || true)
  [ -n "$stanza" ] || { log "darktable is not in bookworm's Sources index"; exit 1; }
  dir=$(printf '%s\n' "$stanza" | sed -n 's/^Directory: //p')
  read -r sum file < <(printf '%s\n' "$stanza" | stanza_files | grep -E ' darktable_4\.2\.1\.orig\.tar\.xz$') \
    || { log "bookworm's darktable is not 4.2.1 any more ($(printf '%s\n' "$stanza" | sed -n 's/^Version: //p'))"; exit 1; }
  rm -rf "$dest" && mkdir -p "$dest/lua-$VERSION"
  /usr/lib/apt/apt-helper download-file "http://deb.debian.org/debian/$dir/$file" "$dest/$file" "SHA256:$sum" >/dev/null \
    || { log "cannot download $dir/$file"; exit 1; }
  tar -xJf "$dest/$file" -C "$dest/lua-$VERSION" --strip-components=4 darktable-4.2.1/src/external/lua
  rm -f "$dest/$file"
  echo "Debian bookworm source package darktable_4.2.1 (upstream tarball $file, SHA-256 $sum from the signed Sources index)" > "$dest/.luaprof-origin"
  touch "$dest/lua-$VERSION/.luaprof-complete"
fi
release=$(sed -n 's/^#define LUA_VERSION_RELEASE[[:space:]]*"\([0-9]*\)".*/5.4.\1/p' "$src/lua.h")
[ "$release" = "$VERSION" ] || { log "$src is Lua ${release:-unknown}, not $VERSION"; exit 1; }
got=$(cd "$src" && ls ./*.c ./*.h | sed 's|^\./||' | grep -vx luac.c | sort | xargs sha256sum | sha256sum | cut -d' ' -f1)
[ "$got" = "$TREE_SHA256" ] || { log "$src: sources differ from lua/lua's v$VERSION (tree SHA-256 $got, pinned $TREE_SHA256): refused"; exit 1; }
log "$VERSION: building from $(cat "$dest/.luaprof-origin"), src/external/lua"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cp "$src"/*.c "$src"/*.h "$work"/
rm -f "$work/luac.c" "$work/onelua.c"
# As scripts/runtimes/lua54.sh builds Debian's lua5.4: -O2 -g, the core linked into the executable,
# exported API (-Wl,-E), one object per source file compiled in parallel.
cflags=(-std=gnu99 -O2 -g -Wall -DLUA_COMPAT_5_3 -DLUA_USE_LINUX)
(cd "$work" && printf '%s\n' ./*.c | xargs -P "$(nproc)" -I{} gcc "${cflags[@]}" -c {} \
  && gcc -o "lua$VERSION" ./*.o -Wl,-E -lm -ldl) || { log "$VERSION: build failed"; exit 1; }
mkdir -p "$PREFIX/bin"
install -m 0755 "$work/lua$VERSION" "$BIN.tmp"
mv "$BIN.tmp" "$BIN"
"$BIN" -v 2>&1 | grep -q "^Lua ${VERSION//./\\.} " || { log "$BIN does not report Lua $VERSION: $("$BIN" -v 2>&1)"; exit 1; }
log "$VERSION: built in $((SECONDS - t0)) s: $("$BIN" -v 2>&1)"
