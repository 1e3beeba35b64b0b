/* fuzz_csv.c — the CSV reader, writer and charset conversion on arbitrary bytes.
 * A first byte ';' or TAB picks that delimiter (and is not part of the CSV); anything
 * else is read as comma-separated, so plain CSV files work as seeds.
 * Invariants: the reader ends within a bounded number of calls; records start on
 * strictly increasing lines that exist; fields respect the limits, are NUL-terminated and
 * never add up to more than the input; an error always has a reason; a record written
 * back with csv_put reads back the same (formula cells with their "'"); a conversion
 * either gives valid UTF-8 or points at a bad byte inside the input, before which the
 * input decodes. */
#include "tests/fuzz/fuzz.h"
#include "gateway/lib/buf.h"
#include "gateway/lib/charset.h"
#include "gateway/lib/csv.h"
#include "gateway/lib/text.h"
#include <string.h>

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    return 0;
}

static int formula_char(char c)
{
    return c == '=' || c == '+' || c == '-' || c == '@' || c == '\t' || c == '\r';
}

/* csv_put guards formula starts, and values that already look guarded ("'=x", "''"). */
static int starts_formula(const char *s, size_t n)
{
    return n > 0 && (formula_char(s[0]) || (s[0] == '\'' && n > 1 && (formula_char(s[1]) || s[1] == '\'')));
}

/* Writes rec with csv_put and checks the reader gives the same cells back. */
static void check_roundtrip(const struct csv_record *rec)
{
    struct buf out;
    buf_init(&out, 0);
    for (size_t i = 0; i < rec->nfields; i++)
        FUZZ_CHECK(csv_put(&out, rec->field[i], rec->len[i], i == 0) == 0);
    FUZZ_CHECK(csv_end(&out) == 0);
    struct csv_reader r;
    struct csv_record *back = malloc(sizeof(*back));
    FUZZ_CHECK(back != NULL);
    csv_reader_init(&r, out.data, out.len);
    FUZZ_CHECK(csv_next(&r, back) == 1);
    FUZZ_CHECK(back->nfields == rec->nfields);
    for (size_t i = 0; i < rec->nfields; i++) {
        size_t k = starts_formula(rec->field[i], rec->len[i]) ? 1 : 0;
        FUZZ_CHECK(back->len[i] == rec->len[i] + k);
        FUZZ_CHECK(k == 0 || back->field[i][0] == '\'');
        FUZZ_CHECK(memcmp(back->field[i] + k, rec->field[i], rec->len[i]) == 0);
    }
    FUZZ_CHECK(csv_next(&r, back) == 0);
    csv_reader_free(&r);
    free(back);
    buf_free(&out);
}

static void check_reader(const char *in, size_t n, char delim)
{
    struct csv_reader r;
    struct csv_record *rec = malloc(sizeof(*rec));
    FUZZ_CHECK(rec != NULL);
    csv_reader_init_delim(&r, in, n, delim);
    int lines = charset_line_of(in, n, n);
    size_t calls = 0, last_line = 0, total = 0;
    int rc;
    while ((rc = csv_next(&r, rec)) != 0) {
        FUZZ_CHECK(++calls <= n + 1);
        FUZZ_CHECK(rec->line > last_line && rec->line <= (size_t)lines);
        last_line = rec->line;
        if (rc < 0) {
            FUZZ_CHECK(rc == -1 && rec->error[0] != '\0' && rec->nfields == 0);
            continue;
        }
        FUZZ_CHECK(rc == 1);
        FUZZ_CHECK(rec->nfields >= 1 && rec->nfields <= CSV_MAX_FIELDS);
        for (size_t i = 0; i < rec->nfields; i++) {
            FUZZ_CHECK(rec->len[i] <= CSV_MAX_FIELD);
            FUZZ_CHECK(rec->field[i][rec->len[i]] == '\0');
            total += rec->len[i];
        }
        FUZZ_CHECK(total <= n);
        check_roundtrip(rec); /* written comma-separated whatever it was read with */
    }
    FUZZ_CHECK(csv_next(&r, rec) == 0);
    csv_reader_free(&r);
    free(rec);
}

static void check_charset(const char *cs, const char *in, size_t n)
{
    struct buf out;
    buf_init(&out, 0);
    size_t bad = (size_t)-1;
    int rc = charset_to_utf8(cs, in, n, &out, &bad);
    FUZZ_CHECK(rc == 0 || rc == -1);
    if (rc == 0) {
        FUZZ_CHECK(utf8_valid(out.data, out.len));
        FUZZ_CHECK(bad == (size_t)-1);
    } else {
        FUZZ_CHECK(bad < n);
        FUZZ_CHECK(out.len == 0);
        int line = charset_line_of(in, n, bad);
        FUZZ_CHECK(line >= 1 && line <= charset_line_of(in, n, n));
        FUZZ_CHECK(charset_to_utf8(cs, in, bad, &out, NULL) == 0); /* the part before is fine */
    }
    if (strcmp(cs, "utf-8") == 0) {
        FUZZ_CHECK((rc == 0) == utf8_valid(in, n));
        FUZZ_CHECK(rc != 0 || (out.len == n && memcmp(out.data, in, n) == 0));
    }
    buf_free(&out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 4096)
        return 0;
    const char *in = (const char *)data;
    char delim = ',';
    if (size > 0 && (in[0] == ';' || in[0] == '\t')) {
        delim = in[0];
        in++;
        size--;
    }
    check_reader(in, size, delim);
    static const char *const charsets[] = {"utf-8", "gbk", "big5", "latin1", "windows-1252"};
    for (size_t i = 0; i < sizeof(charsets) / sizeof(charsets[0]); i++)
        check_charset(charsets[i], in, size);
    return 0;
}
