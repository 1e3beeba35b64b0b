/* webhooks.c — see webhooks.h. */
#include "gateway/webhooks.h"
#include "gateway/lib/ip_class.h"
#include "gateway/lib/text.h"
#include <curl/curl.h>
#include <netdb.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static const struct sb_config *cfg;

/* The kinds a subscription may name; the same names as the change feed's, plus
 * ticket.solved/deal.won/deal.lost, which are moments inside ticket.updated and
 * deal.stage_changed that integrations ask for by name. */
static const char *const kinds[] = {
    "ticket.created", "ticket.updated", "ticket.assigned", "ticket.solved", "ticket.flagged", "message.created",
    "customer.created", "customer.updated", "customer.merged", "deal.created", "deal.stage_changed", "deal.won",
    "deal.lost", "lead.converted", "campaign.started", "campaign.finished", NULL};

void webhooks_init(const struct sb_config *config)
{
    cfg = config;
}

static bool known_kind(const char *k)
{
    for (size_t i = 0; kinds[i]; i++)
        if (strcmp(kinds[i], k) == 0)
            return true;
    return false;
}

size_t webhook_kinds_of(const char *kind, json_t *payload, const char *out[WEBHOOK_MAX_KINDS])
{
    size_t n = 0;
    for (size_t i = 0; kinds[i]; i++)
        if (strcmp(kinds[i], kind) == 0)
            out[n++] = kinds[i];
    if (n && strcmp(kind, "deal.stage_changed") == 0) {
        const char *status = json_string_value(json_object_get(json_object_get(payload, "deal"), "status"));
        if (status && strcmp(status, "won") == 0)
            out[n++] = "deal.won";
        else if (status && strcmp(status, "lost") == 0)
            out[n++] = "deal.lost";
    }
    return n;
}

static bool host_allowed(const char *host)
{
    const char *p = cfg ? cfg->webhooks.allow_hosts : "";
    size_t hl = strlen(host);
    while (*p) {
        while (*p == ' ' || *p == ',')
            p++;
        size_t n = strcspn(p, ", ");
        if (n && n == hl && strncasecmp(p, host, n) == 0)
            return true;
        p += n;
    }
    return false;
}

/* curl's host part without the brackets of an IPv6 literal. */
static void bare_host(const char *host, char *out, size_t size)
{
    size_t hl = strlen(host);
    if (host[0] == '[' && hl > 2)
        text_copy_n(out, size, host + 1, hl - 2);
    else
        text_copy(out, size, host);
}

bool webhook_url_host_allowed(const char *url)
{
    CURLU *u = curl_url();
    char *host = NULL, bare[256] = "";
    if (u && curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK && curl_url_get(u, CURLUPART_HOST, &host, 0) == CURLUE_OK)
        bare_host(host, bare, sizeof(bare));
    curl_free(host);
    curl_url_cleanup(u);
    return bare[0] && host_allowed(bare);
}

/* Every address host resolves to must be public. */
static int resolve_public(const char *host, const char *port, char *why, size_t whysz)
{
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *res = NULL;
    if (getaddrinfo(host, port, &hints, &res) != 0 || !res) {
        snprintf(why, whysz, "the host does not resolve");
        return -1;
    }
    int rc = 0;
    for (struct addrinfo *a = res; a && !rc; a = a->ai_next)
        if (!ip_is_public(a->ai_addr)) {
            snprintf(why, whysz, "the host resolves to a private or loopback address; allow it in [webhooks] allow_hosts");
            rc = -1;
        }
    freeaddrinfo(res);
    return rc;
}

int webhook_url_check(const char *url, char *why, size_t whysz)
{
    CURLU *u = curl_url();
    char *scheme = NULL, *host = NULL, *port = NULL;
    int rc = -1;
    if (!u || curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK) {
        snprintf(why, whysz, "must be an absolute http or https URL");
        goto out;
    }
    if (strcmp(scheme, "http") != 0 && strcmp(scheme, "https") != 0) {
        snprintf(why, whysz, "must be an http or https URL");
        goto out;
    }
    curl_url_get(u, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT);
    char bare[256];
    bare_host(host, bare, sizeof(bare));
    if (host_allowed(bare))
        rc = 0;
    else
        rc = resolve_public(bare, port, why, whysz);
out:
    curl_free(scheme);
    curl_free(host);
    curl_free(port);
    curl_url_cleanup(u);
    return rc;
}

char *webhook_body(const char *event_id, const char *type, const char *created_at, json_t *data)
{
    json_t *o = json_pack("{s:s, s:s, s:s, s:O}", "id", event_id, "type", type, "created_at", created_at, "data", data);
    char *s = o ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    return s;
}

/* ---- the admin API ---- */

#define WEBHOOK_SELECT                                                                             \
    "SELECT id, url, events AS events__json, description, active AS active__bool, failure_count, disabled_at, " \
    "disabled_reason, created_by, created_at, updated_at, last_delivery_at, last_status FROM webhooks "

/* url, events, description, active from the body into f; the events array as JSON text. */
struct webhook_input {
    const char *url, *description;
    char *events; /* malloc'd JSON array, NULL when absent */
    bool has_active, active;
};

static void read_input(struct jf *f, json_t *body, struct webhook_input *in, bool create)
{
    static const char *const allowed[] = {"url", "events", "description", "active", NULL};
    jf_only(f, allowed);
    in->url = jf_str(f, "url", 2000, create);
    in->description = jf_str(f, "description", 500, false);
    in->has_active = jf_has(f, "active");
    in->active = jf_bool(f, "active", true);
    char why[200];
    if (in->url && webhook_url_check(in->url, why, sizeof(why)) < 0)
        jf_fail(f, "url", why);
    json_t *ev = json_object_get(body, "events");
    if (!ev) {
        if (create)
            jf_fail(f, "events", "is required: a list of event kinds, or [\"*\"]");
        return;
    }
    size_t i;
    json_t *k;
    if (!json_is_array(ev) || json_array_size(ev) == 0 || json_array_size(ev) > 32) {
        jf_fail(f, "events", "must be a list of 1 to 32 event kinds, or [\"*\"]");
        return;
    }
    json_array_foreach(ev, i, k) {
        const char *s = json_string_value(k);
        if (!s || (strcmp(s, "*") != 0 && !known_kind(s))) {
            jf_fail(f, "events", "unknown event kind; see docs/api.md for the list");
            return;
        }
    }
    in->events = json_dumps(ev, JSON_COMPACT);
}


int webhooks_list(struct api_ctx *c)
{
    return api_rows(c, WEBHOOK_SELECT "ORDER BY id", DBP0);
}

int webhooks_get(struct api_ctx *c)
{
    json_t *o = NULL;
    int rc = db_row_json_of(c->db, WEBHOOK_SELECT "WHERE id = ?", DBP(P_I(c->req->params.id[0])), &o);
    if (rc || !o)
        return rc ? rc : api_not_found(c);
    return api_json(c, 200, o);
}

int webhooks_create(struct api_ctx *c)
{
    if (api_body_object(c) < 0)
        return 0;
    struct jf f;
    struct webhook_input in = {0};
    jf_init(&f, c->body);
    read_input(&f, c->body, &in, true);
    int rc = DB_OK;
    if (!api_checked(c, &f, &rc)) {
        free(in.events);
        return rc;
    }
    unsigned char raw[24];
    char secret[48] = "whsec_";
    randombytes_buf(raw, sizeof(raw));
    sodium_bin2base64(secret + 6, sizeof(secret) - 6, raw, sizeof(raw), sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    struct db_result r;
    rc = db_exec(c->db, "INSERT INTO webhooks (url, events, description, secret, active, created_by) VALUES (?, ?, ?, ?, ?, ?)",
                 DBP(P_S(in.url), P_S(in.events), P_S(in.description), P_S(secret), P_I(in.active), P_IOPT(c->me.id)),
                 &r);
    free(in.events);
    if (rc)
        return rc;
    int64_t id = (int64_t)r.insert_id;
    db_result_free(&r);
    /* the ping: tells the receiver (and the admin, in the deliveries) that the URL works */
    char event_id[40], *body = NULL;
    snprintf(event_id, sizeof(event_id), "ping-%lld", (long long)id);
    json_t *data = json_pack("{s:I}", "webhook_id", (json_int_t)id);
    json_t *now = NULL;
    rc = db_row_json_of(c->db, "SELECT NOW(3) AS at", DBP0, &now);
    if (!rc)
        body = webhook_body(event_id, "webhook.ping", json_string_value(json_object_get(now, "at")), data);
    json_decref(data);
    json_decref(now);
    if (!rc && !body)
        rc = DB_EOTHER;
    if (!rc)
        rc = db_exec(c->db, "INSERT INTO webhook_deliveries (webhook_id, event_id, event, body) VALUES (?, ?, 'webhook.ping', ?)",
                     DBP(P_I(id), P_S(event_id), P_S(body)), NULL);
    free(body);
    json_t *after = NULL;
    if (!rc && !(rc = db_row_json_of(c->db, WEBHOOK_SELECT "WHERE id = ?", DBP(P_I(id)), &after)) && !after)
        rc = DB_EOTHER;
    if (!rc)
        rc = api_audit(c, "webhook.created", "webhook", id, NULL, after);
    if (rc) {
        json_decref(after);
        return rc;
    }
    json_object_set_new(after, "secret", json_string(secret)); /* shown this once, never audited */
    return api_json(c, 201, after);
}

int webhooks_update(struct api_ctx *c)
{
    if (api_body_object(c) < 0)
        return 0;
    int64_t id = c->req->params.id[0];
    json_t *before = NULL;
    int rc = db_row_json_of(c->db, WEBHOOK_SELECT "WHERE id = ? FOR UPDATE", DBP(P_I(id)), &before);
    if (rc || !before)
        return rc ? rc : api_not_found(c);
    struct jf f;
    struct webhook_input in = {0};
    jf_init(&f, c->body);
    read_input(&f, c->body, &in, false);
    if (!api_checked(c, &f, &rc)) {
        free(in.events);
        json_decref(before);
        return rc;
    }
    /* enabling again starts the failure count afresh */
    rc = db_exec(c->db, "UPDATE webhooks SET url = COALESCE(?, url), events = COALESCE(?, events), "
                        "description = IF(?, ?, description), active = IF(?, ?, active), "
                        "failure_count = IF(? AND ?, 0, failure_count), disabled_at = IF(? AND ?, NULL, disabled_at), "
                        "disabled_reason = IF(? AND ?, NULL, disabled_reason) WHERE id = ?",
                 DBP(P_S(in.url), P_S(in.events), P_I(jf_has(&f, "description")), P_S(in.description),
                     P_I(in.has_active), P_I(in.active), P_I(in.has_active), P_I(in.active), P_I(in.has_active),
                     P_I(in.active), P_I(in.has_active), P_I(in.active), P_I(id)), NULL);
    free(in.events);
    if (!rc)
        rc = api_written(c, WEBHOOK_SELECT "WHERE id = ?", "webhook", id, before, 200);
    json_decref(before);
    return rc;
}

int webhooks_delete(struct api_ctx *c)
{
    return api_delete_audited(c, WEBHOOK_SELECT "WHERE id = ? FOR UPDATE", "DELETE FROM webhooks WHERE id = ?", "webhook");
}

int webhook_deliveries_list(struct api_ctx *c)
{
    int64_t id = c->req->params.id[0], found = 0;
    int rc = db_scalar_i64(c->db, "SELECT COUNT(*) FROM webhooks WHERE id = ?", DBP(P_I(id)), 0, &found);
    if (rc || !found)
        return rc ? rc : api_not_found(c);
    return api_paged(c, "SELECT COUNT(*) FROM webhook_deliveries WHERE webhook_id = ?",
                     "SELECT id, webhook_id, event_id, event, CONCAT(state) AS state, attempts, last_status, last_error, "
                     "next_attempt_at, created_at, delivered_at FROM webhook_deliveries WHERE webhook_id = ? "
                     "ORDER BY id DESC LIMIT ? OFFSET ?",
                     DBP(P_I(id)));
}

int webhook_redeliver(struct api_ctx *c)
{
    int64_t id = c->req->params.id[0];
    json_t *d = NULL;
    int rc = db_row_json_of(c->db, "SELECT d.id, d.webhook_id, d.event_id, CONCAT(d.state) AS state, "
                                   "w.active AS active__bool FROM webhook_deliveries d "
                                   "JOIN webhooks w ON w.id = d.webhook_id WHERE d.id = ? FOR UPDATE",
                           DBP(P_I(id)), &d);
    if (rc || !d)
        return rc ? rc : api_not_found(c);
    const char *state = json_string_value(json_object_get(d, "state"));
    if (strcmp(state, "sending") == 0 || strcmp(state, "queued") == 0) {
        json_decref(d);
        return api_error(c, 409, "conflict", "the delivery is already on its way");
    }
    /* the same row: the same event id and body; attempts go on counting */
    rc = db_exec(c->db, "UPDATE webhook_deliveries SET state = 'queued', next_attempt_at = NOW(3), lease_until = NULL "
                        "WHERE id = ?", DBP(P_I(id)), NULL);
    if (!rc)
        rc = api_audit(c, "webhook.redelivered", "webhook", json_integer_value(json_object_get(d, "webhook_id")), NULL, d);
    json_decref(d);
    if (rc)
        return rc;
    return api_json(c, 202, json_pack("{s:I, s:s}", "id", (json_int_t)id, "state", "queued"));
}
