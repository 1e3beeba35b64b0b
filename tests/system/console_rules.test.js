'use strict';
// console_rules.test.js — the console's Rules 自动化规则 and Approvals 审批 pages (docs/rules.md)
// in a real headless Chromium (Debian chromium driven by playwright-core), against the real
// binary and MariaDB. As admin: the seed rules are listed by trigger with their switch,
// runs and version; a rule is built with the designer — trigger customer.created, the
// condition region = 华东 from the builder (the text box shows `region = 华东`), a tag action
// (another action added, moved up and down, removed) — and saved switched off; "What would
// happen" dry-runs it against a customer in 华东 (matched, the tag action done), one elsewhere
// (not matched) and a missing one, changing nothing; a bad condition typed in the text box
// gets the server's compile error under it with its position marked; switched on from the
// list it fires for a customer created through the API in 华东, and the firings log shows it;
// the history restores version 1; a list that cannot be read says so and offers to try again. Approvals: a rule holds campaign starts for a manager; the
// marketer's Start answers 202 and the campaign page says it waits for approval (a second
// start is 409 approval_pending); the manager's bell reminder opens the approvals page, where
// a comment is added, Reject without a comment shows the server's 422 under the box, and
// Approve with a comment approves it and the campaign starts. The pages are waited on through
// their data-state attributes, never fixed sleeps (the server may run sanitized).
// Screenshots: var/screenshots/rules-{list,designer,test,error,firings}.png,
// approvals-{campaign-waiting,list,reject-error,approved}.png.
const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const { launchChromium, openTab, hasTab } = require('./clients');
const { startServer, bootstrapAdmin, api, dropDatabase, createAgent, until, SANITIZED } = require('./harness');

const SHOTS = path.join(__dirname, '..', '..', 'var', 'screenshots');
const SLOW = SANITIZED ? 90000 : 30000;
let server, admin, a, browser, page, manager, marketer, m;
let eastId, southId, ruleId;

before(async () => {
  fs.mkdirSync(SHOTS, { recursive: true });
  server = await startServer({ env: { SWITCHBOARD_ROUTING_ENABLED: 'no', SWITCHBOARD_CRM_SETTLE_MS: '100' } });
  admin = await bootstrapAdmin(server);
  a = api(server, admin.token);
  const team = (await a.post('/api/v1/teams', { name: '华东销售部' })).json;
  manager = await createAgent(server, admin.token, { role: 'manager', name: '主管 陈静', team_id: team.id });
  marketer = await createAgent(server, admin.token, { role: 'marketer', name: '市场部 周婷', team_id: team.id });
  m = api(server, marketer.token);
  let r = await a.post('/api/v1/customers', { name: '王芳', email: 'wangfang@east.example.cn', region: '华东' });
  assert.equal(r.status, 201, r.text);
  eastId = r.json.id;
  r = await a.post('/api/v1/customers', { name: '李娜', email: 'lina@south.example.cn', region: '华南' });
  assert.equal(r.status, 201, r.text);
  southId = r.json.id;
  browser = await launchChromium();
});

after(async () => {
  if (browser) await browser.close();
  if (server) { await server.stop(); dropDatabase(server); }
});

async function signIn(who) {
  const ctx = await browser.newContext({ viewport: { width: 1440, height: 1000 }, locale: 'en-US' });
  ctx.setDefaultTimeout(SLOW);
  const p = await ctx.newPage();
  p.errors = [];
  p.on('pageerror', (e) => p.errors.push(e.message));
  await p.goto(server.url + '/');
  await p.evaluate(() => localStorage.clear());
  await p.fill('#login-email', who.email || who.agent.email);
  await p.fill('#login-password', who.password);
  await p.click('button[type=submit]');
  await p.waitForSelector('#app:not([hidden])');
  await p.waitForFunction(() => document.querySelector('#live').textContent.includes('live'));
  return p;
}
// the whole view (it scrolls inside the window): the window made as tall as the view, the toast away
async function shot(p, view, name) {
  const size = p.viewportSize();
  const h = await p.evaluate((v) => { document.querySelector('#toast').hidden = true;
    return document.querySelector('.topbar').offsetHeight + document.querySelector('#view-' + v).scrollHeight; }, view);
  await p.setViewportSize({ width: size.width, height: Math.max(size.height, h) });
  await p.screenshot({ path: path.join(SHOTS, name) });
  await p.setViewportSize(size);
}
const text = (p, sel) => p.locator(sel).first().textContent();
const rule = async (id) => (await a.get(`/api/v1/rules/${id}`)).json;
const tagsOf = async (id) => ((await a.get(`/api/v1/customers/${id}`)).json.tags || []).map((t) => (typeof t === 'string' ? t : t.name));

test('the seed rules are listed by trigger, with their switch, runs and version', async () => {
  page = await signIn(admin);
  assert.equal(await hasTab(page, 'rules'), true, 'admins have the Rules tab');
  await openTab(page, 'rules');
  await page.waitForSelector('#ru-page[data-state=ready] #ru-list[data-state=ready]');
  assert.equal(await page.evaluate(() => location.hash), '#/rules');
  assert.equal(await page.getAttribute('#ru-editor', 'data-state'), 'empty');
  const seeds = (await a.get('/api/v1/rules')).json.items.filter((r) => r.system_key);
  assert.ok(seeds.length >= 4, `the built-in behaviours are rules: ${seeds.map((r) => r.system_key)}`);
  for (const s of seeds) {
    const item = page.locator(`.ru-group[data-trigger="${s.trigger}"] .ru-item[data-system-key="${s.system_key}"]`);
    assert.equal(await item.count(), 1, `${s.system_key} under ${s.trigger}`);
    assert.equal(await item.locator('.ru-item-name').textContent(), s.name);
    assert.match(await item.locator('.ru-seed').textContent(), /Built-in 内置/);
    assert.equal(await item.locator('.ru-switch').getAttribute('aria-checked'), String(s.enabled));
    assert.equal(await item.locator('.ru-ver').textContent(), 'v' + s.version);
  }
  assert.equal(await page.locator('.ru-item.seed').count(), seeds.length);
  assert.match(await text(page, '#ru-summary'), new RegExp(`${seeds.length} rules`));
  // a seed opens in the designer; its condition text is there, the builder shows what it can
  const mature = seeds.find((s) => s.system_key === 'mature_deal_manager');
  if (mature) {
    await page.click(`.ru-item[data-id="${mature.id}"] .ru-item-main`);
    await page.waitForSelector(`#ru-editor[data-state=edit][data-rule-id="${mature.id}"] #ru-firings[data-state=ready]`);
    assert.equal(await page.inputValue('#ru-cond-text'), mature.conditions);
    assert.equal(await page.inputValue('#ru-trigger'), 'deal.stage_changed');
    assert.equal(await page.locator('#ru-actions .ru-action[data-type=notify]').count(), 1);
    assert.match(await text(page, '#ru-test-label'), /Deal ID/);
    assert.equal(await page.evaluate(() => location.hash), `#/rules/${mature.id}`);
  }
  await shot(page, 'rules', 'rules-list.png');
  assert.deepEqual(page.errors, []);
});

test('a rule built with the designer: customer.created, region = 华东 from the builder, a tag action; saved switched off', async () => {
  await page.click('#ru-new');
  await page.waitForSelector('#ru-editor[data-state=new] #ru-designer[data-state=idle]');
  assert.equal(await page.evaluate(() => location.hash), '#/rules');
  await page.fill('#ru-name', '华东新客户打标签');
  await page.fill('#ru-desc', '华东地区的新客户自动打上“华东客户”标签');
  await page.selectOption('#ru-trigger', 'customer.created');
  assert.match(await text(page, '#ru-trigger-hint'), /Fires when a customer is created.*The record: Customer 客户/);
  assert.equal(await page.isHidden('#ru-srec-field'), true, 'the schedule\'s record only for schedule rules');
  // the condition, from the builder
  await page.click('#ru-add-cond');
  const row = page.locator('#ru-builder .ru-cond[data-index="0"]');
  await row.locator('.ru-cf').selectOption('region');
  await row.locator('.ru-co').selectOption('=');
  await row.locator('.ru-cv').fill('华东');
  assert.equal(await page.inputValue('#ru-cond-text'), 'region = 华东', 'the text follows the builder');
  // the fields offered are the customer's (no deal. or lead. fields for a customer trigger)
  const fields = await row.locator('.ru-cf option').evaluateAll((os) => os.map((o) => o.value));
  assert.ok(fields.includes('region') && fields.includes('tag') && fields.includes('followup_days'));
  assert.ok(!fields.some((f) => /^(deal|lead|ticket|campaign)\./.test(f)), fields.join(' '));
  // actions: a tag; a reminder added, moved up and back down, removed
  await page.selectOption('#ru-add-type', 'tag');
  await page.click('#ru-add-action');
  await page.locator('#ru-actions .ru-action[data-index="0"] [data-param=tag]').fill('华东客户');
  await page.selectOption('#ru-add-type', 'notify');
  await page.click('#ru-add-action');
  const types = () => page.locator('#ru-actions .ru-action').evaluateAll((ls) => ls.map((l) => l.dataset.type));
  assert.deepEqual(await types(), ['tag', 'notify']);
  await page.locator('#ru-actions .ru-action[data-index="1"] [data-param=message]').fill('华东新客户 {{customer.name}}');
  await page.click('#ru-actions .ru-action[data-index="1"] .ru-a-up');
  assert.deepEqual(await types(), ['notify', 'tag']);
  assert.equal(await page.inputValue('#ru-actions .ru-action[data-index="1"] [data-param=tag]'), '华东客户', 'its parameters move with it');
  await page.click('#ru-actions .ru-action[data-index="0"] .ru-a-down');
  assert.deepEqual(await types(), ['tag', 'notify']);
  await page.click('#ru-actions .ru-action[data-index="1"] .ru-a-rm');
  assert.deepEqual(await types(), ['tag']);
  assert.equal(await page.isChecked('#ru-enabled'), false, 'a new rule starts switched off');
  assert.equal(await page.getAttribute('#ru-designer', 'data-state'), 'dirty');
  await shot(page, 'rules', 'rules-designer.png');

  await page.click('#ru-save');
  await page.waitForSelector('#ru-editor[data-state=edit] #ru-designer[data-state=idle]');
  ruleId = Number(await page.getAttribute('#ru-editor', 'data-rule-id'));
  assert.ok(ruleId > 0);
  assert.equal(await page.evaluate(() => location.hash), `#/rules/${ruleId}`);
  const r = await rule(ruleId);
  assert.equal(r.name, '华东新客户打标签');
  assert.equal(r.description, '华东地区的新客户自动打上“华东客户”标签');
  assert.equal(r.trigger, 'customer.created');
  assert.equal(r.conditions, 'region = 华东');
  assert.deepEqual(r.actions, [{ type: 'tag', tag: '华东客户' }]);
  assert.equal(r.enabled, false);
  assert.equal(r.version, 1);
  const item = page.locator(`#ru-list .ru-group[data-trigger="customer.created"] .ru-item[data-id="${ruleId}"]`);
  assert.equal(await item.locator('.ru-switch').getAttribute('aria-checked'), 'false');
  assert.equal(await item.getAttribute('class').then((c) => c.includes('sel')), true, 'the saved rule is the one open');
  assert.match(await text(page, '#ru-version'), /Version 1/);
  await page.waitForSelector('#ru-history[data-state=ready] .ru-ver[data-version="1"].current');
  await page.waitForSelector('#ru-firings[data-state=ready] .ru-empty');
  assert.deepEqual(page.errors, []);
});

test('what would happen: a dry run of the draft against a customer in 华东, one elsewhere and a missing one; nothing is written', async () => {
  assert.match(await text(page, '#ru-test-label'), /Customer ID 客户 ID/);
  await page.fill('#ru-test-id', String(eastId));
  await page.click('#ru-test-run');
  await page.waitForSelector('#ru-test-result[data-state=ready]');
  assert.equal(await page.getAttribute('#ru-test-result', 'data-matched'), 'true');
  assert.match(await text(page, '#ru-test-result .ru-tr-head'), /Matched 条件满足.*1 action would run/);
  const act = page.locator('#ru-test-result .ru-tr-action[data-type=tag]');
  assert.equal(await act.getAttribute('data-outcome'), 'done');
  assert.match(await act.textContent(), /Done 已执行.*Add a tag/);
  assert.match(await text(page, '#ru-test-result .ru-tr-note'), /nothing was changed/);
  await shot(page, 'rules', 'rules-test.png');
  // a dry run: no tag, no firing
  assert.equal((await tagsOf(eastId)).includes('华东客户'), false, 'the tag was rolled back');
  assert.equal((await a.get(`/api/v1/rules/${ruleId}/firings`)).json.total, 0);

  await page.fill('#ru-test-id', String(southId));
  await page.click('#ru-test-run');
  await page.waitForSelector('#ru-test-result[data-state=ready][data-matched=false]');
  assert.match(await text(page, '#ru-test-result .ru-tr-head'), /Not matched 条件不满足.*nothing would happen/);
  // the unsaved draft is what runs: the builder says 华南, the text follows, 李娜 matches now
  await page.locator('#ru-builder .ru-cond[data-index="0"] .ru-cv').fill('华南');
  assert.equal(await page.inputValue('#ru-cond-text'), 'region = 华南');
  await page.click('#ru-test-run');
  await page.waitForSelector('#ru-test-result[data-state=ready][data-matched=true]');
  assert.equal((await rule(ruleId)).conditions, 'region = 华东', 'testing saves nothing');
  await page.locator('#ru-builder .ru-cond[data-index="0"] .ru-cv').fill('华东');
  assert.equal(await page.inputValue('#ru-cond-text'), 'region = 华东');

  await page.fill('#ru-test-id', '99999999');
  await page.click('#ru-test-run');
  await page.waitForSelector('#ru-test-result[data-state=error]');
  assert.match(await text(page, '#ru-test-result'), /There is no customer #99999999/);
  assert.deepEqual(page.errors, []);
});

test('a bad condition typed in the text box: the server\'s error under it, its position marked; nothing saved', async () => {
  const bad = 'region = 华东 AND regoin = 上海';
  await page.fill('#ru-cond-text', bad);
  // the builder follows the text (a field it does not know is shown as it is)
  await page.waitForSelector('#ru-builder .ru-cond[data-index="1"]');
  // what the server says about it
  const direct = await a.post('/api/v1/rules', { name: 'x', trigger: 'customer.created', conditions: bad, actions: [{ type: 'tag', tag: 'x' }] });
  assert.equal(direct.status, 422, direct.text);
  const why = direct.json.error.fields.conditions;
  const m = /^at (\d+): (.*)$/.exec(why);
  assert.ok(m, why);
  await page.click('#ru-save');
  await page.waitForSelector('#ru-designer[data-state=error]');
  const shown = await text(page, '#ru-cond-error');
  assert.ok(shown.includes(m[2]), `the server's reason "${m[2]}" under the text box: ${shown}`);
  // the position is the server's byte offset as a character index: 华东 is 6 bytes, 2 characters
  const pos = 'region = 华东 AND '.length;
  assert.equal(Buffer.byteLength('region = 华东 AND '), Number(m[1]));
  assert.match(shown, new RegExp(`^Position ${pos + 1}:`));
  assert.equal(await page.getAttribute('#ru-cond-text', 'data-error-pos'), String(pos));
  assert.equal(await page.locator('#ru-cond-text.has-error').count(), 1);
  assert.equal(await text(page, '.ru-rule-wrap mark.rule-err'), 'regoin');
  assert.equal(await page.evaluate(() => document.activeElement.id), 'ru-cond-text');
  await shot(page, 'rules', 'rules-error.png');
  let r = await rule(ruleId);
  assert.equal(r.conditions, 'region = 华东', 'nothing saved');
  assert.equal(r.version, 1);
  // fixed by hand: the mark goes; saving the same content again makes no new version
  await page.fill('#ru-cond-text', 'region = 华东');
  assert.equal(await page.locator('#ru-cond-text.has-error').count(), 0);
  assert.equal(await page.locator('#ru-builder .ru-cond').count(), 1);
  assert.equal(await page.inputValue('#ru-builder .ru-cond[data-index="0"] .ru-cv'), '华东');
  await page.click('#ru-save');
  await page.waitForSelector('#ru-designer[data-state=idle]');
  r = await rule(ruleId);
  assert.equal(r.conditions, 'region = 华东');
  assert.equal(r.version, 1, 'the same content is no new version');
  assert.deepEqual(page.errors, []);
});

test('switched on from the list, it fires for a customer created in 华东 through the API: the firings log shows it', async () => {
  const item = page.locator(`.ru-item[data-id="${ruleId}"]`);
  await item.locator('.ru-switch').click();
  await page.waitForSelector(`.ru-item[data-id="${ruleId}"] .ru-switch[aria-checked=true]:not([disabled])`);
  let r = await rule(ruleId);
  assert.equal(r.enabled, true);
  assert.equal(r.version, 2, 'the switch is part of the rule\'s history');
  assert.equal(await page.isChecked('#ru-enabled'), true, 'the open rule follows');
  await page.waitForSelector('#ru-history[data-state=ready] .ru-ver[data-version="2"].current');
  assert.match(await text(page, '#ru-history .ru-ver[data-version="2"] .ru-ver-changes'), /switched on/);

  const res = await a.post('/api/v1/customers', { name: '华东 新客户 张伟', email: 'zhangwei@east.example.cn', region: '华东' });
  assert.equal(res.status, 201, res.text);
  const cid = res.json.id;
  // the rule ran inside the request's transaction: the tag is there when the API answers
  assert.ok((await tagsOf(cid)).includes('华东客户'), 'tagged by the rule');
  const other = await a.post('/api/v1/customers', { name: '华北客户 赵磊', region: '华北' });
  assert.equal(other.status, 201);
  assert.equal((await tagsOf(other.json.id)).includes('华东客户'), false);
  const firings = (await a.get(`/api/v1/rules/${ruleId}/firings`)).json;
  assert.equal(firings.total, 1, JSON.stringify(firings));

  await page.click('#ru-firings-refresh');
  const row = page.locator(`#ru-firings tr.ru-firing[data-record-type=customer][data-record-id="${cid}"]`);
  await row.waitFor();
  await page.waitForSelector('#ru-firings[data-state=ready]');
  assert.equal(await row.getAttribute('data-outcome'), 'done');
  assert.match(await row.textContent(), new RegExp(`Done 已执行.*Customer #${cid}.*v2.*Add a tag`));
  assert.equal(await page.locator('#ru-firings tr.ru-firing').count(), 1);
  await page.waitForSelector(`.ru-item[data-id="${ruleId}"] .ru-fired[data-fired="1"]`);
  assert.match(await item.locator('.ru-item-l2').textContent(), /1 run.*last just now/);
  await shot(page, 'rules', 'rules-firings.png');
  // the record link opens the customer
  await row.locator('.ru-rec').click();
  await page.waitForSelector('#view-customer:not([hidden])');
  assert.equal(await page.evaluate(() => location.hash), `#/customers/${cid}`);
  await page.goBack();
  await page.waitForSelector(`#ru-editor[data-rule-id="${ruleId}"] #ru-firings[data-state=ready]`);
  r = await rule(ruleId);
  assert.equal(r.fired, 1);
  assert.deepEqual(page.errors, []);
});

test('history: a change is a new version; restoring version 1 brings it back (its switch too) as a new one', async () => {
  await page.locator('#ru-builder .ru-cond[data-index="0"] .ru-cv').fill('华南');
  await page.click('#ru-save');
  await page.waitForSelector('#ru-designer[data-state=idle]');
  await page.waitForSelector('#ru-history[data-state=ready] .ru-ver[data-version="3"].current');
  assert.equal((await rule(ruleId)).conditions, 'region = 华南');
  assert.match(await text(page, '#ru-history .ru-ver[data-version="3"] .ru-ver-changes'), /conditions/);
  const v1 = (await a.get(`/api/v1/rules/${ruleId}/versions`)).json.items.find((v) => v.version === 1);
  assert.match(await page.getAttribute('#ru-history .ru-ver[data-version="1"] .ru-restore', 'title'), /switches it off/, 'says what the switch does');
  await page.click('#ru-history .ru-ver[data-version="1"] .ru-restore');
  await page.waitForSelector('#ru-history[data-state=ready] .ru-ver[data-version="4"].current');
  const r = await rule(ruleId);
  assert.equal(r.version, 4);
  assert.equal(r.conditions, 'region = 华东', 'version 1\'s content');
  assert.equal(r.enabled, v1.enabled, 'and its switch (api_rules.c rules_restore)');
  assert.equal(await page.isChecked('#ru-enabled'), r.enabled);
  assert.equal(await page.getAttribute(`.ru-item[data-id="${ruleId}"] .ru-switch`, 'aria-checked'), String(r.enabled));
  assert.equal(await page.inputValue('#ru-cond-text'), 'region = 华东');
  assert.equal(await page.inputValue('#ru-builder .ru-cond[data-index="0"] .ru-cv'), '华东');
  assert.deepEqual(page.errors, []);
});

test('the rules cannot be read: the list says so and offers to try again', async () => {
  await page.route('**/api/v1/rules', (route) => (route.request().method() === 'GET'
    ? route.fulfill({ status: 503, contentType: 'application/json', body: '{"error":{"code":"database_unavailable","message":"the database is not answering"}}' })
    : route.continue()));
  await page.reload();
  await page.waitForSelector('#ru-page[data-state=error] #ru-list[data-state=error]');
  assert.match(await text(page, '#ru-list'), /Could not load the rules 规则加载失败.*the database is not answering/);
  assert.equal(await page.getAttribute('#ru-editor', 'data-state'), 'empty', 'the rule asked for cannot be opened');
  await page.unroute('**/api/v1/rules');
  await page.click('#ru-retry');
  await page.waitForSelector('#ru-list[data-state=ready]');
  assert.equal(await page.locator(`.ru-item[data-id="${ruleId}"]`).count(), 1);
  assert.deepEqual(page.errors, []);
  await page.context().close();
});

let campaignId, approvalId, mpage;
test('approvals: a rule holds a campaign start; the marketer\'s page says it waits for approval', async () => {
  const gate = await a.post('/api/v1/rules', {
    name: '营销活动须主管审批', trigger: 'campaign.start_requested', conditions: '', enabled: true,
    actions: [{ type: 'request_approval', role: 'manager', summary: '启动营销活动“{{campaign.name}}”' }],
  });
  assert.equal(gate.status, 201, gate.text);
  const seg = await m.post('/api/v1/segments', { name: '华东客户', rule: 'region = 华东' });
  assert.equal(seg.status, 201, seg.text);
  const tpl = await m.post('/api/v1/templates', { name: '新品推介', channel: 'email', subject: '新品上市', text: '{{customer.name}}您好' });
  assert.equal(tpl.status, 201, tpl.text);
  const camp = await m.post('/api/v1/campaigns', { name: '华东新品推介', channel: 'email', segment_id: seg.json.id, template_id: tpl.json.id });
  assert.equal(camp.status, 201, camp.text);
  campaignId = camp.json.id;

  mpage = await signIn(marketer);
  assert.equal(await hasTab(mpage, 'approvals'), false, 'no requests yet: no Approvals tab');
  await mpage.evaluate((id) => { location.hash = '#/campaign/' + id; }, campaignId);
  await mpage.waitForSelector('#camp-detail .cstatus[data-status=draft]');
  await mpage.click('#camp-detail .camp-start');
  await mpage.waitForSelector('#camp-approval[data-status=pending]');
  assert.match(await text(mpage, '#camp-approval'), /Waiting for approval 等待审批/);
  assert.equal(await mpage.isHidden('#camp-detail .camp-start'), true, 'no second Start while it waits');
  assert.equal(await mpage.getAttribute('#camp-detail .cstatus', 'data-status'), 'draft');
  assert.equal((await m.get(`/api/v1/campaigns/${campaignId}`)).json.status, 'draft', 'nothing is sent');
  const list = (await m.get('/api/v1/approvals?mine=1')).json.items;
  assert.equal(list.length, 1);
  approvalId = list[0].id;
  assert.equal(list[0].status, 'pending');
  assert.equal(list[0].summary, '启动营销活动“华东新品推介”');
  // a second start while it waits
  const again = await m.post(`/api/v1/campaigns/${campaignId}/start`);
  assert.equal(again.status, 409, again.text);
  assert.equal(again.json.error.code, 'approval_pending');
  // a reload still knows (from the approvals list)
  await mpage.reload();
  await mpage.waitForSelector('#camp-approval[data-status=pending]');
  await mpage.waitForFunction(() => !document.querySelector('.tab[data-view=approvals]').hidden);
  await shot(mpage, 'campaign', 'approvals-campaign-waiting.png');
  // the requester sees it among their requests, and may not decide it
  await mpage.click('#camp-approval button');
  await mpage.waitForSelector(`#ap-detail[data-state=ready][data-approval-id="${approvalId}"]`);
  assert.equal(await mpage.locator('#ap-decide').count(), 0);
  assert.match(await text(mpage, '#ap-waiting'), /You asked for this/);
  assert.equal(await mpage.getAttribute('#ap-filters .ap-filter.on', 'data-filter'), 'mine');
  assert.deepEqual(mpage.errors, []);
});

test('approvals: the manager\'s reminder opens the page; a comment; reject without a comment is refused; approve with one', async () => {
  const mgr = api(server, manager.token);
  await until(async () => (await mgr.get('/api/v1/reminders?status=open')).json.items.some((r) => r.kind === 'approval'), SLOW, 'the approval reminder');
  page = await signIn(manager);
  assert.equal(await hasTab(page, 'approvals'), true);
  await page.waitForSelector('.tab[data-view=approvals] .ap-tab-count:not([hidden])');
  assert.equal(await page.getAttribute('.tab[data-view=approvals] .ap-tab-count', 'data-n'), '1');
  // from the bell
  await page.click('#bell');
  const rem = page.locator('#bell-menu .rem', { hasText: 'Approval 审批' }).first();
  await rem.waitFor();
  await rem.locator('.rem-link').click();
  await page.waitForSelector('#view-approvals:not([hidden]) #ap-list[data-state=ready]');
  assert.equal(await page.evaluate(() => location.hash), '#/approvals');
  const item = page.locator(`#ap-list .ap-item[data-id="${approvalId}"]`);
  assert.equal(await item.getAttribute('data-status'), 'pending');
  assert.match(await item.textContent(), /启动营销活动“华东新品推介”.*市场部 周婷.*(just now|min).*Pending 待审批.*Needs manager.*Your decision/);
  assert.equal(await page.locator('#ap-list .ap-item').first().getAttribute('data-id'), String(approvalId), 'pending first');
  await item.locator('.ap-item-main').click();
  await page.waitForSelector(`#ap-detail[data-state=ready][data-approval-id="${approvalId}"][data-status=pending] #ap-decide[data-state=idle]`);
  assert.equal(await page.evaluate(() => location.hash), `#/approvals/${approvalId}`);
  await page.waitForFunction(() => /华东新品推介/.test(document.querySelector('#ap-record').textContent));
  assert.match(await text(page, '#ap-detail .ap-facts'), /Asked by.*市场部 周婷.*Approver.*Needs manager/);
  await shot(page, 'approvals', 'approvals-list.png');

  // a comment
  await page.fill('#ap-new-comment', '请确认预算 budget ok?');
  await page.click('#ap-add-comment');
  await page.waitForSelector('#ap-comments .ap-c .ap-c-body >> text=请确认预算 budget ok?');
  assert.equal((await mgr.get(`/api/v1/approvals/${approvalId}`)).json.comments.length, 1);

  // reject without a comment: the server's 422, under the box; still pending
  const direct = await mgr.post(`/api/v1/approvals/${approvalId}/reject`, {});
  assert.equal(direct.status, 422, direct.text);
  await page.click('#ap-reject');
  await page.waitForSelector('#ap-decide[data-state=error]');
  const why = await text(page, '#ap-comment-error');
  assert.ok(why.includes(direct.json.error.fields.comment), `the server's reason under the box: ${why}`);
  assert.match(why, /say why you reject it/);
  assert.equal(await page.locator('.ap-comment-f.invalid').count(), 1);
  assert.equal(await page.evaluate(() => document.activeElement.id), 'ap-comment');
  // both measured in one go in the page: a live refresh (the comment's event) may replace the nodes between two calls
  const [box, err] = await page.evaluate(() => ['#ap-comment', '#ap-comment-error'].map((s) => {
    const r = document.querySelector(s).getBoundingClientRect();
    return { y: r.y, height: r.height };
  }));
  assert.ok(err.y >= box.y + box.height - 1 && err.y - (box.y + box.height) < 30, 'right under the box');
  assert.equal((await mgr.get(`/api/v1/approvals/${approvalId}`)).json.status, 'pending');
  // the requester comments meanwhile: the live refresh re-renders the request, and the
  // approver's error and focus stay where they were (they used to vanish with the refresh)
  assert.equal((await m.post(`/api/v1/approvals/${approvalId}/comments`, { body: '预算表已更新 updated' })).status, 201);
  await page.waitForSelector('#ap-comments .ap-c .ap-c-body >> text=预算表已更新 updated');
  assert.match(await text(page, '#ap-comment-error'), /say why you reject it/);
  assert.equal(await page.locator('.ap-comment-f.invalid').count(), 1);
  assert.equal(await page.locator('#ap-decide[data-state=error]').count(), 1);
  assert.equal(await page.evaluate(() => document.activeElement.id), 'ap-comment');
  await shot(page, 'approvals', 'approvals-reject-error.png');

  // approve, with a comment: approved, the campaign starts
  await page.fill('#ap-comment', '预算已确认，同意 approved');
  assert.equal(await page.locator('.ap-comment-f.invalid').count(), 0, 'typing clears the error');
  await page.click('#ap-approve');
  await page.waitForSelector(`#ap-detail[data-state=ready][data-status=approved] #ap-decided`);
  assert.match(await text(page, '#ap-decided'), /Approved 已批准.*by 主管 陈静 \(you\).*预算已确认，同意 approved.*The campaign was started/);
  assert.equal(await page.locator('#ap-decide').count(), 0);
  const ap = (await mgr.get(`/api/v1/approvals/${approvalId}`)).json;
  assert.equal(ap.status, 'approved');
  assert.equal(ap.decided_by, manager.id);
  assert.equal(ap.decision_comment, '预算已确认，同意 approved');
  assert.notEqual((await m.get(`/api/v1/campaigns/${campaignId}`)).json.status, 'draft', 'the campaign started');
  // gone from the pending list; under All, approved
  await page.waitForSelector(`#ap-list[data-state=ready]`);
  await page.waitForSelector(`#ap-list .ap-item[data-id="${approvalId}"]`, { state: 'detached' });
  await page.waitForSelector('.tab[data-view=approvals] .ap-tab-count[hidden]', { state: 'attached' });
  await page.click('#ap-filters .ap-filter[data-filter=all]');
  await page.waitForSelector(`#ap-list[data-state=ready] .ap-item[data-id="${approvalId}"][data-status=approved]`);
  await shot(page, 'approvals', 'approvals-approved.png');
  // deciding again is refused (409), the page is not offered it
  assert.equal((await mgr.post(`/api/v1/approvals/${approvalId}/approve`, {})).status, 409);

  // the marketer's page follows: no more waiting, the campaign is under way
  await mpage.evaluate((id) => { location.hash = '#/campaign/' + id; }, campaignId);
  await mpage.waitForSelector('#camp-detail .cstatus:not([data-status=draft])');
  assert.equal(await mpage.locator('#camp-approval').count(), 0);
  assert.deepEqual(page.errors, []);
  assert.deepEqual(mpage.errors, []);
  await mpage.context().close();
  await page.context().close();
});
