import type { ServerDuplexStream } from "@grpc/grpc-js";

/** grpc-js's auth context of a server call (grpc-js does not export the type by name). */
export type AuthContext = ReturnType<ServerDuplexStream<unknown, never>["getAuthContext"]>;
