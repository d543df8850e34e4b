import { create } from "@bufbuild/protobuf";
import { timestampNow } from "@bufbuild/protobuf/wkt";
import { v4 as uuidv4 } from "uuid";
import { type CorrelationMetadata, CorrelationMetadataSchema } from "../../gen/corrbus/v1/correlation_pb.js";

/**
 * Metadata for a new workflow: a fresh correlation id that is also the root.
 * `sourceProcess` names the publisher (the collector or agent).
 */
export function newRootCorrelation(stage: string, tags: Record<string, string> = {}, sourceProcess = ""): CorrelationMetadata {
  const id = uuidv4();
  return create(CorrelationMetadataSchema, {
    correlationId: id,
    rootCorrelationId: id,
    workflowStage: stage,
    sourceProcess,
    correlationTags: { ...tags },
    startedAt: timestampNow(),
  });
}

/**
 * Metadata for a step started from `parent`: same root, parent linked, the
 * parent's tags inherited (so a search by investigation_id finds every step)
 * and `tags` added over them.
 */
export function childCorrelation(
  parent: CorrelationMetadata,
  stage: string,
  tags: Record<string, string> = {},
  sourceProcess = parent.sourceProcess,
): CorrelationMetadata {
  return create(CorrelationMetadataSchema, {
    correlationId: uuidv4(),
    parentCorrelationId: parent.correlationId,
    rootCorrelationId: parent.rootCorrelationId,
    workflowStage: stage,
    sourceProcess,
    correlationTags: { ...parent.correlationTags, ...tags },
    startedAt: timestampNow(),
  });
}

/**
 * Metadata to answer within someone else's correlation (e.g. a collector
 * replying to a task): same ids and tags, this publisher's stage and name.
 */
export function answerCorrelation(task: CorrelationMetadata, sourceProcess: string, stage = task.workflowStage): CorrelationMetadata {
  return create(CorrelationMetadataSchema, {
    correlationId: task.correlationId,
    parentCorrelationId: task.parentCorrelationId,
    rootCorrelationId: task.rootCorrelationId,
    workflowStage: stage,
    sourceProcess,
    correlationTags: { ...task.correlationTags },
    startedAt: task.startedAt,
  });
}
