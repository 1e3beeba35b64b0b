/* email_mime.h — turns one raw RFC 5322 message into decoded UTF-8 fields, body text,
 * the HTML part and attachment metadata for the email channel (issue 5, point 3).
 *
 * Owns: every string and array in a struct mime_message it filled; mime_message_free
 * releases them. Holds no global state: thread: any (iconv descriptors are per call).
 * Errors: mime_parse returns 0 whenever it produced a message — malformed MIME, unknown
 * or lying charsets, missing boundaries and exceeded limits are best effort, reported in
 * `truncated`/`warnings`, never a failure, because a lost customer mail is worse than an
 * ugly one. -EINVAL for NULL arguments, -ENOMEM when memory runs out (out is then empty
 * and needs no free, though mime_message_free on it is harmless).
 * Every char * in the result is NUL-terminated, valid UTF-8 without NUL bytes or NULL,
 * except attachment data, which is the attachment's raw decoded bytes. */
#ifndef SB_EMAIL_MIME_H
#define SB_EMAIL_MIME_H
#include <stddef.h>

struct mime_limits {
    size_t max_depth;         /* multipart / message nesting; default 20 */
    size_t max_parts;         /* entities counted over the whole tree; default 1000 */
    size_t max_header_bytes;  /* one entity's header section; default 256 KiB */
    size_t max_message_bytes; /* raw input looked at; default 25 MiB */
};

struct mime_attachment {
    char *filename;     /* decoded UTF-8 (RFC 2231/2047), '/' '\\' and controls made '_'; or NULL */
    char *content_type; /* lower-case "type/subtype" */
    size_t size;        /* decoded bytes */
    char sha256_hex[65];
    char *data;         /* the decoded bytes (size of them; may hold NULs), owned */
    int inline_part;    /* Content-Disposition inline, or a Content-ID without attachment */
};

struct mime_message {
    char *message_id, *in_reply_to, *references; /* raw ids, <...> kept; NULL when absent */
    char *subject;                               /* decoded UTF-8 (RFC 2047) or NULL */
    char *from_name, *from_addr;                 /* decoded; addr ASCII lower-cased; or NULL */
    char *to, *cc, *reply_to;                    /* decoded header text or NULL */
    char *to_addrs, *cc_addrs; /* addr-specs of To / Cc, lower-case, one space apart; or NULL */
    char *date, *auto_submitted, *precedence, *list_id;
    /* A delivery report (RFC 3464, message/delivery-status): the first recipient's
     * Action (lower-case), Status, Final-Recipient and Diagnostic-Code, or NULL; and the
     * returned message's Message-ID (text/rfc822-headers or message/rfc822 part). */
    char *dsn_action, *dsn_status, *dsn_recipient, *dsn_diag, *dsn_original_id;
    char *text;         /* never NULL: text/plain preferred, else the HTML as readable text */
    char *text_visible; /* never NULL: text with quoted history collapsed away */
    char *html;         /* the HTML part as UTF-8, unsanitised, or NULL */
    struct mime_attachment *attachments;
    size_t n_attachments;
    size_t n_parts;     /* entities seen (within limits) */
    int truncated;      /* a limit was hit: what was within it is kept */
    char warnings[256]; /* short "; "-separated notes for the agent/log, maybe empty */
};

/* Fills *lim with the defaults above. */
void mime_limits_default(struct mime_limits *lim);
/* raw[0..len) need not be NUL-terminated; lim NULL = defaults (0 fields = default). */
int mime_parse(const char *raw, size_t len, const struct mime_limits *lim, struct mime_message *out);
void mime_message_free(struct mime_message *m);
/* Decodes an unstructured header value (RFC 2047 words, 8-bit bytes best effort) into
 * UTF-8; returns a heap string (never invalid UTF-8) or NULL when memory runs out. */
char *mime_decode_header(const char *raw, size_t len);

#endif
