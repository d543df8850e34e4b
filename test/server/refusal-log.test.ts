import { describe, expect, it } from "vitest";
import type { LogLevel } from "../../src/server/logger.js";
import { RefusalLog } from "../../src/server/refusal-log.js";

describe("RefusalLog", () => {
  it("should log the first refusal at once, then at most one line per interval naming how many it left out", () => {
    const lines: { level: LogLevel; msg: string; fields?: Record<string, unknown> }[] = [];
    const clock = { now: 0 };
    const log = new RefusalLog({ log: (level, msg, fields) => lines.push({ level, msg, fields }) }, "refused", 1000, () => clock.now);
    log.refused({ n: 1 });
    for (let n = 2; n <= 5; n++) {
      clock.now += 200;
      log.refused({ n });
    }
    expect(lines).toEqual([{ level: "warn", msg: "refused", fields: { n: 1 } }]);
    clock.now = 1000;
    log.refused({ n: 6 });
    clock.now = 5000;
    log.refused({ n: 7 });
    expect(lines.map((line) => line.fields)).toEqual([{ n: 1 }, { n: 6, suppressed: 4 }, { n: 7 }]);
  });
});
