'use strict';
// api_contract.test.js — what writing the OpenAPI document (issue 11, point 5) turned up
// when every route was called as documented: each case answered wrongly before its fix.
//   - deleting a segment or template a campaign uses: 409 in_use, not 500, nothing deleted;
//   - PUT /routing/sla for a priority's default (no channel) updates the one row;
//   - PATCH /activities/{id} checks deal_id against the activity's own customer;
//   - a PATCH may leave a name out but not blank it (campaigns, segments, templates,
//     teams, tag rules);
//   - an impossible calendar date (Feb 31) is a 422 naming the field, not a 500;
//   - campaign recipients: 404 for a missing campaign, total = all matching, state checked;
//     resend: 404, ids checked, unknown fields refused;
//   - a report for a team that does not exist is a 400.
const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { startServer, bootstrapAdmin, api, sql, dropDatabase, expectError } = require('./harness');

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

async function campaign(name) {
  const seg = (await a.post('/api/v1/segments', { name: `seg ${name}`, rule: 'has:email' })).json;
  const tpl = (await a.post('/api/v1/templates', { name: `tpl ${name}`, channel: 'email', subject: 'Hi', text: 'Hello' })).json;
  const c = await a.post('/api/v1/campaigns', { name, segment_id: seg.id, template_id: tpl.id, channel: 'email' });
  assert.equal(c.status, 201, c.text);
  return { seg, tpl, c: c.json };
}

test('a segment or template in use cannot be deleted: 409 in_use, nothing changes', async () => {
  const { seg, tpl } = await campaign('双十一预热');
  const [[audits]] = sql(server, 'SELECT COUNT(*) FROM audit_log');
  expectError(await a.del(`/api/v1/segments/${seg.id}`), 409, 'in_use');
  expectError(await a.del(`/api/v1/templates/${tpl.id}`), 409, 'in_use');
  assert.equal((await a.get(`/api/v1/segments/${seg.id}`)).status, 200);
  assert.equal((await a.get(`/api/v1/templates/${tpl.id}`)).status, 200);
  assert.equal(sql(server, 'SELECT COUNT(*) FROM audit_log')[0][0], audits, 'no audit of a delete that did not happen');
  const free = (await a.post('/api/v1/segments', { name: 'unused', rule: 'has:phone' })).json;
  assert.equal((await a.del(`/api/v1/segments/${free.id}`)).status, 204);
});

test("PUT /routing/sla without a channel updates the priority's one default", async () => {
  for (const [f, r] of [[30, 300], [31, 301], [32, 302]]) {
    const res = await a.put('/api/v1/routing/sla', { priority: 'high', first_response_mins: f, resolution_mins: r });
    assert.equal(res.status, 200, res.text);
  }
  assert.equal((await a.put('/api/v1/routing/sla', { priority: 'high', channel: null, first_response_mins: 33, resolution_mins: 303 })).status, 200);
  const rows = (await a.get('/api/v1/routing/sla')).json.items.filter((p) => p.priority === 'high' && p.channel === null);
  assert.equal(rows.length, 1, JSON.stringify(rows));
  assert.equal(rows[0].first_response_mins, 33);
  assert.equal(rows[0].resolution_mins, 303);
  const chat = (await a.get('/api/v1/routing/sla')).json.items.filter((p) => p.priority === 'high' && p.channel === 'chat');
  assert.equal(chat.length, 1, 'the per-channel target is its own row');
});

test("PATCH /activities checks deal_id against the activity's customer", async () => {
  const stages = (await a.get('/api/v1/pipeline-stages')).json.items;
  const mine = (await a.post('/api/v1/customers', { name: '杭州甲方' })).json;
  const other = (await a.post('/api/v1/customers', { name: '苏州乙方' })).json;
  const myDeal = (await a.post('/api/v1/deals', { customer_id: mine.id, title: '续约', stage_id: stages[0].id })).json;
  const theirDeal = (await a.post('/api/v1/deals', { customer_id: other.id, title: '新签', stage_id: stages[0].id })).json;
  const act = (await a.post('/api/v1/activities', { customer_id: mine.id, method: 'call', content: '电话回访' })).json;
  let r = await a.patch(`/api/v1/activities/${act.id}`, { deal_id: theirDeal.id });
  expectError(r, 422, 'validation_failed');
  assert.ok(r.json.error.fields.deal_id);
  r = await a.patch(`/api/v1/activities/${act.id}`, { deal_id: 987654 });
  expectError(r, 422, 'validation_failed');
  r = await a.patch(`/api/v1/activities/${act.id}`, { deal_id: myDeal.id });
  assert.equal(r.status, 200, r.text);
  assert.equal(r.json.deal_id, myDeal.id);
});

test('a PATCH may not blank a name', async () => {
  const { seg, tpl, c } = await campaign('改名测试');
  const team = (await a.post('/api/v1/teams', { name: '售前' })).json;
  const rule = (await a.post('/api/v1/tag-rules', { name: '新客', tag: 'new', event_kind: 'customer.created', rule: 'has:email' })).json;
  for (const [path, body] of [[`/api/v1/campaigns/${c.id}`, { name: '   ' }], [`/api/v1/segments/${seg.id}`, { name: '' }],
    [`/api/v1/templates/${tpl.id}`, { name: ' ' }], [`/api/v1/teams/${team.id}`, { name: '' }],
    [`/api/v1/tag-rules/${rule.id}`, { name: '  ' }], [`/api/v1/tag-rules/${rule.id}`, { tag: '' }]]) {
    const r = await a.patch(path, body);
    expectError(r, 422, 'validation_failed');
    assert.ok(r.json.error.fields.name || r.json.error.fields.tag, `${path}: ${r.text}`);
  }
  assert.equal((await a.get(`/api/v1/campaigns/${c.id}`)).json.name, '改名测试');
  assert.equal((await a.patch(`/api/v1/campaigns/${c.id}`, { name: '改名测试 v2', cost: 88.5 })).json.cost, '88.50');
});

test('an impossible calendar date is a 422 naming the field', async () => {
  let r = await a.post('/api/v1/api-keys', { name: 'Feb', role: 'agent', expires_at: '2099-02-31T00:00:00Z' });
  expectError(r, 422, 'validation_failed');
  assert.ok(r.json.error.fields.expires_at);
  const { seg, tpl } = await campaign('日期');
  r = await a.post('/api/v1/campaigns', { name: 'x', segment_id: seg.id, template_id: tpl.id, channel: 'email', scheduled_at: '2027-02-31T09:00:00Z' });
  expectError(r, 422, 'validation_failed');
  assert.ok(r.json.error.fields.scheduled_at);
  r = await a.post('/api/v1/campaigns', { name: 'y', segment_id: seg.id, template_id: tpl.id, channel: 'email', scheduled_at: '2028-02-29T09:00:00Z' });
  assert.equal(r.status, 201, 'a leap day is a date');
});

test('campaign recipients and resend: 404, totals, checked input', async () => {
  expectError(await a.get('/api/v1/campaigns/999999/recipients'), 404, 'not_found');
  expectError(await a.post('/api/v1/campaigns/999999/resend', { recipient_ids: [1] }), 404, 'not_found');
  const { c } = await campaign('名单');
  const ids = [];
  for (let i = 0; i < 5; i++) ids.push((await a.post('/api/v1/customers', { name: `收件人${i}`, email: `r${i}@example.com` })).json.id);
  sql(server, ids.map((id, i) => `INSERT INTO campaign_recipients (campaign_id, customer_id, channel, address, state)
    VALUES (${c.id}, ${id}, 'email', 'r${i}@example.com', '${i < 2 ? 'ambiguous' : 'sent'}')`).join(';\n'));
  let r = await a.get(`/api/v1/campaigns/${c.id}/recipients?per_page=2`);
  assert.equal(r.status, 200);
  assert.equal(r.json.items.length, 2);
  assert.equal(r.json.total, 5, 'total counts every recipient, not the page');
  r = await a.get(`/api/v1/campaigns/${c.id}/recipients?state=ambiguous`);
  assert.equal(r.json.total, 2);
  expectError(await a.get(`/api/v1/campaigns/${c.id}/recipients?state=bogus`), 400, 'bad_request');
  r = await a.post(`/api/v1/campaigns/${c.id}/resend`, { recipient_ids: ['x', 0] });
  expectError(r, 422, 'validation_failed');
  r = await a.post(`/api/v1/campaigns/${c.id}/resend`, { recipient_ids: [1], force: true });
  expectError(r, 422, 'validation_failed');
  assert.ok(r.json.error.fields.force);
});

test('a report for a team that does not exist is a 400', async () => {
  const r = await a.get('/api/v1/reports/service?team=424242');
  expectError(r, 400, 'bad_request');
  assert.match(r.json.error.message, /team/);
});
