import type { DescMessage, DescMethod } from "@bufbuild/protobuf";

/** A method descriptor of a given kind with typed input and output. */
export type MethodOfKind<K extends DescMethod["methodKind"], I extends DescMessage, O extends DescMessage> = DescMethod & {
  readonly methodKind: K;
  readonly input: I;
  readonly output: O;
};

export type UnaryMethod<I extends DescMessage, O extends DescMessage> = MethodOfKind<"unary", I, O>;
export type ServerStreamingMethod<I extends DescMessage, O extends DescMessage> = MethodOfKind<"server_streaming", I, O>;
export type ClientStreamingMethod<I extends DescMessage, O extends DescMessage> = MethodOfKind<"client_streaming", I, O>;
export type BidiStreamingMethod<I extends DescMessage, O extends DescMessage> = MethodOfKind<"bidi_streaming", I, O>;

/** "/pkg.Service/Method": the path a call to `method` travels under. */
export function methodPath(method: DescMethod): string {
  return `/${method.parent.typeName}/${method.name}`;
}
