/* sms_twilio.c — the Twilio-shaped provider (Twilio itself and the gateways that copy
 * its API): POST {api_base}/2010-04-01/Accounts/{sid}/Messages.json, form-encoded, basic
 * auth; JSON answers {sid, status} or {code, message}; webhooks signed with
 * X-Twilio-Signature = base64(HMAC-SHA1(auth token, URL + each parameter name and value,
 * sorted by name)). Repeated parameters: each distinct value once, values sorted, as the
 * twilio package's getExpectedTwilioSignature does; sorting is by UTF-16 code units like
 * JavaScript's, so the signatures agree even for characters outside the BMP. */
#include "sms_twilio.h"
#include "gateway/lib/buf.h"
#include "gateway/lib/text.h"
#include <curl/curl.h>
#include <jansson.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- sending ---- */

static void put_field(struct buf *b, const char *name, const char *value)
{
    char *v = curl_easy_escape(NULL, value, 0);
    buf_printf(b, "%s%s=%s", b->len ? "&" : "", name, v ? v : "");
    curl_free(v);
}

static int build(const struct sb_config *cfg, const char *to, const char *text, const char *status_url,
                 struct sms_request *req)
{
    memset(req, 0, sizeof(*req));
    if (snprintf(req->url, sizeof(req->url), "%s/2010-04-01/Accounts/%s/Messages.json", cfg->sms.api_base,
                 cfg->sms.account_sid) >= (int)sizeof(req->url) ||
        snprintf(req->userpwd, sizeof(req->userpwd), "%s:%s", cfg->sms.account_sid, cfg->sms.auth_token) >=
            (int)sizeof(req->userpwd))
        return -1;
    struct buf b;
    buf_init(&b, 0);
    put_field(&b, "To", to);
    if (cfg->sms.messaging_service_sid[0])
        put_field(&b, "MessagingServiceSid", cfg->sms.messaging_service_sid);
    else
        put_field(&b, "From", cfg->sms.from);
    put_field(&b, "Body", text);
    if (status_url && *status_url)
        put_field(&b, "StatusCallback", status_url);
    req->body = buf_take(&b);
    return req->body ? 0 : -1;
}

static void classify(const struct sms_answer *a, struct outbox_item *it, int *unsubscribed)
{
    json_t *j = a->len ? json_loadb(a->body, a->len, 0, NULL) : NULL;
    const char *sid = json_string_value(json_object_get(j, "sid"));
    json_int_t code = json_integer_value(json_object_get(j, "code"));
    const char *msg = json_string_value(json_object_get(j, "message"));
    char what[300];
    snprintf(what, sizeof(what), "%lld %s", (long long)code, msg ? msg : "");
    *unsubscribed = 0;
    it->retry_after_secs = 0;
    if (a->http_status >= 200 && a->http_status < 300 && sid && *sid) {
        it->outcome = SEND_OK;
        text_copy(it->provider_id, sizeof(it->provider_id), sid);
    } else if (a->http_status >= 200 && a->http_status < 300) {
        it->outcome = SEND_AMBIGUOUS; /* taken, but we cannot tell which message it became */
        snprintf(it->error, sizeof(it->error), "the provider answered %ld without a message id", a->http_status);
    } else if (a->http_status == 429 || a->http_status >= 500) {
        it->outcome = SEND_RETRY;
        it->retry_after_secs = a->retry_after > 0 ? a->retry_after : 0;
        snprintf(it->error, sizeof(it->error), "the provider is %s (HTTP %ld%s%s)",
                 a->http_status == 429 ? "rate limiting us" : "failing", a->http_status, code ? ", " : "",
                 code ? what : "");
    } else if (a->http_status == 401 || a->http_status == 403) {
        it->outcome = SEND_RETRY; /* our credentials: an admin can fix them, keep the message */
        snprintf(it->error, sizeof(it->error), "the provider refused our credentials (HTTP %ld): check [sms] "
                                               "account_sid and auth_token", a->http_status);
    } else {
        it->outcome = SEND_FAILED;
        *unsubscribed = code == 21610;
        snprintf(it->error, sizeof(it->error), "refused by the SMS provider: %s (HTTP %ld)",
                 code || msg ? what : "no reason given", a->http_status);
    }
    json_decref(j);
}

/* ---- webhook signatures ---- */

/* JavaScript's string order: UTF-16 code units, not code points. */
static int utf16_cmp(const char *a, const char *b)
{
    const unsigned char *p = (const unsigned char *)a, *q = (const unsigned char *)b;
    uint32_t ua[2], ub[2];
    size_t na = 0, nb = 0, ia = 0, ib = 0;
    for (;;) {
        if (ia == na) {
            uint32_t cp = utf8_next(&p);
            na = cp == 0 ? 0 : cp > 0xFFFF ? 2 : 1, ia = 0;
            ua[0] = cp > 0xFFFF ? 0xD800 + ((cp - 0x10000) >> 10) : cp;
            ua[1] = 0xDC00 + ((cp - 0x10000) & 0x3FF);
        }
        if (ib == nb) {
            uint32_t cp = utf8_next(&q);
            nb = cp == 0 ? 0 : cp > 0xFFFF ? 2 : 1, ib = 0;
            ub[0] = cp > 0xFFFF ? 0xD800 + ((cp - 0x10000) >> 10) : cp;
            ub[1] = 0xDC00 + ((cp - 0x10000) & 0x3FF);
        }
        if (!na || !nb)
            return na ? 1 : nb ? -1 : 0;
        if (ua[ia] != ub[ib])
            return ua[ia] < ub[ib] ? -1 : 1;
        ia++, ib++;
    }
}

static int by_name_then_value(const void *x, const void *y)
{
    const struct form_pair *a = *(const struct form_pair *const *)x, *b = *(const struct form_pair *const *)y;
    int c = utf16_cmp(a->name, b->name);
    return c ? c : utf16_cmp(a->value, b->value);
}

/* base64(HMAC-SHA1(token, url + sorted name/value pairs)) into out (>= 29 bytes). */
static int signature_of(const char *token, const char *url, const struct form *f, char *out, size_t outsz)
{
    const struct form_pair **sorted = calloc(f->n ? f->n : 1, sizeof(*sorted));
    if (!sorted)
        return -1;
    for (size_t i = 0; i < f->n; i++)
        sorted[i] = &f->pairs[i];
    qsort(sorted, f->n, sizeof(*sorted), by_name_then_value);
    struct buf data;
    buf_init(&data, 0);
    buf_puts(&data, url);
    for (size_t i = 0; i < f->n; i++) {
        if (i && strcmp(sorted[i]->name, sorted[i - 1]->name) == 0 && strcmp(sorted[i]->value, sorted[i - 1]->value) == 0)
            continue; /* a repeated identical value counts once */
        buf_puts(&data, sorted[i]->name);
        buf_puts(&data, sorted[i]->value);
    }
    free(sorted);
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int maclen = 0;
    int ok = data.data && HMAC(EVP_sha1(), token, (int)strlen(token), (const unsigned char *)data.data, data.len, mac,
                               &maclen) != NULL;
    buf_free(&data);
    if (!ok || outsz < 4 * ((maclen + 2) / 3) + 1)
        return -1;
    EVP_EncodeBlock((unsigned char *)out, mac, (int)maclen);
    return 0;
}

static int verify(const struct sb_config *cfg, const char *url, const struct form *f, const char *signature)
{
    char want[64];
    if (!signature || !*cfg->sms.auth_token || signature_of(cfg->sms.auth_token, url, f, want, sizeof(want)) < 0)
        return 0;
    size_t n = strlen(want);
    return strlen(signature) == n && CRYPTO_memcmp(want, signature, n) == 0;
}

/* ---- webhook fields ---- */

static int parse_inbound(const struct form *f, struct sms_inbound *out)
{
    memset(out, 0, sizeof(*out));
    out->id = form_get(f, "MessageSid");
    if (!out->id)
        out->id = form_get(f, "SmsSid");
    out->from = form_get(f, "From");
    out->to = form_get(f, "To");
    out->body = form_get(f, "Body");
    if (!out->id || !*out->id || !out->from || !*out->from)
        return -1;
    if (!out->body)
        out->body = "";
    for (size_t i = 0; i < SMS_MAX_MEDIA; i++) {
        char k[32];
        snprintf(k, sizeof(k), "MediaUrl%zu", i);
        const char *u = form_get(f, k);
        if (!u)
            break;
        snprintf(k, sizeof(k), "MediaContentType%zu", i);
        out->media_url[out->n_media] = u;
        out->media_type[out->n_media++] = form_get(f, k);
    }
    return 0;
}

static int parse_status(const struct form *f, struct sms_status *out)
{
    static const char *const known[] = {"queued", "sending", "sent", "delivered", "undelivered", "failed", NULL};
    memset(out, 0, sizeof(*out));
    out->id = form_get(f, "MessageSid");
    if (!out->id)
        out->id = form_get(f, "SmsSid");
    out->status = form_get(f, "MessageStatus");
    if (!out->status)
        out->status = form_get(f, "SmsStatus");
    out->error_code = form_get(f, "ErrorCode");
    if (out->error_code && !*out->error_code)
        out->error_code = NULL;
    if (!out->id || !*out->id || strlen(out->id) > 64 || !out->status)
        return -1;
    for (size_t i = 0; known[i]; i++)
        if (strcmp(out->status, known[i]) == 0)
            return 0;
    return -1; /* accepted, scheduled, read, …: nothing we track */
}

const struct sms_provider sms_twilio = {
    .name = "twilio",
    .build = build,
    .classify = classify,
    .verify = verify,
    .parse_inbound = parse_inbound,
    .parse_status = parse_status,
    .signature_header = "x-twilio-signature:",
    .answer_type = "text/xml; charset=utf-8",
    .answer_body = "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response/>",
};
