// Switchboard console — the knowledge base (docs/api.md "Knowledge base"): the articles
// with their counters (views, helpful, not helpful, used in replies), filtered by language
// and state or searched (editors see drafts too); an article's page with its rendered body
// and version history; for admins and managers an editor (title, category, tags, language,
// published, Markdown beside the saved version's rendering) that saves with the version it
// started from, so a save over someone else's is refused with a clear message; delete; and
// for admins the search synonyms. Loaded after app.js, crm.js and marketing.js and built on
// their helpers (el, opt, badge, icon, api, errText, toast, go, state, button, errSlot,
// clearErrors, showErrors, fieldsOf, fullTime, isStaff, isAdmin). Everything from the server
// is set as text, except two fields it makes safe for HTML: a search hit's snippet (escaped,
// matches in <mark>) and an article's body_html (Markdown rendered to a fixed set of tags).
'use strict';

Object.assign(ICONS, {
  book: 'M18 2H6a2 2 0 0 0-2 2v16a2 2 0 0 0 2 2h12a2 2 0 0 0 2-2V4a2 2 0 0 0-2-2zM6 4h5v8l-2.5-1.5L6 12z',
  eye: 'M12 5C7 5 2.7 8.1 1 12c1.7 3.9 6 7 11 7s9.3-3.1 11-7c-1.7-3.9-6-7-11-7zm0 11.5a4.5 4.5 0 1 1 0-9 4.5 4.5 0 0 1 0 9zm0-7a2.5 2.5 0 1 0 0 5 2.5 2.5 0 0 0 0-5z',
  up: 'M2 21h4V9H2zm20-11a2 2 0 0 0-2-2h-6.3l1-4.6v-.3a1.5 1.5 0 0 0-.5-1L13.1 1 6.6 7.6A2 2 0 0 0 6 9v10a2 2 0 0 0 2 2h9a2 2 0 0 0 1.8-1.2l3-7.1.2-.7z',
  down: 'M22 3h-4v12h4zM2 14a2 2 0 0 0 2 2h6.3l-1 4.6v.3c0 .4.2.8.5 1l1.1 1.1 6.5-6.6A2 2 0 0 0 18 15V5a2 2 0 0 0-2-2H7a2 2 0 0 0-1.8 1.2l-3 7.1L2 12z',
  reply: 'M10 9V5l-7 7 7 7v-4.1c5 0 8.5 1.6 11 5.1-1-5-4-10-11-11z',
  edit: 'M3 17.25V21h3.75L17.8 9.94l-3.75-3.75zM20.7 7.04a1 1 0 0 0 0-1.41l-2.34-2.34a1 1 0 0 0-1.41 0l-1.83 1.83 3.75 3.75z',
  history: 'M13 3a9 9 0 0 0-9 9H1l3.9 3.9.1.1L9 12H6a7 7 0 1 1 2.05 4.95l-1.42 1.42A9 9 0 1 0 13 3zm-1 5v5l4.3 2.5.7-1.2-3.5-2.1V8z',
});

const KB_EDITORS = ['admin', 'manager'];
Object.assign(VIEWS, { kb: (id) => loadKb(id) });
const canEditKb = () => !!state.me && KB_EDITORS.includes(state.me.role);
const KB_LOCALE = { zh: '中文', en: 'English' };

const kb = {
  items: [], total: 0, page: 1, byId: new Map(), categories: new Set(),
  hits: null, searchSeq: 0, searchTimer: null, listSeq: 0,
  art: null,        // the article shown (as last read or saved)
  versions: null,   // its versions, newest first
  mode: 'read',     // read | edit | new
  draft: null,      // the editor's fields: {title, body, category, tags, locale, published}
  conflict: null,   // {version, mine: {title, body}} after a 409
  kept: null,       // the text the editor had when it reloaded after a 409
  wantEdit: 0,      // open this article in the editor once loaded (after creating it)
  openVersion: 0,   // the version whose text is unfolded in the history
};

/* ---------- the list ---------- */
function kbListParams(page) {
  const p = new URLSearchParams({ per_page: '200', page: String(page) });
  const loc = $('#kb-locale').value, pub = canEditKb() ? $('#kb-published').value : 'true';
  if (loc) p.set('locale', loc);
  if (pub) p.set('published', pub);
  return p;
}
async function loadKbList(more) {
  const seq = ++kb.listSeq;
  const page = more ? kb.page + 1 : 1;
  const r = await api('GET', '/api/v1/kb/articles?' + kbListParams(page));
  if (seq !== kb.listSeq) return;
  kb.page = page;
  kb.items = more ? kb.items.concat(r.items) : r.items;
  kb.total = r.total;
  for (const a of r.items) {
    kb.byId.set(a.id, a);
    if (a.category) kb.categories.add(a.category);
  }
}
async function loadKb(id) {
  id = id || 0;
  if (id !== kb.shownId) { kb.versions = null; kb.openVersion = 0; }
  kb.shownId = id;
  const list = loadKbList().then(renderKbList);
  if (kb.q()) kbSearchSoon(0);
  if (id && kb.mode === 'edit' && kb.draft && kb.art && kb.art.id === id && kb.wantEdit !== id) {
    // the editor of this very article stays as it is (its version is what the save expects)
    renderKbPane();
    if (!kb.versions) loadKbVersions(id);
  } else if (id) {
    if (kb.mode !== 'read' && kb.wantEdit !== id) { kb.mode = 'read'; kb.draft = null; kb.conflict = null; kb.kept = null; }
    await openKbArticle(id);
  } else {
    if (kb.mode !== 'new') { kb.art = null; kb.mode = 'read'; kb.draft = null; kb.conflict = null; kb.kept = null; }
    renderKbPane();
  }
  await list;
}
kb.q = () => $('#kb-search').value.trim();

function kbCounters(a, cls) {
  const box = el('span', 'kb-counts' + (cls ? ' ' + cls : ''));
  const one = (name, n, title) => { const s = el('span', 'kb-count', String(n || 0)); s.prepend(icon(name)); s.title = title; return s; };
  box.append(one('eye', a.views, 'Views 浏览'), one('up', a.helpful, 'Helpful 有帮助'), one('down', a.not_helpful, 'Not helpful 没帮助'),
    one('reply', a.used, 'Used in replies 引用'));
  return box;
}
function kbItem(a, hit) {
  const li = el('li', 'mk-item kb-item' + (kb.art && kb.art.id === a.id && kb.mode !== 'new' ? ' sel' : ''));
  li.dataset.id = a.id; li.tabIndex = 0;
  const top = el('span', 'kb-item-top');
  top.append(el('span', 'mk-item-name', a.title));
  const known = kb.byId.get(a.id);
  if ((known ? known.published : a.published) === false) top.append(badge('Draft 草稿', 'kb-draft'));
  li.append(top);
  if (hit) {
    const sn = el('span', 'kb-snip');
    sn.innerHTML = hit.snippet || ''; // trusted: escaped by the server, matches in <mark>
    li.append(sn);
  }
  const sub = el('span', 'mk-item-sub kb-item-sub');
  sub.append(badge(KB_LOCALE[a.locale] || a.locale, 'kb-loc'));
  if (a.category) sub.append(el('span', 'kb-cat-t', a.category));
  if (known) sub.append(kbCounters(known));
  li.append(sub);
  li.addEventListener('click', () => kbOpen(a.id));
  li.addEventListener('keydown', (e) => { if (e.key === 'Enter') kbOpen(a.id); });
  return li;
}
function renderKbList() {
  const ul = $('#kb-list');
  const more = $('#kb-more');
  if (kb.hits) {
    ul.replaceChildren(...kb.hits.map((h) => kbItem(kb.byId.get(h.id) || h, h)));
    if (!kb.hits.length) ul.append(el('li', 'mk-none muted', 'Nothing matches “' + kb.q() + '”. 没有匹配的文章'));
    $('#kb-total').textContent = kb.hits.length + (kb.hits.length === 1 ? ' match' : ' matches') + ' · 条结果';
    more.hidden = true;
    return;
  }
  ul.replaceChildren(...kb.items.map((a) => kbItem(a)));
  if (!kb.items.length) ul.append(el('li', 'mk-none muted', canEditKb() ? 'No articles yet. 暂无文章 — write the first one.' : 'No articles yet. 暂无文章'));
  $('#kb-total').textContent = kb.total + (kb.total === 1 ? ' article' : ' articles') + ' · 篇';
  more.hidden = kb.items.length >= kb.total;
}
function kbOpen(id) {
  if (kbDirty() && !confirm('Discard your unsaved changes? 放弃未保存的修改？')) return;
  kb.mode = 'read'; kb.conflict = null; kb.kept = null;
  go('kb', id);
}

/* ---------- search ---------- */
function kbSearchSoon(ms = 250) { clearTimeout(kb.searchTimer); kb.searchTimer = setTimeout(kbSearch, ms); }
async function kbSearch() {
  const q = kb.q();
  const seq = ++kb.searchSeq;
  if (!q) { kb.hits = null; renderKbList(); return; }
  const pub = canEditKb() ? $('#kb-published').value : 'true';
  const p = new URLSearchParams({ q, limit: '50' });
  if ($('#kb-locale').value) p.set('locale', $('#kb-locale').value);
  if (canEditKb() && pub !== 'true') p.set('drafts', 'true');
  let r;
  try { r = await api('GET', '/api/v1/kb/search?' + p); } catch (e) { if (seq === kb.searchSeq) toast(errText(e), 'bad'); return; }
  if (seq !== kb.searchSeq) return;
  // "drafts only": the hits the list knows to be drafts
  kb.hits = pub === 'false' ? r.items.filter((h) => { const a = kb.byId.get(h.id); return !a || a.published === false; }) : r.items;
  renderKbList();
}

/* ---------- an article: its page ---------- */
async function openKbArticle(id) {
  let a;
  try { a = await api('GET', '/api/v1/kb/articles/' + id); } catch (e) {
    if (e.status === 404) { toast('That article no longer exists. 文章已删除', 'bad'); kb.art = null; go('kb'); return; }
    throw e;
  }
  kb.art = a;
  kb.byId.set(a.id, { ...(kb.byId.get(a.id) || {}), ...a });
  if (kb.wantEdit === id) { kb.wantEdit = 0; kbStartEdit(); return; }
  if (kb.mode === 'edit' && !kb.draft) kb.mode = 'read';
  renderKbPane();
  loadKbVersions(id);
}
async function loadKbVersions(id) {
  let r;
  try { r = await api('GET', '/api/v1/kb/articles/' + id + '/versions'); } catch (e) { return; }
  if (!kb.art || kb.art.id !== id) return;
  kb.versions = r.items;
  const box = $('#kb-versions');
  if (box) box.replaceWith(kbVersionsCard());
}
function renderKbPane() {
  const pane = $('#kb-pane');
  for (const li of $$('#kb-list .kb-item')) li.classList.toggle('sel', !!kb.art && kb.mode !== 'new' && Number(li.dataset.id) === kb.art.id);
  if (kb.mode === 'new' || (kb.mode === 'edit' && kb.art)) { renderKbEditor(); return; }
  if (!kb.art) {
    const c = el('section', 'card mk-card kb-blank');
    c.append(icon('book', 'big'), el('p', '', 'Pick an article on the left to read it' + (canEditKb() ? ', or write a new one.' : '.')),
      el('p', 'muted', canEditKb() ? '选择左侧文章查看，或新建一篇。' : '选择左侧文章查看。'));
    pane.replaceChildren(c);
    return;
  }
  const a = kb.art;
  const card = el('section', 'card mk-card kb-read');
  card.id = 'kb-reader';
  const head = el('div', 'kb-read-head');
  const tt = el('div', 'kb-read-title');
  tt.append(el('h3', 'kb-h', a.title));
  const meta = el('div', 'kb-meta');
  meta.append(badge(KB_LOCALE[a.locale] || a.locale, 'kb-loc'), a.published ? badge('Published 已发布', 'kb-pub') : badge('Draft 草稿', 'kb-draft'));
  if (a.category) meta.append(badge(a.category, 'kb-cat'));
  for (const t of a.tags || []) meta.append(badge(t, 'tag'));
  meta.append(el('span', 'muted kb-ver', 'Version ' + a.version + ' · updated ' + fullTime(a.updated_at)));
  tt.append(meta);
  head.append(tt);
  const acts = el('div', 'mk-actions kb-read-acts');
  if (a.published) {
    const pub = el('a', 'kb-public-link', 'Help center 帮助中心');
    pub.href = '/kb#/article/' + a.id; pub.target = '_blank'; pub.rel = 'noopener';
    pub.append(icon('external'));
    acts.append(pub);
  }
  if (canEditKb()) {
    const ed = button('Edit 编辑', 'primary', () => kbStartEdit(), 'edit');
    ed.id = 'kb-edit';
    acts.append(ed);
  }
  head.append(acts);
  card.append(head, kbStats(a));
  const body = el('div', 'kb-prose');
  body.id = 'kb-read-body';
  body.innerHTML = a.body_html || ''; // trusted: the server's safe Markdown rendering
  card.append(body);
  pane.replaceChildren(card, kbVersionsCard());
}
function kbStats(a) {
  const s = el('div', 'kb-stats');
  s.id = 'kb-stats';
  const votes = (a.helpful || 0) + (a.not_helpful || 0);
  const tile = (name, label, n, note) => {
    const t = el('div', 'kb-stat');
    const k = el('span', 'kb-stat-k', label); k.prepend(icon(name));
    t.append(k, el('span', 'kb-stat-v', String(n || 0)));
    if (note) t.append(el('span', 'kb-stat-n', note));
    t.dataset.stat = name;
    return t;
  };
  s.append(tile('eye', 'Views 浏览', a.views, 'help center'),
    tile('up', 'Helpful 有帮助', a.helpful, votes ? Math.round((100 * a.helpful) / votes) + '% of votes' : 'no votes yet'),
    tile('down', 'Not helpful 没帮助', a.not_helpful),
    tile('reply', 'Used 引用', a.used, 'in replies'));
  return s;
}
function kbVersionsCard() {
  const card = el('section', 'card mk-card kb-versions');
  card.id = 'kb-versions';
  const h = el('div', 'mk-card-head');
  const h3 = el('h3', 'mk-h3', 'Version history 版本历史');
  h3.prepend(icon('history'));
  h.append(h3);
  card.append(h);
  if (!kb.versions) { card.append(el('p', 'muted kb-small', 'Loading… 加载中')); return card; }
  const ul = el('ol', 'kb-vlist');
  for (const v of kb.versions) {
    const li = el('li', 'kb-v' + (kb.art && v.version === kb.art.version ? ' current' : ''));
    li.dataset.version = v.version;
    const row = el('div', 'kb-v-row');
    row.append(el('span', 'kb-v-n', 'v' + v.version), el('span', 'kb-v-title', v.title),
      el('span', 'kb-v-who muted', (v.edited_by_name || (v.edited_by ? 'Agent #' + v.edited_by : 'system')) + ' · ' + fullTime(v.created_at)));
    if (kb.art && v.version === kb.art.version) row.append(badge('current 当前', 'kb-cur'));
    if (!v.published) row.append(badge('draft', 'kb-draft'));
    const acts = el('span', 'kb-v-acts');
    const open = kb.openVersion === v.version;
    const show = button(open ? 'Hide 收起' : 'Show 查看', 'small ghost', () => {
      kb.openVersion = open ? 0 : v.version;
      $('#kb-versions').replaceWith(kbVersionsCard());
    });
    show.setAttribute('aria-expanded', String(open));
    acts.append(show);
    if (kb.mode === 'edit' && kb.art && v.version !== kb.art.version) {
      acts.append(button('Load into editor 载入', 'small', () => kbLoadVersion(v)));
    }
    row.append(acts);
    li.append(row);
    if (open) {
      const pre = el('pre', 'kb-v-body', v.body);
      li.append(pre);
    }
    ul.append(li);
  }
  card.append(ul);
  return card;
}

/* ---------- the editor ---------- */
function kbStartEdit() {
  const a = kb.art;
  kb.mode = 'edit';
  kb.draft = { title: a.title, body: a.body, category: a.category || '', tags: [...(a.tags || [])], locale: a.locale, published: !!a.published };
  renderKbPane();
  $('#kb-title').focus();
  if (!kb.versions) loadKbVersions(a.id);
}
function kbStartNew() {
  if (kbDirty() && !confirm('Discard your unsaved changes? 放弃未保存的修改？')) return;
  kb.mode = 'new'; kb.conflict = null; kb.kept = null;
  kb.art = null;
  kb.draft = { title: '', body: '', category: '', tags: [], locale: $('#kb-locale').value || 'zh', published: false };
  if (state.view !== 'kb' || state.viewArg) showView('kb');
  renderKbPane();
  $('#kb-title').focus();
}
function kbDirty() {
  if (state.view !== 'kb' || !kb.draft || (kb.mode !== 'edit' && kb.mode !== 'new')) return false;
  const d = kb.draft, a = kb.mode === 'edit' ? kb.art : { title: '', body: '', category: '', tags: [], locale: d.locale, published: false };
  if (!a) return false;
  return d.title !== a.title || d.body !== a.body || d.category !== (a.category || '') || d.locale !== a.locale ||
    d.published !== !!a.published || d.tags.join('\u0001') !== (a.tags || []).join('\u0001');
}
function kbField(label, key, input, hint) {
  const f = el('label', 'field kb-f-' + key);
  const l = el('span', 'kb-label', label);
  if (hint) l.append(el('span', 'hint', ' ' + hint));
  f.append(l, input, errSlot(key));
  return f;
}
function renderKbEditor() {
  const d = kb.draft, a = kb.mode === 'edit' ? kb.art : null;
  const pane = $('#kb-pane');
  const card = el('section', 'card mk-card kb-editor');
  card.id = 'kb-form';
  const head = el('div', 'mk-card-head');
  const h = el('h3', 'mk-h3', a ? 'Edit article 编辑文章' : 'New article 新建文章');
  h.prepend(icon('edit'));
  head.append(h);
  if (a) head.append(el('span', 'muted kb-ver', 'Editing version ' + a.version + ' · 基于第 ' + a.version + ' 版'));
  card.append(head);

  if (kb.conflict) card.append(kbConflictNote());

  const title = el('input', 'kb-title-in'); title.id = 'kb-title'; title.value = d.title; title.maxLength = 300;
  title.placeholder = 'e.g. 退款多久到账？ How long does a refund take?';
  title.addEventListener('input', () => { d.title = title.value; kbMarkDirty(); });
  card.append(kbField('Title 标题', 'title', title));

  const row = el('div', 'kb-row');
  const cat = el('input'); cat.id = 'kb-category'; cat.value = d.category; cat.maxLength = 100; cat.placeholder = '售后服务';
  cat.setAttribute('list', 'kb-categories');
  const dl = el('datalist'); dl.id = 'kb-categories';
  for (const c of [...kb.categories].sort()) dl.append(opt(c, c));
  cat.addEventListener('input', () => { d.category = cat.value; kbMarkDirty(); });
  const loc = el('select'); loc.id = 'kb-locale-in';
  for (const [k, v] of Object.entries(KB_LOCALE)) loc.append(opt(k, v, k === d.locale));
  loc.addEventListener('change', () => { d.locale = loc.value; kbMarkDirty(); });
  const pubWrap = el('label', 'kb-switch');
  const pub = el('input'); pub.type = 'checkbox'; pub.id = 'kb-published-in'; pub.checked = d.published;
  pub.setAttribute('role', 'switch');
  const pubText = el('span', 'kb-switch-t');
  const paintPub = () => { pubText.textContent = pub.checked ? 'Published 已发布' : 'Draft 草稿'; };
  paintPub();
  pub.addEventListener('change', () => { d.published = pub.checked; paintPub(); kbMarkDirty(); });
  pubWrap.append(pub, el('span', 'kb-switch-track'), pubText);
  const pubField = el('div', 'field kb-f-published');
  pubField.append(el('span', 'kb-label', 'Help center 帮助中心'), pubWrap, errSlot('published'));
  row.append(kbField('Category 分类', 'category', cat), dl, kbField('Language 语言', 'locale', loc), pubField);
  card.append(row);

  card.append(kbField('Tags 标签', 'tags', kbTagsInput(d), 'Enter or comma to add · 回车或逗号添加'));

  const split = el('div', 'kb-md-split');
  const src = el('textarea', 'kb-md'); src.id = 'kb-body'; src.value = d.body; src.rows = 18; src.spellcheck = false;
  src.placeholder = '## 步骤\n\n1. 打开**我的订单**\n2. 点击「申请退款」\n\n> 提示：…';
  src.addEventListener('input', () => { d.body = src.value; kbMarkDirty(); });
  const mdField = kbField('Body 正文', 'body', src, '· Markdown');
  mdField.append(el('span', 'hint kb-md-hint', '## heading · **bold** · *italic* · - list · 1. list · > quote · `code` · [link](https://…) · | table |'));
  const pv = el('div', 'field kb-preview-field');
  const pvHead = el('span', 'kb-label', a ? 'Preview 预览 · saved version ' + a.version : 'Preview 预览');
  const pvBox = el('div', 'kb-prose kb-preview'); pvBox.id = 'kb-preview';
  if (a) pvBox.innerHTML = a.body_html || ''; // trusted: the server's safe Markdown rendering
  else pvBox.append(el('p', 'muted', 'The preview appears after the first save. 保存后显示预览。'));
  const stale = el('p', 'mk-note kb-stale'); stale.id = 'kb-stale';
  stale.textContent = 'Unsaved changes — the preview shows the saved version; save to see yours. 有未保存的修改，预览为已保存的版本。';
  pv.append(pvHead, stale, pvBox);
  split.append(mdField, pv);
  card.append(split);

  const err = el('p', 'error'); err.id = 'kb-error'; err.setAttribute('role', 'alert');
  card.append(err);
  const acts = el('div', 'mk-actions kb-acts');
  const save = button(a ? 'Save 保存' : 'Create article 创建', 'primary', kbSave);
  save.id = 'kb-save';
  acts.append(save);
  const cancel = button(a ? 'Close editor 关闭' : 'Cancel 取消', 'ghost', () => {
    if (kbDirty() && !confirm('Discard your unsaved changes? 放弃未保存的修改？')) return;
    kb.draft = null; kb.conflict = null; kb.kept = null;
    kb.mode = 'read';
    renderKbPane();
  });
  cancel.id = 'kb-cancel';
  acts.append(cancel);
  const dirty = el('span', 'muted kb-dirty'); dirty.id = 'kb-dirty';
  acts.append(dirty);
  if (a) {
    acts.append(el('span', 'spacer'));
    const del = button('Delete 删除', 'ghost danger', () => kbConfirmDelete(acts, a));
    del.id = 'kb-delete';
    acts.append(del);
  }
  card.append(acts);
  const parts = [card];
  if (kb.kept) parts.push(kbKeptCard());
  if (a) parts.push(kbVersionsCard());
  pane.replaceChildren(...parts);
  kbMarkDirty();
}
function kbMarkDirty() {
  const dirty = kbDirty();
  const s = $('#kb-stale'), m = $('#kb-dirty');
  if (s) s.hidden = !(dirty && kb.mode === 'edit' && kb.draft.body !== kb.art.body);
  if (m) m.textContent = dirty ? 'Unsaved changes 未保存' : (kb.mode === 'edit' ? 'No changes 无修改' : '');
}
function kbTagsInput(d) {
  const box = el('div', 'kb-tags');
  box.id = 'kb-tags';
  const input = el('input', 'kb-tag-in'); input.id = 'kb-tag-input'; input.maxLength = 50;
  input.setAttribute('aria-label', 'add a tag');
  const paint = () => {
    for (const c of $$('.kb-chip', box)) c.remove();
    for (const t of d.tags) {
      const chip = el('span', 'badge tag kb-chip', t);
      const x = el('button', 'kb-chip-x', '×'); x.type = 'button'; x.setAttribute('aria-label', 'remove tag ' + t);
      x.addEventListener('click', () => { d.tags = d.tags.filter((y) => y !== t); paint(); kbMarkDirty(); input.focus(); });
      chip.append(x);
      box.insertBefore(chip, input);
    }
    input.placeholder = d.tags.length ? '' : '退款, refund';
  };
  const commit = () => {
    const parts = input.value.split(/[,，、;；]/).map((s) => s.trim()).filter(Boolean);
    for (const p of parts) if (!d.tags.includes(p) && d.tags.length < 20) d.tags.push(p.slice(0, 50));
    input.value = '';
    paint(); kbMarkDirty();
  };
  input.addEventListener('keydown', (e) => {
    if (e.key === 'Enter' || e.key === ',' || e.key === '，' || e.key === '、') { e.preventDefault(); commit(); }
    else if (e.key === 'Backspace' && !input.value && d.tags.length) { d.tags.pop(); paint(); kbMarkDirty(); }
  });
  input.addEventListener('input', () => { if (/[,，、;；]/.test(input.value)) commit(); });
  input.addEventListener('blur', commit);
  box.addEventListener('click', (e) => { if (e.target === box) input.focus(); });
  box.append(input);
  paint();
  return box;
}
function kbLoadVersion(v) {
  const d = kb.draft;
  Object.assign(d, { title: v.title, body: v.body, category: v.category || '', tags: [...(v.tags || [])], locale: v.locale, published: !!v.published });
  renderKbEditor();
  toast('Version ' + v.version + ' is in the editor: save to restore it. 已载入第 ' + v.version + ' 版，保存后恢复。', 'info');
}
async function kbSave() {
  const d = kb.draft, a = kb.mode === 'edit' ? kb.art : null, form = $('#kb-form');
  const tagIn = $('#kb-tag-input');
  if (tagIn && tagIn.value.trim()) tagIn.dispatchEvent(new Event('blur'));
  clearErrors(form);
  $('#kb-error').textContent = '';
  const body = { title: d.title.trim(), body: d.body, category: d.category.trim() || null, tags: d.tags, locale: d.locale, published: d.published };
  if (a) body.expected_version = a.version;
  const btn = $('#kb-save');
  btn.disabled = true;
  let saved;
  try {
    saved = a ? await api('PATCH', '/api/v1/kb/articles/' + a.id, body) : await api('POST', '/api/v1/kb/articles', body);
  } catch (e) {
    btn.disabled = false;
    if (e.status === 409 && a) {
      const m = /version (\d+)/.exec(errText(e));
      kb.conflict = { version: m ? Number(m[1]) : a.version + 1 };
      renderKbEditor();
      return;
    }
    const f = fieldsOf(e);
    if (f) showErrors(form, f, $('#kb-error'));
    else $('#kb-error').textContent = errText(e);
    return;
  }
  kb.art = saved;
  kb.conflict = null;
  kb.byId.set(saved.id, saved);
  if (saved.category) kb.categories.add(saved.category);
  kb.mode = 'edit';
  kb.draft = { title: saved.title, body: saved.body, category: saved.category || '', tags: [...(saved.tags || [])], locale: saved.locale,
    published: !!saved.published };
  kb.versions = null;
  toast((a ? 'Saved version ' + saved.version : 'Article created') + ' · 已保存', 'good');
  if (!a) {
    kb.wantEdit = saved.id;
    go('kb', saved.id);
    return;
  }
  renderKbEditor();
  loadKbVersions(saved.id);
  loadKbList().then(renderKbList).catch(() => {});
  if (kb.q()) kbSearchSoon(0);
}
function kbConflictNote() {
  const n = el('div', 'mk-note error kb-conflict');
  n.id = 'kb-conflict';
  n.setAttribute('role', 'alert');
  const v = kb.conflict.version;
  n.append(el('strong', '', 'Someone else saved version ' + v + ' while you were editing — reload to see it. '),
    el('span', '', '其他人已保存了第 ' + v + ' 版，请重新加载。 Your text is kept to copy from after the reload.'));
  const r = button('Reload 重新加载', 'small', kbReloadAfterConflict);
  r.id = 'kb-reload';
  n.append(r);
  return n;
}
async function kbReloadAfterConflict() {
  const mine = { title: kb.draft.title, body: kb.draft.body };
  let a;
  try { a = await api('GET', '/api/v1/kb/articles/' + kb.art.id); } catch (e) { toast(errText(e), 'bad'); return; }
  kb.art = a;
  kb.conflict = null;
  kb.kept = mine;
  kb.versions = null;
  kbStartEdit();
  loadKbList().then(renderKbList).catch(() => {});
}
function kbKeptCard() {
  const c = el('section', 'card mk-card kb-kept');
  c.id = 'kb-kept';
  const h = el('div', 'mk-card-head');
  h.append(el('h3', 'mk-h3', 'Your unsaved text 您未保存的内容'), button('Dismiss 关闭', 'small ghost', () => { kb.kept = null; c.remove(); }));
  c.append(h, el('p', 'muted kb-small', 'Not saved: copy what you need into the editor above. 未保存，可复制到上方编辑器。'));
  const t = el('p', 'kb-kept-title', kb.kept.title);
  const b = el('textarea', 'kb-md'); b.readOnly = true; b.value = kb.kept.body; b.rows = 8;
  c.append(t, b);
  return c;
}
function kbConfirmDelete(acts, a) {
  const keep = [...acts.childNodes];
  const q = el('span', 'confirm', 'Delete “' + a.title + '” and its ' + a.version + (a.version === 1 ? ' version' : ' versions') + '? 删除后不可恢复。');
  const yes = button('Delete 删除', 'danger-solid', async () => {
    yes.disabled = true;
    try {
      await api('DELETE', '/api/v1/kb/articles/' + a.id);
    } catch (e) {
      toast(errText(e), 'bad');
      acts.replaceChildren(...keep);
      return;
    }
    toast('Article deleted · 已删除', 'good');
    kb.byId.delete(a.id);
    kb.art = null; kb.draft = null; kb.mode = 'read'; kb.versions = null;
    go('kb');
  });
  yes.id = 'kb-delete-yes';
  const no = button('Keep 保留', 'ghost', () => acts.replaceChildren(...keep));
  acts.replaceChildren(q, yes, no);
  no.focus();
}

/* ---------- synonyms (admins) ---------- */
async function kbOpenSynonyms() {
  const dlg = $('#kb-syn-dialog');
  $('#kb-syn-error').textContent = '';
  $('#kb-syn-text').value = '';
  dlg.showModal();
  try {
    const r = await api('GET', '/api/v1/kb/synonyms');
    $('#kb-syn-text').value = r.items.map((g) => g.terms.join(', ')).join('\n');
  } catch (e) { $('#kb-syn-error').textContent = errText(e); }
}
// one group per line, terms split on commas (, ，) or 、 (and ; ；); lines ↔ groups kept for errors
function kbParseSynonyms(text) {
  const groups = [], lines = [], problems = [];
  text.split('\n').forEach((line, i) => {
    const terms = [];
    for (const t of line.split(/[,，、;；]/).map((s) => s.trim()).filter(Boolean)) if (!terms.includes(t)) terms.push(t);
    if (!terms.length) return;
    if (terms.length < 2) problems.push('Line ' + (i + 1) + ': a group needs at least two terms 至少两个词');
    groups.push(terms); lines.push(i + 1);
  });
  return { groups, lines, problems };
}
async function kbSaveSynonyms(e) {
  e.preventDefault();
  const { groups, lines, problems } = kbParseSynonyms($('#kb-syn-text').value);
  const err = $('#kb-syn-error');
  if (problems.length) { err.textContent = problems.join('; '); return; }
  const btn = $('#kb-syn-save');
  btn.disabled = true;
  try {
    await api('PUT', '/api/v1/kb/synonyms', { groups });
  } catch (x) {
    const f = fieldsOf(x);
    err.textContent = f ? Object.entries(f).map(([k, why]) => {
      const m = /^groups\[(\d+)\]$/.exec(k);
      return (m ? 'Line ' + lines[Number(m[1])] : k) + ': ' + why;
    }).join('; ') : errText(x);
    return;
  } finally { btn.disabled = false; }
  $('#kb-syn-dialog').close();
  toast('Synonyms saved: ' + groups.length + ' groups · 同义词已保存', 'good');
  if (kb.q()) kbSearchSoon(0);
}

/* ---------- wiring ---------- */
$('#kb-search').addEventListener('input', () => kbSearchSoon());
$('#kb-search').addEventListener('keydown', (e) => { if (e.key === 'Enter') kbSearchSoon(0); });
for (const id of ['#kb-locale', '#kb-published']) {
  $(id).addEventListener('change', () => {
    loadKbList().then(renderKbList).catch((e) => toast(errText(e), 'bad'));
    if (kb.q()) kbSearchSoon(0);
  });
}
$('#kb-more').addEventListener('click', () => loadKbList(true).then(renderKbList).catch((e) => toast(errText(e), 'bad')));
$('#kb-new').addEventListener('click', kbStartNew);
$('#kb-syn-btn').addEventListener('click', kbOpenSynonyms);
$('#kb-syn-form').addEventListener('submit', kbSaveSynonyms);
$('#kb-syn-cancel').addEventListener('click', () => $('#kb-syn-dialog').close());
window.addEventListener('beforeunload', (e) => { if (kbDirty()) { e.preventDefault(); e.returnValue = ''; } });

function kbStart(agent) {
  $('.tab[data-view=kb]').hidden = false;
  const editor = KB_EDITORS.includes(agent.role);
  $('#kb-new').hidden = !editor;
  $('#kb-syn-btn').hidden = agent.role !== 'admin';
  $('#kb-published').hidden = !editor;
  $('#kb-ro').hidden = editor;
  Object.assign(kb, { items: [], total: 0, page: 1, byId: new Map(), categories: new Set(), hits: null, art: null, versions: null,
    mode: 'read', draft: null, conflict: null, kept: null, wantEdit: 0, openVersion: 0 });
  $('#kb-search').value = '';
}
