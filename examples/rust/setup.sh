#!/usr/bin/env bash
# Builds the Rust corrbus collector: examples/rust/target/release/corrbus-collector.
# Needs only cargo (crates come from crates.io; protoc comes from the protoc-bin-vendored crate).
# Stubs are generated at build time by build.rs from ../../proto; cargo skips the work when nothing changed.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"

if ! command -v cargo >/dev/null 2>&1; then
  echo "setup.sh: cargo not found; install the Rust toolchain (https://rustup.rs) and rerun" >&2
  exit 3
fi

echo "+ $(cargo --version) / $(rustc --version 2>/dev/null || echo 'rustc ?')"
export CARGO_TARGET_DIR="$PWD/target"   # the test looks for the binary here
echo "+ cargo build --release --locked -j 2   (in $(pwd))"
cargo build --release --locked -j 2
echo "built $(pwd)/target/release/corrbus-collector"
