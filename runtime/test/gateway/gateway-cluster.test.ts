import * as grpc from "@grpc/grpc-js";
import { afterEach, describe, expect, it } from "vitest";
import { allowAll, createTunnelGateway } from "../../src/gateway.js";
import { HealthCheckResponse_ServingStatus as ServingStatus } from "../../src/gen/grpc/health/v1/health_pb.js";
import { clusterPerTest } from "../support/cluster.js";
import { callServerStream, callUnary, checkHealth, collect, failure, gatewayClient, keyed } from "../support/gateway.js";
import { startReplica } from "../support/replicas.js";
import { connectAgent, startAgent } from "../support/reverse.js";
import { Cleanup } from "../support/servers.js";

const cleanup = new Cleanup();
afterEach(() => cleanup.run());
const newCluster = clusterPerTest();

const text = (bytes: Uint8Array | undefined) => Buffer.from(bytes ?? []).toString("utf8");

describe("gateway in cluster mode: a key held by another replica is reached through the relay", () => {
  it("calls, streams, health checks and waiting for an agent that connects to the other replica", async () => {
    const fixture = newCluster();
    const front = await startReplica(cleanup, fixture, "front");
    const back = await startReplica(cleanup, fixture, "back");
    await connectAgent(cleanup, back, { name: "camera-3" });
    await front.cluster.directory.waitFor("camera-3", { exclude: "front" });

    const gateway = createTunnelGateway(front.handler, { authorize: allowAll });
    const server = await gateway.listen();
    cleanup.add(() => server.close());
    const client = gatewayClient(cleanup, server.address);

    const { response, trailers } = await callUnary(client, keyed("camera-3", { "x-trace": "t1" }), {
      payload: Buffer.from("relayed"),
      trailers: { "x-t": Buffer.from("2") },
    });
    expect(text(response.payload)).toBe("relayed");
    expect(text(response.headers["x-served-by"])).toBe("camera-3");
    expect(text(response.headers["x-trace"])).toBe("t1");
    expect(response.headers["tunnel-key"]).toBeUndefined();
    expect(trailers.get("x-t")).toEqual(["2"]);

    const streamed = await collect(callServerStream(client, keyed("camera-3"), { payload: Buffer.from("s"), count: 4 }));
    expect(streamed.messages).toHaveLength(4);

    const slow = await failure(callUnary(client, keyed("camera-3"), { delayMillis: 5_000 }, { deadline: Date.now() + 300 }));
    expect(slow.code).toBe(grpc.status.DEADLINE_EXCEEDED);

    expect(await checkHealth(client, "camera-3")).toBe(ServingStatus.SERVING);
    expect(await checkHealth(client, "camera-404")).toBe(ServingStatus.NOT_SERVING);

    const unknown = await failure(callUnary(client, keyed("camera-404"), {}));
    expect(unknown.code).toBe(grpc.status.UNAVAILABLE);
    expect(unknown.details).toMatch(/on any replica/);

    // waitForReady: the call waits until an agent with the key connects, to the other replica.
    const waiting = callUnary(client, keyed("camera-7", { "tunnel-wait-for-ready": "true" }), { payload: Buffer.from("late") });
    startAgent(cleanup, back.address, { name: "camera-7" });
    const late = await waiting;
    expect(text(late.response.headers["x-served-by"])).toBe("camera-7");
  });
});
