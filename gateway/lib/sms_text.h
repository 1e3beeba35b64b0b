/* sms_text.h — how many SMS segments a text costs, the way carriers count them.
 *
 * GSM-7 when every character is in the GSM 03.38 default alphabet or its extension
 * table (the extension characters ^ { } \ [ ~ ] | € cost two septets): 160 septets in one
 * segment, 153 per segment when concatenated. Otherwise UCS-2 (any Chinese text): 70
 * UTF-16 code units in one segment, 67 per segment concatenated; a character outside the
 * BMP (most emoji) costs two units. An empty text is one segment.
 *
 * Owns: nothing. Thread: any. Errors: none — invalid UTF-8 bytes count as one UCS-2
 * unit each (they will be replaced before sending anyway).
 */
#ifndef SB_SMS_TEXT_H
#define SB_SMS_TEXT_H
#include <stddef.h>

enum sms_encoding { SMS_GSM7, SMS_UCS2 };

struct sms_count {
    enum sms_encoding encoding;
    size_t units;      /* septets (GSM-7) or UTF-16 code units (UCS-2) */
    size_t segments;
    size_t per_segment; /* the size of one segment at this length: 160/153 or 70/67 */
};

void sms_count_text(const char *utf8, struct sms_count *out);
const char *sms_encoding_name(enum sms_encoding e); /* "gsm7" | "ucs2" */

#endif
