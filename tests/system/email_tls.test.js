'use strict';
// email_tls.test.js — TLS of the e-mail channel against real servers, with certificates
// that are checked: the private Dovecot over implicit TLS (imaps) and STARTTLS, with a
// certificate for "localhost" signed by the dev test CA ([tls] ca_file); a mailbox that
// reaches the same server by address (name mismatch) or a self-signed server is refused
// with a reason the admin can read, and fetches nothing. SMTP STARTTLS into a real SMTP
// server (npm smtp-server) delivers; a certificate that does not name the host, or a
// server that offers no STARTTLS, gets nothing in clear text. Bad TLS configuration stops
// the start with one clear line.
const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const tls = require('node:tls');
const { execFileSync, spawnSync } = require('node:child_process');
const { SMTPServer } = require('smtp-server');
const { simpleParser } = require('mailparser');
const { startServer, bootstrapAdmin, api, sql, dropDatabase, sleep, readDevEnv, freePort, until } = require('./harness');

const ROOT = path.resolve(__dirname, '..', '..');
const BIN = path.join(ROOT, 'switchboard');
const USERS = { implicit: 'tls-implicit@example.com', starttls: 'tls-starttls@example.com' };
let dev, conf, tmp, selfSigned, selfSignedPort;
const servers = [];
const smtps = [];

const save = (user, text) => execFileSync('doveadm', ['-c', conf, 'save', '-u', user], { input: text });
const doveadm = (...args) => execFileSync('doveadm', ['-c', conf, ...args], { encoding: 'utf8' });


function mailboxEnv(name, host, port, tlsMode, user) {
  const N = name.toUpperCase();
  return {
    [`SWITCHBOARD_MAILBOX_${N}_HOST`]: host, [`SWITCHBOARD_MAILBOX_${N}_PORT`]: String(port),
    [`SWITCHBOARD_MAILBOX_${N}_TLS`]: tlsMode, [`SWITCHBOARD_MAILBOX_${N}_USER`]: user,
    [`SWITCHBOARD_MAILBOX_${N}_PASSWORD`]: 'tls-pass',
  };
}

async function smtpServer(opts) {
  const received = [];
  const port = await freePort();
  const srv = new SMTPServer({
    authOptional: true, logger: false, ...opts,
    onData(stream, session, cb) {
      simpleParser(stream).then((m) => { received.push({ m, secure: session.secure }); cb(); }, cb);
    },
  });
  await new Promise((r) => srv.listen(port, '127.0.0.1', r));
  smtps.push(srv);
  return { port, received };
}

async function gateway(env) {
  const s = await startServer({ env: { SWITCHBOARD_OUTBOX_RETRY_SECS: '1', ...env } });
  servers.push(s);
  const a = api(s, (await bootstrapAdmin(s)).token);
  return { s, a };
}

before(async () => {
  dev = readDevEnv();
  conf = dev.SWITCHBOARD_DEV_DOVECOT_CONF;
  assert.ok(conf && dev.SWITCHBOARD_DEV_IMAPS_PORT && dev.SWITCHBOARD_DEV_TLS_CA, 'Dovecot with TLS is not running: scripts/dev-services start');
  const passwd = path.join(path.dirname(conf), 'passwd');
  const lines = fs.readFileSync(passwd, 'utf8');
  for (const u of Object.values(USERS)) {
    if (!lines.includes(`${u}:`)) fs.appendFileSync(passwd, `${u}:{PLAIN}tls-pass::::::\n`);
  }
  for (const u of Object.values(USERS)) doveadm('expunge', '-u', u, 'mailbox', 'INBOX', 'all');
  // a self-signed "localhost" IMAP server nobody told us to trust
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'sb-tls-'));
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '2', '-subj', '/CN=localhost',
    '-addext', 'subjectAltName=DNS:localhost', '-keyout', path.join(tmp, 'k.pem'), '-out', path.join(tmp, 'c.pem')], { stdio: 'ignore' });
  selfSigned = tls.createServer({ key: fs.readFileSync(path.join(tmp, 'k.pem')), cert: fs.readFileSync(path.join(tmp, 'c.pem')) },
    (sock) => { sock.on('error', () => {}); sock.write('* OK IMAP4rev1 ready\r\n'); });
  selfSigned.on('tlsClientError', () => {});
  selfSignedPort = await freePort();
  await new Promise((r) => selfSigned.listen(selfSignedPort, '127.0.0.1', r));
});

after(async () => {
  for (const s of servers) { await s.stop(); dropDatabase(s); }
  for (const srv of smtps) await new Promise((r) => srv.close(r));
  if (selfSigned) selfSigned.close();
  if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
  if (conf) for (const u of Object.values(USERS)) doveadm('expunge', '-u', u, 'mailbox', 'INBOX', 'all');
});

test('IMAP over implicit TLS and STARTTLS with a verified certificate; a name mismatch and a self-signed server are refused', async () => {
  const { s, a } = await gateway({
    SWITCHBOARD_TLS_CA_FILE: dev.SWITCHBOARD_DEV_TLS_CA,
    ...mailboxEnv('imaps', 'localhost', dev.SWITCHBOARD_DEV_IMAPS_PORT, 'implicit', USERS.implicit),
    ...mailboxEnv('starttls', 'localhost', dev.SWITCHBOARD_DEV_IMAP_PORT, 'starttls', USERS.starttls),
    ...mailboxEnv('byaddress', '127.0.0.1', dev.SWITCHBOARD_DEV_IMAPS_PORT, 'implicit', USERS.implicit),
    ...mailboxEnv('selfsigned', 'localhost', selfSignedPort, 'implicit', 'nobody@example.com'),
  });
  save(USERS.implicit, `From: a@tls.example\r\nTo: ${USERS.implicit}\r\nSubject: over imaps\r\nMessage-ID: <tls-1@tls.example>\r\n\r\nsecret one\r\n`);
  save(USERS.starttls, `From: b@tls.example\r\nTo: ${USERS.starttls}\r\nSubject: over starttls\r\nMessage-ID: <tls-2@tls.example>\r\n\r\nsecret two\r\n`);
  const subjects = async () => (await a.get('/api/v1/tickets?channel=email')).json.items.map((t) => t.subject).sort();
  await until(async () => (await subjects()).length === 2, 5000, 'both mails over TLS');
  assert.deepEqual(await subjects(), ['over imaps', 'over starttls']);
  const err = (name) => sql(s, `SELECT COALESCE(last_error, '-') FROM mailboxes WHERE name = '${name}'`)[0][0];
  await until(() => err('byaddress') !== '-' && err('selfsigned') !== '-', 5000, 'the refusals');
  assert.match(err('byaddress'), /certificate of 127\.0\.0\.1 not accepted: .*(mismatch|IP address)/i);
  assert.match(err('selfsigned'), /certificate of localhost not accepted: self[- ]signed certificate/);
  assert.equal(err('imaps'), '-');
  assert.equal(err('starttls'), '-');
  // the refused mailboxes never logged in: their UID bookkeeping never started
  assert.equal(sql(s, "SELECT COUNT(*) FROM mailboxes WHERE name IN ('byaddress','selfsigned') AND uidvalidity IS NOT NULL")[0][0], '0');
});

async function replyThrough(a) {
  const c = await a.post('/api/v1/customers', { name: 'TLS', email: 'tls-customer@example.org' });
  const t = await a.post('/api/v1/tickets', { customer_id: c.json.id, channel: 'email', subject: 'tls' });
  const r = await a.post(`/api/v1/tickets/${t.json.id}/messages`, { body_text: 'confidential answer' });
  assert.equal(r.status, 201, r.text);
  return r.json.id;
}
const outbox = (s, id) => sql(s, `SELECT state, attempts, COALESCE(error, '') FROM outbox WHERE message_id = ${id}`)[0];

test('SMTP STARTTLS to a verified server delivers over TLS; a wrong name or no STARTTLS sends nothing in clear', async () => {
  const key = fs.readFileSync(dev.SWITCHBOARD_DEV_TLS_KEY);
  const cert = fs.readFileSync(dev.SWITCHBOARD_DEV_TLS_CERT);
  const good = await smtpServer({ key, cert });
  const plainOnly = await smtpServer({ disabledCommands: ['STARTTLS'] });
  const smtpEnv = (host, port) => ({
    SWITCHBOARD_TLS_CA_FILE: dev.SWITCHBOARD_DEV_TLS_CA, SWITCHBOARD_SMTP_HOST: host, SWITCHBOARD_SMTP_PORT: String(port),
    SWITCHBOARD_SMTP_TLS: 'starttls', SWITCHBOARD_SMTP_FROM: 'support@example.com',
  });
  const ok = await gateway(smtpEnv('localhost', good.port));
  const wrongName = await gateway(smtpEnv('127.0.0.1', good.port));
  const noTls = await gateway(smtpEnv('localhost', plainOnly.port));
  const ids = [await replyThrough(ok.a), await replyThrough(wrongName.a), await replyThrough(noTls.a)];
  await until(() => good.received.length >= 1, 8000, 'the reply over TLS');
  assert.equal(good.received[0].secure, true);
  assert.equal(good.received[0].m.text.trim(), 'confidential answer');
  await until(() => outbox(ok.s, ids[0])[0] === 'sent', 5000, 'sent');
  // the others retry (an admin can fix the setup) and say why
  await until(() => Number(outbox(wrongName.s, ids[1])[1]) >= 2 && Number(outbox(noTls.s, ids[2])[1]) >= 2, 10000, 'retries');
  assert.match(outbox(wrongName.s, ids[1])[2], /TLS: the certificate does not name this host/);
  assert.match(outbox(noTls.s, ids[2])[2], /TLS: the server offers no STARTTLS/);
  assert.equal(good.received.length, 1, 'nothing but the verified reply arrived');
  assert.equal(plainOnly.received.length, 0, 'nothing went out in clear text');
});

test('a bad [tls] ca_file or an implicit-TLS [smtp] stops the start with one clear line', () => {
  const env = { ...process.env, ...readDevEnv(), SWITCHBOARD_TLS_CA_FILE: '/nonexistent/ca.pem' };
  let r = spawnSync(BIN, ['-c', '/dev/null', 'serve'], { cwd: ROOT, env, encoding: 'utf8', timeout: 20000 });
  assert.notEqual(r.status, 0);
  assert.match(r.stderr, /\[tls\] ca_file: cannot load "\/nonexistent\/ca\.pem"/);
  r = spawnSync(BIN, ['-c', '/dev/null', 'serve'], { cwd: ROOT, env: { ...process.env, ...readDevEnv(), SWITCHBOARD_SMTP_TLS: 'implicit' }, encoding: 'utf8', timeout: 20000 });
  assert.notEqual(r.status, 0);
  assert.match(r.stderr, /\[smtp\] tls: .*none\|starttls.*implicit/);
});
