'use strict';
// crm_merge_email.test.js — merging customers against the real e-mail channel (private
// Dovecot, as in email_in.test.js): after customer A (old@…) is merged into B, a new mail
// from A's old address, a reply to A's old thread (In-Reply-To) and a "[#id]" reply all
// land on B — never on A, and no new customer appears. Issue "done when": "an inbound
// email to a merged customer's old address landing on the survivor".
const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const { execFileSync } = require('node:child_process');
const { startServer, bootstrapAdmin, api, sql, dropDatabase, readDevEnv, until } = require('./harness');

const USER = 'crm-merge@example.com';
const PASS = 'crm-merge-pass';
const V1 = '/api/v1';
let server; let a; let conf;

const doveadm = (...args) => execFileSync('doveadm', ['-c', conf, ...args], { encoding: 'utf8' });
const save = (text) => execFileSync('doveadm', ['-c', conf, 'save', '-u', USER], { input: text });
const b64 = (s) => Buffer.from(s, 'utf8').toString('base64');
const num = (q) => Number(sql(server, q)[0][0]);

before(async () => {
  const dev = readDevEnv();
  conf = dev.SWITCHBOARD_DEV_DOVECOT_CONF;
  assert.ok(conf, 'Dovecot is not running: scripts/dev-services start');
  // Our own Dovecot user, so this file never races email_in.test.js for a mailbox.
  const passwd = path.join(path.dirname(conf), 'passwd');
  if (!fs.readFileSync(passwd, 'utf8').split('\n').some((l) => l.startsWith(`${USER}:`))) {
    fs.appendFileSync(passwd, `${USER}:{PLAIN}${PASS}::::::\n`);
  }
  doveadm('expunge', '-u', USER, 'mailbox', 'INBOX', 'all');
  server = await startServer({
    env: {
      SWITCHBOARD_MAILBOX_CRMMERGE_HOST: '127.0.0.1', SWITCHBOARD_MAILBOX_CRMMERGE_PORT: dev.SWITCHBOARD_DEV_IMAP_PORT,
      SWITCHBOARD_MAILBOX_CRMMERGE_TLS: 'none', SWITCHBOARD_MAILBOX_CRMMERGE_USER: USER,
      SWITCHBOARD_MAILBOX_CRMMERGE_PASSWORD: PASS,
    },
  });
  a = api(server, (await bootstrapAdmin(server)).token);
});

after(async () => {
  if (server) { await server.stop(); dropDatabase(server); }
  if (conf) doveadm('expunge', '-u', USER, 'mailbox', 'INBOX', 'all');
});

const ticketsOf = async (customerId) => (await a.get(`${V1}/tickets?channel=email&customer_id=${customerId}&per_page=200`)).json.items;
const inbound = async (ticketId) => (await a.get(`${V1}/tickets/${ticketId}/messages`)).json.items.filter((m) => m.direction === 'in');

test('after A is merged into B, mail from A\'s old address, replies to A\'s old thread and [#id] replies all land on B', async () => {
  let r = await a.post(`${V1}/customers`, { name: '旧客户 A', email: 'old@merge-mail.example' });
  assert.equal(r.status, 201, r.text);
  const A = r.json;
  r = await a.post(`${V1}/customers`, { name: '新客户 B', email: 'new@merge-mail.example', phone: '13600009999' });
  assert.equal(r.status, 201, r.text);
  const B = r.json;

  // Before the merge: A's mail is A's ticket.
  save(`From: =?UTF-8?B?${b64('旧客户')}?= <old@merge-mail.example>\r\nTo: ${USER}\r\nSubject: =?UTF-8?B?${b64('合并前的邮件')}?=\r\n` +
    'Message-ID: <m1@merge-mail.example>\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n合并前：请报价。\r\n');
  const [t1] = await until(async () => { const l = await ticketsOf(A.id); return l.length && l; }, 8000, 'A\'s first ticket');
  assert.equal(t1.subject, '合并前的邮件');
  assert.equal(num(`SELECT COUNT(*) FROM messages WHERE ticket_id = ${t1.id} AND customer_id = ${A.id} AND direction = 'in'`), 1);
  save(`From: new@merge-mail.example\r\nTo: ${USER}\r\nSubject: B's own thread\r\nMessage-ID: <n1@merge-mail.example>\r\n\r\nhello from B\r\n`);
  const [t0] = await until(async () => { const l = await ticketsOf(B.id); return l.length && l; }, 8000, 'B\'s own ticket');

  r = await a.post(`${V1}/customers/${B.id}/merge`, { from_id: A.id });
  assert.equal(r.status, 200, r.text);
  assert.equal(r.json.moved.tickets, 1);
  assert.equal(r.json.moved.messages, 1);
  const customersAfterMerge = num('SELECT COUNT(*) FROM customers');

  // A new mail from the old address (any case): a new ticket of B.
  save(`From: "Old Name" <Old@Merge-Mail.example>\r\nTo: ${USER}\r\nSubject: =?UTF-8?B?${b64('合并后的新邮件')}?=\r\n` +
    'Message-ID: <m2@merge-mail.example>\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n合并后：新问题。\r\n');
  const t2 = await until(async () => (await ticketsOf(B.id)).find((t) => t.subject === '合并后的新邮件'), 8000, 'the new mail on B');
  assert.equal(t2.customer_id, B.id);
  assert.equal(num(`SELECT customer_id FROM messages WHERE ticket_id = ${t2.id}`), B.id);

  // A reply to A's old thread: threads into the old ticket, which is now B's.
  save(`From: old@merge-mail.example\r\nTo: ${USER}\r\nSubject: Re: =?UTF-8?B?${b64('合并前的邮件')}?=\r\n` +
    'Message-ID: <m3@merge-mail.example>\r\nIn-Reply-To: <m1@merge-mail.example>\r\nReferences: <m1@merge-mail.example>\r\n' +
    'Content-Type: text/plain; charset=utf-8\r\n\r\n回复旧线程。\r\n');
  await until(async () => (await inbound(t1.id)).length === 2, 8000, 'the reply in the old thread');
  // A "[#id]" reply without headers, from the old address: a participant of that ticket.
  save(`From: old@merge-mail.example\r\nTo: ${USER}\r\nSubject: Re: [#${t1.id}] follow-up\r\nMessage-ID: <m4@merge-mail.example>\r\n\r\n按编号回复。\r\n`);
  await until(async () => (await inbound(t1.id)).length === 3, 8000, 'the [#id] reply in the old thread');

  const ticket = (await a.get(`${V1}/tickets/${t1.id}`)).json;
  assert.equal(ticket.customer_id, B.id);
  const msgs = sql(server, `SELECT external_id, customer_id FROM messages WHERE channel = 'email' AND direction = 'in' ORDER BY id`);
  assert.deepEqual(msgs.map(([, c]) => Number(c)), [B.id, B.id, B.id, B.id, B.id], JSON.stringify(msgs));
  // Nothing ever landed on A, and nobody new was created for the old address.
  assert.equal(num(`SELECT COUNT(*) FROM messages WHERE customer_id = ${A.id}`), 0);
  assert.equal(num(`SELECT COUNT(*) FROM tickets WHERE customer_id = ${A.id}`), 0);
  assert.equal(num('SELECT COUNT(*) FROM customers'), customersAfterMerge);
  assert.equal(num("SELECT COUNT(*) FROM customer_identities WHERE value = 'old@merge-mail.example'"), 1);
  assert.equal(num("SELECT customer_id FROM customer_identities WHERE value = 'old@merge-mail.example'"), B.id);
  assert.equal(num(`SELECT COUNT(*) FROM tickets WHERE channel = 'email'`), 3, 'B\'s thread, A\'s old thread, the new mail');
  // The survivor's 360 shows all of it; A's id resolves to B.
  const view = (await a.get(`${V1}/customers/${A.id}`)).json;
  assert.equal(view.id, B.id);
  assert.equal(view.resolved_from, A.id);
  assert.deepEqual(view.tickets.map((t) => t.id).sort((x, y) => x - y), [t0.id, t1.id, t2.id].sort((x, y) => x - y));
  const texts = view.timeline.filter((x) => x.kind === 'message').map((x) => x.text.trim());
  for (const want of ['合并前：请报价。', '合并后：新问题。', '回复旧线程。', '按编号回复。', 'hello from B']) {
    assert.ok(texts.includes(want), `${want} missing from the survivor's timeline: ${JSON.stringify(texts)}`);
  }
  assert.ok(view.timeline.some((x) => x.kind === 'merge' && String(x.from_value) === String(A.id)), 'the merge on the timeline');
});
