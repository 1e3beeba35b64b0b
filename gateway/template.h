/* template.h — the mustache template engine for message bodies, subjects and SMS texts
 * (DESIGN.md section 7: `{{customer.name}}`, `{{customer.attrs.coupon}}`,
 * `{{unsubscribe_url}}`). A template is compiled once into an immutable instruction tree and
 * then rendered any number of times against jansson data, e.g. once per campaign recipient.
 *
 * The language is mustache as in the official specification (comments, delimiters,
 * interpolation, inverted, partials, sections, and the optional ~inheritance and
 * ~dynamic-names parts; no lambdas: data is JSON):
 *     {{name}} {{a.b.c}} {{.}}     the value, HTML-escaped in TEMPLATE_HTML mode
 *     {{{name}}} {{&name}}         the value as it is (the template author's choice)
 *     {{#name}}..{{/name}}         once per list item, once for another truthy value
 *     {{^name}}..{{/name}}         once when the value is falsy
 *     {{! comment }}  {{=<% %>=}}  comments; new tag delimiters (this template only)
 *     {{>name}} {{>*name}}         a partial; `*`: the partial named by the value of name
 *     {{<name}}{{$b}}..{{/b}}{{/name}}   the partial `name` with its block b replaced
 *     {{$b}}default{{/b}}          a block a caller may replace
 * Names are looked up through the context stack (innermost section value first); in a
 * dotted name only the first part walks the stack, the rest must follow from it. A part made
 * of digits also indexes an array (`{{items.0.sku}}`). Falsy, as `!!value` in JavaScript:
 * missing, null, false, 0, "" and [] (an empty object is truthy). Values render as: strings
 * as they are (NUL characters dropped), integers in decimal, reals in the shortest form that
 * reads back exactly (1.210 -> "1.21", 3.0 -> "3"), true/false as "true"/"false", null,
 * objects and arrays as nothing. HTML escaping replaces & < > " ' with &amp; &lt; &gt; &quot;
 * &#39;; TEMPLATE_TEXT (SMS, subjects, text parts) escapes nothing anywhere.
 * Standalone lines (a line holding only white space and one section, comment, partial,
 * delimiter, parent or block tag) leave no trace in the output; a standalone partial or
 * parent indents every line of its template by the white space before the tag; blocks are
 * re-indented as the ~inheritance spec describes. Whitespace inside a tag is ignored; a name
 * may not contain white space or an empty dotted part ("a..b").
 *
 * Partials (and parents) come from the caller: partial(arg, name, &len) returns the source
 * of the partial `name` (any bytes of `len` length, valid only until the callback is called
 * again or the render returns) or NULL when there is none, which renders as nothing. With a
 * dynamic name (`{{>*field}}`) the name is the value of field (a string or a number; any
 * other value renders nothing): it comes from the data, treat it as untrusted. A partial is
 * compiled on first use and validated like a template; a partial that does not compile is a
 * render error naming it. Within one render the callback is asked about each name once
 * (again only when more than 64 different partials pushed it out), and must give the same
 * answer each time. A template_cache keeps compiled partials between renders: the callback
 * is still asked once per name and render, and the partial is compiled again only when its
 * text changed.
 *
 * Limits against hostile templates and data: source (template or partial) at most
 * TEMPLATE_MAX_SOURCE bytes of valid UTF-8 without NUL; sections, partials, parents and
 * blocks nested at most TEMPLATE_MAX_DEPTH deep (in the source and while rendering);
 * partials and parents at most TEMPLATE_MAX_PARTIAL_DEPTH deep (recursion); a render does
 * at most TEMPLATE_MAX_STEPS units of work (so nested loops over big lists cannot run for
 * minutes); the output is bounded by the cap of the caller's buf (buf_init(&b, cap)). When
 * source and data are valid UTF-8, so is the output.
 *
 * Owns: a compiled template owns copies of everything it needs (the source may be freed
 * after template_compile); free it with template_free. Rendering only reads the template
 * and the data and appends to out; the caller keeps owning all three.
 * Thread: any. A compiled template is immutable and may be rendered by many threads at
 * once (the data too, if nobody modifies it meanwhile). A template_cache belongs to one
 * thread at a time. Rendering without partials allocates nothing but the output; with
 * partials and no cache, it allocates a cache for the duration of the call.
 * Errors: template_compile returns 0; -1 for a syntax error, too large a template, or
 * invalid UTF-8, with err->line, err->col (1-based; the column counts code points) and
 * err->message (valid UTF-8, e.g. "unclosed section 'items' opened at 3:5"), *out NULL;
 * -2 when memory runs out. template_render returns 0; -1 when a limit was hit (depth,
 * recursion, work, output cap) or a partial does not compile, with err describing it (the
 * position of the tag, in the partial it belongs to when the message names one); -2 when
 * memory runs out. On any render error out is restored to the length it had on entry.
 * err may be NULL everywhere; on success err->message is "".
 */
#ifndef SB_TEMPLATE_H
#define SB_TEMPLATE_H
#include <stddef.h>
#include <jansson.h>
#include "gateway/lib/buf.h"

#define TEMPLATE_MAX_SOURCE (256 * 1024)
#define TEMPLATE_MAX_DEPTH 64
#define TEMPLATE_MAX_PARTIAL_DEPTH 16
#define TEMPLATE_MAX_STEPS (4u * 1024 * 1024)

enum template_mode {
    TEMPLATE_HTML, /* {{x}} is HTML-escaped; {{{x}}} and {{&x}} are not */
    TEMPLATE_TEXT, /* nothing is escaped: SMS bodies, e-mail subjects, text/plain parts */
};

struct template_error {
    size_t line, col;  /* 1-based; 0 when the error has no position (out of memory) */
    char message[160];
};

/* Compiled, immutable, shareable read-only across threads. */
struct template;
/* Compiled partials kept between renders; one thread at a time. */
struct template_cache;

/* Returns the source of partial `name` and its length in *len, or NULL when unknown. */
typedef const char *(*template_partial_fn)(void *arg, const char *name, size_t *len);

int template_compile(const char *src, size_t len, struct template **out, struct template_error *err);
void template_free(struct template *t);

/* Appends t rendered against data (any JSON value; NULL is taken as null) to out.
 * partial may be NULL (no partials: every partial renders as nothing). */
int template_render(const struct template *t, const json_t *data, enum template_mode mode, template_partial_fn partial,
                    void *arg, struct buf *out, struct template_error *err);
/* The same, keeping compiled partials in cache (NULL: as template_render). One cache
 * serves one partial callback: the cache knows partials by name only. */
int template_render_cached(const struct template *t, const json_t *data, enum template_mode mode,
                           template_partial_fn partial, void *arg, struct template_cache *cache, struct buf *out,
                           struct template_error *err);
/* Compile + render + free in one call; errors as template_compile, then template_render. */
int template_render_string(const char *src, size_t len, const json_t *data, enum template_mode mode,
                           template_partial_fn partial, void *arg, struct buf *out, struct template_error *err);

/* NULL when memory runs out. */
struct template_cache *template_cache_new(void);
void template_cache_free(struct template_cache *c);

#endif
