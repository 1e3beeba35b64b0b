'use strict';
// email_out.test.js — agents' e-mail replies through the outbox and libesmtp into a real
// SMTP server (npm smtp-server, in this process): threading headers, decoded UTF-8
// subject with the ticket token, text and HTML parts; 451 then 250 delivers exactly once;
// 550 marks the message failed and tells the agent.
const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { SMTPServer } = require('smtp-server');
const { simpleParser } = require('mailparser');
const { startServer, bootstrapAdmin, api, sql, dropDatabase, freePort, sleep, until } = require('./harness');
const { wsOpen } = require('./clients');

let smtp, smtpPort, server, admin, a;
const received = [];              // parsed messages
const plan = new Map();           // rcpt ⇒ [codes…] answered at RCPT TO, in order
const envelopes = [];             // RCPT TO addresses of each accepted message

before(async () => {
  smtpPort = await freePort();
  smtp = new SMTPServer({
    authOptional: true, disabledCommands: ['STARTTLS'], logger: false,
    onRcptTo(address, session, cb) {
      const codes = plan.get(address.address) || [];
      const code = codes.length ? codes.shift() : 250;
      if (code >= 400) {
        const err = new Error(code >= 500 ? 'No such user here' : 'Try again later');
        err.responseCode = code;
        return cb(err);
      }
      cb();
    },
    onData(stream, session, cb) {
      envelopes.push(session.envelope.rcptTo.map((x) => x.address));
      simpleParser(stream).then((m) => { received.push(m); cb(); }, cb);
    },
  });
  await new Promise((r) => smtp.listen(smtpPort, '127.0.0.1', r));
  server = await startServer({
    env: {
      SWITCHBOARD_SMTP_HOST: '127.0.0.1', SWITCHBOARD_SMTP_PORT: String(smtpPort),
      SWITCHBOARD_SMTP_FROM: 'support@example.com', SWITCHBOARD_OUTBOX_RETRY_SECS: '1',
    },
  });
  admin = await bootstrapAdmin(server);
  a = api(server, admin.token);
});

after(async () => {
  if (server) { await server.stop(); dropDatabase(server); }
  if (smtp) await new Promise((r) => smtp.close(r));
});

async function emailTicket(name, email, subject) {
  const c = await a.post('/api/v1/customers', { name, email });
  assert.equal(c.status, 201, c.text);
  const t = await a.post('/api/v1/tickets', { customer_id: c.json.id, channel: 'email', subject });
  assert.equal(t.status, 201, t.text);
  return t.json;
}


const outbox = (mid) => sql(server, `SELECT state, attempts, COALESCE(provider_id,''), COALESCE(error,'') FROM outbox WHERE message_id = ${mid}`)[0];

test('a reply goes out with threading headers, decoded subject, text and HTML', async () => {
  const t = await emailTicket('王小明', 'xiaoming@example.cn', '退款 refund');
  sql(server, `INSERT INTO email_threads (message_id, ticket_id) VALUES ('<orig-1@customer.example>', ${t.id})`);
  const r = await a.post(`/api/v1/tickets/${t.id}/messages`, { body_text: '您好，已退款 <b>¥128</b>\nThanks 😊' });
  assert.equal(r.status, 201, r.text);
  const m = await until(() => received.find((x) => x.to && x.to.text.includes('xiaoming@example.cn')), 8000, 'the reply');
  assert.equal(m.subject, `Re: 退款 refund [#${t.id}]`);
  assert.equal(m.from.value[0].address, 'support@example.com');
  assert.equal(m.to.value[0].name, '王小明');
  assert.equal(m.inReplyTo, '<orig-1@customer.example>');
  assert.ok([].concat(m.references).includes('<orig-1@customer.example>'));
  assert.equal(m.text.trim(), '您好，已退款 <b>¥128</b>\nThanks 😊');
  assert.match(m.html, /&lt;b&gt;¥128&lt;\/b&gt;/);
  assert.ok(m.messageId);
  const [state, attempts, provider] = await until(() => { const o = outbox(r.json.id); return o && o[0] === 'sent' && o; }, 5000, 'outbox sent');
  assert.equal(state, 'sent');
  assert.equal(Number(attempts), 1);
  assert.equal(provider, m.messageId);
  assert.equal(sql(server, `SELECT status FROM messages WHERE id = ${r.json.id}`)[0][0], 'sent');
  assert.equal(sql(server, `SELECT ticket_id FROM email_threads WHERE message_id = '${m.messageId}'`)[0][0], String(t.id));
});

test('451 then 250: delivered exactly once on the retry', async () => {
  plan.set('busy@example.com', [451]);
  const t = await emailTicket('Busy', 'busy@example.com', 'Please retry');
  const r = await a.post(`/api/v1/tickets/${t.id}/messages`, { body_text: 'second time lucky' });
  assert.equal(r.status, 201, r.text);
  await until(() => { const o = outbox(r.json.id); return o && o[0] === 'sent'; }, 10000, 'the retry to be sent');
  const o = outbox(r.json.id);
  assert.equal(Number(o[1]), 2, 'two attempts');
  await sleep(1500); // no further attempt may follow
  assert.equal(received.filter((x) => x.to.text.includes('busy@example.com')).length, 1);
});

test('550 marks the message failed and tells the agent', async () => {
  plan.set('nobody@example.com', [550]);
  const t = await emailTicket('Nobody', 'nobody@example.com', 'Bounce');
  const sock = await wsOpen(server, '/ws/agent');
  sock.send({ type: 'auth', token: admin.token });
  await sock.waitFor((f) => f.type === 'auth_ok');
  const r = await a.post(`/api/v1/tickets/${t.id}/messages`, { body_text: 'will bounce' });
  assert.equal(r.status, 201, r.text);
  const ev = await sock.waitFor((f) => f.type === 'message.updated' && f.message && f.message.id === r.json.id, 8000, 'message.updated');
  assert.equal(ev.message.status, 'failed');
  assert.match(ev.message.error, /550/);
  const o = outbox(r.json.id);
  assert.equal(o[0], 'failed');
  assert.match(o[3], /550 .*No such user/);
  const msgs = await a.get(`/api/v1/tickets/${t.id}/messages`);
  assert.equal(msgs.json.items.find((x) => x.id === r.json.id).status, 'failed');
  assert.equal(received.filter((x) => x.to.text.includes('nobody@example.com')).length, 0);
  sock.ws.close();
});

test('a reply goes to everyone the customer copied (To/Cc participants), but not to us, and a refused Cc does not fail it', async () => {
  plan.set('gone@client.example', [550]);
  const t = await emailTicket('Boss', 'boss@client.example', 'Outage');
  sql(server, `INSERT INTO ticket_participants (ticket_id, address, role) VALUES (${t.id}, 'boss@client.example', 'from'), ` +
    `(${t.id}, 'jane@client.example', 'to'), (${t.id}, 'lilei@client.example', 'cc'), (${t.id}, 'gone@client.example', 'cc')`);
  const r = await a.post(`/api/v1/tickets/${t.id}/messages`, { body_text: 'We are on it.' });
  assert.equal(r.status, 201, r.text);
  const m = await until(() => received.find((x) => x.to && x.to.text.includes('boss@client.example')), 8000, 'the reply');
  assert.deepEqual(m.cc.value.map((v) => v.address).sort(), ['gone@client.example', 'jane@client.example', 'lilei@client.example']);
  const env = envelopes[received.indexOf(m)];
  assert.deepEqual(env.sort(), ['boss@client.example', 'jane@client.example', 'lilei@client.example']);
  await until(() => { const o = outbox(r.json.id); return o && o[0] === 'sent'; }, 5000, 'outbox sent');
});
