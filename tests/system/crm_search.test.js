'use strict';
// crm_search.test.js — searching customers by any field with the segment language
// (GET /customers?rule=, also for the export): built-in fields, custom fields, tags and
// activity figures; syntax errors answer 422 with the position; the data scope still
// applies (a rule never reaches past it, in items, totals or the export).
const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const {
  startServer, bootstrapAdmin, api, dropDatabase, createAgent,
} = require('./harness');

let server, admin, a, sales, other;
const ids = {};

before(async () => {
  server = await startServer();
  admin = await bootstrapAdmin(server);
  a = api(server, admin.token);
  const teamA = (await a.post('/api/v1/teams', { name: 'Team A' })).json;
  const teamB = (await a.post('/api/v1/teams', { name: 'Team B' })).json;
  sales = await createAgent(server, admin.token, { role: 'sales', team_id: teamA.id });
  other = await createAgent(server, admin.token, { role: 'sales', team_id: teamB.id });
  assert.equal((await a.post('/api/v1/field-defs', { key: 'budget', label: '预算', type: 'number' })).status, 201);
  assert.equal((await a.post('/api/v1/field-defs', {
    key: 'products', label: '产品', type: 'multiselect', options: ['服务器', '存储', '网络'],
  })).status, 201);
  const mk = async (key, body) => {
    const r = await a.post('/api/v1/customers', body);
    assert.equal(r.status, 201, r.text);
    ids[key] = r.json.id;
  };
  await mk('east_big', { name: '华东大客户', region: '华东', owner_id: sales.id, tags: ['VIP'], attrs: { budget: 100000, products: ['服务器', '存储'] } });
  await mk('east_small', { name: '华东小客户', region: '华东', owner_id: sales.id, attrs: { budget: 500, products: ['网络'] } });
  await mk('north', { name: '华北客户', region: '华北', owner_id: other.id, tags: ['VIP'], attrs: { budget: 900000 } });
  await mk('nobody', { name: 'No region', attrs: {} });
});

after(async () => {
  if (server) {
    await server.stop();
    dropDatabase(server);
  }
});

const q = (who, rule, extra = '') => who.get(`/api/v1/customers?per_page=200&rule=${encodeURIComponent(rule)}${extra}`);
const names = (res) => res.json.items.map((c) => c.id).sort((x, y) => x - y);
const idsOf = (...keys) => keys.map((k) => ids[k]).sort((x, y) => x - y);

test('rules over built-in fields, custom fields, tags and combinations', async () => {
  const cases = [
    ['region = 华东', ['east_big', 'east_small']],
    ['region != 华东', ['north', 'nobody']],
    ['attr.budget >= 100000', ['east_big', 'north']],
    ['attr.products = 存储', ['east_big']],
    ['tag:VIP AND NOT region = 华北', ['east_big']],
    ['(region = 华东 OR region = 华北) AND attr.budget < 1000', ['east_small']],
    ['name ~ 大客户', ['east_big']],
    ['has:email', []],
  ];
  for (const [rule, want] of cases) {
    const res = await q(a, rule);
    assert.equal(res.status, 200, `${rule}: ${res.text}`);
    assert.deepEqual(names(res), idsOf(...want), rule);
    assert.equal(res.json.total, want.length, rule);
  }
  // with the other filters
  const both = await q(a, 'attr.budget > 1000', '&tag=VIP');
  assert.deepEqual(names(both), idsOf('east_big', 'north'));
});

test('a broken rule is a 422 naming the position; SQL in the rule is data', async () => {
  const bad = await q(a, 'attr.budget >');
  assert.equal(bad.status, 422);
  assert.equal(bad.json.error.fields.rule, "at 13: expected a value after '>', found end of rule");
  const unknown = await q(a, 'attr.nope = 1');
  assert.equal(unknown.status, 422);
  assert.match(unknown.json.error.fields.rule, /attr\.nope/);
  const inj = await q(a, 'name = "x\' OR 1=1 -- "');
  assert.equal(inj.status, 200);
  assert.equal(inj.json.total, 0);
});

test('the data scope bounds every rule: items, totals and the export', async () => {
  const s = api(server, sales.token);
  const res = await q(s, 'attr.budget > 0');
  assert.deepEqual(names(res), idsOf('east_big', 'east_small'));
  assert.equal(res.json.total, 2);
  const vip = await q(s, 'tag:VIP');
  assert.deepEqual(names(vip), idsOf('east_big'), 'the other team\'s VIP stays invisible');
  const csv = await s.get(`/api/v1/customers/export?rule=${encodeURIComponent('attr.budget > 0')}`);
  assert.equal(csv.status, 200);
  const rows = csv.text.replace(/^\ufeff/, '').trim().split('\r\n');
  assert.equal(rows.length, 3, csv.text);
  assert.ok(!csv.text.includes('华北客户'));
  assert.match(rows[0], /,budget,products$/);
  assert.ok(rows.some((r) => r.includes('华东大客户') && r.endsWith(',100000,服务器;存储')), rows.join('\n'));
});

test('duplicates: a pair a person dismissed is not proposed again; others still are; scope applies', async () => {
  const x = (await a.post('/api/v1/customers', { name: 'Dup X', company: 'Acme Co., Ltd.' })).json;
  const y = (await a.post('/api/v1/customers', { name: 'Dup Y', company: 'ACME LTD' })).json;
  const z = (await a.post('/api/v1/customers', { name: 'Dup Z', company: 'acme inc' })).json;
  const pairs = async () => (await a.get('/api/v1/customers/duplicates?per_page=200')).json.items
    .map((p) => [p.a.id, p.b.id].join('-')).filter((k) => [x.id, y.id, z.id].some((id) => k.split('-').includes(String(id))));
  assert.deepEqual((await pairs()).sort(), [`${x.id}-${y.id}`, `${x.id}-${z.id}`, `${y.id}-${z.id}`].sort());
  const d = await a.post('/api/v1/customers/duplicates/dismiss', { a_id: y.id, b_id: x.id });
  assert.equal(d.status, 204, d.text);
  assert.deepEqual((await pairs()).sort(), [`${x.id}-${z.id}`, `${y.id}-${z.id}`].sort());
  assert.equal((await a.post('/api/v1/customers/duplicates/dismiss', { a_id: x.id, b_id: x.id })).status, 422);
  // a sales person cannot dismiss (or even learn about) customers outside their scope
  const s = api(server, sales.token);
  assert.equal((await s.post('/api/v1/customers/duplicates/dismiss', { a_id: x.id, b_id: z.id })).status, 404);
  assert.equal((await s.get('/api/v1/customers/duplicates?per_page=200')).json.total, 0);
});
