/* fuzz_route.c — route_match on the real REST table (api_routes) with arbitrary paths.
 * Invariants: the result is an index, ROUTE_NOT_FOUND or ROUTE_BAD_METHOD; a match fills
 * one parameter per placeholder, {..id} ones numeric in 1..2^53 and equal to their text;
 * every string parameter is a NUL-terminated, non-empty segment of at most 200 bytes with
 * no '/'; HEAD matches whatever GET matches. */
#include "tests/fuzz/fuzz.h"
#include "gateway/api.h"
#include "gateway/http_route.h"
#include <string.h>

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    return 0;
}

static size_t placeholders(const char *pattern, int *numeric, size_t max)
{
    size_t n = 0;
    for (const char *s = strchr(pattern, '{'); s; s = strchr(s + 1, '{')) {
        const char *e = strchr(s, '}');
        if (n < max)
            numeric[n] = e && e - s >= 3 && strncmp(e - 2, "id", 2) == 0;
        n++;
    }
    return n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1 || size > 4096)
        return 0;
    enum http_method m = (enum http_method)(data[0] % (HTTP_OTHER + 1));
    char *path = malloc(size);
    if (!path)
        return 0;
    memcpy(path, data + 1, size - 1);
    path[size - 1] = '\0';

    struct route_params p;
    memset(&p, 0xa5, sizeof(p));
    int idx = route_match(api_routes, api_n_routes, m, path, &p);
    FUZZ_CHECK(idx == ROUTE_NOT_FOUND || idx == ROUTE_BAD_METHOD || (idx >= 0 && (size_t)idx < api_n_routes));
    if (idx >= 0) {
        const struct route *r = &api_routes[idx];
        FUZZ_CHECK(r->method == m || (m == HTTP_HEAD && r->method == HTTP_GET));
        int numeric[ROUTE_MAX_PARAMS + 8];
        size_t want = placeholders(r->pattern, numeric, ROUTE_MAX_PARAMS + 8);
        FUZZ_CHECK(p.n == want && p.n <= ROUTE_MAX_PARAMS);
        for (size_t i = 0; i < p.n; i++) {
            size_t len = strnlen(p.str[i], sizeof(p.str[i]));
            FUZZ_CHECK(len > 0 && len <= 200);
            FUZZ_CHECK(strchr(p.str[i], '/') == NULL);
            FUZZ_CHECK(strstr(path, p.str[i]) != NULL);
            if (numeric[i]) {
                FUZZ_CHECK(p.id[i] >= 1 && p.id[i] <= (INT64_C(1) << 53));
                char dec[32];
                snprintf(dec, sizeof(dec), "%lld", (long long)p.id[i]);
                FUZZ_CHECK(strcmp(dec, p.str[i]) == 0);
            }
        }
    }
    /* HEAD and GET agree. */
    if (m == HTTP_GET) {
        struct route_params q;
        int h = route_match(api_routes, api_n_routes, HTTP_HEAD, path, &q);
        if (idx >= 0)
            FUZZ_CHECK(h == idx);
    }
    /* The 404/405 answer depends on the path only through "does any pattern match". */
    if (idx == ROUTE_NOT_FOUND) {
        struct route_params q;
        for (int k = 0; k <= HTTP_OTHER; k++)
            FUZZ_CHECK(route_match(api_routes, api_n_routes, (enum http_method)k, path, &q) == ROUTE_NOT_FOUND);
    }
    free(path);
    return 0;
}
