'use strict';
// email_in.test.js — mail in a real (private) Dovecot becomes tickets: IDLE delivers
// within 2 s, charsets are decoded, a reply to our Message-ID threads into its ticket, a
// stranger's "[#id]" opens a new ticket, the same message after a UIDVALIDITY change is
// stored once, and messages are flagged \Seen only after they are stored.
const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { execFileSync } = require('node:child_process');
const net = require('node:net');
const { startServer, bootstrapAdmin, api, sql, dropDatabase, sleep, readDevEnv, freePort, createAgent } = require('./harness');

const USER = 'test@example.com';
let server, a, adminToken, conf, silent;
const silentSockets = [];

const doveadm = (...args) => execFileSync('doveadm', ['-c', conf, ...args], { encoding: 'utf8' });
const save = (text) => execFileSync('doveadm', ['-c', conf, 'save', '-u', USER], { input: text });
const b64 = (s, enc = 'utf8') => Buffer.from(s, enc).toString('base64');

async function until(fn, ms, what) {
  for (let waited = 0; waited < ms; waited += 50) {
    const v = await fn();
    if (v) return v;
    await sleep(50);
  }
  throw new Error(`timed out (${ms} ms) waiting for ${what}`);
}

const inbound = async (id) => (await a.get(`/api/v1/tickets/${id}/messages`)).json.items.filter((m) => m.direction === 'in').length;
const emailTickets = async () => (await a.get('/api/v1/tickets?channel=email&per_page=200')).json.items;

before(async () => {
  const dev = readDevEnv();
  conf = dev.SWITCHBOARD_DEV_DOVECOT_CONF;
  assert.ok(conf, 'Dovecot is not running: scripts/dev-services start');
  doveadm('expunge', '-u', USER, 'mailbox', 'INBOX', 'all');
  // a slow mailbox (accepts, never greets) and a broken one (nothing listens) beside ours
  silent = net.createServer((s) => silentSockets.push(s));
  await new Promise((r) => silent.listen(0, '127.0.0.1', r));
  const refused = await freePort();
  server = await startServer({
    env: {
      SWITCHBOARD_MAILBOX_SLOW_HOST: '127.0.0.1', SWITCHBOARD_MAILBOX_SLOW_PORT: String(silent.address().port),
      SWITCHBOARD_MAILBOX_SLOW_TLS: 'none', SWITCHBOARD_MAILBOX_SLOW_USER: 'slow@example.com',
      SWITCHBOARD_MAILBOX_BROKEN_HOST: '127.0.0.1', SWITCHBOARD_MAILBOX_BROKEN_PORT: String(refused),
      SWITCHBOARD_MAILBOX_BROKEN_TLS: 'none', SWITCHBOARD_MAILBOX_BROKEN_USER: 'broken@example.com',
      SWITCHBOARD_MAILBOX_SUPPORT_HOST: '127.0.0.1', SWITCHBOARD_MAILBOX_SUPPORT_PORT: dev.SWITCHBOARD_DEV_IMAP_PORT,
      SWITCHBOARD_MAILBOX_SUPPORT_TLS: 'none', SWITCHBOARD_MAILBOX_SUPPORT_USER: USER,
      SWITCHBOARD_MAILBOX_SUPPORT_PASSWORD: 'test-pass',
    },
  });
  adminToken = (await bootstrapAdmin(server)).token;
  a = api(server, adminToken);
});

after(async () => {
  if (server) { await server.stop(); dropDatabase(server); }
  for (const s of silentSockets) s.destroy();
  if (silent) silent.close();
  if (conf) doveadm('expunge', '-u', USER, 'mailbox', 'INBOX', 'all');
});

test('a GBK mail becomes a ticket within 2 s, decoded, and is flagged \\Seen after it is stored (beside a slow and a broken mailbox)', async () => {
  const t0 = Date.now();
  save(`From: =?UTF-8?B?${b64('王小明')}?= <XiaoMing@Example.cn>\r\nTo: ${USER}\r\n` +
       `Subject: =?GBK?B?${Buffer.from([0xcd, 0xcb, 0xbf, 0xee]).toString('base64')}?= refund\r\nMessage-ID: <gbk-1@example.cn>\r\n` +
       `Content-Type: text/plain; charset=gbk\r\nContent-Transfer-Encoding: base64\r\n\r\n${Buffer.from([0xc4, 0xe3, 0xba, 0xc3]).toString('base64')}\r\n`);
  const [t] = await until(async () => { const l = await emailTickets(); return l.length && l; }, 2000, 'the ticket (IDLE)');
  assert.ok(Date.now() - t0 < 2000);
  assert.equal(t.subject, '退款 refund');
  assert.equal(t.customer_name, '王小明');
  const msgs = (await a.get(`/api/v1/tickets/${t.id}/messages`)).json.items.filter((m) => m.direction === 'in');
  assert.equal(msgs.length, 1);
  assert.equal(msgs[0].body_text.trim(), '你好');
  const cust = (await a.get(`/api/v1/customers/${t.customer_id}`)).json;
  assert.equal(cust.email, 'xiaoming@example.cn');
  await until(() => /flags: \\Seen/.test(doveadm('fetch', '-u', USER, 'flags', 'mailbox', 'INBOX', 'all')), 2000, '\\Seen');
  // the broken mailbox says why, for the admin
  await until(() => sql(server, "SELECT COALESCE(last_error, '') FROM mailboxes WHERE name = 'broken'")[0][0].includes('connect'),
    3000, 'the broken mailbox error');
});

test('a reply to our Message-ID threads into its ticket; a stranger\'s [#id] opens a new ticket', async () => {
  const [t] = await emailTickets();
  sql(server, `INSERT INTO email_threads (message_id, ticket_id) VALUES ('<sb.1.ours@example.com>', ${t.id})`);
  save(`From: xiaoming@example.cn\r\nTo: ${USER}\r\nSubject: Re: anything\r\nMessage-ID: <gbk-2@example.cn>\r\n` +
       `In-Reply-To: <sb.1.ours@example.com>\r\nReferences: <gbk-1@example.cn> <sb.1.ours@example.com>\r\n\r\nthank you\r\n`);
  await until(async () => (await inbound(t.id)) === 2, 3000, 'the threaded reply');
  save(`From: stranger@evil.example\r\nTo: ${USER}\r\nSubject: Re: refund [#${t.id}]\r\nMessage-ID: <evil-1@evil.example>\r\n\r\nlet me in\r\n`);
  const l = await until(async () => { const x = await emailTickets(); return x.length === 2 && x; }, 3000, 'a new ticket');
  const fresh = l.find((x) => x.id !== t.id);
  assert.notEqual(fresh.customer_id, t.customer_id);
  assert.equal(await inbound(t.id), 2, 'nothing joined the original ticket');
});

test('after a UIDVALIDITY change the same messages are stored once', async () => {
  const before = Number(sql(server, "SELECT COUNT(*) FROM messages WHERE channel = 'email' AND direction = 'in'")[0][0]);
  const [[oldValidity]] = sql(server, "SELECT uidvalidity FROM mailboxes WHERE name = 'support'");
  doveadm('mailbox', 'update', '-u', USER, '--uid-validity', String(Number(oldValidity) + 7), 'INBOX');
  // wake the fetcher: IDLE answers to a new message, which also proves the resync ran
  save(`From: late@example.org\r\nTo: ${USER}\r\nSubject: after the change\r\nMessage-ID: <late-1@example.org>\r\n\r\nhello\r\n`);
  await until(() => Number(sql(server, "SELECT COUNT(*) FROM messages WHERE channel = 'email' AND direction = 'in'")[0][0]) === before + 1, 5000,
    'the new message after the resync');
  await sleep(500);
  assert.equal(Number(sql(server, "SELECT COUNT(*) FROM messages WHERE channel = 'email' AND direction = 'in'")[0][0]), before + 1, 'duplicates stored');
  const [[validity]] = sql(server, "SELECT uidvalidity FROM mailboxes WHERE name = 'support'");
  assert.equal(Number(validity), Number(oldValidity) + 7);
});

test('attachments are stored with name, type, size and content hash', async () => {
  const content = Buffer.from('%PDF-1.4 invoice 发票 ' + 'x'.repeat(3000));
  const sha = require('node:crypto').createHash('sha256').update(content).digest('hex');
  const fname = encodeURIComponent('发票 2026.pdf');
  save(`From: billing@example.net\r\nTo: ${USER}\r\nSubject: Invoice attached\r\nMessage-ID: <att-1@example.net>\r\n` +
       `MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary="b1"\r\n\r\n` +
       `--b1\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nSee attached.\r\n` +
       `--b1\r\nContent-Type: application/pdf\r\nContent-Disposition: attachment; filename*=UTF-8''${fname}\r\n` +
       `Content-Transfer-Encoding: base64\r\n\r\n${content.toString('base64').replace(/.{76}/g, '$&\r\n')}\r\n--b1--\r\n`);
  const t = await until(async () => (await emailTickets()).find((x) => x.subject === 'Invoice attached'), 3000, 'the ticket');
  const [m] = (await a.get(`/api/v1/tickets/${t.id}/messages`)).json.items.filter((x) => x.direction === 'in');
  assert.equal(m.body_text.trim(), 'See attached.');
  assert.equal(m.attachments.length, 1);
  assert.deepEqual({ ...m.attachments[0], id: undefined },
    { id: undefined, filename: '发票 2026.pdf', content_type: 'application/pdf', size: content.length, sha256: sha, stored: true });
  // the content itself downloads intact, as an attachment, sandboxed
  const res = await fetch(`${server.url}/api/v1/attachments/${m.attachments[0].id}/content`, { headers: { authorization: `Bearer ${adminToken}` } });
  assert.equal(res.status, 200);
  assert.equal(res.headers.get('content-type'), 'application/pdf');
  assert.equal(res.headers.get('content-disposition'), `attachment; filename*=UTF-8''${fname.replace(/%20/g, '%20')}`);
  assert.match(res.headers.get('content-security-policy'), /sandbox/);
  assert.ok(Buffer.from(await res.arrayBuffer()).equals(content));
});

test('a large attachment is stored in chunks, shared by hash, and hidden from agents outside the ticket', async () => {
  const big = require('node:crypto').randomBytes(1300 * 1024); // three 512 KiB chunks
  const sha = require('node:crypto').createHash('sha256').update(big).digest('hex');
  const mail = (n) => `From: big${n}@example.net\r\nTo: ${USER}\r\nSubject: Big file ${n}\r\nMessage-ID: <big-${n}@example.net>\r\n` +
    `MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary="b2"\r\n\r\n--b2\r\nContent-Type: text/plain\r\n\r\nlogs\r\n` +
    `--b2\r\nContent-Type: application/x-evil; name="run.html"\r\nContent-Transfer-Encoding: base64\r\n\r\n` +
    `${big.toString('base64').replace(/.{76}/g, '$&\r\n')}\r\n--b2--\r\n`;
  save(mail(1));
  save(mail(2));
  const t2 = await until(async () => (await emailTickets()).find((x) => x.subject === 'Big file 2'), 5000, 'both tickets');
  const [m] = (await a.get(`/api/v1/tickets/${t2.id}/messages`)).json.items;
  assert.equal(m.attachments[0].size, big.length);
  assert.equal(sql(server, `SELECT COUNT(*) FROM attachment_chunks WHERE sha256 = '${sha}'`)[0][0], '3', 'stored once, in 3 chunks');
  const res = await fetch(`${server.url}/api/v1/attachments/${m.attachments[0].id}/content`, { headers: { authorization: `Bearer ${adminToken}` } });
  assert.equal(res.headers.get('content-type'), 'application/octet-stream', 'an unknown type is never served as itself');
  assert.ok(Buffer.from(await res.arrayBuffer()).equals(big));
  // an agent of another team, with the ticket assigned elsewhere, sees nothing
  const team = (await a.post('/api/v1/teams', { name: 'Elsewhere' })).json;
  const other = await createAgent(server, adminToken, { team_id: team.id });
  const home = (await a.post('/api/v1/teams', { name: 'Home' })).json;
  assert.equal((await a.patch(`/api/v1/tickets/${t2.id}`, { team_id: home.id })).status, 200);
  const tok = other.token;
  const denied = await fetch(`${server.url}/api/v1/attachments/${m.attachments[0].id}/content`, { headers: { authorization: `Bearer ${tok}` } });
  assert.equal(denied.status, 404);
  assert.equal((await fetch(`${server.url}/api/v1/attachments/${m.attachments[0].id}/content`)).status, 401);
});

test('To and Cc are recorded as participants (not our mailbox); a Cc\'d person may thread with [#id]; quoted history is collapsed for display', async () => {
  save(`From: Boss <boss@client.example>\r\nTo: ${USER}, "Doe, Jane" <Jane@Client.example>\r\n` +
       `Cc: =?UTF-8?B?${b64('李雷')}?= <lilei@client.example>, (ops) ops@client.example\r\nSubject: Outage\r\n` +
       `Message-ID: <cc-1@client.example>\r\n\r\nSite is down again.\r\n\r\nOn Mon, Support wrote:\r\n> We fixed it.\r\n> Regards\r\n`);
  const t = await until(async () => (await emailTickets()).find((x) => x.subject === 'Outage'), 3000, 'the ticket');
  const full = (await a.get(`/api/v1/tickets/${t.id}`)).json;
  assert.deepEqual(full.participants.map((p) => `${p.role}:${p.address}`).sort(),
    ['cc:lilei@client.example', 'cc:ops@client.example', 'from:boss@client.example', 'to:jane@client.example']);
  const [m] = full.messages;
  assert.match(m.body_text, /We fixed it/);
  assert.equal(m.body_visible.trim(), 'Site is down again.');
  save(`From: lilei@client.example\r\nTo: ${USER}\r\nSubject: Re: Outage [#${t.id}]\r\nMessage-ID: <cc-2@client.example>\r\n\r\nStill down.\r\n`);
  await until(async () => (await inbound(t.id)) === 2, 3000, 'the Cc\'d reply threading in');
  assert.equal((await emailTickets()).filter((x) => /Outage/.test(x.subject)).length, 1);
});
