'use strict';
// email_auth.test.js — SMTP AUTH: with [smtp] user/password the reply is delivered by a
// server that refuses unauthenticated mail, logged in as that user.
const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { SMTPServer } = require('smtp-server');
const { simpleParser } = require('mailparser');
const { startServer, bootstrapAdmin, api, sql, dropDatabase, freePort, sleep } = require('./harness');

let smtp, server, a;
const received = [];
const logins = [];

before(async () => {
  const port = await freePort();
  smtp = new SMTPServer({
    authOptional: false, allowInsecureAuth: true, disabledCommands: ['STARTTLS'], authMethods: ['PLAIN', 'LOGIN'],
    logger: false,
    onAuth(auth, session, cb) {
      logins.push(auth.username);
      if (auth.username === 'mailer' && auth.password === 'p@ss-密码') return cb(null, { user: auth.username });
      return cb(new Error('Invalid username or password'));
    },
    onData(stream, session, cb) {
      simpleParser(stream).then((m) => { received.push({ m, user: session.user }); cb(); }, cb);
    },
  });
  await new Promise((r) => smtp.listen(port, '127.0.0.1', r));
  server = await startServer({
    env: {
      SWITCHBOARD_SMTP_HOST: '127.0.0.1', SWITCHBOARD_SMTP_PORT: String(port), SWITCHBOARD_SMTP_FROM: 'support@example.com',
      SWITCHBOARD_SMTP_USER: 'mailer', SWITCHBOARD_SMTP_PASSWORD: 'p@ss-密码',
    },
  });
  a = api(server, (await bootstrapAdmin(server)).token);
});

after(async () => {
  if (server) { await server.stop(); dropDatabase(server); }
  if (smtp) await new Promise((r) => smtp.close(r));
});

test('a reply is delivered through a server that requires AUTH', async () => {
  const c = await a.post('/api/v1/customers', { name: 'Auth', email: 'auth@example.org' });
  const t = await a.post('/api/v1/tickets', { customer_id: c.json.id, channel: 'email', subject: 'auth please' });
  const r = await a.post(`/api/v1/tickets/${t.json.id}/messages`, { body_text: 'signed in' });
  assert.equal(r.status, 201, r.text);
  for (let i = 0; i < 100 && !received.length; i++) await sleep(50);
  assert.equal(received.length, 1, `not delivered; logins tried: ${JSON.stringify(logins)}`);
  assert.equal(received[0].user, 'mailer');
  assert.equal(received[0].m.text.trim(), 'signed in');
  for (let i = 0; i < 40 && sql(server, `SELECT state FROM outbox WHERE message_id = ${r.json.id}`)[0][0] !== 'sent'; i++) await sleep(50);
  assert.equal(sql(server, `SELECT state FROM outbox WHERE message_id = ${r.json.id}`)[0][0], 'sent');
});
