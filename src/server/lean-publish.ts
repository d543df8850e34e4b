import type * as http from "node:http";
import type * as http2 from "node:http2";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError } from "@connectrpc/connect";
import { codeToHttpStatus, errorToJsonBytes } from "@connectrpc/connect/protocol-connect";
import { PublishRequestSchema, PublishResponseSchema } from "../../gen/corrbus/v1/service_pb.js";
import type { CorrelationBroker, PeerIdentity } from "../core/correlation-broker.js";
import { InvalidInputError } from "../core/invalid-input-error.js";
import { toConnectError } from "./service-errors.js";

type NodeRequest = http.IncomingMessage | http2.Http2ServerRequest;
type NodeResponse = http.ServerResponse | http2.Http2ServerResponse;

const publishPath = "/corrbus.v1.CorrelationService/Publish";

/**
 * A lean path for the hottest call: Publish over the Connect protocol with
 * binary protobuf and no compression. connect-node spends ~0.5 ms of CPU per
 * unary call (several AbortSignals, a DOMException and a ConnectError with
 * stack traces on every call, URL parses, header conversions, async-generator
 * wrappers; see shared/BASELINE.md); this path reads the body, calls the core
 * and writes the answer, with Connect's wire format for errors too. Every
 * other request (gRPC, JSON, compression, other RPCs) goes to the adapter.
 *
 * Answers false when the request is not of that shape.
 */
export function createLeanPublish(
  broker: CorrelationBroker,
  readMaxBytes: number,
  identify: (request: NodeRequest) => PeerIdentity,
): (request: NodeRequest, response: NodeResponse) => boolean {
  return (request, response) => {
    const headers = request.headers;
    if (request.method !== "POST" || request.url !== publishPath) return false;
    if (headers["content-type"] !== "application/proto") return false;
    const encoding = headers["content-encoding"];
    if (encoding !== undefined && encoding !== "identity") return false;
    const version = headers["connect-protocol-version"];
    if (version !== undefined && version !== "1") return false;

    const chunks: Buffer[] = [];
    let length = 0;
    let tooLarge = false;
    request.on("data", (chunk: Buffer) => {
      length += chunk.length;
      if (length > readMaxBytes) tooLarge = true;
      else chunks.push(chunk);
    });
    request.on("end", async () => {
      if (tooLarge) {
        answerError(response, new ConnectError(`message size ${length} is larger than configured readMaxBytes ${readMaxBytes}`, Code.ResourceExhausted));
        return;
      }
      try {
        const body = chunks.length === 1 ? chunks[0] : Buffer.concat(chunks, length);
        let message;
        try {
          message = fromBinary(PublishRequestSchema, body);
        } catch (error) {
          throw new ConnectError(`cannot decode PublishRequest: ${(error as Error).message}`, Code.InvalidArgument);
        }
        if (message.envelope === undefined) throw new InvalidInputError("envelope", "is required");
        const [result] = await broker.submit([message.envelope], identify(request), false);
        const answer = create(PublishResponseSchema, {
          eventId: BigInt(result.eventId),
          deliveredCount: result.deliveredCount,
          receivedAt: timestampFromMs(result.receivedAtMs),
        });
        response.writeHead(200, { "content-type": "application/proto" });
        response.end(toBinary(PublishResponseSchema, answer));
      } catch (error) {
        answerError(response, toConnectError(error));
      }
    });
    return true;
  };
}

function answerError(response: NodeResponse, error: ConnectError): void {
  response.writeHead(codeToHttpStatus(error.code), { "content-type": "application/json" });
  response.end(errorToJsonBytes(error, {}));
}
