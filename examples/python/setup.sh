#!/usr/bin/env bash
# Builds the Python example: a virtualenv in .venv/ with the pinned packages of
# requirements.txt, and Python stubs generated into gen/ from ../../proto.
# Idempotent; works from any cwd. Exit 3 when python3 (or its venv module) is missing.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")"
here="$(pwd)"
proto_dir="$(cd ../../proto && pwd)"

if ! command -v python3 >/dev/null 2>&1; then
  echo "setup.sh: python3 not found on PATH; install Python 3.11+ with pip and venv" >&2
  exit 3
fi
if ! python3 -c 'import sys; sys.exit(0 if sys.version_info >= (3, 9) else 1)'; then
  echo "setup.sh: python3 is $(python3 -c 'import platform; print(platform.python_version())'); 3.9+ is needed (3.11+ recommended)" >&2
  exit 3
fi
if ! python3 -c 'import venv, ensurepip' >/dev/null 2>&1; then
  echo "setup.sh: python3's venv module (with ensurepip) is missing; on Debian: apt-get install python3-venv" >&2
  exit 3
fi

venv="$here/.venv"
py="$venv/bin/python"
if [ -x "$py" ] && "$py" -c 'import sys' >/dev/null 2>&1; then
  echo "==> virtualenv $venv exists"
else
  echo "==> python3 -m venv $venv"
  rm -rf "$venv"
  python3 -m venv "$venv"
fi

# Reinstall only when requirements.txt (or the interpreter) changed since the last install.
stamp="$venv/.requirements.sha256"
want="$( { cat requirements.txt; "$py" -c 'import sys; print(sys.version)'; } | sha256sum | cut -d' ' -f1)"
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
  echo "==> pinned packages already installed (requirements.txt unchanged)"
else
  echo "==> $py -m pip install --disable-pip-version-check -r requirements.txt"
  "$py" -m pip install --disable-pip-version-check --quiet -r requirements.txt
  echo "$want" > "$stamp"
fi

# Stubs: regenerated from the committed .proto files on every run (cheap), into a
# fresh directory that replaces gen/ only once protoc succeeded.
protos=()
while IFS= read -r file; do protos+=("$file"); done < <(cd "$proto_dir" && find corrbus -name '*.proto' | sort)
tmp="$(mktemp -d "$here/.gen.XXXXXX")"
trap 'rm -rf "$tmp"' EXIT
echo "==> $py -m grpc_tools.protoc -I $proto_dir --python_out=gen --grpc_python_out=gen --pyi_out=gen ${protos[*]}"
"$py" -m grpc_tools.protoc -I "$proto_dir" \
  --python_out="$tmp" --grpc_python_out="$tmp" --pyi_out="$tmp" "${protos[@]}"
rm -rf gen
mv "$tmp" gen
trap - EXIT

echo "==> checking that the stubs import"
"$py" -c 'import sys; sys.path.insert(0, "gen"); from corrbus.v1 import service_pb2, service_pb2_grpc; print("    grpcio", __import__("grpc").__version__, "protobuf", __import__("google.protobuf").protobuf.__version__)'
echo "==> done: run $py collector.py --socket PATH --name NAME  |  $py agent.py --socket PATH"
