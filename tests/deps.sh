#!/usr/bin/env bash
# Installs what building and testing Switchyard needs on Debian 12, if it is missing.
# Used by the README's two commands and by .ci/run. Needs root (or sudo).
set -euo pipefail
pkgs=(build-essential cmake pkg-config liblua5.4-dev libhiredis-dev libcurl4-openssl-dev
      libcjson-dev libmicrohttpd-dev libssl-dev redis-server python3 curl)
# --test: promtool (package prometheus) checks the /metrics output, node runs the JS SDK's tests,
# the openssl CLI makes the certificates of the Redis TLS test;
# --fuzz: clang and its libFuzzer runtime for tests/fuzz
for arg in "$@"; do
  case $arg in
    --test) pkgs+=(prometheus nodejs openssl) ;;
    --fuzz) pkgs+=(clang libclang-rt-14-dev) ;;
    *) echo "usage: bash tests/deps.sh [--test] [--fuzz]" >&2; exit 2 ;;
  esac
done
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  echo "installing: ${missing[*]}"
  $sudo apt-get update -qq
  # Packages that ship a service (redis-server, prometheus) must not start a system copy of it:
  # the project starts its own, privately. policy-rc.d tells Debian's scripts not to start services.
  guard=""
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' | $sudo tee /usr/sbin/policy-rc.d >/dev/null
    $sudo chmod +x /usr/sbin/policy-rc.d
    guard=1
  fi
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends \
    "${missing[@]}" >/dev/null
  [ -z "$guard" ] || $sudo rm -f /usr/sbin/policy-rc.d
fi
# The tests start their own private redis-server; a distribution service is not needed.
