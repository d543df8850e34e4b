import * as http from "node:http";
import * as http2 from "node:http2";
import { connect } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type BrokerProcess, startBrokerProcess } from "../helpers/broker-process.js";

type Answer = { status: number; contentType: string; body: string };

describe("a Connect request with a Content-Type the broker does not serve", () => {
  let broker: BrokerProcess;
  const path = "/corrbus.v1.CorrelationService/GetStats";

  beforeAll(async () => {
    broker = await startBrokerProcess(["--in-memory"]);
  });

  afterAll(async () => {
    await broker.stop();
  });

  function overHttp1(headers: Record<string, string>): Promise<Answer> {
    return new Promise((resolve, reject) => {
      const request = http.request({ socketPath: broker.socketPath, method: "POST", path, headers }, (response) => {
        let body = "";
        response.setEncoding("utf8");
        response.on("data", (chunk) => (body += chunk));
        response.on("end", () => resolve({ status: response.statusCode ?? 0, contentType: String(response.headers["content-type"]), body }));
      });
      request.on("error", reject);
      request.end("{}");
    });
  }

  function overHttp2(headers: Record<string, string>): Promise<Answer> {
    return new Promise((resolve, reject) => {
      const session = http2.connect("http://localhost", { createConnection: () => connect(broker.socketPath) });
      session.on("error", reject);
      const stream = session.request({ ":method": "POST", ":path": path, ...headers });
      let status = 0;
      let contentType = "";
      let body = "";
      stream.on("response", (responseHeaders) => {
        status = Number(responseHeaders[":status"]);
        contentType = String(responseHeaders["content-type"]);
      });
      stream.setEncoding("utf8");
      stream.on("data", (chunk) => (body += chunk));
      stream.on("end", () => {
        session.close();
        resolve({ status, contentType, body });
      });
      stream.end("{}");
    });
  }

  it("should answer 415 saying what to send when there is no Content-Type, over HTTP/1.1 and HTTP/2", async () => {
    for (const answer of [await overHttp1({}), await overHttp2({})]) {
      expect(answer.status).toBe(415);
      expect(answer.contentType).toBe("text/plain; charset=utf-8");
      expect(answer.body).toContain("corrbus: no Content-Type; send Content-Type: application/json for Connect JSON unary calls");
      expect(answer.body).toContain("-H 'Content-Type: application/json'");
    }
  });

  it("should name the type it got (curl -d without -H sends a form type)", async () => {
    const answer = await overHttp1({ "content-type": "application/x-www-form-urlencoded" });
    expect(answer.status).toBe(415);
    expect(answer.body).toContain('Content-Type "application/x-www-form-urlencoded" is not served');
  });

  it("should still answer the same request with a served type", async () => {
    const answer = await overHttp1({ "content-type": "application/json" });
    expect(answer.status).toBe(200);
    expect(JSON.parse(answer.body)).toHaveProperty("startedAt");
  });
});
