#!/usr/bin/env bash
# nginx with lua-nginx-module from Debian's packages, for test/e2e-real-servers.test.ts, unpacked into
# .cache/hosts/nginx-lua/root (not installed): the module depends on OpenResty's LuaJIT
# (libluajit2-5.1-2), which conflicts with the libluajit-5.1-2 that Debian's `luajit` needs, so the
# packages are downloaded and extracted, and the test runs nginx with LD_LIBRARY_PATH pointing at
# their libluajit. Idempotent.
set -euo pipefail
cd "$(dirname "$0")/../.."
DEST=.cache/hosts/nginx-lua
PACKAGES=(nginx libnginx-mod-http-lua libnginx-mod-http-ndk libluajit2-5.1-2 lua-resty-core lua-resty-lrucache)

if [ -x "$DEST/root/usr/sbin/nginx" ] && [ -f "$DEST/root/usr/lib/nginx/modules/ngx_http_lua_module.so" ]; then
  exit 0
fi
rm -rf "$DEST"
mkdir -p "$DEST/debs"
(cd "$DEST/debs" && apt-get download -q "${PACKAGES[@]}" 2>&1 | grep -v '^W: Download is performed unsandboxed' || true)
for p in "${PACKAGES[@]}"; do
  deb=$(ls "$DEST"/debs/"${p}"_*.deb 2>/dev/null | head -1)
  [ -n "$deb" ] || { echo "nginx-lua.sh: could not download $p" >&2; exit 1; }
  dpkg -x "$deb" "$DEST/root"
done
rm -rf "$DEST/debs"
echo "nginx-lua: $("$DEST/root/usr/sbin/nginx" -v 2>&1) with lua-nginx-module in $DEST/root" >&2
