'use strict';
// kb_chat_browser.test.js — the knowledge base in conversations, in real headless Chromium
// (Debian's chromium driven by playwright-core) against the real binary and MariaDB, with
// routing on. Chat self-service in the widget: a visitor asks how to get a refund and gets
// the bot's article offer with a clickable link and two buttons; "转人工 · Talk to a person"
// hands over (the buttons stay disabled, the choice marked), the router offers the chat to
// the online agent, who accepts it in the console and sees the question, the offer and the
// handover in the thread; a second visitor's "✓ 解决了" gets the thanks, the ticket is solved,
// and a reload keeps the answer; an answer to an offer no longer open gets a quiet note.
// The console: the "Suggested articles 推荐文章" panel follows the chat live (kb.suggestions),
// and an inserted article's link is clickable in the widget; for an e-mail ticket it lists
// the refund article first, Insert puts the article's plain text and public link into the
// reply at the cursor and counts one use, Open goes to the Knowledge view; a flagged ticket
// and its CSAT show as chips; no match says so.
// Screenshots: var/screenshots/kb-chat-offer.png, kb-console-suggestions.png.
const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const { launchChromium, openTab } = require('./clients');
const { startServer, bootstrapAdmin, api, sql, dropDatabase, createAgent, until } = require('./harness');

const SHOTS = path.join(__dirname, '..', '..', 'var', 'screenshots');
const LOG_DIR = path.join(__dirname, '..', '..', 'var', 'test-logs');
const W = '#switchboard-chat'; // the widget's host; Playwright's CSS selectors pierce its open shadow root
const QUESTION = '请问怎么退款？';
let server, admin, a, agent, browser;
const art = {};

// A text value as an SQL literal that needs no escaping.
const lit = (v) => `CONVERT(X'${Buffer.from(String(v)).toString('hex')}' USING utf8mb4)`;

before(async () => {
  fs.mkdirSync(SHOTS, { recursive: true });
  server = await startServer({ env: { SWITCHBOARD_ROUTING_INTERVAL_MS: '50' } });
  admin = await bootstrapAdmin(server);
  a = api(server, admin.token);
  const mk = async (body) => {
    const r = await a.post('/api/v1/kb/articles', { locale: 'zh', published: true, ...body });
    assert.equal(r.status, 201, r.text);
    return r.json;
  };
  art.refund = await mk({
    title: '退款流程说明', category: '售后服务',
    body: '在**订单详情**点击“申请退款”，审核通过后 1–3 个工作日原路退回：\n\n' +
      '- 支付宝、微信：1–3 个工作日\n- 银行卡：3–7 个工作日\n\n退款进度可在订单页查看。',
  });
  art.address = await mk({ title: '修改收货地址', category: '订单与配送', body: '订单发货前可在订单详情修改收货地址；发货后请联系快递员。' });
  art.invoice = await mk({ title: '发票申请', category: '发票', body: '在订单页申请电子发票，开票后发送到邮箱。' });
  art.shipping = await mk({ title: '退货运费谁承担', category: '售后服务',
    body: '商品质量问题的退货运费由我们承担；非质量问题退货，运费由买家承担，退款金额不含运费。' });
  // the agent who takes chats: no team (sees unteamed work), room for chats and e-mails
  agent = await createAgent(server, admin.token, { name: 'Lin Xiao 林晓', capacity: { chat: 3, email: 10 } });
  browser = await launchChromium();
});

after(async () => {
  if (browser) await browser.close();
  if (server) { await server.stop(); dropDatabase(server); }
});

/** A page in its own browser context (own localStorage) that records dialogs and script errors. */
async function openPage(viewport) {
  const ctx = await browser.newContext({ viewport, locale: 'en-US' });
  const page = await ctx.newPage();
  page.setDefaultTimeout(8000);
  page.rec = { dialogs: [], errors: [] };
  page.on('dialog', (d) => { page.rec.dialogs.push(`${d.type()}: ${d.message()}`); d.dismiss().catch(() => {}); });
  page.on('pageerror', (e) => page.rec.errors.push(e.message));
  return page;
}
async function signIn(who) {
  const page = await openPage({ width: 1440, height: 900 });
  await page.goto(server.url + '/');
  await page.fill('#login-email', who.email);
  await page.fill('#login-password', who.password);
  await page.click('#login-form button[type=submit]');
  await page.waitForSelector('#app:not([hidden])');
  await page.waitForFunction(() => document.querySelector('#live').textContent.includes('live'));
  return page;
}
/** A visitor on /chat (the widget opens by itself) who asks the question. */
async function visitorAsks(text) {
  const page = await openPage({ width: 1100, height: 760 });
  await page.goto(`${server.url}/chat`);
  await page.waitForSelector(`${W}[data-state=ready]`, { state: 'attached' });
  await page.fill(`${W} textarea`, text);
  await page.press(`${W} textarea`, 'Enter');
  await page.waitForSelector(`${W} .offer button.ob.yes`);
  return page;
}
// the bubbles of the widget, as {cls, text}
const bubbles = (page) => page.evaluate((sel) => [...document.querySelector(sel).shadowRoot.querySelectorAll('.m')]
  .map((e) => ({ cls: e.className, text: e.textContent })), W);
const offerState = (page) => page.evaluate((sel) => [...document.querySelector(sel).shadowRoot.querySelectorAll('.offer .ob')]
  .map((b) => ({ answer: b.dataset.answer, disabled: b.disabled, chosen: b.classList.contains('chosen') })), W);
const newestChat = async () => {
  const r = await a.get('/api/v1/tickets?channel=chat&per_page=50');
  assert.equal(r.status, 200, r.text);
  return r.json.items.reduce((m, t) => (t.id > m.id ? t : m), { id: 0 });
};
const ticket = async (id) => (await a.get(`/api/v1/tickets/${id}`)).json;

let agentPage;

test('chat: the bot offers the refund article; "talk to a person" hands over to the agent, who sees the whole exchange', async () => {
  agentPage = await signIn(agent); // the console goes online: the router may offer it chats
  const ap = agentPage;
  const cp = await visitorAsks(QUESTION);

  // the offer: the article's title, snippet and a link to the public article; two buttons
  const [q, offer] = await bubbles(cp);
  assert.equal(q.text, QUESTION);
  assert.match(offer.cls, /\bbot\b/);
  assert.match(offer.text, /退款流程说明/);
  assert.match(offer.text, /阅读全文 · Read the article/);
  const link = await cp.evaluate((sel) => {
    const l = document.querySelector(sel).shadowRoot.querySelector('.m.bot a');
    return { href: l.href, target: l.target, rel: l.rel };
  }, W);
  assert.equal(link.href, `${server.url}/kb#/article/${art.refund.id}`);
  assert.equal(link.target, '_blank');
  assert.match(link.rel, /noopener/);
  assert.deepEqual(await offerState(cp), [
    { answer: 'solved', disabled: false, chosen: false }, { answer: 'person', disabled: false, chosen: false }]);
  assert.equal(await cp.textContent(`${W} .offer .ob.yes`), '✓ 解决了 · This solved it');
  assert.equal(await cp.textContent(`${W} .offer .ob.no`), '转人工 · Talk to a person');
  const chat = await newestChat();
  assert.equal((await ticket(chat.id)).status, 'pending', 'waits for the visitor, not routed');
  await cp.screenshot({ path: path.join(SHOTS, 'kb-chat-offer.png') });

  // "talk to a person": the handover message, the buttons disabled with the choice marked
  await cp.click(`${W} .offer .ob.no`);
  await cp.waitForFunction((sel) => [...document.querySelector(sel).shadowRoot.querySelectorAll('.m.bot')]
    .some((e) => /正在为您转接人工客服/.test(e.textContent)), W);
  assert.deepEqual(await offerState(cp), [
    { answer: 'solved', disabled: true, chosen: false }, { answer: 'person', disabled: true, chosen: true }]);
  await cp.screenshot({ path: path.join(LOG_DIR, 'kb-chat-handover.png') });

  // routed: the console gets an offer for the chat, the agent accepts it
  const card = ap.locator(`#offers .offer-card[data-ticket="${chat.id}"]`);
  await card.waitFor({ timeout: 8000 });
  await card.locator('.offer-accept').click();
  await until(async () => (await ticket(chat.id)).assignee_id === agent.id, 5000, 'the chat assigned to the agent');
  await ap.waitForFunction((id) => document.querySelector('#ticket-detail').dataset.ticket === String(id), chat.id);
  // the thread: the customer's question, the bot's offer and its handover
  await ap.waitForFunction(() => document.querySelectorAll('#ticket-detail .thread .msg.bot').length === 2);
  assert.equal((await ap.textContent('.thread .msg.in')).trim(), QUESTION);
  const bots = await ap.$$eval('.thread .msg.bot', (es) => es.map((e) => e.textContent));
  assert.match(bots[0], /自助解答/, 'the offer is labelled as one');
  assert.match(bots[0], /退款流程说明/);
  assert.match(bots[0], new RegExp(`/kb#/article/${art.refund.id}`));
  assert.match(bots[1], /正在为您转接人工客服/);
  await ap.screenshot({ path: path.join(LOG_DIR, 'kb-chat-agent.png') });

  // the suggestions panel has the refund article for this chat
  await ap.waitForSelector(`#ticket-detail .kb-sug[data-ticket="${chat.id}"] .kb-sug-item`);
  assert.equal(await ap.locator('.kb-sug-item').first().getAttribute('data-id'), String(art.refund.id));
  // the visitor asks about something else: the panel follows live (kb.suggestions)
  await cp.fill(`${W} textarea`, '另外，发票怎么申请？电子发票');
  await cp.press(`${W} textarea`, 'Enter');
  await ap.waitForFunction((id) => {
    const first = document.querySelector('#ticket-detail .kb-sug-item');
    return first && first.dataset.id === String(id);
  }, art.invoice.id, { timeout: 8000 });
  assert.match(await ap.textContent('.kb-sug-head'), /for the latest message/);
  assert.ok((await ap.locator('.kb-sug-item').first().locator('.kb-sug-snip mark').count()) > 0, 'matched words marked');
  // the agent answers with the invoice article: its link is clickable in the widget
  await ap.locator('.kb-sug-item').first().locator('.kb-sug-insert').click();
  await ap.waitForFunction(() => /电子发票/.test(document.querySelector('#ticket-detail .reply textarea').value));
  await ap.press('#ticket-detail .reply textarea', 'Enter');
  const invoiceLink = `${server.url}/kb#/article/${art.invoice.id}`;
  await cp.waitForFunction(({ sel, href }) => [...document.querySelector(sel).shadowRoot.querySelectorAll('.m.them:not(.bot) a')]
    .some((l) => l.href === href && l.textContent === href), { sel: W, href: invoiceLink });
  const reply = (await bubbles(cp)).pop();
  assert.equal(reply.text, '在订单页申请电子发票，开票后发送到邮箱。\n\n' + invoiceLink, 'the text as the agent sent it');
  // later messages keep the offer closed in the widget, also after a reload
  await cp.reload();
  await cp.waitForSelector(`${W}[data-state=ready]`, { state: 'attached' });
  assert.deepEqual(await offerState(cp), [
    { answer: 'solved', disabled: true, chosen: false }, { answer: 'person', disabled: true, chosen: true }]);

  assert.deepEqual(cp.rec.dialogs, []);
  assert.deepEqual(cp.rec.errors, []);
  assert.deepEqual(ap.rec.errors, []);
  await cp.context().close();
});

test('chat: "✓ 解决了" gets the thanks and solves the ticket; a reload keeps the answer', async () => {
  const cp = await visitorAsks(QUESTION);
  const chat = await newestChat();
  await cp.click(`${W} .offer .ob.yes`);
  await cp.waitForFunction((sel) => [...document.querySelector(sel).shadowRoot.querySelectorAll('.m.bot')]
    .some((e) => /很高兴帮到您/.test(e.textContent)), W);
  assert.deepEqual(await offerState(cp), [
    { answer: 'solved', disabled: true, chosen: true }, { answer: 'person', disabled: true, chosen: false }]);
  const t = await until(async () => { const x = await ticket(chat.id); return x.status === 'solved' && x; }, 5000, 'solved', 100);
  assert.equal(t.assignee_id, null, 'nobody had to take it');
  assert.equal(Number(sql(server, `SELECT self_served FROM tickets WHERE id = ${chat.id}`)[0][0]), 1);
  // what the widget stored: the answer, by offer message id
  const answers = await cp.evaluate(() => JSON.parse(localStorage.getItem(Object.keys(localStorage).find((k) => k.endsWith(':answers')))));
  assert.deepEqual(Object.values(answers), ['solved']);
  await cp.reload();
  await cp.waitForSelector(`${W}[data-state=ready]`, { state: 'attached' });
  assert.deepEqual(await offerState(cp), [
    { answer: 'solved', disabled: true, chosen: true }, { answer: 'person', disabled: true, chosen: false }]);
  assert.equal((await bubbles(cp)).length, 3, 'question, offer, thanks — once each');
  await cp.waitForTimeout(300); // the panel's opening animation
  await cp.screenshot({ path: path.join(LOG_DIR, 'kb-chat-solved.png') });
  assert.deepEqual(cp.rec.errors, []);
  await cp.context().close();
});

test('chat: a solved conversation asks for a rating with five buttons; the first rating counts', async () => {
  const page = await openPage({ width: 1100, height: 760 });
  await page.goto(`${server.url}/chat`);
  await page.waitForSelector(`${W}[data-state=ready]`, { state: 'attached' });
  const before = (await newestChat()).id; // this visitor's conversation is a newer one
  await page.fill(`${W} textarea`, '你好，在吗');
  await page.press(`${W} textarea`, 'Enter');
  const chat = await until(async () => { const t = await newestChat(); return t.id > before && t; }, 10000, 'chat ticket', 100);
  assert.equal((await a.patch(`/api/v1/tickets/${chat.id}`, { status: 'solved' })).status, 200);
  await page.waitForSelector(`${W} .csat button.cs[data-rating="4"]`);
  await page.waitForTimeout(300);
  await page.screenshot({ path: path.join(LOG_DIR, 'kb-chat-csat.png') });
  await page.click(`${W} .csat button.cs[data-rating="4"]`);
  await page.waitForSelector(`${W} .csat .csat-done`);
  assert.equal((await ticket(chat.id)).csat, 4);
  await page.reload();
  await page.waitForSelector(`${W} .csat .csat-done`);
  const text = await page.evaluate((sel) => document.querySelector(sel).shadowRoot.querySelector('.csat-done').textContent, W);
  assert.match(text, /★★★★☆/);
  assert.equal(Number(sql(server, `SELECT COUNT(*) FROM csat_responses WHERE ticket_id = ${chat.id}`)[0][0]), 1);
  assert.deepEqual(page.rec.errors, []);
  await page.context().close();
});

test('chat: answering an offer that is no longer open shows a quiet note', async () => {
  const cp = await visitorAsks(QUESTION);
  const chat = await newestChat();
  // meanwhile the offer closed without the visitor seeing anything new (as if someone reopened the ticket)
  sql(server, `UPDATE tickets SET status = 'open', kb_offer_message_id = NULL WHERE id = ${chat.id}`);
  await cp.click(`${W} .offer .ob.no`);
  await cp.waitForSelector(`${W} .onote`);
  assert.equal(await cp.textContent(`${W} .onote`), '此问题已处理 · This question was already answered');
  assert.deepEqual(await offerState(cp), [
    { answer: 'solved', disabled: true, chosen: false }, { answer: 'person', disabled: true, chosen: false }]);
  assert.equal((await bubbles(cp)).length, 2, 'no bot reply to a stale answer');
  await cp.screenshot({ path: path.join(LOG_DIR, 'kb-chat-stale.png') });
  assert.deepEqual(cp.rec.errors, []);
  await cp.context().close();
});

test('console: an e-mail ticket lists the refund article first; Insert fills the reply and counts a use; chips', async () => {
  const ap = agentPage;
  const question = '您好，我上周申请了退款，请问退款流程是怎样的？钱多久能退回到我的银行卡？';
  const [[ticketId]] = sql(server, `
    INSERT INTO customers (name) VALUES (${lit('周敏 Zhou Min')});
    SET @c = LAST_INSERT_ID();
    INSERT INTO customer_identities (customer_id, kind, value) VALUES (@c, 'email', 'zhou.min@example.com');
    INSERT INTO tickets (customer_id, channel, subject, status, assignee_id, priority, last_message_at, flagged_at, flag_reason, csat)
      VALUES (@c, 'email', ${lit('退款什么时候到账')}, 'open', ${agent.id}, 'high', NOW(3), NOW(3), ${lit('投诉')}, 2);
    SET @t = LAST_INSERT_ID();
    INSERT INTO messages (ticket_id, customer_id, direction, channel, author_type, body_text, external_id)
      VALUES (@t, @c, 'in', 'email', 'customer', ${lit(question + '\n再不到账我就要投诉了。')}, '<refund-1@example.com>');
    SELECT @t;`);
  await ap.click('.queue[data-queue=mine]');
  await ap.evaluate(() => loadTickets()); // rows put in by SQL bring no event
  await ap.click(`#ticket-list li[data-id="${ticketId}"]`);
  await ap.waitForFunction((id) => document.querySelector('#ticket-detail').dataset.ticket === String(id), ticketId);
  await ap.waitForSelector(`#ticket-detail .kb-sug[data-ticket="${ticketId}"] .kb-sug-item`);
  const items = ap.locator('#ticket-detail .kb-sug-item');
  assert.equal(await items.first().getAttribute('data-id'), String(art.refund.id));
  assert.equal(await items.first().locator('.kb-sug-name').textContent(), '退款流程说明');
  assert.ok((await items.first().locator('.kb-sug-snip mark').count()) > 0, 'matched words marked');
  assert.equal(await items.first().locator('.kb-sug-open').getAttribute('href'), `#/kb/${art.refund.id}`);
  assert.match(await ap.textContent('#ticket-detail .kb-sug-head'), /Suggested articles 推荐文章/);

  // the header's chips: flagged with the words found, and the CSAT rating
  assert.equal((await ap.textContent('#ticket-detail .conv-head .flag-chip')).trim(), '投诉/Flagged:投诉');
  assert.equal(await ap.textContent('#ticket-detail .conv-head .csat-chip'), 'CSAT ★2');

  // Insert at the cursor: between the greeting and the sign-off the agent already typed
  const ta = ap.locator('#ticket-detail .reply textarea');
  await ta.fill('您好，退款说明如下：\n祝好');
  await ta.evaluate((e) => { e.focus(); e.setSelectionRange(e.value.indexOf('\n') + 1, e.value.indexOf('\n') + 1); });
  await items.first().locator('.kb-sug-insert').click();
  await ap.waitForFunction(() => /原路退回/.test(document.querySelector('#ticket-detail .reply textarea').value));
  const text = await ta.inputValue();
  const link = `${server.url}/kb#/article/${art.refund.id}`;
  assert.ok(text.startsWith('您好，退款说明如下：\n在订单详情点击“申请退款”'), text);
  assert.ok(text.includes('• 支付宝、微信：1–3 个工作日\n• 银行卡：3–7 个工作日'), text);
  assert.ok(!/\*\*|^- /m.test(text), `Markdown stripped: ${text}`);
  assert.ok(text.includes(link + '\n\n祝好'), text);
  await until(async () => (await a.get(`/api/v1/kb/articles/${art.refund.id}`)).json.used === 1, 5000, 'the use counted');
  await ap.waitForSelector('#ticket-detail .kb-sug-insert.done');
  await ap.evaluate(() => { document.querySelector('#toast').hidden = true; }); // "Accepted #1" from the first test
  await ap.screenshot({ path: path.join(SHOTS, 'kb-console-suggestions.png') });

  // sent as the reply: the article text and its link reach the customer's ticket
  await ap.click('#ticket-detail .reply button[type=submit]');
  await until(async () => (await a.get(`/api/v1/tickets/${ticketId}/messages`)).json.items
    .some((m) => m.direction === 'out' && m.body_text.includes(link)), 5000, 'the reply stored');

  // Open goes to the article in the Knowledge view
  await items.first().locator('.kb-sug-open').click();
  await ap.waitForFunction(() => /^#\/kb\/\d+$/.test(location.hash));
  assert.equal(await ap.evaluate(() => location.hash), `#/kb/${art.refund.id}`);
  await ap.waitForSelector('#view-kb:not([hidden])');
  await ap.waitForFunction((t) => document.querySelector('#view-kb').textContent.includes(t), '退款流程说明');
  assert.deepEqual(ap.rec.errors, []);
  assert.deepEqual(ap.rec.dialogs, []);
});

test('console: a ticket nothing matches says so', async () => {
  const ap = agentPage;
  const [[ticketId]] = sql(server, `
    INSERT INTO customers (name) VALUES ('Sam Lee');
    SET @c = LAST_INSERT_ID();
    INSERT INTO tickets (customer_id, channel, subject, status, assignee_id, last_message_at)
      VALUES (@c, 'email', 'Hello', 'open', ${agent.id}, NOW(3));
    SET @t = LAST_INSERT_ID();
    INSERT INTO messages (ticket_id, customer_id, direction, channel, author_type, body_text)
      VALUES (@t, @c, 'in', 'email', 'customer', 'Thanks for the lovely tea yesterday!');
    SELECT @t;`);
  await openTab(ap, 'tickets');
  await ap.evaluate(() => loadTickets());
  await ap.click(`#ticket-list li[data-id="${ticketId}"]`);
  await ap.waitForSelector(`#ticket-detail .kb-sug[data-ticket="${ticketId}"] .kb-sug-empty`);
  assert.match(await ap.textContent('#ticket-detail .kb-sug-empty'), /^No matching articles/);
  assert.equal(await ap.locator('#ticket-detail .kb-sug-item').count(), 0);
  assert.equal(await ap.locator('#ticket-detail .flag-chip').count(), 0, 'no flag on an ordinary ticket');
  assert.equal(await ap.locator('#ticket-detail .csat-chip').count(), 0);
  assert.deepEqual(ap.rec.errors, []);
  await ap.context().close();
});
