'use strict';
// campaigns_sms.test.js — SMS campaigns through the provider fake (tests/fakes/sms-provider.mjs):
// each number once with its own text; a number that texted STOP before the start is
// skipped and counted; a number that texts STOP *during* the campaign receives nothing
// after that moment (suppressions are checked again at send time); a campaign's
// rate_per_minute holds it back; outside [campaigns] sms_window nothing is sent at all.
const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const path = require('node:path');
const { spawn } = require('node:child_process');
const twilio = require('twilio');
const {
  startServer, bootstrapAdmin, api, sql, dropDatabase, until, freePort, sleep,
} = require('./harness');

const ROOT = path.resolve(__dirname, '..', '..');
const SID = 'ACtest0000000000000000000000000009';
const TOKEN = 'campaign-token';
const OUR = '+8610690009';
const N = 30;
let fake, fakeUrl, server, closed, a;

const hhmm = (mins) => `${String(Math.floor(((mins % 1440) + 1440) % 1440 / 60)).padStart(2, '0')}:${String(((mins % 60) + 60) % 60).padStart(2, '0')}`;
const nowLocal = () => { const d = new Date(); return d.getUTCHours() * 60 + d.getUTCMinutes() + 480; };

function smsEnv(window) {
  return {
    SWITCHBOARD_SMS_API_BASE: fakeUrl, SWITCHBOARD_SMS_ACCOUNT_SID: SID, SWITCHBOARD_SMS_AUTH_TOKEN: TOKEN,
    SWITCHBOARD_SMS_FROM: OUR, SWITCHBOARD_CAMPAIGNS_SMS_WINDOW: window, SWITCHBOARD_CAMPAIGNS_BATCH: '5',
  };
}

const messages = async () => (await (await fetch(`${fakeUrl}/_fake/messages`)).json());
const toNumber = (m) => m.To || m.to;
const bodyOf = (m) => m.Body || m.body;

async function stop(number) {
  const target = `${server.url}/webhooks/sms/inbound`;
  const params = { MessageSid: `SMstop${Date.now()}${Math.random()}`, AccountSid: SID, From: number, To: OUR, Body: 'STOP', NumMedia: '0' };
  const signature = twilio.getExpectedTwilioSignature(TOKEN, target, params);
  const r = await fetch(target, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', 'x-twilio-signature': signature }, body: new URLSearchParams(params).toString() });
  assert.equal(r.status, 200);
}

before(async () => {
  const port = await freePort();
  fakeUrl = `http://127.0.0.1:${port}`;
  fake = spawn(process.execPath, [path.join(ROOT, 'tests/fakes/sms-provider.mjs'), '--port', String(port), '--account-sid', SID, '--auth-token', TOKEN],
    { stdio: ['ignore', 'inherit', 'inherit'] });
  await until(async () => { try { return (await fetch(`${fakeUrl}/_fake/healthz`)).ok; } catch { return false; } }, 5000, 'the fake');
  const open = `${hhmm(nowLocal() - 120)}-${hhmm(nowLocal() + 120)}`;
  server = await startServer({ env: smsEnv(open) });
  a = api(server, (await bootstrapAdmin(server)).token);
  assert.equal((await a.post('/api/v1/field-defs', { key: 'coupon', label: '优惠券', type: 'text' })).status, 201);
  const lines = ['姓名,手机,标签,coupon'];
  for (let i = 0; i < N; i++) lines.push(`短信客户${i},139${String(10000000 + i)},smspromo,C${i}`);
  const imp = await a.post('/api/v1/customers/import', lines.join('\n'), { headers: { 'Content-Type': 'text/csv' } });
  assert.equal(imp.json.imported, N, imp.text);
});

after(async () => {
  for (const s of [closed, server]) if (s) await s.stop();
  if (server) dropDatabase(server);
  if (fake) fake.kill();
});

async function campaign(name, extra = {}) {
  const seg = (await a.post('/api/v1/segments', { name: `s ${name}`, rule: 'tag:smspromo' })).json;
  const tpl = (await a.post('/api/v1/templates', { name: `t ${name}`, channel: 'sms', text: `【${name}】{{customer.name}} 优惠码 {{customer.attrs.coupon}}，回复TD退订` })).json;
  const c = await a.post('/api/v1/campaigns', { name, segment_id: seg.id, template_id: tpl.id, channel: 'sms', ...extra });
  assert.equal(c.status, 201, c.text);
  return c.json;
}
const stats = async (id) => (await a.get(`/api/v1/campaigns/${id}`)).json;

test('each number once, personalised; a number that said STOP before is skipped and counted', async () => {
  await stop('+8613910000003');
  const c = await campaign('首发');
  assert.equal((await a.post(`/api/v1/campaigns/${c.id}/start`)).status, 200);
  await until(async () => (await stats(c.id)).status === 'finished', 60000, 'finished', 200);
  const st = (await stats(c.id)).stats;
  assert.deepEqual([st.sent, st.skipped, st.failed, st.ambiguous], [N - 1, 1, 0, 0]);
  assert.deepEqual(st.skipped_reasons, { suppressed: 1 });
  const mine = (await messages()).filter((m) => String(bodyOf(m)).startsWith('【首发】'));
  assert.equal(mine.length, N - 1);
  assert.equal(new Set(mine.map(toNumber)).size, N - 1);
  assert.ok(!mine.some((m) => toNumber(m) === '+8613910000003'));
  const five = mine.find((m) => toNumber(m) === '+8613910000005');
  assert.equal(bodyOf(five), '【首发】短信客户5 优惠码 C5，回复TD退订');
});

test('STOP during a campaign: nothing after that moment; rate_per_minute holds the campaign back', async () => {
  const c = await campaign('限速', { rate_per_minute: 5 });
  assert.equal((await a.post(`/api/v1/campaigns/${c.id}/start`)).status, 200);
  await until(async () => (await stats(c.id)).stats.sent >= 5, 30000, 'first five', 200);
  await sleep(1500);
  assert.equal((await stats(c.id)).stats.sent, 5, 'the rate holds: five a minute');
  const queued = (await a.get(`/api/v1/campaigns/${c.id}/recipients?state=queued&per_page=200`)).json.items;
  const victim = queued[queued.length - 1].address;
  await stop(victim);
  sql(server, `UPDATE campaigns SET rate_per_minute = NULL WHERE id = ${c.id}`); // let the rest go now
  await until(async () => (await stats(c.id)).status === 'finished', 60000, 'finished', 200);
  const st = (await stats(c.id)).stats;
  assert.equal(st.skipped_reasons.suppressed, 2, JSON.stringify(st)); // the earlier STOP and this one
  const got = (await messages()).filter((m) => String(bodyOf(m)).startsWith('【限速】'));
  assert.ok(!got.some((m) => toNumber(m) === victim), 'the number that said STOP got nothing more');
  assert.equal(got.length, N - 2);
});

test('outside the SMS window nothing is sent; the campaign waits', async () => {
  const shut = `${hhmm(nowLocal() + 120)}-${hhmm(nowLocal() + 180)}`;
  closed = await startServer({ env: smsEnv(shut), dbName: server.dbName, migrate: false });
  await server.stop();
  server = null;
  const b = api(closed, a.token || (await bootstrapAdmin(closed)).token);
  const seg = (await b.post('/api/v1/segments', { name: 's night', rule: 'tag:smspromo' })).json;
  const tpl = (await b.post('/api/v1/templates', { name: 't night', channel: 'sms', text: '【夜间】{{customer.name}}' })).json;
  const c = (await b.post('/api/v1/campaigns', { name: 'night', segment_id: seg.id, template_id: tpl.id, channel: 'sms' })).json;
  assert.equal((await b.post(`/api/v1/campaigns/${c.id}/start`)).status, 200);
  await until(async () => (await b.get(`/api/v1/campaigns/${c.id}`)).json.status === 'sending', 20000, 'materialised', 200);
  await sleep(2000);
  const st = (await b.get(`/api/v1/campaigns/${c.id}`)).json.stats;
  assert.equal(st.sent, 0);
  assert.equal(st.queued, N - 2);
  assert.ok(!(await messages()).some((m) => String(bodyOf(m)).startsWith('【夜间】')));
  server = closed; // after() stops and drops it
  closed = null;
});
