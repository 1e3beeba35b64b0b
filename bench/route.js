'use strict';
// route.js — routing throughput (issue 7: at least 2,000 assignments/s on one node with
// 500 online agents). 500 online agents with skills and room, N tickets waiting for an
// auto-accept team, a fresh server: how fast does its router assign them all?
// Prints one JSON line (bench/README.md): assignments/s, target ≥ 2000.
const { startServer, bootstrapAdmin, sql, dropDatabase, sleep } = require('../tests/system/harness');
const { pick, emit } = require('./lib');

(async () => {
  const agents = pick({ smoke: 50, quick: 500, full: 500 }, 'BENCH_AGENTS');
  const tickets = pick({ smoke: 300, quick: 2000, full: 5000 }, 'BENCH_TICKETS');
  const s = await startServer({ env: { SWITCHBOARD_ROUTING_ENABLED: 'no' } });
  await bootstrapAdmin(s);
  sql(s, "INSERT INTO teams (name, auto_accept) VALUES ('Bench', 1)");
  const [[team]] = sql(s, "SELECT id FROM teams WHERE name = 'Bench'");
  sql(s, 'INSERT INTO agents (email, name, role, team_id, password_hash) VALUES ' +
    Array.from({ length: agents }, (_, i) => `('bench${i}@example.com', 'Bench ${i}', 'agent', ${team}, 'x')`).join(','));
  sql(s, "INSERT INTO agent_capacity (agent_id, channel, max_load) SELECT id, 'email', 100 FROM agents WHERE role = 'agent'");
  sql(s, "UPDATE agents SET capacity_units = 10000 WHERE role = 'agent'");
  sql(s, "INSERT INTO agent_presence (agent_id, status, heartbeat_at) SELECT id, 'online', NOW(3) + INTERVAL 1 HOUR FROM agents WHERE role = 'agent'");
  sql(s, "INSERT INTO agent_skills (agent_id, skill, level) SELECT id, 'support', 1 + id % 10 FROM agents WHERE role = 'agent'");
  sql(s, "INSERT INTO customers (name) VALUES ('bench')");
  const [[customer]] = sql(s, 'SELECT MAX(id) FROM customers');
  const [[rule]] = sql(s, 'SELECT id FROM routing_rules WHERE is_default = 1');
  for (let i = 0; i < tickets; i += 1000) {
    sql(s, 'INSERT INTO tickets (customer_id, channel, subject, team_id, queued_at, rule_id, required_skills) VALUES ' +
      Array.from({ length: Math.min(1000, tickets - i) }, () => `(${customer}, 'email', 'bench', ${team}, NOW(3), ${rule}, '[{"skill":"support","min_level":1}]')`).join(','));
  }
  await s.stop();
  const r = await startServer({ dbName: s.dbName, migrate: false, env: { SWITCHBOARD_ROUTING_BATCH: '500', SWITCHBOARD_SERVER_PRESENCE_GRACE_SECS: '3600' } });
  // timed by the database's clock, from the server being up to the last assignment,
  // polling seldom (a busy poller steals the CPU it measures)
  const [[start]] = sql(r, 'SELECT NOW(6)');
  const t0 = Date.now();
  let n = 0;
  while (n < tickets && Date.now() - t0 < 120000) {
    await sleep(500);
    n = Number(sql(r, 'SELECT COUNT(*) FROM tickets WHERE assignee_id IS NOT NULL')[0][0]);
  }
  // from the server answering (or its first offer, when a slow start let the router begin
  // first: a sanitizer build) to the last offer
  const secs = Number(sql(r, `SELECT TIMESTAMPDIFF(MICROSECOND, LEAST('${start}', MIN(offered_at)), MAX(offered_at)) / 1e6 ` +
    'FROM ticket_offers')[0][0]);
  await r.stop();
  dropDatabase(r);
  if (n !== tickets) throw new Error(`assigned ${n} of ${tickets}`);
  emit({ bench: 'routing', unit: 'assignments/s', value: Math.round(n / secs), judge: 'value', target: 2000, agents, assignments: n, secs });
})().catch((e) => { console.error(e); process.exit(1); });
