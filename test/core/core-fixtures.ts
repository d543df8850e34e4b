import { create } from "@bufbuild/protobuf";
import { CorrelationMetadataSchema } from "../../gen/corrbus/v1/correlation_pb.js";
import { type EventEnvelope, EventEnvelopeSchema } from "../../gen/corrbus/v1/envelope_pb.js";
import type { BrokerLimits } from "../../src/core/validation/broker-limits.js";
import type { PeerIdentity } from "../../src/core/broker-ports.js";
import { CorrelationBroker } from "../../src/core/correlation-broker.js";
import { InvalidInputError } from "../../src/core/validation/invalid-input-error.js";

/** A peer whose pid the kernel did not vouch for. */
export const unverifiedPeer: PeerIdentity = { verified: false };

/** A deterministic, valid (version 4, RFC variant) UUID for `n`. */
export function uuidFor(n: number): string {
  const hex = n.toString(16).padStart(12, "0");
  return `00000000-0000-4000-8000-${hex}`;
}

/** What a test says about the correlation of an event. */
export interface MetaInit {
  correlationId: string;
  parentCorrelationId?: string;
  rootCorrelationId?: string;
  sequenceNumber?: number | bigint;
  workflowStage?: string;
  sourceProcess?: string;
  correlationTags?: Record<string, string>;
  final?: boolean;
}

/** An envelope on `topic`, with correlation metadata when `meta` is given (root defaults to the correlation). */
export function envelope(topic: string, meta?: MetaInit, options: { payload?: Uint8Array; pid?: number; contentType?: string } = {}): EventEnvelope {
  return create(EventEnvelopeSchema, {
    topic,
    payload: options.payload ?? new TextEncoder().encode("{}"),
    contentType: options.contentType ?? "",
    publisherProcessId: options.pid ?? 4242,
    correlationMetadata:
      meta === undefined
        ? undefined
        : create(CorrelationMetadataSchema, {
            correlationId: meta.correlationId,
            parentCorrelationId: meta.parentCorrelationId,
            rootCorrelationId: meta.rootCorrelationId ?? meta.correlationId,
            sequenceNumber: BigInt(meta.sequenceNumber ?? 0),
            workflowStage: meta.workflowStage ?? "",
            sourceProcess: meta.sourceProcess ?? "",
            correlationTags: meta.correlationTags ?? {},
            final: meta.final ?? false,
          }),
  });
}

/** A broker with a settable clock. */
export interface TestBroker {
  broker: CorrelationBroker;
  clock: { now: number };
}

/** A broker on a manual clock starting at `startMs`. */
export function createTestBroker(limits: Partial<BrokerLimits> = {}, startMs = 1_700_000_000_000): TestBroker {
  const clock = { now: startMs };
  const broker = new CorrelationBroker(limits, () => clock.now);
  return { broker, clock };
}

/** Runs `action`, which must throw an InvalidInputError; answers it. */
export function expectInvalidInput(action: () => unknown): InvalidInputError {
  try {
    action();
  } catch (error) {
    if (error instanceof InvalidInputError) return error;
    throw new Error(`expected InvalidInputError, got ${String(error)}`);
  }
  throw new Error("expected InvalidInputError, nothing was thrown");
}
