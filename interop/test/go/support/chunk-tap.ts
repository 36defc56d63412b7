import * as grpc from "@grpc/grpc-js";
import { tunnelServiceDefinition } from "@protoc-gen-tunnel/runtime/protocol";

/**
 * The data chunks the TypeScript end of the tunnels sent and received, by
 * size, seen from outside the runtime: around the tunnel service's codec on
 * a server (`wrap`), or in a grpc-js client interceptor (`interceptor`).
 * The matrix reads them to check that Go accepts the large chunks the
 * TypeScript side sends, and that TypeScript accepts Go's 16 KiB chunks.
 */
export class ChunkTap {
  sent: number[] = [];
  received: number[] = [];
  /** The chunks sent, message by message (per stream, in order; empty messages left out). */
  private sentByStream = new Map<bigint, number[][]>();

  reset(): void {
    this.sent = [];
    this.received = [];
    this.sentByStream.clear();
  }

  /** The sizes of the chunks of every message sent since the last reset, one array per message. */
  sentMessages(): number[][] {
    return [...this.sentByStream.values()].flat();
  }

  private record(into: number[], frame: unknown): void {
    const { streamId, frame: body } = (frame ?? {}) as { streamId?: bigint; frame?: { case?: string; value?: unknown } };
    const messages = into === this.sent && streamId !== undefined ? this.messagesOf(streamId) : undefined;
    switch (body?.case) {
      case "requestMessage":
      case "responseMessage": {
        const data = (body.value as { data: Uint8Array }).data;
        if (data.length > 0) {
          into.push(data.length);
          messages?.push([data.length]);
        }
        break;
      }
      case "moreRequestData":
      case "moreResponseData": {
        const length = (body.value as Uint8Array).length;
        into.push(length);
        messages?.at(-1)?.push(length);
        break;
      }
    }
  }

  private messagesOf(streamId: bigint): number[][] {
    let messages = this.sentByStream.get(streamId);
    if (messages === undefined) this.sentByStream.set(streamId, (messages = []));
    return messages;
  }

  /** `handler.service()`, with the frames of both tunnel methods tapped. */
  wrap(service: [grpc.ServiceDefinition, grpc.UntypedServiceImplementation]): [grpc.ServiceDefinition, grpc.UntypedServiceImplementation] {
    const [definition, impl] = service;
    const tapped: grpc.ServiceDefinition = Object.fromEntries(
      Object.entries(definition).map(([name, method]) => [
        name,
        {
          ...method,
          requestDeserialize: (bytes: Buffer) => {
            const frame = method.requestDeserialize(bytes);
            this.record(this.received, frame);
            return frame;
          },
          responseSerialize: (frame: unknown) => {
            this.record(this.sent, frame);
            return method.responseSerialize(frame);
          },
        },
      ]),
    );
    return [tapped, impl];
  }

  /** A client interceptor that taps the tunnel RPCs (forward and reverse) of its client. */
  get interceptor(): grpc.Interceptor {
    const paths = new Set([tunnelServiceDefinition.openTunnel.path, tunnelServiceDefinition.openReverseTunnel.path]);
    return (options, nextCall) => {
      if (!paths.has(options.method_definition.path)) return new grpc.InterceptingCall(nextCall(options));
      return new grpc.InterceptingCall(nextCall(options), {
        start: (metadata, _listener, next) =>
          next(metadata, {
            onReceiveMessage: (frame, forward) => {
              this.record(this.received, frame);
              forward(frame);
            },
          }),
        sendMessage: (frame, next) => {
          this.record(this.sent, frame);
          next(frame);
        },
      });
    };
  }
}

export const maxOf = (sizes: readonly number[]) => sizes.reduce((a, b) => Math.max(a, b), 0);
