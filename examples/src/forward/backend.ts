import { TunnelError, Code, TunnelServiceHandler } from "@protoc-gen-tunnel/runtime";
import { registerNotebookService, type NotebookServiceImpl } from "../gen/session/v1/session_tunnel.js";
import { listen, type RunningServer } from "../shared/grpc.js";

/**
 * NotebookService keeping each session's notebook in this backend's memory,
 * keyed by the `session-id` the client put on its tunnel. Another backend
 * knows nothing of it: that is why a session must stay on one backend.
 */
export function notebookService(backend: string): NotebookServiceImpl {
  const notebooks = new Map<string, string[]>();
  const notebookOf = (tunnelSession: string | undefined) => {
    if (tunnelSession === undefined) {
      throw new TunnelError(Code.FAILED_PRECONDITION, "open the tunnel with session-id metadata");
    }
    let notebook = notebooks.get(tunnelSession);
    if (notebook === undefined) {
      notebook = [];
      notebooks.set(tunnelSession, notebook);
    }
    return notebook;
  };
  const sessionOf = (metadata: { get(key: string): unknown[] }) => {
    const id = metadata.get("session-id")[0];
    return typeof id === "string" ? id : undefined;
  };
  return {
    append(request, context) {
      const notebook = notebookOf(sessionOf(context.tunnelMetadata));
      notebook.push(request.text);
      return { lines: notebook.length, backend };
    },
    async *replay(_request, context) {
      const notebook = notebookOf(sessionOf(context.tunnelMetadata));
      for (const [i, text] of notebook.entries()) {
        yield { number: i + 1, text, backend };
      }
    },
  };
}

export interface Backend {
  name: string;
  server: RunningServer;
}

/** One backend replica: a gRPC server hosting the tunnel service. */
export async function startBackend(name: string): Promise<Backend> {
  const handler = new TunnelServiceHandler();
  registerNotebookService(handler, notebookService(name));
  const server = await listen((s) => s.addService(...handler.service()));
  return { name, server };
}
