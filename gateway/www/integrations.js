// Switchboard console — Integrations 集成 (docs/api.md "Authentication" and "Webhooks"), for
// admins only: API keys (an ERP or a website calls the REST API as its own user of a role and
// team; the secret key is shown once, when created; revoke) and outbound webhooks (events
// POSTed to a receiver, signed with a secret shown once; enable, disable, delete; each
// webhook's recent deliveries with their state, and redeliver). A webhook the worker disabled
// after failing deliveries shows a notice with "Enable again". The view refreshes itself
// while a delivery is on its way and when a webhook_disabled reminder arrives.
// Loaded after app.js, crm.js, marketing.js, kb_admin.js, quality.js and dashboard.js and built
// on their helpers (el, opt, badge, icon, api, errText, toast, button, fieldsOf, fullTime, when,
// span, serverNow, plural, state, isAdmin). Everything from the server is set as text.
'use strict';

Object.assign(ICONS, {
  igKey: 'M12.65 10A6 6 0 0 0 7 6a6 6 0 1 0 5.65 8H17v4h4v-4h2v-4zM7 14a2 2 0 1 1 0-4 2 2 0 0 1 0 4z',
  igHook: 'M3.9 12A3.1 3.1 0 0 1 7 8.9h4V7H7a5 5 0 0 0 0 10h4v-1.9H7A3.1 3.1 0 0 1 3.9 12zM8 13h8v-2H8zm9-6h-4v1.9h4a3.1 3.1 0 0 1 0 6.2h-4V17h4a5 5 0 0 0 0-10z',
  igCopy: 'M16 1H4a2 2 0 0 0-2 2v14h2V3h12zm3 4H8a2 2 0 0 0-2 2v14a2 2 0 0 0 2 2h11a2 2 0 0 0 2-2V7a2 2 0 0 0-2-2zm0 16H8V7h11z',
  igOk: 'M9 16.17 4.83 12l-1.42 1.41L9 19 21 7l-1.41-1.41z',
  igTrash: 'M6 19a2 2 0 0 0 2 2h8a2 2 0 0 0 2-2V7H6zM19 4h-3.5l-1-1h-5l-1 1H5v2h14z',
  igPower: 'M13 3h-2v10h2zm4.83 2.17-1.42 1.42A6.92 6.92 0 0 1 19 12a7 7 0 1 1-11.42-5.42L6.17 5.17A8.93 8.93 0 0 0 3 12a9 9 0 0 0 18 0c0-2.74-1.23-5.18-3.17-6.83z',
  igRedo: 'M12 5V1L7 6l5 5V7a6 6 0 1 1-6 6H4a8 8 0 1 0 8-8z',
  igList: 'M3 13h2v-2H3zm0 4h2v-2H3zm0-8h2V7H3zm4 4h14v-2H7zm0 4h14v-2H7zM7 7v2h14V7z',
  igDown: 'M7.41 8.59 12 13.17l4.59-4.58L18 10l-6 6-6-6z',
  igShield: 'M12 1 3 5v6c0 5.5 3.8 10.7 9 12 5.2-1.3 9-6.5 9-12V5zm-1 16-4-4 1.4-1.4L11 14.2l5.6-5.6L18 10z',
  igPlus: 'M19 13h-6v6h-2v-6H5v-2h6V5h2v6h6z',
});

const INT_ROLES = ['admin'];
Object.assign(VIEW_ROLES, { integrations: INT_ROLES });
Object.assign(VIEWS, { integrations: () => loadIntegrations() });
// the reminders bell names the kind the webhooks worker leaves
if (typeof REMINDER_KIND === 'object' && !REMINDER_KIND.webhook_disabled) REMINDER_KIND.webhook_disabled = 'Webhook disabled 已停用';

// [role, label, what a key of that role may do]
const IG_KEY_ROLES = [
  ['agent', 'Agent 坐席', 'conversations and customers of its team, like a service agent'],
  ['sales', 'Sales 销售', 'customers, deals, leads and follow-ups, like a salesperson'],
  ['marketer', 'Marketer 市场', 'segments, templates and campaigns'],
  ['manager', 'Manager 主管', 'the work and reports of its team'],
  ['admin', 'Admin 管理员', 'everything, including settings, API keys and webhooks'],
];
const IG_ROLE = Object.fromEntries(IG_KEY_ROLES.map(([k, l]) => [k, l]));
const IG_EXPIRY = [['', 'Never 永不过期'], ['30', 'In 30 days 30天'], ['90', 'In 90 days 90天'], ['365', 'In a year 1年'], ['date', 'On a date… 指定日期']];
// the event kinds a webhook may subscribe to, grouped
const IG_EVENTS = [
  ['Tickets', '工单', [['ticket.created', 'a ticket arrives'], ['ticket.updated', 'status, priority, subject… changed'],
    ['ticket.assigned', 'given to an agent'], ['ticket.solved', 'marked solved'], ['ticket.flagged', 'a complaint keyword matched']]],
  ['Messages', '消息', [['message.created', 'a message or note in a ticket']]],
  ['Customers', '客户', [['customer.created', 'a new customer'], ['customer.updated', 'a customer changed'],
    ['customer.merged', 'two customers merged into one']]],
  ['Deals & leads', '商机与线索', [['deal.created', 'a new deal'], ['deal.stage_changed', 'a deal moved stage'], ['deal.won', 'a deal won'],
    ['deal.lost', 'a deal lost'], ['lead.converted', 'a lead became a customer']]],
  ['Campaigns', '营销', [['campaign.started', 'a campaign began sending'], ['campaign.finished', 'a campaign finished']]],
];
const IG_DSTATE = {
  queued: ['Queued', '排队中'], sending: ['Sending', '发送中'], delivered: ['Delivered', '已送达'],
  retrying: ['Retrying', '等待重试'], failed: ['Failed', '失败'],
};
const IG_PENDING = ['queued', 'sending', 'retrying'];
const IG_REASON_ZH = {
  'must not be empty': '不能为空', 'is required': '必填', 'no such team': '团队不存在', 'must be in the future': '必须是将来的时间',
  'must be an absolute http or https URL': '必须是完整的 http/https 地址', 'must be an http or https URL': '必须是 http/https 地址',
  'the host does not resolve': '域名无法解析',
};
const IG_PER_PAGE = 10;

const ig = {
  built: false, loading: false, seq: 0,
  keys: null, hooks: null, teams: [],
  keyOnce: null,      // {id, name, key}: the key just created, shown until dismissed (or sign-out)
  hookOnce: null,     // {id, url, secret}
  open: new Set(),    // webhook ids whose deliveries are shown
  dl: new Map(),      // webhook id → {items, total, page, loading, error, seq, sig}
  confirming: new Set(), // 'key:ID' / 'hook:ID' while an inline confirmation is up (kept across refreshes)
  busy: new Set(),    // webhook ids being enabled or disabled
  timer: null, hooksSig: '',
};

/* ---------- small helpers ---------- */
const igMono = (text, cls) => el('code', 'ig-mono' + (cls ? ' ' + cls : ''), text);
// "just now", "5 min ago", "3 h ago", "4 days ago"; the future: "in 3 s"
function igAgo(iso) {
  const t = Date.parse(iso);
  if (isNaN(t)) return '';
  const s = (serverNow() - t) / 1000;
  if (s < 0) return 'in ' + span(-s);
  if (s < 45) return 'just now';
  if (s < 3600) return Math.max(1, Math.round(s / 60)) + ' min ago';
  if (s < 86400) return Math.floor(s / 3600) + ' h ago';
  const d = Math.floor(s / 86400);
  return d + (d === 1 ? ' day' : ' days') + ' ago';
}
function igDate(iso) {
  const d = new Date(iso);
  return isNaN(d) ? '' : d.toLocaleDateString(undefined, { year: 'numeric', month: 'short', day: 'numeric' });
}
const igReason = (why) => why + (IG_REASON_ZH[why] ? ' · ' + IG_REASON_ZH[why] : '');
const igAgentName = (id) => {
  if (!id) return '';
  if (state.me && id === state.me.id) return 'you';
  const a = (state.agents || []).find((x) => x.id === id);
  return a ? a.name : 'agent #' + id;
};
const igTeamName = (id) => {
  if (!id) return '';
  const t = ig.teams.find((x) => x.id === id) || (state.teams || []).find((x) => x.id === id);
  return t ? t.name : 'team #' + id;
};
function igKeyStatus(k) {
  if (k.revoked_at) return 'revoked';
  if (k.expires_at && Date.parse(k.expires_at) <= serverNow()) return 'expired';
  return 'active';
}
function igHookState(w) {
  if (w.active) return 'active';
  return w.disabled_at ? 'disabled' : 'paused';
}
function igField(label, zh, input, key, hint) {
  const f = el('label', 'field ig-field');
  const l = el('span', 'ig-label', label);
  if (zh) l.append(el('span', 'zh', zh));
  f.append(l, input);
  if (hint) f.append(el('span', 'hint', hint));
  const e = el('span', 'field-error');
  e.dataset.for = key;
  f.append(e);
  return f;
}
function igClearErrors(form) {
  for (const e of $$('.field-error', form)) e.textContent = '';
  for (const e of $$('.invalid', form)) e.classList.remove('invalid');
  const why = $('.ig-why', form);
  if (why) why.hidden = true;
}
// a field (or the events) changed after an error: its mark goes
function igFieldFixed(e) {
  const f = e.target.closest('.field, fieldset');
  if (!f || !f.classList.contains('invalid')) return;
  f.classList.remove('invalid');
  for (const x of $$('.field-error', f)) x.textContent = '';
  const why = $('.ig-why', f);
  if (why) why.hidden = true;
}
// the server's field errors next to their fields; the rest (named) in restEl
function igShowErrors(form, fields, restEl, labels) {
  const rest = [];
  for (const [k, why] of Object.entries(fields || {})) {
    const slot = $(`.field-error[data-for="${CSS.escape(k)}"]`, form);
    if (slot) {
      slot.textContent = igReason(why);
      const f = slot.closest('.field, fieldset');
      if (f) f.classList.add('invalid');
    } else rest.push((labels[k] || k) + ': ' + why);
  }
  restEl.textContent = rest.join('; ');
  const first = $('.invalid input, .invalid select', form);
  if (first) first.focus();
}
// copies text; says so on the button (Clipboard API, else the selected input and execCommand)
async function igCopy(text, input, btn) {
  let ok = false;
  try {
    if (navigator.clipboard && window.isSecureContext) {
      await Promise.race([navigator.clipboard.writeText(text), new Promise((_, no) => setTimeout(() => no(new Error('timeout')), 1500))]);
      ok = true;
    }
  } catch (e) { ok = false; }
  if (!ok) {
    try { input.focus(); input.select(); ok = document.execCommand('copy'); } catch (e) { ok = false; }
  }
  input.focus(); input.select();
  if (!ok) { toast('Press Ctrl+C (⌘C) to copy the selected text · 请按 Ctrl+C 复制', 'info'); return; }
  btn.classList.add('done');
  btn.dataset.copied = 'true';
  btn.replaceChildren(icon('igOk'), document.createTextNode('Copied 已复制'));
  clearTimeout(btn._t);
  btn._t = setTimeout(() => {
    btn.classList.remove('done');
    btn.replaceChildren(icon('igCopy'), document.createTextNode('Copy 复制'));
  }, 2500);
}
// the one-time secret: a panel with the value, Copy, a warning that it is never shown again
function igOncePanel({ id, title, value, valueId, note, extra, onDone }) {
  const p = el('section', 'ig-once');
  p.id = id;
  p.dataset.state = 'shown';
  p.setAttribute('role', 'status');
  const head = el('div', 'ig-once-head');
  const h = el('strong', '', title);
  head.append(el('span', 'ig-once-ic'), h);
  head.firstChild.append(icon('igOk'));
  const warn = el('p', 'ig-once-warn');
  warn.append(icon('alert'), el('span', '', 'Copy it now: you will not see it again. Switchboard never shows it a second time; ' +
    'if it is lost, create a new one. '), el('span', 'zh', '请立即复制保存，关闭后将无法再次查看。'));
  const row = el('div', 'ig-secret');
  const inp = el('input', 'ig-secret-v');
  inp.id = valueId; inp.readOnly = true; inp.value = value; inp.spellcheck = false; inp.autocomplete = 'off';
  inp.setAttribute('aria-label', title);
  inp.addEventListener('focus', () => inp.select());
  const copy = button('Copy 复制', 'primary ig-copy', () => igCopy(value, inp, copy), 'igCopy');
  copy.id = valueId + '-copy';
  row.append(inp, copy);
  p.append(head, warn, row);
  if (note) p.append(note);
  const foot = el('div', 'ig-once-foot');
  if (extra) foot.append(extra);
  foot.append(el('span', 'spacer'));
  const done = button('Done, I stored it 我已保存', 'ig-once-done', onDone);
  done.id = id + '-done';
  foot.append(done);
  p.append(foot);
  return p;
}

/* ---------- the page skeleton (built once per sign-in) ---------- */
function igBuild() {
  const page = $('#int-page');
  const head = el('div', 'page-head ig-head');
  const hd = el('div');
  const h2 = el('h2', '', 'Integrations ');
  h2.append(el('span', 'zh', '集成'));
  hd.append(h2, el('p', 'muted', 'Connect other systems to Switchboard. An API key lets an ERP, a website or a script call the REST API as a ' +
    'user of its own; a webhook sends events to your system the moment they happen. 通过 API 密钥和 Webhook 对接外部系统。'));
  const side = el('div', 'ig-head-side');
  const sum = el('div', 'ig-summary'); sum.id = 'ig-summary';
  const docs = el('a', 'ig-doclink', 'OpenAPI document');
  docs.href = '/api/v1/openapi.json'; docs.target = '_blank'; docs.rel = 'noopener';
  docs.prepend(icon('code'));
  side.append(sum, docs);
  head.append(hd, side);

  page.replaceChildren(head, igBuildKeys(), igBuildHooks());
  ig.built = true;
}

/* ---------- API keys ---------- */
// A section of the page: the card (id ig-<what>), its head with icon, title and count
// (#ig-<what>-count), and its creation form (#ig-<one>-form) with a title.
function igSection(what, one, label, zh, ic, formLabel, formZh) {
  const card = el('section', 'card mk-card ig-card');
  card.id = 'ig-' + what;
  card.dataset.state = 'loading';
  card.setAttribute('aria-label', label);
  const head = el('div', 'mk-card-head');
  const h = el('h3', 'ig-h3', label + ' ');
  h.prepend(el('span', 'ig-h-ic ig-ic-' + one));
  h.firstChild.append(icon(ic));
  h.append(el('span', 'zh', zh));
  const cnt = el('span', 'ig-count'); cnt.id = 'ig-' + what + '-count';
  head.append(h, cnt);
  const form = el('form', 'ig-form ig-' + one + '-form');
  form.id = 'ig-' + one + '-form'; form.noValidate = true; form.dataset.state = 'idle';
  form.setAttribute('aria-label', formLabel);
  const fh = el('div', 'ig-form-title', formLabel + ' ');
  fh.append(el('span', 'zh', formZh));
  return { card, head, form, fh };
}

function igBuildKeys() {
  const { card, head, form, fh } = igSection('keys', 'key', 'API keys', 'API 密钥', 'igKey', 'New API key', '新建密钥');
  const name = el('input'); name.id = 'ig-key-name'; name.maxLength = 100; name.autocomplete = 'off'; name.placeholder = 'e.g. ERP sync, 官网表单';
  const role = el('select'); role.id = 'ig-key-role';
  for (const [k, l] of IG_KEY_ROLES) role.append(opt(k, l, k === 'agent'));
  const team = el('select'); team.id = 'ig-key-team';
  const rate = el('input'); rate.id = 'ig-key-rate'; rate.type = 'number'; rate.min = '1'; rate.max = '100000'; rate.step = '1'; rate.placeholder = '600';
  const exp = el('select'); exp.id = 'ig-key-expiry';
  for (const [k, l] of IG_EXPIRY) exp.append(opt(k, l, k === ''));
  const date = el('input'); date.id = 'ig-key-date'; date.type = 'date'; date.hidden = true; date.setAttribute('aria-label', 'expiry date');
  const expWrap = el('span', 'ig-exp');
  expWrap.append(exp, date);
  exp.addEventListener('change', () => {
    date.hidden = exp.value !== 'date';
    if (!date.hidden) { if (!date.value) { const d = new Date(Date.now() + 180 * 86400e3); date.value = d.toISOString().slice(0, 10); } date.focus(); }
  });
  const roleHint = el('span', 'hint ig-role-hint'); roleHint.id = 'ig-role-hint';
  const syncRole = () => {
    const r = IG_KEY_ROLES.find(([k]) => k === role.value);
    roleHint.textContent = r ? 'May do: ' + r[2] : '';
    roleHint.classList.toggle('warn', role.value === 'admin');
  };
  role.addEventListener('change', syncRole);
  syncRole();
  const grid = el('div', 'ig-key-grid');
  const fName = igField('Name', '名称', name, 'name');
  fName.classList.add('f-name');
  const fRole = igField('Acts as role', '角色', role, 'role');
  fRole.append(roleHint);
  grid.append(fName, fRole, igField('Team', '团队', team, 'team_id', 'its data scope'),
    igField('Requests per minute', '限速', rate, 'rate_per_minute', 'empty: 600'), igField('Expires', '有效期', expWrap, 'expires_at'));
  const acts = el('div', 'ig-form-acts');
  const err = el('p', 'error'); err.id = 'ig-key-error'; err.setAttribute('role', 'alert');
  const submit = el('button', 'primary', 'Create key 创建密钥');
  submit.type = 'submit'; submit.id = 'ig-key-create';
  submit.prepend(icon('igPlus'));
  acts.append(err, el('span', 'spacer'), submit);
  form.append(fh, grid, acts);
  form.addEventListener('submit', (e) => { e.preventDefault(); igCreateKey(); });
  form.addEventListener('input', igFieldFixed);
  form.addEventListener('change', igFieldFixed);

  const help = el('aside', 'ig-help');
  const hh = el('h4', '', 'Using a key ');
  hh.append(el('span', 'zh', '使用方法'));
  const p1 = el('p', '', 'Send it with every request:');
  const pre = el('pre', 'ig-code', 'Authorization: Bearer sbk_…');
  const ul = el('ul', 'ig-points');
  for (const t of ['The key acts as a user of its own, with the role and team you choose here: it sees and may change only what such a person could. The audit log shows its requests as made by an API key.',
    'Over its requests per minute it gets 429 with Retry-After.',
    'Revoke a key the moment it may have leaked: it gets 401 at once. 密钥泄露时请立即吊销。']) ul.append(el('li', '', t));
  help.append(hh, p1, pre, ul);

  const top = el('div', 'ig-top');
  top.append(form, help);
  const once = el('div', 'ig-once-slot'); once.id = 'ig-key-once-slot';
  const wrap = el('div', 'ig-table-wrap');
  const t = el('table', 'ig-table ig-keys-table');
  const th = el('thead'), hr = el('tr');
  for (const [cls, en, zh] of [['', 'Key', '密钥'], ['', 'Acts as', '身份'], ['n', 'Limit', '限速'], ['', 'Last used', '最近使用'],
    ['', 'Expires', '到期'], ['', 'Status', '状态'], ['act', '', '']]) {
    const c = el('th', cls, en);
    if (zh) c.append(el('span', 'zh', zh));
    hr.append(c);
  }
  th.append(hr);
  const tb = el('tbody'); tb.id = 'ig-key-rows';
  t.append(th, tb);
  wrap.append(t);
  card.append(head, top, once, wrap);
  return card;
}
function igFillTeams() {
  const sel = $('#ig-key-team');
  if (!sel) return;
  const v = sel.value;
  sel.replaceChildren(opt('', 'No team 无团队'));
  for (const t of ig.teams) sel.append(opt(String(t.id), t.name));
  sel.value = ig.teams.some((t) => String(t.id) === v) ? v : '';
}
function igExpiresAt() {
  const v = $('#ig-key-expiry').value;
  if (!v) return undefined;
  let d;
  if (v === 'date') {
    const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec($('#ig-key-date').value);
    if (!m) return '';
    d = new Date(Number(m[1]), Number(m[2]) - 1, Number(m[3])); // the start of that day, your time
  } else d = new Date(serverNow() + Number(v) * 86400e3);
  return d.toISOString().replace(/\.\d{3}Z$/, 'Z');
}
async function igCreateKey() {
  const form = $('#ig-key-form');
  if (form.dataset.state === 'saving') return;
  igClearErrors(form);
  $('#ig-key-error').textContent = '';
  const body = { name: $('#ig-key-name').value.trim(), role: $('#ig-key-role').value };
  const team = $('#ig-key-team').value, rate = $('#ig-key-rate').value.trim(), exp = igExpiresAt();
  if (team) body.team_id = Number(team);
  if (rate) body.rate_per_minute = /^\d+$/.test(rate) ? Number(rate) : rate;
  if (exp !== undefined) body.expires_at = exp;
  if (exp === '') { igShowErrors(form, { expires_at: 'choose a date' }, $('#ig-key-error'), {}); return; }
  form.dataset.state = 'saving';
  const btn = $('#ig-key-create');
  btn.disabled = true;
  try {
    const k = await api('POST', '/api/v1/api-keys', body);
    ig.keyOnce = { id: k.id, name: k.name, key: k.key };
    form.reset();
    $('#ig-key-date').hidden = true;
    $('#ig-key-role').dispatchEvent(new Event('change'));
    form.dataset.state = 'idle';
    igRenderKeyOnce();
    toast('API key “' + k.name + '” created · 密钥已创建', 'good');
    await igLoadKeys();
    const v = $('#ig-key-value');
    if (v) { v.focus(); v.scrollIntoView({ block: 'nearest' }); }
  } catch (e) {
    form.dataset.state = 'error';
    const f = fieldsOf(e);
    if (f) igShowErrors(form, f, $('#ig-key-error'), { name: 'Name', role: 'Role', team_id: 'Team', rate_per_minute: 'Requests per minute', expires_at: 'Expires' });
    else $('#ig-key-error').textContent = 'Not created 未创建: ' + errText(e);
  } finally {
    btn.disabled = false;
  }
}
function igRenderKeyOnce() {
  const slot = $('#ig-key-once-slot');
  if (!slot) return;
  const k = ig.keyOnce;
  if (!k) { slot.replaceChildren(); return; }
  const note = el('p', 'ig-once-note');
  note.append(el('span', '', 'Try it: '), igMono('curl -H "Authorization: Bearer ' + k.key.slice(0, 12) + '…" ' + location.origin + '/api/v1/auth/me'));
  slot.replaceChildren(igOncePanel({
    id: 'ig-key-once', title: 'API key “' + k.name + '” created · 密钥已创建', value: k.key, valueId: 'ig-key-value', note,
    onDone: () => { ig.keyOnce = null; igRenderKeyOnce(); igRenderKeys(); },
  }));
}
async function igLoadKeys() {
  const seq = ++ig.seq;
  const r = await api('GET', '/api/v1/api-keys');
  if (seq !== ig.seq && ig.keys) return;
  ig.keys = r.items;
  igRenderKeys();
}
function igRenderKeys() {
  const card = $('#ig-keys');
  const tb = $('#ig-key-rows');
  if (!card || !tb || !ig.keys) return;
  const active = ig.keys.filter((k) => igKeyStatus(k) === 'active').length;
  $('#ig-keys-count').textContent = ig.keys.length ? active + ' active · ' + plural(ig.keys.length, 'key') : '';
  const rows = [];
  for (const k of ig.keys) {
    const st = igKeyStatus(k);
    const tr = el('tr', 'ig-key st-' + st);
    tr.dataset.id = String(k.id);
    tr.dataset.status = st;
    tr.dataset.prefix = k.prefix;
    if (ig.keyOnce && ig.keyOnce.id === k.id) tr.classList.add('fresh');
    // the key: name, prefix, who made it when
    const c1 = el('td', 'ig-kname');
    const nm = el('div', 'ig-kn');
    nm.append(el('strong', '', k.name));
    const pre = el('div', 'ig-kpre');
    pre.append(igMono(k.prefix + '…', 'ig-prefix'));
    const made = el('span', 'muted', 'created ' + igDate(k.created_at) + (k.created_by ? ' by ' + igAgentName(k.created_by) : ''));
    made.title = fullTime(k.created_at);
    pre.append(made);
    c1.append(nm, pre);
    // acts as: role, team
    const c2 = el('td', 'ig-kas');
    c2.append(badge(IG_ROLE[k.role] || k.role, 'ig-role r-' + k.role));
    c2.append(el('span', 'ig-team' + (k.team_id ? '' : ' muted'), k.team_id ? igTeamName(k.team_id) : 'no team'));
    const c3 = el('td', 'n ig-rate');
    c3.append(el('strong', '', Number(k.rate_per_minute).toLocaleString()), el('span', 'muted', '/min'));
    // last used: when, from where
    const c4 = el('td', 'ig-used');
    if (k.last_used_at) {
      const w = el('span', 'two-line');
      const t1 = el('span', 'ig-used-at', igAgo(k.last_used_at));
      t1.title = fullTime(k.last_used_at);
      const ip = el('span', 'muted ig-ip');
      ip.append(document.createTextNode('from '), igMono(k.last_used_ip || '?'));
      w.append(t1, ip);
      c4.append(w);
    } else c4.append(el('span', 'muted', 'Never used 未使用'));
    const c5 = el('td', 'ig-exp-c');
    if (k.expires_at) {
      const e = el('span', st === 'expired' ? 'ig-expired' : '', igDate(k.expires_at));
      e.title = fullTime(k.expires_at);
      c5.append(e);
      if (st === 'active') {
        const left = (Date.parse(k.expires_at) - serverNow()) / 86400e3;
        if (left < 14) c5.append(el('span', 'ig-soon', 'in ' + span(left * 86400)));
      }
    } else c5.append(el('span', 'muted', 'Never 永不'));
    const c6 = el('td', 'ig-st');
    const label = { active: 'Active 有效', revoked: 'Revoked 已吊销', expired: 'Expired 已过期' }[st];
    const b = badge(label, 'ig-st-' + st);
    if (st === 'revoked') b.title = 'Revoked ' + fullTime(k.revoked_at);
    c6.append(b);
    if (st === 'revoked') c6.append(el('span', 'muted ig-st-when', igDate(k.revoked_at)));
    const c7 = el('td', 'act');
    if (st !== 'revoked') {
      const rv = button('Revoke 吊销', 'small ghost danger ig-revoke', () => igConfirmRevoke(c7, k));
      rv.setAttribute('aria-label', 'Revoke ' + k.name);
      c7.append(rv);
      if (ig.confirming.has('key:' + k.id)) igConfirmRevoke(c7, k);
    }
    tr.append(c1, c2, c3, c4, c5, c6, c7);
    rows.push(tr);
  }
  if (!ig.keys.length) {
    const tr = el('tr', 'ig-empty-row');
    const td = el('td');
    td.colSpan = 7;
    const e = el('div', 'ig-empty');
    e.append(icon('igKey', 'big'), el('p', '', 'No API keys yet. Create one above for each system that calls Switchboard.'), el('p', 'muted', '暂无 API 密钥'));
    td.append(e);
    tr.append(td);
    rows.push(tr);
  }
  tb.replaceChildren(...rows);
  card.dataset.state = 'ready';
  igRenderSummary();
}
function igConfirmRevoke(cell, k) {
  ig.confirming.add('key:' + k.id);
  const box = el('span', 'ig-confirm');
  box.append(el('span', 'confirm', 'Revoke “' + k.name + '”? It stops working at once.'));
  const yes = button('Revoke 吊销', 'small danger-solid ig-revoke-yes');
  const no = button('Keep 保留', 'small ghost ig-revoke-no', () => { ig.confirming.delete('key:' + k.id); igRenderKeys(); });
  yes.addEventListener('click', async () => {
    yes.disabled = no.disabled = true;
    try {
      await api('DELETE', '/api/v1/api-keys/' + k.id);
      ig.confirming.delete('key:' + k.id);
      if (ig.keyOnce && ig.keyOnce.id === k.id) { ig.keyOnce = null; igRenderKeyOnce(); }
      toast('API key “' + k.name + '” revoked · 密钥已吊销', 'good');
      await igLoadKeys();
    } catch (e) {
      ig.confirming.delete('key:' + k.id);
      toast(errText(e), 'bad');
      igRenderKeys();
    }
  });
  box.append(yes, no);
  cell.replaceChildren(box);
  no.focus();
}

/* ---------- webhooks ---------- */
function igBuildHooks() {
  const { card, head, form, fh } = igSection('hooks', 'hook', 'Webhooks', '事件推送', 'igHook', 'New webhook', '新建 Webhook');
  const url = el('input'); url.id = 'ig-hook-url'; url.type = 'url'; url.maxLength = 2000; url.autocomplete = 'off'; url.spellcheck = false;
  url.placeholder = 'https://erp.example.com/switchboard/events';
  const desc = el('input'); desc.id = 'ig-hook-desc'; desc.maxLength = 500; desc.autocomplete = 'off'; desc.placeholder = 'e.g. ERP 同步 — who runs the receiver';
  const fUrl = igField('Receiver URL', '接收地址', url, 'url', 'http or https; the receiver must be reachable from the internet');
  fUrl.classList.add('f-url');
  // why a private address is refused (shown with that error)
  const why = el('div', 'ig-why');
  why.id = 'ig-url-why'; why.hidden = true;
  why.append(icon('igShield'));
  const wt = el('div');
  wt.append(el('strong', '', 'Why? 为什么不允许？'),
    el('span', '', 'Webhooks go only to public internet addresses, so that nobody can use one to reach machines inside your network ' +
      '(the database, a cloud metadata service…). Give the public address of the receiver. If it really runs inside your network, ' +
      'whoever runs the Switchboard server can allow its host name in the [webhooks] allow_hosts setting.'),
    el('span', 'zh', '为防止借 Webhook 访问内网，只能推送到公网地址；内网接收端需由服务器管理员在 [webhooks] allow_hosts 中放行。'));
  why.append(wt);
  fUrl.append(why);
  const fDesc = igField('Description', '说明', desc, 'description', 'optional');

  const evs = el('fieldset', 'ig-events');
  evs.id = 'ig-hook-events';
  const lg = el('legend', '', 'Events ');
  lg.append(el('span', 'zh', '订阅事件'));
  const allL = el('label', 'ig-all');
  const all = el('input'); all.type = 'checkbox'; all.id = 'ig-ev-all'; all.value = '*'; all.checked = true;
  allL.append(all, el('span', 'ig-all-t', 'All events 全部事件'), el('span', 'hint', '— including kinds added in later versions'));
  const groups = el('div', 'ig-ev-groups');
  for (const [en, zh, kinds] of IG_EVENTS) {
    const g = el('div', 'ig-ev-group');
    const gh = el('div', 'ig-ev-gh', en + ' ');
    gh.append(el('span', 'zh', zh));
    g.append(gh);
    for (const [k, what] of kinds) {
      const l = el('label', 'ig-ev');
      l.title = what;
      const c = el('input'); c.type = 'checkbox'; c.value = k; c.className = 'ig-ev-k'; c.dataset.kind = k;
      l.append(c, igMono(k));
      g.append(l);
    }
    groups.append(g);
  }
  const syncAll = () => {
    groups.classList.toggle('off', all.checked);
    for (const c of $$('.ig-ev-k', groups)) c.disabled = all.checked;
  };
  all.addEventListener('change', syncAll);
  syncAll();
  const evErr = el('span', 'field-error'); evErr.dataset.for = 'events';
  evs.append(lg, allL, groups, evErr);

  const acts = el('div', 'ig-form-acts');
  const err = el('p', 'error'); err.id = 'ig-hook-error'; err.setAttribute('role', 'alert');
  const submit = el('button', 'primary', 'Add webhook 添加');
  submit.type = 'submit'; submit.id = 'ig-hook-create';
  submit.prepend(icon('igPlus'));
  acts.append(err, el('span', 'spacer'), submit);
  const g2 = el('div', 'ig-hook-grid');
  g2.append(fUrl, fDesc);
  form.append(fh, g2, evs, acts);
  form.addEventListener('submit', (e) => { e.preventDefault(); igCreateHook(); });
  form.addEventListener('input', igFieldFixed);
  form.addEventListener('change', igFieldFixed);

  const top = el('div', 'ig-top');
  top.append(form, igSignatureHelp());
  const once = el('div', 'ig-once-slot'); once.id = 'ig-hook-once-slot';
  const list = el('div', 'ig-hook-list'); list.id = 'ig-hook-list';
  card.append(head, top, once, list);
  return card;
}
function igSignatureHelp() {
  const help = el('aside', 'ig-help');
  help.id = 'ig-sig-help';
  const hh = el('h4', '', 'Verify every delivery ');
  hh.append(el('span', 'zh', '验证签名'));
  const p1 = el('p', '', 'Each event is a POST of JSON with these headers:');
  const pre = el('pre', 'ig-code');
  pre.append(el('span', 'k', 'Switchboard-Timestamp'), document.createTextNode(': 1764000000\n'),
    el('span', 'k', 'Switchboard-Signature'), document.createTextNode(': v1='), el('span', 'v', 'hex'), document.createTextNode('\n'),
    el('span', 'c', '# hex = HMAC-SHA256(secret, timestamp + "." + body)'));
  const ol = el('ol', 'ig-points');
  for (const t of ['Compute the HMAC with the secret of the webhook over the raw bytes of the body (never re-serialised JSON); compare in constant time.',
    'Refuse a timestamp more than 5 minutes from your clock: a captured request cannot be replayed.',
    'An event may come twice (Switchboard-Event-Id stays the same): act on it once, answer 2xx again.']) ol.append(el('li', '', t));
  const p2 = el('p', 'muted', 'Any 2xx answer is delivered; anything else is retried with growing gaps. After repeated failures the webhook is ' +
    'disabled and you get a reminder. 任何 2xx 响应即视为送达。');
  const ex = el('details', 'ig-example');
  ex.append(el('summary', '', 'Example in Node.js 示例'));
  ex.append(el('pre', 'ig-code', [
    "const ts = req.headers['switchboard-timestamp'];",
    "const want = 'v1=' + crypto.createHmac('sha256', SECRET)",
    "  .update(ts + '.').update(rawBody).digest('hex');",
    "const got = req.headers['switchboard-signature'] || '';",
    'const ok = got.length === want.length &&',
    '  crypto.timingSafeEqual(Buffer.from(got), Buffer.from(want)) &&',
    '  Math.abs(Date.now() / 1000 - Number(ts)) <= 300;',
  ].join('\n')));
  help.append(hh, p1, pre, ol, p2, ex);
  return help;
}
async function igCreateHook() {
  const form = $('#ig-hook-form');
  if (form.dataset.state === 'saving') return;
  igClearErrors(form);
  const errEl = $('#ig-hook-error');
  errEl.textContent = '';
  const all = $('#ig-ev-all').checked;
  const events = all ? ['*'] : $$('.ig-ev-k', form).filter((c) => c.checked).map((c) => c.value);
  const body = { url: $('#ig-hook-url').value.trim(), events };
  const d = $('#ig-hook-desc').value.trim();
  if (d) body.description = d;
  if (!events.length) {
    igShowErrors(form, { events: 'choose at least one event, or All events · 请至少选择一个事件' }, errEl, {});
    return;
  }
  form.dataset.state = 'saving';
  const btn = $('#ig-hook-create');
  btn.disabled = true;
  try {
    const w = await api('POST', '/api/v1/webhooks', body);
    ig.hookOnce = { id: w.id, url: w.url, secret: w.secret };
    form.reset();
    $('#ig-ev-all').dispatchEvent(new Event('change'));
    form.dataset.state = 'idle';
    ig.open.add(w.id); // the ping: watch it arrive
    igRenderHookOnce();
    toast('Webhook added; a test ping is on its way · Webhook 已添加', 'good');
    await igLoadHooks();
    igLoadDeliveries(w.id).catch(() => {});
    const v = $('#ig-hook-secret');
    if (v) { v.focus(); v.scrollIntoView({ block: 'nearest' }); }
  } catch (e) {
    form.dataset.state = 'error';
    const f = fieldsOf(e);
    if (f) {
      igShowErrors(form, f, errEl, { url: 'URL', events: 'Events', description: 'Description' });
      if (f.url && /private|loopback/.test(f.url)) $('#ig-url-why').hidden = false;
    } else errEl.textContent = 'Not added 未添加: ' + errText(e);
  } finally {
    btn.disabled = false;
  }
}
function igRenderHookOnce() {
  const slot = $('#ig-hook-once-slot');
  if (!slot) return;
  const w = ig.hookOnce;
  if (!w) { slot.replaceChildren(); return; }
  const note = el('p', 'ig-once-note');
  note.append(el('span', '', 'Give it to the receiver to check '), igMono('Switchboard-Signature'),
    el('span', '', ' (see the signature help). A test event, '), igMono('webhook.ping'), el('span', '', ', is on its way to '),
    igMono(w.url), el('span', '', ': its delivery shows below.'));
  slot.replaceChildren(igOncePanel({
    id: 'ig-hook-once', title: 'Webhook signing secret · 签名密钥', value: w.secret, valueId: 'ig-hook-secret', note,
    onDone: () => { ig.hookOnce = null; igRenderHookOnce(); igRenderHooks(); },
  }));
}
async function igLoadHooks() {
  const r = await api('GET', '/api/v1/webhooks');
  ig.hooks = r.items;
  const sig = JSON.stringify(r.items);
  if (sig === ig.hooksSig && $('#ig-hooks').dataset.state === 'ready') return;
  ig.hooksSig = sig;
  for (const id of [...ig.open]) if (!r.items.some((w) => w.id === id)) { ig.open.delete(id); ig.dl.delete(id); }
  igRenderHooks();
}
function igRenderHooks() {
  const list = $('#ig-hook-list');
  if (!list || !ig.hooks) return;
  const n = ig.hooks.length, off = ig.hooks.filter((w) => igHookState(w) === 'disabled').length;
  $('#ig-hooks-count').textContent = n ? plural(n, 'webhook') + (off ? ' · ' + off + ' disabled' : '') : '';
  const items = ig.hooks.map(igHookItem);
  if (!n) {
    const e = el('div', 'ig-empty');
    e.append(icon('igHook', 'big'), el('p', '', 'No webhooks yet. Add one above to have events sent to your system as they happen.'),
      el('p', 'muted', '暂无 Webhook'));
    items.push(e);
  }
  list.replaceChildren(...items);
  $('#ig-hooks').dataset.state = 'ready';
  igRenderSummary();
}
function igHookItem(w) {
  const st = igHookState(w);
  const item = el('article', 'ig-hook st-' + st);
  item.dataset.id = String(w.id);
  item.dataset.state = st;
  if (ig.hookOnce && ig.hookOnce.id === w.id) item.classList.add('fresh');
  const main = el('div', 'ig-hook-main');
  const dot = el('span', 'ig-dot');
  dot.title = { active: 'Active', disabled: 'Disabled after failed deliveries', paused: 'Switched off' }[st];
  const body = el('div', 'ig-hook-body');
  const l1 = el('div', 'ig-hook-l1');
  const u = igMono(w.url, 'ig-url');
  u.title = w.url;
  const stb = badge({ active: 'Active 启用中', disabled: 'Disabled 已停用', paused: 'Off 已关闭' }[st], 'ig-hst-' + st);
  stb.classList.add('ig-hstate');
  l1.append(u, stb);
  const l2 = el('div', 'ig-hook-l2');
  if (w.description) l2.append(el('span', 'ig-desc', w.description));
  const meta = el('span', 'muted', '#' + w.id + ' · added ' + igDate(w.created_at) + (w.created_by ? ' by ' + igAgentName(w.created_by) : ''));
  meta.title = fullTime(w.created_at);
  l2.append(meta);
  const evs = el('div', 'ig-hook-evs');
  const kinds = w.events || [];
  if (kinds.includes('*')) evs.append(badge('All events 全部事件', 'ig-evb all'));
  else {
    const shown = kinds.slice(0, 6);
    for (const k of shown) evs.append(badge(k, 'ig-evb'));
    if (kinds.length > shown.length) {
      const more = badge('+' + (kinds.length - shown.length) + ' more', 'ig-evb more');
      more.title = kinds.slice(shown.length).join(', ');
      evs.append(more);
    }
  }
  body.append(l1, l2, evs);

  const stats = el('div', 'ig-hook-stats');
  const s1 = el('div', 'ig-stat');
  s1.append(el('span', 'ig-stat-l', 'Last delivery'));
  const s1v = el('span', 'ig-stat-v ig-last');
  if (w.last_delivery_at) {
    const ok = w.last_status >= 200 && w.last_status < 300;
    s1v.append(badge(w.last_status ? 'HTTP ' + w.last_status : 'no answer', 'ig-http ' + (ok ? 'ok' : 'bad')));
    const t = el('span', 'muted', igAgo(w.last_delivery_at));
    t.title = fullTime(w.last_delivery_at);
    s1v.append(t);
  } else s1v.append(el('span', 'muted', 'none yet'));
  s1.append(s1v);
  const s2 = el('div', 'ig-stat');
  s2.append(el('span', 'ig-stat-l', 'Failures in a row'));
  const fc = el('span', 'ig-stat-v ig-fails' + (w.failure_count ? ' on' : ''), String(w.failure_count || 0));
  fc.title = 'Failed attempts since the last success';
  s2.append(fc);
  stats.append(s1, s2);

  const acts = el('div', 'ig-hook-acts');
  const open = ig.open.has(w.id);
  const dl = button('Deliveries 投递记录', 'small ig-dl-btn' + (open ? ' on' : ''), () => igToggleDrawer(w.id), 'igList');
  dl.setAttribute('aria-expanded', open ? 'true' : 'false');
  dl.append(icon('igDown', 'ig-caret'));
  acts.append(dl);
  const busy = ig.busy.has(w.id);
  if (st === 'active') {
    const b = button('Disable 停用', 'small ig-toggle', () => igSetActive(w, false), 'igPower');
    b.disabled = busy;
    acts.append(b);
  } else if (st === 'paused') {
    const b = button('Enable 启用', 'small ig-toggle ig-enable', () => igSetActive(w, true), 'igPower');
    b.disabled = busy;
    acts.append(b);
  }
  const del = button('', 'small ghost danger ig-del', () => igConfirmDelete(acts, w), 'igTrash');
  del.title = 'Delete this webhook · 删除'; del.setAttribute('aria-label', 'Delete webhook ' + w.url);
  acts.append(del);
  main.append(dot, body, stats, acts);
  item.append(main);
  if (ig.confirming.has('hook:' + w.id)) igConfirmDelete(acts, w);

  // disabled by the worker after failing: say why and since when; enable again
  if (st === 'disabled') {
    const n = el('div', 'ig-notice');
    n.setAttribute('role', 'alert');
    n.append(icon('alert'));
    const nb = el('div', 'ig-notice-b');
    const reason = w.disabled_reason || 'too many failed deliveries';
    const t = el('strong', '', 'Disabled 已停用: ' + reason);
    const since = el('span', 'ig-notice-when', 'Since ' + fullTime(w.disabled_at) + ' (' + igAgo(w.disabled_at) + ')' +
      (w.last_status ? ', the receiver last answered HTTP ' + w.last_status : '') + '.');
    since.title = w.disabled_at;
    nb.append(t, since, el('span', 'ig-notice-help', 'Nothing is sent while it is disabled. Fix the receiver, then enable it again; ' +
      'failed deliveries can be sent again from the deliveries below. 修复接收端后重新启用。'));
    const again = button('Enable again 重新启用', 'primary ig-enable-again', () => igSetActive(w, true), 'igPower');
    again.disabled = busy;
    n.append(nb, again);
    item.append(n);
  }
  if (open) item.append(igDrawer(w));
  return item;
}
async function igSetActive(w, on) {
  ig.busy.add(w.id);
  igRenderHooks();
  try {
    await api('PATCH', '/api/v1/webhooks/' + w.id, { active: on });
    toast(on ? 'Webhook enabled · 已启用' : 'Webhook switched off · 已停用', 'good');
  } catch (e) {
    toast(errText(e), 'bad');
  } finally {
    ig.busy.delete(w.id);
  }
  await igLoadHooks().catch((e) => toast(errText(e), 'bad'));
  igRenderHooks();
  if (ig.open.has(w.id)) igLoadDeliveries(w.id).catch(() => {});
}
function igConfirmDelete(acts, w) {
  ig.confirming.add('hook:' + w.id);
  const box = el('span', 'ig-confirm');
  box.append(el('span', 'confirm', 'Delete this webhook and its delivery log?'));
  const yes = button('Delete 删除', 'small danger-solid ig-del-yes');
  const no = button('Keep 保留', 'small ghost ig-del-no', () => { ig.confirming.delete('hook:' + w.id); igRenderHooks(); });
  yes.addEventListener('click', async () => {
    yes.disabled = no.disabled = true;
    try {
      await api('DELETE', '/api/v1/webhooks/' + w.id);
      ig.confirming.delete('hook:' + w.id);
      ig.open.delete(w.id); ig.dl.delete(w.id);
      if (ig.hookOnce && ig.hookOnce.id === w.id) { ig.hookOnce = null; igRenderHookOnce(); }
      toast('Webhook deleted · 已删除', 'good');
    } catch (e) {
      ig.confirming.delete('hook:' + w.id);
      toast(errText(e), 'bad');
    }
    await igLoadHooks().catch(() => {});
    igRenderHooks();
  });
  box.append(yes, no);
  acts.replaceChildren(box);
  no.focus();
}

/* ---------- a webhook's deliveries ---------- */
function igToggleDrawer(id) {
  if (ig.open.has(id)) ig.open.delete(id);
  else ig.open.add(id);
  igRenderHooks();
  if (ig.open.has(id)) igLoadDeliveries(id).catch(() => {});
}
// quiet (the timer): the drawer is drawn again only when something changed
async function igLoadDeliveries(id, page, quiet) {
  const d = ig.dl.get(id) || { items: null, total: 0, page: 1, loading: false, error: '', seq: 0, sig: '' };
  ig.dl.set(id, d);
  if (page) d.page = page;
  const seq = ++d.seq;
  d.loading = true;
  if (!quiet) igRenderDrawer(id);
  let r;
  try {
    r = await api('GET', '/api/v1/webhooks/' + id + '/deliveries?page=' + d.page + '&per_page=' + IG_PER_PAGE);
  } catch (e) {
    if (seq !== d.seq) return;
    d.loading = false;
    d.error = errText(e);
    igRenderDrawer(id);
    throw e;
  }
  if (seq !== d.seq) return;
  const sig = JSON.stringify([r.total, r.items.map((x) => [x.id, x.state, x.attempts, x.last_status])]);
  const changed = sig !== d.sig;
  const wasError = !!d.error;
  d.loading = false; d.error = '';
  d.sig = sig;
  d.items = r.items; d.total = r.total;
  if (!quiet || changed || wasError) igRenderDrawer(id);
  // a delivery moved on (or is seen for the first time): the webhook's last status and failure count may have too
  if (changed) igLoadHooks().catch(() => {});
  igSchedule();
}
function igRenderDrawer(id) {
  const item = $(`.ig-hook[data-id="${id}"]`);
  const w = ig.hooks && ig.hooks.find((x) => x.id === id);
  if (!item || !w || !ig.open.has(id)) return;
  const old = $('.ig-drawer', item);
  const fresh = igDrawer(w);
  if (old) old.replaceWith(fresh); else item.append(fresh);
}
function igDrawer(w) {
  const d = ig.dl.get(w.id) || { items: null, total: 0, page: 1, loading: true, error: '' };
  const box = el('div', 'ig-drawer');
  box.dataset.state = d.error ? 'error' : d.items ? 'ready' : 'loading';
  const head = el('div', 'ig-drawer-head');
  const h = el('span', 'ig-drawer-t', 'Recent deliveries ');
  h.append(el('span', 'zh', '最近投递'));
  head.append(h);
  if (d.items) {
    const from = d.total ? (d.page - 1) * IG_PER_PAGE + 1 : 0, to = Math.min(d.total, d.page * IG_PER_PAGE);
    head.append(el('span', 'muted ig-range', d.total ? from + '–' + to + ' of ' + d.total : ''));
  }
  if (d.items && d.items.some((x) => IG_PENDING.includes(x.state))) {
    const live = el('span', 'ig-live');
    live.append(el('span', 'q-live-dot'), el('span', '', w.active ? 'watching 实时更新' : 'waiting for the webhook to be enabled'));
    head.append(live);
  }
  head.append(el('span', 'spacer'));
  const newer = button('‹ Newer', 'small ghost', () => igLoadDeliveries(w.id, d.page - 1).catch(() => {}));
  newer.disabled = !d.items || d.page <= 1;
  const older = button('Older ›', 'small ghost', () => igLoadDeliveries(w.id, d.page + 1).catch(() => {}));
  older.disabled = !d.items || d.page * IG_PER_PAGE >= d.total;
  const re = button('Refresh 刷新', 'small ig-refresh', () => igLoadDeliveries(w.id).catch(() => {}), 'igRedo');
  re.disabled = !!d.loading;
  if (d.total > IG_PER_PAGE) head.append(newer, older);
  head.append(re);
  box.append(head);
  if (!w.active) box.append(el('p', 'ig-drawer-note', 'This webhook is off: queued deliveries wait until it is enabled again. 启用后才会继续投递。'));
  if (d.error) { box.append(el('p', 'error', 'Could not load the deliveries 加载失败: ' + d.error)); return box; }
  if (!d.items) { box.append(el('p', 'muted ig-loading', 'Loading… 加载中')); return box; }
  if (!d.items.length) { box.append(el('p', 'muted ig-loading', 'Nothing delivered yet: events this webhook subscribes to will show here. 暂无投递')); return box; }
  const t = el('table', 'ig-table ig-dl-table');
  const th = el('thead'), hr = el('tr');
  for (const [cls, en, zh] of [['', 'Event', '事件'], ['', 'State', '状态'], ['n', 'Attempts', '次数'], ['', 'Answer', '响应'],
    ['', 'Time', '时间'], ['act', '', '']]) {
    const c = el('th', cls, en);
    if (zh) c.append(el('span', 'zh', zh));
    hr.append(c);
  }
  th.append(hr);
  const tb = el('tbody');
  for (const x of d.items) {
    const tr = el('tr', 'ig-dl st-' + x.state);
    tr.dataset.id = String(x.id);
    tr.dataset.state = x.state;
    tr.dataset.event = x.event;
    const c1 = el('td', 'ig-dl-ev');
    const w1 = el('span', 'two-line');
    w1.append(igMono(x.event, 'ig-ev-name'), el('span', 'muted ig-evid', 'id ' + x.event_id + ' · delivery ' + x.id));
    c1.append(w1);
    const c2 = el('td', 'ig-dl-st');
    const [en, zh] = IG_DSTATE[x.state] || [x.state, ''];
    const b = badge(en + ' ' + zh, 'ig-ds ig-ds-' + x.state);
    b.prepend(el('i', 'ig-ds-dot'));
    c2.append(b);
    if (x.state === 'retrying' && x.next_attempt_at) {
      const nx = el('span', 'muted ig-next', 'next ' + igAgo(x.next_attempt_at));
      nx.title = fullTime(x.next_attempt_at);
      c2.append(nx);
    }
    const c3 = el('td', 'n ig-att', String(x.attempts));
    const c4 = el('td', 'ig-ans');
    if (x.last_status) {
      const ok = x.last_status >= 200 && x.last_status < 300;
      c4.append(badge('HTTP ' + x.last_status, 'ig-http ' + (ok ? 'ok' : 'bad')));
    }
    if (x.last_error) {
      const er = el('span', 'ig-err', x.last_error);
      er.title = x.last_error;
      c4.append(er);
    }
    if (!x.last_status && !x.last_error) c4.append(el('span', 'muted', '—'));
    const c5 = el('td', 'ig-time');
    const at = x.delivered_at || x.created_at;
    const w5 = el('span', 'two-line');
    const t5 = el('span', '', when(at));
    t5.title = fullTime(at);
    w5.append(t5, el('span', 'muted', x.delivered_at ? 'delivered ' + igAgo(x.delivered_at) : 'created ' + igAgo(x.created_at)));
    c5.append(w5);
    const c6 = el('td', 'act');
    const rd = button('Redeliver 重新投递', 'small ig-redeliver', () => igRedeliver(w.id, x, rd), 'igRedo');
    rd.disabled = x.state === 'queued' || x.state === 'sending';
    rd.title = rd.disabled ? 'Already on its way' : 'Send the same event again (same id and body)';
    c6.append(rd);
    tr.append(c1, c2, c3, c4, c5, c6);
    tb.append(tr);
  }
  t.append(th, tb);
  const wrap = el('div', 'ig-table-wrap');
  wrap.append(t);
  box.append(wrap);
  return box;
}
async function igRedeliver(hookId, x, btn) {
  btn.disabled = true;
  try {
    await api('POST', '/api/v1/webhook-deliveries/' + x.id + '/redeliver');
    toast('Delivery queued again · 已重新排队', 'good');
  } catch (e) {
    toast(e.status === 409 ? 'It is already on its way · 正在投递中' : errText(e), e.status === 409 ? 'info' : 'bad');
  }
  await igLoadDeliveries(hookId).catch(() => {});
}

/* ---------- summary, loading, refreshing ---------- */
function igRenderSummary() {
  const box = $('#ig-summary');
  if (!box) return;
  const chips = [];
  const chip = (cls, ic, text, target) => {
    const c = button('', 'ig-chip ' + cls, () => { const t = $(target); if (t) t.scrollIntoView({ behavior: 'smooth', block: 'start' }); });
    c.append(icon(ic), el('span', '', text));
    return c;
  };
  if (ig.keys) chips.push(chip('', 'igKey', plural(ig.keys.filter((k) => igKeyStatus(k) === 'active').length, 'active key'), '#ig-keys'));
  if (ig.hooks) {
    chips.push(chip('', 'igHook', plural(ig.hooks.filter((w) => w.active).length, 'active webhook'), '#ig-hooks'));
    const off = ig.hooks.filter((w) => igHookState(w) === 'disabled');
    if (off.length) {
      const c = chip('bad', 'alert', off.length + ' disabled 已停用', `.ig-hook[data-id="${off[0].id}"]`);
      c.id = 'ig-summary-disabled';
      chips.push(c);
    }
  }
  box.replaceChildren(...chips);
}
async function loadIntegrations() {
  if (!ig.built) igBuild();
  const page = $('#int-page');
  if (!ig.keys || !ig.hooks) page.dataset.state = 'loading';
  try {
    const teams = api('GET', '/api/v1/teams?per_page=200').then((r) => { ig.teams = r.items; igFillTeams(); }).catch(() => {});
    await Promise.all([teams, igLoadKeys(), igLoadHooks()]);
    for (const id of ig.open) igLoadDeliveries(id).catch(() => {});
    igRenderKeys(); // team names
    page.dataset.state = 'ready';
  } catch (e) {
    page.dataset.state = 'error';
    throw e;
  } finally {
    igSchedule();
  }
}
// while a delivery is on its way: every 1.5 s; otherwise the list every 20 s (the view open)
function igSchedule() {
  clearTimeout(ig.timer);
  if (!state.me || state.view !== 'integrations') return;
  const pending = [...ig.open].some((id) => {
    const d = ig.dl.get(id);
    const w = ig.hooks && ig.hooks.find((x) => x.id === id);
    return d && d.items && w && w.active && d.items.some((x) => IG_PENDING.includes(x.state));
  });
  ig.timer = setTimeout(igTick, pending ? 1500 : 20000);
}
async function igTick() {
  if (!state.me || state.view !== 'integrations' || document.hidden) { igSchedule(); return; }
  try {
    await igLoadHooks();
    await Promise.all([...ig.open].map((id) => igLoadDeliveries(id, 0, true)));
  } catch (e) { /* the next tick tries again */ }
  igSchedule();
}

/* ---------- start, stop, live events ---------- */
function integrationsStart(agent) {
  $('.tab[data-view=integrations]').hidden = !INT_ROLES.includes(agent.role);
  clearTimeout(ig.timer);
  Object.assign(ig, { built: false, keys: null, hooks: null, teams: [], keyOnce: null, hookOnce: null, hooksSig: '' });
  ig.open.clear(); ig.dl.clear(); ig.confirming.clear(); ig.busy.clear();
  $('#int-page').replaceChildren();
  $('#int-page').dataset.state = 'idle';
}
function integrationsStop() {
  clearTimeout(ig.timer);
  // the one-time secrets leave the page with the person who saw them
  ig.keyOnce = null; ig.hookOnce = null;
  ig.built = false;
  $('#int-page').replaceChildren();
}
function integrationsFrame(m) {
  if (m.type !== 'reminder.due' || !m.reminder || m.reminder.kind !== 'webhook_disabled') return;
  if (state.view === 'integrations') igLoadHooks().catch(() => {});
}
