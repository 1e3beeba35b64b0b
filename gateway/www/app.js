// Switchboard agent console (Foundation). Vanilla JS, no dependencies.
// Everything shown is set with textContent: user data never becomes markup.
'use strict';

const $ = (sel) => document.querySelector(sel);
const state = { me: null, view: 'tickets', tickets: [], selected: null, ws: null, retry: 0 };

function el(tag, cls, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined && text !== null) e.textContent = String(text);
  return e;
}

async function api(method, path, body) {
  const opt = { method, headers: {}, credentials: 'same-origin' };
  if (body !== undefined) { opt.headers['content-type'] = 'application/json'; opt.body = JSON.stringify(body); }
  const res = await fetch(path, opt);
  const data = res.status === 204 ? null : await res.json().catch(() => null);
  if (res.status === 401 && path !== '/api/v1/auth/login') { showLogin(); throw new Error('signed out'); }
  if (!res.ok) {
    const err = new Error((data && data.error && data.error.message) || res.statusText);
    err.status = res.status; err.data = data; throw err;
  }
  return data;
}

function toast(text) {
  const t = $('#toast');
  t.textContent = text; t.hidden = false;
  clearTimeout(toast.timer); toast.timer = setTimeout(() => { t.hidden = true; }, 3500);
}

function when(iso) {
  if (!iso) return '';
  const d = new Date(iso);
  return d.toLocaleString(undefined, { month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit' });
}

/* ---------- login ---------- */
function showLogin() {
  $('#app').hidden = true; $('#login').hidden = false;
  if (state.ws) { state.ws.onclose = null; state.ws.close(); state.ws = null; }
}

$('#login-form').addEventListener('submit', async (ev) => {
  ev.preventDefault();
  $('#login-error').textContent = '';
  try {
    const r = await api('POST', '/api/v1/auth/login', { email: $('#login-email').value, password: $('#login-password').value });
    $('#login-password').value = '';
    start(r.agent);
  } catch (e) {
    $('#login-error').textContent = e.status === 429 ? 'Too many attempts — wait a few minutes.' : 'Wrong e-mail or password.';
  }
});

$('#logout').addEventListener('click', async () => {
  try { await api('POST', '/api/v1/auth/logout'); } catch (e) { /* already out */ }
  showLogin();
});

/* ---------- tickets ---------- */
async function loadTickets() {
  const p = new URLSearchParams({ per_page: '100' });
  const st = $('#ticket-status').value;
  if (st) p.set('status', st);
  if ($('#ticket-mine').checked) p.set('assignee_id', 'me');
  const r = await api('GET', '/api/v1/tickets?' + p);
  state.tickets = st ? r.items : r.items.filter((t) => t.status !== 'closed' && t.status !== 'solved');
  renderTickets();
}

function renderTickets() {
  const ul = $('#ticket-list');
  ul.replaceChildren();
  for (const t of state.tickets) {
    const li = el('li', t.id === state.selected ? 'sel' : '');
    li.append(el('span', 'subj', t.subject || '(' + t.channel + ' conversation)'));
    const b = el('span', 'badge ' + t.status, t.status);
    li.append(b);
    li.append(el('span', 'who', '#' + t.id + ' · ' + t.customer_name + ' · ' + t.channel));
    li.append(el('span', 'badge ' + t.priority, t.priority));
    li.addEventListener('click', () => openTicket(t.id));
    ul.append(li);
  }
  $('#ticket-empty').hidden = state.tickets.length > 0;
}

async function openTicket(id) {
  state.selected = id;
  renderTickets();
  const t = await api('GET', '/api/v1/tickets/' + id);
  const d = $('#ticket-detail');
  d.replaceChildren();
  const h = el('header');
  h.append(el('h2', '', t.subject || '(' + t.channel + ' conversation)'));
  const meta = el('div', 'meta');
  meta.append(el('span', 'badge ' + t.status, t.status), el('span', 'badge ' + t.priority, t.priority),
    el('span', '', '#' + t.id + ' · ' + t.customer_name + ' · ' + t.channel),
    el('span', '', t.assignee_name ? 'assigned to ' + t.assignee_name : 'unassigned'));
  const status = el('select');
  for (const s of ['new', 'open', 'pending', 'solved', 'closed']) {
    const o = el('option', '', s); o.value = s; if (s === t.status) o.selected = true; status.append(o);
  }
  status.addEventListener('change', async () => {
    try { await api('PATCH', '/api/v1/tickets/' + id, { status: status.value }); toast('Status saved'); loadTickets(); }
    catch (e) { toast(e.message); }
  });
  meta.append(status);
  h.append(meta);
  const thread = el('div', 'thread');
  for (const m of t.messages) {
    const cls = m.internal ? 'msg note' : (m.direction === 'out' ? 'msg out' : 'msg');
    const b = el('div', cls, m.body_text);
    b.append(el('span', 'when', (m.internal ? 'note · ' : '') + when(m.created_at) + (m.direction === 'out' && !m.internal ? ' · ' + m.status : '')));
    thread.append(b);
  }
  const form = el('form', 'reply');
  const ta = el('textarea'); ta.placeholder = 'Reply to the customer… 回复客户'; ta.required = true;
  const side = el('div', 'side');
  const send = el('button', 'primary', 'Send'); send.type = 'submit';
  const note = el('label', 'check'); const cb = el('input'); cb.type = 'checkbox'; note.append(cb, ' internal note');
  side.append(send, note);
  form.append(ta, side);
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    send.disabled = true;
    try { await api('POST', '/api/v1/tickets/' + id + '/messages', { body_text: ta.value, internal: cb.checked }); ta.value = ''; openTicket(id); }
    catch (e) { toast(e.data && e.data.error && e.data.error.fields ? Object.values(e.data.error.fields).join('; ') : e.message); }
    finally { send.disabled = false; }
  });
  d.append(h, thread, form);
  thread.scrollTop = thread.scrollHeight;
}

$('#ticket-status').addEventListener('change', loadTickets);
$('#ticket-mine').addEventListener('change', loadTickets);

/* ---------- customers ---------- */
let searchTimer = null;
async function loadCustomers() {
  const p = new URLSearchParams({ per_page: '100' });
  const q = $('#customer-q').value.trim();
  if (q) p.set('q', q);
  const r = await api('GET', '/api/v1/customers?' + p);
  const tb = $('#customer-rows');
  tb.replaceChildren();
  for (const c of r.items) {
    const tr = el('tr');
    const tags = el('td');
    for (const t of c.tags) tags.append(el('span', 'badge', t), ' ');
    tr.append(el('td', 'muted', c.customer_no), el('td', '', c.name), el('td', '', c.company || ''),
      el('td', '', c.phone || ''), el('td', '', c.email || ''), el('td', '', c.stage), tags);
    tb.append(tr);
  }
  $('#customer-total').textContent = r.total + ' customers';
}
$('#customer-q').addEventListener('input', () => { clearTimeout(searchTimer); searchTimer = setTimeout(loadCustomers, 250); });

/* ---------- navigation ---------- */
for (const b of document.querySelectorAll('.tab')) {
  b.addEventListener('click', () => {
    state.view = b.dataset.view;
    for (const x of document.querySelectorAll('.tab')) x.classList.toggle('active', x === b);
    $('#view-tickets').hidden = state.view !== 'tickets';
    $('#view-customers').hidden = state.view !== 'customers';
    (state.view === 'tickets' ? loadTickets : loadCustomers)().catch((e) => toast(e.message));
  });
}

/* ---------- live updates ---------- */
function connect() {
  const ws = new WebSocket((location.protocol === 'https:' ? 'wss://' : 'ws://') + location.host + '/ws/agent');
  state.ws = ws;
  ws.onmessage = (ev) => {
    let m; try { m = JSON.parse(ev.data); } catch (e) { return; }
    if (m.type === 'auth_ok') { state.retry = 0; $('#live').textContent = '● live'; $('#live').classList.add('on'); ws.send(JSON.stringify({ type: 'presence', status: $('#presence').value })); return; }
    if (m.type && m.type.startsWith('ticket.') || m.type === 'message.created') {
      if (m.type === 'ticket.assigned' && m.ticket && m.ticket.assignee_id === state.me.id) toast('New ticket assigned: #' + m.ticket_id);
      if (state.view === 'tickets') loadTickets().catch(() => {});
      if (state.selected && m.ticket_id === state.selected) openTicket(state.selected).catch(() => {});
    }
  };
  ws.onclose = (ev) => {
    $('#live').textContent = '● offline'; $('#live').classList.remove('on');
    if (ev.code === 4401) return showLogin();
    const delay = Math.min(30000, 500 * 2 ** state.retry++) * (0.5 + Math.random());
    setTimeout(() => { if (state.me) connect(); }, delay);
  };
}
$('#presence').addEventListener('change', () => {
  if (state.ws && state.ws.readyState === 1) state.ws.send(JSON.stringify({ type: 'presence', status: $('#presence').value }));
});

function start(agent) {
  state.me = agent;
  $('#me').textContent = agent.name + ' · ' + agent.role;
  $('#login').hidden = true; $('#app').hidden = false;
  loadTickets().catch((e) => toast(e.message));
  connect();
}

api('GET', '/api/v1/auth/me').then(start).catch(showLogin);
