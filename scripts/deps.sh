#!/usr/bin/env bash
# deps.sh — install what Switchboard needs on Debian 12, and nothing when it is all there.
#
# Debian packages: build toolchain, the libraries of DESIGN.md (pkg-config names in
# NOTES.md), MariaDB server and Dovecot IMAP for the private dev/test instances
# (scripts/dev-services), cppcheck for `make check`, postfix for its smtp-source and
# smtp-sink, wrk and nginx (the references of `make bench`; the system postfix and nginx
# are never started).
# Server packages must not start system services: a temporary policy-rc.d refuses them,
# and a system Dovecot that an install started anyway (no systemd, a postinst that ignores
# policy-rc.d) is stopped again by the PID in its own pid file.
# npm: `npm ci` in tests/ from the committed lockfile, only when node_modules is stale.
set -euo pipefail
cd "$(dirname "$0")/.."

PKGS=(
  build-essential pkg-config cppcheck clang libclang-rt-14-dev
  libwebsockets-dev libwebsockets-evlib-ev libev-dev
  libmariadb-dev libcurl4-gnutls-dev libetpan-dev libesmtp-dev
  libjansson-dev libsodium-dev libssl-dev libinih-dev libgumbo-dev libcmocka-dev
  mariadb-server mariadb-client
  dovecot-core dovecot-imapd
  postfix wrk nginx-light
  chromium fonts-wqy-microhei fonts-noto-color-emoji
  nodejs
)

missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done

SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"

if [ ${#missing[@]} -gt 0 ]; then
  echo "deps: installing ${missing[*]}"
  policy=/usr/sbin/policy-rc.d
  made_policy=0
  if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' | $SUDO tee "$policy" >/dev/null
    $SUDO chmod +x "$policy"
    made_policy=1
  fi
  trap '[ $made_policy = 1 ] && $SUDO rm -f "$policy"' EXIT
  # The system Dovecot's master pid, if one runs before the install (then it is not ours).
  sys_dovecot_pid=/run/dovecot/master.pid
  dovecot_before=$({ tr -dc '0-9' <"$sys_dovecot_pid"; } 2>/dev/null || true)
  $SUDO apt-get update -q
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
  # Only a system Dovecot that this install started is stopped, by its own pid file.
  dovecot_after=$({ tr -dc '0-9' <"$sys_dovecot_pid"; } 2>/dev/null || true)
  if [ -n "$dovecot_after" ] && [ "$dovecot_after" != "$dovecot_before" ] \
     && kill -0 "$dovecot_after" 2>/dev/null \
     && [[ "$(tr '\0' ' ' <"/proc/$dovecot_after/cmdline" 2>/dev/null)" == *dovecot* ]]; then
    echo "deps: the install started a system dovecot (pid $dovecot_after); stopping it"
    $SUDO kill -TERM "$dovecot_after" 2>/dev/null || true
    for _ in $(seq 100); do kill -0 "$dovecot_after" 2>/dev/null || break; sleep 0.1; done
    $SUDO kill -KILL "$dovecot_after" 2>/dev/null || true
  fi
fi

# npm for the system tests; npm ships with nodesource's nodejs, Debian's needs the npm package.
if ! command -v npm >/dev/null; then
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends npm
fi
if [ -f tests/package-lock.json ]; then
  stamp=tests/node_modules/.lock-stamp
  if [ ! -f "$stamp" ] || ! cmp -s tests/package-lock.json "$stamp"; then
    (cd tests && npm ci --no-audit --no-fund --loglevel=error)
    cp tests/package-lock.json "$stamp"
  fi
fi
echo "deps: ok"
