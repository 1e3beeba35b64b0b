/* test_segment.c — the segment rule compiler (gateway/segment.h): exact positions and
 * messages of bad rules, the shape of the emitted SQL and its parameters, and, against a
 * throw-away database with every migration applied, the exact set of customers a rule
 * selects (precedence, NOT and NULLs, literal ~, relative dates, computed counts, custom
 * fields) and that injection attempts stay values. */
#include "tests/unit/unit_db.h"
#include "gateway/lib/buf.h"
#include "gateway/lib/text.h"
#include "gateway/migrate.h"
#include "gateway/segment.h"
#include <stdlib.h>

static const struct segment_field test_fields[] = {
    {"score", "number"}, {"joined", "date"}, {"level", "select"}, {"interests", "multiselect"}, {"note", "text"},
};
#define NFIELDS (sizeof(test_fields) / sizeof(test_fields[0]))

static int hidden_uscc(const char *field)
{
    return strcmp(field, "uscc") == 0 || strcmp(field, "attrs.note") == 0;
}

/* ---- helpers ---- */

static void bad_rule_n(const char *rule, size_t len, size_t pos, const char *message, int line)
{
    struct segment_sql s;
    struct segment_error e;
    int rc = segment_compile(rule, len, test_fields, NFIELDS, &s, &e);
    if (rc != -1 || e.pos != pos || strcmp(e.message, message) != 0)
        fail_msg("line %d: \"%.60s\": got rc %d pos %zu \"%s\", want -1 pos %zu \"%s\"", line, rule, rc, e.pos,
                 e.message, pos, message);
    assert_null(s.sql.data);
    assert_int_equal(s.nparams, 0);
    assert_null(s.params);
    segment_sql_free(&s);
}
#define bad_rule(rule, pos, msg) bad_rule_n((rule), strlen(rule), (pos), (msg), __LINE__)

static void compile_ok(const char *rule, struct segment_sql *s)
{
    struct segment_error e;
    int rc = segment_compile(rule, strlen(rule), test_fields, NFIELDS, s, &e);
    if (rc != 0)
        fail_msg("\"%s\": rc %d at %zu: %s", rule, rc, e.pos, e.message);
}

static void param_text_is(const struct segment_sql *s, size_t i, const char *want)
{
    assert_true(i < s->nparams);
    assert_int_equal(s->params[i].t, DB_TEXT);
    size_t n = s->params[i].n ? s->params[i].n : strlen(s->params[i].s);
    if (n != strlen(want) || memcmp(s->params[i].s, want, n) != 0)
        fail_msg("param %zu: got \"%.*s\", want \"%s\"", i, (int)n, s->params[i].s, want);
}

static void param_int_is(const struct segment_sql *s, size_t i, int64_t want)
{
    assert_true(i < s->nparams);
    assert_int_equal(s->params[i].t, DB_I64);
    assert_int_equal(s->params[i].i, want);
}

static size_t count_marks(const char *sql)
{
    size_t n = 0;
    for (; *sql; sql++)
        n += *sql == '?';
    return n;
}

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

/* ---- (a) errors ---- */

static void test_syntax_errors(void **state)
{
    (void)state;
    bad_rule("", 0, "the rule is empty");
    bad_rule(" \t\n ", 0, "the rule is empty");
    bad_rule("(tag:a", 6, "expected AND, OR or ')' to close the '(' at byte 0, found end of rule");
    bad_rule("(tag:a OR (tag:b)", 17, "expected AND, OR or ')' to close the '(' at byte 0, found end of rule");
    bad_rule("tag:a)", 5, "unbalanced ')': no '(' to close");
    bad_rule(")", 0, "expected a condition, found ')'");
    bad_rule("contact_days >=", 15, "expected a value after '>=', found end of rule");
    bad_rule("owner_id >= )", 12, "expected a value after '>=', found ')'");
    bad_rule("name == x", 6, "expected a value after '=', found '='");
    bad_rule("name = AND", 7, "expected a value after '=' (quote a value that is a keyword), found 'AND'");
    bad_rule("name ! x", 5, "unexpected '!' (the operator is '!=')");
    bad_rule("name x", 5, "expected an operator (= != < <= > >= ~) after 'name', found 'x'");
    bad_rule("foo = 1", 0, "unknown field 'foo'");
    bad_rule("tag:a AND 客户等级 = 1", 10, "unknown field '客户等级'");
    bad_rule("stage:lost", 6,
             "unknown stage 'lost' (potential, contacted, proposal, won, maintain, renewal or churned)");
    bad_rule("stage:\"x y\"", 6,
             "unknown stage 'x y' (potential, contacted, proposal, won, maintain, renewal or churned)");
    bad_rule("tag:", 4, "expected a tag name after 'tag:'");
    bad_rule("tag: vip", 4, "expected a tag name after 'tag:'");
    bad_rule("tag:\"\"", 4, "the tag name is empty");
    bad_rule("stage:", 6, "expected a stage name after 'stage:'");
    bad_rule("has:fax", 4, "has: takes email or phone, found 'fax'");
    bad_rule("has:", 4, "expected email or phone after 'has:'");
    bad_rule("tag:a tag:b", 6, "expected AND, OR or end of rule, found 'tag:b'");
    bad_rule("tag:a AND", 9, "expected a condition, found end of rule");
    bad_rule("NOT", 3, "expected a condition, found end of rule");
    bad_rule("AND tag:a", 0, "expected a condition, found 'AND'");
    bad_rule("\"vip\"", 0, "expected a condition, found '\"vip\"'");
    bad_rule("region < 华东", 7, "operator '<' does not apply to text field 'region'");
    bad_rule("attr.score ~ 5", 11, "operator '~' does not apply to number field 'attr.score'");
    bad_rule("created_at ~ 2024-01-01", 11, "operator '~' does not apply to date field 'created_at'");
    bad_rule("attr.interests >= a", 15, "operator '>=' does not apply to multiselect field 'attr.interests'");
    bad_rule("owner_id > abc", 11, "expected a number for 'owner_id', found 'abc'");
    bad_rule("contact_days > 1e3", 15, "expected a number for 'contact_days', found '1e3'");
    bad_rule("owner_id = 1234567890123456789012345", 11,
             "number '1234567890123456789012345' has too many digits (at most 24 before and 6 after the point)");
    bad_rule("attr.score > 1.1234567", 13,
             "number '1.1234567' has too many digits (at most 24 before and 6 after the point)");
    bad_rule("created_at > yesterday", 13,
             "expected a date (YYYY-MM-DD, today, today-N or today+N) for 'created_at', found 'yesterday'");
    bad_rule("created_at = 2023-02-29", 13, "'2023-02-29' is not a calendar date");
    bad_rule("created_at > today-99999", 13, "'today-99999': at most 36500 days from today");
    bad_rule("attr.nope = 1", 0, "unknown custom field 'attr.nope'");
    bad_rule("attr. = 1", 5, "expected a custom field key after 'attr.'");
    bad_rule("attr.Score = 1", 0, "custom field key 'attr.Score' may hold only a-z, 0-9 and _ (at most 64)");
    bad_rule("tickets.fax.7d > 1", 0,
             "unknown field 'tickets.fax.7d' (the ticket channel is chat, email, sms or any)");
    bad_rule("tickets.chat.0d > 1", 0, "unknown field 'tickets.chat.0d' (the window is Nd, N days from 1 to 3650)");
    bad_rule("tickets.chat.3651d > 1", 0,
             "unknown field 'tickets.chat.3651d' (the window is Nd, N days from 1 to 3650)");
    bad_rule("tickets.chat > 1", 0,
             "unknown field 'tickets.chat' (ticket counts are tickets.CHANNEL.Nd, e.g. tickets.chat.7d)");
    bad_rule("name = \"abc", 7, "unterminated quoted string");
    bad_rule("stage:\"won", 6, "unterminated quoted string");
    bad_rule("name = \"a\\nb\"", 9, "unknown escape in a quoted string (only \\\" and \\\\ are allowed)");
    bad_rule("tag:\xe9\x87", 4, "the rule is not valid UTF-8 (byte 4)");
    bad_rule("region = \xff华东", 9, "the rule is not valid UTF-8 (byte 9)");
    bad_rule("name = \xed\xa0\x80", 7, "the rule is not valid UTF-8 (byte 7)"); /* a surrogate */
    bad_rule_n("tag:a\0b", 7, 5, "the rule contains a NUL byte", __LINE__);
}

static void test_limits(void **state)
{
    (void)state;
    /* depth: 32 nested parentheses compile, the 33rd is refused at its own position */
    char *open = repeat("(", 32), *close = repeat(")", 32);
    struct buf b;
    buf_init(&b, 0);
    buf_printf(&b, "%stag:a%s", open, close);
    struct segment_sql s;
    compile_ok(b.data, &s);
    segment_sql_free(&s);
    buf_reset(&b);
    buf_printf(&b, "%s(tag:a)%s", open, close);
    bad_rule(b.data, 32, "the rule nests deeper than 32 levels");
    free(open), free(close);
    /* NOT counts as a level too, so a long NOT chain cannot recurse without bound */
    char *nots = repeat("NOT ", 33);
    buf_reset(&b);
    buf_printf(&b, "%stag:a", nots);
    bad_rule(b.data, 128, "the rule nests deeper than 32 levels");
    free(nots);

    /* 100 conditions compile, the 101st is refused where it starts */
    char *ors = repeat("tag:a OR ", 100);
    buf_reset(&b);
    buf_printf(&b, "%.*s", (int)(strlen(ors) - 4), ors);
    compile_ok(b.data, &s);
    assert_int_equal(s.nparams, 100);
    segment_sql_free(&s);
    buf_reset(&b);
    buf_printf(&b, "%stag:a", ors);
    bad_rule(b.data, 900, "the rule has more than 100 conditions");
    free(ors);

    /* 4000 bytes compile, 4001 do not */
    char *xs = repeat("x", 4000 - 9);
    buf_reset(&b);
    buf_printf(&b, "name = \"%s\"", xs);
    assert_int_equal(b.len, 4000);
    compile_ok(b.data, &s);
    segment_sql_free(&s);
    buf_reset(&b);
    buf_printf(&b, "name = \"%sx\"", xs);
    bad_rule(b.data, 4000, "the rule is longer than 4000 bytes");
    free(xs);
    buf_free(&b);

    /* a long snippet in a message is cut on a character boundary, still UTF-8 */
    char *han = repeat("华", 40);
    buf_init(&b, 0);
    buf_printf(&b, "%s = 1", han);
    struct segment_error e;
    assert_int_equal(segment_compile(b.data, b.len, NULL, 0, &s, &e), -1);
    assert_true(utf8_valid(e.message, strlen(e.message)));
    assert_contains(e.message, "…'");
    free(han);
    buf_free(&b);

    /* no field definitions at all, or one with a NULL type */
    assert_int_equal(segment_compile("attr.score = 1", 14, NULL, 0, &s, &e), -1);
    assert_string_equal(e.message, "unknown custom field 'attr.score'");
    struct segment_field odd[] = {{NULL, "text"}, {"x", NULL}};
    assert_int_equal(segment_compile("attr.x = 1", 10, odd, 2, &s, &e), -1);
    assert_string_equal(e.message, "custom field 'attr.x' has an unsupported type");
    assert_int_equal(segment_compile(NULL, 0, NULL, 0, &s, NULL), -1);
}

/* ---- the SQL and its parameters ---- */

static void test_sql_shape(void **state)
{
    (void)state;
    struct segment_sql s;
    compile_ok("tag:重要客户 AND region != 华东", &s);
    assert_string_equal(s.sql.data, "(EXISTS (SELECT 1 FROM customer_tags sct JOIN tags st ON st.id = sct.tag_id "
                                    "WHERE sct.customer_id = c.id AND st.name = ?) AND NOT (c.region <=> ?))");
    assert_int_equal(s.nparams, 2);
    param_text_is(&s, 0, "重要客户");
    param_text_is(&s, 1, "华东");
    segment_sql_free(&s);

    compile_ok("tag:a OR tag:b OR tag:c", &s);
    assert_int_equal(s.nparams, 3);
    assert_not_contains(s.sql.data, "((EXISTS"); /* one chain, one pair of parentheses */
    segment_sql_free(&s);

    compile_ok("NOT tag:a", &s);
    assert_string_equal(s.sql.data, "((EXISTS (SELECT 1 FROM customer_tags sct JOIN tags st ON st.id = sct.tag_id "
                                    "WHERE sct.customer_id = c.id AND st.name = ?)) IS NOT TRUE)");
    segment_sql_free(&s);
}

static void test_sql_forms(void **state)
{
    (void)state;
    struct segment_sql s;
    struct segment_error e;
    assert_int_equal(segment_compile("stage:won OR stage:LOST", 23, NULL, 0, &s, &e), -1);
    assert_int_equal(e.pos, 19);

    compile_ok("stage:won or stage:Churned Or NOT stage:potential", &s);
    assert_string_equal(s.sql.data, "(c.stage = ? OR c.stage = ? OR ((c.stage = ?) IS NOT TRUE))");
    param_text_is(&s, 1, "churned");
    segment_sql_free(&s);

    compile_ok("created_at >= today-7 AND last_contact_at < 2024-02-29 AND last_followup_at != today", &s);
    assert_string_equal(s.sql.data, "(DATE(c.created_at) >= (CURDATE() - INTERVAL ? DAY) AND "
                                    "DATE(c.last_contact_at) < CAST(? AS DATE) AND "
                                    "NOT (DATE(c.last_followup_at) <=> CURDATE()))");
    param_int_is(&s, 0, 7);
    param_text_is(&s, 1, "2024-02-29");
    segment_sql_free(&s);

    compile_ok("name ~ \"5%_\\\\\"", &s); /* the value is 5%_\ */
    assert_string_equal(s.sql.data, "c.name LIKE ?");
    param_text_is(&s, 0, "%5\\%\\_\\\\%");
    segment_sql_free(&s);

    compile_ok("tickets.chat.7d >= 3", &s);
    assert_string_equal(s.sql.data, "(SELECT COUNT(*) FROM tickets st2 WHERE st2.customer_id = c.id AND "
                                    "st2.channel = ? AND st2.created_at >= UTC_TIMESTAMP() - INTERVAL ? DAY) >= "
                                    "CAST(? AS DECIMAL(30,6))");
    param_text_is(&s, 0, "chat");
    param_int_is(&s, 1, 7);
    param_text_is(&s, 2, "3");
    segment_sql_free(&s);

    compile_ok("tickets.any.30d > 0", &s);
    assert_not_contains(s.sql.data, "st2.channel");
    assert_int_equal(s.nparams, 2);
    segment_sql_free(&s);

    compile_ok("attr.score > -2.5 AND attr.interests != \"a b\" AND attr.joined <= today+3", &s);
    assert_int_equal(s.nparams, 8);
    assert_int_equal(count_marks(s.sql.data), 8);
    param_text_is(&s, 0, "$.\"score\"");
    param_text_is(&s, 2, "-2.5");
    param_text_is(&s, 4, "a b");
    param_int_is(&s, 7, 3);
    assert_contains(s.sql.data, "NOT (JSON_CONTAINS(JSON_EXTRACT(c.attrs, ?), JSON_QUOTE(?)) <=> 1)");
    assert_contains(s.sql.data, "DATE_FORMAT(CURDATE() + INTERVAL ? DAY, '%Y-%m-%d')");
    segment_sql_free(&s);

    compile_ok("has:EMAIL and deals.won >= 1 AND company ~ 华为", &s);
    param_text_is(&s, 0, "email");
    param_text_is(&s, 1, "won");
    param_text_is(&s, 3, "%华为%");
    segment_sql_free(&s);
}

static void test_sql_forms_more(void **state)
{
    (void)state;
    struct segment_sql s;
    compile_ok("tag:\"大 客户\"\xe3\x80\x80" "AND\xe3\x80\x80name = \"AND\" AND region = \"\" AND uscc=\"a\\\"b\"", &s);
    param_text_is(&s, 0, "大 客户");
    param_text_is(&s, 1, "AND");
    param_text_is(&s, 2, "");
    param_text_is(&s, 3, "a\"b");
    segment_sql_free(&s);

    /* every built-in field compiles and yields as many parameters as placeholders */
    static const char *const rules[] = {
        "name = a", "customer_no != a", "industry ~ a", "type = new", "stage = won", "grade = A", "source = a",
        "region = a", "address ~ a", "uscc = a", "company = a", "owner_id >= 1", "contact_days <= 3",
        "created_at > 2020-01-01", "last_contact_at < today", "last_followup_at = today+1", "deals.won = 1",
        "deals.open != 0", "tickets.email.1d < 2", "tickets.sms.3650d <= 2", "attr.note ~ x", "attr.level != y",
        "attr.interests ~ z", "has:phone", "NOT (tag:x AND NOT has:email)", "NAME = x", "Tickets.Chat.7D > 1",
    };
    for (size_t i = 0; i < sizeof(rules) / sizeof(rules[0]); i++) {
        compile_ok(rules[i], &s);
        assert_int_equal(count_marks(s.sql.data), s.nparams);
        segment_sql_free(&s);
    }
}

/* ---- (b)/(c) against a real database ---- */

static struct sb_config cfg;
static int have_db;
static struct db *db;
static struct db_result defs_res;
static struct segment_field *defs;
static size_t ndefs;
static int64_t owner;

static int64_t must_insert(const char *sql, const struct db_param *p, size_t np)
{
    struct db_result r;
    int rc = db_exec(db, sql, p, np, &r);
    if (rc != DB_OK) {
        print_error("%s: %s\n", sql, db_error(db));
        return -1;
    }
    int64_t id = (int64_t)r.insert_id;
    db_result_free(&r);
    return id;
}

/* created/contact/followup: days ago, -1 for NULL. */
static int64_t add_customer(const char *no, const char *name, const char *stage, const char *region, int created,
                            int contact, const char *attrs)
{
    return must_insert("INSERT INTO customers (customer_no, name, stage, region, created_at, last_contact_at, attrs) "
                       "VALUES (?, ?, ?, ?, UTC_TIMESTAMP(3) - INTERVAL ? DAY, "
                       "IF(? < 0, NULL, UTC_TIMESTAMP(3) - INTERVAL ? DAY), ?)",
                       DBP(P_S(no), P_S(name), P_S(stage), P_S(region), P_I(created), P_I(contact), P_I(contact),
                           P_S(attrs)));
}

static void tag(int64_t customer, const char *name)
{
    must_insert("INSERT IGNORE INTO tags (name) VALUES (?)", DBP(P_S(name)));
    must_insert("INSERT INTO customer_tags (customer_id, tag_id) SELECT ?, id FROM tags WHERE name = ?",
                DBP(P_I(customer), P_S(name)));
}

/* hours_ago, so "6 days ago" is safely inside a 7-day window. */
static void ticket(int64_t customer, const char *channel, int hours_ago)
{
    must_insert("INSERT INTO tickets (customer_id, channel, created_at) VALUES (?, ?, UTC_TIMESTAMP(3) - INTERVAL ? HOUR)",
                DBP(P_I(customer), P_S(channel), P_I(hours_ago)));
}

static void deal(int64_t customer, const char *status)
{
    /* 009_crm's deals has a title and a pipeline stage; the stand-in table has neither. */
    int64_t full = unit_scalar(db, "SELECT COUNT(*) FROM information_schema.columns WHERE table_schema = DATABASE() "
                                   "AND table_name = 'deals' AND column_name = 'stage_id'", DBP0);
    if (full)
        must_insert("INSERT INTO deals (customer_id, title, stage_id, status) "
                    "SELECT ?, 'deal', MIN(id), ? FROM pipeline_stages",
                    DBP(P_I(customer), P_S(status)));
    else
        must_insert("INSERT INTO deals (customer_id, status) VALUES (?, ?)", DBP(P_I(customer), P_S(status)));
}

static void set_text(int64_t customer, const char *sql_update, const char *value)
{
    must_insert(sql_update, DBP(P_S(value), P_I(customer)));
}

static int seed(void)
{
    /* Either 009_crm (lead) or these stand-ins: the tests pass with and without it. */
    if (db_exec_script(db, "CREATE TABLE IF NOT EXISTS deals (id BIGINT UNSIGNED AUTO_INCREMENT PRIMARY KEY, "
                           "customer_id BIGINT UNSIGNED NOT NULL, status ENUM('open','won','lost') NOT NULL "
                           "DEFAULT 'open');"
                           "ALTER TABLE customers ADD COLUMN IF NOT EXISTS last_followup_at DATETIME(3) NULL") != DB_OK)
        return -1;
    owner = must_insert("INSERT INTO agents (email, name, role, password_hash) VALUES ('o@example.com', 'O', 'sales', 'x')",
                        DBP0);
    int64_t co = must_insert("INSERT INTO companies (name, name_norm) VALUES ('华为技术有限公司', '华为技术')", DBP0);
    static const char *const defs_sql =
        "INSERT INTO field_defs (`key`, label, type, options) VALUES ('score', '评分', 'number', NULL), "
        "('joined', '入会日期', 'date', NULL), ('level', '等级', 'select', '[\"gold\",\"silver\",\"bronze\"]'), "
        "('interests', '兴趣', 'multiselect', '[\"golf\",\"wine\",\"高尔夫\"]'), ('note', '备注', 'text', NULL)";
    if (must_insert(defs_sql, DBP0) < 0 || owner < 0 || co < 0)
        return -1;

    int64_t c01 = add_customer("C01", "张三", "won", "华东", 400, 10,
                               "{\"score\":90,\"level\":\"gold\",\"interests\":[\"golf\",\"wine\"],\"note\":\"likes 茶\"}");
    int64_t c02 = add_customer("C02", "李四", "contacted", "华北", 300, 100,
                               "{\"score\":50,\"level\":\"silver\",\"interests\":[\"wine\"]}");
    int64_t c03 = add_customer("C03", "王五", "potential", NULL, 200, -1, "{}");
    int64_t c04 = add_customer("C04", "赵六", "churned", "华东", 50, 1,
                               "{\"score\":\"abc\",\"joined\":\"not a date\",\"level\":\"gold\"}");
    int64_t c05 = add_customer("C05", "100% 纯棉", "proposal", "华南", 120, 95, "{\"score\":80.5}");
    int64_t c06 = add_customer("C06", "a_b 公司", "maintain", "华东", 10, -1, "{\"score\":100,\"interests\":[\"高尔夫\"]}");
    int64_t c07 = add_customer("C07", "axb 公司", "renewal", "西南", 10, -1, "{}");
    int64_t c08 = add_customer("C08", "back\\slash", "won", NULL, 5, -1, "{}");
    int64_t c09 = add_customer("C09", "1000 items", "potential", "华东", 2, -1, "{}");
    int64_t c10 = add_customer("C10", "Acme", "contacted", "华北", 30, 30, "{\"interests\":[\"golf\"],\"level\":\"bronze\"}");
    int64_t c11 = add_customer("C11", "Beta", "renewal", "华东", 365, 200, "{\"note\":\"50% discount\"}");
    int64_t c12 = add_customer("C12", "Gamma 张", "potential", "", 1, 0, "{}");
    int64_t c13 = add_customer("C13", "张三 dup", "won", "华东", 400, 10, "{\"score\":90,\"level\":\"gold\"}");
    if (c01 < 0 || c02 < 0 || c03 < 0 || c04 < 0 || c05 < 0 || c06 < 0 || c07 < 0 || c08 < 0 || c09 < 0 || c10 < 0 ||
        c11 < 0 || c12 < 0 || c13 < 0)
        return -1;

    /* joined: a date relative to the server's today (UTC), as the UI would store it */
    must_insert("UPDATE customers SET attrs = JSON_SET(attrs, '$.joined', DATE_FORMAT(CURDATE() - INTERVAL ? DAY, "
                "'%Y-%m-%d')) WHERE id = ?", DBP(P_I(5), P_I(c01)));
    must_insert("UPDATE customers SET attrs = JSON_SET(attrs, '$.joined', DATE_FORMAT(CURDATE() - INTERVAL ? DAY, "
                "'%Y-%m-%d')) WHERE id = ?", DBP(P_I(40), P_I(c02)));
    must_insert("UPDATE customers SET owner_id = ?, company_id = ? WHERE id = ?", DBP(P_I(owner), P_I(co), P_I(c01)));
    must_insert("UPDATE customers SET company_id = ? WHERE id = ?", DBP(P_I(co), P_I(c10)));
    must_insert("UPDATE customers SET owner_id = ? WHERE id = ?", DBP(P_I(owner), P_I(c11)));
    set_text(c10, "UPDATE customers SET industry = ? WHERE id = ?", "制造");
    set_text(c11, "UPDATE customers SET source = ? WHERE id = ?", "展会");
    must_insert("UPDATE customers SET last_followup_at = UTC_TIMESTAMP(3) - INTERVAL 10 DAY WHERE id = ?",
                DBP(P_I(c03)));
    must_insert("UPDATE customers SET last_followup_at = UTC_TIMESTAMP(3) WHERE id = ?", DBP(P_I(c02)));
    must_insert("UPDATE customers SET merged_into = ? WHERE id = ?", DBP(P_I(c01), P_I(c13)));

    tag(c01, "重要客户"), tag(c01, "vip"), tag(c02, "重要客户"), tag(c04, "vip"), tag(c09, "大 客户");
    tag(c10, "vip"), tag(c12, "重要客户"), tag(c13, "重要客户"), tag(c13, "vip");

    must_insert("INSERT INTO customer_identities (customer_id, kind, value, is_primary) VALUES "
                "(?, 'email', 'zs@example.com', 1), (?, 'phone', '+8613800000002', 1), "
                "(?, 'email', 'zl@example.com', NULL), (?, 'email', 'dup@example.com', 1)",
                DBP(P_I(c01), P_I(c02), P_I(c04), P_I(c13)));

    ticket(c01, "chat", 24), ticket(c01, "chat", 48), ticket(c01, "chat", 144), ticket(c01, "email", 720);
    ticket(c02, "chat", 72), ticket(c02, "chat", 480);
    ticket(c04, "email", 1);
    ticket(c10, "sms", 48);
    ticket(c11, "chat", 192), ticket(c11, "chat", 216), ticket(c11, "chat", 240);
    for (int i = 0; i < 4; i++)
        ticket(c13, "chat", 2);

    deal(c01, "won"), deal(c02, "open"), deal(c02, "open"), deal(c12, "lost"), deal(c13, "won");
    return 0;
}

/* The custom fields as a caller would pass them: read from field_defs. */
static int load_defs(void)
{
    if (db_exec(db, "SELECT `key`, type FROM field_defs ORDER BY id", DBP0, &defs_res) != DB_OK)
        return -1;
    ndefs = defs_res.nrows;
    defs = calloc(ndefs ? ndefs : 1, sizeof(*defs));
    if (!defs)
        return -1;
    for (size_t i = 0; i < ndefs; i++)
        defs[i] = (struct segment_field){db_cell(&defs_res, i, 0), db_cell(&defs_res, i, 1)};
    return 0;
}

static int group_setup(void **state)
{
    (void)state;
    if (unit_db_env() != 0)
        return 0; /* the database tests skip */
    log_set_level(LOG_WARN);
    db_library_init();
    if (unit_db_config(&cfg, NULL) != 0 || unit_db_create(&cfg) != 0)
        return -1;
    char err[512];
    int applied = 0;
    if (migrate_run(&cfg, &applied, err, sizeof(err)) != 0) {
        print_error("migrate_run: %s\n", err);
        return -1;
    }
    db = db_new(&cfg, 1);
    if (seed() != 0 || load_defs() != 0)
        return -1;
    have_db = 1;
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    if (db) {
        db_result_free(&defs_res);
        free(defs);
        db_free(db);
        unit_db_destroy(&cfg);
        db_library_end();
    }
    return 0;
}

/* The customer numbers a rule selects, space-separated, or "error ..." */
static const char *matched_by(const char *rule, const char *wrap_prefix)
{
    static char out[1024];
    struct segment_sql s;
    struct segment_error e;
    int rc = segment_compile(rule, strlen(rule), defs, ndefs, &s, &e);
    if (rc) {
        snprintf(out, sizeof(out), "error %d at %zu: %s", rc, e.pos, e.message);
        return out;
    }
    assert_int_equal(count_marks(s.sql.data), s.nparams);
    struct buf q;
    buf_init(&q, 0);
    buf_printf(&q, "%sSELECT c.customer_no FROM customers c WHERE c.merged_into IS NULL AND (%s) ORDER BY c.customer_no",
               wrap_prefix, s.sql.data);
    struct db_result r;
    rc = db_exec(db, q.data, s.params, s.nparams, &r);
    out[0] = '\0';
    if (rc != DB_OK) {
        snprintf(out, sizeof(out), "sql error %d: %s", rc, db_error(db));
    } else {
        size_t at = 0;
        for (size_t i = 0; i < r.nrows && at < sizeof(out); i++)
            at += (size_t)snprintf(out + at, sizeof(out) - at, "%s%s", i ? " " : "", db_cell(&r, i, 0));
        db_result_free(&r);
    }
    buf_free(&q);
    segment_sql_free(&s);
    return out;
}

#define expect(rule, want) expect_at((rule), (want), __LINE__)
static void expect_at(const char *rule, const char *want, int line)
{
    const char *got = matched_by(rule, "");
    if (strcmp(got, want) != 0)
        fail_msg("line %d: \"%s\"\n   got: %s\n  want: %s", line, rule, got, want);
}

static void test_db_tags_stages_precedence(void **state)
{
    (void)state;
    if (!have_db)
        skip();
    expect("tag:重要客户", "C01 C02 C12");
    expect("tag:VIP", "C01 C04 C10");
    expect("tag:\"大 客户\"", "C09");
    expect("tag:nobody", "");
    expect("stage:won", "C01 C08");
    expect("stage = won", "C01 C08");
    expect("NOT stage:won", "C02 C03 C04 C05 C06 C07 C09 C10 C11 C12");
    expect("NOT NOT stage:won", "C01 C08");
    /* AND binds tighter than OR */
    expect("tag:重要客户 OR tag:vip AND stage:churned", "C01 C02 C04 C12");
    expect("(tag:重要客户 OR tag:vip) AND stage:won", "C01");
    expect("NOT (tag:重要客户 OR tag:vip)", "C03 C05 C06 C07 C08 C09 C11");
    expect("tag:vip and not stage:churned or stage:renewal", "C01 C07 C10 C11");
    expect("stage:WON OR tag:\"大 客户\"", "C01 C08 C09");
}

static void test_db_text_and_nulls(void **state)
{
    (void)state;
    if (!have_db)
        skip();
    expect("region = 华东", "C01 C04 C06 C09 C11");
    /* != and NOT include customers with no region (C03, C08) and the empty one (C12) */
    expect("region != 华东", "C02 C03 C05 C07 C08 C10 C12");
    expect("NOT region = 华东", "C02 C03 C05 C07 C08 C10 C12");
    expect("region = \"\"", "C12");
    /* ~ is literal: % and _ and \ match only themselves */
    expect("name ~ 100%", "C05");
    expect("name ~ a_b", "C06");
    expect("name ~ \"k\\\\s\"", "C08");
    expect("name ~ 张", "C01 C12");
    expect("company ~ 华为", "C01 C10");
    expect("company != 华为技术有限公司", "C02 C03 C04 C05 C06 C07 C08 C09 C11 C12");
    expect("source = 展会 OR industry = 制造", "C10 C11");
    expect("has:email", "C01");
    expect("has:phone", "C02");
    expect("NOT has:email AND tag:vip", "C04 C10");
}

static void test_db_numbers_dates_counts(void **state)
{
    (void)state;
    if (!have_db)
        skip();
    expect("created_at >= today-30", "C06 C07 C08 C09 C10 C12");
    expect("created_at = today-10", "C06 C07");
    expect("created_at > today+1", "");
    expect("last_contact_at < today-90", "C02 C05 C11");
    expect("last_contact_at >= today", "C12");
    expect("last_followup_at < today-3", "C03");
    expect("contact_days > 90", "C02 C03 C05 C11");
    expect("tickets.chat.7d >= 3", "C01");
    expect("tickets.chat.30d >= 3", "C01 C11");
    expect("tickets.any.7d >= 1", "C01 C02 C04 C10");
    expect("tickets.email.365d = 1", "C01 C04");
    expect("deals.won >= 1", "C01");
    expect("deals.open = 2", "C02");
    expect("deals.open = 0 AND deals.won = 0", "C03 C04 C05 C06 C07 C08 C09 C10 C11 C12");
    char rule[64];
    snprintf(rule, sizeof(rule), "owner_id = %lld", (long long)owner);
    expect(rule, "C01 C11");
    snprintf(rule, sizeof(rule), "owner_id != %lld", (long long)owner);
    expect(rule, "C02 C03 C04 C05 C06 C07 C08 C09 C10 C12");
}

static void test_db_custom_fields(void **state)
{
    (void)state;
    if (!have_db)
        skip();
    /* C04's score is "abc": it simply does not compare */
    expect("attr.score >= 80", "C01 C05 C06");
    expect("attr.score != 90", "C02 C03 C04 C05 C06 C07 C08 C09 C10 C11 C12");
    expect("attr.score < 80.5", "C02");
    expect("attr.score <= 80.5", "C02 C05");
    expect("attr.score = \"100\"", "C06");
    expect("attr.level = gold", "C01 C04");
    expect("attr.level != gold", "C02 C03 C05 C06 C07 C08 C09 C10 C11 C12");
    expect("attr.level ~ ol", "C01 C04");
    expect("attr.interests = golf", "C01 C10");
    expect("attr.interests ~ wine", "C01 C02");
    expect("attr.interests = 高尔夫", "C06");
    expect("attr.interests != golf", "C02 C03 C04 C05 C06 C07 C08 C09 C11 C12");
    expect("attr.joined >= today-30", "C01");
    expect("attr.joined < today-30", "C02");
    expect("NOT attr.joined < today-30", "C01 C03 C04 C05 C06 C07 C08 C09 C10 C11 C12");
    expect("attr.note ~ \"50%\"", "C11");
    expect("attr.unknown = 1", "error -1 at 0: unknown custom field 'attr.unknown'");
}

/* Under the strict sql_mode, INSERT ... SELECT turns conversion warnings into errors: the
 * shape guards must keep C04's "abc" score and "not a date" from failing the statement. */
static void test_db_strict_insert_select(void **state)
{
    (void)state;
    if (!have_db)
        skip();
    assert_int_equal(db_exec_script(db, "CREATE TABLE IF NOT EXISTS seg_out (customer_no VARCHAR(32))"), DB_OK);
    static const char *const rules[] = {"attr.score > 1", "attr.joined < today", "attr.joined = 2024-01-01",
                                        "attr.score != 3 OR attr.joined != today-1"};
    for (size_t i = 0; i < sizeof(rules) / sizeof(rules[0]); i++) {
        const char *got = matched_by(rules[i], "INSERT INTO seg_out ");
        if (strcmp(got, "") != 0)
            fail_msg("\"%s\" inside INSERT ... SELECT: %s", rules[i], got);
    }
    assert_true(unit_scalar(db, "SELECT COUNT(*) FROM seg_out", DBP0) > 0);
}

static void test_db_injection(void **state)
{
    (void)state;
    if (!have_db)
        skip();
    expect("name = \"x' OR 1=1 --\"", "");
    expect("name = \"x\\\" OR 1=1 --\"", "");
    expect("region = \"华东' OR '1'='1\"", "");
    expect("tag:\"vip' OR '1'='1\"", "");
    expect("name ~ \"' OR 1=1 #\"", "");
    expect("name = 1;DROP", "");
    expect("attr.level = \"gold') OR 1=1 -- \"", "");
    expect("attr.interests = \"golf\\\"]') OR 1=1 -- \"", "");
    expect("stage:\"won' OR 1=1 --\"",
           "error -1 at 6: unknown stage 'won' OR 1=1 --' (potential, contacted, proposal, won, maintain, renewal or "
           "churned)");
    expect("attr.x'y = 1", "error -1 at 0: custom field key 'attr.x'y' may hold only a-z, 0-9 and _ (at most 64)");
    expect("attr.score\" = 1", "error -1 at 10: unterminated quoted string");
    expect("region != \"x' OR 1=1\"", "C01 C02 C03 C04 C05 C06 C07 C08 C09 C10 C11 C12"); /* a value, nothing more */
    assert_int_equal(unit_scalar(db, "SELECT COUNT(*) FROM customers", DBP0), 13);
}


/* Custom-object fields (obj.TYPE.FIELD), a rule's record columns and hidden fields. */
static void test_env_objects_columns_hidden(void **state)
{
    (void)state;
    static const struct segment_column cols[] = {{"deal.amount", SEGMENT_NUMBER, "d.amount"}};
    static const struct segment_objfield objs[] = {{"equipment", "warranty_end", 8, "date"},
                                                   {"equipment", "tags", 10, "multiselect"},
                                                   {"equipment", "model", 7, "select"}};
    struct segment_env env = {.fields = test_fields, .nfields = NFIELDS, .cols = cols, .ncols = 1, .objs = objs,
                              .nobjs = 3, .hidden = hidden_uscc};
    struct segment_sql s;
    struct segment_error e;
    const char *r1 = "obj.equipment.warranty_end < today+30 AND deal.amount >= 100";
    assert_int_equal(segment_compile_env(r1, strlen(r1), &env, &s, &e), 0);
    assert_non_null(strstr(s.sql.data, "EXISTS (SELECT 1 FROM object_values sov WHERE sov.customer_id = c.id AND "
                                       "sov.field_id = ? AND sov.v_date < (CURDATE() + INTERVAL ? DAY))"));
    assert_non_null(strstr(s.sql.data, "d.amount >= CAST(? AS DECIMAL(30,6))"));
    param_int_is(&s, 0, 8);
    param_int_is(&s, 1, 30);
    param_text_is(&s, 2, "100");
    segment_sql_free(&s);
    const char *r2 = "obj.equipment.tags != a AND obj.equipment.model != X100";
    assert_int_equal(segment_compile_env(r2, strlen(r2), &env, &s, &e), 0);
    /* a multiselect's != is "no record has it"; a select's is "a record whose value differs" */
    assert_non_null(strstr(s.sql.data, "NOT EXISTS (SELECT 1 FROM object_values sov WHERE sov.customer_id = c.id AND "
                                       "sov.field_id = ? AND sov.v_text = ?)"));
    assert_non_null(strstr(s.sql.data, "sov.v_text <> ?"));
    segment_sql_free(&s);
    static const struct {
        const char *rule;
        size_t pos;
        const char *message;
    } bad[] = {
        {"obj.equipment.nope = 1", 0, "unknown custom object field 'obj.equipment.nope'"},
        {"obj.equipment = 1", 0, "unknown field 'obj.equipment' (custom objects are obj.TYPE.FIELD, e.g. obj.equipment.model)"},
        {"obj.equipment.warranty_end ~ 2026", 27, "operator '~' does not apply to date field 'obj.equipment.warranty_end'"},
        {"tag:a AND uscc = 1", 10, "field 'uscc' is hidden from you"},
        {"attr.note ~ x", 0, "field 'attr.note' is hidden from you"},
        {"deal.amountx > 1", 0, "unknown field 'deal.amountx'"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        int rc = segment_compile_env(bad[i].rule, strlen(bad[i].rule), &env, &s, &e);
        if (rc != -1 || e.pos != bad[i].pos || strcmp(e.message, bad[i].message) != 0)
            fail_msg("\"%s\": got rc %d pos %zu \"%s\", want pos %zu \"%s\"", bad[i].rule, rc, e.pos, e.message,
                     bad[i].pos, bad[i].message);
        segment_sql_free(&s);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_syntax_errors),
        cmocka_unit_test(test_limits),
        cmocka_unit_test(test_sql_shape),
        cmocka_unit_test(test_sql_forms),
        cmocka_unit_test(test_sql_forms_more),
        cmocka_unit_test(test_env_objects_columns_hidden),
        cmocka_unit_test(test_db_tags_stages_precedence),
        cmocka_unit_test(test_db_text_and_nulls),
        cmocka_unit_test(test_db_numbers_dates_counts),
        cmocka_unit_test(test_db_custom_fields),
        cmocka_unit_test(test_db_strict_insert_select),
        cmocka_unit_test(test_db_injection),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
