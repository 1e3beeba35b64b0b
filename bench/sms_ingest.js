'use strict';
// sms_ingest.js — durable inbound ingest (DESIGN.md section 3, "ingest writer"): signed
// inbound-SMS webhooks (Twilio-shaped, X-Twilio-Signature) become customer, ticket,
// message and events, committed in groups ([ingest] batch_max, batch_wait_us) and answered
// 200 only after COMMIT. Judged: acknowledged webhooks/s against a bare single-row
// autocommit INSERT loop (bench/insert_ref.c, 16 clients) into the same MariaDB in the same
// run; target ratio >= 1.0 (group commit must beat one commit per message).
//
// C keep-alive clients (bench/http_post_load.c, libcurl multi) each post their next webhook
// as soon as the previous one is answered (30 s timeout each), N webhooks in all, from many
// phone numbers (customers and tickets are both created and reused), unique MessageSids;
// bodies and signatures are computed before the timed window. Only 200 counts; anything
// else is `failed`. Afterwards the stored inbound SMS rows must equal the acknowledged
// count (`stored`); a mismatch is written to var/BUGS-ingest.md. Then, the gateway
// stopped, the reference runs against a scratch database with 16 threads and the same N.
//
// Sizes (BENCH_SIZE smoke | quick | full): N 200 | 3000 | 20000 (BENCH_INGEST_N),
// clients 8 | 32 | 64 (BENCH_INGEST_CLIENTS), distinct numbers 50 | 1000 | 2000
// (BENCH_INGEST_NUMBERS). The gateway runs with the product's default configuration
// ([database] pool_size 8 unless SWITCHBOARD_DATABASE_POOL_SIZE is set; [ingest] from
// SWITCHBOARD_INGEST_BATCH_MAX / _BATCH_WAIT_US / _WRITERS when set), routing off.
// Also reported (not judged): acknowledgements in each second (acks_per_sec), per-message
// MariaDB status deltas for both sides (db_per_msg: statements, commits, redo-log writes,
// fsyncs, handler reads — server-wide counters, so other work on the same MariaDB adds to
// them), CPU of gateway / MariaDB / load generator in % of one core (cpu_pct), and the
// gateway's group-commit batch sizes and pool wait from its /metrics (ingest_batches).
const crypto = require('node:crypto');
const fs = require('node:fs');
const path = require('node:path');
const { execFile } = require('node:child_process');
const lib = require('./lib');
const { startServer, sql, dropDatabase, readDevEnv } = require('../tests/system/harness');

const N = lib.pick({ smoke: 200, quick: 3000, full: 20000 }, 'BENCH_INGEST_N');
const C = lib.pick({ smoke: 8, quick: 32, full: 64 }, 'BENCH_INGEST_CLIENTS');
const NUMBERS = Math.max(1, Math.min(N, lib.pick({ smoke: 50, quick: 1000, full: 2000 }, 'BENCH_INGEST_NUMBERS')));
const LOAD_SECS = lib.pick({ smoke: 10, quick: 40, full: 90 }); // the load phase stops by itself after this
const REF_THREADS = 16;
const REF_MAX_SECS = lib.pick({ smoke: 5, quick: 20, full: 40 });

const SID = 'ACbench000000000000000000000000002';
const TOKEN = 'bench-ingest-token-不是真的';
const OUR_NUMBER = '+8610690000';
const STATUS_VARS = ['Com_insert', 'Com_update', 'Com_select', 'Com_commit', 'Com_savepoint', 'Questions',
  'Innodb_log_writes', 'Innodb_os_log_written', 'Innodb_data_fsyncs', // 10.11 has no Innodb_os_log_fsyncs
  'Handler_read_key', 'Handler_read_next', 'Handler_read_prev', 'Handler_read_rnd_next', 'Handler_write', 'Select_scan', 'Select_full_join'];

const log = (...a) => console.error('sms_ingest:', ...a);

/** base64(HMAC-SHA1(token, url + each name and value, sorted by name)) — single-valued params. */
function twilioSignature(token, url, params) {
  let data = url;
  for (const name of Object.keys(params).sort()) data += name + params[name];
  return crypto.createHmac('sha1', token).update(Buffer.from(data, 'utf8')).digest('base64');
}

/** The N webhooks, encoded and signed: [{body: Buffer, signature}]. */
function prepare(url) {
  const run = crypto.randomBytes(4).toString('hex');
  const out = new Array(N);
  for (let i = 0; i < N; i++) {
    const k = i % NUMBERS;
    const params = {
      MessageSid: `SM${run}${String(i).padStart(24, '0')}`, AccountSid: SID,
      From: `+86139${String(k).padStart(8, '0')}`, To: OUR_NUMBER,
      Body: `你好，我的订单 ${i} 什么时候到？ Where is my order ${i}?`, NumMedia: '0',
    };
    out[i] = { body: Buffer.from(new URLSearchParams(params).toString(), 'utf8'), signature: twilioSignature(TOKEN, url, params) };
  }
  return out;
}

/** Global status counters of MariaDB (the whole server: other benchmarks add to them). */
function dbStatus() {
  const rows = sql(null, `SHOW GLOBAL STATUS WHERE Variable_name IN (${STATUS_VARS.map((v) => `'${v}'`).join(',')})`, { db: null });
  return Object.fromEntries(rows.map(([k, v]) => [k, Number(v)]));
}
function perMessage(before, after, n) {
  const o = {};
  for (const k of STATUS_VARS) if (k in before && k in after) o[k] = n ? Math.round(((after[k] - before[k]) / n) * 1000) / 1000 : null;
  return o;
}

/** utime + stime of a process in seconds, or null. */
function cpuOf(pid) {
  try {
    const f = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = f.slice(f.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / 100; // USER_HZ is 100 on Linux
  } catch { return null; }
}
/** [busy, total] jiffies of the whole machine. */
function machineCpu() {
  const [, ...v] = fs.readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).map(Number);
  const total = v.reduce((a, b) => a + b, 0);
  return [total - v[3] - (v[4] || 0), total];
}
function mariadbPid() {
  try { return Number(fs.readFileSync(path.join(lib.ROOT, 'var', 'mariadb', 'mariadbd.pid'), 'utf8').trim()) || null; } catch { return null; }
}
const round = (x, d = 2) => (x === null || x === undefined || Number.isNaN(x) ? null : Math.round(x * 10 ** d) / 10 ** d);

/** The prepared webhooks as bench/http_post_load.c reads them: headers, then the body. */
function writeRequests(file, hooks) {
  const parts = [];
  for (const w of hooks) {
    parts.push(Buffer.from(`2\ncontent-type: application/x-www-form-urlencoded\nx-twilio-signature: ${w.signature}\n${w.body.length}\n`), w.body);
  }
  fs.writeFileSync(file, Buffer.concat(parts));
}

/** C closed-loop clients over N prepared webhooks, stopping at the deadline: the C load
 * generator (a Node client took ~40 % of a core at 2,000 webhooks/s, which the gateway and
 * MariaDB then lacked), waited for without spinning. */
function load(url, hooks) {
  const file = path.join(lib.ROOT, 'var', `sms_ingest_requests_${process.pid}.bin`);
  fs.mkdirSync(path.dirname(file), { recursive: true });
  writeRequests(file, hooks);
  return new Promise((resolve, reject) => {
    execFile(lib.ref('http_post_load'), [`${url}/webhooks/sms/inbound`, String(C), String(LOAD_SECS), file],
      { encoding: 'utf8', maxBuffer: 64 << 20, timeout: (LOAD_SECS + 60) * 1000, killSignal: 'SIGKILL' }, (err, stdout, stderr) => {
        fs.rmSync(file, { force: true });
        if (stderr) process.stderr.write(stderr);
        let r;
        try { r = JSON.parse(stdout); } catch { r = null; }
        if (err || !r) return reject(new Error(`http_post_load failed: ${err ? err.message : ''} ${String(stdout).slice(0, 200)}`));
        resolve({ ok: r.ok, failed: r.failed, failures: r.failures, lat: r.lat_ms, secs: r.secs, unsent: r.unsent,
          perSec: r.per_sec, cpuSecs: r.cpu_secs });
      });
  });
}

/** Mean, count and buckets of switchboard_ingest_batch_size from /metrics. */
async function batchSizes(url) {
  try {
    const text = await (await fetch(`${url}/metrics`, { signal: AbortSignal.timeout(5000) })).text();
    const num = (re) => { const m = re.exec(text); return m ? Number(m[1]) : null; };
    const count = num(/^switchboard_ingest_batch_size_count (\S+)/m), sum = num(/^switchboard_ingest_batch_size_sum (\S+)/m);
    const buckets = {};
    for (const m of text.matchAll(/^switchboard_ingest_batch_size_bucket\{le="([^"]+)"\} (\d+)/gm)) buckets[m[1]] = Number(m[2]);
    const poolCount = num(/^switchboard_db_pool_wait_seconds_count (\S+)/m), poolSum = num(/^switchboard_db_pool_wait_seconds_sum (\S+)/m);
    return {
      batches: count, mean: count ? round(sum / count, 1) : null, le_cumulative: buckets,
      pool_wait_mean_ms: poolCount ? round((poolSum / poolCount) * 1000, 2) : null,
    };
  } catch (e) { return { error: e.message }; }
}

function runRef(db) {
  return new Promise((resolve, reject) => {
    const env = { ...process.env, ...readDevEnv() };
    execFile(lib.ref('insert_ref'), [db, String(REF_THREADS), String(N), String(REF_MAX_SECS)],
      { env, encoding: 'utf8', timeout: (REF_MAX_SECS + 30) * 1000, killSignal: 'SIGKILL' }, (err, stdout, stderr) => {
        if (stderr) process.stderr.write(stderr);
        const f = String(stdout).trim().split(/\s+/).map(Number);
        if (err || f.length !== 3 || !(f[2] > 0)) reject(new Error(`insert_ref failed: ${err ? err.message : ''} ${stdout}`));
        else resolve({ rows: f[0], secs: f[1], per_sec: f[2] });
      });
  });
}

function writeBug(info) {
  const file = path.join(lib.ROOT, 'var', 'BUGS-ingest.md');
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.appendFileSync(file, `## ${new Date().toISOString()} — bench/sms_ingest.js: stored inbound SMS != acknowledged\n\n` +
    `Acknowledged (HTTP 200): ${info.ok}; rows in messages (channel 'sms', direction 'in'): ${info.stored}; ` +
    `non-200 answers: ${info.failed} ${JSON.stringify(info.failures)}; size ${lib.SIZE}, N ${N}, clients ${C}; ` +
    `database ${info.db}; gateway log ${info.logFile}.\n` +
    (info.stored < info.ok ? 'Fewer rows than acknowledgements: a webhook was answered 200 whose message is not stored.\n'
      : 'More rows than acknowledgements: messages were stored for requests that did not get a 200 ' +
        '(answered an error after COMMIT, or the answer never arrived).\n') + '\n');
  log(`durability mismatch written to ${file}`);
}

async function main() {
  const gwEnv = {
    SWITCHBOARD_SMS_ACCOUNT_SID: SID, SWITCHBOARD_SMS_AUTH_TOKEN: TOKEN, SWITCHBOARD_SMS_FROM: OUR_NUMBER,
    SWITCHBOARD_ROUTING_ENABLED: 'no',
    // the harness gives tests a pool of 4; the product's default is 8
    SWITCHBOARD_DATABASE_POOL_SIZE: process.env.SWITCHBOARD_DATABASE_POOL_SIZE || '8',
  };
  const gwConfig = {
    pool_size: Number(gwEnv.SWITCHBOARD_DATABASE_POOL_SIZE),
    batch_max: Number(process.env.SWITCHBOARD_INGEST_BATCH_MAX || 500),
    batch_wait_us: Number(process.env.SWITCHBOARD_INGEST_BATCH_WAIT_US || 2000),
    writers: Number(process.env.SWITCHBOARD_INGEST_WRITERS || 2),
  };
  const s = await startServer({ env: gwEnv });
  let stopped = false;
  let result;
  try {
    log(`gateway ${s.url} (db ${s.dbName}, pid ${s.proc.pid}, ${JSON.stringify(gwConfig)}); ${N} webhooks, ${C} clients, ${NUMBERS} numbers`);
    const hooks = prepare(`${s.url}/webhooks/sms/inbound`);
    const mpid = mariadbPid();
    const st0 = dbStatus();
    const cpu0 = { gw: cpuOf(s.proc.pid), db: mpid && cpuOf(mpid), machine: machineCpu() };
    const r = await load(s.url, hooks);
    const cpu1 = { gw: cpuOf(s.proc.pid), db: mpid && cpuOf(mpid), machine: machineCpu() };
    const st1 = dbStatus();
    // acknowledged means committed: the rows are there now, before anything else happens
    const stored = Number(sql(s, "SELECT COUNT(*) FROM messages WHERE channel = 'sms' AND direction = 'in'")[0][0]);
    const [[customers, tickets, events]] = sql(s, 'SELECT (SELECT COUNT(*) FROM customers), (SELECT COUNT(*) FROM tickets), (SELECT COUNT(*) FROM events)');
    const batches = await batchSizes(s.url);
    const value = r.secs > 0 ? r.ok / r.secs : 0;
    log(`gateway: ${r.ok} acknowledged in ${r.secs.toFixed(3)} s = ${value.toFixed(0)}/s; failed ${r.failed} ${JSON.stringify(r.failures)}; ` +
      `stored ${stored}; batches ${JSON.stringify(batches)}`);
    if (stored !== r.ok) writeBug({ ok: r.ok, stored, failed: r.failed, failures: r.failures, db: s.dbName, logFile: s.logFile });
    await s.stop();
    stopped = true;
    dropDatabase(s);

    const refDb = `sbbench_ref_${crypto.randomBytes(4).toString('hex')}`;
    let ref;
    const rs0 = dbStatus();
    const rcpu0 = { db: mpid && cpuOf(mpid), machine: machineCpu() };
    try {
      ref = await runRef(refDb);
    } finally {
      dropDatabase(null, refDb);
    }
    const rcpu1 = { db: mpid && cpuOf(mpid), machine: machineCpu() };
    const rs1 = dbStatus();
    log(`reference: ${ref.rows} rows in ${ref.secs} s = ${ref.per_sec}/s`);
    const win = r.secs || 1;
    result = {
      bench: 'sms_ingest', unit: 'msgs/s', value: Math.round(value), reference: Math.round(ref.per_sec),
      ref_name: 'bare single-row autocommit INSERT loop, 16 clients', ratio: lib.ratio(value, ref.per_sec),
      judge: 'ratio', target: 1.0,
      latency_ms: { switchboard: lib.percentiles(r.lat) },
      webhooks: N, clients: C, numbers: NUMBERS, acknowledged: r.ok, stored, failed: r.failed,
      ...(r.failed ? { failures: r.failures } : {}), ...(r.unsent ? { unsent: r.unsent } : {}),
      secs: round(r.secs, 3), acks_per_sec: r.perSec, ref_rows: ref.rows, ref_secs: ref.secs,
      rows: { customers: Number(customers), tickets: Number(tickets), events: Number(events) },
      gateway_config: gwConfig, ingest_batches: batches,
      cpu_pct: { // of one core, over the timed window; the machine's over all cores
        gateway: cpu0.gw !== null && cpu1.gw !== null ? round(((cpu1.gw - cpu0.gw) / win) * 100, 0) : null,
        mariadb: cpu0.db && cpu1.db ? round(((cpu1.db - cpu0.db) / win) * 100, 0) : null,
        loadgen: round((r.cpuSecs / win) * 100, 0),
        machine: round(((cpu1.machine[0] - cpu0.machine[0]) / Math.max(1, cpu1.machine[1] - cpu0.machine[1])) * 100, 0),
        reference_mariadb: rcpu0.db && rcpu1.db && ref.secs > 0 ? round(((rcpu1.db - rcpu0.db) / ref.secs) * 100, 0) : null,
        reference_machine: round(((rcpu1.machine[0] - rcpu0.machine[0]) / Math.max(1, rcpu1.machine[1] - rcpu0.machine[1])) * 100, 0),
      },
      // whole-server counters: other work on the same MariaDB at the same time adds to them
      db_per_msg: { switchboard: perMessage(st0, st1, r.ok), reference: perMessage(rs0, rs1, ref.rows) },
    };
  } finally {
    if (!stopped) {
      await s.stop();
      try { dropDatabase(s); } catch (e) { log(`cannot drop ${s.dbName}: ${e.message}`); }
    }
  }
  lib.emit(result);
  if (result.acknowledged === 0) throw new Error('no webhook was acknowledged');
  if (result.stored !== result.acknowledged) { // a count is wrong: see var/BUGS-ingest.md
    throw new Error(`${result.acknowledged} webhooks acknowledged but ${result.stored} stored`);
  }
}

lib.run(main);
