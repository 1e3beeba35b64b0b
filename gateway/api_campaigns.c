/* api_campaigns.c — campaigns (/api/v1/campaigns), their actions (start, pause, resume,
 * cancel, resend of ambiguous recipients) and the public unsubscribe page (/u/{token}).
 *
 * The API only moves a campaign between states; workers/campaigns.c materialises the
 * ledger and sends. Starting a started campaign is a 409; the ledger's UNIQUE key makes a
 * second start add nothing anyway. Ambiguous recipients (a crash mid-send) are never
 * re-sent unless someone asks for exactly those ids.
 *
 * Unsubscribe (RFC 8058): GET /u/{token} shows a confirmation page and changes nothing
 * (mail scanners follow links); POST /u/{token} — the page's button, or a mail client's
 * one-click "List-Unsubscribe=One-Click" — suppresses the address at once.
 */
#include "gateway/api_handlers.h"
#include "gateway/rules.h"
#include "gateway/campaigns.h"
#include "gateway/campaign_results.h"
#include "gateway/signed_link.h"
#include "gateway/lib/buf.h"
#include "gateway/lib/text.h"
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* ---- tokens ---- */

int campaign_token(struct db *db, int64_t recipient_id, char out[CAMPAIGN_TOKEN_MAX])
{
    return signed_link_token(db, "unsubscribe", recipient_id, out);
}

int campaign_token_verify(struct db *db, const char *token, int64_t *recipient_id)
{
    return signed_link_verify(db, "unsubscribe", token, recipient_id);
}

/* HMAC over "click:ID:URL": a redirect only goes where the message pointed. */
static int click_sig(struct db *db, int64_t id, const char *url, char out[33])
{
    char head[40];
    snprintf(head, sizeof(head), "click:%lld:", (long long)id);
    return signed_link_mac(db, head, url, out);
}

static void url_encode(struct buf *b, const char *s, size_t n)
{
    static const char hex[] = "0123456789ABCDEF";
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)s[i];
        if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || strchr("-._~", ch)) {
            buf_append(b, s + i, 1);
        } else {
            char e[3] = {'%', hex[ch >> 4], hex[ch & 15]};
            buf_append(b, e, 3);
        }
    }
}

/* One href value (still HTML-escaped as written) → the tracking URL, HTML-escaped. */
static void tracked_href(struct db *db, struct buf *b, int64_t id, const char *token, const char *base, const char *v,
                         size_t n)
{
    struct buf url;
    buf_init(&url, 0);
    for (size_t i = 0; i < n; i++) { /* the one entity a URL in an attribute needs */
        if (n - i >= 5 && memcmp(v + i, "&amp;", 5) == 0) {
            buf_puts(&url, "&");
            i += 4;
        } else {
            buf_append(&url, v + i, 1);
        }
    }
    char sig[33] = "";
    (void)click_sig(db, id, url.data ? url.data : "", sig); /* the key is loaded: the token needed it */
    buf_printf(b, "%s/c/%s?u=", base, token);
    url_encode(b, url.data ? url.data : "", url.len);
    buf_printf(b, "&amp;s=%s", sig);
    buf_free(&url);
}

int campaign_track_html(struct db *db, int64_t recipient_id, const char *base, const char *html, int clicks,
                        int opens, char **out)
{
    char token[CAMPAIGN_TOKEN_MAX];
    int rc = campaign_token(db, recipient_id, token);
    if (rc)
        return rc;
    struct buf b;
    buf_init(&b, 0);
    const char *p = html;
    while (clicks && *p) {
        const char *h = strcasestr(p, "href=");
        if (!h || (h[5] != '"' && h[5] != '\'')) {
            buf_puts(&b, p);
            p += strlen(p);
            break;
        }
        char q = h[5];
        const char *v = h + 6, *end = strchr(v, q);
        if (!end)
            break;
        buf_append(&b, p, (size_t)(v - p));
        size_t n = (size_t)(end - v);
        int web = (n > 7 && strncasecmp(v, "http://", 7) == 0) || (n > 8 && strncasecmp(v, "https://", 8) == 0);
        int unsub = web && n > strlen(base) && strncmp(v, base, strlen(base)) == 0 && strncmp(v + strlen(base), "/u/", 3) == 0;
        if (web && !unsub)
            tracked_href(db, &b, recipient_id, token, base, v, n);
        else
            buf_append(&b, v, n);
        p = end;
    }
    buf_puts(&b, p);
    if (opens) {
        /* before </body> when there is one, else at the end */
        const char *body_end = b.data ? strcasestr(b.data, "</body>") : NULL;
        struct buf img;
        buf_init(&img, 0);
        buf_printf(&img, "<img src=\"%s/o/%s\" width=\"1\" height=\"1\" alt=\"\" style=\"display:block;border:0\">", base,
                   token);
        if (body_end) {
            size_t at = (size_t)(body_end - b.data);
            struct buf both;
            buf_init(&both, 0);
            buf_append(&both, b.data, at);
            buf_append(&both, img.data, img.len);
            buf_puts(&both, b.data + at);
            buf_free(&b);
            b = both;
        } else {
            buf_append(&b, img.data, img.len);
        }
        buf_free(&img);
    }
    *out = b.data ? buf_take(&b) : strdup("");
    return *out ? DB_OK : DB_EOTHER;
}

int campaign_unsubscribe(struct db *db, int64_t recipient_id)
{
    int rc = db_exec(db, "INSERT IGNORE INTO suppressions (channel, value, reason) "
                         "SELECT channel, address, 'unsubscribe' FROM campaign_recipients WHERE id = ? AND address IS NOT NULL",
                     DBP(P_I(recipient_id)), NULL);
    if (!rc)
        rc = db_exec(db, "UPDATE campaign_recipients SET unsubscribed_at = COALESCE(unsubscribed_at, NOW(3)), "
                         "state = IF(state = 'queued', 'skipped', state), "
                         "skip_reason = IF(state = 'skipped' AND skip_reason IS NULL, 'suppressed', skip_reason) "
                         "WHERE id = ?", DBP(P_I(recipient_id)), NULL);
    return rc;
}

/* ---- the public page ---- */

static int page(struct api_ctx *c, int status, const char *title, const char *text, const char *address, int form)
{
    struct buf *b = &c->req->resp;
    buf_reset(b);
    buf_puts(b, "<!doctype html><html lang=\"zh\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" "
                "content=\"width=device-width\"><title>");
    buf_put_html(b, title, strlen(title));
    buf_puts(b, "</title><style>body{font-family:system-ui,sans-serif;max-width:32rem;margin:4rem auto;padding:0 1rem;"
                "color:#1f2937}button{font-size:1rem;padding:.6rem 1.2rem;border:0;border-radius:.4rem;"
                "background:#2563eb;color:#fff;cursor:pointer}p.a{font-weight:600}</style></head><body><h1>");
    buf_put_html(b, title, strlen(title));
    buf_puts(b, "</h1><p>");
    buf_put_html(b, text, strlen(text));
    buf_puts(b, "</p>");
    if (address) {
        buf_puts(b, "<p class=\"a\">");
        buf_put_html(b, address, strlen(address));
        buf_puts(b, "</p>");
    }
    if (form)
        buf_puts(b, "<form method=\"post\"><button type=\"submit\">退订 Unsubscribe</button></form>");
    buf_puts(b, "</body></html>");
    c->req->status = status;
    c->req->resp_type = "text/html; charset=utf-8";
    return DB_OK;
}

static int recipient_of(struct api_ctx *c, int64_t *id, json_t **row)
{
    *row = NULL;
    if (!campaign_token_verify(c->db, c->req->params.str[0], id))
        return DB_OK;
    return db_row_json_of(c->db, "SELECT id, channel, address, unsubscribed_at FROM campaign_recipients WHERE id = ?",
                          DBP(P_I(*id)), row);
}

int unsubscribe_page(struct api_ctx *c)
{
    int64_t id = 0;
    json_t *row = NULL;
    int rc = recipient_of(c, &id, &row);
    if (rc)
        return rc;
    if (!row)
        return page(c, 404, "链接无效 Link not valid", "This unsubscribe link is not valid.", NULL, 0);
    const char *addr = json_string_value(json_object_get(row, "address"));
    int done = !json_is_null(json_object_get(row, "unsubscribed_at"));
    rc = done ? page(c, 200, "已退订 Unsubscribed", "This address receives no more campaign messages:", addr, 0)
              : page(c, 200, "退订 Unsubscribe", "Stop campaign messages to this address?", addr, 1);
    json_decref(row);
    return rc;
}

int unsubscribe_post(struct api_ctx *c)
{
    int64_t id = 0;
    json_t *row = NULL;
    int rc = recipient_of(c, &id, &row);
    if (rc)
        return rc;
    if (!row)
        return page(c, 404, "链接无效 Link not valid", "This unsubscribe link is not valid.", NULL, 0);
    rc = campaign_unsubscribe(c->db, id);
    if (!rc)
        rc = db_exec(c->db, "INSERT INTO audit_log (actor_type, action, object_type, object_id, after_json) "
                            "VALUES ('system', 'recipient.unsubscribed', 'campaign_recipient', ?, ?)",
                     DBP(P_I(id), P_S("{\"via\":\"link\"}")), NULL);
    if (!rc)
        rc = page(c, 200, "已退订 Unsubscribed", "This address receives no more campaign messages:",
                  json_string_value(json_object_get(row, "address")), 0);
    json_decref(row);
    return rc;
}

/* ---- tracking ---- */

/* GET /o/{token}: the 1x1 image of an opened message. */
int track_open(struct api_ctx *c)
{
    static const unsigned char gif[] = {0x47, 0x49, 0x46, 0x38, 0x39, 0x61, 1, 0, 1, 0, 0x80, 0, 0, 0, 0, 0, 0xff, 0xff,
                                        0xff, 0x21, 0xf9, 4, 1, 0, 0, 0, 0, 0x2c, 0, 0, 0, 0, 1, 0, 1, 0, 0, 2, 2, 0x44,
                                        1, 0, 0x3b};
    int64_t id = 0;
    if (campaign_token_verify(c->db, c->req->params.str[0], &id)) {
        int rc = db_exec(c->db, "UPDATE campaign_recipients SET opened_at = COALESCE(opened_at, NOW(3)) WHERE id = ?",
                         DBP(P_I(id)), NULL);
        if (rc)
            return rc;
    }
    buf_reset(&c->req->resp);
    buf_append(&c->req->resp, gif, sizeof(gif)); /* the same image for a bad token: nothing to learn */
    c->req->status = 200;
    c->req->resp_type = "image/gif";
    return DB_OK;
}

/* GET /c/{token}?u=URL&s=SIG: records the click (and the open), then redirects — only to
 * the URL the message carried (the signature), never an open redirect. */
int track_click(struct api_ctx *c)
{
    int64_t id = 0;
    const char *url = api_arg(c->req, "u"), *sig = api_arg(c->req, "s");
    char want[33], decoded[1200];
    if (!url || !sig || !campaign_token_verify(c->db, c->req->params.str[0], &id) || strlen(url) >= sizeof(decoded))
        return api_error(c, 404, "not_found", "no such link");
    text_copy(decoded, sizeof(decoded), url); /* lws has already percent-decoded the query */
    if (click_sig(c->db, id, decoded, want))
        return api_error(c, 404, "not_found", "no such link");
    if (strlen(sig) != 32 || sodium_memcmp(want, sig, 32) != 0 || strpbrk(decoded, "\r\n"))
        return api_error(c, 404, "not_found", "no such link");
    int rc = db_exec(c->db, "UPDATE campaign_recipients SET clicked_at = COALESCE(clicked_at, NOW(3)), "
                            "opened_at = COALESCE(opened_at, NOW(3)) WHERE id = ?", DBP(P_I(id)), NULL);
    if (rc)
        return rc;
    /* a header is ASCII: what is not (Chinese, spaces) goes percent-encoded (RFC 3986) */
    size_t o = 0;
    for (const unsigned char *p = (const unsigned char *)decoded; *p && o + 4 < sizeof(c->req->location); p++) {
        if (*p > 0x20 && *p < 0x7f) {
            c->req->location[o++] = (char)*p;
        } else {
            snprintf(c->req->location + o, 4, "%%%02X", *p);
            o += 3;
        }
    }
    c->req->location[o] = '\0';
    return api_json(c, 302, NULL);
}

/* ---- campaigns ---- */

#define CAMPAIGN_SELECT \
    "SELECT id, name, kind, (SELECT st.sequence_id FROM sequence_steps st WHERE st.campaign_id = campaigns.id " \
    "LIMIT 1) AS sequence_id, channel, segment_id, template_id, status, scheduled_at, rate_per_minute, " \
    "CAST(cost AS CHAR) AS cost, created_by, " \
    "started_at, finished_at, created_at, updated_at FROM campaigns "

static int stats(struct api_ctx *c, int64_t id, json_t *o)
{
    struct db_result r;
    int rc = db_exec(c->db, "SELECT SUM(state = 'queued'), SUM(state = 'sending'), SUM(state = 'sent'), "
                            "SUM(state = 'failed'), SUM(state = 'ambiguous'), SUM(state = 'skipped'), "
                            "COUNT(delivered_at), COUNT(bounced_at), COUNT(opened_at), COUNT(clicked_at), "
                            "COUNT(replied_at), COUNT(unsubscribed_at), COUNT(*) FROM campaign_recipients "
                            "WHERE campaign_id = ?", DBP(P_I(id)), &r);
    if (rc)
        return rc;
    static const char *const names[] = {"queued", "sending", "sent", "failed", "ambiguous", "skipped", "delivered",
                                        "bounced", "opened", "clicked", "replied", "unsubscribed", "total"};
    json_t *s = json_object();
    for (size_t k = 0; k < sizeof(names) / sizeof(names[0]); k++)
        json_object_set_new(s, names[k], json_integer(r.nrows ? db_cell_i64(&r, 0, k) : 0));
    db_result_free(&r);
    rc = db_exec(c->db, "SELECT COALESCE(skip_reason, 'other'), COUNT(*) FROM campaign_recipients "
                        "WHERE campaign_id = ? AND state = 'skipped' GROUP BY skip_reason", DBP(P_I(id)), &r);
    if (rc) {
        json_decref(s);
        return rc;
    }
    json_t *why = json_object();
    for (size_t i = 0; i < r.nrows; i++)
        json_object_set_new(why, db_cell(&r, i, 0), json_integer(db_cell_i64(&r, i, 1)));
    db_result_free(&r);
    json_object_set_new(s, "skipped_reasons", why);
    json_object_set_new(o, "stats", s);
    return campaign_revenue(c->db, id, s);
}

int campaigns_report(struct api_ctx *c)
{
    const char *d = api_arg(c->req, "days");
    int64_t days = 90;
    if (d && (text_parse_i64(d, &days) < 0 || days < 1 || days > 3650))
        return api_error(c, 400, "bad_request", "days must be 1..3650");
    json_t *out = NULL;
    int rc = campaign_channel_report(c->db, days, &out);
    return rc ? rc : api_json(c, 200, out);
}

static int campaign_answer(struct api_ctx *c, int64_t id, int status)
{
    json_t *o = NULL;
    int rc = db_row_json_of(c->db, CAMPAIGN_SELECT "WHERE id = ?", DBP(P_I(id)), &o);
    if (rc || !o)
        return rc ? rc : api_not_found(c);
    if ((rc = stats(c, id, o))) {
        json_decref(o);
        return rc;
    }
    return api_json(c, status, o);
}

int campaigns_list(struct api_ctx *c)
{
    return api_rows(c, CAMPAIGN_SELECT "WHERE kind = 'campaign' ORDER BY id DESC LIMIT 200", DBP0);
}

int campaigns_get(struct api_ctx *c)
{
    return campaign_answer(c, c->req->params.id[0], 200);
}

int campaigns_create(struct api_ctx *c)
{
    if (api_body_object(c) < 0)
        return 0;
    static const char *const allowed[] = {"name", "segment_id", "template_id", "channel", "scheduled_at",
                                          "rate_per_minute", "cost", NULL};
    static const char *const chans[] = {"email", "sms", NULL};
    struct jf f;
    jf_init(&f, c->body);
    jf_only(&f, allowed);
    bool has;
    const char *name = jf_str(&f, "name", 200, true), *channel = jf_enum(&f, "channel", chans, true);
    int64_t seg = jf_int(&f, "segment_id", 1, INT64_MAX, true, &has);
    int64_t tpl = jf_int(&f, "template_id", 1, INT64_MAX, true, &has);
    bool has_rate;
    int64_t rate = jf_int(&f, "rate_per_minute", 1, 1000000, false, &has_rate);
    char cost[32], at[24];
    bool has_cost = jf_money(&f, "cost", cost);
    jf_utc_time(&f, "scheduled_at", at);
    int rc = DB_OK;
    int64_t ok_seg = 1;
    char tchan[8] = "";
    if (seg > 0)
        rc = db_scalar_i64(c->db, "SELECT COUNT(*) FROM segments WHERE id = ?", DBP(P_I(seg)), 0, &ok_seg);
    if (!rc && !ok_seg)
        jf_fail(&f, "segment_id", "no such segment");
    if (!rc && tpl > 0) {
        json_t *t = NULL;
        rc = db_row_json_of(c->db, "SELECT channel FROM templates WHERE id = ?", DBP(P_I(tpl)), &t);
        if (!rc && !t)
            jf_fail(&f, "template_id", "no such template");
        if (t)
            text_copy(tchan, sizeof(tchan), json_string_value(json_object_get(t, "channel")));
        json_decref(t);
    }
    if (!rc && tchan[0] && channel && strcmp(tchan, channel) != 0)
        jf_fail(&f, "template_id", "the template is for another channel");
    if (!api_checked(c, &f, &rc))
        return rc;
    struct db_result r;
    rc = db_exec(c->db, "INSERT INTO campaigns (name, channel, segment_id, template_id, scheduled_at, rate_per_minute, "
                        "cost, created_by) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                 DBP(P_S(name), P_S(channel), P_I(seg), P_I(tpl), P_S(at[0] ? at : NULL),
                     has_rate ? P_I(rate) : P_NULL, P_S(has_cost ? cost : NULL), P_IOPT(c->me.id)), &r);
    if (rc)
        return rc;
    int64_t id = (int64_t)r.insert_id;
    db_result_free(&r);
    json_t *after = json_pack("{s:s, s:I, s:I}", "name", name, "segment_id", (json_int_t)seg, "template_id",
                              (json_int_t)tpl);
    rc = api_audit(c, "campaign.created", "campaign", id, NULL, after);
    json_decref(after);
    return rc ? rc : campaign_answer(c, id, 201);
}

/* Name and cost (for the marketing report's ROI) may change in any state. */
int campaigns_update(struct api_ctx *c)
{
    if (api_body_object(c) < 0)
        return 0;
    static const char *const allowed[] = {"name", "cost", NULL};
    int64_t id = c->req->params.id[0];
    struct jf f;
    jf_init(&f, c->body);
    jf_only(&f, allowed);
    const char *name = jf_name(&f, "name", 200, false);
    char cost[32];
    bool has_cost = jf_money(&f, "cost", cost);
    int rc = DB_OK;
    if (!api_checked(c, &f, &rc))
        return rc;
    json_t *before = NULL;
    rc = db_row_json_of(c->db, "SELECT name, CAST(cost AS CHAR) AS cost FROM campaigns WHERE id = ? AND kind = 'campaign' "
                               "FOR UPDATE", DBP(P_I(id)), &before);
    if (rc || !before)
        return rc ? rc : api_not_found(c);
    rc = db_exec(c->db, "UPDATE campaigns SET name = COALESCE(?, name), cost = IF(?, ?, cost) WHERE id = ?",
                 DBP(P_S(name), P_I(has_cost), P_S(has_cost ? cost : NULL), P_I(id)), NULL);
    json_t *after = rc ? NULL : json_pack("{s:s?, s:s?}", "name", name, "cost", has_cost ? cost : NULL);
    if (!rc)
        rc = api_audit(c, "campaign.updated", "campaign", id, before, after);
    json_decref(before);
    json_decref(after);
    return rc ? rc : campaign_answer(c, id, 200);
}

/* Moves the campaign from one of the states in `from` to `to`; 409 otherwise. */
static int transition(struct api_ctx *c, const char *from, const char *to, const char *action)
{
    int64_t id = c->req->params.id[0];
    json_t *cur = NULL;
    int rc = db_row_json_of(c->db, "SELECT status, scheduled_at > NOW(3) AS later__bool, kind FROM campaigns "
                                   "WHERE id = ? FOR UPDATE", DBP(P_I(id)), &cur);
    if (rc || !cur)
        return rc ? rc : api_not_found(c);
    if (strcmp(json_string_value(json_object_get(cur, "kind")), "campaign") != 0) {
        json_decref(cur);
        return api_error(c, 409, "conflict", "this is a step of a nurture sequence: it runs while its sequence is "
                                             "enabled; disable the sequence instead");
    }
    char status[16];
    text_copy(status, sizeof(status), json_string_value(json_object_get(cur, "status")));
    int later = json_is_true(json_object_get(cur, "later"));
    json_decref(cur);
    char padded[80];
    snprintf(padded, sizeof(padded), " %s ", from);
    char mine[20];
    snprintf(mine, sizeof(mine), " %s ", status);
    if (!strstr(padded, mine)) {
        char msg[120];
        snprintf(msg, sizeof(msg), "the campaign is %s; %s needs it %s", status, action, from);
        return api_error(c, 409, "conflict", msg);
    }
    if (strcmp(to, "starting") == 0 && later)
        to = "scheduled";
    rc = db_exec(c->db, "UPDATE campaigns SET status = ?, started_at = IF(? = 'starting', COALESCE(started_at, NOW(3)), "
                        "started_at), finished_at = IF(? = 'cancelled', NOW(3), finished_at) WHERE id = ?",
                 DBP(P_S(to), P_S(to), P_S(to), P_I(id)), NULL);
    if (!rc && strcmp(to, "cancelled") == 0)
        rc = db_exec(c->db, "UPDATE campaign_recipients SET state = 'skipped', skip_reason = 'cancelled' "
                            "WHERE campaign_id = ? AND state = 'queued'", DBP(P_I(id)), NULL);
    json_t *after = json_pack("{s:s, s:s}", "from", status, "to", to);
    if (!rc)
        rc = api_audit(c, action, "campaign", id, NULL, after);
    json_decref(after);
    if (!rc)
        rc = api_event(c, "campaign.updated", 0, 0, 0, 0, json_pack("{s:I, s:s}", "campaign_id", (json_int_t)id,
                                                                      "status", to));
    if (!rc) /* the moment by name (campaign.started …), for webhooks */
        rc = api_event(c, action, 0, 0, 0, 0, json_pack("{s:I, s:s}", "campaign_id", (json_int_t)id, "status", to));
    return rc ? rc : campaign_answer(c, id, 200);
}

/* Starting asks the gate first (rules.h, trigger campaign.start_requested): a rule may
 * hold the start for an approval, answered 202 with the campaign still a draft. */
int campaigns_start(struct api_ctx *c)
{
    int64_t id = c->req->params.id[0], pending = 0, startable = 0;
    int rc = db_scalar_i64(c->db, "SELECT COUNT(*) FROM campaigns WHERE id = ? AND kind = 'campaign' "
                                  "AND status IN ('draft', 'scheduled') FOR UPDATE", DBP(P_I(id)), 0, &startable);
    if (!rc && startable)
        rc = db_scalar_i64(c->db, "SELECT id FROM approvals WHERE pending_key = CONCAT('campaign.start:', ?)",
                           DBP(P_I(id)), 0, &pending);
    if (rc)
        return rc;
    if (pending) {
        char msg[120];
        snprintf(msg, sizeof(msg), "approval %lld for starting this campaign is pending", (long long)pending);
        return api_error(c, 409, "approval_pending", msg);
    }
    int64_t approval = 0;
    if (startable && (rc = rules_gate(c->db, "campaign.start_requested", id, c->me.id, &approval)))
        return rc;
    if (!approval)
        return transition(c, "draft scheduled", "starting", "campaign.started");
    json_t *cp = NULL, *ap = NULL;
    rc = db_row_json_of(c->db, CAMPAIGN_SELECT "WHERE id = ?", DBP(P_I(id)), &cp);
    if (!rc)
        rc = approval_load(c, approval, &ap);
    if (rc || !cp || !ap) {
        json_decref(cp);
        json_decref(ap);
        return rc ? rc : DB_EOTHER;
    }
    json_object_set_new(cp, "approval", json_pack("{s:I, s:s}", "id", (json_int_t)approval, "status", "pending"));
    return api_json(c, 202, json_pack("{s:o, s:o}", "campaign", cp, "approval", ap));
}

int campaign_start_approved(struct api_ctx *c, int64_t campaign_id, int64_t approval_id)
{
    json_t *cur = NULL;
    int rc = db_row_json_of(c->db, "SELECT status, scheduled_at > NOW(3) AS later__bool FROM campaigns WHERE id = ? "
                                   "AND kind = 'campaign' FOR UPDATE", DBP(P_I(campaign_id)), &cur);
    if (rc)
        return rc;
    const char *status = cur ? json_string_value(json_object_get(cur, "status")) : "deleted";
    if (!cur || (strcmp(status, "draft") != 0 && strcmp(status, "scheduled") != 0)) {
        char msg[160];
        snprintf(msg, sizeof(msg), "the campaign is %s now and cannot start; cancel this approval's request instead",
                 status);
        json_decref(cur);
        api_error(c, 409, "conflict", msg);
        return 1;
    }
    const char *to = json_is_true(json_object_get(cur, "later")) ? "scheduled" : "starting";
    rc = db_exec(c->db, "UPDATE campaigns SET status = ?, started_at = IF(? = 'starting', COALESCE(started_at, NOW(3)), "
                        "started_at) WHERE id = ?", DBP(P_S(to), P_S(to), P_I(campaign_id)), NULL);
    json_t *after = json_pack("{s:s, s:s, s:I}", "from", status, "to", to, "approval_id", (json_int_t)approval_id);
    json_decref(cur);
    if (!rc)
        rc = api_audit(c, "campaign.started", "campaign", campaign_id, NULL, after);
    json_decref(after);
    if (!rc)
        rc = api_event(c, "campaign.updated", 0, 0, 0, 0,
                       json_pack("{s:I, s:s}", "campaign_id", (json_int_t)campaign_id, "status", to));
    if (!rc)
        rc = api_event(c, "campaign.started", 0, 0, 0, 0,
                       json_pack("{s:I, s:s}", "campaign_id", (json_int_t)campaign_id, "status", to));
    return rc;
}

int campaigns_pause(struct api_ctx *c)
{
    return transition(c, "starting sending", "paused", "campaign.paused");
}

int campaigns_resume(struct api_ctx *c)
{
    return transition(c, "paused", "sending", "campaign.resumed");
}

int campaigns_cancel(struct api_ctx *c)
{
    return transition(c, "draft scheduled starting sending paused", "cancelled", "campaign.cancelled");
}

/* Whether campaign id exists (*found 1/0). */
static int campaign_exists(struct api_ctx *c, int64_t id, int64_t *found)
{
    return db_scalar_i64(c->db, "SELECT COUNT(*) FROM campaigns WHERE id = ?", DBP(P_I(id)), 0, found);
}

int campaigns_recipients(struct api_ctx *c)
{
    int64_t id = c->req->params.id[0], found = 0;
    const char *state = api_arg(c->req, "state");
    static const char *const states[] = {"queued", "sending", "sent", "failed", "ambiguous", "skipped", NULL};
    state = state && *state ? state : NULL;
    size_t k = 0;
    while (state && states[k] && strcmp(states[k], state) != 0)
        k++;
    if (state && !states[k])
        return api_error(c, 400, "bad_request", "state must be queued, sending, sent, failed, ambiguous or skipped");
    int rc = campaign_exists(c, id, &found);
    if (rc || !found)
        return rc ? rc : api_not_found(c);
    return api_paged(c, "SELECT COUNT(*) FROM campaign_recipients r WHERE r.campaign_id = ? AND (? IS NULL OR r.state = ?)",
                     "SELECT r.id, r.customer_id, cu.name AS customer_name, r.address, r.state, r.skip_reason, "
                     "r.error, r.sent_at, r.unsubscribed_at FROM campaign_recipients r "
                     "JOIN customers cu ON cu.id = r.customer_id WHERE r.campaign_id = ? AND (? IS NULL OR r.state = ?) "
                     "ORDER BY r.id LIMIT ? OFFSET ?",
                     DBP(P_I(id), P_S(state), P_S(state)));
}

/* POST /campaigns/{id}/resend {"recipient_ids":[…]}: ambiguous rows back to queued — the
 * explicit decision the ledger waits for; anything else in the list is left alone. */
int campaigns_resend(struct api_ctx *c)
{
    if (api_body_object(c) < 0)
        return 0;
    int64_t id = c->req->params.id[0], found = 0;
    static const char *const allowed[] = {"recipient_ids", NULL};
    struct jf f;
    jf_init(&f, c->body);
    jf_only(&f, allowed);
    json_t *ids = json_object_get(c->body, "recipient_ids"), *x;
    size_t i;
    bool ok = json_is_array(ids) && json_array_size(ids) && json_array_size(ids) <= 1000;
    json_array_foreach(ids, i, x) {
        ok = ok && json_is_integer(x) && json_integer_value(x) > 0;
    }
    if (!ok)
        jf_fail(&f, "recipient_ids", "must be an array of 1..1000 recipient ids");
    int rc = DB_OK;
    if (!api_checked(c, &f, &rc))
        return rc;
    if ((rc = campaign_exists(c, id, &found)) || !found)
        return rc ? rc : api_not_found(c);
    int64_t moved = 0;
    json_array_foreach(ids, i, x) {
        struct db_result r;
        rc = db_exec(c->db, "UPDATE campaign_recipients SET state = 'queued', lease_until = NULL, error = NULL "
                                "WHERE id = ? AND campaign_id = ? AND state = 'ambiguous'",
                         DBP(P_I(json_integer_value(x)), P_I(id)), &r);
        if (rc)
            return rc;
        moved += (int64_t)r.affected;
        db_result_free(&r);
    }
    json_t *after = json_pack("{s:O, s:I}", "recipient_ids", ids, "requeued", (json_int_t)moved);
    rc = api_audit(c, "campaign.resend", "campaign", id, NULL, after);
    json_decref(after);
    if (!rc && moved)
        rc = db_exec(c->db, "UPDATE campaigns SET status = 'sending' WHERE id = ? AND status = 'finished'",
                     DBP(P_I(id)), NULL);
    return rc ? rc : api_json(c, 200, json_pack("{s:I}", "requeued", (json_int_t)moved));
}
