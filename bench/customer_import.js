'use strict';
// customer_import.js — the CRM import (issue 8: 100,000 rows with their errors reported
// exactly in under 30 s). One POST /api/v1/customers/import of a CSV of N rows (a custom
// number field, tags, 0.6 % bad rows: empty name, bad e-mail, short phone, a duplicate
// e-mail), timed from sending to the full answer. Judged: seconds ≤ 30 at full size.
// Moved here from crm_import.test.js, which checks the same import's report exactly but no
// longer times it (no timed assertions in tests: a sanitizer build or a slower machine
// made that test red on time alone).
// Sizes: BENCH_IMPORT_ROWS (smoke 2,000, quick 20,000, full 100,000).
const { startServer, bootstrapAdmin, api, sql, dropDatabase } = require('../tests/system/harness');
const { pick, emit, run } = require('./lib');

const N = pick({ smoke: 2000, quick: 20000, full: 100000 }, 'BENCH_IMPORT_ROWS');

/** The CSV and how many of its rows are bad (every 500th and three kinds every 1,000th). */
function csv() {
  const lines = ['姓名,邮箱,手机,公司,地区,标签,预算'];
  let bad = 0;
  for (let i = 0; i < N; i++) {
    let name = `客户${i}`, email = `u${i}@bulk.example`, phone = `139${String(i).padStart(8, '0')}`;
    if (i % 500 === 7) { name = ''; bad++; }
    else if (i % 1000 === 13) { email = `bad-email-${i}`; bad++; }
    else if (i % 1000 === 517) { phone = phone.slice(1); bad++; }
    else if (i % 500 === 250) { email = `u${i - 1}@bulk.example`; bad++; }
    lines.push(`${name},${email},${phone},公司${i % 20000}有限公司,${['华东', '华南', '华北'][i % 3]},bulk;t${i % 10},${i}`);
  }
  return { body: Buffer.from(`${lines.join('\r\n')}\r\n`, 'utf8'), bad };
}

run(async () => {
  const s = await startServer({ env: { SWITCHBOARD_ROUTING_ENABLED: 'no' } });
  try {
    const admin = await bootstrapAdmin(s);
    const a = api(s, admin.token);
    const f = await a.post('/api/v1/field-defs', { key: 'budget', label: '预算', type: 'number' });
    if (f.status !== 201) throw new Error(`field-defs: ${f.status} ${f.text}`);
    const { body, bad } = csv();
    const t0 = process.hrtime.bigint();
    const r = await a.post('/api/v1/customers/import', body, { headers: { 'Content-Type': 'text/csv' } });
    const secs = Number(process.hrtime.bigint() - t0) / 1e9;
    if (r.status !== 200) throw new Error(`import: ${r.status} ${r.text.slice(0, 300)}`);
    if (r.json.imported !== N - bad || r.json.rejected_count !== bad) {
      throw new Error(`imported ${r.json.imported}, rejected ${r.json.rejected_count}; expected ${N - bad} and ${bad}`);
    }
    const stored = Number(sql(s, 'SELECT COUNT(*) FROM customers')[0][0]);
    if (stored !== N - bad) throw new Error(`${stored} customers stored, ${N - bad} imported`);
    emit({
      bench: 'customer_import', unit: 's', value: Math.round(secs * 100) / 100, judge: 'value', target: 30,
      lower_is_better: true, rows: N, rejected: bad, mib: Math.round((body.length / 1048576) * 10) / 10,
      rows_per_sec: Math.round(N / secs),
    });
  } finally {
    await s.stop();
    dropDatabase(s);
  }
});
