/* quality.h — the worker that reads every customer message as it arrives (issue 10):
 *
 *   complaint keywords  a message containing a quality_keywords word (case-insensitive,
 *                       full-width folded) flags its ticket (flagged_at, flag_reason: the
 *                       words), raises its priority to at least the word's, and tells the
 *                       ticket team's manager (or, without one, every admin) by a reminder
 *                       (delivered by the CRM worker: socket and e-mail) and the
 *                       `ticket.flagged` event; a ticket is flagged once;
 *   suggestions         the best published knowledge-base articles for the message (with
 *                       the ticket's subject) are pushed to whoever sees the ticket as
 *                       `kb.suggestions` {ticket_id, message_id, items}.
 *
 * It follows the change feed (`events`, kind message.created, direction in) after its
 * cursor (worker_cursors 'quality_events', locked FOR UPDATE: one gateway process handles
 * an event), leaving events younger than [crm] settle_ms for the next pass because ids
 * commit out of order. Every half second, or when woken.
 *
 * Owns: its thread and connection. Thread: start/stop from main only.
 * Errors: logged; a failed pass is retried (the cursor moves only with its work).
 */
#ifndef SB_QUALITY_H
#define SB_QUALITY_H
#include "gateway/config.h"

int quality_worker_start(const struct sb_config *cfg);
void quality_worker_stop(void);

#endif
