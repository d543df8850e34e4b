import { createContextKey } from "@connectrpc/connect";
import type { PeerIdentity } from "../core/broker-ports.js";

/**
 * The connection's peer as the transport knows it (kernel credentials where
 * the platform has them), carried to handlers as a context value.
 */
export const peerIdentityKey = createContextKey<PeerIdentity>({ verified: false }, { description: "peer identity" });

/** Where a connection's credentials are kept on its socket (read once, at accept). */
export const peerCredentials = Symbol("corrbus.peerCredentials");

const unverified: PeerIdentity = Object.freeze({ verified: false });

/**
 * The identity of the peer behind a request: the kernel's credentials read
 * when its connection was accepted, or unverified where the platform cannot
 * say. (An HTTP/2 request's `socket` is a proxy that forwards property reads
 * to the real socket.)
 */
export function identifyPeer(request: { socket: unknown }): PeerIdentity {
  const socket = request.socket as { [peerCredentials]?: PeerIdentity } | undefined;
  return socket?.[peerCredentials] ?? unverified;
}
