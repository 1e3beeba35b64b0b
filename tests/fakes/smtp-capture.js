'use strict';
// smtp-capture.js — the SMTP capture of scripts/dev-services (service `smtp`).
//
// An SMTP server (npm smtp-server) on 127.0.0.1 that accepts every message and stores it:
//   OUT/<UTC time>-<n>.eml   the raw RFC 5322 source exactly as received after DATA
//   OUT/<UTC time>-<n>.json  {file, mailFrom, rcptTo:[…], user, remoteAddress, size, receivedAt}
// Both are written to a .tmp name and renamed, the .json first: a reader that sees an .eml
// sees it complete, with its envelope beside it. No TLS (STARTTLS not offered); AUTH PLAIN
// and LOGIN are offered but optional, and any user/password is accepted.
//
// Faults and inspection over an HTTP control port (127.0.0.1 only, JSON):
//   POST /fault {"rcpt":"x@y","codes":[451,250],"stage":"rcpt"|"data"}
//        the next deliveries to that recipient get those answers, one per attempt, in
//        order; then normal service. 2xx = accept; 4xx = temporary failure; 5xx = permanent.
//        stage "rcpt" (default): the answer to RCPT TO; "data": the answer at the end of
//        DATA (the message is then not stored). Answers {"ok":true,"faults":{…}}.
//   POST /reset            forget every fault (stored mail is kept)
//   GET  /faults           the faults still pending
//   GET  /messages[?rcpt=x@y]  stored messages, oldest first, parsed with mailparser:
//        [{file, envelope:{mailFrom, rcptTo}, from, to, cc, subject, text, html, date,
//          messageId, inReplyTo, references:[…], headers:{lower-case name: value},
//          attachments: N, attachmentInfo:[{filename, contentType, size}], size}]
//        (from/to/cc: {text, addresses:[{name, address}]}, or null)
//   DELETE /messages       remove every stored message (only in an instance of your own)
//   GET  /healthz          {"ok":true}
//
// Usage: node smtp-capture.js --port P --control-port C --out DIR [--pid-file F]
// The pid file is written once both ports listen and removed on exit. SIGTERM/SIGINT:
// stop accepting, give open sessions 2 s, exit 0.

const fs = require('node:fs');
const http = require('node:http');
const path = require('node:path');
const { SMTPServer } = require('smtp-server');
const { simpleParser } = require('mailparser');

function args(argv) {
  const o = {};
  for (let i = 0; i < argv.length; i++) {
    const m = /^--([a-z-]+)$/.exec(argv[i]);
    if (!m || i + 1 >= argv.length) throw new Error(`bad argument ${argv[i]}`);
    o[m[1]] = argv[++i];
  }
  return o;
}

const opt = args(process.argv.slice(2));
const PORT = Number(opt.port || process.env.SWITCHBOARD_DEV_SMTP_PORT || 31025);
const CONTROL_PORT = Number(opt['control-port'] || process.env.SWITCHBOARD_DEV_SMTP_CONTROL_PORT || 31026);
const OUT = path.resolve(opt.out || process.env.SWITCHBOARD_DEV_MAIL_OUT || 'var/mail-out');
const PID_FILE = opt['pid-file'] ? path.resolve(opt['pid-file']) : null;
const HOST = '127.0.0.1';

const log = (...a) => console.log(new Date().toISOString(), ...a);

fs.mkdirSync(OUT, { recursive: true });

// ------------------------------------------------------------------------- faults
/** recipient (lower case) → {rcpt: [codes], data: [codes]} */
let faults = new Map();

function takeFault(rcpt, stage) {
  const f = faults.get(rcpt.toLowerCase());
  if (!f || !f[stage] || f[stage].length === 0) return null;
  const code = f[stage].shift();
  if (f.rcpt.length === 0 && f.data.length === 0) faults.delete(rcpt.toLowerCase());
  return code;
}

function hasFault(rcpt, stage) {
  const f = faults.get(rcpt.toLowerCase());
  return !!(f && f[stage] && f[stage].length);
}

function faultError(code, rcpt) {
  const text = code >= 500
    ? `5.1.1 <${rcpt}>: rejected by the capture (fault ${code})`
    : `4.3.0 <${rcpt}>: temporary failure from the capture (fault ${code}), try again later`;
  const err = new Error(text);
  err.responseCode = code;
  return err;
}

function faultsJson() {
  const o = {};
  for (const [k, v] of faults) o[k] = { rcpt: [...v.rcpt], data: [...v.data] };
  return o;
}

// ------------------------------------------------------------------------- storage
let seq = 0;

function stamp(d) {
  return d.toISOString().replace(/[-:]/g, '').replace('.', '');   // 20261123T193300123Z
}

function writeAtomic(file, data) {
  const tmp = `${file}.tmp`;
  fs.writeFileSync(tmp, data);
  fs.renameSync(tmp, file);
}

function store(raw, session) {
  const now = new Date();
  let base;
  do {
    seq += 1;
    base = `${stamp(now)}-${String(seq).padStart(6, '0')}`;
  } while (fs.existsSync(path.join(OUT, `${base}.eml`)));
  const envelope = {
    file: `${base}.eml`,
    mailFrom: session.envelope.mailFrom ? session.envelope.mailFrom.address : '',
    rcptTo: session.envelope.rcptTo.map((r) => r.address),
    user: session.user || null,
    remoteAddress: session.remoteAddress,
    size: raw.length,
    receivedAt: now.toISOString(),
  };
  writeAtomic(path.join(OUT, `${base}.json`), `${JSON.stringify(envelope, null, 2)}\n`);
  writeAtomic(path.join(OUT, `${base}.eml`), raw);
  return envelope;
}

// ------------------------------------------------------------------------- SMTP
const smtp = new SMTPServer({
  name: 'smtp-capture.switchboard.test',
  banner: 'Switchboard SMTP capture',
  secure: false,
  disabledCommands: ['STARTTLS'],
  authOptional: true,
  allowInsecureAuth: true,
  authMethods: ['PLAIN', 'LOGIN'],
  size: 64 * 1024 * 1024,
  logger: false,
  closeTimeout: 2000,
  onAuth(auth, session, cb) {
    cb(null, { user: auth.username });
  },
  onRcptTo(address, session, cb) {
    const code = takeFault(address.address, 'rcpt');
    if (code !== null && code >= 400) {
      log(`RCPT ${address.address}: fault ${code}`);
      return cb(faultError(code, address.address));
    }
    return cb();
  },
  onData(stream, session, cb) {
    const chunks = [];
    stream.on('data', (c) => chunks.push(c));
    stream.on('error', cb);
    stream.on('end', () => {
      if (stream.sizeExceeded) {
        const err = new Error('5.3.4 message too big');
        err.responseCode = 552;
        return cb(err);
      }
      // Data-stage faults: every recipient with one consumes its next answer; the
      // first failing answer (5xx before 4xx) is the answer to the whole message.
      let fail = null;
      for (const r of session.envelope.rcptTo) {
        if (!hasFault(r.address, 'data')) continue;
        const code = takeFault(r.address, 'data');
        if (code >= 400 && (!fail || (code >= 500 && fail.code < 500))) fail = { code, rcpt: r.address };
      }
      if (fail) {
        log(`DATA to ${fail.rcpt}: fault ${fail.code}`);
        return cb(faultError(fail.code, fail.rcpt));
      }
      const raw = Buffer.concat(chunks);
      let env;
      try {
        env = store(raw, session);
      } catch (err) {
        log(`store failed: ${err.stack}`);
        const e = new Error('4.3.0 capture could not store the message');
        e.responseCode = 451;
        return cb(e);
      }
      log(`stored ${env.file} from <${env.mailFrom}> to ${env.rcptTo.map((a) => `<${a}>`).join(' ')} (${raw.length} bytes)`);
      return cb(null, `2.0.0 stored as ${env.file}`);
    });
  },
});
smtp.on('error', (err) => log(`smtp error: ${err.message}`));

// ------------------------------------------------------------------------- control
const parsedCache = new Map(); // file → parsed summary (files never change once renamed)

function addr(a) {
  if (!a) return null;
  const list = Array.isArray(a) ? a : [a];
  return {
    text: list.map((x) => x.text).join(', '),
    addresses: list.flatMap((x) => x.value).map((v) => ({ name: v.name || '', address: v.address || '' })),
  };
}

function headerValue(v) {
  if (v === null || v === undefined) return v;
  if (typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean') return v;
  if (v instanceof Date) return v.toISOString();
  if (Array.isArray(v)) return v.map(headerValue);
  if (typeof v === 'object' && 'text' in v && 'value' in v) return v.text;      // address objects
  if (typeof v === 'object' && 'value' in v && 'params' in v) return { value: v.value, params: v.params };
  return JSON.parse(JSON.stringify(v));
}

async function parseFile(file) {
  if (parsedCache.has(file)) return parsedCache.get(file);
  const raw = fs.readFileSync(path.join(OUT, file));
  let envelope = null;
  try {
    envelope = JSON.parse(fs.readFileSync(path.join(OUT, file.replace(/\.eml$/, '.json')), 'utf8'));
  } catch { /* written before it, so only missing when someone removed it */ }
  const m = await simpleParser(raw, { skipImageLinks: true, skipTextToHtml: true });
  const headers = {};
  for (const [k, v] of m.headers) headers[k] = headerValue(v);
  const refs = m.references ? (Array.isArray(m.references) ? m.references : [m.references]) : [];
  const summary = {
    file,
    envelope: envelope ? { mailFrom: envelope.mailFrom, rcptTo: envelope.rcptTo } : null,
    from: addr(m.from),
    to: addr(m.to),
    cc: addr(m.cc),
    replyTo: addr(m.replyTo),
    subject: m.subject === undefined ? null : m.subject,
    text: m.text === undefined ? null : m.text,
    html: m.html === false || m.html === undefined ? null : m.html,
    date: m.date ? m.date.toISOString() : null,
    messageId: m.messageId || null,
    inReplyTo: m.inReplyTo || null,
    references: refs,
    headers,
    attachments: m.attachments.length,
    attachmentInfo: m.attachments.map((a) => ({
      filename: a.filename || null, contentType: a.contentType, size: a.size,
    })),
    size: raw.length,
  };
  parsedCache.set(file, summary);
  return summary;
}

function emlFiles() {
  return fs.readdirSync(OUT).filter((f) => f.endsWith('.eml')).sort();
}

function send(res, status, obj) {
  const body = `${JSON.stringify(obj)}\n`;
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(body) });
  res.end(body);
}

function readBody(req) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    let size = 0;
    req.on('data', (c) => {
      size += c.length;
      if (size > 1024 * 1024) { reject(new Error('body too large')); req.destroy(); return; }
      chunks.push(c);
    });
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

const control = http.createServer(async (req, res) => {
  try {
    const url = new URL(req.url, `http://${HOST}`);
    const route = `${req.method} ${url.pathname}`;
    if (route === 'GET /healthz') return send(res, 200, { ok: true });
    if (route === 'GET /faults') return send(res, 200, { faults: faultsJson() });
    if (route === 'POST /reset') {
      faults = new Map();
      log('faults reset');
      return send(res, 200, { ok: true });
    }
    if (route === 'POST /fault') {
      let body;
      try { body = JSON.parse(await readBody(req) || '{}'); } catch { return send(res, 400, { error: 'body is not JSON' }); }
      const { rcpt, codes } = body;
      const stage = body.stage || 'rcpt';
      if (typeof rcpt !== 'string' || !rcpt.includes('@')) return send(res, 400, { error: 'rcpt must be an address' });
      if (!Array.isArray(codes) || !codes.length || !codes.every((c) => Number.isInteger(c) && c >= 200 && c <= 599)) {
        return send(res, 400, { error: 'codes must be a non-empty array of SMTP reply codes' });
      }
      if (stage !== 'rcpt' && stage !== 'data') return send(res, 400, { error: 'stage must be "rcpt" or "data"' });
      const key = rcpt.toLowerCase();
      const f = faults.get(key) || { rcpt: [], data: [] };
      f[stage].push(...codes);
      faults.set(key, f);
      log(`fault for ${key} at ${stage}: ${codes.join(' ')}`);
      return send(res, 200, { ok: true, faults: faultsJson() });
    }
    if (route === 'GET /messages') {
      const rcpt = url.searchParams.get('rcpt');
      const out = [];
      for (const f of emlFiles()) {
        let m;
        try { m = await parseFile(f); } catch (err) { m = { file: f, error: err.message }; }
        if (rcpt && !(m.envelope && m.envelope.rcptTo.some((a) => a.toLowerCase() === rcpt.toLowerCase()))) continue;
        out.push(m);
      }
      return send(res, 200, out);
    }
    if (route === 'DELETE /messages') {
      let n = 0;
      for (const f of fs.readdirSync(OUT)) {
        if (/\.(eml|json)$/.test(f)) { fs.rmSync(path.join(OUT, f), { force: true }); if (f.endsWith('.eml')) n++; }
      }
      parsedCache.clear();
      return send(res, 200, { ok: true, deleted: n });
    }
    return send(res, 404, { error: `no route ${route}` });
  } catch (err) {
    log(`control error: ${err.stack}`);
    return send(res, 500, { error: err.message });
  }
});

// ------------------------------------------------------------------------- life cycle
function listen(server, port) {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, HOST, () => { server.removeListener('error', reject); resolve(); });
  });
}

let stopping = false;
function shutdown(sig) {
  if (stopping) return;
  stopping = true;
  log(`${sig}: shutting down`);
  const force = setTimeout(() => { log('sessions still open after 3 s, exiting'); finish(0); }, 3000);
  force.unref();
  control.close();
  if (typeof control.closeAllConnections === 'function') control.closeAllConnections();
  smtp.close(() => finish(0));
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

(async () => {
  try {
    await listen(control, CONTROL_PORT);
    await listen(smtp.server, PORT);
  } catch (err) {
    log(`cannot listen: ${err.message}`);
    process.exit(1);
  }
  if (PID_FILE) writeAtomic(PID_FILE, `${process.pid}\n`);
  log(`listening: smtp ${HOST}:${PORT}, control http://${HOST}:${CONTROL_PORT}, mail to ${OUT}`);
})();
