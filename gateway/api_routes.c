/* api_routes.c — the REST surface in one table (DESIGN.md section 9). Order matters
 * only for readability: patterns are unambiguous. Roles per DESIGN.md section 10; data
 * scope (owner/team) is enforced in each handler's SQL. */
#include "gateway/api_handlers.h"
#include "gateway/api_sms.h"
#include "gateway/auth.h"
#include "gateway/mailboxes.h"

#define STAFF (ROLE_ADMIN | ROLE_MANAGER)
#define CRM_WRITE (ROLE_ADMIN | ROLE_MANAGER | ROLE_SALES)
#define SERVICE (ROLE_ADMIN | ROLE_MANAGER | ROLE_AGENT | ROLE_SALES)
#define MARKETING (ROLE_ADMIN | ROLE_MANAGER | ROLE_MARKETER)

const struct route api_routes[] = {
    {HTTP_GET, "/healthz", ops_healthz, 0, ROUTE_PUBLIC | ROUTE_NO_TX, "healthz"},
    {HTTP_GET, "/readyz", ops_readyz, 0, ROUTE_PUBLIC | ROUTE_NO_TX, "readyz"},
    {HTTP_GET, "/metrics", ops_metrics, 0, ROUTE_PUBLIC | ROUTE_NO_TX, "metrics"},

    {HTTP_POST, "/webhooks/sms/inbound", sms_webhook_inbound, 0, ROUTE_PUBLIC | ROUTE_NO_TX, "sms_inbound"},
    {HTTP_POST, "/webhooks/sms/status", sms_webhook_status, 0, ROUTE_PUBLIC | ROUTE_NO_TX, "sms_status"},

    {HTTP_POST, "/api/v1/auth/login", auth_login, 0, ROUTE_PUBLIC, "auth_login"},
    {HTTP_POST, "/api/v1/auth/logout", auth_logout, ROLES_ALL, 0, "auth_logout"},
    {HTTP_GET, "/api/v1/auth/me", auth_me, ROLES_ALL, 0, "auth_me"},

    {HTTP_GET, "/api/v1/agents", agents_list, STAFF, 0, "agents_list"},
    {HTTP_POST, "/api/v1/agents", agents_create, ROLE_ADMIN, 0, "agents_create"},
    {HTTP_GET, "/api/v1/agents/{id}", agents_get, ROLES_ALL, 0, "agents_get"},
    {HTTP_PATCH, "/api/v1/agents/{id}", agents_update, ROLE_ADMIN, 0, "agents_update"},
    {HTTP_GET, "/api/v1/teams", teams_list, ROLES_ALL, 0, "teams_list"},
    {HTTP_POST, "/api/v1/teams", teams_create, ROLE_ADMIN, 0, "teams_create"},
    {HTTP_GET, "/api/v1/teams/{id}", teams_get, ROLES_ALL, 0, "teams_get"},
    {HTTP_PATCH, "/api/v1/teams/{id}", teams_update, ROLE_ADMIN, 0, "teams_update"},

    {HTTP_GET, "/api/v1/mailboxes", mailboxes_list, STAFF, 0, "mailboxes_list"},
    {HTTP_POST, "/api/v1/mailboxes", mailboxes_create, ROLE_ADMIN, 0, "mailboxes_create"},
    {HTTP_GET, "/api/v1/mailboxes/{id}", mailboxes_get, STAFF, 0, "mailboxes_get"},
    {HTTP_PATCH, "/api/v1/mailboxes/{id}", mailboxes_update, ROLE_ADMIN, 0, "mailboxes_update"},

    {HTTP_GET, "/api/v1/customers", customers_list, ROLES_ALL, 0, "customers_list"},
    {HTTP_POST, "/api/v1/customers", customers_create, CRM_WRITE, 0, "customers_create"},
    {HTTP_GET, "/api/v1/customers/duplicates", customers_duplicates, CRM_WRITE, 0, "customers_duplicates"},
    {HTTP_POST, "/api/v1/customers/duplicates/dismiss", customers_duplicates_dismiss, CRM_WRITE, 0,
     "customers_duplicates_dismiss"},
    {HTTP_POST, "/api/v1/customers/import", customers_import, CRM_WRITE, ROUTE_LARGE_BODY, "customers_import"},
    {HTTP_GET, "/api/v1/customers/export", customers_export, CRM_WRITE | ROLE_MARKETER, 0, "customers_export"},
    {HTTP_POST, "/api/v1/customers/bulk-tags", customers_bulk_tags, CRM_WRITE | ROLE_MARKETER, 0, "customers_bulk_tags"},
    {HTTP_GET, "/api/v1/customers/{id}", customers_get, ROLES_ALL, 0, "customers_get"},
    {HTTP_GET, "/api/v1/customers/{id}/timeline", customers_timeline, ROLES_ALL, 0, "customers_timeline"},
    {HTTP_POST, "/api/v1/customers/{id}/merge", customers_merge, CRM_WRITE, 0, "customers_merge"},
    {HTTP_PATCH, "/api/v1/customers/{id}", customers_update, CRM_WRITE, 0, "customers_update"},
    {HTTP_GET, "/api/v1/customers/{id}/identities", customers_identities, ROLES_ALL, 0, "customer_identities"},
    {HTTP_POST, "/api/v1/customers/{id}/identities", customers_identity_add, CRM_WRITE, 0, "customer_identity_add"},
    {HTTP_DELETE, "/api/v1/customers/{id}/identities/{identity_id}", customers_identity_delete, CRM_WRITE, 0,
     "customer_identity_delete"},
    {HTTP_POST, "/api/v1/customers/{id}/tags", customers_tags_add, CRM_WRITE | ROLE_AGENT, 0, "customer_tags_add"},
    {HTTP_DELETE, "/api/v1/customers/{id}/tags/{name}", customers_tag_delete, CRM_WRITE | ROLE_AGENT, 0,
     "customer_tag_delete"},

    {HTTP_GET, "/api/v1/field-defs", field_defs_list, ROLES_ALL, 0, "field_defs_list"},
    {HTTP_POST, "/api/v1/field-defs", field_defs_create, ROLE_ADMIN, 0, "field_defs_create"},
    {HTTP_PATCH, "/api/v1/field-defs/{id}", field_defs_update, ROLE_ADMIN, 0, "field_defs_update"},
    {HTTP_DELETE, "/api/v1/field-defs/{id}", field_defs_delete, ROLE_ADMIN, 0, "field_defs_delete"},
    {HTTP_GET, "/api/v1/tag-rules", tag_rules_list, STAFF | ROLE_MARKETER, 0, "tag_rules_list"},
    {HTTP_POST, "/api/v1/tag-rules", tag_rules_create, ROLE_ADMIN, 0, "tag_rules_create"},
    {HTTP_PATCH, "/api/v1/tag-rules/{id}", tag_rules_update, ROLE_ADMIN, 0, "tag_rules_update"},
    {HTTP_DELETE, "/api/v1/tag-rules/{id}", tag_rules_delete, ROLE_ADMIN, 0, "tag_rules_delete"},

    {HTTP_GET, "/api/v1/pipeline-stages", pipeline_stages_list, ROLES_ALL, 0, "pipeline_stages_list"},
    {HTTP_PUT, "/api/v1/pipeline-stages", pipeline_stages_put, ROLE_ADMIN, 0, "pipeline_stages_put"},
    {HTTP_GET, "/api/v1/deals", deals_list, CRM_WRITE, 0, "deals_list"},
    {HTTP_POST, "/api/v1/deals", deals_create, CRM_WRITE, 0, "deals_create"},
    {HTTP_GET, "/api/v1/deals/{id}", deals_get, CRM_WRITE, 0, "deals_get"},
    {HTTP_PATCH, "/api/v1/deals/{id}", deals_update, CRM_WRITE, 0, "deals_update"},
    {HTTP_GET, "/api/v1/leads", leads_list, CRM_WRITE, 0, "leads_list"},
    {HTTP_POST, "/api/v1/leads", leads_create, CRM_WRITE | ROLE_MARKETER, 0, "leads_create"},
    {HTTP_GET, "/api/v1/leads/{id}", leads_get, CRM_WRITE, 0, "leads_get"},
    {HTTP_PATCH, "/api/v1/leads/{id}", leads_update, CRM_WRITE, 0, "leads_update"},
    {HTTP_POST, "/api/v1/leads/{id}/convert", leads_convert, CRM_WRITE, 0, "leads_convert"},
    {HTTP_GET, "/api/v1/activities", activities_list, SERVICE, 0, "activities_list"},
    {HTTP_POST, "/api/v1/activities", activities_create, CRM_WRITE, 0, "activities_create"},
    {HTTP_PATCH, "/api/v1/activities/{id}", activities_update, CRM_WRITE, 0, "activities_update"},
    {HTTP_GET, "/api/v1/reminders", reminders_list, ROLES_ALL, 0, "reminders_list"},
    {HTTP_PATCH, "/api/v1/reminders/{id}", reminders_update, ROLES_ALL, 0, "reminders_update"},
    {HTTP_GET, "/api/v1/reminder-rules", reminder_rules_list, STAFF, 0, "reminder_rules_list"},
    {HTTP_PUT, "/api/v1/reminder-rules", reminder_rules_put, ROLE_ADMIN, 0, "reminder_rules_put"},
    {HTTP_GET, "/api/v1/audit", audit_list, ROLE_ADMIN, 0, "audit_list"},

    {HTTP_GET, "/api/v1/segments", segments_list, MARKETING, 0, "segments_list"},
    {HTTP_POST, "/api/v1/segments", segments_create, MARKETING, 0, "segments_create"},
    {HTTP_POST, "/api/v1/segments/preview", segments_preview, MARKETING | ROLE_SALES, 0, "segments_preview"},
    {HTTP_GET, "/api/v1/segments/{id}", segments_get, MARKETING, 0, "segments_get"},
    {HTTP_PATCH, "/api/v1/segments/{id}", segments_update, MARKETING, 0, "segments_update"},
    {HTTP_DELETE, "/api/v1/segments/{id}", segments_delete, MARKETING, 0, "segments_delete"},

    {HTTP_GET, "/api/v1/templates", templates_list, MARKETING, 0, "templates_list"},
    {HTTP_POST, "/api/v1/templates", templates_create, MARKETING, 0, "templates_create"},
    {HTTP_POST, "/api/v1/templates/preview", templates_preview, MARKETING, 0, "templates_preview_draft"},
    {HTTP_GET, "/api/v1/templates/{id}", templates_get, MARKETING, 0, "templates_get"},
    {HTTP_PATCH, "/api/v1/templates/{id}", templates_update, MARKETING, 0, "templates_update"},
    {HTTP_DELETE, "/api/v1/templates/{id}", templates_delete, MARKETING, 0, "templates_delete"},
    {HTTP_POST, "/api/v1/templates/{id}/preview", templates_preview, MARKETING, 0, "templates_preview"},

    {HTTP_GET, "/api/v1/campaigns", campaigns_list, MARKETING, 0, "campaigns_list"},
    {HTTP_POST, "/api/v1/campaigns", campaigns_create, MARKETING, 0, "campaigns_create"},
    {HTTP_GET, "/api/v1/campaigns/{id}", campaigns_get, MARKETING, 0, "campaigns_get"},
    {HTTP_POST, "/api/v1/campaigns/{id}/start", campaigns_start, MARKETING, 0, "campaigns_start"},
    {HTTP_POST, "/api/v1/campaigns/{id}/pause", campaigns_pause, MARKETING, 0, "campaigns_pause"},
    {HTTP_POST, "/api/v1/campaigns/{id}/resume", campaigns_resume, MARKETING, 0, "campaigns_resume"},
    {HTTP_POST, "/api/v1/campaigns/{id}/cancel", campaigns_cancel, MARKETING, 0, "campaigns_cancel"},
    {HTTP_GET, "/api/v1/campaigns/{id}/recipients", campaigns_recipients, MARKETING, 0, "campaigns_recipients"},
    {HTTP_POST, "/api/v1/campaigns/{id}/resend", campaigns_resend, MARKETING, 0, "campaigns_resend"},
    {HTTP_GET, "/api/v1/reports/campaigns", campaigns_report, MARKETING, 0, "campaigns_report"},
    {HTTP_GET, "/api/v1/sequences", sequences_list, MARKETING, 0, "sequences_list"},
    {HTTP_POST, "/api/v1/sequences", sequences_create, MARKETING, 0, "sequences_create"},
    {HTTP_GET, "/api/v1/sequences/{id}", sequences_get, MARKETING, 0, "sequences_get"},
    {HTTP_PATCH, "/api/v1/sequences/{id}", sequences_update, MARKETING, 0, "sequences_update"},
    {HTTP_GET, "/u/{token}", unsubscribe_page, 0, ROUTE_PUBLIC, "unsubscribe_page"},
    {HTTP_POST, "/u/{token}", unsubscribe_post, 0, ROUTE_PUBLIC, "unsubscribe_post"},
    {HTTP_GET, "/o/{token}", track_open, 0, ROUTE_PUBLIC, "track_open"},
    {HTTP_GET, "/c/{token}", track_click, 0, ROUTE_PUBLIC, "track_click"},

    {HTTP_GET, "/api/v1/tickets", tickets_list, SERVICE, 0, "tickets_list"},
    {HTTP_POST, "/api/v1/tickets", tickets_create, SERVICE, 0, "tickets_create"},
    {HTTP_GET, "/api/v1/tickets/{id}", tickets_get, SERVICE, 0, "tickets_get"},
    {HTTP_PATCH, "/api/v1/tickets/{id}", tickets_update, SERVICE, 0, "tickets_update"},
    {HTTP_GET, "/api/v1/tickets/{id}/messages", tickets_messages, SERVICE, 0, "ticket_messages"},
    {HTTP_POST, "/api/v1/tickets/{id}/messages", tickets_message_add, SERVICE, 0, "ticket_message_add"},
    {HTTP_POST, "/api/v1/tickets/{id}/transfer", tickets_transfer, SERVICE, 0, "ticket_transfer"},
    {HTTP_GET, "/api/v1/attachments/{id}/content", attachment_content, SERVICE, 0, "attachment_content"},

    {HTTP_GET, "/api/v1/routing/rules", routing_rules_list, STAFF, 0, "routing_rules_list"},
    {HTTP_POST, "/api/v1/routing/rules", routing_rules_create, ROLE_ADMIN, 0, "routing_rules_create"},
    {HTTP_PATCH, "/api/v1/routing/rules/{id}", routing_rules_update, ROLE_ADMIN, 0, "routing_rules_update"},
    {HTTP_DELETE, "/api/v1/routing/rules/{id}", routing_rules_delete, ROLE_ADMIN, 0, "routing_rules_delete"},
    {HTTP_GET, "/api/v1/routing/sla", sla_policies_list, STAFF, 0, "sla_policies_list"},
    {HTTP_PUT, "/api/v1/routing/sla", sla_policies_put, ROLE_ADMIN, 0, "sla_policies_put"},
};
const size_t api_n_routes = sizeof(api_routes) / sizeof(api_routes[0]);
