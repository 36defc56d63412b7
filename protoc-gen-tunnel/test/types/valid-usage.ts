// Code a user writes against the generated API. The type-level test
// compiles it with the generated files and reads the inferred types of the
// `export const` declarations and of the handler parameters named below.
export const validUsage = `
import { create } from "@bufbuild/protobuf";
import type { Empty, StringValue } from "@bufbuild/protobuf/wkt";
import { ReverseTunnelServer, TunnelServiceHandler, type CallChannel, type HandlerContext } from "@protoc-gen-tunnel/runtime";
import { EchoRequestSchema, EchoResponseSchema, type EchoRequest, type EchoResponse } from "./test/kinds/v1/kinds_pb.js";
import {
  EchoServiceTunnelClient,
  echoServiceAnyAgentClient,
  echoServiceClient,
  echoServiceClientForKey,
  echoServiceForEachAgent,
  registerEchoService,
  type EchoServiceImpl,
} from "./test/kinds/v1/kinds_tunnel.js";
import { EventServiceTunnelClient } from "./test/imports/v1/service_tunnel.js";
import { PingServiceTunnelClient, registerPingService } from "./nopackage_tunnel.js";
import { GlobalsTunnelClient, interfaceTunnelClient, registerInterface } from "./test/reserved/reserved_tunnel.js";

declare const channel: CallChannel;
declare const reverseServer: ReverseTunnelServer;
const handler = new TunnelServiceHandler<string>({ affinityKey: (t) => String(t.metadata.get("device-id")[0]) });
const client = new EchoServiceTunnelClient(channel);

export const unaryResult = client.echo(
  { text: "hi" },
  {
    metadata: { "x-trace": "1" },
    timeoutMs: 500,
    deadline: new Date(),
    signal: AbortSignal.timeout(1000),
    onHeader: (headers) => headers.get("h"),
    onTrailer: (trailers) => trailers.get("t"),
    waitForReady: true,
  },
);
export const unaryFromMessage = client.echo(create(EchoRequestSchema, { text: "x" }));
export const serverStreamResult = client.expand({ count: 2 });
async function* requests() {
  yield { text: "a" };
  yield create(EchoRequestSchema, { text: "b" });
}
export const clientStreamResult = client.collect(requests());
export const bidiResult = client.chat(requests());
export const deprecatedResult = client.oldEcho({});
export const forKey = echoServiceClientForKey(handler, "device-1");
export const roundRobin = echoServiceAnyAgentClient(handler);
export const deprecatedName = echoServiceClient(handler);
export const withOptions = echoServiceClientForKey(handler, "device-1", {
  interceptors: [(next) => async (req) => next(req)],
  defaultCallOptions: { timeoutMs: 2_000, waitForReady: true, metadata: { "x-team": "ops" } },
  retry: { maxAttempts: 3, initialBackoffMs: 50, retryableCodes: [14], budget: { maxTokens: 20, tokenRatio: 0.2 } },
});
export const hedged = echoServiceAnyAgentClient(handler, { hedging: { maxAttempts: 2, delayMs: 50 } });
export const constructedWithOptions = new EchoServiceTunnelClient(channel, { defaultCallOptions: { timeoutMs: 1 } });
export const chatStream = client.openChat({ timeoutMs: 1_000 });
export const chatSent = chatStream.send({ text: "a" });
export const chatHeaders = chatStream.headers;
export async function firstChatAnswer() {
  for await (const answer of chatStream) {
    return answer;
  }
  return undefined;
}
export const fanOut = echoServiceForEachAgent(handler, { prefix: "device-" }, (agent, key, signal) => agent.echo({ text: key }, { signal }), {
  concurrency: 8,
  timeoutMs: 1_000,
  signal: AbortSignal.timeout(5_000),
  client: { retry: true },
});
export async function firstFanOutText() {
  for await (const r of fanOut) {
    return r.ok ? r.result.text : r.error.code;
  }
  return undefined;
}
export const fanOutKeys = echoServiceForEachAgent(handler, { keys: ["a", "b"] }, async (agent) => (await agent.echo({})).index);
export const fanOutAll = echoServiceForEachAgent(handler, { all: true }, async () => 1);
export const overReverseChannel = new EchoServiceTunnelClient(handler.keyAsChannel("device-2"));
export const wktResult = new EventServiceTunnelClient(channel).publish({ id: "e1", at: { seconds: 1n } });
export const wrapperResult = new EventServiceTunnelClient(channel).describe({ fields: {} });
export const watchResult = new EventServiceTunnelClient(channel).watch({ prefix: "p" });
export const noPackageResult = new PingServiceTunnelClient(channel).ping({});
const reserved = new interfaceTunnelClient(channel);
export const deleteResult = reserved.delete({});
export const constructorResult = reserved.constructor$({});
export const thenResult = reserved.then$({});
export const channelResult = reserved.channel({});
export const newResult = reserved.new(
  (async function* () {
    yield {};
  })(),
);
export async function notThenable() {
  return await Promise.resolve(reserved);
}
export const awaitedClient = notThenable();
// Messages named Promise and AsyncIterable do not shadow the global types.
export const globalsResult = new GlobalsTunnelClient(channel).wait({});
export const globalsStream = new GlobalsTunnelClient(channel).watch({});

registerEchoService(handler, {
  async echo(unaryRequest, unaryContext) {
    unaryContext.responseHeaders.set("h", "v");
    return { text: unaryRequest.text };
  },
  async *expand(serverStreamRequest, serverStreamContext) {
    for (let i = 0; i < serverStreamRequest.count && !serverStreamContext.signal.aborted; i++) {
      yield { index: i };
    }
  },
  async collect(clientStreamRequests) {
    const texts: string[] = [];
    for await (const r of clientStreamRequests) {
      texts.push(r.text);
    }
    return create(EchoResponseSchema, { text: texts.join(",") });
  },
  async *chat(bidiRequests) {
    for await (const r of bidiRequests) {
      yield { text: r.text };
    }
  },
});
registerEchoService(reverseServer, { echo: (req) => ({ text: req.text }) });
registerPingService(reverseServer, { ping: () => ({ pong: "pong" }) });
registerInterface(handler, { delete: () => ({}), then: async () => ({}) });

class Impl implements EchoServiceImpl {
  async echo(request: EchoRequest, context: HandlerContext): Promise<EchoResponse> {
    return create(EchoResponseSchema, { text: request.text + String(context.deadline) });
  }
  async *expand(request: EchoRequest) {
    yield { text: request.text };
  }
  async collect(requests: AsyncIterable<EchoRequest>) {
    let n = 0;
    for await (const _ of requests) n++;
    return { index: n };
  }
  async *chat(requests: AsyncIterable<EchoRequest>) {
    for await (const r of requests) yield { text: r.text };
  }
  oldEcho(request: EchoRequest) {
    return { text: request.text };
  }
}
registerEchoService(handler, new Impl());

export type Unused = Empty | StringValue;
`;
