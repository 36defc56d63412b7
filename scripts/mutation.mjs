#!/usr/bin/env node
// Mutation testing (`npm run test:mutation`): runs StrykerJS once per folder
// group of mutation/targets.mjs, then writes each group's scores, run time
// and remaining mutants into docs/mutation-testing.md from Stryker's JSON
// report (the group's incremental file). Exits non-zero when a group scores below its break threshold.
//
//   npm run test:mutation                      # every group, incrementally
//   npm run test:mutation -- protocol engine   # some groups
//   npm run test:mutation -- --force cluster   # re-test every mutant, not just changed ones
//   npm run test:mutation -- --report-only     # rewrite the doc from the last reports
//   npm run test:mutation -- --retest-timeouts engine  # test timed-out mutants again, with more time
//
// StrykerJS 10 needs Node >= 22: on an older node this re-runs itself under
// the pinned Node 24 (scripts/with-node.mjs). Runs are niced: they take the
// machine's idle time, not the other work's.
import { spawnSync } from "node:child_process";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { TARGETS } from "../mutation/targets.mjs";

const repo = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const DOC = join(repo, "docs", "mutation-testing.md");

if (Number(process.versions.node.split(".")[0]) < 22) {
  const self = relative(repo, fileURLToPath(import.meta.url));
  const run = spawnSync(process.execPath, [join(repo, "scripts", "with-node.mjs"), "24", "node", self, ...process.argv.slice(2)], {
    cwd: repo,
    stdio: "inherit",
  });
  process.exit(run.status ?? 1);
}

const args = process.argv.slice(2);
const force = args.includes("--force");
const reportOnly = args.includes("--report-only");
const retestTimeouts = args.includes("--retest-timeouts");
const names = args.filter((arg) => !arg.startsWith("--"));
for (const name of names) {
  if (!(name in TARGETS)) {
    console.error(`test:mutation: no group "${name}" (groups: ${Object.keys(TARGETS).join(", ")})`);
    process.exit(2);
  }
}

let failed = false;
for (const name of names.length > 0 ? names : Object.keys(TARGETS)) {
  // The incremental file is Stryker's full JSON report, committed, and kept
  // by an interrupted run too (with the mutants tested until then).
  const reportFile = join(repo, "mutation", "incremental", `${name}.json`);
  if (retestTimeouts && existsSync(reportFile)) {
    console.log(`test:mutation: ${name}: ${forgetTimeouts(reportFile)} timed-out mutants to test again`);
  }
  const run = reportOnly ? { ok: true, minutes: undefined } : runStryker(name);
  if (!run.ok || !existsSync(reportFile)) {
    failed = true;
  }
  if (!existsSync(reportFile)) {
    continue;
  }
  const summary = summarize(JSON.parse(readFileSync(reportFile, "utf8")));
  failed ||= score(summary.total) < TARGETS[name].break;
  writeSection(name, renderSection(name, summary, run.minutes));
  const took = run.minutes === undefined ? "" : ` in ${run.minutes.toFixed(1)} min`;
  console.log(`test:mutation: ${name}: ${percent(summary.total)} (break ${TARGETS[name].break} %)${took}`);
}
process.exit(failed ? 1 : 0);

/** Runs StrykerJS on one group: the minutes it took, and whether it passed (a score below the break threshold fails). */
function runStryker(name) {
  const started = performance.now();
  const stryker = join(repo, "node_modules", "@stryker-mutator", "core", "bin", "stryker.js");
  const run = spawnSync(
    "nice",
    [
      "-n",
      "10",
      process.execPath,
      stryker,
      "run",
      "mutation/stryker.config.mjs",
      ...(force ? ["--force"] : []),
      // A mutant that timed out on a loaded machine may be a slow survivor, not a hang.
      ...(retestTimeouts ? ["--timeoutFactor", "6", "--timeoutMS", "30000"] : []),
    ],
    {
      cwd: repo,
      stdio: "inherit",
      env: { ...process.env, MUTATION_TARGET: name },
    },
  );
  return { ok: run.status === 0, minutes: (performance.now() - started) / 60_000 };
}

/**
 * Drops the timed-out mutants from an incremental file, so that the next run
 * tests them again (Stryker re-tests mutants it has no result for).
 */
function forgetTimeouts(reportFile) {
  const report = JSON.parse(readFileSync(reportFile, "utf8"));
  let dropped = 0;
  for (const file of Object.values(report.files)) {
    const kept = file.mutants.filter((mutant) => mutant.status !== "Timeout");
    dropped += file.mutants.length - kept.length;
    file.mutants = kept;
  }
  writeFileSync(reportFile, JSON.stringify(report, null, 2));
  return dropped;
}

/** Killed and timed-out mutants count as detected; compile errors and ignored ones are not scored. */
function emptyCounts() {
  return { killed: 0, timeout: 0, survived: 0, noCoverage: 0, ignored: 0, invalid: 0 };
}

function count(counts, status) {
  switch (status) {
    case "Killed":
      counts.killed++;
      break;
    case "Timeout":
      counts.timeout++;
      break;
    case "Survived":
      counts.survived++;
      break;
    case "NoCoverage":
      counts.noCoverage++;
      break;
    case "Ignored":
      counts.ignored++;
      break;
    default:
      counts.invalid++; // CompileError, RuntimeError
  }
}

function score(counts) {
  const scored = counts.killed + counts.timeout + counts.survived + counts.noCoverage;
  return scored === 0 ? 100 : (100 * (counts.killed + counts.timeout)) / scored;
}

function percent(counts) {
  return `${score(counts).toFixed(1)} %`;
}

/** Counts per folder and in all, and the mutants not detected (survivors) or ignored (with the reason). */
function summarize(report) {
  const folders = new Map();
  const total = emptyCounts();
  const undetected = [];
  const ignored = [];
  for (const [path, file] of Object.entries(report.files)) {
    const folder = dirname(path).replace(/^runtime\/src\//, "");
    if (!folders.has(folder)) {
      folders.set(folder, emptyCounts());
    }
    for (const mutant of file.mutants) {
      count(folders.get(folder), mutant.status);
      count(total, mutant.status);
      const where = `${path.replace(/^runtime\/src\//, "")}:${mutant.location.start.line}`;
      const what = `${mutant.mutatorName}${mutant.replacement === undefined ? "" : ` → \`${oneLine(mutant.replacement)}\``}`;
      if (mutant.status === "Survived" || mutant.status === "NoCoverage") {
        undetected.push(`| ${where} | ${what} | ${mutant.status} |`);
      } else if (mutant.status === "Ignored") {
        ignored.push(`| ${where} | ${mutant.mutatorName} | ${oneLine(mutant.statusReason ?? "")} |`);
      }
    }
  }
  const byPlace = (a, b) => a.localeCompare(b, "en", { numeric: true });
  return {
    folders: [...folders].sort(([a], [b]) => a.localeCompare(b)),
    total,
    undetected: undetected.sort(byPlace),
    ignored: ignored.sort(byPlace),
  };
}

function oneLine(text) {
  const flat = text.replace(/\s+/g, " ").replaceAll("|", "\\|");
  return flat.length > 60 ? `${flat.slice(0, 57)}...` : flat;
}

function renderSection(name, { folders, total, undetected, ignored }, minutes) {
  const row = (label, c) =>
    `| ${label} | ${c.killed + c.timeout + c.survived + c.noCoverage} | ${c.killed} | ${c.timeout} | ${c.survived} | ${c.noCoverage} | ${c.ignored} | ${percent(c)} |`;
  const lines = [
    `### ${name}`,
    "",
    `Break threshold ${TARGETS[name].break} %.${minutes === undefined ? "" : ` Last run ${new Date().toISOString().slice(0, 10)}: ${minutes.toFixed(1)} min on this machine.`}`,
    "",
    "| folder | scored | killed | timeout | survived | no coverage | ignored | score |",
    "|---|---:|---:|---:|---:|---:|---:|---:|",
    ...folders.map(([folder, c]) => row(`\`${folder}\``, c)),
    row("**all**", total),
    "",
  ];
  if (undetected.length > 0) {
    lines.push("Not detected:", "", "| where | mutant | status |", "|---|---|---|", ...undetected, "");
  }
  if (ignored.length > 0) {
    lines.push("Ignored as equivalent (the reason is in the source):", "", "| where | mutator | reason |", "|---|---|---|", ...ignored, "");
  }
  return lines.join("\n");
}

/** Replaces the group's section of the doc (between its markers), or appends it. */
function writeSection(name, body) {
  const start = `<!-- mutation:${name}:start -->`;
  const end = `<!-- mutation:${name}:end -->`;
  const doc = readFileSync(DOC, "utf8");
  const section = `${start}\n${body}\n${end}`;
  const from = doc.indexOf(start);
  const to = doc.indexOf(end);
  const next = from >= 0 && to > from ? doc.slice(0, from) + section + doc.slice(to + end.length) : `${doc.trimEnd()}\n\n${section}\n`;
  writeFileSync(DOC, next);
}
