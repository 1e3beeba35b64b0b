/* rules.h — the one rule engine (DESIGN.md "One rule engine", contract docs/rules.md):
 * "when a trigger happens, if the conditions hold for its record, do these actions".
 *
 * Event rules run inside the transaction that writes the event (event_insert calls
 * rules_on_event), so when a request is answered its rules' work is part of the same
 * commit (a new lead already has its owner). Each matching rule runs under a savepoint:
 * a failing action undoes that rule's work only and the firing is logged 'failed'.
 * Conditions are the segment language (segment.h) over the record's customer plus the
 * record's own columns (deal.amount, lead.region, ...); actions are the ops table in
 * rules.c. Actions write events too, and those run rules in turn: a thread-local chain
 * stops a rule from running again inside a chain it started (logged 'stopped', "loop")
 * and chains deeper than RULES_MAX_DEPTH ("depth limit").
 * Schedule rules are evaluated by rules_schedule_pass (workers/rules.c): a record fires
 * when it starts matching (rule_matches), again only after it stopped matching.
 * Gate triggers (campaign.start_requested) run before a change: a request_approval action
 * holds it (approvals table; api_approvals.c carries it out when approved).
 *
 * Owns: the per-thread chain; nothing else global. Thread: any thread with a struct db
 * inside a transaction. Errors: db_rc values; DB_ERETRY / DB_EGONE from inside a rule are
 * returned (the whole transaction reruns); every other failure inside a rule is the
 * rule's, logged and contained.
 */
#ifndef SB_RULES_H
#define SB_RULES_H
#include <jansson.h>
#include <stdint.h>
#include "gateway/db.h"
#include "gateway/lib/json_field.h"

#define RULES_MAX_DEPTH 5

/* The event just inserted (id) with its columns and payload (not consumed). */
int rules_on_event(struct db *db, int64_t event_id, const char *kind, int64_t ticket_id, int64_t customer_id,
                   json_t *payload);

/* Whether an enabled rule listens to events of this kind (*heard); bulk writers insert
 * the events nobody listens to without asking for their ids. */
int rules_listening(struct db *db, const char *kind, int *heard);

/* A writer that stores many records in one transaction (the ingest writer's group commit)
 * brackets it with these: while open, a trigger's enabled rules are read once on this
 * thread and kept, their conditions compiled once (one look-up per trigger per batch, not
 * per event). A rule, or a field its conditions name, changed during the batch applies from
 * the next one, as if it had been changed after the commit. */
void rules_batch_begin(void);
void rules_batch_end(void);

/* The agent on whose behalf this thread's rules act (0: the system), until set again;
 * returns the previous one. api.c sets it around each request. */
int64_t rules_set_actor(int64_t agent);

/* Checks a rule's definition (as PATCH/POST give it; NULL = absent, required ones are
 * the caller's business) into f: trigger, schedule_record, conditions, actions. */
int rules_check(struct db *db, struct jf *f, const char *trigger, const char *schedule_record,
                const char *conditions, json_t *actions);
/* True for the trigger names of docs/rules.md (tag.added included). */
int rules_trigger_known(const char *trigger);

/* Dry run of a rule {trigger, schedule_record, conditions, actions, id?, name?} against
 * record_id: runs inside a savepoint the caller must roll back. *out =
 * {matched, actions:[…], chained:[…]}; 1 when the record does not exist (*out NULL). */
int rules_dry_run(struct db *db, json_t *rule, int64_t record_id, int64_t actor, json_t **out);

/* A gate: runs trigger's rules for record_id on behalf of actor; *approval_id > 0 when one
 * of them held the change for approval. */
int rules_gate(struct db *db, const char *trigger, int64_t record_id, int64_t actor, int64_t *approval_id);

/* One pass over the enabled schedule rules (each in its own transaction), then pending
 * approvals older than remind_hours remind their approvers again; *done counts firings. */
int rules_schedule_pass(struct db *db, int remind_hours, int *done);

/* The least busy active sales agent of region (then of any region): 0 when none; *by is
 * "region" or "least_busy". Locks the candidates' rows (FOR UPDATE) so two concurrent
 * assignments see each other's count. */
int rules_least_busy_sales(struct db *db, const char *region, int64_t *owner, const char **by);

/* A reminder for agent (kind, message, due in due_days), once per dedupe key. */
int rules_reminder(struct db *db, const char *kind, int64_t agent, int64_t customer, int64_t deal, const char *message,
                   const char *dedupe_key, int due_days);

#endif
