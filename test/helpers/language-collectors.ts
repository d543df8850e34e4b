import { existsSync } from "node:fs";
import { join } from "node:path";
import { repoRoot } from "./broker-process.js";
import { type FixtureProcess, spawnProcess } from "./fixture-process.js";

/** The collectors in other languages (examples/<language>), built by their setup.sh. */
export type Language = "python" | "go" | "rust";

interface LanguageCollector {
  /** What must exist for the collector to run. */
  artifacts: string[];
  /** Program and leading arguments. */
  command: string;
  prefix: string[];
}

/** The Python example's interpreter (its venv, made by examples/python/setup.sh). */
export const pythonCommand = join(repoRoot, "examples/python/.venv/bin/python");

/** A script of the Python example (collector.py, agent.py), to run with `pythonCommand`. */
export function pythonScript(name: string): string {
  return join(repoRoot, "examples/python", name);
}

const collectors: Record<Language, LanguageCollector> = {
  python: {
    artifacts: [pythonCommand, join(repoRoot, "examples/python/gen/corrbus/v1/service_pb2_grpc.py")],
    command: pythonCommand,
    prefix: [pythonScript("collector.py")],
  },
  go: {
    artifacts: [join(repoRoot, "examples/go/.bin/collector")],
    command: join(repoRoot, "examples/go/.bin/collector"),
    prefix: [],
  },
  rust: {
    artifacts: [join(repoRoot, "examples/rust/target/release/corrbus-collector")],
    command: join(repoRoot, "examples/rust/target/release/corrbus-collector"),
    prefix: [],
  },
};

/** Undefined when the collector is built; else what is missing and how to build it. */
export function missingCollector(language: Language): string | undefined {
  const missing = collectors[language].artifacts.find((path) => !existsSync(path));
  return missing === undefined ? undefined : `the ${language} collector is not built (${missing} is missing): run examples/${language}/setup.sh`;
}

/**
 * Whether tests needing these collectors run here. In CI (CI=true) a missing
 * collector fails the test that needs it, never skips it; elsewhere the test
 * is skipped with a warning naming the setup script.
 */
export function collectorsAvailable(file: string, ...languages: Language[]): { skip: boolean; missing: string[] } {
  const missing = languages.map(missingCollector).filter((m): m is string => m !== undefined);
  const skip = missing.length > 0 && process.env.CI !== "true";
  if (skip) console.warn(`${file}: skipped: ${missing.join("; ")}`);
  return { skip, missing };
}

/** Starts the `language` collector (the shared collector contract: --socket, --name, --pattern, --hold, --work-ms, --max-reconnects). */
export function spawnLanguageCollector(language: Language, args: string[]): FixtureProcess {
  const missing = missingCollector(language);
  if (missing !== undefined) throw new Error(missing);
  const { command, prefix } = collectors[language];
  return spawnProcess(command, [...prefix, ...args]);
}
