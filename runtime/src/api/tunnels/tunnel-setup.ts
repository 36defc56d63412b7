import type * as grpc from "@grpc/grpc-js";
import { Code } from "../../code.js";
import type { AuthContext } from "../../engine/auth-context.js";
import type { TunnelLimits } from "../../engine/limits.js";
import { TunnelError } from "../../errors.js";
import type { ClientToServer, ServerToClient } from "../../gen/grpctunnel/v1/tunnel_pb.js";
import { type CallConn, chargePartialMessages, clientCallConn, serverCallConn } from "../../transport/grpc-conn.js";
import { serverCallInternals } from "../../transport/grpc-js-internals.js";
import { grantStreamWindow } from "../../transport/http2-window.js";
import { clientStreamWindow } from "../../transport/tunnel-service.js";
import { awaitResponseHeaders } from "../../transport/response-headers.js";
import type { ConnectionBudgets, TunnelLease } from "./connection-budgets.js";
import { maxFrameBytes, tunnelCallBytes } from "./tunnel-call-cost.js";

/*
 * Setting up a tunnel, written once for the four places that do it: a
 * network server accepts a tunnel RPC (TunnelServiceHandler, forward and
 * reverse; the relay listener), a network client dials one (openTunnel; the
 * ReverseTunnelServer). Each gets the transport adapter of its grpc-js call
 * and a lease on a connection's budget; the caller then builds its engine
 * and keeps it in its LiveTunnels.
 */

type Frame = ClientToServer | ServerToClient;

/** Who a tunnel RPC comes from, as the network server sees it: what its budget may be keyed by. */
export interface TunnelCaller {
  /** The address of the network connection (grpc-js's `getPeer()`): a proxy's, behind one. */
  readonly peer: string;
  /** The tunnel RPC's request metadata (e.g. a header a trusted proxy sets). */
  readonly metadata: grpc.Metadata;
  /** The TLS identity of the connection, if any. */
  readonly authContext: AuthContext | undefined;
}

/** How a network server admits the tunnel RPCs that arrive. */
export interface Admission {
  readonly budgets: ConnectionBudgets;
  readonly limits: TunnelLimits;
  /**
   * The key of the budget a tunnel is charged to (the per-connection
   * limits); undefined from it, or without it: the network connection.
   */
  readonly budgetKey?: (caller: TunnelCaller) => string | undefined;
}

/** A tunnel RPC a network server admitted. */
export interface AcceptedTunnel<In, Out> {
  readonly conn: CallConn<Out, In>;
  readonly lease: TunnelLease;
  /**
   * Ends the tunnel with `error` when grpc-js holds more of an arriving
   * frame than the tunnel's budgets allow; call once its engine exists.
   */
  guard(abort: (error: TunnelError) => void): void;
}

/**
 * Admits a tunnel RPC that arrived at a network server: refuses one whose
 * messages are compressed, caps the size of its messages at the largest
 * frame the runtime accepts, and charges what the RPC itself holds for the
 * tunnel's life (its metadata, peer and auth data) to a budget keyed by
 * `budgetKey` (by default its connection). Undefined when refused: the call
 * then ended with the refusal's status.
 */
export function acceptTunnel<In, Out extends Frame>(
  call: grpc.ServerDuplexStream<In, Out>,
  admission: Admission,
): AcceptedTunnel<In, Out> | undefined {
  const internals = serverCallInternals(call);
  if (internals !== undefined && internals.encoding !== "identity") {
    refuse(
      call,
      new TunnelError(
        Code.UNIMPLEMENTED,
        `compressed tunnel RPCs are not accepted (grpc-encoding ${JSON.stringify(internals.encoding)}): a paused tunnel could not bound what decompressing holds`,
      ),
    );
    return undefined;
  }
  const { limits } = admission;
  internals?.capMessageBytes(maxFrameBytes(limits));
  const caller: TunnelCaller = { peer: call.getPeer(), metadata: call.metadata, authContext: call.getAuthContext() };
  const cost = tunnelCallBytes(caller, limits);
  if (cost instanceof TunnelError) {
    refuse(call, cost);
    return undefined;
  }
  const key = admission.budgetKey?.(caller);
  const lease = admission.budgets.admit(
    key === undefined ? `peer ${caller.peer}` : `key ${key}`,
    limits,
    limits.maxTunnelsPerConnection,
    cost,
  );
  if (lease instanceof TunnelError) {
    refuse(call, lease);
    return undefined;
  }
  // Past admission only: a refused tunnel RPC widens nothing.
  const window = internals === undefined ? undefined : grantStreamWindow(internals.stream, limits.http2WindowBytes);
  const conn = serverCallConn(call, internals, window);
  conn.onClosed(lease.release);
  return {
    conn,
    lease,
    guard: (abort) => {
      if (internals !== undefined) {
        chargePartialMessages(internals, lease.memory, conn, abort);
      }
    },
  };
}

function refuse(call: grpc.ServerDuplexStream<unknown, unknown>, error: TunnelError): void {
  call.emit("error", { code: error.code, details: error.rawMessage });
}

/** The grpc-js method a network client dials. */
export interface TunnelMethod<Out, In> {
  readonly path: string;
  readonly serialize: (frame: Out) => Buffer;
  readonly deserialize: (bytes: Buffer) => In;
}

/** A tunnel RPC a network client dialed, answered with response headers. */
export interface DialedTunnel<Out, In> {
  readonly call: grpc.ClientDuplexStream<Out, In>;
  readonly conn: CallConn<Out, In>;
  readonly headers: grpc.Metadata;
  readonly lease: TunnelLease;
}

/** What dialing a tunnel RPC takes. */
export interface DialOptions {
  readonly metadata: grpc.Metadata;
  readonly callOptions: grpc.CallOptions | undefined;
  /** Aborting it while the response headers are awaited fails the dial. */
  readonly signal: AbortSignal | undefined;
  /** Tunnels dialed through one grpc-js client share one budget here. */
  readonly budgets: ConnectionBudgets;
  readonly limits: TunnelLimits;
  /** Checked once the headers arrived: an error to give up with instead (the caller stopped meanwhile). */
  readonly stillWanted?: () => TunnelError | undefined;
}

/**
 * Starts a tunnel RPC on `client` and waits for its response headers
 * (which decide negotiation); the call is cancelled if that fails. Throws
 * what grpc-js throws when the call cannot start (e.g. a closed client);
 * rejects with a TunnelError otherwise.
 */
export async function dialTunnel<Out, In>(
  client: grpc.Client,
  method: TunnelMethod<Out, In>,
  options: DialOptions,
): Promise<DialedTunnel<Out, In>> {
  const call = client.makeBidiStreamRequest(method.path, method.serialize, method.deserialize, options.metadata, options.callOptions ?? {});
  // Attaches grpc-js's 'error' listener at once: a tunnel that cannot be
  // opened must be a result, not an unhandled 'error' event.
  const conn = clientCallConn(call, method.serialize, clientStreamWindow(client));
  try {
    const headers = await awaitResponseHeaders(call, options.signal);
    const stopped = options.stillWanted?.();
    if (stopped !== undefined) {
      throw stopped;
    }
    const lease = options.budgets.admit(client, options.limits, Number.POSITIVE_INFINITY);
    if (lease instanceof TunnelError) {
      throw lease;
    }
    conn.onClosed(lease.release);
    return { call, conn, headers, lease };
  } catch (e) {
    call.cancel();
    throw TunnelError.from(e, Code.UNAVAILABLE);
  }
}
