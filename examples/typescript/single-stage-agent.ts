// Scenario 1: one task, answered by every collector that received it.
// The agent never says how many collectors exist: the broker knows whom it delivered to.
import { CompletionReason, createCorrelationClient } from "corrbus";

const bus = createCorrelationClient({ sourceProcess: "agent" });
const task = bus.newRootCorrelation("enumeration", { investigation_id: "INC-12345" });
const sent = await bus.publish("control.collector.task.process", { action: "list-processes" }, { correlation: task });
console.log(`task ${task.correlationId} delivered to ${sent.deliveredCount} collectors`);

const answer = await bus.service.waitForResults({ correlationId: task.correlationId, timeout: { seconds: 10n } });
console.log(`complete=${answer.complete} reason=${CompletionReason[answer.reason]}`);
for (const event of answer.events) {
  console.log(`  ${event.correlationMetadata?.sourceProcess}: ${new TextDecoder().decode(event.payload)}`);
}
bus.close();
