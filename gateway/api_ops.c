/* api_ops.c — /healthz (process alive), /readyz (database reachable and schema current),
 * /metrics (Prometheus text). */
#include "gateway/api_handlers.h"
#include "gateway/metrics.h"
#include "gateway/migrate.h"
#include "gateway/server.h"
#include "gateway/lib/text.h"

int ops_healthz(struct api_ctx *c)
{
    return api_json(c, 200, json_pack("{s:s}", "status", "ok"));
}

int ops_readyz(struct api_ctx *c)
{
    int version = 0, latest = migrate_latest_version();
    int rc = db_ping(c->db);
    if (!rc)
        rc = migrate_current_version(c->db, &version);
    if (rc) {
        text_copy(c->req->retry_after, sizeof(c->req->retry_after), "1");
        return api_json(c, 503, json_pack("{s:s, s:s}", "status", "unavailable", "database", "unreachable"));
    }
    if (version < latest)
        return api_json(c, 503, json_pack("{s:s, s:i, s:i, s:s}", "status", "schema_behind", "schema", version,
                                          "expected", latest, "fix", "switchboard migrate"));
    return api_json(c, 200, json_pack("{s:s, s:s, s:i}", "status", "ready", "database", "ok", "schema", version));
}

/* The OpenAPI document of this API (gateway/www/openapi.json, kept honest by
 * tests/system/openapi.test.js). */
int ops_openapi(struct api_ctx *c)
{
    const char *data;
    size_t len;
    if (server_static_file("/openapi.json", &data, &len) < 0)
        return api_not_found(c);
    buf_reset(&c->req->resp);
    if (buf_append(&c->req->resp, data, len) < 0)
        return DB_EOTHER;
    c->req->status = 200;
    c->req->resp_type = "application/json";
    return DB_OK;
}

int ops_metrics(struct api_ctx *c)
{
    int64_t depth = -1;
    if (db_scalar_i64(c->db, "SELECT COUNT(*) FROM outbox WHERE state IN ('queued','sending')", DBP0, 0, &depth))
        depth = -1;
    buf_reset(&c->req->resp);
    metrics_render(&c->req->resp, depth);
    c->req->status = 200;
    c->req->resp_type = "text/plain; version=0.0.4; charset=utf-8";
    return 0;
}
