/* kb.c — see kb.h. */
#include "gateway/kb.h"
#include "gateway/kb_index.h"
#include "gateway/lib/markdown.h"
#include "gateway/lib/search_text.h"
#include "gateway/lib/text.h"
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define SNIPPET_CHARS 80
#define SNIPPET_LEAD 20        /* characters shown before the first match */
#define BODY_TEXT_CAP (256 * 1024)
#define SYNONYMS_TTL 30        /* seconds another process's edits may take to show */

int kb_index_text(const char *title, const char *body_md, json_t *tags, struct buf *out)
{
    struct buf text;
    buf_init(&text, BODY_TEXT_CAP);
    int rc = search_tokens(title ? title : "", 3, out);
    size_t i;
    json_t *t;
    json_array_foreach(tags, i, t) {
        if (!rc && json_is_string(t))
            rc = search_tokens(json_string_value(t), 2, out);
    }
    if (!rc) /* a body over the cap is indexed as far as it goes */
        (void)markdown_text(body_md ? body_md : "", &text);
    if (!rc)
        rc = search_tokens(text.data ? text.data : "", 1, out);
    buf_free(&text);
    return rc;
}

/* ---- synonyms: [[tokens of term 1], [tokens of term 2], …] per group ---- */

static pthread_mutex_t syn_lock = PTHREAD_MUTEX_INITIALIZER;
static json_t *syn_groups;
static time_t syn_loaded;
static int syn_stale = 1;

void kb_synonyms_changed(void)
{
    pthread_mutex_lock(&syn_lock);
    syn_stale = 1;
    pthread_mutex_unlock(&syn_lock);
}

static int collect_token(const char *t, size_t n, size_t from, size_t to, void *arg)
{
    (void)from;
    (void)to;
    json_array_append_new(arg, json_stringn(t, n));
    return 0;
}

static json_t *tokens_of(const char *s)
{
    json_t *a = json_array();
    search_tokens_each(s, collect_token, a);
    return a;
}

static int syn_load(struct db *db, json_t **out)
{
    struct db_result r;
    int rc = db_exec(db, "SELECT terms FROM kb_synonyms ORDER BY id", DBP0, &r);
    if (rc)
        return rc;
    *out = json_array();
    for (size_t i = 0; i < r.nrows; i++) {
        json_t *terms = json_loads(db_cell(&r, i, 0), 0, NULL), *g = json_array();
        size_t k;
        json_t *term;
        json_array_foreach(terms, k, term) {
            json_t *toks = json_is_string(term) ? tokens_of(json_string_value(term)) : NULL;
            if (toks && json_array_size(toks))
                json_array_append_new(g, toks);
            else
                json_decref(toks);
        }
        json_decref(terms);
        json_array_append_new(*out, g);
    }
    db_result_free(&r);
    return DB_OK;
}

/* The current groups (a reference the caller drops). */
static int synonyms(struct db *db, json_t **groups)
{
    time_t now = time(NULL);
    pthread_mutex_lock(&syn_lock);
    int fresh = !syn_stale && syn_groups && now - syn_loaded < SYNONYMS_TTL;
    *groups = fresh ? json_incref(syn_groups) : NULL;
    pthread_mutex_unlock(&syn_lock);
    if (fresh)
        return DB_OK;
    json_t *g = NULL;
    int rc = syn_load(db, &g);
    if (rc)
        return rc;
    pthread_mutex_lock(&syn_lock);
    json_decref(syn_groups);
    syn_groups = json_incref(g);
    syn_loaded = now;
    syn_stale = 0;
    pthread_mutex_unlock(&syn_lock);
    *groups = g;
    return DB_OK;
}

static int all_in(json_t *set, json_t *toks)
{
    size_t i;
    json_t *t;
    json_array_foreach(toks, i, t) {
        if (!json_object_get(set, json_string_value(t)))
            return 0;
    }
    return 1;
}

/* The query's tokens (a set) plus its synonyms' tokens; *text the MATCH string. */
static void expand(json_t *groups, json_t *set, struct buf *text)
{
    json_t *extra = json_object();
    size_t gi;
    json_t *g;
    json_array_foreach(groups, gi, g) {
        size_t ti;
        json_t *term;
        int hit = 0;
        json_array_foreach(g, ti, term) {
            hit = hit || all_in(set, term);
        }
        if (!hit)
            continue;
        json_array_foreach(g, ti, term) {
            size_t k;
            json_t *t;
            json_array_foreach(term, k, t) {
                if (!json_object_get(set, json_string_value(t)))
                    json_object_set(extra, json_string_value(t), json_true());
            }
        }
    }
    const char *k;
    json_t *v;
    json_object_foreach(extra, k, v) {
        json_object_set(set, k, json_true());
    }
    json_object_foreach(set, k, v) {
        buf_puts(text, " ");
        buf_puts(text, k);
    }
    json_decref(extra);
}

/* ---- snippets ---- */

struct marks {
    json_t *set;
    unsigned char *on; /* per byte of the text: inside a match */
    size_t first;      /* byte where the first match starts, or SIZE_MAX */
};

static int mark_token(const char *t, size_t n, size_t from, size_t to, void *arg)
{
    struct marks *m = arg;
    char key[SEARCH_TOKEN_MAX + 1];
    if (text_copy_n(key, sizeof(key), t, n) < 0 || !json_object_get(m->set, key))
        return 0;
    memset(m->on + from, 1, to - from);
    if (from < m->first)
        m->first = from;
    return 0;
}

static size_t back_chars(const char *s, size_t at, size_t chars)
{
    while (at > 0 && chars > 0) {
        at--;
        while (at > 0 && ((unsigned char)s[at] & 0xC0) == 0x80)
            at--;
        chars--;
    }
    return at;
}

static char *snippet(const char *body_md, json_t *set)
{
    struct buf text, out;
    buf_init(&text, BODY_TEXT_CAP);
    buf_init(&out, 0);
    (void)markdown_text(body_md, &text);
    for (size_t k = 0; k < text.len; k++) /* one line: the block breaks of the text are spaces */
        if (text.data[k] == '\n' || text.data[k] == '\r' || text.data[k] == '\t')
            text.data[k] = ' ';
    const char *s = text.data ? text.data : "";
    size_t n = text.len;
    struct marks m = {set, calloc(n + 1, 1), (size_t)-1};
    if (m.on)
        search_tokens_each(s, mark_token, &m);
    size_t start = m.first == (size_t)-1 ? 0 : back_chars(s, m.first, SNIPPET_LEAD);
    const unsigned char *p = (const unsigned char *)s + start;
    for (size_t k = 0; k < SNIPPET_CHARS && *p; k++)
        utf8_next(&p);
    size_t end = (size_t)((const char *)p - s);
    if (start > 0)
        buf_puts(&out, "…");
    for (size_t i = start; i < end;) {
        size_t j = i;
        int on = m.on && m.on[i];
        while (j < end && (m.on && m.on[j]) == on)
            j++;
        if (on)
            buf_puts(&out, "<mark>");
        buf_put_html(&out, s + i, j - i);
        if (on)
            buf_puts(&out, "</mark>");
        i = j;
    }
    if (end < n)
        buf_puts(&out, "…");
    free(m.on);
    buf_free(&text);
    return out.data ? buf_take(&out) : strdup("");
}

/* ---- search ---- */

/* The database's own FULLTEXT ranking: when the index in memory cannot be had. */
static int fulltext(struct db *db, const struct kb_query *kq, const char *match, struct kb_hit *hits, size_t *n)
{
    struct db_result r;
    *n = 0;
    int rc = db_exec(db, "SELECT id, MATCH(search_text) AGAINST (? IN NATURAL LANGUAGE MODE) AS score FROM kb_articles "
                         "WHERE MATCH(search_text) AGAINST (? IN NATURAL LANGUAGE MODE) AND (published = 1 OR ? = 0) "
                         "AND (? IS NULL OR locale = ?) ORDER BY score DESC, id LIMIT ?",
                     DBP(P_S(match), P_S(match), P_I(kq->published_only), P_S(kq->locale), P_S(kq->locale),
                         P_I(kq->limit)), &r);
    if (rc)
        return rc;
    for (size_t k = 0; k < r.nrows && k < KB_SEARCH_MAX; k++)
        hits[(*n)++] = (struct kb_hit){db_cell_i64(&r, k, 0), strtod(db_cell(&r, k, 1), NULL)};
    db_result_free(&r);
    return DB_OK;
}

/* The hits as the API shows them, in their order; rows deleted meanwhile are left out. */
static int hits_json(struct db *db, const struct kb_hit *hits, size_t nh, json_t *set, json_t *items)
{
    int64_t ids[KB_SEARCH_MAX];
    for (size_t k = 0; k < nh; k++)
        ids[k] = hits[k].id;
    char *list = db_id_list(ids, nh);
    struct db_result r;
    int rc = list ? db_exec(db, "SELECT a.id, a.title, a.body, a.locale, a.category FROM kb_articles a JOIN "
                                DB_ID_LIST_TABLE " ON a.id = j.id", DBP(P_S(list)), &r)
                  : DB_EOTHER;
    free(list);
    if (rc)
        return rc;
    for (size_t h = 0; h < nh; h++) {
        size_t k = 0;
        while (k < r.nrows && db_cell_i64(&r, k, 0) != hits[h].id)
            k++;
        if (k == r.nrows)
            continue;
        char *snip = snippet(db_cell(&r, k, 2), set);
        json_array_append_new(items, json_pack("{s:I, s:s, s:s, s:f, s:s, s:s?}", "id", (json_int_t)hits[h].id, "title",
                                               db_cell(&r, k, 1), "snippet", snip ? snip : "", "score",
                                               round(hits[h].score * 10000) / 10000, "locale", db_cell(&r, k, 3),
                                               "category", db_cell(&r, k, 4)));
        free(snip);
    }
    db_result_free(&r);
    return DB_OK;
}

int kb_search(struct db *db, struct kb_query *kq, json_t **items)
{
    *items = NULL;
    json_t *set = json_object(), *groups = NULL, *toks = tokens_of(kq->q ? kq->q : "");
    size_t i;
    json_t *t;
    json_array_foreach(toks, i, t) {
        json_object_set(set, json_string_value(t), json_true());
    }
    json_decref(toks);
    kq->query_tokens = json_object_size(set);
    if (!kq->query_tokens) {
        json_decref(set);
        *items = json_array();
        return DB_OK;
    }
    int rc = synonyms(db, &groups);
    struct buf match;
    buf_init(&match, 0);
    if (!rc)
        expand(groups, set, &match);
    json_decref(groups);
    struct kb_hit hits[KB_SEARCH_MAX];
    size_t nh = 0, limit = kq->limit < KB_SEARCH_MAX ? kq->limit : KB_SEARCH_MAX;
    if (!rc)
        rc = kb_index_search(db, set, kq->locale, kq->published_only, limit, hits, &nh);
    if (rc == DB_EOTHER) /* no memory for the index: the database ranks */
        rc = fulltext(db, kq, match.data, hits, &nh);
    buf_free(&match);
    *items = json_array();
    if (!rc && nh)
        rc = hits_json(db, hits, nh, set, *items);
    json_decref(set);
    if (rc) {
        json_decref(*items);
        *items = NULL;
    }
    return rc;
}

int kb_suggest(struct db *db, const char *subject, const char *text, size_t limit, json_t **items)
{
    struct buf q;
    buf_init(&q, 0);
    buf_puts(&q, subject ? subject : "");
    buf_puts(&q, " ");
    text = text ? text : "";
    size_t n = strlen(text) < KB_SUGGEST_BYTES ? strlen(text) : KB_SUGGEST_BYTES;
    while (n > 0 && n < strlen(text) && ((unsigned char)text[n] & 0xC0) == 0x80)
        n--; /* not inside a character */
    buf_append(&q, text, n);
    struct kb_query kq = {.q = q.data ? q.data : "", .published_only = true, .limit = limit};
    int rc = kb_search(db, &kq, items);
    buf_free(&q);
    return rc;
}
