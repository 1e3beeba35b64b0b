// sms-provider.mjs — a fake Twilio-compatible SMS provider: service `sms` of
// scripts/dev-services, and the provider the system tests send text messages through.
//
// One HTTP server on 127.0.0.1 (--port). Node's standard library only: the request
// signing below is an implementation of its own, tests compare it with the npm `twilio`
// package's.
//
// Twilio's REST API (HTTP basic auth ACCOUNT_SID:AUTH_TOKEN, as configured):
//   POST /2010-04-01/Accounts/{AccountSid}/Messages.json
//        application/x-www-form-urlencoded: To (E.164, ^\+[1-9]\d{6,14}$), From or
//        MessagingServiceSid, Body (1..1600 characters), StatusCallback (optional URL).
//        Answers like Twilio, JSON:
//        201 the Message resource {sid:"SM"+32 hex, status:"queued" ("accepted" when sent
//            through a MessagingServiceSid without From, and then from:null, as Twilio
//            does), to, from, body, num_segments, num_media (strings, as Twilio's are),
//            account_sid, messaging_service_sid, error_code:null, error_message:null,
//            date_created/date_updated (RFC 2822), date_sent:null, direction:"outbound-api",
//            api_version, price:null, price_unit, uri, subresource_uris}
//            num_segments: GSM-7 (GSM 03.38 default alphabet; ^{}\[~]|€ and form feed cost
//            two septets) 160 septets in one segment, 153 per part; otherwise UCS-2, 70
//            UTF-16 code units in one, 67 per part (an emoji outside the BMP costs two).
//        401 {"code":20003,"message":"Authenticate",…} wrong/missing credentials, or an
//            AccountSid in the path that is not the configured one
//        400 {"code":N,"message":…,"more_info":…,"status":400}: 21604 To missing,
//            21211 To not E.164, 21603 neither From nor MessagingServiceSid, 21602 Body
//            missing or empty, 21617 Body longer than 1600 characters, 21610 To is in the
//            unsubscribed set (see /_fake/unsubscribed and STOP below)
//        Keep-alive connections are kept (60 s idle).
//        After a 201 with a StatusCallback: POST to that URL, form-encoded and signed (see
//        signatures), MessageStatus=sent ~30 ms later, then, ~30 ms after that callback was
//        answered, the final status (default delivered; see /_fake/final-status). Params:
//        MessageSid, SmsSid, SmsStatus, MessageStatus, AccountSid, From, To, ApiVersion,
//        MessagingServiceSid (when the message had one), ErrorCode (undelivered/failed
//        only). No retries, like Twilio's status callbacks.
//   GET  /2010-04-01/Accounts/{AccountSid}/Messages/{MessageSid}.json
//        the Message resource as it is now (status follows the callbacks); 404 code 20404.
//   Anything else under /2010-04-01/: 404 code 20404 (405 code 20004 for a wrong method).
//
// Signatures (X-Twilio-Signature on every request the fake sends): base64(HMAC-SHA1(auth
// token, URL + for each parameter name, sorted by UTF-16 code units: name + value)), with a
// repeated parameter contributing each distinct value once, values sorted; the URL exactly
// as posted to (a port stays as written). Twilio's own rules, as in the npm package's
// getExpectedTwilioSignature. Also sent: User-Agent TwilioProxy/1.1 and a fresh
// I-Twilio-Idempotency-Token.
//
// Control endpoints (JSON in and out; 400 {"error":…} for a bad request):
//   GET    /_fake/healthz           {"ok":true}
//   POST   /_fake/faults {"mode":"500"|"429"|"slow"|"reset"|"hang", "count":N (1),
//                         "retry_after":secs (1), "delay_ms":ms (2000)}
//          the next N Messages POSTs (in order of arrival, whatever their credentials;
//          several entries queue up) get, instead of the normal answer:
//          "500"   500 {"code":20500,…}, the message is not created
//          "429"   429 {"code":20429,…} with Retry-After: secs, not created
//          "slow"  the normal answer (and message) after delay_ms
//          "reset" the request is read, then the socket destroyed without an answer; not
//                  created (the provider's front end fell over)
//          "hang"  the request is read and processed — the message IS created and its
//                  status callbacks are sent, as when a real provider's answer is lost —
//                  but never answered; the socket stays open until the client gives up
//          Answers {"ok":true,"faults":[pending entries]}.
//   GET    /_fake/faults           {"faults":[{mode,count,retry_after,delay_ms}…]}
//   DELETE /_fake/faults           forget the pending faults
//   POST   /_fake/unsubscribed {"number":"+86…"}    Messages to it answer 400 code 21610
//   DELETE /_fake/unsubscribed {"number":"+86…"}    (or ?number=…) remove it again
//   GET    /_fake/unsubscribed     {"numbers":[…]}
//   POST   /_fake/auto-opt-out {"enabled":false}   Twilio's default opt-out handling, on at
//          start: an inbound text (below) that is exactly STOP, STOPALL, UNSUBSCRIBE, CANCEL,
//          END or QUIT (any case, trimmed) puts its From in the unsubscribed set; START,
//          YES or UNSTOP takes it out.
//   POST   /_fake/final-status {"status":"delivered"|"undelivered"|"failed", "error_code":N}
//          final status of the messages created from now on (error_code default 30003 for
//          undelivered, 30008 for failed; ignored for delivered)
//   GET    /_fake/messages         every Messages POST received, oldest first:
//          [{sid|null, to, from, messaging_service_sid, body, status_callback, received_at,
//            answered: HTTP status|null, fault: mode|null, error_code: Twilio code|null,
//            status: message status|null, num_segments|null,
//            callbacks:[{status, url, answered: HTTP status|null, error|null, at}]}]
//   DELETE /_fake/messages         forget them and the pending faults
//   POST   /_fake/reset            forget everything: messages, faults, unsubscribed numbers,
//                                  final status, auto opt-out back on
//   POST   /_fake/inbound {"webhook":URL, "from":"+86…", "to":"+86…", "body":"…",
//                          "media":[{"url":…, "content_type":…}], "message_sid":optional,
//                          "messaging_service_sid":optional, "auth_token":optional,
//                          "from_country"/"to_country":optional}
//          "texting in": POSTs a signed, form-encoded Twilio inbound-message webhook to
//          webhook (default: --webhook-base + /webhooks/sms/inbound) with MessageSid,
//          SmsMessageSid, SmsSid (SM…, MM… when there is media, as Twilio's), AccountSid,
//          From, To, Body, NumMedia, NumSegments, SmsStatus=received, MediaUrl0…,
//          MediaContentType0…, FromCountry, ToCountry (from the number's country code),
//          FromCity/FromState/FromZip/ToCity/ToState/ToZip (empty), MessagingServiceSid
//          (when given), ApiVersion. auth_token signs with another token (to test refusal).
//          Answers {"status":…, "headers":{…}, "body":"…", "message_sid":"SM…"} with the
//          webhook's answer; 502 {"error":…} when it could not be reached (15 s timeout).
//   POST   /_fake/status-callback {"url":URL, "params":{name: value | [values]},
//                                  "auth_token":optional}
//          sends those params, signed, to url; answers {status, headers, body}.
//
// Usage: node sms-provider.mjs --port P --account-sid AC… --auth-token T
//                              [--webhook-base URL] [--pid-file F]
//   Defaults: $SWITCHBOARD_DEV_SMS_PORT or 31080, ACdev00000000000000000000000000000,
//   dev-auth-token. The pid file is written once the port listens and removed on exit.
//   SIGTERM/SIGINT: stop listening, drop open connections, exit 0.
// And a CLI for developers, posting one inbound webhook directly and printing the answer:
//   node sms-provider.mjs text --webhook URL | --webhook-base URL  [--auth-token T]
//        [--account-sid AC…] --from +86… --to +86… --body "…" [--media URL]… [--message-sid SM…]
//   (exit 0 when the webhook answered 2xx)

import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import path from 'node:path';
import { pathToFileURL } from 'node:url';

const HOST = '127.0.0.1';
const API_VERSION = '2010-04-01';
const DEFAULT_ACCOUNT_SID = 'ACdev00000000000000000000000000000';
const DEFAULT_AUTH_TOKEN = 'dev-auth-token';
const INBOUND_PATH = '/webhooks/sms/inbound';
const WEBHOOK_TIMEOUT_MS = 15000;   // Twilio waits 15 s for a webhook's answer
const E164 = /^\+[1-9]\d{6,14}$/;
const log = (...a) => console.log(new Date().toISOString(), ...a);

// ------------------------------------------------------------------------- pure parts

/**
 * X-Twilio-Signature of a request to url with params: an object {name: value | [values]}
 * or an array of [name, value] pairs (a name may repeat).
 */
export function twilioSignature(authToken, url, params) {
  const byName = new Map();
  const pairs = Array.isArray(params) ? params : Object.entries(params || {});
  for (const [name, value] of pairs) {
    const list = byName.get(name) || [];
    for (const v of Array.isArray(value) ? value : [value]) list.push(String(v));
    byName.set(name, list);
  }
  let data = url;
  // Default sort: by UTF-16 code units, as JavaScript's (and so Twilio's validator) does.
  for (const name of [...byName.keys()].sort()) {
    for (const v of [...new Set(byName.get(name))].sort()) data += name + v;
  }
  return crypto.createHmac('sha1', authToken).update(Buffer.from(data, 'utf8')).digest('base64');
}

const GSM_BASIC = new Set([...
  '@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !"#¤%&\'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà']);
const GSM_EXTENSION = new Set([...'\f^{}\\[~]|€']);

/** {encoding:"GSM-7"|"UCS-2", units, segments} of a text, the way carriers count. */
export function smsSegments(text) {
  let septets = 0;
  let gsm = true;
  for (const ch of text) {
    if (GSM_BASIC.has(ch)) septets += 1;
    else if (GSM_EXTENSION.has(ch)) septets += 2;
    else { gsm = false; break; }
  }
  const units = gsm ? septets : text.length;   // text.length: UTF-16 code units
  const [single, multi] = gsm ? [160, 153] : [70, 67];
  const segments = units <= single ? 1 : Math.ceil(units / multi);
  return { encoding: gsm ? 'GSM-7' : 'UCS-2', units, segments };
}

// A few calling codes, longest first wins: enough for FromCountry/ToCountry in tests.
const COUNTRY_CODES = {
  1: 'US', 7: 'RU', 20: 'EG', 27: 'ZA', 30: 'GR', 31: 'NL', 32: 'BE', 33: 'FR', 34: 'ES', 36: 'HU',
  39: 'IT', 40: 'RO', 41: 'CH', 43: 'AT', 44: 'GB', 45: 'DK', 46: 'SE', 47: 'NO', 48: 'PL', 49: 'DE',
  52: 'MX', 54: 'AR', 55: 'BR', 56: 'CL', 57: 'CO', 60: 'MY', 61: 'AU', 62: 'ID', 63: 'PH', 64: 'NZ',
  65: 'SG', 66: 'TH', 81: 'JP', 82: 'KR', 84: 'VN', 86: 'CN', 90: 'TR', 91: 'IN', 92: 'PK', 234: 'NG',
  351: 'PT', 353: 'IE', 358: 'FI', 852: 'HK', 853: 'MO', 855: 'KH', 880: 'BD', 886: 'TW', 971: 'AE',
  972: 'IL', 966: 'SA',
};

export function countryOf(number) {
  const m = /^\+(\d+)$/.exec(number || '');
  if (!m) return '';
  for (let n = 3; n >= 1; n--) {
    const c = COUNTRY_CODES[m[1].slice(0, n)];
    if (c) return c;
  }
  return '';
}

const randomHex = (bytes) => crypto.randomBytes(bytes).toString('hex');
const newSid = (prefix) => prefix + randomHex(16);
const rfc2822 = (d) => d.toUTCString().replace(/GMT$/, '+0000');

function formBody(params) {
  const u = new URLSearchParams();
  for (const [name, value] of Array.isArray(params) ? params : Object.entries(params)) {
    for (const v of Array.isArray(value) ? value : [value]) u.append(name, String(v));
  }
  return u.toString();
}

/**
 * POSTs params, form-encoded and signed with authToken, to url. Resolves
 * {status, headers, body}; rejects when the URL cannot be reached or does not answer.
 */
export function postSigned(url, params, authToken, { timeoutMs = WEBHOOK_TIMEOUT_MS } = {}) {
  return new Promise((resolve, reject) => {
    let target;
    try { target = new URL(url); } catch { reject(new Error(`not a URL: ${url}`)); return; }
    const mod = target.protocol === 'https:' ? https : target.protocol === 'http:' ? http : null;
    if (!mod) { reject(new Error(`not an http(s) URL: ${url}`)); return; }
    const body = Buffer.from(formBody(params), 'utf8');
    const req = mod.request(target, {
      method: 'POST',
      agent: false,
      headers: {
        'content-type': 'application/x-www-form-urlencoded',
        'content-length': body.length,
        'x-twilio-signature': twilioSignature(authToken, url, params),
        'i-twilio-idempotency-token': crypto.randomUUID(),
        'user-agent': 'TwilioProxy/1.1',
        accept: '*/*',
      },
    }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => resolve({
        status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks).toString('utf8'),
      }));
      res.on('error', reject);
    });
    req.setTimeout(timeoutMs, () => req.destroy(new Error(`no answer within ${timeoutMs} ms`)));
    req.on('error', reject);
    req.end(body);
  });
}

const OPT_OUT = new Set(['STOP', 'STOPALL', 'UNSUBSCRIBE', 'CANCEL', 'END', 'QUIT']);
const OPT_IN = new Set(['START', 'YES', 'UNSTOP']);

/** The params of Twilio's inbound-message webhook; throws on a missing field. */
export function inboundParams({ accountSid, from, to, body = '', media = [], messageSid, messagingServiceSid,
  fromCountry, toCountry }) {
  if (typeof from !== 'string' || !from) throw new Error('from is required');
  if (typeof to !== 'string' || !to) throw new Error('to is required');
  if (typeof body !== 'string') throw new Error('body must be a string');
  if (!Array.isArray(media)) throw new Error('media must be a list of {url, content_type}');
  const sid = messageSid || newSid(media.length ? 'MM' : 'SM');
  const p = {
    ToCountry: toCountry ?? countryOf(to), ToState: '', SmsMessageSid: sid, NumMedia: String(media.length),
    ToCity: '', FromZip: '', SmsSid: sid, FromState: '', SmsStatus: 'received', FromCity: '', Body: body,
    FromCountry: fromCountry ?? countryOf(from), To: to, ToZip: '',
    NumSegments: String(smsSegments(body).segments), MessageSid: sid, AccountSid: accountSid, From: from,
    ApiVersion: API_VERSION,
  };
  if (messagingServiceSid) p.MessagingServiceSid = messagingServiceSid;
  media.forEach((m, i) => {
    if (!m || typeof m.url !== 'string') throw new Error(`media[${i}].url is required`);
    p[`MediaContentType${i}`] = m.content_type || 'application/octet-stream';
    p[`MediaUrl${i}`] = m.url;
  });
  return { sid, params: p };
}

// ------------------------------------------------------------------------- arguments

/** --name value pairs; names in `repeat` collect into arrays. */
function parseArgs(argv, repeat = []) {
  const o = {};
  for (let i = 0; i < argv.length; i++) {
    const m = /^--([a-z-]+)$/.exec(argv[i]);
    if (!m || i + 1 >= argv.length) throw new Error(`bad argument ${argv[i]}`);
    const v = argv[++i];
    if (repeat.includes(m[1])) (o[m[1]] ||= []).push(v);
    else o[m[1]] = v;
  }
  return o;
}

function contentTypeOf(url) {
  const ext = (/\.([a-z0-9]+)(?:[?#].*)?$/i.exec(url) || [])[1]?.toLowerCase();
  return {
    jpg: 'image/jpeg', jpeg: 'image/jpeg', png: 'image/png', gif: 'image/gif', webp: 'image/webp',
    mp4: 'video/mp4', mp3: 'audio/mpeg', amr: 'audio/amr', pdf: 'application/pdf', vcf: 'text/vcard',
    txt: 'text/plain',
  }[ext] || 'application/octet-stream';
}

// ------------------------------------------------------------------------- `text` CLI

async function textCli(argv) {
  const o = parseArgs(argv, ['media']);
  const webhook = o.webhook || (o['webhook-base'] ? o['webhook-base'].replace(/\/+$/, '') + INBOUND_PATH : null);
  if (!webhook || !o.from || !o.to || o.body === undefined) {
    throw new Error('usage: sms-provider.mjs text --webhook URL|--webhook-base URL --from +N --to +N --body TEXT '
      + '[--auth-token T] [--account-sid AC…] [--media URL]… [--message-sid SM…]');
  }
  const authToken = o['auth-token'] || process.env.SWITCHBOARD_DEV_SMS_AUTH_TOKEN || DEFAULT_AUTH_TOKEN;
  const accountSid = o['account-sid'] || process.env.SWITCHBOARD_DEV_SMS_ACCOUNT_SID || DEFAULT_ACCOUNT_SID;
  const { sid, params } = inboundParams({
    accountSid, from: o.from, to: o.to, body: o.body, messageSid: o['message-sid'],
    media: (o.media || []).map((url) => ({ url, content_type: contentTypeOf(url) })),
  });
  const r = await postSigned(webhook, params, authToken);
  console.log(JSON.stringify({ status: r.status, headers: r.headers, body: r.body, message_sid: sid }, null, 2));
  return r.status >= 200 && r.status < 300 ? 0 : 1;
}

// ------------------------------------------------------------------------- the server

function startServer(opt) {
  const PORT = Number(opt.port || process.env.SWITCHBOARD_DEV_SMS_PORT || 31080);
  const ACCOUNT_SID = opt['account-sid'] || DEFAULT_ACCOUNT_SID;
  const AUTH_TOKEN = opt['auth-token'] || DEFAULT_AUTH_TOKEN;
  const WEBHOOK_BASE = opt['webhook-base'] ? opt['webhook-base'].replace(/\/+$/, '') : null;
  const PID_FILE = opt['pid-file'] ? path.resolve(opt['pid-file']) : null;
  if (!Number.isInteger(PORT) || PORT <= 0 || PORT > 65535) throw new Error(`bad --port ${opt.port}`);

  // ---- state
  let records = [];            // every Messages POST, oldest first (see GET /_fake/messages)
  const messages = new Map();  // sid → the Message resource (GET …/Messages/{sid}.json)
  let faults = [];             // [{mode, count, retry_after, delay_ms}]
  let unsubscribed = new Set();
  let finalStatus = { status: 'delivered', error_code: null };
  let autoOptOut = true;
  const timers = new Set();

  const later = (ms, fn) => {
    const t = setTimeout(() => { timers.delete(t); fn(); }, ms);
    timers.add(t);
  };

  // ---- answers
  function sendJson(res, status, obj, headers = {}) {
    if (res.destroyed || res.writableEnded) return false;
    const body = `${JSON.stringify(obj)}\n`;
    res.writeHead(status, {
      'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(body), ...headers,
    });
    res.end(body);
    return true;
  }

  function twilioError(status, code, message, extra = {}) {
    return { status, body: { code, message, more_info: `https://www.twilio.com/docs/errors/${code}`, status, ...extra } };
  }

  function readBody(req, limit = 1024 * 1024) {
    return new Promise((resolve, reject) => {
      const chunks = [];
      let size = 0;
      req.on('data', (c) => {
        size += c.length;
        if (size > limit) { reject(Object.assign(new Error('body too large'), { tooLarge: true })); return; }
        chunks.push(c);
      });
      req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
      req.on('error', reject);
    });
  }

  function authorized(req) {
    const m = /^Basic\s+(\S+)$/i.exec(req.headers.authorization || '');
    if (!m) return false;
    const plain = Buffer.from(m[1], 'base64').toString('utf8');
    const colon = plain.indexOf(':');
    return colon > 0 && plain.slice(0, colon) === ACCOUNT_SID && plain.slice(colon + 1) === AUTH_TOKEN;
  }

  function resource(msg) {
    const uri = `/${API_VERSION}/Accounts/${msg.account_sid}/Messages/${msg.sid}.json`;
    return {
      account_sid: msg.account_sid, api_version: API_VERSION, body: msg.body, date_created: msg.date_created,
      date_sent: msg.date_sent, date_updated: msg.date_updated, direction: 'outbound-api',
      error_code: msg.error_code, error_message: msg.error_message, from: msg.from,
      messaging_service_sid: msg.messaging_service_sid, num_media: '0', num_segments: String(msg.num_segments),
      price: null, price_unit: 'USD', sid: msg.sid, status: msg.status,
      subresource_uris: { media: uri.replace(/\.json$/, '/Media.json') }, to: msg.to, uri,
    };
  }

  /** The normal answer to a Messages POST, and the message it creates (or null). */
  function createMessage(req, pathSid, form, rec) {
    if (!authorized(req) || pathSid !== ACCOUNT_SID) {
      return {
        ...twilioError(401, 20003, 'Authenticate', { detail: 'Your AccountSid or AuthToken was incorrect.' }),
        headers: { 'www-authenticate': 'Basic realm="Twilio API"' },
      };
    }
    const to = form.get('To');
    const from = form.get('From') || null;
    const service = form.get('MessagingServiceSid') || null;
    const body = form.get('Body');
    if (!to) return twilioError(400, 21604, "A 'To' phone number is required.");
    if (!E164.test(to)) return twilioError(400, 21211, `The 'To' number ${to} is not a valid phone number.`);
    if (!from && !service) return twilioError(400, 21603, "A 'From' phone number is required.");
    if (!body) return twilioError(400, 21602, 'Message body is required.');
    if ([...body].length > 1600) {
      return twilioError(400, 21617, 'The concatenated message body exceeds the 1600 character limit.');
    }
    if (unsubscribed.has(to)) return twilioError(400, 21610, 'Attempt to send to unsubscribed recipient');

    const now = rfc2822(new Date());
    const msg = {
      sid: newSid('SM'), account_sid: ACCOUNT_SID, to, from, messaging_service_sid: service, body,
      status: from || !service ? 'queued' : 'accepted', num_segments: smsSegments(body).segments,
      error_code: null, error_message: null, date_created: now, date_updated: now, date_sent: null,
      status_callback: form.get('StatusCallback') || null,
      final: { ...finalStatus },
      // The number a messaging service picked from its pool, for the callbacks.
      sender: from || '+15005550006',
    };
    messages.set(msg.sid, msg);
    rec.sid = msg.sid;
    rec.status = msg.status;
    rec.num_segments = msg.num_segments;
    log(`message ${msg.sid} to ${to}: ${msg.num_segments} segment(s)${msg.status_callback ? `, callbacks to ${msg.status_callback}` : ''}`);
    if (msg.status_callback) later(30, () => statusCallbacks(msg, rec));
    return { status: 201, body: resource(msg) };
  }

  function setStatus(msg, rec, status, errorCode) {
    msg.status = status;
    rec.status = status;
    msg.date_updated = rfc2822(new Date());
    if (status === 'sent' && !msg.date_sent) msg.date_sent = msg.date_updated;
    if (errorCode) {
      msg.error_code = errorCode;
      msg.error_message = status === 'failed' ? 'Message failed' : 'Message undelivered';
    }
  }

  async function callback(msg, rec, status, errorCode) {
    setStatus(msg, rec, status, errorCode);
    const p = {
      SmsSid: msg.sid, SmsStatus: status, MessageStatus: status, To: msg.to, MessageSid: msg.sid,
      AccountSid: msg.account_sid, From: msg.sender, ApiVersion: API_VERSION,
    };
    if (msg.messaging_service_sid) p.MessagingServiceSid = msg.messaging_service_sid;
    if (errorCode) p.ErrorCode = String(errorCode);
    const entry = { status, url: msg.status_callback, answered: null, error: null, at: new Date().toISOString() };
    rec.callbacks.push(entry);
    try {
      const r = await postSigned(msg.status_callback, p, AUTH_TOKEN);
      entry.answered = r.status;
      log(`callback ${msg.sid} ${status}: ${r.status}`);
    } catch (err) {
      entry.error = err.message;
      log(`callback ${msg.sid} ${status} failed: ${err.message}`);
    }
  }

  async function statusCallbacks(msg, rec) {
    if (stopping) return;
    await callback(msg, rec, 'sent', null);
    if (stopping) return;
    later(30, () => {
      if (stopping) return;
      const { status, error_code: code } = msg.final;
      callback(msg, rec, status, status === 'delivered' ? null : code);
    });
  }

  async function messagesPost(req, res, pathSid) {
    const fault = faults.length ? faults[0] : null;
    if (fault) {
      fault.count -= 1;
      if (fault.count <= 0) faults.shift();
    }
    let text;
    try {
      text = await readBody(req);
    } catch (err) {
      if (err.tooLarge) return sendJson(res, 413, twilioError(413, 20001, 'Request body too large').body, { connection: 'close' });
      return undefined;
    }
    const form = /^application\/x-www-form-urlencoded/i.test(req.headers['content-type'] || '')
      ? new URLSearchParams(text) : new URLSearchParams();
    const rec = {
      sid: null, to: form.get('To'), from: form.get('From'), messaging_service_sid: form.get('MessagingServiceSid'),
      body: form.get('Body'), status_callback: form.get('StatusCallback'), received_at: new Date().toISOString(),
      answered: null, fault: fault ? fault.mode : null, error_code: null, status: null, num_segments: null,
      callbacks: [],
    };
    records.push(rec);
    const answer = (a) => {
      if (sendJson(res, a.status, a.body, a.headers)) rec.answered = a.status;
      rec.error_code = a.body && a.status >= 400 ? a.body.code : null;
    };
    const mode = fault ? fault.mode : null;
    if (mode) log(`Messages request to ${rec.to}: fault ${mode}`);
    if (mode === '500') {
      return answer(twilioError(500, 20500, 'An internal server error has occurred'));
    }
    if (mode === '429') {
      return answer({ ...twilioError(429, 20429, 'Too Many Requests'), headers: { 'retry-after': String(fault.retry_after) } });
    }
    if (mode === 'reset') {
      req.socket.destroy();
      return undefined;
    }
    const a = createMessage(req, pathSid, form, rec);
    if (mode === 'hang') return undefined;   // processed, never answered; the socket stays open
    if (mode === 'slow') {
      later(fault.delay_ms, () => answer(a));
      return undefined;
    }
    return answer(a);
  }

  async function api(req, res, url) {
    const m = /^\/2010-04-01\/Accounts\/([^/]+)\/Messages(?:\/([^/]+))?\.json$/.exec(url.pathname);
    if (m && !m[2]) {
      if (req.method === 'POST') return messagesPost(req, res, decodeURIComponent(m[1]));
      req.resume();
      return sendJson(res, 405, twilioError(405, 20004, 'Method not allowed').body);
    }
    if (m && req.method === 'GET') {
      req.resume();
      if (!authorized(req) || decodeURIComponent(m[1]) !== ACCOUNT_SID) {
        return sendJson(res, 401, twilioError(401, 20003, 'Authenticate').body, { 'www-authenticate': 'Basic realm="Twilio API"' });
      }
      const msg = messages.get(decodeURIComponent(m[2]));
      if (!msg) return sendJson(res, 404, twilioError(404, 20404, `The requested resource ${url.pathname} was not found`).body);
      return sendJson(res, 200, resource(msg));
    }
    req.resume();
    return sendJson(res, 404, twilioError(404, 20404, `The requested resource ${url.pathname} was not found`).body);
  }

  // ---- control
  async function jsonBody(req) {
    const text = await readBody(req);
    if (!text.trim()) return {};
    const v = JSON.parse(text);
    if (!v || typeof v !== 'object' || Array.isArray(v)) throw new Error('body must be a JSON object');
    return v;
  }

  const FAULT_MODES = ['500', '429', 'slow', 'reset', 'hang'];
  const FINAL = { delivered: null, undelivered: 30003, failed: 30008 };

  async function control(req, res, url) {
    const route = `${req.method} ${url.pathname}`;
    let body = {};
    if (req.method === 'POST' || req.method === 'DELETE') {
      try { body = await jsonBody(req); } catch (err) { return sendJson(res, 400, { error: `bad JSON body: ${err.message}` }); }
    } else {
      req.resume();
    }
    const bad = (error) => sendJson(res, 400, { error });
    switch (route) {
      case 'GET /_fake/healthz':
        return sendJson(res, 200, { ok: true });
      case 'POST /_fake/faults': {
        const mode = String(body.mode ?? '');
        if (!FAULT_MODES.includes(mode)) return bad(`mode must be one of ${FAULT_MODES.join(', ')}`);
        const count = body.count ?? 1;
        const retryAfter = body.retry_after ?? 1;
        const delay = body.delay_ms ?? 2000;
        if (!Number.isInteger(count) || count < 1) return bad('count must be a positive integer');
        if (!Number.isInteger(retryAfter) || retryAfter < 0) return bad('retry_after must be whole seconds');
        if (!Number.isInteger(delay) || delay < 0) return bad('delay_ms must be whole milliseconds');
        faults.push({ mode, count, retry_after: retryAfter, delay_ms: delay });
        log(`fault queued: ${mode} ×${count}`);
        return sendJson(res, 200, { ok: true, faults });
      }
      case 'GET /_fake/faults':
        return sendJson(res, 200, { faults });
      case 'DELETE /_fake/faults':
        faults = [];
        return sendJson(res, 200, { ok: true });
      case 'POST /_fake/unsubscribed':
      case 'DELETE /_fake/unsubscribed': {
        const number = body.number ?? url.searchParams.get('number');
        if (typeof number !== 'string' || !number) return bad('number is required');
        if (req.method === 'POST') unsubscribed.add(number); else unsubscribed.delete(number);
        log(`${number} ${req.method === 'POST' ? 'unsubscribed' : 'subscribed again'}`);
        return sendJson(res, 200, { ok: true, numbers: [...unsubscribed] });
      }
      case 'GET /_fake/unsubscribed':
        return sendJson(res, 200, { numbers: [...unsubscribed] });
      case 'POST /_fake/auto-opt-out':
        if (typeof body.enabled !== 'boolean') return bad('enabled must be true or false');
        autoOptOut = body.enabled;
        return sendJson(res, 200, { ok: true, enabled: autoOptOut });
      case 'POST /_fake/final-status': {
        const status = body.status;
        if (!Object.hasOwn(FINAL, status)) return bad(`status must be one of ${Object.keys(FINAL).join(', ')}`);
        const code = body.error_code ?? FINAL[status];
        if (code !== null && !Number.isInteger(code)) return bad('error_code must be an integer');
        finalStatus = { status, error_code: status === 'delivered' ? null : code };
        log(`final status from now on: ${status}${finalStatus.error_code ? ` (${finalStatus.error_code})` : ''}`);
        return sendJson(res, 200, { ok: true, final_status: finalStatus });
      }
      case 'GET /_fake/messages':
        return sendJson(res, 200, records);
      case 'DELETE /_fake/messages':
        records = [];
        faults = [];
        return sendJson(res, 200, { ok: true });
      case 'POST /_fake/reset':
        records = [];
        faults = [];
        unsubscribed = new Set();
        finalStatus = { status: 'delivered', error_code: null };
        autoOptOut = true;
        return sendJson(res, 200, { ok: true });
      case 'POST /_fake/inbound': {
        const webhook = body.webhook || (WEBHOOK_BASE ? WEBHOOK_BASE + INBOUND_PATH : null);
        if (typeof webhook !== 'string' || !webhook) return bad('webhook is required (the fake has no --webhook-base)');
        let built;
        try {
          built = inboundParams({
            accountSid: ACCOUNT_SID, from: body.from, to: body.to, body: body.body ?? '', media: body.media ?? [],
            messageSid: body.message_sid, messagingServiceSid: body.messaging_service_sid,
            fromCountry: body.from_country, toCountry: body.to_country,
          });
        } catch (err) { return bad(err.message); }
        const keyword = (body.body ?? '').trim().toUpperCase();
        if (autoOptOut && OPT_OUT.has(keyword)) unsubscribed.add(body.from);
        if (autoOptOut && OPT_IN.has(keyword)) unsubscribed.delete(body.from);
        try {
          const r = await postSigned(webhook, built.params, body.auth_token || AUTH_TOKEN);
          log(`inbound ${built.sid} from ${body.from} to ${webhook}: ${r.status}`);
          return sendJson(res, 200, { ...r, message_sid: built.sid });
        } catch (err) {
          log(`inbound ${built.sid} to ${webhook} failed: ${err.message}`);
          return sendJson(res, 502, { error: err.message, message_sid: built.sid });
        }
      }
      case 'POST /_fake/status-callback': {
        if (typeof body.url !== 'string' || !body.url) return bad('url is required');
        const params = body.params ?? {};
        if (typeof params !== 'object' || Array.isArray(params)) return bad('params must be an object');
        try {
          const r = await postSigned(body.url, params, body.auth_token || AUTH_TOKEN);
          return sendJson(res, 200, r);
        } catch (err) {
          return sendJson(res, 502, { error: err.message });
        }
      }
      default:
        return sendJson(res, 404, { error: `no route ${route}` });
    }
  }

  // ---- server and life cycle
  const server = http.createServer(async (req, res) => {
    try {
      const url = new URL(req.url, `http://${HOST}`);
      if (url.pathname.startsWith('/_fake/')) return await control(req, res, url);
      return await api(req, res, url);
    } catch (err) {
      log(`error: ${err.stack}`);
      return sendJson(res, 500, { error: err.message });
    }
  });
  server.keepAliveTimeout = 60000;
  server.headersTimeout = 65000;

  let stopping = false;
  function shutdown(sig) {
    if (stopping) return;
    stopping = true;
    log(`${sig}: shutting down`);
    for (const t of timers) clearTimeout(t);
    const force = setTimeout(() => finish(0), 2000);
    force.unref();
    server.close(() => finish(0));
    server.closeAllConnections();
  }

  function finish(code) {
    if (PID_FILE) {
      try {
        if (fs.readFileSync(PID_FILE, 'utf8').trim() === String(process.pid)) fs.rmSync(PID_FILE, { force: true });
      } catch { /* gone already */ }
    }
    process.exit(code);
  }

  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.on('SIGINT', () => shutdown('SIGINT'));
  process.on('SIGHUP', () => shutdown('SIGHUP'));

  server.once('error', (err) => {
    log(`cannot listen on ${HOST}:${PORT}: ${err.message}`);
    process.exit(1);
  });
  server.listen(PORT, HOST, () => {
    if (PID_FILE) {
      const tmp = `${PID_FILE}.tmp`;
      fs.writeFileSync(tmp, `${process.pid}\n`);
      fs.renameSync(tmp, PID_FILE);
    }
    log(`listening: http://${HOST}:${PORT} account ${ACCOUNT_SID}${WEBHOOK_BASE ? `, inbound to ${WEBHOOK_BASE}${INBOUND_PATH}` : ''}`);
  });
}

// ------------------------------------------------------------------------- main
if (process.argv[1] && import.meta.url === pathToFileURL(path.resolve(process.argv[1])).href) {
  const argv = process.argv.slice(2);
  try {
    if (argv[0] === 'text') {
      process.exitCode = await textCli(argv.slice(1));
    } else {
      startServer(parseArgs(argv));
    }
  } catch (err) {
    console.error(`sms-provider: ${err.message}`);
    process.exit(2);
  }
}
