import type { Summary } from "../stats.js";

/** A number with about three significant digits, thousands separated. */
export function formatNumber(value: number): string {
  if (!Number.isFinite(value)) {
    return String(value);
  }
  const abs = Math.abs(value);
  const digits = abs >= 100 ? 0 : abs >= 10 ? 1 : abs >= 1 ? 2 : 3;
  return value.toLocaleString("en-US", { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

export function formatSpread(summary: Summary): string {
  return `±${Math.round(summary.spread * 100)}%`;
}

/** "12,345 ±3%": the median and the largest deviation of a round. */
export function formatSummary(summary: Summary | undefined): string {
  return summary === undefined ? "–" : `${formatNumber(summary.median)} ${formatSpread(summary)}`;
}

export function formatRatio(summary: Summary | undefined): string {
  return summary === undefined ? "–" : `${summary.median.toFixed(2)}× ${formatSpread(summary)}`;
}
