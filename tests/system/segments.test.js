'use strict';
// segments.test.js — saved segments and POST /segments/preview (issue 9): AND / OR / NOT /
// parentheses over tags, stages, built-in and custom fields; injection attempts in values
// and keys stay data; syntax errors point at the position and change nothing; the preview
// counts and samples only customers in the caller's scope, never merged ones.
const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const {
  startServer, bootstrapAdmin, api, sql, dropDatabase, createAgent, counts, expectError,
} = require('./harness');

let server, admin, a, marketer, m, sales;
const id = {};

before(async () => {
  server = await startServer();
  admin = await bootstrapAdmin(server);
  a = api(server, admin.token);
  marketer = await createAgent(server, admin.token, { role: 'marketer' });
  m = api(server, marketer.token);
  const team = (await a.post('/api/v1/teams', { name: 'Seg sales' })).json;
  sales = await createAgent(server, admin.token, { role: 'sales', team_id: team.id });
  assert.equal((await a.post('/api/v1/field-defs', { key: 'coupon', label: '优惠券', type: 'text' })).status, 201);
  assert.equal((await a.post('/api/v1/field-defs', { key: 'spend', label: '消费', type: 'number' })).status, 201);
  const mk = async (k, body) => {
    const r = await a.post('/api/v1/customers', body);
    assert.equal(r.status, 201, r.text);
    id[k] = r.json.id;
  };
  await mk('vip_sh', { name: '上海VIP', email: 'vip.sh@example.com', region: '上海', stage: 'won', tags: ['VIP', '老客户'], attrs: { coupon: 'SAVE10', spend: 12000 } });
  await mk('vip_bj', { name: '北京VIP', phone: '13800000001', region: '北京', stage: 'maintain', tags: ['VIP'], attrs: { spend: 300 }, owner_id: sales.id });
  await mk('new_sh', { name: '上海新客', email: 'new.sh@example.com', region: '上海', stage: 'potential', attrs: { coupon: "x' OR 1=1 --" } });
  await mk('churn', { name: 'Churned Co', email: 'gone@example.com', stage: 'churned', tags: ['老客户'] });
  await mk('merged', { name: '已合并', email: 'merged@example.com', region: '上海', tags: ['VIP'] });
  assert.equal((await a.post(`/api/v1/customers/${id.vip_sh}/merge`, { from_id: id.merged })).status, 200);
});

after(async () => {
  if (server) {
    await server.stop();
    dropDatabase(server);
  }
});

const preview = (who, rule) => who.post('/api/v1/segments/preview', { rule });
const ids = (res) => res.json.sample.map((c) => c.id).sort((x, y) => x - y);
const want = (...keys) => keys.map((k) => id[k]).sort((x, y) => x - y);

test('AND / OR / NOT / parentheses over tags, stages, fields and custom fields', async () => {
  const cases = [
    ['tag:VIP', ['vip_sh', 'vip_bj']],
    ['tag:VIP AND region = 上海', ['vip_sh']],
    ['tag:VIP OR stage:churned', ['vip_sh', 'vip_bj', 'churn']],
    ['tag:老客户 AND NOT stage:churned', ['vip_sh']],
    ['NOT tag:VIP', ['new_sh', 'churn']],
    ['(region = 上海 OR region = 北京) AND attr.spend >= 1000', ['vip_sh']],
    ['region = 上海 OR region = 北京 AND attr.spend >= 1000', ['vip_sh', 'new_sh']], // AND binds tighter
    ['attr.coupon = SAVE10', ['vip_sh']],
    ['has:phone', ['vip_bj']],
    ['has:email AND NOT has:phone AND stage != churned', ['vip_sh', 'new_sh']],
    ['name ~ VIP', ['vip_sh', 'vip_bj']],
  ];
  for (const [rule, keys] of cases) {
    const r = await preview(m, rule);
    assert.equal(r.status, 200, `${rule}: ${r.text}`);
    assert.deepEqual(ids(r), want(...keys), rule);
    assert.equal(r.json.count, keys.length, rule);
  }
  const s = (await preview(m, 'tag:VIP AND region = 上海')).json.sample[0];
  assert.deepEqual([s.name, s.email, s.region], ['上海VIP', 'vip.sh@example.com', '上海']);
});

test('injection attempts in values and keys stay data', async () => {
  const before = counts(server, ['customers', 'segments', 'customer_tags']);
  for (const rule of ['name = "x\' OR \'1\'=\'1"', 'attr.coupon = "x\' OR 1=1 --"', 'tag:"VIP\' OR 1=1 -- "',
    'region = "上海\\" OR 1=1 --"', 'name ~ "%"', 'name ~ "_"']) {
    const r = await preview(m, rule);
    assert.equal(r.status, 200, `${rule}: ${r.text}`);
    const expected = rule.startsWith('attr.coupon') ? 1 : 0; // the stored value is exactly that text
    assert.equal(r.json.count, expected, rule);
  }
  for (const rule of ["attr.x'y = 1", 'attr.coupon; DROP TABLE customers = 1', 'region = 1; DELETE FROM customers']) {
    const r = await preview(m, rule);
    assert.ok(r.status === 422 || (r.status === 200 && r.json.count === 0), `${rule}: ${r.status} ${r.text}`);
  }
  assert.deepEqual(counts(server, ['customers', 'segments', 'customer_tags']), before);
});

test('syntax errors name the position and the expectation; a saved segment keeps only valid rules', async () => {
  const bad = [
    ['tag:VIP AND', /^at 11: /],
    ['(region = 上海', /^at \d+: .*\)/],
    ['attr.nope = 1', /^at 0: .*attr\.nope/],
    ['stage:vip', /^at 6: unknown stage 'vip'/],
    ['region >< 上海', /^at 7: /],
  ];
  for (const [rule, re] of bad) {
    const e = expectError(await preview(m, rule), 422, 'validation_failed');
    assert.match(e.fields.rule, re, rule);
  }
  const before = counts(server, ['segments']);
  expectError(await m.post('/api/v1/segments', { name: '坏规则', rule: 'tag:VIP AND' }), 422, 'validation_failed');
  assert.deepEqual(counts(server, ['segments']), before);
  const e = expectError(await m.post('/api/v1/segments', { rule: 'tag:VIP', extra: 1 }), 422, 'validation_failed');
  assert.deepEqual(Object.keys(e.fields).sort(), ['extra', 'name']);
});

test('saved segments: create, read, rename, change the rule, 409 on a taken name, delete, audited', async () => {
  const c = await m.post('/api/v1/segments', { name: '上海 VIP', rule: 'tag:VIP AND region = 上海' });
  assert.equal(c.status, 201, c.text);
  assert.equal((await m.get(`/api/v1/segments/${c.json.id}`)).json.rule, 'tag:VIP AND region = 上海');
  const d = expectError(await m.post('/api/v1/segments', { name: '上海 VIP', rule: 'tag:VIP' }), 409, 'duplicate');
  assert.equal(d.field, 'name');
  const u = await m.patch(`/api/v1/segments/${c.json.id}`, { rule: 'tag:VIP' });
  assert.equal(u.status, 200);
  assert.equal(u.json.rule, 'tag:VIP');
  expectError(await m.patch(`/api/v1/segments/${c.json.id}`, { rule: 'tag:' }), 422, 'validation_failed');
  assert.equal((await m.get(`/api/v1/segments/${c.json.id}`)).json.rule, 'tag:VIP');
  assert.ok((await m.get('/api/v1/segments')).json.items.some((x) => x.id === c.json.id));
  assert.equal((await m.del(`/api/v1/segments/${c.json.id}`)).status, 204);
  expectError(await m.get(`/api/v1/segments/${c.json.id}`), 404);
  const audit = sql(server, `SELECT action FROM audit_log WHERE object_type = 'segment' AND object_id = ${c.json.id} ORDER BY id`);
  assert.deepEqual(audit.map((x) => x[0]), ['segment.created', 'segment.updated', 'segment.deleted']);
  // service agents do not work with segments
  const agent = await createAgent(server, admin.token, { role: 'agent' });
  expectError(await api(server, agent.token).get('/api/v1/segments'), 403);
});

test('the preview stays inside the caller\'s data scope', async () => {
  const s = api(server, sales.token);
  const r = await preview(s, 'tag:VIP');
  assert.equal(r.status, 200);
  assert.deepEqual(ids(r), want('vip_bj'));
  assert.equal(r.json.count, 1);
});
