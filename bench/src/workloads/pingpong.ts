import type { MessageInitShape } from "@bufbuild/protobuf";
import type { MessageSchema } from "@protoc-gen-tunnel/interop";
import type { Processes } from "../fixtures.js";
import { figure } from "../results.js";
import { forwardRounds } from "../rounds.js";
import { payloadOf } from "../service.js";
import { LatencyRecorder } from "../stats.js";
import { named, type Workload } from "./workload.js";

const PAYLOAD_BYTES = 100;
/** Exchanges at the start of each stream that are not timed (stream set-up). */
const UNTIMED_EXCHANGES = 10;

/** Requests pushed one at a time into a streaming call. */
class Pushable<T> implements AsyncIterable<T> {
  private readonly items: T[] = [];
  private wake: (() => void) | undefined;
  private closed = false;

  push(item: T): void {
    this.items.push(item);
    this.notify();
  }

  close(): void {
    this.closed = true;
    this.notify();
  }

  async *[Symbol.asyncIterator](): AsyncGenerator<T> {
    for (;;) {
      while (this.items.length > 0) {
        yield this.items.shift()!;
      }
      if (this.closed) {
        return;
      }
      await new Promise<void>((resolve) => (this.wake = resolve));
    }
  }

  private notify(): void {
    const wake = this.wake;
    this.wake = undefined;
    wake?.();
  }
}

/** One bidi stream; send a message, wait for its echo, repeat: round-trip latency. */
export function pingPong(processes: Processes = 1): Workload {
  return {
    ...named("bidi-pingpong", `Bidi ping-pong, ${PAYLOAD_BYTES} B`, processes),
    async run(ctx) {
      const message = { payload: payloadOf(PAYLOAD_BYTES) };
      const samples = await forwardRounds(ctx, processes, async (client) => {
        const requests = new Pushable<MessageInitShape<typeof MessageSchema>>();
        const responses = client.bidiStream(requests)[Symbol.asyncIterator]();
        const latencies = new LatencyRecorder();
        const end = performance.now() + ctx.config.sampleMs;
        for (let i = 0; ; i++) {
          const start = performance.now();
          // At least one timed exchange, however long the untimed ones took (two processes on a busy machine).
          if (start >= end && i > UNTIMED_EXCHANGES) {
            break;
          }
          requests.push(message);
          const echo = await responses.next();
          if (echo.done) {
            throw new Error("ping-pong: the stream ended early");
          }
          if (i >= UNTIMED_EXCHANGES) {
            latencies.add(performance.now() - start);
          }
        }
        requests.close();
        while (!(await responses.next()).done) {
          // drain: the call ends once the server saw the half-close
        }
        return { p50: latencies.quantile(0.5), p99: latencies.quantile(0.99) };
      });
      return {
        id: this.id,
        title: this.title,
        params: { payloadBytes: PAYLOAD_BYTES, processes },
        figures: [
          figure({ id: "p50", label: "round trip p50", unit: "ms", better: "lower" }, samples, (s) => s.p50),
          figure({ id: "p99", label: "round trip p99", unit: "ms", better: "lower" }, samples, (s) => s.p99),
        ],
      };
    },
  };
}
