import { mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";

/**
 * Where the broker keeps its journal unless told otherwise: the user's state
 * directory (`$XDG_STATE_HOME/corrbus`, else `~/.local/state/corrbus`; on
 * Windows `%LOCALAPPDATA%\corrbus`). `CORRBUS_DATA_DIR` overrides it.
 */
export function defaultDataDirectory(env: NodeJS.ProcessEnv = process.env): string {
  if (env.CORRBUS_DATA_DIR) return env.CORRBUS_DATA_DIR;
  if (process.platform === "win32" && env.LOCALAPPDATA) return join(env.LOCALAPPDATA, "corrbus");
  if (env.XDG_STATE_HOME) return join(env.XDG_STATE_HOME, "corrbus");
  return join(homedir(), ".local", "state", "corrbus");
}

/** Start-up refused: another live broker owns the data directory. */
export class DataDirectoryLockedError extends Error {
  override name = "DataDirectoryLockedError";
}

/**
 * Takes the data directory for this process: two brokers appending to one
 * journal would interleave records. A lock file names the owner's pid; a lock
 * whose process is gone is taken over. Answers a function that releases it.
 */
export function lockDataDirectory(directory: string): () => void {
  mkdirSync(directory, { recursive: true, mode: 0o700 });
  const lockPath = join(directory, "LOCK");
  try {
    const owner = Number(readFileSync(lockPath, "utf8").trim());
    if (Number.isInteger(owner) && owner > 0 && owner !== process.pid && isAlive(owner)) {
      throw new DataDirectoryLockedError(`data directory ${directory} is in use by process ${owner} (another broker?); stop it or choose another --data-dir`);
    }
  } catch (error) {
    if (error instanceof DataDirectoryLockedError) throw error;
    // No lock file, or an unreadable one: take it.
  }
  writeFileSync(lockPath, `${process.pid}\n`, { mode: 0o600 });
  return () => rmSync(lockPath, { force: true });
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}
