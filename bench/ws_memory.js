'use strict';
// ws_memory.js — memory of idle chat sockets (issue: RSS with 10,000 idle chat sockets
// ≤ 100 MB). Starts a gateway, reads its VmRSS, opens N /ws/chat sockets that each
// complete the handshake and hello → welcome (a new visitor each, as a widget on a page
// does), lets it settle, and reads VmRSS again. Judged: the RSS with the sockets open.
//
// File descriptors: node holds N client sockets and the gateway (which inherits node's
// limits and raises its soft limit to the hard one) N server sockets. Node itself raises its
// soft limit to the hard one at start-up; should the soft limit (as a child sees it) still be
// too low for N, the script re-executes itself under `ulimit -Sn` (up to the hard limit).
// A hard limit below N is an error: only root can raise it.
//
// Sizes: BENCH_WS_SOCKETS (smoke 200, quick 2000, full 10000).
const path = require('node:path');
const fs = require('node:fs');
const { execFileSync, spawnSync } = require('node:child_process');
const { ROOT, pick, emit, run } = require('./lib');

const N = pick({ smoke: 200, quick: 2000, full: 10000 }, 'BENCH_WS_SOCKETS');
const NEED_FDS = N + 1024;
const OPEN_CONCURRENCY = 200; // connects in flight: the listen backlog never overflows
const SETTLE_MS = 2000;
const WATCHDOG_MS = pick({ smoke: 60000, quick: 90000, full: 170000 });
const log = (...a) => console.error('[ws_memory]', ...a);

/* ---- enough file descriptors, or a re-exec under a raised soft limit ---- */
{
  const [soft, hard] = execFileSync('bash', ['-c', 'ulimit -Sn; ulimit -Hn'], { encoding: 'utf8' })
    .trim().split('\n').map((v) => (v === 'unlimited' ? Infinity : Number(v)));
  if (soft < NEED_FDS) {
    if (hard < NEED_FDS || process.env.WS_MEMORY_REEXEC) {
      console.error(`[ws_memory] ${N} sockets need about ${NEED_FDS} file descriptors; the limit is soft ${soft}, hard ${hard}: ` +
        'raise the hard limit (ulimit -Hn, as root) or set BENCH_WS_SOCKETS lower');
      process.exit(1);
    }
    const want = Math.min(hard, 65536);
    log(`soft fd limit ${soft} < ${NEED_FDS}: re-running under ulimit -Sn ${want}`);
    const r = spawnSync('bash', ['-c', `ulimit -Sn ${want} && exec "$0" "$@"`, process.execPath, __filename],
      { stdio: 'inherit', env: { ...process.env, WS_MEMORY_REEXEC: '1' } });
    process.exit(r.status === null ? 1 : r.status);
  }
}

const { startServer, dropDatabase, sleep } = require('../tests/system/harness');
const WebSocket = require(path.join(ROOT, 'tests', 'node_modules', 'ws'));

/** VmRSS (or another field) of a process from /proc, in kB. */
function procKb(pid, field = 'VmRSS') {
  const m = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
  if (!m) throw new Error(`no ${field} in /proc/${pid}/status`);
  return Number(m[1]);
}

/** Opens a /ws/chat socket and completes hello → welcome; resolves the ws. */
function idleChat(url, counts) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { perMessageDeflate: false, handshakeTimeout: 15000 });
    const timer = setTimeout(() => { ws.terminate(); reject(new Error('no welcome within 15 s')); }, 15000);
    ws.once('open', () => ws.send('{"type":"hello"}'));
    ws.on('message', (data) => {
      let f;
      try { f = JSON.parse(data); } catch { f = {}; }
      if (f.type === 'welcome') { clearTimeout(timer); resolve(ws); } else if (f.type === 'error') {
        clearTimeout(timer);
        reject(new Error(`hello answered ${String(data)}`));
      }
    });
    ws.on('error', (err) => { clearTimeout(timer); reject(err); });
    ws.on('close', () => { counts.closed++; });
  });
}

run(async () => {
  let s = null;
  const watchdog = setTimeout(() => {
    console.error(`[ws_memory] watchdog: still running after ${WATCHDOG_MS} ms`);
    if (s) { try { s.proc.kill('SIGKILL'); dropDatabase(s); } catch { /* best effort */ } }
    process.exit(1); // the harness kills its servers on exit
  }, WATCHDOG_MS);
  watchdog.unref();
  s = await startServer({ env: { SWITCHBOARD_KB_AUTO_ANSWER: 'no', SWITCHBOARD_CRM_INTERVAL_SECS: '86400' } });
  const socks = [];
  try {
    const pid = s.proc.pid;
    const url = `${s.url.replace(/^http/, 'ws')}/ws/chat`;
    const counts = { closed: 0 };
    // warm up: one visitor end to end (pool connections, lws tables, the first allocations)
    socks.push(await idleChat(url, counts));
    await sleep(SETTLE_MS);
    const idleKb = procKb(pid);
    log(`gateway pid ${pid}: VmRSS ${(idleKb / 1024).toFixed(1)} MB with 1 chat socket`);
    const t0 = Date.now();
    let next = 0;
    const worker = async () => {
      while (next < N) {
        next++;
        socks.push(await idleChat(url, counts));
      }
    };
    await Promise.all(Array.from({ length: Math.min(OPEN_CONCURRENCY, N) }, worker));
    const openMs = Date.now() - t0;
    log(`${N} more chat sockets open and welcomed in ${openMs} ms`);
    await sleep(SETTLE_MS);
    if (counts.closed) throw new Error(`${counts.closed} chat sockets were closed by the gateway while idle`);
    if (s.exited()) throw new Error(`the gateway exited: ${JSON.stringify(s.exited())}`);
    const rssKb = procKb(pid);
    const hwmKb = procKb(pid, 'VmHWM');
    const nodeKb = procKb(process.pid);
    log(`VmRSS ${(rssKb / 1024).toFixed(1)} MB (peak ${(hwmKb / 1024).toFixed(1)} MB); node ${(nodeKb / 1024).toFixed(1)} MB`);
    const mb = (kb) => Math.round((kb / 1024) * 10) / 10;
    emit({
      bench: 'ws_memory', unit: 'MB', value: mb(rssKb), judge: 'value', target: 100, lower_is_better: true,
      sockets: N, rss_idle_MB: mb(idleKb), per_socket_kB: Math.round(((rssKb - idleKb) / N) * 100) / 100,
      rss_peak_MB: mb(hwmKb), open_ms: openMs,
    });
  } finally {
    for (const w of socks) { try { w.terminate(); } catch { /* gone */ } }
    await sleep(200);
    await s.stop().catch((e) => log('stop:', e.message));
    dropDatabase(s);
  }
});
