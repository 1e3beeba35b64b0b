/* fuzz_kbtext.c — knowledge-base text on arbitrary bytes: the Markdown renderer (HTML and
 * text) and the search tokeniser.
 * Invariants: rendering ends and succeeds; the HTML has no '<' that is not one of the
 * renderer's own tags (raw HTML never passes) and no "javascript:" href; the text output
 * is no longer than a bound of the input; every token is 2..SEARCH_TOKEN_MAX bytes of
 * lower-case ASCII, digits or multi-byte UTF-8 (never a space or ASCII punctuation), and
 * its span lies inside the input, in order. */
#include "tests/fuzz/fuzz.h"
#include "gateway/lib/buf.h"
#include "gateway/lib/markdown.h"
#include "gateway/lib/search_text.h"
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    return 0;
}

static const char *const tags[] = {"<p>", "</p>", "<h1>", "</h1>", "<h2>", "</h2>", "<h3>", "</h3>", "<h4>", "</h4>",
                                   "<h5>", "</h5>", "<h6>", "</h6>", "<ul>", "</ul>", "<ol>", "</ol>", "<li>", "</li>",
                                   "<blockquote>", "</blockquote>", "<pre><code>", "</pre>", "<code>", "</code>",
                                   "<strong>", "</strong>", "<em>", "</em>", "<a href=\"", "</a>", "<hr>", "<table>",
                                   "</table>", "<thead>", "</thead>", "<tbody>", "</tbody>", "<tr>", "</tr>", "<th>",
                                   "</th>", "<td>", "</td>", NULL};

static void check_html(const char *h)
{
    for (const char *p = strchr(h, '<'); p; p = strchr(p + 1, '<')) {
        int known = 0;
        for (size_t i = 0; tags[i] && !known; i++)
            known = strncmp(p, tags[i], strlen(tags[i])) == 0;
        FUZZ_CHECK(known);
    }
    FUZZ_CHECK(!strstr(h, "href=\"javascript:") && !strstr(h, "href=\"JAVASCRIPT:"));
}

struct seen {
    size_t n, last_from;
};

static int each(const char *t, size_t n, size_t from, size_t to, void *arg)
{
    struct seen *s = arg;
    FUZZ_CHECK(n >= 2 && n <= SEARCH_TOKEN_MAX);
    FUZZ_CHECK(from < to && to <= s->n && from >= s->last_from);
    s->last_from = from;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)t[i];
        FUZZ_CHECK(c >= 0x80 || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'));
    }
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s = malloc(size + 1);
    if (!s)
        return 0;
    memcpy(s, data, size);
    s[size] = '\0'; /* an embedded NUL ends the text, as for a C string */
    struct buf b;
    buf_init(&b, 0);
    FUZZ_CHECK(markdown_html(s, &b) == 0);
    check_html(b.data ? b.data : "");
    buf_free(&b);
    buf_init(&b, 0);
    FUZZ_CHECK(markdown_text(s, &b) == 0);
    FUZZ_CHECK(b.len <= 2 * strlen(s) + 16);
    buf_free(&b);
    struct seen sn = {strlen(s), 0};
    FUZZ_CHECK(search_tokens_each(s, each, &sn) == 0);
    free(s);
    return 0;
}
