#!/usr/bin/env bash
# Installs what `npm run bench` compares corrbus with: nats-server (JetStream)
# from Debian. The nats.js client it drives is a devDependency (npm ci).
# Without nats-server the bench still runs and says which NATS rows it skipped;
# in CI (CI=true) a server that cannot be installed fails this script.
set -uo pipefail
if command -v nats-server >/dev/null; then
  exit 0
fi
if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null; then
  echo "== installing nats-server (Debian) for the bench's NATS rows"
  apt-get install -y --no-install-recommends nats-server || { apt-get update && apt-get install -y --no-install-recommends nats-server; }
fi
if ! command -v nats-server >/dev/null; then
  echo "!! nats-server missing (apt-get install nats-server): the bench will skip its NATS rows"
  [ "${CI:-}" = "true" ] && exit 1
fi
exit 0
