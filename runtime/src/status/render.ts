import type { StatusSnapshot, TunnelStatus } from "./snapshot.js";

// The page's HTML, rendered on the server only: the browser script swaps
// in rows it receives, so every value (affinity keys and peers are chosen by
// clients) is escaped in exactly one place.

const ESCAPES: Record<string, string> = { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" };

/** Text for an HTML element or a quoted attribute. */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ESCAPES[c]!);
}

/** Longest text of a cell, in characters: keys and metadata come from clients, and a page must stay small. */
export const MAX_CELL_CHARS = 256;

/** The table bodies, counts and pager, as the page shows them and live updates send them. */
export interface RenderedRows {
  reverseRows: string;
  /** Reverse tunnels in all. */
  reverseCount: number;
  /** Affinity keys in all. */
  reverseKeys: number;
  forwardRows: string;
  /** Forward tunnels in all. */
  forwardCount: number;
  /** Where this page is among the reverse tunnels, with links to the pages before and after. */
  pager: string;
  /** Says how many forward tunnels are shown when not all are. */
  forwardNote: string;
}

/** `metadata`: show the metadata column (the operator configured what to expose). */
export function renderRows(snapshot: StatusSnapshot, metadata: boolean): RenderedRows {
  const reverseRows = snapshot.reverse
    .flatMap(({ key, keyError, tunnels }) => tunnels.map((t) => row(t, metadata, key, keyError)))
    .join("");
  const shown = snapshot.forward.length;
  return {
    reverseRows,
    reverseCount: snapshot.reverseTunnels,
    reverseKeys: snapshot.reverseKeys,
    forwardRows: snapshot.forward.map((t) => row(t, metadata)).join(""),
    forwardCount: snapshot.forwardTunnels,
    pager: renderPager(snapshot.page),
    forwardNote: shown < snapshot.forwardTunnels ? `(the first ${shown} shown)` : "",
  };
}

function renderPager(page: StatusSnapshot["page"]): string {
  const { number, count, size, filter, matchingTunnels, matchingKeys } = page;
  const first = matchingTunnels === 0 ? 0 : (number - 1) * size + 1;
  const last = Math.min(number * size, matchingTunnels);
  const link = (to: number, rel: string, text: string) => `<a rel="${rel}" href="${escapeHtml(pageHref(to, filter))}">${text}</a>`;
  const parts = [
    `<span id="page-info">${filter === "" ? "" : `keys containing “${escapeHtml(truncate(filter))}”: `}` +
      `tunnels ${first}–${last} of ${matchingTunnels} (on ${matchingKeys} keys), page ${number} of ${count}</span>`,
  ];
  if (number > 1) {
    parts.push(link(number - 1, "prev", "‹ previous"));
  }
  if (number < count) {
    parts.push(link(number + 1, "next", "next ›"));
  }
  return parts.join(" ");
}

/** The query string of a page (relative to the page, so it works under any base path). */
export function pageHref(page: number, filter: string): string {
  return `?page=${page}${filter === "" ? "" : `&key=${encodeURIComponent(filter)}`}`;
}

function row(tunnel: TunnelStatus, metadata: boolean, key?: string, keyError?: string): string {
  const cells = [
    ...(key === undefined ? [] : [cell(key === "" ? "(none)" : key, "key", keyError)]),
    cell(tunnel.peer, "peer"),
    cell(`${tunnel.role} / rev ${tunnel.protocolRevision ?? "?"}`, "revision"),
    `<td class="age" data-age="${tunnel.ageSeconds.toFixed(1)}">${escapeHtml(formatAge(tunnel.ageSeconds))}</td>`,
    cell(String(tunnel.activeCalls), "calls"),
    cell(formatBytes(tunnel.bytesSent), "sent", undefined, String(tunnel.bytesSent)),
    cell(formatBytes(tunnel.bytesReceived), "received", undefined, String(tunnel.bytesReceived)),
    ...(metadata ? [metadataCell(tunnel)] : []),
  ];
  const keyAttribute = key === undefined ? "" : ` data-key="${escapeHtml(truncate(key))}"`;
  return `<tr data-tunnel="${tunnel.id}"${keyAttribute}>${cells.join("")}</tr>`;
}

function metadataCell(tunnel: TunnelStatus): string {
  if (tunnel.metadataError !== undefined) {
    return cell(`formatter failed: ${tunnel.metadataError}`, "metadata", tunnel.metadataError);
  }
  const text = Object.entries(tunnel.metadata ?? {})
    .map(([k, v]) => `${k}=${v}`)
    .join(", ");
  return cell(text, "metadata");
}

/** A cell with its text cut to MAX_CELL_CHARS; `error` marks it (and becomes its title). */
function cell(text: string, name: string, error?: string, title = error): string {
  const classes = error === undefined ? name : `${name} error`;
  const titled = title === undefined ? "" : ` title="${escapeHtml(truncate(title))}"`;
  return `<td class="${classes}"${titled}>${escapeHtml(truncate(text))}</td>`;
}

function truncate(text: string): string {
  return text.length <= MAX_CELL_CHARS ? text : `${text.slice(0, MAX_CELL_CHARS - 1)}…`;
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
<form id="filter" method="get"><label>affinity key contains <input name="key" value="${escapeHtml(snapshot.page.filter)}" maxlength="${MAX_CELL_CHARS}"></label> <button type="submit">show</button></form>
<p id="pager">${rows.pager}</p>
<table id="reverse"><thead><tr>${head(["affinity key"], metadata)}</tr></thead><tbody>${rows.reverseRows}</tbody></table>
</section>
<section>
<h2>Forward tunnels: <span id="forward-count">${rows.forwardCount}</span> <span id="forward-note">${escapeHtml(rows.forwardNote)}</span></h2>
<table id="forward"><thead><tr>${head([], metadata)}</tr></thead><tbody>${rows.forwardRows}</tbody></table>
</section>
<footer><a href="status.json${escapeHtml(pageHref(snapshot.page.number, snapshot.page.filter))}">status.json</a></footer>
</body>
</html>
`;
}
