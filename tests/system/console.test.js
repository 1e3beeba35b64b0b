'use strict';
// console.test.js — the agent console in a real headless Chromium (Debian chromium driven
// by playwright-core): sign in, a ticket created elsewhere appears live over /ws/agent,
// reply from the thread, and customer text that looks like HTML is shown as text; an
// e-mail with quoted history, a hostile HTML part, attachments and Cc participants; an SMS
// conversation (segment counter, delivery states, a reply refused because the customer opted out).
const { test, before, after } = require('node:test');
const assert = require('node:assert');
const crypto = require('node:crypto');
const fs = require('node:fs');
const http = require('node:http');
const path = require('node:path');
const { launchChromium } = require('./clients');
const { startServer, bootstrapAdmin, api, sql, dropDatabase } = require('./harness');

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

// A text value as an SQL literal that needs no escaping.
const lit = (v) => (v === null || v === undefined ? 'NULL' : `CONVERT(X'${Buffer.from(String(v)).toString('hex')}' USING utf8mb4)`);

test('e-mail: quoted text collapsed, original HTML sandboxed, attachments download, Cc shown', async () => {
  // anything the hostile HTML manages to fetch from the network lands here
  const hits = [];
  const tracker = http.createServer((req, res) => { hits.push(req.url); res.end(''); });
  await new Promise((r) => tracker.listen(0, '127.0.0.1', r));
  const trackerUrl = `http://127.0.0.1:${tracker.address().port}`;

  const visible = 'Hello, the invoice for order 8842 is wrong.\nCould you check it? 谢谢';
  const full = visible + '\n\nOn Mon, 23 Nov 2026 at 09:12, Support <support@example.com> wrote:\n' +
    '> Your invoice is attached.\n> Regards, Support';
  const hostileHtml = "<script>parent.document.title='pwned';document.documentElement.dataset.ran='1'</script>" +
    `<img src=x onerror="parent.document.title='pwned'"><img src="${trackerUrl}/pixel.gif">` +
    `<link rel=stylesheet href="${trackerUrl}/style.css"><div style="background:url(${trackerUrl}/bg.png)">bg</div>` +
    `<form action="${trackerUrl}/form"><input name=q value=1></form><meta http-equiv=refresh content="0;url=${trackerUrl}/refresh">` +
    '<p>Hello, the invoice for order 8842 is <b>bold</b> wrong.</p>' +
    '<img alt=dot src="data:image/gif;base64,R0lGODlhAQABAIAAAP///wAAACH5BAEAAAAALAAAAAABAAEAAAICRAEAOw==">';
  const big = crypto.randomBytes(1363149); // 1.3 MB, three chunks of at most 512 KiB
  const bigName = 'Rechnung Q3 – 2026 (copy).bin';
  const small = Buffer.from('plain text\nsecond line\n');
  const smallName = `"><img src=x onerror="parent.document.title='pwned'">.txt`;
  const sha = (b) => crypto.createHash('sha256').update(b).digest('hex');
  const chunks = [];
  for (let i = 0, seq = 0; i < big.length; i += 512 * 1024, seq++) {
    chunks.push(`('${sha(big)}', ${seq}, X'${big.subarray(i, i + 512 * 1024).toString('hex')}')`);
  }
  chunks.push(`('${sha(small)}', 0, X'${small.toString('hex')}')`);

  const [[ticketId, messageId, bigId, smallId]] = sql(server, `
    INSERT INTO customers (name) VALUES (${lit('李娜 Li Na')});
    SET @c = LAST_INSERT_ID();
    INSERT INTO customer_identities (customer_id, kind, value) VALUES (@c, 'email', 'li.na@example.com');
    INSERT INTO tickets (customer_id, channel, subject, status, assignee_id, last_message_at)
      VALUES (@c, 'email', ${lit('Invoice 8842 is wrong')}, 'open', ${admin.agent.id}, NOW(3));
    SET @t = LAST_INSERT_ID();
    INSERT INTO messages (ticket_id, customer_id, direction, channel, author_type, body_text, body_html, body_visible, external_id)
      VALUES (@t, @c, 'in', 'email', 'customer', ${lit(full)}, ${lit(hostileHtml)}, ${lit(visible)}, '<inv-8842@example.com>');
    SET @m = LAST_INSERT_ID();
    INSERT INTO attachments (message_id, filename, content_type, size, sha256, storage)
      VALUES (@m, ${lit(bigName)}, 'application/octet-stream', ${big.length}, '${sha(big)}', 'db');
    SET @a1 = LAST_INSERT_ID();
    INSERT INTO attachments (message_id, filename, content_type, size, sha256, storage)
      VALUES (@m, ${lit(smallName)}, 'text/plain', ${small.length}, '${sha(small)}', 'db');
    SET @a2 = LAST_INSERT_ID();
    INSERT INTO attachments (message_id, filename, content_type, size, sha256, storage)
      VALUES (@m, 'site-visit.mp4', 'video/mp4', 31457280, NULL, NULL);
    INSERT INTO attachment_chunks (sha256, seq, data) VALUES ${chunks.join(', ')};
    INSERT INTO ticket_participants (ticket_id, address, role) VALUES
      (@t, 'li.na@example.com', 'from'), (@t, 'boss@example.com', 'to'), (@t, 'colleague@example.org', 'cc');
    SELECT @t, @m, @a1, @a2;`);

  // what the console reads: the API gives the fields this test relies on
  const a = api(server, admin.token);
  const tk = await a.get(`/api/v1/tickets/${ticketId}`);
  assert.strictEqual(tk.status, 200, tk.text);
  const msg = tk.json.messages.find((m) => String(m.id) === messageId);
  assert.strictEqual(msg.body_visible, visible);
  assert.strictEqual(msg.attachments.length, 3);
  assert.strictEqual(tk.json.participants.length, 3);

  const page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
  const pageErrors = [], dialogs = [];
  page.on('pageerror', (e) => pageErrors.push(e.message));
  page.on('dialog', (d) => { dialogs.push(d.message()); d.dismiss().catch(() => {}); });
  await page.goto(server.url + '/');
  await page.fill('#login-email', 'admin@example.com');
  await page.fill('#login-password', admin.password);
  await page.click('button[type=submit]');
  await page.waitForSelector('#app:not([hidden])');
  await page.click('.queue[data-queue=all]');
  await page.click(`#ticket-list li[data-id="${ticketId}"]`);
  const bubble = page.locator(`.thread .msg.in[data-id="${messageId}"]`);
  await bubble.waitFor();
  const titleBefore = await page.title();
  assert.ok(!titleBefore.includes('pwned'));

  // 1. quoted history collapsed; the toggle shows it and hides it again
  const text = bubble.locator('.body-text');
  assert.strictEqual(await text.textContent(), visible);
  assert.ok(!(await bubble.textContent()).includes('wrote:'));
  const qt = bubble.locator('.quote-toggle');
  assert.match(await qt.textContent(), /show quoted text/);
  await qt.click();
  assert.strictEqual(await text.textContent(), full);
  assert.strictEqual(await qt.getAttribute('aria-expanded'), 'true');
  await qt.click();
  assert.strictEqual(await text.textContent(), visible);
  await qt.click(); // left open for the screenshot

  // 4. the reply also goes to the To/Cc participants; the customer's own address is not listed
  const cc = page.locator('#ticket-detail .conv-head .cc-line');
  await page.waitForFunction(() => /colleague@example\.org/.test(document.querySelector('.conv-head .cc-line').textContent));
  const ccText = await cc.textContent();
  assert.match(ccText, /^Cc:\s*boss@example\.com, colleague@example\.org$/);
  assert.ok(!ccText.includes('li.na@'));

  // 3. attachment chips: names as text, human sizes, downloads of the exact bytes
  const chips = bubble.locator('.atts .att');
  assert.strictEqual(await chips.count(), 3);
  assert.strictEqual(await chips.nth(0).locator('.att-name').textContent(), bigName);
  assert.strictEqual(await chips.nth(0).locator('.att-size').textContent(), '1.3 MB');
  assert.strictEqual(await chips.nth(1).locator('.att-name').textContent(), smallName);
  assert.strictEqual(await chips.nth(1).locator('.att-size').textContent(), `${small.length} B`);
  const missing = chips.nth(2);
  assert.match(await missing.getAttribute('class'), /\bmissing\b/);
  assert.strictEqual(await missing.evaluate((e) => e.tagName), 'SPAN', 'nothing to download');
  assert.match(await missing.textContent(), /site-visit\.mp4\s*30 MB\s*not stored/);
  for (const [i, bytes, name] of [[0, big, bigName], [1, small, smallName]]) {
    const [dl] = await Promise.all([page.waitForEvent('download'), chips.nth(i).click()]);
    assert.strictEqual(dl.suggestedFilename().length > 0, true);
    if (i === 0) assert.strictEqual(dl.suggestedFilename(), name);
    const got = fs.readFileSync(await dl.path());
    assert.strictEqual(got.length, bytes.length, `download ${i} size`);
    assert.ok(got.equals(bytes), `download ${i}: exact bytes`);
  }
  // a plain link works too: the session cookie authorises it
  const viaCookie = await page.evaluate(async (id) => {
    const r = await fetch(`/api/v1/attachments/${id}/content`);
    return { status: r.status, cd: r.headers.get('content-disposition'), len: (await r.arrayBuffer()).byteLength };
  }, smallId);
  assert.deepStrictEqual([viaCookie.status, viaCookie.len], [200, small.length]);
  assert.match(viaCookie.cd, /^attachment/);
  assert.strictEqual(await chips.nth(0).getAttribute('href'), `/api/v1/attachments/${bigId}/content`);

  // 2. the original HTML in an empty sandbox; nothing runs, nothing loads from the network
  const row = page.locator(`.thread .row:has(.msg[data-id="${messageId}"])`);
  const ht = row.locator('.html-toggle');
  assert.match(await ht.textContent(), /View original \(HTML\)/);
  await ht.click();
  const frameEl = bubble.locator('.html-view iframe');
  await frameEl.waitFor();
  assert.strictEqual(await frameEl.getAttribute('sandbox'), '');
  const srcdoc = await frameEl.getAttribute('srcdoc');
  assert.ok(srcdoc.startsWith('<!doctype html><meta charset="utf-8"><meta http-equiv="Content-Security-Policy" ' +
    `content="default-src 'none'; img-src data:; style-src 'unsafe-inline'">`), srcdoc.slice(0, 200));
  const frame = await (await frameEl.elementHandle()).contentFrame();
  await frame.waitForLoadState('load');
  // the HTML did render (Playwright reads the sandboxed frame from outside)
  await frame.waitForSelector('b');
  assert.strictEqual(await frame.textContent('b'), 'bold');
  assert.strictEqual(await frame.evaluate(() => document.documentElement.dataset.ran), undefined, 'no script ran in the frame');
  assert.strictEqual(await frame.evaluate(() => document.querySelector('img[alt=dot]').naturalWidth), 1, 'data: image shown');
  const box = await frameEl.boundingBox();
  assert.ok(box.height >= 300 && box.height <= 420, `frame height ${box.height}`);
  await page.waitForTimeout(700); // time for a refresh, image, style or script to do harm
  assert.strictEqual(await page.title(), titleBefore, 'the parent title is untouched');
  assert.deepStrictEqual(dialogs, []);
  assert.deepStrictEqual(hits, [], 'nothing fetched from remote servers');
  assert.strictEqual(await page.locator('img[src=x]').count(), 0, 'no element made from the filename in the console');
  assert.strictEqual(page.url(), server.url + '/');
  assert.strictEqual(frame.url(), 'about:srcdoc', 'the frame was not navigated away');
  await ht.click();
  assert.strictEqual(await bubble.locator('.html-view').count(), 0, 'hidden again');
  await ht.click();
  await frameEl.waitFor();
  await qt.click(); // quoted text collapsed again
  // a ticket event re-renders the thread: the open HTML view and the quote state stay as they were
  const patched = await a.patch(`/api/v1/tickets/${ticketId}`, { priority: 'high' });
  assert.strictEqual(patched.status, 200, patched.text);
  await page.waitForFunction(() => document.querySelector('.prio-select').value === 'high');
  await page.locator(`.thread .msg.in[data-id="${messageId}"] .html-view iframe`).waitFor();
  assert.strictEqual(await text.textContent(), visible);
  const frame2 = await (await frameEl.elementHandle()).contentFrame();
  await frame2.waitForSelector('b');
  await bubble.locator('.atts').scrollIntoViewIfNeeded();

  assert.deepStrictEqual(pageErrors, []);
  const shot = path.join(__dirname, '..', '..', 'var', 'console-email.png');
  await page.screenshot({ path: shot });

  // live: a second mail arrives as message.created shaped like ingest's (no body_visible or
  // attachments in the event); the console completes it from the stored row, and its new Cc
  const visible2 = 'Any news?';
  const full2 = visible2 + '\n\n---------- Forwarded message ---------\nFrom: boss@example.com\nplease chase this';
  const [[m2]] = sql(server, `
    INSERT INTO messages (ticket_id, customer_id, direction, channel, author_type, body_text, body_visible, external_id)
      SELECT id, customer_id, 'in', 'email', 'customer', ${lit(full2)}, ${lit(visible2)}, '<inv-8842-2@example.com>' FROM tickets WHERE id = ${ticketId};
    SET @m = LAST_INSERT_ID();
    INSERT INTO attachments (message_id, filename, content_type, size, sha256, storage)
      VALUES (@m, 'photo.jpg', 'image/jpeg', 2048, '${sha(small)}', 'db');
    INSERT INTO ticket_participants (ticket_id, address, role) VALUES (${ticketId}, 'auditor@example.net', 'cc');
    INSERT INTO events (kind, ticket_id, customer_id, agent_id, payload)
      SELECT 'message.created', t.id, t.customer_id, t.assignee_id, JSON_OBJECT('message', JSON_OBJECT('id', CAST(@m AS UNSIGNED), 'ticket_id', t.id,
        'direction', 'in', 'channel', 'email', 'author_type', 'customer', 'author_id', NULL, 'author_name', NULL,
        'body_text', ${lit(full2)}, 'body_html', NULL, 'status', 'received', 'internal', FALSE, 'created_at', '2026-11-23T09:30:00Z'))
      FROM tickets t WHERE t.id = ${ticketId};
    SELECT @m;`);
  const live = page.locator(`.thread .msg.in[data-id="${m2}"]`);
  await live.locator('.atts .att').waitFor({ timeout: 5000 });
  assert.strictEqual(await live.locator('.body-text').textContent(), visible2);
  assert.match(await live.locator('.att').textContent(), /photo\.jpg\s*2 KB/);
  await page.waitForFunction(() => /auditor@example\.net/.test(document.querySelector('.conv-head .cc-line').textContent));
  assert.strictEqual(await bubble.locator('.html-view iframe').count(), 1, 'the open HTML view stays open');
  assert.deepStrictEqual(pageErrors, []);
  await page.close();
  await new Promise((r) => tracker.close(r));
});

// The SMS side of the console: the segment counter in the composer (the same counting as
// gateway/lib/sms_text.c, checked against the table of tests/unit/test_sms.c and against
// what the server stores), "N segments" on multi-part messages, delivery marks for
// delivered / failed / ambiguous from REST and from live message.updated events, a reply to
// a customer who texted STOP refused with the draft kept, and automatic (bot) messages.
test('SMS: segment counter, delivery states, opted-out reply keeps the draft, automatic messages', async () => {
  const a = api(server, admin.token);
  const phone = '+8613800138000', phone2 = '+8613900139000';
  const longText = 'Hello Mr Zhang, your parcel left our Shenzhen warehouse this morning. Tracking number ' +
    'SF1234567890; delivery is expected on Thursday between 9:00 and 18:00. Reply here if that time does not suit you.';
  const stopReply = 'You have been unsubscribed and will get no more messages from us. Reply START to subscribe again.';
  const me = admin.agent.id;
  const out = (body, status, segments, encoding, minutes) =>
    `INSERT INTO messages (ticket_id, customer_id, direction, channel, author_type, author_id, body_text, status, segments, encoding, created_at)
       VALUES (@t, @c, 'out', 'sms', 'agent', ${me}, ${lit(body)}, '${status}', ${segments}, '${encoding}', NOW(3) - INTERVAL ${minutes} MINUTE);
     SET @m${status}${minutes} = LAST_INSERT_ID();`;
  const [[ticketId, customerId, mIn, mDelivered, mFailed, mAmbiguous, mLive1, mLive2, mLive3, mBot, ticket2]] = sql(server, `
    INSERT INTO customers (name) VALUES (${lit('张伟 Zhang Wei')});
    SET @c = LAST_INSERT_ID();
    INSERT INTO customer_identities (customer_id, kind, value) VALUES (@c, 'phone', '${phone}');
    INSERT INTO tickets (customer_id, channel, status, assignee_id, last_message_at) VALUES (@c, 'sms', 'open', ${me}, NOW(3));
    SET @t = LAST_INSERT_ID();
    INSERT INTO messages (ticket_id, customer_id, direction, channel, author_type, body_text, status, segments, encoding, external_id, created_at)
      VALUES (@t, @c, 'in', 'sms', 'customer', ${lit('你好，我的快递什么时候到？')}, 'received', 1, 'ucs2', 'SMconsole0001', NOW(3) - INTERVAL 50 MINUTE);
    SET @in = LAST_INSERT_ID();
    ${out(longText, 'delivered', 2, 'gsm7', 45)}
    ${out('Your courier will call you 30 minutes before arriving.', 'failed', 1, 'gsm7', 40)}
    ${out('Update: the courier is running late, new time window 14:00-16:00.', 'ambiguous', 1, 'gsm7', 35)}
    ${out('您好，快递已经到达您的小区门口。', 'queued', 1, 'ucs2', 30)}
    ${out('Could you confirm the delivery address, please?', 'queued', 1, 'gsm7', 25)}
    ${out('We will try again tomorrow morning.', 'queued', 1, 'gsm7', 20)}
    INSERT INTO messages (ticket_id, customer_id, direction, channel, author_type, body_text, status, segments, encoding, external_id, created_at)
      VALUES (@t, @c, 'in', 'sms', 'customer', 'STOP', 'received', 1, 'gsm7', 'SMconsole0002', NOW(3) - INTERVAL 10 MINUTE);
    INSERT INTO messages (ticket_id, customer_id, direction, channel, author_type, body_text, status, segments, encoding, created_at)
      VALUES (@t, @c, 'out', 'sms', 'bot', ${lit(stopReply)}, 'delivered', 1, 'gsm7', NOW(3) - INTERVAL 9 MINUTE);
    SET @bot = LAST_INSERT_ID();
    INSERT INTO customers (name) VALUES ('Counting Check');
    SET @c2 = LAST_INSERT_ID();
    INSERT INTO customer_identities (customer_id, kind, value) VALUES (@c2, 'phone', '${phone2}');
    INSERT INTO tickets (customer_id, channel, status, assignee_id, last_message_at) VALUES (@c2, 'sms', 'open', ${me}, NOW(3) - INTERVAL 1 DAY);
    SELECT @t, @c, @in, @mdelivered45, @mfailed40, @mambiguous35, @mqueued30, @mqueued25, @mqueued20, @bot, LAST_INSERT_ID();`);

  // the REST shape the console relies on
  const rest = await a.get(`/api/v1/tickets/${ticketId}/messages`);
  assert.strictEqual(rest.status, 200, rest.text);
  const restDelivered = rest.json.items.find((m) => String(m.id) === mDelivered);
  assert.deepStrictEqual([restDelivered.status, Number(restDelivered.segments), restDelivered.encoding], ['delivered', 2, 'gsm7']);

  const page = await browser.newPage({ viewport: { width: 1400, height: 1300 } });
  const pageErrors = [];
  page.on('pageerror', (e) => pageErrors.push(e.message));
  await page.goto(server.url + '/');
  await page.fill('#login-email', 'admin@example.com');
  await page.fill('#login-password', admin.password);
  await page.click('button[type=submit]');
  await page.waitForSelector('#app:not([hidden])');
  await page.waitForFunction(() => document.querySelector('#live').textContent.includes('live'));

  // 1. the pure counting function against the unit test's table (and a few more)
  const table = [
    ['', 'gsm7', 0, 1, 160], ['hello', 'gsm7', 5, 1, 160], ['Price: €5 {ok}', 'gsm7', 17, 1, 160],
    ['café Ñandù £3 ¿?', 'gsm7', 16, 1, 160], ['Ñandú', 'ucs2', 5, 1, 70],
    ['a'.repeat(160), 'gsm7', 160, 1, 160], ['a'.repeat(161), 'gsm7', 161, 2, 153],
    ['a'.repeat(306), 'gsm7', 306, 2, 153], ['a'.repeat(307), 'gsm7', 307, 3, 153],
    ['你'.repeat(70), 'ucs2', 70, 1, 70], ['好'.repeat(71), 'ucs2', 71, 2, 67],
    ['中'.repeat(134), 'ucs2', 134, 2, 67], ['文'.repeat(135), 'ucs2', 135, 3, 67],
    ['ok 😊', 'ucs2', 5, 1, 70], ['a`b', 'ucs2', 3, 1, 70],
    ['^{}\\[~]|€\f', 'gsm7', 20, 1, 160], ['{'.repeat(80), 'gsm7', 160, 1, 160], ['{'.repeat(80) + 'a', 'gsm7', 161, 2, 153],
    ['ΔΦΓΛΩΠΨΣΘΞ @\n\r', 'gsm7', 14, 1, 160], ['😊'.repeat(35), 'ucs2', 70, 1, 70], ['😊'.repeat(35) + 'a', 'ucs2', 71, 2, 67],
  ];
  const got = await page.evaluate((texts) => texts.map((s) => smsSegments(s)), table.map((r) => r[0]));
  table.forEach(([text, encoding, units, segments, perSegment], i) => {
    assert.deepStrictEqual(got[i], { encoding, units, segments, perSegment }, `smsSegments(${JSON.stringify(text.slice(0, 20))}…)`);
  });
  // and against what the server stores for the same texts (a customer who has not opted out)
  for (const text of ['hello', 'Price: €5 {ok}', 'café Ñandù £3 ¿?', 'Ñandú', 'a'.repeat(161), '文'.repeat(135), 'ok 😊', 'a`b',
    '{'.repeat(80) + 'a', '😊'.repeat(35) + 'a']) {
    const r = await a.post(`/api/v1/tickets/${ticket2}/messages`, { body_text: text });
    assert.strictEqual(r.status, 201, r.text);
    const mine = await page.evaluate((s) => smsSegments(s), text);
    assert.deepStrictEqual([Number(r.json.segments), r.json.encoding], [mine.segments, mine.encoding], `server vs console: ${text.slice(0, 20)}`);
  }

  await page.click('.queue[data-queue=all]');
  await page.click(`#ticket-list li[data-id="${ticketId}"]`);
  await page.locator(`.thread .msg[data-id="${mBot}"]`).waitFor();
  const rowOf = (id) => page.locator(`.thread .row:has(.msg[data-id="${id}"])`);

  // 2. from REST: segments, delivered / failed / ambiguous, the automatic message
  assert.strictEqual(await rowOf(mDelivered).locator('.meta .segs').textContent(), '2 segments');
  assert.strictEqual(await rowOf(mIn).locator('.meta .segs').count(), 0, 'one segment: nothing shown');
  assert.strictEqual(await rowOf(mDelivered).locator('.state').textContent(), '✓✓ Delivered');
  assert.strictEqual(await rowOf(mDelivered).locator('.delivery').count(), 0);
  assert.strictEqual(await rowOf(mFailed).locator('.state').textContent(), '⚠ Not delivered');
  assert.strictEqual(await rowOf(mFailed).locator('.delivery.bad').textContent(), 'The message could not be delivered.');
  assert.strictEqual(await rowOf(mFailed).locator('.delivery.bad').evaluate((e) => getComputedStyle(e).color), 'rgb(220, 38, 38)');
  assert.strictEqual(await rowOf(mAmbiguous).locator('.delivery.warn').textContent(),
    'May not have been delivered — check with the customer before resending');
  assert.strictEqual(await rowOf(mLive1).locator('.state').textContent(), '◷ Queued');
  const bot = page.locator(`.thread .msg[data-id="${mBot}"]`);
  assert.match(await bot.getAttribute('class'), /\bbot\b/);
  assert.doesNotMatch(await bot.getAttribute('class'), /\bout\b/, 'not styled as an agent reply');
  assert.strictEqual(await bot.locator('.bot-label').textContent(), 'Automatic');
  assert.strictEqual(await rowOf(mBot).locator('.state').textContent(), '✓✓ Delivered');

  // live: message.updated events, as the outbox and the delivery reports write them
  const updated = (mid, status, error) => sql(server, `
    UPDATE messages SET status = '${status}' WHERE id = ${mid};
    INSERT INTO events (kind, ticket_id, customer_id, agent_id, payload) VALUES ('message.updated', ${ticketId}, ${customerId}, ${me},
      JSON_OBJECT('message', JSON_OBJECT('id', ${mid}, 'ticket_id', ${ticketId}, 'status', '${status}'${error ? `, 'error', ${lit(error)}` : ''})));`);
  updated(mLive1, 'sent');
  await page.waitForFunction((id) => document.querySelector(`.thread .row:has(.msg[data-id="${id}"]) .state`).textContent === '✓ Sent', mLive1);
  updated(mLive1, 'delivered');
  await page.waitForFunction((id) => document.querySelector(`.thread .row:has(.msg[data-id="${id}"]) .state`).textContent === '✓✓ Delivered', mLive1);
  const why = 'not delivered (undelivered, error 30003) <b>unreachable</b>';
  updated(mLive2, 'failed', why);
  await rowOf(mLive2).locator('.delivery.bad').waitFor();
  assert.strictEqual(await rowOf(mLive2).locator('.delivery.bad').textContent(), why, 'the error, as text');
  assert.strictEqual(await rowOf(mLive2).locator('.state').textContent(), '⚠ Not delivered');
  updated(mLive3, 'ambiguous', 'interrupted while sending');
  await rowOf(mLive3).locator('.delivery.warn').waitFor();
  assert.strictEqual(await rowOf(mLive3).locator('.delivery.warn .dl-head').textContent(),
    'May not have been delivered — check with the customer before resending');
  assert.strictEqual(await rowOf(mLive3).locator('.delivery.warn .why').textContent(), 'interrupted while sending');
  assert.strictEqual(await rowOf(mLive3).locator('.state').textContent(), '⚠ Unconfirmed');
  assert.strictEqual(await page.locator('.thread b').count(), 0);
  // the errors are not in the REST rows: reopening the thread keeps what the events said
  await page.click(`#ticket-list li[data-id="${ticket2}"]`);
  await page.waitForFunction((id) => document.querySelector('#ticket-detail').dataset.ticket === String(id), ticket2);
  await page.click(`#ticket-list li[data-id="${ticketId}"]`);
  await page.locator(`.thread .msg[data-id="${mBot}"]`).waitFor();
  assert.strictEqual(await rowOf(mLive2).locator('.delivery.bad').textContent(), why);
  assert.strictEqual(await rowOf(mLive3).locator('.delivery.warn .why').textContent(), 'interrupted while sending');
  assert.strictEqual(await rowOf(mLive1).locator('.state').textContent(), '✓✓ Delivered');

  // 3. the counter under the composer, while typing
  const ta = page.locator('.reply textarea');
  const counter = page.locator('.reply .sms-count');
  const typed = async (text) => { await ta.fill(''); await ta.click(); await page.keyboard.type(text); return counter.textContent(); };
  assert.strictEqual(await counter.textContent(), '0 / 160 · 1 segment · GSM-7');
  assert.strictEqual(await typed('hello'), '5 / 160 · 1 segment · GSM-7');
  assert.strictEqual(await typed('Price: €5 {ok}'), '17 / 160 · 1 segment · GSM-7');
  assert.strictEqual(await typed('您好 😊'), '5 / 70 · 1 segment · Unicode');
  assert.strictEqual(await typed('Ñandú'), '5 / 70 · 1 segment · Unicode');
  await ta.fill('a'.repeat(160));
  await page.keyboard.type('b');
  assert.strictEqual(await counter.textContent(), '161 / 306 · 2 segments · GSM-7');
  assert.doesNotMatch(await counter.getAttribute('class'), /\bmany\b/);
  await ta.fill('文'.repeat(134));
  await page.keyboard.type('字');
  assert.strictEqual(await counter.textContent(), '135 / 201 · 3 segments · Unicode');
  assert.match(await counter.getAttribute('class'), /\bmany\b/);
  assert.strictEqual(await counter.evaluate((e) => getComputedStyle(e).color), 'rgb(217, 119, 6)', 'amber at 3 segments');
  await page.click('.reply .mode[data-mode=note]');
  assert.ok(await counter.isHidden(), 'notes are not SMS: no counter');
  await page.click('.reply .mode[data-mode=reply]');
  assert.ok(await counter.isVisible());

  // 4. the customer texted STOP: the reply is refused, nothing is stored, the draft stays
  sql(server, `INSERT INTO suppressions (channel, value, reason) VALUES ('sms', '${phone}', 'keyword')`);
  const optedOut = 'the customer opted out of SMS (texted STOP); they can text START to opt in again, or use another channel';
  const direct = await a.post(`/api/v1/tickets/${ticketId}/messages`, { body_text: 'hello?' });
  assert.strictEqual(direct.status, 409, direct.text);
  assert.deepStrictEqual([direct.json.error.code, direct.json.error.message], ['opted_out', optedOut]);
  const countMsgs = () => sql(server, `SELECT COUNT(*) FROM messages WHERE ticket_id = ${ticketId}`)[0][0];
  const before = countMsgs();
  const draft = 'Hi Mr Zhang, your refund of ¥120 was sent today. Anything else?';
  await typed(draft);
  await page.keyboard.press('Enter'); // over the agent socket: an error frame
  const alert = page.locator('.reply .composer-alert');
  await alert.waitFor({ timeout: 5000 });
  assert.strictEqual(await alert.textContent(), 'Not sent: ' + optedOut + '×');
  assert.strictEqual(await ta.inputValue(), draft, 'the draft is back in the box');
  assert.strictEqual(await counter.textContent(), '63 / 160 · 1 segment · GSM-7');
  assert.strictEqual(await page.locator('.thread .msg.mine').count(), 0, 'no pending or failed bubble left');
  await alert.locator('.ca-close').click();
  assert.strictEqual(await alert.count(), 0, 'dismissed');
  // the same over REST (socket down): a 409 with the same code
  await page.evaluate(() => { state.wsReady = false; });
  await ta.click();
  await page.keyboard.press('Enter');
  await alert.waitFor({ timeout: 5000 });
  assert.match(await alert.textContent(), /opted out of SMS \(texted STOP\)/);
  assert.strictEqual(await ta.inputValue(), draft);
  await page.evaluate(() => { state.wsReady = !!state.ws && state.ws.readyState === 1; });
  // a ticket event re-renders the detail: the alert and the draft stay
  const patched = await a.patch(`/api/v1/tickets/${ticketId}`, { priority: 'high' });
  assert.strictEqual(patched.status, 200, patched.text);
  await page.waitForFunction(() => document.querySelector('.prio-select').value === 'high');
  assert.strictEqual(await alert.count(), 1);
  assert.strictEqual(await ta.inputValue(), draft);
  assert.strictEqual(countMsgs(), before, 'nothing stored');

  assert.deepStrictEqual(pageErrors, []);
  await page.locator('.thread').evaluate((e) => { e.scrollTop = e.scrollHeight; });
  await page.screenshot({ path: path.join(__dirname, '..', '..', 'var', 'console-sms.png') });
  await page.close();
});
