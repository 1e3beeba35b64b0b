// Switchboard agent console. Vanilla JS, no dependencies, no build step.
// Everything shown is set with textContent: user data never becomes markup (one exception:
// a knowledge-base snippet, which the server escapes and marks up only with <mark>).
// Live updates, replies, accept, typing and presence go over /ws/agent (docs/api.md);
// REST is used for loading and as the fallback while the socket is down.
'use strict';

const $ = (sel, root = document) => root.querySelector(sel);
const $$ = (sel, root = document) => Array.from(root.querySelectorAll(sel));
const OPEN_STATUSES = ['new', 'open', 'pending'];
const ICONS = {
  chat: 'M20 2H4a2 2 0 0 0-2 2v18l4-4h14a2 2 0 0 0 2-2V4a2 2 0 0 0-2-2z',
  email: 'M20 4H4a2 2 0 0 0-2 2v12a2 2 0 0 0 2 2h16a2 2 0 0 0 2-2V6a2 2 0 0 0-2-2zm0 4-8 5-8-5V6l8 5 8-5z',
  sms: 'M17 1H7a2 2 0 0 0-2 2v18a2 2 0 0 0 2 2h10a2 2 0 0 0 2-2V3a2 2 0 0 0-2-2zm0 18H7V5h10z',
  phone: 'M6.6 10.8a15.1 15.1 0 0 0 6.6 6.6l2.2-2.2a1 1 0 0 1 1-.25c1.1.37 2.3.57 3.6.57a1 1 0 0 1 1 1V20a1 1 0 0 1-1 1A17 17 0 0 1 3 4a1 1 0 0 1 1-1h3.5a1 1 0 0 1 1 1c0 1.25.2 2.45.57 3.57a1 1 0 0 1-.25 1z',
  web: 'M12 2a10 10 0 1 0 0 20 10 10 0 0 0 0-20zm0 2c.9 1.2 1.6 2.5 1.9 4h-3.8c.3-1.5 1-2.8 1.9-4zM4.3 14a8 8 0 0 1 0-4h3.4a16 16 0 0 0 0 4zm.8 2h2.9c.3 1.3.8 2.5 1.4 3.6A8 8 0 0 1 5.1 16zM8 8H5.1a8 8 0 0 1 4.3-3.6C8.8 5.5 8.3 6.7 8 8zm4 12c-.9-1.2-1.6-2.5-1.9-4h3.8c-.3 1.5-1 2.8-1.9 4zm2.3-6H9.7a15 15 0 0 1 0-4h4.6a15 15 0 0 1 0 4zm.3 5.6c.6-1.1 1.1-2.3 1.4-3.6h2.9a8 8 0 0 1-4.3 3.6zm1.8-5.6a16 16 0 0 0 0-4h3.4a8 8 0 0 1 0 4z',
  company: 'M12 7V3H2v18h20V7H12zM6 19H4v-2h2v2zm0-4H4v-2h2v2zm0-4H4V9h2v2zm0-4H4V5h2v2zm4 12H8v-2h2v2zm0-4H8v-2h2v2zm0-4H8V9h2v2zm0-4H8V5h2v2zm10 12h-8v-2h2v-2h-2v-2h2v-2h-2V9h8v10z',
  lock: 'M18 8h-1V6A5 5 0 0 0 7 6v2H6a2 2 0 0 0-2 2v10a2 2 0 0 0 2 2h12a2 2 0 0 0 2-2V10a2 2 0 0 0-2-2zM9 6a3 3 0 0 1 6 0v2H9V6z',
  external: 'M10 6H6a2 2 0 0 0-2 2v10a2 2 0 0 0 2 2h10a2 2 0 0 0 2-2v-4h-2v4H6V8h4zm4-3v2h3.6l-7.3 7.3 1.4 1.4L19 6.4V10h2V3z',
  inbox: 'M19 3H5a2 2 0 0 0-2 2v14a2 2 0 0 0 2 2h14a2 2 0 0 0 2-2V5a2 2 0 0 0-2-2zm0 12h-4a3 3 0 0 1-6 0H5V5h14z',
  transfer: 'M6.99 11 3 15l3.99 4v-3H14v-2H6.99v-3zM21 9l-3.99-4v3H10v2h7.01v3z',
  clip: 'M16.5 6v11.5a4 4 0 0 1-8 0V5a2.5 2.5 0 0 1 5 0v10.5a1 1 0 0 1-2 0V6H10v9.5a2.5 2.5 0 0 0 5 0V5a4 4 0 0 0-8 0v12.5a5.5 5.5 0 0 0 11 0V6z',
  download: 'M5 20h14v-2H5zm14-9h-4V3H9v8H5l7 7z',
  code: 'M9.4 16.6 4.8 12l4.6-4.6L8 6l-6 6 6 6zm5.2 0 4.6-4.6-4.6-4.6L16 6l6 6-6 6z',
  auto: 'M7 2v11h3v9l7-12h-4l4-8z',
  alert: 'M1 21h22L12 2zm12-3h-2v-2h2zm0-4h-2v-4h2z',
  bell: 'M12 22a2 2 0 0 0 2-2h-4a2 2 0 0 0 2 2zm6-6V11c0-3.07-1.64-5.64-4.5-6.32V4a1.5 1.5 0 0 0-3 0v.68C7.63 5.36 6 7.92 6 11v5l-2 2v1h16v-1z',
  clock: 'M12 2a10 10 0 1 0 0 20 10 10 0 0 0 0-20zm0 18a8 8 0 1 1 0-16 8 8 0 0 1 0 16zm.5-13H11v6l5.2 3.2.8-1.3-4.5-2.7z',
  route: 'M19 15.18V7a4 4 0 0 0-8 0v10a2 2 0 0 1-4 0V8.82a3 3 0 1 0-2 0V17a4 4 0 0 0 8 0V7a2 2 0 0 1 4 0v8.18a3 3 0 1 0 2 0z',
  info: 'M12 2a10 10 0 1 0 0 20 10 10 0 0 0 0-20zm1 15h-2v-6h2zm0-8h-2V7h2z',
  bulb: 'M9 21a1 1 0 0 0 1 1h4a1 1 0 0 0 1-1v-1H9zm3-19a7 7 0 0 0-4 12.74V17a1 1 0 0 0 1 1h6a1 1 0 0 0 1-1v-2.26A7 7 0 0 0 12 2z',
  flag: 'M14.4 6 14 4H5v17h2v-7h5.6l.4 2h7V6z',
  people: 'M16 11a3 3 0 1 0 0-6 3 3 0 0 0 0 6zm-8 0a3 3 0 1 0 0-6 3 3 0 0 0 0 6zm0 2c-2.3 0-7 1.2-7 3.5V19h14v-2.5C15 14.2 10.3 13 8 13zm8 0c-.3 0-.6 0-1 .1 1.2.8 2 2 2 3.4V19h6v-2.5c0-2.3-4.7-3.5-7-3.5z',
};
const CHANNEL_LABEL = { chat: 'Live chat conversation', email: 'E-mail', sms: 'SMS conversation', phone: 'Phone call', web: 'Web form' };
function icon(name, cls) {
  const NS = 'http://www.w3.org/2000/svg';
  const s = document.createElementNS(NS, 'svg');
  s.setAttribute('viewBox', '0 0 24 24'); s.setAttribute('class', 'ico' + (cls ? ' ' + cls : '')); s.setAttribute('aria-hidden', 'true');
  const p = document.createElementNS(NS, 'path'); p.setAttribute('d', ICONS[name] || ICONS.chat);
  s.append(p);
  return s;
}

const state = {
  me: null, view: 'tickets', queue: 'unassigned',
  tickets: new Map(),          // id → ticket (everything we know in our scope)
  selected: null,              // ticket id shown in the detail pane
  thread: null,                // {id, msgs: Map(id → message)}
  pending: new Map(),          // client_id → {ticket_id, body, internal, at, failed}
  drafts: new Map(),           // ticket id → composer text
  mode: 'reply',               // composer: reply | note
  unread: new Set(),
  typing: new Map(),           // ticket id → timeout handle (customer typing)
  accepting: new Set(),        // tickets we asked to accept (no notification for those)
  teams: [], agents: [],
  ws: null, wsReady: false, retry: 0, retryTimer: null, everConnected: false,
  notify: 0, flashTimer: null,
  custEmails: new Map(),       // customer id → lower-cased e-mail addresses (from the side panel)
  myTyping: { ticket: 0, sentAt: 0, timer: null },
  refusals: new Map(),         // ticket id → why the server refused the last reply (e.g. opted out)
  deliveryErrors: new Map(),   // message id → delivery error from message.updated (not in REST rows)
  skew: 0, skewAt: 0,          // server clock − ours (ms), from the events' commit times
  acceptQueue: [],             // ticket ids of accept frames not answered yet, oldest first
  offerBusy: new Set(),        // offers being accepted (button disabled)
  offerErrors: new Map(),      // ticket id → why accepting the offer failed (at capacity…)
  offerIgnored: new Set(),     // "id@expires" of offer cards the agent put aside
  offerSeen: new Set(),        // "id@expires" already announced (beep once)
  offerNotes: new Map(),       // ticket id → {text, name, timer}: a lapsed offer, shown briefly
  offerChecked: new Set(),     // lapsed offers re-read once when no withdrawal came
  rules: [], sla: [], mailboxes: [],
  kbSug: new Map(),            // ticket id → {items, loading, error, seq}: suggested articles
  kbSugSeq: 0,                 // orders REST loads against live kb.suggestions events
};

/* ---------- helpers ---------- */
function el(tag, cls, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined && text !== null) e.textContent = String(text);
  return e;
}
function opt(value, label, selected) {
  const o = el('option', '', label); o.value = value; if (selected) o.selected = true; return o;
}
function uuid() {
  if (crypto.randomUUID) return crypto.randomUUID();
  return Array.from(crypto.getRandomValues(new Uint8Array(16)), (b) => b.toString(16).padStart(2, '0')).join('');
}

// body: an object sent as JSON; with opts.type, sent as it is (a File, a string) with that content type
async function api(method, path, body, opts) {
  const o = { method, headers: {}, credentials: 'same-origin' };
  if (body !== undefined && opts && opts.type) { o.headers['content-type'] = opts.type; o.body = body; }
  else if (body !== undefined) { o.headers['content-type'] = 'application/json'; o.body = JSON.stringify(body); }
  const res = await fetch(path, o);
  const data = res.status === 204 ? null : await res.json().catch(() => null);
  if (res.status === 401 && path !== '/api/v1/auth/login') { showLogin(); throw new Error('signed out'); }
  if (!res.ok) {
    const err = new Error((data && data.error && data.error.message) || res.statusText);
    err.status = res.status; err.data = data; throw err;
  }
  return data;
}
function errText(e) {
  const f = e && e.data && e.data.error && e.data.error.fields;
  return f ? Object.values(f).join('; ') : (e && e.message) || String(e);
}

function toast(text, kind) {
  const t = $('#toast');
  toast.offer = 0;
  t.textContent = text; t.className = 'toast' + (kind ? ' ' + kind : ''); t.hidden = false;
  clearTimeout(toast.timer); toast.timer = setTimeout(() => { t.hidden = true; }, 4000);
}

function when(iso) {
  if (!iso) return '';
  const d = new Date(iso);
  return d.toLocaleString(undefined, { month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit' });
}
function clock(iso) {
  const d = iso ? new Date(iso) : new Date();
  if (isNaN(d)) return '';
  return d.toLocaleTimeString(undefined, { hour: '2-digit', minute: '2-digit' });
}
function ago(iso) {
  if (!iso) return '';
  const s = (Date.now() - new Date(iso).getTime()) / 1000;
  if (s < 60) return 'now';
  if (s < 3600) return Math.floor(s / 60) + 'm';
  if (s < 86400) return Math.floor(s / 3600) + 'h';
  if (s < 7 * 86400) return Math.floor(s / 86400) + 'd';
  return new Date(iso).toLocaleDateString(undefined, { month: 'short', day: 'numeric' });
}
function dayLabel(iso) {
  const d = iso ? new Date(iso) : new Date(), today = new Date();
  if (isNaN(d)) return '';
  const y = new Date(today); y.setDate(today.getDate() - 1);
  if (d.toDateString() === today.toDateString()) return 'Today';
  if (d.toDateString() === y.toDateString()) return 'Yesterday';
  return d.toLocaleDateString(undefined, { weekday: 'short', month: 'short', day: 'numeric', year: 'numeric' });
}
function initials(name) {
  const s = String(name || '?').trim();
  if (/[\u3400-\u9fff]/.test(s[0] || '')) return s.slice(0, 1);
  return s.split(/\s+/).slice(0, 2).map((w) => w[0] || '').join('').toUpperCase() || '?';
}
function avatar(name, cls) {
  let h = 0;
  for (const ch of String(name || '')) h = (h * 31 + ch.codePointAt(0)) % 360;
  const a = el('span', 'avatar' + (cls ? ' ' + cls : ''), initials(name));
  a.style.background = `hsl(${h} 55% 88%)`; a.style.color = `hsl(${h} 45% 30%)`;
  return a;
}
function badge(text, cls) { return el('span', 'badge ' + (cls || ''), text); }
function channelBadge(ch) { const b = badge(ch, 'ch ch-' + ch); b.prepend(icon(ch)); return b; }
const isStaff = () => state.me && (state.me.role === 'admin' || state.me.role === 'manager');
const isAdmin = () => !!state.me && state.me.role === 'admin';

/* ---------- SMS segments ---------- */
// Counted exactly like gateway/lib/sms_text.c: GSM-7 when every character is in the basic
// alphabet (one septet) or the extension table (^ { } \ [ ~ ] | € and form feed: escape +
// septet = two); 160 septets in one SMS, 153 per part when split. Anything else makes the
// whole text UCS-2, counted in UTF-16 code units (an emoji is two): 70 single, 67 per part.
// An empty text is one segment. Pure: the system test calls it directly.
const GSM7_BASIC = new Set([
  ...Array.from('@$\n\r !"#%&\'()*+,-./0123456789:;<=>?ABCDEFGHIJKLMNOPQRSTUVWXYZ_abcdefghijklmnopqrstuvwxyz', (c) => c.codePointAt(0)),
  0xA3, 0xA5, 0xE8, 0xE9, 0xF9, 0xEC, 0xF2, 0xC7, 0xD8, 0xF8, 0xC5, 0xE5, 0x394, 0x3A6, 0x393, 0x39B, 0x3A9, 0x3A0,
  0x3A8, 0x3A3, 0x398, 0x39E, 0xC6, 0xE6, 0xDF, 0xC9, 0xA4, 0xA1, 0xC4, 0xD6, 0xD1, 0xDC, 0xA7, 0xBF, 0xE4, 0xF6,
  0xF1, 0xFC, 0xE0,
]);
const GSM7_EXT = new Set([...Array.from('^{}\\[~]|', (c) => c.codePointAt(0)), 0x20AC, 0x0C]);
function smsSegments(text) {
  const s = text === undefined || text === null ? '' : String(text);
  let septets = 0, gsm = true;
  for (const ch of s) {
    const cp = ch.codePointAt(0);
    const cost = GSM7_BASIC.has(cp) ? 1 : GSM7_EXT.has(cp) ? 2 : 0;
    if (!cost) { gsm = false; break; }
    septets += cost;
  }
  const units = gsm ? septets : s.length; // s.length: UTF-16 code units
  const single = gsm ? 160 : 70, multi = gsm ? 153 : 67;
  const one = units <= single;
  return { encoding: gsm ? 'gsm7' : 'ucs2', units, segments: one ? 1 : Math.ceil(units / multi), perSegment: one ? single : multi };
}
const ENCODING_LABEL = { gsm7: 'GSM-7', ucs2: 'Unicode' };
const plural = (n, word) => n + ' ' + word + (n === 1 ? '' : 's');
// "23 / 70 · 1 segment · Unicode": characters used of what the segments hold
function smsCounterText(c) {
  return c.units + ' / ' + c.segments * c.perSegment + ' · ' + plural(c.segments, 'segment') + ' · ' + ENCODING_LABEL[c.encoding];
}

/* ---------- notifications: sound + title ---------- */
let audio = null;
function unlockAudio() {
  try {
    if (!audio) audio = new (window.AudioContext || window.webkitAudioContext)();
    if (audio.state === 'suspended') audio.resume();
  } catch (e) { audio = null; }
}
document.addEventListener('pointerdown', unlockAudio, { passive: true });
document.addEventListener('keydown', unlockAudio, { passive: true });
function beep() {
  unlockAudio();
  if (!audio) return;
  const t0 = audio.currentTime;
  [[880, 0], [1320, 0.14]].forEach(([f, at]) => {
    const o = audio.createOscillator(), g = audio.createGain();
    o.type = 'sine'; o.frequency.value = f;
    g.gain.setValueAtTime(0.0001, t0 + at);
    g.gain.exponentialRampToValueAtTime(0.18, t0 + at + 0.02);
    g.gain.exponentialRampToValueAtTime(0.0001, t0 + at + 0.13);
    o.connect(g).connect(audio.destination);
    o.start(t0 + at); o.stop(t0 + at + 0.15);
  });
}
function updateTitle(flashOn) {
  const n = state.notify + state.unread.size;
  document.title = n && flashOn !== false ? `(${n}) Switchboard` : 'Switchboard';
}
function notifyAssigned(t) {
  toast('New conversation assigned to you: #' + t.id + ' · ' + (t.customer_name || ''), 'info');
  flashTitle();
}
function flashTitle() {
  state.notify++;
  beep();
  clearInterval(state.flashTimer);
  let on = true, ticks = 0;
  updateTitle(true);
  state.flashTimer = setInterval(() => {
    on = !on; ticks++;
    updateTitle(on);
    if (ticks > 12 && !document.hidden) { clearInterval(state.flashTimer); state.notify = 0; updateTitle(true); }
  }, 1000);
}
function seen() {
  if (!state.notify) return;
  state.notify = 0; clearInterval(state.flashTimer); updateTitle(true);
}
window.addEventListener('focus', seen);
document.addEventListener('visibilitychange', () => { if (!document.hidden) seen(); });

function saveUnread() {
  if (state.me) localStorage.setItem('sb.unread.' + state.me.id, JSON.stringify([...state.unread]));
  updateTitle(true);
}

/* ---------- login ---------- */
function showLogin() {
  $('#app').hidden = true; $('#login').hidden = false;
  state.me = null;
  if (typeof crmStop === 'function') crmStop();
  if (typeof marketingStop === 'function') marketingStop();
  if (typeof qualityStop === 'function') qualityStop();
  if (typeof dashboardStop === 'function') dashboardStop();
  if (typeof integrationsStop === 'function') integrationsStop();
  if (typeof rulesStop === 'function') rulesStop();
  if (typeof approvalsStop === 'function') approvalsStop();
  if (typeof objectsStop === 'function') objectsStop();
  if (typeof fieldPermsStop === 'function') fieldPermsStop();
  if (state.ws) { state.ws.onclose = null; state.ws.close(); state.ws = null; }
  clearTimeout(state.retryTimer);
  document.title = 'Switchboard';
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

/* ---------- queues and the ticket list ---------- */
function inQueue(t, q) {
  if (q === 'mine') return t.assignee_id === state.me.id || isMyOffer(t);
  if (q === 'unassigned') return !t.assignee_id;
  if (q === 'team') return !!state.me.team_id && t.team_id === state.me.team_id;
  return true;
}
function matches(t) {
  const st = $('#ticket-status').value, ch = $('#ticket-channel').value;
  if (st ? t.status !== st : !OPEN_STATUSES.includes(t.status)) return false;
  if (ch && t.channel !== ch) return false;
  return inQueue(t, state.queue);
}
function queueParams(q) {
  if (q === 'mine') return { assignee_id: 'me' };
  if (q === 'unassigned') return { assignee_id: 'none' };
  if (q === 'team') return state.me.team_id ? { team_id: String(state.me.team_id) } : null;
  return {};
}
// fromEvent: the ticket came live; a list load that started earlier must not undo it
let eventSeq = 0;
function upsert(t, fromEvent) {
  if (!t || !t.id) return null;
  const old = state.tickets.get(t.id);
  const merged = old ? { ...old, ...t } : { ...t };
  if (old && old.preview && !t.preview) merged.preview = old.preview;
  if (fromEvent) merged._seq = ++eventSeq;
  state.tickets.set(t.id, merged);
  return merged;
}

// Open work of every queue (for the counts and the default view), plus, for a specific
// status filter, that status in the current queue from the server.
async function loadTickets() {
  const st = $('#ticket-status').value, ch = $('#ticket-channel').value;
  const reqs = OPEN_STATUSES.map((s) => api('GET', '/api/v1/tickets?' + new URLSearchParams({ per_page: '200', status: s })));
  const qp = queueParams(state.queue);
  if (st && !OPEN_STATUSES.includes(st) && qp) {
    const p = new URLSearchParams({ per_page: '200', status: st, ...qp });
    if (ch) p.set('channel', ch);
    reqs.push(api('GET', '/api/v1/tickets?' + p));
  }
  const seq0 = eventSeq;
  const results = await Promise.all(reqs);
  const fresh = new Map();
  for (const r of results) for (const t of r.items) fresh.set(t.id, t);
  const liveSince = (t) => (t._seq || 0) > seq0; // changed by an event while we were loading
  // drop open tickets we no longer see (solved elsewhere, transferred away)
  for (const [id, t] of state.tickets) {
    if (!fresh.has(id) && !liveSince(t) && (OPEN_STATUSES.includes(t.status) || st === t.status) && id !== state.selected) {
      state.tickets.delete(id);
    }
  }
  for (const t of fresh.values()) {
    const known = state.tickets.get(t.id);
    if (!known || !liveSince(known)) upsert(t);
  }
  renderTickets();
}

function sortKey(t) { return new Date(t.last_message_at || t.updated_at || t.created_at || 0).getTime(); }

function renderCounts() {
  const ch = $('#ticket-channel').value;
  for (const b of $$('.queue')) {
    const q = b.dataset.queue;
    let n = 0;
    for (const t of state.tickets.values()) if (OPEN_STATUSES.includes(t.status) && (!ch || t.channel === ch) && inQueue(t, q)) n++;
    $('.count', b).textContent = n ? String(n) : '';
    b.classList.toggle('active', q === state.queue);
    b.setAttribute('aria-selected', q === state.queue ? 'true' : 'false');
  }
}

function renderTickets() {
  if (!state.me) return;
  renderCounts();
  const list = [...state.tickets.values()].filter((t) => matches(t) || t.id === state.selected);
  list.sort((a, b) => isMyOffer(b) - isMyOffer(a) || sortKey(b) - sortKey(a) || b.id - a.id);
  const ul = $('#ticket-list');
  ul.replaceChildren();
  for (const t of list) {
    const li = el('li', 'item');
    li.dataset.id = t.id;
    li.tabIndex = 0;
    if (t.id === state.selected) li.classList.add('sel');
    if (state.unread.has(t.id)) li.classList.add('unread');
    if (isMyOffer(t)) li.classList.add('offered');
    li.append(avatar(t.customer_name));
    const body = el('div', 'item-body');
    const r1 = el('div', 'r1');
    const r1end = el('span', 'r1-end');
    const sla = slaChip(t);
    if (sla) r1end.append(sla);
    r1end.append(el('span', 'time', ago(t.last_message_at || t.created_at)));
    r1.append(el('span', 'name', t.customer_name || 'Customer'), r1end);
    const r2 = el('div', 'r2');
    if (state.typing.has(t.id)) r2.append(el('span', 'typing-inline', 'typing…'));
    else if (t.preview || t.subject) r2.append(el('span', 'subj', t.preview || t.subject));
    else r2.append(el('span', 'subj none', CHANNEL_LABEL[t.channel] || t.channel));
    const r3 = el('div', 'r3');
    r3.append(channelBadge(t.channel), badge(t.status, t.status));
    if (t.priority === 'high' || t.priority === 'urgent') r3.append(badge(t.priority, t.priority));
    if (t.flagged_at) { const f = badge('⚑ flagged', 'flagged'); f.title = '投诉/Flagged: ' + (t.flag_reason || ''); r3.append(f); }
    const offered = !t.assignee_id && t.offer_agent_id;
    if (isMyOffer(t)) r3.append(offerChip(t));
    else if (offered) r3.append(badge('offered → ' + offeredName(t), 'offered'));
    else if (!t.assignee_id && t.routing_stage >= 3) r3.append(badge('escalated', 'escalated'));
    r3.append(el('span', 'assignee', t.assignee_name ? '→ ' + t.assignee_name : offered ? '' : 'unassigned'), el('span', 'tid', '#' + t.id));
    if (t.preview && t.subject) r2.title = t.subject;
    body.append(r1, r2, r3);
    li.append(body);
    if (state.unread.has(t.id)) li.append(el('span', 'dot-unread'));
    li.addEventListener('click', () => openTicket(t.id));
    li.addEventListener('keydown', (e) => { if (e.key === 'Enter') openTicket(t.id); });
    ul.append(li);
  }
  $('#ticket-empty').hidden = list.length > 0;
  renderOffers();
}

for (const b of $$('.queue')) {
  b.addEventListener('click', () => {
    state.queue = b.dataset.queue;
    localStorage.setItem('sb.queue', state.queue);
    renderTickets();
    if ($('#ticket-status').value) loadTickets().catch((e) => toast(e.message, 'bad'));
  });
}
$('#ticket-status').addEventListener('change', () => loadTickets().catch((e) => toast(e.message, 'bad')));
$('#ticket-channel').addEventListener('change', () => { renderTickets(); if ($('#ticket-status').value) loadTickets().catch(() => {}); });

/* ---------- conversation view ---------- */
async function openTicket(id) {
  if (state.selected !== id) stopMyTyping();
  saveDraft();
  state.selected = id;
  // events for this ticket that arrive while it loads are kept (merged below)
  if (!state.thread || state.thread.id !== id) state.thread = newThread(id);
  if (state.unread.delete(id)) saveUnread();
  renderTickets();
  let t;
  try {
    t = await api('GET', '/api/v1/tickets/' + id);
  } catch (e) {
    if (e.status === 404) {
      state.tickets.delete(id);
      if (state.selected === id) { state.selected = null; state.thread = null; emptyDetail('This conversation is no longer in your queues.'); }
      renderTickets();
      return;
    }
    throw e;
  }
  if (state.selected !== id) return;
  const msgs = t.messages || [];
  delete t.messages;
  upsert(t);
  if (!state.thread || state.thread.id !== id) state.thread = newThread(id);
  for (const m of msgs) state.thread.msgs.set(m.id, m);
  renderDetail();
  renderThread(true);
  loadSuggestions(id);
  loadCustomerPanel($('#customer-panel'), t.customer_id, id);
  renderTickets();
}

// "From campaign 来自活动: 双十一": the ticket was opened by a reply to a campaign; a link to
// the campaign for those who may see campaigns (marketing.js), plain text for the others
function campaignChip(t) {
  const c = el('span', 'camp-chip');
  c.dataset.campaign = t.campaign_id;
  c.append(icon('send'), el('span', 'cc-l', 'From campaign 来自活动:'));
  if (t.campaign_id && viewAllowed('campaign')) {
    const a = el('a', 'cc-name', t.campaign_name);
    a.href = viewHash('campaign', t.campaign_id);
    a.addEventListener('click', (e) => { e.preventDefault(); go('campaign', t.campaign_id); });
    c.append(a);
  } else c.append(el('span', 'cc-name', t.campaign_name));
  c.title = 'This conversation started as a reply to the campaign “' + t.campaign_name + '”';
  return c;
}

// "⚑ 投诉/Flagged: 投诉, 骗子": a customer message held a complaint keyword
function flagChip(t) {
  const c = el('span', 'flag-chip');
  c.append(icon('flag'), el('span', 'fc-l', '投诉/Flagged:'), el('span', 'fc-why', t.flag_reason || '—'));
  c.title = 'Flagged ' + when(t.flagged_at) + (t.flag_reason ? ': the customer wrote “' + t.flag_reason + '”' : '');
  return c;
}
// the customer's satisfaction rating, 1–5
function csatChip(t) {
  const n = Number(t.csat);
  const c = el('span', 'csat-chip ' + (n >= 4 ? 'good' : n === 3 ? 'mid' : 'bad'), 'CSAT ★' + n);
  c.title = 'Customer satisfaction: ' + n + ' of 5 · 满意度评分';
  return c;
}

function emptyDetail(text) {
  const d = $('#ticket-detail');
  delete d.dataset.ticket;
  const e = el('div', 'empty center'); e.append(icon('chat', 'big'), el('p', '', text));
  d.replaceChildren(e);
  $('#customer-panel').hidden = true;
}

function renderDetail() {
  const t = state.tickets.get(state.selected);
  if (!t) return;
  const d = $('#ticket-detail');
  d.dataset.ticket = t.id;
  const composerText = $('.reply textarea', d) ? $('.reply textarea', d).value : (state.drafts.get(t.id) || '');
  d.replaceChildren();

  const h = el('header', 'conv-head');
  const title = el('div', 'conv-title');
  title.append(avatar(t.customer_name, 'lg'));
  const tt = el('div', 'tt');
  tt.append(el('h2', '', t.customer_name || 'Customer'));
  const sub = el('div', 'sub');
  sub.append(channelBadge(t.channel), el('span', 'muted', '#' + t.id));
  const slaHead = slaChip(t);
  if (slaHead) sub.append(slaHead);
  if (t.flagged_at) sub.append(flagChip(t));
  if (t.csat) sub.append(csatChip(t));
  if (t.campaign_name) sub.append(campaignChip(t));
  sub.append(el('span', 'subject', t.subject || CHANNEL_LABEL[t.channel] || t.channel));
  tt.append(sub, ccLine(t));
  title.append(tt);

  const actions = el('div', 'conv-actions');
  const who = el('span', 'assignee-chip', t.assignee_name ? 'Assigned to ' + (t.assignee_id === state.me.id ? 'you' : t.assignee_name) : 'Unassigned');
  actions.append(who);
  if (isMyOffer(t)) {
    who.replaceChildren(el('span', '', 'Offered to you · '), el('span', 'offer-left', offerLeftText(t)));
    who.dataset.ticket = t.id;
    who.classList.add('offer');
    const acc = el('button', 'primary take', 'Accept 接受');
    acc.type = 'button';
    acc.disabled = state.offerBusy.has(t.id);
    acc.addEventListener('click', () => acceptOffer(t.id));
    actions.append(acc);
  } else if (t.offer_agent_id && !t.assignee_id) {
    who.textContent = 'Offered to ' + offeredName(t) + ' · awaiting answer';
  } else if (!t.assignee_id) {
    const take = el('button', 'primary take', 'Take 接单');
    take.type = 'button';
    take.addEventListener('click', () => acceptTicket(t.id, take));
    actions.append(take);
  }
  const status = el('select', 'status-select'); status.setAttribute('aria-label', 'status');
  for (const s of ['new', 'open', 'pending', 'solved', 'closed']) status.append(opt(s, s[0].toUpperCase() + s.slice(1), s === t.status));
  status.addEventListener('change', () => patchTicket(t.id, { status: status.value }, 'Status: ' + status.value));
  const prio = el('select', 'prio-select'); prio.setAttribute('aria-label', 'priority');
  for (const p of ['low', 'normal', 'high', 'urgent']) prio.append(opt(p, p[0].toUpperCase() + p.slice(1) + ' priority', p === t.priority));
  prio.addEventListener('change', () => patchTicket(t.id, { priority: prio.value }, 'Priority: ' + prio.value));
  const transfer = el('button', 'transfer-btn', 'Transfer'); transfer.type = 'button'; transfer.prepend(icon('transfer'));
  transfer.addEventListener('click', () => openTransfer(t));
  actions.append(status, prio, transfer);
  h.append(title, actions);

  const thread = el('div', 'thread');
  thread.setAttribute('aria-live', 'polite');
  const typing = el('div', 'typing-row'); typing.hidden = !state.typing.has(t.id);
  const dots = el('span', 'dots'); dots.append(el('i'), el('i'), el('i'));
  typing.append(dots, el('span', '', (t.customer_name || 'Customer') + ' is typing…'));

  const form = el('form', 'reply' + (state.mode === 'note' ? ' note-mode' : ''));
  const modes = el('div', 'modes');
  const mReply = el('button', 'mode' + (state.mode === 'reply' ? ' active' : ''), 'Reply 回复');
  const mNote = el('button', 'mode' + (state.mode === 'note' ? ' active' : ''), 'Internal note 内部备注');
  mReply.type = mNote.type = 'button';
  mReply.dataset.mode = 'reply'; mNote.dataset.mode = 'note';
  modes.append(mReply, mNote);
  const ta = el('textarea');
  ta.value = composerText;
  const bar = el('div', 'bar');
  const hint = el('span', 'hint', 'Enter to send · Shift+Enter for a new line');
  const send = el('button', 'primary', state.mode === 'note' ? 'Add note' : 'Send'); send.type = 'submit';
  const end = el('div', 'bar-end');
  // SMS: what the reply will cost, counted like the server counts it (the sent text is trimmed)
  const counter = t.channel === 'sms' ? el('span', 'sms-count') : null;
  const count = () => {
    if (!counter) return;
    const c = smsSegments(ta.value.trim());
    counter.textContent = smsCounterText(c);
    counter.classList.toggle('many', c.segments >= 3);
    counter.hidden = state.mode === 'note';
  };
  if (counter) {
    counter.title = 'GSM-7: 160 characters in one SMS, 153 per part when split; ^ { } [ ] ~ | \\ € count as two.\n' +
      'Any other character (Chinese, emoji, ú, `…) makes it Unicode: 70 in one SMS, 67 per part; an emoji counts as two.';
    end.append(counter);
  }
  end.append(send);
  bar.append(hint, end);
  form.append(modes);
  const refused = state.refusals.get(t.id);
  if (refused) form.append(refusalAlert(t.id, refused));
  form.append(ta, bar);
  count();
  const setMode = (m) => {
    state.mode = m;
    count();
    form.classList.toggle('note-mode', m === 'note');
    mReply.classList.toggle('active', m === 'reply'); mNote.classList.toggle('active', m === 'note');
    send.textContent = m === 'note' ? 'Add note' : 'Send';
    ta.placeholder = m === 'note' ? 'Only agents see notes · 仅坐席可见' : 'Reply to ' + (t.customer_name || 'the customer') + ' via ' + t.channel + ' · 回复客户';
    if (m === 'note') stopMyTyping();
    ta.focus();
  };
  mReply.addEventListener('click', () => setMode('reply'));
  mNote.addEventListener('click', () => setMode('note'));
  ta.placeholder = state.mode === 'note' ? 'Only agents see notes · 仅坐席可见' : 'Reply to ' + (t.customer_name || 'the customer') + ' via ' + t.channel + ' · 回复客户';
  ta.addEventListener('keydown', (e) => {
    if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) { e.preventDefault(); form.requestSubmit(); }
  });
  ta.addEventListener('input', () => { state.drafts.set(t.id, ta.value); myTyping(t, ta.value); count(); });
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    const body = ta.value.trim();
    if (!body) return;
    ta.value = ''; ta.style.height = ''; state.drafts.delete(t.id);
    count();
    if (state.refusals.delete(t.id)) { const a = $('.composer-alert', form); if (a) a.remove(); }
    stopMyTyping();
    sendReply(t.id, body, state.mode === 'note');
    ta.focus();
  });
  d.append(h, thread, typing, kbPanel(t), form);
  renderRoutingSection();
}

// Shown above the composer when the server refused a reply it will keep refusing (the
// customer opted out of SMS): the text went back into the box, nothing was stored.
function refusalAlert(ticketId, text) {
  const box = el('div', 'composer-alert');
  box.setAttribute('role', 'alert');
  const msg = el('div', 'ca-text');
  msg.append(el('strong', '', 'Not sent: '), document.createTextNode(text));
  const x = el('button', 'ca-close', '×');
  x.type = 'button'; x.title = 'Dismiss'; x.setAttribute('aria-label', 'Dismiss');
  x.addEventListener('click', () => { state.refusals.delete(ticketId); box.remove(); });
  box.append(icon('alert'), msg, x);
  return box;
}

function refuseReply(p, text) {
  state.pending.delete(p.client_id);
  state.refusals.set(p.ticket_id, text || 'The reply was refused.');
  // the agent's draft is not lost: back into the composer (before anything typed since)
  const ta = state.selected === p.ticket_id ? $('#ticket-detail .reply textarea') : null;
  if (ta) {
    const form = ta.closest('form');
    const old = $('.composer-alert', form);
    const alert = refusalAlert(p.ticket_id, state.refusals.get(p.ticket_id));
    if (old) old.replaceWith(alert); else form.insertBefore(alert, ta);
    ta.value = ta.value.trim() ? p.body + '\n' + ta.value : p.body;
    ta.dispatchEvent(new Event('input')); // keeps the draft, updates the SMS counter
    ta.focus();
    ta.setSelectionRange(ta.value.length, ta.value.length);
  } else {
    const d = state.drafts.get(p.ticket_id);
    state.drafts.set(p.ticket_id, d && d.trim() ? p.body + '\n' + d : p.body);
  }
  renderThread();
}
const isRefusal = (code) => code === 'opted_out';

function saveDraft() {
  const ta = $('#ticket-detail .reply textarea');
  if (ta && state.selected) {
    if (ta.value) state.drafts.set(state.selected, ta.value); else state.drafts.delete(state.selected);
  }
}

function msgKind(m) {
  if (m.author_type === 'system') return 'sys';
  if (m.internal) return 'note';
  if (m.direction === 'in') return 'in';
  if (m.author_type === 'bot') return 'bot';
  return 'out';
}

// Outbound delivery: a mark in the meta line; failed and ambiguous also get a line under
// the bubble (the provider's error when we have it from message.updated).
const DELIVERY = {
  queued: '◷ Queued', sending: '◷ Sending…', sent: '✓ Sent', delivered: '✓✓ Delivered',
  failed: '⚠ Not delivered', ambiguous: '⚠ Unconfirmed',
};
function deliveryMark(m) {
  const label = DELIVERY[m.status] || m.status;
  const s = el('span', 'state st-' + m.status);
  const tick = /^✓+ /.exec(label); // ✓✓ drawn as one overlapping double tick
  if (tick) s.append(el('span', 'tick', tick[0].trim()), document.createTextNode(label.slice(tick[0].length - 1)));
  else s.textContent = label;
  if (m.status === 'delivered') s.title = 'The carrier confirmed delivery to the customer';
  if (m.status === 'sent') s.title = m.channel === 'chat' ? 'Shown to the customer' : 'Handed to the provider; no delivery report yet';
  return s;
}
function deliveryNote(m) {
  const err = m.error || state.deliveryErrors.get(m.id) || '';
  if (m.status === 'failed') {
    const d = el('div', 'delivery bad');
    d.setAttribute('role', 'status');
    d.append(icon('alert'), el('span', 'why', err || 'The message could not be delivered.'));
    return d;
  }
  if (m.status === 'ambiguous') {
    const d = el('div', 'delivery warn');
    d.setAttribute('role', 'status');
    const txt = el('div', 'dl-text');
    txt.append(el('span', 'dl-head', 'May not have been delivered — check with the customer before resending'));
    if (err) txt.append(el('span', 'why', err));
    d.append(icon('alert'), txt);
    return d;
  }
  return null;
}

function renderThread(forceBottom) {
  const box = $('#ticket-detail .thread');
  if (!box || !state.thread || $('#ticket-detail').dataset.ticket !== String(state.thread.id)) return;
  const t = state.tickets.get(state.thread.id) || {};
  const near = box.scrollHeight - box.scrollTop - box.clientHeight < 120;
  box.replaceChildren();
  const items = [...state.thread.msgs.values()].sort((a, b) => a.id - b.id);
  for (const p of state.pending.values()) if (p.ticket_id === state.thread.id) items.push({ pending: p });
  if (!items.length) box.append(el('div', 'empty', 'No messages yet.'));
  let day = '';
  for (const m of items) {
    const at = m.pending ? m.pending.at : m.created_at;
    const dl = dayLabel(at);
    if (dl !== day) { day = dl; box.append(el('div', 'day', dl)); }
    if (m.pending) { box.append(pendingBubble(m.pending)); continue; }
    const kind = msgKind(m);
    if (kind === 'sys') { box.append(el('div', 'msg sys', m.body_text + ' · ' + clock(m.created_at))); continue; }
    const row = el('div', 'row ' + kind);
    const b = messageBubble(m, kind);
    b.dataset.id = m.id;
    if (kind === 'note') { const nl = el('span', 'note-label', 'Internal note'); nl.prepend(icon('lock')); b.prepend(nl); }
    if (kind === 'bot') {
      const bl = el('span', 'bot-label', m.kb_article_id ? 'Automatic · article offered 自助解答' : 'Automatic');
      bl.prepend(icon('auto'));
      bl.title = m.kb_article_id ? 'Switchboard offered help article #' + m.kb_article_id + ' to the customer (self-service)'
        : 'Sent by Switchboard, not by an agent';
      b.prepend(bl);
    }
    const meta = el('div', 'meta');
    const author = kind === 'in' ? (t.customer_name || 'Customer') : (m.author_name || (m.author_type === 'bot' ? 'Bot' : 'Agent'));
    meta.append(el('span', 'author', author), el('span', '', clock(m.created_at)));
    if (m.channel && (m.channel !== t.channel || kind !== 'note')) meta.append(channelBadge(m.channel));
    if (m.channel === 'sms' && m.segments > 1) {
      const sg = el('span', 'segs', m.segments + ' segments');
      sg.title = 'Billed as ' + m.segments + ' SMS' + (ENCODING_LABEL[m.encoding] ? ' (' + ENCODING_LABEL[m.encoding] + ')' : '');
      meta.append(sg);
    }
    if (m.body_html) meta.append(htmlToggle(m, row, b));
    if (kind === 'out' || kind === 'bot') meta.append(deliveryMark(m));
    row.append(b, meta);
    const dn = kind === 'out' || kind === 'bot' ? deliveryNote(m) : null;
    if (dn) row.append(dn);
    if (m.body_html && state.thread.htmlOpen.has(m.id)) showHtml(m, row, b, true);
    box.append(row);
  }
  if (forceBottom || near) box.scrollTop = box.scrollHeight;
}

/* ---------- e-mail messages: quoted text, original HTML, attachments ---------- */
// quoteOpen/htmlOpen: message ids whose toggles the agent opened (kept across re-renders)
function newThread(id) { return { id, msgs: new Map(), quoteOpen: new Set(), htmlOpen: new Set() }; }

function humanSize(n) {
  n = Number(n) || 0;
  if (n < 1024) return n + ' B';
  const units = ['KB', 'MB', 'GB', 'TB'];
  let v = n, i = -1;
  do { v /= 1024; i++; } while (v >= 1024 && i < units.length - 1);
  return (v < 10 ? String(Math.round(v * 10) / 10) : String(Math.round(v))) + ' ' + units[i];
}

// A plain message is one text node, as before. One with collapsed quoted history or
// attachments gets child elements, all text: body_text/body_visible never become markup.
function messageBubble(m, kind) {
  const atts = Array.isArray(m.attachments) ? m.attachments : [];
  const quoted = typeof m.body_visible === 'string' && m.body_visible !== m.body_text;
  if (!quoted && !atts.length) return el('div', 'msg ' + kind, m.body_text);
  const b = el('div', 'msg ' + kind + ' rich');
  const text = el('div', 'body-text');
  b.append(text);
  if (quoted) {
    const tg = el('button', 'quote-toggle');
    tg.type = 'button';
    const set = (open) => {
      if (open) state.thread.quoteOpen.add(m.id); else state.thread.quoteOpen.delete(m.id);
      const shown = open ? m.body_text : m.body_visible.replace(/\s+$/, '');
      text.textContent = shown;
      text.hidden = !shown;
      tg.textContent = open ? '··· hide quoted text' : '··· show quoted text';
      tg.setAttribute('aria-expanded', open ? 'true' : 'false');
      tg.classList.toggle('open', open);
    };
    tg.addEventListener('click', () => set(!state.thread.quoteOpen.has(m.id)));
    set(state.thread.quoteOpen.has(m.id));
    b.append(tg);
  } else {
    text.textContent = m.body_text;
  }
  if (atts.length) {
    const list = el('div', 'atts');
    for (const a of atts) list.append(attachmentChip(a));
    b.append(list);
  }
  return b;
}

function attachmentChip(a) {
  const name = a.filename || 'attachment';
  const chip = el(a.stored ? 'a' : 'span', 'att' + (a.stored ? '' : ' missing'));
  chip.title = name + (a.content_type ? ' · ' + a.content_type : '') + ' · ' + humanSize(a.size) +
    (a.stored ? '' : ' · too large to keep: only its details were stored');
  chip.append(icon('clip'), el('span', 'att-name', name), el('span', 'att-size', humanSize(a.size)));
  if (!a.stored) { chip.append(el('span', 'att-state', 'not stored')); return chip; }
  const url = '/api/v1/attachments/' + encodeURIComponent(a.id) + '/content';
  chip.href = url;           // the session cookie authorises a plain download too
  chip.download = name;
  chip.setAttribute('aria-label', 'Download ' + name);
  chip.append(icon('download', 'att-dl'));
  chip.addEventListener('click', (ev) => {
    // fetch first so a refusal shows as a message, not as a downloaded error page
    ev.preventDefault();
    if (chip.classList.contains('busy')) return;
    chip.classList.add('busy');
    downloadAttachment(url, name).catch((e) => toast('Download failed: ' + errText(e), 'bad'))
      .finally(() => chip.classList.remove('busy'));
  });
  return chip;
}

async function downloadAttachment(url, name) {
  const res = await fetch(url, { credentials: 'same-origin' });
  if (res.status === 401) { showLogin(); throw new Error('signed out'); }
  if (!res.ok) {
    const data = await res.json().catch(() => null);
    throw new Error((data && data.error && data.error.message) || res.statusText || ('HTTP ' + res.status));
  }
  const blob = await res.blob();
  const href = URL.createObjectURL(blob);
  const a = el('a');
  a.href = href; a.download = name; a.hidden = true;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(href), 60000);
}

// The original HTML part is hostile: it is shown only in a frame with an empty sandbox
// (no scripts, opaque origin, no forms, popups or top navigation) and a CSP of its own
// that loads nothing from the network (no remote images, trackers, fonts or styles).
const HTML_FRAME_HEAD = '<!doctype html><meta charset="utf-8">' +
  '<meta http-equiv="Content-Security-Policy" content="default-src \'none\'; img-src data:; style-src \'unsafe-inline\'">' +
  '<meta name="referrer" content="no-referrer">' +
  '<style>html{background:#fff;color:#1f2937}body{margin:12px 14px;font:14px/1.5 -apple-system,"Segoe UI","PingFang SC",' +
  '"Microsoft YaHei",Roboto,sans-serif;overflow-wrap:anywhere}img{max-width:100%;height:auto}' +
  'table{max-width:100%}pre{white-space:pre-wrap}blockquote{margin:0 0 0 .6em;padding-left:.8em;border-left:3px solid #e5e7eb;color:#6b7280}</style>';

function htmlToggle(m, row, b) {
  const tg = el('button', 'link html-toggle');
  tg.type = 'button';
  tg.prepend(icon('code'));
  tg.append(document.createTextNode(state.thread.htmlOpen.has(m.id) ? 'Hide original (HTML)' : 'View original (HTML)'));
  tg.setAttribute('aria-expanded', state.thread.htmlOpen.has(m.id) ? 'true' : 'false');
  tg.addEventListener('click', () => {
    const open = !state.thread.htmlOpen.has(m.id);
    if (open) state.thread.htmlOpen.add(m.id); else state.thread.htmlOpen.delete(m.id);
    tg.lastChild.textContent = open ? 'Hide original (HTML)' : 'View original (HTML)';
    tg.setAttribute('aria-expanded', open ? 'true' : 'false');
    showHtml(m, row, b, open);
    if (open) $('.html-view', b).scrollIntoView({ block: 'nearest', behavior: 'smooth' });
  });
  return tg;
}

function showHtml(m, row, b, open) {
  const old = $('.html-view', b);
  if (old) old.remove();
  row.classList.toggle('wide', open);
  if (!open) return;
  const box = el('div', 'html-view');
  const f = document.createElement('iframe');
  f.setAttribute('sandbox', '');                  // empty: every restriction applies
  f.setAttribute('referrerpolicy', 'no-referrer');
  f.title = 'Original HTML of the e-mail (sandboxed, images and scripts blocked)';
  f.srcdoc = HTML_FRAME_HEAD + String(m.body_html);
  box.append(f, el('div', 'html-note', 'Original HTML · sandboxed: scripts, forms and remote content are blocked'));
  const atts = $('.atts', b);
  if (atts) b.insertBefore(box, atts); else b.append(box);
}

/* ---------- suggested articles (knowledge base) ---------- */
// The three best published articles for the ticket's subject and latest customer message:
// read once when a ticket opens (GET /tickets/{id}/suggestions), then replaced live by the
// kb.suggestions event every customer message brings. Insert puts an article's text (its
// Markdown, lightly stripped) and its public link into the reply box at the cursor and
// counts the use; Open shows it in the Knowledge view.
async function loadSuggestions(id) {
  const seq = ++state.kbSugSeq;
  const old = state.kbSug.get(id);
  state.kbSug.set(id, { items: old ? old.items : null, loading: true, seq });
  repaintKbPanel(id);
  let items = null, error = null;
  try { items = (await api('GET', '/api/v1/tickets/' + id + '/suggestions')).items || []; } catch (e) { error = errText(e); }
  const cur = state.kbSug.get(id);
  if (cur && cur.seq !== seq) return; // a live event (or a newer load) came meanwhile: it wins
  state.kbSug.set(id, { items: items || (cur && cur.items) || [], error: items ? null : error, seq });
  repaintKbPanel(id);
}
function onSuggestions(m) {
  if (!m.ticket_id || !Array.isArray(m.items)) return;
  state.kbSug.set(m.ticket_id, { items: m.items, message_id: m.message_id, seq: ++state.kbSugSeq, live: true });
  if (state.kbSug.size > 200) state.kbSug.delete(state.kbSug.keys().next().value);
  repaintKbPanel(m.ticket_id);
}
function repaintKbPanel(id) {
  const old = $('#ticket-detail .kb-sug');
  const t = state.tickets.get(id);
  if (old && t && old.dataset.ticket === String(id)) old.replaceWith(kbPanel(t));
}
const kbPanelOpen = () => localStorage.getItem('sb.kbPanel') !== 'closed';

function kbPanel(t) {
  const s = state.kbSug.get(t.id) || { loading: true };
  const items = s.items || [];
  const box = el('section', 'kb-sug' + (kbPanelOpen() ? '' : ' closed'));
  box.dataset.ticket = t.id;
  box.setAttribute('aria-label', 'Suggested articles');
  const head = el('button', 'kb-sug-head');
  head.type = 'button';
  head.setAttribute('aria-expanded', kbPanelOpen() ? 'true' : 'false');
  const ttl = el('span', 'kb-sug-title', 'Suggested articles 推荐文章');
  ttl.prepend(icon('bulb'));
  head.append(ttl);
  if (items.length) head.append(el('span', 'kb-sug-count', String(items.length)));
  if (s.loading && !s.items) head.append(el('span', 'kb-sug-state', 'Looking… 查找中'));
  head.append(el('span', 'kb-sug-for', s.live ? 'for the latest message · 根据最新消息' : 'for this conversation · 根据会话内容'),
    el('span', 'kb-sug-caret', kbPanelOpen() ? '▾' : '▸'));
  head.addEventListener('click', () => {
    localStorage.setItem('sb.kbPanel', kbPanelOpen() ? 'closed' : 'open');
    repaintKbPanel(t.id);
  });
  box.append(head);
  if (!kbPanelOpen()) return box;
  if (s.error && !items.length) {
    box.append(el('p', 'kb-sug-empty', 'Could not load suggestions: ' + s.error));
    return box;
  }
  if (!items.length) {
    if (!s.loading) box.append(el('p', 'kb-sug-empty', 'No matching articles · 没有匹配的文章'));
    return box;
  }
  const list = el('ol', 'kb-sug-list');
  for (const a of items) list.append(kbSugItem(t, a));
  box.append(list);
  return box;
}
function kbSugItem(t, a) {
  const li = el('li', 'kb-sug-item');
  li.dataset.id = a.id;
  const title = el('div', 'kb-sug-name', a.title);
  title.title = a.title;
  const snip = el('div', 'kb-sug-snip');
  snip.innerHTML = a.snippet || ''; // trusted: escaped by the server, matches in <mark>
  const foot = el('div', 'kb-sug-foot');
  const meta = el('span', 'kb-sug-meta', [a.category, a.locale === 'en' ? 'EN' : a.locale === 'zh' ? '中文' : a.locale].filter(Boolean).join(' · '));
  const open = el('a', 'kb-sug-open', 'Open 打开');
  open.href = viewHash('kb', a.id);
  open.title = 'Open the article in the Knowledge view';
  open.addEventListener('click', (e) => {
    if (e.ctrlKey || e.metaKey || e.shiftKey || e.button !== 0) return; // a new tab: the browser's
    e.preventDefault();
    go('kb', a.id);
  });
  const ins = el('button', 'kb-sug-insert', 'Insert 插入');
  ins.type = 'button';
  ins.title = 'Put the article\'s text and link into the reply at the cursor';
  ins.addEventListener('click', () => insertArticle(t.id, a, ins));
  foot.append(meta, el('span', 'grow'), open, ins);
  li.append(title, snip, foot);
  return li;
}
// Markdown as plain text for a reply: markers gone, list items as bullets, links as "text (url)"
function markdownToText(md) {
  const lines = String(md || '').replace(/\r\n?/g, '\n').split('\n');
  const out = [];
  let fence = false;
  for (let line of lines) {
    if (/^\s*(```|~~~)/.test(line)) { fence = !fence; continue; }
    if (fence) { out.push(line); continue; }
    if (/^\s*\|?\s*:?-{3,}:?\s*(\|\s*:?-{3,}:?\s*)*\|?\s*$/.test(line)) continue;       // a table's rule
    if (/^\s*([-*_])(\s*\1){2,}\s*$/.test(line)) continue;                           // a horizontal rule
    line = line.replace(/^\s{0,3}#{1,6}\s+/, '').replace(/\s+#+\s*$/, '')              // headings
      .replace(/^\s*(>\s?)+/, '')                                                 // quotes
      .replace(/^(\s*)[-*+]\s+(\[[ xX]\]\s+)?/, '$1• ');                            // bullets
    if (/^\s*\|.*\|\s*$/.test(line)) line = line.trim().replace(/^\||\|$/g, '').split('|').map((c) => c.trim()).join(' · ');
    line = line
      .replace(/\\([\\`*_{}\[\]()#+\-.!|>~])/g, (m0, c) => String.fromCharCode(0xE000 + c.charCodeAt(0))) // escapes: kept aside
      .replace(/!\[([^\]]*)\]\([^)]*\)/g, '$1')                                       // images: their alt text
      .replace(/\[([^\]]+)\]\(([^)\s]+)(?:\s+"[^"]*")?\)/g, (m0, txt, url) => (txt === url ? url : txt + ' (' + url + ')'))
      .replace(/<((?:https?|mailto):[^>\s]+)>/g, '$1')
      .replace(/(\*\*|__)(?=\S)([^]*?\S)\1/g, '$2')                                   // strong
      .replace(/(^|[^\w*])\*(?=\S)([^*]*?\S)\*(?!\w)/g, '$1$2')                          // em
      .replace(/(^|[^\w])_(?=\S)([^_]*?\S)_(?!\w)/g, '$1$2')
      .replace(/~~(?=\S)([^]*?\S)~~/g, '$1')
      .replace(/`([^`]+)`/g, '$1')
      .replace(/[\uE000-\uE07F]/g, (c) => String.fromCharCode(c.charCodeAt(0) - 0xE000));
    out.push(line.replace(/\s+$/, ''));
  }
  return out.join('\n').replace(/\n{3,}/g, '\n\n').trim();
}
async function insertArticle(ticketId, a, btn) {
  btn.disabled = true;
  let art;
  try { art = await api('GET', '/api/v1/kb/articles/' + a.id); } catch (e) {
    btn.disabled = false;
    toast(e.status === 404 ? 'That article is no longer published. 文章已下线' : 'Could not load the article: ' + errText(e), 'bad');
    return;
  }
  btn.disabled = false;
  const ta = state.selected === ticketId ? $('#ticket-detail .reply textarea') : null;
  if (!ta) return;
  const text = markdownToText(art.body) + '\n\n' + location.origin + '/kb#/article/' + a.id;
  const start = ta.selectionStart ?? ta.value.length, end = ta.selectionEnd ?? start;
  const before = ta.value.slice(0, start), after = ta.value.slice(end);
  const pre = before && !/\n\s*$/.test(before) ? (/\n$/.test(before) ? '\n' : '\n\n') : '';
  const post = after && !/^\s*\n/.test(after) ? '\n\n' : '';
  ta.focus();
  ta.setRangeText(pre + text + post, start, end, 'end');
  if (post) ta.setSelectionRange(ta.selectionEnd - post.length, ta.selectionEnd - post.length);
  ta.dispatchEvent(new Event('input')); // the draft, the SMS counter, typing
  // room to read what came in (up to the box's max-height), its first line in view
  ta.style.height = 'auto';
  ta.style.height = Math.min(220, ta.scrollHeight + 2) + 'px';
  const lh = parseFloat(getComputedStyle(ta).lineHeight) || 21;
  ta.scrollTop = Math.max(0, (before + pre).split('\n').length - 2) * lh;
  btn.textContent = 'Inserted ✓';
  btn.classList.add('done');
  setTimeout(() => { if (btn.isConnected) { btn.textContent = 'Insert 插入'; btn.classList.remove('done'); } }, 2500);
  api('POST', '/api/v1/kb/articles/' + a.id + '/used').catch((e) => toast('Usage not counted: ' + errText(e), 'bad'));
}

/* ---------- e-mail participants ---------- */
// To/Cc addresses the server copies on e-mail replies (not the customer's own address).
function ccList(t) {
  if (t.channel !== 'email' || !Array.isArray(t.participants)) return [];
  const mine = state.custEmails.get(t.customer_id) || [];
  const seen = new Set();
  const out = [];
  for (const p of t.participants) {
    if (!p || (p.role !== 'to' && p.role !== 'cc') || typeof p.address !== 'string') continue;
    const k = p.address.toLowerCase();
    if (mine.includes(k) || seen.has(k)) continue;
    seen.add(k); out.push(p.address);
  }
  return out;
}
function ccLine(t) {
  const cc = ccList(t);
  const line = el('div', 'cc-line');
  line.hidden = !cc.length;
  if (cc.length) {
    line.title = 'E-mail replies are copied to: ' + cc.join(', ');
    line.append(icon('people'), el('span', 'cc-label', 'Cc:'), el('span', 'cc-addrs', cc.join(', ')));
  }
  return line;
}
function refreshCcLine() {
  const t = state.tickets.get(state.selected);
  const old = $('#ticket-detail .conv-head .cc-line');
  if (t && old) old.replaceWith(ccLine(t));
}

function pendingBubble(p) {
  const kind = p.internal ? 'note' : 'out';
  const row = el('div', 'row ' + kind);
  // not ".msg.out" until the server has stored it: a pending bubble is "msg mine pending"
  const b = el('div', 'msg mine ' + (p.internal ? 'note-pending ' : '') + (p.failed ? 'failed' : 'pending'), p.body);
  b.dataset.clientId = p.client_id;
  const meta = el('div', 'meta');
  meta.append(el('span', 'author', state.me.name), el('span', '', clock(p.at)));
  if (p.failed) {
    const retry = el('button', 'link', 'Retry');
    retry.type = 'button';
    retry.addEventListener('click', () => { p.failed = null; transmit(p); renderThread(); });
    const drop = el('button', 'link', 'Discard');
    drop.type = 'button';
    drop.addEventListener('click', () => { state.pending.delete(p.client_id); renderThread(); });
    meta.append(el('span', 'state st-failed', '⚠ ' + p.failed), retry, drop);
  } else {
    meta.append(el('span', 'state st-pending', '◷ sending…'));
  }
  row.append(b, meta);
  return row;
}

/* ---------- actions ---------- */
function sendReply(ticketId, body, internal) {
  const p = { client_id: uuid(), ticket_id: ticketId, body, internal, at: new Date().toISOString(), failed: null };
  state.pending.set(p.client_id, p);
  renderThread(true);
  transmit(p);
}

function transmit(p) {
  if (wsSend({ type: 'reply', client_id: p.client_id, ticket_id: p.ticket_id, body: p.body, internal: p.internal })) return;
  // socket down: REST, same client_id (stored once either way)
  api('POST', '/api/v1/tickets/' + p.ticket_id + '/messages', { body_text: p.body, internal: p.internal, client_id: p.client_id })
    .then((m) => onReplyStored(p.client_id, m && m.id, m))
    .catch((e) => {
      const code = e.data && e.data.error && e.data.error.code;
      if (e.status && isRefusal(code)) refuseReply(p, e.message);
      else if (e.status) { p.failed = errText(e); renderThread(); } // refused: show it; network: keep for the socket
    });
}

function onReplyStored(clientId, messageId, msg) {
  const p = state.pending.get(clientId);
  state.pending.delete(clientId);
  if (state.thread && p && state.thread.id === p.ticket_id && messageId && !state.thread.msgs.has(messageId)) {
    state.thread.msgs.set(messageId, msg && msg.id ? msg : {
      id: messageId, ticket_id: p.ticket_id, direction: 'out', author_type: 'agent', author_id: state.me.id,
      author_name: state.me.name, body_text: p.body, internal: p.internal,
      status: p.internal ? 'note' : ((state.tickets.get(p.ticket_id) || {}).channel === 'chat' ? 'sent' : 'queued'),
      channel: (state.tickets.get(p.ticket_id) || {}).channel, created_at: new Date().toISOString(),
    });
  }
  if (p) {
    const t = state.tickets.get(p.ticket_id);
    if (t && !p.internal) { t.preview = p.body; t.last_message_at = new Date().toISOString(); }
  }
  renderThread();
  renderTickets();
}

function acceptTicket(id, btn) {
  if (btn) btn.disabled = true;
  state.accepting.add(id);
  if (wsSend({ type: 'accept', ticket_id: id })) { state.acceptQueue.push(id); return; }
  patchTicket(id, { assignee_id: state.me.id }, 'Taken').finally(() => {
    if (btn) btn.disabled = false;
    state.offerBusy.delete(id);
    renderOffers();
  });
}

async function patchTicket(id, body, okText) {
  try {
    const t = await api('PATCH', '/api/v1/tickets/' + id, body);
    upsert(t);
    toast(okText, 'good');
    if (state.selected === id) renderDetail(), renderThread();
    renderTickets();
  } catch (e) {
    toast(errText(e), 'bad');
    if (state.selected === id) renderDetail(), renderThread();
  }
}

/* ---------- transfer ---------- */
async function loadDirectory() {
  try { state.teams = (await api('GET', '/api/v1/teams?per_page=200')).items; } catch (e) { state.teams = []; }
  if (isStaff()) {
    try { state.agents = (await api('GET', '/api/v1/agents?per_page=200')).items.filter((a) => a.active !== false); } catch (e) { state.agents = []; }
  }
}
function fillAgents() {
  const team = Number($('#transfer-team').value) || 0;
  const sel = $('#transfer-agent');
  sel.replaceChildren(opt('', team ? '— anyone in the team —' : '— keep as is —'));
  for (const a of state.agents) {
    if (team && a.team_id !== team) continue;
    sel.append(opt(String(a.id), a.name + ' · ' + a.role + ' · ' + (a.presence || 'offline')));
  }
}
function openTransfer(t) {
  const dlg = $('#transfer');
  dlg.dataset.ticket = t.id;
  const teamSel = $('#transfer-team');
  teamSel.replaceChildren(opt('', '— keep team —'));
  for (const tm of state.teams) teamSel.append(opt(String(tm.id), tm.name + (tm.id === t.team_id ? ' (current)' : '')));
  $('#transfer-agent-row').hidden = !isStaff();
  fillAgents();
  $('#transfer-note').value = '';
  $('#transfer-error').textContent = '';
  dlg.showModal();
}
$('#transfer-team').addEventListener('change', fillAgents);
$('#transfer-cancel').addEventListener('click', () => $('#transfer').close());
$('#transfer-form').addEventListener('submit', async (ev) => {
  ev.preventDefault();
  const id = Number($('#transfer').dataset.ticket);
  const body = {};
  const team = Number($('#transfer-team').value), agent = Number($('#transfer-agent').value);
  if (team) body.team_id = team;
  if (agent && isStaff()) body.assignee_id = agent;
  const note = $('#transfer-note').value.trim();
  if (note) body.note = note;
  if (!body.team_id && !body.assignee_id) { $('#transfer-error').textContent = 'Choose a team or an agent.'; return; }
  $('#transfer-ok').disabled = true;
  try {
    const t = await api('POST', '/api/v1/tickets/' + id + '/transfer', body);
    $('#transfer').close();
    upsert(t);
    toast('Transferred #' + id + (t.assignee_name ? ' to ' + t.assignee_name : ''), 'good');
    if (state.selected === id) openTicket(id).catch(() => {});
    else renderTickets();
  } catch (e) {
    $('#transfer-error').textContent = errText(e);
  } finally {
    $('#transfer-ok').disabled = false;
  }
});

/* ---------- customer panel ---------- */
async function loadCustomerPanel(pane, customerId, ticketId) {
  pane.hidden = false;
  pane.dataset.customer = customerId;
  let c, recent;
  try {
    [c, recent] = await Promise.all([
      api('GET', '/api/v1/customers/' + customerId),
      api('GET', '/api/v1/tickets?' + new URLSearchParams({ customer_id: String(customerId), per_page: '8' })).catch(() => ({ items: [] })),
    ]);
  } catch (e) {
    pane.replaceChildren(el('p', 'muted pad', e.status === 404 ? 'Customer details are outside your scope.' : e.message));
    return;
  }
  if (String(pane.dataset.customer) !== String(customerId)) return;
  state.custEmails.set(c.id, (c.identities || []).filter((i) => i.kind === 'email' && typeof i.value === 'string')
    .map((i) => i.value.toLowerCase()));
  if (state.selected && (state.tickets.get(state.selected) || {}).customer_id === c.id) refreshCcLine();
  pane.replaceChildren();
  const top = el('div', 'cust-top');
  top.append(avatar(c.name, 'xl'), el('h3', '', c.name), el('div', 'muted', c.customer_no || ''));
  if (c.company) { const co = el('div', 'company', c.company); co.prepend(icon('company')); top.append(co); }
  const open360 = el('button', 'small open-360', 'Open 360° profile · 客户全景');
  open360.type = 'button';
  open360.addEventListener('click', () => go('customer', c.id));
  top.append(open360);
  pane.append(top);
  if (ticketId && pane.id === 'customer-panel') {
    const rs = el('section', 'cust-sec routing-sec');
    rs.id = 'routing-sec';
    rs.dataset.ticket = ticketId;
    pane.append(rs);
    renderRoutingSection();
  }

  const sec = (title) => { const s = el('section', 'cust-sec'); s.append(el('h4', '', title)); pane.append(s); return s; };
  const facts = sec('Details');
  const dl = el('dl');
  const fact = (k, v) => { if (v) { dl.append(el('dt', '', k), el('dd', '', v)); } };
  fact('Stage', c.stage); fact('Type', c.type); fact('Grade', c.grade); fact('Region', c.region);
  fact('Industry', c.industry); fact('Source', c.source); fact('Last contact', when(c.last_contact_at));
  facts.append(dl);

  const ids = sec('Contact');
  const ICON = { email: 'email', phone: 'phone', chat: 'chat', external: 'external' };
  for (const i of c.identities || []) {
    const row = el('div', 'ident');
    row.append(icon(ICON[i.kind] || 'external'), el('span', 'val', i.kind === 'chat' ? 'web chat · ' + i.value : i.value));
    if (!i.verified) row.append(badge('unverified', 'warn'));
    ids.append(row);
  }
  if (!(c.identities || []).length) ids.append(el('p', 'muted', 'No contact details yet.'));

  const tags = sec('Tags');
  const tw = el('div', 'tags');
  for (const tg of c.tags || []) tw.append(badge(tg, 'tag'));
  if (!(c.tags || []).length) tw.append(el('span', 'muted', 'No tags'));
  tags.append(tw);

  const rec = sec('Recent conversations');
  for (const t of recent.items) {
    const r = el('button', 'recent' + (t.id === ticketId ? ' current' : ''));
    r.type = 'button';
    r.append(el('span', 'rs', t.subject || CHANNEL_LABEL[t.channel] || t.channel));
    const m = el('span', 'rm'); m.append(channelBadge(t.channel), badge(t.status, t.status), el('span', 'muted', '#' + t.id + ' · ' + ago(t.created_at)));
    r.append(m);
    r.addEventListener('click', () => { showView('tickets'); upsert(t); openTicket(t.id); });
    rec.append(r);
  }
  if (!recent.items.length) rec.append(el('p', 'muted', 'None'));
}

/* ---------- typing ---------- */
function myTyping(t, text) {
  if (t.channel !== 'chat' || state.mode === 'note') return;
  const my = state.myTyping;
  if (!text) { stopMyTyping(); return; }
  const now = Date.now();
  if (my.ticket !== t.id || now - my.sentAt > 3000) {
    my.ticket = t.id; my.sentAt = now;
    wsSend({ type: 'typing', ticket_id: t.id, typing: true });
  }
  clearTimeout(my.timer);
  my.timer = setTimeout(stopMyTyping, 2500);
}
function stopMyTyping() {
  const my = state.myTyping;
  clearTimeout(my.timer);
  if (my.ticket) wsSend({ type: 'typing', ticket_id: my.ticket, typing: false });
  my.ticket = 0; my.sentAt = 0;
}
function customerTyping(ticketId, on) {
  clearTimeout(state.typing.get(ticketId));
  if (on) state.typing.set(ticketId, setTimeout(() => customerTyping(ticketId, false), 8000));
  else state.typing.delete(ticketId);
  if (state.selected === ticketId) {
    const row = $('#ticket-detail .typing-row');
    if (row) row.hidden = !on;
  }
  renderTickets();
}

/* ---------- customers view ---------- */
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
    for (const t of c.tags) tags.append(badge(t, 'tag'), ' ');
    const name = el('td'), nw = el('div', 'cname'); nw.append(avatar(c.name, 'sm'), el('span', '', c.name)); name.append(nw);
    tr.append(el('td', 'muted', c.customer_no), name, el('td', '', c.company || ''),
      el('td', '', c.phone || ''), el('td', '', c.email || ''), el('td', '', typeof stageLabel === 'function' ? stageLabel(c.stage) : c.stage), tags);
    tr.tabIndex = 0;
    tr.dataset.id = c.id;
    tr.title = 'Open the 360° profile of ' + c.name;
    tr.addEventListener('click', () => go('customer', c.id));
    tr.addEventListener('keydown', (e) => { if (e.key === 'Enter') go('customer', c.id); });
    tb.append(tr);
  }
  $('#customer-total').textContent = r.total + ' customers';
}
$('#customer-q').addEventListener('input', () => { clearTimeout(searchTimer); searchTimer = setTimeout(() => loadCustomers().catch((e) => toast(e.message, 'bad')), 250); });

/* ---------- navigation ---------- */
// A view is a <section id="view-NAME">; VIEWS[NAME](arg) loads it. The address keeps the
// view (#/pipeline, #/customers/12) so a reload or the back button lands on the same page.
// crm.js adds its pages to VIEWS, VIEW_TAB (the tab a page belongs to) and VIEW_ROLES.
const VIEWS = { tickets: () => loadTickets(), customers: () => loadCustomers(), routing: () => loadRouting() };
const VIEW_TAB = {};
const VIEW_ROLES = { routing: ['admin', 'manager'], tickets: ['admin', 'manager', 'agent', 'sales'] };
// the first page after sign-in, and where a page the role may not open lands (marketers have no tickets)
const homeView = () => (viewAllowed('tickets') || typeof marketingHome !== 'function' ? 'tickets' : marketingHome());
const viewAllowed = (v) => !!VIEWS[v] && !!state.me && (!VIEW_ROLES[v] || VIEW_ROLES[v].includes(state.me.role));
function viewHash(v, arg) {
  if (v === 'tickets') return '';
  return v === 'customer' ? '#/customers/' + arg : '#/' + v + (arg ? '/' + arg : '');
}
function showView(v, arg) {
  state.view = v;
  state.viewArg = arg || null;
  const tab = VIEW_TAB[v] || v;
  for (const x of $$('.tab')) x.classList.toggle('active', x.dataset.view === tab);
  markTabMore();
  for (const k of Object.keys(VIEWS)) $('#view-' + k).hidden = k !== v;
  const h = viewHash(v, arg);
  if (location.hash !== h) history.pushState(null, '', h || location.pathname + location.search);
  routedHash = location.hash;
  renderOffers();
}
// shows a view and loads it
function go(v, arg) {
  if (!viewAllowed(v)) { v = homeView(); arg = null; }
  showView(v, arg);
  return Promise.resolve(VIEWS[v](arg)).catch((e) => toast(errText(e), 'bad'));
}
// the view named by the address (#/leads, #/customers/12 is the customer's 360 page); an
// argument is a number, or a key with an optional number (#/objects/equipment/17: objects.js)
function routeFromHash() {
  const m = /^#\/([a-z]+)(?:\/(\d+|[a-z][a-z0-9_]*(?:\/\d+)?))?$/.exec(location.hash);
  if (!m) return go('tickets');
  const arg = !m[2] ? null : /^\d+$/.test(m[2]) ? Number(m[2]) : m[2];
  if (m[1] === 'customers' && typeof arg === 'number') return go('customer', arg);
  return go(m[1], arg);
}
// the back button, or an address typed by hand (both events may come for one change)
let routedHash = null;
const onAddress = () => { if (state.me && location.hash !== routedHash) routeFromHash(); };
window.addEventListener('popstate', onAddress);
window.addEventListener('hashchange', onAddress);
for (const b of $$('.tab')) b.addEventListener('click', () => go(b.dataset.view));
// more tabs than the window has room for: the Chinese halves of their labels go first, then
// some padding and font size (tighter)
// The top bar: tabs lose their Chinese, then padding; the ones that still do not fit go
// into a "More" menu at the end (an admin has a dozen tabs).
function fitTabs() {
  const nav = $('.topbar nav');
  const over = () => nav.scrollWidth > nav.clientWidth + 1;
  closeTabMenu();
  nav.classList.remove('tight', 'tighter');
  for (const t of nav.querySelectorAll('.tab.overflowed')) t.classList.remove('overflowed');
  let more = nav.querySelector('.tab-more');
  if (more) more.hidden = true;
  if (over()) nav.classList.add('tight');
  if (over()) nav.classList.add('tighter');
  if (!over()) return;
  if (!more) {
    more = el('button', 'tab-more', 'More ▾');
    more.type = 'button';
    more.setAttribute('aria-haspopup', 'menu');
    more.addEventListener('click', (e) => { e.stopPropagation(); toggleTabMenu(more); });
    nav.appendChild(more);
  }
  more.hidden = false;
  const tabs = [...nav.querySelectorAll('.tab[data-view]')].filter((t) => !t.hidden);
  for (let i = tabs.length - 1; i > 0 && over(); i--) tabs[i].classList.add('overflowed');
  markTabMore();
}
// "More" shows as active while the view open is one of the tabs inside it
function markTabMore() {
  const more = $('.topbar nav .tab-more');
  if (more) more.classList.toggle('active', !!$('.topbar nav .tab.overflowed.active'));
}
function closeTabMenu() {
  const m = $('.tab-menu');
  if (m) m.remove();
  const more = $('.topbar nav .tab-more');
  if (more) more.setAttribute('aria-expanded', 'false');
}
function toggleTabMenu(more) {
  if ($('.tab-menu')) { closeTabMenu(); return; }
  const menu = el('div', 'tab-menu');
  menu.setAttribute('role', 'menu');
  for (const t of $$('.topbar nav .tab.overflowed')) {
    const b = el('button', 'tab-menu-item' + (t.classList.contains('active') ? ' active' : ''));
    b.type = 'button';
    b.setAttribute('role', 'menuitem');
    b.dataset.view = t.dataset.view;
    b.textContent = t.textContent.trim();
    b.addEventListener('click', () => { closeTabMenu(); t.click(); });
    menu.appendChild(b);
  }
  const r = more.getBoundingClientRect();
  menu.style.top = Math.round(r.bottom + 4) + 'px';
  menu.style.left = Math.round(Math.max(8, r.right - 220)) + 'px';
  document.body.appendChild(menu);
  more.setAttribute('aria-expanded', 'true');
}
document.addEventListener('click', (e) => { if (!e.target.closest('.tab-menu')) closeTabMenu(); });
document.addEventListener('keydown', (e) => { if (e.key === 'Escape') closeTabMenu(); });
window.addEventListener('resize', () => { if (state.me) fitTabs(); });

/* ---------- clocks: the server's time, countdowns ---------- */
// Offer and SLA times are the server's (UTC, from MariaDB). Every event frame carries its
// commit time (`at`); the largest (at − arrival) seen in the last minutes estimates how far
// our clock is from the server's, so a wrong PC clock does not break the countdowns.
function noteServerTime(at) {
  const t = Date.parse(at);
  if (isNaN(t)) return;
  const now = Date.now(), s = t - now;
  if (Math.abs(s) > 7 * 86400e3) return;
  if (!state.skewAt || s > state.skew || now - state.skewAt > 300000) { state.skew = s; state.skewAt = now; }
}
const serverNow = () => Date.now() + state.skew;
// 45s, 12m, 1h 5m, 2d 3h
function span(secs) {
  secs = Math.max(0, Math.floor(secs));
  if (secs < 60) return secs + 's';
  const m = Math.floor(secs / 60);
  if (m < 60) return m + 'm';
  const h = Math.floor(m / 60);
  if (h < 24) return h + 'h' + (m % 60 ? ' ' + (m % 60) + 'm' : '');
  const d = Math.floor(h / 24);
  return d + 'd' + (h % 24 ? ' ' + (h % 24) + 'h' : '');
}
const mmss = (secs) => { const s = Math.max(0, Math.ceil(secs)); return Math.floor(s / 60) + ':' + String(s % 60).padStart(2, '0'); };

/* ---------- SLA chips ---------- */
// "12m left" (amber under 20 % of the time left), "overdue 3m" in red once the due time
// passed or the server marked the ticket breached. Pure: the system test calls it.
function slaState(t, now) {
  if (!t || !t.sla_due_at || !OPEN_STATUSES.includes(t.status)) return null;
  const due = Date.parse(t.sla_due_at);
  if (isNaN(due)) return null;
  const created = Date.parse(t.created_at);
  const left = (due - now) / 1000, total = isNaN(created) ? 0 : (due - created) / 1000;
  if (left <= 0) return { level: 'bad', text: 'overdue ' + span(-left) };
  if (t.sla_breached) return { level: 'bad', text: 'SLA breached' };
  return { level: total > 0 && left < 0.2 * total ? 'warn' : 'ok', text: span(left) + ' left' };
}
function slaTitle(t) {
  const what = t.first_response_at ? 'Resolution' : 'First response';
  return what + ' due ' + when(t.sla_due_at) + ' (SLA target for ' + t.priority + ' ' + t.channel + ')';
}
function slaChip(t) {
  const st = slaState(t, serverNow());
  if (!st) return null;
  const c = el('span', 'sla-chip ' + st.level);
  c.dataset.ticket = t.id;
  c.title = slaTitle(t);
  c.append(icon('clock'), el('span', 'sla-text', st.text));
  return c;
}
function paintSla(c, now) {
  const t = state.tickets.get(Number(c.dataset.ticket));
  const st = slaState(t, now);
  if (!st) { c.hidden = true; return; }
  c.hidden = false;
  const txt = $('.sla-text', c);
  if (txt.textContent !== st.text) txt.textContent = st.text;
  const cls = 'sla-chip ' + st.level;
  if (c.className !== cls) c.className = cls;
}

/* ---------- offers ---------- */
// The router offers a waiting ticket to one agent (ticket.offered); it is theirs once they
// accept over the socket, or it lapses (ticket.offer_withdrawn) and goes to someone else.
const isMyOffer = (t) => !!(state.me && t && t.offer_agent_id === state.me.id && !t.assignee_id &&
  (t.status === 'new' || t.status === 'open'));
const offerKey = (t) => t.id + '@' + t.offer_expires_at;
const offerLeft = (t) => (Date.parse(t.offer_expires_at) - serverNow()) / 1000;
function offerLeftText(t) { const l = offerLeft(t); return isNaN(l) ? '' : l > 0 ? mmss(l) : 'expiring…'; }
function offerTotal(t) {
  const team = state.teams.find((x) => x.id === t.team_id);
  const total = team && team.accept_timeout_secs ? Number(team.accept_timeout_secs) : 30;
  return Math.max(total, offerLeft(t) || 0, 1);
}
function offeredName(t) {
  if (t.offer_agent_id === (state.me && state.me.id)) return 'you';
  const a = state.agents.find((x) => x.id === t.offer_agent_id);
  return a ? a.name : 'another agent';
}
function myOffers() {
  return [...state.tickets.values()].filter(isMyOffer)
    .sort((a, b) => Date.parse(a.offer_expires_at) - Date.parse(b.offer_expires_at) || a.id - b.id);
}
function offerChip(t) {
  const c = el('span', 'badge offer-chip');
  c.dataset.ticket = t.id;
  c.append(icon('bell'), document.createTextNode('Offered to you · '), el('span', 'offer-left', offerLeftText(t)));
  return c;
}

function notifyOffer(t) {
  const k = offerKey(t);
  if (state.offerSeen.has(k)) return;
  state.offerSeen.add(k);
  state.offerErrors.delete(t.id);
  toast('New offer: #' + t.id + ' · ' + (t.customer_name || 'Customer') + ' — accept within ' + span(offerLeft(t)), 'info');
  toast.offer = t.id;
  flashTitle();
}

function acceptOffer(id) {
  if (state.offerBusy.has(id)) return;
  state.offerBusy.add(id);
  state.offerErrors.delete(id);
  renderOffers();
  if (state.selected === id) renderDetail(), renderThread();
  acceptTicket(id);
}

function onAccepted(m) {
  const id = m.ticket_id;
  const i = state.acceptQueue.indexOf(id);
  if (i >= 0) state.acceptQueue.splice(i, 1);
  const wasOffer = state.offerBusy.delete(id);
  state.offerErrors.delete(id);
  const t = state.tickets.get(id);
  if (t) { t.assignee_id = state.me.id; t.assignee_name = state.me.name; t.offer_agent_id = null; t._seq = ++eventSeq; }
  toast((wasOffer ? 'Accepted #' : 'You took #') + id + ' — it is yours now', 'good');
  renderTickets();
  if (wasOffer && state.view === 'tickets') openTicket(id).catch(() => {});
  else if (state.selected === id) { renderDetail(); renderThread(); }
}

const ACCEPT_REFUSALS = {
  not_available: 'No longer yours — the offer lapsed or a colleague has this conversation.',
  at_capacity: 'You are at your capacity on this channel — finish or hand over a conversation, then accept.',
  not_found: 'This conversation is no longer in your queues.',
  unavailable: 'Not saved: the database is unavailable — try again in a moment.',
};
const KEEPS_OFFER = new Set(['at_capacity', 'unavailable']); // the offer is still hers: the card stays
// An accept's error frame names no ticket: it answers the oldest accept still unanswered.
function onAcceptRefused(m) {
  if (m.client_id || !ACCEPT_REFUSALS[m.code] || !state.acceptQueue.length) return false;
  const id = state.acceptQueue.shift();
  state.accepting.delete(id);
  const wasOffer = state.offerBusy.delete(id);
  const t = state.tickets.get(id);
  if (!wasOffer && !isMyOffer(t)) { // a plain "Take"
    if (!KEEPS_OFFER.has(m.code)) return false; // not_available, not_found: handled as before
    toast(ACCEPT_REFUSALS[m.code], 'bad');
    if (state.selected === id) { renderDetail(); renderThread(); }
    return true;
  }
  const text = ACCEPT_REFUSALS[m.code];
  toast(text, 'bad');
  if (isMyOffer(t) && KEEPS_OFFER.has(m.code)) state.offerErrors.set(id, text);
  else if (t) {
    state.offerErrors.delete(id);
    addOfferNote(t, text);
    refreshTicket(id);
  }
  renderOffers();
  if (state.selected === id) { renderDetail(); renderThread(); }
  return true;
}

function onOfferWithdrawn(m) {
  const id = m.ticket_id;
  const t = state.tickets.get(id);
  if (t && t.offer_agent_id === m.agent_id) { t.offer_agent_id = null; t.offer_expires_at = null; t._seq = ++eventSeq; }
  if (state.me && m.agent_id === state.me.id) {
    state.offerBusy.delete(id);
    state.offerErrors.delete(id);
    const text = m.reason === 'expired' ? 'Offer expired — passed to a colleague'
      : m.reason === 'declined' ? 'Declined — passed to a colleague'
      : $('#presence').value !== 'online' ? 'Offer withdrawn — you are not online' : 'Offer withdrawn — the conversation moved on';
    addOfferNote(t || { id }, text);
    if (toast.offer === id) { $('#toast').hidden = true; toast.offer = 0; }
  }
  renderTickets();
  if (state.selected === id) { renderDetail(); renderThread(); }
  refreshTicket(id).then(() => { if (state.selected === id && state.tickets.has(id)) { renderDetail(); renderThread(); } });
}

function addOfferNote(t, text) {
  const old = state.offerNotes.get(t.id);
  if (old) clearTimeout(old.timer);
  const note = { text, name: t.customer_name || '', subject: t.subject || '' };
  note.timer = setTimeout(() => { state.offerNotes.delete(t.id); renderOffers(); }, 8000);
  state.offerNotes.set(t.id, note);
  renderOffers();
}

// Offer cards above the list. Cards are kept (not rebuilt) while nothing about them
// changed, so a click is never lost to a re-render caused by some other event.
function renderOffers() {
  const box = $('#offers');
  if (!box || !state.me) return;
  const want = [];
  for (const t of myOffers()) {
    if (state.offerIgnored.has(offerKey(t))) continue;
    const sig = [offerKey(t), t.customer_name, t.subject, t.preview, t.priority, t.channel, state.offerBusy.has(t.id),
      state.offerErrors.get(t.id) || '', JSON.stringify(t.assign_reason || null)].join('|');
    want.push({ key: 'o' + t.id, sig, make: () => offerCard(t) });
  }
  for (const [id, n] of state.offerNotes) {
    if (myOffers().some((t) => t.id === id)) continue;
    want.push({ key: 'n' + id, sig: n.text, make: () => offerNote(id, n) });
  }
  const have = new Map([...box.children].map((c) => [c.dataset.key, c]));
  const next = want.map((w) => {
    const c = have.get(w.key);
    if (c && c.dataset.sig === w.sig) return c;
    const made = w.make();
    made.dataset.key = w.key; made.dataset.sig = w.sig;
    return made;
  });
  if (next.length !== box.children.length || next.some((c, i) => box.children[i] !== c)) box.replaceChildren(...next);
  box.hidden = !next.length;
  // the Conversations tab shows pending offers while another view is open
  const tab = $('.tab[data-view=tickets]');
  let n = $('.tab-count', tab);
  const count = myOffers().length;
  if (!n) { n = el('span', 'tab-count'); tab.append(n); }
  n.textContent = count ? String(count) : '';
  n.hidden = !count || state.view === 'tickets';
  n.title = count ? count + ' offer' + (count === 1 ? '' : 's') + ' waiting for you' : '';
  paintOffers(serverNow());
}

function offerCard(t) {
  const card = el('div', 'offer-card');
  card.dataset.ticket = t.id;
  card.setAttribute('role', 'group');
  card.setAttribute('aria-label', 'Offer: ticket #' + t.id);
  const top = el('div', 'offer-top');
  const label = el('span', 'offer-label', 'Offered to you · 新分配');
  label.prepend(icon('bell'));
  const timer = el('span', 'offer-timer');
  timer.title = 'Time left to accept';
  timer.append(el('span', 'offer-left', offerLeftText(t)));
  top.append(label, timer);
  const bar = el('div', 'offer-bar');
  bar.append(el('i'));
  const main = el('div', 'offer-main');
  main.append(avatar(t.customer_name));
  const who = el('div', 'offer-who');
  who.append(el('div', 'offer-name', t.customer_name || 'Customer'));
  const meta = el('div', 'offer-meta');
  meta.append(channelBadge(t.channel));
  if (t.priority === 'high' || t.priority === 'urgent') meta.append(badge(t.priority, t.priority));
  const sla = slaChip(t);
  if (sla) meta.append(sla);
  meta.append(el('span', 'tid', '#' + t.id));
  who.append(meta);
  main.append(who);
  const subject = el('div', 'offer-subject', t.subject || t.preview || CHANNEL_LABEL[t.channel] || t.channel);
  card.append(top, bar, main, subject);
  const why = reasonText(t.assign_reason, { short: true });
  if (why) card.append(el('div', 'offer-why', why));
  const err = state.offerErrors.get(t.id);
  if (err) { const e = el('div', 'offer-error', err); e.setAttribute('role', 'alert'); e.prepend(icon('alert')); card.append(e); }
  const actions = el('div', 'offer-actions');
  const busy = state.offerBusy.has(t.id);
  const acc = el('button', 'primary offer-accept', busy ? 'Accepting…' : 'Accept 接受');
  acc.type = 'button'; acc.disabled = busy;
  acc.addEventListener('click', (e) => { e.stopPropagation(); acceptOffer(t.id); });
  const ign = el('button', 'ghost offer-ignore', 'Decline 拒绝');
  ign.type = 'button';
  ign.title = 'Pass this conversation on to a colleague now';
  ign.addEventListener('click', (e) => {
    e.stopPropagation();
    state.offerIgnored.add(offerKey(t)); // hidden at once; the server confirms with ticket.offer_withdrawn
    wsSend({ type: 'decline', ticket_id: t.id });
    renderOffers();
  });
  const view = el('button', 'link offer-view', 'View');
  view.type = 'button';
  view.addEventListener('click', (e) => { e.stopPropagation(); openTicket(t.id).catch(() => {}); });
  actions.append(acc, ign, view);
  card.append(actions);
  return card;
}

function offerNote(id, n) {
  const d = el('div', 'offer-note');
  d.setAttribute('role', 'status');
  d.dataset.ticket = id;
  const txt = el('div', 'on-text');
  txt.append(el('strong', '', n.text));
  txt.append(el('span', 'muted', '#' + id + (n.name ? ' · ' + n.name : '') + (n.subject ? ' · ' + n.subject : '')));
  const x = el('button', 'ca-close', '×');
  x.type = 'button'; x.title = 'Dismiss'; x.setAttribute('aria-label', 'Dismiss');
  x.addEventListener('click', () => { clearTimeout(n.timer); state.offerNotes.delete(id); renderOffers(); });
  d.append(icon('info'), txt, x);
  return d;
}

function paintOffers(now) {
  for (const c of $$('.offer-left')) {
    const host = c.closest('[data-ticket]');
    const t = host && state.tickets.get(Number(host.dataset.ticket));
    if (!t || !t.offer_expires_at) continue;
    const txt = offerLeftText(t);
    if (c.textContent !== txt) c.textContent = txt;
  }
  for (const card of $$('#offers .offer-card')) {
    const t = state.tickets.get(Number(card.dataset.ticket));
    if (!t || !t.offer_expires_at) continue;
    const left = (Date.parse(t.offer_expires_at) - now) / 1000;
    const bar = $('.offer-bar i', card);
    bar.style.width = Math.max(0, Math.min(100, 100 * left / offerTotal(t))).toFixed(1) + '%';
    card.classList.toggle('hurry', left < 10);
    // lapsed, yet no withdrawal arrived (missed while reconnecting): read the ticket again
    if (left < -5 && !state.offerChecked.has(offerKey(t))) { state.offerChecked.add(offerKey(t)); refreshTicket(t.id); }
  }
}

// Once a second: only the countdown texts and classes change; nothing is rebuilt.
setInterval(() => {
  if (!state.me || document.hidden) return;
  const now = serverNow();
  for (const c of $$('.sla-chip[data-ticket]')) paintSla(c, now);
  paintOffers(now);
  for (const c of $$('.since[data-since]')) {
    const txt = span((now - Date.parse(c.dataset.since)) / 1000);
    if (c.textContent !== txt) c.textContent = txt;
  }
}, 1000);

/* ---------- SLA and escalation notices (managers, admins) ---------- */
function notice(title, text, kind, ticketId) {
  const box = $('#notices');
  const n = el('div', 'notice ' + (kind || 'info'));
  n.setAttribute('role', 'status');
  n.dataset.ticket = ticketId;
  const body = el('div', 'nt-body');
  body.append(el('strong', '', title), el('span', '', text));
  const x = el('button', 'ca-close', '×');
  x.type = 'button'; x.title = 'Dismiss'; x.setAttribute('aria-label', 'Dismiss');
  x.addEventListener('click', (e) => { e.stopPropagation(); n.remove(); });
  n.append(icon(kind === 'bad' ? 'alert' : 'clock'), body, x);
  n.title = 'Open #' + ticketId;
  n.addEventListener('click', () => {
    n.remove();
    showView('tickets');
    if (!matches(state.tickets.get(ticketId) || {}) && isStaff()) { state.queue = 'all'; renderTickets(); }
    openTicket(ticketId).catch(() => {});
  });
  box.prepend(n);
  while (box.children.length > 4) box.lastChild.remove();
  setTimeout(() => n.remove(), 12000);
}
const ticketLabel = (id) => {
  const t = state.tickets.get(id);
  return '#' + id + (t ? ' · ' + (t.customer_name || 'Customer') + (t.subject ? ' · ' + t.subject : '') : '');
};

function onSlaEvent(m) {
  const id = m.ticket_id;
  const t = state.tickets.get(id);
  const breach = m.type === 'ticket.sla_breached';
  if (t) {
    if (m.sla_due_at) t.sla_due_at = m.sla_due_at;
    if (breach) t.sla_breached = true;
    t._seq = ++eventSeq;
    paintAllSla();
  }
  refreshTicket(id).then(() => {
    paintAllSla();
    if (state.selected === id) renderRoutingSection();
    if (!isStaff()) return;
    const due = m.sla_due_at || (state.tickets.get(id) || {}).sla_due_at;
    if (breach) notice('SLA breached · 超时', ticketLabel(id) + ' — was due ' + clock(due), 'bad', id);
    else notice('SLA warning · 即将超时', ticketLabel(id) + ' — due ' + clock(due) + ' (' + span((Date.parse(due) - serverNow()) / 1000) + ' left)', 'warn', id);
  });
}
function paintAllSla() { const now = serverNow(); for (const c of $$('.sla-chip[data-ticket]')) paintSla(c, now); }

function onEscalated(m) {
  const id = m.ticket_id;
  refreshTicket(id).then(() => {
    if (state.selected === id) { renderDetail(); renderThread(); }
    if (!isStaff()) return;
    notice('Escalated · 已升级', ticketLabel(id) + ' — waited ' + span(m.waited_secs || 0) + '; ' + (m.reason || 'no agent could take it'), 'bad', id);
  });
}

/* ---------- why this agent ---------- */
const STAGE_TEXT = { 'optional skills dropped': 'optional skills dropped', 'any team': 'widened to any team', escalated: 'escalated' };
const ROUTING_STAGES = ['all skills', 'optional skills dropped', 'widened to any team', 'escalated'];
const skillText = (s) => (s.skill || s.name) + (s.min_level ? ' ≥ ' + s.min_level : '');
// "Matched rule Invoices · needs billing ≥ 2 · skill score 9 · load 3/10 · idle 4m · 2 candidates · waited 12s"
function reasonText(r, opts = {}) {
  if (!r || typeof r !== 'object') return '';
  const parts = [];
  if (r.rule) parts.push('Matched rule ' + r.rule);
  const skills = Array.isArray(r.skills) ? r.skills : [];
  const need = skills.filter((s) => s.required !== false), dropped = skills.filter((s) => s.required === false);
  if (need.length) parts.push('needs ' + need.map(skillText).join(', '));
  if (dropped.length) parts.push('dropped ' + dropped.map(skillText).join(', '));
  if (opts.short) return parts.join(' · ');
  if (r.skill_score !== undefined && skills.length) parts.push('skill score ' + r.skill_score);
  if (r.load) parts.push('load ' + r.load);
  if (r.idle_secs !== undefined) parts.push('idle ' + span(r.idle_secs));
  if (r.candidates !== undefined) parts.push(r.candidates + ' candidate' + (r.candidates === 1 ? '' : 's'));
  if (r.waited_secs !== undefined) parts.push('waited ' + span(r.waited_secs));
  if (STAGE_TEXT[r.stage]) parts.push(STAGE_TEXT[r.stage]);
  return parts.join(' · ');
}

function skillChips(list, optional) {
  const out = [];
  for (const s of Array.isArray(list) ? list : []) {
    const b = badge(skillText(s), 'skill' + (optional ? ' optional' : ''));
    b.title = optional ? 'Optional: required until the overflow wait, then dropped' : 'Required';
    out.push(b);
  }
  return out;
}

// The "Routing" section of the side panel: where the ticket stands, what it needs, and
// why it went to whom.
function renderRoutingSection() {
  const sec = $('#routing-sec');
  if (!sec) return;
  const t = state.tickets.get(Number(sec.dataset.ticket));
  if (!t) { sec.hidden = true; return; }
  sec.hidden = false;
  sec.replaceChildren(el('h4', '', 'Routing 路由'));
  const dl = el('dl');
  const row = (k, v) => { const dd = el('dd'); if (typeof v === 'string') dd.textContent = v; else dd.append(...v); dl.append(el('dt', '', k), dd); return dd; };
  const r = t.assign_reason && typeof t.assign_reason === 'object' ? t.assign_reason : null;
  const open = t.status === 'new' || t.status === 'open';
  if (isMyOffer(t)) {
    const st = el('span', 'offer-left', offerLeftText(t));
    const host = el('span', 'rs-offer', 'Offered to you · ');
    host.dataset.ticket = t.id;
    host.append(st, document.createTextNode(' left'));
    row('Status', [host]);
  } else if (t.offer_agent_id && !t.assignee_id) {
    row('Status', 'Offered to ' + offeredName(t) + ', awaiting answer');
  } else if (t.assignee_id) {
    row('Status', 'Assigned to ' + (t.assignee_id === state.me.id ? 'you' : t.assignee_name || 'agent #' + t.assignee_id));
  } else if (t.queued_at && open) {
    const stage = ROUTING_STAGES[t.routing_stage] || '';
    const since = el('span', 'since', span((serverNow() - Date.parse(t.queued_at)) / 1000));
    since.dataset.since = t.queued_at;
    row('Status', [document.createTextNode('Waiting '), since, document.createTextNode(t.routing_stage ? ' · ' + stage : '')]);
  } else {
    row('Status', 'Not waiting for routing');
  }
  if (r && r.rule) row('Rule', r.rule);
  const needs = [...skillChips(t.required_skills, false), ...skillChips(t.optional_skills, true)];
  if (needs.length) { const dd = row('Needs', []); const w = el('div', 'tags'); w.append(...needs); dd.append(w); }
  else row('Needs', [el('span', 'muted', 'no particular skills')]);
  if (t.sla_due_at && OPEN_STATUSES.includes(t.status)) {
    const chip = slaChip(t);
    row(t.first_response_at ? 'Resolve by' : 'Answer by', [el('span', '', clock(t.sla_due_at) + ' '), ...(chip ? [chip] : [])]);
  }
  sec.append(dl);
  if (r && (t.assignee_id || t.offer_agent_id)) {
    const why = el('p', 'reason');
    why.append(el('span', 'reason-label', 'Why ' + (t.assignee_id === state.me.id || isMyOffer(t) ? 'you' : 'this agent') + ': '),
      document.createTextNode(reasonText(r)));
    if (r.units) why.title = 'Capacity units in use: ' + r.units;
    sec.append(why);
  }
}

/* ---------- routing rules and SLA targets (admins edit, managers read) ---------- */
const PRIORITIES = ['low', 'normal', 'high', 'urgent'];
const CHANNELS = ['chat', 'email', 'sms', 'phone', 'web'];
const LANGUAGES = { zh: 'Chinese 中文', en: 'English' };
const cap = (s) => s[0].toUpperCase() + s.slice(1);

async function loadRouting() {
  const [rules, sla, mb, teams] = await Promise.all([
    api('GET', '/api/v1/routing/rules?per_page=200'),
    api('GET', '/api/v1/routing/sla'),
    api('GET', '/api/v1/mailboxes?per_page=200').catch(() => ({ items: [] })),
    api('GET', '/api/v1/teams?per_page=200').catch(() => null),
  ]);
  state.rules = rules.items;
  state.sla = sla.items;
  state.mailboxes = mb.items || [];
  if (teams) state.teams = teams.items;
  renderRules();
  renderSla();
}
const teamName = (id) => { const t = state.teams.find((x) => x.id === id); return t ? t.name : id ? 'team #' + id : ''; };
const mailboxName = (id) => { const m = state.mailboxes.find((x) => x.id === id); return m ? (m.name || m.address) : 'mailbox #' + id; };

function whenChips(r) {
  const m = r.match || {};
  const out = [];
  for (const c of m.channels || []) out.push(channelBadge(c));
  for (const id of m.mailbox_ids || []) { const b = badge(mailboxName(id), 'cond'); b.prepend(icon('email')); out.push(b); }
  if ((m.keywords || []).length) out.push(badge('contains ' + m.keywords.map((k) => '“' + k + '”').join(' or '), 'cond kw'));
  for (const tg of m.tags || []) out.push(badge('tag ' + tg, 'tag'));
  for (const l of m.languages || []) out.push(badge(LANGUAGES[l] || l, 'cond'));
  return out;
}

function renderRules() {
  const tb = $('#rule-rows');
  tb.replaceChildren();
  state.rules.forEach((r, i) => {
    const tr = el('tr', (r.enabled || r.is_default ? '' : 'off') + (r.is_default ? ' default' : ''));
    tr.dataset.id = r.id;
    const num = el('td', 'num', String(i + 1));
    num.title = r.is_default ? 'Always last' : 'Position ' + r.position;
    const name = el('td', 'rname');
    name.append(el('span', 'rn', r.name));
    if (r.is_default) name.append(badge('default 默认', 'def'));
    if (!r.enabled && !r.is_default) name.append(badge('disabled 停用', 'off'));
    const when = el('td', 'when');
    const chips = whenChips(r);
    if (chips.length) when.append(...chips);
    else when.append(el('span', 'muted', r.is_default ? 'Everything else · 其他所有工单' : 'Every ticket'));
    const skills = el('td', 'skills');
    const sk = [...skillChips(r.required_skills, false), ...skillChips(r.optional_skills, true)];
    if (sk.length) skills.append(...sk); else skills.append(el('span', 'muted', '—'));
    const team = el('td', r.team_id ? '' : 'muted', r.team_id ? teamName(r.team_id) : '—');
    const prio = el('td');
    if (r.priority) { const b = badge(r.priority, 'prio ' + r.priority); b.title = 'Raised to ' + r.priority + ' (never lowered)'; prio.append(b); }
    else prio.append(el('span', 'muted', '—'));
    const act = el('td', 'act');
    if (isAdmin()) {
      const edit = el('button', 'small rule-edit', 'Edit');
      edit.type = 'button';
      edit.addEventListener('click', () => openRuleDialog(r));
      act.append(edit);
      if (!r.is_default) {
        const del = el('button', 'small ghost danger rule-delete', 'Delete');
        del.type = 'button';
        del.addEventListener('click', () => confirmDelete(act, r));
        act.append(del);
      }
    }
    tr.append(num, name, when, skills, team, prio, act);
    tb.append(tr);
  });
  if (!state.rules.length) { const tr = el('tr'); const td = el('td', 'muted', 'No rules.'); td.colSpan = 7; tr.append(td); tb.append(tr); }
}

function confirmDelete(cell, r) {
  const keep = [...cell.childNodes];
  const q = el('span', 'confirm', 'Delete?');
  const yes = el('button', 'small danger-solid', 'Delete');
  const no = el('button', 'small ghost', 'Keep');
  yes.type = no.type = 'button';
  no.addEventListener('click', () => cell.replaceChildren(...keep));
  yes.addEventListener('click', async () => {
    yes.disabled = true;
    try {
      await api('DELETE', '/api/v1/routing/rules/' + r.id);
      toast('Rule “' + r.name + '” deleted', 'good');
      await loadRouting();
    } catch (e) {
      toast(errText(e), 'bad');
      cell.replaceChildren(...keep);
    }
  });
  cell.replaceChildren(q, yes, no);
}

/* the rule editor */
let editingRule = null;
function checkboxes(box, items, checked) {
  box.replaceChildren();
  for (const [value, label] of items) {
    const l = el('label', 'chk');
    const i = el('input');
    i.type = 'checkbox'; i.value = value; i.checked = checked.includes(value);
    l.append(i, document.createTextNode(' ' + label));
    box.append(l);
  }
}
function skillRow(list, s) {
  const row = el('div', 'skill-row');
  const name = el('input', 'sk-name');
  name.placeholder = 'skill, e.g. billing'; name.value = s ? s.skill : ''; name.setAttribute('aria-label', 'skill');
  const lvl = el('input', 'sk-level');
  lvl.type = 'number'; lvl.min = '1'; lvl.max = '10'; lvl.step = '1'; lvl.placeholder = '1–10';
  lvl.value = s && s.min_level !== undefined ? String(s.min_level) : ''; lvl.setAttribute('aria-label', 'minimum level');
  const x = el('button', 'ghost sk-remove', '×');
  x.type = 'button'; x.title = 'Remove'; x.setAttribute('aria-label', 'Remove skill');
  x.addEventListener('click', () => row.remove());
  row.append(name, el('span', 'ge', '≥ level'), lvl, x);
  $('#' + list).append(row);
  return row;
}
for (const b of $$('.add-skill')) b.addEventListener('click', () => $('.sk-name', skillRow(b.dataset.list)).focus());

function openRuleDialog(r) {
  editingRule = r;
  const def = !!(r && r.is_default);
  $('#rule-title').textContent = r ? 'Edit rule · ' + r.name : 'New rule · 新建规则';
  $('#rule-default-note').hidden = !def;
  $('#rule-name').value = r ? r.name : '';
  const positions = state.rules.filter((x) => !x.is_default).map((x) => x.position);
  $('#rule-position').value = r ? String(r.position) : String(positions.length ? Math.max(...positions) + 10 : 10);
  $('#rule-enabled').checked = r ? !!r.enabled : true;
  for (const id of ['rule-name', 'rule-position', 'rule-enabled']) $('#' + id).disabled = def;
  $('#rule-when').disabled = def;
  const m = (r && r.match) || {};
  checkboxes($('#rule-channels'), CHANNELS.map((c) => [c, c === 'email' ? 'E-mail' : c === 'sms' ? 'SMS' : cap(c)]), m.channels || []);
  checkboxes($('#rule-languages'), Object.entries(LANGUAGES), m.languages || []);
  const boxes = state.mailboxes.map((x) => [String(x.id), x.name || x.address]);
  for (const id of m.mailbox_ids || []) if (!boxes.some(([v]) => v === String(id))) boxes.push([String(id), 'mailbox #' + id]);
  checkboxes($('#rule-mailboxes'), boxes, (m.mailbox_ids || []).map(String));
  $('#rule-mailboxes-row').hidden = !boxes.length;
  $('#rule-keywords').value = (m.keywords || []).join(', ');
  $('#rule-tags').value = (m.tags || []).join(', ');
  for (const list of ['rule-required', 'rule-optional']) $('#' + list).replaceChildren();
  for (const s of (r && r.required_skills) || []) skillRow('rule-required', s);
  for (const s of (r && r.optional_skills) || []) skillRow('rule-optional', s);
  // a team or priority once set can be changed but not cleared (PATCH ignores null)
  const team = $('#rule-team');
  team.replaceChildren(opt('', "— keep the ticket's team —", !(r && r.team_id)));
  if (r && r.team_id) { team.firstChild.disabled = true; team.firstChild.textContent += ' (cannot be cleared)'; }
  for (const tm of state.teams) team.append(opt(String(tm.id), tm.name, r && r.team_id === tm.id));
  if (r && r.team_id && !state.teams.some((tm) => tm.id === r.team_id)) team.append(opt(String(r.team_id), teamName(r.team_id), true));
  const prio = $('#rule-priority');
  prio.replaceChildren(opt('', "— keep the ticket's priority —", !(r && r.priority)));
  if (r && r.priority) { prio.firstChild.disabled = true; prio.firstChild.textContent += ' (cannot be cleared)'; }
  for (const p of PRIORITIES) prio.append(opt(p, 'Raise to ' + p, r && r.priority === p));
  clearRuleErrors();
  $('#rule-save').disabled = false;
  $('#rule-dialog').showModal();
  if (!def) $('#rule-name').focus();
}
function clearRuleErrors() {
  for (const e of $$('#rule-form .field-error')) e.textContent = '';
  for (const e of $$('#rule-form .invalid')) e.classList.remove('invalid');
  $('#rule-error').textContent = '';
}
const FIELD_LABEL = { name: 'Name', position: 'Position', enabled: 'Enabled', match: 'Conditions', required_skills: 'Required skills',
  optional_skills: 'Optional skills', team_id: 'Team', priority: 'Priority', first_response_mins: 'First response',
  resolution_mins: 'Resolution', channel: 'Channel' };
function showRuleErrors(fields) {
  const rest = [];
  for (const [k, why] of Object.entries(fields || {})) {
    const slot = $(`#rule-form .field-error[data-for="${CSS.escape(k)}"]`);
    if (slot) {
      slot.textContent = why;
      const f = slot.closest('.field, fieldset');
      if (f) f.classList.add('invalid');
    } else rest.push((FIELD_LABEL[k] || k) + ': ' + why);
  }
  if (rest.length) $('#rule-error').textContent = rest.join('; ');
  const first = $('#rule-form .invalid');
  if (first) first.scrollIntoView({ block: 'nearest' });
}
const splitList = (s) => s.split(/[,，;\n]/).map((x) => x.trim()).filter(Boolean);
// an integer when the text is one; otherwise the text itself, for the server to refuse
const intOr = (s) => { const v = String(s).trim(); return !v ? undefined : /^-?\d+$/.test(v) ? Number(v) : v; };
function readSkills(list) {
  const out = [];
  for (const row of $$('#' + list + ' .skill-row')) {
    const skill = $('.sk-name', row).value.trim(), lvl = $('.sk-level', row).value.trim();
    if (!skill && !lvl) continue;
    const s = { skill };
    if (lvl) s.min_level = intOr(lvl);
    out.push(s);
  }
  return out;
}
$('#rule-cancel').addEventListener('click', () => $('#rule-dialog').close());
$('#rule-form').addEventListener('submit', async (ev) => {
  ev.preventDefault();
  clearRuleErrors();
  const r = editingRule, def = !!(r && r.is_default);
  const body = { required_skills: readSkills('rule-required'), optional_skills: readSkills('rule-optional') };
  if (!def) {
    body.name = $('#rule-name').value;
    if (r && !body.name.trim()) { showRuleErrors({ name: 'must not be empty' }); return; }
    const pos = $('#rule-position').value.trim();
    if (pos) body.position = intOr(pos);
    body.enabled = $('#rule-enabled').checked;
    const match = {};
    const checked = (box) => $$('input:checked', $(box)).map((i) => i.value);
    if (checked('#rule-channels').length) match.channels = checked('#rule-channels');
    if (checked('#rule-mailboxes').length) match.mailbox_ids = checked('#rule-mailboxes').map(Number);
    const kw = splitList($('#rule-keywords').value), tags = splitList($('#rule-tags').value);
    if (kw.length) match.keywords = kw;
    if (tags.length) match.tags = tags;
    if (checked('#rule-languages').length) match.languages = checked('#rule-languages');
    body.match = match;
  }
  if ($('#rule-team').value) body.team_id = Number($('#rule-team').value);
  if ($('#rule-priority').value) body.priority = $('#rule-priority').value;
  $('#rule-save').disabled = true;
  try {
    const saved = r ? await api('PATCH', '/api/v1/routing/rules/' + r.id, body) : await api('POST', '/api/v1/routing/rules', body);
    $('#rule-dialog').close();
    toast('Rule “' + saved.name + '” saved' + (r ? '' : ' — it applies to the next ticket'), 'good');
    await loadRouting();
  } catch (e) {
    const f = e.data && e.data.error && e.data.error.fields;
    if (f) showRuleErrors(f);
    else $('#rule-error').textContent = e.message;
  } finally {
    $('#rule-save').disabled = false;
  }
});
$('#rule-new').addEventListener('click', () => openRuleDialog(null));

/* SLA targets */
function fmtMins(n) {
  n = Number(n);
  if (n % 1440 === 0) return n / 1440 + (n === 1440 ? ' day' : ' days');
  if (n < 60) return n + ' min';
  return Math.floor(n / 60) + ' h' + (n % 60 ? ' ' + (n % 60) + ' min' : '');
}
function renderSla() {
  const tb = $('#sla-rows');
  tb.replaceChildren();
  for (const p of state.sla) {
    const tr = el('tr');
    tr.dataset.priority = p.priority; tr.dataset.channel = p.channel || '';
    const pr = el('td'); pr.append(badge(p.priority, 'prio ' + p.priority));
    const ch = el('td');
    if (p.channel) ch.append(channelBadge(p.channel)); else ch.append(el('span', 'muted', 'Any channel · 任意渠道'));
    const first = el('td', 'mins', fmtMins(p.first_response_mins)); first.title = p.first_response_mins + ' minutes';
    const res = el('td', 'mins', fmtMins(p.resolution_mins)); res.title = p.resolution_mins + ' minutes';
    const act = el('td', 'act');
    if (isAdmin()) {
      const edit = el('button', 'small sla-edit', 'Edit');
      edit.type = 'button';
      edit.addEventListener('click', () => editSla(tr, p));
      act.append(edit);
    }
    tr.append(pr, ch, first, res, act);
    tb.append(tr);
  }
}
async function putSla(body) {
  const r = await api('PUT', '/api/v1/routing/sla', body);
  state.sla = r.items;
  renderSla();
  toast('SLA target saved: ' + body.priority + ' · ' + (body.channel || 'any channel'), 'good');
}
function slaErrText(e) {
  const f = e.data && e.data.error && e.data.error.fields;
  return f ? Object.entries(f).map(([k, v]) => (FIELD_LABEL[k] || k) + ' ' + v).join('; ') : e.message;
}
function editSla(tr, p) {
  const cells = tr.children;
  const num = (v, label) => { const i = el('input', 'mins-in'); i.type = 'number'; i.min = '1'; i.step = '1'; i.value = String(v); i.setAttribute('aria-label', label); return i; };
  const f = num(p.first_response_mins, 'first response minutes'), r = num(p.resolution_mins, 'resolution minutes');
  const wrap = (i) => { const w = el('span', 'mins-edit'); w.append(i, el('span', 'muted', 'min')); return w; };
  cells[2].replaceChildren(wrap(f)); cells[3].replaceChildren(wrap(r));
  const save = el('button', 'small primary', 'Save'), cancel = el('button', 'small ghost', 'Cancel');
  save.type = cancel.type = 'button';
  const err = el('div', 'error sla-err');
  cancel.addEventListener('click', renderSla);
  save.addEventListener('click', async () => {
    save.disabled = true;
    try { await putSla({ priority: p.priority, channel: p.channel || null, first_response_mins: intOr(f.value), resolution_mins: intOr(r.value) }); }
    catch (e) { err.textContent = slaErrText(e); save.disabled = false; }
  });
  cells[4].replaceChildren(save, cancel, err);
  f.focus();
}
$('#sla-add').addEventListener('submit', async (ev) => {
  ev.preventDefault();
  $('#sla-add-error').textContent = '';
  try {
    await putSla({ priority: $('#sla-priority').value, channel: $('#sla-channel').value || null,
      first_response_mins: intOr($('#sla-first').value), resolution_mins: intOr($('#sla-resolution').value) });
    $('#sla-first').value = ''; $('#sla-resolution').value = '';
  } catch (e) {
    $('#sla-add-error').textContent = slaErrText(e);
  }
});

/* ---------- live updates over /ws/agent ---------- */
function wsSend(o) {
  if (state.ws && state.wsReady && state.ws.readyState === 1) { state.ws.send(JSON.stringify(o)); return true; }
  return false;
}
function setLive(kind, text) {
  const l = $('#live');
  l.textContent = text; l.className = 'live ' + kind;
}
function connect() {
  clearTimeout(state.retryTimer); state.retryTimer = null;
  const ws = new WebSocket((location.protocol === 'https:' ? 'wss://' : 'ws://') + location.host + '/ws/agent');
  state.ws = ws; state.wsReady = false;
  ws.onmessage = (ev) => {
    let m; try { m = JSON.parse(ev.data); } catch (e) { return; }
    if (ws !== state.ws || !m || typeof m.type !== 'string') return;
    if (typeof m.at === 'string') noteServerTime(m.at);
    onFrame(m);
  };
  ws.onclose = (ev) => {
    if (ws !== state.ws) return;
    state.ws = null; state.wsReady = false;
    if (ev.code === 4401) { showLogin(); return; }
    if (!state.me) return;
    const delay = Math.min(30000, 500 * 2 ** state.retry++) * (0.6 + 0.4 * Math.random());
    setLive('off', '● reconnecting…');
    state.retryTimer = setTimeout(() => { if (state.me) connect(); }, delay);
  };
}
function reconnectSoon() {
  if (state.me && !state.ws) { state.retry = 0; connect(); }
}
window.addEventListener('online', reconnectSoon);
document.addEventListener('visibilitychange', () => { if (!document.hidden) reconnectSoon(); });

function onFrame(m) {
  if (typeof crmFrame === 'function') crmFrame(m); // CRM pages, the reminders bell (crm.js)
  if (typeof marketingFrame === 'function') marketingFrame(m); // campaign progress (marketing.js)
  if (typeof qualityFrame === 'function') qualityFrame(m); // ticket.flagged / ticket.csat refresh the report (quality.js)
  if (typeof dashboardFrame === 'function') dashboardFrame(m); // a quiet refresh of the report shown (dashboard.js)
  if (typeof integrationsFrame === 'function') integrationsFrame(m); // a webhook disabled: its notice (integrations.js)
  if (typeof rulesFrame === 'function') rulesFrame(m); // events that may have fired rules: the open firing log (rules.js)
  if (typeof approvalsFrame === 'function') approvalsFrame(m); // approval.updated: the list, the request, the tab's count (approvals.js)
  if (typeof objectsFrame === 'function') objectsFrame(m); // object.*: the list of that type shown (objects.js)
  switch (m.type) {
    case 'auth_ok': {
      const again = state.everConnected;
      state.everConnected = true; state.retry = 0; state.wsReady = true;
      setLive('on', '● live');
      wsSend({ type: 'presence', status: $('#presence').value });
      for (const p of state.pending.values()) if (!p.failed) transmit(p); // same client_id: stored once
      if (again) { // events were missed while we were away
        loadTickets().catch(() => {});
        if (state.selected) openTicket(state.selected).catch(() => {});
      }
      return;
    }
    case 'ack': onReplyStored(m.client_id, m.message_id); return;
    case 'accepted': onAccepted(m); return;
    case 'declined': return; // ticket.offer_withdrawn follows and says so
    case 'presence_ok': case 'pong': return;
    case 'typing': if (m.from === 'customer') customerTyping(m.ticket_id, !!m.typing); return;
    case 'error': {
      const p = m.client_id && state.pending.get(m.client_id);
      if (p && isRefusal(m.code)) { refuseReply(p, m.message || m.code); return; }
      if (p) { p.failed = m.message || m.code; renderThread(); return; }
      if (onAcceptRefused(m)) return;
      if (m.code === 'not_available') {
        toast('Someone else already has this conversation.', 'bad');
        if (state.selected) openTicket(state.selected).catch(() => {});
        loadTickets().catch(() => {});
        return;
      }
      toast(m.message || m.code, 'bad');
      return;
    }
    case 'message.created': onMessageEvent(m); return;
    case 'kb.suggestions': onSuggestions(m); return;
    case 'message.updated': onMessageUpdated(m); return;
    case 'ticket.unassigned': onUnassigned(m); return;
    case 'ticket.offer_withdrawn': onOfferWithdrawn(m); return;
    case 'ticket.sla_warning': case 'ticket.sla_breached': onSlaEvent(m); return;
    case 'ticket.escalated': onEscalated(m); return;
    case 'ticket.taken': { // someone took a ticket from the unassigned queue
      const t = state.tickets.get(m.ticket_id);
      if (t && m.assignee_id !== state.me.id) { t.assignee_id = m.assignee_id; t._seq = ++eventSeq; }
      if (m.assignee_id !== state.me.id && state.selected === m.ticket_id) toast('Another agent took #' + m.ticket_id, 'info');
      onUnassigned(m);
      return;
    }
    case 'customer.updated': {
      const pane = $('#customer-panel');
      if (!pane.hidden && String(pane.dataset.customer) === String(m.customer_id)) loadCustomerPanel(pane, m.customer_id, state.selected);
      // the name on our tickets may have changed (a chat visitor left their details)
      if ([...state.tickets.values()].some((t) => t.customer_id === m.customer_id)) {
        api('GET', '/api/v1/tickets?' + new URLSearchParams({ customer_id: String(m.customer_id), per_page: '50' })).then((r) => {
          for (const t of r.items) upsert(t);
          if (state.selected && state.tickets.get(state.selected).customer_id === m.customer_id) { renderDetail(); renderThread(); }
          renderTickets();
        }).catch(() => {});
      }
      return;
    }
    default:
      if (m.type.startsWith('ticket.')) onTicketEvent(m);
  }
}

function onTicketEvent(m) {
  if (!m.ticket) { if (m.ticket_id) refreshTicket(m.ticket_id); return; }
  const t = upsert(m.ticket, true);
  if (!t.created_at) t.created_at = m.at;
  if (!t.customer_name) refreshTicket(t.id); // a partial ticket in the event: fetch the full row
  // ticket.assigned is sent when the assignee changes; our own "Take" makes no noise
  if (m.type === 'ticket.assigned' && t.assignee_id === state.me.id && !state.accepting.delete(t.id)) notifyAssigned(t);
  if (m.type === 'ticket.offered' && isMyOffer(t)) notifyOffer(t);
  if (state.selected === t.id) { renderDetail(); renderThread(); refreshThreadSoon(); }
  renderTickets();
}

// A transfer or a status change may add system lines to the thread that come without a
// message.created of their own: re-read the open thread shortly after ticket events.
function refreshThreadSoon() {
  clearTimeout(refreshThreadSoon.timer);
  refreshThreadSoon.timer = setTimeout(async () => {
    const id = state.selected;
    if (!id || !state.thread || state.thread.id !== id) return;
    try {
      const r = await api('GET', '/api/v1/tickets/' + id + '/messages');
      if (!state.thread || state.thread.id !== id) return;
      let added = false;
      for (const msg of r.items) if (!state.thread.msgs.has(msg.id)) { state.thread.msgs.set(msg.id, msg); added = true; }
      if (added) renderThread();
    } catch (e) { /* the ticket may be gone; onUnassigned handles that */ }
  }, 300);
}

async function refreshTicket(id) {
  try {
    const t = await api('GET', '/api/v1/tickets/' + id);
    delete t.messages;
    upsert(t, true);
  } catch (e) {
    if (e.status === 404) state.tickets.delete(id);
  }
  renderTickets();
}

function onUnassigned(m) {
  const id = m.ticket_id;
  refreshTicket(id).then(() => {
    if (state.selected === id && !state.tickets.has(id)) {
      state.selected = null; state.thread = null;
      emptyDetail(m.type === 'ticket.taken' ? 'Another agent took this conversation.' : 'This conversation was transferred away from you.');
    } else if (state.selected === id) { renderDetail(); renderThread(); }
  });
}

function onMessageEvent(ev) {
  const msg = ev.message;
  const id = ev.ticket_id || (msg && msg.ticket_id);
  if (!msg || !id) return;
  if (!msg.created_at) msg.created_at = ev.at || new Date().toISOString();
  const t = state.tickets.get(id);
  const touch = (x) => {
    if (!x) return;
    x.last_message_at = msg.created_at || ev.at;
    if (!msg.internal && msg.author_type !== 'system') x.preview = msg.body_visible || msg.body_text;
  };
  if (t) touch(t);
  else refreshTicket(id).then(() => { touch(state.tickets.get(id)); renderTickets(); });
  if (msg.direction === 'in') {
    customerTyping(id, false);
    const viewing = state.selected === id && !document.hidden;
    if (!viewing && state.unread.size < 500) { state.unread.add(id); saveUnread(); }
  }
  if (state.thread && state.thread.id === id) {
    state.thread.msgs.set(msg.id, msg); // the stored row wins over what an ack let us assume
    // our own reply may be reported before its ack: the pending bubble goes when the ack comes
    renderThread(msg.direction === 'in' ? false : true);
    // a new e-mail may bring Cc participants; an event without the e-mail details
    // (body_visible, attachments) is completed from the stored row
    if (msg.channel === 'email' && msg.direction === 'in') refreshEmail(id);
  }
  renderTickets();
}

// Delivery state of an outbound message changed (queued → sending → sent → delivered, or
// failed / ambiguous with an error). The error only comes in the event: it is kept by
// message id so it still shows after the thread is reloaded from REST.
function onMessageUpdated(ev) {
  const u = ev.message;
  if (!u || !u.id || typeof u.status !== 'string') return;
  const id = ev.ticket_id || u.ticket_id;
  if (u.error) state.deliveryErrors.set(u.id, String(u.error)); else state.deliveryErrors.delete(u.id);
  if (!state.thread || state.thread.id !== id) return;
  const m = state.thread.msgs.get(u.id);
  if (!m) { refreshThreadSoon(); return; } // not loaded yet: the stored row brings the status
  m.status = u.status;
  m.error = u.error || null;
  renderThread();
}

async function refreshEmail(id) {
  let t;
  try { t = await api('GET', '/api/v1/tickets/' + id); } catch (e) { return; }
  if (!state.thread || state.thread.id !== id) return;
  for (const m of t.messages || []) state.thread.msgs.set(m.id, m);
  delete t.messages;
  upsert(t);
  if (state.selected === id) { refreshCcLine(); renderThread(); }
}

document.addEventListener('visibilitychange', () => {
  if (!document.hidden && state.selected && state.unread.delete(state.selected)) { saveUnread(); renderTickets(); }
});

$('#presence').addEventListener('change', () => {
  const v = $('#presence').value;
  $('#presence-dot').className = 'dot ' + v;
  localStorage.setItem('sb.presence', v);
  wsSend({ type: 'presence', status: v });
});

// relative times in the list stay fresh
setInterval(() => { if (state.me && state.view === 'tickets') renderTickets(); }, 60000);

function start(agent) {
  state.me = agent;
  // nothing of a previous sign-in's offers or notices survives into this one
  for (const n of state.offerNotes.values()) clearTimeout(n.timer);
  state.offerNotes.clear(); state.offerBusy.clear(); state.offerErrors.clear(); state.acceptQueue = [];
  $('#offers').replaceChildren();
  $('#notices').replaceChildren();
  $('#me').replaceChildren(avatar(agent.name, 'sm'), el('span', '', agent.name + ' · ' + agent.role));
  $('#login').hidden = true; $('#app').hidden = false;
  try { state.unread = new Set(JSON.parse(localStorage.getItem('sb.unread.' + agent.id) || '[]')); } catch (e) { state.unread = new Set(); }
  const pres = localStorage.getItem('sb.presence');
  if (pres) { $('#presence').value = pres; $('#presence-dot').className = 'dot ' + pres; }
  $('.queue[data-queue=all]').hidden = !isStaff();
  $('.tab[data-view=routing]').hidden = !isStaff();
  $('#rule-new').hidden = !isAdmin();
  $('#sla-add').hidden = !isAdmin();
  $('#routing-ro').hidden = !isStaff() || isAdmin();
  if (typeof crmStart === 'function') crmStart(agent);
  if (typeof marketingStart === 'function') marketingStart(agent);
  if (typeof kbStart === 'function') kbStart(agent);
  if (typeof qualityStart === 'function') qualityStart(agent);
  if (typeof dashboardStart === 'function') dashboardStart(agent);
  if (typeof integrationsStart === 'function') integrationsStart(agent);
  if (typeof rulesStart === 'function') rulesStart(agent);
  if (typeof approvalsStart === 'function') approvalsStart(agent);
  if (typeof objectsStart === 'function') objectsStart(agent);
  if (typeof fieldPermsStart === 'function') fieldPermsStart(agent);
  $('.tab[data-view=tickets]').hidden = !viewAllowed('tickets');
  fitTabs();
  if (location.hash) routeFromHash();
  else if (!viewAllowed(state.view)) go(homeView());
  $('.queue[data-queue=team]').hidden = !agent.team_id;
  const saved = localStorage.getItem('sb.queue');
  const firstVisit = !(saved && $(`.queue[data-queue=${saved}]`) && !$(`.queue[data-queue=${saved}]`).hidden);
  state.queue = firstVisit ? 'unassigned' : saved;
  updateTitle(true);
  setLive('off', '● connecting…');
  if (viewAllowed('tickets')) loadTickets().then(() => {
    // first visit: the first queue with open work (mine, unassigned, team, all)
    if (!firstVisit) return;
    const open = [...state.tickets.values()].filter((t) => OPEN_STATUSES.includes(t.status));
    const pick = ['mine', 'unassigned', 'team', 'all'].find((q) =>
      !$(`.queue[data-queue=${q}]`).hidden && open.some((t) => inQueue(t, q)));
    if (pick && pick !== state.queue) {
      state.queue = pick;
      renderTickets();
    }
  }).catch((e) => toast(e.message, 'bad'));
  loadDirectory();
  connect();
}

// after every deferred script (crm.js) has run
document.addEventListener('DOMContentLoaded', () => api('GET', '/api/v1/auth/me').then(start).catch(() => showLogin()));
