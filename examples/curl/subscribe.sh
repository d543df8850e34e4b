#!/usr/bin/env bash
# A Subscribe stream with plain curl: Connect streaming wraps each JSON message in
# a 5-byte envelope (flags, then the length as 4 bytes big-endian), both ways.
# Prints one JSON message per line (the first, {"subscribed":true}, says the
# subscription is live); stops after COUNT messages (default: never).
set -euo pipefail
SOCK="${CORRBUS_SOCKET:-$(npx corrbus socket)}"
COUNT="${1:-0}"
REQUEST='{"patterns":["events.#"],"subscriberName":"shell-subscriber"}'
BODY=$(mktemp)
trap 'rm -f "$BODY"; kill "$CURL_PID" 2>/dev/null || true' EXIT
{ printf '\x00'; printf '%08x' "${#REQUEST}" | sed 's/../\\x&/g' | xargs -0 printf; printf '%s' "$REQUEST"; } > "$BODY"

exec 3< <(exec curl --silent --show-error --no-buffer ${CURL_FLAGS:-} --unix-socket "$SOCK" \
  -H 'Content-Type: application/connect+json' --data-binary @"$BODY" \
  http://localhost/corrbus.v1.CorrelationService/Subscribe)
CURL_PID=$!
seen=0
while read -r flags b1 b2 b3 b4 < <(head -c 5 <&3 | od -An -tu1) && [ -n "${flags:-}" ]; do
  head -c $(( (b1 << 24) | (b2 << 16) | (b3 << 8) | b4 )) <&3
  echo
  (( flags & 2 )) && break # end of stream: {} or {"error":…}
  seen=$((seen + 1))
  [ "$COUNT" -gt 0 ] && [ "$seen" -ge "$COUNT" ] && break
done
