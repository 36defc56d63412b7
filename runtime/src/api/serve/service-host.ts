import type * as grpc from "@grpc/grpc-js";
import type { DescService } from "@bufbuild/protobuf";
import type { StreamHandler } from "../../engine/server-engine.js";
import { addGrpcService, type GrpcServiceOptions } from "../grpc-services/index.js";
import type { Interceptor } from "../interceptors/index.js";
import type { ServiceImpl, ServiceRegistrar } from "./service-impl.js";
import { ServiceRegistry } from "./service-registry.js";

/**
 * What serves tunneled calls and so takes service registrations: a
 * TunnelServiceHandler (over forward tunnels) or a ReverseTunnelServer (over
 * reverse tunnels).
 */
export abstract class ServiceHost implements ServiceRegistrar {
  /** The registered services, by method. */
  protected readonly registry: ServiceRegistry;

  /** `interceptors` wrap every typed implementation registered here (not grpc-js services: they have their own). */
  constructor(interceptors: readonly Interceptor[] = []) {
    this.registry = new ServiceRegistry(interceptors);
  }

  /** Registers a service implementation (generated `registerFooService` calls this). */
  registerService<S extends DescService>(service: S, impl: Partial<ServiceImpl<S>>): void {
    this.registry.registerService(service, impl);
  }

  /**
   * Registers a grpc-js service: the same arguments as
   * `grpc.Server.addService` (a `ServiceDefinition` from
   * `@grpc/proto-loader`, `grpc-tools`, `ts-proto`, ... and its
   * implementation), so existing grpc-js handlers serve tunneled calls
   * unchanged. As in grpc-js, methods are found by name or `originalName`
   * and missing ones answer UNIMPLEMENTED; a service can be added once.
   * Handlers get grpc-js call objects (`metadata`, `sendMetadata`,
   * `getDeadline`, `cancelled`, `'cancelled'` events, ...); see
   * `tunnelMetadataFromCall` and, for error details, `STATUS_DETAILS_KEY`.
   */
  addService(definition: grpc.ServiceDefinition, implementation: grpc.UntypedServiceImplementation, options?: GrpcServiceOptions): void {
    addGrpcService(this.registry, definition, implementation, options);
  }

  /**
   * Registers handlers in bytes, for this package's adapters (Connect
   * routes): every service named is claimed first, so that one registered
   * before fails the whole call and registers nothing.
   *
   * @internal
   */
  registerHandlers(handlers: readonly { service: string; method: string; handler: StreamHandler }[]): void {
    for (const service of new Set(handlers.map((h) => h.service))) {
      this.registry.claim(service);
    }
    for (const { service, method, handler } of handlers) {
      this.registry.registerHandler(service, method, handler);
    }
  }
}
