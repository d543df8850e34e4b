import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { toJson } from "@bufbuild/protobuf";
import fc from "fast-check";
import { afterEach, describe, expect, it } from "vitest";
import { WorkflowStateSchema } from "../../gen/corrbus/v1/workflow_pb.js";
import type { PeerIdentity } from "../../src/core/broker-ports.js";
import { CorrelationBroker } from "../../src/core/correlation-broker.js";
import type { Subscription } from "../../src/core/routing/subscription.js";
import { toWorkflowState } from "../../src/server/workflow-message.js";
import { Journal } from "../../src/storage/journal.js";
import { envelope, uuidFor } from "../core/core-fixtures.js";

// Delivery-tracked workflow state across restarts, through the real journal
// on disk: a broker that stops (closing its journal) or dies (its journal
// left as the OS has it) and a new broker on the same directory answer
// GetWorkflow alike for everything that happened before.

const peer: PeerIdentity = { verified: false };
const resumeGraceMs = 30_000;
const waitingReason = "the broker restarted; waiting for the subscriber to subscribe again";

/** One broker life on a journal directory, on a manual clock shared across lives. */
interface Life {
  broker: CorrelationBroker;
  journal: Journal;
  subscriptions: Map<string, Subscription>;
}

const directories: string[] = [];
afterEach(() => {
  for (const directory of directories.splice(0)) rmSync(directory, { recursive: true, force: true });
});

async function start(directory: string, clock: { now: number }): Promise<Life> {
  const journal = new Journal({ directory, fsync: "never" });
  const broker = new CorrelationBroker({ resumeGraceMs }, () => clock.now, journal);
  const report = await journal.open({ event: (event) => broker.restore(event), fact: (fact) => broker.restoreFact(fact) });
  broker.continueAfter(report.continueAfterId);
  broker.finishRestore();
  return { broker, journal, subscriptions: new Map() };
}

/** What is written is in the OS's hands: as a SIGKILL leaves it. */
async function written(): Promise<void> {
  for (let turn = 0; turn < 3; turn++) await new Promise((resolve) => setImmediate(resolve));
}

function subscribe(life: Life, name: string): void {
  life.subscriptions.set(name, life.broker.subscribe({ patterns: ["control.#"], queueGroup: "", name, statedPid: 0 }, peer));
}

function leave(life: Life, name: string): void {
  const subscription = life.subscriptions.get(name);
  if (subscription === undefined) return;
  life.subscriptions.delete(name);
  life.broker.unsubscribe(subscription);
}

async function task(life: Life, correlation: number, clock: { now: number }): Promise<void> {
  clock.now += 7;
  await life.broker.submit(
    [envelope("control.collector.task", { correlationId: uuidFor(correlation), workflowStage: "enumerate", sourceProcess: "agent" })],
    peer,
    false,
  );
}

async function answer(life: Life, correlation: number, name: string, clock: { now: number }): Promise<void> {
  clock.now += 5;
  await life.broker.submit(
    [envelope("events.collector.result", { correlationId: uuidFor(correlation), workflowStage: "enumerate", sourceProcess: name, final: true })],
    peer,
    false,
  );
}

/** GetWorkflow's answers as JSON, for every correlation the broker knows of. */
function workflows(life: Life, correlations: number): unknown[] {
  const answers: unknown[] = [];
  for (let index = 0; index < correlations; index++) {
    try {
      answers.push(toJson(WorkflowStateSchema, toWorkflowState(life.broker.workflow(uuidFor(index)))));
    } catch {
      answers.push("not found");
    }
  }
  return answers;
}

/** What a restart changes: a pending delivery now waits for its recipient to come back. */
function afterRestart(before: unknown[]): unknown[] {
  return JSON.parse(JSON.stringify(before), (_key, value) =>
    value !== null && typeof value === "object" && value.state === "DELIVERY_STATE_PENDING" ? { ...value, reason: waitingReason } : value,
  );
}

/** A broker life that delivered a task to collector-a and died before the answer. */
async function pendingAtCrash(): Promise<{ directory: string; clock: { now: number } }> {
  const directory = workspace();
  const clock = { now: 1_700_000_000_000 };
  const first = await start(directory, clock);
  subscribe(first, "collector-a");
  await task(first, 0, clock);
  await written();
  return { directory, clock };
}

function workspace(): string {
  const directory = mkdtempSync(join(tmpdir(), "corrbus-workflow-restart-"));
  directories.push(directory);
  return directory;
}

describe("workflow state across a restart", () => {
  for (const stop of ["SIGTERM", "SIGKILL"] as const) {
    it(`should answer GetWorkflow after a ${stop}-style stop as before it: deliveries, answers, completion and their times`, async () => {
      const directory = workspace();
      const clock = { now: 1_700_000_000_000 };
      const first = await start(directory, clock);
      subscribe(first, "collector-a");
      subscribe(first, "collector-b");
      await task(first, 0, clock);
      await answer(first, 0, "collector-a", clock);
      await answer(first, 0, "collector-b", clock);
      await task(first, 1, clock);
      await answer(first, 1, "collector-a", clock);
      leave(first, "collector-b");
      await task(first, 2, clock);
      const before = workflows(first, 3);
      expect((before as { status: string }[]).map((state) => state.status)).toEqual([
        "COMPLETION_STATUS_COMPLETE",
        "COMPLETION_STATUS_INCOMPLETE",
        "COMPLETION_STATUS_PENDING",
      ]);
      if (stop === "SIGTERM") {
        // As the server stops: it ends every subscription (they did not leave), then closes the journal.
        first.broker.beginShutdown();
        for (const name of [...first.subscriptions.keys()]) leave(first, name);
        await first.journal.close();
      } else await written();

      clock.now += 1000;
      const second = await start(directory, clock);
      expect(workflows(second, 3)).toEqual(afterRestart(before));
    });
  }

  it("should hand a pending delivery to its recipient when it subscribes again, and complete when it answers", async () => {
    const { directory, clock } = await pendingAtCrash();

    const second = await start(directory, clock);
    subscribe(second, "collector-a");
    const [resumed] = workflows(second, 1) as { status: string; deliveries: unknown[] }[];
    expect(resumed.status).toBe("COMPLETION_STATUS_PENDING");
    expect(resumed.deliveries).toEqual([{ subscriberName: "collector-a", state: "DELIVERY_STATE_PENDING" }]);
    await answer(second, 0, "collector-a", clock);
    const done = workflows(second, 1);
    expect((done[0] as { status: string }).status).toBe("COMPLETION_STATUS_COMPLETE");
    await written();

    // The resumed delivery's answer is journaled too: a third life agrees.
    const third = await start(directory, clock);
    expect(workflows(third, 1)).toEqual(done);
  });

  it("should remember a resumed recipient that then left: the next restart finds it disconnected, not pending again", async () => {
    const { directory, clock } = await pendingAtCrash();
    const second = await start(directory, clock);
    subscribe(second, "collector-a");
    clock.now += 3;
    leave(second, "collector-a");
    const left = workflows(second, 1);
    expect(left[0]).toMatchObject({ status: "COMPLETION_STATUS_INCOMPLETE", deliveries: [{ state: "DELIVERY_STATE_DISCONNECTED" }] });
    await written();

    const third = await start(directory, clock);
    expect(workflows(third, 1)).toEqual(left);
  });

  it("should count a recipient that does not come back within the grace as disconnected, saying why, and remember it", async () => {
    const { directory, clock } = await pendingAtCrash();

    const second = await start(directory, clock);
    clock.now += resumeGraceMs - 1;
    second.broker.maintain();
    expect((workflows(second, 1)[0] as { status: string }).status).toBe("COMPLETION_STATUS_PENDING");
    clock.now += 1;
    second.broker.maintain();
    const expired = workflows(second, 1);
    expect(expired[0]).toMatchObject({
      status: "COMPLETION_STATUS_INCOMPLETE",
      deliveries: [
        {
          subscriberName: "collector-a",
          state: "DELIVERY_STATE_DISCONNECTED",
          reason: "the broker restarted and the subscriber did not subscribe again within 30 s",
        },
      ],
    });
    await written();

    const third = await start(directory, clock);
    expect(workflows(third, 1)).toEqual(expired);
  });

  it("should agree before and after every restart, for any sequence of subscriptions, tasks, answers, restarts and waits", async () => {
    const names = ["collector-a", "collector-b", "collector-c"];
    const step = fc.oneof(
      fc.record({ kind: fc.constant("subscribe" as const), name: fc.constantFrom(...names) }),
      fc.record({ kind: fc.constant("leave" as const), name: fc.constantFrom(...names) }),
      fc.record({ kind: fc.constant("task" as const), correlation: fc.integer({ min: 0, max: 2 }) }),
      fc.record({ kind: fc.constant("answer" as const), correlation: fc.integer({ min: 0, max: 2 }), name: fc.constantFrom(...names) }),
      fc.record({ kind: fc.constant("restart" as const), graceful: fc.boolean() }),
      fc.record({ kind: fc.constant("wait" as const), ms: fc.constantFrom(1000, resumeGraceMs) }),
    );
    await fc.assert(
      fc.asyncProperty(fc.array(step, { minLength: 1, maxLength: 30 }), async (steps) => {
        const directory = workspace();
        const clock = { now: 1_700_000_000_000 };
        let life = await start(directory, clock);
        for (const action of [...steps, { kind: "restart" as const, graceful: false }]) {
          if (action.kind === "subscribe" && !life.subscriptions.has(action.name)) subscribe(life, action.name);
          if (action.kind === "leave") leave(life, action.name);
          if (action.kind === "task") await task(life, action.correlation, clock);
          if (action.kind === "answer") await answer(life, action.correlation, action.name, clock);
          if (action.kind === "wait") {
            clock.now += action.ms;
            life.broker.maintain();
          }
          if (action.kind === "restart") {
            const before = workflows(life, 3);
            if (action.graceful) await life.journal.close();
            else await written();
            life = await start(directory, clock);
            expect(workflows(life, 3)).toEqual(afterRestart(before));
          }
        }
        await written();
      }),
      { numRuns: 300 },
    );
  });
});
