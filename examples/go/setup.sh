#!/usr/bin/env bash
# Builds the Go collector example: installs the protoc plugins into .bin/,
# generates the gRPC stubs from ../../proto into gen/ (buf, managed mode) and
# builds .bin/collector. Idempotent; skips work that is up to date.
# Exit 3 when the Go toolchain is missing.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")"
here="$(pwd)"
repo_root="$(cd ../.. && pwd)"

# Pinned plugin versions (protoc-gen-go matches google.golang.org/protobuf in go.mod).
PROTOC_GEN_GO_VERSION=v1.36.12
PROTOC_GEN_GO_GRPC_VERSION=v1.6.2

if ! command -v go >/dev/null 2>&1; then
  echo "setup.sh: the Go toolchain ('go') is not installed or not on PATH" >&2
  exit 3
fi

run() {
  echo "+ $*"
  "$@"
}

export GOBIN="$here/.bin"
# -mod=mod: resolve from go.mod/go.sum without a vendor directory;
# -buildvcs=false: no VCS stamping (the repo may be a checkout without git).
export GOFLAGS="-mod=mod -buildvcs=false"
echo "setup.sh: $(go version); GOBIN=$GOBIN; module cache $(go env GOMODCACHE)"
mkdir -p "$GOBIN"

# 1. protoc plugins, pinned, into .bin/ (reinstalled only when the version differs).
if [[ "$("$GOBIN/protoc-gen-go" --version 2>/dev/null || true)" != "protoc-gen-go $PROTOC_GEN_GO_VERSION" ]]; then
  run go install "google.golang.org/protobuf/cmd/protoc-gen-go@$PROTOC_GEN_GO_VERSION"
else
  echo "= protoc-gen-go $PROTOC_GEN_GO_VERSION already in .bin"
fi
if [[ "$("$GOBIN/protoc-gen-go-grpc" --version 2>/dev/null || true)" != "protoc-gen-go-grpc ${PROTOC_GEN_GO_GRPC_VERSION#v}" ]]; then
  run go install "google.golang.org/grpc/cmd/protoc-gen-go-grpc@$PROTOC_GEN_GO_GRPC_VERSION"
else
  echo "= protoc-gen-go-grpc $PROTOC_GEN_GO_GRPC_VERSION already in .bin"
fi

# 2. Stubs: buf generate (buf from the repo's npm install), redone only when the
#    protos, buf.gen.yaml or the plugin versions changed.
buf="$repo_root/node_modules/.bin/buf"
if [[ ! -x "$buf" ]]; then
  echo "setup.sh: $buf not found; run 'npm ci' in $repo_root first (package @bufbuild/buf)" >&2
  exit 1
fi
stamp_input() {
  "$buf" --version
  echo "$PROTOC_GEN_GO_VERSION $PROTOC_GEN_GO_GRPC_VERSION"
  cat buf.gen.yaml
  find ../../proto -name '*.proto' -type f | LC_ALL=C sort | xargs cat
}
stamp="$(stamp_input | sha256sum | cut -d' ' -f1)"
if [[ -f gen/.stamp && "$(cat gen/.stamp)" == "$stamp" ]]; then
  echo "= gen/ is up to date"
else
  run "$buf" generate
  echo "$stamp" > gen/.stamp
fi

# 3. The collector (go build's cache makes an unchanged rebuild quick).
run go build -o "$GOBIN/collector" ./cmd/collector
echo "setup.sh: built $GOBIN/collector"
