import { tmpdir, userInfo } from "node:os";
import { join } from "node:path";

/** Socket file name inside the runtime directory. */
export const socketFileName = "corrbus.sock";

/**
 * Where broker and clients meet when nobody says otherwise — shared knowledge
 * of both sides, so it lives in the core: `CORRBUS_SOCKET` when set, else
 * `$XDG_RUNTIME_DIR/corrbus/corrbus.sock` (per-user, 0700, cleaned at logout),
 * else `<tmpdir>/corrbus-<uid>/corrbus.sock`; on Windows a per-user named pipe.
 */
export function defaultSocketPath(env: NodeJS.ProcessEnv = process.env): string {
  if (env.CORRBUS_SOCKET) return env.CORRBUS_SOCKET;
  if (process.platform === "win32") return `\\\\.\\pipe\\corrbus-${userInfo().username}`;
  if (env.XDG_RUNTIME_DIR) return join(env.XDG_RUNTIME_DIR, "corrbus", socketFileName);
  return join(tmpdir(), `corrbus-${userInfo().uid}`, socketFileName);
}
