'use strict';
// dev_services.test.js — Email issue, point 7: scripts/dev-services runs a private Dovecot
// IMAP and an SMTP capture; and the fake SMS provider (service sms). Uses its OWN instance (SWITCHBOARD_DEV_VAR=var/devsvc-test on
// free ports), started fresh and stopped at the end, so it disturbs nothing else; it does
// not need MariaDB or the switchboard binary. Speaks raw IMAP and SMTP over node:net.
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const net = require('node:net');
const path = require('node:path');
const { spawnSync } = require('node:child_process');
const { ROOT, sleep, freePorts } = require('./harness');

const DEV_VAR = path.join(ROOT, 'var', 'devsvc-test');
const SERVICES = ['dovecot', 'smtp', 'sms'];
let ports;

function devServices(cmd, names = SERVICES, { allowFail = false } = {}) {
  const env = {
    ...process.env,
    SWITCHBOARD_DEV_VAR: DEV_VAR,
    SWITCHBOARD_DEV_IMAP_PORT: String(ports.imap),
    SWITCHBOARD_DEV_IMAPS_PORT: String(ports.imaps),
    SWITCHBOARD_DEV_SMTP_PORT: String(ports.smtp),
    SWITCHBOARD_DEV_SMTP_CONTROL_PORT: String(ports.control),
    SWITCHBOARD_DEV_SMS_PORT: String(ports.sms),
  };
  const t0 = Date.now();
  const r = spawnSync('bash', [path.join(ROOT, 'scripts', 'dev-services'), cmd, ...names], {
    cwd: ROOT, env, encoding: 'utf8', timeout: 60000,
  });
  r.ms = Date.now() - t0;
  if (r.status !== 0 && !allowFail) {
    throw new Error(`scripts/dev-services ${cmd} ${names.join(' ')} failed (${r.error ? r.error.message : `exit ${r.status}`}):\n${r.stdout}${r.stderr}`);
  }
  return r;
}

function readEnv() {
  const env = {};
  for (const line of fs.readFileSync(path.join(DEV_VAR, 'dev-services.env'), 'utf8').split('\n')) {
    const m = /^([A-Z_][A-Z0-9_]*)=(.*)$/.exec(line);
    if (m) env[m[1]] = m[2];
  }
  return env;
}

/** pid is a live process (an exited one not yet reaped, state Z, is not). */
function alive(pid) {
  try { process.kill(pid, 0); } catch { return false; }
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat[stat.lastIndexOf(')') + 2] !== 'Z';
  } catch { return false; }
}
const readPid = (file) => Number(fs.readFileSync(file, 'utf8').trim());

/** PIDs whose parent is pid (Linux /proc). */
function childrenOf(pid) {
  const out = [];
  for (const d of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    let stat;
    try { stat = fs.readFileSync(`/proc/${d}/stat`, 'utf8'); } catch { continue; }
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    if (Number(fields[1]) === pid) out.push(Number(d));
  }
  return out;
}

/** A line-oriented client: lines() waits for lines matching a predicate. */
class LineClient {
  constructor(sock) {
    this.sock = sock;
    this.buf = '';
    this.lines = [];
    this.waiters = [];
    this.closed = false;
    sock.setEncoding('utf8');
    sock.on('data', (d) => {
      this.buf += d;
      let i;
      while ((i = this.buf.indexOf('\r\n')) >= 0) {
        this.lines.push(this.buf.slice(0, i));
        this.buf = this.buf.slice(i + 2);
      }
      this.wake();
    });
    sock.on('close', () => { this.closed = true; this.wake(); });
    sock.on('error', () => {});
  }

  static connect(port) {
    return new Promise((resolve, reject) => {
      const s = net.connect({ host: '127.0.0.1', port }, () => resolve(new LineClient(s)));
      s.once('error', reject);
    });
  }

  wake() { for (const w of this.waiters.splice(0)) w(); }

  /** Resolves with the lines up to and including the first for which done(line) is true. */
  async until(done, ms = 5000) {
    const deadline = Date.now() + ms;
    const seen = [];
    for (;;) {
      while (this.lines.length) {
        const l = this.lines.shift();
        seen.push(l);
        if (done(l)) return seen;
      }
      if (this.closed) throw new Error(`connection closed; got:\n${seen.join('\n')}`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out after ${ms} ms; got:\n${seen.join('\n')}`);
      await new Promise((r) => {
        const t = setTimeout(r, left);
        this.waiters.push(() => { clearTimeout(t); r(); });
      });
    }
  }

  write(s) { this.sock.write(s); }
  end() { this.sock.destroy(); }
}

class Imap extends LineClient {
  static async open(port) {
    const c = await LineClient.connect(port);
    Object.setPrototypeOf(c, Imap.prototype);
    c.n = 0;
    const greet = await c.until(() => true);
    assert.match(greet[0], /^\* OK/, 'IMAP greeting');
    return c;
  }

  /** Sends a tagged command; resolves {status, lines}. literal: sent after the "+" continuation. */
  async cmd(text, literal) {
    const tag = `a${++this.n}`;
    if (literal !== undefined) {
      const bytes = Buffer.byteLength(literal);
      this.write(`${tag} ${text} {${bytes}}\r\n`);
      await this.until((l) => l.startsWith('+'));
      this.write(`${literal}\r\n`);
    } else {
      this.write(`${tag} ${text}\r\n`);
    }
    const lines = await this.until((l) => l.startsWith(`${tag} `));
    const status = lines[lines.length - 1].split(' ')[1];
    return { status, lines, tag };
  }
}

class Smtp extends LineClient {
  static async open(port) {
    const c = await LineClient.connect(port);
    Object.setPrototypeOf(c, Smtp.prototype);
    const r = await c.reply();
    assert.equal(r.code, 220, r.text);
    return c;
  }

  /** Reads one (possibly multi-line) reply. */
  async reply() {
    const lines = await this.until((l) => /^\d{3}( |$)/.test(l));
    return { code: Number(lines[lines.length - 1].slice(0, 3)), text: lines.join('\n') };
  }

  async cmd(line) {
    this.write(`${line}\r\n`);
    return this.reply();
  }

  /** A whole transaction; resolves the reply codes {mail, rcpt:[…], data, end}. */
  async send(from, rcpts, message) {
    const out = { mail: (await this.cmd(`MAIL FROM:<${from}>`)).code, rcpt: [] };
    for (const r of rcpts) out.rcpt.push(await this.cmd(`RCPT TO:<${r}>`));
    if (!out.rcpt.some((r) => r.code === 250)) {
      await this.cmd('RSET');
      return out;
    }
    out.data = (await this.cmd('DATA')).code;
    const body = message.replace(/\r?\n/g, '\r\n').replace(/^\./gm, '..');
    this.write(`${body}\r\n.\r\n`);
    out.end = await this.reply();
    return out;
  }
}

async function control(method, p, body) {
  const res = await fetch(`http://127.0.0.1:${ports.control}${p}`, {
    method,
    headers: body ? { 'content-type': 'application/json' } : {},
    body: body ? JSON.stringify(body) : undefined,
  });
  const json = await res.json();
  assert.equal(res.status, 200, JSON.stringify(json));
  return json;
}

function mailOut() {
  return fs.readdirSync(path.join(DEV_VAR, 'mail-out')).filter((f) => f.endsWith('.eml')).sort();
}

function message({ from, to, subject, id, body }) {
  return [
    `From: ${from}`, `To: ${to}`, `Subject: ${subject}`, `Message-ID: <${id}>`,
    'Date: Mon, 23 Nov 2026 10:00:00 +0000', 'MIME-Version: 1.0',
    'Content-Type: text/plain; charset=utf-8', 'Content-Transfer-Encoding: 8bit', '', body,
  ].join('\r\n');
}

function doveadmSave(env, user, msg) {
  const r = spawnSync('doveadm', ['-c', env.SWITCHBOARD_DEV_DOVECOT_CONF, 'save', '-u', user], {
    input: msg, encoding: 'utf8', timeout: 15000,
  });
  assert.equal(r.status, 0, `doveadm save failed: ${r.stdout}${r.stderr}`);
}

test.describe('scripts/dev-services: private Dovecot, SMTP capture and SMS fake', () => {
  let env;

  test.before(async () => {
    const [imap, imaps, smtp, control, sms] = await freePorts(5);
    ports = { imap, imaps, smtp, control, sms };
    // A fresh instance: stop whatever an earlier, interrupted run left, then start clean.
    if (fs.existsSync(DEV_VAR)) devServices('stop', SERVICES, { allowFail: true });
    fs.rmSync(DEV_VAR, { recursive: true, force: true });
    const r = devServices('start');
    assert.ok(r.ms < 5000, `start took ${r.ms} ms:\n${r.stdout}`);
    env = readEnv();
  });

  test.after(() => {
    if (ports) devServices('stop', SERVICES, { allowFail: true });
  });

  test('dev-services.env describes the instance', () => {
    assert.equal(env.SWITCHBOARD_DEV_IMAP_HOST, '127.0.0.1');
    assert.equal(env.SWITCHBOARD_DEV_IMAP_PORT, String(ports.imap));
    assert.equal(env.SWITCHBOARD_DEV_DOVECOT_CONF, path.join(DEV_VAR, 'dovecot', 'dovecot.conf'));
    assert.equal(env.SWITCHBOARD_DEV_SMTP_HOST, '127.0.0.1');
    assert.equal(env.SWITCHBOARD_DEV_SMTP_PORT, String(ports.smtp));
    assert.equal(env.SWITCHBOARD_DEV_SMTP_CONTROL_PORT, String(ports.control));
    assert.equal(env.SWITCHBOARD_DEV_MAIL_OUT, path.join(DEV_VAR, 'mail-out'));
    assert.equal(env.SWITCHBOARD_DEV_SMS_URL, `http://127.0.0.1:${ports.sms}`);
    assert.equal(env.SWITCHBOARD_DEV_SMS_ACCOUNT_SID, 'ACdev00000000000000000000000000000');
    assert.equal(env.SWITCHBOARD_DEV_SMS_AUTH_TOKEN, 'dev-auth-token');
    assert.ok(env.SWITCHBOARD_DATABASE_SOCKET, 'the MariaDB lines are still there');
    assert.match(fs.readFileSync(path.join(DEV_VAR, 'dovecot', 'passwd'), 'utf8'), /^support@example\.com:/m);
  });

  test('Dovecot: LOGIN, APPEND with a literal, doveadm save, UID SEARCH, IDLE sees new mail', async () => {
    const imap = await Imap.open(ports.imap);
    try {
      const login = await imap.cmd('LOGIN support@example.com support-pass');
      assert.equal(login.status, 'OK', login.lines.join('\n'));
      const sel = await imap.cmd('SELECT INBOX');
      assert.equal(sel.status, 'OK', sel.lines.join('\n'));
      assert.ok(sel.lines.some((l) => /^\* OK \[UIDVALIDITY \d+\]/.test(l)), sel.lines.join('\n'));
      assert.ok(sel.lines.includes('* 0 EXISTS'), sel.lines.join('\n'));

      const appended = message({
        from: 'Kunde <kunde@example.net>', to: 'support@example.com',
        subject: '=?UTF-8?B?5oiR55qE6K6i5Y2V?=', id: 'append-1@example.net', body: 'Hallo, über IMAP APPEND.',
      });
      const app = await imap.cmd('APPEND INBOX', appended);
      assert.equal(app.status, 'OK', app.lines.join('\n'));
      assert.match(app.lines[app.lines.length - 1], /APPENDUID \d+ 1\]/);

      doveadmSave(env, 'support@example.com', message({
        from: 'other@example.net', to: 'support@example.com', subject: 'saved by doveadm',
        id: 'save-2@example.net', body: 'second',
      }));
      // A NOOP lets the session see what doveadm delivered (the untagged EXISTS).
      const noop = await imap.cmd('NOOP');
      assert.ok(noop.lines.includes('* 2 EXISTS'), noop.lines.join('\n'));
      const search = await imap.cmd('UID SEARCH ALL');
      assert.equal(search.status, 'OK');
      assert.ok(search.lines.includes('* SEARCH 1 2'), search.lines.join('\n'));

      const fetched = await imap.cmd('UID FETCH 1 (BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)])');
      assert.ok(fetched.lines.some((l) => l.includes('<append-1@example.net>')), fetched.lines.join('\n'));

      // IDLE: a message delivered while idling is announced without polling.
      imap.write('idle1 IDLE\r\n');
      await imap.until((l) => l.startsWith('+'));
      const t0 = Date.now();
      doveadmSave(env, 'support@example.com', message({
        from: 'third@example.net', to: 'support@example.com', subject: 'while idling',
        id: 'idle-3@example.net', body: 'third',
      }));
      await imap.until((l) => l === '* 3 EXISTS', 5000);
      const ms = Date.now() - t0;
      assert.ok(ms < 2000, `IDLE announced the new message after ${ms} ms`);
      imap.write('DONE\r\n');
      const done = await imap.until((l) => l.startsWith('idle1 '));
      assert.match(done[done.length - 1], /^idle1 OK/);
      assert.equal((await imap.cmd('LOGOUT')).status, 'OK');
    } finally {
      imap.end();
    }

    // The second user has a mailbox of their own.
    const other = await Imap.open(ports.imap);
    try {
      assert.equal((await other.cmd('LOGIN test@example.com test-pass')).status, 'OK');
      const sel = await other.cmd('SELECT INBOX');
      assert.ok(sel.lines.includes('* 0 EXISTS'), sel.lines.join('\n'));
      await other.cmd('LOGOUT');
    } finally {
      other.end();
    }
  });

  test('SMTP capture: a message is stored as .eml with its envelope and parsed by GET /messages', async () => {
    const before = mailOut().length;
    const smtp = await Smtp.open(ports.smtp);
    try {
      const ehlo = await smtp.cmd('EHLO client.example.org');
      assert.equal(ehlo.code, 250, ehlo.text);
      assert.match(ehlo.text, /AUTH PLAIN LOGIN/);
      assert.doesNotMatch(ehlo.text, /STARTTLS/);
      // AUTH is optional, and any credentials are accepted when given.
      const auth = await smtp.cmd(`AUTH PLAIN ${Buffer.from('\0someone\0anything').toString('base64')}`);
      assert.equal(auth.code, 235, auth.text);
      const r = await smtp.send('support@example.com', ['kunde@example.net'], [
        'From: =?UTF-8?B?5a6i5pyN?= <support@example.com>', 'To: Kunde <kunde@example.net>',
        'Subject: =?UTF-8?B?UmU6IOaCqOeahOiuouWNlSBbIzQyXSDDvGJlcg==?=',
        'Message-ID: <reply-1@switchboard.test>', 'In-Reply-To: <orig-1@example.net>',
        'References: <orig-0@example.net> <orig-1@example.net>',
        'MIME-Version: 1.0', 'Content-Type: multipart/alternative; boundary="b1"', '',
        '--b1', 'Content-Type: text/plain; charset=utf-8', 'Content-Transfer-Encoding: 8bit', '',
        '您好，über alles.', '.leading dot line', '--b1', 'Content-Type: text/html; charset=utf-8', '',
        '<p>您好</p>', '--b1--', '',
      ].join('\r\n'));
      assert.equal(r.mail, 250);
      assert.equal(r.rcpt[0].code, 250, r.rcpt[0].text);
      assert.equal(r.data, 354);
      assert.equal(r.end.code, 250, r.end.text);
      await smtp.cmd('QUIT');
    } finally {
      smtp.end();
    }
    const files = mailOut();
    assert.equal(files.length, before + 1);
    const file = files[files.length - 1];
    const raw = fs.readFileSync(path.join(DEV_VAR, 'mail-out', file), 'utf8');
    assert.match(raw, /^Message-ID: <reply-1@switchboard\.test>$/m);
    assert.match(raw, /^\.leading dot line$/m, 'dot-stuffing undone');
    const side = JSON.parse(fs.readFileSync(path.join(DEV_VAR, 'mail-out', file.replace(/\.eml$/, '.json')), 'utf8'));
    assert.deepEqual([side.mailFrom, side.rcptTo], ['support@example.com', ['kunde@example.net']]);
    assert.deepEqual(fs.readdirSync(path.join(DEV_VAR, 'mail-out')).filter((f) => f.endsWith('.tmp')), []);

    const msgs = await control('GET', '/messages?rcpt=kunde@example.net');
    const m = msgs.find((x) => x.file === file);
    assert.ok(m, JSON.stringify(msgs));
    assert.equal(m.subject, 'Re: 您的订单 [#42] über');
    assert.equal(m.from.addresses[0].name, '客服');
    assert.equal(m.to.addresses[0].address, 'kunde@example.net');
    assert.equal(m.messageId, '<reply-1@switchboard.test>');
    assert.equal(m.inReplyTo, '<orig-1@example.net>');
    assert.deepEqual(m.references, ['<orig-0@example.net>', '<orig-1@example.net>']);
    assert.match(m.text, /您好，über alles\./);
    assert.match(m.html, /<p>您好<\/p>/);
    assert.equal(m.attachments, 0);
    assert.deepEqual(m.envelope, { mailFrom: 'support@example.com', rcptTo: ['kunde@example.net'] });
  });

  test('SMTP capture faults: 451 then 250 stores the message once; 550 stores nothing; data-stage 451', async () => {
    const count = async (rcpt) => (await control('GET', `/messages?rcpt=${rcpt}`)).length;
    await control('POST', '/fault', { rcpt: 'retry@example.net', codes: [451, 250] });
    await control('POST', '/fault', { rcpt: 'gone@example.net', codes: [550] });
    await control('POST', '/fault', { rcpt: 'late@example.net', codes: [451], stage: 'data' });
    assert.deepEqual((await control('GET', '/faults')).faults['retry@example.net'], { rcpt: [451, 250], data: [] });
    const msg = (to, id) => message({ from: 'support@example.com', to, subject: 'fault test', id, body: 'x' });

    const smtp = await Smtp.open(ports.smtp);
    try {
      await smtp.cmd('EHLO client.example.org');
      const first = await smtp.send('support@example.com', ['retry@example.net'], msg('retry@example.net', 'retry@x'));
      assert.equal(first.rcpt[0].code, 451, first.rcpt[0].text);
      const retry = await smtp.send('support@example.com', ['retry@example.net'], msg('retry@example.net', 'retry@x'));
      assert.equal(retry.rcpt[0].code, 250, retry.rcpt[0].text);
      assert.equal(retry.end.code, 250, retry.end.text);
      assert.equal(await count('retry@example.net'), 1);

      const gone = await smtp.send('support@example.com', ['gone@example.net'], msg('gone@example.net', 'gone@x'));
      assert.equal(gone.rcpt[0].code, 550, gone.rcpt[0].text);
      assert.equal(gone.end, undefined);
      assert.equal(await count('gone@example.net'), 0);

      const late = await smtp.send('support@example.com', ['late@example.net'], msg('late@example.net', 'late@x'));
      assert.equal(late.rcpt[0].code, 250);
      assert.equal(late.end.code, 451, late.end.text);
      assert.equal(await count('late@example.net'), 0);
      const again = await smtp.send('support@example.com', ['late@example.net'], msg('late@example.net', 'late@x'));
      assert.equal(again.end.code, 250, again.end.text);
      assert.equal(await count('late@example.net'), 1);

      // Faults are used up; reset clears pending ones.
      await control('POST', '/fault', { rcpt: 'never@example.net', codes: [550, 550] });
      await control('POST', '/reset');
      assert.deepEqual((await control('GET', '/faults')).faults, {});
      const after = await smtp.send('support@example.com', ['never@example.net'], msg('never@example.net', 'never@x'));
      assert.equal(after.end.code, 250);
      await smtp.cmd('QUIT');
    } finally {
      smtp.end();
    }
  });

  test('SMS fake: healthz, a send with the env file\'s credentials, status, its log', async () => {
    const base = env.SWITCHBOARD_DEV_SMS_URL;
    const health = await fetch(`${base}/_fake/healthz`);
    assert.equal(health.status, 200);
    assert.deepEqual(await health.json(), { ok: true });
    const auth = Buffer.from(`${env.SWITCHBOARD_DEV_SMS_ACCOUNT_SID}:${env.SWITCHBOARD_DEV_SMS_AUTH_TOKEN}`).toString('base64');
    const res = await fetch(`${base}/2010-04-01/Accounts/${env.SWITCHBOARD_DEV_SMS_ACCOUNT_SID}/Messages.json`, {
      method: 'POST',
      headers: { authorization: `Basic ${auth}`, 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ To: '+8613800138000', From: '+8610690000', Body: '您好' }).toString(),
    });
    const m = await res.json();
    assert.equal(res.status, 201, JSON.stringify(m));
    assert.match(m.sid, /^SM[0-9a-f]{32}$/);
    const got = await (await fetch(`${base}/_fake/messages`)).json();
    assert.deepEqual(got.map((x) => [x.sid, x.to, x.body, x.answered]), [[m.sid, '+8613800138000', '您好', 201]]);
    const st = devServices('status', ['sms']);
    assert.match(st.stdout, new RegExp(`sms: running pid \\d+ \\(http://127\\.0\\.0\\.1:${ports.sms}`));
    assert.match(fs.readFileSync(path.join(DEV_VAR, 'sms', 'sms.log'), 'utf8'), /listening: http:\/\/127\.0\.0\.1:/);
  });

  test('a second start is harmless; stop leaves no process behind', async () => {
    const dovecotPid = readPid(path.join(DEV_VAR, 'dovecot', 'run', 'master.pid'));
    const smtpPid = readPid(path.join(DEV_VAR, 'smtp', 'pid'));
    const smsPid = readPid(path.join(DEV_VAR, 'sms', 'pid'));
    const again = devServices('start');
    assert.match(again.stdout, /dovecot: already running/);
    assert.match(again.stdout, /smtp: already running/);
    assert.match(again.stdout, /sms: already running/);
    assert.equal(readPid(path.join(DEV_VAR, 'sms', 'pid')), smsPid);
    assert.equal(readPid(path.join(DEV_VAR, 'dovecot', 'run', 'master.pid')), dovecotPid);
    assert.equal(readPid(path.join(DEV_VAR, 'smtp', 'pid')), smtpPid);
    assert.equal(devServices('status').status, 0);
    const imap = await Imap.open(ports.imap);   // still serving
    imap.end();

    const pids = [dovecotPid, ...childrenOf(dovecotPid), smtpPid, smsPid];
    assert.ok(pids.length > 4, `dovecot has children: ${pids}`);
    const stop = devServices('stop');
    assert.match(stop.stdout, /dovecot: stopped/);
    assert.match(stop.stdout, /smtp: stopped/);
    assert.match(stop.stdout, /sms: stopped/);
    await sleep(100);
    assert.deepEqual(pids.filter(alive), [], 'processes left after stop');
    assert.equal(devServices('status', SERVICES, { allowFail: true }).status, 3);
    assert.equal(fs.existsSync(path.join(DEV_VAR, 'smtp', 'pid')), false);
    assert.equal(fs.existsSync(path.join(DEV_VAR, 'sms', 'pid')), false);
    assert.match(devServices('status', ['sms'], { allowFail: true }).stdout, /sms: stopped/);
    assert.equal(fs.existsSync(path.join(DEV_VAR, 'dovecot', 'run', 'master.pid')), false);
    // Stopping a stopped instance is fine too.
    const again2 = devServices('stop').stdout;
    assert.match(again2, /dovecot: not running/);
    assert.match(again2, /sms: not running/);
  });
});
