'use strict';
// bench_smoke.test.js — every benchmark of `make bench` runs once at its tiny size
// (BENCH_SIZE=smoke), so none can rot between the times someone runs the real thing.
// Checks the contract of bench/README.md (one JSON line with its figures, the reference and
// the ratio agreeing), and that the runner's table and latency chart come out of the lines;
// never how fast anything is (no timed assertions: this machine is shared and noisy).
const test = require('node:test');
const assert = require('node:assert');
const fs = require('node:fs');
const path = require('node:path');
const { ROOT } = require('./harness');
const { BENCHES, runOne, summarise, table, latencySvg } = require('../../bench/run');

const results = {};

for (const b of BENCHES) {
  test(`bench ${b.name} runs at the smoke size and reports its figures`, { timeout: 240000 }, () => {
    const { result: r, error } = runOne(b, 'smoke', 220000);
    assert.ifError(error);
    assert.strictEqual(r.bench, b.name);
    assert.ok(typeof r.unit === 'string' && r.unit, 'a unit');
    assert.ok(Number.isFinite(r.value) && r.value >= 0, `a figure: ${r.value}`);
    assert.ok(['ratio', 'value'].includes(r.judge), `judge ${r.judge}`);
    assert.ok(Number.isFinite(r.target) && r.target > 0, 'a target');
    if (r.reference !== undefined && r.unit !== 'x') {
      assert.ok(r.reference > 0, `a reference figure: ${r.reference}`);
      const expected = r.value / r.reference;
      // value and reference are rounded to whole units before they are printed
      assert.ok(Math.abs(r.ratio - expected) <= 0.01 + expected * 0.05, `ratio ${r.ratio} is value/reference ${expected}`);
    }
    if (r.judge === 'ratio') assert.ok(Number.isFinite(r.ratio), 'a ratio to judge');
    for (const a of r.also || []) assert.ok(Number.isFinite(a.value) && a.name && a.unit, `also: ${JSON.stringify(a)}`);
    results[b.name] = [r];
  });
}

test('the runner tabulates the rounds and charts the latencies', () => {
  const names = Object.keys(results);
  assert.ok(names.length, 'some bench ran');
  const rows = names.flatMap((n) => summarise(n, results[n]));
  const text = table(rows, true);
  for (const n of names) assert.match(text, new RegExp(`^${n}\\s`, 'm'));
  const svg = latencySvg(results);
  assert.match(svg, /^<svg /);
  const charted = names.filter((n) => results[n][0].latency_ms);
  for (const n of charted) assert.ok(svg.includes(`${n} · Switchboard`), `${n} is on the chart`);
  const out = path.join(ROOT, 'var', 'bench-smoke');
  fs.mkdirSync(out, { recursive: true });
  fs.writeFileSync(path.join(out, 'latency.svg'), svg);
  fs.writeFileSync(path.join(out, 'table.txt'), `${text}\n`);
});
