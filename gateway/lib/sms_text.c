/* sms_text.c — see sms_text.h. */
#include "gateway/lib/sms_text.h"
#include "gateway/lib/text.h"
#include <stdint.h>
#include <string.h>

/* 0 = not GSM-7, 1 = one septet, 2 = escape + septet (extension table). */
static int gsm_cost(uint32_t cp)
{
    static const char basic[] = "@$\n\r !\"#%&'()*+,-./0123456789:;<=>?ABCDEFGHIJKLMNOPQRSTUVWXYZ_"
                                "abcdefghijklmnopqrstuvwxyz";
    static const uint32_t basic_hi[] = {0xA3, 0xA5, 0xE8, 0xE9, 0xF9, 0xEC, 0xF2, 0xC7, 0xD8, 0xF8, 0xC5, 0xE5,
                                        0x394, 0x3A6, 0x393, 0x39B, 0x3A9, 0x3A0, 0x3A8, 0x3A3, 0x398, 0x39E,
                                        0xC6, 0xE6, 0xDF, 0xC9, 0xA4, 0xA1, 0xC4, 0xD6, 0xD1, 0xDC, 0xA7, 0xBF,
                                        0xE4, 0xF6, 0xF1, 0xFC, 0xE0};
    if (cp < 0x80 && cp != 0 && strchr(basic, (int)cp))
        return 1;
    if (cp < 0x80 && cp != 0 && strchr("^{}\\[~]|", (int)cp))
        return 2;
    if (cp == 0x20AC || cp == 0x0C) /* €, form feed */
        return 2;
    for (size_t i = 0; i < sizeof(basic_hi) / sizeof(basic_hi[0]); i++)
        if (basic_hi[i] == cp)
            return 1;
    return 0;
}

void sms_count_text(const char *utf8, struct sms_count *out)
{
    size_t septets = 0, units = 0;
    int gsm = 1;
    for (const unsigned char *p = (const unsigned char *)(utf8 ? utf8 : ""); *p;) {
        uint32_t cp = utf8_next(&p);
        int cost = gsm ? gsm_cost(cp) : 0;
        if (!cost)
            gsm = 0;
        septets += (size_t)cost;
        units += cp > 0xFFFF ? 2 : 1;
    }
    out->encoding = gsm ? SMS_GSM7 : SMS_UCS2;
    out->units = gsm ? septets : units;
    size_t single = gsm ? 160 : 70, multi = gsm ? 153 : 67;
    out->per_segment = out->units <= single ? single : multi;
    out->segments = out->units <= single ? 1 : (out->units + multi - 1) / multi;
}

const char *sms_encoding_name(enum sms_encoding e)
{
    return e == SMS_GSM7 ? "gsm7" : "ucs2";
}
