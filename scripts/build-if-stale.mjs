#!/usr/bin/env node
// `npm start` builds only when dist/ is older than what it is built from, so starting an already built
// broker takes the broker's own start-up time instead of a full build's (tsc, the page, the baseline code).
// `npm run build` is this with --force: it always builds (the steps are `npm run build:steps`) and stamps.
//
// Inputs: every file under the folders the two tsconfigs and the baseline template read, those configs, the
// page builder and package.json/package-lock.json (a dependency change can change what tsc accepts). The
// stamp is written only after a build that succeeded, so a failed build is tried again next time.
import { spawnSync } from "node:child_process";
import { readdirSync, statSync, utimesSync, writeFileSync } from "node:fs";
import { join } from "node:path";

const root = join(import.meta.dirname, "..");
const stamp = join(root, "dist", ".build-stamp");
const folders = ["src", "gen", "test", "bench", "examples", "schema"];
const files = ["tsconfig.json", "tsconfig.browser.json", "buf.gen.baseline.yaml", "scripts/build-timeline-page.mjs", "package.json", "package-lock.json"];
/** Folders under the inputs that hold no build input (the other languages' build output, virtualenvs). */
const skipped = new Set(["node_modules", "target", ".venv", ".bin", "__pycache__"]);
/** What tsc, the page builder and the baseline generation read; a shell script or a Rust file changes nothing in dist/. */
const inputExtension = /\.(ts|mts|mjs|css|json|binpb|yaml)$/;

/** The newest modification time (ms) under `path`, and which file has it. */
function newest(path) {
  const stat = statSync(path, { throwIfNoEntry: false });
  if (stat === undefined) return { ms: 0, file: path };
  if (!stat.isDirectory()) return { ms: inputExtension.test(path) ? stat.mtimeMs : 0, file: path };
  let best = { ms: 0, file: path };
  for (const entry of readdirSync(path, { withFileTypes: true })) {
    if (entry.isDirectory() && skipped.has(entry.name)) continue;
    const found = newest(join(path, entry.name));
    if (found.ms > best.ms) best = found;
  }
  return best;
}

let input = { ms: 0, file: "" };
for (const path of [...folders, ...files]) {
  const found = newest(join(root, path));
  if (found.ms > input.ms) input = found;
}
const built = statSync(stamp, { throwIfNoEntry: false })?.mtimeMs ?? 0;
const force = process.argv[2] === "--force";
if (built > input.ms && !force) process.exit(0);

const reason = built === 0 ? "no build yet" : `${input.file.slice(root.length + 1)} changed since the last build`;
// npm run build stays quiet as it always was; npm start says why it waits.
if (!force) process.stderr.write(`corrbus: building (${reason})…\n`);
const startedAt = Date.now();
const build = spawnSync("npm", ["run", "build:steps", "--silent"], { cwd: root, stdio: "inherit" });
if (build.status !== 0) process.exit(build.status ?? 1);
// Dated when the build started: a file saved while it ran is newer, and builds again next time.
writeFileSync(stamp, `${new Date(startedAt).toISOString()}\n`);
utimesSync(stamp, new Date(startedAt), new Date(startedAt));
if (!force) process.stderr.write(`corrbus: built in ${((Date.now() - startedAt) / 1000).toFixed(1)} s\n`);
