'use strict';
// console_crm.test.js — the console's CRM pages in a real headless Chromium (Debian
// chromium driven by playwright-core), against the real binary and MariaDB:
// the customer 360 page with Chinese data (header, lifecycle, tags, custom fields edited in
// place with the server's 422 reasons, deals, follow-ups with the add form, reminders,
// attachments, opt-outs, the timeline and its "load older" pages), opened from the
// customer list and from a ticket's customer panel; the pipeline kanban (HTML5 drag and
// drop, synthetic drag events, the accessible stage menu, the lost-reason dialog, a refused
// move going back, a new deal, live moves), leads (filters, new lead, convert),
// duplicates (side by side, merge with confirmation), CSV import (dry run, import, GBK),
// the reminders bell (done, live reminder.due) and the custom fields admin page; tabs by
// role. Screenshots go to var/screenshots/crm-*.png.
const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const { spawnSync } = require('node:child_process');
const { launchChromium, openTab, hasTab } = require('./clients');
const { startServer, bootstrapAdmin, api, sql, dropDatabase, createAgent, until } = require('./harness');

const SHOTS = path.join(__dirname, '..', '..', 'var', 'screenshots');
const HOSTILE = '<img src=x onerror="window.__xss=1">';
let server, admin, a, browser;
let stages, cust, ticketId, dealId, attId, sales;

// a text value as an SQL literal that needs no escaping
const lit = (v) => (v === null || v === undefined ? 'NULL' : `CONVERT(X'${Buffer.from(String(v)).toString('hex')}' USING utf8mb4)`);
const stageId = (kind, i = 0) => stages.filter((s) => s.kind === kind)[i].id;

before(async () => {
  fs.mkdirSync(SHOTS, { recursive: true });
  server = await startServer({ env: { SWITCHBOARD_CRM_INTERVAL_SECS: '1' } }); // the CRM worker delivers reminders
  admin = await bootstrapAdmin(server);
  a = api(server, admin.token);
  browser = await launchChromium();
  stages = (await a.get('/api/v1/pipeline-stages')).json.items.sort((x, y) => x.position - y.position);

  // the customer of the 360 page, all in Chinese, seeded through the REST API
  for (const f of [{ key: 'budget', label: '预算 Budget', type: 'number', position: 10 },
    { key: 'level', label: '客户级别', type: 'select', options: ['金牌', '银牌', { value: 'bronze', label: '铜牌' }], position: 20 }]) {
    const r = await a.post('/api/v1/field-defs', f);
    assert.equal(r.status, 201, r.text);
  }
  const c = await a.post('/api/v1/customers', {
    name: '张伟', company: '深圳华为技术有限公司', email: 'zhangwei@example.cn', phone: '13800138000', industry: '通信',
    region: '华南', type: 'new', stage: 'potential', tags: ['重要客户'], attrs: { budget: 500000, level: '金牌' },
  });
  assert.equal(c.status, 201, c.text);
  cust = c.json;
  const act = await a.post('/api/v1/activities', { customer_id: cust.id, method: 'call', content: '电话沟通，客户对服务器采购感兴趣',
    next_step: '发送报价单', next_at: '2030-11-30' });
  assert.equal(act.status, 201, act.text);
  const d = await a.post('/api/v1/deals', { customer_id: cust.id, title: '服务器采购', amount: 120000, currency: 'CNY', expected_close: '2030-12-31' });
  assert.equal(d.status, 201, d.text);
  dealId = d.json.id;
  const t = await a.post('/api/v1/tickets', { customer_id: cust.id, channel: 'email', subject: '询价：服务器' });
  assert.equal(t.status, 201, t.text);
  ticketId = t.json.id;
  const m = await a.post(`/api/v1/tickets/${ticketId}/messages`, { body_text: '张先生您好，报价单见附件。' });
  assert.equal(m.status, 201, m.text);
  // no REST route stores an attachment or an opt-out: straight into the tables
  sql(server, `INSERT INTO attachments (message_id, filename, content_type, size, sha256) VALUES (${m.json.id}, ${lit('报价单.pdf')},
    'application/pdf', 48213, '${'ab'.repeat(32)}')`);
  attId = Number(sql(server, 'SELECT MAX(id) FROM attachments')[0][0]);
  sql(server, `INSERT INTO suppressions (channel, value, reason) VALUES ('email', 'zhangwei@example.cn', 'unsubscribed')`);
  sales = await createAgent(server, admin.token, { role: 'sales', name: '李明 Li Ming', region: '华南' });
});

after(async () => {
  if (browser) await browser.close();
  if (server) { await server.stop(); dropDatabase(server); }
});

async function signIn(email, password, viewport = { width: 1440, height: 900 }) {
  const page = await browser.newPage({ viewport, locale: 'en-US' }); // dates and amounts as asserted below
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
const hash = (page) => page.evaluate(() => location.hash);
const text = (page, sel) => page.locator(sel).first().textContent();
async function noScriptRan(page) {
  assert.equal(await page.evaluate(() => window.__xss), undefined, 'no script ran from data');
  assert.equal(await page.locator('img[src=x]').count(), 0, 'no element made from data');
}

let adminPage;

test('customer 360: Chinese data, lifecycle, custom fields, deals, follow-ups, timeline, attachments, opt-outs', async () => {
  const page = adminPage = await signIn(admin.agent.email, admin.password, { width: 1440, height: 1500 });
  await openTab(page, 'customers');
  await page.fill('#customer-q', '张伟');
  await page.locator(`#customer-rows tr[data-id="${cust.id}"]`).click();
  await page.waitForSelector(`#c360[data-customer="${cust.id}"] .c360-name`);
  assert.equal(await hash(page), `#/customers/${cust.id}`);
  assert.equal(await page.locator('.tab[data-view=customers]').getAttribute('class'), 'tab active', 'the Customers tab stays lit');

  const stored = (await a.get(`/api/v1/customers/${cust.id}`)).json;
  const head = await text(page, '.c360-head');
  for (const s of ['张伟', stored.customer_no, '深圳华为技术有限公司', '通信', '华南', '重要客户', '¥120,000']) assert.ok(head.includes(s), `header shows ${s}: ${head}`);
  assert.equal(await page.locator('.lifecycle .lc.current .lc-chip').getAttribute('data-stage'), stored.stage);
  assert.equal(await page.locator('.lifecycle .lc-chip').count(), 7, 'six lifecycle stages and churned');
  // custom fields: labels from /field-defs, values formatted
  const cf = await text(page, '.cf-list');
  assert.match(cf, /预算 Budget\s*500,000/);
  assert.match(cf, /客户级别\s*金牌/);
  // the deal, the follow-up, the open reminder, identities, the file, the opt-out
  const deal = page.locator(`.deal-row[data-deal="${dealId}"]`);
  assert.match(await deal.textContent(), /服务器采购.*¥120,000.*萌芽 Budding/);
  assert.match(await text(page, '.fu-list'), /Call 电话.*电话沟通，客户对服务器采购感兴趣.*发送报价单/);
  assert.match(await text(page, '.rem-card'), /发送报价单/);
  assert.equal(await page.locator('.profile-card .ident').count(), 2);
  assert.equal(await page.locator('.profile-card .badge.verified').count(), 2);
  const att = page.locator('.att-card a.att');
  assert.equal(await att.getAttribute('href'), `/api/v1/attachments/${attId}/content`);
  assert.match(await att.textContent(), /报价单\.pdf/);
  assert.match(await text(page, '.optout-card'), /zhangwei@example\.cn.*unsubscribed/);
  // the timeline: every kind, newest first
  const kinds = await page.locator('.timeline .tl-item').evaluateAll((els) => els.map((e) => e.dataset.kind));
  for (const k of ['message', 'activity', 'deal_stage', 'stage']) assert.ok(kinds.includes(k), `timeline has ${k}: ${kinds}`);
  const times = await page.locator('.timeline .tl-item time').evaluateAll((els) => els.map((e) => Date.parse(e.dateTime)));
  assert.deepEqual(times, [...times].sort((x, y) => y - x), 'newest first');
  assert.match(await text(page, '.tl-message'), /张先生您好，报价单见附件。/);
  assert.match(await text(page, '.tl-deal_stage'), /New deal “服务器采购” in 萌芽 Budding/);
  assert.match(await text(page, '.tl-activity'), /Follow-up · Call 电话.*电话沟通/);
  await page.screenshot({ path: path.join(SHOTS, 'crm-360.png') });
  assert.deepEqual(page.errors, []);
});

test('customer 360: add a follow-up, tag and untag, custom fields with the server\'s reasons, lifecycle click', async () => {
  const page = adminPage;
  // follow-up: the server's reason next to the field, then stored
  await page.click('.fu-save');
  await page.waitForFunction(() => document.querySelector('.fu-form .field-error[data-for=content]').textContent.length > 0);
  assert.match(await text(page, '.fu-form .field-error[data-for=content]'), /must not be empty/);
  await page.selectOption('.fu-method', 'visit');
  await page.fill('.fu-content', '上门拜访，演示存储方案');
  await page.fill('.fu-next', '签合同');
  await page.fill('.fu-date', '2030-01-15');
  await page.click('.fu-save');
  await page.waitForFunction(() => document.querySelector('.fu-list').textContent.includes('上门拜访，演示存储方案'));
  const acts = (await a.get(`/api/v1/activities?customer_id=${cust.id}`)).json.items;
  const visit = acts.find((x) => x.content === '上门拜访，演示存储方案');
  assert.ok(visit, JSON.stringify(acts));
  assert.equal(visit.method, 'visit');
  assert.equal(visit.next_step, '签合同');
  assert.match(visit.next_at, /^2030-01-15/);
  await page.waitForFunction(() => [...document.querySelectorAll('.tl-activity')].some((e) => e.textContent.includes('Visit 拜访')));
  assert.equal(await page.inputValue('.fu-content'), '', 'the form is cleared');

  // tags
  await page.fill('.tag-add input', 'VIP客户');
  await page.press('.tag-add input', 'Enter');
  await until(async () => (await a.get(`/api/v1/customers/${cust.id}`)).json.tags.includes('VIP客户'), 5000, 'tag added');
  await page.waitForSelector('.tag-x[aria-label="Remove tag VIP客户"]');
  await page.click('.tag-x[aria-label="Remove tag VIP客户"]');
  await until(async () => !(await a.get(`/api/v1/customers/${cust.id}`)).json.tags.includes('VIP客户'), 5000, 'tag removed');
  await page.waitForFunction(() => !document.querySelector('.c360-tags').textContent.includes('VIP客户'));
  assert.ok((await text(page, '.c360-tags')).includes('重要客户'));

  // custom fields in place: a bad number is refused by the server, its reason shown by the field
  await page.click('.cf-list dd[data-key=budget]');
  await page.fill('#cf-budget', 'abc');
  await page.selectOption('#cf-level', 'bronze');
  await page.click('.cf-form button[type=submit]');
  const err = page.locator('.cf-form .field-error[data-for="attrs.budget"]');
  await page.waitForFunction(() => document.querySelector('.cf-form .field-error[data-for="attrs.budget"]').textContent.length > 0);
  assert.match(await err.textContent(), /must be a number/);
  assert.equal((await a.get(`/api/v1/customers/${cust.id}`)).json.attrs.level, '金牌', 'nothing stored');
  await page.fill('#cf-budget', '800000');
  await page.click('.cf-form button[type=submit]');
  await page.waitForSelector('.cf-list');
  assert.match(await text(page, '.cf-list'), /预算 Budget\s*800,000.*客户级别\s*铜牌/);
  assert.deepEqual((await a.get(`/api/v1/customers/${cust.id}`)).json.attrs, { budget: 800000, level: 'bronze' });

  // lifecycle: a click sets the stage
  await page.click('.lifecycle .lc-chip[data-stage=proposal]');
  await until(async () => (await a.get(`/api/v1/customers/${cust.id}`)).json.stage === 'proposal', 5000, 'stage proposal');
  await page.waitForFunction(() => document.querySelector('.lifecycle .lc.current .lc-chip').dataset.stage === 'proposal');
  assert.equal(await page.locator('.lifecycle .lc.done').count(), 2, 'potential and contacted are behind');
  await page.waitForFunction(() => [...document.querySelectorAll('.tl-stage')].some((e) => /→ Proposal 方案/.test(e.textContent)));
  assert.deepEqual(page.errors, []);
});

test('customer 360 opens from a ticket\'s customer panel; the back button returns', async () => {
  const page = adminPage;
  await openTab(page, 'tickets');
  assert.equal(await hash(page), '');
  await page.click('.queue[data-queue=all]');
  await page.locator(`#ticket-list li[data-id="${ticketId}"]`).click();
  await page.locator('#customer-panel .open-360').click();
  await page.waitForSelector(`#c360[data-customer="${cust.id}"] .c360-name`);
  assert.equal(await hash(page), `#/customers/${cust.id}`);
  assert.equal(await page.locator('#view-customer').isVisible(), true);
  await page.goBack();
  await page.waitForFunction(() => !document.querySelector('#view-tickets').hidden);
  // and a conversation opens from the 360 page
  await page.goForward();
  await page.waitForSelector(`#c360[data-customer="${cust.id}"] .tickets-card .recent`);
  await page.click('.tickets-card .recent');
  await page.waitForFunction((id) => document.querySelector('#ticket-detail').dataset.ticket === String(id), ticketId);
  assert.deepEqual(page.errors, []);
});

test('customer 360: the timeline pages through older items with ?before=, none lost or repeated', async () => {
  const c = (await a.post('/api/v1/customers', { name: '时间线 测试', company: '测试公司' })).json;
  for (let i = 1; i <= 70; i++) {
    const r = await a.post('/api/v1/activities', { customer_id: c.id, method: i % 2 ? 'call' : 'wechat', content: `第${i}次跟进` });
    assert.equal(r.status, 201, r.text);
  }
  const all = (await a.get(`/api/v1/customers/${c.id}/timeline?limit=200`)).json.items;
  assert.equal(all.length, 71, '70 follow-ups and the creation');
  const page = adminPage;
  await page.evaluate((id) => { location.hash = '#/customers/' + id; }, c.id);
  await page.waitForSelector(`#c360[data-customer="${c.id}"] .tl-more`);
  assert.equal(await page.locator('.timeline .tl-item').count(), 50);
  while (await page.locator('#c360 .tl-start').count() === 0) {
    await page.locator('.tl-more').click();
    await page.waitForSelector('#c360 .tl-more, #c360 .tl-start');
  }
  const shown = await page.locator('.timeline .tl-activity .tl-text').allTextContents();
  assert.equal(await page.locator('.timeline .tl-item').count(), 71);
  assert.equal(new Set(shown).size, 70, 'each follow-up once');
  assert.deepEqual(page.errors, []);
});

// where a deal's card is: the stage id of its column
const cardStage = (page, id) => page.locator(`.kcard[data-deal="${id}"]`).evaluate((c) => Number(c.closest('.kcol').dataset.stage));
async function waitCardIn(page, id, stage) {
  await page.waitForFunction(({ id, stage }) => {
    const c = document.querySelector(`.kcard[data-deal="${id}"]`);
    return c && !c.classList.contains('saving') && c.closest('.kcol').dataset.stage === String(stage);
  }, { id, stage }, { timeout: 5000 });
}
const dealNow = async (id) => (await a.get(`/api/v1/deals/${id}`)).json;

test('pipeline: columns per stage with totals; drag and drop, synthetic drag events and the stage menu move a deal; it survives a reload', async () => {
  const page = adminPage;
  await page.setViewportSize({ width: 1440, height: 900 });
  const [b1, b2, b3] = [stageId('open', 0), stageId('open', 1), stageId('open', 2)];
  const won = stageId('won');
  const other = (await a.post('/api/v1/deals', { customer_id: cust.id, title: '存储扩容 ' + HOSTILE, amount: 30000, currency: 'CNY' })).json;
  await openTab(page, 'pipeline');
  assert.equal(await hash(page), '#/pipeline');
  await page.waitForSelector(`.kcard[data-deal="${dealId}"]`);
  const cols = await page.locator('.kcol').evaluateAll((els) => els.map((e) => Number(e.dataset.stage)));
  assert.deepEqual(cols, stages.filter((s) => s.active).map((s) => s.id), 'one column per active stage, in order');
  const card = page.locator(`.kcard[data-deal="${dealId}"]`);
  assert.equal(await cardStage(page, dealId), b1);
  assert.match(await card.textContent(), /服务器采购.*张伟.*¥120,000.*Admin.*Dec 31, 2030/);
  assert.match(await text(page, `.kcol[data-stage="${b1}"] .ktotal`), /2 deals\s*¥150,000/);
  await noScriptRan(page);

  // 1. real HTML5 drag and drop with the mouse (playwright's dragTo)
  await card.dragTo(page.locator(`.kcol[data-stage="${b2}"] .kcards`));
  await until(async () => (await dealNow(dealId)).stage_id === b2, 5000, 'the drag stored');
  await waitCardIn(page, dealId, b2);
  assert.match(await text(page, `.kcol[data-stage="${b2}"] .ktotal`), /1 deal\s*¥120,000/);
  assert.match(await text(page, `.kcol[data-stage="${b1}"] .ktotal`), /1 deal\s*¥30,000/);

  // 2. the same with dispatched dragstart / dragover / drop events
  await page.evaluate(({ id, to }) => {
    const c = document.querySelector(`.kcard[data-deal="${id}"]`);
    const col = document.querySelector(`.kcol[data-stage="${to}"]`);
    const dt = new DataTransfer();
    c.dispatchEvent(new DragEvent('dragstart', { bubbles: true, cancelable: true, dataTransfer: dt }));
    const over = new DragEvent('dragover', { bubbles: true, cancelable: true, dataTransfer: dt });
    col.querySelector('.kcards').dispatchEvent(over);
    if (!over.defaultPrevented) throw new Error('the column did not accept the drag');
    col.querySelector('.kcards').dispatchEvent(new DragEvent('drop', { bubbles: true, cancelable: true, dataTransfer: dt }));
    c.dispatchEvent(new DragEvent('dragend', { bubbles: true, dataTransfer: dt }));
  }, { id: dealId, to: b3 });
  await until(async () => (await dealNow(dealId)).stage_id === b3, 5000, 'the dispatched drop stored');
  await waitCardIn(page, dealId, b3);

  // 3. the accessible way: the stage menu on the card
  await page.selectOption(`.kcard[data-deal="${dealId}"] .kc-stage`, String(won));
  await until(async () => (await dealNow(dealId)).status === 'won', 5000, 'won through the menu');
  await waitCardIn(page, dealId, won);
  assert.equal(await page.evaluate(() => document.activeElement && document.activeElement.className), 'kc-stage', 'focus stays on the menu');
  assert.match(await card.textContent(), /Won /);
  const d = await dealNow(dealId);
  assert.deepEqual(d.history.map((h) => h.to_stage_id), [b1, b2, b3, won]);

  // the move survives a reload (the address keeps the page)
  await page.reload();
  await page.waitForSelector(`.kcard[data-deal="${dealId}"]`);
  assert.equal(await hash(page), '#/pipeline');
  assert.equal(await cardStage(page, dealId), won);
  assert.equal(await cardStage(page, other.id), b1);
  // a move made elsewhere arrives live (deal.* over the socket)
  await a.patch(`/api/v1/deals/${other.id}`, { stage_id: b2 });
  await waitCardIn(page, other.id, b2);
  await noScriptRan(page);
  assert.deepEqual(page.errors, []);
});

test('pipeline: a lost stage asks why (server 422 shown), a refused move goes back with the reason, a new deal from the form', async () => {
  const page = adminPage;
  const [b1, b2] = [stageId('open', 0), stageId('open', 1)];
  const lost = stageId('lost');
  const dl = (await a.post('/api/v1/deals', { customer_id: cust.id, title: '机房改造', amount: 88000, currency: 'CNY' })).json;
  await page.reload();
  await page.waitForSelector(`.kcard[data-deal="${dl.id}"]`);

  // dropped on the lost column: the reason dialog; cancel leaves it where it was
  await page.evaluate(({ id, to }) => {
    const dt = new DataTransfer();
    document.querySelector(`.kcard[data-deal="${id}"]`).dispatchEvent(new DragEvent('dragstart', { bubbles: true, dataTransfer: dt }));
    const col = document.querySelector(`.kcol[data-stage="${to}"]`);
    col.dispatchEvent(new DragEvent('dragover', { bubbles: true, cancelable: true, dataTransfer: dt }));
    col.dispatchEvent(new DragEvent('drop', { bubbles: true, cancelable: true, dataTransfer: dt }));
  }, { id: dl.id, to: lost });
  await page.waitForSelector('#lost-dialog[open]');
  assert.match(await text(page, '#lost-deal'), /机房改造.*丢单 Lost/);
  await page.click('#lost-cancel');
  assert.equal(await cardStage(page, dl.id), b1);
  assert.equal((await dealNow(dl.id)).stage_id, b1);

  // through the menu: no reason → the server's 422 next to the field; then a reason
  await page.selectOption(`.kcard[data-deal="${dl.id}"] .kc-stage`, String(lost));
  await page.waitForSelector('#lost-dialog[open]');
  await page.click('#lost-ok');
  await page.waitForFunction(() => document.querySelector('#lost-form .field-error[data-for=win_loss_reason]').textContent.length > 0);
  assert.match(await text(page, '#lost-form .field-error[data-for=win_loss_reason]'), /required/);
  assert.equal((await dealNow(dl.id)).stage_id, b1, 'nothing stored');
  await page.fill('#lost-reason', '预算不足，明年再议');
  await page.fill('#lost-competitor', '某竞争对手');
  await page.click('#lost-ok');
  await page.waitForFunction(() => !document.querySelector('#lost-dialog').open);
  await waitCardIn(page, dl.id, lost);
  const stored = await dealNow(dl.id);
  assert.equal(stored.status, 'lost');
  assert.equal(stored.win_loss_reason, '预算不足，明年再议');
  assert.equal(stored.competitor, '某竞争对手');
  assert.match(await page.locator(`.kcard[data-deal="${dl.id}"] .kc-reason`).textContent(), /预算不足/);

  // a move the server refuses (the stage was retired meanwhile): back in place, reason on the card
  const back = (await a.post('/api/v1/deals', { customer_id: cust.id, title: '网络设备', amount: 5000, currency: 'USD' })).json;
  await page.reload();
  await page.waitForSelector(`.kcard[data-deal="${back.id}"]`);
  assert.match(await page.locator(`.kcard[data-deal="${back.id}"] .kc-amount`).textContent(), /^\$5,000$/);
  sql(server, `UPDATE pipeline_stages SET active = 0 WHERE id = ${b2}`);
  try {
    await page.selectOption(`.kcard[data-deal="${back.id}"] .kc-stage`, String(b2));
    await page.waitForSelector(`.kcard[data-deal="${back.id}"] .kc-error`);
    assert.match(await page.locator(`.kcard[data-deal="${back.id}"] .kc-error`).textContent(), /Not moved: no such active pipeline stage/);
    assert.equal(await cardStage(page, back.id), b1, 'the card went back');
    assert.equal(await page.inputValue(`.kcard[data-deal="${back.id}"] .kc-stage`), String(b1));
    assert.equal((await dealNow(back.id)).stage_id, b1);
  } finally {
    sql(server, `UPDATE pipeline_stages SET active = 1 WHERE id = ${b2}`);
  }

  // a new deal: customer search, title, amount, currency, expected close
  await page.click('#deal-new');
  await page.waitForSelector('#deal-dialog[open]');
  await page.click('#deal-save');
  await page.waitForFunction(() => document.querySelector('#deal-form .field-error[data-for=title]').textContent.length > 0);
  assert.match(await text(page, '#deal-form .field-error[data-for=customer_id]'), /required/);
  await page.fill('#deal-customer-q', '张伟');
  await page.waitForSelector(`#deal-customer-list li#pick-${cust.id}`);
  await page.click(`#deal-customer-list li#pick-${cust.id}`);
  assert.match(await page.inputValue('#deal-customer-q'), /^张伟 · C\d+/);
  await page.fill('#deal-title', '云存储年度合同');
  await page.fill('#deal-amount', '256,000.50');
  await page.selectOption('#deal-currency', 'CNY');
  await page.fill('#deal-close', '2031-03-31');
  await page.click('#deal-save');
  await page.waitForFunction(() => !document.querySelector('#deal-dialog').open);
  const made = (await a.get(`/api/v1/deals?customer_id=${cust.id}&status=open`)).json.items.find((x) => x.title === '云存储年度合同');
  assert.ok(made);
  assert.equal(made.amount, 256000.5);
  assert.equal(made.expected_close, '2031-03-31');
  assert.equal(made.stage_id, b1);
  await waitCardIn(page, made.id, b1);
  assert.match(await page.locator(`.kcard[data-deal="${made.id}"]`).textContent(), /云存储年度合同.*¥256,000\.50/);
  assert.match(await text(page, '#pipe-summary'), /Open pipeline/);
  await page.screenshot({ path: path.join(SHOTS, 'crm-pipeline.png') });
  assert.deepEqual(page.errors, []);
});

test('leads: owner and assigned_by shown, filters, a new lead, convert', async () => {
  for (const l of [{ name: '王磊', company: '上海电气', grade: 'A', source: '展会', phone: '13700001111' },
    { name: 'Emily Chen', company: 'Acme Trading Ltd', grade: 'C', email: 'emily@acme.test', region: '华南' },
    { name: HOSTILE + '刘强', grade: 'B' }]) {
    const r = await a.post('/api/v1/leads', l);
    assert.equal(r.status, 201, r.text);
  }
  const page = adminPage;
  await openTab(page, 'leads');
  await page.waitForSelector('#lead-rows tr[data-lead]');
  assert.equal(await page.locator('#lead-rows tr[data-lead]').count(), 3);
  const emily = page.locator('#lead-rows tr', { hasText: 'Emily Chen' });
  assert.match(await emily.locator('.lead-owner').textContent(), /李明 Li Ming\s*assigned by region/);
  await noScriptRan(page);
  await page.selectOption('#lead-grade', 'A');
  await page.waitForFunction(() => document.querySelectorAll('#lead-rows tr[data-lead]').length === 1);
  assert.match(await text(page, '#lead-rows'), /王磊.*上海电气.*13700001111.*展会/);
  await page.selectOption('#lead-grade', '');
  await page.waitForFunction(() => document.querySelectorAll('#lead-rows tr[data-lead]').length === 3);

  // the form, with the server's reasons
  await page.click('#lead-new');
  await page.fill('#lead-phone', '123');
  await page.click('#lead-save');
  await page.waitForFunction(() => document.querySelector('#lead-form .field-error[data-for=phone]').textContent.length > 0);
  assert.match(await text(page, '#lead-form .field-error[data-for=name]'), /must not be empty/);
  await page.fill('#lead-name', '陈晨');
  await page.fill('#lead-company', '广州云启科技有限公司');
  await page.fill('#lead-phone', '13912345678');
  await page.fill('#lead-region', '华南');
  await page.selectOption('#lead-grade-in', 'A');
  await page.click('#lead-save');
  await page.waitForFunction(() => !document.querySelector('#lead-dialog').open);
  const row = page.locator('#lead-rows tr', { hasText: '陈晨' });
  await row.waitFor();
  assert.match(await row.textContent(), /广州云启科技有限公司.*\+8613912345678.*A.*华南.*李明 Li Ming.*assigned by region/);
  const lead = (await a.get('/api/v1/leads?q=' + encodeURIComponent('陈晨'))).json.items[0];
  assert.equal(lead.owner_id, sales.id);
  assert.equal(lead.assigned_by, 'region');

  // convert it into a customer and a deal
  await row.locator('.lead-convert').click();
  await page.waitForSelector('#convert-dialog[open]');
  assert.equal(await page.inputValue('#convert-deal-title'), '广州云启科技有限公司 — 陈晨');
  await page.fill('#convert-amount', '66000');
  await page.click('#convert-ok');
  await page.waitForFunction(() => !document.querySelector('#convert-dialog').open);
  await page.waitForFunction(() => [...document.querySelectorAll('#lead-rows tr')].some((r) => r.textContent.includes('陈晨') && r.textContent.includes('Converted')));
  const conv = (await a.get(`/api/v1/leads/${lead.id}`)).json;
  assert.equal(conv.status, 'converted');
  assert.ok(conv.customer_id && conv.deal_id);
  assert.equal((await dealNow(conv.deal_id)).amount, 66000);
  await page.screenshot({ path: path.join(SHOTS, 'crm-leads.png') });
  await page.locator('#lead-rows tr', { hasText: '陈晨' }).locator('button', { hasText: 'Customer' }).click();
  await page.waitForSelector(`#c360[data-customer="${conv.customer_id}"] .c360-name`);
  assert.match(await text(page, '.c360-name'), /陈晨/);
  assert.deepEqual(page.errors, []);
});

test('duplicates: pairs side by side with their reasons; merge asks first, then merges', async () => {
  const dup = await a.post('/api/v1/customers?allow_duplicate=1', { name: '张伟（微信）', email: 'zhangwei@example.cn', phone: '13800138000' });
  assert.equal(dup.status, 201, dup.text);
  const wang = await a.post('/api/v1/customers', { name: 'Wang Fang 王芳', company: '深圳华为技术股份有限公司', email: 'wangfang@example.cn' });
  assert.equal(wang.status, 201, wang.text);
  const page = adminPage;
  await page.evaluate(() => { location.hash = '#/duplicates'; });
  const card = page.locator('.dup-card').filter({ has: page.locator(`.dup-side[data-customer="${dup.json.id}"]`) })
    .filter({ has: page.locator(`.dup-side[data-customer="${cust.id}"]`) });
  await card.waitFor();
  assert.equal(await page.locator('#view-duplicates .subtab.active').textContent(), 'Duplicates 查重');
  const reasons = await card.locator('.dup-head').textContent();
  assert.match(reasons, /Same e-mail 相同邮箱: zhangwei@example\.cn/);
  assert.match(reasons, /Same phone 相同电话: \+8613800138000/);
  await card.locator(`.dup-side[data-customer="${dup.json.id}"] dl.facts`).waitFor();
  await card.locator(`.dup-side[data-customer="${cust.id}"] dl.facts`).waitFor();
  assert.match(await card.locator(`.dup-side[data-customer="${cust.id}"]`).textContent(), /张伟.*深圳华为技术有限公司.*zhangwei@example\.cn/);
  assert.match(await card.locator(`.dup-side[data-customer="${dup.json.id}"]`).textContent(), /张伟（微信）.*unverified/);
  assert.ok(await card.locator(`.dup-side[data-customer="${dup.json.id}"] dd.hit`).count() >= 1, 'the shared values are marked');
  await page.screenshot({ path: path.join(SHOTS, 'crm-duplicates.png') });

  // a pair that is not one: kept apart, not proposed again
  const other = page.locator('.dup-card').filter({ has: page.locator(`.dup-side[data-customer="${wang.json.id}"]`) });
  assert.match(await other.locator('.dup-head').textContent(), /Same company 相同公司: 深圳华为技术有限公司/);
  await other.locator('.dup-dismiss').click();
  await other.waitFor({ state: 'detached' });
  const pairs = (await a.get('/api/v1/customers/duplicates')).json.items;
  assert.equal(pairs.some((p) => [p.a.id, p.b.id].includes(wang.json.id)), false, 'dismissed for good');

  const side = await card.locator(`.dup-side[data-customer="${cust.id}"]`).getAttribute('data-side');
  const mergeBtn = card.locator(side === 'left' ? '.merge-left' : '.merge-right');
  await mergeBtn.click();
  assert.match(await card.locator('.merge-confirm').textContent(), /Merge 张伟（微信）.* into 张伟 .*cannot be undone/);
  await card.locator('.merge-no').click();
  assert.equal(await card.locator('.merge-confirm').count(), 0);
  assert.equal((await a.get(`/api/v1/customers/${dup.json.id}`)).json.id, dup.json.id, 'not merged yet');
  await mergeBtn.click();
  await card.locator('.merge-yes').click();
  await until(async () => (await a.get(`/api/v1/customers/${dup.json.id}`)).json.resolved_from === dup.json.id, 5000, 'merged');
  assert.equal((await a.get(`/api/v1/customers/${dup.json.id}`)).json.id, cust.id);
  await page.waitForFunction((id) => !document.querySelector(`.dup-side[data-customer="${id}"]`), dup.json.id);
  // the survivor's timeline tells
  await page.evaluate((id) => { location.hash = '#/customers/' + id; }, dup.json.id);
  await page.waitForSelector(`#c360[data-customer="${cust.id}"] .tl-merge`);
  assert.equal(await hash(page), `#/customers/${cust.id}`, 'the absorbed id resolves to the survivor');
  assert.match(await text(page, '.tl-merge'), new RegExp(`Merged customer #${dup.json.id} into this one`));
  assert.deepEqual(page.errors, []);
});

test('import: dry run shows counts and the rejected rows, import stores, GBK files read as GBK', async () => {
  const page = adminPage;
  await page.evaluate(() => { location.hash = '#/import'; });
  await page.waitForSelector('#import-form');
  assert.equal(await page.locator('#import-check').isDisabled(), true, 'nothing to check before a file');
  const csv = '姓名,手机,邮箱,公司,标签,预算 Budget\n' +
    '刘洋,13700137000,liuyang@example.cn,上海电气集团,重要客户；华东,1000\n' +
    ',13700137001,not-an-email,某公司,,\n' +
    '陈静,12345,chen@example.cn,,,abc\n' +
    '刘洋2,13700137000,,,,\n';
  await page.setInputFiles('#import-file', { name: '客户名单.csv', mimeType: 'text/csv', buffer: Buffer.from(csv) });
  assert.equal(await text(page, '#import-file-name'), '客户名单.csv');
  const before = Number(sql(server, 'SELECT COUNT(*) FROM customers')[0][0]);
  await page.click('#import-check');
  await page.waitForSelector('.import-out.dry');
  const tiles = await page.locator('.import-out .tile').allTextContents();
  assert.deepEqual(tiles, ['4Rows 行数', '1Would import 可新增', '0Would update 可更新', '3Rejected 拒绝']);
  const rows = await page.locator('.rejected tbody tr').evaluateAll((trs) => trs.map((tr) => tr.textContent));
  assert.ok(rows.some((r) => /^3Name 姓名is required$/.test(r)), rows.join('|'));
  assert.ok(rows.some((r) => /^E-mail 邮箱is not a valid email address$/.test(r)), rows.join('|'));
  assert.ok(rows.some((r) => /^4/.test(r)) && rows.some((r) => /预算 Budget \(budget\)must be a number/.test(r)), rows.join('|'));
  assert.ok(rows.some((r) => /^5Phone 手机duplicate of line 2$/.test(r)), rows.join('|'));
  assert.equal(Number(sql(server, 'SELECT COUNT(*) FROM customers')[0][0]), before, 'a dry run writes nothing');
  await page.screenshot({ path: path.join(SHOTS, 'crm-import.png') });

  await page.click('#import-run');
  await page.waitForSelector('.import-out:not(.dry)');
  assert.equal(await page.locator('.import-out .tile').nth(1).textContent(), '1Imported 新增');
  const liu = (await a.get('/api/v1/customers?q=' + encodeURIComponent('刘洋'))).json.items;
  assert.equal(liu.length, 1);
  assert.deepEqual(liu[0].tags.sort(), ['华东', '重要客户'].sort());
  assert.equal(liu[0].attrs.budget, 1000);

  // a GBK file (Chinese Excel), read as GBK
  const gbk = spawnSync('iconv', ['-f', 'UTF-8', '-t', 'GBK'], { input: '姓名,手机,公司\n周杰,13600136000,北京京东世纪贸易有限公司\n' });
  assert.equal(gbk.status, 0, String(gbk.stderr));
  await page.setInputFiles('#import-file', { name: 'gbk.csv', mimeType: 'text/csv', buffer: gbk.stdout });
  await page.selectOption('#import-charset', 'gbk');
  await page.click('#import-run');
  await page.waitForSelector('.import-out:not(.dry)');
  assert.match(await text(page, '.import-out'), /Every row was stored/);
  const zhou = (await a.get('/api/v1/customers?q=' + encodeURIComponent('周杰'))).json.items;
  assert.equal(zhou.length, 1);
  assert.equal(zhou[0].company, '北京京东世纪贸易有限公司');
  assert.deepEqual(page.errors, []);
});

test('reminders bell: the count, done from the dropdown, a reminder.due event rings live', async () => {
  const page = adminPage;
  const open = async () => (await a.get('/api/v1/reminders?status=open')).json.items;
  await page.reload();
  await page.waitForSelector('#app:not([hidden])');
  await page.waitForFunction(() => document.querySelector('#live').textContent.includes('live'));
  const mine = await open();
  assert.ok(mine.length >= 2, 'the follow-ups with a next date queued reminders');
  await page.waitForFunction((n) => document.querySelector('#bell-count').textContent === String(n), mine.length);
  await page.click('#bell');
  await page.waitForSelector('#bell-menu:not([hidden]) .rem');
  assert.equal(await page.locator('#bell-menu .rem').count(), mine.length);
  assert.match(await text(page, '#bell-menu'), /发送报价单/);
  const first = page.locator('#bell-menu .rem').first();
  const rid = Number(await first.getAttribute('data-reminder'));
  await first.locator('.rem-done').click();
  await until(async () => !(await open()).some((r) => r.id === rid), 5000, 'the reminder done');
  await page.waitForFunction((n) => document.querySelector('#bell-count').textContent === String(n), mine.length - 1);
  await page.keyboard.press('Escape');
  assert.equal(await page.locator('#bell-menu').isHidden(), true);

  // a follow-up whose next date has come: the CRM worker sends reminder.due, the bell counts it live
  const due = new Date(Date.now() - 60000).toISOString().replace(/\.\d{3}Z$/, 'Z');
  const r = await a.post('/api/v1/activities', { customer_id: cust.id, method: 'wechat', content: '微信沟通报价', next_step: '回电确认订单', next_at: due });
  assert.equal(r.status, 201, r.text);
  await page.waitForFunction((n) => document.querySelector('#bell-count').textContent === String(n), mine.length, { timeout: 10000 });
  assert.match(await page.locator('#bell-count').getAttribute('class'), /due/, 'something is due now');
  const note = page.locator('#notices .crm-notice');
  await note.waitFor();
  assert.match(await note.textContent(), /Reminder · 提醒.*回电确认订单/);
  await note.click();
  await page.waitForSelector(`#c360[data-customer="${cust.id}"] .rem-card`);
  assert.match(await text(page, '.rem-card'), /回电确认订单/);
  assert.deepEqual(page.errors, []);
});

test('custom fields admin: create with the server\'s reasons, edit, delete; the 360 page follows', async () => {
  const page = adminPage;
  await openTab(page, 'fields');
  await page.waitForSelector('#field-rows tr[data-key=budget]');
  await page.click('#field-new');
  await page.fill('#field-label', '行业细分 Segment');
  await page.fill('#field-key', 'Bad Key');
  await page.selectOption('#field-type', 'select');
  assert.equal(await page.locator('#field-options-row').isVisible(), true);
  await page.click('#field-save');
  await page.waitForFunction(() => document.querySelector('#field-form .field-error[data-for=key]').textContent.length > 0);
  assert.match(await text(page, '#field-form .field-error[data-for=key]'), /a-z/);
  assert.match(await text(page, '#field-form .field-error[data-for=options]'), /1\.\.200/);
  await page.fill('#field-key', 'segment');
  await page.fill('#field-options', '制造业\n金融 = 金融业\n');
  await page.click('#field-save');
  await page.waitForSelector('#field-rows tr[data-key=segment]');
  assert.match(await text(page, '#field-rows tr[data-key=segment]'), /行业细分 Segment.*segment.*Select 单选.*制造业.*金融业/);
  const def = (await a.get('/api/v1/field-defs')).json.items.find((f) => f.key === 'segment');
  assert.deepEqual(def.options, ['制造业', { value: '金融', label: '金融业' }]);

  await page.click('#field-rows tr[data-key=segment] .field-edit');
  assert.equal(await page.locator('#field-key').isDisabled(), true, 'a key never changes');
  await page.fill('#field-label', '细分行业');
  await page.click('#field-save');
  await page.waitForFunction(() => (document.querySelector('#field-rows tr[data-key=segment]') || {}).textContent?.includes('细分行业'));

  // the 360 page lists it and edits it as a select
  await page.evaluate((id) => { location.hash = '#/customers/' + id; }, cust.id);
  await page.waitForSelector(`#c360[data-customer="${cust.id}"] .cf-list dd[data-key=segment]`);
  await page.click('.cf-edit');
  await page.selectOption('#cf-segment', '金融');
  await page.click('.cf-form button[type=submit]');
  await page.waitForFunction(() => /细分行业\s*金融业/.test((document.querySelector('.cf-list') || {}).textContent));
  assert.equal((await a.get(`/api/v1/customers/${cust.id}`)).json.attrs.segment, '金融');

  await openTab(page, 'fields');
  await page.click('#field-rows tr[data-key=segment] .field-delete');
  await page.click('#field-rows tr[data-key=segment] .danger-solid');
  await page.waitForFunction(() => !document.querySelector('#field-rows tr[data-key=segment]'));
  assert.equal((await a.get('/api/v1/field-defs')).json.items.some((f) => f.key === 'segment'), false);
  assert.deepEqual(page.errors, []);
});

test('tabs by role: sales get pipeline, leads, duplicates and import; service agents none; only admins custom fields', async () => {
  const sp = await signIn(sales.email, sales.password);
  for (const v of ['pipeline', 'leads', 'customers', 'tickets']) assert.equal(await hasTab(sp, v), true, v);
  for (const v of ['fields', 'routing']) assert.equal(await hasTab(sp, v), false, v);
  await openTab(sp, 'customers');
  assert.deepEqual(await sp.locator('#view-customers .subtab').allTextContents(), ['All customers 全部客户', 'Duplicates 查重', 'Import 导入']);
  await openTab(sp, 'pipeline');
  await sp.waitForSelector('.kcol');
  await sp.evaluate(() => { location.hash = '#/fields'; });
  await sp.waitForFunction(() => !document.querySelector('#view-tickets').hidden, null, { timeout: 5000 });
  assert.deepEqual(sp.errors, []);
  await sp.close();

  const agent = await createAgent(server, admin.token, { role: 'agent', name: '客服 小王' });
  const ap = await signIn(agent.email, agent.password);
  for (const v of ['pipeline', 'leads', 'fields', 'routing']) assert.equal(await hasTab(ap, v), false, v);
  await openTab(ap, 'customers');
  assert.equal(await ap.locator('#view-customers .subnav').isVisible(), false, 'no sub-pages for service agents');
  await ap.goto(server.url + '/#/pipeline');
  await ap.waitForSelector('#app:not([hidden])');
  await ap.waitForFunction(() => !document.querySelector('#view-tickets').hidden);
  assert.equal(await ap.locator('#view-pipeline').isVisible(), false);
  // the 360 page reads for everyone, without the editing controls
  await ap.goto(server.url + `/#/customers/${cust.id}`);
  await ap.waitForSelector(`#c360[data-customer="${cust.id}"] .c360-name`);
  assert.equal(await ap.locator('.fu-form').count(), 0);
  assert.equal(await ap.locator('.tag-add, .cf-edit, button.lc-chip').count(), 0);
  assert.deepEqual(ap.errors, []);
  await ap.close();
});
