#!/usr/bin/env python3
"""A corrbus collector in Python (grpcio over the broker's Unix socket).

    .venv/bin/python collector.py --socket PATH --name NAME [--pattern PATTERN] [--hold]

Subscribes to tasks (default pattern control.collector.task.#) as NAME and
answers each correlated task with one final result on
events.collector.<stage>.result. Prints JSON lines: ready, task, answered,
error. Exits 0 on SIGTERM/SIGINT, 1 when the stream fails.
"""

import argparse
import json
import os
import signal
import sys
from collections import defaultdict

import corrbus_common as cb
from corrbus_common import correlation_pb2, envelope_pb2, grpc, service_pb2


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--socket", required=True, help="the broker's Unix socket")
    parser.add_argument("--name", required=True, help="subscriber name, also the results' source_process")
    parser.add_argument("--pattern", default="control.collector.task.#", help="topic pattern of the tasks")
    parser.add_argument("--hold", action="store_true", help="print tasks but never answer them")
    args = parser.parse_args()

    pid = os.getpid()
    channel, service = cb.connect(args.socket)
    stream = service.Subscribe(
        service_pb2.SubscribeRequest(patterns=[args.pattern], subscriber_name=args.name, subscriber_process_id=pid)
    )

    stopping = False

    def stop(_signum, _frame):
        nonlocal stopping
        stopping = True
        stream.cancel()  # ends the iteration below with CANCELLED

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)

    sequence = defaultdict(int)  # per correlation: this process's last sequence_number
    try:
        for response in stream:
            if response.subscribed:
                cb.emit(type="ready")
            for task in response.events:
                if not task.HasField("correlation_metadata"):
                    continue
                meta = task.correlation_metadata
                cb.emit(type="task", correlationId=meta.correlation_id, stage=meta.workflow_stage)
                if args.hold:
                    continue
                sequence[meta.correlation_id] += 1
                answer = correlation_pb2.CorrelationMetadata(
                    correlation_id=meta.correlation_id,
                    root_correlation_id=meta.root_correlation_id,
                    correlation_tags=dict(meta.correlation_tags),
                    workflow_stage=meta.workflow_stage,
                    source_process=args.name,
                    sequence_number=sequence[meta.correlation_id],
                    final=True,
                )
                if meta.HasField("parent_correlation_id"):
                    answer.parent_correlation_id = meta.parent_correlation_id
                if meta.HasField("started_at"):
                    answer.started_at.CopyFrom(meta.started_at)
                payload = {"collector": args.name, "language": "python", "stage": meta.workflow_stage, "pid": pid}
                service.Publish(
                    service_pb2.PublishRequest(
                        envelope=envelope_pb2.EventEnvelope(
                            topic=f"events.collector.{meta.workflow_stage}.result",
                            payload=json.dumps(payload, separators=(",", ":")).encode("utf-8"),
                            content_type="application/json",
                            timestamp=cb.now(),
                            publisher_process_id=pid,
                            correlation_metadata=answer,
                        )
                    ),
                    timeout=10,
                )
                cb.emit(type="answered", correlationId=meta.correlation_id)
    except grpc.RpcError as error:
        if stopping:
            return 0
        cb.emit(type="error", **cb.rpc_error(error))
        return 1
    finally:
        channel.close()
    if stopping:
        return 0
    # The broker closed the stream without an error status: the subscription is gone all the same.
    cb.emit(type="error", code="UNAVAILABLE", message="the broker ended the subscription stream")
    return 1


if __name__ == "__main__":
    sys.exit(main())
