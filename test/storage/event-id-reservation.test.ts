import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { EventIdReservation, eventIdsFileName } from "../../src/storage/event-id-reservation.js";

const directories: string[] = [];
afterEach(() => {
  for (const directory of directories.splice(0)) rmSync(directory, { recursive: true, force: true });
});

function directory(): string {
  const created = mkdtempSync(join(tmpdir(), "corrbus-event-ids-"));
  directories.push(created);
  return created;
}

async function raiseAll(where: string, marks: number[]): Promise<void> {
  const reservation = await EventIdReservation.open(where);
  for (const mark of marks) await reservation.raise(mark);
  await reservation.close();
}

/** Flips a byte inside the copy at `offset`, as a torn or rotten write leaves it. */
function damage(where: string, offset: number): void {
  const path = join(where, eventIdsFileName);
  const data = readFileSync(path);
  data[offset + 3] ^= 0xff;
  writeFileSync(path, data);
}

describe("EventIdReservation", () => {
  it("should read 0 where there is no file, and the highest mark raised after a reopen", async () => {
    const where = directory();
    expect(EventIdReservation.read(where)).toBe(0);
    await raiseAll(where, [10, 20, 15]);
    expect(EventIdReservation.read(where)).toBe(20);
    const reopened = await EventIdReservation.open(where);
    expect(reopened.through).toBe(20);
    await reopened.close();
  });

  it("should keep the other copy when the newest one is damaged (a write torn by a power cut)", async () => {
    const where = directory();
    await raiseAll(where, [10, 20]);
    damage(where, 4096);
    expect(EventIdReservation.read(where)).toBe(10);
  });

  it("should overwrite the older copy, so the newer one survives a torn write", async () => {
    const where = directory();
    await raiseAll(where, [10, 20, 30]);
    // 30 went where 10 was: damaging it leaves 20, not 10.
    damage(where, 0);
    expect(EventIdReservation.read(where)).toBe(20);
    await raiseAll(where, [40]);
    // 40 went where the damaged copy was (the older one): the file reads 40, and with 40 damaged, 20.
    expect(EventIdReservation.read(where)).toBe(40);
    damage(where, 0);
    expect(EventIdReservation.read(where)).toBe(20);
  });

  it("should read 0 when both copies are damaged or the file is empty", async () => {
    const where = directory();
    await raiseAll(where, [10, 20]);
    damage(where, 0);
    damage(where, 4096);
    expect(EventIdReservation.read(where)).toBe(0);
    writeFileSync(join(where, eventIdsFileName), new Uint8Array(0));
    expect(EventIdReservation.read(where)).toBe(0);
  });
});
