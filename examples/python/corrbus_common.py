"""Shared bits of the Python examples: the generated stubs on sys.path, the
channel over the broker's Unix socket, JSON-line output, and what a client
needs to outlive broker crashes and restarts (the retry policy and publish_once)."""

import json
import os
import sys
import threading
from typing import Callable, Optional

_GEN = os.path.join(os.path.dirname(os.path.abspath(__file__)), "gen")
if not os.path.isdir(os.path.join(_GEN, "corrbus", "v1")):
    sys.exit(f"generated stubs missing in {_GEN}: run {os.path.join(os.path.dirname(_GEN), 'setup.sh')} first")
sys.path.insert(0, _GEN)

import grpc  # noqa: E402
from google.protobuf.timestamp_pb2 import Timestamp  # noqa: E402

from corrbus.v1 import correlation_pb2, envelope_pb2, service_pb2, service_pb2_grpc, workflow_pb2  # noqa: E402,F401


def connect(socket_path: str) -> tuple[grpc.Channel, service_pb2_grpc.CorrelationServiceStub]:
    """A gRPC channel to the broker's Unix socket (cleartext HTTP/2) and the service stub.

    The broker ignores the :authority, which grpc-core fills with the
    percent-encoded socket path for unix: targets.
    The channel's own reconnect backoff (grpc-core's default: 1 s growing to
    120 s) is set to the examples' policy, 100 ms doubling to 5 s, so a call
    retried after a broker restart finds the channel connecting again soon.
    """
    options = [
        ("grpc.initial_reconnect_backoff_ms", 100),
        ("grpc.min_reconnect_backoff_ms", 100),
        ("grpc.max_reconnect_backoff_ms", 5000),
    ]
    channel = grpc.insecure_channel("unix:" + socket_path, options=options)
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


# Codes that say the request itself is wrong or not allowed: sending it again
# cannot succeed. Everything else (UNAVAILABLE above all: no socket, nobody
# listening, connection lost, broker shutting down; CANCELLED for a stream
# reset under us; INTERNAL/UNKNOWN from a transport that broke midway) is worth
# another attempt once the broker is back. The TypeScript client's list.
PERMANENT_CODES = frozenset(
    code.name
    for code in (
        grpc.StatusCode.INVALID_ARGUMENT,
        grpc.StatusCode.PERMISSION_DENIED,
        grpc.StatusCode.UNAUTHENTICATED,
        grpc.StatusCode.UNIMPLEMENTED,
        grpc.StatusCode.FAILED_PRECONDITION,
        grpc.StatusCode.OUT_OF_RANGE,
        grpc.StatusCode.NOT_FOUND,
        grpc.StatusCode.ALREADY_EXISTS,
    )
)


def retryable(code: str) -> bool:
    """Whether a call that failed with status `code` (a name, as rpc_error gives it) may succeed when made again."""
    return code not in PERMANENT_CODES


class Backoff:
    """Capped exponential backoff: 100 ms doubling to 5 s; `max_attempts` failures in a row (default unbounded).

    Unbounded by default because a broker replaying a long journal must not
    make its collectors give up; the wait between attempts is capped instead.
    """

    def __init__(self, first: float = 0.1, cap: float = 5.0, max_attempts: Optional[int] = None):
        self.first, self.cap, self.max_attempts = first, cap, max_attempts
        self.attempts = 0

    def next_delay(self) -> Optional[float]:
        """The wait before the next attempt (counting this failure), or None when the attempts are used up."""
        if self.max_attempts is not None and self.attempts >= self.max_attempts:
            return None
        delay = min(self.first * 2 ** min(self.attempts, 30), self.cap)
        self.attempts += 1
        return delay

    def reset(self) -> None:
        """After a success: the next failure waits the first delay again."""
        self.attempts = 0


class Stopped(Exception):
    """The process was asked to stop (SIGTERM/SIGINT) while it waited to retry."""


def publish_once(
    service,
    envelope,
    stop: threading.Event,
    on_retry: Callable[[int, dict], None] = lambda attempt, error: None,
    max_attempts: Optional[int] = None,
) -> tuple[bool, int]:
    """Publishes a correlated envelope exactly once across broker crashes and restarts.

    Answers (already_stored, retries). A publish whose connection is lost has an
    unknown outcome: the broker may have stored the event and died before
    answering. So the same envelope (same correlation_id, source_process and
    sequence_number) is kept, and once the broker answers again, GetWorkflow
    tells whether this publisher's last_sequence_number in that correlation
    already covers it: then nothing is sent again. On NOT_FOUND (the broker no
    longer tracks the correlation) it is sent again: at-least-once in that
    corner. Holds while one process publishes under its source_process name and
    numbers its events 1, 2, 3... per correlation. A request the broker refuses
    (INVALID_ARGUMENT, ...) raises its grpc.RpcError at once.
    """
    meta = envelope.correlation_metadata
    backoff = Backoff(max_attempts=max_attempts)

    def wait_or_raise(error: grpc.RpcError) -> None:
        failure = rpc_error(error)
        # RESOURCE_EXHAUSTED on a publish is the event over a limit: no retry makes it fit.
        if not retryable(failure["code"]) or failure["code"] == "RESOURCE_EXHAUSTED":
            raise error
        delay = backoff.next_delay()
        if delay is None:
            raise error
        on_retry(backoff.attempts, failure)
        if stop.wait(delay):
            raise Stopped()

    while True:
        try:
            service.Publish(service_pb2.PublishRequest(envelope=envelope), timeout=10)
            return False, backoff.attempts
        except grpc.RpcError as error:
            wait_or_raise(error)
        # The outcome is unknown: ask the broker (as soon as it answers) whether it has the event.
        while True:
            try:
                state = service.GetWorkflow(service_pb2.GetWorkflowRequest(correlation_id=meta.correlation_id), timeout=10)
                mine = [p for p in state.workflow.participants if p.source_process == meta.source_process]
                if mine and mine[0].last_sequence_number >= meta.sequence_number:
                    return True, backoff.attempts
                break
            except grpc.RpcError as error:
                if rpc_error(error)["code"] == "NOT_FOUND":
                    break
                wait_or_raise(error)
