'use strict';
// campaign_results.test.js — what comes back from a campaign (issue 9, point 5), against the
// real parts: campaign mail into an SMTP capture; delivery reports (RFC 3464) and replies
// into a private Dovecot mailbox the gateway reads; SMS through the provider fake with its
// signed status callbacks and inbound webhooks.
//   - a failed report naming a campaign message: bounced, the address suppressed (5.x.x),
//     and no ticket from MAILER-DAEMON; a delivered report: delivered; a report about
//     a message that is not ours stays a message (a ticket) as before;
//   - a reply (In-Reply-To the campaign's Message-ID) opens a ticket linked to the campaign;
//   - SMS: the provider's reports mark delivered/bounced; a text back within reply_days
//     is a reply (its ticket linked), a STOP is an unsubscribe, not a reply;
//   - revenue: deals won after the campaign reached the customer, each to the last
//     campaign before the win, none won before; per-channel comparison report.
const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const { execFileSync, spawn } = require('node:child_process');
const { SMTPServer } = require('smtp-server');
const { simpleParser } = require('mailparser');
const twilio = require('twilio');
const {
  startServer, bootstrapAdmin, api, sql, dropDatabase, readDevEnv, until, freePort,
} = require('./harness');

const ROOT = path.resolve(__dirname, '..', '..');
const USER = 'campaign-results@example.com';
const PASS = 'campaign-results-pass';
const SID = 'ACtest0000000000000000000000000011';
const TOKEN = 'results-token';
const OUR = '+8610690011';
const V1 = '/api/v1';
let server; let a; let conf; let smtp; let fake; let fakeUrl;
const mails = [];

const doveadm = (...args) => execFileSync('doveadm', ['-c', conf, ...args], { encoding: 'utf8' });
const save = (text) => execFileSync('doveadm', ['-c', conf, 'save', '-u', USER], { input: text });
const num = (q) => Number(sql(server, q)[0][0]);
const hhmm = (mins) => `${String(Math.floor(((mins % 1440) + 1440) % 1440 / 60)).padStart(2, '0')}:${String(((mins % 60) + 60) % 60).padStart(2, '0')}`;
const nowLocal = () => { const d = new Date(); return d.getUTCHours() * 60 + d.getUTCMinutes() + 480; };

before(async () => {
  const dev = readDevEnv();
  conf = dev.SWITCHBOARD_DEV_DOVECOT_CONF;
  assert.ok(conf, 'Dovecot is not running: scripts/dev-services start');
  const passwd = path.join(path.dirname(conf), 'passwd');
  if (!fs.readFileSync(passwd, 'utf8').split('\n').some((l) => l.startsWith(`${USER}:`))) {
    fs.appendFileSync(passwd, `${USER}:{PLAIN}${PASS}::::::\n`);
  }
  doveadm('expunge', '-u', USER, 'mailbox', 'INBOX', 'all');
  const smtpPort = await freePort();
  smtp = new SMTPServer({
    authOptional: true, disabledCommands: ['STARTTLS'], logger: false,
    onData(stream, session, cb) { simpleParser(stream).then((m) => { mails.push(m); cb(); }, cb); },
  });
  await new Promise((r) => smtp.listen(smtpPort, '127.0.0.1', r));
  const smsPort = await freePort();
  fakeUrl = `http://127.0.0.1:${smsPort}`;
  fake = spawn(process.execPath, [path.join(ROOT, 'tests/fakes/sms-provider.mjs'), '--port', String(smsPort), '--account-sid', SID,
    '--auth-token', TOKEN], { stdio: ['ignore', 'inherit', 'inherit'] });
  await until(async () => { try { return (await fetch(`${fakeUrl}/_fake/healthz`)).ok; } catch { return false; } }, 5000, 'the fake');
  const port = await freePort(); // the provider calls back at our public URL
  server = await startServer({
    port,
    env: {
      SWITCHBOARD_SERVER_PUBLIC_URL: `http://127.0.0.1:${port}`,
      SWITCHBOARD_SMTP_HOST: '127.0.0.1', SWITCHBOARD_SMTP_PORT: String(smtpPort), SWITCHBOARD_SMTP_FROM: 'news@shop.example',
      SWITCHBOARD_MAILBOX_RESULTS_HOST: '127.0.0.1', SWITCHBOARD_MAILBOX_RESULTS_PORT: dev.SWITCHBOARD_DEV_IMAP_PORT,
      SWITCHBOARD_MAILBOX_RESULTS_TLS: 'none', SWITCHBOARD_MAILBOX_RESULTS_USER: USER, SWITCHBOARD_MAILBOX_RESULTS_PASSWORD: PASS,
      SWITCHBOARD_SMS_API_BASE: fakeUrl, SWITCHBOARD_SMS_ACCOUNT_SID: SID, SWITCHBOARD_SMS_AUTH_TOKEN: TOKEN, SWITCHBOARD_SMS_FROM: OUR,
      SWITCHBOARD_CAMPAIGNS_SMS_WINDOW: `${hhmm(nowLocal() - 120)}-${hhmm(nowLocal() + 120)}`,
      SWITCHBOARD_ROUTING_ENABLED: 'no',
    },
  });
  a = api(server, (await bootstrapAdmin(server)).token);
});

after(async () => {
  if (server) { await server.stop(); dropDatabase(server); }
  if (smtp) await new Promise((r) => smtp.close(r));
  if (fake) fake.kill();
  if (conf) doveadm('expunge', '-u', USER, 'mailbox', 'INBOX', 'all');
});

async function customer(name, fields, tag) {
  const r = await a.post(`${V1}/customers`, { name, ...fields, tags: [tag] });
  assert.equal(r.status, 201, r.text);
  return r.json;
}

async function campaign(name, channel, rule, body) {
  const seg = (await a.post(`${V1}/segments`, { name, rule })).json;
  const tpl = (await a.post(`${V1}/templates`, { name, channel, subject: channel === 'email' ? `${name} {{customer.name}}` : undefined, text: body })).json;
  const r = await a.post(`${V1}/campaigns`, { name, channel, segment_id: seg.id, template_id: tpl.id });
  assert.equal(r.status, 201, r.text);
  assert.equal((await a.post(`${V1}/campaigns/${r.json.id}/start`)).status, 200);
  await until(async () => (await a.get(`${V1}/campaigns/${r.json.id}`)).json.status === 'finished', 30000, `${name} finished`, 200);
  return r.json.id;
}

const statsOf = async (id) => (await a.get(`${V1}/campaigns/${id}`)).json.stats;
const mailTo = (addr) => mails.filter((m) => m.to.value[0].address === addr).at(-1);

async function deal(customerId, title, amount, currency = 'CNY') {
  const stages = (await a.get(`${V1}/pipeline-stages`)).json.items;
  const open = stages.find((s) => s.kind === 'open'); const won = stages.find((s) => s.kind === 'won');
  let r = await a.post(`${V1}/deals`, { customer_id: customerId, title, amount, currency, stage_id: open.id });
  assert.equal(r.status, 201, r.text);
  r = await a.patch(`${V1}/deals/${r.json.id}`, { stage_id: won.id });
  assert.equal(r.json.status, 'won', r.text);
  return r.json;
}

function report(original, action, status, rcpt) {
  const b = 'dsn-boundary-1';
  return 'From: Mail Delivery System <MAILER-DAEMON@mx.shop.example>\r\n' +
    `To: ${USER}\r\nSubject: Undelivered Mail Returned to Sender\r\nMessage-ID: <dsn.${Date.now()}.${Math.random()}@mx.shop.example>\r\n` +
    'Auto-Submitted: auto-replied\r\nMIME-Version: 1.0\r\n' +
    `Content-Type: multipart/report; report-type=delivery-status; boundary="${b}"\r\n\r\n` +
    `--${b}\r\nContent-Type: text/plain\r\n\r\nThis is the mail system at host mx.shop.example.\r\n\r\n` +
    `--${b}\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx.shop.example\r\n\r\n` +
    `Final-Recipient: rfc822; ${rcpt}\r\nOriginal-Recipient: rfc822;${rcpt}\r\nAction: ${action}\r\nStatus: ${status}\r\n` +
    `Diagnostic-Code: smtp; 550 ${status} <${rcpt}>: Recipient address rejected: User unknown\r\n\r\n` +
    `--${b}\r\nContent-Type: text/rfc822-headers\r\n\r\nFrom: news@shop.example\r\nTo: ${rcpt}\r\nMessage-ID: ${original}\r\n` +
    `Subject: whatever\r\n\r\n--${b}--\r\n`;
}

test('e-mail: bounces and delivery reports land on the ledger (no tickets), a reply opens a ticket linked to the campaign, revenue is attributed last-touch', async () => {
  const bounce = await customer('退信客户', { email: 'gone@results.example' }, 'mailres');
  const fine = await customer('正常客户', { email: 'fine@results.example' }, 'mailres');
  const replier = await customer('回复客户', { email: 'reply@results.example' }, 'mailres');
  const early = await customer('早成交', { email: 'early@results.example' }, 'mailres');
  await deal(early.id, 'won before any campaign', 500); // never attributed
  const c1 = await campaign('秋季上新', 'email', 'tag:mailres', 'Hello {{customer.name}}');
  assert.equal(mails.length, 4);
  const ticketsBefore = num('SELECT COUNT(*) FROM tickets');

  save(report(mailTo('gone@results.example').messageId, 'failed', '5.1.1', 'gone@results.example'));
  save(report(mailTo('fine@results.example').messageId, 'delivered', '2.0.0', 'fine@results.example'));
  save(report('<not-ours.123@elsewhere.example>', 'failed', '5.1.1', 'someone@elsewhere.example'));
  const sent = mailTo('reply@results.example');
  save(`From: =?UTF-8?B?${Buffer.from('回复客户').toString('base64')}?= <reply@results.example>\r\nTo: news@shop.example\r\n` +
    `Subject: Re: ${sent.subject}\r\nMessage-ID: <r1@results.example>\r\nIn-Reply-To: ${sent.messageId}\r\nReferences: ${sent.messageId}\r\n` +
    'Content-Type: text/plain; charset=utf-8\r\n\r\n有优惠券吗？\r\n');

  const st = await until(async () => { const s = await statsOf(c1); return s.bounced === 1 && s.delivered === 1 && s.replied === 1 && s; },
    15000, 'bounce, delivery and reply counted', 200);
  assert.equal(st.sent, 4);
  const [[bouncedAt, reason]] = sql(server, `SELECT bounced_at, bounce_reason FROM campaign_recipients WHERE campaign_id = ${c1} AND customer_id = ${bounce.id}`);
  assert.ok(bouncedAt);
  assert.match(reason, /^5\.1\.1 .*User unknown/);
  assert.equal(sql(server, "SELECT reason FROM suppressions WHERE channel = 'email' AND value = 'gone@results.example'")[0][0], 'bounce');
  assert.ok(sql(server, `SELECT delivered_at FROM campaign_recipients WHERE campaign_id = ${c1} AND customer_id = ${fine.id}`)[0][0]);
  // the two campaign reports made no ticket; the foreign report and the reply did
  await until(() => num('SELECT COUNT(*) FROM tickets') >= ticketsBefore + 2, 10000, 'two tickets', 100);
  await new Promise((r) => setTimeout(r, 1500)); // and nothing more arrives
  assert.equal(num('SELECT COUNT(*) FROM tickets'), ticketsBefore + 2);
  assert.equal(num("SELECT COUNT(*) FROM customer_identities WHERE value = 'mailer-daemon@mx.shop.example'"), 1, 'only the foreign report is a customer message');
  const [[replyTicket]] = sql(server, `SELECT reply_ticket_id FROM campaign_recipients WHERE campaign_id = ${c1} AND customer_id = ${replier.id}`);
  const t = (await a.get(`${V1}/tickets/${replyTicket}`)).json;
  assert.equal(t.customer_id, replier.id);
  assert.equal(t.campaign_id, c1);
  assert.equal(t.campaign_name, '秋季上新');

  // a deal won after c1 reached the replier is c1's; after a second campaign, the next win is c2's
  await deal(replier.id, 'first order', 1200.5);
  let s1 = await statsOf(c1);
  assert.equal(s1.deals, 1);
  assert.deepEqual(s1.revenue, { CNY: '1200.50' });
  const c2 = await campaign('双十二', 'email', 'tag:mailres AND name ~ 回复客户', 'Again {{customer.name}}');
  await deal(replier.id, 'second order', 99, 'USD');
  s1 = await statsOf(c1);
  const s2 = await statsOf(c2);
  assert.deepEqual([s1.deals, s1.revenue], [1, { CNY: '1200.50' }], 'the second win is not the first campaign\'s');
  assert.deepEqual([s2.deals, s2.revenue], [1, { USD: '99.00' }]);
  assert.equal(s2.sent, 1);
  // the bounced address is suppressed: a later campaign skips it
  const c3 = await campaign('再试一次', 'email', 'tag:mailres', 'x');
  const s3 = await statsOf(c3);
  assert.equal(s3.skipped_reasons.suppressed, 1, JSON.stringify(s3));
});

test('SMS: provider reports mark delivered/bounced, a text back is a reply with a linked ticket, STOP is an unsubscribe', async () => {
  const people = [];
  for (let i = 0; i < 3; i++) people.push(await customer(`短信结果${i}`, { phone: `1380000100${i}` }, 'smsres'));
  const c = await campaign('短信回访', 'sms', 'tag:smsres', '{{customer.name}}，回复 1 预约回访');
  let st = await until(async () => { const s = await statsOf(c); return s.delivered === 3 && s; }, 15000, 'three delivered', 200);
  assert.equal(st.bounced, 0);
  // undelivered for the next campaign's messages
  await fetch(`${fakeUrl}/_fake/final-status`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ status: 'undelivered', error_code: 30005 }) });
  const c2 = await campaign('短信二', 'sms', 'tag:smsres AND name ~ 短信结果0', 'x');
  const s2 = await until(async () => { const s = await statsOf(c2); return s.bounced === 1 && s; }, 15000, 'one bounced', 200);
  assert.equal(s2.delivered, 0);
  assert.match(sql(server, `SELECT bounce_reason FROM campaign_recipients WHERE campaign_id = ${c2}`)[0][0], /undelivered, error 30005/);
  await fetch(`${fakeUrl}/_fake/final-status`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ status: 'delivered' }) });

  const inbound = async (from, body) => {
    const target = `${server.url}/webhooks/sms/inbound`;
    const params = { MessageSid: `SMin${Date.now()}${Math.random()}`.replace('.', ''), AccountSid: SID, From: from, To: OUR, Body: body, NumMedia: '0' };
    const r = await fetch(target, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', 'x-twilio-signature': twilio.getExpectedTwilioSignature(TOKEN, target, params) }, body: new URLSearchParams(params).toString() });
    assert.equal(r.status, 200, await r.text());
  };
  await inbound('+8613800001001', '1 好的，周五下午'); // 短信结果1 answers c
  await inbound('+8613800001002', 'STOP');             // 短信结果2 opts out
  st = await statsOf(c);
  assert.equal(st.replied, 1, JSON.stringify(st));
  assert.equal(st.unsubscribed, 1);
  const [[ticket]] = sql(server, `SELECT reply_ticket_id FROM campaign_recipients WHERE campaign_id = ${c} AND customer_id = ${people[1].id}`);
  const t = (await a.get(`${V1}/tickets/${ticket}`)).json;
  assert.equal(t.campaign_id, c);
  assert.equal(t.channel, 'sms');
  assert.equal(num(`SELECT COUNT(*) FROM campaign_recipients WHERE campaign_id = ${c} AND customer_id = ${people[2].id} AND replied_at IS NOT NULL`), 0, 'STOP is no reply');
});

test('per-channel report: sends, outcomes, rates and revenue by channel; days is checked', async () => {
  const r = await a.get(`${V1}/reports/campaigns?days=30`);
  assert.equal(r.status, 200, r.text);
  const { email, sms } = r.json.channels;
  assert.equal(email.campaigns, 3);
  assert.equal(email.sent, 4 + 1 + 3); // c1, c2, c3 (the bounced address skipped)
  assert.deepEqual([email.bounced, email.delivered, email.replied, email.deals], [1, 1, 1, 2]);
  assert.deepEqual(email.revenue, { CNY: '1200.50', USD: '99.00' });
  assert.equal(email.rates.bounced, Math.floor(10000 / 8) / 10000);
  assert.deepEqual([sms.campaigns, sms.sent, sms.delivered, sms.bounced, sms.replied, sms.unsubscribed], [2, 4, 3, 1, 1, 1]);
  assert.equal(r.json.attribution_days, 30);
  assert.equal((await a.get(`${V1}/reports/campaigns?days=0`)).status, 400);
  assert.equal((await a.get(`${V1}/reports/campaigns?days=x`)).status, 400);
});
