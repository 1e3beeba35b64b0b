'use strict';
// campaigns.test.js — e-mail campaigns into a real SMTP server (npm smtp-server, in this
// process): a 10,000-recipient campaign delivers each recipient exactly once with its own
// personalisation (a Chinese subject, RFC 2047 on the wire) and RFC 8058 unsubscribe
// headers; starting it again sends nothing more; customers without an address or with a
// suppressed one are skipped and counted; GET of the unsubscribe link changes nothing,
// POST suppresses, and a later campaign skips that address; lifecycle conflicts are 409s.
const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { SMTPServer } = require('smtp-server');
const { simpleParser } = require('mailparser');
const { wsOpen } = require('./clients');
const {
  startServer, bootstrapAdmin, api, sql, dropDatabase, createAgent, until, freePort, expectError, SANITIZED,
} = require('./harness');

const N = SANITIZED ? 2000 : 10000;
let smtp, smtpPort, server, admin, a, m, marketerToken;
const mails = [];
const rcpts = [];

before(async () => {
  smtpPort = await freePort();
  smtp = new SMTPServer({
    authOptional: true, disabledCommands: ['STARTTLS'], logger: false, size: 10 * 1024 * 1024,
    onData(stream, session, cb) {
      rcpts.push(...session.envelope.rcptTo.map((x) => x.address));
      simpleParser(stream).then((msg) => { mails.push(msg); cb(); }, cb);
    },
  });
  await new Promise((r) => smtp.listen(smtpPort, '127.0.0.1', r));
  server = await startServer({
    env: {
      SWITCHBOARD_SMTP_HOST: '127.0.0.1', SWITCHBOARD_SMTP_PORT: String(smtpPort),
      SWITCHBOARD_SMTP_FROM: 'news@example.com', SWITCHBOARD_SERVER_PUBLIC_URL: 'http://127.0.0.1:1',
    },
  });
  admin = await bootstrapAdmin(server);
  a = api(server, admin.token);
  const marketer = await createAgent(server, admin.token, { role: 'marketer', name: '市场部 Emma' });
  m = api(server, marketer.token);
  marketerToken = marketer.token;
  assert.equal((await a.post('/api/v1/field-defs', { key: 'coupon', label: '优惠券', type: 'text' })).status, 201);
  // N customers with an address, 5 without one, 1 whose address is suppressed — by import
  const lines = ['姓名,邮箱,手机,标签,coupon'];
  for (let i = 0; i < N; i++) lines.push(`客户${i},c${i}@promo.example,,promo,CODE-${i}`);
  for (let i = 0; i < 5; i++) lines.push(`无邮箱${i},,1390000${String(1000 + i)},promo,`);
  lines.push('已退订,gone@promo.example,,promo,X');
  const imp = await a.post('/api/v1/customers/import', lines.join('\n'), { headers: { 'Content-Type': 'text/csv' } });
  assert.equal(imp.status, 200, imp.text);
  assert.equal(imp.json.imported, N + 6, imp.text);
  sql(server, "INSERT INTO suppressions (channel, value, reason) VALUES ('email', 'gone@promo.example', 'complaint')");
});

after(async () => {
  if (server) { await server.stop(); dropDatabase(server); }
  if (smtp) await new Promise((r) => smtp.close(r));
});

async function campaignFor(name, rule) {
  const seg = await m.post('/api/v1/segments', { name: `seg ${name}`, rule });
  assert.equal(seg.status, 201, seg.text);
  const tpl = await m.post('/api/v1/templates', {
    name: `tpl ${name}`, channel: 'email',
    subject: '{{customer.name}}，您的专属优惠',
    text: '{{customer.name}} 您好，优惠码 {{customer.attrs.coupon}}。退订：{{unsubscribe_url}}',
    html: '<p>{{customer.name}} 您好</p><p>优惠码 <b>{{customer.attrs.coupon}}</b></p><a href="{{unsubscribe_url}}">退订</a>',
  });
  assert.equal(tpl.status, 201, tpl.text);
  const c = await m.post('/api/v1/campaigns', { name, segment_id: seg.json.id, template_id: tpl.json.id, channel: 'email' });
  assert.equal(c.status, 201, c.text);
  assert.equal(c.json.status, 'draft');
  return c.json;
}

const rawHeader = (msg, key) => msg.headerLines.find((h) => h.key === key).line.replace(/^[^:]+:\s*/, '').replace(/\r?\n\s+/g, ' ');
const unsubscribeUrl = (msg) => rawHeader(msg, 'list-unsubscribe').match(/<(http[^>]+)>/)[1];
const statusOf = async (id) => (await m.get(`/api/v1/campaigns/${id}`)).json;

test(`a ${N}-recipient campaign: each recipient exactly once, personalised, with unsubscribe headers; a second start sends nothing`, async () => {
  const c = await campaignFor('双十一', 'tag:promo');
  const t0 = Date.now();
  const s = await m.post(`/api/v1/campaigns/${c.id}/start`);
  assert.equal(s.status, 200, s.text);
  await until(async () => (await statusOf(c.id)).status === 'finished', 300000, 'campaign finished', 500);
  const secs = (Date.now() - t0) / 1000;
  test.diagnostic?.(`sent ${N} in ${secs.toFixed(1)} s`);
  const st = (await statusOf(c.id)).stats;
  assert.deepEqual([st.sent, st.failed, st.ambiguous, st.queued, st.sending, st.skipped], [N, 0, 0, 0, 0, 6]);
  assert.deepEqual(st.skipped_reasons, { no_address: 5, suppressed: 1 });
  await until(() => mails.length >= N, 60000, 'all mails parsed', 200);
  assert.equal(mails.length, N);
  assert.equal(new Set(rcpts).size, N, 'no address twice');
  assert.ok(!rcpts.includes('gone@promo.example'));
  const byTo = new Map(mails.map((x) => [x.to.value[0].address, x]));
  for (const i of [0, 1, Math.floor(N / 2), N - 1]) {
    const msg = byTo.get(`c${i}@promo.example`);
    assert.ok(msg, `c${i}`);
    assert.equal(msg.subject, `客户${i}，您的专属优惠`);
    assert.match(msg.text, new RegExp(`优惠码 CODE-${i}。`));
    assert.match(msg.html, new RegExp(`<b>CODE-${i}</b>`));
    const lu = unsubscribeUrl(msg);
    assert.match(lu, /^http:\/\/127\.0\.0\.1:1\/u\/\d+-[0-9a-f]{32}$/);
    assert.match(rawHeader(msg, 'list-unsubscribe'), /, <mailto:news@example\.com\?subject=unsubscribe>$/);
    assert.equal(rawHeader(msg, 'list-unsubscribe-post'), 'List-Unsubscribe=One-Click');
    assert.equal(msg.from.value[0].name, '市场部 Emma');
  }
  // the raw subject is RFC 2047 on the wire
  const raw = mails[0].headerLines.find((h) => h.key === 'subject').line;
  assert.match(raw, /=\?UTF-8\?B\?/i);
  // starting again: 409, and nothing more is sent
  expectError(await m.post(`/api/v1/campaigns/${c.id}/start`), 409);
  await new Promise((r) => setTimeout(r, 2000));
  assert.equal(mails.length, N);
});

test('unsubscribe: GET shows a page and changes nothing; POST (one-click) suppresses; a later campaign skips the address', async () => {
  const msg = mails.find((x) => x.to.value[0].address === 'c7@promo.example');
  const url = new URL(unsubscribeUrl(msg));
  const local = `${server.url}${url.pathname}`;
  const count = () => Number(sql(server, "SELECT COUNT(*) FROM suppressions WHERE value = 'c7@promo.example'")[0][0]);
  const g = await fetch(local);
  assert.equal(g.status, 200);
  const page = await g.text();
  assert.match(page, /c7@promo\.example/);
  assert.match(page, /<form method="post">/);
  assert.equal(count(), 0, 'a GET (a mail scanner) unsubscribes nobody');
  const token = url.pathname.split('/')[2];
  const forged = token.slice(0, -1) + (token.endsWith('0') ? '1' : '0'); // always a different MAC
  const bad = await fetch(`${server.url}/u/${forged}`, { method: 'POST' });
  assert.equal(bad.status, 404, 'a forged token does nothing');
  assert.equal(count(), 0);
  const p = await fetch(local, { method: 'POST', headers: { 'Content-Type': 'application/x-www-form-urlencoded' }, body: 'List-Unsubscribe=One-Click' });
  assert.equal(p.status, 200);
  assert.equal(count(), 1);
  assert.match(await (await fetch(local)).text(), /已退订/);
  const before = mails.length;
  const c2 = await campaignFor('复购', 'tag:promo AND name ~ 客户7');
  assert.equal((await m.post(`/api/v1/campaigns/${c2.id}/start`)).status, 200);
  await until(async () => (await statusOf(c2.id)).status === 'finished', 120000, 'second campaign', 300);
  const st = (await statusOf(c2.id)).stats;
  assert.ok(st.skipped_reasons.suppressed >= 1, JSON.stringify(st));
  await until(() => mails.length >= before + st.sent, 30000, 'second mails', 100);
  const second = mails.slice(before).map((x) => x.to.value[0].address);
  assert.ok(!second.includes('c7@promo.example'));
  assert.equal(second.length, st.sent);
  // the 360 shows the campaign history, also after a merge
  const c7 = (await a.get(`/api/v1/customers?q=${encodeURIComponent('c7@promo.example')}`)).json.items[0];
  const c8 = (await a.get(`/api/v1/customers?q=${encodeURIComponent('c8@promo.example')}`)).json.items[0];
  let v = (await a.get(`/api/v1/customers/${c7.id}`)).json;
  assert.equal(v.campaigns.find((x) => x.name === '双十一').state, 'sent');
  assert.ok(v.campaigns[0].unsubscribed_at || v.campaigns.some((x) => x.unsubscribed_at));
  const mg = await a.post(`/api/v1/customers/${c8.id}/merge`, { from_id: c7.id });
  assert.equal(mg.status, 200, mg.text);
  assert.ok(mg.json.moved.campaign_history >= 1, JSON.stringify(mg.json.moved));
  v = (await a.get(`/api/v1/customers/${c8.id}`)).json;
  assert.ok(v.campaigns.some((x) => x.address === 'c7@promo.example'), 'the absorbed customer\'s campaign history');
  assert.ok(v.campaigns.some((x) => x.address === 'c8@promo.example'));
});

test('lifecycle: cancel a draft; starting a cancelled campaign, resuming a draft, bad references are refused', async () => {
  const c = await campaignFor('取消', 'tag:nobody');
  const sock = await wsOpen(server, '/ws/agent');
  sock.send({ type: 'auth', token: m.token || marketerToken });
  await sock.waitFor((f) => f.type === 'auth_ok', 3000, 'auth_ok');
  const x = await m.post(`/api/v1/campaigns/${c.id}/cancel`);
  assert.equal(x.status, 200);
  assert.equal(x.json.status, 'cancelled');
  const ev = await sock.waitFor((f) => f.type === 'campaign.updated' && f.campaign_id === c.id, 5000, 'campaign.updated for the marketer');
  assert.equal(ev.status, 'cancelled');
  sock.ws.terminate();
  expectError(await m.post(`/api/v1/campaigns/${c.id}/start`), 409);
  const d = await campaignFor('草稿', 'tag:nobody');
  expectError(await m.post(`/api/v1/campaigns/${d.id}/resume`), 409);
  const e = expectError(await m.post('/api/v1/campaigns', { name: 'x', segment_id: 999999, template_id: 999999, channel: 'email' }), 422);
  assert.deepEqual(Object.keys(e.fields).sort(), ['segment_id', 'template_id']);
  const sms = await m.post('/api/v1/templates', { name: 'sms only', channel: 'sms', text: 'hi' });
  const e2 = expectError(await m.post('/api/v1/campaigns', { name: 'y', segment_id: d.segment_id, template_id: sms.json.id, channel: 'email' }), 422);
  assert.match(e2.fields.template_id, /another channel/);
  const agent = await createAgent(server, admin.token, { role: 'agent' });
  expectError(await api(server, agent.token).get('/api/v1/campaigns'), 403);
});

test('tracking: links go through signed redirects (clicked), a 1x1 image records opens; the unsubscribe link is left alone', async () => {
  const seg = (await m.post('/api/v1/segments', { name: 'seg track', rule: 'name ~ 客户42' })).json;
  const tpl = (await m.post('/api/v1/templates', {
    name: 'tpl track', channel: 'email', subject: '追踪 {{customer.name}}', text: 'x',
    html: '<html><body><a href="https://shop.example/p?id=42&amp;ref=双十一 sale">商品</a> <a href="mailto:x@y.example">mail</a> <a href="{{unsubscribe_url}}">退订</a></body></html>',
  })).json;
  const c = (await m.post('/api/v1/campaigns', { name: 'track', segment_id: seg.id, template_id: tpl.id, channel: 'email' })).json;
  const before = mails.length;
  assert.equal((await m.post(`/api/v1/campaigns/${c.id}/start`)).status, 200);
  await until(async () => (await statusOf(c.id)).status === 'finished', 60000, 'finished', 200);
  await until(() => mails.length > before, 20000, 'mail', 100);
  const msg = mails.slice(before).find((x) => x.subject.startsWith('追踪'));
  const html = msg.html;
  const click = html.match(/href="(http:\/\/127\.0\.0\.1:1\/c\/[^"]+)"/);
  assert.ok(click, html);
  assert.match(html, /href="mailto:x@y\.example"/);
  assert.match(html, /href="http:\/\/127\.0\.0\.1:1\/u\/\d+-[0-9a-f]{32}"/, 'the unsubscribe link is not tracked');
  const pixel = html.match(/<img src="(http:\/\/127\.0\.0\.1:1\/o\/[^"]+)"/);
  assert.ok(pixel && html.indexOf(pixel[0]) < html.indexOf('</body>'), html);
  const local = (u) => u.replace('http://127.0.0.1:1', server.url).replace(/&amp;/g, '&');
  const forged = await fetch(local(click[1]).replace(/s=[0-9a-f]{32}/, `s=${'0'.repeat(32)}`), { redirect: 'manual' });
  assert.equal(forged.status, 404);
  const other = await fetch(local(click[1]).replace(/u=[^&]+/, 'u=https%3A%2F%2Fevil.example'), { redirect: 'manual' });
  assert.equal(other.status, 404, 'never an open redirect');
  let st = (await statusOf(c.id)).stats;
  assert.deepEqual([st.opened, st.clicked], [0, 0]);
  const img = await fetch(local(pixel[1]));
  assert.equal(img.status, 200);
  assert.equal(img.headers.get('content-type'), 'image/gif');
  assert.equal((await statusOf(c.id)).stats.opened, 1);
  const r = await fetch(local(click[1]), { redirect: 'manual' });
  assert.equal(r.status, 302);
  assert.equal(r.headers.get('location'), 'https://shop.example/p?id=42&ref=%E5%8F%8C%E5%8D%81%E4%B8%80%20sale');
  assert.equal(decodeURI(r.headers.get('location')), 'https://shop.example/p?id=42&ref=双十一 sale');
  st = (await statusOf(c.id)).stats;
  assert.deepEqual([st.opened, st.clicked], [1, 1]);
});
