'use strict';
// console_objects.test.js — custom objects (docs/objects.md) in the console, in a real headless
// Chromium (Debian chromium driven by playwright-core) against the real binary and MariaDB.
// An admin defines "设备 Equipment" on the Objects admin page with Chinese field labels
// (序列号 text required, 型号 select, 安装日期 date, 保修截止 date, 运行小时 number, the last
// two reordered with the arrows) and a ticket relation; a select field without options is
// refused with the reason next to its options. The list page shows those Chinese column
// headers; two records are created for a customer through the generated form (the first
// without its required serial: the server's message next to the field, then fixed), plus
// more through the API; the list pages, filters by 型号 and by a 保修截止 range, searches by
// serial and sorts by clicking a column; a record page edits a record (its emptied required
// serial refused next to the field first); the customer's 360 shows the 设备 card with both records, its
// "Add" opens the form with the customer set, an item opens its record page, which deletes
// it after a confirmation. An agent reads and writes records but has no "Manage types".
// Waits are on the pages' data-state attributes, never fixed sleeps (the server may run
// sanitized). Screenshots: var/screenshots/objects-admin.png, objects-list.png,
// objects-record.png, objects-360.png (and objects-admin-error.png, objects-form-error.png).
const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const { launchChromium, openTab, hasTab } = require('./clients');
const { startServer, bootstrapAdmin, api, dropDatabase, createAgent } = require('./harness');

const SHOTS = path.join(__dirname, '..', '..', 'var', 'screenshots');
const SLOW = 30000;
let server, admin, a, browser, page, agent;
let cust, other, ticket;

before(async () => {
  fs.mkdirSync(SHOTS, { recursive: true });
  server = await startServer({ env: { SWITCHBOARD_ROUTING_ENABLED: 'no', SWITCHBOARD_CRM_SETTLE_MS: '100' } });
  admin = await bootstrapAdmin(server);
  a = api(server, admin.token);
  cust = (await a.post('/api/v1/customers', { name: '华东机械', company: '华东机械制造有限公司', phone: '13800138001' })).json;
  other = (await a.post('/api/v1/customers', { name: '南方电力', company: '南方电力工程公司', phone: '13900139002' })).json;
  ticket = (await a.post('/api/v1/tickets', { customer_id: cust.id, channel: 'phone', subject: 'X100 运行异响 报修' })).json;
  assert.ok(cust.id && other.id && ticket.id);
  agent = await createAgent(server, admin.token, { role: 'agent', name: '坐席 李娜' });
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
  return p;
}
// the objects API, as the admin
async function oapi(method, p, body) {
  const r = await a[{ GET: 'get', POST: 'post', PUT: 'put', PATCH: 'patch', DELETE: 'del' }[method]](p, body);
  return { status: r.status, json: r.json };
}
const text = (sel) => page.locator(sel).first().textContent();
// the whole page (it scrolls inside the window): the window made as tall as the page, the toast away
async function shot(name, view, dialog) {
  const size = page.viewportSize();
  const h = await page.evaluate((v) => { document.querySelector('#toast').hidden = true;
    return document.querySelector('.topbar').offsetHeight + document.querySelector('#view-' + v).scrollHeight + 4; }, view);
  if (!dialog) await page.setViewportSize({ width: size.width, height: Math.max(size.height, h) });
  await page.screenshot({ path: path.join(SHOTS, name) });
  if (!dialog) await page.setViewportSize(size);
}
// waits until the list shows the answer to a query holding every one of parts (and none of absent)
async function listReady(parts = [], absent = []) {
  await page.waitForFunction(([want, not]) => {
    const b = document.querySelector('#ob-list');
    if (!b || b.dataset.state !== 'ready') return false;
    const q = new URLSearchParams(b.dataset.query || '');
    const has = (s) => { const [k, v] = s.split('='); return v === undefined ? q.has(k) : q.get(k) === v; };
    return want.every(has) && !not.some(has);
  }, [parts, absent], { timeout: SLOW });
}
const titles = () => page.$$eval('#ob-rows tr.ob-row td.ob-td-title', (tds) => tds.map((t) => t.textContent));
const column = (key) => page.$$eval(`#ob-rows tr.ob-row td[data-key="${key}"]`, (tds) => tds.map((t) => t.textContent));
const row = (n) => page.locator('#obt-fields .obt-frow').nth(n);

test('an admin defines 设备 Equipment on the Objects admin page: Chinese labels, a select needs options, reorder', async () => {
  page = await signIn(admin);
  assert.equal(await hasTab(page, 'objects'), true, 'admins have the Objects tab');
  await openTab(page, 'objects');
  await page.waitForSelector('#ob-page[data-state=ready][data-mode=empty]');
  assert.match(await text('#ob-page .ob-blank'), /No object types yet/);
  await page.click('#ob-page .ob-blank button:has-text("Define a type")');
  await page.waitForSelector('#obt-page[data-state=ready] #obt-form');
  assert.equal(await page.evaluate(() => location.hash), '#/objecttypes');

  await page.fill('#obt-label', '设备 Equipment');
  assert.equal(await page.inputValue('#obt-key'), 'equipment', 'the key follows the Latin part of the label');
  await page.check('#obt-rel-ticket');
  // the first row is there already (text, required)
  await row(0).locator('.obt-f-label').fill('序列号');
  await row(0).locator('.obt-f-key').fill('serial_no');
  assert.equal(await row(0).locator('.obt-f-req').isChecked(), true);
  const addField = async (label, key, type) => {
    await page.click('#obt-add-field');
    const r = page.locator('#obt-fields .obt-frow').last();
    await r.locator('.obt-f-label').fill(label);
    await r.locator('.obt-f-key').fill(key);
    if (type !== 'text') await r.locator('.obt-f-type').selectOption(type);
  };
  await addField('型号', 'model', 'select');
  await addField('安装日期', 'install_date', 'date');
  await addField('运行小时', 'hours', 'number');
  await addField('保修截止', 'warranty_end', 'date');
  // 保修截止 goes before 运行小时
  await row(4).locator('.obt-f-up').click();
  assert.deepEqual(await page.$$eval('#obt-fields .obt-f-key', (i) => i.map((x) => x.value)), ['serial_no', 'model', 'install_date', 'warranty_end', 'hours']);
  await page.selectOption('#obt-title', 'serial_no');

  // 型号 is a select without options: the server's reason next to its options
  await page.click('#obt-save');
  await page.waitForSelector('#obt-form[data-state=error]', { timeout: SLOW });
  const optErr = row(1).locator('.field-error[data-for="fields[1].options"]');
  assert.notEqual((await optErr.textContent()).trim(), '', 'the options error is next to the options of row 2');
  assert.equal(await row(1).locator('.c-opts').evaluate((c) => c.classList.contains('invalid')), true);
  assert.equal((await oapi('GET', '/api/v1/object-types')).json.total, 0, 'nothing created');
  await shot('objects-admin-error.png', 'objecttypes');

  // options: Enter adds each; a duplicate is not added twice
  const optIn = row(1).locator('.obt-f-opt-in');
  for (const o of ['X100', 'X200', 'X300', 'X200']) { await optIn.fill(o); await optIn.press('Enter'); }
  assert.deepEqual(await row(1).locator('.obt-chip').evaluateAll((c) => c.map((x) => x.dataset.value)), ['X100', 'X200', 'X300']);
  assert.equal(await row(1).locator('.c-opts').evaluate((c) => c.classList.contains('invalid')), false, 'adding an option clears the mark');
  await page.click('#obt-save');
  await page.waitForSelector('#obt-form[data-state=saved]', { timeout: SLOW });
  assert.equal(await page.evaluate(() => location.hash), '#/objecttypes/equipment');
  assert.match(await text('#obt-list .obt-item.active'), /设备 Equipment.*equipment.*5 fields/);
  assert.equal(await page.locator('#ob-manage').getAttribute('aria-current'), 'page');
  assert.match(await text('#obt-page .ob-type-pill[data-type=equipment]'), /设备 Equipment\s*0/);

  const t = (await oapi('GET', '/api/v1/object-types/equipment')).json;
  assert.equal(t.label, '设备 Equipment');
  assert.deepEqual(t.relations, { deal: false, ticket: true });
  assert.equal(t.title_field, 'serial_no');
  assert.deepEqual(t.fields.map((f) => [f.key, f.label, f.type, !!f.required]), [
    ['serial_no', '序列号', 'text', true], ['model', '型号', 'select', false], ['install_date', '安装日期', 'date', false],
    ['warranty_end', '保修截止', 'date', false], ['hours', '运行小时', 'number', false]]);
  assert.deepEqual(t.fields[1].options, ['X100', 'X200', 'X300']);
  // a saved field keeps its key and type
  assert.equal(await row(0).locator('.obt-f-key').evaluate((i) => i.readOnly), true);
  assert.equal(await row(1).locator('.obt-f-type').isDisabled(), true);
  await shot('objects-admin.png', 'objecttypes');
  assert.deepEqual(page.errors, []);
});

test('the list page: Chinese column headers; two records through the generated form, the first refused without its serial', async () => {
  await page.click('#obt-open-list');
  await page.waitForSelector('#ob-page[data-state=ready][data-mode=list][data-type=equipment]');
  await listReady();
  assert.equal(await page.evaluate(() => location.hash), '#/objects/equipment');
  const heads = await page.$$eval('#ob-table thead th', (th) => th.map((x) => x.textContent.trim()));
  assert.deepEqual(heads, ['序列号', '型号', '安装日期', '保修截止', '运行小时', 'Customer 客户', 'Ticket 工单', 'Updated 更新']);
  assert.match(await text('#ob-rows .ob-empty'), /No 设备 Equipment yet/);

  await page.click('#ob-new');
  await page.waitForSelector('#ob-dialog[open] #obd-form');
  assert.match(await text('#ob-dialog-title'), /New 设备 Equipment/);
  assert.equal(await page.locator('#obd-form .ob-field[data-key=serial_no] .req').count(), 1, 'required is marked');
  // the customer, found by name
  await page.fill('#obd-customer', '华东');
  await page.click(`#obd-customer-list li.pick[data-id="${cust.id}"]`);
  assert.match(await text('#obd-customer-chosen'), /华东机械/);
  // the customer's tickets to choose from
  await page.waitForSelector(`#obd-ticket option[value="${ticket.id}"]`, { state: 'attached', timeout: SLOW });
  await page.selectOption('#obd-ticket', String(ticket.id));
  await page.selectOption('#obd-v-model', 'X100');
  await page.fill('#obd-v-install_date', '2026-01-05');
  await page.fill('#obd-v-warranty_end', '2027-01-05');
  await page.fill('#obd-v-hours', '1520');
  await page.click('#ob-dialog-save');
  await page.waitForSelector('#obd-form[data-state=error]', { timeout: SLOW });
  const serialErr = page.locator('#obd-form .field-error[data-for="values.serial_no"]');
  assert.notEqual((await serialErr.textContent()).trim(), '', 'the reason is next to 序列号');
  assert.equal(await page.locator('#obd-form .ob-field[data-key=serial_no]').evaluate((f) => f.classList.contains('invalid')), true);
  assert.equal(await page.evaluate(() => document.activeElement.id), 'obd-v-serial_no', 'the field to fix has the focus');
  await shot('objects-form-error.png', 'objects', true);
  await page.fill('#obd-v-serial_no', 'SN-0001');
  assert.equal((await serialErr.textContent()).trim(), '', 'typing clears the error');
  await page.click('#ob-dialog-save');
  await page.waitForSelector('#ob-dialog', { state: 'hidden', timeout: SLOW });
  await page.waitForSelector('#ob-rows tr.ob-row', { timeout: SLOW });
  await listReady();
  assert.deepEqual(await titles(), ['SN-0001']);

  // the second one, typed with the keyboard: the customer picked with Enter
  await page.click('#ob-new');
  await page.waitForSelector('#ob-dialog[open] #obd-form');
  await page.fill('#obd-customer', '华东机械');
  await page.waitForSelector(`#obd-customer-list li.pick.active[data-id="${cust.id}"]`);
  await page.press('#obd-customer', 'Enter');
  await page.waitForSelector('#obd-customer-chosen:not([hidden])');
  await page.fill('#obd-v-serial_no', 'SN-0002');
  await page.selectOption('#obd-v-model', 'X200');
  await page.fill('#obd-v-install_date', '2026-03-01');
  await page.fill('#obd-v-warranty_end', '2029-06-30');
  await page.fill('#obd-v-hours', '300');
  await page.click('#ob-dialog-save');
  await page.waitForSelector('#ob-dialog', { state: 'hidden', timeout: SLOW });
  await page.waitForFunction(() => document.querySelectorAll('#ob-rows tr.ob-row').length === 2, null, { timeout: SLOW });
  await listReady();
  assert.deepEqual(await titles(), ['SN-0002', 'SN-0001'], 'newest first');

  const recs = (await oapi('GET', `/api/v1/objects/equipment?customer_id=${cust.id}`)).json;
  assert.equal(recs.total, 2);
  const r1 = recs.items.find((r) => r.title === 'SN-0001');
  assert.deepEqual(r1.values, { serial_no: 'SN-0001', model: 'X100', install_date: '2026-01-05', warranty_end: '2027-01-05', hours: 1520 });
  assert.equal(r1.ticket_id, ticket.id);
  assert.equal(r1.customer_name, '华东机械');
  assert.deepEqual(page.errors, []);
});

// the other customer's fleet, through the API: no X200 and no warranty ending before 2030
const FLEET = Array.from({ length: 23 }, (_, i) => ({
  serial_no: 'SN-' + (1001 + i), model: i % 3 ? 'X300' : 'X100', install_date: `2025-${String(1 + (i % 12)).padStart(2, '0')}-15`,
  warranty_end: `20${30 + (i % 4)}-12-31`, hours: 100 * (i + 2) + 7 }));

test('the list pages, filters by 型号 and a 保修截止 range, searches by serial and sorts by a column', async () => {
  for (const values of FLEET) {
    const r = await oapi('POST', '/api/v1/objects/equipment', { customer_id: other.id, values });
    assert.equal(r.status, 201, JSON.stringify(r.json));
  }
  await page.click('#ob-page .ob-type-pill[data-type=equipment]');
  await page.waitForFunction(() => document.querySelector('#ob-list')?.dataset.total === '25', null, { timeout: SLOW });
  await listReady(['page=1']);
  assert.equal(await text('#ob-range'), '1–20 of 25');
  assert.equal(await page.locator('#ob-rows tr.ob-row').count(), 20);
  assert.match(await text('#ob-total'), /25 records/);
  await page.click('#ob-next');
  await listReady(['page=2']);
  assert.equal(await text('#ob-page-n'), 'Page 2 / 2');
  assert.equal(await page.locator('#ob-rows tr.ob-row').count(), 5);
  assert.equal(await page.isDisabled('#ob-next'), true);
  await page.click('#ob-prev');
  await listReady(['page=1']);
  await shot('objects-list.png', 'objects');

  // 型号 = X200
  await page.selectOption('#ob-f-model', 'X200');
  await listReady(['f.model=X200']);
  assert.deepEqual(await titles(), ['SN-0002']);
  assert.equal(await page.locator('#ob-fgrid .ob-f[data-key=model]').evaluate((f) => f.classList.contains('on')), true);
  await page.selectOption('#ob-f-model', '');
  await listReady([], ['f.model']);
  // 保修截止 between Dec 2026 and June 2027
  await page.fill('#ob-f-warranty_end-gte', '2026-12-01');
  await listReady(['f.warranty_end.gte=2026-12-01']);
  await page.fill('#ob-f-warranty_end-lte', '2027-06-30');
  await listReady(['f.warranty_end.gte=2026-12-01', 'f.warranty_end.lte=2027-06-30']);
  assert.deepEqual(await titles(), ['SN-0001']);
  assert.deepEqual(await column('warranty_end'), ['Jan 5, 2027']);
  await page.click('#ob-clear');
  await listReady([], ['f.warranty_end.gte', 'f.warranty_end.lte']);
  assert.equal(await page.inputValue('#ob-f-warranty_end-gte'), '', 'the filters are cleared');
  // search by serial (any case)
  await page.fill('#ob-q', 'sn-0002');
  await listReady(['q=sn-0002']);
  assert.deepEqual(await titles(), ['SN-0002']);
  await page.fill('#ob-q', '');
  await listReady([], ['q']);
  // a minimum that is not a number: the server's 400 said next to 运行小时, the table says why it is empty
  await page.fill('#ob-f-hours-gte', 'abc');
  await page.waitForSelector('#ob-list[data-state=error]', { timeout: SLOW });
  assert.notEqual((await text('#ob-fgrid .ob-f[data-key=hours] .field-error')).trim(), '');
  assert.equal(await page.locator('#ob-fgrid .ob-f[data-key=hours]').evaluate((f) => f.classList.contains('invalid')), true);
  assert.match(await text('#ob-rows .ob-empty'), /Fix the filter/);
  await page.fill('#ob-f-hours-gte', '');
  await listReady([], ['f.hours.gte']);
  assert.equal(await page.locator('#ob-fgrid .ob-f.invalid').count(), 0);
  // 运行小时: ascending, then descending
  await page.click('#ob-table th[data-key=hours] .ob-sort');
  await listReady(['sort=hours']);
  assert.equal(await page.getAttribute('#ob-table th[data-key=hours]', 'aria-sort'), 'ascending');
  assert.deepEqual((await column('hours')).slice(0, 3), ['207', '300', '307']);
  await page.click('#ob-table th[data-key=hours] .ob-sort');
  await listReady(['sort=-hours']);
  assert.equal(await page.getAttribute('#ob-table th[data-key=hours]', 'aria-sort'), 'descending');
  assert.deepEqual((await column('hours')).slice(0, 2), ['2,407', '2,307']);
  assert.deepEqual(page.errors, []);
});

test('a record page: opened from the list, the emptied serial refused next to its field, then edited and saved', async () => {
  await page.click('#ob-table th[data-key=hours] .ob-sort'); // back to newest first
  await listReady([], ['sort']);
  await page.fill('#ob-q', 'SN-0001');
  await listReady(['q=SN-0001']);
  await page.click('#ob-rows tr.ob-row');
  await page.waitForSelector('#ob-page[data-state=ready][data-mode=record]');
  assert.match(await page.evaluate(() => location.hash), /^#\/objects\/equipment\/\d+$/);
  assert.equal(await text('#ob-rec-title'), 'SN-0001');
  assert.match(await text('.ob-rec-customer'), /华东机械/);
  assert.equal(await page.inputValue('#obr-v-model'), 'X100');
  assert.equal(await page.inputValue('#obr-v-hours'), '1520');
  assert.equal(await page.inputValue('#obr-v-warranty_end'), '2027-01-05');
  await page.waitForSelector(`#obr-ticket option[value="${ticket.id}"]`, { state: 'attached', timeout: SLOW });
  assert.equal(await page.inputValue('#obr-ticket'), String(ticket.id));

  // the required serial emptied: refused next to it, nothing changed
  await page.fill('#obr-v-serial_no', '');
  await page.fill('#obr-v-hours', '1600');
  await page.click('#ob-rec-save');
  await page.waitForSelector('#ob-rec-form[data-state=error]', { timeout: SLOW });
  assert.notEqual((await text('#ob-rec-form .field-error[data-for="values.serial_no"]')).trim(), '');
  assert.equal((await oapi('GET', `/api/v1/objects/equipment?q=SN-0001`)).json.items[0].values.hours, 1520, 'nothing saved');
  await page.fill('#obr-v-serial_no', 'SN-0001');
  await page.selectOption('#obr-v-model', 'X200');
  await page.click('#ob-rec-save');
  await page.waitForSelector('#ob-rec-form[data-state=saved]', { timeout: SLOW });
  assert.match(await text('#ob-rec-saved'), /Saved/);
  const id = Number((await page.evaluate(() => location.hash)).split('/').pop());
  const r = (await oapi('GET', '/api/v1/objects/equipment/' + id)).json;
  assert.equal(r.values.hours, 1600);
  assert.equal(r.values.model, 'X200');
  assert.equal(r.values.serial_no, 'SN-0001', 'untouched values stay');
  assert.equal(await page.inputValue('#obr-v-hours'), '1600');
  await shot('objects-record.png', 'objects');
  assert.deepEqual(page.errors, []);
});

test('the customer 360 shows the 设备 card with both records; Add presets the customer; an item opens, and is deleted', async () => {
  await page.click('.ob-rec-customer');
  await page.waitForSelector(`#c360[data-customer="${cust.id}"] .ob-360[data-type=equipment]`, { timeout: SLOW });
  const card = page.locator('.ob-360[data-type=equipment]');
  assert.equal(await card.getAttribute('data-total'), '2');
  assert.match(await card.locator('h3').textContent(), /设备 Equipment\s*2/);
  assert.deepEqual(await card.locator('thead th').allTextContents(), ['序列号', '型号', '安装日期']);
  assert.deepEqual(await card.locator('.ob-mini-title').allTextContents(), ['SN-0002', 'SN-0001']);
  assert.match(await card.locator('tr.ob-mini-row').nth(1).textContent(), /SN-0001.*X200.*Jan 5, 2026/);
  await shot('objects-360.png', 'customer');

  // Add: the form with the customer already chosen
  await card.locator('.ob-360-add').click();
  await page.waitForSelector('#ob-dialog[open] #obd-form');
  assert.equal(await page.isVisible('#obd-customer-chosen'), true);
  assert.match(await text('#obd-customer-chosen'), /华东机械/);
  assert.equal(await page.isVisible('#obd-customer'), false);
  await page.click('#ob-dialog-cancel');
  await page.waitForSelector('#ob-dialog', { state: 'hidden' });

  // an item opens its record page; delete it (Keep first)
  await card.locator('tr.ob-mini-row', { hasText: 'SN-0002' }).click();
  await page.waitForSelector('#ob-page[data-state=ready][data-mode=record]');
  assert.equal(await text('#ob-rec-title'), 'SN-0002');
  const id = Number((await page.evaluate(() => location.hash)).split('/').pop());
  await page.click('#ob-delete');
  await page.click('#ob-delete-no');
  assert.equal(await page.isVisible('#ob-delete'), true);
  await page.click('#ob-delete');
  await page.click('#ob-delete-yes');
  await page.waitForSelector('#ob-page[data-mode=list][data-type=equipment]', { timeout: SLOW });
  await listReady(['q=SN-0001']);
  assert.equal(await page.inputValue('#ob-q'), 'SN-0001', 'the list keeps its search');
  assert.deepEqual(await titles(), ['SN-0001']);
  assert.equal((await oapi('GET', '/api/v1/objects/equipment/' + id)).status, 404);
  await page.click('#ob-clear');
  await listReady([], ['q']);
  assert.equal(await page.locator('#ob-list').getAttribute('data-total'), '24');
  assert.deepEqual(page.errors, []);
});

test('the record form follows the type\'s layout: its groups, titles and order', async () => {
  const r = await oapi('PUT', '/api/v1/layouts/obj.equipment', { groups: [
    { title: '保修 Warranty', fields: ['warranty_end', 'install_date'] },
    { title: '基本 Basics', fields: ['serial_no', 'model'] }] });
  assert.equal(r.status, 200, JSON.stringify(r));
  const p = await signIn(admin); // layouts are read once per sign-in
  try {
    await p.goto(server.url + '/#/objects/equipment');
    await p.waitForSelector('#ob-page[data-state=ready][data-mode=list][data-type=equipment]');
    await p.click('#ob-new');
    await p.waitForSelector('#ob-dialog[open] #obd-form[data-layout=applied]', { timeout: SLOW });
    const groups = await p.$$eval('#obd-form .ob-group', (gs) => gs.map((g) => ({
      title: g.querySelector('.ob-group-h').textContent, keys: [...g.querySelectorAll('.ob-field')].map((f) => f.dataset.key) })));
    assert.deepEqual(groups, [
      { title: '保修 Warranty', keys: ['warranty_end', 'install_date'] },
      { title: '基本 Basics', keys: ['serial_no', 'model'] },
      { title: 'Other 其他', keys: ['hours'] }]);
    await p.screenshot({ path: path.join(SHOTS, 'objects-layout.png') });
    assert.deepEqual(p.errors, []);
  } finally {
    await p.context().close();
    await oapi('DELETE', '/api/v1/layouts/obj.equipment');
  }
});

test('an agent reads and writes records, but has no Manage types', async () => {
  const p = await signIn(agent);
  const keep = page;
  page = p;
  try {
    await page.waitForFunction(() => !document.querySelector('.tab[data-view=objects]').hidden, null, { timeout: SLOW });
    assert.equal(await hasTab(page, 'objects'), true);
    await openTab(page, 'objects');
    await page.waitForSelector('#ob-page[data-state=ready][data-mode=list][data-type=equipment]');
    await listReady();
    assert.equal(await page.locator('#ob-manage').count(), 0);
    assert.equal(await page.isVisible('#ob-new'), true);
    await page.evaluate(() => { location.hash = '#/objecttypes'; });
    await page.waitForFunction(() => location.hash !== '#/objecttypes', null, { timeout: SLOW });
    assert.equal(await page.isVisible('#view-objecttypes'), false, 'the admin page is not for agents');
    assert.deepEqual(page.errors, []);
  } finally {
    page = keep;
    await p.context().close();
  }
});
