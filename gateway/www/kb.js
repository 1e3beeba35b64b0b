// Switchboard public help center (/kb): search the published knowledge-base articles as
// you type, read one (#/article/ID), say whether it helped. No login; plain JS, no build.
// JSON from /kb/search, /kb/articles/{id} and /kb/articles/{id}/feedback (docs/api.md
// "Knowledge base"). Text from the server is set with textContent, except two fields the
// server makes safe for HTML: a result's snippet (escaped, matches in <mark>) and an
// article's body_html (Markdown rendered to a fixed set of tags, every character escaped).
'use strict';

(() => {
  const $ = (sel) => document.querySelector(sel);
  const $$ = (sel) => Array.from(document.querySelectorAll(sel));
  const LOCALES = ['zh', 'en'];

  const T = {
    zh: {
      heading: '有什么可以帮您？', sub: '搜索常见问题，或直接输入您的问题。', label: '搜索帮助文章', go: '搜索',
      placeholder: '例如：退款多久到账？', contact: '联系我们',
      emptyTitle: '输入您的问题开始搜索', emptyHint: '用您自己的话描述问题即可，例如：',
      noneTitle: '没有找到相关文章', noneHint: '换个说法试试，或者直接联系我们，客服会尽快回复。', noneChat: '联系我们',
      otherLocale: '在英文文章中搜索', errorTitle: '暂时无法搜索', back: '返回搜索结果',
      missingTitle: '文章不存在或已下线', missingBack: '返回帮助中心首页', footQ: '没找到答案？', footChat: '在线咨询客服',
      searching: '正在搜索…', found: (n) => `找到 ${n} 篇相关文章`, none: '没有找到相关文章', updated: '更新于',
      thanks: '感谢您的反馈！', sorry: '抱歉没能帮到您。', sorryChat: '联系客服', voted: '您已反馈过，可以修改。',
      fbFailed: '反馈没有发送成功，请稍后再试。', offline: '网络连接好像有问题，请稍后再试。', loading: '正在加载…',
      title: '帮助中心', suggestions: ['退款多久到账', '怎么修改收货地址', '发票怎么开'],
    },
    en: {
      heading: 'How can we help?', sub: 'Search our articles, or just type your question.', label: 'Search help articles',
      go: 'Search', placeholder: 'e.g. How long does a refund take?', contact: 'Contact us',
      emptyTitle: 'Type a question to start', emptyHint: 'Describe the problem in your own words, for example:',
      noneTitle: 'No results', noneHint: 'Try other words, or contact us: our team usually answers within minutes.',
      noneChat: 'Contact us', otherLocale: 'Search Chinese articles 中文', errorTitle: 'Search is unavailable',
      back: 'Back to results', missingTitle: 'This article is not available', missingBack: 'Go to the help center',
      footQ: "Didn't find an answer?", footChat: 'Chat with us', searching: 'Searching…',
      found: (n) => `${n} article${n === 1 ? '' : 's'} found`, none: 'No results', updated: 'Updated',
      thanks: 'Thanks for your feedback!', sorry: "Sorry it didn't help.", sorryChat: 'Chat with us',
      voted: 'You answered before; you can change it.', fbFailed: 'Your feedback could not be sent. Please try again.',
      offline: 'The connection seems to be down. Please try again shortly.', loading: 'Loading…',
      title: 'Help Center', suggestions: ['refund', 'shipping time', 'reset password'],
    },
  };

  /* ---------- small things kept in the browser ---------- */
  const store = {
    get(k) { try { return localStorage.getItem(k); } catch (e) { return null; } },
    set(k, v) { try { localStorage.setItem(k, v); } catch (e) { /* private mode: kept for this page only */ } },
  };
  let memVisitor = null;
  // the page's own id for feedback (one vote per visitor and article): 8..64 of [A-Za-z0-9-]
  function visitorId() {
    let v = store.get('sb.kb.visitor') || memVisitor;
    if (!v || !/^[A-Za-z0-9-]{8,64}$/.test(v)) {
      v = crypto.randomUUID ? crypto.randomUUID()
        : Array.from(crypto.getRandomValues(new Uint8Array(16)), (b) => b.toString(16).padStart(2, '0')).join('');
      store.set('sb.kb.visitor', v);
    }
    memVisitor = v;
    return v;
  }
  function initialLocale() {
    const saved = store.get('sb.kb.locale');
    if (LOCALES.includes(saved)) return saved;
    const langs = navigator.languages && navigator.languages.length ? navigator.languages : [navigator.language || 'en'];
    return /^zh\b/i.test(langs[0] || '') ? 'zh' : 'en';
  }

  const st = {
    locale: initialLocale(),
    q: '', seq: 0, aseq: 0, timer: null, ctrl: null,
    results: null,     // the last answer shown: {q, locale, items}
    article: null,     // the article shown
    scrollY: 0,        // where the results were when an article was opened
    fromResults: false, // the article shown was opened from the results on this page
  };
  const t = (k) => T[st.locale][k];

  /* ---------- language ---------- */
  function applyLocale() {
    document.documentElement.lang = st.locale === 'zh' ? 'zh-CN' : 'en';
    for (const e of $$('[data-t]')) {
      const v = t(e.dataset.t);
      if (typeof v === 'string') e.textContent = v;
    }
    for (const b of $$('.lang button')) b.setAttribute('aria-pressed', String(b.dataset.locale === st.locale));
    $('#kb-q').placeholder = t('placeholder');
    $('#kb-other-locale').textContent = t('otherLocale');
    const box = $('#kb-suggest');
    box.replaceChildren(...t('suggestions').map((s) => {
      const b = document.createElement('button');
      b.type = 'button'; b.className = 'chip'; b.textContent = s;
      b.addEventListener('click', () => { $('#kb-q').value = s; searchNow(); $('#kb-q').focus(); });
      return b;
    }));
    if (st.article) setTitle(st.article.title); else setTitle(null);
  }
  function setLocale(l) {
    if (!LOCALES.includes(l) || l === st.locale) return;
    st.locale = l;
    store.set('sb.kb.locale', l);
    applyLocale();
    if (st.article) renderArticleMeta(st.article);
    if (!$('#kb-search-view').hidden) searchNow(); // (an article's page searches again on the way back)
  }
  function setTitle(article) { document.title = article ? article + ' · ' + t('title') : '帮助中心 Help Center'; }

  /* ---------- search ---------- */
  // the live region: read out always; on screen unless the page says the same in big letters
  function status(text, offScreen) {
    const s = $('#kb-status');
    s.textContent = text;
    s.classList.toggle('sr-only', !!offScreen);
  }
  function showState(which) {
    for (const id of ['kb-empty', 'kb-none', 'kb-error']) $('#' + id).hidden = id !== which;
    if (which) $('#kb-results').replaceChildren();
  }
  function searchSoon() {
    clearTimeout(st.timer);
    st.timer = setTimeout(searchNow, 250);
  }
  async function searchNow() {
    clearTimeout(st.timer);
    const q = $('#kb-q').value.trim();
    st.q = q;
    keepQueryInAddress(q);
    if (st.ctrl) st.ctrl.abort();
    const seq = ++st.seq;
    if (!q) {
      st.results = null;
      showState('kb-empty');
      status('');
      return;
    }
    if (!$('#kb-results').children.length) status(t('searching'));
    const ctrl = new AbortController();
    st.ctrl = ctrl;
    const locale = st.locale;
    let data;
    try {
      const res = await fetch('/kb/search?' + new URLSearchParams({ q, locale, limit: '20' }), { signal: ctrl.signal });
      data = await res.json().catch(() => null);
      if (!res.ok) throw new Error((data && data.error && data.error.message) || res.statusText || String(res.status));
    } catch (e) {
      if (e.name === 'AbortError' || seq !== st.seq) return;
      showState('kb-error');
      $('#kb-error-text').textContent = e instanceof TypeError ? t('offline') : e.message;
      status(t('errorTitle'), true);
      return;
    }
    if (seq !== st.seq) return; // a newer search is under way
    st.results = { q, locale, items: data.items || [] };
    renderResults();
  }
  function renderResults() {
    const items = st.results.items;
    if (!items.length) {
      showState('kb-none');
      status(t('none'), true);
      return;
    }
    showState(null);
    status(t('found')(items.length));
    const list = $('#kb-results');
    list.replaceChildren(...items.map((it) => {
      const li = document.createElement('li');
      li.className = 'hit';
      const a = document.createElement('a');
      a.href = '#/article/' + Number(it.id);
      a.dataset.id = it.id;
      if (it.category) {
        const c = document.createElement('span');
        c.className = 'hit-cat'; c.textContent = it.category;
        a.append(c);
      }
      const h = document.createElement('h2');
      h.className = 'hit-title'; h.textContent = it.title;
      const p = document.createElement('p');
      p.className = 'hit-snip';
      p.innerHTML = it.snippet || ''; // trusted: escaped by the server, matches in <mark>
      const go = document.createElement('span');
      go.className = 'hit-go'; go.setAttribute('aria-hidden', 'true'); go.textContent = '→';
      a.append(h, p, go);
      a.addEventListener('click', () => { st.scrollY = window.scrollY; });
      li.append(a);
      return li;
    }));
  }
  // the query lives in the address (#/?q=…) so a reload or "back" from an article finds it
  function keepQueryInAddress(q) {
    if (!isSearchHash(location.hash)) return;
    const h = q ? '#/?q=' + encodeURIComponent(q) : '#/';
    if (location.hash !== h && !(h === '#/' && !location.hash)) history.replaceState(null, '', h);
  }
  const isSearchHash = (h) => !h || h === '#' || h === '#/' || h.startsWith('#/?');

  /* ---------- an article ---------- */
  const fmtDate = (iso) => {
    const d = new Date(iso);
    return isNaN(d) ? '' : d.toLocaleDateString(st.locale === 'zh' ? 'zh-CN' : 'en', { year: 'numeric', month: 'long', day: 'numeric' });
  };
  function renderArticleMeta(a) {
    const meta = $('#kb-a-meta');
    meta.replaceChildren();
    if (a.category) {
      const c = document.createElement('span');
      c.className = 'a-cat'; c.textContent = a.category;
      meta.append(c);
    }
    const u = document.createElement('span');
    u.className = 'a-date';
    const time = document.createElement('time');
    time.dateTime = a.updated_at || '';
    time.textContent = fmtDate(a.updated_at);
    u.append(t('updated') + ' ', time);
    meta.append(u);
  }
  async function openArticle(id) {
    $('#kb-search-view').hidden = true;
    $('#kb-hero').classList.add('compact');
    const art = $('#kb-article');
    art.hidden = false;
    $('#kb-a-card').hidden = true;
    $('#kb-a-missing').hidden = true;
    status(t('loading'));
    st.article = null;
    const seq = ++st.aseq;
    let a = null, missing = false;
    try {
      const res = await fetch('/kb/articles/' + id);
      if (res.status === 404) missing = true;
      else if (!res.ok) throw new Error(String(res.status));
      else a = await res.json();
    } catch (e) {
      if (seq !== st.aseq) return;
      status(t('offline'));
      $('#kb-a-missing').hidden = false;
      return;
    }
    if (seq !== st.aseq) return;
    status('');
    if (missing || !a) {
      $('#kb-a-missing').hidden = false;
      setTitle(null);
      return;
    }
    st.article = a;
    renderArticleMeta(a);
    $('#kb-a-title').textContent = a.title;
    $('#kb-a-body').innerHTML = a.body_html || ''; // trusted: the server's safe Markdown rendering
    for (const link of $$('#kb-a-body a[href^="http"]')) { link.target = '_blank'; }
    for (const tbl of $$('#kb-a-body table')) {
      const wrap = document.createElement('div');
      wrap.className = 'table-wrap';
      tbl.replaceWith(wrap);
      wrap.append(tbl);
    }
    renderFeedback(a.id);
    $('#kb-a-card').hidden = false;
    setTitle(a.title);
    window.scrollTo(0, 0);
    $('#kb-a-title').focus({ preventScroll: true });
  }

  /* ---------- feedback ---------- */
  function renderFeedback(id, justVoted) {
    const v = store.get('sb.kb.vote.' + id);
    $('#kb-fb-yes').setAttribute('aria-pressed', String(v === 'yes'));
    $('#kb-fb-no').setAttribute('aria-pressed', String(v === 'no'));
    const box = $('#kb-fb-thanks');
    box.replaceChildren();
    box.className = 'fb-thanks';
    if (!v) return;
    if (!justVoted) { box.textContent = t('voted'); box.classList.add('quiet'); return; }
    box.append(t('thanks'));
    if (v === 'no') {
      const a = document.createElement('a');
      a.href = '/chat'; a.textContent = t('sorryChat');
      box.append(' ' + t('sorry') + ' ', a);
    }
  }
  async function vote(helpful) {
    const a = st.article;
    if (!a) return;
    const btns = [$('#kb-fb-yes'), $('#kb-fb-no')];
    for (const b of btns) b.disabled = true;
    try {
      const res = await fetch('/kb/articles/' + a.id + '/feedback', {
        method: 'POST', headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ helpful, visitor: visitorId() }),
      });
      if (!res.ok) throw new Error(String(res.status));
      store.set('sb.kb.vote.' + a.id, helpful ? 'yes' : 'no');
      if (st.article === a) renderFeedback(a.id, true);
    } catch (e) {
      const box = $('#kb-fb-thanks');
      box.className = 'fb-thanks bad';
      box.textContent = t('fbFailed');
    } finally {
      for (const b of btns) b.disabled = false;
    }
  }

  /* ---------- routing ---------- */
  function route() {
    const prev = st.hash;
    st.hash = location.hash;
    const m = /^#\/article\/(\d+)$/.exec(location.hash);
    if (m) {
      // came here from the results (a click, or forward again): "back" is the browser's back
      st.fromResults = prev !== undefined && isSearchHash(prev);
      $('#kb-back').href = st.q ? '#/?q=' + encodeURIComponent(st.q) : '#/';
      openArticle(Number(m[1]));
      return;
    }
    // the search page (#/ or #/?q=…)
    st.article = null;
    setTitle(null);
    $('#kb-article').hidden = true;
    $('#kb-search-view').hidden = false;
    $('#kb-hero').classList.remove('compact');
    const q = new URLSearchParams((location.hash.split('?')[1]) || '').get('q') || '';
    const input = $('#kb-q');
    if (q !== input.value.trim() || !st.results || st.results.q !== q || st.results.locale !== st.locale) {
      if (q || input.value.trim()) input.value = q;
      searchNow();
    } else {
      renderResults();
      if (st.fromResults) window.scrollTo(0, st.scrollY);
    }
    st.fromResults = false;
  }

  // the search page for what is in the box, as a new history entry (from an article)
  function goSearch() {
    const q = $('#kb-q').value.trim();
    history.pushState(null, '', q ? '#/?q=' + encodeURIComponent(q) : '#/');
    route();
  }

  function init() {
    applyLocale();
    $('#kb-q').addEventListener('input', () => {
      if (isSearchHash(location.hash)) searchSoon(); else goSearch();
    });
    $('#kb-form').addEventListener('submit', (e) => {
      e.preventDefault();
      if (isSearchHash(location.hash)) searchNow(); else goSearch();
    });
    $('#kb-q').addEventListener('keydown', (e) => {
      if (e.key === 'Escape' && $('#kb-q').value && isSearchHash(location.hash)) { $('#kb-q').value = ''; searchNow(); }
    });
    for (const b of $$('.lang button')) b.addEventListener('click', () => setLocale(b.dataset.locale));
    $('#kb-other-locale').addEventListener('click', () => setLocale(st.locale === 'zh' ? 'en' : 'zh'));
    $('#kb-back').addEventListener('click', (e) => {
      // back to the very results we came from: the browser's back, so forward works too
      if (st.fromResults) { e.preventDefault(); history.back(); }
    });
    $('#kb-fb-yes').addEventListener('click', () => vote(true));
    $('#kb-fb-no').addEventListener('click', () => vote(false));
    window.addEventListener('hashchange', route);
    route();
    if (isSearchHash(location.hash) && !('ontouchstart' in window)) $('#kb-q').focus();
  }
  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', init); else init();
})();
