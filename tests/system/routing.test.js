'use strict';
// routing.test.js — deterministic scenarios of the skill-based router (workers/router.c)
// against the real server: skill match beats load, least load breaks ties, VIP tickets
// jump the queue, an accept timeout re-routes to the next agent, overflow relaxes optional
// skills after the configured wait, offline and away agents get nothing, after-hours
// tickets wait (and get the team's reply), capacity is respected, an offer is accepted
// over the agent socket, and every assignment says why.
const { test, before, after, beforeEach } = require('node:test');
const assert = require('node:assert/strict');
const { startServer, bootstrapAdmin, api, sql, dropDatabase, createAgent, sleep, until } = require('./harness');
const { wsOpen } = require('./clients');

let server, a, adminToken;
let seq = 0;


before(async () => {
  server = await startServer({
    env: {
      SWITCHBOARD_ROUTING_INTERVAL_MS: '50', SWITCHBOARD_ROUTING_OVERFLOW_OPTIONAL_SECS: '2',
      SWITCHBOARD_ROUTING_OVERFLOW_TEAM_SECS: '4', SWITCHBOARD_ROUTING_ESCALATE_SECS: '5',
      SWITCHBOARD_ROUTING_ACCEPT_TIMEOUT_SECS: '30',
    },
  });
  adminToken = (await bootstrapAdmin(server)).token;
  a = api(server, adminToken);
});

after(async () => {
  if (server) { await server.stop(); dropDatabase(server); }
});

// Each scenario has its own team, so earlier scenarios' agents never compete.
let team;
beforeEach(async () => {
  seq += 1;
  const t = await a.post('/api/v1/teams', { name: `Team ${seq}` });
  assert.equal(t.status, 201, t.text);
  team = t.json.id;
  sql(server, `UPDATE teams SET accept_timeout_secs = 30 WHERE id = ${team}`);
});

/* An agent of the scenario's team; presence set in the database (the socket test below
 * does it for real). */
async function agent(name, skills, capacity, status = 'online') {
  const ag = await createAgent(server, adminToken, { name, team_id: team, skills: Object.entries(skills).map(([n, level]) => ({ name: n, level })), capacity });
  setPresence(ag.id, status);
  return ag;
}
function setPresence(id, status) {
  sql(server, `INSERT INTO agent_presence (agent_id, status, heartbeat_at, changed_at) VALUES (${id}, '${status}', NOW(3), NOW(3) - INTERVAL 1 HOUR) ` +
    `ON DUPLICATE KEY UPDATE status = VALUES(status), heartbeat_at = NOW(3)`);
}
async function customer(name, tags = []) {
  const c = await a.post('/api/v1/customers', { name, email: `c${seq}-${Math.random().toString(16).slice(2)}@example.com`, tags });
  assert.equal(c.status, 201, c.text);
  return c.json.id;
}
async function ticket(subject, { channel = 'email', tags = [], teamId = team } = {}) {
  const t = await a.post('/api/v1/tickets', { customer_id: await customer(`C ${subject}`, tags), channel, subject, team_id: teamId });
  assert.equal(t.status, 201, t.text);
  return t.json.id;
}
/* Tickets already on an agent's plate (their load). */
async function load(agentId, n, channel = 'email') {
  const c = await customer('Load');
  for (let i = 0; i < n; i++) {
    sql(server, `INSERT INTO tickets (customer_id, channel, subject, status, team_id, assignee_id) ` +
      `VALUES (${c}, '${channel}', 'existing load', 'open', ${team}, ${agentId})`);
  }
}
const offerOf = (id) => Number(sql(server, `SELECT COALESCE(offer_agent_id, 0) FROM tickets WHERE id = ${id}`)[0][0]);
const offered = (id, ms = 3000) => until(() => offerOf(id) || null, ms, `an offer for ticket ${id}`);
function rule(name, match, extra = {}) {
  sql(server, `INSERT INTO routing_rules (position, name, match_json, required_skills, optional_skills, team_id, priority) VALUES ` +
    `(${extra.position || seq * 10}, '${name}', '${JSON.stringify(match)}', '${JSON.stringify(extra.required || [])}', ` +
    `'${JSON.stringify(extra.optional || [])}', ${extra.team || 'NULL'}, ${extra.priority ? `'${extra.priority}'` : 'NULL'})`);
}

test('the best skill match wins over a lighter load, and the reason says so', async () => {
  rule('Invoices', { keywords: ['invoice', '发票'] }, { required: [{ skill: 'billing', min_level: 2 }] });
  const expert = await agent('Expert', { billing: 9 }, { email: 10 });
  await agent('Novice', { billing: 3 }, { email: 10 });
  await load(expert.id, 3);
  const t = await ticket('Wrong 发票 amount');
  assert.equal(await offered(t), expert.id);
  const [[reason]] = sql(server, `SELECT assign_reason FROM tickets WHERE id = ${t}`);
  const r = JSON.parse(reason);
  assert.equal(r.rule, 'Invoices');
  assert.equal(r.skill_score, 9);
  assert.equal(r.load, '3/10');
  assert.equal(r.candidates, 2);
  assert.deepEqual(r.skills, [{ skill: 'billing', min_level: 2, required: true }]);
  // the manager reads it over REST
  assert.equal((await a.get(`/api/v1/tickets/${t}`)).json.assign_reason.rule, 'Invoices');
});

test('with equal skills the least loaded agent gets it; without the skill nobody does', async () => {
  rule('Returns', { keywords: ['return'] }, { required: [{ skill: 'returns', min_level: 1 }] });
  const busy = await agent('Busy', { returns: 5 }, { email: 10 });
  const free = await agent('Free', { returns: 5 }, { email: 10 });
  const unskilled = await agent('Unskilled', {}, { email: 10 });
  await load(busy.id, 2);
  await load(free.id, 1);
  const t = await ticket('I want to return this');
  assert.equal(await offered(t), free.id);
  assert.notEqual(offerOf(t), unskilled.id);
});

test('a VIP ticket jumps the queue', async () => {
  rule('VIP', { tags: ['VIP'] }, { priority: 'urgent', position: 1 });
  const only = await agent('Only', {}, { email: 1 }, 'offline');
  const normal = await ticket('normal, first in line');
  await sleep(30);
  const vip = await ticket('vip, second', { tags: ['VIP'] });
  await sleep(200); // both classified and waiting
  assert.equal(offerOf(normal), 0);
  setPresence(only.id, 'online');
  assert.equal(await offered(vip), only.id);
  await sleep(300);
  assert.equal(offerOf(normal), 0, 'capacity 1: the normal ticket waits');
  assert.equal(sql(server, `SELECT priority FROM tickets WHERE id = ${vip}`)[0][0], 'urgent');
});

test('an offer not accepted in time goes to the next agent', async () => {
  sql(server, `UPDATE teams SET accept_timeout_secs = 1 WHERE id = ${team}`);
  const first = await agent('First', { x: 9 }, { email: 5 });
  const second = await agent('Second', { x: 1 }, { email: 5 });
  rule('X', { keywords: ['xylophone'] }, { required: [{ skill: 'x', min_level: 1 }] });
  const t = await ticket('xylophone repair');
  assert.equal(await offered(t), first.id);
  await until(() => offerOf(t) === second.id, 4000, 'the re-route to the second agent');
  const offers = sql(server, `SELECT agent_id, outcome FROM ticket_offers WHERE ticket_id = ${t} ORDER BY id`);
  assert.deepEqual(offers, [[String(first.id), 'expired'], [String(second.id), 'offered']]);
});

test('optional skills are dropped after the overflow wait', async () => {
  rule('Mandarin', { keywords: ['mandarin'] }, { required: [{ skill: 'support', min_level: 1 }], optional: [{ skill: 'mandarin', min_level: 5 }] });
  const agentNoMandarin = await agent('English only', { support: 5 }, { email: 5 });
  const t0 = Date.now();
  const t = await ticket('mandarin speaker please');
  await sleep(1200);
  assert.equal(offerOf(t), 0, 'not before the overflow wait');
  assert.equal(await offered(t, 4000), agentNoMandarin.id);
  assert.ok(Date.now() - t0 >= 1900, `offered after ${Date.now() - t0} ms`);
  const r = JSON.parse(sql(server, `SELECT assign_reason FROM tickets WHERE id = ${t}`)[0][0]);
  assert.equal(r.stage, 'optional skills dropped');
});

test('offline and away agents get nothing; an agent going offline loses its offer', async () => {
  const ag = await agent('Sleepy', {}, { email: 5 }, 'offline');
  const t = await ticket('anyone there?');
  await sleep(300);
  assert.equal(offerOf(t), 0);
  setPresence(ag.id, 'away');
  await sleep(300);
  assert.equal(offerOf(t), 0);
  setPresence(ag.id, 'online');
  assert.equal(await offered(t), ag.id);
  setPresence(ag.id, 'offline');
  await until(() => offerOf(t) === 0, 3000, 'the offer withdrawn');
  assert.equal(sql(server, `SELECT outcome FROM ticket_offers WHERE ticket_id = ${t}`)[0][0], 'withdrawn');
});

test('after hours a ticket waits, gets the team\'s reply once, and is offered when the team opens', async () => {
  const closed = JSON.stringify({ mon: [], tue: [], wed: [], thu: [], fri: [], sat: [], sun: [] });
  sql(server, `UPDATE teams SET business_hours = '${closed}', after_hours_reply = 'We are closed; back at 9:00. 我们已下班。' WHERE id = ${team}`);
  const ag = await agent('Night', {}, { email: 5 });
  const t = await ticket('late question');
  await until(() => sql(server, `SELECT COUNT(*) FROM messages WHERE ticket_id = ${t} AND author_type = 'bot'`)[0][0] === '1', 3000, 'the after-hours reply');
  assert.equal(sql(server, `SELECT COUNT(*) FROM outbox WHERE message_id IN (SELECT id FROM messages WHERE ticket_id = ${t})`)[0][0], '1');
  await sleep(300);
  assert.equal(offerOf(t), 0, 'no offer while closed');
  sql(server, `UPDATE teams SET business_hours = '{}' WHERE id = ${team}`);
  assert.equal(await offered(t), ag.id);
  assert.equal(sql(server, `SELECT COUNT(*) FROM messages WHERE ticket_id = ${t} AND author_type = 'bot'`)[0][0], '1', 'replied once');
});

test('capacity per channel and in units is never exceeded', async () => {
  const ag = await agent('Chatty', {}, { chat: 2, email: 10 });
  sql(server, `UPDATE agents SET capacity_units = 80 WHERE id = ${ag.id}`); // two chats (34 each) and one e-mail (10)
  const chats = [await ticket('chat 1', { channel: 'chat' }), await ticket('chat 2', { channel: 'chat' }), await ticket('chat 3', { channel: 'chat' })];
  const mails = [await ticket('mail 1'), await ticket('mail 2')];
  await until(() => chats.filter((t) => offerOf(t) === ag.id).length === 2, 3000, 'two chats');
  await until(() => mails.filter((t) => offerOf(t) === ag.id).length === 1, 3000, 'one e-mail');
  await sleep(400);
  assert.equal(chats.filter((t) => offerOf(t) === ag.id).length, 2, 'chat capacity 2');
  assert.equal(mails.filter((t) => offerOf(t) === ag.id).length, 1, '78 of 80 units used');
});

test('the offered agent accepts over the socket; nobody else can take an offered ticket', async () => {
  const ag = await agent('Taker', {}, { email: 5 });
  const other = await agent('Other', {}, { email: 0 });
  const sock = await wsOpen(server, '/ws/agent');
  sock.send({ type: 'auth', token: ag.token });
  await sock.waitFor((f) => f.type === 'auth_ok');
  sock.send({ type: 'presence', status: 'online' });
  const t = await ticket('take me');
  const ev = await sock.waitFor((f) => f.type === 'ticket.offered' && f.ticket && f.ticket.id === t, 3000, 'ticket.offered');
  assert.equal(ev.ticket.offer_agent_id, ag.id);
  const o = await wsOpen(server, '/ws/agent');
  o.send({ type: 'auth', token: other.token });
  await o.waitFor((f) => f.type === 'auth_ok');
  o.send({ type: 'accept', ticket_id: t });
  const refused = await o.waitFor((f) => f.type === 'error', 3000, 'the refusal');
  assert.equal(refused.code, 'not_available');
  sock.send({ type: 'accept', ticket_id: t });
  await sock.waitFor((f) => f.type === 'accepted' && f.ticket_id === t, 3000, 'accepted');
  const [[assignee, queued, offer]] = sql(server, `SELECT assignee_id, COALESCE(queued_at, ''), COALESCE(offer_agent_id, '') FROM tickets WHERE id = ${t}`);
  assert.equal(Number(assignee), ag.id);
  assert.equal(queued, '');
  assert.equal(offer, '');
  assert.equal(sql(server, `SELECT outcome FROM ticket_offers WHERE ticket_id = ${t}`)[0][0], 'accepted');
  sock.ws.close();
  o.ws.close();
});

test('a ticket nobody can take widens to any team, then escalates to the managers once', async () => {
  rule('Rare', { keywords: ['klingon'] }, { required: [{ skill: 'klingon', min_level: 1 }] });
  const t = await ticket('klingon translation');
  await until(() => sql(server, `SELECT routing_stage FROM tickets WHERE id = ${t}`)[0][0] === '3', 8000, 'escalation');
  assert.equal(sql(server, `SELECT COUNT(*) FROM events WHERE kind = 'ticket.escalated' AND ticket_id = ${t}`)[0][0], '1');
  // another team's agent with the skill now qualifies (the team widened at stage 2)
  const otherTeam = (await a.post('/api/v1/teams', { name: `Elsewhere ${seq}` })).json.id;
  const ag = await createAgent(server, adminToken, { name: 'Linguist', team_id: otherTeam, skills: [{ name: 'klingon', level: 7 }], capacity: { email: 5 } });
  setPresence(ag.id, 'online');
  assert.equal(await offered(t), ag.id);
  await sleep(300);
  assert.equal(sql(server, `SELECT COUNT(*) FROM events WHERE kind = 'ticket.escalated' AND ticket_id = ${t}`)[0][0], '1', 'escalated once');
});

test('rules over REST: validated (422, nothing changed), applied to the next ticket, the default rule protected', async () => {
  const before = sql(server, 'SELECT COUNT(*) FROM routing_rules')[0][0];
  for (const bad of [
    { name: 'x', match: { colour: ['red'] } },
    { name: 'x', match: { channels: ['fax'] } },
    { name: 'x', match: { keywords: 'refund' } },
    { name: 'x', required_skills: [{ skill: 'billing', min_level: 11 }] },
    { name: 'x', team_id: 999999 },
    { match: {} },
  ]) {
    const r = await a.post('/api/v1/routing/rules', bad);
    assert.equal(r.status, 422, JSON.stringify(bad) + r.text);
  }
  assert.equal(sql(server, 'SELECT COUNT(*) FROM routing_rules')[0][0], before);
  const created = await a.post('/api/v1/routing/rules', { name: '退款 refunds', position: 1, match: { keywords: ['退款', 'refund'] },
    required_skills: [{ skill: 'refunds', min_level: 4 }], priority: 'high', team_id: team });
  assert.equal(created.status, 201, created.text);
  const ag = await agent('Refunder', { refunds: 6 }, { email: 5 });
  const t = await ticket('我要退款', { teamId: undefined });
  assert.equal(await offered(t), ag.id);
  const tk = (await a.get(`/api/v1/tickets/${t}`)).json;
  assert.equal(tk.priority, 'high');
  assert.equal(tk.team_id, team);
  assert.deepEqual(tk.required_skills, [{ skill: 'refunds', min_level: 4 }]);
  assert.ok(tk.sla_due_at, 'an SLA due time');
  const rules = (await a.get('/api/v1/routing/rules')).json.items;
  const def = rules.find((r) => r.is_default);
  assert.equal(rules[rules.length - 1].id, def.id, 'the default rule is last');
  assert.equal((await a.del(`/api/v1/routing/rules/${def.id}`)).status, 409);
  assert.equal((await a.patch(`/api/v1/routing/rules/${def.id}`, { match: { channels: ['chat'] } })).status, 422);
  assert.equal((await a.patch(`/api/v1/routing/rules/${created.json.id}`, { enabled: false })).status, 200);
  assert.equal((await a.del(`/api/v1/routing/rules/${created.json.id}`)).status, 204);
  const agentTok = (await createAgent(server, adminToken, {})).token;
  assert.equal((await api(server, agentTok).post('/api/v1/routing/rules', { name: 'mine' })).status, 403);
});

test('teams: business hours and offer settings over REST, validated', async () => {
  const ok = await a.patch(`/api/v1/teams/${team}`, { business_hours: { mon: [['09:00', '12:00'], ['13:00', '18:00']], sat: [] },
    utc_offset_mins: 480, accept_timeout_secs: 20, auto_accept: true, after_hours_reply: '下班了' });
  assert.equal(ok.status, 200, ok.text);
  assert.equal(ok.json.auto_accept, true);
  assert.deepEqual(ok.json.business_hours.mon, [['09:00', '12:00'], ['13:00', '18:00']]);
  for (const bad of [{ business_hours: { monday: [] } }, { business_hours: { mon: [['18:00', '09:00']] } },
    { business_hours: { mon: [['9am', '5pm']] } }, { accept_timeout_secs: 0 }, { utc_offset_mins: 2000 }]) {
    assert.equal((await a.patch(`/api/v1/teams/${team}`, bad)).status, 422, JSON.stringify(bad));
  }
  assert.equal((await a.get(`/api/v1/teams/${team}`)).json.accept_timeout_secs, 20, 'unchanged by the refused writes');
});

test('SLA: a warning at 80 %, a breach at the due time, both once; the first answer moves the clock to resolution', async () => {
  const t = await ticket('slow one');
  // pretend it arrived 50 s ago and is due in 2 s: 96 % of the time is gone
  sql(server, `UPDATE tickets SET created_at = NOW(3) - INTERVAL 50 SECOND, sla_due_at = NOW(3) + INTERVAL 2 SECOND WHERE id = ${t}`);
  const count = (kind) => Number(sql(server, `SELECT COUNT(*) FROM events WHERE kind = '${kind}' AND ticket_id = ${t}`)[0][0]);
  await until(() => count('ticket.sla_warning') === 1, 3000, 'the warning');
  await until(() => count('ticket.sla_breached') === 1, 5000, 'the breach');
  await sleep(300);
  assert.equal(count('ticket.sla_warning'), 1);
  assert.equal(count('ticket.sla_breached'), 1);
  assert.equal((await a.get(`/api/v1/tickets/${t}`)).json.sla_breached, true);
  sql(server, `INSERT INTO customer_identities (customer_id, kind, value) SELECT customer_id, 'email', CONCAT('sla', id, '@example.com') FROM tickets WHERE id = ${t} ` +
    `ON DUPLICATE KEY UPDATE value = value`);
  const r = await a.post(`/api/v1/tickets/${t}/messages`, { body_text: 'on it' });
  assert.equal(r.status, 201, r.text);
  const after = (await a.get(`/api/v1/tickets/${t}`)).json;
  assert.equal(after.sla_breached, false, 'the resolution clock starts clean');
  assert.ok(new Date(after.sla_due_at) > new Date(), 'due later: the resolution target');
});

test('taking a ticket by hand respects capacity too (an agent without a capacity has no limit)', async () => {
  const full = await agent('Full', {}, { email: 1 }, 'away');
  await load(full.id, 1);
  const t = await ticket('hand pick');
  const sock = await wsOpen(server, '/ws/agent');
  sock.send({ type: 'auth', token: full.token });
  await sock.waitFor((f) => f.type === 'auth_ok');
  sock.send({ type: 'accept', ticket_id: t });
  const err = await sock.waitFor((f) => f.type === 'error', 3000, 'the refusal');
  assert.equal(err.code, 'at_capacity');
  assert.equal(sql(server, `SELECT COALESCE(assignee_id, 0) FROM tickets WHERE id = ${t}`)[0][0], '0');
  sock.ws.close();
  const free = await createAgent(server, adminToken, { team_id: team });
  const s2 = await wsOpen(server, '/ws/agent');
  s2.send({ type: 'auth', token: free.token });
  await s2.waitFor((f) => f.type === 'auth_ok');
  s2.send({ type: 'accept', ticket_id: t });
  await s2.waitFor((f) => f.type === 'accepted' && f.ticket_id === t, 3000, 'accepted without a capacity set');
  s2.ws.close();
});

test('a transfer to a skill goes back to the router with a note; the receiving agent sees why', async () => {
  const first = await agent('Generalist', {}, { email: 5 });
  const t = await ticket('needs a lawyer eventually');
  assert.equal(await offered(t), first.id);
  sql(server, `UPDATE tickets SET assignee_id = ${first.id}, offer_agent_id = NULL, queued_at = NULL WHERE id = ${t}`);
  const lawyer = await agent('Lawyer', { legal: 8 }, { email: 5 });
  const bad = await a.post(`/api/v1/tickets/${t}/transfer`, { skill: 'legal', assignee_id: lawyer.id });
  assert.equal(bad.status, 422);
  const r = await a.post(`/api/v1/tickets/${t}/transfer`, { skill: 'legal', min_level: 5, note: 'contract question 合同问题' });
  assert.equal(r.status, 200, r.text);
  assert.equal(await offered(t), lawyer.id);
  const notes = (await a.get(`/api/v1/tickets/${t}/messages`)).json.items.filter((m) => m.author_type === 'system');
  assert.match(notes[notes.length - 1].body_text, /to someone with legal ≥ 5: contract question 合同问题/);
  const tk = (await a.get(`/api/v1/tickets/${t}`)).json;
  assert.deepEqual(tk.required_skills, [{ skill: 'legal', min_level: 5 }]);
  assert.equal(tk.assign_reason.skills[0].skill, 'legal');
});

test('declining passes an offer on at once; an agent of another team offered a widened ticket gets the event and can accept', async () => {
  rule('Welsh', { keywords: ['welsh'] }, { required: [{ skill: 'welsh', min_level: 1 }] });
  const mine = await agent('Declines', { welsh: 9 }, { email: 5 });
  const t = await ticket('welsh speaker needed');
  const s1 = await wsOpen(server, '/ws/agent');
  s1.send({ type: 'auth', token: mine.token });
  await s1.waitFor((f) => f.type === 'auth_ok');
  assert.equal(await offered(t), mine.id);
  s1.send({ type: 'decline', ticket_id: t });
  await s1.waitFor((f) => f.type === 'declined' && f.ticket_id === t, 3000, 'declined');
  await s1.waitFor((f) => f.type === 'ticket.offer_withdrawn' && f.ticket_id === t, 3000, 'the withdrawal event');
  assert.equal(sql(server, `SELECT outcome FROM ticket_offers WHERE ticket_id = ${t}`)[0][0], 'declined');
  s1.send({ type: 'decline', ticket_id: t }); // twice: not offered any more
  const again = await s1.waitFor((f) => f.type === 'error' && f.ticket_id === t, 3000, 'the second refusal');
  assert.equal(again.code, 'not_available');
  // nobody else in the team speaks Welsh: after the team wait, another team's agent gets it
  const otherTeam = (await a.post('/api/v1/teams', { name: `Wales ${seq}` })).json.id;
  const far = await createAgent(server, adminToken, { name: 'Far away', team_id: otherTeam, skills: [{ name: 'welsh', level: 3 }], capacity: { email: 5 } });
  const s2 = await wsOpen(server, '/ws/agent');
  s2.send({ type: 'auth', token: far.token });
  await s2.waitFor((f) => f.type === 'auth_ok');
  s2.send({ type: 'presence', status: 'online' });
  const ev = await s2.waitFor((f) => f.type === 'ticket.offered' && f.ticket && f.ticket.id === t, 8000, 'the cross-team offer');
  assert.equal(ev.ticket.offer_agent_id, far.id);
  assert.equal((await api(server, far.token).get(`/api/v1/tickets/${t}`)).status, 200, 'the offered agent may see the ticket');
  s2.send({ type: 'accept', ticket_id: t });
  await s2.waitFor((f) => f.type === 'accepted' && f.ticket_id === t, 3000, 'accepted');
  assert.equal(Number(sql(server, `SELECT assignee_id FROM tickets WHERE id = ${t}`)[0][0]), far.id);
  s1.ws.close();
  s2.ws.close();
});

test('a rule\'s team and priority can be cleared with null; a blank name is refused', async () => {
  const r = await a.post('/api/v1/routing/rules', { name: 'Clearable', team_id: team, priority: 'high' });
  assert.equal(r.status, 201, r.text);
  const cleared = await a.patch(`/api/v1/routing/rules/${r.json.id}`, { team_id: null, priority: null });
  assert.equal(cleared.status, 200, cleared.text);
  assert.equal(cleared.json.team_id, null);
  assert.equal(cleared.json.priority, null);
  assert.equal((await a.patch(`/api/v1/routing/rules/${r.json.id}`, { name: '' })).status, 422);
  await a.del(`/api/v1/routing/rules/${r.json.id}`);
});
