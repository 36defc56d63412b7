/**
 * Operating a fleet of agents: `/healthz` and `/readyz` for control
 * servers and agents, a graceful shutdown on SIGTERM for orchestrators,
 * and the admin endpoints `tunnelctl` talks to (keys, locate, live tunnel
 * events, drain). A separate entry point
 * ("@protoc-gen-tunnel/runtime/fleet"), with no dependency on Redis.
 *
 * @module @protoc-gen-tunnel/runtime/fleet
 */
export { agentHealth, controlServerHealth, healthEndpoints } from "./fleet/health.js";
export type {
  AgentHealthOptions,
  AgentSource,
  ClusterSource,
  ControlServerHealthOptions,
  ControlServerSource,
  DirectorySource,
  HealthEndpoints,
  HealthOptions,
  ReadinessCheck,
} from "./fleet/health.js";
export { shutdownOnSignal } from "./fleet/graceful-shutdown.js";
export type {
  Drainable,
  DrainableHandler,
  GracefulShutdown,
  GracefulShutdownOptions,
  LeavableCluster,
  ShutdownHealth,
  ShutdownResult,
  StoppableAgent,
  StoppableServer,
} from "./fleet/graceful-shutdown.js";
export { fleetAdmin, type AdminHandler, type AdminTunnel, type FleetAdmin, type FleetAdminOptions } from "./fleet/admin.js";
export type { KeyDirectory, KeyPageView, ReplicaRoute } from "./fleet/admin.js";
export type { TunnelEventRecord } from "./fleet/tunnel-events.js";
