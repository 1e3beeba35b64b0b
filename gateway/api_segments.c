/* api_segments.c — saved segments (/api/v1/segments) and their preview
 * (POST /api/v1/segments/preview {"rule"} → {"count","sample"}).
 *
 * A rule is compiled (segment.h) against the current custom fields before it is stored:
 * a broken rule is a 422 {"rule":"at POS: reason"} and changes nothing. The preview counts
 * and samples customers inside the caller's data scope (scope.h), merged customers
 * excluded — the same set a campaign of theirs would reach.
 */
#include "gateway/api_handlers.h"
#include "gateway/customers.h"
#include "gateway/lib/buf.h"
#include "gateway/scope.h"
#include "gateway/segment.h"
#include <stdlib.h>
#include <string.h>

#define SEGMENT_SELECT "SELECT id, name, rule, created_by, created_at, updated_at FROM segments "
#define SAMPLE_SIZE 20
#define IN_SCOPE SCOPE_WHERE("c.owner_id", "c.region")


int segments_preview(struct api_ctx *c)
{
    if (api_body_object(c) < 0)
        return 0;
    static const char *const allowed[] = {"rule", NULL};
    struct jf f;
    jf_init(&f, c->body);
    jf_only(&f, allowed);
    const char *rule = jf_str(&f, "rule", SEGMENT_MAX_LEN, true);
    struct segment_sql seg;
    memset(&seg, 0, sizeof(seg));
    char why[260];
    int rc = DB_OK;
    if (rule && (rc = customer_rule_compile(c->db, rule, &seg, why, sizeof(why))) == 1) {
        jf_fail(&f, "rule", why);
        rc = DB_OK;
    }
    if (!api_checked(c, &f, &rc)) {
        segment_sql_free(&seg);
        return rc;
    }
    struct db_result cnt, sample;
    const struct db_param scope_limit[] = {SCOPE_PARAMS(&c->me), P_I(SAMPLE_SIZE)};
    const size_t nscope = sizeof(scope_limit) / sizeof(scope_limit[0]) - 1;
    rc = segment_exec(c->db, "SELECT COUNT(*) FROM customers c WHERE c.merged_into IS NULL AND ", &seg, IN_SCOPE, NULL, 0,
                      scope_limit, nscope, &cnt);
    if (!rc) {
        rc = segment_exec(c->db,
                          "SELECT c.id, c.customer_no, c.name, c.stage, c.region, "
                          "(SELECT i.value FROM customer_identities i WHERE i.customer_id = c.id AND i.kind = 'email' "
                          "  AND i.is_primary = 1 ORDER BY i.id LIMIT 1) AS email, "
                          "(SELECT i.value FROM customer_identities i WHERE i.customer_id = c.id AND i.kind = 'phone' "
                          "  AND i.is_primary = 1 ORDER BY i.id LIMIT 1) AS phone "
                          "FROM customers c WHERE c.merged_into IS NULL AND ",
                          &seg, IN_SCOPE " ORDER BY c.id LIMIT ?", NULL, 0, scope_limit, nscope + 1, &sample);
        if (rc)
            db_result_free(&cnt);
    }
    segment_sql_free(&seg);
    if (rc)
        return rc;
    int64_t count = cnt.nrows ? db_cell_i64(&cnt, 0, 0) : 0;
    db_result_free(&cnt);
    json_t *items = db_rows_json(&sample);
    db_result_free(&sample);
    return api_json(c, 200, json_pack("{s:I, s:o}", "count", (json_int_t)count, "sample", items));
}

/* ---- saved segments ---- */

int segments_list(struct api_ctx *c)
{
    return api_rows(c, SEGMENT_SELECT "ORDER BY name", DBP0);
}

int segments_get(struct api_ctx *c)
{
    json_t *s = NULL;
    int rc = db_row_json_of(c->db, SEGMENT_SELECT "WHERE id = ?", DBP(P_I(c->req->params.id[0])), &s);
    if (rc || !s)
        return rc ? rc : api_not_found(c);
    return api_json(c, 200, s);
}

/* name and rule, both required on create; the rule compiled. 0 = go on. */
static int read_segment(struct api_ctx *c, struct jf *f, bool create, const char **name, const char **rule)
{
    static const char *const allowed[] = {"name", "rule", NULL};
    jf_only(f, allowed);
    *name = jf_name(f, "name", 200, create);
    *rule = jf_str(f, "rule", SEGMENT_MAX_LEN, create);
    if (!*rule)
        return DB_OK;
    struct segment_sql seg;
    memset(&seg, 0, sizeof(seg));
    char why[260];
    int rc = customer_rule_compile(c->db, *rule, &seg, why, sizeof(why));
    segment_sql_free(&seg);
    if (rc == 1)
        jf_fail(f, "rule", why);
    return rc == 1 ? DB_OK : rc;
}



int segments_create(struct api_ctx *c)
{
    if (api_body_object(c) < 0)
        return 0;
    struct jf f;
    jf_init(&f, c->body);
    const char *name, *rule;
    int rc = read_segment(c, &f, true, &name, &rule);
    if (!api_checked(c, &f, &rc))
        return rc;
    struct db_result r;
    rc = db_exec(c->db, "INSERT INTO segments (name, rule, created_by) VALUES (?, ?, ?)",
                 DBP(P_S(name), P_S(rule), P_IOPT(c->me.id)), &r);
    if (rc == DB_EDUP)
        return api_duplicate(c, "name", "a segment with this name exists");
    if (rc)
        return rc;
    int64_t id = (int64_t)r.insert_id;
    db_result_free(&r);
    return api_written(c, SEGMENT_SELECT "WHERE id = ?", "segment", id, NULL, 201);
}

int segments_update(struct api_ctx *c)
{
    int64_t id = c->req->params.id[0];
    if (api_body_object(c) < 0)
        return 0;
    json_t *before = NULL;
    int rc = db_row_json_of(c->db, SEGMENT_SELECT "WHERE id = ? FOR UPDATE", DBP(P_I(id)), &before);
    if (rc || !before)
        return rc ? rc : api_not_found(c);
    struct jf f;
    jf_init(&f, c->body);
    const char *name, *rule;
    rc = read_segment(c, &f, false, &name, &rule);
    if (!api_checked(c, &f, &rc)) {
        json_decref(before);
        return rc;
    }
    rc = db_exec(c->db, "UPDATE segments SET name = COALESCE(?, name), rule = COALESCE(?, rule) WHERE id = ?",
                 DBP(P_S(name), P_S(rule), P_I(id)), NULL);
    if (rc == DB_EDUP)
        rc = api_duplicate(c, "name", "a segment with this name exists");
    else if (!rc)
        rc = api_written(c, SEGMENT_SELECT "WHERE id = ?", "segment", id, before, 200);
    json_decref(before);
    return rc;
}

int segments_delete(struct api_ctx *c)
{
    return api_delete_audited(c, SEGMENT_SELECT "WHERE id = ? FOR UPDATE", "DELETE FROM segments WHERE id = ?", "segment");
}
