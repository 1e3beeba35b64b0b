'use strict';
// tickets.test.js — the ticket API of the Foundation issue (item 7: "tickets (create, read
// with messages, update status/priority/assignee/team, list with filters)"), replies that
// need a customer address on the ticket's channel (reply + outbox row in one
// transaction), internal notes, and the ticket data scope of DESIGN.md section 10 (agent:
// assigned to them or unassigned in their team; sales: their customers; others ⇒ 404).
const test = require('node:test');
const assert = require('node:assert/strict');
const {
  startServer, bootstrapAdmin, api, sql, dropDatabase, createAgent, counts, expectError,
} = require('./harness');

test.describe('tickets', () => {
  let server;
  let admin;
  let a;
  let cust; // has email and phone
  let bare; // no identities

  test.before(async () => {
    server = await startServer();
    admin = await bootstrapAdmin(server);
    a = api(server, admin.token);
    cust = (await a.post('/api/v1/customers', { name: '刘洋', email: 'liu@example.com', phone: '13511112222' })).json;
    bare = (await a.post('/api/v1/customers', { name: 'No address' })).json;
    assert.ok(cust && bare);
  });
  test.after(async () => {
    if (server) {
      await server.stop();
      dropDatabase(server);
    }
  });

  test('create, read with messages, defaults and Unicode round trip', async () => {
    const r = await a.post('/api/v1/tickets', { customer_id: cust.id, channel: 'email', subject: '发票问题 🧾 <b>bold</b>' });
    assert.equal(r.status, 201, r.text);
    assert.equal(r.json.status, 'new');
    assert.equal(r.json.priority, 'normal');
    assert.equal(r.json.subject, '发票问题 🧾 <b>bold</b>');
    assert.equal(r.json.customer_id, cust.id);
    const g = await a.get(`/api/v1/tickets/${r.json.id}`);
    assert.equal(g.status, 200, g.text);
    assert.deepEqual(g.json.messages, []);
    assert.equal(g.json.subject, '发票问题 🧾 <b>bold</b>');
    assert.equal(sql(server, `SELECT COUNT(*) FROM events WHERE kind = 'ticket.created' AND ticket_id = ${r.json.id}`)[0][0], '1');
  });

  test('read with messages: each message carries its own attachments, in order; the others none', async () => {
    const t = (await a.post('/api/v1/tickets', { customer_id: cust.id, channel: 'email', subject: 'files' })).json;
    sql(server, 'INSERT INTO messages (ticket_id, customer_id, direction, channel, author_type, body_text) VALUES ' +
      [1, 2, 3].map((i) => `(${t.id}, ${cust.id}, 'in', 'email', 'customer', 'm${i}')`).join(','));
    const mids = sql(server, `SELECT id FROM messages WHERE ticket_id = ${t.id} ORDER BY id`).map((r) => Number(r[0]));
    // the middle message has two files (inserted out of order), the last one a link; another ticket's file must not show
    const other = (await a.post('/api/v1/tickets', { customer_id: cust.id, channel: 'email', subject: 'other' })).json;
    sql(server, `INSERT INTO messages (ticket_id, customer_id, direction, channel, author_type, body_text) VALUES (${other.id}, ${cust.id}, 'in', 'email', 'customer', 'x')`);
    const [[otherMid]] = sql(server, `SELECT MAX(id) FROM messages WHERE ticket_id = ${other.id}`);
    sql(server, 'INSERT INTO attachments (message_id, filename, content_type, size, sha256, storage, url) VALUES ' +
      `(${mids[1]}, 'b.pdf', 'application/pdf', 20, '${'b'.repeat(64)}', 'db', NULL), ` +
      `(${mids[1]}, '发票.png', 'image/png', 10, '${'a'.repeat(64)}', 'db', NULL), ` +
      `(${mids[2]}, NULL, 'image/jpeg', 0, NULL, NULL, 'https://media.example.com/1.jpg'), ` +
      `(${otherMid}, 'secret.txt', 'text/plain', 1, NULL, NULL, NULL)`);
    const g = await a.get(`/api/v1/tickets/${t.id}`);
    assert.equal(g.status, 200, g.text);
    assert.deepEqual(g.json.messages.map((m) => m.id), mids);
    assert.deepEqual(g.json.messages[0].attachments, []);
    assert.deepEqual(g.json.messages[1].attachments.map((x) => [x.filename, x.content_type, x.size, x.stored, x.url]),
      [['b.pdf', 'application/pdf', 20, true, null], ['发票.png', 'image/png', 10, true, null]]);
    assert.deepEqual(g.json.messages[2].attachments.map((x) => [x.filename, x.stored, x.url]),
      [[null, false, 'https://media.example.com/1.jpg']]);
    for (const m of g.json.messages) {
      assert.equal(m.has_attachments, undefined, 'no helper column leaks');
      for (const x of m.attachments) assert.deepEqual(Object.keys(x).sort(), ['content_type', 'filename', 'id', 'sha256', 'size', 'stored', 'url']);
    }
    const list = await a.get(`/api/v1/tickets/${t.id}/messages`);
    assert.equal(list.status, 200, list.text);
    assert.deepEqual(list.json.items, g.json.messages);
  });

  test('invalid tickets ⇒ 422 naming each field, nothing written', async () => {
    const before = counts(server, ['tickets', 'events', 'messages']);
    let r = await a.post('/api/v1/tickets', { customer_id: cust.id, channel: 'pigeon', subject: 'x', priority: 'asap' });
    let e = expectError(r, 422);
    assert.ok(e.fields.channel && e.fields.priority, r.text);
    r = await a.post('/api/v1/tickets', { channel: 'email', subject: 'x' });
    e = expectError(r, 422);
    assert.ok(e.fields.customer_id, r.text);
    r = await a.post('/api/v1/tickets', { customer_id: cust.id, channel: 'email', assignee_id: 999999, team_id: 999999 });
    e = expectError(r, 422);
    assert.ok(e.fields.assignee_id && e.fields.team_id, r.text);
    r = await a.post('/api/v1/tickets', { customer_id: cust.id, channel: 'email', status: 'open', bogus: 1 });
    expectError(r, 422);
    assert.deepEqual(counts(server, ['tickets', 'events', 'messages']), before);
  });

  test('PATCH status, priority, subject, team and assignee', async () => {
    const team = (await a.post('/api/v1/teams', { name: '售后', description: 'after-sales' })).json;
    const ag = await createAgent(server, admin.token, { role: 'agent', team_id: team.id });
    const t = (await a.post('/api/v1/tickets', { customer_id: cust.id, channel: 'sms', subject: 'before' })).json;
    let r = await a.patch(`/api/v1/tickets/${t.id}`, { status: 'open', priority: 'urgent', subject: '之后', team_id: team.id, assignee_id: ag.id });
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.status, 'open');
    assert.equal(r.json.priority, 'urgent');
    assert.equal(r.json.subject, '之后');
    assert.equal(r.json.team_id, team.id);
    assert.equal(r.json.assignee_id, ag.id);
    r = await a.patch(`/api/v1/tickets/${t.id}`, { status: 'solved' });
    assert.equal(r.status, 200, r.text);
    assert.ok(r.json.solved_at, 'solved_at not set');
    r = await a.patch(`/api/v1/tickets/${t.id}`, { assignee_id: null });
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.assignee_id, null);
    const bad = await a.patch(`/api/v1/tickets/${t.id}`, { status: 'exploded' });
    assert.ok(expectError(bad, 422).fields.status, bad.text);
    const kinds = sql(server, `SELECT kind FROM events WHERE ticket_id = ${t.id} ORDER BY id`).map((x) => x[0]);
    assert.ok(kinds.includes('ticket.assigned'), kinds.join());
    assert.ok(kinds.includes('ticket.unassigned'), kinds.join());
    assert.ok(kinds.includes('ticket.updated'), kinds.join());
  });

  test('replies need an address on the channel; a reply and its outbox row commit together', async () => {
    const t = (await a.post('/api/v1/tickets', { customer_id: cust.id, channel: 'email', subject: 'reply' })).json;
    const before = counts(server, ['messages', 'outbox']);
    const r = await a.post(`/api/v1/tickets/${t.id}/messages`, { body_text: '您好，已处理 ✅', internal: false });
    assert.equal(r.status, 201, r.text);
    assert.equal(r.json.direction, 'out');
    assert.equal(r.json.body_text, '您好，已处理 ✅');
    assert.equal(r.json.internal, false);
    assert.deepEqual(counts(server, ['messages', 'outbox']), { messages: before.messages + 1, outbox: before.outbox + 1 });
    const [[recipient]] = sql(server, 'SELECT recipient FROM outbox ORDER BY id DESC LIMIT 1');
    assert.equal(recipient, 'liu@example.com');
    const g = await a.get(`/api/v1/tickets/${t.id}`);
    assert.deepEqual(g.json.messages.map((m) => m.body_text), ['您好，已处理 ✅']);
    const msgs = await a.get(`/api/v1/tickets/${t.id}/messages`);
    assert.equal(msgs.status, 200, msgs.text);
    const list = Array.isArray(msgs.json) ? msgs.json : msgs.json.items;
    assert.deepEqual(list.map((m) => m.id), [r.json.id]);

    // SMS reply goes to the phone.
    const ts = (await a.post('/api/v1/tickets', { customer_id: cust.id, channel: 'sms', subject: 'sms' })).json;
    const rs = await a.post(`/api/v1/tickets/${ts.id}/messages`, { body_text: '短信回复' });
    assert.equal(rs.status, 201, rs.text);
    assert.equal(sql(server, 'SELECT recipient FROM outbox ORDER BY id DESC LIMIT 1')[0][0], '+8613511112222');

    // No address on the channel ⇒ 422, nothing written.
    const tb = (await a.post('/api/v1/tickets', { customer_id: bare.id, channel: 'email', subject: 'nowhere' })).json;
    const mid = counts(server, ['messages', 'outbox', 'events']);
    const nr = await a.post(`/api/v1/tickets/${tb.id}/messages`, { body_text: 'hello?' });
    expectError(nr, 422);
    assert.deepEqual(counts(server, ['messages', 'outbox', 'events']), mid);
    // An internal note needs no address and queues nothing.
    const note = await a.post(`/api/v1/tickets/${tb.id}/messages`, { body_text: '内部备注', internal: true });
    assert.equal(note.status, 201, note.text);
    assert.equal(note.json.internal, true);
    assert.equal(counts(server, ['outbox']).outbox, mid.outbox);
    // Empty bodies are refused.
    const empty = await a.post(`/api/v1/tickets/${t.id}/messages`, { body_text: '' });
    assert.ok(expectError(empty, 422).fields.body_text, empty.text);
  });

  test('list filters and pagination', async () => {
    const ag = await createAgent(server, admin.token, { role: 'agent' });
    const other = (await a.post('/api/v1/customers', { name: 'Filter customer', email: 'filter@example.com' })).json;
    const mk = async (body) => {
      const r = await a.post('/api/v1/tickets', { customer_id: other.id, subject: 'filter', ...body });
      assert.equal(r.status, 201, r.text);
      return r.json;
    };
    const t1 = await mk({ channel: 'chat', assignee_id: ag.id });
    const t2 = await mk({ channel: 'email', assignee_id: ag.id });
    const t3 = await mk({ channel: 'chat' });
    await a.patch(`/api/v1/tickets/${t2.id}`, { status: 'pending' });
    const ids = async (qs, token = admin.token) => {
      const r = await api(server, token).get(`/api/v1/tickets?${qs}`);
      assert.equal(r.status, 200, r.text);
      assert.equal(typeof r.json.total, 'number', r.text);
      return r.json.items.map((t) => t.id).sort((x, y) => x - y);
    };
    assert.deepEqual(await ids(`customer_id=${other.id}`), [t1.id, t2.id, t3.id]);
    assert.deepEqual(await ids(`customer_id=${other.id}&channel=chat`), [t1.id, t3.id]);
    assert.deepEqual(await ids(`customer_id=${other.id}&status=pending`), [t2.id]);
    assert.deepEqual(await ids(`assignee_id=${ag.id}`), [t1.id, t2.id]);
    assert.deepEqual(await ids('assignee_id=me', ag.token), [t1.id, t2.id]);
    assert.deepEqual(await ids('assignee_id=me'), []);
    const page = await a.get(`/api/v1/tickets?customer_id=${other.id}&per_page=2&page=2`);
    assert.equal(page.json.total, 3);
    assert.equal(page.json.items.length, 1);
    const bad = await a.get('/api/v1/tickets?status=exploded');
    assert.ok(bad.status === 200 || bad.status === 400 || bad.status === 422, bad.text);
    if (bad.status === 200) assert.deepEqual(bad.json.items, []);
  });

  test('agent scope: own tickets, unassigned tickets of their team or of no team; others are 404', async () => {
    const teamA = (await a.post('/api/v1/teams', { name: 'Scope A' })).json;
    const teamB = (await a.post('/api/v1/teams', { name: 'Scope B' })).json;
    const agA = await createAgent(server, admin.token, { role: 'agent', team_id: teamA.id });
    const agA2 = await createAgent(server, admin.token, { role: 'agent', team_id: teamA.id });
    const c = (await a.post('/api/v1/customers', { name: 'Scope customer', email: 'scope-t@example.com' })).json;
    const mk = async (body) => (await a.post('/api/v1/tickets', { customer_id: c.id, channel: 'email', subject: 'scope', ...body })).json;
    const mine = await mk({ team_id: teamA.id, assignee_id: agA.id });
    const teamOpen = await mk({ team_id: teamA.id });
    const colleague = await mk({ team_id: teamA.id, assignee_id: agA2.id });
    const otherTeam = await mk({ team_id: teamB.id });
    const noTeam = await mk({});

    const g = api(server, agA.token);
    assert.equal((await g.get(`/api/v1/tickets/${mine.id}`)).status, 200);
    assert.equal((await g.get(`/api/v1/tickets/${teamOpen.id}`)).status, 200);
    // Until routing lands, unassigned conversations without a team wait for any agent to take.
    assert.equal((await g.get(`/api/v1/tickets/${noTeam.id}`)).status, 200);
    for (const t of [colleague, otherTeam]) {
      expectError(await g.get(`/api/v1/tickets/${t.id}`), 404);
      expectError(await g.get(`/api/v1/tickets/${t.id}/messages`), 404);
    }
    const list = await g.get(`/api/v1/tickets?customer_id=${c.id}`);
    assert.deepEqual(list.json.items.map((t) => t.id).sort((x, y) => x - y), [mine.id, teamOpen.id, noTeam.id].sort((x, y) => x - y));
    assert.equal(list.json.total, 3);
    // Writes outside the scope: 404, nothing changes.
    const before = counts(server, ['messages', 'outbox', 'events']);
    const [[statusBefore]] = sql(server, `SELECT status FROM tickets WHERE id = ${colleague.id}`);
    expectError(await g.patch(`/api/v1/tickets/${colleague.id}`, { status: 'closed' }), 404);
    expectError(await g.post(`/api/v1/tickets/${otherTeam.id}/messages`, { body_text: 'sneaky' }), 404);
    assert.deepEqual(counts(server, ['messages', 'outbox', 'events']), before);
    assert.equal(sql(server, `SELECT status FROM tickets WHERE id = ${colleague.id}`)[0][0], statusBefore);
    // Within the scope the agent works normally.
    assert.equal((await g.post(`/api/v1/tickets/${mine.id}/messages`, { body_text: 'on it' })).status, 201);
    assert.equal((await g.patch(`/api/v1/tickets/${mine.id}`, { status: 'pending' })).status, 200);
    // An agent cannot hand a ticket to themselves from another team by PATCHing it.
    expectError(await g.patch(`/api/v1/tickets/${otherTeam.id}`, { assignee_id: agA.id }), 404);
  });

  test('sales see tickets of the customers they own', async () => {
    const s = await createAgent(server, admin.token, { role: 'sales' });
    const own = (await a.post('/api/v1/customers', { name: 'Sales own', owner_id: s.id })).json;
    const t1 = (await a.post('/api/v1/tickets', { customer_id: own.id, channel: 'phone', subject: 'own' })).json;
    const t2 = (await a.post('/api/v1/tickets', { customer_id: cust.id, channel: 'phone', subject: 'not own' })).json;
    const g = api(server, s.token);
    assert.equal((await g.get(`/api/v1/tickets/${t1.id}`)).status, 200);
    expectError(await g.get(`/api/v1/tickets/${t2.id}`), 404);
    const list = await g.get('/api/v1/tickets?per_page=200');
    assert.deepEqual(list.json.items.map((t) => t.id), [t1.id]);
  });
});
