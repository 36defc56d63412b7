import type { StatusSnapshot, TunnelStatus } from "./snapshot.js";

// The page's HTML, rendered on the server only: the browser script swaps
// in rows it receives, so every value (affinity keys and peers are chosen by
// clients) is escaped in exactly one place.

const ESCAPES: Record<string, string> = { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" };

/** Text for an HTML element or a quoted attribute. */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ESCAPES[c]!);
}

/** The table bodies and counts, as the page shows them and live updates send them. */
export interface RenderedRows {
  reverseRows: string;
  reverseCount: number;
  reverseKeys: number;
  forwardRows: string;
  forwardCount: number;
}

/** `metadata`: show the metadata column (the operator configured what to expose). */
export function renderRows(snapshot: StatusSnapshot, metadata: boolean): RenderedRows {
  const reverseRows = snapshot.reverse.flatMap(({ key, tunnels }) => tunnels.map((t) => row(t, key, metadata))).join("");
  return {
    reverseRows,
    reverseCount: snapshot.reverse.reduce((n, g) => n + g.tunnels.length, 0),
    reverseKeys: snapshot.reverse.length,
    forwardRows: snapshot.forward.map((t) => row(t, undefined, metadata)).join(""),
    forwardCount: snapshot.forward.length,
  };
}

function row(tunnel: TunnelStatus, key: string | undefined, metadata: boolean): string {
  const cells = [
    ...(key === undefined ? [] : [cell(key === "" ? "(none)" : key, "key")]),
    cell(tunnel.peer, "peer"),
    cell(`${tunnel.role} / rev ${tunnel.protocolRevision ?? "?"}`, "revision"),
    `<td class="age" data-age="${tunnel.ageSeconds.toFixed(1)}">${escapeHtml(formatAge(tunnel.ageSeconds))}</td>`,
    cell(String(tunnel.activeCalls), "calls"),
    cell(formatBytes(tunnel.bytesSent), "sent", String(tunnel.bytesSent)),
    cell(formatBytes(tunnel.bytesReceived), "received", String(tunnel.bytesReceived)),
    ...(metadata
      ? [
          cell(
            Object.entries(tunnel.metadata ?? {})
              .map(([k, v]) => `${k}=${v}`)
              .join(", "),
            "metadata",
          ),
        ]
      : []),
  ];
  const keyAttribute = key === undefined ? "" : ` data-key="${escapeHtml(key)}"`;
  return `<tr data-tunnel="${tunnel.id}"${keyAttribute}>${cells.join("")}</tr>`;
}

function cell(text: string, name: string, title?: string): string {
  return `<td class="${name}"${title === undefined ? "" : ` title="${escapeHtml(title)}"`}>${escapeHtml(text)}</td>`;
}

export function formatBytes(bytes: number): string {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return unit === 0 ? `${value} B` : `${value.toFixed(1)} ${units[unit]}`;
}

export function formatAge(seconds: number): string {
  const s = Math.floor(seconds);
  if (s < 60) {
    return `${s} s`;
  }
  if (s < 3600) {
    return `${Math.floor(s / 60)} min ${s % 60} s`;
  }
  return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`;
}

const HEADINGS = ["peer", "role / revision", "age", "active calls", "sent", "received"];

function head(first: string[], metadata: boolean): string {
  return [...first, ...HEADINGS, ...(metadata ? ["metadata"] : [])].map((h) => `<th>${escapeHtml(h)}</th>`).join("");
}

/** The whole page, with the rows of `snapshot`; `status.js` keeps it live. */
export function renderPage(snapshot: StatusSnapshot, title: string, metadata: boolean): string {
  const rows = renderRows(snapshot, metadata);
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(title)}</title>
<link rel="stylesheet" href="status.css">
<script src="status.js" defer></script>
</head>
<body>
<header><h1>${escapeHtml(title)}</h1><p id="state" data-state="static">snapshot of ${escapeHtml(snapshot.generatedAt)}</p></header>
<section>
<h2>Reverse tunnels: <span id="reverse-count">${rows.reverseCount}</span> on <span id="reverse-keys">${rows.reverseKeys}</span> keys</h2>
<table id="reverse"><thead><tr>${head(["affinity key"], metadata)}</tr></thead><tbody>${rows.reverseRows}</tbody></table>
</section>
<section>
<h2>Forward tunnels: <span id="forward-count">${rows.forwardCount}</span></h2>
<table id="forward"><thead><tr>${head([], metadata)}</tr></thead><tbody>${rows.forwardRows}</tbody></table>
</section>
<footer><a href="status.json">status.json</a></footer>
</body>
</html>
`;
}
