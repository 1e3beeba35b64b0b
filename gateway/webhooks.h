/* webhooks.h — outbound webhooks: subscriptions (the admin API), which change-feed events
 * they receive, and where they may point.
 *
 * An admin subscribes a URL to event kinds (WEBHOOK_KINDS, or "*"); the webhook worker
 * (workers/webhooks.h) turns matching `events` rows into webhook_deliveries rows (the
 * durable queue) and POSTs them, signed. A new subscription is pinged (webhook.ping).
 *
 * SSRF: a URL must be http(s) and its host must resolve only to public addresses
 * (gateway/lib/ip_class.h) unless the host is listed in [webhooks] allow_hosts; the
 * worker checks again at connect time (DNS may change), so a name that later resolves to
 * 10.0.0.1 is refused then too.
 *
 * Owns: nothing but the config pointer. Thread: handlers on db-pool threads;
 * webhook_kinds_of, webhook_url_check and webhook_url_host_allowed from any thread after
 * webhooks_init (main).
 * Errors: handlers as api.h; webhook_url_check returns 0 or -1 with a reason.
 */
#ifndef SB_WEBHOOKS_H
#define SB_WEBHOOKS_H
#include <jansson.h>
#include <stdbool.h>
#include "gateway/api.h"
#include "gateway/config.h"

#define WEBHOOK_MAX_KINDS 3 /* public kinds one change-feed event can become */

void webhooks_init(const struct sb_config *cfg);
/* The public event kinds the change-feed event (kind, payload) is delivered as; returns
 * how many were written into out (0: not a webhook event). */
size_t webhook_kinds_of(const char *kind, json_t *payload, const char *out[WEBHOOK_MAX_KINDS]);
/* Whether the URL's host is in [webhooks] allow_hosts (private addresses allowed). */
bool webhook_url_host_allowed(const char *url);
int webhook_url_check(const char *url, char *why, size_t whysz);
/* The delivery body for a change-feed event: {"id","type","created_at","data"} (malloc'd
 * compact JSON; NULL when out of memory). */
char *webhook_body(const char *event_id, const char *type, const char *created_at, json_t *data);

int webhooks_list(struct api_ctx *c);
int webhooks_create(struct api_ctx *c);
int webhooks_get(struct api_ctx *c);
int webhooks_update(struct api_ctx *c);
int webhooks_delete(struct api_ctx *c);
int webhook_deliveries_list(struct api_ctx *c);
int webhook_redeliver(struct api_ctx *c);

#endif
