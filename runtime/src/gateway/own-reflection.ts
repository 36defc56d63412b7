import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { Metadata } from "@grpc/grpc-js";
import { Code } from "../code.js";
import { TunnelError } from "../errors.js";
import { Health } from "../gen/grpc/health/v1/health_pb.js";
import { ServerReflectionRequestSchema, ServerReflectionResponseSchema } from "../gen/grpc/reflection/v1/reflection_pb.js";
import type { FrontDoorCall } from "./front-door.js";
import { binaryView } from "./json-messages.js";
import { SymbolIndex } from "./reflection-service.js";

/** What the gateway itself serves, for reflection on calls that name no key. */
const GATEWAY_SERVICES = new SymbolIndex([Health]);

/**
 * gRPC server reflection of the gateway itself (grpc.health.v1), for calls
 * that name no agent: so that `grpcurl -plaintext gateway:port list` and a
 * grpcurl health check work without a key. One answer per request.
 */
export async function answerOwnReflection(front: FrontDoorCall): Promise<void> {
  const call = front.json ? binaryView(front, { input: ServerReflectionRequestSchema, output: ServerReflectionResponseSchema }) : front;
  call.sendHeaders(new Metadata());
  for (let bytes = await call.read(); bytes !== undefined; bytes = await call.read()) {
    let request: ReturnType<typeof fromBinary<typeof ServerReflectionRequestSchema>>;
    try {
      request = fromBinary(ServerReflectionRequestSchema, bytes);
    } catch (e) {
      throw new TunnelError(Code.INVALID_ARGUMENT, `not a ServerReflectionRequest: ${TunnelError.from(e).rawMessage}`);
    }
    const messageResponse = GATEWAY_SERVICES.answer(request.messageRequest);
    const response = create(ServerReflectionResponseSchema, { validHost: request.host, originalRequest: request, messageResponse });
    await call.send(toBinary(ServerReflectionResponseSchema, response));
  }
  call.end(undefined, new Metadata());
}
