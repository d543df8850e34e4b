// Preloaded into a broker by a test (NODE_OPTIONS=--require): SIGUSR2 collects
// its garbage, so a memory reading after it counts what the broker holds, not
// garbage V8 has not collected yet (when V8 collects external memory is its
// own heuristic). The log line tells the test it is done.
const v8 = require("node:v8");
const vm = require("node:vm");
const { setTimeout: pause } = require("node:timers/promises");

v8.setFlagsFromString("--expose-gc");
const gc = vm.runInNewContext("gc");
let collections = 0;
process.on("SIGUSR2", async () => {
  // gc() with no options: gc({ type: "major", execution: "sync" }) left the
  // output of refused gzip bombs (17 MiB each) uncollected on Node 20.
  // Native memory goes once a collected object's weak callbacks ran, between
  // turns of the loop: collect until a round frees nothing.
  let external = process.memoryUsage().external;
  for (let round = 0; round < 20; round++) {
    gc();
    await pause(10);
    const now = process.memoryUsage().external;
    if (round > 0 && now >= external) break;
    external = now;
  }
  collections++;
  process.stderr.write(`${JSON.stringify({ msg: "test: garbage collected", collections })}\n`);
});
