/* test_csv.c — the CSV reader and writer (gateway/lib/csv.h) and charset conversion to
 * UTF-8 (gateway/lib/charset.h), as customer imports and exports use them. */
#include "tests/unit/unit.h"
#include "gateway/lib/buf.h"
#include "gateway/lib/charset.h"
#include "gateway/lib/csv.h"
#include <stdlib.h>

/* A reader over a string literal (which may hold NUL bytes: the size is the literal's). */
#define READ_LIT(r, lit) csv_reader_init((r), (lit), sizeof(lit) - 1)

/* Reads one record, checks it has the fields given (a NULL-terminated list) and starts
 * on line. */
static void expect_record(struct csv_reader *r, size_t line, const char *const *want)
{
    struct csv_record rec;
    int rc = csv_next(r, &rec);
    if (rc != 1)
        fail_msg("csv_next returned %d (%s), expected a record on line %zu", rc, rec.error, line);
    assert_int_equal(rec.line, line);
    size_t n = 0;
    while (want[n])
        n++;
    assert_int_equal(rec.nfields, n);
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(rec.len[i], strlen(want[i]));
        assert_memory_equal(rec.field[i], want[i], rec.len[i]);
        assert_int_equal(rec.field[i][rec.len[i]], '\0');
    }
}

#define EXPECT(r, line, ...) expect_record((r), (line), (const char *const[]){__VA_ARGS__, NULL})

static void expect_error(struct csv_reader *r, size_t line, const char *reason)
{
    struct csv_record rec;
    assert_int_equal(csv_next(r, &rec), -1);
    assert_int_equal(rec.line, line);
    assert_string_equal(rec.error, reason);
    assert_int_equal(rec.nfields, 0);
}

static void expect_end(struct csv_reader *r)
{
    struct csv_record rec;
    assert_int_equal(csv_next(r, &rec), 0);
    assert_int_equal(csv_next(r, &rec), 0); /* stays at the end */
}

/* ---- reader ---- */

static void test_basic(void **state)
{
    (void)state;
    struct csv_reader r;
    READ_LIT(&r, "name,phone,email\n张伟,13812345678,zw@example.com\n");
    EXPECT(&r, 1, "name", "phone", "email");
    EXPECT(&r, 2, "张伟", "13812345678", "zw@example.com");
    expect_end(&r);
    csv_reader_free(&r);
}

static void test_line_ends(void **state)
{
    (void)state;
    struct csv_reader r;
    READ_LIT(&r, "a,1\r\nb,2\rc,3\nd,4");
    EXPECT(&r, 1, "a", "1");
    EXPECT(&r, 2, "b", "2");
    EXPECT(&r, 3, "c", "3");
    EXPECT(&r, 4, "d", "4"); /* no line end at the end of input */
    expect_end(&r);
    csv_reader_free(&r);

    READ_LIT(&r, "x\r\r\ny\n\r");
    EXPECT(&r, 1, "x");
    EXPECT(&r, 3, "y"); /* CR then CRLF: two line ends */
    expect_end(&r);
    csv_reader_free(&r);
}

static void test_blank_lines(void **state)
{
    (void)state;
    struct csv_reader r;
    READ_LIT(&r, "\n\na\r\n\r\n\rb\n\n");
    EXPECT(&r, 3, "a");
    EXPECT(&r, 6, "b");
    expect_end(&r);
    csv_reader_free(&r);

    READ_LIT(&r, "\r\n\r\n\n");
    expect_end(&r);
    csv_reader_free(&r);

    csv_reader_init(&r, "", 0);
    expect_end(&r);
    csv_reader_free(&r);

    csv_reader_init(&r, NULL, 0);
    expect_end(&r);
    csv_reader_free(&r);

    /* Whitespace is not blank: it is a field. */
    READ_LIT(&r, " \n\t\n");
    EXPECT(&r, 1, " ");
    EXPECT(&r, 2, "\t");
    expect_end(&r);
    csv_reader_free(&r);
}

static void test_empty_fields(void **state)
{
    (void)state;
    struct csv_reader r;
    READ_LIT(&r, ",,\na,\n,b\n\"\"\n\"\",\"\"\r\n");
    EXPECT(&r, 1, "", "", "");
    EXPECT(&r, 2, "a", "");
    EXPECT(&r, 3, "", "b");
    EXPECT(&r, 4, ""); /* a quoted empty field is a record, not a blank line */
    EXPECT(&r, 5, "", "");
    expect_end(&r);
    csv_reader_free(&r);
}

static void test_quoted(void **state)
{
    (void)state;
    struct csv_reader r;
    READ_LIT(&r, "\"a,b\",\"say \"\"hi\"\"\",\"\",\"\"\"\"\n\"x\"\n\"tail\"");
    EXPECT(&r, 1, "a,b", "say \"hi\"", "", "\"");
    EXPECT(&r, 2, "x");
    EXPECT(&r, 3, "tail");
    expect_end(&r);
    csv_reader_free(&r);
}

static void test_quoted_line_ends(void **state)
{
    (void)state;
    struct csv_reader r;
    READ_LIT(&r, "1,\"two\nlines\",3\r\n4,\"x\r\ny\",5\n\"a\rb\",\"\n\n\"\n6,7\n");
    EXPECT(&r, 1, "1", "two\nlines", "3");
    EXPECT(&r, 3, "4", "x\r\ny", "5"); /* line ends inside quotes are kept as they are */
    EXPECT(&r, 5, "a\rb", "\n\n");
    EXPECT(&r, 9, "6", "7"); /* the lone CR inside "a\rb" ends a line too */
    expect_end(&r);
    csv_reader_free(&r);
}

static void test_bom(void **state)
{
    (void)state;
    struct csv_reader r;
    READ_LIT(&r, "\xEF\xBB\xBFname,phone\n");
    EXPECT(&r, 1, "name", "phone");
    expect_end(&r);
    csv_reader_free(&r);

    READ_LIT(&r, "\xEF\xBB\xBF\"q\"\n");
    EXPECT(&r, 1, "q"); /* a quote right after the BOM still opens a quoted field */
    csv_reader_free(&r);

    READ_LIT(&r, "a\n\xEF\xBB\xBF" "b\n"); /* only at the start */
    EXPECT(&r, 1, "a");
    EXPECT(&r, 2, "\xEF\xBB\xBF" "b");
    csv_reader_free(&r);

    READ_LIT(&r, "\xEF\xBB\xBF");
    expect_end(&r);
    csv_reader_free(&r);
}

static void test_delimiters(void **state)
{
    (void)state;
    struct csv_reader r;
    static const char semi[] = "name;amount\n\"Müller; Hans\";1,50\n";
    csv_reader_init_delim(&r, semi, sizeof(semi) - 1, ';');
    EXPECT(&r, 1, "name", "amount");
    EXPECT(&r, 2, "Müller; Hans", "1,50");
    expect_end(&r);
    csv_reader_free(&r);

    static const char tab[] = "a\tb,c\t\"d\te\"\t\n";
    csv_reader_init_delim(&r, tab, sizeof(tab) - 1, '\t');
    EXPECT(&r, 1, "a", "b,c", "d\te", "");
    expect_end(&r);
    csv_reader_free(&r);

    static const char some[] = "a\"b\nc\n";
    csv_reader_init_delim(&r, some, sizeof(some) - 1, '"');
    expect_error(&r, 1, "unsupported delimiter");
    expect_end(&r);
    csv_reader_free(&r);
}

static void test_literal_quotes(void **state)
{
    (void)state;
    struct csv_reader r;
    READ_LIT(&r, "5\" screen,a\"b\"c, \"x\" \n");
    EXPECT(&r, 1, "5\" screen", "a\"b\"c", " \"x\" ");
    expect_end(&r);
    csv_reader_free(&r);
}

static void test_nul_bytes(void **state)
{
    (void)state;
    struct csv_reader r;
    READ_LIT(&r, "a\0b,\"c\0\"\n");
    struct csv_record rec;
    assert_int_equal(csv_next(&r, &rec), 1);
    assert_int_equal(rec.nfields, 2);
    assert_int_equal(rec.len[0], 3);
    assert_memory_equal(rec.field[0], "a\0b", 4);
    assert_int_equal(rec.len[1], 2);
    assert_memory_equal(rec.field[1], "c\0", 3);
    expect_end(&r);
    csv_reader_free(&r);
}

static void test_text_after_quote(void **state)
{
    (void)state;
    struct csv_reader r;
    READ_LIT(&r, "\"abc\"def,1\nok,2\n1,\"x\ny\"z,3\nnext\n\"a\" ,b\n\"end\"x");
    expect_error(&r, 1, "text after closing quote");
    EXPECT(&r, 2, "ok", "2");
    expect_error(&r, 3, "text after closing quote"); /* found on line 4, reported from 3 */
    EXPECT(&r, 5, "next");
    expect_error(&r, 6, "text after closing quote"); /* a space counts too */
    expect_error(&r, 7, "text after closing quote");
    expect_end(&r);
    csv_reader_free(&r);
}

static void test_unterminated(void **state)
{
    (void)state;
    struct csv_reader r;
    /* A stray quote: the rows after it are still read. */
    READ_LIT(&r, "a,\"bc\nd,e\nf,g\n");
    expect_error(&r, 1, "unterminated quoted field");
    EXPECT(&r, 2, "d", "e");
    EXPECT(&r, 3, "f", "g");
    expect_end(&r);
    csv_reader_free(&r);

    /* The reader goes back to the line after the one the bad quote opened on. */
    READ_LIT(&r, "1,\"a\nb\",c,\"d\ne,f\r\ng");
    expect_error(&r, 1, "unterminated quoted field");
    EXPECT(&r, 3, "e", "f");
    EXPECT(&r, 4, "g");
    expect_end(&r);
    csv_reader_free(&r);

    READ_LIT(&r, "\"");
    expect_error(&r, 1, "unterminated quoted field");
    expect_end(&r);
    csv_reader_free(&r);

    READ_LIT(&r, "x\n\"abc\"\"");
    EXPECT(&r, 1, "x");
    expect_error(&r, 2, "unterminated quoted field"); /* an escaped quote does not close */
    expect_end(&r);
    csv_reader_free(&r);
}

/* Every -1 moves on, so a garbage file ends in a bounded number of calls. */
static void test_errors_always_progress(void **state)
{
    (void)state;
    struct buf b;
    buf_init(&b, 0);
    for (int i = 0; i < 1001; i++)
        assert_int_equal(buf_puts(&b, "\"abc\n"), 0);
    struct csv_reader r;
    csv_reader_init(&r, b.data, b.len);
    struct csv_record rec;
    size_t calls = 0, errors = 0, last_line = 0;
    int rc;
    while ((rc = csv_next(&r, &rec)) != 0) {
        assert_true(++calls <= b.len);
        assert_true(rec.line > last_line);
        last_line = rec.line;
        if (rc < 0)
            errors++;
    }
    /* Lines pair up as "abc\n" + abc (text after quote); the last quote never closes. */
    assert_int_equal(errors, 501);
    csv_reader_free(&r);
    buf_free(&b);
}

static void test_too_many_fields(void **state)
{
    (void)state;
    struct buf b;
    buf_init(&b, 0);
    for (int i = 0; i < CSV_MAX_FIELDS; i++)
        assert_int_equal(buf_printf(&b, "%s%d", i ? "," : "", i), 0);
    assert_int_equal(buf_puts(&b, "\n"), 0);
    for (int i = 0; i <= CSV_MAX_FIELDS; i++)
        assert_int_equal(buf_printf(&b, "%s%d", i ? "," : "", i), 0);
    /* The dropped record runs on over a quoted line end; the next one is still found. */
    assert_int_equal(buf_puts(&b, ",\"x\ny\"\r\nafter,1\n"), 0);

    struct csv_reader r;
    csv_reader_init(&r, b.data, b.len);
    struct csv_record rec;
    assert_int_equal(csv_next(&r, &rec), 1);
    assert_int_equal(rec.nfields, CSV_MAX_FIELDS);
    assert_string_equal(rec.field[255], "255");
    expect_error(&r, 2, "too many fields (max 256)");
    EXPECT(&r, 4, "after", "1");
    expect_end(&r);
    csv_reader_free(&r);
    buf_free(&b);
}

static void test_field_too_long(void **state)
{
    (void)state;
    struct buf b;
    buf_init(&b, 0);
    char *big = malloc(CSV_MAX_FIELD + 2);
    assert_non_null(big);
    memset(big, 'x', CSV_MAX_FIELD + 1);
    /* line 1: exactly the limit */
    assert_int_equal(buf_append(&b, big, CSV_MAX_FIELD), 0);
    assert_int_equal(buf_puts(&b, ",ok\n"), 0);
    /* line 2: one byte over */
    assert_int_equal(buf_append(&b, big, CSV_MAX_FIELD + 1), 0);
    assert_int_equal(buf_puts(&b, "\n"), 0);
    /* line 3: quoted, exactly the limit once "" counts as the one byte it stands for */
    assert_int_equal(buf_puts(&b, "\""), 0);
    assert_int_equal(buf_append(&b, big, CSV_MAX_FIELD - 1), 0);
    assert_int_equal(buf_puts(&b, "\"\"\"\n"), 0);
    /* line 4-5: quoted, over the limit, with a line end inside */
    assert_int_equal(buf_puts(&b, "a,\"\n"), 0);
    assert_int_equal(buf_append(&b, big, CSV_MAX_FIELD), 0);
    assert_int_equal(buf_puts(&b, "\",b\nlast\n"), 0);
    free(big);

    struct csv_reader r;
    csv_reader_init(&r, b.data, b.len);
    struct csv_record rec;
    assert_int_equal(csv_next(&r, &rec), 1);
    assert_int_equal(rec.len[0], CSV_MAX_FIELD);
    assert_string_equal(rec.field[1], "ok");
    expect_error(&r, 2, "field too long (max 65536 bytes)");
    assert_int_equal(csv_next(&r, &rec), 1);
    assert_int_equal(rec.line, 3);
    assert_int_equal(rec.len[0], CSV_MAX_FIELD);
    assert_int_equal(rec.field[0][CSV_MAX_FIELD - 1], '"');
    expect_error(&r, 4, "field too long (max 65536 bytes)");
    EXPECT(&r, 6, "last");
    expect_end(&r);
    csv_reader_free(&r);
    buf_free(&b);
}

/* The fields of one record stay valid while the next is not yet read, even when the
 * store has to grow in the middle of a record. */
static void test_store_growth(void **state)
{
    (void)state;
    struct buf b;
    buf_init(&b, 0);
    assert_int_equal(buf_puts(&b, "s,"), 0);
    for (int i = 0; i < 5000; i++)
        assert_int_equal(buf_puts(&b, "0123456789"), 0);
    assert_int_equal(buf_puts(&b, ",e\n"), 0);
    struct csv_reader r;
    csv_reader_init(&r, b.data, b.len);
    struct csv_record rec;
    assert_int_equal(csv_next(&r, &rec), 1);
    assert_int_equal(rec.nfields, 3);
    assert_string_equal(rec.field[0], "s");
    assert_int_equal(rec.len[1], 50000);
    assert_memory_equal(rec.field[1] + 49990, "0123456789", 11);
    assert_string_equal(rec.field[2], "e");
    csv_reader_free(&r);
    buf_free(&b);
}

/* 100,000 rows of 12 fields, as a large customer import sends them. */
static void test_large_import(void **state)
{
    (void)state;
    enum { ROWS = 100000, COLS = 12 };
    struct buf b;
    buf_init(&b, 0);
    assert_int_equal(buf_puts(&b, "\xEF\xBB\xBFid,name,phone,email,company,city,tags,a,b,c,d,note\r\n"), 0);
    for (int i = 0; i < ROWS; i++) {
        int rc = buf_printf(&b, "%d,客户%d,138%08d,c%d@example.com,\"Acme, Inc.\",上海,\"vip \"\"gold\"\"\","
                                "x,y,z,%d,%s\r\n",
                            i, i, i, i, i % 7, i % 1000 == 0 ? "\"two\nlines\"" : "");
        assert_int_equal(rc, 0);
    }
    struct csv_reader r;
    csv_reader_init(&r, b.data, b.len);
    struct csv_record rec;
    size_t records = 0, fields = 0, line = 0;
    int rc;
    while ((rc = csv_next(&r, &rec)) == 1) {
        records++;
        fields += rec.nfields;
        line = rec.line;
        if (records == 2) {
            assert_string_equal(rec.field[1], "客户0");
            assert_string_equal(rec.field[4], "Acme, Inc.");
            assert_string_equal(rec.field[6], "vip \"gold\"");
            assert_string_equal(rec.field[11], "two\nlines");
        }
    }
    assert_int_equal(rc, 0);
    assert_int_equal(records, ROWS + 1);
    assert_int_equal(fields, (size_t)(ROWS + 1) * COLS);
    assert_int_equal(line, 1 + ROWS + ROWS / 1000); /* each "two\nlines" adds one */
    assert_int_equal(rec.nfields, 0);
    csv_reader_free(&r);
    buf_free(&b);
}

/* ---- writer ---- */

static void test_put_plain_and_quoted(void **state)
{
    (void)state;
    struct buf b;
    buf_init(&b, 0);
    assert_int_equal(csv_put(&b, "a", 1, 1), 0);
    assert_int_equal(csv_put(&b, "b c", 3, 0), 0);
    assert_int_equal(csv_put(&b, "x,y", 3, 0), 0);
    assert_int_equal(csv_put(&b, "say \"hi\"", 8, 0), 0);
    assert_int_equal(csv_put(&b, "l1\nl2", 5, 0), 0);
    assert_int_equal(csv_put(&b, "c\rr", 3, 0), 0);
    assert_int_equal(csv_put(&b, "", 0, 0), 0);
    assert_int_equal(csv_put(&b, "中文", strlen("中文"), 0), 0);
    assert_int_equal(csv_end(&b), 0);
    assert_string_equal(b.data, "a,b c,\"x,y\",\"say \"\"hi\"\"\",\"l1\nl2\",\"c\rr\",,中文\r\n");
    buf_reset(&b);
    assert_int_equal(csv_put(&b, "", 0, 1), 0); /* an empty first cell is quoted */
    assert_int_equal(csv_end(&b), 0);
    assert_int_equal(csv_put(&b, "", 0, 1), 0);
    assert_int_equal(csv_put(&b, "", 0, 0), 0);
    assert_int_equal(csv_end(&b), 0);
    assert_string_equal(b.data, "\"\"\r\n\"\",\r\n");
    assert_int_equal(csv_put(&b, "\xEF\xBB\xBFx", 4, 1), 0); /* not at the start: no BOM */
    assert_string_equal(b.data, "\"\"\r\n\"\",\r\n\xEF\xBB\xBFx");
    buf_reset(&b);
    assert_int_equal(csv_put(&b, "\xEF\xBB\xBFx", 4, 1), 0); /* would be read as a BOM */
    assert_string_equal(b.data, "\"\xEF\xBB\xBFx\"");
    buf_free(&b);
}

static void put_one(const char *in, const char *want)
{
    struct buf b;
    buf_init(&b, 0);
    assert_int_equal(csv_put(&b, in, strlen(in), 1), 0);
    assert_string_equal(b.data, want);
    buf_free(&b);
}

static void test_put_formula(void **state)
{
    (void)state;
    put_one("=1+2", "'=1+2");
    put_one("+8613812345678", "'+8613812345678");
    put_one("-5", "'-5");
    put_one("@SUM(A1)", "'@SUM(A1)");
    put_one("\tx", "'\tx");
    put_one("\rx", "\"'\rx\"");
    put_one("=HYPERLINK(\"http://evil\",\"x\")", "\"'=HYPERLINK(\"\"http://evil\"\",\"\"x\"\")\"");
    put_one("=cmd|' /C calc'!A0", "'=cmd|' /C calc'!A0");
    put_one("a=b", "a=b");
    put_one(" =1", " =1");
    put_one("'quoted", "'quoted");
    put_one("'=literal", "''=literal"); /* looks guarded already: guarded again, so un-guarding is exact */
    put_one("''", "'''");
    put_one("'", "'");
}

static void test_put_cap(void **state)
{
    (void)state;
    struct buf b;
    buf_init(&b, 8);
    assert_int_equal(csv_put(&b, "abc", 3, 1), 0);
    assert_int_equal(csv_put(&b, "a\"b", 3, 0), -1); /* ,"a""b" would make 10 bytes */
    assert_string_equal(b.data, "abc");
    assert_int_equal(b.len, 3);
    assert_int_equal(csv_put(&b, "=1", 2, 0), 0);
    assert_string_equal(b.data, "abc,'=1");
    assert_int_equal(csv_end(&b), -1);
    assert_string_equal(b.data, "abc,'=1");
    buf_free(&b);
}

/* What the reader gives back for a value the writer wrote. */
static const char *defused(const char *v, char *tmp, size_t tmpsz)
{
    if (v[0] != '\0' && strchr("=+-@\t\r", v[0])) {
        snprintf(tmp, tmpsz, "'%s", v);
        return tmp;
    }
    return v;
}

static void test_roundtrip(void **state)
{
    (void)state;
    static const char *const values[] = {
        "\xEF\xBB\xBF" "bom", /* first: at the very start of the output */
        "plain", "he said \"hi\"", "a,b", "\"", "\"\"", "line1\nline2", "crlf\r\nx", "cr\r",
        "张伟", "上海市浦东新区, 世纪大道100号", "😀🎉", "", " spaces ", "=1+2", "+86 138",
        "-1", "@x", "\tindent", "'already", "a;b\tc", "=\"x\",\"y\"",
    };
    enum { NV = sizeof(values) / sizeof(values[0]) };
    struct buf b;
    buf_init(&b, 0);
    /* One record with every value, then each value alone as a one-cell record. */
    for (size_t i = 0; i < NV; i++)
        assert_int_equal(csv_put(&b, values[i], strlen(values[i]), i == 0), 0);
    assert_int_equal(csv_end(&b), 0);
    for (size_t i = 0; i < NV; i++) {
        assert_int_equal(csv_put(&b, values[i], strlen(values[i]), 1), 0);
        assert_int_equal(csv_end(&b), 0);
    }

    struct csv_reader r;
    csv_reader_init(&r, b.data, b.len);
    struct csv_record rec;
    char tmp[128];
    assert_int_equal(csv_next(&r, &rec), 1);
    assert_int_equal(rec.nfields, NV);
    for (size_t i = 0; i < NV; i++)
        assert_string_equal(rec.field[i], defused(values[i], tmp, sizeof(tmp)));
    for (size_t i = 0; i < NV; i++) {
        assert_int_equal(csv_next(&r, &rec), 1);
        assert_int_equal(rec.nfields, 1);
        assert_string_equal(rec.field[0], defused(values[i], tmp, sizeof(tmp)));
    }
    expect_end(&r);
    csv_reader_free(&r);
    buf_free(&b);
}

/* ---- charset ---- */

/* "张伟,13812345678" in GBK. */
#define GBK_ZHANGWEI "\xD5\xC5\xCE\xB0,13812345678"

static void test_charset_gbk(void **state)
{
    (void)state;
    static const char *const names[] = {"gbk", "GBK", "gb2312", "GB2312", "gb18030", "Gb18030"};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        struct buf out;
        buf_init(&out, 0);
        size_t bad = 999;
        assert_int_equal(charset_to_utf8(names[i], GBK_ZHANGWEI, sizeof(GBK_ZHANGWEI) - 1, &out, &bad), 0);
        assert_string_equal(out.data, "张伟,13812345678");
        assert_int_equal(bad, 999); /* untouched on success */
        buf_free(&out);
    }
    /* GB18030's four-byte form (here U+1F600) decodes whatever the label said. */
    struct buf out;
    buf_init(&out, 0);
    assert_int_equal(charset_to_utf8("gbk", "\x94\x39\xFC\x36!", 5, &out, NULL), 0);
    assert_string_equal(out.data, "😀!");
    buf_free(&out);
}

/* A GBK file decoded, then read as CSV. */
static void test_charset_gbk_import(void **state)
{
    (void)state;
    static const char file[] = "\xD0\xD5\xC3\xFB,\xB5\xE7\xBB\xB0\r\n" GBK_ZHANGWEI "\r\n";
    struct buf out;
    buf_init(&out, 0);
    assert_int_equal(charset_to_utf8("GBK", file, sizeof(file) - 1, &out, NULL), 0);
    struct csv_reader r;
    csv_reader_init(&r, out.data, out.len);
    EXPECT(&r, 1, "姓名", "电话");
    EXPECT(&r, 2, "张伟", "13812345678");
    expect_end(&r);
    csv_reader_free(&r);
    buf_free(&out);
}

static void test_charset_gbk_invalid(void **state)
{
    (void)state;
    static const char in[] = "ab\n" "\xD5\xC5\n" "\x81\x20x\n";
    struct buf out;
    buf_init(&out, 0);
    assert_int_equal(buf_puts(&out, "keep"), 0);
    size_t bad = 999;
    assert_int_equal(charset_to_utf8("gbk", in, sizeof(in) - 1, &out, &bad), -1);
    assert_int_equal(bad, 6);
    assert_int_equal(charset_line_of(in, sizeof(in) - 1, bad), 3);
    assert_string_equal(out.data, "keep"); /* what was decoded before is taken back */
    assert_int_equal(out.len, 4);

    /* Cut off in the middle of a character at the end of input. */
    bad = 999;
    assert_int_equal(charset_to_utf8("gb18030", "ok\xD5", 3, &out, &bad), -1);
    assert_int_equal(bad, 2);
    bad = 999;
    assert_int_equal(charset_to_utf8("gbk", "\xFF", 1, &out, &bad), -1);
    assert_int_equal(bad, 0);
    assert_int_equal(charset_to_utf8("gbk", "\xFF", 1, &out, NULL), -1); /* NULL is fine */
    assert_string_equal(out.data, "keep");
    buf_free(&out);
}

static void test_charset_utf8(void **state)
{
    (void)state;
    struct buf out;
    buf_init(&out, 0);
    assert_int_equal(charset_to_utf8("utf-8", "张伟 😀", strlen("张伟 😀"), &out, NULL), 0);
    assert_int_equal(charset_to_utf8("UTF8", "!", 1, &out, NULL), 0);
    assert_string_equal(out.data, "张伟 😀!");
    assert_int_equal(charset_to_utf8("Utf-8", "", 0, &out, NULL), 0);

    static const struct { const char *in; size_t n, bad; } cases[] = {
        {"abc\xFF", 4, 3},
        {"ok\n\xE4\xB8\n", 6, 3},        /* truncated 中 */
        {"\xC0\x80", 2, 0},              /* overlong NUL */
        {"a\xED\xA0\x80", 4, 1},         /* surrogate */
        {"\xE4\xB8\xAD\x80", 4, 3},      /* stray continuation byte */
        {"\xF0\x9F\x98\x80\xF0\x9F", 6, 4},
        {"\xF4\x90\x80\x80", 4, 0},      /* past U+10FFFF */
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        size_t bad = 999;
        assert_int_equal(charset_to_utf8("utf-8", cases[i].in, cases[i].n, &out, &bad), -1);
        assert_int_equal(bad, cases[i].bad);
    }
    assert_string_equal(out.data, "张伟 😀!");
    buf_free(&out);
}

static void test_charset_big5(void **state)
{
    (void)state;
    struct buf out;
    buf_init(&out, 0);
    assert_int_equal(charset_to_utf8("BIG5", "\xA4\xA4\xA4\xE5,1", 6, &out, NULL), 0);
    assert_string_equal(out.data, "中文,1");
    size_t bad = 999;
    assert_int_equal(charset_to_utf8("big5", "\xA4\xA4\xA4", 3, &out, &bad), -1);
    assert_int_equal(bad, 2);
    assert_string_equal(out.data, "中文,1");
    buf_free(&out);
}

static void test_charset_latin1(void **state)
{
    (void)state;
    struct buf out;
    buf_init(&out, 0);
    assert_int_equal(charset_to_utf8("latin1", "caf\xE9 \x80", 6, &out, NULL), 0);
    assert_string_equal(out.data, "café €"); /* 0x80 as Windows writes it */
    buf_reset(&out);
    assert_int_equal(charset_to_utf8("ISO-8859-1", "\x81\x93x\x9D", 4, &out, NULL), 0);
    assert_string_equal(out.data, "\xC2\x81\xE2\x80\x9Cx\xC2\x9D"); /* U+0081 “ x U+009D */
    buf_reset(&out);
    assert_int_equal(charset_to_utf8("windows-1252", "Gr\xFC\xDF \x93x\x94", 8, &out, NULL), 0);
    assert_string_equal(out.data, "Grüß “x”");
    size_t bad = 999;
    assert_int_equal(charset_to_utf8("Windows-1252", "ab\x81", 3, &out, &bad), -1);
    assert_int_equal(bad, 2);
    assert_string_equal(out.data, "Grüß “x”");
    buf_free(&out);
}

static void test_charset_unknown(void **state)
{
    (void)state;
    struct buf out;
    buf_init(&out, 0);
    assert_int_equal(buf_puts(&out, "keep"), 0);
    static const char *const names[] = {"ebcdic", "", "utf-16", "shift_jis", "gbk ", "utf_8"};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        size_t bad = 999;
        assert_int_equal(charset_to_utf8(names[i], "abc", 3, &out, &bad), -2);
        assert_int_equal(bad, 999);
    }
    assert_int_equal(charset_to_utf8(NULL, "abc", 3, &out, NULL), -2);
    assert_string_equal(out.data, "keep");
    buf_free(&out);
}

static void test_charset_cap(void **state)
{
    (void)state;
    struct buf out;
    buf_init(&out, 8);
    assert_int_equal(buf_puts(&out, "ab"), 0);
    /* 张伟 is 4 bytes in GBK, 6 in UTF-8: 2 + 6 fits 8, one more byte does not. */
    assert_int_equal(charset_to_utf8("gbk", "\xD5\xC5\xCE\xB0", 4, &out, NULL), 0);
    assert_string_equal(out.data, "ab张伟");
    assert_int_equal(charset_to_utf8("gbk", "x", 1, &out, NULL), -3);
    assert_int_equal(charset_to_utf8("utf-8", "x", 1, &out, NULL), -3);
    assert_string_equal(out.data, "ab张伟");
    buf_free(&out);

    /* Larger than one iconv chunk, the cap hit half way. */
    struct buf big;
    buf_init(&big, 0);
    for (int i = 0; i < 5000; i++)
        assert_int_equal(buf_append(&big, "\xD5\xC5", 2), 0);
    buf_init(&out, 10000);
    assert_int_equal(charset_to_utf8("gbk", big.data, big.len, &out, NULL), -3);
    assert_int_equal(out.len, 0);
    buf_free(&out);
    buf_init(&out, 0);
    assert_int_equal(charset_to_utf8("gbk", big.data, big.len, &out, NULL), 0);
    assert_int_equal(out.len, 15000);
    buf_free(&out);
    buf_free(&big);
}

static void test_line_of(void **state)
{
    (void)state;
    static const char in[] = "a\nb\r\nc\rd";
    size_t n = sizeof(in) - 1;
    assert_int_equal(charset_line_of(in, n, 0), 1);
    assert_int_equal(charset_line_of(in, n, 1), 1); /* the LF belongs to its line */
    assert_int_equal(charset_line_of(in, n, 2), 2);
    assert_int_equal(charset_line_of(in, n, 3), 2);
    assert_int_equal(charset_line_of(in, n, 4), 2); /* LF of the CRLF */
    assert_int_equal(charset_line_of(in, n, 5), 3);
    assert_int_equal(charset_line_of(in, n, 7), 4);
    assert_int_equal(charset_line_of(in, n, 8), 4);
    assert_int_equal(charset_line_of(in, n, 1000), 4);
    assert_int_equal(charset_line_of("x\r", 2, 2), 2);
    assert_int_equal(charset_line_of("", 0, 0), 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_basic),
        cmocka_unit_test(test_line_ends),
        cmocka_unit_test(test_blank_lines),
        cmocka_unit_test(test_empty_fields),
        cmocka_unit_test(test_quoted),
        cmocka_unit_test(test_quoted_line_ends),
        cmocka_unit_test(test_bom),
        cmocka_unit_test(test_delimiters),
        cmocka_unit_test(test_literal_quotes),
        cmocka_unit_test(test_nul_bytes),
        cmocka_unit_test(test_text_after_quote),
        cmocka_unit_test(test_unterminated),
        cmocka_unit_test(test_errors_always_progress),
        cmocka_unit_test(test_too_many_fields),
        cmocka_unit_test(test_field_too_long),
        cmocka_unit_test(test_store_growth),
        cmocka_unit_test(test_large_import),
        cmocka_unit_test(test_put_plain_and_quoted),
        cmocka_unit_test(test_put_formula),
        cmocka_unit_test(test_put_cap),
        cmocka_unit_test(test_roundtrip),
        cmocka_unit_test(test_charset_gbk),
        cmocka_unit_test(test_charset_gbk_import),
        cmocka_unit_test(test_charset_gbk_invalid),
        cmocka_unit_test(test_charset_utf8),
        cmocka_unit_test(test_charset_big5),
        cmocka_unit_test(test_charset_latin1),
        cmocka_unit_test(test_charset_unknown),
        cmocka_unit_test(test_charset_cap),
        cmocka_unit_test(test_line_of),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
