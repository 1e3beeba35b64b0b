'use strict';
// console.test.js — the agent console in a real headless Chromium (Debian chromium driven
// by playwright-core): sign in, a ticket created elsewhere appears live over /ws/agent,
// reply from the thread, and customer text that looks like HTML is shown as text.
const { test, before, after } = require('node:test');
const assert = require('node:assert');
const { launchChromium } = require('./clients');
const { startServer, bootstrapAdmin, api, dropDatabase } = require('./harness');

let server, admin, browser;

before(async () => {
  server = await startServer();
  admin = await bootstrapAdmin(server);
  browser = await launchChromium();
});

after(async () => {
  if (browser) await browser.close();
  if (server) { await server.stop(); dropDatabase(server); }
});

test('sign in, live ticket, reply, and hostile text stays text', async () => {
  const a = api(server, admin.token);
  const hostile = '<img src=x onerror="window.__xss=1">王小明';
  const cust = await a.post('/api/v1/customers', { name: hostile, email: 'xss@example.com' });
  assert.strictEqual(cust.status, 201, cust.text);

  const page = await browser.newPage({ viewport: { width: 1280, height: 760 } });
  const pageErrors = [];
  page.on('pageerror', (e) => pageErrors.push(e.message));
  await page.goto(server.url + '/');
  await page.fill('#login-email', 'admin@example.com');
  await page.fill('#login-password', 'wrong-password-1');
  await page.click('button[type=submit]');
  await page.waitForFunction(() => document.querySelector('#login-error').textContent.length > 0);

  await page.fill('#login-password', admin.password);
  await page.click('button[type=submit]');
  await page.waitForSelector('#app:not([hidden])');
  await page.waitForFunction(() => document.querySelector('#live').textContent.includes('live'));

  // created through the API after the console loaded: must arrive over the websocket
  const t = await a.post('/api/v1/tickets', { customer_id: cust.json.id, channel: 'email', subject: '退款 refund 😀' });
  assert.strictEqual(t.status, 201, t.text);
  await page.waitForSelector('#ticket-list li', { timeout: 5000 });
  assert.match(await page.textContent('#ticket-list'), /退款 refund 😀/);
  assert.ok((await page.textContent('#ticket-list')).includes(hostile), 'customer name shown verbatim');

  await page.click('#ticket-list li');
  await page.waitForSelector('.reply textarea');
  await page.fill('.reply textarea', '您好，已为您处理 <b>bold?</b>');
  await page.click('.reply button[type=submit]');
  await page.waitForSelector('.thread .msg.out');
  assert.match(await page.textContent('.thread'), /您好，已为您处理 <b>bold\?<\/b>/);

  const stored = await a.get(`/api/v1/tickets/${t.json.id}/messages`);
  assert.strictEqual(stored.json.items.length, 1);
  assert.strictEqual(stored.json.items[0].status, 'queued');

  await page.click('button[data-view=customers]');
  await page.fill('#customer-q', '王小明');
  await page.waitForFunction(() => document.querySelector('#customer-total').textContent.startsWith('1 '));
  assert.strictEqual(await page.evaluate(() => window.__xss), undefined, 'no script ran from customer data');
  assert.strictEqual(await page.locator('img[src=x]').count(), 0, 'no element made from customer data');
  assert.deepStrictEqual(pageErrors, []);
  await page.screenshot({ path: require('node:path').join(__dirname, '..', '..', 'var', 'test-logs', 'console.png') });
  await page.close();
});
