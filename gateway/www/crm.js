// Switchboard console — the CRM pages (docs/api.md, "Customers" to "Sales"): the customer
// 360 page, the pipeline kanban, leads, duplicates and merge, CSV import, custom fields
// (admins) and the reminders bell. Loaded after app.js and built on its helpers (el, opt,
// badge, icon, avatar, api, errText, toast, go, state). As in app.js, data is only ever
// set as text (textContent, attributes): nothing from the server becomes markup.
'use strict';

Object.assign(ICONS, {
  flag: 'M14.4 6 14 4H5v17h2v-7h5.6l.4 2h7V6z',
  deal: 'M20 6h-4V4a2 2 0 0 0-2-2h-4a2 2 0 0 0-2 2v2H4a2 2 0 0 0-2 2v11a2 2 0 0 0 2 2h16a2 2 0 0 0 2-2V8a2 2 0 0 0-2-2zm-6 0h-4V4h4z',
  merge: 'M17 20.41 18.41 19 15 15.59 13.59 17zM7.5 8H11v5.59L5.59 19 7 20.41l6-6V8h3.5L12 3.5z',
  pin: 'M12 2a7 7 0 0 0-7 7c0 5.25 7 13 7 13s7-7.75 7-13a7 7 0 0 0-7-7zm0 9.5a2.5 2.5 0 1 1 0-5 2.5 2.5 0 0 1 0 5z',
  pencil: 'M3 17.25V21h3.75L17.81 9.94l-3.75-3.75zM20.71 7.04a1 1 0 0 0 0-1.41l-2.34-2.34a1 1 0 0 0-1.41 0l-1.83 1.83 3.75 3.75z',
  check: 'M9 16.17 4.83 12l-1.42 1.41L9 19 21 7l-1.41-1.41z',
  user: 'M12 12a4 4 0 1 0 0-8 4 4 0 0 0 0 8zm0 2c-2.67 0-8 1.34-8 4v2h16v-2c0-2.66-5.33-4-8-4z',
  calendar: 'M19 4h-1V2h-2v2H8V2H6v2H5a2 2 0 0 0-2 2v14a2 2 0 0 0 2 2h14a2 2 0 0 0 2-2V6a2 2 0 0 0-2-2zm0 16H5V9h14z',
  block: 'M12 2a10 10 0 1 0 0 20 10 10 0 0 0 0-20zM4 12a8 8 0 0 1 12.9-6.32L5.68 16.9A7.95 7.95 0 0 1 4 12zm8 8a7.95 7.95 0 0 1-4.9-1.68L18.32 7.1A8 8 0 0 1 12 20z',
  tag: 'M21.41 11.58l-9-9A2 2 0 0 0 11 2H4a2 2 0 0 0-2 2v7a2 2 0 0 0 .59 1.42l9 9a2 2 0 0 0 2.82 0l7-7a2 2 0 0 0 0-2.84zM6.5 8A1.5 1.5 0 1 1 8 6.5 1.5 1.5 0 0 1 6.5 8z',
  grip: 'M9 4h2v2H9zm4 0h2v2h-2zM9 9h2v2H9zm4 0h2v2h-2zm-4 5h2v2H9zm4 0h2v2h-2zm-4 5h2v2H9zm4 0h2v2h-2z',
  back: 'M20 11H7.83l5.59-5.59L12 4l-8 8 8 8 1.41-1.41L7.83 13H20z',
  note: 'M14 2H6a2 2 0 0 0-2 2v16a2 2 0 0 0 2 2h12a2 2 0 0 0 2-2V8zm2 16H8v-2h8zm0-4H8v-2h8zm-3-5V3.5L18.5 9z',
  verified: 'M12 1 3 5v6c0 5.55 3.84 10.74 9 12 5.16-1.26 9-6.45 9-12V5zm-2 16-4-4 1.41-1.41L10 14.17l6.59-6.59L18 9z',
});

const SELLERS = ['admin', 'manager', 'sales'];
const canSell = () => !!state.me && SELLERS.includes(state.me.role);
Object.assign(VIEW_ROLES, { pipeline: SELLERS, leads: SELLERS, duplicates: SELLERS, import: SELLERS, fields: ['admin'] });
Object.assign(VIEW_TAB, { customer: 'customers', duplicates: 'customers', import: 'customers' });
Object.assign(VIEWS, {
  customer: (id) => loadCustomer360(id),
  pipeline: () => loadPipeline(),
  leads: () => loadLeads(),
  duplicates: () => loadDuplicates(),
  import: () => renderImport(),
  fields: () => loadFieldDefs(),
});

const LIFECYCLE = [['potential', 'Potential', '潜在'], ['contacted', 'Contacted', '已接触'], ['proposal', 'Proposal', '方案'],
  ['won', 'Won', '成交'], ['maintain', 'Maintain', '维护'], ['renewal', 'Renewal', '续约']];
const CHURNED = ['churned', 'Churned', '流失'];
const STAGE_NAME = Object.fromEntries([...LIFECYCLE, CHURNED].map(([k, en, zh]) => [k, en + ' ' + zh]));
const CUST_TYPE = { new: 'New 新客户', returning: 'Returning 老客户', churned: 'Churned 流失客户' };
const METHODS = { call: ['Call 电话', 'phone'], visit: ['Visit 拜访', 'pin'], email: ['E-mail 邮件', 'email'],
  wechat: ['WeChat 微信', 'chat'], other: ['Other 其他', 'note'] };
const STAGE_REASON = { created: 'when created', manual: 'set by hand', deal: 'by a deal', import: 'by an import', lead: 'from a lead' };
const LEAD_STATUS = { new: 'New 新线索', working: 'Working 跟进中', converted: 'Converted 已转化', disqualified: 'Disqualified 无效' };
const ASSIGNED_BY = { manual: 'by hand', region: 'by region', least_busy: 'least busy' };
// reminders that are about a page of the console, rather than a customer or deal
const REMINDER_VIEW = { webhook_disabled: 'integrations', approval: 'approvals' };
const REMINDER_KIND = { no_followup: 'No follow-up 未跟进', deal_stage: 'Deal stage 商机阶段', payment_due: 'Payment due 回款',
  next_step: 'Next step 下一步', approval: 'Approval 审批', rule: 'Rule 规则', task: 'Task 任务' };
const CURRENCIES = ['CNY', 'USD', 'EUR', 'HKD', 'JPY', 'GBP', 'SGD', 'TWD'];
const FIELD_TYPE = { text: 'Text 文本', number: 'Number 数字', date: 'Date 日期', select: 'Select 单选', multiselect: 'Multi-select 多选' };
// names of the customer's own fields (import errors, merge pairs)
const CUSTOMER_FIELD = { name: 'Name 姓名', email: 'E-mail 邮箱', phone: 'Phone 手机', company: 'Company 公司', industry: 'Industry 行业',
  type: 'Type 类型', stage: 'Stage 阶段', grade: 'Grade 等级', source: 'Source 来源', region: 'Region 地区', address: 'Address 地址',
  uscc: 'USCC 统一社会信用代码', customer_no: 'Customer no. 客户编号', tags: 'Tags 标签', owner_email: 'Owner 负责人邮箱', owner_id: 'Owner 负责人' };

const crm = {
  stages: [], stagesAt: 0, fieldDefs: [], fieldsAt: 0, agents: new Map(), agentRoles: new Map(),
  c: null, tl: null, fuForm: null, fuFor: 0, fieldsEditing: false, fieldsCard: null, refreshTimer: null,
  deals: new Map(), dealsLoaded: false, moving: new Map(), cardErrors: new Map(), dragging: 0, focusDeal: 0, flashDeal: 0,
  leads: [], dupDetail: new Map(), reminders: [], bellOpen: false, importFile: null,
  dealCustomer: null, lostFor: null, convertLead: null, editingField: null,
};

/* ---------- helpers ---------- */
function money(amount, currency) {
  const n = Number(amount) || 0, cur = currency || 'CNY';
  try {
    return new Intl.NumberFormat(undefined, { style: 'currency', currency: cur, currencyDisplay: cur === 'CNY' ? 'narrowSymbol' : 'symbol',
      minimumFractionDigits: Number.isInteger(n) ? 0 : 2, maximumFractionDigits: 2 }).format(n);
  } catch (e) {
    return cur + ' ' + n.toLocaleString();
  }
}
// "¥170,000 + $5,000" for a map currency → sum
function moneySum(sums) {
  const parts = [...sums].filter(([, v]) => v).sort(([a], [b]) => (a === 'CNY' ? -1 : b === 'CNY' ? 1 : a.localeCompare(b)))
    .map(([cur, v]) => money(v, cur));
  return parts.length ? parts.join(' + ') : money(0, 'CNY');
}
function addTo(sums, cur, v) { sums.set(cur || 'CNY', (sums.get(cur || 'CNY') || 0) + (Number(v) || 0)); }
// a date-only value (YYYY-MM-DD, or the date of a time) as "Dec 31, 2026", without time-zone shifts
function dateOnly(s) {
  const m = /^(\d{4})-(\d{2})-(\d{2})/.exec(s || '');
  if (!m) return s || '';
  return new Date(Number(m[1]), Number(m[2]) - 1, Number(m[3])).toLocaleDateString(undefined, { year: 'numeric', month: 'short', day: 'numeric' });
}
// "Nov 23", or "Nov 23, 2025" for another year
function shortDate(s) {
  const m = /^(\d{4})-(\d{2})-(\d{2})/.exec(s || '');
  if (!m) return s || '';
  const d = new Date(Number(m[1]), Number(m[2]) - 1, Number(m[3]));
  return d.toLocaleDateString(undefined, d.getFullYear() === new Date().getFullYear() ? { month: 'short', day: 'numeric' } : { year: 'numeric', month: 'short', day: 'numeric' });
}
function isPastDate(s) {
  const m = /^(\d{4})-(\d{2})-(\d{2})/.exec(s || '');
  if (!m) return false;
  const today = new Date(); today.setHours(0, 0, 0, 0);
  return new Date(Number(m[1]), Number(m[2]) - 1, Number(m[3])) < today;
}
function fullTime(iso) {
  const d = new Date(iso);
  return isNaN(d) ? '' : d.toLocaleString(undefined, { year: 'numeric', month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit' });
}
// "due in 3d", "2h overdue"
function dueText(iso) {
  const t = Date.parse(iso);
  if (isNaN(t)) return '';
  const s = (t - serverNow()) / 1000;
  if (s > 7 * 86400) return 'due ' + dateOnly(iso);
  return s >= 0 ? 'due in ' + span(s) : span(-s) + ' overdue';
}
// a number when the text is one; the text itself otherwise (for the server to refuse); '' → undefined
const numOr = (s) => { const v = String(s).trim().replace(/,/g, ''); return !v ? undefined : /^-?\d+(\.\d+)?$/.test(v) ? Number(v) : v; };
const fieldsOf = (e) => (e && e.data && e.data.error && e.data.error.fields) || null;
function ownerName(id, name) {
  if (!id) return 'Unassigned 未分配';
  if (state.me && id === state.me.id) return (name || state.me.name) + ' (you)';
  return name || crm.agents.get(id) || 'Agent #' + id;
}
function stageLabel(s) { return STAGE_NAME[s] || s || ''; }
function button(text, cls, onClick, iconName) {
  const b = el('button', cls || '', text);
  b.type = 'button';
  if (iconName) b.prepend(icon(iconName));
  if (onClick) b.addEventListener('click', onClick);
  return b;
}
function clearErrors(form) {
  for (const e of $$('.field-error', form)) e.textContent = '';
  for (const e of $$('.invalid', form)) e.classList.remove('invalid');
}
// puts each of the server's field errors next to its field (.field-error[data-for=KEY]);
// the others go to restEl, named
function showErrors(form, fields, restEl, labels = {}) {
  const rest = [];
  for (const [k, why] of Object.entries(fields || {})) {
    const slot = $(`.field-error[data-for="${CSS.escape(k)}"]`, form);
    if (slot) {
      slot.textContent = why;
      const f = slot.closest('.field, .cf-row');
      if (f) f.classList.add('invalid');
    } else rest.push((labels[k] || CUSTOMER_FIELD[k] || k) + ': ' + why);
  }
  if (restEl) restEl.textContent = rest.join('; ');
  const first = $('.invalid', form);
  if (first) first.scrollIntoView({ block: 'nearest' });
}
function sectionCard(title, cls) {
  const s = el('section', 'card crm-card' + (cls ? ' ' + cls : ''));
  const h = el('header', 'crm-card-head');
  h.append(el('h3', '', title));
  s.append(h);
  return s;
}
function emptyLine(text) { return el('p', 'muted crm-empty', text); }

async function ensureStages(force) {
  if (!force && crm.stages.length && Date.now() - crm.stagesAt < 60000) return crm.stages;
  const r = await api('GET', '/api/v1/pipeline-stages');
  crm.stages = r.items.slice().sort((a, b) => a.position - b.position || a.id - b.id);
  crm.stagesAt = Date.now();
  return crm.stages;
}
const stageById = (id) => crm.stages.find((s) => s.id === id);
async function ensureFieldDefs(force) {
  if (!force && crm.fieldsAt && Date.now() - crm.fieldsAt < 60000) return crm.fieldDefs;
  const r = await api('GET', '/api/v1/field-defs');
  crm.fieldDefs = r.items.slice().sort((a, b) => a.position - b.position || a.id - b.id);
  crm.fieldsAt = Date.now();
  return crm.fieldDefs;
}
const fieldOptions = (def) => (Array.isArray(def.options) ? def.options : [])
  .map((o) => (o && typeof o === 'object' ? { value: String(o.value), label: String(o.label || o.value) } : { value: String(o), label: String(o) }));
function fieldLabel(key) {
  const k = key.startsWith('attrs.') ? key.slice(6) : null;
  if (k === null) return CUSTOMER_FIELD[key] || key;
  const d = crm.fieldDefs.find((x) => x.key === k);
  return d ? d.label + ' (' + k + ')' : k;
}

/* ---------- customer 360 ---------- */
async function loadCustomer360(id) {
  const box = $('#c360');
  if (!crm.c || crm.c.id !== id) {
    crm.fieldsEditing = false; crm.fieldsCard = null;
    box.replaceChildren(el('div', 'empty', 'Loading… 加载中'));
  }
  let c;
  try {
    [c, crm.custLayout] = await Promise.all([api('GET', '/api/v1/customers/' + id), ensureLayout('customer'), ensureFieldDefs(), ensureStages(),
      ensureFieldAccess()]);
  } catch (e) {
    if (state.view !== 'customer' || state.viewArg !== id) return;
    const d = el('div', 'empty');
    d.append(icon('people', 'big'), el('p', '', e.status === 404 ? 'No such customer, or it is outside your data scope. 客户不存在或不在您的权限范围内。' : errText(e)),
      button('Back to customers', 'small', () => go('customers')));
    box.replaceChildren(d);
    crm.c = null;
    return;
  }
  if (state.view !== 'customer' || state.viewArg !== id) return;
  if (c.resolved_from && c.id !== id) { // an absorbed record: its survivor
    state.viewArg = c.id;
    history.replaceState(null, '', viewHash('customer', c.id));
  }
  const same = crm.c && crm.c.id === c.id;
  if (!same) { crm.fuForm = null; crm.fieldsEditing = false; crm.fieldsCard = null; }
  const prev = same ? crm.tl : null;
  crm.c = c;
  crm.tl = { items: [], seen: new Set(), next: nextBefore(c, 'timeline_next', c.timeline), loading: false };
  addTimeline(c.timeline || []);
  // a re-read keeps the older pages already loaded
  if (prev && prev.items.length > crm.tl.items.length && crm.tl.next) {
    addTimeline(prev.items.filter((t) => !crm.tl.seen.has(tlKey(t))));
    crm.tl.next = prev.next;
  }
  renderC360();
}

// re-read the open profile (a live event, or after a change), keeping what is being typed
function refresh360Soon(id) {
  if (state.view !== 'customer' || !crm.c || (id && crm.c.id !== id)) return;
  clearTimeout(crm.refreshTimer);
  crm.refreshTimer = setTimeout(() => { if (state.view === 'customer' && crm.c) loadCustomer360(crm.c.id); }, 250);
}

function renderC360() {
  const c = crm.c;
  const box = $('#c360');
  // a tag being typed survives a re-render
  const tagIn = $('.tag-add input', box);
  const tagKeep = tagIn && tagIn.dataset.customer === String(c.id) ? { v: tagIn.value, focus: document.activeElement === tagIn } : null;
  box.dataset.customer = c.id;
  const crumbs = el('div', 'crumbs');
  crumbs.append(button('Customers 客户', 'link crumb', () => go('customers'), 'back'), el('span', 'sep', '/'), el('span', '', c.name));
  const parts = [crumbs];
  if (c.resolved_from) {
    const n = el('p', 'dialog-note', 'Customer #' + c.resolved_from + ' was merged into this one; you are seeing the surviving record. 该客户已合并到此记录。');
    parts.push(n);
  }
  parts.push(c360Head(c));
  const grid = el('div', 'c360-grid');
  const main = el('div', 'c360-main'), side = el('div', 'c360-side');
  main.append(followupsCard(c), timelineCard(c));
  // a card per custom object type (objects.js) after the deals
  const objs = typeof objectCards === 'function' ? objectCards(c) : [];
  side.append(customFieldsCard(c), dealsCard(c), ...objs, remindersCard(c), profileCard(c), ticketsCard(c), attachmentsCard(c), optOutsCard(c));
  grid.append(main, side);
  parts.push(grid);
  box.replaceChildren(...parts);
  const ni = $('.tag-add input', box);
  if (ni && tagKeep && !ni.disabled) { ni.value = tagKeep.v; if (tagKeep.focus) ni.focus(); }
}

function c360Head(c) {
  const head = el('header', 'card c360-head');
  const top = el('div', 'c360-top');
  top.append(avatar(c.name, 'xl'));
  const id = el('div', 'c360-id');
  const h = el('h2', 'c360-name');
  h.append(el('span', 'cn', c.name));
  if (c.customer_no) h.append(el('span', 'c360-no', c.customer_no));
  if (c.type) h.append(badge(CUST_TYPE[c.type] || c.type, 'ctype ' + c.type));
  id.append(h);
  const facts = el('div', 'c360-facts');
  const fact = (ic, text, title) => { if (!text) return; const f = el('span', 'fact', text); f.prepend(icon(ic)); if (title) f.title = title; facts.append(f); };
  fact('company', c.company, 'Company 公司');
  fact('deal', c.industry, 'Industry 行业');
  fact('pin', c.region, 'Region 地区');
  fact('user', 'Owner: ' + ownerName(c.owner_id, c.owner_name), 'Owner 负责人');
  id.append(facts, tagsRow(c));
  top.append(id);
  // figures at a glance
  const kpis = el('div', 'c360-kpis');
  const open = (c.deals || []).filter((d) => d.status === 'open');
  const sums = new Map();
  for (const d of open) addTo(sums, d.currency, d.amount);
  const kpi = (label, value, sub) => { const k = el('div', 'kpi'); k.append(el('span', 'kpi-v', value), el('span', 'kpi-l', label)); if (sub) k.title = sub; kpis.append(k); };
  kpi('Open deals 进行中商机', open.length ? moneySum(sums) : '—', open.length + ' open');
  kpi('Conversations 会话', String((c.tickets || []).length));
  const last = (c.activities || [])[0];
  kpi('Last follow-up 最近跟进', last ? ago(last.happened_at) : 'never', last ? fullTime(last.happened_at) : '');
  top.append(kpis);
  const life = el('div', 'c360-life');
  life.append(el('span', 'life-l', 'Lifecycle 客户阶段'), lifecycle(c));
  head.append(top, life);
  return head;
}

// potential → contacted → proposal → won → maintain → renewal, and churned aside
function lifecycle(c) {
  const wrap = el('div', 'lifecycle-wrap');
  const ol = el('ol', 'lifecycle');
  ol.setAttribute('aria-label', 'Lifecycle stage 客户阶段');
  const at = LIFECYCLE.findIndex(([k]) => k === c.stage);
  const editable = canSell();
  const chip = ([k, en, zh], cls) => {
    const li = el('li', 'lc ' + cls);
    const b = el(editable ? 'button' : 'span', 'lc-chip');
    b.append(el('span', 'lc-en', en), el('span', 'lc-zh', zh));
    b.dataset.stage = k;
    if (k === c.stage) { li.classList.add('current'); b.setAttribute('aria-current', 'step'); }
    if (editable) {
      b.type = 'button';
      b.title = k === c.stage ? 'Current stage' : 'Set the stage to ' + en + ' ' + zh;
      b.disabled = k === c.stage;
      b.addEventListener('click', () => setCustomerStage(c, k));
    }
    li.append(b);
    return li;
  };
  LIFECYCLE.forEach((s, i) => ol.append(chip(s, at >= 0 && i < at ? 'done' : at === i ? '' : 'todo')));
  const churn = el('ol', 'lifecycle churn-list');
  churn.append(chip(CHURNED, 'churn'));
  wrap.append(ol, churn);
  return wrap;
}
async function setCustomerStage(c, stage) {
  try {
    await api('PATCH', '/api/v1/customers/' + c.id, { stage });
    toast('Stage: ' + stageLabel(stage), 'good');
  } catch (e) { toast('Stage not changed: ' + errText(e), 'bad'); }
  refresh360Soon(c.id);
}

function tagsRow(c) {
  const row = el('div', 'c360-tags');
  row.setAttribute('aria-label', 'Tags 标签');
  const editable = canSell();
  for (const t of c.tags || []) {
    const b = badge(t, 'tag');
    if (editable) {
      const x = el('button', 'tag-x', '×');
      x.type = 'button'; x.title = 'Remove tag ' + t; x.setAttribute('aria-label', 'Remove tag ' + t);
      x.addEventListener('click', async () => {
        x.disabled = true;
        try { await api('DELETE', '/api/v1/customers/' + c.id + '/tags/' + encodeURIComponent(t)); toast('Tag removed: ' + t, 'good'); }
        catch (e) { toast(errText(e), 'bad'); }
        refresh360Soon(c.id);
      });
      b.append(x);
    }
    row.append(b);
  }
  if (!(c.tags || []).length) row.append(el('span', 'muted small-note', 'No tags 无标签'));
  if (editable) {
    const f = el('form', 'tag-add');
    const i = el('input');
    i.placeholder = '+ tag 标签'; i.setAttribute('aria-label', 'Add a tag'); i.maxLength = 64;
    i.dataset.customer = c.id;
    f.append(i);
    f.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      const tags = splitList(i.value);
      if (!tags.length) return;
      i.disabled = true;
      try {
        await api('POST', '/api/v1/customers/' + c.id + '/tags', { tags });
        i.value = '';
        toast('Tagged: ' + tags.join(', '), 'good');
        refresh360Soon(c.id);
      } catch (e) { toast(errText(e), 'bad'); i.disabled = false; }
    });
    row.append(f);
  }
  return row;
}

/* custom fields, shown and edited in place */
function fieldValueNode(def, v) {
  if (v === undefined || v === null || v === '' || (Array.isArray(v) && !v.length)) return el('span', 'muted', '—');
  const opts = def ? fieldOptions(def) : [];
  const lab = (x) => { const o = opts.find((p) => p.value === String(x)); return o ? o.label : String(x); };
  if (def && def.type === 'multiselect' && Array.isArray(v)) { const w = el('span', 'tags'); for (const x of v) w.append(badge(lab(x), 'opt')); return w; }
  if (def && def.type === 'select') return el('span', '', lab(v));
  if (def && def.type === 'date') return el('span', '', dateOnly(String(v)));
  if (def && def.type === 'number' && typeof v === 'number') return el('span', 'num', v.toLocaleString());
  return el('span', '', typeof v === 'object' ? JSON.stringify(v) : String(v));
}
function fieldInput(d, v) {
  let inp;
  if (d.type === 'select') {
    inp = el('select');
    inp.append(opt('', '— none —', v === undefined || v === null || v === ''));
    const opts = fieldOptions(d);
    for (const o of opts) inp.append(opt(o.value, o.label, String(v) === o.value));
    if (v !== undefined && v !== null && v !== '' && !opts.some((o) => o.value === String(v))) inp.append(opt(String(v), String(v) + ' (not an option)', true));
  } else if (d.type === 'multiselect') {
    inp = el('div', 'checks cf-multi');
    const have = Array.isArray(v) ? v.map(String) : [];
    for (const o of fieldOptions(d)) {
      const l = el('label', 'chk');
      const i = el('input'); i.type = 'checkbox'; i.value = o.value; i.checked = have.includes(o.value);
      l.append(i, document.createTextNode(' ' + o.label));
      inp.append(l);
    }
  } else {
    inp = el('input');
    if (d.type === 'date') inp.type = 'date';
    if (d.type === 'number') inp.inputMode = 'decimal';
    inp.value = v === undefined || v === null ? '' : String(v);
    inp.autocomplete = 'off';
  }
  inp.classList.add('cf-input');
  inp.dataset.key = d.key;
  inp.setAttribute('aria-label', d.label);
  return inp;
}
function readField(d, inp) {
  if (d.type === 'multiselect') return $$('input:checked', inp).map((i) => i.value);
  const v = inp.value;
  if (d.type === 'number') { const n = numOr(v); return n === undefined ? null : n; }
  if (d.type === 'text') return v.trim() === '' ? null : v;
  return v === '' ? null : v;
}
/* page layouts and field permissions (docs/layouts.md, docs/field-permissions.md): each
   layout and the caller's own restrictions (GET /field-permissions/mine) are read once per
   sign-in; a failed read is tried again the next time (and meanwhile the default order, and
   no restrictions drawn: the server still refuses what it must). fields.js forgets a layout
   it saved. */
const CUSTOMER_LAYOUT = ['name', 'customer_no', 'company', 'industry', 'type', 'stage', 'grade', 'source', 'region', 'address', 'uscc',
  'owner_id', 'email', 'phone', 'tags'];
// the customer fields field permissions govern (the server leaves a hidden one out of the record)
const GOVERNED_CUSTOMER = ['industry', 'type', 'grade', 'source', 'region', 'address', 'uscc', 'company', 'owner_id'];
function ensureLayout(object) {
  if (!crm.layouts) crm.layouts = new Map();
  let p = crm.layouts.get(object);
  if (!p) {
    p = api('GET', '/api/v1/layouts/' + encodeURIComponent(object)).catch(() => { if (crm.layouts.get(object) === p) crm.layouts.delete(object); return null; });
    crm.layouts.set(object, p);
  }
  return p;
}
function forgetLayout(object) { if (crm.layouts) crm.layouts.delete(object); }
function ensureFieldAccess() {
  if (!crm.accessP) {
    const p = crm.accessP = api('GET', '/api/v1/field-permissions/mine').then((r) => { if (crm.accessP === p) crm.access = r || {}; return r || {}; })
      .catch(() => { if (crm.accessP === p) crm.accessP = null; return crm.access || {}; });
  }
  return crm.accessP;
}
// 'edit' | 'read' | 'hidden' for the signed-in user
const fieldAccess = (object, field) => (crm.access && crm.access[object] && crm.access[object][field]) || 'edit';
// a layout's groups over the fields there are now (as the server does it): fields it does not
// place follow in "Other 其他", gone ones are left out; no layout: one group in the given order
function layoutGroups(layout, fields) {
  if (layout && !layout.customised) layout = null; // the default is the current order (a custom field added since is in it)
  const have = new Set(fields), placed = new Set(), out = [];
  for (const g of (layout && Array.isArray(layout.groups) ? layout.groups : [])) {
    const keep = (Array.isArray(g.fields) ? g.fields : []).filter((k) => have.has(k) && !placed.has(k));
    for (const k of keep) placed.add(k);
    out.push({ title: String(g.title || ''), fields: keep });
  }
  const rest = fields.filter((k) => !placed.has(k));
  if (rest.length) out.push({ title: out.length ? 'Other 其他' : 'Details 详情', fields: rest });
  return out;
}
// a form's input of a governed field: its row hidden, or disabled with a lock (read-only), or as usual
function fieldAccessInput(object, field, inp) {
  const row = inp.closest('.field'), a = fieldAccess(object, field);
  row.hidden = a === 'hidden';
  row.classList.toggle('ro', a === 'read');
  inp.disabled = a === 'read';
  const lock = $('.lock-hint', row);
  if (a === 'read' && !lock) $('.field-error', row).before(lockHint()); else if (a !== 'read' && lock) lock.remove();
}
function lockHint() {
  const s = el('span', 'lock-hint', 'read-only 只读');
  s.prepend(icon('lock'));
  s.title = 'Your role may see this field but not change it 您的角色不可修改此字段';
  return s;
}

/* the customer's fields: drawn group by group as the customer layout says; a field hidden
   from the user is not drawn, a read-only one carries a lock (and is disabled when editing) */
const custDef = (k) => (k.startsWith('attrs.') ? crm.fieldDefs.find((d) => d.key === k.slice(6)) : null);
function custFieldShown(c, k) {
  if (fieldAccess('customer', k) === 'hidden') return false;
  return !GOVERNED_CUSTOMER.includes(k) || k in c;
}
function customerGroups(c) {
  const fields = [...CUSTOMER_LAYOUT, ...crm.fieldDefs.map((d) => 'attrs.' + d.key)];
  return layoutGroups(crm.custLayout, fields).map((g) => ({ title: g.title, fields: g.fields.filter((k) => custFieldShown(c, k)) }))
    .filter((g) => g.fields.length);
}
function custFieldLabel(k) {
  if (k.startsWith('attrs.')) { const d = custDef(k); return d ? d.label : k.slice(6); }
  return CUSTOMER_FIELD[k] || k;
}
function custValueNode(c, k) {
  if (k.startsWith('attrs.')) return fieldValueNode(custDef(k), (c.attrs || {})[k.slice(6)]);
  let v = c[k];
  if (k === 'type') v = CUST_TYPE[v] || v;
  else if (k === 'stage') v = stageLabel(v);
  else if (k === 'owner_id') v = v ? ownerName(v, c.owner_name) : '';
  else if (k === 'tags') {
    if (!(v || []).length) return el('span', 'muted', '—');
    const w = el('span', 'tags');
    for (const t of v) w.append(badge(t, 'tag'));
    return w;
  } else if ((k === 'email' || k === 'phone') && !v) {
    const i = (c.identities || []).find((x) => x.kind === k);
    v = i ? i.value : '';
  }
  return fieldValueNode(null, v);
}
// the profile fields the edit form has an input for: [max length] (0: a choice)
const CUST_EDIT = { name: 200, company: 200, industry: 100, type: 0, grade: 32, source: 64, region: 100, address: 500, uscc: 18 };
const custEditable = (k) => (k.startsWith('attrs.') ? !!custDef(k) : k in CUST_EDIT);
function customFieldsCard(c) {
  if (crm.fieldsEditing && crm.fieldsCard && crm.fieldsCard.dataset.customer === String(c.id)) return crm.fieldsCard;
  crm.fieldsEditing = false;
  const card = sectionCard('Profile 资料', 'cf-card lay-card');
  card.dataset.customer = c.id;
  card.dataset.layout = !crm.custLayout ? 'fallback' : crm.custLayout.customised ? 'custom' : 'default';
  crm.fieldsCard = card;
  const attrs = c.attrs || {};
  const editable = canSell();
  if (editable) $('.crm-card-head', card).append(button('Edit 编辑', 'small cf-edit', () => editCustomFields(card, c), 'pencil'));
  const titled = !!(crm.custLayout && crm.custLayout.customised); // (the default: one group, no title needed)
  for (const g of customerGroups(c)) {
    const sec = el('section', 'lay-group');
    if (titled) sec.append(el('h4', 'lay-title', g.title));
    const dl = el('dl', 'cf-list');
    for (const k of g.fields) {
      const d = custDef(k);
      const dt = el('dt', '', custFieldLabel(k));
      if (d) { dt.title = d.key + (d.required ? ' · required' : ''); if (d.required) dt.append(el('span', 'req', ' *')); }
      const dd = el('dd');
      dd.dataset.field = k;
      if (d) dd.dataset.key = d.key;
      dd.append(custValueNode(c, k));
      const ro = fieldAccess('customer', k) === 'read';
      if (ro) { dd.classList.add('ro'); dd.append(lockHint()); }
      if (editable && !ro && custEditable(k)) { dd.classList.add('editable'); dd.title = 'Click to edit'; dd.addEventListener('click', () => editCustomFields(card, c, k)); }
      dl.append(dt, dd);
    }
    sec.append(dl);
    card.append(sec);
  }
  // values of custom fields no longer defined
  const extra = Object.keys(attrs).filter((k) => !crm.fieldDefs.some((d) => d.key === k) && fieldAccess('customer', 'attrs.' + k) !== 'hidden');
  if (extra.length) {
    const dl = el('dl', 'cf-list');
    for (const k of extra) { dl.append(el('dt', 'muted', k)); const dd = el('dd'); dd.append(fieldValueNode(null, attrs[k])); dl.append(dd); }
    card.append(dl);
  }
  return card;
}
function custInput(k, v) {
  let inp;
  if (k === 'type') {
    inp = el('select');
    if (!v) inp.append(opt('', '—', true));
    for (const [t, label] of Object.entries(CUST_TYPE)) inp.append(opt(t, label, v === t));
  } else {
    inp = el('input');
    inp.maxLength = CUST_EDIT[k];
    inp.autocomplete = 'off';
    inp.value = v === undefined || v === null ? '' : String(v);
    if (k === 'uscc') { inp.spellcheck = false; inp.placeholder = '18 位统一社会信用代码'; }
  }
  inp.classList.add('cf-input');
  inp.dataset.field = k;
  inp.setAttribute('aria-label', CUSTOMER_FIELD[k] || k);
  return inp;
}
function editCustomFields(card, c, focusField) {
  if (crm.fieldsEditing) return;
  crm.fieldsEditing = true;
  const attrs = c.attrs || {};
  const form = el('form', 'cf-form');
  form.noValidate = true;
  const inputs = new Map(); // field → {inp, read(), old}: the editable ones
  let firstInput = null;
  for (const g of customerGroups(c)) {
    const keys = g.fields.filter(custEditable);
    if (!keys.length) continue;
    const fs = el('fieldset', 'lay-fs');
    if (crm.custLayout && crm.custLayout.customised) fs.append(el('legend', 'lay-title', g.title));
    for (const k of keys) {
      const d = custDef(k);
      const row = el('div', 'cf-row field');
      row.dataset.field = k;
      const lab = el('label', 'cf-label', custFieldLabel(k));
      if (d && d.required) lab.append(el('span', 'req', ' *'));
      const inp = d ? fieldInput(d, attrs[d.key]) : custInput(k, c[k]);
      const idf = d ? 'cf-' + d.key : 'cf-c-' + k; // (custom keys have no '-')
      if (inp.tagName !== 'DIV') { inp.id = idf; lab.htmlFor = idf; }
      if (fieldAccess('customer', k) === 'read') {
        row.classList.add('ro');
        for (const x of inp.tagName === 'DIV' ? $$('input', inp) : [inp]) x.disabled = true;
      } else {
        const old = d ? (attrs[d.key] === undefined ? null : attrs[d.key]) : (c[k] === undefined ? null : c[k]);
        const read = d ? () => readField(d, inp) : () => (inp.value.trim() === '' ? null : inp.value);
        inputs.set(k, { inp, read, old });
        if (!firstInput) firstInput = inp;
      }
      const err = el('span', 'field-error');
      err.dataset.for = k;
      row.append(lab, inp);
      if (row.classList.contains('ro')) row.append(lockHint());
      row.append(err);
      fs.append(row);
    }
    form.append(fs);
  }
  const general = el('p', 'error cf-error');
  general.setAttribute('role', 'alert');
  const actions = el('div', 'cf-actions');
  const save = el('button', 'primary small', 'Save 保存'); save.type = 'submit';
  const cancel = button('Cancel', 'ghost small', () => { crm.fieldsEditing = false; crm.fieldsCard = null; renderC360(); });
  actions.append(cancel, save);
  form.append(general, actions);
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    clearErrors(form); general.textContent = '';
    const patch = {}, ap = {};
    for (const [k, x] of inputs) {
      const v = x.read();
      if (JSON.stringify(v) === JSON.stringify(x.old)) continue;
      if (k.startsWith('attrs.')) ap[k.slice(6)] = v; else patch[k] = v;
    }
    if (Object.keys(ap).length) patch.attrs = ap;
    if (!Object.keys(patch).length) { crm.fieldsEditing = false; crm.fieldsCard = null; renderC360(); return; }
    save.disabled = true;
    try {
      const nc = await api('PATCH', '/api/v1/customers/' + c.id, patch);
      crm.fieldsEditing = false; crm.fieldsCard = null;
      crm.c = { ...crm.c, ...nc, attrs: nc.attrs };
      renderC360();
      toast('Saved 已保存', 'good');
      refresh360Soon(c.id);
    } catch (e) {
      const f = fieldsOf(e) || (e.data && e.data.error && e.data.error.field ? { [e.data.error.field]: errText(e) } : null);
      if (f) showErrors(form, f, general, Object.fromEntries(crm.fieldDefs.map((d) => ['attrs.' + d.key, d.label])));
      else general.textContent = errText(e);
      save.disabled = false;
    }
  });
  const groups = $$('.lay-group, dl.cf-list', card);
  if (groups.length) { groups[0].before(form); for (const x of groups) x.remove(); } else card.append(form);
  const editBtn = $('.cf-edit', card);
  if (editBtn) editBtn.hidden = true;
  const first = (focusField && inputs.get(focusField) && inputs.get(focusField).inp) || firstInput;
  if (first) (first.tagName === 'DIV' ? $('input', first) || first : first).focus();
}

// the profile fields themselves are in the layout-driven card above (customFieldsCard)
function profileCard(c) {
  const card = sectionCard('Record 记录', 'profile-card');
  const dl = el('dl', 'facts');
  const fact = (k, v) => { if (v) dl.append(el('dt', '', k), el('dd', '', v)); };
  fact('Created 创建', fullTime(c.created_at));
  fact('Last contact 最近联系', c.last_contact_at ? fullTime(c.last_contact_at) : '');
  for (const m of c.merged_from || []) fact('Merged 合并', '#' + m.id + ' · ' + fullTime(m.at));
  card.append(dl);
  const ids = el('div', 'idents');
  ids.append(el('h4', '', 'Contact 联系方式'));
  const ICON = { email: 'email', phone: 'phone', chat: 'chat', external: 'external' };
  for (const i of c.identities || []) {
    const row = el('div', 'ident');
    row.append(icon(ICON[i.kind] || 'external'), el('span', 'val', i.kind === 'chat' ? 'web chat · ' + i.value : i.value));
    if (i.verified) { const v = badge('verified', 'verified'); v.prepend(icon('check')); v.title = 'Verified: this customer has used it'; row.append(v); }
    else { const u = badge('unverified 未验证', 'warn'); u.title = 'Given, not proven: it may belong to another customer (see Duplicates)'; row.append(u); }
    if (i.merged_from) row.title = 'From merged customer #' + i.merged_from;
    ids.append(row);
  }
  if (!(c.identities || []).length) ids.append(emptyLine('No contact details yet.'));
  card.append(ids);
  return card;
}

function dealStageBadge(d) {
  const kind = d.stage_kind || d.status || 'open';
  return badge(d.stage || '', 'stage-b ' + kind);
}
function dealsCard(c) {
  const card = sectionCard('Deals 商机', 'deals-card');
  if (canSell()) $('.crm-card-head', card).append(button('+ New 新建', 'small', () => openDealDialog({ customer: c })));
  const list = el('div', 'deal-rows');
  for (const d of c.deals || []) {
    const r = el('button', 'deal-row');
    r.type = 'button';
    r.dataset.deal = d.id;
    r.title = canSell() ? 'Show in the pipeline' : d.title;
    const top = el('span', 'dr-top');
    top.append(el('span', 'dr-title', d.title), el('span', 'dr-amount', money(d.amount, d.currency)));
    const meta = el('span', 'dr-meta');
    meta.append(dealStageBadge(d));
    if (d.expected_close) {
      const ec = el('span', 'dr-close' + (d.status === 'open' && isPastDate(d.expected_close) ? ' late' : ''), 'close ' + dateOnly(d.expected_close));
      ec.prepend(icon('calendar'));
      meta.append(ec);
    }
    if (d.probability !== undefined && d.status === 'open') meta.append(el('span', 'muted', d.probability + '%'));
    r.append(top, meta);
    r.addEventListener('click', () => { if (canSell()) { crm.flashDeal = d.id; go('pipeline'); } });
    list.append(r);
  }
  if (!(c.deals || []).length) list.append(emptyLine('No deals yet. 暂无商机'));
  card.append(list);
  return card;
}

function reminderRow(r, onDone) {
  const row = el('div', 'rem');
  row.dataset.reminder = r.id;
  const due = Date.parse(r.due_at) <= serverNow();
  row.classList.toggle('due', due);
  const ic = el('span', 'rem-ic'); ic.append(icon(due ? 'bell' : 'clock'));
  const body = el('div', 'rem-body');
  body.append(el('span', 'rem-msg', r.message));
  const meta = el('span', 'rem-meta');
  meta.append(el('span', 'rem-kind', REMINDER_KIND[r.kind] || r.kind));
  const dt = el('span', 'rem-due', dueText(r.due_at));
  dt.title = fullTime(r.due_at);
  meta.append(dt);
  body.append(meta);
  row.append(ic, body);
  const view = REMINDER_VIEW[r.kind];
  if (view && viewAllowed(view)) { // a notice about a page: opens it
    body.classList.add('rem-link');
    body.tabIndex = 0;
    body.setAttribute('role', 'link');
    const open = () => { closeBell(); go(view); };
    body.addEventListener('click', open);
    body.addEventListener('keydown', (e) => { if (e.key === 'Enter') open(); });
  }
  if (onDone && (!r.agent_id || r.agent_id === state.me.id)) {
    const done = button('Done 完成', 'small rem-done', async () => {
      done.disabled = true;
      try {
        await api('PATCH', '/api/v1/reminders/' + r.id, { done: true });
        onDone(r);
      } catch (e) { toast(errText(e), 'bad'); done.disabled = false; }
    }, 'check');
    done.setAttribute('aria-label', 'Mark done: ' + r.message);
    row.append(done);
  }
  return row;
}
function remindersCard(c) {
  const card = sectionCard('Open reminders 待办提醒', 'rem-card');
  for (const r of c.reminders || []) {
    card.append(reminderRow(r, (x) => {
      crm.reminders = crm.reminders.filter((y) => y.id !== x.id);
      renderBell();
      toast('Reminder done 已完成', 'good');
      refresh360Soon(c.id);
    }));
  }
  if (!(c.reminders || []).length) card.append(emptyLine('Nothing pending. 暂无提醒'));
  return card;
}

function ticketsCard(c) {
  const card = sectionCard('Conversations 会话', 'tickets-card');
  for (const t of (c.tickets || []).slice(0, 8)) {
    const r = el('button', 'recent');
    r.type = 'button';
    r.append(el('span', 'rs', t.subject || CHANNEL_LABEL[t.channel] || t.channel));
    const m = el('span', 'rm');
    m.append(channelBadge(t.channel), badge(t.status, t.status), el('span', 'muted', '#' + t.id + ' · ' + ago(t.last_message_at || t.created_at)));
    r.append(m);
    r.addEventListener('click', () => openTicketFrom360(t.id));
    card.append(r);
  }
  if ((c.tickets || []).length > 8) card.append(el('p', 'muted small-note', 'and ' + (c.tickets.length - 8) + ' more'));
  if (!(c.tickets || []).length) card.append(emptyLine('No conversations. 暂无会话'));
  return card;
}
function openTicketFrom360(id) {
  go('tickets');
  openTicket(id).catch((e) => toast(errText(e), 'bad'));
}

function attachmentsCard(c) {
  const card = sectionCard('Attachments 附件', 'att-card');
  const w = el('div', 'atts');
  for (const a of c.attachments || []) {
    const name = a.filename || 'attachment';
    const link = el('a', 'att');
    link.href = a.url;               // the session cookie authorises the download
    link.download = name;
    link.title = name + (a.content_type ? ' · ' + a.content_type : '') + ' · ' + humanSize(a.size) + (a.ticket_id ? ' · from #' + a.ticket_id : '');
    link.append(icon('clip'), el('span', 'att-name', name), el('span', 'att-size', humanSize(a.size)), icon('download', 'att-dl'));
    link.addEventListener('click', (ev) => {
      ev.preventDefault();
      if (link.classList.contains('busy')) return;
      link.classList.add('busy');
      downloadAttachment(a.url, name).catch((e) => toast('Download failed: ' + errText(e), 'bad')).finally(() => link.classList.remove('busy'));
    });
    w.append(link);
  }
  card.append((c.attachments || []).length ? w : emptyLine('No files. 暂无附件'));
  return card;
}

function optOutsCard(c) {
  const card = sectionCard('Opt-outs 退订', 'optout-card');
  for (const s of c.suppressions || []) {
    const row = el('div', 'optout');
    row.append(icon('block'), channelBadge(s.channel), el('span', 'val', s.value));
    const why = el('span', 'muted', (s.reason || '') + (s.created_at ? ' · ' + dateOnly(s.created_at) : ''));
    row.append(why);
    row.title = 'No ' + (s.channel === 'sms' ? 'SMS' : 'e-mail') + ' may be sent to ' + s.value;
    card.append(row);
  }
  if (!(c.suppressions || []).length) card.append(emptyLine('None — all channels open. 未退订'));
  return card;
}

/* follow-ups: the form (kept across re-renders while typing) and the latest ones */
function followupForm(c) {
  if (crm.fuForm && crm.fuFor === c.id) { syncFuDeals(c); return crm.fuForm; }
  const f = el('form', 'fu-form');
  f.noValidate = true;
  const row1 = el('div', 'fu-row');
  const method = el('select', 'fu-method');
  method.setAttribute('aria-label', 'Method 方式');
  for (const [k, [label]] of Object.entries(METHODS)) method.append(opt(k, label, k === 'call'));
  const mWrap = el('label', 'field fu-m', 'Method 方式'); mWrap.append(method, errSlot('method'));
  const deal = el('select', 'fu-deal');
  deal.setAttribute('aria-label', 'Deal 商机');
  const dWrap = el('label', 'field fu-d', 'Deal 商机'); dWrap.append(deal, errSlot('deal_id'));
  row1.append(mWrap, dWrap);
  const content = el('textarea', 'fu-content');
  content.rows = 3; content.maxLength = 4000;
  content.placeholder = 'What was discussed? 沟通内容…';
  content.setAttribute('aria-label', 'Content 内容');
  const cWrap = el('label', 'field fu-c'); cWrap.append(content, errSlot('content'));
  const row2 = el('div', 'fu-row');
  const next = el('input', 'fu-next');
  next.placeholder = 'e.g. 发送报价单 send the quote'; next.maxLength = 500;
  const nWrap = el('label', 'field fu-n', 'Next step 下一步'); nWrap.append(next, errSlot('next_step'));
  const date = el('input', 'fu-date');
  date.type = 'date';
  const tWrap = el('label', 'field fu-t', 'Next date 下次跟进'); tWrap.append(date, errSlot('next_at'));
  const submit = el('button', 'primary fu-save', 'Add follow-up 添加跟进');
  submit.type = 'submit';
  row2.append(nWrap, tWrap, submit);
  const general = el('p', 'error fu-error'); general.setAttribute('role', 'alert');
  f.append(row1, cWrap, row2, general);
  f.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    clearErrors(f); general.textContent = '';
    const body = { customer_id: crm.fuFor, method: method.value, content: content.value };
    if (deal.value) body.deal_id = Number(deal.value);
    if (next.value.trim()) body.next_step = next.value.trim();
    if (date.value) body.next_at = date.value;
    submit.disabled = true;
    try {
      await api('POST', '/api/v1/activities', body);
      content.value = ''; next.value = ''; date.value = ''; deal.value = '';
      toast('Follow-up added 已添加跟进', 'good');
      if (body.next_at) loadReminders();
      refresh360Soon(body.customer_id);
    } catch (e) {
      const fl = fieldsOf(e);
      if (fl) showErrors(f, fl, general, { customer_id: 'Customer' });
      else general.textContent = errText(e);
    } finally { submit.disabled = false; }
  });
  content.addEventListener('keydown', (e) => { if (e.key === 'Enter' && (e.ctrlKey || e.metaKey)) f.requestSubmit(); });
  crm.fuForm = f; crm.fuFor = c.id;
  syncFuDeals(c);
  return f;
}
function errSlot(key) { const s = el('span', 'field-error'); s.dataset.for = key; return s; }
function syncFuDeals(c) {
  const sel = $('.fu-deal', crm.fuForm);
  const keep = sel.value;
  sel.replaceChildren(opt('', '— none —'));
  for (const d of c.deals || []) sel.append(opt(String(d.id), d.title + ' · ' + (d.stage || ''), String(d.id) === keep));
}
function activityItem(a) {
  const [label, ic] = METHODS[a.method] || [a.method, 'note'];
  const li = el('li', 'fu-item');
  const i = el('span', 'fu-ic m-' + a.method); i.append(icon(ic));
  const body = el('div', 'fu-body');
  const head = el('div', 'fu-head');
  head.append(el('span', 'fu-method-l', label), el('span', 'muted', 'by ' + (a.owner_name || ownerName(a.owner_id))));
  const t = el('span', 'fu-when', when(a.happened_at)); t.title = fullTime(a.happened_at);
  head.append(t);
  body.append(head, el('div', 'fu-text', a.content));
  if (a.next_step || a.next_at) {
    const n = el('div', 'fu-next-l');
    n.append(icon('calendar'), el('span', '', 'Next 下一步: ' + (a.next_step || '') + (a.next_at ? (a.next_step ? ' · ' : '') + dateOnly(a.next_at) : '')));
    if (a.next_at && isPastDate(a.next_at)) n.classList.add('late');
    body.append(n);
  }
  li.append(i, body);
  return li;
}
function followupsCard(c) {
  const card = sectionCard('Follow-ups 跟进记录', 'fu-card');
  if (canSell()) card.append(followupForm(c));
  const acts = c.activities || [];
  const ul = el('ul', 'fu-list');
  for (const a of acts.slice(0, 5)) ul.append(activityItem(a));
  if (acts.length) card.append(ul);
  else card.append(emptyLine('No follow-ups yet. 暂无跟进记录'));
  if (acts.length > 5) card.append(el('p', 'muted small-note', acts.length - 5 + ' earlier follow-ups are in the timeline below.'));
  return card;
}

/* the timeline: newest first, older pages with ?before= the server's cursor */
// where the next page starts: the server's cursor (null on the last page)
function nextBefore(o, key, items) {
  if (o && key in o) return o[key] || null;
  const last = (items || [])[(items || []).length - 1];
  return last && (items || []).length >= 50 ? last.cursor || last.at : null;
}
const tlKey = (t) => t.cursor || [t.kind, t.id, t.at].join('~');
function addTimeline(items) {
  let added = 0;
  for (const t of items) {
    const k = tlKey(t);
    if (crm.tl.seen.has(k)) continue;
    crm.tl.seen.add(k); crm.tl.items.push(t); added++;
  }
  return added;
}
async function loadOlderTimeline(c) {
  const tl = crm.tl;
  if (tl.loading || !tl.next) return;
  tl.loading = true;
  renderTimelineList();
  try {
    const r = await api('GET', '/api/v1/customers/' + c.id + '/timeline?' + new URLSearchParams({ before: tl.next, limit: '50' }));
    if (crm.tl !== tl) return;
    const added = addTimeline(r.items);
    tl.next = added ? nextBefore(r, 'next_before', r.items) : null;
  } catch (e) {
    toast(errText(e), 'bad');
  } finally {
    tl.loading = false;
    if (crm.tl === tl) renderTimelineList();
  }
}
const TL_ICON = { stage: 'flag', deal_stage: 'deal', merge: 'merge' };
function timelineItem(t, c) {
  const li = el('li', 'tl-item tl-' + t.kind);
  li.dataset.kind = t.kind;
  let ic = TL_ICON[t.kind] || 'note';
  const body = el('div', 'tl-body');
  const head = el('div', 'tl-head');
  const title = el('span', 'tl-title');
  const text = (s, cls) => body.append(el('div', 'tl-text' + (cls ? ' ' + cls : ''), s));
  switch (t.kind) {
    case 'message': {
      ic = ICONS[t.channel] ? t.channel : 'chat';
      const who = t.direction === 'in' ? (c.name || 'Customer') : t.actor_type === 'bot' ? 'Automatic reply' : t.actor_type === 'system' ? 'System' : (t.actor_id ? ownerName(t.actor_id) : 'Agent');
      title.textContent = t.internal ? 'Internal note · ' + who : t.direction === 'in' ? who + ' wrote' : who + ' replied';
      head.append(title, channelBadge(t.channel || 'chat'));
      if (t.ticket_id) {
        const tk = button('#' + Number(t.ticket_id), 'link tl-ticket', () => openTicketFrom360(Number(t.ticket_id)));
        tk.title = 'Open the conversation';
        head.append(tk);
      }
      text(t.text, t.internal ? 'note' : t.direction === 'in' ? 'in' : 'out');
      break;
    }
    case 'stage':
      title.textContent = t.from_value ? 'Stage ' + stageLabel(t.from_value) + ' → ' + stageLabel(t.to_value) : 'Stage set to ' + stageLabel(t.to_value);
      head.append(title);
      if (t.text) head.append(el('span', 'muted', STAGE_REASON[t.text] || t.text));
      break;
    case 'activity': {
      const [label, mi] = METHODS[t.channel] || [t.channel || 'Follow-up', 'note'];
      ic = mi;
      title.textContent = 'Follow-up · ' + label;
      head.append(title);
      if (t.actor_id) head.append(el('span', 'muted', 'by ' + ownerName(t.actor_id)));
      text(t.text);
      if (t.from_value || t.to_value) text('Next 下一步: ' + (t.from_value || '') + (t.to_value ? (t.from_value ? ' · ' : '') + dateOnly(t.to_value) : ''), 'next');
      break;
    }
    case 'deal_stage':
      title.textContent = t.from_value ? 'Deal “' + t.text + '”: ' + t.from_value + ' → ' + t.to_value : 'New deal “' + t.text + '” in ' + t.to_value;
      head.append(title);
      if (t.deal_id && canSell()) head.append(button('pipeline', 'link tl-ticket', () => { crm.flashDeal = t.deal_id; go('pipeline'); }));
      break;
    case 'merge': {
      title.textContent = 'Merged customer #' + (t.from_value || t.id) + ' into this one';
      head.append(title);
      let moved = null;
      try { moved = JSON.parse(t.text); } catch (e) { moved = null; }
      if (moved && typeof moved === 'object') {
        const parts = Object.entries(moved).filter(([, n]) => Number(n) > 0).map(([k, n]) => n + ' ' + k.replace(/_/g, ' '));
        text(parts.length ? 'Moved ' + parts.join(', ') : 'Nothing to move');
      } else if (t.text) text(t.text);
      break;
    }
    default:
      title.textContent = t.kind;
      head.append(title);
      if (t.text) text(t.text);
  }
  const tm = el('time', 'tl-when', when(t.at));
  tm.dateTime = t.at; tm.title = fullTime(t.at);
  head.append(tm);
  body.prepend(head);
  const dot = el('span', 'tl-ic'); dot.append(icon(ic));
  li.append(dot, body);
  return li;
}
function timelineCard(c) {
  const card = sectionCard('Timeline 时间线', 'tl-card');
  card.id = 'c360-timeline';
  const ul = el('ol', 'timeline');
  ul.setAttribute('aria-label', 'Timeline');
  const foot = el('div', 'tl-foot');
  card.append(ul, foot);
  crm.tlNodes = { ul, foot, c };
  renderTimelineList();
  return card;
}
function renderTimelineList() {
  const n = crm.tlNodes, tl = crm.tl;
  if (!n || !tl) return;
  n.ul.replaceChildren(...tl.items.map((t) => timelineItem(t, n.c)));
  if (!tl.items.length) n.ul.append(emptyLine('Nothing has happened yet. 暂无记录'));
  n.foot.replaceChildren();
  if (tl.loading) n.foot.append(el('span', 'muted', 'Loading… 加载中'));
  else if (tl.next) n.foot.append(button('Load older 加载更多', 'tl-more', () => loadOlderTimeline(n.c)));
  else if (tl.items.length) n.foot.append(el('span', 'muted tl-start', 'Start of the history 已到最早记录'));
}

/* ---------- pipeline kanban ---------- */
const CLOSED_DAYS = 30;
async function fetchDeals(status) {
  const out = [];
  for (let page = 1; page <= 25; page++) {
    const p = new URLSearchParams({ status, per_page: '200', page: String(page) });
    if ($('#pipe-owner').value === 'me') p.set('owner_id', String(state.me.id));
    else if ($('#pipe-owner').value) p.set('owner_id', $('#pipe-owner').value);
    const r = await api('GET', '/api/v1/deals?' + p);
    out.push(...r.items);
    if (!r.items.length || out.length >= r.total) break;
  }
  return out;
}
const recentlyClosed = (d) => d.status === 'open' || (Date.parse(d.closed_at || d.updated_at) > Date.now() - CLOSED_DAYS * 86400e3);
function dealShown(d) {
  if (d.status !== 'open' && (!$('#pipe-closed').checked || !recentlyClosed(d))) return false;
  const o = $('#pipe-owner').value;
  if (o === 'me' && d.owner_id !== state.me.id) return false;
  if (o && o !== 'me' && String(d.owner_id) !== o) return false;
  return true;
}
async function loadPipeline() {
  fillOwnerFilter();
  const closed = $('#pipe-closed').checked;
  const [, ...lists] = await Promise.all([ensureStages(true), fetchDeals('open'), ...(closed ? [fetchDeals('won'), fetchDeals('lost')] : [])]);
  if (state.view !== 'pipeline') return;
  crm.deals = new Map();
  for (const l of lists) for (const d of l) if (dealShown(d)) crm.deals.set(d.id, d);
  crm.dealsLoaded = true;
  renderKanban();
  if (crm.flashDeal) {
    const card = $(`.kcard[data-deal="${crm.flashDeal}"]`);
    if (card) { card.scrollIntoView({ block: 'nearest', inline: 'center' }); card.classList.add('flash'); }
    crm.flashDeal = 0;
  }
}
function fillOwnerFilter() {
  const sel = $('#pipe-owner');
  if (sel.dataset.filled === String(crm.agents.size)) return;
  const keep = sel.value;
  sel.replaceChildren(opt('', "Everyone's deals 全部"), opt('me', 'My deals 我的'));
  for (const [id, name] of crm.agents) if (id !== state.me.id) sel.append(opt(String(id), name));
  sel.value = [...sel.options].some((o) => o.value === keep) ? keep : '';
  sel.dataset.filled = String(crm.agents.size);
}
$('#pipe-closed').addEventListener('change', () => loadPipeline().catch((e) => toast(errText(e), 'bad')));
$('#pipe-owner').addEventListener('change', () => loadPipeline().catch((e) => toast(errText(e), 'bad')));
$('#deal-new').addEventListener('click', () => openDealDialog({}));

const dealStageId = (d) => crm.moving.get(d.id) || d.stage_id;
function renderKanban() {
  if (crm.dragging) { crm.renderLater = true; return; } // not under the pointer of a drag
  crm.renderLater = false;
  const board = $('#kanban');
  const focusId = crm.focusDeal || (document.activeElement && document.activeElement.closest && document.activeElement.closest('.kcard') &&
    Number(document.activeElement.closest('.kcard').dataset.deal));
  const stages = crm.stages.filter((s) => s.active);
  const deals = [...crm.deals.values()];
  const cols = [];
  const openSums = new Map(), weighted = new Map();
  let openN = 0;
  for (const d of deals) if (d.status === 'open' && !crm.moving.has(d.id)) { openN++; addTo(openSums, d.currency, d.amount); addTo(weighted, d.currency, (Number(d.amount) || 0) * (Number(d.probability) || 0) / 100); }
  for (const s of stages) {
    const mine = deals.filter((d) => dealStageId(d) === s.id)
      .sort((a, b) => (a.expected_close || '9999').localeCompare(b.expected_close || '9999') || b.id - a.id);
    cols.push(kanbanColumn(s, mine));
  }
  const retired = deals.filter((d) => !stages.some((s) => s.id === dealStageId(d)));
  board.replaceChildren(...cols);
  $('#pipe-summary').textContent = 'Open pipeline 进行中: ' + plural(openN, 'deal') + ' · ' + moneySum(openSums) +
    ' · weighted 加权 ' + moneySum(weighted) + (retired.length ? ' · ' + retired.length + ' in retired stages (not shown)' : '');
  if (!crm.moving.has(crm.focusDeal)) crm.focusDeal = 0; // kept while its move is saved
  if (focusId) { const sel = $(`.kcard[data-deal="${focusId}"] .kc-stage`); if (sel) sel.focus(); }
}
function kanbanColumn(s, deals) {
  const col = el('section', 'kcol kind-' + s.kind);
  col.dataset.stage = s.id;
  col.setAttribute('aria-label', s.name);
  const head = el('header', 'khead');
  const t = el('div', 'ktitle');
  t.append(el('span', 'kname', s.name), el('span', 'kprob', s.kind === 'open' ? s.probability + '%' : s.kind === 'won' ? 'won' : 'lost'));
  const sums = new Map();
  for (const d of deals) addTo(sums, d.currency, d.amount);
  const tot = el('div', 'ktotal');
  tot.append(el('span', 'kcount', plural(deals.length, 'deal')), el('span', 'ksum', deals.length ? moneySum(sums) : '—'));
  head.append(t, tot);
  const list = el('div', 'kcards');
  list.setAttribute('role', 'list');
  for (const d of deals) list.append(dealCard(d));
  if (!deals.length) list.append(el('div', 'kempty', 'Drop a deal here · 拖到此处'));
  col.append(head, list);
  // a drop target for the cards' HTML5 drag and drop
  col.addEventListener('dragover', (e) => {
    if (!crm.dragging) return;
    e.preventDefault();
    e.dataTransfer.dropEffect = 'move';
    col.classList.add('drop-target');
  });
  col.addEventListener('dragleave', (e) => { if (!col.contains(e.relatedTarget)) col.classList.remove('drop-target'); });
  col.addEventListener('drop', (e) => {
    e.preventDefault();
    col.classList.remove('drop-target');
    const id = Number(e.dataTransfer && e.dataTransfer.getData('text/plain')) || crm.dragging;
    endDrag();
    if (id) moveDeal(id, s.id);
  });
  return col;
}
function endDrag() {
  crm.dragging = 0;
  for (const x of $$('.kcol.drop-target')) x.classList.remove('drop-target');
  for (const x of $$('.kcard.dragging')) x.classList.remove('dragging');
  if (crm.renderLater) setTimeout(renderKanban, 0);
}
function dealCard(d) {
  const card = el('article', 'kcard st-' + d.status);
  card.dataset.deal = d.id;
  card.setAttribute('role', 'listitem');
  card.draggable = !crm.moving.has(d.id);
  if (crm.moving.has(d.id)) card.classList.add('saving');
  card.setAttribute('aria-label', d.title + ', ' + (d.customer_name || '') + ', ' + money(d.amount, d.currency));
  const top = el('div', 'kc-top');
  top.append(el('span', 'kc-title', d.title));
  const grip = el('span', 'kc-grip'); grip.append(icon('grip')); grip.title = 'Drag to another stage';
  top.append(grip);
  const cust = button(d.customer_name || 'Customer #' + d.customer_id, 'link kc-cust', () => go('customer', d.customer_id));
  cust.title = 'Open the 360° profile';
  const amount = el('div', 'kc-amount', money(d.amount, d.currency));
  amount.title = (Number(d.amount) || 0).toLocaleString() + ' ' + (d.currency || 'CNY') + (d.status === 'open' ? ' · ' + d.probability + '% likely' : '');
  const meta = el('div', 'kc-meta');
  const ow = el('span', 'kc-owner');
  ow.append(avatar(d.owner_name || '?', 'sm'), el('span', '', d.owner_name || 'Unassigned'));
  meta.append(ow);
  if (d.status === 'open' && d.expected_close) {
    const ec = el('span', 'kc-close' + (isPastDate(d.expected_close) ? ' late' : ''), dateOnly(d.expected_close));
    ec.prepend(icon('calendar'));
    ec.title = 'Expected close 预计成交' + (isPastDate(d.expected_close) ? ' — overdue' : '');
    meta.append(ec);
  } else if (d.status !== 'open') {
    const b = badge((d.status === 'won' ? 'Won ' : 'Lost ') + shortDate(d.closed_at), 'kc-closed ' + d.status);
    if (d.win_loss_reason) b.title = d.win_loss_reason;
    meta.append(b);
  }
  card.append(top, cust, amount, meta);
  if (d.status === 'lost' && d.win_loss_reason) card.append(el('div', 'kc-reason', d.win_loss_reason));
  // keyboard and assistive way to move: a stage menu
  const sel = el('select', 'kc-stage');
  sel.setAttribute('aria-label', 'Stage of ' + d.title);
  for (const s of crm.stages.filter((x) => x.active || x.id === d.stage_id)) sel.append(opt(String(s.id), '→ ' + s.name, s.id === dealStageId(d)));
  sel.addEventListener('change', () => { crm.focusDeal = d.id; moveDeal(d.id, Number(sel.value)); });
  card.append(sel);
  const err = crm.cardErrors.get(d.id);
  if (err) { const e = el('div', 'kc-error', err); e.setAttribute('role', 'alert'); e.prepend(icon('alert')); card.append(e); }
  card.addEventListener('dragstart', (e) => {
    crm.dragging = d.id;
    e.dataTransfer.setData('text/plain', String(d.id));
    e.dataTransfer.effectAllowed = 'move';
    card.classList.add('dragging');
  });
  card.addEventListener('dragend', endDrag);
  return card;
}

// Moves a deal (optimistically: the card shows in its new column while the server is
// asked); a lost stage first asks why. A refusal puts the card back with the reason on it.
function moveDeal(id, stageId) {
  const d = crm.deals.get(id), st = stageById(stageId);
  if (!d || !st || dealStageId(d) === stageId || crm.moving.has(id)) { renderKanban(); return; }
  if (st.kind === 'lost') { renderKanban(); openLostDialog(d, st); return; }
  saveDealStage(d, st);
}
async function saveDealStage(d, st) {
  crm.cardErrors.delete(d.id);
  crm.moving.set(d.id, st.id);
  renderKanban();
  try {
    const nd = await api('PATCH', '/api/v1/deals/' + d.id, { stage_id: st.id });
    crm.deals.set(nd.id, { ...d, ...nd });
    toast('“' + nd.title + '” → ' + nd.stage, 'good');
    return null;
  } catch (e) {
    const f = fieldsOf(e);
    if (f && f.win_loss_reason) { // the server knows better: it wants a reason
      crm.moving.delete(d.id);
      openLostDialog(d, st);
      return e;
    }
    cardError(d.id, 'Not moved: ' + errText(e));
    return e;
  } finally {
    crm.moving.delete(d.id);
    renderKanban();
  }
}
function cardError(id, text) {
  crm.cardErrors.set(id, text);
  toast(text, 'bad');
  setTimeout(() => { if (crm.cardErrors.get(id) === text && crm.cardErrors.delete(id) && state.view === 'pipeline') renderKanban(); }, 15000);
}
function openLostDialog(d, st) {
  crm.lostFor = { d, st };
  const f = $('#lost-form');
  clearErrors(f);
  $('#lost-error').textContent = '';
  $('#lost-title').textContent = 'Why was it lost? 丢单原因';
  $('#lost-deal').textContent = '“' + d.title + '” · ' + (d.customer_name || '') + ' · ' + money(d.amount, d.currency) + ' → ' + st.name;
  $('#lost-reason').value = d.win_loss_reason || '';
  $('#lost-competitor').value = d.competitor || '';
  fieldAccessInput('deal', 'win_loss_reason', $('#lost-reason'));
  fieldAccessInput('deal', 'competitor', $('#lost-competitor'));
  $('#lost-ok').disabled = false;
  $('#lost-dialog').showModal();
  $('#lost-reason').focus();
}
$('#lost-cancel').addEventListener('click', () => { $('#lost-dialog').close(); });
$('#lost-dialog').addEventListener('close', () => { crm.lostFor = null; renderKanban(); });
$('#lost-form').addEventListener('submit', async (ev) => {
  ev.preventDefault();
  const lf = crm.lostFor;
  if (!lf) return;
  clearErrors($('#lost-form'));
  $('#lost-error').textContent = '';
  const body = { win_loss_reason: $('#lost-reason').value };
  const comp = $('#lost-competitor').value.trim();
  if (comp) body.competitor = comp;
  for (const k of Object.keys(body)) if (fieldAccess('deal', k) !== 'edit') delete body[k];
  $('#lost-ok').disabled = true;
  // the dialog stays open on a validation error, showing the server's reasons
  crm.cardErrors.delete(lf.d.id);
  crm.moving.set(lf.d.id, lf.st.id);
  renderKanban();
  try {
    const nd = await api('PATCH', '/api/v1/deals/' + lf.d.id, { stage_id: lf.st.id, ...body });
    crm.deals.set(nd.id, { ...lf.d, ...nd });
    toast('“' + nd.title + '” → ' + nd.stage, 'good');
    crm.moving.delete(lf.d.id);
    $('#lost-dialog').close();
  } catch (e) {
    crm.moving.delete(lf.d.id);
    const f = fieldsOf(e);
    if (f) showErrors($('#lost-form'), f, $('#lost-error'));
    else { $('#lost-dialog').close(); cardError(lf.d.id, 'Not moved: ' + errText(e)); }
  } finally {
    $('#lost-ok').disabled = false;
    renderKanban();
  }
});

/* the new-deal dialog; its fields follow the deal layout (groups in order, a field hidden from
   the user left out, a read-only one disabled and not sent) */
const DEAL_FORM_INPUT = { title: 'deal-title', amount: 'deal-amount', currency: 'deal-currency', stage_id: 'deal-stage', expected_close: 'deal-close' };
function layoutDealForm(layout) {
  const form = $('#deal-form');
  const rows = {};
  for (const [k, id] of Object.entries(DEAL_FORM_INPUT)) rows[k] = $('#' + id).closest('.field');
  const groups = layoutGroups(layout, Object.keys(DEAL_FORM_INPUT)).map((g) => ({ title: g.title, fields: g.fields.filter((k) => fieldAccess('deal', k) !== 'hidden') }))
    .filter((g) => g.fields.length);
  const sig = JSON.stringify([groups, !!(layout && layout.customised)]);
  let box = $('#deal-groups');
  for (const [k, id] of Object.entries(DEAL_FORM_INPUT)) fieldAccessInput('deal', k, $('#' + id));
  if (box && box.dataset.sig === sig) return;
  const had = document.activeElement;
  if (!box) { box = el('div', 'lay-form-groups'); box.id = 'deal-groups'; $('#deal-error').before(box); }
  box.dataset.sig = sig;
  const parts = groups.map((g) => {
    const fs = el('fieldset', 'lay-fs');
    if (layout && layout.customised) fs.append(el('legend', 'lay-title', g.title));
    const grid = el('div', 'grid2');
    for (const k of g.fields) grid.append(rows[k]);
    fs.append(grid);
    return fs;
  });
  const rest = Object.keys(rows).filter((k) => !groups.some((g) => g.fields.includes(k))).map((k) => rows[k]); // hidden ones
  box.replaceChildren(...parts, ...rest);
  for (const g of $$(':scope > .grid2', form)) if (!g.children.length) g.remove();
  if (had && form.contains(had) && document.activeElement !== had) had.focus();
}
function openDealDialog(preset) {
  const f = $('#deal-form');
  clearErrors(f);
  $('#deal-error').textContent = '';
  crm.dealCustomer = preset.customer ? { id: preset.customer.id, name: preset.customer.name, customer_no: preset.customer.customer_no } : null;
  $('#deal-customer-q').value = crm.dealCustomer ? pickText(crm.dealCustomer) : '';
  $('#deal-customer-list').hidden = true;
  $('#deal-title').value = '';
  $('#deal-amount').value = '';
  const cur = $('#deal-currency');
  cur.replaceChildren(...CURRENCIES.map((c) => opt(c, c + (c === 'CNY' ? ' ¥ 人民币' : ''), c === 'CNY')));
  $('#deal-close').value = '';
  const sel = $('#deal-stage');
  ensureStages().then((stages) => {
    sel.replaceChildren(...stages.filter((s) => s.active && s.kind === 'open').map((s, i) => opt(String(s.id), s.name + ' · ' + s.probability + '%', i === 0)));
  }).catch(() => {});
  $('#deal-save').disabled = false;
  crm.dealLayoutP = Promise.all([ensureLayout('deal'), ensureFieldAccess()]).then(([lay]) => { layoutDealForm(lay); }).catch(() => {});
  $('#deal-dialog').showModal();
  (crm.dealCustomer ? $('#deal-title') : $('#deal-customer-q')).focus();
}
const pickText = (c) => c.name + (c.customer_no ? ' · ' + c.customer_no : '');
let pickTimer = null, pickSeq = 0;
$('#deal-customer-q').addEventListener('input', () => {
  crm.dealCustomer = null;
  clearTimeout(pickTimer);
  pickTimer = setTimeout(searchCustomers, 200);
});
$('#deal-customer-q').addEventListener('keydown', (e) => {
  const list = $('#deal-customer-list');
  const items = $$('li', list);
  if (list.hidden || !items.length) return;
  const at = items.findIndex((li) => li.classList.contains('active'));
  if (e.key === 'ArrowDown' || e.key === 'ArrowUp') {
    e.preventDefault();
    const n = e.key === 'ArrowDown' ? Math.min(items.length - 1, at + 1) : Math.max(0, at - 1);
    items.forEach((li, i) => { li.classList.toggle('active', i === n); li.setAttribute('aria-selected', i === n ? 'true' : 'false'); });
    $('#deal-customer-q').setAttribute('aria-activedescendant', items[n].id);
  } else if (e.key === 'Enter' && at >= 0) {
    e.preventDefault();
    items[at].click();
  } else if (e.key === 'Escape') {
    e.preventDefault();
    list.hidden = true;
  }
});
async function searchCustomers() {
  const q = $('#deal-customer-q').value.trim();
  const list = $('#deal-customer-list');
  const seq = ++pickSeq;
  if (!q) { list.hidden = true; return; }
  let r;
  try { r = await api('GET', '/api/v1/customers?' + new URLSearchParams({ q, per_page: '8' })); } catch (e) { return; }
  if (seq !== pickSeq) return;
  list.replaceChildren();
  r.items.forEach((c, i) => {
    const li = el('li', 'pick');
    li.id = 'pick-' + c.id;
    li.setAttribute('role', 'option');
    li.append(avatar(c.name, 'sm'));
    const t = el('span', 'pick-t');
    t.append(el('span', 'pick-name', c.name), el('span', 'muted', [c.customer_no, c.company, c.phone || c.email].filter(Boolean).join(' · ')));
    li.append(t);
    li.addEventListener('mousedown', (e) => e.preventDefault()); // keep the focus in the box
    li.addEventListener('click', () => {
      crm.dealCustomer = c;
      $('#deal-customer-q').value = pickText(c);
      list.hidden = true;
      $('#deal-customer-q').setAttribute('aria-expanded', 'false');
      $('#deal-title').focus();
    });
    if (i === 0) { li.classList.add('active'); li.setAttribute('aria-selected', 'true'); }
    list.append(li);
  });
  if (!r.items.length) list.append(el('li', 'pick none muted', 'No customer matches “' + q + '”'));
  list.hidden = false;
  $('#deal-customer-q').setAttribute('aria-expanded', 'true');
}
$('#deal-customer-q').addEventListener('blur', () => setTimeout(() => { $('#deal-customer-list').hidden = true; }, 150));
$('#deal-cancel').addEventListener('click', () => $('#deal-dialog').close());
$('#deal-form').addEventListener('submit', async (ev) => {
  ev.preventDefault();
  const f = $('#deal-form');
  clearErrors(f);
  $('#deal-error').textContent = '';
  const body = { title: $('#deal-title').value, currency: $('#deal-currency').value };
  if (crm.dealCustomer) body.customer_id = crm.dealCustomer.id;
  const unpicked = !crm.dealCustomer && $('#deal-customer-q').value.trim();
  const amount = numOr($('#deal-amount').value);
  if (amount !== undefined) body.amount = amount;
  if ($('#deal-stage').value) body.stage_id = Number($('#deal-stage').value);
  if ($('#deal-close').value) body.expected_close = $('#deal-close').value;
  for (const k of Object.keys(body)) if (fieldAccess('deal', k) !== 'edit') delete body[k]; // the server would refuse it (403)
  $('#deal-save').disabled = true;
  try {
    const d = await api('POST', '/api/v1/deals', body);
    $('#deal-dialog').close();
    toast('Deal created: ' + d.title + ' · ' + money(d.amount, d.currency), 'good');
    if (state.view === 'pipeline') { if (dealShown(d)) crm.deals.set(d.id, d); crm.flashDeal = d.id; renderKanban(); const c = $(`.kcard[data-deal="${d.id}"]`); if (c) c.classList.add('flash'); }
    refresh360Soon(d.customer_id);
  } catch (e) {
    const fl = fieldsOf(e);
    if (fl && unpicked && fl.customer_id) fl.customer_id = 'choose the customer from the list (' + fl.customer_id + ')';
    if (fl) showErrors(f, fl, $('#deal-error'));
    else $('#deal-error').textContent = errText(e);
  } finally {
    $('#deal-save').disabled = false;
  }
});

/* ---------- leads ---------- */
async function loadLeads() {
  const p = new URLSearchParams({ per_page: '200' });
  if ($('#lead-q').value.trim()) p.set('q', $('#lead-q').value.trim());
  if ($('#lead-status').value) p.set('status', $('#lead-status').value);
  if ($('#lead-grade').value) p.set('grade', $('#lead-grade').value);
  const r = await api('GET', '/api/v1/leads?' + p);
  crm.leads = r.items;
  $('#lead-total').textContent = r.total === r.items.length ? plural(r.total, 'lead') : r.items.length + ' of ' + r.total + ' leads';
  renderLeads();
}
function renderLeads() {
  const tb = $('#lead-rows');
  tb.replaceChildren();
  for (const l of crm.leads) {
    const tr = el('tr', 'lead-' + l.status);
    tr.dataset.lead = l.id;
    const who = el('td', 'lead-who');
    const w = el('div', 'cname');
    w.append(avatar(l.name, 'sm'));
    const nm = el('div', 'two-line');
    nm.append(el('span', 'strong', l.name), el('span', 'muted', l.company || ''));
    w.append(nm);
    who.append(w);
    if (l.notes) who.title = l.notes;
    const contact = el('td');
    const cw = el('div', 'two-line');
    if (l.phone) cw.append(el('span', '', l.phone));
    if (l.email) cw.append(el('span', l.phone ? 'muted' : '', l.email));
    if (!l.phone && !l.email) cw.append(el('span', 'muted', '—'));
    contact.append(cw);
    const grade = el('td'); grade.append(badge(l.grade || 'C', 'grade g-' + (l.grade || 'C')));
    const status = el('td');
    if (l.status === 'converted' || !canSell()) status.append(badge(LEAD_STATUS[l.status] || l.status, 'lead-st ' + l.status));
    else {
      const sel = el('select', 'lead-status-sel');
      sel.setAttribute('aria-label', 'Status of ' + l.name);
      for (const k of ['new', 'working', 'disqualified']) sel.append(opt(k, LEAD_STATUS[k], k === l.status));
      sel.addEventListener('change', async () => {
        try { await api('PATCH', '/api/v1/leads/' + l.id, { status: sel.value }); toast(l.name + ': ' + LEAD_STATUS[sel.value], 'good'); }
        catch (e) { toast(errText(e), 'bad'); }
        loadLeads().catch(() => {});
      });
      status.append(sel);
    }
    const owner = el('td', 'lead-owner');
    const ow = el('div', 'two-line');
    ow.append(el('span', l.owner_id ? '' : 'muted', l.owner_id ? ownerName(l.owner_id, l.owner_name) : 'Unassigned 未分配'));
    if (l.assigned_by) { const ab = el('span', 'assigned-by', 'assigned ' + (ASSIGNED_BY[l.assigned_by] || l.assigned_by)); ab.title = 'assigned_by: ' + l.assigned_by; ow.append(ab); }
    owner.append(ow);
    const created = el('td', 'muted nowrap', ago(l.created_at)); created.title = fullTime(l.created_at);
    const act = el('td', 'act');
    if (l.status === 'converted') {
      if (l.customer_id) act.append(button('Customer 客户 →', 'small', () => go('customer', l.customer_id)));
    } else if (canSell() && l.status !== 'disqualified') {
      act.append(button('Convert 转化', 'small primary lead-convert', () => openConvert(l)));
    }
    tr.append(who, contact, el('td', '', l.source || ''), grade, el('td', '', l.region || ''), status, owner, created, act);
    tb.append(tr);
  }
  if (!crm.leads.length) {
    const tr = el('tr'); const td = el('td', 'muted crm-empty-row', 'No leads match. 暂无线索'); td.colSpan = 9; tr.append(td); tb.append(tr);
  }
}
let leadTimer = null;
$('#lead-q').addEventListener('input', () => { clearTimeout(leadTimer); leadTimer = setTimeout(() => loadLeads().catch((e) => toast(errText(e), 'bad')), 250); });
for (const id of ['#lead-status', '#lead-grade']) $(id).addEventListener('change', () => loadLeads().catch((e) => toast(errText(e), 'bad')));

$('#lead-new').addEventListener('click', () => {
  const f = $('#lead-form');
  clearErrors(f);
  $('#lead-error').textContent = '';
  for (const id of ['#lead-name', '#lead-company', '#lead-phone', '#lead-email', '#lead-source', '#lead-region', '#lead-notes']) $(id).value = '';
  $('#lead-grade-in').value = 'C';
  const own = $('#lead-owner');
  own.replaceChildren(opt('', 'Automatic — region, then least busy 自动分配', true), opt(String(state.me.id), 'Me 我 (' + state.me.name + ')'));
  for (const [id, name] of crm.agents) if (id !== state.me.id && crm.agentRoles.get(id) === 'sales') own.append(opt(String(id), name));
  $('#lead-save').disabled = false;
  $('#lead-dialog').showModal();
  $('#lead-name').focus();
});
$('#lead-cancel').addEventListener('click', () => $('#lead-dialog').close());
$('#lead-form').addEventListener('submit', async (ev) => {
  ev.preventDefault();
  const f = $('#lead-form');
  clearErrors(f);
  $('#lead-error').textContent = '';
  const body = { name: $('#lead-name').value, grade: $('#lead-grade-in').value };
  const put = (k, id) => { const v = $(id).value.trim(); if (v) body[k] = v; };
  put('company', '#lead-company'); put('phone', '#lead-phone'); put('email', '#lead-email'); put('source', '#lead-source');
  put('region', '#lead-region'); put('notes', '#lead-notes');
  if ($('#lead-owner').value) body.owner_id = Number($('#lead-owner').value);
  $('#lead-save').disabled = true;
  try {
    const l = await api('POST', '/api/v1/leads', body);
    $('#lead-dialog').close();
    toast('Lead created: ' + l.name + (l.owner_name ? ' → ' + l.owner_name + (l.assigned_by ? ' (' + (ASSIGNED_BY[l.assigned_by] || l.assigned_by) + ')' : '') : ''), 'good');
    await loadLeads();
  } catch (e) {
    const fl = fieldsOf(e);
    if (fl) showErrors(f, fl, $('#lead-error'));
    else $('#lead-error').textContent = errText(e);
  } finally {
    $('#lead-save').disabled = false;
  }
});

function openConvert(l) {
  crm.convertLead = l;
  const f = $('#convert-form');
  clearErrors(f);
  $('#convert-error').textContent = '';
  $('#convert-title').textContent = 'Convert ' + l.name + (l.company ? ' · ' + l.company : '') + ' 转化线索';
  $('#convert-deal-title').value = l.company ? l.company + ' — ' + l.name : l.name;
  $('#convert-amount').value = '';
  $('#convert-close').value = '';
  $('#convert-currency').replaceChildren(...CURRENCIES.map((c) => opt(c, c, c === 'CNY')));
  for (const [k, id] of [['amount', 'convert-amount'], ['currency', 'convert-currency'], ['expected_close', 'convert-close']]) fieldAccessInput('deal', k, $('#' + id));
  ensureStages().then((stages) => {
    $('#convert-stage').replaceChildren(...stages.filter((s) => s.active && s.kind === 'open').map((s, i) => opt(String(s.id), s.name, i === 0)));
  }).catch(() => {});
  $('#convert-ok').disabled = false;
  $('#convert-dialog').showModal();
  $('#convert-deal-title').focus();
}
$('#convert-cancel').addEventListener('click', () => $('#convert-dialog').close());
$('#convert-form').addEventListener('submit', async (ev) => {
  ev.preventDefault();
  const l = crm.convertLead;
  if (!l) return;
  const f = $('#convert-form');
  clearErrors(f);
  $('#convert-error').textContent = '';
  const deal = { title: $('#convert-deal-title').value, currency: $('#convert-currency').value };
  const amount = numOr($('#convert-amount').value);
  if (amount !== undefined) deal.amount = amount;
  if ($('#convert-stage').value) deal.stage_id = Number($('#convert-stage').value);
  if ($('#convert-close').value) deal.expected_close = $('#convert-close').value;
  for (const k of Object.keys(deal)) if (fieldAccess('deal', k) !== 'edit') delete deal[k];
  $('#convert-ok').disabled = true;
  try {
    const r = await api('POST', '/api/v1/leads/' + l.id + '/convert', { deal });
    $('#convert-dialog').close();
    toast('Converted: ' + r.customer.name + ' (' + r.customer.customer_no + (r.customer_created ? ', new customer' : ', existing customer') + ')' +
      (r.deal_id ? ' and deal #' + r.deal_id : ''), 'good');
    await loadLeads();
  } catch (e) {
    const fl = fieldsOf(e);
    if (fl) showErrors(f, fl, $('#convert-error'));
    else $('#convert-error').textContent = errText(e);
  } finally {
    $('#convert-ok').disabled = false;
  }
});

/* ---------- duplicates and merge ---------- */
const DUP_REASON = { email: ['Same e-mail 相同邮箱', 'email'], phone: ['Same phone 相同电话', 'phone'], company: ['Same company 相同公司', 'company'] };
async function loadDuplicates() {
  const r = await api('GET', '/api/v1/customers/duplicates?per_page=50');
  if (state.view !== 'duplicates') return;
  crm.dupDetail = new Map();
  $('#dup-total').textContent = r.total ? plural(r.total, 'pair') + (r.total > r.items.length ? ' · showing ' + r.items.length : '') : '';
  const box = $('#dup-list');
  box.replaceChildren(...r.items.map(dupCard));
  if (!r.items.length) {
    const d = el('div', 'empty card');
    d.append(icon('check', 'big'), el('p', '', 'No possible duplicates. 没有疑似重复的客户。'));
    box.append(d);
  }
  // both sides' details, a few at a time
  const ids = [...new Set(r.items.flatMap((p) => [p.a.id, p.b.id]))];
  const work = ids.slice();
  const worker = async () => {
    while (work.length && state.view === 'duplicates') {
      const id = work.shift();
      try { crm.dupDetail.set(id, await api('GET', '/api/v1/customers/' + id)); } catch (e) { crm.dupDetail.set(id, { id, error: errText(e) }); }
      for (const side of $$(`.dup-side[data-customer="${id}"]`)) fillDupSide(side);
    }
  };
  await Promise.all([worker(), worker(), worker(), worker()]);
}
function dupCard(p) {
  const card = el('article', 'card dup-card');
  card.dataset.pair = p.a.id + '-' + p.b.id;
  const head = el('header', 'dup-head');
  for (const m of p.matches && p.matches.length ? p.matches : (p.reasons || []).map((r) => ({ reason: r }))) {
    const [label, ic] = DUP_REASON[m.reason] || [m.reason, 'info'];
    const b = badge(label + (m.value ? ': ' + m.value : ''), 'reason r-' + m.reason);
    b.prepend(icon(ic));
    head.append(b);
  }
  const sides = el('div', 'dup-sides');
  const side = (x, which) => {
    const s = el('div', 'dup-side');
    s.dataset.customer = x.id; s.dataset.side = which;
    s.dataset.matches = JSON.stringify((p.matches || []).map((m) => m.value).filter(Boolean));
    const top = el('div', 'dup-top');
    top.append(avatar(x.name, 'lg'));
    const t = el('div', 'dup-name');
    t.append(button(x.name, 'link dup-open', () => go('customer', x.id)), el('span', 'muted', x.customer_no || '#' + x.id));
    top.append(t);
    s.append(top, el('div', 'dup-facts muted', 'Loading… 加载中'));
    return s;
  };
  const left = side(p.a, 'left'), right = side(p.b, 'right');
  sides.append(left, el('div', 'dup-vs', 'vs'), right);
  const actions = el('footer', 'dup-actions');
  const intoLeft = button('Merge into left 合并到左侧', 'merge-left', () => confirmMerge(card, p.a, p.b), 'back');
  const intoRight = button('Merge into right 合并到右侧', 'merge-right', () => confirmMerge(card, p.b, p.a));
  intoRight.append(icon('back', 'flip'));
  intoLeft.title = 'Keep ' + p.a.name + ' (' + (p.a.customer_no || p.a.id) + ') and absorb ' + p.b.name;
  intoRight.title = 'Keep ' + p.b.name + ' (' + (p.b.customer_no || p.b.id) + ') and absorb ' + p.a.name;
  const dismiss = button('Not the same 不是重复', 'ghost dup-dismiss', async () => {
    dismiss.disabled = true;
    try {
      await api('POST', '/api/v1/customers/duplicates/dismiss', { a_id: p.a.id, b_id: p.b.id });
      toast('Kept apart: ' + p.a.name + ' / ' + p.b.name, 'good');
      card.remove();
      if (!$('#dup-list .dup-card')) loadDuplicates().catch(() => {});
    } catch (e) { toast(errText(e), 'bad'); dismiss.disabled = false; }
  });
  dismiss.title = 'They are different customers: do not propose this pair again';
  actions.append(intoLeft, el('span', 'spacer'), dismiss, el('span', 'spacer'), intoRight);
  card.append(head, sides, actions);
  for (const s of [left, right]) if (crm.dupDetail.has(Number(s.dataset.customer))) fillDupSide(s);
  return card;
}
function fillDupSide(s) {
  const c = crm.dupDetail.get(Number(s.dataset.customer));
  const facts = $('.dup-facts', s);
  if (!c || !facts) return;
  if (c.error) { facts.textContent = c.error; return; }
  const hits = JSON.parse(s.dataset.matches || '[]').map((v) => String(v).toLowerCase());
  const dl = el('dl', 'facts');
  const fact = (k, v, hit) => { if (!v) return; const dd = el('dd', hit ? 'hit' : '', v); dl.append(el('dt', '', k), dd); };
  fact('Company 公司', c.company, hits.includes(String(c.company || '').toLowerCase()));
  for (const i of c.identities || []) {
    if (i.kind !== 'email' && i.kind !== 'phone') continue;
    fact(i.kind === 'email' ? 'E-mail 邮箱' : 'Phone 电话', i.value + (i.verified ? '' : ' · unverified 未验证'), hits.includes(String(i.value).toLowerCase()));
  }
  fact('Stage 阶段', stageLabel(c.stage));
  fact('Owner 负责人', ownerName(c.owner_id, c.owner_name));
  fact('Tags 标签', (c.tags || []).join(', '));
  fact('Created 创建', dateOnly(c.created_at));
  fact('History 历史', [plural((c.tickets || []).length, 'conversation'), plural((c.deals || []).length, 'deal'),
    plural((c.activities || []).length, 'follow-up')].join(' · '));
  facts.replaceWith(dl);
}
function confirmMerge(card, keep, absorb) {
  const actions = $('.dup-actions', card);
  const keepEls = [...actions.childNodes];
  const bar = el('div', 'merge-confirm');
  bar.setAttribute('role', 'alert');
  const txt = el('div', 'mc-text');
  txt.append(el('strong', '', 'Merge ' + absorb.name + ' (' + (absorb.customer_no || '#' + absorb.id) + ') into ' + keep.name + ' (' + (keep.customer_no || '#' + keep.id) + ')?'),
    el('span', '', 'Its contacts, conversations, deals, leads, follow-ups and tags move over; empty fields are filled. This cannot be undone. 合并后不可撤销。'));
  const yes = button('Merge 确认合并', 'danger-solid merge-yes');
  const no = button('Cancel', 'ghost merge-no', () => actions.replaceChildren(...keepEls));
  yes.addEventListener('click', async () => {
    yes.disabled = true; no.disabled = true;
    try {
      const r = await api('POST', '/api/v1/customers/' + keep.id + '/merge', { from_id: absorb.id });
      const moved = r.moved ? Object.entries(r.moved).filter(([, n]) => Number(n) > 0).map(([k, n]) => n + ' ' + k.replace(/_/g, ' ')) : [];
      toast('Merged into ' + keep.name + (moved.length ? ' — moved ' + moved.join(', ') : ''), 'good');
      await loadDuplicates();
    } catch (e) {
      toast('Not merged: ' + errText(e), 'bad');
      actions.replaceChildren(...keepEls);
    }
  });
  bar.append(icon('merge'), txt, no, yes);
  actions.replaceChildren(bar);
  no.focus();
}

/* ---------- CSV import ---------- */
function renderImport() {
  showImportFile();
}
function showImportFile() {
  const f = crm.importFile;
  $('#import-file-name').textContent = f ? f.name : 'Choose a CSV file… 选择 CSV 文件';
  $('#import-file-size').textContent = f ? humanSize(f.size) : '';
  $('#import-drop').classList.toggle('has-file', !!f);
  $('#import-check').disabled = !f;
  $('#import-run').disabled = !f;
}
$('#import-file').addEventListener('change', () => {
  crm.importFile = $('#import-file').files[0] || null;
  $('#import-error').textContent = '';
  $('#import-result').replaceChildren();
  showImportFile();
});
const importDrop = $('#import-drop');
importDrop.addEventListener('dragover', (e) => { if (e.dataTransfer && [...e.dataTransfer.types].includes('Files')) { e.preventDefault(); importDrop.classList.add('over'); } });
importDrop.addEventListener('dragleave', () => importDrop.classList.remove('over'));
importDrop.addEventListener('drop', (e) => {
  importDrop.classList.remove('over');
  const file = e.dataTransfer && e.dataTransfer.files[0];
  if (!file) return;
  e.preventDefault();
  crm.importFile = file;
  $('#import-result').replaceChildren();
  showImportFile();
});
$('#import-charset').addEventListener('change', () => $('#import-result').replaceChildren());
$('#import-check').addEventListener('click', () => runImport(true));
$('#import-run').addEventListener('click', () => runImport(false));
async function runImport(dry) {
  const file = crm.importFile;
  if (!file) return;
  $('#import-error').textContent = '';
  const gbk = $('#import-charset').value === 'gbk';
  const p = new URLSearchParams();
  if (dry) p.set('dry_run', '1');
  if (gbk) p.set('charset', 'gbk');
  for (const b of [$('#import-check'), $('#import-run')]) b.disabled = true;
  const btn = dry ? $('#import-check') : $('#import-run');
  const label = btn.textContent;
  btn.textContent = dry ? 'Checking… 检查中' : 'Importing… 导入中';
  try {
    await ensureFieldDefs();
    const r = await api('POST', '/api/v1/customers/import' + (p.toString() ? '?' + p : ''), file, { type: 'text/csv; charset=' + (gbk ? 'gbk' : 'utf-8') });
    showImportResult(r, dry, file.name);
    toast(dry ? 'Checked ' + plural(r.rows, 'row') : 'Imported ' + r.imported + ', updated ' + r.updated, r.rejected_count ? 'info' : 'good');
  } catch (e) {
    $('#import-error').textContent = (e.status === 413 ? 'The file is too large for one import. ' : '') + errText(e);
  } finally {
    btn.textContent = label;
    showImportFile();
  }
}
function showImportResult(r, dry, name) {
  const box = $('#import-result');
  const card = el('section', 'card import-out' + (dry ? ' dry' : ''));
  const h = el('header', 'crm-card-head');
  const t = el('h3', 'import-title', dry ? 'Check 检查结果 · ' : 'Import 导入结果 · ');
  t.append(el('span', 'file', name));
  h.append(t);
  card.append(h);
  if (dry) card.append(el('p', 'dialog-note', 'Dry run: nothing was written. Fix the rejected rows, or import to store the others. 仅检查，未写入数据。'));
  const tiles = el('div', 'tiles');
  const tile = (label, n, cls) => { const t = el('div', 'tile ' + (cls || '')); t.append(el('span', 'tile-n', String(n)), el('span', 'tile-l', label)); tiles.append(t); };
  tile('Rows 行数', r.rows);
  tile(dry ? 'Would import 可新增' : 'Imported 新增', r.imported, 'good');
  tile(dry ? 'Would update 可更新' : 'Updated 更新', r.updated, 'info');
  tile('Rejected 拒绝', r.rejected_count !== undefined ? r.rejected_count : (r.rejected || []).length, (r.rejected_count || (r.rejected || []).length) ? 'bad' : '');
  card.append(tiles);
  if ((r.ignored_columns || []).length) {
    const w = el('p', 'import-warn');
    w.append(icon('alert'), el('span', '', 'Ignored columns (no such field) 未识别的列: ' + r.ignored_columns.join(', ')));
    card.append(w);
  }
  const rej = r.rejected || [];
  if (rej.length) {
    const table = el('table', 'table rejected');
    const thead = el('thead'); const hr = el('tr');
    hr.append(el('th', 'num', 'Line 行'), el('th', '', 'Field 字段'), el('th', '', 'Reason 原因'));
    thead.append(hr);
    const tb = el('tbody');
    const MAX = 500;
    let n = 0;
    for (const row of rej) {
      const errs = Object.entries(row.errors || {});
      errs.forEach(([k, why], i) => {
        if (n++ >= MAX) return;
        const tr = el('tr');
        if (i === 0) { const td = el('td', 'num line', String(row.line)); td.rowSpan = errs.length; tr.append(td); }
        tr.append(el('td', 'rfield', fieldLabel(k)), el('td', 'rwhy', why));
        tb.append(tr);
      });
    }
    table.append(thead, tb);
    card.append(table);
    if (n > MAX) card.append(el('p', 'muted small-note', 'Showing the first ' + MAX + ' of ' + n + ' problems.'));
    if (r.rejected_count > rej.length) card.append(el('p', 'muted small-note', rej.length + ' of ' + r.rejected_count + ' rejected rows listed.'));
  } else if (r.rows) {
    card.append(el('p', 'import-ok', (dry ? 'Every row can be imported. ' : 'Every row was stored. ') + '全部通过。'));
  }
  box.replaceChildren(card);
}

/* ---------- custom fields (admins) ---------- */
async function loadFieldDefs() {
  await ensureFieldDefs(true);
  renderFieldDefs();
}
function optionText(o) { return o && typeof o === 'object' ? (o.label && o.label !== o.value ? o.value + ' = ' + o.label : String(o.value)) : String(o); }
function renderFieldDefs() {
  const tb = $('#field-rows');
  tb.replaceChildren();
  crm.fieldDefs.forEach((d, i) => {
    const tr = el('tr');
    tr.dataset.key = d.key;
    const num = el('td', 'num', String(i + 1)); num.title = 'Position ' + d.position;
    const label = el('td', 'strong', d.label);
    const key = el('td'); key.append(el('code', 'key', d.key));
    const type = el('td'); type.append(badge(FIELD_TYPE[d.type] || d.type, 'ftype t-' + d.type));
    const opts = el('td', 'opts');
    const list = fieldOptions(d);
    for (const o of list.slice(0, 8)) { const b = badge(o.label, 'opt'); if (o.label !== o.value) b.title = 'stored as ' + o.value; opts.append(b); }
    if (list.length > 8) opts.append(el('span', 'muted', '+' + (list.length - 8) + ' more'));
    if (!list.length) opts.append(el('span', 'muted', '—'));
    const req = el('td', d.required ? '' : 'muted', d.required ? 'Required 必填' : 'optional');
    const act = el('td', 'act');
    act.append(button('Edit', 'small field-edit', () => openFieldDialog(d)));
    const del = button('Delete', 'small ghost danger field-delete', () => confirmFieldDelete(act, d));
    act.append(del);
    tr.append(num, label, key, type, opts, req, act);
    tb.append(tr);
  });
  if (!crm.fieldDefs.length) { const tr = el('tr'); const td = el('td', 'muted crm-empty-row', 'No custom fields yet. 暂无自定义字段'); td.colSpan = 7; tr.append(td); tb.append(tr); }
}
function confirmFieldDelete(cell, d) {
  const keep = [...cell.childNodes];
  const q = el('span', 'confirm', 'Delete “' + d.label + '” and its values?');
  const yes = button('Delete', 'small danger-solid');
  const no = button('Keep', 'small ghost', () => cell.replaceChildren(...keep));
  yes.addEventListener('click', async () => {
    yes.disabled = true;
    try {
      await api('DELETE', '/api/v1/field-defs/' + d.id);
      toast('Field “' + d.label + '” deleted', 'good');
      await loadFieldDefs();
    } catch (e) { toast(errText(e), 'bad'); cell.replaceChildren(...keep); }
  });
  cell.replaceChildren(q, yes, no);
  no.focus();
}
function syncFieldType() {
  const t = $('#field-type').value;
  $('#field-options-row').hidden = t !== 'select' && t !== 'multiselect';
}
$('#field-type').addEventListener('change', syncFieldType);
function openFieldDialog(d) {
  crm.editingField = d;
  const f = $('#field-form');
  clearErrors(f);
  $('#field-error').textContent = '';
  $('#field-title').textContent = d ? 'Edit field · ' + d.label : 'New field · 新建字段';
  $('#field-label').value = d ? d.label : '';
  $('#field-key').value = d ? d.key : '';
  $('#field-key').disabled = !!d;
  $('#field-key-hint').textContent = d ? 'the key never changes' : 'a-z, 0-9 and _; never changes';
  $('#field-type').value = d ? d.type : 'text';
  $('#field-type').disabled = !!d;
  const positions = crm.fieldDefs.map((x) => x.position);
  $('#field-position').value = d ? String(d.position) : String(positions.length ? Math.max(...positions) + 10 : 10);
  $('#field-options').value = d && Array.isArray(d.options) ? d.options.map(optionText).join('\n') : '';
  $('#field-required').checked = !!(d && d.required);
  syncFieldType();
  $('#field-save').disabled = false;
  $('#field-dialog').showModal();
  (d ? $('#field-label') : $('#field-label')).focus();
}
// one option a line; "value = label" (or "value=label") gives the option its own label
function parseOptions(text) {
  return text.split('\n').map((s) => s.trim()).filter(Boolean).map((s) => {
    const m = /^(.+?)\s*=\s*(.+)$/.exec(s);
    return m ? { value: m[1].trim(), label: m[2].trim() } : s;
  });
}
$('#field-new').addEventListener('click', () => openFieldDialog(null));
$('#field-cancel').addEventListener('click', () => $('#field-dialog').close());
$('#field-label').addEventListener('input', () => {
  // a key suggested from an English label, until one is typed
  const k = $('#field-key');
  if (crm.editingField || k.dataset.typed) return;
  k.value = $('#field-label').value.toLowerCase().replace(/[^a-z0-9]+/g, '_').replace(/^[^a-z]+|_+$/g, '').slice(0, 64);
});
$('#field-key').addEventListener('input', () => { $('#field-key').dataset.typed = $('#field-key').value ? '1' : ''; });
$('#field-form').addEventListener('submit', async (ev) => {
  ev.preventDefault();
  const f = $('#field-form');
  clearErrors(f);
  $('#field-error').textContent = '';
  const d = crm.editingField;
  const type = $('#field-type').value;
  const body = { label: $('#field-label').value, required: $('#field-required').checked };
  const pos = intOr($('#field-position').value);
  if (pos !== undefined) body.position = pos;
  if (type === 'select' || type === 'multiselect') body.options = parseOptions($('#field-options').value);
  if (!d) { body.key = $('#field-key').value.trim(); body.type = type; }
  $('#field-save').disabled = true;
  try {
    const saved = d ? await api('PATCH', '/api/v1/field-defs/' + d.id, body) : await api('POST', '/api/v1/field-defs', body);
    $('#field-dialog').close();
    $('#field-key').dataset.typed = '';
    toast('Field “' + saved.label + '” saved', 'good');
    await loadFieldDefs();
  } catch (e) {
    const fl = fieldsOf(e);
    if (fl) showErrors(f, fl, $('#field-error'));
    else $('#field-error').textContent = errText(e);
  } finally {
    $('#field-save').disabled = false;
  }
});

/* ---------- reminders bell ---------- */
async function loadReminders() {
  if (!state.me) return;
  try {
    const r = await api('GET', '/api/v1/reminders?status=open&per_page=100');
    crm.reminders = r.items.slice().sort((a, b) => Date.parse(a.due_at) - Date.parse(b.due_at));
    crm.remindersTotal = r.total;
  } catch (e) { return; }
  renderBell();
}
function renderBell() {
  const n = Math.max(crm.reminders.length, crm.remindersTotal && crm.remindersTotal > crm.reminders.length ? crm.remindersTotal : 0);
  const due = crm.reminders.filter((r) => Date.parse(r.due_at) <= serverNow()).length;
  const cnt = $('#bell-count');
  cnt.textContent = n > 99 ? '99+' : String(n);
  cnt.hidden = !n;
  cnt.classList.toggle('due', due > 0);
  $('#bell').title = n ? n + ' open reminder' + (n === 1 ? '' : 's') + (due ? ', ' + due + ' due now' : '') + ' · 提醒' : 'No open reminders · 提醒';
  $('#bell').setAttribute('aria-label', $('#bell').title);
  if (crm.bellOpen) renderBellMenu();
}
function renderBellMenu() {
  const m = $('#bell-menu');
  const head = el('header', 'bm-head');
  head.append(el('strong', '', 'Reminders 提醒'), el('span', 'muted', crm.reminders.length ? crm.reminders.length + ' open' : ''));
  const list = el('div', 'bm-list');
  for (const r of crm.reminders) {
    const row = reminderRow(r, (x) => {
      crm.reminders = crm.reminders.filter((y) => y.id !== x.id);
      if (crm.remindersTotal) crm.remindersTotal--;
      renderBell();
      if (crm.c && crm.c.id === x.customer_id) refresh360Soon(x.customer_id);
    });
    if (r.customer_id) {
      const link = button(r.customer_name || 'Customer #' + r.customer_id, 'link rem-cust', () => { closeBell(); go('customer', r.customer_id); });
      $('.rem-meta', row).append(link);
    }
    list.append(row);
  }
  if (!crm.reminders.length) list.append(el('p', 'muted bm-empty', 'Nothing to follow up right now. 暂无待办提醒'));
  m.replaceChildren(head, list);
}
function openBell() {
  crm.bellOpen = true;
  $('#bell-menu').hidden = false;
  $('#bell').setAttribute('aria-expanded', 'true');
  renderBellMenu();
  loadReminders();
}
function closeBell() {
  crm.bellOpen = false;
  $('#bell-menu').hidden = true;
  $('#bell').setAttribute('aria-expanded', 'false');
}
$('#bell').addEventListener('click', (e) => { e.stopPropagation(); if (crm.bellOpen) closeBell(); else openBell(); });
document.addEventListener('click', (e) => { if (crm.bellOpen && !e.target.closest('.bell-wrap')) closeBell(); });
document.addEventListener('keydown', (e) => { if (e.key === 'Escape' && crm.bellOpen) { closeBell(); $('#bell').focus(); } });

// a reminder fell due (the CRM worker): ring, and say what it is
async function onReminderDue(m) {
  const rem = m.reminder || {};
  await loadReminders();
  const mine = crm.reminders.find((r) => Number(r.id) === Number(rem.id));
  if (!mine) return; // someone else's (admins hear every event)
  const bell = $('#bell');
  bell.classList.remove('ring'); void bell.offsetWidth; bell.classList.add('ring');
  beep();
  crmNotice('Reminder · 提醒', mine.message || rem.message || '', mine.customer_id || rem.customer_id, REMINDER_VIEW[mine.kind]);
  if (crm.c && crm.c.id === mine.customer_id) refresh360Soon(mine.customer_id);
}
function crmNotice(title, text, customerId, view) {
  const box = $('#notices');
  const n = el('div', 'notice info crm-notice');
  n.setAttribute('role', 'status');
  const body = el('div', 'nt-body');
  body.append(el('strong', '', title), el('span', '', text));
  const x = el('button', 'ca-close', '×');
  x.type = 'button'; x.title = 'Dismiss'; x.setAttribute('aria-label', 'Dismiss');
  x.addEventListener('click', (e) => { e.stopPropagation(); n.remove(); });
  n.append(icon('bell'), body, x);
  if (view && viewAllowed(view)) { // a notice about a page (an approval to decide): opens it
    n.title = 'Open';
    n.addEventListener('click', () => { n.remove(); go(view); });
  } else if (customerId) {
    n.title = 'Open the customer';
    n.addEventListener('click', () => { n.remove(); go('customer', customerId); });
  }
  box.prepend(n);
  while (box.children.length > 4) box.lastChild.remove();
  setTimeout(() => n.remove(), 15000);
}

/* ---------- start, stop, live events ---------- */
function renderSubnavs() {
  const entries = [['customers', 'All customers 全部客户', null], ['duplicates', 'Duplicates 查重', SELLERS], ['import', 'Import 导入', SELLERS]];
  for (const nav of $$('.subnav')) {
    const here = nav.closest('.view').id.replace('view-', '');
    const shown = entries.filter(([, , roles]) => !roles || roles.includes(state.me.role));
    nav.replaceChildren(...shown.map(([v, label]) => {
      const b = button(label, 'subtab' + (v === here ? ' active' : ''), () => go(v));
      if (v === here) b.setAttribute('aria-current', 'page');
      b.dataset.sub = v;
      return b;
    }));
    nav.hidden = shown.length < 2;
  }
}
async function loadAgents() {
  crm.agents = new Map(); crm.agentRoles = new Map();
  if (!isStaff()) return;
  try {
    const r = await api('GET', '/api/v1/agents?per_page=200');
    for (const a of r.items) { crm.agents.set(a.id, a.name); crm.agentRoles.set(a.id, a.role); }
  } catch (e) { /* names fall back to "Agent #id" */ }
}
function crmStart(agent) {
  crm.c = null; crm.deals = new Map(); crm.reminders = []; crm.remindersTotal = 0; crm.fuForm = null;
  crm.stagesAt = 0; crm.fieldsAt = 0;
  crm.layouts = new Map(); crm.custLayout = null; crm.access = null; crm.accessP = null; // (another sign-in: another role)
  ensureFieldAccess();
  $('.tab[data-view=pipeline]').hidden = !canSell();
  $('.tab[data-view=leads]').hidden = !canSell();
  $('.tab[data-view=fields]').hidden = agent.role !== 'admin';
  $('#deal-new').hidden = !canSell();
  $('#lead-new').hidden = !canSell();
  renderSubnavs();
  renderBell();
  loadReminders();
  loadAgents().then(() => { if (state.view === 'customer' && crm.c) renderC360(); });
}
function crmStop() {
  closeBell();
  for (const d of $$('dialog.crm-dialog')) if (d.open) d.close();
  crm.c = null; crm.reminders = []; crm.remindersTotal = 0;
  renderBell();
}
let leadsTimer = null, dealsTimer = null;
function crmFrame(m) {
  switch (m.type) {
    case 'auth_ok': loadReminders(); return; // (again after a reconnect: events may have been missed)
    case 'reminder.due': onReminderDue(m); return;
    default: break;
  }
  const cid = m.customer_id;
  if (m.type.startsWith('deal.') && m.deal && state.view === 'pipeline' && crm.dealsLoaded) {
    const d = m.deal;
    if (!crm.moving.has(d.id)) {
      const old = crm.deals.get(d.id);
      if (dealShown(d)) crm.deals.set(d.id, old ? { ...old, ...d } : d); else crm.deals.delete(d.id);
      clearTimeout(dealsTimer);
      dealsTimer = setTimeout(renderKanban, 100);
    }
  }
  if (/^(customer|deal|activity|object)\./.test(m.type) && cid && crm.c && crm.c.id === cid && state.view === 'customer') refresh360Soon(cid);
  if (m.type.startsWith('lead.') && state.view === 'leads') {
    clearTimeout(leadsTimer);
    leadsTimer = setTimeout(() => loadLeads().catch(() => {}), 300);
  }
}
// due times in the bell move on
setInterval(() => { if (state.me && !document.hidden) renderBell(); }, 60000);
