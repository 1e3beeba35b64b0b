'use strict';
// run.js — `make bench` / `make bench-quick` / the smoke run of `make test` (bench/README.md).
//
// Runs each benchmark script (one JSON line each, the contract in bench/README.md) for
// several rounds, back to back, judges the median round of each against its target, and
// prints one table: name, Switchboard figure, reference figure, ratio, target, spread of the
// judged figure over the rounds (min–max), verdict. Writes every round to
// var/bench/results.json (with a description of the machine) and the latencies to
// var/bench/latency.svg. Exits 1 when a bench could not run or a target was missed (not in
// --smoke, which proves only that every bench still runs).
//
// Usage: node bench/run.js [--quick | --smoke] [--rounds N] [--only "a b"] [--out DIR]
// Environment: BENCH_ONLY, BENCH_RUNS (rounds; 3, quick 1, smoke 1).
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { spawnSync, execFileSync } = require('node:child_process');

const ROOT = path.resolve(__dirname, '..');

// name, script, in the quick subset, extra environment per size (scripts with their own knobs)
const BENCHES = [
  { name: 'sms_ingest', script: 'sms_ingest.js', quick: true },
  { name: 'http_read', script: 'http_read.js', quick: true },
  { name: 'sms_send', script: 'sms_send.js', quick: true },
  { name: 'campaign_send', script: 'campaign_send.js', quick: true },
  { name: 'queue_claim', script: 'queue_claim.js', quick: true },
  { name: 'ws_chat', script: 'ws_chat.js', quick: true },
  { name: 'ws_memory', script: 'ws_memory.js', quick: true },
  { name: 'kb_search', script: 'kb_search.js', quick: false },
  { name: 'routing', script: 'route.js', quick: true },
  { name: 'segment_materialise', script: 'materialise.js', quick: false },
  { name: 'email_ingest', script: 'ingest_imap.js', quick: false },
  { name: 'customer_import', script: 'customer_import.js', quick: false },
  {
    name: 'reports', script: 'reports.js', quick: false, env: {
      smoke: { BENCH_REPORT_CUSTOMERS: 200, BENCH_REPORT_TICKETS: 300, BENCH_REPORT_MESSAGES: 600, BENCH_REPORT_DEALS: 50,
        BENCH_REPORT_ACTIVITIES: 100, BENCH_REPORT_CAMPAIGNS: 1, BENCH_REPORT_RECIPIENTS: 200, BENCH_REPORT_AGENTS: 8,
        BENCH_REPORT_HISTORY: 2, BENCH_REPORT_REQUESTS: 1, BENCH_REPORT_DATASET_RUNS: 0 },
    },
  },
  {
    name: 'objects', script: 'objects.js', quick: false, env: {
      smoke: { BENCH_OBJ_RECORDS: 500, BENCH_OBJ_CUSTOMERS: 50, BENCH_OBJ_REQUESTS: 1 },
    },
  },
];

function args() {
  const a = process.argv.slice(2);
  const o = { size: 'full', rounds: null, only: process.env.BENCH_ONLY || '', out: path.join(ROOT, 'var', 'bench') };
  for (let i = 0; i < a.length; i++) {
    if (a[i] === '--quick') o.size = 'quick';
    else if (a[i] === '--smoke') o.size = 'smoke';
    else if (a[i] === '--rounds') o.rounds = Number(a[++i]);
    else if (a[i] === '--only') o.only = a[++i];
    else if (a[i] === '--out') o.out = path.resolve(a[++i]);
    else throw new Error(`bench: unknown argument ${a[i]}`);
  }
  if (!o.rounds) o.rounds = Number(process.env.BENCH_RUNS) || (o.size === 'full' ? 3 : 1);
  return o;
}

/** The judged figure of one result line. */
function judged(r) {
  return r.judge === 'ratio' ? r.ratio : r.value;
}

/** Fills the contract's fields from the older output of reports.js and objects.js. */
function normalise(r) {
  if (r.value !== undefined) return r;
  if (r.median_ms !== undefined) return { ...r, unit: 'ms', value: r.median_ms, judge: 'value' };
  if (r.ratio !== undefined) return { ...r, unit: 'x', value: r.ratio, judge: 'ratio' };
  throw new Error(`${r.bench}: no figure in ${JSON.stringify(r).slice(0, 200)}`);
}

function ok(value, target, lowerIsBetter) {
  return value !== null && value !== undefined && (lowerIsBetter ? value <= target : value >= target);
}

function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

function runOne(b, size, timeoutMs = 15 * 60 * 1000) {
  const env = { ...process.env, BENCH_SIZE: size };
  for (const [k, v] of Object.entries((b.env && b.env[size]) || {})) env[k] = String(v);
  const t0 = Date.now();
  const r = spawnSync(process.execPath, [path.join(__dirname, b.script)], {
    cwd: ROOT, env, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: timeoutMs, maxBuffer: 64 << 20,
  });
  const secs = (Date.now() - t0) / 1000;
  const lines = (r.stdout || '').trim().split('\n').filter((l) => l.startsWith('{'));
  if (r.status !== 0 || !lines.length) {
    const why = r.error ? r.error.message : `exit ${r.status}${r.signal ? ` (${r.signal})` : ''}`;
    return { error: `${b.name}: ${why}\n${(r.stderr || '').slice(-3000)}`, secs };
  }
  try {
    return { result: normalise(JSON.parse(lines[lines.length - 1])), secs };
  } catch (e) {
    return { error: `${b.name}: ${e.message}`, secs };
  }
}

/** The summary row of a bench: the median round, the spread, the verdicts. */
function summarise(name, rounds) {
  const vals = rounds.map(judged);
  const m = median(vals);
  const r = rounds[vals.indexOf(m)];
  const rows = [{
    name, unit: r.unit, value: r.value, reference: r.reference, ref_name: r.ref_name, ratio: r.ratio, judge: r.judge,
    target: r.target, lower_is_better: !!r.lower_is_better, min: Math.min(...vals), max: Math.max(...vals),
    ok: ok(m, r.target, r.lower_is_better),
  }];
  for (const [i, a] of (r.also || []).entries()) {
    const avs = rounds.map((x) => (x.also && x.also[i] ? x.also[i].value : null)).filter((v) => v !== null);
    const am = median(avs);
    rows.push({
      name: a.name, unit: a.unit, value: am, judge: 'value', target: a.target, lower_is_better: !!a.lower_is_better,
      min: Math.min(...avs), max: Math.max(...avs), ok: ok(am, a.target, a.lower_is_better),
    });
  }
  return rows;
}

function fmt(x) {
  if (x === null || x === undefined) return '—';
  if (typeof x !== 'number') return String(x);
  if (Math.abs(x) >= 1000) return Math.round(x).toLocaleString('en-US');
  if (x !== 0 && Math.abs(x) < 0.1) return String(Number(x.toPrecision(2)));
  return String(Math.round(x * 100) / 100);
}

function table(rows, smoke) {
  const head = ['bench', 'switchboard', 'reference', 'ratio', 'target', 'spread (judged)', 'verdict'];
  const body = rows.map((r) => [
    r.name,
    `${fmt(r.value)} ${r.unit || ''}`.trim(),
    r.reference !== undefined && r.reference !== null ? `${fmt(r.reference)} ${r.unit || ''}`.trim() : '—',
    r.ratio !== undefined && r.ratio !== null ? fmt(r.ratio) : '—',
    `${r.judge === 'ratio' ? 'ratio ' : ''}${r.lower_is_better ? '≤' : '≥'} ${fmt(r.target)}${r.judge === 'ratio' ? '' : ` ${r.unit || ''}`}`.trim(),
    r.min === r.max ? fmt(r.min) : `${fmt(r.min)}–${fmt(r.max)}`,
    r.error ? 'ERROR' : smoke ? 'ran' : r.ok ? 'ok' : 'MISSED',
  ]);
  const w = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i].length)));
  const line = (cells) => cells.map((c, i) => c.padEnd(w[i])).join('  ');
  return [line(head), line(w.map((n) => '-'.repeat(n))), ...body.map(line)].join('\n');
}

function machine() {
  const cpus = os.cpus();
  let mariadb = '';
  try { mariadb = execFileSync('mariadbd', ['--version'], { encoding: 'utf8' }).trim(); } catch { /* not on PATH */ }
  if (!mariadb) try { mariadb = execFileSync('/usr/sbin/mariadbd', ['--version'], { encoding: 'utf8' }).trim(); } catch { /* absent */ }
  return {
    host: os.hostname(), cpus: cpus.length, cpu_model: cpus[0] ? cpus[0].model : '', mem_gib: Math.round(os.totalmem() / 2 ** 30),
    kernel: `${os.type()} ${os.release()}`, node: process.version, mariadb,
  };
}

/** A horizontal bar chart of p50/p90/p99 per bench, Switchboard and reference, on a log axis. */
function latencySvg(results) {
  const series = [];
  for (const [name, rounds] of Object.entries(results)) {
    const r = rounds.length ? rounds[Math.floor(rounds.length / 2)] : null;
    if (!r || !r.latency_ms) continue;
    for (const who of ['switchboard', 'reference']) {
      const l = r.latency_ms[who];
      if (l && l.p50 > 0) series.push({ label: `${name} · ${who === 'switchboard' ? 'Switchboard' : 'reference'}`, ref: r.ref_name, l, who });
    }
  }
  const refs = [...new Set(series.filter((x) => x.who === 'reference' && x.ref).map((x) => `${x.label.split(' · ')[0]}: ${x.ref}`))];
  const W = 960, left = 230, rowH = 34, top = 50, plotW = W - left - 190;
  const H = top + Math.max(1, series.length) * rowH + 50 + refs.length * 18;
  const worst = Math.max(1, ...series.map((x) => x.l.p99 || x.l.p50));
  const lo = 0.01, hi = Math.max(1000, 10 ** Math.ceil(Math.log10(worst)));
  const x = (ms) => left + (Math.log10(Math.min(hi, Math.max(lo, ms))) - Math.log10(lo)) / (Math.log10(hi) - Math.log10(lo)) * plotW;
  const esc = (t) => String(t).replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
  const out = [`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" font-family="sans-serif" font-size="12">`,
    `<rect width="${W}" height="${H}" fill="#fff"/>`,
    `<text x="${W / 2}" y="22" text-anchor="middle" font-size="15" font-weight="bold">Latency (ms, log scale): p50 ▮ p90 ▮ p99 — median round</text>`];
  const axisY = top + series.length * rowH + 10;
  for (let t = lo; t <= hi; t *= 10) {
    const tick = Number(t.toPrecision(1));
    out.push(`<line x1="${x(tick)}" y1="${top - 8}" x2="${x(tick)}" y2="${axisY}" stroke="#ddd"/>`,
      `<text x="${x(tick)}" y="${axisY + 15}" text-anchor="middle" fill="#555">${tick}</text>`);
  }
  refs.forEach((t, i) => out.push(`<text x="20" y="${axisY + 40 + i * 18}" fill="#555">reference of ${esc(t)}</text>`));
  series.forEach((s, i) => {
    const y = top + i * rowH;
    const colour = s.who === 'switchboard' ? ['#1d4ed8', '#60a5fa', '#bfdbfe'] : ['#6b7280', '#9ca3af', '#d1d5db'];
    out.push(`<text x="${left - 8}" y="${y + 17}" text-anchor="end">${esc(s.label)}</text>`);
    [['p99', 2], ['p90', 1], ['p50', 0]].forEach(([k, c]) => {
      if (s.l[k] > 0) out.push(`<rect x="${left}" y="${y + 4}" width="${Math.max(1, x(s.l[k]) - left)}" height="20" fill="${colour[c]}"><title>${k} ${s.l[k]} ms</title></rect>`);
    });
    if (s.l.p99 > 0) out.push(`<text x="${x(s.l.p99) + 4}" y="${y + 18}" fill="#111">${s.l.p50} / ${s.l.p90 ?? '—'} / ${s.l.p99}</text>`);
  });
  out.push('</svg>');
  return out.join('\n');
}

function main() {
  const o = args();
  const only = o.only.split(/\s+/).filter(Boolean);
  for (const n of only) if (!BENCHES.some((b) => b.name === n)) throw new Error(`bench: unknown bench ${n}`);
  const chosen = BENCHES.filter((b) => (only.length ? only.includes(b.name) : o.size !== 'quick' || b.quick));
  const results = {}, errors = [], timing = {};
  const started = new Date().toISOString();
  for (const b of chosen) {
    results[b.name] = [];
    for (let i = 0; i < o.rounds; i++) {
      const { result, error, secs } = runOne(b, o.size);
      timing[b.name] = (timing[b.name] || 0) + secs;
      if (error) { errors.push(error); process.stderr.write(`bench: ${error}\n`); break; }
      results[b.name].push(result);
      process.stderr.write(`${JSON.stringify(result)}\n`);
    }
  }
  const rows = [];
  for (const b of chosen) {
    if (results[b.name].length && !errors.some((e) => e.startsWith(`${b.name}:`))) {
      rows.push(...summarise(b.name, results[b.name]));
    } else {
      rows.push({ name: b.name, error: true, min: null, max: null });
    }
  }
  fs.mkdirSync(o.out, { recursive: true });
  const doc = { started, finished: new Date().toISOString(), size: o.size, rounds: o.rounds, machine: machine(), summary: rows,
    seconds: timing, errors, results };
  fs.writeFileSync(path.join(o.out, 'results.json'), `${JSON.stringify(doc, null, 1)}\n`);
  fs.writeFileSync(path.join(o.out, 'latency.svg'), latencySvg(results));
  console.log(table(rows, o.size === 'smoke'));
  console.log(`\n${o.size} run, ${o.rounds} round(s) each; every round in ${path.relative(ROOT, path.join(o.out, 'results.json'))}, ` +
    `latencies in ${path.relative(ROOT, path.join(o.out, 'latency.svg'))}`);
  const missed = rows.filter((r) => !r.error && !r.ok);
  if (errors.length) return 1;
  if (o.size !== 'smoke' && missed.length) return 1;
  return 0;
}

if (require.main === module) {
  try {
    process.exitCode = main();
  } catch (e) {
    console.error(e.message);
    process.exitCode = 2;
  }
}

module.exports = { BENCHES, runOne, summarise, table, latencySvg };
