#!/usr/bin/env bash
# Installs what building and testing Switchyard needs on Debian 12, if it is missing.
# Used by the README's two commands and by .ci/run. Needs root (or sudo).
set -euo pipefail
pkgs=(build-essential cmake pkg-config liblua5.4-dev libhiredis-dev libcurl4-openssl-dev
      libcjson-dev libmicrohttpd-dev libssl-dev redis-server python3 curl)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  echo "installing: ${missing[*]}"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
fi
# The tests start their own private redis-server; a distribution service is not needed.
