import { type NatsConnection, type NodeConnectionOptions, connect } from "@nats-io/transport-node";
import type { FleetLogger, NatsLinkOptions } from "./nats-link.js";

/** First wait after a failed first connection; doubles (with jitter) up to the cap. */
const retryStartMs = 250;
/** Longest wait between first-connection attempts: a server that comes up is found within seconds. */
const retryCapMs = 5000;

/**
 * Connects to NATS for `role` ("forwarding", "ingest") and retries until it
 * succeeds or `signal` aborts (then answers undefined). nats.js's own
 * waitOnFirstConnect retries in silence and cannot be stopped, so a wrong
 * password, an untrusted certificate or a TLS-only server behind a nats://
 * URL left the broker "not connected" with no reason and hung its shutdown:
 * here each failure is logged, at error level with what to check when it
 * differs from the last one (at debug when it repeats, so a long outage does
 * not flood the log). Once connected, nats.js reconnects by itself.
 */
export async function connectNats(
  options: NodeConnectionOptions,
  link: NatsLinkOptions,
  role: string,
  logger: FleetLogger,
  signal: AbortSignal,
): Promise<NatsConnection | undefined> {
  let waitMs = retryStartMs;
  let lastReason = "";
  while (!signal.aborted) {
    try {
      return await connect(options);
    } catch (error) {
      const reason = explainNatsError(error, link);
      logger.log(reason === lastReason ? "debug" : "error", `${role} cannot connect to NATS: ${reason}`, { servers: link.servers, retryInMs: waitMs });
      lastReason = reason;
      await abortableDelay(waitMs + Math.random() * waitMs, signal);
      waitMs = Math.min(retryCapMs, waitMs * 2);
    }
  }
  return undefined;
}

/** Node's codes for a server certificate that does not verify against the trusted CAs. */
const untrustedCertificateCodes = new Set([
  "UNABLE_TO_VERIFY_LEAF_SIGNATURE",
  "UNABLE_TO_GET_ISSUER_CERT",
  "UNABLE_TO_GET_ISSUER_CERT_LOCALLY",
  "SELF_SIGNED_CERT_IN_CHAIN",
  "DEPTH_ZERO_SELF_SIGNED_CERT",
  "CERT_SIGNATURE_FAILURE",
  "CERT_UNTRUSTED",
]);

/** Says what a failed connection means for the options given: which credentials were refused, which CA did not verify the server. */
export function explainNatsError(error: unknown, link: NatsLinkOptions): string {
  const text = String(error);
  const code = (error as { code?: unknown } | undefined)?.code;
  if ((error as Error | undefined)?.name === "AuthorizationError" || /authorization violation/i.test(text)) {
    const given =
      link.user !== undefined
        ? `user "${link.user}" with the password in CORRBUS_NATS_PASSWORD`
        : link.nkeySeedFile !== undefined
          ? `the nkey seed in --nats-nkey ${link.nkeySeedFile}`
          : link.credsFile !== undefined
            ? `the credentials file --nats-creds ${link.credsFile}`
            : "no credentials (give --nats-user, --nats-nkey or --nats-creds)";
    return `the server refused the credentials (${text}): ${given}`;
  }
  if (typeof code === "string" && (untrustedCertificateCodes.has(code) || code === "ERR_TLS_CERT_ALTNAME_INVALID" || code.startsWith("CERT_"))) {
    const trusted = link.tlsCaFile !== undefined ? `the CA in --nats-tls-ca ${link.tlsCaFile}` : "the system's CAs (no --nats-tls-ca given)";
    const plain = link.servers.split(",").some((server) => server.trim().startsWith("nats:")) && link.tlsCaFile === undefined;
    const why = untrustedCertificateCodes.has(code)
      ? `the server's certificate is not signed by ${trusted}`
      : code === "ERR_TLS_CERT_ALTNAME_INVALID"
        ? "the server's certificate does not name the address connected to"
        : "the server's certificate was refused";
    return `TLS: ${why} (${(error as Error).message}, ${code})${plain ? "; the server requires TLS although the URL says nats://" : ""}`;
  }
  const cause = (error as { cause?: unknown } | undefined)?.cause;
  return cause === undefined ? text : `${text} (${String(cause)})`;
}

function abortableDelay(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      signal.removeEventListener("abort", done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener("abort", done, { once: true });
  });
}
