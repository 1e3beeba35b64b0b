'use strict';
// crm_scope.test.js — the authorisation matrix of the CRM (DESIGN.md sections 10–11.4,
// docs/api.md "Data scopes"): for every role (admin, manager, agent, sales, marketer) and
// data scope (own, team, region, all), list (items and total), search, read, update,
// export, duplicates, the 360 (deals of an out-of-scope owner absent) and its timeline,
// deals, leads, follow-ups and the /ws/agent CRM events, on records inside and outside
// the scope. The expected sets are computed here from the seeded ownership (owner, the
// owner's team, the record's region), never read back from the API: nothing outside a
// scope may show up anywhere, and everything inside must.
const test = require('node:test');
const assert = require('node:assert/strict');
const {
  startServer, bootstrapAdmin, api, sql, dropDatabase, createAgent, expectError, sleep,
} = require('./harness');
const { csvObjects, agentSocket, sortNum } = require('./crm_util');

const V1 = '/api/v1';
const enc = encodeURIComponent;
const ROLES = ['admin', 'manager', 'agent', 'sales', 'marketer'];
const SCOPES = ['own', 'team', 'region', 'all'];
const CRM_WRITE = new Set(['admin', 'manager', 'sales']);
const SERVICE = new Set(['admin', 'manager', 'agent', 'sales']);
const EAST = '华东';
const SOUTH = '华南';
const NORTH = '华北';

test.describe('CRM authorisation matrix', () => {
  let server;
  let admin;
  let a;
  let TA; let TB;
  const owners = {};     // OA1, OA2, OB1, OB2 → {id, team, region, token}
  const viewers = [];    // {label, role, scope, id, team, region, api, token}
  const teamOf = new Map(); // agent id → team id (null when none)
  const customers = [];  // {id, label, owner, region, email, name}
  const deals = [];      // {id, owner, customer}
  const leads = [];      // {id, owner, region, name}
  const activities = []; // {id, customer, author}
  let pairs = [];        // duplicate candidates: [customer id, customer id]
  let stages;

  // ---- the model: what a viewer may see, from the seeded ownership alone
  const sees = (v, owner, region) => {
    if (v.scope === 'all') return true;
    if (owner && owner === v.id) return true;
    if (v.scope === 'team') return !!owner && teamOf.get(owner) === v.team;
    if (v.scope === 'region') return !!region && region === v.region;
    return false;
  };
  const custById = (id) => customers.find((c) => c.id === id);
  const seesCustomer = (v, c) => sees(v, c.owner, c.region);
  const seesDeal = (v, d) => sees(v, d.owner, custById(d.customer).region);
  const seesLead = (v, l) => sees(v, l.owner, l.region);
  const seesActivity = (v, x) => seesCustomer(v, custById(x.customer));
  const idsOf = (list) => sortNum(list.map((x) => x.id));
  const seeded = (list) => new Set(list.map((x) => x.id));

  test.before(async () => {
    server = await startServer();
    admin = await bootstrapAdmin(server);
    a = api(server, admin.token);
    teamOf.set(admin.agent.id, null);
    TA = (await a.post(`${V1}/teams`, { name: 'Team A' })).json.id;
    TB = (await a.post(`${V1}/teams`, { name: 'Team B' })).json.id;
    for (const [label, team, region] of [['OA1', TA, EAST], ['OA2', TA, SOUTH], ['OB1', TB, EAST], ['OB2', TB, SOUTH]]) {
      const o = await createAgent(server, admin.token, { role: 'sales', team_id: team, region, name: label });
      owners[label] = { ...o, team, region, label };
      teamOf.set(o.id, team);
    }
    for (const role of ROLES) {
      for (const scope of SCOPES) {
        const v = await createAgent(server, admin.token, { role, team_id: TA, region: EAST, name: `${role}/${scope}` });
        const r = await a.patch(`${V1}/agents/${v.id}`, { data_scope: scope });
        assert.equal(r.status, 200, r.text);
        assert.equal(r.json.data_scope, scope);
        viewers.push({ label: `${role}/${scope}`, role, scope, id: v.id, team: TA, region: EAST, token: v.token, api: api(server, v.token) });
        teamOf.set(v.id, TA);
      }
    }
    // Customers: two per owner (east, south), two unowned, one per viewer (north).
    const mkc = async (label, owner, region, extra = {}) => {
      const email = `${label.toLowerCase().replace(/[^a-z0-9]/g, '-')}@matrix.example`;
      const r = await a.post(`${V1}/customers`, { name: `矩阵客户 ${label}`, email, owner_id: owner, region, tags: ['matrix'], ...extra });
      assert.equal(r.status, 201, r.text);
      const c = { id: r.json.id, label, owner, region, email, name: r.json.name };
      customers.push(c);
      return c;
    };
    const C = {};
    for (const o of Object.values(owners)) {
      C[`${o.label}-E`] = await mkc(`${o.label}-E`, o.id, EAST);
      C[`${o.label}-S`] = await mkc(`${o.label}-S`, o.id, SOUTH);
    }
    C['U-E'] = await mkc('U-E', null, EAST);
    C['U-N'] = await mkc('U-N', null, null);
    for (const v of viewers) C[v.label] = await mkc(`own ${v.label}`, v.id, NORTH);
    // Duplicate candidates: one company on four customers, one unverified e-mail copy.
    const company = ['OA1-E', 'OA2-S', 'OB1-E', 'U-N'];
    for (const k of company) {
      assert.equal((await a.patch(`${V1}/customers/${C[k].id}`, { company: 'Matrix Holdings Ltd' })).status, 200);
    }
    for (let i = 0; i < company.length; i++) for (let j = i + 1; j < company.length; j++) pairs.push([C[company[i]].id, C[company[j]].id]);
    let r = await a.post(`${V1}/customers/${C['OB2-S'].id}/identities?allow_duplicate=1`, { kind: 'email', value: C['OA1-E'].email });
    assert.equal(r.status, 201, r.text);
    pairs.push([C['OA1-E'].id, C['OB2-S'].id]);
    pairs = pairs.map(([x, y]) => [Math.min(x, y), Math.max(x, y)]);
    // Deals: one per owner on their east customer, two across teams, one on an unowned customer.
    stages = (await a.get(`${V1}/pipeline-stages`)).json.items;
    const developing = stages.find((s) => s.name.includes('Developing')).id;
    const mkd = async (owner, customer, title) => {
      const res = await a.post(`${V1}/deals`, { customer_id: customer.id, title, owner_id: owner.id, amount: 1000 });
      assert.equal(res.status, 201, res.text);
      assert.equal((await a.patch(`${V1}/deals/${res.json.id}`, { stage_id: developing })).status, 200);
      deals.push({ id: res.json.id, owner: owner.id, customer: customer.id, title });
    };
    for (const o of Object.values(owners)) await mkd(o, C[`${o.label}-E`], `商机 ${o.label}`);
    await mkd(owners.OB1, C['OA1-E'], '跨组商机 OB1→OA1-E');
    await mkd(owners.OA1, C['OB2-S'], '跨组商机 OA1→OB2-S');
    await mkd(owners.OA2, C['U-E'], '无主客户的商机');
    // Team B has a manager: the cross-team deal entering Mature queues a reminder for them
    // (on a team-A customer's record, about a team-B deal).
    const MB = await createAgent(server, admin.token, { role: 'manager', team_id: TB, name: 'Manager B' });
    teamOf.set(MB.id, TB);
    assert.equal((await a.patch(`${V1}/teams/${TB}`, { manager_id: MB.id })).status, 200);
    const mature = stages.find((s) => s.name.includes('Mature')).id;
    const x1 = deals.find((d) => d.title.startsWith('跨组商机 OB1'));
    assert.equal((await a.patch(`${V1}/deals/${x1.id}`, { stage_id: mature })).status, 200);
    assert.equal(Number(sql(server, `SELECT COUNT(*) FROM reminders WHERE deal_id = ${x1.id} AND agent_id = ${MB.id}`)[0][0]), 1);
    // Leads: two per owner (east, south), one per viewer (north).
    const mkl = async (owner, region, name) => {
      const res = await a.post(`${V1}/leads`, { name, owner_id: owner, region, email: `${leads.length}@lead.matrix.example` });
      assert.equal(res.status, 201, res.text);
      leads.push({ id: res.json.id, owner, region, name });
    };
    for (const o of Object.values(owners)) {
      await mkl(o.id, EAST, `矩阵线索 ${o.label} 东`);
      await mkl(o.id, SOUTH, `矩阵线索 ${o.label} 南`);
    }
    for (const v of viewers) await mkl(v.id, NORTH, `矩阵线索 own ${v.label}`);
    // Follow-ups: one by the admin on every owner and unowned customer.
    for (const c of customers.filter((x) => !x.label.startsWith('own '))) {
      const res = await a.post(`${V1}/activities`, { customer_id: c.id, method: 'call', content: `跟进 ${c.label}`, happened_at: '2026-02-01' });
      assert.equal(res.status, 201, res.text);
      activities.push({ id: res.json.id, customer: c.id, author: admin.agent.id });
    }
  });

  test.after(async () => {
    if (server) {
      await server.stop();
      dropDatabase(server);
    }
  });

  /** Runs fn(v) for every viewer; fn pushes problem strings; the test fails listing them all. */
  async function eachViewer(fn) {
    const problems = [];
    for (const v of viewers) await fn(v, (msg) => problems.push(`${v.label}: ${msg}`));
    assert.deepEqual(problems, [], `${problems.length} problems:\n${problems.slice(0, 60).join('\n')}`);
  }
  const same = (got, want) => JSON.stringify(sortNum(got)) === JSON.stringify(sortNum(want));

  test('the seed is what the matrix needs', () => {
    assert.equal(viewers.length, 20);
    assert.equal(customers.length, 30);
    assert.equal(deals.length, 7);
    assert.ok(Number(sql(server, 'SELECT COUNT(*) FROM reminders')[0][0]) >= 1);
    assert.equal(leads.length, 28);
    assert.equal(activities.length, 10);
    assert.equal(pairs.length, 7);
  });

  test('customers: list items and total, search by name and e-mail, owner filter', async () => {
    const all = seeded(customers);
    await eachViewer(async (v, bad) => {
      const want = customers.filter((c) => seesCustomer(v, c));
      const r = await v.api.get(`${V1}/customers?tag=matrix&per_page=200`);
      if (r.status !== 200) return bad(`list ${r.status}`);
      if (!same(r.json.items.map((c) => c.id), want.map((c) => c.id))) bad(`list ${JSON.stringify(idsOf(r.json.items))} ≠ ${JSON.stringify(idsOf(want))}`);
      if (r.json.total !== want.length) bad(`list total ${r.json.total} ≠ ${want.length}`);
      const everything = await v.api.get(`${V1}/customers?per_page=200`);
      const leaked = everything.json.items.filter((c) => all.has(c.id) && !want.some((w) => w.id === c.id));
      if (leaked.length) bad(`unfiltered list leaks ${leaked.map((c) => c.name)}`);
      if (everything.json.total !== want.length) bad(`unfiltered total ${everything.json.total} ≠ ${want.length}`);
      const s = await v.api.get(`${V1}/customers?q=${enc('矩阵客户')}&per_page=200`);
      if (!same(s.json.items.map((c) => c.id), want.map((c) => c.id)) || s.json.total !== want.length) bad(`search by name: ${s.json.total}`);
      for (const c of customers.filter((x) => !seesCustomer(v, x)).slice(0, 6)) {
        const q = await v.api.get(`${V1}/customers?q=${enc(c.email)}`);
        if (q.json.total !== 0 || q.json.items.length) bad(`search by e-mail finds out-of-scope ${c.label}`);
      }
      for (const o of Object.values(owners)) {
        const q = await v.api.get(`${V1}/customers?owner_id=${o.id}&per_page=200`);
        const w = want.filter((c) => c.owner === o.id);
        if (!same(q.json.items.map((c) => c.id), w.map((c) => c.id)) || q.json.total !== w.length) bad(`owner_id=${o.label}: ${q.json.total} ≠ ${w.length}`);
      }
    });
  });

  test('customers: read is 404 outside the scope (like a missing id); update is 404 outside (403 for read-only roles)', async () => {
    const snapshot = () => sql(server, `SELECT id, name, industry, updated_at FROM customers WHERE id IN (${customers.map((c) => c.id).join(',')}) ORDER BY id`);
    const missing = await a.get(`${V1}/customers/99999999`);
    expectError(missing, 404);
    const before = snapshot();
    const changed = new Set();
    await eachViewer(async (v, bad) => {
      const canWrite = CRM_WRITE.has(v.role);
      for (const c of customers) {
        const inside = seesCustomer(v, c);
        const r = await v.api.get(`${V1}/customers/${c.id}`);
        if (r.status !== (inside ? 200 : 404)) bad(`GET ${c.label} → ${r.status}`);
        if (!inside && r.text !== missing.text) bad(`GET ${c.label} 404 differs from a missing id: ${r.text}`);
        const ids = await v.api.get(`${V1}/customers/${c.id}/identities`);
        if (ids.status !== (inside ? 200 : 404)) bad(`GET ${c.label}/identities → ${ids.status}`);
        if (!inside) {
          const p = await v.api.patch(`${V1}/customers/${c.id}`, { name: `hijacked by ${v.label}` });
          if (p.status !== (canWrite ? 404 : 403)) bad(`PATCH out-of-scope ${c.label} → ${p.status}`);
          const t = await v.api.post(`${V1}/customers/${c.id}/tags`, { tags: ['hijack'] });
          if (t.status !== 404 && t.status !== 403) bad(`POST tags out-of-scope ${c.label} → ${t.status}`);
        }
      }
      const own = customers.find((c) => c.label === `own ${v.label}`);
      const p = await v.api.patch(`${V1}/customers/${own.id}`, { industry: `edited by ${v.label}` });
      if (p.status !== (canWrite ? 200 : 403)) bad(`PATCH own customer → ${p.status}`);
      if (canWrite) changed.add(own.id);
    });
    const after = snapshot();
    const diff = after.filter((row, i) => JSON.stringify(row) !== JSON.stringify(before[i]) && !changed.has(Number(row[0])));
    assert.deepEqual(diff, [], 'out-of-scope customers were changed');
    assert.equal(Number(sql(server, "SELECT COUNT(*) FROM customer_tags ct JOIN tags t ON t.id = ct.tag_id WHERE t.name = 'hijack'")[0][0]), 0);
  });

  test('export holds exactly the customers in scope; agents may not export', async () => {
    await eachViewer(async (v, bad) => {
      const r = await v.api.get(`${V1}/customers/export?tag=matrix`);
      if (v.role === 'agent') {
        if (r.status !== 403) bad(`export → ${r.status}`);
        return;
      }
      if (r.status !== 200) return bad(`export → ${r.status}`);
      const got = csvObjects(r.text).map((x) => x.name).sort();
      const want = customers.filter((c) => seesCustomer(v, c)).map((c) => c.name).sort();
      if (JSON.stringify(got) !== JSON.stringify(want)) bad(`export ${got.length} rows ≠ ${want.length}: extra ${got.filter((n) => !want.includes(n))}, missing ${want.filter((n) => !got.includes(n))}`);
      const leakProbe = customers.find((c) => !seesCustomer(v, c));
      if (leakProbe) {
        const q = await v.api.get(`${V1}/customers/export?q=${enc(leakProbe.email)}`);
        if (csvObjects(q.text).length) bad(`export ?q= finds out-of-scope ${leakProbe.label}`);
      }
    });
  });

  test('duplicate candidates: only pairs whose both sides are in scope; read-only roles refused', async () => {
    const mine = seeded(customers);
    await eachViewer(async (v, bad) => {
      const r = await v.api.get(`${V1}/customers/duplicates?per_page=200`);
      if (!CRM_WRITE.has(v.role)) {
        if (r.status !== 403) bad(`duplicates → ${r.status}`);
        return;
      }
      if (r.status !== 200) return bad(`duplicates → ${r.status}`);
      const got = r.json.items.map((p) => [Math.min(p.a.id, p.b.id), Math.max(p.a.id, p.b.id)])
        .filter(([x, y]) => mine.has(x) || mine.has(y)).map((p) => p.join('-')).sort();
      const want = pairs.filter(([x, y]) => seesCustomer(v, custById(x)) && seesCustomer(v, custById(y))).map((p) => p.join('-')).sort();
      if (JSON.stringify(got) !== JSON.stringify(want)) bad(`pairs ${got} ≠ ${want}`);
      if (r.json.total !== r.json.items.length) bad(`duplicates total ${r.json.total} ≠ ${r.json.items.length}`);
    });
  });

  test('360 and timeline: 404 outside; inside, deals and deal stages only of owners in scope', async () => {
    await eachViewer(async (v, bad) => {
      for (const c of customers) {
        const tl = await v.api.get(`${V1}/customers/${c.id}/timeline?limit=200`);
        if (!seesCustomer(v, c)) {
          if (tl.status !== 404) bad(`timeline of out-of-scope ${c.label} → ${tl.status}`);
          continue;
        }
        const view = await v.api.get(`${V1}/customers/${c.id}`);
        if (view.status !== 200 || tl.status !== 200) { bad(`360 ${c.label} → ${view.status}/${tl.status}`); continue; }
        const wantDeals = deals.filter((d) => d.customer === c.id && seesDeal(v, d)).map((d) => d.id);
        if (!same(view.json.deals.map((d) => d.id), wantDeals)) bad(`360 ${c.label} deals ${view.json.deals.map((d) => d.id)} ≠ ${wantDeals}`);
        // deal_stage items name their deal by its title (text); titles are unique in the seed
        const dealOf = (x) => (deals.find((d) => d.title === x.text) || { id: `?${x.text}` }).id;
        const stageIds = [...new Set(tl.json.items.filter((x) => x.kind === 'deal_stage').map(dealOf))];
        if (!same(stageIds, wantDeals)) bad(`timeline ${c.label} deal_stage ${stageIds} ≠ ${wantDeals}`);
        const stage360 = [...new Set(view.json.timeline.filter((x) => x.kind === 'deal_stage').map(dealOf))];
        if (!same(stage360, wantDeals)) bad(`360 timeline ${c.label} deal_stage ${stage360} ≠ ${wantDeals}`);
        const wantActs = activities.filter((x) => x.customer === c.id).map((x) => x.id);
        if (!same(view.json.activities.map((x) => x.id), wantActs)) bad(`360 ${c.label} activities`);
        const text = JSON.stringify(view.json);
        for (const d of deals.filter((x) => x.customer === c.id && !seesDeal(v, x))) {
          if (text.includes(d.title)) bad(`360 ${c.label} mentions out-of-scope deal "${d.title}"`);
        }
      }
    });
  });

  test('deals: list and total, read, update; 404 outside; read-only roles refused', async () => {
    const before = sql(server, 'SELECT id, title, updated_at FROM deals ORDER BY id');
    await eachViewer(async (v, bad) => {
      const r = await v.api.get(`${V1}/deals?per_page=200`);
      if (!CRM_WRITE.has(v.role)) {
        if (r.status !== 403) bad(`deals list → ${r.status}`);
        const g = await v.api.get(`${V1}/deals/${deals[0].id}`);
        if (g.status !== 403) bad(`deal read → ${g.status}`);
        return;
      }
      const want = deals.filter((d) => seesDeal(v, d));
      if (!same(r.json.items.map((d) => d.id), want.map((d) => d.id)) || r.json.total !== want.length) {
        bad(`deals ${idsOf(r.json.items)} (total ${r.json.total}) ≠ ${idsOf(want)}`);
      }
      for (const o of Object.values(owners)) {
        const f = await v.api.get(`${V1}/deals?owner_id=${o.id}`);
        if (f.json.total !== want.filter((d) => d.owner === o.id).length) bad(`deals owner_id=${o.label} total ${f.json.total}`);
      }
      for (const d of deals) {
        const inside = seesDeal(v, d);
        const g = await v.api.get(`${V1}/deals/${d.id}`);
        if (g.status !== (inside ? 200 : 404)) bad(`GET deal ${d.title} → ${g.status}`);
        if (!inside) {
          const p = await v.api.patch(`${V1}/deals/${d.id}`, { title: 'hijacked' });
          if (p.status !== 404) bad(`PATCH deal ${d.title} → ${p.status}`);
          const act = await v.api.post(`${V1}/activities`, { customer_id: d.customer, deal_id: d.id, method: 'call', content: 'x' });
          if (act.status === 201 && !seesCustomer(v, custById(d.customer))) bad(`follow-up on out-of-scope customer of ${d.title} accepted`);
          if (act.status === 201) sql(server, `DELETE FROM reminders WHERE customer_id = ${d.customer} AND kind = 'next_step'; DELETE FROM activities WHERE id = ${act.json.id}`);
        }
      }
    });
    const after = sql(server, 'SELECT id, title, updated_at FROM deals ORDER BY id');
    assert.deepEqual(after, before, 'out-of-scope deals were changed');
  });

  test('leads: list and total, search, read, update, convert; 404 outside', async () => {
    const before = sql(server, 'SELECT id, name, status, updated_at FROM leads ORDER BY id');
    await eachViewer(async (v, bad) => {
      const r = await v.api.get(`${V1}/leads?per_page=200`);
      if (!CRM_WRITE.has(v.role)) {
        if (r.status !== 403) bad(`leads list → ${r.status}`);
        return;
      }
      const want = leads.filter((l) => seesLead(v, l));
      if (!same(r.json.items.map((l) => l.id), want.map((l) => l.id)) || r.json.total !== want.length) {
        bad(`leads ${idsOf(r.json.items)} (total ${r.json.total}) ≠ ${idsOf(want)}`);
      }
      const s = await v.api.get(`${V1}/leads?q=${enc('矩阵线索')}&per_page=200`);
      if (s.json.total !== want.length) bad(`lead search total ${s.json.total} ≠ ${want.length}`);
      for (const l of leads) {
        const inside = seesLead(v, l);
        const g = await v.api.get(`${V1}/leads/${l.id}`);
        if (g.status !== (inside ? 200 : 404)) bad(`GET lead ${l.name} → ${g.status}`);
        if (!inside) {
          const q = await v.api.get(`${V1}/leads?q=${enc(l.name)}`);
          if (q.json.total !== 0) bad(`lead search finds ${l.name}`);
          const p = await v.api.patch(`${V1}/leads/${l.id}`, { notes: 'hijacked' });
          if (p.status !== 404) bad(`PATCH lead ${l.name} → ${p.status}`);
          const cv = await v.api.post(`${V1}/leads/${l.id}/convert`, {});
          if (cv.status !== 404) bad(`convert lead ${l.name} → ${cv.status}`);
        }
      }
    });
    assert.deepEqual(sql(server, 'SELECT id, name, status, updated_at FROM leads ORDER BY id'), before, 'out-of-scope leads were changed');
  });

  test('follow-ups: list and total by the customer\'s scope; 404 on edits outside', async () => {
    await eachViewer(async (v, bad) => {
      const r = await v.api.get(`${V1}/activities?per_page=200`);
      if (!SERVICE.has(v.role)) {
        if (r.status !== 403) bad(`activities list → ${r.status}`);
        return;
      }
      const want = activities.filter((x) => seesActivity(v, x));
      const got = r.json.items.filter((x) => activities.some((y) => y.id === x.id));
      if (!same(got.map((x) => x.id), want.map((x) => x.id))) bad(`activities ${idsOf(got)} ≠ ${idsOf(want)}`);
      if (r.json.total !== r.json.items.length) bad(`activities total ${r.json.total} ≠ ${r.json.items.length}`);
      for (const x of activities.filter((y) => !seesActivity(v, y))) {
        const p = await v.api.patch(`${V1}/activities/${x.id}`, { content: 'hijacked' });
        if (p.status !== (CRM_WRITE.has(v.role) ? 404 : 403)) bad(`PATCH activity on ${custById(x.customer).label} → ${p.status}`);
        const f = await v.api.get(`${V1}/activities?customer_id=${x.customer}`);
        if (f.json.total !== 0) bad(`activities?customer_id= of out-of-scope ${custById(x.customer).label}: ${f.json.total}`);
      }
    });
    assert.equal(Number(sql(server, "SELECT COUNT(*) FROM activities WHERE content = 'hijacked'")[0][0]), 0);
  });

  test('websocket: CRM events reach exactly the admins, managers and sales whose scope holds the record', async () => {
    const sockets = [];
    try {
      const master = await agentSocket(server, admin.token);
      sockets.push(master);
      const socks = new Map();
      for (const v of viewers) {
        const s = await agentSocket(server, v.token);
        sockets.push(s);
        socks.set(v.label, s);
      }
      const expected = new Map(viewers.map((v) => [v.label, new Set()]));
      const expect = (kind, id, visible) => {
        for (const v of viewers) {
          if (CRM_WRITE.has(v.role) && visible(v)) expected.get(v.label).add(`${kind}:${id}`);
        }
      };
      // Changes as the admin: every customer, deal and lead, and a follow-up on every customer.
      const made = [];
      for (const c of customers) {
        const r = await a.patch(`${V1}/customers/${c.id}`, { address: `ws ${c.label}` });
        assert.equal(r.status, 200, r.text);
        expect('customer.updated', c.id, (v) => seesCustomer(v, c));
        made.push(`customer.updated:${c.id}`);
      }
      for (const d of deals) {
        const r = await a.patch(`${V1}/deals/${d.id}`, { competitor: `ws ${d.id}` });
        assert.equal(r.status, 200, r.text);
        expect('deal.updated', d.id, (v) => seesDeal(v, d));
        made.push(`deal.updated:${d.id}`);
      }
      for (const l of leads) {
        const r = await a.patch(`${V1}/leads/${l.id}`, { notes: `ws ${l.id}` });
        assert.equal(r.status, 200, r.text);
        expect('lead.updated', l.id, (v) => seesLead(v, l));
        made.push(`lead.updated:${l.id}`);
      }
      for (const c of customers) {
        const r = await a.post(`${V1}/activities`, { customer_id: c.id, method: 'email', content: `ws 跟进 ${c.label}` });
        assert.equal(r.status, 201, r.text);
        const x = { id: r.json.id, customer: c.id };
        expect('activity.created', x.id, (v) => seesActivity(v, x));
        made.push(`activity.created:${x.id}`);
      }
      // A follow-up written by a team-A owner (scope region) on a team-B customer in the east.
      const oa1 = owners.OA1;
      assert.equal((await a.patch(`${V1}/agents/${oa1.id}`, { data_scope: 'region' })).status, 200);
      const ob1e = customers.find((c) => c.label === 'OB1-E');
      const r = await api(server, oa1.token).post(`${V1}/activities`, { customer_id: ob1e.id, method: 'visit', content: 'ws 跨组跟进' });
      assert.equal(r.status, 201, r.text);
      expect('activity.created', r.json.id, (v) => seesCustomer(v, ob1e));
      made.push(`activity.created:${r.json.id}`);

      const keyOf = (f) => {
        const obj = f.customer || f.deal || f.lead || f.activity;
        return obj && typeof obj.id === 'number' ? `${f.type}:${obj.id}` : `${f.type}:?`;
      };
      const crm = (s) => s.frames.filter((f) => /^(customer|deal|lead|activity)\./.test(f.type || '')).map(keyOf);
      await master.waitFor(() => made.every((k) => crm(master).includes(k)), 10000, 'every change on the admin socket')
        .catch(() => assert.fail(`the admin (scope all) missed ${made.filter((k) => !crm(master).includes(k)).slice(0, 10)}`));
      await sleep(600);
      const problems = [];
      for (const v of viewers) {
        const got = new Set(crm(socks.get(v.label)));
        const want = expected.get(v.label);
        const leaked = [...got].filter((k) => !want.has(k));
        const missed = [...want].filter((k) => !got.has(k));
        if (leaked.length) problems.push(`${v.label}: LEAKED ${leaked.join(' ')}`);
        if (missed.length) problems.push(`${v.label}: missed ${missed.join(' ')}`);
      }
      assert.deepEqual(problems, [], problems.join('\n'));
    } finally {
      for (const s of sockets) s.ws.terminate();
    }
  });

  test('websocket: changing an agent\'s data scope or region closes their open sockets (they re-authenticate into the new scope)', async () => {
    const v = viewers.find((x) => x.label === 'sales/own');
    const s1 = await agentSocket(server, v.token);
    try {
      assert.equal((await a.patch(`${V1}/agents/${v.id}`, { data_scope: 'all' })).status, 200);
      const closed = await Promise.race([s1.closed, sleep(3000).then(() => null)]);
      assert.ok(closed, 'the socket stayed open after a scope change');
      assert.equal(closed.code, 4401);
      // Re-authenticated with the same token, the socket now gets events of the new scope.
      const s2 = await agentSocket(server, v.token);
      try {
        const c = customers.find((x) => x.label === 'OB2-S');
        assert.equal((await a.patch(`${V1}/customers/${c.id}`, { industry: 'rescoped' })).status, 200);
        await s2.waitFor((f) => f.type === 'customer.updated' && f.customer && f.customer.id === c.id, 3000, 'the event in the new scope');
      } finally {
        s2.ws.terminate();
      }
    } finally {
      s1.ws.terminate();
      assert.equal((await a.patch(`${V1}/agents/${v.id}`, { data_scope: 'own' })).status, 200);
    }
    const s3 = await agentSocket(server, v.token);
    try {
      assert.equal((await a.patch(`${V1}/agents/${v.id}`, { region: SOUTH })).status, 200);
      const closed = await Promise.race([s3.closed, sleep(3000).then(() => null)]);
      assert.ok(closed && closed.code === 4401, `a region change must close the socket: ${JSON.stringify(closed)}`);
    } finally {
      s3.ws.terminate();
      assert.equal((await a.patch(`${V1}/agents/${v.id}`, { region: EAST })).status, 200);
    }
  });

  // Last: it may write (a lead conversion), so the matrix above runs on the pristine seed.
  test('duplicate answers and lead conversions reveal nothing about customers outside the scope', async () => {
    const mentions = (text, c) => new RegExp(`(^|[^0-9])${c.id}([^0-9]|$)`).test(text) || text.includes(c.email) || text.includes(c.name);
    const idOnly = (r, c) => r.json && r.json.error && r.json.error.existing_id === c.id;
    await eachViewer(async (v, bad) => {
      if (!CRM_WRITE.has(v.role) || v.scope === 'all') return;
      const outside = customers.filter((c) => !seesCustomer(v, c) && !c.label.startsWith('own '));
      const c = outside[0];
      const own = customers.find((x) => x.label === `own ${v.label}`);
      let r = await v.api.post(`${V1}/customers`, { name: `probe ${v.label}`, email: c.email });
      if (r.status !== 409) bad(`create with an out-of-scope customer's e-mail → ${r.status}`);
      if (idOnly(r, c) || mentions(r.text, c)) bad(`409 on create reveals out-of-scope ${c.label}: ${r.text}`);
      r = await v.api.post(`${V1}/customers/${own.id}/identities`, { kind: 'email', value: c.email });
      if (r.status !== 409) bad(`identity add → ${r.status}`);
      if (idOnly(r, c) || mentions(r.text, c)) bad(`409 on identity add reveals out-of-scope ${c.label}: ${r.text}`);
      r = await v.api.patch(`${V1}/customers/${own.id}`, { email: c.email });
      if (idOnly(r, c) || mentions(r.text, c)) bad(`409 on update reveals out-of-scope ${c.label}: ${r.text}`);
      // A lead carrying that e-mail, converted by the viewer.
      const lead = await v.api.post(`${V1}/leads`, { name: `probe lead ${v.label}`, email: c.email, owner_id: v.id });
      if (lead.status !== 201) return bad(`lead create → ${lead.status}`);
      const dealsBefore = Number(sql(server, `SELECT COUNT(*) FROM deals WHERE customer_id = ${c.id}`)[0][0]);
      r = await v.api.post(`${V1}/leads/${lead.json.id}/convert`, {});
      if (r.status === 200 && r.json.customer && r.json.customer.id === c.id) bad(`convert answered the out-of-scope customer ${c.label}`);
      else if (mentions(r.text, c)) bad(`convert reveals out-of-scope ${c.label}: ${r.text.slice(0, 300)}`);
      const dealsAfter = Number(sql(server, `SELECT COUNT(*) FROM deals WHERE customer_id = ${c.id}`)[0][0]);
      if (dealsAfter !== dealsBefore) bad(`convert opened a deal on out-of-scope ${c.label}`);
    });
  });
});
