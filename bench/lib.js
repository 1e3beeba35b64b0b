'use strict';
// lib.js — what every benchmark script shares (bench/README.md is the contract):
// the size preset, the reference programs' directory, percentiles, and the one JSON line.

const path = require('node:path');
const fs = require('node:fs');

const ROOT = path.resolve(__dirname, '..');
const SIZE = ['smoke', 'quick', 'full'].includes(process.env.BENCH_SIZE) ? process.env.BENCH_SIZE : 'full';

/** The figure for this size preset: pick({smoke: 50, quick: 500, full: 5000}), an env override first. */
function pick(sizes, envName) {
  if (envName && process.env[envName]) return Number(process.env[envName]);
  return sizes[SIZE] !== undefined ? sizes[SIZE] : sizes.full;
}

/** The path of a reference program built by `make bench-refs` (bench/NAME.c). */
function ref(name) {
  const dir = process.env.BENCH_REFS || path.join(ROOT, 'build', 'bench');
  const p = path.join(dir, name);
  if (!fs.existsSync(p)) throw new Error(`${p} is missing: run \`make bench-refs\``);
  return p;
}

/** {p50, p90, p99, max} in ms of an array of ms, rounded to 0.01. */
function percentiles(ms) {
  if (!ms.length) return { p50: null, p90: null, p99: null, max: null };
  const s = Float64Array.from(ms).sort();
  const at = (q) => s[Math.min(s.length - 1, Math.floor(q * s.length))];
  const r = (x) => Math.round(x * 100) / 100;
  return { p50: r(at(0.5)), p90: r(at(0.9)), p99: r(at(0.99)), max: r(s[s.length - 1]) };
}

/** value / reference to two decimals (three below 0.1, so a small ratio is not printed as 0). */
function ratio(value, reference) {
  if (!(reference > 0)) return null;
  const r = value / reference;
  return r < 0.1 ? Math.round(r * 1000) / 1000 : Math.round(r * 100) / 100;
}

/** Prints the bench's one JSON line (stdout); everything else belongs on stderr. */
function emit(result) {
  process.stdout.write(`${JSON.stringify({ size: SIZE, ...result })}\n`);
}

/** Runs main(); a failure to measure prints the error and exits 1. */
function run(main) {
  main().then(() => process.exit(0), (e) => { console.error(e && e.stack ? e.stack : e); process.exit(1); });
}

module.exports = { ROOT, SIZE, pick, ref, percentiles, ratio, emit, run };
