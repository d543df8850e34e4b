import { describe, expect, it } from "vitest";
import { FleetOptionError, isLoopback, natsConnectionOptions } from "../../src/fleet/nats-link.js";

describe("the NATS link options", () => {
  describe("clear text", () => {
    it("should be allowed to loopback addresses", () => {
      for (const host of ["127.0.0.1", "127.1.2.3", "localhost", "[::1]"]) {
        expect(natsConnectionOptions({ servers: `nats://${host}:4222` }, "--forward", "t").servers).toEqual([`nats://${host}:4222`]);
      }
    });

    it("should be refused to any other address, naming the host and the flag that allows it", () => {
      expect(() => natsConnectionOptions({ servers: "nats://127.0.0.1:4222,nats://10.0.0.5:4222" }, "--forward", "t")).toThrow(
        "--forward: 10.0.0.5 is not a loopback address and no TLS is set (--nats-tls-ca, or a tls:// URL): events would cross the network in clear text; add --forward-insecure to allow it",
      );
      expect(() => natsConnectionOptions({ servers: "nats://nats.example:4222" }, "--ingest", "t")).toThrow("add --ingest-insecure to allow it");
    });

    it("should be allowed anywhere when the operator says so", () => {
      expect(natsConnectionOptions({ servers: "nats://10.0.0.5:4222", insecure: true }, "--forward", "t").tls).toBeUndefined();
    });

    it("should not be the case with a tls:// URL, which asks for TLS", () => {
      expect(natsConnectionOptions({ servers: "tls://10.0.0.5:4222" }, "--forward", "t").tls).toEqual({
        caFile: undefined,
        certFile: undefined,
        keyFile: undefined,
      });
    });
  });

  describe("bad input", () => {
    for (const [servers, complaint] of [
      ["", "--forward: no server URL given"],
      ["10.0.0.5:4222", '--forward: "10.0.0.5:4222" is not a URL such as nats://HOST:PORT'],
      ["http://127.0.0.1:4222", '"http://127.0.0.1:4222" must start with nats:// or tls://'],
    ]) {
      it(`should refuse servers ${JSON.stringify(servers)} precisely`, () => {
        expect(() => natsConnectionOptions({ servers }, "--forward", "t")).toThrow(complaint);
      });
    }

    it("should refuse credentials that exclude each other, a half client certificate and a missing file", () => {
      const base = { servers: "nats://127.0.0.1:4222" };
      expect(() => natsConnectionOptions({ ...base, user: "a", password: "b", credsFile: "/x" }, "--forward", "t")).toThrow(
        "--nats-creds, --nats-nkey and --nats-user exclude each other",
      );
      expect(() => natsConnectionOptions({ ...base, tlsCertFile: "/x" }, "--forward", "t")).toThrow("--nats-tls-cert and --nats-tls-key go together");
      expect(() => natsConnectionOptions({ ...base, credsFile: "/nonexistent/creds" }, "--forward", "t")).toThrow(
        /--nats-creds: cannot read \/nonexistent\/creds/,
      );
      expect(() => natsConnectionOptions({ ...base, credsFile: "/nonexistent/creds" }, "--forward", "t")).toThrow(FleetOptionError);
    });
  });

  it("should tell loopback from other addresses", () => {
    expect([isLoopback("127.0.0.1"), isLoopback("::1"), isLoopback("128.0.0.1"), isLoopback("10.0.0.1"), isLoopback("localhost.example")]).toEqual([
      true,
      true,
      false,
      false,
      false,
    ]);
  });
});
