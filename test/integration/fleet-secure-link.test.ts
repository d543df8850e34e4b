// The fleet's link over TLS with NATS credentials (issue 16), all real
// processes: a CA and a server certificate made with the openssl CLI, a
// nats-server with JetStream that requires TLS and authorizes a user with a
// password and a user with an nkey, host brokers forwarding to it and a
// central broker ingesting from it. Every event arrives once with its host id;
// a wrong password, a CA that did not sign the server's certificate and a
// nats:// URL to the TLS-only server each leave the broker serving locally,
// not connected, with a log line saying what is wrong, and forward nothing.
import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { nkeys } from "@nats-io/transport-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createCorrelationClient } from "../../src/index.js";
import { type BrokerProcess, runCli, startBrokerProcess } from "../helpers/broker-process.js";
import { eventually } from "../helpers/eventually.js";
import { streamEvents, within } from "../helpers/fleet-checks.js";
import { type NatsServerProcess, natsServerVersion, startNatsServer } from "../helpers/nats-server.js";

const openssl = "/usr/bin/openssl";
const hasNatsServer = natsServerVersion() !== undefined;
const hasOpenssl = commandRuns(openssl, ["version"]);
const inCi = process.env.CI === "true";
if ((!hasNatsServer || !hasOpenssl) && !inCi) console.warn("fleet-secure-link.test: skipped, nats-server or openssl not found");

const run = randomBytes(3).toString("hex");
const password = `pw-${randomBytes(8).toString("hex")}`;
const investigation = `INC-TLS-${run}`;

describe.skipIf((!hasNatsServer || !hasOpenssl) && !inCi)("the fleet over TLS with NATS credentials", () => {
  let directory: string;
  let nats: NatsServerProcess;
  let central: BrokerProcess;
  const brokers: BrokerProcess[] = [];
  let caFile: string;
  let otherCaFile: string;
  let nkeySeedFile: string;

  const passwordEnv = (pass: string) => ({ ...process.env, CORRBUS_NATS_PASSWORD: pass });
  const tlsPort = () => `127.0.0.1:${nats.port}`;

  async function startHost(hostId: string, args: string[], pass = password): Promise<BrokerProcess> {
    const broker = await startBrokerProcess(["--host-id", hostId, ...args], undefined, { env: passwordEnv(pass) });
    brokers.push(broker);
    return broker;
  }

  /** Publishes `count` events tagged with the investigation on `broker`; answers their event ids. */
  async function publishSome(broker: BrokerProcess, count: number): Promise<bigint[]> {
    const client = createCorrelationClient({ socketPath: broker.socketPath, sourceProcess: "fleet-secure-link-test" });
    try {
      const ids: bigint[] = [];
      const root = client.newRootCorrelation("triage", { investigation_id: investigation });
      for (let index = 0; index < count; index++) {
        const published = await client.publish("events.triage.step", { index }, { correlation: root, final: index === count - 1 });
        ids.push(published.eventId);
      }
      return ids;
    } finally {
      client.close();
    }
  }

  /** `corrbus find` on the central: the investigation's events of `hostId`. */
  async function centralFind(hostId: string): Promise<Record<string, unknown>[]> {
    const found = await runCli(["find", "--tag", `investigation_id=${investigation}`, "--all", "--oldest-first", "--json", "--socket", central.socketPath]);
    expect(found.code, found.stderr).toBe(0);
    return found.stdout
      .trim()
      .split("\n")
      .filter((line) => line !== "")
      .map((line) => JSON.parse(line))
      .filter((event) => event.host_id === hostId);
  }

  /** Waits for a log line of `broker` at error level whose msg contains `text`; answers the msg. */
  async function errorLogged(broker: BrokerProcess, text: string): Promise<string> {
    const match = () => broker.logs.find((line) => line.level === "error" && String(line.msg).includes(text));
    await eventually(
      `an error log line with "${text}" (logged: ${JSON.stringify(broker.logs.filter((line) => line.level !== "debug").slice(-3))})`,
      () => match() !== undefined,
      10_000,
    );
    return String(match()?.msg);
  }

  /** The broker serves locally, `corrbus stats` says not connected, and SIGTERM still stops it cleanly (no hang waiting for NATS). */
  async function expectLocalOnly(broker: BrokerProcess): Promise<void> {
    const ids = await publishSome(broker, 2);
    expect(ids).toHaveLength(2);
    const stats = await runCli(["stats", "--socket", broker.socketPath]);
    expect(stats.code, stats.stderr).toBe(0);
    expect(stats.stdout).toMatch(/forward\n[\s\S]*connected +no/);
    expect(await within(broker.stop(), 10_000, () => "the broker to stop while not connected")).toBe(0);
  }

  beforeAll(async () => {
    if (!hasNatsServer || !hasOpenssl) throw new Error("nats-server or openssl not found, and CI=true needs them: apt-get install nats-server openssl");
    directory = mkdtempSync(join(tmpdir(), "corrbus-fleet-tls-"));
    const file = (name: string) => join(directory, name);
    caFile = file("ca.pem");
    otherCaFile = file("other-ca.pem");
    const ssl = (args: string[]) => execFileSync(openssl, args, { stdio: ["ignore", "ignore", "pipe"] });
    ssl(["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", file("ca-key.pem"), "-out", caFile, "-days", "1", "-subj", "/CN=corrbus test CA"]);
    ssl(["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", file("other-ca-key.pem"), "-out", otherCaFile, "-days", "1", "-subj", "/CN=another CA"]);
    ssl(["req", "-newkey", "rsa:2048", "-nodes", "-keyout", file("server-key.pem"), "-out", file("server.csr"), "-subj", "/CN=localhost"]);
    writeFileSync(file("server-ext.cnf"), "subjectAltName=IP:127.0.0.1,DNS:localhost\n");
    ssl([
      "x509",
      "-req",
      "-in",
      file("server.csr"),
      "-CA",
      caFile,
      "-CAkey",
      file("ca-key.pem"),
      "-CAcreateserial",
      "-out",
      file("server.pem"),
      "-days",
      "1",
      "-extfile",
      file("server-ext.cnf"),
    ]);

    const nkeyUser = nkeys.createUser();
    nkeySeedFile = file("host.nk");
    writeFileSync(nkeySeedFile, `${new TextDecoder().decode(nkeyUser.getSeed())}\n`, { mode: 0o600 });

    nats = (await startNatsServer({
      tls: { certFile: file("server.pem"), keyFile: file("server-key.pem") },
      config: `authorization {\n  users = [\n    { user: "host", password: ${JSON.stringify(password)} }\n    { user: "central", password: ${JSON.stringify(password)} }\n    { nkey: ${JSON.stringify(nkeyUser.getPublicKey())} }\n  ]\n}\n`,
    })) as NatsServerProcess;
    expect(nats.url).toBe(`tls://${tlsPort()}`);
    central = await startBrokerProcess(["--host-id", `central-${run}`, "--ingest", nats.url, "--nats-tls-ca", caFile, "--nats-user", "central"], undefined, {
      env: passwordEnv(password),
    });
    brokers.push(central);
  }, 60_000);

  afterAll(async () => {
    for (const broker of brokers.reverse()) await broker.stop();
    await nats?.stop();
    if (directory !== undefined) rmSync(directory, { recursive: true, force: true });
  });

  describe("with the right CA and credentials", () => {
    it("should forward every event once over tls:// as a user with a password, and the central should find each with its host id", async () => {
      const hostId = `host-pw-${run}`;
      const host = await startHost(hostId, ["--forward", nats.url, "--nats-tls-ca", caFile, "--nats-user", "host"]);
      const ids = await publishSome(host, 5);
      let found: Record<string, unknown>[] = [];
      for (const deadline = Date.now() + 20_000; found.length < 5 && Date.now() < deadline; ) {
        found = await centralFind(hostId);
        if (found.length < 5) await delay(200);
      }
      expect(found.map((event) => [event.host_id, event.origin_event_id])).toEqual(ids.map((id) => [hostId, String(id)]));

      const stats = await runCli(["stats", "--socket", host.socketPath]);
      expect(stats.stdout).toMatch(/forward\n[\s\S]*connected +yes[\s\S]*lag +0 events/);
      const stream = await within(streamEvents(nats.url, { tls: { caFile }, user: "central", pass: password }), 15_000, () => "reading the stream");
      expect(stream.filter((message) => message.host === hostId).map((message) => message.id)).toEqual(ids.map(Number));
    }, 60_000);

    it("should forward every event once as an nkey user (--nats-nkey)", async () => {
      const hostId = `host-nkey-${run}`;
      const host = await startHost(hostId, ["--forward", nats.url, "--nats-tls-ca", caFile, "--nats-nkey", nkeySeedFile]);
      const ids = await publishSome(host, 3);
      let found: Record<string, unknown>[] = [];
      for (const deadline = Date.now() + 20_000; found.length < 3 && Date.now() < deadline; ) {
        found = await centralFind(hostId);
        if (found.length < 3) await delay(200);
      }
      expect(found.map((event) => [event.host_id, event.origin_event_id])).toEqual(ids.map((id) => [hostId, String(id)]));
      const stream = await within(streamEvents(nats.url, { tls: { caFile }, user: "central", pass: password }), 15_000, () => "reading the stream");
      expect(stream.filter((message) => message.host === hostId).map((message) => message.id)).toEqual(ids.map(Number));
    }, 60_000);
  });

  describe("when the link cannot work", () => {
    const refusedHosts: string[] = [];

    it("should name the refused credentials after a wrong password, and still serve locally", async () => {
      const hostId = `host-badpw-${run}`;
      refusedHosts.push(hostId);
      const host = await startHost(hostId, ["--forward", nats.url, "--nats-tls-ca", caFile, "--nats-user", "host"], "not-the-password");
      const msg = await errorLogged(host, "forwarding cannot connect to NATS");
      expect(msg).toContain("the server refused the credentials");
      expect(msg).toContain("Authorization Violation");
      expect(msg).toContain('user "host" with the password in CORRBUS_NATS_PASSWORD');
      await expectLocalOnly(host);
    }, 30_000);

    it("should name the TLS failure when --nats-tls-ca did not sign the server's certificate", async () => {
      const hostId = `host-badca-${run}`;
      refusedHosts.push(hostId);
      const host = await startHost(hostId, ["--forward", nats.url, "--nats-tls-ca", otherCaFile, "--nats-user", "host"]);
      const msg = await errorLogged(host, "forwarding cannot connect to NATS");
      expect(msg).toContain(`TLS: the server's certificate is not signed by the CA in --nats-tls-ca ${otherCaFile}`);
      await expectLocalOnly(host);
    }, 30_000);

    it("should say the server requires TLS when the URL says nats:// to the TLS-only server", async () => {
      const hostId = `host-plain-${run}`;
      refusedHosts.push(hostId);
      const host = await startHost(hostId, ["--forward", `nats://${tlsPort()}`, "--nats-user", "host"]);
      const msg = await errorLogged(host, "forwarding cannot connect to NATS");
      expect(msg).toContain("the server requires TLS although the URL says nats://");
      expect(msg).toContain("the system's CAs (no --nats-tls-ca given)");
      await expectLocalOnly(host);
    }, 30_000);

    it("should have forwarded nothing from those hosts", async () => {
      expect(refusedHosts).toHaveLength(3);
      const stream = await within(streamEvents(nats.url, { tls: { caFile }, user: "central", pass: password }), 15_000, () => "reading the stream");
      expect(stream.length).toBeGreaterThan(0);
      expect(stream.filter((message) => refusedHosts.includes(message.host))).toEqual([]);
    });
  });
});

function commandRuns(command: string, args: string[]): boolean {
  try {
    execFileSync(command, args, { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
