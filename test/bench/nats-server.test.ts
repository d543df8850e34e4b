import { existsSync } from "node:fs";
import { jetstream, jetstreamManager, StorageType } from "@nats-io/jetstream";
import { connect } from "@nats-io/transport-node";
import { describe, expect, it } from "vitest";
import { natsServerVersion, startNatsServer } from "../helpers/nats-server.js";

// Debian's nats-server, installed by .ci/run and scripts/prepare-bench.sh.
const hasNatsServer = natsServerVersion() !== undefined;
const inCi = process.env.CI === "true";
if (!hasNatsServer && !inCi) console.warn("nats-server.test: skipped, nats-server not found (bash scripts/prepare-bench.sh)");

describe("the bench's nats-server", () => {
  describe("when the executable is installed", () => {
    it.skipIf(!hasNatsServer && !inCi)(
      "should serve a JetStream file-storage publish with headers on loopback, then stop cleanly and remove its store",
      async () => {
        const server = await startNatsServer();
        expect(server).toBeDefined();
        const storeDirectory = /Store Directory: "(.*)"/.exec(server!.logs.join("\n"))?.[1];
        try {
          expect(server!.url).toMatch(/^nats:\/\/127\.0\.0\.1:\d+$/);
          expect(server!.version).toMatch(/^\d+\.\d+\.\d+/);
          const nc = await connect({ servers: server!.url });
          try {
            await (await jetstreamManager(nc)).streams.add({ name: "TEST", subjects: ["test.>"], storage: StorageType.File });
            const ack = await jetstream(nc).publish("test.one", new Uint8Array(200));
            expect(ack.stream).toBe("TEST");
            expect(ack.seq).toBe(1);
          } finally {
            await nc.close();
          }
          expect(storeDirectory !== undefined && existsSync(storeDirectory)).toBe(true);
        } finally {
          expect(await server!.stop()).toBe(0);
        }
        expect(existsSync(storeDirectory!)).toBe(false);
      },
    );
  });

  describe("when the executable is missing", () => {
    it("should answer undefined, so the bench skips only its NATS rows", async () => {
      expect(natsServerVersion("/nonexistent/nats-server")).toBeUndefined();
      expect(await startNatsServer({ command: "/nonexistent/nats-server" })).toBeUndefined();
    });
  });
});
