// A caller in another process, with nothing of the tunnel runtime: a plain
// grpc-js client of the gateway, the agent's message types from the
// generated code, and the device ID in the `tunnel-key` header.
import { create, fromBinary, toBinary, type DescMessage, type MessageShape } from "@bufbuild/protobuf";
import * as grpc from "@grpc/grpc-js";
import { GetStatusRequestSchema, LogLineSchema, StatusSchema, TailLogsRequestSchema } from "../gen/agent/v1/agent_pb.js";

const [address, token] = process.argv.slice(2);
if (address === undefined || token === undefined) {
  process.stderr.write("usage: node caller.js <gateway host:port> <token>\n");
  process.exit(2);
}

const client = new grpc.Client(address, grpc.credentials.createInsecure());
const serialize =
  <D extends DescMessage>(schema: D) =>
  (message: MessageShape<D>) =>
    Buffer.from(toBinary(schema, message));
const deserialize =
  <D extends DescMessage>(schema: D) =>
  (bytes: Buffer) =>
    fromBinary(schema, bytes);

function headers(device: string, bearer = token!): grpc.Metadata {
  const metadata = new grpc.Metadata();
  metadata.set("tunnel-key", device);
  metadata.set("authorization", `Bearer ${bearer}`);
  return metadata;
}

function getStatus(device: string, bearer?: string): Promise<MessageShape<typeof StatusSchema>> {
  return new Promise((resolve, reject) =>
    client.makeUnaryRequest(
      "/agent.v1.AgentService/GetStatus",
      serialize(GetStatusRequestSchema),
      deserialize(StatusSchema),
      create(GetStatusRequestSchema),
      headers(device, bearer),
      { deadline: Date.now() + 5_000 },
      (error, status) => (error ? reject(error) : resolve(status!)),
    ),
  );
}

for (const device of ["camera-3", "thermostat-7"]) {
  const status = await getStatus(device);
  console.log(`caller → ${device} GetStatus: firmware ${status.firmware}, ${status.temperatureCelsius} °C`);
}

const logs = client.makeServerStreamRequest(
  "/agent.v1.AgentService/TailLogs",
  serialize(TailLogsRequestSchema),
  deserialize(LogLineSchema),
  create(TailLogsRequestSchema, { lines: 2 }),
  headers("camera-3"),
);
for await (const line of logs) {
  console.log(`caller → camera-3 TailLogs: ${(line as MessageShape<typeof LogLineSchema>).text}`);
}

for (const [device, bearer] of [
  ["toaster-1", token],
  ["camera-3", "stolen-token"],
] as const) {
  try {
    await getStatus(device, bearer);
  } catch (e) {
    const error = e as grpc.ServiceError;
    console.log(`caller → ${device} GetStatus: ${grpc.status[error.code]} (${error.details})`);
  }
}
client.close();
