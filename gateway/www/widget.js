/* Switchboard chat widget. Embed with one tag:
 *   <script src="https://HOST/widget.js" async></script>
 * Optional attributes on that tag: data-open="1" (start opened), data-title, data-subtitle,
 * data-color (CSS colour). Protocol: docs/api.md "Websocket /ws/chat".
 * No dependencies; UI lives in a Shadow DOM so the host page's CSS neither leaks in nor out;
 * every piece of text is set with textContent (links in replies become <a> elements built
 * here, http(s) only). State (visitor token, messages seen, messages not yet acknowledged,
 * answers to self-service offers) is kept in localStorage under keys namespaced by the
 * server origin. A bot message with an `offer` (a help article that may answer the first
 * question) gets "solved it" / "talk to a person" buttons; the answer goes back as a
 * kb_answer frame and the buttons stay disabled once answered or once the talk moved on. */
(function () {
  'use strict';
  if (window.__switchboardChat) return;
  var script = document.currentScript ||
    [].slice.call(document.getElementsByTagName('script')).filter(function (s) { return /\/widget\.js(\?|$)/.test(s.src); }).pop();
  var base = new URL(script && script.src ? script.src : location.href);
  var WS_URL = (base.protocol === 'https:' ? 'wss://' : 'ws://') + base.host + '/ws/chat';
  var ds = (script && script.dataset) || {};
  var KEY = 'sbchat:' + base.origin + ':';
  var MAX_CACHE = 200;

  /* ---------- storage ---------- */
  function load(k, dflt) {
    try { var v = localStorage.getItem(KEY + k); return v === null ? dflt : JSON.parse(v); } catch (e) { return dflt; }
  }
  function save(k, v) { try { localStorage.setItem(KEY + k, JSON.stringify(v)); } catch (e) { /* private mode */ } }
  var st = {
    token: load('token', null),
    msgs: load('msgs', []),         // [{id, from, author, body, at, client_id, offer}]
    pending: load('pending', []),   // [{client_id, body, at}]
    visitor: load('visitor', {}),
    answers: load('answers', {}),   // offer message id → 'solved' | 'person' | 'stale'
    rated: load('rated', {}),       // survey token → the rating that counts
  };
  var answering = null;             // {id, solved, timer}: the kb_answer sent and not yet settled
  var unsent = {};                  // offer message id → true: the answer did not get through
  function lastId() { return st.msgs.reduce(function (m, x) { return Math.max(m, x.id || 0); }, 0); }
  function persist() {
    if (st.msgs.length > MAX_CACHE) st.msgs = st.msgs.slice(-MAX_CACHE);
    save('msgs', st.msgs); save('pending', st.pending); save('last', lastId());
  }
  function uuid() {
    if (window.crypto && crypto.randomUUID) return crypto.randomUUID();
    var a = new Uint8Array(16); (window.crypto || {}).getRandomValues ? crypto.getRandomValues(a) : a.forEach(function (_, i) { a[i] = Math.random() * 256; });
    return [].map.call(a, function (b) { return (b + 256).toString(16).slice(1); }).join('');
  }

  /* ---------- DOM ---------- */
  var CSS = [
    ':host{all:initial}',
    '*{box-sizing:border-box;font-family:-apple-system,"Segoe UI","PingFang SC","Microsoft YaHei","WenQuanYi Micro Hei",Roboto,sans-serif}',
    '.launch{position:fixed;right:22px;bottom:22px;width:58px;height:58px;border-radius:50%;border:0;background:var(--c);color:#fff;',
    ' box-shadow:0 8px 24px rgba(0,0,0,.22);cursor:pointer;display:grid;place-items:center;z-index:2147483000;transition:transform .15s}',
    '.launch:hover{transform:scale(1.06)}.launch svg{width:28px;height:28px;fill:#fff}',
    '.badge{position:absolute;top:-2px;right:-2px;min-width:20px;height:20px;border-radius:10px;background:#ef4444;color:#fff;font-size:12px;',
    ' font-weight:700;display:grid;place-items:center;padding:0 5px;border:2px solid #fff}',
    '.panel{position:fixed;right:22px;bottom:92px;width:370px;max-width:calc(100vw - 24px);height:560px;max-height:calc(100vh - 110px);',
    ' background:#fff;border-radius:16px;box-shadow:0 16px 48px rgba(0,0,0,.22);display:flex;flex-direction:column;overflow:hidden;',
    ' z-index:2147483000;color:#1f2937;font-size:14px;animation:pop .18s ease-out}',
    '@keyframes pop{from{opacity:0;transform:translateY(12px)}to{opacity:1;transform:none}}',
    '.head{background:var(--c);color:#fff;padding:16px 16px 14px;display:flex;gap:12px;align-items:center}',
    '.avatar{width:38px;height:38px;border-radius:50%;background:rgba(255,255,255,.22);display:grid;place-items:center}.avatar svg{width:20px;height:20px;fill:#fff}',
    '.ht{flex:1;min-width:0}.title{font-weight:700;font-size:16px}.sub{font-size:12px;opacity:.88;margin-top:2px}',
    '.x{background:transparent;border:0;color:#fff;font-size:22px;cursor:pointer;opacity:.85;padding:2px 6px;line-height:1}.x:hover{opacity:1}',
    '.conn{font-size:12px;text-align:center;padding:5px;background:#fef3c7;color:#92400e}',
    '.log{flex:1;overflow-y:auto;padding:14px 14px 6px;background:#f8fafc;display:flex;flex-direction:column;gap:6px}',
    '.hello{align-self:center;text-align:center;color:#64748b;font-size:13px;margin:8px 16px 10px;line-height:1.5}',
    '.m{max-width:80%;padding:8px 12px;border-radius:16px;line-height:1.45;white-space:pre-wrap;word-wrap:break-word;overflow-wrap:anywhere}',
    '.m.me{align-self:flex-end;background:var(--c);color:#fff;border-bottom-right-radius:5px}',
    '.m.them{align-self:flex-start;background:#fff;border:1px solid #e2e8f0;border-bottom-left-radius:5px}',
    '.m.pending{opacity:.7}.m.failed{background:#fee2e2;color:#991b1b}',
    '.who{font-size:11px;color:#64748b;margin:4px 4px -2px;align-self:flex-start}',
    '.m a{color:var(--c);font-weight:600;text-decoration:none;word-break:break-all}.m a:hover{text-decoration:underline}',
    '.m .t{font-weight:700}',
    '.m.bot{border-left:3px solid var(--c)}',
    '.offer{align-self:flex-start;display:flex;flex-wrap:wrap;gap:6px;margin:2px 0 2px;max-width:100%}',
    '.csat{align-self:flex-start;display:flex;align-items:center;gap:6px;margin:2px 0}.csat-q{font-size:12px;color:#64748b;margin-right:2px}',
    '.cs{width:32px;height:32px;border-radius:50%;border:1px solid var(--c);background:#fff;color:var(--c);font-weight:600;cursor:pointer}',
    '.cs:hover:not(:disabled){background:var(--c);color:#fff}.cs:disabled{opacity:.5;cursor:default}.csat-done{font-size:13px;color:#475569}',
    '.ob{border:1px solid var(--c);background:#fff;color:var(--c);border-radius:999px;padding:6px 11px;font-size:12.5px;cursor:pointer;',
    ' line-height:1.2;transition:background .12s,opacity .12s}',
    '.ob.yes{background:var(--c);color:#fff}.ob:hover:not(:disabled){box-shadow:0 2px 8px rgba(0,0,0,.12)}',
    '.ob:disabled{cursor:default;opacity:.42;background:#fff;color:var(--c)}',
    '.ob.chosen,.ob.chosen:disabled{opacity:1;background:var(--c);color:#fff;box-shadow:0 0 0 3px rgba(0,0,0,.06)}',
    '.onote{align-self:flex-start;font-size:11px;color:#94a3b8;margin:0 4px 4px}',
    '.meta{font-size:11px;color:#94a3b8;margin:-2px 4px 4px}.meta.me{align-self:flex-end}.meta.them{align-self:flex-start}',
    '.typing{align-self:flex-start;background:#fff;border:1px solid #e2e8f0;border-radius:16px;padding:10px 12px;display:flex;gap:4px}',
    '.typing i{width:6px;height:6px;border-radius:50%;background:#94a3b8;animation:b 1s infinite}',
    '.typing i:nth-child(2){animation-delay:.15s}.typing i:nth-child(3){animation-delay:.3s}',
    '@keyframes b{0%,60%,100%{transform:none;opacity:.5}30%{transform:translateY(-4px);opacity:1}}',
    '.details{border-top:1px solid #e2e8f0;padding:10px 14px;background:#fff;display:flex;flex-direction:column;gap:6px}',
    '.details input{border:1px solid #cbd5e1;border-radius:8px;padding:7px 9px;font-size:13px;width:100%}',
    '.row{display:flex;gap:6px}.link{background:none;border:0;color:var(--c);cursor:pointer;font-size:12px;padding:0}',
    '.foot{border-top:1px solid #e2e8f0;padding:10px;display:flex;gap:8px;align-items:flex-end;background:#fff}',
    '.foot textarea{flex:1;resize:none;border:1px solid #cbd5e1;border-radius:12px;padding:9px 11px;font-size:14px;max-height:110px;min-height:40px;outline:none;color:#1f2937}',
    '.foot textarea:focus,.details input:focus{border-color:var(--c);box-shadow:0 0 0 3px rgba(37,99,235,.12)}',
    '.send{width:40px;height:40px;border-radius:50%;border:0;background:var(--c);color:#fff;cursor:pointer;display:grid;place-items:center}',
    '.send svg{width:18px;height:18px;fill:#fff}.send:disabled{opacity:.4;cursor:default}',
    '.btn{border:0;border-radius:8px;background:var(--c);color:#fff;padding:7px 12px;cursor:pointer;font-size:13px}',
    '.tools{display:flex;justify-content:space-between;padding:0 14px 8px;background:#fff;font-size:11px;color:#94a3b8}',
    '[hidden]{display:none!important}',
    '@media (max-width:480px){.panel{right:10px;left:10px;width:auto;max-width:none;bottom:86px;height:calc(100vh - 110px)}.foot textarea{font-size:16px}}',
  ].join('\n');

  function h(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text != null) e.textContent = String(text);
    return e;
  }
  function svg(d) {
    var s = document.createElementNS('http://www.w3.org/2000/svg', 'svg');
    s.setAttribute('viewBox', '0 0 24 24');
    var p = document.createElementNS('http://www.w3.org/2000/svg', 'path');
    p.setAttribute('d', d); s.appendChild(p); return s;
  }
  function hhmm(iso) {
    var d = iso ? new Date(iso) : new Date();
    return isNaN(d) ? '' : d.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
  }

  var host = h('div'); host.id = 'switchboard-chat'; host.setAttribute('data-state', 'connecting');
  var root = host.attachShadow ? host.attachShadow({ mode: 'open' }) : host;
  try {
    var sheet = new CSSStyleSheet(); sheet.replaceSync(CSS); root.adoptedStyleSheets = [sheet]; // not subject to host CSP
  } catch (e) { root.appendChild(h('style', null, CSS)); }
  host.style.setProperty('--c', ds.color || '#2563eb');

  var launch = h('button', 'launch'); launch.type = 'button'; launch.setAttribute('aria-label', 'Open chat');
  launch.appendChild(svg('M12 3C6.5 3 2 6.8 2 11.5c0 2.4 1.2 4.6 3.1 6.1L4 21l4.2-2c1.2.4 2.5.6 3.8.6 5.5 0 10-3.8 10-8.5S17.5 3 12 3z'));
  var badge = h('span', 'badge'); badge.hidden = true; launch.appendChild(badge);

  var panel = h('section', 'panel'); panel.hidden = true; panel.setAttribute('role', 'dialog'); panel.setAttribute('aria-label', 'Chat');
  var head = h('div', 'head'), av = h('div', 'avatar'), ht = h('div', 'ht');
  ht.appendChild(h('div', 'title', ds.title || 'Chat with us'));
  var sub = h('div', 'sub', ds.subtitle || 'We usually reply within a few minutes');
  ht.appendChild(sub);
  var close = h('button', 'x', '×'); close.type = 'button'; close.setAttribute('aria-label', 'Close chat');
  av.appendChild(svg('M20 2H4a2 2 0 0 0-2 2v18l4-4h14a2 2 0 0 0 2-2V4a2 2 0 0 0-2-2z'));
  head.appendChild(av); head.appendChild(ht); head.appendChild(close);
  var conn = h('div', 'conn', 'Connecting…');
  var log = h('div', 'log'); log.setAttribute('aria-live', 'polite');
  var typing = h('div', 'typing'); typing.hidden = true;
  for (var i = 0; i < 3; i++) typing.appendChild(h('i'));

  var details = h('form', 'details'); details.hidden = true;
  var fName = h('input'); fName.placeholder = 'Your name'; fName.maxLength = 200; fName.autocomplete = 'name';
  var fMail = h('input'); fMail.type = 'email'; fMail.placeholder = 'E-mail (so we can follow up)'; fMail.autocomplete = 'email';
  var fRow = h('div', 'row'), fSave = h('button', 'btn', 'Save'), fCancel = h('button', 'link', 'Cancel');
  fSave.type = 'submit'; fCancel.type = 'button';
  fRow.appendChild(fSave); fRow.appendChild(fCancel);
  details.appendChild(fName); details.appendChild(fMail); details.appendChild(fRow);

  var tools = h('div', 'tools'), detailsLink = h('button', 'link', 'Leave your details'), powered = h('span', null, 'Powered by Switchboard');
  detailsLink.type = 'button'; tools.appendChild(detailsLink); tools.appendChild(powered);
  var foot = h('form', 'foot'), input = h('textarea'), send = h('button', 'send');
  input.rows = 1; input.placeholder = 'Type a message…'; input.maxLength = 4000; input.setAttribute('aria-label', 'Message');
  send.type = 'submit'; send.setAttribute('aria-label', 'Send'); send.appendChild(svg('M3 20.5l18-8.5L3 3.5v6.6l12 1.9-12 1.9z'));
  foot.appendChild(input); foot.appendChild(send);
  [head, conn, log, details, foot, tools].forEach(function (x) { panel.appendChild(x); });
  root.appendChild(launch); root.appendChild(panel);

  /* ---------- rendering ---------- */
  var unread = 0;
  var URL_RE = /(https?:\/\/[^\s<>"'《》，。！？、）]+|\/kb#\/article\/\d+)/g;
  // an http(s) address (or a path on the chat server, e.g. /kb#/article/7), else null
  function safeHref(text) {
    try {
      var u = new URL(text, base.origin);
      return (u.protocol === 'http:' || u.protocol === 'https:') ? u.href : null;
    } catch (e) { return null; }
  }
  // the text of a reply as text nodes and <a> elements; a line 《…》 (an article title) bold;
  // the offered article's link reads "Read the article" instead of its address
  function fillBody(b, m) {
    var lines = String(m.body == null ? '' : m.body).split('\n');
    lines.forEach(function (line, i) {
      if (i) b.appendChild(document.createTextNode('\n'));
      if (m.offer && /^《.*》$/.test(line)) { b.appendChild(h('span', 't', line)); return; }
      var at = 0, x;
      URL_RE.lastIndex = 0;
      while ((x = URL_RE.exec(line))) {
        var tok = x[0].replace(/[.,;:!?)\]]+$/, ''); // "see https://…/x." — the full stop is not the address's
        var href = safeHref(tok);
        if (!href) continue;
        if (x.index > at) b.appendChild(document.createTextNode(line.slice(at, x.index)));
        var whole = m.offer && line.trim() === tok && /\/kb#\/article\/\d+$/.test(tok);
        var survey = m.from === 'bot' && CSAT_RE.test(tok);
        var a = h('a', null, whole ? '阅读全文 · Read the article ›' : survey ? '评分页 · survey page ›' : tok);
        a.href = href; a.target = '_blank'; a.rel = 'noopener noreferrer';
        if (whole || survey) a.title = href;
        b.appendChild(a);
        at = x.index + tok.length;
      }
      if (at < line.length) b.appendChild(document.createTextNode(line.slice(at)));
    });
  }
  // what became of an offer: answered here, or inferred from what the bot said next
  function offerAnswer(m) {
    if (st.answers[m.id]) return st.answers[m.id];
    var next = st.msgs.filter(function (x) { return x.id > m.id && x.from === 'bot'; })[0];
    if (next && /帮到您|Glad it helped/.test(next.body)) return 'solved';
    if (next && /转接|Connecting you/.test(next.body)) return 'person';
    return null;
  }
  function offerButtons(m) {
    var answer = offerAnswer(m);
    var later = st.pending.length > 0 || st.msgs.some(function (x) { return x.id > m.id; });
    var busy = answering && answering.id === m.id;
    var box = h('div', 'offer'); box.dataset.offer = m.id;
    var yes = h('button', 'ob yes', '✓ 解决了 · This solved it'), no = h('button', 'ob no', '转人工 · Talk to a person');
    yes.type = no.type = 'button';
    yes.dataset.answer = 'solved'; no.dataset.answer = 'person';
    [yes, no].forEach(function (btn) {
      var chosen = answer === btn.dataset.answer;
      if (chosen) { btn.classList.add('chosen'); btn.setAttribute('aria-pressed', 'true'); }
      btn.disabled = !!answer || later || !!busy;
      btn.addEventListener('click', function () { answerOffer(m, btn.dataset.answer === 'solved'); });
      box.appendChild(btn);
    });
    log.appendChild(box);
    var note = answer === 'stale' ? '此问题已处理 · This question was already answered'
      : !answer && unsent[m.id] && !later ? '未发送，请重试 · Not sent — please try again' : '';
    if (note) log.appendChild(h('div', 'onote', note));
  }
  // a satisfaction survey (a bot message with our /csat/{token} link): five buttons, the
  // rating POSTed as JSON to that link; the first rating counts (the server keeps it)
  var CSAT_RE = /\/csat\/(\d+-[0-9a-f]{32})/;
  function surveyButtons(m) {
    var x = m.from === 'bot' && CSAT_RE.exec(String(m.body || ''));
    if (!x) return;
    var token = x[1], rated = st.rated[token];
    var box = h('div', 'csat'); box.dataset.survey = token;
    if (rated) {
      box.appendChild(h('span', 'csat-done', '感谢您的评价 · Thank you: ' + '★'.repeat(rated) + '☆'.repeat(5 - rated)));
    } else {
      box.appendChild(h('span', 'csat-q', '评分 · Rate us'));
      [1, 2, 3, 4, 5].forEach(function (n) {
        var b = h('button', 'cs', String(n)); b.type = 'button'; b.dataset.rating = n;
        b.setAttribute('aria-label', n + ' / 5');
        b.addEventListener('click', function () { rate(token, n, box); });
        box.appendChild(b);
      });
    }
    log.appendChild(box);
  }
  function rate(token, n, box) {
    Array.prototype.forEach.call(box.querySelectorAll('button'), function (b) { b.disabled = true; });
    fetch(base.origin + '/csat/' + token, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ rating: n }) })
      .then(function (r) { return r.ok ? r.json() : Promise.reject(r.status); })
      .then(function (j) { st.rated[token] = j.rating; save('rated', st.rated); render(); })
      .catch(function () { Array.prototype.forEach.call(box.querySelectorAll('button'), function (b) { b.disabled = false; }); });
  }
  function scrollDown() { log.scrollTop = log.scrollHeight; }
  function render() {
    var near = log.scrollHeight - log.scrollTop - log.clientHeight < 80;
    while (log.firstChild) log.removeChild(log.firstChild);
    log.appendChild(h('div', 'hello', 'Hi there! Ask us anything — we answer in English and 中文。'));
    var prevFrom = null;
    st.msgs.forEach(function (m) {
      var me = m.from === 'customer', side = me ? 'me' : 'them';
      if (!me && prevFrom !== m.from + (m.author || '')) log.appendChild(h('div', 'who', m.author || (m.from === 'bot' ? 'Assistant' : 'Support')));
      prevFrom = m.from + (m.author || '');
      var b = h('div', 'm ' + side + (m.from === 'bot' ? ' bot' : ''));
      if (me) b.textContent = m.body; else fillBody(b, m);
      b.dataset.id = m.id; log.appendChild(b);
      if (m.offer) offerButtons(m);
      surveyButtons(m);
      log.appendChild(h('div', 'meta ' + side, hhmm(m.at) + (me ? ' · ✓ Sent' : '')));
    });
    st.pending.forEach(function (p) {
      var b = h('div', 'm me ' + (p.failed ? 'failed' : 'pending'), p.body); b.dataset.clientId = p.client_id; log.appendChild(b);
      if (p.failed) { b.title = 'Click to dismiss'; b.onclick = function () { st.pending.splice(st.pending.indexOf(p), 1); persist(); render(); }; }
      log.appendChild(h('div', 'meta me', p.failed ? '⚠ ' + p.failed + ' (click to dismiss)' : hhmm(p.at) + ' · Sending…'));
    });
    log.appendChild(typing);
    if (near || render.force) scrollDown();
    render.force = false;
  }
  function setConn(text, state) { conn.textContent = text || ''; conn.hidden = !text; host.setAttribute('data-state', state); }
  function setBadge() { badge.textContent = String(unread); badge.hidden = !unread || !panel.hidden; }
  function open(v) {
    panel.hidden = !v;
    launch.setAttribute('aria-label', v ? 'Close chat' : 'Open chat');
    if (v) { unread = 0; render.force = true; render(); setTimeout(function () { input.focus(); }, 0); if (!ws) connect(); }
    setBadge();
  }

  /* ---------- socket ---------- */
  var ws = null, ready = false, tries = 0, timer = null, typingTimer = null, typingSent = 0, agentTypingTimer = null;
  function tx(o) { if (ws && ready && ws.readyState === 1) { ws.send(JSON.stringify(o)); return true; } return false; }
  function connect() {
    clearTimeout(timer); timer = null;
    if (ws) return;
    ready = false;
    var s;
    try { s = new WebSocket(WS_URL); } catch (e) { return retry(); }
    ws = s;
    s.onopen = function () {
      var hello = { type: 'hello', last_message_id: lastId() };
      if (st.token) hello.visitor_token = st.token;
      s.send(JSON.stringify(hello));
    };
    s.onmessage = function (ev) {
      var f; try { f = JSON.parse(ev.data); } catch (e) { return; }
      if (f && typeof f.type === 'string') onFrame(f);
    };
    s.onclose = function () {
      if (ws !== s) return;
      ws = null; ready = false; typing.hidden = true;
      settleAnswer('closed'); // not known to have arrived: the resumed history tells
      retry();
    };
    s.onerror = function () { /* onclose follows */ };
  }
  function retry() {
    if (timer) return;
    var delay = Math.min(30000, 500 * Math.pow(2, tries++)) * (0.6 + Math.random() * 0.4);
    setConn('Reconnecting…', 'reconnecting');
    timer = setTimeout(function () { timer = null; connect(); }, delay);
  }
  function reconnectNow() { if (!ws) { tries = 0; connect(); } }
  window.addEventListener('online', reconnectNow);
  document.addEventListener('visibilitychange', function () { if (!document.hidden) reconnectNow(); });

  function flush() { st.pending.forEach(function (p) { if (!p.failed) tx({ type: 'message', client_id: p.client_id, body: p.body }); }); }
  function addMsg(m) {
    if (st.msgs.some(function (x) { return x.id === m.id; })) return false;
    st.msgs.push(m);
    st.msgs.sort(function (a, b) { return a.id - b.id; });
    if (m.client_id) st.pending = st.pending.filter(function (p) { return p.client_id !== m.client_id; });
    return true;
  }
  function onFrame(f) {
    switch (f.type) {
      case 'welcome':
        if (st.token && f.visitor_token !== st.token) { st.msgs = []; st.answers = {}; save('answers', {}); st.rated = {}; save('rated', {}); } // unknown token: a new visitor
        st.token = f.visitor_token; save('token', st.token);
        st.visitor = f.visitor || {}; save('visitor', st.visitor);
        if (!f.conversation_id) finishSync();
        break;
      case 'synced': finishSync(); break;
      case 'message':
        var m = { id: f.message_id, from: f.from, author: f.author, body: f.body, at: f.at, client_id: f.client_id };
        if (f.offer && f.offer.article_id) m.offer = { article_id: f.offer.article_id };
        if (answering && f.from === 'bot' && f.message_id > answering.id) settleAnswer(null); // the bot's reply: it arrived
        if (addMsg(m)) {
          persist(); render();
          if (f.from !== 'customer') {
            typing.hidden = true;
            if (panel.hidden && ready) { unread++; setBadge(); }
          }
        }
        break;
      case 'ack':
        var p = st.pending.filter(function (x) { return x.client_id === f.client_id; })[0];
        if (p) addMsg({ id: f.message_id, from: 'customer', body: p.body, at: p.at, client_id: p.client_id });
        st.pending = st.pending.filter(function (x) { return x.client_id !== f.client_id; });
        persist(); render();
        break;
      case 'typing':
        if (f.from === 'agent') {
          typing.hidden = !f.typing; render();
          clearTimeout(agentTypingTimer);
          if (f.typing) agentTypingTimer = setTimeout(function () { typing.hidden = true; }, 8000);
        }
        break;
      case 'identified':
        st.visitor = { name: f.name, email: f.email }; save('visitor', st.visitor);
        details.hidden = true; detailsLink.textContent = 'Details saved ✓';
        break;
      case 'error':
        if (!f.client_id && answering && (f.code === 'stale' || f.code === 'unavailable' || f.code === 'invalid')) {
          settleAnswer(f.code);
          break;
        }
        var q = f.client_id && st.pending.filter(function (x) { return x.client_id === f.client_id; })[0];
        if (q && (f.code === 'too_long' || f.code === 'invalid')) { q.failed = f.code === 'too_long' ? 'Message too long' : 'Could not send'; persist(); render(); }
        else if (q && (f.code === 'rate_limited' || f.code === 'unavailable')) {
          setTimeout(function () { if (!q.failed) tx({ type: 'message', client_id: q.client_id, body: q.body }); }, 3000);
        } else if (f.code === 'unavailable' && !ready) { if (ws) ws.close(); }
        break;
    }
  }
  function finishSync() {
    if (ready) return;
    ready = true; tries = 0; setConn('', 'ready');
    persist(); render();
    flush();
  }

  /* ---------- self-service offers ---------- */
  function answerOffer(m, solved) {
    if (answering || st.answers[m.id]) return;
    delete unsent[m.id];
    if (!tx({ type: 'kb_answer', message_id: m.id, solved: solved })) {
      unsent[m.id] = true; render(); reconnectNow(); return;
    }
    answering = { id: m.id, solved: solved, timer: setTimeout(function () { settleAnswer(null); }, 4000) };
    st.answers[m.id] = solved ? 'solved' : 'person'; save('answers', st.answers);
    render.force = true; render();
  }
  // the server's word on the answer: nothing (it went through: the bot's next message says
  // so), 'stale' (already answered elsewhere), or a failure (the buttons come back)
  function settleAnswer(code) {
    if (!answering) return;
    clearTimeout(answering.timer);
    var id = answering.id;
    answering = null;
    if (code === 'stale') st.answers[id] = 'stale';
    else if (code) { delete st.answers[id]; unsent[id] = true; }
    save('answers', st.answers);
    render();
  }

  /* ---------- user actions ---------- */
  function submit() {
    var body = input.value.replace(/^\s+|\s+$/g, '');
    if (!body) return;
    var p = { client_id: uuid(), body: body, at: new Date().toISOString() };
    st.pending.push(p); persist();
    input.value = ''; autosize();
    stopTyping();
    render.force = true; render();
    tx({ type: 'message', client_id: p.client_id, body: p.body });
    if (!ws) reconnectNow();
  }
  function stopTyping() { clearTimeout(typingTimer); if (typingSent) { typingSent = 0; tx({ type: 'typing', typing: false }); } }
  function autosize() { input.style.height = 'auto'; input.style.height = Math.min(110, input.scrollHeight + 2) + 'px'; }
  foot.addEventListener('submit', function (e) { e.preventDefault(); submit(); });
  input.addEventListener('keydown', function (e) {
    if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) { e.preventDefault(); submit(); }
  });
  input.addEventListener('input', function () {
    autosize();
    if (!input.value) return stopTyping();
    var now = Date.now();
    if (now - typingSent > 3000) { typingSent = now; tx({ type: 'typing', typing: true }); }
    clearTimeout(typingTimer); typingTimer = setTimeout(stopTyping, 2000);
  });
  launch.addEventListener('click', function () { open(panel.hidden); });
  close.addEventListener('click', function () { open(false); });
  detailsLink.addEventListener('click', function () {
    details.hidden = !details.hidden;
    fName.value = st.visitor.name || ''; fMail.value = st.visitor.email || '';
    if (!details.hidden) fName.focus();
  });
  fCancel.addEventListener('click', function () { details.hidden = true; });
  details.addEventListener('submit', function (e) {
    e.preventDefault();
    var o = { type: 'identify' };
    if (fName.value.trim()) o.name = fName.value.trim();
    if (fMail.value.trim()) o.email = fMail.value.trim();
    if (!tx(o)) setConn('Not connected — try again in a moment', 'reconnecting');
  });

  window.__switchboardChat = { open: function () { open(true); }, close: function () { open(false); } };
  function mount() {
    document.body.appendChild(host);
    render();
    var q = new URLSearchParams(location.search);
    if (ds.open === '1' || ds.open === 'true' || q.get('chat') === 'open') open(true);
    else connect();
  }
  if (document.body) mount(); else document.addEventListener('DOMContentLoaded', mount);
})();
