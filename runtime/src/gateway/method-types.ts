import type { Registry } from "@bufbuild/protobuf";
import type { CallChannel } from "../api/client/index.js";
import { describeKey } from "../api/reverse/index.js";
import { Code } from "../code.js";
import { TunnelError } from "../errors.js";
import type { MethodTypes } from "./json-messages.js";
import { fetchServiceRegistry } from "./reflection-client.js";

/**
 * Where the gateway finds a method's message types for JSON: a registry it
 * was given, or the agent of the call's key, asked through its tunnel with
 * gRPC server reflection (cached per key and service).
 */
export class MethodTypeSource {
  private readonly cache = new Map<string, { registry: Promise<Registry>; expires: number }>();

  constructor(
    private readonly given: Registry | undefined,
    private readonly cacheMs: number,
  ) {}

  async lookup(key: string, method: string, channel: CallChannel, deadline: number | undefined): Promise<MethodTypes> {
    const match = /^\/([^/]+)\/([^/]+)$/.exec(method);
    if (match === null) {
      throw new TunnelError(Code.UNIMPLEMENTED, `${method} is not a method path (/package.Service/Method)`);
    }
    const [, serviceName, methodName] = match as unknown as [string, string, string];
    const registry = this.given ?? (await this.reflected(key, serviceName, channel, deadline));
    const service = registry.getService(serviceName);
    const found = service?.methods.find((m) => m.name === methodName);
    if (found === undefined) {
      const where = this.given === undefined ? `the agent of key ${describeKey(key)} (by reflection)` : "the gateway's descriptors";
      throw new TunnelError(Code.UNIMPLEMENTED, `method ${method} is not in ${where}; JSON needs the method's message types`);
    }
    return { input: found.input, output: found.output, registry };
  }

  private reflected(key: string, serviceName: string, channel: CallChannel, deadline: number | undefined): Promise<Registry> {
    const id = `${key}\0${serviceName}`;
    const now = Date.now();
    const cached = this.cache.get(id);
    if (cached !== undefined && cached.expires > now) {
      return cached.registry;
    }
    this.forgetExpired(now);
    const registry = fetchServiceRegistry(channel, serviceName, deadline);
    this.cache.set(id, { registry, expires: now + this.cacheMs });
    registry.catch(() => this.cache.delete(id)); // a failure is not remembered
    return registry;
  }

  private forgetExpired(now: number): void {
    for (const [id, entry] of this.cache) {
      if (entry.expires <= now) {
        this.cache.delete(id);
      }
    }
  }
}
