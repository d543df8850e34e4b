#!/usr/bin/env python3
"""A corrbus agent in Python: the multi-stage workflow over grpcio.

    .venv/bin/python agent.py --socket PATH [--timeout SECONDS]

enumeration (root, tag investigation_id=INC-PY-1) on control.collector.task.process,
then integrity (child, tag suspicious_pid=4892 added) on control.collector.task.integrity,
then network_analysis (grandchild) on control.collector.task.network; each stage is
waited on (delivery-tracked WaitForResults), then the whole workflow's timeline is
printed. Prints a JSON line per stage and a closing JSON timeline line; exits 0 only
when all three waits completed.
"""

import argparse
import json
import os
import sys
import uuid

import corrbus_common as cb
from corrbus_common import correlation_pb2, envelope_pb2, grpc, service_pb2, workflow_pb2
from google.protobuf.duration_pb2 import Duration

SOURCE = "python-agent"
STAGES = [
    # (stage, task topic, tags added to the inherited ones)
    ("enumeration", "control.collector.task.process", {"investigation_id": "INC-PY-1"}),
    ("integrity", "control.collector.task.integrity", {"suspicious_pid": "4892"}),
    ("network_analysis", "control.collector.task.network", {}),
]


def correlation(stage: str, tags: dict, parent: correlation_pb2.CorrelationMetadata | None) -> correlation_pb2.CorrelationMetadata:
    """A new step: a root when parent is None, else a child inheriting the parent's root and tags."""
    step_id = str(uuid.uuid4())
    meta = correlation_pb2.CorrelationMetadata(
        correlation_id=step_id,
        root_correlation_id=parent.root_correlation_id if parent else step_id,
        workflow_stage=stage,
        source_process=SOURCE,
        correlation_tags={**(dict(parent.correlation_tags) if parent else {}), **tags},
        started_at=cb.now(),
        sequence_number=1,  # the agent's first (and only) event in each correlation
        final=False,
    )
    if parent is not None:
        meta.parent_correlation_id = parent.correlation_id
    return meta


def tree_lines(timeline: service_pb2.GetTimelineResponse) -> list[str]:
    lines = ["workflow tree:"]
    for step in timeline.correlations:
        stages = ", ".join(f"{stage.name}x{stage.event_count}" for stage in step.stages)
        participants = ",".join(p.source_process for p in step.participants)
        status = workflow_pb2.CompletionStatus.Name(step.status).removeprefix("COMPLETION_STATUS_").lower()
        lines.append(f"{'  ' * (step.depth + 1)}{step.correlation_id} [{stages}] {status} participants={participants}")
    lines.append("events:")
    for event in timeline.events:
        meta = event.correlation_metadata
        final = " (final)" if meta.final else ""
        lines.append(f"  #{event.event_id} {event.topic} [{meta.workflow_stage}] from {meta.source_process} pid={event.publisher.pid}{final}")
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--socket", required=True, help="the broker's Unix socket")
    parser.add_argument("--timeout", type=float, default=10.0, help="seconds each stage's wait may take (default 10)")
    args = parser.parse_args()

    pid = os.getpid()
    wait_timeout = Duration()
    wait_timeout.FromNanoseconds(int(args.timeout * 1e9))
    channel, service = cb.connect(args.socket)
    all_complete = True
    try:
        parent = None
        root = None
        for stage, topic, tags in STAGES:
            step = correlation(stage, tags, parent)
            if root is None:
                root = step
            service.Publish(
                service_pb2.PublishRequest(
                    envelope=envelope_pb2.EventEnvelope(
                        topic=topic,
                        payload=json.dumps({"stage": stage, "agent": SOURCE}).encode("utf-8"),
                        content_type="application/json",
                        timestamp=cb.now(),
                        publisher_process_id=pid,
                        correlation_metadata=step,
                    )
                ),
                timeout=10,
            )
            answer = service.WaitForResults(
                service_pb2.WaitForResultsRequest(correlation_id=step.correlation_id, timeout=wait_timeout),
                timeout=args.timeout + 5,  # the RPC deadline leaves the broker's own timeout room to answer
            )
            all_complete = all_complete and answer.complete
            cb.emit(type="stage", stage=stage, complete=answer.complete, results=len(answer.events))
            parent = step

        timeline = service.GetTimeline(
            service_pb2.GetTimelineRequest(root_correlation_id=root.correlation_id, omit_payloads=True), timeout=10
        )
        for line in tree_lines(timeline):
            print(line, flush=True)
        cb.emit(type="timeline", correlations=len(timeline.correlations), events=len(timeline.events))
    except grpc.RpcError as error:
        cb.emit(type="error", **cb.rpc_error(error))
        return 1
    finally:
        channel.close()
    return 0 if all_complete else 1


if __name__ == "__main__":
    sys.exit(main())
