'use strict';
// mailboxes.test.js — the support mailboxes resource (e-mail channel, point 1): admin
// CRUD with validation, the IMAP secret is write-only, roles, audit, and
// [mailbox.NAME] config sections upserted when serve starts.
const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { startServer, bootstrapAdmin, api, sql, dropDatabase, createAgent, expectError, counts } = require('./harness');

let server, admin, a;

before(async () => {
  server = await startServer({
    env: {
      SWITCHBOARD_MAILBOX_DEMO_HOST: '127.0.0.1', SWITCHBOARD_MAILBOX_DEMO_PORT: '31143',
      SWITCHBOARD_MAILBOX_DEMO_TLS: 'none', SWITCHBOARD_MAILBOX_DEMO_USER: 'support@example.com',
      SWITCHBOARD_MAILBOX_DEMO_PASSWORD: 'config-secret', SWITCHBOARD_MAILBOX_DEMO_ADDRESS: 'Support@Example.com',
    },
  });
  admin = await bootstrapAdmin(server);
  a = api(server, admin.token);
});

after(async () => {
  if (server) { await server.stop(); dropDatabase(server); }
});

test('config mailboxes are upserted at start; the secret never comes back', async () => {
  const list = await a.get('/api/v1/mailboxes');
  assert.equal(list.status, 200, list.text);
  const demo = list.json.items.find((m) => m.name === 'demo');
  assert.ok(demo, list.text);
  assert.equal(demo.source, 'config');
  assert.equal(demo.imap_port, 31143);
  assert.equal(demo.imap_tls, 'none');
  assert.equal(demo.address, 'support@example.com');
  assert.equal(demo.has_secret, true);
  assert.ok(!list.text.includes('config-secret'), 'secret leaked in the list');
  assert.equal(sql(server, "SELECT imap_secret FROM mailboxes WHERE name = 'demo'")[0][0], 'config-secret');
});

test('create, read, update; validation names every bad field and writes nothing', async () => {
  const team = (await a.post('/api/v1/teams', { name: 'Mail team' })).json;
  const before = counts(server, ['mailboxes', 'audit_log']);
  const bad = await a.post('/api/v1/mailboxes', {
    name: 'Bad Name!', address: 'not-an-address', imap_host: 'host with spaces', imap_port: 70000, imap_tls: 'ssl3',
    imap_user: '', team_id: 999999, default_skills: 'chinese', surprise: 1,
  });
  const fields = expectError(bad, 422, 'validation_failed').fields;
  for (const k of ['name', 'address', 'imap_host', 'imap_port', 'imap_tls', 'imap_user', 'team_id', 'default_skills', 'surprise'])
    assert.ok(fields[k], `no error for ${k}: ${bad.text}`);
  assert.deepEqual(counts(server, ['mailboxes', 'audit_log']), before);

  const created = await a.post('/api/v1/mailboxes', {
    name: 'billing', address: 'billing@example.cn', imap_host: 'imap.example.cn', imap_port: 993, imap_tls: 'implicit',
    imap_user: 'billing', imap_secret: 's3cret-密码', team_id: team.id, default_skills: ['billing', '中文'],
  });
  assert.equal(created.status, 201, created.text);
  assert.equal(created.json.has_secret, true);
  assert.equal(created.json.imap_secret, undefined);
  assert.deepEqual(created.json.default_skills, ['billing', '中文']);
  assert.equal(created.json.folder, 'INBOX');
  assert.equal(created.json.source, 'api');
  const got = await a.get(`/api/v1/mailboxes/${created.json.id}`);
  assert.equal(got.status, 200);
  assert.ok(!got.text.includes('s3cret'));

  const dup = await a.post('/api/v1/mailboxes', { name: 'billing', address: 'b2@example.cn', imap_host: 'h', imap_user: 'u' });
  expectError(dup, 409, 'duplicate');

  const upd = await a.patch(`/api/v1/mailboxes/${created.json.id}`, { folder: 'Support/Inbox', enabled: false, team_id: null });
  assert.equal(upd.status, 200, upd.text);
  assert.equal(upd.json.folder, 'Support/Inbox');
  assert.equal(upd.json.enabled, false);
  assert.equal(upd.json.team_id, null);
  assert.equal(upd.json.has_secret, true, 'a PATCH without imap_secret keeps it');
  expectError(await a.get('/api/v1/mailboxes/987654'), 404);

  const audit = sql(server, `SELECT action, after_json FROM audit_log WHERE object_type = 'mailbox' AND object_id = ${created.json.id} ORDER BY id`);
  assert.deepEqual(audit.map((r) => r[0]), ['mailbox.created', 'mailbox.updated']);
  assert.ok(audit.every((r) => !r[1].includes('s3cret')), 'secret in the audit log');
});

test('roles: managers read, only admins write, agents are refused', async () => {
  const mgr = await createAgent(server, admin.token, { role: 'manager' });
  const agent = await createAgent(server, admin.token, { role: 'agent' });
  assert.equal((await api(server, mgr.token).get('/api/v1/mailboxes')).status, 200);
  expectError(await api(server, mgr.token).post('/api/v1/mailboxes', { name: 'x', address: 'x@example.com', imap_host: 'h', imap_user: 'u' }), 403);
  expectError(await api(server, agent.token).get('/api/v1/mailboxes'), 403);
});
