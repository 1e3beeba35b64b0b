'use strict';
// console_dashboard.test.js — the console's Dashboard 报表 page in a real headless Chromium
// (Debian chromium driven by playwright-core), against the real binary and MariaDB, on seeded,
// known data. Seeded through the API (teams, agents, customers with their sources, tickets,
// campaign costs) and SQL (the tickets' times, first responses, solves and SLA targets, CSAT
// ratings, flagged tickets, presence events, deals with their stage history, follow-ups,
// campaigns with their ledgers): 14 days ending yesterday (the database's UTC days).
// As admin, every report (service, agents, sales, marketing, customers) is drawn with data:
// each chart's SVG has the bars / points / labels the report's JSON (fetched through the API
// with the same query) calls for, and that JSON holds the seeded figures; screenshots
// var/screenshots/dashboard-<report>.png. A later start of the period, and a team, change the
// figures; a CSV download equals the JSON of the same dataset (header = columns, same rows);
// the print view hides the navigation, the filters and the buttons (dashboard-print.png); a
// period without data says so on every card (dashboard-empty.png).
// A marketer sees only Marketing and Customers; an agent has no Dashboard tab. Every wait is
// for an explicit state: #dash-body[data-state=ready] with the data-query of the request.
const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const { launchChromium, openTab, hasTab } = require('./clients');
const { startServer, bootstrapAdmin, api, sql, dropDatabase, createAgent, until } = require('./harness');

const SHOTS = path.join(__dirname, '..', '..', 'var', 'screenshots');
const DAY = 86400000;
let server, admin, a, browser, adminPage;
let base, FROM, TO, TODAY;
let teamA, teamB, zhang, li, wang, liu, chen, marketer;
const cust = {}; // key → customer id
const tk = {};   // key → ticket id

// ---- time: day d of the period at HH:MM (UTC, as the gateway's database sessions) -------------
const T = (d, hm = '00:00') => { const [h, m] = hm.split(':').map(Number); return base + d * DAY + (h * 60 + m) * 60000; };
const fmt = (ms) => new Date(ms).toISOString().replace('T', ' ').replace('Z', '');
const dayOf = (ms) => new Date(ms).toISOString().slice(0, 10);
const MIN = 60000, HOUR = 3600000;
// a value as an SQL literal (text as hex: no escaping)
const lit = (v) => (v === null || v === undefined ? 'NULL' : typeof v === 'number' ? String(v)
  : typeof v === 'object' && 'ts' in v ? `'${fmt(v.ts)}'` : `CONVERT(X'${Buffer.from(String(v)).toString('hex')}' USING utf8mb4)`);
const at = (ms) => (ms === null || ms === undefined ? null : { ts: ms });
function insert(table, rows) {
  const cols = Object.keys(rows[0]);
  sql(server, `INSERT INTO ${table} (${cols.join(', ')}) VALUES\n${rows.map((r) => `(${cols.map((c) => lit(r[c])).join(', ')})`).join(',\n')};`);
}

// ---- seed ------------------------------------------------------------------------------------
async function customer(key, name, source) {
  const r = await a.post('/api/v1/customers', source ? { name, source } : { name });
  assert.equal(r.status, 201, r.text);
  cust[key] = r.json.id;
}
async function ticket(key, c, channel, subject, team, assignee) {
  const body = { customer_id: cust[c], channel, subject };
  if (team) body.team_id = team.id;
  if (assignee) body.assignee_id = assignee.agent.id;
  const r = await a.post('/api/v1/tickets', body);
  assert.equal(r.status, 201, r.text);
  tk[key] = r.json.id;
}

before(async () => {
  fs.mkdirSync(SHOTS, { recursive: true });
  server = await startServer({ env: { SWITCHBOARD_ROUTING_ENABLED: 'no' } });
  admin = await bootstrapAdmin(server);
  a = api(server, admin.token);
  [[TODAY]] = sql(server, 'SELECT UTC_DATE()');
  base = Date.parse(`${TODAY}T00:00:00Z`) - 14 * DAY;
  FROM = dayOf(T(0)); TO = dayOf(T(13)); // the 14 days ending yesterday

  teamA = (await a.post('/api/v1/teams', { name: '售后一组' })).json;
  teamB = (await a.post('/api/v1/teams', { name: '大客户组' })).json;
  zhang = await createAgent(server, admin.token, { role: 'agent', name: '客服小张', team_id: teamA.id });
  li = await createAgent(server, admin.token, { role: 'agent', name: '客服小李', team_id: teamA.id });
  wang = await createAgent(server, admin.token, { role: 'agent', name: '客服老王', team_id: teamB.id });
  liu = await createAgent(server, admin.token, { role: 'sales', name: '销售 刘芳', team_id: teamA.id });
  chen = await createAgent(server, admin.token, { role: 'sales', name: '销售 陈宇', team_id: teamB.id });
  marketer = await createAgent(server, admin.token, { role: 'marketer', name: '市场 周婷' });

  // customers and where they came from
  for (const [k, n, s] of [['c1', '王芳', 'website'], ['c2', '深圳华强电子', 'website'], ['c3', '刘洋', '展会'], ['c4', '陈晨', null],
    ['c5', 'Acme Trading', 'referral'], ['c6', '孙丽', 'website'], ['c7', '赵强', '展会'], ['c8', '周杰', '展会']]) await customer(k, n, s);

  // tickets over several days and all five channels
  await ticket('t1', 'c1', 'chat', '订单查询', teamA, zhang);
  await ticket('t2', 'c2', 'chat', '修改收货地址', teamA, li);
  await ticket('t3', 'c3', 'email', '发票抬头错误', teamA, zhang);
  await ticket('t4', 'c4', 'email', '批量采购报价', teamB, wang);
  await ticket('t5', 'c5', 'sms', '快递到哪了', teamB, wang);
  await ticket('t6', 'c6', 'phone', '=1+1 电话投诉', null, null);
  await ticket('t7', 'c1', 'chat', '优惠券无法使用', teamA, li);
  await ticket('t8', 'c2', 'web', '合同盖章', teamB, wang);
  await ticket('t9', 'c3', 'chat', '退款一直没到账', teamA, zhang);
  await ticket('t10', 'c8', 'email', '咨询新品', teamA, li);
  const t = (created, o) => ({ created, fr: null, solved: null, due: null, status: 'open', flagged: null, reason: null, priority: 'normal', ...o });
  const tickets = {
    t1: t(T(1, '09:00'), { fr: 2 * MIN, solved: HOUR, due: 2 * HOUR, status: 'solved' }),
    t2: t(T(1, '14:00'), { fr: 5 * MIN, solved: 3 * HOUR, due: HOUR, status: 'solved' }),
    t3: t(T(2, '10:00'), { fr: 60 * MIN, solved: DAY, due: 2 * DAY, status: 'solved' }),
    t4: t(T(4, '11:00'), { fr: 30 * MIN, due: Date.now() + 3 * DAY - T(4, '11:00') }),
    t5: t(T(4, '16:00'), { fr: MIN, solved: 20 * MIN, due: HOUR, status: 'solved' }),
    t6: t(T(6, '09:30'), { status: 'new', flagged: T(6, '09:40'), reason: '律师', priority: 'urgent' }),
    t7: t(T(9, '10:00'), { fr: 3 * MIN, solved: 2 * HOUR, due: HOUR, status: 'solved' }),
    t8: t(T(11, '15:00'), { fr: 10 * MIN, solved: 4 * HOUR, status: 'solved' }),
    t9: t(T(12, '09:00'), { fr: 4 * MIN, due: HOUR, flagged: T(12, '09:30'), reason: '投诉, 不满意', priority: 'high' }),
    t10: t(T(13, '20:00'), { status: 'new' }),
  };
  const rel = (x, d) => (d === null ? 'NULL' : lit(at(x.created + d)));
  sql(server, Object.entries(tickets).map(([k, x]) => `UPDATE tickets SET created_at = ${lit(at(x.created))}, first_response_at = ${rel(x, x.fr)},
    solved_at = ${rel(x, x.solved)}, sla_due_at = ${rel(x, x.due)}, sla_breached = 0, status = '${x.status}', priority = '${x.priority}',
    flagged_at = ${lit(at(x.flagged))}, flag_reason = ${lit(x.reason)} WHERE id = ${tk[k]};`).join('\n'));
  // CSAT: who and where, as when solved
  insert('csat_responses', [['t1', 5, zhang, teamA, 'chat'], ['t2', 4, li, teamA, 'chat'], ['t3', 3, zhang, teamA, 'email'],
    ['t5', 2, wang, teamB, 'sms'], ['t7', 5, li, teamA, 'chat']].map(([k, rating, ag, tm, ch]) => ({
    ticket_id: tk[k], rating, comment: rating >= 4 ? '很好，谢谢' : '等太久了', agent_id: ag.agent.id, team_id: tm.id, channel: ch,
    created_at: at(tickets[k].created + tickets[k].solved + 10 * MIN) })));
  // replies to customers: 小张 4, 小李 3, 老王 3 (and an internal note, which is not one)
  const TCH = { t1: 'chat', t2: 'chat', t3: 'email', t4: 'email', t5: 'sms', t7: 'chat', t8: 'web', t9: 'chat' };
  const TCU = { t1: 'c1', t2: 'c2', t3: 'c3', t4: 'c4', t5: 'c5', t7: 'c1', t8: 'c2', t9: 'c3' };
  insert('messages', [['t1', zhang, 0], ['t1', zhang, 0], ['t3', zhang, 0], ['t9', zhang, 0], ['t9', zhang, 1], ['t2', li, 0], ['t7', li, 0], ['t7', li, 0],
    ['t4', wang, 0], ['t5', wang, 0], ['t8', wang, 0]].map(([k, ag, internal], i) => ({
    ticket_id: tk[k], customer_id: cust[TCU[k]], direction: 'out', channel: TCH[k], author_type: 'agent', author_id: ag.agent.id,
    body_text: internal ? '内部备注' : '您好，已为您处理', internal, status: internal ? 'note' : 'sent', created_at: at(tickets[k].created + tickets[k].fr + i * 1000) })));
  // presence: 小张 online 8 h on day 2, 小李 4 h on day 7
  insert('events', [[zhang, teamA, 'online', T(2, '09:00')], [zhang, teamA, 'offline', T(2, '17:00')],
    [li, teamA, 'online', T(7, '09:00')], [li, teamA, 'offline', T(7, '13:00')]].map(([ag, tm, status, when]) => ({
    kind: 'agent.presence', agent_id: ag.agent.id, team_id: tm.id, payload: JSON.stringify({ agent_id: ag.agent.id, status }), created_at: at(when) })));

  // deals across the stages, with their history
  const stage = Object.fromEntries(sql(server, 'SELECT position, id FROM pipeline_stages WHERE active = 1').map(([p, id]) => [p, Number(id)]));
  const [B, D, M, W, L] = ['10', '20', '30', '40', '50'].map((p) => stage[p]);
  const month = (n) => { const d = new Date(`${TODAY}T00:00:00Z`); d.setUTCDate(1); d.setUTCMonth(d.getUTCMonth() + n); return dayOf(d.getTime()); };
  const h = (from, to, when) => ({ from, to, when });
  const deals = [
    { id: 9001, owner: liu, c: 'c4', amount: '100000.00', cur: 'CNY', stage: M, status: 'open', ec: month(1), created: T(1, '10:00'),
      hist: [h(null, B, T(1, '10:00')), h(B, D, T(3, '10:00')), h(D, M, T(6, '10:00'))] },
    { id: 9002, owner: liu, c: 'c1', amount: '50000.00', cur: 'CNY', stage: W, status: 'won', closed: T(8, '15:00'), reason: '老客户转介绍', created: T(2, '09:00'),
      hist: [h(null, B, T(2, '09:00')), h(B, D, T(4, '09:00')), h(D, M, T(6, '09:00')), h(M, W, T(8, '15:00'))] },
    { id: 9003, owner: chen, c: 'c5', amount: '30000.00', cur: 'CNY', stage: L, status: 'lost', closed: T(5, '12:00'), reason: '价格太高', created: T(3, '11:00'),
      hist: [h(null, B, T(3, '11:00')), h(B, L, T(5, '12:00'))] },
    { id: 9004, owner: chen, c: 'c6', amount: '20000.00', cur: 'USD', stage: D, status: 'open', prob: 50, created: T(4, '10:00'),
      hist: [h(null, B, T(4, '10:00')), h(B, D, T(7, '10:00'))] },
    { id: 9005, owner: liu, c: 'c1', amount: '60000.00', cur: 'CNY', stage: W, status: 'won', closed: T(10, '11:00'), created: T(5, '09:00'),
      hist: [h(null, B, T(5, '09:00')), h(B, D, T(6, '09:00')), h(D, M, T(8, '09:00')), h(M, W, T(10, '11:00'))] },
    { id: 9006, owner: chen, c: 'c5', amount: '40000.00', cur: 'CNY', stage: B, status: 'open', ec: month(2), created: T(6, '14:00'),
      hist: [h(null, B, T(6, '14:00'))] },
    { id: 9007, owner: chen, c: 'c2', amount: '15000.00', cur: 'CNY', stage: W, status: 'won', closed: T(9, '16:00'), reason: '功能满足需求', created: T(-20, '10:00'),
      hist: [h(null, B, T(-20, '10:00')), h(B, D, T(-10, '10:00')), h(D, M, T(-5, '10:00')), h(M, W, T(9, '16:00'))] },
  ];
  insert('deals', deals.map((x) => ({
    id: x.id, customer_id: cust[x.c], title: 'Deal ' + x.id, stage_id: x.stage, status: x.status, amount: x.amount, currency: x.cur,
    expected_close: x.ec || null, probability: x.prob === undefined ? null : x.prob, owner_id: x.owner.agent.id, win_loss_reason: x.reason || null,
    stage_entered_at: at(x.hist.at(-1).when), closed_at: at(x.closed), created_at: at(x.created) })));
  insert('deal_stage_history', deals.flatMap((x) => x.hist.map((y, i) => ({
    deal_id: x.id, from_stage_id: y.from, to_stage_id: y.to, secs_in_from: i ? Math.round((y.when - x.hist[i - 1].when) / 1000) : null, at: at(y.when) }))));
  insert('activities', [[liu, 'c4', T(2, '10:00')], [liu, 'c1', T(7, '15:00')], [liu, 'c1', T(9, '11:00')], [chen, 'c5', T(4, '10:00')]]
    .map(([ag, c, when]) => ({ customer_id: cust[c], owner_id: ag.agent.id, method: 'call', content: '跟进', happened_at: at(when), created_at: at(when) })));

  // two campaigns and their ledgers; the won deals are attributed to the last one that reached the customer
  sql(server, "INSERT INTO templates (id, name, channel, subject, body_text) VALUES (901, 'Mail', 'email', 'Hi', 'Hi'), (902, 'Text', 'sms', NULL, 'Hi')");
  insert('campaigns', [[801, '双十一预热 Singles Day', 'email', 901, T(2, '09:00')], [802, '会员日短信', 'sms', 902, T(6, '10:00')]].map(([id, name, ch, tpl, s]) => ({
    id, name, channel: ch, template_id: tpl, kind: 'campaign', status: 'finished', started_at: at(s), finished_at: at(s + HOUR), created_at: at(T(0)) })));
  const r = (camp, c, state, o = {}) => ({ camp, c, state, ...o });
  const s1 = T(2, '09:01'), s2 = T(6, '10:01');
  const ledger = [
    r(801, 'c1', 'sent', { sent: s1, delivered: s1 + MIN, opened: s1 + HOUR, clicked: s1 + 2 * HOUR }),
    r(801, 'c2', 'sent', { sent: s1, delivered: s1 + MIN, opened: s1 + HOUR, clicked: s1 + 2 * HOUR }),
    r(801, 'c3', 'sent', { sent: s1, delivered: s1 + MIN, opened: s1 + HOUR }),
    r(801, 'c4', 'sent', { sent: s1, delivered: s1 + MIN, replied: s1 + 3 * HOUR }),
    r(801, 'c5', 'sent', { sent: s1, delivered: s1 + MIN, unsub: s1 + HOUR }),
    r(801, 'c6', 'skipped', { skip: 'suppressed' }),
    r(802, 'c2', 'sent', { sent: s2, delivered: s2 + MIN }),
    r(802, 'c3', 'sent', { sent: s2, delivered: s2 + MIN, replied: s2 + HOUR }),
    r(802, 'c4', 'sent', { sent: s2, delivered: s2 + MIN }),
    r(802, 'c5', 'failed'),
  ];
  insert('campaign_recipients', ledger.map((x) => ({
    campaign_id: x.camp, customer_id: cust[x.c], channel: x.camp === 801 ? 'email' : 'sms', address: x.c + '@example.com', state: x.state,
    skip_reason: x.skip || null, sent_at: at(x.sent), delivered_at: at(x.delivered), opened_at: at(x.opened), clicked_at: at(x.clicked),
    replied_at: at(x.replied), unsubscribed_at: at(x.unsub), created_at: at(T(0)) })));
  for (const [id, cost] of [[801, 3000], [802, 20000]]) {
    const p = await a.patch(`/api/v1/campaigns/${id}`, { cost });
    assert.equal(p.status, 200, `PATCH /campaigns/${id} {cost}: ${p.text}`);
  }

  // when the customers came and last heard from them (赵强: last contact 64 days before the end
  // of the period, so he went 60 days silent during it → a churn warning)
  sql(server, [['c1', T(1, '08:00')], ['c2', T(1, '12:00')], ['c3', T(3, '10:00')], ['c4', T(5, '09:00')], ['c5', T(5, '15:00')],
    ['c6', T(8, '10:00')], ['c7', T(-100, '10:00')], ['c8', T(12, '10:00')]].map(([k, when]) =>
    `UPDATE customers SET created_at = ${lit(at(when))}, last_contact_at = ${lit(at(k === 'c7' ? T(-50, '10:00') : T(12, '18:00')))} WHERE id = ${cust[k]};`).join('\n'));
  browser = await launchChromium();
});

after(async () => {
  if (browser) await browser.close();
  if (server) { await server.stop(); dropDatabase(server); }
});

// ---- the browser -------------------------------------------------------------------------------
async function signIn(who, viewport = { width: 1440, height: 1000 }) {
  const page = await browser.newPage({ viewport, locale: 'en-US', timezoneId: 'UTC', acceptDownloads: true });
  page.errors = [];
  page.on('pageerror', (e) => page.errors.push(e.message));
  await page.goto(server.url + '/');
  await page.evaluate(() => localStorage.clear());
  await page.fill('#login-email', who.email || who.agent.email);
  await page.fill('#login-password', who.password);
  await page.click('button[type=submit]');
  await page.waitForSelector('#app:not([hidden])');
  await page.waitForFunction(() => document.querySelector('#live').textContent.includes('live'));
  return page;
}
const query = (o = {}) => new URLSearchParams({ from: o.from || FROM, to: o.to || TO, ...(o.team ? { team: String(o.team) } : {}) }).toString();
// the report drawn for exactly this request
async function drawn(page, report, q) {
  await page.waitForFunction(([r, qs]) => {
    const b = document.querySelector('#dash-body');
    return b.dataset.state === 'ready' && b.dataset.report === r && b.dataset.query === qs;
  }, [report, q]);
}
async function showReport(page, report, q) {
  await page.click(`#dash-reports .dash-rep[data-report=${report}]`);
  await drawn(page, report, q);
  assert.equal(await page.getAttribute(`#dash-reports .dash-rep[data-report=${report}]`, 'aria-selected'), 'true');
}
async function json(report, q) {
  const r = await a.get(`/api/v1/reports/${report}?${q}`);
  assert.equal(r.status, 200, r.text);
  return r.json;
}
const count = (page, sel) => page.locator(sel).count();
const texts = (page, sel) => page.locator(sel).allTextContents();
const kpi = (page, key) => page.locator(`.dash-kpi[data-key=${key}] .dash-kpi-v`).textContent();
const nz = (v) => v !== null && v !== undefined && Number(v) !== 0;
const sumOf = (xs, f) => xs.reduce((s, x) => s + f(x), 0);
// every drawn bar of a chart as [category, series, value]
const bars = (page, chart) => page.locator(`svg[data-chart="${chart}"] rect.bar`).evaluateAll((rs) =>
  rs.map((r) => [r.dataset.cat || r.closest('g.dash-row, g.dash-stage')?.dataset.key || '', r.dataset.series || '', Number(r.dataset.value)]));
const sortRows = (xs) => xs.map((x) => JSON.stringify(x)).sort();
async function shot(page, name) {
  const h = await page.evaluate(() => document.querySelector('.dash-page').scrollHeight + document.querySelector('.topbar').offsetHeight + 8);
  const vp = page.viewportSize();
  await page.setViewportSize({ width: vp.width, height: Math.max(vp.height, h) });
  await page.waitForFunction(() => document.querySelector('#dash-body').dataset.state === 'ready');
  await page.screenshot({ path: path.join(SHOTS, name), fullPage: true });
  await page.setViewportSize(vp);
}
const dayLabel = (day) => new Date(`${day}T00:00:00Z`).toLocaleDateString('en-US', { month: 'short', day: 'numeric', timeZone: 'UTC' });
// a CSV answer's cells (RFC 4180)
function parseCsv(text) {
  const out = []; let row = []; let cell = ''; let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i];
    if (quoted) {
      if (ch === '"' && text[i + 1] === '"') { cell += '"'; i++; } else if (ch === '"') quoted = false; else cell += ch;
    } else if (ch === '"') quoted = true;
    else if (ch === ',') { row.push(cell); cell = ''; } else if (ch === '\r' && text[i + 1] === '\n') { /* CRLF */ } else if (ch === '\n') {
      row.push(cell); out.push(row); row = []; cell = '';
    } else cell += ch;
  }
  if (cell !== '' || row.length) { row.push(cell); out.push(row); }
  return out;
}
async function downloadCsv(page, card, dataset, rep) {
  const link = page.locator(`.dash-card[data-card=${card}] a.dash-csv`);
  assert.equal(await link.getAttribute('href'), `/api/v1/reports/${rep.report}?${query({ from: rep.from, to: rep.to })}&format=csv&dataset=${dataset}`);
  const [dl] = await Promise.all([page.waitForEvent('download'), link.click()]);
  assert.equal(dl.suggestedFilename(), `${rep.report}-${dataset}-${rep.from}-${rep.to}.csv`);
  const table = parseCsv(fs.readFileSync(await dl.path(), 'utf8').replace(/^\uFEFF/, ''));
  const d = rep.datasets[dataset];
  assert.deepEqual(table[0], d.columns, `${dataset}: the header is the dataset's columns`);
  assert.equal(table.length - 1, d.rows.length, `${dataset}: one line per row`);
  d.rows.forEach((r, i) => d.columns.forEach((c, k) => {
    const cell = table[i + 1][k], v = r[c], where = `${dataset} row ${i + 1} ${c}: ${JSON.stringify(v)} vs ${JSON.stringify(cell)}`;
    if (v === null) assert.equal(cell, '', where);
    else if (typeof v === 'number') assert.equal(Number(cell), v, where);
    else assert.equal(cell, /^[=+\-@\t\r]/.test(v) ? `'${v}` : String(v), where);
  }));
  return table;
}

// ---- the tests ---------------------------------------------------------------------------------
test('admin: the service report — volume, backlog, SLA, response times, CSAT and flagged, drawn from the seeded data', async () => {
  const page = adminPage = await signIn(admin, { width: 1440, height: 1000 });
  assert.equal(await hasTab(page, 'dashboard'), true, 'admins have the Dashboard tab');
  await openTab(page, 'dashboard');
  await page.waitForSelector('#dash-body[data-state=ready]');
  assert.equal(await page.evaluate(() => location.hash), '#/dashboard');
  assert.deepEqual(await page.locator('#dash-reports .dash-rep').evaluateAll((bs) => bs.map((b) => b.dataset.report)),
    ['service', 'agents', 'sales', 'marketing', 'customers'], 'an admin reads every report');
  assert.equal(await page.getAttribute('#dash-presets button[data-preset="30"]', 'aria-pressed'), 'true', 'the last 30 days by default');
  // the seeded period
  await page.fill('#dash-from', FROM);
  await page.fill('#dash-to', TO);
  await drawn(page, 'service', query());
  assert.equal(await page.getAttribute('#dash-presets button[data-preset="30"]', 'aria-pressed'), 'false');
  const rep = await json('service', query());
  const ds = (n) => rep.datasets[n].rows;

  // the JSON holds the seeded figures
  assert.equal(sumOf(ds('volume'), (x) => x.tickets), 10);
  assert.equal(ds('volume').length, 9, 'nine (day, channel) pairs');
  assert.equal(ds('backlog').length, 14, 'every day of the period');
  assert.deepEqual(ds('sla').find((x) => x.channel === 'all'), { channel: 'all', with_sla: 7, met: 3, breached: 3, pending: 1, attainment: 0.5 });
  assert.deepEqual(sortRows(ds('csat_by_agent').map((x) => [x.name, x.ratings, x.average])), sortRows([['客服小李', 2, 4.5], ['客服小张', 2, 4], ['客服老王', 1, 2]]));
  assert.deepEqual(ds('flagged').map((x) => x.ticket_id), [tk.t9, tk.t6]);

  // key figures
  assert.equal(await kpi(page, 'tickets'), '10');
  assert.equal(await kpi(page, 'solved'), String(sumOf(ds('backlog'), (x) => x.solved)));
  assert.equal(await kpi(page, 'sla'), '50%');
  assert.equal(await kpi(page, 'flagged'), '2');
  assert.equal(await count(page, '.dash-card.is-empty'), 0, 'every chart has data');

  // volume: one stacked bar segment per (day, channel), on a day axis with every day of the period
  assert.deepEqual(sortRows(await bars(page, 'volume')), sortRows(ds('volume').map((x) => [x.day, x.channel, x.tickets])));
  const xl = await texts(page, 'svg[data-chart=volume] .dash-xl');
  assert.equal(xl[0], dayLabel(FROM), 'the axis starts at the first day');
  assert.ok(xl.length >= 7 && xl.length <= 14, `day labels: ${xl}`);
  assert.deepEqual(await page.locator('.dash-card[data-card=volume] .dash-key').evaluateAll((ks) => ks.map((k) => k.dataset.key)),
    ['chat', 'email', 'sms', 'phone', 'web'], 'a legend of the channels');
  assert.match(await page.getAttribute('svg[data-chart=volume]', 'aria-label'), /10 in total/);
  assert.match(await page.locator('svg[data-chart=volume] > title').textContent(), /Tickets created per day/);
  // backlog: a line with a point per day
  assert.equal(await page.getAttribute('svg[data-chart=backlog] polyline[data-series=backlog]', 'data-points'), '14');
  assert.equal(await count(page, 'svg[data-chart=backlog] circle.pt'), 14);
  assert.equal(await count(page, 'svg[data-chart=backlog] polyline.dash-line'), 3, 'backlog, created, solved');
  // SLA: met / breached / pending segments per channel with an SLA, then all
  const slaRows = ds('sla').filter((x) => x.with_sla > 0);
  assert.equal(await count(page, 'svg[data-chart=sla] rect.bar'), sumOf(slaRows, (x) => ['met', 'breached', 'pending'].filter((k) => x[k]).length));
  const CH = { chat: 'Chat 聊天', email: 'E-mail 邮件', sms: 'SMS 短信', phone: 'Phone 电话', web: 'Web 网页', all: 'All channels 全部' };
  assert.deepEqual(await texts(page, 'svg[data-chart=sla] .dash-rl'), slaRows.map((x) => CH[x.channel]));
  assert.deepEqual(slaRows.map((x) => x.channel).sort(), ['all', 'chat', 'email', 'sms']);
  assert.match((await texts(page, 'svg[data-chart=sla] .dash-end')).at(-1), /^50% met · 7$/);
  // response and resolution: median and p90 per channel
  for (const what of ['first_response', 'resolution']) {
    const want = ds('response').filter((x) => x.tickets > 0).flatMap((x) => [['median', x[what + '_median_secs']], ['p90', x[what + '_p90_secs']]]
      .filter(([, v]) => nz(v)).map(([s, v]) => [x.channel, s, v]));
    assert.deepEqual(sortRows(await bars(page, 'response-' + what)), sortRows(want), what);
  }
  assert.equal(await count(page, 'svg[data-chart=response-first_response] .dash-rl'), ds('response').length);
  // CSAT by agent, team, channel: one bar each, the average at the end
  for (const [chart, rows] of [['csat_by_agent', ds('csat_by_agent')], ['csat_by_team', ds('csat_by_team')], ['csat_by_channel', ds('csat_by_channel')]]) {
    assert.equal(await count(page, `svg[data-chart=${chart}] rect.bar`), rows.length, chart);
    assert.deepEqual((await bars(page, chart)).map((b) => b[2]), rows.map((x) => x.average), chart);
  }
  const END = { 客服小李: '4.50 · 2 · 100%', 客服小张: '4.00 · 2 · 50%', 客服老王: '2.00 · 1 · 0%' };
  assert.deepEqual(await texts(page, 'svg[data-chart=csat_by_agent] .dash-rl'), ds('csat_by_agent').map((x) => x.name));
  assert.deepEqual(await texts(page, 'svg[data-chart=csat_by_agent] .dash-end'), ds('csat_by_agent').map((x) => END[x.name]));
  // flagged: the list, newest first; the formula-looking subject is plain text
  assert.deepEqual(await page.locator('.dash-card[data-card=flagged] tbody tr').evaluateAll((trs) => trs.map((t) => Number(t.dataset.id))), [tk.t9, tk.t6]);
  assert.match(await page.locator(`.dash-card[data-card=flagged] tr[data-id="${tk.t6}"]`).textContent(), /=1\+1 电话投诉.*律师.*Urgent 紧急.*Unassigned/);
  // the data table of a chart
  const vol = page.locator('.dash-card[data-card=volume]');
  await vol.locator('.dash-tbl').click();
  assert.equal(await vol.locator('.dash-tbl').getAttribute('aria-pressed'), 'true');
  assert.deepEqual(await vol.locator('.dash-dtable thead th').allTextContents(), ['day', 'channel', 'tickets']);
  assert.equal(await vol.locator('.dash-dtable tbody tr').count(), 9);
  await vol.locator('.dash-tbl').click();
  assert.equal(await vol.locator('.dash-table-wrap').isHidden(), true);
  await shot(page, 'dashboard-service.png');
  assert.deepEqual(page.errors, []);
});

test('admin: a later start and a team change the figures; a CSV download equals the JSON', async () => {
  const page = adminPage;
  const later = dayOf(T(7));
  await page.fill('#dash-from', later);
  await drawn(page, 'service', query({ from: later }));
  const rep = await json('service', query({ from: later }));
  assert.equal(rep.datasets.volume.rows.length, 4, 'days 9, 11, 12 and 13');
  assert.equal(await kpi(page, 'tickets'), '4');
  assert.equal(await count(page, 'svg[data-chart=volume] rect.bar'), 4);
  assert.equal(await page.getAttribute('svg[data-chart=backlog] polyline[data-series=backlog]', 'data-points'), '7');
  assert.deepEqual(await page.locator('.dash-card[data-card=flagged] tbody tr').evaluateAll((trs) => trs.map((t) => Number(t.dataset.id))), [tk.t9]);
  // a team: 大客户组's tickets only
  await page.fill('#dash-from', FROM);
  await drawn(page, 'service', query());
  await page.selectOption('#dash-team', String(teamB.id));
  await drawn(page, 'service', query({ team: teamB.id }));
  assert.equal(await kpi(page, 'tickets'), '3');
  const teamRep = await json('service', query({ team: teamB.id }));
  assert.deepEqual(sortRows(await bars(page, 'volume')), sortRows(teamRep.datasets.volume.rows.map((x) => [x.day, x.channel, x.tickets])));
  await page.selectOption('#dash-team', '');
  await drawn(page, 'service', query());

  // CSV: the same report URL with format=csv&dataset=…, authenticated by the session cookie
  const full = await json('service', query());
  const volume = await downloadCsv(page, 'volume', 'volume', full);
  assert.equal(volume.length, 10, 'a header and nine rows');
  const flagged = await downloadCsv(page, 'flagged', 'flagged', full);
  assert.equal(flagged[2][1], "'=1+1 电话投诉", 'a formula-looking cell is neutralised');
  assert.equal(flagged[2][7], '', 'null is an empty cell');

  // a period without any data: every card says so instead of drawing an empty box
  const [oldFrom, oldTo] = [dayOf(T(-200)), dayOf(T(-190))];
  await page.fill('#dash-from', oldFrom);
  await page.fill('#dash-to', oldTo);
  await drawn(page, 'service', query({ from: oldFrom, to: oldTo }));
  const cards = await count(page, '.dash-card');
  assert.ok(cards >= 8, `${cards} cards`);
  assert.equal(await count(page, '.dash-card.is-empty'), cards, 'every card is empty');
  assert.equal(await count(page, '.dash-card svg rect.bar'), 0);
  assert.equal(await count(page, '.dash-card[data-card=volume] .dash-empty'), 1);
  assert.match(await page.locator('.dash-card[data-card=volume] .dash-empty').textContent(), /No data for this period.*本期无数据/);
  assert.equal(await kpi(page, 'tickets'), '0');
  await page.screenshot({ path: path.join(SHOTS, 'dashboard-empty.png') });
  await page.fill('#dash-from', FROM);
  await page.fill('#dash-to', TO);
  await drawn(page, 'service', query());
  assert.deepEqual(page.errors, []);
});

test('admin: the agents report — a ranking with solved and occupancy bars, online/handling time, the load now', async () => {
  const page = adminPage;
  await showReport(page, 'agents', query());
  const rows = (await json('agents', query())).datasets.agents.rows;
  assert.deepEqual(rows.map((x) => [x.name, x.handled]).sort(), [['客服小张', 2], ['客服小李', 2], ['客服老王', 2]].sort());
  assert.equal(rows.find((x) => x.name === '客服小张').online_secs, 8 * 3600);
  assert.deepEqual(rows.map((x) => [x.name, x.replies]).sort(), [['客服小张', 4], ['客服小李', 3], ['客服老王', 3]].sort());
  assert.equal(await count(page, '.dash-card.is-empty'), 0);
  assert.deepEqual(await page.locator('.dash-rank tbody tr').evaluateAll((trs) => trs.map((t) => Number(t.dataset.agent))), rows.map((x) => x.agent_id),
    'in rank order');
  assert.deepEqual(await texts(page, '.dash-rank tbody td.rank'), rows.map((x) => String(x.rank)));
  assert.equal(await count(page, '.dash-rank svg.dash-mini rect.bar'), rows.filter((x) => nz(x.handled)).length + rows.filter((x) => nz(x.occupancy)).length);
  assert.equal(await count(page, 'svg[data-chart=workload] rect.bar'),
    rows.filter((x) => nz(x.online_secs)).length + rows.filter((x) => nz(x.avg_handle_secs) && nz(x.handled)).length);
  assert.deepEqual(sortRows((await bars(page, 'load')).map((b) => [b[0], b[2]])), sortRows(rows.filter((x) => nz(x.open_now)).map((x) => [String(x.agent_id), x.open_now])));
  assert.equal(await kpi(page, 'handled'), '6');
  assert.equal(await kpi(page, 'replies'), '10');
  assert.deepEqual(await page.locator('.dash-rank tbody tr').evaluateAll((trs) => trs.map((t) => t.children[4].textContent)), rows.map((x) => String(x.replies)));
  await shot(page, 'dashboard-agents.png');
  assert.deepEqual(page.errors, []);
});

test('admin: the sales report — funnel, stage conversion, win/loss reasons, forecast per currency, salespeople', async () => {
  const page = adminPage;
  await showReport(page, 'sales', query());
  const rep = await json('sales', query());
  const ds = (n) => rep.datasets[n].rows;
  assert.equal(await count(page, '.dash-card.is-empty'), 0);
  // funnel: one bar per active stage, as wide as the deals that reached it (all currencies)
  const reached = new Map();
  for (const x of ds('funnel')) reached.set(String(x.stage_id), (reached.get(String(x.stage_id)) || 0) + x.reached);
  assert.deepEqual([...reached.values()], [6, 4, 3, 2, 1], 'Budding 6, Developing 4, Mature 3, Won 2, Lost 1');
  assert.deepEqual((await bars(page, 'funnel')).map((b) => [b[0], b[2]]), [...reached]);
  assert.deepEqual(await texts(page, 'svg[data-chart=funnel] .dash-conv'), ['↓ 66.7%', '↓ 75%', '↓ 66.7%', '↓ 50%']);
  assert.match((await texts(page, 'svg[data-chart=funnel] .dash-note'))[2], /^1 open · ¥100K$/);
  // conversion per stage (the last has none)
  assert.deepEqual((await bars(page, 'stages')).map((b) => b[2]), ds('stages').filter((x) => nz(x.conversion)).map((x) => x.conversion));
  assert.equal(await count(page, 'svg[data-chart=stages] .dash-rl'), 5);
  // won and lost, by reason
  const wl = ds('win_loss');
  assert.equal(await count(page, 'svg[data-chart=win_loss-won] rect.bar'), wl.filter((x) => x.status === 'won').length);
  assert.equal(await count(page, 'svg[data-chart=win_loss-lost] rect.bar'), wl.filter((x) => x.status === 'lost').length);
  assert.ok((await texts(page, 'svg[data-chart=win_loss-won] .dash-rl')).includes('老客户转介绍'));
  assert.ok((await texts(page, 'svg[data-chart=win_loss-lost] .dash-end')).includes('1 · ¥30,000.00'), 'money with its currency');
  // forecast: amount and weighted per month, one chart per currency
  for (const cur of ['CNY', 'USD']) {
    const rows = ds('forecast').filter((x) => x.currency === cur);
    assert.deepEqual(sortRows(await bars(page, 'forecast-' + cur)), sortRows(rows.flatMap((x) =>
      [['amount', x.amount], ['weighted', x.weighted]].filter(([, v]) => nz(v)).map(([s, v]) => [x.month, s, Number(v)]))), cur);
  }
  assert.deepEqual(ds('forecast').filter((x) => x.currency === 'USD').map((x) => [x.month, x.weighted]), [['none', '10000.00']]);
  assert.match(await page.getAttribute('svg[data-chart=forecast-USD]', 'aria-label'), /\$20,000\.00 \(weighted \$10,000\.00\)/);
  assert.ok((await texts(page, 'svg[data-chart=forecast-CNY] .dash-xl')).includes('No date 未定') === false);
  assert.ok((await texts(page, 'svg[data-chart=forecast-USD] .dash-xl')).includes('No date 未定'));
  // salespeople: one row per owner and currency
  assert.equal(await count(page, '.dash-people tbody tr'), ds('people').length);
  assert.match(await page.locator(`.dash-people tr[data-owner="${liu.agent.id}"]`).first().textContent(), /销售 刘芳.*2.*¥110,000\.00.*100%/);
  await shot(page, 'dashboard-sales.png');
  assert.deepEqual(page.errors, []);
});

test('admin: the marketing report — per-campaign funnels, e-mail vs SMS, ROI', async () => {
  const page = adminPage;
  await showReport(page, 'marketing', query());
  const rep = await json('marketing', query());
  const camps = rep.datasets.campaigns.rows;
  assert.deepEqual(camps.map((x) => [x.campaign_id, x.sent, x.opened, x.converted, x.revenue, x.cost, x.roi]),
    [[801, 5, 3, 2, '110000.00', '3000.00', 35.6667], [802, 3, 0, 1, '15000.00', '20000.00', -0.25]]);
  assert.equal(await count(page, '.dash-card.is-empty'), 0);
  assert.equal(await count(page, '.dash-camp'), 2);
  const STEPS = ['sent', 'delivered', 'opened', 'clicked', 'replied', 'converted', 'unsubscribed'];
  for (const c of camps) {
    const tile = page.locator(`.dash-camp[data-campaign="${c.campaign_id}"]`);
    assert.deepEqual(await tile.locator('svg[data-chart=campaign-funnel] rect.bar').evaluateAll((rs) => rs.map((r) => [r.closest('g').dataset.key, Number(r.dataset.value)])),
      STEPS.filter((k) => nz(c[k])).map((k) => [k, c[k]]), c.name);
    assert.equal(await tile.locator('.dash-rl').count(), 7);
  }
  assert.match(await page.locator('.dash-camp[data-campaign="801"] .dash-camp-foot').textContent(), /¥110,000\.00.*cost ¥3,000\.00.*ROI \+3,567%/);
  // the channels compared: six rates per channel
  const ch = rep.datasets.channels.rows;
  const RATES = ['delivered_rate', 'open_rate', 'click_rate', 'reply_rate', 'conversion_rate', 'unsubscribe_rate'];
  assert.deepEqual(sortRows(await bars(page, 'channels')), sortRows(ch.flatMap((x) => RATES.filter((k) => nz(x[k])).map((k) => [k, x.channel, x[k]]))));
  assert.equal(await count(page, 'svg[data-chart=channels] .dash-xl'), 6);
  // ROI: one bar per campaign with a cost, a loss drawn below zero
  assert.deepEqual((await bars(page, 'roi')).map((b) => b[2]), [35.6667, -0.25]);
  assert.deepEqual(await page.locator('svg[data-chart=roi] rect.bar').evaluateAll((rs) => rs.map((r) => r.getAttribute('fill'))), ['#10b981', '#ef4444']);
  assert.equal(await kpi(page, 'campaigns'), '2');
  assert.equal(await kpi(page, 'revenue'), '¥125,000.00');
  await shot(page, 'dashboard-marketing.png');
  assert.deepEqual(page.errors, []);
});

test('admin: the customers report — new by source, repurchase, lifetime value, top customers, churn warnings', async () => {
  const page = adminPage;
  await showReport(page, 'customers', query());
  const rep = await json('customers', query());
  const ds = (n) => rep.datasets[n].rows;
  assert.equal(sumOf(ds('new_by_source'), (x) => x.customers), 7, 'seven customers created in the period (赵强 earlier)');
  assert.equal(ds('new_by_source').length, 6);
  assert.deepEqual(ds('repurchase'), [{ currency: 'CNY', buyers: 2, repeat_buyers: 1, repurchase_rate: 0.5 }]);
  assert.deepEqual(ds('lifetime_value'), [{ currency: 'CNY', customers: 2, revenue: '125000.00', average: '62500.00' }]);
  assert.equal(await count(page, '.dash-card.is-empty'), 0);
  // new customers: a segment per (day, source), a legend entry per source (unknown included)
  assert.deepEqual(sortRows(await bars(page, 'new_by_source')), sortRows(ds('new_by_source').map((x) => [x.day, x.source, x.customers])));
  assert.deepEqual((await texts(page, '.dash-card[data-card=new_by_source] .dash-key')).sort(),
    ['website · 3', '展会 · 2', 'Unknown 未知 · 1', 'referral · 1'].sort());
  assert.equal(await count(page, 'svg[data-chart=repurchase]'), 1);
  assert.equal(await page.locator('svg[data-chart=repurchase] .dash-ring-n').textContent(), '50%');
  assert.equal(await page.locator('.dash-ltv-item[data-currency=CNY] .dash-ltv-avg').textContent(), '¥62,500.00');
  assert.deepEqual((await bars(page, 'top_customers')).map((b) => [b[0], b[2]]), ds('top_customers').map((x) => [String(x.customer_id), Number(x.revenue)]));
  // churn: 赵强 went silent during the period, 刘洋 with a complaint
  const churn = ds('churn');
  assert.ok(churn.some((x) => x.customer_id === cust.c7 && x.reasons === 'no_contact'), JSON.stringify(churn));
  assert.ok(churn.some((x) => x.customer_id === cust.c3 && x.reasons.includes('complaint')), JSON.stringify(churn));
  assert.deepEqual(await page.locator('.dash-churn tbody tr').evaluateAll((trs) => trs.map((t) => Number(t.dataset.customer))), churn.map((x) => x.customer_id));
  assert.match(await page.locator(`.dash-churn tr[data-customer="${cust.c7}"]`).textContent(), /赵强.*No contact 久未联系/);
  assert.equal(await kpi(page, 'new'), '7');
  await shot(page, 'dashboard-customers.png');
  assert.deepEqual(page.errors, []);
});

test('admin: the print view hides the navigation, the filters and the buttons', async () => {
  const page = adminPage;
  await showReport(page, 'service', query());
  await page.emulateMedia({ media: 'print' });
  for (const sel of ['.topbar', '#dash-filters', '#dash-reports', '#dash-print', '.dash-card .dash-tools']) {
    assert.equal(await page.locator(sel).first().isHidden(), true, `${sel} is not printed`);
  }
  assert.equal(await page.isVisible('#dash-print-head'), true);
  assert.match(await page.locator('#dash-print-head').textContent(), /Service report.*Team: all teams/);
  assert.equal(await page.isVisible('svg[data-chart=volume]'), true, 'the charts are printed');
  assert.equal(await page.evaluate(() => getComputedStyle(document.body).backgroundColor), 'rgb(255, 255, 255)', 'on white paper');
  await page.screenshot({ path: path.join(SHOTS, 'dashboard-print.png'), fullPage: true });
  await page.emulateMedia({ media: 'screen' });
  assert.equal(await page.isVisible('#dash-filters'), true);
  assert.equal(await page.isVisible('#dash-print-head'), false);
  assert.deepEqual(page.errors, []);
  await page.close();
});

test('a marketer sees only the Marketing and Customers reports', async () => {
  const page = await signIn(marketer);
  assert.equal(await hasTab(page, 'dashboard'), true);
  await openTab(page, 'dashboard');
  await page.waitForSelector('#dash-body[data-state=ready][data-report=marketing]');
  assert.deepEqual(await page.locator('#dash-reports .dash-rep').evaluateAll((bs) => bs.map((b) => b.dataset.report)), ['marketing', 'customers']);
  await page.fill('#dash-from', FROM);
  await page.fill('#dash-to', TO);
  await drawn(page, 'marketing', query());
  assert.equal(await count(page, '.dash-camp'), 2, 'all campaigns');
  assert.equal(await page.isDisabled('#dash-team'), true, 'campaigns are not split by team');
  await showReport(page, 'customers', query());
  assert.equal(await count(page, 'svg[data-chart=new_by_source] rect.bar'), 6);
  // the reports the role may not read are not offered, and the server agrees
  const m = api(server, marketer.token);
  assert.equal((await m.get(`/api/v1/reports/service?${query()}`)).status, 403);
  assert.deepEqual(page.errors, []);
  await page.close();
});

test('an agent has no Dashboard tab, and its address lands on the conversations', async () => {
  const page = await signIn(zhang);
  assert.equal(!(await hasTab(page, 'dashboard')), true);
  await page.evaluate(() => { location.hash = '#/dashboard'; });
  await until(async () => (await page.evaluate(() => location.hash)) === '', 3000, 'back to the conversations');
  assert.equal(await page.isVisible('#view-tickets'), true);
  assert.equal(await page.isHidden('#view-dashboard'), true);
  assert.deepEqual(page.errors, []);
  await page.close();
});
