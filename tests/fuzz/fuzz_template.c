/* fuzz_template.c — arbitrary bytes as a mustache template → template_compile and
 * template_render (gateway/template.h) against a fixed JSON context. Partials whose name
 * starts with a-m are the input itself (so recursion, inheritance and dynamic names reach
 * the fuzzed text), n-z a fixed layout with blocks, anything else is unknown.
 * Invariants: no crash, leak, hang or read past len; compiling and rendering are
 * deterministic, with or without a partial cache and through template_render_string;
 * compile errors carry a position inside the source and a non-empty UTF-8 message, and
 * leave no template; success implies the source was valid UTF-8 without NUL; a successful
 * render's output is valid UTF-8 (the source and the data are), a failed one leaves the
 * buffer as it was and explains itself. */
#include "tests/fuzz/fuzz.h"
#include "gateway/lib/buf.h"
#include "gateway/lib/text.h"
#include "gateway/template.h"
#include <string.h>

#define OUT_CAP (64 * 1024)

static json_t *data;

static const char layout[] = "<{{$a}}A:{{a}}{{/a}}>\n"
                             "  {{$b}}\n"
                             "  B {{#l}}({{.}}){{/l}}\n"
                             "  {{/b}}\n"
                             "{{^c}}[{{$c}}{{/c}}]{{/c}}";

struct src {
    const char *s;
    size_t n;
};

static const char *partial(void *arg, const char *name, size_t *len)
{
    const struct src *in = arg;
    if (name[0] >= 'a' && name[0] <= 'm') {
        *len = in->n;
        return in->s;
    }
    if (name[0] >= 'n' && name[0] <= 'z') {
        *len = sizeof(layout) - 1;
        return layout;
    }
    return NULL;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    json_error_t je;
    data = json_loads("{\"a\":\"<b>&\\\"'</b>\",\"b\":true,\"c\":false,\"d\":null,\"e\":0,\"f\":1.5,\"g\":-42,"
                      "\"h\":\"\",\"i\":[],\"j\":{},\"n\":\"中文🎉\",\"s\":\"self\",\"o\":\"other\",\"m\":\"missing\","
                      "\"q\":7,\"l\":[1,\"two\",{\"a\":\"x\",\"l\":[3]},[4,5],null,true],"
                      "\"x\":{\"y\":{\"z\":\"deep\",\"l\":[\"p\",\"q\"]},\"s\":\"other\"},"
                      "\"t\":\"{{a}}\\n{{>self}}\",\"k\":\"line1\\nline2\",\"nodes\":[{\"nodes\":[]}]}",
                      0, &je);
    FUZZ_CHECK(data != NULL);
    return 0;
}

static void check_error(const struct template_error *e)
{
    size_t m = strlen(e->message);
    FUZZ_CHECK(m > 0 && m < sizeof(e->message));
    FUZZ_CHECK(utf8_valid(e->message, m));
}

/* Renders into a buffer that already holds a prefix; checks the contract, returns rc. */
static int render(const struct template *t, enum template_mode mode, struct template_cache *cache, const struct src *in,
                  struct buf *out, struct template_error *err)
{
    buf_init(out, OUT_CAP);
    FUZZ_CHECK(buf_puts(out, "pre") == 0);
    int rc = template_render_cached(t, data, mode, partial, (void *)in, cache, out, err);
    FUZZ_CHECK(rc == 0 || rc == -1);
    FUZZ_CHECK(out->len >= 3 && memcmp(out->data, "pre", 3) == 0);
    FUZZ_CHECK(out->len <= OUT_CAP);
    if (rc == 0) {
        FUZZ_CHECK(err->message[0] == '\0');
        FUZZ_CHECK(utf8_valid(out->data, out->len));
    } else {
        FUZZ_CHECK(out->len == 3 && out->data[3] == '\0');
        check_error(err);
    }
    return rc;
}

static void same(const struct buf *a, int rca, const struct template_error *ea, const struct buf *b, int rcb,
                 const struct template_error *eb)
{
    FUZZ_CHECK(rca == rcb);
    FUZZ_CHECK(a->len == b->len && memcmp(a->data, b->data, a->len) == 0);
    FUZZ_CHECK(strcmp(ea->message, eb->message) == 0 && ea->line == eb->line && ea->col == eb->col);
}

int LLVMFuzzerTestOneInput(const uint8_t *bytes, size_t size)
{
    if (size > 8192)
        return 0;
    /* An exact-size copy without a terminator: ASan catches any read past len. */
    char *s = malloc(size ? size : 1);
    if (!s)
        return 0;
    if (size)
        memcpy(s, bytes, size);
    struct src in = {s, size};

    struct template *t = NULL, *t2 = NULL;
    struct template_error ea, eb;
    int rc = template_compile(s, size, &t, &ea);
    int rc2 = template_compile(s, size, &t2, &eb);
    FUZZ_CHECK(rc == 0 || rc == -1);
    FUZZ_CHECK(rc == rc2);
    if (rc < 0) {
        FUZZ_CHECK(t == NULL && t2 == NULL);
        check_error(&ea);
        FUZZ_CHECK(strcmp(ea.message, eb.message) == 0 && ea.line == eb.line && ea.col == eb.col);
        FUZZ_CHECK(ea.line >= 1 && ea.col >= 1 && ea.line <= size + 1 && ea.col <= size + 1);
        free(s);
        return 0;
    }
    FUZZ_CHECK(t != NULL && ea.message[0] == '\0');
    FUZZ_CHECK(utf8_valid(s, size) && (size == 0 || memchr(s, '\0', size) == NULL));

    /* HTML without a cache, then twice through one cache, and on the second compile. */
    struct template_cache *cache = template_cache_new();
    FUZZ_CHECK(cache != NULL);
    struct buf a, b, c, d;
    struct template_error ec, ed;
    int ra = render(t, TEMPLATE_HTML, NULL, &in, &a, &ea);
    int rb = render(t, TEMPLATE_HTML, cache, &in, &b, &eb);
    same(&a, ra, &ea, &b, rb, &eb);
    buf_free(&b);
    rb = render(t2, TEMPLATE_HTML, cache, &in, &b, &eb);
    same(&a, ra, &ea, &b, rb, &eb);

    /* TEXT mode: same shape of answer, never longer when nothing was escaped */
    int rc3 = render(t, TEMPLATE_TEXT, cache, &in, &c, &ec);
    if (ra == 0 && rc3 == 0)
        FUZZ_CHECK(c.len <= a.len);

    /* compile + render in one call */
    buf_init(&d, OUT_CAP);
    FUZZ_CHECK(buf_puts(&d, "pre") == 0);
    int rd = template_render_string(s, size, data, TEMPLATE_HTML, partial, &in, &d, &ed);
    same(&a, ra, &ea, &d, rd, &ed);

    buf_free(&a);
    buf_free(&b);
    buf_free(&c);
    buf_free(&d);
    template_cache_free(cache);
    template_free(t);
    template_free(t2);
    free(s);
    return 0;
}
