'use strict';
// console_marketing.test.js — the console's marketing pages in a real headless Chromium
// (Debian chromium driven by playwright-core), against the real binary, MariaDB and a real
// SMTP server (npm smtp-server, in this process): a marketer builds `tag:VIP AND region = 上海`
// with the segment builder (text box, live preview count and sample, a broken rule's
// position highlighted, NOT and groups), saves it; writes an e-mail template whose preview
// renders a chosen customer's Chinese name and escapes HTML from data inside a sandboxed
// iframe, with the server's "line L, column C" next to a broken part; creates and starts a
// 20-recipient campaign from the page and watches the progress bar reach 100% with the sent
// count equal to what the SMTP server received; re-sends one ambiguous recipient behind the
// duplicate warning; a refused start shows the 409; pause, resume and cancel hit the API;
// results (ledger rows and won deals set up through SQL and the API): the campaign page's
// outcome tiles with their share of sent, n/a opens and clicks for SMS, the attributed
// revenue per currency, the campaigns page's channel comparison (the better rate marked,
// hidden when the report fails), and a reply's ticket linking to its campaign.
// Screenshots: var/screenshots/marketing-{segments,template,campaign,results,results-sms,
// compare,ticket-campaign}.png.
const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const { SMTPServer } = require('smtp-server');
const { simpleParser } = require('mailparser');
const { launchChromium, openTab, hasTab } = require('./clients');
const { startServer, bootstrapAdmin, api, sql, dropDatabase, createAgent, until, freePort } = require('./harness');

const SHOTS = path.join(__dirname, '..', '..', 'var', 'screenshots');
const HOSTILE = '<img src=x onerror="window.__xss=1">';
const SURNAMES = ['王', '李', '张', '刘', '陈', '杨', '赵', '黄', '周', '吴'];
const GIVEN = ['芳', '伟', '娜', '敏', '静', '磊', '洋', '艳', '勇', '军', '杰', '娟', '涛', '明', '超', '秀英', '霞', '平', '刚', '桂英'];
let smtp, server, admin, a, marketer, m, browser, page;
const mails = [];
let segmentId, templateId, campaignId, fangId;

before(async () => {
  fs.mkdirSync(SHOTS, { recursive: true });
  const smtpPort = await freePort();
  smtp = new SMTPServer({
    authOptional: true, disabledCommands: ['STARTTLS'], logger: false,
    onData(stream, session, cb) { simpleParser(stream).then((msg) => { mails.push(msg); cb(); }, cb); },
  });
  await new Promise((r) => smtp.listen(smtpPort, '127.0.0.1', r));
  server = await startServer({
    env: { SWITCHBOARD_SMTP_HOST: '127.0.0.1', SWITCHBOARD_SMTP_PORT: String(smtpPort), SWITCHBOARD_SMTP_FROM: 'news@example.com' },
  });
  admin = await bootstrapAdmin(server);
  a = api(server, admin.token);
  marketer = await createAgent(server, admin.token, { role: 'marketer', name: '市场部 周婷' });
  m = api(server, marketer.token);
  let r = await a.post('/api/v1/field-defs', { key: 'coupon', label: '优惠券 Coupon', type: 'text' });
  assert.equal(r.status, 201, r.text);
  // 20 VIPs in 上海 (the campaign), 5 VIPs in 北京 and 4 others in 上海 (who must not match)
  for (let i = 0; i < 20; i++) {
    const name = i === 0 ? '王芳' : SURNAMES[i % 10] + GIVEN[i];
    r = await a.post('/api/v1/customers', { name, email: `vip${i}@sh.example.cn`, region: '上海', tags: ['VIP'],
      attrs: { coupon: i === 0 ? HOSTILE : `SH-${100 + i}` } });
    assert.equal(r.status, 201, r.text);
    if (i === 0) fangId = r.json.id;
  }
  for (let i = 0; i < 5; i++) assert.equal((await a.post('/api/v1/customers', { name: `北京客户${i}`, email: `vip${i}@bj.example.cn`, region: '北京', tags: ['VIP'] })).status, 201);
  for (let i = 0; i < 4; i++) assert.equal((await a.post('/api/v1/customers', { name: `上海普通${i}`, email: `n${i}@sh.example.cn`, region: '上海', tags: ['普通'] })).status, 201);
  browser = await launchChromium();
});

after(async () => {
  if (browser) await browser.close();
  if (server) { await server.stop(); dropDatabase(server); }
  if (smtp) await new Promise((r) => smtp.close(r));
});

async function signIn(email, password) {
  const p = await browser.newPage({ viewport: { width: 1440, height: 1000 }, locale: 'en-US' });
  p.errors = [];
  p.on('pageerror', (e) => p.errors.push(e.message));
  await p.goto(server.url + '/');
  await p.fill('#login-email', email);
  await p.fill('#login-password', password);
  await p.click('button[type=submit]');
  await p.waitForSelector('#app:not([hidden])');
  await p.waitForFunction(() => document.querySelector('#live').textContent.includes('live'));
  return p;
}
const text = (sel) => page.locator(sel).first().textContent();
const ruleText = () => page.inputValue('#seg-rule');

test('segments: the builder writes tag:VIP AND region = 上海, the preview counts it, errors are placed, saved', async () => {
  page = await signIn(marketer.email, marketer.password);
  // a marketer has no conversations: the console opens on the campaigns
  await page.waitForSelector('#view-campaigns:not([hidden])');
  assert.equal(!(await hasTab(page, 'tickets')), true);
  for (const v of ['segments', 'templates', 'campaigns']) assert.equal(await hasTab(page, v), true, v);
  assert.equal(await page.locator('#toast').isHidden(), true, 'no error toast for the marketer');

  await openTab(page, 'segments');
  await page.click('#seg-new');
  await page.fill('#seg-name', '上海 VIP 客户');
  // first row: tag is VIP
  const row = (i) => page.locator('#seg-builder .seg-group.top > .seg-items > .seg-row').nth(i);
  assert.equal(await row(0).locator('.seg-field').inputValue(), 'tag');
  await row(0).locator('.seg-value').fill('VIP');
  assert.equal(await ruleText(), 'tag:VIP');
  // second row: region = 上海
  await page.locator('#seg-builder .seg-group.top > .seg-add .seg-add-cond').click();
  await row(1).locator('.seg-field').selectOption('region');
  assert.equal(await row(1).locator('.seg-op').inputValue(), '=');
  await row(1).locator('.seg-value').fill('上海');
  assert.equal(await ruleText(), 'tag:VIP AND region = 上海');
  await page.waitForSelector('#seg-count[data-count="20"]');
  assert.equal(await page.locator('#seg-sample-rows tr').count(), 20);
  assert.match(await text('#seg-sample-rows'), /王芳/);
  assert.doesNotMatch(await text('#seg-sample-rows'), /北京客户|上海普通/);

  // OR, NOT and a group
  await page.locator('#seg-builder .seg-group.top > .seg-gbar .seg-op-btn[data-op=OR]').click();
  assert.equal(await ruleText(), 'tag:VIP OR region = 上海');
  await page.waitForSelector('#seg-count[data-count="29"]');
  await page.locator('#seg-builder .seg-group.top > .seg-gbar .seg-op-btn[data-op=AND]').click();
  await row(1).locator('.seg-not').click();
  assert.equal(await ruleText(), 'tag:VIP AND NOT region = 上海');
  await page.waitForSelector('#seg-count[data-count="5"]');
  await row(1).locator('.seg-not').click();
  await page.locator('#seg-builder .seg-group.top > .seg-add .seg-add-group').click();
  const grp = page.locator('#seg-builder .seg-group.top > .seg-items > .seg-group');
  await grp.locator('.seg-row .seg-field').first().selectOption('stage');
  await grp.locator('.seg-row .seg-value').first().selectOption('churned');
  await grp.locator('.seg-add-cond').click();
  await grp.locator('.seg-row').nth(1).locator('.seg-field').selectOption('attr.coupon');
  await grp.locator('.seg-row').nth(1).locator('.seg-op').selectOption('~');
  await grp.locator('.seg-row').nth(1).locator('.seg-value').fill('SH-10');
  assert.equal(await ruleText(), 'tag:VIP AND region = 上海 AND (stage:churned OR attr.coupon ~ SH-10)');
  await page.waitForSelector('#seg-count[data-count="9"]'); // SH-101 … SH-109
  await grp.locator('.seg-gbar .seg-not').click();
  assert.equal(await ruleText(), 'tag:VIP AND region = 上海 AND NOT (stage:churned OR attr.coupon ~ SH-10)');
  await page.waitForSelector('#seg-count[data-count="11"]');
  await grp.locator('.seg-gbar .seg-gremove').click();
  assert.equal(await ruleText(), 'tag:VIP AND region = 上海');

  // typing a broken rule: the server's reason, its position marked in the text box
  const broken = 'tag:VIP AND 地区 = 上海';
  await page.fill('#seg-rule', broken);
  await page.waitForFunction(() => document.querySelector('#seg-error').textContent.length > 0);
  assert.match(await text('#seg-error'), /unknown field/);
  assert.equal(await page.getAttribute('#seg-rule', 'data-error-pos'), String(broken.indexOf('地区')));
  assert.equal(await text('.rule-backdrop mark.rule-err'), '地区');
  // the text typed by hand comes back into the builder
  await page.fill('#seg-rule', 'tag:VIP AND region = 上海');
  await page.waitForSelector('#seg-count[data-count="20"]');
  assert.equal(await page.locator('#seg-rule').getAttribute('data-error-pos'), null);
  assert.equal(await row(1).locator('.seg-field').inputValue(), 'region');
  assert.equal(await row(1).locator('.seg-value').inputValue(), '上海');

  await page.click('#seg-save');
  await page.waitForSelector('#seg-list .mk-item.sel');
  const segs = (await m.get('/api/v1/segments')).json.items;
  assert.equal(segs.length, 1);
  assert.deepEqual([segs[0].name, segs[0].rule], ['上海 VIP 客户', 'tag:VIP AND region = 上海']);
  segmentId = segs[0].id;
  assert.equal(await page.evaluate(() => location.hash), `#/segments/${segmentId}`);
  // rename
  await page.fill('#seg-name', '上海 VIP');
  await page.click('#seg-save');
  await until(async () => (await m.get(`/api/v1/segments/${segmentId}`)).json.name === '上海 VIP', 5000, 'renamed');
  await page.waitForFunction(() => document.querySelector('#seg-list .mk-item.sel .mk-item-name').textContent === '上海 VIP');
  await page.waitForSelector('#seg-count[data-count="20"]');
  await page.locator('#seg-builder').scrollIntoViewIfNeeded();
  await page.screenshot({ path: path.join(SHOTS, 'marketing-segments.png'), fullPage: false });
  assert.deepEqual(page.errors, []);
});

test('templates: the preview renders for a chosen customer, escapes HTML from data, shows the part\'s error', async () => {
  await openTab(page, 'templates');
  await page.click('#tpl-new-email');
  await page.fill('#tpl-name', '上海 VIP 专享');
  await page.fill('#tpl-subject', '{{customer.name}}，您的专属优惠');
  await page.fill('#tpl-text', '{{customer.name}} 您好，优惠码 {{customer.attrs.coupon}}。\n退订：{{unsubscribe_url}}');
  await page.fill('#tpl-html', '<h2 style="color:#2563eb">{{customer.name}} 您好</h2><p>优惠码 <b class="code">{{customer.attrs.coupon}}</b></p><p><a href="{{unsubscribe_url}}">退订</a></p>');
  await page.fill('#tpl-customer-q', '王芳');
  await page.locator(`#tpl-customer-list li.pick[data-customer="${fangId}"]`).click();
  await page.waitForFunction(() => (document.querySelector('#tpl-out-subject') || {}).textContent?.includes('王芳，您的专属优惠'));
  assert.match(await text('#tpl-out-text'), /王芳 您好，优惠码 <img src=x onerror="window.__xss=1">。/); // text parts are not escaped…
  assert.equal(await page.getAttribute('#tpl-out-html', 'sandbox'), '', 'sandboxed: no scripts');
  const frame = page.frameLocator('#tpl-out-html');
  await frame.locator('h2').waitFor();
  assert.equal(await frame.locator('h2').textContent(), '王芳 您好');
  assert.equal(await frame.locator('b.code').textContent(), HOSTILE, '…the HTML part shows the data as text');
  assert.equal(await frame.locator('img').count(), 0);
  assert.equal(await page.evaluate(() => window.__xss), undefined);
  assert.equal(await page.locator('img[src=x]').count(), 0);

  // a broken part: the server's line and column next to it, the preview waits
  await page.fill('#tpl-html', '<p>{{customer.name}}</p>\n<p>{{#customer.tags}}{{.}}</p>');
  await page.waitForFunction(() => document.querySelector('.field-error[data-for=html]').textContent.length > 0);
  assert.match(await text('.field-error[data-for=html]'), /line \d+, column \d+/);
  assert.equal(await page.locator('.field-error[data-for=subject]').textContent(), '');
  await page.fill('#tpl-html', '<h2 style="color:#2563eb">{{customer.name}} 您好</h2><p>优惠码 <b class="code">{{customer.attrs.coupon}}</b></p><p><a href="{{unsubscribe_url}}">退订</a></p>');
  await page.waitForFunction(() => document.querySelector('.field-error[data-for=html]').textContent === '');
  await page.frameLocator('#tpl-out-html').locator('b.code').waitFor();

  await page.click('#tpl-save');
  await page.waitForSelector('#tpl-list .mk-item.sel');
  const tpls = (await m.get('/api/v1/templates')).json.items;
  assert.equal(tpls.length, 1);
  templateId = tpls[0].id;
  assert.equal(tpls[0].channel, 'email');
  assert.equal(tpls[0].subject, '{{customer.name}}，您的专属优惠');
  await page.frameLocator('#tpl-out-html').locator('b.code').waitFor(); // the preview stays after saving
  await page.screenshot({ path: path.join(SHOTS, 'marketing-template.png') });

  // SMS: segments and encoding
  await page.click('#tpl-new-sms');
  await page.fill('#tpl-text', '【商城】{{customer.name}}您好，您的优惠码 {{customer.attrs.coupon}} 已到账，回TD退订');
  await page.waitForSelector('#tpl-out-sms');
  assert.match(await text('#tpl-out-sms'), /1 segment · Unicode/);
  assert.deepEqual(page.errors, []);
});

test('campaigns: created and started from the page, the progress bar reaches 100%, sent = what SMTP received', async () => {
  await openTab(page, 'campaigns');
  await page.click('#camp-new');
  await page.fill('#camp-name', '上海 VIP 双十一');
  await page.selectOption('#camp-segment', String(segmentId));
  assert.deepEqual(await page.locator('#camp-template option').evaluateAll((os) => os.map((o) => o.value)), ['', String(templateId)]);
  await page.selectOption('#camp-channel', 'sms');
  assert.deepEqual(await page.locator('#camp-template option').evaluateAll((os) => os.map((o) => o.value)), [''], 'filtered by channel');
  await page.selectOption('#camp-channel', 'email');
  await page.selectOption('#camp-template', String(templateId));
  await page.click('#camp-save');
  await page.waitForSelector('#camp-detail[data-campaign] .cstatus[data-status=draft]');
  const camps = (await m.get('/api/v1/campaigns')).json.items;
  assert.equal(camps.length, 1);
  campaignId = camps[0].id;
  assert.deepEqual([camps[0].segment_id, camps[0].template_id, camps[0].channel], [segmentId, templateId, 'email']);
  assert.equal(await page.evaluate(() => location.hash), `#/campaign/${campaignId}`);
  assert.equal(mails.length, 0);

  await page.click('#camp-detail .camp-start');
  await page.waitForSelector('#camp-progress[aria-valuenow="100"]', { timeout: 60000 });
  await page.waitForSelector('#camp-detail .cstatus[data-status=finished]', { timeout: 30000 });
  await until(() => mails.length >= 20, 10000, '20 mails');
  await new Promise((r) => setTimeout(r, 500));
  assert.equal(mails.length, 20);
  assert.equal(new Set(mails.map((x) => x.to.value[0].address)).size, 20);
  assert.equal(await text('.tile[data-stat=sent] .tile-n'), String(mails.length));
  assert.equal(await text('.tile[data-stat=queued] .tile-n'), '0');
  const fang = mails.find((x) => x.to.value[0].address === 'vip0@sh.example.cn');
  assert.equal(fang.subject, '王芳，您的专属优惠');
  const chart = page.locator('#camp-chart');
  assert.ok(Number(await chart.getAttribute('data-samples')) >= 2, 'sampled while sending');
  assert.equal(await chart.getAttribute('data-last'), '20');
  assert.equal(await page.locator('#camp-chart polyline.ch-line').count(), 1);
  // the list shows it finished
  await page.click('#camp-detail .crumb');
  await page.waitForSelector(`#camp-rows tr[data-campaign="${campaignId}"] .cstatus[data-status=finished]`);

  // two sends interrupted by a crash (as the lease recovery leaves them): listed, re-sent only when asked
  sql(server, `UPDATE campaign_recipients SET state = 'ambiguous', error = 'interrupted while sending; it may have been delivered'
    WHERE campaign_id = ${campaignId} AND address IN ('vip3@sh.example.cn', 'vip4@sh.example.cn')`);
  await page.locator(`#camp-rows tr[data-campaign="${campaignId}"]`).click();
  await page.waitForSelector('#camp-amb tr[data-recipient]');
  assert.equal(await page.locator('#camp-amb tr[data-recipient]').count(), 2);
  assert.equal(await text('.tile[data-stat=ambiguous] .tile-n'), '2');
  assert.equal(await page.locator('#amb-resend').isDisabled(), true, 'nothing selected');
  const vip3 = sql(server, `SELECT id FROM campaign_recipients WHERE campaign_id = ${campaignId} AND address = 'vip3@sh.example.cn'`)[0][0];
  await page.locator(`#camp-amb tr[data-recipient="${vip3}"] .amb-check`).check();
  await page.screenshot({ path: path.join(SHOTS, 'marketing-campaign.png'), fullPage: true });
  await page.click('#amb-resend');
  await page.waitForSelector('#resend-dialog[open]');
  assert.match(await text('#resend-dialog'), /duplicate/);
  assert.match(await text('#resend-who'), /vip3@sh\.example\.cn/);
  // keeping them unsent changes nothing
  await page.click('#resend-cancel');
  assert.equal(sql(server, `SELECT state FROM campaign_recipients WHERE id = ${vip3}`)[0][0], 'ambiguous');
  await page.click('#amb-resend');
  await page.click('#resend-ok');
  await until(() => mails.length >= 21, 20000, 'the re-sent mail');
  await page.waitForFunction(() => document.querySelectorAll('#camp-amb tr[data-recipient]').length === 1, null, { timeout: 20000 });
  await page.waitForSelector('#camp-detail .cstatus[data-status=finished]', { timeout: 20000 });
  await new Promise((r) => setTimeout(r, 500));
  assert.equal(mails.length, 21, 'only the one asked for');
  assert.equal(mails[20].to.value[0].address, 'vip3@sh.example.cn');
  assert.equal(sql(server, `SELECT state FROM campaign_recipients WHERE address = 'vip4@sh.example.cn' AND campaign_id = ${campaignId}`)[0][0], 'ambiguous');
  assert.deepEqual(page.errors, []);
});

test('campaigns: a start made elsewhere arrives live (campaign.updated); a refused start shows the 409; pause, resume and cancel hit the API', async () => {
  await openTab(page, 'campaigns');
  await page.click('#camp-new');
  await page.fill('#camp-name', '慢速活动 slow');
  await page.selectOption('#camp-segment', String(segmentId));
  await page.selectOption('#camp-template', String(templateId));
  await page.fill('#camp-rate', '1');
  await page.click('#camp-save');
  await page.waitForSelector('#camp-detail .cstatus[data-status=draft]');
  const id = Number((await page.evaluate(() => location.hash)).split('/')[2]);
  assert.equal((await m.get(`/api/v1/campaigns/${id}`)).json.rate_per_minute, 1);
  // someone else starts it meanwhile: the page learns it live (the campaign.updated event)
  // and Start goes away; a click that still races it is refused with the server's reason
  await page.evaluate(() => { window.__startButton = document.querySelector('#camp-detail .camp-start'); });
  assert.equal((await m.post(`/api/v1/campaigns/${id}/start`)).status, 200);
  await page.waitForSelector('#camp-detail .camp-start', { state: 'hidden' });
  await page.evaluate(() => { const b = window.__startButton; b.hidden = false; b.click(); });
  await page.waitForFunction(() => document.querySelector('#camp-action-error').textContent.length > 0);
  assert.match(await text('#camp-action-error'), /Not possible now: the campaign is (starting|sending)/);
  const st = () => m.get(`/api/v1/campaigns/${id}`).then((r) => r.json.status);
  await page.waitForSelector('#camp-detail .camp-pause:not([hidden])');
  await until(async () => (await st()) === 'sending', 20000, 'sending');
  await page.click('#camp-detail .camp-pause');
  await page.waitForSelector('#camp-detail .cstatus[data-status=paused]');
  assert.equal(await st(), 'paused');
  await page.click('#camp-detail .camp-resume');
  await page.waitForSelector('#camp-detail .cstatus[data-status=sending]');
  assert.equal(await st(), 'sending');
  await page.click('#camp-detail .camp-cancel');
  await page.waitForSelector('#camp-detail .cstatus[data-status=cancelled]');
  assert.equal(await st(), 'cancelled');
  const s = (await m.get(`/api/v1/campaigns/${id}`)).json.stats;
  assert.ok(s.sent <= 2, `rate 1/min: ${JSON.stringify(s)}`);
  assert.equal(await page.locator('#camp-detail .camp-actions button:not([hidden])').count(), 0, 'nothing left to do');
  assert.deepEqual(page.errors, []);
});

test('campaign results: outcome tiles as shares of sent, attributed revenue, the channel comparison; a reply\'s ticket links to its campaign', async () => {
  const CAMPAIGN = '上海 VIP 双十一';
  // the first campaign's ledger: 19 sent (vip4 stayed ambiguous)
  const sentRows = sql(server, `SELECT id, customer_id FROM campaign_recipients WHERE campaign_id = ${campaignId} AND state = 'sent' ORDER BY id`);
  assert.equal(sentRows.length, 19);
  const ids = sentRows.map((r) => r[0]);
  // customers no other campaign reached (the slow one sent to at most two): their wins are this campaign's
  const fresh = sql(server, `SELECT r.customer_id FROM campaign_recipients r WHERE r.campaign_id = ${campaignId} AND r.state = 'sent'
    AND NOT EXISTS (SELECT 1 FROM campaign_recipients r2 WHERE r2.customer_id = r.customer_id AND r2.campaign_id <> r.campaign_id
    AND r2.state = 'sent') ORDER BY r.id`).map((r) => Number(r[0]));
  assert.ok(fresh.length >= 3);
  const list = (xs) => xs.join(',');
  sql(server, `UPDATE campaign_recipients SET delivered_at = NOW(3) WHERE id IN (${list(ids.slice(0, 12))});
    UPDATE campaign_recipients SET opened_at = NOW(3) WHERE id IN (${list(ids.slice(0, 6))});
    UPDATE campaign_recipients SET clicked_at = NOW(3) WHERE id IN (${list(ids.slice(0, 2))});
    UPDATE campaign_recipients SET bounced_at = NOW(3), bounce_reason = '5.1.1 User unknown' WHERE id = ${ids[12]};
    UPDATE campaign_recipients SET unsubscribed_at = NOW(3) WHERE id = ${ids[13]};`);
  // won deals after the campaign reached two customers: ¥1,200.50 and US$99
  const stages = (await a.get('/api/v1/pipeline-stages')).json.items;
  const open = stages.find((s) => s.kind === 'open'), won = stages.find((s) => s.kind === 'won');
  for (const [cust, amount, currency] of [[fresh[0], 1200.5, 'CNY'], [fresh[1], 99, 'USD']]) {
    const d = await a.post('/api/v1/deals', { customer_id: cust, title: '双十一订单 ' + currency, amount, currency, stage_id: open.id });
    assert.equal(d.status, 201, d.text);
    const w = await a.patch(`/api/v1/deals/${d.json.id}`, { stage_id: won.id });
    assert.equal(w.json.status, 'won', w.text);
  }
  // a reply: its ticket (assigned to an agent) is linked to the campaign
  const replierRow = sql(server, `SELECT id, customer_id FROM campaign_recipients WHERE campaign_id = ${campaignId} AND customer_id = ${fresh[2]}`)[0];
  const agent = await createAgent(server, admin.token, { role: 'agent', name: '客服 小李' });
  const tk = await a.post('/api/v1/tickets', { customer_id: fresh[2], channel: 'email', subject: 'Re: 您的专属优惠', assignee_id: agent.id });
  assert.equal(tk.status, 201, tk.text);
  sql(server, `UPDATE campaign_recipients SET replied_at = NOW(3), reply_ticket_id = ${tk.json.id} WHERE id = ${replierRow[0]};
    UPDATE tickets SET campaign_id = ${campaignId} WHERE id = ${tk.json.id};`);
  const st = (await m.get(`/api/v1/campaigns/${campaignId}`)).json.stats;
  assert.deepEqual([st.sent, st.delivered, st.bounced, st.opened, st.clicked, st.replied, st.unsubscribed, st.deals],
    [19, 12, 1, 6, 2, 1, 1, 2], JSON.stringify(st));
  assert.deepEqual(st.revenue, { CNY: '1200.50', USD: '99.00' });

  // an SMS campaign two days ago, for the comparison: 10 sent, 9 delivered, 1 bounced, 2 replies, 1 STOP
  const smsTpl = await m.post('/api/v1/templates', { name: '短信 双十一', channel: 'sms', text: '【商城】{{customer.name}}您好，双十一优惠已到账，回TD退订' });
  assert.equal(smsTpl.status, 201, smsTpl.text);
  const smsCamp = await m.post('/api/v1/campaigns', { name: '上海 VIP 短信提醒', channel: 'sms', segment_id: segmentId, template_id: smsTpl.json.id });
  assert.equal(smsCamp.status, 201, smsCamp.text);
  const smsId = smsCamp.json.id;
  const smsRows = sentRows.slice(0, 10).map(([, cust], i) => `(${smsId}, ${cust}, 'sms', '+861380000${String(2000 + i)}', 'sent',
    NOW(3) - INTERVAL 2 DAY, ${i < 9 ? 'NOW(3) - INTERVAL 2 DAY' : 'NULL'}, ${i === 9 ? 'NOW(3) - INTERVAL 2 DAY' : 'NULL'},
    ${i < 2 ? 'NOW(3) - INTERVAL 1 DAY' : 'NULL'}, ${i === 2 ? 'NOW(3) - INTERVAL 1 DAY' : 'NULL'})`);
  sql(server, `UPDATE campaigns SET status = 'finished', started_at = NOW(3) - INTERVAL 2 DAY, finished_at = NOW(3) - INTERVAL 2 DAY WHERE id = ${smsId};
    INSERT INTO campaign_recipients (campaign_id, customer_id, channel, address, state, sent_at, delivered_at, bounced_at, replied_at, unsubscribed_at)
    VALUES ${smsRows.join(',\n')};`);

  // the campaign page: a Results card after the head card
  await openTab(page, 'campaigns');
  await page.locator(`#camp-rows tr[data-campaign="${campaignId}"]`).click();
  await page.waitForSelector(`#camp-detail[data-campaign="${campaignId}"] #camp-results`);
  assert.deepEqual(await page.locator('#camp-detail > section').evaluateAll((ss) => ss.map((s) => s.id || s.classList[2])),
    ['camp-head', 'camp-results', 'camp-chart-card', 'camp-amb']);
  const tile = (k) => page.locator(`#camp-results .tile[data-stat=${k}]`);
  const expect = { delivered: ['12', '63.2%'], bounced: ['1', '5.3%'], opened: ['6', '31.6%'], clicked: ['2', '10.5%'],
    replied: ['1', '5.3%'], unsubscribed: ['1', '5.3%'] };
  for (const [k, [n, pct]] of Object.entries(expect)) {
    assert.equal(await tile(k).locator('.tile-n').textContent(), n, k);
    assert.equal(await tile(k).locator('.res-pct').textContent(), pct + ' of sent', k);
  }
  assert.equal(await page.locator('#camp-results .tile').count(), 6);
  assert.match(await text('#camp-results .res-of'), /% of 19 sent/);
  const rev = page.locator('#camp-revenue');
  assert.equal(await rev.getAttribute('data-deals'), '2');
  assert.equal(await rev.locator('.rev-n').textContent(), '2');
  assert.deepEqual(await rev.locator('.rev-amt').allTextContents(), ['¥1,200.50', '$99.00']);
  assert.match(await rev.textContent(), /2 deals won 笔成交 · 10\.5% of sent/);
  assert.equal(await rev.locator('.rev-note').textContent(), 'Deals won within 30 days after this campaign reached the customer (last touch)');
  await page.locator('#camp-results').scrollIntoViewIfNeeded();
  await page.screenshot({ path: path.join(SHOTS, 'marketing-results.png'), fullPage: true });

  // the SMS campaign: opens and clicks cannot be known
  await page.click('#camp-detail .crumb');
  await page.locator(`#camp-rows tr[data-campaign="${smsId}"]`).click();
  await page.waitForSelector(`#camp-detail[data-campaign="${smsId}"] #camp-results[data-channel=sms]`);
  for (const k of ['opened', 'clicked']) {
    assert.equal(await tile(k).locator('.tile-n').textContent(), 'n/a', k);
    assert.match(await tile(k).getAttribute('class'), /\bna\b/);
  }
  assert.equal(await tile('delivered').locator('.res-pct').textContent(), '90% of sent');
  assert.equal(await tile('replied').locator('.tile-n').textContent(), '2');
  assert.deepEqual(await page.locator('#camp-revenue .rev-amt').allTextContents(), ['—']);
  assert.equal(await page.locator('#camp-revenue .rev-n').textContent(), '0');
  await page.locator('#camp-results').screenshot({ path: path.join(SHOTS, 'marketing-results-sms.png') });

  // the campaigns page: the channel comparison over the last 90 days
  await page.click('#camp-detail .crumb');
  await page.waitForSelector('#camp-compare:not([hidden]) .cmp-table');
  const rep = (await m.get('/api/v1/reports/campaigns?days=90')).json.channels;
  assert.deepEqual([rep.email.campaigns, rep.email.delivered, rep.email.bounced, rep.email.replied, rep.email.deals], [2, 12, 1, 1, 2]);
  assert.deepEqual([rep.sms.campaigns, rep.sms.sent, rep.sms.delivered], [1, 10, 9]);
  const cell = (metric, ch, part = '.cmp-main') => page.locator(`#camp-compare tr[data-metric=${metric}] td[data-channel=${ch}] ${part}`).textContent();
  const pct = (n, of) => (n / of * 100).toLocaleString('en-US', { maximumFractionDigits: 1 }) + '%';
  assert.equal(await cell('campaigns', 'email'), '2');
  assert.equal(await cell('sent', 'email'), String(rep.email.sent));
  for (const k of ['delivered', 'bounced', 'opened', 'clicked', 'replied', 'unsubscribed']) {
    assert.equal(await cell(k, 'email'), pct(rep.email[k], rep.email.sent), k);
    assert.equal(await cell(k, 'email', '.cmp-sub'), String(rep.email[k]), k);
  }
  assert.equal(await cell('deals', 'email'), '2');
  assert.deepEqual(await page.locator('#camp-compare tr[data-metric=revenue] td[data-channel=email] .rev-amt').allTextContents(), ['¥1,200.50', '$99.00']);
  assert.deepEqual([await cell('campaigns', 'sms'), await cell('sent', 'sms'), await cell('delivered', 'sms'), await cell('opened', 'sms')],
    ['1', '10', '90%', 'n/a']);
  // the better value of each rate: higher, except bounces and unsubscribes
  const best = async (metric) => page.locator(`#camp-compare tr[data-metric=${metric}] td.best`).evaluateAll((tds) => tds.map((td) => td.dataset.channel));
  assert.deepEqual(await best('delivered'), ['sms']);
  assert.deepEqual(await best('bounced'), ['email']);
  assert.deepEqual(await best('replied'), ['sms']);
  assert.deepEqual(await best('unsubscribed'), ['email']);
  assert.deepEqual(await best('deals'), ['email']);
  assert.deepEqual(await best('opened'), [], 'SMS has no opens to compare');
  assert.deepEqual(await best('sent'), []);
  await page.screenshot({ path: path.join(SHOTS, 'marketing-compare.png'), fullPage: true });
  assert.deepEqual(page.errors, []);

  // the failed report hides the card
  await page.route('**/api/v1/reports/campaigns*', (route) => route.fulfill({ status: 500, contentType: 'application/json', body: '{"error":{"code":"internal","message":"boom"}}' }));
  await page.evaluate(() => loadCampaigns());
  await page.waitForSelector('#camp-compare', { state: 'hidden' });
  assert.ok(await page.locator(`#camp-rows tr[data-campaign="${campaignId}"]`).isVisible(), 'the list still shows');
  await page.unroute('**/api/v1/reports/campaigns*');

  // the ticket a reply opened: a link to the campaign for an admin…
  const ap = await signIn(admin.agent.email, admin.password);
  await ap.click('.queue[data-queue=all]');
  await ap.locator(`#ticket-list li.item[data-id="${tk.json.id}"]`).click();
  const chip = ap.locator('#ticket-detail .conv-head .camp-chip');
  await chip.waitFor();
  assert.equal(await chip.textContent(), 'From campaign 来自活动:' + CAMPAIGN);
  assert.equal(await chip.locator('a.cc-name').textContent(), CAMPAIGN);
  await ap.locator('#ticket-detail .conv-head').screenshot({ path: path.join(SHOTS, 'marketing-ticket-campaign.png') });
  await chip.locator('a.cc-name').click();
  await ap.waitForSelector(`#camp-detail[data-campaign="${campaignId}"] #camp-results`);
  assert.equal(await ap.evaluate(() => location.hash), `#/campaign/${campaignId}`);
  assert.deepEqual(ap.errors, []);
  await ap.close();
  // …plain text for an agent, who has no campaign pages
  const gp = await signIn(agent.email, agent.password);
  await gp.click('.queue[data-queue=mine]');
  await gp.locator(`#ticket-list li.item[data-id="${tk.json.id}"]`).click();
  const gchip = gp.locator('#ticket-detail .conv-head .camp-chip');
  await gchip.waitFor();
  assert.equal(await gchip.locator('.cc-name').textContent(), CAMPAIGN);
  assert.equal(await gchip.locator('a').count(), 0);
  assert.deepEqual(gp.errors, []);
  await gp.close();
});
