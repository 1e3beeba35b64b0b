'use strict';
// sequences.test.js — nurture sequences (issue 9): customers tagged after the sequence is
// made are enrolled (earlier ones are not); step 1 goes out, step 2 after its delay (the
// test moves the clock of the enrolment, not the machine's); a customer whose stage reaches
// the stop stage is stopped; one who wrote to us is skipped for a skip_if_replied step;
// each step reaches each enrolled customer at most once; validation names the step. A
// sequence on a segment enrols who is in it now and who enters later, once; a customer who
// unsubscribed on the step's channel is stopped, not sent the rest.
const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { SMTPServer } = require('smtp-server');
const { simpleParser } = require('mailparser');
const {
  startServer, bootstrapAdmin, api, sql, dropDatabase, until, freePort, sleep, expectError,
} = require('./harness');

let smtp, server, a;
const mails = [];

before(async () => {
  const port = await freePort();
  smtp = new SMTPServer({
    authOptional: true, disabledCommands: ['STARTTLS'], logger: false,
    onData(stream, session, cb) { simpleParser(stream).then((m) => { mails.push(m); cb(); }, cb); },
  });
  await new Promise((r) => smtp.listen(port, '127.0.0.1', r));
  server = await startServer({ env: { SWITCHBOARD_SMTP_HOST: '127.0.0.1', SWITCHBOARD_SMTP_PORT: String(port), SWITCHBOARD_SMTP_FROM: 'nurture@example.com', SWITCHBOARD_CAMPAIGNS_ENROL_SECS: '1' } });
  a = api(server, (await bootstrapAdmin(server)).token);
});

after(async () => {
  if (server) { await server.stop(); dropDatabase(server); }
  if (smtp) await new Promise((r) => smtp.close(r));
});

const to = (addr, prefix) => mails.filter((m) => m.to.value[0].address === addr && m.subject.startsWith(prefix)).length;

test('enrol on a tag, step by step, stop on stage, skip when replied, each step at most once', async () => {
  const early = (await a.post('/api/v1/customers', { name: '早客户', email: 'early@nurture.example', tags: ['trial'] })).json;
  const t1 = (await a.post('/api/v1/templates', { name: 'welcome', channel: 'email', subject: '第一封 {{customer.name}}', text: '欢迎' })).json;
  const t2 = (await a.post('/api/v1/templates', { name: 'tips', channel: 'email', subject: '第二封 {{customer.name}}', text: '技巧' })).json;
  const bad = expectError(await a.post('/api/v1/sequences', { name: 'x', trigger_tag: 'trial', steps: [{ template_id: 999999 }] }), 422);
  assert.ok(bad.fields['steps[0].template_id'], JSON.stringify(bad.fields));
  expectError(await a.post('/api/v1/sequences', { name: 'y', steps: [{ template_id: t1.id }] }), 422);
  const s = await a.post('/api/v1/sequences', {
    name: '试用培育', trigger_tag: 'trial', stop_on_stage: 'won',
    steps: [{ delay_minutes: 0, template_id: t1.id }, { delay_minutes: 60, template_id: t2.id, skip_if_replied: true }],
  });
  assert.equal(s.status, 201, s.text);
  assert.equal(s.json.steps.length, 2);
  await sleep(20); // tags set from now on count
  const mk = async (name, email) => (await a.post('/api/v1/customers', { name, email, tags: ['trial'] })).json;
  const x = await mk('甲', 'x@nurture.example');
  const z = await mk('乙', 'z@nurture.example');
  const w = await mk('丙', 'w@nurture.example');
  await until(() => to('x@nurture.example', '第一封') && to('z@nurture.example', '第一封') && to('w@nurture.example', '第一封'),
    20000, 'step 1', 200);
  assert.equal(to('early@nurture.example', '第一封'), 0, 'tagged before the sequence existed: not enrolled');
  // z wins, w writes to us
  assert.equal((await a.patch(`/api/v1/customers/${z.id}`, { stage: 'won' })).status, 200);
  const tk = (await a.post('/api/v1/tickets', { customer_id: w.id, channel: 'email', subject: 'question' })).json;
  sql(server, `INSERT INTO messages (ticket_id, customer_id, direction, channel, author_type, body_text) VALUES (${tk.id}, ${w.id}, 'in', 'email', 'customer', '我有问题')`);
  // an hour passes for the enrolments
  sql(server, "UPDATE sequence_enrollments SET next_at = NOW(3) - INTERVAL 1 SECOND WHERE status = 'active'");
  await until(() => to('x@nurture.example', '第二封'), 20000, 'step 2', 200);
  await sleep(2500); // more passes: nothing twice
  assert.deepEqual([to('x@nurture.example', '第一封'), to('x@nurture.example', '第二封')], [1, 1]);
  assert.deepEqual([to('z@nurture.example', '第一封'), to('z@nurture.example', '第二封')], [1, 0], 'stopped when won');
  assert.deepEqual([to('w@nurture.example', '第一封'), to('w@nurture.example', '第二封')], [1, 0], 'replied: step skipped');
  const rows = sql(server, 'SELECT c.name, e.status, e.stop_reason FROM sequence_enrollments e JOIN customers c ON c.id = e.customer_id ORDER BY c.id');
  assert.deepEqual(rows, [['甲', 'completed', null], ['乙', 'stopped', 'stage'], ['丙', 'completed', null]]);
  const view = (await a.get(`/api/v1/sequences/${s.json.id}`)).json;
  assert.deepEqual(view.steps.map((st) => st.sent), [3, 1]);
  assert.deepEqual(view.enrollments, { active: 0, completed: 2, stopped: 1 });
  // a re-tag does not enrol twice; disabling stops new enrolments
  assert.equal((await a.patch(`/api/v1/sequences/${s.json.id}`, { enabled: false })).status, 200);
  await mk('丁', 'late@nurture.example');
  await sleep(2000);
  assert.equal(to('late@nurture.example', '第一封'), 0);
  // step campaigns are not listed as campaigns
  assert.ok(!(await a.get('/api/v1/campaigns')).json.items.some((c) => /step/.test(c.name)));
});

test('enrol on a segment: members now and later, once; an unsubscribe stops the enrolment', async () => {
  const t1 = (await a.post('/api/v1/templates', { name: 'seg-1', channel: 'email', subject: '会员一 {{customer.name}}', text: '1' })).json;
  const t2 = (await a.post('/api/v1/templates', { name: 'seg-2', channel: 'email', subject: '会员二 {{customer.name}}', text: '2' })).json;
  const mk = async (name, email, tags) => (await a.post('/api/v1/customers', { name, email, tags })).json;
  const now = await mk('会员甲', 'm1@seg.example', ['vip']);
  await mk('非会员', 'other@seg.example', ['lead']);
  const seg = (await a.post('/api/v1/segments', { name: 'vip members', rule: 'tag:vip' })).json;
  const s = await a.post('/api/v1/sequences', {
    name: '会员培育', trigger_segment_id: seg.id,
    steps: [{ delay_minutes: 0, template_id: t1.id }, { delay_minutes: 60, template_id: t2.id }],
  });
  assert.equal(s.status, 201, s.text);
  await until(() => to('m1@seg.example', '会员一'), 20000, 'a member at the start', 200);
  const later = await mk('会员乙', 'm2@seg.example', ['vip']);
  await until(() => to('m2@seg.example', '会员一'), 20000, 'a member who entered later', 200);
  assert.equal(to('other@seg.example', '会员一'), 0);
  // m2 unsubscribes (as the link in the first mail would); then the hour passes
  sql(server, "INSERT INTO suppressions (channel, value, reason) VALUES ('email', 'm2@seg.example', 'unsubscribe')");
  sql(server, `UPDATE sequence_enrollments SET next_at = NOW(3) - INTERVAL 1 SECOND WHERE sequence_id = ${s.json.id} AND status = 'active'`);
  await until(() => to('m1@seg.example', '会员二'), 20000, 'step 2 for the member', 200);
  await sleep(2500); // passes go on: nobody enrolled twice, nothing sent twice
  assert.deepEqual([to('m1@seg.example', '会员一'), to('m1@seg.example', '会员二')], [1, 1]);
  assert.deepEqual([to('m2@seg.example', '会员一'), to('m2@seg.example', '会员二')], [1, 0]);
  const rows = sql(server, `SELECT customer_id, status, stop_reason FROM sequence_enrollments WHERE sequence_id = ${s.json.id} ORDER BY customer_id`);
  assert.deepEqual(rows, [[String(now.id), 'completed', null], [String(later.id), 'stopped', 'unsubscribed']]);
  // a step is run by its sequence: shown with its kind, never paused or cancelled as a campaign
  const [[stepId]] = sql(server, `SELECT campaign_id FROM sequence_steps WHERE sequence_id = ${s.json.id} AND position = 1`);
  const step = (await a.get(`/api/v1/campaigns/${stepId}`)).json;
  assert.deepEqual([step.kind, step.sequence_id], ['sequence_step', s.json.id]);
  for (const act of ['pause', 'cancel']) assert.equal((await a.post(`/api/v1/campaigns/${stepId}/${act}`)).status, 409);
  // the channel report counts the steps' messages apart from campaigns (both sequences: 4 steps, 7 sent)
  const rep = (await a.get('/api/v1/reports/campaigns?days=1')).json.channels.email;
  assert.deepEqual([rep.campaigns, rep.sequence_steps, rep.sent], [0, 4, 7]);
});
