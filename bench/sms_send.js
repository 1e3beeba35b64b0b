'use strict';
// sms_send.js — SMS sending throughput (issue 6: the gateway's claim, send, record at least
// 0.5x a bare libcurl multi loop against the same provider fake on the same machine; aim
// 0.8x). Both send N messages, 16 in flight, over kept-alive connections: first the
// reference (bench/curl_ref), then the gateway from its outbox.
// Prints one JSON line (bench/README.md): msgs/s, the reference's msgs/s, their ratio (≥ 0.5).
const path = require('node:path');
const { spawn, execFileSync } = require('node:child_process');
const { startServer, bootstrapAdmin, sql, dropDatabase, sleep, freePort } = require('../tests/system/harness');
const { pick, emit, ref: refProgram } = require('./lib');

const ROOT = path.resolve(__dirname, '..');
const SID = 'ACbench000000000000000000000000001';
const TOKEN = 'bench-token';
// Both runs ask for delivery reports at an address where nothing listens: the fake does the
// same work for each, and the comparison is of sending alone (webhooks are another load).
const DEAD = 'http://127.0.0.1:9';

(async () => {
  const N = pick({ smoke: 100, quick: 1000, full: 2000 }, 'BENCH_SMS'), INFLIGHT = 16;
  const port = await freePort();
  const fake = spawn(process.execPath, [path.join(ROOT, 'tests/fakes/sms-provider.mjs'), '--port', String(port), '--account-sid', SID,
    '--auth-token', TOKEN], { stdio: 'ignore' });
  const base = `http://127.0.0.1:${port}`;
  for (let i = 0; i < 100; i++) { try { if ((await fetch(`${base}/_fake/healthz`)).ok) break; } catch { /* starting */ } await sleep(50); }
  try {
    const out = execFileSync(refProgram('curl_ref'), [`${base}/2010-04-01/Accounts/${SID}/Messages.json`, `${SID}:${TOKEN}`,
      String(N), String(INFLIGHT), `${DEAD}/webhooks/sms/status`], { encoding: 'utf8' }).trim().split(' ');
    const ref = Number(out[3]);
    await fetch(`${base}/_fake/messages`, { method: 'DELETE' });
    const s = await startServer({ env: { SWITCHBOARD_SMS_API_BASE: base, SWITCHBOARD_SMS_ACCOUNT_SID: SID, SWITCHBOARD_SMS_AUTH_TOKEN: TOKEN,
      SWITCHBOARD_SMS_FROM: '+8610690000', SWITCHBOARD_SMS_MAX_INFLIGHT: String(INFLIGHT), SWITCHBOARD_SMS_RATE_PER_SEC: '10000',
      SWITCHBOARD_SMS_RECIPIENT_PER_MIN: '1000', SWITCHBOARD_ROUTING_ENABLED: 'no',
      SWITCHBOARD_SERVER_PUBLIC_URL: DEAD } });
    await bootstrapAdmin(s);
    // N queued replies to 100 numbers, as agents' replies are stored (message + outbox row)
    sql(s, "INSERT INTO customers (name) VALUES ('bench')");
    const [[customer]] = sql(s, 'SELECT MAX(id) FROM customers');
    sql(s, `INSERT INTO tickets (customer_id, channel, subject) VALUES (${customer}, 'sms', 'bench')`);
    const [[ticket]] = sql(s, 'SELECT MAX(id) FROM tickets');
    for (let i = 0; i < N; i += 500) {
      const k = Math.min(500, N - i);
      sql(s, 'INSERT INTO messages (ticket_id, customer_id, direction, channel, author_type, body_text, status) VALUES ' +
        Array.from({ length: k }, () => `(${ticket}, ${customer}, 'out', 'sms', 'agent', '您好 bench', 'queued')`).join(','));
    }
    // the outbox rows go in last, all at once: the sender starts on a full queue
    sql(s, `INSERT INTO outbox (message_id, channel, recipient, payload, next_attempt_at) SELECT id, 'sms', ` +
      `CONCAT('+86138001', LPAD(id % 100, 5, '0')), JSON_OBJECT('message_id', id, 'ticket_id', ${ticket}, 'body_text', body_text), NOW(3) ` +
      `FROM messages WHERE ticket_id = ${ticket}`);
    // timed by the database's clock, from the queue being filled to the last row recorded,
    // polling seldom: a busy poller would steal the CPU it measures
    const [[start]] = sql(s, 'SELECT NOW(6)');
    const t0 = Date.now();
    let n = 0;
    while (n < N && Date.now() - t0 < 180000) {
      await sleep(500);
      n = Number(sql(s, "SELECT COUNT(*) FROM outbox WHERE state = 'sent'")[0][0]);
    }
    const secs = Number(sql(s, `SELECT TIMESTAMPDIFF(MICROSECOND, '${start}', MAX(updated_at)) / 1e6 FROM outbox`)[0][0]);
    await s.stop();
    dropDatabase(s);
    const gw = n / secs;
    if (n !== N) throw new Error(`sent ${n} of ${N}`);
    emit({ bench: 'sms_send', unit: 'msgs/s', value: Math.round(gw), reference: Math.round(ref),
      ref_name: 'bare libcurl multi loop, same provider fake', ratio: Number((gw / ref).toFixed(2)), judge: 'ratio', target: 0.5, messages: n });
  } finally {
    fake.kill('SIGTERM');
  }
})().catch((e) => { console.error(e); process.exit(1); });
