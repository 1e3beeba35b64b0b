'use strict';
// rules.test.js — the rule engine and approvals (issue 12, docs/rules.md) against the real
// binary, from the contract:
//   - each seed rule fires exactly once per trigger, seen through its effect and its firing
//     (lead assignment by region / least busy / manual; a first follow-up task for a new
//     customer's owner; the no-follow-up schedule rule: once per lapse, again after a
//     follow-up and a new lapse; the mature-stage reminder for the owner's team manager;
//     the customer's lifecycle following its deals, never backwards);
//   - seed rules are editable: switched off, versioned, restored;
//   - CRUD and validation (422 naming trigger, conditions, actions[i].key; admin only);
//   - a dry run answers what would happen (and what it would chain) and writes nothing;
//   - a loop and a chain deeper than 5 rules are stopped with their reason, and the
//     request that started them still succeeds;
//   - an approval holds a campaign start until a manager decides (comments, reject, audit);
//   - a failing action undoes that rule's work only (`failed`), the user's change stands.
// Two gateway processes share the database throughout (schedule rules must still fire
// once). Rules a test makes are deleted after it, so no test's rules act in another.
const { test, before, after, afterEach } = require('node:test');
const assert = require('node:assert/strict');
const { SMTPServer } = require('smtp-server');
const { simpleParser } = require('mailparser');
const {
  startServer, bootstrapAdmin, api, sql, dropDatabase, createAgent, until, freePort, expectError, sleep, counts,
} = require('./harness');
const { agentSocket } = require('./crm_util');

const V1 = '/api/v1';
const INTERVAL_SECS = 1; // [crm] interval_secs: the schedule's period
const PASS_MS = INTERVAL_SECS * 1000;

let smtp, server, second, admin, a;
let T; // the sales team
let M; let S1; let S2; let MK; let M2; // manager (of T), sales, sales, marketer, a second manager
const mails = []; // parsed messages that reached the SMTP capture
const madeRules = []; // ids of rules a test created: deleted after each test

const q1 = (query) => { const rows = sql(server, query); return rows.length ? rows[0][0] : null; };
const num = (query) => Number(q1(query));
const mailsTo = (addr) => mails.filter((m) => m.to && m.to.value.some((v) => v.address === addr));

before(async () => {
  const port = await freePort();
  smtp = new SMTPServer({
    authOptional: true, disabledCommands: ['STARTTLS'], logger: false,
    onData(stream, session, cb) { simpleParser(stream).then((m) => { mails.push(m); cb(); }, cb); },
  });
  await new Promise((r) => smtp.listen(port, '127.0.0.1', r));
  const env = {
    // the CRM worker's pass: schedule rules, and reminders delivered on the bell and by e-mail
    SWITCHBOARD_CRM_INTERVAL_SECS: String(INTERVAL_SECS),
    SWITCHBOARD_CRM_SETTLE_MS: '0',
    SWITCHBOARD_SMTP_HOST: '127.0.0.1',
    SWITCHBOARD_SMTP_PORT: String(port),
    SWITCHBOARD_SMTP_FROM: 'rules@example.com',
    SWITCHBOARD_OUTBOX_RETRY_SECS: '1',
    SWITCHBOARD_ROUTING_ENABLED: 'no',
    SWITCHBOARD_WEBHOOKS_ALLOW_HOSTS: 'localhost', // the call_webhook test's receiver
  };
  server = await startServer({ env });
  // a second gateway process on the same database: schedule rules still fire once
  second = await startServer({ env, dbName: server.dbName, migrate: false });
  admin = await bootstrapAdmin(server);
  a = api(server, admin.token);
  T = (await a.post(`${V1}/teams`, { name: '规则销售组', description: 'rules' })).json;
  assert.ok(T && T.id);
  M = await createAgent(server, admin.token, { role: 'manager', team_id: T.id, name: '规则经理' });
  S1 = await createAgent(server, admin.token, { role: 'sales', team_id: T.id, name: '规则销售一' });
  S2 = await createAgent(server, admin.token, { role: 'sales', team_id: T.id, name: '规则销售二' });
  MK = await createAgent(server, admin.token, { role: 'marketer', name: '规则市场' });
  M2 = await createAgent(server, admin.token, { role: 'manager', name: '另一经理' });
  for (const x of [M, S1, S2, MK, M2]) x.api = api(server, x.token);
  const r = await a.patch(`${V1}/teams/${T.id}`, { manager_id: M.id });
  assert.equal(r.status, 200, r.text);
});

after(async () => {
  if (second) await second.stop();
  if (server) { await server.stop(); dropDatabase(server); }
  if (smtp) await new Promise((r) => smtp.close(r));
});

// A test's own rules never outlive it (a failed test must not leave a loop enabled).
afterEach(async () => {
  while (madeRules.length) {
    const id = madeRules.pop();
    await a.del(`${V1}/rules/${id}`);
  }
});

// ------------------------------------------------------------------ helpers

/** POST /rules (as admin unless `who`), asserting 201; the rule is deleted after the test. */
async function mkRule(body, who = a) {
  const r = await who.post(`${V1}/rules`, body);
  assert.equal(r.status, 201, `POST /rules ${JSON.stringify(body)}: ${r.status} ${r.text}`);
  madeRules.push(r.json.id);
  return r.json;
}

async function getRule(id) {
  const r = await a.get(`${V1}/rules/${id}`);
  assert.equal(r.status, 200, r.text);
  return r.json;
}

/** Firings of rule `id` (newest first), optionally only those of one record. */
async function firingsOf(id, recordType, recordId) {
  const r = await a.get(`${V1}/rules/${id}/firings?per_page=200`);
  assert.equal(r.status, 200, `GET /rules/${id}/firings: ${r.text}`);
  assert.ok(Array.isArray(r.json.items), r.text);
  assert.equal(typeof r.json.total, 'number', r.text);
  return r.json.items.filter((f) => (recordType === undefined || f.record_type === recordType)
    && (recordId === undefined || f.record_id === recordId));
}

/** GET /rule-firings?record_type=&record_id= (newest first). */
async function firingsOfRecord(recordType, recordId) {
  const r = await a.get(`${V1}/rule-firings?record_type=${recordType}&record_id=${recordId}&per_page=200`);
  assert.equal(r.status, 200, `GET /rule-firings: ${r.text}`);
  return r.json.items;
}

/** Asserts a firing's shape and the fields the contract names. */
function checkFiring(f, { rule, trigger, recordType, recordId, outcome, eventKind }) {
  const what = JSON.stringify(f);
  assert.equal(f.rule_id, rule.id, what);
  if (rule.name) assert.equal(f.rule_name, rule.name, what);
  assert.equal(typeof f.rule_version, 'number', what);
  assert.equal(f.trigger, trigger, what);
  assert.equal(f.record_type, recordType, what);
  assert.equal(f.record_id, recordId, what);
  assert.equal(f.outcome, outcome, what);
  assert.ok(Array.isArray(f.actions), what);
  for (const x of f.actions) {
    assert.equal(typeof x.type, 'string', what);
    assert.ok(['done', 'skipped', 'failed'].includes(x.outcome), what);
  }
  assert.equal(typeof f.depth, 'number', what);
  if (trigger === 'schedule') assert.equal(f.event_id, null, what);
  if (eventKind) {
    // an event rule's firing names the event it ran for
    assert.equal(typeof f.event_id, 'number', `event_id of a ${trigger} firing: ${what}`);
    assert.equal(q1(`SELECT kind FROM events WHERE id = ${f.event_id}`), eventKind, what);
  }
  assert.match(f.created_at, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/, what);
}

// The seed rules: the behaviours the contract's introduction names, plus the first
// follow-up task for a new customer's owner, by system_key.
const SEEDS = {
  lead_assignment: 'lead.created', first_followup: 'customer.created', no_followup: 'schedule',
  mature_deal_manager: 'deal.stage_changed', deal_lifecycle: 'deal.stage_changed',
};
async function seedRule(key) {
  const r = await a.get(`${V1}/rules`);
  assert.equal(r.status, 200, r.text);
  const rule = r.json.items.find((x) => x.system_key === key);
  assert.ok(rule, `no seed rule ${key} in ${JSON.stringify(r.json.items.map((x) => [x.id, x.system_key, x.trigger]))}`);
  assert.equal(rule.enabled, true, `seed rule ${key} enabled: ${JSON.stringify(rule)}`);
  return rule;
}

/** Active sales agents with their region and open leads, from the tables. */
function salesLoad() {
  return sql(server, `SELECT a.id, COALESCE(a.region, ''),
      (SELECT COUNT(*) FROM leads l WHERE l.owner_id = a.id AND l.status IN ('new','working'))
    FROM agents a WHERE a.role = 'sales' AND a.active = 1`).map(([id, region, n]) => ({ id: Number(id), region, open: Number(n) }));
}
const leastBusy = (xs) => { const min = Math.min(...xs.map((x) => x.open)); return xs.filter((x) => x.open === min).map((x) => x.id); };

function tagsOf(id) {
  return sql(server, `SELECT t.name FROM customer_tags ct JOIN tags t ON t.id = ct.tag_id WHERE ct.customer_id = ${id} ORDER BY t.name`)
    .map((r) => r[0]);
}

async function mkCustomer(who, body) {
  const r = await who.post(`${V1}/customers`, body);
  assert.equal(r.status, 201, `create ${JSON.stringify(body)}: ${r.text}`);
  return r.json;
}

const DRY_TABLES = ['customers', 'customer_tags', 'tags', 'reminders', 'audit_log', 'events', 'rule_firings'];

/** Counts of the tables once they stayed the same over a worker pass or two. */
async function settledCounts(tables) {
  let prev = counts(server, tables);
  for (let i = 0; i < 20; i++) {
    await sleep(PASS_MS + 500);
    const now = counts(server, tables);
    if (JSON.stringify(now) === JSON.stringify(prev)) return now;
    prev = now;
  }
  throw new Error(`tables never settled: ${JSON.stringify(prev)}`);
}

// ------------------------------------------------------------------ 1. seed rules

test('seed rules are listed with their system keys, enabled, ordered by trigger, position, id', async () => {
  const r = await a.get(`${V1}/rules`);
  assert.equal(r.status, 200, r.text);
  assert.equal(r.json.total, r.json.items.length);
  for (const [key, trigger] of Object.entries(SEEDS)) {
    const rule = await seedRule(key);
    assert.equal(rule.trigger, trigger, JSON.stringify(rule));
    assert.equal(typeof rule.version, 'number');
    assert.ok(Array.isArray(rule.actions) && rule.actions.length >= 1, JSON.stringify(rule));
  }
  const keyOf = (x) => [x.trigger, x.position, x.id];
  for (let i = 1; i < r.json.items.length; i++) {
    const [p, q] = [keyOf(r.json.items[i - 1]), keyOf(r.json.items[i])];
    const cmp = p[0] < q[0] ? -1 : p[0] > q[0] ? 1 : (p[1] - q[1]) || (p[2] - q[2]);
    assert.ok(cmp < 0, `order: ${JSON.stringify(p)} before ${JSON.stringify(q)}`);
  }
  const onlyLeads = (await a.get(`${V1}/rules?trigger=lead.created`)).json;
  assert.ok(onlyLeads.items.length >= 1);
  assert.ok(onlyLeads.items.every((x) => x.trigger === 'lead.created'), JSON.stringify(onlyLeads));
});

test('seed lead_assignment: region agent (region), else least busy (least_busy), an explicit owner stays (manual) — one firing each', async () => {
  const rule = await seedRule('lead_assignment');
  const firedBefore = rule.fired;
  const region = `规则区-${Date.now()}`;
  const R = await createAgent(server, admin.token, { role: 'sales', team_id: T.id, region, name: '区域销售' });

  // a region with a sales agent: that agent
  let r = await a.post(`${V1}/leads`, { name: '区域线索', region });
  assert.equal(r.status, 201, r.text);
  const l1 = r.json;
  assert.deepEqual([l1.owner_id, l1.assigned_by], [R.id, 'region'], r.text);

  // a region without one: the least busy sales agent
  const candidates = leastBusy(salesLoad());
  r = await a.post(`${V1}/leads`, { name: '无人区线索', region: `无人区-${Date.now()}` });
  assert.equal(r.status, 201, r.text);
  const l2 = r.json;
  assert.ok(candidates.includes(l2.owner_id), `owner ${l2.owner_id}, least busy: ${candidates}`);
  assert.equal(l2.assigned_by, 'least_busy');

  // an explicit owner: no reassignment
  r = await a.post(`${V1}/leads`, { name: '指定线索', region, owner_id: S2.id });
  assert.equal(r.status, 201, r.text);
  const l3 = r.json;
  assert.deepEqual([l3.owner_id, l3.assigned_by], [S2.id, 'manual'], r.text);
  assert.equal(num(`SELECT owner_id FROM leads WHERE id = ${l3.id}`), S2.id);

  for (const l of [l1, l2]) {
    const fs = await firingsOf(rule.id, 'lead', l.id);
    assert.equal(fs.length, 1, `lead ${l.id}: ${JSON.stringify(fs)}`);
    checkFiring(fs[0], { rule, trigger: 'lead.created', recordType: 'lead', recordId: l.id, outcome: 'done' });
    const assign = fs[0].actions.find((x) => x.type === 'assign_owner');
    assert.equal(assign && assign.outcome, 'done', JSON.stringify(fs[0]));
    const byRecord = await firingsOfRecord('lead', l.id);
    assert.deepEqual(byRecord.filter((f) => f.rule_id === rule.id).map((f) => f.id), [fs[0].id]);
  }
  // the owned lead: at most a firing whose assignment did not apply
  const f3 = await firingsOf(rule.id, 'lead', l3.id);
  assert.ok(f3.length <= 1, JSON.stringify(f3));
  for (const f of f3) assert.ok(!f.actions.some((x) => x.type === 'assign_owner' && x.outcome === 'done'), JSON.stringify(f));

  const now = await getRule(rule.id);
  assert.ok(now.fired >= firedBefore + 2 && now.fired <= firedBefore + 3, `fired ${firedBefore} → ${now.fired}`);
  assert.ok(now.last_fired_at, JSON.stringify(now));
});

test('seed first_followup: a new customer with an owner gives the owner one follow-up task; without an owner nobody', async () => {
  const rule = await seedRule('first_followup');
  const c = await mkCustomer(a, { name: '新客户跟进', owner_id: S1.id });
  const rows = sql(server, `SELECT kind, agent_id FROM reminders WHERE customer_id = ${c.id}`);
  assert.deepEqual(rows, [['task', String(S1.id)]], 'one task for the owner, when the API answered');
  const mine = (await S1.api.get(`${V1}/reminders?status=all&per_page=200`)).json.items.filter((x) => x.customer_id === c.id);
  assert.deepEqual(mine.map((x) => x.kind), ['task']);
  const fs = await firingsOf(rule.id, 'customer', c.id);
  assert.equal(fs.length, 1, JSON.stringify(fs));
  checkFiring(fs[0], { rule, trigger: 'customer.created', recordType: 'customer', recordId: c.id, outcome: 'done' });
  assert.equal(fs[0].actions.find((x) => x.type === 'create_task').outcome, 'done');

  const nobody = await mkCustomer(a, { name: '无主客户' });
  assert.equal(num(`SELECT COUNT(*) FROM reminders WHERE customer_id = ${nobody.id}`), 0);
  for (const f of await firingsOf(rule.id, 'customer', nobody.id)) {
    assert.ok(!f.actions.some((x) => x.type === 'create_task' && x.outcome === 'done'), JSON.stringify(f));
  }
  await sleep(PASS_MS + 500); // a worker pass: still one
  assert.equal(num(`SELECT COUNT(*) FROM reminders WHERE customer_id = ${c.id}`), 1);
  assert.equal((await firingsOf(rule.id, 'customer', c.id)).length, 1);
});

test('seed no_followup (schedule): 3 days without a follow-up ⇒ one reminder for the manager; a follow-up and a new lapse ⇒ once more', async () => {
  const rule = await seedRule('no_followup');
  assert.equal(rule.schedule_record, 'customer', JSON.stringify(rule));
  const bell = await agentSocket(second, M.token); // on the other process
  const quiet = await mkCustomer(S1.api, { name: '久未跟进规则', stage: 'contacted' });
  const busy = await mkCustomer(S1.api, { name: '刚跟进过', stage: 'contacted' });
  assert.equal(quiet.owner_id, S1.id);
  sql(server, `UPDATE customers SET created_at = NOW(3) - INTERVAL 10 DAY, last_followup_at = NOW(3) - INTERVAL 5 DAY WHERE id = ${quiet.id}`);
  sql(server, `UPDATE customers SET created_at = NOW(3) - INTERVAL 10 DAY, last_followup_at = NOW(3) - INTERVAL 1 DAY WHERE id = ${busy.id}`);
  const lapses = () => sql(server, `SELECT id, agent_id FROM reminders WHERE kind = 'no_followup' AND customer_id = ${quiet.id} ORDER BY id`);
  await until(() => lapses().length >= 1, 20000, 'the no_followup reminder', 100);
  await sleep(3 * PASS_MS + 500); // more passes: still once
  let rem = lapses();
  assert.equal(rem.length, 1, JSON.stringify(rem));
  assert.equal(Number(rem[0][1]), M.id, "the owner's team manager");
  let fs = await firingsOf(rule.id, 'customer', quiet.id);
  assert.equal(fs.length, 1, JSON.stringify(fs));
  checkFiring(fs[0], { rule, trigger: 'schedule', recordType: 'customer', recordId: quiet.id, outcome: 'done' });
  assert.equal(num(`SELECT COUNT(*) FROM reminders WHERE kind = 'no_followup' AND customer_id = ${busy.id}`), 0);
  assert.deepEqual(await firingsOf(rule.id, 'customer', busy.id), []);
  const shown = (await M.api.get(`${V1}/reminders?status=all&per_page=200`)).json.items.filter((x) => x.customer_id === quiet.id);
  assert.deepEqual(shown.map((x) => x.kind), ['no_followup']);
  assert.match(shown[0].message, /久未跟进规则/);
  assert.equal((await M.api.patch(`${V1}/reminders/${shown[0].id}`, { done: true })).status, 200);

  // a follow-up: no longer matching (passes see it); then it lapses again
  const act = await S1.api.post(`${V1}/activities`, { customer_id: quiet.id, method: 'call', content: '电话跟进' });
  assert.equal(act.status, 201, act.text);
  await sleep(3 * PASS_MS + 500); // let the schedule see the record stop matching
  assert.equal((await firingsOf(rule.id, 'customer', quiet.id)).length, 1, 'a follow-up is no new lapse');
  sql(server, `UPDATE customers SET last_followup_at = NOW(3) - INTERVAL 4 DAY WHERE id = ${quiet.id}`);
  await until(async () => (await firingsOf(rule.id, 'customer', quiet.id)).length >= 2, 20000, 'the second lapse', 200);
  await sleep(3 * PASS_MS + 500);
  fs = await firingsOf(rule.id, 'customer', quiet.id);
  assert.equal(fs.length, 2, JSON.stringify(fs));
  assert.ok(fs.every((f) => f.outcome === 'done'), JSON.stringify(fs));
  rem = lapses();
  assert.equal(rem.length, 2, `a reminder for each lapse: ${JSON.stringify(rem)}`);
  assert.ok(rem.every((x) => Number(x[1]) === M.id));

  // each reminder is delivered once on the bell and once by e-mail
  const rung = () => bell.frames.filter((f) => f.type === 'reminder.due' && f.reminder && f.reminder.customer_id === quiet.id);
  const mailed = () => mailsTo(M.email).filter((m) => `${m.subject} ${m.text}`.includes('久未跟进规则'));
  await until(() => rung().length >= 2 && mailed().length >= 2, 20000, 'two bells and two mails', 100);
  await sleep(2 * PASS_MS + 500);
  assert.deepEqual(rung().map((f) => f.reminder.kind), ['no_followup', 'no_followup']);
  assert.equal(mailed().length, 2);
  bell.ws.terminate();
});

test('seed mature_deal_manager: a deal entering the notify stage ⇒ one deal_stage reminder for the owner\'s team manager', async () => {
  const rule = await seedRule('mature_deal_manager');
  const stages = (await a.get(`${V1}/pipeline-stages`)).json.items;
  const mature = stages.find((s) => s.notify_manager);
  const plain = stages.find((s) => !s.notify_manager && s.kind === 'open');
  assert.ok(mature && plain, JSON.stringify(stages));
  const c = await mkCustomer(S1.api, { name: '成熟规则客户' });
  const d = (await S1.api.post(`${V1}/deals`, { customer_id: c.id, title: '成熟规则商机', stage_id: plain.id })).json;
  assert.ok(d && d.id);
  const dealRem = () => sql(server, `SELECT kind, agent_id FROM reminders WHERE deal_id = ${d.id} AND kind = 'deal_stage'`);
  assert.deepEqual(dealRem(), []);
  assert.deepEqual(await firingsOf(rule.id, 'deal', d.id), [], 'creation in a plain stage fires nothing');
  const r = await S1.api.patch(`${V1}/deals/${d.id}`, { stage_id: mature.id });
  assert.equal(r.status, 200, r.text);
  assert.deepEqual(dealRem(), [['deal_stage', String(M.id)]], 'when the API answered');
  const fs = await firingsOf(rule.id, 'deal', d.id);
  assert.equal(fs.length, 1, JSON.stringify(fs));
  checkFiring(fs[0], { rule, trigger: 'deal.stage_changed', recordType: 'deal', recordId: d.id, outcome: 'done' });
  assert.equal(fs[0].actions.find((x) => x.type === 'notify').outcome, 'done');
  const mine = (await M.api.get(`${V1}/reminders?status=all&per_page=200`)).json.items.filter((x) => x.deal_id === d.id);
  assert.equal(mine.length, 1);
  assert.match(mine[0].message, /成熟规则商机|成熟规则客户/);
  assert.ok(!(await S1.api.get(`${V1}/reminders?status=all&per_page=200`)).json.items.some((x) => x.deal_id === d.id && x.kind === 'deal_stage'));
  // a move to a plain stage: the conditions do not hold, nothing fires
  assert.equal((await S1.api.patch(`${V1}/deals/${d.id}`, { stage_id: plain.id })).status, 200);
  await sleep(PASS_MS + 500);
  assert.equal((await firingsOf(rule.id, 'deal', d.id)).length, 1);
  assert.equal(dealRem().length, 1);
});

test('seed deal_lifecycle: a deal\'s stage moves its customer\'s lifecycle forward, never backwards', async () => {
  const rule = await seedRule('deal_lifecycle');
  const stages = (await a.get(`${V1}/pipeline-stages`)).json.items;
  const first = stages.filter((s) => s.kind === 'open').sort((x, y) => x.position - y.position)[0];
  const proposal = stages.find((s) => s.customer_stage === 'proposal' && !s.notify_manager);
  assert.ok(first && proposal && first.id !== proposal.id, JSON.stringify(stages));
  const c = await mkCustomer(S1.api, { name: '生命周期规则', stage: 'potential' });
  const d = (await S1.api.post(`${V1}/deals`, { customer_id: c.id, title: '生命周期规则商机', stage_id: first.id })).json;
  const before = (await firingsOf(rule.id, 'deal', d.id)).length;
  let r = await S1.api.patch(`${V1}/deals/${d.id}`, { stage_id: proposal.id });
  assert.equal(r.status, 200, r.text);
  assert.equal((await a.get(`${V1}/customers/${c.id}`)).json.stage, 'proposal', 'moved forward when the API answered');
  let fs = await firingsOf(rule.id, 'deal', d.id);
  assert.equal(fs.length, before + 1, JSON.stringify(fs));
  checkFiring(fs[0], { rule, trigger: 'deal.stage_changed', recordType: 'deal', recordId: d.id, outcome: 'done' });
  assert.equal(fs[0].actions.find((x) => x.type === 'advance_lifecycle').outcome, 'done');
  const hist = (await a.get(`${V1}/customers/${c.id}`)).json.stage_history;
  assert.deepEqual([hist[0].to_stage, hist[0].reason], ['proposal', 'deal'], JSON.stringify(hist));

  // a customer already further on is never moved back
  assert.equal((await S1.api.patch(`${V1}/customers/${c.id}`, { stage: 'won' })).status, 200);
  const histRows = num(`SELECT COUNT(*) FROM customer_stage_history WHERE customer_id = ${c.id}`);
  r = await S1.api.patch(`${V1}/deals/${d.id}`, { stage_id: first.id });
  assert.equal(r.status, 200, r.text);
  assert.equal((await a.get(`${V1}/customers/${c.id}`)).json.stage, 'won');
  fs = await firingsOf(rule.id, 'deal', d.id);
  assert.ok(fs.length <= before + 2, JSON.stringify(fs));
  if (fs.length === before + 2) {
    const back = fs[0].actions.find((x) => x.type === 'advance_lifecycle');
    assert.equal(back.outcome, 'skipped', `a backwards move does not apply: ${JSON.stringify(fs[0])}`);
    assert.ok(back.detail, 'a skipped action says why');
  }
  assert.equal(num(`SELECT COUNT(*) FROM customer_stage_history WHERE customer_id = ${c.id}`), histRows, 'no stage change recorded');
});

test('a firing of an event rule names its event (event_id), one firing per rule and event', async () => {
  const lead = await seedRule('lead_assignment');
  const first = await seedRule('first_followup');
  const mature = await seedRule('mature_deal_manager');
  const stages = (await a.get(`${V1}/pipeline-stages`)).json.items;
  const l = (await a.post(`${V1}/leads`, { name: '事件线索' })).json;
  const c = await mkCustomer(a, { name: '事件客户', owner_id: S1.id });
  const d = (await S1.api.post(`${V1}/deals`, { customer_id: c.id, title: '事件商机' })).json;
  assert.equal((await S1.api.patch(`${V1}/deals/${d.id}`, { stage_id: stages.find((x) => x.notify_manager).id })).status, 200);
  const tagRule = await mkRule({ name: '事件标签', trigger: 'tag.added', conditions: 'event.tag = 事件', enabled: true, actions: [{ type: 'tag', tag: '事件后' }] });
  const tr = await a.post(`${V1}/customers/${c.id}/tags`, { tags: ['事件'] });
  assert.ok(tr.status === 200 || tr.status === 201, tr.text);
  const noEvent = [];
  for (const [rule, trigger, type, id, kind] of [
    [lead, 'lead.created', 'lead', l.id, 'lead.created'],
    [first, 'customer.created', 'customer', c.id, 'customer.created'],
    [mature, 'deal.stage_changed', 'deal', d.id, 'deal.stage_changed'],
    [tagRule, 'tag.added', 'customer', c.id, 'customer.tagged'],
  ]) {
    const fs = await firingsOf(rule.id, type, id);
    assert.equal(fs.length, 1, JSON.stringify(fs));
    checkFiring(fs[0], { rule, trigger, recordType: type, recordId: id, outcome: 'done' });
    const ev = fs[0].event_id === null ? null : q1(`SELECT kind FROM events WHERE id = ${Number(fs[0].event_id)}`);
    if (typeof fs[0].event_id !== 'number' || ev !== kind) noEvent.push(`${trigger} firing: event_id ${fs[0].event_id} (${ev}), expected a ${kind} event`);
  }
  assert.deepEqual(noEvent, []);
});

// ------------------------------------------------------------------ 2. editable defaults

test('a seed rule is editable: disabled (a new lead stays unowned), versioned, restored', async () => {
  const rule = await seedRule('lead_assignment');
  const v0 = rule.version;
  try {
    let r = await a.patch(`${V1}/rules/${rule.id}`, { enabled: false });
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.enabled, false);
    assert.equal(r.json.version, v0 + 1, 'switching off is a new version');
    assert.equal(r.json.system_key, rule.system_key, 'still the seed rule');
    const lead = await a.post(`${V1}/leads`, { name: '无人分配', region: '华东' });
    assert.equal(lead.status, 201, lead.text);
    assert.equal(lead.json.owner_id, null, lead.text);
    assert.equal(q1(`SELECT owner_id FROM leads WHERE id = ${lead.json.id}`), null);
    assert.deepEqual(await firingsOf(rule.id, 'lead', lead.json.id), []);

    const vs = await a.get(`${V1}/rules/${rule.id}/versions`);
    assert.equal(vs.status, 200, vs.text);
    assert.ok(vs.json.items.length >= 2, vs.text);
    const [newest, older] = vs.json.items;
    assert.deepEqual([newest.version, newest.enabled], [v0 + 1, false], vs.text);
    assert.deepEqual([older.version, older.enabled], [v0, true], vs.text);
    assert.equal(newest.changed_by, admin.agent.id);
    for (const v of [newest, older]) {
      assert.equal(v.trigger, 'lead.created');
      assert.equal(v.name, rule.name);
      assert.deepEqual(v.actions, rule.actions);
      assert.equal(v.conditions, rule.conditions);
      assert.match(v.changed_at, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/, JSON.stringify(v));
    }

    // restoring version v0 (enabled) makes its content current, as a new version
    r = await a.post(`${V1}/rules/${rule.id}/versions/${v0}/restore`);
    assert.ok(r.status === 200 || r.status === 201, r.text);
    const now = await getRule(rule.id);
    assert.equal(now.version, v0 + 2, JSON.stringify(now));
    assert.deepEqual(now.actions, rule.actions);
    const vs2 = (await a.get(`${V1}/rules/${rule.id}/versions`)).json.items;
    assert.deepEqual(vs2.slice(0, 3).map((v) => v.version), [v0 + 2, v0 + 1, v0]);
    assert.equal(now.enabled, true, `version ${v0} was enabled: restoring it switches the rule on again: ${JSON.stringify(now)}`);
    assert.equal(vs2[0].enabled, true, JSON.stringify(vs2[0]));
    const lead2 = await a.post(`${V1}/leads`, { name: '恢复后分配' });
    assert.equal(lead2.status, 201, lead2.text);
    assert.ok(lead2.json.owner_id > 0, lead2.text);
    assert.equal((await firingsOf(rule.id, 'lead', lead2.json.id)).length, 1);
    expectError(await a.post(`${V1}/rules/${rule.id}/versions/999/restore`), 404);
  } finally {
    const cur = await getRule(rule.id);
    if (!cur.enabled) await a.patch(`${V1}/rules/${rule.id}`, { enabled: true });
  }
});

test('PATCH bumps the version only for name, trigger, conditions, actions or enabled', async () => {
  const rule = await mkRule({ name: '版本规则', trigger: 'customer.created', conditions: 'region = 无此地', actions: [{ type: 'tag', tag: 'v' }] });
  assert.equal(rule.version, 1);
  const steps = [ // [body, bumps the version]
    [{ description: '只改说明' }, false],
    [{ position: 7 }, false],
    [{ name: '版本规则二' }, true],
    [{ conditions: 'region = 无此地二' }, true],
    [{ actions: [{ type: 'tag', tag: 'v2' }] }, true],
    [{ enabled: true }, true],
    [{ trigger: 'customer.updated' }, true],
    [{ description: '再改说明', position: 3 }, false],
  ];
  const wrong = [];
  let last = rule.version;
  for (const [body, bumps] of steps) {
    const r = await a.patch(`${V1}/rules/${rule.id}`, body);
    assert.equal(r.status, 200, r.text);
    if ((r.json.version > last) !== bumps) wrong.push(`PATCH ${JSON.stringify(body)}: version ${last} → ${r.json.version}`);
    last = r.json.version;
  }
  assert.deepEqual(wrong, [], 'only name, trigger, conditions, actions and enabled make a new version');
  assert.equal(last, 6);
  const vs = (await a.get(`${V1}/rules/${rule.id}/versions`)).json.items;
  assert.deepEqual(vs.map((v) => v.version), [6, 5, 4, 3, 2, 1]);
  assert.deepEqual([vs[0].trigger, vs[1].trigger, vs[2].actions[0].tag, vs[3].conditions, vs[4].name],
    ['customer.updated', 'customer.created', 'v2', 'region = 无此地二', '版本规则二']);
});

// ------------------------------------------------------------------ 3. CRUD and validation

test('rules CRUD: create (disabled by default), read, filter, patch, delete 204; 422s name the field; admin only', async () => {
  const body = {
    name: '标签规则', description: 'd', trigger: 'customer.created', conditions: 'region = 西部',
    actions: [{ type: 'tag', tag: '西部客户' }],
  };
  const rule = await mkRule(body);
  assert.equal(rule.enabled, false, 'a new rule is disabled unless asked');
  assert.equal(rule.version, 1);
  assert.equal(rule.system_key, null);
  assert.equal(rule.fired, 0);
  assert.deepEqual([rule.name, rule.trigger, rule.conditions], [body.name, body.trigger, body.conditions]);
  assert.deepEqual(rule.actions.map((x) => [x.type, x.tag]), [['tag', '西部客户']]);
  assert.deepEqual(await getRule(rule.id), rule);
  // disabled: does nothing
  const c0 = await mkCustomer(a, { name: '西部一', region: '西部' });
  assert.deepEqual(tagsOf(c0.id), []);

  let r = await a.patch(`${V1}/rules/${rule.id}`, { enabled: true, name: '西部标签' });
  assert.equal(r.status, 200, r.text);
  assert.deepEqual([r.json.enabled, r.json.name, r.json.version], [true, '西部标签', 2]);
  const c1 = await mkCustomer(a, { name: '西部二', region: '西部' });
  assert.deepEqual(tagsOf(c1.id), ['西部客户'], 'tagged when the API answered');
  const c2 = await mkCustomer(a, { name: '东部', region: '东部' });
  assert.deepEqual(tagsOf(c2.id), []);
  const fs = await firingsOf(rule.id);
  assert.deepEqual(fs.map((f) => [f.record_id, f.outcome]), [[c1.id, 'done']]);
  assert.equal(fs[0].rule_version, 2);

  // validation: every bad field named, nothing written
  const total = (await a.get(`${V1}/rules`)).json.total;
  const ok = { name: 'v', trigger: 'customer.created', conditions: '', actions: [{ type: 'tag', tag: 'x' }] };
  const bad = [
    [{ ...ok, trigger: 'customer.exploded' }, 'trigger'],
    [{ ...ok, name: '' }, 'name'],
    [{ ...ok, name: 'n'.repeat(201) }, 'name'],
    [{ ...ok, conditions: 'region = ' }, 'conditions'],
    [{ ...ok, conditions: 'nosuchfield = 1' }, 'conditions'],
    [{ ...ok, conditions: 'deal.amount > 100' }, 'conditions'],
    [{ ...ok, trigger: 'lead.created', conditions: 'ticket.priority = high' }, 'conditions'],
    [{ ...ok, conditions: 'event.tag = x' }, 'conditions'],
    [{ ...ok, actions: [{ type: 'explode' }] }, 'actions[0].type'],
    [{ ...ok, actions: [{ type: 'tag', tag: 'a' }, { type: 'notify', to: 'owner', message: 'm' }, { type: 'tag' }] }, 'actions[2].tag'],
    [{ ...ok, actions: 'tag' }, 'actions'],
    [{ ...ok, trigger: 'schedule', schedule_record: 'ticket' }, 'schedule_record'],
    [{ ...ok, colour: 'red' }, 'colour'],
  ];
  for (const [b, field] of bad) {
    const res = await a.post(`${V1}/rules`, b);
    const e = expectError(res, 422, 'validation_failed');
    assert.ok(e.fields && e.fields[field], `${JSON.stringify(b).slice(0, 160)} must name ${field}: ${res.text}`);
  }
  const e = expectError(await a.post(`${V1}/rules`, { ...ok, conditions: 'region = ' }), 422);
  assert.match(e.fields.conditions, /at \d+/, 'a compile error says where');
  const e2 = expectError(await a.post(`${V1}/rules`, { ...ok, conditions: 'deal.amount > 100' }), 422);
  assert.match(e2.fields.conditions, /deal\.amount/i, e2.fields.conditions);
  assert.equal((await a.get(`${V1}/rules`)).json.total, total);
  // the same checks on PATCH, and the rule stays as it was
  expectError(await a.patch(`${V1}/rules/${rule.id}`, { conditions: 'deal.amount > 1' }), 422);
  expectError(await a.patch(`${V1}/rules/${rule.id}`, { actions: [{ type: 'untag' }] }), 422);
  assert.deepEqual((await getRule(rule.id)).conditions, body.conditions);
  assert.equal((await getRule(rule.id)).version, 2);
  // a schedule rule over deals with deal fields is fine
  const sched = await mkRule({ name: '大单', trigger: 'schedule', schedule_record: 'deal', conditions: 'deal.amount > 1000000', actions: [{ type: 'notify', to: 'owner', message: '大单 {{deal.title}}' }] });
  assert.equal(sched.schedule_record, 'deal');

  // admin only
  for (const who of [M, S1, MK]) {
    expectError(await who.api.get(`${V1}/rules`), 403);
    expectError(await who.api.post(`${V1}/rules`, ok), 403);
    expectError(await who.api.patch(`${V1}/rules/${rule.id}`, { enabled: false }), 403);
    expectError(await who.api.del(`${V1}/rules/${rule.id}`), 403);
  }
  expectError(await a.get(`${V1}/rules/999999`), 404);

  // delete: 204, its firings and versions go with it
  r = await a.del(`${V1}/rules/${rule.id}`);
  assert.equal(r.status, 204, r.text);
  madeRules.splice(madeRules.indexOf(rule.id), 1);
  expectError(await a.get(`${V1}/rules/${rule.id}`), 404);
  assert.ok(!(await firingsOfRecord('customer', c1.id)).some((f) => f.rule_id === rule.id));
  const c3 = await mkCustomer(a, { name: '西部三', region: '西部' });
  assert.deepEqual(tagsOf(c3.id), [], 'a deleted rule does nothing');
});

// ------------------------------------------------------------------ 4. dry run

test('dry run: POST /rules/test and /rules/{id}/test answer what would happen (chains included) and write nothing', async () => {
  const x = await mkCustomer(a, { name: '试运行客户', owner_id: S1.id, stage: 'potential', grade: 'B' });
  // a rule the dry run's tag would chain into
  const chain = await mkRule({
    name: '试运行链', trigger: 'tag.added', conditions: 'event.tag = 试运行标签', enabled: true,
    actions: [{ type: 'tag', tag: '试运行链标签' }],
  });
  const enabled = await mkRule({
    name: '试运行已启用', trigger: 'activity.created', conditions: 'name ~ 试运行客户', enabled: true,
    actions: [{ type: 'tag', tag: '试运行二' }, { type: 'notify', to: 'manager', message: '{{customer.name}} 有新跟进' }],
  });
  const rule = {
    trigger: 'customer.updated', conditions: 'stage:potential AND grade = B',
    actions: [
      { type: 'tag', tag: '试运行标签' },
      { type: 'set_field', field: 'grade', value: 'A' },
      { type: 'notify', to: 'owner', message: '请跟进 {{customer.name}}' },
    ],
  };
  const view = async () => (await a.get(`${V1}/customers/${x.id}`)).json;
  const before = await settledCounts(DRY_TABLES);
  const seen = await view();

  let r = await a.post(`${V1}/rules/test`, { rule, record_id: x.id });
  assert.equal(r.status, 200, r.text);
  assert.equal(r.json.matched, true, r.text);
  assert.deepEqual(r.json.actions.map((y) => [y.type, y.outcome]), [['tag', 'done'], ['set_field', 'done'], ['notify', 'done']], r.text);
  assert.ok(Array.isArray(r.json.chained), r.text);
  const ch = r.json.chained.find((y) => y.rule_id === chain.id);
  assert.ok(ch, `the tag would chain into rule ${chain.id}: ${r.text}`);
  assert.equal(ch.matched, true);
  assert.deepEqual(ch.actions.map((y) => [y.type, y.outcome]), [['tag', 'done']], r.text);

  r = await a.post(`${V1}/rules/${enabled.id}/test`, { record_id: x.id });
  assert.equal(r.status, 200, r.text);
  assert.equal(r.json.matched, true, r.text);
  assert.deepEqual(r.json.actions.map((y) => [y.type, y.outcome]), [['tag', 'done'], ['notify', 'done']], r.text);

  // not matching
  r = await a.post(`${V1}/rules/test`, { rule: { ...rule, conditions: 'stage:won' }, record_id: x.id });
  assert.equal(r.status, 200, r.text);
  assert.equal(r.json.matched, false, r.text);
  assert.ok(!(r.json.actions || []).some((y) => y.outcome === 'done'), r.text);
  // a missing record; a broken rule
  expectError(await a.post(`${V1}/rules/test`, { rule, record_id: 99999999 }), 404);
  expectError(await a.post(`${V1}/rules/${enabled.id}/test`, { record_id: 99999999 }), 404);
  expectError(await a.post(`${V1}/rules/99999999/test`, { record_id: x.id }), 404);
  const e = expectError(await a.post(`${V1}/rules/test`, { rule: { ...rule, conditions: 'stage = ' }, record_id: x.id }), 422);
  assert.ok(Object.keys(e.fields).some((k) => /conditions/.test(k)), JSON.stringify(e));
  expectError(await S1.api.post(`${V1}/rules/test`, { rule, record_id: x.id }), 403);

  assert.deepEqual(counts(server, DRY_TABLES), before, 'a dry run writes nothing');
  assert.deepEqual(await view(), seen, 'the customer is unchanged');
  assert.deepEqual(tagsOf(x.id), []);
  assert.deepEqual(await firingsOf(enabled.id), []);
  assert.deepEqual(await firingsOf(chain.id), []);
});

// ------------------------------------------------------------------ 5. loops and depth

test('a rule loop is stopped with its reason; the request succeeds and each rule runs a bounded number of times', async () => {
  const A = await mkRule({
    name: '循环甲', trigger: 'tag.added', conditions: 'event.tag = loop-a', enabled: true,
    actions: [{ type: 'untag', tag: 'loop-b' }, { type: 'tag', tag: 'loop-b' }],
  });
  const B = await mkRule({
    name: '循环乙', trigger: 'tag.added', conditions: 'event.tag = loop-b', enabled: true,
    actions: [{ type: 'untag', tag: 'loop-a' }, { type: 'tag', tag: 'loop-a' }],
  });
  const c = await mkCustomer(a, { name: '循环客户' });
  const r = await a.post(`${V1}/customers/${c.id}/tags`, { tags: ['loop-a'] });
  assert.ok(r.status === 200 || r.status === 201, r.text);
  const fs = (await firingsOfRecord('customer', c.id)).filter((f) => f.rule_id === A.id || f.rule_id === B.id);
  const stopped = fs.filter((f) => f.outcome === 'stopped');
  assert.equal(stopped.length, 1, JSON.stringify(fs));
  assert.equal(stopped[0].rule_id, A.id, JSON.stringify(stopped));
  assert.match(stopped[0].reason, new RegExp(`^loop: rule ${A.id} already ran in this chain \\(.+→.+→.+\\)$`), stopped[0].reason);
  assert.deepEqual(fs.filter((f) => f.rule_id === A.id).map((f) => f.outcome).sort(), ['done', 'stopped'], JSON.stringify(fs));
  assert.deepEqual(fs.filter((f) => f.rule_id === B.id).map((f) => f.outcome), ['done'], JSON.stringify(fs));
  const done = fs.filter((f) => f.outcome === 'done');
  const depthOf = (id) => done.find((f) => f.rule_id === id).depth;
  assert.ok(depthOf(A.id) < depthOf(B.id) && depthOf(B.id) < stopped[0].depth, JSON.stringify(fs));
  assert.deepEqual(tagsOf(c.id), ['loop-a', 'loop-b']);
  // the chain has ended: nothing more happens
  await sleep(PASS_MS + 1000);
  assert.equal((await firingsOfRecord('customer', c.id)).filter((f) => f.rule_id === A.id || f.rule_id === B.id).length, 3);
  assert.equal((await getRule(A.id)).enabled, true, 'a stopped chain does not switch the rule off');
  for (const f of fs) checkFiring(f, { rule: f.rule_id === A.id ? A : B, trigger: 'tag.added', recordType: 'customer', recordId: c.id, outcome: f.outcome });
});

test('a chain deeper than 5 rules is stopped with reason "depth limit"', async () => {
  const D = [];
  for (let i = 1; i <= 7; i++) {
    D.push(await mkRule({
      name: `深度${i}`, trigger: 'tag.added', conditions: `event.tag = depth-${i}`, enabled: true,
      actions: [{ type: 'tag', tag: `depth-${i + 1}` }],
    }));
  }
  const c = await mkCustomer(a, { name: '深度客户' });
  const r = await a.post(`${V1}/customers/${c.id}/tags`, { tags: ['depth-1'] });
  assert.ok(r.status === 200 || r.status === 201, r.text);
  const fs = await firingsOfRecord('customer', c.id);
  const of = (rule) => fs.filter((f) => f.rule_id === rule.id);
  for (let i = 0; i < 5; i++) assert.deepEqual(of(D[i]).map((f) => f.outcome), ['done'], `rule ${i + 1}: ${JSON.stringify(fs)}`);
  const six = of(D[5]);
  assert.deepEqual(six.map((f) => f.outcome), ['stopped'], JSON.stringify(fs));
  assert.match(six[0].reason, /depth limit/);
  assert.deepEqual(of(D[6]), []);
  const depths = D.slice(0, 5).map((rule) => of(rule)[0].depth);
  for (let i = 1; i < depths.length; i++) assert.equal(depths[i], depths[i - 1] + 1, JSON.stringify(depths));
  assert.deepEqual(tagsOf(c.id), ['depth-1', 'depth-2', 'depth-3', 'depth-4', 'depth-5', 'depth-6']);
});

// ------------------------------------------------------------------ 6. approvals

const APPROVAL_KEYS = ['id', 'kind', 'record_type', 'record_id', 'summary', 'role', 'status', 'requested_by',
  'requested_by_name', 'decided_by', 'decided_by_name', 'decided_at', 'decision_comment', 'rule_id', 'created_at', 'comments'];

async function campaignFor(who, name, rule) {
  const seg = await who.post(`${V1}/segments`, { name: `seg ${name}`, rule });
  assert.equal(seg.status, 201, seg.text);
  const tpl = await who.post(`${V1}/templates`, { name: `tpl ${name}`, channel: 'email', subject: `${name} {{customer.name}}`, text: '您好 {{customer.name}}。退订：{{unsubscribe_url}}' });
  assert.equal(tpl.status, 201, tpl.text);
  const c = await who.post(`${V1}/campaigns`, { name, segment_id: seg.json.id, template_id: tpl.json.id, channel: 'email' });
  assert.equal(c.status, 201, c.text);
  assert.equal(c.json.status, 'draft');
  return c.json;
}

test('approval holds a big campaign until a manager approves; comments, reject needs a comment, audit; a small one starts at once', async () => {
  const audience = ['appr1@rules.example', 'appr2@rules.example', 'appr3@rules.example'];
  for (const [i, email] of audience.entries()) await mkCustomer(a, { name: `审批客户${i}`, email, tags: ['审批受众'] });
  await mkCustomer(a, { name: '单独客户', email: 'single@rules.example', tags: ['单独受众'] });
  const gate = await mkRule({
    name: '大活动需审批', trigger: 'campaign.start_requested', conditions: 'campaign.audience > 1', enabled: true,
    actions: [{ type: 'request_approval', role: 'manager', summary: '活动 {{campaign.name}} 需要审批' }],
  });
  const auditApprovals = () => num("SELECT COUNT(*) FROM audit_log WHERE action LIKE 'approval.%'");
  const approvalEvents = () => num("SELECT COUNT(*) FROM events WHERE kind = 'approval.updated'");
  const remindersOf = (agent, kind) => num(`SELECT COUNT(*) FROM reminders WHERE agent_id = ${agent.id} AND kind = '${kind}'`);
  const audit0 = auditApprovals();
  const events0 = approvalEvents();
  const mRem0 = remindersOf(M, 'approval');
  const adminRem0 = remindersOf(admin.agent, 'approval');

  const camp = await campaignFor(MK.api, '审批大活动', 'tag:审批受众');
  let r = await MK.api.post(`${V1}/campaigns/${camp.id}/start`);
  assert.equal(r.status, 202, r.text);
  assert.equal(r.json.campaign.status, 'draft', r.text);
  assert.equal(r.json.campaign.approval.status, 'pending', r.text);
  const ap = r.json.approval;
  assert.equal(r.json.campaign.approval.id, ap.id);
  assert.deepEqual([ap.kind, ap.record_type, ap.record_id, ap.role, ap.status, ap.requested_by, ap.rule_id],
    ['campaign.start', 'campaign', camp.id, 'manager', 'pending', MK.id, gate.id], r.text);
  assert.match(ap.summary, /审批大活动/);
  const fs = await firingsOf(gate.id, 'campaign', camp.id);
  assert.deepEqual(fs.map((f) => f.outcome), ['held'], JSON.stringify(fs));

  // held: nothing is sent
  await sleep(2500);
  assert.equal((await MK.api.get(`${V1}/campaigns/${camp.id}`)).json.status, 'draft');
  assert.equal(num(`SELECT COUNT(*) FROM campaign_recipients WHERE campaign_id = ${camp.id}`), 0);
  assert.equal(audience.reduce((n, x) => n + mailsTo(x).length, 0), 0);
  expectError(await MK.api.post(`${V1}/campaigns/${camp.id}/start`), 409, 'approval_pending');

  // approvers are reminded; lists
  assert.equal(remindersOf(M, 'approval'), mRem0 + 1, 'the manager is reminded');
  assert.equal(remindersOf(S1, 'approval'), 0);
  let l = await M.api.get(`${V1}/approvals?status=pending`);
  assert.equal(l.status, 200, l.text);
  assert.ok(l.json.items.some((x) => x.id === ap.id), l.text);
  l = await MK.api.get(`${V1}/approvals?status=pending&mine=1`);
  assert.equal(l.status, 200, l.text);
  assert.ok(l.json.items.some((x) => x.id === ap.id), 'the requester sees their own request');
  const s1List = await S1.api.get(`${V1}/approvals`);
  assert.ok(s1List.status === 403 || !s1List.json.items.some((x) => x.id === ap.id), s1List.text);

  // who may decide
  expectError(await MK.api.post(`${V1}/approvals/${ap.id}/approve`, { comment: '我自己批' }), 403);
  expectError(await S1.api.post(`${V1}/approvals/${ap.id}/approve`, {}), 403);
  const noComment = expectError(await M.api.post(`${V1}/approvals/${ap.id}/reject`, {}), 422);
  assert.ok(noComment.fields && noComment.fields.comment, JSON.stringify(noComment));
  expectError(await M.api.post(`${V1}/approvals/${ap.id}/reject`, { comment: '' }), 422);

  // comments
  r = await M.api.post(`${V1}/approvals/${ap.id}/comments`, { body: '预算多少？' });
  assert.ok(r.status === 200 || r.status === 201, r.text);
  r = await MK.api.post(`${V1}/approvals/${ap.id}/comments`, { body: '五千元' });
  assert.ok(r.status === 200 || r.status === 201, r.text);
  const other = await S1.api.post(`${V1}/approvals/${ap.id}/comments`, { body: '路过' });
  assert.ok(other.status === 403 || other.status === 404, other.text);
  let got = (await M.api.get(`${V1}/approvals/${ap.id}`)).json;
  assert.deepEqual(got.comments.map((x) => [x.agent_id, x.agent_name, x.body]), [[M.id, '规则经理', '预算多少？'], [MK.id, '规则市场', '五千元']]);
  assert.equal(got.status, 'pending');

  // approve: the campaign starts as the requester and sends
  r = await M.api.post(`${V1}/approvals/${ap.id}/approve`, { comment: '同意' });
  assert.equal(r.status, 200, r.text);
  got = (await MK.api.get(`${V1}/approvals/${ap.id}`)).json;
  assert.deepEqual([got.status, got.decided_by, got.decided_by_name, got.decision_comment], ['approved', M.id, '规则经理', '同意'], JSON.stringify(got));
  assert.ok(got.decided_at);
  await until(async () => (await MK.api.get(`${V1}/campaigns/${camp.id}`)).json.status === 'finished', 60000, 'the approved campaign finished', 200);
  assert.equal(num(`SELECT COUNT(*) FROM campaign_recipients WHERE campaign_id = ${camp.id} AND state = 'sent'`), 3);
  await until(() => audience.every((x) => mailsTo(x).length === 1), 20000, 'the campaign mails', 100);
  expectError(await M.api.post(`${V1}/approvals/${ap.id}/approve`, { comment: 'again' }), 409);
  expectError(await M.api.post(`${V1}/approvals/${ap.id}/reject`, { comment: 'too late' }), 409);
  assert.ok(auditApprovals() >= audit0 + 4, `request, two comments, a decision: ${audit0} → ${auditApprovals()}`);
  assert.ok(approvalEvents() >= events0 + 4, `approval.updated events: ${events0} → ${approvalEvents()}`);

  // audience ≤ 1: no approval
  const small = await campaignFor(MK.api, '审批小活动', 'tag:单独受众');
  r = await MK.api.post(`${V1}/campaigns/${small.id}/start`);
  assert.equal(r.status, 200, r.text);
  assert.notEqual(r.json.status, 'draft', r.text);
  assert.deepEqual(await firingsOf(gate.id, 'campaign', small.id), []);
  await until(() => mailsTo('single@rules.example').length === 1, 30000, 'the small campaign mail', 100);

  // the approval object, in the 202 answer as in GET; admins are reminded as approvers
  const problems = [];
  for (const [where, x] of [['202 answer', ap], ['GET /approvals/{id}', got]]) {
    const missing = APPROVAL_KEYS.filter((k) => !(k in x));
    if (missing.length) problems.push(`${where}: approval without ${missing.join(', ')}`);
    else if (x.requested_by_name !== '规则市场') problems.push(`${where}: requested_by_name ${x.requested_by_name}`);
  }
  const adminRem = remindersOf(admin.agent, 'approval');
  if (adminRem !== adminRem0 + 1) problems.push(`admins are approvers too: ${adminRem - adminRem0} approval reminders for the admin, expected 1`);
  assert.deepEqual(problems, []);
});

test('approval rejected: the campaign stays a draft, the requester is told; nobody decides their own request', async () => {
  // owned in the manager's team, so a campaign of the manager reaches them too
  await mkCustomer(a, { name: '驳回客户一', email: 'rej1@rules.example', tags: ['驳回受众'], owner_id: S1.id });
  await mkCustomer(a, { name: '驳回客户二', email: 'rej2@rules.example', tags: ['驳回受众'], owner_id: S1.id });
  await mkRule({
    name: '大活动需审批二', trigger: 'campaign.start_requested', conditions: 'campaign.audience > 1', enabled: true,
    actions: [{ type: 'request_approval', role: 'manager', summary: '请审批' }],
  });
  const camp = await campaignFor(MK.api, '驳回活动', 'tag:驳回受众');
  let r = await MK.api.post(`${V1}/campaigns/${camp.id}/start`);
  assert.equal(r.status, 202, r.text);
  const ap = r.json.approval;
  const mkRem0 = num(`SELECT COUNT(*) FROM reminders WHERE agent_id = ${MK.id}`);
  const audit0 = num("SELECT COUNT(*) FROM audit_log WHERE action LIKE 'approval.%'");
  r = await M.api.post(`${V1}/approvals/${ap.id}/reject`, { comment: '预算不足' });
  assert.equal(r.status, 200, r.text);
  const got = (await MK.api.get(`${V1}/approvals/${ap.id}`)).json;
  assert.deepEqual([got.status, got.decided_by, got.decision_comment], ['rejected', M.id, '预算不足']);
  assert.ok(num(`SELECT COUNT(*) FROM reminders WHERE agent_id = ${MK.id}`) > mkRem0, 'the requester is told');
  await sleep(2500);
  assert.equal((await MK.api.get(`${V1}/campaigns/${camp.id}`)).json.status, 'draft');
  assert.equal(num(`SELECT COUNT(*) FROM campaign_recipients WHERE campaign_id = ${camp.id}`), 0);
  assert.equal(mailsTo('rej1@rules.example').length + mailsTo('rej2@rules.example').length, 0);
  assert.ok(num("SELECT COUNT(*) FROM audit_log WHERE action LIKE 'approval.%'") > audit0, 'the rejection is audited');

  // a manager who requests may not approve their own request; another approver may
  const camp2 = await campaignFor(M.api, '经理自己的活动', 'tag:驳回受众');
  r = await M.api.post(`${V1}/campaigns/${camp2.id}/start`);
  assert.equal(r.status, 202, r.text);
  const ap2 = r.json.approval;
  assert.equal(ap2.requested_by, M.id);
  expectError(await M.api.post(`${V1}/approvals/${ap2.id}/approve`, { comment: '自批' }), 403);
  r = await M2.api.post(`${V1}/approvals/${ap2.id}/approve`, { comment: '另一经理批准' });
  assert.equal(r.status, 200, r.text);
  await until(async () => (await a.get(`${V1}/campaigns/${camp2.id}`)).json.status === 'finished', 60000, 'the approved campaign finished', 200);
  await until(() => mailsTo('rej1@rules.example').length === 1 && mailsTo('rej2@rules.example').length === 1, 20000, 'its mails', 100);
});

// ------------------------------------------------------------------ 7. failing actions

test('a failing action undoes only its rule\'s work (failed); the user\'s change and the other rules\' work stand', async () => {
  const fd = await a.post(`${V1}/field-defs`, { key: 'rule_tier', label: '等级', type: 'select', options: ['金', '银'] });
  assert.equal(fd.status, 201, fd.text);
  const rule = await mkRule({
    name: '设金牌', trigger: 'customer.created', conditions: 'name ~ 失败测试', enabled: true,
    actions: [{ type: 'tag', tag: '失败前' }, { type: 'set_field', field: 'attr.rule_tier', value: '金' }],
  });
  // the value was fine when the rule was made; now it is not
  const p = await a.patch(`${V1}/field-defs/${fd.json.id}`, { options: ['银', '铜'] });
  assert.equal(p.status, 200, p.text);
  const first = await seedRule('first_followup');
  const r = await a.post(`${V1}/customers`, { name: '失败测试客户', owner_id: S1.id });
  assert.equal(r.status, 201, r.text);
  const c = r.json;
  const got = (await a.get(`${V1}/customers/${c.id}`)).json;
  assert.equal(got.name, '失败测试客户', 'the user\'s change stands');
  assert.equal(got.attrs.rule_tier, undefined);
  assert.deepEqual(tagsOf(c.id), [], 'the rule\'s earlier action is undone with it');
  const fs = await firingsOf(rule.id, 'customer', c.id);
  assert.equal(fs.length, 1, JSON.stringify(fs));
  checkFiring(fs[0], { rule, trigger: 'customer.created', recordType: 'customer', recordId: c.id, outcome: 'failed' });
  const sf = fs[0].actions.find((x) => x.type === 'set_field');
  assert.equal(sf.outcome, 'failed', JSON.stringify(fs[0]));
  assert.ok(sf.detail, 'a failure says why');
  // another rule of the same event kept its work
  assert.deepEqual((await firingsOf(first.id, 'customer', c.id)).map((f) => f.outcome), ['done']);
  assert.equal(num(`SELECT COUNT(*) FROM reminders WHERE customer_id = ${c.id} AND kind = 'task'`), 1);

  // enrol in a sequence deleted after the rule was made
  const tpl = (await a.post(`${V1}/templates`, { name: 'rule seq tpl', channel: 'email', subject: 's', text: 't' })).json;
  const seq = await a.post(`${V1}/sequences`, { name: '规则序列', trigger_tag: '永不使用的标签', steps: [{ delay_minutes: 0, template_id: tpl.id }] });
  assert.equal(seq.status, 201, seq.text);
  const enrol = await mkRule({
    name: '入序列', trigger: 'customer.created', conditions: 'name ~ 序列失败', enabled: true,
    actions: [{ type: 'enrol_sequence', sequence_id: seq.json.id }],
  });
  sql(server, `DELETE FROM sequences WHERE id = ${seq.json.id}`);
  const r2 = await a.post(`${V1}/customers`, { name: '序列失败客户' });
  assert.equal(r2.status, 201, r2.text);
  assert.equal((await a.get(`${V1}/customers/${r2.json.id}`)).status, 200);
  const fs2 = await firingsOf(enrol.id, 'customer', r2.json.id);
  assert.deepEqual(fs2.map((f) => f.outcome), ['failed'], JSON.stringify(fs2));
  assert.equal(fs2[0].actions[0].outcome, 'failed', JSON.stringify(fs2[0]));
  assert.equal(num(`SELECT COUNT(*) FROM sequence_enrollments WHERE customer_id = ${r2.json.id}`), 0);
});

test('send_template: a rule mails the template to the customer through the campaign sender — personalised, once per customer, never to a suppressed address', async () => {
  const tpl = await a.post(`${V1}/templates`, { name: `欢迎模板 ${Date.now()}`, channel: 'email', subject: '欢迎 {{customer.name}}', text: '您好 {{customer.name}}，欢迎！退订：{{unsubscribe_url}}' });
  assert.equal(tpl.status, 201, tpl.text);
  const bad = await a.post(`${V1}/rules`, { name: 'no template', trigger: 'customer.created', actions: [{ type: 'send_template', template_id: 99999999 }] });
  assert.equal(bad.status, 422, bad.text);
  assert.ok(bad.json.error.fields['actions[0].template_id']);
  const rule = await mkRule({ name: '欢迎邮件', trigger: 'customer.created', conditions: 'tag:欢迎名单', actions: [{ type: 'send_template', template_id: tpl.json.id }], enabled: true });
  const stamp = Date.now();
  const mailA = `welcome-a-${stamp}@example.com`, mailB = `welcome-b-${stamp}@example.com`;
  sql(server, `INSERT INTO suppressions (channel, value, reason) VALUES ('email', '${mailB}', 'unsubscribed')`);
  const ca = await mkCustomer(a, { name: '欢迎客户甲', email: mailA, tags: ['欢迎名单'] });
  const cb = await mkCustomer(a, { name: '欢迎客户乙', email: mailB, tags: ['欢迎名单'] });
  const cc = await mkCustomer(a, { name: '不在名单', email: `welcome-c-${stamp}@example.com` });
  await until(() => mailsTo(mailA).length >= 1, 20000, 'the welcome mail', 100);
  const m = mailsTo(mailA)[0];
  assert.equal(m.subject, '欢迎 欢迎客户甲');
  assert.match(m.text, /您好 欢迎客户甲，欢迎！/);
  assert.match(m.text, /\/u\/[A-Za-z0-9_-]+/, 'the unsubscribe link is the recipient\'s own');
  const fa = await firingsOf(rule.id, 'customer', ca.id);
  assert.equal(fa.length, 1);
  assert.equal(fa[0].actions[0].outcome, 'done');
  const fb = await firingsOf(rule.id, 'customer', cb.id);
  assert.equal(fb[0].actions[0].outcome, 'skipped');
  assert.match(fb[0].actions[0].detail, /suppressed/);
  assert.equal((await firingsOf(rule.id, 'customer', cc.id)).length, 0, 'the condition did not hold');
  // the same rule never mails the same customer twice (the ledger), even when it runs again
  const dry = await a.post(`${V1}/rules/${rule.id}/test`, { record_id: ca.id });
  assert.equal(dry.status, 200, dry.text);
  assert.equal(dry.json.actions[0].outcome, 'skipped');
  await new Promise((r) => setTimeout(r, 1500));
  assert.equal(mailsTo(mailA).length, 1);
  assert.equal(mailsTo(mailB).length, 0);
});

test('ticket.created ⇒ raise_priority (never lowered), and call_webhook delivers a signed rule.fired with the records', async () => {
  const got = [];
  const http = require('node:http');
  const receiver = http.createServer((req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => { got.push({ path: req.url, headers: req.headers, body: Buffer.concat(chunks).toString('utf8') }); res.end('ok'); });
  });
  await new Promise((r) => receiver.listen(0, '127.0.0.1', r));
  try {
    const hook = await a.post(`${V1}/webhooks`, { url: `http://localhost:${receiver.address().port}/rules`, events: ['*'] });
    assert.equal(hook.status, 201, hook.text);
    const rule = await mkRule({ name: '紧急工单', trigger: 'ticket.created', conditions: 'ticket.subject ~ 紧急',
      actions: [{ type: 'raise_priority', priority: 'urgent' }, { type: 'call_webhook', webhook_id: hook.json.id }], enabled: true });
    const cust = await mkCustomer(a, { name: '工单规则客户' });
    const urgent = await a.post(`${V1}/tickets`, { customer_id: cust.id, channel: 'phone', subject: '紧急：服务器宕机' });
    assert.equal(urgent.status, 201, urgent.text);
    const calm = await a.post(`${V1}/tickets`, { customer_id: cust.id, channel: 'phone', subject: '咨询发票' });
    assert.equal(calm.status, 201, calm.text);
    assert.equal((await a.get(`${V1}/tickets/${urgent.json.id}`)).json.priority, 'urgent', 'raised in the creating request');
    assert.equal((await a.get(`${V1}/tickets/${calm.json.id}`)).json.priority, 'normal');
    const f = await firingsOf(rule.id, 'ticket', urgent.json.id);
    assert.equal(f.length, 1);
    assert.deepEqual(f[0].actions.map((x) => [x.type, x.outcome]), [['raise_priority', 'done'], ['call_webhook', 'done']]);
    assert.equal((await firingsOf(rule.id, 'ticket', calm.json.id)).length, 0);
    // the delivery: type rule.fired, the rule, the record and its data, signed like every webhook
    const fired = () => got.filter((g) => g.path === '/rules' && JSON.parse(g.body).type === 'rule.fired');
    await until(() => fired().length >= 1, 20000, 'the rule.fired delivery', 100);
    const body = JSON.parse(fired()[0].body);
    assert.equal(body.data.rule.id, rule.id);
    assert.equal(body.data.record_type, 'ticket');
    assert.equal(body.data.record_id, urgent.json.id);
    assert.equal(body.data.records.ticket.id, urgent.json.id);
    assert.equal(body.data.records.customer.id, cust.id);
    assert.ok(fired()[0].headers['switchboard-signature'], JSON.stringify(fired()[0].headers));
    // a priority is never lowered: an already urgent ticket is skipped
    const dry = await a.post(`${V1}/rules/${rule.id}/test`, { record_id: urgent.json.id });
    assert.equal(dry.status, 200, dry.text);
    assert.equal(dry.json.actions[0].outcome, 'skipped');
    await new Promise((r) => setTimeout(r, 1000));
    assert.equal(fired().length, 1, 'the dry run delivered nothing');
  } finally {
    await new Promise((r) => receiver.close(r));
  }
});
