import { fromBinary, fromJsonString, toBinary, toJsonString, type DescMessage, type Registry } from "@bufbuild/protobuf";
import type { Metadata } from "@grpc/grpc-js";
import { Code } from "../code.js";
import { TunnelError } from "../errors.js";
import type { FrontDoorCall } from "./front-door.js";

/** The message types of one method, for JSON. */
export interface MethodTypes {
  readonly input: DescMessage;
  readonly output: DescMessage;
  /** Resolves `google.protobuf.Any` contents. */
  readonly registry?: Registry;
}

const decoder = new TextDecoder("utf-8", { fatal: true });
const encoder = new TextEncoder();

/**
 * A view of a JSON call in binary messages, as agents speak them: requests
 * are parsed from JSON and serialized, responses parsed and written as
 * JSON. The only place the gateway decodes messages.
 */
export function binaryView(call: FrontDoorCall, types: MethodTypes): FrontDoorCall {
  const { input, output, registry } = types;
  return {
    info: call.info,
    deadline: call.deadline,
    signal: call.signal,
    json: false,
    async read(): Promise<Uint8Array | undefined> {
      const json = await call.read();
      return json === undefined ? undefined : jsonToBinary(input, json, registry);
    },
    sendHeaders(headers: Metadata): void {
      call.sendHeaders(headers);
    },
    send(message: Uint8Array): Promise<void> {
      let json: Uint8Array;
      try {
        json = encoder.encode(toJsonString(output, fromBinary(output, message), { registry }));
      } catch (e) {
        return Promise.reject(
          new TunnelError(Code.INTERNAL, `the agent's ${output.typeName} cannot be written as JSON: ${TunnelError.from(e).rawMessage}`),
        );
      }
      return call.send(json);
    },
    end(error: TunnelError | undefined, trailers: Metadata): void {
      call.end(error, trailers);
    },
  };
}

function jsonToBinary(schema: DescMessage, json: Uint8Array, registry: Registry | undefined): Uint8Array {
  try {
    return toBinary(schema, fromJsonString(schema, decoder.decode(json), { registry }));
  } catch (e) {
    throw new TunnelError(Code.INVALID_ARGUMENT, `the request is not a JSON ${schema.typeName}: ${TunnelError.from(e).rawMessage}`);
  }
}
