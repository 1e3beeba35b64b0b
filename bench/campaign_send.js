'use strict';
// campaign_send.js — e-mail campaign throughput (issue 9: at least 0.5x, aim 0.8x, of
// postfix's `smtp-source -d` reusing its session against the same `smtp-sink`).
// One postfix smtp-sink on 127.0.0.1; first the reference: smtp-source sends N messages of
// about the size of ours over one session (-s 1 -d: one connection, kept open, like our one
// sender thread), then the gateway sends a campaign to N customers into the same sink,
// every message rendered for its recipient (name and coupon in subject and both bodies,
// an unsubscribe link, tracked links and pixel), its ledger row claimed and settled.
// Gateway time: from the start request to the campaign's finished_at (database clock), so
// materialising the ledger counts too.
// Prints one JSON line (bench/README.md): msgs/s, the reference's msgs/s, their ratio (≥ 0.5).
const { spawn, execFileSync } = require('node:child_process');
const { startServer, bootstrapAdmin, api, sql, dropDatabase, sleep, freePort } = require('../tests/system/harness');
const { pick, emit } = require('./lib');

const SIZE = 3000; // bytes per reference message: about one of ours with both bodies

function sinkStart(port) {
  const user = process.getuid && process.getuid() === 0 ? ['-u', 'nobody'] : [];
  return spawn('/usr/sbin/smtp-sink', [...user, `127.0.0.1:${port}`, '256'], { stdio: 'ignore' });
}

async function refRun(port, n) {
  const t0 = process.hrtime.bigint();
  execFileSync('/usr/sbin/smtp-source', ['-d', '-s', '1', '-m', String(n), '-l', String(SIZE),
    '-f', 'news@example.com', '-t', 'someone@bench.example', `127.0.0.1:${port}`], { stdio: 'ignore' });
  return Number(process.hrtime.bigint() - t0) / 1e9;
}

(async () => {
  const n = pick({ smoke: 100, quick: 3000, full: 20000 }, 'BENCH_CAMPAIGN');
  const port = await freePort();
  const sink = sinkStart(port);
  try {
    for (let i = 0; i < 50; i++) { // the sink is up when a source can talk to it
      try { execFileSync('/usr/sbin/smtp-source', ['-m', '1', `127.0.0.1:${port}`], { stdio: 'ignore' }); break; } catch { await sleep(100); }
    }
    const refSecs = await refRun(port, n);
    const s = await startServer({
      env: {
        SWITCHBOARD_SMTP_HOST: '127.0.0.1', SWITCHBOARD_SMTP_PORT: String(port), SWITCHBOARD_SMTP_FROM: 'news@example.com',
        SWITCHBOARD_SERVER_PUBLIC_URL: 'https://switchboard.example', SWITCHBOARD_ROUTING_ENABLED: 'no',
        ...(process.env.BENCH_CAMPAIGN_BATCH ? { SWITCHBOARD_CAMPAIGNS_BATCH: process.env.BENCH_CAMPAIGN_BATCH } : {}),
      },
    });
    const admin = await bootstrapAdmin(s);
    sql(s, `INSERT INTO customers (id, name, customer_no, attrs) SELECT seq, CONCAT('客户 ', seq), CONCAT('B', seq), ` +
      `JSON_OBJECT('coupon', CONCAT('CODE-', seq)) FROM seq_1_to_${n}`);
    sql(s, `INSERT INTO customer_identities (customer_id, kind, value, is_primary) SELECT seq, 'email', ` +
      `CONCAT('b', seq, '@bench.example'), 1 FROM seq_1_to_${n}`);
    sql(s, "INSERT INTO tags (name) VALUES ('bench')");
    sql(s, `INSERT INTO customer_tags (customer_id, tag_id) SELECT seq, (SELECT id FROM tags WHERE name = 'bench') FROM seq_1_to_${n}`);
    const a = api(s, admin.token);
    const para = 'Our autumn collection is here, with new colours and the fabrics you asked for. '.repeat(8);
    const seg = (await a.post('/api/v1/segments', { name: 'bench', rule: 'tag:bench' })).json;
    const tpl = (await a.post('/api/v1/templates', {
      name: 'bench', channel: 'email', subject: '{{customer.name}}, your coupon {{customer.attrs.coupon}}',
      text: `Dear {{customer.name}},\n\n${para}\n\nYour code: {{customer.attrs.coupon}}\nUnsubscribe: {{unsubscribe_url}}\n`,
      html: `<p>Dear {{customer.name}},</p><p>${para}</p><p>Your code: <b>{{customer.attrs.coupon}}</b></p>` +
        '<p><a href="https://shop.example/autumn">Shop now</a> · <a href="{{unsubscribe_url}}">Unsubscribe</a></p>',
    })).json;
    const c = (await a.post('/api/v1/campaigns', { name: 'bench', segment_id: seg.id, template_id: tpl.id, channel: 'email' })).json;
    const [[start]] = sql(s, 'SELECT NOW(6)');
    const r = await a.post(`/api/v1/campaigns/${c.id}/start`);
    if (r.status !== 200) throw new Error(`start: ${r.status} ${r.text}`);
    for (let t0 = Date.now(); Date.now() - t0 < 600000;) {
      await sleep(250);
      if (sql(s, `SELECT status FROM campaigns WHERE id = ${c.id}`)[0][0] === 'finished') break;
    }
    const [[sent, finished]] = sql(s, `SELECT (SELECT COUNT(*) FROM campaign_recipients WHERE campaign_id = ${c.id} AND state = 'sent'), ` +
      `finished_at FROM campaigns WHERE id = ${c.id}`);
    const secs = Number(sql(s, `SELECT TIMESTAMPDIFF(MICROSECOND, '${start}', '${finished}') / 1e6`)[0][0]);
    await s.stop();
    dropDatabase(s);
    if (Number(sent) !== n) throw new Error(`sent ${sent} of ${n}`);
    const ref = n / refSecs, gw = n / secs;
    emit({
      bench: 'campaign_send', unit: 'msgs/s', value: Math.round(gw), reference: Math.round(ref),
      ref_name: 'smtp-source -d into the same smtp-sink', ratio: +(gw / ref).toFixed(2), judge: 'ratio', target: 0.5, messages: n,
    });
  } finally {
    sink.kill();
  }
})().catch((e) => { console.error(e); process.exit(1); });
