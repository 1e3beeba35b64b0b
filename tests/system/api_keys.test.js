'use strict';
// api_keys.test.js — API keys for integrations (issue 11, point 3): created by admins with a
// role-like scope, shown once, stored hashed, usable as Bearer tokens, audited as 'api',
// rate-limited (429 + Retry-After), last use recorded, revocable, expiring; bad input
// changes nothing; the key's agent is no person (not listed, cannot log in).
const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const crypto = require('node:crypto');
const { startServer, bootstrapAdmin, api, sql, dropDatabase, createAgent, expectError, counts } = require('./harness');

let server, admin, a;

before(async () => {
  server = await startServer({ env: { SWITCHBOARD_ROUTING_ENABLED: 'no' } });
  admin = await bootstrapAdmin(server);
  a = api(server, admin.token);
});

after(async () => {
  if (server) await server.stop();
  if (server) dropDatabase(server);
});

async function newKey(body) {
  const r = await a.post('/api/v1/api-keys', body);
  assert.equal(r.status, 201, r.text);
  return r.json;
}

test('a key is shown once, stored as a hash, and acts with its role', async () => {
  const team = (await a.post('/api/v1/teams', { name: 'ERP 集成' })).json;
  const k = await newKey({ name: 'ERP sync', role: 'sales', team_id: team.id });
  assert.match(k.key, /^sbk_[A-Za-z0-9_-]{43}$/);
  assert.equal(k.prefix, k.key.slice(0, 12));
  assert.equal(k.role, 'sales');
  assert.equal(k.team_id, team.id);
  assert.equal(k.rate_per_minute, 600);
  assert.equal(k.last_used_at, null);

  // never again: not in the list, not in GET, not in the database
  const list = await a.get('/api/v1/api-keys');
  assert.equal(list.status, 200);
  const listed = list.json.items.find((x) => x.id === k.id);
  assert.ok(listed);
  assert.equal(listed.key, undefined);
  assert.ok(!list.text.includes(k.key.slice(12)), 'the secret part is never listed');
  assert.equal((await a.get(`/api/v1/api-keys/${k.id}`)).json.key, undefined);
  const sha = crypto.createHash('sha256').update(k.key).digest('hex');
  const [[stored]] = sql(server, `SELECT HEX(key_hash) FROM api_keys WHERE id = ${k.id}`);
  assert.equal(stored.toLowerCase(), sha);
  const dump = sql(server, `SELECT * FROM api_keys WHERE id = ${k.id}`).flat().join(' ');
  assert.ok(!dump.includes(k.key.slice(4)), 'no column holds the key');

  // the key works as a Bearer token, as a seller
  const erp = api(server, k.key);
  const me = await erp.get('/api/v1/auth/me');
  assert.equal(me.status, 200, me.text);
  assert.equal(me.json.role, 'sales');
  const cust = await erp.post('/api/v1/customers', { name: '华东贸易有限公司', email: 'buyer@huadong.example' });
  assert.equal(cust.status, 201, cust.text);
  assert.equal(cust.json.owner_id, me.json.id, 'a seller key owns what it creates');
  const [[actorType, actorId]] = sql(server,
    `SELECT actor_type, actor_id FROM audit_log WHERE action = 'customer.created' AND object_id = ${cust.json.id}`);
  assert.equal(actorType, 'api');
  assert.equal(Number(actorId), me.json.id);
  expectError(await erp.get('/api/v1/audit'), 403, 'forbidden');
  expectError(await erp.post('/api/v1/api-keys', { name: 'escalate', role: 'admin' }), 403, 'forbidden');

  // last use recorded (time and address)
  const used = (await a.get(`/api/v1/api-keys/${k.id}`)).json;
  assert.ok(used.last_used_at, 'last use recorded');
  assert.equal(used.last_used_ip, '127.0.0.1');

  // the key's agent is no person: not listed, cannot log in
  const agents = (await a.get('/api/v1/agents?per_page=200')).json.items;
  assert.ok(!agents.some((x) => x.id === me.json.id), 'integration agents are not listed');
  expectError(await a.get(`/api/v1/agents/${me.json.id}`), 404, 'not_found');
  const [[email]] = sql(server, `SELECT email FROM agents WHERE id = ${me.json.id}`);
  expectError(await api(server).post('/api/v1/auth/login', { email, password: '!' }), 401, 'invalid_credentials');
});

test('revoked and expired keys answer 401; a wrong key too', async () => {
  const k = await newKey({ name: 'Website', role: 'marketer' });
  const web = api(server, k.key);
  assert.equal((await web.get('/api/v1/segments')).status, 200);
  assert.equal((await a.del(`/api/v1/api-keys/${k.id}`)).status, 204);
  expectError(await web.get('/api/v1/segments'), 401, 'unauthorized');
  assert.equal((await a.del(`/api/v1/api-keys/${k.id}`)).status, 204, 'revoking twice is harmless');
  const revoked = (await a.get(`/api/v1/api-keys/${k.id}`)).json;
  assert.ok(revoked.revoked_at);
  const [[actions]] = sql(server, `SELECT COUNT(*) FROM audit_log WHERE action = 'api_key.revoked' AND object_id = ${k.id}`);
  assert.equal(Number(actions), 2);

  const e = await newKey({ name: 'Short-lived', role: 'agent', expires_at: '2099-01-01T00:00:00Z' });
  assert.equal((await api(server, e.key).get('/api/v1/auth/me')).status, 200);
  sql(server, `UPDATE api_keys SET expires_at = NOW(3) - INTERVAL 1 SECOND WHERE id = ${e.id}`);
  expectError(await api(server, e.key).get('/api/v1/auth/me'), 401, 'unauthorized');

  const forged = `sbk_${crypto.randomBytes(32).toString('base64url')}`;
  expectError(await api(server, forged).get('/api/v1/auth/me'), 401, 'unauthorized');
  expectError(await api(server, e.key.slice(0, -1)).get('/api/v1/auth/me'), 401, 'unauthorized');
});

test('over its rate a key gets 429 with Retry-After; other keys are unaffected', async () => {
  const k = await newKey({ name: 'Busy ERP', role: 'agent', rate_per_minute: 5 });
  const other = await newKey({ name: 'Quiet ERP', role: 'agent', rate_per_minute: 5 });
  const busy = api(server, k.key);
  for (let i = 0; i < 5; i++) assert.equal((await busy.get('/api/v1/auth/me')).status, 200, `request ${i + 1}`);
  const r = await busy.get('/api/v1/auth/me');
  expectError(r, 429, 'rate_limited');
  const wait = Number(r.headers.get('retry-after'));
  assert.ok(wait >= 1 && wait <= 60, `Retry-After ${wait}`);
  assert.equal((await api(server, other.key).get('/api/v1/auth/me')).status, 200);
  assert.equal((await a.get('/api/v1/auth/me')).status, 200, 'sessions are not rate-limited by keys');
});

test('bad input is refused with every field named and creates nothing', async () => {
  const before_ = counts(server, ['api_keys', 'agents', 'audit_log']);
  let r = await a.post('/api/v1/api-keys', { role: 'overlord', rate_per_minute: 0, expires_at: 'tomorrow', team_id: 999999, extra: 1 });
  expectError(r, 422, 'validation_failed');
  for (const f of ['name', 'role', 'rate_per_minute', 'expires_at', 'team_id', 'extra']) assert.ok(r.json.error.fields[f], `${f}: ${r.text}`);
  r = await a.post('/api/v1/api-keys', { name: 'Past', role: 'agent', expires_at: '2001-01-01T00:00:00Z' });
  expectError(r, 422, 'validation_failed');
  assert.ok(r.json.error.fields.expires_at);
  r = await a.post('/api/v1/api-keys', { name: 'x'.repeat(101), role: 'agent' });
  expectError(r, 422, 'validation_failed');
  const agent = await createAgent(server, admin.token, { role: 'manager' });
  expectError(await api(server, agent.token).post('/api/v1/api-keys', { name: 'mine', role: 'admin' }), 403, 'forbidden');
  expectError(await api(server, agent.token).get('/api/v1/api-keys'), 403, 'forbidden');
  const after_ = counts(server, ['api_keys', 'agents', 'audit_log']);
  assert.equal(after_.api_keys, before_.api_keys);
  assert.equal(after_.agents, before_.agents + 1, 'only the manager created here');
  expectError(await a.del('/api/v1/api-keys/999999'), 404, 'not_found');
});
