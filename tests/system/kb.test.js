'use strict';
// kb.test.js — knowledge-base articles over the API (issue 10): validation, versions and
// optimistic saves, immediate reindexing, published vs drafts (agents, editors, public),
// Chinese/English/full-width search with synonyms, escaped highlighted snippets, safe
// Markdown, one vote per voter, usage counts, roles.
const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const {
  startServer, bootstrapAdmin, createAgent, api, dropDatabase, expectError, sql,
} = require('./harness');

let server; let a; let agent; let pub;
const V1 = '/api/v1/kb';

before(async () => {
  server = await startServer();
  const admin = await bootstrapAdmin(server);
  a = api(server, admin.token);
  agent = api(server, (await createAgent(server, admin.token, { role: 'agent', name: '客服小王' })).token);
  pub = api(server, null);
});

after(async () => {
  if (server) { await server.stop(); dropDatabase(server); }
});

async function article(body) {
  const r = await a.post(`${V1}/articles`, { locale: 'zh', published: true, ...body });
  assert.equal(r.status, 201, r.text);
  return r.json;
}
const ids = (r) => r.json.items.map((x) => x.id);

test('articles: validation names the field; versions; a stale save is a 409; editors only', async () => {
  let e = expectError(await a.post(`${V1}/articles`, { body: 'x' }), 422);
  assert.ok(e.fields.title);
  e = expectError(await a.post(`${V1}/articles`, { title: 't', body: 'b', locale: 'fr', tags: ['ok', ''], colour: 1 }), 422);
  assert.deepEqual(Object.keys(e.fields).sort(), ['colour', 'locale', 'tags']);
  expectError(await agent.post(`${V1}/articles`, { title: 't', body: 'b' }), 403);
  const art = await article({ title: '退款流程说明', body: '# 退款\n\n1. 打开**订单中心**\n2. 申请退款', category: '售后', tags: ['退款', 'refund'] });
  assert.equal(art.version, 1);
  assert.equal(art.body_html, '<h2>退款</h2>\n<ol>\n<li>打开<strong>订单中心</strong></li>\n<li>申请退款</li>\n</ol>\n');
  let r = await a.patch(`${V1}/articles/${art.id}`, { title: '退款流程（新版）', expected_version: 1 });
  assert.equal(r.status, 200, r.text);
  assert.equal(r.json.version, 2);
  r = await a.patch(`${V1}/articles/${art.id}`, { body: '别人的修改', expected_version: 1 });
  assert.equal(r.status, 409);
  assert.match(r.json.error.message, /version 2/);
  const v = (await agent.get(`${V1}/articles/${art.id}/versions`)).json.items;
  assert.deepEqual(v.map((x) => [x.version, x.title]), [[2, '退款流程（新版）'], [1, '退款流程说明']]);
  expectError(await agent.patch(`${V1}/articles/${art.id}`, { title: 'x' }), 403);
  expectError(await a.patch(`${V1}/articles/999999`, { title: 'x' }), 404);
  assert.equal(num(`SELECT COUNT(*) FROM audit_log WHERE object_type = 'kb_article' AND object_id = ${art.id}`), 2);
});

const num = (q) => Number(sql(server, q)[0][0]);

test('list: filters by locale, category and published, pages with the total; agents see published only', async () => {
  const cat = encodeURIComponent('list-分页');
  const made = [];
  for (let i = 0; i < 5; i++) {
    made.push(await article({ title: `列表 ${i}`, body: 'b', category: 'list-分页', locale: i === 4 ? 'en' : 'zh', published: i !== 3 }));
  }
  const newest = made.map((x) => x.id).reverse(); // updated_at DESC, id DESC
  let r = await a.get(`${V1}/articles?category=${cat}`);
  assert.equal(r.status, 200, r.text);
  assert.equal(r.json.total, 5);
  assert.deepEqual(ids(r), newest);
  for (const it of r.json.items) {
    assert.ok(!('total' in it) && !('body' in it), JSON.stringify(it));
    assert.ok(Array.isArray(it.tags) && typeof it.published === 'boolean');
  }
  r = await a.get(`${V1}/articles?category=${cat}&locale=en`);
  assert.deepEqual([ids(r), r.json.total], [[made[4].id], 1]);
  r = await a.get(`${V1}/articles?category=${cat}&published=false`);
  assert.deepEqual([ids(r), r.json.total], [[made[3].id], 1]);
  r = await a.get(`${V1}/articles?category=${cat}&per_page=2&page=2`);
  assert.deepEqual([ids(r), r.json.total], [newest.slice(2, 4), 5]);
  r = await a.get(`${V1}/articles?category=${cat}&per_page=2&page=9`);
  assert.deepEqual([ids(r), r.json.total], [[], 5]);
  // an agent is not an editor: drafts stay hidden whatever the filter says
  r = await agent.get(`${V1}/articles?category=${cat}`);
  assert.deepEqual([ids(r), r.json.total], [newest.filter((id) => id !== made[3].id), 4]);
  r = await agent.get(`${V1}/articles?category=${cat}&published=false`);
  assert.equal(r.json.total, 4);
  assert.ok(!ids(r).includes(made[3].id));
  expectError(await a.get(`${V1}/articles?locale=fr`), 400);
  expectError(await a.get(`${V1}/articles?published=maybe`), 400);
  expectError(await a.get(`${V1}/articles?page=0`), 400);
  expectError(await a.get(`${V1}/articles?per_page=500`), 400);
});

test('search: Chinese bigrams, English forms, full-width, synonyms; reindexed at once; drafts hidden', async () => {
  const refund = await article({ title: '退款到账时间', body: '退款审核通过后，**3-5 个工作日**原路退回。' });
  const ship = await article({ title: 'Shipping times', locale: 'en', body: 'We ship orders within 24 hours. Tracking shows once shipped.' });
  const vip = await article({ title: 'VIP会员续费', body: '在“我的-会员”页面续费，支持自动续费。' });
  const draft = await article({ title: '退款新政策草稿', body: '尚未发布的退款政策', published: false });
  assert.deepEqual(ids(await agent.get(`${V1}/search?q=${encodeURIComponent('退款多久到账')}`)).slice(0, 1), [refund.id]);
  assert.equal(ids(await agent.get(`${V1}/search?q=shipped&locale=en`))[0], ship.id);
  assert.equal(ids(await agent.get(`${V1}/search?q=${encodeURIComponent('ＶＩＰ会员，怎么续费？')}`))[0], vip.id);
  // drafts: not for agents or the public; editors may ask for them
  assert.ok(!ids(await agent.get(`${V1}/search?q=${encodeURIComponent('退款政策')}`)).includes(draft.id));
  assert.ok(!ids(await pub.get(`/kb/search?q=${encodeURIComponent('退款政策')}`)).includes(draft.id));
  assert.ok(ids(await a.get(`${V1}/search?q=${encodeURIComponent('退款政策')}&drafts=true`)).includes(draft.id));
  expectError(await pub.get(`/kb/articles/${draft.id}`), 404);
  expectError(await agent.get(`${V1}/articles/${draft.id}`), 404);            /* drafts are the editors' */
  expectError(await agent.get(`${V1}/articles/${draft.id}/versions`), 404);
  assert.ok(!(await agent.get(`${V1}/articles?published=false`)).json.items.some((x) => x.id === draft.id));
  assert.equal((await a.get(`${V1}/articles/${draft.id}`)).status, 200);
  // synonyms: 退钱 finds 退款 once the admin says so (replacing the defaults)
  let r = await a.put(`${V1}/synonyms`, { groups: [['退钱', '返款'], ['送货', '配送']] });
  assert.equal(r.status, 200, r.text);
  assert.ok(!ids(await agent.get(`${V1}/search?q=${encodeURIComponent('退钱多久')}`)).includes(refund.id));
  r = await a.put(`${V1}/synonyms`, { groups: [['退款', '退钱', '返款']] });
  assert.equal(r.status, 200);
  assert.equal(ids(await agent.get(`${V1}/search?q=${encodeURIComponent('退钱多久到账')}`))[0], refund.id);
  expectError(await agent.put(`${V1}/synonyms`, { groups: [['a', 'b']] }), 403);
  const bad = expectError(await a.put(`${V1}/synonyms`, { groups: [['only-one']] }), 422);
  assert.ok(bad.fields['groups[0]']);
  // an edit is searchable as soon as it is answered; the old words are gone
  r = await a.patch(`${V1}/articles/${vip.id}`, { title: '黄金会员续订', body: '在会员页面续订。' });
  assert.equal(r.status, 200);
  assert.equal(ids(await agent.get(`${V1}/search?q=${encodeURIComponent('黄金会员')}`))[0], vip.id);
  assert.ok(!ids(await agent.get(`${V1}/search?q=vip`)).includes(vip.id));
  // bad queries
  expectError(await agent.get(`${V1}/search`), 400);
  expectError(await agent.get(`${V1}/search?q=x&limit=0`), 400);
  expectError(await agent.get(`${V1}/search?q=x&locale=de`), 400);
  assert.deepEqual((await agent.get(`${V1}/search?q=${encodeURIComponent('？！')}`)).json.items, []);
  // deleted: gone from search
  assert.equal((await a.del(`${V1}/articles/${ship.id}`)).status, 204);
  assert.ok(!ids(await agent.get(`${V1}/search?q=shipping`)).includes(ship.id));
});

test('snippets mark the matched words and escape the text; Markdown never passes HTML', async () => {
  const x = await article({ title: '安全测试', body: '页面里写着 <script>alert(1)</script>，发票抬头要和**营业执照**一致。[点我](javascript:alert(1))' });
  const hit = (await agent.get(`${V1}/search?q=${encodeURIComponent('发票抬头')}`)).json.items.find((i) => i.id === x.id);
  assert.ok(hit, 'found');
  assert.match(hit.snippet, /<mark>发票抬头<\/mark>/);
  assert.ok(hit.snippet.includes('&lt;/script&gt;'), hit.snippet);
  assert.ok(!hit.snippet.includes('<script'), hit.snippet);
  assert.ok(hit.score > 0);
  const full = (await pub.get(`/kb/articles/${x.id}`)).json;
  assert.ok(!/<script|href="javascript/i.test(full.body_html), full.body_html);
  assert.equal(full.created_by, undefined, 'the public view leaves internal fields out');
});

test('feedback counts one vote per voter; usage counts; public views count', async () => {
  const x = await article({ title: '修改密码', body: '在设置-安全中修改密码。' });
  let r = await agent.post(`${V1}/articles/${x.id}/feedback`, { helpful: true });
  assert.deepEqual([r.json.helpful, r.json.not_helpful], [1, 0]);
  r = await agent.post(`${V1}/articles/${x.id}/feedback`, { helpful: true });
  assert.deepEqual([r.json.helpful, r.json.not_helpful], [1, 0], 'the same vote again counts once');
  r = await agent.post(`${V1}/articles/${x.id}/feedback`, { helpful: false });
  assert.deepEqual([r.json.helpful, r.json.not_helpful], [0, 1], 'a changed mind moves the vote');
  assert.ok(expectError(await pub.post(`/kb/articles/${x.id}/feedback`, { helpful: true }), 422).fields.visitor);
  assert.ok(expectError(await pub.post(`/kb/articles/${x.id}/feedback`, { helpful: 'yes', visitor: 'v-12345678' }), 422)
    .fields.helpful);
  r = await pub.post(`/kb/articles/${x.id}/feedback`, { helpful: true, visitor: 'v-12345678' });
  assert.deepEqual([r.json.helpful, r.json.not_helpful], [1, 1]);
  r = await pub.post(`/kb/articles/${x.id}/feedback`, { helpful: true, visitor: 'v-12345678' });
  assert.deepEqual([r.json.helpful, r.json.not_helpful], [1, 1]);
  expectError(await agent.post(`${V1}/articles/${x.id}/feedback`, { helpful: 'yes' }), 422);
  r = await agent.post(`${V1}/articles/${x.id}/used`, {});
  assert.equal(r.json.used, 1);
  await pub.get(`/kb/articles/${x.id}`);
  await pub.get(`/kb/articles/${x.id}`);
  const g = (await agent.get(`${V1}/articles/${x.id}`)).json;
  assert.deepEqual([g.views, g.used, g.version], [2, 1, 1], 'counters do not make versions');
  const list = (await agent.get(`${V1}/articles?locale=zh&published=true&per_page=2`)).json;
  assert.equal(list.items.length, 2);
  assert.ok(list.total >= 4);
  expectError(await agent.get(`${V1}/articles?published=maybe`), 400);
});
