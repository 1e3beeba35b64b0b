'use strict';
// quality.test.js — service quality (issue 10, point 5) through the SMS channel and its
// provider fake: a customer message with a complaint keyword in Chinese flags the ticket
// (once), raises its priority and tells the team's manager (a reminder delivered to them);
// suggestions of knowledge-base articles follow every customer message; a solved ticket
// sends one CSAT survey link; its page never rates by itself; a rating submitted twice
// counts once; the managers' report shows flagged tickets and CSAT by agent/team/channel.
const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const path = require('node:path');
const { spawn } = require('node:child_process');
const twilio = require('twilio');
const {
  startServer, bootstrapAdmin, createAgent, api, sql, dropDatabase, until, freePort, expectError,
} = require('./harness');

const ROOT = path.resolve(__dirname, '..', '..');
const SID = 'ACtest0000000000000000000000000013';
const TOKEN = 'quality-token';
const OUR = '+8610690013';
let server; let a; let fake; let fakeUrl; let manager; let agent; let team;

before(async () => {
  const smsPort = await freePort();
  fakeUrl = `http://127.0.0.1:${smsPort}`;
  fake = spawn(process.execPath, [path.join(ROOT, 'tests/fakes/sms-provider.mjs'), '--port', String(smsPort), '--account-sid', SID,
    '--auth-token', TOKEN], { stdio: ['ignore', 'inherit', 'inherit'] });
  await until(async () => { try { return (await fetch(`${fakeUrl}/_fake/healthz`)).ok; } catch { return false; } }, 5000, 'the fake');
  const port = await freePort();
  server = await startServer({
    port,
    env: {
      SWITCHBOARD_SERVER_PUBLIC_URL: `http://127.0.0.1:${port}`, SWITCHBOARD_SMS_API_BASE: fakeUrl, SWITCHBOARD_SMS_ACCOUNT_SID: SID,
      SWITCHBOARD_SMS_AUTH_TOKEN: TOKEN, SWITCHBOARD_SMS_FROM: OUR, SWITCHBOARD_ROUTING_ENABLED: 'no',
      SWITCHBOARD_CRM_SETTLE_MS: '200', SWITCHBOARD_CRM_INTERVAL_SECS: '1',
    },
  });
  const admin = await bootstrapAdmin(server);
  a = api(server, admin.token);
  team = (await a.post('/api/v1/teams', { name: '售后一组' })).json;
  const m = await createAgent(server, admin.token, { role: 'manager', name: '主管老李' });
  const g = await createAgent(server, admin.token, { role: 'agent', name: '客服小张' });
  manager = { ...m, api: api(server, m.token) };
  agent = { ...g, api: api(server, g.token) };
  sql(server, `UPDATE agents SET team_id = ${team.id} WHERE id IN (${m.agent.id}, ${g.agent.id}); UPDATE teams SET manager_id = ${m.agent.id} WHERE id = ${team.id}`);
  const art = await a.post('/api/v1/kb/articles', { title: '退货退款流程', body: '在订单页申请**退货退款**，审核后 3 天内退回。', locale: 'zh', published: true });
  assert.equal(art.status, 201, art.text);
});

after(async () => {
  if (server) { await server.stop(); dropDatabase(server); }
  if (fake) fake.kill();
});

async function inbound(from, body) {
  const target = `${server.url}/webhooks/sms/inbound`;
  const params = { MessageSid: `SMq${Date.now()}${Math.floor(Math.random() * 1e9)}`, AccountSid: SID, From: from, To: OUR, Body: body, NumMedia: '0' };
  const r = await fetch(target, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', 'x-twilio-signature': twilio.getExpectedTwilioSignature(TOKEN, target, params) }, body: new URLSearchParams(params).toString() });
  assert.equal(r.status, 200, await r.text());
}
const num = (q) => Number(sql(server, q)[0][0]);
const ticketOf = (phone) => num(`SELECT t.id FROM tickets t JOIN customer_identities i ON i.customer_id = t.customer_id WHERE i.value = '${phone}' ORDER BY t.id DESC LIMIT 1`);

test('a complaint keyword in Chinese flags the ticket once, raises its priority and reaches the manager; suggestions follow', async () => {
  await inbound('+8613900001111', '你好，我想退货退款');
  await until(() => num("SELECT COUNT(*) FROM tickets") >= 1, 5000, 'ticket');
  const id = ticketOf('+8613900001111');
  assert.equal((await a.patch(`/api/v1/tickets/${id}`, { team_id: team.id, assignee_id: agent.agent.id })).status, 200);
  // suggestions for the first message: the refund article
  const sug = await until(() => sql(server, `SELECT payload FROM events WHERE kind = 'kb.suggestions' AND ticket_id = ${id}`)[0], 10000, 'suggestions', 100);
  assert.equal(JSON.parse(sug[0]).items[0].title, '退货退款流程');
  let t = (await a.get(`/api/v1/tickets/${id}`)).json;
  assert.equal(t.flagged_at, null);
  await inbound('+8613900001111', '等了一周还没退，我要投诉！！对你们很不满意');
  t = await until(async () => { const x = (await a.get(`/api/v1/tickets/${id}`)).json; return x.flagged_at && x; }, 10000, 'flagged', 100);
  assert.equal(t.priority, 'high');
  assert.equal(t.flag_reason, '投诉, 不满意');
  // the manager gets a reminder (delivered by the CRM worker) and the event
  const rem = await until(() => sql(server, `SELECT agent_id, message, notified_at FROM reminders WHERE kind = 'ticket_flagged'`).find((r) => r[2] && r[2] !== 'NULL'), 10000, 'reminder delivered', 200);
  assert.equal(Number(rem[0]), manager.agent.id);
  assert.match(rem[1], /投诉/);
  assert.equal(num(`SELECT COUNT(*) FROM events WHERE kind = 'ticket.flagged' AND ticket_id = ${id} AND team_id = ${team.id}`), 1);
  // again: already flagged, nothing new; an urgent word still does not re-flag
  await inbound('+8613900001111', '再不处理我就找律师');
  await until(() => num(`SELECT COUNT(*) FROM events WHERE kind = 'kb.suggestions' AND ticket_id = ${id}`) >= 2 ||
    num(`SELECT COUNT(*) FROM messages WHERE ticket_id = ${id}`) >= 3, 10000, 'third message seen', 100);
  await new Promise((r) => setTimeout(r, 1000));
  assert.equal(num(`SELECT COUNT(*) FROM reminders WHERE kind = 'ticket_flagged'`), 1);
  assert.equal(num(`SELECT COUNT(*) FROM events WHERE kind = 'ticket.flagged'`), 1);
  // full-width and case: ＣＯＭＰＬＡＩＮＴ on another ticket without a team reaches the admins
  await inbound('+8613900002222', 'This is a formal ＣＯＭＰＬＡＩＮＴ');
  const id2 = await until(() => { const x = ticketOf('+8613900002222'); return x && num(`SELECT flagged_at IS NOT NULL FROM tickets WHERE id = ${x}`) && x; }, 10000, 'flagged 2', 100);
  assert.equal(num(`SELECT COUNT(*) FROM reminders r JOIN agents ag ON ag.id = r.agent_id WHERE r.kind = 'ticket_flagged' AND ag.role = 'admin' AND r.dedupe_key = 'ticket_flagged:${id2}'`), 1);
  // keywords are the admin's to edit; an ordinary message flags nothing
  expectError(await manager.api.put('/api/v1/quality/keywords', { keywords: [{ word: 'x' }] }), 403);
  const bad = expectError(await a.put('/api/v1/quality/keywords', { keywords: [{ word: '' }, { word: 'y', priority: 'max' }] }), 422);
  assert.ok(bad.fields['keywords[0].word'] && bad.fields['keywords[1].priority'], JSON.stringify(bad.fields));
  const odd = expectError(await a.put('/api/v1/quality/keywords', { keywords: [{ word: '\u3000' }, { word: 'Complaint' }, { word: 'ＣＯＭＰＬＡＩＮＴ' }] }), 422);
  assert.match(odd.fields['keywords[0].word'], /not only spaces/, 'an ideographic space alone would match every message');
  assert.match(odd.fields['keywords[2].word'], /listed twice \(also keywords\[1\]\)/);
  const ok = await a.put('/api/v1/quality/keywords', { keywords: [{ word: '差劲', priority: 'urgent' }] });
  assert.equal(ok.status, 200, ok.text);
  await inbound('+8613900003333', '投诉两个字已经不是关键词了，但是服务太差劲');
  const id3 = await until(() => { const x = ticketOf('+8613900003333'); return x && num(`SELECT flagged_at IS NOT NULL FROM tickets WHERE id = ${x}`) && x; }, 10000, 'flagged 3', 100);
  assert.deepEqual(sql(server, `SELECT priority, flag_reason FROM tickets WHERE id = ${id3}`)[0], ['urgent', '差劲']);
});

test('CSAT: one survey when solved; the page never rates by itself; a second rating counts once; the report', async () => {
  const id = ticketOf('+8613900001111');
  const before = (await (await fetch(`${fakeUrl}/_fake/messages`)).json()).length;
  assert.equal((await agent.api.patch(`/api/v1/tickets/${id}`, { status: 'solved' })).status, 200);
  const sms = await until(async () => { const l = await (await fetch(`${fakeUrl}/_fake/messages`)).json(); return l.length > before && l.at(-1); }, 10000, 'survey SMS', 100);
  const link = (sms.Body || sms.body).match(/http:\/\/\S+\/csat\/\S+/)[0];
  // reopened and solved again: no second survey
  assert.equal((await agent.api.patch(`/api/v1/tickets/${id}`, { status: 'open' })).status, 200);
  assert.equal((await agent.api.patch(`/api/v1/tickets/${id}`, { status: 'solved' })).status, 200);
  await new Promise((r) => setTimeout(r, 800));
  assert.equal(num(`SELECT COUNT(*) FROM messages WHERE ticket_id = ${id} AND author_type = 'bot' AND body_text LIKE '%/csat/%'`), 1);
  const page = await fetch(`${link}?r=4`);
  assert.equal(page.status, 200);
  assert.match(await page.text(), /value="4" checked/);
  assert.equal(num('SELECT COUNT(*) FROM csat_responses'), 0, 'a GET (a link scanner) rates nothing');
  assert.equal((await fetch(link.replace(/.$/, (ch) => (ch === '0' ? '1' : '0')))).status, 404, 'a forged link');
  const post = (body, type = 'application/x-www-form-urlencoded') => fetch(link, { method: 'POST', headers: { 'content-type': type }, body });
  let r = await post('rating=9');
  assert.equal(r.status, 422);
  // a comment is at most 1000 characters, as the page says (not 3000 bytes); the JSON 422 names the fields
  r = await post(JSON.stringify({ rating: 4, comment: 'x'.repeat(1001) }), 'application/json');
  assert.equal(r.status, 422);
  assert.ok((await r.json()).error.fields.comment);
  r = await post(JSON.stringify({ rating: 0 }), 'application/json');
  assert.ok((await r.json()).error.fields.rating);
  r = await post(`rating=3&comment=${'y'.repeat(1001)}`);
  assert.equal(r.status, 422);
  assert.match(await r.text(), /1000/);
  assert.equal(num('SELECT COUNT(*) FROM csat_responses'), 0, 'refused ratings change nothing');
  r = await post(`rating=2&comment=${encodeURIComponent('等太久了')}`);
  assert.equal(r.status, 200);
  assert.match(await r.text(), /data-rating="2"/);
  r = await post(JSON.stringify({ rating: 5 }), 'application/json');
  assert.deepEqual(await r.json(), { ticket_id: id, rating: 2, already_rated: true });
  assert.deepEqual(sql(server, `SELECT rating, comment, agent_id, team_id, channel FROM csat_responses WHERE ticket_id = ${id}`),
    [['2', '等太久了', String(agent.agent.id), String(team.id), 'sms']]);
  assert.equal((await a.get(`/api/v1/tickets/${id}`)).json.csat, 2);
  // the report: flagged tickets and CSAT by agent, team and channel; a manager sees their team
  const rep = (await manager.api.get('/api/v1/reports/quality?days=7')).json;
  assert.ok(rep.flagged.items.some((x) => x.id === id && x.flag_reason === '投诉, 不满意'));
  assert.deepEqual([rep.csat.overall.count, rep.csat.overall.average, rep.csat.overall.r2], [1, 2, 1]);
  assert.deepEqual(rep.csat.by_agent.map((x) => [x.k, x.name, x.count]), [[agent.agent.id, '客服小张', 1]]);
  assert.deepEqual(rep.csat.by_team.map((x) => [x.k, x.name]), [[team.id, '售后一组']]);
  assert.deepEqual(rep.csat.by_channel.map((x) => [x.k, x.count, x.satisfied]), [['sms', 1, 0]]);
  expectError(await agent.api.get('/api/v1/reports/quality'), 403);
  expectError(await a.get('/api/v1/reports/quality?days=0'), 400);
});
