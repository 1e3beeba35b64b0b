/* test_route.c — route_match (gateway/http_route.h) on a small table and on the real
 * REST table api_routes (gateway/api.h). */
#include "tests/unit/unit.h"
#include "gateway/api.h"
#include "gateway/http_route.h"

static int h_dummy(struct api_ctx *c)
{
    (void)c;
    return 0;
}

static const struct route table[] = {
    {HTTP_GET, "/things", h_dummy, ROLES_ALL, 0, "things_list"},                      /* 0 */
    {HTTP_POST, "/things", h_dummy, ROLES_ALL, 0, "things_create"},                   /* 1 */
    {HTTP_GET, "/things/{id}", h_dummy, ROLES_ALL, 0, "things_get"},                  /* 2 */
    {HTTP_DELETE, "/things/{id}", h_dummy, ROLES_ALL, 0, "things_delete"},            /* 3 */
    {HTTP_GET, "/things/{id}/labels/{name}", h_dummy, ROLES_ALL, 0, "thing_label"},   /* 4 */
    {HTTP_POST, "/things/{id}/parts/{part_id}", h_dummy, ROLES_ALL, 0, "thing_part"}, /* 5 */
    {HTTP_GET, "/u/{token}", h_dummy, 0, ROUTE_PUBLIC, "unsubscribe"},                /* 6 */
    {HTTP_POST, "/only-post", h_dummy, 0, ROUTE_PUBLIC, "only_post"},                 /* 7 */
};
#define NT (sizeof(table) / sizeof(table[0]))

static struct route_params p;

static int m(enum http_method meth, const char *path)
{
    memset(&p, 0x5a, sizeof(p));
    return route_match(table, NT, meth, path, &p);
}

static void test_literal(void **state)
{
    (void)state;
    assert_int_equal(m(HTTP_GET, "/things"), 0);
    assert_int_equal(p.n, 0);
    assert_int_equal(m(HTTP_POST, "/things"), 1);
    assert_int_equal(m(HTTP_GET, "/nothing"), ROUTE_NOT_FOUND);
    assert_int_equal(m(HTTP_GET, "/thingsx"), ROUTE_NOT_FOUND);
    assert_int_equal(m(HTTP_GET, "/thing"), ROUTE_NOT_FOUND);
    assert_int_equal(m(HTTP_GET, "/Things"), ROUTE_NOT_FOUND); /* paths are case-sensitive */
    assert_int_equal(m(HTTP_GET, ""), ROUTE_NOT_FOUND);
    assert_int_equal(m(HTTP_GET, "/"), ROUTE_NOT_FOUND);
    assert_int_equal(m(HTTP_GET, "things"), ROUTE_NOT_FOUND);
    assert_int_equal(m(HTTP_GET, "//things"), ROUTE_NOT_FOUND);
    assert_int_equal(m(HTTP_GET, "/things/extra/more/and/more"), ROUTE_NOT_FOUND);
}

static void test_trailing_slash(void **state)
{
    (void)state;
    /* One trailing slash is tolerated; anything more is another path. */
    assert_int_equal(m(HTTP_GET, "/things/"), 0);
    assert_int_equal(m(HTTP_GET, "/things/12/"), 2);
    assert_true(p.id[0] == 12);
    assert_int_equal(m(HTTP_GET, "/things//"), ROUTE_NOT_FOUND);
    assert_int_equal(m(HTTP_GET, "/things/12//"), ROUTE_NOT_FOUND);
}

static void test_id_numeric_only(void **state)
{
    (void)state;
    assert_int_equal(m(HTTP_GET, "/things/12"), 2);
    assert_int_equal(p.n, 1);
    assert_true(p.id[0] == 12);
    assert_string_equal(p.str[0], "12");
    assert_int_equal(m(HTTP_GET, "/things/1"), 2);
    assert_true(p.id[0] == 1);
    assert_int_equal(m(HTTP_GET, "/things/9007199254740992"), 2); /* 2^53 */
    assert_true(p.id[0] == 9007199254740992LL);

    assert_int_equal(m(HTTP_GET, "/things/0"), ROUTE_NOT_FOUND);
    assert_int_equal(m(HTTP_GET, "/things/012"), ROUTE_NOT_FOUND);
    assert_int_equal(m(HTTP_GET, "/things/00"), ROUTE_NOT_FOUND);
    assert_int_equal(m(HTTP_GET, "/things/-1"), ROUTE_NOT_FOUND);
    assert_int_equal(m(HTTP_GET, "/things/+1"), ROUTE_NOT_FOUND);
    assert_int_equal(m(HTTP_GET, "/things/12a"), ROUTE_NOT_FOUND);
    assert_int_equal(m(HTTP_GET, "/things/a12"), ROUTE_NOT_FOUND);
    assert_int_equal(m(HTTP_GET, "/things/1.5"), ROUTE_NOT_FOUND);
    assert_int_equal(m(HTTP_GET, "/things/1e3"), ROUTE_NOT_FOUND);
    assert_int_equal(m(HTTP_GET, "/things/%31"), ROUTE_NOT_FOUND);
    assert_int_equal(m(HTTP_GET, "/things/ 1"), ROUTE_NOT_FOUND);
    assert_int_equal(m(HTTP_GET, "/things/９"), ROUTE_NOT_FOUND);
    assert_int_equal(m(HTTP_GET, "/things/9007199254740993"), ROUTE_NOT_FOUND);   /* 2^53 + 1 */
    assert_int_equal(m(HTTP_GET, "/things/99999999999999999"), ROUTE_NOT_FOUND);  /* 17 digits */
    assert_int_equal(m(HTTP_GET, "/things/18446744073709551617"), ROUTE_NOT_FOUND); /* 2^64 + 1 */
    assert_int_equal(m(HTTP_GET, "/things/99999999999999999999999999999999999999"), ROUTE_NOT_FOUND);
}

static void test_name_segments(void **state)
{
    (void)state;
    assert_int_equal(m(HTTP_GET, "/things/7/labels/VIP"), 4);
    assert_int_equal(p.n, 2);
    assert_true(p.id[0] == 7);
    assert_string_equal(p.str[0], "7");
    assert_string_equal(p.str[1], "VIP");
    assert_int_equal(m(HTTP_GET, "/things/7/labels/重要客户"), 4);
    assert_string_equal(p.str[1], "重要客户");
    assert_int_equal(m(HTTP_GET, "/things/7/labels/0"), 4); /* a name may look like a number */
    assert_string_equal(p.str[1], "0");
    assert_int_equal(m(HTTP_GET, "/things/7/labels/a%20b"), 4); /* raw text: decoding is the caller's */
    assert_string_equal(p.str[1], "a%20b");
    assert_int_equal(m(HTTP_GET, "/things/7/labels/"), ROUTE_NOT_FOUND); /* empty name */
    assert_int_equal(m(HTTP_GET, "/things/7/labels"), ROUTE_NOT_FOUND);
    assert_int_equal(m(HTTP_GET, "/things/x/labels/VIP"), ROUTE_NOT_FOUND);
    assert_int_equal(m(HTTP_GET, "/u/abcDEF-123_x"), 6);
    assert_string_equal(p.str[0], "abcDEF-123_x");

    /* A placeholder whose name ends in "id" is numeric too. */
    assert_int_equal(m(HTTP_POST, "/things/7/parts/8"), 5);
    assert_true(p.id[0] == 7 && p.id[1] == 8);
    assert_int_equal(m(HTTP_POST, "/things/7/parts/x"), ROUTE_NOT_FOUND);
}

static void test_name_length(void **state)
{
    (void)state;
    char path[300];
    char seg[210];
    memset(seg, 'n', 200);
    seg[200] = '\0';
    snprintf(path, sizeof(path), "/u/%s", seg);
    assert_int_equal(m(HTTP_GET, path), 6);
    assert_int_equal(strlen(p.str[0]), 200);
    seg[200] = 'n';
    seg[201] = '\0';
    snprintf(path, sizeof(path), "/u/%s", seg);
    assert_int_equal(m(HTTP_GET, path), ROUTE_NOT_FOUND);
}

static void test_bad_method(void **state)
{
    (void)state;
    assert_int_equal(m(HTTP_PUT, "/things"), ROUTE_BAD_METHOD);
    assert_int_equal(m(HTTP_DELETE, "/things"), ROUTE_BAD_METHOD);
    assert_int_equal(m(HTTP_PATCH, "/things/12"), ROUTE_BAD_METHOD);
    assert_int_equal(m(HTTP_DELETE, "/things/12"), 3);
    assert_int_equal(m(HTTP_GET, "/only-post"), ROUTE_BAD_METHOD);
    assert_int_equal(m(HTTP_OPTIONS, "/things"), ROUTE_BAD_METHOD);
    assert_int_equal(m(HTTP_OTHER, "/things"), ROUTE_BAD_METHOD);
    /* 404 wins when the path itself is unknown, whatever the method. */
    assert_int_equal(m(HTTP_PUT, "/nothing"), ROUTE_NOT_FOUND);
    /* A path that only fails on its {id} is not a 405. */
    assert_int_equal(m(HTTP_DELETE, "/things/abc"), ROUTE_NOT_FOUND);
}

static void test_head_matches_get(void **state)
{
    (void)state;
    assert_int_equal(m(HTTP_HEAD, "/things"), 0);
    assert_int_equal(m(HTTP_HEAD, "/things/5"), 2);
    assert_true(p.id[0] == 5);
    assert_int_equal(m(HTTP_HEAD, "/only-post"), ROUTE_BAD_METHOD);
}

static void test_method_names(void **state)
{
    (void)state;
    assert_int_equal(http_method_parse("GET"), HTTP_GET);
    assert_int_equal(http_method_parse("POST"), HTTP_POST);
    assert_int_equal(http_method_parse("PUT"), HTTP_PUT);
    assert_int_equal(http_method_parse("PATCH"), HTTP_PATCH);
    assert_int_equal(http_method_parse("DELETE"), HTTP_DELETE);
    assert_int_equal(http_method_parse("HEAD"), HTTP_HEAD);
    assert_int_equal(http_method_parse("OPTIONS"), HTTP_OPTIONS);
    assert_int_equal(http_method_parse("get"), HTTP_OTHER); /* methods are case-sensitive */
    assert_int_equal(http_method_parse("TRACE"), HTTP_OTHER);
    assert_int_equal(http_method_parse("OTHER"), HTTP_OTHER);
    assert_int_equal(http_method_parse(""), HTTP_OTHER);
    assert_string_equal(http_method_name(HTTP_DELETE), "DELETE");
    assert_string_equal(http_method_name(HTTP_OTHER), "OTHER");
    assert_string_equal(http_method_name((enum http_method)99), "OTHER");
}

/* ---- the real table ---- */

static int real(enum http_method meth, const char *path)
{
    memset(&p, 0x5a, sizeof(p));
    return route_match(api_routes, api_n_routes, meth, path, &p);
}

static const char *real_name(int idx)
{
    assert_true(idx >= 0 && (size_t)idx < api_n_routes);
    return api_routes[idx].name;
}

static void test_api_customers(void **state)
{
    (void)state;
    int i = real(HTTP_GET, "/api/v1/customers/12/identities");
    assert_true(i >= 0);
    assert_string_equal(real_name(i), "customer_identities");
    assert_true(p.id[0] == 12);

    i = real(HTTP_DELETE, "/api/v1/customers/1/tags/VIP");
    assert_true(i >= 0);
    assert_string_equal(real_name(i), "customer_tag_delete");
    assert_int_equal(p.n, 2);
    assert_true(p.id[0] == 1);
    assert_string_equal(p.str[1], "VIP");

    i = real(HTTP_DELETE, "/api/v1/customers/3/identities/44");
    assert_true(i >= 0);
    assert_string_equal(real_name(i), "customer_identity_delete");
    assert_true(p.id[0] == 3 && p.id[1] == 44);
    assert_int_equal(real(HTTP_DELETE, "/api/v1/customers/3/identities/abc"), ROUTE_NOT_FOUND);

    i = real(HTTP_GET, "/api/v1/customers");
    assert_true(i >= 0);
    assert_string_equal(real_name(i), "customers_list");
    i = real(HTTP_POST, "/api/v1/customers");
    assert_string_equal(real_name(i), "customers_create");
    i = real(HTTP_PATCH, "/api/v1/customers/9");
    assert_string_equal(real_name(i), "customers_update");
    assert_int_equal(real(HTTP_PUT, "/api/v1/customers/9"), ROUTE_BAD_METHOD);
    assert_int_equal(real(HTTP_GET, "/api/v1/customers/0"), ROUTE_NOT_FOUND);
    assert_int_equal(real(HTTP_GET, "/api/v1/customers/abc"), ROUTE_NOT_FOUND);
    assert_int_equal(real(HTTP_GET, "/api/v1/nothing"), ROUTE_NOT_FOUND);
    assert_int_equal(real(HTTP_GET, "/api/v2/customers"), ROUTE_NOT_FOUND);
}

static void test_api_misc(void **state)
{
    (void)state;
    int i = real(HTTP_GET, "/healthz");
    assert_true(i >= 0);
    assert_true(api_routes[i].flags & ROUTE_PUBLIC);
    i = real(HTTP_HEAD, "/metrics");
    assert_true(i >= 0);
    assert_string_equal(real_name(i), "metrics");
    i = real(HTTP_POST, "/api/v1/auth/login");
    assert_true(i >= 0);
    assert_true(api_routes[i].flags & ROUTE_PUBLIC);
    assert_int_equal(real(HTTP_GET, "/api/v1/auth/login"), ROUTE_BAD_METHOD);
    i = real(HTTP_POST, "/api/v1/tickets/5/messages");
    assert_true(i >= 0);
    assert_string_equal(real_name(i), "ticket_message_add");
    assert_true(p.id[0] == 5);
}

/* Replaces every {placeholder} in pattern with "7" ({..id}) or "x" (others). */
static void concrete(const char *pattern, char *out, size_t outsz)
{
    size_t o = 0;
    for (const char *s = pattern; *s && o + 2 < outsz;) {
        if (*s == '{') {
            const char *e = strchr(s, '}');
            assert_non_null(e);
            int numeric = e - s >= 3 && strncmp(e - 2, "id", 2) == 0;
            out[o++] = numeric ? '7' : 'x';
            s = e + 1;
        } else {
            out[o++] = *s++;
        }
    }
    out[o] = '\0';
}

/* Every route is reachable: its own concrete path and method select exactly it, and the
 * table has no duplicate (method, pattern) or missing name/handler/roles. */
static void test_api_table_consistent(void **state)
{
    (void)state;
    assert_true(api_n_routes > 0);
    for (size_t i = 0; i < api_n_routes; i++) {
        const struct route *r = &api_routes[i];
        assert_non_null(r->pattern);
        assert_non_null(r->handler);
        assert_non_null(r->name);
        assert_true(r->pattern[0] == '/');
        if (!(r->flags & ROUTE_PUBLIC) && r->roles == 0)
            fail_msg("route %s %s is neither public nor open to any role", http_method_name(r->method), r->pattern);
        char path[512];
        concrete(r->pattern, path, sizeof(path));
        int got = real(r->method, path);
        if (got != (int)i)
            fail_msg("%s %s (as %s) matched route %d, not %zu", http_method_name(r->method), r->pattern, path, got, i);
        for (size_t j = 0; j < i; j++)
            if (api_routes[j].method == r->method && strcmp(api_routes[j].pattern, r->pattern) == 0)
                fail_msg("duplicate route %s %s", http_method_name(r->method), r->pattern);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_literal),
        cmocka_unit_test(test_trailing_slash),
        cmocka_unit_test(test_id_numeric_only),
        cmocka_unit_test(test_name_segments),
        cmocka_unit_test(test_name_length),
        cmocka_unit_test(test_bad_method),
        cmocka_unit_test(test_head_matches_get),
        cmocka_unit_test(test_method_names),
        cmocka_unit_test(test_api_customers),
        cmocka_unit_test(test_api_misc),
        cmocka_unit_test(test_api_table_consistent),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
