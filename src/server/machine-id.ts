import { readFileSync } from "node:fs";

/**
 * Where systemd (and D-Bus before it) keep the host's machine id: 32 hex
 * digits, made once at install and kept across reboots, which makes it the
 * default host id of a fleet's events.
 */
export const machineIdPaths: readonly string[] = ["/etc/machine-id", "/var/lib/dbus/machine-id"];

/**
 * The host's machine id, trimmed, from the first of `paths` that holds one.
 * Throws naming the paths tried and `--host-id` when none does (containers
 * often have none): a broker never stamps a made-up id.
 */
export function readMachineId(paths: readonly string[] = machineIdPaths): string {
  for (const path of paths) {
    try {
      const id = readFileSync(path, "utf8").trim();
      if (id !== "") return id;
    } catch {
      // Not there: the next path.
    }
  }
  throw new Error(`no machine id in ${paths.join(" or ")}: set the host id with --host-id (1-64 of [A-Za-z0-9_-])`);
}
