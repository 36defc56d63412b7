import { CliError, EXIT } from "./errors.js";

/** The admin endpoints of one replica (fleetAdmin), over HTTP. */
export class AdminClient {
  constructor(
    readonly base: string,
    private readonly token: string | undefined,
    private readonly timeoutMs: number,
  ) {}

  /** GETs a JSON document. */
  async get<T>(path: string, query: Record<string, string | undefined> = {}): Promise<T> {
    return (await this.send("GET", path, query)) as T;
  }

  /** POSTs (no body) and returns the JSON answer. */
  async post<T>(path: string): Promise<T> {
    return (await this.send("POST", path, {})) as T;
  }

  /** Reads the Server-Sent Events of `path`, calling `onEvent` with each event's JSON, until the stream ends or `signal` aborts. */
  async events(
    path: string,
    onEvent: (event: unknown) => boolean | undefined,
    signal: AbortSignal,
    onOpen: () => void = () => {},
  ): Promise<void> {
    const response = await this.fetch("GET", path, {}, signal);
    await this.check(response);
    onOpen();
    const reader = response.body!.pipeThrough(new TextDecoderStream()).getReader();
    let buffer = "";
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) {
          return;
        }
        buffer += value;
        for (let end = buffer.indexOf("\n\n"); end >= 0; end = buffer.indexOf("\n\n")) {
          const block = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          const data = block
            .split("\n")
            .filter((line) => line.startsWith("data: "))
            .map((line) => line.slice(6))
            .join("\n");
          if (data !== "" && onEvent(JSON.parse(data)) === false) {
            return;
          }
        }
      }
    } catch (e) {
      if (signal.aborted) {
        return;
      }
      throw this.unreachable(e);
    } finally {
      void reader.cancel().catch(() => {});
    }
  }

  private async send(method: string, path: string, query: Record<string, string | undefined>): Promise<unknown> {
    const response = await this.fetch(method, path, query, AbortSignal.timeout(this.timeoutMs));
    await this.check(response);
    return response.json();
  }

  private async fetch(method: string, path: string, query: Record<string, string | undefined>, signal: AbortSignal): Promise<Response> {
    const url = new URL(path, this.base);
    for (const [name, value] of Object.entries(query)) {
      if (value !== undefined) {
        url.searchParams.set(name, value);
      }
    }
    const headers: Record<string, string> = { Accept: "application/json" };
    if (this.token !== undefined) {
      headers.Authorization = `Bearer ${this.token}`;
    }
    try {
      return await fetch(url, { method, headers, signal });
    } catch (e) {
      throw this.unreachable(e);
    }
  }

  /** Turns an error answer into a CliError with its exit code. */
  private async check(response: Response): Promise<void> {
    if (response.ok) {
      return;
    }
    const text = await response.text().catch(() => "");
    let message = text.trim();
    try {
      message = String((JSON.parse(text) as { error?: unknown }).error ?? message);
    } catch {
      // not JSON: the text as it is
    }
    const code = response.status === 401 || response.status === 403 ? EXIT.unauthorized : EXIT.failed;
    throw new CliError(`${this.base} answered ${response.status}: ${message}`, code);
  }

  private unreachable(e: unknown): CliError {
    const error = e as Error & { cause?: { code?: string; message?: string } };
    const why =
      error.name === "TimeoutError"
        ? `no answer within ${this.timeoutMs} ms`
        : (error.cause?.code ?? error.cause?.message ?? error.message);
    return new CliError(`cannot reach ${this.base}: ${why}`, EXIT.unreachable);
  }
}
