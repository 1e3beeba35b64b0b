/* api_kb.c — the knowledge base over REST (issue 10): articles with versions, search,
 * feedback and usage for agents (/api/v1/kb/…), synonyms for admins, and the public JSON
 * the self-service page (/kb) and the chat widget read (/kb/search, /kb/articles/{id}).
 *
 * An article is Markdown; reads give body (as written) and body_html (markdown.h: safe by
 * construction). Every save is a new version (kb_article_versions keeps them all); a
 * PATCH may carry expected_version and gets 409 when someone saved in between. The search
 * index (kb.h) is rebuilt in the same transaction, so a search after the answer sees the
 * edit. Public endpoints see published articles only; unpublished ones are 404 there.
 */
#include "gateway/api_handlers.h"
#include "gateway/kb.h"
#include "gateway/lib/buf.h"
#include "gateway/lib/markdown.h"
#include "gateway/lib/text.h"
#include "gateway/tickets.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define KB_BODY_MAX 200000 /* characters of Markdown */

#define ARTICLE_COLUMNS \
    "id, title, category, tags AS tags__json, locale, published AS published__bool, version, views, helpful, " \
    "not_helpful, used, created_by, updated_by, created_at, updated_at "
#define ARTICLE_SELECT "SELECT " ARTICLE_COLUMNS ", body FROM kb_articles "

static const char *const locales[] = {"zh", "en", NULL};

struct article_input {
    const char *title, *body, *category, *locale;
    json_t *tags;
    bool published, has_published;
    int64_t expected_version;
    bool has_expected;
};

static void read_article(struct jf *f, struct article_input *in, bool create)
{
    static const char *const allowed[] = {"title", "body", "category", "tags", "locale", "published",
                                          "expected_version", NULL};
    jf_only(f, allowed);
    in->title = jf_str(f, "title", 300, create);
    in->body = jf_str(f, "body", KB_BODY_MAX, create);
    in->category = jf_str(f, "category", 100, false);
    in->locale = jf_enum(f, "locale", locales, false);
    in->tags = json_object_get(f->body, "tags");
    if (in->tags && !json_is_null(in->tags))
        jf_check_names(f, "tags", in->tags, 20, 50);
    else
        in->tags = NULL;
    in->has_published = jf_has(f, "published");
    in->published = jf_bool(f, "published", false);
    in->expected_version = jf_int(f, "expected_version", 1, INT32_MAX, false, &in->has_expected);
    if (!create && jf_has(f, "title") && !in->title)
        jf_fail(f, "title", "must not be empty");
    if (!create && jf_has(f, "body") && !in->body)
        jf_fail(f, "body", "must not be empty");
}

/* The article as the API shows it; body_html added. */
static int load_article(struct db *db, int64_t id, bool published_only, bool lock, json_t **out)
{
    int rc = db_row_json_of(db, lock ? ARTICLE_SELECT "WHERE id = ? AND (published = 1 OR ? = 0) FOR UPDATE"
                                     : ARTICLE_SELECT "WHERE id = ? AND (published = 1 OR ? = 0)",
                            DBP(P_I(id), P_I(published_only)), out);
    if (rc || !*out)
        return rc;
    struct buf h;
    buf_init(&h, 0);
    if (markdown_html(json_string_value(json_object_get(*out, "body")), &h) < 0) {
        buf_free(&h);
        return DB_EOTHER;
    }
    json_object_set_new(*out, "body_html", json_string(h.data ? h.data : ""));
    buf_free(&h);
    return DB_OK;
}

/* The current row as a new version, and its index text. */
static int reindex_and_version(struct api_ctx *c, int64_t id)
{
    json_t *a = NULL;
    int rc = load_article(c->db, id, false, false, &a);
    if (rc || !a)
        return rc ? rc : DB_EOTHER;
    struct buf text;
    buf_init(&text, 0);
    if (kb_index_text(json_string_value(json_object_get(a, "title")), json_string_value(json_object_get(a, "body")),
                      json_object_get(a, "tags"), &text) < 0)
        rc = DB_EOTHER;
    if (!rc) /* the next generation: every process's index picks the edit up (kb_index.h) */
        rc = db_exec(c->db, "UPDATE kb_state SET generation = generation + 1 WHERE id = 1", DBP0, NULL);
    if (!rc)
        rc = db_exec(c->db, "UPDATE kb_articles SET search_text = ?, gen = (SELECT generation FROM kb_state WHERE id = 1) "
                            "WHERE id = ?", DBP(P_S(text.data ? text.data : ""), P_I(id)), NULL);
    buf_free(&text);
    if (!rc)
        rc = db_exec(c->db, "INSERT INTO kb_article_versions (article_id, version, title, body, category, tags, locale, "
                            "published, edited_by) SELECT id, version, title, body, category, tags, locale, published, ? "
                            "FROM kb_articles WHERE id = ?", DBP(P_IOPT(c->me.id), P_I(id)), NULL);
    json_decref(a);
    return rc;
}

static char *tags_text(json_t *tags)
{
    return tags ? json_dumps(tags, JSON_COMPACT) : NULL;
}

/* The answer after a write: the article, audited without its long body. */
static int written(struct api_ctx *c, int64_t id, json_t *before, int status)
{
    json_t *a = NULL;
    int rc = load_article(c->db, id, false, false, &a);
    if (rc || !a)
        return rc ? rc : DB_EOTHER;
    json_t *after = json_pack("{s:O, s:O, s:O}", "title", json_object_get(a, "title"), "version",
                              json_object_get(a, "version"), "published", json_object_get(a, "published"));
    rc = api_audit(c, before ? "kb_article.updated" : "kb_article.created", "kb_article", id, before, after);
    json_decref(after);
    if (rc) {
        json_decref(a);
        return rc;
    }
    return api_json(c, status, a);
}

/* Drafts are the editors' (admins, managers): to everyone else they do not exist. */
static bool editor(const struct api_ctx *c)
{
    return (c->me.role_bit & (ROLE_ADMIN | ROLE_MANAGER)) != 0;
}

int kb_articles_list(struct api_ctx *c)
{
    const char *loc = api_arg(c->req, "locale"), *cat = api_arg(c->req, "category"), *pub = api_arg(c->req, "published");
    if (loc && *loc && strcmp(loc, "zh") && strcmp(loc, "en"))
        return api_error(c, 400, "bad_request", "locale must be zh or en");
    if (pub && *pub && strcmp(pub, "true") && strcmp(pub, "false"))
        return api_error(c, 400, "bad_request", "published must be true or false");
    const char *l = loc && *loc ? loc : NULL, *k = cat && *cat ? cat : NULL;
    int p = pub && *pub ? strcmp(pub, "true") == 0 : -1;
    if (!editor(c))
        p = 1;
    /* the total by its own COUNT: a COUNT(*) OVER () window made MariaDB copy every matching
     * row, JSON tags included, into an on-disk temporary table for each page */
#define KB_LIST_WHERE "WHERE (? IS NULL OR locale = ?) AND (? IS NULL OR category = ?) AND (? < 0 OR published = ?) "
    return api_paged(c, "SELECT COUNT(*) FROM kb_articles " KB_LIST_WHERE,
                     "SELECT " ARTICLE_COLUMNS "FROM kb_articles " KB_LIST_WHERE
                     "ORDER BY updated_at DESC, id DESC LIMIT ? OFFSET ?",
                     DBP(P_S(l), P_S(l), P_S(k), P_S(k), P_I(p), P_I(p)));
#undef KB_LIST_WHERE
}

int kb_articles_get(struct api_ctx *c)
{
    json_t *a = NULL;
    int rc = load_article(c->db, c->req->params.id[0], !editor(c), false, &a);
    if (rc || !a)
        return rc ? rc : api_not_found(c);
    return api_json(c, 200, a);
}

int kb_articles_create(struct api_ctx *c)
{
    if (api_body_object(c) < 0)
        return 0;
    struct jf f;
    jf_init(&f, c->body);
    struct article_input in = {0};
    read_article(&f, &in, true);
    if (jf_has(&f, "expected_version"))
        jf_fail(&f, "expected_version", "is for updates only");
    int rc = DB_OK;
    if (!api_checked(c, &f, &rc))
        return rc;
    char *tags = tags_text(in.tags);
    struct db_result r;
    rc = db_exec(c->db, "INSERT INTO kb_articles (title, body, category, tags, locale, published, search_text, created_by, "
                        "updated_by) VALUES (?, ?, ?, COALESCE(?, JSON_ARRAY()), ?, ?, '', ?, ?)",
                 DBP(P_S(in.title), P_S(in.body), P_S(in.category), P_S(tags), P_S(in.locale ? in.locale : "zh"),
                     P_I(in.published), P_IOPT(c->me.id), P_IOPT(c->me.id)), &r);
    free(tags);
    if (rc)
        return rc;
    int64_t id = (int64_t)r.insert_id;
    db_result_free(&r);
    rc = reindex_and_version(c, id);
    return rc ? rc : written(c, id, NULL, 201);
}

int kb_articles_update(struct api_ctx *c)
{
    int64_t id = c->req->params.id[0];
    if (api_body_object(c) < 0)
        return 0;
    json_t *before = NULL;
    int rc = db_row_json_of(c->db, "SELECT title, version, published AS published__bool FROM kb_articles WHERE id = ? "
                                   "FOR UPDATE", DBP(P_I(id)), &before);
    if (rc || !before)
        return rc ? rc : api_not_found(c);
    struct jf f;
    jf_init(&f, c->body);
    struct article_input in = {0};
    read_article(&f, &in, false);
    if (!api_checked(c, &f, &rc)) {
        json_decref(before);
        return rc;
    }
    int64_t version = json_integer_value(json_object_get(before, "version"));
    if (in.has_expected && in.expected_version != version) {
        json_decref(before);
        char msg[120];
        snprintf(msg, sizeof(msg), "the article was saved by someone else meanwhile (now version %lld)", (long long)version);
        return api_error(c, 409, "conflict", msg);
    }
    char *tags = tags_text(in.tags);
    rc = db_exec(c->db, "UPDATE kb_articles SET title = COALESCE(?, title), body = COALESCE(?, body), "
                        "category = IF(?, ?, category), tags = COALESCE(?, tags), locale = COALESCE(?, locale), "
                        "published = IF(?, ?, published), version = version + 1, updated_by = ? WHERE id = ?",
                 DBP(P_S(in.title), P_S(in.body), P_I(jf_has(&f, "category")), P_S(in.category), P_S(tags),
                     P_S(in.locale), P_I(in.has_published), P_I(in.published), P_IOPT(c->me.id), P_I(id)), NULL);
    free(tags);
    if (!rc)
        rc = reindex_and_version(c, id);
    if (!rc)
        rc = written(c, id, before, 200);
    json_decref(before);
    return rc;
}

int kb_articles_delete(struct api_ctx *c)
{
    /* a missing article makes this a 404, whose transaction is rolled back */
    int rc = db_exec(c->db, "UPDATE kb_state SET generation = generation + 1 WHERE id = 1", DBP0, NULL);
    if (!rc)
        rc = db_exec(c->db, "INSERT INTO kb_deleted (article_id, gen) SELECT ?, generation FROM kb_state WHERE id = 1 "
                            "ON DUPLICATE KEY UPDATE gen = VALUES(gen)", DBP(P_I(c->req->params.id[0])), NULL);
    if (rc)
        return rc;
    return api_delete_audited(c, "SELECT id, title, version FROM kb_articles WHERE id = ? FOR UPDATE",
                              "DELETE FROM kb_articles WHERE id = ?", "kb_article");
}

int kb_articles_versions(struct api_ctx *c)
{
    int64_t id = c->req->params.id[0], have = 0;
    int rc = db_scalar_i64(c->db, "SELECT COUNT(*) FROM kb_articles WHERE id = ? AND (published = 1 OR ?)",
                           DBP(P_I(id), P_I(editor(c))), 0, &have);
    if (rc || !have)
        return rc ? rc : api_not_found(c);
    return api_rows(c, "SELECT v.version, v.title, v.body, v.category, v.tags AS tags__json, v.locale, "
                       "v.published AS published__bool, v.edited_by, a.name AS edited_by_name, v.created_at "
                       "FROM kb_article_versions v LEFT JOIN agents a ON a.id = v.edited_by "
                       "WHERE v.article_id = ? ORDER BY v.version DESC", DBP(P_I(id)));
}

/* One vote per voter; a second one replaces the first (counts follow). */
static int vote(struct api_ctx *c, int64_t id, const char *voter, bool helpful)
{
    int rc = db_exec(c->db, "INSERT INTO kb_feedback (article_id, voter, helpful) VALUES (?, ?, ?) "
                            "ON DUPLICATE KEY UPDATE helpful = VALUES(helpful), created_at = NOW(3)",
                     DBP(P_I(id), P_S(voter), P_I(helpful)), NULL);
    if (!rc)
        rc = db_exec(c->db, "UPDATE kb_articles a SET helpful = (SELECT COUNT(*) FROM kb_feedback f WHERE f.article_id = a.id "
                            "AND f.helpful = 1), not_helpful = (SELECT COUNT(*) FROM kb_feedback f WHERE "
                            "f.article_id = a.id AND f.helpful = 0), updated_at = updated_at WHERE a.id = ?",
                     DBP(P_I(id)), NULL);
    if (rc)
        return rc;
    json_t *o = NULL;
    rc = db_row_json_of(c->db, "SELECT id, helpful, not_helpful FROM kb_articles WHERE id = ?", DBP(P_I(id)), &o);
    return rc ? rc : api_json(c, 200, o);
}

static int feedback_body(struct api_ctx *c, bool *helpful, const char **visitor)
{
    if (api_body_object(c) < 0)
        return -1;
    json_t *h = json_object_get(c->body, "helpful");
    if (!json_is_boolean(h)) {
        api_invalid(c, json_pack("{s:s}", "helpful", "must be true or false"));
        return -1;
    }
    *helpful = json_is_true(h);
    if (visitor) {
        const char *v = json_string_value(json_object_get(c->body, "visitor"));
        size_t n = v ? strlen(v) : 0;
        bool ok = n >= 8 && n <= 64;
        for (size_t i = 0; ok && i < n; i++)
            ok = (v[i] >= 'a' && v[i] <= 'z') || (v[i] >= 'A' && v[i] <= 'Z') || (v[i] >= '0' && v[i] <= '9') || v[i] == '-';
        if (!ok) {
            api_invalid(c, json_pack("{s:s}", "visitor", "must be the page's id: 8..64 letters, digits or -"));
            return -1;
        }
        *visitor = v;
    }
    return 0;
}

int kb_articles_feedback(struct api_ctx *c)
{
    int64_t id = c->req->params.id[0], have = 0;
    bool helpful;
    if (feedback_body(c, &helpful, NULL) < 0)
        return 0;
    int rc = db_scalar_i64(c->db, "SELECT COUNT(*) FROM kb_articles WHERE id = ?", DBP(P_I(id)), 0, &have);
    if (rc || !have)
        return rc ? rc : api_not_found(c);
    char voter[32];
    snprintf(voter, sizeof(voter), "agent:%lld", (long long)c->me.id);
    return vote(c, id, voter, helpful);
}

int kb_articles_used(struct api_ctx *c)
{
    int64_t id = c->req->params.id[0];
    struct db_result r;
    int rc = db_exec(c->db, "UPDATE kb_articles SET used = used + 1, updated_at = updated_at WHERE id = ?",
                     DBP(P_I(id)), &r);
    if (rc)
        return rc;
    int64_t n = (int64_t)r.affected;
    db_result_free(&r);
    if (!n)
        return api_not_found(c);
    json_t *o = NULL;
    rc = db_row_json_of(c->db, "SELECT id, used FROM kb_articles WHERE id = ?", DBP(P_I(id)), &o);
    return rc ? rc : api_json(c, 200, o);
}

/* ?q=&locale=&limit= for both the agents' and the public search. */
static int search(struct api_ctx *c, bool published_only)
{
    const char *q = api_arg(c->req, "q"), *loc = api_arg(c->req, "locale"), *lim = api_arg(c->req, "limit");
    int64_t limit = 10;
    if (!q || !*q)
        return api_error(c, 400, "bad_request", "q is required");
    if (strlen(q) > 500 || !utf8_valid(q, strlen(q)))
        return api_error(c, 400, "bad_request", "q must be UTF-8 text of at most 500 bytes");
    if (loc && *loc && strcmp(loc, "zh") && strcmp(loc, "en"))
        return api_error(c, 400, "bad_request", "locale must be zh or en");
    if (lim && (text_parse_i64(lim, &limit) < 0 || limit < 1 || limit > KB_SEARCH_MAX))
        return api_error(c, 400, "bad_request", "limit must be 1..50");
    struct kb_query kq = {.q = q, .locale = loc && *loc ? loc : NULL, .published_only = published_only,
                          .limit = (size_t)limit};
    json_t *items = NULL;
    int rc = kb_search(c->db, &kq, &items);
    return rc ? rc : api_json(c, 200, json_pack("{s:o}", "items", items));
}

int kb_search_agents(struct api_ctx *c)
{
    const char *all = api_arg(c->req, "drafts"); /* editors look for their drafts too */
    return search(c, !(editor(c) && all && strcmp(all, "true") == 0));
}

int kb_search_public(struct api_ctx *c)
{
    return search(c, true);
}

int kb_article_public(struct api_ctx *c)
{
    int64_t id = c->req->params.id[0];
    json_t *a = NULL;
    int rc = load_article(c->db, id, true, false, &a);
    if (rc || !a)
        return rc ? rc : api_not_found(c);
    static const char *const private_keys[] = {"created_by", "updated_by", "used", "views", "body", NULL};
    for (size_t i = 0; private_keys[i]; i++)
        json_object_del(a, private_keys[i]);
    rc = db_exec(c->db, "UPDATE kb_articles SET views = views + 1, updated_at = updated_at WHERE id = ?", DBP(P_I(id)),
                 NULL);
    if (rc) {
        json_decref(a);
        return rc;
    }
    return api_json(c, 200, a);
}

int kb_feedback_public(struct api_ctx *c)
{
    int64_t id = c->req->params.id[0], have = 0;
    bool helpful;
    const char *visitor = NULL;
    if (feedback_body(c, &helpful, &visitor) < 0)
        return 0;
    int rc = db_scalar_i64(c->db, "SELECT COUNT(*) FROM kb_articles WHERE id = ? AND published = 1", DBP(P_I(id)), 0,
                           &have);
    if (rc || !have)
        return rc ? rc : api_not_found(c);
    char voter[80];
    snprintf(voter, sizeof(voter), "visitor:%s", visitor);
    return vote(c, id, voter, helpful);
}

/* ---- synonyms ---- */

int kb_synonyms_get(struct api_ctx *c)
{
    return api_rows(c, "SELECT id, terms AS terms__json, updated_at FROM kb_synonyms ORDER BY id", DBP0);
}

static int synonyms_tx(struct db *db, void *arg)
{
    struct api_ctx *c = arg;
    json_t *groups = json_object_get(c->body, "groups"), *before = NULL, *g;
    size_t i;
    int rc = db_row_json_of(db, "SELECT JSON_ARRAYAGG(terms) AS groups__json FROM kb_synonyms", DBP0, &before);
    if (!rc)
        rc = db_exec(db, "DELETE FROM kb_synonyms", DBP0, NULL);
    json_array_foreach(groups, i, g) {
        char *t = rc ? NULL : json_dumps(g, JSON_COMPACT);
        if (!rc)
            rc = t ? db_exec(db, "INSERT INTO kb_synonyms (terms) VALUES (?)", DBP(P_S(t)), NULL) : DB_EOTHER;
        free(t);
    }
    json_t *after = json_pack("{s:O}", "groups", groups);
    if (!rc)
        rc = api_audit(c, "kb_synonyms.updated", "kb_synonyms", 0, before, after);
    json_decref(before);
    json_decref(after);
    return rc;
}

/* PUT {groups: [[term, …], …]}: the whole list, replaced in one go (route without a
 * transaction: synonyms_tx is one). */
int kb_synonyms_put(struct api_ctx *c)
{
    if (api_body_object(c) < 0)
        return 0;
    json_t *groups = json_object_get(c->body, "groups");
    struct jf f;
    jf_init(&f, c->body);
    static const char *const allowed[] = {"groups", NULL};
    jf_only(&f, allowed);
    if (!json_is_array(groups) || json_array_size(groups) > 1000)
        jf_fail(&f, "groups", "must be an array of at most 1000 groups");
    size_t i;
    json_t *g;
    json_array_foreach(groups, i, g) {
        char key[32];
        snprintf(key, sizeof(key), "groups[%zu]", i);
        jf_check_names(&f, key, g, 20, 50);
        if (json_array_size(g) < 2)
            jf_fail(&f, key, "a group needs at least two terms");
    }
    int rc = DB_OK;
    if (!api_checked(c, &f, &rc))
        return rc;
    /* its own transaction (the route has none): the cache is dropped after the commit,
     * so no search reloads the old groups in between */
    rc = db_transaction(c->db, synonyms_tx, c);
    if (rc)
        return rc;
    kb_synonyms_changed();
    return kb_synonyms_get(c);
}

/* GET /tickets/{id}/suggestions: what kb.suggestions would say now (the console's first
 * look at a ticket): for its subject and latest customer message. */
int tickets_suggestions(struct api_ctx *c)
{
    json_t *t = NULL, *items = NULL;
    int rc = ticket_load(c->db, &c->me, c->req->params.id[0], &t);
    if (rc || !t)
        return rc ? rc : api_not_found(c);
    struct db_result r;
    rc = db_exec(c->db, "SELECT body_text FROM messages WHERE ticket_id = ? AND direction = 'in' ORDER BY id DESC LIMIT 1",
                 DBP(P_I(c->req->params.id[0])), &r);
    if (!rc) {
        rc = kb_suggest(c->db, json_string_value(json_object_get(t, "subject")), r.nrows ? db_cell(&r, 0, 0) : "", 3,
                        &items);
        db_result_free(&r);
    }
    json_decref(t);
    return rc ? rc : api_json(c, 200, json_pack("{s:o}", "items", items));
}
