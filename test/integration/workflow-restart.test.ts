import { execFile } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { toJson } from "@bufbuild/protobuf";
import { afterEach, describe, expect, it } from "vitest";
import { CompletionReason } from "../../gen/corrbus/v1/service_pb.js";
import { type WorkflowState, WorkflowStateSchema } from "../../gen/corrbus/v1/workflow_pb.js";
import { type CorrelationClient, answerCorrelation, createCorrelationClient } from "../../src/index.js";
import { type BrokerProcess, cliPath, startBrokerProcess } from "../helpers/broker-process.js";
import { spawnFixture } from "../helpers/fixture-process.js";

// A delivery-tracked workflow half done when the broker is killed: after the
// restart GetWorkflow answers as before (the recipient that was connected is
// pending, waiting for it to come back, and says so), the recipient
// subscribes again and answers, the workflow completes, and a second restart
// still knows it complete. Broker, collectors, agent and CLI are separate processes.

const run = promisify(execFile);

function asJson(workflow: WorkflowState | undefined): Record<string, unknown> {
  return toJson(WorkflowStateSchema, workflow as WorkflowState) as Record<string, unknown>;
}

describe("workflow state across broker restarts", () => {
  const cleanup: (() => Promise<unknown> | void)[] = [];
  afterEach(async () => {
    for (const step of cleanup.splice(0).reverse()) await step();
  });

  // SIGTERM first too: the subscriptions a stopping broker ends are not their subscribers leaving.
  for (const end of ["SIGKILL", "SIGTERM"] as const) {
    it(`should give back deliveries, answers and completion after ${end} and then SIGTERM, and complete when the waiting recipient answers`, async () => {
      const directory = mkdtempSync(join(tmpdir(), "corrbus-workflow-restart-"));
      cleanup.push(() => rmSync(directory, { recursive: true, force: true }));
      const socket = join(directory, "corrbus.sock");
      const args = ["--data-dir", join(directory, "data")];
      const start = async (): Promise<{ broker: BrokerProcess; agent: CorrelationClient }> => {
        const broker = await startBrokerProcess(args, socket);
        cleanup.push(() => broker.stop());
        const agent = createCorrelationClient({ socketPath: socket, sourceProcess: "agent" });
        cleanup.push(() => agent.close());
        return { broker, agent };
      };

      const first = await start();
      const answering = spawnFixture("collector", ["--socket", socket, "--name", "answering"]);
      const holding = spawnFixture("collector", ["--socket", socket, "--name", "holding", "--hold"]);
      cleanup.push(
        () => void answering.child.kill("SIGKILL"),
        () => void holding.child.kill("SIGKILL"),
      );
      await Promise.all([answering.waitFor("ready"), holding.waitFor("ready")]);
      const task = first.agent.newRootCorrelation("enumerate", { investigation_id: "INC-RESTART" });
      await first.agent.publish("control.collector.task.enumerate", { action: "list" }, { correlation: task });
      await answering.waitFor("answered");
      await holding.waitFor("task");
      const before = asJson((await first.agent.service.getWorkflow({ correlationId: task.correlationId })).workflow);
      // Deliveries are listed in the order the collectors subscribed, which either may win.
      const deliveries = before.deliveries as Record<string, unknown>[];
      expect(before.status).toBe("COMPLETION_STATUS_PENDING");
      expect(Object.fromEntries(deliveries.map((delivery) => [delivery.subscriberName, delivery.state]))).toEqual({
        answering: "DELIVERY_STATE_ANSWERED",
        holding: "DELIVERY_STATE_PENDING",
      });

      if (end === "SIGKILL") await first.broker.kill();
      else expect(await first.broker.stop()).toBe(0);
      first.agent.close();
      const second = await start();
      const restarted = asJson((await second.agent.service.getWorkflow({ correlationId: task.correlationId })).workflow);
      const waiting = "the broker restarted; waiting for the subscriber to subscribe again";
      const waitingHolding = (delivery: Record<string, unknown>) => (delivery.subscriberName === "holding" ? { ...delivery, reason: waiting } : delivery);
      expect(restarted).toEqual({ ...before, deliveries: deliveries.map(waitingHolding) });
      const { stdout: shown } = await run(process.execPath, [cliPath, "workflow", task.correlationId], { env: { ...process.env, CORRBUS_SOCKET: socket } });
      expect(shown).toContain(waiting);

      // The holding collector comes back under its name; its answer completes the workflow.
      const back = spawnFixture("collector", ["--socket", socket, "--name", "holding", "--hold"]);
      cleanup.push(() => void back.child.kill("SIGKILL"));
      await back.waitFor("ready");
      // Subscribed ("ready") before this call: the delivery is its own again.
      const resumed = asJson((await second.agent.service.getWorkflow({ correlationId: task.correlationId })).workflow);
      expect(resumed.deliveries).toEqual(deliveries);
      const lateAnswer = createCorrelationClient({ socketPath: socket, sourceProcess: "holding" });
      cleanup.push(() => lateAnswer.close());
      await lateAnswer.publish("events.collector.enumerate.result", { late: true }, { correlation: answerCorrelation(task, "holding"), final: true });
      const waited = await second.agent.service.waitForResults({ correlationId: task.correlationId, expectedResults: 0 });
      expect({ complete: waited.complete, reason: waited.reason }).toEqual({ complete: true, reason: CompletionReason.ALL_RECIPIENTS_ANSWERED });
      const done = asJson((await second.agent.service.getWorkflow({ correlationId: task.correlationId })).workflow);
      expect(done).toMatchObject({ status: "COMPLETION_STATUS_COMPLETE" });

      await second.broker.stop();
      second.agent.close();
      const third = await start();
      expect(asJson((await third.agent.service.getWorkflow({ correlationId: task.correlationId })).workflow)).toEqual(done);
    });
  }
});
