'use strict';
// ops.test.js — operations surface (Foundation issue items 3, 4 and 8): /metrics in
// Prometheus text format counting requests by route and status, /readyz and the schema
// check (serve refuses a schema that is behind and names `switchboard migrate`), config
// errors (one line naming the key, exit 2), --help and version, a request id on every
// response (and in the log line), migrate run twice, and the configurable body limit.
const test = require('node:test');
const assert = require('node:assert/strict');
const crypto = require('node:crypto');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const WebSocket = require('ws');
const {
  startServer, bootstrapAdmin, api, sql, dropDatabase, readDevEnv, freePort, runCli, expectError, sleep,
} = require('./harness');

/** Environment for a CLI run against database `db` of the private MariaDB. */
async function cliEnv(db, extra = {}) {
  const port = await freePort();
  return {
    ...process.env,
    ...readDevEnv(),
    SWITCHBOARD_DATABASE_NAME: db,
    SWITCHBOARD_SERVER_LISTEN: `127.0.0.1:${port}`,
    SWITCHBOARD_SERVER_PUBLIC_URL: `http://127.0.0.1:${port}`,
    SWITCHBOARD_DATABASE_POOL_SIZE: '2',
    ...extra,
  };
}
const newDbName = () => `sbtest_${crypto.randomBytes(4).toString('hex')}`;
const rootSql = (q) => sql(null, q, { db: null });

/** Parses Prometheus text into [{name, labels, value}] and checks every line's syntax. */
function parseMetrics(text) {
  const samples = [];
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) {
      if (line.startsWith('# TYPE')) assert.match(line, /^# TYPE [a-zA-Z_:][a-zA-Z0-9_:]* (counter|gauge|histogram|summary|untyped)$/, line);
      continue;
    }
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{([^}]*)\})? (-?[0-9.eE+-]+|\+Inf|-Inf|NaN)$/.exec(line);
    assert.ok(m, `not a Prometheus sample line: ${JSON.stringify(line)}`);
    const labels = {};
    if (m[3]) {
      for (const part of m[3].match(/[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\]|\\.)*"/g) || []) {
        const eq = part.indexOf('=');
        labels[part.slice(0, eq)] = part.slice(eq + 2, -1);
      }
    }
    samples.push({ name: m[1], labels, value: Number(m[4]) });
  }
  return samples;
}
function metric(samples, name, labels = {}) {
  const s = samples.find((x) => x.name === name && Object.entries(labels).every(([k, v]) => x.labels[k] === v));
  return s ? s.value : 0;
}

test.describe('ops on a running server', () => {
  let server;
  let admin;
  let a;

  test.before(async () => {
    server = await startServer();
    admin = await bootstrapAdmin(server);
    a = api(server, admin.token);
  });
  test.after(async () => {
    if (server) {
      await server.stop();
      dropDatabase(server);
    }
  });

  test('/healthz and /readyz answer JSON', async () => {
    const h = await api(server).get('/healthz');
    assert.equal(h.status, 200, h.text);
    const r = await api(server).get('/readyz');
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.status, 'ready', r.text);
  });

  test('/metrics has every metric family, in valid Prometheus text', async () => {
    const res = await api(server).get('/metrics');
    assert.equal(res.status, 200, res.text);
    assert.match(res.headers.get('content-type') || '', /^text\/plain/);
    const samples = parseMetrics(res.text);
    for (const [family, type] of [
      ['switchboard_http_requests_total', 'counter'],
      ['switchboard_http_request_duration_seconds', 'histogram'],
      ['switchboard_websockets_open', 'gauge'],
      ['switchboard_db_pool_wait_seconds', null],
      ['switchboard_ingest_batch_size', null],
      ['switchboard_outbox_depth', 'gauge'],
    ]) {
      const t = new RegExp(`^# TYPE ${family} (\\w+)$`, 'm').exec(res.text);
      assert.ok(t, `no # TYPE line for ${family}`);
      if (type) assert.equal(t[1], type, `${family} type`);
      assert.ok(samples.some((s) => s.name === family || s.name.startsWith(`${family}_`)), `no samples of ${family}`);
    }
    // The latency histogram is complete: buckets ascending and cumulative, +Inf = _count.
    const buckets = samples.filter((s) => s.name === 'switchboard_http_request_duration_seconds_bucket');
    assert.ok(buckets.length >= 5, 'too few latency buckets');
    const inf = buckets.find((b) => b.labels.le === '+Inf');
    assert.ok(inf, 'no +Inf bucket');
    assert.equal(inf.value, metric(samples, 'switchboard_http_request_duration_seconds_count'));
    const byLe = buckets.filter((b) => b.labels.le !== '+Inf').sort((x, y) => Number(x.labels.le) - Number(y.labels.le));
    for (let i = 1; i < byLe.length; i++) assert.ok(byLe[i].value >= byLe[i - 1].value, 'buckets not cumulative');
    assert.equal(metric(samples, 'switchboard_outbox_depth'), 0);
  });

  test('/metrics counts requests by route and status', async () => {
    const before = parseMetrics((await api(server).get('/metrics')).text);
    for (let i = 0; i < 3; i++) assert.equal((await a.get('/api/v1/customers')).status, 200);
    for (let i = 0; i < 2; i++) assert.equal((await a.get('/api/v1/customers/987654')).status, 404);
    assert.equal((await api(server).get('/api/v1/customers')).status, 401);
    assert.equal((await a.get('/api/v1/no-such-route')).status, 404);
    const created = await a.post('/api/v1/customers', { name: 'Metric' });
    assert.equal(created.status, 201);
    const after = parseMetrics((await api(server).get('/metrics')).text);
    const delta = (labels) => metric(after, 'switchboard_http_requests_total', labels)
      - metric(before, 'switchboard_http_requests_total', labels);
    assert.equal(delta({ route: 'customers_list', status: '200' }), 3);
    assert.equal(delta({ route: 'customers_get', status: '404' }), 2);
    assert.equal(delta({ route: 'customers_list', status: '401' }), 1);
    assert.equal(delta({ route: 'customers_create', status: '201' }), 1);
    // Unknown paths are one label value, not one per path (bounded cardinality).
    assert.ok(!after.some((s) => JSON.stringify(s.labels).includes('no-such-route')), 'raw path used as a label');
    const count = (m) => metric(m, 'switchboard_http_request_duration_seconds_count');
    assert.ok(count(after) - count(before) >= 8, 'latency histogram did not count the requests');
  });

  test('switchboard_websockets_open follows open sockets', async () => {
    const read = async () => metric(parseMetrics((await api(server).get('/metrics')).text), 'switchboard_websockets_open');
    const base = await read();
    const url = `${server.url.replace(/^http/, 'ws')}/ws/agent`;
    const open = () => new Promise((resolve, reject) => {
      const ws = new WebSocket(url);
      ws.once('open', () => resolve(ws));
      ws.once('error', reject);
    });
    const s1 = await open();
    const s2 = await open();
    assert.equal(await read(), base + 2);
    const closed = new Promise((r) => s1.once('close', r));
    s1.close();
    await closed;
    let now;
    for (let i = 0; i < 20 && (now = await read()) !== base + 1; i++) await sleep(50);
    assert.equal(now, base + 1);
    s2.terminate();
  });

  test('every response carries a distinct x-request-id that is also in the log line', async () => {
    const responses = [
      await api(server).get('/healthz'),
      await api(server).get('/readyz'),
      await api(server).get('/metrics'),
      await a.get('/api/v1/customers'),
      await api(server).get('/api/v1/customers'),
      await a.get('/api/v1/customers/999999'),
      await a.get('/api/v1/nope'),
      await a.del('/api/v1/customers'),
      await a.post('/api/v1/customers', '{bad', { headers: { 'Content-Type': 'application/json' } }),
      await a.post('/api/v1/customers', { name: 'x'.repeat(10), address: 'y'.repeat(1100 * 1024) }),
      await api(server).post('/api/v1/auth/login', { email: 'admin@example.com', password: 'wrong-password' }),
      await api(server).get('/'),
    ];
    const ids = responses.map((r) => r.headers.get('x-request-id'));
    ids.forEach((id, i) => assert.ok(id && id.length > 0, `response ${i} (${responses[i].status}) has no x-request-id`));
    assert.equal(new Set(ids).size, ids.length, `request ids repeat: ${ids}`);
    // Error bodies may repeat it; the log has one line per request with it.
    await sleep(100);
    const log = server.logs();
    for (const id of ids) {
      assert.match(log, new RegExp(`req=${id.replace(/[^A-Za-z0-9_-]/g, '')}\\b`), `no log line for request ${id}`);
    }
  });

  test('/readyz ⇒ 503 schema_behind when the schema falls behind, 200 again when fixed', async () => {
    const [[version, name]] = sql(server, 'SELECT version, name FROM schema_migrations ORDER BY version DESC LIMIT 1');
    sql(server, `DELETE FROM schema_migrations WHERE version = ${version}`);
    try {
      const r = await api(server).get('/readyz');
      assert.equal(r.status, 503, r.text);
      assert.equal(r.json.status, 'schema_behind', r.text);
      assert.match(r.text, /switchboard migrate/);
      // Liveness is not readiness.
      assert.equal((await api(server).get('/healthz')).status, 200);
    } finally {
      sql(server, `INSERT INTO schema_migrations (version, name) VALUES (${version}, '${name.replace(/'/g, "''")}')`);
    }
    assert.equal((await api(server).get('/readyz')).status, 200);
  });

  test('migrate twice is harmless', async () => {
    const before = sql(server, 'SELECT version, name FROM schema_migrations ORDER BY version');
    const c = await a.post('/api/v1/customers', { name: '迁移 survivor', email: 'migrate@example.com', tags: ['keep'] });
    assert.equal(c.status, 201, c.text);
    for (let i = 0; i < 2; i++) {
      const r = runCli(['-c', '/dev/null', 'migrate'], { env: server.env });
      assert.equal(r.status, 0, `${r.stdout}${r.stderr}`);
    }
    assert.deepEqual(sql(server, 'SELECT version, name FROM schema_migrations ORDER BY version'), before);
    const got = await a.get(`/api/v1/customers/${c.json.id}`);
    assert.equal(got.status, 200, got.text);
    assert.equal(got.json.name, '迁移 survivor');
    assert.deepEqual(got.json.tags, ['keep']);
    assert.equal((await api(server).get('/readyz')).status, 200);
  });
});

test.describe('CLI and start-up', () => {
  const dbs = [];
  test.after(() => {
    for (const db of dbs) rootSql(`DROP DATABASE IF EXISTS \`${db}\``);
  });

  test('--help and version exit 0', () => {
    for (const args of [['--help'], ['-h'], ['-c', '/dev/null', '--help']]) {
      const r = runCli(args);
      assert.equal(r.status, 0, `${args}: ${r.stdout}${r.stderr}`);
      for (const cmd of ['serve', 'migrate', 'agent add', 'version']) assert.ok(r.stdout.includes(cmd), `help lacks ${cmd}`);
    }
    const v = runCli(['-c', '/dev/null', 'version']);
    assert.equal(v.status, 0, `${v.stdout}${v.stderr}`);
    assert.match(v.stdout, /^switchboard \d+\.\d+\.\d+/);
  });

  test('no command or an unknown command exits non-zero with the usage', () => {
    for (const args of [[], ['-c', '/dev/null'], ['-c', '/dev/null', 'frobnicate'], ['--bogus']]) {
      const r = runCli(args);
      assert.notEqual(r.status, 0, `${args.join(' ')}: exit 0`);
      assert.match(r.stderr, /usage|unknown/i, `${args.join(' ')}: ${r.stderr}`);
    }
  });

  test('bad SWITCHBOARD_DATABASE_POOL_SIZE ⇒ exit 2, one stderr line naming pool_size', async () => {
    for (const cmd of ['serve', 'migrate']) {
      for (const bad of ['abc', '0', '-3', '12abc', '100000']) {
        const r = runCli(['-c', '/dev/null', cmd], { env: await cliEnv(newDbName(), { SWITCHBOARD_DATABASE_POOL_SIZE: bad }) });
        assert.equal(r.status, 2, `${cmd} pool_size=${bad}: exit ${r.status} ${r.stdout}${r.stderr}`);
        const lines = r.stderr.trim().split('\n');
        assert.equal(lines.length, 1, `one line expected:\n${r.stderr}`);
        assert.match(lines[0], /^switchboard: config error: .*pool_size/, r.stderr);
      }
    }
  });

  test('other bad settings name their key', async () => {
    for (const [key, value, name] of [
      ['SWITCHBOARD_SERVER_LISTEN', 'no-port-here', 'listen'],
      ['SWITCHBOARD_SERVER_BODY_LIMIT', 'lots', 'body_limit'],
      ['SWITCHBOARD_DATABASE_PORT', '70000', 'port'],
      ['SWITCHBOARD_AUTH_LOGIN_MAX_FAILURES', 'x', 'login_max_failures'],
    ]) {
      const r = runCli(['-c', '/dev/null', 'serve'], { env: await cliEnv(newDbName(), { [key]: value }) });
      assert.equal(r.status, 2, `${key}=${value}: exit ${r.status} ${r.stdout}${r.stderr}`);
      assert.match(r.stderr, new RegExp(`^switchboard: config error: .*${name}`), r.stderr);
    }
  });

  test('INI file: an unknown key ⇒ exit 2 naming it; a valid file is used', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sbcfg-'));
    try {
      const bad = path.join(dir, 'bad.ini');
      fs.writeFileSync(bad, '; comment\n[server]\nlisten = 127.0.0.1:1\nlisen_typo = 1\n');
      const r = runCli(['-c', bad, 'migrate'], { env: await cliEnv(newDbName()) });
      assert.equal(r.status, 2, `${r.stdout}${r.stderr}`);
      assert.match(r.stderr, /^switchboard: config error: .*lisen_typo/, r.stderr);
      assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);

      const badSection = path.join(dir, 'badsection.ini');
      fs.writeFileSync(badSection, '[servre]\nlisten = 127.0.0.1:1\n');
      const r2 = runCli(['-c', badSection, 'migrate'], { env: await cliEnv(newDbName()) });
      assert.equal(r2.status, 2, `${r2.stdout}${r2.stderr}`);
      assert.match(r2.stderr, /servre/, r2.stderr);

      const missing = runCli(['-c', path.join(dir, 'missing.ini'), 'migrate'], { env: await cliEnv(newDbName()) });
      assert.notEqual(missing.status, 0, 'a missing -c file must be an error');
      assert.match(missing.stderr, /missing\.ini/, missing.stderr);

      // A valid file: the database name comes from the file (environment variables
      // for the database name removed so the file decides).
      const db = newDbName();
      dbs.push(db);
      const dev = readDevEnv();
      const good = path.join(dir, 'good.ini');
      fs.writeFileSync(good, [
        '; a commented config', '[database]', `name = ${db}   ; inline comment`,
        `socket = ${dev.SWITCHBOARD_DATABASE_SOCKET || ''}`, `user = ${dev.SWITCHBOARD_DATABASE_USER}`,
        `password = ${dev.SWITCHBOARD_DATABASE_PASSWORD}`, `host = ${dev.SWITCHBOARD_DATABASE_HOST}`,
        `port = ${dev.SWITCHBOARD_DATABASE_PORT}`, '',
      ].join('\n'));
      const env = { ...process.env };
      for (const k of Object.keys(env)) if (k.startsWith('SWITCHBOARD_')) delete env[k];
      const m = runCli(['-c', good, 'migrate'], { env });
      assert.equal(m.status, 0, `${m.stdout}${m.stderr}`);
      assert.equal(rootSql(`SELECT COUNT(*) FROM information_schema.schemata WHERE schema_name = '${db}'`)[0][0], '1');
      // The environment overrides the file.
      const db2 = newDbName();
      dbs.push(db2);
      const m2 = runCli(['-c', good, 'migrate'], { env: { ...env, SWITCHBOARD_DATABASE_NAME: db2 } });
      assert.equal(m2.status, 0, `${m2.stdout}${m2.stderr}`);
      assert.equal(rootSql(`SELECT COUNT(*) FROM information_schema.schemata WHERE schema_name = '${db2}'`)[0][0], '1');
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  test('serve on a database that is not migrated exits non-zero and says to run `switchboard migrate`', async () => {
    const db = newDbName();
    dbs.push(db);
    rootSql(`CREATE DATABASE \`${db}\` CHARACTER SET utf8mb4`);
    const env = await cliEnv(db);
    const r = runCli(['-c', '/dev/null', 'serve'], { env, timeout: 20000 });
    assert.ok(r.status !== 0 && r.status !== null, `serve exit ${r.status} signal ${r.signal} (still running?)\n${r.stdout}${r.stderr}`);
    assert.match(`${r.stdout}${r.stderr}`, /switchboard migrate/);
    // Nothing answers on its port.
    await assert.rejects(fetch(`http://${env.SWITCHBOARD_SERVER_LISTEN}/healthz`));
  });

  test('serve on a schema one migration behind refuses too; migrate fixes it', async () => {
    const db = newDbName();
    dbs.push(db);
    const env = await cliEnv(db);
    const m = runCli(['-c', '/dev/null', 'migrate'], { env });
    assert.equal(m.status, 0, `${m.stdout}${m.stderr}`);
    const [[version]] = sql(null, 'SELECT MAX(version) FROM schema_migrations', { db });
    sql(null, `DELETE FROM schema_migrations WHERE version = ${version}`, { db });
    const r = runCli(['-c', '/dev/null', 'serve'], { env, timeout: 20000 });
    assert.ok(r.status !== 0 && r.status !== null, `serve exit ${r.status} signal ${r.signal}\n${r.stdout}${r.stderr}`);
    assert.match(`${r.stdout}${r.stderr}`, /switchboard migrate/);
  });

  test('server.body_limit is configuration', async () => {
    const server = await startServer({ env: { SWITCHBOARD_SERVER_BODY_LIMIT: '4096' } });
    try {
      const admin = await bootstrapAdmin(server);
      const a = api(server, admin.token);
      const json = { 'Content-Type': 'application/json' };
      const ok = await a.post('/api/v1/customers', JSON.stringify({ name: 'small' }).padEnd(4000, ' '), { headers: json });
      assert.equal(ok.status, 201, ok.text);
      const big = await a.post('/api/v1/customers', JSON.stringify({ name: 'big' }).padEnd(5000, ' '), { headers: json });
      expectError(big, 413, 'payload_too_large');
      assert.equal(sql(server, "SELECT COUNT(*) FROM customers WHERE name = 'big'")[0][0], '0');
    } finally {
      await server.stop();
      dropDatabase(server);
    }
  });
});
