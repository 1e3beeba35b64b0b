// Switchboard console — Field access & page layouts 字段权限与布局, for admins
// (docs/field-permissions.md, docs/layouts.md).
// 1. The permission matrix: a row per field of the catalogue (the customer's profile fields,
//    each custom field attrs.KEY, the deal's fields), a column per role (manager, agent,
//    sales, marketer; admins are never restricted); each cell is a three-way choice —
//    editable (no row), read-only, hidden — made of radio buttons (arrow keys move within a
//    cell). Save PUTs the whole matrix; the server's 422 marks the cells it names.
// 2. The layout editor for the customer page, the deal page and each custom object type
//    (obj.TYPE): titled groups, each an ordered list of fields; a field moves by dragging it,
//    or with its ↑ / ↓ buttons (past the end of a group into the next one) and its "move to
//    group" menu; groups are added, renamed, reordered and removed. Save PUTs the layout,
//    "Reset to default" DELETEs it. crm.js draws the customer page and the deal form from it.
// data-state: #fp-page (idle | loading | ready | error); #fp-matrix (loading | ready | dirty |
// saving | error); #fp-layout (loading | ready | dirty | saving | error, with data-object and
// data-customised). Each matrix cell .fp-seg has data-role, data-object, data-field, data-access
// (and data-changed while unsaved); each layout group .fp-group data-index, each field .fp-fld
// data-field.
// Loaded after app.js and crm.js (and the other pages), built on their helpers (el, opt, badge,
// icon, api, errText, toast, button, fieldsOf, state, ensureFieldDefs, CUSTOMER_FIELD, fullTime,
// forgetLayout). Everything from the server is set as text.
'use strict';

Object.assign(ICONS, {
  fpEdit: 'M3 17.25V21h3.75L17.81 9.94l-3.75-3.75zM20.71 7.04a1 1 0 0 0 0-1.41l-2.34-2.34a1 1 0 0 0-1.41 0l-1.83 1.83 3.75 3.75z',
  fpLock: 'M18 8h-1V6A5 5 0 0 0 7 6v2H6a2 2 0 0 0-2 2v10a2 2 0 0 0 2 2h12a2 2 0 0 0 2-2V10a2 2 0 0 0-2-2zM9 6a3 3 0 0 1 6 0v2H9V6z',
  fpHidden: 'M12 7a5 5 0 0 1 5 5c0 .65-.13 1.26-.36 1.83l2.92 2.92A11.8 11.8 0 0 0 23 12c-1.73-4.39-6-7.5-11-7.5-1.4 0-2.74.25-3.98.7l2.16 2.16A4.9 4.9 0 0 1 12 7zM2 4.27l2.74 2.74A11.8 11.8 0 0 0 1 12c1.73 4.39 6 7.5 11 7.5 1.55 0 3.03-.3 4.38-.84l.42.42L19.73 22 21 20.73 3.27 3zM7.53 9.8l1.55 1.55a3 3 0 0 0 3.57 3.57l1.55 1.55A5 5 0 0 1 7.53 9.8zm4.31-.78 3.15 3.15.02-.17a3 3 0 0 0-3-3z',
  fpUp: 'M7.41 15.41 12 10.83l4.59 4.58L18 14l-6-6-6 6z',
  fpDown: 'M7.41 8.59 12 13.17l4.59-4.58L18 10l-6 6-6-6z',
  fpGrip: 'M9 4h2v2H9zm4 0h2v2h-2zM9 9h2v2H9zm4 0h2v2h-2zm-4 5h2v2H9zm4 0h2v2h-2zm-4 5h2v2H9zm4 0h2v2h-2z',
  fpPlus: 'M19 13h-6v6h-2v-6H5v-2h6V5h2v6h6z',
  fpX: 'M19 6.41 17.59 5 12 10.59 6.41 5 5 6.41 10.59 12 5 17.59 6.41 19 12 13.41 17.59 19 19 17.59 13.41 12z',
  fpReset: 'M12 5V1L7 6l5 5V7a6 6 0 1 1-6 6H4a8 8 0 1 0 8-8z',
  fpShield: 'M12 1 3 5v6c0 5.5 3.8 10.7 9 12 5.2-1.3 9-6.5 9-12V5zm-1 16-4-4 1.4-1.4L11 14.2l5.6-5.6L18 10z',
  fpLayout: 'M3 3h8v8H3zm10 0h8v5h-8zM3 13h8v8H3zm10-3h8v11h-8z',
});

const FP_ROLES_ALLOWED = ['admin'];
Object.assign(VIEW_ROLES, { fieldperms: FP_ROLES_ALLOWED });
Object.assign(VIEWS, { fieldperms: () => loadFieldPerms() });

// the roles a matrix column stands for (admins are never restricted)
const FP_ROLES = [['manager', 'Manager', '主管'], ['agent', 'Agent', '坐席'], ['sales', 'Sales', '销售'], ['marketer', 'Marketer', '市场']];
// [access, label, zh, icon, what it means]
const FP_ACCESS = [
  ['edit', 'Editable', '可编辑', 'fpEdit', 'sees and changes it'],
  ['read', 'Read-only', '只读', 'fpLock', 'sees it, cannot change it'],
  ['hidden', 'Hidden', '隐藏', 'fpHidden', 'never receives it: not in pages, exports, events or filters'],
];
const FP_OBJECT = { customer: ['Customer', '客户'], deal: ['Deal', '商机'] };
const FP_DEAL_FIELD = { title: 'Title 商机名称', amount: 'Amount 金额', currency: 'Currency 币种', stage_id: 'Stage 阶段',
  probability: 'Probability 赢率', expected_close: 'Expected close 预计成交', payment_due: 'Payment due 回款日期', owner_id: 'Owner 负责人',
  win_loss_reason: 'Win / loss reason 输赢原因', competitor: 'Competitor 竞争对手' };
const FP_REASON_ZH = { 'must not be empty': '不能为空', 'names a field this page does not have': '该页面没有此字段',
  'a field may be placed once': '字段只能放置一次', 'not a field permissions can name (see catalogue)': '该字段不存在或不可设置权限',
  'listed twice for this role': '同一角色重复设置' };

const fp = {
  built: false, seq: 0,
  catalogue: null,        // {customer: [...], deal: [...]}
  saved: new Map(),       // 'role|object|field' → 'read' | 'hidden' (as stored)
  draft: new Map(),       // the same, as edited
  stale: [],              // stored rows naming fields that no longer exist (left out on save)
  matrixErr: new Map(),   // cell key → the server's reason (after a 422)
  types: [],              // custom object types
  object: 'customer',     // the layout being edited
  previewRole: 'admin',   // the preview shows the page as this role would see it
  lay: new Map(),         // object → {fields, saved, draft, customised, updated_at, errors}
  layLoading: 0,
  drag: null,             // {field} while a field is dragged
  confirmReset: false,
};
const fpKey = (role, object, field) => role + '|' + object + '|' + field;
const fpReason = (why) => why + (FP_REASON_ZH[why] ? ' · ' + FP_REASON_ZH[why] : '');
const fpClone = (groups) => groups.map((g) => ({ title: g.title, fields: g.fields.slice() }));
const fpSig = (groups) => JSON.stringify(groups.map((g) => [g.title, g.fields]));

/* ---------- labels ---------- */
function fpFieldLabel(object, field) {
  if (object === 'customer') {
    if (field.startsWith('attrs.')) {
      const d = (crm.fieldDefs || []).find((x) => x.key === field.slice(6));
      return d ? d.label : field.slice(6);
    }
    return CUSTOMER_FIELD[field] || field;
  }
  if (object === 'deal') return FP_DEAL_FIELD[field] || field;
  const t = fp.types.find((x) => 'obj.' + x.key === object);
  const f = t && (t.fields || []).find((x) => x.key === field);
  return f ? f.label : field;
}
function fpFieldName(object, field, cls) {
  const w = el('span', 'fp-fname' + (cls ? ' ' + cls : ''));
  w.append(el('span', 'fp-flabel', fpFieldLabel(object, field)), el('code', 'fp-fkey', field));
  if (object === 'customer' && field.startsWith('attrs.')) w.append(badge('custom 自定义', 'fp-custom'));
  return w;
}
function fpObjectLabel(object) {
  if (FP_OBJECT[object]) return FP_OBJECT[object].join(' ');
  const t = fp.types.find((x) => 'obj.' + x.key === object);
  return t ? t.label : object;
}
function fpErrors(e) {
  return fieldsOf(e) || {};
}

/* ---------- the page skeleton ---------- */
function fpBuild() {
  const page = $('#fp-page');
  const head = el('div', 'page-head fp-head');
  const hd = el('div');
  const h2 = el('h2', '', 'Field access & page layouts ');
  h2.append(el('span', 'zh', '字段权限与页面布局'));
  hd.append(h2, el('p', 'muted', 'Decide per role which customer and deal fields are editable, read-only or hidden, and how the fields of ' +
    'the customer, deal and custom-object pages are grouped and ordered. Admins are never restricted; a customer\'s name, number, ' +
    'stage and contact details are not governed here. 按角色设置字段的可编辑、只读或隐藏，并调整页面字段的分组与顺序。'));
  head.append(hd);
  page.replaceChildren(head, fpBuildMatrix(), fpBuildLayout());
  fp.built = true;
}

/* ---------- 1. the permission matrix ---------- */
function fpBuildMatrix() {
  const card = el('section', 'card fp-card fp-matrix');
  card.id = 'fp-matrix';
  card.dataset.state = 'loading';
  card.setAttribute('aria-label', 'Field permissions');
  const head = el('div', 'fp-card-head');
  const h = el('h3', 'fp-h3', 'Who may see and change each field ');
  h.prepend(el('span', 'fp-h-ic fp-ic-shield'));
  h.firstChild.append(icon('fpShield'));
  h.append(el('span', 'zh', '字段权限'));
  const legend = el('div', 'fp-legend');
  legend.setAttribute('aria-label', 'What the choices mean');
  for (const [a, en, zh, ic, what] of FP_ACCESS) {
    const x = el('span', 'fp-leg fp-a-' + a);
    x.title = what;
    x.append(el('span', 'fp-leg-ic'), document.createTextNode(en + ' ' + zh));
    x.firstChild.append(icon(ic));
    legend.append(x);
  }
  head.append(h, legend);
  const note = el('p', 'fp-note muted');
  note.id = 'fp-stale';
  note.hidden = true;
  const wrap = el('div', 'fp-table-wrap');
  const t = el('table', 'fp-table');
  const thead = el('thead'), hr = el('tr');
  const th0 = el('th', 'fp-th-field', 'Field ');
  th0.append(el('span', 'zh', '字段'));
  hr.append(th0);
  for (const [r, en, zh] of FP_ROLES) {
    const th = el('th', 'fp-th-role', en);
    th.dataset.role = r;
    th.append(el('span', 'zh', zh));
    hr.append(th);
  }
  thead.append(hr);
  const tb = el('tbody');
  tb.id = 'fp-rows';
  t.append(thead, tb);
  wrap.append(t);
  const foot = el('div', 'fp-foot');
  const sum = el('span', 'fp-summary muted');
  sum.id = 'fp-summary';
  const err = el('p', 'error fp-error');
  err.id = 'fp-matrix-error';
  err.setAttribute('role', 'alert');
  const revert = button('Discard changes 放弃修改', 'ghost', fpRevertMatrix);
  revert.id = 'fp-revert';
  const save = el('button', 'primary', 'Save permissions 保存权限');
  save.type = 'button';
  save.id = 'fp-save';
  save.addEventListener('click', fpSaveMatrix);
  foot.append(sum, err, el('span', 'spacer'), revert, save);
  card.append(head, note, wrap, foot);
  card.addEventListener('change', (e) => {
    const r = e.target.closest('input[type=radio]');
    const seg = r && r.closest('.fp-seg');
    if (!seg) return;
    const k = fpKey(seg.dataset.role, seg.dataset.object, seg.dataset.field);
    if (r.value === 'edit') fp.draft.delete(k); else fp.draft.set(k, r.value);
    fp.matrixErr.delete(k);
    if (!fp.matrixErr.size) $('#fp-matrix-error').textContent = '';
    fpPaintCell(seg);
    fpMatrixState();
  });
  return card;
}
async function fpLoadMatrix() {
  const card = $('#fp-matrix');
  if (!fp.catalogue) card.dataset.state = 'loading';
  const [r] = await Promise.all([api('GET', '/api/v1/field-permissions'), ensureFieldDefs(true).catch(() => [])]);
  fpTakeMatrix(r);
  fp.draft = new Map(fp.saved);
  fp.matrixErr.clear();
  $('#fp-matrix-error').textContent = '';
  fpRenderMatrix();
}
function fpTakeMatrix(r) {
  fp.catalogue = r.catalogue || { customer: [], deal: [] };
  fp.saved = new Map();
  fp.stale = [];
  for (const x of r.items || []) {
    if ((fp.catalogue[x.object] || []).includes(x.field)) fp.saved.set(fpKey(x.role, x.object, x.field), x.access);
    else fp.stale.push(x);
  }
}
function fpRenderMatrix() {
  const tb = $('#fp-rows');
  const rows = [];
  for (const object of ['customer', 'deal']) {
    const sec = el('tr', 'fp-sec');
    const th = el('th', '', FP_OBJECT[object][0] + ' ');
    th.colSpan = 1 + FP_ROLES.length;
    th.append(el('span', 'zh', FP_OBJECT[object][1]), el('span', 'fp-sec-n', (fp.catalogue[object] || []).length + ' fields'));
    sec.append(th);
    rows.push(sec);
    for (const field of fp.catalogue[object] || []) {
      const tr = el('tr', 'fp-row');
      tr.dataset.object = object;
      tr.dataset.field = field;
      const name = el('th', 'fp-field');
      name.scope = 'row';
      name.append(fpFieldName(object, field));
      tr.append(name);
      for (const [role, en] of FP_ROLES) {
        const td = el('td', 'fp-cell');
        const seg = fpSegment(role, object, field, en);
        td.append(seg, el('span', 'fp-state'));
        tr.append(td);
        fpPaintCell(seg);
      }
      rows.push(tr);
    }
  }
  tb.replaceChildren(...rows);
  const note = $('#fp-stale');
  note.hidden = !fp.stale.length;
  note.textContent = fp.stale.length ? fp.stale.length + (fp.stale.length === 1 ? ' stored rule names a field' : ' stored rules name fields') +
    ' that no longer exist (' + fp.stale.map((x) => x.role + ' · ' + x.field).join(', ') + '); saving drops ' +
    (fp.stale.length === 1 ? 'it' : 'them') + '. 已删除字段的权限将在保存时移除。' : '';
  fpMatrixState();
}
// one cell: three radio buttons sharing a name (the arrow keys move between them)
function fpSegment(role, object, field, roleName) {
  const seg = el('div', 'fp-seg');
  seg.setAttribute('role', 'radiogroup');
  seg.setAttribute('aria-label', roleName + ': ' + fpFieldLabel(object, field));
  Object.assign(seg.dataset, { role, object, field });
  const name = 'fp-' + role + '-' + object + '-' + field;
  for (const [a, en, zh, ic, what] of FP_ACCESS) {
    const l = el('label', 'fp-opt fp-a-' + a);
    l.dataset.access = a;
    l.title = en + ' ' + zh + ' — ' + roleName + ' ' + what;
    const r = el('input');
    r.type = 'radio';
    r.name = name;
    r.value = a;
    r.className = 'fp-radio';
    l.append(r, icon(ic), el('span', 'fp-sr', en));
    seg.append(l);
  }
  fpPaintCell(seg);
  return seg;
}
function fpPaintCell(seg) {
  const k = fpKey(seg.dataset.role, seg.dataset.object, seg.dataset.field);
  const a = fp.draft.get(k) || 'edit';
  seg.dataset.access = a;
  for (const r of $$('input', seg)) r.checked = r.value === a;
  const st = seg.parentNode && $('.fp-state', seg.parentNode);
  if (st) { const x = FP_ACCESS.find(([v]) => v === a); st.textContent = x[1]; st.className = 'fp-state fp-a-' + a; }
  const changed = a !== (fp.saved.get(k) || 'edit');
  if (changed) seg.dataset.changed = 'true'; else delete seg.dataset.changed;
  const why = fp.matrixErr.get(k);
  seg.classList.toggle('invalid', !!why);
  if (why) { seg.dataset.error = why; seg.title = fpReason(why); } else { delete seg.dataset.error; seg.removeAttribute('title'); }
  const tr = seg.closest('tr');
  if (tr) tr.classList.toggle('fp-row-set', $$('.fp-seg', tr).some((s) => s.dataset.access !== 'edit'));
}
function fpDirtyMatrix() {
  return fp.draft.size !== fp.saved.size || [...fp.draft].some(([k, v]) => fp.saved.get(k) !== v);
}
function fpMatrixState() {
  const card = $('#fp-matrix');
  if (!card || card.dataset.state === 'saving') return;
  const dirty = fpDirtyMatrix();
  card.dataset.state = fp.matrixErr.size ? 'error' : dirty ? 'dirty' : 'ready';
  $('#fp-save').disabled = !dirty && !fp.stale.length;
  $('#fp-revert').hidden = !dirty;
  let read = 0, hidden = 0;
  for (const v of fp.draft.values()) if (v === 'read') read++; else hidden++;
  const s = $('#fp-summary');
  s.replaceChildren();
  s.append(el('span', 'fp-sum-n fp-a-read', read + ' read-only 只读'), el('span', 'fp-sum-n fp-a-hidden', hidden + ' hidden 隐藏'));
  if (dirty) s.append(badge('Unsaved changes 未保存', 'warn fp-unsaved'));
}
function fpRevertMatrix() {
  fp.draft = new Map(fp.saved);
  fp.matrixErr.clear();
  $('#fp-matrix-error').textContent = '';
  for (const seg of $$('#fp-rows .fp-seg')) fpPaintCell(seg);
  fpMatrixState();
}
async function fpSaveMatrix() {
  const card = $('#fp-matrix');
  if (card.dataset.state === 'saving') return;
  const items = [];
  for (const [k, access] of fp.draft) {
    const [role, object, field] = k.split('|');
    items.push({ role, object, field, access });
  }
  fp.matrixErr.clear();
  $('#fp-matrix-error').textContent = '';
  card.dataset.state = 'saving';
  $('#fp-save').disabled = true;
  try {
    const r = await api('PUT', '/api/v1/field-permissions', { items });
    fpTakeMatrix(r);
    fp.draft = new Map(fp.saved);
    card.dataset.state = 'ready';
    fpRenderMatrix();
    if (fp.lay.has(fp.object) && $('#fp-layout').dataset.state !== 'saving') fpRenderLayout(); // the marks on the fields
    toast('Field permissions saved 字段权限已保存', 'good');
  } catch (e) {
    card.dataset.state = 'error';
    const f = fpErrors(e);
    const rest = [];
    for (const [path, why] of Object.entries(f)) {
      const m = /^items\[(\d+)\]\.?(\w*)$/.exec(path);
      const it = m && items[Number(m[1])];
      if (it) {
        fp.matrixErr.set(fpKey(it.role, it.object, it.field), why);
        const role = (FP_ROLES.find(([r]) => r === it.role) || [it.role, it.role])[1];
        rest.push(role + ' · ' + fpFieldLabel(it.object, it.field) + ' (' + it.field + '): ' + fpReason(why));
      } else rest.push(path + ': ' + fpReason(why));
    }
    $('#fp-matrix-error').textContent = 'Not saved 未保存 — ' + (rest.length ? rest.join('; ') : errText(e));
    for (const seg of $$('#fp-rows .fp-seg')) fpPaintCell(seg);
    const first = $('#fp-rows .fp-seg.invalid');
    if (first) first.scrollIntoView({ block: 'center' });
    card.dataset.state = 'error';
    $('#fp-save').disabled = false;
    $('#fp-revert').hidden = !fpDirtyMatrix();
  }
}

/* ---------- 2. the layout editor ---------- */
function fpBuildLayout() {
  const card = el('section', 'card fp-card fp-layout');
  card.id = 'fp-layout';
  card.dataset.state = 'loading';
  card.setAttribute('aria-label', 'Page layouts');
  const head = el('div', 'fp-card-head');
  const h = el('h3', 'fp-h3', 'Page layouts ');
  h.prepend(el('span', 'fp-h-ic fp-ic-layout'));
  h.firstChild.append(icon('fpLayout'));
  h.append(el('span', 'zh', '页面布局'));
  const objs = el('div', 'fp-objs');
  objs.id = 'fp-objs';
  objs.setAttribute('role', 'tablist');
  objs.setAttribute('aria-label', 'Page');
  head.append(h, objs);
  const help = el('p', 'fp-note muted', 'Drag a field to another place, or use its ↑ ↓ buttons (past the end of a group it moves into the next) and ' +
    'its group menu. Pages show the groups in this order; fields a role may not see are left out for that role. ' +
    '拖动字段，或用 ↑ ↓ 按钮调整顺序。');
  const status = el('div', 'fp-lay-status');
  status.id = 'fp-lay-status';
  const groups = el('div', 'fp-groups');
  groups.id = 'fp-groups';
  const split = el('div', 'fp-lay-split');
  const pv = el('aside', 'fp-preview');
  pv.id = 'fp-preview';
  pv.setAttribute('aria-label', 'Preview');
  const pvh = el('div', 'fp-pv-head');
  const pvt = el('strong', '', 'Preview ');
  pvt.append(el('span', 'zh', '预览'));
  const as = el('select', 'fp-pv-role');
  as.id = 'fp-preview-role';
  as.setAttribute('aria-label', 'Preview as role');
  for (const [r, en, zh] of [['admin', 'Admin', '管理员'], ...FP_ROLES]) as.append(opt(r, 'as ' + en + ' ' + zh, r === fp.previewRole));
  as.addEventListener('change', () => { fp.previewRole = as.value; fpRenderPreview(); });
  pvh.append(pvt, as);
  const pvb = el('div', 'fp-pv-body');
  pvb.id = 'fp-preview-body';
  pv.append(pvh, pvb);
  split.append(groups, pv);
  const add = button('Add group 添加分组', 'fp-add-group', fpAddGroup, 'fpPlus');
  add.id = 'fp-add-group';
  const err = el('p', 'error fp-error');
  err.id = 'fp-lay-error';
  err.setAttribute('role', 'alert');
  const foot = el('div', 'fp-foot');
  const reset = el('span', 'fp-reset-wrap');
  reset.id = 'fp-reset-wrap';
  const revert = button('Discard changes 放弃修改', 'ghost', fpRevertLayout);
  revert.id = 'fp-lay-revert';
  const save = el('button', 'primary', 'Save layout 保存布局');
  save.type = 'button';
  save.id = 'fp-lay-save';
  save.addEventListener('click', fpSaveLayout);
  foot.append(add, reset, err, el('span', 'spacer'), revert, save);
  card.append(head, help, status, split, foot);
  groups.addEventListener('input', (e) => {
    const inp = e.target.closest('.fp-gtitle');
    if (!inp) return;
    const L = fp.lay.get(fp.object);
    const i = Number(inp.closest('.fp-group').dataset.index);
    if (!L || !L.draft[i]) return;
    L.draft[i].title = inp.value;
    if (L.errors) { delete L.errors['groups[' + i + '].title']; if (!Object.keys(L.errors).length) L.errors = null; }
    inp.closest('.fp-gtitle-wrap').classList.remove('invalid');
    const te = $(':scope > span.field-error', inp.closest('.fp-group'));
    if (te) te.remove();
    fpLayoutState();
    fpRenderPreview();
  });
  // the fields' group menus follow a renamed group
  groups.addEventListener('change', (e) => {
    const inp = e.target.closest('.fp-gtitle');
    if (!inp) return;
    const i = inp.closest('.fp-group').dataset.index;
    for (const o of $$(`#fp-groups .fp-moveto option[value="${i}"]`)) o.textContent = (Number(i) + 1) + '. ' + (inp.value.trim() || '(untitled)');
  });
  return card;
}
async function fpLoadTypes() {
  try { fp.types = (await api('GET', '/api/v1/object-types')).items || []; } catch (e) { fp.types = []; }
}
function fpRenderObjects() {
  const box = $('#fp-objs');
  const list = ['customer', 'deal', ...fp.types.map((t) => 'obj.' + t.key)];
  if (!list.includes(fp.object)) fp.object = 'customer';
  box.replaceChildren(...list.map((o) => {
    const b = el('button', 'fp-obj' + (o === fp.object ? ' active' : ''), fpObjectLabel(o));
    b.type = 'button';
    b.dataset.object = o;
    b.setAttribute('role', 'tab');
    b.setAttribute('aria-selected', o === fp.object ? 'true' : 'false');
    const L = fp.lay.get(o);
    if (L && fpSig(L.draft) !== fpSig(L.saved)) { b.classList.add('dirty'); b.title = 'Unsaved changes'; }
    b.addEventListener('click', () => fpPickObject(o));
    return b;
  }));
}
function fpPickObject(o) {
  if (o === fp.object && fp.lay.has(o)) return;
  fp.object = o;
  fp.confirmReset = false;
  fpRenderObjects();
  fpLoadLayout(o).catch((e) => toast(errText(e), 'bad'));
}
async function fpLoadLayout(object, force) {
  const card = $('#fp-layout');
  card.dataset.object = object;
  const seq = ++fp.layLoading;
  if (!force && fp.lay.has(object)) { fpRenderLayout(); return; }
  card.dataset.state = 'loading';
  $('#fp-groups').replaceChildren(el('p', 'muted fp-loading', 'Loading… 加载中'));
  let r;
  try {
    r = await api('GET', '/api/v1/layouts/' + encodeURIComponent(object));
  } catch (e) {
    if (seq !== fp.layLoading) return;
    card.dataset.state = 'error';
    $('#fp-groups').replaceChildren(el('p', 'error', 'The layout could not be read: ' + errText(e)));
    throw e;
  }
  if (seq !== fp.layLoading || fp.object !== object) return;
  fpTakeLayout(object, r);
  fpRenderLayout();
}
function fpTakeLayout(object, r) {
  const saved = (r.groups || []).map((g) => ({ title: String(g.title || ''), fields: (g.fields || []).slice() }));
  fp.lay.set(object, { fields: (r.fields || []).slice(), saved, draft: fpClone(saved), customised: !!r.customised, updated_at: r.updated_at, errors: null });
}
function fpRenderLayout(focus) {
  const L = fp.lay.get(fp.object);
  const card = $('#fp-layout');
  if (!L) return;
  card.dataset.object = fp.object;
  card.dataset.customised = L.customised ? 'true' : 'false';
  const box = $('#fp-groups');
  const errs = L.errors || {};
  const n = L.draft.length;
  box.replaceChildren(...L.draft.map((g, i) => {
    const sec = el('section', 'fp-group');
    sec.dataset.index = i;
    const gh = el('div', 'fp-ghead');
    const tw = el('label', 'fp-gtitle-wrap field');
    const ti = el('input', 'fp-gtitle');
    ti.value = g.title;
    ti.maxLength = 100;
    ti.placeholder = 'Group title 分组标题';
    ti.setAttribute('aria-label', 'Title of group ' + (i + 1));
    ti.autocomplete = 'off';
    tw.append(el('span', 'fp-gnum', String(i + 1)), ti);
    const te = el('span', 'field-error', errs['groups[' + i + '].title'] ? fpReason(errs['groups[' + i + '].title']) : '');
    if (te.textContent) tw.classList.add('invalid');
    const acts = el('div', 'fp-gacts');
    acts.append(el('span', 'fp-gcount muted', g.fields.length + (g.fields.length === 1 ? ' field' : ' fields')));
    const up = fpIconButton('fpUp', 'Move group up', 'fp-gup', () => fpMoveGroup(i, -1));
    up.disabled = i === 0;
    const down = fpIconButton('fpDown', 'Move group down', 'fp-gdown', () => fpMoveGroup(i, 1));
    down.disabled = i === n - 1;
    const rm = fpIconButton('fpX', 'Remove group' + (g.fields.length ? ' (its fields move to the ' + (i ? 'group above' : 'next group') + ')' : ''),
      'fp-gremove', () => fpRemoveGroup(i));
    rm.disabled = n === 1;
    acts.append(up, down, rm);
    gh.append(tw, acts);
    sec.append(gh);
    if (te.textContent) sec.append(te);
    const fe = errs['groups[' + i + '].fields'];
    if (fe) { const x = el('p', 'field-error', fpReason(fe)); sec.append(x); sec.classList.add('invalid'); }
    const ol = el('ol', 'fp-fields');
    ol.dataset.index = i;
    g.fields.forEach((f, k) => ol.append(fpFieldItem(f, i, k, g.fields.length, n, L.draft)));
    if (!g.fields.length) ol.append(el('li', 'fp-empty muted', 'No fields yet — drag fields here or use a field\'s group menu. 拖动字段到此处'));
    sec.append(ol);
    return sec;
  }));
  fpLayoutState();
  fpRenderReset();
  fpRenderPreview();
  if (focus) fpRefocus(focus);
}
// the page as a role would see it, with the saved permissions: hidden fields left out, read-only ones locked
function fpRenderPreview() {
  const L = fp.lay.get(fp.object);
  const box = $('#fp-preview-body');
  if (!L || !box) return;
  const governed = fp.object === 'customer' || fp.object === 'deal';
  const sel = $('#fp-preview-role');
  sel.disabled = !governed;
  const role = governed ? fp.previewRole : 'admin';
  const access = (f) => (role === 'admin' ? 'edit' : fp.saved.get(fpKey(role, fp.object, f)) || 'edit');
  const parts = [], hidden = [];
  for (const g of L.draft) {
    const shown = g.fields.filter((f) => (access(f) === 'hidden' ? (hidden.push(f), false) : true));
    if (!shown.length) continue;
    const sec = el('div', 'fp-pv-group');
    sec.append(el('div', 'fp-pv-title', g.title.trim() || '(untitled)'));
    const dl = el('dl', 'fp-pv-list');
    for (const f of shown) {
      const dd = el('dd');
      if (access(f) === 'read') { const b = el('span', 'lock-hint', 'read-only'); b.prepend(icon('fpLock')); dd.append(b); } else dd.append(el('span', 'fp-pv-bar'));
      dl.append(el('dt', '', fpFieldLabel(fp.object, f)), dd);
    }
    sec.append(dl);
    parts.push(sec);
  }
  if (!parts.length) parts.push(el('p', 'muted fp-pv-none', 'Nothing to show 无可显示字段'));
  if (hidden.length) {
    const n = el('p', 'fp-pv-hidden');
    n.append(icon('fpHidden'), document.createTextNode('Not shown to this role 对该角色隐藏: ' + hidden.map((f) => fpFieldLabel(fp.object, f)).join(', ')));
    parts.push(n);
  }
  if (!governed) parts.push(el('p', 'muted fp-pv-note', 'Field permissions do not cover custom objects yet. 自定义对象暂不支持字段权限。'));
  box.replaceChildren(...parts);
}
function fpIconButton(ic, label, cls, onClick) {
  const b = el('button', 'fp-ibtn ' + cls);
  b.type = 'button';
  b.title = label;
  b.setAttribute('aria-label', label);
  b.append(icon(ic));
  b.addEventListener('click', onClick);
  return b;
}
function fpFieldItem(f, gi, k, len, ngroups, groups) {
  const li = el('li', 'fp-fld');
  li.dataset.field = f;
  li.draggable = true;
  const grip = el('span', 'fp-grip');
  grip.append(icon('fpGrip'));
  grip.title = 'Drag to move 拖动';
  li.append(grip, fpFieldName(fp.object, f));
  const acc = fpAccessHints(f);
  if (acc) li.append(acc);
  const acts = el('span', 'fp-facts');
  const label = fpFieldLabel(fp.object, f);
  const up = fpIconButton('fpUp', 'Move ' + label + ' up', 'fp-up', () => fpMoveField(f, -1));
  up.disabled = gi === 0 && k === 0;
  const down = fpIconButton('fpDown', 'Move ' + label + ' down', 'fp-down', () => fpMoveField(f, 1));
  down.disabled = gi === ngroups - 1 && k === len - 1;
  const to = el('select', 'fp-moveto');
  to.setAttribute('aria-label', 'Group of ' + label);
  groups.forEach((g, i) => to.append(opt(String(i), (i + 1) + '. ' + (g.title.trim() || '(untitled)'), i === gi)));
  to.addEventListener('change', () => fpMoveFieldTo(f, Number(to.value)));
  to.hidden = ngroups < 2;
  acts.append(up, down, to);
  li.append(acts);
  li.addEventListener('dragstart', (e) => {
    fp.drag = { field: f };
    li.classList.add('dragging');
    e.dataTransfer.effectAllowed = 'move';
    try { e.dataTransfer.setData('text/plain', f); } catch (x) { /* some browsers */ }
  });
  li.addEventListener('dragend', () => { fp.drag = null; li.classList.remove('dragging'); fpClearDrop(); });
  return li;
}
// small marks of the saved permissions on customer and deal fields: which roles see it read-only or not at all
function fpAccessHints(f) {
  if (fp.object !== 'customer' && fp.object !== 'deal') return null;
  const read = [], hidden = [];
  for (const [r, en] of FP_ROLES) {
    const a = fp.saved.get(fpKey(r, fp.object, f));
    if (a === 'read') read.push(en); else if (a === 'hidden') hidden.push(en);
  }
  if (!read.length && !hidden.length) return null;
  const w = el('span', 'fp-hints');
  if (hidden.length) { const b = badge(hidden.join(', '), 'fp-hint fp-a-hidden'); b.prepend(icon('fpHidden')); b.title = 'Hidden for ' + hidden.join(', '); w.append(b); }
  if (read.length) { const b = badge(read.join(', '), 'fp-hint fp-a-read'); b.prepend(icon('fpLock')); b.title = 'Read-only for ' + read.join(', '); w.append(b); }
  return w;
}
function fpFind(groups, f) {
  for (let i = 0; i < groups.length; i++) { const k = groups[i].fields.indexOf(f); if (k >= 0) return [i, k]; }
  return [-1, -1];
}
function fpChanged(focus) {
  const L = fp.lay.get(fp.object);
  if (L) L.errors = null;
  $('#fp-lay-error').textContent = '';
  fpRenderLayout(focus);
  fpRenderObjects();
}
function fpMoveField(f, dir) {
  const L = fp.lay.get(fp.object);
  const g = L.draft;
  const [i, k] = fpFind(g, f);
  if (i < 0) return;
  g[i].fields.splice(k, 1);
  if (dir < 0) {
    if (k > 0) g[i].fields.splice(k - 1, 0, f);
    else if (i > 0) g[i - 1].fields.push(f);
    else g[i].fields.unshift(f);
  } else if (k < g[i].fields.length) g[i].fields.splice(k + 1, 0, f);
  else if (i < g.length - 1) g[i + 1].fields.unshift(f);
  else g[i].fields.push(f);
  fpChanged({ field: f, cls: dir < 0 ? 'fp-up' : 'fp-down' });
}
function fpMoveFieldTo(f, gi, at) {
  const L = fp.lay.get(fp.object);
  const g = L.draft;
  const [i, k] = fpFind(g, f);
  if (i < 0 || !g[gi]) return;
  g[i].fields.splice(k, 1);
  let pos = at === undefined ? g[gi].fields.length : at;
  if (at !== undefined && i === gi && k < at) pos--;
  g[gi].fields.splice(Math.max(0, Math.min(pos, g[gi].fields.length)), 0, f);
  fpChanged({ field: f, cls: at === undefined ? 'fp-moveto' : null });
}
function fpMoveGroup(i, dir) {
  const g = fp.lay.get(fp.object).draft;
  const j = i + dir;
  if (j < 0 || j >= g.length) return;
  [g[i], g[j]] = [g[j], g[i]];
  fpChanged({ group: j, cls: dir < 0 ? 'fp-gup' : 'fp-gdown' });
}
function fpRemoveGroup(i) {
  const g = fp.lay.get(fp.object).draft;
  if (g.length < 2) return;
  const [gone] = g.splice(i, 1);
  if (gone.fields.length) { if (i > 0) g[i - 1].fields.push(...gone.fields); else g[0].fields.unshift(...gone.fields); }
  fpChanged({ group: Math.max(0, i - 1), cls: 'fp-gtitle' });
}
function fpAddGroup() {
  const L = fp.lay.get(fp.object);
  if (!L) return;
  if (L.draft.length >= 20) { $('#fp-lay-error').textContent = 'At most 20 groups 最多 20 个分组'; return; }
  L.draft.push({ title: 'New group 新分组', fields: [] });
  fpChanged({ group: L.draft.length - 1, cls: 'fp-gtitle', select: true });
}
// after a re-render, the focus goes back to the control that was used (keyboard users stay put)
function fpRefocus(f) {
  let x = null;
  if (f.field !== undefined) {
    const li = $(`#fp-groups .fp-fld[data-field="${CSS.escape(f.field)}"]`);
    if (li) {
      li.classList.add('moved');
      x = f.cls ? $('.' + f.cls, li) : null;
      if (x && x.disabled) x = $('.fp-up:not(:disabled), .fp-down:not(:disabled)', li);
      if (!x) x = $('.fp-moveto', li);
    }
  } else if (f.group !== undefined) {
    const sec = $(`#fp-groups .fp-group[data-index="${f.group}"]`);
    if (sec) {
      x = $('.' + f.cls, sec);
      if (x && x.disabled) x = $('.fp-gup:not(:disabled), .fp-gdown:not(:disabled)', sec) || $('.fp-gtitle', sec);
    }
  }
  if (x) { x.focus(); if (f.select && x.select) x.select(); }
}
/* dragging: the list under the pointer shows where the field would land */
function fpDropTarget(e) {
  const ol = e.target.closest && e.target.closest('#fp-groups .fp-fields');
  if (!ol) return null;
  const items = $$('.fp-fld', ol).filter((x) => !x.classList.contains('dragging'));
  let before = null;
  for (const li of items) { const r = li.getBoundingClientRect(); if (e.clientY < r.top + r.height / 2) { before = li; break; } }
  return { ol, before };
}
function fpClearDrop() {
  for (const x of $$('#fp-groups .drop-before, #fp-groups .drop-end')) x.classList.remove('drop-before', 'drop-end');
}
document.addEventListener('dragover', (e) => {
  if (!fp.drag) return;
  const t = fpDropTarget(e);
  fpClearDrop();
  if (!t) return;
  e.preventDefault();
  e.dataTransfer.dropEffect = 'move';
  if (t.before) t.before.classList.add('drop-before'); else t.ol.classList.add('drop-end');
});
document.addEventListener('drop', (e) => {
  if (!fp.drag) return;
  const t = fpDropTarget(e);
  const f = fp.drag.field;
  fp.drag = null;
  fpClearDrop();
  if (!t) return;
  e.preventDefault();
  const gi = Number(t.ol.dataset.index);
  const g = fp.lay.get(fp.object).draft[gi];
  const at = t.before ? g.fields.indexOf(t.before.dataset.field) : g.fields.length;
  fpMoveFieldTo(f, gi, at < 0 ? g.fields.length : at);
});

function fpLayoutState() {
  const L = fp.lay.get(fp.object);
  const card = $('#fp-layout');
  if (!L || card.dataset.state === 'saving') return;
  const dirty = fpSig(L.draft) !== fpSig(L.saved);
  card.dataset.state = L.errors ? 'error' : dirty ? 'dirty' : 'ready';
  $('#fp-lay-save').disabled = !dirty;
  $('#fp-lay-revert').hidden = !dirty;
  const st = $('#fp-lay-status');
  st.replaceChildren();
  st.append(el('strong', '', fpObjectLabel(fp.object)));
  if (L.customised) {
    const b = badge('Customised 已自定义', 'fp-custom-b');
    st.append(b);
    if (L.updated_at) st.append(el('span', 'muted', 'saved ' + fullTime(L.updated_at)));
  } else st.append(badge('Default order 默认顺序', 'off'));
  st.append(el('span', 'muted', L.fields.length + ' fields in ' + L.draft.length + (L.draft.length === 1 ? ' group' : ' groups')));
  if (dirty) st.append(badge('Unsaved changes 未保存', 'warn fp-unsaved'));
}
function fpRenderReset() {
  const L = fp.lay.get(fp.object);
  const w = $('#fp-reset-wrap');
  if (!L || !L.customised) { w.replaceChildren(); fp.confirmReset = false; return; }
  if (!fp.confirmReset) {
    const b = button('Reset to default 恢复默认', 'ghost fp-reset', () => { fp.confirmReset = true; fpRenderReset(); $('#fp-reset-no').focus(); }, 'fpReset');
    b.id = 'fp-lay-reset';
    w.replaceChildren(b);
    return;
  }
  const q = el('span', 'fp-confirm', 'Forget this layout and show every field in the default order? ');
  const yes = button('Reset 恢复默认', 'danger-solid small', fpResetLayout);
  yes.id = 'fp-reset-yes';
  const no = button('Keep 保留', 'small', () => { fp.confirmReset = false; fpRenderReset(); $('#fp-lay-reset').focus(); });
  no.id = 'fp-reset-no';
  q.append(yes, no);
  w.replaceChildren(q);
}
function fpRevertLayout() {
  const L = fp.lay.get(fp.object);
  L.draft = fpClone(L.saved);
  L.errors = null;
  $('#fp-lay-error').textContent = '';
  fpRenderLayout();
  fpRenderObjects();
}
async function fpSaveLayout() {
  const object = fp.object;
  const L = fp.lay.get(object);
  const card = $('#fp-layout');
  if (!L || card.dataset.state === 'saving') return;
  const groups = L.draft.map((g) => ({ title: g.title.trim(), fields: g.fields.slice() }));
  card.dataset.state = 'saving';
  $('#fp-lay-save').disabled = true;
  $('#fp-lay-error').textContent = '';
  try {
    const r = await api('PUT', '/api/v1/layouts/' + encodeURIComponent(object), { groups });
    fpTakeLayout(object, r);
    if (typeof forgetLayout === 'function') forgetLayout(object);
    card.dataset.state = 'ready';
    if (fp.object === object) fpRenderLayout();
    fpRenderObjects();
    toast('Layout saved: ' + fpObjectLabel(object) + ' 布局已保存', 'good');
  } catch (e) {
    const f = fpErrors(e);
    // a field removed since the page was read (a custom field deleted): out of the draft, and say so
    if (Object.entries(f).some(([k, why]) => /^groups\[\d+\]\.fields$/.test(k) && /does not have/.test(why))) {
      const gone = await fpDropGone(object);
      if (gone.length) {
        for (const k of Object.keys(f)) if (/^groups\[\d+\]\.fields$/.test(k)) delete f[k];
        L.errors = Object.keys(f).length ? f : null;
        if (fp.object === object) fpRenderLayout();
        $('#fp-lay-error').textContent = 'Not saved 未保存 — ' + gone.map((x) => fpFieldLabel(object, x) + ' (' + x + ')').join(', ') +
          (gone.length === 1 ? ' no longer exists and was' : ' no longer exist and were') + ' taken out of the layout; check it and save again. ' +
          '已删除的字段已从布局中移除，请检查后重新保存。';
        card.dataset.state = 'error';
        $('#fp-lay-save').disabled = false;
        return;
      }
    }
    L.errors = Object.keys(f).length ? f : null;
    const rest = Object.entries(f).filter(([k]) => !/^groups\[\d+\]\.(title|fields)$/.test(k)).map(([k, why]) => k + ': ' + fpReason(why));
    $('#fp-lay-error').textContent = 'Not saved 未保存' + (rest.length ? ' — ' + rest.join('; ') : L.errors ? ' — see the marked groups' : ' — ' + errText(e));
    if (fp.object === object) fpRenderLayout();
    card.dataset.state = 'error';
    $('#fp-lay-save').disabled = false;
    const bad = $('#fp-groups .invalid');
    if (bad) bad.scrollIntoView({ block: 'center' });
  }
}
// re-reads the page's fields; the draft loses those gone (returned), fields new since then join its last group
async function fpDropGone(object) {
  const L = fp.lay.get(object);
  let r;
  try { r = await api('GET', '/api/v1/layouts/' + encodeURIComponent(object)); } catch (e) { return []; }
  const now = new Set(r.fields || []);
  const gone = [];
  for (const g of L.draft) g.fields = g.fields.filter((x) => now.has(x) || (gone.push(x), false));
  const placed = new Set(L.draft.flatMap((g) => g.fields));
  const added = (r.fields || []).filter((x) => !placed.has(x));
  if (added.length && L.draft.length) L.draft[L.draft.length - 1].fields.push(...added);
  L.fields = (r.fields || []).slice();
  return gone;
}
async function fpResetLayout() {
  const object = fp.object;
  const card = $('#fp-layout');
  card.dataset.state = 'saving';
  try {
    await api('DELETE', '/api/v1/layouts/' + encodeURIComponent(object));
    if (typeof forgetLayout === 'function') forgetLayout(object);
    fp.confirmReset = false;
    card.dataset.state = 'loading';
    await fpLoadLayout(object, true);
    fpRenderObjects();
    toast('Layout reset to the default order 已恢复默认布局', 'good');
  } catch (e) {
    card.dataset.state = 'error';
    $('#fp-lay-error').textContent = 'Not reset: ' + errText(e);
  }
}

/* ---------- load, start, stop ---------- */
async function loadFieldPerms() {
  if (!fp.built) fpBuild();
  const page = $('#fp-page');
  const seq = ++fp.seq;
  if (!fp.catalogue) page.dataset.state = 'loading';
  try {
    // unsaved edits survive coming back to the page; otherwise the server's current state
    const keepMatrix = fp.catalogue && fpDirtyMatrix();
    await Promise.all([keepMatrix ? Promise.resolve() : fpLoadMatrix(), fpLoadTypes()]);
    if (seq !== fp.seq) return;
    if (keepMatrix) fpRenderMatrix();
    for (const [o, L] of fp.lay) if (fpSig(L.draft) === fpSig(L.saved)) fp.lay.delete(o);
    fpRenderObjects();
    await fpLoadLayout(fp.object);
    fpRenderObjects();
    page.dataset.state = 'ready';
  } catch (e) {
    page.dataset.state = 'error';
    const m = $('#fp-matrix');
    if (m && m.dataset.state === 'loading') {
      m.dataset.state = 'error';
      const td = el('td', 'fp-load-error error', 'The permissions could not be read: ' + errText(e));
      td.colSpan = 1 + FP_ROLES.length;
      const tr = el('tr');
      tr.append(td);
      $('#fp-rows').replaceChildren(tr);
    }
    throw e;
  }
}
function fieldPermsStart(agent) {
  $('.tab[data-view=fieldperms]').hidden = !FP_ROLES_ALLOWED.includes(agent.role);
  Object.assign(fp, { built: false, catalogue: null, saved: new Map(), draft: new Map(), stale: [], types: [], object: 'customer', drag: null,
    confirmReset: false, previewRole: 'admin' });
  fp.lay.clear(); fp.matrixErr.clear();
  $('#fp-page').replaceChildren();
  $('#fp-page').dataset.state = 'idle';
}
function fieldPermsStop() {
  fp.built = false;
  fp.lay.clear();
  $('#fp-page').replaceChildren();
}
