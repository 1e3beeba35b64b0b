'use strict';
// read_cache.test.js — GET /api/v1/tickets/{id} answered from the net thread's memory
// (gateway/read_cache.h, issue 13's HTTP read path). Two nodes share one database: `node`
// keeps what it read for 60 s (so nothing here passes by the cache expiring), `truth` keeps
// nothing and answers from the database. The cache must:
//   - answer exactly what the database would, for every role and scope (never leak a
//     ticket out of scope, never refuse one in scope), and actually answer (hits counted);
//   - give a client its own writes at once (a reply, a change, a logout, a role change);
//   - take other nodes' changes from the change feed, also those that change who may see what;
//   - serve nothing older than read_cache_ms for a change no event announces;
//   - never answer an API key (its rate limit must see every request).
const test = require('node:test');
const assert = require('node:assert/strict');
const {
  startServer, bootstrapAdmin, api, sql, dropDatabase, createAgent, until,
} = require('./harness');

const OFF = { SWITCHBOARD_ROUTING_ENABLED: 'no' };

async function hits(server) {
  const res = await fetch(`${server.url}/metrics`);
  const m = /^switchboard_read_cache_hits_total (\d+)$/m.exec(await res.text());
  assert.ok(m, 'the hit counter is exported');
  return Number(m[1]);
}

test.describe('read cache', () => {
  let node;
  let truth;
  let admin;
  let a;
  let customer;

  test.before(async () => {
    node = await startServer({ env: { ...OFF, SWITCHBOARD_SERVER_READ_CACHE_MS: '60000' } });
    truth = await startServer({ dbName: node.dbName, migrate: false, env: { ...OFF, SWITCHBOARD_SERVER_READ_CACHE_MS: '0' } });
    admin = await bootstrapAdmin(node);
    a = api(node, admin.token);
    customer = (await a.post('/api/v1/customers', { name: '缓存 customer', email: 'cache@example.com' })).json;
  });
  test.after(async () => {
    if (truth) await truth.stop();
    if (node) {
      await node.stop();
      dropDatabase(node);
    }
  });

  const mk = async (body) => {
    const r = await a.post('/api/v1/tickets', { customer_id: customer.id, channel: 'email', subject: 'cache', ...body });
    assert.equal(r.status, 201, r.text);
    return r.json;
  };

  test('every role and scope gets from the cache exactly what the database gives', async () => {
    const teamA = (await a.post('/api/v1/teams', { name: 'Cache A' })).json;
    const teamB = (await a.post('/api/v1/teams', { name: 'Cache B' })).json;
    const viewers = {
      admin,
      managerA: await createAgent(node, admin.token, { role: 'manager', team_id: teamA.id }),
      managerNone: await createAgent(node, admin.token, { role: 'manager' }),
      agentA: await createAgent(node, admin.token, { role: 'agent', team_id: teamA.id }),
      agentA2: await createAgent(node, admin.token, { role: 'agent', team_id: teamA.id }),
      agentB: await createAgent(node, admin.token, { role: 'agent', team_id: teamB.id }),
      agentNone: await createAgent(node, admin.token, { role: 'agent' }),
      sales: await createAgent(node, admin.token, { role: 'sales' }),
      marketer: await createAgent(node, admin.token, { role: 'marketer' }),
    };
    const open = await mk({}); // no team, unassigned: every service role sees it
    const tickets = [
      open,
      await mk({ team_id: teamA.id }),
      await mk({ team_id: teamA.id, assignee_id: viewers.agentA.id }),
      await mk({ team_id: teamA.id, assignee_id: viewers.agentA2.id }),
      await mk({ team_id: teamB.id }),
      await mk({ assignee_id: viewers.agentB.id }),
      await mk({ team_id: teamA.id }),
    ];
    // Offered to agentB across teams (routing's offer; set here as the router would).
    sql(node, `UPDATE tickets SET offer_agent_id = ${viewers.agentB.id} WHERE id = ${tickets[6].id}`);
    const before = await hits(node);
    for (const t of tickets) assert.equal((await a.get(`/api/v1/tickets/${t.id}`)).status, 200); // views kept
    let served = 0;
    for (const [who, v] of Object.entries(viewers)) {
      const mine = api(node, v.token);
      const db = api(truth, v.token);
      await mine.get(`/api/v1/tickets/${open.id}`); // the session is kept from an answered read
      for (const t of tickets) {
        const want = await db.get(`/api/v1/tickets/${t.id}`);
        for (let i = 0; i < 2; i++) {
          const got = await mine.get(`/api/v1/tickets/${t.id}`);
          assert.equal(got.status, want.status, `${who} reading ticket ${t.id} (round ${i})`);
          if (want.status === 200) {
            assert.deepEqual(got.json, want.json, `${who} reading ticket ${t.id}`);
            served++;
          }
        }
      }
    }
    // Every answer after the first of each viewer could come from memory; sales and
    // marketers never do (their scope is the database's to decide).
    const got = (await hits(node)) - before;
    assert.ok(got >= served - 2 * tickets.length - 2, `${got} of ${served} answers came from the cache`);
  });

  test('a client reads its own writes at once: a change, a reply, a role change, a logout', async () => {
    const team = (await a.post('/api/v1/teams', { name: 'Own writes' })).json;
    const ag = await createAgent(node, admin.token, { role: 'agent', team_id: team.id });
    const g = api(node, ag.token);
    const t = await mk({ team_id: team.id });
    for (let i = 0; i < 10; i++) {
      assert.equal((await g.get(`/api/v1/tickets/${t.id}`)).status, 200);
      assert.equal((await g.patch(`/api/v1/tickets/${t.id}`, { subject: `subject ${i}` })).status, 200);
      assert.equal((await g.get(`/api/v1/tickets/${t.id}`)).json.subject, `subject ${i}`);
    }
    assert.equal((await g.post(`/api/v1/tickets/${t.id}/messages`, { body_text: 'internal 笔记', internal: true })).status, 201);
    assert.ok((await g.get(`/api/v1/tickets/${t.id}`)).json.messages.some((m) => m.body_text === 'internal 笔记'));
    // The admin moves the agent to another team: the next read is out of scope.
    const other = (await a.post('/api/v1/teams', { name: 'Elsewhere' })).json;
    assert.equal((await g.get(`/api/v1/tickets/${t.id}`)).status, 200);
    assert.equal((await a.patch(`/api/v1/agents/${ag.id}`, { team_id: other.id })).status, 200);
    assert.equal((await g.get(`/api/v1/tickets/${t.id}`)).status, 404);
    // Back, read (cached again), log out: the token is dead at once.
    assert.equal((await a.patch(`/api/v1/agents/${ag.id}`, { team_id: team.id })).status, 200);
    assert.equal((await g.get(`/api/v1/tickets/${t.id}`)).status, 200);
    assert.equal((await g.get(`/api/v1/tickets/${t.id}`)).status, 200);
    assert.equal((await g.post('/api/v1/auth/logout')).status, 204);
    assert.equal((await g.get(`/api/v1/tickets/${t.id}`)).status, 401);
  });

  test("another node's changes arrive through the change feed, also a deactivation", async () => {
    const ag = await createAgent(node, admin.token, { role: 'agent' });
    const g = api(node, ag.token);
    const t = await mk({});
    assert.equal((await g.get(`/api/v1/tickets/${t.id}`)).status, 200);
    assert.equal((await g.get(`/api/v1/tickets/${t.id}`)).json.subject, 'cache');
    const other = api(truth, admin.token);
    assert.equal((await other.patch(`/api/v1/tickets/${t.id}`, { subject: 'changed elsewhere' })).status, 200);
    await until(async () => (await g.get(`/api/v1/tickets/${t.id}`)).json.subject === 'changed elsewhere', 10000,
      'the other node\'s change');
    // A reply on the other node (a message.* event).
    assert.equal((await other.post(`/api/v1/tickets/${t.id}/messages`, { body_text: 'from node two', internal: true })).status, 201);
    await until(async () => (await g.get(`/api/v1/tickets/${t.id}`)).json.messages.length === 1, 10000, 'the reply');
    // Deactivated on the other node: the cached session stops answering.
    assert.equal((await other.patch(`/api/v1/agents/${ag.id}`, { active: false })).status, 200);
    await until(async () => (await g.get(`/api/v1/tickets/${t.id}`)).status === 401, 10000, 'the session to end');
  });

  test('a change no event announces is served for at most read_cache_ms', async () => {
    const short = await startServer({ dbName: node.dbName, migrate: false, env: { ...OFF, SWITCHBOARD_SERVER_READ_CACHE_MS: '300' } });
    try {
      const g = api(short, admin.token);
      const t = await mk({});
      assert.equal((await g.get(`/api/v1/tickets/${t.id}`)).status, 200);
      sql(node, `UPDATE tickets SET subject = 'changed by hand' WHERE id = ${t.id}`);
      await until(async () => (await g.get(`/api/v1/tickets/${t.id}`)).json.subject === 'changed by hand', 5000,
        'the change after read_cache_ms');
    } finally {
      await short.stop();
    }
  });

  test('an API key is always checked in the database', async () => {
    const key = await a.post('/api/v1/api-keys', { name: 'cache test', role: 'admin' });
    assert.equal(key.status, 201, key.text);
    const k = api(node, key.json.key);
    const t = await mk({});
    const before = await hits(node);
    for (let i = 0; i < 5; i++) assert.equal((await k.get(`/api/v1/tickets/${t.id}`)).status, 200);
    assert.equal(await hits(node), before);
  });
});
