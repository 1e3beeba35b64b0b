'use strict';
// routing_load.test.js — two switchboard processes (two routers) on one database, 1,000
// tickets, 20 agents with mixed skills and capacities on agent sockets spread over both
// processes, accepting (sometimes ignoring) offers and solving at random. Checked from
// the database all along: no agent is ever above capacity on a channel or in units, no
// ticket ever has two live offers or an offer and an assignee, every ticket is served,
// and nothing waits into escalation (overflow relaxes what must be relaxed in time).
const { test, after } = require('node:test');
const assert = require('node:assert/strict');
const { startServer, bootstrapAdmin, api, sql, dropDatabase, createAgent, sleep } = require('./harness');
const { wsOpen } = require('./clients');

const N_TICKETS = 1000;
const N_AGENTS = 20;
const servers = [];
const sockets = [];

after(async () => {
  for (const s of sockets) s.ws.close();
  for (const s of servers.reverse()) await s.stop();
  if (servers.length) dropDatabase(servers[servers.length - 1]);
});

function rng(seed) { // deterministic: the same run every time
  let x = seed;
  return () => { x = (x * 1103515245 + 12345) % 2147483648; return x / 2147483648; };
}

test('two routers, 1000 tickets, 20 agents: never over capacity, one offer at a time, everyone served', async () => {
  const env = {
    SWITCHBOARD_ROUTING_INTERVAL_MS: '20', SWITCHBOARD_ROUTING_BATCH: '100', SWITCHBOARD_ROUTING_OVERFLOW_OPTIONAL_SECS: '2',
    SWITCHBOARD_ROUTING_OVERFLOW_TEAM_SECS: '4', SWITCHBOARD_ROUTING_ESCALATE_SECS: '60', SWITCHBOARD_DATABASE_POOL_SIZE: '8',
  };
  const a = await startServer({ env });
  servers.push(a);
  const b = await startServer({ env, dbName: a.dbName, migrate: false });
  servers.push(b);
  const adminToken = (await bootstrapAdmin(a)).token;
  const admin = api(a, adminToken);
  const rand = rng(7);
  const teams = [(await admin.post('/api/v1/teams', { name: 'Support A' })).json.id, (await admin.post('/api/v1/teams', { name: 'Support B' })).json.id];
  sql(a, `UPDATE teams SET accept_timeout_secs = 1`);
  sql(a, `INSERT INTO routing_rules (position, name, match_json, required_skills, optional_skills) VALUES
    (1, 'Billing', '{"keywords":["invoice"]}', '[{"skill":"billing","min_level":3}]', '[]'),
    (2, 'Chinese', '{"languages":["zh"]}', '[]', '[{"skill":"mandarin","min_level":6}]')`);

  // agents: everyone speaks some English support; some bill; few speak good Mandarin
  const agents = [];
  for (let i = 0; i < N_AGENTS; i++) {
    const skills = [{ name: 'support', level: 1 + Math.floor(rand() * 10) }];
    if (i % 3 === 0) skills.push({ name: 'billing', level: 3 + Math.floor(rand() * 8) });
    if (i % 7 === 0) skills.push({ name: 'mandarin', level: 6 + Math.floor(rand() * 5) });
    const capacity = { email: 2 + Math.floor(rand() * 5), chat: 1 + Math.floor(rand() * 3), sms: 2 };
    const ag = await createAgent(a, adminToken, { name: `Agent ${i}`, team_id: teams[i % 2], skills, capacity });
    agents.push({ ...ag, capacity, api: null });
  }

  // each agent on a socket of one of the two processes, accepting (90 %) and solving
  let accepted = 0, ignored = 0, solved = 0;
  const inflight = new Set();
  for (const [i, ag] of agents.entries()) {
    const srv = i % 2 ? b : a;
    const sock = await wsOpen(srv, '/ws/agent');
    sockets.push(sock);
    sock.send({ type: 'auth', token: ag.token });
    await sock.waitFor((f) => f.type === 'auth_ok');
    const agentApi = api(srv, ag.token);
    sock.ws.on('message', (data) => {
      const f = JSON.parse(data.toString());
      if (f.type === 'ticket.offered' && f.ticket && f.ticket.offer_agent_id === ag.id) {
        if (rand() < 0.1) { ignored++; return; } // lets it expire: the next agent gets it
        setTimeout(() => sock.send({ type: 'accept', ticket_id: f.ticket.id }), Math.floor(rand() * 30));
      } else if (f.type === 'accepted') {
        accepted++;
        const p = (async () => {
          await sleep(20 + Math.floor(rand() * 120));
          const r = await agentApi.patch(`/api/v1/tickets/${f.ticket_id}`, { status: 'solved' });
          if (r.status === 200) solved++;
        })();
        inflight.add(p);
        p.finally(() => inflight.delete(p));
      }
    });
    sock.send({ type: 'presence', status: 'online' });
  }

  // the capacity watch: every 40 ms, straight from the database
  const violations = [];
  let watching = true, checks = 0;
  const watch = (async () => {
    while (watching) {
      // one client, one snapshot per statement; rows tagged by which invariant they break
      const rows = sql(a, `SELECT 'over', a.id, k.channel, k.max_load, (SELECT COUNT(*) FROM tickets x WHERE x.status IN ('new','open') ` +
        `AND x.channel = k.channel AND (x.assignee_id = a.id OR x.offer_agent_id = a.id)) AS l FROM agents a ` +
        `JOIN agent_capacity k ON k.agent_id = a.id HAVING l > k.max_load;\n` +
        `SELECT 'units', a.id, a.capacity_units, (SELECT COALESCE(SUM(CASE x.channel WHEN 'chat' THEN 34 WHEN 'sms' THEN 20 ELSE 10 END), 0) ` +
        `FROM tickets x WHERE x.status IN ('new','open') AND (x.assignee_id = a.id OR x.offer_agent_id = a.id)) AS u FROM agents a HAVING u > a.capacity_units;\n` +
        `SELECT 'double offer', ticket_id, COUNT(*) FROM ticket_offers WHERE outcome = 'offered' GROUP BY ticket_id HAVING COUNT(*) > 1;\n` +
        `SELECT 'offer and assignee', id FROM tickets WHERE assignee_id IS NOT NULL AND offer_agent_id IS NOT NULL;`);
      if (rows.length) violations.push(rows);
      checks++;
      await sleep(40);
    }
  })();

  // 1000 tickets through both processes' REST APIs, 20 at a time
  const customers = [];
  for (let i = 0; i < 50; i++) customers.push((await admin.post('/api/v1/customers', { name: `客户 ${i}`, email: `load${i}@example.com` })).json.id);
  const subjects = ['invoice is wrong', '我的订单在哪里', 'how do I reset my password', 'invoice 发票 missing', 'shipping question'];
  const apis = [admin, api(b, adminToken)];
  for (let i = 0; i < N_TICKETS; i += 20) {
    await Promise.all(Array.from({ length: Math.min(20, N_TICKETS - i) }, async (_, k) => {
      const n = i + k;
      const r = await apis[n % 2].post('/api/v1/tickets', {
        customer_id: customers[n % customers.length], channel: n % 4 === 0 ? 'chat' : 'email', subject: subjects[n % subjects.length],
        team_id: teams[n % 2],
      });
      assert.equal(r.status, 201, r.text);
    }));
  }

  const open = () => Number(sql(a, "SELECT COUNT(*) FROM tickets WHERE status IN ('new','open')")[0][0]);
  for (let waited = 0; open() > 0 && waited < 120000; waited += 250) await sleep(250);
  await Promise.all([...inflight]);
  watching = false;
  await watch;

  assert.deepEqual(violations, [], `capacity or offer violations seen in ${checks} checks`);
  assert.ok(checks > 20, `the watch ran (${checks} checks)`);
  assert.equal(open(), 0, 'every ticket served and solved');
  assert.equal(Number(sql(a, "SELECT COUNT(*) FROM tickets WHERE status = 'solved'")[0][0]), N_TICKETS);
  assert.equal(Number(sql(a, "SELECT COUNT(*) FROM events WHERE kind = 'ticket.escalated'")[0][0]), 0, 'nothing waited into escalation');
  // both routers took part, and the ignored offers went to someone else
  const byRouterEvents = sql(a, "SELECT COUNT(*) FROM ticket_offers WHERE outcome = 'expired'")[0][0];
  assert.ok(Number(byRouterEvents) >= 1, 'some offers expired and were re-routed');
  assert.ok(ignored >= 1 && accepted >= N_TICKETS);
  assert.ok(solved >= N_TICKETS, `${solved} solved`); // a re-offer to the same agent may be accepted (and solved) twice
  // the skills held: billing tickets went to billing agents
  const wrong = sql(a, "SELECT COUNT(*) FROM tickets t JOIN routing_rules r ON r.id = t.rule_id WHERE r.name = 'Billing' AND NOT EXISTS " +
    "(SELECT 1 FROM agent_skills s WHERE s.agent_id = t.assignee_id AND s.skill = 'billing' AND s.level >= 3)")[0][0];
  assert.equal(wrong, '0');
});
