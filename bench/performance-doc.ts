import { existsSync, readFileSync, writeFileSync } from "node:fs";

/** Start of the generated part of docs/performance.md; everything outside the markers is hand-written. */
export const startMarker = "<!-- bench:start -->";
/** End of the generated part. */
export const endMarker = "<!-- bench:end -->";

/** The page written when docs/performance.md does not exist yet: the method, then the markers. */
const template = `# Performance

\`npm run bench\` builds the project and runs \`dist/bench/run.js\`. It starts the broker as its own
process on a temporary socket (\`corrbus serve\`, as users run it) and measures it from separate
client processes, then prints one table and writes it here and to \`bench/results.json\`.

## Method

- **Same-run ratios.** The machine is a shared 2-core VM that varies by about ±25 % between runs
  (the baseline measured on this kind of machine before corrbus existed). Figures are compared only with figures measured in the same run: the floor
  (a raw Unix-socket echo and a raw \`node:http2\` POST of the same bytes as an encoded
  PublishRequest with metadata, served by a separate process) and the in-broker cost of the same
  query, and NATS (nats-server with JetStream) measured by the same run.
- **Against NATS.** The bench starts nats-server (\`-js\`, file storage in a temporary directory,
  a loopback port, its defaults otherwise except \`max_pending\` raised as the broker's
  \`--subscriber-queue\` is) beside the first broker and drives it with nats.js
  (\`@nats-io/transport-node\`, \`@nats-io/jetstream\`, pinned devDependencies) with the same
  200-byte payload and the correlation metadata as headers (ids, sequence, stage, source, one
  header per tag). JetStream \`js.publish\`, sequential and acked, takes turns block by block with
  corrbus Publish through the TS client (\`--fsync batch\`, the default, against JetStream's default
  durability). After the PublishStream rows one process publishes to JetStream with 256 calls in
  flight, then a new process replays that stream with an ordered consumer (\`consume()\` with the
  client's defaults). After each Subscribe row one process publishes with NATS core to 1 or 8
  subscriber processes, timed as the corrbus subscribers are. On both sides one TypeScript
  publisher process feeds the subscribers, so a live figure is also bounded by what that publisher
  can send. The second table lists each target of issue 15 as a same-run ratio, with met or NOT
  met; without nats-server (\`scripts/prepare-bench.sh\` installs it) the bench says so and skips only
  the NATS rows.
- **Latency** is sequential calls after a warm-up, reported as p50 / p99 (nearest rank) and calls
  per second. The floor's echo and http2 POST, Publish with and without correlation metadata and with a
  new child correlation per event, and
  the same from two clients taking turns call by call (each its own connection and correlation,
  as collectors publishing at once) take turns in blocks (ABCDEFG ABCDEFG…), so drift hits every
  series alike; a correlation overhead is the p50 difference. The 32-in-flight Publish variants alternate in 20 block pairs
  (ABAB…, 1000 calls a block); their overhead is the median of the pairs' ratios, printed with
  the pairs' middle half (a single slow block moved a summed ratio by ten points).
- **Rates** come from separate processes: PublishStream collectors (batches of 100, pipelined,
  acks counted), aggregated over the union of their run times; subscribers timing their events
  from the first to the last arrival, with cut-offs and drops read from GetStats.
- **Queries** run end-to-end (TS client → broker process) and in-broker (the domain core,
  \`CorrelationBroker\`, in a child process loaded with the same events in the same order: what
  the handler does before serialization: the index lookup and, for each result, the stored
  bytes the answer carries to gRPC and Connect-proto clients; JSON clients also pay a decode).
- **WaitForResults wake-up**: in-broker, from accepting and committing the completing event (\`broker.commit(broker.accept(…))\`) to the
  resolution of the wait's promise; end-to-end, one client waits (registration confirmed by
  GetStats), another client on its own connection publishes the completing event, and the figure
  is the wait's answer time minus the start of that Publish call.
- **Durability policies**: one broker per \`--fsync always|batch|never\`, each with its own
  temporary data directory, all running at once. Sequential Publish with metadata (2000 calls
  after a warm-up) takes turns between them in blocks (ABC ABC…); then one PublishStream collector
  process (batches of 100, 50 000 events) per broker, one broker after another. Ratios are to
  \`never\` in the same run. GetStats' journal counters (records appended, writes, fsyncs), read
  before and after each measurement, give records per write and per fsync: more than 1 is group
  commit.
- **Start-up replay**: the query broker (~1 M events in its journal) is stopped with SIGTERM and
  a new broker is started on the same data directory; the figures are the time from spawn to its
  \`listening\` log line and the \`records\` / \`durationMs\` of its \`journal replayed\` line. The floor is
  the same start with an empty data directory (median of 3), the reference that broker's history
  load through PublishStream.
- **Memory** is the growth of \`heapUsed + external\` of an in-process broker in a
  \`node --expose-gc\` child, after full collections (\`arrayBuffers\` is part of \`external\`),
  measured after a warm-up load into a throwaway broker so that compiled code is not counted.
- **Fleet (issue 16)**, the third table, on a nats-server of its own (a fresh JetStream store):
  two host brokers, one with \`serve --forward\` and one without, take turns block by block with
  sequential Publish (with metadata, the TS client's \`publish()\`): the cost of forwarding is the
  ratio of their p50 and p99. Then 30 000 events go through the TS client's stream publisher
  (\`bus.streamPublisher()\`, in the bench's process) into each; the forwarding rate is timed from the first publish to the
  GetStats answer whose \`forward.acked_event_id\` reached the last event (polled every 10 ms). The
  broker without forwarding is then restarted with \`--forward\` on its data directory: the catch-up
  is timed from its \`listening\` log line to the same answer. A new central broker
  (\`serve --ingest\`) ingests what both forwarded, timed from \`listening\` to \`ingest.stored\`
  reaching the stream's count. Last, 100 simulated hosts' events (1 000 000 in all, 10 000 a
  host, correlations of 100 events, a tag matching 1 %) are published into JetStream as their
  forwarders publish them (the journal's encoding, \`eventSubject\`, \`messageId\` of \`src/fleet/\`),
  from 2 processes each awaiting 256 PubAcks; a new central ingests them (its rate, as above) and
  answers FindByTag end-to-end through \`bus.findByTag\` for that tag (a page of 100) and for the
  same tag and one \`host_id\` (that host's 100 events).
- The broker runs with \`--history-size 2000000 --history-bytes 2147483648\` (nothing is evicted
  while a figure is measured) and, for the delivery figures, \`--subscriber-queue 2000000\`.
  Durability is the default (journal, \`--fsync batch\`) except for the durability brokers, each
  in a temporary data directory that is removed afterwards; the heading of each run says how each
  broker kept its history.
  Each run prints its total duration; it stays well under 10 minutes on the 2-core machine.
  \`node dist/bench/run.js --quick\` is a smoke run of the harness with reduced counts, and
  \`--only fleet\` runs only the fleet phases; both write their figures to the temp directory, not here.
- Nothing here asserts on timing; the numbers are for reading, not for failing a build.

## Latest run

${startMarker}
${endMarker}
`;

/** Replaces what lies between the markers of `path` with `content`, creating the page when missing. */
export function writePerformanceDoc(path: string, content: string): void {
  const page = existsSync(path) ? readFileSync(path, "utf8") : template;
  const start = page.indexOf(startMarker);
  const end = page.indexOf(endMarker);
  if (start < 0 || end < start) throw new Error(`${path}: markers ${startMarker} … ${endMarker} not found`);
  const updated = `${page.slice(0, start + startMarker.length)}\n${content.trim()}\n${page.slice(end)}`;
  writeFileSync(path, updated);
}
