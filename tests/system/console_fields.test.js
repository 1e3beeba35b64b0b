'use strict';
// console_fields.test.js — the console's Field access 字段权限 page (gateway/www/fields.js) and
// the customer page drawn from it (crm.js), in a real headless Chromium (playwright-core)
// against the real binary and MariaDB (contracts: docs/field-permissions.md, docs/layouts.md).
// As admin, in the matrix: uscc hidden and address read-only for sales, saved with one PUT (the
// API agrees); a cell naming a custom field deleted meanwhile gets the server's 422 next to it.
// In the layout editor: a group "工商 Registration" is added, moved first, uscc and address
// moved into it (buttons, the group menu, keyboard, a drag), saved (the API agrees); the deal
// layout is saved and reset to default. A sales agent then opens a customer of theirs: the
// uscc value is nowhere on the page, address shows a lock and is disabled in the edit form
// (which still saves the other fields), the groups come in the layout's order; the admin sees
// uscc. Waits are on data-state attributes and selectors, never fixed sleeps (the server may
// run sanitized). Screenshots: var/screenshots/fields-matrix.png, fields-matrix-error.png,
// fields-layout.png, fields-customer-sales.png, fields-customer-sales-edit.png.
const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const { launchChromium, openTab, hasTab } = require('./clients');
const { startServer, bootstrapAdmin, api, dropDatabase, createAgent } = require('./harness');

const SHOTS = path.join(__dirname, '..', '..', 'var', 'screenshots');
const USCC = '91310115MA1K4RT87X'; // the sentinel: must never reach the sales agent's page
const ADDRESS = '上海市浦东新区张江路 88 号';
let server, admin, a, browser, sales, cust, page;

before(async () => {
  fs.mkdirSync(SHOTS, { recursive: true });
  server = await startServer({ env: { SWITCHBOARD_ROUTING_ENABLED: 'no' } });
  admin = await bootstrapAdmin(server);
  a = api(server, admin.token);
  const team = (await a.post('/api/v1/teams', { name: '华东销售部' })).json;
  sales = await createAgent(server, admin.token, { role: 'sales', name: '销售 李娜', team_id: team.id });
  for (const f of [{ key: 'budget', label: '预算 Budget', type: 'number' }, { key: 'legacy', label: '旧编码 Legacy code', type: 'text' }]) {
    const r = await a.post('/api/v1/field-defs', f);
    assert.equal(r.status, 201, r.text);
  }
  const r = await a.post('/api/v1/customers', {
    name: '上海云杉科技有限公司', company: '云杉科技', industry: '软件', region: '华东', address: ADDRESS, uscc: USCC,
    owner_id: sales.id, phone: '13911112222', attrs: { budget: 300000 },
  });
  assert.equal(r.status, 201, r.text);
  cust = r.json;
  const t = await a.post('/api/v1/object-types', { key: 'equipment', label: '设备 Equipment',
    fields: [{ key: 'serial_no', label: '序列号 Serial', type: 'text', required: true }, { key: 'model', label: '型号 Model', type: 'text' }] });
  assert.equal(t.status, 201, t.text);
  browser = await launchChromium();
});

after(async () => {
  if (browser) await browser.close();
  if (server) { await server.stop(); dropDatabase(server); }
});

async function signIn(who, viewport = { width: 1440, height: 1000 }) {
  const ctx = await browser.newContext({ viewport, locale: 'en-US' });
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
// the whole view (it scrolls inside the window): the window made as tall as the page, the toast away
async function shot(p, view, name) {
  const size = p.viewportSize();
  const h = await p.evaluate((v) => { document.querySelector('#toast').hidden = true;
    return document.querySelector('.topbar').offsetHeight + document.querySelector('#view-' + v).scrollHeight; }, view);
  await p.setViewportSize({ width: size.width, height: Math.max(size.height, h) });
  await p.screenshot({ path: path.join(SHOTS, name) });
  await p.setViewportSize(size);
}
const cell = (role, field, object = 'customer') => `#fp-rows .fp-seg[data-role=${role}][data-object=${object}][data-field="${field}"]`;
const choose = (role, field, access, object) => page.click(`${cell(role, field, object)} label.fp-opt[data-access=${access}]`);
const fld = (f) => `#fp-groups .fp-fld[data-field="${f}"]`;
const groupFields = (i) => page.locator(`#fp-groups .fp-group[data-index="${i}"] .fp-fld`).evaluateAll((els) => els.map((e) => e.dataset.field));

test('the matrix: uscc hidden and address read-only for sales, saved with one PUT; a 422 is shown by its cell', async () => {
  page = await signIn(admin);
  assert.equal(await hasTab(page, 'fieldperms'), true, 'admins have the Field access tab');
  await openTab(page, 'fieldperms');
  await page.waitForSelector('#fp-page[data-state=ready] #fp-matrix[data-state=ready]');
  assert.equal(await page.evaluate(() => location.hash), '#/fieldperms');
  // rows from the catalogue: the customer's fields with the custom ones, then the deal's
  const rows = await page.locator('#fp-rows tr.fp-row').evaluateAll((els) => els.map((e) => e.dataset.object + ':' + e.dataset.field));
  assert.deepEqual(rows, ['industry', 'type', 'grade', 'source', 'region', 'address', 'uscc', 'company', 'owner_id', 'attrs.budget', 'attrs.legacy']
    .map((f) => 'customer:' + f).concat(['amount', 'currency', 'probability', 'expected_close', 'payment_due', 'win_loss_reason', 'competitor']
      .map((f) => 'deal:' + f)));
  assert.deepEqual(await page.locator('#fp-matrix thead th.fp-th-role').evaluateAll((els) => els.map((e) => e.dataset.role)),
    ['manager', 'agent', 'sales', 'marketer']);
  assert.equal(await page.getAttribute(cell('sales', 'uscc'), 'data-access'), 'edit', 'everything editable at first');
  assert.equal(await page.isDisabled('#fp-save'), true, 'nothing to save yet');

  await choose('sales', 'uscc', 'hidden');
  await choose('sales', 'address', 'read');
  await choose('marketer', 'amount', 'hidden', 'deal');
  await page.waitForSelector('#fp-matrix[data-state=dirty]');
  assert.equal(await page.getAttribute(cell('sales', 'uscc'), 'data-access'), 'hidden');
  assert.equal(await page.getAttribute(cell('sales', 'uscc'), 'data-changed'), 'true');
  assert.match(await page.locator(cell('sales', 'address')).locator('xpath=..').textContent(), /Read-only/);
  // keyboard: the arrow keys move within a cell (radio buttons); back to editable
  await page.focus(`${cell('agent', 'region')} input[value=edit]`);
  await page.keyboard.press('ArrowRight');
  assert.equal(await page.getAttribute(cell('agent', 'region'), 'data-access'), 'read');
  await page.keyboard.press('ArrowLeft');
  assert.equal(await page.getAttribute(cell('agent', 'region'), 'data-access'), 'edit');
  assert.match(await page.textContent('#fp-summary'), /1 read-only.*2 hidden.*Unsaved/);

  await page.click('#fp-save');
  await page.waitForSelector('#fp-matrix[data-state=ready]');
  assert.equal(await page.getAttribute(cell('sales', 'uscc'), 'data-changed'), null, 'saved');
  const got = (await a.get('/api/v1/field-permissions')).json.items.map((x) => [x.role, x.object, x.field, x.access].join(' ')).sort();
  assert.deepEqual(got, ['marketer deal amount hidden', 'sales customer address read', 'sales customer uscc hidden']);
  assert.equal(await page.isDisabled('#fp-save'), true);

  // the custom field "legacy" is deleted while the page is open: the server refuses the matrix
  // naming it, and the page says so by that cell
  await choose('agent', 'attrs.legacy', 'read');
  const defs = (await a.get('/api/v1/field-defs')).json.items;
  assert.equal((await a.del('/api/v1/field-defs/' + defs.find((d) => d.key === 'legacy').id)).status, 204);
  await page.click('#fp-save');
  await page.waitForSelector(`#fp-matrix[data-state=error] ${cell('agent', 'attrs.legacy')}.invalid`);
  assert.match(await page.textContent('#fp-matrix-error'), /Agent · 旧编码 Legacy code \(attrs\.legacy\): not a field permissions can name/);
  assert.equal((await a.get('/api/v1/field-permissions')).json.total, 3, 'nothing changed');
  await shot(page, 'fieldperms', 'fields-matrix-error.png');
  // back to editable: the error goes, and the matrix saves (unchanged)
  await choose('agent', 'attrs.legacy', 'edit');
  assert.equal(await page.locator('#fp-rows .fp-seg.invalid').count(), 0);
  await page.waitForSelector('#fp-matrix[data-state=ready]');
  assert.equal(await page.textContent('#fp-matrix-error'), '');
  await page.locator('#fp-matrix').scrollIntoViewIfNeeded();
  await shot(page, 'fieldperms', 'fields-matrix.png');
  assert.deepEqual(page.errors, []);
});

test('the layout editor: a "工商 Registration" group first, holding uscc then address; deal layout saved and reset', async () => {
  await page.waitForSelector('#fp-layout[data-state=ready][data-object=customer][data-customised=false]');
  const objs = await page.locator('#fp-objs .fp-obj').evaluateAll((els) => els.map((e) => e.dataset.object));
  assert.deepEqual(objs, ['customer', 'deal', 'obj.equipment']);
  assert.equal(await page.locator('#fp-groups .fp-group').count(), 1, 'the default: one group');
  assert.equal(await page.inputValue('#fp-groups .fp-group[data-index="0"] .fp-gtitle'), 'Details 详情');
  assert.deepEqual((await groupFields(0)).slice(0, 3), ['name', 'customer_no', 'company']);
  // the saved permissions show on the fields
  assert.match(await page.textContent(fld('uscc') + ' .fp-hints'), /Sales/);

  await page.fill('#fp-groups .fp-group[data-index="0"] .fp-gtitle', '基本信息 Basics');
  await page.click('#fp-add-group');
  await page.waitForSelector('#fp-groups .fp-group[data-index="1"]');
  assert.equal(await page.evaluate(() => document.activeElement.classList.contains('fp-gtitle')), true, 'the new title has the focus');
  await page.keyboard.type('工商 Registration');
  // the new group goes first
  await page.click('#fp-groups .fp-group[data-index="1"] .fp-gup');
  assert.equal(await page.inputValue('#fp-groups .fp-group[data-index="0"] .fp-gtitle'), '工商 Registration');
  assert.equal(await page.evaluate(() => document.activeElement.classList.contains('fp-gdown')), true, 'the focus stays with the group');
  // uscc by its group menu; address by the keyboard: ↑ past the top of "Basics" lands at the end of "Registration"
  await page.selectOption(fld('uscc') + ' .fp-moveto', '0');
  assert.deepEqual(await groupFields(0), ['uscc']);
  await page.selectOption(fld('address') + ' .fp-moveto', '0');
  assert.deepEqual(await groupFields(0), ['uscc', 'address']);
  await page.click(fld('address') + ' .fp-down'); // into Basics, first
  assert.deepEqual((await groupFields(1))[0], 'address');
  await page.focus(fld('address') + ' .fp-up');
  await page.keyboard.press('Enter');
  assert.deepEqual(await groupFields(0), ['uscc', 'address']);
  assert.equal(await page.evaluate(() => document.activeElement.closest('.fp-fld').dataset.field), 'address', 'the focus follows the field');
  // a drag: tags to the top of Basics
  await page.dragAndDrop(fld('tags') + ' .fp-grip', fld('name'), { targetPosition: { x: 20, y: 3 } });
  assert.deepEqual((await groupFields(1)).slice(0, 2), ['tags', 'name']);
  await page.waitForSelector('#fp-layout[data-state=dirty]');
  // the page was read before "legacy" was deleted: the server refuses a layout naming it; the page
  // takes it out and says so, and the next Save goes through
  assert.equal(await page.locator(fld('attrs.legacy')).count(), 1);
  await page.click('#fp-lay-save');
  await page.waitForSelector('#fp-layout[data-state=error]');
  assert.match(await page.textContent('#fp-lay-error'), /旧编码 Legacy code \(attrs\.legacy\) no longer exists/);
  assert.equal(await page.locator(fld('attrs.legacy')).count(), 0);
  assert.equal((await a.get('/api/v1/layouts/customer')).json.customised, false, 'nothing stored');
  await page.click('#fp-lay-save');
  await page.waitForSelector('#fp-layout[data-state=ready][data-customised=true]');
  assert.equal(await page.textContent('#fp-lay-error'), '');
  const lay = (await a.get('/api/v1/layouts/customer')).json;
  assert.equal(lay.customised, true);
  assert.deepEqual(lay.groups.map((g) => g.title), ['工商 Registration', '基本信息 Basics']);
  assert.deepEqual(lay.groups[0].fields, ['uscc', 'address']);
  assert.deepEqual(lay.groups[1].fields.slice(0, 3), ['tags', 'name', 'customer_no']);
  assert.equal(lay.groups[1].fields.includes('attrs.budget'), true);
  // the preview, as sales would see the page: no uscc, address locked
  await page.selectOption('#fp-preview-role', 'sales');
  assert.deepEqual(await page.locator('#fp-preview-body .fp-pv-title').allTextContents(), ['工商 Registration', '基本信息 Basics']);
  assert.deepEqual(await page.locator('#fp-preview-body .fp-pv-group').first().locator('dt').allTextContents(), ['Address 地址']);
  assert.match(await page.textContent('#fp-preview-body .fp-pv-hidden'), /USCC/);
  assert.equal(await page.locator('#fp-preview-body .fp-pv-group').first().locator('.lock-hint').count(), 1);
  await page.locator('#fp-layout').scrollIntoViewIfNeeded();
  await shot(page, 'fieldperms', 'fields-layout.png');

  // an empty title: the server's 422 by the group
  await page.fill('#fp-groups .fp-group[data-index="1"] .fp-gtitle', ' ');
  await page.click('#fp-lay-save');
  await page.waitForSelector('#fp-layout[data-state=error] .fp-group[data-index="1"] .fp-gtitle-wrap.invalid');
  assert.match(await page.textContent('#fp-groups .fp-group[data-index="1"] .field-error'), /must not be empty/);
  await page.click('#fp-lay-revert');
  await page.waitForSelector('#fp-layout[data-state=ready]');

  // the deal page: saved, then reset to the default order
  await page.click('#fp-objs .fp-obj[data-object=deal]');
  await page.waitForSelector('#fp-layout[data-state=ready][data-object=deal][data-customised=false]');
  assert.deepEqual((await groupFields(0)).slice(0, 2), ['title', 'amount']);
  await page.click(fld('amount') + ' .fp-up');
  await page.click('#fp-lay-save');
  await page.waitForSelector('#fp-layout[data-state=ready][data-object=deal][data-customised=true]');
  assert.deepEqual((await a.get('/api/v1/layouts/deal')).json.groups[0].fields.slice(0, 2), ['amount', 'title']);
  await page.click('#fp-lay-reset');
  await page.click('#fp-reset-yes');
  await page.waitForSelector('#fp-layout[data-state=ready][data-object=deal][data-customised=false]');
  assert.equal((await a.get('/api/v1/layouts/deal')).json.customised, false);
  assert.deepEqual((await groupFields(0)).slice(0, 2), ['title', 'amount']);
  // a custom object type's page
  await page.click('#fp-objs .fp-obj[data-object="obj.equipment"]');
  await page.waitForSelector('#fp-layout[data-state=ready][data-object="obj.equipment"]');
  assert.deepEqual(await groupFields(0), ['serial_no', 'model']);
  assert.deepEqual(page.errors, []);
});

test('a sales agent: no uscc anywhere, address read-only (disabled, with a lock), groups in the layout order; the admin sees uscc', async () => {
  const sp = await signIn(sales);
  assert.equal(await hasTab(sp, 'fieldperms'), false, 'only admins have the Field access tab');
  await sp.goto(server.url + `/#/customers/${cust.id}`);
  await sp.waitForSelector(`#c360[data-customer="${cust.id}"] .lay-card[data-layout=custom]`);
  const body = await sp.evaluate(() => document.body.innerText);
  assert.ok(body.includes('上海云杉科技有限公司'));
  assert.equal(body.includes(USCC), false, 'the uscc value is nowhere on the page');
  assert.equal((await sp.content()).includes(USCC), false, 'nor in the document');
  assert.equal(await sp.locator('[data-field=uscc]').count(), 0, 'no uscc field drawn');
  assert.deepEqual(await sp.locator('.lay-card .lay-title').allTextContents(), ['工商 Registration', '基本信息 Basics']);
  const addr = sp.locator('.lay-card dd[data-field=address]');
  assert.match(await addr.textContent(), new RegExp(ADDRESS + '.*read-only'));
  assert.equal(await addr.locator('.lock-hint').count(), 1);
  assert.deepEqual(await sp.locator('.lay-card .lay-group').first().locator('dd').evaluateAll((els) => els.map((e) => e.dataset.field)),
    ['address'], 'Registration holds address only for sales');
  // the edit form: the same groups; address disabled, the rest saves without it
  await shot(sp, 'customer', 'fields-customer-sales.png');
  await sp.click('.lay-card .cf-edit');
  await sp.waitForSelector('.cf-form #cf-c-address');
  assert.equal(await sp.isDisabled('#cf-c-address'), true);
  assert.equal(await sp.inputValue('#cf-c-address'), ADDRESS);
  assert.equal(await sp.locator('.cf-row[data-field=address] .lock-hint').count(), 1);
  assert.equal(await sp.locator('#cf-c-uscc').count(), 0);
  assert.deepEqual(await sp.locator('.cf-form legend').allTextContents(), ['工商 Registration', '基本信息 Basics']);
  await sp.fill('#cf-c-region', '华南');
  await sp.fill('#cf-budget', '450000');
  await shot(sp, 'customer', 'fields-customer-sales-edit.png');
  await sp.click('.cf-form button[type=submit]');
  await sp.waitForFunction(() => !document.querySelector('.cf-form') && /华南/.test(document.querySelector('.lay-card').textContent));
  const stored = (await a.get(`/api/v1/customers/${cust.id}`)).json;
  assert.equal(stored.region, '华南');
  assert.equal(stored.attrs.budget, 450000);
  assert.equal(stored.address, ADDRESS);
  assert.equal(stored.uscc, USCC);
  assert.equal((await sp.evaluate(() => document.body.innerText)).includes(USCC), false);

  // the new-deal form follows the deal layout; currency read-only for sales: disabled, not sent
  const items = (await a.get('/api/v1/field-permissions')).json.items.map(({ role, object, field, access }) => ({ role, object, field, access }));
  assert.equal((await a.put('/api/v1/field-permissions', { items: [...items, { role: 'sales', object: 'deal', field: 'currency', access: 'read' }] })).status, 200);
  assert.equal((await a.put('/api/v1/layouts/deal', { groups: [{ title: '金额 Money', fields: ['amount', 'currency'] },
    { title: '基本 Basics', fields: ['title', 'stage_id', 'expected_close'] }] })).status, 200);
  await sp.reload(); // (read once per page load)
  await sp.waitForSelector(`#c360[data-customer="${cust.id}"] .deals-card`);
  await sp.click('.deals-card .crm-card-head button');
  await sp.waitForSelector('#deal-dialog[open] #deal-groups[data-sig] #deal-currency:disabled');
  assert.deepEqual(await sp.locator('#deal-groups legend').allTextContents(), ['金额 Money', '基本 Basics']);
  assert.deepEqual(await sp.locator('#deal-groups input, #deal-groups select').evaluateAll((els) => els.map((e) => e.id)),
    ['deal-amount', 'deal-currency', 'deal-title', 'deal-stage', 'deal-close']);
  assert.equal(await sp.locator('#deal-currency').locator('xpath=ancestor::*[contains(@class,"field")][1]').locator('.lock-hint').count(), 1);
  await sp.fill('#deal-title', '年度订阅');
  await sp.fill('#deal-amount', '88000');
  await shot(sp, 'customer', 'fields-deal-sales.png');
  await sp.click('#deal-save');
  await sp.waitForFunction(() => !document.querySelector('#deal-dialog').open);
  const deals = (await a.get(`/api/v1/deals?customer_id=${cust.id}`)).json.items;
  assert.deepEqual(deals.map((d) => [d.title, Number(d.amount), d.currency]), [['年度订阅', 88000, 'CNY']]);
  assert.deepEqual(sp.errors, []);
  await sp.close();

  // the admin is never restricted: uscc in Registration, editable
  await page.goto(server.url + `/#/customers/${cust.id}`);
  await page.waitForSelector(`#c360[data-customer="${cust.id}"] .lay-card[data-layout=custom]`);
  assert.match(await page.textContent('.lay-card dd[data-field=uscc]'), new RegExp(USCC));
  assert.equal(await page.locator('.lay-card .lock-hint').count(), 0);
  assert.deepEqual(await page.locator('.lay-card .lay-group').first().locator('dd').evaluateAll((els) => els.map((e) => e.dataset.field)),
    ['uscc', 'address']);
  assert.deepEqual(page.errors, []);
});
