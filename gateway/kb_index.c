/* kb_index.c — see kb_index.h. */
#include "gateway/kb_index.h"
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define K1 1.2
#define B 0.75
#define DEAD UINT32_MAX

struct posting {
    uint32_t doc, tf;
};

struct term {
    char *tok; /* NULL: an empty bucket */
    struct posting *p;
    uint32_t n, cap;
};

struct doc {
    int64_t id;
    uint32_t len;
    uint8_t published, en, alive;
};

struct index {
    uint64_t gen;
    struct term *terms;
    size_t tcap, tn;
    struct doc *docs;
    size_t dn, dcap, alive, dead;
    uint64_t total_len;
    int64_t *ids;    /* article id → slot (open addressing; 0 = empty) */
    uint32_t *slots;
    size_t icap, in;
};

static pthread_rwlock_t lock = PTHREAD_RWLOCK_INITIALIZER;
static struct index *cur;

static uint64_t hash_str(const char *s)
{
    uint64_t h = 1469598103934665603ULL;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    return h;
}

static void index_free(struct index *ix)
{
    if (!ix)
        return;
    for (size_t i = 0; i < ix->tcap; i++) {
        free(ix->terms[i].tok);
        free(ix->terms[i].p);
    }
    free(ix->terms);
    free(ix->docs);
    free(ix->ids);
    free(ix->slots);
    free(ix);
}

static struct term *term_get(const struct index *ix, const char *tok)
{
    if (!ix->tcap)
        return NULL;
    for (size_t i = hash_str(tok) & (ix->tcap - 1);; i = (i + 1) & (ix->tcap - 1)) {
        if (!ix->terms[i].tok)
            return NULL;
        if (strcmp(ix->terms[i].tok, tok) == 0)
            return &ix->terms[i];
    }
}

static int terms_grow(struct index *ix)
{
    size_t cap = ix->tcap ? ix->tcap * 2 : 4096;
    struct term *t = calloc(cap, sizeof(*t));
    if (!t)
        return -1;
    for (size_t i = 0; i < ix->tcap; i++) {
        if (!ix->terms[i].tok)
            continue;
        size_t k = hash_str(ix->terms[i].tok) & (cap - 1);
        while (t[k].tok)
            k = (k + 1) & (cap - 1);
        t[k] = ix->terms[i];
    }
    free(ix->terms);
    ix->terms = t;
    ix->tcap = cap;
    return 0;
}

static struct term *term_add(struct index *ix, const char *tok)
{
    struct term *t = term_get(ix, tok);
    if (t)
        return t;
    if ((ix->tn + 1) * 10 > ix->tcap * 7 && terms_grow(ix) < 0)
        return NULL;
    size_t k = hash_str(tok) & (ix->tcap - 1);
    while (ix->terms[k].tok)
        k = (k + 1) & (ix->tcap - 1);
    if (!(ix->terms[k].tok = strdup(tok)))
        return NULL;
    ix->tn++;
    return &ix->terms[k];
}

static size_t id_pos(const struct index *ix, int64_t id)
{
    size_t i = ((uint64_t)id * 11400714819323198485ULL) & (ix->icap - 1);
    while (ix->ids[i] && ix->ids[i] != id)
        i = (i + 1) & (ix->icap - 1);
    return i;
}

static int ids_grow(struct index *ix)
{
    struct index old = *ix;
    ix->icap = old.icap ? old.icap * 2 : 4096;
    ix->ids = calloc(ix->icap, sizeof(*ix->ids));
    ix->slots = calloc(ix->icap, sizeof(*ix->slots));
    if (!ix->ids || !ix->slots) {
        free(ix->ids);
        free(ix->slots);
        ix->ids = old.ids, ix->slots = old.slots, ix->icap = old.icap;
        return -1;
    }
    for (size_t i = 0; i < old.icap; i++) {
        if (!old.ids[i])
            continue;
        size_t k = id_pos(ix, old.ids[i]);
        ix->ids[k] = old.ids[i];
        ix->slots[k] = old.slots[i];
    }
    free(old.ids);
    free(old.slots);
    return 0;
}

static void retire(struct index *ix, int64_t id)
{
    if (!ix->icap)
        return;
    size_t k = id_pos(ix, id);
    if (!ix->ids[k] || ix->slots[k] == DEAD)
        return;
    struct doc *d = &ix->docs[ix->slots[k]];
    d->alive = 0;
    ix->alive--;
    ix->dead++;
    ix->total_len -= d->len;
    ix->slots[k] = DEAD;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The article as a new slot (an older one of the same id dies). */
static int add(struct index *ix, int64_t id, int published, int en, const char *search_text)
{
    retire(ix, id);
    if ((ix->in + 1) * 10 > ix->icap * 7 && ids_grow(ix) < 0)
        return -1;
    if (ix->dn == ix->dcap) {
        size_t cap = ix->dcap ? ix->dcap * 2 : 1024;
        struct doc *d = realloc(ix->docs, cap * sizeof(*d));
        if (!d)
            return -1;
        ix->docs = d;
        ix->dcap = cap;
    }
    char *copy = strdup(search_text);
    size_t n = 0, cap = 64;
    char **toks = malloc(cap * sizeof(*toks));
    int rc = copy && toks ? 0 : -1;
    for (char *save = NULL, *t = copy ? strtok_r(copy, " ", &save) : NULL; !rc && t; t = strtok_r(NULL, " ", &save)) {
        if (n == cap) {
            char **more = realloc(toks, cap * 2 * sizeof(*toks));
            if (!more) {
                rc = -1;
                break;
            }
            toks = more;
            cap *= 2;
        }
        toks[n++] = t;
    }
    if (!rc)
        qsort(toks, n, sizeof(*toks), cmp_str);
    uint32_t slot = (uint32_t)ix->dn;
    for (size_t i = 0; !rc && i < n;) {
        size_t j = i;
        while (j < n && strcmp(toks[j], toks[i]) == 0)
            j++;
        struct term *t = term_add(ix, toks[i]);
        if (t && t->n == t->cap) {
            uint32_t c = t->cap ? t->cap * 2 : 4;
            struct posting *p = realloc(t->p, c * sizeof(*p));
            if (p)
                t->p = p, t->cap = c;
        }
        if (!t || t->n == t->cap)
            rc = -1;
        else
            t->p[t->n++] = (struct posting){slot, (uint32_t)(j - i)};
        i = j;
    }
    free(toks);
    free(copy);
    if (rc)
        return rc;
    ix->docs[ix->dn++] = (struct doc){id, (uint32_t)n, (uint8_t)published, (uint8_t)en, 1};
    ix->alive++;
    ix->total_len += n;
    size_t k = id_pos(ix, id);
    if (!ix->ids[k])
        ix->in++;
    ix->ids[k] = id;
    ix->slots[k] = slot;
    return 0;
}

/* Rows (id, published, locale, search_text) into ix. */
static int add_rows(struct index *ix, const struct db_result *r)
{
    for (size_t i = 0; i < r->nrows; i++)
        if (add(ix, db_cell_i64(r, i, 0), (int)db_cell_i64(r, i, 1), strcmp(db_cell(r, i, 2), "en") == 0,
                db_cell(r, i, 3)) < 0)
            return -1;
    return 0;
}

static int build(struct db *db, uint64_t gen, struct index **out)
{
    struct db_result r;
    int rc = db_exec(db, "SELECT id, published, locale, search_text FROM kb_articles WHERE gen <= ? ORDER BY id",
                     DBP(P_I((int64_t)gen)), &r);
    if (rc)
        return rc;
    struct index *ix = calloc(1, sizeof(*ix));
    if (!ix || add_rows(ix, &r) < 0) {
        db_result_free(&r);
        index_free(ix);
        return DB_EOTHER;
    }
    db_result_free(&r);
    ix->gen = gen;
    *out = ix;
    return DB_OK;
}

/* Brings the index to the database's generation. */
static int sync(struct db *db)
{
    int64_t gen = 0;
    int rc = db_scalar_i64(db, "SELECT generation FROM kb_state WHERE id = 1", DBP0, 0, &gen);
    if (rc)
        return rc;
    pthread_rwlock_rdlock(&lock);
    int have = cur != NULL;
    uint64_t at = cur ? cur->gen : 0;
    int compact = cur && cur->dead * 4 > cur->dn;
    pthread_rwlock_unlock(&lock);
    if (have && at == (uint64_t)gen)
        return DB_OK;
    if (!have || compact || (uint64_t)gen < at) {
        struct index *fresh = NULL;
        if ((rc = build(db, (uint64_t)gen, &fresh)))
            return rc;
        pthread_rwlock_wrlock(&lock);
        struct index *old = cur;
        cur = fresh;
        pthread_rwlock_unlock(&lock);
        index_free(old);
        return DB_OK;
    }
    struct db_result rows, gone;
    rc = db_exec(db, "SELECT id, published, locale, search_text FROM kb_articles WHERE gen > ? AND gen <= ? ORDER BY gen",
                 DBP(P_I((int64_t)at), P_I(gen)), &rows);
    if (rc)
        return rc;
    rc = db_exec(db, "SELECT article_id FROM kb_deleted WHERE gen > ? AND gen <= ?", DBP(P_I((int64_t)at), P_I(gen)), &gone);
    if (rc) {
        db_result_free(&rows);
        return rc;
    }
    pthread_rwlock_wrlock(&lock);
    if (cur && cur->gen == at) { /* else another thread got there first */
        rc = add_rows(cur, &rows) < 0 ? DB_EOTHER : DB_OK;
        for (size_t i = 0; !rc && i < gone.nrows; i++)
            retire(cur, db_cell_i64(&gone, i, 0));
        if (!rc)
            cur->gen = (uint64_t)gen;
        else { /* half applied: start over next time */
            index_free(cur);
            cur = NULL;
        }
    }
    pthread_rwlock_unlock(&lock);
    db_result_free(&rows);
    db_result_free(&gone);
    return rc;
}

/* InnoDB's default FULLTEXT stopwords (the ranking this index replaced skipped them too):
 * words that say nothing about what is asked. */
static int stopword(const char *tok)
{
    static const char *const words[] = {"about", "an", "are", "as", "at", "be", "by", "com", "de", "en", "for", "from",
                                        "how", "in", "is", "it", "la", "of", "on", "or", "that", "the", "this", "to",
                                        "was", "what", "when", "where", "who", "will", "with", "und", "www", NULL};
    for (size_t i = 0; words[i]; i++)
        if (strcmp(tok, words[i]) == 0)
            return 1;
    return 0;
}

static int better(const struct index *ix, const float *score, uint32_t a, uint32_t b)
{
    return score[a] > score[b] || (score[a] == score[b] && ix->docs[a].id < ix->docs[b].id);
}

static __thread int held; /* kb_index_hold: this thread's searches skip the generation read */

int kb_index_hold(struct db *db)
{
    int rc = sync(db);
    held = rc == DB_OK;
    return rc;
}

void kb_index_release(void)
{
    held = 0;
}

int kb_index_search(struct db *db, json_t *tokens, const char *locale, bool published_only, size_t limit,
                    struct kb_hit *hits, size_t *n)
{
    *n = 0;
    int rc = held ? DB_OK : sync(db);
    if (rc)
        return rc;
    pthread_rwlock_rdlock(&lock);
    const struct index *ix = cur;
    float *score = ix ? calloc(ix->dn + 1, sizeof(*score)) : NULL;
    uint32_t *touched = ix ? malloc((ix->dn + 1) * sizeof(*touched)) : NULL;
    if (!score || !touched) {
        pthread_rwlock_unlock(&lock);
        free(score);
        free(touched);
        return DB_EOTHER;
    }
    int want_en = locale && strcmp(locale, "en") == 0, any = !locale;
    double n_docs = ix->alive ? (double)ix->alive : 1, avg = ix->alive ? (double)ix->total_len / n_docs : 1;
    size_t nt = 0;
    const char *tok;
    json_t *v;
    json_object_foreach(tokens, tok, v) {
        const struct term *t = stopword(tok) ? NULL : term_get(ix, tok);
        if (!t)
            continue;
        double df = t->n < n_docs ? t->n : n_docs;
        double idf = log(1.0 + (n_docs - df + 0.5) / (df + 0.5));
        for (uint32_t k = 0; k < t->n; k++) {
            const struct doc *d = &ix->docs[t->p[k].doc];
            if (!d->alive || (published_only && !d->published) || (!any && d->en != want_en))
                continue;
            double tf = t->p[k].tf;
            if (score[t->p[k].doc] == 0)
                touched[nt++] = t->p[k].doc;
            score[t->p[k].doc] += (float)(idf * tf * (K1 + 1) / (tf + K1 * (1 - B + B * d->len / avg)));
        }
    }
    /* the best `limit`, by insertion into a short sorted list */
    uint32_t best[64];
    size_t nb = 0, cap = limit < 64 ? limit : 64;
    for (size_t i = 0; i < nt; i++) {
        uint32_t d = touched[i];
        if (nb == cap && !better(ix, score, d, best[nb - 1]))
            continue;
        size_t at = nb < cap ? nb++ : nb - 1;
        while (at > 0 && better(ix, score, d, best[at - 1])) {
            best[at] = best[at - 1];
            at--;
        }
        best[at] = d;
    }
    for (size_t i = 0; i < nb; i++)
        hits[i] = (struct kb_hit){ix->docs[best[i]].id, score[best[i]]};
    *n = nb;
    pthread_rwlock_unlock(&lock);
    free(score);
    free(touched);
    return DB_OK;
}
