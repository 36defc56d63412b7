import { openTunnel, type TunnelChannel } from "@protoc-gen-tunnel/runtime";
import { NotebookServiceTunnelClient } from "../gen/session/v1/session_tunnel.js";
import { dialTunnelService } from "../shared/grpc.js";
import { startBackend } from "./backend.js";

/** One session as the demo observed it, for tests. */
export interface SessionResult {
  session: string;
  /** The backend that served each Append, in order. */
  appendedOn: string[];
  /** The notebook replayed at the end of the session. */
  replay: { text: string; backend: string }[];
}

const sessions: Record<string, string[]> = {
  alice: ["buy milk", "call the plumber", "renew passport", "book the dentist"],
  bob: ["fix the bike", "water the plants", "pay rent"],
  carol: ["draft the talk", "review PR 42", "send invoices", "plan the trip", "back up photos"],
};

/**
 * Three backend replicas behind one client-side round-robin balancer. Plain
 * RPCs would be spread over all three; each session instead opens a forward
 * tunnel (one long-lived RPC, so one backend) and makes all its calls over
 * it with the generated NotebookServiceTunnelClient: the chatty session
 * stays on the backend holding its state.
 */
export async function runForwardDemo(log: (line: string) => void = console.log): Promise<SessionResult[]> {
  log("Forward tunnels: each session's calls share one tunnel, so one backend, behind a round-robin balancer.");
  const backends = await Promise.all(["backend-1", "backend-2", "backend-3"].map(startBackend));
  const target = `ipv4:${backends.map((b) => b.server.address).join(",")}`;
  log(`backends: ${backends.map((b) => `${b.name} on ${b.server.address}`).join(", ")}`);
  const client = dialTunnelService(target, {
    "grpc.service_config": JSON.stringify({ loadBalancingConfig: [{ round_robin: {} }] }),
  });
  const tunnels: TunnelChannel[] = [];
  try {
    // One tunnel per session, opened one after another: each is a new RPC,
    // so the balancer places each on the next ready backend.
    for (const session of Object.keys(sessions)) {
      tunnels.push(await openTunnel(client, { metadata: { "session-id": session } }));
    }
    // The sessions then run concurrently, interleaving their calls.
    return await Promise.all(Object.entries(sessions).map(([session, lines], i) => runSession(session, lines, tunnels[i], log)));
  } finally {
    for (const tunnel of tunnels) {
      tunnel.close();
    }
    client.close();
    await Promise.all(backends.map((b) => b.server.shutdown()));
    log("backends stopped");
  }
}

/** A chatty session: every call over the one tunnel, so on one backend. */
async function runSession(session: string, lines: string[], tunnel: TunnelChannel, log: (line: string) => void): Promise<SessionResult> {
  const notebook = new NotebookServiceTunnelClient(tunnel);
  const appendedOn: string[] = [];
  for (const text of lines) {
    appendedOn.push((await notebook.append({ text })).backend);
  }
  const replay: SessionResult["replay"] = [];
  for await (const line of notebook.replay({})) {
    replay.push({ text: line.text, backend: line.backend });
  }
  const servedBy = [...new Set(appendedOn)].join(", ");
  log(`session ${session}: ${lines.length} appends, all served by ${servedBy}; replay has ${replay.length} of ${lines.length} lines`);
  return { session, appendedOn, replay };
}
