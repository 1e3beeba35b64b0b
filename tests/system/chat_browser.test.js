'use strict';
// chat_browser.test.js — the web chat end to end in real headless Chromium (Debian's
// chromium driven by playwright-core): a customer on /chat (the widget, embedded with one
// script tag) and a signed-in agent console talk to each other over /ws/chat and /ws/agent.
// Chinese and emoji survive, the customer's message shows in the console within 1 s without
// a reload, HTML typed by the customer stays text on both pages, no dialog ever opens, and
// a reload of the customer page keeps the conversation (visitor token in localStorage).
// Screenshots: var/test-logs/chat-customer.png and var/test-logs/chat-agent.png.
const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const http = require('node:http');
const path = require('node:path');
const { launchChromium } = require('./clients');
const { startServer, bootstrapAdmin, api, dropDatabase, ROOT } = require('./harness');

const LOG_DIR = path.join(ROOT, 'var', 'test-logs');
const GREETING = '你好，我的订单还没到 😊';
const REPLY = '您好！我们马上为您查询 order #123 <b>today</b> 🚚';
const HOSTILE = '<img src=x onerror=alert(1)>';

let server, admin, browser;

before(async () => {
  server = await startServer();
  admin = await bootstrapAdmin(server);
  browser = await launchChromium();
  fs.mkdirSync(LOG_DIR, { recursive: true });
});

after(async () => {
  if (browser) await browser.close();
  if (server) { await server.stop(); dropDatabase(server); }
});

/** A page in its own browser context that records dialogs, page errors and navigations. */
async function openPage(viewport) {
  const ctx = await browser.newContext({ viewport });
  const page = await ctx.newPage();
  page.setDefaultTimeout(8000);
  const rec = { dialogs: [], errors: [], navigations: 0 };
  page.on('dialog', (d) => { rec.dialogs.push(`${d.type()}: ${d.message()}`); d.dismiss().catch(() => {}); });
  page.on('pageerror', (e) => rec.errors.push(e.message));
  page.on('framenavigated', (f) => { if (f === page.mainFrame()) rec.navigations += 1; });
  return { ctx, page, rec };
}

// The widget lives in an open shadow root; Playwright's CSS selectors pierce it.
const W = '#switchboard-chat';

test('customer on /chat and agent console talk live; HTML stays text; reload keeps history', async () => {
  const agent = await openPage({ width: 1400, height: 820 });
  const customer = await openPage({ width: 1100, height: 760 });
  const ap = agent.page, cp = customer.page;

  // the agent signs in through the login form and goes live
  await ap.goto(`${server.url}/`);
  await ap.fill('#login-email', 'admin@example.com');
  await ap.fill('#login-password', admin.password);
  await ap.click('#login-form button[type=submit]');
  await ap.waitForSelector('#app:not([hidden])');
  await ap.waitForFunction(() => document.querySelector('#live').textContent.includes('live'));
  await ap.evaluate(() => { window.__noReload = 'still here'; });
  const navsBefore = agent.rec.navigations;

  // the customer opens the demo page; the widget opens by itself and connects
  await cp.goto(`${server.url}/chat`);
  await cp.waitForSelector(`${W}[data-state=ready]`, { state: 'attached' });
  await cp.waitForSelector(`${W} textarea`, { state: 'visible' });
  await cp.fill(`${W} textarea`, GREETING);
  const t0 = Date.now();
  await cp.press(`${W} textarea`, 'Enter');

  // shown in the console's list, live, within 1 s of pressing Enter
  await ap.waitForFunction((text) => document.querySelector('#ticket-list').textContent.includes(text), GREETING,
    { polling: 'raf', timeout: 5000 });
  const shownAfterMs = Date.now() - t0;
  assert.ok(shownAfterMs < 1000, `customer message reached the console after ${shownAfterMs} ms (limit 1000)`);
  assert.equal(agent.rec.navigations, navsBefore, 'the console did not navigate');
  assert.equal(await ap.evaluate(() => window.__noReload), 'still here', 'the console did not reload');

  // the customer's bubble is acknowledged (pending → sent)
  await cp.waitForFunction((sel) => {
    const r = document.querySelector(sel).shadowRoot;
    return r.querySelectorAll('.m.me:not(.pending)').length === 1 && !r.querySelector('.m.pending');
  }, W);

  // the agent opens the conversation and replies
  await ap.click(`#ticket-list li:has-text("${GREETING}")`);
  await ap.waitForSelector('.thread .msg.in');
  assert.equal((await ap.textContent('.thread .msg.in')).trim(), GREETING);
  await ap.fill('.reply textarea', REPLY);
  await ap.press('.reply textarea', 'Enter');
  await ap.waitForFunction((text) => [...document.querySelectorAll('.thread .msg.out')].some((e) => e.textContent === text), REPLY);

  // the reply reaches the customer
  await cp.waitForFunction(({ sel, text }) => [...document.querySelector(sel).shadowRoot.querySelectorAll('.m.them')]
    .some((e) => e.textContent === text), { sel: W, text: REPLY });

  // markup typed by the customer is text on both pages
  await cp.fill(`${W} textarea`, HOSTILE);
  await cp.click(`${W} button.send`);
  await cp.waitForFunction(({ sel, text }) => [...document.querySelector(sel).shadowRoot.querySelectorAll('.m.me:not(.pending)')]
    .some((e) => e.textContent === text), { sel: W, text: HOSTILE });
  await ap.waitForFunction((text) => [...document.querySelectorAll('.thread .msg.in')].some((e) => e.textContent === text), HOSTILE);
  for (const p of [ap, cp]) {
    assert.equal(await p.locator('img[src=x]').count(), 0, 'no <img> made from the message');
  }

  // what the server stored: each message once, in order
  const a = api(server, admin.token);
  const list = await a.get('/api/v1/tickets?channel=chat');
  assert.equal(list.status, 200, list.text);
  assert.equal(list.json.items.length, 1, 'one chat conversation');
  const ticketId = list.json.items[0].id;
  const msgs = await a.get(`/api/v1/tickets/${ticketId}/messages`);
  assert.deepEqual(msgs.json.items.map((m) => [m.direction, m.body_text]),
    [['in', GREETING], ['out', REPLY], ['in', HOSTILE]]);

  await cp.screenshot({ path: path.join(LOG_DIR, 'chat-customer.png') });
  await ap.screenshot({ path: path.join(LOG_DIR, 'chat-agent.png') });

  // reload: the widget presents its stored token and shows the same conversation
  const token = await cp.evaluate(() => Object.keys(localStorage).filter((k) => k.endsWith(':token')).map((k) => localStorage.getItem(k))[0]);
  assert.ok(token && token.length > 20, 'visitor token kept in localStorage');
  await cp.reload();
  await cp.waitForSelector(`${W}[data-state=ready]`, { state: 'attached' });
  const bubbles = await cp.evaluate((sel) => [...document.querySelector(sel).shadowRoot.querySelectorAll('.m')]
    .map((e) => e.textContent), W);
  assert.deepEqual(bubbles, [GREETING, REPLY, HOSTILE], 'history after reload, each message once');
  const again = await a.get(`/api/v1/tickets/${ticketId}/messages`);
  assert.equal(again.json.items.length, 3, 'nothing stored twice by the reload');
  const tokenAfter = await cp.evaluate(() => Object.keys(localStorage).filter((k) => k.endsWith(':token')).map((k) => localStorage.getItem(k))[0]);
  assert.equal(tokenAfter, token, 'same visitor after reload');

  assert.deepEqual(agent.rec.dialogs, [], 'no dialog on the agent page');
  assert.deepEqual(customer.rec.dialogs, [], 'no dialog on the customer page');
  assert.deepEqual(agent.rec.errors, [], 'no script error on the agent page');
  assert.deepEqual(customer.rec.errors, [], 'no script error on the customer page');
  await agent.ctx.close();
  await customer.ctx.close();
});

test('one script tag embeds the widget on another site; the site\'s CSS and the widget\'s stay apart', async () => {
  // a "customer website" on another origin, with aggressive CSS of its own
  const site = http.createServer((req, res) => {
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
    res.end(`<!doctype html><html><head><meta charset="utf-8"><title>Some shop</title>
<style>* { color: rgb(255, 0, 0) !important; font-size: 31px !important; } button { background: rgb(0, 255, 0) !important; }</style>
</head><body><h1>Some shop</h1><button id="own">Buy</button>
<script src="${server.url}/widget.js" async></script></body></html>`);
  });
  await new Promise((r) => site.listen(0, '127.0.0.1', r));
  const siteUrl = `http://127.0.0.1:${site.address().port}/`;
  const { ctx, page, rec } = await openPage({ width: 1000, height: 720 });
  try {
    await page.goto(siteUrl);
    // closed by default on a normal site: the launcher opens it
    await page.waitForSelector(`${W} button.launch`);
    assert.equal(await page.isVisible(`${W} .panel`), false, 'starts closed without data-open');
    await page.click(`${W} button.launch`);
    await page.waitForSelector(`${W}[data-state=ready]`, { state: 'attached' });
    await page.fill(`${W} textarea`, 'from another site 来自其他网站');
    await page.press(`${W} textarea`, 'Enter');
    await page.waitForFunction((sel) => {
      const r = document.querySelector(sel).shadowRoot;
      return r.querySelectorAll('.m.me:not(.pending)').length === 1;
    }, W);
    // the host's CSS does not reach into the widget, and the widget's does not reach out
    const styles = await page.evaluate((sel) => {
      const r = document.querySelector(sel).shadowRoot;
      const bubble = getComputedStyle(r.querySelector('.m.me'));
      return { bubbleColor: bubble.color, bubbleSize: bubble.fontSize,
        ownButton: getComputedStyle(document.querySelector('#own')).backgroundColor };
    }, W);
    assert.notEqual(styles.bubbleColor, 'rgb(255, 0, 0)', 'host colour does not leak into the widget');
    assert.notEqual(styles.bubbleSize, '31px', 'host font size does not leak into the widget');
    assert.equal(styles.ownButton, 'rgb(0, 255, 0)', 'the widget does not restyle the host page');
    // keys are namespaced by the chat server's origin, in the host site's storage
    const keys = await page.evaluate(() => Object.keys(localStorage));
    assert.ok(keys.includes(`sbchat:${new URL(server.url).origin}:token`), `namespaced token key in ${JSON.stringify(keys)}`);
    const stored = await api(server, admin.token).get('/api/v1/tickets?channel=chat');
    const bodies = [];
    for (const t of stored.json.items) {
      const m = await api(server, admin.token).get(`/api/v1/tickets/${t.id}/messages`);
      bodies.push(...m.json.items.map((x) => x.body_text));
    }
    assert.ok(bodies.includes('from another site 来自其他网站'), 'stored by the server');
    assert.deepEqual(rec.dialogs, []);
    assert.deepEqual(rec.errors, []);
  } finally {
    await ctx.close();
    site.close();
  }
});
