#!/usr/bin/env bash
# System packages the test suite needs beside Python and Node: a PostgreSQL server (the suite runs on
# SQLite and on PostgreSQL); dockerd and a static busybox (the sandbox tests start a private Docker engine
# and build their image from busybox: no registry needed); bubblewrap and libseccomp2 (the local sandbox
# backend and its seccomp filter); gcc and libc6-dev's static libc (the companion tests compile a small static
# server for the test image); Chromium (browser tests drive it through playwright-core); git (the worktree
# tests; the test image gets a copy of it).
# Installs what is missing with apt when run as root; otherwise says what to install.
set -euo pipefail

missing=()
compgen -G "/usr/lib/postgresql/*/bin/pg_ctl" >/dev/null || missing+=(postgresql)
command -v node >/dev/null || missing+=(nodejs npm)
command -v dockerd >/dev/null || missing+=(docker.io)
[ "$(dpkg-query -W -f='${Status}' busybox-static 2>/dev/null)" = "install ok installed" ] || missing+=(busybox-static)
command -v bwrap >/dev/null || missing+=(bubblewrap)
[ "$(dpkg-query -W -f='${Status}' libseccomp2 2>/dev/null)" = "install ok installed" ] || missing+=(libseccomp2)
command -v ip >/dev/null || missing+=(iproute2)
command -v gcc >/dev/null || missing+=(gcc)
compgen -G "/usr/lib/*/libc.a" >/dev/null || missing+=(libc6-dev)
command -v chromium >/dev/null || missing+=(chromium)
command -v git >/dev/null || missing+=(git)

[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -ne 0 ]; then
  echo "missing system packages: ${missing[*]} (install them, e.g. sudo apt-get install ${missing[*]})" >&2
  exit 1
fi
echo "installing system packages: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
# The Debian package starts a cluster of its own; the tests start private ones and need nothing running.
if command -v service >/dev/null; then service postgresql stop >/dev/null 2>&1 || true; fi
