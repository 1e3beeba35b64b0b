/* rate_limit.h — a token bucket: `burst` events at once, refilled at `per_sec`.
 *
 * Owns: nothing (the struct is the caller's). Thread: the owner's only.
 * Errors: none; rate_take answers whether the event may happen now.
 */
#ifndef SB_RATE_LIMIT_H
#define SB_RATE_LIMIT_H
#include <stdbool.h>
#include <stdint.h>

struct rate_limit {
    double tokens;
    double burst;
    double per_sec;
    int64_t last_us;
};

void rate_init(struct rate_limit *r, double burst, double per_sec, int64_t now_us);
bool rate_take(struct rate_limit *r, int64_t now_us);

#endif
