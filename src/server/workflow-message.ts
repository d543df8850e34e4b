import { create } from "@bufbuild/protobuf";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import { CompletionStatus, DeliveryState, type WorkflowState, WorkflowStateSchema } from "../../gen/corrbus/v1/workflow_pb.js";
import type { CorrelationView } from "../core/broker-ports.js";
import { WorkflowTracker } from "../core/tracking/workflow-tracker.js";

const statusCodes = {
  open: CompletionStatus.OPEN,
  pending: CompletionStatus.PENDING,
  complete: CompletionStatus.COMPLETE,
  incomplete: CompletionStatus.INCOMPLETE,
} as const;

const deliveryCodes = {
  pending: DeliveryState.PENDING,
  answered: DeliveryState.ANSWERED,
  disconnected: DeliveryState.DISCONNECTED,
} as const;

/** Translates the tracker's view of a correlation into the wire WorkflowState. */
export function toWorkflowState(view: CorrelationView): WorkflowState {
  const { state } = view;
  return create(WorkflowStateSchema, {
    correlationId: state.id,
    parentCorrelationId: state.parentId,
    rootCorrelationId: state.rootId,
    depth: state.depth,
    orphan: view.orphan,
    stages: [...state.stages.values()].map((stage) => ({
      name: stage.name,
      firstEventAt: timestampFromMs(stage.firstAt),
      lastEventAt: timestampFromMs(stage.lastAt),
      eventCount: BigInt(stage.eventCount),
      completedAt: stage.completedAt === undefined ? undefined : timestampFromMs(stage.completedAt),
    })),
    participants: [...state.participants.values()].map((participant) => ({
      sourceProcess: participant.sourceProcess,
      pid: participant.pid,
      verified: participant.verified,
      eventCount: BigInt(participant.eventCount),
      finalSent: participant.finalSent,
      lastSequenceNumber: participant.lastSequence,
    })),
    totalEvents: BigInt(state.totalEvents),
    gaps: state.gaps.map((gap) => ({
      sourceProcess: gap.sourceProcess,
      firstMissing: gap.firstMissing,
      lastMissing: gap.lastMissing,
    })),
    status: view.tracked ? statusCodes[WorkflowTracker.status(state)] : CompletionStatus.UNSPECIFIED,
    deliveries: [...state.deliveries.values()].map((delivery) => ({
      subscriberName: delivery.subscriberName,
      subscriberPid: delivery.subscriberPid,
      queueGroup: delivery.queueGroup,
      state: deliveryCodes[delivery.state],
      reason: delivery.reason,
    })),
    firstEventAt: timestampFromMs(state.firstAt),
    lastEventAt: timestampFromMs(state.lastAt),
    completedAt: state.completedAt === undefined ? undefined : timestampFromMs(state.completedAt),
    correlationTags: { ...state.tags },
    childCorrelationIds: view.childIds,
  });
}
