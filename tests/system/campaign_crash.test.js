'use strict';
// campaign_crash.test.js — the at-most-once ledger across a crash (DESIGN.md section 11.2):
// kill -9 the gateway while it is in the middle of a campaign (the SMTP server answers
// slowly, so batches are in flight), restart it on the same database: no recipient gets
// two messages (the SMTP server counts), the interrupted batch is reported `ambiguous`
// (never re-sent on its own), the rest of the campaign completes; an explicit resend of
// the ambiguous ones is the only way they go out again.
const { test, after } = require('node:test');
const assert = require('node:assert/strict');
const { SMTPServer } = require('smtp-server');
const {
  startServer, bootstrapAdmin, api, dropDatabase, until, freePort, sleep,
} = require('./harness');

const N = 400;
let smtp, first, second;
const got = new Map(); // address ⇒ times received

after(async () => {
  if (second) await second.stop();
  if (first) dropDatabase(first);
  if (smtp) await new Promise((r) => smtp.close(r));
});

test('kill -9 mid-campaign: nobody receives twice, the gap is ambiguous, the rest completes', async () => {
  const port = await freePort();
  smtp = new SMTPServer({
    authOptional: true, disabledCommands: ['STARTTLS'], logger: false,
    onData(stream, session, cb) {
      stream.on('data', () => {});
      stream.on('end', () => {
        // slow answers: a batch is in flight for a while
        setTimeout(() => {
          for (const r of session.envelope.rcptTo) got.set(r.address, (got.get(r.address) || 0) + 1);
          cb();
        }, 15);
      });
    },
  });
  smtp.on('error', () => { /* the killed gateway drops its session mid-message: expected */ });
  await new Promise((r) => smtp.listen(port, '127.0.0.1', r));
  const env = {
    SWITCHBOARD_SMTP_HOST: '127.0.0.1', SWITCHBOARD_SMTP_PORT: String(port), SWITCHBOARD_SMTP_FROM: 'news@example.com',
    SWITCHBOARD_CAMPAIGNS_BATCH: '20', SWITCHBOARD_CAMPAIGNS_LEASE_SECS: '2',
  };
  first = await startServer({ env });
  const admin = await bootstrapAdmin(first);
  const a = api(first, admin.token);
  const lines = ['name,email,tags'];
  for (let i = 0; i < N; i++) lines.push(`Crash ${i},k${i}@crash.example,crash`);
  assert.equal((await a.post('/api/v1/customers/import', lines.join('\n'), { headers: { 'Content-Type': 'text/csv' } })).json.imported, N);
  const seg = (await a.post('/api/v1/segments', { name: 'crash', rule: 'tag:crash' })).json;
  const tpl = (await a.post('/api/v1/templates', { name: 'crash', channel: 'email', subject: 'Hi {{customer.name}}', text: 'x' })).json;
  const c = (await a.post('/api/v1/campaigns', { name: 'crash', segment_id: seg.id, template_id: tpl.id, channel: 'email' })).json;
  assert.equal((await a.post(`/api/v1/campaigns/${c.id}/start`)).status, 200);
  await until(() => got.size >= N / 4 + 7, 60000, 'a quarter delivered, mid-batch', 2); // batches are 20
  await first.kill9();
  const atKill = got.size;
  assert.ok(atKill < N, 'killed mid-campaign');

  second = await startServer({ env, dbName: first.dbName, migrate: false });
  const b = api(second, admin.token);
  await until(async () => (await b.get(`/api/v1/campaigns/${c.id}`)).json.status === 'finished', 120000, 'finished', 200);
  const st = (await b.get(`/api/v1/campaigns/${c.id}`)).json.stats;
  for (const [addr, n] of got) assert.equal(n, 1, `${addr} received ${n} messages`);
  assert.equal(st.sent + st.ambiguous + st.failed, N, JSON.stringify(st));
  assert.equal(st.failed, 0);
  assert.ok(st.ambiguous >= 1, `the interrupted batch is ambiguous: ${JSON.stringify(st)}`);
  assert.ok(st.sent <= got.size, 'every row marked sent was received');
  const amb = (await b.get(`/api/v1/campaigns/${c.id}/recipients?state=ambiguous&per_page=200`)).json.items;
  assert.equal(amb.length, st.ambiguous);
  assert.ok(amb.every((r) => /interrupted/.test(r.error)));
  // nothing more goes out by itself
  const settled = got.size;
  await sleep(2500);
  assert.equal(got.size, settled);
  // an explicit resend of the ones never received sends exactly those
  const never = amb.filter((r) => !got.has(r.address)).map((r) => r.id);
  if (never.length) {
    const rs = await b.post(`/api/v1/campaigns/${c.id}/resend`, { recipient_ids: never });
    assert.equal(rs.status, 200, rs.text);
    assert.equal(rs.json.requeued, never.length);
    await until(async () => (await b.get(`/api/v1/campaigns/${c.id}`)).json.status === 'finished' && got.size === settled + never.length,
      60000, 'resend', 200);
  }
  for (const [addr, n] of got) assert.equal(n, 1, `${addr} received ${n} messages after the resend`);
});
