import { readFileSync } from "node:fs";
import { createRequire } from "node:module";

/** The version of the nats.js client the bench drives (@nats-io/transport-node, pinned in package.json), e.g. "3.4.0". */
export function natsClientVersion(): string {
  const require = createRequire(import.meta.url);
  const manifest = JSON.parse(readFileSync(require.resolve("@nats-io/transport-node/package.json"), "utf8")) as { version: string };
  return manifest.version;
}
