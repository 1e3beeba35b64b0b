'use strict';
// sms.test.js — the SMS channel against the Twilio-shaped provider fake
// (tests/fakes/sms-provider.mjs, a separate process): signed webhooks checked the way the
// npm `twilio` package signs them, inbound texts becoming customers and tickets, agent
// replies reaching the provider with delivery reports coming back, duplicates, STOP /
// START / HELP, provider faults (429, 500, a hang past the timeout) and opt-outs.
const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const path = require('node:path');
const { spawn } = require('node:child_process');
const twilio = require('twilio');
const { startServer, bootstrapAdmin, api, sql, dropDatabase, sleep, freePort, counts, until } = require('./harness');

const ROOT = path.resolve(__dirname, '..', '..');
const SID = 'ACtest0000000000000000000000000001';
const TOKEN = 'test-auth-token-不是真的';
const OUR_NUMBER = '+8610690000';
let fake, fakeUrl, server, a;


const control = async (method, p, body) => {
  const r = await fetch(`${fakeUrl}/_fake/${p}`, { method, headers: { 'content-type': 'application/json' }, body: body ? JSON.stringify(body) : undefined });
  const text = await r.text();
  return text ? JSON.parse(text) : null;
};
const received = () => control('GET', 'messages');

/* A Twilio-signed form post; params values may be arrays (repeated fields). */
async function webhook(p, params, { token = TOKEN, url, tamper, srv = server } = {}) {
  const target = `${srv.url}${p}`;
  const signedUrl = url || target;
  const signature = twilio.getExpectedTwilioSignature(token, signedUrl, params);
  const body = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) for (const x of [].concat(v)) body.append(k, x);
  let text = body.toString();
  if (tamper) text = tamper(text);
  const r = await fetch(target, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', 'x-twilio-signature': signature }, body: text });
  return { status: r.status, type: r.headers.get('content-type'), text: await r.text(), signature,
    retryAfter: r.headers.get('retry-after') };
}

let sidSeq = 0;
const inbound = (from, body, extra = {}) => webhook('/webhooks/sms/inbound', {
  MessageSid: `SMin${Date.now()}${sidSeq++}`, AccountSid: SID, From: from, To: OUR_NUMBER, Body: body, NumMedia: '0', ...extra,
});

before(async () => {
  const port = await freePort();
  fakeUrl = `http://127.0.0.1:${port}`;
  fake = spawn(process.execPath, [path.join(ROOT, 'tests/fakes/sms-provider.mjs'), '--port', String(port), '--account-sid', SID, '--auth-token', TOKEN],
    { stdio: ['ignore', 'inherit', 'inherit'] });
  await until(async () => { try { return (await fetch(`${fakeUrl}/_fake/healthz`)).ok; } catch { return false; } }, 5000, 'the fake');
  server = await startServer({
    env: {
      SWITCHBOARD_SMS_API_BASE: fakeUrl, SWITCHBOARD_SMS_ACCOUNT_SID: SID, SWITCHBOARD_SMS_AUTH_TOKEN: TOKEN,
      SWITCHBOARD_SMS_FROM: OUR_NUMBER, SWITCHBOARD_SMS_TIMEOUT_SECS: '2', SWITCHBOARD_OUTBOX_RETRY_SECS: '1',
      SWITCHBOARD_SMS_RECIPIENT_PER_MIN: '50',
    },
  });
  a = api(server, (await bootstrapAdmin(server)).token);
});

after(async () => {
  if (server) { await server.stop(); dropDatabase(server); }
  if (fake) { fake.kill('SIGTERM'); await new Promise((r) => fake.once('exit', r)); }
});

test('signatures agree with the twilio package (Chinese, repeated fields, media); tampering is refused with 403 and nothing stored', async () => {
  const params = {
    MessageSid: 'SMsig0001', AccountSid: SID, From: '+8613800138001', To: OUR_NUMBER, Body: '你好，我的订单 #42 在哪里？😊',
    NumMedia: '2', MediaUrl0: 'https://media.example/a.jpg?x=1&y=2', MediaContentType0: 'image/jpeg',
    MediaUrl1: 'https://media.example/b.png', MediaContentType1: 'image/png', Extra: ['b', 'a', 'b'],
  };
  const before = counts(server);
  for (const bad of [
    { tamper: (t) => t.replace('42', '43') },                                // the body changed
    { url: `${server.url}/webhooks/sms/inbound?x=1` },                          // signed for another URL
    { token: 'not-the-token' },                                                 // signed with another token
    { tamper: (t) => `${t}&Injected=1` },                                      // a field added
  ]) {
    const r = await webhook('/webhooks/sms/inbound', params, bad);
    assert.equal(r.status, 403, JSON.stringify(bad));
  }
  const unsigned = await fetch(`${server.url}/webhooks/sms/inbound`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'MessageSid=SMx&From=%2B8613800138001&Body=hi' });
  assert.equal(unsigned.status, 403);
  assert.deepEqual(counts(server), before, 'nothing stored by refused webhooks');
  // the genuine one: both sides compute the same signature
  const ok = await webhook('/webhooks/sms/inbound', params);
  assert.equal(ok.status, 200, ok.text);
  assert.ok(twilio.validateRequest(TOKEN, ok.signature, `${server.url}/webhooks/sms/inbound`, params));
  assert.match(ok.type, /xml/);
  assert.match(ok.text, /<Response\/>/);
  const [[mid, body, segments, encoding]] = sql(server, "SELECT id, body_text, segments, encoding FROM messages WHERE external_id = 'SMsig0001'");
  assert.equal(body, params.Body);
  assert.equal(encoding, 'ucs2');
  assert.equal(segments, '1');
  const media = sql(server, `SELECT url, content_type, storage FROM attachments WHERE message_id = ${mid} ORDER BY id`);
  assert.deepEqual(media, [['https://media.example/a.jpg?x=1&y=2', 'image/jpeg', 'url'], ['https://media.example/b.png', 'image/png', 'url']]);
});

test('a text from a new number becomes a customer and ticket; the agent\'s reply reaches the provider and is reported delivered', async () => {
  const r = await inbound('13800138002', 'Where is my parcel? 我的包裹呢');
  assert.equal(r.status, 200, r.text);
  const [[customerId, ticketId]] = sql(server, "SELECT ci.customer_id, t.id FROM customer_identities ci JOIN tickets t ON t.customer_id = ci.customer_id " +
    "WHERE ci.kind = 'phone' AND ci.value = '+8613800138002'");
  assert.ok(customerId && ticketId);
  const t = (await a.get(`/api/v1/tickets/${ticketId}`)).json;
  assert.equal(t.channel, 'sms');
  await control('DELETE', 'messages');
  const reply = await a.post(`/api/v1/tickets/${ticketId}/messages`, { body_text: '您好，包裹明天到 — tomorrow' });
  assert.equal(reply.status, 201, reply.text);
  assert.equal(reply.json.segments, 1);
  assert.equal(reply.json.encoding, 'ucs2');
  const [got] = await until(async () => { const l = await received(); return l.length && l; }, 5000, 'the provider to get the reply');
  assert.equal(got.to, '+8613800138002');
  assert.equal(got.from, OUR_NUMBER);
  assert.equal(got.body, '您好，包裹明天到 — tomorrow');
  assert.match(got.status_callback, /\/webhooks\/sms\/status$/);
  await until(() => sql(server, `SELECT status FROM messages WHERE id = ${reply.json.id}`)[0][0] === 'delivered', 5000, 'delivered');
  const [[state, delivery, provider]] = sql(server, `SELECT state, delivery, provider_id FROM outbox WHERE message_id = ${reply.json.id}`);
  assert.equal(state, 'sent');
  assert.equal(delivery, 'delivered');
  assert.equal(provider, got.sid);
});

test('the same MessageSid twice is stored once and answered 200 both times', async () => {
  const params = { MessageSid: 'SMdup0001', AccountSid: SID, From: '+8613800138003', To: OUR_NUMBER, Body: 'twice' };
  const r1 = await webhook('/webhooks/sms/inbound', params);
  const r2 = await webhook('/webhooks/sms/inbound', params);
  assert.equal(r1.status, 200);
  assert.equal(r2.status, 200);
  assert.equal(r2.text, r1.text);
  assert.equal(sql(server, "SELECT COUNT(*) FROM messages WHERE external_id = 'SMdup0001'")[0][0], '1');
});

test('STOP suppresses and confirms, replies are refused; START lifts it; HELP answers', async () => {
  const from = '+8613800138004';
  await inbound(from, 'hello');
  const [[ticketId]] = sql(server, `SELECT t.id FROM tickets t JOIN customer_identities ci ON ci.customer_id = t.customer_id WHERE ci.value = '${from}'`);
  await control('DELETE', 'messages');
  assert.equal((await inbound(from, '  stop ')).status, 200);
  assert.equal(sql(server, `SELECT COUNT(*) FROM suppressions WHERE channel = 'sms' AND value = '${from}'`)[0][0], '1');
  const [confirm] = await until(async () => { const l = (await received()).filter((m) => m.to === from); return l.length && l; }, 5000, 'the STOP confirmation');
  assert.match(confirm.body, /unsubscribed/i);
  const refused = await a.post(`/api/v1/tickets/${ticketId}/messages`, { body_text: 'are you there?' });
  assert.equal(refused.status, 409);
  assert.equal(refused.json.error.code, 'opted_out');
  assert.match(refused.json.error.message, /START/);
  assert.equal((await inbound(from, '退订')).status, 200); // Chinese keyword, already suppressed: still one row
  assert.equal(sql(server, `SELECT COUNT(*) FROM suppressions WHERE value = '${from}'`)[0][0], '1');
  assert.equal((await inbound(from, 'START')).status, 200);
  assert.equal(sql(server, `SELECT COUNT(*) FROM suppressions WHERE value = '${from}'`)[0][0], '0');
  assert.equal((await a.post(`/api/v1/tickets/${ticketId}/messages`, { body_text: 'welcome back' })).status, 201);
  assert.equal((await inbound(from, 'help')).status, 200);
  await until(async () => (await received()).filter((m) => m.to === from).length >= 5, 8000, 'every answer');
  const bodies = (await received()).filter((m) => m.to === from).map((m) => m.body);
  assert.equal(bodies.filter((b) => /unsubscribed/i.test(b)).length, 2, 'each STOP confirmed');
  assert.ok(bodies.some((b) => /subscribed again/i.test(b)));
  assert.ok(bodies.includes('welcome back'));
  assert.ok(bodies.some((b) => /agent will answer/i.test(b)));
});

async function replyTo(from, text) {
  await inbound(from, 'hi');
  const [[ticketId]] = sql(server, `SELECT t.id FROM tickets t JOIN customer_identities ci ON ci.customer_id = t.customer_id WHERE ci.value = '${from}'`);
  const r = await a.post(`/api/v1/tickets/${ticketId}/messages`, { body_text: text });
  assert.equal(r.status, 201, r.text);
  return r.json.id;
}
const outbox = (mid) => sql(server, `SELECT state, attempts, COALESCE(error, ''), COALESCE(delivery, '') FROM outbox WHERE message_id = ${mid}`)[0];

test('429 with Retry-After and 500 are retried and delivered once', async () => {
  await control('DELETE', 'messages');
  await control('POST', 'faults', { mode: '429', count: 1, retry_after: 1 });
  await control('POST', 'faults', { mode: '500', count: 1 });
  const mid = await replyTo('+8613800138005', 'third time lucky');
  await until(() => outbox(mid)[3] === 'delivered', 15000, 'delivery after the faults');
  const got = (await received()).filter((m) => m.to === '+8613800138005');
  assert.deepEqual(got.map((m) => m.answered), [429, 500, 201]);
  assert.equal(Number(outbox(mid)[1]), 3);
});

test('a provider that takes the request and hangs past the timeout ends ambiguous, sent once, shown to the agent', async () => {
  await control('DELETE', 'messages');
  await control('POST', 'faults', { mode: 'hang', count: 1 });
  const mid = await replyTo('+8613800138006', 'did you get this?');
  await until(() => outbox(mid)[0] === 'ambiguous', 10000, 'ambiguous');
  assert.match(outbox(mid)[2], /may or may not have been delivered/);
  assert.equal(sql(server, `SELECT status FROM messages WHERE id = ${mid}`)[0][0], 'ambiguous');
  await sleep(2500); // a retry would have happened by now
  assert.equal((await received()).filter((m) => m.to === '+8613800138006').length, 1, 'the provider got it once');
});

test('the provider saying "unsubscribed" (21610) fails the reply and records a suppression', async () => {
  await control('POST', 'unsubscribed', { number: '+8613800138007' });
  const mid = await replyTo('+8613800138007', 'hello?');
  await until(() => outbox(mid)[0] === 'failed', 8000, 'failed');
  assert.match(outbox(mid)[2], /21610/);
  assert.equal(sql(server, "SELECT reason FROM suppressions WHERE value = '+8613800138007'")[0][0], 'provider: recipient unsubscribed');
});

test('a connection reset after the request went out is ambiguous too, never re-sent (not even by libcurl on its own)', async () => {
  await control('DELETE', 'messages');
  await control('POST', 'faults', { mode: 'reset', count: 1 });
  const mid = await replyTo('+8613800138008', 'reset me');
  await until(() => outbox(mid)[0] === 'ambiguous', 10000, 'ambiguous');
  await sleep(1500);
  assert.equal((await received()).filter((m) => m.to === '+8613800138008').length, 1, 'one request reached the provider');
});

test('one number gets at most recipient_per_min messages a minute; the rest wait without using up attempts', async () => {
  const s2 = await startServer({
    env: {
      SWITCHBOARD_SMS_API_BASE: fakeUrl, SWITCHBOARD_SMS_ACCOUNT_SID: SID, SWITCHBOARD_SMS_AUTH_TOKEN: TOKEN,
      SWITCHBOARD_SMS_FROM: OUR_NUMBER, SWITCHBOARD_SMS_RECIPIENT_PER_MIN: '2',
    },
  });
  try {
    const a2 = api(s2, (await bootstrapAdmin(s2)).token);
    const c = await a2.post('/api/v1/customers', { name: 'Busy', phone: '+8613800138009' });
    assert.equal(c.status, 201, c.text);
    const t = await a2.post('/api/v1/tickets', { customer_id: c.json.id, channel: 'sms', subject: 'busy' });
    const ids = [];
    for (const text of ['one', 'two', 'three']) ids.push((await a2.post(`/api/v1/tickets/${t.json.id}/messages`, { body_text: text })).json.id);
    const row = (id) => sql(s2, `SELECT state, attempts, COALESCE(error, '') FROM outbox WHERE message_id = ${id}`)[0];
    await until(() => ids.filter((id) => row(id)[0] === 'sent').length === 2, 8000, 'two sent');
    await until(() => /waiting: at most 2 messages a minute/.test(row(ids[2])[2]), 5000, 'the third waiting');
    const third = row(ids[2]);
    assert.equal(third[0], 'queued');
    assert.equal(third[1], '0', 'waiting used up no attempt');
  } finally {
    await s2.stop();
    dropDatabase(s2);
  }
});

test('a flood beyond [ingest] queue_max is refused with 503 busy and Retry-After, nothing half-stored; the retries are stored once', async () => {
  // one writer that gathers each batch for a second and a queue of one: the first text waits
  // in the queue, the others find it full
  const s2 = await startServer({
    env: {
      SWITCHBOARD_SMS_API_BASE: fakeUrl, SWITCHBOARD_SMS_ACCOUNT_SID: SID, SWITCHBOARD_SMS_AUTH_TOKEN: TOKEN,
      SWITCHBOARD_SMS_FROM: OUR_NUMBER, SWITCHBOARD_INGEST_WRITERS: '1', SWITCHBOARD_INGEST_QUEUE_MAX: '1',
      SWITCHBOARD_INGEST_BATCH_WAIT_US: '1000000',
    },
  });
  try {
    const texts = ['+8613800138101', '+8613800138102', '+8613800138103'].map((from, i) => ({
      MessageSid: `SMflood${Date.now()}${i}`, AccountSid: SID, From: from, To: OUR_NUMBER, Body: `洪水 ${i}`, NumMedia: '0',
    }));
    const first = await Promise.all(texts.map((t) => webhook('/webhooks/sms/inbound', t, { srv: s2 })));
    const ok = first.filter((r) => r.status === 200), busy = first.filter((r) => r.status === 503);
    assert.equal(ok.length, 1, JSON.stringify(first.map((r) => [r.status, r.text])));
    assert.equal(busy.length, 2);
    for (const r of busy) {
      assert.equal(JSON.parse(r.text).error.code, 'busy', r.text);
      assert.equal(r.retryAfter, '1');
    }
    const stored = () => Number(sql(s2, "SELECT COUNT(*) FROM messages WHERE channel = 'sms' AND external_id LIKE 'SMflood%'")[0][0]);
    assert.equal(stored(), 1, 'a refused text left nothing behind');
    // the provider retries: one at a time each finds room
    for (const t of texts) assert.equal((await webhook('/webhooks/sms/inbound', t, { srv: s2 })).status, 200);
    assert.equal(stored(), 3, 'each text stored once, the accepted one not again');
  } finally {
    await s2.stop();
    dropDatabase(s2);
  }
});

