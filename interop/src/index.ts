export { testServiceImpl, metadataAsMap, setMetadata } from "./test-service.js";
export { TestService, MessageSchema, type Message } from "./gen/grpchantesting/test_pb.js";
