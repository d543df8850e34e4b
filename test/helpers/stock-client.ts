import { connect } from "node:net";
import { type Client, createClient } from "@connectrpc/connect";
import { Http2SessionManager, createConnectTransport, createGrpcTransport } from "@connectrpc/connect-node";
import { CorrelationService } from "../../src/index.js";

/** How a stock connect-node client speaks to the broker. */
export type StockProtocol = "gRPC" | "Connect JSON" | "Connect binary";

/**
 * A connect-node client of the broker on `socketPath`, on a session of its
 * own (abort it when done): what a third-party gRPC or Connect client sends,
 * to hold the TS client's lean paths against.
 */
export function stockClient(socketPath: string, protocol: StockProtocol): { client: Client<typeof CorrelationService>; session: Http2SessionManager } {
  const session = new Http2SessionManager("http://localhost", {}, { createConnection: () => connect(socketPath) });
  const options = { baseUrl: "http://localhost", httpVersion: "2" as const, sessionManager: session };
  const transport = protocol === "gRPC" ? createGrpcTransport(options) : createConnectTransport({ ...options, useBinaryFormat: protocol === "Connect binary" });
  return { client: createClient(CorrelationService, transport), session };
}
