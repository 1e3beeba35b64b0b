/* sms_http.h — the SMS channel's sender: the outbox's `sms` rows go to the provider
 * chosen by [sms] provider (sms_provider.h) over HTTP, many at once.
 *
 * One libcurl multi handle, driven by the SMS outbox thread alone, keeps connections
 * alive between batches and runs up to [sms] max_inflight requests at a time, paced by
 * [sms] rate_per_sec (all numbers) and [sms] recipient_per_min (one number: the rest
 * waits, without using up attempts). Outcomes:
 *   2xx with an id            sent (the provider's id is kept for delivery reports)
 *   429, 5xx                  retried with backoff, after Retry-After when given
 *   other 4xx                 failed with the provider's code and message; "recipient
 *                             unsubscribed" (Twilio 21610) also records a suppression
 *   no answer once the request went out (timeout, reset)   ambiguous: shown to the
 *                             agent, never re-sent — libcurl's own silent re-send of a
 *                             request on a reused connection is prevented (the body is
 *                             streamed and cannot be rewound)
 *   no connection             retried
 * A number that texted STOP gets nothing (failed, "opted out"), except the confirmation.
 *
 * Owns: the multi handle and its connections. Thread: the SMS outbox thread only
 * (channel.h). Errors: per item, in its outcome and error text.
 */
#ifndef SB_SMS_HTTP_H
#define SB_SMS_HTTP_H
#include "gateway/channel.h"
#include "gateway/sms_provider.h"

extern const struct channel_ops sms_http_channel;
/* The provider named by [sms] provider, or NULL. */
const struct sms_provider *sms_provider_for(const struct sb_config *cfg);

#endif
