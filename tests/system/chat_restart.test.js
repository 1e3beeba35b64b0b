'use strict';
// chat_restart.test.js — switchboard restarts while a customer (/chat widget) and an agent
// (console) are mid-conversation. Both pages reconnect by themselves (backoff, no reload);
// a message the customer typed during the outage waits as "pending", is delivered after the
// reconnect exactly once, and a new agent reply reaches the customer. Checked in both pages
// and in what the server stored (REST messages list): nothing lost, nothing doubled.
const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const path = require('node:path');
const { launchChromium } = require('./clients');
const { startServer, bootstrapAdmin, api, dropDatabase, ROOT } = require('./harness');

const W = '#switchboard-chat'; // the widget's host; its open shadow root is pierced by CSS selectors

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

async function openPage(viewport) {
  const ctx = await browser.newContext({ viewport });
  const page = await ctx.newPage();
  page.setDefaultTimeout(10000);
  const rec = { errors: [], dialogs: [], navigations: 0 };
  page.on('pageerror', (e) => rec.errors.push(e.message));
  page.on('dialog', (d) => { rec.dialogs.push(d.message()); d.dismiss().catch(() => {}); });
  page.on('framenavigated', (f) => { if (f === page.mainFrame()) rec.navigations += 1; });
  return { ctx, page, rec };
}

/** Texts of the widget's bubbles; sent ones and pending ones separately. */
function widgetBubbles(page) {
  return page.evaluate((sel) => {
    const r = document.querySelector(sel).shadowRoot;
    const texts = (q) => [...r.querySelectorAll(q)].map((e) => e.textContent);
    return { all: texts('.m'), pending: texts('.m.pending'), agent: texts('.m.them') };
  }, W);
}

async function customerSend(cp, text) {
  await cp.fill(`${W} textarea`, text);
  await cp.press(`${W} textarea`, 'Enter');
}

async function agentReply(ap, text) {
  await ap.fill('.reply textarea', text);
  await ap.press('.reply textarea', 'Enter');
  await ap.waitForFunction((t) => [...document.querySelectorAll('.thread .msg.out')].some((e) => e.textContent === t), text);
}

const waitWidgetText = (cp, cls, text) => cp.waitForFunction(({ sel, cls, text }) =>
  [...document.querySelector(sel).shadowRoot.querySelectorAll(cls)].some((e) => e.textContent === text), { sel: W, cls, text });

test('a restart of switchboard mid-conversation: both pages reconnect, nothing lost or doubled', async () => {
  const agent = await openPage({ width: 1300, height: 800 });
  const customer = await openPage({ width: 1000, height: 740 });
  const ap = agent.page, cp = customer.page;

  await ap.goto(`${server.url}/`);
  await ap.fill('#login-email', 'admin@example.com');
  await ap.fill('#login-password', admin.password);
  await ap.click('#login-form button[type=submit]');
  await ap.waitForFunction(() => document.querySelector('#live').textContent.includes('live'));

  await cp.goto(`${server.url}/chat`);
  await cp.waitForSelector(`${W}[data-state=ready]`, { state: 'attached' });
  await customerSend(cp, 'before the restart 重启前');
  await ap.waitForSelector('#ticket-list li:has-text("before the restart")');
  await ap.click('#ticket-list li:has-text("before the restart")');
  await ap.waitForSelector('.thread .msg.in');
  await agentReply(ap, 'first answer 第一次回复');
  await waitWidgetText(cp, '.m.them', 'first answer 第一次回复');
  const navs = { agent: agent.rec.navigations, customer: customer.rec.navigations };

  // stop the server; both pages notice
  const { port, dbName } = server;
  const stopped = await server.stop();
  assert.equal(stopped.code, 0, `clean shutdown: ${JSON.stringify(stopped)}`);
  await cp.waitForSelector(`${W}[data-state=reconnecting]`, { state: 'attached' });
  await ap.waitForFunction(() => !document.querySelector('#live').textContent.includes('live'));

  // the customer writes during the outage: it waits as pending
  await customerSend(cp, 'sent while you were down 断线时发送');
  await cp.waitForFunction((sel) => document.querySelector(sel).shadowRoot.querySelectorAll('.m.pending').length === 1, W);

  // same port, same database
  server = await startServer({ port, dbName, migrate: false });

  // both reconnect by themselves; the pending message is delivered and acknowledged
  await cp.waitForSelector(`${W}[data-state=ready]`, { state: 'attached', timeout: 15000 });
  await cp.waitForFunction((sel) => !document.querySelector(sel).shadowRoot.querySelector('.m.pending'), W, { timeout: 15000 });
  await ap.waitForFunction(() => document.querySelector('#live').textContent.includes('live'), null, { timeout: 15000 });
  await ap.waitForFunction(() => [...document.querySelectorAll('.thread .msg.in')]
    .some((e) => e.textContent === 'sent while you were down 断线时发送'), null, { timeout: 10000 });

  // the conversation goes on: a new reply reaches the customer
  await agentReply(ap, 'second answer 第二次回复');
  await waitWidgetText(cp, '.m.them', 'second answer 第二次回复');

  const expected = ['before the restart 重启前', 'first answer 第一次回复', 'sent while you were down 断线时发送',
    'second answer 第二次回复'];
  const b = await widgetBubbles(cp);
  assert.deepEqual(b.all, expected, 'customer page: every message once, in order');
  assert.deepEqual(b.pending, []);
  const thread = await ap.evaluate(() => [...document.querySelectorAll('.thread .msg.in, .thread .msg.out')].map((e) => e.textContent));
  assert.deepEqual(thread, expected, 'agent page: every message once, in order');

  const a = api(server, admin.token);
  const list = await a.get('/api/v1/tickets?channel=chat');
  assert.equal(list.json.items.length, 1, 'still one conversation');
  const msgs = await a.get(`/api/v1/tickets/${list.json.items[0].id}/messages`);
  assert.deepEqual(msgs.json.items.map((m) => m.body_text), expected, 'stored: nothing lost, nothing doubled');

  assert.deepEqual({ agent: agent.rec.navigations, customer: customer.rec.navigations }, navs, 'no page reloaded');
  assert.deepEqual([...agent.rec.errors, ...customer.rec.errors], [], 'no script errors');
  assert.deepEqual([...agent.rec.dialogs, ...customer.rec.dialogs], [], 'no dialogs');
  await cp.screenshot({ path: path.join(ROOT, 'var', 'test-logs', 'chat-restart-customer.png') });
  await ap.screenshot({ path: path.join(ROOT, 'var', 'test-logs', 'chat-restart-agent.png') });
  await agent.ctx.close();
  await customer.ctx.close();
});
