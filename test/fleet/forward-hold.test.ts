import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { create, toBinary } from "@bufbuild/protobuf";
import { afterAll, describe, expect, it } from "vitest";
import { EventEnvelopeSchema } from "../../gen/corrbus/v1/envelope_pb.js";
import { WorkflowFactSchema } from "../../gen/corrbus/v1/journal_pb.js";
import { forwardCursorFile } from "../../src/fleet/forward-cursor.js";
import { JournalForwarder } from "../../src/fleet/journal-forwarder.js";
import { JournalTail } from "../../src/fleet/journal-tail.js";
import { Journal } from "../../src/storage/journal.js";

const directories: string[] = [];
afterAll(() => {
  for (const directory of directories) rmSync(directory, { recursive: true, force: true });
});

/**
 * A data directory whose journal has events 1..`events`, two workflow facts after each, in segments of a few records,
 * and a forward cursor at event `ackedId` with no fact after it acknowledged; the journal, held by a forwarder as the
 * broker holds it, is asked to release everything.
 */
async function releasedJournal(forwardControl: boolean, events: number, ackedId: number): Promise<string> {
  const dataDir = mkdtempSync(join(tmpdir(), "corrbus-hold-"));
  directories.push(dataDir);
  const directory = join(dataDir, "journal");
  mkdirSync(directory);
  const journal = new Journal({ directory, fsync: "never", segmentBytes: 300 });
  await journal.open({ event: () => {} });
  for (let id = 1; id <= events; id++) {
    const envelope = create(EventEnvelopeSchema, { eventId: BigInt(id), topic: "events.hold.test", payload: new Uint8Array(40) });
    await journal.append([{ id, encoded: toBinary(EventEnvelopeSchema, envelope) }]);
    for (let fact = 0; fact < 2; fact++) {
      journal.recordFact(create(WorkflowFactSchema, { fact: { case: "recipientLeft", value: { subscriptionId: BigInt(id), reason: `${id}.${fact}` } } }));
    }
  }
  writeFileSync(join(dataDir, forwardCursorFile), `${JSON.stringify({ acked_event_id: ackedId, stream: "CORRBUS" })}\n`);
  const forwarder = new JournalForwarder(
    { servers: "nats://127.0.0.1:4222", stream: "CORRBUS", subjectPrefix: "corrbus", forwardControl },
    { hostId: "h", dataDir, eventsAfter: () => ({ count: 0, firstTimeMs: 0 }), segmentFiles: () => [], retentionMs: 0, releaseHeld: () => {} },
    { log: () => {} },
  );
  journal.holdSegments(() => forwarder.heldThrough);
  journal.release(events);
  await journal.close();
  return directory;
}

describe("the journal segments a forwarder holds", () => {
  it("should keep the facts after the cursor's event when facts are forwarded, so they are still sent", async () => {
    for (let ackedId = 1; ackedId <= 12; ackedId++) {
      const directory = await releasedJournal(true, 12, ackedId);
      const tail = new JournalTail(directory, { afterId: ackedId, factsAfter: 0 }, true);
      const next = tail.read(2, 12);
      tail.close();
      expect(
        next.map((record) => (record.kind === "fact" ? `${record.afterId}.${record.ordinal}` : `event ${record.id}`)),
        `cursor at ${ackedId}`,
      ).toEqual([`${ackedId}.0`, `${ackedId}.1`]);
    }
  });

  it("should hold through the cursor's event itself when only events are forwarded", async () => {
    const directory = await releasedJournal(false, 12, 6);
    const tail = new JournalTail(directory, { afterId: 6, factsAfter: 0 });
    expect(tail.read(1, 12).map((record) => (record.kind === "event" ? record.id : -1))).toEqual([7]);
    tail.close();
  });
});
