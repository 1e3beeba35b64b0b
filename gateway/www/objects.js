// Switchboard console — custom objects 自定义对象 (docs/objects.md). Record types an admin
// defines at run time ("设备 Equipment" with a serial number, a model, dates…): the Objects
// tab lists the records of a type (columns = its fields, search, per-field filters, paging,
// sorting by a column); a record page edits one (a form generated from the fields, the
// customer it belongs to and, when the type relates to them, a deal or a ticket of that
// customer); admins define the types on "Manage types" (key, labels, relations, title field
// and the ordered field list with options). The customer 360 page shows a card per type
// (objectCards, called by crm.js) whose "Add" opens the same form with the customer set.
// Addresses: #/objects/TYPE (list), #/objects/TYPE/ID (record), #/objecttypes[/TYPE] (admin).
// data-state: #ob-page (idle | loading | ready | error; data-mode list | record | empty),
// #ob-list (loading | ready | error; data-total, data-query), #ob-rec-form and the dialog's
// #obd-form (idle | dirty | saving | error | saved), #obt-page (loading | ready | error),
// #obt-form (idle | dirty | saving | error | saved), #ob-dialog (data-type).
// Loaded after app.js and crm.js and built on their helpers (el, opt, badge, icon, avatar, api,
// errText, toast, go, state, button, fieldsOf, numOr, dateOnly, fullTime, sectionCard,
// emptyLine, refresh360Soon, openTicketFrom360, fitTabs). Everything from the server is set as
// text.
'use strict';

Object.assign(ICONS, {
  obCube: 'M21 16.5c0 .38-.21.71-.53.88l-7.9 4.44a1 1 0 0 1-1.14 0l-7.9-4.44A1 1 0 0 1 3 16.5v-9c0-.38.21-.71.53-.88l7.9-4.44a1 1 0 0 1 1.14 0l7.9 4.44c.32.17.53.5.53.88zM12 4.15 6.04 7.5 12 10.85l5.96-3.35zM5 15.91l6 3.38v-6.71L5 9.21zm14 0V9.21l-6 3.37v6.71z',
  obGear: 'M19.14 12.94c.04-.3.06-.61.06-.94 0-.32-.02-.64-.07-.94l2.03-1.58a.49.49 0 0 0 .12-.61l-1.92-3.32a.49.49 0 0 0-.59-.22l-2.39.96c-.5-.38-1.03-.7-1.62-.94l-.36-2.54a.48.48 0 0 0-.48-.41h-3.84a.48.48 0 0 0-.47.41l-.36 2.54c-.59.24-1.13.57-1.62.94l-2.39-.96a.48.48 0 0 0-.59.22L2.74 8.87a.47.47 0 0 0 .12.61l2.03 1.58c-.05.3-.09.63-.09.94s.02.64.07.94l-2.03 1.58a.49.49 0 0 0-.12.61l1.92 3.32c.12.22.37.29.59.22l2.39-.96c.5.38 1.03.7 1.62.94l.36 2.54c.05.24.24.41.48.41h3.84c.24 0 .44-.17.47-.41l.36-2.54c.59-.24 1.13-.56 1.62-.94l2.39.96c.22.08.47 0 .59-.22l1.92-3.32a.47.47 0 0 0-.12-.61zM12 15.6a3.6 3.6 0 1 1 0-7.2 3.6 3.6 0 0 1 0 7.2z',
  obSearch: 'M15.5 14h-.79l-.28-.27A6.47 6.47 0 0 0 16 9.5 6.5 6.5 0 1 0 9.5 16c1.61 0 3.09-.59 4.23-1.57l.27.28v.79l5 4.99L20.49 19zm-6 0C7.01 14 5 11.99 5 9.5S7.01 5 9.5 5 14 7.01 14 9.5 11.99 14 9.5 14z',
  obFilter: 'M10 18h4v-2h-4zM3 6v2h18V6zm3 7h12v-2H6z',
  obUp: 'M7.41 15.41 12 10.83l4.59 4.58L18 14l-6-6-6 6z',
  obDown: 'M7.41 8.59 12 13.17l4.59-4.58L18 10l-6 6-6-6z',
  obLeft: 'M15.41 7.41 14 6l-6 6 6 6 1.41-1.41L10.83 12z',
  obRight: 'M10 6 8.59 7.41 13.17 12l-4.58 4.59L10 18l6-6z',
  obX: 'M19 6.41 17.59 5 12 10.59 6.41 5 5 6.41 10.59 12 5 17.59 6.41 19 12 13.41 17.59 19 19 17.59 13.41 12z',
  obPlus: 'M19 13h-6v6h-2v-6H5v-2h6V5h2v6h6z',
  obTrash: 'M6 19a2 2 0 0 0 2 2h8a2 2 0 0 0 2-2V7H6zM19 4h-3.5l-1-1h-5l-1 1H5v2h14z',
  obCheck: 'M9 16.17 4.83 12l-1.42 1.41L9 19 21 7l-1.41-1.41z',
  obUndo: 'M12.5 8c-2.65 0-5.05.99-6.9 2.6L2 7v9h9l-3.62-3.62A7.96 7.96 0 0 1 20.1 15.9l2.37-.78A10.5 10.5 0 0 0 12.5 8z',
  obList: 'M3 13h2v-2H3zm0 4h2v-2H3zm0-8h2V7H3zm4 4h14v-2H7zm0 4h14v-2H7zM7 7v2h14V7z',
});

const OB_WRITERS = ['admin', 'manager', 'sales', 'agent'];
const obCanWrite = () => !!state.me && OB_WRITERS.includes(state.me.role);
Object.assign(VIEW_ROLES, { objecttypes: ['admin'] });
Object.assign(VIEW_TAB, { objecttypes: 'objects' });
Object.assign(VIEWS, { objects: (arg) => obOpen(arg), objecttypes: (arg) => obAdminOpen(arg) });

const OB_FIELD_TYPES = [['text', 'Text 文本'], ['number', 'Number 数字'], ['date', 'Date 日期'], ['select', 'Select 单选'],
  ['multiselect', 'Multi-select 多选']];
const OB_TYPE_LABEL = Object.fromEntries(OB_FIELD_TYPES);
const OB_SELECTS = ['select', 'multiselect'];
const OB_PER_PAGE = 20;
const OB_360_ROWS = 5;
// the server's reasons, with a Chinese gloss where we know the phrase
const OB_REASON_ZH = [
  [/no such customer/i, '客户不存在或不在您的权限范围内'], [/not a record of this customer/i, '不属于该客户'],
  [/not related to/i, '该类型不能关联此类记录'], [/one of the field's options|not one of the options/i, '须为可选项之一'],
  [/array of the field's options/i, '须为可选项'], [/must be a number|not a number/i, '须为数字'],
  [/must be a date|not a (calendar )?date/i, '须为日期 YYYY-MM-DD'], [/at most \d+ characters|longer than/i, '内容过长'],
  [/^(is )?required$|must not be empty/i, '必填'], [/distinct options|must be distinct/i, '须为 1–100 个不重复的选项'],
  [/no such field|unknown field/i, '字段不存在'], [/type cannot change/i, '字段类型不可修改'], [/key cannot change/i, '键不可修改'],
  [/comparison does not apply/i, '该字段不支持此比较'], [/with this key exists|duplicate|already (exists|used|taken)/i, '已存在'],
];
const obReason = (why) => {
  const s = String(why);
  const zh = OB_REASON_ZH.find(([re]) => re.test(s));
  return zh && !s.includes(zh[1]) ? s + ' · ' + zh[1] : s;
};

const ob = {
  types: null, typesAt: 0, typesLoad: null,
  lists: new Map(),   // type key → {q, f: {KEY: {eq|contains|gte|lte: value}}, sort, page, customer}
  cur: null,          // the type whose list is shown
  seq: 0, loadTimer: null, flash: 0,
  rec: null, recSeq: 0,
  admin: { sel: null, draft: null, seq: 0 },
};

/* ---------- types ---------- */
async function obEnsureTypes(force) {
  if (!force && ob.types && Date.now() - ob.typesAt < 30000) return ob.types;
  if (ob.typesLoad) return ob.typesLoad;
  const p = api('GET', '/api/v1/object-types').then((r) => {
    ob.types = (r && r.items) || [];
    ob.typesAt = Date.now();
    obSyncTab();
    return ob.types;
  }).finally(() => { if (ob.typesLoad === p) ob.typesLoad = null; });
  ob.typesLoad = p;
  return p;
}
const obType = (key) => (ob.types || []).find((t) => t.key === key) || null;
const obPlural = (t) => (t && (t.label_plural || t.label)) || '';
const obRel = (t, k) => !!(t && t.relations && t.relations[k]);
// the field that names a record: the type's title field, else its first text field
function obTitleKey(t) {
  if (!t) return null;
  if (t.title_field) return t.title_field;
  const f = (t.fields || []).find((x) => x.type === 'text');
  return f ? f.key : null;
}
// Objects is a tab for admins (they define the types) and for everyone once a type exists
function obSyncTab() {
  const tab = $('.tab[data-view=objects]');
  if (!tab) return;
  const show = !!state.me && (isAdmin() || !!(ob.types && ob.types.length));
  if (tab.hidden === !show) return;
  tab.hidden = !show;
  fitTabs();
}
function obTypeIcon(cls) { const s = el('span', 'ob-ic' + (cls ? ' ' + cls : '')); s.append(icon('obCube')); return s; }
// the pills above both pages: one per type (its plural label and record count), then the admin's "Manage types"
function obTypeNav(current, admin) {
  const nav = el('nav', 'subnav ob-types');
  nav.setAttribute('aria-label', 'object types');
  for (const t of ob.types || []) {
    const b = button('', 'subtab ob-type-pill' + (!admin && t.key === current ? ' active' : ''), () => go('objects', t.key));
    b.dataset.type = t.key;
    b.append(el('span', '', obPlural(t)));
    if (typeof t.records === 'number') b.append(el('span', 'ob-pill-n', t.records.toLocaleString()));
    if (!admin && t.key === current) b.setAttribute('aria-current', 'page');
    nav.append(b);
  }
  if (isAdmin()) {
    nav.append(el('span', 'spacer'));
    const m = button('Manage types 管理类型', 'subtab ob-manage' + (admin ? ' active' : ''), () => go('objecttypes', admin ? null : current), 'obGear');
    m.id = 'ob-manage';
    if (admin) m.setAttribute('aria-current', 'page');
    nav.append(m);
  }
  return nav;
}

/* ---------- values ---------- */
const obEmpty = (v) => v === undefined || v === null || v === '' || (Array.isArray(v) && !v.length);
function obValueNode(fd, v) {
  if (obEmpty(v)) return el('span', 'ob-none', '—');
  const type = fd && fd.type;
  if (type === 'multiselect' || Array.isArray(v)) {
    const w = el('span', 'ob-chips');
    for (const x of [].concat(v)) w.append(el('span', 'ob-opt', String(x)));
    return w;
  }
  if (type === 'select') return el('span', 'ob-opt', String(v));
  if (type === 'date') { const s = el('span', 'ob-date', dateOnly(String(v))); s.title = String(v); return s; }
  if (type === 'number') return el('span', 'ob-num', typeof v === 'number' ? v.toLocaleString() : String(v));
  return el('span', 'ob-text', typeof v === 'object' ? JSON.stringify(v) : String(v));
}
function obInput(fd, v, id) {
  let inp;
  if (fd.type === 'select') {
    inp = el('select');
    inp.append(opt('', '— none 无 —', obEmpty(v)));
    for (const o of fd.options || []) inp.append(opt(String(o), String(o), String(v) === String(o)));
    if (!obEmpty(v) && !(fd.options || []).map(String).includes(String(v))) inp.append(opt(String(v), String(v) + ' (not an option)', true));
  } else if (fd.type === 'multiselect') {
    inp = el('div', 'checks ob-multi');
    inp.setAttribute('role', 'group');
    const have = Array.isArray(v) ? v.map(String) : [];
    (fd.options || []).forEach((o, i) => {
      const l = el('label', 'chk ob-chk');
      const c = el('input'); c.type = 'checkbox'; c.value = String(o); c.checked = have.includes(String(o)); c.id = id + '-' + i;
      l.append(c, el('span', '', String(o)));
      inp.append(l);
    });
  } else {
    inp = el('input');
    inp.type = fd.type === 'date' ? 'date' : fd.type === 'number' ? 'number' : 'text';
    if (fd.type === 'number') { inp.step = 'any'; inp.inputMode = 'decimal'; inp.classList.add('ob-in-num'); }
    if (fd.type === 'text') inp.maxLength = 1000;
    inp.autocomplete = 'off';
    inp.value = obEmpty(v) ? '' : String(v);
  }
  inp.id = id;
  inp.dataset.key = fd.key;
  return inp;
}
function obReadInput(fd, inp) {
  if (fd.type === 'multiselect') return $$('input:checked', inp).map((i) => i.value);
  const v = inp.value;
  if (fd.type === 'number') { const n = numOr(v); return n === undefined ? null : n; }
  if (fd.type === 'text') return v.trim() === '' ? null : v;
  return v === '' ? null : v;
}

/* ---------- errors next to their inputs ---------- */
function obErrSlot(key) { const s = el('span', 'field-error'); s.dataset.for = key; return s; }
function obClearErrors(form) {
  for (const e of $$('.field-error', form)) e.textContent = '';
  for (const e of $$('.invalid', form)) e.classList.remove('invalid');
}
// each of the server's field errors next to its input; the others, named, in restEl
function obShowErrors(form, fields, restEl, labels) {
  const rest = [];
  for (const [k, why] of Object.entries(fields || {})) {
    const slot = $(`.field-error[data-for="${CSS.escape(k)}"]`, form);
    if (slot) {
      slot.textContent = obReason(why);
      const f = slot.closest('.field');
      if (f) f.classList.add('invalid');
    } else rest.push(((labels && labels[k]) || k) + ': ' + obReason(why));
  }
  if (restEl) restEl.textContent = rest.join('; ');
  const first = $('.invalid', form);
  if (first) {
    first.scrollIntoView({ block: 'nearest' });
    const inp = $('input:not([type=checkbox]):not([type=hidden]), select, textarea', first) || $('input', first);
    if (inp && !inp.disabled) inp.focus({ preventScroll: true });
  }
}
// an input changed after an error: its mark goes
function obFieldFixed(e) {
  const f = e.target.closest && e.target.closest('.field.invalid');
  if (!f) return;
  f.classList.remove('invalid');
  for (const x of $$('.field-error', f)) if (x.closest('.field') === f) x.textContent = '';
}

/* ---------- the customer picker (search by name, number, phone; shows who was chosen) ---------- */
const obPickText = (c) => [c.customer_no, c.company, c.phone || c.email].filter(Boolean).join(' · ');
function obCustomerPicker(prefix, initial, onChange) {
  const wrap = el('div', 'field cust-pick ob-cust');
  const lab = el('label', 'ob-label', 'Customer 客户');
  lab.append(el('span', 'req', ' *'));
  const q = el('input');
  q.type = 'search'; q.id = prefix + '-customer'; q.autocomplete = 'off';
  q.placeholder = 'Search name, number, phone · 搜索客户';
  q.setAttribute('role', 'combobox'); q.setAttribute('aria-autocomplete', 'list'); q.setAttribute('aria-expanded', 'false');
  lab.htmlFor = q.id;
  const list = el('ul', 'pick-list');
  list.id = prefix + '-customer-list'; list.hidden = true; list.setAttribute('role', 'listbox');
  q.setAttribute('aria-controls', list.id);
  const chosen = el('div', 'ob-cust-chosen');
  chosen.id = prefix + '-customer-chosen';
  const box = el('div', 'ob-cust-box');
  box.append(q, list, chosen);
  wrap.append(lab, box, obErrSlot('customer_id'));
  let cur = initial && initial.id ? { id: initial.id, name: initial.name || initial.customer_name || ('#' + initial.id), customer_no: initial.customer_no,
    company: initial.company, phone: initial.phone, email: initial.email } : null;
  let timer = null, seq = 0;
  const show = () => {
    q.hidden = !!cur;
    chosen.hidden = !cur;
    wrap.dataset.customer = cur ? String(cur.id) : '';
    if (!cur) return;
    const who = el('span', 'ob-cust-who');
    who.append(el('span', 'pick-name', cur.name), el('span', 'muted', obPickText(cur) || 'customer #' + cur.id));
    const change = button('Change 更换', 'link ob-cust-change', () => {
      cur = null; show(); q.value = ''; q.focus(); onChange(null);
    });
    change.id = prefix + '-customer-change';
    chosen.replaceChildren(avatar(cur.name, 'sm'), who, change);
  };
  const pick = (c) => {
    cur = c; list.hidden = true; q.setAttribute('aria-expanded', 'false');
    show(); wrap.classList.remove('invalid'); $('.field-error', wrap).textContent = '';
    onChange(c);
  };
  async function search() {
    const text = q.value.trim();
    const s = ++seq;
    if (!text) { list.hidden = true; return; }
    let r;
    try { r = await api('GET', '/api/v1/customers?' + new URLSearchParams({ q: text, per_page: '8' })); } catch (e) { return; }
    if (s !== seq || cur) return;
    list.replaceChildren();
    r.items.forEach((c, i) => {
      const li = el('li', 'pick');
      li.id = prefix + '-pick-' + c.id;
      li.dataset.id = c.id;
      li.setAttribute('role', 'option');
      li.append(avatar(c.name, 'sm'));
      const t = el('span', 'pick-t');
      t.append(el('span', 'pick-name', c.name), el('span', 'muted', obPickText(c)));
      li.append(t);
      li.addEventListener('mousedown', (e) => e.preventDefault());
      li.addEventListener('click', () => pick(c));
      if (i === 0) { li.classList.add('active'); li.setAttribute('aria-selected', 'true'); }
      list.append(li);
    });
    if (!r.items.length) list.append(el('li', 'pick none muted', 'No customer matches “' + text + '” · 无匹配客户'));
    list.hidden = false;
    list.dataset.q = text;
    q.setAttribute('aria-expanded', 'true');
  }
  q.addEventListener('input', () => { clearTimeout(timer); timer = setTimeout(search, 200); });
  q.addEventListener('keydown', (e) => {
    const items = $$('li.pick:not(.none)', list);
    if (list.hidden || !items.length) { if (e.key === 'Enter') e.preventDefault(); return; }
    const at = items.findIndex((li) => li.classList.contains('active'));
    if (e.key === 'ArrowDown' || e.key === 'ArrowUp') {
      e.preventDefault();
      const n = e.key === 'ArrowDown' ? Math.min(items.length - 1, at + 1) : Math.max(0, at - 1);
      items.forEach((li, i) => { li.classList.toggle('active', i === n); li.setAttribute('aria-selected', i === n ? 'true' : 'false'); });
      q.setAttribute('aria-activedescendant', items[n].id);
    } else if (e.key === 'Enter') {
      e.preventDefault();
      if (at >= 0) items[at].click();
    } else if (e.key === 'Escape') {
      e.preventDefault(); e.stopPropagation();
      list.hidden = true;
    }
  });
  q.addEventListener('blur', () => setTimeout(() => { list.hidden = true; q.setAttribute('aria-expanded', 'false'); }, 150));
  show();
  if (cur && !cur.customer_no && !cur.company && cur.name && !cur.name.startsWith('#')) { // number and company, for the line under the name
    const want = cur;
    api('GET', '/api/v1/customers?' + new URLSearchParams({ q: cur.name, per_page: '20' })).then((r) => {
      const c = (r.items || []).find((x) => x.id === want.id);
      if (c && cur === want) { cur = c; show(); }
    }).catch(() => {});
  }
  return { node: wrap, get: () => cur, focus: () => (cur ? $('.ob-cust-change', chosen) : q).focus(), typed: () => !cur && q.value.trim() !== '' };
}

// a deal or ticket of the chosen customer: a select filled from that customer's deals or
// tickets; a plain number box when the list cannot be read (a role without deals)
function obRelPicker(kind, prefix, currentId) {
  const label = kind === 'deal' ? 'Deal 商机' : 'Ticket 工单';
  const wrap = el('div', 'field ob-rel');
  const lab = el('label', 'ob-label', label);
  let inp = el('select');
  inp.id = prefix + '-' + kind;
  lab.htmlFor = inp.id;
  const hint = el('span', 'hint');
  wrap.append(lab, inp, hint, obErrSlot(kind + '_id'));
  let want = currentId || null, seq = 0;
  const none = () => opt('', '— none 无 —', !want);
  const fill = (items) => {
    const o = [none()];
    for (const x of items) {
      const text = kind === 'deal' ? '#' + x.id + ' · ' + x.title + (x.amount !== undefined ? ' · ' + money(x.amount, x.currency) : '')
        : '#' + x.id + ' · ' + (x.subject || CHANNEL_LABEL[x.channel] || x.channel || '') + (x.status ? ' · ' + x.status : '');
      o.push(opt(String(x.id), text, want === x.id));
    }
    if (want && !items.some((x) => x.id === want)) o.push(opt(String(want), '#' + want, true));
    inp.replaceChildren(...o);
  };
  const asNumberBox = () => {
    if (inp.tagName === 'INPUT') return;
    const n = el('input');
    n.id = inp.id; n.inputMode = 'numeric'; n.autocomplete = 'off'; n.placeholder = kind === 'deal' ? 'deal id · 商机编号' : 'ticket id · 工单编号';
    n.value = want ? String(want) : '';
    inp.replaceWith(n); inp = n;
  };
  async function load(customer) {
    const s = ++seq;
    if (!customer) {
      if (inp.tagName === 'SELECT') { fill([]); inp.disabled = true; }
      hint.textContent = 'choose the customer first · 请先选择客户';
      return;
    }
    inp.disabled = false;
    hint.textContent = '';
    try {
      const path = kind === 'deal' ? '/api/v1/deals?' : '/api/v1/tickets?';
      const r = await api('GET', path + new URLSearchParams({ customer_id: String(customer.id), per_page: '100' }));
      if (s !== seq) return;
      if (inp.tagName === 'SELECT') fill(r.items || []);
      if (!(r.items || []).length) hint.textContent = kind === 'deal' ? 'this customer has no deals · 该客户暂无商机' : 'this customer has no tickets · 该客户暂无工单';
    } catch (e) {
      if (s !== seq) return;
      asNumberBox();
    }
  }
  return {
    node: wrap, load,
    get: () => { const v = String(inp.value || '').trim(); return !v ? null : /^\d+$/.test(v) ? Number(v) : v; },
    reset: () => { want = null; },
  };
}

/* ---------- the record form (the dialog and the record page) ---------- */
// t: the type; rec: the record being edited (null: a new one); preset: {customer}
function obForm(t, rec, preset, prefix) {
  const form = el('form', 'ob-form');
  form.noValidate = true;
  form.id = prefix + '-form';
  form.dataset.state = 'idle';
  form.dataset.type = t.key;
  const vals = (rec && rec.values) || {};
  // the fields of the type, in its order
  const grid = el('div', 'ob-fields');
  const inputs = new Map();
  for (const fd of t.fields || []) {
    const row = el('div', 'field ob-field ob-t-' + fd.type);
    row.dataset.key = fd.key;
    const id = prefix + '-v-' + fd.key;
    const inp = obInput(fd, vals[fd.key], id);
    const lab = el(fd.type === 'multiselect' ? 'span' : 'label', 'ob-label', fd.label);
    if (fd.type !== 'multiselect') lab.htmlFor = id; else { lab.id = id + '-l'; inp.setAttribute('aria-labelledby', lab.id); }
    if (fd.required) { lab.append(el('span', 'req', ' *')); row.classList.add('required'); }
    if (fd.key === obTitleKey(t)) row.classList.add('ob-titlefield');
    row.append(lab, inp, obErrSlot('values.' + fd.key));
    inputs.set(fd.key, inp);
    grid.append(row);
  }
  // whose record it is
  const own = el('div', 'ob-own');
  const rels = [];
  const customer = obCustomerPicker(prefix, rec ? { id: rec.customer_id, name: rec.customer_name } : preset && preset.customer, (c) => {
    for (const r of rels) { r.reset(); r.load(c); }
    form.dataset.state = form.dataset.state === 'saving' ? 'saving' : 'dirty';
  });
  own.append(customer.node);
  const deal = obRel(t, 'deal') ? obRelPicker('deal', prefix, rec && rec.deal_id) : null;
  const ticket = obRel(t, 'ticket') ? obRelPicker('ticket', prefix, rec && rec.ticket_id) : null;
  for (const r of [deal, ticket]) if (r) { rels.push(r); own.append(r.node); }
  for (const r of rels) r.load(customer.get());
  own.classList.add('n' + (1 + rels.length));

  const secF = el('section', 'ob-sec');
  secF.append(el('h4', 'ob-sec-h', 'Details 详情'), grid);
  const secO = el('section', 'ob-sec ob-sec-own');
  secO.append(el('h4', 'ob-sec-h', 'Belongs to 归属'), own);
  const general = el('p', 'error ob-form-error');
  general.setAttribute('role', 'alert');
  form.append(secF, secO, general);
  form.addEventListener('input', (e) => { obFieldFixed(e); if (form.dataset.state !== 'saving') form.dataset.state = 'dirty'; });
  form.addEventListener('change', (e) => { obFieldFixed(e); if (form.dataset.state !== 'saving') form.dataset.state = 'dirty'; });

  // the type's layout (docs/layouts.md): once known, the rows are regrouped under its titles
  if (typeof ensureLayout === 'function') {
    ensureLayout('obj.' + t.key).then((lay) => {
      if (!lay || !lay.customised || !Array.isArray(lay.groups)) return;
      const rows = new Map([...grid.children].map((r) => [r.dataset.key, r]));
      const groups = [];
      for (const g of lay.groups) {
        const keys = (g.fields || []).filter((k) => rows.has(k));
        if (!keys.length) continue;
        const box = el('div', 'ob-group');
        box.dataset.group = g.title;
        const fields = el('div', 'ob-fields');
        for (const k of keys) { fields.append(rows.get(k)); rows.delete(k); }
        box.append(el('h5', 'ob-group-h', g.title), fields);
        groups.push(box);
      }
      if (!groups.length) return;
      for (const r of rows.values()) $('.ob-fields', groups[groups.length - 1]).append(r);
      grid.replaceWith(...groups);
      form.dataset.layout = 'applied';
    });
  }

  const labels = { customer_id: 'Customer 客户', deal_id: 'Deal 商机', ticket_id: 'Ticket 工单' };
  for (const fd of t.fields || []) labels['values.' + fd.key] = fd.label;
  return {
    form, general, customer,
    // the body of a POST (rec null) or the changes of a PATCH
    body() {
      const b = {};
      const values = {};
      for (const fd of t.fields || []) {
        const v = obReadInput(fd, inputs.get(fd.key));
        if (!rec) { if (!obEmpty(v)) values[fd.key] = v; continue; }
        const old = obEmpty(vals[fd.key]) ? null : vals[fd.key];
        const now = obEmpty(v) ? null : v;
        if (JSON.stringify(now) !== JSON.stringify(old)) values[fd.key] = now;
      }
      const c = customer.get();
      if (!rec) { if (c) b.customer_id = c.id; } else if (c && c.id !== rec.customer_id) b.customer_id = c.id;
      if (deal) { const v = deal.get(); if (!rec ? v !== null : v !== (rec.deal_id || null)) b.deal_id = v; }
      if (ticket) { const v = ticket.get(); if (!rec ? v !== null : v !== (rec.ticket_id || null)) b.ticket_id = v; }
      if (!rec || Object.keys(values).length) b.values = values;
      return b;
    },
    // what the browser cannot turn into a value (a half-typed number or date): said before sending
    check() {
      const bad = {};
      for (const fd of t.fields || []) {
        const inp = inputs.get(fd.key);
        if (inp.validity && inp.validity.badInput) bad['values.' + fd.key] = fd.type === 'date' ? 'must be a date YYYY-MM-DD' : 'must be a number';
      }
      if (!Object.keys(bad).length) return true;
      obShowErrors(form, bad, general, labels);
      form.dataset.state = 'error';
      return false;
    },
    errors(e) {
      const f = fieldsOf(e);
      if (f) {
        if (f.customer_id && customer.typed()) f.customer_id = 'choose the customer from the list · 请从列表中选择客户';
        obShowErrors(form, f, general, labels);
      } else general.textContent = e.status === 404 ? 'It is gone, or outside your data scope. 记录不存在或不在您的权限范围内。' : errText(e);
      form.dataset.state = 'error';
    },
    focusFirst() {
      if (!customer.get()) { customer.focus(); return; }
      const first = $('.ob-field input, .ob-field select', secF);
      if (first) first.focus();
    },
  };
}

/* ---------- the new-record dialog ---------- */
function obDialog() {
  let d = $('#ob-dialog');
  if (d) return d;
  d = el('dialog', 'card dialog crm-dialog ob-dialog');
  d.id = 'ob-dialog';
  d.setAttribute('aria-labelledby', 'ob-dialog-title');
  $('#app').append(d);
  return d;
}
// preset: {customer: {id, name, customer_no…}, onSaved(record)}
async function obOpenDialog(key, preset = {}) {
  let t;
  try { await obEnsureTypes(); t = obType(key); } catch (e) { toast(errText(e), 'bad'); return; }
  if (!t) { toast('No such object type: ' + key, 'bad'); return; }
  const d = obDialog();
  d.dataset.type = key;
  const f = obForm(t, null, preset, 'obd');
  const h = el('h3', '', 'New ' + t.label + ' ');
  h.id = 'ob-dialog-title';
  h.prepend(obTypeIcon('sm'));
  h.append(el('span', 'zh', '新建记录'));
  const acts = el('div', 'dialog-actions');
  const cancel = button('Cancel 取消', 'ghost', () => d.close());
  cancel.id = 'ob-dialog-cancel';
  const save = el('button', 'primary', 'Create 创建');
  save.type = 'submit'; save.id = 'ob-dialog-save';
  acts.append(cancel, save);
  f.form.prepend(h);
  f.form.append(acts);
  f.form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    obClearErrors(f.form); f.general.textContent = '';
    if (!f.check()) return;
    f.form.dataset.state = 'saving';
    save.disabled = true;
    try {
      const r = await api('POST', '/api/v1/objects/' + encodeURIComponent(key), f.body());
      f.form.dataset.state = 'saved';
      d.close();
      toast('Created 已创建: ' + (r.title || t.label + ' #' + r.id), 'good');
      const tt = obType(key);
      if (tt && typeof tt.records === 'number') tt.records++;
      if (preset.onSaved) preset.onSaved(r);
      if (state.view === 'objects' && ob.cur === key && $('#ob-list')) { ob.flash = r.id; obRenderNav(); obLoadSoon(0); }
      refresh360Soon(r.customer_id);
    } catch (e) {
      f.errors(e);
    } finally {
      save.disabled = false;
    }
  });
  d.replaceChildren(f.form);
  if (!d.open) d.showModal();
  f.focusFirst();
}

/* ---------- the list page ---------- */
function obListState(key) {
  let s = ob.lists.get(key);
  if (!s) { s = { q: '', f: {}, sort: '', page: 1, customer: null }; ob.lists.set(key, s); }
  return s;
}
function obPageMessage(ic, title, text, actions) {
  const box = el('div', 'card ob-blank');
  const i = el('div', 'ob-blank-ic'); i.append(icon(ic));
  box.append(i, el('h3', '', title));
  if (text) box.append(el('p', 'muted', text));
  if (actions && actions.length) { const a = el('div', 'ob-blank-acts'); a.append(...actions); box.append(a); }
  return box;
}
async function obOpen(arg) {
  arg = arg || null;
  const page = $('#ob-page');
  // another page than the one shown: nothing of the old one stays in sight while this one loads
  page.dataset.state = 'loading';
  if (!ob.types || (page.dataset.arg || '') !== (arg || '')) page.replaceChildren(el('div', 'empty', 'Loading… 加载中'));
  page.dataset.arg = arg || '';
  let types;
  try { types = await obEnsureTypes(true); } catch (e) {
    if (state.view !== 'objects') return;
    page.dataset.state = 'error'; page.dataset.mode = 'empty';
    page.replaceChildren(obPageMessage('alert', 'Objects cannot be loaded 无法加载', errText(e), [button('Try again 重试', '', () => obOpen(arg))]));
    return;
  }
  if (state.view !== 'objects' || state.viewArg !== arg) return;
  if (!arg && types.length) { // the first type's list stands for "Objects"
    arg = types[0].key;
    state.viewArg = arg;
    page.dataset.arg = arg;
    history.replaceState(null, '', viewHash('objects', arg));
  }
  const parts = arg ? arg.split('/') : [];
  const key = parts[0] || null, id = parts[1] ? Number(parts[1]) : null;
  if (!key) {
    page.dataset.mode = 'empty'; page.dataset.type = '';
    const acts = isAdmin() ? [button('Define a type 定义类型', 'primary', () => go('objecttypes'), 'obPlus')] : [];
    page.replaceChildren(obPageMessage('obCube', 'No object types yet 暂无自定义对象',
      isAdmin() ? 'Define record types of your own — 设备 Equipment with serial numbers and warranty dates, 课程 Course for a school — ' +
        'with the fields you need. Each gets a list here and a section on every customer page.'
        : 'Your administrator has not defined any record types yet. 管理员尚未定义对象类型。', acts));
    page.dataset.state = 'ready';
    return;
  }
  const t = obType(key);
  if (!t) {
    page.dataset.mode = 'empty'; page.dataset.type = key;
    page.replaceChildren(obTypeNav(null, false), obPageMessage('obCube', 'No such object type 对象类型不存在',
      '“' + key + '” is not (or no longer) defined.', [button('All objects 全部对象', '', () => go('objects'))]));
    page.dataset.state = 'ready';
    return;
  }
  if (id) return obRecordPage(t, id, arg);
  obBuildList(t);
  page.dataset.state = 'ready';
  return obLoadList();
}
function obRenderNav() {
  const old = $('#ob-page > .ob-types');
  if (old) old.replaceWith(obTypeNav(ob.cur, false));
}
function obActive(s) { return !!(s.q.trim() || s.customer || Object.values(s.f).some((c) => Object.values(c).some((v) => String(v || '').trim()))); }
function obBuildList(t) {
  const page = $('#ob-page');
  const s = obListState(t.key);
  ob.cur = t.key;
  page.dataset.mode = 'list'; page.dataset.type = t.key;
  // head
  const head = el('div', 'page-head ob-head');
  const hd = el('div');
  const h2 = el('h2', 'ob-h2');
  h2.append(obTypeIcon(), el('span', '', obPlural(t)));
  const rels = [obRel(t, 'deal') ? 'a deal' : '', obRel(t, 'ticket') ? 'a ticket' : ''].filter(Boolean);
  hd.append(h2, el('p', 'muted', 'Each record belongs to a customer' + (rels.length ? ' and may name ' + rels.join(' or ') + ' of theirs' : '') +
    '; click a column to sort. 每条记录属于一位客户，点击列标题排序。'));
  head.append(hd);
  if (obCanWrite()) {
    const nb = button('New 新建 · ' + t.label, 'primary ob-new', () => obOpenDialog(t.key, s.customer ? { customer: s.customer } : {}), 'obPlus');
    nb.id = 'ob-new';
    head.append(nb);
  }
  // search and filters
  const bar = el('div', 'card ob-filterbar');
  bar.id = 'ob-filters';
  const top = el('div', 'ob-search-row');
  const sw = el('label', 'ob-search');
  sw.append(icon('obSearch'));
  const q = el('input');
  q.type = 'search'; q.id = 'ob-q'; q.value = s.q; q.autocomplete = 'off';
  q.placeholder = 'Search every text and option · 搜索文本和选项';
  q.setAttribute('aria-label', 'search ' + obPlural(t));
  q.addEventListener('input', () => { s.q = q.value; s.page = 1; obMarkFilters(t, s); obLoadSoon(300); });
  sw.append(q);
  top.append(sw);
  const chipSlot = el('span', 'ob-cust-filter');
  chipSlot.id = 'ob-cust-filter';
  top.append(chipSlot);
  const total = el('span', 'ob-total muted');
  total.id = 'ob-total';
  top.append(el('span', 'spacer'), total);
  const clear = button('Clear filters 清除筛选', 'link ob-clear', () => {
    s.q = ''; s.f = {}; s.customer = null; s.page = 1;
    obBuildList(t); obLoadSoon(0);
  }, 'obX');
  clear.id = 'ob-clear';
  top.append(clear);
  bar.append(top);
  const fields = t.fields || [];
  if (fields.length) {
    const grid = el('div', 'ob-fgrid');
    grid.id = 'ob-fgrid';
    fields.forEach((fd, i) => {
      const c = obFilterControl(t, fd, s);
      if (i >= 8) c.classList.add('ob-f-extra');
      grid.append(c);
    });
    bar.append(grid);
    if (fields.length > 8) {
      const more = button('More filters 更多筛选 (' + (fields.length - 8) + ')', 'link ob-fmore', () => {
        const open = grid.classList.toggle('all');
        more.textContent = open ? 'Fewer filters 收起' : 'More filters 更多筛选 (' + (fields.length - 8) + ')';
      });
      if (fields.slice(8).some((fd) => obFieldActive(s, fd.key))) grid.classList.add('all');
      bar.append(more);
    }
  }
  const ferr = el('p', 'error ob-filter-error');
  ferr.id = 'ob-filter-error';
  ferr.setAttribute('role', 'alert');
  bar.append(ferr);
  // the table
  const card = el('section', 'card ob-list');
  card.id = 'ob-list';
  card.dataset.state = 'loading';
  const wrap = el('div', 'ob-table-wrap');
  const table = el('table', 'ob-table');
  table.id = 'ob-table';
  const thead = el('thead');
  const tr = el('tr');
  for (const fd of fields) {
    const th = el('th', 'ob-th ob-th-' + fd.type);
    th.dataset.key = fd.key;
    const b = el('button', 'ob-sort');
    b.type = 'button';
    b.dataset.key = fd.key;
    b.title = 'Sort by ' + fd.label + ' · 排序';
    b.append(el('span', 'ob-th-l', fd.label), el('span', 'ob-arrow'));
    b.addEventListener('click', () => {
      s.sort = s.sort === fd.key ? '-' + fd.key : s.sort === '-' + fd.key ? '' : fd.key;
      s.page = 1;
      obMarkSort(s);
      obLoadSoon(0);
    });
    th.append(b);
    tr.append(th);
  }
  tr.append(el('th', 'ob-th ob-th-cust', 'Customer 客户'));
  if (obRel(t, 'deal')) tr.append(el('th', 'ob-th ob-th-rel', 'Deal 商机'));
  if (obRel(t, 'ticket')) tr.append(el('th', 'ob-th ob-th-rel', 'Ticket 工单'));
  tr.append(el('th', 'ob-th ob-th-upd', 'Updated 更新'));
  thead.append(tr);
  const tbody = el('tbody');
  tbody.id = 'ob-rows';
  table.append(thead, tbody);
  wrap.append(table);
  const pager = el('div', 'ob-pager');
  pager.id = 'ob-pager';
  card.append(wrap, pager);
  page.replaceChildren(obTypeNav(t.key, false), head, bar, card);
  obMarkFilters(t, s);
  obMarkSort(s);
}
const obFieldActive = (s, key) => Object.values(s.f[key] || {}).some((v) => String(v || '').trim());
function obFilterControl(t, fd, s) {
  const w = el('div', 'field ob-f ob-f-' + fd.type);
  w.dataset.key = fd.key;
  const cur = s.f[fd.key] || (s.f[fd.key] = {});
  const id = 'ob-f-' + fd.key;
  const lab = el('label', 'ob-f-l', fd.label);
  w.append(lab);
  const changed = (ms) => { s.page = 1; obMarkFilters(t, s); obLoadSoon(ms); };
  if (fd.type === 'text') {
    const i = el('input');
    i.type = 'search'; i.id = id; i.autocomplete = 'off'; i.placeholder = 'contains… 包含'; i.value = cur.contains || '';
    i.addEventListener('input', () => { cur.contains = i.value; changed(300); });
    lab.htmlFor = id;
    w.append(i);
  } else if (OB_SELECTS.includes(fd.type)) {
    const sel = el('select');
    sel.id = id;
    sel.append(opt('', fd.type === 'multiselect' ? 'Any 全部' : 'All 全部'));
    for (const o of fd.options || []) sel.append(opt(String(o), String(o), String(cur.eq || '') === String(o)));
    sel.addEventListener('change', () => { cur.eq = sel.value; changed(0); });
    lab.htmlFor = id;
    w.append(sel);
    if (fd.type === 'multiselect') sel.title = 'records that have this option · 包含该选项';
  } else {
    const r = el('div', 'ob-range');
    const mk = (op, ph) => {
      const i = el('input');
      i.id = id + '-' + op; i.autocomplete = 'off';
      if (fd.type === 'date') i.type = 'date'; else { i.type = 'text'; i.inputMode = 'decimal'; i.placeholder = ph; }
      i.value = cur[op] || '';
      i.setAttribute('aria-label', fd.label + (op === 'gte' ? ' from 起' : ' to 止'));
      i.addEventListener(fd.type === 'date' ? 'change' : 'input', () => { cur[op] = i.value; changed(fd.type === 'date' ? 0 : 400); });
      return i;
    };
    const from = mk('gte', 'min 最小'), to = mk('lte', 'max 最大');
    lab.htmlFor = from.id;
    r.append(from, el('span', 'ob-range-sep', '–'), to);
    w.append(r);
  }
  w.append(obErrSlot('f.' + fd.key));
  return w;
}
function obMarkFilters(t, s) {
  for (const w of $$('#ob-fgrid .ob-f')) w.classList.toggle('on', obFieldActive(s, w.dataset.key));
  const clear = $('#ob-clear');
  if (clear) clear.hidden = !obActive(s);
  const slot = $('#ob-cust-filter');
  if (slot) {
    slot.replaceChildren();
    if (s.customer) {
      const chip = el('span', 'ob-chip-filter');
      chip.append(icon('user'), el('span', '', s.customer.name));
      const x = button('', 'ob-chip-x', () => { s.customer = null; s.page = 1; obMarkFilters(t, s); obLoadSoon(0); }, 'obX');
      x.setAttribute('aria-label', 'Show every customer’s records');
      x.id = 'ob-cust-filter-x';
      chip.append(x);
      slot.append(chip);
    }
  }
}
function obMarkSort(s) {
  for (const th of $$('#ob-table th.ob-th[data-key]')) {
    const k = th.dataset.key;
    const dir = s.sort === k ? 'ascending' : s.sort === '-' + k ? 'descending' : '';
    if (dir) th.setAttribute('aria-sort', dir); else th.removeAttribute('aria-sort');
    th.classList.toggle('sorted', !!dir);
    const a = $('.ob-arrow', th);
    a.replaceChildren(icon(dir === 'descending' ? 'obDown' : 'obUp'));
  }
}
function obQuery(t, s) {
  const p = new URLSearchParams({ page: String(s.page), per_page: String(OB_PER_PAGE) });
  if (s.q.trim()) p.set('q', s.q.trim());
  if (s.customer) p.set('customer_id', String(s.customer.id));
  for (const fd of t.fields || []) {
    for (const [op, v] of Object.entries(s.f[fd.key] || {})) {
      const val = String(v === undefined || v === null ? '' : v).trim();
      if (!val) continue;
      p.set(op === 'eq' ? 'f.' + fd.key : 'f.' + fd.key + '.' + op, fd.type === 'number' ? val.replace(/,/g, '') : val);
    }
  }
  if (s.sort) p.set('sort', s.sort);
  return p;
}
function obLoadSoon(ms) {
  const box = $('#ob-list');
  if (box) box.dataset.state = 'loading';
  ob.seq++; // a load on its way answers an older query: it must not mark the list ready
  clearTimeout(ob.loadTimer);
  ob.loadTimer = setTimeout(() => obLoadList().catch((e) => toast(errText(e), 'bad')), ms);
}
async function obLoadList() {
  const key = ob.cur, t = obType(key);
  const box = $('#ob-list');
  if (!t || !box) return;
  const s = obListState(key);
  const seq = ++ob.seq;
  box.dataset.state = 'loading';
  const p = obQuery(t, s);
  let r;
  try {
    r = await api('GET', '/api/v1/objects/' + encodeURIComponent(key) + '?' + p);
  } catch (e) {
    if (seq !== ob.seq) return;
    const ferr = $('#ob-filter-error');
    // a refused filter is named in the message: "f.hours.gte: must be a number"
    const named = /^(f\.[a-z][a-z0-9_]*?)(?:\.(?:gt|gte|lt|lte|contains))?: (.+)$/.exec((e.data && e.data.error && e.data.error.message) || '');
    const f = fieldsOf(e) || (named && e.status === 400 ? { [named[1]]: named[2] } : null);
    obClearErrors($('#ob-filters'));
    if (f) obShowErrors($('#ob-filters'), Object.fromEntries(Object.entries(f).map(([k, v]) => [k.replace(/\.(gt|gte|lt|lte|contains)$/, ''), v])), ferr,
      Object.fromEntries((t.fields || []).map((fd) => ['f.' + fd.key, fd.label])));
    else ferr.textContent = e.status === 400 ? 'The filters were refused: ' + errText(e) + ' · 筛选条件无效' : errText(e);
    const tr = el('tr', 'ob-empty-row');
    const td = el('td', 'ob-empty bad');
    td.colSpan = $$('#ob-table thead th').length || 1;
    const i = el('div', 'ob-blank-ic'); i.append(icon('alert'));
    td.append(i, el('p', 'strong', e.status === 400 ? 'Fix the filter marked above to see records. 请修正上方标出的筛选条件。' : 'The records cannot be loaded. 无法加载记录'));
    tr.append(td);
    $('#ob-rows').replaceChildren(tr);
    $('#ob-pager').replaceChildren();
    $('#ob-pager').hidden = true;
    $('#ob-total').textContent = '';
    box.dataset.state = 'error';
    return;
  }
  if (seq !== ob.seq || ob.cur !== key || state.view !== 'objects') return;
  if (!r.items.length && r.total > 0 && s.page > 1) { s.page = Math.ceil(r.total / OB_PER_PAGE); return obLoadList(); }
  obClearErrors($('#ob-filters'));
  $('#ob-filter-error').textContent = '';
  obRenderRows(t, s, r);
  box.dataset.query = p.toString();
  box.dataset.total = String(r.total);
  box.dataset.state = 'ready';
}
function obRenderRows(t, s, r) {
  const tbody = $('#ob-rows');
  const fields = t.fields || [];
  const tkey = obTitleKey(t);
  const cols = fields.length + 2 + (obRel(t, 'deal') ? 1 : 0) + (obRel(t, 'ticket') ? 1 : 0);
  const rows = [];
  for (const x of r.items) {
    const tr = el('tr', 'ob-row');
    tr.dataset.id = x.id;
    tr.tabIndex = 0;
    const vals = x.values || {};
    for (const fd of fields) {
      const td = el('td', 'ob-td ob-td-' + fd.type + (fd.key === tkey ? ' ob-td-title' : ''));
      td.dataset.key = fd.key;
      td.append(obValueNode(fd, vals[fd.key]));
      tr.append(td);
    }
    const ctd = el('td', 'ob-td ob-td-cust');
    if (x.customer_id) {
      const cb = button('', 'link ob-cust-link', (e) => { e.stopPropagation(); go('customer', x.customer_id); });
      cb.append(avatar(x.customer_name || '?', 'xs'), el('span', '', x.customer_name || '#' + x.customer_id));
      cb.title = 'Open the customer 查看客户';
      ctd.append(cb);
    }
    tr.append(ctd);
    if (obRel(t, 'deal')) tr.append(el('td', 'ob-td ob-td-rel', x.deal_id ? '#' + x.deal_id : ''));
    if (obRel(t, 'ticket')) {
      const td = el('td', 'ob-td ob-td-rel');
      if (x.ticket_id) td.append(button('#' + x.ticket_id, 'link ob-ticket-link', (e) => { e.stopPropagation(); openTicketFrom360(x.ticket_id); }));
      tr.append(td);
    }
    const upd = el('td', 'ob-td ob-td-upd muted', ago(x.updated_at || x.created_at));
    upd.title = fullTime(x.updated_at || x.created_at);
    tr.append(upd);
    const open = () => go('objects', t.key + '/' + x.id);
    tr.addEventListener('click', open);
    tr.addEventListener('keydown', (e) => { if (e.key === 'Enter') open(); });
    if (ob.flash === x.id) tr.classList.add('flash');
    rows.push(tr);
  }
  ob.flash = 0;
  if (!rows.length) {
    const tr = el('tr', 'ob-empty-row');
    const td = el('td', 'ob-empty');
    td.colSpan = cols;
    const i = el('div', 'ob-blank-ic'); i.append(icon(obActive(s) ? 'obFilter' : 'obCube'));
    td.append(i);
    if (obActive(s)) {
      td.append(el('p', 'strong', 'Nothing matches these filters. 没有符合条件的记录'),
        button('Clear filters 清除筛选', 'small', () => { $('#ob-clear').click(); }));
    } else {
      td.append(el('p', 'strong', 'No ' + obPlural(t) + ' yet. 暂无记录'));
      if (obCanWrite()) td.append(button('Add the first one 新建第一条', 'small primary', () => obOpenDialog(t.key), 'obPlus'));
    }
    tr.append(td);
    tbody.replaceChildren(tr);
  } else tbody.replaceChildren(...rows);
  // counts and pages
  const pages = Math.max(1, Math.ceil(r.total / OB_PER_PAGE));
  const from = r.total ? (s.page - 1) * OB_PER_PAGE + 1 : 0, to = Math.min(r.total, (s.page - 1) * OB_PER_PAGE + r.items.length);
  $('#ob-total').textContent = r.total.toLocaleString() + (r.total === 1 ? ' record' : ' records') + ' · 条记录';
  const pager = $('#ob-pager');
  pager.replaceChildren();
  if (r.total > 0) {
    const info = el('span', 'ob-range-info muted', from + '–' + to + ' of ' + r.total.toLocaleString());
    info.id = 'ob-range';
    pager.append(info);
  }
  if (pages > 1) {
    const prev = button('Previous 上一页', 'small ob-prev', () => { s.page--; obLoadSoon(0); }, 'obLeft');
    prev.id = 'ob-prev'; prev.disabled = s.page <= 1;
    const pg = el('span', 'ob-page-n', 'Page ' + s.page + ' / ' + pages);
    pg.id = 'ob-page-n';
    const next = button('Next 下一页', 'small ob-next', () => { s.page++; obLoadSoon(0); });
    next.append(icon('obRight'));
    next.id = 'ob-next'; next.disabled = s.page >= pages;
    pager.append(el('span', 'spacer'), prev, pg, next);
  }
  pager.hidden = !r.total;
}

/* ---------- the record page ---------- */
async function obRecordPage(t, id, arg) {
  const page = $('#ob-page');
  const seq = ++ob.recSeq;
  ob.cur = null;
  page.dataset.state = 'loading';
  page.dataset.mode = 'record'; page.dataset.type = t.key;
  let r;
  try {
    r = await api('GET', '/api/v1/objects/' + encodeURIComponent(t.key) + '/' + id);
  } catch (e) {
    if (seq !== ob.recSeq || state.view !== 'objects' || state.viewArg !== arg) return;
    page.dataset.state = 'error';
    ob.rec = null;
    page.replaceChildren(obPageMessage('obCube', e.status === 404 ? 'No such record 记录不存在' : 'The record cannot be loaded 无法加载',
      e.status === 404 ? 'It was deleted, or it belongs to a customer outside your data scope. 记录已删除或不在您的权限范围内。' : errText(e),
      [button('Back to ' + obPlural(t), '', () => go('objects', t.key), 'back')]));
    return;
  }
  if (seq !== ob.recSeq || state.view !== 'objects' || state.viewArg !== arg) return;
  ob.rec = { type: t.key, id, r };
  obRenderRecord(t, r);
  page.dataset.state = 'ready';
}
function obRenderRecord(t, r) {
  const page = $('#ob-page');
  const crumbs = el('div', 'crumbs');
  crumbs.append(button(obPlural(t), 'link crumb', () => go('objects', t.key), 'back'), el('span', 'sep', '/'),
    el('span', '', r.title || '#' + r.id));
  // the head: what it is, whose it is
  const head = el('header', 'card ob-rec-head');
  head.append(obTypeIcon('lg'));
  const idb = el('div', 'ob-rec-id');
  const h2 = el('h2', 'ob-rec-title', r.title || t.label + ' #' + r.id);
  h2.id = 'ob-rec-title';
  const meta = el('div', 'ob-rec-meta');
  meta.append(el('span', 'ob-type-b', t.label), el('span', 'muted', '#' + r.id));
  if (r.customer_id) {
    const cb = button('', 'link ob-meta-link ob-rec-customer', () => go('customer', r.customer_id), 'user');
    cb.append(el('span', '', r.customer_name || 'customer #' + r.customer_id));
    cb.title = 'Open the customer 查看客户';
    meta.append(cb);
  }
  if (r.deal_id) {
    const db = button('', 'link ob-meta-link', () => { if (canSell()) { crm.flashDeal = r.deal_id; go('pipeline'); } }, 'deal');
    db.append(el('span', '', 'Deal #' + r.deal_id));
    meta.append(db);
  }
  if (r.ticket_id) {
    const tb = button('', 'link ob-meta-link', () => openTicketFrom360(r.ticket_id), 'chat');
    tb.append(el('span', '', 'Ticket #' + r.ticket_id));
    meta.append(tb);
  }
  const times = el('div', 'ob-rec-times muted');
  const c = el('span', '', 'Created ' + fullTime(r.created_at));
  const a = ago(r.updated_at);
  const u = el('span', '', 'Updated ' + (a === 'now' ? 'just now' : /^\d+[mhd]$/.test(a) ? a + ' ago' : fullTime(r.updated_at)));
  u.title = fullTime(r.updated_at);
  times.append(c, el('span', 'sep', '·'), u);
  idb.append(h2, meta, times);
  head.append(idb);
  const acts = el('div', 'ob-rec-acts');
  if (obCanWrite()) {
    const del = button('Delete 删除', 'danger ob-delete', () => {
      const conf = el('div', 'ob-confirm');
      conf.append(el('span', 'confirm', 'Delete this record? It cannot be undone. 删除后不可恢复'));
      const yes = button('Delete 删除', 'danger-solid small', async () => {
        yes.disabled = true;
        try {
          await api('DELETE', '/api/v1/objects/' + encodeURIComponent(t.key) + '/' + r.id);
          const tt = obType(t.key);
          if (tt && typeof tt.records === 'number' && tt.records > 0) tt.records--;
          ob.rec = null;
          toast('Deleted 已删除: ' + (r.title || '#' + r.id), 'good');
          go('objects', t.key);
        } catch (e) { toast(errText(e), 'bad'); yes.disabled = false; }
      }, 'obTrash');
      yes.id = 'ob-delete-yes';
      const no = button('Keep 保留', 'small', () => conf.replaceWith(del));
      no.id = 'ob-delete-no';
      conf.append(yes, no);
      del.replaceWith(conf);
      no.focus();
    }, 'obTrash');
    del.id = 'ob-delete';
    acts.append(del);
  }
  head.append(acts);
  // the form
  const f = obForm(t, r, null, 'obr');
  f.form.id = 'ob-rec-form';
  f.form.classList.add('card', 'ob-rec-card');
  const foot = el('div', 'ob-rec-foot');
  const saved = el('span', 'ob-saved', '');
  saved.id = 'ob-rec-saved';
  const reset = button('Discard changes 放弃修改', 'ghost', () => obRenderRecord(t, ob.rec.r));
  reset.id = 'ob-rec-reset';
  const save = el('button', 'primary', 'Save changes 保存');
  save.type = 'submit'; save.id = 'ob-rec-save';
  foot.append(saved, el('span', 'spacer'), reset, save);
  if (!obCanWrite()) {
    for (const x of $$('input, select, textarea, button', f.form)) x.disabled = true;
    foot.replaceChildren(el('span', 'muted', 'Read-only for your role. 只读'));
  }
  f.form.append(foot);
  const sync = () => { const dirty = f.form.dataset.state === 'dirty'; reset.hidden = !dirty; if (dirty) saved.textContent = ''; };
  f.form.addEventListener('input', sync);
  f.form.addEventListener('change', sync);
  reset.hidden = true;
  f.form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    obClearErrors(f.form); f.general.textContent = '';
    if (!f.check()) return;
    const body = f.body();
    if (!Object.keys(body).length) { f.form.dataset.state = 'saved'; saved.textContent = 'Nothing changed 无修改'; return; }
    f.form.dataset.state = 'saving';
    save.disabled = true;
    try {
      const nr = await api('PATCH', '/api/v1/objects/' + encodeURIComponent(t.key) + '/' + r.id, body);
      ob.rec = { type: t.key, id: r.id, r: nr };
      obRenderRecord(t, nr);
      const form = $('#ob-rec-form');
      form.dataset.state = 'saved';
      const s2 = $('#ob-rec-saved');
      s2.replaceChildren(icon('obCheck'), document.createTextNode('Saved 已保存'));
      s2.classList.add('on');
    } catch (e) {
      f.errors(e);
    } finally {
      save.disabled = false;
    }
  });
  page.replaceChildren(obTypeNav(t.key, false), crumbs, head, f.form);
}

/* ---------- the customer 360: a card per type (crm.js calls this) ---------- */
function objectCards(c) {
  if (!Array.isArray(c.objects)) return [];
  return c.objects.map((o) => obCard360(c, o));
}
function obCard360(c, o) {
  const t = obType(o.type);
  const card = sectionCard(o.label_plural || o.label, 'ob-360');
  card.dataset.type = o.type;
  card.dataset.total = String(o.total || 0);
  const h3 = $('.crm-card-head h3', card);
  h3.prepend(obTypeIcon('xs'));
  h3.append(el('span', 'ob-360-n', String(o.total || 0)));
  if (obCanWrite()) {
    const add = button('+ Add 添加', 'small ob-360-add', () => obOpenDialog(o.type, { customer: c, onSaved: () => refresh360Soon(c.id) }));
    add.title = 'New ' + o.label + ' for ' + c.name;
    $('.crm-card-head', card).append(add);
  }
  const items = (o.items || []).slice(0, OB_360_ROWS);
  if (!items.length) { card.append(emptyLine('None yet. 暂无')); return card; }
  const fields = o.fields || (t && t.fields) || [];
  const tkey = obTitleKey(t) || (fields.find((f) => f.type === 'text') || fields[0] || {}).key;
  const tfd = fields.find((f) => f.key === tkey);
  const more = fields.filter((f) => f.key !== tkey).slice(0, 2);
  const table = el('table', 'ob-mini');
  const hr = el('tr');
  hr.append(el('th', '', tfd ? tfd.label : 'Title 名称'), ...more.map((f) => el('th', 'ob-mini-' + f.type, f.label)));
  const thead = el('thead'); thead.append(hr);
  const tbody = el('tbody');
  for (const x of items) {
    const tr = el('tr', 'ob-mini-row');
    tr.dataset.id = x.id;
    tr.tabIndex = 0;
    tr.title = 'Open 查看 ' + (x.title || '#' + x.id);
    const vals = x.values || {};
    const tt = el('td', 'ob-mini-title');
    tt.append(el('span', '', x.title || (tkey && vals[tkey]) || '#' + x.id));
    tr.append(tt);
    for (const f of more) { const td = el('td', 'ob-mini-' + f.type); td.append(obValueNode(f, vals[f.key])); tr.append(td); }
    const open = () => go('objects', o.type + '/' + x.id);
    tr.addEventListener('click', open);
    tr.addEventListener('keydown', (e) => { if (e.key === 'Enter') open(); });
    tbody.append(tr);
  }
  table.append(thead, tbody);
  card.append(table);
  const all = button(o.total > items.length ? 'View all ' + o.total + ' 查看全部' : 'Open in the list 在列表中查看', 'link ob-360-all', () => {
    const s = obListState(o.type);
    s.customer = { id: c.id, name: c.name, customer_no: c.customer_no };
    s.page = 1;
    go('objects', o.type);
  });
  all.append(icon('obRight'));
  card.append(all);
  return card;
}

/* ---------- the admin page: object types ---------- */
// a key from the Latin words of a label ("设备 Equipment" → equipment); '' when there are none
function obSlug(s, max) {
  return String(s || '').toLowerCase().replace(/[^a-z0-9]+/g, '_').replace(/^[^a-z]+/, '').replace(/_+$/, '').slice(0, max);
}
function obDraftOf(t) {
  if (!t) {
    return { saved: false, key: '', label: '', label_plural: '', relations: { deal: false, ticket: false }, title_field: '', keyTouched: false,
      fields: [{ key: '', label: '', type: 'text', options: [], required: true, saved: false, removed: false, keyTouched: false }] };
  }
  return {
    saved: true, key: t.key, label: t.label || '', label_plural: t.label_plural || '',
    relations: { deal: obRel(t, 'deal'), ticket: obRel(t, 'ticket') }, title_field: t.title_field || '', records: t.records,
    fields: (t.fields || []).map((f) => ({ key: f.key, label: f.label, type: f.type, options: (f.options || []).map(String), required: !!f.required,
      saved: true, removed: false, keyTouched: true })),
  };
}
async function obAdminOpen(arg) {
  arg = arg || null;
  const page = $('#obt-page');
  page.dataset.state = 'loading';
  if (!ob.types) page.replaceChildren(el('div', 'empty', 'Loading… 加载中'));
  let types;
  try { types = await obEnsureTypes(true); } catch (e) {
    if (state.view !== 'objecttypes') return;
    page.dataset.state = 'error';
    page.replaceChildren(obPageMessage('alert', 'Object types cannot be loaded 无法加载', errText(e), [button('Try again 重试', '', () => obAdminOpen(arg))]));
    return;
  }
  if (state.view !== 'objecttypes' || state.viewArg !== arg) return;
  const a = ob.admin;
  const want = arg && obType(arg) ? arg : null;
  // a draft being edited survives leaving the page and coming back
  const keep = a.draft && a.dirty && (want ? a.sel === want : true) && (a.sel === 'new' || obType(a.sel));
  if (!keep) {
    a.sel = want || (types.length ? types[0].key : 'new');
    a.draft = obDraftOf(obType(a.sel));
    a.dirty = false;
  }
  obAdminRender();
  page.dataset.state = 'ready';
}
function obAdminSelect(key) {
  ob.admin.sel = key;
  ob.admin.draft = obDraftOf(key === 'new' ? null : obType(key));
  ob.admin.dirty = false;
  state.viewArg = key === 'new' ? null : key;
  history.replaceState(null, '', viewHash('objecttypes', key === 'new' ? null : key));
  obAdminRender();
}
function obAdminRender() {
  const page = $('#obt-page');
  const head = el('div', 'page-head');
  const hd = el('div');
  const h2 = el('h2', '', 'Object types ');
  h2.append(el('span', 'zh', '对象类型'));
  hd.append(h2, el('p', 'muted', 'Record types of your own, each with the fields it needs. A type gets a list page and a section on every ' +
    'customer page; records can be named in segments and rules as obj.TYPE.FIELD. 自定义记录类型及其字段。'));
  const nb = button('New type 新建类型', 'primary', () => obAdminSelect('new'), 'obPlus');
  nb.id = 'obt-new';
  head.append(hd, nb);
  // the list of types
  const aside = el('aside', 'card obt-list-card');
  const ul = el('ul', 'obt-list');
  ul.id = 'obt-list';
  for (const t of ob.types || []) {
    const li = el('li');
    const b = button('', 'obt-item' + (ob.admin.sel === t.key ? ' active' : ''), () => obAdminSelect(t.key));
    b.dataset.key = t.key;
    const top = el('span', 'obt-item-top');
    top.append(obTypeIcon('sm'), el('span', 'obt-item-l', t.label));
    const sub = el('span', 'obt-item-sub');
    sub.append(el('code', 'obt-key', t.key), el('span', '', plural((t.fields || []).length, 'field') + ' · ' +
      (typeof t.records === 'number' ? plural(t.records, 'record') : '')));
    b.append(top, sub);
    if (ob.admin.sel === t.key) b.setAttribute('aria-current', 'true');
    li.append(b);
    ul.append(li);
  }
  if (ob.admin.sel === 'new') {
    const li = el('li');
    const b = button('', 'obt-item active new');
    const top = el('span', 'obt-item-top');
    top.append(obTypeIcon('sm'), el('span', 'obt-item-l', ob.admin.draft.label || 'New type 新类型'));
    b.append(top, el('span', 'obt-item-sub muted', 'not saved yet · 未保存'));
    li.append(b);
    ul.append(li);
  }
  if (!(ob.types || []).length && ob.admin.sel !== 'new') ul.append(el('li', 'muted obt-none', 'No types yet.'));
  aside.append(ul);
  const split = el('div', 'obt-split');
  split.append(aside, obAdminEditor());
  page.replaceChildren(...((ob.types || []).length ? [obTypeNav(null, true)] : []), head, split);
}
function obAdminEditor() {
  const d = ob.admin.draft;
  const form = el('form', 'card obt-form');
  form.id = 'obt-form';
  form.noValidate = true;
  form.dataset.state = ob.admin.dirty ? 'dirty' : 'idle';
  form.dataset.key = d.saved ? d.key : '';
  const dirty = () => {
    ob.admin.dirty = true;
    if (form.dataset.state !== 'saving') form.dataset.state = 'dirty';
    const n = $('#obt-saved', form), c = $('#obt-cancel', form);
    if (n) n.textContent = '';
    if (c) c.hidden = false;
  };
  // title
  const top = el('div', 'obt-form-head');
  const h3 = el('h3', '', d.saved ? d.label : 'New object type ');
  if (!d.saved) h3.append(el('span', 'zh', '新建对象类型'));
  h3.id = 'obt-form-title';
  top.append(h3);
  if (d.saved) {
    top.append(el('code', 'obt-key', d.key));
    if (typeof d.records === 'number') top.append(el('span', 'muted obt-recs', plural(d.records, 'record') + ' · 条记录'));
    top.append(el('span', 'spacer'));
    const open = button('Open the list 打开列表', 'small', () => go('objects', d.key), 'obList');
    open.id = 'obt-open-list';
    top.append(open);
  }
  form.append(top);
  // the basics
  const basics = el('div', 'obt-basics');
  const fld = (label, zh, input, key, hint, cls) => {
    const f = el('div', 'field obt-field' + (cls ? ' ' + cls : ''));
    const l = el('label', 'ob-label', label + ' ');
    l.append(el('span', 'zh', zh));
    l.htmlFor = input.id;
    f.append(l, input);
    if (hint) f.append(el('span', 'hint', hint));
    f.append(obErrSlot(key));
    return f;
  };
  const label = el('input'); label.id = 'obt-label'; label.maxLength = 200; label.autocomplete = 'off'; label.placeholder = 'e.g. 设备 Equipment'; label.value = d.label;
  const pl = el('input'); pl.id = 'obt-plural'; pl.maxLength = 200; pl.autocomplete = 'off'; pl.placeholder = d.label || 'same as the label'; pl.value = d.label_plural;
  const key = el('input'); key.id = 'obt-key'; key.maxLength = 40; key.autocomplete = 'off'; key.spellcheck = false; key.placeholder = 'equipment';
  key.value = d.key; key.readOnly = d.saved; key.classList.add('mono');
  label.addEventListener('input', () => {
    d.label = label.value; pl.placeholder = d.label || 'same as the label';
    if (!d.saved && !d.keyTouched) { d.key = obSlug(d.label, 40); key.value = d.key; }
    const it = $('.obt-item.new .obt-item-l');
    if (it) it.textContent = d.label || 'New type 新类型';
    dirty();
  });
  pl.addEventListener('input', () => { d.label_plural = pl.value; dirty(); });
  key.addEventListener('input', () => { d.key = key.value; d.keyTouched = key.value !== ''; dirty(); });
  basics.append(fld('Label', '名称', label, 'label', 'shown on pages, Chinese welcome'), fld('Plural label', '复数名称', pl, 'label_plural', 'optional · the title of the list'),
    fld('Key', '键', key, 'key', d.saved ? 'fixed once created · 创建后不可修改' : 'a-z, 0-9 and _ · used in obj.KEY rules', 'obt-keyf'));
  form.append(basics);
  // relations and the title field
  const row2 = el('div', 'obt-row2');
  const relf = el('div', 'field obt-rels');
  relf.append(el('span', 'ob-label', 'Records may name 可关联'));
  const relbox = el('div', 'obt-rel-box');
  for (const [k, text, zh] of [['deal', 'a deal of their customer', '商机'], ['ticket', 'a ticket of their customer', '工单']]) {
    const l = el('label', 'obt-rel');
    const c = el('input'); c.type = 'checkbox'; c.id = 'obt-rel-' + k; c.checked = !!d.relations[k];
    c.addEventListener('change', () => { d.relations[k] = c.checked; dirty(); });
    const tx = el('span', 'obt-rel-t');
    tx.append(el('strong', '', k === 'deal' ? 'Deal ' : 'Ticket '), el('span', 'zh', zh), el('span', 'muted', text));
    l.append(c, tx);
    relbox.append(l);
  }
  relf.append(relbox, obErrSlot('relations'));
  const tsel = el('select');
  tsel.id = 'obt-title';
  const fillTitle = () => {
    const cands = d.fields.filter((f) => !f.removed && ['text', 'select'].includes(f.type) && f.key);
    const o = [opt('', 'First text field 第一个文本字段' + (cands.find((f) => f.type === 'text') ? ' (' + (cands.find((f) => f.type === 'text').label || cands.find((f) => f.type === 'text').key) + ')' : ''), !d.title_field)];
    for (const f of cands) o.push(opt(f.key, (f.label || f.key) + ' · ' + f.key, d.title_field === f.key));
    if (d.title_field && !cands.some((f) => f.key === d.title_field)) o.push(opt(d.title_field, d.title_field + ' (not a text or select field)', true));
    tsel.replaceChildren(...o);
  };
  fillTitle();
  tsel.addEventListener('change', () => { d.title_field = tsel.value; dirty(); });
  row2.append(relf, fld('Title field', '标题字段', tsel, 'title_field', 'names each record in lists and on the customer page'));
  form.append(row2);
  // the fields
  const fsec = el('section', 'obt-fsec');
  const fh = el('div', 'obt-fhead');
  const live = d.fields.filter((f) => !f.removed).length;
  fh.append(el('h4', '', 'Fields 字段'), el('span', 'muted', plural(live, 'field') + ' · in page order 按页面顺序'));
  fsec.append(fh);
  const cols = el('div', 'obt-frow obt-fcols');
  cols.setAttribute('aria-hidden', 'true');
  for (const [cl, t] of [['c-ord', ''], ['c-label', 'Label 名称'], ['c-key', 'Key 键'], ['c-type', 'Type 类型'], ['c-opts', 'Options 选项'],
    ['c-req', 'Required 必填'], ['c-rm', '']]) cols.append(el('span', cl, t));
  fsec.append(cols);
  const list = el('div', 'obt-fields');
  list.id = 'obt-fields';
  let idx = 0;
  d.fields.forEach((f, i) => { list.append(obFieldRow(d, f, i, f.removed ? -1 : idx, dirty, fillTitle)); if (!f.removed) idx++; });
  fsec.append(list);
  const add = button('Add field 添加字段', 'obt-add', () => {
    d.fields.push({ key: '', label: '', type: 'text', options: [], required: false, saved: false, removed: false, keyTouched: false });
    dirty();
    obRefreshFields();
    const rows = $$('#obt-fields .obt-frow');
    $('.obt-f-label', rows[rows.length - 1]).focus();
  }, 'obPlus');
  add.id = 'obt-add-field';
  fsec.append(add, obErrSlot('fields'));
  form.append(fsec);
  // actions
  const general = el('p', 'error obt-error');
  general.id = 'obt-error';
  general.setAttribute('role', 'alert');
  const foot = el('div', 'obt-foot');
  if (d.saved) {
    const del = button('Delete type 删除类型', 'danger obt-del', () => obConfirmTypeDelete(del, d), 'obTrash');
    del.id = 'obt-delete';
    foot.append(del);
  }
  const savedNote = el('span', 'ob-saved');
  savedNote.id = 'obt-saved';
  foot.append(el('span', 'spacer'), savedNote);
  const cancel = button(d.saved ? 'Discard changes 放弃修改' : 'Cancel 取消', 'ghost', () => {
    ob.admin.dirty = false;
    if (d.saved) obAdminSelect(d.key); else obAdminSelect((ob.types || [])[0] ? ob.types[0].key : 'new');
  });
  cancel.id = 'obt-cancel';
  cancel.hidden = d.saved && !ob.admin.dirty;
  const save = el('button', 'primary', d.saved ? 'Save changes 保存' : 'Create type 创建类型');
  save.type = 'submit'; save.id = 'obt-save';
  foot.append(cancel, save);
  form.append(general, foot);
  form.addEventListener('input', obFieldFixed);
  form.addEventListener('change', obFieldFixed);
  form.addEventListener('submit', (ev) => { ev.preventDefault(); obAdminSave(form, d, save); });
  return form;
}
function obRefreshFields() {
  // re-render the editor keeping the draft (positions, new rows)
  const form = $('#obt-form');
  const st = form ? form.dataset.state : 'idle';
  const y = $('#view-objecttypes').scrollTop;
  const nf = obAdminEditor();
  form.replaceWith(nf);
  nf.dataset.state = st === 'saving' ? 'saving' : 'dirty';
  $('#view-objecttypes').scrollTop = y;
}
function obFieldRow(d, f, i, idx, dirty, fillTitle) {
  const row = el('div', 'obt-frow' + (f.removed ? ' removed' : '') + (f.saved ? ' saved' : ' fresh'));
  row.dataset.row = String(i);
  row.dataset.idx = String(idx);
  if (f.key) row.dataset.key = f.key;
  const p = idx >= 0 ? 'fields[' + idx + ']' : 'removed[' + i + ']';
  const cell = (cls, key, ...kids) => { const c = el('div', 'field obt-c ' + cls); c.append(...kids); if (key) c.append(obErrSlot(p + '.' + key)); return c; };
  // order
  const ord = el('div', 'obt-c c-ord');
  const live = d.fields.filter((x) => !x.removed);
  const pos = live.indexOf(f);
  const up = button('', 'obt-icon obt-f-up', () => obMoveField(d, f, -1), 'obUp');
  up.setAttribute('aria-label', 'Move up 上移'); up.title = 'Move up 上移'; up.disabled = f.removed || pos <= 0;
  const dn = button('', 'obt-icon obt-f-down', () => obMoveField(d, f, 1), 'obDown');
  dn.setAttribute('aria-label', 'Move down 下移'); dn.title = 'Move down 下移'; dn.disabled = f.removed || pos < 0 || pos >= live.length - 1;
  ord.append(el('span', 'obt-n', f.removed ? '' : String(idx + 1)), up, dn);
  // label and key
  const label = el('input', 'obt-f-label');
  label.maxLength = 200; label.autocomplete = 'off'; label.placeholder = 'e.g. 序列号'; label.value = f.label;
  label.setAttribute('aria-label', 'Field ' + (idx + 1) + ' label 名称');
  const key = el('input', 'obt-f-key mono');
  key.maxLength = 64; key.autocomplete = 'off'; key.spellcheck = false; key.placeholder = 'serial_no'; key.value = f.key; key.readOnly = f.saved;
  key.setAttribute('aria-label', 'Field ' + (idx + 1) + ' key 键');
  if (f.saved) key.title = 'A saved field keeps its key (its values are stored under it) · 已保存字段的键不可修改';
  label.addEventListener('input', () => {
    f.label = label.value;
    if (!f.saved && !f.keyTouched) { f.key = obSlug(f.label, 64); key.value = f.key; }
    dirty(); fillTitle();
  });
  key.addEventListener('input', () => { f.key = key.value; f.keyTouched = key.value !== ''; row.dataset.key = f.key; dirty(); fillTitle(); });
  // type
  const type = el('select', 'obt-f-type');
  for (const [v, l] of OB_FIELD_TYPES) type.append(opt(v, l, f.type === v));
  type.disabled = f.saved;
  type.setAttribute('aria-label', 'Field ' + (idx + 1) + ' type 类型');
  if (f.saved) type.title = 'A field’s type cannot change · 字段类型不可修改';
  type.addEventListener('change', () => { f.type = type.value; dirty(); obRefreshFields(); });
  // options
  const opts = OB_SELECTS.includes(f.type) ? obOptionsEditor(f, idx, dirty) : el('span', 'obt-noopts muted', '—');
  // required
  const rl = el('label', 'obt-req');
  const req = el('input', 'obt-f-req');
  req.type = 'checkbox'; req.checked = !!f.required;
  req.setAttribute('aria-label', 'Field ' + (idx + 1) + ' required 必填');
  req.addEventListener('change', () => { f.required = req.checked; dirty(); });
  rl.append(req, el('span', 'obt-req-t', 'Required'));
  // remove / undo
  const rm = el('div', 'obt-c c-rm');
  if (!f.removed) {
    const x = button('', 'obt-icon obt-f-remove', () => {
      if (f.saved) f.removed = true; else d.fields.splice(d.fields.indexOf(f), 1);
      dirty(); obRefreshFields();
    }, 'obTrash');
    x.setAttribute('aria-label', 'Remove field 删除字段'); x.title = 'Remove field 删除字段';
    rm.append(x);
  }
  row.append(ord, cell('c-label', 'label', label), cell('c-key', 'key', key), cell('c-type', 'type', type), cell('c-opts', 'options', opts),
    cell('c-req', 'required', rl), rm);
  const whole = el('div', 'field obt-rowerr');
  whole.append(obErrSlot(p));
  row.append(whole);
  if (f.removed) {
    for (const x of $$('input, select', row)) x.disabled = true;
    const note = el('div', 'obt-removed-note');
    note.append(icon('alert'), el('span', '', 'Removed on save: the values of “' + (f.label || f.key) + '” are deleted from every record. 保存后将删除该字段及其所有数据。'),
      button('Undo 撤销', 'small obt-f-undo', () => { f.removed = false; dirty(); obRefreshFields(); }, 'obUndo'));
    row.append(note);
  }
  return row;
}
function obMoveField(d, f, dir) {
  const live = d.fields.filter((x) => !x.removed);
  const at = live.indexOf(f), to = at + dir;
  if (at < 0 || to < 0 || to >= live.length) return;
  const other = live[to];
  const i = d.fields.indexOf(f), j = d.fields.indexOf(other);
  d.fields[i] = other; d.fields[j] = f;
  ob.admin.dirty = true;
  obRefreshFields();
  const row = $(`#obt-fields .obt-frow[data-row="${j}"] ${dir < 0 ? '.obt-f-up' : '.obt-f-down'}`);
  if (row && !row.disabled) row.focus(); else { const r = $(`#obt-fields .obt-frow[data-row="${j}"] .obt-f-label`); if (r) r.focus(); }
}
// the options of a select field: chips, an input that adds on Enter (or a comma; a pasted list adds each line)
function obOptionsEditor(f, idx, dirty) {
  const box = el('div', 'obt-opts');
  const inp = el('input', 'obt-f-opt-in');
  inp.autocomplete = 'off';
  inp.placeholder = f.options.length ? 'add… 添加' : 'option, Enter ↵ 选项';
  inp.title = 'Type an option and press Enter; paste a list to add each line · 输入选项后回车';
  inp.setAttribute('aria-label', 'Field ' + (idx + 1) + ' new option 新选项');
  const chips = () => {
    box.replaceChildren(...f.options.map((o, i) => {
      const c = el('span', 'obt-chip');
      c.dataset.value = o;
      c.append(el('span', '', o));
      const x = el('button', 'obt-chip-x');
      x.type = 'button';
      x.setAttribute('aria-label', 'Remove option ' + o);
      x.append(icon('obX'));
      x.addEventListener('click', () => { f.options.splice(i, 1); dirty(); chips(); inp.focus(); });
      c.append(x);
      return c;
    }), inp);
    inp.placeholder = f.options.length ? 'add… 添加' : 'option, Enter ↵ 选项';
  };
  const addText = (text) => {
    let added = false;
    for (const part of String(text).split(/[\n,，、]/)) {
      const v = part.trim();
      if (!v) continue;
      if (f.options.includes(v)) { box.classList.add('dup'); setTimeout(() => box.classList.remove('dup'), 600); continue; }
      f.options.push(v); added = true;
    }
    if (added) { dirty(); obFieldFixed({ target: box }); }
    return added;
  };
  inp.addEventListener('keydown', (e) => {
    if (e.key === 'Enter' || e.key === ',' || e.key === '，') {
      e.preventDefault();
      if (addText(inp.value)) { inp.value = ''; chips(); inp.focus(); } else inp.value = inp.value.trim() && f.options.includes(inp.value.trim()) ? '' : inp.value;
    } else if (e.key === 'Backspace' && !inp.value && f.options.length) {
      f.options.pop(); dirty(); chips(); inp.focus();
    }
  });
  inp.addEventListener('paste', (e) => {
    const text = (e.clipboardData || window.clipboardData).getData('text');
    if (!/[\n,，、]/.test(text)) return;
    e.preventDefault();
    addText(text); inp.value = ''; chips(); inp.focus();
  });
  inp.addEventListener('blur', () => { if (inp.value.trim() && addText(inp.value)) { inp.value = ''; chips(); } });
  box.addEventListener('click', (e) => { if (e.target === box) inp.focus(); });
  chips();
  return box;
}
async function obAdminSave(form, d, save) {
  const general = $('#obt-error');
  // an option typed but not yet added counts
  for (const i of $$('.obt-f-opt-in', form)) if (i.value.trim()) i.dispatchEvent(new Event('blur'));
  obClearErrors(form); general.textContent = '';
  const fields = d.fields.filter((f) => !f.removed).map((f) => {
    const o = { key: f.key.trim(), label: f.label.trim(), type: f.type, required: !!f.required };
    if (OB_SELECTS.includes(f.type)) o.options = f.options.slice();
    return o;
  });
  const body = { label: d.label.trim(), relations: { deal: !!d.relations.deal, ticket: !!d.relations.ticket }, fields };
  if (d.saved) {
    body.label_plural = d.label_plural.trim() || null;
    if (d.title_field) body.title_field = d.title_field;
  } else {
    body.key = d.key.trim();
    if (d.label_plural.trim()) body.label_plural = d.label_plural.trim();
    if (d.title_field) body.title_field = d.title_field;
  }
  form.dataset.state = 'saving';
  save.disabled = true;
  try {
    const t = d.saved ? await api('PATCH', '/api/v1/object-types/' + encodeURIComponent(d.key), body)
      : await api('POST', '/api/v1/object-types', body);
    const list = ob.types || (ob.types = []);
    const at = list.findIndex((x) => x.key === t.key);
    if (at >= 0) list[at] = { ...list[at], ...t }; else list.push(t);
    list.sort((x, y) => String(x.label).localeCompare(String(y.label)) || (x.id || 0) - (y.id || 0));
    ob.typesAt = Date.now();
    obSyncTab();
    ob.lists.delete(t.key); // the fields may have changed: filters start afresh
    ob.admin.sel = t.key;
    ob.admin.draft = obDraftOf(obType(t.key));
    ob.admin.dirty = false;
    if (state.view === 'objecttypes' && state.viewArg !== t.key) {
      state.viewArg = t.key;
      history.replaceState(null, '', viewHash('objecttypes', t.key));
    }
    obAdminRender();
    const nf = $('#obt-form');
    nf.dataset.state = 'saved';
    const note = $('#obt-saved');
    note.replaceChildren(icon('obCheck'), document.createTextNode(d.saved ? 'Saved 已保存' : 'Created 已创建'));
    note.classList.add('on');
    toast((d.saved ? 'Saved 已保存: ' : 'Created 已创建: ') + t.label, 'good');
  } catch (e) {
    form.dataset.state = 'error';
    const f = fieldsOf(e);
    if (e.status === 409 && (e.data && e.data.error && e.data.error.code) === 'duplicate') {
      obShowErrors(form, { key: 'a type with this key already exists · 该键已被使用' }, general, {});
    } else if (f) {
      const labels = { key: 'Key 键', label: 'Label 名称', label_plural: 'Plural label 复数名称', title_field: 'Title field 标题字段',
        relations: 'Relations 关联', fields: 'Fields 字段' };
      fields.forEach((x, i) => { for (const k of ['', '.key', '.label', '.type', '.options', '.required']) labels['fields[' + i + ']' + k] = 'Field ' + (i + 1) + ' ' + (x.label || x.key) + (k ? ' ' + k.slice(1) : ''); });
      obShowErrors(form, f, general, labels);
    } else general.textContent = errText(e);
  } finally {
    save.disabled = false;
  }
}
function obConfirmTypeDelete(btn, d) {
  const conf = el('div', 'ob-confirm obt-confirm');
  const n = typeof d.records === 'number' ? d.records : null;
  conf.append(el('span', 'confirm', n ? 'It still has ' + plural(n, 'record') + ' — delete them first. 仍有记录，无法删除。'
    : 'Delete the type “' + d.label + '”? 删除该类型？'));
  const yes = button('Delete 删除', 'danger-solid small', async () => {
    yes.disabled = true;
    try {
      await api('DELETE', '/api/v1/object-types/' + encodeURIComponent(d.key));
      ob.types = (ob.types || []).filter((x) => x.key !== d.key);
      ob.lists.delete(d.key);
      obSyncTab();
      toast('Deleted 已删除: ' + d.label, 'good');
      ob.admin.dirty = false;
      obAdminSelect(ob.types[0] ? ob.types[0].key : 'new');
    } catch (e) {
      yes.disabled = false;
      const code = e.data && e.data.error && e.data.error.code;
      $('.confirm', conf).textContent = code === 'in_use' ? 'Records of this type still exist — delete them first. 仍有该类型的记录，请先删除记录。' : errText(e);
      yes.hidden = true;
    }
  }, 'obTrash');
  yes.id = 'obt-delete-yes';
  const no = button('Keep 保留', 'small', () => conf.replaceWith(btn));
  no.id = 'obt-delete-no';
  conf.append(yes, no);
  btn.replaceWith(conf);
  no.focus();
}

/* ---------- start, stop, live events ---------- */
function objectsStart(agent) {
  clearTimeout(ob.loadTimer);
  Object.assign(ob, { types: null, typesAt: 0, typesLoad: null, cur: null, rec: null, flash: 0, admin: { sel: null, draft: null, dirty: false } });
  ob.lists.clear();
  const tab = $('.tab[data-view=objects]');
  if (tab) tab.hidden = agent.role !== 'admin';
  $('#ob-page').replaceChildren();
  $('#ob-page').dataset.arg = '';
  $('#obt-page').replaceChildren();
  obEnsureTypes(true).catch(() => {});
}
function objectsStop() {
  clearTimeout(ob.loadTimer);
  ob.types = null; ob.rec = null; ob.lists.clear();
  const d = $('#ob-dialog');
  if (d && d.open) d.close();
  $('#ob-page').replaceChildren();
  $('#ob-page').dataset.arg = '';
  $('#obt-page').replaceChildren();
}
let obFrameTimer = null;
function objectsFrame(m) {
  if (!m || typeof m.type !== 'string' || !m.type.startsWith('object.')) return;
  const o = m.object || {};
  if (state.view === 'objects' && ob.cur && (!o.type || o.type === ob.cur) && $('#ob-list')) {
    clearTimeout(obFrameTimer);
    obFrameTimer = setTimeout(() => { if (state.view === 'objects' && ob.cur) obLoadList().catch(() => {}); }, 400);
  }
}
