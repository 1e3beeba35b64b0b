/* test_template.c — the mustache engine (gateway/template.h): every case of the official
 * specification files (../shared/testdata/mustache-spec, all but ~lambdas.json), plain-text
 * mode, values and truthiness, Chinese and emoji, compile errors with their positions, the
 * limits against hostile templates (size, depth, recursion, work, output cap), partials
 * through the cache, and one compiled template rendered 100,000 times. */
#include "tests/unit/unit.h"
#include "gateway/lib/buf.h"
#include "gateway/lib/text.h"
#include "gateway/template.h"
#include <dirent.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <time.h>

/* ---- helpers ---- */

/* Partials from a JSON object {name: source}; counts the calls in calls (if set). */
struct partials {
    json_t *map;
    int calls;
};

static const char *map_partial(void *arg, const char *name, size_t *len)
{
    struct partials *p = arg;
    p->calls++;
    const json_t *v = json_object_get(p->map, name);
    if (!json_is_string(v))
        return NULL;
    *len = json_string_length(v);
    return json_string_value(v);
}

static json_t *parse(const char *json)
{
    json_error_t je;
    json_t *v = json_loads(json, JSON_DECODE_ANY | JSON_ALLOW_NUL, &je);
    if (!v)
        fail_msg("bad test JSON %s: %s", json, je.text);
    return v;
}

/* Renders tpl against data (JSON text) with partials (JSON object text or NULL). */
static int render_n(const char *tpl, size_t len, const char *data, const char *partials, enum template_mode mode,
                    size_t cap, struct buf *out, struct template_error *err)
{
    json_t *d = parse(data);
    struct partials p = {partials ? parse(partials) : json_object(), 0};
    buf_init(out, cap);
    int rc = template_render_string(tpl, len, d, mode, map_partial, &p, out, err);
    json_decref(d);
    json_decref(p.map);
    return rc;
}

static void expect_n(const char *tpl, const char *data, const char *partials, enum template_mode mode,
                     const char *want, int line)
{
    struct buf out;
    struct template_error err;
    int rc = render_n(tpl, strlen(tpl), data, partials, mode, 0, &out, &err);
    if (rc != 0)
        fail_msg("line %d: \"%s\": rc %d at %zu:%zu: %s", line, tpl, rc, err.line, err.col, err.message);
    if (strcmp(out.data ? out.data : "", want) != 0)
        fail_msg("line %d: \"%s\"\n got: \"%s\"\nwant: \"%s\"", line, tpl, out.data ? out.data : "", want);
    assert_string_equal(err.message, "");
    buf_free(&out);
}
#define expect_html(tpl, data, want) expect_n((tpl), (data), NULL, TEMPLATE_HTML, (want), __LINE__)
#define expect_text(tpl, data, want) expect_n((tpl), (data), NULL, TEMPLATE_TEXT, (want), __LINE__)
#define expect_partials(tpl, data, partials, want) expect_n((tpl), (data), (partials), TEMPLATE_HTML, (want), __LINE__)

static void compile_error_n(const char *src, size_t len, size_t line, size_t col, const char *message, int at)
{
    struct template *t = (struct template *)&t; /* must come back NULL */
    struct template_error err;
    int rc = template_compile(src, len, &t, &err);
    if (rc != -1 || t != NULL)
        fail_msg("line %d: \"%.60s\" compiled (rc %d)", at, src, rc);
    if (err.line != line || err.col != col || strcmp(err.message, message) != 0)
        fail_msg("line %d: \"%.60s\"\n got: %zu:%zu \"%s\"\nwant: %zu:%zu \"%s\"", at, src, err.line, err.col,
                 err.message, line, col, message);
    assert_true(utf8_valid(err.message, strlen(err.message)));
}
#define compile_error(src, line, col, msg) compile_error_n((src), strlen(src), (line), (col), (msg), __LINE__)

/* Renders expecting a render error whose message contains part; out keeps its prefix. */
static void render_error_n(const char *tpl, const char *data, const char *partials, size_t cap, const char *part,
                           int at)
{
    json_t *d = parse(data);
    struct partials p = {partials ? parse(partials) : json_object(), 0};
    struct template *t;
    struct template_error err;
    if (template_compile(tpl, strlen(tpl), &t, &err) != 0)
        fail_msg("line %d: compile: %s", at, err.message);
    struct buf out;
    buf_init(&out, cap);
    buf_puts(&out, "kept");
    int rc = template_render(t, d, TEMPLATE_HTML, map_partial, &p, &out, &err);
    if (rc != -1 || !strstr(err.message, part))
        fail_msg("line %d: \"%.60s\": rc %d \"%s\", want -1 with \"%s\"", at, tpl, rc, err.message, part);
    assert_string_equal(out.data, "kept");
    assert_int_equal(out.len, 4);
    assert_true(utf8_valid(err.message, strlen(err.message)));
    buf_free(&out);
    template_free(t);
    json_decref(d);
    json_decref(p.map);
}
#define render_error(tpl, data, partials, cap, part) render_error_n((tpl), (data), (partials), (cap), (part), __LINE__)

static char *repeat(const char *s, size_t times)
{
    size_t n = strlen(s);
    char *out = malloc(n * times + 1);
    assert_non_null(out);
    for (size_t i = 0; i < times; i++)
        memcpy(out + i * n, s, n);
    out[n * times] = '\0';
    return out;
}

/* ---- the official specification ---- */

static const char *spec_dir(void)
{
    static const char *const rel = "../shared/testdata/mustache-spec";
    struct stat st;
    if (stat(rel, &st) == 0 && S_ISDIR(st.st_mode))
        return rel;
    const char *env = getenv("SWITCHBOARD_MUSTACHE_SPEC");
    if (env && *env && stat(env, &st) == 0 && S_ISDIR(st.st_mode))
        return env;
    return NULL;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Runs one spec file; returns the number of failing cases, printing each. */
static int run_spec_file(const char *dir, const char *file, int *ncases)
{
    char path[4096];
    snprintf(path, sizeof(path), "%s/%s", dir, file);
    json_error_t je;
    json_t *root = json_load_file(path, 0, &je);
    if (!root) {
        print_error("%s: %s (line %d)\n", path, je.text, je.line);
        return 1;
    }
    const json_t *tests = json_object_get(root, "tests");
    int failed = 0, passed = 0;
    struct template_cache *cache = template_cache_new();
    assert_non_null(cache);
    size_t i;
    const json_t *tc;
    json_array_foreach(tests, i, tc) {
        const char *name = json_string_value(json_object_get(tc, "name"));
        const json_t *tpl = json_object_get(tc, "template"), *want = json_object_get(tc, "expected");
        struct partials p = {json_object_get(tc, "partials"), 0};
        if (!name || !json_is_string(tpl) || !json_is_string(want)) {
            print_error("%s: case %zu is malformed\n", file, i);
            failed++;
            continue;
        }
        struct template *t;
        struct template_error err;
        if (template_compile(json_string_value(tpl), json_string_length(tpl), &t, &err) != 0) {
            print_error("FAIL %s: %s: compile error at %zu:%zu: %s\n", file, name, err.line, err.col, err.message);
            failed++;
            continue;
        }
        struct buf a, b;
        buf_init(&a, 0);
        buf_init(&b, 0);
        int rc = template_render(t, json_object_get(tc, "data"), TEMPLATE_HTML, map_partial, &p, &a, &err);
        /* twice through one cache: the second render reuses the compiled partials */
        int rc2 = template_render_cached(t, json_object_get(tc, "data"), TEMPLATE_HTML, map_partial, &p, cache, &b,
                                         NULL);
        buf_reset(&b);
        rc2 |= template_render_cached(t, json_object_get(tc, "data"), TEMPLATE_HTML, map_partial, &p, cache, &b, NULL);
        const char *got = a.data ? a.data : "";
        if (rc != 0) {
            print_error("FAIL %s: %s: render error %s\n", file, name, err.message);
            failed++;
        } else if (a.len != json_string_length(want) || memcmp(got, json_string_value(want), a.len) != 0) {
            print_error("FAIL %s: %s\n  template: %s\n  got:      \"%s\"\n  want:     \"%s\"\n", file, name,
                        json_string_value(tpl), got, json_string_value(want));
            failed++;
        } else if (rc2 != 0 || b.len != a.len || memcmp(b.data ? b.data : "", got, a.len) != 0) {
            print_error("FAIL %s: %s: the cached render differs: \"%s\"\n", file, name, b.data ? b.data : "");
            failed++;
        } else {
            passed++;
        }
        buf_free(&a);
        buf_free(&b);
        template_free(t);
    }
    template_cache_free(cache);
    printf("# mustache spec %-20s %d/%d passed\n", file, passed, passed + failed);
    *ncases = passed + failed;
    json_decref(root);
    return failed;
}

static void test_spec(void **state)
{
    (void)state;
    const char *dir = spec_dir();
    if (!dir)
        fail_msg("mustache spec not found: neither ../shared/testdata/mustache-spec (run from the repository root) "
                 "nor $SWITCHBOARD_MUSTACHE_SPEC is a directory");
    DIR *d = opendir(dir);
    assert_non_null(d);
    char *files[64];
    size_t nfiles = 0;
    struct dirent *e;
    while ((e = readdir(d)) && nfiles < 64) {
        size_t n = strlen(e->d_name);
        if (n > 5 && strcmp(e->d_name + n - 5, ".json") == 0 && strcmp(e->d_name, "~lambdas.json") != 0)
            files[nfiles++] = strdup(e->d_name);
    }
    closedir(d);
    qsort(files, nfiles, sizeof(files[0]), cmp_str);
    static const char *const required[] = {"comments.json", "delimiters.json",    "interpolation.json",
                                           "inverted.json", "partials.json",      "sections.json",
                                           "~dynamic-names.json", "~inheritance.json"};
    for (size_t r = 0; r < sizeof(required) / sizeof(required[0]); r++) {
        bool found = false;
        for (size_t f = 0; f < nfiles; f++)
            found |= strcmp(files[f], required[r]) == 0;
        if (!found)
            fail_msg("spec file %s/%s is missing", dir, required[r]);
    }
    int failed = 0, total = 0;
    for (size_t f = 0; f < nfiles; f++) {
        int n = 0;
        failed += run_spec_file(dir, files[f], &n);
        total += n;
        free(files[f]);
    }
    printf("# mustache spec: %d of %d cases passed\n", total - failed, total);
    if (failed)
        fail_msg("%d of %d mustache spec cases failed (listed above)", failed, total);
    assert_true(total >= 180);
}

/* ---- modes, values, Unicode ---- */

static void test_escaping_and_text_mode(void **state)
{
    (void)state;
    const char *data = "{\"x\":\"<b>Tom & 'Jerry'</b> \\\"q\\\"\"}";
    expect_html("{{x}}", data, "&lt;b&gt;Tom &amp; &#39;Jerry&#39;&lt;/b&gt; &quot;q&quot;");
    expect_html("{{{x}}}|{{&x}}", data, "<b>Tom & 'Jerry'</b> \"q\"|<b>Tom & 'Jerry'</b> \"q\"");
    expect_text("{{x}}|{{{x}}}|{{&x}}", data,
                "<b>Tom & 'Jerry'</b> \"q\"|<b>Tom & 'Jerry'</b> \"q\"|<b>Tom & 'Jerry'</b> \"q\"");
    /* template text itself is never escaped, in either mode */
    expect_html("<p class=\"a\">&nbsp;{{x}}</p>", "{\"x\":\"&\"}", "<p class=\"a\">&nbsp;&amp;</p>");
    expect_text("Hi {{name}}, reply STOP to opt out", "{\"name\":\"A&B <Ltd>\"}", "Hi A&B <Ltd>, reply STOP to opt out");
    /* partials render in the caller's mode */
    expect_n("[{{>p}}]", "{\"x\":\"<&>\"}", "{\"p\":\"{{x}}\"}", TEMPLATE_TEXT, "[<&>]", __LINE__);
    expect_n("[{{>p}}]", "{\"x\":\"<&>\"}", "{\"p\":\"{{x}}\"}", TEMPLATE_HTML, "[&lt;&amp;&gt;]", __LINE__);
    /* a NUL character in data never reaches the output */
    struct buf out;
    struct template_error err;
    assert_int_equal(render_n("[{{x}}|{{{x}}}]", 15, "{\"x\":\"a\\u0000b\"}", NULL, TEMPLATE_HTML, 0, &out, &err), 0);
    assert_int_equal(out.len, strlen("[ab|ab]"));
    assert_string_equal(out.data, "[ab|ab]");
    buf_free(&out);
}

static void test_values(void **state)
{
    (void)state;
    expect_html("{{i}} {{n}} {{r}} {{s}} {{z}} {{big}}",
                "{\"i\":42,\"n\":-7,\"r\":1.210,\"s\":0.1,\"z\":-0.0,\"big\":9007199254740993}",
                "42 -7 1.21 0.1 0 9007199254740993");
    expect_html("{{a}} {{b}} {{c}} {{d}}", "{\"a\":3.0,\"b\":1e21,\"c\":0.30000000000000004,\"d\":-2.5}",
                "3 1e+21 0.30000000000000004 -2.5");
    expect_html("[{{t}}|{{f}}|{{nul}}|{{obj}}|{{arr}}|{{missing}}]",
                "{\"t\":true,\"f\":false,\"nul\":null,\"obj\":{\"a\":1},\"arr\":[1,2]}", "[true|false||||]");
    /* truthiness as !!value in JavaScript */
    const char *falsy = "{\"a\":false,\"b\":null,\"c\":0,\"d\":0.0,\"e\":\"\",\"f\":[]}";
    expect_html("{{#a}}A{{/a}}{{#b}}B{{/b}}{{#c}}C{{/c}}{{#d}}D{{/d}}{{#e}}E{{/e}}{{#f}}F{{/f}}{{#g}}G{{/g}}", falsy, "");
    expect_html("{{^a}}A{{/a}}{{^b}}B{{/b}}{{^c}}C{{/c}}{{^d}}D{{/d}}{{^e}}E{{/e}}{{^f}}F{{/f}}{{^g}}G{{/g}}", falsy,
                "ABCDEFG");
    expect_html("{{#o}}[{{.}}]{{/o}}{{#s}}<{{.}}>{{/s}}{{#n}}({{.}}){{/n}}", "{\"o\":{},\"s\":\" \",\"n\":-1}",
                "[]< >(-1)");
    /* dotted names, array indices, the context stack */
    expect_html("{{items.0.sku}} {{items.1.sku}} {{items.2.sku}} {{items.x}} {{customer.attrs.coupon}}",
                "{\"items\":[{\"sku\":\"A1\"},{\"sku\":\"B2\"}],\"customer\":{\"attrs\":{\"coupon\":\"SAVE10\"}}}",
                "A1 B2   SAVE10");
    expect_html("{{#items}}{{sku}}x{{qty}}@{{shop}};{{/items}}",
                "{\"shop\":\"S\",\"items\":[{\"sku\":\"A\",\"qty\":2},{\"sku\":\"B\",\"qty\":1,\"shop\":\"T\"}]}",
                "Ax2@S;Bx1@T;");
    expect_html("{{#list}}{{#.}}{{.}}{{/.}},{{/list}}", "{\"list\":[[1,2],[],[\"a\"]]}", "12,,a,");
    expect_html("{{.}}", "\"top\"", "top");
    expect_html("[{{.}}]", "null", "[]");
    /* NULL data is null */
    struct template *t;
    const char *src = "[{{a}}{{#b}}x{{/b}}{{^c}}y{{/c}}]";
    assert_int_equal(template_compile(src, strlen(src), &t, NULL), 0);
    struct buf out;
    buf_init(&out, 0);
    assert_int_equal(template_render(t, NULL, TEMPLATE_HTML, NULL, NULL, &out, NULL), 0);
    assert_string_equal(out.data, "[y]");
    buf_free(&out);
    template_free(t);
}

static void test_unicode(void **state)
{
    (void)state;
    const char *data = "{\"customer\":{\"name\":\"王小明\",\"attrs\":{\"coupon\":\"满100减20\"}},"
                       "\"items\":[\"茶叶\",\"月饼🥮\"],\"emoji\":\"🎉👍🏽\",\"客户\":{\"姓名\":\"李雷\"}}";
    expect_html("尊敬的{{customer.name}}：您的优惠券 {{customer.attrs.coupon}} {{emoji}}", data,
                "尊敬的王小明：您的优惠券 满100减20 🎉👍🏽");
    expect_text("{{#items}}{{.}}、{{/items}}退订回TD", data, "茶叶、月饼🥮、退订回TD");
    expect_html("{{客户.姓名}}您好", data, "李雷您好");
    expect_html("「{{=《 》=}}《customer.name》」", data, "「王小明」");
    expect_partials("你好\n  {{>签名}}\n", data, "{\"签名\":\"客服中心\\n☎ 400\"}", "你好\n  客服中心\n  ☎ 400");
    /* columns count characters, not bytes */
    compile_error("亲爱的{{#客户}}你好", 1, 13, "unclosed section '客户' opened at 1:4");
    compile_error("第一行\n😀😀{{/x}}", 2, 3, "close tag 'x' without an open section");
}

/* ---- errors and limits ---- */

static void test_compile_errors(void **state)
{
    (void)state;
    compile_error("Hi\n\n  {{#items}}\n  {{name}}\n", 5, 1, "unclosed section 'items' opened at 3:3");
    compile_error("{{#a}}{{^b}}{{/b}}", 1, 19, "unclosed section 'a' opened at 1:1");
    compile_error("{{^a}}x", 1, 8, "unclosed inverted section 'a' opened at 1:1");
    compile_error("{{<layout}}{{$body}}x{{/body}}", 1, 31, "unclosed parent 'layout' opened at 1:1");
    compile_error("{{#a}}\n{{#b}}\n{{/a}}\n{{/b}}", 3, 1, "close tag 'a' does not match section 'b' opened at 2:1");
    compile_error("ok {{/a}}", 1, 4, "close tag 'a' without an open section");
    compile_error("{{#a.b}}{{/a}}", 1, 9, "close tag 'a' does not match section 'a.b' opened at 1:1");
    compile_error("Hello {{name", 1, 7, "unclosed tag: '{{' without a matching '}}'");
    compile_error("Hello {{{name}}", 1, 7, "unclosed tag: '{{' without a matching '}}}'");
    compile_error("x\n{{! never closed", 2, 1, "unclosed tag: '{{' without a matching '}}'");
    compile_error("{{=<% %>=}}\n<%name}}", 2, 1, "unclosed tag: '<%' without a matching '%>'");
    const char *bad_delim = "bad delimiter tag: want two delimiters separated by white space, as {{=<% %>=}}";
    compile_error("{{=<%=}}", 1, 1, bad_delim);
    compile_error("a {{= <% %> | =}}", 1, 3, bad_delim);
    compile_error("{{==}}", 1, 1, bad_delim);
    compile_error("{{=<% %>}}", 1, 1, "unclosed tag: '{{' without a matching '=}}'");
    compile_error("{{=<= =>=}}", 1, 1, "bad delimiter tag: a delimiter may not contain '='");
    compile_error("{{=[[[[[[[[[[[[[[[[[ ]]=}}", 1, 1, "bad delimiter tag: a delimiter may have at most 16 bytes");
    compile_error("a{{}}", 1, 2, "empty name in tag");
    compile_error("{{# }}{{/ }}", 1, 1, "empty name in tag");
    compile_error("{{first name}}", 1, 1, "name 'first name' contains white space");
    compile_error("{{a..b}}", 1, 1, "invalid name 'a..b' (an empty part between dots)");
    compile_error("{{#.a}}{{/.a}}", 1, 1, "invalid name '.a' (an empty part between dots)");
    compile_error("{{>}}", 1, 1, "empty name in tag");
    compile_error("{{>*}}", 1, 1, "empty name in tag");
    compile_error("ab\xff", 1, 3, "invalid UTF-8 at byte 2");
    compile_error("a\n\xed\xa0\x80", 2, 1, "invalid UTF-8 at byte 2"); /* a surrogate */
    compile_error("\xc0\xaf", 1, 1, "invalid UTF-8 at byte 0");        /* overlong */
    compile_error("\xe4\xbd", 1, 1, "invalid UTF-8 at byte 0");        /* cut short */
    compile_error_n("a\0b", 3, 1, 2, "NUL byte at byte 1", __LINE__);
    /* delimiters apply to the rest of this template only */
    expect_partials("{{=| |=}}|>p| |x|", "{\"x\":1}", "{\"p\":\"{{x}}|x|\"}", "1|x| 1");
    /* dynamic close tags name the star too */
    expect_partials("{{<*layout}}{{$b}}B{{/b}}{{/*layout}}", "{\"layout\":\"l\"}", "{\"l\":\"<{{$b}}{{/b}}>\"}", "<B>");
    compile_error("{{<*layout}}{{/layout}}", 1, 13, "close tag 'layout' does not match parent 'layout' opened at 1:1");
    /* err may be NULL; out is NULL on error */
    struct template *t = NULL;
    assert_int_equal(template_compile("{{#a}}", 6, &t, NULL), -1);
    assert_null(t);
    assert_int_equal(template_compile(NULL, 0, &t, NULL), 0);
    template_free(t);
    template_free(NULL);
}

static void test_limits(void **state)
{
    (void)state;
    struct template *t;
    struct template_error err;
    /* source size */
    char *big = repeat("x", TEMPLATE_MAX_SOURCE + 1);
    assert_int_equal(template_compile(big, TEMPLATE_MAX_SOURCE, &t, &err), 0);
    template_free(t);
    assert_int_equal(template_compile(big, TEMPLATE_MAX_SOURCE + 1, &t, &err), -1);
    assert_string_equal(err.message, "template longer than 262144 bytes");
    free(big);
    /* nesting in the source: 64 levels compile, 65 do not */
    char *open64 = repeat("{{#a}}", 64), *close64 = repeat("{{/a}}", 64);
    size_t n = strlen(open64);
    char *src = malloc(2 * n + 16);
    snprintf(src, 2 * n + 16, "%sx%s", open64, close64);
    expect_html(src, "{\"a\":{\"a\":true}}", "x");
    snprintf(src, 2 * n + 16, "{{#a}}%sx%s{{/a}}", open64, close64);
    compile_error_n(src, strlen(src), 1, 64 * 6 + 1, "sections, parents and blocks nested deeper than 64", __LINE__);
    free(open64);
    free(close64);
    free(src);
    /* recursion through partials: at most 16 deep, never forever */
    render_error("{{>self}}", "{}", "{\"self\":\"a{{>self}}\"}", 0,
                 "in partial 'self': partials nested deeper than 16 ('self' includes itself?)");
    render_error("{{<p}}{{/p}}", "{}", "{\"p\":\"{{<p}}{{/p}}\"}", 0, "partials nested deeper than 16");
    expect_partials("{{>node}}", "{\"v\":1,\"kids\":[{\"v\":2,\"kids\":[{\"v\":3,\"kids\":[]}]}]}",
                    "{\"node\":\"{{v}}({{#kids}}{{>node}}{{/kids}})\"}", "1(2(3()))");
    /* nesting while rendering: sections inside recursive partials count too */
    render_error("{{>p}}", "{\"a\":{}}", "{\"p\":\"{{#a}}{{#a}}{{#a}}{{#a}}{{#a}}{{>p}}{{/a}}{{/a}}{{/a}}{{/a}}{{/a}}\"}",
                 0, "nested deeper than 64");
    /* the position of a render error is the tag's, in the partial named */
    json_t *d = parse("{}");
    struct partials p = {parse("{\"self\":\"line one\\n  {{>self}}\"}"), 0};
    assert_int_equal(template_compile("{{>self}}", 9, &t, &err), 0);
    struct buf out;
    buf_init(&out, 0);
    assert_int_equal(template_render(t, d, TEMPLATE_HTML, map_partial, &p, &out, &err), -1);
    assert_int_equal(err.line, 2);
    assert_int_equal(err.col, 3);
    assert_int_equal(out.len, 0);
    buf_free(&out);
    template_free(t);
    json_decref(p.map);
    /* work: nested loops over a list whose body renders nothing stop with an error */
    json_t *list = json_array();
    for (int i = 0; i < 100; i++)
        json_array_append_new(list, json_integer(i));
    json_object_set_new(d, "l", list);
    assert_int_equal(template_compile("{{#l}}{{#l}}{{#l}}{{#l}}{{/l}}{{/l}}{{/l}}{{/l}}", 48, &t, &err), 0);
    buf_init(&out, 0);
    assert_int_equal(template_render(t, d, TEMPLATE_HTML, NULL, NULL, &out, &err), -1);
    assert_contains(err.message, "rendering needs more than 4194304 steps");
    buf_free(&out);
    template_free(t);
    json_decref(d);
    /* the output cap */
    render_error("{{#l}}0123456789{{/l}}", "{\"l\":[1,2,3,4,5,6,7,8,9,10]}", NULL, 64, "output longer than 64 bytes");
    render_error("{{x}}", "{\"x\":\"&&&&&&&&&&&&&&&&\"}", NULL, 64, "output longer than 64 bytes");
    render_error("\n  {{>p}}", "{}", "{\"p\":\"a\\nb\\nc\\nd\\ne\\nf\\ng\\nh\\ni\\nj\\nk\\nl\\nm\\nn\\no\\np\\n\"}", 20,
                 "output longer than 20 bytes");
    struct buf ok;
    assert_int_equal(render_n("{{#l}}0123456789{{/l}}", 22, "{\"l\":[1,2,3,4,5,6]}", NULL, TEMPLATE_HTML, 64, &ok, &err), 0);
    assert_int_equal(ok.len, 60);
    buf_free(&ok);
    /* a partial that does not compile is an error naming it and its position */
    render_error("a\n {{>bad}}", "{}", "{\"bad\":\"ok\\n{{#x}}\"}", 0, "partial 'bad' at 2:7: unclosed section 'x' opened at 2:1");
    render_error("{{>*name}}", "{\"name\":\"bad\"}", "{\"bad\":\"\\u00ff{{\"}", 0, "partial 'bad' at 1:2: unclosed tag");
    /* a data-chosen partial name that is not a string or number renders nothing */
    expect_partials("[{{>*n}}{{>*o}}{{>*b}}{{>*z}}]", "{\"n\":7,\"o\":{},\"b\":true,\"z\":\"\"}",
                    "{\"7\":\"seven\",\"true\":\"T\"}", "[seven]");
    /* no callback: partials render as nothing */
    const char *nop = "[{{>p}}{{<q}}{{$b}}x{{/b}}{{/q}}]";
    assert_int_equal(template_compile(nop, strlen(nop), &t, &err), 0);
    buf_init(&out, 0);
    assert_int_equal(template_render(t, NULL, TEMPLATE_TEXT, NULL, NULL, &out, &err), 0);
    assert_string_equal(out.data, "[]");
    buf_free(&out);
    template_free(t);
}

/* ---- partials, the cache, inheritance as a marketer uses it ---- */

static void test_partials_and_cache(void **state)
{
    (void)state;
    json_t *d = parse("{\"name\":\"Ann\",\"items\":[1,2,3,4,5]}");
    struct partials p = {parse("{\"item\":\"<li>{{.}}</li>\",\"footer\":\"-- {{name}}\"}"), 0};
    struct template *t;
    struct template_error err;
    const char *src = "{{#items}}{{>item}}{{>missing}}{{/items}}{{>footer}}";
    assert_int_equal(template_compile(src, strlen(src), &t, &err), 0);
    struct buf out;
    buf_init(&out, 0);
    /* without a cache: each name is asked for once per render, found or not */
    assert_int_equal(template_render(t, d, TEMPLATE_HTML, map_partial, &p, &out, &err), 0);
    assert_string_equal(out.data, "<li>1</li><li>2</li><li>3</li><li>4</li><li>5</li>-- Ann");
    assert_int_equal(p.calls, 3);
    /* with a cache: asked again on each render (the text may have changed), compiled once */
    struct template_cache *cache = template_cache_new();
    assert_non_null(cache);
    p.calls = 0;
    for (int i = 0; i < 3; i++) {
        buf_reset(&out);
        assert_int_equal(template_render_cached(t, d, TEMPLATE_HTML, map_partial, &p, cache, &out, &err), 0);
        assert_string_equal(out.data, "<li>1</li><li>2</li><li>3</li><li>4</li><li>5</li>-- Ann");
    }
    assert_int_equal(p.calls, 9);
    /* a changed partial is recompiled */
    json_object_set_new(p.map, "footer", json_string("== {{name}} =="));
    buf_reset(&out);
    assert_int_equal(template_render_cached(t, d, TEMPLATE_TEXT, map_partial, &p, cache, &out, &err), 0);
    assert_string_equal(out.data, "<li>1</li><li>2</li><li>3</li><li>4</li><li>5</li>== Ann ==");
    /* more names than cache slots (dynamic names from data) */
    json_t *many = json_array();
    for (int i = 0; i < 200; i++) {
        char name[16], body[32];
        snprintf(name, sizeof(name), "p%d", i);
        snprintf(body, sizeof(body), "<%d>", i % 10);
        json_object_set_new(p.map, name, json_string(body));
        json_array_append_new(many, json_pack("{s:s}", "n", name));
    }
    json_object_set_new(d, "many", many);
    template_free(t);
    const char *dyn = "{{#many}}{{>*n}}{{/many}}{{#many}}{{>*n}}{{/many}}";
    assert_int_equal(template_compile(dyn, strlen(dyn), &t, &err), 0);
    struct buf again;
    buf_init(&again, 0);
    buf_reset(&out);
    assert_int_equal(template_render_cached(t, d, TEMPLATE_HTML, map_partial, &p, cache, &out, &err), 0);
    assert_int_equal(template_render(t, d, TEMPLATE_HTML, map_partial, &p, &again, &err), 0);
    assert_int_equal(out.len, 3 * 400);
    assert_string_equal(out.data, again.data);
    assert_int_equal(strncmp(out.data, "<0><1><2>", 9), 0); /* template text: never escaped */
    buf_free(&again);
    template_cache_free(cache);
    template_cache_free(NULL);
    buf_free(&out);
    template_free(t);
    json_decref(p.map);
    json_decref(d);
}

static void test_layouts(void **state)
{
    (void)state;
    const char *partials = "{\"layout\":\"<html>\\n<head><title>{{$title}}Switchboard{{/title}}</title></head>\\n"
                           "<body>\\n  {{$body}}\\n  <p>nothing here</p>\\n  {{/body}}\\n"
                           "  {{>footer}}\\n</body>\\n</html>\\n\","
                           "\"footer\":\"<footer>\\n  <a href=\\\"{{unsubscribe_url}}\\\">Unsubscribe</a>\\n</footer>\\n\"}";
    const char *data = "{\"customer\":{\"name\":\"O'Brien & Sons\"},\"unsubscribe_url\":\"https://x.test/u?t=a&b=c\"}";
    expect_partials("{{<layout}}\n"
                    "{{$title}}Hello {{customer.name}}{{/title}}\n"
                    "{{$body}}\n"
                    "<h1>Hi {{customer.name}}</h1>\n"
                    "<p>Our sale starts today.</p>\n"
                    "{{/body}}\n"
                    "{{/layout}}\n",
                    data, partials,
                    "<html>\n"
                    "<head><title>Hello O&#39;Brien &amp; Sons</title></head>\n"
                    "<body>\n"
                    "  <h1>Hi O&#39;Brien &amp; Sons</h1>\n"
                    "  <p>Our sale starts today.</p>\n"
                    "  <footer>\n"
                    "    <a href=\"https://x.test/u?t=a&amp;b=c\">Unsubscribe</a>\n"
                    "  </footer>\n"
                    "</body>\n"
                    "</html>\n");
    /* the layout alone renders its defaults */
    expect_partials("{{>layout}}", data, partials,
                    "<html>\n<head><title>Switchboard</title></head>\n<body>\n  <p>nothing here</p>\n"
                    "  <footer>\n    <a href=\"https://x.test/u?t=a&amp;b=c\">Unsubscribe</a>\n  </footer>\n"
                    "</body>\n</html>\n");
    /* a standalone partial indents template lines, never the lines of a value */
    expect_partials("<ul>\n  {{>li}}\n</ul>\n", "{\"v\":\"a\\nb\",\"l\":[1,2]}",
                    "{\"li\":\"{{#l}}\\n<li>{{{v}}}</li>\\n\\n{{/l}}\\n\"}",
                    "<ul>\n  <li>a\nb</li>\n  \n  <li>a\nb</li>\n  \n</ul>\n");
}

/* ---- speed ---- */

static void test_render_speed(void **state)
{
    (void)state;
    const char *src = "{{<layout}}{{$body}}\n"
                      "<p>尊敬的 {{customer.name}}，</p>\n"
                      "{{#customer.attrs.coupon}}<p>Your coupon: <b>{{.}}</b></p>{{/customer.attrs.coupon}}\n"
                      "<ul>\n{{#items}}  <li>{{name}} × {{qty}} — {{price}}</li>\n{{/items}}</ul>\n"
                      "{{^items}}<p>No orders yet.</p>{{/items}}\n"
                      "{{/body}}{{/layout}}";
    struct partials p = {parse("{\"layout\":\"<div>\\n{{$body}}{{/body}}\\n{{>footer}}</div>\","
                               "\"footer\":\"<a href=\\\"{{unsubscribe_url}}\\\">退订</a>\\n\"}"),
                         0};
    json_t *d = parse("{\"customer\":{\"name\":\"王小明 <VIP>\",\"attrs\":{\"coupon\":\"SAVE10\"}},"
                      "\"items\":[{\"name\":\"茶叶\",\"qty\":2,\"price\":19.9},{\"name\":\"Mug & lid\",\"qty\":1,"
                      "\"price\":7}],\"unsubscribe_url\":\"https://x.test/u/1\"}");
    struct template *t;
    struct template_error err;
    assert_int_equal(template_compile(src, strlen(src), &t, &err), 0);
    struct template_cache *cache = template_cache_new();
    struct buf out;
    buf_init(&out, 1 << 20);
    const char *want = "<div>\n<p>尊敬的 王小明 &lt;VIP&gt;，</p>\n<p>Your coupon: <b>SAVE10</b></p>\n<ul>\n"
                       "  <li>茶叶 × 2 — 19.9</li>\n  <li>Mug &amp; lid × 1 — 7</li>\n</ul>\n\n\n"
                       "<a href=\"https://x.test/u/1\">退订</a>\n</div>";
    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    for (int i = 0; i < 100000; i++) {
        buf_reset(&out);
        if (template_render_cached(t, d, TEMPLATE_HTML, map_partial, &p, cache, &out, &err) != 0)
            fail_msg("render %d: %s", i, err.message);
        if (i == 0 && strcmp(out.data, want) != 0)
            fail_msg("got:\n%s\nwant:\n%s", out.data, want);
    }
    clock_gettime(CLOCK_MONOTONIC, &b);
    double secs = (double)(b.tv_sec - a.tv_sec) + (double)(b.tv_nsec - a.tv_nsec) / 1e9;
    printf("# 100000 renders of a %zu-byte message in %.3f s (%.2f us each)\n", out.len, secs, secs * 10);
    assert_string_equal(out.data, want);
    buf_free(&out);
    template_cache_free(cache);
    template_free(t);
    json_decref(d);
    json_decref(p.map);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_spec),
        cmocka_unit_test(test_escaping_and_text_mode),
        cmocka_unit_test(test_values),
        cmocka_unit_test(test_unicode),
        cmocka_unit_test(test_compile_errors),
        cmocka_unit_test(test_limits),
        cmocka_unit_test(test_partials_and_cache),
        cmocka_unit_test(test_layouts),
        cmocka_unit_test(test_render_speed),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
