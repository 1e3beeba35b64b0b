// Switchboard console — Rules 自动化规则 (docs/rules.md), for admins: "when a trigger happens,
// if the conditions hold for its record, do these actions, in order". The list groups the
// rules by trigger (an enabled switch, how often and when each last fired, its version, a
// badge for the built-in ones); the designer edits one rule: name, description, trigger (and
// the record a schedule rule looks at), the conditions — a builder of field / operator /
// value rows joined by AND or OR that writes the segment language into a text box kept in
// step with it (the text is what is saved; the server's compile error shows under it) — and
// the ordered actions, each with its own parameters. "What would happen" dry-runs the
// unsaved draft against a record (POST /rules/test); the history restores an old version;
// the firings log pages through what the rule did. Live events of a trigger's kind refresh
// the log while it is open.
// data-state: #ru-page (idle | loading | ready | error), #ru-list (loading | ready | error),
// #ru-editor (loading | empty | new | edit, with data-rule-id), #ru-designer (idle | dirty | saving |
// error), #ru-test-result (idle | loading | ready | error, with data-matched), #ru-history and
// #ru-firings (loading | ready | error).
// Loaded after app.js, crm.js, marketing.js (parseRule, ruleValue, rulePosition: the segment
// language both ways), kb_admin.js, quality.js, dashboard.js and integrations.js, and built on
// their helpers (el, opt, badge, icon, avatar, api, errText, toast, go, showView, state,
// button, fieldsOf, fullTime, ensureFieldDefs, LIFECYCLE, CHURNED, plural, serverNow, span,
// openTicket). Everything from the server is set as text.
'use strict';

Object.assign(ICONS, {
  ruBolt: 'M7 2v11h3v9l7-12h-4l4-8z',
  ruUp: 'M7.41 15.41 12 10.83l4.59 4.58L18 14l-6-6-6 6z',
  ruDown: 'M7.41 8.59 12 13.17l4.59-4.58L18 10l-6 6-6-6z',
  ruTrash: 'M6 19a2 2 0 0 0 2 2h8a2 2 0 0 0 2-2V7H6zM19 4h-3.5l-1-1h-5l-1 1H5v2h14z',
  ruPlay: 'M8 5v14l11-7z',
  ruHistory: 'M13 3a9 9 0 0 0-9 9H1l3.89 3.89.07.14L9 12H6a7 7 0 1 1 2.05 4.95l-1.42 1.42A9 9 0 1 0 13 3zm-1 5v5l4.28 2.54.72-1.21-3.5-2.08V8z',
  ruPlus: 'M19 13h-6v6h-2v-6H5v-2h6V5h2v6h6z',
  ruCopy: 'M16 1H4a2 2 0 0 0-2 2v14h2V3h12zm3 4H8a2 2 0 0 0-2 2v14a2 2 0 0 0 2 2h11a2 2 0 0 0 2-2V7a2 2 0 0 0-2-2zm0 16H8V7h11z',
  ruSeed: 'M12 2 4 5v6c0 5.2 3.4 10 8 11 4.6-1 8-5.8 8-11V5zm0 4 1.5 3.1 3.5.5-2.5 2.4.6 3.4L12 13.8l-3.1 1.6.6-3.4L7 9.6l3.5-.5z',
  ruLog: 'M3 13h2v-2H3zm0 4h2v-2H3zm0-8h2V7H3zm4 4h14v-2H7zm0 4h14v-2H7zM7 7v2h14V7z',
  ruRefresh: 'M17.65 6.35A7.96 7.96 0 0 0 12 4a8 8 0 1 0 7.73 10h-2.08A6 6 0 1 1 12 6c1.66 0 3.14.69 4.22 1.78L13 11h7V4z',
  ruCheck: 'M9 16.17 4.83 12l-1.42 1.41L9 19 21 7l-1.41-1.41z',
  ruX: 'M19 6.41 17.59 5 12 10.59 6.41 5 5 6.41 10.59 12 5 17.59 6.41 19 12 13.41 17.59 19 19 17.59 13.41 12z',
  ruLink: 'M3.9 12A3.1 3.1 0 0 1 7 8.9h4V7H7a5 5 0 0 0 0 10h4v-1.9H7A3.1 3.1 0 0 1 3.9 12zM8 13h8v-2H8zm9-6h-4v1.9h4a3.1 3.1 0 0 1 0 6.2h-4V17h4a5 5 0 0 0 0-10z',
});

const RU_ROLES = ['admin'];
Object.assign(VIEW_ROLES, { rules: RU_ROLES });
Object.assign(VIEWS, { rules: (id) => loadRules(id) });

/* ---------- what there is (docs/rules.md) ---------- */
const RU_KIND = { customer: ['Customer', '客户'], lead: ['Lead', '线索'], deal: ['Deal', '商机'], ticket: ['Ticket', '工单'],
  campaign: ['Campaign', '营销活动'] };
// [group en, zh, [[trigger, en, zh, record kind (null: schedule_record), fires when]]]
const RU_TRIGGER_GROUPS = [
  ['Customers', '客户', [
    ['customer.created', 'Customer created', '新建客户', 'customer', 'a customer is created'],
    ['customer.updated', 'Customer changed', '客户变更', 'customer', 'a customer is changed'],
    ['tag.added', 'Tag added', '添加标签', 'customer', 'a customer gains a tag'],
    ['activity.created', 'Follow-up logged', '新增跟进', 'customer', 'a follow-up is logged'],
    ['object.created', 'Custom record created', '新建自定义记录', 'customer', 'a custom-object record of the customer is created (name its fields as obj.TYPE.FIELD)'],
    ['object.updated', 'Custom record changed', '自定义记录变更', 'customer', 'a custom-object record of the customer is changed'],
  ]],
  ['Leads', '线索', [
    ['lead.created', 'Lead created', '新建线索', 'lead', 'a lead is created'],
    ['lead.converted', 'Lead converted', '线索转化', 'lead', 'a lead becomes a customer and a deal'],
  ]],
  ['Deals', '商机', [
    ['deal.created', 'Deal created', '新建商机', 'deal', 'a deal is created'],
    ['deal.stage_changed', 'Deal stage changed', '商机阶段变更', 'deal', 'a deal moves to another stage'],
    ['deal.won', 'Deal won', '赢单', 'deal', 'a deal is won'],
    ['deal.lost', 'Deal lost', '丢单', 'deal', 'a deal is lost'],
  ]],
  ['Tickets', '工单', [
    ['ticket.created', 'Ticket created', '新建工单', 'ticket', 'a ticket arrives'],
    ['ticket.solved', 'Ticket solved', '工单已解决', 'ticket', 'a ticket is solved'],
    ['message.created', 'Message written', '新消息', 'ticket', 'a message is written on a ticket'],
  ]],
  ['Campaigns', '营销', [
    ['campaign.start_requested', 'Campaign start requested', '申请启动活动', 'campaign',
      'someone asks to start a campaign; runs before it starts and may hold it for approval'],
  ]],
  ['Schedule', '定时', [
    ['schedule', 'On a schedule', '定时检查', null, 'a record starts matching (checked every few minutes; again only after it stopped matching)'],
  ]],
];
const RU_TRIGGERS = new Map();
for (const [gen, gzh, list] of RU_TRIGGER_GROUPS) {
  for (const [key, en, zh, kind, what] of list) RU_TRIGGERS.set(key, { key, en, zh, kind, what, group: gen, groupZh: gzh });
}
const RU_GATES = ['campaign.start_requested'];
// the websocket events that may fire rules (a firing log open refreshes on them)
const RU_EVENT_TYPES = new Set([...RU_TRIGGERS.keys()].filter((k) => !['schedule', 'tag.added', 'campaign.start_requested'].includes(k))
  .concat(['customer.tagged', 'campaign.updated', 'approval.updated']));

// condition fields: [field, label, type]; type text | number | date | enum | tag | stage | has
const RU_ENUM = {
  'lead.grade': ['A', 'B', 'C'], 'lead.status': ['new', 'working', 'converted', 'disqualified'],
  'deal.stage_kind': ['open', 'won', 'lost'], 'deal.status': ['open', 'won', 'lost'], 'deal.stage_notify': [['1', '1 · mature 成熟'], ['0', '0 · other 其他']],
  'deal.customer_stage': LIFECYCLE.map(([k, en, zh]) => [k, en + ' ' + zh]),
  'ticket.channel': ['chat', 'email', 'sms', 'phone', 'web'], 'ticket.priority': ['low', 'normal', 'high', 'urgent'],
  'ticket.status': ['new', 'open', 'pending', 'solved', 'closed'], 'campaign.channel': ['email', 'sms'],
  type: [['new', 'new 新客户'], ['returning', 'returning 老客户'], ['churned', 'churned 流失客户']],
};
const RU_RECORD_FIELDS = {
  lead: ['Lead 线索', [['lead.name', 'Name 姓名', 'text'], ['lead.company', 'Company 公司', 'text'], ['lead.source', 'Source 来源', 'text'],
    ['lead.grade', 'Grade 等级', 'enum'], ['lead.region', 'Region 地区', 'text'], ['lead.status', 'Status 状态', 'enum'],
    ['lead.owner_id', 'Owner ID 负责人 ID', 'number']]],
  deal: ['Deal 商机', [['deal.title', 'Title 名称', 'text'], ['deal.stage', 'Stage 阶段', 'text'], ['deal.stage_kind', 'Stage kind 阶段类型', 'enum'],
    ['deal.status', 'Status 状态', 'enum'], ['deal.amount', 'Amount 金额', 'number'], ['deal.currency', 'Currency 币种', 'text'],
    ['deal.probability', 'Probability % 赢率', 'number'], ['deal.stage_notify', 'Mature stage 成熟阶段', 'enum'],
    ['deal.customer_stage', 'Stage\'s customer stage 对应客户阶段', 'enum'], ['deal.owner_id', 'Owner ID 负责人 ID', 'number']]],
  ticket: ['Ticket 工单', [['ticket.channel', 'Channel 渠道', 'enum'], ['ticket.priority', 'Priority 优先级', 'enum'],
    ['ticket.status', 'Status 状态', 'enum'], ['ticket.subject', 'Subject 主题', 'text'], ['ticket.team_id', 'Team ID 团队 ID', 'number'],
    ['ticket.assignee_id', 'Assignee ID 处理人 ID', 'number']]],
  campaign: ['Campaign 营销活动', [['campaign.name', 'Name 名称', 'text'], ['campaign.channel', 'Channel 渠道', 'enum'],
    ['campaign.audience', 'Audience now 当前受众人数', 'number']]],
};
const RU_EVENT_FIELDS = ['This event 本次事件', [['event.tag', 'The tag just added 新增的标签', 'text']]];
const RU_CUSTOMER_FIELDS = ['Customer 客户', [['tag', 'Tag 标签', 'tag'], ['stage', 'Lifecycle stage 生命周期', 'stage'],
  ['region', 'Region 地区', 'text'], ['grade', 'Grade 等级', 'text'], ['source', 'Source 来源', 'text'], ['industry', 'Industry 行业', 'text'],
  ['type', 'Type 类型', 'enum'], ['name', 'Name 姓名', 'text'], ['company', 'Company 公司', 'text'], ['owner_id', 'Owner ID 负责人 ID', 'number'],
  ['has:email', 'Has an e-mail 有邮箱', 'has'], ['has:phone', 'Has a phone 有手机', 'has'],
  ['followup_days', 'Days since follow-up 未跟进天数', 'number'], ['contact_days', 'Days since contact 未联系天数', 'number'],
  ['deals.won', 'Deals won 成交商机数', 'number'], ['tickets.chat.7d', 'Chats in 7 days 7天会话数', 'number'],
  ['created_at', 'Created 创建日期', 'date'], ['last_contact_at', 'Last contact 最近联系', 'date']]];
const RU_OPS = { text: ['=', '!=', '~'], number: ['=', '!=', '<', '<=', '>', '>='], date: ['=', '!=', '<', '<=', '>', '>='], enum: ['=', '!='] };
const RU_OP_LABEL = { '=': '= is 等于', '!=': '≠ is not 不等于', '~': '~ contains 包含', '<': '< less than 小于', '<=': '≤ at most 不超过',
  '>': '> more than 大于', '>=': '≥ at least 至少' };

// actions: [type, en, zh, what, only for record kinds | 'gate']
const RU_WITH_CUSTOMER = ['customer', 'lead', 'deal', 'ticket'];
const RU_ACTIONS = [
  ['tag', 'Add a tag', '打标签', 'tags the record\'s customer', RU_WITH_CUSTOMER],
  ['untag', 'Remove a tag', '移除标签', 'untags the record\'s customer', RU_WITH_CUSTOMER],
  ['set_field', 'Set a customer field', '设置客户字段', 'checked as the API would check it', RU_WITH_CUSTOMER],
  ['assign_owner', 'Assign an owner', '分配负责人', 'gives the lead, customer or deal an owner', ['customer', 'lead', 'deal']],
  ['notify', 'Send a reminder', '发送提醒', 'on the bell and by e-mail, once'],
  ['create_task', 'Create a follow-up task', '创建跟进任务', 'a task due in some days', RU_WITH_CUSTOMER],
  ['raise_priority', 'Raise the ticket priority', '提高工单优先级', 'never lowers it', ['ticket']],
  ['enrol_sequence', 'Enrol in a nurture sequence', '加入培育序列', 'once per customer', RU_WITH_CUSTOMER],
  ['send_template', 'Send a template', '发送模板', 'to the customer, personalised, once per customer; never to an unsubscribed address', RU_WITH_CUSTOMER],
  ['call_webhook', 'Call a webhook', '调用 Webhook', 'queues a signed rule.fired delivery'],
  ['advance_lifecycle', 'Advance the customer lifecycle', '推进客户阶段', 'to the deal stage\'s customer stage, never backwards', ['deal']],
  ['request_approval', 'Require an approval', '需要审批', 'holds the change until an approver decides', 'gate'],
];
const RU_ACTION = Object.fromEntries(RU_ACTIONS.map(([t, en, zh, what, only]) => [t, { en, zh, what, only }]));
const RU_SET_FIELDS = [['grade', 'Grade 等级'], ['industry', 'Industry 行业'], ['source', 'Source 来源'], ['region', 'Region 地区'],
  ['type', 'Type 类型'], ['stage', 'Lifecycle stage 生命周期']];
const RU_STAFF_ROLES = [['agent', 'Agents 坐席'], ['sales', 'Sales 销售'], ['marketer', 'Marketers 市场'], ['manager', 'Managers 主管'], ['admin', 'Admins 管理员']];
const RU_OUTCOME = { done: ['Done', '已执行'], skipped: ['Skipped', '已跳过'], failed: ['Failed', '失败'], stopped: ['Stopped', '已中止'],
  held: ['Held', '待审批'] };
const RU_VARS = {
  customer: ['customer.name', 'customer.customer_no', 'customer.region'],
  lead: ['lead.name', 'lead.company', 'lead.region'],
  deal: ['deal.title', 'deal.amount', 'deal.stage', 'customer.name'],
  ticket: ['ticket.subject', 'ticket.priority', 'customer.name'],
  campaign: ['campaign.name', 'campaign.channel'],
};
const RU_PER_PAGE = 10;
const RU_LABEL = { name: 'Name', description: 'Description', trigger: 'Trigger', schedule_record: 'Record', conditions: 'Conditions',
  actions: 'Actions', position: 'Order', enabled: 'Enabled' };

const ru = {
  built: false, rules: null, listError: '', listSeq: 0,
  saved: null,          // the rule as the server last gave it (null: a new one)
  draft: null,          // what the designer shows: {id, name, description, trigger, schedule_record, conditions, actions, enabled, position, ...}
  cond: null,           // the builder: {op, rows:[{field, op, value}], ok, why}
  dirty: false, saving: false, busy: new Set(),
  agents: null, webhooks: null, sequences: null, refsAt: 0,
  test: { recordId: '', result: null, error: '', loading: false, seq: 0 },
  ver: { items: null, error: '', loading: false, seq: 0 },
  fire: { items: null, total: 0, page: 1, error: '', loading: false, seq: 0 },
  timer: null,
};

/* ---------- small helpers ---------- */
function ruAgo(iso) {
  const t = Date.parse(iso);
  if (isNaN(t)) return '';
  const s = (serverNow() - t) / 1000;
  if (s < 45) return 'just now';
  if (s < 3600) return Math.max(1, Math.round(s / 60)) + ' min ago';
  if (s < 86400) return Math.floor(s / 3600) + ' h ago';
  const d = Math.floor(s / 86400);
  return d < 30 ? d + (d === 1 ? ' day' : ' days') + ' ago' : new Date(t).toLocaleDateString(undefined, { year: 'numeric', month: 'short', day: 'numeric' });
}
const ruTrigger = (t) => RU_TRIGGERS.get(t) || { key: t, en: t, zh: '', kind: 'customer', what: '', group: 'Other', groupZh: '其他' };
const ruKindOf = (d) => (d.trigger === 'schedule' ? d.schedule_record || 'customer' : ruTrigger(d.trigger).kind || 'customer');
const ruKindLabel = (k) => (RU_KIND[k] ? RU_KIND[k][0] + ' ' + RU_KIND[k][1] : k);
const ruClone = (x) => JSON.parse(JSON.stringify(x));
function ruAgentName(id) {
  if (!id) return '';
  if (state.me && Number(id) === state.me.id) return state.me.name + ' (you)';
  const a = (ru.agents || []).find((x) => x.id === Number(id));
  if (a) return a.name;
  if (typeof crm === 'object' && crm.agents && crm.agents.get(Number(id))) return crm.agents.get(Number(id));
  return 'Agent #' + id;
}
// a labelled field with its error slot: <label class="field"><span class="ru-label">…</span> input <span class="field-error" data-for=key>
function ruField(label, input, key, hint, cls) {
  const f = el('label', 'field ru-field' + (cls ? ' ' + cls : ''));
  const [en, zh] = Array.isArray(label) ? label : [label, ''];
  const l = el('span', 'ru-label', en);
  if (zh) l.append(el('span', 'zh', zh));
  f.append(l, input);
  if (hint) f.append(el('span', 'hint', hint));
  const e = el('span', 'field-error');
  e.dataset.for = key;
  f.append(e);
  return f;
}
function ruSelect(options, value, cls) {
  const s = el('select', cls || '');
  let found = false;
  for (const o of options) {
    const [v, l] = Array.isArray(o) ? o : [o, o];
    s.append(opt(v, l, String(v) === String(value)));
    if (String(v) === String(value)) found = true;
  }
  if (!found && value !== undefined && value !== null && value !== '') s.prepend(opt(String(value), String(value), true));
  return s;
}
function ruOutcomeBadge(outcome) {
  const [en, zh] = RU_OUTCOME[outcome] || [outcome, ''];
  const b = badge(en + (zh ? ' ' + zh : ''), 'ru-out out-' + outcome);
  b.dataset.outcome = outcome;
  return b;
}
function ruEmpty(ic, text, sub) {
  const e = el('div', 'ru-empty');
  e.append(icon(ic, 'big'), el('p', '', text));
  if (sub) e.append(el('p', 'muted', sub));
  return e;
}

/* ---------- the page skeleton (once per sign-in) ---------- */
function ruBuild() {
  const page = $('#ru-page');
  const head = el('div', 'page-head ru-head');
  const hd = el('div');
  const h2 = el('h2', '', 'Rules ');
  h2.append(el('span', 'zh', '自动化规则'));
  hd.append(h2, el('p', 'muted', 'When something happens, if its record meets the conditions, the actions run in order. The built-in ' +
    'behaviours — lead assignment, the mature-deal reminder, the lifecycle following deals, the no-follow-up reminder — are rules too: ' +
    'edit them, switch them off or copy them. 当事件发生且条件满足时，按顺序执行动作；内置行为同样可以编辑、停用或复制。'));
  const side = el('div', 'ru-head-side');
  const sum = el('div', 'ru-summary'); sum.id = 'ru-summary';
  const nb = button('New rule 新建规则', 'primary ru-new', () => ruGuard(() => ruOpen(null)), 'ruPlus');
  nb.id = 'ru-new';
  side.append(sum, nb);
  head.append(hd, side);
  const split = el('div', 'ru-split');
  const listCard = el('aside', 'card ru-list-card');
  listCard.setAttribute('aria-label', 'rules');
  const list = el('div', 'ru-list'); list.id = 'ru-list'; list.dataset.state = 'loading';
  listCard.append(list);
  const ed = el('div', 'ru-editor'); ed.id = 'ru-editor'; ed.dataset.state = 'loading';
  ed.append(el('p', 'muted ru-loading', 'Loading… 加载中'));
  split.append(listCard, ed);
  page.replaceChildren(head, split);
  ru.built = true;
}

/* ---------- loading ---------- */
async function loadRules(id) {
  if (!ru.built) ruBuild();
  const page = $('#ru-page');
  if (!ru.rules) { page.dataset.state = 'loading'; ruRenderList(); }
  ruLoadRefs();
  const ok = await ruLoadList();
  page.dataset.state = ok ? 'ready' : 'error';
  if (state.view !== 'rules') return;
  if (id) {
    if (ru.draft && ru.draft.id === id) { if (!$('#ru-designer')) ruRenderEditor(); return; }
    const r = ok && ru.rules.find((x) => x.id === id);
    if (r) ruOpen(r, { noNav: true });
    else {
      if (ok) toast('No such rule · 规则不存在', 'bad');
      ru.draft = null;
      ruRenderEditor();
    }
    return;
  }
  // the tab itself: an unsaved draft stays; otherwise the list with nothing open
  if (!(ru.draft && (ru.dirty || !ru.draft.id))) { ru.draft = null; ru.saved = null; }
  ruRenderEditor();
}
async function ruLoadList(quiet) {
  const seq = ++ru.listSeq;
  if (!quiet && !ru.rules) $('#ru-list').dataset.state = 'loading';
  try {
    const r = await api('GET', '/api/v1/rules');
    if (seq !== ru.listSeq) return true;
    ru.rules = r.items || [];
    ru.listError = '';
  } catch (e) {
    if (seq !== ru.listSeq) return false;
    ru.listError = errText(e) + (e.status === 404 ? ' (the rules API is not there: is the server up to date?)' : '');
    if (!quiet) ru.rules = null;
    ruRenderList();
    return false;
  }
  ruRenderList();
  return true;
}
// the agents, webhooks and sequences the actions offer (each fails soft: a number input instead)
async function ruLoadRefs(force) {
  if (!force && ru.refsAt && Date.now() - ru.refsAt < 60000) return;
  ru.refsAt = Date.now();
  const soft = (p) => p.catch(() => null);
  const [ag, wh, sq, tp] = await Promise.all([
    soft(api('GET', '/api/v1/agents?per_page=200')), soft(api('GET', '/api/v1/webhooks')), soft(api('GET', '/api/v1/sequences')),
    soft(api('GET', '/api/v1/templates')), soft(ensureFieldDefs()),
  ]);
  ru.agents = ag ? ag.items : null;
  ru.webhooks = wh ? wh.items : null;
  ru.sequences = sq ? sq.items : null;
  ru.templates = tp ? tp.items : null;
  if ($('#ru-actions') && !ru.saving) ruRenderActions();
  if ($('#ru-builder')) ruRenderBuilder();
}

/* ---------- the list, grouped by trigger ---------- */
function ruRenderList() {
  const box = $('#ru-list');
  if (!box) return;
  if (!ru.rules) {
    if (ru.listError) {
      box.dataset.state = 'error';
      const e = el('div', 'ru-list-error');
      e.setAttribute('role', 'alert');
      e.append(icon('alert'), el('p', '', 'Could not load the rules 规则加载失败'), el('p', 'muted ru-why', ru.listError));
      const again = button('Try again 重试', 'small', () => { ru.listError = ''; ruRenderList(); ruLoadList(); }, 'ruRefresh');
      again.id = 'ru-retry';
      e.append(again);
      box.replaceChildren(e);
    } else {
      box.dataset.state = 'loading';
      const sk = el('div', 'ru-skeleton');
      sk.setAttribute('aria-label', 'loading');
      for (let i = 0; i < 5; i++) sk.append(el('div', 'ru-sk-row'));
      box.replaceChildren(el('p', 'muted ru-loading', 'Loading rules… 加载中'), sk);
    }
    ruRenderSummary();
    return;
  }
  const groups = new Map();
  for (const key of RU_TRIGGERS.keys()) groups.set(key, []);
  for (const r of ru.rules) {
    if (!groups.has(r.trigger)) groups.set(r.trigger, []);
    groups.get(r.trigger).push(r);
  }
  const parts = [];
  if (ru.listError) {
    const w = el('p', 'ru-list-warn', 'Could not refresh: ' + ru.listError);
    w.setAttribute('role', 'alert');
    parts.push(w);
  }
  for (const [trig, list] of groups) {
    if (!list.length) continue;
    list.sort((a, b) => (a.position || 0) - (b.position || 0) || a.id - b.id);
    const t = ruTrigger(trig);
    const g = el('section', 'ru-group');
    g.dataset.trigger = trig;
    const gh = el('h3', 'ru-group-h');
    gh.append(el('span', 'ru-gname', t.en + ' '), el('span', 'zh', t.zh), el('span', 'ru-gcount', String(list.length)));
    gh.title = trig + (t.kind ? ' · the record: ' + ruKindLabel(t.kind) : '');
    const ul = el('ul', 'ru-items');
    for (const r of list) ul.append(ruItem(r));
    g.append(gh, ul);
    parts.push(g);
  }
  if (!ru.rules.length) parts.push(ruEmpty('ruBolt', 'No rules yet.', 'Create one with “New rule”. 暂无规则'));
  box.replaceChildren(...parts);
  box.dataset.state = 'ready';
  ruRenderSummary();
}
function ruItem(r) {
  const li = el('li', 'ru-item' + (r.enabled ? '' : ' off') + (r.system_key ? ' seed' : '') + (ru.draft && ru.draft.id === r.id ? ' sel' : ''));
  li.dataset.id = String(r.id);
  li.dataset.enabled = String(!!r.enabled);
  if (r.system_key) li.dataset.systemKey = r.system_key;
  const main = el('button', 'ru-item-main');
  main.type = 'button';
  if (ru.draft && ru.draft.id === r.id) main.setAttribute('aria-current', 'true');
  const l1 = el('span', 'ru-item-l1');
  l1.append(el('span', 'ru-item-name', r.name));
  const l2 = el('span', 'ru-item-l2');
  if (r.system_key) {
    const s = badge('Built-in 内置', 'ru-seed');
    s.prepend(icon('ruSeed'));
    s.title = 'A built-in behaviour (' + r.system_key + '): edit it, switch it off or copy it';
    l2.append(s);
  }
  // fired counts the firings that did their work (done, held); a failed or stopped one still has a time
  const fired = el('span', 'ru-fired', r.fired ? plural(r.fired, 'run') : r.last_fired_at ? 'nothing done yet' : 'never ran');
  fired.dataset.fired = String(r.fired || 0);
  l2.append(fired);
  if (r.last_fired_at) {
    const lf = el('span', 'ru-last', 'last ' + ruAgo(r.last_fired_at));
    lf.title = 'Last fired ' + fullTime(r.last_fired_at);
    l2.append(el('span', 'ru-dot', '·'), lf);
  }
  l2.append(el('span', 'ru-dot', '·'), el('span', 'ru-ver', 'v' + (r.version || 1)));
  main.append(l1, l2);
  main.title = (r.description || r.name) + (r.conditions ? '\nIf: ' + r.conditions : '');
  main.addEventListener('click', () => {
    if (ru.draft && ru.draft.id === r.id) return;
    ruGuard(() => ruOpen(r));
  });
  const sw = ruSwitch(!!r.enabled, 'ru-switch', 'Enabled: ' + r.name, () => ruToggle(r));
  sw.disabled = ru.busy.has(r.id);
  li.append(main, sw);
  return li;
}
function ruSwitch(on, cls, label, onClick) {
  const b = el('button', 'ru-sw ' + (cls || '') + (on ? ' on' : ''));
  b.type = 'button';
  b.setAttribute('role', 'switch');
  b.setAttribute('aria-checked', String(on));
  b.setAttribute('aria-label', label);
  b.title = on ? 'On — click to switch off · 已启用' : 'Off — click to switch on · 已停用';
  b.append(el('span', 'ru-sw-knob'));
  if (onClick) b.addEventListener('click', onClick);
  return b;
}
function ruRenderSummary() {
  const box = $('#ru-summary');
  if (!box) return;
  if (!ru.rules) { box.replaceChildren(); return; }
  const on = ru.rules.filter((r) => r.enabled).length;
  const c1 = el('span', 'ru-chip', plural(ru.rules.length, 'rule'));
  const c2 = el('span', 'ru-chip on', on + ' on 启用');
  box.replaceChildren(c1, c2);
}
async function ruToggle(r) {
  if (ru.busy.has(r.id)) return;
  ru.busy.add(r.id);
  ruRenderList();
  const want = !r.enabled;
  try {
    const fresh = await api('PATCH', '/api/v1/rules/' + r.id, { enabled: want });
    const i = ru.rules.findIndex((x) => x.id === r.id);
    if (i >= 0 && fresh && fresh.id) ru.rules[i] = fresh;
    else if (i >= 0) ru.rules[i] = { ...r, enabled: want };
    toast((want ? 'Switched on 已启用: ' : 'Switched off 已停用: ') + r.name, 'good');
    // the open rule follows (its other unsaved edits stay)
    if (ru.draft && ru.draft.id === r.id) {
      const cur = ru.rules[i] || r;
      ru.saved = ruClone(cur);
      ru.draft.enabled = !!cur.enabled;
      ru.draft.version = cur.version;
      const en = $('#ru-enabled');
      if (en) en.checked = ru.draft.enabled;
      ruRenderDesignerBadges();
      ruLoadVersions();
    }
  } catch (e) {
    toast(errText(e), 'bad');
  } finally {
    ru.busy.delete(r.id);
    ruRenderList();
  }
}

/* ---------- opening a rule ---------- */
function ruNewDraft() {
  return { id: 0, name: '', description: '', trigger: 'customer.created', schedule_record: null, conditions: '', actions: [],
    enabled: false, position: '', version: 0, system_key: null };
}
// unsaved changes: ask first (inline, in the designer)
function ruGuard(next) {
  if (!ru.dirty || !$('#ru-designer')) { next(); return; }
  const slot = $('#ru-leave-slot');
  const bar = el('div', 'ru-leave');
  bar.setAttribute('role', 'alert');
  bar.append(icon('alert'), el('span', 'ru-leave-t', 'This rule has unsaved changes. 有未保存的修改。'));
  const keep = button('Keep editing 继续编辑', 'small', () => slot.replaceChildren());
  const drop = button('Discard changes 放弃修改', 'small danger-solid ru-discard', () => { ru.dirty = false; slot.replaceChildren(); next(); });
  drop.id = 'ru-discard';
  bar.append(el('span', 'spacer'), keep, drop);
  slot.replaceChildren(bar);
  bar.scrollIntoView({ block: 'nearest' });
  keep.focus();
}
function ruOpen(r, opts = {}) {
  ru.saved = r ? ruClone(r) : null;
  const d = r ? ruClone(r) : ruNewDraft();
  if (d.description === null || d.description === undefined) d.description = '';
  if (!Array.isArray(d.actions)) d.actions = [];
  if (d.conditions === null || d.conditions === undefined) d.conditions = '';
  if (d.position === null || d.position === undefined) d.position = '';
  ru.draft = d;
  ru.cond = ruParseCond(d.conditions);
  ru.dirty = false;
  ru.test.result = null; ru.test.error = ''; ru.test.loading = false; ru.test.seq++;
  ru.ver = { items: null, error: '', loading: false, seq: ru.ver.seq + 1 };
  ru.fire = { items: null, total: 0, page: 1, error: '', loading: false, seq: ru.fire.seq + 1 };
  if (!opts.noNav) {
    if (r && state.viewArg !== r.id) showView('rules', r.id);
    else if (!r && state.viewArg) showView('rules');
  }
  ruRenderList();
  ruRenderEditor();
  if (r) { ruLoadVersions(); ruLoadFirings(1); }
  if (!r) { const n = $('#ru-name'); if (n) n.focus(); }
}
function ruMarkDirty() {
  if (!ru.dirty) {
    ru.dirty = true;
  }
  const dz = $('#ru-designer');
  if (dz && dz.dataset.state !== 'saving') dz.dataset.state = 'dirty';
  const s = $('#ru-save-state');
  if (s) { s.textContent = 'Unsaved changes 未保存'; s.classList.remove('ok'); }
}

/* ---------- the editor: designer, test, history, firings ---------- */
function ruRenderEditor() {
  const ed = $('#ru-editor');
  if (!ed) return;
  const d = ru.draft;
  if (!d) {
    ed.dataset.state = 'empty';
    delete ed.dataset.ruleId;
    const e = el('section', 'card ru-card ru-none');
    e.append(ruEmpty('ruBolt', 'Pick a rule on the left to see and edit it, or make a new one.',
      'Test a draft against a real record before you switch it on. 选择左侧规则进行编辑，或新建规则。'));
    const nb = button('New rule 新建规则', 'primary', () => ruOpen(null), 'ruPlus');
    e.append(nb);
    ed.replaceChildren(e);
    return;
  }
  ed.dataset.state = d.id ? 'edit' : 'new';
  if (d.id) ed.dataset.ruleId = String(d.id); else delete ed.dataset.ruleId;
  const grid = el('div', 'ru-grid');
  const side = el('div', 'ru-side');
  side.append(ruTestCard());
  if (d.id) side.append(ruHistoryCard());
  grid.append(ruDesigner(), side);
  const parts = [grid];
  if (d.id) parts.push(ruFiringsCard());
  ed.replaceChildren(...parts);
  ruTriggerChanged(true);
  ruRenderDesignerBadges();
  ruPaintCondError(null);
  ruRenderTestLabel();
  ruRenderBuilder();
  ruRenderActions();
  ruRenderTest();
  if (d.id) { ruRenderVersions(); ruRenderFirings(); }
}

function ruDesigner() {
  const d = ru.draft;
  const card = el('section', 'card ru-card ru-designer');
  card.id = 'ru-designer';
  card.dataset.state = ru.dirty ? 'dirty' : 'idle';
  card.setAttribute('aria-label', 'rule designer');
  const slot = el('div', 'ru-leave-slot'); slot.id = 'ru-leave-slot';

  // the head: name, badges
  const head = el('div', 'ru-d-head');
  const name = el('input', 'ru-name');
  name.id = 'ru-name'; name.maxLength = 200; name.autocomplete = 'off'; name.value = d.name;
  name.placeholder = 'Rule name 规则名称, e.g. 华东新客户打标签';
  name.setAttribute('aria-label', 'rule name');
  name.addEventListener('input', () => { d.name = name.value; ruMarkDirty(); });
  const nameF = el('div', 'field ru-name-f');
  const ne = el('span', 'field-error'); ne.dataset.for = 'name';
  nameF.append(name, ne);
  const badges = el('div', 'ru-d-badges'); badges.id = 'ru-d-badges';
  head.append(nameF, badges);

  const desc = el('textarea', 'ru-desc');
  desc.id = 'ru-desc'; desc.rows = 2; desc.maxLength = 2000; desc.value = d.description || '';
  desc.placeholder = 'What it is for, for whoever reads it next 用途说明（可选）';
  desc.addEventListener('input', () => { d.description = desc.value; ruMarkDirty(); });
  const descF = ruField(['Description', '说明'], desc, 'description');

  // 1 When
  const when = el('fieldset', 'ru-sec ru-when');
  when.append(ruLegend('1', 'When', '触发', 'what starts it'));
  const trig = el('select', 'ru-trigger');
  trig.id = 'ru-trigger';
  for (const [gen, gzh, list] of RU_TRIGGER_GROUPS) {
    const g = el('optgroup'); g.label = gen + ' ' + gzh;
    for (const [key, en, zh] of list) g.append(opt(key, en + ' ' + zh + '  ·  ' + key, key === d.trigger));
    trig.append(g);
  }
  if (!RU_TRIGGERS.has(d.trigger)) trig.prepend(opt(d.trigger, d.trigger, true));
  const srec = ruSelect([['customer', 'Customers 客户'], ['deal', 'Deals 商机']], d.schedule_record || 'customer', 'ru-srec');
  srec.id = 'ru-schedule-record';
  const pos = el('input', 'ru-pos');
  pos.id = 'ru-position'; pos.type = 'number'; pos.step = '1'; pos.value = d.position === '' ? '' : String(d.position);
  pos.placeholder = '0';
  pos.addEventListener('input', () => { d.position = pos.value; ruMarkDirty(); });
  const fTrig = ruField(['Trigger', '触发事件'], trig, 'trigger', null, 'ru-f-trigger');
  const fRec = ruField(['Looks at', '检查对象'], srec, 'schedule_record', null, 'ru-f-srec');
  fRec.id = 'ru-srec-field';
  const fPos = ruField(['Order', '顺序'], pos, 'position', 'lower runs first', 'ru-f-pos');
  const row = el('div', 'ru-when-row');
  row.append(fTrig, fRec, fPos);
  const hint = el('p', 'ru-trigger-hint'); hint.id = 'ru-trigger-hint';
  when.append(row, hint);
  const onTrigger = () => {
    d.trigger = trig.value;
    if (d.trigger === 'schedule' && !d.schedule_record) d.schedule_record = srec.value || 'customer';
    ruMarkDirty();
    ruTriggerChanged();
  };
  trig.addEventListener('change', onTrigger);
  srec.addEventListener('change', () => { d.schedule_record = srec.value; ruMarkDirty(); ruTriggerChanged(); });

  // 2 If
  const cond = el('fieldset', 'ru-sec ru-if');
  cond.append(ruLegend('2', 'If', '条件', 'the record must match; empty: always'));
  const builder = el('div', 'ru-builder'); builder.id = 'ru-builder';
  const tl = el('label', 'field ru-cond-field');
  const tlh = el('span', 'ru-label', 'Condition text ');
  tlh.append(el('span', 'zh', '条件文本'), el('span', 'hint', ' — written by the builder; edit it by hand for groups, NOT and more'));
  const wrap = el('div', 'rule-wrap ru-rule-wrap');
  const back = el('div', 'rule-backdrop'); back.setAttribute('aria-hidden', 'true'); back.id = 'ru-cond-backdrop';
  const ta = el('textarea', 'rule-text ru-cond-text');
  ta.id = 'ru-cond-text'; ta.rows = 2; ta.spellcheck = false; ta.value = d.conditions; ta.maxLength = 4000;
  ta.setAttribute('autocomplete', 'off');
  ta.placeholder = 'e.g. region = 华东 AND tag:VIP';
  ta.addEventListener('input', () => {
    d.conditions = ta.value;
    ru.cond = ruParseCond(ta.value, ru.cond && ru.cond.op);
    ruMarkDirty();
    ruPaintCondError(null);
    ruRenderBuilder();
  });
  ta.addEventListener('scroll', () => { back.scrollTop = ta.scrollTop; });
  wrap.append(back, ta);
  const ce = el('span', 'field-error ru-cond-error'); ce.id = 'ru-cond-error'; ce.dataset.for = 'conditions';
  ce.setAttribute('role', 'alert');
  tl.append(tlh, wrap, ce);
  cond.append(builder, tl);

  // 3 Then
  const then = el('fieldset', 'ru-sec ru-then');
  then.append(ruLegend('3', 'Then', '动作', 'in this order; one that does not apply is skipped'));
  const ol = el('ol', 'ru-actions'); ol.id = 'ru-actions';
  const add = el('div', 'ru-add');
  const addSel = el('select', 'ru-add-type'); addSel.id = 'ru-add-type';
  addSel.setAttribute('aria-label', 'action to add');
  const addBtn = button('Add action 添加动作', 'small ru-add-btn', () => ruAddAction(addSel.value), 'ruPlus');
  addBtn.id = 'ru-add-action';
  const ae = el('span', 'field-error'); ae.dataset.for = 'actions';
  add.append(addSel, addBtn);
  then.append(ol, add, ae);

  // foot: enabled, errors, buttons
  const foot = el('div', 'ru-d-foot');
  const enl = el('label', 'ru-enabled');
  const en = el('input'); en.type = 'checkbox'; en.id = 'ru-enabled'; en.checked = !!d.enabled; en.setAttribute('role', 'switch');
  en.addEventListener('change', () => { d.enabled = en.checked; ruMarkDirty(); });
  enl.append(en, el('span', 'ru-en-track'), el('span', 'ru-en-t', 'Enabled 启用'));
  const enHint = el('span', 'hint ru-en-hint', d.id ? '' : 'a new rule starts switched off: test it first');
  const err = el('p', 'error ru-error'); err.id = 'ru-error'; err.setAttribute('role', 'alert');
  const saveState = el('span', 'ru-save-state'); saveState.id = 'ru-save-state';
  saveState.textContent = ru.dirty ? 'Unsaved changes 未保存' : '';
  const acts = el('div', 'ru-d-acts'); acts.id = 'ru-d-acts';
  if (d.id) {
    const dup = button('Copy 复制', 'ghost small ru-dup', ruDuplicate, 'ruCopy');
    dup.id = 'ru-duplicate';
    dup.title = 'A new, switched-off rule with the same content';
    const del = button('Delete 删除', 'ghost small danger ru-del', () => ruConfirmDelete(acts), 'ruTrash');
    del.id = 'ru-delete';
    acts.append(dup, del);
  }
  const save = button(d.id ? 'Save changes 保存' : 'Create rule 创建规则', 'primary ru-save', ruSave, 'ruCheck');
  save.id = 'ru-save';
  save.title = 'Ctrl+S';
  acts.append(save);
  const fl = el('div', 'ru-foot-l');
  fl.append(enl, enHint);
  foot.append(fl, el('span', 'spacer'), saveState, acts);

  card.append(slot, head, descF, when, cond, then, err, foot);
  card.addEventListener('keydown', (e) => {
    if ((e.ctrlKey || e.metaKey) && (e.key === 's' || e.key === 'S')) { e.preventDefault(); ruSave(); }
  });
  return card;
}
function ruLegend(n, en, zh, hint) {
  const lg = el('legend', 'ru-legend');
  lg.append(el('span', 'ru-step', n), el('span', 'ru-lg-en', en + ' '), el('span', 'zh', zh));
  if (hint) lg.append(el('span', 'ru-lg-hint', hint));
  return lg;
}
function ruRenderDesignerBadges() {
  const box = $('#ru-d-badges');
  if (!box || !ru.draft) return;
  const d = ru.draft, parts = [];
  if (d.system_key) {
    const s = badge('Built-in 内置', 'ru-seed');
    s.prepend(icon('ruSeed'));
    s.title = 'system_key ' + d.system_key;
    parts.push(s);
  }
  if (d.id) {
    const v = badge('Version ' + (d.version || 1), 'ru-vbadge');
    v.id = 'ru-version';
    parts.push(v);
    const on = ru.saved && ru.saved.enabled;
    parts.push(badge(on ? 'On 已启用' : 'Off 已停用', 'ru-onoff ' + (on ? 'on' : 'off')));
  } else parts.push(badge('New — not saved 新规则', 'ru-vbadge new'));
  box.replaceChildren(...parts);
}
// the trigger (or the schedule's record) changed: what the rule looks at, the fields and actions offered
function ruTriggerChanged(first) {
  const d = ru.draft;
  if (!d) return;
  const t = ruTrigger(d.trigger);
  const kind = ruKindOf(d);
  const f = $('#ru-srec-field');
  if (f) f.hidden = d.trigger !== 'schedule';
  const hint = $('#ru-trigger-hint');
  if (hint) {
    hint.replaceChildren();
    hint.append(icon('info'), el('span', '', 'Fires when ' + t.what + '. '), el('span', 'ru-kind-chip', 'The record: ' + ruKindLabel(kind)));
    if (RU_GATES.includes(d.trigger)) hint.append(el('span', 'ru-gate-chip', 'Gate 闸门: may hold the change for approval'));
  }
  if (!first) { ruRenderBuilder(); ruRenderActions(); ruRenderTestLabel(); }
}

/* ---------- conditions: the builder and the text ---------- */
function ruFieldGroups(d) {
  const kind = ruKindOf(d);
  const groups = [];
  if (kind === 'campaign') return [RU_RECORD_FIELDS.campaign];
  if (d.trigger === 'tag.added') groups.push(RU_EVENT_FIELDS);
  if (RU_RECORD_FIELDS[kind]) groups.push(RU_RECORD_FIELDS[kind]);
  groups.push(RU_CUSTOMER_FIELDS);
  const defs = (typeof crm === 'object' && crm.fieldDefs) || [];
  if (defs.length) {
    groups.push(['Custom fields 自定义字段', defs.map((x) => ['attr.' + x.key, x.label + ' (' + x.key + ')',
      x.type === 'number' ? 'number' : x.type === 'date' ? 'date' : 'text'])]);
  }
  return groups;
}
function ruFieldInfo(field) {
  for (const [, list] of [...Object.values(RU_RECORD_FIELDS), RU_EVENT_FIELDS, RU_CUSTOMER_FIELDS]) {
    for (const [k, label, type] of list) if (k === field) return { label, type };
  }
  if (field.startsWith('attr.')) {
    const x = ((typeof crm === 'object' && crm.fieldDefs) || []).find((y) => y.key === field.slice(5));
    if (x) return { label: x.label + ' (' + x.key + ')', type: x.type === 'number' ? 'number' : x.type === 'date' ? 'date' : 'text' };
    return { label: field, type: 'text' };
  }
  if (/(_id|_days|amount|probability|audience)$/.test(field) || /^tickets\./.test(field)) return { label: field, type: 'number' };
  return { label: field, type: 'text' };
}
// a field of another record kind than the rule's (the server refuses it: a 422 naming conditions)
function ruForeignField(field, d) {
  const m = /^(lead|deal|ticket|campaign|event)\./.exec(field);
  const kind = ruKindOf(d);
  if (!m) return kind === 'campaign' && !field.startsWith('campaign.');
  if (m[1] === 'event') return d.trigger !== 'tag.added';
  return m[1] !== kind;
}
// the text as builder rows: {op, rows, ok, why}; rows only when it is a flat AND / OR list
function ruParseCond(text, prevOp) {
  const src = String(text || '');
  if (!src.trim()) return { op: prevOp || 'AND', rows: [], ok: true, why: '' };
  let tree;
  try { tree = parseRule(src); } catch (e) {
    return { op: prevOp || 'AND', rows: [], ok: false, why: 'it does not read yet: at ' + (e.pos + 1) + ', ' + e.message };
  }
  const flat = tree.t === 'group' && !tree.not && tree.items.every((n) => n.t === 'cond' && !n.not);
  if (!flat) return { op: tree.op || prevOp || 'AND', rows: [], ok: false, why: 'it uses groups ( ) or NOT' };
  const rows = tree.items.map((n) => ({ field: n.field, op: n.op || '=', value: n.value || '' }));
  return { op: tree.items.length > 1 ? tree.op : prevOp || 'AND', rows, ok: true, why: '' };
}
function ruRowComplete(r) { return ruFieldInfo(r.field).type === 'has' || String(r.value).trim() !== ''; }
function ruRowText(r) {
  const type = ruFieldInfo(r.field).type;
  const v = String(r.value).trim();
  if (type === 'has') return r.field;
  if (type === 'tag' || type === 'stage') return r.field + ':' + ruleValue(v);
  return r.field + ' ' + r.op + ' ' + ruleValue(v);
}
function ruCondText() {
  return ru.cond.rows.filter(ruRowComplete).map(ruRowText).join(' ' + ru.cond.op + ' ');
}
// the builder changed: new text (and, with redraw, new rows)
function ruSyncFromBuilder(redraw) {
  const d = ru.draft;
  d.conditions = ruCondText();
  const ta = $('#ru-cond-text');
  if (ta) ta.value = d.conditions;
  ruMarkDirty();
  ruPaintCondError(null);
  if (redraw) ruRenderBuilder();
}
function ruRenderBuilder(focusRow) {
  const box = $('#ru-builder');
  const d = ru.draft;
  if (!box || !d) return;
  const c = ru.cond;
  // the control that has the focus gets it back after the redraw (a late list of fields, a new row)
  const act = document.activeElement;
  const had = act && box.contains(act) && act.closest('.ru-cond')
    ? { i: act.closest('.ru-cond').dataset.index, cls: ['ru-cf', 'ru-co', 'ru-cv', 'ru-rm'].find((x) => act.classList.contains(x)) } : null;
  const parts = [];
  if (!c.ok) {
    const n = el('div', 'ru-b-note');
    n.append(icon('info'), el('span', '', 'The builder cannot show this text (' + c.why + '); the text below is what will be saved. '));
    const over = button('Start the builder over', 'link', () => {
      ru.cond = { op: 'AND', rows: [ruNewRow()], ok: true, why: '' };
      ruSyncFromBuilder(true);
    });
    over.id = 'ru-builder-reset';
    n.append(over);
    parts.push(n);
    box.replaceChildren(...parts);
    box.dataset.mode = 'text';
    return;
  }
  box.dataset.mode = 'rows';
  const bar = el('div', 'ru-b-bar');
  const seg = el('div', 'seg-andor ru-andor'); seg.setAttribute('role', 'group'); seg.setAttribute('aria-label', 'combine conditions with');
  for (const op of ['AND', 'OR']) {
    const b = button(op === 'AND' ? 'AND all of 全部满足' : 'OR any of 任一满足', 'seg-op-btn' + (c.op === op ? ' on' : ''), () => {
      c.op = op; ruSyncFromBuilder(true);
    });
    b.dataset.op = op;
    b.setAttribute('aria-pressed', String(c.op === op));
    seg.append(b);
  }
  bar.append(seg);
  if (c.rows.length < 2) seg.hidden = true;
  parts.push(bar);
  const list = el('div', 'ru-conds');
  c.rows.forEach((r, i) => {
    if (i) list.append(el('div', 'seg-join ru-join', c.op));
    list.append(ruCondRow(r, i));
  });
  if (!c.rows.length) list.append(el('p', 'muted ru-b-empty', 'No conditions: the rule applies to every ' + RU_KIND[ruKindOf(d)][0].toLowerCase() + '. 无条件：对所有记录生效'));
  parts.push(list);
  const add = button('Condition 条件', 'small ru-add-cond', () => {
    c.rows.push(ruNewRow());
    ruSyncFromBuilder(false);
    ruRenderBuilder(c.rows.length - 1);
  }, 'ruPlus');
  add.id = 'ru-add-cond';
  parts.push(add);
  box.replaceChildren(...parts);
  if (focusRow !== undefined) {
    const r = $(`.ru-cond[data-index="${focusRow}"] .ru-cf`, box);
    if (r) r.focus();
  } else if (had && had.cls) {
    const r = $(`.ru-cond[data-index="${had.i}"] .${had.cls}`, box);
    if (r) r.focus();
  }
}
function ruNewRow() {
  const g = ruFieldGroups(ru.draft);
  const first = g[0][1][0];
  return { field: first[0], op: '=', value: '' };
}
function ruCondRow(r, i) {
  const d = ru.draft;
  const row = el('div', 'ru-cond' + (ruRowComplete(r) ? '' : ' incomplete'));
  row.dataset.index = String(i);
  const info = ruFieldInfo(r.field);
  const fsel = el('select', 'ru-cf');
  fsel.setAttribute('aria-label', 'field ' + (i + 1));
  let found = false;
  for (const [label, list] of ruFieldGroups(d)) {
    const g = el('optgroup'); g.label = label;
    for (const [k, name] of list) { g.append(opt(k, name, k === r.field)); if (k === r.field) found = true; }
    fsel.append(g);
  }
  if (!found) fsel.prepend(opt(r.field, r.field + (ruForeignField(r.field, d) ? ' — not for this trigger' : ''), true));
  fsel.addEventListener('change', () => {
    const before = ruFieldInfo(r.field).type;
    r.field = fsel.value;
    const now = ruFieldInfo(r.field).type;
    if (now !== before) { r.value = ''; r.op = '='; }
    if (RU_OPS[now] && !RU_OPS[now].includes(r.op)) r.op = '=';
    ruSyncFromBuilder(false);
    ruRenderBuilder();
    const again = $(`#ru-builder .ru-cond[data-index="${i}"] .ru-cf`);
    if (again) again.focus();
  });
  row.append(fsel);
  if (RU_OPS[info.type]) {
    const osel = ruSelect(RU_OPS[info.type].map((o) => [o, RU_OP_LABEL[o]]), r.op, 'ru-co');
    osel.setAttribute('aria-label', 'operator ' + (i + 1));
    osel.addEventListener('change', () => { r.op = osel.value; ruSyncFromBuilder(false); });
    row.append(osel);
  } else row.append(el('span', 'ru-is muted', info.type === 'has' ? '' : 'is 是'));
  let v;
  if (info.type === 'has') v = el('span', 'ru-cv-none');
  else if (info.type === 'stage' || info.type === 'enum') {
    const opts = info.type === 'stage' ? [...LIFECYCLE, CHURNED].map(([k, en, zh]) => [k, en + ' ' + zh])
      : (RU_ENUM[r.field] || []).map((x) => (Array.isArray(x) ? x : [x, x]));
    v = ruSelect([['', '— choose —'], ...opts], r.value, 'ru-cv');
    v.addEventListener('change', () => { r.value = v.value; row.classList.toggle('incomplete', !ruRowComplete(r)); ruSyncFromBuilder(false); });
  } else {
    v = el('input', 'ru-cv');
    v.value = r.value;
    v.autocomplete = 'off';
    v.placeholder = info.type === 'tag' ? 'tag name, e.g. VIP' : info.type === 'number' ? 'number 数字' : info.type === 'date' ? 'YYYY-MM-DD, today, today-30' : 'value 值';
    if (info.type === 'number') v.inputMode = 'decimal';
    v.addEventListener('input', () => { r.value = v.value; row.classList.toggle('incomplete', !ruRowComplete(r)); ruSyncFromBuilder(false); });
  }
  if (v.tagName) v.setAttribute('aria-label', 'value ' + (i + 1));
  row.append(v);
  const rm = button('', 'ghost ru-rm', () => {
    ru.cond.rows.splice(i, 1);
    ruSyncFromBuilder(true);
    const next = $$('#ru-builder .ru-cf')[Math.min(i, ru.cond.rows.length - 1)];
    (next || $('#ru-add-cond')).focus();
  }, 'ruX');
  rm.setAttribute('aria-label', 'remove condition ' + (i + 1));
  rm.title = 'Remove this condition 删除';
  row.append(rm);
  if (ruForeignField(r.field, d)) {
    row.classList.add('foreign');
    row.title = r.field + ' is not a field of a ' + RU_KIND[ruKindOf(d)][0].toLowerCase() + ' rule: the server will refuse it';
  }
  return row;
}
// the server's "at POS: reason" marked in the text (POS counts UTF-8 bytes)
function ruPaintCondError(at) {
  const ta = $('#ru-cond-text'), back = $('#ru-cond-backdrop');
  if (!ta || !back) return;
  const text = ta.value;
  back.replaceChildren();
  ta.classList.toggle('has-error', !!at);
  if (!at) {
    ta.removeAttribute('data-error-pos');
    ta.removeAttribute('aria-invalid');
    back.append(document.createTextNode(text + '\n'));
    return;
  }
  let end = at.pos;
  while (end < text.length && !/\s/.test(text[end])) end++;
  if (end === at.pos && end < text.length) end++;
  const mark = el('mark', 'rule-err', end > at.pos ? text.slice(at.pos, end) : ' ');
  back.append(document.createTextNode(text.slice(0, at.pos)), mark, document.createTextNode(text.slice(end) + '\n'));
  ta.dataset.errorPos = String(at.pos);
  ta.setAttribute('aria-invalid', 'true');
  back.scrollTop = ta.scrollTop;
}

/* ---------- actions ---------- */
function ruActionOffer(type, d) {
  const a = RU_ACTION[type];
  if (!a) return false;
  if (a.only === 'gate') return RU_GATES.includes(d.trigger);
  if (Array.isArray(a.only)) return a.only.includes(ruKindOf(d));
  return true;
}
function ruActionDefaults(type) {
  switch (type) {
    case 'tag': case 'untag': return { type, tag: '' };
    case 'set_field': return { type, field: 'grade', value: '' };
    case 'assign_owner': return { type, strategy: 'region_least_busy', only_unowned: true };
    case 'notify': return { type, to: 'owner', message: '' };
    case 'create_task': return { type, title: '', due_days: 1, assignee: 'owner' };
    case 'raise_priority': return { type, priority: 'high' };
    case 'enrol_sequence': return { type };
    case 'send_template': return { type };
    case 'call_webhook': return { type };
    case 'request_approval': return { type, role: 'manager', summary: '' };
    default: return { type };
  }
}
function ruAddAction(type) {
  if (!type || !RU_ACTION[type]) return;
  ru.draft.actions.push(ruActionDefaults(type));
  ruMarkDirty();
  const i = ru.draft.actions.length - 1;
  ruRenderActions();
  const first = $(`.ru-action[data-index="${i}"] [data-param]`) || $(`.ru-action[data-index="${i}"] .ru-a-type`);
  if (first) first.focus();
}
function ruRenderActions(focus) {
  const ol = $('#ru-actions');
  const d = ru.draft;
  if (!ol || !d) return;
  const active = document.activeElement;
  const keep = focus || (active && ol.contains(active) && active.closest('.ru-action')
    ? { index: active.closest('.ru-action').dataset.index, param: active.dataset.param || null, cls: active.dataset.param ? null : [...active.classList].find((c) => c.startsWith('ru-a-')) }
    : null);
  const items = d.actions.map((a, i) => ruActionEl(a, i));
  if (!d.actions.length) {
    const e = el('li', 'ru-a-empty muted', 'No actions yet: add what should happen below. 暂无动作');
    items.push(e);
  }
  ol.replaceChildren(...items);
  // the add menu: the actions this trigger may use
  const sel = $('#ru-add-type');
  if (sel) {
    const was = sel.value;
    sel.replaceChildren();
    for (const [t, en, zh, what] of RU_ACTIONS) {
      if (!ruActionOffer(t, d)) continue;
      sel.append(opt(t, en + ' ' + zh + ' — ' + what, t === was));
    }
  }
  if (keep) {
    const li = $(`.ru-action[data-index="${keep.index}"]`, ol);
    const t = li && (keep.param ? $(`[data-param="${CSS.escape(keep.param)}"]`, li) : keep.cls ? $('.' + keep.cls, li) : null);
    if (t) t.focus();
  }
}
function ruActionEl(a, i) {
  const d = ru.draft;
  const n = d.actions.length;
  const spec = RU_ACTION[a.type];
  const li = el('li', 'ru-action' + (spec ? '' : ' unknown') + (spec && !ruActionOffer(a.type, d) ? ' misfit' : ''));
  li.dataset.index = String(i);
  li.dataset.type = a.type;
  const head = el('div', 'ru-a-head');
  head.append(el('span', 'ru-a-n', String(i + 1)));
  const t = el('div', 'ru-a-title');
  t.append(el('strong', '', spec ? spec.en + ' ' : a.type), el('span', 'zh', spec ? spec.zh : ''), el('code', 'ru-a-code', a.type));
  head.append(t);
  const tools = el('div', 'ru-a-tools');
  const up = button('', 'ghost ru-a-up', () => ruMoveAction(i, -1), 'ruUp');
  up.setAttribute('aria-label', 'move action ' + (i + 1) + ' up'); up.title = 'Move up 上移'; up.disabled = i === 0;
  const down = button('', 'ghost ru-a-down', () => ruMoveAction(i, 1), 'ruDown');
  down.setAttribute('aria-label', 'move action ' + (i + 1) + ' down'); down.title = 'Move down 下移'; down.disabled = i === n - 1;
  const rm = button('', 'ghost danger ru-a-rm', () => {
    d.actions.splice(i, 1);
    ruMarkDirty();
    ruRenderActions();
    const next = $$('#ru-actions .ru-action')[Math.min(i, d.actions.length - 1)];
    (next ? $('.ru-a-rm', next) : $('#ru-add-type')).focus();
  }, 'ruTrash');
  rm.setAttribute('aria-label', 'remove action ' + (i + 1)); rm.title = 'Remove 删除';
  tools.append(up, down, rm);
  head.append(tools);
  li.append(head);
  if (spec) li.append(el('p', 'ru-a-what', spec.what + (ruActionOffer(a.type, d) ? '' : ' — not for this trigger: the server will refuse it')));
  const params = el('div', 'ru-params');
  if (spec) params.append(...ruParams(a, i));
  else {
    const pre = el('pre', 'ru-a-raw', JSON.stringify(a, null, 1));
    params.append(el('p', 'muted', 'An action this page does not know; it is kept as it is.'), pre);
  }
  li.append(params);
  const err = el('span', 'field-error ru-a-err'); err.dataset.for = 'actions[' + i + ']';
  li.append(err);
  return li;
}
function ruMoveAction(i, dir) {
  const d = ru.draft, j = i + dir;
  if (j < 0 || j >= d.actions.length) return;
  [d.actions[i], d.actions[j]] = [d.actions[j], d.actions[i]];
  ruMarkDirty();
  const cls = dir < 0 ? 'ru-a-up' : 'ru-a-down';
  ruRenderActions({ index: String(j), param: null, cls });
  // the action moved with the focus; at an end that button is disabled: the other one
  const li = $(`.ru-action[data-index="${j}"]`);
  const b = li && $('.' + cls, li);
  if (b && b.disabled) $(dir < 0 ? '.ru-a-down' : '.ru-a-up', li).focus();
}
// the inputs of one action; each writes its key of the action object as it changes
function ruParams(a, i) {
  const d = ru.draft;
  const key = (k) => 'actions[' + i + '].' + k;
  const touch = () => ruMarkDirty();
  const rerender = () => { ruMarkDirty(); ruRenderActions(); };
  const drop = (...ks) => { for (const k of ks) delete a[k]; };
  const text = (k, label, ph, list) => {
    const inp = el('input', 'ru-p');
    inp.dataset.param = k; inp.value = a[k] === undefined || a[k] === null ? '' : String(a[k]); inp.autocomplete = 'off';
    if (ph) inp.placeholder = ph;
    if (list) inp.setAttribute('list', list);
    inp.addEventListener('input', () => { if (inp.value === '') delete a[k]; else a[k] = inp.value; touch(); });
    return ruField(label, inp, key(k));
  };
  const num = (k, label, min, max, hint) => {
    const inp = el('input', 'ru-p ru-p-num');
    inp.type = 'number'; inp.dataset.param = k; inp.step = '1';
    if (min !== undefined) inp.min = String(min);
    if (max !== undefined) inp.max = String(max);
    inp.value = a[k] === undefined || a[k] === null ? '' : String(a[k]);
    inp.addEventListener('input', () => {
      const v = inp.value.trim();
      if (v === '') delete a[k]; else a[k] = /^-?\d+$/.test(v) ? Number(v) : v;
      touch();
    });
    return ruField(label, inp, key(k), hint);
  };
  const sel = (k, label, options, onChange, hint) => {
    const s = ruSelect(options, a[k], 'ru-p');
    s.dataset.param = k;
    if (a[k] === undefined && options.length) a[k] = Array.isArray(options[0]) ? options[0][0] : options[0];
    s.addEventListener('change', () => { a[k] = s.value; if (onChange) onChange(); else touch(); });
    return ruField(label, s, key(k), hint);
  };
  // a list from the server (agents, webhooks, sequences); a number input when it could not be read
  const pick = (k, label, items, labelOf, what) => {
    if (!items) return num(k, label, 1, undefined, 'the ' + what + '\'s id (the list could not be loaded)');
    const s = el('select', 'ru-p');
    s.dataset.param = k;
    s.append(opt('', items.length ? '— choose ' + what + ' —' : '— no ' + what + ' yet —', !a[k]));
    let found = false;
    for (const x of items) { s.append(opt(String(x.id), labelOf(x), Number(a[k]) === x.id)); if (Number(a[k]) === x.id) found = true; }
    if (a[k] && !found) s.append(opt(String(a[k]), what + ' #' + a[k] + ' (not found)', true));
    s.addEventListener('change', () => { if (s.value) a[k] = Number(s.value); else delete a[k]; touch(); });
    return ruField(label, s, key(k));
  };
  const agents = () => (ru.agents ? ru.agents.filter((x) => x.active !== false) : null);
  const agentLabel = (x) => x.name + ' · ' + x.role + (x.region ? ' · ' + x.region : '');
  const tmpl = (k, label, ph) => {
    const ta = el('textarea', 'ru-p ru-p-tmpl');
    ta.dataset.param = k; ta.rows = 2; ta.value = a[k] || ''; ta.placeholder = ph || '';
    ta.addEventListener('input', () => { if (ta.value === '') delete a[k]; else a[k] = ta.value; touch(); });
    const f = ruField(label, ta, key(k));
    const vars = el('div', 'ru-vars');
    vars.append(el('span', 'ru-vars-l', 'Insert 插入'));
    for (const v of RU_VARS[ruKindOf(d)] || RU_VARS.customer) {
      const b = button('{{' + v + '}}', 'ru-var', () => {
        const s = ta.selectionStart ?? ta.value.length, e = ta.selectionEnd ?? ta.value.length;
        const ins = '{{' + v + '}}';
        ta.setRangeText(ins, s, e, 'end');
        a[k] = ta.value; touch();
        ta.focus();
      });
      b.title = 'Insert {{' + v + '}} at the cursor';
      vars.append(b);
    }
    // the vars sit under the box, before the error
    f.insertBefore(vars, $('.field-error', f));
    f.classList.add('wide');
    return f;
  };
  switch (a.type) {
    case 'tag': case 'untag':
      return [text('tag', ['Tag', '标签'], 'e.g. VIP, 华东客户')];
    case 'set_field': {
      const defs = (typeof crm === 'object' && crm.fieldDefs) || [];
      const fields = [...RU_SET_FIELDS, ...defs.map((x) => ['attr.' + x.key, x.label + ' (attr.' + x.key + ')'])];
      const out = [sel('field', ['Field', '字段'], fields, () => { a.value = ''; rerender(); })];
      if (a.field === 'stage') out.push(sel('value', ['Value', '值'], [['', '— choose —'], ...[...LIFECYCLE, CHURNED].map(([k, en, zh]) => [k, en + ' ' + zh])]));
      else if (a.field === 'type') out.push(sel('value', ['Value', '值'], [['', '— choose —'], ...RU_ENUM.type]));
      else out.push(text('value', ['Value', '值'], a.field === 'grade' ? 'A, B or C' : a.field === 'region' ? 'e.g. 华东' : ''));
      return out;
    }
    case 'assign_owner': {
      const out = [sel('strategy', ['How', '分配方式'], [['region_least_busy', 'Least busy in its region 同地区最空闲的销售'],
        ['least_busy', 'Least busy sales agent 最空闲的销售'], ['agent', 'A chosen person 指定人员']], () => {
        if (a.strategy !== 'agent') drop('agent_id');
        rerender();
      })];
      if (a.strategy === 'agent') out.push(pick('agent_id', ['Person', '人员'], agents(), agentLabel, 'a person'));
      const cb = el('input'); cb.type = 'checkbox'; cb.dataset.param = 'only_unowned'; cb.checked = a.only_unowned !== false;
      cb.addEventListener('change', () => { a.only_unowned = cb.checked; touch(); });
      const l = el('label', 'field ru-check');
      l.append(cb, el('span', '', 'Only when it has no owner yet 仅限无负责人'));
      const e = el('span', 'field-error'); e.dataset.for = key('only_unowned');
      l.append(e);
      out.push(l);
      return out;
    }
    case 'notify': {
      const out = [sel('to', ['To', '发给'], [['owner', 'The owner 负责人'], ['manager', 'Owner\'s manager 负责人的主管'],
        ['role', 'Everyone of a role 某角色的所有人'], ['agent', 'A chosen person 指定人员']], () => {
        if (a.to !== 'role') drop('role');
        if (a.to !== 'agent') drop('agent_id');
        rerender();
      })];
      if (a.to === 'role') out.push(sel('role', ['Role', '角色'], RU_STAFF_ROLES));
      if (a.to === 'agent') out.push(pick('agent_id', ['Person', '人员'], agents(), agentLabel, 'a person'));
      out.push(text('kind', ['Reminder kind', '提醒类型'], 'rule (default)'));
      out.push(tmpl('message', ['Message', '消息'], 'e.g. 新客户 {{customer.name}} 来自华东，请尽快联系'));
      const once = el('input'); once.type = 'checkbox'; once.dataset.param = 'once'; once.checked = a.once === true;
      once.addEventListener('change', () => { if (once.checked) a.once = true; else delete a.once; touch(); });
      const ol = el('label', 'field ru-check');
      ol.append(once, el('span', '', 'Once per record (a deal: per stage) 每条记录只提醒一次'));
      const oe = el('span', 'field-error'); oe.dataset.for = key('once');
      ol.append(oe);
      out.push(ol);
      return out;
    }
    case 'create_task': {
      const out = [num('due_days', ['Due in days', '几天后到期'], 0, 365, '0–365; 0 is today'),
        sel('assignee', ['For', '负责人'], [['owner', 'The owner 负责人'], ['agent', 'A chosen person 指定人员']], () => {
          if (a.assignee !== 'agent') drop('agent_id');
          rerender();
        })];
      if (a.assignee === 'agent') out.push(pick('agent_id', ['Person', '人员'], agents(), agentLabel, 'a person'));
      out.push(tmpl('title', ['Task', '任务'], 'e.g. 首次回访：{{customer.name}}'));
      return out;
    }
    case 'raise_priority':
      return [sel('priority', ['Priority at least', '优先级至少'], [['high', 'High 高'], ['urgent', 'Urgent 紧急']])];
    case 'enrol_sequence':
      return [pick('sequence_id', ['Sequence', '培育序列'], ru.sequences, (x) => x.name + (x.enabled === false ? ' (off)' : ''), 'a sequence')];
    case 'send_template':
      return [pick('template_id', ['Template', '模板'], ru.templates, (x) => `${x.name} · ${x.channel === 'sms' ? 'SMS 短信' : 'E-mail 邮件'}`, 'a template')];
    case 'call_webhook':
      return [pick('webhook_id', ['Webhook', 'Webhook'], ru.webhooks, (x) => x.url + (x.description ? ' — ' + x.description : '') + (x.active ? '' : ' (off)'), 'a webhook')];
    case 'advance_lifecycle':
      return [el('p', 'muted ru-noparams', 'No settings: the customer moves forward to the stage the deal\'s stage names. 无需设置')];
    case 'request_approval':
      return [sel('role', ['Approver', '审批人'], [['manager', 'A manager 主管'], ['admin', 'An admin 管理员']]),
        tmpl('summary', ['What to approve', '审批事项'], 'e.g. 启动营销活动“{{campaign.name}}”')];
    default:
      return [];
  }
}

/* ---------- save, delete, copy ---------- */
function ruBody() {
  const d = ru.draft;
  const b = {
    name: d.name.trim(), trigger: d.trigger,
    schedule_record: d.trigger === 'schedule' ? d.schedule_record || 'customer' : null,
    conditions: d.conditions, actions: d.actions, enabled: !!d.enabled,
  };
  // no description stays none (an empty one would count as a change, a new version)
  const desc = (d.description || '').trim();
  if (desc || (ru.saved && ru.saved.description)) b.description = desc;
  const p = String(d.position === null || d.position === undefined ? '' : d.position).trim();
  if (p !== '') b.position = /^-?\d+$/.test(p) ? Number(p) : p;
  return b;
}
function ruClearErrors() {
  const dz = $('#ru-designer');
  if (!dz) return;
  for (const e of $$('.field-error', dz)) e.textContent = '';
  for (const e of $$('.invalid', dz)) e.classList.remove('invalid');
  $('#ru-error').textContent = '';
  ruPaintCondError(null);
}
// the server's field errors next to their inputs; conditions under the text (its position marked)
function ruShowErrors(fields) {
  const dz = $('#ru-designer');
  if (!dz) return;
  const rest = [];
  let first = null;
  for (const [k, why] of Object.entries(fields || {})) {
    if (k === 'conditions') {
      const at = rulePosition(ru.draft.conditions, why);
      $('#ru-cond-error').textContent = at ? 'Position ' + (at.pos + 1) + ': ' + at.reason + ' · 条件有误' : why;
      ruPaintCondError(at);
      const f = $('#ru-cond-text').closest('.field');
      f.classList.add('invalid');
      first = first || $('#ru-cond-text');
      continue;
    }
    let slot = $(`.field-error[data-for="${CSS.escape(k)}"]`, dz);
    // actions[2].tag → the action's own slot when the parameter has none (a hidden input)
    const m = /^actions\[(\d+)\]/.exec(k);
    if (!slot && m) slot = $(`.field-error[data-for="actions[${m[1]}]"]`, dz);
    if (slot) {
      slot.textContent = (slot.textContent ? slot.textContent + '; ' : '') + (slot.dataset.for === k ? why : k.replace(/^actions\[\d+\]\.?/, '') + ': ' + why);
      const f = slot.closest('.field') || slot.closest('.ru-action');
      if (f) f.classList.add('invalid');
      first = first || (f && $('input, select, textarea', f));
    } else rest.push((RU_LABEL[k] || k) + ': ' + why);
  }
  $('#ru-error').textContent = rest.length ? 'Not saved 未保存 — ' + rest.join('; ') : '';
  if (first) { first.scrollIntoView({ block: 'center' }); first.focus({ preventScroll: true }); }
}
// A rule as the server just answered a write, or the list's copy when that is as new: the
// list can be older than the answer (a refresh an event started while the write was under
// way replaces the write's own, and may have read before the write committed).
function ruNewer(answer) {
  const listed = (ru.rules || []).find((x) => x.id === answer.id);
  return listed && listed.version >= answer.version ? listed : answer;
}
async function ruSave() {
  const d = ru.draft;
  if (!d || ru.saving) return;
  const dz = $('#ru-designer'), btn = $('#ru-save');
  ruClearErrors();
  ru.saving = true;
  dz.dataset.state = 'saving';
  btn.disabled = true;
  const wasNew = !d.id;
  try {
    const saved = d.id ? await api('PATCH', '/api/v1/rules/' + d.id, ruBody()) : await api('POST', '/api/v1/rules', ruBody());
    ru.dirty = false;
    toast((wasNew ? 'Rule created 已创建: ' : 'Rule saved 已保存: ') + saved.name + (wasNew && !saved.enabled ? ' — switched off until you switch it on' : ''), 'good');
    await ruLoadList(true);
    const fresh = ruNewer(saved);
    const keepId = ru.test.recordId, keepResult = ru.test.result;
    ru.saving = false;
    ruOpen(fresh);
    ru.test.recordId = keepId;
    if (keepResult) { ru.test.result = keepResult; ruRenderTest(); }
    const dz2 = $('#ru-designer');
    if (dz2) dz2.dataset.state = 'idle';
    const ss = $('#ru-save-state');
    if (ss) { ss.textContent = 'Saved 已保存 ✓'; ss.classList.add('ok'); }
  } catch (e) {
    ru.saving = false;
    dz.dataset.state = 'error';
    const f = fieldsOf(e);
    if (f) ruShowErrors(f);
    else $('#ru-error').textContent = 'Not saved 未保存: ' + errText(e);
  } finally {
    ru.saving = false;
    if (btn.isConnected) btn.disabled = false;
  }
}
function ruConfirmDelete(acts) {
  const d = ru.draft;
  const keep = [...acts.childNodes];
  const box = el('span', 'ru-confirm');
  box.append(el('span', 'confirm', d.system_key ? 'Delete this built-in rule? Switching it off keeps it at hand. 确定删除内置规则？'
    : 'Delete “' + d.name + '” with its history and firings? 确定删除？'));
  const yes = button('Delete 删除', 'small danger-solid ru-del-yes');
  yes.id = 'ru-delete-yes';
  const no = button('Keep 保留', 'small ghost', () => { acts.replaceChildren(...keep); $('#ru-delete').focus(); });
  yes.addEventListener('click', async () => {
    yes.disabled = no.disabled = true;
    try {
      await api('DELETE', '/api/v1/rules/' + d.id);
      toast('Rule deleted 已删除: ' + d.name, 'good');
      ru.dirty = false;
      ru.draft = null; ru.saved = null;
      showView('rules');
      await ruLoadList(true);
      ruRenderEditor();
    } catch (e) {
      toast(errText(e), 'bad');
      acts.replaceChildren(...keep);
    }
  });
  box.append(yes, no);
  acts.replaceChildren(box);
  no.focus();
}
function ruDuplicate() {
  const d = ruClone(ru.draft);
  const copy = { ...ruNewDraft(), name: (d.name + ' (copy 副本)').slice(0, 200), description: d.description || '', trigger: d.trigger,
    schedule_record: d.schedule_record, conditions: d.conditions, actions: d.actions, position: d.position };
  ruOpen(null);
  Object.assign(ru.draft, copy);
  ru.cond = ruParseCond(copy.conditions);
  ruRenderEditor();
  ruMarkDirty();
  const n = $('#ru-name');
  if (n) { n.focus(); n.select(); }
  toast('A copy, not saved yet — switched off 已复制（未保存）', 'info');
}

/* ---------- what would happen: a dry run of the draft ---------- */
function ruTestCard() {
  const card = el('section', 'card ru-card ru-test');
  card.id = 'ru-test';
  card.setAttribute('aria-label', 'test the rule');
  const h = el('h3', 'ru-h3');
  h.append(el('span', 'ru-h-ic ru-ic-test'), document.createTextNode('What would happen '), el('span', 'zh', '试运行'));
  h.firstChild.append(icon('ruPlay'));
  const p = el('p', 'ru-card-note', 'Runs this draft — saved or not — against one record and undoes everything afterwards: nothing is changed, ' +
    'sent or logged. 不会产生任何实际变更。');
  const form = el('form', 'ru-test-form');
  form.noValidate = true;
  const inp = el('input', 'ru-test-id');
  inp.id = 'ru-test-id'; inp.type = 'number'; inp.min = '1'; inp.step = '1'; inp.inputMode = 'numeric';
  inp.value = ru.test.recordId || '';
  inp.addEventListener('input', () => { ru.test.recordId = inp.value; });
  const lab = el('label', 'field ru-test-f');
  const ls = el('span', 'ru-label'); ls.id = 'ru-test-label';
  lab.append(ls, inp);
  const run = el('button', 'primary ru-test-run');
  run.type = 'submit'; run.id = 'ru-test-run';
  run.append(icon('ruPlay'), document.createTextNode('What would happen 试运行'));
  const row = el('div', 'ru-test-row');
  row.append(lab, run);
  form.append(row);
  form.addEventListener('submit', (e) => { e.preventDefault(); ruRunTest(); });
  const out = el('div', 'ru-test-result'); out.id = 'ru-test-result'; out.dataset.state = 'idle';
  out.setAttribute('aria-live', 'polite');
  card.append(h, p, form, out);
  return card;
}
function ruRenderTestLabel() {
  const l = $('#ru-test-label');
  if (!l || !ru.draft) return;
  const k = ruKindOf(ru.draft);
  l.replaceChildren(document.createTextNode(RU_KIND[k][0] + ' ID '), el('span', 'zh', RU_KIND[k][1] + ' ID'));
  const inp = $('#ru-test-id');
  if (inp) { inp.placeholder = 'e.g. 12'; inp.setAttribute('aria-describedby', 'ru-test-label'); }
  const run = $('#ru-test-run');
  if (run) run.title = 'Dry-run this draft against ' + RU_KIND[k][0].toLowerCase() + ' #…';
}
async function ruRunTest() {
  const d = ru.draft;
  const t = ru.test;
  const idText = String($('#ru-test-id').value || '').trim();
  t.recordId = idText;
  const k = ruKindOf(d);
  if (!/^\d+$/.test(idText) || Number(idText) < 1) {
    t.result = null; t.error = 'Type the ID of a ' + RU_KIND[k][0].toLowerCase() + ' first. 请输入' + RU_KIND[k][1] + ' ID';
    t.loading = false;
    ruRenderTest('error');
    $('#ru-test-id').focus();
    return;
  }
  const seq = ++t.seq;
  t.loading = true; t.error = '';
  ruRenderTest();
  const b = ruBody();
  const rule = { name: b.name || '(draft)', trigger: b.trigger, schedule_record: b.schedule_record, conditions: b.conditions, actions: b.actions };
  try {
    const r = await api('POST', '/api/v1/rules/test', { rule, record_id: Number(idText) });
    if (seq !== t.seq) return;
    t.loading = false;
    t.result = { ...r, recordId: Number(idText), kind: k };
    ruClearErrors();
    if ($('#ru-designer') && $('#ru-designer').dataset.state === 'error') $('#ru-designer').dataset.state = ru.dirty ? 'dirty' : 'idle';
    ruRenderTest();
  } catch (e) {
    if (seq !== t.seq) return;
    t.loading = false; t.result = null;
    // a draft's own errors come named rule.conditions, rule.actions[0].tag…
    const raw = fieldsOf(e);
    const f = raw ? Object.fromEntries(Object.entries(raw).map(([x, why]) => [x.replace(/^rule\./, ''), why])) : null;
    if (e.status === 404) t.error = 'There is no ' + RU_KIND[k][0].toLowerCase() + ' #' + idText + ' (or it is outside your data). 找不到该' + RU_KIND[k][1];
    else if (f && f.record_id) t.error = 'Record ID: ' + f.record_id;
    else if (f) {
      ruClearErrors();
      ruShowErrors(f);
      t.error = 'Fix the rule first 请先修正规则: ' + Object.entries(f).map(([x, why]) => (RU_LABEL[x] || x) + ' — ' + why).join('; ');
    } else t.error = errText(e);
    ruRenderTest('error');
  }
}
function ruRenderTest(forceState) {
  const out = $('#ru-test-result');
  if (!out) return;
  const t = ru.test;
  if (t.loading) {
    out.dataset.state = 'loading';
    delete out.dataset.matched;
    out.replaceChildren(el('p', 'muted ru-loading', 'Running the draft… 运行中'));
    return;
  }
  if (t.error) {
    out.dataset.state = 'error';
    delete out.dataset.matched;
    const e = el('p', 'ru-test-err', t.error);
    e.setAttribute('role', 'alert');
    out.replaceChildren(e);
    return;
  }
  const r = t.result;
  if (!r) {
    out.dataset.state = forceState || 'idle';
    delete out.dataset.matched;
    out.replaceChildren(el('p', 'muted ru-test-idle', 'Pick a record the rule is about and see what the actions would do to it.'));
    return;
  }
  out.dataset.state = 'ready';
  out.dataset.matched = String(!!r.matched);
  const kind = RU_KIND[r.kind] || [r.kind, ''];
  const headline = el('div', 'ru-tr-head ' + (r.matched ? 'yes' : 'no'));
  headline.append(icon(r.matched ? 'ruCheck' : 'ruX'));
  const ht = el('div', 'ru-tr-ht');
  if (r.matched) {
    const n = (r.actions || []).length;
    ht.append(el('strong', '', 'Matched 条件满足'), el('span', '', kind[0] + ' #' + r.recordId + ' meets the conditions: ' +
      (n ? plural(n, 'action') + ' would run.' : 'there are no actions.')));
  } else {
    ht.append(el('strong', '', 'Not matched 条件不满足'), el('span', '', kind[0] + ' #' + r.recordId + ' does not meet the conditions: nothing would happen.'));
  }
  headline.append(ht);
  const parts = [headline];
  if ((r.actions || []).length) parts.push(ruActionResults(r.actions, 'ru-tr-actions'));
  const chained = r.chained || [];
  if (chained.length) {
    const c = el('div', 'ru-tr-chained');
    const ch = el('h4', '', 'Then these rules would run ');
    ch.append(el('span', 'zh', '连锁触发'));
    c.append(ch);
    for (const x of chained) {
      const item = el('div', 'ru-chain' + (x.matched ? ' yes' : ' no'));
      item.dataset.ruleId = String(x.rule_id);
      item.dataset.matched = String(!!x.matched);
      const hd = el('div', 'ru-chain-h');
      hd.append(icon('ruLink'));
      const known = ru.rules && ru.rules.find((y) => y.id === x.rule_id);
      if (known) {
        const a = button(x.name || known.name, 'link ru-chain-name', () => ruGuard(() => ruOpen(known)));
        hd.append(a);
      } else hd.append(el('strong', 'ru-chain-name', x.name || 'Rule #' + x.rule_id));
      hd.append(badge(x.matched ? 'matched 满足' : 'not matched 不满足', 'ru-m ' + (x.matched ? 'yes' : 'no')));
      item.append(hd);
      if ((x.actions || []).length) item.append(ruActionResults(x.actions, 'ru-tr-actions sub'));
      c.append(item);
    }
    parts.push(c);
  }
  parts.push(el('p', 'ru-tr-note', 'A dry run: nothing was changed, sent or logged. 仅为模拟，未做任何更改。'));
  out.replaceChildren(...parts);
}
function ruActionResults(actions, cls) {
  const ol = el('ol', cls);
  for (const a of actions) {
    const li = el('li', 'ru-tr-action out-' + a.outcome);
    li.dataset.type = a.type;
    li.dataset.outcome = a.outcome;
    const spec = RU_ACTION[a.type];
    const top = el('div', 'ru-tr-top');
    top.append(ruOutcomeBadge(a.outcome), el('strong', 'ru-tr-type', spec ? spec.en + ' ' + spec.zh : a.type));
    li.append(top);
    if (a.detail) li.append(el('div', 'ru-tr-detail', a.detail));
    ol.append(li);
  }
  return ol;
}

/* ---------- history: the versions, restore ---------- */
function ruHistoryCard() {
  const card = el('section', 'card ru-card ru-history');
  card.id = 'ru-history';
  card.dataset.state = 'loading';
  card.setAttribute('aria-label', 'history');
  const h = el('h3', 'ru-h3');
  h.append(el('span', 'ru-h-ic ru-ic-hist'), document.createTextNode('History '), el('span', 'zh', '版本历史'));
  h.firstChild.append(icon('ruHistory'));
  const list = el('ol', 'ru-vers'); list.id = 'ru-vers';
  card.append(h, list);
  return card;
}
async function ruLoadVersions() {
  const d = ru.draft;
  if (!d || !d.id) return;
  const v = ru.ver, seq = ++v.seq, id = d.id;
  v.loading = true;
  ruRenderVersions();
  try {
    const r = await api('GET', '/api/v1/rules/' + id + '/versions');
    if (seq !== v.seq || !ru.draft || ru.draft.id !== id) return;
    v.items = r.items || []; v.error = '';
  } catch (e) {
    if (seq !== v.seq) return;
    v.error = errText(e);
  }
  v.loading = false;
  ruRenderVersions();
}
function ruRenderVersions() {
  const card = $('#ru-history'), list = $('#ru-vers');
  if (!card || !list) return;
  const v = ru.ver;
  if (v.error) {
    card.dataset.state = 'error';
    const e = el('li', 'ru-v-err error', 'Could not load the history 加载失败: ' + v.error);
    e.append(' ', button('Try again', 'link', ruLoadVersions));
    list.replaceChildren(e);
    return;
  }
  if (!v.items) { card.dataset.state = 'loading'; list.replaceChildren(el('li', 'muted ru-loading', 'Loading… 加载中')); return; }
  card.dataset.state = 'ready';
  const cur = ru.saved ? ru.saved.version : null;
  const items = v.items.slice().sort((a, b) => b.version - a.version);
  const rows = items.map((x, i) => {
    const older = items[i + 1];
    const li = el('li', 'ru-ver' + (x.version === cur ? ' current' : ''));
    li.dataset.version = String(x.version);
    const top = el('div', 'ru-ver-top');
    top.append(el('strong', 'ru-ver-n', 'v' + x.version));
    if (x.version === cur) top.append(badge('Current 当前', 'ru-cur'));
    const who = x.changed_by_name || (typeof x.changed_by === 'string' ? x.changed_by : x.changed_by ? ruAgentName(x.changed_by) : 'the system');
    const when = el('span', 'muted ru-ver-when', who + ' · ' + ruAgo(x.changed_at));
    when.title = fullTime(x.changed_at);
    top.append(when);
    if (x.version !== cur) {
      const rs = button('Restore 恢复', 'small ru-restore', () => ruRestore(x.version, rs));
      rs.setAttribute('aria-label', 'Restore version ' + x.version);
      const cur = ru.saved && !!ru.saved.enabled;
      rs.title = 'Make this version current again, as a new version' +
        (!!x.enabled !== cur ? ' — this also switches it ' + (x.enabled ? 'on' : 'off') : '');
      top.append(rs);
    }
    li.append(top);
    const ch = el('div', 'ru-ver-changes');
    const chip = (t, cls) => ch.append(el('span', 'ru-vc' + (cls ? ' ' + cls : ''), t));
    if (!older) chip('created 创建');
    else {
      if (older.name !== x.name) chip('renamed 改名');
      if (older.trigger !== x.trigger) chip('trigger → ' + x.trigger);
      if ((older.conditions || '') !== (x.conditions || '')) chip('conditions 条件');
      if (JSON.stringify(older.actions) !== JSON.stringify(x.actions)) chip('actions 动作');
      if (!!older.enabled !== !!x.enabled) chip(x.enabled ? 'switched on 启用' : 'switched off 停用', x.enabled ? 'on' : 'off');
      if (!ch.childNodes.length) chip('no change to the rule itself');
    }
    li.append(ch);
    const det = el('details', 'ru-ver-det');
    det.append(el('summary', '', 'What it was 查看内容'));
    const dl = el('dl', 'ru-ver-dl');
    dl.append(el('dt', '', 'Name'), el('dd', '', x.name), el('dt', '', 'When'), el('dd', '', x.trigger),
      el('dt', '', 'If'), el('dd', 'ru-mono', x.conditions || '— always —'),
      el('dt', '', 'Then'), el('dd', '', (x.actions || []).map((a) => (RU_ACTION[a.type] ? RU_ACTION[a.type].en : a.type)).join(' → ') || '—'),
      el('dt', '', 'Enabled'), el('dd', '', x.enabled ? 'yes' : 'no'));
    det.append(dl);
    li.append(det);
    return li;
  });
  if (!rows.length) rows.push(el('li', 'muted', 'No versions yet.'));
  list.replaceChildren(...rows);
}
async function ruRestore(version, btn) {
  const d = ru.draft;
  if (ru.dirty) {
    ruGuard(() => ruRestore(version, btn));
    return;
  }
  btn.disabled = true;
  try {
    const r = await api('POST', '/api/v1/rules/' + d.id + '/versions/' + version + '/restore');
    await ruLoadList(true);
    const fresh = r && r.id ? ruNewer(r) : (ru.rules || []).find((x) => x.id === d.id);
    toast('Version ' + version + ' restored' + (fresh ? ' as version ' + fresh.version : '') + ' · 已恢复', 'good');
    if (fresh) ruOpen(fresh, { noNav: true });
  } catch (e) {
    toast(errText(e), 'bad');
    btn.disabled = false;
  }
}

/* ---------- firings: what the rule did ---------- */
function ruFiringsCard() {
  const card = el('section', 'card ru-card ru-firings');
  card.id = 'ru-firings';
  card.dataset.state = 'loading';
  card.setAttribute('aria-label', 'firings');
  const head = el('div', 'ru-f-head');
  const h = el('h3', 'ru-h3');
  h.append(el('span', 'ru-h-ic ru-ic-log'), document.createTextNode('Firings '), el('span', 'zh', '执行记录'));
  h.firstChild.append(icon('ruLog'));
  const range = el('span', 'muted ru-range'); range.id = 'ru-f-range';
  const legend = el('span', 'ru-legend-out');
  for (const k of ['done', 'failed', 'stopped', 'held']) legend.append(ruOutcomeBadge(k));
  const newer = button('‹ Newer', 'small ghost', () => ruLoadFirings(ru.fire.page - 1)); newer.id = 'ru-f-newer';
  const older = button('Older ›', 'small ghost', () => ruLoadFirings(ru.fire.page + 1)); older.id = 'ru-f-older';
  const re = button('Refresh 刷新', 'small', () => { ruLoadFirings(ru.fire.page); ruLoadList(true); }, 'ruRefresh');
  re.id = 'ru-firings-refresh';
  head.append(h, range, legend, el('span', 'spacer'), newer, older, re);
  const body = el('div', 'ru-f-body'); body.id = 'ru-f-body';
  card.append(head, body);
  return card;
}
async function ruLoadFirings(page, quiet) {
  const d = ru.draft;
  if (!d || !d.id) return;
  const f = ru.fire, seq = ++f.seq, id = d.id;
  if (page) f.page = Math.max(1, page);
  f.loading = true;
  if (!quiet) ruRenderFirings();
  try {
    const r = await api('GET', '/api/v1/rules/' + id + '/firings?page=' + f.page + '&per_page=' + RU_PER_PAGE);
    if (seq !== f.seq || !ru.draft || ru.draft.id !== id) return;
    f.items = r.items || []; f.total = r.total || 0; f.error = '';
  } catch (e) {
    if (seq !== f.seq) return;
    f.error = errText(e);
  }
  f.loading = false;
  ruRenderFirings();
}
const RU_RECORD_VIEW = {
  customer: (id) => go('customer', id),
  lead: () => go('leads'),
  deal: () => go('pipeline'),
  ticket: (id) => { go('tickets'); openTicket(id).catch((e) => toast(errText(e), 'bad')); },
  campaign: (id) => go('campaign', id),
};
function ruRenderFirings() {
  const card = $('#ru-firings'), body = $('#ru-f-body');
  if (!card || !body) return;
  const f = ru.fire;
  $('#ru-firings-refresh').disabled = f.loading;
  const from = f.total ? (f.page - 1) * RU_PER_PAGE + 1 : 0, to = Math.min(f.total, f.page * RU_PER_PAGE);
  $('#ru-f-range').textContent = f.items && f.total ? from + '–' + to + ' of ' + f.total : '';
  $('#ru-f-newer').hidden = $('#ru-f-older').hidden = !(f.total > RU_PER_PAGE);
  $('#ru-f-newer').disabled = f.page <= 1 || f.loading;
  $('#ru-f-older').disabled = f.page * RU_PER_PAGE >= f.total || f.loading;
  if (f.error) {
    card.dataset.state = 'error';
    const e = el('p', 'error ru-f-err', 'Could not load the firings 加载失败: ' + f.error);
    e.setAttribute('role', 'alert');
    body.replaceChildren(e);
    return;
  }
  if (!f.items) { card.dataset.state = 'loading'; body.replaceChildren(el('p', 'muted ru-loading', 'Loading… 加载中')); return; }
  card.dataset.state = f.loading ? 'loading' : 'ready';
  card.dataset.total = String(f.total);
  if (!f.items.length) {
    body.replaceChildren(ruEmpty('ruLog', 'Nothing yet. Each time the rule runs it shows here: done, failed (its work undone), stopped (a loop or ' +
      'the depth limit) or held (waiting for an approval).', '暂无执行记录'));
    return;
  }
  const t = el('table', 'ru-table');
  const th = el('thead'), hr = el('tr');
  for (const [en, zh, cls] of [['When', '时间'], ['Outcome', '结果'], ['Record', '记录'], ['Version', '版本', 'n'], ['Actions', '动作'], ['Reason', '原因']]) {
    const c = el('th', cls || '', en);
    c.append(el('span', 'zh', zh));
    hr.append(c);
  }
  th.append(hr);
  const tb = el('tbody');
  for (const x of f.items) {
    const tr = el('tr', 'ru-firing out-' + x.outcome);
    tr.dataset.id = String(x.id);
    tr.dataset.outcome = x.outcome;
    tr.dataset.recordType = x.record_type;
    tr.dataset.recordId = String(x.record_id);
    const c1 = el('td', 'ru-f-when');
    const w = el('span', 'two-line');
    const t1 = el('span', '', ruAgo(x.created_at));
    t1.title = fullTime(x.created_at);
    w.append(t1, el('span', 'muted', fullTime(x.created_at)));
    c1.append(w);
    const c2 = el('td', 'ru-f-out');
    c2.append(ruOutcomeBadge(x.outcome));
    if (x.depth > 1) c2.append(el('span', 'muted ru-depth', 'chained · depth ' + x.depth));
    const c3 = el('td', 'ru-f-rec');
    const kind = RU_KIND[x.record_type] || [x.record_type, ''];
    const go_ = RU_RECORD_VIEW[x.record_type];
    if (go_) {
      const b = button(kind[0] + ' #' + x.record_id, 'link ru-rec', () => go_(x.record_id));
      b.title = 'Open ' + kind[0].toLowerCase() + ' #' + x.record_id;
      c3.append(b);
    } else c3.append(el('span', '', kind[0] + ' #' + x.record_id));
    if (x.event_id) c3.append(el('span', 'muted ru-ev', 'event ' + x.event_id));
    const c4 = el('td', 'n ru-f-ver', 'v' + x.rule_version);
    const c5 = el('td', 'ru-f-acts');
    for (const a of x.actions || []) {
      const spec = RU_ACTION[a.type];
      const chip = el('span', 'ru-fa out-' + a.outcome);
      chip.dataset.type = a.type;
      chip.append(el('i', 'ru-fa-dot'), el('span', 'ru-fa-t', spec ? spec.en : a.type));
      if (a.detail) chip.append(el('span', 'ru-fa-d', a.detail));
      chip.title = (spec ? spec.en : a.type) + ': ' + a.outcome + (a.detail ? ' — ' + a.detail : '');
      c5.append(chip);
    }
    if (!(x.actions || []).length) c5.append(el('span', 'muted', '—'));
    const c6 = el('td', 'ru-f-reason');
    if (x.reason) c6.append(el('span', 'ru-reason', x.reason)); else c6.append(el('span', 'muted', '—'));
    tr.append(c1, c2, c3, c4, c5, c6);
    tb.append(tr);
  }
  t.append(th, tb);
  const wrap = el('div', 'ru-table-wrap');
  wrap.append(t);
  body.replaceChildren(wrap);
}

/* ---------- start, stop, live events ---------- */
function rulesStart(agent) {
  $('.tab[data-view=rules]').hidden = !RU_ROLES.includes(agent.role);
  clearTimeout(ru.timer);
  Object.assign(ru, { built: false, rules: null, listError: '', saved: null, draft: null, cond: null, dirty: false, saving: false,
    agents: null, webhooks: null, sequences: null, refsAt: 0 });
  ru.busy.clear();
  ru.test = { recordId: '', result: null, error: '', loading: false, seq: ru.test.seq + 1 };
  $('#ru-page').replaceChildren();
  $('#ru-page').dataset.state = 'idle';
}
function rulesStop() {
  clearTimeout(ru.timer);
  ru.built = false; ru.draft = null; ru.saved = null; ru.dirty = false;
  $('#ru-page').replaceChildren();
}
// an event that may have fired rules: the open rule's log (first page) and the counts follow, quietly
function rulesFrame(m) {
  if (!m || !RU_EVENT_TYPES.has(m.type) || state.view !== 'rules' || !ru.built) return;
  clearTimeout(ru.timer);
  ru.timer = setTimeout(() => {
    if (state.view !== 'rules') return;
    ruLoadList(true);
    if (ru.draft && ru.draft.id && ru.fire.page === 1 && !ru.fire.loading) ruLoadFirings(1, true);
  }, 600);
}
