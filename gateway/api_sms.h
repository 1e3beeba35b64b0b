/* api_sms.h — the SMS provider's webhooks (issue 6): inbound texts and delivery reports.
 *
 *   POST /webhooks/sms/inbound   a customer's text (or MMS): signature checked (403 and
 *        nothing stored when it does not match), stored through the ingest writer keyed by
 *        the provider's message id (a retried webhook is stored once and answered 200
 *        again), answered with the provider's empty reply only after the commit. Keywords
 *        (the whole message, any case): STOP STOPALL UNSUBSCRIBE CANCEL END QUIT 退订 TD ⇒
 *        the number is suppressed on SMS and told so; START UNSTOP YES ⇒ lifted; HELP ⇒ the
 *        help text. Replies go through the outbox like any SMS.
 *   POST /webhooks/sms/status    a delivery report: same signature check; the outbox row
 *        and message of that provider id follow it (sent → delivered, or failed with the
 *        error code), agents get message.updated. A report may arrive before the sender has
 *        recorded the id: it waits in sms_delivery and is applied then.
 * The URL signed is [server] public_url + the path, as the provider was told.
 *
 * Owns: nothing but the config pointer. Thread: db-pool threads (routes are ROUTE_NO_TX:
 * the handlers wait for the ingest writer and run their own transactions).
 * Errors: 403 bad signature, 415 not a form, 400 malformed or missing fields, 404 when
 * SMS is not configured, 503 when the message could not be stored (the provider retries).
 */
#ifndef SB_API_SMS_H
#define SB_API_SMS_H
#include "gateway/api.h"
#include "gateway/config.h"
#include "gateway/sms_provider.h"

/* p: the provider of [sms] provider (NULL: webhooks answer 404). */
void api_sms_init(const struct sb_config *cfg, const struct sms_provider *p);
int sms_webhook_inbound(struct api_ctx *c);
int sms_webhook_status(struct api_ctx *c);
/* The header the provider signs webhooks with ("x-twilio-signature:"), for server.c. */
const char *api_sms_signature_header(void);

#endif
