'use strict';
// email_autoack.test.js — the automatic acknowledgement of a new e-mail ticket, with
// RFC 3834 loop protection: it is sent once per new ticket with Auto-Submitted:
// auto-replied, and never to automated mail (Auto-Submitted, Precedence bulk/junk/list,
// List-Id), mailer-daemon/no-reply senders, or our own address — so two autoresponders
// cannot loop. Real Dovecot in, a real SMTP server (smtp-server, in this process) out.
const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { execFileSync } = require('node:child_process');
const { SMTPServer } = require('smtp-server');
const { simpleParser } = require('mailparser');
const { startServer, bootstrapAdmin, api, dropDatabase, sleep, readDevEnv, freePort } = require('./harness');

const USER = 'support@example.com';
let server, a, conf, smtp;
const received = [];
let n = 0;

const doveadm = (...args) => execFileSync('doveadm', ['-c', conf, ...args], { encoding: 'utf8' });
function deliver(from, subject, extra = '') {
  const id = `<ack-${Date.now()}-${++n}@example.org>`;
  execFileSync('doveadm', ['-c', conf, 'save', '-u', USER], {
    input: `From: ${from}\r\nTo: ${USER}\r\nSubject: ${subject}\r\nMessage-ID: ${id}\r\n${extra}\r\nbody\r\n`,
  });
  return id;
}
async function ticketFor(subject) {
  for (let i = 0; i < 80; i++) {
    const l = (await a.get('/api/v1/tickets?channel=email&per_page=200')).json.items;
    const t = l.find((x) => x.subject === subject);
    if (t) return t;
    await sleep(50);
  }
  throw new Error(`no ticket for ${subject}`);
}
const acksTo = (addr) => received.filter((m) => m.to.value.some((v) => v.address === addr));

before(async () => {
  const dev = readDevEnv();
  conf = dev.SWITCHBOARD_DEV_DOVECOT_CONF;
  assert.ok(conf, 'Dovecot is not running: scripts/dev-services start');
  doveadm('expunge', '-u', USER, 'mailbox', 'INBOX', 'all');
  const smtpPort = await freePort();
  smtp = new SMTPServer({
    authOptional: true, disabledCommands: ['STARTTLS'], logger: false,
    onData(stream, session, cb) { simpleParser(stream).then((m) => { received.push(m); cb(); }, cb); },
  });
  await new Promise((r) => smtp.listen(smtpPort, '127.0.0.1', r));
  server = await startServer({
    env: {
      SWITCHBOARD_MAILBOX_SUPPORT_HOST: '127.0.0.1', SWITCHBOARD_MAILBOX_SUPPORT_PORT: dev.SWITCHBOARD_DEV_IMAP_PORT,
      SWITCHBOARD_MAILBOX_SUPPORT_TLS: 'none', SWITCHBOARD_MAILBOX_SUPPORT_USER: USER,
      SWITCHBOARD_MAILBOX_SUPPORT_PASSWORD: 'support-pass', SWITCHBOARD_MAILBOX_SUPPORT_ADDRESS: USER,
      SWITCHBOARD_SMTP_HOST: '127.0.0.1', SWITCHBOARD_SMTP_PORT: String(smtpPort),
    },
  });
  a = api(server, (await bootstrapAdmin(server)).token);
});

after(async () => {
  if (server) { await server.stop(); dropDatabase(server); }
  if (smtp) await new Promise((r) => smtp.close(r));
  if (conf) doveadm('expunge', '-u', USER, 'mailbox', 'INBOX', 'all');
});

test('a new ticket is acknowledged once, marked auto-replied, from our address', async () => {
  const id = deliver('Customer <alice@example.org>', 'Where is my parcel');
  const t = await ticketFor('Where is my parcel');
  for (let i = 0; i < 100 && !acksTo('alice@example.org').length; i++) await sleep(50);
  const [ack] = acksTo('alice@example.org');
  assert.ok(ack, 'no acknowledgement sent');
  assert.equal(ack.headers.get('auto-submitted'), 'auto-replied');
  assert.equal(ack.from.value[0].address, USER);
  assert.equal(ack.subject, `Re: Where is my parcel [#${t.id}]`);
  assert.equal(ack.inReplyTo, id);
  assert.match(ack.text, new RegExp(`#${t.id}`));
  const msgs = (await a.get(`/api/v1/tickets/${t.id}/messages`)).json.items;
  assert.ok(msgs.some((m) => m.author_type === 'bot' && m.direction === 'out'), 'the agent sees the acknowledgement');
  // a second message in the same thread is not acknowledged again
  execFileSync('doveadm', ['-c', conf, 'save', '-u', USER], {
    input: `From: alice@example.org\r\nTo: ${USER}\r\nSubject: Re: Where is my parcel [#${t.id}]\r\nMessage-ID: <again-${n}@example.org>\r\nIn-Reply-To: ${id}\r\n\r\nany news?\r\n`,
  });
  for (let i = 0; i < 40 && (await a.get(`/api/v1/tickets/${t.id}/messages`)).json.total < 3; i++) await sleep(50);
  await sleep(800);
  assert.equal(acksTo('alice@example.org').length, 1);
});

test('automated mail and our own address get no acknowledgement (no loops)', async () => {
  const cases = [
    ['robot@example.org', 'Out of office', 'Auto-Submitted: auto-replied\r\n'],
    ['news@example.org', 'Weekly digest', 'Precedence: bulk\r\n'],
    ['list@example.org', 'List traffic', 'List-Id: <dev.lists.example.org>\r\n'],
    ['MAILER-DAEMON@example.org', 'Undelivered Mail', ''],
    ['no-reply@example.org', 'Your receipt', ''],
    [USER, 'Our own acknowledgement bounced back', ''],
  ];
  for (const [from, subject, extra] of cases) deliver(from, subject, extra);
  for (const [, subject] of cases) await ticketFor(subject); // every one is still a ticket
  await sleep(1500); // time enough for any (wrong) acknowledgement to arrive
  for (const [from] of cases) assert.equal(acksTo(from.toLowerCase()).length, 0, `acknowledged ${from}`);
});
