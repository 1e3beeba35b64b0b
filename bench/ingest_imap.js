'use strict';
// ingest_imap.js — e-mail ingest throughput (issue 5: at least 500 messages/s from one
// mailbox into tickets). N small messages dropped into a fresh Dovecot mailbox; a gateway
// with that mailbox starts; how fast are they all tickets (parsed, stored, flagged \Seen)?
// Prints one JSON line (bench/README.md): msgs/s, target ≥ 500. Its own mailbox bench@example.com.
const fs = require('node:fs');
const path = require('node:path');
const { execFileSync } = require('node:child_process');
const { startServer, sql, dropDatabase, sleep, readDevEnv } = require('../tests/system/harness');
const { pick, emit } = require('./lib');

(async () => {
  const N = pick({ smoke: 50, quick: 500, full: 2000 }, 'BENCH_MESSAGES');
  const dev = readDevEnv();
  const conf = dev.SWITCHBOARD_DEV_DOVECOT_CONF;
  const user = 'bench@example.com'; // its own mailbox: the smoke run may overlap email_in.test.js
  execFileSync('doveadm', ['-c', conf, 'expunge', '-u', user, 'mailbox', 'INBOX', 'all']);
  const home = path.join(path.dirname(conf), 'mail', user);
  const owner = fs.statSync(path.dirname(home));
  for (const d of ['new', 'cur', 'tmp']) fs.mkdirSync(path.join(home, d), { recursive: true });
  for (let i = 0; i < N; i++) {
    fs.writeFileSync(path.join(home, 'new', `${Date.now()}.bench${i}.sb`),
      `From: Customer ${i % 300} <c${i % 300}@bench.example>\r\nTo: ${user}\r\nSubject: order ${i} 订单\r\n` +
      `Message-ID: <bench-${i}-${Date.now()}@bench.example>\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n` +
      `Hello, where is my order ${i}? 你好，我的订单在哪里？\r\n`);
  }
  for (const d of ['', 'new', 'cur', 'tmp']) fs.chownSync(path.join(home, d), owner.uid, owner.gid);
  for (const f of fs.readdirSync(path.join(home, 'new'))) fs.chownSync(path.join(home, 'new', f), owner.uid, owner.gid);
  const s = await startServer({ env: { SWITCHBOARD_MAILBOX_BENCH_HOST: '127.0.0.1', SWITCHBOARD_MAILBOX_BENCH_PORT: dev.SWITCHBOARD_DEV_IMAP_PORT,
    SWITCHBOARD_MAILBOX_BENCH_TLS: 'none', SWITCHBOARD_MAILBOX_BENCH_USER: user, SWITCHBOARD_MAILBOX_BENCH_PASSWORD: 'bench-pass' } });
  // timed by the database's clock, from now (or the first message stored, when the first
  // poll stored some before this reading) to the last, polling seldom (a busy poller steals
  // the CPU it measures); the first one includes the fetch
  const [[start]] = sql(s, 'SELECT NOW(6)');
  const t0 = Date.now();
  let n = 0;
  while (n < N && Date.now() - t0 < 120000) {
    await sleep(500);
    n = Number(sql(s, "SELECT COUNT(*) FROM messages WHERE direction = 'in'")[0][0]);
  }
  const secs = Number(sql(s, `SELECT TIMESTAMPDIFF(MICROSECOND, LEAST('${start}', MIN(created_at)), MAX(created_at)) / 1e6
    FROM messages`)[0][0]) || 0.001; // all in one millisecond: as fast as it can be told
  await s.stop();
  dropDatabase(s);
  execFileSync('doveadm', ['-c', conf, 'expunge', '-u', user, 'mailbox', 'INBOX', 'all']);
  if (n !== N) throw new Error(`ingested ${n} of ${N}`);
  emit({ bench: 'email_ingest', unit: 'msgs/s', value: Math.round(n / secs), judge: 'value', target: 500, messages: n, secs });
})().catch((e) => { console.error(e); process.exit(1); });
