import type { DescService } from "@bufbuild/protobuf";
import type { StreamHandler } from "../../engine/server-engine.js";
import { interceptedHandler } from "../interceptors/index.js";
import type { Interceptor } from "../interceptors/index.js";
import { methodHandler } from "./server-calls.js";
import type { ServiceImpl } from "./service-impl.js";

/**
 * The services a tunnel server offers, by "pkg.Service/Method". Shared by
 * TunnelServiceHandler (forward) and ReverseTunnelServer (reverse).
 */
export class ServiceRegistry {
  private readonly handlers = new Map<string, StreamHandler>();
  private readonly services = new Set<string>();

  /** `interceptors` wrap the typed implementations registered with `registerService`. */
  constructor(private readonly interceptors: readonly Interceptor[] = []) {}

  get isEmpty(): boolean {
    return this.services.size === 0;
  }

  /** Registers the implemented methods of `service`; others answer UNIMPLEMENTED. */
  registerService<S extends DescService>(service: S, impl: Partial<ServiceImpl<S>>): void {
    this.claim(service.typeName);
    const methods = impl as Record<string, ((...args: never[]) => unknown) | undefined>;
    for (const method of service.methods) {
      const fn = methods[method.localName];
      if (typeof fn === "function") {
        const bound = fn.bind(impl);
        const handler = this.interceptors.length > 0 ? interceptedHandler(method, bound, this.interceptors) : methodHandler(method, bound);
        this.handlers.set(`${service.typeName}/${method.name}`, handler);
      }
    }
  }

  /** Registers a handler in bytes for one method of a service (for adapters). */
  registerHandler(serviceName: string, methodName: string, handler: StreamHandler): void {
    this.handlers.set(`${serviceName}/${methodName}`, handler);
    this.services.add(serviceName);
  }

  /** Reserves a service name; registering one twice is a programming error. */
  claim(serviceName: string): void {
    if (this.services.has(serviceName)) {
      throw new Error(`service ${serviceName} is already registered`);
    }
    this.services.add(serviceName);
  }

  /** The handler for "pkg.Service/Method", if registered. */
  lookup(method: string): StreamHandler | undefined {
    return this.handlers.get(method);
  }
}
