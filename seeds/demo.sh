#!/usr/bin/env bash
# The quick start: installs what is missing, builds, starts a private redis-server (unless
# SWITCHYARD_REDIS_URL names one), a demo webhook receiver, the hub and one worker, applies
# seeds/demo.json, and prints a publish command with a valid token.
# Usage: bash seeds/demo.sh          start (everything runs in the background; logs in .demo/)
#        bash seeds/demo.sh stop     stop what it started
set -euo pipefail
cd "$(dirname "$0")/.."
top=$(pwd)
state=$top/.demo
mkdir -p "$state"

stop() {
  for name in worker hub receiver redis; do
    if [ -f "$state/$name.pid" ]; then
      kill "$(cat "$state/$name.pid")" 2>/dev/null || true
      rm -f "$state/$name.pid"
    fi
  done
}
if [ "${1:-}" = "stop" ]; then
  stop
  echo "stopped; data and logs stay in $state"
  exit 0
fi
stop

bash tests/deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j"$(nproc)" >/dev/null
bin=$top/build/switchyard

if [ -z "${SWITCHYARD_REDIS_URL:-}" ]; then
  mkdir -p "$state/redis"
  redis-server --port 6390 --bind 127.0.0.1 --dir "$state/redis" --appendonly yes \
    --daemonize no >"$state/redis.log" 2>&1 &
  echo $! >"$state/redis.pid"
  export SWITCHYARD_REDIS_URL=redis://127.0.0.1:6390/0
fi
[ -f "$state/secrets" ] || printf 'SWITCHYARD_JWT_SECRET=%s\nSWITCHYARD_ADMIN_TOKEN=%s\n' \
  "$(head -c 24 /dev/urandom | base64 | tr -d '/+=')" \
  "$(head -c 24 /dev/urandom | base64 | tr -d '/+=')" >"$state/secrets"
set -a; . "$state/secrets"; set +a
export SWITCHYARD_LISTEN=${SWITCHYARD_LISTEN:-127.0.0.1:8080}
export SWITCHYARD_HUB_URL=http://$SWITCHYARD_LISTEN

python3 seeds/receiver.py 9900 >"$state/receiver.log" 2>&1 &
echo $! >"$state/receiver.pid"
"$bin" hub >"$state/hub.log" 2>&1 &
echo $! >"$state/hub.pid"
"$bin" worker >"$state/worker.log" 2>&1 &
echo $! >"$state/worker.pid"

for _ in $(seq 50); do
  curl -fs "$SWITCHYARD_HUB_URL/readyz" >/dev/null 2>&1 && break
  sleep 0.2
done
curl -fs "$SWITCHYARD_HUB_URL/readyz" >/dev/null || { echo "the hub did not start; see $state/hub.log"; exit 1; }
"$bin" seed seeds/demo.json

token=$("$bin" token --ttl 86400)
cat <<MSG

Switchyard is running: hub $SWITCHYARD_HUB_URL, one worker, Redis $SWITCHYARD_REDIS_URL.
Deliveries are printed in $state/receiver.log; logs are in $state/. Stop with: bash seeds/demo.sh stop

Publish an order (three demo subscribers match it):

curl -s -X POST $SWITCHYARD_HUB_URL/v1/publish -H 'Authorization: Bearer $token' -H 'Content-Type: application/json' -d '{"topic": "orders.created", "data": {"body": {"id": 7, "total": 120}, "headers": {"x-tenant": "acme"}, "path_params": {"order_id": "7"}}}'

then: cat $state/receiver.log
Admin calls use: -H 'Authorization: Bearer $SWITCHYARD_ADMIN_TOKEN'
MSG
