import { Code, ConnectError } from "@connectrpc/connect";
import { describe, expect, it } from "vitest";
import { unlessAborted } from "../../src/server/unless-aborted.js";

/** Rejections nobody handled while `run` ran and a few turns after it. */
async function unhandledDuring(run: () => Promise<void>): Promise<unknown[]> {
  const unhandled: unknown[] = [];
  const listener = (reason: unknown) => unhandled.push(reason);
  process.on("unhandledRejection", listener);
  try {
    await run();
    for (let turn = 0; turn < 5; turn++) await new Promise((resolve) => setImmediate(resolve));
  } finally {
    process.off("unhandledRejection", listener);
  }
  return unhandled;
}

describe("unlessAborted", () => {
  it("should answer the promise's value when the signal stays quiet, and drop its abort listener", async () => {
    const controller = new AbortController();
    expect(await unlessAborted(Promise.resolve(7), controller.signal)).toBe(7);
    controller.abort();
  });

  it("should answer Canceled as soon as the signal aborts, before the promise settles", async () => {
    const controller = new AbortController();
    const pending = unlessAborted(new Promise<number>(() => {}), controller.signal);
    controller.abort(new Error("shutting down"));
    await expect(pending).rejects.toMatchObject({ code: Code.Canceled });
  });

  it("should leave no unhandled rejection when the signal had aborted and the promise rejects later (the raw-socket fuzz's crash, seed 1531998862)", async () => {
    const controller = new AbortController();
    controller.abort();
    const unhandled = await unhandledDuring(async () => {
      let refuse: (error: unknown) => void = () => {};
      const read = new Promise<number>((_, reject) => (refuse = reject));
      await expect(unlessAborted(read, controller.signal)).rejects.toMatchObject({ code: Code.Canceled });
      // What the adapter did: a grpc-web request with an unknown accept-encoding, refused once it was read.
      refuse(new ConnectError('unknown compression "gzip, v"', Code.Unimplemented));
    });
    expect(unhandled).toEqual([]);
  });
});
