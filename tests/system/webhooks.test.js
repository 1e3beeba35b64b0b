'use strict';
// webhooks.test.js — outbound webhooks (issue 11, point 4) against a local receiver (a node
// HTTP server on 127.0.0.1): the ping and real events arrive signed (HMAC-SHA256 over
// "timestamp.body" with the secret shown once), each event once; a receiver that fails
// gets retries with growing gaps, the delivery ends failed and the webhook is disabled with
// a reminder to the admin; a recovering receiver gets the same event id on the retry; a
// redelivery carries the same event id and body; subscriptions to loopback/private/link-
// local addresses are refused (only "localhost" is allowed, by [webhooks] allow_hosts).
const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const http = require('node:http');
const crypto = require('node:crypto');
const { startServer, bootstrapAdmin, api, sql, dropDatabase, createAgent, expectError, until } = require('./harness');

let server, admin, a, receiver, port;
const got = []; // {path, headers, body, at}
const modes = new Map(); // path → function(count) → status

before(async () => {
  receiver = http.createServer((req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      const n = got.filter((g) => g.path === req.url).length;
      got.push({ path: req.url, headers: req.headers, body, at: Date.now() });
      const mode = modes.get(req.url);
      res.writeHead(mode ? mode(n) : 200, { 'Content-Type': 'text/plain' });
      res.end('ok');
    });
  });
  await new Promise((r) => receiver.listen(0, '127.0.0.1', r));
  port = receiver.address().port;
  server = await startServer({
    env: {
      SWITCHBOARD_ROUTING_ENABLED: 'no',
      SWITCHBOARD_WEBHOOKS_ALLOW_HOSTS: 'localhost',
      SWITCHBOARD_WEBHOOKS_RETRY_BASE_MS: '400',
      SWITCHBOARD_WEBHOOKS_MAX_ATTEMPTS: '3',
      SWITCHBOARD_WEBHOOKS_DISABLE_AFTER: '3',
      SWITCHBOARD_WEBHOOKS_TIMEOUT_MS: '3000',
      SWITCHBOARD_CRM_SETTLE_MS: '100',
    },
  });
  admin = await bootstrapAdmin(server);
  a = api(server, admin.token);
});

after(async () => {
  if (server) await server.stop();
  if (server) dropDatabase(server);
  if (receiver) receiver.close();
});

const url = (path) => `http://localhost:${port}${path}`;
const at = (path) => got.filter((g) => g.path === path);

function verify(g, secret) {
  const ts = g.headers['switchboard-timestamp'];
  const expected = 'v1=' + crypto.createHmac('sha256', secret).update(`${ts}.${g.body}`).digest('hex');
  assert.equal(g.headers['switchboard-signature'], expected, 'the signature verifies');
  assert.ok(Math.abs(Date.now() / 1000 - Number(ts)) < 300, 'a fresh timestamp');
  const wrong = 'v1=' + crypto.createHmac('sha256', secret).update(`${ts}.${g.body} `).digest('hex');
  assert.notEqual(g.headers['switchboard-signature'], wrong, 'a changed body would not verify');
  const body = JSON.parse(g.body);
  assert.equal(g.headers['switchboard-event-id'], body.id);
  assert.equal(g.headers['switchboard-event'], body.type);
  assert.equal(g.headers['content-type'], 'application/json');
  return body;
}

test('events arrive once each, signed; the ping first', async () => {
  const w = await a.post('/api/v1/webhooks', {
    url: url('/erp'), description: 'ERP 同步',
    events: ['customer.created', 'ticket.created', 'ticket.solved', 'deal.stage_changed', 'deal.won'],
  });
  assert.equal(w.status, 201, w.text);
  assert.match(w.json.secret, /^whsec_[A-Za-z0-9_-]{32}$/);
  const secret = w.json.secret;
  assert.equal((await a.get(`/api/v1/webhooks/${w.json.id}`)).json.secret, undefined, 'the secret is shown once');
  assert.ok(!(await a.get('/api/v1/webhooks')).text.includes(secret));

  await until(() => at('/erp').length >= 1, 15000, 'the ping');
  const ping = verify(at('/erp')[0], secret);
  assert.equal(ping.type, 'webhook.ping');
  assert.equal(ping.data.webhook_id, w.json.id);

  const cust = (await a.post('/api/v1/customers', { name: '宁波港务 采购部', email: 'cg@nbport.example' })).json;
  const t = (await a.post('/api/v1/tickets', { customer_id: cust.id, channel: 'email', subject: '发票抬头更正' })).json;
  assert.equal((await a.patch(`/api/v1/tickets/${t.id}`, { status: 'open' })).status, 200);
  assert.equal((await a.patch(`/api/v1/tickets/${t.id}`, { status: 'solved' })).status, 200);
  assert.equal((await a.patch(`/api/v1/tickets/${t.id}`, { priority: 'high' })).status, 200, 'not solved again');
  const stages = (await a.get('/api/v1/pipeline-stages')).json.items;
  const won = stages.find((s) => s.kind === 'won');
  const deal = (await a.post('/api/v1/deals', { customer_id: cust.id, title: '年度框架合同', amount: 120000, stage_id: stages[0].id })).json;
  assert.equal((await a.patch(`/api/v1/deals/${deal.id}`, { stage_id: won.id })).status, 200);

  await until(() => at('/erp').length >= 7, 20000, 'seven deliveries');
  await new Promise((r) => setTimeout(r, 1500)); // nothing more may come
  const bodies = at('/erp').slice(1).map((g) => verify(g, secret));
  const types = bodies.map((b) => b.type).sort();
  // a new deal enters its first stage (a stage change too), then moves to won
  assert.deepEqual(types, ['customer.created', 'deal.stage_changed', 'deal.stage_changed', 'deal.won', 'ticket.created',
    'ticket.solved'].sort());
  assert.equal(new Set(bodies.map((b) => b.id)).size, bodies.length, 'distinct event ids');
  const solved = bodies.find((b) => b.type === 'ticket.solved');
  assert.equal(solved.data.ticket.id, t.id);
  assert.equal(solved.data.ticket.status, 'solved');
  assert.equal(bodies.find((b) => b.type === 'customer.created').data.customer_id, cust.id);
  assert.equal(bodies.find((b) => b.type === 'deal.won').data.deal.id, deal.id);

  const list = (await a.get(`/api/v1/webhooks/${w.json.id}/deliveries`)).json;
  assert.equal(list.total, 7);
  assert.ok(list.items.every((d) => d.state === 'delivered' && d.attempts === 1 && d.last_status === 200), JSON.stringify(list.items));
  const hook = (await a.get(`/api/v1/webhooks/${w.json.id}`)).json;
  assert.equal(hook.last_status, 200);
  assert.equal(hook.failure_count, 0);

  // a redelivery is the same event: same id, same body, a later attempt
  const first = list.items.find((d) => d.event === 'ticket.created');
  const original = at('/erp').find((g) => g.headers['switchboard-event-id'] === first.event_id);
  const r = await a.post(`/api/v1/webhook-deliveries/${first.id}/redeliver`);
  assert.equal(r.status, 202, r.text);
  await until(() => at('/erp').length >= 8, 15000, 'the redelivery');
  const again = at('/erp')[7];
  verify(again, secret);
  assert.equal(again.headers['switchboard-event-id'], first.event_id);
  assert.equal(again.headers['switchboard-delivery'], original.headers['switchboard-delivery']);
  assert.equal(again.body, original.body, 'byte-identical body');
  assert.equal(Number(again.headers['switchboard-attempt']), 2);
});

test('lead.converted and campaign.started reach their subscribers', async () => {
  const w = (await a.post('/api/v1/webhooks', { url: url('/growth'), events: ['lead.converted', 'campaign.started'] })).json;
  await until(() => at('/growth').length >= 1, 15000, 'the ping');
  const lead = (await a.post('/api/v1/leads', { name: '展会线索 王经理', email: 'wang@expo.example' })).json;
  const conv = await a.post(`/api/v1/leads/${lead.id}/convert`, {});
  assert.equal(conv.status, 200, conv.text);
  const seg = (await a.post('/api/v1/segments', { name: 'growth seg', rule: 'has:email' })).json;
  const tpl = (await a.post('/api/v1/templates', { name: 'growth tpl', channel: 'email', subject: 'Hi', text: 'Hello' })).json;
  const c = (await a.post('/api/v1/campaigns', { name: '开春活动', segment_id: seg.id, template_id: tpl.id, channel: 'email' })).json;
  assert.equal((await a.post(`/api/v1/campaigns/${c.id}/start`)).status, 200);
  await until(() => at('/growth').length >= 3, 15000, 'both events');
  const bodies = at('/growth').slice(1).map((g) => verify(g, w.secret));
  const converted = bodies.find((b) => b.type === 'lead.converted');
  assert.equal(converted.data.lead.id, lead.id);
  assert.equal(converted.data.customer_id, conv.json.customer.id);
  assert.equal(bodies.find((b) => b.type === 'campaign.started').data.campaign_id, c.id);
  assert.equal((await a.del(`/api/v1/webhooks/${w.id}`)).status, 204);
});

test('a receiver that recovers gets the same event id on the retry', async () => {
  modes.set('/flaky', (n) => (n === 0 ? 503 : 200));
  const w = (await a.post('/api/v1/webhooks', { url: url('/flaky'), events: ['*'] })).json;
  await until(() => at('/flaky').length >= 2, 15000, 'a retry after the 503');
  const [one, two] = at('/flaky');
  assert.equal(one.headers['switchboard-event-id'], two.headers['switchboard-event-id']);
  assert.equal(one.body, two.body);
  assert.equal(Number(two.headers['switchboard-attempt']), 2);
  verify(two, w.secret);
  await until(async () => (await a.get(`/api/v1/webhooks/${w.id}/deliveries`)).json.items[0].state === 'delivered', 10000, 'delivered');
  const hook = (await a.get(`/api/v1/webhooks/${w.id}`)).json;
  assert.equal(hook.failure_count, 0, 'a success resets the count');
  assert.equal(hook.active, true);
  assert.equal((await a.del(`/api/v1/webhooks/${w.id}`)).status, 204);
});

test('a failing receiver gets retries with growing gaps, then the webhook is disabled and the admin told', async () => {
  modes.set('/broken', () => 500);
  const w = (await a.post('/api/v1/webhooks', { url: url('/broken'), events: ['customer.created'] })).json;
  await until(() => at('/broken').length >= 3, 20000, 'three attempts');
  await until(async () => (await a.get(`/api/v1/webhooks/${w.id}`)).json.active === false, 10000, 'disabled');
  const tries = at('/broken');
  assert.equal(new Set(tries.map((g) => g.headers['switchboard-event-id'])).size, 1, 'one event, retried');
  assert.deepEqual(tries.map((g) => Number(g.headers['switchboard-attempt'])), [1, 2, 3]);
  const gap1 = tries[1].at - tries[0].at, gap2 = tries[2].at - tries[1].at;
  assert.ok(gap1 >= 350, `first retry after the base delay (${gap1} ms)`);
  assert.ok(gap2 >= 700, `the second after double (${gap2} ms)`);
  const hook = (await a.get(`/api/v1/webhooks/${w.id}`)).json;
  assert.ok(hook.disabled_at);
  assert.match(hook.disabled_reason, /failed/);
  assert.equal(hook.failure_count, 3);
  assert.equal(hook.last_status, 500);
  const d = (await a.get(`/api/v1/webhooks/${w.id}/deliveries`)).json.items[0];
  assert.equal(d.state, 'failed');
  assert.equal(d.attempts, 3);
  assert.match(d.last_error, /500/);
  const notes = (await a.get('/api/v1/reminders')).json.items.filter((x) => x.kind === 'webhook_disabled');
  assert.equal(notes.length, 1, 'the admin has a notice');
  assert.match(notes[0].message, new RegExp(`Webhook #${w.id}`));

  // disabled: new events are not queued for it; nothing more arrives
  await a.post('/api/v1/customers', { name: '停用期间的客户' });
  await new Promise((r) => setTimeout(r, 1500));
  assert.equal(at('/broken').length, 3);

  // fixed and enabled again: the count starts afresh and a redelivery goes through
  modes.set('/broken', () => 204);
  const on = await a.patch(`/api/v1/webhooks/${w.id}`, { active: true });
  assert.equal(on.status, 200, on.text);
  assert.equal(on.json.failure_count, 0);
  assert.equal(on.json.disabled_at, null);
  assert.equal((await a.post(`/api/v1/webhook-deliveries/${d.id}/redeliver`)).status, 202);
  await until(() => at('/broken').length >= 4, 15000, 'the redelivery');
  assert.equal(at('/broken')[3].headers['switchboard-event-id'], tries[0].headers['switchboard-event-id']);
});

test('private, loopback and link-local targets are refused; bad subscriptions change nothing', async () => {
  const [[before_]] = sql(server, 'SELECT COUNT(*) FROM webhooks');
  for (const target of [`http://127.0.0.1:${port}/x`, 'http://10.1.2.3/hook', 'http://192.168.0.10/hook',
    'http://172.16.5.4:8080/', 'http://169.254.169.254/latest/meta-data', 'http://[::1]:8080/', 'http://0.0.0.0/',
    'http://[fd00::1]/', 'http://[::ffff:127.0.0.1]/', 'http://100.64.0.1/']) {
    const r = await a.post('/api/v1/webhooks', { url: target, events: ['ticket.created'] });
    expectError(r, 422, 'validation_failed');
    assert.match(r.json.error.fields.url, /private|loopback/, `${target}: ${r.text}`);
  }
  for (const target of ['ftp://localhost/x', 'not a url', 'file:///etc/passwd', 'gopher://localhost:70/']) {
    const r = await a.post('/api/v1/webhooks', { url: target, events: ['ticket.created'] });
    expectError(r, 422, 'validation_failed');
    assert.ok(r.json.error.fields.url, target);
  }
  let r = await a.post('/api/v1/webhooks', { url: url('/x'), events: ['ticket.exploded'] });
  expectError(r, 422, 'validation_failed');
  assert.ok(r.json.error.fields.events);
  r = await a.post('/api/v1/webhooks', { url: url('/x'), events: [] });
  expectError(r, 422, 'validation_failed');
  r = await a.post('/api/v1/webhooks', { url: url('/x') });
  expectError(r, 422, 'validation_failed');
  const w = (await a.post('/api/v1/webhooks', { url: url('/moved'), events: ['ticket.created'] })).json;
  r = await a.patch(`/api/v1/webhooks/${w.id}`, { url: 'http://10.0.0.8/' });
  expectError(r, 422, 'validation_failed');
  assert.equal((await a.get(`/api/v1/webhooks/${w.id}`)).json.url, url('/moved'));
  const manager = await createAgent(server, admin.token, { role: 'manager' });
  expectError(await api(server, manager.token).get('/api/v1/webhooks'), 403, 'forbidden');
  expectError(await api(server, manager.token).post('/api/v1/webhooks', { url: url('/m'), events: ['*'] }), 403, 'forbidden');
  const [[after_]] = sql(server, 'SELECT COUNT(*) FROM webhooks');
  assert.equal(Number(after_), Number(before_) + 1, 'only the valid one was created');
  assert.equal((await a.del(`/api/v1/webhooks/${w.id}`)).status, 204);
  expectError(await a.get(`/api/v1/webhooks/${w.id}`), 404, 'not_found');
});

test('kill -9 mid-delivery: after a restart the event is delivered, with the same id', async () => {
  const held = [];
  modes.set('/hang', () => 200);
  const hang = http.createServer((req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      held.push({ headers: req.headers, body: Buffer.concat(chunks).toString('utf8') });
      if (held.length > 1) { res.writeHead(200); res.end('ok'); } // the first one never answers
    });
  });
  await new Promise((r) => hang.listen(0, '127.0.0.1', r));
  const env = {
    SWITCHBOARD_ROUTING_ENABLED: 'no', SWITCHBOARD_WEBHOOKS_ALLOW_HOSTS: 'localhost',
    SWITCHBOARD_WEBHOOKS_TIMEOUT_MS: '1500', SWITCHBOARD_WEBHOOKS_RETRY_BASE_MS: '200', SWITCHBOARD_CRM_SETTLE_MS: '100',
  };
  const first = await startServer({ env });
  let second;
  try {
    const boss = await bootstrapAdmin(first);
    const w = (await api(first, boss.token).post('/api/v1/webhooks', {
      url: `http://localhost:${hang.address().port}/hook`, events: ['customer.created'],
    })).json;
    await until(() => held.length >= 1, 15000, 'the ping is in flight');
    await first.kill9();
    const [[state]] = sql(first, `SELECT state FROM webhook_deliveries WHERE webhook_id = ${w.id}`);
    assert.equal(state, 'sending', 'killed mid-attempt');
    second = await startServer({ env, dbName: first.dbName, migrate: false });
    await until(() => held.length >= 2, 20000, 'delivered after the restart, once the lease ran out');
    assert.equal(held[1].headers['switchboard-event-id'], held[0].headers['switchboard-event-id']);
    assert.equal(held[1].body, held[0].body);
    const b = api(second, boss.token);
    await until(async () => (await b.get(`/api/v1/webhooks/${w.id}/deliveries`)).json.items[0].state === 'delivered',
      10000, 'settled');
    const d = (await b.get(`/api/v1/webhooks/${w.id}/deliveries`)).json.items[0];
    assert.equal(d.attempts, 2);
  } finally {
    if (second) await second.stop();
    else await first.stop();
    dropDatabase(first);
    hang.close();
  }
});
