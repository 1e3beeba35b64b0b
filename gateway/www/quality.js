// Switchboard console — service quality (docs/api.md "Service quality"), for admins and
// managers: customer satisfaction (CSAT) over the last 7, 30 or 90 days (the average with
// stars, how many rated, the 1–5 distribution, the share satisfied), CSAT by agent, team and
// channel, the tickets flagged by complaint keywords (a row opens the conversation), and the
// complaint keywords themselves (admins edit the whole list; managers read it). The server
// scopes the report: a manager sees their team's tickets and those without a team. A
// ticket.flagged or ticket.csat event reloads the report while the page is open.
// Loaded after app.js, crm.js, marketing.js and kb_admin.js and built on their helpers (el,
// opt, badge, icon, avatar, api, errText, toast, go, state, button, fieldsOf, fullTime, when,
// clock, plural, serverNow, channelBadge, openTicket, isAdmin). Everything from the server is
// set as text.
'use strict';

Object.assign(ICONS, {
  star: 'M12 17.27 18.18 21l-1.64-7.03L22 9.24l-7.19-.61L12 2 9.19 8.63 2 9.24l5.46 4.73L5.82 21z',
  smile: 'M12 2a10 10 0 1 0 0 20 10 10 0 0 0 0-20zm-3.5 6a1.5 1.5 0 1 1 0 3 1.5 1.5 0 0 1 0-3zm7 0a1.5 1.5 0 1 1 0 3 1.5 1.5 0 0 1 0-3zM12 17.5a5.5 5.5 0 0 1-5.1-3.5h10.2a5.5 5.5 0 0 1-5.1 3.5z',
  shield: 'M12 1 3 5v6c0 5.5 3.8 10.7 9 12 5.2-1.3 9-6.5 9-12V5zm-1 16-4-4 1.4-1.4L11 14.2l5.6-5.6L18 10z',
});

const QUALITY_ROLES = ['admin', 'manager'];
Object.assign(VIEW_ROLES, { quality: QUALITY_ROLES });
Object.assign(VIEWS, { quality: () => loadQuality() });

const Q_DAYS = [7, 30, 90];
const Q_PRIO = { low: 'Low 低', normal: 'Normal 普通', high: 'High 高', urgent: 'Urgent 紧急' };
const Q_KW_PRIO = ['normal', 'high', 'urgent'];
const Q_STATUS = { new: 'New 新', open: 'Open 处理中', pending: 'Pending 等待', solved: 'Solved 已解决', closed: 'Closed 已关闭' };
const Q_REASON_ZH = { 'must not be empty': '不能为空', 'is required': '必填', 'must be at most 100 characters': '最多 100 个字符' };
const Q_CHANNEL = { chat: '聊天', email: '邮件', sms: '短信', phone: '电话', web: '网页表单' };
// [key of the report, card id, title, first column]
const Q_GROUPS = [['by_agent', 'q-by-agent', 'By agent 按坐席', 'Agent 坐席'], ['by_team', 'q-by-team', 'By team 按团队', 'Team 团队'],
  ['by_channel', 'q-by-channel', 'By channel 按渠道', 'Channel 渠道']];

const qy = {
  days: 30, rep: null, seq: 0, timer: null, loadedAt: null,
  kw: null,          // the keywords as last read or saved: [{id, word, priority}]
  rows: null,        // the editor's list: [{word, priority}] (admins)
  errors: new Map(), // row index → why the server (or the duplicate check) refused it
  kwSeq: 0, saving: false,
  draft: { word: '', priority: 'high', error: '' }, // the "add a keyword" box, kept across re-renders
};

/* ---------- small helpers ---------- */
const qNum = (v) => (v === null || v === undefined || v === '' ? 0 : Number(v) || 0);
// 4.33 → "4.3"; nothing rated → "—"
const qAvg = (v, n) => (n ? qNum(v).toFixed(1) : '—');
const qPct = (part, whole) => (whole ? Math.round((100 * part) / whole) + '%' : '—');
const qLastDays = () => 'last ' + qy.days + ' days · 近' + qy.days + '天';
// stars filled to the average (a clipped overlay of gold stars over grey ones)
function qStars(avg, cls) {
  const box = el('span', 'q-stars' + (cls ? ' ' + cls : ''));
  box.setAttribute('role', 'img');
  box.setAttribute('aria-label', avg ? qNum(avg).toFixed(1) + ' of 5 stars' : 'no rating');
  const base = el('span', 'q-stars-base'), fill = el('span', 'q-stars-fill');
  for (let i = 0; i < 5; i++) { base.append(icon('star')); fill.append(icon('star')); }
  fill.style.width = Math.max(0, Math.min(100, (qNum(avg) / 5) * 100)) + '%';
  box.append(base, fill);
  return box;
}
// "just now", "5 min ago", "3 h ago", "20 days ago"
function qAgo(iso) {
  const s = (serverNow() - Date.parse(iso)) / 1000;
  if (!(s >= 0)) return '';
  if (s < 60) return 'just now';
  if (s < 3600) return Math.floor(s / 60) + ' min ago';
  if (s < 86400) return Math.floor(s / 3600) + ' h ago';
  const d = Math.floor(s / 86400);
  return d + (d === 1 ? ' day' : ' days') + ' ago';
}
// a tone for an average: 4+ good, 3+ fair, below poor
const qTone = (avg) => (avg >= 4 ? 'good' : avg >= 3 ? 'mid' : 'bad');

/* ---------- loading ---------- */
async function loadQuality() {
  renderQualityHead();
  await Promise.all([loadReport(), loadKeywords()]);
}
async function loadReport() {
  const seq = ++qy.seq;
  if (!qy.rep) $('#q-state').textContent = 'Loading… 加载中';
  let r;
  try {
    r = await api('GET', '/api/v1/reports/quality?days=' + qy.days);
  } catch (e) {
    if (seq === qy.seq) $('#q-state').textContent = 'Could not load the report 加载失败: ' + errText(e);
    throw e;
  }
  if (seq !== qy.seq) return;
  qy.rep = r; qy.loadedAt = new Date();
  renderReport();
}
async function loadKeywords() {
  const seq = ++qy.kwSeq;
  const r = await api('GET', '/api/v1/quality/keywords');
  if (seq !== qy.kwSeq) return;
  qy.kw = r.items.map((k) => ({ id: k.id, word: k.word, priority: k.priority }));
  // an admin's unsaved edits survive a reload of the page's data
  if (!qy.rows || !qKwDirty()) { qy.rows = qy.kw.map((k) => ({ word: k.word, priority: k.priority })); qy.errors.clear(); }
  renderKeywords();
}
function qualityReloadSoon() {
  clearTimeout(qy.timer);
  qy.timer = setTimeout(() => { if (state.view === 'quality') loadReport().catch(() => {}); }, 300);
}

/* ---------- the page head: period and scope ---------- */
function renderQualityHead() {
  for (const b of $$('#q-days button')) {
    const on = Number(b.dataset.days) === qy.days;
    b.classList.toggle('active', on);
    b.setAttribute('aria-pressed', on ? 'true' : 'false');
  }
  const sc = $('#q-scope');
  const admin = isAdmin();
  sc.replaceChildren(icon(admin ? 'people' : 'shield'),
    el('span', '', admin ? 'All teams 全部团队' : 'Your team and unteamed tickets 本团队及未分组'));
  sc.title = admin ? 'Admins see every ticket' : 'Managers see the tickets of their team and those without a team';
}

function renderReport() {
  const r = qy.rep;
  if (!r) return;
  const c = r.csat || {};
  renderOverview(c.overall || {}, r.flagged || { count: 0, items: [] });
  for (const [key, id, title, col] of Q_GROUPS) renderGroup($('#' + id), key, title, col, c[key] || []);
  renderFlagged(r.flagged || { count: 0, items: [] });
  const st = $('#q-state');
  st.replaceChildren(el('span', 'q-live-dot'), el('span', '', 'Updated ' + clock(qy.loadedAt.toISOString()) + ' · 已更新'));
  st.title = 'Refreshes by itself when a ticket is flagged or rated';
}

/* ---------- CSAT overview ---------- */
function renderOverview(o, flagged) {
  const card = $('#q-overview');
  const n = qNum(o.count);
  const avg = qNum(o.average);
  const head = el('div', 'mk-card-head');
  const h = el('h3', 'mk-h3', 'Customer satisfaction 客户满意度');
  h.prepend(icon('smile'));
  head.append(h, el('span', 'muted q-period', 'CSAT · ' + qLastDays()));

  const body = el('div', 'q-ov');
  // the score
  const score = el('div', 'q-score' + (n ? ' ' + qTone(avg) : ' none'));
  const big = el('div', 'q-avg');
  const num = el('span', 'q-avg-n', qAvg(avg, n));
  num.id = 'q-avg';
  num.title = n ? 'Average rating ' + avg + ' of 5' : 'Nobody rated in this period';
  big.append(num, el('span', 'q-avg-of', '/ 5'));
  const cnt = el('div', 'q-count');
  cnt.id = 'q-count';
  cnt.dataset.count = String(n);
  cnt.append(el('strong', '', n.toLocaleString()), el('span', '', n === 1 ? ' response · 条评价' : ' responses · 条评价'));
  score.append(el('div', 'q-label', 'Average rating 平均分'), big, qStars(n ? avg : 0, 'lg'), cnt);

  // the distribution, 5 at the top
  const dist = el('div', 'q-dist');
  dist.id = 'q-dist';
  dist.append(el('div', 'q-label', 'Distribution 评分分布'));
  const max = Math.max(1, ...[1, 2, 3, 4, 5].map((i) => qNum(o['r' + i])));
  for (let i = 5; i >= 1; i--) {
    const k = qNum(o['r' + i]);
    const row = el('div', 'q-dist-row r' + i);
    row.dataset.rating = String(i);
    row.dataset.count = String(k);
    const lab = el('span', 'q-dist-l', String(i));
    lab.append(icon('star'));
    const track = el('span', 'q-dist-track');
    const fill = el('span', 'q-dist-fill');
    fill.style.width = (k ? Math.max(2, (100 * k) / max) : 0) + '%';
    track.append(fill);
    row.append(lab, track, el('span', 'q-dist-n', k.toLocaleString()), el('span', 'q-dist-p', qPct(k, n)));
    row.title = i + ' star' + (i === 1 ? '' : 's') + ': ' + k + (n ? ' of ' + n : '');
    dist.append(row);
  }

  // satisfied: ratings 4 and 5
  const good = qNum(o.r4) + qNum(o.r5), bad = qNum(o.r1) + qNum(o.r2);
  const sat = el('div', 'q-sat');
  sat.id = 'q-sat';
  sat.dataset.satisfied = String(good);
  sat.append(el('div', 'q-label', 'Satisfied 满意率'));
  const ring = el('div', 'q-ring-wrap');
  ring.append(qRing(n ? good / n : 0, !n));
  const pc = el('div', 'q-ring-text');
  pc.append(el('strong', 'q-sat-pct', qPct(good, n)), el('span', 'muted', '4–5 ★'));
  ring.append(pc);
  const facts = el('div', 'q-sat-facts');
  const fact = (label, sub, val, cls, key) => {
    const f = el('div', 'q-fact' + (cls ? ' ' + cls : ''));
    f.dataset.key = key;
    const l = el('span', 'q-fact-l', label);
    if (sub) l.append(el('span', 'q-fact-sub', sub));
    f.append(el('span', 'q-fact-dot'), l, el('span', 'q-fact-n', val));
    return f;
  };
  const nf = qNum(flagged.count);
  facts.append(fact('Satisfied 满意', '4–5★', good.toLocaleString(), 'good', 'satisfied'),
    fact('Neutral 一般', '3★', qNum(o.r3).toLocaleString(), 'mid', 'neutral'),
    fact('Dissatisfied 不满意', '1–2★', bad.toLocaleString(), 'bad' + (bad ? ' on' : ''), 'dissatisfied'),
    fact('Flagged tickets 投诉工单', '', nf.toLocaleString(), 'flag' + (nf ? ' on' : ''), 'flagged'));
  const satBody = el('div', 'q-sat-body');
  satBody.append(ring, facts);
  sat.append(satBody);

  body.append(score, dist, sat);
  card.replaceChildren(head, body);
  if (!n) card.append(el('p', 'q-empty-note muted', 'No ratings in the last ' + qy.days + ' days yet: a customer is asked once, when their ticket is first solved. 本期暂无评价'));
}
// a donut: the satisfied share of the ring, green
function qRing(frac, empty) {
  const NS = 'http://www.w3.org/2000/svg';
  const s = document.createElementNS(NS, 'svg');
  s.setAttribute('viewBox', '0 0 84 84'); s.setAttribute('class', 'q-ring'); s.setAttribute('aria-hidden', 'true');
  const circ = 2 * Math.PI * 34;
  const track = document.createElementNS(NS, 'circle');
  for (const [k, v] of [['cx', 42], ['cy', 42], ['r', 34], ['class', 'q-ring-track']]) track.setAttribute(k, v);
  s.append(track);
  if (!empty && frac > 0) {
    const arc = document.createElementNS(NS, 'circle');
    for (const [k, v] of [['cx', 42], ['cy', 42], ['r', 34], ['class', 'q-ring-arc'], ['transform', 'rotate(-90 42 42)'],
      ['stroke-dasharray', (circ * Math.min(1, frac)).toFixed(2) + ' ' + circ.toFixed(2)]]) arc.setAttribute(k, v);
    s.append(arc);
  }
  return s;
}

/* ---------- CSAT by agent, team, channel ---------- */
function qGroupName(key, g) {
  const cell = el('span', 'q-gname');
  if (key === 'by_channel') {
    const b = channelBadge(g.k || 'web');
    cell.append(b, el('span', 'q-ch-zh', Q_CHANNEL[g.k] || ''));
    cell.title = (CHANNEL_LABEL[g.k] || g.k) + ' · ' + (Q_CHANNEL[g.k] || '');
  } else if (key === 'by_agent') {
    const name = g.name || (g.k ? 'Agent #' + g.k : 'No agent 无坐席');
    cell.append(avatar(name, 'sm'), el('span', g.k ? '' : 'muted', name + (state.me && g.k === state.me.id ? ' (you)' : '')));
  } else {
    const name = g.name || (g.k ? 'Team #' + g.k : 'No team 未分组');
    cell.append(icon('people', 'q-team-ic'), el('span', g.k ? '' : 'muted', name));
  }
  return cell;
}
function renderGroup(card, key, title, col, list) {
  const head = el('div', 'mk-card-head');
  const noun = { by_agent: 'agent', by_team: 'team', by_channel: 'channel' }[key];
  head.append(el('h3', 'mk-h3', title), el('span', 'muted q-period', list.length ? plural(list.length, noun) : ''));
  const rows = [...list].sort((a, b) => qNum(b.count) - qNum(a.count) || qNum(b.average) - qNum(a.average));
  if (!rows.length) {
    const e = el('div', 'q-empty');
    e.append(icon('star', 'big'), el('p', '', 'No ratings in the last ' + qy.days + ' days.'), el('p', 'muted', '暂无评价'));
    card.replaceChildren(head, e);
    return;
  }
  const t = el('table', 'q-table');
  const th = el('thead'), hr = el('tr');
  const th2 = (cls, en, zh) => { const h = el('th', cls, en); h.append(el('span', 'zh', zh)); return h; };
  const [en, zh] = col.split(' ');
  hr.append(th2('', en, zh), th2('n', 'Ratings', '评价数'), th2('avg', 'Average', '平均分'), th2('n', 'Satisfied', '满意率'));
  th.append(hr);
  const tb = el('tbody');
  for (const g of rows) {
    const tr = el('tr');
    tr.dataset.k = g.k === null || g.k === undefined ? '' : String(g.k);
    const n = qNum(g.count), avg = qNum(g.average);
    const name = el('td', 'name'); name.append(qGroupName(key, g));
    const cnt = el('td', 'n count', n.toLocaleString());
    const av = el('td', 'avg');
    const cellAvg = el('span', 'q-cell-avg ' + qTone(avg));
    const bar = el('span', 'q-minibar'); const f = el('span', ''); f.style.width = (avg / 5) * 100 + '%'; bar.append(f);
    const v = el('span', 'q-avg-v', qAvg(avg, n)); v.title = avg + ' of 5';
    cellAvg.append(v, bar);
    av.append(cellAvg);
    const sat = el('td', 'n sat', qPct(qNum(g.satisfied), n));
    sat.title = qNum(g.satisfied) + ' of ' + n + ' rated 4 or 5';
    tr.append(name, cnt, av, sat);
    tb.append(tr);
  }
  t.append(th, tb);
  card.replaceChildren(head, t);
}

/* ---------- flagged tickets ---------- */
function qOpenTicket(id) {
  go('tickets');
  openTicket(id).catch((e) => toast(errText(e), 'bad'));
}
function renderFlagged(f) {
  const card = $('#q-flagged');
  const items = f.items || [];
  const head = el('div', 'mk-card-head');
  const h = el('h3', 'mk-h3', 'Flagged tickets 投诉工单');
  h.prepend(icon('flag'));
  const cnt = el('span', 'q-count-chip' + (items.length ? ' on' : ''), String(qNum(f.count)));
  cnt.id = 'q-flagged-count';
  h.append(cnt);
  head.append(h, el('span', 'muted q-period', 'A customer message held a complaint keyword · ' + qLastDays() +
    (items.length >= 100 ? ' · the latest 100' : '')));
  if (!items.length) {
    const e = el('div', 'q-empty');
    e.append(icon('flag', 'big'), el('p', '', 'No flagged tickets in the last ' + qy.days + ' days.'), el('p', 'muted', '本期没有投诉工单'));
    card.replaceChildren(head, e);
    return;
  }
  const t = el('table', 'q-table q-flag-table');
  const th = el('thead'), hr = el('tr');
  for (const [cls, label] of [['time', 'Flagged 时间'], ['', 'Customer 客户'], ['', 'Subject 主题'], ['', 'Keywords 关键词'],
    ['', 'Priority 优先级'], ['', 'Status 状态'], ['', 'Assignee 负责人']]) {
    const [en, zh] = label.split(' ');
    const h = el('th', cls, en); h.append(el('span', 'zh', zh)); hr.append(h);
  }
  th.append(hr);
  const tb = el('tbody');
  for (const x of items) {
    const tr = el('tr', 'q-flag-row');
    tr.dataset.id = x.id;
    tr.tabIndex = 0;
    tr.title = 'Open conversation #' + x.id + ' · 打开会话';
    const tm = el('td', 'time');
    const w = el('span', 'two-line');
    w.append(el('span', '', when(x.flagged_at)), el('span', 'muted', qAgo(x.flagged_at)));
    tm.title = fullTime(x.flagged_at);
    tm.append(w);
    const cu = el('td', 'cust');
    const cw = el('span', 'q-gname'); cw.append(avatar(x.customer_name, 'sm'), el('span', '', x.customer_name || 'Customer'));
    cu.append(cw);
    const sj = el('td', 'subj');
    const sw = el('span', 'q-subj');
    sw.append(channelBadge(x.channel), el('span', 'q-subj-t', x.subject || CHANNEL_LABEL[x.channel] || x.channel), el('span', 'tid', '#' + x.id));
    sj.append(sw);
    const kw = el('td', 'kw');
    for (const word of String(x.flag_reason || '').split(/\s*[,，、]\s*/).filter(Boolean)) {
      const b = badge(word, 'q-kw-hit'); b.prepend(icon('flag')); kw.append(b);
    }
    const pr = el('td'); pr.append(badge(Q_PRIO[x.priority] || x.priority, 'prio ' + x.priority));
    const stt = el('td'); stt.append(badge(Q_STATUS[x.status] || x.status, x.status));
    const as = el('td', 'who');
    if (x.assignee_id) {
      const aw = el('span', 'q-gname'); aw.append(avatar(x.assignee_name, 'sm'), el('span', '', x.assignee_name || 'Agent #' + x.assignee_id)); as.append(aw);
    } else as.append(el('span', 'muted', 'Unassigned 未分配'));
    tr.append(tm, cu, sj, kw, pr, stt, as);
    tr.addEventListener('click', () => qOpenTicket(x.id));
    tr.addEventListener('keydown', (e) => { if (e.key === 'Enter') qOpenTicket(x.id); });
    tb.append(tr);
  }
  t.append(th, tb);
  const wrap = el('div', 'q-table-wrap');
  wrap.append(t);
  card.replaceChildren(head, wrap);
}

/* ---------- complaint keywords ---------- */
// what the server compares: trimmed (JS trims the ideographic space too), case and full-width folded
const qFold = (w) => String(w || '').normalize('NFKC').trim().toLowerCase();
function qKwDirty() {
  if (!qy.rows || !qy.kw) return false;
  if (qy.rows.length !== qy.kw.length) return true;
  return qy.rows.some((r, i) => r.word.trim() !== qy.kw[i].word || r.priority !== qy.kw[i].priority);
}
function prioSelect(value, label) {
  const s = el('select', 'q-kw-prio p-' + value);
  s.setAttribute('aria-label', label);
  for (const p of Q_KW_PRIO) s.append(opt(p, Q_PRIO[p], p === value));
  return s;
}
function renderKeywords() {
  const card = $('#q-keywords');
  if (!qy.kw) return;
  const admin = isAdmin();
  const head = el('div', 'mk-card-head');
  const h = el('h3', 'mk-h3', 'Complaint keywords 投诉关键词');
  h.prepend(icon('alert'));
  const right = el('span', 'q-kw-meta');
  right.append(el('span', 'muted', plural(admin ? qy.rows.length : qy.kw.length, 'keyword') + ' · 个关键词'));
  if (!admin) { const ro = badge('Read-only · 只读', 'ro'); ro.id = 'q-kw-ro'; right.append(ro); }
  head.append(h, right);
  const note = el('p', 'q-kw-note muted', 'A customer message containing one of these words flags its ticket (once), raises its priority to at least ' +
    "the word's and tells the team's manager. Upper and lower case and full-width letters count the same. " +
    '客户消息包含关键词时标记为投诉工单，并提升优先级。');
  if (!admin) {
    const list = el('div', 'q-kw-chips');
    list.id = 'q-kw-chips';
    for (const k of qy.kw) {
      const c = el('span', 'q-kw-chip p-' + k.priority);
      c.dataset.word = k.word;
      c.append(el('span', 'q-kw-w', k.word), el('span', 'q-kw-p', Q_PRIO[k.priority] || k.priority));
      list.append(c);
    }
    if (!qy.kw.length) list.append(el('span', 'muted', 'No keywords: nothing is flagged. 暂无关键词'));
    card.replaceChildren(head, note, list);
    return;
  }
  const list = el('div', 'q-kw-list');
  list.id = 'q-kw-list';
  qy.rows.forEach((r, i) => list.append(kwRow(r, i)));
  if (!qy.rows.length) list.append(el('p', 'muted q-kw-none', 'No keywords: nothing will be flagged. 暂无关键词'));

  const add = el('form', 'q-kw-add');
  add.id = 'q-kw-add';
  add.noValidate = true;
  const inp = el('input', 'q-kw-new');
  inp.id = 'q-kw-new'; inp.placeholder = 'New keyword 新关键词'; inp.maxLength = 100; inp.autocomplete = 'off';
  inp.setAttribute('aria-label', 'new keyword');
  inp.value = qy.draft.word;
  const ps = prioSelect(qy.draft.priority, 'priority of the new keyword');
  ps.id = 'q-kw-new-prio';
  ps.addEventListener('change', () => { ps.className = 'q-kw-prio p-' + ps.value; qy.draft.priority = ps.value; });
  const addBtn = el('button', '', 'Add 添加');
  addBtn.type = 'submit'; addBtn.id = 'q-kw-add-btn';
  addBtn.prepend(document.createTextNode('+ '));
  const addErr = el('span', 'field-error', qy.draft.error); addErr.id = 'q-kw-add-error';
  add.append(inp, ps, addBtn, addErr);
  add.addEventListener('submit', (e) => {
    e.preventDefault();
    const w = inp.value.trim();
    addErr.textContent = qy.draft.error = '';
    if (!w) { inp.focus(); return; }
    const dup = qy.rows.findIndex((r) => qFold(r.word) === qFold(w));
    if (dup >= 0) {
      addErr.textContent = qy.draft.error = '“' + qy.rows[dup].word + '” is already in the list 已存在';
      const row = $(`.q-kw[data-index="${dup}"]`, card);
      if (row) { row.classList.remove('flash'); void row.offsetWidth; row.classList.add('flash'); }
      return;
    }
    qy.rows.push({ word: w, priority: ps.value });
    qy.draft = { word: '', priority: 'high', error: '' };
    renderKeywords();
    const again = $('#q-kw-new');
    again.focus();
  });
  inp.addEventListener('input', () => { qy.draft.word = inp.value; addErr.textContent = qy.draft.error = ''; });

  const acts = el('div', 'q-kw-acts');
  const dirty = qKwDirty();
  const err = el('p', 'error'); err.id = 'q-kw-error'; err.setAttribute('role', 'alert');
  err.textContent = qy.formError || '';
  const save = button(qy.saving ? 'Saving… 保存中' : 'Save keywords 保存', 'primary', saveKeywords);
  save.id = 'q-kw-save';
  save.disabled = qy.saving || !dirty;
  const reset = button('Discard changes 放弃修改', 'ghost', () => {
    qy.rows = qy.kw.map((k) => ({ word: k.word, priority: k.priority })); qy.errors.clear(); qy.formError = ''; renderKeywords();
  });
  reset.id = 'q-kw-reset';
  reset.hidden = !dirty;
  const dn = el('span', 'q-kw-dirty', dirty ? 'Unsaved changes · 未保存' : 'Saved · 已保存');
  dn.id = 'q-kw-dirty';
  dn.classList.toggle('on', dirty);
  acts.append(add, el('span', 'spacer'), dn, reset, save);
  // a reload of the page's data (a second navigation, a live event) must not take the
  // typing box from under the admin
  const typing = document.activeElement && document.activeElement.id === 'q-kw-new';
  card.replaceChildren(head, note, list, acts, err);
  if (typing) inp.focus();
}
function kwRow(r, i) {
  const row = el('div', 'q-kw p-' + r.priority);
  row.dataset.index = String(i);
  row.dataset.word = r.word;
  const why = qy.errors.get(i);
  if (why) row.classList.add('invalid');
  const w = el('input', 'q-kw-word');
  w.value = r.word; w.maxLength = 100; w.autocomplete = 'off'; w.spellcheck = false;
  w.setAttribute('aria-label', 'keyword ' + (i + 1));
  const p = prioSelect(r.priority, 'priority of ' + (r.word || 'keyword ' + (i + 1)));
  const x = el('button', 'q-kw-x', '×');
  x.type = 'button'; x.title = 'Remove “' + r.word + '” · 删除'; x.setAttribute('aria-label', 'remove ' + r.word);
  const e = el('span', 'field-error q-kw-err', why || '');
  w.addEventListener('input', () => {
    r.word = w.value;
    row.dataset.word = r.word;
    if (qy.errors.delete(i)) { row.classList.remove('invalid'); e.textContent = ''; }
    kwDirtyChanged();
  });
  p.addEventListener('change', () => {
    r.priority = p.value;
    row.className = 'q-kw p-' + r.priority + (row.classList.contains('invalid') ? ' invalid' : '');
    p.className = 'q-kw-prio p-' + p.value;
    if (qy.errors.delete(i)) { row.classList.remove('invalid'); e.textContent = ''; }
    kwDirtyChanged();
  });
  x.addEventListener('click', () => {
    qy.rows.splice(i, 1);
    // errors follow their rows
    const moved = new Map();
    for (const [k, v] of qy.errors) if (k !== i) moved.set(k > i ? k - 1 : k, v);
    qy.errors = moved;
    renderKeywords();
  });
  const line = el('div', 'q-kw-line');
  line.append(w, p, x);
  row.append(line, e);
  return row;
}
// the Save button and the note follow the edits without rebuilding the rows (the focus stays)
function kwDirtyChanged() {
  const dirty = qKwDirty();
  const save = $('#q-kw-save'), reset = $('#q-kw-reset'), dn = $('#q-kw-dirty');
  if (save) save.disabled = qy.saving || !dirty;
  if (reset) reset.hidden = !dirty;
  if (dn) { dn.textContent = dirty ? 'Unsaved changes · 未保存' : 'Saved · 已保存'; dn.classList.toggle('on', dirty); }
}
async function saveKeywords() {
  if (qy.saving) return;
  qy.formError = '';
  qy.errors.clear();
  const list = qy.rows.map((r) => ({ word: r.word.trim(), priority: r.priority }));
  // the same word twice (as the server compares them): said next to the second one
  const seen = new Map();
  list.forEach((k, i) => {
    const f = qFold(k.word);
    if (!f) return;
    if (seen.has(f)) qy.errors.set(i, 'listed twice (see “' + list[seen.get(f)].word + '”) 重复');
    else seen.set(f, i);
  });
  if (qy.errors.size) { qy.formError = 'Each word may be listed once. 关键词不能重复'; renderKeywords(); return; }
  qy.saving = true;
  kwDirtyChanged();
  const save = $('#q-kw-save');
  if (save) save.textContent = 'Saving… 保存中';
  try {
    const r = await api('PUT', '/api/v1/quality/keywords', { keywords: list });
    qy.kw = r.items.map((k) => ({ id: k.id, word: k.word, priority: k.priority }));
    qy.rows = qy.kw.map((k) => ({ word: k.word, priority: k.priority }));
    toast('Complaint keywords saved: ' + qy.kw.length + ' · 关键词已保存', 'good');
  } catch (e) {
    const f = fieldsOf(e);
    const rest = [];
    if (f) {
      for (const [k, why] of Object.entries(f)) {
        const m = /^keywords\[(\d+)\]\.(word|priority)$/.exec(k) || /^keywords\[(\d+)\]$/.exec(k);
        if (m) qy.errors.set(Number(m[1]), (m[2] === 'priority' ? 'priority ' : '') + why + (Q_REASON_ZH[why] ? ' · ' + Q_REASON_ZH[why] : ''));
        else rest.push(why);
      }
    } else if (e.status === 409) rest.push('A word is listed twice (upper/lower case and full-width letters count the same). 关键词重复');
    else rest.push(errText(e));
    qy.formError = (qy.errors.size ? 'Not saved: see the marked keywords. 未保存，请检查标出的关键词。 ' : 'Not saved 未保存: ') + rest.join('; ');
  } finally {
    qy.saving = false;
  }
  renderKeywords();
  const bad = $('.q-kw.invalid .q-kw-word');
  if (bad) bad.focus();
}

/* ---------- wiring, start, live events ---------- */
for (const b of $$('#q-days button')) {
  b.addEventListener('click', () => {
    const d = Number(b.dataset.days);
    if (d === qy.days) return;
    qy.days = d;
    localStorage.setItem('sb.quality.days', String(d));
    renderQualityHead();
    loadReport().catch((e) => toast(errText(e), 'bad'));
  });
}
function qualityStart(agent) {
  $('.tab[data-view=quality]').hidden = !QUALITY_ROLES.includes(agent.role);
  const d = Number(localStorage.getItem('sb.quality.days'));
  qy.days = Q_DAYS.includes(d) ? d : 30;
  Object.assign(qy, { rep: null, kw: null, rows: null, errors: new Map(), formError: '', saving: false,
    draft: { word: '', priority: 'high', error: '' } });
  for (const id of ['#q-overview', '#q-by-agent', '#q-by-team', '#q-by-channel', '#q-flagged', '#q-keywords']) $(id).replaceChildren();
}
function qualityStop() {
  clearTimeout(qy.timer);
  qy.seq++; qy.kwSeq++;
}
function qualityFrame(m) {
  if (m.type !== 'ticket.flagged' && m.type !== 'ticket.csat') return;
  if (state.view === 'quality') qualityReloadSoon();
}
