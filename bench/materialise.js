'use strict';
// materialise.js — segment materialisation (issue 9: a 1,000,000-customer segment into the
// campaign ledger in under 30 s; issue 13: at least 0.5x an `INSERT … SELECT` of the same
// ids). BENCH_CUSTOMERS customers tagged `bench`, a campaign on `tag:bench` started on a
// server without SMTP (nothing is sent): time from start to status `sending` by the
// database's clock, then the reference statement into a copy of the ledger table.
// Prints one JSON line (bench/README.md): customers/s, the reference's, their ratio (≥ 0.5), and at
// the full size the seconds for a million (≤ 30).
const { startServer, bootstrapAdmin, api, sql, dropDatabase, sleep } = require('../tests/system/harness');
const { SIZE, pick, emit } = require('./lib');

(async () => {
  const n = pick({ smoke: 2000, quick: 100000, full: 1000000 }, 'BENCH_CUSTOMERS');
  const s = await startServer();
  const admin = await bootstrapAdmin(s);
  sql(s, `INSERT INTO customers (id, name, customer_no) SELECT seq, CONCAT('B', seq), CONCAT('B', seq) FROM seq_1_to_${n}`);
  sql(s, `INSERT INTO customer_identities (customer_id, kind, value) SELECT seq, 'email', CONCAT('b', seq, '@bench.example') FROM seq_1_to_${n}`);
  sql(s, "INSERT INTO tags (name) VALUES ('bench')");
  sql(s, `INSERT INTO customer_tags (customer_id, tag_id) SELECT seq, (SELECT id FROM tags WHERE name = 'bench') FROM seq_1_to_${n}`);
  await s.stop(); // a fresh server: no idle keep-alive socket from before the seeding
  const r = await startServer({ dbName: s.dbName, migrate: false });
  const a = api(r, admin.token);
  const seg = (await a.post('/api/v1/segments', { name: 'bench', rule: 'tag:bench' })).json;
  const tpl = (await a.post('/api/v1/templates', { name: 'bench', channel: 'email', subject: 'x', text: 'y' })).json;
  const c = (await a.post('/api/v1/campaigns', { name: 'bench', segment_id: seg.id, template_id: tpl.id, channel: 'email' })).json;
  const [[start]] = sql(r, 'SELECT NOW(6)');
  await a.post(`/api/v1/campaigns/${c.id}/start`);
  for (let t0 = Date.now(); Date.now() - t0 < 300000;) {
    await sleep(500);
    if (sql(r, `SELECT status FROM campaigns WHERE id = ${c.id}`)[0][0] !== 'starting') break;
  }
  const [[rows, end]] = sql(r, `SELECT COUNT(*), MAX(created_at) FROM campaign_recipients WHERE campaign_id = ${c.id}`);
  const secs = Number(sql(r, `SELECT TIMESTAMPDIFF(MICROSECOND, '${start}', '${end}') / 1e6`)[0][0]);
  const [[t1]] = sql(r, 'CREATE TABLE ref_ledger LIKE campaign_recipients; SELECT NOW(6)');
  sql(r, "INSERT INTO ref_ledger (campaign_id, customer_id, channel) SELECT 1, c.id, 'email' FROM customers c " +
    'JOIN customer_tags ct ON ct.customer_id = c.id');
  const ref = Number(sql(r, `SELECT TIMESTAMPDIFF(MICROSECOND, '${t1}', NOW(6)) / 1e6`)[0][0]);
  await r.stop();
  dropDatabase(r);
  if (Number(rows) !== n) throw new Error(`materialised ${rows} of ${n}`);
  // the second target: a million customers in under 30 s (at the full size only)
  emit({
    bench: 'segment_materialise', unit: 'customers/s', value: Math.round(n / secs), reference: Math.round(n / ref),
    ref_name: 'INSERT … SELECT of the same ids', ratio: +(ref / secs).toFixed(2), judge: 'ratio', target: 0.5,
    also: SIZE === 'full' ? [{ name: 'segment_materialise 1M customers', value: +secs.toFixed(2), unit: 's', target: 30, lower_is_better: true }] : [],
    customers: n, secs: +secs.toFixed(2), ref_secs: +ref.toFixed(2),
  });
})().catch((e) => { console.error(e); process.exit(1); });
