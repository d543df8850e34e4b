/**
 * Every bound the broker enforces, in one place. Each has a default chosen for
 * one host with a handful of collectors; each is a `corrbus serve` option.
 */
export interface BrokerLimits {
  /** Largest payload in bytes. Default 1 MiB: bigger blobs belong in files. */
  maxPayloadBytes: number;
  /** Most correlation tags on one event. Default 64. */
  maxTags: number;
  /** Longest tag key in bytes. Default 128. */
  maxTagKeyBytes: number;
  /** Longest tag value in bytes. Default 1024. */
  maxTagValueBytes: number;
  /** Longest workflow_stage, source_process, content_type, subscriber name. Default 128. */
  maxNameBytes: number;
  /** Most envelopes in one PublishStream batch. Default 1000. */
  maxBatchEnvelopes: number;
  /** Most patterns in one subscription. Default 64. */
  maxPatterns: number;
  /** Most concurrent subscribers. Default 1024. */
  maxSubscribers: number;
  /** Events queued for one subscriber before it is cut off. Default 10 000. */
  subscriberQueueEvents: number;
  /** Events in history. Default 1 000 000. */
  historyMaxEvents: number;
  /** Stored bytes in history. Default 512 MiB. */
  historyMaxBytes: number;
  /**
   * Estimated bytes history (events, indexes, shared metadata) and the
   * workflow tracker may retain together; past it the oldest events are
   * evicted, and tracked correlations past a quarter of it (least recently
   * active first). Default: about half the V8 heap limit (memoryLimitForHeap), so
   * that the broker evicts long before the heap runs out, whatever the heap
   * limit (`--max-old-space-size`); `corrbus serve` derives it from the heap
   * it runs with, this constant from Node's usual 4 GiB heap limit.
   */
  memoryLimitBytes: number;
  /** Events older than this (ms) leave history, and the journal with them. Default 30 days. */
  historyMaxAgeMs: number;
  /** Correlations tracked at once; the least recently active go first. Default 100 000. */
  maxActiveWorkflows: number;
  /** A correlation idle this long (ms) is forgotten by the tracker. Default 1 h. */
  workflowIdleMs: number;
  /** Deepest correlation tree (root = depth 0). Default 8. */
  maxLineageDepth: number;
  /**
   * After a restart, how long (ms) a task's recipient that was pending at the
   * crash has to subscribe again (by the same subscriber_name) before its
   * delivery counts as disconnected. Default 30 s.
   */
  resumeGraceMs: number;
  /** Most WaitForResults calls waiting at once. Default 10 000. */
  maxWaiters: number;
  /** Longest WaitForResults timeout (ms). Default 1 h. */
  maxWaitMs: number;
  /** WaitForResults timeout when none is given (ms). Default 30 s. */
  defaultWaitMs: number;
  /** Most tag pairs in one FindByTag query. Default 16. */
  maxQueryTags: number;
  /** Largest FindByTag page. Default 1000. */
  maxFindLimit: number;
  /** Largest GetTimeline page. Default 100 000. */
  maxTimelineLimit: number;
}

/**
 * The default memory limit for a V8 heap limit (`heap_size_limit`): half of
 * what the heap has beyond `heapReserveBytes`, at least 8 MiB. The reserve is
 * V8's young generation (counted in heap_size_limit, where nothing stays) and
 * the broker's own code and modules; the other half is headroom: what the
 * estimates miss, garbage between collections (a collector that finds the
 * heap nearly full works harder and harder), requests and answers in flight,
 * subscriber queues.
 */
export function memoryLimitForHeap(heapLimitBytes: number): number {
  return Math.max(8 * 1024 * 1024, Math.floor((heapLimitBytes - heapReserveBytes) * memoryShareOfHeap));
}

/** What the heap limit holds besides history and workflows: the young generation (48 MiB on 64-bit) and the broker's code and modules. */
const heapReserveBytes = 80 * 1024 * 1024;
const memoryShareOfHeap = 0.5;

/** The share of memoryLimitBytes tracked correlations may retain. */
export const workflowShareOfMemory = 0.25;

/** The defaults of every limit. */
export const defaultBrokerLimits: Readonly<BrokerLimits> = Object.freeze({
  maxPayloadBytes: 1024 * 1024,
  maxTags: 64,
  maxTagKeyBytes: 128,
  maxTagValueBytes: 1024,
  maxNameBytes: 128,
  maxBatchEnvelopes: 1000,
  maxPatterns: 64,
  maxSubscribers: 1024,
  subscriberQueueEvents: 10_000,
  historyMaxEvents: 1_000_000,
  historyMaxBytes: 512 * 1024 * 1024,
  memoryLimitBytes: memoryLimitForHeap(4 * 1024 * 1024 * 1024),
  historyMaxAgeMs: 30 * 24 * 60 * 60 * 1000,
  maxActiveWorkflows: 100_000,
  workflowIdleMs: 60 * 60 * 1000,
  maxLineageDepth: 8,
  resumeGraceMs: 30_000,
  maxWaiters: 10_000,
  maxWaitMs: 60 * 60 * 1000,
  defaultWaitMs: 30_000,
  maxQueryTags: 16,
  maxFindLimit: 1000,
  maxTimelineLimit: 100_000,
});

/** Fills defaults and refuses nonsense (a non-positive or non-integer bound). */
export function validateBrokerLimits(limits: Partial<BrokerLimits> = {}): BrokerLimits {
  const merged: BrokerLimits = { ...defaultBrokerLimits };
  for (const [key, value] of Object.entries(limits) as [keyof BrokerLimits, number | undefined][]) {
    if (value === undefined) continue;
    if (!Object.hasOwn(defaultBrokerLimits, key)) throw new Error(`unknown limit "${key}"`);
    if (!Number.isSafeInteger(value) || value < 1) {
      throw new Error(`limit ${key}: ${value} is not a positive integer`);
    }
    merged[key] = value;
  }
  return merged;
}
