import { Code, type ConnectError } from "@connectrpc/connect";
import { type CorrelationClient, createCorrelationClient } from "../client/correlation-client.js";

/** The source_process the CLI publishes and subscribes as unless told otherwise. */
export const defaultCliSource = "corrbus-cli";

/**
 * Runs `use` with a client of the broker at `socket` (default: the broker's
 * default path) and closes it afterwards, so that no HTTP/2 session keeps
 * the process alive once the command is done.
 */
export async function withClient<T>(socket: string | undefined, use: (client: CorrelationClient) => Promise<T>, sourceProcess = defaultCliSource): Promise<T> {
  const client = createCorrelationClient({ socketPath: socket, sourceProcess });
  try {
    return await use(client);
  } finally {
    client.close();
  }
}

/**
 * One line for a failed call: the code as the wire spells it (gRPC style,
 * e.g. INVALID_ARGUMENT) and the broker's message, which names the field and
 * the limit: `INVALID_ARGUMENT: topic: first segment "metrics" …`.
 */
export function connectErrorText(error: ConnectError): string {
  const code = (Code[error.code] ?? "UNKNOWN").replace(/([a-z])([A-Z])/g, "$1_$2").toUpperCase();
  return `${code}: ${error.rawMessage}`;
}
