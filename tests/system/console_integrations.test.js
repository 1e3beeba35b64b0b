'use strict';
// console_integrations.test.js — the console's Integrations 集成 page in a real headless
// Chromium (Debian chromium driven by playwright-core), against the real binary and MariaDB,
// with a local webhook receiver (a node HTTP server on 127.0.0.1, reached as "localhost",
// which [webhooks] allow_hosts lets through). As admin: an API key is created in the page, its
// secret read from the one-time panel works as a Bearer token, the page shows where it was
// last used, and revoking it in the page makes it answer 401; a webhook is created, its
// signing secret shown once, the ping arrives signed with that secret and the deliveries
// drawer shows it delivered (and a redelivery, the same event again); a private address is
// refused with the reason next to the URL field; a receiver answering 500 gets the webhook
// disabled, the page shows the notice and "Enable again" enables it (the API agrees); switch
// off, on and delete with confirmation. A manager has no Integrations tab. The page is waited
// on through its data-state attributes, never fixed sleeps (the server may run sanitized).
// Screenshots: var/screenshots/console-integrations.png, console-integrations-disabled.png.
const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const http = require('node:http');
const crypto = require('node:crypto');
const { launchChromium, openTab, hasTab } = require('./clients');
const { startServer, bootstrapAdmin, api, dropDatabase, createAgent, until } = require('./harness');

const SHOTS = path.join(__dirname, '..', '..', 'var', 'screenshots');
const SLOW = 60000; // a retried, then failed delivery under AddressSanitizer
let server, admin, a, browser, receiver, port, teamA, manager, page;
const got = []; // what the receiver got: {path, headers, body}
const modes = new Map(); // path → status to answer (default 200)
const at = (p) => got.filter((g) => g.path === p);
const url = (p) => `http://localhost:${port}${p}`;

before(async () => {
  fs.mkdirSync(SHOTS, { recursive: true });
  receiver = http.createServer((req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      got.push({ path: req.url, headers: req.headers, body: Buffer.concat(chunks).toString('utf8') });
      res.writeHead(modes.get(req.url) || 200, { 'Content-Type': 'text/plain' });
      res.end('ok');
    });
  });
  await new Promise((r) => receiver.listen(0, '127.0.0.1', r));
  port = receiver.address().port;
  server = await startServer({
    env: {
      SWITCHBOARD_ROUTING_ENABLED: 'no',
      SWITCHBOARD_WEBHOOKS_ALLOW_HOSTS: 'localhost',
      SWITCHBOARD_WEBHOOKS_RETRY_BASE_MS: '300',
      SWITCHBOARD_WEBHOOKS_MAX_ATTEMPTS: '2',
      SWITCHBOARD_WEBHOOKS_DISABLE_AFTER: '2',
      SWITCHBOARD_CRM_SETTLE_MS: '100',
    },
  });
  admin = await bootstrapAdmin(server);
  a = api(server, admin.token);
  teamA = (await a.post('/api/v1/teams', { name: '华东销售部' })).json;
  await a.post('/api/v1/teams', { name: '售后服务组' });
  manager = await createAgent(server, admin.token, { role: 'manager', name: '主管 陈静', team_id: teamA.id });
  browser = await launchChromium();
});

after(async () => {
  if (browser) await browser.close();
  if (server) { await server.stop(); dropDatabase(server); }
  if (receiver) receiver.close();
});

async function signIn(who, viewport = { width: 1440, height: 1500 }) {
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
async function openIntegrations(p) {
  await openTab(p, 'integrations');
  await p.waitForSelector('#int-page[data-state=ready] #ig-keys[data-state=ready]');
  await p.waitForSelector('#ig-hooks[data-state=ready]');
}
const text = (sel) => page.locator(sel).first().textContent();
const hookSel = (id, rest = '') => `.ig-hook[data-id="${id}"]${rest}`;
// the whole page (it scrolls inside the window): the window made as tall as the page, the toast away
async function shot(p, name) {
  const size = p.viewportSize();
  const h = await p.evaluate(() => { document.querySelector('#toast').hidden = true;
    return document.querySelector('.topbar').offsetHeight + document.querySelector('#view-integrations').scrollHeight; });
  await p.setViewportSize({ width: size.width, height: Math.max(size.height, h) });
  await p.screenshot({ path: path.join(SHOTS, name) });
  await p.setViewportSize(size);
}
// the signature as a receiver checks it: v1=hex(HMAC-SHA256(secret, timestamp + "." + raw body))
function verify(g, secret) {
  const ts = g.headers['switchboard-timestamp'];
  const want = 'v1=' + crypto.createHmac('sha256', secret).update(`${ts}.${g.body}`).digest('hex');
  assert.equal(g.headers['switchboard-signature'], want, 'the signature verifies with the secret the page showed');
  assert.ok(Math.abs(Date.now() / 1000 - Number(ts)) < 300, 'a fresh timestamp');
  return JSON.parse(g.body);
}
// nothing on the page still holds a secret once its panel is closed
const pageHolds = (p, secret) => p.evaluate((s) => document.body.innerText.includes(s) ||
  [...document.querySelectorAll('input, textarea')].some((i) => i.value.includes(s)), secret);

test('API key: created in the page, shown once, works as a Bearer token, last use shown; revoked in the page → 401', async () => {
  page = await signIn(admin);
  await page.context().grantPermissions(['clipboard-read', 'clipboard-write'], { origin: server.url });
  assert.equal(await hasTab(page, 'integrations'), true, 'admins have the Integrations tab');
  await openIntegrations(page);
  assert.equal(await page.evaluate(() => location.hash), '#/integrations');
  assert.match(await text('#ig-key-rows .ig-empty'), /No API keys yet/);
  assert.match(await text('#ig-hook-list .ig-empty'), /No webhooks yet/);
  // the teams come from GET /api/v1/teams
  const teams = await page.locator('#ig-key-team option').allTextContents();
  assert.deepEqual(teams, ['No team 无团队', '华东销售部', '售后服务组']);

  // no name: the server's 422 is said next to the field
  await page.click('#ig-key-create');
  await page.waitForSelector('#ig-key-form[data-state=error] .field.invalid .field-error[data-for=name]');
  assert.match(await text('#ig-key-form .field-error[data-for=name]'), /must not be empty · 不能为空/);
  assert.equal((await a.get('/api/v1/api-keys')).json.items.length, 0, 'nothing created');

  await page.fill('#ig-key-name', 'ERP 同步 (金蝶)');
  await page.selectOption('#ig-key-role', 'sales');
  assert.match(await text('#ig-role-hint'), /deals, leads/);
  await page.selectOption('#ig-key-team', String(teamA.id));
  await page.fill('#ig-key-rate', '120');
  await page.selectOption('#ig-key-expiry', '90');
  assert.equal(await page.locator('#ig-key-form .field-error[data-for=name]').textContent(), '', 'typing clears the error');
  assert.equal(await page.locator('#ig-key-form .field.invalid').count(), 0);
  await page.click('#ig-key-create');
  await page.waitForSelector('#ig-key-once[data-state=shown]');
  const key = await page.inputValue('#ig-key-value');
  assert.match(key, /^sbk_[A-Za-z0-9_-]{43}$/);
  assert.match(await text('#ig-key-once .ig-once-warn'), /you will not see it again/);
  assert.equal(await page.getAttribute('#ig-key-form', 'data-state'), 'idle');
  assert.equal(await page.inputValue('#ig-key-name'), '', 'the form is ready for the next key');
  // Copy puts the key on the clipboard
  await page.click('#ig-key-value-copy');
  await page.waitForSelector('#ig-key-value-copy[data-copied=true]');
  assert.equal(await page.evaluate(() => navigator.clipboard.readText()), key);

  const [k] = (await a.get('/api/v1/api-keys')).json.items;
  assert.equal(k.name, 'ERP 同步 (金蝶)');
  assert.equal(k.role, 'sales');
  assert.equal(k.team_id, teamA.id);
  assert.equal(k.rate_per_minute, 120);
  assert.equal(k.prefix, key.slice(0, 12));
  const days = (Date.parse(k.expires_at) - Date.now()) / 86400e3;
  assert.ok(days > 89 && days < 91, `expires in 90 days (${k.expires_at})`);
  const row = page.locator(`#ig-key-rows tr[data-prefix="${k.prefix}"]`);
  assert.equal(await row.getAttribute('data-status'), 'active');
  assert.match(await row.textContent(), /ERP 同步 \(金蝶\).*sbk_.{8}….*Sales 销售.*华东销售部.*120\/min.*Never used.*Active 有效/);

  // the key works as a Bearer token, as a sales user of its own
  const asKey = api(server, key);
  const me = await asKey.get('/api/v1/auth/me');
  assert.equal(me.status, 200, me.text);
  assert.equal(me.json.role, 'sales');
  assert.equal((await asKey.get('/api/v1/customers')).status, 200);
  // another key, made through the API and used once
  const other = (await a.post('/api/v1/api-keys', { name: '官网表单 website', role: 'agent' })).json;
  assert.equal((await api(server, other.key).get('/api/v1/auth/me')).status, 200);
  // coming back to the page shows where it was used from
  await openTab(page, 'tickets');
  await openIntegrations(page);
  await page.waitForFunction((p) => /from\s*127\.0\.0\.1/.test(document.querySelector(`#ig-key-rows tr[data-prefix="${p}"] .ig-used`).textContent), k.prefix);
  assert.match(await row.locator('.ig-used').textContent(), /just now|min ago/);
  assert.equal(await page.isVisible('#ig-key-once'), true, 'the panel stays until dismissed');

  // done: the key is gone from the page for good
  await page.click('#ig-key-once-done');
  await page.waitForSelector('#ig-key-once', { state: 'detached' });
  assert.equal(await pageHolds(page, key), false);

  // revoke, with a confirmation (Keep first)
  await row.locator('.ig-revoke').click();
  assert.match(await row.locator('.ig-confirm').textContent(), /Revoke “ERP 同步 \(金蝶\)”\? It stops working at once/);
  await row.locator('.ig-revoke-no').click();
  assert.equal(await row.locator('.ig-revoke').count(), 1);
  assert.equal((await asKey.get('/api/v1/auth/me')).status, 200, 'kept');
  await row.locator('.ig-revoke').click();
  await row.locator('.ig-revoke-yes').click();
  await page.waitForSelector(`#ig-key-rows tr[data-prefix="${k.prefix}"][data-status=revoked]`);
  assert.match(await row.locator('.ig-st').textContent(), /Revoked 已吊销/);
  assert.equal(await row.locator('.ig-revoke').count(), 0, 'nothing more to revoke');
  assert.equal((await asKey.get('/api/v1/auth/me')).status, 401, 'a revoked key answers 401');
  assert.equal((await asKey.get('/api/v1/customers')).status, 401);
  assert.ok((await a.get('/api/v1/api-keys')).json.items.find((x) => x.id === k.id).revoked_at);
  assert.equal(await page.getAttribute(`#ig-key-rows tr[data-prefix="${other.prefix}"]`, 'data-status'), 'active', 'the other key is untouched');
  assert.equal((await api(server, other.key).get('/api/v1/auth/me')).status, 200);
  assert.deepEqual(page.errors, []);
});

let hookId, pingDelivery;
test('webhook: the secret shown once; the ping arrives signed with it; the drawer shows it delivered; redeliver', async () => {
  await page.fill('#ig-hook-url', url('/erp'));
  await page.fill('#ig-hook-desc', 'ERP 订单同步');
  assert.equal(await page.isChecked('#ig-ev-all'), true, 'all events by default');
  assert.equal(await page.isDisabled('.ig-ev-k[data-kind="ticket.created"]'), true);
  await page.uncheck('#ig-ev-all');
  // none chosen: said next to the events, nothing sent
  await page.click('#ig-hook-create');
  assert.match(await text('#ig-hook-form .field-error[data-for=events]'), /choose at least one event/);
  await page.check('.ig-ev-k[data-kind="ticket.created"]');
  await page.check('.ig-ev-k[data-kind="deal.won"]');
  await page.click('#ig-hook-create');
  await page.waitForSelector('#ig-hook-once[data-state=shown]');
  const secret = await page.inputValue('#ig-hook-secret');
  assert.match(secret, /^whsec_[A-Za-z0-9_-]{32}$/);
  assert.match(await text('#ig-hook-once .ig-once-warn'), /you will not see it again/);
  assert.match(await text('#ig-hook-once .ig-once-note'), /webhook\.ping/);

  const [w] = (await a.get('/api/v1/webhooks')).json.items;
  hookId = w.id;
  assert.equal(w.url, url('/erp'));
  assert.equal(w.description, 'ERP 订单同步');
  assert.deepEqual(w.events, ['ticket.created', 'deal.won']);
  assert.equal(w.secret, undefined);

  // the ping arrives, signed with the secret the page showed
  await until(() => at('/erp').length >= 1, SLOW, 'the ping');
  const ping = verify(at('/erp')[0], secret);
  assert.equal(ping.type, 'webhook.ping');
  assert.equal(ping.data.webhook_id, hookId);

  // the drawer opened by itself and follows the ping to delivered
  const item = page.locator(hookSel(hookId));
  await page.waitForSelector(hookSel(hookId, ' .ig-drawer tr[data-event="webhook.ping"][data-state=delivered]'), { timeout: SLOW });
  const drow = item.locator('.ig-drawer tr[data-event="webhook.ping"]');
  pingDelivery = Number(await drow.getAttribute('data-id'));
  assert.match(await drow.textContent(), /webhook\.ping.*id ping-\d+.*Delivered 已送达.*1.*HTTP 200/);
  await page.waitForFunction((s) => /HTTP 200/.test(document.querySelector(s).textContent), hookSel(hookId, ' .ig-last'));
  assert.equal(await item.getAttribute('data-state'), 'active');
  assert.match(await item.locator('.ig-hook-l1').textContent(), /localhost:\d+\/erp.*Active 启用中/);
  assert.deepEqual(await item.locator('.ig-hook-evs .badge').allTextContents(), ['ticket.created', 'deal.won']);
  assert.equal(await item.locator('.ig-fails').textContent(), '0');
  await shot(page, 'console-integrations.png');

  // redeliver: the same event again, signed afresh
  await drow.locator('.ig-redeliver').click();
  await until(() => at('/erp').length >= 2, SLOW, 'the redelivery');
  const again = at('/erp')[1];
  verify(again, secret);
  assert.equal(again.headers['switchboard-event-id'], at('/erp')[0].headers['switchboard-event-id']);
  assert.equal(again.body, at('/erp')[0].body, 'the same body');
  await page.waitForFunction((s) => { const r = document.querySelector(s); return r && r.dataset.state === 'delivered' && r.querySelector('.ig-att').textContent === '2'; },
    hookSel(hookId, ` .ig-drawer tr[data-id="${pingDelivery}"]`), { timeout: SLOW });

  await page.click('#ig-hook-once-done');
  await page.waitForSelector('#ig-hook-once', { state: 'detached' });
  assert.equal(await pageHolds(page, secret), false, 'the secret is gone from the page');
  // the drawer closes and opens again
  await item.locator('.ig-dl-btn').click();
  await page.waitForSelector(hookSel(hookId, ' .ig-drawer'), { state: 'detached' });
  assert.equal(await item.locator('.ig-dl-btn').getAttribute('aria-expanded'), 'false');
  await item.locator('.ig-dl-btn').click();
  await page.waitForSelector(hookSel(hookId, ' .ig-drawer[data-state=ready] tr[data-event="webhook.ping"]'));
  assert.deepEqual(page.errors, []);
});

test('a private address is refused, the reason next to the URL field', async () => {
  const before_ = (await a.get('/api/v1/webhooks')).json.items.length;
  await page.fill('#ig-hook-url', 'http://10.0.0.1/');
  await page.check('#ig-ev-all');
  await page.click('#ig-hook-create');
  await page.waitForSelector('#ig-hook-form[data-state=error] .field.invalid .field-error[data-for=url]');
  assert.match(await text('#ig-hook-form .field-error[data-for=url]'), /private or loopback address/);
  // the why, next to the field
  assert.equal(await page.isVisible('#ig-url-why'), true);
  assert.match(await text('#ig-url-why'), /only to public internet addresses.*allow_hosts/);
  const box = await page.locator('#ig-url-why').boundingBox(), field = await page.locator('#ig-hook-url').boundingBox();
  assert.ok(box.y > field.y && box.y - (field.y + field.height) < 80, 'right under the URL field');
  assert.equal((await a.get('/api/v1/webhooks')).json.items.length, before_, 'nothing created');
  assert.equal(await page.isVisible('#ig-hook-once'), false);
  // fixing the address clears the error
  await page.fill('#ig-hook-url', 'https://');
  assert.equal(await page.locator('#ig-hook-form .field.invalid').count(), 0);
  assert.equal(await page.isVisible('#ig-url-why'), false);
  await page.fill('#ig-hook-url', '');
  assert.deepEqual(page.errors, []);
});

test('a receiver answering 500: the webhook is disabled, the page says why, "Enable again" enables it', async () => {
  modes.set('/broken', 500);
  await page.fill('#ig-hook-url', url('/broken'));
  await page.fill('#ig-hook-desc', '旧系统 bridge');
  await page.click('#ig-hook-create');
  await page.waitForSelector('#ig-hook-once[data-state=shown]');
  const w = (await a.get('/api/v1/webhooks')).json.items.find((x) => x.url === url('/broken'));
  assert.deepEqual(w.events, ['*']);
  // two attempts, both 500: the worker disables it; the page follows (the open drawer, the reminder)
  const item = page.locator(hookSel(w.id));
  await page.waitForSelector(hookSel(w.id, '[data-state=disabled] .ig-notice'), { timeout: SLOW });
  assert.equal(at('/broken').length, 2);
  const hook = (await a.get(`/api/v1/webhooks/${w.id}`)).json;
  assert.equal(hook.active, false);
  assert.ok(hook.disabled_at);
  const notice = await item.locator('.ig-notice').textContent();
  assert.match(notice, new RegExp('Disabled 已停用: ' + hook.disabled_reason));
  assert.match(notice, /Since .*HTTP 500.*Fix the receiver, then enable it again/);
  assert.equal(await item.locator('.ig-enable-again').isVisible(), true);
  assert.match(await item.locator('.ig-hook-l1').textContent(), /Disabled 已停用/);
  assert.equal(await item.locator('.ig-fails').textContent(), '2');
  assert.match(await item.locator('.ig-last').textContent(), /HTTP 500/);
  assert.equal(await item.locator('.ig-toggle').count(), 0, 'enabled again only through the notice');
  // the drawer: the ping failed after two attempts, the receiver's answer said
  await page.waitForSelector(hookSel(w.id, ' .ig-drawer tr[data-event="webhook.ping"][data-state=failed]'));
  const drow = item.locator('.ig-drawer tr[data-event="webhook.ping"]');
  assert.match(await drow.textContent(), /Failed 失败.*2.*HTTP 500.*the receiver answered HTTP 500/);
  assert.match(await item.locator('.ig-drawer-note').textContent(), /This webhook is off/);
  // the head counts it
  await page.waitForSelector('#ig-summary-disabled');
  assert.match(await text('#ig-summary-disabled'), /1 disabled/);
  assert.match(await text('#ig-hooks-count'), /2 webhooks · 1 disabled/);
  // every admin got a reminder of kind webhook_disabled (the bell shows reminders)
  await until(async () => (await a.get('/api/v1/reminders')).json.items.some((r) => r.kind === 'webhook_disabled'), SLOW, 'the reminder');
  // from anywhere, the bell's notice leads to this page
  await openTab(page, 'tickets');
  await page.click('#bell');
  const rem = page.locator('#bell-menu .rem-link', { hasText: `Webhook #${w.id}` });
  await rem.waitFor({ timeout: SLOW });
  assert.match(await page.locator('#bell-menu .rem', { hasText: `Webhook #${w.id}` }).textContent(), /Webhook disabled 已停用/);
  await rem.click();
  await page.waitForSelector('#view-integrations:not([hidden])');
  assert.equal(await page.isHidden('#bell-menu'), true);
  assert.equal(await page.evaluate(() => location.hash), '#/integrations');
  await page.click('#ig-hook-once-done');
  await page.waitForSelector('#ig-hook-once', { state: 'detached' });
  await shot(page, 'console-integrations-disabled.png');

  // the receiver is fixed: enable again; the API agrees; a redelivery of the ping goes through
  modes.set('/broken', 204);
  await item.locator('.ig-enable-again').click();
  await page.waitForSelector(hookSel(w.id, '[data-state=active]'));
  assert.equal(await item.locator('.ig-notice').count(), 0);
  const on = (await a.get(`/api/v1/webhooks/${w.id}`)).json;
  assert.equal(on.active, true);
  assert.equal(on.failure_count, 0);
  assert.equal(on.disabled_at, null);
  assert.equal(await page.locator('#ig-summary-disabled').count(), 0);
  await page.waitForSelector(hookSel(w.id, ' .ig-drawer tr[data-event="webhook.ping"][data-state=failed] .ig-redeliver:not([disabled])'));
  await item.locator('.ig-drawer tr[data-event="webhook.ping"] .ig-redeliver').click();
  await page.waitForSelector(hookSel(w.id, ' .ig-drawer tr[data-event="webhook.ping"][data-state=delivered]'), { timeout: SLOW });
  assert.equal(at('/broken').length, 3);
  assert.match(await item.locator('.ig-drawer tr[data-event="webhook.ping"]').textContent(), /Delivered 已送达.*3.*HTTP 204/);
  assert.deepEqual(page.errors, []);
});

test('switch a webhook off and on, delete one (with a confirmation)', async () => {
  const item = page.locator(hookSel(hookId));
  await item.locator('.ig-toggle').click();
  await page.waitForSelector(hookSel(hookId, '[data-state=paused]'));
  assert.equal((await a.get(`/api/v1/webhooks/${hookId}`)).json.active, false);
  assert.match(await item.locator('.ig-hook-l1').textContent(), /Off 已关闭/);
  assert.equal(await item.locator('.ig-notice').count(), 0, 'switched off by hand: no failure notice');
  await item.locator('.ig-enable').click();
  await page.waitForSelector(hookSel(hookId, '[data-state=active]'));
  assert.equal((await a.get(`/api/v1/webhooks/${hookId}`)).json.active, true);

  await item.locator('.ig-del').click();
  assert.match(await item.locator('.ig-confirm').textContent(), /Delete this webhook and its delivery log\?/);
  await item.locator('.ig-del-no').click();
  assert.equal(await item.locator('.ig-del').count(), 1);
  await item.locator('.ig-del').click();
  await item.locator('.ig-del-yes').click();
  await page.waitForSelector(hookSel(hookId), { state: 'detached' });
  assert.equal((await a.get(`/api/v1/webhooks/${hookId}`)).status, 404);
  assert.equal(await page.locator('.ig-hook').count(), 1);
  assert.deepEqual(page.errors, []);
  await page.context().close();
});

test('a manager has no Integrations tab, and its address lands on the conversations', async () => {
  const p = await signIn(manager);
  assert.equal(!(await hasTab(p, 'integrations')), true);
  await p.evaluate(() => { location.hash = '#/integrations'; });
  await until(async () => (await p.evaluate(() => location.hash)) === '', 5000, 'back to the conversations');
  assert.equal(await p.isVisible('#view-tickets'), true);
  assert.equal(await p.isHidden('#view-integrations'), true);
  assert.equal(await p.locator('#int-page > *').count(), 0, 'nothing of the page was built');
  assert.equal((await api(server, manager.token).get('/api/v1/api-keys')).status, 403);
  assert.deepEqual(p.errors, []);
  await p.context().close();
});
