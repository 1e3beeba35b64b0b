'use strict';
// console_quality.test.js — the console's Quality 质量 page in a real headless Chromium (Debian
// chromium driven by playwright-core), against the real binary and MariaDB. Seeded through the
// API and SQL: two teams (售后一组 with its manager, two agents; 大客户组 with one agent),
// tickets with CSAT ratings (csat_responses rows and tickets.csat) and flagged tickets. An
// admin sees the CSAT overview (average, count, distribution, satisfied share), CSAT by agent,
// team and channel, the flagged tickets (7/30/90 days), a live ticket.csat event updates the
// page, a flagged row opens its conversation; the admin edits the complaint keywords (adds
// 差劲 as urgent, removes one, saves; the API has the new list), an empty word is refused by
// the server (422) and said next to the word, a word already listed is caught at once. A
// manager sees only their team's (and unteamed) numbers and the keywords read-only; an agent
// has no Quality tab. Screenshots: var/screenshots/console-quality.png (admin),
// console-quality-manager.png.
const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const { launchChromium, openTab, hasTab } = require('./clients');
const { startServer, bootstrapAdmin, api, sql, dropDatabase, createAgent, until } = require('./harness');

const SHOTS = path.join(__dirname, '..', '..', 'var', 'screenshots');
let server, admin, a, browser, teamA, teamB, manager, zhang, li, wang;
const tk = {}; // name → ticket id

// a text value as an SQL literal that needs no escaping
const lit = (v) => (v === null || v === undefined ? 'NULL' : `CONVERT(X'${Buffer.from(String(v)).toString('hex')}' USING utf8mb4)`);

async function customer(name) {
  const r = await a.post('/api/v1/customers', { name });
  assert.equal(r.status, 201, r.text);
  return r.json.id;
}
async function ticket(cust, channel, subject, team, assignee) {
  const r = await a.post('/api/v1/tickets', { customer_id: cust, channel, subject, team_id: team.id, assignee_id: assignee.agent.id });
  assert.equal(r.status, 201, r.text);
  return r.json.id;
}
// a rating as csat.c stores it: one csat_responses row (who and where, as when solved) and tickets.csat
function rate(id, rating, agent, team, channel, daysAgo = 0) {
  sql(server, `INSERT INTO csat_responses (ticket_id, rating, comment, agent_id, team_id, channel, created_at)
    VALUES (${id}, ${rating}, ${lit(rating >= 4 ? '很好，谢谢' : '等太久了')}, ${agent.agent.id}, ${team.id}, '${channel}', NOW(3) - INTERVAL ${daysAgo} DAY);
    UPDATE tickets SET csat = ${rating}, status = 'solved' WHERE id = ${id}`);
}
function flag(id, reason, priority, hoursAgo) {
  sql(server, `UPDATE tickets SET flagged_at = NOW(3) - INTERVAL ${hoursAgo} HOUR, flag_reason = ${lit(reason)}, priority = '${priority}' WHERE id = ${id}`);
}

before(async () => {
  fs.mkdirSync(SHOTS, { recursive: true });
  server = await startServer({ env: { SWITCHBOARD_ROUTING_ENABLED: 'no' } });
  admin = await bootstrapAdmin(server);
  a = api(server, admin.token);
  teamA = (await a.post('/api/v1/teams', { name: '售后一组' })).json;
  teamB = (await a.post('/api/v1/teams', { name: '大客户组' })).json;
  manager = await createAgent(server, admin.token, { role: 'manager', name: '主管 陈静', team_id: teamA.id });
  zhang = await createAgent(server, admin.token, { role: 'agent', name: '客服小张', team_id: teamA.id });
  li = await createAgent(server, admin.token, { role: 'agent', name: '客服小李', team_id: teamA.id });
  wang = await createAgent(server, admin.token, { role: 'agent', name: '客服老王', team_id: teamB.id });
  sql(server, `UPDATE teams SET manager_id = ${manager.agent.id} WHERE id = ${teamA.id}`);

  const c = {};
  for (const n of ['王芳', '赵强', '刘洋', '陈晨', '孙丽', '周杰', '吴敏', '郑爽', '冯涛']) c[n] = await customer(n);
  // CSAT: 小张 5 5 4, 小李 5 3 (售后一组); 老王 2 1 (大客户组)
  tk.z1 = await ticket(c['刘洋'], 'chat', '订单查询', teamA, zhang); rate(tk.z1, 5, zhang, teamA, 'chat');
  tk.z2 = await ticket(c['陈晨'], 'email', '修改收货地址', teamA, zhang); rate(tk.z2, 5, zhang, teamA, 'email');
  tk.z3 = await ticket(c['孙丽'], 'chat', '优惠券无法使用', teamA, zhang); rate(tk.z3, 4, zhang, teamA, 'chat');
  tk.l1 = await ticket(c['周杰'], 'sms', '快递到哪了', teamA, li); rate(tk.l1, 5, li, teamA, 'sms');
  tk.l2 = await ticket(c['吴敏'], 'chat', '退货流程', teamA, li); rate(tk.l2, 3, li, teamA, 'chat');
  tk.w1 = await ticket(c['郑爽'], 'email', '合同盖章', teamB, wang); rate(tk.w1, 2, wang, teamB, 'email');
  tk.w2 = await ticket(c['冯涛'], 'email', '批量采购报价', teamB, wang); rate(tk.w2, 1, wang, teamB, 'email');
  // an old rating, outside 30 days (in 90)
  tk.old = await ticket(c['冯涛'], 'chat', '去年的问题', teamA, zhang); rate(tk.old, 1, zhang, teamA, 'chat', 45);
  // flagged: one of each team now, one of 售后一组 three weeks ago
  tk.f1 = await ticket(c['王芳'], 'chat', '退款一直没到账', teamA, zhang); flag(tk.f1, '投诉, 不满意', 'high', 2);
  tk.f2 = await ticket(c['赵强'], 'email', '发票开错了', teamB, wang); flag(tk.f2, '律师', 'urgent', 1);
  tk.f3 = await ticket(c['王芳'], 'sms', '上次的投诉', teamA, li); flag(tk.f3, '差评', 'high', 24 * 20);
  browser = await launchChromium();
});

after(async () => {
  if (browser) await browser.close();
  if (server) { await server.stop(); dropDatabase(server); }
});

async function signIn(who, viewport = { width: 1440, height: 1000 }) {
  const page = await browser.newPage({ viewport, locale: 'en-US' });
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
async function openQuality(page) {
  await openTab(page, 'quality');
  await page.waitForSelector('#q-overview #q-avg');
  await page.waitForSelector('#q-keywords .mk-card-head');
}
const text = (page, sel) => page.locator(sel).first().textContent();
const agentRows = (page) => page.locator('#q-by-agent tbody tr').evaluateAll((trs) => trs.map((tr) => [
  tr.querySelector('td.name .q-gname > span:last-child').textContent.trim(), tr.querySelector('td.count').textContent.trim(),
  tr.querySelector('.q-avg-v').textContent.trim(), tr.querySelector('td.sat').textContent.trim()]));
const distCounts = (page) => page.locator('#q-dist .q-dist-row').evaluateAll((rs) => rs.map((r) => [Number(r.dataset.rating), Number(r.dataset.count)]));
const flaggedIds = (page) => page.locator('#q-flagged tbody tr').evaluateAll((trs) => trs.map((tr) => Number(tr.dataset.id)));
const keywordsNow = async () => (await a.get('/api/v1/quality/keywords')).json.items.map((k) => [k.word, k.priority]);

let adminPage;

test('admin: CSAT overview, by agent/team/channel, flagged tickets, the period, a live rating, a row opens the ticket', async () => {
  const page = adminPage = await signIn(admin, { width: 1440, height: 1240 });
  assert.equal(await hasTab(page, 'quality'), true, 'admins have the Quality tab');
  await openQuality(page);
  assert.equal(await page.evaluate(() => location.hash), '#/quality');
  assert.equal(await page.getAttribute('#q-days button[data-days="30"]', 'aria-pressed'), 'true', '30 days by default');

  // overview: 7 ratings in 30 days, 25/7 = 3.57 → 3.6, four of them 4–5
  assert.equal(await text(page, '#q-avg'), '3.6');
  assert.equal(await page.getAttribute('#q-count', 'data-count'), '7');
  assert.match(await text(page, '#q-count'), /^7 responses · 条评价$/);
  assert.deepEqual(await distCounts(page), [[5, 3], [4, 1], [3, 1], [2, 1], [1, 1]]);
  assert.equal(await text(page, '#q-sat .q-sat-pct'), '57%');
  assert.equal(await page.getAttribute('#q-sat', 'data-satisfied'), '4');
  assert.equal(await text(page, '#q-sat .q-fact[data-key=flagged] .q-fact-n'), '3');
  // the stars are filled to the average
  const fill = await page.$eval('#q-overview .q-stars-fill', (e) => e.style.width);
  assert.equal(Math.round(parseFloat(fill)), Math.round((3.57 / 5) * 100));

  // by agent: sorted by count; the average with a bar; satisfied share
  assert.deepEqual(await agentRows(page), [['客服小张', '3', '4.7', '100%'], ['客服小李', '2', '4.0', '50%'], ['客服老王', '2', '1.5', '0%']]);
  const teams = await page.locator('#q-by-team tbody tr').evaluateAll((trs) => trs.map((tr) => [tr.querySelector('td.name').textContent.trim(), tr.querySelector('td.count').textContent]));
  assert.deepEqual(teams, [['售后一组', '5'], ['大客户组', '2']]);
  const chans = await page.locator('#q-by-channel tbody tr').evaluateAll((trs) => trs.map((tr) => [tr.dataset.k, tr.querySelector('td.count').textContent, tr.querySelector('.q-avg-v').textContent]));
  assert.deepEqual(chans.sort(), [['chat', '3', '4.0'], ['email', '3', '2.7'], ['sms', '1', '5.0']].sort());
  assert.equal(await page.$eval('#q-by-channel tbody tr', (tr) => ['chat', 'email'].includes(tr.dataset.k)), true);

  // flagged: newest first, keyword chips from flag_reason, priority, status, assignee
  assert.deepEqual(await flaggedIds(page), [tk.f2, tk.f1, tk.f3]);
  assert.equal(await text(page, '#q-flagged-count'), '3');
  const f1 = page.locator(`#q-flagged tr[data-id="${tk.f1}"]`);
  assert.deepEqual(await f1.locator('.q-kw-hit').allTextContents(), ['投诉', '不满意']);
  assert.match(await f1.textContent(), /王芳.*退款一直没到账.*#\d+.*High 高.*Open 处理中.*客服小张/);
  assert.match(await page.locator(`#q-flagged tr[data-id="${tk.f2}"]`).textContent(), /赵强.*发票开错了.*律师.*Urgent 紧急.*客服老王/);

  // the period: 7 days drops the flag of three weeks ago; 90 days brings the old rating
  await page.click('#q-days button[data-days="7"]');
  await page.waitForFunction(() => document.querySelectorAll('#q-flagged tbody tr').length === 2);
  assert.equal(await page.getAttribute('#q-days button[data-days="7"]', 'aria-pressed'), 'true');
  assert.match(await text(page, '#q-overview .q-period'), /last 7 days · 近7天/);
  await page.click('#q-days button[data-days="90"]');
  await page.waitForFunction(() => document.querySelector('#q-count').dataset.count === '8');
  assert.equal(await text(page, '#q-avg'), '3.3'); // 26 / 8 = 3.25
  assert.equal(await page.evaluate(() => localStorage.getItem('sb.quality.days')), '90', 'the period is remembered');
  await page.click('#q-days button[data-days="30"]');
  await page.waitForFunction(() => document.querySelector('#q-count').dataset.count === '7');

  // live: a rating arrives (ticket.csat): the page reloads the report by itself
  const extra = await ticket(Number(sql(server, `SELECT customer_id FROM tickets WHERE id = ${tk.z1}`)[0][0]), 'chat', '再次咨询', teamA, li);
  rate(extra, 5, li, teamA, 'chat');
  sql(server, `INSERT INTO events (kind, ticket_id, customer_id, agent_id, team_id, payload)
    SELECT 'ticket.csat', id, customer_id, assignee_id, team_id, JSON_OBJECT('ticket_id', id, 'rating', 5) FROM tickets WHERE id = ${extra}`);
  await page.waitForFunction(() => document.querySelector('#q-count').dataset.count === '8', null, { timeout: 5000 });
  assert.equal(await text(page, '#q-avg'), '3.8'); // 30 / 8 = 3.75
  assert.deepEqual((await agentRows(page))[1], ['客服小李', '3', '4.3', '67%']);
  assert.match(await text(page, '#q-state'), /Updated/);

  await page.screenshot({ path: path.join(SHOTS, 'console-quality.png'), fullPage: true });

  // a flagged row opens its conversation
  await f1.click();
  await page.waitForSelector(`#ticket-detail[data-ticket="${tk.f1}"] .flag-chip`);
  assert.equal(await page.isVisible('#view-tickets'), true);
  assert.equal(await page.isVisible('#view-quality'), false);
  assert.match(await text(page, '#ticket-detail .flag-chip'), /投诉, 不满意/);
  assert.match(await text(page, '#ticket-detail .conv-head'), /王芳/);
  assert.equal(await page.locator('.tab[data-view=tickets]').getAttribute('class'), 'tab active');
  // and back
  await page.goBack();
  await page.waitForSelector('#view-quality:not([hidden]) #q-avg');
  assert.deepEqual(page.errors, []);
});

test('admin: complaint keywords — add 差劲 (urgent), remove one, save; an empty word is refused next to it', async () => {
  const page = adminPage;
  const before = await keywordsNow();
  assert.ok(before.some(([w]) => w === '骗子'), 'the seeded list has 骗子');
  assert.equal(await page.locator('#q-kw-list .q-kw').count(), before.length);
  assert.equal(await page.isDisabled('#q-kw-save'), true, 'nothing to save yet');
  assert.equal(await page.isVisible('#q-kw-ro'), false);

  // add 差劲 as urgent (Enter in the box)
  await page.fill('#q-kw-new', '差劲');
  await page.selectOption('#q-kw-new-prio', 'urgent');
  await page.press('#q-kw-new', 'Enter');
  const added = page.locator('#q-kw-list .q-kw[data-word="差劲"]');
  await added.waitFor();
  assert.equal(await added.locator('select').inputValue(), 'urgent');
  assert.equal(await page.evaluate(() => document.activeElement.id), 'q-kw-new', 'ready for the next word');
  // a word already listed (case and full-width folded) is caught before saving
  await page.fill('#q-kw-new', 'ＣＯＭＰＬＡＩＮＴ');
  await page.click('#q-kw-add-btn');
  assert.match(await text(page, '#q-kw-add-error'), /“complaint” is already in the list/);
  // a reload of the page's data meanwhile (a second navigation, a live event; seen in CI)
  // keeps the unsaved word, the typed text and the message
  await page.evaluate(() => loadKeywords());
  assert.equal(await added.count(), 1, 'the unsaved word survives a reload');
  assert.equal(await page.inputValue('#q-kw-new'), 'ＣＯＭＰＬＡＩＮＴ');
  assert.match(await text(page, '#q-kw-add-error'), /“complaint” is already in the list/);
  await page.fill('#q-kw-new', '');
  // remove 骗子
  await page.locator('#q-kw-list .q-kw[data-word="骗子"] .q-kw-x').click();
  assert.equal(await page.locator('#q-kw-list .q-kw[data-word="骗子"]').count(), 0);
  assert.equal(await page.isDisabled('#q-kw-save'), false);
  assert.match(await text(page, '#q-kw-dirty'), /Unsaved changes/);
  await page.click('#q-kw-save');
  await page.waitForFunction(() => /Saved/.test(document.querySelector('#q-kw-dirty').textContent));
  assert.match(await text(page, '#toast'), /Complaint keywords saved/);
  const after1 = await keywordsNow();
  assert.deepEqual(after1, [...before.filter(([w]) => w !== '骗子'), ['差劲', 'urgent']]);
  assert.equal(await page.locator('#q-kw-list .q-kw').count(), after1.length);

  // an emptied word: the server's 422 (keywords[i].word) is said next to that word; nothing saved
  const first = page.locator('#q-kw-list .q-kw').first();
  await first.locator('.q-kw-word').fill('   ');
  await page.click('#q-kw-save');
  await page.waitForSelector('#q-kw-list .q-kw.invalid');
  assert.equal(await page.locator('#q-kw-list .q-kw.invalid').count(), 1);
  assert.equal(await page.locator('#q-kw-list .q-kw.invalid').getAttribute('data-index'), '0');
  assert.match(await text(page, '#q-kw-list .q-kw.invalid .q-kw-err'), /must not be empty/);
  assert.match(await text(page, '#q-kw-error'), /Not saved/);
  assert.equal(await page.evaluate(() => document.activeElement.closest('.q-kw').dataset.index), '0', 'the focus goes to the word');
  assert.deepEqual(await keywordsNow(), after1, 'nothing changed on the server');
  await page.screenshot({ path: path.join(SHOTS, 'console-quality-keywords-error.png'), clip: await page.locator('#q-keywords').boundingBox() });
  // typing clears the mark; Discard puts the saved list back
  await first.locator('.q-kw-word').fill('投诉');
  assert.equal(await page.locator('#q-kw-list .q-kw.invalid').count(), 0);
  await first.locator('.q-kw-word').fill('');
  await page.click('#q-kw-reset');
  assert.equal(await page.locator('#q-kw-list .q-kw').first().locator('.q-kw-word').inputValue(), after1[0][0]);
  assert.equal(await page.isDisabled('#q-kw-save'), true);
  assert.deepEqual(page.errors, []);
});

test('manager: their team\'s numbers only, keywords read-only', async () => {
  const page = await signIn(manager);
  assert.equal(await hasTab(page, 'quality'), true, 'managers have the Quality tab');
  await openQuality(page);
  // 售后一组 only: 5 5 4 5 3 and the live one (5) → 27 / 6 = 4.5
  assert.equal(await page.getAttribute('#q-count', 'data-count'), '6');
  assert.equal(await text(page, '#q-avg'), '4.5');
  assert.deepEqual(await distCounts(page), [[5, 4], [4, 1], [3, 1], [2, 0], [1, 0]]);
  assert.equal(await text(page, '#q-sat .q-sat-pct'), '83%');
  assert.deepEqual((await agentRows(page)).map((r) => r[0]), ['客服小张', '客服小李']);
  assert.deepEqual((await page.locator('#q-by-team tbody td.name').allTextContents()).map((x) => x.trim()), ['售后一组']);
  assert.deepEqual(await flaggedIds(page), [tk.f1, tk.f3], 'not the other team\'s flagged ticket');
  assert.match(await text(page, '#q-scope'), /Your team/);
  // keywords: read-only chips, the saved list
  assert.equal(await page.isVisible('#q-kw-ro'), true);
  assert.equal(await page.locator('#q-kw-save').count(), 0);
  assert.equal(await page.locator('#q-kw-list').count(), 0);
  const chips = await page.locator('#q-kw-chips .q-kw-chip').evaluateAll((cs) => cs.map((c) => c.dataset.word));
  assert.deepEqual(chips, (await keywordsNow()).map(([w]) => w));
  assert.match(await page.locator('#q-kw-chips .q-kw-chip[data-word="差劲"]').textContent(), /Urgent 紧急/);
  await page.screenshot({ path: path.join(SHOTS, 'console-quality-manager.png'), fullPage: true });
  assert.deepEqual(page.errors, []);
  await page.close();
});

test('nothing in the period: the empty states', async () => {
  const page = adminPage;
  sql(server, `UPDATE csat_responses SET created_at = NOW(3) - INTERVAL 200 DAY; UPDATE tickets SET flagged_at = NOW(3) - INTERVAL 200 DAY WHERE flagged_at IS NOT NULL`);
  await openTab(page, 'quality');
  await page.click('#q-days button[data-days="7"]');
  // the 7-day report drawn (a 30-day one, also empty now, may be drawn first)
  await page.waitForFunction(() => document.querySelector('#q-count').dataset.count === '0' &&
    /last 7 days/.test((document.querySelector('#q-overview .q-empty-note') || {}).textContent || '') &&
    /last 7 days/.test((document.querySelector('#q-flagged .q-empty') || {}).textContent || ''));
  assert.equal(await text(page, '#q-avg'), '—');
  assert.equal(await text(page, '#q-sat .q-sat-pct'), '—');
  assert.match(await text(page, '#q-overview .q-empty-note'), /No ratings in the last 7 days/);
  for (const id of ['#q-by-agent', '#q-by-team', '#q-by-channel']) {
    assert.match(await text(page, `${id} .q-empty`), /No ratings in the last 7 days.*暂无评价/);
    assert.equal(await page.locator(`${id} table`).count(), 0);
  }
  assert.match(await text(page, '#q-flagged .q-empty'), /No flagged tickets in the last 7 days.*本期没有投诉工单/);
  assert.equal(await text(page, '#q-flagged-count'), '0');
  await page.screenshot({ path: path.join(SHOTS, 'console-quality-empty.png') });
  assert.deepEqual(page.errors, []);
  await page.close();
});

test('an agent has no Quality tab, and its address lands on the conversations', async () => {
  const page = await signIn(zhang);
  assert.equal(!(await hasTab(page, 'quality')), true);
  await page.evaluate(() => { location.hash = '#/quality'; });
  await until(async () => (await page.evaluate(() => location.hash)) === '', 3000, 'back to the conversations');
  assert.equal(await page.isVisible('#view-tickets'), true);
  assert.equal(await page.isHidden('#view-quality'), true);
  assert.deepEqual(page.errors, []);
  await page.close();
});
