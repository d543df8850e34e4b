import { createRequire } from "node:module";

/**
 * flock(2) through koffi (Node has no file-lock API): an exclusive lock the
 * kernel holds for the open file description and drops when the process
 * dies, however it dies. Answers "taken", "busy" (another process holds it),
 * or "unsupported" where there is no flock (Windows).
 */
export function tryExclusiveLock(fd: number): "taken" | "busy" | "unsupported" {
  const binding = flockBinding();
  if (binding === null) return "unsupported";
  if (binding.flock(fd, lockExclusive | lockNonBlocking) === 0) return "taken";
  const errno = binding.errno();
  if (errno === binding.wouldBlock) return "busy";
  throw new Error(`flock on the data directory's LOCK file failed (errno ${errno})`);
}

const lockExclusive = 2;
const lockNonBlocking = 4;

interface FlockBinding {
  flock: (fd: number, operation: number) => number;
  errno: () => number;
  /** EWOULDBLOCK: 11 on Linux, 35 on macOS and FreeBSD. */
  wouldBlock: number;
}

let binding: FlockBinding | null | undefined;

function flockBinding(): FlockBinding | null {
  if (binding !== undefined) return binding;
  binding = null;
  const library = { linux: "libc.so.6", darwin: "/usr/lib/libSystem.B.dylib", freebsd: "libc.so.7" }[process.platform as string];
  if (library === undefined) return binding;
  const koffi = createRequire(import.meta.url)("koffi");
  binding = {
    flock: koffi.load(library).func("int flock(int fd, int operation)"),
    errno: () => koffi.errno() as number,
    wouldBlock: process.platform === "linux" ? 11 : 35,
  };
  return binding;
}
