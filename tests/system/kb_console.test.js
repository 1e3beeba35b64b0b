'use strict';
// kb_console.test.js — the knowledge base in a real headless Chromium (Debian chromium
// driven by playwright-core), against the real binary and MariaDB. Articles are made through
// the API (one unpublished, one with HTML in its title). The public help center (/kb, no
// login): a Chinese question typed key by key finds the right article first with the matched
// words in <mark>, the draft never shows (search, or its address), a title stays text; the
// article page renders its Markdown (a list, bold), 有帮助 counts one vote (checked through
// the API) with the page's visitor id, the back button returns to the results; Enter searches,
// English switches the language; no results offers the chat. The console's Knowledge view:
// an admin edits an article and saves (the preview is the saved rendering), finds it by its
// new word, gets the "someone else saved version N" message when a PATCH with the same
// expected_version got in first, reloads keeping the unsaved text, sees the versions, creates
// an article with tag chips and deletes it behind a confirmation, edits the synonyms; a
// manager edits but has no synonyms; an agent reads without an edit button and without drafts.
// Screenshots: var/screenshots/kb-public-search.png, kb-public-article.png, kb-console-editor.png.
const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const { launchChromium, openTab } = require('./clients');
const { startServer, bootstrapAdmin, api, dropDatabase, createAgent, until } = require('./harness');

const SHOTS = path.join(__dirname, '..', '..', 'var', 'screenshots');
const HOSTILE = '<img src=x onerror="window.__xss=1">';
const V1 = '/api/v1/kb';
let server, admin, a, agent, manager, browser;
const art = {};

async function article(body) {
  const r = await a.post(`${V1}/articles`, { locale: 'zh', published: true, ...body });
  assert.equal(r.status, 201, r.text);
  return r.json;
}

before(async () => {
  fs.mkdirSync(SHOTS, { recursive: true });
  server = await startServer();
  admin = await bootstrapAdmin(server);
  a = api(server, admin.token);
  agent = await createAgent(server, admin.token, { role: 'agent', name: '客服小王' });
  manager = await createAgent(server, admin.token, { role: 'manager', name: '主管 陈静' });
  art.refund = await article({
    title: '退款多久能到账', category: '售后服务', tags: ['退款', '到账'],
    body: '退款审核通过后，款项将**原路退回**：\n\n- 支付宝、微信：1-3 个工作日\n- 银行卡：3-7 个工作日\n\n' +
      '> 节假日顺延。如超过时间仍未到账，请联系在线客服并提供订单号。',
  });
  art.address = await article({
    title: '如何修改收货地址', category: '订单与配送', tags: ['地址'],
    body: '订单**发货前**可以在订单详情页修改收货地址：\n\n1. 打开订单详情\n2. 点击「修改地址」\n3. 保存',
  });
  art.password = await article({
    title: 'How to reset your password', locale: 'en', category: 'Account',
    body: 'Open **Settings → Security** and choose *Reset password*. A link arrives by e-mail within a minute.',
  });
  art.invoice = await article({ title: `发票抬头 ${HOSTILE}`, category: '发票', body: '发票抬头请填写公司全称，税号必须与营业执照一致。' });
  art.draft = await article({
    title: '退款新规（内部草稿）', published: false, category: '售后服务',
    body: '退款到账时间调整的新规，尚未发布。退款审核、到账、原路退回的说明。',
  });
  browser = await launchChromium();
});

after(async () => {
  if (browser) await browser.close();
  if (server) { await server.stop(); dropDatabase(server); }
});

async function publicPage(locale = 'zh-CN', viewport = { width: 1280, height: 860 }) {
  const page = await browser.newPage({ viewport, locale });
  page.errors = [];
  page.on('pageerror', (e) => page.errors.push(e.message));
  return page;
}
async function signIn(who, viewport = { width: 1440, height: 1000 }) {
  const page = await browser.newPage({ viewport, locale: 'en-US' });
  page.errors = [];
  page.on('pageerror', (e) => page.errors.push(e.message));
  await page.goto(server.url + '/');
  await page.fill('#login-email', who.email);
  await page.fill('#login-password', who.password);
  await page.click('button[type=submit]');
  await page.waitForSelector('#app:not([hidden])');
  await page.waitForFunction(() => document.querySelector('#live').textContent.includes('live'));
  return page;
}
const hitIds = (page) => page.$$eval('#kb-results .hit a', (as) => as.map((x) => Number(x.dataset.id)));

test('public /kb: type a Chinese question, the article first with <mark>, read it, 有帮助 counts; drafts never show', async () => {
  const page = await publicPage();
  const res = await page.goto(server.url + '/kb');
  assert.equal(res.status(), 200);
  // the language follows the browser (zh-CN), the empty state shows a hint
  assert.equal(await page.getAttribute('.lang button[data-locale=zh]', 'aria-pressed'), 'true');
  assert.equal(await page.textContent('#kb-heading'), '有什么可以帮您？');
  assert.equal(await page.isVisible('#kb-empty'), true);
  assert.equal(await page.locator('#kb-suggest .chip').count(), 3);
  assert.equal(await page.evaluate(() => document.activeElement.id), 'kb-q', 'the search box has the focus');

  // typed key by key: search as you type (debounced), the refund article first
  await page.locator('#kb-q').pressSequentially('我的退款要多久才能到账？', { delay: 40 });
  await page.waitForFunction((id) => {
    const first = document.querySelector('#kb-results .hit a');
    return first && Number(first.dataset.id) === id;
  }, art.refund.id);
  const first = page.locator('#kb-results .hit').first();
  assert.equal(await first.locator('.hit-title').textContent(), '退款多久能到账');
  assert.equal(await first.locator('.hit-cat').textContent(), '售后服务');
  const marks = await first.locator('.hit-snip mark').allTextContents();
  assert.ok(marks.length > 0 && marks.some((m) => /退款|到账/.test(m)), `highlighted: ${marks}`);
  assert.ok(!(await hitIds(page)).includes(art.draft.id), 'the draft is not a result');
  assert.match(await page.textContent('#kb-status'), /^找到 \d+ 篇相关文章$/);
  assert.equal(await page.getAttribute('#kb-status', 'aria-live'), 'polite');
  assert.match(decodeURIComponent(new URL(page.url()).hash), /^#\/\?q=我的退款要多久才能到账？$/, 'the query is in the address');
  await page.screenshot({ path: path.join(SHOTS, 'kb-public-search.png') });

  // the article: Markdown rendered (a list, bold, a quote), meta, feedback
  await first.locator('a').click();
  await page.waitForSelector('#kb-a-card:not([hidden])');
  assert.equal(new URL(page.url()).hash, `#/article/${art.refund.id}`);
  assert.equal(await page.textContent('#kb-a-title'), '退款多久能到账');
  assert.equal(await page.locator('#kb-a-body ul > li').count(), 2);
  assert.equal(await page.textContent('#kb-a-body strong'), '原路退回');
  assert.equal(await page.isVisible('#kb-a-body blockquote'), true);
  assert.match(await page.textContent('#kb-a-meta'), /售后服务.*更新于 \d{4}年\d{1,2}月\d{1,2}日/);
  assert.equal(await page.title(), '退款多久能到账 · 帮助中心');
  await page.click('#kb-fb-yes');
  await page.waitForFunction(() => document.querySelector('#kb-fb-thanks').textContent.includes('感谢'));
  assert.equal(await page.getAttribute('#kb-fb-yes', 'aria-pressed'), 'true');
  const visitor = await page.evaluate(() => localStorage.getItem('sb.kb.visitor'));
  assert.match(visitor, /^[A-Za-z0-9-]{8,64}$/);
  let g = (await a.get(`${V1}/articles/${art.refund.id}`)).json;
  assert.deepEqual([g.helpful, g.not_helpful], [1, 0], 'one helpful vote');
  assert.equal(g.views, 1, 'the public page counted a view');
  await page.screenshot({ path: path.join(SHOTS, 'kb-public-article.png'), fullPage: true });
  // a second click is the same visitor's vote again: still one
  await page.click('#kb-fb-yes');
  await page.waitForFunction(() => document.querySelector('#kb-fb-thanks').textContent.includes('感谢'));
  g = (await a.get(`${V1}/articles/${art.refund.id}`)).json;
  assert.equal(g.helpful, 1);

  // the back button: the same results, the query kept
  await page.goBack();
  await page.waitForSelector('#kb-search-view:not([hidden]) #kb-results .hit');
  assert.equal(await page.inputValue('#kb-q'), '我的退款要多久才能到账？');
  assert.equal((await hitIds(page))[0], art.refund.id);
  assert.equal(await page.isHidden('#kb-article'), true);
  await page.goForward();
  await page.waitForSelector('#kb-a-card:not([hidden])');
  assert.equal(await page.textContent('#kb-a-title'), '退款多久能到账');
  // the back link does the same
  await page.click('#kb-back');
  await page.waitForSelector('#kb-search-view:not([hidden]) #kb-results .hit');

  // Enter searches at once; a title with HTML in it stays text
  await page.fill('#kb-q', '发票抬头怎么填');
  await page.press('#kb-q', 'Enter');
  await page.waitForFunction((id) => {
    const f = document.querySelector('#kb-results .hit a');
    return f && Number(f.dataset.id) === id;
  }, art.invoice.id);
  assert.equal(await page.locator('#kb-results .hit-title').first().textContent(), `发票抬头 ${HOSTILE}`);
  assert.equal(await page.locator('#kb-results img').count(), 0);
  assert.equal(await page.evaluate(() => window.__xss), undefined);

  // words only the draft has: nothing, and a way to the chat
  await page.fill('#kb-q', '内部草稿新规');
  await page.waitForSelector('#kb-none:not([hidden])');
  assert.equal(await page.locator('#kb-results .hit').count(), 0);
  assert.equal(await page.getAttribute('#kb-none a.btn.primary', 'href'), '/chat');
  assert.equal(await page.textContent('#kb-status'), '没有找到相关文章', 'the count is read out');
  // nor by its address
  await page.goto(server.url + `/kb#/article/${art.draft.id}`);
  await page.waitForSelector('#kb-a-missing:not([hidden])');
  assert.equal(await page.isHidden('#kb-a-card'), true);

  // English: the page's words and the search follow
  await page.goto(server.url + '/kb');
  await page.click('.lang button[data-locale=en]');
  assert.equal(await page.textContent('#kb-heading'), 'How can we help?');
  assert.equal(await page.evaluate(() => document.documentElement.lang), 'en');
  await page.fill('#kb-q', 'forgot my password');
  await page.waitForFunction((id) => {
    const f = document.querySelector('#kb-results .hit a');
    return f && Number(f.dataset.id) === id;
  }, art.password.id);
  assert.match(await page.textContent('#kb-status'), /^\d+ articles? found$/);
  assert.deepEqual(page.errors, []);

  // a phone: nothing wider than the screen
  const phone = await publicPage('zh-CN', { width: 375, height: 740 });
  await phone.goto(server.url + `/kb#/article/${art.refund.id}`);
  await phone.waitForSelector('#kb-a-card:not([hidden])');
  assert.equal(await phone.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth), true, 'no sideways scrolling');
  assert.equal(await phone.evaluate(() => localStorage.getItem('sb.kb.locale')), null, 'a new browser starts from its language');
  assert.deepEqual(phone.errors, []);
  await phone.close();
  await page.close();
});

test('console: an admin edits and saves, searches the new word, a concurrent save is a clear 409, versions, create and delete', async () => {
  const page = await signIn({ email: 'admin@example.com', password: admin.password });
  await openTab(page, 'kb');
  await page.waitForSelector(`#kb-list .kb-item[data-id="${art.draft.id}"]`);
  assert.equal(await page.locator('#kb-list .kb-item').count(), 5, 'every article, drafts too');
  assert.match(await page.textContent(`#kb-list .kb-item[data-id="${art.draft.id}"]`), /Draft/);
  assert.equal(await page.textContent(`#kb-list .kb-item[data-id="${art.invoice.id}"] .mk-item-name`), `发票抬头 ${HOSTILE}`);
  assert.equal(await page.locator('#kb-list img').count(), 0);
  const r0 = (await a.get(`${V1}/articles/${art.refund.id}`)).json;
  assert.deepEqual(await page.locator(`#kb-list .kb-item[data-id="${art.refund.id}"] .kb-count`).allTextContents(),
    [r0.views, r0.helpful, r0.not_helpful, r0.used].map(String), 'views, helpful, not helpful, used');
  assert.equal(r0.helpful, 1);
  page.on('dialog', (d) => d.accept()); // "discard your unsaved changes?"
  assert.equal(await page.isVisible('#kb-syn-btn'), true);

  // read, then edit
  await page.click(`#kb-list .kb-item[data-id="${art.address.id}"]`);
  await page.waitForSelector('#kb-reader');
  assert.equal(new URL(page.url()).hash, `#/kb/${art.address.id}`);
  assert.equal(await page.textContent('#kb-reader .kb-h'), '如何修改收货地址');
  assert.equal(await page.locator('#kb-read-body ol > li').count(), 3);
  assert.equal(await page.locator('#kb-stats .kb-stat').count(), 4);
  await page.click('#kb-edit');
  await page.waitForSelector('#kb-form');
  assert.equal(await page.inputValue('#kb-title'), '如何修改收货地址');
  assert.equal(await page.inputValue('#kb-category'), '订单与配送');
  assert.deepEqual(await page.locator('#kb-tags .kb-chip').evaluateAll((cs) => cs.map((c) => c.firstChild.textContent)), ['地址']);
  assert.equal(await page.isChecked('#kb-published-in'), true);
  assert.equal(await page.locator('#kb-preview ol > li').count(), 3, 'the saved version rendered beside the source');
  await page.fill('#kb-body', (await page.inputValue('#kb-body')) + '\n\n已发货的订单可申请**闪电改址**，由快递员改派。');
  assert.equal(await page.isVisible('#kb-stale'), true, 'the preview says it shows the saved version');
  assert.match(await page.textContent('#kb-dirty'), /Unsaved/);
  await page.click('#kb-save');
  await page.waitForFunction(() => /Editing version 2/.test(document.querySelector('#kb-form .kb-ver').textContent));
  assert.equal(await page.locator('#kb-preview strong').last().textContent(), '闪电改址', 'the preview is the new saved rendering');
  assert.equal(await page.isHidden('#kb-stale'), true);
  let g = (await a.get(`${V1}/articles/${art.address.id}`)).json;
  assert.equal(g.version, 2);
  assert.match(g.body, /闪电改址/);
  await page.waitForSelector('#kb-versions .kb-v[data-version="2"]');
  await page.screenshot({ path: path.join(SHOTS, 'kb-console-editor.png') });

  // the search finds the new word (and, for editors, drafts)
  await page.fill('#kb-search', '闪电改址');
  await page.waitForSelector(`#kb-list .kb-item[data-id="${art.address.id}"] .kb-snip mark`);
  assert.equal(await page.locator('#kb-list .kb-item').count(), 1);
  assert.match(await page.textContent('#kb-total'), /1 match/);
  await page.fill('#kb-search', '内部草稿新规');
  await page.waitForSelector(`#kb-list .kb-item[data-id="${art.draft.id}"]`);
  await page.fill('#kb-search', '');
  await page.waitForFunction(() => document.querySelectorAll('#kb-list .kb-item').length === 5);

  // someone else saves first (a PATCH with the same expected_version): the save is refused, clearly
  await page.fill('#kb-title', '如何修改收货地址（我的修改）');
  const other = await a.patch(`${V1}/articles/${art.address.id}`, { title: '修改收货地址的方法', expected_version: 2 });
  assert.equal(other.status, 200, other.text);
  assert.equal(other.json.version, 3);
  await page.click('#kb-save');
  await page.waitForSelector('#kb-conflict');
  const msg = await page.textContent('#kb-conflict');
  assert.match(msg, /Someone else saved version 3/);
  assert.match(msg, /reload/i);
  assert.equal((await a.get(`${V1}/articles/${art.address.id}`)).json.title, '修改收货地址的方法', 'their save stands');
  await page.click('#kb-reload');
  await page.waitForFunction(() => /Editing version 3/.test(document.querySelector('#kb-form .kb-ver').textContent));
  assert.equal(await page.inputValue('#kb-title'), '修改收货地址的方法');
  assert.equal(await page.textContent('#kb-kept .kb-kept-title'), '如何修改收货地址（我的修改）', 'the unsaved text is kept to copy');
  assert.equal(await page.isHidden('#kb-conflict'), true);
  await page.waitForFunction(() => document.querySelectorAll('#kb-versions .kb-v').length === 3);
  // an older version's text, and back into the editor
  await page.click('#kb-versions .kb-v[data-version="1"] button:has-text("Show")');
  assert.doesNotMatch(await page.textContent('#kb-versions .kb-v[data-version="1"] .kb-v-body'), /闪电改址/);
  await page.click('#kb-versions .kb-v[data-version="1"] button:has-text("Load into editor")');
  assert.equal(await page.inputValue('#kb-title'), '如何修改收货地址');
  await page.click('#kb-cancel');
  await page.waitForSelector('#kb-reader');
  assert.equal((await a.get(`${V1}/articles/${art.address.id}`)).json.version, 3, 'closing saved nothing');

  // a new article: tag chips, published; then deleted behind a confirmation
  await page.click('#kb-new');
  await page.waitForSelector('#kb-form');
  await page.fill('#kb-title', '会员积分怎么用');
  await page.fill('#kb-category', '会员');
  await page.locator('#kb-tag-input').pressSequentially('积分，会员');
  await page.press('#kb-tag-input', 'Enter');
  await page.locator('#kb-tag-input').pressSequentially('points');
  await page.press('#kb-tag-input', 'Enter');
  assert.deepEqual(await page.locator('#kb-tags .kb-chip').evaluateAll((cs) => cs.map((c) => c.firstChild.textContent)), ['积分', '会员', 'points']);
  await page.press('#kb-tag-input', 'Backspace');
  await page.check('#kb-published-in');
  assert.equal(await page.isChecked('#kb-published-in'), true);
  await page.click('#kb-save');
  await page.waitForSelector('.field-error[data-for=body]:not(:empty)');
  assert.match(await page.textContent('.field-error[data-for=body]'), /required|empty/, 'the server’s reason next to the field');
  await page.fill('#kb-body', '下单时可用积分抵扣，**100 积分 = 1 元**。');
  await page.click('#kb-save');
  await page.waitForFunction(() => /^#\/kb\/\d+$/.test(location.hash) && document.querySelector('#kb-form .kb-ver'));
  const newId = Number(new URL(page.url()).hash.split('/')[2]);
  g = (await a.get(`${V1}/articles/${newId}`)).json;
  assert.deepEqual([g.title, g.category, g.tags, g.published, g.locale, g.version], ['会员积分怎么用', '会员', ['积分', '会员'], true, 'zh', 1]);
  await page.click('#kb-delete');
  assert.match(await page.textContent('#kb-form .confirm'), /Delete “会员积分怎么用”/);
  assert.equal((await a.get(`${V1}/articles/${newId}`)).status, 200, 'not before the confirmation');
  await page.click('#kb-delete-yes');
  await until(async () => (await a.get(`${V1}/articles/${newId}`)).status === 404, 5000, 'the article deleted');
  await page.waitForFunction((id) => !document.querySelector(`#kb-list .kb-item[data-id="${id}"]`) && location.hash === '#/kb', newId);

  // synonyms: one group a line, commas or 、
  await page.click('#kb-syn-btn');
  await page.waitForFunction(() => document.querySelector('#kb-syn-text').value.includes('退款'));
  await page.fill('#kb-syn-text', '退款、退钱、返款\n改址, 换地址\n孤单');
  await page.click('#kb-syn-save');
  assert.match(await page.textContent('#kb-syn-error'), /Line 3/);
  await page.fill('#kb-syn-text', '退款、退钱、返款\n改址, 换地址\n');
  await page.click('#kb-syn-save');
  await page.waitForSelector('#kb-syn-dialog:not([open])', { state: 'attached' });
  const syn = (await a.get(`${V1}/synonyms`)).json.items.map((x) => x.terms);
  assert.deepEqual(syn, [['退款', '退钱', '返款'], ['改址', '换地址']]);
  assert.equal(await page.evaluate(() => window.__xss), undefined);
  assert.deepEqual(page.errors, []);
  await page.close();
});

test('console roles: a manager edits but has no synonyms; an agent reads published articles with no edit button', async () => {
  const mp = await signIn(manager);
  await openTab(mp, 'kb');
  await mp.click(`#kb-list .kb-item[data-id="${art.refund.id}"]`);
  await mp.waitForSelector('#kb-reader');
  assert.equal(await mp.isVisible('#kb-edit'), true);
  assert.equal(await mp.isVisible('#kb-new'), true);
  assert.equal(await mp.isVisible('#kb-syn-btn'), false);
  assert.deepEqual(mp.errors, []);
  await mp.close();

  const page = await signIn(agent);
  await openTab(page, 'kb');
  await page.waitForSelector(`#kb-list .kb-item[data-id="${art.refund.id}"]`);
  assert.equal(await page.isVisible('#kb-ro'), true, 'read-only badge');
  assert.equal(await page.isVisible('#kb-new'), false);
  assert.equal(await page.isVisible('#kb-syn-btn'), false);
  assert.equal(await page.isVisible('#kb-published'), false);
  assert.equal(await page.locator(`#kb-list .kb-item[data-id="${art.draft.id}"]`).count(), 0, 'no drafts for agents');
  await page.click(`#kb-list .kb-item[data-id="${art.refund.id}"]`);
  await page.waitForSelector('#kb-reader');
  assert.equal(await page.textContent('#kb-reader .kb-h'), '退款多久能到账');
  assert.equal(await page.locator('#kb-edit').count(), 0, 'no edit button');
  assert.equal(await page.locator('#kb-delete').count(), 0);
  assert.equal(await page.locator('#kb-read-body ul > li').count(), 2);
  await page.waitForSelector('#kb-versions .kb-v');
  // the search: published only, even when asked for drafts
  await page.fill('#kb-search', '内部草稿新规');
  await page.waitForFunction(() => /0 matches/.test(document.querySelector('#kb-total').textContent));
  await page.fill('#kb-search', '退款到账');
  await page.waitForSelector(`#kb-list .kb-item[data-id="${art.refund.id}"] .kb-snip mark`);
  assert.equal(await page.locator(`#kb-list .kb-item[data-id="${art.draft.id}"]`).count(), 0);
  assert.deepEqual(page.errors, []);
  await page.close();
});
