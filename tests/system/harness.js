'use strict';
// harness.js — starts the real ./switchboard binary for node:test system tests.
//
// Owns: one fresh database per server (sbtest_<hex>, created by `switchboard migrate`),
// a free loopback port per server, the server's log (in memory and in
// var/test-logs/<db>.log), and the guarantee that no server outlives the test process
// (every spawned server is SIGKILLed on exit, even when a test throws).
//
// Needs the private services from `scripts/dev-services start` (read from
// var/dev-services.env). Contract with the binary:
//   switchboard -c /dev/null migrate        creates the database if missing, applies
//                                           migrations, exits 0
//   switchboard -c /dev/null serve          serves until SIGTERM, then exits 0
//   switchboard -c /dev/null agent add --email E --name N --role R --password-stdin
//   configuration from SWITCHBOARD_<SECTION>_<KEY> environment variables;
//   GET /healthz answers 200 once the server listens.
//
// Environment: SWITCHBOARD_BIN (the binary; default ./switchboard). SWITCHBOARD_SANITIZED=1
// (set by `make asan`): start-up and shutdown get longer deadlines, and any sanitizer
// report in a server's log or a CLI run's stderr is an error (stop()/kill9() throw,
// runCli and the harness's own CLI calls throw), so a report can never pass unnoticed.

const { spawn, spawnSync } = require('node:child_process');
const crypto = require('node:crypto');
const fs = require('node:fs');
const net = require('node:net');
const path = require('node:path');

const ROOT = path.resolve(__dirname, '..', '..');
const BIN = process.env.SWITCHBOARD_BIN || path.join(ROOT, 'switchboard');
const DEV_ENV_FILE = path.join(ROOT, 'var', 'dev-services.env');
const LOG_DIR = path.join(ROOT, 'var', 'test-logs');
const ADMIN = { email: 'admin@example.com', name: 'Admin', role: 'admin', password: 'admin-pass-123' };

const live = new Set(); // child processes not yet seen to exit

const SANITIZED = process.env.SWITCHBOARD_SANITIZED === '1';
const READY_MS = SANITIZED ? 60000 : 15000;
const STOP_MS = SANITIZED ? 45000 : 15000;
const SANITIZER_RE = /ERROR: AddressSanitizer|ERROR: LeakSanitizer|runtime error:|WARNING: ThreadSanitizer|SUMMARY: (Address|Leak|Undefined)/;

/** The sanitizer report in text (with some context), or null. Only under SWITCHBOARD_SANITIZED=1. */
function sanitizerReport(text) {
  if (!SANITIZED || !text) return null;
  const m = SANITIZER_RE.exec(text);
  if (!m) return null;
  return text.slice(Math.max(0, m.index - 500), m.index + 6000);
}

/** Throws when a CLI run (spawnSync result) printed a sanitizer report. */
function checkCliSanitizer(what, r) {
  const rep = sanitizerReport(`${r.stdout || ''}${r.stderr || ''}`);
  if (rep) throw new Error(`sanitizer report from ${what}:\n${rep}`);
}

function killLeftovers() {
  for (const proc of live) {
    try { process.kill(proc.pid, 'SIGKILL'); } catch { /* already gone */ }
  }
  live.clear();
}
process.on('exit', killLeftovers);
// A signal would skip 'exit': clean up, then die of the same signal.
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.once(sig, () => { killLeftovers(); process.kill(process.pid, sig); });
}

/**
 * KEY=VALUE lines of var/dev-services.env as an object; with devVar, of
 * <devVar>/dev-services.env (an instance started with SWITCHBOARD_DEV_VAR=devVar).
 */
function readDevEnv(devVar) {
  const file = devVar ? path.join(path.resolve(ROOT, devVar), 'dev-services.env') : DEV_ENV_FILE;
  let text;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch {
    throw new Error(`${file} is missing: run \`scripts/dev-services start\` first`);
  }
  const env = {};
  for (const line of text.split('\n')) {
    const m = /^\s*([A-Za-z_][A-Za-z0-9_]*)=(.*)$/.exec(line);
    if (m) env[m[1]] = m[2];
  }
  const sock = env.SWITCHBOARD_DATABASE_SOCKET;
  if (sock && !fs.existsSync(sock)) {
    throw new Error(`MariaDB socket ${sock} is missing: run \`scripts/dev-services start\``);
  }
  return env;
}

/** A TCP port that was free a moment ago on 127.0.0.1. */
function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

/** n different free ports at once (separate freePort() calls may hand out the same one). */
async function freePorts(n) {
  const servers = [];
  try {
    for (let i = 0; i < n; i++) {
      servers.push(await new Promise((resolve, reject) => {
        const srv = net.createServer();
        srv.unref();
        srv.on('error', reject);
        srv.listen(0, '127.0.0.1', () => resolve(srv));
      }));
    }
    return servers.map((s) => s.address().port);
  } finally {
    await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
  }
}

function checkBinary() {
  if (!fs.existsSync(BIN)) throw new Error(`${BIN} is missing: run \`make\` first`);
}

function describeRun(what, r) {
  const out = `${r.stdout || ''}${r.stderr || ''}`.trim();
  const how = r.error ? r.error.message : r.signal ? `signal ${r.signal}` : `exit ${r.status}`;
  return `${what} failed (${how})${out ? `:\n${out}` : ''}`;
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/**
 * Migrates a fresh database and starts `switchboard serve` on a free port.
 * opts: dbName, port, env (extra/overriding variables), migrate (false to skip),
 *       devVar (services of `SWITCHBOARD_DEV_VAR=devVar scripts/dev-services`; default var/),
 *       args (extra arguments after `serve`), config (default /dev/null),
 *       readyTimeoutMs (15000; 60000 sanitized), stopTimeoutMs (15000; 45000 sanitized, then SIGKILL).
 * Resolves once GET /healthz answers 200; rejects with the server's log otherwise.
 */
async function startServer(opts = {}) {
  checkBinary();
  const devEnv = readDevEnv(opts.devVar);
  const port = opts.port || await freePort();
  const dbName = opts.dbName || `sbtest_${crypto.randomBytes(4).toString('hex')}`;
  const url = `http://127.0.0.1:${port}`;
  const config = opts.config || '/dev/null';
  const env = {
    ...process.env,
    ...devEnv,
    SWITCHBOARD_DATABASE_NAME: dbName,
    SWITCHBOARD_SERVER_LISTEN: `127.0.0.1:${port}`,
    SWITCHBOARD_SERVER_PUBLIC_URL: url,
    SWITCHBOARD_DATABASE_POOL_SIZE: '4',
    ...(opts.env || {}),
  };

  if (opts.migrate !== false) {
    const r = spawnSync(BIN, ['-c', config, 'migrate'], { cwd: ROOT, env, encoding: 'utf8', timeout: 60000 });
    if (r.status !== 0) throw new Error(describeRun(`switchboard migrate (db ${dbName})`, r));
    checkCliSanitizer(`switchboard migrate (db ${dbName})`, r);
  }

  fs.mkdirSync(LOG_DIR, { recursive: true });
  const logFile = path.join(LOG_DIR, `${dbName}.log`);
  const logStream = fs.createWriteStream(logFile, { flags: 'a' });
  const chunks = [];
  const proc = spawn(BIN, ['-c', config, 'serve', ...(opts.args || [])], {
    cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'],
  });
  live.add(proc);
  const onData = (buf) => { chunks.push(buf); logStream.write(buf); };
  proc.stdout.on('data', onData);
  proc.stderr.on('data', onData);

  let exitResult = null;
  const exited = new Promise((resolve) => {
    proc.on('exit', (code, signal) => {
      exitResult = { code, signal };
      live.delete(proc);
    });
    // 'close' comes after the pipes drained, so logs() is complete when stop() resolves.
    proc.on('close', () => { logStream.end(); resolve(exitResult); });
    proc.on('error', (err) => {
      exitResult = { code: null, signal: null, error: err };
      live.delete(proc);
      logStream.end();
      resolve(exitResult);
    });
  });

  // A server a test forgot to stop must not keep the test file alive; it is killed at
  // exit. While someone waits for it to exit, it holds the event loop again.
  const hold = (on) => {
    for (const h of [proc, proc.stdout, proc.stderr]) {
      if (h && typeof h.ref === 'function') (on ? h.ref() : h.unref());
    }
  };
  hold(false);
  const waitExit = async () => { hold(true); try { return await exited; } finally { hold(false); } };

  const logs = () => Buffer.concat(chunks).toString('utf8');
  let sanitizerReported = false;
  /** Throws once per server when its log holds a sanitizer report (SWITCHBOARD_SANITIZED=1). */
  const checkSanitizer = () => {
    if (sanitizerReported) return;
    const rep = sanitizerReport(logs());
    if (rep) {
      sanitizerReported = true;
      throw new Error(`sanitizer report in switchboard serve (db ${dbName}, log ${logFile}):\n${rep}`);
    }
  };

  const server = {
    url, port, dbName, env, proc, logFile,
    logs,
    /** Sends `signal`, waits for exit; SIGKILL after stopTimeoutMs (result has timedOut). */
    // Under SWITCHBOARD_SANITIZED=1 both throw (once) when the log holds a sanitizer report.
    async stop(signal = 'SIGTERM') {
      if (exitResult) {
        const done = await waitExit();
        checkSanitizer();
        return done;
      }
      try { proc.kill(signal); } catch { /* gone */ }
      const limit = opts.stopTimeoutMs || STOP_MS;
      let timer;
      const timeout = new Promise((r) => { timer = setTimeout(() => r('timeout'), limit); });
      const first = await Promise.race([waitExit(), timeout]);
      clearTimeout(timer);
      if (first !== 'timeout') {
        checkSanitizer();
        return first;
      }
      try { proc.kill('SIGKILL'); } catch { /* gone */ }
      const killed = { ...(await waitExit()), timedOut: true };
      checkSanitizer();
      return killed;
    },
    /** SIGKILL at once; resolves with {code, signal} when the process is gone. */
    async kill9() {
      if (!exitResult) { try { proc.kill('SIGKILL'); } catch { /* gone */ } }
      const done = await waitExit();
      checkSanitizer();
      return done;
    },
    exited: () => exitResult,
  };

  const readyMs = opts.readyTimeoutMs || READY_MS;
  const deadline = Date.now() + readyMs;
  let lastErr = 'no answer';
  hold(true);
  try {
    for (;;) {
      if (exitResult) {
        await exited;
        throw new Error(`switchboard serve exited during start-up (${JSON.stringify(exitResult)}); log ${logFile}:\n${logs()}`);
      }
      try {
        const res = await fetch(`${url}/healthz`, { signal: AbortSignal.timeout(1000) });
        await res.arrayBuffer();
        if (res.status === 200) break;
        lastErr = `status ${res.status}`;
      } catch (err) {
        lastErr = err.cause ? err.cause.code || err.cause.message : err.message;
      }
      if (Date.now() > deadline) {
        await server.kill9();
        throw new Error(`switchboard serve not healthy at ${url}/healthz after ${readyMs} ms (${lastErr}); log ${logFile}:\n${logs()}`);
      }
      await sleep(50);
    }
  } finally {
    hold(false);
  }
  return server;
}

/**
 * Small fetch wrapper bound to a server. Methods: get/post/patch/put/del(path, body?, opts)
 * where opts = {headers, redirect}. Objects are sent as JSON; strings/Buffers as given.
 * Resolves {status, headers, json, text}; json is undefined when the body is not JSON.
 */
function api(server, token) {
  const call = async (method, p, body, opts = {}) => {
    const headers = { ...(opts.headers || {}) };
    const lower = Object.fromEntries(Object.keys(headers).map((k) => [k.toLowerCase(), k]));
    if (token && !lower.authorization) headers.Authorization = `Bearer ${token}`;
    let payload;
    if (body !== undefined && body !== null) {
      if (typeof body === 'string' || Buffer.isBuffer(body) || body instanceof Uint8Array) {
        payload = body;
      } else {
        payload = JSON.stringify(body);
        if (!lower['content-type']) headers['Content-Type'] = 'application/json';
      }
    }
    const target = /^https?:\/\//.test(p) ? p : `${server.url}${p.startsWith('/') ? '' : '/'}${p}`;
    const res = await fetch(target, { method, headers, body: payload, redirect: opts.redirect || 'manual' });
    const text = await res.text();
    let json;
    try { json = text === '' ? undefined : JSON.parse(text); } catch { json = undefined; }
    return { status: res.status, headers: res.headers, json, text };
  };
  return {
    get: (p, body, opts) => call('GET', p, body, opts),
    post: (p, body, opts) => call('POST', p, body, opts),
    patch: (p, body, opts) => call('PATCH', p, body, opts),
    put: (p, body, opts) => call('PUT', p, body, opts),
    del: (p, body, opts) => call('DELETE', p, body, opts),
  };
}

/**
 * Creates an agent with the CLI and logs it in. Defaults to admin@example.com /
 * admin-pass-123 / role admin; opts {email, name, role, password} override.
 * Resolves {token, agent, password}.
 */
async function bootstrapAdmin(server, opts = {}) {
  const a = { ...ADMIN, ...opts };
  const r = spawnSync(BIN, ['-c', '/dev/null', 'agent', 'add', '--email', a.email, '--name', a.name,
    '--role', a.role, '--password-stdin'], {
    cwd: ROOT, env: server.env, input: `${a.password}\n`, encoding: 'utf8', timeout: 30000,
  });
  if (r.status !== 0) throw new Error(describeRun(`switchboard agent add ${a.email}`, r));
  checkCliSanitizer(`switchboard agent add ${a.email}`, r);
  const res = await api(server).post('/api/v1/auth/login', { email: a.email, password: a.password });
  if (res.status !== 200 || !res.json || !res.json.token) {
    throw new Error(`login as ${a.email} failed: ${res.status} ${res.text}`);
  }
  return { token: res.json.token, agent: res.json.agent, password: a.password };
}

function mariadbArgs(server, db) {
  const env = server && server.env ? server.env : readDevEnv();
  const args = ['--no-defaults', `--user=${env.SWITCHBOARD_DATABASE_USER || 'switchboard'}`,
    `--password=${env.SWITCHBOARD_DATABASE_PASSWORD || 'switchboard'}`,
    '--default-character-set=utf8mb4', '-N', '-B'];
  if (env.SWITCHBOARD_DATABASE_SOCKET) args.push(`--socket=${env.SWITCHBOARD_DATABASE_SOCKET}`);
  else args.push('--protocol=tcp', `--host=${env.SWITCHBOARD_DATABASE_HOST}`, `--port=${env.SWITCHBOARD_DATABASE_PORT}`);
  if (db) args.push(`--database=${db}`);
  return args;
}

// Undoes the mariadb client's batch-mode escaping (\\ \t \n \0).
function unescapeField(f) {
  if (f === 'NULL') return null;
  return f.replace(/\\(.)/g, (_, c) => ({ t: '\t', n: '\n', 0: '\0', '\\': '\\' }[c] ?? c));
}

/**
 * Runs SQL (one or more statements, via stdin) in the server's database and returns the
 * rows (of every result set, in order) as arrays of strings; SQL NULL becomes null. Synchronous (so
 * `await sql(...)` also works). opts.db overrides the database (null: none).
 */
function sql(server, query, opts = {}) {
  const db = opts.db !== undefined ? opts.db : server && server.dbName;
  const r = spawnSync('mariadb', mariadbArgs(server, db), { input: query, encoding: 'utf8', timeout: 60000 });
  if (r.status !== 0) throw new Error(describeRun(`mariadb: ${query}`, r));
  const out = r.stdout.replace(/\n$/, '');
  if (out === '') return [];
  return out.split('\n').map((line) => line.split('\t').map(unescapeField));
}

/** Drops the server's database (or opts.dbName). Synchronous, like sql(). */
function dropDatabase(server, dbName = server.dbName) {
  if (!/^[A-Za-z0-9_]+$/.test(dbName)) throw new Error(`refusing to drop odd database name ${dbName}`);
  sql(server, `DROP DATABASE IF EXISTS \`${dbName}\``, { db: null });
}

/** POST /api/v1/auth/login; resolves {token, agent} or throws with the answer. */
async function login(server, email, password) {
  const res = await api(server).post('/api/v1/auth/login', { email, password });
  if (res.status !== 200 || !res.json || !res.json.token) {
    throw new Error(`login as ${email} failed: ${res.status} ${res.text}`);
  }
  return { token: res.json.token, agent: res.json.agent };
}

let agentSeq = 0;
/**
 * Creates an agent through POST /api/v1/agents (as adminToken) and logs it in.
 * opts: role (default 'agent'), email, name, password, team_id, and any other body keys.
 * Resolves {id, token, agent, password, email}.
 */
async function createAgent(server, adminToken, opts = {}) {
  agentSeq += 1;
  const body = {
    email: `agent${agentSeq}-${crypto.randomBytes(3).toString('hex')}@example.com`,
    name: `Agent ${agentSeq}`,
    role: 'agent',
    password: `pw-${crypto.randomBytes(8).toString('hex')}`,
    ...opts,
  };
  const res = await api(server, adminToken).post('/api/v1/agents', body);
  if (res.status !== 201 || !res.json || !res.json.id) {
    throw new Error(`POST /api/v1/agents ${JSON.stringify(body)} failed: ${res.status} ${res.text}`);
  }
  const { token, agent } = await login(server, body.email, body.password);
  return { id: res.json.id, token, agent, password: body.password, email: body.email };
}

/** Row counts of the named tables, as numbers: {customers: 3, audit_log: 1, ...}. */
function counts(server, tables = ['customers', 'customer_identities', 'customer_tags', 'tags', 'tickets',
  'messages', 'agents', 'teams', 'audit_log', 'events', 'outbox']) {
  const q = tables.map((t) => `SELECT '${t}', COUNT(*) FROM \`${t}\`;`).join('\n');
  return Object.fromEntries(sql(server, q).map(([t, n]) => [t, Number(n)]));
}

/**
 * Runs `switchboard ARGS...` synchronously (cwd = repository root).
 * opts: env (whole environment; default process.env), input (stdin), timeout (ms; doubled
 * when sanitized). Returns the spawnSync result ({status, stdout, stderr, signal, error});
 * throws on a sanitizer report (SWITCHBOARD_SANITIZED=1).
 */
function runCli(args, opts = {}) {
  checkBinary();
  const r = spawnSync(BIN, args, {
    cwd: ROOT, env: opts.env || process.env, input: opts.input, encoding: 'utf8',
    timeout: (opts.timeout || 30000) * (SANITIZED ? 2 : 1),
  });
  checkCliSanitizer(`switchboard ${args.join(' ')}`, r);
  return r;
}

/**
 * Runs scripts/dev-services CMD with SWITCHBOARD_DEV_VAR=devVar (and SWITCHBOARD_DEV_DB_PORT
 * when port is given). Throws with its output when it fails (status exits 3 when stopped:
 * pass allowFail to get the result instead).
 */
function devServices(cmd, { devVar, port, allowFail = false, services = ['mariadb'] } = {}) {
  const env = { ...process.env };
  if (devVar) env.SWITCHBOARD_DEV_VAR = path.resolve(ROOT, devVar);
  if (port) env.SWITCHBOARD_DEV_DB_PORT = String(port);
  const r = spawnSync(path.join(ROOT, 'scripts', 'dev-services'), [cmd, ...services], {
    cwd: ROOT, env, encoding: 'utf8', timeout: 120000,
  });
  if (r.status !== 0 && !allowFail) throw new Error(describeRun(`scripts/dev-services ${cmd} (${devVar || 'var'})`, r));
  return r;
}

/**
 * Asserts that res (from api()) is an error answer in the contract's format:
 * status `status` and body {"error":{"code":string,"message":string,...}}; with `code`,
 * error.code must equal it. Returns res.json.error.
 */
function expectError(res, status, code) {
  const assert = require('node:assert/strict');
  const what = `answer ${res.status} ${res.text.slice(0, 500)}`;
  assert.equal(res.status, status, what);
  assert.ok(res.json && typeof res.json.error === 'object' && res.json.error !== null, `no error object: ${what}`);
  assert.equal(typeof res.json.error.code, 'string', `error.code: ${what}`);
  assert.equal(typeof res.json.error.message, 'string', `error.message: ${what}`);
  assert.match(res.headers.get('content-type') || '', /application\/json/, `content-type: ${what}`);
  if (code !== undefined) assert.equal(res.json.error.code, code, `error.code: ${what}`);
  return res.json.error;
}

/**
 * Polls fn (sync or async) every step ms until it returns something truthy and resolves
 * that value; throws naming `what` after ms. For waiting on the server, never for timing it.
 */
async function until(fn, ms, what = 'a condition', step = 25) {
  for (let waited = 0; waited < ms; waited += step) {
    const v = await fn();
    if (v) return v;
    await sleep(step);
  }
  throw new Error(`timed out (${ms} ms) waiting for ${what}`);
}

module.exports = {
  until, freePorts,
  ROOT, BIN, ADMIN, SANITIZED, expectError,
  startServer, bootstrapAdmin, api, sql, dropDatabase, readDevEnv, freePort,
  login, createAgent, counts, runCli, devServices, sleep,
};
