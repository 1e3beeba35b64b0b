/* crm.h — the CRM worker: dynamic tag rules and reminders (issue 8), one loop every
 * [crm] interval_secs.
 *
 * Each pass, in its own transactions:
 *   1. event rules — reads the change feed (`events`) after its cursor (worker_cursors
 *      'crm_events', locked FOR UPDATE so two gateway processes never evaluate an event
 *      twice; events younger than [crm] settle_ms wait, because ids commit out of order)
 *      and, for each enabled tag rule whose event_kind occurred, tags the customers of
 *      those events that match the rule (the segment language, segment.h);
 *   2. schedule rules — tags every customer matching a 'schedule' rule and takes the tag
 *      away from those it tagged that match no more (a dormant customer who wrote again);
 *   3. reminder policies (reminder_rules) — no follow-up on an active customer for N days
 *      ⇒ the owner's team manager; payment due within N days ⇒ the deal's owner; each
 *      occasion once (reminders.dedupe_key);
 *   3b. the rule engine's schedule rules and approval re-reminders (gateway/rules.h), each
 *      rule in its own transaction under its row lock;
 *   4. delivery — due reminders not yet notified are pushed as `reminder.due` to their
 *      agent's sockets and e-mailed through the outbox (a "notice" e-mail), claimed with
 *      SKIP LOCKED and marked notified in the same transaction: delivered once.
 * A tagging writes customer_tags (rule_id), audit_log (actor system), a customer.tagged
 * event and, with notify_owner, a reminder for the owner. Rules never trigger on their
 * own tagging (customer.tagged is not a trigger), so they cannot loop.
 *
 * Owns: its thread and connection. Thread: start/stop from main only; crm_run_once from
 * tests or the CLI. Errors: logged; a failed step is retried next pass.
 */
#ifndef SB_CRM_H
#define SB_CRM_H
#include "gateway/config.h"
#include "gateway/db.h"

int crm_worker_start(const struct sb_config *cfg);
void crm_worker_stop(void);
/* One pass (all four steps) on db. Returns the number of things done, or a db_rc. */
int crm_run_once(const struct sb_config *cfg, struct db *db);

#endif
