import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { create } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import { afterEach, describe, expect, it } from "vitest";
import { EventEnvelopeSchema } from "../../gen/corrbus/v1/envelope_pb.js";
import { type PublishStreamRequest, PublishStreamRequestSchema } from "../../gen/corrbus/v1/service_pb.js";
import { createCorrelationClient } from "../../src/index.js";
import { type BrokerProcess, startBrokerProcess } from "../helpers/broker-process.js";

// A collector streaming without pause when the broker is told to stop
// (SIGTERM): the stream stops taking batches at once, every batch the broker
// took is acknowledged before the stream ends with UNAVAILABLE, nothing is
// stored that was not acknowledged (a retry then duplicates nothing), and the
// broker exits promptly (0) instead of waiting out its drain timeout.

describe("PublishStream at SIGTERM", () => {
  const cleanup: (() => Promise<unknown> | void)[] = [];
  afterEach(async () => {
    for (const step of cleanup.splice(0).reverse()) await step();
  });

  // Connect binary is served on the lean path unless the broker runs with --no-lean-paths (then by connect-node, as gRPC is).
  const cases = [
    { protocol: "grpc", paths: [] },
    { protocol: "connect", paths: [] },
    { protocol: "connect", paths: ["--no-lean-paths"] },
  ] as const;
  for (const { protocol, paths } of cases) {
    const label = [protocol, ...paths].join(" ");
    it(`should stop taking batches, acknowledge every one it took, store nothing else and exit promptly (${label})`, async () => {
      const directory = mkdtempSync(join(tmpdir(), "corrbus-stream-shutdown-"));
      cleanup.push(() => rmSync(directory, { recursive: true, force: true }));
      const socket = join(directory, "corrbus.sock");
      const args = ["--data-dir", join(directory, "data"), ...paths];
      const started: BrokerProcess[] = [];
      cleanup.push(async () => {
        for (const broker of started) await broker.stop();
      });
      const broker = await startBrokerProcess(args, socket);
      started.push(broker);
      const collector = createCorrelationClient({ socketPath: socket, sourceProcess: "streamer", protocol });
      cleanup.push(() => collector.close());

      let sent = 0;
      async function* endless(): AsyncGenerator<PublishStreamRequest> {
        for (;;) {
          const envelopes = Array.from({ length: 100 }, () =>
            create(EventEnvelopeSchema, { topic: "events.shutdown.tick", payload: new TextEncoder().encode(String(sent++)) }),
          );
          yield create(PublishStreamRequestSchema, { envelopes });
          await new Promise((resolve) => setImmediate(resolve));
        }
      }
      const acked: bigint[] = [];
      let ended: unknown;
      let stopping: Promise<unknown> | undefined;
      let stoppedAfterMs = 0;
      try {
        for await (const ack of collector.service.publishStream(endless())) {
          acked.push(...ack.eventIds);
          if (acked.length >= 2000 && stopping === undefined) {
            const stopAt = performance.now();
            broker.child.once("exit", () => (stoppedAfterMs = performance.now() - stopAt));
            stopping = broker.stop();
          }
        }
      } catch (error) {
        ended = error;
      }
      expect(await stopping).toBe(0);
      expect(ConnectError.from(ended).code).toBe(Code.Unavailable);
      // Once the stream is answered in full nothing is left to drain, though the collector would go on
      // sending: the broker ends well before its drain timeout (5 s), having drained.
      console.log(`${label}: the broker exited ${Math.round(stoppedAfterMs)} ms after SIGTERM`);
      expect(stoppedAfterMs).toBeLessThan(3000);
      expect(broker.logs.find((line) => line.msg === "stopped")).toMatchObject({ drained: true });

      const restarted = await startBrokerProcess(args, socket);
      started.push(restarted);
      const reader = createCorrelationClient({ socketPath: socket, sourceProcess: "reader" });
      cleanup.push(() => reader.close());
      const stats = await reader.service.getStats({});
      // Stored = acknowledged: every acked id is there and nothing beyond the last ack.
      expect(stats.journal?.recordsReplayed).toBe(BigInt(acked.length));
      expect(stats.lastEventId).toBe(acked.at(-1));
    });
  }
});
