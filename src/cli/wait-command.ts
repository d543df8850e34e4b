import { parseArgs } from "node:util";
import { CompletionReason, type WaitForResultsResponse, WaitForResultsResponseSchema } from "../../gen/corrbus/v1/service_pb.js";
import { Code, ConnectError } from "@connectrpc/connect";
import type { CorrelationClient } from "../client/correlation-client.js";
import { Backoff, sleep } from "../client/retry-policy.js";
import { connectErrorText, withClient } from "./cli-client.js";
import { commonHelp, commonOptions, durationMs, positionals, positiveInteger } from "./cli-options.js";
import { enumText, eventHeaders, eventRow, formatDuration } from "./human-format.js";
import { keyValues, table, writeJson } from "./output-format.js";
import { createProgress } from "./progress.js";
import { UsageError } from "./usage-error.js";

/** The text of `corrbus wait --help`. */
export const waitHelp = `Usage: corrbus wait CORRELATION_ID [options]

Waits until a correlation is complete, or the timeout passes, and prints the
outcome: complete or not, why, the result events so far, the sources still
owing a final event and those that disconnected. --json: the
WaitForResultsResponse as one line.

With neither --expected-results nor --expected-source the wait is
delivery-tracked: complete when every subscriber the broker delivered a task
(a control.# event) of the correlation to has answered with a final event.

A correlation the broker has never seen (no event published in it) fails at
once with NOT_FOUND, rather than after the timeout: publish the task first.

Options:
  --expected-results N
                      complete once N result events have arrived
  --expected-source S
                      complete once S has sent a final event (repeatable)
  --topic-pattern P   which events count as results (default events.#)
  --timeout DURATION  how long to wait at most: 500ms, 30s, 5m, 1h; a bare
                      number is seconds (default 30s, at most 1h)
  --omit-payloads     leave payloads out of the result events
${commonHelp}

If the broker goes away while waiting (killed, restarting, shutting down),
it waits for the broker to come back and waits again for the time left,
with a note on stderr; the broker answers from what its journal kept.

Exit codes: 0 complete, 3 incomplete (deadline, a recipient disconnected, the
task reached nobody), 1 error (the correlation unknown included), 2 usage.

Examples:
  corrbus wait 3f2a9c1e-2b0d-4c55-9a7e-6d6b1f0a9e11
  corrbus wait "$ID" --expected-source process-monitor --expected-source file-monitor --timeout 2m
  corrbus wait "$ID" --expected-results 3 --json | jq -r '.events[].topic'
`;

/** The broker's longest wait (BrokerLimits.maxWaitMs); longer ones it refuses, with a message about the RPC deadline. */
const maxWaitMs = 3_600_000;
/** Time the broker has to answer a wait after its own deadline before the call itself gives up. */
const answerMarginMs = 10_000;

/** `corrbus wait`: one WaitForResults call; answers 0 complete, 3 incomplete. */
export async function waitCommand(args: string[]): Promise<number> {
  const { values, positionals: given } = parseArgs({
    args,
    allowPositionals: true,
    strict: true,
    options: {
      ...commonOptions,
      "expected-results": { type: "string" },
      "expected-source": { type: "string", multiple: true, default: [] },
      "topic-pattern": { type: "string", default: "" },
      timeout: { type: "string", default: "30s" },
      "omit-payloads": { type: "boolean", default: false },
    },
  });
  if (values.help) {
    process.stdout.write(waitHelp);
    return 0;
  }
  const [correlationId] = positionals(given, ["CORRELATION_ID"]);
  const timeoutMs = durationMs("timeout", values.timeout);
  if (timeoutMs > maxWaitMs) throw new UsageError(`--timeout: ${values.timeout} is longer than the broker waits (1h)`);
  const expectedResults = values["expected-results"] === undefined ? 0 : positiveInteger("expected-results", values["expected-results"]);

  return withClient(values.socket, async (client) => {
    await mustBeKnown(client, correlationId);
    const progress = createProgress();
    const started = Date.now();
    progress.every(250, () => `waiting for ${correlationId}… ${formatDuration(Date.now() - started)} of ${formatDuration(timeoutMs)}`);
    let response: WaitForResultsResponse;
    try {
      response = await waitAcrossRestarts(timeoutMs, (leftMs) =>
        client.service.waitForResults(
          {
            correlationId,
            expectedResults,
            expectedSources: values["expected-source"],
            topicPattern: values["topic-pattern"],
            timeout: { seconds: BigInt(Math.floor(leftMs / 1000)), nanos: (leftMs % 1000) * 1_000_000 },
            omitPayloads: values["omit-payloads"],
          },
          { timeoutMs: leftMs + answerMarginMs },
        ),
      );
    } finally {
      progress.done();
    }
    if (values.json) {
      writeJson(WaitForResultsResponseSchema, response);
    } else {
      const pairs: [string, string][] = [
        ["outcome", `${response.complete ? "complete" : "incomplete"} (${enumText(CompletionReason, response.reason)})`],
        ["results", `${response.events.length}${response.truncated ? " (truncated: more exist)" : ""}`],
        ["pending", response.pendingSources.join(", ") || "-"],
        ["disconnected", response.disconnectedSources.join(", ") || "-"],
      ];
      process.stdout.write(keyValues(pairs));
      if (response.events.length > 0) process.stdout.write(`\n${table(eventHeaders, response.events.map(eventRow))}`);
    }
    return response.complete ? 0 : 3;
  });
}

/**
 * A wait on an id the broker has never seen would last the whole timeout and
 * say only "deadline" (a mistyped id, a task never published): say so at once.
 */
async function mustBeKnown(client: CorrelationClient, correlationId: string): Promise<void> {
  try {
    await client.service.getWorkflow({ correlationId });
  } catch (error) {
    const connectError = ConnectError.from(error);
    // No broker yet (restarting, say): the wait itself waits for it, as it does for one lost mid-wait.
    if (connectError.code === Code.Unavailable) return;
    if (connectError.code !== Code.NotFound) throw connectError;
    throw new ConnectError(
      `correlation ${correlationId} was never seen by the broker (no event published in it, or forgotten): check the id, or publish the task before waiting`,
      Code.NotFound,
    );
  }
}

/**
 * Calls `wait` with the time left until it answers: a wait cut short by the
 * broker going away (UNAVAILABLE: killed, restarting, shutting down) is made
 * again, with capped backoff, once the broker is back, for what is left of
 * `timeoutMs`. Any other error, or no broker until the deadline, ends it with
 * that error.
 */
async function waitAcrossRestarts(timeoutMs: number, wait: (leftMs: number) => Promise<WaitForResultsResponse>): Promise<WaitForResultsResponse> {
  const deadline = Date.now() + timeoutMs;
  const backoff = new Backoff({ maxDelayMs: 1000 });
  for (;;) {
    const leftMs = Math.max(1, deadline - Date.now());
    try {
      return await wait(leftMs);
    } catch (error) {
      const connectError = ConnectError.from(error);
      const delayMs = backoff.nextDelayMs();
      if (connectError.code !== Code.Unavailable || delayMs === undefined || Date.now() + delayMs >= deadline) throw connectError;
      process.stderr.write(`corrbus wait: ${connectErrorText(connectError)}; waiting again (attempt ${backoff.attempts})\n`);
      await sleep(delayMs);
    }
  }
}
