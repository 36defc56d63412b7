import type { DescFile, DescMessage, DescMethod } from "@bufbuild/protobuf";
import type { GeneratedFile, ImportSymbol, Printable } from "@bufbuild/protoplugin";

/** What the generated code imports from the runtime: types, and the typed call functions. */
export interface RuntimeSymbols {
  /** Global types, reached through `globalThis` when a message shadows them. */
  globals: GlobalTypes;
  /** The runtime function that makes each kind of call. */
  calls: Record<KindInfo["call"], ImportSymbol>;
  /** `clientChannel`: a channel with a client's options. */
  clientChannel: ImportSymbol;
  /** `openBidiStream`: a push-style bidi call. */
  openBidiStream: ImportSymbol;
  /** `forEachAgent`: fan-out over a handler's agents. */
  forEachAgent: ImportSymbol;
  AgentResult: ImportSymbol;
  AgentSelection: ImportSymbol;
  BidiStream: ImportSymbol;
  CallChannel: ImportSymbol;
  CallOptions: ImportSymbol;
  FanOutHandler: ImportSymbol;
  ForEachAgentOptions: ImportSymbol;
  HandlerContext: ImportSymbol;
  ReverseChannels: ImportSymbol;
  ServiceRegistrar: ImportSymbol;
  TunnelClientOptions: ImportSymbol;
}

export function runtimeSymbols(f: GeneratedFile, file: DescFile, from: string): RuntimeSymbols {
  const type = (name: string) => f.import(name, from, true);
  const value = (name: string) => f.import(name, from);
  return {
    globals: globalTypes(f, file),
    calls: {
      unaryCall: value("unaryCall"),
      serverStreamCall: value("serverStreamCall"),
      clientStreamCall: value("clientStreamCall"),
      bidiStreamCall: value("bidiStreamCall"),
    },
    clientChannel: value("clientChannel"),
    openBidiStream: value("openBidiStream"),
    forEachAgent: value("forEachAgent"),
    AgentResult: type("AgentResult"),
    AgentSelection: type("AgentSelection"),
    BidiStream: type("BidiStream"),
    CallChannel: type("CallChannel"),
    CallOptions: type("CallOptions"),
    FanOutHandler: type("FanOutHandler"),
    ForEachAgentOptions: type("ForEachAgentOptions"),
    HandlerContext: type("HandlerContext"),
    ReverseChannels: type("ReverseChannels"),
    ServiceRegistrar: type("ServiceRegistrar"),
    TunnelClientOptions: type("TunnelClientOptions"),
  };
}

/**
 * The global types the generated signatures use. A proto message may be
 * named `Promise`, `AsyncIterable` or `AbortSignal`; its imported type would
 * shadow the global one, which is then reached through `globalThis`.
 */
export interface GlobalTypes {
  Promise: string;
  AsyncIterable: string;
  AbortSignal: string;
}

export function globalTypes(f: GeneratedFile, file: DescFile): GlobalTypes {
  const shapes = new Set(
    file.services.flatMap((s) => s.methods.flatMap((m) => [f.importShape(m.input).name, f.importShape(m.output).name])),
  );
  const global = (name: string) => (shapes.has(name) ? `globalThis.${name}` : name);
  return { Promise: global("Promise"), AsyncIterable: global("AsyncIterable"), AbortSignal: global("AbortSignal") };
}

/** `MessageInitShape<typeof FooSchema>`: a message or a plain object to build one from. */
export function initShape(f: GeneratedFile, message: DescMessage): Printable {
  return [f.import("MessageInitShape", "@bufbuild/protobuf", true), "<typeof ", f.importSchema(message, true), ">"];
}

/** `Foo`: the message type protoc-gen-es generates. */
export function shape(f: GeneratedFile, message: DescMessage): Printable {
  return f.importShape(message);
}

/** How a method kind maps onto the runtime's calls. */
export interface KindInfo {
  /** The runtime function that makes this kind of call. */
  call: "unaryCall" | "serverStreamCall" | "clientStreamCall" | "bidiStreamCall";
  /** The client sends a stream of requests. */
  streamIn: boolean;
  /** The server sends a stream of responses. */
  streamOut: boolean;
}

export function kindInfo(method: DescMethod): KindInfo {
  switch (method.methodKind) {
    case "unary":
      return { call: "unaryCall", streamIn: false, streamOut: false };
    case "server_streaming":
      return { call: "serverStreamCall", streamIn: false, streamOut: true };
    case "client_streaming":
      return { call: "clientStreamCall", streamIn: true, streamOut: false };
    case "bidi_streaming":
      return { call: "bidiStreamCall", streamIn: true, streamOut: true };
  }
}
