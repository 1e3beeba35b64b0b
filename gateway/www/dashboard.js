// Switchboard console — the Dashboard 报表 (docs/reports.md): the service, agents, sales,
// marketing and customers reports over a date range (from/to, or 7 / 30 / 90 days, this
// month), filtered by team and channel where the report takes them. Each dataset is a card:
// a chart drawn as inline SVG with DOM methods (no library), its data as a table on demand,
// and a CSV download (the same report URL with format=csv&dataset=NAME; the session cookie
// authenticates it). A Print button prints the charts on white paper (@media print in
// dashboard.css). Who sees which report follows the server (a manager: their teams; sales:
// their own deals and customers); the switcher only offers the reports the role may read.
// While the period includes today, events of the report's kind refresh it quietly.
// #dash-body carries data-state (loading | ready | error | invalid) and data-query (the
// query string of the report drawn), so a test can wait for a given request to be drawn.
// Loaded after app.js, crm.js, marketing.js, kb_admin.js and quality.js and built on their
// helpers (el, opt, icon, badge, avatar, channelBadge, api, errText, toast, go, state,
// button, openTicket, clock, isAdmin). Everything from the server is set as text.
'use strict';

Object.assign(ICONS, {
  chart: 'M4 20h16v2H2V2h2zm2-3h3V9H6zm5 0h3V4h-3zm5 0h3v-6h-3z',
  print: 'M19 8H5a3 3 0 0 0-3 3v6h4v4h12v-4h4v-6a3 3 0 0 0-3-3zm-3 11H8v-5h8zm3-7a1 1 0 1 1 0-2 1 1 0 0 1 0 2zm-1-9H6v4h12z',
  table: 'M3 3h18v18H3zm2 2v4h6V5zm8 0v4h6V5zM5 11v4h6v-4zm8 0v4h6v-4zM5 17v2h6v-2zm8 0v2h6v-2z',
  refresh: 'M17.65 6.35A7.96 7.96 0 0 0 12 4a8 8 0 1 0 7.73 10h-2.08A6 6 0 1 1 12 6c1.66 0 3.14.69 4.22 1.78L13 11h7V4z',
});

/* ---------- what there is and who may read it ---------- */
const DASH_ROLES = ['admin', 'manager', 'sales', 'marketer'];
const DASH_CHANNELS = ['chat', 'email', 'sms', 'phone', 'web'];
const DASH_REPORTS = [
  { key: 'service', en: 'Service', zh: '服务', icon: 'chat', roles: ['admin', 'manager'], team: true, channels: DASH_CHANNELS,
    live: /^(ticket\.|message\.created)/,
    blurb: 'Ticket volume, backlog, first response and resolution times, SLA attainment, satisfaction and complaints. 工单量、积压、响应与解决时长、SLA、满意度与投诉。' },
  { key: 'agents', en: 'Agents', zh: '坐席', icon: 'people', roles: ['admin', 'manager'], team: true, channels: null,
    live: /^(ticket\.|message\.created|agent\.presence)/,
    blurb: 'Who solved how much, how fast, and how busy they were while online. 坐席处理量、处理时长与在线占用率排名。' },
  { key: 'sales', en: 'Sales', zh: '销售', icon: 'company', roles: ['admin', 'manager', 'sales'], team: true, channels: null,
    live: /^(deal\.|activity\.)/,
    blurb: 'The pipeline funnel and stage conversion, why deals were won or lost, the forecast and each salesperson. 销售漏斗、阶段转化、赢单/丢单原因、预测与个人业绩。' },
  { key: 'marketing', en: 'Marketing', zh: '营销', icon: 'send', roles: ['admin', 'manager', 'marketer'], team: false, channels: ['email', 'sms'],
    live: /^campaign\./,
    blurb: 'Each campaign started in the period, from sent to converted, the channels compared, and the return on its cost. 营销活动转化漏斗、渠道对比与投资回报。' },
  { key: 'customers', en: 'Customers', zh: '客户', icon: 'people', roles: ['admin', 'manager', 'sales', 'marketer'], team: false, channels: null,
    live: /^(customer\.|deal\.)/,
    blurb: 'New customers by source, repurchase and lifetime value, the biggest customers and those at risk of leaving. 新客户来源、复购与客户价值、流失预警。' },
];
Object.assign(VIEW_ROLES, { dashboard: DASH_ROLES });
Object.assign(VIEWS, { dashboard: () => loadDashboard() });

const DASH_PRESETS = ['7', '30', '90', 'month'];
const DASH_CH_LABEL = { chat: 'Chat 聊天', email: 'E-mail 邮件', sms: 'SMS 短信', phone: 'Phone 电话', web: 'Web 网页', all: 'All channels 全部' };
const DASH_CH_COLOR = { chat: '#0ea5e9', email: '#a855f7', sms: '#65a30d', phone: '#f59e0b', web: '#64748b', all: '#334155' };
const DASH_PALETTE = ['#2563eb', '#10b981', '#f59e0b', '#8b5cf6', '#ef4444', '#06b6d4', '#ec4899', '#84cc16', '#64748b', '#a16207'];
const DASH_C = { accent: '#2563eb', accentSoft: '#93c5fd', good: '#10b981', bad: '#ef4444', warn: '#f59e0b', grey: '#cbd5e1', ink: '#334155' };
const DASH_PRIO = { low: 'Low 低', normal: 'Normal 普通', high: 'High 高', urgent: 'Urgent 紧急' };
const DASH_STATUS = { new: 'New 新', open: 'Open 处理中', pending: 'Pending 等待', solved: 'Solved 已解决', closed: 'Closed 已关闭' };
const DASH_CHURN = { no_contact: 'No contact 久未联系', falling_activity: 'Falling activity 活跃下降', complaint: 'Complaint 投诉' };
const DASH_NO_DATA = 'No data for this period';

const dash = {
  report: '', preset: '30', from: '', to: '', team: '', channel: '', silent: 60,
  teams: [], teamsLoaded: false, seq: 0, rep: null, query: '', loadedAt: null,
  open: new Set(),      // "report/card" whose data table is shown
  timer: null, resizeTimer: null, drawnWidth: 0,
};

/* ---------- small helpers ---------- */
const dN = (v) => (v === null || v === undefined || v === '' ? 0 : Number(v) || 0);
const dNull = (v) => v === null || v === undefined || v === '' || !isFinite(Number(v));
const dInt = (v) => dN(v).toLocaleString();
function dPct(frac, digits = 1) {
  if (dNull(frac)) return '—';
  return (Number(frac) * 100).toLocaleString(undefined, { maximumFractionDigits: digits }) + '%';
}
// 45s, 4m 30s, 25m, 3h 10m, 2d 4h (seconds, possibly with a decimal)
function dDur(secs) {
  if (dNull(secs)) return '—';
  const s = Math.max(0, Number(secs));
  if (s < 60) return (Math.round(s * 10) / 10).toLocaleString() + 's';
  if (s < 600) { const m = Math.floor(s / 60), r = Math.floor(s % 60); return m + 'm' + (r ? ' ' + r + 's' : ''); }
  if (s < 3600) return Math.round(s / 60) + 'm';
  if (s < 86400) { const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60); return h + 'h' + (m ? ' ' + m + 'm' : ''); }
  const d = Math.floor(s / 86400), h = Math.floor((s % 86400) / 3600);
  return d + 'd' + (h ? ' ' + h + 'h' : '');
}
// an amount ("1234.50") in its currency: ¥1,234.50, $99.00; compact for axes: ¥12K
function dMoney(amount, cur, compact) {
  const n = dN(amount);
  const o = compact ? { notation: 'compact', maximumFractionDigits: 1 } : { minimumFractionDigits: 2, maximumFractionDigits: 2 };
  if (!cur) return n.toLocaleString(undefined, o);
  try {
    return new Intl.NumberFormat(undefined, { style: 'currency', currency: cur, currencyDisplay: cur === 'CNY' ? 'narrowSymbol' : 'symbol', ...o }).format(n);
  } catch (e) { return cur + ' ' + n.toLocaleString(undefined, o); }
}
// per-currency amounts → "¥1,200.00 + $50.00" (CNY first)
function dMoneyList(map) {
  const list = [...map].filter(([c]) => c).sort(([a], [b]) => (a === 'CNY' ? -1 : b === 'CNY' ? 1 : a.localeCompare(b)));
  return list.map(([c, v]) => dMoney(v, c));
}
const dIso = (d) => d.getFullYear() + '-' + String(d.getMonth() + 1).padStart(2, '0') + '-' + String(d.getDate()).padStart(2, '0');
function dParse(s) {
  const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(s || '');
  if (!m) return null;
  const d = new Date(Number(m[1]), Number(m[2]) - 1, Number(m[3]));
  return d.getMonth() === Number(m[2]) - 1 ? d : null;
}
function dAddDays(s, n) { const d = dParse(s); d.setDate(d.getDate() + n); return dIso(d); }
function dDaysBetween(a, b) { return Math.round((dParse(b) - dParse(a)) / 86400000); }
function dDayList(from, to) {
  const out = [];
  const d = dParse(from), end = dParse(to);
  if (!d || !end) return out;
  for (let i = 0; d <= end && i < 400; i++) { out.push(dIso(d)); d.setDate(d.getDate() + 1); }
  return out;
}
const dDayLabel = (s) => { const d = dParse(s); return d ? d.toLocaleDateString(undefined, { month: 'short', day: 'numeric' }) : s; };
const dLongDay = (s) => { const d = dParse(s); return d ? d.toLocaleDateString(undefined, { year: 'numeric', month: 'short', day: 'numeric' }) : s; };
function dMonthLabel(s) {
  if (s === 'none' || !s) return 'No date 未定';
  const m = /^(\d{4})-(\d{2})$/.exec(s);
  return m ? new Date(Number(m[1]), Number(m[2]) - 1, 1).toLocaleDateString(undefined, { month: 'short', year: 'numeric' }) : s;
}
// "2026-11-02 14:03:05.120" (the database's time) → "Nov 2, 02:03 PM"
function dStamp(s) {
  if (!s) return '';
  const d = new Date(String(s).replace(' ', 'T'));
  return isNaN(d) ? String(s) : d.toLocaleString(undefined, { month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit' });
}
// a label cut to about px pixels of a font (CJK characters are a full em)
function dFit(text, px, font = 12) {
  const s = String(text === null || text === undefined ? '' : text);
  let w = 0, out = '';
  for (const ch of s) {
    const cw = /[\u2e80-\u9fff\uac00-\ud7af\uff00-\uffef]/.test(ch) ? font : font * 0.6;
    if (w + cw > px) return out.replace(/\s+$/, '') + '…';
    w += cw; out += ch;
  }
  return s;
}
function dTh(en, zh, cls) { const h = el('th', cls || '', en); if (zh) h.append(el('span', 'zh', zh)); return h; }

/* ---------- SVG building blocks ---------- */
const DASH_NS = 'http://www.w3.org/2000/svg';
function dsvg(tag, attrs, text) {
  const e = document.createElementNS(DASH_NS, tag);
  for (const [k, v] of Object.entries(attrs || {})) if (v !== undefined && v !== null) e.setAttribute(k, String(v));
  if (text !== undefined && text !== null) e.textContent = String(text);
  return e;
}
// an <svg> of W×H drawn 1:1 (scaled down when there is less room), with a <title> and aria-label
function dashSvg(W, H, label, cls, chart) {
  const s = dsvg('svg', { viewBox: `0 0 ${W} ${H}`, width: W, height: H, class: 'dash-svg' + (cls ? ' ' + cls : ''), role: 'img',
    'aria-label': label, 'data-chart': chart, preserveAspectRatio: 'xMinYMin meet' });
  s.append(dsvg('title', {}, label));
  return s;
}
const f1 = (v) => (Math.round(v * 10) / 10).toString();
// round axis steps: 0, 5, 10, 15 … covering max in about n steps
function dashTicks(max, integer, n = 4) {
  if (!(max > 0)) return { max: 1, ticks: integer ? [0, 1] : [0, 0.5, 1], step: integer ? 1 : 0.5 };
  const raw = max / n, mag = 10 ** Math.floor(Math.log10(raw)), f = raw / mag;
  let step = (f <= 1 ? 1 : f <= 2 ? 2 : f <= 2.5 && !integer ? 2.5 : f <= 5 ? 5 : 10) * mag;
  if (integer) step = Math.max(1, Math.round(step));
  const top = Math.ceil(max / step - 1e-9) * step;
  const ticks = [];
  for (let v = 0; v <= top + step / 2; v += step) ticks.push(Math.round(v * 1e9) / 1e9);
  return { max: top, ticks, step };
}
// the same for durations in seconds: 30s, 5m, 1h, 1d steps
const DASH_TIME_STEPS = [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400, 172800,
  432000, 604800, 1209600, 2592000, 7776000];
function dashTimeTicks(max, n = 4) {
  if (!(max > 0)) return { max: 60, ticks: [0, 30, 60], step: 30 };
  const step = DASH_TIME_STEPS.find((s) => max / s <= n) || Math.ceil(max / n);
  const top = Math.ceil(max / step - 1e-9) * step;
  const ticks = [];
  for (let v = 0; v <= top + step / 2; v += step) ticks.push(v);
  return { max: top, ticks, step };
}
function dashLegend(items) {
  const box = el('div', 'dash-legend');
  for (const it of items) {
    const k = el('span', 'dash-key' + (it.cls ? ' ' + it.cls : ''));
    const sw = el('i', 'dash-sw' + (it.line ? ' line' : '') + (it.dashed ? ' dashed' : ''));
    sw.style.setProperty('--c', it.color);
    k.append(sw, el('span', '', it.label));
    if (it.key) k.dataset.key = it.key;
    box.append(k);
  }
  return box;
}

// Vertical bars: o = {width, height, label, chart, cats:[{key, label, title}], series:[{key, label, color}],
// val(i, j), stacked, integer, fmt, tickFmt, yTitle, xTitle, totals, valueLabels, labelPx}
function dashColumns(o) {
  const W = Math.max(300, Math.round(o.width)), H = o.height || 240;
  const L = o.left || 52, R = 14, T = 18, B = o.xTitle ? 46 : 28;
  const cats = o.cats, ser = o.series, n = Math.max(1, cats.length);
  const fmt = o.fmt || dInt, tfmt = o.tickFmt || fmt;
  const vals = cats.map((c, i) => ser.map((s, j) => dN(o.val(i, j))));
  const tot = vals.map((r) => (o.stacked ? r.reduce((a, b) => a + b, 0) : Math.max(0, ...r)));
  const tk = o.ticks || dashTicks(Math.max(0, ...tot), o.integer !== false);
  const ph = H - T - B, pw = W - L - R;
  const y = (v) => T + ph - (Math.min(v, tk.max) / tk.max) * ph;
  const svg = dashSvg(W, H, o.label, 'dash-cols', o.chart);
  const axis = dsvg('g', { class: 'dash-axis-y' });
  for (const v of tk.ticks) {
    axis.append(dsvg('line', { x1: L, x2: W - R, y1: f1(y(v)), y2: f1(y(v)), class: v ? 'dash-gl' : 'dash-base' }),
      dsvg('text', { x: L - 7, y: f1(y(v) + 4), 'text-anchor': 'end', class: 'dash-tick' }, tfmt(v)));
  }
  svg.append(axis);
  if (o.yTitle) svg.append(dsvg('text', { x: 12, y: T + ph / 2, transform: `rotate(-90 12 ${T + ph / 2})`, 'text-anchor': 'middle', class: 'dash-axis-t' }, o.yTitle));
  const band = pw / n;
  const gw = o.stacked ? Math.min(band * 0.7, 44) : Math.min(band * 0.8, ser.length * 30);
  const bw = o.stacked ? gw : gw / ser.length;
  const bars = dsvg('g', { class: 'dash-bars' });
  cats.forEach((c, i) => {
    const x0 = L + band * i + (band - gw) / 2;
    let acc = 0;
    ser.forEach((s, j) => {
      const v = vals[i][j];
      if (!(v > 0)) return;
      const x = o.stacked ? x0 : x0 + j * bw + 1;
      const top = o.stacked ? y(acc + v) : y(v), bottom = o.stacked ? y(acc) : y(0);
      const r = dsvg('rect', { x: f1(x), y: f1(top), width: f1(Math.max(1, o.stacked ? bw : bw - 2)), height: f1(Math.max(0.6, bottom - top)),
        fill: s.color, class: 'bar', rx: o.stacked ? 0 : 2, 'data-cat': c.key, 'data-series': s.key, 'data-value': v });
      r.append(dsvg('title', {}, (c.title || c.label) + ' · ' + s.label + ': ' + fmt(v)));
      bars.append(r);
      if (o.valueLabels && bw >= 22) bars.append(dsvg('text', { x: f1(x + (bw - 2) / 2), y: f1(top - 4), 'text-anchor': 'middle', class: 'dash-val' }, fmt(v)));
      acc += v;
    });
    if (o.stacked && o.totals && tot[i] > 0 && band >= 20) {
      bars.append(dsvg('text', { x: f1(x0 + gw / 2), y: f1(y(tot[i]) - 5), 'text-anchor': 'middle', class: 'dash-val' }, fmt(tot[i])));
    }
  });
  svg.append(bars);
  const every = Math.max(1, Math.ceil(n / Math.max(1, Math.floor(pw / (o.labelPx || 54)))));
  const xl = dsvg('g', { class: 'dash-axis-x' });
  cats.forEach((c, i) => {
    if (i % every) return;
    xl.append(dsvg('text', { x: f1(L + band * i + band / 2), y: H - B + 16, 'text-anchor': 'middle', class: 'dash-xl' },
      dFit(c.label, Math.max(band * every - 6, 30), 11)));
  });
  svg.append(xl);
  if (o.xTitle) svg.append(dsvg('text', { x: L + pw / 2, y: H - 8, 'text-anchor': 'middle', class: 'dash-axis-t' }, o.xTitle));
  svg.dataset.bars = String(bars.querySelectorAll('rect.bar').length);
  return svg;
}

// Horizontal bars, one row per item: o = {width, label, chart, rows:[{key, label, title, strong}], series,
// val(i, j) (null: no bar), stacked, max, min, integer, time, fmt, tickFmt, end(i), color(i, j, v), labelW, endW, xTitle, barH}
function dashRows(o) {
  const W = Math.max(260, Math.round(o.width)), rows = o.rows, ser = o.series;
  const ns = o.stacked ? 1 : ser.length;
  const barH = o.barH || (ns > 1 ? 10 : 14), gap = 3;
  const inner = ns * barH + (ns - 1) * gap, rowH = inner + (o.rowPad === undefined ? 12 : o.rowPad);
  const labelW = o.labelW || Math.round(Math.min(170, Math.max(84, W * 0.26)));
  const endW = o.endW === undefined ? 110 : o.endW;
  const T = 4, axisH = o.axis === false ? 2 : 20, titleH = o.xTitle ? 18 : 0;
  const H = T + rows.length * rowH + axisH + titleH;
  const L = labelW + 10, pw = Math.max(40, W - L - endW - 6);
  const fmt = o.fmt || dInt, tfmt = o.tickFmt || fmt;
  const vals = rows.map((r, i) => ser.map((s, j) => { const v = o.val(i, j); return dNull(v) ? null : Number(v); }));
  const flat = vals.map((r) => (o.stacked ? r.reduce((a, b) => a + (b || 0), 0) : Math.max(0, ...r.map((v) => v || 0))));
  const mins = vals.flat().filter((v) => v !== null);
  const lowest = Math.min(0, ...mins);
  let tk, lo = 0;
  if (o.max !== undefined && o.ticks) tk = o.ticks;
  else if (o.time) tk = dashTimeTicks(Math.max(0, ...flat));
  else tk = dashTicks(o.max !== undefined ? o.max : Math.max(0, ...flat), o.integer !== false && !o.pct);
  if (o.max !== undefined && !o.ticks) tk = { ...tk, max: o.max, ticks: tk.ticks.filter((v) => v <= o.max + 1e-9) };
  if (lowest < 0) {
    const neg = dashTicks(-lowest, false);
    const step = Math.max(neg.step, tk.step);
    lo = -Math.ceil(-lowest / step - 1e-9) * step;
    const hi = Math.max(step, Math.ceil(tk.max / step - 1e-9) * step);
    const ticks = [];
    for (let v = lo; v <= hi + step / 2; v += step) ticks.push(Math.round(v * 1e9) / 1e9);
    tk = { max: hi, ticks, step };
  }
  const span = tk.max - lo || 1;
  const x = (v) => L + ((Math.max(lo, Math.min(v, tk.max)) - lo) / span) * pw;
  const svg = dashSvg(W, H, o.label, 'dash-rows', o.chart);
  const yAxis = T + rows.length * rowH;
  if (o.axis !== false) {
    const g = dsvg('g', { class: 'dash-axis-x' });
    for (const v of tk.ticks) {
      g.append(dsvg('line', { x1: f1(x(v)), x2: f1(x(v)), y1: T, y2: yAxis, class: v === 0 ? 'dash-base' : 'dash-gl' }),
        dsvg('text', { x: f1(x(v)), y: yAxis + 14, 'text-anchor': 'middle', class: 'dash-tick' }, tfmt(v)));
    }
    svg.append(g);
  }
  if (o.xTitle) svg.append(dsvg('text', { x: L + pw / 2, y: H - 4, 'text-anchor': 'middle', class: 'dash-axis-t' }, o.xTitle));
  const body = dsvg('g', { class: 'dash-bars' });
  rows.forEach((r, i) => {
    const g = dsvg('g', { class: 'dash-row' + (r.strong ? ' strong' : ''), 'data-key': r.key });
    if (r.title || o.rowTitle) g.append(dsvg('title', {}, o.rowTitle ? o.rowTitle(i) : r.title));
    const y0 = T + i * rowH;
    if (r.strong && i) g.append(dsvg('line', { x1: 0, x2: W, y1: y0 + 0.5, y2: y0 + 0.5, class: 'dash-sep' }));
    const top = y0 + (rowH - inner) / 2;
    g.append(dsvg('text', { x: labelW, y: f1(top + inner / 2 + 4), 'text-anchor': 'end', class: 'dash-rl' }, dFit(r.label, labelW, 12)));
    let acc = 0, far = 0;
    ser.forEach((s, j) => {
      const v = vals[i][j];
      if (v === null || v === 0) return;
      const by = o.stacked ? top : top + j * (barH + gap);
      const a = o.stacked ? x(acc) : x(Math.min(0, v)), b = o.stacked ? x(acc + v) : x(Math.max(0, v));
      const rect = dsvg('rect', { x: f1(a), y: f1(by), width: f1(Math.max(1.5, b - a)), height: barH, rx: o.stacked ? 0 : 2,
        fill: o.color ? o.color(i, j, v) : s.color, class: 'bar', 'data-series': s.key, 'data-value': v });
      rect.append(dsvg('title', {}, r.label + ' · ' + s.label + ': ' + fmt(v)));
      g.append(rect);
      acc += v;
      far = Math.max(far, b);
    });
    const endText = o.end ? o.end(i) : fmt(o.stacked ? acc : Math.max(...vals[i].map((v) => v || 0)));
    if (endText) {
      const ex = o.endAt === 'right' ? L + pw + 8 : Math.max(far, x(0)) + 6;
      g.append(dsvg('text', { x: f1(ex), y: f1(top + inner / 2 + 4), class: 'dash-end' }, endText));
    }
    body.append(g);
  });
  svg.append(body);
  svg.dataset.bars = String(body.querySelectorAll('rect.bar').length);
  return svg;
}

// Lines over days: o = {width, height, label, chart, xs:[day], series:[{key, label, color, values, area, dashed, main}], yTitle, xTitle}
function dashLines(o) {
  const W = Math.max(300, Math.round(o.width)), H = o.height || 230;
  const L = 52, R = 16, T = 16, B = o.xTitle ? 46 : 28;
  const n = o.xs.length, pw = W - L - R, ph = H - T - B;
  const tk = dashTicks(Math.max(0, ...o.series.flatMap((s) => s.values.map(dN))), true);
  const x = (i) => (n <= 1 ? L + pw / 2 : L + (i * pw) / (n - 1));
  const y = (v) => T + ph - (dN(v) / tk.max) * ph;
  const svg = dashSvg(W, H, o.label, 'dash-lines', o.chart);
  for (const v of tk.ticks) {
    svg.append(dsvg('line', { x1: L, x2: W - R, y1: f1(y(v)), y2: f1(y(v)), class: v ? 'dash-gl' : 'dash-base' }),
      dsvg('text', { x: L - 7, y: f1(y(v) + 4), 'text-anchor': 'end', class: 'dash-tick' }, dInt(v)));
  }
  if (o.yTitle) svg.append(dsvg('text', { x: 12, y: T + ph / 2, transform: `rotate(-90 12 ${T + ph / 2})`, 'text-anchor': 'middle', class: 'dash-axis-t' }, o.yTitle));
  for (const s of o.series) {
    const pts = s.values.map((v, i) => f1(x(i)) + ',' + f1(y(v)));
    if (s.area && n > 1) svg.append(dsvg('polygon', { points: `${f1(x(0))},${f1(y(0))} ${pts.join(' ')} ${f1(x(n - 1))},${f1(y(0))}`, fill: s.color, class: 'dash-area' }));
    svg.append(dsvg('polyline', { points: pts.join(' '), stroke: s.color, class: 'dash-line' + (s.main ? ' main' : '') + (s.dashed ? ' dashed' : ''),
      'data-series': s.key, 'data-points': n }));
    if (s.main && n <= 62) {
      const g = dsvg('g', { class: 'dash-pts' });
      s.values.forEach((v, i) => g.append(dsvg('circle', { cx: f1(x(i)), cy: f1(y(v)), r: n > 31 ? 2 : 2.8, stroke: s.color, class: 'pt' })));
      svg.append(g);
    }
  }
  // what is under the pointer, as a tooltip per day
  const hits = dsvg('g', { class: 'dash-hits' });
  const hw = n > 1 ? pw / (n - 1) : pw;
  o.xs.forEach((d, i) => {
    const r = dsvg('rect', { x: f1(x(i) - hw / 2), y: T, width: f1(hw), height: ph, class: 'hit' });
    r.append(dsvg('title', {}, dLongDay(d) + ' — ' + o.series.map((s) => s.label + ' ' + dInt(s.values[i])).join(' · ')));
    hits.append(r);
  });
  svg.append(hits);
  const every = Math.max(1, Math.ceil(n / Math.max(1, Math.floor(pw / 58))));
  const xl = dsvg('g', { class: 'dash-axis-x' });
  o.xs.forEach((d, i) => {
    if (i % every) return;
    xl.append(dsvg('text', { x: f1(x(i)), y: H - B + 16, 'text-anchor': n > 1 && i === 0 ? 'start' : 'middle', class: 'dash-xl' }, dDayLabel(d)));
  });
  svg.append(xl);
  if (o.xTitle) svg.append(dsvg('text', { x: L + pw / 2, y: H - 8, 'text-anchor': 'middle', class: 'dash-axis-t' }, o.xTitle));
  return svg;
}

// A funnel: o = {width, label, chart, stages:[{key, label, value, conv, note}]} — bars centred,
// as wide as their count, the conversion to the next stage between them
function dashFunnel(o) {
  const W = Math.max(320, Math.round(o.width)), st = o.stages;
  const labelW = Math.min(150, Math.round(W * 0.26)), noteW = Math.min(190, Math.round(W * 0.3));
  const rowH = 30, gapH = 20, T = 6, B = 6;
  const H = T + st.length * rowH + Math.max(0, st.length - 1) * gapH + B;
  const maxW = W - labelW - noteW - 24, cx = labelW + 12 + maxW / 2;
  const max = Math.max(1, ...st.map((s) => dN(s.value)));
  const svg = dashSvg(W, H, o.label, 'dash-funnel', o.chart);
  const shade = (i) => `hsl(221 ${Math.round(83 - i * 6)}% ${Math.round(53 + (i * 22) / Math.max(1, st.length - 1))}%)`;
  st.forEach((s, i) => {
    const y0 = T + i * (rowH + gapH);
    const v = dN(s.value), w = v ? Math.max(24, (v / max) * maxW) : 3;
    const g = dsvg('g', { class: 'dash-stage', 'data-key': s.key });
    g.append(dsvg('title', {}, s.label + ': ' + dInt(v) + ' reached' + (s.note ? ' · ' + s.note : '') + (s.title ? ' (' + s.title + ')' : '')));
    g.append(dsvg('text', { x: labelW, y: y0 + rowH / 2 + 4, 'text-anchor': 'end', class: 'dash-rl' }, dFit(s.label, labelW, 12)));
    g.append(dsvg('rect', { x: f1(cx - w / 2), y: y0, width: f1(w), height: rowH, rx: 5, fill: shade(i), class: 'bar', 'data-value': v }));
    g.append(dsvg('text', { x: f1(w >= 44 ? cx : cx + w / 2 + 6), y: y0 + rowH / 2 + 4, 'text-anchor': w >= 44 ? 'middle' : 'start',
      class: w >= 44 ? 'dash-in' : 'dash-end' }, dInt(v)));
    if (s.note) g.append(dsvg('text', { x: W - noteW, y: y0 + rowH / 2 + 4, class: 'dash-note' }, dFit(s.note, noteW, 11.5)));
    if (i < st.length - 1) {
      const cy = y0 + rowH + gapH / 2 + 4;
      g.append(dsvg('text', { x: f1(cx), y: cy, 'text-anchor': 'middle', class: 'dash-conv' }, '↓ ' + dPct(s.conv)));
    }
    svg.append(g);
  });
  return svg;
}

// a ring showing a share (0–1) with the figure inside
function dashDonut(frac, color, label, chart) {
  const s = dashSvg(120, 120, label, 'dash-donut', chart);
  const c = 2 * Math.PI * 48;
  s.append(dsvg('circle', { cx: 60, cy: 60, r: 48, class: 'dash-ring-track' }));
  if (!dNull(frac) && Number(frac) > 0) {
    s.append(dsvg('circle', { cx: 60, cy: 60, r: 48, class: 'dash-ring bar', stroke: color, transform: 'rotate(-90 60 60)',
      'stroke-dasharray': `${f1(c * Math.min(1, Number(frac)))} ${f1(c)}`, 'data-value': frac }));
  }
  s.append(dsvg('text', { x: 60, y: 66, 'text-anchor': 'middle', class: 'dash-ring-n' }, dPct(frac)));
  return s;
}
// a small bar for a table cell
function dashMini(v, max, color, title) {
  const W = 96, H = 10;
  const s = dsvg('svg', { viewBox: `0 0 ${W} ${H}`, width: W, height: H, class: 'dash-mini', role: 'img', 'aria-label': title });
  s.append(dsvg('title', {}, title));
  s.append(dsvg('rect', { x: 0, y: 0, width: W, height: H, rx: 5, class: 'track' }));
  const w = max > 0 && v > 0 ? Math.max(3, Math.min(1, v / max) * W) : 0;
  if (w) s.append(dsvg('rect', { x: 0, y: 0, width: f1(w), height: H, rx: 5, fill: color, class: 'bar', 'data-value': v }));
  return s;
}

/* ---------- cards, tiles, tables ---------- */
function dashData(name) { const d = dash.rep && dash.rep.datasets && dash.rep.datasets[name]; return (d && d.rows) || []; }
function dashCsvUrl(ds) {
  return '/api/v1/reports/' + encodeURIComponent(dash.rep.report) + '?' + dash.query + '&format=csv&dataset=' + encodeURIComponent(ds);
}
function dashEmpty(text) {
  const e = el('div', 'dash-empty');
  e.append(icon('chart', 'big'), el('p', '', text || DASH_NO_DATA), el('p', 'muted', '本期无数据'));
  return e;
}
// the dataset as it came: its columns, its rows, null as —
function dashDataTable(ds) {
  const t = el('table', 'dash-dtable');
  const hr = el('tr');
  for (const c of ds.columns || []) hr.append(el('th', '', c));
  const th = el('thead'); th.append(hr);
  const tb = el('tbody');
  for (const r of ds.rows || []) {
    const tr = el('tr');
    for (const c of ds.columns || []) {
      const v = r[c];
      const td = el('td', typeof v === 'number' ? 'num' : v === null || v === undefined ? 'null' : '', v === null || v === undefined ? '—' : String(v));
      tr.append(td);
    }
    tb.append(tr);
  }
  if (!(ds.rows || []).length) {
    const tr = el('tr'); const td = el('td', 'null', 'No rows 无数据'); td.colSpan = Math.max(1, (ds.columns || []).length); tr.append(td); tb.append(tr);
  }
  t.append(th, tb);
  return t;
}
// o = {ds, id, title, zh, sub, size: full|half|third|twothird, empty, draw(width) → node(s), legend}
function dashCard(o) {
  const r = dash.rep, id = o.id || o.ds;
  const ds = (r.datasets && r.datasets[o.ds]) || { columns: [], rows: [] };
  const card = el('section', 'card dash-card s-' + (o.size || 'half'));
  card.dataset.card = id;
  card.dataset.dataset = o.ds;
  card.dataset.rows = String((ds.rows || []).length);
  const head = el('div', 'dash-card-head');
  const tbox = el('div', 'dash-card-t');
  const h = el('h3', 'dash-h3', o.title);
  h.id = 'dash-h-' + id;
  if (o.zh) h.append(el('span', 'zh', o.zh));
  tbox.append(h);
  if (o.sub) tbox.append(el('p', 'dash-sub', o.sub));
  card.setAttribute('aria-labelledby', h.id);
  const key = r.report + '/' + id;
  const tools = el('div', 'dash-tools');
  const tblBtn = button('Table', 'dash-tool dash-tbl', null, 'table');
  tblBtn.append(el('span', 'zh', '表格'));
  tblBtn.title = 'Show the data as a table · 显示数据表';
  const tw = el('div', 'dash-table-wrap');
  tw.id = 'dash-tbl-' + id;
  tblBtn.setAttribute('aria-controls', tw.id);
  const setOpen = (on) => {
    tw.hidden = !on;
    tblBtn.setAttribute('aria-pressed', on ? 'true' : 'false');
    tblBtn.classList.toggle('on', on);
    if (on && !tw.firstChild) tw.append(dashDataTable(ds));
    if (on) dash.open.add(key); else dash.open.delete(key);
  };
  tblBtn.addEventListener('click', () => setOpen(tw.hidden));
  const csv = el('a', 'dash-tool dash-csv');
  csv.href = dashCsvUrl(o.ds);
  csv.setAttribute('download', `${r.report}-${o.ds}-${r.from || dash.from}-${r.to || dash.to}.csv`);
  csv.title = 'Download “' + o.ds + '” as CSV (opens in a spreadsheet) · 下载 CSV';
  csv.dataset.dataset = o.ds;
  csv.append(icon('download'), document.createTextNode('CSV'));
  tools.append(tblBtn, csv);
  head.append(tbox, tools);
  const body = el('div', 'dash-card-body');
  card.append(head, body);
  let legend = null;
  if (o.legend && o.legend.length && !o.empty) { legend = dashLegend(o.legend); card.append(legend); }
  card.append(tw);
  setOpen(dash.open.has(key));
  card.dashDraw = () => {
    if (o.empty) {
      card.classList.add('is-empty');
      body.replaceChildren(dashEmpty(o.emptyText));
      return;
    }
    const w = Math.max(260, body.clientWidth || 560);
    const out = o.draw(w);
    body.replaceChildren(...(Array.isArray(out) ? out : [out]));
  };
  return card;
}
// key figures on top: [{key, label, zh, value (string or [strings]), sub, tone}]
function dashKpis(list) {
  const box = el('div', 'dash-kpis');
  for (const k of list) {
    const t = el('div', 'dash-kpi' + (k.tone ? ' ' + k.tone : ''));
    t.dataset.key = k.key;
    const l = el('div', 'dash-kpi-l', k.label);
    if (k.zh) l.append(el('span', 'zh', k.zh));
    const vals = Array.isArray(k.value) ? k.value : [k.value];
    const v = el('div', 'dash-kpi-v' + (vals.length > 1 ? ' multi' : ''));
    for (const x of vals.length ? vals : ['—']) v.append(el('span', '', x));
    t.append(l, v);
    if (k.sub) t.append(el('div', 'dash-kpi-s', k.sub));
    if (k.title) t.title = k.title;
    box.append(t);
  }
  return box;
}
// a caption over one of several charts in a card
function dashSub(title, node) {
  const b = el('div', 'dash-subchart');
  b.append(el('h4', 'dash-h4', title), node);
  return b;
}
const dashChLabel = (c) => DASH_CH_LABEL[c] || c;

/* ---------- service ---------- */
function dashService(r) {
  const vol = dashData('volume'), back = dashData('backlog'), resp = dashData('response'), sla = dashData('sla');
  const byAgent = dashData('csat_by_agent'), byTeam = dashData('csat_by_team'), byCh = dashData('csat_by_channel');
  const flagged = dashData('flagged');
  const all = (rows) => rows.find((x) => x.channel === 'all') || {};
  const tickets = vol.reduce((a, x) => a + dN(x.tickets), 0);
  const solved = back.reduce((a, x) => a + dN(x.solved), 0);
  const ratings = byCh.reduce((a, x) => a + dN(x.ratings), 0);
  const csat = ratings ? byCh.reduce((a, x) => a + dN(x.average) * dN(x.ratings), 0) / ratings : null;
  const sat = ratings ? byCh.reduce((a, x) => a + dN(x.satisfied) * dN(x.ratings), 0) / ratings : null;
  const slaAll = all(sla), respAll = all(resp);
  const last = back.length ? back[back.length - 1] : null;
  const kpis = dashKpis([
    { key: 'tickets', label: 'Tickets', zh: '新工单', value: dInt(tickets), sub: 'created in the period' },
    { key: 'solved', label: 'Solved', zh: '已解决', value: dInt(solved), sub: last ? 'backlog ' + dInt(last.backlog) + ' at the end' : '', tone: solved ? 'good' : '' },
    { key: 'first_response', label: 'First response', zh: '首次响应', value: dDur(respAll.first_response_median_secs), sub: 'median · p90 ' + dDur(respAll.first_response_p90_secs) },
    { key: 'resolution', label: 'Resolution', zh: '解决时长', value: dDur(respAll.resolution_median_secs), sub: 'median · p90 ' + dDur(respAll.resolution_p90_secs) },
    { key: 'sla', label: 'SLA met', zh: 'SLA 达成', value: dPct(slaAll.attainment), sub: dInt(slaAll.breached) + ' breached of ' + dInt(slaAll.with_sla),
      tone: dNull(slaAll.attainment) ? '' : Number(slaAll.attainment) >= 0.9 ? 'good' : Number(slaAll.attainment) >= 0.75 ? 'warn' : 'bad' },
    { key: 'csat', label: 'CSAT', zh: '满意度', value: csat === null ? '—' : csat.toFixed(2) + ' / 5', sub: ratings ? dInt(ratings) + ' ratings · ' + dPct(sat, 0) + ' satisfied' : 'no ratings',
      tone: csat === null ? '' : csat >= 4 ? 'good' : csat >= 3 ? 'warn' : 'bad' },
    { key: 'flagged', label: 'Complaints', zh: '投诉', value: dInt(flagged.length), sub: 'flagged tickets', tone: flagged.length ? 'bad' : '' },
  ]);

  const days = dDayList(r.from, r.to);
  const chans = DASH_CHANNELS.filter((c) => vol.some((x) => x.channel === c));
  const volIdx = new Map(vol.map((x) => [x.day + '/' + x.channel, dN(x.tickets)]));
  const volCard = dashCard({ ds: 'volume', title: 'Tickets per day', zh: '每日工单量', sub: 'New tickets by channel, stacked', size: 'full',
    empty: !vol.length, legend: chans.map((c) => ({ key: c, label: dashChLabel(c), color: DASH_CH_COLOR[c] })),
    draw: (w) => dashColumns({ width: w, height: 250, chart: 'volume', stacked: true, totals: days.length <= 45,
      label: `Tickets created per day by channel, ${r.from} to ${r.to}: ${dInt(tickets)} in total`,
      cats: days.map((d) => ({ key: d, label: dDayLabel(d), title: dLongDay(d) })), series: chans.map((c) => ({ key: c, label: dashChLabel(c), color: DASH_CH_COLOR[c] })),
      val: (i, j) => volIdx.get(days[i] + '/' + chans[j]) || 0, yTitle: 'Tickets 工单', xTitle: 'Day 日期' }) });

  const backEmpty = !back.length || back.every((x) => !dN(x.created) && !dN(x.solved) && !dN(x.backlog));
  const backCard = dashCard({ ds: 'backlog', title: 'Backlog', zh: '积压工单', sub: 'Unsolved at the end of each day, with created and solved', size: 'half',
    empty: backEmpty,
    legend: [{ key: 'backlog', label: 'Backlog 积压', color: DASH_C.accent, line: true }, { key: 'created', label: 'Created 新建', color: '#0ea5e9', line: true, dashed: true },
      { key: 'solved', label: 'Solved 解决', color: DASH_C.good, line: true }],
    draw: (w) => dashLines({ width: w, height: 240, chart: 'backlog',
      label: `Backlog per day, ${r.from} to ${r.to}: ${last ? dInt(last.backlog) : 0} unsolved at the end`,
      xs: back.map((x) => x.day), yTitle: 'Tickets 工单', xTitle: 'Day 日期',
      series: [{ key: 'created', label: 'Created', color: '#0ea5e9', values: back.map((x) => dN(x.created)), dashed: true },
        { key: 'solved', label: 'Solved', color: DASH_C.good, values: back.map((x) => dN(x.solved)) },
        { key: 'backlog', label: 'Backlog', color: DASH_C.accent, values: back.map((x) => dN(x.backlog)), area: true, main: true }] }) });

  const slaRows = sla.filter((x) => dN(x.with_sla) > 0 || x.channel === 'all');
  const slaCard = dashCard({ ds: 'sla', title: 'SLA attainment', zh: 'SLA 达成率', sub: 'Tickets with an SLA target: met, breached or still pending', size: 'half',
    empty: !sla.some((x) => dN(x.with_sla) > 0),
    legend: [{ key: 'met', label: 'Met 达成', color: DASH_C.good }, { key: 'breached', label: 'Breached 超时', color: DASH_C.bad }, { key: 'pending', label: 'Pending 进行中', color: DASH_C.grey }],
    draw: (w) => dashRows({ width: w, chart: 'sla', stacked: true, pct: true, max: 1, barH: 16, endW: 128,
      label: 'SLA attainment by channel: ' + slaRows.map((x) => dashChLabel(x.channel) + ' ' + dPct(x.attainment)).join(', '),
      rows: slaRows.map((x) => ({ key: x.channel, label: dashChLabel(x.channel), strong: x.channel === 'all' })),
      series: [{ key: 'met', label: 'Met', color: DASH_C.good }, { key: 'breached', label: 'Breached', color: DASH_C.bad }, { key: 'pending', label: 'Pending', color: DASH_C.grey }],
      val: (i, j) => { const x = slaRows[i]; const n = dN(x.with_sla); return n ? dN(x[['met', 'breached', 'pending'][j]]) / n : null; },
      fmt: (v) => dPct(v, 0), tickFmt: (v) => Math.round(v * 100) + '%',
      rowTitle: (i) => { const x = slaRows[i]; return `${dashChLabel(x.channel)}: ${dInt(x.met)} met, ${dInt(x.breached)} breached, ${dInt(x.pending)} pending of ${dInt(x.with_sla)}`; },
      end: (i) => { const x = slaRows[i]; return dPct(x.attainment) + ' met · ' + dInt(x.with_sla); }, xTitle: 'Share of tickets with an SLA 占比' }) });

  const respRows = resp.filter((x) => dN(x.tickets) > 0 || x.channel === 'all');
  const respChart = (w, what, zh) => dashRows({ width: w, chart: 'response-' + what, time: true, endW: 116,
    label: `${what === 'first_response' ? 'First response' : 'Resolution'} time by channel, median and 90th percentile`,
    rows: respRows.map((x) => ({ key: x.channel, label: dashChLabel(x.channel), strong: x.channel === 'all' })),
    series: [{ key: 'median', label: 'Median', color: what === 'first_response' ? '#0ea5e9' : '#8b5cf6' },
      { key: 'p90', label: 'p90', color: what === 'first_response' ? '#bae6fd' : '#ddd6fe' }],
    val: (i, j) => respRows[i][what + (j ? '_p90_secs' : '_median_secs')],
    fmt: dDur, tickFmt: dDur, xTitle: zh,
    rowTitle: (i) => { const x = respRows[i]; return what === 'first_response' ? `${dashChLabel(x.channel)}: ${dInt(x.responded)} of ${dInt(x.tickets)} answered` : `${dashChLabel(x.channel)}: ${dInt(x.solved)} of ${dInt(x.tickets)} solved`; },
    end: (i) => { const x = respRows[i]; return dDur(x[what + '_median_secs']) + ' · ' + dDur(x[what + '_p90_secs']); } });
  const respCard = dashCard({ ds: 'response', title: 'Response and resolution times', zh: '响应与解决时长',
    sub: 'Tickets created in the period, per channel: median and 90th percentile (p90)', size: 'full',
    empty: !resp.some((x) => !dNull(x.first_response_median_secs) || !dNull(x.resolution_median_secs)),
    legend: [{ key: 'fr-median', label: 'First response, median 首次响应中位数', color: '#0ea5e9' }, { key: 'fr-p90', label: 'First response, p90', color: '#bae6fd' },
      { key: 'res-median', label: 'Resolution, median 解决中位数', color: '#8b5cf6' }, { key: 'res-p90', label: 'Resolution, p90', color: '#ddd6fe' }],
    draw: (w) => {
      const half = w >= 760 ? Math.floor((w - 28) / 2) : w;
      const pair = el('div', 'dash-pair');
      pair.append(dashSub('First response 首次响应', respChart(half, 'first_response', 'Time to the first answer 首次响应时长')),
        dashSub('Resolution 解决', respChart(half, 'resolution', 'Time to solved 解决时长')));
      return pair;
    } });

  const csatCard = (ds, title, zh, rows, labelOf, keyOf) => {
    const shown = rows.slice(0, 12);
    return dashCard({ ds, title, zh, size: 'third', empty: !rows.length,
      sub: rows.length > 12 ? `Average rating, the 12 most rated of ${rows.length}` : 'Average ★ · ratings · satisfied',
      draw: (w) => dashRows({ width: w, chart: ds, max: 5, ticks: { max: 5, ticks: [0, 1, 2, 3, 4, 5], step: 1 }, endW: 104, labelW: Math.min(120, Math.round(w * 0.3)),
        label: title + ': ' + shown.map((x) => labelOf(x) + ' ' + dN(x.average).toFixed(2)).join(', '),
        rows: shown.map((x) => ({ key: String(keyOf(x)), label: labelOf(x) })),
        series: [{ key: 'average', label: 'Average', color: DASH_C.good }],
        color: (i, j, v) => (v >= 4 ? DASH_C.good : v >= 3 ? DASH_C.warn : DASH_C.bad),
        val: (i) => shown[i].average, fmt: (v) => dN(v).toFixed(2), tickFmt: (v) => String(v),
        rowTitle: (i) => { const x = shown[i]; return `${labelOf(x)}: average ${dN(x.average).toFixed(2)} from ${dInt(x.ratings)} ratings, ${dPct(x.satisfied, 0)} satisfied`; },
        end: (i) => { const x = shown[i]; return dN(x.average).toFixed(2) + ' · ' + dInt(x.ratings) + ' · ' + dPct(x.satisfied, 0); },
        xTitle: 'Average rating 平均分 (★)' }) });
  };
  const agentName = (x) => x.name || (x.agent_id ? 'Agent #' + x.agent_id : 'No agent 无坐席');
  const teamName = (x) => x.name || (x.team_id ? 'Team #' + x.team_id : 'No team 未分组');

  const flagCard = dashCard({ ds: 'flagged', title: 'Flagged tickets', zh: '投诉工单', size: 'full', empty: !flagged.length,
    emptyText: 'No flagged tickets in this period',
    sub: 'A customer message held a complaint keyword' + (flagged.length >= 200 ? ' · the latest 200' : ''),
    draw: () => dashFlagTable(flagged) });

  return [kpis, [volCard, backCard, slaCard, respCard,
    csatCard('csat_by_agent', 'CSAT by agent', '按坐席', byAgent, agentName, (x) => x.agent_id),
    csatCard('csat_by_team', 'CSAT by team', '按团队', byTeam, teamName, (x) => x.team_id),
    csatCard('csat_by_channel', 'CSAT by channel', '按渠道', byCh, (x) => dashChLabel(x.channel), (x) => x.channel), flagCard]];
}
function dashFlagTable(rows) {
  const t = el('table', 'dash-table dash-flagged');
  const hr = el('tr');
  hr.append(dTh('Flagged', '时间'), dTh('Ticket', '工单'), dTh('Keywords', '关键词'), dTh('Priority', '优先级'), dTh('Status', '状态'), dTh('Assignee', '负责人'));
  const th = el('thead'); th.append(hr);
  const tb = el('tbody');
  for (const x of rows) {
    const tr = el('tr', 'dash-click');
    tr.dataset.id = x.ticket_id;
    tr.tabIndex = 0;
    tr.title = 'Open conversation #' + x.ticket_id + ' · 打开会话';
    const tm = el('td', 'time', dStamp(x.flagged_at)); tm.title = x.flagged_at || '';
    const sj = el('td', 'subj');
    const sw = el('span', 'dash-subj');
    sw.append(channelBadge(x.channel || 'web'), el('span', 'dash-subj-t', x.subject || CHANNEL_LABEL[x.channel] || x.channel || ''), el('span', 'tid', '#' + x.ticket_id));
    sj.append(sw);
    const kw = el('td', 'kw');
    for (const w of String(x.flag_reason || '').split(/\s*[,，、]\s*/).filter(Boolean)) kw.append(badge(w, 'q-kw-hit'));
    const pr = el('td'); pr.append(badge(DASH_PRIO[x.priority] || x.priority || '', 'prio ' + (x.priority || '')));
    const st = el('td'); st.append(badge(DASH_STATUS[x.status] || x.status || '', x.status || ''));
    const who = el('td', 'who', x.assignee || 'Unassigned 未分配');
    if (!x.assignee) who.classList.add('muted');
    tr.append(tm, sj, kw, pr, st, who);
    const open = () => { go('tickets'); openTicket(Number(x.ticket_id)).catch((e) => toast(errText(e), 'bad')); };
    tr.addEventListener('click', open);
    tr.addEventListener('keydown', (e) => { if (e.key === 'Enter') open(); });
    tb.append(tr);
  }
  t.append(th, tb);
  const wrap = el('div', 'dash-scroll');
  wrap.append(t);
  return wrap;
}

/* ---------- agents ---------- */
function dashAgents() {
  const rows = dashData('agents');
  const handled = rows.reduce((a, x) => a + dN(x.handled), 0);
  const replies = rows.reduce((a, x) => a + dN(x.replies), 0);
  const withAvg = rows.filter((x) => !dNull(x.avg_handle_secs) && dN(x.handled));
  const handleSecs = withAvg.reduce((a, x) => a + dN(x.avg_handle_secs) * dN(x.handled), 0);
  const avg = withAvg.length ? handleSecs / withAvg.reduce((a, x) => a + dN(x.handled), 0) : null;
  const online = rows.reduce((a, x) => a + dN(x.online_secs), 0);
  const kpis = dashKpis([
    { key: 'agents', label: 'Agents', zh: '坐席', value: dInt(rows.length), sub: dInt(rows.filter((x) => dN(x.handled)).length) + ' solved something' },
    { key: 'handled', label: 'Solved', zh: '已解决', value: dInt(handled), sub: 'tickets solved by their assignee', tone: 'good' },
    { key: 'replies', label: 'Replies', zh: '回复', value: dInt(replies), sub: 'messages to customers' },
    { key: 'avg_handle', label: 'Handle time', zh: '平均处理时长', value: dDur(avg), sub: 'from assignment to solved' },
    { key: 'online', label: 'Online', zh: '在线时长', value: dDur(online), sub: 'all agents together' },
    { key: 'occupancy', label: 'Occupancy', zh: '占用率', value: online ? dPct(handleSecs / online, 0) : '—', sub: 'handling time / online time' },
  ]);
  const card = dashCard({ ds: 'agents', title: 'Agent ranking', zh: '坐席排名', size: 'full', empty: !rows.length,
    sub: 'Ranked by tickets solved, then by the faster average handle time. Occupancy over 100% means several chats at once.',
    legend: [{ key: 'handled', label: 'Solved 已解决', color: DASH_C.accent }, { key: 'occupancy', label: 'Occupancy 占用率', color: DASH_C.good },
      { key: 'over', label: 'Over 100% (concurrent) 并发', color: DASH_C.warn }],
    draw: () => dashAgentTable(rows) });
  const busy = rows.filter((x) => dN(x.online_secs) > 0 || dN(x.handled) > 0);
  const handling = (x) => (dNull(x.avg_handle_secs) ? null : dN(x.avg_handle_secs) * dN(x.handled));
  const workCard = dashCard({ ds: 'agents', id: 'workload', title: 'Online and handling time', zh: '在线与处理时长', size: 'half', empty: !busy.length,
    sub: 'Time online in the period, and time from assignment to solved of the tickets solved',
    legend: [{ key: 'online', label: 'Online 在线', color: '#cbd5e1' }, { key: 'handling', label: 'Handling 处理', color: DASH_C.accent }],
    draw: (w) => dashRows({ width: w, chart: 'workload', time: true, endW: 74,
      label: 'Online and handling time per agent: ' + busy.map((x) => `${x.name} online ${dDur(x.online_secs)}, handling ${dDur(handling(x))}`).join('; '),
      rows: busy.map((x) => ({ key: String(x.agent_id), label: x.name || 'Agent #' + x.agent_id })),
      series: [{ key: 'online', label: 'Online', color: '#cbd5e1' }, { key: 'handling', label: 'Handling', color: DASH_C.accent }],
      val: (i, j) => (j ? handling(busy[i]) : busy[i].online_secs), fmt: dDur, tickFmt: dDur,
      end: (i) => (dNull(busy[i].occupancy) ? '—' : dPct(busy[i].occupancy, 0) + ' busy'), xTitle: 'Time 时长' }) });
  const loadCard = dashCard({ ds: 'agents', id: 'load', title: 'Open tickets now', zh: '当前负载', size: 'half', empty: !rows.some((x) => dN(x.open_now)),
    emptyText: 'Nobody has open tickets right now',
    sub: 'New and open tickets assigned to each agent at this moment',
    draw: (w) => dashColumns({ width: w, height: 250, chart: 'load', valueLabels: true, yTitle: 'Tickets 工单', labelPx: 64,
      label: 'Open tickets per agent now: ' + rows.map((x) => `${x.name} ${dInt(x.open_now)}`).join(', '),
      cats: rows.map((x) => ({ key: String(x.agent_id), label: x.name || '#' + x.agent_id, title: x.name || '#' + x.agent_id })),
      series: [{ key: 'open_now', label: 'Open now', color: '#8b5cf6' }], val: (i) => rows[i].open_now }) });
  return [kpis, [card, workCard, loadCard]];
}
function dashAgentTable(rows) {
  const maxH = Math.max(1, ...rows.map((x) => dN(x.handled)));
  const maxO = Math.max(1, ...rows.map((x) => dN(x.occupancy)));
  const t = el('table', 'dash-table dash-rank');
  const hr = el('tr');
  hr.append(dTh('#', '', 'rank'), dTh('Agent', '坐席'), dTh('Team', '团队'), dTh('Solved', '解决', 'bar-col'), dTh('Replies', '回复', 'n'),
    dTh('Open now', '处理中', 'n'), dTh('Avg handle', '平均处理', 'n'), dTh('Online', '在线', 'n'), dTh('Occupancy', '占用率', 'bar-col'));
  const th = el('thead'); th.append(hr);
  const tb = el('tbody');
  for (const x of rows) {
    const tr = el('tr');
    tr.dataset.agent = x.agent_id;
    const rk = el('td', 'rank');
    rk.append(el('span', 'dash-rank-n r' + Math.min(4, dN(x.rank) || 4), String(x.rank === null || x.rank === undefined ? '' : x.rank)));
    const nm = el('td', 'name');
    const nw = el('span', 'q-gname'); nw.append(avatar(x.name, 'sm'), el('span', '', x.name || 'Agent #' + x.agent_id)); nm.append(nw);
    const h = el('td', 'bar-col');
    const hb = el('span', 'dash-barcell'); hb.append(dashMini(dN(x.handled), maxH, DASH_C.accent, (x.name || '') + ': ' + dInt(x.handled) + ' solved'), el('strong', '', dInt(x.handled)));
    h.append(hb);
    const occ = el('td', 'bar-col');
    const ob = el('span', 'dash-barcell');
    if (dNull(x.occupancy)) ob.append(el('span', 'muted', 'not online 未在线'));
    else ob.append(dashMini(dN(x.occupancy), maxO, dN(x.occupancy) > 1 ? DASH_C.warn : DASH_C.good, (x.name || '') + ': occupancy ' + dPct(x.occupancy, 0)),
      el('strong', '', dPct(x.occupancy, 0)));
    occ.append(ob);
    tr.append(rk, nm, el('td', 'team', x.team || '—'), h, el('td', 'n', dInt(x.replies)), el('td', 'n', dInt(x.open_now)),
      el('td', 'n', dDur(x.avg_handle_secs)), el('td', 'n', dDur(x.online_secs)), occ);
    tb.append(tr);
  }
  t.append(th, tb);
  const wrap = el('div', 'dash-scroll');
  wrap.append(t);
  return wrap;
}

/* ---------- sales ---------- */
function dashSales() {
  const funnel = dashData('funnel'), stages = dashData('stages'), wl = dashData('win_loss'), fc = dashData('forecast'), people = dashData('people');
  // one funnel step per stage: reached and the open pipeline summed over the currency rows
  const steps = [];
  for (const x of funnel) {
    let s = steps.find((y) => String(y.stage_id) === String(x.stage_id));
    if (!s) { s = { stage_id: x.stage_id, stage: x.stage, position: x.position, reached: 0, open: 0, amounts: new Map() }; steps.push(s); }
    s.reached += dN(x.reached); s.open += dN(x.open_deals);
    if (x.currency) s.amounts.set(x.currency, (s.amounts.get(x.currency) || 0) + dN(x.open_amount));
  }
  const stById = new Map(stages.map((x) => [String(x.stage_id), x]));
  const sum = (rows, key, filter) => { const m = new Map(); for (const x of rows) if (!filter || filter(x)) if (x.currency) m.set(x.currency, (m.get(x.currency) || 0) + dN(x[key])); return m; };
  const won = wl.filter((x) => x.status === 'won'), lost = wl.filter((x) => x.status === 'lost');
  const wonN = won.reduce((a, x) => a + dN(x.deals), 0), lostN = lost.reduce((a, x) => a + dN(x.deals), 0);
  const open = sum(funnel, 'open_amount');
  const kpis = dashKpis([
    { key: 'won', label: 'Won', zh: '赢单', value: dMoneyList(sum(won, 'amount')), sub: dInt(wonN) + ' deals closed won', tone: 'good' },
    { key: 'lost', label: 'Lost', zh: '丢单', value: dInt(lostN), sub: 'deals closed lost', tone: lostN ? 'bad' : '' },
    { key: 'win_rate', label: 'Win rate', zh: '赢率', value: wonN + lostN ? dPct(wonN / (wonN + lostN), 0) : '—', sub: 'won / (won + lost)' },
    { key: 'pipeline', label: 'Open pipeline', zh: '在途金额', value: dMoneyList(open), sub: dInt(steps.reduce((a, s) => a + s.open, 0)) + ' open deals now' },
    { key: 'weighted', label: 'Weighted forecast', zh: '加权预测', value: dMoneyList(sum(fc, 'weighted')), sub: 'amount × probability' },
  ]);

  const funnelCard = dashCard({ ds: 'funnel', title: 'Sales funnel', zh: '销售漏斗', size: 'half',
    sub: 'Deals created in the period that reached each stage · right: open now', empty: !steps.some((s) => s.reached || s.open),
    draw: (w) => dashFunnel({ width: w, chart: 'funnel',
      label: 'Sales funnel: ' + steps.map((s) => s.stage + ' ' + s.reached).join(', '),
      stages: steps.map((s, i) => {
        const st = stById.get(String(s.stage_id));
        const next = steps[i + 1];
        const conv = st && !dNull(st.conversion) ? Number(st.conversion) : next && s.reached ? next.reached / s.reached : null;
        const amt = dMoneyList(s.amounts);
        const cmp = [...s.amounts].filter(([, v]) => v).map(([c, v]) => dMoney(v, c, true));
        return { key: String(s.stage_id), label: s.stage, value: s.reached, conv,
          note: s.open ? dInt(s.open) + ' open' + (cmp.length ? ' · ' + cmp.join(' + ') : '') : 'none open', title: amt.join(' + ') };
      }) }) });

  const stRows = stages.slice();
  const stageCard = dashCard({ ds: 'stages', title: 'Stage conversion', zh: '阶段转化率', size: 'half',
    sub: "Share of a stage's deals that reached the next one · average time spent in the stage", empty: !stRows.some((x) => dN(x.reached)),
    legend: [{ key: 'conversion', label: 'Conversion to the next stage 转化率', color: '#6366f1' }],
    draw: (w) => dashRows({ width: w, chart: 'stages', pct: true, max: 1, endW: 150,
      label: 'Stage conversion: ' + stRows.map((x) => x.stage + ' ' + dPct(x.conversion)).join(', '),
      rows: stRows.map((x) => ({ key: String(x.stage_id), label: x.stage })),
      series: [{ key: 'conversion', label: 'Conversion', color: '#6366f1' }],
      val: (i) => stRows[i].conversion, fmt: (v) => dPct(v), tickFmt: (v) => Math.round(v * 100) + '%',
      rowTitle: (i) => { const x = stRows[i]; return `${x.stage}: ${dInt(x.reached)} reached, ${x.next_reached === null ? 'last stage' : dInt(x.next_reached) + ' went on'}, average ${dDur(x.avg_secs_in_stage)} in the stage`; },
      end: (i) => { const x = stRows[i]; return (x.next_reached === null || x.next_reached === undefined ? 'last stage' : dPct(x.conversion)) + (dNull(x.avg_secs_in_stage) ? '' : ' · ' + dDur(x.avg_secs_in_stage) + ' in stage'); },
      xTitle: 'Reached the next stage 进入下一阶段' }) });

  const reasonRows = (rows) => rows.map((x) => ({ key: x.status + '/' + x.reason + '/' + (x.currency || ''), label: x.reason || 'No reason given 未填写' }));
  const wlChart = (w, rows, color, what) => dashRows({ width: w, chart: 'win_loss-' + what, endW: 130, labelW: Math.min(190, Math.round(w * 0.36)),
    label: (what === 'won' ? 'Won' : 'Lost') + ' deals by reason: ' + rows.map((x) => (x.reason || 'no reason') + ' ' + x.deals).join(', '),
    rows: reasonRows(rows), series: [{ key: 'deals', label: 'Deals', color }], val: (i) => rows[i].deals,
    end: (i) => dInt(rows[i].deals) + ' · ' + dMoney(rows[i].amount, rows[i].currency), xTitle: 'Deals 商机数' });
  const wlCard = dashCard({ ds: 'win_loss', title: 'Why deals were won or lost', zh: '赢单/丢单原因', size: 'half',
    sub: 'Deals closed in the period, by the reason given', empty: !wl.length,
    legend: [{ key: 'won', label: 'Won 赢单', color: DASH_C.good }, { key: 'lost', label: 'Lost 丢单', color: DASH_C.bad }],
    draw: (w) => {
      const out = [];
      if (won.length) out.push(dashSub('Won 赢单', wlChart(w, won, DASH_C.good, 'won')));
      if (lost.length) out.push(dashSub('Lost 丢单', wlChart(w, lost, DASH_C.bad, 'lost')));
      return out;
    } });

  const curs = [...new Set(fc.map((x) => x.currency).filter(Boolean))].sort((a, b) => (a === 'CNY' ? -1 : b === 'CNY' ? 1 : a.localeCompare(b)));
  const fcCard = dashCard({ ds: 'forecast', title: 'Forecast by expected close', zh: '成交预测', size: 'half',
    sub: 'Open deals by the month they should close: amount and weighted by probability', empty: !fc.length,
    legend: [{ key: 'amount', label: 'Amount 金额', color: DASH_C.accentSoft }, { key: 'weighted', label: 'Weighted 加权', color: DASH_C.accent }],
    draw: (w) => curs.map((cur) => {
      const rows = fc.filter((x) => x.currency === cur);
      const chart = dashColumns({ width: w, height: curs.length > 1 ? 190 : 240, chart: 'forecast-' + cur, integer: false, left: 64, valueLabels: false,
        label: `Forecast in ${cur}: ` + rows.map((x) => dMonthLabel(x.month) + ' ' + dMoney(x.amount, cur) + ' (weighted ' + dMoney(x.weighted, cur) + ')').join(', '),
        cats: rows.map((x) => ({ key: x.month, label: dMonthLabel(x.month), title: dMonthLabel(x.month) + ' · ' + dInt(x.open_deals) + ' open deals' })),
        series: [{ key: 'amount', label: 'Amount', color: DASH_C.accentSoft }, { key: 'weighted', label: 'Weighted', color: DASH_C.accent }],
        val: (i, j) => rows[i][j ? 'weighted' : 'amount'], fmt: (v) => dMoney(v, cur), tickFmt: (v) => dMoney(v, cur, true),
        yTitle: 'Amount · ' + cur, xTitle: 'Expected close 预计成交月份', labelPx: 70 });
      return curs.length > 1 ? dashSub(cur, chart) : chart;
    }) });

  const peopleCard = dashCard({ ds: 'people', title: 'Salespeople', zh: '销售个人业绩', size: 'full', empty: !people.length,
    sub: 'Won and lost in the period, open deals now, follow-ups logged',
    draw: () => dashPeopleTable(people) });
  return [kpis, [funnelCard, stageCard, wlCard, fcCard, peopleCard]];
}
function dashPeopleTable(rows) {
  const maxBy = new Map();
  for (const x of rows) maxBy.set(x.currency || '', Math.max(maxBy.get(x.currency || '') || 0, dN(x.won_amount)));
  const t = el('table', 'dash-table dash-people');
  const hr = el('tr');
  hr.append(dTh('Salesperson', '销售'), dTh('Won', '赢单', 'n'), dTh('Won amount', '赢单金额', 'bar-col'), dTh('Lost', '丢单', 'n'),
    dTh('Win rate', '赢率', 'bar-col'), dTh('Open deals', '在途', 'n'), dTh('Follow-ups', '跟进', 'n'));
  const th = el('thead'); th.append(hr);
  const tb = el('tbody');
  for (const x of rows) {
    const tr = el('tr');
    tr.dataset.owner = x.owner_id;
    const nm = el('td', 'name');
    const nw = el('span', 'q-gname'); nw.append(avatar(x.name, 'sm'), el('span', '', x.name || 'Agent #' + x.owner_id)); nm.append(nw);
    const amt = el('td', 'bar-col');
    const ab = el('span', 'dash-barcell');
    ab.append(dashMini(dN(x.won_amount), maxBy.get(x.currency || '') || 0, DASH_C.good, (x.name || '') + ': won ' + dMoney(x.won_amount, x.currency)),
      el('strong', '', dMoney(x.won_amount, x.currency)));
    amt.append(ab);
    const wr = el('td', 'bar-col');
    const wb = el('span', 'dash-barcell');
    if (dNull(x.win_rate)) wb.append(el('span', 'muted', '—'));
    else wb.append(dashMini(dN(x.win_rate), 1, '#6366f1', (x.name || '') + ': win rate ' + dPct(x.win_rate, 0)), el('strong', '', dPct(x.win_rate, 0)));
    wr.append(wb);
    tr.append(nm, el('td', 'n', dInt(x.won_deals)), amt, el('td', 'n', dInt(x.lost_deals)), wr, el('td', 'n', dInt(x.open_deals)), el('td', 'n', dInt(x.activities)));
    tb.append(tr);
  }
  t.append(th, tb);
  const wrap = el('div', 'dash-scroll');
  wrap.append(t);
  return wrap;
}

/* ---------- marketing ---------- */
const DASH_STEPS = [['sent', 'Sent 发送'], ['delivered', 'Delivered 送达'], ['opened', 'Opened 打开'], ['clicked', 'Clicked 点击'],
  ['replied', 'Replied 回复'], ['converted', 'Converted 成交'], ['unsubscribed', 'Unsubscribed 退订']];
const DASH_STEP_COLOR = { sent: '#1d4ed8', delivered: '#2563eb', opened: '#3b82f6', clicked: '#60a5fa', replied: '#93c5fd', converted: DASH_C.good, unsubscribed: DASH_C.bad };
function dashMarketing() {
  const rows = dashData('campaigns'), chans = dashData('channels');
  // the counts repeat on each revenue-currency row of a campaign: one entry per campaign
  const camps = [];
  for (const x of rows) {
    let c = camps.find((y) => String(y.campaign_id) === String(x.campaign_id));
    if (!c) { c = { ...x, revenues: [] }; camps.push(c); }
    if (x.currency) c.revenues.push({ currency: x.currency, revenue: x.revenue, roi: x.roi });
  }
  const tot = (k) => camps.reduce((a, c) => a + dN(c[k]), 0);
  const sent = tot('sent');
  const rev = new Map();
  for (const c of camps) for (const r of c.revenues) rev.set(r.currency, (rev.get(r.currency) || 0) + dN(r.revenue));
  const kpis = dashKpis([
    { key: 'campaigns', label: 'Campaigns', zh: '活动', value: dInt(camps.length), sub: 'started in the period' },
    { key: 'sent', label: 'Sent', zh: '发送', value: dInt(sent), sub: dInt(tot('recipients')) + ' recipients' },
    { key: 'delivered', label: 'Delivered', zh: '送达率', value: sent ? dPct(tot('delivered') / sent) : '—', sub: dInt(tot('delivered')) + ' delivered' },
    { key: 'opened', label: 'Opened', zh: '打开率', value: sent ? dPct(tot('opened') / sent) : '—', sub: dInt(tot('clicked')) + ' clicked' },
    { key: 'converted', label: 'Converted', zh: '成交', value: dInt(tot('converted')), sub: dInt(tot('unsubscribed')) + ' unsubscribed', tone: tot('converted') ? 'good' : '' },
    { key: 'revenue', label: 'Revenue', zh: '带来收入', value: dMoneyList(rev), sub: 'won deals attributed (last touch)', tone: rev.size ? 'good' : '' },
  ]);

  const campCard = dashCard({ ds: 'campaigns', title: 'Campaign funnels', zh: '活动转化漏斗', size: 'full', empty: !camps.length,
    emptyText: 'No campaign started in this period',
    sub: 'Each campaign from sent to converted, with the share of sent' + (camps.length > 12 ? ` · the first 12 of ${camps.length}; all in the table` : ''),
    legend: DASH_STEPS.map(([k, l]) => ({ key: k, label: l, color: DASH_STEP_COLOR[k] })),
    draw: (w) => {
      const gap = 14, cols = Math.max(1, Math.min(3, Math.floor((w + gap) / (330 + gap))));
      const tileW = Math.floor((w - gap * (cols - 1)) / cols);
      const grid = el('div', 'dash-camps');
      grid.style.gridTemplateColumns = `repeat(${cols}, minmax(0, 1fr))`;
      for (const c of camps.slice(0, 12)) grid.append(dashCampTile(c, tileW - 26));
      return grid;
    } });

  const roiRows = rows.filter((x) => !dNull(x.roi));
  const roiCard = dashCard({ ds: 'campaigns', id: 'roi', title: 'Return on investment', zh: '投资回报率', size: 'half',
    sub: 'ROI = (revenue − cost) / cost, for campaigns with a cost', empty: !roiRows.length,
    emptyText: rows.length ? 'No campaign in this period has a cost set' : DASH_NO_DATA,
    legend: [{ key: 'gain', label: 'Paid off 盈利', color: DASH_C.good }, { key: 'loss', label: 'Did not pay off 亏损', color: DASH_C.bad }],
    draw: (w) => dashRows({ width: w, chart: 'roi', pct: true, endW: 168, labelW: Math.min(150, Math.round(w * 0.3)),
      label: 'Return on investment: ' + roiRows.map((x) => x.name + ' ' + dPct(x.roi, 0)).join(', '),
      rows: roiRows.map((x) => ({ key: x.campaign_id + '/' + (x.currency || ''), label: x.name + (x.currency && rows.filter((y) => y.campaign_id === x.campaign_id).length > 1 ? ' · ' + x.currency : '') })),
      series: [{ key: 'roi', label: 'ROI', color: DASH_C.good }], val: (i) => roiRows[i].roi,
      color: (i, j, v) => (v >= 0 ? DASH_C.good : DASH_C.bad),
      fmt: (v) => (v > 0 ? '+' : '') + dPct(v, 0), tickFmt: (v) => Math.round(v * 100) + '%', endAt: 'right',
      rowTitle: (i) => { const x = roiRows[i]; return `${x.name}: revenue ${dMoney(x.revenue, x.currency)}, cost ${dMoney(x.cost, x.currency)}, ROI ${dPct(x.roi)}`; },
      end: (i) => { const x = roiRows[i]; return (dN(x.roi) > 0 ? '+' : '') + dPct(x.roi, 0) + ' · ' + dMoney(x.revenue, x.currency, true) + ' / ' + dMoney(x.cost, x.currency, true); },
      xTitle: 'ROI 投资回报率' }) });

  const RATES = [['delivered_rate', 'Delivered'], ['open_rate', 'Opened'], ['click_rate', 'Clicked'], ['reply_rate', 'Replied'],
    ['conversion_rate', 'Converted'], ['unsubscribe_rate', 'Unsubscribed']];
  const chCard = dashCard({ ds: 'channels', title: 'E-mail vs SMS', zh: '渠道对比', size: 'half',
    sub: 'Rates over messages sent, campaigns of the period summed per channel', empty: !chans.some((x) => dN(x.sent)),
    legend: chans.map((x) => ({ key: x.channel, label: dashChLabel(x.channel) + ' · ' + dInt(x.sent) + ' sent', color: DASH_CH_COLOR[x.channel] || DASH_C.ink })),
    draw: (w) => dashColumns({ width: w, height: 240, chart: 'channels', integer: false, valueLabels: true,
      label: 'Channel comparison: ' + chans.map((x) => dashChLabel(x.channel) + ' open rate ' + dPct(x.open_rate) + ', conversion ' + dPct(x.conversion_rate)).join('; '),
      cats: RATES.map(([k, l]) => ({ key: k, label: l, title: l })),
      series: chans.map((x) => ({ key: x.channel, label: dashChLabel(x.channel), color: DASH_CH_COLOR[x.channel] || DASH_C.ink })),
      val: (i, j) => chans[j][RATES[i][0]], fmt: (v) => dPct(v, 1), tickFmt: (v) => dPct(v, 0), yTitle: 'Share of sent 占发送', labelPx: 60 }) });
  return [kpis, [campCard, chCard, roiCard]];
}
function dashCampTile(c, w) {
  const t = el('div', 'dash-camp');
  t.dataset.campaign = c.campaign_id;
  const head = el('div', 'dash-camp-head');
  head.append(el('span', 'dash-camp-name', c.name || 'Campaign #' + c.campaign_id), channelBadge(c.channel || 'email'));
  const meta = el('div', 'dash-camp-meta muted', (c.started_at ? 'Started ' + dStamp(c.started_at) + ' · ' : '') + dInt(c.recipients) + ' recipients');
  const max = Math.max(1, dN(c.sent), dN(c.recipients));
  const chart = dashRows({ width: w, chart: 'campaign-funnel', barH: 11, rowPad: 7, axis: false, labelW: 130, endW: 92, max,
    ticks: { max, ticks: [0], step: max },
    label: `${c.name}: ` + DASH_STEPS.map(([k]) => k + ' ' + dN(c[k])).join(', '),
    rows: DASH_STEPS.map(([k, l]) => ({ key: k, label: l })), series: [{ key: 'n', label: 'Count', color: DASH_C.accent }],
    val: (i) => c[DASH_STEPS[i][0]], color: (i) => DASH_STEP_COLOR[DASH_STEPS[i][0]],
    end: (i) => { const v = dN(c[DASH_STEPS[i][0]]); return dInt(v) + (i && dN(c.sent) ? ' · ' + dPct(v / dN(c.sent), 1) : ''); } });
  const foot = el('div', 'dash-camp-foot');
  const revs = c.revenues.filter((r) => dN(r.revenue));
  foot.append(el('span', '', 'Revenue 收入 '), el('strong', '', revs.length ? revs.map((r) => dMoney(r.revenue, r.currency)).join(' + ') : '—'));
  if (!dNull(c.cost)) foot.append(el('span', 'muted', ' · cost ' + dMoney(c.cost, (revs[0] || {}).currency || null)));
  const roi = c.revenues.find((r) => !dNull(r.roi)) || (!dNull(c.roi) ? c : null);
  if (roi) foot.append(el('span', 'dash-roi ' + (dN(roi.roi) >= 0 ? 'good' : 'bad'), 'ROI ' + (dN(roi.roi) > 0 ? '+' : '') + dPct(roi.roi, 0)));
  t.append(head, meta, chart, foot);
  return t;
}

/* ---------- customers ---------- */
function dashCustomers(r) {
  const nbs = dashData('new_by_source'), rep = dashData('repurchase'), ltv = dashData('lifetime_value');
  const top = dashData('top_customers'), churn = dashData('churn');
  const newN = nbs.reduce((a, x) => a + dN(x.customers), 0);
  const srcTotals = new Map();
  for (const x of nbs) srcTotals.set(x.source || '', (srcTotals.get(x.source || '') || 0) + dN(x.customers));
  const sources = [...srcTotals].sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0])).map(([s]) => s);
  const srcLabel = (s) => s || 'Unknown 未知';
  const srcColor = (s) => (s ? DASH_PALETTE[sources.filter(Boolean).indexOf(s) % DASH_PALETTE.length] : '#94a3b8');
  const kpis = dashKpis([
    { key: 'new', label: 'New customers', zh: '新客户', value: dInt(newN), sub: sources.length ? 'top source: ' + srcLabel(sources[0]) : '' },
    { key: 'repurchase', label: 'Repurchase rate', zh: '复购率', value: rep.map((x) => dPct(x.repurchase_rate) + (rep.length > 1 ? ' ' + x.currency : '')),
      sub: rep.length ? rep.map((x) => dInt(x.repeat_buyers) + ' of ' + dInt(x.buyers) + ' buyers').join(' · ') : 'no buyers yet' },
    { key: 'ltv', label: 'Lifetime value', zh: '客户终身价值', value: ltv.map((x) => dMoney(x.average, x.currency)), sub: 'average per buyer' },
    { key: 'churn', label: 'Churn warnings', zh: '流失预警', value: dInt(churn.length), sub: 'customers at risk', tone: churn.length ? 'bad' : 'good' },
  ]);
  const days = dDayList(r.from, r.to);
  const idx = new Map(nbs.map((x) => [x.day + '/' + (x.source || ''), dN(x.customers)]));
  const newCard = dashCard({ ds: 'new_by_source', title: 'New customers by source', zh: '新客户来源', size: 'full', empty: !nbs.length,
    sub: 'Customers created per day, stacked by where they came from',
    legend: sources.map((s) => ({ key: s, label: srcLabel(s) + ' · ' + dInt(srcTotals.get(s)), color: srcColor(s) })),
    draw: (w) => dashColumns({ width: w, height: 230, chart: 'new_by_source', stacked: true, totals: days.length <= 45,
      label: `New customers per day by source, ${r.from} to ${r.to}: ${dInt(newN)} in total`,
      cats: days.map((d) => ({ key: d, label: dDayLabel(d), title: dLongDay(d) })),
      series: sources.map((s) => ({ key: s, label: srcLabel(s), color: srcColor(s) })),
      val: (i, j) => idx.get(days[i] + '/' + sources[j]) || 0, yTitle: 'Customers 客户', xTitle: 'Day 日期' }) });

  const repCard = dashCard({ ds: 'repurchase', title: 'Repurchase', zh: '复购', size: 'third', empty: !rep.some((x) => dN(x.buyers)),
    sub: 'Of the period’s buyers, those who had bought before (two or more won deals)',
    draw: () => {
      const box = el('div', 'dash-rings');
      for (const x of rep) {
        const it = el('div', 'dash-ring-item');
        it.dataset.currency = x.currency || '';
        it.append(dashDonut(x.repurchase_rate, DASH_C.good, `Repurchase rate${x.currency ? ' (' + x.currency + ')' : ''}: ${dPct(x.repurchase_rate)}, ${dN(x.repeat_buyers)} of ${dN(x.buyers)} buyers`, 'repurchase'));
        const tx = el('div', 'dash-ring-txt');
        if (x.currency) tx.append(badge(x.currency, 'dash-cur'));
        tx.append(el('strong', '', dInt(x.repeat_buyers) + ' of ' + dInt(x.buyers)), el('span', 'muted', 'buyers bought again 位客户复购'));
        it.append(tx);
        box.append(it);
      }
      return box;
    } });

  const ltvCard = dashCard({ ds: 'lifetime_value', title: 'Lifetime value', zh: '客户终身价值', size: 'third', empty: !ltv.some((x) => dN(x.customers)),
    sub: 'The period’s buyers: everything they have bought, per buyer',
    draw: () => {
      const box = el('div', 'dash-ltv');
      for (const x of ltv) {
        const it = el('div', 'dash-ltv-item');
        it.dataset.currency = x.currency || '';
        it.append(el('div', 'dash-ltv-avg', dMoney(x.average, x.currency)), el('div', 'muted', 'average per buyer 人均' + (x.currency ? ' · ' + x.currency : '')));
        const facts = el('div', 'dash-ltv-facts');
        facts.append(el('span', '', dInt(x.customers) + ' buyers 位客户'), el('span', '', dMoney(x.revenue, x.currency) + ' in total 合计'));
        it.append(facts);
        box.append(it);
      }
      return box;
    } });

  const topCurs = [...new Set(top.map((x) => x.currency).filter(Boolean))];
  const topCard = dashCard({ ds: 'top_customers', title: 'Top customers', zh: '大客户', size: 'third', empty: !top.length,
    sub: 'The period’s buyers with the most bought, all time',
    draw: (w) => topCurs.map((cur) => {
      const rows = top.filter((x) => x.currency === cur).slice(0, 10);
      const chart = dashRows({ width: w, chart: 'top_customers', integer: false, endW: 96, labelW: Math.min(150, Math.round(w * 0.34)), barH: 12, rowPad: 9,
        label: `Top customers in ${cur}: ` + rows.map((x) => x.name + ' ' + dMoney(x.revenue, cur)).join(', '),
        rows: rows.map((x) => ({ key: String(x.customer_id), label: x.name })), series: [{ key: 'revenue', label: 'Won', color: DASH_C.accent }],
        val: (i) => rows[i].revenue, fmt: (v) => dMoney(v, cur, true), tickFmt: (v) => dMoney(v, cur, true),
        rowTitle: (i) => `${rows[i].name}: ${dMoney(rows[i].revenue, cur)} from ${dInt(rows[i].won_deals)} won deals`, axis: false });
      return topCurs.length > 1 ? dashSub(cur, chart) : chart;
    }) });

  const churnCard = dashCard({ ds: 'churn', title: 'Churn warnings', zh: '流失预警', size: 'full', empty: !churn.length,
    emptyText: 'No customer at risk in this period',
    sub: `Went ${dash.silent} days without contact during the period, fewer tickets than before, or a complaint in the last 30 days` + (churn.length >= 200 ? ' · the first 200' : ''),
    draw: () => dashChurnTable(churn) });
  return [kpis, [newCard, repCard, ltvCard, topCard, churnCard]];
}
function dashChurnTable(rows) {
  const maxSilent = Math.max(1, ...rows.map((x) => dN(x.days_silent)));
  const t = el('table', 'dash-table dash-churn');
  const hr = el('tr');
  hr.append(dTh('Customer', '客户'), dTh('Why', '原因'), dTh('Silent', '未联系', 'bar-col'), dTh('Last contact', '最近联系'),
    dTh('Tickets 30d', '近30天工单', 'n'), dTh('Complaints', '投诉', 'n'), dTh('Owner', '负责人'));
  const th = el('thead'); th.append(hr);
  const tb = el('tbody');
  for (const x of rows) {
    const tr = el('tr', 'dash-click');
    tr.dataset.customer = x.customer_id;
    tr.tabIndex = 0;
    tr.title = 'Open the customer · 打开客户';
    const nm = el('td', 'name');
    const nw = el('span', 'q-gname'); nw.append(avatar(x.name, 'sm'), el('span', '', x.name || 'Customer #' + x.customer_id)); nm.append(nw);
    const why = el('td', 'why');
    for (const k of String(x.reasons || '').split(',').filter(Boolean)) why.append(badge(DASH_CHURN[k] || k, 'dash-reason r-' + k));
    const sil = el('td', 'bar-col');
    const sb = el('span', 'dash-barcell');
    if (dNull(x.days_silent)) sb.append(el('span', 'muted', '—'));
    else sb.append(dashMini(dN(x.days_silent), maxSilent, dN(x.days_silent) > dash.silent ? DASH_C.warn : '#94a3b8', (x.name || '') + ': ' + dN(x.days_silent) + ' days silent'),
      el('strong', '', dInt(x.days_silent) + 'd'));
    sil.append(sb);
    const tk = el('td', 'n');
    const rec = dN(x.tickets_recent), bef = dN(x.tickets_before);
    tk.append(el('strong', '', dInt(rec)), el('span', 'muted', ' vs ' + dInt(bef) + ' before'));
    if (bef && rec < bef) tk.append(el('span', 'dash-down', ' ↓'));
    const fl = el('td', 'n' + (dN(x.flagged) ? ' bad' : ''), dInt(x.flagged));
    tr.append(nm, why, sil, el('td', 'time', dStamp(x.last_contact_at) || '—'), tk, fl, el('td', 'who', x.owner || '—'));
    const open = () => go('customer', Number(x.customer_id));
    tr.addEventListener('click', open);
    tr.addEventListener('keydown', (e) => { if (e.key === 'Enter') open(); });
    tb.append(tr);
  }
  t.append(th, tb);
  const wrap = el('div', 'dash-scroll');
  wrap.append(t);
  return wrap;
}

const DASH_RENDER = { service: dashService, agents: dashAgents, sales: dashSales, marketing: dashMarketing, customers: dashCustomers };

/* ---------- the controls ---------- */
const dashReports = () => (state.me ? DASH_REPORTS.filter((r) => r.roles.includes(state.me.role)) : []);
const dashReport = () => dashReports().find((r) => r.key === dash.report) || dashReports()[0] || null;
function dashPresetRange(p) {
  const now = new Date(), to = dIso(now);
  if (p === 'month') return { from: dIso(new Date(now.getFullYear(), now.getMonth(), 1)), to };
  return { from: dAddDays(to, -(Number(p) - 1)), to };
}
function dashSave() {
  localStorage.setItem('sb.dash', JSON.stringify({ report: dash.report, preset: dash.preset, from: dash.from, to: dash.to,
    team: dash.team, channel: dash.channel, silent: dash.silent }));
}
function dashQuery(rep) {
  const p = new URLSearchParams({ from: dash.from, to: dash.to });
  if (rep.team && dash.team) p.set('team', dash.team);
  if (rep.channels && dash.channel && rep.channels.includes(dash.channel)) p.set('channel', dash.channel);
  if (rep.key === 'customers' && dash.silent !== 60) p.set('silent_days', String(dash.silent));
  return p.toString();
}
function dashValidate() {
  const f = dParse(dash.from), t = dParse(dash.to);
  if (!f || !t) return 'Choose both days of the period. 请选择起止日期';
  if (f > t) return 'The period starts after it ends. 开始日期晚于结束日期';
  if (dDaysBetween(dash.from, dash.to) + 1 > 366) return 'A period is at most 366 days. 时间范围最多 366 天';
  if (!(dash.silent >= 1 && dash.silent <= 3650)) return 'Silent days: 1 to 3650. 未联系天数为 1–3650';
  return '';
}
function dashScopeText() {
  const role = state.me ? state.me.role : '';
  const rep = dash.report;
  if (role === 'admin') return ['people', 'Everyone 全部数据', 'Admins see all teams, deals and customers'];
  if (role === 'manager') return ['shield', rep === 'marketing' ? 'All campaigns 全部活动' : 'Your teams 本团队', 'Managers see their teams’ tickets (and those without a team) and deals'];
  if (role === 'sales') return ['shield', 'Your deals and customers 我的商机和客户', 'Salespeople see the deals and customers they own'];
  return ['people', rep === 'marketing' ? 'All campaigns 全部活动' : 'All customers 全部客户', ''];
}
function renderDashControls() {
  const mine = dashReports(), rep = dashReport();
  if (rep) dash.report = rep.key;
  const bar = $('#dash-reports');
  bar.replaceChildren(...mine.map((r) => {
    const b = el('button', 'dash-rep' + (rep && r.key === rep.key ? ' active' : ''));
    b.type = 'button'; b.dataset.report = r.key;
    b.setAttribute('role', 'tab');
    b.setAttribute('aria-selected', rep && r.key === rep.key ? 'true' : 'false');
    b.append(icon(r.icon), el('span', '', r.en), el('span', 'zh', r.zh));
    b.addEventListener('click', () => {
      if (dash.report === r.key) return;
      dash.report = r.key;
      if (r.channels && !r.channels.includes(dash.channel)) dash.channel = '';
      dashSave();
      renderDashControls();
      dashLoad().catch(() => {});
    });
    return b;
  }));
  if (!rep) return;
  $('#dash-blurb').textContent = rep.blurb;
  $('#dash-from').value = dash.from; $('#dash-to').value = dash.to;
  $('#dash-from').max = dash.to || ''; $('#dash-to').min = dash.from || '';
  for (const b of $$('#dash-presets button')) {
    const on = b.dataset.preset === dash.preset;
    b.classList.toggle('active', on);
    b.setAttribute('aria-pressed', on ? 'true' : 'false');
  }
  // team: the reports that take it
  const team = $('#dash-team');
  team.replaceChildren(opt('', 'All teams 全部'), ...dash.teams.map((t) => opt(String(t.id), t.name, String(t.id) === dash.team)));
  team.value = rep.team ? dash.team : '';
  team.disabled = !rep.team;
  team.closest('.dash-f').classList.toggle('off', !rep.team);
  team.closest('.dash-f').title = rep.team ? '' : 'This report is not split by team 此报表不按团队筛选';
  // channel: all five for tickets, e-mail/SMS for campaigns
  const ch = $('#dash-channel');
  const list = rep.channels || DASH_CHANNELS;
  ch.replaceChildren(opt('', 'All channels 全部'), ...list.map((c) => opt(c, dashChLabel(c), c === dash.channel)));
  ch.value = rep.channels && rep.channels.includes(dash.channel) ? dash.channel : '';
  ch.disabled = !rep.channels;
  ch.closest('.dash-f').classList.toggle('off', !rep.channels);
  ch.closest('.dash-f').title = rep.channels ? '' : 'This report is not split by channel 此报表不按渠道筛选';
  $('#dash-silent-f').hidden = rep.key !== 'customers';
  $('#dash-silent').value = String(dash.silent);
  const [ic, text, tip] = dashScopeText();
  const sc = $('#dash-scope');
  sc.replaceChildren(icon(ic), el('span', '', text));
  sc.title = tip;
  renderDashPrintHead();
}
function renderDashPrintHead() {
  const rep = dashReport();
  const h = $('#dash-print-head');
  if (!rep) { h.replaceChildren(); return; }
  const team = rep.team && dash.team ? (dash.teams.find((t) => String(t.id) === dash.team) || {}).name || '#' + dash.team : 'all teams';
  const ch = rep.channels && dash.channel ? dashChLabel(dash.channel) : 'all channels';
  const parts = [dLongDay(dash.from) + ' – ' + dLongDay(dash.to)];
  if (rep.team) parts.push('Team: ' + team);
  if (rep.channels) parts.push('Channel: ' + ch);
  if (rep.key === 'customers') parts.push('Silent after ' + dash.silent + ' days');
  const t = el('h1', '', 'Switchboard · ' + rep.en + ' report ');
  t.append(el('span', 'zh', rep.zh + '报表'));
  h.replaceChildren(t, el('p', '', parts.join(' · ')),
    el('p', 'muted', 'Printed ' + new Date().toLocaleString() + (state.me ? ' by ' + state.me.name : '') + ' · ' + dashScopeText()[1]));
}

/* ---------- loading and drawing ---------- */
async function loadDashboard() {
  if (dash.preset) Object.assign(dash, dashPresetRange(dash.preset)); // a new day moves a quick range along
  renderDashControls();
  if (!dash.teamsLoaded) dashLoadTeams();
  return dashLoad();
}
async function dashLoadTeams() {
  try {
    const r = await api('GET', '/api/v1/teams?per_page=200');
    dash.teams = (r.items || []).slice().sort((a, b) => String(a.name).localeCompare(String(b.name)));
    dash.teamsLoaded = true;
  } catch (e) { dash.teams = []; }
  // a remembered team that is gone: all teams again
  const gone = dash.teamsLoaded && dash.team && !dash.teams.some((t) => String(t.id) === dash.team);
  if (gone) { dash.team = ''; dashSave(); }
  if (state.view !== 'dashboard') return;
  renderDashControls();
  if (gone) dashLoad().catch(() => {});
}
async function dashLoad(quiet) {
  const rep = dashReport();
  const body = $('#dash-body');
  if (!rep) return;
  const bad = dashValidate();
  $('#dash-filter-error').textContent = bad;
  if (bad) { dash.seq++; body.dataset.state = 'invalid'; return; }
  const q = dashQuery(rep);
  const seq = ++dash.seq;
  clearTimeout(dash.timer);
  if (!quiet) {
    body.dataset.state = 'loading';
    body.setAttribute('aria-busy', 'true');
    $('#dash-state').textContent = 'Loading… 加载中';
    if (!dash.rep || dash.rep.report !== rep.key) body.replaceChildren(dashSkeleton());
    else body.classList.add('stale');
  }
  let r;
  try {
    r = await api('GET', '/api/v1/reports/' + rep.key + '?' + q);
  } catch (e) {
    if (seq !== dash.seq || quiet) return;
    dash.rep = null;
    body.classList.remove('stale');
    body.removeAttribute('aria-busy');
    body.dataset.state = 'error';
    body.dataset.query = q;
    const box = el('div', 'card dash-failed');
    box.append(icon('alert', 'big'), el('p', '', 'Could not load the report 报表加载失败'), el('p', 'muted', errText(e)));
    box.append(button('Try again 重试', '', () => dashLoad().catch(() => {})));
    body.replaceChildren(box);
    $('#dash-state').textContent = '';
    return;
  }
  if (seq !== dash.seq) return;
  if (!r || !r.datasets) r = { report: rep.key, from: dash.from, to: dash.to, datasets: {}, ...(r || {}) };
  dash.rep = r; dash.query = q; dash.loadedAt = new Date();
  dashRender();
}
function dashSkeleton() {
  const g = el('div', 'dash-skel');
  for (let i = 0; i < 4; i++) g.append(el('div', 'dash-skel-kpi'));
  const c = el('div', 'dash-skel-grid');
  for (let i = 0; i < 3; i++) c.append(el('div', 'dash-skel-card' + (i ? '' : ' full')));
  const w = el('div', '');
  w.append(g, c);
  return w;
}
function dashRender() {
  const r = dash.rep, body = $('#dash-body');
  if (!r) return;
  const fn = DASH_RENDER[r.report];
  if (!fn) return;
  const [kpis, cards] = fn(r);
  const grid = el('div', 'dash-grid');
  grid.append(...cards);
  body.replaceChildren(kpis, grid);
  body.classList.remove('stale');
  for (const c of cards) c.dashDraw();
  dash.drawnWidth = body.clientWidth;
  body.removeAttribute('aria-busy');
  body.dataset.report = r.report;
  body.dataset.query = dash.query;
  body.dataset.state = 'ready';
  const st = $('#dash-state');
  st.replaceChildren(el('span', 'q-live-dot'), el('span', '', 'Updated ' + clock(dash.loadedAt.toISOString()) + ' · 已更新'));
  st.title = dash.to >= dIso(new Date()) ? 'Refreshes by itself while the period includes today' : 'A past period: the figures do not change';
  renderDashPrintHead();
}

/* ---------- wiring, start, live events ---------- */
function dashSetRange(from, to, preset) {
  dash.from = from; dash.to = to; dash.preset = preset || null;
  dashSave();
  renderDashControls();
  dashLoad().catch(() => {});
}
for (const b of $$('#dash-presets button')) {
  b.addEventListener('click', () => { const r = dashPresetRange(b.dataset.preset); dashSetRange(r.from, r.to, b.dataset.preset); });
}
for (const id of ['#dash-from', '#dash-to']) {
  $(id).addEventListener('change', () => dashSetRange($('#dash-from').value, $('#dash-to').value, null));
}
$('#dash-team').addEventListener('change', () => { dash.team = $('#dash-team').value; dashSave(); renderDashPrintHead(); dashLoad().catch(() => {}); });
$('#dash-channel').addEventListener('change', () => { dash.channel = $('#dash-channel').value; dashSave(); renderDashPrintHead(); dashLoad().catch(() => {}); });
$('#dash-silent').addEventListener('change', () => {
  const n = Number($('#dash-silent').value);
  dash.silent = Number.isInteger(n) ? n : NaN;
  if (dash.silent >= 1 && dash.silent <= 3650) dashSave();
  renderDashPrintHead();
  dashLoad().catch(() => {});
});
$('#dash-filters').addEventListener('submit', (e) => e.preventDefault());
$('#dash-refresh').addEventListener('click', () => dashLoad().catch(() => {}));
$('#dash-print').addEventListener('click', () => { renderDashPrintHead(); window.print(); });
window.addEventListener('resize', () => {
  clearTimeout(dash.resizeTimer);
  dash.resizeTimer = setTimeout(() => {
    const body = $('#dash-body');
    if (state.view === 'dashboard' && dash.rep && body.dataset.state === 'ready' && Math.abs(body.clientWidth - dash.drawnWidth) > 8) dashRender();
  }, 200);
});

function dashboardStart(agent) {
  $('.tab[data-view=dashboard]').hidden = !DASH_ROLES.includes(agent.role);
  clearTimeout(dash.timer);
  dash.seq++;
  let saved = {};
  try { saved = JSON.parse(localStorage.getItem('sb.dash') || '{}') || {}; } catch (e) { saved = {}; }
  Object.assign(dash, { rep: null, query: '', open: new Set(), teams: [], teamsLoaded: false });
  const mine = DASH_REPORTS.filter((r) => r.roles.includes(agent.role));
  dash.report = mine.some((r) => r.key === saved.report) ? saved.report : mine[0] ? mine[0].key : '';
  if (DASH_PRESETS.includes(saved.preset)) Object.assign(dash, { preset: saved.preset }, dashPresetRange(saved.preset));
  else if (dParse(saved.from) && dParse(saved.to)) Object.assign(dash, { preset: null, from: saved.from, to: saved.to });
  else Object.assign(dash, { preset: '30' }, dashPresetRange('30'));
  dash.team = typeof saved.team === 'string' ? saved.team : '';
  dash.channel = DASH_CHANNELS.includes(saved.channel) ? saved.channel : '';
  dash.silent = Number.isInteger(saved.silent) && saved.silent >= 1 && saved.silent <= 3650 ? saved.silent : 60;
  const body = $('#dash-body');
  body.replaceChildren();
  body.dataset.state = 'idle';
  delete body.dataset.query;
}
function dashboardStop() {
  clearTimeout(dash.timer); clearTimeout(dash.resizeTimer);
  dash.seq++;
  dash.rep = null;
}
// a change the report counts, while it shows today: drawn again a few seconds later, quietly
function dashboardFrame(m) {
  if (state.view !== 'dashboard' || !dash.rep) return;
  const rep = dashReport();
  if (!rep || !rep.live.test(m.type) || dash.to < dIso(new Date())) return;
  if ($('#dash-body').dataset.state !== 'ready') return;
  clearTimeout(dash.timer);
  dash.timer = setTimeout(() => { if (state.view === 'dashboard') dashLoad(true).catch(() => {}); }, 4000);
}
