import * as diagnosticsChannel from "node:diagnostics_channel";
import type {
  CallEndEvent,
  CallRoutedEvent,
  CallStartEvent,
  CallThrottledEvent,
  DirectoryRemovalsDroppedEvent,
  TunnelCloseEvent,
  TunnelOpenEvent,
  TunnelsShedEvent,
} from "./events.js";

/**
 * The `node:diagnostics_channel` names this runtime publishes on, with the
 * payload of each (the convention undici and Node itself follow). Publishing
 * costs nothing while a channel has no subscriber: no payload is built.
 */
export const DIAGNOSTICS_CHANNELS = {
  /** A tunnel can carry calls: TunnelOpenEvent. */
  tunnelOpen: "grpctunnel:tunnel:open",
  /** A tunnel that was announced open has ended: TunnelCloseEvent. */
  tunnelClose: "grpctunnel:tunnel:close",
  /** A tunneled call started (tunnel client) or was accepted (tunnel server): CallStartEvent. */
  callStart: "grpctunnel:call:start",
  /** A tunneled call ended: CallEndEvent. */
  callEnd: "grpctunnel:call:end",
  /** A call was refused by a quota (the handler's `quotas` option): CallThrottledEvent. */
  callThrottled: "grpctunnel:call:throttled",
  /** Cluster mode: a call started on the tunnel of the replica that serves it, here or relayed: CallRoutedEvent. */
  callRouted: "grpctunnel:call:routed",
  /** Cluster mode: rebalancing shed some of this replica's reverse tunnels: TunnelsShedEvent. */
  tunnelsShed: "grpctunnel:cluster:tunnels-shed",
  /** Cluster mode: a replica's directory dropped removals it could not write to Redis: DirectoryRemovalsDroppedEvent. */
  directoryRemovalsDropped: "grpctunnel:directory:removals-dropped",
} as const;

// Held here for the life of the process: Node keeps channels only weakly.
export const tunnelOpenChannel = diagnosticsChannel.channel(DIAGNOSTICS_CHANNELS.tunnelOpen);
export const tunnelCloseChannel = diagnosticsChannel.channel(DIAGNOSTICS_CHANNELS.tunnelClose);
export const callStartChannel = diagnosticsChannel.channel(DIAGNOSTICS_CHANNELS.callStart);
export const callEndChannel = diagnosticsChannel.channel(DIAGNOSTICS_CHANNELS.callEnd);
export const callThrottledChannel = diagnosticsChannel.channel(DIAGNOSTICS_CHANNELS.callThrottled);
export const callRoutedChannel = diagnosticsChannel.channel(DIAGNOSTICS_CHANNELS.callRouted);
export const tunnelsShedChannel = diagnosticsChannel.channel(DIAGNOSTICS_CHANNELS.tunnelsShed);
export const directoryRemovalsDroppedChannel = diagnosticsChannel.channel(DIAGNOSTICS_CHANNELS.directoryRemovalsDropped);

/** Typed listeners for `subscribeDiagnostics`; leave out what you do not need. */
export interface DiagnosticsListeners {
  /** On `grpctunnel:tunnel:open`. */
  tunnelOpen?: (event: TunnelOpenEvent) => void;
  /** On `grpctunnel:tunnel:close`. */
  tunnelClose?: (event: TunnelCloseEvent) => void;
  /** On `grpctunnel:call:start`. */
  callStart?: (event: CallStartEvent) => void;
  /** On `grpctunnel:call:end`. */
  callEnd?: (event: CallEndEvent) => void;
  /** On `grpctunnel:call:throttled`. */
  callThrottled?: (event: CallThrottledEvent) => void;
  /** On `grpctunnel:call:routed`. */
  callRouted?: (event: CallRoutedEvent) => void;
  /** On `grpctunnel:cluster:tunnels-shed`. */
  tunnelsShed?: (event: TunnelsShedEvent) => void;
  /** On `grpctunnel:directory:removals-dropped`. */
  directoryRemovalsDropped?: (event: DirectoryRemovalsDroppedEvent) => void;
}

/**
 * Subscribes typed listeners to the runtime's diagnostics channels (events
 * of every tunnel in the process, from any copy of the runtime); returns the
 * function that unsubscribes them. Listeners run synchronously where the
 * event happens: keep them short, and do not throw (Node reports a
 * subscriber's exception as uncaught).
 */
export function subscribeDiagnostics(listeners: DiagnosticsListeners): () => void {
  const subscriptions: Array<[string, (message: unknown) => void]> = [];
  for (const key of Object.keys(DIAGNOSTICS_CHANNELS) as Array<keyof DiagnosticsListeners>) {
    const listener = listeners[key] as ((message: unknown) => void) | undefined;
    if (listener !== undefined) {
      const onMessage = (message: unknown) => listener(message);
      diagnosticsChannel.subscribe(DIAGNOSTICS_CHANNELS[key], onMessage);
      subscriptions.push([DIAGNOSTICS_CHANNELS[key], onMessage]);
    }
  }
  return () => {
    for (const [name, onMessage] of subscriptions.splice(0)) {
      diagnosticsChannel.unsubscribe(name, onMessage);
    }
  };
}
