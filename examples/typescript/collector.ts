// A collector: takes tasks from the agent and answers each with a final result.
// Run: node dist/examples/typescript/collector.js [name]
import { answerCorrelation, createCorrelationClient } from "corrbus";

const name = process.argv[2] ?? "process-monitor";
const bus = createCorrelationClient({ sourceProcess: name }); // socket: CORRBUS_SOCKET or the default

const tasks = bus.subscribe(["control.collector.task.#"]);
await tasks.ready;
console.log(`${name}: waiting for tasks`);
process.once("SIGINT", () => tasks.close());
process.once("SIGTERM", () => tasks.close());

for await (const task of tasks) {
  const meta = task.correlationMetadata;
  if (meta === undefined) continue;
  // ... do the work the task asks for, then answer in the task's correlation:
  const result = { collector: name, stage: meta.workflowStage, findings: [{ pid: 4892, exe: "/tmp/.x" }] };
  await bus.publish(`events.collector.${meta.workflowStage}.result`, result, {
    correlation: answerCorrelation(meta, name),
    final: true, // this collector's last event for the task: the agent's wait counts it
  });
  console.log(`${name}: answered ${meta.workflowStage} ${meta.correlationId}`);
}
bus.close();
