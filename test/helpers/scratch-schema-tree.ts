// A scratch copy of the repository with a changed schema, regenerated and
// built: the "next release" of corrbus as a maintainer would make it (edit
// proto/, `buf generate`, `tsc`), runnable as its own CLI and broker process,
// without touching the repository itself.
import { spawn } from "node:child_process";
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { repoRoot } from "./broker-process.js";
import { pythonCommand } from "./language-collectors.js";

/** One field added to one message of a .proto file of proto/. */
export interface AddedField {
  /** Path under proto/, e.g. "corrbus/v1/envelope.proto". */
  file: string;
  /** The message's name, e.g. "EventEnvelope". */
  message: string;
  /** The field's declaration, e.g. "string analyst_note = 16;". */
  declaration: string;
}

export interface ScratchSchemaOptions {
  /**
   * The tree to copy proto/, src/, gen/, bin/ and the build configuration from. Default: the
   * repository's working tree. Another checkout (e.g. `git archive <commit> | tar -x -C DIR`)
   * shows what the test says about an older or newer broker.
   */
  source?: string;
  /** Fields to add to the scratch copy of proto/. */
  fields: AddedField[];
  /** Further directories (relative to the repository) to copy and compile with src/, e.g. "test/fixtures/added-fields". */
  compile?: string[];
  /** Also generate Python stubs (grpcio-tools of examples/python/.venv) into `pythonGen`. Default false. */
  python?: boolean;
}

/** The built scratch tree. */
export interface ScratchSchemaTree {
  readonly root: string;
  /** The scratch build's `corrbus` command (bin/corrbus.js over the scratch dist/). */
  readonly cliPath: string;
  /** The compiled form of a TypeScript file of the scratch tree, e.g. compiled("test/fixtures/x.ts"). */
  compiled(file: string): string;
  /** Where the Python stubs of the scratch proto/ are (sys.path entry), when `python` was asked for. */
  readonly pythonGen: string;
  /** How long each build step took (ms), for the test's log. */
  readonly timings: Record<string, number>;
  remove(): void;
}

/** What the scratch tree takes from the repository (never node_modules, dist or the examples' builds). */
const copied = ["proto", "src", "gen", "bin", "package.json", "tsconfig.json", "buf.yaml", "buf.gen.yaml"];

/** Runs a command to completion; rejects naming the step and its output when it fails. */
function run(step: string, command: string, args: string[], cwd: string): Promise<void> {
  return new Promise((resolveRun, rejectRun) => {
    const child = spawn(command, args, { cwd, stdio: ["ignore", "pipe", "pipe"] });
    let output = "";
    child.stdout.on("data", (chunk) => (output += chunk));
    child.stderr.on("data", (chunk) => (output += chunk));
    child.once("error", (error) => rejectRun(new Error(`scratch tree: ${step} (${command} ${args.join(" ")}) could not start: ${error.message}`)));
    child.once("close", (code) => {
      if (code === 0) resolveRun();
      else rejectRun(new Error(`scratch tree: ${step} (${command} ${args.join(" ")} in ${cwd}) exited with ${code}:\n${output}`));
    });
  });
}

/**
 * Inserts `declaration` as the last field of `message` in `text`. Fails naming
 * the message when it is not there, so a renamed message breaks the harness
 * loudly rather than testing nothing.
 */
export function addFieldToMessage(text: string, message: string, declaration: string): string {
  const opening = new RegExp(`^message ${message} \\{$`, "m").exec(text);
  if (opening === null) throw new Error(`scratch tree: no top-level "message ${message} {" to add "${declaration}" to`);
  let depth = 0;
  for (let index = opening.index + opening[0].length - 1; index < text.length; index++) {
    if (text[index] === "{") depth++;
    else if (text[index] === "}" && --depth === 0) {
      const lineStart = text.lastIndexOf("\n", index) + 1;
      return `${text.slice(0, lineStart)}\n  // Added by the scratch schema of a test (the next release's field).\n  ${declaration}\n${text.slice(lineStart)}`;
    }
  }
  throw new Error(`scratch tree: message ${message} has no closing brace`);
}

/**
 * Copies the repository (its working tree, or `source`: proto/, src/, gen/, bin/
 * and the build configuration; `compile` always from the repository) to a temporary directory, adds `fields` to the .proto
 * files there, runs `buf generate` (the local protoc-gen-es) and `tsc` over
 * gen/, src/ and `compile`, and optionally generates Python stubs. The
 * scratch node_modules is a symlink to the repository's.
 */
export async function buildScratchSchemaTree(options: ScratchSchemaOptions): Promise<ScratchSchemaTree> {
  const root = mkdtempSync(join(tmpdir(), "corrbus-next-schema-"));
  const timings: Record<string, number> = {};
  const timed = async (step: string, work: () => Promise<void> | void) => {
    const started = performance.now();
    await work();
    timings[step] = Math.round(performance.now() - started);
  };
  const pythonGen = join(root, "python-gen");
  const tree: ScratchSchemaTree = {
    root,
    cliPath: join(root, "bin", "corrbus.js"),
    compiled: (file) => join(root, "dist", file.replace(/\.ts$/, ".js")),
    pythonGen,
    timings,
    remove: () => rmSync(root, { recursive: true, force: true }),
  };
  try {
    await timed("copy", () => {
      const source = options.source ?? repoRoot;
      for (const entry of copied) cpSync(join(source, entry), join(root, entry), { recursive: true });
      for (const entry of options.compile ?? []) cpSync(join(repoRoot, entry), join(root, entry), { recursive: true });
      symlinkSync(join(repoRoot, "node_modules"), join(root, "node_modules"), "dir");
      for (const field of options.fields) {
        const file = join(root, "proto", field.file);
        writeFileSync(file, addFieldToMessage(readFileSync(file, "utf8"), field.message, field.declaration));
      }
    });

    await timed("buf generate", () => run("buf generate", "npx", ["--no-install", "buf", "generate"], root));
    // The regenerated code must know every added field (its camelCase property in the generated TypeScript).
    for (const field of options.fields) {
      const name = /\s([a-z_0-9]+)\s*=/.exec(field.declaration)?.[1];
      const generated = join(root, "gen", field.file.replace(/\.proto$/, "_pb.ts"));
      if (name === undefined || !existsSync(generated)) throw new Error(`scratch tree: ${generated} missing after buf generate`);
      if (!readFileSync(generated, "utf8").includes(name.replace(/_([a-z0-9])/g, (_, c: string) => c.toUpperCase()))) {
        throw new Error(`scratch tree: buf generate did not emit ${field.message}.${name} into ${generated}`);
      }
    }

    // Only what the scratch broker, CLI and the fixtures need: gen/, src/ and `compile`.
    writeFileSync(
      join(root, "tsconfig.scratch.json"),
      JSON.stringify(
        {
          extends: "./tsconfig.json",
          compilerOptions: { declaration: false, sourceMap: false, incremental: false },
          include: ["gen/**/*.ts", "src/**/*.ts", ...(options.compile ?? []).map((directory) => `${directory}/**/*.ts`)],
          exclude: ["node_modules", "dist", "src/cli/timeline-page"],
        },
        null,
        2,
      ),
    );
    await timed("tsc", () => run("tsc", "npx", ["--no-install", "tsc", "-p", "tsconfig.scratch.json"], root));
    // Not built: the HTML timeline's page asset (scripts/build-timeline-page.mjs, dist/src/cli/timeline-page.json).
    // The CLI reads it only when writing a page (timeline --html), and building it would add seconds.
    if (!existsSync(join(root, "dist", "src", "cli", "main.js"))) throw new Error(`scratch tree: tsc produced no dist/src/cli/main.js for ${tree.cliPath}`);

    if (options.python === true) {
      await timed("grpc_tools.protoc", async () => {
        const protos = readdirSync(join(root, "proto", "corrbus", "v1"))
          .filter((name) => name.endsWith(".proto"))
          .sort()
          .map((name) => `corrbus/v1/${name}`);
        mkdirSync(pythonGen, { recursive: true });
        await run(
          "grpc_tools.protoc",
          pythonCommand,
          ["-m", "grpc_tools.protoc", "-I", join(root, "proto"), `--python_out=${pythonGen}`, `--grpc_python_out=${pythonGen}`, ...protos],
          root,
        );
      });
    }
    return tree;
  } catch (error) {
    tree.remove();
    throw error;
  }
}
