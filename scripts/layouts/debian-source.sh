#!/usr/bin/env bash
# Fetches and unpacks a Debian source package into a cache directory (sourced by the layout generator
# and by scripts/runtimes/*.sh). Fetched code stays in .cache/ and is never committed.
#
#   fetch_debian_source PACKAGE SUITE DEST      → DEST/<unpacked tree>, path printed on stdout
#   fetch_debian_pool_orig PKG UPSTREAM SHA256 DEST
#                                               → DEST/<unpacked tree>, for a release no suite lists
#   debian_source_origin DEST                   → "Debian SUITE source package PKG_VERSION…" on stdout
#   debian_source_version DEST                  → the Debian version unpacked in DEST (1.2-3; for a
#                                                 pool tarball, its upstream version) on stdout
#
# SUITE is any suite deb.debian.org serves (bullseye, bookworm, trixie, sid, …). Sources come through
# a private apt configuration in .cache/apt-src/ (one deb-src entry per suite asked for, its own index
# lists): the machine's apt sources and binary packages stay as they are, and a plain `apt-get update`
# never downloads sid's or bullseye's source indexes. Idempotent: an unpacked tree is reused, an index
# is fetched when missing, and fetched again (once) when the version it lists cannot be downloaded any
# more (a stale index: the suite moved on). LUAPROF_APT_SRC, when set, names another directory for that
# configuration (a from-scratch check that must not touch the shared one). Run as root, like
# scripts/setup.sh (apt-get update writes the lists).
# (Earlier versions added /etc/apt/sources.list.d/luaprof-{bookworm,trixie}-src.sources instead; those
# files are no longer used and may be removed.)
#
# Some mirrors list a version in their Sources index but lack its .dsc (or its .debian.tar.*): then
# the files the index lists are downloaded one by one, each checked against the index's SHA-256, the
# upstream tarball unpacked and Debian's patches applied when the mirror has them (the origin says so
# when it does not).

LUAPROF_APT_SRC=${LUAPROF_APT_SRC:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)/.cache/apt-src}
LUAPROF_APT_UPDATED= # suites whose index this shell fetched: a failure there is not a stale index

luaprof_apt() {
  apt-get \
    -o "Dir::Etc::SourceList=$LUAPROF_APT_SRC/empty.list" \
    -o "Dir::Etc::SourceParts=$LUAPROF_APT_SRC/sources" \
    -o "Dir::State::Lists=$LUAPROF_APT_SRC/lists" \
    -o "Dir::Cache::Archives=$LUAPROF_APT_SRC/archives" \
    -o "Dir::Cache::pkgcache=" -o "Dir::Cache::srcpkgcache=" \
    -o "APT::Sandbox::User=root" \
    "$@"
}

ensure_deb_src() {
  local suite=$1 changed=0
  mkdir -p "$LUAPROF_APT_SRC/sources" "$LUAPROF_APT_SRC/lists/partial" "$LUAPROF_APT_SRC/archives/partial"
  [ -e "$LUAPROF_APT_SRC/empty.list" ] || : > "$LUAPROF_APT_SRC/empty.list"
  if [ ! -e "$LUAPROF_APT_SRC/sources/$suite-src.sources" ]; then
    cat > "$LUAPROF_APT_SRC/sources/$suite-src.sources" <<SRC
Types: deb-src
URIs: http://deb.debian.org/debian
Suites: $suite
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
    changed=1
  fi
  # Source index present for this suite?
  if [ $changed = 1 ] || [ -z "$(sources_index "$suite")" ]; then
    luaprof_apt update -qq >&2 || return 1
    LUAPROF_APT_UPDATED+=" $suite "
  fi
  [ -n "$(sources_index "$suite")" ] || { echo "fetch_debian_source: no Sources index for $suite" >&2; return 1; }
}

# The downloaded Sources index of a suite (empty when not fetched yet).
sources_index() {
  local f
  f=$(luaprof_apt indextargets --format '$(FILENAME)' 'Created-By: Sources' "Release: $1" 2>/dev/null | head -n1)
  [ -n "$f" ] && [ -e "$f" ] && echo "$f"
}

# The index stanza of PACKAGE in SUITE (the first listed, when a suite lists several versions).
sources_stanza() {
  local pkg=$1 suite=$2
  /usr/lib/apt/apt-helper cat-file "$(sources_index "$suite")" \
    | awk -v pkg="$pkg" 'BEGIN{RS=""} $0 ~ ("(^|\n)Package: " pkg "(\n|$)") {print; exit}'
}

# Files of the stanza the index lists, with their SHA-256: "SUM NAME" lines.
stanza_files() {
  awk '/^Checksums-Sha256:/{p=1;next} p&&/^ /{print $1, $3; next} p{exit}'
}

fetch_from_index() { # fetch_from_index PKG SUITE DIR → unpacked tree in DIR, origin note on stdout, DIR/.luaprof-version
  local pkg=$1 suite=$2 dir=$3 stanza version upstream pooldir sum file orig debtar note=""
  stanza=$(sources_stanza "$pkg" "$suite")
  [ -n "$stanza" ] || { echo "fetch_debian_source: $pkg is not in $suite's Sources index" >&2; return 1; }
  version=$(printf '%s\n' "$stanza" | sed -n 's/^Version: //p')
  upstream=${version#*:}; upstream=${upstream%-*}
  pooldir=$(printf '%s\n' "$stanza" | sed -n 's/^Directory: //p')
  while read -r sum file; do
    case "$file" in *.orig.tar.*|*.debian.tar.*) ;; *) continue ;; esac
    if /usr/lib/apt/apt-helper download-file "http://deb.debian.org/debian/$pooldir/$file" "$dir/$file" "SHA256:$sum" >/dev/null 2>&1; then
      case "$file" in *.orig.tar.*) orig=$dir/$file ;; *) debtar=$dir/$file ;; esac
    else
      rm -f "$dir/$file"
      case "$file" in
        *.orig.tar.*) echo "fetch_debian_source: cannot download $pooldir/$file" >&2; return 1 ;;
        *) echo "fetch_debian_source: no $file on this mirror: unpacking without Debian's patches" >&2
           note=" (upstream tarball only: $file is not on the mirror)" ;;
      esac
    fi
  done < <(printf '%s\n' "$stanza" | stanza_files)
  [ -n "${orig:-}" ] || { echo "fetch_debian_source: no upstream tarball listed for $pkg/$suite" >&2; return 1; }
  local tree=$dir/$pkg-$upstream
  mkdir -p "$tree"
  tar -xf "$orig" -C "$tree" --strip-components=1 || return 1
  if [ -n "${debtar:-}" ]; then
    tar -xf "$debtar" -C "$tree" || return 1
    if [ -f "$tree/debian/patches/series" ]; then
      local patch
      while read -r patch _; do
        case "$patch" in ''|'#'*) continue ;; esac
        patch -d "$tree" -p1 -s < "$tree/debian/patches/$patch" || { echo "fetch_debian_source: $patch does not apply" >&2; return 1; }
      done < "$tree/debian/patches/series"
    fi
  fi
  echo "$version" > "$dir/.luaprof-version"
  echo "Debian $suite source package ${pkg}_$version$note"
}

# fetch_into PKG SUITE DEST: one attempt from the current index (apt-get source, else the files the index
# lists) into an emptied DEST; the origin on stdout, the version in DEST/.luaprof-version.
fetch_into() {
  local pkg=$1 suite=$2 dest=$3 dsc
  (cd "$dest" && rm -rf ./* ./.luaprof-origin ./.luaprof-version)
  if (cd "$dest" && luaprof_apt source -qq "${pkg}/${suite}" >&2 2>"$dest/.apt.err"); then
    rm -f "$dest/.apt.err"
    dsc=$(find "$dest" -maxdepth 1 -name '*.dsc' | head -n1)
    sed -n 's/^Version: //p' "$dsc" | head -n1 > "$dest/.luaprof-version"
    echo "Debian $suite source package $(basename "$dsc" .dsc)"
  else
    echo "fetch_debian_source: apt-get source ${pkg}/${suite} failed ($(grep -m1 '^E:' "$dest/.apt.err" || true)); fetching the files its Sources index lists" >&2
    (cd "$dest" && rm -rf ./* ./.apt.err)
    fetch_from_index "$pkg" "$suite" "$dest"
  fi
}

fetch_debian_source() {
  local pkg=$1 suite=$2 dest
  dest=$(mkdir -p "$3" && cd "$3" && pwd) || return 1
  local tree origin
  tree=$(find "$dest" -mindepth 1 -maxdepth 1 -type d -name "${pkg}-*" | head -n1)
  if [ -n "$tree" ] && [ -e "$tree/.luaprof-complete" ]; then
    echo "$tree"
    return 0
  fi
  ensure_deb_src "$suite" || return 1
  if ! origin=$(fetch_into "$pkg" "$suite" "$dest"); then
    case "$LUAPROF_APT_UPDATED" in *" $suite "*) return 1 ;; esac
    echo "fetch_debian_source: refreshing $suite's Sources index (it may list a version the mirror no longer has) and trying again" >&2
    luaprof_apt update -qq >&2 || return 1
    LUAPROF_APT_UPDATED+=" $suite "
    origin=$(fetch_into "$pkg" "$suite" "$dest") || return 1
  fi
  tree=$(find "$dest" -mindepth 1 -maxdepth 1 -type d -name "${pkg}-*" | head -n1)
  if [ -z "$tree" ]; then
    echo "fetch_debian_source: no source tree for $pkg/$suite" >&2
    return 1
  fi
  echo "$origin" > "$dest/.luaprof-origin"
  touch "$tree/.luaprof-complete"
  echo "$tree"
}

# An upstream tarball that Debian's pool still holds but no suite's Sources index lists any more
# (pool/main/<p>/PKG/PKG_UPSTREAM.orig.tar.gz): no signed index vouches for it, so the caller pins its
# SHA-256 and a mismatch is refused. Unpacked as is (no Debian patches: there is no debian tarball).
fetch_debian_pool_orig() {
  local pkg=$1 upstream=$2 sum=$3 dest tree
  dest=$(mkdir -p "$4" && cd "$4" && pwd) || return 1
  tree=$dest/$pkg-$upstream
  if [ -e "$tree/.luaprof-complete" ]; then
    echo "$tree"
    return 0
  fi
  local file=${pkg}_$upstream.orig.tar.gz
  local url=http://deb.debian.org/debian/pool/main/${pkg:0:1}/$pkg/$file
  (cd "$dest" && rm -rf ./* ./.luaprof-origin ./.luaprof-version)
  # apt-helper checks the hash as it downloads and keeps a file that does not match only as *.FAILED.
  local out
  if ! out=$(/usr/lib/apt/apt-helper download-file "$url" "$dest/$file" "SHA256:$sum" 2>&1); then
    local got
    got=$(printf '%s\n' "$out" | awk '/Hashes of received file/{r=1;next} r&&/SHA256:/{sub(/.*SHA256:/,"");print;exit}')
    echo "fetch_debian_pool_orig: $url: $(printf '%s\n' "$out" | grep -m1 '^E: Failed' | sed 's/^E: Failed to fetch [^ ]* *//')${got:+ (got SHA-256 $got, pinned $sum): refused}" >&2
    rm -f "$dest/$file" "$dest/$file.FAILED"
    return 1
  fi
  local got
  got=$(sha256sum "$dest/$file" | cut -d' ' -f1)
  if [ "$got" != "$sum" ]; then # belt and braces: never unpack an unpinned tarball
    echo "fetch_debian_pool_orig: $file has SHA-256 $got, expected $sum: refused" >&2
    rm -f "$dest/$file"
    return 1
  fi
  mkdir -p "$tree"
  tar -xf "$dest/$file" -C "$tree" --strip-components=1 || return 1
  echo "Debian pool upstream tarball $file (SHA-256 $sum; listed by no suite's Sources index)" > "$dest/.luaprof-origin"
  echo "$upstream" > "$dest/.luaprof-version"
  touch "$tree/.luaprof-complete"
  echo "$tree"
}

debian_source_origin() {
  local dest=$1
  if [ -e "$dest/.luaprof-origin" ]; then
    cat "$dest/.luaprof-origin"
  else # unpacked by an earlier version of this script: apt-get source, named by its .dsc
    echo "Debian $(basename "$dest" | sed 's/^.*-//') source package $(basename "$(ls "$dest"/*.dsc)" .dsc)"
  fi
}

debian_source_version() {
  local dest=$1 dsc tree
  if [ -s "$dest/.luaprof-version" ]; then
    cat "$dest/.luaprof-version"
    return 0
  fi
  # unpacked by an earlier version of this script: the .dsc's Version, else the origin's, else
  # debian/changelog's
  dsc=$(find "$dest" -maxdepth 1 -name '*.dsc' | head -n1)
  if [ -n "$dsc" ]; then
    sed -n 's/^Version: //p' "$dsc" | head -n1
    return 0
  fi
  if [ -s "$dest/.luaprof-origin" ]; then
    sed -n -e 's/^Debian [^ ]* source package [^_ ]*_\([^ ]*\).*/\1/p' \
      -e 's/^Debian pool upstream tarball [^_ ]*_\(.*\)\.orig\.tar\..*/\1/p' "$dest/.luaprof-origin" | grep . && return 0
  fi
  tree=$(find "$dest" -mindepth 1 -maxdepth 1 -type d | head -n1)
  [ -n "$tree" ] && [ -f "$tree/debian/changelog" ] || { echo "debian_source_version: no version recorded in $dest" >&2; return 1; }
  sed -n '1s/^[^ ]* (\([^)]*\)).*/\1/p' "$tree/debian/changelog"
}
