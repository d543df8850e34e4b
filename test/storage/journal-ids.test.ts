import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { Journal } from "../../src/storage/journal.js";

describe("Journal event ids across restarts", () => {
  const directories: string[] = [];
  afterEach(() => {
    for (const directory of directories.splice(0)) rmSync(directory, { recursive: true, force: true });
  });

  it("should continue after an empty newest segment's name when every older segment is gone", async () => {
    // What a crash right after a segment roll leaves once older segments were released.
    const directory = mkdtempSync(join(tmpdir(), "corrbus-journal-ids-"));
    directories.push(directory);
    writeFileSync(join(directory, "00000000000000000042.seg"), new Uint8Array(0));
    const journal = new Journal({ directory, fsync: "never" });
    const report = await journal.open({ event: () => {} });
    await journal.close();
    expect([report.records, report.lastId]).toEqual([0, 41]);
  });
});
