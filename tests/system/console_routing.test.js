'use strict';
// console_routing.test.js — the console's side of skill-based routing, in a real headless
// Chromium: an offer card with a live countdown for the offered agent, accepted over the
// socket (the ticket is theirs in the database); an offer nobody accepts lapses and the
// card gives way to a note; an accept that lost the race is refused clearly; SLA chips that
// count down, turn amber and then red (the router's sla_warning / sla_breached events),
// with notices for admins; the "Routing" section of the side panel says why this agent;
// the Routing page lists the rules, shows the server's reasons for a bad rule, creates a
// good one that the next ticket gets, edits SLA targets, and is read-only for managers.
const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const path = require('node:path');
const { launchChromium, wsOpen, openTab, hasTab } = require('./clients');
const { startServer, bootstrapAdmin, api, sql, dropDatabase, createAgent, until } = require('./harness');

const SHOTS = path.join(__dirname, '..', '..', 'var');
let server, admin, a, browser;
let teamA, teamB, mei, bo, boSocket;
const sockets = [];

before(async () => {
  server = await startServer({ env: { SWITCHBOARD_ROUTING_INTERVAL_MS: '50' } });
  admin = await bootstrapAdmin(server);
  a = api(server, admin.token);
  browser = await launchChromium();
  teamA = (await a.post('/api/v1/teams', { name: 'Billing 账务' })).json.id;
  teamB = (await a.post('/api/v1/teams', { name: 'Refunds 退款' })).json.id;
  sql(server, `UPDATE teams SET accept_timeout_secs = 30 WHERE id IN (${teamA}, ${teamB})`);
  // Mei is the better match for billing; Bo takes what Mei lets lapse
  mei = await createAgent(server, admin.token, { name: 'Mei Chen 陈美', team_id: teamA, skills: [{ name: 'billing', level: 7 }], capacity: { email: 5, chat: 2 } });
  bo = await createAgent(server, admin.token, { name: 'Bo Li', team_id: teamA, skills: [{ name: 'billing', level: 2 }], capacity: { email: 5 } });
  const r = await a.post('/api/v1/routing/rules', { name: 'Invoices', position: 10, match: { keywords: ['invoice', '发票'] },
    required_skills: [{ skill: 'billing', min_level: 2 }], team_id: teamA });
  assert.equal(r.status, 201, r.text);
});

after(async () => {
  for (const s of sockets) s.ws.close();
  if (browser) await browser.close();
  if (server) { await server.stop(); dropDatabase(server); }
});

let custSeq = 0;
async function ticket(subject, { name = 'Zhang Wei 张伟', channel = 'email', teamId } = {}) {
  custSeq += 1;
  const c = await a.post('/api/v1/customers', { name, email: `cust${custSeq}@example.com` });
  assert.equal(c.status, 201, c.text);
  const body = { customer_id: c.json.id, channel, subject };
  if (teamId) body.team_id = teamId;
  const t = await a.post('/api/v1/tickets', body);
  assert.equal(t.status, 201, t.text);
  return t.json.id;
}
const row = (id) => sql(server, `SELECT COALESCE(assignee_id, 0), COALESCE(offer_agent_id, 0) FROM tickets WHERE id = ${id}`)[0].map(Number);

async function signIn(email, password, viewport = { width: 1400, height: 900 }) {
  const page = await browser.newPage({ viewport });
  page.errors = [];
  page.on('pageerror', (e) => page.errors.push(e.message));
  await page.goto(server.url + '/');
  await page.fill('#login-email', email);
  await page.fill('#login-password', password);
  await page.click('button[type=submit]');
  await page.waitForSelector('#app:not([hidden])');
  await page.waitForFunction(() => document.querySelector('#live').textContent.includes('live'));
  return page;
}
// Bo is online through a socket of his own (the console's presence frame does the same)
async function online(agent) {
  const s = await wsOpen(server, '/ws/agent');
  s.send({ type: 'auth', token: agent.token });
  await s.waitFor((f) => f.type === 'auth_ok');
  s.send({ type: 'presence', status: 'online' });
  await s.waitFor((f) => f.type === 'presence_ok');
  sockets.push(s);
  return s;
}
const seconds = (mmss) => { const m = /^(\d+):(\d\d)$/.exec(mmss.trim()); return m ? Number(m[1]) * 60 + Number(m[2]) : NaN; };

let meiPage;

test('an offer shows as a card with a live countdown; Accept makes the ticket hers; the panel says why', async () => {
  meiPage = await signIn(mei.email, mei.password); // the console goes online: the router may offer her work
  const page = meiPage;
  const id = await ticket('Invoice 8842 is wrong — charged twice', { name: 'Zhang Wei 张伟', teamId: teamA });
  const card = page.locator(`#offers .offer-card[data-ticket="${id}"]`);
  await card.waitFor({ timeout: 5000 });
  assert.deepEqual(row(id), [0, mei.id], 'offered to Mei, not assigned yet');
  assert.match(await card.locator('.offer-name').textContent(), /Zhang Wei 张伟/);
  assert.match(await card.locator('.offer-subject').textContent(), /Invoice 8842 is wrong/);
  assert.match(await card.locator('.offer-meta').textContent(), /email/);
  assert.match(await card.locator('.offer-why').textContent(), /Matched rule Invoices · needs billing ≥ 2/);
  const t0 = seconds(await card.locator('.offer-timer').textContent());
  assert.ok(t0 > 20 && t0 <= 30, `countdown starts near 0:30, got ${t0}`);
  await page.waitForFunction((id) => {
    const s = document.querySelector(`#offers .offer-card[data-ticket="${id}"] .offer-timer`).textContent.split(':');
    return Number(s[0]) * 60 + Number(s[1]) <= 28;
  }, id, { timeout: 5000 });
  const t1 = seconds(await card.locator('.offer-timer').textContent());
  assert.ok(t1 < t0, `it counts down (${t0} → ${t1})`);
  // the Mine queue lists it as offered, at the top
  await page.click('.queue[data-queue=mine]');
  const li = page.locator(`#ticket-list li[data-id="${id}"]`);
  await li.waitFor();
  assert.match(await li.locator('.offer-chip').textContent(), /Offered to you · \d:\d\d/);
  assert.equal(await page.locator('#ticket-list li').first().getAttribute('data-id'), String(id));
  assert.match(await li.locator('.sla-chip').textContent(), /^(3h 5\dm|4h) left$/, 'normal e-mail: four hours to answer');
  await page.screenshot({ path: path.join(SHOTS, 'console-routing-offer.png') });

  await card.locator('.offer-accept').click();
  await until(() => row(id)[0] === mei.id, 5000, 'the ticket assigned to Mei');
  assert.deepEqual(row(id), [mei.id, 0]);
  assert.equal(sql(server, `SELECT outcome FROM ticket_offers WHERE ticket_id = ${id}`)[0][0], 'accepted');
  await card.waitFor({ state: 'detached', timeout: 5000 });
  // accepted: the conversation opens; the side panel's Routing section says why her
  await page.waitForFunction((id) => document.querySelector('#ticket-detail').dataset.ticket === String(id), id);
  const sec = page.locator('#routing-sec');
  await sec.waitFor({ timeout: 5000 });
  await page.waitForFunction(() => /Assigned to you/.test(document.querySelector('#routing-sec').textContent));
  assert.match(await sec.textContent(), /Rule\s*Invoices/);
  assert.match(await sec.locator('.badge.skill').first().textContent(), /^billing ≥ 2$/);
  const why = await sec.locator('.reason').textContent();
  assert.match(why, /^Why you: Matched rule Invoices · needs billing ≥ 2 · skill score 7 · load 0\/5 · idle \d+[smh].* · 1 candidate · waited \d+s$/, why);
  assert.match(await page.locator('#ticket-detail .assignee-chip').textContent(), /Assigned to you/);
  assert.deepEqual(page.errors, []);
  await page.screenshot({ path: path.join(SHOTS, 'console-routing-panel.png') });
});

test('an offer not accepted in time disappears with a note and goes to a colleague', async () => {
  const page = meiPage;
  boSocket = await online(bo);
  sql(server, `UPDATE teams SET accept_timeout_secs = 3 WHERE id = ${teamA}`);
  try {
    const id = await ticket('发票抬头错了 invoice header', { name: 'Wang Fang 王芳', teamId: teamA });
    const card = page.locator(`#offers .offer-card[data-ticket="${id}"]`);
    await card.waitFor({ timeout: 5000 });
    assert.ok(seconds(await card.locator('.offer-timer').textContent()) <= 3);
    const note = page.locator(`#offers .offer-note[data-ticket="${id}"]`);
    await note.waitFor({ timeout: 8000 });
    assert.equal(await card.count(), 0, 'the card is gone');
    assert.match(await note.textContent(), /^Offer expired — passed to a colleague#\d+ · Wang Fang 王芳 · 发票抬头错了/);
    await until(() => row(id)[1] === bo.id, 5000, 'the offer to Bo');
    boSocket.send({ type: 'accept', ticket_id: id }); // Bo takes it (else it would go back and forth every 3 s)
    await boSocket.waitFor((f) => f.type === 'accepted' && f.ticket_id === id, 3000, 'Bo accepted');
    assert.deepEqual(sql(server, `SELECT agent_id, outcome FROM ticket_offers WHERE ticket_id = ${id} ORDER BY id`),
      [[String(mei.id), 'expired'], [String(bo.id), 'accepted']]);
    await page.screenshot({ path: path.join(SHOTS, 'console-routing-expired.png') });
    // the note goes by itself
    await note.waitFor({ state: 'detached', timeout: 10000 });
  } finally {
    sql(server, `UPDATE teams SET accept_timeout_secs = 30 WHERE id = ${teamA}`);
  }
});

test('Decline passes the offer to a colleague at once, with a note', async () => {
  const page = meiPage;
  const id = await ticket('invoice in the wrong currency', { name: 'Chen Jie 陈杰', teamId: teamA });
  const card = page.locator(`#offers .offer-card[data-ticket="${id}"]`);
  await card.waitFor({ timeout: 5000 });
  await card.locator('.offer-ignore').click();
  await card.waitFor({ state: 'detached', timeout: 3000 });
  const note = page.locator(`#offers .offer-note[data-ticket="${id}"]`);
  await note.waitFor({ timeout: 5000 });
  assert.match(await note.textContent(), /^Declined — passed to a colleague/);
  await until(() => row(id)[1] === bo.id, 5000, 'the offer to Bo');
  assert.equal(sql(server, `SELECT outcome FROM ticket_offers WHERE ticket_id = ${id} AND agent_id = ${mei.id}`)[0][0], 'declined');
  boSocket.send({ type: 'accept', ticket_id: id });
  await boSocket.waitFor((f) => f.type === 'accepted' && f.ticket_id === id, 3000, 'Bo accepted');
});

test('an accept that lost the race is refused clearly', async () => {
  const page = meiPage; // Mei is the better match: she gets the next one
  const id = await ticket('invoice copy please', { name: 'Liu Yang', teamId: teamA });
  const card = page.locator(`#offers .offer-card[data-ticket="${id}"]`);
  await card.waitFor({ timeout: 5000 });
  // meanwhile the offer moved on to Bo (no event yet): her click arrives too late
  sql(server, `UPDATE tickets SET offer_agent_id = ${bo.id} WHERE id = ${id}`);
  await card.locator('.offer-accept').click();
  const note = page.locator(`#offers .offer-note[data-ticket="${id}"]`);
  await note.waitFor({ timeout: 5000 });
  assert.match(await note.textContent(), /No longer yours — the offer lapsed or a colleague has this conversation/);
  assert.match(await page.textContent('#toast'), /No longer yours/);
  await card.waitFor({ state: 'detached', timeout: 5000 });
  assert.equal(row(id)[0], 0, 'nothing assigned');
  assert.deepEqual(page.errors, []);
  await page.close();
  sql(server, `UPDATE agent_presence SET status = 'offline' WHERE agent_id IN (${mei.id}, ${bo.id})`);
});

test('SLA chips count down, turn amber then red from the router\'s events; admins get notices', async () => {
  const page = await signIn('admin@example.com', admin.password);
  const pure = await page.evaluate(() => {
    const now = Date.parse('2026-11-23T10:00:00Z');
    const t = (due, extra) => ({ status: 'open', created_at: '2026-11-23T09:50:00Z', sla_due_at: due, sla_breached: false, ...extra });
    return [slaState(t('2026-11-23T10:12:00Z'), now), slaState(t('2026-11-23T10:12:00Z', { created_at: '2026-11-23T06:00:00Z' }), now),
      slaState(t('2026-11-23T09:57:00Z'), now), slaState(t('2026-11-23T10:00:40Z', { sla_breached: true }), now),
      slaState(t('2026-11-23T12:05:00Z'), now), slaState(t('2026-11-23T10:12:00Z', { status: 'solved' }), now)];
  });
  assert.deepEqual(pure, [{ level: 'ok', text: '12m left' }, { level: 'warn', text: '12m left' }, { level: 'bad', text: 'overdue 3m' },
    { level: 'bad', text: 'SLA breached' }, { level: 'ok', text: '2h 5m left' }, null]);

  const id = await ticket('Where is my parcel?', { name: 'Chen Jing 陈静', teamId: teamB });
  await page.click('.queue[data-queue=all]');
  const chip = page.locator(`#ticket-list li[data-id="${id}"] .sla-chip`);
  await chip.waitFor({ timeout: 5000 });
  assert.match(await chip.textContent(), /^(3h 5\dm|4h) left$/);
  assert.equal(await chip.getAttribute('class'), 'sla-chip ok');

  // 95 % of the time gone: the router warns once; the chip is amber and keeps counting
  sql(server, `UPDATE tickets SET created_at = NOW(3) - INTERVAL 190 MINUTE, sla_due_at = NOW(3) + INTERVAL 10 MINUTE WHERE id = ${id}`);
  const warn = page.locator(`#notices .notice.warn[data-ticket="${id}"]`);
  await warn.waitFor({ timeout: 5000 });
  assert.match(await warn.textContent(), /SLA warning · 即将超时#\d+ · Chen Jing 陈静 · Where is my parcel\? — due .+ \((9|10)m left\)/);
  await page.waitForFunction((id) => document.querySelector(`#ticket-list li[data-id="${id}"] .sla-chip`).className === 'sla-chip warn', id);
  assert.match(await chip.textContent(), /^(9|10)m left$/);
  assert.equal(await chip.evaluate((e) => getComputedStyle(e).color), 'rgb(146, 64, 14)');
  await page.click(`#ticket-list li[data-id="${id}"]`);
  await page.locator('#routing-sec').waitFor();
  await page.waitForFunction(() => /Waiting/.test(document.querySelector('#routing-sec').textContent));
  assert.match(await page.textContent('#routing-sec'), /Answer by/);
  await page.screenshot({ path: path.join(SHOTS, 'console-routing-sla-warn.png') });

  // past due: the router marks the breach; the chip turns red and says by how much
  sql(server, `UPDATE tickets SET sla_due_at = NOW(3) - INTERVAL 3 MINUTE WHERE id = ${id}`);
  const breach = page.locator(`#notices .notice.bad[data-ticket="${id}"]`);
  await breach.waitFor({ timeout: 5000 });
  assert.match(await breach.textContent(), /SLA breached · 超时#\d+ · Chen Jing 陈静/);
  assert.equal((await a.get(`/api/v1/tickets/${id}`)).json.sla_breached, true);
  await page.waitForFunction((id) => /^overdue 3m$/.test(document.querySelector(`#ticket-list li[data-id="${id}"] .sla-chip`).textContent), id);
  assert.equal(await chip.getAttribute('class'), 'sla-chip bad');
  assert.equal(await chip.evaluate((e) => getComputedStyle(e).color), 'rgb(185, 28, 28)');
  assert.equal(await page.locator('#ticket-detail .conv-head .sla-chip.bad').count(), 1, 'the header chip too');

  // an escalation (as the router writes it) is a notice too
  sql(server, `INSERT INTO events (kind, ticket_id, team_id, payload) VALUES ('ticket.escalated', ${id}, ${teamB},
    JSON_OBJECT('ticket_id', ${id}, 'waited_secs', 640, 'reason', 'no agent could take it in time'))`);
  const esc = page.locator(`#notices .notice.bad:has-text("Escalated")`);
  await esc.waitFor({ timeout: 5000 });
  assert.match(await esc.textContent(), /Escalated · 已升级#\d+ · Chen Jing 陈静 · Where is my parcel\? — waited 10m; no agent could take it in time/);
  assert.deepEqual(page.errors, []);
  await page.waitForTimeout(400); // the notices' slide-in
  await page.screenshot({ path: path.join(SHOTS, 'console-routing-sla.png') });
  await page.close();
});

test('Routing page: rules in order, the server\'s reasons for a bad rule, a good rule applies; SLA targets; managers read only', async () => {
  const page = await signIn('admin@example.com', admin.password, { width: 1400, height: 1000 });
  await openTab(page, 'routing');
  await page.waitForSelector('#rule-rows tr[data-id]');
  const names = await page.$$eval('#rule-rows tr .rn', (xs) => xs.map((x) => x.textContent));
  assert.deepEqual(names, ['Invoices', 'Default']);
  const inv = page.locator('#rule-rows tr', { hasText: 'Invoices' });
  assert.match(await inv.locator('.when').textContent(), /contains “invoice” or “发票”/);
  assert.equal(await inv.locator('.skills').textContent(), 'billing ≥ 2');
  assert.equal(await inv.locator('td').nth(4).textContent(), 'Billing 账务');
  assert.equal(await page.locator('#rule-rows tr.default .rule-delete').count(), 0, 'the default rule cannot be deleted');

  // the default rule: only skills, team and priority are editable
  await page.click('#rule-rows tr.default .rule-edit');
  await page.waitForSelector('#rule-dialog[open]');
  assert.ok(await page.locator('#rule-default-note').isVisible());
  assert.ok(await page.locator('#rule-name').isDisabled());
  assert.ok(await page.locator('#rule-when input[value=email]').isDisabled());
  await page.click('#rule-cancel');

  // a bad rule: the server's reason shows next to the field, nothing is stored
  const before = sql(server, 'SELECT COUNT(*) FROM routing_rules')[0][0];
  await page.click('#rule-new');
  await page.waitForSelector('#rule-dialog[open]');
  await page.fill('#rule-name', 'Refunds 退款');
  await page.check('#rule-channels input[value=email]');
  await page.fill('#rule-keywords', 'refund, 退款');
  await page.click('.add-skill[data-list=rule-required]');
  await page.fill('#rule-required .skill-row:last-child .sk-name', 'refunds');
  await page.fill('#rule-required .skill-row:last-child .sk-level', '11');
  await page.selectOption('#rule-team', String(teamB));
  await page.selectOption('#rule-priority', 'urgent');
  await page.click('#rule-save');
  const err = page.locator('#rule-form .field-error[data-for=required_skills]');
  await page.waitForFunction(() => document.querySelector('#rule-form .field-error[data-for=required_skills]').textContent !== '');
  assert.equal(await err.textContent(), 'an array of at most 8 {"skill": name, "min_level": 1..10}');
  assert.ok(await page.locator('#rule-dialog[open]').isVisible(), 'the dialog stays open');
  assert.equal(sql(server, 'SELECT COUNT(*) FROM routing_rules')[0][0], before, 'nothing stored');
  await page.screenshot({ path: path.join(SHOTS, 'console-routing-rule-error.png') });

  // fixed: stored, listed before the default rule, and the next matching ticket gets it
  await page.fill('#rule-required .skill-row:last-child .sk-level', '4');
  await page.click('#rule-save');
  await page.waitForFunction(() => !document.querySelector('#rule-dialog').open);
  await page.waitForFunction(() => [...document.querySelectorAll('#rule-rows .rn')].map((x) => x.textContent).join('|') === 'Invoices|Refunds 退款|Default');
  const ref = page.locator('#rule-rows tr', { hasText: 'Refunds 退款' });
  assert.match(await ref.locator('.when').textContent(), /email.*contains “refund” or “退款”/);
  assert.equal(await ref.locator('.skills').textContent(), 'refunds ≥ 4');
  assert.equal(await ref.locator('.badge.prio').textContent(), 'urgent');
  const [[ruleTeam, rulePrio, ruleSkills]] = sql(server, "SELECT team_id, priority, required_skills FROM routing_rules WHERE name = 'Refunds 退款'");
  assert.deepEqual([Number(ruleTeam), rulePrio, JSON.parse(ruleSkills)], [teamB, 'urgent', [{ skill: 'refunds', min_level: 4 }]]);
  const t = await ticket('我要退款 refund for order 77');
  const tk = (await a.get(`/api/v1/tickets/${t}`)).json;
  assert.deepEqual([tk.team_id, tk.priority, tk.required_skills], [teamB, 'urgent', [{ skill: 'refunds', min_level: 4 }]]);

  // SLA targets: a bad value answered next to the form; a good one appears in the table
  assert.ok((await page.locator('#sla-rows tr').count()) >= 8);
  assert.match(await page.locator('#sla-rows tr[data-priority=urgent][data-channel=""]').textContent(), /urgent\s*Any channel · 任意渠道\s*15 min\s*4 h/);
  await page.selectOption('#sla-priority', 'high');
  await page.selectOption('#sla-channel', 'sms');
  await page.fill('#sla-first', '0');
  await page.fill('#sla-resolution', '240');
  await page.click('#sla-add button[type=submit]');
  await page.waitForFunction(() => document.querySelector('#sla-add-error').textContent !== '');
  assert.equal(await page.textContent('#sla-add-error'), 'First response must be between 1 and 525600');
  await page.fill('#sla-first', '20');
  await page.click('#sla-add button[type=submit]');
  const sms = page.locator('#sla-rows tr[data-priority=high][data-channel=sms]');
  await sms.waitFor({ timeout: 5000 });
  assert.match(await sms.textContent(), /high\s*sms\s*20 min\s*4 h/);
  assert.equal(await page.textContent('#sla-add-error'), '');
  // edit in place
  await sms.locator('.sla-edit').click();
  await sms.locator('input[aria-label="resolution minutes"]').fill('300');
  await sms.locator('button', { hasText: 'Save' }).click();
  await page.waitForFunction(() => /5 h/.test(document.querySelector('#sla-rows tr[data-priority=high][data-channel=sms]').textContent));
  assert.deepEqual(sql(server, "SELECT first_response_mins, resolution_mins FROM sla_policies WHERE priority = 'high' AND channel = 'sms'"), [['20', '300']]);
  assert.deepEqual(page.errors, []);
  await page.screenshot({ path: path.join(SHOTS, 'console-routing-rules.png'), fullPage: true });

  // delete (with a confirmation step)
  await ref.locator('.rule-delete').click();
  await ref.locator('button', { hasText: 'Delete' }).click();
  await page.waitForFunction(() => [...document.querySelectorAll('#rule-rows .rn')].map((x) => x.textContent).join('|') === 'Invoices|Default');
  await page.close();

  // a manager reads the same page without the controls
  const mgr = await createAgent(server, admin.token, { role: 'manager', name: 'Manager Wu', team_id: teamA });
  const mp = await signIn(mgr.email, mgr.password);
  await openTab(mp, 'routing');
  await mp.waitForSelector('#rule-rows tr[data-id]');
  assert.ok(await mp.locator('#routing-ro').isVisible());
  assert.equal(await mp.locator('#rule-new').isVisible(), false);
  assert.equal(await mp.locator('#rule-rows .rule-edit').count(), 0);
  assert.equal(await mp.locator('#sla-rows .sla-edit').count(), 0);
  assert.equal(await mp.locator('#sla-add').isVisible(), false);
  assert.deepEqual(mp.errors, []);
  await mp.close();
  // an agent has no Routing tab
  const ap = await signIn(bo.email, bo.password);
  assert.equal(await hasTab(ap, 'routing'), false);
  await ap.close();
});
