// The README's Node requirement, as the installed packages must obey it: npm ci
// on the Node the tests run on warns about no package (EBADENGINE).
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { repoRoot } from "../helpers/broker-process.js";

type Version = [number, number, number];

function parseVersion(text: string): Version {
  const [major = 0, minor = 0, patch = 0] = text
    .replace(/^v/, "")
    .split(".")
    .map((part) => (part === "x" || part === "*" ? 0 : Number(part)));
  return [major, minor, patch];
}

function compare(a: Version, b: Version): number {
  return a[0] - b[0] || a[1] - b[1] || a[2] - b[2];
}

/** Whether `version` satisfies an npm engines range of the forms packages use: ">=X.Y", "^X.Y.Z", "||" between them. */
function satisfies(version: string, range: string): boolean {
  const have = parseVersion(version);
  return range.split("||").some((alternative) => {
    const clauses = alternative
      .trim()
      .replace(/([<>=^~]+)\s+/g, "$1")
      .split(/\s+/);
    return clauses.every((clause) => {
      const match = /^(>=|>|<=|<|\^|~|=)?(.+)$/.exec(clause);
      if (match === null) throw new Error(`engines range "${range}": cannot read "${clause}"`);
      const want = parseVersion(match[2]);
      const order = compare(have, want);
      switch (match[1]) {
        case ">=":
          return order >= 0;
        case ">":
          return order > 0;
        case "<=":
          return order <= 0;
        case "<":
          return order < 0;
        case "^":
          return order >= 0 && have[0] === want[0];
        case "~":
          return order >= 0 && have[0] === want[0] && have[1] === want[1];
        default:
          return order === 0;
      }
    });
  });
}

describe("Node versions", () => {
  const lock = JSON.parse(readFileSync(join(repoRoot, "package-lock.json"), "utf8")) as { packages: Record<string, { engines?: { node?: string } }> };
  const manifest = JSON.parse(readFileSync(join(repoRoot, "package.json"), "utf8")) as { engines: { node: string } };
  const readme = readFileSync(join(repoRoot, "README.md"), "utf8");

  it("should read the engines ranges packages state", () => {
    expect(satisfies("v20.20.2", ">=22")).toBe(false);
    expect(satisfies("v20.20.2", "^20.19.0 || >=22.12.0")).toBe(true);
    expect(satisfies("v20.18.0", "^20.19.0 || >=22.12.0")).toBe(false);
    expect(satisfies("v20.20.2", ">= 22.x")).toBe(false);
    expect(satisfies("v24.1.0", "^20.0.0 || ^22.0.0 || >=24.0.0")).toBe(true);
  });

  it("should install only packages that support the Node the tests run on", () => {
    const refusing = Object.entries(lock.packages)
      .filter(([, entry]) => entry.engines?.node !== undefined && !satisfies(process.version, entry.engines.node))
      .map(([path, entry]) => `${path.replace(/^.*node_modules\//, "")} wants node ${entry.engines?.node}`);
    expect(refusing).toEqual([]);
  });

  it("should state in package.json and the README the lowest Node every package supports, and run on it", () => {
    const floor = /^>=(\d+\.\d+)$/.exec(manifest.engines.node)?.[1];
    expect(floor, `engines.node "${manifest.engines.node}" is not ">=X.Y"`).toBeDefined();
    expect(satisfies(process.version, manifest.engines.node)).toBe(true);
    expect(readme).toContain(`Node ${floor} or newer`);
    for (const [path, entry] of Object.entries(lock.packages)) {
      if (entry.engines?.node === undefined || path === "") continue;
      expect({ path, supportsFloor: satisfies(`${floor}.0`, entry.engines.node) }).toEqual({ path, supportsFloor: true });
    }
  });
});
