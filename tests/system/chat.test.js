'use strict';
// chat.test.js — the customer websocket /ws/chat (docs/api.md "Websocket /ws/chat",
// "Limits"; DESIGN.md sections 9 and 11): hello/welcome and the hashed visitor token,
// ack only after COMMIT, exactly-once storage by client_id, resume after a dropped
// connection with nothing lost or duplicated, live agent replies (never internal notes),
// typing both ways, identify (never joining someone else's history), bad input answered
// with error frames on a socket that stays usable, the frame size limit, the rate limit,
// UTF-8 and HTML kept verbatim, many concurrent visitors, misbehaving sockets; a second
// server (ws_idle_secs = 5) for the idle timeout and kill -9 with nothing acknowledged lost.
const test = require('node:test');
const assert = require('node:assert/strict');
const crypto = require('node:crypto');
const WebSocket = require('ws');
const {
  startServer, bootstrapAdmin, api, sql, dropDatabase, sleep,
} = require('./harness');
const { wsOpen } = require('./clients');


function withTimeout(p, ms, what) {
  let timer;
  return Promise.race([p, new Promise((_, reject) => { timer = setTimeout(() => reject(new Error(`${what}: nothing within ${ms} ms`)), ms); })])
    .finally(() => clearTimeout(timer));
}

let cidSeq = 0;
const newCid = (p = 'c') => `${p}-${++cidSeq}-${crypto.randomBytes(3).toString('hex')}`;

test.describe('/ws/chat', () => {
  let server;
  let admin;
  let a;
  const sockets = [];
  const track = (s) => { sockets.push(s); return s; };

  /** A visitor socket after hello → welcome (welcome in s.welcome). */
  const visitor = async (hello = {}) => {
    const s = track(await wsOpen(server, '/ws/chat'));
    s.send({ type: 'hello', ...hello });
    s.welcome = await s.waitFor((f) => f.type === 'welcome' || f.type === 'error', 3000, 'welcome');
    assert.equal(s.welcome.type, 'welcome', `hello ${JSON.stringify(hello)} answered ${JSON.stringify(s.welcome)}`);
    return s;
  };
  /** Sends a message frame; resolves the ack or error that carries its client_id. */
  const say = async (s, body, clientId = newCid(), ms = 5000) => {
    const from = s.frames.length;
    s.send({ type: 'message', client_id: clientId, body });
    return s.waitFor((f) => (f.type === 'ack' || f.type === 'error') && f.client_id === clientId, ms, `ack of ${clientId}`, from);
  };
  const sayOk = async (s, body, clientId) => {
    const r = await say(s, body, clientId);
    assert.equal(r.type, 'ack', `message ${JSON.stringify(body).slice(0, 80)} answered ${JSON.stringify(r)}`);
    assert.equal(typeof r.message_id, 'number', JSON.stringify(r));
    return r;
  };
  /** An /ws/agent socket after auth_ok. */
  const agentSocket = async (token) => {
    const s = track(await wsOpen(server, '/ws/agent'));
    s.send({ type: 'auth', token });
    const ok = await s.waitFor((f) => f.type === 'auth_ok' || f.type === 'error', 3000, 'auth_ok');
    assert.equal(ok.type, 'auth_ok', JSON.stringify(ok));
    return s;
  };
  const reply = async (ticketId, body, internal = false) => {
    const r = await a.post(`/api/v1/tickets/${ticketId}/messages`, { body_text: body, internal });
    assert.equal(r.status, 201, r.text);
    return r.json;
  };

  test.before(async () => {
    server = await startServer();
    admin = await bootstrapAdmin(server);
    a = api(server, admin.token);
  });
  test.after(async () => {
    for (const s of sockets) s.ws.terminate();
    if (server) {
      await server.stop();
      dropDatabase(server);
    }
  });

  test('hello ⇒ welcome with a new visitor_token and conversation_id null', async () => {
    const s = await visitor();
    const w = s.welcome;
    assert.equal(typeof w.visitor_token, 'string', JSON.stringify(w));
    assert.ok(w.visitor_token.length >= 40, `token too short: ${w.visitor_token}`);
    assert.match(w.visitor_token, /^[A-Za-z0-9_-]+$/, 'token is base64url');
    assert.equal(w.conversation_id, null, JSON.stringify(w));
    assert.equal(typeof w.visitor, 'object', `welcome without visitor: ${JSON.stringify(w)}`);
    // Two visitors never share a token.
    const s2 = await visitor();
    assert.notEqual(s2.welcome.visitor_token, w.visitor_token);
    // No conversation yet ⇒ no history and no synced frame.
    await sleep(200);
    assert.ok(!s.frames.some((f) => f.type === 'message' || f.type === 'synced'), JSON.stringify(s.frames));
  });

  test('the visitor token is stored only hashed: no column anywhere holds it', async () => {
    const s = await visitor({ name: 'Hash Check', email: 'hash-check@example.com' });
    const token = s.welcome.visitor_token;
    const ack = await sayOk(s, `my token must stay secret ${crypto.randomBytes(2).toString('hex')}`);
    const from = s.frames.length;
    s.send({ type: 'identify', name: 'Hash Check', email: 'hash-check@example.com' });
    await s.waitFor((f) => f.type === 'identified' || f.type === 'error', 3000, 'identified', from);
    assert.ok(Number(sql(server, 'SELECT COUNT(*) FROM chat_visitors')[0][0]) >= 1, 'no chat_visitors rows');
    assert.ok(ack.conversation_id > 0);

    const raw = Buffer.from(token.replace(/-/g, '+').replace(/_/g, '/'), 'base64');
    const needles = [Buffer.from(token, 'utf8'), raw, Buffer.from(raw.toString('hex')), Buffer.from(raw.toString('hex').toUpperCase()),
      Buffer.from(raw.toString('base64'))].map((b) => b.toString('hex'));
    const cols = sql(server, `SELECT table_name, column_name FROM information_schema.columns
      WHERE table_schema = DATABASE() AND data_type IN ('char','varchar','tinytext','text','mediumtext','longtext',
      'binary','varbinary','tinyblob','blob','mediumblob','longblob')`);
    assert.ok(cols.some(([t]) => t === 'chat_visitors'), 'chat_visitors has no text column?');
    const q = cols.map(([t, c]) => `SELECT '${t}.${c}', COUNT(*) FROM \`${t}\` WHERE ${needles
      .map((n) => `LOCATE(X'${n}', CAST(\`${c}\` AS BINARY)) > 0`).join(' OR ')};`).join('\n');
    const hits = sql(server, q).filter(([, n]) => Number(n) > 0);
    assert.deepEqual(hits, [], `the visitor token (or its raw bytes) is stored in: ${JSON.stringify(hits)}`);
    // The token still works (it is the hash that is stored, not something else).
    const back = await visitor({ visitor_token: token });
    assert.equal(back.welcome.conversation_id, ack.conversation_id);
  });

  test('frames before hello ⇒ error hello_first; the socket stays open and hello then works', async () => {
    const s = track(await wsOpen(server, '/ws/chat'));
    const cid = newCid();
    s.send({ type: 'message', client_id: cid, body: 'too early' });
    const e = await s.waitFor((f) => f.type === 'error', 3000, 'hello_first');
    assert.equal(e.code, 'hello_first', JSON.stringify(e));
    assert.equal(typeof e.message, 'string');
    for (const frame of [{ type: 'typing', typing: true }, { type: 'identify', name: 'Early' }]) {
      const from = s.frames.length;
      s.send(frame);
      const e2 = await s.waitFor((f) => f.type === 'error', 3000, `error for ${frame.type} before hello`, from);
      assert.equal(e2.code, 'hello_first', JSON.stringify(e2));
    }
    assert.equal(s.ws.readyState, WebSocket.OPEN);
    s.send({ type: 'hello' });
    const w = await s.waitFor((f) => f.type === 'welcome', 3000, 'welcome after hello_first');
    assert.equal(w.conversation_id, null);
    // Nothing was stored by the early message.
    assert.equal(sql(server, `SELECT COUNT(*) FROM messages WHERE body_text = 'too early'`)[0][0], '0');
    await sayOk(s, 'now in order');
  });

  test('message ⇒ ack after COMMIT with message_id and conversation_id; a chat ticket and a customer appear', async () => {
    const s = await visitor();
    const before = Number(sql(server, 'SELECT COUNT(*) FROM customers')[0][0]);
    const body = `first message ${crypto.randomBytes(3).toString('hex')}`;
    const cid = newCid();
    const ack = await sayOk(s, body, cid);
    // Synchronously, right after the ack: the row is committed and visible to another session.
    const rows = sql(server, `SELECT ticket_id, customer_id, direction, channel, author_type, body_text, internal
      FROM messages WHERE id = ${ack.message_id}`);
    assert.equal(rows.length, 1, `message ${ack.message_id} not committed when acked`);
    const [ticketId, customerId, direction, channel, authorType, bodyText, internal] = rows[0];
    assert.equal(ack.client_id, cid);
    assert.equal(typeof ack.conversation_id, 'number', JSON.stringify(ack));
    assert.equal(Number(ticketId), ack.conversation_id);
    assert.deepEqual([direction, channel, authorType, bodyText, internal], ['in', 'chat', 'customer', body, '0']);
    const [tCustomer, tChannel, tStatus] = sql(server, `SELECT customer_id, channel, status FROM tickets WHERE id = ${ack.conversation_id}`)[0];
    assert.equal(tChannel, 'chat');
    assert.equal(tCustomer, customerId);
    assert.ok(['new', 'open'].includes(tStatus), tStatus);
    assert.equal(Number(sql(server, 'SELECT COUNT(*) FROM customers')[0][0]), before + 1, 'one new customer');
    // Agents see it through REST.
    const t = await a.get(`/api/v1/tickets/${ack.conversation_id}`);
    assert.equal(t.status, 200, t.text);
    assert.equal(t.json.channel, 'chat');
    assert.ok(t.json.messages.some((m) => m.id === ack.message_id && m.body_text === body), JSON.stringify(t.json.messages));
    const c = await a.get(`/api/v1/customers/${customerId}`);
    assert.equal(c.status, 200, c.text);
    // A second message joins the same conversation.
    const ack2 = await sayOk(s, 'second');
    assert.equal(ack2.conversation_id, ack.conversation_id);
    assert.ok(ack2.message_id > ack.message_id);
  });

  test('a returning visitor (new socket, hello with its token) resumes the same conversation', async () => {
    const s = await visitor();
    const token = s.welcome.visitor_token;
    const ack = await sayOk(s, 'remember me');
    s.ws.close();
    await s.closed;
    const back = await visitor({ visitor_token: token });
    assert.equal(back.welcome.visitor_token, token);
    assert.equal(back.welcome.conversation_id, ack.conversation_id);
    // Without last_message_id the whole history comes, then synced.
    const synced = await back.waitFor((f) => f.type === 'synced', 3000, 'synced');
    assert.equal(synced.last_message_id, ack.message_id);
    const msgs = back.frames.filter((f) => f.type === 'message');
    assert.deepEqual(msgs.map((m) => [m.message_id, m.from, m.body]), [[ack.message_id, 'customer', 'remember me']]);
    const ack2 = await sayOk(back, 'still me');
    assert.equal(ack2.conversation_id, ack.conversation_id);
    assert.equal(sql(server, `SELECT COUNT(DISTINCT customer_id) FROM tickets WHERE id = ${ack.conversation_id}`)[0][0], '1');
  });

  test('a repeated client_id is acknowledged with the same message_id and stored once', async () => {
    const s = await visitor();
    const cid = newCid('dup');
    const first = await sayOk(s, 'only once', cid);
    const second = await sayOk(s, 'only once', cid);
    assert.equal(second.message_id, first.message_id);
    // Back to back (the second arrives before the first is committed).
    const cid2 = newCid('dup2');
    const from = s.frames.length;
    s.send({ type: 'message', client_id: cid2, body: 'burst once' });
    s.send({ type: 'message', client_id: cid2, body: 'burst once' });
    await s.waitFor(() => s.frames.slice(from).filter((f) => f.client_id === cid2).length >= 2, 5000, 'two answers');
    await sleep(50);
    const answers = s.frames.slice(from).filter((f) => f.client_id === cid2);
    assert.deepEqual(answers.map((f) => f.type), ['ack', 'ack'], JSON.stringify(answers));
    assert.equal(answers[0].message_id, answers[1].message_id);
    // And after a reconnect (the widget re-sends unacknowledged messages).
    s.ws.terminate();
    const back = await visitor({ visitor_token: s.welcome.visitor_token, last_message_id: answers[0].message_id });
    const third = await sayOk(back, 'only once', cid);
    assert.equal(third.message_id, first.message_id);
    const n = sql(server, `SELECT
      (SELECT COUNT(*) FROM messages WHERE ticket_id = ${first.conversation_id} AND body_text = 'only once'),
      (SELECT COUNT(*) FROM messages WHERE ticket_id = ${first.conversation_id} AND body_text = 'burst once'),
      (SELECT COUNT(*) FROM messages WHERE ticket_id = ${first.conversation_id})`)[0];
    assert.deepEqual(n, ['1', '1', '2']);
  });

  test('resume: after a dropped connection, hello with last_message_id ⇒ exactly the later messages in id order, then synced', async () => {
    const s = await visitor();
    const token = s.welcome.visitor_token;
    const m1 = await sayOk(s, '第一条 one');
    const m2 = await sayOk(s, 'two 😊');
    const m3 = await sayOk(s, 'three');
    const conv = m1.conversation_id;
    const r1 = await reply(conv, '客服回复 one');
    const r2 = await reply(conv, 'agent two');
    const note = await reply(conv, 'INTERNAL NOTE resume', true);
    await s.waitFor((f) => f.type === 'message' && f.message_id === r2.id, 3000, 'second agent reply live');
    s.ws.terminate();
    await s.closed;
    // One more reply while the visitor is away.
    const r3 = await reply(conv, 'while you were away');

    const back = await visitor({ visitor_token: token, last_message_id: m1.message_id });
    assert.equal(back.welcome.conversation_id, conv);
    const synced = await back.waitFor((f) => f.type === 'synced', 3000, 'synced');
    const idx = back.frames.indexOf(synced);
    const msgs = back.frames.slice(0, idx).filter((f) => f.type === 'message');
    assert.deepEqual(msgs.map((m) => m.message_id), [m2.message_id, m3.message_id, r1.id, r2.id, r3.id],
      `resumed messages: ${JSON.stringify(msgs)}`);
    assert.deepEqual(msgs.map((m) => m.from), ['customer', 'customer', 'agent', 'agent', 'agent']);
    assert.deepEqual(msgs.map((m) => m.body), ['two 😊', 'three', '客服回复 one', 'agent two', 'while you were away']);
    assert.ok(!msgs.some((m) => m.message_id === note.id || m.body === 'INTERNAL NOTE resume'), 'an internal note reached the customer');
    assert.equal(synced.last_message_id, r3.id);
    // The welcome came first, nothing after synced is a history message.
    assert.equal(back.frames[0].type, 'welcome');
    await sleep(200);
    assert.ok(!back.frames.slice(idx + 1).some((f) => f.type === 'message'), JSON.stringify(back.frames.slice(idx + 1)));
    // Customer messages carry their client_id when they come back.
    for (const m of msgs.slice(0, 2)) if (m.client_id !== undefined) assert.equal(typeof m.client_id, 'string');

    // Resuming from the newest id gives nothing but synced.
    back.ws.terminate();
    const again = await visitor({ visitor_token: token, last_message_id: r3.id });
    const synced2 = await again.waitFor((f) => f.type === 'synced', 3000, 'synced');
    assert.equal(synced2.last_message_id, r3.id);
    assert.ok(!again.frames.some((f) => f.type === 'message'), JSON.stringify(again.frames));
  });

  test('an agent reply arrives live as {type:"message", from:"agent"}; internal notes never do', async () => {
    const s = await visitor();
    const m = await sayOk(s, 'anyone there?');
    const note = await reply(m.conversation_id, 'SECRET internal note: VIP, be nice', true);
    const r = await reply(m.conversation_id, '您好！How can I help? 😊');
    const live = await s.waitFor((f) => f.type === 'message' && f.from === 'agent', 3000, 'live agent reply');
    assert.equal(live.message_id, r.id);
    assert.equal(live.body, '您好！How can I help? 😊');
    assert.ok(typeof live.at === 'string' && live.at.length > 0, JSON.stringify(live));
    await sleep(300);
    const leaked = s.frames.filter((f) => f.message_id === note.id || JSON.stringify(f).includes('SECRET'));
    assert.deepEqual(leaked, [], 'internal note reached the customer');
    assert.equal(s.frames.filter((f) => f.type === 'message' && f.message_id === r.id).length, 1, 'reply delivered once');
  });

  test('typing both ways: customer ⇒ agent socket {typing, ticket_id, from:"customer"}; agent ⇒ customer {typing, from:"agent"}', async () => {
    const s = await visitor();
    const m = await sayOk(s, 'typing test');
    const ag = await agentSocket(admin.token);
    s.send({ type: 'typing', typing: true });
    const t1 = await ag.waitFor((f) => f.type === 'typing' && f.ticket_id === m.conversation_id, 3000, 'customer typing on the agent socket');
    assert.equal(t1.from, 'customer');
    assert.equal(t1.typing, true);
    let from = ag.frames.length;
    s.send({ type: 'typing', typing: false });
    const t2 = await ag.waitFor((f) => f.type === 'typing' && f.ticket_id === m.conversation_id, 3000, 'typing false', from);
    assert.equal(t2.typing, false);

    from = s.frames.length;
    ag.send({ type: 'typing', ticket_id: m.conversation_id, typing: true });
    const t3 = await s.waitFor((f) => f.type === 'typing', 3000, 'agent typing on the customer socket', from);
    assert.equal(t3.from, 'agent');
    assert.equal(t3.typing, true);
    from = s.frames.length;
    ag.send({ type: 'typing', ticket_id: m.conversation_id, typing: false });
    const t4 = await s.waitFor((f) => f.type === 'typing', 3000, 'agent typing false', from);
    assert.equal(t4.typing, false);
    // Typing stores nothing.
    assert.equal(sql(server, `SELECT COUNT(*) FROM messages WHERE ticket_id = ${m.conversation_id}`)[0][0], '1');
  });

  test('identify {name,email} ⇒ identified, and the customer gets the e-mail identity', async () => {
    const s = await visitor();
    const m = await sayOk(s, 'I want to leave my details');
    const customerId = Number(sql(server, `SELECT customer_id FROM tickets WHERE id = ${m.conversation_id}`)[0][0]);
    const email = `visitor-${crypto.randomBytes(3).toString('hex')}@example.com`;
    s.send({ type: 'identify', name: '王小明', email });
    const idf = await s.waitFor((f) => f.type === 'identified' || f.type === 'error', 3000, 'identified');
    assert.equal(idf.type, 'identified', JSON.stringify(idf));
    assert.equal(idf.name, '王小明');
    assert.equal(idf.email, email);
    const c = await a.get(`/api/v1/customers/${customerId}`);
    assert.equal(c.status, 200, c.text);
    assert.equal(c.json.email, email, JSON.stringify(c.json));
    if (c.json.identities) {
      assert.ok(c.json.identities.some((i) => i.kind === 'email' && i.value === email), JSON.stringify(c.json.identities));
    }
    // A returning visitor's welcome remembers the details.
    s.ws.terminate();
    const back = await visitor({ visitor_token: s.welcome.visitor_token });
    assert.deepEqual(back.welcome.visitor, { name: '王小明', email }, JSON.stringify(back.welcome));
    // A bad e-mail is refused with invalid and the socket carries on.
    back.send({ type: 'identify', email: 'not an email' });
    const bad = await back.waitFor((f) => f.type === 'error', 3000, 'invalid e-mail error');
    assert.equal(bad.code, 'invalid', JSON.stringify(bad));
    await sayOk(back, 'still here');
  });

  test('details given in hello before the first message attach to the customer created by it', async () => {
    const email = `early-${crypto.randomBytes(3).toString('hex')}@example.com`;
    const s = await visitor({ name: 'Early Bird', email });
    assert.equal(s.welcome.conversation_id, null);
    const m = await sayOk(s, 'hello, I gave my e-mail first');
    const customerId = sql(server, `SELECT customer_id FROM tickets WHERE id = ${m.conversation_id}`)[0][0];
    const deadline = Date.now() + 3000;
    let c;
    for (;;) {
      c = await a.get(`/api/v1/customers/${customerId}`);
      if (c.json && c.json.email === email) break;
      if (Date.now() > deadline) assert.fail(`customer never got ${email}: ${c.text}`);
      await sleep(100);
    }
  });

  test('an e-mail that belongs to another customer never joins that customer\'s history', async () => {
    const email = `owner-${crypto.randomBytes(3).toString('hex')}@example.com`;
    const other = await a.post('/api/v1/customers', { name: 'Existing Owner', email });
    assert.equal(other.status, 201, other.text);
    const ot = await a.post('/api/v1/tickets', { customer_id: other.json.id, channel: 'chat', subject: 'owner private' });
    assert.equal(ot.status, 201, ot.text);
    const secret = await reply(ot.json.id, 'OWNER SECRET: your order #991 ships to 1 Private Road');

    // A visitor with a conversation identifies with that e-mail.
    const s = await visitor();
    const m = await sayOk(s, 'I am totally the owner');
    const visitorCustomer = sql(server, `SELECT customer_id FROM tickets WHERE id = ${m.conversation_id}`)[0][0];
    s.send({ type: 'identify', email });
    const idf = await s.waitFor((f) => f.type === 'identified' || f.type === 'error', 3000, 'identified');
    assert.equal(idf.type, 'identified', JSON.stringify(idf));
    await sleep(200);
    assert.equal(sql(server, `SELECT customer_id FROM tickets WHERE id = ${m.conversation_id}`)[0][0], visitorCustomer,
      'the conversation moved to another customer');
    assert.notEqual(Number(visitorCustomer), other.json.id);
    assert.deepEqual(sql(server, `SELECT customer_id FROM customer_identities WHERE kind = 'email' AND value = '${email}' AND is_primary = 1`),
      [[String(other.json.id)]], 'the owner lost its verified e-mail');
    const ownerTicket = sql(server, `SELECT customer_id FROM tickets WHERE id = ${ot.json.id}`)[0][0];
    assert.equal(Number(ownerTicket), other.json.id);
    // Kept as an unverified contact on the visitor's customer (for agents to merge).
    const vc = await a.get(`/api/v1/customers/${visitorCustomer}/identities`);
    assert.equal(vc.status, 200, vc.text);
    const items = Array.isArray(vc.json) ? vc.json : vc.json.items;
    const kept = items.find((i) => i.kind === 'email' && i.value === email);
    assert.ok(kept, `e-mail not kept as a contact: ${vc.text}`);
    assert.equal(kept.verified, false, `the visitor's copy must be unverified: ${vc.text}`);
    // Nothing of the owner's history reaches this visitor, now or after a reconnect.
    s.ws.terminate();
    const back = await visitor({ visitor_token: s.welcome.visitor_token });
    assert.equal(back.welcome.conversation_id, m.conversation_id);
    await back.waitFor((f) => f.type === 'synced', 3000, 'synced');
    const reply2 = await reply(ot.json.id, 'OWNER SECRET 2');
    await sleep(300);
    for (const sock of [s, back]) {
      const leaks = sock.frames.filter((f) => f.message_id === secret.id || f.message_id === reply2.id
        || JSON.stringify(f).includes('OWNER SECRET') || f.conversation_id === ot.json.id);
      assert.deepEqual(leaks, [], 'the owner\'s history reached the visitor');
    }

    // A brand-new visitor giving that e-mail in hello does not get the owner's open chat.
    const w = await visitor({ email });
    assert.equal(w.welcome.conversation_id, null, JSON.stringify(w.welcome));
    const wm = await sayOk(w, 'new visitor with a taken e-mail');
    assert.notEqual(wm.conversation_id, ot.json.id);
    assert.notEqual(Number(sql(server, `SELECT customer_id FROM tickets WHERE id = ${wm.conversation_id}`)[0][0]), other.json.id);
    await sleep(200);
    assert.ok(!w.frames.some((f) => JSON.stringify(f).includes('OWNER SECRET')), JSON.stringify(w.frames));
  });

  test('a body over 4000 characters ⇒ error too_long; exactly 4000 is fine; the socket stays usable', async () => {
    const s = await visitor();
    const cid = newCid('long');
    const e = await say(s, '长'.repeat(4001), cid);
    assert.equal(e.type, 'error', JSON.stringify(e));
    assert.equal(e.code, 'too_long');
    assert.equal(e.client_id, cid);
    assert.equal(sql(server, 'SELECT COUNT(*) FROM messages WHERE CHAR_LENGTH(body_text) > 4000')[0][0], '0');
    const ok = await sayOk(s, '长'.repeat(4000));
    assert.equal(sql(server, `SELECT CHAR_LENGTH(body_text) FROM messages WHERE id = ${ok.message_id}`)[0][0], '4000');
    // Empty bodies and bad client_ids are invalid, and nothing is stored.
    const before = sql(server, 'SELECT COUNT(*) FROM messages')[0][0];
    for (const frame of [{ type: 'message', client_id: newCid(), body: '' }, { type: 'message', client_id: newCid(), body: 42 },
      { type: 'message', client_id: 'x'.repeat(65), body: 'id too long' }, { type: 'message', body: 'no client id' }]) {
      const from = s.frames.length;
      s.send(frame);
      const err = await s.waitFor((f) => f.type === 'error', 3000, `error for ${JSON.stringify(frame).slice(0, 80)}`, from);
      assert.equal(err.code, 'invalid', JSON.stringify(err));
    }
    assert.equal(sql(server, 'SELECT COUNT(*) FROM messages')[0][0], before);
    await sayOk(s, 'after the bad ones');
  });

  test('invalid JSON and an unknown type ⇒ error invalid; the next valid message is acked', async () => {
    const s = await visitor();
    for (const bad of ['{not json', '', '[1,2,3]', '"a string"', '{"no":"type"}', JSON.stringify({ type: 'launch_missiles' }),
      JSON.stringify({ type: 42 })]) {
      const from = s.frames.length;
      s.raw(bad);
      const e = await s.waitFor((f) => f.type === 'error', 3000, `error for ${bad}`, from);
      assert.equal(e.code, 'invalid', `${bad}: ${JSON.stringify(e)}`);
      assert.equal(typeof e.message, 'string');
      assert.equal(s.ws.readyState, WebSocket.OPEN, `socket closed after ${bad}`);
    }
    const ok = await sayOk(s, 'valid after garbage');
    assert.equal(sql(server, `SELECT body_text FROM messages WHERE id = ${ok.message_id}`)[0][0], 'valid after garbage');
  });

  test('NUL characters and invalid UTF-8 are refused or kept exactly, never truncated', async () => {
    const s = await visitor();
    const before = sql(server, 'SELECT COUNT(*) FROM messages')[0][0];
    // A JSON \u0000 inside the body: either refused with invalid, or stored with the NUL intact.
    s.raw('{"type":"message","client_id":"nul-1","body":"before\\u0000after"}');
    const r = await s.waitFor((f) => (f.type === 'ack' || f.type === 'error'), 3000, 'answer to a body with NUL');
    if (r.type === 'ack') {
      assert.equal(sql(server, `SELECT HEX(body_text) FROM messages WHERE id = ${r.message_id}`)[0][0],
        Buffer.from('before\0after').toString('hex').toUpperCase(), 'body truncated at the NUL');
    } else {
      assert.equal(r.code, 'invalid', JSON.stringify(r));
      assert.equal(sql(server, 'SELECT COUNT(*) FROM messages')[0][0], before);
    }
    // Invalid UTF-8 in a text frame: an error frame or a close (1007), nothing stored.
    const s2 = await visitor();
    const n2 = sql(server, 'SELECT COUNT(*) FROM messages')[0][0];
    const bad = Buffer.concat([Buffer.from('{"type":"message","client_id":"utf","body":"'), Buffer.from([0xc3, 0x28, 0xff]), Buffer.from('"}')]);
    s2.ws.send(bad, { binary: false });
    const outcome = await Promise.race([s2.closed.then((c) => ({ closed: c })),
      s2.waitFor((f) => f.type === 'error' || f.type === 'ack', 3000, 'answer to invalid UTF-8').then((f) => ({ frame: f }))]);
    if (outcome.frame) assert.equal(outcome.frame.type, 'error', `invalid UTF-8 acked: ${JSON.stringify(outcome.frame)}`);
    else assert.ok([1007, 1002].includes(outcome.closed.code), JSON.stringify(outcome.closed));
    assert.equal(sql(server, 'SELECT COUNT(*) FROM messages')[0][0], n2, 'invalid UTF-8 stored');
    assert.equal((await api(server).get('/healthz')).status, 200);
  });

  test('a frame over 64 KiB ⇒ close 1009, nothing stored; the server carries on', async () => {
    const s = await visitor();
    const before = sql(server, 'SELECT COUNT(*) FROM messages')[0][0];
    s.send({ type: 'message', client_id: newCid('big'), body: 'x'.repeat(65 * 1024) });
    const c = await withTimeout(s.closed, 3000, 'close after an oversized frame');
    assert.equal(c.code, 1009, JSON.stringify(c));
    assert.equal(sql(server, 'SELECT COUNT(*) FROM messages')[0][0], before);
    // A fragmented message adding up to more than the limit is refused the same way.
    const s2 = await visitor();
    const chunk = Buffer.alloc(20 * 1024, 'z');
    for (let i = 0; i < 4; i++) s2.ws.send(chunk, { fin: i === 3, binary: false });
    const c2 = await withTimeout(s2.closed, 3000, 'close after an oversized fragmented message');
    assert.equal(c2.code, 1009, JSON.stringify(c2));
    assert.equal((await api(server).get('/healthz')).status, 200);
    const s3 = await visitor();
    await sayOk(s3, 'others unaffected');
  });

  test('rate limit: a burst of 25 messages ⇒ some rate_limited; every acked one is stored exactly once, the rest not at all', async () => {
    const s = await visitor();
    const cids = Array.from({ length: 25 }, (_, i) => newCid(`rl${i}`));
    for (const cid of cids) s.send({ type: 'message', client_id: cid, body: `burst ${cid}` });
    await s.waitFor(() => cids.every((cid) => s.frames.some((f) => f.client_id === cid && (f.type === 'ack' || f.type === 'error'))),
      8000, 'an answer for every message');
    const answers = cids.map((cid) => s.frames.find((f) => f.client_id === cid && (f.type === 'ack' || f.type === 'error')));
    const acks = answers.filter((f) => f.type === 'ack');
    const limited = answers.filter((f) => f.type === 'error');
    assert.ok(limited.length > 0, 'no message was rate limited');
    assert.ok(limited.every((f) => f.code === 'rate_limited'), JSON.stringify(limited));
    assert.ok(acks.length >= 10, `only ${acks.length} acked: the first 10 in 10 s must pass`);
    const conv = acks[0].conversation_id;
    const ids = acks.map((f) => f.message_id);
    assert.equal(new Set(ids).size, ids.length, 'two acks share a message_id');
    assert.equal(sql(server, `SELECT COUNT(*) FROM messages WHERE id IN (${ids.join(',')}) AND ticket_id = ${conv}`)[0][0], String(ids.length));
    assert.equal(sql(server, `SELECT COUNT(*) FROM messages WHERE ticket_id = ${conv}`)[0][0], String(acks.length),
      'rate-limited messages were stored');
    assert.equal(s.ws.readyState, WebSocket.OPEN);
  });

  test('Chinese and emoji round-trip byte for byte (database, REST, resume)', async () => {
    const body = '你好，我的订单还没到 😊 👨‍👩‍👧 ñ é \u00a0 𠜎 "quotes" \\ back\\slash\ttab\nnewline';
    const s = await visitor({ name: '李雷 🐉' });
    const ack = await sayOk(s, body);
    const [hex] = sql(server, `SELECT HEX(body_text) FROM messages WHERE id = ${ack.message_id}`)[0];
    assert.equal(hex, Buffer.from(body, 'utf8').toString('hex').toUpperCase());
    const r = await a.get(`/api/v1/tickets/${ack.conversation_id}/messages`);
    assert.equal(r.status, 200, r.text);
    const items = Array.isArray(r.json) ? r.json : r.json.items;
    assert.equal(items.find((m) => m.id === ack.message_id).body_text, body);
    s.ws.terminate();
    const back = await visitor({ visitor_token: s.welcome.visitor_token });
    const m = await back.waitFor((f) => f.type === 'message' && f.message_id === ack.message_id, 3000, 'the message on resume');
    assert.equal(m.body, body);
    assert.equal(back.welcome.visitor.name, '李雷 🐉');
  });

  test('HTML in a message is stored verbatim as text', async () => {
    const body = '<img src=x onerror=alert(1)>';
    const s = await visitor();
    const ag = await agentSocket(admin.token);
    const ack = await sayOk(s, body);
    assert.equal(sql(server, `SELECT body_text FROM messages WHERE id = ${ack.message_id}`)[0][0], body);
    const r = await a.get(`/api/v1/tickets/${ack.conversation_id}/messages`);
    const items = Array.isArray(r.json) ? r.json : r.json.items;
    const stored = items.find((m) => m.id === ack.message_id);
    assert.equal(stored.body_text, body);
    if (stored.body_html) assert.ok(!/<img/i.test(stored.body_html), `unsanitised HTML: ${stored.body_html}`);
    const ev = await ag.waitFor((f) => f.type === 'message.created' && f.ticket_id === ack.conversation_id, 3000, 'message.created');
    assert.ok(JSON.stringify(ev).includes(JSON.stringify(body).slice(1, -1)), JSON.stringify(ev));
    // SQL in a body is just text too.
    const q = "'); DROP TABLE messages; --";
    const ack2 = await sayOk(s, q);
    assert.equal(sql(server, `SELECT body_text FROM messages WHERE id = ${ack2.message_id}`)[0][0], q);
  });

  test('an unknown visitor_token starts a new visitor with a new token', async () => {
    const bogus = crypto.randomBytes(32).toString('base64url');
    const s = await visitor({ visitor_token: bogus });
    assert.notEqual(s.welcome.visitor_token, bogus);
    assert.ok(s.welcome.visitor_token.length >= 40);
    assert.equal(s.welcome.conversation_id, null);
    const ack = await sayOk(s, 'new here');
    // The new token is the one that resumes.
    s.ws.terminate();
    const back = await visitor({ visitor_token: s.welcome.visitor_token });
    assert.equal(back.welcome.conversation_id, ack.conversation_id);
    // An absurdly long token is just unknown.
    const long = await visitor({ visitor_token: 'A'.repeat(300) });
    assert.equal(long.welcome.conversation_id, null);
    assert.notEqual(long.welcome.visitor_token, 'A'.repeat(300));
  });

  test('50 concurrent visitors × 5 messages: all acked, all stored exactly once, one conversation each', async () => {
    const N = 50;
    const K = 5;
    const customersBefore = Number(sql(server, 'SELECT COUNT(*) FROM customers')[0][0]);
    const socks = await Promise.all(Array.from({ length: N }, () => visitor()));
    const results = await Promise.all(socks.map(async (s, i) => {
      const cids = Array.from({ length: K }, (_, k) => `conc-${i}-${k}`);
      for (const [k, cid] of cids.entries()) s.send({ type: 'message', client_id: cid, body: `visitor ${i} message ${k}` });
      return Promise.all(cids.map((cid) => s.waitFor((f) => (f.type === 'ack' || f.type === 'error') && f.client_id === cid, 15000, `ack of ${cid}`)));
    }));
    const all = results.flat();
    const errs = all.filter((f) => f.type !== 'ack');
    assert.deepEqual(errs, [], 'some messages were refused');
    const ids = all.map((f) => f.message_id);
    assert.equal(new Set(ids).size, N * K);
    for (const r of results) assert.equal(new Set(r.map((f) => f.conversation_id)).size, 1, 'one visitor, several conversations');
    const convs = new Set(results.map((r) => r[0].conversation_id));
    assert.equal(convs.size, N, 'visitors share a conversation');
    const [n, t, bad] = sql(server, `SELECT COUNT(*), COUNT(DISTINCT ticket_id),
      SUM(body_text NOT LIKE 'visitor % message %') FROM messages WHERE id IN (${ids.join(',')})`)[0];
    assert.deepEqual([n, t, bad], [String(N * K), String(N), '0']);
    assert.equal(sql(server, `SELECT COUNT(*) FROM messages WHERE ticket_id IN (${[...convs].join(',')})`)[0][0], String(N * K),
      'extra rows in the conversations');
    // Each message sits in its visitor's conversation.
    for (const [i, r] of results.entries()) {
      const bodies = sql(server, `SELECT body_text FROM messages WHERE ticket_id = ${r[0].conversation_id} ORDER BY id`).map((x) => x[0]);
      assert.deepEqual(bodies.sort(), Array.from({ length: K }, (_, k) => `visitor ${i} message ${k}`).sort());
    }
    assert.equal(Number(sql(server, 'SELECT COUNT(*) FROM customers')[0][0]), customersBefore + N);
    for (const s of socks) s.ws.close();
  });
  test('the same client_id from two visitors is two messages (client ids are per visitor)', async () => {
    const cid = newCid('shared');
    const v1 = await visitor();
    const v2 = await visitor();
    const a1 = await sayOk(v1, 'from visitor one', cid);
    const a2 = await sayOk(v2, 'from visitor two', cid);
    assert.notEqual(a2.message_id, a1.message_id, 'visitor two was acked with visitor one\'s message');
    assert.notEqual(a2.conversation_id, a1.conversation_id);
    assert.equal(sql(server, `SELECT body_text FROM messages WHERE id = ${a2.message_id}`)[0][0], 'from visitor two');
  });

  test('rate limit is "more than 10 messages per 10 s": after a burst of 10, an 11th 1.5 s later is still refused', async () => {
    const s = await visitor();
    const acks = [];
    for (let i = 0; i < 10; i++) acks.push(say(s, `window ${i}`));
    const first = await Promise.all(acks);
    assert.deepEqual(first.map((f) => f.type), Array(10).fill('ack'), `10 messages in a burst must pass: ${JSON.stringify(first)}`);
    await sleep(1500);
    const eleventh = await say(s, 'window 10');
    assert.equal(eleventh.type, 'error', `an 11th message within 10 s was accepted: ${JSON.stringify(eleventh)}`);
    assert.equal(eleventh.code, 'rate_limited');
  });

  test('frame size boundary: exactly 64 KiB is read (too_long answer), one byte more ⇒ 1009', async () => {
    const frameOf = (len) => {
      const base = JSON.stringify({ type: 'message', client_id: 'edge', body: '' });
      const f = JSON.stringify({ type: 'message', client_id: 'edge', body: 'x'.repeat(len - base.length) });
      assert.equal(Buffer.byteLength(f), len);
      return f;
    };
    const s = await visitor();
    s.raw(frameOf(65536));
    const e = await s.waitFor((f) => f.type === 'error', 3000, 'too_long for a 64 KiB frame');
    assert.equal(e.code, 'too_long', JSON.stringify(e));
    assert.equal(s.ws.readyState, WebSocket.OPEN);
    await sayOk(s, 'after the 64 KiB frame');
    s.raw(frameOf(65537));
    const c = await withTimeout(s.closed, 3000, 'close after 64 KiB + 1');
    assert.equal(c.code, 1009, JSON.stringify(c));
  });

  test('resume of a long conversation (1,200 later messages) delivers all of them before synced', async () => {
    const v = await visitor();
    const first = await sayOk(v, 'a long story starts');
    const conv = first.conversation_id;
    const cust = sql(server, `SELECT customer_id FROM tickets WHERE id = ${conv}`)[0][0];
    // 1,200 agent replies straight into the table (REST would take too long here).
    sql(server, `INSERT INTO messages (ticket_id, customer_id, direction, channel, author_type, author_id, body_text, status)
      SELECT ${conv}, ${cust}, 'out', 'chat', 'agent', ${admin.agent.id}, CONCAT('bulk ', seq), 'sent' FROM seq_1_to_1200`);
    const all = sql(server, `SELECT id FROM messages WHERE ticket_id = ${conv} AND id > ${first.message_id} ORDER BY id`).map((r) => Number(r[0]));
    assert.equal(all.length, 1200);
    v.ws.terminate();
    const back = await visitor({ visitor_token: v.welcome.visitor_token, last_message_id: first.message_id });
    const synced = await back.waitFor((f) => f.type === 'synced', 5000, 'synced');
    const got = back.frames.slice(0, back.frames.indexOf(synced)).filter((f) => f.type === 'message').map((f) => f.message_id);
    if (synced.last_message_id !== all[all.length - 1] || got.length !== all.length) {
      // A page limit is acceptable only if the client can tell more is coming; the contract
      // has no such signal, so synced must mean "everything up to last_message_id".
      assert.fail(`resume delivered ${got.length} of ${all.length} messages, then synced ${JSON.stringify(synced)} (newest is ${all[all.length - 1]})`);
    }
    assert.deepEqual(got, all);
  });

  test('two tabs of one visitor both get the agent reply', async () => {
    const t1 = await visitor();
    const m = await sayOk(t1, 'two tabs');
    const t2 = await visitor({ visitor_token: t1.welcome.visitor_token });
    await t2.waitFor((f) => f.type === 'synced', 3000, 'synced');
    const r = await reply(m.conversation_id, 'to both tabs');
    for (const t of [t1, t2]) await t.waitFor((f) => f.type === 'message' && f.message_id === r.id, 3000, 'reply in a tab');
  });

  test('resume while agents reply: no message lost or duplicated on any socket', async () => {
    const v = await visitor();
    const token = v.welcome.visitor_token;
    const first = await sayOk(v, 'before the storm');
    const conv = first.conversation_id;
    const L = first.message_id;
    v.ws.terminate();
    const socks = [];
    let done = false;
    const replier = (async () => {
      try {
        for (let i = 0; i < 20; i++) {
          await Promise.all([0, 1, 2].map((k) => reply(conv, `storm ${i}.${k}`)));
        }
      } finally { done = true; }
    })();
    while (!done) {
      const s = track(await wsOpen(server, '/ws/chat'));
      s.send({ type: 'hello', visitor_token: token, last_message_id: L });
      socks.push(s);
      await sleep(5);
    }
    await replier;
    const all = sql(server, `SELECT id FROM messages WHERE ticket_id = ${conv} AND internal = 0 AND id > ${L} ORDER BY id`).map((r) => Number(r[0]));
    assert.equal(all.length, 60);
    const last = all[all.length - 1];
    await Promise.all(socks.map((s) => s.waitFor((f) => f.type === 'message' && f.message_id === last, 3000, 'the last reply').catch(() => null)));
    await sleep(300);
    const bad = [];
    for (const [i, s] of socks.entries()) {
      const ids = s.frames.filter((f) => f.type === 'message').map((f) => f.message_id);
      const missing = all.filter((x) => !ids.includes(x));
      const dup = ids.filter((x, j) => ids.indexOf(x) !== j);
      const unordered = ids.some((x, j) => j > 0 && ids[j - 1] >= x);
      if (missing.length || dup.length || unordered) bad.push({ socket: i, missing, dup, unordered });
    }
    assert.deepEqual(bad, [], `${bad.length} of ${socks.length} resumed sockets lost or duplicated replies`);
    for (const s of socks) s.ws.terminate();
  });

  test('a stalled or misbehaving socket does not stall the others', async () => {
    // 1. A visitor that stops reading while agents pour replies into its conversation.
    const slow = await visitor();
    const m = await sayOk(slow, 'I will stop reading');
    slow.ws._socket.pause();
    const big = 'z'.repeat(60000);
    const flood = (async () => { for (let i = 0; i < 40; i++) await reply(m.conversation_id, `${i} ${big}`); })();
    // 2. A raw client that upgrades, then sends half a frame and goes quiet.
    const net = require('node:net');
    const raw = net.connect(server.port, '127.0.0.1');
    await new Promise((r) => raw.once('connect', r));
    raw.write(`GET /ws/chat HTTP/1.1\r\nHost: 127.0.0.1:${server.port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n`
      + `Sec-WebSocket-Key: ${crypto.randomBytes(16).toString('base64')}\r\nSec-WebSocket-Version: 13\r\n\r\n`);
    await sleep(100);
    raw.write(Buffer.from([0x81, 0xfe, 0xea, 0x60, 1, 2, 3, 4, 0x41, 0x42])); // masked text frame "of 60000 bytes", 2 sent
    // 3. A client that never finishes its HTTP request.
    const half = net.connect(server.port, '127.0.0.1');
    await new Promise((r) => half.once('connect', r));
    half.write('GET /ws/chat HTTP/1.1\r\nHost: x\r\n');
    // Meanwhile other visitors are served promptly.
    const others = await Promise.all(Array.from({ length: 5 }, () => visitor()));
    for (const o of others) {
      const t0 = Date.now();
      await sayOk(o, 'am I served?');
      assert.ok(Date.now() - t0 < 1000, `ack took ${Date.now() - t0} ms`);
    }
    await flood;
    const t0 = Date.now();
    await sayOk(others[0], 'after the flood');
    assert.ok(Date.now() - t0 < 1000, `ack after the flood took ${Date.now() - t0} ms`);
    assert.equal((await api(server).get('/healthz')).status, 200);
    raw.destroy();
    half.destroy();
    slow.ws.terminate();
  });

  test('after the conversation is closed, the returning visitor is still the same customer', async () => {
    const s = await visitor();
    const m = await sayOk(s, 'please close me');
    const customer = sql(server, `SELECT customer_id FROM tickets WHERE id = ${m.conversation_id}`)[0][0];
    const r = await a.patch(`/api/v1/tickets/${m.conversation_id}`, { status: 'closed' });
    assert.equal(r.status, 200, r.text);
    s.ws.terminate();
    const back = await visitor({ visitor_token: s.welcome.visitor_token });
    const m2 = await sayOk(back, 'a new question');
    assert.equal(sql(server, `SELECT customer_id FROM tickets WHERE id = ${m2.conversation_id}`)[0][0], customer,
      'a returning visitor became another customer');
    assert.equal(sql(server, `SELECT customer_id FROM messages WHERE id = ${m2.message_id}`)[0][0], customer);
  });
});

test.describe('/ws/chat across restarts and idle timeouts (ws_idle_secs = 5)', () => {
  let server;
  const sockets = [];
  const track = (s) => { sockets.push(s); return s; };
  const env = { SWITCHBOARD_SERVER_WS_IDLE_SECS: '5' };
  const visitor = async (hello = {}, opts) => {
    const s = track(await wsOpen(server, '/ws/chat', opts));
    s.send({ type: 'hello', ...hello });
    s.welcome = await s.waitFor((f) => f.type === 'welcome' || f.type === 'error', 5000, 'welcome');
    assert.equal(s.welcome.type, 'welcome', JSON.stringify(s.welcome));
    return s;
  };

  test.before(async () => { server = await startServer({ env }); });
  test.after(async () => {
    for (const s of sockets) s.ws.terminate();
    if (server) {
      await server.stop();
      dropDatabase(server);
    }
  });

  test('a silent socket is closed after ws_idle_secs; one that keeps talking stays open', async () => {
    // autoPong off: this client does not even answer protocol pings.
    const silent = track(await wsOpen(server, '/ws/chat', { autoPong: false }));
    const talker = await visitor();
    const t0 = Date.now();
    const timer = setInterval(() => talker.send({ type: 'ping' }), 1000);
    try {
      const c = await withTimeout(silent.closed, 10000, 'idle close');
      const after = Date.now() - t0;
      assert.ok(after >= 4000 && after <= 9000, `closed after ${after} ms`);
      assert.notEqual(c.code, 1000, JSON.stringify(c));
      await sleep(1500);
      assert.equal(talker.ws.readyState, WebSocket.OPEN, 'a talking socket was closed as idle');
    } finally {
      clearInterval(timer);
    }
  });

  test('kill -9 mid-stream loses nothing acknowledged; after restart, re-sent client_ids are stored once', async () => {
    const V = 40;
    const K = 8;
    const vis = await Promise.all(Array.from({ length: V }, () => visitor()));
    const sent = vis.map((_, i) => Array.from({ length: K }, (__, k) => ({ cid: `k9-${i}-${k}`, body: `crash ${i}.${k} 断电 ⚡` })));
    const acked = new Map(); // cid -> ack frame; any ack received proves a COMMIT
    let killing = null;
    // Each visitor sends its next message when the previous one is acked: the stream is
    // still running when the server dies.
    for (const [i, s] of vis.entries()) {
      let next = 0;
      const sendNext = () => {
        if (next < K && s.ws.readyState === WebSocket.OPEN) {
          const m = sent[i][next++];
          s.send({ type: 'message', client_id: m.cid, body: m.body });
        }
      };
      s.ws.on('message', (d) => {
        const f = JSON.parse(d.toString());
        if (f.type !== 'ack') return;
        acked.set(f.client_id, f);
        if (acked.size >= (V * K) / 3 && !killing) killing = server.kill9();
        sendNext();
      });
      sendNext();
    }
    const t0 = Date.now();
    while (!killing && Date.now() - t0 < 10000) await sleep(5);
    assert.ok(killing, `only ${acked.size} acks in 10 s`);
    await killing;
    await Promise.all(vis.map((s) => withTimeout(s.closed, 5000, 'socket close after kill -9')));
    const ackedBefore = new Map(acked);
    assert.ok(ackedBefore.size < V * K, 'everything was acked before the kill; the test proves nothing');

    server = await startServer({ env, dbName: server.dbName, migrate: false });
    // Everything acknowledged is there, with its body, in its conversation.
    const ids = [...ackedBefore.values()].map((f) => f.message_id);
    const rows = new Map(sql(server, `SELECT id, ticket_id, body_text FROM messages WHERE id IN (${ids.join(',')})`)
      .map(([id, t, b]) => [Number(id), { t: Number(t), b }]));
    for (const [cid, f] of ackedBefore) {
      const [i, k] = cid.split('-').slice(1).map(Number);
      const row = rows.get(f.message_id);
      assert.ok(row, `acked message ${cid} (${f.message_id}) lost by kill -9`);
      assert.equal(row.b, sent[i][k].body);
      assert.equal(row.t, f.conversation_id);
    }
    // Every visitor comes back and re-sends what was not acknowledged (and, for good measure, all of it).
    await Promise.all(vis.map(async (old, i) => {
      const s = await visitor({ visitor_token: old.welcome.visitor_token });
      for (const m of sent[i]) s.send({ type: 'message', client_id: m.cid, body: m.body });
      const answers = await Promise.all(sent[i].map((m) => s.waitFor((f) => (f.type === 'ack' || f.type === 'error') && f.client_id === m.cid,
        8000, `ack of ${m.cid} after restart`)));
      for (const [k, f] of answers.entries()) {
        assert.equal(f.type, 'ack', JSON.stringify(f));
        const before = ackedBefore.get(sent[i][k].cid);
        if (before) assert.equal(f.message_id, before.message_id, `${sent[i][k].cid} re-acked with another id`);
      }
      assert.equal(new Set(answers.map((f) => f.conversation_id)).size, 1);
      const bodies = sql(server, `SELECT body_text FROM messages WHERE ticket_id = ${answers[0].conversation_id} ORDER BY id`).map((r) => r[0]);
      assert.deepEqual([...bodies].sort(), sent[i].map((m) => m.body).sort(), `visitor ${i}: stored ${JSON.stringify(bodies)}`);
    }));
    assert.equal(sql(server, "SELECT COUNT(*) FROM messages WHERE body_text LIKE 'crash %'")[0][0], String(V * K));
  });
});

test('a full ingest queue answers "unavailable" (busy) with the client_id, stores nothing of it, and the widget-style resend is stored once', async () => {
  // one writer gathering each batch for a second and a queue of one message
  const server = await startServer({
    env: { SWITCHBOARD_INGEST_WRITERS: '1', SWITCHBOARD_INGEST_QUEUE_MAX: '1', SWITCHBOARD_INGEST_BATCH_WAIT_US: '1000000' },
  });
  const socks = [];
  try {
    for (let i = 0; i < 2; i++) {
      const s = await wsOpen(server, '/ws/chat');
      socks.push(s);
      s.send({ type: 'hello' });
      assert.equal((await s.waitFor((f) => f.type === 'welcome' || f.type === 'error', 3000, 'welcome')).type, 'welcome');
    }
    const cids = socks.map(() => newCid('busy'));
    socks.forEach((s, i) => s.send({ type: 'message', client_id: cids[i], body: `排队 ${i}` }));
    const answers = await Promise.all(socks.map((s, i) =>
      s.waitFor((f) => (f.type === 'ack' || f.type === 'error') && f.client_id === cids[i], 5000, `answer ${i}`)));
    const acked = answers.filter((f) => f.type === 'ack'), refused = answers.filter((f) => f.type === 'error');
    assert.equal(acked.length, 1, JSON.stringify(answers));
    assert.equal(refused.length, 1, JSON.stringify(answers));
    assert.equal(refused[0].code, 'unavailable');
    assert.match(refused[0].message, /busy/);
    const i = answers.indexOf(refused[0]);
    const stored = () => Number(sql(server, "SELECT COUNT(*) FROM messages WHERE body_text LIKE '排队 %'")[0][0]);
    assert.equal(stored(), 1, 'the refused message left nothing behind');
    // what the widget does: the same client_id again a moment later
    const from = socks[i].frames.length;
    socks[i].send({ type: 'message', client_id: cids[i], body: `排队 ${i}` });
    const again = await socks[i].waitFor((f) => (f.type === 'ack' || f.type === 'error') && f.client_id === cids[i], 5000, 'resend', from);
    assert.equal(again.type, 'ack', JSON.stringify(again));
    assert.equal(stored(), 2);
  } finally {
    for (const s of socks) s.ws.terminate();
    await server.stop();
    dropDatabase(server);
  }
});
