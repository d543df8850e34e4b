import { DeliverPolicy, jetstream, jetstreamManager } from "@nats-io/jetstream";
import { connect } from "@nats-io/transport-node";
import { expect } from "vitest";
import { runCli } from "./broker-process.js";

/** `corrbus journal dump` of a data directory: every journaled event as JSON (proto names). */
export async function journalEvents(dataDir: string): Promise<Record<string, unknown>[]> {
  const result = await runCli(["journal", "dump", "--data-dir", dataDir]);
  expect(result.code, result.stderr).toBe(0);
  return result.stdout
    .trim()
    .split("\n")
    .filter((line) => line !== "")
    .map((line) => JSON.parse(line));
}

/** Every message in the stream as (host id, event id), read by an ordered consumer from a process of the test's own. */
export async function streamEvents(url: string | string[]): Promise<{ host: string; id: number }[]> {
  const nc = await connect({ servers: url });
  try {
    const info = await (await jetstreamManager(nc)).streams.info("CORRBUS");
    const total = info.state.messages;
    // A cluster that just lost a node may time out creating the consumer while it elects new leaders: a few tries.
    let consumer: Awaited<ReturnType<ReturnType<typeof jetstream>["consumers"]["get"]>> | undefined;
    for (let attempt = 1; consumer === undefined; attempt++) {
      try {
        consumer = await jetstream(nc).consumers.get("CORRBUS", { deliver_policy: DeliverPolicy.All });
      } catch (error) {
        if (attempt === 4) throw error;
      }
    }
    const out: { host: string; id: number }[] = [];
    const messages = await consumer.consume();
    for await (const message of messages) {
      const msgId = message.headers?.get("Nats-Msg-Id") ?? "";
      const dash = msgId.lastIndexOf("-");
      out.push({ host: msgId.slice(0, dash), id: Number(msgId.slice(dash + 1)) });
      if (out.length >= total) break;
    }
    return out;
  } finally {
    await nc.close();
  }
}

/** `promise`, or a failure naming what did not finish within `ms`. */
export function within<T>(promise: Promise<T>, ms: number, what: () => string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`not done within ${ms} ms: ${what()}`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}
