// Switchboard console — the marketing pages (docs/api.md "Segments", "Templates",
// "Campaigns"), for admins, managers and marketers: segments with a condition builder that
// writes the rule language (and reads it back), templates with a live preview for a chosen
// customer, campaigns with their progress, a chart of sent over time, the ambiguous
// recipients and the results (deliveries, bounces, opens, clicks, replies, unsubscribes,
// attributed deals and revenue), and a channel comparison over the last 90 days. Loaded after app.js and crm.js and built on their helpers (el, opt, badge,
// icon, avatar, api, errText, toast, go, state, button, clearErrors, showErrors, fieldsOf,
// ensureFieldDefs, fullTime, plural). Data is only ever set as text (textContent,
// attributes, an iframe's sandboxed srcdoc): nothing from the server becomes our markup.
'use strict';

Object.assign(ICONS, {
  target: 'M12 2a10 10 0 1 0 10 10A10 10 0 0 0 12 2zm0 18a8 8 0 1 1 8-8 8 8 0 0 1-8 8zm0-14a6 6 0 1 0 6 6 6 6 0 0 0-6-6zm0 10a4 4 0 1 1 4-4 4 4 0 0 1-4 4zm0-6a2 2 0 1 0 2 2 2 2 0 0 0-2-2z',
  send: 'M2 21 23 12 2 3v7l15 2-15 2z',
  pause: 'M6 19h4V5H6zm8-14v14h4V5z',
  play: 'M8 5v14l11-7z',
  stop: 'M6 6h12v12H6z',
  template: 'M19 3H5a2 2 0 0 0-2 2v14a2 2 0 0 0 2 2h14a2 2 0 0 0 2-2V5a2 2 0 0 0-2-2zm-5 14H7v-2h7zm3-4H7v-2h10zm0-4H7V7h10z',
});

const MARKETERS = ['admin', 'manager', 'marketer'];
Object.assign(VIEW_ROLES, { segments: MARKETERS, templates: MARKETERS, campaigns: MARKETERS, campaign: MARKETERS });
Object.assign(VIEW_TAB, { campaign: 'campaigns' });
Object.assign(VIEWS, {
  segments: (id) => loadSegments(id),
  templates: (id) => loadTemplates(id),
  campaigns: () => loadCampaigns(),
  campaign: (id) => loadCampaign(id),
});
// marketers have no conversations: their console opens on the campaigns
function marketingHome() { return state.me && MARKETERS.includes(state.me.role) ? 'campaigns' : 'customers'; }

const CAMPAIGN_STATUS = { draft: 'Draft 草稿', scheduled: 'Scheduled 已排期', starting: 'Starting 准备中', sending: 'Sending 发送中',
  paused: 'Paused 已暂停', finished: 'Finished 已完成', cancelled: 'Cancelled 已取消' };
const SKIP_REASON = { no_address: 'no address 无联系方式', suppressed: 'suppressed / unsubscribed 已退订', cancelled: 'cancelled 已取消',
  other: 'other 其他' };
const CHANNEL_NAME = { email: 'E-mail 邮件', sms: 'SMS 短信' };
const ACTIVE = ['starting', 'sending'];

const mk = {
  segments: [], seg: null, segSeq: 0, segTimer: null, segBuilderOk: true,
  templates: [], tpl: null, tplSeq: 0, tplTimer: null, tplCustomer: null, pickSeq: 0,
  campaigns: [], camp: null, campTimer: null, samples: new Map(), ambiguous: [], ambSel: new Set(), resendIds: [],
  attrDays: 30, attrKnown: false, compareSeq: 0,
};

/* ---------- the segment rule language, both ways ---------- */
// Built-in fields (gateway/segment.h): kind decides the operators and the value input.
const SEG_FIELDS = [
  ['Tags and lifecycle 标签与阶段', [['tag', 'Tag 标签', 'tag'], ['stage', 'Lifecycle stage 阶段', 'stage'],
    ['has:email', 'Has an e-mail 有邮箱', 'has'], ['has:phone', 'Has a phone 有手机', 'has']]],
  ['Customer 客户', [['name', 'Name 姓名', 'text'], ['region', 'Region 地区', 'text'], ['industry', 'Industry 行业', 'text'],
    ['source', 'Source 来源', 'text'], ['grade', 'Grade 等级', 'text'], ['type', 'Type 类型', 'text'], ['company', 'Company 公司', 'text'],
    ['customer_no', 'Customer no. 客户编号', 'text']]],
  ['Dates 日期', [['created_at', 'Created 创建日期', 'date'], ['last_contact_at', 'Last contact 最近联系', 'date']]],
  ['Activity 活跃度', [['contact_days', 'Days since contact 未联系天数', 'number'], ['tickets.chat.7d', 'Chats in 7 days 7天会话数', 'number'],
    ['deals.won', 'Deals won 成交商机数', 'number']]],
];
const OPS = { text: ['=', '!=', '~'], number: ['=', '!=', '<', '<=', '>', '>='], date: ['=', '!=', '<', '<=', '>', '>='] };
const OP_LABEL = { '=': '= is', '!=': '≠ is not', '~': '~ contains', '<': '< less than', '<=': '≤ at most', '>': '> more than', '>=': '≥ at least' };
const KEYWORDS = ['and', 'or', 'not'];

function fieldKind(field) {
  for (const [, list] of SEG_FIELDS) for (const [k, , kind] of list) if (k === field) return kind;
  if (field.startsWith('attr.')) {
    const d = crm.fieldDefs.find((x) => x.key === field.slice(5));
    if (d) return d.type === 'number' ? 'number' : d.type === 'date' ? 'date' : 'text';
    return 'text';
  }
  if (/^tickets\.[a-z]+\.\d+d$/.test(field) || ['owner_id', 'deals.open'].includes(field)) return 'number';
  if (field === 'last_followup_at') return 'date';
  return 'text';
}
// a value as the language wants it: bare when it can be, else "quoted"
function ruleValue(v) {
  const s = String(v);
  if (s && /^[^\s\u3000()"=!<>~]+$/.test(s) && !KEYWORDS.includes(s.toLowerCase())) return s;
  return '"' + s.replace(/\\/g, '\\\\').replace(/"/g, '\\"') + '"';
}
const newCond = (field = 'tag') => ({ t: 'cond', not: false, field, op: '=', value: '' });
const newGroup = (op = 'AND') => ({ t: 'group', not: false, op, items: [newCond()] });
function condComplete(c) { return c.field.startsWith('has:') || String(c.value).trim() !== ''; }
function nodeText(n, top) {
  if (n.t === 'cond') {
    if (!condComplete(n)) return '';
    let s;
    if (n.field.startsWith('has:')) s = n.field;
    else if (n.field === 'tag' || n.field === 'stage') s = n.field + ':' + ruleValue(n.value.trim());
    else s = n.field + ' ' + n.op + ' ' + ruleValue(n.value.trim());
    return (n.not ? 'NOT ' : '') + s;
  }
  const parts = n.items.map((x) => nodeText(x, false)).filter(Boolean);
  if (!parts.length) return '';
  const inner = parts.join(' ' + n.op + ' ');
  if (top && !n.not) return inner;
  if (parts.length === 1 && !n.not) return inner;
  return (n.not ? 'NOT ' : '') + '(' + inner + ')';
}
// tokens of a rule; pos is a character index
function ruleTokens(src) {
  const out = [];
  let i = 0;
  const ws = (c) => /\s|\u3000/.test(c);
  while (i < src.length) {
    const c = src[i];
    if (ws(c)) { i++; continue; }
    const at = i;
    if (c === '(' || c === ')') { out.push({ k: c, pos: at }); i++; continue; }
    if (c === '"') {
      let v = ''; i++;
      while (i < src.length && src[i] !== '"') { if (src[i] === '\\' && i + 1 < src.length) i++; v += src[i++]; }
      if (i >= src.length) throw { pos: at, message: 'unterminated quoted value' };
      i++;
      out.push({ k: 'str', v, pos: at });
      continue;
    }
    if ('=!<>~'.includes(c)) {
      const two = src.slice(i, i + 2);
      const op = ['!=', '<=', '>='].includes(two) ? two : c;
      if (op === '!') throw { pos: at, message: 'unknown operator' };
      out.push({ k: 'op', v: op, pos: at }); i += op.length;
      continue;
    }
    let v = '';
    while (i < src.length && !ws(src[i]) && !'()"=!<>~'.includes(src[i])) v += src[i++];
    out.push({ k: 'word', v, pos: at });
  }
  return out;
}
// the builder's tree for a rule text (throws {pos, message} when it does not parse)
function parseRule(src) {
  const toks = ruleTokens(src);
  let p = 0;
  const peek = () => toks[p];
  const isKw = (t, kw) => t && t.k === 'word' && t.v.toLowerCase() === kw;
  const fail = (t, message) => { throw { pos: t ? t.pos : src.length, message }; };
  function expr() {
    const items = [term()];
    while (isKw(peek(), 'or')) { p++; items.push(term()); }
    return items.length === 1 ? items[0] : { t: 'group', not: false, op: 'OR', items };
  }
  function term() {
    const items = [factor()];
    while (isKw(peek(), 'and')) { p++; items.push(factor()); }
    return items.length === 1 ? items[0] : { t: 'group', not: false, op: 'AND', items };
  }
  function factor() {
    const t = peek();
    if (isKw(t, 'not')) {
      p++;
      const f = factor();
      if (!f.not) { f.not = true; return f; }
      return { t: 'group', not: true, op: 'AND', items: [f] };
    }
    if (t && t.k === '(') {
      p++;
      let e = expr();
      if (!peek() || peek().k !== ')') fail(peek(), 'expected )');
      p++;
      if (e.t === 'cond') e = { t: 'group', not: false, op: 'AND', items: [e], paren: true };
      else e.paren = true;
      return e;
    }
    return pred();
  }
  function pred() {
    const t = peek();
    if (!t) fail(t, 'a condition is missing');
    if (t.k !== 'word' || KEYWORDS.includes(t.v.toLowerCase())) fail(t, 'expected a condition');
    p++;
    const low = t.v.toLowerCase();
    for (const pre of ['tag:', 'stage:']) {
      if (low.startsWith(pre)) {
        let name = t.v.slice(pre.length);
        if (!name) {
          const q = peek();
          if (!q || q.k !== 'str') fail(q, 'a name is missing after ' + pre);
          p++; name = q.v;
        }
        return { t: 'cond', not: false, field: pre.slice(0, -1), op: '=', value: name };
      }
    }
    if (low === 'has:email' || low === 'has:phone') return { t: 'cond', not: false, field: low, op: '=', value: '' };
    if (low.startsWith('has:')) fail(t, 'has: takes email or phone');
    const field = low.startsWith('attr.') ? 'attr.' + t.v.slice(5) : low;
    const o = peek();
    if (!o || o.k !== 'op') fail(o, 'expected an operator after ' + t.v);
    p++;
    const v = peek();
    if (!v || (v.k !== 'word' && v.k !== 'str') || (v.k === 'word' && KEYWORDS.includes(v.v.toLowerCase()))) fail(v, 'a value is missing');
    p++;
    return { t: 'cond', not: false, field, op: o.v, value: v.v };
  }
  if (!toks.length) return { t: 'group', not: false, op: 'AND', items: [] };
  const e = expr();
  if (p < toks.length) fail(toks[p], 'unexpected ' + (toks[p].k === 'word' ? '“' + toks[p].v + '”' : toks[p].k === 'op' ? toks[p].v : toks[p].k));
  if (e.t === 'cond' || e.not || e.paren) return { t: 'group', not: false, op: 'AND', items: [e] };
  return e;
}
// the server's "at POS: reason": POS counts UTF-8 bytes; as a character index of text
function rulePosition(text, message) {
  const m = /^at (\d+): ([\s\S]*)$/.exec(message || '');
  if (!m) return null;
  const bytes = new TextEncoder().encode(text);
  const n = Math.min(Number(m[1]), bytes.length);
  return { pos: new TextDecoder().decode(bytes.slice(0, n)).length, reason: m[2] };
}

/* ---------- segments ---------- */
async function loadSegments(id) {
  await ensureFieldDefs().catch(() => {});
  const r = await api('GET', '/api/v1/segments');
  mk.segments = r.items;
  renderSegList();
  if (id) {
    const s = mk.segments.find((x) => x.id === id);
    if (!s) { toast('No such segment.', 'bad'); return openSegment(null); }
    openSegment(s);
  } else if (!mk.seg || mk.seg.id) openSegment(mk.seg && mk.seg.id ? mk.segments.find((x) => x.id === mk.seg.id) || null : null);
}
function renderSegList() {
  const ul = $('#seg-list');
  ul.replaceChildren();
  for (const s of mk.segments) {
    const li = el('li', 'mk-item' + (mk.seg && mk.seg.id === s.id ? ' sel' : ''));
    li.dataset.segment = s.id;
    li.tabIndex = 0;
    li.append(el('span', 'mk-item-name', s.name), el('code', 'mk-item-rule', s.rule));
    li.addEventListener('click', () => go('segments', s.id));
    li.addEventListener('keydown', (e) => { if (e.key === 'Enter') go('segments', s.id); });
    ul.append(li);
  }
  if (!mk.segments.length) ul.append(el('li', 'mk-none muted', 'No saved segments yet. 暂无客群'));
}
function openSegment(s) {
  clearTimeout(mk.segTimer);
  let tree;
  try { tree = s ? parseRule(s.rule) : { t: 'group', not: false, op: 'AND', items: [newCond()] }; } catch (e) { tree = null; }
  mk.seg = { id: s ? s.id : 0, name: s ? s.name : '', rule: s ? s.rule : '', tree: tree || { t: 'group', not: false, op: 'AND', items: [] },
    builderOk: !!tree, builderWhy: tree ? '' : 'the saved rule', saved: s };
  renderSegList();
  renderSegEditor();
  previewSoon(0);
}
function renderSegEditor() {
  const s = mk.seg, box = $('#seg-editor');
  const card = el('section', 'card mk-card seg-card');
  const head = el('div', 'mk-card-head');
  const name = el('input', 'seg-name');
  name.id = 'seg-name'; name.value = s.name; name.placeholder = 'Segment name 客群名称, e.g. 上海 VIP'; name.maxLength = 200;
  name.setAttribute('aria-label', 'segment name');
  name.addEventListener('input', () => { s.name = name.value; });
  const nameF = el('label', 'field grow'); nameF.append(name, errSlot('name'));
  head.append(nameF);
  card.append(head);

  const b = el('fieldset', 'seg-builder');
  b.id = 'seg-builder';
  const lg = el('legend', '', 'Conditions 条件');
  b.append(lg);
  if (!s.builderOk) {
    const n = el('p', 'mk-note', 'The rule text uses something the builder cannot show (' + s.builderWhy + '). Edit the text, or ');
    n.append(button('start the builder over', 'link', () => { s.tree = newGroup(); s.builderOk = true; syncFromBuilder(); }), '.');
    b.append(n);
  } else b.append(groupEl(s.tree, true));
  card.append(b);

  const rl = el('label', 'field seg-rule-field');
  rl.append(el('span', '', 'Rule text 规则文本 '), el('span', 'hint', '— written by the builder; you may also edit it by hand'));
  const wrap = el('div', 'rule-wrap');
  const back = el('div', 'rule-backdrop'); back.setAttribute('aria-hidden', 'true');
  const ta = el('textarea', 'rule-text');
  ta.id = 'seg-rule'; ta.rows = 3; ta.spellcheck = false; ta.value = s.rule;
  ta.setAttribute('autocomplete', 'off');
  ta.addEventListener('input', () => {
    s.rule = ta.value;
    try { s.tree = parseRule(ta.value); s.builderOk = true; } catch (e) { s.builderOk = false; s.builderWhy = 'at ' + e.pos + ': ' + e.message; }
    const nb = el('fieldset', 'seg-builder'); nb.id = 'seg-builder';
    nb.append(el('legend', '', 'Conditions 条件'));
    if (s.builderOk) nb.append(groupEl(s.tree, true));
    else nb.append(el('p', 'mk-note', 'The builder shows the rule again once the text parses (' + s.builderWhy + ').'));
    $('#seg-builder').replaceWith(nb);
    paintRuleError(null);
    previewSoon();
  });
  ta.addEventListener('scroll', () => { back.scrollTop = ta.scrollTop; });
  wrap.append(back, ta);
  rl.append(wrap, errSlot('rule'));
  card.append(rl);
  const err = el('p', 'error seg-error'); err.id = 'seg-error'; err.setAttribute('role', 'alert');
  card.append(err);

  const acts = el('div', 'mk-actions');
  const save = button(s.id ? 'Save changes 保存' : 'Save segment 保存', 'primary', saveSegment);
  save.id = 'seg-save';
  acts.append(save);
  if (s.id) {
    const del = button('Delete', 'ghost danger', () => confirmSegDelete(acts, s));
    del.id = 'seg-delete';
    acts.append(del);
  }
  card.append(acts);

  const prev = el('section', 'card mk-card seg-preview');
  prev.id = 'seg-preview';
  const ph = el('div', 'mk-card-head');
  const cnt = el('div', 'seg-count'); cnt.id = 'seg-count';
  ph.append(el('h3', 'mk-h3', 'Preview 预览'), cnt);
  prev.append(ph);
  const tbl = el('table', 'table seg-sample');
  const thead = el('thead'); const tr = el('tr');
  for (const h of ['No.', 'Name 姓名', 'Stage 阶段', 'Region 地区', 'E-mail', 'Phone 手机']) tr.append(el('th', '', h));
  thead.append(tr);
  const tb = el('tbody'); tb.id = 'seg-sample-rows';
  tbl.append(thead, tb);
  prev.append(tbl);
  box.replaceChildren(card, prev);
  paintRuleError(null);
}
function fieldSelect(c) {
  const sel = el('select', 'seg-field');
  sel.setAttribute('aria-label', 'field');
  let found = false;
  for (const [label, list] of SEG_FIELDS) {
    const g = el('optgroup'); g.label = label;
    for (const [k, name] of list) { g.append(opt(k, name, k === c.field)); if (k === c.field) found = true; }
    sel.append(g);
  }
  if (crm.fieldDefs.length) {
    const g = el('optgroup'); g.label = 'Custom fields 自定义字段';
    for (const d of crm.fieldDefs) {
      const k = 'attr.' + d.key;
      g.append(opt(k, d.label + ' (' + d.key + ')', k === c.field)); if (k === c.field) found = true;
    }
    sel.append(g);
  }
  if (!found) { const o = opt(c.field, c.field, true); sel.prepend(o); }
  return sel;
}
function valueInput(c) {
  const kind = fieldKind(c.field);
  if (kind === 'has') return el('span', 'seg-novalue muted', '');
  if (kind === 'stage') {
    const sel = el('select', 'seg-value');
    sel.append(opt('', '— stage —'));
    for (const [k, en, zh] of [...LIFECYCLE, CHURNED]) sel.append(opt(k, en + ' ' + zh, k === c.value));
    if (c.value && !sel.querySelector(`option[value="${CSS.escape(c.value)}"]`)) sel.append(opt(c.value, c.value, true));
    return sel;
  }
  const inp = el('input', 'seg-value');
  inp.value = c.value;
  inp.placeholder = kind === 'tag' ? 'tag name, e.g. VIP' : kind === 'number' ? 'number' : kind === 'date' ? 'YYYY-MM-DD, today, today-30' : 'value';
  if (kind === 'number') inp.inputMode = 'decimal';
  const d = c.field.startsWith('attr.') && crm.fieldDefs.find((x) => x.key === c.field.slice(5));
  if (d && (d.type === 'select' || d.type === 'multiselect')) {
    const id = 'seg-opts-' + d.key;
    if (!document.getElementById(id)) {
      const dl = el('datalist'); dl.id = id;
      for (const o of fieldOptions(d)) { const x = el('option'); x.value = o.value; x.label = o.label; dl.append(x); }
      document.body.append(dl);
    }
    inp.setAttribute('list', id);
  }
  return inp;
}
function notToggle(n, onChange) {
  const b = button('NOT', 'seg-not' + (n.not ? ' on' : ''), () => { n.not = !n.not; onChange(); });
  b.setAttribute('aria-pressed', String(n.not));
  b.title = n.not ? 'Negated: matches everyone this does not. Click to remove NOT.' : 'Negate this (NOT)';
  return b;
}
function condRow(c, parent) {
  const row = el('div', 'seg-row' + (condComplete(c) ? '' : ' incomplete'));
  row.append(notToggle(c, () => syncFromBuilder(true)));
  const fsel = fieldSelect(c);
  fsel.addEventListener('change', () => {
    const before = fieldKind(c.field);
    c.field = fsel.value;
    const k = fieldKind(c.field);
    if (k !== before) { c.value = ''; c.op = '='; }
    if (OPS[k] && !OPS[k].includes(c.op)) c.op = '=';
    syncFromBuilder(true);
  });
  row.append(fsel);
  const kind = fieldKind(c.field);
  if (OPS[kind]) {
    const osel = el('select', 'seg-op');
    osel.setAttribute('aria-label', 'operator');
    for (const o of OPS[kind]) osel.append(opt(o, OP_LABEL[o], o === c.op));
    osel.addEventListener('change', () => { c.op = osel.value; syncFromBuilder(); });
    row.append(osel);
  } else row.append(el('span', 'seg-is muted', kind === 'has' ? '' : 'is'));
  const v = valueInput(c);
  if (v.tagName === 'SELECT') v.addEventListener('change', () => { c.value = v.value; syncFromBuilder(true); });
  else if (v.tagName === 'INPUT') {
    v.addEventListener('input', () => { c.value = v.value; row.classList.toggle('incomplete', !condComplete(c)); syncFromBuilder(); });
    v.setAttribute('aria-label', 'value');
  }
  row.append(v);
  const rm = button('×', 'ghost seg-remove', () => { parent.items.splice(parent.items.indexOf(c), 1); syncFromBuilder(true); });
  rm.title = 'Remove this condition'; rm.setAttribute('aria-label', 'remove condition');
  row.append(rm);
  return row;
}
function groupEl(g, top, parent) {
  const box = el('div', 'seg-group' + (top ? ' top' : '') + (g.not ? ' negated' : ''));
  const bar = el('div', 'seg-gbar');
  if (!top) bar.append(notToggle(g, () => syncFromBuilder(true)), el('span', 'seg-paren', '( … )'));
  const seg = el('div', 'seg-andor'); seg.setAttribute('role', 'group'); seg.setAttribute('aria-label', 'combine with');
  for (const op of ['AND', 'OR']) {
    const b = button(op === 'AND' ? 'AND all of 全部满足' : 'OR any of 任一满足', 'seg-op-btn' + (g.op === op ? ' on' : ''),
      () => { g.op = op; syncFromBuilder(true); });
    b.dataset.op = op;
    b.setAttribute('aria-pressed', String(g.op === op));
    seg.append(b);
  }
  bar.append(seg);
  if (!top) {
    const rm = button('Remove group', 'ghost small seg-gremove', () => { parent.items.splice(parent.items.indexOf(g), 1); syncFromBuilder(true); });
    bar.append(rm);
  }
  box.append(bar);
  const list = el('div', 'seg-items');
  g.items.forEach((n, i) => {
    if (i) list.append(el('div', 'seg-join', g.op));
    list.append(n.t === 'cond' ? condRow(n, g) : groupEl(n, false, g));
  });
  if (!g.items.length) list.append(el('p', 'muted seg-empty', 'No conditions: add one.'));
  box.append(list);
  const add = el('div', 'seg-add');
  const ac = button('+ Condition 条件', 'small seg-add-cond', () => { g.items.push(newCond()); syncFromBuilder(true); });
  const ag = button('+ Group ( ) 分组', 'small seg-add-group', () => { g.items.push(newGroup(g.op === 'AND' ? 'OR' : 'AND')); syncFromBuilder(true); });
  add.append(ac, ag);
  box.append(add);
  return box;
}
// the builder changed: new text (and, when the shape changed, new rows)
function syncFromBuilder(redraw) {
  const s = mk.seg;
  s.rule = nodeText(s.tree, true);
  const ta = $('#seg-rule');
  if (ta) ta.value = s.rule;
  if (redraw) {
    const focus = document.activeElement;
    const nb = el('fieldset', 'seg-builder'); nb.id = 'seg-builder';
    nb.append(el('legend', '', 'Conditions 条件'), groupEl(s.tree, true));
    $('#seg-builder').replaceWith(nb);
    if (focus && !document.contains(focus)) { const last = $$('#seg-builder .seg-value'); if (last.length) last[last.length - 1].focus(); }
  }
  paintRuleError(null);
  previewSoon();
}
function paintRuleError(e) {
  const ta = $('#seg-rule'), back = $('.rule-backdrop');
  if (!ta || !back) return;
  const text = ta.value;
  back.replaceChildren();
  ta.classList.toggle('has-error', !!e);
  if (!e) { ta.removeAttribute('data-error-pos'); back.append(document.createTextNode(text + '\n')); return; }
  let end = e.pos;
  while (end < text.length && !/\s/.test(text[end])) end++;
  if (end === e.pos && end < text.length) end++;
  const mark = el('mark', 'rule-err', end > e.pos ? text.slice(e.pos, end) : ' ');
  back.append(document.createTextNode(text.slice(0, e.pos)), mark, document.createTextNode(text.slice(end) + '\n'));
  ta.dataset.errorPos = String(e.pos);
  back.scrollTop = ta.scrollTop;
}
function previewSoon(ms = 350) {
  clearTimeout(mk.segTimer);
  mk.segTimer = setTimeout(runPreview, ms);
}
async function runPreview() {
  const s = mk.seg;
  if (!s || state.view !== 'segments') return;
  const seq = ++mk.segSeq;
  const cnt = $('#seg-count'), rows = $('#seg-sample-rows'), err = $('#seg-error');
  const rule = s.rule.trim();
  if (!rule) {
    cnt.replaceChildren(el('span', 'muted', 'Add a condition to see who matches. 添加条件以预览'));
    rows.replaceChildren(); err.textContent = ''; cnt.dataset.count = '';
    return;
  }
  cnt.classList.add('loading');
  let r;
  try {
    r = await api('POST', '/api/v1/segments/preview', { rule: s.rule });
  } catch (e) {
    if (seq !== mk.segSeq) return;
    cnt.classList.remove('loading');
    const why = fieldsOf(e) && fieldsOf(e).rule;
    const at = why ? rulePosition(s.rule, why) : null;
    err.textContent = why ? (at ? 'Position ' + (at.pos + 1) + ': ' + at.reason : why) : errText(e);
    paintRuleError(at);
    cnt.replaceChildren(el('span', 'muted', '—')); cnt.dataset.count = '';
    rows.replaceChildren();
    return;
  }
  if (seq !== mk.segSeq) return;
  cnt.classList.remove('loading');
  err.textContent = '';
  paintRuleError(null);
  cnt.dataset.count = String(r.count);
  cnt.replaceChildren(el('strong', 'seg-n', r.count.toLocaleString()), el('span', 'muted', ' customer' + (r.count === 1 ? '' : 's') + ' match 位客户符合'));
  rows.replaceChildren();
  for (const c of r.sample) {
    const tr = el('tr');
    const nm = el('td'); const w = el('div', 'cname'); w.append(avatar(c.name, 'sm'), el('span', '', c.name)); nm.append(w);
    tr.append(el('td', 'muted', c.customer_no), nm, el('td', '', stageLabel(c.stage)), el('td', '', c.region || ''),
      el('td', '', c.email || ''), el('td', '', c.phone || ''));
    tr.title = 'Open the 360° profile of ' + c.name;
    tr.style.cursor = 'pointer';
    tr.addEventListener('click', () => go('customer', c.id));
    rows.append(tr);
  }
  if (r.count > r.sample.length) {
    const tr = el('tr'); const td = el('td', 'muted mk-more', 'The first ' + r.sample.length + ' of ' + r.count.toLocaleString() + ' are shown.');
    td.colSpan = 6; tr.append(td); rows.append(tr);
  } else if (!r.count) {
    const tr = el('tr'); const td = el('td', 'muted crm-empty-row', 'No customer matches this rule. 没有符合条件的客户');
    td.colSpan = 6; tr.append(td); rows.append(tr);
  }
}
async function saveSegment() {
  const s = mk.seg, card = $('#seg-editor');
  clearErrors(card);
  $('#seg-error').textContent = '';
  const btn = $('#seg-save');
  btn.disabled = true;
  try {
    const body = { name: s.name.trim(), rule: s.rule };
    const saved = s.id ? await api('PATCH', '/api/v1/segments/' + s.id, body) : await api('POST', '/api/v1/segments', body);
    toast('Segment “' + saved.name + '” saved', 'good');
    mk.seg.id = saved.id;
    const r = await api('GET', '/api/v1/segments');
    mk.segments = r.items;
    if (state.viewArg !== saved.id) { showView('segments', saved.id); }
    openSegment(mk.segments.find((x) => x.id === saved.id) || saved);
  } catch (e) {
    const f = fieldsOf(e);
    if (f && f.rule) {
      const at = rulePosition(s.rule, f.rule);
      $('#seg-error').textContent = at ? 'Position ' + (at.pos + 1) + ': ' + at.reason : f.rule;
      paintRuleError(at);
      delete f.rule;
    }
    if (f) showErrors(card, f, $('#seg-error'));
    else $('#seg-error').textContent = errText(e);
  } finally {
    btn.disabled = false;
  }
}
function confirmSegDelete(acts, s) {
  const keep = [...acts.childNodes];
  const q = el('span', 'confirm', 'Delete “' + s.name + '”? Campaigns already sent keep their recipients.');
  const yes = button('Delete', 'small danger-solid');
  const no = button('Keep', 'small ghost', () => acts.replaceChildren(...keep));
  yes.id = 'seg-delete-yes';
  yes.addEventListener('click', async () => {
    yes.disabled = true;
    try {
      await api('DELETE', '/api/v1/segments/' + s.id);
      toast('Segment “' + s.name + '” deleted', 'good');
      mk.seg = null;
      go('segments');
    } catch (e) { toast(errText(e), 'bad'); acts.replaceChildren(...keep); }
  });
  acts.replaceChildren(q, yes, no);
  no.focus();
}
$('#seg-new').addEventListener('click', () => { mk.seg = null; showView('segments'); openSegment(null); $('#seg-name').focus(); });

/* ---------- templates ---------- */
async function loadTemplates(id) {
  const r = await api('GET', '/api/v1/templates');
  mk.templates = r.items;
  if (id) {
    const t = mk.templates.find((x) => x.id === id);
    if (!t) { toast('No such template.', 'bad'); openTemplate(null, 'email'); } else openTemplate(t);
  } else if (!mk.tpl) openTemplate(null, 'email');
  else { if (mk.tpl.id) { const t = mk.templates.find((x) => x.id === mk.tpl.id); if (t) openTemplate(t); else openTemplate(null, 'email'); } else renderTplList(); }
}
function renderTplList() {
  const box = $('#tpl-list');
  box.replaceChildren();
  for (const ch of ['email', 'sms']) {
    const list = mk.templates.filter((t) => t.channel === ch);
    const sec = el('section', 'mk-group');
    const h = el('h3', 'mk-h3'); h.append(icon(ch), ' ' + CHANNEL_NAME[ch] + ' ', el('span', 'muted', '(' + list.length + ')'));
    sec.append(h);
    const ul = el('ul', 'mk-list');
    for (const t of list) {
      const li = el('li', 'mk-item' + (mk.tpl && mk.tpl.id === t.id ? ' sel' : ''));
      li.dataset.template = t.id; li.tabIndex = 0;
      li.append(el('span', 'mk-item-name', t.name), el('span', 'mk-item-sub muted', ch === 'email' ? (t.subject || '') : (t.text || '').slice(0, 80)));
      li.addEventListener('click', () => go('templates', t.id));
      li.addEventListener('keydown', (e) => { if (e.key === 'Enter') go('templates', t.id); });
      ul.append(li);
    }
    if (!list.length) ul.append(el('li', 'mk-none muted', 'None yet. 暂无'));
    sec.append(ul);
    box.append(sec);
  }
}
function openTemplate(t, channel) {
  mk.tpl = t ? { id: t.id, name: t.name, channel: t.channel, subject: t.subject || '', text: t.text || '', html: t.html || '' }
    : { id: 0, name: '', channel: channel || 'email', subject: '', text: '', html: '' };
  renderTplList();
  renderTplEditor();
  tplPreviewSoon(0);
}
function tplField(label, key, input, hint) {
  const f = el('label', 'field tpl-part');
  f.dataset.part = key;
  const l = el('span', 'tpl-label', label);
  if (hint) l.append(el('span', 'hint', ' ' + hint));
  f.append(l, input, errSlot(key));
  return f;
}
function renderTplEditor() {
  const t = mk.tpl, box = $('#tpl-editor');
  const card = el('section', 'card mk-card tpl-card');
  card.id = 'tpl-form';
  const grid = el('div', 'tpl-top');
  const name = el('input'); name.id = 'tpl-name'; name.value = t.name; name.maxLength = 200; name.placeholder = 'e.g. 双十一优惠 Singles’ Day';
  name.addEventListener('input', () => { t.name = name.value; });
  const ch = el('select'); ch.id = 'tpl-channel';
  for (const c of ['email', 'sms']) ch.append(opt(c, CHANNEL_NAME[c], c === t.channel));
  ch.disabled = !!t.id;
  ch.title = t.id ? 'The channel of a saved template never changes' : '';
  ch.addEventListener('change', () => { t.channel = ch.value; if (t.channel === 'sms') { t.subject = ''; t.html = ''; } renderTplEditor(); tplPreviewSoon(0); });
  grid.append(tplField('Name 名称', 'name', name), tplField('Channel 渠道', 'channel', ch));
  card.append(grid);
  const mkArea = (key, rows, ph) => {
    const a = el(key === 'subject' ? 'input' : 'textarea', 'tpl-src');
    a.id = 'tpl-' + key; a.value = t[key]; a.spellcheck = false;
    if (rows) a.rows = rows;
    a.placeholder = ph;
    a.addEventListener('input', () => {
      t[key] = a.value;
      if (key === 'text' && t.channel === 'sms') paintSmsCount();
      tplPreviewSoon();
    });
    return a;
  };
  if (t.channel === 'email') card.append(tplField('Subject 主题', 'subject', mkArea('subject', 0, '{{customer.name}}，您的专属优惠')));
  const text = mkArea('text', t.channel === 'sms' ? 5 : 7, t.channel === 'sms' ? '【商城】{{customer.name}}您好，… 回TD退订' : '{{customer.name}} 您好，…\n\n退订：{{unsubscribe_url}}');
  card.append(tplField(t.channel === 'sms' ? 'Message 短信内容' : 'Plain text 纯文本', 'text', text));
  if (t.channel === 'sms') { const c = el('p', 'sms-count muted'); c.id = 'tpl-sms-count'; card.append(c); }
  if (t.channel === 'email') card.append(tplField('HTML', 'html', mkArea('html', 8, '<p>{{customer.name}} 您好</p>'), 'optional; {{x}} is escaped, {{{x}}} is not'));
  const err = el('p', 'error'); err.id = 'tpl-error'; err.setAttribute('role', 'alert');
  card.append(err);
  const acts = el('div', 'mk-actions');
  const save = button(t.id ? 'Save changes 保存' : 'Save template 保存', 'primary', saveTemplate);
  save.id = 'tpl-save';
  acts.append(save);
  if (t.id) { const del = button('Delete', 'ghost danger', () => confirmTplDelete(acts, t)); del.id = 'tpl-delete'; acts.append(del); }
  card.append(acts);

  const pv = el('section', 'card mk-card tpl-preview');
  pv.id = 'tpl-preview';
  const ph = el('div', 'mk-card-head'); ph.append(el('h3', 'mk-h3', 'Preview 预览'));
  pv.append(ph);
  const pick = el('div', 'field cust-pick tpl-pick');
  const q = el('input'); q.id = 'tpl-customer-q'; q.type = 'search'; q.autocomplete = 'off';
  q.placeholder = 'Preview for a customer: search name, number, phone · 选择客户';
  q.setAttribute('role', 'combobox'); q.setAttribute('aria-expanded', 'false'); q.setAttribute('aria-controls', 'tpl-customer-list');
  if (mk.tplCustomer) q.value = mk.tplCustomer.name + ' · ' + mk.tplCustomer.customer_no;
  const ul = el('ul', 'pick-list'); ul.id = 'tpl-customer-list'; ul.hidden = true; ul.setAttribute('role', 'listbox');
  let qt = null;
  q.addEventListener('input', () => { clearTimeout(qt); qt = setTimeout(searchPreviewCustomer, 200); });
  q.addEventListener('blur', () => setTimeout(() => { ul.hidden = true; q.setAttribute('aria-expanded', 'false'); }, 150));
  pick.append(q, ul, errSlot('customer_id'));
  pv.append(pick);
  const out = el('div', 'tpl-out'); out.id = 'tpl-out';
  pv.append(out);
  box.replaceChildren(card, pv);
  if (t.channel === 'sms') paintSmsCount();
}
function paintSmsCount() {
  const c = $('#tpl-sms-count');
  if (c) c.textContent = 'Template: ' + smsCounterText(smsSegments(mk.tpl.text)) + ' — the rendered message is counted in the preview';
}
async function searchPreviewCustomer() {
  const qi = $('#tpl-customer-q'), list = $('#tpl-customer-list');
  const q = qi.value.trim();
  const seq = ++mk.pickSeq;
  if (!q) { list.hidden = true; return; }
  let r;
  try { r = await api('GET', '/api/v1/customers?' + new URLSearchParams({ q, per_page: '8' })); } catch (e) { return; }
  if (seq !== mk.pickSeq) return;
  list.replaceChildren();
  for (const c of r.items) {
    const li = el('li', 'pick'); li.dataset.customer = c.id; li.setAttribute('role', 'option');
    li.append(avatar(c.name, 'sm'));
    const tx = el('span', 'pick-t');
    tx.append(el('span', 'pick-name', c.name), el('span', 'muted', [c.customer_no, c.company, c.email || c.phone].filter(Boolean).join(' · ')));
    li.append(tx);
    li.addEventListener('mousedown', (e) => e.preventDefault());
    li.addEventListener('click', () => {
      mk.tplCustomer = c;
      qi.value = c.name + ' · ' + c.customer_no;
      list.hidden = true; qi.setAttribute('aria-expanded', 'false');
      tplPreviewSoon(0);
    });
    list.append(li);
  }
  if (!r.items.length) list.append(el('li', 'pick none muted', 'No customer matches “' + q + '”'));
  list.hidden = false; qi.setAttribute('aria-expanded', 'true');
}
function tplPreviewSoon(ms = 400) { clearTimeout(mk.tplTimer); mk.tplTimer = setTimeout(runTplPreview, ms); }
function clearPartErrors() {
  for (const e of $$('#tpl-editor .field-error')) e.textContent = '';
  for (const e of $$('#tpl-editor .invalid')) e.classList.remove('invalid');
}
async function runTplPreview() {
  const t = mk.tpl, out = $('#tpl-out');
  if (!t || !out || state.view !== 'templates') return;
  const seq = ++mk.tplSeq;
  if (!mk.tplCustomer) {
    out.replaceChildren(el('p', 'muted mk-note', 'Pick a customer above to see this template as they would get it.'));
    return;
  }
  const body = { channel: t.channel, text: t.text, customer_id: mk.tplCustomer.id };
  if (t.channel === 'email') { body.subject = t.subject; if (t.html.trim()) body.html = t.html; }
  let r;
  try { r = await api('POST', '/api/v1/templates/preview', body); } catch (e) {
    if (seq !== mk.tplSeq) return;
    clearPartErrors();
    const f = fieldsOf(e);
    if (f) {
      showErrors($('#tpl-editor'), f, null);
      out.replaceChildren(el('p', 'error mk-note', 'Fix the marked part' + (Object.keys(f).length > 1 ? 's' : '') + ' to see the preview.'));
    } else out.replaceChildren(el('p', 'error', errText(e)));
    out.classList.add('stale');
    return;
  }
  if (seq !== mk.tplSeq) return;
  clearPartErrors();
  out.classList.remove('stale');
  const parts = [];
  const who = el('p', 'tpl-for muted'); who.append('For ', el('strong', '', mk.tplCustomer.name), ' · ' + (t.channel === 'email' ? (mk.tplCustomer.email || 'no e-mail') : (mk.tplCustomer.phone || 'no phone')));
  parts.push(who);
  if (t.channel === 'email') {
    const sub = el('div', 'tpl-subject'); sub.id = 'tpl-out-subject';
    sub.append(el('span', 'tpl-k', 'Subject'), el('span', 'tpl-v', r.subject || ''));
    parts.push(sub);
    if (r.html) {
      const fr = document.createElement('iframe');
      fr.id = 'tpl-out-html';
      fr.className = 'tpl-frame';
      fr.setAttribute('sandbox', ''); // no scripts, no same origin, no forms, no popups
      fr.setAttribute('referrerpolicy', 'no-referrer');
      fr.title = 'HTML preview';
      fr.srcdoc = '<!doctype html><meta charset="utf-8"><meta http-equiv="Content-Security-Policy" content="script-src \'none\'">'
        + '<style>body{font-family:-apple-system,"Segoe UI","PingFang SC","Microsoft YaHei",sans-serif;font-size:14px;color:#1f2937;margin:14px}</style>'
        + r.html;
      parts.push(el('div', 'tpl-k', 'HTML'), fr);
    }
    parts.push(el('div', 'tpl-k', 'Plain text'));
  }
  const txt = el('pre', 'tpl-text'); txt.id = 'tpl-out-text'; txt.textContent = r.text || '';
  parts.push(txt);
  if (t.channel === 'sms') {
    const sc = el('p', 'sms-seg'); sc.id = 'tpl-out-sms';
    sc.append(el('strong', '', plural(r.segments, 'segment')), ' · ' + (ENCODING_LABEL[r.encoding] || r.encoding) + ' · ' + smsSegments(r.text).units + ' characters');
    if (r.segments > 1) sc.classList.add('warn');
    parts.push(sc);
  }
  out.replaceChildren(...parts);
}
async function saveTemplate() {
  const t = mk.tpl, form = $('#tpl-editor');
  clearPartErrors();
  $('#tpl-error').textContent = '';
  const body = { name: t.name.trim(), text: t.text };
  if (!t.id) body.channel = t.channel;
  if (t.channel === 'email') { body.subject = t.subject; body.html = t.html.trim() ? t.html : ''; }
  $('#tpl-save').disabled = true;
  try {
    const saved = t.id ? await api('PATCH', '/api/v1/templates/' + t.id, body) : await api('POST', '/api/v1/templates', body);
    toast('Template “' + saved.name + '” saved', 'good');
    mk.templates = (await api('GET', '/api/v1/templates')).items;
    if (state.viewArg !== saved.id) showView('templates', saved.id);
    openTemplate(mk.templates.find((x) => x.id === saved.id) || saved);
  } catch (e) {
    const f = fieldsOf(e);
    if (f) showErrors(form, f, $('#tpl-error'));
    else $('#tpl-error').textContent = errText(e);
  } finally {
    const b = $('#tpl-save'); if (b) b.disabled = false;
  }
}
function confirmTplDelete(acts, t) {
  const keep = [...acts.childNodes];
  const q = el('span', 'confirm', 'Delete “' + t.name + '”?');
  const yes = button('Delete', 'small danger-solid');
  const no = button('Keep', 'small ghost', () => acts.replaceChildren(...keep));
  yes.addEventListener('click', async () => {
    yes.disabled = true;
    try {
      await api('DELETE', '/api/v1/templates/' + t.id);
      toast('Template “' + t.name + '” deleted', 'good');
      mk.tpl = null;
      go('templates');
    } catch (e) { toast(errText(e), 'bad'); acts.replaceChildren(...keep); }
  });
  acts.replaceChildren(q, yes, no);
  no.focus();
}
$('#tpl-new-email').addEventListener('click', () => { showView('templates'); openTemplate(null, 'email'); $('#tpl-name').focus(); });
$('#tpl-new-sms').addEventListener('click', () => { showView('templates'); openTemplate(null, 'sms'); $('#tpl-name').focus(); });

/* ---------- campaigns ---------- */
function statusChip(s) {
  const b = badge(CAMPAIGN_STATUS[s] || s, 'cstatus cs-' + s);
  b.dataset.status = s;
  if (ACTIVE.includes(s)) b.prepend(el('span', 'pulse'));
  return b;
}
async function loadRefs() {
  const [s, t] = await Promise.all([api('GET', '/api/v1/segments'), api('GET', '/api/v1/templates')]);
  mk.segments = s.items; mk.templates = t.items;
}
async function loadCampaigns() {
  loadCompare(); // fails soft: the card hides itself
  const [r, , held] = await Promise.all([api('GET', '/api/v1/campaigns?per_page=200'), loadRefs(),
    api('GET', '/api/v1/approvals?status=pending&per_page=200').catch(() => null)]);
  mk.campaigns = r.items;
  // starts waiting for an approval (the campaign rows do not say)
  for (const a of (held && held.items) || []) {
    const c = a.record_type === 'campaign' && mk.campaigns.find((x) => x.id === a.record_id);
    if (c && !c.approval) c.approval = { id: a.id, status: a.status };
  }
  const tb = $('#camp-rows');
  tb.replaceChildren();
  for (const c of mk.campaigns) {
    const tr = el('tr');
    tr.dataset.campaign = c.id; tr.tabIndex = 0;
    const seg = mk.segments.find((x) => x.id === c.segment_id), tpl = mk.templates.find((x) => x.id === c.template_id);
    const nm = el('td', 'strong', c.name);
    const ch = el('td'); ch.append(channelBadge(c.channel));
    const st = el('td'); st.append(statusChip(c.status));
    if (c.status === 'scheduled' && c.scheduled_at) st.append(el('span', 'muted small-when', ' ' + fullTime(c.scheduled_at)));
    if (c.approval && c.approval.status === 'pending') st.append(badge('Awaiting approval 待审批', 'camp-wait'));
    tr.append(nm, ch, st, el('td', '', seg ? seg.name : '#' + c.segment_id), el('td', '', tpl ? tpl.name : '#' + c.template_id),
      el('td', 'muted', c.rate_per_minute ? c.rate_per_minute + '/min' : '—'), el('td', 'muted', fullTime(c.created_at)));
    tr.addEventListener('click', () => go('campaign', c.id));
    tr.addEventListener('keydown', (e) => { if (e.key === 'Enter') go('campaign', c.id); });
    tb.append(tr);
  }
  if (!mk.campaigns.length) { const tr = el('tr'); const td = el('td', 'muted crm-empty-row', 'No campaigns yet. 暂无营销活动'); td.colSpan = 7; tr.append(td); tb.append(tr); }
}
function fillCampTemplates() {
  const ch = $('#camp-channel').value, sel = $('#camp-template'), was = sel.value;
  const list = mk.templates.filter((t) => t.channel === ch);
  sel.replaceChildren(opt('', list.length ? '— choose a template —' : '— no ' + (ch === 'sms' ? 'SMS' : 'e-mail') + ' template yet —'));
  for (const t of list) sel.append(opt(String(t.id), t.name, String(t.id) === was));
  $('#camp-template-hint').textContent = (mk.templates.length - list.length) ? (mk.templates.length - list.length) + ' template(s) for the other channel hidden' : '';
}
async function openCampDialog() {
  const f = $('#camp-form');
  clearErrors(f);
  $('#camp-error').textContent = '';
  try { await loadRefs(); } catch (e) { toast(errText(e), 'bad'); return; }
  $('#camp-name').value = '';
  const seg = $('#camp-segment');
  seg.replaceChildren(opt('', mk.segments.length ? '— choose a segment —' : '— save a segment first —'));
  for (const s of mk.segments) seg.append(opt(String(s.id), s.name));
  $('#camp-channel').value = 'email';
  fillCampTemplates();
  $('#camp-when').value = ''; $('#camp-rate').value = '';
  $('#camp-save').disabled = false;
  $('#camp-dialog').showModal();
  $('#camp-name').focus();
}
$('#camp-new').addEventListener('click', openCampDialog);
$('#camp-channel').addEventListener('change', fillCampTemplates);
$('#camp-cancel').addEventListener('click', () => $('#camp-dialog').close());
$('#camp-form').addEventListener('submit', async (ev) => {
  ev.preventDefault();
  const f = $('#camp-form');
  clearErrors(f);
  $('#camp-error').textContent = '';
  const body = { name: $('#camp-name').value.trim(), channel: $('#camp-channel').value };
  if ($('#camp-segment').value) body.segment_id = Number($('#camp-segment').value);
  if ($('#camp-template').value) body.template_id = Number($('#camp-template').value);
  const when = $('#camp-when').value;
  if (when) {
    const d = new Date(when);
    body.scheduled_at = isNaN(d) ? when : d.toISOString().replace(/\.\d{3}Z$/, 'Z');
  }
  const rate = $('#camp-rate').value.trim();
  if (rate) body.rate_per_minute = /^\d+$/.test(rate) ? Number(rate) : rate;
  $('#camp-save').disabled = true;
  try {
    const c = await api('POST', '/api/v1/campaigns', body);
    $('#camp-dialog').close();
    toast('Campaign “' + c.name + '” created as a draft', 'good');
    go('campaign', c.id);
  } catch (e) {
    const fl = fieldsOf(e);
    if (fl) showErrors(f, fl, $('#camp-error'));
    else $('#camp-error').textContent = errText(e);
  } finally {
    $('#camp-save').disabled = false;
  }
});

async function loadCampaign(id) {
  const box = $('#camp-detail');
  if (!mk.camp || mk.camp.id !== id) { box.replaceChildren(el('div', 'empty', 'Loading… 加载中')); mk.ambiguous = []; mk.ambSel = new Set(); }
  let c;
  try { [c] = await Promise.all([api('GET', '/api/v1/campaigns/' + id), mk.segments.length ? null : loadRefs().catch(() => {}), learnAttribution()]); } catch (e) {
    if (state.view !== 'campaign' || state.viewArg !== id) return;
    const d = el('div', 'empty');
    d.append(icon('send', 'big'), el('p', '', e.status === 404 ? 'No such campaign. 活动不存在。' : errText(e)), button('Back to campaigns', 'small', () => go('campaigns')));
    box.replaceChildren(d);
    mk.camp = null;
    return;
  }
  if (state.view !== 'campaign' || state.viewArg !== id) return;
  c = await campApprovalOf(c);
  if (state.view !== 'campaign' || state.viewArg !== id) return;
  mk.camp = c;
  noteSample(c);
  renderCampaign();
  await loadAmbiguous();
  pollCampaign();
}
// samples are taken while the campaign is active, plus one as it stops
function noteSample(c) {
  const list = mk.samples.get(c.id) || [];
  const last = list[list.length - 1], active = ACTIVE.includes(c.status);
  if (!active && !(last && last.active)) return;
  list.push({ t: Date.now(), sent: c.stats.sent, active });
  if (list.length > 600) list.splice(0, list.length - 600);
  mk.samples.set(c.id, list);
}
// every 2 s while the campaign is being built or sent; every 30 s once it has sent and
// stopped, for the results that keep coming back (deliveries, bounces, replies, deals)
function pollCampaign() {
  clearTimeout(mk.campTimer);
  const c = mk.camp;
  const active = c && ACTIVE.includes(c.status);
  if (!c || (!active && !c.started_at)) return;
  mk.campTimer = setTimeout(async () => {
    if (state.view !== 'campaign' || !mk.camp || mk.camp.id !== c.id) return;
    try {
      const fresh = await api('GET', '/api/v1/campaigns/' + c.id);
      if (state.view !== 'campaign' || !mk.camp || mk.camp.id !== c.id) return;
      const wasAmb = mk.camp.stats.ambiguous;
      const same = !active && JSON.stringify(fresh) === JSON.stringify(mk.camp);
      mk.camp = fresh;
      noteSample(fresh);
      if (!same) renderCampaign();
      if (fresh.stats.ambiguous !== wasAmb) loadAmbiguous();
    } catch (e) { /* try again next round */ }
    pollCampaign();
  }, active ? 2000 : 30000);
}
function tile(n, label, cls, key) {
  const t = el('div', 'tile' + (cls ? ' ' + cls : ''));
  t.dataset.stat = key;
  t.append(el('span', 'tile-n', Number(n || 0).toLocaleString()), el('span', 'tile-l', label));
  return t;
}
function renderCampaign() {
  const c = mk.camp, s = c.stats, box = $('#camp-detail');
  box.dataset.campaign = c.id;
  const seg = mk.segments.find((x) => x.id === c.segment_id), tpl = mk.templates.find((x) => x.id === c.template_id);
  const crumbs = el('div', 'crumbs');
  crumbs.append(button('Campaigns 营销活动', 'link crumb', () => go('campaigns'), 'back'), el('span', 'sep', '/'), el('span', '', c.name));
  const head = el('section', 'card mk-card camp-head');
  const top = el('div', 'camp-top');
  const ttl = el('div', 'camp-title');
  const h = el('h2', '', c.name);
  h.append(' ', statusChip(c.status));
  ttl.append(h);
  const facts = el('div', 'camp-facts muted');
  facts.append(channelBadge(c.channel));
  const fact = (label, value, onClick) => {
    const f = el('span', 'fact'); f.append(el('span', 'fact-l', label + ' '));
    if (onClick) f.append(button(value, 'link fact-v', onClick)); else f.append(el('span', 'fact-v', value));
    facts.append(f);
  };
  fact('Segment', seg ? seg.name : '#' + c.segment_id, seg ? () => go('segments', seg.id) : null);
  fact('Template', tpl ? tpl.name : '#' + c.template_id, tpl ? () => go('templates', tpl.id) : null);
  fact('Rate', c.rate_per_minute ? c.rate_per_minute + ' / min' : 'as fast as allowed');
  if (c.scheduled_at) fact('Scheduled', fullTime(c.scheduled_at));
  if (c.started_at) fact('Started', fullTime(c.started_at));
  if (c.finished_at) fact('Ended', fullTime(c.finished_at));
  ttl.append(facts);
  top.append(ttl);
  const acts = el('div', 'camp-actions');
  const act = (label, action, cls, ic, shown) => {
    const b = button(label, cls + ' camp-' + action, () => campAction(action, b), ic);
    b.dataset.action = action;
    b.hidden = !shown;
    acts.append(b);
  };
  const st = c.status;
  const waiting = !!(c.approval && c.approval.status === 'pending');
  act('Start 开始', 'start', 'primary', 'send', (st === 'draft' || st === 'scheduled') && !waiting);
  act('Pause 暂停', 'pause', '', 'pause', st === 'starting' || st === 'sending');
  act('Resume 继续', 'resume', 'primary', 'play', st === 'paused');
  act('Cancel 取消', 'cancel', 'ghost danger', 'stop', !['finished', 'cancelled'].includes(st));
  top.append(acts);
  head.append(top);
  const aerr = el('p', 'error camp-error'); aerr.id = 'camp-action-error'; aerr.setAttribute('role', 'alert');
  aerr.textContent = mk.actionError && mk.actionError.id === c.id ? mk.actionError.text : '';
  head.append(aerr);
  const appr = approvalBanner(c);
  if (appr) head.append(appr);

  // progress: everything no longer queued or sending, of the ledger
  const total = s.total || 0, done = total - (s.queued || 0) - (s.sending || 0);
  const pct = total ? Math.floor((done * 100) / total) : (st === 'finished' ? 100 : 0);
  const prog = el('div', 'camp-progress');
  const label = el('div', 'prog-label');
  label.append(el('strong', 'prog-pct', pct + '%'),
    el('span', 'muted', total ? ' ' + done.toLocaleString() + ' of ' + total.toLocaleString() + ' recipients processed · ' + s.sent.toLocaleString() + ' sent'
      : st === 'starting' ? ' building the recipient list…' : st === 'draft' || st === 'scheduled' ? ' not started' : ' no recipients'));
  const bar = el('div', 'prog-bar');
  bar.id = 'camp-progress';
  bar.setAttribute('role', 'progressbar'); bar.setAttribute('aria-valuemin', '0'); bar.setAttribute('aria-valuemax', '100');
  bar.setAttribute('aria-valuenow', String(pct)); bar.setAttribute('aria-label', 'campaign progress');
  for (const [k, cls] of [['sent', 'p-sent'], ['failed', 'p-failed'], ['ambiguous', 'p-amb'], ['skipped', 'p-skip']]) {
    const w = total ? (100 * (s[k] || 0)) / total : 0;
    if (!w) continue;
    const part = el('span', 'prog-part ' + cls); part.style.width = w + '%'; part.title = k + ': ' + s[k];
    bar.append(part);
  }
  if (ACTIVE.includes(st)) bar.classList.add('live');
  prog.append(label, bar);
  head.append(prog);

  const tiles = el('div', 'tiles camp-tiles');
  tiles.append(tile(s.sent, 'Sent 已发送', 'good', 'sent'), tile(s.queued + (s.sending || 0), 'Queued 排队中', 'info', 'queued'),
    tile(s.failed, 'Failed 失败', s.failed ? 'bad' : '', 'failed'), tile(s.ambiguous, 'Ambiguous 可能已送达', s.ambiguous ? 'warn' : '', 'ambiguous'),
    tile(s.skipped, 'Skipped 已跳过', '', 'skipped'));
  head.append(tiles);
  const reasons = Object.entries(s.skipped_reasons || {}).filter(([, n]) => n);
  if (reasons.length) {
    const r = el('p', 'skip-reasons muted'); r.id = 'camp-skip-reasons';
    r.append(el('span', 'fact-l', 'Skipped because: '));
    reasons.forEach(([k, n], i) => { if (i) r.append(' · '); const x = el('span', 'skip-r', (SKIP_REASON[k] || k) + ' ' + n); x.dataset.reason = k; r.append(x); });
    head.append(r);
  }

  const chartCard = el('section', 'card mk-card camp-chart-card');
  const ch = el('div', 'mk-card-head'); ch.append(el('h3', 'mk-h3', 'Sent over time 发送进度'));
  const legend = el('div', 'prog-legend');
  for (const [k, cls, label] of [['sent', 'p-sent', 'sent'], ['failed', 'p-failed', 'failed'], ['ambiguous', 'p-amb', 'ambiguous'], ['skipped', 'p-skip', 'skipped']]) {
    if (!s[k]) continue;
    const i = el('span', 'lg'); i.append(el('span', 'lg-sw ' + cls), label + ' ' + s[k].toLocaleString()); legend.append(i);
  }
  if (legend.childNodes.length) prog.append(legend);
  const old = $('#camp-amb', box);
  const amb = old || el('section', 'card mk-card camp-amb');
  box.replaceChildren(crumbs, head); // laid out first: the chart takes the page's width
  chartCard.append(ch, sentChart(mk.samples.get(c.id) || [], total, Math.round(head.clientWidth - 38)));

  amb.id = 'camp-amb';
  box.replaceChildren(crumbs, head, resultsCard(c), chartCard, amb);
  renderAmbiguous();
}
/* ---------- results: what came back (docs/api.md "Campaigns", Results) ---------- */
// [stat, label, tone, e-mail only]; tone colours the number and the bar (bad/warn only when > 0)
const RESULTS = [['delivered', 'Delivered 已送达', 'good'], ['bounced', 'Bounced 退信', 'bad'], ['opened', 'Opened 打开', 'info', true],
  ['clicked', 'Clicked 点击', 'info', true], ['replied', 'Replied 回复', 'good'], ['unsubscribed', 'Unsubscribed 退订', 'warn']];
// a share as "12.5%": at most one decimal, "<0.1%" rather than a misleading 0%
function pctText(frac) {
  if (frac === null || frac === undefined || !isFinite(frac)) return '—';
  const p = frac * 100;
  if (p > 0 && p < 0.1) return '<0.1%';
  return p.toLocaleString(undefined, { maximumFractionDigits: 1 }) + '%';
}
// an amount as the server sends it ("1200.50") in its currency: ¥1,200.50, $99.00
function moneyExact(amount, cur) {
  const n = Number(amount) || 0;
  try {
    return new Intl.NumberFormat(undefined, { style: 'currency', currency: cur, currencyDisplay: cur === 'CNY' ? 'narrowSymbol' : 'symbol',
      minimumFractionDigits: 2, maximumFractionDigits: 2 }).format(n);
  } catch (e) { return cur + ' ' + n.toFixed(2); }
}
// the revenue map's entries, CNY first, then by code
function revenueEntries(rev) {
  return Object.entries(rev || {}).sort(([a], [b]) => (a === 'CNY' ? -1 : b === 'CNY' ? 1 : a.localeCompare(b)));
}
function revenueAmounts(rev) {
  const box = el('div', 'rev-amounts');
  const list = revenueEntries(rev);
  for (const [cur, amt] of list) {
    const a = el('span', 'rev-amt', moneyExact(amt, cur));
    a.dataset.currency = cur; a.dataset.amount = amt; a.title = amt + ' ' + cur;
    box.append(a);
  }
  if (!list.length) box.append(el('span', 'rev-amt none', '—'));
  return box;
}
function resultTile(key, label, tone, n, sent, na) {
  const t = el('div', 'tile res-tile' + (na ? ' na' : n ? ' ' + tone : ''));
  t.dataset.stat = key;
  t.dataset.count = na ? '' : String(n);
  const frac = sent ? n / sent : null;
  t.append(el('span', 'tile-n', na ? 'n/a' : n.toLocaleString()), el('span', 'tile-l', label));
  const pct = el('span', 'res-pct');
  if (na) pct.textContent = 'e-mail only 仅邮件';
  else { pct.append(el('strong', '', pctText(frac))); if (sent) pct.append(' of sent'); }
  t.dataset.pct = na || !sent ? '' : String(Math.round(frac * 1000) / 10);
  const bar = el('span', 'res-bar'); bar.setAttribute('aria-hidden', 'true');
  const fill = el('span', 'res-fill'); fill.style.width = (na || !sent ? 0 : Math.min(100, frac * 100)) + '%';
  bar.append(fill);
  t.append(pct, bar);
  t.title = na ? 'SMS cannot report opens or clicks' : label + ': ' + n + (sent ? ' of ' + sent + ' sent' : '');
  return t;
}
// the "Results 效果" card: outcomes as shares of what was sent, and the attributed revenue
function resultsCard(c) {
  const s = c.stats, sent = s.sent || 0;
  const card = el('section', 'card mk-card camp-results');
  card.id = 'camp-results';
  card.dataset.channel = c.channel;
  const head = el('div', 'mk-card-head');
  head.append(el('h3', 'mk-h3', 'Results 效果'),
    el('span', 'res-of muted', sent ? '% of ' + sent.toLocaleString() + ' sent · 占已发送' : 'Nothing sent yet · 尚未发送'));
  const tiles = el('div', 'tiles res-tiles');
  for (const [key, label, tone, emailOnly] of RESULTS) {
    tiles.append(resultTile(key, label, tone, Number(s[key] || 0), sent, emailOnly && c.channel !== 'email'));
  }
  const rev = el('div', 'res-revenue');
  rev.id = 'camp-revenue';
  const deals = Number(s.deals || 0);
  rev.dataset.deals = String(deals);
  if (deals) rev.classList.add('won');
  const main = el('div', 'rev-main');
  main.append(el('span', 'rev-label', 'Revenue 成交'), revenueAmounts(s.revenue));
  const dl = el('div', 'rev-deals');
  dl.append(el('strong', 'rev-n', deals.toLocaleString()), el('span', '', deals === 1 ? ' deal won 笔成交' : ' deals won 笔成交'));
  if (sent) dl.append(el('span', 'muted', ' · ' + pctText(deals / sent) + ' of sent'));
  rev.append(main, dl, el('p', 'rev-note muted', 'Deals won within ' + mk.attrDays + ' days after this campaign reached the customer (last touch)'));
  card.append(head, tiles, rev);
  return card;
}
// the attribution window is the server's ([campaigns] attribution_days): learnt once from
// the channel report, 30 until then
async function learnAttribution() {
  if (mk.attrKnown) return;
  try {
    const r = await api('GET', '/api/v1/reports/campaigns?days=1');
    noteAttribution(r);
  } catch (e) { /* keep the default */ }
}
function noteAttribution(r) {
  if (r && Number.isInteger(r.attribution_days)) { mk.attrDays = r.attribution_days; mk.attrKnown = true; }
}

/* ---------- the channel comparison on the campaigns page ---------- */
// [metric, label, kind, better]: kind n = a count, rate = rates[metric] with the count,
// deals = count and rate, money = revenue; better: 1 higher, -1 lower, 0 none
const COMPARE = [['campaigns', 'Campaigns 活动', 'n', 0], ['sent', 'Sent 已发送', 'n', 0],
  ['delivered', 'Delivered 送达率', 'rate', 1], ['bounced', 'Bounced 退信率', 'rate', -1], ['opened', 'Opened 打开率', 'rate', 1],
  ['clicked', 'Clicked 点击率', 'rate', 1], ['replied', 'Replied 回复率', 'rate', 1], ['unsubscribed', 'Unsubscribed 退订率', 'rate', -1],
  ['deals', 'Deals 成交', 'deals', 1], ['revenue', 'Revenue 成交额', 'money', 0]];
const COMPARE_CH = ['email', 'sms'];
async function loadCompare() {
  const card = $('#camp-compare');
  if (!card) return;
  const seq = ++mk.compareSeq;
  let r;
  try { r = await api('GET', '/api/v1/reports/campaigns?days=90'); } catch (e) { if (seq === mk.compareSeq) card.hidden = true; return; }
  if (seq !== mk.compareSeq) return;
  if (!r || !r.channels) { card.hidden = true; return; }
  noteAttribution(r);
  renderCompare(card, r);
  card.hidden = false;
}
function renderCompare(card, r) {
  const ch = r.channels;
  const head = el('div', 'mk-card-head');
  const h = el('h3', 'mk-h3', 'Channel comparison 渠道对比 ');
  h.id = 'camp-compare-h';
  h.append(el('span', 'muted', '(last ' + r.days + ' days)'));
  head.append(h, el('span', 'cmp-hint muted', 'Rates are shares of messages sent · deals won within ' + r.attribution_days + ' days (last touch)'));
  const tbl = el('table', 'cmp-table');
  tbl.setAttribute('aria-labelledby', 'camp-compare-h');
  const thead = el('thead'), htr = el('tr');
  htr.append(el('th', 'cmp-metric', 'Metric 指标'));
  for (const k of COMPARE_CH) {
    const th = el('th', 'cmp-ch'); th.dataset.channel = k;
    const b = badge(CHANNEL_NAME[k], 'ch ch-' + k); b.prepend(icon(k));
    th.append(b); htr.append(th);
  }
  thead.append(htr);
  const tb = el('tbody');
  for (const [key, label, kind, better] of COMPARE) {
    const tr = el('tr');
    tr.dataset.metric = key;
    tr.append(el('th', 'cmp-metric', label));
    const vals = {};
    for (const k of COMPARE_CH) {
      const o = ch[k] || {}, rates = o.rates || {};
      const td = el('td', 'cmp-v');
      td.dataset.channel = k;
      const cellBox = el('div', 'cmp-cell');
      td.append(cellBox);
      const na = (key === 'opened' || key === 'clicked') && k === 'sms';
      if (kind === 'n') {
        cellBox.append(el('span', 'cmp-main', Number(o[key] || 0).toLocaleString()));
        td.dataset.value = String(o[key] || 0);
      } else if (kind === 'money') {
        cellBox.append(revenueAmounts(o.revenue));
      } else if (na) {
        td.classList.add('na');
        cellBox.append(el('span', 'cmp-main', 'n/a'), el('span', 'cmp-sub', 'not tracked for SMS'));
        td.title = 'SMS cannot report opens or clicks';
      } else {
        // the share from the counts (the server's rates are cut to 4 decimals); null: nothing sent
        const n = Number(o[key] || 0), sent = Number(o.sent || 0);
        const rate = rates[key] === null || rates[key] === undefined ? rates[key] : sent ? n / sent : rates[key];
        if (kind === 'deals') {
          cellBox.append(el('span', 'cmp-main', n.toLocaleString()), el('span', 'cmp-sub', rate === null || rate === undefined ? '' : pctText(rate) + ' of sent'));
        } else {
          const bar = el('span', 'cmp-bar ch-' + k); bar.setAttribute('aria-hidden', 'true');
          const fill = el('span'); fill.style.width = (rate ? Math.min(100, rate * 100) : 0) + '%';
          bar.append(fill);
          cellBox.append(el('span', 'cmp-main', pctText(rate)), bar, el('span', 'cmp-sub', rate === null || rate === undefined ? '' : n.toLocaleString()));
        }
        td.dataset.value = String(n);
        td.dataset.rate = rates[key] === null || rates[key] === undefined ? '' : String(rates[key]);
        if (typeof rate === 'number') vals[k] = rate;
      }
      tr.append(td);
    }
    // the better channel of a rate, when both have one and they differ
    if (better && vals.email !== undefined && vals.sms !== undefined && vals.email !== vals.sms) {
      const win = (vals.email > vals.sms) === (better > 0) ? 'email' : 'sms';
      const td = tr.querySelector(`td[data-channel=${win}]`);
      td.classList.add('best');
      td.title = better > 0 ? 'Higher is better' : 'Lower is better';
    }
    tb.append(tr);
  }
  tbl.append(thead, tb);
  const wrap = el('div', 'cmp-wrap');
  wrap.append(tbl);
  card.replaceChildren(head, wrap);
}

// an inline SVG line of the sent count over the samples taken while sending
function sentChart(samples, total, width) {
  const NS = 'http://www.w3.org/2000/svg', W = Math.max(360, width || 640), H = 180, L = 44, R = 12, T = 12, B = 26;
  const svg = document.createElementNS(NS, 'svg');
  svg.setAttribute('viewBox', `0 0 ${W} ${H}`); svg.setAttribute('class', 'camp-chart'); svg.id = 'camp-chart';
  svg.setAttribute('role', 'img');
  const mkEl = (tag, attrs, text) => { const e = document.createElementNS(NS, tag); for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, String(v)); if (text !== undefined) e.textContent = text; return e; };
  if (samples.length < 1) {
    svg.setAttribute('aria-label', 'no samples');
    svg.append(mkEl('text', { x: W / 2, y: H / 2, 'text-anchor': 'middle', class: 'ch-empty' }, 'Sampled every 2 s while the campaign sends. 发送时每 2 秒采样'));
    return svg;
  }
  const t0 = samples[0].t, t1 = Math.max(samples[samples.length - 1].t, t0 + 4000);
  const ymax = Math.max(1, total, ...samples.map((p) => p.sent));
  const x = (t) => L + ((t - t0) / (t1 - t0)) * (W - L - R);
  const y = (v) => T + (1 - v / ymax) * (H - T - B);
  for (const f of [0, 0.5, 1]) {
    const v = Math.round(ymax * f);
    svg.append(mkEl('line', { x1: L, x2: W - R, y1: y(v), y2: y(v), class: 'ch-grid' }), mkEl('text', { x: L - 6, y: y(v) + 4, 'text-anchor': 'end', class: 'ch-tick' }, v.toLocaleString()));
  }
  const secs = Math.round((t1 - t0) / 1000);
  svg.append(mkEl('text', { x: L, y: H - 6, class: 'ch-tick' }, '0 s'), mkEl('text', { x: W - R, y: H - 6, 'text-anchor': 'end', class: 'ch-tick' }, secs + ' s'));
  const pts = samples.map((p) => `${x(p.t).toFixed(1)},${y(p.sent).toFixed(1)}`);
  svg.append(mkEl('polygon', { points: `${x(samples[0].t).toFixed(1)},${y(0)} ${pts.join(' ')} ${x(samples[samples.length - 1].t).toFixed(1)},${y(0)}`, class: 'ch-area' }));
  svg.append(mkEl('polyline', { points: pts.join(' '), class: 'ch-line' }));
  const lp = samples[samples.length - 1];
  svg.append(mkEl('circle', { cx: x(lp.t), cy: y(lp.sent), r: 3.5, class: 'ch-dot' }));
  svg.dataset.samples = String(samples.length);
  svg.dataset.last = String(lp.sent);
  svg.setAttribute('aria-label', 'sent over time: ' + lp.sent + ' sent after ' + secs + ' seconds');
  return svg;
}
// GET /campaigns/{id} does not say whether its start waits for an approval: the approvals
// list does (pending first, then the newest); a draft's latest request, if any
async function campApprovalOf(c) {
  if (!c || c.approval || !['draft', 'scheduled'].includes(c.status)) return c;
  try {
    const r = await api('GET', '/api/v1/approvals?per_page=200');
    const a = (r.items || []).find((x) => x.record_type === 'campaign' && x.record_id === c.id);
    if (a) c.approval = { id: a.id, status: a.status, decision_comment: a.decision_comment };
  } catch (e) { /* no banner */ }
  return c;
}
// a start held for approval (docs/rules.md): waiting, or the last request rejected; links to the request
function approvalBanner(c) {
  const a = c.approval;
  if (!a || (a.status !== 'pending' && a.status !== 'rejected')) return null;
  const box = el('div', 'camp-approval st-' + a.status);
  box.id = 'camp-approval';
  box.dataset.status = a.status;
  box.setAttribute('role', 'status');
  const t = el('div', 'ca-t');
  if (a.status === 'pending') {
    box.append(icon('clock'));
    t.append(el('strong', '', 'Waiting for approval 等待审批'), el('span', '', 'A rule asks for an approver\'s yes before this campaign starts. ' +
      'Nothing is sent until then; you are told when they decide. 审批通过后活动才会开始发送。'));
  } else {
    box.append(icon('alert'));
    t.append(el('strong', '', 'Start rejected 启动申请被驳回'), el('span', '', 'The approver said no' +
      (a.decision_comment ? ': “' + a.decision_comment + '”' : '') + '. Start it again to ask once more. 可修改后重新申请。'));
  }
  box.append(t);
  if (viewAllowed('approvals') && a.id) box.append(button('View request 查看申请', 'small', () => go('approvals', a.id)));
  return box;
}
async function campAction(action, btn) {
  const c = mk.camp;
  btn.disabled = true;
  mk.actionError = null;
  $('#camp-action-error').textContent = '';
  try {
    let fresh = await api('POST', '/api/v1/campaigns/' + c.id + '/' + action);
    // 202: a rule holds the start until an approver decides (docs/rules.md); the campaign stays a draft
    const held = action === 'start' && fresh && fresh.campaign && fresh.approval;
    if (held) {
      fresh = { ...fresh.campaign, approval: fresh.campaign.approval || { id: fresh.approval.id, status: fresh.approval.status } };
      toast('Waiting for approval 等待审批: the campaign starts once it is approved', 'info');
      if (typeof approvalsRequested === 'function') approvalsRequested();
    } else toast({ start: 'Campaign started', pause: 'Campaign paused', resume: 'Campaign resumed', cancel: 'Campaign cancelled' }[action], 'good');
    if (!mk.camp || mk.camp.id !== c.id) return;
    mk.camp = fresh;
    noteSample(fresh);
    renderCampaign();
    pollCampaign();
  } catch (e) {
    const pending = e.status === 409 && e.data && e.data.error && e.data.error.code === 'approval_pending';
    mk.actionError = { id: c.id, text: pending ? 'Already waiting for approval 已在等待审批: it starts once an approver says yes.'
      : (e.status === 409 ? 'Not possible now: ' : '') + errText(e) };
    const x = $('#camp-action-error'); if (x) x.textContent = mk.actionError.text;
    btn.disabled = false;
    // someone else may have moved it: show the current state (the error stays)
    try { mk.camp = await campApprovalOf(await api('GET', '/api/v1/campaigns/' + c.id)); renderCampaign(); pollCampaign(); } catch (e2) { /* keep */ }
  }
}
async function loadAmbiguous() {
  const c = mk.camp;
  if (!c) return;
  try {
    const r = await api('GET', '/api/v1/campaigns/' + c.id + '/recipients?state=ambiguous&per_page=200');
    if (!mk.camp || mk.camp.id !== c.id) return;
    mk.ambiguous = r.items;
    mk.ambTotal = r.total;
    for (const id of [...mk.ambSel]) if (!r.items.some((x) => x.id === id)) mk.ambSel.delete(id);
  } catch (e) { mk.ambiguous = []; }
  renderAmbiguous();
}
function renderAmbiguous() {
  const box = $('#camp-amb');
  if (!box) return;
  const items = mk.ambiguous;
  const head = el('div', 'mk-card-head');
  const h = el('h3', 'mk-h3', 'May not have been delivered 可能未送达 ');
  h.append(el('span', 'muted', '(' + (mk.ambTotal || items.length) + ')'));
  head.append(h);
  const parts = [head];
  if (!items.length) {
    parts.push(el('p', 'muted crm-empty', 'None. A message interrupted while it was being sent (a crash, a lost connection) would be listed here, and never re-sent unless you ask.'));
    box.replaceChildren(...parts);
    return;
  }
  parts.push(el('p', 'mk-note amb-note', 'These were being handed over when sending stopped; no answer came back, so they may or may not have arrived. They are not re-sent on their own.'));
  const tbl = el('table', 'table amb-table');
  const thead = el('thead'), htr = el('tr');
  const all = el('input'); all.type = 'checkbox'; all.id = 'amb-all'; all.setAttribute('aria-label', 'select all');
  all.checked = items.every((x) => mk.ambSel.has(x.id));
  all.addEventListener('change', () => { for (const x of items) if (all.checked) mk.ambSel.add(x.id); else mk.ambSel.delete(x.id); renderAmbiguous(); });
  const th0 = el('th', 'chk'); th0.append(all);
  htr.append(th0, el('th', '', 'Customer 客户'), el('th', '', 'Address 地址'), el('th', '', 'What happened 说明'));
  thead.append(htr);
  const tb = el('tbody');
  for (const x of items) {
    const tr = el('tr'); tr.dataset.recipient = x.id;
    const cb = el('input'); cb.type = 'checkbox'; cb.className = 'amb-check'; cb.value = String(x.id); cb.checked = mk.ambSel.has(x.id);
    cb.setAttribute('aria-label', 'select ' + x.customer_name);
    cb.addEventListener('change', () => { if (cb.checked) mk.ambSel.add(x.id); else mk.ambSel.delete(x.id); syncResendBtn(); all.checked = items.every((y) => mk.ambSel.has(y.id)); });
    const td0 = el('td', 'chk'); td0.append(cb);
    const nm = el('td'); const b = button(x.customer_name, 'link amb-cust', () => go('customer', x.customer_id)); nm.append(b);
    tr.append(td0, nm, el('td', '', x.address || ''), el('td', 'muted', x.error || 'interrupted while sending'));
    tb.append(tr);
  }
  tbl.append(thead, tb);
  parts.push(tbl);
  const acts = el('div', 'mk-actions');
  const rs = button('Re-send selected…', 'danger-solid amb-resend', openResend);
  rs.id = 'amb-resend';
  acts.append(rs);
  parts.push(acts);
  box.replaceChildren(...parts);
  syncResendBtn();
}
function syncResendBtn() {
  const b = $('#amb-resend');
  if (!b) return;
  const n = mk.ambSel.size;
  b.disabled = !n;
  b.textContent = n ? 'Re-send ' + plural(n, 'selected message') + '…' : 'Re-send selected…';
}
function openResend() {
  const picked = mk.ambiguous.filter((x) => mk.ambSel.has(x.id));
  if (!picked.length) return;
  mk.resendIds = picked.map((x) => x.id);
  $('#resend-title').textContent = 'Re-send to ' + plural(picked.length, 'recipient') + '?';
  const ul = $('#resend-who');
  ul.replaceChildren(...picked.slice(0, 8).map((x) => el('li', '', x.customer_name + ' · ' + (x.address || ''))));
  if (picked.length > 8) ul.append(el('li', 'muted', '… and ' + (picked.length - 8) + ' more'));
  $('#resend-ok').textContent = 'Re-send ' + picked.length + ', accepting duplicates';
  $('#resend-error').textContent = '';
  $('#resend-ok').disabled = false;
  $('#resend-dialog').showModal();
  $('#resend-cancel').focus();
}
$('#resend-cancel').addEventListener('click', () => $('#resend-dialog').close());
$('#resend-form').addEventListener('submit', async (ev) => {
  ev.preventDefault();
  const c = mk.camp;
  if (!c) return;
  $('#resend-ok').disabled = true;
  try {
    const r = await api('POST', '/api/v1/campaigns/' + c.id + '/resend', { recipient_ids: mk.resendIds });
    $('#resend-dialog').close();
    toast(plural(r.requeued, 'message') + ' back in the queue', 'good');
    mk.ambSel.clear();
    await loadCampaign(c.id);
  } catch (e) {
    $('#resend-error').textContent = errText(e);
    $('#resend-ok').disabled = false;
  }
});

/* ---------- start, stop, live events ---------- */
function marketingStart(agent) {
  const on = MARKETERS.includes(agent.role);
  for (const v of ['segments', 'templates', 'campaigns']) $(`.tab[data-view=${v}]`).hidden = !on;
  mk.seg = null; mk.tpl = null; mk.tplCustomer = null; mk.camp = null; mk.samples = new Map(); mk.actionError = null;
}
function marketingStop() {
  clearTimeout(mk.campTimer); clearTimeout(mk.segTimer); clearTimeout(mk.tplTimer);
  for (const d of ['#camp-dialog', '#resend-dialog']) if ($(d).open) $(d).close();
  mk.camp = null;
}
let campListTimer = null;
function marketingFrame(m) {
  if (m.type === 'approval.updated' && state.view === 'campaign' && mk.camp) { loadCampaign(mk.camp.id).catch(() => {}); return; }
  if (!m.type.startsWith('campaign.')) return;
  if (state.view === 'campaigns') { clearTimeout(campListTimer); campListTimer = setTimeout(() => loadCampaigns().catch(() => {}), 300); }
  if (state.view === 'campaign' && mk.camp && mk.camp.id === m.campaign_id) loadCampaign(mk.camp.id).catch(() => {});
}
