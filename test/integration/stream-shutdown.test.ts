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
// took is acknowledged before the stream ends with UNAVAILABLE, and nothing
// is stored that was not acknowledged (a retry then duplicates nothing).

describe("PublishStream at SIGTERM", () => {
  const cleanup: (() => Promise<unknown> | void)[] = [];
  afterEach(async () => {
    for (const step of cleanup.splice(0).reverse()) await step();
  });

  for (const protocol of ["grpc", "connect"] as const) {
    it(`should stop taking batches, acknowledge every one it took and store nothing else (${protocol})`, async () => {
      const directory = mkdtempSync(join(tmpdir(), "corrbus-stream-shutdown-"));
      cleanup.push(() => rmSync(directory, { recursive: true, force: true }));
      const socket = join(directory, "corrbus.sock");
      const args = ["--data-dir", join(directory, "data")];
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
      try {
        for await (const ack of collector.service.publishStream(endless())) {
          acked.push(...ack.eventIds);
          if (acked.length >= 2000) stopping ??= broker.stop();
        }
      } catch (error) {
        ended = error;
      }
      expect(await stopping).toBe(0);
      expect(ConnectError.from(ended).code).toBe(Code.Unavailable);

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
