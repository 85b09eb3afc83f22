#!/usr/bin/env bash
# Fetches and unpacks a Debian source package into a cache directory (sourced by the layout generator
# and by scripts/runtimes/*.sh). Fetched code stays in .cache/ and is never committed.
#
#   fetch_debian_source PACKAGE SUITE DEST      → DEST/<unpacked tree>, path printed on stdout
#
# SUITE is bookworm or trixie; a deb-src entry for trixie is added when missing (sources only: no
# binary package of the machine changes). Needs root for that and for `apt-get update`.

LUAPROF_TRIXIE_SRC=/etc/apt/sources.list.d/luaprof-trixie-src.sources

ensure_deb_src() {
  local suite=$1 changed=0
  if [ "$suite" = trixie ] && [ ! -e "$LUAPROF_TRIXIE_SRC" ]; then
    cat > "$LUAPROF_TRIXIE_SRC" <<SRC
Types: deb-src
URIs: http://deb.debian.org/debian
Suites: trixie
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
    changed=1
  fi
  if [ "$suite" = bookworm ] && ! grep -rqs 'deb-src' /etc/apt/sources.list /etc/apt/sources.list.d/; then
    cat > /etc/apt/sources.list.d/luaprof-bookworm-src.sources <<SRC
Types: deb-src
URIs: http://deb.debian.org/debian
Suites: bookworm
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
    changed=1
  fi
  # Source indexes present for this suite?
  if [ $changed = 1 ] || ! ls /var/lib/apt/lists/ 2>/dev/null | grep -q "_dists_${suite}_main_source_Sources"; then
    apt-get update -qq >&2
  fi
}

fetch_debian_source() {
  local pkg=$1 suite=$2 dest=$3
  mkdir -p "$dest"
  local tree
  tree=$(find "$dest" -mindepth 1 -maxdepth 1 -type d -name "${pkg}-*" | head -n1)
  if [ -n "$tree" ] && [ -e "$tree/.luaprof-complete" ]; then
    echo "$tree"
    return 0
  fi
  ensure_deb_src "$suite"
  (cd "$dest" && rm -rf ./* && apt-get source -qq "${pkg}/${suite}" >&2)
  tree=$(find "$dest" -mindepth 1 -maxdepth 1 -type d -name "${pkg}-*" | head -n1)
  if [ -z "$tree" ]; then
    echo "fetch_debian_source: no source tree for $pkg/$suite" >&2
    return 1
  fi
  touch "$tree/.luaprof-complete"
  echo "$tree"
}
