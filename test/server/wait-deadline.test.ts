import { create } from "@bufbuild/protobuf";
import { createContextValues, createHandlerContext } from "@connectrpc/connect";
import { afterEach, describe, expect, it, vi } from "vitest";
import { CompletionReason, CorrelationService, WaitForResultsRequestSchema } from "../../gen/corrbus/v1/service_pb.js";
import { CorrelationBroker } from "../../src/core/correlation-broker.js";
import { createCorrelationService } from "../../src/server/correlation-service.js";
import { peerIdentityKey } from "../../src/server/peer-identity.js";

// The caller's deadline (connect-timeout-ms / grpc-timeout) bounds a WaitForResults, and the
// answer is sent a little before it so that it reaches the caller as an answer, not as
// DEADLINE_EXCEEDED. Proved here on a clock the test moves: across processes on a loaded machine
// the margin is at the scheduler's mercy (test/integration/query-paths.test.ts takes either).

afterEach(() => {
  vi.useRealTimers();
});

function waitContext(deadlineMs: number) {
  const method = CorrelationService.method.waitForResults;
  return createHandlerContext({
    service: CorrelationService,
    method,
    protocolName: "connect",
    requestMethod: "POST",
    url: `http://localhost/${CorrelationService.typeName}/${method.name}`,
    requestHeader: { "content-type": "application/proto" },
    timeoutMs: deadlineMs,
    contextValues: createContextValues().set(peerIdentityKey, { verified: false }),
  });
}

describe("WaitForResults and the caller's deadline", () => {
  it("should answer with reason DEADLINE 20 ms before the caller's deadline, not at the wait's own timeout", async () => {
    vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout", "Date"] });
    const broker = new CorrelationBroker();
    const service = createCorrelationService(broker);
    const request = create(WaitForResultsRequestSchema, {
      correlationId: "11111111-2222-4333-8444-555555555555",
      expectedResults: 1,
      timeout: { seconds: 10n },
    });
    let answered = false;
    const answer = Promise.resolve(service.waitForResults(request, waitContext(400))).finally(() => (answered = true));
    await vi.advanceTimersByTimeAsync(379);
    expect(answered).toBe(false);
    await vi.advanceTimersByTimeAsync(1);
    expect(answered).toBe(true);
    expect(await answer).toMatchObject({ complete: false, reason: CompletionReason.DEADLINE });
    expect(broker.stats().waiters).toBe(0);
  });
});
