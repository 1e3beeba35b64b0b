'use strict';
// db_outage.test.js — Foundation issue: "Killing MariaDB and starting it again while the
// server runs: requests fail with 503 during the gap, then succeed without restarting
// switchboard". Uses its OWN MariaDB instance (SWITCHBOARD_DEV_VAR=var/outage-test on its
// own port) so that stopping it disturbs no other test file running alongside.
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const {
  ROOT, startServer, bootstrapAdmin, api, sql, dropDatabase, devServices, freePort, expectError, sleep,
} = require('./harness');

const DEV_VAR = 'var/outage-test';

/** Retries fn every 100 ms until it resolves truthy or ms pass; resolves the last value. */
async function until(fn, ms) {
  const deadline = Date.now() + ms;
  let last;
  for (;;) {
    try { last = await fn(); } catch (err) { last = err; }
    if (last && !(last instanceof Error)) return last;
    if (Date.now() > deadline) return last;
    await sleep(100);
  }
}

test('MariaDB stopped, then killed (SIGKILL), while the server runs: 503 during each gap, then service resumes', async (t) => {
  const port = await freePort();
  devServices('start', { devVar: DEV_VAR, port });
  let server;
  let dbRunning = true;
  try {
    server = await startServer({ devVar: DEV_VAR, env: { SWITCHBOARD_DATABASE_CONNECT_TIMEOUT: '1' } });
    const admin = await bootstrapAdmin(server);
    const a = api(server, admin.token);
    const before = await a.post('/api/v1/customers', { name: '停机前', email: 'before@example.com' });
    assert.equal(before.status, 201, before.text);
    const pid = server.proc.pid;

    // --- the gap
    devServices('stop', { devVar: DEV_VAR });
    dbRunning = false;
    const gapStart = Date.now();
    const timed = async (p) => {
      const t0 = Date.now();
      const r = await p;
      r.ms = Date.now() - t0;
      return r;
    };
    const list = await timed(a.get('/api/v1/customers'));
    expectError(list, 503, 'database_unavailable');
    assert.ok(list.headers.get('retry-after'), 'a 503 should say when to retry (Retry-After)');
    const create = await timed(a.post('/api/v1/customers', { name: '停机中', email: 'during@example.com' }));
    expectError(create, 503, 'database_unavailable');
    const get = await timed(a.get(`/api/v1/customers/${before.json.id}`));
    expectError(get, 503, 'database_unavailable');
    const loginDuring = await timed(api(server).post('/api/v1/auth/login', { email: 'admin@example.com', password: admin.password }));
    expectError(loginDuring, 503);
    const ready = await timed(api(server).get('/readyz'));
    assert.equal(ready.status, 503, ready.text);
    assert.equal(ready.json.status, 'unavailable', ready.text);
    // Liveness stays up: the process is fine, only its database is not.
    assert.equal((await api(server).get('/healthz')).status, 200);
    for (const r of [list, create, get, loginDuring, ready]) {
      assert.ok(r.ms < 5000, `a request took ${r.ms} ms during the outage (should fail fast)`);
    }
    // A burst of requests during the gap: all 503, none hangs, the server survives.
    const burst = await Promise.all(Array.from({ length: 20 }, () => timed(a.get('/api/v1/customers'))));
    for (const r of burst) expectError(r, 503);
    // Still 503 (and still fast) after the reconnect attempts have had time to fail.
    await sleep(1200);
    const later = await timed(a.get('/api/v1/customers'));
    expectError(later, 503, 'database_unavailable');
    assert.ok(later.ms < 5000, `${later.ms} ms`);
    t.diagnostic(`gap requests took ${[list, create, get, loginDuring, ready].map((r) => r.ms).join('/')} ms`);
    assert.equal(server.exited(), null, `switchboard exited during the outage:\n${server.logs().slice(-3000)}`);

    // --- MariaDB back
    devServices('start', { devVar: DEV_VAR, port });
    dbRunning = true;
    t.diagnostic(`MariaDB was down ${Date.now() - gapStart} ms`);
    const back = await until(async () => (await a.get('/api/v1/customers')).status === 200, 15000);
    assert.equal(back, true, `requests still fail 15 s after MariaDB came back; log:\n${server.logs().slice(-3000)}`);
    // Every pool thread reconnects, not just one: many requests in parallel all succeed.
    const after = await Promise.all(Array.from({ length: 20 }, () => a.get('/api/v1/customers')));
    assert.deepEqual(after.map((r) => r.status), Array(20).fill(200), after.map((r) => r.text).join('\n'));
    const created = await a.post('/api/v1/customers', { name: '停机后', email: 'after@example.com' });
    assert.equal(created.status, 201, created.text);
    const names = (await a.get('/api/v1/customers')).json.items.map((c) => c.name).sort();
    assert.deepEqual(names, ['停机前', '停机后'].sort(), 'the create refused during the gap must not exist');
    assert.equal((await api(server).get('/readyz')).status, 200);
    await bootstrapAdmin(server, { email: 'after-login@example.com', password: 'after-pass-123' });
    // The event tailer reconnected too: the new customer's event is in the feed.
    assert.equal(sql(server, "SELECT COUNT(*) FROM events WHERE kind = 'customer.created'")[0][0], '2');

    // --- MariaDB killed outright (SIGKILL: no goodbye to the clients, crash recovery on start).
    const pidFile = path.join(ROOT, DEV_VAR, 'mariadb', 'mariadbd.pid');
    const dbPid = Number(fs.readFileSync(pidFile, 'utf8').trim());
    assert.ok(dbPid > 0, `no pid in ${pidFile}`);
    process.kill(dbPid, 'SIGKILL');
    dbRunning = false;
    for (let i = 0; i < 100; i++) {
      try { process.kill(dbPid, 0); } catch { break; }
      await sleep(50);
    }
    const killed = await timed(a.post('/api/v1/customers', { name: '被杀时', email: 'killed@example.com' }));
    expectError(killed, 503, 'database_unavailable');
    assert.ok(killed.ms < 5000, `${killed.ms} ms`);
    assert.equal((await api(server).get('/readyz')).status, 503);
    devServices('start', { devVar: DEV_VAR, port });
    dbRunning = true;
    const back2 = await until(async () => (await a.get('/api/v1/customers')).status === 200, 20000);
    assert.equal(back2, true, `requests still fail 20 s after MariaDB restarted from SIGKILL; log:\n${server.logs().slice(-3000)}`);
    const c3 = await a.post('/api/v1/customers', { name: '重启后', email: 'restarted@example.com' });
    assert.equal(c3.status, 201, c3.text);
    assert.equal(sql(server, "SELECT COUNT(*) FROM customers WHERE name = '被杀时'")[0][0], '0');
    assert.equal((await a.get('/api/v1/customers')).json.total, 3);

    // Same process throughout.
    assert.equal(server.proc.pid, pid);
    assert.equal(server.exited(), null);
    const exit = await server.stop();
    assert.deepEqual(exit, { code: 0, signal: null }, `exit after SIGTERM: ${JSON.stringify(exit)}`);
  } finally {
    if (server) {
      await server.kill9();
      if (!dbRunning) {
        try { devServices('start', { devVar: DEV_VAR, port }); dbRunning = true; } catch { /* reported by the test */ }
      }
      if (dbRunning) {
        try { dropDatabase(server); } catch { /* the instance is ours alone */ }
      }
    }
    devServices('stop', { devVar: DEV_VAR });
  }
});
