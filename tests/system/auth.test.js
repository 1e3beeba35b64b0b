'use strict';
// auth.test.js — login, tokens, cookies, logout, throttling, roles, the `agent add` CLI
// and inactive agents (Foundation issue: "wrong password ⇒ 401; no token ⇒ 401; agent
// role calling an admin route ⇒ 403 ... all with the error format, and nothing written").
const test = require('node:test');
const assert = require('node:assert/strict');
const {
  startServer, bootstrapAdmin, api, sql, dropDatabase, login, createAgent, counts, runCli, expectError,
} = require('./harness');

const LOGIN = '/api/v1/auth/login';

test.describe('auth', () => {
  let server;
  let admin;

  test.before(async () => {
    server = await startServer();
    admin = await bootstrapAdmin(server);
  });
  test.after(async () => {
    if (server) {
      await server.stop();
      dropDatabase(server);
    }
  });

  test('login answers token, agent and an HttpOnly SameSite=Strict cookie', async () => {
    const res = await api(server).post(LOGIN, { email: 'admin@example.com', password: admin.password });
    assert.equal(res.status, 200, res.text);
    assert.equal(typeof res.json.token, 'string');
    assert.ok(res.json.token.length >= 32, `token too short: ${res.json.token}`);
    assert.equal(res.json.agent.email, 'admin@example.com');
    assert.equal(res.json.agent.role, 'admin');
    assert.equal(res.json.agent.password_hash, undefined, 'password hash must never be returned');
    assert.ok(!/argon2/i.test(res.text), 'password hash leaked');
    const cookie = res.headers.get('set-cookie') || '';
    assert.match(cookie, new RegExp(`(^|;\\s*)sb_session=${res.json.token}(;|$)`), cookie);
    assert.match(cookie, /;\s*HttpOnly/i, cookie);
    assert.match(cookie, /;\s*SameSite=Strict/i, cookie);
    // The token is stored hashed: the plain token appears nowhere in the sessions table.
    const rows = sql(server, `SELECT COUNT(*) FROM sessions WHERE token_hash = CAST(LEFT('${res.json.token}', 32) AS BINARY)`);
    assert.equal(rows[0][0], '0');
  });

  test('email is matched case-insensitively', async () => {
    const res = await api(server).post(LOGIN, { email: 'ADMIN@Example.COM', password: admin.password });
    assert.equal(res.status, 200, res.text);
  });

  test('wrong password ⇒ 401, nothing written', async () => {
    const before = counts(server, ['sessions', 'audit_log', 'events']);
    const res = await api(server).post(LOGIN, { email: 'admin@example.com', password: 'not-the-password' });
    expectError(res, 401);
    assert.equal(res.headers.get('set-cookie'), null, 'no cookie on failure');
    assert.equal(res.json.token, undefined);
    assert.deepEqual(counts(server, ['sessions', 'audit_log', 'events']), before);
  });

  test('unknown email ⇒ 401 with the same error as a wrong password', async () => {
    const wrong = await api(server).post(LOGIN, { email: 'admin@example.com', password: 'not-the-password' });
    const unknown = await api(server).post(LOGIN, { email: 'nobody@example.com', password: 'whatever-123' });
    expectError(unknown, 401);
    // No account enumeration: same code and message.
    assert.deepEqual(unknown.json, wrong.json);
  });

  test('missing credentials ⇒ 4xx error, not a session', async () => {
    const res = await api(server).post(LOGIN, { email: 'admin@example.com' });
    assert.ok(res.status === 400 || res.status === 422 || res.status === 401, res.text);
    expectError(res, res.status);
  });

  test('no token ⇒ 401 on protected routes', async () => {
    const anon = api(server);
    for (const [method, p, body] of [
      ['get', '/api/v1/auth/me'],
      ['get', '/api/v1/customers'],
      ['get', '/api/v1/tickets'],
      ['get', '/api/v1/agents'],
      ['post', '/api/v1/customers', { name: 'Anon' }],
      ['post', '/api/v1/agents', { email: 'x@example.com', name: 'X', role: 'admin' }],
    ]) {
      const res = await anon[method](p, body);
      expectError(res, 401);
    }
    assert.equal(sql(server, "SELECT COUNT(*) FROM customers WHERE name = 'Anon'")[0][0], '0');
    assert.equal(sql(server, "SELECT COUNT(*) FROM agents WHERE email = 'x@example.com'")[0][0], '0');
  });

  test('bad token ⇒ 401', async () => {
    const bad = [
      'nonsense',
      'A'.repeat(43),
      `${admin.token}x`,
      admin.token.slice(0, -1),
      'x'.repeat(5000),
    ];
    for (const t of bad) {
      const res = await api(server, t).get('/api/v1/auth/me');
      expectError(res, 401);
    }
    for (const h of ['Bearer', 'Bearer ', `Basic ${admin.token}`, `bearer-${admin.token}`]) {
      const res = await api(server).get('/api/v1/auth/me', undefined, { headers: { Authorization: h } });
      expectError(res, 401);
    }
    // A bad cookie too.
    const res = await api(server).get('/api/v1/auth/me', undefined, { headers: { Cookie: 'sb_session=nonsense' } });
    expectError(res, 401);
  });

  test('cookie sb_session authenticates /auth/me', async () => {
    const { token } = await login(server, 'admin@example.com', admin.password);
    const res = await api(server).get('/api/v1/auth/me', undefined,
      { headers: { Cookie: `theme=dark; sb_session=${token}; other=1` } });
    assert.equal(res.status, 200, res.text);
    assert.equal(res.json.email, 'admin@example.com');
  });

  test('Bearer token authenticates /auth/me', async () => {
    const res = await api(server, admin.token).get('/api/v1/auth/me');
    assert.equal(res.status, 200, res.text);
    assert.equal(res.json.id, admin.agent.id);
    assert.equal(res.json.role, 'admin');
  });

  test('logout invalidates the token (and only that one)', async () => {
    const a = await login(server, 'admin@example.com', admin.password);
    const b = await login(server, 'admin@example.com', admin.password);
    const out = await api(server, a.token).post('/api/v1/auth/logout');
    assert.equal(out.status, 204, out.text);
    const cookie = out.headers.get('set-cookie') || '';
    assert.match(cookie, /sb_session=;/, `logout should clear the cookie: ${cookie}`);
    expectError(await api(server, a.token).get('/api/v1/auth/me'), 401);
    // The cookie form of the same token is dead too.
    expectError(await api(server).get('/api/v1/auth/me', undefined, { headers: { Cookie: `sb_session=${a.token}` } }), 401);
    // A second logout with the dead token is 401, not a crash.
    expectError(await api(server, a.token).post('/api/v1/auth/logout'), 401);
    // Another session of the same agent lives on.
    assert.equal((await api(server, b.token).get('/api/v1/auth/me')).status, 200);
  });

  test('logout through the cookie', async () => {
    const a = await login(server, 'admin@example.com', admin.password);
    const out = await api(server).post('/api/v1/auth/logout', undefined, { headers: { Cookie: `sb_session=${a.token}` } });
    assert.equal(out.status, 204, out.text);
    expectError(await api(server, a.token).get('/api/v1/auth/me'), 401);
  });

  test('agent role on an admin route ⇒ 403, nothing written', async () => {
    const ag = await createAgent(server, admin.token, { role: 'agent' });
    const before = counts(server, ['agents', 'audit_log', 'events', 'teams']);
    const res = await api(server, ag.token).post('/api/v1/agents',
      { email: 'sneaky@example.com', name: 'Sneaky', role: 'admin', password: 'sneaky-pass-123' });
    expectError(res, 403);
    expectError(await api(server, ag.token).patch(`/api/v1/agents/${ag.id}`, { role: 'admin' }), 403);
    expectError(await api(server, ag.token).post('/api/v1/teams', { name: 'Sneaky team' }), 403);
    expectError(await api(server, ag.token).get('/api/v1/agents'), 403);
    assert.deepEqual(counts(server, ['agents', 'audit_log', 'events', 'teams']), before);
    assert.equal(sql(server, `SELECT role FROM agents WHERE id = ${ag.id}`)[0][0], 'agent');
  });

  test('role checks on other routes: agent cannot create customers, marketer has no tickets', async () => {
    const ag = await createAgent(server, admin.token, { role: 'agent' });
    const mk = await createAgent(server, admin.token, { role: 'marketer' });
    const before = counts(server, ['customers', 'tickets', 'audit_log', 'events']);
    expectError(await api(server, ag.token).post('/api/v1/customers', { name: 'Not allowed' }), 403);
    expectError(await api(server, mk.token).get('/api/v1/tickets'), 403);
    expectError(await api(server, mk.token).post('/api/v1/tickets', { customer_id: 1, channel: 'email', subject: 'x' }), 403);
    assert.deepEqual(counts(server, ['customers', 'tickets', 'audit_log', 'events']), before);
    // Agents still read customers.
    assert.equal((await api(server, ag.token).get('/api/v1/customers')).status, 200);
  });

  test('`agent add` CLI creates an agent that can log in', async () => {
    const r = runCli(['-c', '/dev/null', 'agent', 'add', '--email', 'Cli.User@Example.com', '--name', '命令行 用户',
      '--role', 'manager', '--password-stdin'], { env: server.env, input: 'cli-pass-12345\n' });
    assert.equal(r.status, 0, `${r.stdout}${r.stderr}`);
    const res = await api(server).post(LOGIN, { email: 'cli.user@example.com', password: 'cli-pass-12345' });
    assert.equal(res.status, 200, res.text);
    assert.equal(res.json.agent.role, 'manager');
    assert.equal(res.json.agent.name, '命令行 用户');
    assert.equal(res.json.agent.email, 'cli.user@example.com');
    // The stored password is an argon2id hash, never the password.
    const [[hash]] = sql(server, "SELECT password_hash FROM agents WHERE email = 'cli.user@example.com'");
    assert.match(hash, /^\$argon2id\$/);
    assert.ok(!hash.includes('cli-pass-12345'));
  });

  test('`agent add` without --password-stdin prints a generated password that works', async () => {
    const r = runCli(['-c', '/dev/null', 'agent', 'add', '--email', 'gen@example.com', '--name', 'Gen',
      '--role', 'sales'], { env: server.env });
    assert.equal(r.status, 0, `${r.stdout}${r.stderr}`);
    const m = /password:\s*(\S+)/i.exec(r.stdout);
    assert.ok(m, `no password printed: ${r.stdout}`);
    assert.ok(m[1].length >= 10, `generated password too short: ${m[1]}`);
    await login(server, 'gen@example.com', m[1]);
  });

  test('`agent add` with a bad role, a bad email or a short password exits non-zero and writes nothing', async () => {
    const before = counts(server, ['agents']);
    const cases = [
      [['--email', 'r@example.com', '--name', 'R', '--role', 'wizard', '--password-stdin'], 'long-enough-pw\n'],
      [['--email', 'not-an-email', '--name', 'R', '--role', 'agent', '--password-stdin'], 'long-enough-pw\n'],
      [['--email', 'r@example.com', '--name', 'R', '--role', 'agent', '--password-stdin'], 'short\n'],
      [['--email', 'r@example.com', '--role', 'agent', '--password-stdin'], 'long-enough-pw\n'],
    ];
    for (const [args, input] of cases) {
      const r = runCli(['-c', '/dev/null', 'agent', 'add', ...args], { env: server.env, input });
      assert.notEqual(r.status, 0, `agent add ${args.join(' ')} should fail: ${r.stdout}${r.stderr}`);
      assert.ok(r.stderr.trim().length > 0, `agent add ${args.join(' ')}: no error message`);
    }
    assert.deepEqual(counts(server, ['agents']), before);
  });

  test('an inactive agent cannot log in, and its existing sessions stop working', async () => {
    const ag = await createAgent(server, admin.token, { role: 'agent' });
    const res = await api(server, admin.token).patch(`/api/v1/agents/${ag.id}`, { active: false });
    assert.equal(res.status, 200, res.text);
    assert.equal(res.json.active, false);
    const li = await api(server).post(LOGIN, { email: ag.email, password: ag.password });
    expectError(li, 401);
    expectError(await api(server, ag.token).get('/api/v1/auth/me'), 401);
    // Re-activated, the agent logs in again.
    const re = await api(server, admin.token).patch(`/api/v1/agents/${ag.id}`, { active: true });
    assert.equal(re.status, 200, re.text);
    await login(server, ag.email, ag.password);
  });

  test('agents created over REST: generated password returned once, audited', async () => {
    const before = Number(sql(server, "SELECT COUNT(*) FROM audit_log WHERE object_type = 'agent'")[0][0]);
    const res = await api(server, admin.token).post('/api/v1/agents', {
      email: 'rest-agent@example.com', name: 'Rest Agent', role: 'agent',
      skills: [{ name: 'billing', level: 7 }], capacity: { chat: 3, email: 10, sms: 5 },
    });
    assert.equal(res.status, 201, res.text);
    assert.equal(typeof res.json.password, 'string');
    await login(server, 'rest-agent@example.com', res.json.password);
    const got = await api(server, admin.token).get(`/api/v1/agents/${res.json.id}`);
    assert.equal(got.status, 200, got.text);
    assert.equal(got.json.password, undefined, 'password shown only once');
    assert.deepEqual(got.json.skills, [{ name: 'billing', level: 7 }]);
    assert.deepEqual(got.json.capacity, { chat: 3, email: 10, sms: 5 });
    const after = Number(sql(server, "SELECT COUNT(*) FROM audit_log WHERE object_type = 'agent'")[0][0]);
    assert.equal(after, before + 1);
    const [[pwInAudit]] = sql(server, `SELECT COUNT(*) FROM audit_log WHERE after_json LIKE '%${res.json.password}%'
      OR after_json LIKE '%argon2%'`);
    assert.equal(pwInAudit, '0', 'audit_log must not hold passwords or hashes');
  });
});

test.describe('login throttling', () => {
  let server;

  test.before(async () => {
    server = await startServer({
      env: { SWITCHBOARD_AUTH_LOGIN_MAX_FAILURES: '3', SWITCHBOARD_AUTH_LOGIN_MAX_IP: '8' },
    });
    await bootstrapAdmin(server);
    await bootstrapAdmin(server, { email: 'other@example.com', name: 'Other', password: 'other-pass-123' });
  });
  test.after(async () => {
    if (server) {
      await server.stop();
      dropDatabase(server);
    }
  });

  test('per account: the 4th attempt after 3 failures ⇒ 429 with Retry-After, even with the right password', async () => {
    for (let i = 0; i < 3; i++) {
      expectError(await api(server).post(LOGIN, { email: 'admin@example.com', password: `wrong-${i}-password` }), 401);
    }
    const res = await api(server).post(LOGIN, { email: 'admin@example.com', password: 'admin-pass-123' });
    expectError(res, 429);
    const ra = res.headers.get('retry-after');
    assert.ok(ra !== null, 'Retry-After header missing');
    assert.match(ra, /^[0-9]+$/);
    assert.ok(Number(ra) > 0 && Number(ra) <= 900, `Retry-After ${ra}`);
    assert.equal(res.json.token, undefined);
    // The email's case does not get around it.
    expectError(await api(server).post(LOGIN, { email: 'Admin@Example.com', password: 'admin-pass-123' }), 429);
    // Another account from the same address is not locked out by this one.
    const other = await api(server).post(LOGIN, { email: 'other@example.com', password: 'other-pass-123' });
    assert.equal(other.status, 200, other.text);
  });

  test('per IP: failures across many accounts ⇒ 429 for everyone from that address', async () => {
    // 3 failures so far from this address (previous test); 8 allowed.
    let throttled = null;
    for (let i = 0; i < 10 && !throttled; i++) {
      const res = await api(server).post(LOGIN, { email: `guess${i}@example.com`, password: 'guess-password' });
      if (res.status === 429) throttled = res;
      else expectError(res, 401);
    }
    assert.ok(throttled, 'no 429 after many failures from one address');
    assert.ok(throttled.headers.get('retry-after'), 'Retry-After header missing');
    const res = await api(server).post(LOGIN, { email: 'other@example.com', password: 'other-pass-123' });
    expectError(res, 429);
  });
});
