/* http_route.c — see http_route.h. */
#include "gateway/http_route.h"
#include "gateway/lib/text.h"
#include <ctype.h>
#include <string.h>

static const char *const method_names[] = {"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS", "OTHER"};

const char *http_method_name(enum http_method m)
{
    return method_names[m <= HTTP_OTHER ? m : HTTP_OTHER];
}

enum http_method http_method_parse(const char *s)
{
    for (int i = 0; i < HTTP_OTHER; i++)
        if (strcmp(s, method_names[i]) == 0)
            return (enum http_method)i;
    return HTTP_OTHER;
}

static int seg_is_id(const char *s, size_t n, int64_t *out)
{
    if (n == 0 || n > 16 || s[0] == '0')
        return 0;
    int64_t v = 0;
    for (size_t i = 0; i < n; i++) {
        if (!isdigit((unsigned char)s[i]))
            return 0;
        v = v * 10 + (s[i] - '0');
    }
    if (v > (1LL << 53))
        return 0;
    *out = v;
    return 1;
}

/* Matches one pattern against path; 1 on match. */
static int match_one(const char *pat, const char *path, struct route_params *p)
{
    p->n = 0;
    while (*pat && *path) {
        if (*pat != '/' || *path != '/')
            return 0;
        pat++;
        path++;
        const char *pe = strchr(pat, '/');
        size_t pn = pe ? (size_t)(pe - pat) : strlen(pat);
        const char *se = strchr(path, '/');
        size_t sn = se ? (size_t)(se - path) : strlen(path);
        if (pn >= 2 && pat[0] == '{' && pat[pn - 1] == '}') {
            if (sn == 0 || sn > 200 || p->n == ROUTE_MAX_PARAMS)
                return 0;
            int is_id = pn == 4 && strncmp(pat, "{id}", 4) == 0;
            int64_t v = 0;
            int numeric = seg_is_id(path, sn, &v);
            if ((is_id || (pn > 3 && strncmp(pat + pn - 3, "id}", 3) == 0)) && !numeric)
                return 0;
            p->id[p->n] = numeric ? v : 0;
            text_copy_n(p->str[p->n], sizeof(p->str[0]), path, sn);
            p->n++;
        } else if (pn != sn || strncmp(pat, path, pn) != 0) {
            return 0;
        }
        pat += pn;
        path += sn;
    }
    return *pat == '\0' && (*path == '\0' || (path[0] == '/' && path[1] == '\0'));
}

int route_match(const struct route *table, size_t n, enum http_method m, const char *path,
                struct route_params *params)
{
    int path_seen = 0;
    struct route_params tmp;
    for (size_t i = 0; i < n; i++) {
        if (!match_one(table[i].pattern, path, &tmp))
            continue;
        if (table[i].method == m || (m == HTTP_HEAD && table[i].method == HTTP_GET)) {
            *params = tmp;
            return (int)i;
        }
        path_seen = 1;
    }
    return path_seen ? ROUTE_BAD_METHOD : ROUTE_NOT_FOUND;
}
