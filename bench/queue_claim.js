'use strict';
// queue_claim.js — queue claiming (issue 13): how fast the gateway's outbound dispatcher
// (workers/outbox.c) claims, leases and settles queued rows with W workers, against a bare
// `SELECT … FOR UPDATE SKIP LOCKED` claim loop with the same W workers on the same rows.
// Both run in build/bench/outbox_claim (bench/outbox_claim.c): the dispatcher linked from
// libswitchboard.a with a channel whose send succeeds at once, so the network is out of it.
// The rows are replies as agents store them (a message each, the outbox row naming it);
// between the runs every row is queued again. Target: gateway ≥ 0.8 × reference.
// Sizes: BENCH_CLAIM_ROWS (smoke 500, quick 10000, full 40000), BENCH_CLAIM_WORKERS (4).
const { spawnSync } = require('node:child_process');
const { startServer, sql, dropDatabase } = require('../tests/system/harness');
const { pick, ref, emit, ratio, run } = require('./lib');

const ROWS = pick({ smoke: 500, quick: 10000, full: 40000 }, 'BENCH_CLAIM_ROWS');
const WORKERS = pick({ smoke: 2, quick: 4, full: 4 }, 'BENCH_CLAIM_WORKERS');

function probe(env, mode) {
  const r = spawnSync(ref('outbox_claim'), [mode, String(WORKERS), String(ROWS), '120'], {
    env, encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], timeout: 150000,
  });
  const out = (r.stdout || '').trim().split(' ');
  if (r.status !== 0 || Number(out[0]) !== ROWS) {
    throw new Error(`${mode}: ${out[0]} of ${ROWS} rows sent (exit ${r.status}${r.signal ? `, ${r.signal}` : ''})`);
  }
  return { secs: Number(out[1]), per_sec: Number(out[2]) };
}

function requeue(s) {
  sql(s, "UPDATE outbox SET state = 'queued', attempts = 0, lease_until = NULL, provider_id = NULL, error = NULL; " +
    "UPDATE messages SET status = 'queued'; DELETE FROM events WHERE kind = 'message.updated'");
}

run(async () => {
  // the server only creates the schema: nothing of it may compete with the probe
  const s = await startServer({ env: { SWITCHBOARD_ROUTING_ENABLED: 'no' } });
  try {
    sql(s, "INSERT INTO customers (name) VALUES ('bench')");
    const [[customer]] = sql(s, 'SELECT MAX(id) FROM customers');
    sql(s, `INSERT INTO tickets (customer_id, channel, subject) VALUES (${customer}, 'sms', 'bench')`);
    const [[ticket]] = sql(s, 'SELECT MAX(id) FROM tickets');
    sql(s, 'INSERT INTO messages (ticket_id, customer_id, direction, channel, author_type, body_text, status) ' +
      `SELECT ${ticket}, ${customer}, 'out', 'sms', 'agent', CONCAT('您好 bench ', seq), 'queued' FROM seq_1_to_${ROWS}`);
    sql(s, `INSERT INTO outbox (message_id, channel, recipient, payload, next_attempt_at) SELECT id, 'sms', ` +
      `CONCAT('+86138001', LPAD(id % 100, 5, '0')), JSON_OBJECT('message_id', id, 'ticket_id', ${ticket}, 'body_text', body_text), ` +
      `NOW(3) - INTERVAL 1 SECOND FROM messages WHERE ticket_id = ${ticket}`);
    await s.stop();
    const reference = probe(s.env, 'reference');
    requeue(s);
    const product = probe(s.env, 'product');
    const [[events]] = sql(s, "SELECT COUNT(*) FROM events WHERE kind = 'message.updated'");
    const [[msgs]] = sql(s, "SELECT COUNT(*) FROM messages WHERE status = 'sent'");
    if (Number(events) !== ROWS || Number(msgs) !== ROWS) throw new Error(`the dispatcher left ${msgs} messages sent, ${events} events`);
    emit({
      bench: 'queue_claim', unit: 'claims/s', value: Math.round(product.per_sec), reference: Math.round(reference.per_sec),
      ref_name: `bare SKIP LOCKED claim loop, ${WORKERS} workers`, ratio: ratio(product.per_sec, reference.per_sec),
      judge: 'ratio', target: 0.8, rows: ROWS, workers: WORKERS, secs: product.secs, ref_secs: reference.secs,
    });
  } finally {
    await s.stop().catch(() => {});
    dropDatabase(s);
  }
});
