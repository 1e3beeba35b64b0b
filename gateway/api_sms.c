/* api_sms.c — see api_sms.h. */
#include "gateway/api_sms.h"
#include "gateway/campaign_results.h"
#include "gateway/dbpool.h"
#include "gateway/event_tailer.h"
#include "gateway/ingest.h"
#include "gateway/lib/contact.h"
#include "gateway/lib/form.h"
#include "gateway/lib/sms_text.h"
#include "gateway/lib/text.h"
#include "gateway/log.h"
#include "gateway/sms_delivery.h"
#include "gateway/tickets.h"
#include "gateway/sms_provider.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static const struct sb_config *cfg;
static const struct sms_provider *provider;

void api_sms_init(const struct sb_config *config, const struct sms_provider *p)
{
    cfg = config;
    provider = p;
}

const char *api_sms_signature_header(void)
{
    return provider ? provider->signature_header : NULL;
}

enum keyword { KW_NONE, KW_STOP, KW_START, KW_HELP };

/* The whole message, trimmed, in any case. */
static enum keyword keyword_of(const char *body)
{
    static const char *const stop[] = {"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "退订", "TD", NULL};
    static const char *const start[] = {"START", "UNSTOP", "YES", NULL};
    char w[64];
    if (text_copy(w, sizeof(w), body) < 0)
        return KW_NONE;
    char *t = text_trim(w);
    for (size_t i = 0; stop[i]; i++)
        if (strcasecmp(t, stop[i]) == 0)
            return KW_STOP;
    for (size_t i = 0; start[i]; i++)
        if (strcasecmp(t, start[i]) == 0)
            return KW_START;
    return strcasecmp(t, "HELP") == 0 ? KW_HELP : KW_NONE;
}

/* Common to both webhooks: configured, a form, signed. 0 with the form, or answered. */
static int signed_form(struct api_ctx *c, const char *path, struct form *f)
{
    const char *why = NULL;
    struct api_req *r = c->req;
    if (!provider || !cfg->sms.auth_token[0])
        return api_error(c, 404, "not_configured", "the SMS channel is not configured ([sms])"), -1;
    if (strncasecmp(r->content_type, "application/x-www-form-urlencoded", 33) != 0)
        return api_error(c, 415, "unsupported_media_type", "send the webhook as application/x-www-form-urlencoded"), -1;
    if (form_parse(r->body.data ? r->body.data : "", r->body.len, f, &why) < 0)
        return api_error(c, 400, "malformed_form", why), -1;
    char url[CFG_STR + 64];
    snprintf(url, sizeof(url), "%s%s", cfg->server.public_url, path);
    if (!provider->verify(cfg, url, f, r->signature)) {
        log_warn("sms", "event=bad_signature path=%s ip=%s", path, r->ip);
        form_free(f);
        return api_error(c, 403, "bad_signature", "the webhook signature does not match"), -1;
    }
    return 0;
}

/* The provider's empty answer, meaning "received". */
static void answer_req(struct api_req *r)
{
    buf_reset(&r->resp);
    buf_puts(&r->resp, provider->answer_body);
    r->status = 200;
    r->resp_type = provider->answer_type;
}

static int answer(struct api_ctx *c)
{
    answer_req(c->req);
    return 0;
}

/* ---- inbound ---- */

/* An inbound message on its way through the ingest writer; the webhook's pool thread is
 * free meanwhile (api_defer), so a flood of webhooks fills the writer's group commits
 * instead of waiting for pool threads. */
struct inbound {
    struct api_req *req;
    enum keyword kw;
};
static struct ingest_msg *inbound_msg(const struct sms_inbound *in)
{
    struct ingest_msg *m = calloc(1, sizeof(*m));
    if (!m)
        return NULL;
    text_copy(m->channel, sizeof(m->channel), "sms");
    text_copy(m->external_id, sizeof(m->external_id), in->id);
    text_copy(m->identity_kind, sizeof(m->identity_kind), "phone");
    const char *why;
    if (contact_phone_normalise_cc(in->from, cfg->sms.default_country, m->identity_value, sizeof(m->identity_value),
                                   &why) < 0)
        text_copy(m->identity_value, sizeof(m->identity_value), in->from); /* a short code, a sender name: keep it */
    m->body_text = strdup(in->body);
    struct sms_count sc;
    sms_count_text(in->body, &sc);
    m->segments = (int)sc.segments;
    text_copy(m->encoding, sizeof(m->encoding), sms_encoding_name(sc.encoding));
    m->attachments = in->n_media ? calloc(in->n_media, sizeof(*m->attachments)) : NULL;
    for (size_t i = 0; m->attachments && i < in->n_media; i++) {
        struct ingest_attachment *a = &m->attachments[m->n_attachments++];
        a->url = strdup(in->media_url[i]);
        a->content_type = in->media_type[i] ? strdup(in->media_type[i]) : NULL;
        const char *slash = strrchr(in->media_url[i], '/');
        a->filename = strdup(slash && slash[1] ? slash + 1 : "media");
    }
    if (!m->body_text) {
        ingest_msg_free(m);
        return NULL;
    }
    return m;
}

struct keyword_tx {
    enum keyword kw;
    const struct ingest_msg *m;
};

/* STOP/START change the suppression; every keyword gets its answer through the outbox. */
static int keyword_tx(struct db *db, void *arg)
{
    struct keyword_tx *k = arg;
    const struct ingest_msg *m = k->m;
    int rc = DB_OK;
    if (k->kw == KW_STOP)
        rc = db_exec(db, "INSERT INTO suppressions (channel, value, reason, message_id) VALUES ('sms', ?, 'keyword', ?) "
                         "ON DUPLICATE KEY UPDATE reason = 'keyword', message_id = VALUES(message_id)",
                     DBP(P_S(m->identity_value), P_I(m->message_id)), NULL);
    if (!rc && k->kw == KW_STOP) /* the campaign that made them say it counts the unsubscribe */
        rc = campaign_sms_stopped(db, m->customer_id);
    else if (k->kw == KW_START)
        rc = db_exec(db, "DELETE FROM suppressions WHERE channel = 'sms' AND value = ?", DBP(P_S(m->identity_value)), NULL);
    if (rc)
        return rc;
    const char *text = k->kw == KW_STOP ? cfg->sms.stop_reply : k->kw == KW_START ? cfg->sms.start_reply : cfg->sms.help_reply;
    return ticket_bot_reply(db, m->ticket_id, text, true, m->identity_value);
}

/* The webhook's answer goes out (filled already unless the message was stored); the
 * message and its inbound are done with. */
static void inbound_answered(struct ingest_msg *m)
{
    struct inbound *in = m->user;
    if (!m->rc)
        answer_req(in->req);
    api_deferred_done(in->req);
    free(in);
    ingest_msg_free(m);
}

/* A pool thread: the keyword's suppression change and answer, then the webhook's answer
 * (the message itself is already stored). */
static void keyword_run(struct db *db, void *arg)
{
    struct ingest_msg *m = arg;
    struct inbound *in = m->user;
    struct keyword_tx k = {in->kw, m};
    int rc = db_transaction(db, keyword_tx, &k);
    if (rc != DB_OK)
        log_error("sms", "event=keyword_failed message=%lld rc=%d", (long long)m->message_id, rc);
    else
        event_tailer_wake();
    inbound_answered(m);
}

/* The ingest writer, after COMMIT (or the message's failure): the webhook may be answered. */
static void on_stored(struct ingest_msg *m)
{
    struct inbound *in = m->user;
    struct api_req *r = in->req;
    if (m->rc == INGEST_EINVAL)
        api_req_error(r, 400, "invalid_message", "the message cannot be stored (sender or id unusable)");
    else if (m->rc)
        api_req_error(r, 503, "unavailable", "the message could not be stored; retry");
    if (!m->rc)
        log_info("sms", "event=inbound message=%lld ticket=%lld duplicate=%d keyword=%d", (long long)m->message_id,
                 (long long)m->ticket_id, m->duplicate, (int)in->kw);
    if (!m->rc && in->kw != KW_NONE && !m->duplicate) {
        if (dbpool_submit(keyword_run, NULL, m) == 0)
            return;
        log_error("sms", "event=keyword_failed message=%lld reason=stopping", (long long)m->message_id);
    }
    inbound_answered(m);
}

int sms_webhook_inbound(struct api_ctx *c)
{
    struct form f;
    if (signed_form(c, "/webhooks/sms/inbound", &f) < 0)
        return 0;
    struct sms_inbound sin;
    if (provider->parse_inbound(&f, &sin) < 0) {
        form_free(&f);
        return api_error(c, 400, "missing_fields", "an inbound message needs its id and From");
    }
    struct ingest_msg *m = inbound_msg(&sin);
    enum keyword kw = keyword_of(sin.body);
    form_free(&f);
    struct inbound *in = m ? malloc(sizeof(*in)) : NULL;
    if (!in) {
        ingest_msg_free(m);
        return api_error(c, 503, "unavailable", "out of memory; retry");
    }
    *in = (struct inbound){c->req, kw};
    m->done = on_stored;
    m->user = in;
    m->keyword = kw != KW_NONE;
    api_defer(c); /* before the submit: the writer may answer before this returns */
    int rc = ingest_submit(m);
    if (rc < 0) {
        c->req->deferred = 0;
        free(in);
        ingest_msg_free(m);
        text_copy(c->req->retry_after, sizeof(c->req->retry_after), "1");
        return rc == INGEST_EBUSY ? api_error(c, 503, "busy", "too many messages waiting to be stored; retry")
                                  : api_error(c, 503, "unavailable", "shutting down; retry");
    }
    return 0;
}

/* ---- delivery reports ---- */

struct status_tx {
    const struct sms_status *st;
};

static int status_tx(struct db *db, void *arg)
{
    const struct sms_status *st = ((struct status_tx *)arg)->st;
    int rc = sms_delivery_store(db, st->id, st->status, st->error_code);
    /* only an outcome changes what agents see (queued/sending/sent add nothing to our
     * "sent"): two cheap statements for the intermediate reports, the whole apply for the last */
    int final = strcmp(st->status, "delivered") == 0 || strcmp(st->status, "undelivered") == 0 ||
                strcmp(st->status, "failed") == 0;
    return rc || !final ? rc : sms_delivery_apply(db, st->id);
}

int sms_webhook_status(struct api_ctx *c)
{
    struct form f;
    if (signed_form(c, "/webhooks/sms/status", &f) < 0)
        return 0;
    struct sms_status st;
    int rc = DB_OK;
    if (provider->parse_status(&f, &st) == 0) {
        struct status_tx t = {&st};
        rc = db_transaction(c->db, status_tx, &t);
        if (!rc)
            event_tailer_wake();
    }
    form_free(&f);
    if (rc)
        return api_error(c, 503, "unavailable", "the report could not be stored; retry");
    return answer(c);
}
