import type { MessageInitShape } from "@bufbuild/protobuf";
import { Code, TunnelError, createTunnelClient, type CallChannel, type TunnelClient } from "@protoc-gen-tunnel/runtime";
import { CALL_KINDS, newCallCounts, type CallCounts } from "./call-counts.js";
import { TestService, type Message, type MessageSchema } from "./gen/grpchantesting/test_pb.js";

export interface SendRpcsOptions {
  /** How long new calls are started (default 5 s, as in Go). */
  durationMs?: number;
  /** How long running calls may take to finish after that before they are cancelled (default 1 s). */
  graceMs?: number;
  /** Aborting it cancels the load (running calls fail, so the load fails). */
  signal?: AbortSignal;
  /** Updated as calls complete, so a caller can report progress or partial counts on failure. */
  counts?: CallCounts;
}

/** Bytes 0,1,2,3 repeated to `length`: the payloads of the Go load. */
export function testPayload(length: number): Uint8Array {
  const payload = new Uint8Array(length);
  for (let i = 0; i < length; i++) {
    payload[i] = i % 4;
  }
  return payload;
}

const UNARY_PAYLOAD = testPayload(400);
const CLIENT_STREAM_PAYLOAD = testPayload(40_000);
const STREAM_PAYLOAD = testPayload(4_000);
const MESSAGES_PER_STREAM = 10;

type Call = (client: TunnelClient<typeof TestService>, signal: AbortSignal) => Promise<void>;

const CALLS: Record<keyof CallCounts, Call> = {
  async unary(client, signal) {
    const response = await client.unary({ count: 10, payload: UNARY_PAYLOAD }, { signal });
    expectPayload(response, UNARY_PAYLOAD, "unary");
  },

  async clientStream(client, signal) {
    const response = await client.clientStream(repeated({ count: 10, payload: CLIENT_STREAM_PAYLOAD }), { signal });
    expectPayload(response, CLIENT_STREAM_PAYLOAD, "client-stream");
    expectCount(response.count, "client-stream requests the server saw");
  },

  async serverStream(client, signal) {
    let received = 0;
    for await (const response of client.serverStream({ count: 10, payload: STREAM_PAYLOAD }, { signal })) {
      expectPayload(response, STREAM_PAYLOAD, "server-stream");
      received++;
    }
    expectCount(received, "server-stream responses");
  },

  async bidiStream(client, signal) {
    let received = 0;
    for await (const response of client.bidiStream(repeated({ count: 10, payload: STREAM_PAYLOAD }), { signal })) {
      expectPayload(response, STREAM_PAYLOAD, "bidi");
      received++;
    }
    expectCount(received, "bidi responses");
  },
};

/**
 * The "send RPCs" load of the Go interop programs: four concurrent loops
 * (unary, client-, server- and bidi-streaming), each repeating its call as
 * fast as it completes for `durationMs`; then no new calls start, and calls
 * still running `graceMs` later are cancelled. Fails with the first failed
 * call (which also cancels the others, like Go's errgroup); otherwise
 * resolves with the number of completed calls per kind.
 */
export async function sendRpcs(channel: CallChannel, options: SendRpcsOptions = {}): Promise<CallCounts> {
  const client = createTunnelClient(TestService, channel);
  const counts = options.counts ?? newCallCounts();
  const cancel = new AbortController();
  const onOuterAbort = () => cancel.abort(TunnelError.from(options.signal?.reason, Code.CANCELLED));
  options.signal?.addEventListener("abort", onOuterAbort, { once: true });
  let stopping = false;
  let firstError: TunnelError | undefined;
  let graceTimer: NodeJS.Timeout | undefined;
  const stopTimer = setTimeout(() => {
    stopping = true;
    graceTimer = setTimeout(
      () => cancel.abort(new TunnelError(Code.CANCELLED, `call still running ${options.graceMs ?? 1000} ms after the load stopped`)),
      options.graceMs ?? 1000,
    );
  }, options.durationMs ?? 5000);

  const loop = async (kind: keyof CallCounts) => {
    while (!stopping && !cancel.signal.aborted) {
      try {
        await CALLS[kind](client, cancel.signal);
      } catch (e) {
        const error = TunnelError.from(e);
        if (firstError === undefined) {
          firstError = new TunnelError(error.code, `${kind} call failed: ${error.rawMessage}`, {
            details: error.details,
            metadata: error.metadata,
            cause: e,
          });
          cancel.abort(firstError);
        }
        return;
      }
      counts[kind]++;
    }
  };

  try {
    if (options.signal?.aborted) {
      onOuterAbort();
    }
    await Promise.all(CALL_KINDS.map(loop));
  } finally {
    clearTimeout(stopTimer);
    clearTimeout(graceTimer);
    options.signal?.removeEventListener("abort", onOuterAbort);
  }
  if (firstError !== undefined) {
    throw firstError;
  }
  return counts;
}

/** Ten copies of one request, as the streaming calls of the Go load send. */
async function* repeated(request: MessageInitShape<typeof MessageSchema>): AsyncGenerator<MessageInitShape<typeof MessageSchema>> {
  for (let i = 0; i < MESSAGES_PER_STREAM; i++) {
    yield request;
  }
}

function expectPayload(response: Message, expected: Uint8Array, what: string): void {
  if (Buffer.compare(response.payload, expected) !== 0) {
    throw new TunnelError(
      Code.DATA_LOSS,
      `${what} response payload differs from the request (${response.payload.length} bytes, expected ${expected.length})`,
    );
  }
}

function expectCount(actual: number, what: string): void {
  if (actual !== MESSAGES_PER_STREAM) {
    throw new TunnelError(Code.DATA_LOSS, `expected ${MESSAGES_PER_STREAM} ${what}, got ${actual}`);
  }
}
