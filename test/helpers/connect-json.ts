import http from "node:http";

/** One Connect unary call with JSON over HTTP/1.1 (node:http on the socket); the answer's JSON. */
export function connectJsonHttp1(socketPath: string, method: string, body: unknown): Promise<any> {
  return new Promise((resolveCall, rejectCall) => {
    const request = http.request(
      {
        socketPath,
        agent: false,
        method: "POST",
        path: `/corrbus.v1.CorrelationService/${method}`,
        headers: { "content-type": "application/json", "connect-protocol-version": "1" },
      },
      (response) => {
        let text = "";
        response.setEncoding("utf8");
        response.on("data", (chunk) => (text += chunk));
        response.on("end", () => {
          if (response.statusCode !== 200) rejectCall(new Error(`${method} over Connect JSON (HTTP/1.1): HTTP ${response.statusCode}: ${text}`));
          else resolveCall(JSON.parse(text));
        });
      },
    );
    request.once("error", rejectCall);
    request.end(JSON.stringify(body));
  });
}
