/* http_route.h — the REST routing table: METHOD + path pattern → handler, roles, flags.
 *
 * Patterns are literal segments and placeholders: "{id}" matches a positive decimal
 * integer (≤ 2^53) and "{name}" any non-empty segment (max 200 bytes). Matching is pure
 * and allocation-free. Owns: nothing. Thread: any.
 * Errors: route_match returns the index of the matching route, ROUTE_NOT_FOUND when no
 * pattern matches the path, or ROUTE_BAD_METHOD when a pattern matches but not the method
 * (the caller answers 404 / 405).
 */
#ifndef SB_HTTP_ROUTE_H
#define SB_HTTP_ROUTE_H
#include <stddef.h>
#include <stdint.h>

enum http_method { HTTP_GET, HTTP_POST, HTTP_PUT, HTTP_PATCH, HTTP_DELETE, HTTP_HEAD, HTTP_OPTIONS, HTTP_OTHER };

#define ROUTE_NOT_FOUND (-1)
#define ROUTE_BAD_METHOD (-2)
#define ROUTE_MAX_PARAMS 4

struct route_params {
    size_t n;
    int64_t id[ROUTE_MAX_PARAMS];       /* value when the placeholder was {id}-like */
    char str[ROUTE_MAX_PARAMS][201];     /* raw text of every placeholder */
};

struct api_ctx;
typedef int (*api_handler)(struct api_ctx *c);

/* Role bits (DESIGN.md section 10). */
#define ROLE_ADMIN    (1u << 0)
#define ROLE_MANAGER  (1u << 1)
#define ROLE_AGENT    (1u << 2)
#define ROLE_SALES    (1u << 3)
#define ROLE_MARKETER (1u << 4)
#define ROLES_ALL     (ROLE_ADMIN | ROLE_MANAGER | ROLE_AGENT | ROLE_SALES | ROLE_MARKETER)

#define ROUTE_PUBLIC  (1u << 0)  /* no authentication */
#define ROUTE_NO_TX   (1u << 1)  /* handler manages its own transactions */
#define ROUTE_LARGE_BODY (1u << 2) /* bulk upload: [server] import_limit instead of body_limit */

struct route {
    enum http_method method;
    const char *pattern;
    api_handler handler;
    unsigned roles;
    unsigned flags;
    const char *name; /* metrics label */
};

int route_match(const struct route *table, size_t n, enum http_method m, const char *path,
                struct route_params *params);
enum http_method http_method_parse(const char *s);
const char *http_method_name(enum http_method m);

#endif
