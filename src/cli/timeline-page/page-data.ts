/**
 * The JSON block `#corrbus-data` that `renderTimelineHtml` (src/cli/html-timeline.ts) writes into the page.
 *
 * The timeline is the protobuf JSON of a GetTimelineResponse, so 64-bit integers arrive as strings, enums as
 * their names, timestamps as RFC 3339 text and bytes as base64; fields at their default value are left out,
 * which is why every field here is optional. Only the fields the page reads are declared.
 */
export interface PageData {
  title?: string;
  /** When the page was written (ISO 8601). */
  generatedAt?: string;
  /** Each event's payload size before the payload was cut to what the preview shows, by event id. */
  payloadSizes?: Record<string, number>;
  timeline?: TimelineJson;
}

/** A GetTimelineResponse. */
export interface TimelineJson {
  events?: EventJson[];
  correlations?: WorkflowStateJson[];
  truncated?: boolean;
}

/** An EventEnvelope. */
export interface EventJson {
  topic?: string;
  /** Base64, at most the bytes the preview shows. */
  payload?: string;
  contentType?: string;
  timestamp?: string;
  publisherProcessId?: number;
  correlationMetadata?: MetadataJson;
  eventId?: string;
  receivedAt?: string;
  publisher?: PublisherJson;
}

/** A CorrelationMetadata. */
export interface MetadataJson {
  correlationId?: string;
  parentCorrelationId?: string;
  rootCorrelationId?: string;
  sequenceNumber?: string;
  workflowStage?: string;
  sourceProcess?: string;
  correlationTags?: Record<string, string>;
  final?: boolean;
}

/** A PublisherIdentity. */
export interface PublisherJson {
  pid?: number;
  uid?: number;
  gid?: number;
  verified?: boolean;
  statedPid?: number;
  statedPidMismatch?: boolean;
}

/** A WorkflowState: one correlation of the workflow. */
export interface WorkflowStateJson {
  correlationId: string;
  parentCorrelationId?: string;
  rootCorrelationId?: string;
  depth?: number;
  orphan?: boolean;
  stages?: StageJson[];
  participants?: ParticipantJson[];
  totalEvents?: string;
  gaps?: GapJson[];
  status?: string;
  deliveries?: DeliveryJson[];
  firstEventAt?: string;
  lastEventAt?: string;
  completedAt?: string;
  childCorrelationIds?: string[];
}

/** A StageInfo. */
export interface StageJson {
  name?: string;
  firstEventAt?: string;
  lastEventAt?: string;
  eventCount?: string;
  completedAt?: string;
}

/** A Participant. */
export interface ParticipantJson {
  sourceProcess?: string;
  pid?: number;
  verified?: boolean;
  eventCount?: string;
  finalSent?: boolean;
  lastSequenceNumber?: string;
}

/** A SequenceGap. */
export interface GapJson {
  sourceProcess?: string;
  firstMissing?: string;
  lastMissing?: string;
}

/** A Delivery. */
export interface DeliveryJson {
  subscriberName?: string;
  subscriberPid?: number;
  queueGroup?: string;
  state?: string;
}

/** The data block of this page. */
export function readPageData(): PageData {
  return JSON.parse(document.getElementById("corrbus-data")?.textContent ?? "") as PageData;
}
