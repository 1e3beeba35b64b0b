'use strict';
// http_read.js — the HTTP API read path (issue 13): `wrk` with keep-alive connections
// asking GET /api/v1/tickets/{id} (a bearer session, a ticket with messages: the first read
// on a db pool thread — session, scope and three queries — then answered by the net thread
// from its read cache, gateway/read_cache.h, until a change drops it) against the same
// `wrk` asking nginx for a static file of the same size, one right after the other.
// Neither writes an access log line per request (nginx: access_log off; the gateway:
// [log] access = no); with one, the gateway's rate here is about half (bench/RESULTS.md).
// Target: the gateway's req/s ≥ 0.5 × nginx's.
// nginx is a private instance under var/bench/ (worker_processes auto, access log off,
// as a site serving static files would run it), stopped by its PID.
// Sizes: BENCH_HTTP_SECS (smoke 1, quick 3, full 8), BENCH_HTTP_CONNS (32).
const fs = require('node:fs');
const path = require('node:path');
const { spawn, execFile } = require('node:child_process');
const { startServer, bootstrapAdmin, sql, dropDatabase, freePort, sleep, api } = require('../tests/system/harness');
const { ROOT, pick, emit, ratio, run } = require('./lib');

const SECS = pick({ smoke: 1, quick: 3, full: 8 }, 'BENCH_HTTP_SECS');
const CONNS = pick({ smoke: 8, quick: 32, full: 32 }, 'BENCH_HTTP_CONNS');

/** Runs wrk; resolves {rps, latency {p50, p90, p99}, requests, errors}. Asynchronously: the
 * gateway's log goes through a pipe to this process, and a blocked reader would stall it. */
async function wrk(url, headers) {
  const args = ['-t1', `-c${CONNS}`, `-d${SECS}s`, '--latency', '--timeout', '5s'];
  for (const h of headers) args.push('-H', h);
  const out = await new Promise((resolve, reject) => {
    execFile('wrk', [...args, url], { encoding: 'utf8', timeout: (SECS + 30) * 1000 }, (e, stdout) => (e ? reject(e) : resolve(stdout)));
  });
  const num = (re) => { const m = re.exec(out); return m ? Number(m[1]) : NaN; };
  const ms = (pct) => {
    const m = new RegExp(`^\\s+${pct}%\\s+([\\d.]+)(us|ms|s)`, 'm').exec(out);
    if (!m) return null;
    return Number(m[1]) * ({ us: 0.001, ms: 1, s: 1000 })[m[2]];
  };
  const non2xx = num(/Non-2xx or 3xx responses: (\d+)/);
  const sockErr = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out);
  return {
    rps: num(/Requests\/sec:\s+([\d.]+)/),
    requests: num(/(\d+) requests in/),
    errors: (Number.isNaN(non2xx) ? 0 : non2xx) + (sockErr ? sockErr.slice(1).reduce((a, b) => a + Number(b), 0) : 0),
    latency: { p50: ms(50), p90: ms(90), p99: ms(99) },
  };
}

async function startNginx(body) {
  const dir = path.join(ROOT, 'var', 'bench', `nginx-${process.pid}`);
  fs.mkdirSync(path.join(dir, 'html'), { recursive: true });
  fs.writeFileSync(path.join(dir, 'html', 'ticket.json'), body);
  const port = await freePort();
  fs.writeFileSync(path.join(dir, 'nginx.conf'), `daemon off;
worker_processes auto;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log warn;
events { worker_connections 1024; }
http {
  access_log off;
  client_body_temp_path ${dir}/tmp; proxy_temp_path ${dir}/tmp; fastcgi_temp_path ${dir}/tmp;
  uwsgi_temp_path ${dir}/tmp; scgi_temp_path ${dir}/tmp;
  sendfile on; tcp_nopush on; keepalive_requests 1000000;
  default_type application/json;
  server { listen 127.0.0.1:${port}; root ${dir}/html; }
}
`);
  const proc = spawn('nginx', ['-c', path.join(dir, 'nginx.conf'), '-p', dir], { stdio: ['ignore', 'ignore', 'inherit'] });
  const url = `http://127.0.0.1:${port}/ticket.json`;
  for (let i = 0; i < 100; i++) {
    try { if ((await fetch(url)).ok) return { proc, url, dir }; } catch { /* starting */ }
    await sleep(50);
  }
  proc.kill('SIGKILL');
  throw new Error('nginx did not start');
}

run(async () => {
  const s = await startServer({ env: { SWITCHBOARD_ROUTING_ENABLED: 'no', SWITCHBOARD_LOG_ACCESS: 'no', SWITCHBOARD_SERVER_READ_CACHE_MS: '1000' } });
  let ngx;
  try {
    const { token } = await bootstrapAdmin(s);
    sql(s, "INSERT INTO customers (name) VALUES ('张三 bench')");
    const [[customer]] = sql(s, 'SELECT MAX(id) FROM customers');
    sql(s, `INSERT INTO tickets (customer_id, channel, subject) VALUES (${customer}, 'email', '发票问题 invoice question')`);
    const [[ticket]] = sql(s, 'SELECT MAX(id) FROM tickets');
    sql(s, 'INSERT INTO messages (ticket_id, customer_id, direction, channel, author_type, body_text) VALUES ' +
      Array.from({ length: 4 }, (_, i) => `(${ticket}, ${customer}, '${i % 2 ? 'out' : 'in'}', 'email', ` +
        `'${i % 2 ? 'agent' : 'customer'}', '您好，关于上个月的发票 message ${i}')`).join(','));
    const path1 = `/api/v1/tickets/${ticket}`;
    const first = await api(s, token).get(path1);
    if (first.status !== 200 || !first.json.messages || first.json.messages.length !== 4) {
      throw new Error(`GET ${path1}: ${first.status} ${first.text}`);
    }
    const gw = await wrk(`${s.url}${path1}`, [`Authorization: Bearer ${token}`]);
    const metrics = await (await fetch(`${s.url}/metrics`)).text();
    const hitsM = /^switchboard_read_cache_hits_total (\d+)$/m.exec(metrics);
    await s.stop();
    ngx = await startNginx(first.text);
    const ref = await wrk(ngx.url, []);
    if (!(gw.rps > 0) || !(ref.rps > 0)) throw new Error(`wrk measured nothing: ${JSON.stringify({ gw, ref })}`);
    if (gw.errors) throw new Error(`${gw.errors} of the gateway's answers were errors`);
    emit({
      bench: 'http_read', unit: 'req/s', value: Math.round(gw.rps), reference: Math.round(ref.rps),
      ref_name: 'nginx, a static file of the same size', ratio: ratio(gw.rps, ref.rps), judge: 'ratio', target: 0.5,
      latency_ms: { switchboard: gw.latency, reference: ref.latency },
      seconds: SECS, connections: CONNS, body_bytes: Buffer.byteLength(first.text), requests: gw.requests,
      cache_hits: hitsM ? Number(hitsM[1]) : null,
    });
  } finally {
    if (ngx) {
      ngx.proc.kill('SIGQUIT');
      await new Promise((r) => { if (ngx.proc.exitCode !== null) r(); else { ngx.proc.once('exit', r); setTimeout(r, 5000); } });
      fs.rmSync(ngx.dir, { recursive: true, force: true });
    }
    await s.stop().catch(() => {});
    dropDatabase(s);
  }
});
