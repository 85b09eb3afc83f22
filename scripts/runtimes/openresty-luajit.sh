#!/usr/bin/env bash
# Builds OpenResty's LuaJIT (Debian trixie's `luajit` source package, 2.1.0+openresty…) into
# .cache/runtimes/openresty-luajit/ of the checkout (bin/luajit, the runtime test/helpers/runtimes.ts
# names). Idempotent and fast when already built. Sources come through scripts/layouts/debian-source.sh
# (its private apt configuration in .cache/apt-src/, the system's sources stay as they are; when the
# mirror lacks the .dsc or the debian tarball, the files trixie's Sources index lists, SHA-256 checked)
# and stay unpacked in .cache/lua-src/luajit-trixie/ for a rebuild. Run as root, like scripts/setup.sh.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
DEST=$ROOT/.cache/runtimes/openresty-luajit
SRC=$ROOT/.cache/lua-src/luajit-trixie
log() { printf '\033[1mopenresty-luajit:\033[0m %s\n' "$*" >&2; }

if [ -x "$DEST/bin/luajit" ] && "$DEST/bin/luajit" -e 'assert(jit and jit.version)' >/dev/null 2>&1 \
  && [ -f "$DEST/VERSION" ]; then
  log "already built: $(cat "$DEST/VERSION")"
  exit 0
fi

for tool in make gcc dpkg-source patch; do
  command -v "$tool" >/dev/null || { log "missing $tool (install build-essential dpkg-dev)"; exit 1; }
done

# shellcheck source=../layouts/debian-source.sh
source "$ROOT/scripts/layouts/debian-source.sh"

log "fetching source package luajit (trixie)"
TREE=$(fetch_debian_source luajit trixie "$SRC") || { log "cannot fetch trixie's luajit source package (see above)"; exit 1; }
ORIGIN=$(debian_source_origin "$SRC")
VERSION=$(debian_source_version "$SRC") || { log "no Debian version recorded in $SRC"; exit 1; }
case "$VERSION" in *openresty*) ;; *) log "trixie's luajit is $VERSION, not OpenResty's fork"; exit 1 ;; esac
log "building $VERSION from $ORIGIN"

# Built in a copy, so the unpacked tree stays as fetched (and PREFIX is compiled in afresh). The copy
# has a fixed path, the one earlier versions of this script built in: the debug info names it, so the
# same source gives the same binary. Removed after a successful build (kept, with build.log, after a
# failed one; the next run starts it afresh).
WORK=$ROOT/.cache/runtimes/src-openresty-luajit
rm -rf "$WORK"
mkdir -p "$WORK"
cp -a "$TREE" "$WORK/"
BUILD=$WORK/$(basename "$TREE")
# Same build as Debian's rules (amalgamated, default GC64 on x86_64), installed under our prefix.
make -C "$BUILD" -j"$(nproc)" amalg PREFIX="$DEST" Q= E=@: >"$WORK/build.log" 2>&1 \
  || { tail -30 "$WORK/build.log" >&2; log "build failed (log: $WORK/build.log)"; exit 1; }
rm -rf "$DEST"
make -C "$BUILD" install PREFIX="$DEST" >>"$WORK/build.log" 2>&1 \
  || { tail -30 "$WORK/build.log" >&2; log "make install failed (log: $WORK/build.log)"; exit 1; }
# `make install` names the binary luajit-2.1.x; give it the plain name as Debian does.
for f in "$DEST"/bin/luajit-*; do [ -e "$f" ] && [ ! -L "$f" ] && mv -f "$f" "$DEST/bin/luajit"; done
rm -f "$DEST"/bin/luajit-*
ln -sf luajit "$DEST/bin/luajit-openresty"
"$DEST/bin/luajit" -e 'assert(jit and jit.version)' >/dev/null 2>&1 \
  || { log "$DEST/bin/luajit does not run: $("$DEST/bin/luajit" -v 2>&1 || true)"; exit 1; }
echo "$ORIGIN" >"$DEST/ORIGIN"
# Keep the headers of this exact build for offset checks (the generated lj_*def.h and luajit.h
# included). debian/ is Debian's when the mirror had the debian tarball; otherwise a one-line
# changelog naming the version, as before.
mkdir -p "$DEST/src-headers"
cp "$BUILD"/src/*.h "$DEST/src-headers/"
if [ -d "$BUILD/debian" ]; then
  cp -r "$BUILD/debian" "$DEST/src-headers/debian"
else
  mkdir -p "$DEST/src-headers/debian"
  echo "luajit ($VERSION) unstable; urgency=medium" >"$DEST/src-headers/debian/changelog"
fi
# Written last: its presence (with a working binary) is what makes the next run a no-op.
echo "$VERSION" >"$DEST/VERSION"
rm -rf "$WORK"
"$DEST/bin/luajit" -v >&2
log "built into $DEST"
