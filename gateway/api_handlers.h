/* api_handlers.h — the REST handlers, one group per resource file (api_ops.c,
 * api_agents.c, api_customers.c, api_tickets.c). Contract of every handler: see api.h.
 * Thread: db-pool threads only.
 */
#ifndef SB_API_HANDLERS_H
#define SB_API_HANDLERS_H
#include "gateway/api.h"

int ops_healthz(struct api_ctx *c);
int ops_readyz(struct api_ctx *c);
int ops_metrics(struct api_ctx *c);
int ops_openapi(struct api_ctx *c);

int agents_list(struct api_ctx *c);
int agents_get(struct api_ctx *c);
int agents_create(struct api_ctx *c);
int agents_update(struct api_ctx *c);
int teams_list(struct api_ctx *c);
int teams_get(struct api_ctx *c);
int teams_create(struct api_ctx *c);
int teams_update(struct api_ctx *c);

int customers_list(struct api_ctx *c);
int customers_get(struct api_ctx *c);
int customers_create(struct api_ctx *c);
int customers_update(struct api_ctx *c);
int customers_identities(struct api_ctx *c);
int customers_identity_add(struct api_ctx *c);
int customers_identity_delete(struct api_ctx *c);
int customers_tags_add(struct api_ctx *c);
int customers_tag_delete(struct api_ctx *c);
int customers_bulk_tags(struct api_ctx *c);
int customers_timeline(struct api_ctx *c);
int customers_duplicates(struct api_ctx *c);
int customers_duplicates_dismiss(struct api_ctx *c);
int customers_merge(struct api_ctx *c);
int customers_import(struct api_ctx *c);
int customers_export(struct api_ctx *c);

int pipeline_stages_list(struct api_ctx *c);
int pipeline_stages_put(struct api_ctx *c);
int deals_list(struct api_ctx *c);
int deals_get(struct api_ctx *c);
int deals_create(struct api_ctx *c);
int deals_update(struct api_ctx *c);
int leads_list(struct api_ctx *c);
int leads_get(struct api_ctx *c);
int leads_create(struct api_ctx *c);
int leads_update(struct api_ctx *c);
int leads_convert(struct api_ctx *c);
int activities_list(struct api_ctx *c);
int activities_create(struct api_ctx *c);
int activities_update(struct api_ctx *c);
int reminders_list(struct api_ctx *c);
int reminders_update(struct api_ctx *c);
int reminder_rules_list(struct api_ctx *c);
int reminder_rules_put(struct api_ctx *c);
int field_defs_list(struct api_ctx *c);
int field_defs_create(struct api_ctx *c);
int field_defs_update(struct api_ctx *c);
int field_defs_delete(struct api_ctx *c);
int tag_rules_list(struct api_ctx *c);
int tag_rules_create(struct api_ctx *c);
int tag_rules_update(struct api_ctx *c);
int tag_rules_delete(struct api_ctx *c);
int audit_list(struct api_ctx *c);
int segments_list(struct api_ctx *c);
int segments_get(struct api_ctx *c);
int segments_create(struct api_ctx *c);
int segments_update(struct api_ctx *c);
int segments_delete(struct api_ctx *c);
int segments_preview(struct api_ctx *c);
int templates_list(struct api_ctx *c);
int templates_get(struct api_ctx *c);
int templates_create(struct api_ctx *c);
int templates_update(struct api_ctx *c);
int templates_delete(struct api_ctx *c);
int templates_preview(struct api_ctx *c);
int campaigns_list(struct api_ctx *c);
int campaigns_get(struct api_ctx *c);
int campaigns_create(struct api_ctx *c);
int campaigns_update(struct api_ctx *c);
int campaigns_start(struct api_ctx *c);
/* An approved campaign.start approval (api_approvals.c) starts the campaign as the
 * approver's act: 0 done (nothing answered), 1 after answering 409 (it can no longer
 * start), or a db_rc. */
int campaign_start_approved(struct api_ctx *c, int64_t campaign_id, int64_t approval_id);
int campaigns_pause(struct api_ctx *c);
int campaigns_resume(struct api_ctx *c);
int campaigns_cancel(struct api_ctx *c);
int campaigns_recipients(struct api_ctx *c);
int campaigns_resend(struct api_ctx *c);
int campaigns_report(struct api_ctx *c);
int kb_articles_list(struct api_ctx *c);
int kb_articles_get(struct api_ctx *c);
int kb_articles_create(struct api_ctx *c);
int kb_articles_update(struct api_ctx *c);
int kb_articles_delete(struct api_ctx *c);
int kb_articles_versions(struct api_ctx *c);
int kb_articles_feedback(struct api_ctx *c);
int kb_articles_used(struct api_ctx *c);
int kb_search_agents(struct api_ctx *c);
int kb_search_public(struct api_ctx *c);
int kb_article_public(struct api_ctx *c);
int kb_feedback_public(struct api_ctx *c);
int kb_synonyms_get(struct api_ctx *c);
int kb_synonyms_put(struct api_ctx *c);
int tickets_suggestions(struct api_ctx *c);
int quality_keywords_get(struct api_ctx *c);
int quality_keywords_put(struct api_ctx *c);
int reports_quality(struct api_ctx *c);
int csat_page(struct api_ctx *c);
int csat_post(struct api_ctx *c);
int unsubscribe_page(struct api_ctx *c);
int unsubscribe_post(struct api_ctx *c);
int track_open(struct api_ctx *c);
int track_click(struct api_ctx *c);
int sequences_list(struct api_ctx *c);
int sequences_get(struct api_ctx *c);
int sequences_create(struct api_ctx *c);
int sequences_update(struct api_ctx *c);

int tickets_list(struct api_ctx *c);
int tickets_get(struct api_ctx *c);
int tickets_create(struct api_ctx *c);
int tickets_update(struct api_ctx *c);
int tickets_messages(struct api_ctx *c);
int tickets_message_add(struct api_ctx *c);
int tickets_transfer(struct api_ctx *c);
int attachment_content(struct api_ctx *c);
/* api_rules.c, api_approvals.c (docs/rules.md) */
int rules_list(struct api_ctx *c);
int rules_get(struct api_ctx *c);
int rules_create(struct api_ctx *c);
int rules_update(struct api_ctx *c);
int rules_delete(struct api_ctx *c);
int rules_versions(struct api_ctx *c);
int rules_restore(struct api_ctx *c);
int rules_test_draft(struct api_ctx *c);
int rules_test(struct api_ctx *c);
int rules_firings(struct api_ctx *c);
int rule_firings_list(struct api_ctx *c);
int approvals_list(struct api_ctx *c);
/* An approval as GET /approvals/{id} shows it to the caller (*out NULL when not visible). */
int approval_load(struct api_ctx *c, int64_t id, json_t **out);
int approvals_get(struct api_ctx *c);
int approvals_comment(struct api_ctx *c);
int approvals_approve(struct api_ctx *c);
int approvals_reject(struct api_ctx *c);
/* api_field_perms.c (docs/field-permissions.md) */
int field_perms_get(struct api_ctx *c);
int field_perms_put(struct api_ctx *c);
int field_perms_mine(struct api_ctx *c);
/* api_layouts.c (docs/layouts.md) */
int layouts_get(struct api_ctx *c);
int layouts_put(struct api_ctx *c);
int layouts_delete(struct api_ctx *c);
/* api_objects.c (docs/objects.md) */
int object_types_list(struct api_ctx *c);
int object_types_get(struct api_ctx *c);
int object_types_create(struct api_ctx *c);
int object_types_update(struct api_ctx *c);
int object_types_delete(struct api_ctx *c);
int objects_list(struct api_ctx *c);
int objects_create(struct api_ctx *c);
int objects_get(struct api_ctx *c);
int objects_update(struct api_ctx *c);
int objects_delete(struct api_ctx *c);
int routing_rules_list(struct api_ctx *c);
int routing_rules_create(struct api_ctx *c);
int routing_rules_update(struct api_ctx *c);
int routing_rules_delete(struct api_ctx *c);
int sla_policies_list(struct api_ctx *c);
int sla_policies_put(struct api_ctx *c);

#endif
