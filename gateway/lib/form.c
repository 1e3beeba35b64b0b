/* form.c — see form.h. */
#include "gateway/lib/form.h"
#include "gateway/lib/text.h"
#include <stdlib.h>
#include <string.h>

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Decodes s[0..n) into a new string; NULL with *why on bad input. */
static char *decode(const char *s, size_t n, const char **why)
{
    char *out = malloc(n + 1);
    size_t k = 0;
    if (!out) {
        *why = "out of memory";
        return NULL;
    }
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (c == '+') {
            c = ' ';
        } else if (c == '%') {
            if (i + 2 >= n) {
                free(out);
                *why = "a %-escape is cut short";
                return NULL;
            }
            int a = hexval(s[i + 1]), b = hexval(s[i + 2]);
            if (a < 0 || b < 0) {
                free(out);
                *why = "a %-escape is not two hex digits";
                return NULL;
            }
            c = (char)(a * 16 + b);
            i += 2;
        }
        if (c == '\0') {
            free(out);
            *why = "the form holds a NUL byte";
            return NULL;
        }
        out[k++] = c;
    }
    out[k] = '\0';
    if (!utf8_valid(out, k)) {
        free(out);
        *why = "the form is not UTF-8";
        return NULL;
    }
    return out;
}

int form_parse(const char *body, size_t len, struct form *out, const char **why)
{
    memset(out, 0, sizeof(*out));
    const char *end = body + len;
    for (const char *p = body; p && p < end;) {
        const char *amp = memchr(p, '&', (size_t)(end - p));
        const char *stop = amp ? amp : end;
        if (stop > p) {
            if (out->n == FORM_MAX) {
                *why = "too many form fields";
                goto fail;
            }
            const char *eq = memchr(p, '=', (size_t)(stop - p));
            const char *nend = eq ? eq : stop;
            if (nend - p > 256) {
                *why = "a form field name is too long";
                goto fail;
            }
            if (!out->pairs && !(out->pairs = calloc(FORM_MAX, sizeof(*out->pairs)))) {
                *why = "out of memory";
                goto fail;
            }
            struct form_pair *fp = &out->pairs[out->n];
            fp->name = decode(p, (size_t)(nend - p), why);
            fp->value = fp->name ? decode(eq ? eq + 1 : stop, eq ? (size_t)(stop - eq - 1) : 0, why) : NULL;
            if (!fp->name || !fp->value) {
                free(fp->name);
                fp->name = NULL;
                goto fail;
            }
            out->n++;
        }
        p = amp ? amp + 1 : NULL;
    }
    return 0;
fail:
    form_free(out);
    return -1;
}

const char *form_get(const struct form *f, const char *name)
{
    for (size_t i = 0; i < f->n; i++)
        if (strcmp(f->pairs[i].name, name) == 0)
            return f->pairs[i].value;
    return NULL;
}

void form_free(struct form *f)
{
    for (size_t i = 0; i < f->n; i++) {
        free(f->pairs[i].name);
        free(f->pairs[i].value);
    }
    free(f->pairs);
    memset(f, 0, sizeof(*f));
}
