/* field_perms.c — see field_perms.h and docs/field-permissions.md. */
#include "gateway/field_perms.h"
#include "gateway/lib/text.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *const fperm_customer_fields[] = {"industry", "type", "grade", "source", "region", "address", "uscc",
                                             "company", "owner_id", NULL};
const char *const fperm_deal_fields[] = {"amount", "currency", "probability", "expected_close", "payment_due",
                                         "win_loss_reason", "competitor", NULL};

/* A field shown under more than one key: hiding the field hides them all. */
static const struct {
    const char *object, *field, *also[3];
} companions[] = {
    {"customer", "owner_id", {"owner_name", "owner_email", NULL}},
    {"customer", "company", {"company_id", NULL, NULL}},
};

struct fperm_entry {
    char object[48];
    char field[80];
    int access;
};

struct fperm_set {
    size_t n;
    int failed; /* loading failed: fail closed */
    struct fperm_entry e[];
};

int fperm_role_index(const char *role)
{
    static const char *const roles[FP_ROLES] = {"manager", "agent", "sales", "marketer"};
    for (int i = 0; role && i < FP_ROLES; i++)
        if (strcmp(role, roles[i]) == 0)
            return i;
    return -1;
}

int fperm_set_load(struct db *db, const char *role, struct fperm_set **out)
{
    *out = NULL;
    if (fperm_role_index(role) < 0)
        return DB_OK;
    struct db_result r;
    int rc = db_exec(db, "SELECT object, field, access FROM field_permissions WHERE role = ?", DBP(P_S(role)), &r);
    if (rc)
        return rc;
    struct fperm_set *s = calloc(1, sizeof(*s) + r.nrows * sizeof(struct fperm_entry));
    if (!s) {
        db_result_free(&r);
        return DB_EOTHER;
    }
    for (size_t i = 0; i < r.nrows; i++) {
        text_copy(s->e[i].object, sizeof(s->e[i].object), db_cell(&r, i, 0));
        text_copy(s->e[i].field, sizeof(s->e[i].field), db_cell(&r, i, 1));
        s->e[i].access = strcmp(db_cell(&r, i, 2), "hidden") == 0 ? FP_HIDDEN : FP_READ;
    }
    s->n = r.nrows;
    db_result_free(&r);
    *out = s;
    return DB_OK;
}

void fperm_set_free(struct fperm_set *s)
{
    free(s);
}

static int catalogued(const char *object, const char *field)
{
    const char *const *list = strcmp(object, "customer") == 0 ? fperm_customer_fields
                              : strcmp(object, "deal") == 0   ? fperm_deal_fields
                                                              : NULL;
    if (list && strcmp(object, "customer") == 0 && strncmp(field, "attrs.", 6) == 0)
        return 1;
    for (size_t i = 0; list && list[i]; i++)
        if (strcmp(list[i], field) == 0)
            return 1;
    return 0;
}

int fperm_set_access(const struct fperm_set *s, const char *object, const char *field)
{
    if (!s)
        return FP_EDIT;
    if (s->failed)
        return catalogued(object, field) ? FP_HIDDEN : FP_EDIT;
    for (size_t i = 0; i < s->n; i++)
        if (strcmp(s->e[i].object, object) == 0 && strcmp(s->e[i].field, field) == 0)
            return s->e[i].access;
    return FP_EDIT;
}

int fperm_set_hides_any(const struct fperm_set *s)
{
    if (s && s->failed)
        return 1;
    for (size_t i = 0; s && i < s->n; i++)
        if (s->e[i].access == FP_HIDDEN)
            return 1;
    return 0;
}

static void drop(json_t *o, const char *object, const char *field)
{
    if (strncmp(field, "attrs.", 6) == 0) {
        json_object_del(json_object_get(o, "attrs"), field + 6);
        return;
    }
    json_object_del(o, field);
    for (size_t i = 0; i < sizeof(companions) / sizeof(companions[0]); i++)
        if (strcmp(companions[i].object, object) == 0 && strcmp(companions[i].field, field) == 0)
            for (size_t k = 0; k < 3 && companions[i].also[k]; k++)
                json_object_del(o, companions[i].also[k]);
}

static void drop_hidden(const struct fperm_set *s, json_t *o, const char *object)
{
    if (s->failed) {
        const char *const *list = strcmp(object, "customer") == 0 ? fperm_customer_fields : fperm_deal_fields;
        for (size_t i = 0; list[i]; i++)
            drop(o, object, list[i]);
        if (strcmp(object, "customer") == 0)
            json_object_del(o, "attrs");
        return;
    }
    for (size_t i = 0; i < s->n; i++)
        if (s->e[i].access == FP_HIDDEN && strcmp(s->e[i].object, object) == 0)
            drop(o, object, s->e[i].field);
}

/* Deals and follow-ups repeat their customer's region (and a follow-up its customer's
 * owner): hidden with the customer's field. */
static void drop_customer_copies(const struct fperm_set *s, json_t *o)
{
    if (fperm_set_access(s, "customer", "region") == FP_HIDDEN)
        json_object_del(o, "region");
    if (fperm_set_access(s, "customer", "owner_id") == FP_HIDDEN)
        json_object_del(o, "customer_owner_id");
}

/* Our own JSON shapes: a customer has customer_no and name; a deal has stage_id and title;
 * a follow-up (activity) has method, content and customer_id. */
static void walk(const struct fperm_set *s, json_t *v, int depth)
{
    if (depth > 16)
        return;
    if (json_is_array(v)) {
        size_t i;
        json_t *x;
        json_array_foreach(v, i, x) {
            walk(s, x, depth + 1);
        }
        return;
    }
    if (!json_is_object(v))
        return;
    if (json_object_get(v, "customer_no") && json_object_get(v, "name"))
        drop_hidden(s, v, "customer");
    int deal = json_object_get(v, "stage_id") && json_object_get(v, "title");
    int activity = json_object_get(v, "method") && json_object_get(v, "content") && json_object_get(v, "customer_id");
    if (deal)
        drop_hidden(s, v, "deal");
    if (deal || activity) /* they carry their customer's region and owner for scoping */
        drop_customer_copies(s, v);
    const char *k;
    json_t *x;
    json_object_foreach(v, k, x) {
        walk(s, x, depth + 1);
    }
}

void fperm_set_redact(const struct fperm_set *s, json_t *body)
{
    if (fperm_set_hides_any(s))
        walk(s, body, 0);
}

/* ---- the request context ---- */

static __thread struct {
    struct db *db;
    char role[16];
    int active, loaded;
    struct fperm_set *set;
} ctx;

void fperm_request_begin(struct db *db, const char *role)
{
    fperm_request_end();
    if (fperm_role_index(role) < 0)
        return;
    ctx.db = db;
    text_copy(ctx.role, sizeof(ctx.role), role);
    ctx.active = 1;
}

void fperm_request_end(void)
{
    fperm_set_free(ctx.set);
    memset(&ctx, 0, sizeof(ctx));
}

static const struct fperm_set *current(void)
{
    if (!ctx.active)
        return NULL;
    if (!ctx.loaded) {
        ctx.loaded = 1;
        if (fperm_set_load(ctx.db, ctx.role, &ctx.set) != DB_OK) {
            ctx.set = calloc(1, sizeof(*ctx.set));
            if (ctx.set)
                ctx.set->failed = 1;
        }
    }
    return ctx.set;
}

int fperm_access(const char *object, const char *field)
{
    return fperm_set_access(current(), object, field);
}

void fperm_redact(json_t *body)
{
    fperm_set_redact(current(), body);
}

int fperm_write_denied(const char *object, json_t *body, char *field, size_t size)
{
    const struct fperm_set *s = current();
    if (!s || !json_is_object(body))
        return 0;
    const char *k;
    json_t *v;
    json_object_foreach(body, k, v) {
        if (strcmp(object, "customer") == 0 && strcmp(k, "attrs") == 0 && json_is_object(v)) {
            const char *ak;
            json_t *av;
            json_object_foreach(v, ak, av) {
                char name[96];
                snprintf(name, sizeof(name), "attrs.%.80s", ak);
                if (fperm_set_access(s, object, name) != FP_EDIT) {
                    text_copy(field, size, name);
                    return 1;
                }
            }
            continue;
        }
        if (fperm_set_access(s, object, k) != FP_EDIT) {
            text_copy(field, size, k);
            return 1;
        }
    }
    return 0;
}

/* ---- the tailer's snapshot ---- */

int fperm_snapshot_load(struct db *db, struct fperm_snapshot *s)
{
    static const char *const roles[FP_ROLES] = {"manager", "agent", "sales", "marketer"};
    struct fperm_snapshot fresh = {0};
    for (int i = 0; i < FP_ROLES; i++) {
        int rc = fperm_set_load(db, roles[i], &fresh.role[i]);
        if (rc) {
            fperm_snapshot_free(&fresh);
            return rc;
        }
    }
    fperm_snapshot_free(s);
    *s = fresh;
    return DB_OK;
}

void fperm_snapshot_free(struct fperm_snapshot *s)
{
    for (int i = 0; i < FP_ROLES; i++) {
        fperm_set_free(s->role[i]);
        s->role[i] = NULL;
    }
}
