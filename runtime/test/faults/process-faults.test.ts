import type { ChildProcess } from "node:child_process";
import { describe, expect, it } from "vitest";
import { TestService } from "@protoc-gen-tunnel/interop";
import { Code, openTunnel, TunnelError, clientStreamCall, serverStreamCall, unaryCall } from "../../src/index.js";
import { startChildProcess } from "../support/child-process.js";
import { Cleanup, tunnelClient } from "../support/servers.js";
import { expectNoLeaksAfterEach } from "./leaks.js";

const cleanup = new Cleanup();
expectNoLeaksAfterEach(cleanup);

/** Starts the tunnel server fixture in a child process; resolves with its port. */
async function childServer(): Promise<{ child: ChildProcess; port: number }> {
  const { child, ready } = await startChildProcess(cleanup, new URL("./child-server.mjs", import.meta.url), [], /^PORT (\d+)$/);
  return { child, port: Number(ready[1]) };
}

describe("fault injection: the server process dies", () => {
  it("every open call fails UNAVAILABLE within 1 s of SIGKILL, and the tunnel reports why", async () => {
    const { child, port } = await childServer();
    const client = tunnelClient(`127.0.0.1:${port}`);
    cleanup.add(() => client.close());
    const tunnel = await openTunnel(client);
    cleanup.add(() => tunnel.close());
    expect((await unaryCall(tunnel, TestService.method.unary, { payload: new Uint8Array([1]) })).payload).toEqual(new Uint8Array([1]));

    const calls = [
      unaryCall(tunnel, TestService.method.unary, { delayMillis: 60_000 }),
      (async () => {
        for await (const _ of serverStreamCall(tunnel, TestService.method.serverStream, { delayMillis: 60_000, count: 1 })) {
          // never
        }
      })(),
      clientStreamCall(
        tunnel,
        TestService.method.clientStream,
        (async function* () {
          yield { payload: new Uint8Array(10) };
          await new Promise(() => {}); // a request stream that never ends
        })(),
      ),
    ].map((p) =>
      p.then(
        () => undefined,
        (e: unknown) => e,
      ),
    );
    // All three calls are on the wire before the kill.
    while (tunnel.activeCalls < 3) await new Promise((r) => setImmediate(r));
    const killedAt = performance.now();
    child.kill("SIGKILL");
    const errors = await Promise.all(calls);
    expect(performance.now() - killedAt).toBeLessThan(1_000);
    for (const error of errors) {
      expect(error).toBeInstanceOf(TunnelError);
      expect((error as TunnelError).code).toBe(Code.UNAVAILABLE);
    }
    const end = await tunnel.done;
    expect(end.error?.code).toBe(Code.UNAVAILABLE);
  });
});
