import { DeliverPolicy, jetstream, jetstreamManager } from "@nats-io/jetstream";
import { type NodeConnectionOptions, connect } from "@nats-io/transport-node";
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

/** Every message in the stream as (host id, event id), read by an ordered consumer from a process of the test's own; `link` adds TLS and credentials. */
export async function streamEvents(url: string | string[], link: Omit<NodeConnectionOptions, "servers"> = {}): Promise<{ host: string; id: number }[]> {
  const nc = await connect({ ...link, servers: url });
  try {
    // A cluster that just lost a node may time out JetStream API requests while it elects new leaders: a few tries each.
    const info = await retried(async () => (await jetstreamManager(nc)).streams.info("CORRBUS"));
    const total = info.state.messages;
    const consumer = await retried(() => jetstream(nc).consumers.get("CORRBUS", { deliver_policy: DeliverPolicy.All }));
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

/** How many messages the stream holds, as JetStream reports it (a few tries, as above). */
export async function streamMessageCount(url: string | string[]): Promise<number> {
  const nc = await connect({ servers: url });
  try {
    return (await retried(async () => (await jetstreamManager(nc)).streams.info("CORRBUS"))).state.messages;
  } finally {
    await nc.close();
  }
}

async function retried<T>(attempt: () => Promise<T>, tries = 4): Promise<T> {
  for (let left = tries - 1; ; left--) {
    try {
      return await attempt();
    } catch (error) {
      if (left === 0) throw error;
    }
  }
}
