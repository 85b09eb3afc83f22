#!/usr/bin/env bash
# Builds OpenResty's LuaJIT (Debian trixie's `luajit` source package, 2.1.0+openresty…) into
# .cache/runtimes/openresty-luajit/ of the checkout. Idempotent and fast when already built.
# Uses a private apt configuration (a trixie deb-src entry in .cache/) so the system's sources stay as they are.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
CACHE=$ROOT/.cache/runtimes
DEST=$CACHE/openresty-luajit
log() { printf '\033[1mopenresty-luajit:\033[0m %s\n' "$*" >&2; }

if [ -x "$DEST/bin/luajit" ] && "$DEST/bin/luajit" -e 'assert(jit and jit.version)' >/dev/null 2>&1 \
  && [ -f "$DEST/VERSION" ]; then
  log "already built: $(cat "$DEST/VERSION")"
  exit 0
fi

for tool in make gcc dpkg-source; do
  command -v "$tool" >/dev/null || { log "missing $tool (install build-essential dpkg-dev)"; exit 1; }
done

APT=$CACHE/apt-trixie
mkdir -p "$APT/lists/partial" "$APT/etc" "$APT/archives/partial"
: >"$APT/empty.list"
cat >"$APT/etc/trixie-src.sources" <<SRC
Types: deb-src
URIs: http://deb.debian.org/debian
Suites: trixie
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
APTOPTS=(
  -o "Dir::Etc::SourceList=$APT/empty.list"
  -o "Dir::Etc::SourceParts=$APT/etc"
  -o "Dir::State::Lists=$APT/lists"
  -o "Dir::Cache::Archives=$APT/archives"
  -o "Dir::Cache::pkgcache=" -o "Dir::Cache::srcpkgcache="
  -o "APT::Sandbox::User=root"
)
log "fetching trixie source index"
apt-get "${APTOPTS[@]}" update -qq
SRCDIR=$CACHE/src-openresty-luajit
rm -rf "$SRCDIR"
mkdir -p "$SRCDIR"
log "downloading source package luajit (trixie)"
if ! (cd "$SRCDIR" && apt-get "${APTOPTS[@]}" source -qq luajit/trixie >/dev/null 2>"$SRCDIR/apt.err"); then
  # Some mirrors serve the upstream tarball but not the .dsc: fetch the files the Sources index lists,
  # checked against its SHA-256 sums, and apply Debian's patches ourselves when they are available.
  log "apt-get source failed ($(grep -m1 '^E:' "$SRCDIR/apt.err" || true)); fetching the files listed in the Sources index"
  INDEX=$(apt-get "${APTOPTS[@]}" indextargets --format '$(FILENAME)' 'Created-By: Sources' | head -1)
  /usr/lib/apt/apt-helper cat-file "$INDEX" >"$SRCDIR/Sources"
  STANZA=$(awk '/^Package: luajit$/{p=1} p&&/^$/{exit} p' "$SRCDIR/Sources")
  DIR=$(printf '%s\n' "$STANZA" | sed -n 's/^Directory: //p')
  SUMS=$(printf '%s\n' "$STANZA" | awk '/^Checksums-Sha256:/{p=1;next} p&&/^ /{print $1, $3; next} p{exit}')
  while read -r sum file; do
    case "$file" in *.orig.tar.*|*.debian.tar.*) ;; *) continue ;; esac
    /usr/lib/apt/apt-helper download-file "http://deb.debian.org/debian/$DIR/$file" "$SRCDIR/$file" "SHA256:$sum" >/dev/null \
      || { case "$file" in *.orig.tar.*) log "cannot download $file"; exit 1 ;; *) log "no $file on this mirror: building without Debian's patches" ;; esac; }
  done <<<"$SUMS"
  ORIG=$(ls "$SRCDIR"/*.orig.tar.* | head -1)
  VER=$(basename "$ORIG" | sed 's/^luajit_\(.*\)\.orig\.tar\..*/\1/')
  mkdir -p "$SRCDIR/luajit-$VER"
  tar -xf "$ORIG" -C "$SRCDIR/luajit-$VER" --strip-components=1
  if ls "$SRCDIR"/*.debian.tar.* >/dev/null 2>&1; then
    tar -xf "$SRCDIR"/*.debian.tar.* -C "$SRCDIR/luajit-$VER"
    if [ -f "$SRCDIR/luajit-$VER/debian/patches/series" ]; then
      grep -v '^#' "$SRCDIR/luajit-$VER/debian/patches/series" | while read -r patch _; do
        [ -n "$patch" ] && patch -d "$SRCDIR/luajit-$VER" -p1 -s <"$SRCDIR/luajit-$VER/debian/patches/$patch"
      done
    fi
  else
    mkdir -p "$SRCDIR/luajit-$VER/debian"
    printf '%s\n' "$STANZA" | sed -n 's/^Version: //p' | sed 's/.*/luajit (&) unstable; urgency=medium/' >"$SRCDIR/luajit-$VER/debian/changelog"
  fi
fi
TREE=$(find "$SRCDIR" -mindepth 1 -maxdepth 1 -type d -name 'luajit-*' | head -1)
[ -n "$TREE" ] || { log "source tree not found in $SRCDIR"; exit 1; }
VERSION=$(sed -n '1s/^luajit (\([^)]*\)).*/\1/p' "$TREE/debian/changelog")
case "$VERSION" in *openresty*) ;; *) log "trixie's luajit is $VERSION, not OpenResty's fork"; exit 1 ;; esac
log "building $VERSION"
# Same build as Debian's rules (amalgamated, default GC64 on x86_64), installed under our prefix.
make -C "$TREE" -j"$(nproc)" amalg PREFIX="$DEST" Q= E=@: >"$SRCDIR/build.log" 2>&1 \
  || { tail -30 "$SRCDIR/build.log" >&2; exit 1; }
rm -rf "$DEST"
make -C "$TREE" install PREFIX="$DEST" >>"$SRCDIR/build.log" 2>&1
# `make install` names the binary luajit-2.1.x; give it the plain name as Debian does.
for f in "$DEST"/bin/luajit-*; do [ -e "$f" ] && [ ! -L "$f" ] && mv -f "$f" "$DEST/bin/luajit"; done
rm -f "$DEST"/bin/luajit-*
ln -sf luajit "$DEST/bin/luajit-openresty"
echo "$VERSION" >"$DEST/VERSION"
# Keep the headers of this exact source for offset checks; drop the rest of the tree.
mkdir -p "$DEST/src-headers"
cp "$TREE"/src/*.h "$DEST/src-headers/"
cp -r "$TREE/debian" "$DEST/src-headers/debian"
rm -rf "$SRCDIR"
"$DEST/bin/luajit" -v >&2
log "built into $DEST"
