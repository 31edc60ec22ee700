// Turns rows of wrk results into ratios, target verdicts and text tables.
import { PEERS } from "./scenarios.js";

const ratio = (a, b) => (a?.status === "ok" && b?.status === "ok" && b.reqPerSec > 0 ? a.reqPerSec / b.reqPerSec : null);

/** Adds ratios and target verdicts to one scenario's rows. */
export function summarize(scenario, rows) {
  const by = Object.fromEntries(rows.map((r) => [r.subject, r]));
  const base = by[scenario.baseline];
  for (const row of rows) row.vsBaseline = ratio(row, base);
  const portico = by.portico;
  const porticoVsPeers = PEERS.filter((p) => by[p]).map((peer) => ({ peer, ratio: ratio(portico, by[peer]) }));
  const targets = [];
  if (portico) {
    const { baseline: minBase, peers: minPeer } = scenario.targets ?? {};
    if (minBase) targets.push(verdict(`portico / ${scenario.baseline}`, portico.vsBaseline, minBase, [portico, base]));
    if (minPeer) for (const { peer, ratio: r } of porticoVsPeers) targets.push(verdict(`portico / ${peer}`, r, minPeer, [portico, by[peer]]));
  }
  const rowTargets = { ...scenario.rowTargets, ...Object.fromEntries((scenario.variants ?? []).filter((v) => v.min).map((v) => [v.label, v.min])) };
  for (const [label, min] of Object.entries(rowTargets)) {
    if (by[label]) targets.push(verdict(`${label} / ${scenario.baseline}`, by[label].vsBaseline, min, [by[label], base]));
  }
  return { ...pick(scenario), rows, porticoVsPeers, targets };
}

function pick({ id, slug, title, path, method = "GET", baseline }) {
  return { id, slug, title, path, method, baseline };
}

// A verdict built on a run with errors or heavy outside load is kept but marked suspect.
function verdict(name, value, min, runs) {
  return { name, ratio: value, min, pass: value === null ? null : value >= min, suspect: runs.some((r) => r?.flagged || r?.noisy) };
}

const x = (r) => (r === null ? "n/a" : `${r.toFixed(2)}x`);
const ms = (v) => (v === null ? "?" : `${v.toFixed(2)} ms`);
const int = (v) => Math.round(v).toLocaleString("en-US");
export const pct = (v) => `${Math.round(v * 100)} %`;

/** The printed table for one summarized scenario. */
export function formatScenario(s, { seconds, connections }) {
  const head = ["subject", "req/s", "p50", "p99", "errors", `vs ${s.baseline}`];
  const body = [];
  const notes = [];
  for (const r of s.rows) {
    if (r.status !== "ok") {
      body.push([r.subject, `${r.status}${r.reason ? `: ${r.reason}` : ""}`]);
      continue;
    }
    body.push([r.subject, `${int(r.reqPerSec)}${r.noisy ? " ~" : ""}`, ms(r.p50Ms), ms(r.p99Ms), r.flagged ? `${r.errorCount} !` : "0", x(r.vsBaseline)]);
    if (r.flagged) notes.push(`  ! ${r.subject}: ${describeErrors(r.errors)} (numbers suspect)`);
    if (r.noisy) notes.push(`  ~ ${r.subject}: other processes used ${pct(r.othersCpu)} of the CPUs during the run (numbers noisy)`);
  }
  const lines = [`${s.id}) ${s.title}  [wrk -t1 -c${connections} -d${seconds}s]`, ...table(head, body), ...notes];
  const portico = s.rows.find((r) => r.subject === "portico");
  if (portico && portico.status !== "ok") {
    lines.push(`  portico ratios and targets: not available (${portico.status})`);
    return lines.join("\n");
  }
  for (const { peer, ratio: r } of s.porticoVsPeers) lines.push(`  portico / ${peer} = ${x(r)}`);
  if (s.targets.length) {
    const shown = s.targets.map(
      (t) => `${t.name} ${x(t.ratio)} (>= ${t.min.toFixed(2)}x) ${t.pass === null ? "n/a" : t.pass ? "PASS" : "FAIL"}${t.suspect ? " (suspect)" : ""}`,
    );
    lines.push(`  targets: ${shown.join("; ")}`);
  }
  return lines.join("\n");
}

export function describeErrors(errors) {
  return Object.entries(errors)
    .filter(([, n]) => n > 0)
    .map(([k, n]) => (k === "non2xx" ? `${n} non-2xx` : `${n} ${k} errors`))
    .join(", ");
}

// Right-aligns numbers, left-aligns the subject; a row with one message cell spans the rest.
function table(head, body) {
  const full = body.filter((r) => r.length === head.length);
  const widths = head.map((h, i) => Math.max(h.length, ...(i === 0 ? body : full).map((r) => r[i].length)));
  const fmt = (cells) =>
    cells.length === head.length
      ? `  ${cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join("  ")}`
      : `  ${cells[0].padEnd(widths[0])}  ${cells[1]}`;
  return [fmt(head), ...body.map(fmt)];
}
