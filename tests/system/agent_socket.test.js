'use strict';
// agent_socket.test.js — the client frames of the agent websocket /ws/agent
// (docs/api.md "Websocket /ws/agent", "Agent socket frames", "Limits"; DESIGN.md sections
// 9-11): reply acked after COMMIT and stored once per client_id, chat replies pushed to the
// customer's socket, internal notes kept from the customer, replies outside the agent's
// scope refused and not stored, accept (first one wins, then not_available), per-team
// isolation of events and typing (11.4), 4401 for unauthenticated sockets, the Origin
// check, presence (heartbeat, offline after the grace period), bad frames.
// The server runs with [server] presence_grace_secs = 2.
const test = require('node:test');
const assert = require('node:assert/strict');
const crypto = require('node:crypto');
const { spawn } = require('node:child_process');
const WebSocket = require('ws');
const {
  startServer, bootstrapAdmin, api, sql, dropDatabase, createAgent, sleep,
} = require('./harness');
const { wsOpen } = require('./clients');

/** Same helper as in chat.test.js: an open websocket with collected frames and waitFor. */

function withTimeout(p, ms, what) {
  let timer;
  return Promise.race([p, new Promise((_, reject) => { timer = setTimeout(() => reject(new Error(`${what}: nothing within ${ms} ms`)), ms); })])
    .finally(() => clearTimeout(timer));
}

let cidSeq = 0;
const newCid = (p = 'r') => `${p}-${++cidSeq}-${crypto.randomBytes(3).toString('hex')}`;

test.describe('/ws/agent client frames', () => {
  let server;
  let admin;
  let a;
  let teamA;
  let teamB;
  let agA1; // agent, team A
  let agA2; // agent, team A
  let agB; // agent, team B
  const sockets = [];
  const track = (s) => { sockets.push(s); return s; };

  const agentSocket = async (token, opts) => {
    const s = track(await wsOpen(server, '/ws/agent', opts));
    s.send({ type: 'auth', token });
    const ok = await s.waitFor((f) => f.type === 'auth_ok' || f.type === 'error', 3000, 'auth_ok');
    assert.equal(ok.type, 'auth_ok', JSON.stringify(ok));
    return s;
  };
  /** A visitor with one message: {s (its socket), conv (ticket id), ack}. */
  const chatConversation = async (body = 'hello from a visitor') => {
    const s = track(await wsOpen(server, '/ws/chat'));
    s.send({ type: 'hello' });
    s.welcome = await s.waitFor((f) => f.type === 'welcome', 3000, 'welcome');
    const cid = newCid('v');
    s.send({ type: 'message', client_id: cid, body });
    const ack = await s.waitFor((f) => (f.type === 'ack' || f.type === 'error') && f.client_id === cid, 5000, 'visitor ack');
    assert.equal(ack.type, 'ack', JSON.stringify(ack));
    return { s, conv: ack.conversation_id, ack };
  };
  /** Sends a reply frame; resolves the ack or error carrying its client_id. */
  const replyFrame = async (s, frame, ms = 5000) => {
    const client_id = frame.client_id || newCid();
    const from = s.frames.length;
    s.send({ type: 'reply', client_id, ...frame });
    return s.waitFor((f) => (f.type === 'ack' || f.type === 'error') && f.client_id === client_id, ms, `answer to reply ${client_id}`, from);
  };
  const msgCount = (ticketId) => Number(sql(server, `SELECT COUNT(*) FROM messages WHERE ticket_id = ${ticketId}`)[0][0]);
  const patchTicket = async (id, body) => {
    const r = await a.patch(`/api/v1/tickets/${id}`, body);
    assert.equal(r.status, 200, r.text);
    return r.json;
  };

  test.before(async () => {
    server = await startServer({ env: { SWITCHBOARD_SERVER_PRESENCE_GRACE_SECS: '2' } });
    admin = await bootstrapAdmin(server);
    a = api(server, admin.token);
    let r = await a.post('/api/v1/teams', { name: 'Team A', description: 'A' });
    assert.equal(r.status, 201, r.text);
    teamA = r.json;
    r = await a.post('/api/v1/teams', { name: 'Team B', description: 'B' });
    assert.equal(r.status, 201, r.text);
    teamB = r.json;
    agA1 = await createAgent(server, admin.token, { name: 'A one', team_id: teamA.id });
    agA2 = await createAgent(server, admin.token, { name: 'A two', team_id: teamA.id });
    agB = await createAgent(server, admin.token, { name: 'B one', team_id: teamB.id });
  });
  test.after(async () => {
    for (const s of sockets) s.ws.terminate();
    if (server) {
      await server.stop();
      dropDatabase(server);
    }
  });

  test('reply ⇒ ack after COMMIT; a repeated client_id ⇒ same message_id, stored once; the customer gets it live', async () => {
    const { s: visitor, conv } = await chatConversation();
    const ag = await agentSocket(agA1.token);
    const cid = newCid();
    const body = '您好，我们马上处理 😊';
    const ack = await replyFrame(ag, { client_id: cid, ticket_id: conv, body });
    assert.equal(ack.type, 'ack', JSON.stringify(ack));
    assert.equal(ack.client_id, cid);
    assert.equal(ack.ticket_id, conv);
    assert.equal(typeof ack.message_id, 'number');
    // Right after the ack, from another session: committed.
    const rows = sql(server, `SELECT ticket_id, direction, channel, author_type, author_id, body_text, internal
      FROM messages WHERE id = ${ack.message_id}`);
    assert.deepEqual(rows, [[String(conv), 'out', 'chat', 'agent', String(agA1.id), body, '0']], 'reply not committed when acked');
    // The customer's socket gets it.
    const live = await visitor.waitFor((f) => f.type === 'message' && f.message_id === ack.message_id, 3000, 'reply on the customer socket');
    assert.equal(live.from, 'agent');
    assert.equal(live.body, body);
    // The same client_id again: same message, nothing new stored or sent.
    const again = await replyFrame(ag, { client_id: cid, ticket_id: conv, body });
    assert.equal(again.type, 'ack', JSON.stringify(again));
    assert.equal(again.message_id, ack.message_id);
    // Back to back with a fresh client_id.
    const cid2 = newCid();
    const from = ag.frames.length;
    ag.send({ type: 'reply', client_id: cid2, ticket_id: conv, body: 'twice?' });
    ag.send({ type: 'reply', client_id: cid2, ticket_id: conv, body: 'twice?' });
    await ag.waitFor(() => ag.frames.slice(from).filter((f) => f.client_id === cid2).length >= 2, 5000, 'two answers');
    const answers = ag.frames.slice(from).filter((f) => f.client_id === cid2);
    assert.deepEqual(answers.map((f) => f.type), ['ack', 'ack'], JSON.stringify(answers));
    assert.equal(answers[0].message_id, answers[1].message_id);
    assert.equal(sql(server, `SELECT COUNT(*) FROM messages WHERE ticket_id = ${conv} AND direction = 'out'`)[0][0], '2');
    await visitor.waitFor((f) => f.type === 'message' && f.message_id === answers[0].message_id, 3000, 'second reply');
    await sleep(300);
    const delivered = visitor.frames.filter((f) => f.type === 'message' && f.from === 'agent').map((f) => f.message_id);
    assert.deepEqual(delivered, [ack.message_id, answers[0].message_id], 'replies delivered more than once');
    // The same client_id from another agent is another message (client ids are per agent).
    const other = await agentSocket(agA2.token);
    const o = await replyFrame(other, { client_id: cid, ticket_id: conv, body: 'from A two' });
    assert.equal(o.type, 'ack', JSON.stringify(o));
    assert.notEqual(o.message_id, ack.message_id);
    assert.equal(sql(server, `SELECT author_id, body_text FROM messages WHERE id = ${o.message_id}`)[0].join('|'), `${agA2.id}|from A two`);
  });

  test('a reply on an e-mail ticket goes through the outbox (one row, even for a repeated client_id)', async () => {
    const email = `outbox-${crypto.randomBytes(3).toString('hex')}@example.com`;
    const cust = await a.post('/api/v1/customers', { name: 'Mail customer', email });
    assert.equal(cust.status, 201, cust.text);
    const t = await a.post('/api/v1/tickets', { customer_id: cust.json.id, channel: 'email', subject: '订单问题' });
    assert.equal(t.status, 201, t.text);
    const ag = await agentSocket(agA1.token);
    const cid = newCid('mail');
    const ack = await replyFrame(ag, { client_id: cid, ticket_id: t.json.id, body: '您好，包裹已发出 📦' });
    assert.equal(ack.type, 'ack', JSON.stringify(ack));
    const again = await replyFrame(ag, { client_id: cid, ticket_id: t.json.id, body: '您好，包裹已发出 📦' });
    assert.equal(again.message_id, ack.message_id);
    const rows = sql(server, `SELECT channel, recipient FROM outbox WHERE message_id = ${ack.message_id}`);
    assert.deepEqual(rows, [['email', email]], 'outbox rows of the reply');
    assert.equal(sql(server, `SELECT COUNT(*) FROM messages WHERE ticket_id = ${t.json.id}`)[0][0], '1');
  });

  test('internal reply ⇒ stored as an internal note, never sent to the customer', async () => {
    const { s: visitor, conv } = await chatConversation();
    const ag = await agentSocket(agA1.token);
    const note = await replyFrame(ag, { ticket_id: conv, body: 'NOTE: customer sounds angry', internal: true });
    assert.equal(note.type, 'ack', JSON.stringify(note));
    const [internal, direction] = sql(server, `SELECT internal, direction FROM messages WHERE id = ${note.message_id}`)[0];
    assert.equal(internal, '1');
    assert.ok(direction === 'out' || direction === 'in', direction);
    // No outbox row for a note.
    const outbox = sql(server, 'SELECT COUNT(*) FROM outbox WHERE message_id = ' + note.message_id);
    assert.equal(outbox[0][0], '0', 'a note was queued for sending');
    const pub = await replyFrame(ag, { ticket_id: conv, body: 'public after the note', internal: false });
    assert.equal(pub.type, 'ack', JSON.stringify(pub));
    await visitor.waitFor((f) => f.type === 'message' && f.message_id === pub.message_id, 3000, 'public reply');
    await sleep(200);
    const leaked = visitor.frames.filter((f) => f.message_id === note.message_id || JSON.stringify(f).includes('NOTE: customer'));
    assert.deepEqual(leaked, [], 'internal note reached the customer');
    // Nor on resume.
    visitor.ws.terminate();
    const back = track(await wsOpen(server, '/ws/chat'));
    back.send({ type: 'hello', visitor_token: visitor.welcome.visitor_token });
    await back.waitFor((f) => f.type === 'synced', 3000, 'synced');
    assert.ok(!back.frames.some((f) => f.message_id === note.message_id || JSON.stringify(f).includes('NOTE: customer')),
      JSON.stringify(back.frames));
    // Agents who can see the ticket do see the note (REST).
    const msgs = await api(server, agA1.token).get(`/api/v1/tickets/${conv}/messages`);
    assert.equal(msgs.status, 200, msgs.text);
    const items = Array.isArray(msgs.json) ? msgs.json : msgs.json.items;
    assert.ok(items.some((m) => m.id === note.message_id && m.internal === true), JSON.stringify(items));
  });

  test('a reply to a ticket outside the agent\'s scope ⇒ error with the client_id; nothing stored, nothing sent', async () => {
    const { s: visitor, conv } = await chatConversation();
    await patchTicket(conv, { team_id: teamA.id });
    const sB = await agentSocket(agB.token);
    const before = msgCount(conv);
    let e = await replyFrame(sB, { ticket_id: conv, body: 'B meddling with team A' });
    assert.equal(e.type, 'error', `team B agent replied on a team A ticket: ${JSON.stringify(e)}`);
    assert.equal(typeof e.code, 'string');
    // Assigned to A one: A two (same team) may not reply either.
    await patchTicket(conv, { assignee_id: agA1.id });
    const sA2 = await agentSocket(agA2.token);
    e = await replyFrame(sA2, { ticket_id: conv, body: 'A two meddling with A one\'s ticket' });
    assert.equal(e.type, 'error', `agent replied on a colleague's ticket: ${JSON.stringify(e)}`);
    // No such ticket.
    e = await replyFrame(sA2, { ticket_id: 999999999, body: 'nowhere' });
    assert.equal(e.type, 'error', JSON.stringify(e));
    assert.equal(e.code, 'not_found');
    assert.equal(msgCount(conv), before, 'refused replies were stored');
    await sleep(200);
    assert.ok(!visitor.frames.some((f) => f.type === 'message' && /meddling/.test(f.body)), JSON.stringify(visitor.frames));
    // The answer is the same for "outside scope" and "no such ticket" (no existence oracle).
    const e1 = await replyFrame(sB, { ticket_id: conv, body: 'probe' });
    assert.equal(e1.code, e.code, `outside scope answers ${e1.code}, no such ticket ${e.code}`);
    // The assignee may.
    const sA1 = await agentSocket(agA1.token);
    const ok = await replyFrame(sA1, { ticket_id: conv, body: 'mine' });
    assert.equal(ok.type, 'ack', JSON.stringify(ok));
  });

  test('bad reply frames ⇒ error invalid with the client_id; nothing stored', async () => {
    const { conv } = await chatConversation();
    const ag = await agentSocket(agA1.token);
    const before = msgCount(conv);
    for (const bad of [{ ticket_id: conv, body: '' }, { ticket_id: conv }, { ticket_id: 'abc', body: 'x' }, { body: 'no ticket' },
      { ticket_id: conv, body: 'x', internal: 'yes' }]) {
      const e = await replyFrame(ag, bad);
      assert.equal(e.type, 'error', `${JSON.stringify(bad)}: ${JSON.stringify(e)}`);
      assert.equal(e.code, 'invalid', `${JSON.stringify(bad)}: ${JSON.stringify(e)}`);
    }
    assert.equal(msgCount(conv), before);
  });

  test('accept an unassigned ticket ⇒ accepted and ticket.assigned; a second agent ⇒ not_available', async () => {
    const { conv } = await chatConversation('who will take me?');
    const s1 = await agentSocket(agA1.token);
    const s2 = await agentSocket(agB.token);
    s1.send({ type: 'accept', ticket_id: conv });
    const acc = await s1.waitFor((f) => f.type === 'accepted' || f.type === 'error', 3000, 'accepted');
    assert.equal(acc.type, 'accepted', JSON.stringify(acc));
    const ev = await s1.waitFor((f) => f.type === 'ticket.assigned' && f.ticket_id === conv, 3000, 'ticket.assigned');
    assert.equal(typeof ev.event_id, 'number');
    assert.equal(sql(server, `SELECT assignee_id FROM tickets WHERE id = ${conv}`)[0][0], String(agA1.id));
    // Accepting one's own ticket again is fine.
    let from = s1.frames.length;
    s1.send({ type: 'accept', ticket_id: conv });
    const again = await s1.waitFor((f) => f.type === 'accepted' || f.type === 'error', 3000, 'accepted again', from);
    assert.equal(again.type, 'accepted', JSON.stringify(again));
    // Someone else: not_available, and the ticket stays with A one.
    from = s2.frames.length;
    s2.send({ type: 'accept', ticket_id: conv });
    const no = await s2.waitFor((f) => f.type === 'accepted' || f.type === 'error', 3000, 'not_available', from);
    assert.equal(no.type, 'error', JSON.stringify(no));
    assert.equal(no.code, 'not_available', JSON.stringify(no));
    assert.equal(sql(server, `SELECT assignee_id FROM tickets WHERE id = ${conv}`)[0][0], String(agA1.id));
    // A ticket that does not exist.
    from = s2.frames.length;
    s2.send({ type: 'accept', ticket_id: 999999999 });
    const none = await s2.waitFor((f) => f.type === 'accepted' || f.type === 'error', 3000, 'error for a missing ticket', from);
    assert.equal(none.type, 'error', JSON.stringify(none));
  });

  test('two agents accepting the same ticket at once: exactly one wins', async () => {
    for (let round = 0; round < 5; round++) {
      const { conv } = await chatConversation(`race ${round}`);
      const s1 = await agentSocket(agA1.token);
      const s2 = await agentSocket(agA2.token);
      s1.send({ type: 'accept', ticket_id: conv });
      s2.send({ type: 'accept', ticket_id: conv });
      const [r1, r2] = await Promise.all([s1, s2].map((s) => s.waitFor((f) => f.type === 'accepted' || f.type === 'error', 3000, 'accept answer')));
      const winners = [r1, r2].filter((f) => f.type === 'accepted');
      assert.equal(winners.length, 1, `round ${round}: ${JSON.stringify([r1, r2])}`);
      const loser = [r1, r2].find((f) => f.type === 'error');
      assert.equal(loser.code, 'not_available');
      const winner = r1.type === 'accepted' ? agA1 : agA2;
      assert.equal(sql(server, `SELECT assignee_id FROM tickets WHERE id = ${conv}`)[0][0], String(winner.id));
      s1.ws.close();
      s2.ws.close();
    }
  });

  test('an agent of team A receives no events or typing of a team B ticket', async () => {
    const cust = await a.post('/api/v1/customers', { name: 'Team scope customer', email: `scope-${crypto.randomBytes(3).toString('hex')}@example.com` });
    assert.equal(cust.status, 201, cust.text);
    const sA = await agentSocket(agA1.token);
    const sB = await agentSocket(agB.token);
    const mk = async (team, subject) => {
      const r = await a.post('/api/v1/tickets', { customer_id: cust.json.id, channel: 'email', subject, team_id: team.id });
      assert.equal(r.status, 201, r.text);
      return r.json;
    };
    const tB = await mk(teamB, 'team B business');
    const tA = await mk(teamA, 'team A business');
    // Team B ticket: created, a message, an update. Team B's agent sees them (unassigned in its team).
    let r = await a.post(`/api/v1/tickets/${tB.id}/messages`, { body_text: 'SECRET B reply', internal: false });
    assert.equal(r.status, 201, r.text);
    r = await a.post(`/api/v1/tickets/${tB.id}/messages`, { body_text: 'SECRET B note', internal: true });
    assert.equal(r.status, 201, r.text);
    await patchTicket(tB.id, { priority: 'urgent' });
    await sB.waitFor((f) => f.type === 'message.created' && f.ticket_id === tB.id, 3000, 'message.created of tB for B');
    await sB.waitFor((f) => f.type === 'ticket.updated' && f.ticket_id === tB.id, 3000, 'ticket.updated of tB for B');
    // A chat conversation moved to team B: customer typing goes to B only.
    const { s: visitorB, conv: convB } = await chatConversation('chat for team B');
    await patchTicket(convB, { team_id: teamB.id });
    // (Before the move the conversation had no team: every agent saw its first events.)
    const moved = await sB.waitFor((f) => f.type === 'ticket.updated' && f.ticket_id === convB, 3000, 'ticket.updated of convB for B');
    visitorB.send({ type: 'typing', typing: true });
    await sB.waitFor((f) => f.type === 'typing' && f.ticket_id === convB, 3000, 'customer typing of convB for B');
    const vcid = newCid('vb');
    visitorB.send({ type: 'message', client_id: vcid, body: 'SECRET B chat message' });
    const vack = await visitorB.waitFor((f) => f.type === 'ack' && f.client_id === vcid, 3000, 'visitor B ack');
    await sB.waitFor((f) => f.type === 'message.created' && f.ticket_id === convB && f.event_id > moved.event_id, 3000, 'convB message for B');
    assert.ok(vack.message_id > 0);
    // A's own ticket as a marker: once A has it, everything earlier has been fanned out.
    r = await a.post(`/api/v1/tickets/${tA.id}/messages`, { body_text: 'for team A', internal: false });
    assert.equal(r.status, 201, r.text);
    await sA.waitFor((f) => f.type === 'message.created' && f.ticket_id === tA.id, 3000, 'marker for A');
    await sleep(200);
    const leaked = sA.frames.filter((f) => f.ticket_id === tB.id || JSON.stringify(f).includes('SECRET B')
      || (f.ticket_id === convB && (f.type === 'typing' || !(f.event_id < moved.event_id))));
    assert.deepEqual(leaked, [], 'team A agent received team B events');
    assert.ok(!sB.frames.some((f) => f.ticket_id === tA.id), 'team B agent received team A events');

    // Team A's agent typing into team B's chat reaches nobody.
    const from = visitorB.frames.length;
    sA.send({ type: 'typing', ticket_id: convB, typing: true });
    sB.send({ type: 'typing', ticket_id: convB, typing: false });
    const t = await visitorB.waitFor((f) => f.type === 'typing', 3000, 'typing from B', from);
    assert.equal(t.typing, false, 'team A agent typed into team B\'s chat');
    await sleep(200);
    assert.ok(!visitorB.frames.slice(from).some((f) => f.type === 'typing' && f.typing === true),
      `typing of an out-of-scope agent reached the customer: ${JSON.stringify(visitorB.frames.slice(from))}`);
  });

  test('typing follows the conversation\'s assignment (assign, update, unassign)', async () => {
    const { s: visitor, conv } = await chatConversation('typing routing');
    const sA1 = await agentSocket(agA1.token);
    const sA2 = await agentSocket(agA2.token);
    const sB = await agentSocket(agB.token);
    const typingOf = (s, from) => s.frames.slice(from).filter((f) => f.type === 'typing' && f.ticket_id === conv);
    const round = async (expectTo, expectNot, what) => {
      const marks = [sA1, sA2, sB].map((s) => s.frames.length);
      visitor.send({ type: 'typing', typing: true });
      for (const s of expectTo) await s.waitFor((f) => f.type === 'typing' && f.ticket_id === conv, 3000, `typing (${what})`, marks[[sA1, sA2, sB].indexOf(s)]);
      await sleep(200);
      for (const s of expectNot) {
        const got = typingOf(s, marks[[sA1, sA2, sB].indexOf(s)]);
        assert.deepEqual(got, [], `${what}: typing reached an agent who cannot see the conversation`);
      }
    };
    // Unassigned, no team: every agent may take it.
    await round([sA1, sA2, sB], [], 'unassigned, no team');
    await patchTicket(conv, { team_id: teamA.id, assignee_id: agA1.id });
    await sA1.waitFor((f) => f.type === 'ticket.assigned' && f.ticket_id === conv, 3000, 'ticket.assigned');
    await round([sA1], [sA2, sB], 'assigned to A one');
    // An unrelated update must not lose the assignment.
    await patchTicket(conv, { priority: 'high' });
    await sA1.waitFor((f) => f.type === 'ticket.updated' && f.ticket_id === conv, 3000, 'ticket.updated');
    await round([sA1], [sA2, sB], 'after a priority change');
    // Unassigned again (team A): team A's agents, not team B's.
    await patchTicket(conv, { assignee_id: null });
    await sA2.waitFor((f) => f.ticket_id === conv && /^ticket\./.test(f.type) && f.event_id, 3000, 'event of the unassignment for A two');
    await sleep(200);
    await round([sA1, sA2], [sB], 'unassigned in team A');
  });

  test('an unauthenticated socket sending reply ⇒ closed 4401, nothing stored', async () => {
    const { conv } = await chatConversation();
    const before = msgCount(conv);
    const s = track(await wsOpen(server, '/ws/agent'));
    s.send({ type: 'reply', client_id: newCid(), ticket_id: conv, body: 'sneaky unauthenticated reply' });
    const c = await withTimeout(s.closed, 3000, 'close of an unauthenticated socket');
    assert.equal(c.code, 4401, JSON.stringify(c));
    assert.ok(!s.frames.some((f) => f.type === 'ack'), JSON.stringify(s.frames));
    assert.equal(msgCount(conv), before);
    // A reply sent right behind a bogus auth frame is not processed either.
    const s2 = track(await wsOpen(server, '/ws/agent'));
    s2.send({ type: 'auth', token: 'not-a-token' });
    s2.send({ type: 'reply', client_id: newCid(), ticket_id: conv, body: 'sneaky after bad auth' });
    const c2 = await withTimeout(s2.closed, 3000, 'close after a bad token');
    assert.equal(c2.code, 4401, JSON.stringify(c2));
    await sleep(200);
    assert.equal(msgCount(conv), before);
  });

  test('a deactivated agent (active:false "logs them out") or a logged-out session loses its open socket', async () => {
    const gone = await createAgent(server, admin.token, { name: 'Leaving employee' });
    const out = await createAgent(server, admin.token, { name: 'Logs out' });
    const sGone = await agentSocket(gone.token);
    const sOut = await agentSocket(out.token);
    let r = await a.patch(`/api/v1/agents/${gone.id}`, { active: false });
    assert.equal(r.status, 200, r.text);
    r = await api(server, out.token).post('/api/v1/auth/logout', {});
    assert.equal(r.status, 204, r.text);
    const marks = [sGone.frames.length, sOut.frames.length];
    // A new conversation arrives; both try to answer it.
    const { s: visitor, conv } = await chatConversation('is anybody still there?');
    sGone.send({ type: 'reply', client_id: newCid(), ticket_id: conv, body: 'reply from a deactivated agent' });
    sOut.send({ type: 'reply', client_id: newCid(), ticket_id: conv, body: 'reply from a logged-out session' });
    const results = await Promise.all([sGone, sOut].map((s) => withTimeout(s.closed, 5000, 'close of the socket').catch((e) => ({ error: e.message }))));
    await sleep(200);
    const stored = sql(server, `SELECT author_id, body_text FROM messages WHERE ticket_id = ${conv} AND author_type = 'agent'`);
    assert.deepEqual(stored, [], 'a deactivated / logged-out agent replied to a customer');
    assert.ok(!visitor.frames.some((f) => f.type === 'message' && f.from === 'agent'), JSON.stringify(visitor.frames));
    for (const [k, s] of [sGone, sOut].entries()) {
      const what = k === 0 ? 'deactivated agent' : 'logged-out session';
      const leaked = s.frames.slice(marks[k]).filter((f) => f.ticket_id === conv);
      assert.deepEqual(leaked, [], `${what} still receives events`);
      assert.equal(results[k].code, 4401, `${what}: socket not closed with 4401: ${JSON.stringify(results[k])}`);
    }
  });

  test('an agent moved from team A to team B stops receiving team A events on its open socket', async () => {
    const mover = await createAgent(server, admin.token, { name: 'Mover', team_id: teamA.id });
    const s = await agentSocket(mover.token);
    const cust = await a.post('/api/v1/customers', { name: 'Mover customer', email: `mover-${crypto.randomBytes(3).toString('hex')}@example.com` });
    assert.equal(cust.status, 201, cust.text);
    const mk = async (team, subject) => {
      const r = await a.post('/api/v1/tickets', { customer_id: cust.json.id, channel: 'email', subject, team_id: team.id });
      assert.equal(r.status, 201, r.text);
      return r.json;
    };
    const before = await mk(teamA, 'team A, while a member');
    await s.waitFor((f) => f.ticket_id === before.id, 3000, 'team A event while in team A');
    const ref = await agentSocket(agA1.token);
    const r = await a.patch(`/api/v1/agents/${mover.id}`, { team_id: teamB.id });
    assert.equal(r.status, 200, r.text);
    const mark = s.frames.length;
    const oldTeam = await mk(teamA, 'team A, after the move');
    const newTeam = await mk(teamB, 'team B, after the move');
    // Reference: a team A agent got the old-team ticket, so its events have been fanned out.
    await ref.waitFor((f) => f.ticket_id === oldTeam.id, 3000, 'reference event for team A');
    await sleep(200);
    const got = s.frames.slice(mark).filter((f) => f.ticket_id === oldTeam.id);
    assert.deepEqual(got, [], 'events of the old team still reach a moved agent');
    // Reassure: the new team's events do arrive (after reconnecting, at least).
    const again = await agentSocket(mover.token);
    let r2 = await a.post(`/api/v1/tickets/${newTeam.id}/messages`, { body_text: 'for the new team', internal: true });
    assert.equal(r2.status, 201, r2.text);
    await again.waitFor((f) => f.ticket_id === newTeam.id, 3000, 'new team event after reconnect');
    r2 = await a.post(`/api/v1/tickets/${oldTeam.id}/messages`, { body_text: 'old team again', internal: true });
    assert.equal(r2.status, 201, r2.text);
    await sleep(300);
    assert.ok(!again.frames.some((f) => f.ticket_id === oldTeam.id), 'a fresh socket of the moved agent gets old team events');
  });

  test('a wrong Origin is rejected at the handshake; the right one works', async () => {
    for (const origin of ['http://evil.example', `${server.url}.evil.example`, server.url.replace('127.0.0.1', 'localhost')]) {
      await assert.rejects(wsOpen(server, '/ws/agent', { origin }), (err) => {
        assert.ok(err.statusCode === undefined || (err.statusCode >= 400 && err.statusCode < 500), err.message);
        return true;
      }, `origin ${origin} accepted`);
    }
    // Even with a valid session cookie: a cross-site page must not ride the cookie.
    await assert.rejects(wsOpen(server, '/ws/agent', { origin: 'http://evil.example', headers: { Cookie: `sb_session=${agA1.token}` } }),
      () => true, 'cross-origin upgrade with a cookie accepted');
    const s = await agentSocket(agA1.token, { origin: server.url });
    s.send({ type: 'ping' });
    await s.waitFor((f) => f.type === 'pong', 2000, 'pong');
  });

  /** Resolves right after the agent's heartbeat_at changed (so its age is known to be ~0). */
  const nextHeartbeat = async (agentId) => {
    const hb = () => (sql(server, `SELECT heartbeat_at FROM agent_presence WHERE agent_id = ${agentId}`)[0] || [null])[0];
    const first = hb();
    const t0 = Date.now();
    while (hb() === first) {
      if (Date.now() - t0 > 5000) assert.fail(`heartbeat_at of agent ${agentId} not refreshed within 5 s (stuck at ${first})`);
      await sleep(25);
    }
  };
  const offlineEvents = (agentId) => Number(sql(server, `SELECT COUNT(*) FROM events WHERE kind = 'agent.presence'
    AND agent_id = ${agentId} AND JSON_VALUE(payload, '$.status') = 'offline'`)[0][0]);

  test('presence: frames update agent_presence; the heartbeat stays fresh; the last socket closing ⇒ offline after the grace period', async () => {
    const ag = await createAgent(server, admin.token, { name: 'Presence', team_id: teamA.id });
    const presence = () => sql(server, `SELECT status, heartbeat_at FROM agent_presence WHERE agent_id = ${ag.id}`)[0] || [null, null];
    const s1 = await agentSocket(ag.token);
    const s2 = await agentSocket(ag.token);
    const setStatus = async (s, status) => {
      const from = s.frames.length;
      s.send({ type: 'presence', status });
      const ok = await s.waitFor((f) => f.type === 'presence_ok' || f.type === 'error', 3000, `presence_ok ${status}`, from);
      assert.equal(ok.type, 'presence_ok', JSON.stringify(ok));
      assert.equal(presence()[0], status, `agent_presence after presence ${status}`);
    };
    await setStatus(s1, 'away');
    await setStatus(s1, 'online');
    // A bad status is refused and changes nothing.
    let from = s1.frames.length;
    s1.send({ type: 'presence', status: 'sleeping' });
    const bad = await s1.waitFor((f) => f.type === 'error', 3000, 'error for a bad status', from);
    assert.equal(bad.code, 'invalid', JSON.stringify(bad));
    assert.equal(presence()[0], 'online');
    const hb1 = presence()[1];
    assert.ok(hb1, 'no heartbeat_at');
    // One socket goes; the other keeps the agent online well past the grace period, heartbeat fresh.
    s1.ws.close();
    await s1.closed;
    const t0 = Date.now();
    while (Date.now() - t0 < 4000) {
      assert.equal(presence()[0], 'online', `went offline ${Date.now() - t0} ms after one of two sockets closed`);
      await sleep(100);
    }
    const hb2 = presence()[1];
    assert.ok(hb2 > hb1, `heartbeat not refreshed: ${hb1} → ${hb2}`);
    assert.equal(offlineEvents(ag.id), 0, 'an offline event while a socket was open');
    from = s2.frames.length;
    s2.send({ type: 'ping' });
    await s2.waitFor((f) => f.type === 'pong', 2000, 'pong', from);
    // The last socket goes (well after its last heartbeat): offline only after the grace
    // period of 2 s counted from the close ("when all of an agent's sockets are gone it goes
    // offline after presence_grace_secs"), not at once.
    await nextHeartbeat(ag.id);
    await sleep(1700);
    s2.ws.close();
    await s2.closed;
    const closedAt = Date.now();
    let status = presence()[0];
    while (status !== 'offline' && Date.now() - closedAt < 10000) {
      await sleep(100);
      status = presence()[0];
    }
    const after = Date.now() - closedAt;
    assert.equal(status, 'offline', `still ${status} 10 s after the last socket closed`);
    assert.equal(offlineEvents(ag.id), 1, 'agent.presence offline event');
    assert.ok(after >= 1500, `offline ${after} ms after the last socket closed: the 2 s grace period was not granted`);
    // Coming back: online again.
    const s3 = await agentSocket(ag.token);
    await setStatus(s3, 'online');
  });

  test('a quick reconnect within the grace period keeps the agent online', async () => {
    const ag = await createAgent(server, admin.token, { name: 'Flaky network' });
    const s1 = await agentSocket(ag.token);
    s1.send({ type: 'presence', status: 'online' });
    await s1.waitFor((f) => f.type === 'presence_ok', 3000, 'presence_ok');
    // Drop the connection some time after the last heartbeat, as a page reload would.
    await nextHeartbeat(ag.id);
    await sleep(1800);
    s1.ws.terminate();
    await s1.closed;
    const t0 = Date.now();
    while (Date.now() - t0 < 1200) {
      const st = sql(server, `SELECT status FROM agent_presence WHERE agent_id = ${ag.id}`)[0][0];
      assert.equal(st, 'online', `status ${st} ${Date.now() - t0} ms into a 1.2 s outage (grace 2 s)`);
      await sleep(100);
    }
    const s2 = await agentSocket(ag.token);
    while (Date.now() - t0 < 4500) {
      const st = sql(server, `SELECT status FROM agent_presence WHERE agent_id = ${ag.id}`)[0][0];
      assert.equal(st, 'online', `status ${st} ${Date.now() - t0} ms after the drop (1.2 s outage, grace 2 s)`);
      await sleep(100);
    }
    assert.equal(offlineEvents(ag.id), 0, 'a reconnect within the grace period produced an offline event');
    s2.ws.close();
  });

  test('an event whose transaction commits after a later one and after the gap grace (a slow group commit) is pushed late, not lost', async () => {
    const ag = await agentSocket(admin.token);
    const c = await a.post('/api/v1/customers', { name: 'Gap test 间隙' });
    assert.equal(c.status, 201, c.text);
    const t = await a.post('/api/v1/tickets', { customer_id: c.json.id, channel: 'email', subject: 'gap test' });
    assert.equal(t.status, 201, t.text);
    // a transaction takes its event id now and commits 2.5 s later (the tailer's grace is 1 s)
    const env = server.env;
    const slow = spawn('mariadb', ['--no-defaults', `--user=${env.SWITCHBOARD_DATABASE_USER}`, `--password=${env.SWITCHBOARD_DATABASE_PASSWORD}`,
      `--socket=${env.SWITCHBOARD_DATABASE_SOCKET}`, `--database=${server.dbName}`], { stdio: ['pipe', 'ignore', 'inherit'] });
    const exited = new Promise((r) => slow.on('exit', r));
    slow.stdin.end(`BEGIN; INSERT INTO events (kind, ticket_id, payload) VALUES ('ticket.updated', ${t.json.id}, '{"marker":"slow-tx"}'); ` +
      'DO SLEEP(2.5); COMMIT;');
    await sleep(400);
    // meanwhile an ordinary change commits a later id, which is pushed at once
    const from = ag.frames.length;
    const m = await a.post(`/api/v1/tickets/${t.json.id}/messages`, { body_text: 'fast one', internal: true });
    assert.equal(m.status, 201, m.text);
    await ag.waitFor((f) => f.type === 'message.created' && JSON.stringify(f).includes('fast one'), 5000, 'the later event', from);
    assert.equal(await exited, 0, 'the slow transaction committed');
    const [[slowId, fastId]] = sql(server, "SELECT MAX(IF(payload LIKE '%slow-tx%', id, 0)), MAX(IF(kind = 'message.created', id, 0)) FROM events");
    assert.ok(Number(slowId) < Number(fastId), `the slow event has the lower id (${slowId} < ${fastId})`);
    const late = await ag.waitFor((f) => f.marker === 'slow-tx', 5000, 'the slow event, late', from);
    assert.equal(late.ticket_id, t.json.id, JSON.stringify(late));
    assert.match(server.logs(), /event=late_delivered id=\d+/);
  });

  test('invalid JSON ⇒ error and the socket stays usable; unknown type ⇒ error unknown_type', async () => {
    const s = await agentSocket(agA1.token);
    for (const bad of ['{not json', '[]', '"str"', '{"no":"type"}']) {
      const from = s.frames.length;
      s.raw(bad);
      const e = await s.waitFor((f) => f.type === 'error', 3000, `error for ${bad}`, from);
      assert.equal(typeof e.code, 'string', JSON.stringify(e));
      assert.equal(typeof e.message, 'string', JSON.stringify(e));
      assert.equal(s.ws.readyState, WebSocket.OPEN, `closed after ${bad}`);
    }
    let from = s.frames.length;
    s.send({ type: 'launch_missiles' });
    const u = await s.waitFor((f) => f.type === 'error', 3000, 'unknown_type', from);
    assert.equal(u.code, 'unknown_type', JSON.stringify(u));
    from = s.frames.length;
    s.send({ type: 'ping' });
    await s.waitFor((f) => f.type === 'pong', 2000, 'pong after bad frames', from);
    // And a real reply still works.
    const { conv } = await chatConversation();
    const ok = await replyFrame(s, { ticket_id: conv, body: 'after garbage' });
    assert.equal(ok.type, 'ack', JSON.stringify(ok));
  });
});
