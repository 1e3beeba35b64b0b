'use strict';
// kb_answer.test.js — chat self-service (issue 10, point 4) over /ws/chat: a first chat
// message that matches an article well gets a bot offer carrying the article (the ticket
// waits, unrouted); "this solved it" solves the ticket as self-served with a helpful vote;
// "talk to a person" (or just writing again) opens and queues it, the bot exchange in the
// ticket for the agent; a vague question gets no offer; an answer to a stale offer is
// refused; agents get suggestions for the conversation.
const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const crypto = require('node:crypto');
const { startServer, bootstrapAdmin, api, sql, dropDatabase, until } = require('./harness');
const { wsOpen } = require('./clients');

let server; let a; let refund;
const sockets = [];

before(async () => {
  server = await startServer({ env: { SWITCHBOARD_ROUTING_ENABLED: 'no' } });
  a = api(server, (await bootstrapAdmin(server)).token);
  const mk = async (title, body) => (await a.post('/api/v1/kb/articles', { title, body, locale: 'zh', published: true })).json;
  refund = await mk('退款流程说明', '在**订单详情**点击“申请退款”，审核通过后 1–3 个工作日原路退回。退款进度可在订单页查看。');
  await mk('修改收货地址', '订单发货前可在订单详情修改收货地址；发货后请联系快递员。');
  await mk('发票申请', '在订单页申请电子发票，开票后发送到邮箱。');
});

after(async () => {
  for (const s of sockets) s.ws.close();
  if (server) { await server.stop(); dropDatabase(server); }
});

async function visitor() {
  const s = await wsOpen(server, '/ws/chat');
  sockets.push(s);
  s.send({ type: 'hello' });
  await s.waitFor((f) => f.type === 'welcome', 3000, 'welcome');
  return s;
}
async function ask(s, body) {
  const cid = `c-${crypto.randomBytes(4).toString('hex')}`;
  s.send({ type: 'message', client_id: cid, body });
  return s.waitFor((f) => f.type === 'ack' && f.client_id === cid, 5000, 'ack');
}
const ticket = async (id) => (await a.get(`/api/v1/tickets/${id}`)).json;

test('a matching first question gets an offer; "this solved it" solves the ticket as self-served', async () => {
  const s = await visitor();
  const ack = await ask(s, '请问怎么退款？');
  const offer = await s.waitFor((f) => f.type === 'message' && f.from === 'bot', 5000, 'bot offer');
  assert.deepEqual(offer.offer, { article_id: refund.id });
  assert.match(offer.body, /退款流程说明/);
  assert.match(offer.body, /\/kb#\/article\//);
  let t = await ticket(ack.conversation_id);
  assert.equal(t.status, 'pending');
  assert.equal(t.queued_at, null, 'not routed while the customer reads');
  s.send({ type: 'kb_answer', message_id: offer.message_id, solved: true });
  await s.waitFor((f) => f.type === 'message' && f.from === 'bot' && /帮到您/.test(f.body), 5000, 'thanks');
  t = await until(async () => { const x = await ticket(ack.conversation_id); return x.status === 'solved' && x; }, 5000, 'solved', 100);
  assert.equal(Number(sql(server, `SELECT self_served FROM tickets WHERE id = ${t.id}`)[0][0]), 1);
  assert.equal((await a.get(`/api/v1/kb/articles/${refund.id}`)).json.helpful, 1);
  // answering the same offer again: stale, nothing changes
  s.send({ type: 'kb_answer', message_id: offer.message_id, solved: false });
  const e = await s.waitFor((f) => f.type === 'error', 5000, 'stale');
  assert.equal(e.code, 'stale');
  assert.equal((await ticket(t.id)).status, 'solved');
  assert.equal(Number(sql(server, `SELECT COUNT(*) FROM csat_responses`)[0][0]), 0);
});

test('"talk to a person" opens and queues the ticket with the bot exchange in it; a vague question gets no offer', async () => {
  const s = await visitor();
  const ack = await ask(s, '退款一直没到账，退款流程是什么');
  const offer = await s.waitFor((f) => f.type === 'message' && f.from === 'bot', 5000, 'bot offer');
  s.send({ type: 'kb_answer', message_id: offer.message_id, solved: false });
  await s.waitFor((f) => f.type === 'message' && f.from === 'bot' && /人工/.test(f.body), 5000, 'handing over');
  const t = await until(async () => { const x = await ticket(ack.conversation_id); return x.status === 'open' && x; }, 5000, 'open', 100);
  assert.ok(t.queued_at, 'queued for a person');
  const msgs = (await a.get(`/api/v1/tickets/${t.id}/messages`)).json.items;
  assert.deepEqual(msgs.map((m) => m.author_type), ['customer', 'bot', 'bot']);
  assert.equal(msgs[1].kb_article_id, refund.id);
  // the agent also gets suggestions for the conversation
  const sug = (await a.get(`/api/v1/tickets/${t.id}/suggestions`)).json.items;
  assert.equal(sug[0].id, refund.id);
  // a vague greeting: no offer, queued at once
  const v = await visitor();
  const ack2 = await ask(v, '你好，在吗');
  await until(async () => (await ticket(ack2.conversation_id)).queued_at, 5000, 'queued', 100);
  await new Promise((r) => setTimeout(r, 500));
  assert.ok(!v.frames.some((f) => f.type === 'message' && f.from === 'bot'), 'no offer for a greeting');
  // writing again instead of answering also reaches a person
  const w = await visitor();
  const ack3 = await ask(w, '发票怎么申请');
  await w.waitFor((f) => f.type === 'message' && f.from === 'bot', 5000, 'offer 3');
  await ask(w, '我要的是纸质发票');
  const t3 = await until(async () => { const x = await ticket(ack3.conversation_id); return x.status === 'open' && x; }, 5000, 'reopened', 100);
  assert.ok(t3.queued_at);
});
