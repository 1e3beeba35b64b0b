'use strict';
// ws.test.js — the agent websocket /ws/agent (DESIGN.md section 9 "Websockets"):
// authentication by first frame or cookie, 4401 for anything else (and for silence past
// 5 s), the Origin check, events pushed after commit, per-agent visibility (section 11.4:
// no object leaks across scopes over websockets) and the frame size limit.
const test = require('node:test');
const assert = require('node:assert/strict');
const WebSocket = require('ws');
const {
  startServer, bootstrapAdmin, api, dropDatabase, createAgent, login, sleep,
} = require('./harness');

/**
 * Opens /ws/agent. Resolves {ws, frames, waitFor, closed} once open (or rejects with the
 * handshake failure). frames collects every parsed frame; waitFor(pred, ms) resolves the
 * first frame (seen or future) matching pred; closed resolves {code, reason}.
 */
function connect(server, { headers = {}, origin } = {}) {
  const url = `${server.url.replace(/^http/, 'ws')}/ws/agent`;
  const ws = new WebSocket(url, { headers, origin, handshakeTimeout: 5000 });
  const frames = [];
  const waiters = [];
  ws.on('message', (data) => {
    let f;
    try { f = JSON.parse(data.toString('utf8')); } catch { f = { unparsed: data.toString('utf8') }; }
    frames.push(f);
    for (const w of [...waiters]) {
      if (w.pred(f)) { waiters.splice(waiters.indexOf(w), 1); clearTimeout(w.timer); w.resolve(f); }
    }
  });
  const closed = new Promise((resolve) => ws.on('close', (code, reason) => resolve({ code, reason: reason.toString() })));
  const waitFor = (pred, ms = 3000, what = 'frame') => {
    const seen = frames.find(pred);
    if (seen) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const w = { pred, resolve };
      w.timer = setTimeout(() => {
        waiters.splice(waiters.indexOf(w), 1);
        reject(new Error(`no ${what} within ${ms} ms; frames so far: ${JSON.stringify(frames).slice(0, 2000)}`));
      }, ms);
      waiters.push(w);
    });
  };
  return new Promise((resolve, reject) => {
    ws.once('open', () => resolve({ ws, frames, waitFor, closed }));
    ws.once('unexpected-response', (req, res) => reject(Object.assign(new Error(`handshake answered ${res.statusCode}`), { statusCode: res.statusCode })));
    ws.once('error', (err) => reject(err));
  });
}

async function authed(server, token) {
  const s = await connect(server);
  s.ws.send(JSON.stringify({ type: 'auth', token }));
  const ok = await s.waitFor((f) => f.type === 'auth_ok' || f.type === 'error', 3000, 'auth_ok');
  assert.equal(ok.type, 'auth_ok', JSON.stringify(ok));
  return s;
}

function withTimeout(p, ms, what) {
  let timer;
  return Promise.race([p, new Promise((_, reject) => { timer = setTimeout(() => reject(new Error(`${what}: nothing within ${ms} ms`)), ms); })])
    .finally(() => clearTimeout(timer));
}

test.describe('/ws/agent', () => {
  let server;
  let admin;
  let a;
  const sockets = [];
  const track = (s) => { sockets.push(s); return s; };

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

  test('auth frame ⇒ auth_ok with the agent', async () => {
    const s = track(await authed(server, admin.token));
    const ok = s.frames.find((f) => f.type === 'auth_ok');
    assert.equal(ok.agent.id, admin.agent.id);
    assert.equal(ok.agent.email, 'admin@example.com');
    assert.equal(ok.agent.role, 'admin');
    assert.equal(ok.agent.password_hash, undefined);
    // The socket stays open and answers frames.
    s.ws.send(JSON.stringify({ type: 'ping' }));
    await s.waitFor((f) => f.type === 'pong', 2000, 'pong');
  });

  test('cookie sb_session in the upgrade request authenticates', async () => {
    const { token } = await login(server, 'admin@example.com', admin.password);
    const s = track(await connect(server, { headers: { Cookie: `sb_session=${token}` } }));
    const ok = await s.waitFor((f) => f.type === 'auth_ok', 3000, 'auth_ok');
    assert.equal(ok.agent.id, admin.agent.id);
  });

  test('a first frame that is not auth ⇒ close 4401', async () => {
    for (const frame of [JSON.stringify({ type: 'ping' }), 'not json', JSON.stringify({ type: 'auth' }),
      JSON.stringify({ type: 'auth', token: 'bogus-token' })]) {
      const s = track(await connect(server));
      s.ws.send(frame);
      const c = await withTimeout(s.closed, 3000, `close after ${frame}`);
      assert.equal(c.code, 4401, `${frame}: ${JSON.stringify(c)}`);
      assert.ok(!s.frames.some((f) => f.type === 'auth_ok'));
    }
    // A bad cookie does not authenticate either.
    const s = track(await connect(server, { headers: { Cookie: 'sb_session=bogus' } }));
    const c = await withTimeout(s.closed, 3000, 'close after a bad cookie');
    assert.equal(c.code, 4401);
  });

  test('a logged-out token is refused', async () => {
    const { token } = await login(server, 'admin@example.com', admin.password);
    assert.equal((await api(server, token).post('/api/v1/auth/logout', {})).status, 204);
    const s = track(await connect(server));
    s.ws.send(JSON.stringify({ type: 'auth', token }));
    assert.equal((await withTimeout(s.closed, 3000, 'close')).code, 4401);
  });

  test('silence ⇒ close 4401 after about 5 s', async () => {
    const s = track(await connect(server));
    const t0 = Date.now();
    const c = await withTimeout(s.closed, 9000, 'close of a silent socket');
    const waited = Date.now() - t0;
    assert.equal(c.code, 4401, JSON.stringify(c));
    assert.ok(waited >= 4500 && waited <= 8000, `closed after ${waited} ms`);
  });

  test('an Origin other than public_url is rejected at the handshake', async () => {
    for (const origin of ['http://evil.example', `${server.url}.evil.example`, 'null']) {
      await assert.rejects(connect(server, { origin }), (err) => {
        assert.ok(err.statusCode === undefined || (err.statusCode >= 400 && err.statusCode < 500), err.message);
        return true;
      }, `origin ${origin} accepted`);
    }
    // The right Origin is accepted.
    const s = track(await connect(server, { origin: server.url }));
    s.ws.send(JSON.stringify({ type: 'auth', token: admin.token }));
    await s.waitFor((f) => f.type === 'auth_ok', 3000, 'auth_ok');
  });

  test('events: admin receives customer.created, ticket.created and message.created after commit', async () => {
    const s = track(await authed(server, admin.token));
    const cust = await a.post('/api/v1/customers', { name: '事件客户', email: 'events@example.com' });
    assert.equal(cust.status, 201, cust.text);
    const ce = await s.waitFor((f) => f.type === 'customer.created' && f.customer_id === cust.json.id, 3000, 'customer.created');
    assert.equal(typeof ce.event_id, 'number');

    const t = await a.post('/api/v1/tickets', { customer_id: cust.json.id, channel: 'email', subject: '你好 events' });
    assert.equal(t.status, 201, t.text);
    const te = await s.waitFor((f) => f.type === 'ticket.created' && f.ticket_id === t.json.id, 3000, 'ticket.created');
    assert.ok(te.event_id > ce.event_id, 'event ids increase');

    const m = await a.post(`/api/v1/tickets/${t.json.id}/messages`, { body_text: '回复 🙂', internal: false });
    assert.equal(m.status, 201, m.text);
    const me = await s.waitFor((f) => f.type === 'message.created' && f.ticket_id === t.json.id, 3000, 'message.created');
    assert.ok(me.event_id > te.event_id);
    assert.equal(JSON.stringify(me).includes('回复 🙂'), true, `message body not in the event: ${JSON.stringify(me)}`);

    const u = await a.patch(`/api/v1/tickets/${t.json.id}`, { priority: 'high' });
    assert.equal(u.status, 200, u.text);
    // this change's event, not the reply's (which also updates the ticket and may come later under ASan)
    const hu = await s.waitFor((f) => f.type === 'ticket.updated' && f.ticket_id === t.json.id && f.ticket &&
      f.ticket.priority === 'high', 3000, 'ticket.updated');

    // A rejected change produces no event.
    const n = s.frames.length;
    const bad = await a.patch(`/api/v1/tickets/${t.json.id}`, { priority: 'whenever' });
    assert.equal(bad.status, 422, bad.text);
    await a.patch(`/api/v1/tickets/${t.json.id}`, { priority: 'low' });
    await s.waitFor((f) => f.type === 'ticket.updated' && f.ticket_id === t.json.id && f.event_id > hu.event_id, 3000, 'second ticket.updated');
    const between = s.frames.slice(n).filter((f) => f.type === 'ticket.updated');
    assert.equal(between.length, 1, `events for a rejected change: ${JSON.stringify(between)}`);
  });

  test('an agent sees events of tickets assigned to them, never of tickets assigned to another agent', async () => {
    const agA = await createAgent(server, admin.token, { role: 'agent', name: 'Agent A' });
    const agB = await createAgent(server, admin.token, { role: 'agent', name: 'Agent B' });
    const sa = track(await authed(server, agA.token));
    const sb = track(await authed(server, agB.token));
    const sadmin = track(await authed(server, admin.token));
    const cust = (await a.post('/api/v1/customers', { name: 'Visibility', email: 'vis@example.com' })).json;

    // Created already assigned: an unassigned ticket without a team is (until routing lands)
    // visible to every agent who may take it.
    const mkTicket = async (subject, assignee) => {
      const r = await a.post('/api/v1/tickets', { customer_id: cust.id, channel: 'email', subject, assignee_id: assignee });
      assert.equal(r.status, 201, r.text);
      return r.json;
    };
    const tB = await mkTicket('for B', agB.id);
    let r = await a.post(`/api/v1/tickets/${tB.id}/messages`, { body_text: 'secret for B' });
    assert.equal(r.status, 201, r.text);
    r = await a.patch(`/api/v1/tickets/${tB.id}`, { status: 'pending', priority: 'urgent' });
    assert.equal(r.status, 200, r.text);
    // B gets its assignment and the reply.
    await sb.waitFor((f) => f.type === 'ticket.assigned' && f.ticket_id === tB.id, 3000, 'ticket.assigned for B');
    await sb.waitFor((f) => f.type === 'message.created' && f.ticket_id === tB.id, 3000, 'message.created for B');
    await sb.waitFor((f) => f.type === 'ticket.updated' && f.ticket_id === tB.id, 3000, 'ticket.updated for B');

    // Then A's ticket; once A has its event, every earlier event has been delivered.
    const tA = await mkTicket('for A', agA.id);
    const assigned = await sa.waitFor((f) => f.type === 'ticket.assigned' && f.ticket_id === tA.id, 3000, 'ticket.assigned for A');
    assert.equal(assigned.ticket_id, tA.id);
    r = await a.post(`/api/v1/tickets/${tA.id}/messages`, { body_text: 'for A' });
    await sa.waitFor((f) => f.type === 'message.created' && f.ticket_id === tA.id, 3000, 'message.created for A');
    await sadmin.waitFor((f) => f.type === 'message.created' && f.ticket_id === tA.id, 3000, 'admin sees A\'s message');

    const leaked = sa.frames.filter((f) => f.ticket_id === tB.id || JSON.stringify(f).includes('secret for B'));
    assert.deepEqual(leaked, [], 'agent A received events of B\'s ticket');
    assert.ok(!sb.frames.some((f) => f.ticket_id === tA.id), 'agent B received events of A\'s ticket');
    // Customer events are not for agents.
    assert.ok(!sa.frames.some((f) => f.type === 'customer.created'), 'agent received customer.created');
    // The admin saw everything.
    assert.ok(sadmin.frames.some((f) => f.type === 'ticket.assigned' && f.ticket_id === tB.id));

    // Reassigning A's ticket to B: A is told ticket.unassigned, B gets ticket.assigned, and
    // later events of that ticket go to B only.
    r = await a.patch(`/api/v1/tickets/${tA.id}`, { assignee_id: agB.id });
    assert.equal(r.status, 200, r.text);
    await sa.waitFor((f) => f.type === 'ticket.unassigned' && f.ticket_id === tA.id, 3000, 'ticket.unassigned for A');
    await sb.waitFor((f) => f.type === 'ticket.assigned' && f.ticket_id === tA.id, 3000, 'ticket.assigned for B');
    const mark = sa.frames.length;
    r = await a.post(`/api/v1/tickets/${tA.id}/messages`, { body_text: 'now B\'s' });
    assert.equal(r.status, 201, r.text);
    await sb.waitFor((f) => f.type === 'message.created' && f.ticket_id === tA.id && JSON.stringify(f).includes('now B'), 3000, 'message for B');
    // Give A's socket the same chance, then check it got nothing more about the ticket.
    r = await a.post('/api/v1/tickets', { customer_id: cust.id, channel: 'email', subject: 'marker', assignee_id: agA.id });
    assert.equal(r.status, 201, r.text);
    await sa.waitFor((f) => f.ticket_id === r.json.id, 3000, 'marker event for A');
    const after = sa.frames.slice(mark).filter((f) => f.ticket_id === tA.id && f.type !== 'ticket.unassigned');
    assert.deepEqual(after, [], 'A still receives events of a ticket reassigned to B');
  });

  test('an unauthenticated socket receives no events', async () => {
    const s = track(await connect(server));
    const cust = await a.post('/api/v1/customers', { name: 'Quiet' });
    assert.equal(cust.status, 201);
    await sleep(300);
    assert.deepEqual(s.frames, []);
    s.ws.terminate();
  });

  test('an oversized frame (> 64 KiB) closes the socket; the server carries on', async () => {
    const s = track(await authed(server, admin.token));
    s.ws.send(JSON.stringify({ type: 'ping', pad: 'x'.repeat(70 * 1024) }));
    const c = await withTimeout(s.closed, 3000, 'close after an oversized frame');
    assert.ok(c.code === 1009 || c.code === 1008 || c.code === 1002 || c.code === 1006, JSON.stringify(c));
    // A frame just under the limit is fine.
    const s2 = track(await authed(server, admin.token));
    s2.ws.send(JSON.stringify({ type: 'ping', pad: 'y'.repeat(60 * 1024) }));
    await s2.waitFor((f) => f.type === 'pong', 2000, 'pong after a 60 KiB frame');
    // Fragmented: many small fragments adding up to more than the limit.
    const s3 = track(await authed(server, admin.token));
    const chunk = Buffer.alloc(16 * 1024, 'z');
    for (let i = 0; i < 6; i++) s3.ws.send(chunk, { fin: i === 5, binary: false });
    const c3 = await withTimeout(s3.closed, 3000, 'close after an oversized fragmented message');
    assert.notEqual(c3.code, 1000, JSON.stringify(c3));
    assert.equal((await api(server).get('/healthz')).status, 200);
    assert.equal(server.exited(), null);
  });
});
