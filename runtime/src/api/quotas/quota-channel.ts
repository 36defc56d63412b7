import type { CallEnd } from "../../ended.js";
import type { TunnelError } from "../../errors.js";
import type { CallOptions, CallStream } from "../client/index.js";
import type { ReverseChannel } from "../reverse/index.js";
import type { CallQuotas, ChargedNames } from "./call-quotas.js";

/**
 * A key's channel under quotas: each call is admitted by the key's (and its
 * caller's) token buckets before it starts on `inner`, or refused at once
 * with the QuotaExceededError (thrown by `startCall`, like any call that
 * cannot start). With a bytes limit, the call's messages are counted as they pass.
 */
export class QuotaChannel implements ReverseChannel {
  constructor(
    private readonly inner: ReverseChannel,
    private readonly key: unknown,
    private readonly quotas: CallQuotas,
  ) {}

  ready(): boolean {
    return this.inner.ready();
  }

  waitForReady(options?: { signal?: AbortSignal }): Promise<void> {
    return this.inner.waitForReady(options);
  }

  startCall(method: string, options: CallOptions = {}): CallStream {
    const names = this.quotas.admit(this.key, method, options.metadata);
    const stream = this.inner.startCall(method, options);
    return this.quotas.countsBytes ? new CountedCall(stream, this.quotas, names) : stream;
  }
}

/** A call whose message bytes are charged to its quotas' byte buckets. */
class CountedCall implements CallStream {
  constructor(
    private readonly stream: CallStream,
    private readonly quotas: CallQuotas,
    private readonly names: ChargedNames,
  ) {}

  get method(): string {
    return this.stream.method;
  }

  get closed(): boolean {
    return this.stream.closed;
  }

  get done(): Promise<CallEnd> {
    return this.stream.done;
  }

  send(message: Uint8Array): Promise<void> {
    this.quotas.chargeBytes(this.names, message.byteLength);
    return this.stream.send(message);
  }

  closeSend(): void {
    this.stream.closeSend();
  }

  async read(): Promise<Uint8Array | undefined> {
    const message = await this.stream.read();
    if (message !== undefined) {
      this.quotas.chargeBytes(this.names, message.byteLength);
    }
    return message;
  }

  cancel(reason?: TunnelError): void {
    this.stream.cancel(reason);
  }
}
