import type * as grpc from "@grpc/grpc-js";
import { acceptTunnel, ConnectionBudgets, LiveTunnels } from "../../api/tunnels/index.js";
import { Code } from "../../code.js";
import type { TunnelLimits } from "../../engine/limits.js";
import { TunnelServerEngine, type StreamHandler } from "../../engine/server-engine.js";
import { TunnelError } from "../../errors.js";
import { advertisesNegotiation } from "../../protocol/negotiation.js";
import {
  sendNegotiationHeaders,
  tunnelService,
  type tunnelServiceDefinition,
  type OpenReverseTunnelServerCall,
  type OpenTunnelServerCall,
} from "../../transport/tunnel-service.js";
import { secretMatches } from "./relay-metadata.js";

/** What the relay serves with, once a handler joined the cluster. */
export interface RelayServing {
  limits: TunnelLimits;
  /** The handler of every relayed call. */
  calls: StreamHandler;
}

/**
 * A replica's relay listener: the `TunnelService` other replicas open
 * forward tunnels to, on a port of its own (never the agents' port). It
 * takes only forward tunnels that carry the cluster's secret: a client
 * without it gets UNAUTHENTICATED, and `OpenReverseTunnel` is refused
 * (PERMISSION_DENIED), so an agent can neither register keys nor relay
 * calls here. Every call on a relay tunnel is relayed to a local tunnel.
 *
 * Relay tunnels are admitted like an agent's (see acceptTunnel), with the
 * same per-connection limits, checked once the secret matched: a peer
 * replica opens a few tunnels on one connection, far under
 * `maxTunnelsPerConnection`, and a replica that misbehaves (or a holder of
 * the secret) then holds at most one connection's budget of this process,
 * never all of it: agents' tunnels keep the rest.
 */
export class RelayListener {
  private serving: RelayServing | undefined;
  private readonly tunnels = new LiveTunnels<TunnelServerEngine>();
  private readonly budgets = new ConnectionBudgets();
  private draining = false;

  constructor(private readonly secret: string) {}

  /** Starts serving relayed calls (the handler joined). */
  serve(serving: RelayServing): void {
    this.serving = serving;
  }

  service(): [typeof tunnelServiceDefinition, grpc.UntypedServiceImplementation] {
    return tunnelService(
      (call) => this.openTunnel(call),
      (call) => this.openReverseTunnel(call),
    );
  }

  /** New relayed calls are refused from now on (no headers, UNAVAILABLE), so callers route them elsewhere. */
  initiateShutdown(): void {
    this.draining = true;
  }

  /**
   * Refuses new relayed calls and ends each relay tunnel cleanly once its
   * calls have finished — the other replica then knows that every call it
   * had no answer for was never seen here — or with UNAVAILABLE after
   * `graceMs`. Resolves when all have ended.
   */
  drain(graceMs: number): Promise<void> {
    // Stryker disable next-line CallExpression: the handler's drain() starts with initiateShutdown(), which reaches this listener first
    this.initiateShutdown();
    return this.tunnels.retire(graceMs, new TunnelError(Code.UNAVAILABLE, `replica is shutting down (grace period of ${graceMs} ms over)`));
  }

  /** Ends every relay tunnel now: idle ones cleanly, the others with UNAVAILABLE (their calls fail). */
  close(): void {
    this.draining = true;
    this.tunnels.endAll(new TunnelError(Code.UNAVAILABLE, "replica left the cluster"));
  }

  private openTunnel(call: OpenTunnelServerCall): void {
    const refusal = this.refusal(call);
    if (refusal !== undefined) {
      call.emit("error", { code: refusal.code, details: refusal.rawMessage });
      return;
    }
    const serving = this.serving!;
    const accepted = acceptTunnel(call, { budgets: this.budgets, limits: serving.limits });
    if (accepted === undefined) {
      return;
    }
    sendNegotiationHeaders(call);
    const engine = new TunnelServerEngine(accepted.conn, {
      flowControl: true,
      peerAdvertised: advertisesNegotiation(call.metadata),
      tunnelMetadata: call.metadata,
      peer: call.getPeer(),
      authContext: call.getAuthContext(),
      limits: serving.limits,
      memory: accepted.lease.memory,
      lookup: () => serving.calls,
      isShuttingDown: () => this.draining,
    });
    accepted.guard((error) => engine.abort(error));
    this.tunnels.add(engine);
    engine.start();
    engine.announceOpen(); // diagnostics see relay tunnels and the calls relayed on them like any forward tunnel
    accepted.conn.listen(engine);
  }

  private openReverseTunnel(call: OpenReverseTunnelServerCall): void {
    const refusal = this.authentication(call.metadata) ?? {
      code: Code.PERMISSION_DENIED,
      rawMessage: "a relay listener takes no reverse tunnels (agents connect to the replica's public port)",
    };
    call.emit("error", { code: refusal.code, details: refusal.rawMessage });
  }

  /** Why a relay tunnel cannot open now, if it cannot. */
  private refusal(call: OpenTunnelServerCall): TunnelError | undefined {
    const unauthenticated = this.authentication(call.metadata);
    if (unauthenticated !== undefined) {
      return unauthenticated;
    }
    if (this.draining) {
      return new TunnelError(Code.UNAVAILABLE, "replica is shutting down");
    }
    if (this.serving === undefined) {
      return new TunnelError(Code.UNAVAILABLE, "replica serves no handler yet");
    }
    return undefined;
  }

  private authentication(metadata: grpc.Metadata): TunnelError | undefined {
    return secretMatches(metadata, this.secret)
      ? undefined
      : new TunnelError(Code.UNAUTHENTICATED, "relay tunnels need the cluster's secret");
  }
}
