import type * as http2 from "node:http2";
import type { DescMethod } from "@bufbuild/protobuf";
import { Code, ConnectError, type ContextValues, type HandlerContext, createContextValues } from "@connectrpc/connect";
import { CorrelationService } from "../../gen/corrbus/v1/service_pb.js";
import type { PeerIdentity } from "../core/broker-ports.js";
import { parseTimeout } from "../wire/connect-internals.js";
import { peerIdentityKey } from "./peer-identity.js";

/** What every lean handler needs from the broker's set-up: the adapter's own limits and shutdown signal. */
export interface LeanCallOptions {
  readMaxBytes: number;
  maxTimeoutMs: number;
  shutdownSignal: AbortSignal;
  identify: (stream: http2.ServerHttp2Stream) => PeerIdentity;
}

/**
 * The one policy of the lean paths, as connect-node has it: a Connect call
 * (protocol version 1 or unstated) with binary protobuf and no compression;
 * the deadline from connect-timeout-ms, bounded by maxTimeoutMs (a malformed
 * or too long one is refused with connect-node's error); the call ends when
 * the deadline passes, the client goes or the broker shuts down; the peer's
 * kernel identity in the context. Anything else goes to connect-node.
 */
export function isLeanCall(headers: http2.IncomingHttpHeaders, contentType: string, encodingHeader: string): boolean {
  if (headers[":method"] !== "POST" || headers["content-type"] !== contentType) return false;
  const encoding = headers[encodingHeader];
  if (encoding !== undefined && encoding !== "identity") return false;
  const version = headers["connect-protocol-version"];
  return version === undefined || version === "1";
}

/** A lean call's handler context, or the error its deadline header earns. */
export function leanCallContext(
  stream: http2.ServerHttp2Stream,
  headers: http2.IncomingHttpHeaders,
  method: DescMethod,
  contentType: string,
  options: LeanCallOptions,
): { context: LeanHandlerContext; error?: undefined } | { context?: undefined; error: ConnectError } {
  const deadline = headers["connect-timeout-ms"];
  const { timeoutMs, error } = parseTimeout(typeof deadline === "string" ? deadline : null, options.maxTimeoutMs);
  if (error !== undefined) return { error };
  // Read now: once the stream is reset it has no session to ask.
  const peer = options.identify(stream);
  const context = new LeanHandlerContext(stream, method, contentType, timeoutMs, options.shutdownSignal, createContextValues().set(peerIdentityKey, peer));
  return { context };
}

/**
 * A HandlerContext as connect-node's createHandlerContext makes it (its
 * signal aborts at the deadline, when the client goes or the broker shuts
 * down, and with abort()), built only as far as a handler reads it: Publish
 * reads the peer and never the signal, and connect's signals, timers and
 * Headers were much of a lean call's cost.
 */
class LeanHandlerContext implements HandlerContext {
  readonly service = CorrelationService;
  readonly protocolName = "connect";
  readonly requestMethod = "POST";
  private readonly deadline: number | undefined;
  private controller: AbortController | undefined;
  private timer: NodeJS.Timeout | undefined;
  private ended = false;
  /** Listening to the stream and the shutdown signal (only once the signal was asked for). */
  private watching = false;
  private headers: { request?: Headers; response?: Headers; trailer?: Headers } = {};

  constructor(
    private readonly stream: http2.ServerHttp2Stream,
    readonly method: DescMethod,
    private readonly contentType: string,
    timeoutMs: number | undefined,
    private readonly shutdownSignal: AbortSignal,
    readonly values: ContextValues,
  ) {
    this.deadline = timeoutMs === undefined ? undefined : Date.now() + timeoutMs;
  }

  get url(): string {
    return `http://localhost/${CorrelationService.typeName}/${this.method.name}`;
  }

  timeoutMs(): number | undefined {
    return this.deadline === undefined ? undefined : this.deadline - Date.now();
  }

  get signal(): AbortSignal {
    if (this.controller === undefined) {
      const controller = new AbortController();
      this.controller = controller;
      if (this.ended) controller.abort();
      else this.watch();
    }
    return this.controller.signal;
  }

  get requestHeader(): Headers {
    return (this.headers.request ??= new Headers({ "content-type": this.contentType }));
  }

  get responseHeader(): Headers {
    return (this.headers.response ??= new Headers());
  }

  get responseTrailer(): Headers {
    return (this.headers.trailer ??= new Headers());
  }

  /** Ends the call: its signal aborts (with `reason`) and nothing is watched any more. */
  abort(reason?: unknown): void {
    this.ended = true;
    if (this.watching) {
      this.watching = false;
      clearTimeout(this.timer);
      this.shutdownSignal.removeEventListener("abort", this.onShutdown);
      this.stream.off("close", this.onClose);
    }
    if (this.controller !== undefined && !this.controller.signal.aborted) this.controller.abort(reason);
  }

  private watch(): void {
    if (this.shutdownSignal.aborted) {
      this.abort(this.shutdownSignal.reason);
      return;
    }
    if (this.stream.closed || this.stream.destroyed) {
      this.onClose();
      return;
    }
    this.watching = true;
    this.shutdownSignal.addEventListener("abort", this.onShutdown, { once: true });
    this.stream.once("close", this.onClose);
    const left = this.timeoutMs();
    if (left !== undefined) this.timer = setTimeout(() => this.abort(new ConnectError("the operation timed out", Code.DeadlineExceeded)), Math.max(0, left));
  }

  // Bound once the signal is asked for: most calls never ask.
  private onShutdownBound: (() => void) | undefined;
  private onCloseBound: (() => void) | undefined;

  private get onShutdown(): () => void {
    return (this.onShutdownBound ??= () => this.abort(this.shutdownSignal.reason));
  }

  private get onClose(): () => void {
    return (this.onCloseBound ??= () => this.abort(new ConnectError("the client closed the call", Code.Canceled)));
  }
}
