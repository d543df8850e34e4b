#!/usr/bin/env python3
"""A corrbus collector in Python (grpcio over the broker's Unix socket).

    .venv/bin/python collector.py --socket PATH --name NAME [--pattern PATTERN] [--hold]
        [--work-ms MS] [--max-reconnects N]

Subscribes to tasks (default pattern control.collector.task.#) as NAME and
answers each correlated task with one final result on
events.collector.<stage>.result. Prints JSON lines: ready, task, answered,
retry, reconnect, resumed, error. Exits 0 on SIGTERM/SIGINT, 1 when the
broker refuses a request or --max-reconnects attempts in a row failed.

It outlives broker crashes and restarts: any connection loss is retried with
backoff (100 ms doubling to 5 s), the subscription resumes by replay from the
event after the last one seen (nothing missed, nothing twice), and each
answer is published once (corrbus_common.publish_once).
"""

import argparse
import json
import os
import signal
import sys
import threading
from collections import defaultdict

import corrbus_common as cb
from corrbus_common import correlation_pb2, envelope_pb2, grpc, service_pb2


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--socket", required=True, help="the broker's Unix socket")
    parser.add_argument("--name", required=True, help="subscriber name, also the results' source_process")
    parser.add_argument("--pattern", default="control.collector.task.#", help="topic pattern of the tasks")
    parser.add_argument("--hold", action="store_true", help="print tasks but never answer them")
    parser.add_argument("--work-ms", type=int, default=0, help="time each task's work takes before the answer (default 0)")
    parser.add_argument("--max-reconnects", type=int, default=0, help="give up after N failed attempts in a row (default 0: never)")
    args = parser.parse_args()

    pid = os.getpid()
    channel, service = cb.connect(args.socket)
    stop = threading.Event()
    stream = None

    def on_signal(_signum, _frame):
        stop.set()
        if stream is not None:
            stream.cancel()  # ends the iteration below with CANCELLED

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)

    sequence = defaultdict(int)  # per correlation: this process's last sequence_number

    def answer(task) -> None:
        meta = task.correlation_metadata
        if args.work_ms > 0 and stop.wait(args.work_ms / 1000):
            raise cb.Stopped()
        sequence[meta.correlation_id] += 1
        answer_meta = correlation_pb2.CorrelationMetadata(
            correlation_id=meta.correlation_id,
            root_correlation_id=meta.root_correlation_id,
            correlation_tags=dict(meta.correlation_tags),
            workflow_stage=meta.workflow_stage,
            source_process=args.name,
            sequence_number=sequence[meta.correlation_id],
            final=True,
        )
        if meta.HasField("parent_correlation_id"):
            answer_meta.parent_correlation_id = meta.parent_correlation_id
        if meta.HasField("started_at"):
            answer_meta.started_at.CopyFrom(meta.started_at)
        payload = {"collector": args.name, "language": "python", "stage": meta.workflow_stage, "pid": pid}
        envelope = envelope_pb2.EventEnvelope(
            topic=f"events.collector.{meta.workflow_stage}.result",
            payload=json.dumps(payload, separators=(",", ":")).encode("utf-8"),
            content_type="application/json",
            timestamp=cb.now(),
            publisher_process_id=pid,
            correlation_metadata=answer_meta,
        )
        already_stored, retries = cb.publish_once(
            service,
            envelope,
            stop,
            on_retry=lambda attempt, error: cb.emit(type="retry", correlationId=meta.correlation_id, attempt=attempt, **error),
        )
        cb.emit(type="answered", correlationId=meta.correlation_id, alreadyStored=already_stored, retries=retries)

    backoff = cb.Backoff(max_attempts=args.max_reconnects or None)
    seen = None  # the newest event id handled (or, before any, the head at the first subscribe)
    try:
        while True:
            request = service_pb2.SubscribeRequest(patterns=[args.pattern], subscriber_name=args.name, subscriber_process_id=pid)
            if seen is not None:
                request.from_event_id = seen + 1  # replay what was stored while we were away
            stream = service.Subscribe(request)
            try:
                for response in stream:
                    if response.subscribed:
                        if seen is None:
                            seen = response.head_event_id
                            cb.emit(type="ready")
                        else:
                            cb.emit(type="resumed", fromEventId=str(request.from_event_id))
                        backoff.reset()
                    for task in response.events:
                        if task.event_id <= seen:
                            continue  # handled before the connection was lost
                        if task.HasField("correlation_metadata"):
                            meta = task.correlation_metadata
                            cb.emit(type="task", correlationId=meta.correlation_id, stage=meta.workflow_stage, eventId=str(task.event_id))
                            if not args.hold:
                                try:
                                    answer(task)
                                except grpc.RpcError as error:  # a publish the broker refused
                                    cb.emit(type="error", **cb.rpc_error(error))
                                    return 1
                        seen = task.event_id
                # The broker closed the stream without an error status: the subscription is gone all the same.
                failure = {"code": "UNAVAILABLE", "message": "the broker ended the subscription stream"}
            except grpc.RpcError as error:
                failure = cb.rpc_error(error)
            if stop.is_set():
                return 0
            delay = backoff.next_delay() if cb.retryable(failure["code"]) else None
            if delay is None:
                cb.emit(type="error", **failure)
                return 1
            cb.emit(type="reconnect", attempt=backoff.attempts, **failure)
            if stop.wait(delay):
                return 0
    except cb.Stopped:
        return 0
    finally:
        channel.close()


if __name__ == "__main__":
    sys.exit(main())
