// Scenario 3: everything tagged investigation_id=INC-12345 AND suspicious_pid=4892, page by page.
import { createCorrelationClient } from "corrbus";

const bus = createCorrelationClient({ sourceProcess: "analyst" });
let pageToken = "";
let total = 0;
do {
  const page = await bus.service.findByTag({
    tags: { investigation_id: "INC-12345", suspicious_pid: "4892" },
    limit: 50,
    pageToken,
  });
  for (const event of page.events) {
    console.log(`#${event.eventId} ${event.topic} ${event.correlationMetadata?.workflowStage} from ${event.correlationMetadata?.sourceProcess}`);
  }
  total += page.events.length;
  pageToken = page.nextPageToken;
} while (pageToken !== "");
console.log(`${total} events`);
bus.close();
