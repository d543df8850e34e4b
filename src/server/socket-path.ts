import { chmodSync, chownSync, lstatSync, mkdirSync, readFileSync, statSync, unlinkSync, type Stats } from "node:fs";
import { connect } from "node:net";
import { dirname } from "node:path";

/** True for Windows named pipe paths (`\\.\pipe\name`, `\\?\pipe\name`): no file system checks apply. */
export function isNamedPipePath(path: string): boolean {
  return /^\\\\[.?]\\pipe\\/i.test(path);
}

/** Start-up refused because of the socket path; the message says why and what to do. */
export class SocketPathError extends Error {
  override name = "SocketPathError";
}

/**
 * Makes `socketPath` ready to listen on: its directory exists (created 0700),
 * it is not a symlink, and a stale socket file left by a dead broker is
 * removed. A live socket (something answers on it, or its accept queue is
 * full) is refused. Answers whether a stale socket was replaced and whether
 * the directory was created here (only then may --socket-group change it).
 */
export async function prepareSocketPath(socketPath: string): Promise<{ replacedStale: boolean; createdDirectory: boolean }> {
  if (isNamedPipePath(socketPath)) return { replacedStale: false, createdDirectory: false };
  const directory = dirname(socketPath);
  const createdDirectory = ensurePrivateDirectory(directory);
  const existing = lstatOrUndefined(socketPath);
  if (existing === undefined) return { replacedStale: false, createdDirectory };
  if (existing.isSymbolicLink()) throw new SocketPathError(`${socketPath} is a symbolic link; refusing to use it`);
  if (!existing.isSocket()) throw new SocketPathError(`${socketPath} exists and is not a socket; remove it or choose another --socket`);
  if (await isAnswering(socketPath)) {
    throw new SocketPathError(`another broker is already listening on ${socketPath}; stop it or choose another --socket`);
  }
  unlinkSync(socketPath);
  return { replacedStale: true, createdDirectory };
}

/** Answers whether it created the directory. */
function ensurePrivateDirectory(directory: string): boolean {
  let stats = lstatOrUndefined(directory);
  const created = stats === undefined;
  if (stats === undefined) {
    // Ours: created private, so only this user can reach the socket.
    mkdirSync(directory, { recursive: true, mode: 0o700 });
    chmodSync(directory, 0o700);
    stats = lstatSync(directory);
  }
  if (stats.isSymbolicLink()) throw new SocketPathError(`socket directory ${directory} is a symbolic link; refusing to use it`);
  if (!stats.isDirectory()) throw new SocketPathError(`socket directory ${directory} is not a directory`);
  const uid = process.getuid?.();
  const sticky = (stats.mode & 0o1000) !== 0;
  // Anyone who can write a non-sticky directory could swap the socket under us.
  if (uid !== undefined && stats.uid !== uid && stats.uid !== 0 && !sticky) {
    throw new SocketPathError(`socket directory ${directory} belongs to uid ${stats.uid}, not to this user (${uid}); refusing to use it`);
  }
  if (!sticky && (stats.mode & 0o022) !== 0) {
    throw new SocketPathError(
      `socket directory ${directory} is writable by group or others (mode ${(stats.mode & 0o777).toString(8)}); use a private directory`,
    );
  }
  return created;
}

function lstatOrUndefined(path: string): Stats | undefined {
  try {
    return lstatSync(path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw error;
  }
}

/**
 * True unless the socket is certainly dead: nobody listening (ECONNREFUSED)
 * or gone (ENOENT). A full accept queue (EAGAIN) or a slow accept is a live
 * broker, whose socket must not be deleted.
 */
function isAnswering(socketPath: string): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(socketPath);
    const done = (answer: boolean) => {
      socket.destroy();
      resolve(answer);
    };
    socket.setTimeout(1000, () => done(true));
    socket.once("connect", () => done(true));
    socket.once("error", (error: NodeJS.ErrnoException) => done(error.code !== "ECONNREFUSED" && error.code !== "ENOENT"));
  });
}

/** A group name or number → gid, from /etc/group (Node has no getgrnam). */
export function resolveGroup(group: string): number {
  if (/^\d+$/.test(group)) return Number(group);
  for (const line of readFileSync("/etc/group", "utf8").split("\n")) {
    const [name, , gid] = line.split(":");
    if (name === group && gid !== undefined) return Number(gid);
  }
  throw new SocketPathError(`--socket-group: no group named "${group}" in /etc/group`);
}

/**
 * Opens the socket to one group: the socket becomes 0660 owned by `gid`, so
 * members can connect and nobody else can. A directory corrbus created for
 * the socket becomes 0710 (traverse only) with that group; one it did not
 * create (/tmp, /run, an operator's) is never changed: it must let the group
 * through already, or start-up is refused saying so.
 */
export function grantGroupAccess(socketPath: string, gid: number, createdDirectory: boolean): void {
  const directory = dirname(socketPath);
  if (createdDirectory) {
    chownSync(directory, -1, gid);
    chmodSync(directory, 0o710);
  } else {
    const stats = statSync(directory);
    const traversable = (stats.mode & 0o001) !== 0 || ((stats.mode & 0o010) !== 0 && stats.gid === gid);
    if (!traversable) {
      throw new SocketPathError(
        `--socket-group: socket directory ${directory} (mode ${(stats.mode & 0o777).toString(8)}) does not let group ${gid} through, and corrbus did not create it so leaves it as it is; choose a --socket in a new directory`,
      );
    }
  }
  chownSync(socketPath, -1, gid);
  chmodSync(socketPath, 0o660);
}
