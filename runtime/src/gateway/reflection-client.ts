import { create, createFileRegistry, fromBinary, toBinary, type DescFile, type FileRegistry } from "@bufbuild/protobuf";
import * as wkt from "@bufbuild/protobuf/wkt";
import { FileDescriptorProtoSchema, type FileDescriptorProto } from "@bufbuild/protobuf/wkt";
import type { CallChannel } from "../api/client/index.js";
import { Code, isValidCode } from "../code.js";
import { TunnelError } from "../errors.js";
import {
  ServerReflectionRequestSchema,
  ServerReflectionResponseSchema,
  type ServerReflectionRequest,
} from "../gen/grpc/reflection/v1/reflection_pb.js";

/** The reflection method of both versions; v1alpha has the same messages on the wire. */
export const REFLECTION_METHODS = [
  "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo",
  "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo",
] as const;

/** Well-known types (google/protobuf/*.proto): used when an agent's answer leaves them out. */
const WELL_KNOWN = new Map<string, DescFile>(
  Object.entries(wkt)
    .filter(([name]) => name.startsWith("file_google_protobuf_"))
    .map(([, file]) => [(file as DescFile).proto.name, file as DescFile]),
);

/** Most files one lookup may fetch (a service's file and its imports). */
const MAX_FILES = 256;

/**
 * The message types of `serviceName` as the agent behind `channel` serves
 * them: the file declaring it and the files it imports, fetched with gRPC
 * server reflection (v1, else v1alpha) through the tunnel.
 */
export async function fetchServiceRegistry(channel: CallChannel, serviceName: string, deadline: number | undefined): Promise<FileRegistry> {
  const files = new Map<string, FileDescriptorProto>();
  const first = await ask(channel, { case: "fileContainingSymbol", value: serviceName }, deadline);
  for (const file of first) {
    files.set(file.name, file);
  }
  const root = first[0];
  if (root === undefined) {
    throw new TunnelError(Code.NOT_FOUND, `reflection returned no file for ${serviceName}`);
  }
  for (let missing = missingImports(files); missing.length > 0; missing = missingImports(files)) {
    for (const name of missing) {
      if (files.size >= MAX_FILES) {
        throw new TunnelError(Code.RESOURCE_EXHAUSTED, `${serviceName} needs more than ${MAX_FILES} files`);
      }
      const found = await ask(channel, { case: "fileByFilename", value: name }, deadline);
      const file = found.find((f) => f.name === name);
      if (file === undefined) {
        throw new TunnelError(Code.NOT_FOUND, `reflection has no file ${name}, which ${serviceName} needs`);
      }
      files.set(name, file);
    }
  }
  try {
    return createFileRegistry(root, (name) => files.get(name) ?? WELL_KNOWN.get(name));
  } catch (e) {
    throw new TunnelError(Code.INTERNAL, `the agent's descriptors of ${serviceName} do not build: ${TunnelError.from(e).rawMessage}`);
  }
}

function missingImports(files: Map<string, FileDescriptorProto>): string[] {
  const missing = new Set<string>();
  for (const file of files.values()) {
    for (const name of file.dependency) {
      if (!files.has(name) && !WELL_KNOWN.has(name)) {
        missing.add(name);
      }
    }
  }
  return [...missing];
}

/** One reflection request, answered with files; tries v1 and then v1alpha. */
async function ask(
  channel: CallChannel,
  request: ServerReflectionRequest["messageRequest"],
  deadline: number | undefined,
): Promise<FileDescriptorProto[]> {
  const bytes = toBinary(ServerReflectionRequestSchema, create(ServerReflectionRequestSchema, { messageRequest: request }));
  let unimplemented: TunnelError | undefined;
  for (const method of REFLECTION_METHODS) {
    try {
      return filesOf(await exchange(channel, method, bytes, deadline));
    } catch (e) {
      const error = TunnelError.from(e, Code.INTERNAL);
      if (error.code !== Code.UNIMPLEMENTED) {
        throw error;
      }
      unimplemented = error;
    }
  }
  throw new TunnelError(
    Code.UNIMPLEMENTED,
    `the agent serves no gRPC reflection (${unimplemented?.rawMessage}); JSON needs it, or the gateway's descriptors option`,
  );
}

/** Sends one request on a reflection stream and returns the first answer. */
async function exchange(channel: CallChannel, method: string, request: Uint8Array, deadline: number | undefined): Promise<Uint8Array> {
  const stream = channel.startCall(method, { deadline });
  await stream.send(request);
  stream.closeSend();
  let answer: Uint8Array | undefined;
  try {
    answer = await stream.read();
  } finally {
    stream.cancel(); // one answer is all this asks for
  }
  const end = await stream.done;
  if (answer === undefined) {
    throw end.error ?? new TunnelError(Code.INTERNAL, "reflection ended without an answer");
  }
  return answer;
}

function filesOf(answer: Uint8Array): FileDescriptorProto[] {
  const response = fromBinary(ServerReflectionResponseSchema, answer).messageResponse;
  if (response.case === "errorResponse") {
    const code = isValidCode(response.value.errorCode) && response.value.errorCode !== Code.OK ? response.value.errorCode : Code.UNKNOWN;
    throw new TunnelError(code, `reflection: ${response.value.errorMessage}`);
  }
  if (response.case !== "fileDescriptorResponse") {
    throw new TunnelError(Code.INTERNAL, `reflection answered with ${response.case ?? "nothing"}, not files`);
  }
  return response.value.fileDescriptorProto.map((bytes) => fromBinary(FileDescriptorProtoSchema, bytes));
}
