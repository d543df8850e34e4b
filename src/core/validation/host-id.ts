import { InvalidInputError } from "./invalid-input-error.js";

/** Longest host id: a machine-id is 32 hex digits; room for names such as a fully qualified host name's first label. */
export const maxHostIdBytes = 64;

/**
 * Checks a host id: 1 to 64 characters of [A-Za-z0-9_-]. Host ids become a
 * NATS subject token (`corrbus.<host_id>.<topic>`) and part of each forwarded
 * message's `Nats-Msg-Id`, so dots, wildcards, spaces and other characters
 * that would change a subject's meaning are refused. Answers the id.
 */
export function checkHostId(hostId: string, field = "host_id"): string {
  if (hostId.length === 0) throw new InvalidInputError(field, "must not be empty");
  if (hostId.length > maxHostIdBytes) throw new InvalidInputError(field, `${hostId.length} characters exceeds the limit of ${maxHostIdBytes}`);
  const bad = /[^A-Za-z0-9_-]/.exec(hostId);
  if (bad !== null) {
    throw new InvalidInputError(
      field,
      `"${hostId}" has ${JSON.stringify(bad[0])} at ${bad.index}: only [A-Za-z0-9_-] may be used (it becomes a NATS subject token)`,
    );
  }
  return hostId;
}
