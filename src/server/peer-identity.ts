import { createContextKey } from "@connectrpc/connect";
import type { PeerIdentity } from "../core/correlation-broker.js";

/**
 * The connection's peer as the transport knows it, carried to handlers as a
 * context value. Until kernel credentials are read (SO_PEERCRED), every peer
 * is unverified and the broker keeps the pid the client states.
 */
export const peerIdentityKey = createContextKey<PeerIdentity>({ verified: false }, { description: "peer identity" });

/**
 * The identity of the peer behind a request. Kernel credentials are not read
 * yet, so every peer is unverified and the pid it states is kept.
 */
export function identifyPeer(_request: unknown): PeerIdentity {
  return { verified: false };
}
