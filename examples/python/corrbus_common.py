"""Shared bits of the Python examples: the generated stubs on sys.path, the
channel over the broker's Unix socket, and JSON-line output."""

import json
import os
import sys

_GEN = os.path.join(os.path.dirname(os.path.abspath(__file__)), "gen")
if not os.path.isdir(os.path.join(_GEN, "corrbus", "v1")):
    sys.exit(f"generated stubs missing in {_GEN}: run {os.path.join(os.path.dirname(_GEN), 'setup.sh')} first")
sys.path.insert(0, _GEN)

import grpc  # noqa: E402
from google.protobuf.timestamp_pb2 import Timestamp  # noqa: E402

from corrbus.v1 import correlation_pb2, envelope_pb2, service_pb2, service_pb2_grpc, workflow_pb2  # noqa: E402,F401


def connect(socket_path: str) -> tuple[grpc.Channel, service_pb2_grpc.CorrelationServiceStub]:
    """A gRPC channel to the broker's Unix socket (cleartext HTTP/2) and the service stub.

    Stock settings: the broker ignores the :authority, which grpc-core fills with
    the percent-encoded socket path for unix: targets.
    """
    channel = grpc.insecure_channel("unix:" + socket_path)
    return channel, service_pb2_grpc.CorrelationServiceStub(channel)


def now() -> Timestamp:
    stamp = Timestamp()
    stamp.GetCurrentTime()
    return stamp


def emit(**fields) -> None:
    """One JSON line on stdout, flushed at once (tests read it line by line)."""
    print(json.dumps(fields, separators=(",", ":")), flush=True)


def rpc_error(error: grpc.RpcError) -> dict:
    """The {"code", "message"} of a failed call: the gRPC status name and its details."""
    code = error.code() if hasattr(error, "code") else None
    details = error.details() if hasattr(error, "details") else str(error)
    return {"code": code.name if code is not None else "UNKNOWN", "message": details or ""}
