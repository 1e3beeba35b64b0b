/* sms_provider.h — the ops table of an SMS provider (like curl's protocol handlers):
 * everything that differs between providers — how a send request looks, what its answer
 * means, how webhooks are signed and what their fields are called. The sender
 * (channels/sms_http.c) and the webhook handlers (api_sms.c) only talk to this table; a
 * second provider is one more file in channels/ and one more entry in sms_provider_for()
 * (channels/sms_http.c); main.c hands the chosen one to api_sms_init().
 *
 * Owns: nothing. Thread: any (the functions are pure).
 * Errors: as documented per function.
 */
#ifndef SB_SMS_PROVIDER_H
#define SB_SMS_PROVIDER_H
#include <stddef.h>
#include "gateway/channel.h"
#include "gateway/config.h"
#include "gateway/lib/form.h"

#define SMS_MAX_MEDIA 10

struct sms_request {
    char url[700];
    char userpwd[600];    /* basic auth "user:password" */
    char *body;           /* form-encoded, owned by the caller after build */
};

/* An answer to a send request, as the transport saw it. */
struct sms_answer {
    long http_status;     /* 0: no answer */
    const char *body;
    size_t len;
    long retry_after;     /* seconds from a Retry-After header, or -1 */
};

struct sms_inbound {
    const char *id, *from, *to, *body; /* point into the form */
    size_t n_media;
    const char *media_url[SMS_MAX_MEDIA], *media_type[SMS_MAX_MEDIA];
};

struct sms_status {
    const char *id;       /* the provider's message id */
    const char *status;   /* queued | sending | sent | delivered | undelivered | failed */
    const char *error_code; /* or NULL */
};

struct sms_provider {
    const char *name;
    /* The request for one message: to, body, our from (or messaging service) and the
     * URL delivery reports should go to. -1 when it cannot be built. */
    int (*build)(const struct sb_config *cfg, const char *to, const char *text, const char *status_url,
                 struct sms_request *req);
    /* Sets it->outcome (SEND_OK with provider_id / SEND_RETRY / SEND_FAILED), error and
     * retry_after_secs from an answer; *unsubscribed = 1 when the provider says the
     * recipient opted out (the sender then records a suppression). */
    void (*classify)(const struct sms_answer *a, struct outbox_item *it, int *unsubscribed);
    /* 1 when signature is the provider's signature of this webhook (url as configured
     * publicly, the parsed form), else 0. Constant time in the signature. */
    int (*verify)(const struct sb_config *cfg, const char *url, const struct form *f, const char *signature);
    /* Webhook fields; -1 when required ones are missing. */
    int (*parse_inbound)(const struct form *f, struct sms_inbound *out);
    int (*parse_status)(const struct form *f, struct sms_status *out);
    const char *signature_header;   /* e.g. "x-twilio-signature:" */
    const char *answer_type;        /* the webhook answer: content type and body */
    const char *answer_body;
};


#endif
