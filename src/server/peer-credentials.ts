import { createRequire } from "node:module";
import type { Socket } from "node:net";
import type { PeerIdentity } from "../core/broker-ports.js";

/**
 * Reads the credentials of the process at the other end of a Unix socket from
 * the kernel: SO_PEERCRED on Linux, LOCAL_PEERCRED (+ LOCAL_PEERPID) on macOS
 * and FreeBSD, through `koffi` calling getsockopt(2) on the accepted socket's
 * descriptor. Node has no API for it. Where the platform cannot say (Windows
 * named pipes) or the call fails, the peer is unverified and the broker keeps
 * the pid the client states.
 */
export function readPeerCredentials(socket: Socket): PeerIdentity {
  const fd = (socket as unknown as { _handle?: { fd?: number } })._handle?.fd;
  if (fd === undefined || fd < 0) return { verified: false };
  try {
    return platformReader()?.(fd) ?? { verified: false };
  } catch {
    return { verified: false };
  }
}

type Reader = (fd: number) => PeerIdentity | undefined;

let reader: Reader | null | undefined;

/** The getsockopt binding for this platform, loaded once; null where there is none. */
function platformReader(): Reader | null {
  if (reader !== undefined) return reader;
  reader = null;
  try {
    const koffi = createRequire(import.meta.url)("koffi");
    if (process.platform === "linux") reader = linuxReader(koffi);
    else if (process.platform === "darwin" || process.platform === "freebsd") reader = bsdReader(koffi);
  } catch {
    reader = null;
  }
  return reader;
}

// biome-ignore lint/suspicious/noExplicitAny: koffi ships no types; the bindings below are typed by their C signatures
type Koffi = any;

function linuxReader(koffi: Koffi): Reader {
  const getsockopt = koffi.load("libc.so.6").func("int getsockopt(int fd, int level, int name, _Out_ uint8_t *value, _Inout_ uint32_t *length)");
  const SOL_SOCKET = 1;
  const SO_PEERCRED = 17;
  return (fd) => {
    // struct ucred { pid_t pid; uid_t uid; gid_t gid; }
    const value = Buffer.alloc(12);
    if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, value, [12]) !== 0) return undefined;
    return { pid: value.readInt32LE(0), uid: value.readUInt32LE(4), gid: value.readUInt32LE(8), verified: true };
  };
}

function bsdReader(koffi: Koffi): Reader {
  const library = process.platform === "darwin" ? "/usr/lib/libSystem.B.dylib" : "libc.so.7";
  const getsockopt = koffi.load(library).func("int getsockopt(int fd, int level, int name, _Out_ uint8_t *value, _Inout_ uint32_t *length)");
  const SOL_LOCAL = 0;
  const LOCAL_PEERCRED = 1;
  const LOCAL_PEERPID = 2; // macOS only
  return (fd) => {
    // struct xucred { u_int cr_version; uid_t cr_uid; short cr_ngroups; gid_t cr_groups[16]; ... }
    const credentials = Buffer.alloc(128);
    if (getsockopt(fd, SOL_LOCAL, LOCAL_PEERCRED, credentials, [credentials.length]) !== 0) return undefined;
    const identity: PeerIdentity = { uid: credentials.readUInt32LE(4), gid: credentials.readUInt32LE(12), verified: true };
    if (process.platform === "darwin") {
      const pid = Buffer.alloc(4);
      if (getsockopt(fd, SOL_LOCAL, LOCAL_PEERPID, pid, [4]) === 0) identity.pid = pid.readInt32LE(0);
    }
    return identity;
  };
}
