'use strict';
// concurrency.test.js — Foundation issue: "200 concurrent customer creates all succeed and
// are all listed; SIGTERM under that load loses no acknowledged create" (graceful
// shutdown: stop accepting, finish in-flight transactions, exit 0).
const test = require('node:test');
const assert = require('node:assert/strict');
const {
  startServer, bootstrapAdmin, api, sql, dropDatabase, sleep,
} = require('./harness');

test('200 concurrent customer creates all succeed and are all listed', async () => {
  const server = await startServer();
  try {
    const admin = await bootstrapAdmin(server);
    const a = api(server, admin.token);
    const N = 200;
    const results = await Promise.all(Array.from({ length: N }, (_, i) => a.post('/api/v1/customers', {
      name: `并发客户 ${i} 🚀`,
      email: `burst${i}@example.com`,
      phone: `139${String(i).padStart(8, '0')}`,
      tags: ['burst', i % 2 ? '奇数' : '偶数'],
    }).catch((err) => ({ status: 0, text: String(err.cause || err) }))));
    const bad = results.filter((r) => r.status !== 201);
    assert.deepEqual(bad.map((r) => `${r.status} ${r.text}`), [], `${bad.length} of ${N} creates failed`);
    const ids = results.map((r) => r.json.id);
    assert.equal(new Set(ids).size, N, 'ids are not unique');
    assert.equal(new Set(results.map((r) => r.json.customer_no)).size, N, 'customer numbers are not unique');

    const list = await a.get('/api/v1/customers?per_page=200');
    assert.equal(list.status, 200, list.text);
    assert.equal(list.json.total, N);
    assert.deepEqual(list.json.items.map((c) => c.id).sort((x, y) => x - y), [...ids].sort((x, y) => x - y));
    const byId = new Map(list.json.items.map((c) => [c.id, c]));
    results.forEach((r, i) => {
      const c = byId.get(r.json.id);
      assert.equal(c.name, `并发客户 ${i} 🚀`);
      assert.equal(c.email, `burst${i}@example.com`);
      assert.equal(c.phone, `+86139${String(i).padStart(8, '0')}`);
    });
    const odd = await a.get(`/api/v1/customers?tag=${encodeURIComponent('奇数')}&per_page=1`);
    assert.equal(odd.json.total, N / 2);

    // Every create is audited and has its event, each exactly once.
    const [[cust, ident, audit, events]] = sql(server, `SELECT
      (SELECT COUNT(*) FROM customers), (SELECT COUNT(*) FROM customer_identities),
      (SELECT COUNT(*) FROM audit_log WHERE object_type = 'customer'),
      (SELECT COUNT(*) FROM events WHERE kind = 'customer.created')`);
    assert.deepEqual([cust, ident, audit, events].map(Number), [N, 2 * N, N, N]);
  } finally {
    await server.stop();
    dropDatabase(server);
  }
});

test('SIGTERM under load: exit 0 and every acknowledged create is stored', async (t) => {
  const first = await startServer();
  let second;
  try {
    const admin = await bootstrapAdmin(first);
    const a = api(first, admin.token);
    const acked = []; // {id, name}
    const failures = {}; // status or error code ⇒ count
    let stop = false;
    let sent = 0;
    const loops = Array.from({ length: 20 }, async (_, loop) => {
      for (let i = 0; !stop; i++) {
        const name = `term-${loop}-${i}`;
        sent++;
        let res;
        try {
          res = await a.post('/api/v1/customers', { name, email: `${name}@example.com` });
        } catch (err) {
          const code = (err.cause && err.cause.code) || err.message;
          failures[code] = (failures[code] || 0) + 1;
          if (code === 'ECONNREFUSED') return; // the server is gone: nothing more can be acked
          await sleep(5);
          continue;
        }
        if (res.status === 201) {
          assert.equal(res.json.name, name);
          acked.push({ id: res.json.id, name });
        } else {
          failures[res.status] = (failures[res.status] || 0) + 1;
          // While draining the server may refuse new work with 503 (never 500).
          assert.equal(res.status, 503, `unexpected answer during shutdown: ${res.status} ${res.text}`);
          await sleep(5);
        }
      }
    });
    // SIGTERM once the load is real (a fixed delay is too short on a busy machine)
    for (let waited = 0; acked.length <= 20 && waited < 15000; waited += 20) await sleep(20);
    const ackedBeforeTerm = acked.length;
    const exit = await first.stop('SIGTERM');
    stop = true;
    await Promise.all(loops);
    t.diagnostic(`acked ${acked.length} (${ackedBeforeTerm} before SIGTERM) of ${sent} sent; failures ${JSON.stringify(failures)}`);
    assert.ok(ackedBeforeTerm > 20, `too little load before SIGTERM (${ackedBeforeTerm} creates)`);
    assert.deepEqual(exit, { code: 0, signal: null },
      `exit after SIGTERM under load: ${JSON.stringify(exit)}; log tail:\n${first.logs().slice(-3000)}`);
    assert.equal(failures[500], undefined, `500s during shutdown: ${JSON.stringify(failures)}`);

    // A new server on the same database: every acknowledged create is there, intact.
    second = await startServer({ dbName: first.dbName });
    const rows = sql(second, 'SELECT id, name FROM customers');
    const stored = new Map(rows.map(([id, name]) => [Number(id), name]));
    const lost = acked.filter((c) => stored.get(c.id) !== c.name);
    assert.deepEqual(lost, [], `${lost.length} of ${acked.length} acknowledged creates lost (sent ${sent}; failures ${JSON.stringify(failures)})`);
    // Their identities and audit rows committed with them.
    const [[idents, audits]] = sql(second, `SELECT
      (SELECT COUNT(*) FROM customer_identities WHERE customer_id IN (${acked.map((c) => c.id).join(',')})),
      (SELECT COUNT(*) FROM audit_log WHERE object_type = 'customer' AND object_id IN (${acked.map((c) => c.id).join(',')}))`);
    assert.equal(Number(idents), acked.length);
    assert.equal(Number(audits), acked.length);
    // And the new server answers for them.
    const b = api(second, (await bootstrapAdmin(second)).token);
    const sample = acked[acked.length - 1];
    const got = await b.get(`/api/v1/customers/${sample.id}`);
    assert.equal(got.status, 200, got.text);
    assert.equal(got.json.name, sample.name);
    assert.equal((await b.get('/api/v1/customers?per_page=1')).json.total, stored.size);
  } finally {
    await first.kill9();
    if (second) await second.stop();
    dropDatabase(first);
  }
});
