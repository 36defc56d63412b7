// Mistakes the generated types must reject. Each line ending in
// "// TSnnnn" must produce exactly that error on that line, and no other
// line may produce one.
export const invalidUsage = `
import { create } from "@bufbuild/protobuf";
import { TunnelServiceHandler, type CallChannel } from "@protoc-gen-tunnel/runtime";
import { EchoRequestSchema, EchoResponseSchema, type EchoRequest, type EchoResponse } from "./test/kinds/v1/kinds_pb.js";
import { EchoServiceTunnelClient, echoServiceClientForKey, echoServiceForEachAgent, registerEchoService } from "./test/kinds/v1/kinds_tunnel.js";
import { interfaceTunnelClient } from "./test/reserved/reserved_tunnel.js";

declare const channel: CallChannel;
const handler = new TunnelServiceHandler<string>();
const client = new EchoServiceTunnelClient(channel);

export async function calls() {
  await client.echo({ txt: "unknown field" }); // TS2561
  await client.echo({ text: 1 }); // TS2322
  await client.echo(create(EchoResponseSchema)); // TS2345
  await client.collect({ text: "not a stream" }); // TS2353
  await client.collect(create(EchoRequestSchema)); // TS2345
  for await (const r of client.echo({})) console.log(r); // TS2504
  const s: string = (await client.echo({})).index; // TS2322
  await client.echo({}, { timeoutMs: "soon" }); // TS2322
  await client.echo({}, { signal: "stop" }); // TS2322
  const one: EchoResponse = client.expand({}); // TS2322
  await new interfaceTunnelClient(channel).then({}); // TS2551
  await client.openChat().send({ txt: "unknown field" }); // TS2561
  await client.openChat({ waitForReady: "yes" }).send({}); // TS2322
  return s + String(one);
}

echoServiceClientForKey(handler, 42); // TS2345
echoServiceClientForKey(handler, "k", { retry: { maxAttempts: "3" } }); // TS2322
echoServiceClientForKey(handler, "k", { defaultCallOptions: { timeoutMs: "soon" } }); // TS2322
echoServiceClientForKey(handler, "k", { interceptors: [42] }); // TS2322
echoServiceForEachAgent(handler, { prefix: 1 }, async () => 1); // TS2322
echoServiceForEachAgent(handler, { keys: [1, 2] }, async () => 1); // TS2322
echoServiceForEachAgent(handler, { all: true }, async (agent) => agent.nope({})); // TS2339
new EchoServiceTunnelClient(handler); // TS2345
registerEchoService({}, {}); // TS2345
registerEchoService(handler, { nope: async () => ({}) }); // TS2353
registerEchoService(handler, { async echo(req: EchoResponse) { return { text: req.text }; } }); // TS2322
registerEchoService(handler, { async echo() { return { txt: "unknown field" }; } }); // TS2322
registerEchoService(handler, { async expand() { return {}; } }); // TS2322
registerEchoService(handler, { async collect(req: EchoRequest) { return { text: req.text }; } }); // TS2322
registerEchoService(handler, { async *chat(reqs) { yield { index: "x" }; for await (const r of reqs) console.log(r); } }); // TS2322
`;
