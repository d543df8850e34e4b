import { readFileSync } from "node:fs";
import { open, rename } from "node:fs/promises";
import { dirname, join } from "node:path";
import { syncDirectory } from "../storage/sync-directory.js";

/** The cursor file's name in the data directory. */
export const forwardCursorFile = "forward-cursor.json";

/** What the cursor file holds. */
interface CursorContent {
  /** The newest event id JetStream acknowledged, with every event before it. */
  acked_event_id: number;
  /** Workflow facts after that event acknowledged too (forwarded with --forward-control); absent means 0. */
  acked_facts?: number;
  /** The stream it was forwarded to: a cursor for another stream does not apply. */
  stream: string;
}

/**
 * ForwardCursor is the forwarder's durable position: the last event id
 * JetStream acknowledged (every one before it acknowledged too), and how many
 * of the workflow facts journaled after that event were acknowledged, in
 * `<data-dir>/forward-cursor.json`. Written atomically (a new file, fsynced,
 * renamed over the old one, the directory fsynced), one write at a time with
 * later positions coalesced, so a crash leaves the old position or the new
 * one, never a torn file; forwarding after a restart resumes after it, and
 * JetStream's duplicate window drops what was acknowledged but not yet
 * written here. Writes are at least `minIntervalMs` apart (flush() writes the
 * last position at once): with an fsync of the file and of its directory each,
 * one write per acknowledged event cost a host broker more than its Publish did.
 */
export class ForwardCursor {
  readonly path: string;
  /** The position on disk (what the journal may delete up to). */
  durable: number;
  /** Facts after `durable` on disk. */
  durableFacts: number;
  private wanted: number;
  private wantedFacts: number;
  private writing: Promise<void> | undefined;
  private lastWriteMs = Number.NEGATIVE_INFINITY;
  private waitTimer: NodeJS.Timeout | undefined;
  private endWait: (() => void) | undefined;

  constructor(
    dataDir: string,
    readonly stream: string,
    /** Shortest time between two writes. Default 1 s, far inside JetStream's duplicate window (2 minutes on the stream forwarding creates). */
    private readonly minIntervalMs = 1000,
  ) {
    this.path = join(dataDir, forwardCursorFile);
    [this.durable, this.durableFacts] = readCursor(this.path, stream);
    this.wanted = this.durable;
    this.wantedFacts = this.durableFacts;
  }

  /** Asks for `ackedId` (and `factsAfter` facts after it) to be written; resolves once it (or a later one) is on disk. */
  advance(ackedId: number, factsAfter = 0): Promise<void> {
    if (ackedId < this.wanted || (ackedId === this.wanted && factsAfter <= this.wantedFacts)) return this.writing ?? Promise.resolve();
    this.wanted = ackedId;
    this.wantedFacts = factsAfter;
    this.writing ??= this.writeLoop().finally(() => {
      this.writing = undefined;
    });
    return this.writing;
  }

  /** Writes what was asked for so far at once (no interval), and waits for it. */
  async flush(): Promise<void> {
    this.lastWriteMs = Number.NEGATIVE_INFINITY;
    this.endWait?.();
    while (this.writing !== undefined) await this.writing;
  }

  private async writeLoop(): Promise<void> {
    while (this.durable < this.wanted || this.durableFacts < this.wantedFacts) {
      await this.interval();
      const target = this.wanted;
      const targetFacts = this.wantedFacts;
      const temporary = `${this.path}.tmp`;
      const handle = await open(temporary, "w", 0o600);
      try {
        const content: CursorContent = { acked_event_id: target, ...(targetFacts > 0 ? { acked_facts: targetFacts } : {}), stream: this.stream };
        await handle.writeFile(`${JSON.stringify(content)}\n`);
        await handle.sync();
      } finally {
        await handle.close();
      }
      await rename(temporary, this.path);
      syncDirectory(dirname(this.path));
      this.durable = target;
      this.durableFacts = targetFacts;
      this.lastWriteMs = Date.now();
    }
  }

  /** Resolves once `minIntervalMs` has passed since the last write, or at once when flush() asks. */
  private interval(): Promise<void> {
    const waitMs = this.lastWriteMs + this.minIntervalMs - Date.now();
    if (waitMs <= 0) return Promise.resolve();
    return new Promise((resolve) => {
      this.endWait = () => {
        clearTimeout(this.waitTimer);
        this.endWait = undefined;
        resolve();
      };
      this.waitTimer = setTimeout(this.endWait, waitMs);
    });
  }
}

/** The position in the file (event id, facts after it); [0, 0] (from the start of the journal) without one, or for another stream. */
function readCursor(path: string, stream: string): [number, number] {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch {
    return [0, 0];
  }
  const content = JSON.parse(text) as Partial<CursorContent>;
  const id = content.acked_event_id;
  if (typeof id !== "number" || !Number.isSafeInteger(id) || id < 0) throw new Error(`${path}: acked_event_id is not an event id: ${text.slice(0, 100)}`);
  const facts = content.acked_facts ?? 0;
  if (typeof facts !== "number" || !Number.isSafeInteger(facts) || facts < 0) throw new Error(`${path}: acked_facts is not a count: ${text.slice(0, 100)}`);
  return content.stream === stream ? [id, facts] : [0, 0];
}
