// Mistakes the generated types must reject. Each line ending in
// "// TSnnnn" must produce exactly that error on that line, and no other
// line may produce one.
export const invalidUsage = `
import { create } from "@bufbuild/protobuf";
import { TunnelServiceHandler, type CallChannel } from "@protoc-gen-tunnel/runtime";
import { EchoRequestSchema, EchoResponseSchema, type EchoRequest, type EchoResponse } from "./test/kinds/v1/kinds_pb.js";
import { EchoServiceTunnelClient, echoServiceClientForKey, registerEchoService } from "./test/kinds/v1/kinds_tunnel.js";
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
  return s + String(one);
}

echoServiceClientForKey(handler, 42); // TS2345
new EchoServiceTunnelClient(handler); // TS2345
registerEchoService({}, {}); // TS2345
registerEchoService(handler, { nope: async () => ({}) }); // TS2353
registerEchoService(handler, { async echo(req: EchoResponse) { return { text: req.text }; } }); // TS2322
registerEchoService(handler, { async echo() { return { txt: "unknown field" }; } }); // TS2322
registerEchoService(handler, { async expand() { return {}; } }); // TS2322
registerEchoService(handler, { async collect(req: EchoRequest) { return { text: req.text }; } }); // TS2322
registerEchoService(handler, { async *chat(reqs) { yield { index: "x" }; for await (const r of reqs) console.log(r); } }); // TS2322
`;
