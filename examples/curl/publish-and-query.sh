#!/usr/bin/env bash
# Connect JSON over the broker's Unix socket with plain curl: HTTP/1.1 as is,
# HTTP/2 with CURL_FLAGS=--http2-prior-knowledge.
set -euo pipefail
SOCK="${CORRBUS_SOCKET:-$(npx corrbus socket)}"
rpc() { # rpc METHOD JSON
  curl --silent --show-error --fail-with-body ${CURL_FLAGS:-} --unix-socket "$SOCK" \
    -H 'Content-Type: application/json' -d "$2" "http://localhost/corrbus.v1.CorrelationService/$1"
  echo
}
ID=$(cat /proc/sys/kernel/random/uuid)
PAYLOAD=$(printf '{"pid":4892,"exe":"/tmp/.x"}' | base64 -w0)

# No publisherProcessId: the broker takes the pid from the kernel (curl's), and a stated
# pid that differs from it ($$ is the shell's) would flag the event stated_pid_mismatch.
rpc Publish '{"envelope":{"topic":"events.process.started","payload":"'"$PAYLOAD"'","contentType":"application/json",
  "correlationMetadata":{"correlationId":"'"$ID"'","rootCorrelationId":"'"$ID"'",
  "workflowStage":"enumeration","sourceProcess":"shell-collector","sequenceNumber":"1","final":true,
  "correlationTags":{"investigation_id":"INC-12345","suspicious_pid":"4892"}}}}'
rpc FindByTag '{"tags":{"investigation_id":"INC-12345","suspicious_pid":"4892"},"limit":10}'
rpc GetTimeline '{"rootCorrelationId":"'"$ID"'","omitPayloads":true}'
rpc GetStats '{}'
