/**
 * How much work each figure does. Counts are fixed (never derived from a
 * measured time) so every run does the same work; `--quick` divides them for
 * a smoke run of the harness whose figures are not meant to be compared.
 */
export interface BenchConfig {
  /** True for a reduced smoke run: results are printed, not written to docs/. */
  quick: boolean;
  /** Warm-up calls before each sequential latency series. */
  warmupCalls: number;
  /** Measured sequential calls per series (echo, http2 POST, Publish with and without metadata). */
  sequentialCalls: number;
  /** Blocks per series: the series take turns block by block. */
  sequentialBlocks: number;
  /** Calls in flight for the concurrent Publish figure. */
  inFlight: number;
  /** Measured calls per Publish variant with `inFlight` calls in flight. */
  inFlightCalls: number;
  /** ABAB blocks per Publish variant (in flight): the overhead is the median over the block pairs. */
  inFlightBlocks: number;
  /** Envelopes per PublishStream request message. */
  streamBatch: number;
  /** Events streamed in all, split over the collectors. */
  streamEvents: number;
  /** Warm-up events each stream publisher sends before it reports ready. */
  streamWarmupEvents: number;
  /** Events published to the subscribers (each subscriber gets all of them). */
  subscribeEvents: number;
  /** Warm-up events delivered before the measured ones. */
  subscribeWarmupEvents: number;
  /** Subscriber counts to measure. */
  subscriberCounts: number[];
  /** Collector counts to measure. */
  collectorCounts: number[];
  /** History sizes (tagged events) for FindByTag. */
  findHistorySizes: number[];
  /** FindByTag page size. */
  findLimit: number;
  /** Measured FindByTag calls end-to-end / in-broker. */
  findCallsEndToEnd: number;
  findCallsInBroker: number;
  /** Workflow sizes for GetTimeline, with measured calls end-to-end and in-broker. */
  timelines: { events: number; callsEndToEnd: number; callsInBroker: number }[];
  /** Event counts the memory probe reports. */
  memorySizes: number[];
  /** Measured WaitForResults wake-ups end-to-end / in-broker. */
  waitCallsEndToEnd: number;
  waitCallsInBroker: number;
  /** Longest to poll GetStats for a wait to register before publishing its completing event anyway. */
  waitSettleMs: number;
  /** Journal fsync policies compared, each on its own broker and data directory. */
  fsyncPolicies: ("always" | "batch" | "never")[];
  /** Warm-up calls per policy before the durability Publish series. */
  durabilityWarmupCalls: number;
  /** Measured sequential Publish calls per fsync policy (with metadata). */
  durabilityCalls: number;
  /** Blocks per policy: the policies' brokers take turns block by block. */
  durabilityBlocks: number;
  /** Events one collector streams per fsync policy (after its warm-up). */
  durabilityStreamEvents: number;
  /** Warm-up events of that collector. */
  durabilityStreamWarmupEvents: number;
  /** Events streamed into each host broker of the fleet rows (forwarding on, and off for the catch-up). */
  fleetEvents: number;
  /** Warm-up calls per series of the Publish with forwarding on / off figures. */
  fleetWarmupCalls: number;
  /** Measured sequential Publish calls per series, forwarding on and off taking turns. */
  fleetPublishCalls: number;
  /** Blocks per series of those. */
  fleetPublishBlocks: number;
  /** Simulated hosts whose events fill the stream of the central FindByTag figures. */
  fleetHosts: number;
  /** Events of all simulated hosts together (each host an equal share). */
  fleetFindEvents: number;
  /** Processes publishing the simulated hosts' events, each a share of the hosts. */
  fleetFillProcesses: number;
  /** Measured FindByTag calls end-to-end on the central broker, the query across the fleet. */
  fleetFindCalls: number;
  /** Measured calls of the same query for one host_id (it takes tens of ms at 1 M events, so fewer). */
  fleetFindHostCalls: number;
  /** Longest a multi-process phase may take before its workers are stopped. */
  phaseTimeoutMs: number;
  /** Longest subscribers may take to drain their queues once the publisher is done. */
  drainTimeoutMs: number;
}

/** The full run: well under 10 minutes on the 2-core reference machine. */
export const fullConfig: Readonly<BenchConfig> = Object.freeze({
  quick: false,
  warmupCalls: 1000,
  sequentialCalls: 5000,
  sequentialBlocks: 10,
  inFlight: 32,
  inFlightCalls: 20_000,
  inFlightBlocks: 20,
  streamBatch: 100,
  streamEvents: 200_000,
  streamWarmupEvents: 5_000,
  subscribeEvents: 200_000,
  subscribeWarmupEvents: 5_000,
  subscriberCounts: [1, 8],
  collectorCounts: [1, 4],
  findHistorySizes: [10_000, 1_000_000],
  findLimit: 100,
  findCallsEndToEnd: 1000,
  findCallsInBroker: 5000,
  timelines: [
    { events: 1_000, callsEndToEnd: 200, callsInBroker: 500 },
    { events: 10_000, callsEndToEnd: 20, callsInBroker: 50 },
  ],
  memorySizes: [10_000, 1_000_000],
  waitCallsEndToEnd: 200,
  waitCallsInBroker: 5000,
  waitSettleMs: 100,
  fsyncPolicies: ["always", "batch", "never"] as BenchConfig["fsyncPolicies"],
  durabilityWarmupCalls: 200,
  durabilityCalls: 2000,
  durabilityBlocks: 10,
  durabilityStreamEvents: 50_000,
  durabilityStreamWarmupEvents: 2_000,
  fleetEvents: 30_000,
  fleetWarmupCalls: 500,
  fleetPublishCalls: 3000,
  fleetPublishBlocks: 10,
  fleetHosts: 100,
  fleetFindEvents: 1_000_000,
  fleetFillProcesses: 2,
  fleetFindCalls: 1000,
  fleetFindHostCalls: 100,
  phaseTimeoutMs: 180_000,
  drainTimeoutMs: 60_000,
});

/** A smoke run of every phase at a tenth of the work or less. */
export const quickConfig: Readonly<BenchConfig> = Object.freeze({
  ...fullConfig,
  quick: true,
  warmupCalls: 200,
  sequentialCalls: 1000,
  inFlightCalls: 2000,
  streamEvents: 20_000,
  streamWarmupEvents: 1_000,
  subscribeEvents: 20_000,
  subscribeWarmupEvents: 1_000,
  findHistorySizes: [10_000, 100_000],
  findCallsEndToEnd: 200,
  findCallsInBroker: 500,
  timelines: [
    { events: 1_000, callsEndToEnd: 20, callsInBroker: 50 },
    { events: 10_000, callsEndToEnd: 5, callsInBroker: 10 },
  ],
  memorySizes: [10_000, 100_000],
  waitCallsEndToEnd: 50,
  waitCallsInBroker: 500,
  durabilityWarmupCalls: 50,
  durabilityCalls: 500,
  durabilityStreamEvents: 10_000,
  durabilityStreamWarmupEvents: 500,
  fleetEvents: 5_000,
  fleetWarmupCalls: 100,
  fleetPublishCalls: 500,
  fleetFindEvents: 100_000,
  fleetFindCalls: 200,
  fleetFindHostCalls: 20,
});
