/** Records the runtime's diagnostics events for one test, filtered to the tunnels it cares about. */
import { subscribeDiagnostics, type TunnelInfo } from "../../src/index.js";
import type { CallEndEvent, CallStartEvent, TunnelCloseEvent, TunnelOpenEvent } from "../../src/protocol.js";
import { EventLog } from "./events.js";
import type { Cleanup } from "./servers.js";

export type Recorded =
  | { kind: "tunnel:open"; event: TunnelOpenEvent; tunnel: TunnelInfo }
  | { kind: "tunnel:close"; event: TunnelCloseEvent; tunnel: TunnelInfo }
  | { kind: "call:start"; event: CallStartEvent; tunnel: TunnelInfo }
  | { kind: "call:end"; event: CallEndEvent; tunnel: TunnelInfo };

/** The events of tunnels `accept`ed (e.g. by a marker in their tunnel metadata), in order; unsubscribed by `cleanup`. */
export function recordDiagnostics(cleanup: Cleanup, accept: (tunnel: TunnelInfo) => boolean): EventLog<Recorded> {
  const log = new EventLog<Recorded>();
  const push = (item: Recorded) => {
    if (accept(item.tunnel)) {
      log.push(item);
    }
  };
  const unsubscribe = subscribeDiagnostics({
    tunnelOpen: (event) => push({ kind: "tunnel:open", event, tunnel: event.tunnel }),
    tunnelClose: (event) => push({ kind: "tunnel:close", event, tunnel: event.tunnel }),
    callStart: (event) => push({ kind: "call:start", event, tunnel: event.call.tunnel }),
    callEnd: (event) => push({ kind: "call:end", event, tunnel: event.call.tunnel }),
  });
  cleanup.add(unsubscribe);
  return log;
}

/** A tunnel filter: tunnels whose tunnel metadata has `key: value`. */
export function taggedWith(key: string, value: string): (tunnel: TunnelInfo) => boolean {
  return (tunnel) => tunnel.metadata.get(key).includes(value);
}

/** One line per event, e.g. "server call:end /pkg.S/M OK", for asserting order. */
export function outline(item: Recorded): string {
  switch (item.kind) {
    case "tunnel:open":
      return `${item.tunnel.role} tunnel:open ${item.tunnel.direction}`;
    case "tunnel:close":
      return `${item.tunnel.role} tunnel:close ${item.event.reason}`;
    case "call:start":
      return `${item.tunnel.role} call:start ${item.event.call.method}`;
    case "call:end":
      return `${item.tunnel.role} call:end ${item.event.call.method} ${item.event.code}`;
  }
}
