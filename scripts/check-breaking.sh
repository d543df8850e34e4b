#!/usr/bin/env bash
# buf breaking: the schema in PROTO_DIR (default proto/) against the last
# released schema. CI runs exactly this; so does the test that proves it bites.
set -euo pipefail
cd "$(dirname "$0")/.."
PROTO_DIR="${1:-proto}"
BASELINE="schema/corrbus-v1-0.1.0.binpb" # the released schema; see docs/schema-evolution.md
exec node_modules/.bin/buf breaking "$PROTO_DIR" --against "$BASELINE"
