import { closeSync, constants, ftruncateSync, mkdirSync, openSync, readFileSync, writeSync } from "node:fs";
import { homedir } from "node:os";
import { join, resolve } from "node:path";
import { tryExclusiveLock } from "./file-lock.js";

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

/** Start-up refused because of the data directory; the message says why and what to do. */
export class DataDirectoryError extends Error {
  override name = "DataDirectoryError";
}

/** Start-up refused: another live broker owns the data directory. */
export class DataDirectoryLockedError extends DataDirectoryError {
  override name = "DataDirectoryLockedError";
}

/** Kernel pseudo-filesystems: nothing durable lives there (and mkdir under /proc can fail in odd ways). */
const pseudoFilesystems = ["/proc", "/sys", "/dev"];

/** Refuses a data directory no journal can live in, before anything is created. */
export function checkDataDirectoryPath(directory: string): void {
  if (process.platform === "win32") return;
  const absolute = resolve(directory);
  const under = pseudoFilesystems.find((root) => absolute === root || absolute.startsWith(`${root}/`));
  if (under !== undefined)
    throw new DataDirectoryError(`--data-dir ${directory} is under ${under}, a kernel pseudo-filesystem; choose a directory on a real disk`);
}

/**
 * Takes the data directory for this process: two brokers appending to one
 * journal would interleave records. An exclusive kernel lock (flock) on its
 * LOCK file: atomic against two brokers starting together, and released by
 * the kernel when the process dies, so a restart right after a SIGKILL (or a
 * reused pid) is never refused. The file names the owner's pid, for the
 * message a second broker gets. Where the platform has no flock (Windows) the
 * pid in the file decides, as a best effort. Answers a function that releases it.
 */
export function lockDataDirectory(directory: string): () => void {
  mkdirSync(directory, { recursive: true, mode: 0o700 });
  const lockPath = join(directory, "LOCK");
  const fd = openSync(lockPath, constants.O_RDWR | constants.O_CREAT, 0o600);
  let lock: ReturnType<typeof tryExclusiveLock>;
  try {
    lock = tryExclusiveLock(fd);
  } catch (error) {
    closeSync(fd);
    throw error;
  }
  if (lock === "busy" || (lock === "unsupported" && ownedByAnother(lockPath))) {
    const owner = readOwner(lockPath);
    closeSync(fd);
    throw new DataDirectoryLockedError(
      `data directory ${directory} is in use by ${owner === undefined ? "another process" : `process ${owner}`} (another broker?); stop it or choose another --data-dir`,
    );
  }
  ftruncateSync(fd, 0);
  writeSync(fd, `${process.pid}\n`, 0);
  // The file stays: unlinking it would let a broker lock a new file while another still holds the old one.
  return () => {
    try {
      ftruncateSync(fd, 0);
    } finally {
      closeSync(fd);
    }
  };
}

function readOwner(lockPath: string): number | undefined {
  try {
    const owner = Number(readFileSync(lockPath, "utf8").trim());
    return Number.isInteger(owner) && owner > 0 ? owner : undefined;
  } catch {
    return undefined;
  }
}

function ownedByAnother(lockPath: string): boolean {
  const owner = readOwner(lockPath);
  return owner !== undefined && owner !== process.pid && isAlive(owner);
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}
