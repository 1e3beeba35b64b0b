/* rate_limit.c — see rate_limit.h. */
#include "gateway/lib/rate_limit.h"

void rate_init(struct rate_limit *r, double burst, double per_sec, int64_t now_us)
{
    r->tokens = burst;
    r->burst = burst;
    r->per_sec = per_sec;
    r->last_us = now_us;
}

bool rate_take(struct rate_limit *r, int64_t now_us)
{
    if (now_us > r->last_us) {
        r->tokens += (double)(now_us - r->last_us) / 1e6 * r->per_sec;
        if (r->tokens > r->burst)
            r->tokens = r->burst;
        r->last_us = now_us;
    }
    if (r->tokens < 1.0)
        return false;
    r->tokens -= 1.0;
    return true;
}
