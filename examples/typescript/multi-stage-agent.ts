// Scenario 2: enumeration → integrity (child) → network_analysis (grandchild),
// each stage waited on, then the whole workflow as one timeline.
import { createCorrelationClient } from "corrbus";

const bus = createCorrelationClient({ sourceProcess: "agent" });

const enumeration = bus.newRootCorrelation("enumeration", { investigation_id: "INC-12345" });
const integrity = bus.childCorrelation(enumeration, "integrity", { suspicious_pid: "4892" });
const network = bus.childCorrelation(integrity, "network_analysis");

for (const [topic, step] of [
  ["control.collector.task.process", enumeration],
  ["control.collector.task.integrity", integrity],
  ["control.collector.task.network", network],
] as const) {
  await bus.publish(topic, { stage: step.workflowStage }, { correlation: step });
  const answer = await bus.service.waitForResults({ correlationId: step.correlationId, timeout: { seconds: 10n } });
  console.log(`${step.workflowStage}: complete=${answer.complete} results=${answer.events.length}`);
}

const timeline = await bus.service.getTimeline({ rootCorrelationId: enumeration.rootCorrelationId, omitPayloads: true });
for (const step of timeline.correlations) {
  const stages = step.stages.map((stage) => `${stage.name}×${stage.eventCount}`).join(", ");
  console.log(`${"  ".repeat(step.depth)}${step.correlationId} [${stages}] participants=${step.participants.map((p) => p.sourceProcess).join(",")}`);
}
for (const event of timeline.events) {
  const meta = event.correlationMetadata;
  console.log(`  #${event.eventId} ${event.topic} from ${meta?.sourceProcess}${meta?.final ? " (final)" : ""}`);
}
bus.close();
