// A collector: takes tasks from the agent and answers each with a final result.
// Run: node dist/examples/typescript/collector.js [name] [work-ms]
// It outlives broker crashes and restarts: the subscription reconnects with backoff and
// replays from the last task seen, and publishOnce stores each answer once even when the
// broker died before acknowledging it.
import { setTimeout as work } from "node:timers/promises";
import { answerCorrelation, createCorrelationClient, publishOnce } from "corrbus";

const name = process.argv[2] ?? "process-monitor";
const workMs = Number(process.argv[3] ?? 0); // how long each task's work takes here (a stand-in)
const bus = createCorrelationClient({ sourceProcess: name }); // socket: CORRBUS_SOCKET or the default

const tasks = bus.subscribe(["control.collector.task.#"], {
  onReconnect: (attempt, why) => console.log(`${name}: ${why.rawMessage}; subscribing again (attempt ${attempt})`),
});
process.once("SIGINT", () => tasks.close());
process.once("SIGTERM", () => tasks.close());
try {
  await tasks.ready;
  console.log(`${name}: waiting for tasks`);
  for await (const task of tasks) {
    const meta = task.correlationMetadata;
    if (meta === undefined) continue;
    // ... do the work the task asks for, then answer in the task's correlation:
    await work(workMs);
    const result = { collector: name, stage: meta.workflowStage, findings: [{ pid: 4892, exe: "/tmp/.x" }] };
    const sent = await publishOnce(bus, `events.collector.${meta.workflowStage}.result`, result, {
      correlation: answerCorrelation(meta, name),
      final: true, // this collector's last event for the task: the agent's wait counts it
      onRetry: (attempt, why) => console.log(`${name}: ${why.rawMessage}; publishing again (attempt ${attempt})`),
    });
    console.log(`${name}: answered ${meta.workflowStage} ${meta.correlationId}${sent.alreadyStored ? " (stored before the broker went away)" : ""}`);
  }
} catch (error) {
  console.error(`${name}: ${error instanceof Error ? error.message : error}`);
  process.exitCode = 1;
} finally {
  bus.close();
}
