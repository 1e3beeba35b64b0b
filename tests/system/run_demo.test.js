'use strict';
// run_demo.test.js — what `make run` does after building (scripts/run-demo), in its own
// private instance: it must reach a working /readyz, print a console URL and a demo
// login that work, load the demo data, and stop everything it started on Ctrl-C.
const { test } = require('node:test');
const assert = require('node:assert');
const { spawn, spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');
const { ROOT, freePorts } = require('./harness');

const DEV_VAR = path.join(ROOT, 'var', 'run-demo-test');

function waitFor(proc, re, ms) {
  return new Promise((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error(`no match for ${re} within ${ms} ms:\n${out}`)), ms);
    const onData = (b) => {
      out += b;
      const m = re.exec(out);
      if (m) { clearTimeout(timer); resolve({ m, out }); }
    };
    proc.stdout.on('data', onData);
    proc.stderr.on('data', onData);
    proc.on('exit', (code) => { clearTimeout(timer); reject(new Error(`run-demo exited ${code}:\n${out}`)); });
  });
}

function pidAlive(pid) {
  try { process.kill(pid, 0); return true; } catch { return false; }
}

test('run-demo: ready, URL and login work, demo data present, Ctrl-C stops all it started', async () => {
  fs.rmSync(DEV_VAR, { recursive: true, force: true });
  const [port, dbPort, imap, imaps, smtp, control, sms] = await freePorts(7);
  const env = {
    ...process.env, SWITCHBOARD_DEV_VAR: DEV_VAR, SWITCHBOARD_DEV_DB_PORT: String(dbPort), SWITCHBOARD_PORT: String(port),
    SWITCHBOARD_DEV_IMAP_PORT: String(imap), SWITCHBOARD_DEV_IMAPS_PORT: String(imaps),
    SWITCHBOARD_DEV_SMTP_PORT: String(smtp),
    SWITCHBOARD_DEV_SMTP_CONTROL_PORT: String(control),
    SWITCHBOARD_DEV_SMS_PORT: String(sms),
  };
  for (const k of Object.keys(env)) if (k.startsWith('SWITCHBOARD_DATABASE_')) delete env[k];
  const proc = spawn('bash', ['scripts/run-demo'], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
  try {
    const { m } = await waitFor(proc, /console:\s+(\S+)\s+login:\s+(\S+)\s+password:\s+(\S+)/, 90000);
    const [, url, email, password] = m;
    assert.strictEqual(url, `http://127.0.0.1:${port}/`);
    let ready;
    for (let i = 0; i < 100; i++) {
      ready = await fetch(url + 'readyz').catch(() => null);
      if (ready && ready.status === 200) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    assert.strictEqual(ready.status, 200);
    assert.strictEqual((await ready.json()).status, 'ready');

    const page = await fetch(url);
    assert.strictEqual(page.status, 200);
    assert.match(await page.text(), /Switchboard/);

    const login = await fetch(url + 'api/v1/auth/login', {
      method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ email, password }),
    });
    assert.strictEqual(login.status, 200);
    const { token } = await login.json();
    const auth = { Authorization: `Bearer ${token}` };
    const customers = await (await fetch(url + 'api/v1/customers?per_page=1', { headers: auth })).json();
    assert.strictEqual(customers.total, 50, 'demo customers loaded');
    const tickets = await (await fetch(url + 'api/v1/tickets', { headers: auth })).json();
    assert.ok(tickets.total >= 5, 'demo tickets loaded');
    const zh = await (await fetch(url + 'api/v1/customers?per_page=200', { headers: auth })).json();
    assert.ok(zh.items.some((c) => /[\u4e00-\u9fff]/.test(c.name)), 'Chinese names in the demo');
    const agent = await fetch(url + 'api/v1/auth/login', {
      method: 'POST', headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ email: 'agent.li@example.com', password }),
    });
    assert.strictEqual(agent.status, 200, 'demo agents share the printed password');

    // the demo support mailbox: mail saved into the demo's own Dovecot becomes a ticket
    const boxes = await (await fetch(url + 'api/v1/mailboxes', { headers: auth })).json();
    assert.ok(boxes.items.some((m) => m.name === 'support' && m.address === 'support@example.com'), JSON.stringify(boxes));
    spawnSync('doveadm', ['-c', path.join(DEV_VAR, 'dovecot', 'dovecot.conf'), 'save', '-u', 'support@example.com'], {
      input: 'From: demo-visitor@example.org\r\nTo: support@example.com\r\nSubject: Demo mail 演示\r\n' +
             'Message-ID: <demo-1@example.org>\r\n\r\nHello from the demo mailbox\r\n',
    });
    let mailTicket = null;
    for (let i = 0; i < 60 && !mailTicket; i++) {
      const l = await (await fetch(url + 'api/v1/tickets?channel=email', { headers: auth })).json();
      mailTicket = l.items.find((t) => t.subject === 'Demo mail 演示');
      if (!mailTicket) await new Promise((r) => setTimeout(r, 100));
    }
    assert.ok(mailTicket, 'the demo mailbox turned the mail into a ticket');

    // the demo SMS: a text through the fake's CLI becomes a ticket; the reply reaches the fake
    const envFile = Object.fromEntries(fs.readFileSync(path.join(DEV_VAR, 'dev-services.env'), 'utf8').trim().split('\n')
      .map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]));
    const texted = spawnSync(process.execPath, [path.join(ROOT, 'tests/fakes/sms-provider.mjs'), 'text', '--webhook-base', url,
      '--from', '+8613800138000', '--to', '+8610690000', '--body', '演示短信 demo text'], { env: { ...process.env, ...envFile }, encoding: 'utf8' });
    assert.strictEqual(texted.status, 0, texted.stdout + texted.stderr);
    const smsTickets = await (await fetch(url + 'api/v1/tickets?channel=sms&per_page=200', { headers: auth })).json();
    const texts = await Promise.all(smsTickets.items.map(async (t) =>
      [t.id, (await (await fetch(url + `api/v1/tickets/${t.id}/messages`, { headers: auth })).json()).items]));
    const textTicket = texts.find(([, ms]) => ms.some((m) => m.body_text === '演示短信 demo text'));
    assert.ok(textTicket, 'the text became a ticket');
    const sent = await fetch(url + `api/v1/tickets/${textTicket[0]}/messages`, {
      method: 'POST', headers: { ...auth, 'content-type': 'application/json' }, body: JSON.stringify({ body_text: '收到 got it' }),
    });
    assert.strictEqual(sent.status, 201);
    let atFake = [];
    for (let i = 0; i < 60 && !atFake.length; i++) {
      atFake = (await (await fetch(`${envFile.SWITCHBOARD_DEV_SMS_URL}/_fake/messages`)).json()).filter((m) => m.body === '收到 got it');
      if (!atFake.length) await new Promise((r) => setTimeout(r, 100));
    }
    assert.strictEqual(atFake.length, 1, 'the SMS reply reached the fake provider');

    const dbPid = Number(fs.readFileSync(path.join(DEV_VAR, 'mariadb', 'mariadbd.pid'), 'utf8'));
    assert.ok(pidAlive(dbPid));
    const smsPid = Number(fs.readFileSync(path.join(DEV_VAR, 'sms', 'pid'), 'utf8'));
    assert.ok(pidAlive(smsPid), 'the fake SMS provider runs too');
    const exited = new Promise((r) => proc.on('exit', (code, signal) => r({ code, signal })));
    proc.kill('SIGINT');
    await exited;
    for (let i = 0; i < 100 && pidAlive(dbPid); i++) await new Promise((r) => setTimeout(r, 100));
    assert.ok(!pidAlive(dbPid), 'the private MariaDB was stopped');
    for (let i = 0; i < 50 && pidAlive(smsPid); i++) await new Promise((r) => setTimeout(r, 100));
    assert.ok(!pidAlive(smsPid), 'the fake SMS provider was stopped');
    const after = await fetch(url + 'healthz').catch(() => null);
    assert.strictEqual(after, null, 'the server was stopped');
  } finally {
    if (proc.exitCode === null) proc.kill('SIGKILL');
    // whatever run-demo's own Ctrl-C handling left (by pid files, under this instance only)
    spawnSync('bash', ['scripts/dev-services', 'stop'], { cwd: ROOT, env: { ...process.env, SWITCHBOARD_DEV_VAR: DEV_VAR } });
    const pidFile = path.join(DEV_VAR, 'mariadb', 'mariadbd.pid');
    if (fs.existsSync(pidFile)) {
      const pid = Number(fs.readFileSync(pidFile, 'utf8'));
      if (pidAlive(pid)) process.kill(pid, 'SIGKILL');
    }
  }
});
