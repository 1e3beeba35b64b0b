'use strict';
// ws_chat.js — the websocket chat path (issue: messages/s and p99 latency customer→agent,
// stored then pushed, at 1,000 chats and 10,000 msgs/s; targets: ≥ 0.5 × the reference's
// throughput, p99 ≤ 10 ms). Reference: build/bench/ws_echo_ref (bench/ws_echo_ref.c, a
// libwebsockets minimal echo server on libev) driven by the same client code.
//
// Gateway: agents of an auto-accept team (chat capacity 20 each) online on /ws/agent;
// CHATS customer chats on /ws/chat, each with a first message so it becomes a ticket the
// router assigns (set-up, not timed). Timed: an open-loop sender offers RATE msgs/s in
// total for SECS seconds, round-robin over the customer sockets; each message body carries
// its sequence number, and the latency is customer send → the assigned agent's socket
// receiving `message.created` (committed by the ingest writer, then pushed by the event
// tailer). Throughput = messages received in the window (plus a bounded drain) / elapsed.
// Reference: as many sockets on the echo server, the same sender, latency send → echo.
//
// /ws/chat allows [server] chat_messages_per_10s messages per socket (10 by default, a
// person typing); the gateway runs with CHAT_LIMIT so that one socket per chat carries its
// share of the rate, as 1,000 chats at 10,000 msgs/s asks. With BENCH_WS_TABS > 1 each
// chat has that many sockets (a visitor's browser tabs: hello with the same visitor_token;
// every message is then also pushed to the visitor's other tabs). The reference gets the
// same number of sockets.
//
// Counts in the JSON line: sent, received (pushed to an agent), refused (error frames),
// acked (the customer got its ack = committed), lost (sent − received − refused by the end of
// the drain: includes what the gateway still had queued), not_acked (still unstored then),
// lost_acked (acked ≥ 2 s before the end yet never pushed: a bug, see the gateway's
// gap_skipped count), out_of_order (a chat's messages pushed out of send order).
//
// Sizes: BENCH_WS_CHATS (smoke 20, quick 200, full 1000), BENCH_WS_RATE msgs/s (200, 2000,
// 10000), BENCH_WS_SECS (2, 4, 10), BENCH_WS_TABS (sockets per chat; default as above).
const path = require('node:path');
const crypto = require('node:crypto');
const { spawn } = require('node:child_process');
const { performance } = require('node:perf_hooks');
const { ROOT, pick, ref, emit, ratio, percentiles, run } = require('./lib');
const { startServer, sql, dropDatabase, freePort, sleep } = require('../tests/system/harness');
const WebSocket = require(path.join(ROOT, 'tests', 'node_modules', 'ws'));

const CHATS = pick({ smoke: 20, quick: 200, full: 1000 }, 'BENCH_WS_CHATS');
const RATE = pick({ smoke: 200, quick: 2000, full: 10000 }, 'BENCH_WS_RATE');
const SECS = pick({ smoke: 2, quick: 4, full: 10 }, 'BENCH_WS_SECS');
const CHAT_LIMIT = 200; // [server] chat_messages_per_10s for the run
const PER_SOCKET_MAX = CHAT_LIMIT / 10 * 0.8; // msgs/s per socket, under the limit
const TABS = Number(process.env.BENCH_WS_TABS) || Math.max(1, Math.ceil(RATE / CHATS / PER_SOCKET_MAX));
const CHATS_PER_AGENT = 20;
const AGENTS = Math.max(2, Math.ceil(CHATS / CHATS_PER_AGENT));
const DRAIN_MS = pick({ smoke: 3000, quick: 5000, full: 10000 });
const OPEN_CONCURRENCY = 200; // connects in flight: the listen backlog never overflows
const TICK_MS = 5;
const ACK_GRACE_MS = 2000; // an acknowledged message not pushed this long after its ack is lost
const WATCHDOG_MS = pick({ smoke: 60000, quick: 120000, full: 175000 });
const TOTAL = Math.round(RATE * SECS);

const log = (...a) => console.error('[ws_chat]', ...a);

/* ---- one timed run's bookkeeping: typed arrays indexed by sequence number ---- */

function newRun() {
  return {
    sendAt: new Float64Array(TOTAL), recvAt: new Float64Array(TOTAL), ackAt: new Float64Array(TOTAL),
    refused: new Uint8Array(TOTAL), sent: 0, received: 0, dup: 0, acked: 0, refusedN: 0, errors: {},
    lastRecv: 0, outOfOrder: 0, lastSeqOfChat: new Int32Array(CHATS).fill(-1), closed: 0,
  };
}
let cur = null; // the run being measured
let liveServer = null; // for the watchdog: its database is dropped on the way out

const MARK = '"q:'; // the body of a bench message is "q:SEQ"
/** The decimal number at buf[at...]; -1 when none. */
function seqAt(buf, at) {
  let n = 0, i = at;
  for (; i < buf.length; i++) {
    const c = buf[i];
    if (c < 48 || c > 57) break;
    n = n * 10 + (c - 48);
  }
  return i === at ? -1 : n;
}
/** A frame that carries a bench message: the customer→agent push, or the echo. */
function gotMessage(buf, at) {
  const k = seqAt(buf, at + MARK.length);
  if (!cur || k < 0 || k >= TOTAL) return;
  if (cur.recvAt[k]) { cur.dup++; return; }
  const now = performance.now();
  cur.recvAt[k] = now;
  cur.received++;
  cur.lastRecv = now;
  const chat = k % CHATS;
  if (k < cur.lastSeqOfChat[chat]) cur.outOfOrder++;
  else cur.lastSeqOfChat[chat] = k;
}

/* ---- sockets ---- */

/** A client socket: frames not handled by `fast` are parsed and offered to waiters. */
function openSocket(url, fast) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { perMessageDeflate: false, skipUTF8Validation: true, handshakeTimeout: 15000 });
    const sock = { ws, waiters: [] };
    ws.on('message', (data) => {
      if (fast && fast(data)) return;
      if (!sock.waiters.length) return;
      let f;
      try { f = JSON.parse(data); } catch { return; }
      const i = sock.waiters.findIndex((w) => w.pred(f));
      if (i < 0) return;
      const [w] = sock.waiters.splice(i, 1);
      clearTimeout(w.timer);
      w.resolve(f);
    });
    ws.once('open', () => resolve(sock));
    ws.on('error', (err) => reject(err));
    ws.on('close', () => { if (cur) cur.closed++; });
  });
}

/** Resolves the next frame matching pred; rejects after ms. */
function expect(sock, pred, ms, what) {
  return new Promise((resolve, reject) => {
    const w = { pred, resolve };
    w.timer = setTimeout(() => {
      sock.waiters.splice(sock.waiters.indexOf(w), 1);
      reject(new Error(`no ${what} within ${ms} ms`));
    }, ms);
    sock.waiters.push(w);
  });
}

/** Runs fn over items, at most conc at a time; rejects on the first failure. */
async function pool(items, conc, fn) {
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      await fn(items[i], i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(conc, items.length) }, worker));
}

function closeAll(socks) {
  for (const s of socks) { try { s.ws.terminate(); } catch { /* gone */ } }
}

/* ---- the open-loop sender and its figures ---- */

/** Offers RATE msgs/s round-robin over socks for SECS seconds, then drains; resolves the figures. */
async function offer(socks, what) {
  const r = newRun();
  cur = r;
  const n = socks.length;
  const wss = socks.map((s) => s.ws);
  const t0 = performance.now();
  await new Promise((resolve) => {
    const timer = setInterval(() => {
      const due = Math.min(TOTAL, Math.floor(((performance.now() - t0) / 1000) * RATE));
      for (let k = r.sent; k < due; k++) {
        const ws = wss[k % n];
        r.sendAt[k] = performance.now();
        ws.send(`{"type":"message","client_id":"c${k}","body":"q:${k}"}`);
      }
      r.sent = Math.max(r.sent, due);
      if (r.sent >= TOTAL) { clearInterval(timer); resolve(); }
    }, TICK_MS);
  });
  const tSent = performance.now();
  const drainEnd = tSent + DRAIN_MS;
  while (r.received + r.refusedN < r.sent && performance.now() < drainEnd) await sleep(20);
  const tEnd = performance.now();
  cur = null;
  const lat = [];
  const ackLat = [];
  let lostAckedN = 0;
  const lostAcked = [];
  for (let k = 0; k < r.sent; k++) {
    if (r.recvAt[k]) lat.push(r.recvAt[k] - r.sendAt[k]);
    if (r.ackAt[k]) ackLat.push(r.ackAt[k] - r.sendAt[k]);
    // acknowledged (committed) at least ACK_GRACE_MS before the end, never pushed to its agent
    if (r.ackAt[k] && !r.recvAt[k] && r.ackAt[k] < tEnd - ACK_GRACE_MS) {
      lostAckedN++;
      if (lostAcked.length < 20) lostAcked.push(k);
    }
  }
  const elapsed = (Math.max(tSent, r.lastRecv) - t0) / 1000;
  const out = {
    per_sec: Math.round(r.received / elapsed), elapsed: Math.round(elapsed * 1000) / 1000, sent: r.sent,
    send_secs: Math.round((tSent - t0)) / 1000, received: r.received, duplicates: r.dup, refused: r.refusedN,
    errors: r.errors, lost: r.sent - r.received - r.refusedN, not_acked: r.sent - r.acked - r.refusedN, acked: r.acked, lost_acked: lostAckedN,
    lost_acked_sample: lostAcked, out_of_order: r.outOfOrder, closed: r.closed,
    latency: percentiles(lat), ack_latency: ackLat.length ? percentiles(ackLat) : undefined,
  };
  log(what, JSON.stringify(out));
  return out;
}

/* ---- the gateway ---- */

async function gatewayRun() {
  const s = await startServer({
    env: {
      SWITCHBOARD_KB_AUTO_ANSWER: 'no', // no bot answer to first messages
      SWITCHBOARD_QUALITY_CSAT: 'no',
      SWITCHBOARD_CRM_INTERVAL_SECS: '86400',
      SWITCHBOARD_SERVER_PRESENCE_GRACE_SECS: '600',
      SWITCHBOARD_SERVER_CHAT_MESSAGES_PER_10S: String(CHAT_LIMIT),
    },
  });
  liveServer = s;
  const socks = [];
  try {
    // agents of an auto-accept team that the default routing rule sends every ticket to;
    // sessions made directly (argon2id logins would take seconds each on this machine)
    const tag = crypto.randomBytes(4).toString('hex');
    sql(s, `INSERT INTO teams (name, auto_accept) VALUES ('Bench chat ${tag}', 1)`);
    const [[team]] = sql(s, `SELECT id FROM teams WHERE name = 'Bench chat ${tag}'`);
    sql(s, `UPDATE routing_rules SET team_id = ${team} WHERE is_default = 1`);
    sql(s, 'INSERT INTO agents (email, name, role, team_id, password_hash, capacity_units) VALUES ' +
      Array.from({ length: AGENTS }, (_, i) => `('wsbench${i}-${tag}@example.com', 'Bench ${i}', 'agent', ${team}, 'x', 60000)`).join(','));
    const ids = sql(s, `SELECT id FROM agents WHERE team_id = ${team} ORDER BY id`).map(([id]) => Number(id));
    sql(s, `INSERT INTO agent_capacity (agent_id, channel, max_load) SELECT id, 'chat', ${CHATS_PER_AGENT + 5} FROM agents WHERE team_id = ${team}`);
    const tokens = ids.map((id) => `wsbench-${tag}-${id}-${crypto.randomBytes(16).toString('hex')}`);
    sql(s, 'INSERT INTO sessions (token_hash, agent_id, expires_at) VALUES ' +
      ids.map((id, i) => `(UNHEX(SHA2('${tokens[i]}', 256)), ${id}, NOW(3) + INTERVAL 1 DAY)`).join(','));

    const wsUrl = s.url.replace(/^http/, 'ws');
    const MC = Buffer.from('"type":"message.created"');
    const agentFast = (data) => {
      const at = data.indexOf(MARK);
      if (at < 0 || data.indexOf(MC) < 0) return false;
      gotMessage(data, at);
      return true;
    };
    const agents = [];
    await pool(tokens, OPEN_CONCURRENCY, async (token) => {
      const a = await openSocket(`${wsUrl}/ws/agent`, agentFast);
      agents.push(a);
      socks.push(a);
      const ok = expect(a, (f) => f.type === 'auth_ok' || f.type === 'error', 15000, 'auth_ok');
      a.ws.send(JSON.stringify({ type: 'auth', token }));
      if ((await ok).type !== 'auth_ok') throw new Error('agent auth refused');
      const pr = expect(a, (f) => f.type === 'presence_ok' || f.type === 'error', 15000, 'presence_ok');
      a.ws.send('{"type":"presence","status":"online"}');
      if ((await pr).type !== 'presence_ok') throw new Error('presence refused');
    });
    log(`${AGENTS} agents online`);

    // customers: acks and refusals of bench messages are counted on the fast path
    const ACK = Buffer.from('"type":"ack"');
    const CID = Buffer.from('"client_id":"c');
    const ERR = Buffer.from('"type":"error"');
    const custFast = (data) => {
      if (!cur) return false;
      const at = data.indexOf(CID);
      if (at < 0) {
        if (data.indexOf(ERR) < 0) return false;
        let code = 'unknown'; // an error without a client_id (the frame rate limit): counted, not attributed
        try { code = JSON.parse(data).code || code; } catch { /* counted as unknown */ }
        cur.errors[code] = (cur.errors[code] || 0) + 1;
        return true;
      }
      const k = seqAt(data, at + CID.length);
      if (k < 0 || k >= TOTAL) return false;
      if (data.indexOf(ACK) >= 0) {
        if (!cur.ackAt[k]) { cur.ackAt[k] = performance.now(); cur.acked++; }
      } else if (!cur.refused[k]) {
        let code = 'unknown';
        try { code = JSON.parse(data).code || code; } catch { /* counted as unknown */ }
        cur.errors[code] = (cur.errors[code] || 0) + 1;
        cur.refused[k] = 1;
        cur.refusedN++;
      }
      return true;
    };
    const chats = Array.from({ length: CHATS }, (_, i) => ({ i }));
    const t0 = Date.now();
    await pool(chats, OPEN_CONCURRENCY, async (c) => {
      const sk = await openSocket(`${wsUrl}/ws/chat`, custFast);
      socks.push(sk);
      c.tabs = [sk];
      const w = expect(sk, (f) => f.type === 'welcome' || f.type === 'error', 15000, 'welcome');
      sk.ws.send(`{"type":"hello","name":"Bench visitor ${c.i}"}`);
      const welcome = await w;
      if (welcome.type !== 'welcome') throw new Error(`hello answered ${JSON.stringify(welcome)}`);
      c.token = welcome.visitor_token;
      const a = expect(sk, (f) => f.type === 'ack' || f.type === 'error', 15000, 'ack of the first message');
      sk.ws.send(JSON.stringify({ type: 'message', client_id: `first-${c.i}`, body: `Hello, chat ${c.i} here` }));
      const ack = await a;
      if (ack.type !== 'ack') throw new Error(`first message answered ${JSON.stringify(ack)}`);
      c.conversation = ack.conversation_id;
      c.last = ack.message_id;
    });
    log(`${CHATS} chats opened with a first message (${Date.now() - t0} ms)`);
    const more = [];
    for (let t = 1; t < TABS; t++) for (const c of chats) more.push(c);
    await pool(more, OPEN_CONCURRENCY, async (c) => {
      const sk = await openSocket(`${wsUrl}/ws/chat`, custFast);
      socks.push(sk);
      c.tabs.push(sk);
      const w = expect(sk, (f) => f.type === 'welcome' || f.type === 'error', 15000, 'welcome');
      const synced = expect(sk, (f) => f.type === 'synced' || f.type === 'error', 15000, 'synced');
      sk.ws.send(JSON.stringify({ type: 'hello', visitor_token: c.token, last_message_id: c.last }));
      const welcome = await w;
      if (welcome.type !== 'welcome' || welcome.conversation_id !== c.conversation) {
        throw new Error(`a second tab's hello answered ${JSON.stringify(welcome)} (conversation ${c.conversation})`);
      }
      await synced;
    });
    log(`${CHATS * TABS} customer sockets open (${TABS} per chat; ${Date.now() - t0} ms)`);

    // every chat assigned to an agent before the clock starts
    const deadline = Date.now() + 60000;
    let assigned = 0;
    for (;;) {
      assigned = Number(sql(s, "SELECT COUNT(*) FROM tickets WHERE channel = 'chat' AND assignee_id IS NOT NULL")[0][0]);
      if (assigned >= CHATS) break;
      if (Date.now() > deadline) throw new Error(`only ${assigned} of ${CHATS} chats were assigned within 60 s`);
      await sleep(300);
    }
    const perAgent = sql(s, "SELECT MAX(n), MIN(n) FROM (SELECT COUNT(*) n FROM tickets WHERE channel = 'chat' GROUP BY assignee_id) x")[0];
    log(`all ${CHATS} chats assigned (${Date.now() - t0} ms; chats per agent max ${perAgent[0]} min ${perAgent[1]})`);
    await sleep(1000); // the assignment events reach the sockets

    // customer sockets ordered chat-first: consecutive messages go to different chats
    const order = [];
    for (let t = 0; t < TABS; t++) for (const c of chats) order.push(c.tabs[t]);
    const res = await offer(order, 'switchboard');
    res.stored = Number(sql(s, "SELECT COUNT(*) FROM messages WHERE channel = 'chat' AND body_text LIKE 'q:%'")[0][0]);
    res.server_exited = s.exited();
    const skips = s.logs().split('\n').filter((l) => l.includes('event=gap_skipped'));
    res.gap_skipped = skips.length;
    if (res.lost_acked) {
      // which events carried them, next to the tailer's skipped gaps: the evidence for BUGS-ws.md
      const bodies = res.lost_acked_sample.map((k) => `'q:${k}'`).join(',');
      const rows = sql(s, `SELECT m.body_text, m.id, e.id FROM messages m LEFT JOIN events e ON e.kind = 'message.created' ` +
        `AND e.ticket_id = m.ticket_id AND JSON_VALUE(e.payload, '$.message.id') = m.id WHERE m.body_text IN (${bodies})`);
      log(`acknowledged, never pushed (body, message id, event id): ${JSON.stringify(rows)}`);
      log(`the gateway's event tailer skipped gaps:\n${skips.join('\n')}`);
    }
    return res;
  } finally {
    closeAll(socks);
    await sleep(200);
    await s.stop().catch((e) => log('stop:', e.message));
    dropDatabase(s);
    liveServer = null;
  }
}

/* ---- the reference ---- */

async function referenceRun() {
  const port = await freePort();
  const proc = spawn(ref('ws_echo_ref'), [String(port), String(Math.ceil(WATCHDOG_MS / 1000))], { stdio: ['ignore', 'pipe', 'inherit'] });
  const killRef = () => { try { process.kill(proc.pid, 'SIGTERM'); } catch { /* gone */ } };
  process.on('exit', killRef);
  const socks = [];
  try {
    await new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('ws_echo_ref did not print ready within 5 s')), 5000);
      proc.stdout.on('data', (b) => { if (String(b).includes('ready')) { clearTimeout(timer); resolve(); } });
      proc.on('exit', (code) => { clearTimeout(timer); reject(new Error(`ws_echo_ref exited (${code})`)); });
    });
    const fast = (data) => {
      const at = data.indexOf(MARK);
      if (at < 0) return false;
      gotMessage(data, at);
      return true;
    };
    const n = CHATS * TABS;
    await pool(Array.from({ length: n }), OPEN_CONCURRENCY, async () => { socks.push(await openSocket(`ws://127.0.0.1:${port}/`, fast)); });
    log(`reference: ${n} sockets open`);
    return await offer(socks, 'reference');
  } finally {
    closeAll(socks);
    killRef();
    await new Promise((r) => { if (proc.exitCode !== null || proc.signalCode) r(); else { proc.once('exit', r); setTimeout(r, 5000); } });
    process.removeListener('exit', killRef);
  }
}

run(async () => {
  const watchdog = setTimeout(() => {
    console.error(`[ws_chat] watchdog: still running after ${WATCHDOG_MS} ms`);
    if (liveServer) { try { liveServer.proc.kill('SIGKILL'); dropDatabase(liveServer); } catch { /* best effort */ } }
    process.exit(1); // the harness kills its servers on exit, the reference is killed by its exit hook
  }, WATCHDOG_MS);
  watchdog.unref();
  log(`chats ${CHATS}, ${TABS} sockets per chat, ${AGENTS} agents, ${RATE} msgs/s for ${SECS} s`);
  const gw = await gatewayRun();
  const rf = await referenceRun();
  if (!(rf.received > 0)) throw new Error('the reference echoed nothing');
  if (gw.server_exited) throw new Error(`the gateway exited during the run: ${JSON.stringify(gw.server_exited)}`);
  const p99 = gw.latency.p99;
  emit({
    bench: 'ws_chat', unit: 'msgs/s', value: gw.per_sec, reference: rf.per_sec,
    ref_name: 'libwebsockets minimal echo server (libev), same client', ratio: ratio(gw.per_sec, rf.per_sec),
    judge: 'ratio', target: 0.5,
    also: [{ name: 'ws_chat p99 customer→agent', value: p99, unit: 'ms', target: 10, lower_is_better: true }],
    latency_ms: { switchboard: gw.latency, reference: rf.latency },
    chats: CHATS, sockets_per_chat: TABS, agents: AGENTS, offered_per_sec: RATE, seconds: SECS,
    sent: gw.sent, received: gw.received, lost: gw.lost, not_acked: gw.not_acked, refused: gw.refused, errors: gw.errors,
    acked: gw.acked, lost_acked: gw.lost_acked, stored: gw.stored, duplicates: gw.duplicates, gap_skipped: gw.gap_skipped,
    out_of_order: gw.out_of_order, ack_latency_ms: gw.ack_latency,
    reference_sent: rf.sent, reference_received: rf.received, reference_lost: rf.lost,
  });
});
