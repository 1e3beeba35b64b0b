/* api_customer_io.c — POST /api/v1/customers/import: the HTTP face of
 * customer_import.h. Body text/csv (charset from Content-Type or ?charset=), ?dry_run=1
 * checks everything and writes nothing, ?map={"header":"field"} overrides the header
 * mapping. Answers 200 {"imported","updated","rejected":[{"line","errors"}],…}, 400 when
 * the file as a whole is unusable, 415 for another content type.
 */
#include "gateway/api_handlers.h"
#include "gateway/customer_import.h"
#include "gateway/lib/text.h"
#include <stdio.h>
#include <string.h>
#include <strings.h>

/* "text/csv; charset=GBK" → "GBK" */
static void content_charset(const char *ct, char *out, size_t outsz)
{
    out[0] = '\0';
    const char *p = strcasestr(ct, "charset=");
    if (!p)
        return;
    p += 8;
    size_t n = strcspn(p, "; \t\"");
    if (*p == '"')
        n = strcspn(++p, "\"");
    text_copy_n(out, outsz, p, n);
}

int customers_import(struct api_ctx *c)
{
    const char *ct = c->req->content_type;
    if (ct[0] && strncasecmp(ct, "text/csv", 8) && strncasecmp(ct, "text/plain", 10) &&
        strncasecmp(ct, "application/csv", 15))
        return api_error(c, 415, "unsupported_media_type", "send the file as text/csv");
    char charset[40];
    content_charset(ct, charset, sizeof(charset));
    const char *arg = api_arg(c->req, "charset");
    if (arg && *arg)
        text_copy(charset, sizeof(charset), arg);
    const char *dry = api_arg(c->req, "dry_run"), *map = api_arg(c->req, "map");
    json_t *mapping = NULL;
    if (map && *map) {
        json_error_t e;
        mapping = json_loads(map, 0, &e);
        if (!json_is_object(mapping)) {
            json_decref(mapping);
            return api_error(c, 400, "bad_request", "map must be a JSON object {\"CSV header\": \"field\"}");
        }
    }
    char rid[24];
    snprintf(rid, sizeof(rid), "%llu", (unsigned long long)c->req->id);
    struct import_opts o = {.charset = charset, .dry_run = dry && (!strcmp(dry, "1") || !strcmp(dry, "true")),
                            .mapping = mapping, .me = &c->me, .request_id = rid};
    struct import_result res;
    int rc = customer_import_run(c->db, c->req->body.data ? c->req->body.data : "", c->req->body.len, &o, &res);
    json_decref(mapping);
    if (rc == 1)
        rc = api_error(c, 400, "bad_file", res.error);
    else if (rc == 0)
        rc = api_json(c, 200, json_pack("{s:I, s:I, s:I, s:I, s:O, s:O, s:b}", "rows", (json_int_t)res.rows,
                                        "imported", (json_int_t)res.imported, "updated", (json_int_t)res.updated,
                                        "rejected_count", (json_int_t)res.rejected_count, "rejected", res.rejected,
                                        "ignored_columns", res.ignored_columns, "dry_run", o.dry_run));
    customer_import_result_free(&res);
    return rc;
}
