/* sms_delivery.h — delivery reports of SMS we sent (issue 6).
 *
 * A report (queued, sending, sent, delivered, undelivered, failed + error code) is kept
 * by the provider's message id in sms_delivery, never moving backwards (a late "sent"
 * after "delivered" changes nothing), and applied to the outbox row and message that
 * carry that id: delivered ⇒ the message is delivered; undelivered/failed ⇒ the row and
 * message are failed with the code, and agents get message.updated. The sender applies
 * a report that came before it recorded the id (sms_delivery_apply after recording).
 *
 * Owns: nothing. Thread: any thread with its own connection, inside its transaction.
 * Errors: negative db_rc.
 */
#ifndef SB_SMS_DELIVERY_H
#define SB_SMS_DELIVERY_H
#include "gateway/db.h"

int sms_delivery_store(struct db *db, const char *provider_id, const char *status, const char *error_code);
int sms_delivery_apply(struct db *db, const char *provider_id);

#endif
