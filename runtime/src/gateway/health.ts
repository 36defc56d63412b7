import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { Metadata } from "@grpc/grpc-js";
import type { CallChannel } from "../api/client/index.js";
import { Code } from "../code.js";
import { TunnelError } from "../errors.js";
import {
  HealthCheckRequestSchema,
  HealthCheckResponse_ServingStatus as ServingStatus,
  HealthCheckResponseSchema,
} from "../gen/grpc/health/v1/health_pb.js";
import type { FrontDoorCall } from "./front-door.js";
import { binaryView } from "./json-messages.js";

export const HEALTH_CHECK = "/grpc.health.v1.Health/Check";
export const HEALTH_WATCH = "/grpc.health.v1.Health/Watch";

/** True for the methods of grpc.health.v1, which the gateway answers itself when a call names no key. */
export function isHealthMethod(method: string): boolean {
  return method === HEALTH_CHECK || method === HEALTH_WATCH;
}

/** What answering a health check needs from the gateway. */
export interface HealthDeps {
  /** The gateway takes calls (false once it is shutting down). */
  serving(): boolean;
  /** Throws the denial when the caller may not learn about `key`. */
  authorize(call: FrontDoorCall, key: string): Promise<void>;
  channel(key: string): CallChannel;
  /** The bound of a probe when the caller set no deadline. */
  timeoutMs: number;
}

/**
 * grpc.health.v1 on the gateway: `Check` with an empty service reports the
 * gateway itself (what Kubernetes gRPC probes ask); with an affinity key as
 * the service, whether an agent with that key is reachable now — a probe
 * call through its tunnel, in cluster mode through the relay, answered by
 * the agent. `Watch` is not served (UNIMPLEMENTED), which clients read as
 * "no health watching".
 */
export async function answerHealth(front: FrontDoorCall, deps: HealthDeps): Promise<void> {
  const call = front.json ? binaryView(front, { input: HealthCheckRequestSchema, output: HealthCheckResponseSchema }) : front;
  if (call.info.method === HEALTH_WATCH) {
    throw new TunnelError(Code.UNIMPLEMENTED, "the tunnel gateway does not serve grpc.health.v1.Health/Watch; call Check");
  }
  const bytes = await call.read();
  if (bytes === undefined || (await call.read()) !== undefined) {
    throw new TunnelError(Code.INVALID_ARGUMENT, "a health check takes exactly one HealthCheckRequest");
  }
  let service: string;
  try {
    service = fromBinary(HealthCheckRequestSchema, bytes).service;
  } catch (e) {
    throw new TunnelError(Code.INVALID_ARGUMENT, `not a HealthCheckRequest: ${TunnelError.from(e).rawMessage}`);
  }
  let status: ServingStatus;
  if (service === "") {
    status = deps.serving() ? ServingStatus.SERVING : ServingStatus.NOT_SERVING;
  } else {
    await deps.authorize(call, service);
    const deadline = Math.min(call.deadline ?? Number.POSITIVE_INFINITY, Date.now() + deps.timeoutMs);
    status = await probe(deps.channel(service), deadline, call.signal);
  }
  const headers = new Metadata();
  call.sendHeaders(headers);
  await call.send(toBinary(HealthCheckResponseSchema, create(HealthCheckResponseSchema, { status })));
  call.end(undefined, new Metadata());
}

/**
 * Whether a call reaches an agent of the channel's key: it calls the agent's
 * own health check. Its answer counts when it has one; any other status
 * from the agent (UNIMPLEMENTED: it serves no health) still proves it
 * reachable. No tunnel, a refusal or no answer in time: NOT_SERVING.
 */
async function probe(channel: CallChannel, deadline: number, signal: AbortSignal): Promise<ServingStatus> {
  let stream: ReturnType<CallChannel["startCall"]>;
  try {
    stream = channel.startCall(HEALTH_CHECK, { deadline, signal });
  } catch {
    return ServingStatus.NOT_SERVING;
  }
  stream.send(toBinary(HealthCheckRequestSchema, create(HealthCheckRequestSchema))).then(
    () => stream.closeSend(),
    () => {},
  );
  let answer: Uint8Array | undefined;
  try {
    answer = await stream.read();
  } catch {
    // its end says how
  }
  const end = await stream.done;
  if (end.error === undefined) {
    return answer !== undefined && statusOf(answer) === ServingStatus.SERVING ? ServingStatus.SERVING : ServingStatus.NOT_SERVING;
  }
  const unreachable = end.refused === true || [Code.UNAVAILABLE, Code.DEADLINE_EXCEEDED, Code.CANCELLED].includes(end.error.code);
  return unreachable ? ServingStatus.NOT_SERVING : ServingStatus.SERVING;
}

/** The status in an agent's health answer; UNKNOWN when it is not a HealthCheckResponse. */
function statusOf(answer: Uint8Array): ServingStatus {
  try {
    return fromBinary(HealthCheckResponseSchema, answer).status;
  } catch {
    return ServingStatus.UNKNOWN;
  }
}
