'use strict';
// crm_worker.test.js — the CRM worker (workers/crm.c) against the real binary: dynamic tag
// rules on events (3 chats within 7 days ⇒ intent, deal won ⇒ customer), a schedule rule
// that tags and untags (no contact for 90 days ⇒ dormant), notify_owner; reminder
// policies (no follow-up for N days ⇒ the owner's team manager, payment due ⇒ the owner,
// a follow-up's next date ⇒ its author, a mature deal ⇒ the manager), each delivered
// once as a reminder.due websocket event to that agent alone and as an e-mail into a
// real SMTP server — also with two gateway processes sharing the database; and
// `switchboard import customers FILE` on the CLI.
const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { SMTPServer } = require('smtp-server');
const { simpleParser } = require('mailparser');
const {
  startServer, bootstrapAdmin, api, sql, dropDatabase, createAgent, until, freePort, runCli,
} = require('./harness');
const { wsOpen } = require('./clients');

const WORKER_ENV = { SWITCHBOARD_CRM_INTERVAL_SECS: '1', SWITCHBOARD_CRM_SETTLE_MS: '0' };
let smtp, smtpPort, server, second, admin, a;
const mails = [];

async function agentSocket(srv, token) {
  const s = await wsOpen(srv, '/ws/agent');
  s.send({ type: 'auth', token });
  await s.waitFor((f) => f.type === 'auth_ok', 3000, 'auth_ok');
  return s;
}

function tagsOf(id) {
  return sql(server, `SELECT t.name FROM customer_tags ct JOIN tags t ON t.id = ct.tag_id WHERE ct.customer_id = ${id} ORDER BY t.name`)
    .map((r) => r[0]);
}

before(async () => {
  smtpPort = await freePort();
  smtp = new SMTPServer({
    authOptional: true, disabledCommands: ['STARTTLS'], logger: false,
    onData(stream, session, cb) { simpleParser(stream).then((m) => { mails.push(m); cb(); }, cb); },
  });
  await new Promise((r) => smtp.listen(smtpPort, '127.0.0.1', r));
  const env = {
    ...WORKER_ENV, SWITCHBOARD_SMTP_HOST: '127.0.0.1', SWITCHBOARD_SMTP_PORT: String(smtpPort),
    SWITCHBOARD_SMTP_FROM: 'crm@example.com', SWITCHBOARD_OUTBOX_RETRY_SECS: '1',
  };
  server = await startServer({ env });
  // a second gateway process on the same database: every reminder still arrives once
  second = await startServer({ env, dbName: server.dbName, migrate: false });
  admin = await bootstrapAdmin(server);
  a = api(server, admin.token);
});

after(async () => {
  for (const s of [second, server]) if (s) await s.stop();
  if (server) dropDatabase(server);
  if (smtp) await new Promise((r) => smtp.close(r));
});

test('3 chats within 7 days tag a customer "intent"; 2 chats do not; chats 10 days ago do not', async () => {
  const hot = (await a.post('/api/v1/customers', { name: '意向客户' })).json;
  const warm = (await a.post('/api/v1/customers', { name: 'Two chats' })).json;
  const old = (await a.post('/api/v1/customers', { name: 'Old chats' })).json;
  for (let i = 0; i < 2; i++) {
    for (const c of [hot, warm]) assert.equal((await a.post('/api/v1/tickets', { customer_id: c.id, channel: 'chat' })).status, 201);
  }
  for (let i = 0; i < 3; i++) {
    const t = (await a.post('/api/v1/tickets', { customer_id: old.id, channel: 'chat' })).json;
    sql(server, `UPDATE tickets SET created_at = NOW() - INTERVAL 10 DAY WHERE id = ${t.id}`);
  }
  assert.equal((await a.post('/api/v1/tickets', { customer_id: hot.id, channel: 'chat' })).status, 201);
  await a.post('/api/v1/tickets', { customer_id: old.id, channel: 'email' }); // an event for old, still no 3 recent chats
  await until(() => tagsOf(hot.id).includes('intent'), 10000, 'intent tag', 200);
  await new Promise((r) => setTimeout(r, 2500)); // two more passes
  assert.deepEqual(tagsOf(warm.id), []);
  assert.deepEqual(tagsOf(old.id), []);
  const [[ruleId]] = sql(server, `SELECT ct.rule_id FROM customer_tags ct JOIN tags t ON t.id = ct.tag_id WHERE ct.customer_id = ${hot.id} AND t.name = 'intent'`);
  assert.ok(Number(ruleId) > 0, 'the tag remembers its rule');
  const audit = sql(server, `SELECT actor_type, action FROM audit_log WHERE object_type = 'customer' AND object_id = ${hot.id} AND action = 'customer.tagged'`);
  assert.deepEqual(audit, [['system', 'customer.tagged']]);
  const got = (await a.get(`/api/v1/customers/${hot.id}`)).json;
  assert.ok(got.tags.includes('intent'));
});

test('a deal won tags its customer "customer"', async () => {
  const c = (await a.post('/api/v1/customers', { name: '赢单客户' })).json;
  const stages = (await a.get('/api/v1/pipeline-stages')).json.items;
  const won = stages.find((s) => s.kind === 'won');
  const d = (await a.post('/api/v1/deals', { customer_id: c.id, title: '合同', amount: 1000 })).json;
  assert.equal((await a.patch(`/api/v1/deals/${d.id}`, { stage_id: won.id })).status, 200);
  await until(() => tagsOf(c.id).includes('customer'), 10000, 'customer tag', 200);
});

test('a schedule rule tags dormant customers and untags them when they are in touch again', async () => {
  const c = (await a.post('/api/v1/customers', { name: 'Sleeper' })).json;
  const fresh = (await a.post('/api/v1/customers', { name: 'Fresh' })).json;
  sql(server, `UPDATE customers SET last_contact_at = NOW() - INTERVAL 100 DAY, created_at = NOW() - INTERVAL 200 DAY WHERE id = ${c.id}`);
  await until(() => tagsOf(c.id).includes('dormant'), 10000, 'dormant tag', 200);
  assert.ok(!tagsOf(fresh.id).includes('dormant'));
  // a manual tag of the same name is a person's decision: the rule never takes it away
  const manual = (await a.post('/api/v1/customers', { name: 'Manual dormant', tags: ['dormant'] })).json;
  sql(server, `UPDATE customers SET last_contact_at = NOW() WHERE id = ${c.id}`);
  await until(() => !tagsOf(c.id).includes('dormant'), 10000, 'dormant removed', 200);
  await new Promise((r) => setTimeout(r, 1500));
  assert.ok(tagsOf(manual.id).includes('dormant'));
  const untagged = sql(server, `SELECT COUNT(*) FROM events WHERE kind = 'customer.untagged' AND customer_id = ${c.id}`);
  assert.equal(Number(untagged[0][0]), 1);
});

test('reminders: no follow-up ⇒ manager, payment due ⇒ owner, next step ⇒ author, mature deal ⇒ manager — each once, to that agent alone', async () => {
  const team = (await a.post('/api/v1/teams', { name: `Sales ${Date.now()}` })).json;
  const manager = await createAgent(server, admin.token, { role: 'manager', team_id: team.id });
  const sales = await createAgent(server, admin.token, { role: 'sales', team_id: team.id });
  const other = await createAgent(server, admin.token, { role: 'sales', team_id: team.id });
  assert.equal((await a.patch(`/api/v1/teams/${team.id}`, { manager_id: manager.id })).status, 200);
  const sockets = {
    manager: await agentSocket(second, manager.token), // on the other process
    sales: await agentSocket(server, sales.token),
    other: await agentSocket(server, other.token),
    admin: await agentSocket(server, admin.token),
  };
  const s = api(server, sales.token);
  const quiet = (await s.post('/api/v1/customers', { name: '久未跟进', stage: 'contacted' })).json;
  const busy = (await s.post('/api/v1/customers', { name: 'Followed up', stage: 'contacted' })).json;
  sql(server, `UPDATE customers SET created_at = NOW() - INTERVAL 10 DAY, last_followup_at = NOW() - INTERVAL 5 DAY WHERE id = ${quiet.id}`);
  sql(server, `UPDATE customers SET created_at = NOW() - INTERVAL 10 DAY, last_followup_at = NOW() - INTERVAL 1 DAY WHERE id = ${busy.id}`);
  const due = new Date(Date.now() + 2 * 86400e3).toISOString().slice(0, 10);
  const deal = (await s.post('/api/v1/deals', { customer_id: busy.id, title: '回款', amount: 50, payment_due: due })).json;
  const mature = (await a.get('/api/v1/pipeline-stages')).json.items.find((x) => x.notify_manager);
  assert.equal((await s.patch(`/api/v1/deals/${deal.id}`, { stage_id: mature.id })).status, 200);
  const act = (await s.post('/api/v1/activities', {
    customer_id: busy.id, method: 'wechat', content: '微信沟通', next_step: '发合同', next_at: new Date(Date.now() - 1000).toISOString().slice(0, 19) + 'Z',
  })).json;
  assert.equal(act.owner_id, sales.id);

  const kinds = (sock) => sock.frames.filter((f) => f.type === 'reminder.due').map((f) => f.reminder.kind).sort();
  await until(() => kinds(sockets.manager).length >= 2 && kinds(sockets.sales).length >= 2, 15000, 'reminders');
  await new Promise((r) => setTimeout(r, 3000)); // more passes of both processes: nothing twice
  assert.deepEqual(kinds(sockets.manager), ['deal_stage', 'no_followup']);
  assert.deepEqual(kinds(sockets.sales), ['next_step', 'payment_due']);
  assert.deepEqual(kinds(sockets.other), []);
  assert.deepEqual(kinds(sockets.admin), [], 'reminders are personal, even for admins');
  const noFollow = sockets.manager.frames.find((f) => f.reminder && f.reminder.kind === 'no_followup');
  assert.equal(noFollow.reminder.customer_id, quiet.id);
  assert.match(noFollow.reminder.message, /久未跟进/);

  const mine = (await api(server, manager.token).get('/api/v1/reminders')).json;
  assert.deepEqual(mine.items.map((r) => r.kind).sort(), ['deal_stage', 'no_followup']);
  const rows = sql(server, 'SELECT kind, agent_id, notified_at IS NOT NULL FROM reminders ORDER BY kind');
  assert.equal(rows.filter((r) => r[0] === 'no_followup').length, 1, 'one no_followup reminder for the lapse');
  const events = sql(server, "SELECT COUNT(*) FROM events WHERE kind = 'reminder.due'")[0][0];
  assert.equal(Number(events), 4);

  // e-mail, once each, to the agent's address
  await until(() => mails.filter((m) => m.subject.startsWith('Reminder:')).length >= 4, 15000, 'reminder mails');
  await new Promise((r) => setTimeout(r, 1500));
  const reminderMails = mails.filter((m) => m.subject.startsWith('Reminder:'));
  assert.equal(reminderMails.length, 4);
  assert.equal(reminderMails.filter((m) => m.to.value[0].address === manager.email).length, 2);
  assert.ok(reminderMails.every((m) => m.headers.get('auto-submitted') === 'auto-generated'));

  // done
  const id = mine.items[0].id;
  const done = await api(server, manager.token).patch(`/api/v1/reminders/${id}`, { done: true });
  assert.equal(done.status, 200);
  assert.ok(done.json.done_at);
  assert.equal((await api(server, sales.token).patch(`/api/v1/reminders/${id}`, { done: true })).status, 404);
  assert.equal((await api(server, manager.token).get('/api/v1/reminders')).json.total, 1);
  for (const sock of Object.values(sockets)) sock.ws.terminate();
});

test('a tag rule with notify_owner tells the owner once; a broken rule is refused with its position', async () => {
  const owner = await createAgent(server, admin.token, { role: 'sales' });
  const bad = await a.post('/api/v1/tag-rules', { name: 'bad', tag: 'x', event_kind: 'customer.created', rule: 'region = ' });
  assert.equal(bad.status, 422);
  assert.match(bad.json.error.fields.rule, /^at 8: expected a value after '=', found end of rule/);
  const r = await a.post('/api/v1/tag-rules', {
    name: 'VIP region', tag: '华东VIP', event_kind: 'customer.created', rule: 'region = 华东 AND attr.level >= 3', notify_owner: true,
  });
  assert.equal(r.status, 422, 'attr.level is not a custom field yet');
  assert.equal((await a.post('/api/v1/field-defs', { key: 'level', label: '级别', type: 'number' })).status, 201);
  const ok = await a.post('/api/v1/tag-rules', {
    name: 'VIP region', tag: '华东VIP', event_kind: 'customer.created', rule: 'region = 华东 AND attr.level >= 3', notify_owner: true,
  });
  assert.equal(ok.status, 201, ok.text);
  const sock = await agentSocket(server, owner.token);
  const yes = (await a.post('/api/v1/customers', { name: '上海大客户', region: '华东', owner_id: owner.id, attrs: { level: 4 } })).json;
  const no = (await a.post('/api/v1/customers', { name: '小客户', region: '华东', owner_id: owner.id, attrs: { level: 1 } })).json;
  await until(() => tagsOf(yes.id).includes('华东VIP'), 10000, 'VIP tag', 200);
  await sock.waitFor((f) => f.type === 'reminder.due' && f.reminder.kind === 'tag', 10000, 'tag notice');
  await new Promise((res) => setTimeout(res, 2000));
  assert.deepEqual(tagsOf(no.id), []);
  assert.equal(sock.frames.filter((f) => f.type === 'reminder.due').length, 1);
  assert.equal((await a.get('/api/v1/tag-rules')).json.items.find((x) => x.id === ok.json.id).fired, 1);
  sock.ws.terminate();
});

test('switchboard import customers FILE: counts, rejected lines, dry run, GBK', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sb-import-'));
  const file = path.join(dir, 'c.csv');
  fs.writeFileSync(file, '\ufeff姓名,手机,邮箱\n王小明,13800138000,wxm@example.com\n,13800138001,\n李四,1380013800,li4@example.com\n');
  const cli = (args) => runCli(['-c', '/dev/null', 'import', 'customers', ...args], { env: server.env });
  const before = sql(server, 'SELECT COUNT(*) FROM customers')[0][0];
  const dry = cli(['--dry-run', file]);
  assert.equal(dry.status, 0, dry.stderr);
  assert.match(dry.stdout, /dry run: 3 rows: 1 imported, 0 updated, 2 rejected/);
  assert.match(dry.stdout, /line 3: name: is required;/);
  assert.match(dry.stdout, /line 4: phone: /);
  assert.equal(sql(server, 'SELECT COUNT(*) FROM customers')[0][0], before);
  const run = cli([file]);
  assert.equal(run.status, 0, run.stderr);
  assert.match(run.stdout, /3 rows: 1 imported, 0 updated, 2 rejected/);
  assert.deepEqual(sql(server, "SELECT c.name FROM customers c JOIN customer_identities i ON i.customer_id = c.id WHERE i.value = '+8613800138000'"), [['王小明']]);
  // GBK bytes: 张三,13900139000 (张 D5C5, 三 C8FD; header 姓名 D0D5 C3FB, 手机 CAD6 BBFA)
  const gbk = Buffer.from('d0d5c3fb2ccad6bbfa0a' + 'd5c5c8fd2c31333930303133393030300a', 'hex');
  fs.writeFileSync(file, gbk);
  const bad = cli([file]);
  assert.equal(bad.status, 2);
  assert.match(bad.stderr, /line 1: bytes that are not valid UTF-8/);
  const good = cli(['--charset', 'gbk', file]);
  assert.equal(good.status, 0, good.stderr);
  assert.deepEqual(sql(server, "SELECT c.name FROM customers c JOIN customer_identities i ON i.customer_id = c.id WHERE i.value = '+8613900139000'"), [['张三']]);
  fs.rmSync(dir, { recursive: true });
});
