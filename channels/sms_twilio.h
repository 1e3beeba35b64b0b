/* sms_twilio.h — the Twilio-shaped SMS provider (gateway/sms_provider.h): Twilio itself
 * and the many gateways that copy its Messages API, webhooks and signatures.
 * Owns: nothing. Thread: any. Errors: per the ops table. */
#ifndef SB_SMS_TWILIO_H
#define SB_SMS_TWILIO_H
#include "gateway/sms_provider.h"

extern const struct sms_provider sms_twilio;

#endif
