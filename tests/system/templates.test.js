'use strict';
// templates.test.js — message templates (issue 9): every part compiled before it is stored
// (errors name the part, line and column), channel rules, personalisation with
// customer.*, customer.attrs.*, agent.*, campaign.* and unsubscribe_url in a preview,
// HTML escaping by default in HTML parts and none in subjects and texts, SMS segments.
const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const {
  startServer, bootstrapAdmin, api, dropDatabase, createAgent, counts, expectError,
} = require('./harness');

let server, admin, marketer, m, customer, html;

before(async () => {
  server = await startServer();
  admin = await bootstrapAdmin(server);
  const a = api(server, admin.token);
  marketer = await createAgent(server, admin.token, { role: 'marketer', name: '市场部 Emma' });
  m = api(server, marketer.token);
  assert.equal((await a.post('/api/v1/field-defs', { key: 'coupon', label: '优惠券', type: 'text' })).status, 201);
  customer = (await a.post('/api/v1/customers', { name: '张伟', email: 'zw@example.com', attrs: { coupon: 'SAVE-10&20' } })).json;
  html = (await a.post('/api/v1/customers', { name: '<b>Bold</b> & Co', email: 'bold@example.com' })).json;
});

after(async () => {
  if (server) {
    await server.stop();
    dropDatabase(server);
  }
});

const EMAIL = {
  name: '双十一 优惠',
  channel: 'email',
  subject: '{{customer.name}}，您的优惠券 {{customer.attrs.coupon}}',
  text: '您好 {{customer.name}}：\n优惠码 {{customer.attrs.coupon}}。\n{{agent.name}}\n退订：{{unsubscribe_url}}',
  html: '<p>您好 {{customer.name}}</p><p>{{#customer.attrs.coupon}}优惠码 <b>{{customer.attrs.coupon}}</b>{{/customer.attrs.coupon}}'
    + '{{^customer.attrs.coupon}}下次再见{{/customer.attrs.coupon}}</p><a href="{{unsubscribe_url}}">退订</a>',
};

test('an e-mail template is stored with its parts and previewed for a customer', async () => {
  const c = await m.post('/api/v1/templates', EMAIL);
  assert.equal(c.status, 201, c.text);
  assert.deepEqual([c.json.channel, c.json.subject, c.json.text, c.json.html], [EMAIL.channel, EMAIL.subject, EMAIL.text, EMAIL.html]);
  const p = await m.post(`/api/v1/templates/${c.json.id}/preview`, { customer_id: customer.id });
  assert.equal(p.status, 200, p.text);
  assert.equal(p.json.subject, '张伟，您的优惠券 SAVE-10&20', 'subjects are text: nothing escaped');
  assert.equal(p.json.text, '您好 张伟：\n优惠码 SAVE-10&20。\n市场部 Emma\n退订：https://example.invalid/u/preview-token');
  assert.equal(p.json.html, '<p>您好 张伟</p><p>优惠码 <b>SAVE-10&amp;20</b></p><a href="https://example.invalid/u/preview-token">退订</a>');
  // HTML from customer data is escaped in the HTML part, kept as text in the subject
  const q = await m.post(`/api/v1/templates/${c.json.id}/preview`, { customer_id: html.id });
  assert.equal(q.status, 200, q.text);
  assert.equal(q.json.html, '<p>您好 &lt;b&gt;Bold&lt;/b&gt; &amp; Co</p><p>下次再见</p><a href="https://example.invalid/u/preview-token">退订</a>');
  assert.equal(q.json.subject, '<b>Bold</b> & Co，您的优惠券 ');
});

test('broken parts are refused naming the part, line and column; nothing is stored', async () => {
  const before = counts(server, ['templates']);
  const cases = [
    [{ ...EMAIL, name: 'bad1', html: '<p>\n{{#customer.tags}}x' }, 'html', /^line 2, column \d+: /],
    [{ ...EMAIL, name: 'bad2', subject: 'Hi {{customer.name' }, 'subject', /^line 1, column \d+: /],
    [{ ...EMAIL, name: 'bad3', text: '{{#a}}{{/b}}' }, 'text', /^line 1, column \d+: /],
    [{ ...EMAIL, name: 'bad4', subject: undefined }, 'subject', /required/],
    [{ name: 'sms1', channel: 'sms', text: 'x', subject: 'no' }, 'subject', /no subject/],
    [{ name: 'sms2', channel: 'sms', text: 'x', html: '<p>' }, 'html', /no HTML/],
    [{ name: 'fax', channel: 'fax', text: 'x' }, 'channel', /./],
  ];
  for (const [body, field, re] of cases) {
    const e = expectError(await m.post('/api/v1/templates', body), 422, 'validation_failed');
    assert.match(e.fields[field] || '', re, `${field}: ${JSON.stringify(e.fields)}`);
  }
  assert.deepEqual(counts(server, ['templates']), before);
  expectError(await m.post('/api/v1/templates', EMAIL), 409, 'duplicate');
});

test('SMS: preview counts segments; updates are checked; the channel is fixed; delete', async () => {
  const s = await m.post('/api/v1/templates', { name: '短信提醒', channel: 'sms', text: '【Switchboard】{{customer.name}}，您的优惠码 {{customer.attrs.coupon}}，回复TD退订' });
  assert.equal(s.status, 201, s.text);
  const p = await m.post(`/api/v1/templates/${s.json.id}/preview`, { customer_id: customer.id });
  assert.equal(p.status, 200);
  assert.equal(p.json.text, '【Switchboard】张伟，您的优惠码 SAVE-10&20，回复TD退订');
  assert.deepEqual([p.json.segments, p.json.encoding, p.json.subject, p.json.html], [1, 'ucs2', null, null]);
  expectError(await m.patch(`/api/v1/templates/${s.json.id}`, { text: '{{#x}}' }), 422, 'validation_failed');
  expectError(await m.patch(`/api/v1/templates/${s.json.id}`, { channel: 'email' }), 422, 'validation_failed');
  const u = await m.patch(`/api/v1/templates/${s.json.id}`, { text: '{{customer.name}} 您好' });
  assert.equal(u.status, 200);
  assert.equal(u.json.text, '{{customer.name}} 您好');
  assert.ok((await m.get('/api/v1/templates?channel=sms')).json.items.some((t) => t.id === s.json.id));
  assert.ok(!(await m.get('/api/v1/templates?channel=email')).json.items.some((t) => t.id === s.json.id));
  assert.equal((await m.del(`/api/v1/templates/${s.json.id}`)).status, 204);
  expectError(await m.get(`/api/v1/templates/${s.json.id}`), 404);
});

test('a draft is previewed without saving; customers outside the scope are not rendered; roles', async () => {
  const before = counts(server, ['templates']);
  const p = await m.post('/api/v1/templates/preview', { channel: 'sms', text: 'Hi {{customer.name}} from {{agent.name}}', customer_id: customer.id });
  assert.equal(p.status, 200, p.text);
  assert.equal(p.json.text, 'Hi 张伟 from 市场部 Emma');
  assert.deepEqual(counts(server, ['templates']), before);
  const e = expectError(await m.post('/api/v1/templates/preview', { channel: 'sms', text: '{{x}}', customer_id: 999999 }), 422);
  assert.ok(e.fields.customer_id);
  const team = (await api(server, admin.token).post('/api/v1/teams', { name: 'Tpl team' })).json;
  const manager = await createAgent(server, admin.token, { role: 'manager', team_id: team.id });
  const mg = await api(server, manager.token).post('/api/v1/templates/preview', { channel: 'sms', text: '{{customer.name}}', customer_id: customer.id });
  assert.equal(mg.status, 422, 'an unowned customer is outside a team-scoped manager\'s scope');
  const agent = await createAgent(server, admin.token, { role: 'agent' });
  expectError(await api(server, agent.token).get('/api/v1/templates'), 403);
});

test('switchboard templates load: the defaults of templates/ are added once, never over an edited one; a broken file is refused', async () => {
  const { runCli } = require('./harness');
  const fs = require('node:fs');
  const os = require('node:os');
  const path = require('node:path');
  const cli = (dir) => runCli(['-c', '/dev/null', 'templates', 'load', ...(dir ? [dir] : [])], { env: server.env });
  const first = cli();
  assert.equal(first.status, 0, first.stderr);
  assert.match(first.stdout, /templates: 2 added from templates/);
  const list = (await m.get('/api/v1/templates')).json.items;
  const welcome = list.find((t) => t.name === 'welcome');
  assert.equal(welcome.channel, 'email');
  assert.match(welcome.subject, /^欢迎，\{\{customer\.name\}\}/);
  assert.ok(!welcome.subject.includes('\n'));
  assert.ok(welcome.html.includes('{{unsubscribe_url}}'));
  assert.equal(list.find((t) => t.name === 'coupon').channel, 'sms');
  const p = await m.post(`/api/v1/templates/${welcome.id}/preview`, { customer_id: customer.id });
  assert.equal(p.status, 200, p.text);
  assert.match(p.json.text, /张伟，您好！/);
  assert.match(p.json.text, /优惠码：SAVE-10&20/);
  await m.patch(`/api/v1/templates/${welcome.id}`, { text: 'edited {{customer.name}}' });
  const again = cli();
  assert.match(again.stdout, /templates: 0 added/);
  assert.equal((await m.get(`/api/v1/templates/${welcome.id}`)).json.text, 'edited {{customer.name}}');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sb-tpl-'));
  fs.mkdirSync(path.join(dir, 'sms'));
  fs.writeFileSync(path.join(dir, 'sms', 'broken.text.mustache'), 'line one\n{{#open}} never closed');
  const bad = cli(dir);
  assert.equal(bad.status, 2);
  assert.match(bad.stderr, /broken\.text\.mustache:2:\d+: /);
  assert.ok(!(await m.get('/api/v1/templates')).json.items.some((t) => t.name === 'broken'));
  fs.rmSync(dir, { recursive: true });
});
