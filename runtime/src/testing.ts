/**
 * Testing code that uses tunnels without a network: an in-process
 * transport. `inProcessClient(handler)` is a grpc-js client whose tunnel
 * RPCs reach a TunnelServiceHandler in memory (use it where a
 * `TunnelServiceClient` goes: `openTunnel`, `new ReverseTunnelServer(...)`),
 * and `startTestAgent(handler, ...)` connects an agent serving your
 * services to it in one call.
 *
 * ```ts
 * const handler = new TunnelServiceHandler<string>({ affinityKey: (t) => String(t.metadata.get("device-id")[0]) });
 * const agent = await startTestAgent(handler, {
 *   metadata: { "device-id": "camera-3" },
 *   key: "camera-3",
 *   register: (server) => registerAgentService(server, fakeAgent),
 * });
 * const status = await agentServiceClientForKey(handler, "camera-3").getStatus({});
 * await agent.stop();
 * ```
 *
 * @module @protoc-gen-tunnel/runtime/testing
 */
export {
  InProcessClient,
  inProcessClient,
  type InProcessClientOptions,
  type TunnelServiceHost,
} from "./api/testing/index.js";
export { startTestAgent, type TestAgent, type TestAgentOptions } from "./api/testing/index.js";
