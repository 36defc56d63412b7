import type * as grpc from "@grpc/grpc-js";
import { Code } from "../../code.js";
import { TunnelError } from "../../errors.js";
import { TunnelClientEngine } from "../../engine/client-engine.js";
import { resolveLimits, type TunnelLimits } from "../../engine/limits.js";
import { toMetadata, type MetadataInit } from "../../metadata.js";
import { OPEN_TUNNEL_PATH } from "../../protocol/constants.js";
import { advertiseNegotiation, advertisesNegotiation } from "../../protocol/negotiation.js";
import { deserializeServerToClient, serializeClientToServer } from "../../transport/tunnel-service.js";
import { ConnectionBudgets } from "./connection-budgets.js";
import { tunnelChannel, type TunnelChannel, type TunnelChannelInit } from "./tunnel-channel.js";
import { dialTunnel } from "./tunnel-setup.js";

/** Tunnels dialed through one grpc-js client share its connection's memory budget. */
const dialed = new ConnectionBudgets();

/** Options of `openTunnel`. */
export interface OpenTunnelOptions {
  /** Request metadata of the tunnel RPC: the tunnel metadata handlers see. */
  metadata?: MetadataInit;
  /** Aborting it closes the tunnel (and fails the open if still pending). */
  signal?: AbortSignal;
  /** grpc-js options for the tunnel RPC itself (deadline, credentials, ...). */
  callOptions?: grpc.CallOptions;
  /**
   * Use protocol revision 0 (no flow control) even if the server offers 1.
   * Like Go's `WithDisableFlowControl`, meant for testing interop.
   */
  disableFlowControl?: boolean;
  /** Per-tunnel limits (windows, message and metadata sizes, ...); unset ones keep their defaults. */
  limits?: Partial<TunnelLimits>;
}

/**
 * Opens a forward tunnel over `client`'s channel (any grpc-js `Client`
 * connected to a server that hosts `grpctunnel.v1.TunnelService`) and waits
 * until it can carry calls. The Go equivalent is `NewChannel(stub).Start(ctx)`.
 */
export function openTunnel(client: grpc.Client, options: OpenTunnelOptions = {}): Promise<TunnelChannel> {
  return openTunnelChannel(client, options, {});
}

/** `openTunnel`, with settings of the TunnelChannel the runtime's own tunnels may change. */
export async function openTunnelChannel(
  client: grpc.Client,
  options: OpenTunnelOptions,
  init: Pick<TunnelChannelInit, "drainOnRefusal">,
): Promise<TunnelChannel> {
  const { signal } = options;
  if (signal?.aborted) {
    throw TunnelError.from(signal.reason, Code.CANCELLED);
  }
  const metadata = advertiseNegotiation(toMetadata(options.metadata));
  const limits = resolveLimits(options.limits);
  const { call, conn, headers, lease } = await dialTunnel(client, OPEN_TUNNEL, {
    metadata,
    callOptions: options.callOptions,
    signal,
    budgets: dialed,
    limits,
  });
  const engine = new TunnelClientEngine(conn, {
    flowControl: !options.disableFlowControl,
    expectSettings: advertisesNegotiation(headers),
    limits,
    memory: lease.memory,
    tunnel: { direction: "forward", peer: call.getPeer(), metadata },
  });
  const onAbort = () => {
    engine.close();
    call.cancel();
  };
  signal?.addEventListener("abort", onAbort, { once: true });
  conn.listen(engine);
  void engine.done.then(() => signal?.removeEventListener("abort", onAbort));
  try {
    await engine.ready;
    engine.announceOpen();
  } catch (e) {
    signal?.removeEventListener("abort", onAbort);
    call.cancel();
    throw TunnelError.from(e, Code.UNAVAILABLE);
  }
  return tunnelChannel(engine, { ...init, direction: "forward", metadata, peer: call.getPeer() });
}

const OPEN_TUNNEL = { path: OPEN_TUNNEL_PATH, serialize: serializeClientToServer, deserialize: deserializeServerToClient };
