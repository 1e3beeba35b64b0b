// Switchboard console — Approvals 审批 (docs/rules.md "Approvals"): a rule's request_approval
// action holds a change (a campaign start) until an approver decides. Managers and admins
// have the tab; anyone else gets it once they have asked for something (their requests). The
// list puts pending requests first (summary, who asked, how long ago, the approver role);
// the detail shows the record (the campaign), the comments (add one), and, for an approver
// who did not ask, Approve / Reject with a comment (required to reject: the server's 422 is
// said under the box). Decided requests show who decided, when and why. The bell's
// reminders of kind 'approval' open this page (crm.js REMINDER_VIEW), and approval.updated
// events keep it current.
// data-state: #ap-page (idle | loading | ready | error), #ap-list (loading | ready | error),
// #ap-detail (empty | loading | ready | error, with data-approval-id and data-status),
// #ap-decide (idle | saving | error), #ap-comment-form (idle | saving | error).
// Loaded after app.js, crm.js, marketing.js (statusChip, CHANNEL_NAME) and rules.js and built
// on their helpers (el, opt, badge, icon, avatar, api, errText, toast, go, showView, state,
// button, fieldsOf, fullTime, plural, serverNow, isStaff, viewAllowed). Everything from the
// server is set as text.
'use strict';

Object.assign(ICONS, {
  apStamp: 'M12 2a4 4 0 0 0-4 4c0 1.7 1 2.8 1.6 3.9.5.9.4 2.1.4 3.1H5a2 2 0 0 0-2 2v3h18v-3a2 2 0 0 0-2-2h-5c0-1-.1-2.2.4-3.1C15 8.8 16 7.7 16 6a4 4 0 0 0-4-4zM4 20h16v2H4z',
  apComment: 'M21 6h-2v9H6v2a1 1 0 0 0 1 1h11l4 4V7a1 1 0 0 0-1-1zm-4 6V3a1 1 0 0 0-1-1H3a1 1 0 0 0-1 1v14l4-4h10a1 1 0 0 0 1-1z',
  apOk: 'M9 16.17 4.83 12l-1.42 1.41L9 19 21 7l-1.41-1.41z',
  apNo: 'M12 2a10 10 0 1 0 0 20 10 10 0 0 0 0-20zm5 13.59L15.59 17 12 13.41 8.41 17 7 15.59 10.59 12 7 8.41 8.41 7 12 10.59 15.59 7 17 8.41 13.41 12z',
  apWait: 'M12 2a10 10 0 1 0 0 20 10 10 0 0 0 0-20zm0 18a8 8 0 1 1 0-16 8 8 0 0 1 0 16zm.5-13H11v6l5.2 3.2.8-1.3-4.5-2.7z',
});

// everyone may open it (their own requests); managers and admins always have the tab
const AP_DECIDERS = ['admin', 'manager'];
Object.assign(VIEWS, { approvals: (id) => loadApprovals(id) });

const AP_STATUS = { pending: ['Pending', '待审批'], approved: ['Approved', '已批准'], rejected: ['Rejected', '已驳回'], cancelled: ['Cancelled', '已取消'] };
const AP_ROLE = { manager: ['Manager', '主管'], admin: ['Admin', '管理员'] };
const AP_KIND = { 'campaign.start': ['Start a campaign', '启动营销活动'] };
const AP_FILTERS = [['pending', 'Pending', '待审批'], ['mine', 'My requests', '我的申请'], ['all', 'All', '全部']];

const ap = {
  built: false, filter: 'pending', items: null, error: '', seq: 0,
  sel: null, cur: null, curError: '', curSeq: 0, record: null,
  busy: false, draftComment: '', draftNote: '', timer: null, pendingMine: 0,
  decideError: null, // {id, comment, general}: what the last decision attempt was told, kept across live re-renders
};

/* ---------- helpers ---------- */
function apAgo(iso) {
  const t = Date.parse(iso);
  if (isNaN(t)) return '';
  const s = Math.max(0, (serverNow() - t) / 1000);
  if (s < 45) return 'just now';
  if (s < 3600) return Math.max(1, Math.round(s / 60)) + ' min ago';
  if (s < 86400) return Math.floor(s / 3600) + ' h ago';
  const d = Math.floor(s / 86400);
  return d + (d === 1 ? ' day' : ' days') + ' ago';
}
const apMine = (a) => !!state.me && a.requested_by === state.me.id;
// the server says (can_decide); the same rule otherwise: pending, not yours, your role or admin
const apCanDecide = (a) => (typeof a.can_decide === 'boolean' ? a.can_decide
  : !!state.me && a.status === 'pending' && !apMine(a) && (state.me.role === 'admin' || state.me.role === a.role));
const apCanComment = (a) => !!state.me && (apMine(a) || state.me.role === 'admin' || state.me.role === a.role);
function apStatusBadge(s) {
  const [en, zh] = AP_STATUS[s] || [s, ''];
  const b = badge(en + ' ' + zh, 'ap-st ap-st-' + s);
  b.dataset.status = s;
  return b;
}
function apRoleBadge(r) {
  const [en, zh] = AP_ROLE[r] || [r, ''];
  const b = badge('Needs ' + en.toLowerCase() + ' · ' + zh + '审批', 'ap-role r-' + r);
  b.title = 'An approver of role ' + r + ' (or an admin) decides';
  return b;
}
function apName(id, name) {
  if (state.me && id === state.me.id) return (name || state.me.name) + ' (you)';
  return name || (id ? 'Agent #' + id : 'someone');
}

/* ---------- the page (once per sign-in) ---------- */
function apBuild() {
  const page = $('#ap-page');
  const head = el('div', 'page-head ap-head');
  const hd = el('div');
  const h2 = el('h2', '', 'Approvals ');
  h2.append(el('span', 'zh', '审批'));
  hd.append(h2, el('p', 'muted', 'Changes a rule holds until someone approves them — for now, starting a campaign. An approver of the ' +
    'role the rule names, or an admin, decides; never the person who asked. Rejecting needs a reason. 由规则触发的审批：批准后变更才会执行，驳回须填写原因。'));
  const f = el('div', 'ap-filters');
  f.id = 'ap-filters';
  f.setAttribute('role', 'tablist');
  f.setAttribute('aria-label', 'show');
  for (const [k, en, zh] of AP_FILTERS) {
    const b = button('', 'ap-filter', () => { if (ap.filter !== k) { ap.filter = k; apRenderFilters(); apLoadList(); } });
    b.dataset.filter = k;
    b.setAttribute('role', 'tab');
    b.append(el('span', '', en + ' '), el('span', 'zh', zh), el('span', 'ap-fcount'));
    f.append(b);
  }
  head.append(hd, f);
  const split = el('div', 'ap-split');
  const listCard = el('aside', 'card ap-list-card');
  listCard.setAttribute('aria-label', 'approval requests');
  const list = el('ul', 'ap-list'); list.id = 'ap-list'; list.dataset.state = 'loading';
  listCard.append(list);
  const det = el('div', 'ap-detail'); det.id = 'ap-detail'; det.dataset.state = 'empty';
  split.append(listCard, det);
  page.replaceChildren(head, split);
  ap.built = true;
  apRenderFilters();
}
function apRenderFilters() {
  for (const b of $$('#ap-filters .ap-filter')) {
    const on = b.dataset.filter === ap.filter;
    b.classList.toggle('on', on);
    b.setAttribute('aria-selected', String(on));
    const c = $('.ap-fcount', b);
    c.textContent = b.dataset.filter === 'pending' && ap.pendingMine ? String(ap.pendingMine) : '';
  }
}

/* ---------- loading ---------- */
async function loadApprovals(id) {
  if (!ap.built) apBuild();
  const page = $('#ap-page');
  if (id) ap.sel = id;
  if (!ap.items) page.dataset.state = 'loading';
  const ok = await apLoadList();
  page.dataset.state = ok ? 'ready' : 'error';
  if (state.view !== 'approvals') return;
  if (ap.sel) apOpen(ap.sel, { noNav: true });
  else apRenderDetail();
}
function apQuery() {
  if (ap.filter === 'pending') return '?status=pending';
  if (ap.filter === 'mine') return '?mine=1';
  return '';
}
async function apLoadList(quiet) {
  const seq = ++ap.seq;
  const list = $('#ap-list');
  if (!quiet && list) { list.dataset.state = 'loading'; if (!ap.items) apRenderList(); }
  try {
    const r = await api('GET', '/api/v1/approvals' + apQuery());
    if (seq !== ap.seq) return true;
    ap.items = r.items || [];
    ap.error = '';
  } catch (e) {
    if (seq !== ap.seq) return false;
    ap.error = errText(e);
    ap.items = null;
    apRenderList();
    return false;
  }
  if (ap.filter === 'pending') { ap.pendingMine = ap.items.filter(apCanDecide).length; apRenderTabCount(); apRenderFilters(); }
  apRenderList();
  return true;
}
function apRenderList() {
  const ul = $('#ap-list');
  if (!ul) return;
  if (ap.error) {
    ul.dataset.state = 'error';
    const li = el('li', 'ap-list-error');
    li.setAttribute('role', 'alert');
    li.append(icon('alert'), el('p', '', 'Could not load the requests 加载失败'), el('p', 'muted', ap.error));
    li.append(button('Try again 重试', 'small', () => { ap.error = ''; apLoadList(); }));
    ul.replaceChildren(li);
    return;
  }
  if (!ap.items) {
    ul.dataset.state = 'loading';
    ul.replaceChildren(el('li', 'muted ap-loading', 'Loading… 加载中'));
    return;
  }
  ul.dataset.state = 'ready';
  const order = { pending: 0, approved: 1, rejected: 1, cancelled: 2 };
  const items = ap.items.slice().sort((a, b) => (order[a.status] ?? 3) - (order[b.status] ?? 3) ||
    (a.status === 'pending' ? Date.parse(a.created_at) - Date.parse(b.created_at) : Date.parse(b.created_at) - Date.parse(a.created_at)) || b.id - a.id);
  const rows = items.map((a) => {
    const li = el('li', 'ap-item st-' + a.status + (ap.sel === a.id ? ' sel' : '') + (apCanDecide(a) ? ' actionable' : ''));
    li.dataset.id = String(a.id);
    li.dataset.status = a.status;
    const b = el('button', 'ap-item-main');
    b.type = 'button';
    if (ap.sel === a.id) b.setAttribute('aria-current', 'true');
    const l1 = el('span', 'ap-l1');
    l1.append(el('span', 'ap-summary', a.summary || (AP_KIND[a.kind] || [a.kind])[0]));
    const l2 = el('span', 'ap-l2');
    l2.append(avatar(a.requested_by_name || '?', 'xs'), el('span', 'ap-who', apName(a.requested_by, a.requested_by_name)));
    const age = el('span', 'ap-age', apAgo(a.created_at));
    age.title = 'Asked ' + fullTime(a.created_at);
    l2.append(el('span', 'ap-dot', '·'), age);
    const l3 = el('span', 'ap-l3');
    l3.append(apStatusBadge(a.status));
    if (a.status === 'pending') l3.append(apRoleBadge(a.role));
    if (apCanDecide(a)) l3.append(el('span', 'ap-yours', 'Your decision 待你审批'));
    b.append(l1, l2, l3);
    b.addEventListener('click', () => apOpen(a.id));
    li.append(b);
    return li;
  });
  if (!rows.length) {
    const li = el('li', 'ap-none');
    const msg = ap.filter === 'pending' ? 'Nothing waiting for a decision. 暂无待审批事项'
      : ap.filter === 'mine' ? 'You have not asked for anything. 你还没有提交过申请' : 'No approval requests yet. 暂无审批记录';
    li.append(icon('apStamp', 'big'), el('p', '', msg));
    rows.push(li);
  }
  ul.replaceChildren(...rows);
}

/* ---------- one request ---------- */
async function apOpen(id, opts = {}) {
  const changed = ap.sel !== id;
  ap.sel = id;
  if (changed) { ap.cur = null; ap.record = null; ap.draftComment = ''; ap.draftNote = ''; ap.decideError = null; }
  if (!opts.noNav && state.viewArg !== id) showView('approvals', id);
  apRenderList();
  const seq = ++ap.curSeq;
  const det = $('#ap-detail');
  if (!ap.cur || ap.cur.id !== id) { det.dataset.state = 'loading'; det.dataset.approvalId = String(id); det.replaceChildren(el('p', 'muted ap-loading', 'Loading… 加载中')); }
  try {
    const a = await api('GET', '/api/v1/approvals/' + id);
    if (seq !== ap.curSeq) return;
    ap.cur = a; ap.curError = '';
  } catch (e) {
    if (seq !== ap.curSeq) return;
    ap.cur = null;
    ap.curError = e.status === 404 ? 'No such request, or it is not yours to see. 找不到该申请' : errText(e);
  }
  apRenderDetail();
  if (ap.cur) apLoadRecord(ap.cur);
}
async function apLoadRecord(a) {
  if (a.record_type !== 'campaign' || !viewAllowed('campaign')) return;
  if (ap.record && ap.record.id === a.record_id && ap.record._for === a.id) return;
  try {
    const c = await api('GET', '/api/v1/campaigns/' + a.record_id);
    if (!ap.cur || ap.cur.id !== a.id) return;
    ap.record = { ...c, _for: a.id };
    apRenderRecord();
  } catch (e) { /* the link alone */ }
}
function apRenderDetail() {
  const det = $('#ap-detail');
  if (!det) return;
  if (ap.curError) {
    det.dataset.state = 'error';
    const e = el('section', 'card ap-card ap-empty');
    e.setAttribute('role', 'alert');
    e.append(icon('alert', 'big'), el('p', '', ap.curError));
    det.replaceChildren(e);
    return;
  }
  const a = ap.cur;
  if (!a) {
    det.dataset.state = ap.sel ? 'loading' : 'empty';
    delete det.dataset.status;
    if (!ap.sel) {
      delete det.dataset.approvalId;
      const e = el('section', 'card ap-card ap-empty');
      e.append(icon('apStamp', 'big'), el('p', '', 'Pick a request on the left to read it and decide. 选择左侧的申请查看详情并审批'));
      det.replaceChildren(e);
    }
    return;
  }
  det.dataset.state = 'ready';
  det.dataset.approvalId = String(a.id);
  det.dataset.status = a.status;
  const card = el('section', 'card ap-card ap-main st-' + a.status);
  // head: what, status
  const head = el('div', 'ap-d-head');
  const ic = el('span', 'ap-d-ic st-' + a.status);
  ic.append(icon(a.status === 'approved' ? 'apOk' : a.status === 'rejected' ? 'apNo' : a.status === 'pending' ? 'apWait' : 'apStamp'));
  const t = el('div', 'ap-d-title');
  const kind = AP_KIND[a.kind] || [a.kind, ''];
  t.append(el('span', 'ap-d-kind', kind[0] + ' · ' + kind[1]), el('h3', 'ap-d-summary', a.summary || kind[0]));
  const st = el('div', 'ap-d-st');
  st.append(apStatusBadge(a.status));
  head.append(ic, t, st);
  card.append(head);
  // facts
  const dl = el('dl', 'ap-facts');
  const fact = (k, v, cls) => { const dd = el('dd', cls || ''); if (typeof v === 'string') dd.textContent = v; else dd.append(v); dl.append(el('dt', '', k), dd); };
  const who = el('span', 'ap-person');
  who.append(avatar(a.requested_by_name || '?', 'sm'), el('span', '', apName(a.requested_by, a.requested_by_name)));
  fact('Asked by 申请人', who);
  const at = el('span', '', fullTime(a.created_at) + ' (' + apAgo(a.created_at) + ')');
  at.title = a.created_at;
  fact('Asked 申请时间', at);
  fact('Approver 审批人', apRoleBadge(a.role));
  const rec = el('span', 'ap-record'); rec.id = 'ap-record';
  fact('Record 对象', rec);
  if (a.rule_id) {
    const rl = viewAllowed('rules') ? button('Rule #' + a.rule_id, 'link ap-rule', () => go('rules', a.rule_id)) : el('span', '', 'Rule #' + a.rule_id);
    fact('Held by 触发规则', rl);
  }
  card.append(dl);
  // a live refresh (approval.updated) re-renders while the approver types or reads an error: keep the focus
  const typing = document.activeElement && document.activeElement.id === 'ap-comment';
  if (a.status !== 'pending') card.append(apDecided(a));
  else if (apCanDecide(a)) card.append(apDecideForm(a));
  else {
    const n = el('p', 'ap-note');
    n.append(icon('info'), el('span', '', apMine(a)
      ? 'You asked for this. ' + (AP_ROLE[a.role] ? 'A ' + AP_ROLE[a.role][0].toLowerCase() : 'An approver') + ' or an admin decides; you are told when they do. 等待审批人处理。'
      : 'Waiting for a ' + (AP_ROLE[a.role] ? AP_ROLE[a.role][0].toLowerCase() : a.role) + ' to decide. 等待审批。'));
    n.id = 'ap-waiting';
    card.append(n);
  }
  det.replaceChildren(card, apComments(a));
  if (typing && $('#ap-comment')) $('#ap-comment').focus();
  apRenderRecord();
}
function apRenderRecord() {
  const box = $('#ap-record');
  const a = ap.cur;
  if (!box || !a) return;
  const parts = [];
  if (a.record_type === 'campaign') {
    const c = ap.record && ap.record.id === a.record_id ? ap.record : null;
    const label = c ? c.name : 'Campaign #' + a.record_id;
    if (viewAllowed('campaign')) {
      const b = button(label, 'link ap-rec-link', () => go('campaign', a.record_id));
      b.title = 'Open the campaign';
      parts.push(b);
    } else parts.push(el('span', '', label));
    if (c) {
      if (typeof statusChip === 'function') parts.push(statusChip(c.status));
      if (typeof CHANNEL_NAME === 'object') parts.push(el('span', 'muted', CHANNEL_NAME[c.channel] || c.channel));
    }
  } else parts.push(el('span', '', a.record_type + ' #' + a.record_id));
  box.replaceChildren(...parts);
}
function apDecided(a) {
  const box = el('div', 'ap-decided st-' + a.status);
  box.id = 'ap-decided';
  const [en, zh] = AP_STATUS[a.status] || [a.status, ''];
  const h = el('div', 'ap-dec-h');
  h.append(icon(a.status === 'approved' ? 'apOk' : a.status === 'rejected' ? 'apNo' : 'apStamp'));
  const by = a.decided_by || a.decided_by_name ? ' by ' + apName(a.decided_by, a.decided_by_name) : '';
  const when = a.decided_at ? ' · ' + fullTime(a.decided_at) : '';
  h.append(el('strong', '', en + ' ' + zh), el('span', '', by + when));
  box.append(h);
  if (a.decision_comment) box.append(el('blockquote', 'ap-dec-c', a.decision_comment));
  const after = { approved: a.record_type === 'campaign' ? 'The campaign was started on behalf of the requester. 活动已启动。' : 'The change was carried out.',
    rejected: 'Nothing changed; the requester was told. 未做变更，已通知申请人。', cancelled: 'The request was withdrawn.' }[a.status];
  if (after) box.append(el('p', 'ap-dec-after', after));
  return box;
}
function apDecideForm(a) {
  const form = el('form', 'ap-decide');
  form.id = 'ap-decide';
  form.noValidate = true;
  form.dataset.state = 'idle';
  const h = el('div', 'ap-decide-h');
  h.append(el('strong', '', 'Your decision '), el('span', 'zh', '审批意见'));
  const ta = el('textarea', 'ap-comment');
  ta.id = 'ap-comment'; ta.rows = 3; ta.maxLength = 2000;
  ta.placeholder = 'Why — required to reject, optional to approve 驳回时必须填写原因';
  ta.value = ap.draftComment;
  ta.setAttribute('aria-label', 'decision comment');
  const err = el('span', 'field-error ap-comment-error'); err.id = 'ap-comment-error'; err.dataset.for = 'comment';
  err.setAttribute('role', 'alert');
  ta.addEventListener('input', () => {
    ap.draftComment = ta.value;
    if (ap.decideError) ap.decideError.comment = '';
    if (err.textContent) { err.textContent = ''; f.classList.remove('invalid'); }
  });
  const f = el('label', 'field ap-comment-f');
  f.append(ta, err);
  const acts = el('div', 'ap-decide-acts');
  const gen = el('p', 'error ap-decide-error'); gen.id = 'ap-decide-error'; gen.setAttribute('role', 'alert');
  const told = ap.decideError && ap.decideError.id === a.id ? ap.decideError : null;
  if (told && (told.comment || told.general)) {
    form.dataset.state = 'error';
    err.textContent = told.comment;
    gen.textContent = told.general;
    if (told.comment) f.classList.add('invalid');
  }
  const approve = button('Approve 批准', 'primary ap-approve', () => apDecide(a, 'approve'), 'apOk');
  approve.id = 'ap-approve';
  const reject = button('Reject 驳回', 'ap-reject', () => apDecide(a, 'reject'), 'apNo');
  reject.id = 'ap-reject';
  acts.append(gen, el('span', 'spacer'), reject, approve);
  form.append(h, f, acts);
  form.addEventListener('submit', (e) => e.preventDefault());
  ta.addEventListener('keydown', (e) => { if ((e.ctrlKey || e.metaKey) && e.key === 'Enter') { e.preventDefault(); apDecide(a, 'approve'); } });
  return form;
}
async function apDecide(a, how) {
  const form = $('#ap-decide');
  if (!form || ap.busy) return;
  const ta = $('#ap-comment'), err = $('#ap-comment-error'), gen = $('#ap-decide-error');
  err.textContent = ''; gen.textContent = ''; ap.decideError = null;
  ta.closest('.field').classList.remove('invalid');
  const comment = ta.value.trim();
  const body = comment ? { comment } : {}; // none: the server says what is missing (a reason to reject)
  ap.busy = true;
  form.dataset.state = 'saving';
  for (const b of $$('button', form)) b.disabled = true;
  try {
    await api('POST', '/api/v1/approvals/' + a.id + '/' + how, body);
    ap.draftComment = '';
    ap.record = null; // the campaign moved on (approved: it starts)
    toast(how === 'approve' ? 'Approved 已批准: ' + (a.summary || '') : 'Rejected 已驳回: ' + (a.summary || ''), 'good');
    ap.busy = false;
    await Promise.all([apOpen(a.id, { noNav: true }), apLoadList(true)]);
    apRefreshTab();
  } catch (e) {
    ap.busy = false;
    if (!form.isConnected) return;
    form.dataset.state = 'error';
    for (const b of $$('button', form)) b.disabled = false;
    const f = fieldsOf(e);
    if (f && f.comment) {
      err.textContent = f.comment + (how === 'reject' ? ' — say why you reject it · 驳回须填写原因' : '');
      ta.closest('.field').classList.add('invalid');
      ta.focus();
    } else if (e.status === 409) {
      gen.textContent = 'Someone decided this already 已被他人处理: ' + errText(e);
      apOpen(a.id, { noNav: true });
      apLoadList(true);
    } else if (e.status === 403) gen.textContent = 'You may not decide this request 无权审批: ' + errText(e);
    else gen.textContent = errText(e);
    ap.decideError = { id: a.id, comment: err.textContent, general: gen.textContent };
  }
}
function apComments(a) {
  const card = el('section', 'card ap-card ap-comments');
  card.id = 'ap-comments';
  const h = el('h3', 'ap-h3');
  h.append(icon('apComment'), document.createTextNode('Comments '), el('span', 'zh', '讨论'), el('span', 'ap-ccount', String((a.comments || []).length)));
  card.append(h);
  const ul = el('ul', 'ap-thread');
  for (const c of a.comments || []) {
    const li = el('li', 'ap-c' + (state.me && c.agent_id === state.me.id ? ' me' : ''));
    const meta = el('div', 'ap-c-meta');
    meta.append(el('strong', '', apName(c.agent_id, c.agent_name)));
    const t = el('span', 'muted', apAgo(c.created_at));
    t.title = fullTime(c.created_at);
    meta.append(t);
    const bub = el('div', 'ap-c-b');
    bub.append(meta, el('p', 'ap-c-body', c.body));
    li.append(avatar(c.agent_name || '?', 'sm'), bub);
    ul.append(li);
  }
  if (!(a.comments || []).length) ul.append(el('li', 'muted ap-c-none', 'No comments yet. Ask a question or add context. 暂无讨论'));
  card.append(ul);
  if (apCanComment(a)) {
    const form = el('form', 'ap-c-form');
    form.id = 'ap-comment-form';
    form.noValidate = true;
    form.dataset.state = 'idle';
    const ta = el('textarea', 'ap-c-text');
    ta.id = 'ap-new-comment'; ta.rows = 2; ta.maxLength = 2000; ta.value = ap.draftNote;
    ta.placeholder = 'Write a comment… 输入评论（Ctrl+Enter 发送）';
    ta.setAttribute('aria-label', 'new comment');
    ta.addEventListener('input', () => { ap.draftNote = ta.value; });
    ta.addEventListener('keydown', (e) => { if ((e.ctrlKey || e.metaKey) && e.key === 'Enter') { e.preventDefault(); form.requestSubmit(); } });
    const err = el('span', 'field-error'); err.id = 'ap-new-comment-error'; err.dataset.for = 'body';
    const send = el('button', 'small ap-c-send', 'Comment 发表');
    send.type = 'submit'; send.id = 'ap-add-comment';
    const row = el('div', 'ap-c-row');
    row.append(err, el('span', 'spacer'), send);
    form.append(ta, row);
    form.addEventListener('submit', async (e) => {
      e.preventDefault();
      const body = ta.value.trim();
      err.textContent = '';
      if (!body) { err.textContent = 'Write something first. 请输入内容'; ta.focus(); return; }
      form.dataset.state = 'saving';
      send.disabled = true;
      try {
        await api('POST', '/api/v1/approvals/' + a.id + '/comments', { body });
        ap.draftNote = '';
        await apOpen(a.id, { noNav: true });
        const again = $('#ap-new-comment');
        if (again) again.focus();
      } catch (x) {
        form.dataset.state = 'error';
        send.disabled = false;
        const f = fieldsOf(x);
        err.textContent = f && f.body ? f.body : errText(x);
      }
    });
    card.append(form);
  }
  return card;
}

/* ---------- the tab: who has it, the count on it ---------- */
function apRenderTabCount() {
  const tab = $('.tab[data-view=approvals]');
  if (!tab) return;
  let c = $('.ap-tab-count', tab);
  if (!c) { c = el('span', 'ap-tab-count'); tab.append(c); }
  // drawn from data-n (CSS), so the "More" menu, which copies a tab's text, keeps a clean label
  c.dataset.n = ap.pendingMine ? String(ap.pendingMine) : '';
  c.hidden = !ap.pendingMine;
  tab.title = ap.pendingMine ? plural(ap.pendingMine, 'request') + ' waiting for your decision · 待审批' : '';
}
// managers and admins: the tab, with the number they may decide; others: the tab once they asked for something
async function apRefreshTab() {
  if (!state.me) return;
  const tab = $('.tab[data-view=approvals]');
  const decider = AP_DECIDERS.includes(state.me.role);
  try {
    if (decider) {
      const r = await api('GET', '/api/v1/approvals?status=pending');
      ap.pendingMine = (r.items || []).filter(apCanDecide).length;
    } else {
      const r = await api('GET', '/api/v1/approvals?mine=1');
      const had = !tab.hidden;
      tab.hidden = !(r.total || (r.items || []).length);
      if (had !== !tab.hidden && typeof fitTabs === 'function') fitTabs();
      ap.pendingMine = 0;
    }
  } catch (e) { return; }
  apRenderTabCount();
  apRenderFilters();
}
// the marketing page just asked for an approval: the requester's tab appears
function approvalsRequested() {
  const tab = $('.tab[data-view=approvals]');
  if (tab && tab.hidden) { tab.hidden = false; if (typeof fitTabs === 'function') fitTabs(); }
  apRefreshTab();
}

/* ---------- start, stop, live events ---------- */
function approvalsStart(agent) {
  const decider = AP_DECIDERS.includes(agent.role);
  $('.tab[data-view=approvals]').hidden = !decider;
  clearTimeout(ap.timer);
  Object.assign(ap, { built: false, filter: decider ? 'pending' : 'mine', items: null, error: '', sel: null, cur: null, curError: '',
    record: null, busy: false, draftComment: '', draftNote: '', pendingMine: 0 });
  $('#ap-page').replaceChildren();
  $('#ap-page').dataset.state = 'idle';
  apRenderTabCount();
  apRefreshTab();
}
function approvalsStop() {
  clearTimeout(ap.timer);
  ap.built = false; ap.cur = null; ap.items = null;
  $('#ap-page').replaceChildren();
}
function approvalsFrame(m) {
  if (!m) return;
  const mine = m.type === 'reminder.due' && m.reminder && m.reminder.kind === 'approval';
  if (m.type !== 'approval.updated' && !mine) return;
  clearTimeout(ap.timer);
  ap.timer = setTimeout(() => {
    apRefreshTab();
    if (state.view !== 'approvals' || !ap.built) return;
    apLoadList(true);
    const id = (m.approval && m.approval.id) || m.approval_id;
    if (ap.sel && (!id || id === ap.sel) && !ap.busy) apOpen(ap.sel, { noNav: true });
  }, 300);
}
