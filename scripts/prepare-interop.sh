#!/usr/bin/env bash
# Builds the collectors in other languages that the interop tests run
# (examples/*/setup.sh: virtualenv and stubs for Python, go build, cargo build).
# Each setup script exits 3 when its toolchain is missing: outside CI that
# language's tests then skip with a warning; in CI (CI=true) it fails the run.
set -uo pipefail
cd "$(dirname "$0")/.."
status=0
for language in python go rust; do
  script="examples/$language/setup.sh"
  [ -f "$script" ] || continue
  echo "== preparing the $language collector ($script)"
  start=$SECONDS
  bash "$script"
  code=$?
  if [ "$code" -eq 3 ] && [ "${CI:-}" != "true" ]; then
    echo "!! $language toolchain missing: its interop tests will be skipped (CI fails instead)"
  elif [ "$code" -ne 0 ]; then
    echo "!! $script failed with exit code $code"
    status=1
  else
    echo "== $language ready in $((SECONDS - start)) s"
  fi
done
exit $status
