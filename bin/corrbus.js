#!/usr/bin/env node
// The `corrbus` command: compiled TypeScript lives in dist/ (npm run build, or npm start, builds it).
let main;
try {
  ({ main } = await import("../dist/src/cli/main.js"));
} catch (error) {
  // A fresh clone: say what to run instead of a module-resolution stack.
  if (error?.code !== "ERR_MODULE_NOT_FOUND" || !String(error.message).includes("dist/src/cli/main.js")) throw error;
  process.stderr.write(`corrbus: not built yet: run "npm run build" (or "npm start") in ${new URL("..", import.meta.url).pathname}\n`);
  process.exit(1);
}
process.exitCode = await main(process.argv.slice(2));
