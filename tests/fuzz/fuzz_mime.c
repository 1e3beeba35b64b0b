/* fuzz_mime.c — mime_parse (channels/email_mime.c) on arbitrary bytes with small limits.
 * Invariants: it never fails on input (only -ENOMEM would be allowed); every string out is
 * valid UTF-8 without embedded NUL; text/text_visible are never NULL; limits hold. */
#include "tests/fuzz/fuzz.h"
#include "channels/email_mime.h"
#include "gateway/lib/text.h"
#include <errno.h>
#include <string.h>

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    return 0;
}

static void check_str(const char *s)
{
    if (s)
        FUZZ_CHECK(utf8_valid(s, strlen(s)));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct mime_limits lim = {.max_depth = 6, .max_parts = 40, .max_header_bytes = 2048, .max_message_bytes = 3500};
    struct mime_message m;
    int r = mime_parse((const char *)data, size, &lim, &m);
    FUZZ_CHECK(r == 0 || r == -ENOMEM);
    if (r != 0)
        return 0;
    const char *f[] = {m.message_id, m.in_reply_to, m.references, m.subject, m.from_name, m.from_addr,
                       m.to, m.cc, m.reply_to, m.date, m.auto_submitted, m.precedence, m.list_id,
                       m.text, m.text_visible, m.html, m.warnings};
    for (size_t i = 0; i < sizeof(f) / sizeof(f[0]); i++)
        check_str(f[i]);
    FUZZ_CHECK(m.text && m.text_visible);
    FUZZ_CHECK(m.n_parts <= lim.max_parts);
    FUZZ_CHECK(m.n_attachments <= lim.max_parts);
    for (size_t i = 0; i < m.n_attachments; i++) {
        check_str(m.attachments[i].filename);
        FUZZ_CHECK(m.attachments[i].content_type != NULL);
        check_str(m.attachments[i].content_type);
        FUZZ_CHECK(strlen(m.attachments[i].sha256_hex) == 64);
        FUZZ_CHECK(m.attachments[i].size <= size);
    }
    mime_message_free(&m);
    return 0;
}
