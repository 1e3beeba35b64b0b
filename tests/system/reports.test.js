'use strict';
// reports.test.js — GET /api/v1/reports/{name} (docs/reports.md) on seeded, known data.
//
// Every figure of every dataset is compared with a value computed here, in JavaScript, from
// the seed arrays below (never by running the server's SQL). Four servers, one per area, so
// that each area's seed stays small and its expectations readable:
//   service + agents  tickets (before, on the edges of and after the period), offers,
//                     messages, CSAT responses, agent.presence events
//   sales             deals with their stage history (incl. an inactive stage), activities
//   marketing         campaigns and their ledgers, won deals attributed last-touch
//   customers         customers (one merged away), won deals, tickets for the churn warnings
// The period is the 10 days ending yesterday in the database's time zone (UTC: every
// gateway connection sets time_zone '+00:00'), taken from the database itself. Also: CSV
// (header, values, nulls, formula-looking text), the JSON text of rounded figures, parameter
// errors, roles and scopes. Inside a test, check() collects every failed assertion so one
// disagreement does not hide the next.
const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const {
  startServer, bootstrapAdmin, createAgent, api, sql, dropDatabase, expectError,
} = require('./harness');

const V1 = '/api/v1';
const DAY = 86400000;
const ENV = { SWITCHBOARD_ROUTING_ENABLED: 'no' };

// ---- time: the period [FROM 00:00, TO + 1 day 00:00) = [T(0), T(10)) ----------------------
let base; // ms of FROM 00:00 UTC
let NOW; // the database's clock when seeding
let TODAY; let FROM; let TO;
/** ms of day offset d (0 = FROM, 10 = today) at 'HH:MM:SS(.mmm)'. */
const T = (d, hms = '00:00:00') => {
  const [h, m, s] = hms.split(':').map(Number);
  return base + d * DAY + Math.round((h * 3600 + m * 60 + (s || 0)) * 1000);
};
const fmt = (ms) => new Date(ms).toISOString().replace('T', ' ').replace('Z', ''); // YYYY-MM-DD HH:MM:SS.mmm
/** A timestamp as the answers write it: ISO-8601 in whole seconds (docs/reports.md, Answer). */
const iso = (ms) => new Date(Math.floor(ms / 1000) * 1000).toISOString().replace('.000Z', 'Z');
const dayOf = (ms) => new Date(ms).toISOString().slice(0, 10);
const addDays = (day, n) => dayOf(Date.parse(`${day}T00:00:00Z`) + n * DAY);
const inP = (ms) => ms != null && ms >= T(0) && ms < T(10);
const secs = (a, b) => Math.trunc((b - a) / 1000); // TIMESTAMPDIFF(SECOND, a, b)

// ---- arithmetic as the spec states it -----------------------------------------------------
const rnd = (x, n) => Math.round(x * 10 ** n) / 10 ** n;
const rate = (n, d) => (d ? rnd(n / d, 4) : null);
const money = (cents) => (cents / 100).toFixed(2);
const sum = (xs) => xs.reduce((s, x) => s + x, 0);
const cmp = (a, b) => (a < b ? -1 : a > b ? 1 : 0);
const nullsLast = (a, b) => (a === b ? 0 : a == null ? 1 : b == null ? -1 : a - b);
/** PERCENTILE_CONT(p): linear interpolation between the two nearest ranks (numpy's default), 1 decimal. */
function pcont(vals, p) {
  if (!vals.length) return null;
  const v = [...vals].sort((x, y) => x - y);
  const pos = p * (v.length - 1);
  const lo = Math.floor(pos); const hi = Math.ceil(pos);
  return rnd(v[lo] + (pos - lo) * (v[hi] - v[lo]), 1);
}
function groupBy(xs, keyFn) {
  const m = new Map();
  for (const x of xs) {
    const k = keyFn(x);
    if (!m.has(k)) m.set(k, []);
    m.get(k).push(x);
  }
  return m;
}
const CHANNEL_ENUM = ['chat', 'email', 'sms', 'phone', 'web']; // tickets.channel's ENUM order

// ---- SQL seeding ------------------------------------------------------------------------------
const at = (ms) => (ms == null ? null : { ts: ms });
function lit(v) {
  if (v === null || v === undefined) return 'NULL';
  if (typeof v === 'number') return String(v);
  if (typeof v === 'object' && 'ts' in v) return `'${fmt(v.ts)}'`;
  return `'${String(v).replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
}
function insert(server, table, rows) {
  if (!rows.length) return;
  const cols = Object.keys(rows[0]);
  sql(server, `INSERT INTO ${table} (${cols.join(', ')}) VALUES\n` +
    `${rows.map((r) => `(${cols.map((c) => lit(r[c])).join(', ')})`).join(',\n')};`);
}
async function team(a, name) {
  const r = await a.post(`${V1}/teams`, { name });
  assert.equal(r.status, 201, r.text);
  return r.json.id;
}

// ---- the report's answer ------------------------------------------------------------------------
const COLUMNS = {
  service: {
    volume: ['day', 'channel', 'tickets'],
    backlog: ['day', 'created', 'solved', 'backlog'],
    response: ['channel', 'tickets', 'responded', 'first_response_median_secs', 'first_response_p90_secs', 'solved',
      'resolution_median_secs', 'resolution_p90_secs'],
    sla: ['channel', 'with_sla', 'met', 'breached', 'pending', 'attainment'],
    csat_by_agent: ['agent_id', 'name', 'ratings', 'average', 'satisfied'],
    csat_by_team: ['team_id', 'name', 'ratings', 'average', 'satisfied'],
    csat_by_channel: ['channel', 'ratings', 'average', 'satisfied'],
    flagged: ['ticket_id', 'subject', 'channel', 'priority', 'status', 'flag_reason', 'flagged_at', 'assignee'],
  },
  agents: {
    agents: ['agent_id', 'name', 'team', 'handled', 'replies', 'open_now', 'avg_handle_secs', 'online_secs', 'occupancy', 'rank'],
  },
  sales: {
    funnel: ['stage_id', 'stage', 'position', 'reached', 'open_deals', 'open_amount', 'currency'],
    stages: ['stage_id', 'stage', 'position', 'reached', 'next_reached', 'conversion', 'avg_secs_in_stage'],
    win_loss: ['status', 'reason', 'deals', 'amount', 'currency'],
    forecast: ['month', 'currency', 'open_deals', 'amount', 'weighted'],
    people: ['owner_id', 'name', 'won_deals', 'won_amount', 'lost_deals', 'win_rate', 'open_deals', 'activities', 'currency'],
  },
  marketing: {
    campaigns: ['campaign_id', 'name', 'channel', 'started_at', 'recipients', 'sent', 'delivered', 'opened', 'clicked',
      'replied', 'unsubscribed', 'converted', 'revenue', 'currency', 'cost', 'roi'],
    channels: ['channel', 'campaigns', 'sent', 'delivered', 'opened', 'clicked', 'replied', 'unsubscribed', 'converted',
      'delivered_rate', 'open_rate', 'click_rate', 'reply_rate', 'unsubscribe_rate', 'conversion_rate'],
  },
  customers: {
    new_by_source: ['day', 'source', 'customers'],
    repurchase: ['currency', 'buyers', 'repeat_buyers', 'repurchase_rate'],
    lifetime_value: ['currency', 'customers', 'revenue', 'average'],
    top_customers: ['customer_id', 'name', 'won_deals', 'revenue', 'currency'],
    churn: ['customer_id', 'name', 'owner', 'last_contact_at', 'days_silent', 'tickets_recent', 'tickets_before', 'flagged', 'reasons'],
  },
};

async function report(client, name, params = {}) {
  const qs = new URLSearchParams({ from: FROM, to: TO, ...params });
  const res = await client.get(`${V1}/reports/${name}?${qs}`);
  assert.equal(res.status, 200, `${name}?${qs}: ${res.text.slice(0, 500)}`);
  assert.equal(res.json.report, name);
  assert.deepEqual(Object.keys(res.json.datasets), Object.keys(COLUMNS[name]), `${name}: the datasets, in order`);
  return res.json;
}
/** The rows of a dataset, after checking its columns and that every row has exactly those keys. */
function rows(rep, name) {
  const d = rep.datasets[name];
  assert.ok(d, `dataset ${name} missing`);
  assert.deepEqual(d.columns, COLUMNS[rep.report][name], `${rep.report}.${name} columns`);
  for (const r of d.rows) assert.deepEqual(Object.keys(r).sort(), [...d.columns].sort(), `${rep.report}.${name} row ${JSON.stringify(r)}`);
  return d.rows;
}
// One disagreement must not hide the next: inside collect(), check() records a failed
// assertion and goes on; collect() then fails once, listing every failed check.
let failures = null;
function check(fn) {
  if (!failures) return fn();
  try { fn(); } catch (err) { failures.push(err.message); }
  return undefined;
}
async function collect(fn) {
  failures = [];
  let thrown = null;
  try { await fn(); } catch (err) { thrown = err; }
  const f = failures; failures = null;
  if (thrown && !f.length) throw thrown;
  if (thrown) f.push(`and then stopped: ${thrown.message}`);
  if (f.length) assert.fail(`${f.length} check(s) failed:\n\n${f.join('\n\n')}`);
}
/** Where the spec leaves an order open (an ENUM's order or the alphabet), either is accepted. */
function assertOneOf(actual, candidates, what) {
  for (const c of candidates) {
    try { assert.deepEqual(actual, c); return; } catch { /* next */ }
  }
  assert.deepEqual(actual, candidates[0], `${what}; also accepted: ${JSON.stringify(candidates.slice(1))}`);
}
/** Rows "per channel, then all": the channel rows in any order, `all` last. */
function assertPerChannelThenAll(actual, expected, what) {
  assert.equal(actual.at(-1)?.channel, 'all', `${what}: the last row is 'all': ${JSON.stringify(actual)}`);
  assert.deepEqual(actual.at(-1), expected.all, `${what}: all`);
  const byCh = Object.fromEntries(actual.slice(0, -1).map((r) => [r.channel, r]));
  assert.equal(Object.keys(byCh).length, actual.length - 1, `${what}: a channel twice`);
  assert.deepEqual(byCh, expected.channels, `${what}: per channel`);
}

// ---- CSV -----------------------------------------------------------------------------------
function parseCsv(text) {
  const out = []; let row = []; let cell = ''; let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i];
    if (quoted) {
      if (ch === '"' && text[i + 1] === '"') { cell += '"'; i++; } else if (ch === '"') quoted = false;
      else cell += ch;
    } else if (ch === '"') quoted = true;
    else if (ch === ',') { row.push(cell); cell = ''; }
    else if (ch === '\n') { row.push(cell); out.push(row); row = []; cell = ''; }
    else if (!(ch === '\r' && text[i + 1] === '\n')) cell += ch; // CRLF ends a line as LF does
  }
  if (cell !== '' || row.length) { row.push(cell); out.push(row); }
  return out;
}
/** A CSV answer equals the JSON dataset: header = columns, null → empty, numbers as numbers, formula text prefixed with '. */
function assertCsv(res, rep, dataset, what) {
  assert.equal(res.status, 200, res.text.slice(0, 500));
  assert.match(res.headers.get('content-type') || '', /^text\/csv;\s*charset=utf-8$/i);
  assert.equal(res.headers.get('content-disposition'),
    `attachment; filename="${rep.report}-${dataset}-${rep.from}-${rep.to}.csv"`);
  const table = parseCsv(res.text);
  const d = rep.datasets[dataset];
  assert.deepEqual(table[0], d.columns, `${what}: header`);
  assert.ok(d.rows.length > 0, `${what}: the seed gives this dataset rows`);
  assert.equal(table.length - 1, d.rows.length, `${what}: one line per row:\n${res.text}`);
  d.rows.forEach((r, i) => {
    assert.equal(table[i + 1].length, d.columns.length, `${what}: line ${i + 2} has one cell per column`);
    d.columns.forEach((c, k) => {
      const cell = table[i + 1][k]; const v = r[c];
      const where = `${what}: row ${i + 1} column ${c} (${JSON.stringify(v)} in the JSON, ${JSON.stringify(cell)} in the CSV)`;
      if (v === null) assert.equal(cell, '', where);
      else if (typeof v === 'number') {
        assert.notEqual(cell, '', where);
        assert.equal(Number(cell), v, where);
      } else assert.equal(cell, /^[=+\-@\t\r]/.test(v) ? `'${v}` : v, where);
    });
  });
  return table;
}

// =================================================================================================
// Servers and seeds
// =================================================================================================
const svc = {}; const sal = {}; const mkt = {}; const cus = {};

before(async () => {
  const servers = await Promise.all([1, 2, 3, 4].map(() => startServer({ env: ENV })));
  [svc.server, sal.server, mkt.server, cus.server] = servers;
  const [[today, now]] = sql(svc.server, 'SELECT UTC_DATE(), UTC_TIMESTAMP(3)');
  TODAY = today;
  NOW = Date.parse(`${now.replace(' ', 'T')}Z`);
  base = Date.parse(`${today}T00:00:00Z`) - 10 * DAY;
  FROM = dayOf(T(0)); TO = dayOf(T(9));
  await Promise.all([seedService(), seedSales(), seedMarketing(), seedCustomers()]);
});

after(async () => {
  for (const s of [svc.server, sal.server, mkt.server, cus.server]) {
    if (s) { await s.stop(); dropDatabase(s); }
  }
});

// ---- service + agents -------------------------------------------------------------------------
async function seedService() {
  const { server } = svc;
  const admin = await bootstrapAdmin(server);
  svc.a = api(server, admin.token);
  const T1 = await team(svc.a, 'Alpha'); const T2 = await team(svc.a, 'Beta'); const T3 = await team(svc.a, 'Gamma');
  svc.teams = { T1, T2, T3 };
  svc.teamName = { [T1]: 'Alpha', [T2]: 'Beta', [T3]: 'Gamma' };
  const people = {
    ann: { name: 'Agent Ann', role: 'agent', team: T1 },
    bob: { name: 'Agent Bob', role: 'agent', team: T1 },
    cat: { name: 'Agent Cat', role: 'agent', team: T2 },
    hyp: { name: '=HYPERLINK("x")', role: 'agent', team: T2 }, // formula-looking name for the CSV
    mia: { name: 'Mgr Mia', role: 'manager', team: T2 }, // also manages Alpha (not Gamma)
    zed: { name: 'Agent Zed', role: 'agent', team: T3 },
    old: { name: 'Agent Old', role: 'agent', team: T1, inactive: true }, // handled a ticket, not listed
    sam: { name: 'Sales Sam', role: 'sales', team: T1 }, // not an agent: not listed
    max: { name: 'Marketer Max', role: 'marketer', team: null },
  };
  svc.ag = {};
  for (const [key, p] of Object.entries(people)) {
    const u = await createAgent(server, admin.token, { name: p.name, role: p.role, ...(p.team ? { team_id: p.team } : {}) });
    svc.ag[key] = { ...p, key, id: u.id, api: api(server, u.token), active: !p.inactive };
  }
  const id = (k) => (k ? svc.ag[k].id : null);
  sql(server, `UPDATE agents SET active = 0 WHERE id = ${id('old')}; UPDATE teams SET manager_id = ${id('mia')} WHERE id = ${T1}`);
  sql(server, "INSERT INTO customers (id, name) VALUES (1, 'Service Customer')");

  const tk = (tid, o) => ({
    id: tid, channel: 'chat', team: null, assignee: null, status: 'new', priority: 'normal', subject: `Ticket ${tid}`,
    created: null, fr: null, solved: null, due: null, breached: 0, flagged: null, reason: null, ...o,
  });
  const s = (ms, n) => ms + n * 1000;
  const C2 = T(1, '09:00:00.900');
  svc.tickets = [
    // created before the period: open (backlog), solved in the period, solved before it
    tk(1001, { channel: 'email', team: T1, status: 'open', priority: 'high', subject: '@home: where is my parcel', created: T(-5, '10:00'), flagged: T(0), reason: 'refund' }),
    tk(1002, { channel: 'chat', team: T2, assignee: 'cat', status: 'solved', created: T(-3, '09:00'), fr: T(-3, '09:05'), solved: T(2, '10:00'), due: T(-3, '10:00') }),
    tk(1003, { channel: 'sms', status: 'solved', created: T(-20, '09:00'), solved: T(-19, '09:00') }),
    tk(1004, { channel: 'email', team: T1, assignee: 'ann', status: 'solved', created: T(-2, '08:00'), solved: T(-1, '08:00'), flagged: T(-1, '09:00'), reason: 'complaint' }),
    // chat in the period: first responses 60, 91 (91.2 s truncated), 200, 300; resolutions 600, 1000, 1601
    tk(1011, { channel: 'chat', team: T1, assignee: 'ann', status: 'solved', created: T(0), fr: s(T(0), 60), solved: s(T(0), 600), due: T(0, '00:05') }),
    tk(1012, { channel: 'chat', team: T1, assignee: 'ann', status: 'solved', created: C2, fr: T(1, '09:01:32.100'), solved: s(C2, 1000), due: T(1, '10:00') }),
    tk(1013, { channel: 'chat', team: T2, assignee: 'cat', status: 'solved', priority: 'high', subject: 'Broken, "again"\nsecond line', created: T(1, '14:00'), fr: s(T(1, '14:00'), 200), solved: s(T(1, '14:00'), 1601), due: T(1, '15:00'), breached: 1, flagged: T(1, '14:05:00.123'), reason: 'complaint' }),
    tk(1014, { channel: 'chat', team: T1, assignee: 'bob', status: 'open', created: T(4, '10:00'), fr: s(T(4, '10:00'), 300), due: T(4, '10:30') }),
    // e-mail: first responses 3600, 7201; one resolution; one created in the last millisecond
    tk(1021, { channel: 'email', team: T1, assignee: 'bob', status: 'solved', created: T(1, '08:00'), fr: s(T(1, '08:00'), 3600), solved: T(2, '08:00'), due: T(3, '08:00') }),
    tk(1022, { channel: 'email', status: 'open', created: T(4, '12:00'), fr: s(T(4, '12:00'), 7201), due: NOW + 3 * DAY }),
    tk(1023, { channel: 'email', team: T3, created: T(9, '23:59:59.999') }),
    // sms, phone (same day as an sms), web
    tk(1031, { channel: 'sms', team: T2, assignee: 'hyp', status: 'open', priority: 'urgent', subject: '\t退款还没到', created: T(4, '09:00'), fr: s(T(4, '09:00'), 30), due: T(5, '09:00'), flagged: T(4, '09:10'), reason: '投诉' }),
    tk(1032, { channel: 'sms', team: T2, assignee: 'cat', created: T(6, '11:00'), due: NOW + DAY, breached: 1 }),
    tk(1041, { channel: 'phone', team: T3, status: 'solved', created: T(4, '15:00'), fr: s(T(4, '15:00'), 10), solved: s(T(4, '15:00'), 20), due: T(4, '16:00') }),
    tk(1051, { channel: 'web', subject: '+86 call me back', created: T(6, '16:00'), due: NOW + 2 * DAY, flagged: T(6, '16:01'), reason: 'refund' }),
    // created (and flagged) at the period's end: outside
    tk(1061, { channel: 'chat', team: T1, created: T(10), due: T(10, '00:00:01'), flagged: T(10), reason: 'lawyer' }),
    // for the agents report: created before the period
    tk(1071, { channel: 'chat', team: T1, assignee: 'ann', status: 'solved', created: T(-1, '23:00'), solved: T(0, '00:20') }),
    tk(1072, { channel: 'email', team: T1, assignee: 'ann', status: 'open', created: T(-2, '09:00') }),
    tk(1073, { channel: 'email', team: T1, assignee: 'ann', status: 'pending', created: T(-2, '10:00') }),
    tk(1074, { channel: 'chat', team: T1, assignee: 'bob', status: 'solved', created: T(-1, '18:00'), solved: T(0, '18:00') }),
    tk(1075, { channel: 'email', team: T2, assignee: 'hyp', status: 'solved', created: T(-1, '08:00'), solved: T(0, '08:00') }),
    tk(1076, { channel: 'chat', team: T1, assignee: 'old', status: 'solved', created: T(-1, '07:00'), solved: T(0, '07:30') }),
    tk(1077, { channel: 'chat', team: T2, assignee: 'cat', created: T(-1, '05:00') }),
  ];
  insert(server, 'tickets', svc.tickets.map((t) => ({
    id: t.id, customer_id: 1, channel: t.channel, subject: t.subject, status: t.status, priority: t.priority, team_id: t.team,
    assignee_id: id(t.assignee), sla_due_at: at(t.due), sla_breached: t.breached, first_response_at: at(t.fr),
    solved_at: at(t.solved), created_at: at(t.created), flagged_at: at(t.flagged), flag_reason: t.reason,
  })));

  // offers: only the latest accepted/auto offer of the ticket *to that agent* counts
  svc.offers = [
    { ticket: 1012, agent: 'bob', at: s(C2, 5), outcome: 'accepted' }, // bob's, not ann's: ann's handle time starts at created_at
    { ticket: 1071, agent: 'ann', at: T(-1, '23:10'), outcome: 'accepted' },
    { ticket: 1071, agent: 'ann', at: T(-1, '23:20'), outcome: 'auto' }, // ← ann's 1071: 3600 s
    { ticket: 1071, agent: 'ann', at: T(-1, '23:30'), outcome: 'offered' },
    { ticket: 1071, agent: 'ann', at: T(-1, '23:35'), outcome: 'declined' },
    { ticket: 1071, agent: 'bob', at: T(-1, '23:40'), outcome: 'accepted' },
    { ticket: 1021, agent: 'bob', at: T(1, '08:00:30'), outcome: 'accepted' }, // ← 86370 s
    { ticket: 1021, agent: 'bob', at: T(1, '09:00'), outcome: 'expired' },
    { ticket: 1013, agent: 'cat', at: T(1, '14:00:01'), outcome: 'accepted' }, // ← 1600 s
    { ticket: 1002, agent: 'cat', at: T(-3, '09:01'), outcome: 'accepted' },
    { ticket: 1002, agent: 'cat', at: T(2, '09:00'), outcome: 'auto' }, // ← 3600 s
  ];
  insert(server, 'ticket_offers', svc.offers.map((o) => ({ ticket_id: o.ticket, agent_id: id(o.agent), offered_at: at(o.at), outcome: o.outcome })));

  const msg = (ticket, author, when, o = {}) => ({ ticket, author, at: when, direction: 'out', type: 'agent', internal: 0, ...o });
  svc.messages = [
    msg(1011, 'ann', T(0, '01:00')), msg(1072, 'ann', T(3, '10:00')), msg(1072, 'ann', T(9, '23:59:59')),
    msg(1012, 'ann', T(1, '10:00'), { internal: 1 }), // an internal note
    msg(1072, 'ann', T(-1, '12:00')), msg(1072, 'ann', T(10)), // before / at the end of the period
    msg(1072, 'ann', T(2), { type: 'system' }), msg(1072, 'ann', T(2, '00:01'), { type: 'bot' }),
    msg(1021, 'bob', T(2, '09:00')),
    msg(1021, null, T(2, '09:30'), { direction: 'in', type: 'customer' }), // the customer's
    msg(1031, 'hyp', T(4, '09:05')), msg(1031, 'hyp', T(5, '10:00')),
    msg(1076, 'old', T(0, '07:10')),
  ];
  insert(server, 'messages', svc.messages.map((m) => ({
    ticket_id: m.ticket, customer_id: 1, direction: m.direction, channel: svc.tickets.find((t) => t.id === m.ticket).channel,
    author_type: m.type, author_id: id(m.author), body_text: 'x', internal: m.internal,
    status: m.internal ? 'note' : m.direction === 'in' ? 'received' : 'sent', created_at: at(m.at),
  })));

  // CSAT: grouped by the response's agent, team and channel ("as they were when solved")
  svc.csat = [
    { ticket: 1011, rating: 5, agent: 'ann', team: T1, channel: 'chat', at: T(0, '01:00') },
    { ticket: 1012, rating: 2, agent: 'ann', team: T1, channel: 'chat', at: T(1, '10:00') },
    { ticket: 1071, rating: 4, agent: 'ann', team: T1, channel: 'chat', at: T(0, '02:00') },
    { ticket: 1013, rating: 3, agent: 'cat', team: T2, channel: 'chat', at: T(2, '09:00') },
    { ticket: 1021, rating: 5, agent: 'bob', team: T1, channel: 'email', at: T(3, '09:00') },
    { ticket: 1002, rating: 1, agent: 'cat', team: T2, channel: 'chat', at: T(4, '09:00') }, // ticket created before the period
    { ticket: 1075, rating: 4, agent: 'hyp', team: T1, channel: 'email', at: T(5, '09:00') }, // ticket now in Beta, response Alpha's
    { ticket: 1004, rating: 5, agent: 'ann', team: T1, channel: 'email', at: T(-1, '09:00') }, // before the period
    { ticket: 1076, rating: 1, agent: 'old', team: T1, channel: 'chat', at: T(10) }, // at its end
  ];
  insert(server, 'csat_responses', svc.csat.map((r) => ({
    ticket_id: r.ticket, rating: r.rating, agent_id: id(r.agent), team_id: r.team, channel: r.channel, created_at: at(r.at),
  })));

  // presence: a status lasts until the agent's next presence event (the last one until now)
  svc.presence = [
    ['ann', 'online', T(-2, '10:00')], ['ann', 'offline', T(-2, '12:00')], ['ann', 'online', T(-1, '22:00')], // carries in
    ['ann', 'away', T(0, '02:00')], ['ann', 'online', T(0, '03:00')], ['ann', 'offline', T(0, '05:00')],
    ['bob', 'online', T(3, '10:00')], ['bob', 'online', T(3, '11:00')], ['bob', 'offline', T(3, '12:00')],
    ['bob', 'online', T(9, '22:30')], // the last one: until now, clipped to the period
    ['hyp', 'online', T(-1, '23:00')], ['hyp', 'offline', T(0, '00:30')],
    ['mia', 'away', T(5, '10:00')], ['mia', 'online', T(5, '10:30')], ['mia', 'offline', T(5, '11:00')], ['mia', 'online', T(10)],
    ['zed', 'offline', T(2, '09:00')],
  ].map(([agent, status, when]) => ({ agent, status, at: when }));
  insert(server, 'events', [
    ...svc.presence.map((e) => ({
      kind: 'agent.presence', agent_id: id(e.agent), team_id: svc.ag[e.agent].team,
      payload: JSON.stringify({ agent_id: id(e.agent), status: e.status }), created_at: at(e.at),
    })),
    { kind: 'ticket.updated', agent_id: id('ann'), team_id: T1, payload: JSON.stringify({ agent_id: id('ann'), status: 'offline' }), created_at: at(T(0, '04:00')) },
  ]);
}

function svcTickets(o = {}) {
  return svc.tickets.filter((t) => (o.team === undefined || t.team === o.team) && (!o.channel || t.channel === o.channel) &&
    (!o.teams || o.teams.includes(t.team)));
}
function expVolume(ts) {
  const rowsOut = [...groupBy(ts.filter((t) => inP(t.created)), (t) => `${dayOf(t.created)}|${t.channel}`)]
    .map(([k, xs]) => ({ day: k.split('|')[0], channel: k.split('|')[1], tickets: xs.length }));
  // "ordered by day, channel": by the channel's name or by the ENUM's order
  return [cmp, (a, b) => CHANNEL_ENUM.indexOf(a) - CHANNEL_ENUM.indexOf(b)]
    .map((byCh) => [...rowsOut].sort((a, b) => cmp(a.day, b.day) || byCh(a.channel, b.channel)));
}
function expBacklog(ts) {
  return Array.from({ length: 10 }, (_, d) => {
    const s = T(d); const e = T(d + 1);
    return {
      day: dayOf(s),
      created: ts.filter((t) => t.created >= s && t.created < e).length,
      solved: ts.filter((t) => t.solved != null && t.solved >= s && t.solved < e).length,
      backlog: ts.filter((t) => t.created < e).length - ts.filter((t) => t.solved != null && t.solved < e).length,
    };
  });
}
function perChannel(ts, rowFn) {
  const channels = {};
  for (const [ch, xs] of groupBy(ts, (t) => t.channel)) channels[ch] = rowFn(ch, xs);
  return { channels, all: rowFn('all', ts) };
}
function expResponse(ts) {
  return perChannel(ts.filter((t) => inP(t.created)), (channel, xs) => {
    const fr = xs.filter((t) => t.fr != null).map((t) => secs(t.created, t.fr));
    const rs = xs.filter((t) => t.solved != null).map((t) => secs(t.created, t.solved));
    return {
      channel, tickets: xs.length, responded: fr.length, first_response_median_secs: pcont(fr, 0.5), first_response_p90_secs: pcont(fr, 0.9),
      solved: rs.length, resolution_median_secs: pcont(rs, 0.5), resolution_p90_secs: pcont(rs, 0.9),
    };
  });
}
function expSla(ts) {
  return perChannel(ts.filter((t) => inP(t.created) && t.due != null), (channel, xs) => {
    let met = 0; let breached = 0; let pending = 0;
    for (const t of xs) {
      if (t.breached || (t.solved != null && t.solved > t.due) || (t.solved == null && t.due < NOW)) breached++;
      else if (t.solved != null) met++;
      else pending++;
    }
    return { channel, with_sla: xs.length, met, breached, pending, attainment: rate(met, met + breached) };
  });
}
function expCsat(o = {}) {
  const rs = svc.csat.filter((r) => inP(r.at) && (o.team === undefined || r.team === o.team) && (!o.channel || r.channel === o.channel));
  const agg = (xs) => ({
    ratings: xs.length, average: rnd(sum(xs.map((r) => r.rating)) / xs.length, 2), satisfied: rate(xs.filter((r) => r.rating >= 4).length, xs.length),
  });
  const order = (list, nameOf) => list.sort((a, b) => b.ratings - a.ratings || cmp(nameOf(a), nameOf(b)));
  return {
    csat_by_agent: order([...groupBy(rs, (r) => r.agent)].map(([k, xs]) => ({ agent_id: svc.ag[k].id, name: svc.ag[k].name, ...agg(xs) })), (r) => r.name),
    csat_by_team: order([...groupBy(rs, (r) => r.team)].map(([k, xs]) => ({ team_id: k, name: svc.teamName[k], ...agg(xs) })), (r) => r.name),
    csat_by_channel: order([...groupBy(rs, (r) => r.channel)].map(([k, xs]) => ({ channel: k, ...agg(xs) })), (r) => r.channel),
  };
}
function expFlagged(ts) {
  return ts.filter((t) => inP(t.flagged)).sort((a, b) => b.flagged - a.flagged).map((t) => ({
    ticket_id: t.id, subject: t.subject, channel: t.channel, priority: t.priority, status: t.status, flag_reason: t.reason,
    flagged_at: iso(t.flagged), assignee: t.assignee ? svc.ag[t.assignee].name : null,
  }));
}
async function checkService(client, o, what) {
  const params = {};
  if (o.team !== undefined) params.team = o.team;
  if (o.channel) params.channel = o.channel;
  const rep = await report(client, 'service', params);
  check(() => assert.deepEqual([rep.from, rep.to], [FROM, TO]));
  check(() => assert.deepEqual(rep.filters, { team: o.team ?? null, channel: o.channel ?? null }, `${what}: filters`));
  const ts = svcTickets(o);
  check(() => assertOneOf(rows(rep, 'volume'), expVolume(ts), `${what}: volume`));
  check(() => assert.deepEqual(rows(rep, 'backlog'), expBacklog(ts), `${what}: backlog`));
  check(() => assertPerChannelThenAll(rows(rep, 'response'), expResponse(ts), `${what}: response`));
  check(() => assertPerChannelThenAll(rows(rep, 'sla'), expSla(ts), `${what}: sla`));
  if (!o.teams) { // (a manager's scope is checked on the ticket datasets only)
    const cs = expCsat(o);
    for (const k of ['csat_by_agent', 'csat_by_team', 'csat_by_channel']) check(() => assert.deepEqual(rows(rep, k), cs[k], `${what}: ${k}`));
  }
  check(() => assert.deepEqual(rows(rep, 'flagged'), expFlagged(ts), `${what}: flagged`));
  return rep;
}

function expAgents(o = {}) {
  const out = Object.values(svc.ag).filter((g) => g.active && ['agent', 'manager'].includes(g.role) && (o.team === undefined || g.team === o.team))
    .map((g) => {
      const handled = svc.tickets.filter((t) => t.assignee === g.key && inP(t.solved));
      const handle = handled.map((t) => {
        const offers = svc.offers.filter((x) => x.ticket === t.id && x.agent === g.key && ['accepted', 'auto'].includes(x.outcome));
        return secs(offers.length ? Math.max(...offers.map((x) => x.at)) : t.created, t.solved);
      });
      const ev = svc.presence.filter((e) => e.agent === g.key).sort((x, y) => x.at - y.at);
      let online = 0;
      ev.forEach((e, i) => {
        if (e.status !== 'online') return;
        const s = Math.max(e.at, T(0)); const e2 = Math.min(i + 1 < ev.length ? ev[i + 1].at : NOW, T(10));
        if (e2 > s) online += (e2 - s) / 1000;
      });
      return {
        agent_id: g.id, name: g.name, team: svc.teamName[g.team], handled: handled.length,
        replies: svc.messages.filter((m) => m.author === g.key && m.direction === 'out' && m.type === 'agent' && !m.internal && inP(m.at)).length,
        open_now: svc.tickets.filter((t) => t.assignee === g.key && ['new', 'open'].includes(t.status)).length,
        avg_handle_secs: handled.length ? Math.round(sum(handle) / handled.length) : null,
        online_secs: online, occupancy: online ? rnd(sum(handle) / online, 4) : null, rank: 0,
      };
    });
  out.sort((a, b) => b.handled - a.handled || nullsLast(a.avg_handle_secs, b.avg_handle_secs) || cmp(a.name, b.name));
  out.forEach((r, i) => { r.rank = i + 1; });
  return out;
}

// ---- sales ----------------------------------------------------------------------------------------
async function seedSales() {
  const { server } = sal;
  const admin = await bootstrapAdmin(server);
  sal.a = api(server, admin.token);
  const East = await team(sal.a, 'East'); const West = await team(sal.a, 'West');
  sal.teams = { East, West };
  sal.ag = {};
  for (const [key, name, role, tm] of [['sue', 'Sales Sue', 'sales', East], ['tom', 'Sales Tom', 'sales', East],
    ['wes', 'Sales Wes', 'sales', West], ['ola', 'Sales Ola', 'sales', East], ['max', 'Marketer Max', 'marketer', null],
    ['mo', 'Mgr Mo', 'manager', West]]) {
    const u = await createAgent(server, admin.token, { name, role, ...(tm ? { team_id: tm } : {}) });
    sal.ag[key] = { key, name, role, team: tm, id: u.id, api: api(server, u.token) };
  }
  sql(server, "INSERT INTO pipeline_stages (name, position, probability, kind, active) VALUES ('Old Stage', 25, 50, 'open', 0)");
  sal.stages = sql(server, 'SELECT id, name, position, probability, kind, active FROM pipeline_stages ORDER BY position')
    .map(([sid, name, position, probability, kind, active]) => ({ id: Number(sid), name, position: Number(position), probability: Number(probability), kind, active: active === '1' }));
  const st = (pos) => sal.stages.find((x) => x.position === pos).id;
  const [B, D, M, W, L, OLD] = [10, 20, 30, 40, 50, 25].map(st);
  sql(server, "INSERT INTO customers (id, name) VALUES (1, 'Buyer One'), (2, 'Buyer Two')");
  const thisMonth = TODAY; const nextMonth = addDays(TODAY, 40);
  const h = (from, to, when, secsIn = null) => ({ from, to, at: when, secs: secsIn });
  const deal = (dId, o) => ({ id: dId, currency: 'CNY', prob: null, ec: null, reason: null, closed: null, status: 'open', ...o });
  sal.deals = [
    deal(2001, { owner: 'sue', amount: 100000, stage: M, created: T(1, '10:00'), ec: thisMonth, // back and forth: Budding reached once
      hist: [h(null, B, T(1, '10:00')), h(B, D, T(2, '10:00'), 86400), h(D, B, T(3, '10:00'), 86400), h(B, D, T(3, '12:00'), 7200), h(D, M, T(4, '10:00'), 79200)] }),
    deal(2002, { owner: 'sue', amount: 50000, stage: W, status: 'won', closed: T(5, '09:00'), reason: 'price', created: T(2, '09:00'),
      hist: [h(null, B, T(2, '09:00')), h(B, D, T(3, '09:00'), 86400), h(D, W, T(5, '09:00'), 172800)] }),
    deal(2003, { owner: 'tom', amount: 30000, stage: L, status: 'lost', closed: T(3, '18:00'), reason: 'price', created: T(3, '12:00'),
      hist: [h(null, B, T(3, '12:00')), h(B, L, T(3, '18:00'), 21600)] }),
    deal(2004, { owner: 'tom', amount: 20000, currency: 'USD', stage: D, prob: 50, created: T(0, '08:00'), // created in Developing; no expected_close
      hist: [h(null, D, T(0, '08:00'))] }),
    deal(2005, { owner: 'wes', amount: 80000, stage: M, prob: 0, ec: nextMonth, created: T(-5, '09:00'), // its own probability 0
      hist: [h(null, B, T(-5, '09:00')), h(B, D, T(-2, '09:00'), 259200), h(D, M, T(1, '21:00'), 302400)] }),
    deal(2006, { owner: 'wes', amount: 40000, stage: W, status: 'won', closed: T(8, '10:00'), created: T(6, '10:00'), // through the inactive stage, no reason
      hist: [h(null, OLD, T(6, '10:00')), h(OLD, M, T(7, '10:00'), 86400), h(M, W, T(8, '10:00'), 86400)] }),
    deal(2007, { owner: 'sue', amount: 100000, currency: 'USD', stage: L, status: 'lost', closed: T(4, '11:00'), reason: 'timing', created: T(2, '11:00'),
      hist: [h(null, B, T(2, '11:00')), h(B, L, T(4, '11:00'), 172800)] }),
    deal(2008, { owner: 'ola', amount: 60000, stage: W, status: 'won', closed: T(-25, '10:00'), reason: 'price', created: T(-30, '10:00'),
      hist: [h(null, B, T(-30, '10:00')), h(B, W, T(-25, '10:00'), 432000)] }),
    deal(2009, { owner: 'sue', amount: 25000, stage: B, ec: thisMonth, created: T(10), hist: [h(null, B, T(10))] }), // created at the end
    deal(2010, { owner: 'tom', amount: 15000, stage: W, status: 'won', closed: T(10), reason: 'price', created: T(9, '10:00'), // won at the end
      hist: [h(null, B, T(9, '10:00')), h(B, W, T(10), 50400)] }),
    deal(2011, { owner: 'wes', amount: 70000, stage: L, status: 'lost', closed: T(5, '12:00'), reason: 'price', created: T(-10, '12:00'),
      hist: [h(null, B, T(-10, '12:00')), h(B, L, T(5, '12:00'), 1296000)] }),
    deal(2012, { owner: 'sue', amount: 30000, currency: 'USD', stage: D, prob: 35, ec: thisMonth, created: T(-40, '10:00'),
      hist: [h(null, D, T(-40, '10:00'))] }),
  ];
  insert(server, 'deals', sal.deals.map((d) => ({
    id: d.id, customer_id: 1 + (d.id % 2), title: `Deal ${d.id}`, stage_id: d.stage, status: d.status, amount: money(d.amount),
    currency: d.currency, expected_close: d.ec, probability: d.prob, owner_id: sal.ag[d.owner].id, win_loss_reason: d.reason,
    stage_entered_at: at(d.hist.at(-1).at), closed_at: at(d.closed), created_at: at(d.created),
  })));
  insert(server, 'deal_stage_history', sal.deals.flatMap((d) => d.hist.map((x) => ({
    deal_id: d.id, from_stage_id: x.from, to_stage_id: x.to, secs_in_from: x.secs, at: at(x.at),
  }))));
  sal.activities = [['sue', T(1, '10:00')], ['sue', T(5, '15:00')], ['sue', T(9, '23:00')], ['sue', T(-1, '10:00')], ['sue', T(10)],
    ['tom', T(4, '10:00')], ['ola', T(-20, '10:00')]].map(([owner, when]) => ({ owner, at: when }));
  insert(server, 'activities', sal.activities.map((x) => ({
    customer_id: 1, owner_id: sal.ag[x.owner].id, method: 'call', content: 'follow-up', happened_at: at(x.at), created_at: at(x.at),
  })));
}

function salesScope(o = {}) {
  return {
    deals: sal.deals.filter((d) => (!o.owner || d.owner === o.owner) && (!o.team || sal.ag[d.owner].team === o.team)),
    activities: sal.activities.filter((x) => (!o.owner || x.owner === o.owner) && (!o.team || sal.ag[x.owner].team === o.team)),
  };
}
function expSales(o = {}) {
  const { deals, activities } = salesScope(o);
  const active = sal.stages.filter((s) => s.active);
  const reached = (s) => deals.filter((d) => inP(d.created) && d.hist.some((x) => x.to === s.id));
  const funnel = [];
  for (const s of active) {
    const r = reached(s); const open = deals.filter((d) => d.status === 'open' && d.stage === s.id);
    const curs = [...new Set([...r, ...open].map((d) => d.currency))].sort();
    const head = { stage_id: s.id, stage: s.name, position: s.position };
    if (!curs.length) funnel.push({ ...head, reached: 0, open_deals: 0, open_amount: '0.00', currency: null });
    for (const c of curs) {
      const oc = open.filter((d) => d.currency === c);
      funnel.push({ ...head, reached: r.filter((d) => d.currency === c).length, open_deals: oc.length, open_amount: money(sum(oc.map((d) => d.amount))), currency: c });
    }
  }
  const stages = active.map((s, i) => {
    const n = reached(s).length; const next = i + 1 < active.length ? reached(active[i + 1]).length : null;
    const leaving = deals.flatMap((d) => d.hist).filter((x) => x.from === s.id && inP(x.at)).map((x) => x.secs);
    return {
      stage_id: s.id, stage: s.name, position: s.position, reached: n, next_reached: next, conversion: next == null ? null : rate(next, n),
      avg_secs_in_stage: leaving.length ? Math.round(sum(leaving) / leaving.length) : null,
    };
  });
  const closed = deals.filter((d) => ['won', 'lost'].includes(d.status) && inP(d.closed));
  const wl = [...groupBy(closed, (d) => `${d.status}|${d.reason ?? ''}|${d.currency}`)].map(([k, xs]) => {
    const [status, reason, currency] = k.split('|');
    return { status, reason, deals: xs.length, amount: money(sum(xs.map((d) => d.amount))), currency };
  });
  const winLoss = [['lost', 'won'], ['won', 'lost']].map((order) => [...wl].sort((a, b) => order.indexOf(a.status) - order.indexOf(b.status) ||
    b.deals - a.deals || cmp(a.reason, b.reason)));
  const open = deals.filter((d) => d.status === 'open');
  const forecast = [...groupBy(open, (d) => `${d.ec ? d.ec.slice(0, 7) : 'none'}|${d.currency}`)].map(([k, xs]) => {
    const [month, currency] = k.split('|');
    const weighted = sum(xs.map((d) => d.amount * (d.prob ?? sal.stages.find((s) => s.id === d.stage).probability) / 100));
    return { month, currency, open_deals: xs.length, amount: money(sum(xs.map((d) => d.amount))), weighted: money(weighted) };
  }).sort((a, b) => (a.month === 'none') - (b.month === 'none') || cmp(a.month, b.month) || cmp(a.currency, b.currency));
  const people = [];
  for (const [owner, xs] of groupBy(deals, (d) => d.owner)) {
    for (const [currency, ds] of groupBy(xs, (d) => d.currency)) {
      const won = ds.filter((d) => d.status === 'won' && inP(d.closed)); const lost = ds.filter((d) => d.status === 'lost' && inP(d.closed));
      const openN = ds.filter((d) => d.status === 'open').length;
      if (!won.length && !lost.length && !openN) continue;
      people.push({
        owner_id: sal.ag[owner].id, name: sal.ag[owner].name, won_deals: won.length, won_amount: money(sum(won.map((d) => d.amount))),
        lost_deals: lost.length, win_rate: rate(won.length, won.length + lost.length), open_deals: openN, currency,
      });
    }
  }
  const acts = {};
  for (const x of activities) if (inP(x.at)) acts[sal.ag[x.owner].id] = (acts[sal.ag[x.owner].id] || 0) + 1;
  return { funnel, stages, winLoss, forecast, people, acts };
}
async function checkSales(client, o, what, params = {}) {
  const rep = await report(client, 'sales', params);
  const e = expSales(o);
  check(() => assert.deepEqual(rows(rep, 'funnel'), e.funnel, `${what}: funnel`));
  check(() => assert.deepEqual(rows(rep, 'stages'), e.stages, `${what}: stages`));
  check(() => assertOneOf(rows(rep, 'win_loss'), e.winLoss, `${what}: win_loss`));
  check(() => assert.deepEqual(rows(rep, 'forecast'), e.forecast, `${what}: forecast`));
  // people: the rows, their order, and activities counted once per owner (on one currency row)
  const got = rows(rep, 'people');
  const key = (r) => `${r.owner_id}|${r.currency}`;
  const strip = (r) => { const { activities, ...rest } = r; return rest; };
  check(() => assert.deepEqual(Object.fromEntries(got.map((r) => [key(r), strip(r)])), Object.fromEntries(e.people.map((r) => [key(r), r])), `${what}: people`));
  check(() => assert.equal(got.length, e.people.length, `${what}: people rows`));
  check(() => {
    for (let i = 1; i < got.length; i++) {
      const a = got[i - 1]; const b = got[i];
      assert.ok(Number(a.won_amount) > Number(b.won_amount) || (Number(a.won_amount) === Number(b.won_amount) && a.name <= b.name),
        `${what}: people ordered by won_amount desc, name: ${JSON.stringify(got)}`);
    }
  });
  for (const [owner, xs] of groupBy(got, (r) => r.owner_id)) {
    check(() => assert.equal(sum(xs.map((r) => r.activities)), e.acts[owner] || 0, `${what}: activities of owner ${owner}`));
    check(() => assert.ok(xs.filter((r) => r.activities !== 0).length <= 1, `${what}: activities on one currency row only: ${JSON.stringify(xs)}`));
  }
  return rep;
}

// ---- marketing ------------------------------------------------------------------------------------
async function seedMarketing() {
  const { server } = mkt;
  const admin = await bootstrapAdmin(server);
  mkt.a = api(server, admin.token);
  mkt.sales = await createAgent(server, admin.token, { name: 'Sales Sid', role: 'sales' });
  mkt.marketer = await createAgent(server, admin.token, { name: 'Marketer Mo', role: 'marketer' });
  const custs = ['mA', 'mB', 'mC', 'mD', 'mE', 'mF', 'mG', 'mH', 'mI', 'mJ', 'mK'];
  mkt.cust = Object.fromEntries(custs.map((k, i) => [k, i + 1]));
  insert(server, 'customers', custs.map((k, i) => ({ id: i + 1, name: `Customer ${k}` })));
  sql(server, "INSERT INTO templates (id, name, channel, subject, body_text) VALUES (1, 'Mail', 'email', 'Hi', 'Hi'), (2, 'Text', 'sms', NULL, 'Hi')");
  const camp = (cId, name, channel, started, o = {}) => ({ id: cId, name, channel, started, kind: 'campaign', status: 'finished', cost: null, ...o });
  mkt.campaigns = [
    camp(1, 'Spring mail', 'email', T(1, '09:00'), { cost: 100 }),
    camp(2, 'Spring text', 'sms', T(4, '10:00')),
    camp(3, 'Last call', 'email', T(7, '10:00'), { cost: 100 }),
    camp(4, 'Old news', 'email', T(-20, '10:00')), // started before the period
    camp(5, 'Nurture step', 'email', T(0, '10:00'), { kind: 'sequence_step' }), // not a campaign
    camp(6, 'Draft', 'email', null, { status: 'draft' }),
  ];
  insert(server, 'campaigns', mkt.campaigns.map((c) => ({
    id: c.id, name: c.name, channel: c.channel, template_id: c.channel === 'email' ? 1 : 2, kind: c.kind, status: c.status,
    started_at: at(c.started), finished_at: at(c.started == null ? null : c.started + 3600000), created_at: at(T(-30)),
  })));
  const r = (campaign, cust, state, o = {}) => ({ campaign, cust, state, sent: null, delivered: null, opened: null, clicked: null, replied: null, unsub: null, ...o });
  const t1 = T(1, '09:01'); const t4 = T(4, '10:01'); const t7 = T(7, '10:01');
  mkt.recipients = [
    r(1, 'mA', 'sent', { sent: t1, delivered: T(1, '09:02'), opened: T(1, '10:00'), clicked: T(1, '10:05') }),
    r(1, 'mB', 'sent', { sent: t1, delivered: T(1, '09:02'), opened: T(2, '08:00') }),
    r(1, 'mC', 'sent', { sent: t1, delivered: T(1, '09:02'), replied: T(1, '12:00') }),
    r(1, 'mD', 'sent', { sent: t1, delivered: T(1, '09:02'), unsub: T(1, '11:00') }),
    r(1, 'mK', 'sent', { sent: t1 }),
    r(1, 'mE', 'failed'),
    r(1, 'mF', 'skipped', { skip: 'suppressed' }),
    r(5, 'mB', 'sent', { sent: T(2, '09:00') }),
    r(5, 'mK', 'sent', { sent: T(3, '09:00') }), // mK's last touch before its win
    r(2, 'mB', 'sent', { sent: t4, delivered: T(4, '10:02') }), // mB's last touch before its win
    r(2, 'mH', 'sent', { sent: t4, delivered: T(4, '10:02'), replied: T(4, '12:00') }),
    r(2, 'mI', 'sent', { sent: t4 }),
    r(3, 'mA', 'sent', { sent: t7 }),
    r(3, 'mJ', 'sent', { sent: t7, delivered: T(7, '10:02') }),
    r(4, 'mA', 'sent', { sent: T(-20, '10:01') }),
    r(4, 'mC', 'sent', { sent: T(-20, '10:01') }),
  ];
  insert(server, 'campaign_recipients', mkt.recipients.map((x, i) => ({
    id: i + 1, campaign_id: x.campaign, customer_id: mkt.cust[x.cust], channel: mkt.campaigns.find((c) => c.id === x.campaign).channel,
    address: `${x.cust}@example.com`, state: x.state, skip_reason: x.skip ?? null, sent_at: at(x.sent), delivered_at: at(x.delivered),
    opened_at: at(x.opened), clicked_at: at(x.clicked), replied_at: at(x.replied), unsubscribed_at: at(x.unsub), created_at: at(T(-30)),
  })));
  mkt.recipients.forEach((x, i) => { x.id = i + 1; });
  const [won] = sql(server, "SELECT id FROM pipeline_stages WHERE kind = 'won' LIMIT 1")[0];
  const [lost] = sql(server, "SELECT id FROM pipeline_stages WHERE kind = 'lost' LIMIT 1")[0];
  mkt.deals = [
    { cust: 'mA', status: 'won', amount: 25000, currency: 'CNY', closed: T(2, '10:00') }, // → Spring mail
    { cust: 'mB', status: 'won', amount: 40000, currency: 'CNY', closed: T(6, '10:00') }, // → Spring text (last touch)
    { cust: 'mC', status: 'won', amount: 99900, currency: 'CNY', closed: T(0, '10:00') }, // → Old news
    { cust: 'mD', status: 'won', amount: 12300, currency: 'CNY', closed: T(1, '09:00') }, // before its only message
    { cust: 'mH', status: 'won', amount: 8000, currency: 'USD', closed: T(5, '10:00') }, // → Spring text, in USD
    { cust: 'mK', status: 'won', amount: 7000, currency: 'CNY', closed: T(4, '10:00') }, // → the sequence step
    { cust: 'mJ', status: 'lost', amount: 5000, currency: 'CNY', closed: T(8, '10:00') },
  ];
  insert(server, 'deals', mkt.deals.map((d, i) => ({
    id: i + 1, customer_id: mkt.cust[d.cust], title: `Deal ${i + 1}`, stage_id: d.status === 'won' ? won : lost, status: d.status,
    amount: money(d.amount), currency: d.currency, closed_at: at(d.closed), created_at: at(T(-30)),
  })));
}
/** Last touch: the latest sent ledger row of the customer at or before the win, if the win is within 30 days of it. */
function attributedTo(d) {
  const cands = mkt.recipients.filter((x) => x.state === 'sent' && x.cust === d.cust && x.sent <= d.closed)
    .sort((a, b) => b.sent - a.sent || b.id - a.id);
  return cands.length && d.closed < cands[0].sent + 30 * DAY ? cands[0].campaign : null;
}
function expMarketing(o = {}) {
  const camps = mkt.campaigns.filter((c) => c.kind === 'campaign' && inP(c.started) && (!o.channel || c.channel === o.channel))
    .sort((a, b) => a.started - b.started || a.id - b.id);
  const wins = mkt.deals.filter((d) => d.status === 'won').map((d) => ({ ...d, campaign: attributedTo(d) }));
  const counts = (rs) => ({
    sent: rs.filter((x) => x.state === 'sent').length, delivered: rs.filter((x) => x.delivered).length,
    opened: rs.filter((x) => x.opened).length, clicked: rs.filter((x) => x.clicked).length,
    replied: rs.filter((x) => x.replied).length, unsubscribed: rs.filter((x) => x.unsub).length,
  });
  const campaigns = [];
  for (const c of camps) {
    const rs = mkt.recipients.filter((x) => x.campaign === c.id);
    const head = { campaign_id: c.id, name: c.name, channel: c.channel, started_at: iso(c.started), recipients: rs.filter((x) => x.state !== 'skipped').length, ...counts(rs) };
    const cost = c.cost == null ? null : money(c.cost * 100);
    const roi = (rev) => (c.cost ? rnd((rev / 100 - c.cost) / c.cost, 4) : null);
    const byCur = [...groupBy(wins.filter((d) => d.campaign === c.id), (d) => d.currency)].sort((a, b) => cmp(a[0], b[0]));
    if (!byCur.length) campaigns.push({ ...head, converted: 0, revenue: '0.00', currency: null, cost, roi: roi(0) });
    for (const [currency, ds] of byCur) {
      const rev = sum(ds.map((d) => d.amount));
      campaigns.push({ ...head, converted: ds.length, revenue: money(rev), currency, cost, roi: roi(rev) });
    }
  }
  const channels = [...groupBy(camps, (c) => c.channel)].map(([channel, cs]) => {
    const ids = cs.map((c) => c.id);
    const n = counts(mkt.recipients.filter((x) => ids.includes(x.campaign)));
    const converted = wins.filter((d) => ids.includes(d.campaign)).length;
    return {
      channel, campaigns: cs.length, ...n, converted, delivered_rate: rate(n.delivered, n.sent), open_rate: rate(n.opened, n.sent),
      click_rate: rate(n.clicked, n.sent), reply_rate: rate(n.replied, n.sent), unsubscribe_rate: rate(n.unsubscribed, n.sent),
      conversion_rate: rate(converted, n.sent),
    };
  }).sort((a, b) => cmp(a.channel, b.channel));
  return { campaigns, channels };
}

// ---- customers ------------------------------------------------------------------------------------
async function seedCustomers() {
  const { server } = cus;
  const admin = await bootstrapAdmin(server);
  cus.a = api(server, admin.token);
  const olga = await createAgent(server, admin.token, { name: 'Owner Olga', role: 'sales' });
  const pat = await createAgent(server, admin.token, { name: 'Owner Pat', role: 'sales' });
  cus.olga = { ...olga, api: api(server, olga.token) };
  cus.agent = await createAgent(server, admin.token, { name: 'Agent Ari', role: 'agent' });
  cus.marketer = await createAgent(server, admin.token, { name: 'Marketer Mae', role: 'marketer' });
  cus.ownerName = { [olga.id]: 'Owner Olga', [pat.id]: 'Owner Pat' };
  const c = (cid, name, o) => ({ id: cid, name, source: null, owner: null, lastContact: null, merged: null, ...o });
  cus.customers = [
    c(1, 'Alice Ang', { created: T(0, '10:00'), source: 'web', owner: olga.id, lastContact: T(9, '12:00') }),
    c(2, 'Bob Bai', { created: T(0, '11:00'), source: 'web', lastContact: T(-52, '23:00') }), // 61 days + 1 h before the end
    c(3, 'Cai Chen', { created: T(0, '12:00') }), // no source, never contacted
    c(4, '=HYPERLINK("x")', { created: T(3, '09:00'), source: 'ads', owner: olga.id, lastContact: T(8, '12:00') }),
    c(5, 'Dong Du', { created: T(3, '10:00'), source: 'ads', lastContact: T(-100), merged: 1 }), // merged into Alice
    c(6, 'Eve Eng', { created: T(-40, '10:00'), source: 'fair', owner: olga.id, lastContact: T(-49) }), // 59 days
    c(7, 'Fay Fu', { created: T(10), source: 'web' }), // created at the end
    c(8, 'Gus Gao', { created: T(-100, '10:00'), source: 'web', owner: pat.id, lastContact: T(-190) }), // 200 days
    c(9, '-dash Co', { created: T(5, '10:00'), source: 'ads', lastContact: T(9, '12:00') }),
    c(10, 'Hua Han', { created: T(-100, '11:00'), source: 'fair', owner: pat.id, lastContact: T(-25) }), // 35 days: silent at 30, not 60
  ];
  insert(server, 'customers', cus.customers.map((x) => ({
    id: x.id, name: x.name, source: x.source, owner_id: x.owner, last_contact_at: at(x.lastContact), merged_into: x.merged, created_at: at(x.created),
  })));
  const [won] = sql(server, "SELECT id FROM pipeline_stages WHERE kind = 'won' LIMIT 1")[0];
  const [lost] = sql(server, "SELECT id FROM pipeline_stages WHERE kind = 'lost' LIMIT 1")[0];
  const [open] = sql(server, "SELECT id FROM pipeline_stages WHERE kind = 'open' ORDER BY position LIMIT 1")[0];
  const d = (cust, status, amount, currency, closed) => ({ cust, status, amount, currency, closed });
  cus.deals = [
    d(1, 'won', 10000, 'CNY', T(1)), d(1, 'won', 30000, 'CNY', T(-20)), d(1, 'won', 5000, 'USD', T(2)), // repeat in CNY, not in USD
    d(2, 'won', 50000, 'CNY', T(4)), d(2, 'lost', 20000, 'CNY', T(3)), d(2, 'won', 99900, 'CNY', T(10)), // lost; won after the end
    d(4, 'won', 25000, 'CNY', T(5)), d(4, 'won', 25000, 'CNY', T(6)),
    d(5, 'won', 100000, 'CNY', T(3)), // merged customer
    d(6, 'won', 15000, 'USD', T(-50)), d(9, 'won', 15000, 'USD', T(3)),
    d(3, 'open', 7000, 'CNY', null),
  ];
  insert(server, 'deals', cus.deals.map((x, i) => ({
    id: i + 1, customer_id: x.cust, title: `Deal ${i + 1}`, stage_id: x.status === 'won' ? won : x.status === 'lost' ? lost : open,
    status: x.status, amount: money(x.amount), currency: x.currency, closed_at: at(x.closed), created_at: at(T(-60)),
  })));
  // tickets: "recent" = [end − 30 d, end) = [T(-20), T(10)), "before" = [T(-50), T(-20))
  const t = (cust, created, flagged = null) => ({ cust, created, flagged });
  cus.tickets = [
    t(1, T(-45)), t(1, T(-40)), t(1, T(-35)), t(1, T(-25)), t(1, T(-10)), t(1, T(2)), // 4 before, 2 recent: not falling
    t(2, T(-48)), t(2, T(-30), T(-19)), // 2 before, 0 recent: falling; flagged 29 days before the end
    t(3, T(-49)), t(3, T(-44)), t(3, T(-21)), t(3, T(-20), T(1)), // 3 before, 1 recent (on the edge): falling; flagged
    t(4, T(-25), T(-21)), t(4, T(5), T(5, '12:00')), t(4, T(8), T(8, '12:00')), // flagged 31 days before: not counted
    t(9, T(-21), T(-20)), t(9, T(9), T(10)), // flagged exactly 30 days before the end (counted) and at the end (not)
    t(5, T(-45)), t(5, T(-40)), // merged customer
  ];
  insert(server, 'tickets', cus.tickets.map((x, i) => ({
    id: i + 1, customer_id: x.cust, channel: 'email', status: 'solved', created_at: at(x.created), flagged_at: at(x.flagged),
    flag_reason: x.flagged ? 'complaint' : null,
  })));
}
function expCustomers(o = {}) {
  const silent = o.silentDays ?? 60;
  const cs = cus.customers.filter((x) => x.merged == null && (!o.owner || x.owner === o.owner));
  const ids = new Set(cs.map((x) => x.id));
  const nameOf = (cid) => cus.customers.find((x) => x.id === cid).name;
  const newBy = [...groupBy(cs.filter((x) => inP(x.created)), (x) => `${dayOf(x.created)}|${x.source ?? ''}`)]
    .map(([k, xs]) => ({ day: k.split('|')[0], source: k.split('|')[1], customers: xs.length }))
    .sort((a, b) => cmp(a.day, b.day) || cmp(a.source, b.source));
  // the period's buyers (a won deal closed in it), with all their wins up to the end
  const wins = cus.deals.filter((d) => d.status === 'won' && d.closed < T(10) && ids.has(d.cust));
  const buyerKeys = new Set(wins.filter((d) => inP(d.closed)).map((d) => `${d.cust}|${d.currency}`));
  const repurchase = []; const ltv = []; const top = [];
  for (const [currency, all] of [...groupBy(wins, (d) => d.currency)].sort((a, b) => cmp(a[0], b[0]))) {
    const ds = all.filter((d) => buyerKeys.has(`${d.cust}|${currency}`));
    if (!ds.length) continue;
    const per = groupBy(ds, (d) => d.cust);
    const buyers = per.size; const repeat = [...per.values()].filter((x) => x.length >= 2).length;
    const revenue = sum(ds.map((d) => d.amount));
    repurchase.push({ currency, buyers, repeat_buyers: repeat, repurchase_rate: rate(repeat, buyers) });
    ltv.push({ currency, customers: buyers, revenue: money(revenue), average: money(Math.round(revenue / buyers)) });
    for (const [cid, xs] of per) top.push({ customer_id: cid, name: nameOf(cid), won_deals: xs.length, revenue: money(sum(xs.map((d) => d.amount))), currency });
  }
  const byAmount = (a, b) => Number(b.revenue) - Number(a.revenue) || cmp(a.name, b.name);
  const topOrders = [[...top].sort(byAmount), [...top].sort((a, b) => cmp(a.currency, b.currency) || byAmount(a, b))];
  const end = T(10);
  const churn = [];
  for (const x of cs) {
    const ts = cus.tickets.filter((t) => t.cust === x.id);
    const recent = ts.filter((t) => t.created >= end - 30 * DAY && t.created < end).length;
    const before = ts.filter((t) => t.created >= end - 60 * DAY && t.created < end - 30 * DAY).length;
    const flagged = ts.filter((t) => t.flagged != null && t.flagged >= end - 30 * DAY && t.flagged < end).length;
    const reasons = [];
    // crossed silent_days without contact during the period
    if (x.lastContact != null && x.lastContact >= T(0) - silent * DAY && x.lastContact < end - silent * DAY) reasons.push('no_contact');
    if (before >= 2 && recent < before / 2) reasons.push('falling_activity');
    if (flagged) reasons.push('complaint');
    if (!reasons.length) continue;
    churn.push({
      customer_id: x.id, name: x.name, owner: x.owner ? cus.ownerName[x.owner] : null, last_contact_at: x.lastContact == null ? null : iso(x.lastContact),
      days_silent: x.lastContact == null ? null : Math.floor((end - x.lastContact) / DAY), tickets_recent: recent, tickets_before: before, flagged, reasons: reasons.join(','),
    });
  }
  churn.sort((a, b) => b.reasons.split(',').length - a.reasons.split(',').length || (b.days_silent ?? Infinity) - (a.days_silent ?? Infinity));
  return { new_by_source: newBy, repurchase, lifetime_value: ltv, topOrders, churn };
}

// =================================================================================================
// Tests
// =================================================================================================

test('service: volume, backlog, response percentiles, SLA, CSAT and flagged tickets over the whole period', () => collect(async () => {
  const rep = await checkService(svc.a, {}, 'service');
  // the hand-picked edge cases spelled out, so a slip in the model above cannot hide them
  const resp = Object.fromEntries(rows(rep, 'response').map((r) => [r.channel, r]));
  check(() => assert.deepEqual([resp.chat?.first_response_median_secs, resp.chat?.first_response_p90_secs], [145.5, 270], 'chat first response: 91.2 s counts 91; median of an even count'));
  check(() => assert.deepEqual([resp.chat?.resolution_median_secs, resp.chat?.resolution_p90_secs], [1000, 1480.8]));
  check(() => assert.deepEqual([resp.email?.first_response_median_secs, resp.email?.first_response_p90_secs], [5400.5, 6840.9]));
  check(() => assert.deepEqual([resp.web?.responded, resp.web?.first_response_median_secs, resp.web?.resolution_p90_secs], [0, null, null]));
  check(() => assert.deepEqual([resp.all?.tickets, resp.all?.first_response_median_secs, resp.all?.first_response_p90_secs], [11, 145.5, 4680.3]));
  const backlog = rows(rep, 'backlog');
  check(() => assert.equal(backlog.length, 10, 'every day of the period, with or without activity'));
  check(() => assert.deepEqual(backlog[0], { day: FROM, created: 1, solved: 5, backlog: 5 }, 'tickets from before the period count'));
  check(() => assert.deepEqual(backlog[3], { day: addDays(FROM, 3), created: 0, solved: 0, backlog: 4 }, 'a day without activity'));
  const sla = Object.fromEntries(rows(rep, 'sla').map((r) => [r.channel, r]));
  check(() => assert.deepEqual(sla.chat, { channel: 'chat', with_sla: 4, met: 1, breached: 3, pending: 0, attainment: 0.25 }));
  check(() => assert.deepEqual(sla.sms, { channel: 'sms', with_sla: 2, met: 0, breached: 2, pending: 0, attainment: 0 }));
  check(() => assert.deepEqual(sla.web, { channel: 'web', with_sla: 1, met: 0, breached: 0, pending: 1, attainment: null }));
  check(() => assert.deepEqual(sla.all, { channel: 'all', with_sla: 10, met: 3, breached: 5, pending: 2, attainment: 0.375 }));
  check(() => assert.deepEqual(rows(rep, 'csat_by_agent')[0], { agent_id: svc.ag.ann.id, name: 'Agent Ann', ratings: 3, average: 3.67, satisfied: 0.6667 }));
  check(() => assert.deepEqual(rows(rep, 'flagged').map((r) => r.ticket_id), [1051, 1031, 1013, 1001], 'flagged in the period, newest first'));
}));

test('service: the team and channel filters change every figure as documented', () => collect(async () => {
  const { T1, T2 } = svc.teams;
  const alpha = await checkService(svc.a, { team: T1 }, 'service team=Alpha');
  // CSAT follows the response's team: the Beta ticket rated while its agent worked for Alpha counts for Alpha
  check(() => assert.ok(rows(alpha, 'csat_by_agent').some((r) => r.name === '=HYPERLINK("x")'), 'team=Alpha: CSAT by the response\'s team'));
  check(() => assert.deepEqual(rows(alpha, 'flagged').map((r) => r.ticket_id), [1001]));
  await checkService(svc.a, { team: T2 }, 'service team=Beta');
  const email = await checkService(svc.a, { channel: 'email' }, 'service channel=email');
  check(() => assert.deepEqual(rows(email, 'response').map((r) => r.channel), ['email', 'all']));
  await checkService(svc.a, { channel: 'chat', team: T1 }, 'service channel=chat team=Alpha');
  await checkService(svc.a, { channel: 'web' }, 'service channel=web');
}));

test('service: a manager sees tickets of their own team, of teams they manage and without a team', () => collect(async () => {
  const { T1, T2 } = svc.teams;
  await checkService(svc.ag.mia.api, { teams: [T1, T2, null] }, 'service as the manager of Beta who manages Alpha');
}));

test('agents: handled, replies, open now, handle time, online time from presence events, occupancy, rank', () => collect(async () => {
  const rep = await report(svc.a, 'agents');
  const got = rows(rep, 'agents');
  check(() => assert.deepEqual(got, expAgents(), 'agents'));
  const by = Object.fromEntries(got.map((r) => [r.name, r]));
  const pick = (name, ...cols) => cols.map((c) => by[name]?.[c]);
  check(() => assert.deepEqual(got.map((r) => r.name), ['Agent Ann', 'Agent Cat', 'Agent Bob', '=HYPERLINK("x")', 'Agent Zed', 'Mgr Mia'], 'rank order'));
  check(() => assert.deepEqual(pick('Agent Ann', 'handled', 'replies', 'open_now', 'avg_handle_secs', 'online_secs', 'occupancy'), [3, 3, 1, 1733, 14400, 0.3611]));
  check(() => assert.deepEqual(pick('Agent Bob', 'avg_handle_secs', 'online_secs', 'occupancy'), [86385, 12600, 13.7119]));
  check(() => assert.deepEqual(pick('Agent Cat', 'avg_handle_secs', 'open_now', 'online_secs', 'occupancy'), [2600, 2, 0, null]));
  check(() => assert.deepEqual(pick('Mgr Mia', 'online_secs', 'occupancy', 'avg_handle_secs'), [1800, 0, null]));
  const alpha = await report(svc.a, 'agents', { team: svc.teams.T1 });
  check(() => assert.deepEqual(rows(alpha, 'agents'), expAgents({ team: svc.teams.T1 }), 'agents team=Alpha'));
}));

test('sales: funnel, stages, win/loss, forecast and people; the team filter; a seller sees their own deals, a manager their team\'s', () => collect(async () => {
  const rep = await checkSales(sal.a, {}, 'sales');
  const f = rows(rep, 'funnel');
  check(() => assert.deepEqual(f.filter((r) => r.position === 10).map((r) => [r.currency, r.reached, r.open_deals, r.open_amount]),
    [['CNY', 4, 1, '250.00'], ['USD', 1, 0, '0.00']], 'Budding'));
  check(() => assert.ok(!f.some((r) => r.stage === 'Old Stage') && !rows(rep, 'stages').some((r) => r.stage === 'Old Stage'), 'inactive stage left out'));
  check(() => assert.deepEqual(rows(rep, 'stages').map((r) => r.avg_secs_in_stage), [278400, 160200, 86400, null, null]));
  check(() => assert.deepEqual(rows(rep, 'forecast'), [
    { month: TODAY.slice(0, 7), currency: 'CNY', open_deals: 2, amount: '1250.00', weighted: '725.00' },
    { month: TODAY.slice(0, 7), currency: 'USD', open_deals: 1, amount: '300.00', weighted: '105.00' },
    { month: addDays(TODAY, 40).slice(0, 7), currency: 'CNY', open_deals: 1, amount: '800.00', weighted: '0.00' },
    { month: 'none', currency: 'USD', open_deals: 1, amount: '200.00', weighted: '100.00' },
  ], 'forecast, spelled out'));
  check(() => assert.ok(!rows(rep, 'people').some((r) => r.name === 'Sales Ola'), 'an owner with nothing in the period is left out'));
  const west = await checkSales(sal.a, { team: sal.teams.West }, 'sales team=West', { team: sal.teams.West });
  check(() => assert.deepEqual(rows(west, 'funnel').filter((r) => r.position === 10).map((r) => [r.reached, r.open_deals, r.open_amount, r.currency]),
    [[0, 0, '0.00', null]], 'a stage without deals: one row, currency null, zeros'));
  await checkSales(sal.a, { team: sal.teams.East }, 'sales team=East', { team: sal.teams.East });
  const own = await checkSales(sal.ag.sue.api, { owner: 'sue' }, 'sales as Sales Sue');
  check(() => assert.deepEqual([...new Set(rows(own, 'people').map((r) => r.name))], ['Sales Sue']));
  await checkSales(sal.ag.mo.api, { team: sal.teams.West }, 'sales as the manager of West (deals owned by agents of their team)');
}));

test('marketing: per-campaign funnel, attributed revenue, cost (PATCH) and ROI; channels and their rates', () => collect(async () => {
  for (const c of mkt.campaigns.filter((x) => x.cost != null)) {
    const r = await mkt.a.patch(`${V1}/campaigns/${c.id}`, { cost: c.cost });
    assert.equal(r.status, 200, `PATCH /campaigns/${c.id} {"cost": ${c.cost}}: ${r.text}`);
  }
  const rep = await report(mkt.a, 'marketing');
  const e = expMarketing();
  const got = rows(rep, 'campaigns');
  check(() => assert.deepEqual(got, e.campaigns, 'campaigns'));
  check(() => assert.deepEqual(got.map((r) => [r.campaign_id, r.currency, r.converted, r.revenue, r.cost, r.roi]), [
    [1, 'CNY', 1, '250.00', '100.00', 1.5], [2, 'CNY', 1, '400.00', null, null], [2, 'USD', 1, '80.00', null, null], [3, null, 0, '0.00', '100.00', -1],
  ], 'campaigns, spelled out'));
  check(() => assert.deepEqual(rows(rep, 'channels'), e.channels, 'channels'));
  const sms = await report(mkt.a, 'marketing', { channel: 'sms' });
  const es = expMarketing({ channel: 'sms' });
  check(() => assert.deepEqual(rows(sms, 'campaigns'), es.campaigns, 'campaigns channel=sms'));
  check(() => assert.deepEqual(rows(sms, 'channels'), es.channels, 'channels channel=sms'));
  // a marketer reads it too
  const asMarketer = await report(api(mkt.server, mkt.marketer.token), 'marketing');
  check(() => assert.deepEqual(rows(asMarketer, 'campaigns'), rows(rep, 'campaigns'), 'the marketer sees all campaigns'));
}));

test('customers: new by source, repurchase, lifetime value, top customers, churn warnings (silent_days)', () => collect(async () => {
  for (const [params, o] of [[{}, {}], [{ silent_days: 30 }, { silentDays: 30 }]]) {
    const rep = await report(cus.a, 'customers', params);
    const e = expCustomers(o);
    const what = `customers ${JSON.stringify(params)}`;
    check(() => assert.deepEqual(rows(rep, 'new_by_source'), e.new_by_source, `${what}: new_by_source`));
    check(() => assert.deepEqual(rows(rep, 'repurchase'), e.repurchase, `${what}: repurchase`));
    check(() => assert.deepEqual(rows(rep, 'lifetime_value'), e.lifetime_value, `${what}: lifetime_value`));
    check(() => assertOneOf(rows(rep, 'top_customers'), e.topOrders, `${what}: top_customers`));
    check(() => assert.deepEqual(rows(rep, 'churn'), e.churn, `${what}: churn`));
  }
  const rep = await report(cus.a, 'customers');
  check(() => assert.deepEqual(rows(rep, 'repurchase'), [
    { currency: 'CNY', buyers: 3, repeat_buyers: 2, repurchase_rate: 0.6667 }, { currency: 'USD', buyers: 2, repeat_buyers: 0, repurchase_rate: 0 }], 'repurchase, spelled out'));
  check(() => assert.deepEqual(rows(rep, 'lifetime_value'), [
    { currency: 'CNY', customers: 3, revenue: '1400.00', average: '466.67' }, { currency: 'USD', customers: 2, revenue: '200.00', average: '100.00' }], 'lifetime_value, spelled out'));
  check(() => assert.deepEqual(rows(rep, 'churn').map((r) => [r.customer_id, r.reasons, r.days_silent]), [
    [2, 'no_contact,falling_activity,complaint', 61], [3, 'falling_activity,complaint', null], [4, 'complaint', 1], [9, 'complaint', 0]],
    'churn, spelled out (Gus, silent for 200 days, went quiet long before the period)'));
  // a sales user: only the customers they own
  const own = await report(cus.olga.api, 'customers');
  const eo = expCustomers({ owner: cus.olga.id });
  for (const k of ['new_by_source', 'repurchase', 'lifetime_value', 'churn']) check(() => assert.deepEqual(rows(own, k), eo[k], `customers as Owner Olga: ${k}`));
}));

test('CSV: header = columns, values = the JSON rows, null empty, formula-looking text prefixed with \'', () => collect(async () => {
  const csv = async (client, name, params) => client.get(`${V1}/reports/${name}?${new URLSearchParams({ from: FROM, to: TO, format: 'csv', ...params })}`);
  const svcRep = await report(svc.a, 'service');
  const volume = await csv(svc.a, 'service', {});
  check(() => assertCsv(volume, svcRep, 'volume', 'service (default dataset: volume)'));
  for (const dsName of ['response', 'sla', 'csat_by_agent', 'flagged']) {
    const res = await csv(svc.a, 'service', { dataset: dsName });
    check(() => assertCsv(res, svcRep, dsName, `service ${dsName}`));
  }
  const agRep = await report(svc.a, 'agents');
  const agRes = await csv(svc.a, 'agents', { dataset: 'agents' });
  check(() => assertCsv(agRes, agRep, 'agents', 'agents'));
  check(() => assert.ok(agRes.text.includes('"\'=HYPERLINK(""x"")"'), `RFC 4180 quoting of '=HYPERLINK("x"):\n${agRes.text}`));
  const cuRep = await report(cus.a, 'customers');
  const topRes = await csv(cus.a, 'customers', { dataset: 'top_customers' });
  check(() => {
    const top = assertCsv(topRes, cuRep, 'top_customers', 'customers top_customers');
    assert.ok(top.some((r) => r[1] === '\'-dash Co') && top.some((r) => r[1] === '\'=HYPERLINK("x")'), topRes.text);
  });
  const churnRes = await csv(cus.a, 'customers', { dataset: 'churn' });
  check(() => assertCsv(churnRes, cuRep, 'churn', 'customers churn'));
  const mkRep = await report(mkt.a, 'marketing');
  const campRes = await csv(mkt.a, 'marketing', { dataset: 'campaigns' });
  check(() => {
    const camps = assertCsv(campRes, mkRep, 'campaigns', 'marketing campaigns');
    assert.ok(camps.some((r) => r.at(-1) === '-1'), `a negative number is a number, not text to defuse:\n${campRes.text}`);
  });
  const saRep = await report(sal.a, 'sales');
  for (const dsName of ['people', 'forecast', 'win_loss']) {
    const res = await csv(sal.a, 'sales', { dataset: dsName });
    check(() => assertCsv(res, saRep, dsName, `sales ${dsName}`));
  }
}));

test('JSON text: rounded figures are written with at most their decimals (rates 4, averages 2, percentiles 1)', () => collect(async () => {
  const qs = `from=${FROM}&to=${TO}`;
  for (const [client, name] of [[svc.a, 'service'], [svc.a, 'agents'], [sal.a, 'sales'], [mkt.a, 'marketing'], [cus.a, 'customers']]) {
    const res = await client.get(`${V1}/reports/${name}?${qs}`);
    const long = [...new Set(res.text.match(/-?\d+\.\d{5,}/g) || [])];
    check(() => assert.deepEqual(long, [], `${name}: numbers written with more decimals than ROUND(x, 4) leaves`));
  }
}));

test('bad parameters: 400 naming the parameter, 404 for an unknown report; roles', () => collect(async () => {
  const bad = async (client, name, params, param) => {
    const res = await client.get(`${V1}/reports/${name}?${new URLSearchParams(params)}`);
    const what = `${name}?${new URLSearchParams(params)}`;
    check(() => {
      assert.equal(res.status, 400, `${what}: ${res.text.slice(0, 200)}`);
      const err = expectError(res, 400, 'bad_request');
      assert.match(JSON.stringify(err), param, `${what} names ${param}`);
    });
  };
  await bad(svc.a, 'service', { from: TO, to: FROM }, /from|to/);
  await bad(svc.a, 'service', { from: addDays(TO, -400), to: TO }, /from|to/);
  await bad(svc.a, 'service', { from: '2026-02-30', to: TO }, /from/);
  await bad(svc.a, 'service', { from: FROM, to: '2026-13-01' }, /\bto\b/);
  await bad(svc.a, 'service', { from: 'yesterday', to: TO }, /from/);
  await bad(svc.a, 'service', { from: '2026-1-05', to: TO }, /from/);
  await bad(svc.a, 'service', { from: FROM, to: TO, team: '999999' }, /team/);
  await bad(svc.a, 'service', { from: FROM, to: TO, team: 'abc' }, /team/);
  await bad(svc.a, 'service', { from: FROM, to: TO, channel: 'fax' }, /channel/);
  await bad(svc.a, 'service', { from: FROM, to: TO, format: 'csv', dataset: 'nope' }, /dataset/);
  await bad(svc.a, 'agents', { from: FROM, to: TO, format: 'csv', dataset: 'volume' }, /dataset/);
  await bad(cus.a, 'customers', { from: FROM, to: TO, silent_days: '0' }, /silent_days/);
  await bad(cus.a, 'customers', { from: FROM, to: TO, silent_days: '3651' }, /silent_days/);
  // 366 days, both included, is allowed; the default period is the 30 days ending today
  const year = await svc.a.get(`${V1}/reports/service?from=${addDays(TO, -365)}&to=${TO}`);
  check(() => assert.equal(year.status, 200, `366 days: ${year.text.slice(0, 300)}`));
  const def = await svc.a.get(`${V1}/reports/service`);
  check(() => assert.deepEqual([def.status, def.json?.from, def.json?.to, def.json?.filters], [200, addDays(TODAY, -29), TODAY, { team: null, channel: null }], 'the default period'));
  const status = async (client, path, code) => {
    const res = await client.get(path);
    check(() => { assert.equal(res.status, code, `${path}: ${res.text.slice(0, 200)}`); expectError(res, code); });
  };
  await status(svc.a, `${V1}/reports/nope?from=${FROM}&to=${TO}`, 404);
  await status(api(svc.server), `${V1}/reports/service`, 401);
  // roles
  await status(svc.ag.ann.api, `${V1}/reports/service`, 403);
  await status(svc.ag.ann.api, `${V1}/reports/agents`, 403);
  await status(svc.ag.sam.api, `${V1}/reports/service`, 403);
  await status(svc.ag.max.api, `${V1}/reports/agents`, 403);
  await status(sal.ag.max.api, `${V1}/reports/sales`, 403);
  await status(api(mkt.server, mkt.sales.token), `${V1}/reports/marketing`, 403);
  await status(api(cus.server, cus.agent.token), `${V1}/reports/customers`, 403);
  const m = await api(cus.server, cus.marketer.token).get(`${V1}/reports/customers`);
  check(() => assert.equal(m.status, 200, m.text.slice(0, 300)));
}));
