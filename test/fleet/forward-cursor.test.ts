import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { ForwardCursor, forwardCursorFile } from "../../src/fleet/forward-cursor.js";

const onDisk = (dir: string) => JSON.parse(readFileSync(join(dir, forwardCursorFile), "utf8")).acked_event_id;

describe("ForwardCursor", () => {
  it("should write the first position at once, coalesce later ones within its interval, and write the last at flush", async () => {
    const dir = mkdtempSync(join(tmpdir(), "cursor-"));
    // An interval no test run reaches: only flush() can end the wait.
    const cursor = new ForwardCursor(dir, "S", 60_000);
    await cursor.advance(1);
    expect([cursor.durable, onDisk(dir)]).toEqual([1, 1]);
    const later = cursor.advance(2);
    void cursor.advance(3);
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect([cursor.durable, onDisk(dir)]).toEqual([1, 1]);
    await cursor.flush();
    await later;
    expect([cursor.durable, onDisk(dir)]).toEqual([3, 3]);
    // A new cursor reads it back; another stream's cursor starts from the beginning.
    expect(new ForwardCursor(dir, "S").durable).toBe(3);
    expect(new ForwardCursor(dir, "OTHER").durable).toBe(0);
  });

  it("should keep the workflow facts acknowledged after the event, read them back, and read a file without them as none", async () => {
    const dir = mkdtempSync(join(tmpdir(), "cursor-"));
    const cursor = new ForwardCursor(dir, "S", 60_000);
    await cursor.advance(5);
    const facts = cursor.advance(5, 2);
    await cursor.flush();
    await facts;
    expect(JSON.parse(readFileSync(join(dir, forwardCursorFile), "utf8"))).toEqual({ acked_event_id: 5, acked_facts: 2, stream: "S" });
    // A position before the one asked for is not written.
    await cursor.advance(5, 1);
    await cursor.flush();
    const back = new ForwardCursor(dir, "S");
    expect([back.durable, back.durableFacts]).toEqual([5, 2]);
    // An event after it: no facts after that one yet (the file of a cursor without facts has no acked_facts).
    await back.advance(6);
    await back.flush();
    expect(JSON.parse(readFileSync(join(dir, forwardCursorFile), "utf8"))).toEqual({ acked_event_id: 6, stream: "S" });
    expect(new ForwardCursor(dir, "S").durableFacts).toBe(0);
  });
});
