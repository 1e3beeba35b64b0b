/* test_email_mime.c — the email channel's MIME parser (channels/email_mime.h): the public
 * CPython mail corpus must parse to valid UTF-8, and our own corpus in tests/data/mail/
 * (real-world-shaped GBK/Big5/ISO-2022-JP/Shift_JIS/EUC-KR mail, broken structure and
 * limits) must decode to the asserted text. Run from the repository root. */
#include "tests/unit/unit.h"
#include "channels/email_mime.h"
#include "gateway/lib/text.h"
#include <dirent.h>
#include <errno.h>
#include <stdlib.h>

#define CPYTHON_DIR "/work/shared/testdata/mail-cpython"
#define CORPUS_DIR "tests/data/mail"

static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    struct buf_ { char *p; size_t n, a; } b = {NULL, 0, 0};
    char chunk[65536];
    size_t r;
    while ((r = fread(chunk, 1, sizeof(chunk), f)) > 0) {
        if (b.n + r + 1 > b.a) {
            size_t na = (b.a ? b.a * 2 : 65536) + r;
            char *np = realloc(b.p, na);
            if (!np) {
                free(b.p);
                fclose(f);
                return NULL;
            }
            b.p = np;
            b.a = na;
        }
        memcpy(b.p + b.n, chunk, r);
        b.n += r;
    }
    fclose(f);
    if (!b.p)
        b.p = calloc(1, 1);
    else
        b.p[b.n] = '\0';
    *len = b.n;
    return b.p;
}

static void assert_utf8(const char *s)
{
    if (s)
        assert_true(utf8_valid(s, strlen(s)));
}

static void assert_message_clean(const struct mime_message *m)
{
    const char *f[] = {m->message_id, m->in_reply_to, m->references, m->subject, m->from_name, m->from_addr,
                       m->to, m->cc, m->reply_to, m->date, m->auto_submitted, m->precedence, m->list_id,
                       m->text, m->text_visible, m->html, m->warnings};
    for (size_t i = 0; i < sizeof(f) / sizeof(f[0]); i++)
        assert_utf8(f[i]);
    assert_non_null(m->text);
    assert_non_null(m->text_visible);
    for (size_t i = 0; i < m->n_attachments; i++) {
        assert_utf8(m->attachments[i].filename);
        assert_utf8(m->attachments[i].content_type);
        assert_int_equal(strlen(m->attachments[i].sha256_hex), 64);
    }
}

static int parse_file(const char *path, struct mime_message *m)
{
    size_t n = 0;
    char *raw = slurp(path, &n);
    if (!raw)
        return -1;
    int r = mime_parse(raw, n, NULL, m);
    free(raw);
    return r;
}

/* ---- the public CPython corpus: no errors, no invalid UTF-8 ---- */

static void test_cpython_corpus(void **state)
{
    (void)state;
    DIR *d = opendir(CPYTHON_DIR);
    if (!d) {
        print_message("skipping: %s not present\n", CPYTHON_DIR);
        skip();
    }
    size_t seen = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        size_t nl = strlen(e->d_name);
        if (nl < 5 || strcmp(e->d_name + nl - 4, ".txt") != 0 || strncmp(e->d_name, "msg_", 4) != 0)
            continue;
        char path[512];
        assert_true(snprintf(path, sizeof(path), "%s/%s", CPYTHON_DIR, e->d_name) < (int)sizeof(path));
        struct mime_message m;
        assert_int_equal(parse_file(path, &m), 0);
        assert_message_clean(&m);
        mime_message_free(&m);
        seen++;
    }
    closedir(d);
    assert_true(seen >= 40);
}

static void test_cpython_selected(void **state)
{
    (void)state;
    struct mime_message m;
    if (parse_file(CPYTHON_DIR "/msg_01.txt", &m) != 0)
        skip();
    assert_string_equal(m.subject, "This is a test message");
    assert_string_equal(m.from_addr, "bbb@ddd.com");
    assert_string_equal(m.from_name, "John X. Doe");
    assert_contains(m.text, "Do you like this message?");
    mime_message_free(&m);

    assert_int_equal(parse_file(CPYTHON_DIR "/msg_07.txt", &m), 0);
    assert_string_equal(m.subject, "Here is your dingus fish");
    assert_contains(m.text, "This is the dingus fish.");
    assert_int_equal(m.n_attachments, 1);
    assert_string_equal(m.attachments[0].filename, "dingusfish.gif");
    assert_string_equal(m.attachments[0].content_type, "image/gif");
    mime_message_free(&m);

    assert_int_equal(parse_file(CPYTHON_DIR "/msg_02.txt", &m), 0); /* multipart/digest */
    assert_string_equal(m.subject, "Ppp digest, Vol 1 #2 - 5 msgs");
    assert_int_equal(m.n_attachments, 5);
    assert_string_equal(m.attachments[0].content_type, "message/rfc822");
    mime_message_free(&m);

    assert_int_equal(parse_file(CPYTHON_DIR "/msg_31.txt", &m), 0); /* wrong boundary param */
    assert_contains(m.text, "message 1");
    assert_contains(m.text, "message 2");
    assert_not_contains(m.text, "--BOUNDARY");
    mime_message_free(&m);

    assert_int_equal(parse_file(CPYTHON_DIR "/msg_35.txt", &m), 0); /* no blank line */
    assert_string_equal(m.subject, "here's something interesting");
    mime_message_free(&m);
}

/* ---- our corpus ---- */

struct expect {
    const char *file, *subject, *text, *visible_not;
    int natt;             /* -1 = not checked */
    const char *fname;    /* some attachment has this filename */
    int truncated;
    const char *from_addr, *from_name, *html;
    int inline_part;      /* -1 = not checked; else the first attachment's flag */
};

static const struct expect corpus[] = {
    {"01-gbk-base64.eml", "订单问题", "您好，我的订单还没有发货。", NULL, -1, NULL, 0, NULL, NULL, NULL, -1},
    {"02-gb2312-label-gbk-bytes-qp.eml", "镕字测试", "朱镕基同志的来信", NULL, -1, NULL, 0, NULL, NULL, NULL, -1},
    {"03-gb18030-8bit.eml", "欧元", "价格 €100，已确认", NULL, -1, NULL, 0, NULL, NULL, NULL, -1},
    {"04-big5-base64.eml", "退款進度", "您好，請問退款進度如何？", NULL, -1, NULL, 0, NULL, NULL, NULL, -1},
    {"05-iso2022jp-7bit.eml", "お問い合わせ", "お問い合わせありがとうございます。", NULL, -1, NULL, 0, NULL, NULL, NULL, -1},
    {"06-shiftjis-qp-cp932.eml", "注文の件", "注文番号①について確認します", NULL, -1, NULL, 0, NULL, NULL, NULL, -1},
    {"07-euckr-base64.eml", "환불 요청", "안녕하세요, 환불 요청합니다.", NULL, -1, NULL, 0, NULL, NULL, NULL, -1},
    {"08-ew-split-mixed.eml", "发票申请", "body", NULL, -1, NULL, 0, NULL, NULL, NULL, -1},
    {"09-ew-q-literal.eml", "Re: café au lait is ok", "plain", NULL, -1, NULL, 0, NULL, NULL, NULL, -1},
    {"10-ew-malformed.eml", "Bad =?utf-8?X?abc?= and =?bogus tail", "x", NULL, -1, NULL, 0, NULL, NULL, NULL, -1},
    {"11-unknown-charset.eml", "Unknown", "未知字符集但是UTF-8", NULL, -1, NULL, 0, NULL, NULL, NULL, -1},
    {"12-lying-latin1-is-utf8.eml", "Lie 1", "中文内容，声明为 Latin-1", NULL, -1, NULL, 0, NULL, NULL, NULL, -1},
    {"13-lying-utf8-is-gbk.eml", "Lie 2", "中文测试，实际是GBK编码的正文内容", NULL, -1, NULL, 0, NULL, NULL, NULL, -1},
    {"14-no-content-type-gbk.eml", "No CT", "你好世界，没有声明字符集", NULL, -1, NULL, 0, NULL, NULL, NULL, -1},
    {"15-8bit-headers.eml", "退款申请", "body", NULL, -1, NULL, 0, "zhang.san@example.cn", "张三", NULL, -1},
    {"16-8bit-header-latin1.eml", "Café crème", "merci", NULL, -1, NULL, 0, NULL, NULL, NULL, -1},
    {"17-alternative.eml", "Alt", "纯文本版本", NULL, 0, NULL, 0, NULL, NULL, "HTML版本", -1},
    {"18-html-only.eml", "HTML only", "Hello there & welcome\n\n- One\n- Two\nline1\nline2\na b", NULL, 0, NULL, 0, NULL, NULL, "<script>", -1},
    {"19-html-only-gbk-b64.eml", "HTML GBK", "您好，客服\n订单号：12345", NULL, -1, NULL, 0, NULL, NULL, "<b>客服</b>", -1},
    {"20-nested-mixed-alt-related.eml", "Nested", "嵌套的纯文本", NULL, 2, "invoice.pdf", 0, NULL, NULL, "嵌套HTML", -1},
    {"21-rfc2231-utf8-filename.eml", "Attach", "见附件", NULL, 1, "报价单.pdf", 0, NULL, NULL, NULL, -1},
    {"22-rfc2231-gbk-continuation.eml", "Attach", "见附件", NULL, 1, "报价单2026年.xlsx", 0, NULL, NULL, NULL, -1},
    {"23-rfc2047-filename-in-quotes.eml", "Attach", "见附件", NULL, 1, "合同草案.docx", 0, NULL, NULL, NULL, -1},
    {"24-rfc2231-big5-filename.eml", "Attach", "见附件", NULL, 1, "報價單.doc", 0, NULL, NULL, NULL, -1},
    {"25-message-rfc822-inside.eml", "Fwd: 内层邮件", "请看下面转发的邮件", NULL, 2, "内层邮件.eml", 0, NULL, NULL, NULL, -1},
    {"26-wrong-boundary.eml", "Wrong boundary", "第一部分\n第二部分", NULL, -1, NULL, 0, NULL, NULL, NULL, -1},
    {"27-unterminated-multipart.eml", "Cut", "开头部分", NULL, 1, "cut.bin", 0, NULL, NULL, NULL, -1},
    {"28-missing-boundary-param.eml", "No boundary", "no boundary param", NULL, -1, NULL, 0, NULL, NULL, NULL, -1},
    {"29-part-without-blank-line.eml", "No blank", "正文紧跟头部", NULL, -1, NULL, 0, NULL, NULL, NULL, -1},
    {"30-huge-header.eml", "Huge header", "still here", NULL, -1, NULL, 1, NULL, NULL, NULL, -1},
    {"31-deep-nesting.eml", "Deep", "top level text", NULL, -1, NULL, 1, NULL, NULL, NULL, -1},
    {"32-thousands-of-parts.eml", "Many", "第一段", NULL, -1, NULL, 1, NULL, NULL, NULL, -1},
    {"33-quote-on-wrote.eml", "Re: router", "Thanks, that fixed it.", "restart", -1, NULL, 0, NULL, NULL, NULL, -1},
    {"34-quote-outlook.eml", "RE: 路由器", "我已经重启了。", "请重启", -1, NULL, 0, NULL, NULL, NULL, -1},
    {"35-quote-foxmail.eml", "回复：问题", "好的，谢谢！", "已处理", -1, NULL, 0, NULL, NULL, NULL, -1},
    {"36-quote-gmail-two-line.eml", "Re: x", "See below.", "old text", -1, NULL, 0, NULL, NULL, NULL, -1},
    {"37-quote-chinese-outlook.eml", "答复", "新的问题", "旧内容", -1, NULL, 0, NULL, NULL, NULL, -1},
    {"38-qp-oddities.eml", "QP", "softbreak 你好 and a stray = sign and =ZZ bad\nend", NULL, -1, NULL, 0, NULL, NULL, NULL, -1},
    {"39-base64-junk.eml", "B64", "有垃圾字符的base64内容", NULL, -1, NULL, 0, NULL, NULL, NULL, -1},
    {"40-digest.eml", "Digest", "first digest body", NULL, 2, "digest one.eml", 0, NULL, NULL, NULL, -1},
    {"41-windows1252-qp.eml", "CP1252", "“Smart quotes” cost €5 – really", NULL, -1, NULL, 0, NULL, NULL, NULL, -1},
    {"42-koi8r.eml", "Помощь", "Привет, нужна помощь", NULL, -1, NULL, 0, NULL, NULL, NULL, -1},
    {"43-iso2022jp-multiword-subject.eml", "見積もりのお願いについて", "本文です", NULL, -1, NULL, 0, NULL, NULL, NULL, -1},
    {"44-inline-image-cid.eml", "Inline", "see", NULL, 1, "logo.png", 0, NULL, NULL, NULL, 1},
    {"45-text-attachment.eml", "Log", "body text", NULL, 1, "log.txt", 0, NULL, NULL, NULL, -1},
    {"46-lf-only-line-endings.eml", "LF", "line one continued\nline two", NULL, -1, NULL, 0, NULL, NULL, NULL, -1},
    {"47-from-encoded-name.eml", "From test", "", NULL, -1, NULL, 0, "li.ming@example.com", "李明", NULL, -1},
    {"48-from-quoted-name.eml", "From test 2", "", NULL, -1, NULL, 0, "john@example.com", "Doe, John \"JD\"", NULL, -1},
    {"49-aliases-utf8-xgbk.eml", "Alias", "别名一\n别名二", NULL, -1, NULL, 0, NULL, NULL, NULL, -1},
    {"50-headers-only.eml", "empty", "", NULL, -1, NULL, 0, NULL, NULL, NULL, -1},
    {"51-auto-reply-headers.eml", "Out of office", "I am away.", NULL, -1, NULL, 0, NULL, NULL, NULL, -1},
    {"52-utf8-subject-lowercase-b.eml", "小写编码标记", "x", NULL, -1, NULL, 0, NULL, NULL, NULL, -1},
    {"53-from-two-mailboxes.eml", "two senders", "謝謝您的幫忙", NULL, 0, NULL, 0, "j.smith@x.com", "Smith, <J>", NULL, -1},
};

static void check_one(const struct expect *x)
{
    char path[512];
    assert_true(snprintf(path, sizeof(path), "%s/%s", CORPUS_DIR, x->file) < (int)sizeof(path));
    struct mime_message m;
    int r = parse_file(path, &m);
    if (r != 0)
        print_error("%s: mime_parse returned %d\n", x->file, r);
    assert_int_equal(r, 0);
    assert_message_clean(&m);
    if (x->subject) {
        if (!m.subject || strcmp(m.subject, x->subject) != 0)
            print_error("%s: subject\n", x->file);
        assert_non_null(m.subject);
        assert_string_equal(m.subject, x->subject);
    }
    if (x->text) {
        if (x->text[0])
            assert_contains(m.text, x->text);
        else
            assert_string_equal(m.text, "");
    }
    if (x->visible_not) {
        assert_contains(m.text, x->visible_not); /* kept in full text */
        assert_not_contains(m.text_visible, x->visible_not);
    }
    if (x->text && x->text[0] && x->visible_not)
        assert_contains(m.text_visible, x->text);
    if (x->natt >= 0)
        assert_int_equal(m.n_attachments, (size_t)x->natt);
    if (x->fname) {
        bool found = false;
        for (size_t i = 0; i < m.n_attachments; i++)
            if (m.attachments[i].filename && strcmp(m.attachments[i].filename, x->fname) == 0)
                found = true;
        if (!found)
            print_error("%s: no attachment named %s\n", x->file, x->fname);
        assert_true(found);
    }
    assert_int_equal(m.truncated, x->truncated);
    if (x->from_addr)
        assert_string_equal(m.from_addr, x->from_addr);
    if (x->from_name)
        assert_string_equal(m.from_name, x->from_name);
    if (x->html)
        assert_contains(m.html, x->html);
    if (x->inline_part >= 0) {
        assert_true(m.n_attachments > 0);
        assert_int_equal(m.attachments[0].inline_part, x->inline_part);
    }
    mime_message_free(&m);
}

static void test_own_corpus(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(corpus) / sizeof(corpus[0]); i++) {
        print_message("corpus %s\n", corpus[i].file);
        check_one(&corpus[i]);
    }
    assert_true(sizeof(corpus) / sizeof(corpus[0]) >= 40);
}

/* ---- specific behaviour ---- */

static void test_limits(void **state)
{
    (void)state;
    struct mime_message m;
    assert_int_equal(parse_file(CORPUS_DIR "/32-thousands-of-parts.eml", &m), 0);
    assert_true(m.truncated);
    assert_true(m.n_parts <= 1000);
    assert_true(m.n_attachments < 1000);
    assert_contains(m.warnings, "too many parts");
    mime_message_free(&m);

    assert_int_equal(parse_file(CORPUS_DIR "/31-deep-nesting.eml", &m), 0);
    assert_true(m.truncated);
    assert_contains(m.warnings, "nesting too deep");
    assert_not_contains(m.text, "deepest");
    mime_message_free(&m);

    assert_int_equal(parse_file(CORPUS_DIR "/30-huge-header.eml", &m), 0);
    assert_contains(m.warnings, "header too large");
    mime_message_free(&m);

    /* custom small limits; message size cap */
    struct mime_limits lim = {.max_depth = 2, .max_parts = 3, .max_header_bytes = 1024, .max_message_bytes = 64};
    const char raw[] = "Subject: hello\r\n\r\n0123456789012345678901234567890123456789012345678901234567890123456789";
    assert_int_equal(mime_parse(raw, sizeof(raw) - 1, &lim, &m), 0);
    assert_true(m.truncated);
    assert_string_equal(m.subject, "hello");
    mime_message_free(&m);
}

static void test_attachment_details(void **state)
{
    (void)state;
    struct mime_message m;
    assert_int_equal(parse_file(CORPUS_DIR "/45-text-attachment.eml", &m), 0);
    assert_not_contains(m.text, "secret log line"); /* a text attachment is not the body */
    assert_string_equal(m.attachments[0].content_type, "text/plain");
    assert_int_equal(m.attachments[0].size, strlen("secret log line"));
    mime_message_free(&m);

    assert_int_equal(parse_file(CORPUS_DIR "/21-rfc2231-utf8-filename.eml", &m), 0);
    assert_int_equal(m.n_attachments, 1);
    assert_string_equal(m.attachments[0].content_type, "application/pdf");
    assert_int_equal(m.attachments[0].size, 4); /* "data" */
    /* sha256("data") */
    assert_string_equal(m.attachments[0].sha256_hex,
                        "3a6eb0790f39ac87c94f3856b2dd2c5d110e6811602261a9a923d3bb23adc8b7");
    assert_int_equal(m.attachments[0].inline_part, 0);
    mime_message_free(&m);

    assert_int_equal(parse_file(CORPUS_DIR "/25-message-rfc822-inside.eml", &m), 0);
    assert_not_contains(m.text, "这是被转发的邮件"); /* the outer text wins */
    bool photo = false;
    for (size_t i = 0; i < m.n_attachments; i++)
        if (m.attachments[i].filename && strcmp(m.attachments[i].filename, "photo.jpg") == 0)
            photo = true;
    assert_true(photo); /* attachments of the attached message are listed too */
    mime_message_free(&m);
}

/* Inputs built to be slow or deep: must stay linear and bounded. */
static void test_pathological(void **state)
{
    (void)state;
    struct buf_ { char *p; size_t n; } b;
    size_t cap = 4u << 20;
    b.p = malloc(cap);
    assert_non_null(b.p);
    /* 200 KB of unterminated encoded words in one Subject */
    b.n = (size_t)snprintf(b.p, cap, "Subject: ");
    while (b.n < 200000)
        b.n += (size_t)snprintf(b.p + b.n, cap - b.n, "=?utf-8?q?abc");
    b.n += (size_t)snprintf(b.p + b.n, cap - b.n, "\r\n\r\nbody\r\n");
    struct mime_message m;
    assert_int_equal(mime_parse(b.p, b.n, NULL, &m), 0);
    assert_non_null(m.subject);
    assert_message_clean(&m);
    mime_message_free(&m);
    /* 100,000 nested <div>s in an HTML-only mail */
    b.n = (size_t)snprintf(b.p, cap, "Content-Type: text/html\r\n\r\n");
    for (int i = 0; i < 100000; i++)
        b.n += (size_t)snprintf(b.p + b.n, cap - b.n, "<div>");
    b.n += (size_t)snprintf(b.p + b.n, cap - b.n, "deep &amp; text");
    assert_int_equal(mime_parse(b.p, b.n, NULL, &m), 0);
    assert_contains(m.text, "deep & text");
    assert_message_clean(&m);
    mime_message_free(&m);
    free(b.p);
}

static void test_headers_api(void **state)
{
    (void)state;
    char *s = mime_decode_header("=?GBK?B?xOO6ww==?= =?UTF-8?Q?_world?=", 37);
    assert_string_equal(s, "你好 world");
    free(s);
    s = mime_decode_header("plain =?iso-8859-1?q?caf=E9?=", 29);
    assert_string_equal(s, "plain café");
    free(s);
    s = mime_decode_header("=?utf-8?b?invalid", 17);
    assert_string_equal(s, "=?utf-8?b?invalid");
    free(s);
    s = mime_decode_header("\xff\xfe\xfd", 3); /* junk bytes: still valid UTF-8 out */
    assert_true(utf8_valid(s, strlen(s)));
    free(s);
}

static void test_auto_reply_fields(void **state)
{
    (void)state;
    struct mime_message m;
    assert_int_equal(parse_file(CORPUS_DIR "/51-auto-reply-headers.eml", &m), 0);
    assert_string_equal(m.auto_submitted, "auto-replied");
    assert_string_equal(m.precedence, "bulk");
    assert_string_equal(m.list_id, "<list.example.com>");
    assert_string_equal(m.in_reply_to, "<b@x>");
    assert_contains(m.references, "<a@x>");
    assert_contains(m.references, "<b@x>");
    assert_string_equal(m.message_id, "<51@mail.example.com>");
    mime_message_free(&m);
}

/* RFC 3464 as Postfix writes it: the first recipient block (after an extra blank line, its
 * Diagnostic-Code folded, field names in odd case), the returned message's Message-ID. */
static void test_delivery_report(void **state)
{
    (void)state;
    struct mime_message m;
    assert_int_equal(parse_file(CORPUS_DIR "/60-delivery-report.eml", &m), 0);
    assert_string_equal(m.dsn_action, "failed");
    assert_string_equal(m.dsn_status, "5.1.1");
    assert_string_equal(m.dsn_recipient, "Nobody@Example.NET");
    assert_contains(m.dsn_diag, "550 5.1.1 <nobody@example.net>: Recipient address");
    assert_contains(m.dsn_diag, "User unknown in virtual mailbox table");
    assert_string_equal(m.dsn_original_id, "<sb.42.abcdef@shop.example>");
    assert_string_equal(m.message_id, "<20261124020000.9A2B63C0E1@mx.example.net>");
    assert_contains(m.text, "could not");
    mime_message_free(&m);
    /* an ordinary message is no report */
    assert_int_equal(parse_file(CORPUS_DIR "/51-auto-reply-headers.eml", &m), 0);
    assert_null(m.dsn_action);
    mime_message_free(&m);
}

static void test_degenerate_inputs(void **state)
{
    (void)state;
    struct mime_message m;
    assert_int_equal(mime_parse("", 0, NULL, &m), 0);
    assert_string_equal(m.text, "");
    mime_message_free(&m);
    assert_int_equal(mime_parse(NULL, 0, NULL, &m), 0);
    mime_message_free(&m);
    assert_int_equal(mime_parse("x", 1, NULL, NULL), -EINVAL);
    const char nul[] = "Subject: a\0b\r\n\r\nbody\0with nul";
    assert_int_equal(mime_parse(nul, sizeof(nul) - 1, NULL, &m), 0);
    assert_message_clean(&m);
    mime_message_free(&m);
    mime_message_free(NULL);
}

static void parse_str(const char *raw, struct mime_message *m)
{
    memset(m, 0, sizeof(*m));
    assert_int_equal(mime_parse(raw, strlen(raw), NULL, m), 0);
}

/* To/Cc become addr-specs: quoted commas, comments, groups, encoded names, junk. */
static void test_address_lists(void **state)
{
    (void)state;
    struct mime_message m;
    parse_str("From: a@b.example\r\n"
              "To: \"Doe, Jane\" <Jane@Client.Example>, undisclosed-recipients:;\r\n"
              "Cc: =?UTF-8?B?5p2O6Zu3?= <lilei@client.example>, (ops, team) ops@client.example (night),\r\n"
              " team: x@y.example, z@y.example;, not-an-address, <a@@b.example>, \"q\"@, <>\r\n"
              "\r\nbody\r\n", &m);
    assert_string_equal(m.to_addrs, "jane@client.example");
    assert_string_equal(m.cc_addrs, "lilei@client.example ops@client.example x@y.example z@y.example");
    mime_message_free(&m);
    parse_str("From: a@b.example\r\nTo: Broken <Open@Angle.example\r\nCc: <\r\n\r\nbody\r\n", &m); /* found by fuzz */
    assert_string_equal(m.to_addrs, "open@angle.example");
    assert_null(m.cc_addrs);
    mime_message_free(&m);
    parse_str("From: a@b.example\r\nSubject: none\r\n\r\nbody\r\n", &m);
    assert_null(m.to_addrs);
    assert_null(m.cc_addrs);
    mime_message_free(&m);
}

/* Attachment bytes are kept exactly, NULs and all. */
static void test_attachment_bytes(void **state)
{
    (void)state;
    struct mime_message m;
    parse_str("Content-Type: multipart/mixed; boundary=x\r\n\r\n--x\r\nContent-Type: text/plain\r\n\r\nhi\r\n"
              "--x\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n\r\nAAECAwD/\r\n--x--\r\n", &m);
    assert_int_equal(m.n_attachments, 1);
    assert_int_equal(m.attachments[0].size, 6);
    assert_memory_equal(m.attachments[0].data, "\x00\x01\x02\x03\x00\xff", 6);
    mime_message_free(&m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cpython_corpus),
        cmocka_unit_test(test_cpython_selected),
        cmocka_unit_test(test_own_corpus),
        cmocka_unit_test(test_limits),
        cmocka_unit_test(test_attachment_details),
        cmocka_unit_test(test_pathological),
        cmocka_unit_test(test_headers_api),
        cmocka_unit_test(test_auto_reply_fields),
        cmocka_unit_test(test_delivery_report),
        cmocka_unit_test(test_degenerate_inputs),
        cmocka_unit_test(test_address_lists),
        cmocka_unit_test(test_attachment_bytes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
