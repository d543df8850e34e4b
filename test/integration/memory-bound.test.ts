// Issue 14: memory is bounded by what the broker really holds. Each event is its own root with
// eight tag values no other event has (pids, hashes, paths), which once ran the heap out while
// history's byte bound saw a fraction of it.
//
// The broker runs with its default limits under a smaller V8 heap (NODE_OPTIONS
// --max-old-space-size, given to the broker process only), so the test stays short and light:
// the default memory limit is derived from the heap limit, so it scales down with it. That is
// the point of deriving it: the same events against the default 4 GiB heap are the by-hand run
// of docs/reference.md.
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { memoryLimitForHeap } from "../../src/core/validation/broker-limits.js";
import { type BrokerProcess, runCli, startBrokerProcess } from "../helpers/broker-process.js";
import { spawnFixture } from "../helpers/fixture-process.js";

const heapMiB = 96;
/** What V8 reports as heap_size_limit for that old space (the young generation adds 48 MiB). */
const heapLimitBytes = (heapMiB + 48) * 1024 * 1024;
/**
 * Without eviction, events of this shape hold ~1.4 KB of heap each in history and its indexes
 * (measured; ~6.2 KB before issue 14) besides their workflows: 120 000 of them need about
 * 170 MB, more than the whole 144 MiB heap, let alone the 32 MiB the derived memory limit allows.
 */
const firstRun = 120_000;
const afterRestart = 10_000;
/**
 * The stated bound: the broker's peak resident set stays under its heap limit plus 128 MiB
 * (Node and V8 themselves, code, the history chunks and buffers outside the heap).
 */
const rssBoundBytes = heapLimitBytes + 128 * 1024 * 1024;

type Stats = Record<string, string | number | undefined>;

describe("the memory bound", () => {
  const cleanup: (() => Promise<unknown> | void)[] = [];

  afterEach(async () => {
    for (const step of cleanup.splice(0).reverse()) await step();
  });

  async function broker(socket: string, dataDir: string): Promise<BrokerProcess> {
    const started = await startBrokerProcess(["--data-dir", dataDir], socket, {
      env: { ...process.env, NODE_OPTIONS: `--max-old-space-size=${heapMiB}` },
      // Replay of the journal (one segment of ~50 MB here) comes before listening.
      readyTimeoutMs: 60_000,
    });
    cleanup.push(() => started.stop());
    return started;
  }

  async function publish(socket: string, prefix: string, count: number): Promise<void> {
    const publisher = spawnFixture("publisher", [
      ...["--socket", socket, "--topic", "events.attack.tick", "--prefix", prefix, "--count", String(count)],
      ...["--stream", "--batch", "500", "--own-roots", "--distinct-tags", "8", "--quiet"],
    ]);
    cleanup.push(() => void publisher.child.kill("SIGKILL"));
    // Every batch acknowledged: the broker stayed up and took them all.
    expect(await publisher.exited).toBe(0);
  }

  async function stats(socket: string): Promise<Stats> {
    const fixture = spawnFixture("stats", ["--socket", socket]);
    const message = await fixture.waitFor("stats", 20_000);
    await fixture.exited;
    return message as unknown as Stats;
  }

  /** The peak resident set of the process so far (Linux: VmHWM), in bytes. */
  function peakRss(broker: BrokerProcess): number {
    const match = /^VmHWM:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${broker.child.pid}/status`, "utf8"));
    if (match === null) throw new Error("no VmHWM in /proc/<pid>/status");
    return Number(match[1]) * 1024;
  }

  async function findTag(socket: string, value: string): Promise<number> {
    const found = await runCli(["find", "--socket", socket, "--tag", `k3=${value}`, "--json"]);
    expect(found.code).toBe(0);
    return found.stdout.split("\n").filter((line) => line.startsWith("{")).length;
  }

  /** The memory bound held: accounted under the limit (derived from the heap), evictions counted, peak RSS under the bound. */
  function expectWithinBound(current: Stats, brokerProcess: BrokerProcess, label: string): void {
    const n = (name: string) => Number(current[name] ?? 0);
    const peak = peakRss(brokerProcess);
    console.log(
      `memory bound ${label}: stored ${n("eventsStored")}, evicted for memory ${n("eventsEvictedForMemory")} events and ${n("workflowsEvictedForMemory")} workflows, ` +
        `accounted ${Math.round((n("memoryHistoryBytes") + n("memoryWorkflowBytes")) / 2 ** 20)} of ${Math.round(n("memoryLimitBytes") / 2 ** 20)} MiB, ` +
        `peak RSS ${Math.round(peak / 2 ** 20)} MiB (bound ${Math.round(rssBoundBytes / 2 ** 20)} MiB)`,
    );
    expect(n("memoryLimitBytes")).toBe(memoryLimitForHeap(heapLimitBytes));
    expect(n("memoryHistoryBytes") + n("memoryWorkflowBytes")).toBeLessThanOrEqual(n("memoryLimitBytes"));
    expect(n("eventsEvictedForMemory")).toBeGreaterThan(0);
    expect(n("workflowsEvictedForMemory")).toBeGreaterThan(0);
    // The other bounds did not do it: they are far away with the defaults.
    expect(n("eventsEvicted")).toBe(0);
    expect(peak).toBeLessThan(rssBoundBytes);
  }

  it("should stay up under its RSS bound, evicting for memory and counting it, with default limits, and again after a SIGKILL and a restart that replays the journal", async () => {
    const directory = mkdtempSync(join(tmpdir(), "corrbus-memory-"));
    cleanup.push(() => rmSync(directory, { recursive: true, force: true }));
    const socket = join(directory, "run", "corrbus.sock");
    const dataDir = join(directory, "data");

    const first = await broker(socket, dataDir);
    await publish(socket, "a", firstRun);
    const before = await stats(socket);
    expectWithinBound(before, first, "while publishing");
    expect(Number(before.eventsPublished)).toBe(firstRun);
    expect(Number(before.eventsStored) + Number(before.eventsEvictedForMemory)).toBe(firstRun);
    // The newest events are held and found by their tags; the oldest went first.
    expect(await findTag(socket, `a${firstRun - 1}-k3`)).toBe(1);
    expect(await findTag(socket, "a0-k3")).toBe(0);

    await first.kill();
    const second = await broker(socket, dataDir);
    const replayed = await stats(socket);
    // Replay evicts as publishing does: the journal held more than the limit lets history keep.
    expectWithinBound(replayed, second, "after replay");
    expect(Number(replayed.eventsRestored)).toBeGreaterThan(Number(replayed.eventsStored));
    expect(await findTag(socket, `a${firstRun - 1}-k3`)).toBe(1);

    await publish(socket, "b", afterRestart);
    const after = await stats(socket);
    expectWithinBound(after, second, "publishing after the restart");
    expect(await findTag(socket, `b${afterRestart - 1}-k3`)).toBe(1);
  }, 180_000);
});
