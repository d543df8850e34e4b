// docs/architecture.md's folder table, as the code must obey it: what each folder of src/ may import.
import { readFileSync, readdirSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { describe, expect, it } from "vitest";
import { repoRoot } from "../helpers/broker-process.js";

/** Folders of src/ and packages each may import (node: built-ins are allowed everywhere but the core). */
const allowed: Record<string, string[]> = {
  core: ["gen", "wire", "@bufbuild/protobuf"],
  wire: ["gen", "@bufbuild/protobuf", "@connectrpc/connect", "node:"],
  storage: ["core", "wire", "gen", "@bufbuild/protobuf", "node:"],
  fleet: ["core", "wire", "storage", "gen", "@bufbuild/protobuf", "@nats-io/jetstream", "@nats-io/transport-node", "node:"],
  server: ["core", "wire", "storage", "fleet", "gen", "@bufbuild/protobuf", "@connectrpc/connect", "@connectrpc/connect-node", "node:"],
  client: ["wire", "gen", "@bufbuild/protobuf", "@connectrpc/connect", "@connectrpc/connect-node", "uuid", "node:"],
  cli: ["client", "server", "storage", "fleet", "core", "wire", "gen", "@bufbuild/protobuf", "@connectrpc/connect", "node:"],
};

/** The one module that may import connect-es's `@private` protocol internals. */
const connectInternals = "src/wire/connect-internals.ts";

function sourceFiles(directory: string): string[] {
  return readdirSync(directory, { withFileTypes: true }).flatMap((entry) => {
    const path = join(directory, entry.name);
    if (entry.isDirectory()) return entry.name === "timeline-page" ? [] : sourceFiles(path);
    return entry.name.endsWith(".ts") ? [path] : [];
  });
}

/** What an import names: a folder of src/ ("core"), "gen", a package ("@connectrpc/connect") or "node:". */
function targetOf(file: string, specifier: string): string {
  if (specifier.startsWith("node:")) return "node:";
  if (!specifier.startsWith(".")) {
    const parts = specifier.split("/");
    return specifier.startsWith("@") ? parts.slice(0, 2).join("/") : parts[0];
  }
  const target = relative(repoRoot, resolve(dirname(file), specifier)).split("/");
  return target[0] === "gen" ? "gen" : (target[1] ?? "");
}

const imports = sourceFiles(join(repoRoot, "src")).flatMap((file) =>
  [...readFileSync(file, "utf8").matchAll(/(?:import|export)\s[^;]*?from\s+"([^"]+)"/g)].map((match) => ({
    file: relative(repoRoot, file),
    folder: relative(join(repoRoot, "src"), file).split("/")[0],
    specifier: match[1],
  })),
);

describe("the folder layout", () => {
  for (const [folder, may] of Object.entries(allowed)) {
    it(`should let src/${folder} import only ${may.join(", ")}`, () => {
      const outside = imports
        .filter((one) => one.folder === folder)
        .map((one) => ({ ...one, target: targetOf(join(repoRoot, one.file), one.specifier) }))
        .filter((one) => one.target !== folder && !may.includes(one.target))
        .map((one) => `${one.file} imports ${one.specifier}`);
      expect(outside).toEqual([]);
    });
  }

  it("should import connect-es's @private protocol modules in one adapter only", () => {
    const users = imports.filter((one) => /^@connectrpc\/connect\/protocol/.test(one.specifier)).map((one) => one.file);
    expect([...new Set(users)]).toEqual([connectInternals]);
  });

  it("should have seen the files it checks", () => {
    expect(imports.filter((one) => one.folder === "wire").length).toBeGreaterThan(10);
  });
});
