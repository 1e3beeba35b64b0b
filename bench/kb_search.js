'use strict';
// kb_search.js — knowledge-base search latency (issue 10: p99 under 5 ms with 10,000
// articles). The 120 committed test articles (tests/data/kb) are multiplied into
// BENCH_KB_ARTICLES published articles through the API (each copy's title and body get a
// product line, a model number and words drawn from the corpus, so the index has the
// shape of a real help centre, not 83 copies of one text); the committed synonyms are
// loaded. Then BENCH_KB_QUERIES searches (the committed questions, round robin, limit 10,
// in their locale) go one after another over a kept-alive connection, after a warm-up;
// the time of each request is taken by the client, HTTP and login check included.
// Prints one JSON line (bench/README.md): the p99 in ms (≤ 5) and the latency percentiles.
const fs = require('node:fs');
const path = require('node:path');
const http = require('node:http');
const { startServer, bootstrapAdmin, api, dropDatabase } = require('../tests/system/harness');
const { pick: sized, emit, percentiles } = require('./lib');

const DATA = path.resolve(__dirname, '..', 'tests', 'data', 'kb');
const read = (f) => JSON.parse(fs.readFileSync(path.join(DATA, f), 'utf8'));

function rng(seed) { // a fixed sequence: every run indexes the same text
  let s = seed >>> 0;
  return () => { s = (s * 1664525 + 1013904223) >>> 0; return s / 2 ** 32; };
}

(async () => {
  const n = sized({ smoke: 100, quick: 2000, full: 10000 }, 'BENCH_KB_ARTICLES');
  const nq = sized({ smoke: 100, quick: 1000, full: 3000 }, 'BENCH_KB_QUERIES');
  const articles = read('articles.json'), queries = read('queries.json');
  const s = await startServer();
  const admin = await bootstrapAdmin(s);
  const a = api(s, admin.token);
  const lines = ['旗舰', '青春', 'Pro', 'Max', 'Lite', '企业版', 'Home', '经典', 'Air', 'Ultra'];
  const words = articles.flatMap((x) => x.body.split(/[\s，。、！？,.!?()（）*#|\-\n]+/).filter((w) => w.length >= 2 && w.length <= 8));
  const r = rng(42);
  const pick = (list) => list[Math.floor(r() * list.length)];
  let next = 0;
  const worker = async () => {
    for (let i = next++; i < n; i = next++) {
      const base = articles[i % articles.length];
      const copy = Math.floor(i / articles.length);
      const extra = Array.from({ length: 12 }, () => pick(words)).join(' ');
      const title = copy ? `${base.title}（${pick(lines)} ${100 + copy}）` : base.title;
      const res = await a.post('/api/v1/kb/articles', {
        title, body: `${base.body}\n\n适用型号 Model ${pick(lines)}-${1000 + i}。${extra}`, category: base.category,
        tags: base.tags, locale: base.locale, published: true,
      });
      if (res.status !== 201) throw new Error(`article ${i}: ${res.status} ${res.text}`);
    }
  };
  await Promise.all([worker(), worker(), worker(), worker()]);
  const syn = await a.put('/api/v1/kb/synonyms', { groups: read('synonyms.json') });
  if (syn.status !== 200) throw new Error(`synonyms: ${syn.status}`);
  const agentKeepAlive = new http.Agent({ keepAlive: true, maxSockets: 1 });
  const url = new URL(s.url);
  const get = (p) => new Promise((resolve, reject) => {
    const t0 = process.hrtime.bigint();
    const req = http.get({ host: url.hostname, port: url.port, path: p, agent: agentKeepAlive, headers: { Authorization: `Bearer ${admin.token}` } }, (res) => {
      let body = '';
      res.on('data', (d) => { body += d; });
      res.on('end', () => {
        if (res.statusCode !== 200) reject(new Error(`${p}: ${res.statusCode} ${body}`));
        else resolve({ ms: Number(process.hrtime.bigint() - t0) / 1e6, items: JSON.parse(body).items.length });
      });
    });
    req.on('error', reject);
  });
  const path_ = (q) => `/api/v1/kb/search?q=${encodeURIComponent(q.q)}&locale=${q.locale}&limit=10`;
  for (let i = 0; i < Math.min(300, nq); i++) await get(path_(queries[i % queries.length])); // warm-up: caches, the pool
  const times = [];
  let empty = 0;
  for (let i = 0; i < nq; i++) {
    const { ms, items } = await get(path_(queries[i % queries.length]));
    times.push(ms);
    if (!items) empty++;
  }
  agentKeepAlive.destroy();
  await s.stop();
  if (process.env.BENCH_KEEP) console.error(`kept database ${s.dbName}`);
  else dropDatabase(s);
  if (empty) throw new Error(`${empty} searches found nothing`);
  const p = percentiles(times);
  emit({
    bench: 'kb_search', unit: 'ms', value: p.p99, judge: 'value', target: 5, lower_is_better: true,
    latency_ms: { switchboard: p }, articles: n, queries: nq,
  });
})().catch((e) => { console.error(e); process.exit(1); });
