// Public entry point of @protoc-gen-tunnel/interop: the interop TestService,
// the "send RPCs" load, and plain grpc-js adapters for protobuf-es services
// (used to compare tunnels with direct grpc-js, e.g. by the benchmarks).

export { testServiceImpl, metadataAsMap, setMetadata } from "./test-service.js";
export { TestService, MessageSchema, type Message } from "./gen/grpchantesting/test_pb.js";
export {
  TunnelTestService,
  TriggerTestRPCsRequestSchema,
  TriggerTestRPCsResponseSchema,
  type TriggerTestRPCsRequest,
  type TriggerTestRPCsResponse,
} from "./gen/tunneltest_pb.js";
export { sendRpcs, testPayload, type SendRpcsOptions } from "./send-rpcs.js";
export {
  CALL_KINDS,
  countingTestService,
  formatCallCounts,
  newCallCounts,
  parseCallCounts,
  totalCalls,
  type CallCounts,
} from "./call-counts.js";
export { bytesMethodDefinition, grpcMethodDefinition, grpcServiceDefinition } from "./grpc-direct.js";
export { grpcService, grpcServiceImplementation } from "./grpc-direct-server.js";
export { DirectChannel } from "./grpc-direct-client.js";
