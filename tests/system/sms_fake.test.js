'use strict';
// sms_fake.test.js — the fake Twilio-compatible SMS provider (tests/fakes/sms-provider.mjs),
// run as a child process on a free port, checked against Twilio's documented behaviour and
// against the npm `twilio` package's own webhook validation: auth refusal, the Message
// resource and num_segments, validation errors and 21610, signed status callbacks, signed
// inbound webhooks (Chinese text, media), every fault mode, keep-alive, the `text` CLI,
// and a graceful SIGTERM. Needs neither MariaDB nor the switchboard binary.
const { describe, test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const crypto = require('node:crypto');
const fs = require('node:fs');
const http = require('node:http');
const os = require('node:os');
const path = require('node:path');
const { execFile, spawn } = require('node:child_process');
const { pathToFileURL } = require('node:url');
const twilio = require('twilio');
const { getExpectedTwilioSignature } = require('twilio/lib/webhooks/webhooks');
const { ROOT, freePort, sleep } = require('./harness');

const FAKE = path.join(ROOT, 'tests', 'fakes', 'sms-provider.mjs');
const SID = `AC${crypto.randomBytes(16).toString('hex')}`;
const TOKEN = `token-${crypto.randomBytes(8).toString('hex')}`;
const FROM = '+15005550006';
const TO = '+8613800138000';
const TMP = fs.mkdtempSync(path.join(os.tmpdir(), 'sms-fake-'));

/** Starts the fake; resolves {proc, port, pidFile, out(), stop()}. */
async function startFake(extra = []) {
  const port = await freePort();
  const pidFile = path.join(TMP, `fake-${port}.pid`);
  const proc = spawn(process.execPath, [FAKE, '--port', String(port), '--account-sid', SID, '--auth-token', TOKEN,
    '--pid-file', pidFile, ...extra], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  proc.stdout.on('data', (d) => { out += d; });
  proc.stderr.on('data', (d) => { out += d; });
  const exited = new Promise((resolve) => proc.on('exit', (code, signal) => resolve({ code, signal })));
  for (let i = 0; ; i++) {
    const r = await fetch(`http://127.0.0.1:${port}/_fake/healthz`).catch(() => null);
    if (r && r.status === 200 && fs.existsSync(pidFile)) { assert.deepEqual(await r.json(), { ok: true }); break; }
    if (i > 100 || proc.exitCode !== null) throw new Error(`the fake did not start:\n${out}`);
    await sleep(50);
  }
  assert.equal(fs.readFileSync(pidFile, 'utf8').trim(), String(proc.pid));
  return {
    proc, port, pidFile, out: () => out, exited,
    async stop() {
      if (proc.exitCode === null) proc.kill('SIGTERM');
      return exited;
    },
  };
}

let fake;
let cb;          // the local webhook/callback receiver
const received = [];   // requests cb got: {path, url, headers, raw, params}
const waiters = [];

/** Form params as the twilio package's Express-style validation sees them (repeats ⇒ arrays). */
function formObject(raw) {
  const o = {};
  for (const [k, v] of new URLSearchParams(raw)) {
    if (!(k in o)) o[k] = v;
    else o[k] = [].concat(o[k], v);
  }
  return o;
}

async function until(pred, ms = 3000) {
  const deadline = Date.now() + ms;
  for (;;) {
    const hit = received.filter(pred);
    if (hit.length) return hit;
    if (Date.now() > deadline) throw new Error(`nothing arrived in ${ms} ms; got ${JSON.stringify(received.map((r) => r.url))}`);
    await new Promise((r) => { waiters.push(r); setTimeout(r, 50); });
  }
}

async function untilCount(pred, n, ms = 3000) {
  const deadline = Date.now() + ms;
  for (;;) {
    const hit = received.filter(pred);
    if (hit.length >= n) return hit;
    if (Date.now() > deadline) throw new Error(`${hit.length} of ${n} arrived in ${ms} ms`);
    await sleep(20);
  }
}

const apiPath = (sid = SID) => `/2010-04-01/Accounts/${sid}/Messages.json`;
const basic = (u, p) => `Basic ${Buffer.from(`${u}:${p}`).toString('base64')}`;

/**
 * One HTTP request to the fake with node:http. Resolves {status, headers, json, text,
 * reused, localPort}; rejects on a network error or after timeoutMs.
 */
function request(method, p, { form, json, auth = basic(SID, TOKEN), agent, timeoutMs = 5000, port } = {}) {
  return new Promise((resolve, reject) => {
    const headers = {};
    let body = null;
    if (form) {
      body = Buffer.from(new URLSearchParams(form).toString());
      headers['content-type'] = 'application/x-www-form-urlencoded';
    } else if (json !== undefined) {
      body = Buffer.from(JSON.stringify(json));
      headers['content-type'] = 'application/json';
    }
    if (body) headers['content-length'] = body.length;
    if (auth) headers.authorization = auth;
    const req = http.request({
      host: '127.0.0.1', port: port || fake.port, method, path: p, headers, agent: agent === undefined ? false : agent,
    }, (res) => {
      const chunks = [];
      const { localPort } = res.socket;
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        let parsed = null;
        try { parsed = JSON.parse(text); } catch { /* not JSON */ }
        resolve({ status: res.statusCode, headers: res.headers, json: parsed, text, reused: req.reusedSocket, localPort });
      });
    });
    req.setTimeout(timeoutMs, () => req.destroy(Object.assign(new Error('client timeout'), { code: 'CLIENT_TIMEOUT' })));
    req.on('error', reject);
    req.end(body);
  });
}

const send = (form, opts) => request('POST', apiPath(), { form, ...opts });
const ctl = async (method, p, json, { status = 200, port } = {}) => {
  const r = await request(method, `/_fake/${p}`, { json, auth: null, port });
  assert.equal(r.status, status, r.text);
  return r.json;
};
const lastRecord = async () => { const all = await ctl('GET', 'messages'); return all[all.length - 1]; };

before(async () => {
  cb = http.createServer((req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      const raw = Buffer.concat(chunks).toString('utf8');
      const url = `http://127.0.0.1:${cb.address().port}${req.url}`;
      received.push({ path: req.url.split('?')[0], url, headers: req.headers, raw, params: formObject(raw) });
      for (const w of waiters.splice(0)) w();
      if (req.url.startsWith('/webhooks/sms/inbound')) {
        res.writeHead(200, { 'content-type': 'text/xml', 'x-test': 'inbound' });
        res.end('<?xml version="1.0" encoding="UTF-8"?><Response></Response>');
      } else {
        res.writeHead(204);
        res.end();
      }
    });
  });
  await new Promise((r) => cb.listen(0, '127.0.0.1', r));
  fake = await startFake();
});

after(async () => {
  if (fake) {
    const { code } = await fake.stop();
    assert.equal(code, 0, fake.out());
    assert.equal(fs.existsSync(fake.pidFile), false, 'pid file removed on exit');
  }
  if (cb) { cb.closeAllConnections(); cb.close(); }
  fs.rmSync(TMP, { recursive: true, force: true });
});

describe('Messages API', () => {
  before(() => ctl('POST', 'reset'));

  test('wrong or missing credentials, or another account in the path: 401 code 20003', async () => {
    const form = { To: TO, From: FROM, Body: 'hello' };
    for (const [auth, p] of [[null, apiPath()], [basic(SID, 'wrong'), apiPath()], [basic('ACother', TOKEN), apiPath()],
      [basic(SID, TOKEN), apiPath(`AC${'0'.repeat(32)}`)], ['Bearer x', apiPath()]]) {
      const r = await request('POST', p, { form, auth });
      assert.equal(r.status, 401, `${auth} ${p}: ${r.text}`);
      assert.equal(r.json.code, 20003);
      assert.equal(r.json.message, 'Authenticate');
      assert.equal(r.json.status, 401);
      assert.match(r.json.more_info, /^https:\/\/www\.twilio\.com\/docs\/errors\/20003$/);
      assert.match(r.headers['www-authenticate'], /^Basic /);
    }
    const recs = await ctl('GET', 'messages');
    assert.equal(recs.length, 5);
    assert.ok(recs.every((m) => m.sid === null && m.answered === 401 && m.error_code === 20003));
  });

  test('a send answers 201 with the Message resource; num_segments counts GSM-7 and UCS-2', async () => {
    const r = await send({ To: TO, From: FROM, Body: 'hello' });
    assert.equal(r.status, 201, r.text);
    const m = r.json;
    assert.match(m.sid, /^SM[0-9a-f]{32}$/);
    assert.equal(m.status, 'queued');
    assert.equal(m.to, TO);
    assert.equal(m.from, FROM);
    assert.equal(m.body, 'hello');
    assert.equal(m.num_segments, '1');
    assert.equal(m.num_media, '0');
    assert.equal(m.account_sid, SID);
    assert.equal(m.messaging_service_sid, null);
    assert.equal(m.error_code, null);
    assert.equal(m.error_message, null);
    assert.equal(m.direction, 'outbound-api');
    assert.equal(m.api_version, '2010-04-01');
    assert.match(m.date_created, /^[A-Z][a-z]{2}, \d{2} [A-Z][a-z]{2} \d{4} \d{2}:\d{2}:\d{2} \+0000$/);
    assert.equal(m.uri, `/2010-04-01/Accounts/${SID}/Messages/${m.sid}.json`);
    assert.match(r.headers['content-type'], /^application\/json/);

    const cases = [
      ['a'.repeat(160), 1], ['a'.repeat(161), 2], ['a'.repeat(306), 2], ['a'.repeat(307), 3],
      ['{'.repeat(80), 1], ['{'.repeat(81), 2],            // extension characters cost two septets
      ['€ über à Ω @', 1],                                   // all GSM-7
      ['中'.repeat(70), 1], ['中'.repeat(71), 2], ['中'.repeat(134), 2], ['中'.repeat(135), 3],
      ['a'.repeat(159) + 'é', 1], ['a'.repeat(160) + 'ç', 3], // ç is not GSM-7: UCS-2, 161 units
      ['😀', 1], ['😀'.repeat(35), 1], ['😀'.repeat(35) + 'a', 2], // two code units each
      ['中'.repeat(1600), 24],
    ];
    for (const [body, want] of cases) {
      const x = await send({ To: TO, From: FROM, Body: body });
      assert.equal(x.status, 201, x.text);
      assert.equal(x.json.num_segments, String(want), `${JSON.stringify(body.slice(0, 12))}… (${body.length} units)`);
      assert.equal(x.json.body, body);
    }
    // The resource can be fetched, like Twilio's.
    const got = await request('GET', `/2010-04-01/Accounts/${SID}/Messages/${m.sid}.json`);
    assert.equal(got.status, 200);
    assert.equal(got.json.sid, m.sid);
    const missing = await request('GET', `/2010-04-01/Accounts/${SID}/Messages/SM${'0'.repeat(32)}.json`);
    assert.equal(missing.status, 404);
    assert.equal(missing.json.code, 20404);
  });

  test('MessagingServiceSid instead of From: accepted, from null', async () => {
    const mg = `MG${'1'.repeat(32)}`;
    const r = await send({ To: TO, MessagingServiceSid: mg, Body: 'via a service' });
    assert.equal(r.status, 201, r.text);
    assert.equal(r.json.status, 'accepted');
    assert.equal(r.json.from, null);
    assert.equal(r.json.messaging_service_sid, mg);
    const rec = await lastRecord();
    assert.equal(rec.messaging_service_sid, mg);
    assert.equal(rec.from, null);
  });

  test('validation errors: 21604, 21211, 21603, 21602, 21617', async () => {
    const cases = [
      [{ From: FROM, Body: 'x' }, 21604, /'To' phone number is required/],
      [{ To: '13800138000', From: FROM, Body: 'x' }, 21211, /^The 'To' number 13800138000 is not a valid phone number\.$/],
      [{ To: '+0123456789', From: FROM, Body: 'x' }, 21211, /not a valid phone number/],
      [{ To: '+12345', From: FROM, Body: 'x' }, 21211, /not a valid phone number/],
      [{ To: `+1${'2'.repeat(15)}`, From: FROM, Body: 'x' }, 21211, /not a valid phone number/],
      [{ To: TO, Body: 'x' }, 21603, /'From' phone number is required/],
      [{ To: TO, From: FROM }, 21602, /body is required/],
      [{ To: TO, From: FROM, Body: '' }, 21602, /body is required/],
      [{ To: TO, From: FROM, Body: 'a'.repeat(1601) }, 21617, /1600 character limit/],
    ];
    for (const [form, code, re] of cases) {
      const r = await send(form);
      assert.equal(r.status, 400, `${JSON.stringify(form).slice(0, 60)}: ${r.text}`);
      assert.equal(r.json.code, code, r.text);
      assert.match(r.json.message, re);
      assert.equal(r.json.status, 400);
      assert.equal(r.json.more_info, `https://www.twilio.com/docs/errors/${code}`);
    }
    const ok = await send({ To: `+1${'2'.repeat(14)}`, From: FROM, Body: 'a'.repeat(1600) });
    assert.equal(ok.status, 201, ok.text);
    assert.equal(ok.json.num_segments, '11');
  });

  test('an unsubscribed number: 400 code 21610 until it is removed', async () => {
    const num = '+8613911112222';
    assert.deepEqual((await ctl('POST', 'unsubscribed', { number: num })).numbers, [num]);
    const r = await send({ To: num, From: FROM, Body: 'hi' });
    assert.equal(r.status, 400, r.text);
    assert.equal(r.json.code, 21610);
    assert.equal(r.json.message, 'Attempt to send to unsubscribed recipient');
    assert.equal(r.json.status, 400);
    const rec = await lastRecord();
    assert.deepEqual([rec.sid, rec.answered, rec.error_code, rec.to], [null, 400, 21610, num]);
    assert.equal((await send({ To: TO, From: FROM, Body: 'others still fine' })).status, 201);
    await ctl('DELETE', 'unsubscribed', { number: num });
    assert.deepEqual((await ctl('GET', 'unsubscribed')).numbers, []);
    assert.equal((await send({ To: num, From: FROM, Body: 'hi again' })).status, 201);
  });

  test('keep-alive: requests share one connection, errors included', async () => {
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    try {
      const a = await send({ To: TO, From: FROM, Body: 'one' }, { agent });
      const b = await send({ To: TO, From: FROM, Body: 'two' }, { agent });
      const c = await send({ To: 'bad', From: FROM, Body: 'three' }, { agent });
      const d = await send({ To: TO, From: FROM, Body: 'four' }, { agent, auth: basic(SID, 'nope') });
      const e = await send({ To: TO, From: FROM, Body: 'five' }, { agent });
      assert.deepEqual([a.status, b.status, c.status, d.status, e.status], [201, 201, 400, 401, 201]);
      assert.equal(a.reused, false);
      assert.deepEqual([b.reused, c.reused, d.reused, e.reused], [true, true, true, true]);
      assert.equal(new Set([a, b, c, d, e].map((x) => x.localPort)).size, 1, 'one socket');
    } finally {
      agent.destroy();
    }
  });
});

describe('status callbacks', () => {
  before(() => ctl('POST', 'reset'));

  test('sent, then delivered: form-encoded, signed so that twilio.validateRequest accepts them', async () => {
    const url = `http://127.0.0.1:${cb.address().port}/webhooks/sms/status?src=fake&n=1`;
    const t0 = Date.now();
    const r = await send({ To: TO, From: FROM, Body: 'callback me', StatusCallback: url });
    assert.equal(r.status, 201, r.text);
    const sid = r.json.sid;
    const got = await untilCount((x) => x.params.MessageSid === sid, 2);
    assert.ok(Date.now() - t0 >= 50, 'the callbacks come after their delays');
    assert.deepEqual(got.map((x) => x.params.MessageStatus), ['sent', 'delivered']);
    for (const x of got) {
      assert.equal(x.url, url);
      assert.match(x.headers['content-type'], /^application\/x-www-form-urlencoded/);
      const sig = x.headers['x-twilio-signature'];
      assert.ok(sig, 'signed');
      assert.equal(twilio.validateRequest(TOKEN, sig, url, x.params), true, x.raw);
      assert.equal(getExpectedTwilioSignature(TOKEN, url, x.params), sig);
      assert.equal(twilio.validateRequest('another-token', sig, url, x.params), false);
      assert.equal(twilio.validateRequest(TOKEN, sig, url.replace('n=1', 'n=2'), x.params), false);
      const p = x.params;
      assert.equal(p.SmsSid, sid);
      assert.equal(p.SmsStatus, p.MessageStatus);
      assert.equal(p.AccountSid, SID);
      assert.equal(p.From, FROM);
      assert.equal(p.To, TO);
      assert.equal(p.ApiVersion, '2010-04-01');
      assert.equal('ErrorCode' in p, false);
    }
    // The record and the resource follow the callbacks.
    await sleep(50);
    const rec = (await ctl('GET', 'messages')).find((m) => m.sid === sid);
    assert.equal(rec.status, 'delivered');
    assert.deepEqual(rec.callbacks.map((c) => [c.status, c.answered]), [['sent', 204], ['delivered', 204]]);
    const res = await request('GET', `/2010-04-01/Accounts/${SID}/Messages/${sid}.json`);
    assert.equal(res.json.status, 'delivered');
  });

  test('final-status undelivered/failed: ErrorCode in the last callback', async () => {
    const url = `http://127.0.0.1:${cb.address().port}/webhooks/sms/status`;
    await ctl('POST', 'final-status', { status: 'undelivered', error_code: 30003 });
    const a = (await send({ To: TO, From: FROM, Body: 'a', StatusCallback: url })).json.sid;
    await ctl('POST', 'final-status', { status: 'failed' });
    const b = (await send({ To: TO, From: FROM, Body: 'b', StatusCallback: url })).json.sid;
    await ctl('POST', 'final-status', { status: 'delivered' });
    await ctl('POST', 'final-status', { status: 'bogus' }, { status: 400 });
    const ga = await untilCount((x) => x.params.MessageSid === a, 2);
    const gb = await untilCount((x) => x.params.MessageSid === b, 2);
    assert.deepEqual(ga.map((x) => [x.params.MessageStatus, x.params.ErrorCode]), [['sent', undefined], ['undelivered', '30003']]);
    assert.deepEqual(gb.map((x) => [x.params.MessageStatus, x.params.ErrorCode]), [['sent', undefined], ['failed', '30008']]);
    for (const x of [...ga, ...gb]) assert.equal(twilio.validateRequest(TOKEN, x.headers['x-twilio-signature'], url, x.params), true);
    const viaService = await send({ To: TO, MessagingServiceSid: `MG${'2'.repeat(32)}`, Body: 'c', StatusCallback: url });
    const gc = await untilCount((x) => x.params.MessageSid === viaService.json.sid, 2);
    assert.equal(gc[0].params.MessagingServiceSid, `MG${'2'.repeat(32)}`);
    assert.match(gc[0].params.From, /^\+\d+$/, 'the sender the service picked');
  });

  test('POST /_fake/status-callback: arbitrary params, repeated ones and non-BMP text, signed like the twilio package', async () => {
    const url = `http://127.0.0.1:${cb.address().port}/webhooks/sms/status?a=b&c='d'`;
    const params = { MessageSid: 'SMx', MessageStatus: 'read', Z: ['b', 'a', 'b'], 'é': '😀 中文', Body: 'a+b & c=d' };
    const r = await ctl('POST', 'status-callback', { url, params });
    assert.equal(r.status, 204);
    const [x] = await until((y) => y.params.MessageSid === 'SMx');
    assert.deepEqual(x.params.Z, ['b', 'a', 'b']);
    assert.equal(x.params.Body, 'a+b & c=d');
    assert.equal(twilio.validateRequest(TOKEN, x.headers['x-twilio-signature'], url, x.params), true);
    assert.equal(getExpectedTwilioSignature(TOKEN, url, x.params), x.headers['x-twilio-signature']);
  });

  test('the signing function agrees with getExpectedTwilioSignature (ports, repeats, UTF-16 order)', async () => {
    const { twilioSignature } = await import(pathToFileURL(FAKE).href);
    const cases = [
      ['https://example.com/webhooks/sms/inbound', { Body: '你好', From: '+8613800138000' }],
      ['https://example.com:443/x?y=1', { A: '1' }],
      ['http://example.com:8080/x', { b: ['2', '1', '2'], a: '' }],
      ['http://127.0.0.1:31080/w', { '\u{1F600}': 'x', '\uFFFF': 'y', a: 'z', B: 'w' }],
      ['http://h/p', {}],
    ];
    for (const [url, params] of cases) {
      assert.equal(twilioSignature(TOKEN, url, params), getExpectedTwilioSignature(TOKEN, url, params), url);
      assert.equal(twilio.validateRequest(TOKEN, twilioSignature(TOKEN, url, params), url, params), true, url);
    }
    // Without a port in the URL the validator also accepts it with the default port, and
    // the other way round: so does the fake's signature.
    const sig = twilioSignature(TOKEN, 'https://example.com/a', { x: '1' });
    assert.equal(twilio.validateRequest(TOKEN, sig, 'https://example.com:443/a', { x: '1' }), true);
  });
});

describe('inbound webhooks ("texting in")', () => {
  before(() => ctl('POST', 'reset'));
  const inboundUrl = () => `http://127.0.0.1:${cb.address().port}/webhooks/sms/inbound`;

  test('a Chinese text with two pictures: signed form POST; the answer is passed back', async () => {
    const media = [
      { url: 'https://api.twilio.com/2010-04-01/Accounts/AC1/Messages/MM1/Media/ME1', content_type: 'image/jpeg' },
      { url: 'https://example.com/p.png?x=1&y=中', content_type: 'image/png' },
    ];
    const r = await ctl('POST', 'inbound', { webhook: inboundUrl(), from: '+8613800138000', to: '+8610690000', body: '你好，我的订单 #42 还没到 😀', media });
    assert.equal(r.status, 200);
    assert.equal(r.body, '<?xml version="1.0" encoding="UTF-8"?><Response></Response>');
    assert.equal(r.headers['x-test'], 'inbound');
    assert.match(r.message_sid, /^MM[0-9a-f]{32}$/);
    const [x] = await until((y) => y.params.MessageSid === r.message_sid);
    const p = x.params;
    assert.equal(x.url, inboundUrl());
    assert.match(x.headers['content-type'], /^application\/x-www-form-urlencoded/);
    assert.equal(twilio.validateRequest(TOKEN, x.headers['x-twilio-signature'], inboundUrl(), p), true, x.raw);
    assert.equal(getExpectedTwilioSignature(TOKEN, inboundUrl(), p), x.headers['x-twilio-signature']);
    assert.equal(twilio.validateRequest('wrong', x.headers['x-twilio-signature'], inboundUrl(), p), false);
    assert.equal(p.Body, '你好，我的订单 #42 还没到 😀');
    assert.deepEqual([p.SmsMessageSid, p.SmsSid], [r.message_sid, r.message_sid]);
    assert.deepEqual([p.AccountSid, p.From, p.To, p.ApiVersion], [SID, '+8613800138000', '+8610690000', '2010-04-01']);
    assert.deepEqual([p.NumMedia, p.NumSegments, p.FromCountry, p.ToCountry, p.SmsStatus], ['2', '1', 'CN', 'CN', 'received']);
    assert.deepEqual([p.MediaUrl0, p.MediaContentType0, p.MediaUrl1, p.MediaContentType1],
      [media[0].url, 'image/jpeg', media[1].url, 'image/png']);
  });

  test('a given message_sid is used; auth_token signs with another token; bad requests are refused', async () => {
    const sid = `SM${'a'.repeat(32)}`;
    const r = await ctl('POST', 'inbound', { webhook: inboundUrl(), from: '+447700900123', to: '+8610690000', body: 'x'.repeat(200), message_sid: sid });
    assert.equal(r.message_sid, sid);
    const [x] = await until((y) => y.params.MessageSid === sid);
    assert.deepEqual([x.params.NumMedia, x.params.NumSegments, x.params.FromCountry], ['0', '2', 'GB']);
    assert.equal('MediaUrl0' in x.params, false);
    assert.equal(twilio.validateRequest(TOKEN, x.headers['x-twilio-signature'], inboundUrl(), x.params), true);

    const forged = await ctl('POST', 'inbound', { webhook: inboundUrl(), from: '+8613800138000', to: '+8610690000', body: 'forged', auth_token: 'not-the-token' });
    const [y] = await until((z) => z.params.MessageSid === forged.message_sid);
    assert.equal(twilio.validateRequest(TOKEN, y.headers['x-twilio-signature'], inboundUrl(), y.params), false);

    await ctl('POST', 'inbound', { from: '+8613800138000', to: '+8610690000', body: 'no webhook' }, { status: 400 });
    await ctl('POST', 'inbound', { webhook: inboundUrl(), to: '+8610690000', body: 'no from' }, { status: 400 });
    const dead = await ctl('POST', 'inbound', { webhook: `http://127.0.0.1:${await freePort()}/x`, from: '+8613800138000', to: '+1', body: 'x' }, { status: 502 });
    assert.match(dead.error, /ECONNREFUSED/);
  });

  test('STOP texted in unsubscribes the sender (Twilio default opt-out); START undoes it', async () => {
    const num = '+8613700001111';
    await ctl('POST', 'inbound', { webhook: inboundUrl(), from: num, to: FROM, body: ' stop ' });
    assert.deepEqual((await ctl('GET', 'unsubscribed')).numbers, [num]);
    assert.equal((await send({ To: num, From: FROM, Body: 'still there?' })).json.code, 21610);
    await ctl('POST', 'inbound', { webhook: inboundUrl(), from: num, to: FROM, body: 'START' });
    assert.equal((await send({ To: num, From: FROM, Body: 'welcome back' })).status, 201);
    await ctl('POST', 'auto-opt-out', { enabled: false });
    await ctl('POST', 'inbound', { webhook: inboundUrl(), from: num, to: FROM, body: 'STOP' });
    assert.deepEqual((await ctl('GET', 'unsubscribed')).numbers, []);
    await ctl('POST', 'reset');
  });

  test('the `text` CLI posts one webhook and prints the answer', async () => {
    const run = (args) => new Promise((resolve) => {
      // Without the dev instance's SWITCHBOARD_DEV_SMS_* (tests/run-all.sh exports them).
      const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('SWITCHBOARD_DEV_SMS_')));
      execFile(process.execPath, [FAKE, 'text', ...args], { timeout: 10000, env }, (err, stdout, stderr) => {
        resolve({ code: err ? err.code : 0, stdout, stderr });
      });
    });
    const r = await run(['--webhook', inboundUrl(), '--auth-token', TOKEN, '--account-sid', SID,
      '--from', '+8613800138000', '--to', '+8610690000', '--body', '命令行 hello', '--media', 'https://example.com/a.jpg']);
    assert.equal(r.code, 0, r.stderr);
    const out = JSON.parse(r.stdout);
    assert.equal(out.status, 200);
    const [x] = await until((y) => y.params.MessageSid === out.message_sid);
    assert.equal(x.params.Body, '命令行 hello');
    assert.equal(x.params.MediaContentType0, 'image/jpeg');
    assert.equal(twilio.validateRequest(TOKEN, x.headers['x-twilio-signature'], inboundUrl(), x.params), true);
    // --webhook-base appends /webhooks/sms/inbound
    const b = await run(['--webhook-base', `http://127.0.0.1:${cb.address().port}`, '--auth-token', TOKEN,
      '--from', '+8613800138000', '--to', '+8610690000', '--body', 'base']);
    assert.equal(b.code, 0, b.stderr);
    const [y] = await until((z) => z.params.MessageSid === JSON.parse(b.stdout).message_sid);
    assert.equal(y.path, '/webhooks/sms/inbound');
    assert.equal(y.params.AccountSid, 'ACdev00000000000000000000000000000', 'the dev default');
    const bad = await run(['--from', '+1']);
    assert.notEqual(bad.code, 0);
    assert.match(bad.stderr, /usage/);
  });
});

describe('fault modes', () => {
  before(() => ctl('POST', 'reset'));
  const ok = { To: TO, From: FROM, Body: 'fault test' };

  test('500, then normal service', async () => {
    await ctl('POST', 'faults', { mode: '500' });
    const r = await send(ok);
    assert.equal(r.status, 500);
    assert.equal(r.json.code, 20500);
    assert.equal(r.json.status, 500);
    const rec = await lastRecord();
    assert.deepEqual([rec.sid, rec.answered, rec.fault], [null, 500, '500']);
    assert.equal((await send(ok)).status, 201);
    assert.equal((await lastRecord()).fault, null);
  });

  test('429 ×2 with Retry-After, then normal service', async () => {
    await ctl('POST', 'faults', { mode: '429', count: 2, retry_after: 7 });
    for (let i = 0; i < 2; i++) {
      const r = await send(ok);
      assert.equal(r.status, 429);
      assert.equal(r.headers['retry-after'], '7');
      assert.equal(r.json.code, 20429);
    }
    assert.equal((await send(ok)).status, 201);
  });

  test('slow: the normal answer after delay_ms', async () => {
    await ctl('POST', 'faults', { mode: 'slow', delay_ms: 400 });
    const t0 = Date.now();
    const r = await send(ok);
    const ms = Date.now() - t0;
    assert.equal(r.status, 201);
    assert.ok(ms >= 390, `answered after ${ms} ms`);
    const rec = await lastRecord();
    assert.deepEqual([rec.sid, rec.answered, rec.fault], [r.json.sid, 201, 'slow']);
  });

  test('reset: the request is read, then the connection dropped; nothing created', async () => {
    await ctl('POST', 'faults', { mode: 'reset' });
    await assert.rejects(send(ok), (err) => /ECONNRESET|socket hang up/.test(`${err.code} ${err.message}`));
    const rec = await lastRecord();
    assert.deepEqual([rec.sid, rec.answered, rec.fault, rec.body], [null, null, 'reset', 'fault test']);
    assert.equal((await send(ok)).status, 201);
  });

  test('hang: received (and sent) but never answered, until the client gives up', async () => {
    const url = `http://127.0.0.1:${cb.address().port}/webhooks/sms/status`;
    await ctl('POST', 'faults', { mode: 'hang' });
    const t0 = Date.now();
    await assert.rejects(send({ ...ok, Body: 'hung', StatusCallback: url }, { timeoutMs: 600 }), { code: 'CLIENT_TIMEOUT' });
    assert.ok(Date.now() - t0 >= 590);
    const rec = await lastRecord();
    assert.equal(rec.body, 'hung');
    assert.equal(rec.answered, null);
    assert.equal(rec.fault, 'hang');
    assert.match(rec.sid, /^SM[0-9a-f]{32}$/, 'a real provider would have sent it');
    // ... and its delivery reports still come.
    await untilCount((x) => x.params.MessageSid === rec.sid, 2);
    assert.equal((await send(ok)).status, 201);
  });

  test('entries queue up in order; GET/DELETE faults; DELETE messages forgets both', async () => {
    await ctl('POST', 'faults', { mode: '500' });
    await ctl('POST', 'faults', { mode: '429', count: 2 });
    const queued = await ctl('POST', 'faults', { mode: 'slow', delay_ms: 10 });
    assert.deepEqual(queued.faults.map((f) => [f.mode, f.count]), [['500', 1], ['429', 2], ['slow', 1]]);
    assert.equal((await send(ok)).status, 500);
    assert.equal((await send(ok)).status, 429);
    assert.deepEqual((await ctl('GET', 'faults')).faults.map((f) => [f.mode, f.count]), [['429', 1], ['slow', 1]]);
    const r = await send(ok);
    assert.deepEqual([r.status, r.headers['retry-after']], [429, '1']);
    assert.equal((await send(ok)).status, 201);
    assert.equal((await lastRecord()).fault, 'slow');
    const recs = await ctl('GET', 'messages');
    assert.ok(recs.every((m, i) => i === 0 || m.received_at >= recs[i - 1].received_at), 'oldest first');

    await ctl('POST', 'faults', { mode: '500', count: 3 });
    await ctl('DELETE', 'messages');
    assert.deepEqual(await ctl('GET', 'messages'), []);
    assert.deepEqual((await ctl('GET', 'faults')).faults, []);
    assert.equal((await send(ok)).status, 201);

    await ctl('POST', 'faults', { mode: 'explode' }, { status: 400 });
    await ctl('POST', 'faults', { mode: '500', count: 0 }, { status: 400 });
    await ctl('POST', 'faults', { mode: '429' });
    await ctl('DELETE', 'faults');
    assert.equal((await send(ok)).status, 201);
  });
});

test('--webhook-base, and SIGTERM while a request hangs: exit 0, pid file removed', async () => {
  const other = await startFake(['--webhook-base', `http://127.0.0.1:${cb.address().port}/`]);
  try {
    const r = await ctl('POST', 'inbound', { from: '+8613800138000', to: '+8610690000', body: 'via base' }, { port: other.port });
    assert.equal(r.status, 200);
    const [x] = await until((y) => y.params.MessageSid === r.message_sid);
    assert.equal(x.url, `http://127.0.0.1:${cb.address().port}/webhooks/sms/inbound`);
    assert.equal(twilio.validateRequest(TOKEN, x.headers['x-twilio-signature'], x.url, x.params), true);

    await ctl('POST', 'faults', { mode: 'hang' }, { port: other.port });
    const hung = send({ To: TO, From: FROM, Body: 'hang' }, { port: other.port, timeoutMs: 10000 }).catch((e) => e);
    await sleep(200);
    const t0 = Date.now();
    const { code, signal } = await other.stop();
    assert.deepEqual([code, signal], [0, null], other.out());
    assert.ok(Date.now() - t0 < 3000, 'exits promptly');
    assert.equal(fs.existsSync(other.pidFile), false);
    assert.ok((await hung) instanceof Error, 'the hung client is disconnected');
    assert.match(other.out(), /SIGTERM/);
  } finally {
    if (other.proc.exitCode === null) other.proc.kill('SIGKILL');
  }
});
