import { Metadata } from "@grpc/grpc-js";
import { describeKey, type ReverseChannels } from "../api/reverse/index.js";
import { Code } from "../code.js";
import { TunnelError } from "../errors.js";
import type { FrontDoorCall } from "./front-door.js";
import type { ResolvedGatewayOptions } from "./gateway-options.js";
import { answerHealth, isHealthMethod } from "./health.js";
import { binaryView } from "./json-messages.js";
import { MethodTypeSource } from "./method-types.js";
import { answerOwnReflection } from "./own-reflection.js";
import { REFLECTION_METHODS } from "./reflection-client.js";
import { relayToAgent } from "./relay-to-agent.js";

/**
 * The one core behind every front door: finds a call's affinity key,
 * authorizes it, and forwards it to the key's channel (`keyAsChannel`, so a
 * key held by another replica is reached through the cluster's relay).
 * Calls without a key to grpc.health.v1 are the gateway's own health checks,
 * and reflection without a key describes the gateway itself.
 */
export class GatewayCore {
  private readonly types: MethodTypeSource;
  private serving = true;

  constructor(
    private readonly channels: ReverseChannels<string>,
    readonly options: ResolvedGatewayOptions,
  ) {
    this.types = new MethodTypeSource(options.descriptors, options.descriptorCacheMs);
  }

  /** Whether the gateway reports itself SERVING and takes new calls. */
  get isServing(): boolean {
    return this.serving;
  }

  setServing(serving: boolean): void {
    this.serving = serving;
  }

  /** Forwards (or answers) one call; every failure ends it with a status. */
  serve(call: FrontDoorCall): void {
    this.run(call).catch((e: unknown) => call.end(TunnelError.from(e, Code.INTERNAL), new Metadata()));
  }

  private async run(call: FrontDoorCall): Promise<void> {
    const metadata = call.info.metadata;
    const key = this.keyOf(call);
    const waitForReady = this.waitForReady(metadata);
    if (key === undefined && isHealthMethod(call.info.method)) {
      await answerHealth(call, {
        serving: () => this.serving,
        authorize: (c, k) => this.authorize(c, k),
        channel: (k) => this.channels.keyAsChannel(k),
        timeoutMs: this.options.healthCheckTimeoutMs,
      });
      return;
    }
    if (key === undefined && (REFLECTION_METHODS as readonly string[]).includes(call.info.method)) {
      await answerOwnReflection(call);
      return;
    }
    if (!this.serving) {
      throw new TunnelError(Code.UNAVAILABLE, "the tunnel gateway is shutting down");
    }
    if (key === undefined) {
      throw new TunnelError(
        Code.INVALID_ARGUMENT,
        `the call names no agent: set the ${this.options.keyHeader} request header to the agent's affinity key`,
      );
    }
    await this.authorize(call, key);
    for (const name of this.options.dropHeaders) {
      metadata.remove(name); // after authorize, which may read them
    }
    const channel = this.channels.keyAsChannel(key);
    const forwarded = call.json ? binaryView(call, await this.types.lookup(key, call.info.method, channel, call.deadline)) : call;
    await relayToAgent(forwarded, channel, waitForReady);
  }

  /** The call's key (its header is removed either way); undefined when it names none. */
  private keyOf(call: FrontDoorCall): string | undefined {
    const metadata = call.info.metadata;
    const values = metadata.get(this.options.keyHeader);
    let key: string | undefined;
    if (this.options.key !== undefined) {
      key = this.options.key(call.info);
    } else if (values.length > 1) {
      throw new TunnelError(Code.INVALID_ARGUMENT, `the ${this.options.keyHeader} header must be given once (got ${values.length} values)`);
    } else {
      key = typeof values[0] === "string" ? values[0] : undefined;
    }
    metadata.remove(this.options.keyHeader);
    return key === "" ? undefined : key;
  }

  private waitForReady(metadata: Metadata): boolean {
    const value = metadata.get(this.options.waitForReadyHeader)[0];
    metadata.remove(this.options.waitForReadyHeader);
    if (value === undefined) {
      return this.options.waitForReady;
    }
    if (value === "true" || value === "1") {
      return true;
    }
    if (value === "false" || value === "0") {
      return false;
    }
    throw new TunnelError(Code.INVALID_ARGUMENT, `the ${this.options.waitForReadyHeader} header must be true or false`);
  }

  /** Resolves when `call` may reach `key`; throws the denial otherwise. */
  private async authorize(call: FrontDoorCall, key: string): Promise<void> {
    let allowed: boolean;
    try {
      allowed = await this.options.authorize(call.info, key);
    } catch (e) {
      if (e instanceof TunnelError) {
        throw TunnelError.from(e);
      }
      process.emitWarning(`tunnel gateway: authorize threw, call denied: ${TunnelError.from(e).rawMessage}`);
      throw new TunnelError(Code.INTERNAL, "the gateway could not decide whether the call is allowed");
    }
    if (allowed !== true) {
      throw new TunnelError(
        Code.PERMISSION_DENIED,
        `the caller may not call ${call.info.method} on the agent with key ${describeKey(key)}`,
      );
    }
  }
}
