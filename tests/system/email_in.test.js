'use strict';
// email_in.test.js — mail in a real (private) Dovecot becomes tickets: IDLE delivers
// within 2 s, charsets are decoded, a reply to our Message-ID threads into its ticket, a
// stranger's "[#id]" opens a new ticket, the same message after a UIDVALIDITY change is
// stored once, and messages are flagged \Seen only after they are stored.
const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { execFileSync } = require('node:child_process');
const net = require('node:net');
const fs = require('node:fs');
const { startServer, bootstrapAdmin, api, sql, dropDatabase, sleep, readDevEnv, freePort, createAgent, until } = require('./harness');

const USER = 'test@example.com';
let server, a, adminToken, conf, silent;
const silentSockets = [];

const doveadm = (...args) => execFileSync('doveadm', ['-c', conf, ...args], { encoding: 'utf8' });
const save = (text) => execFileSync('doveadm', ['-c', conf, 'save', '-u', USER], { input: text });
const b64 = (s, enc = 'utf8') => Buffer.from(s, enc).toString('base64');


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
    { id: undefined, filename: '发票 2026.pdf', content_type: 'application/pdf', size: content.length, sha256: sha, stored: true, url: null });
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

/* A new Dovecot user (password "bulk-pass") whose INBOX holds exactly these messages,
 * written straight into its maildir: doveadm save per message is too slow for bulk. */
function dropIntoMaildir(user, messages) {
  const fs = require('node:fs');
  const path = require('node:path');
  const passwd = path.join(path.dirname(conf), 'passwd');
  if (!fs.readFileSync(passwd, 'utf8').includes(`${user}:`)) fs.appendFileSync(passwd, `${user}:{PLAIN}bulk-pass::::::\n`);
  doveadm('expunge', '-u', user, 'mailbox', 'INBOX', 'all');
  const home = path.join(path.dirname(conf), 'mail', user);
  const owner = fs.statSync(path.dirname(home));
  for (const d of ['new', 'cur', 'tmp']) fs.mkdirSync(path.join(home, d), { recursive: true });
  messages.forEach((m, i) => fs.writeFileSync(path.join(home, 'new', `${Date.now()}.m${i}.sb`), m));
  for (const d of ['', 'new', 'cur', 'tmp']) fs.chownSync(path.join(home, d), owner.uid, owner.gid);
  for (const f of fs.readdirSync(path.join(home, 'new'))) fs.chownSync(path.join(home, 'new', f), owner.uid, owner.gid);
}

const mailboxEnv = (name, user) => ({
  [`SWITCHBOARD_MAILBOX_${name}_HOST`]: '127.0.0.1', [`SWITCHBOARD_MAILBOX_${name}_PORT`]: readDevEnv().SWITCHBOARD_DEV_IMAP_PORT,
  [`SWITCHBOARD_MAILBOX_${name}_TLS`]: 'none', [`SWITCHBOARD_MAILBOX_${name}_USER`]: user,
  [`SWITCHBOARD_MAILBOX_${name}_PASSWORD`]: 'bulk-pass',
});

test('a message over 25 MiB becomes a stub ticket with a warning and the mail after it still arrives', async () => {
  const user = 'huge@example.com';
  const big = 'x'.repeat(76) + '\r\n';
  dropIntoMaildir(user, [
    `From: huge@sender.example\r\nTo: ${user}\r\nSubject: logs\r\nMessage-ID: <huge-1@sender.example>\r\n\r\n${big.repeat(Math.ceil((26 << 20) / big.length))}`,
    `From: small@sender.example\r\nTo: ${user}\r\nSubject: after the big one\r\nMessage-ID: <small-1@sender.example>\r\n\r\nhi\r\n`,
  ]);
  const s = await startServer({ env: mailboxEnv('HUGE', user) });
  try {
    const subjects = () => sql(s, 'SELECT subject FROM tickets ORDER BY id').map((r) => r[0]);
    await until(() => subjects().length === 2, 8000, 'the stub and the next message');
    assert.match(subjects()[0], /^Message too large \(2\d{7} bytes\)$/);
    assert.equal(subjects()[1], 'after the big one');
    const [[body]] = sql(s, 'SELECT body_text FROM messages ORDER BY id LIMIT 1');
    assert.match(body, /over the 25 MiB limit/);
    await until(() => /level=warn comp=imap event=oversize/.test(fs.readFileSync(s.logFile, 'utf8')), 3000, 'the warning in the log');
  } finally {
    await s.stop();
    dropDatabase(s);
    doveadm('expunge', '-u', user, 'mailbox', 'INBOX', 'all');
  }
});

test('1000 messages at once: batched into tickets exactly once across a kill -9 mid-way, all \\Seen, last_uid at the end', async () => {
  const user = 'bulk@example.com';
  const N = 1000;
  dropIntoMaildir(user, Array.from({ length: N }, (_, i) =>
    `From: c${i % 50}@bulk.example\r\nTo: ${user}\r\nSubject: order ${i}\r\nMessage-ID: <bulk-${i}@bulk.example>\r\n\r\nwhere is order ${i}?\r\n`));
  const env = mailboxEnv('BULK', user);
  const first = await startServer({ env });
  const count = (s) => Number(sql(s, "SELECT COUNT(*) FROM messages WHERE direction = 'in'")[0][0]);
  await until(() => count(first) >= 150, 10000, 'the first batches');
  await first.kill9();
  const stored = count(first);
  assert.ok(stored < N, `the kill came too late to test anything (${stored} stored)`);
  const second = await startServer({ env, dbName: first.dbName, migrate: false });
  try {
    await until(() => count(second) === N, 15000, `all ${N} messages (had ${stored} at the kill)`);
    await sleep(300);
    assert.equal(count(second), N, 'nothing stored twice');
    assert.equal(Number(sql(second, "SELECT COUNT(DISTINCT external_id) FROM messages WHERE direction = 'in'")[0][0]), N);
    assert.equal(Number(sql(second, "SELECT COUNT(*) FROM tickets")[0][0]), N, 'each new thread is a ticket');
    const [[lastUid]] = sql(second, "SELECT last_uid FROM mailboxes WHERE name = 'bulk'");
    const uids = doveadm('fetch', '-u', user, 'uid', 'mailbox', 'INBOX', 'all').match(/uid: \d+/g).map((x) => Number(x.slice(5)));
    assert.equal(Number(lastUid), Math.max(...uids));
    await until(() => (doveadm('fetch', '-u', user, 'flags', 'mailbox', 'INBOX', 'all').match(/\\Seen/g) || []).length === N, 3000, 'every message \\Seen');
  } finally {
    await second.stop();
    dropDatabase(second);
    doveadm('expunge', '-u', user, 'mailbox', 'INBOX', 'all');
  }
});
