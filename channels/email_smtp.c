/* email_smtp.c — see email_smtp.h. */
#include "email_smtp.h"
#include "email_tls.h"
#include "gateway/lib/buf.h"
#include "gateway/lib/text.h"
#include "gateway/log.h"
#include <arpa/inet.h>
#include <auth-client.h>
#include <dirent.h>
#include <libesmtp.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

static int enabled(const struct sb_config *cfg)
{
    return cfg->smtp.host[0] != '\0';
}

static const char *pstr(const struct outbox_item *it, const char *key)
{
    const char *s = json_string_value(json_object_get(it->payload, key));
    return s ? s : "";
}

/* A notice (payload "notice": true) is the system writing to one of our agents (a
 * reminder): no ticket, subject and body from the payload, From [smtp] from. */
static int is_notice(const struct outbox_item *it)
{
    return json_is_true(json_object_get(it->payload, "notice"));
}

/* A campaign message (payload "campaign": true, from workers/campaigns.c): subject and
 * both bodies already rendered, List-Unsubscribe headers (RFC 2369, RFC 8058). */
static int is_campaign(const struct outbox_item *it)
{
    return json_is_true(json_object_get(it->payload, "campaign"));
}

/* Ticket subject, customer name, sender address and the thread's Message-IDs. */
static int prepare(struct db *db, struct outbox_item *it)
{
    if (is_notice(it) || is_campaign(it))
        return DB_OK;
    struct db_result r;
    int rc = db_exec(db, "SELECT COALESCE(t.subject, ''), cu.name, COALESCE(mb.address, '') FROM tickets t "
                         "JOIN customers cu ON cu.id = t.customer_id LEFT JOIN mailboxes mb ON mb.id = t.mailbox_id "
                         "WHERE t.id = ?", DBP(P_I(it->ticket_id)), &r);
    if (rc || !r.nrows) {
        db_result_free(&r);
        return rc ? rc : DB_EOTHER;
    }
    json_object_set_new(it->payload, "ticket_subject", json_string(db_cell(&r, 0, 0)));
    json_object_set_new(it->payload, "customer_name", json_string(db_cell(&r, 0, 1)));
    json_object_set_new(it->payload, "from", json_string(db_cell(&r, 0, 2)));
    db_result_free(&r);
    rc = db_exec(db, "SELECT message_id FROM email_threads WHERE ticket_id = ? ORDER BY created_at, message_id LIMIT 30",
                 DBP(P_I(it->ticket_id)), &r);
    if (rc)
        return rc;
    json_t *refs = json_array();
    for (size_t i = 0; i < r.nrows; i++)
        json_array_append_new(refs, json_string(db_cell(&r, i, 0)));
    json_object_set_new(it->payload, "references", refs);
    db_result_free(&r);
    if (json_is_true(json_object_get(it->payload, "auto")))
        return DB_OK; /* an acknowledgement goes to the sender alone */
    /* reply to all: everyone the customer's mail went to, besides us (ingest left us out) */
    rc = db_exec(db, "SELECT address FROM ticket_participants WHERE ticket_id = ? AND role IN ('to','cc') "
                     "AND address <> ? ORDER BY created_at, address LIMIT 50",
                 DBP(P_I(it->ticket_id), P_S(it->recipient)), &r);
    if (rc)
        return rc;
    json_t *cc = json_array();
    for (size_t i = 0; i < r.nrows; i++)
        json_array_append_new(cc, json_string(db_cell(&r, i, 0)));
    json_object_set_new(it->payload, "cc", cc);
    db_result_free(&r);
    return DB_OK;
}

static int record(struct db *db, const struct outbox_item *it)
{
    if (!it->ticket_id)
        return DB_OK;
    return db_exec(db, "INSERT IGNORE INTO email_threads (message_id, ticket_id) VALUES (?, ?)",
                   DBP(P_S(it->provider_id), P_I(it->ticket_id)), NULL);
}

/* ---- composing ---- */

static int is_ascii(const char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s >= 0x80 || (unsigned char)*s < 0x20)
            return 0;
    return 1;
}

/* RFC 2047 B-encoding in words of at most 45 bytes (75 characters encoded), split on
 * UTF-8 boundaries, folded with CRLF SP. */
static void put_encoded(struct buf *b, const char *s)
{
    if (is_ascii(s)) {
        buf_puts(b, s);
        return;
    }
    size_t n = strlen(s), pos = 0;
    while (pos < n) {
        size_t take = n - pos > 45 ? 45 : n - pos;
        while (take > 0 && pos + take < n && ((unsigned char)s[pos + take] & 0xC0) == 0x80)
            take--;
        char enc[128];
        sodium_bin2base64(enc, sizeof(enc), (const unsigned char *)s + pos, take, sodium_base64_VARIANT_ORIGINAL);
        buf_printf(b, "%s=?UTF-8?B?%s?=", pos ? "\r\n " : "", enc);
        pos += take;
    }
}

static void put_base64_body(struct buf *b, const char *s, size_t n)
{
    size_t enc_len = sodium_base64_encoded_len(n, sodium_base64_VARIANT_ORIGINAL);
    char *enc = malloc(enc_len);
    if (!enc)
        return;
    sodium_bin2base64(enc, enc_len, (const unsigned char *)s, n, sodium_base64_VARIANT_ORIGINAL);
    size_t len = strlen(enc);
    for (size_t i = 0; i < len; i += 76) {
        buf_append(b, enc + i, len - i < 76 ? len - i : 76);
        buf_puts(b, "\r\n");
    }
    free(enc);
}

static void html_escape(struct buf *b, const char *s)
{
    for (; *s; s++) {
        switch (*s) {
        case '<': buf_puts(b, "&lt;"); break;
        case '>': buf_puts(b, "&gt;"); break;
        case '&': buf_puts(b, "&amp;"); break;
        case '"': buf_puts(b, "&quot;"); break;
        case '\n': buf_puts(b, "<br>\n"); break;
        default: buf_append(b, s, 1);
        }
    }
}

static const char *domain_of(const char *addr)
{
    const char *at = strrchr(addr, '@');
    return at && at[1] ? at + 1 : "switchboard.invalid";
}

/* Builds the message and its Message-ID (into it->provider_id). */
static char *compose(struct outbox_item *it, const char *from)
{
    unsigned char rnd[12];
    char rhex[25], boundary[40], date[64];
    randombytes_buf(rnd, sizeof(rnd));
    sodium_bin2hex(rhex, sizeof(rhex), rnd, sizeof(rnd));
    snprintf(it->provider_id, sizeof(it->provider_id), "<sb.%lld.%s@%s>", (long long)it->id, rhex, domain_of(from));
    snprintf(boundary, sizeof(boundary), "sb-%s", rhex);
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S +0000", &tm);

    char subject[700], token[40];
    const char *ts = pstr(it, "ticket_subject");
    snprintf(token, sizeof(token), "[#%lld]", (long long)it->ticket_id);
    snprintf(subject, sizeof(subject), "%s%s%s%s", strncmp(ts, "Re:", 3) == 0 ? "" : "Re: ", *ts ? ts : "Your request",
             strstr(ts, token) ? "" : " ", strstr(ts, token) ? "" : token);
    int notice = is_notice(it), campaign = is_campaign(it);
    if (notice || campaign)
        text_copy(subject, sizeof(subject), pstr(it, "subject"));

    struct buf b;
    buf_init(&b, 0);
    buf_puts(&b, "From: ");
    put_encoded(&b, campaign ? pstr(it, "from_name") : notice ? "Switchboard" : "Support");
    buf_printf(&b, " <%s>\r\nTo: ", from);
    put_encoded(&b, pstr(it, notice || campaign ? "to_name" : "customer_name"));
    buf_printf(&b, " <%s>\r\n", it->recipient);
    json_t *cc = json_object_get(it->payload, "cc");
    for (size_t i = 0; i < json_array_size(cc); i++)
        buf_printf(&b, "%s%s", i ? ",\r\n " : "Cc: ", json_string_value(json_array_get(cc, i)));
    buf_puts(&b, json_array_size(cc) ? "\r\nSubject: " : "Subject: ");
    put_encoded(&b, subject);
    buf_printf(&b, "\r\nDate: %s\r\nMessage-ID: %s\r\n", date, it->provider_id);
    json_t *refs = json_object_get(it->payload, "references");
    if (json_array_size(refs)) {
        buf_printf(&b, "In-Reply-To: %s\r\nReferences:", json_string_value(json_array_get(refs, json_array_size(refs) - 1)));
        size_t i;
        json_t *r;
        json_array_foreach(refs, i, r) {
            buf_printf(&b, "%s%s", i ? "\r\n " : " ", json_string_value(r));
        }
        buf_puts(&b, "\r\n");
    }
    if (json_is_true(json_object_get(it->payload, "auto"))) /* RFC 3834 */
        buf_puts(&b, "Auto-Submitted: auto-replied\r\nX-Auto-Response-Suppress: All\r\n");
    if (notice)
        buf_puts(&b, "Auto-Submitted: auto-generated\r\nX-Auto-Response-Suppress: All\r\n");
    if (campaign) /* one click in the mail client unsubscribes: a POST to the URL */
        buf_printf(&b, "List-Unsubscribe: <%s>, <mailto:%s?subject=unsubscribe>\r\n"
                       "List-Unsubscribe-Post: List-Unsubscribe=One-Click\r\nPrecedence: bulk\r\n",
                   pstr(it, "unsubscribe_url"), from);
    if (it->ticket_id)
        buf_printf(&b, "X-Switchboard-Ticket: %lld\r\n", (long long)it->ticket_id);
    buf_printf(&b, "MIME-Version: 1.0\r\nContent-Type: multipart/alternative; boundary=\"%s\"\r\n\r\n", boundary);
    const char *body = pstr(it, "body_text");
    buf_printf(&b, "--%s\r\nContent-Type: text/plain; charset=UTF-8\r\nContent-Transfer-Encoding: base64\r\n\r\n", boundary);
    put_base64_body(&b, body, strlen(body));
    struct buf html;
    buf_init(&html, 0);
    if (campaign && *pstr(it, "body_html")) { /* rendered by the template, escaped there */
        buf_puts(&html, pstr(it, "body_html"));
    } else {
        buf_puts(&html, "<!doctype html><html><body><div style=\"font-family:sans-serif\">");
        html_escape(&html, body);
        buf_puts(&html, "</div></body></html>");
    }
    buf_printf(&b, "--%s\r\nContent-Type: text/html; charset=UTF-8\r\nContent-Transfer-Encoding: base64\r\n\r\n", boundary);
    put_base64_body(&b, html.data, html.len);
    buf_free(&html);
    buf_printf(&b, "--%s--\r\n", boundary);
    return buf_take(&b);
}

/* ---- sending ---- */

/* SMTP AUTH: libesmtp asks for the fields its SASL mechanism needs. */
static int auth_interact(auth_client_request_t req, char **result, int fields, void *arg)
{
    const struct sb_config *cfg = arg;
    for (int i = 0; i < fields; i++) {
        if (req[i].flags & AUTH_USER)
            result[i] = (char *)cfg->smtp.user;
        else if (req[i].flags & AUTH_PASS)
            result[i] = (char *)cfg->smtp.password;
        else
            return 0; /* a realm or anything else we were not configured with */
    }
    return 1;
}

struct sent_state {
    long port; /* the server's, to find our socket on SMTP_EV_CONNECT */
    int data_sent; /* the server got DATA for at least one message whose answer we may lack */
    char tls_problem[160];
};

/* Nagle's algorithm holds the last short write of a message (libesmtp writes through a
 * 2 KB buffer) until the server acknowledges the write before it, and servers delay that
 * acknowledgement (40 ms on Linux) while waiting for the end of the data: every message
 * over 2 KB waited 40 ms, 22 messages a second. libesmtp connects in our thread and
 * tells us right after, but does not give its socket: every TCP socket of the process
 * connected to the server's port gets TCP_NODELAY (another sending thread's too, which
 * wants it as well; an fd closed meanwhile makes setsockopt fail, harmlessly). */
static void smtp_nodelay(long port)
{
    DIR *d = opendir("/proc/self/fd");
    if (!d)
        return;
    for (struct dirent *e; (e = readdir(d));) {
        char *end;
        long fd = strtol(e->d_name, &end, 10);
        struct sockaddr_storage peer;
        socklen_t len = sizeof(peer);
        if (*end || fd < 3 || getpeername((int)fd, (struct sockaddr *)&peer, &len) < 0)
            continue;
        in_port_t p = peer.ss_family == AF_INET    ? ((struct sockaddr_in *)&peer)->sin_port
                      : peer.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&peer)->sin6_port
                                                   : 0;
        int one = 1;
        if (p && ntohs(p) == port)
            setsockopt((int)fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    }
    closedir(d);
}

static void on_event(smtp_session_t session, int event, void *arg, ...)
{
    (void)session;
    struct sent_state *st = arg;
    if (event == SMTP_EV_CONNECT)
        smtp_nodelay(st->port);
    if (event == SMTP_EV_MESSAGEDATA || event == SMTP_EV_MESSAGESENT)
        st->data_sent = 1;
    va_list ap;
    va_start(ap, arg);
    if (event == SMTP_EV_INVALID_PEER_CERTIFICATE) /* (long verify result, int *ok, SSL *) */
        snprintf(st->tls_problem, sizeof(st->tls_problem), "certificate not accepted: %s",
                 X509_verify_cert_error_string(va_arg(ap, long)));
    else if (event == SMTP_EV_WRONG_PEER_CERTIFICATE)
        text_copy(st->tls_problem, sizeof(st->tls_problem), "the certificate does not name this host");
    else if (event == SMTP_EV_EXTNA_STARTTLS)
        text_copy(st->tls_problem, sizeof(st->tls_problem), "the server offers no STARTTLS");
    va_end(ap);
}

static void classify(struct outbox_item *it, int code, const char *text)
{
    char reply[400];
    text_copy(reply, sizeof(reply), text ? text : "");
    size_t n = strlen(reply);
    while (n && (reply[n - 1] == '\r' || reply[n - 1] == '\n'))
        reply[--n] = '\0';
    if (code >= 200 && code < 300) {
        it->outcome = SEND_OK;
    } else if (code >= 400 && code < 500) {
        it->outcome = SEND_RETRY;
        snprintf(it->error, sizeof(it->error), "temporary failure: %d %s", code, reply);
    } else if (code >= 500) {
        it->outcome = SEND_FAILED;
        snprintf(it->error, sizeof(it->error), "rejected by the mail server: %d %s", code, reply);
    }
}

static void send_batch(const struct sb_config *cfg, struct outbox_item *items, size_t n)
{
    smtp_session_t s = smtp_create_session();
    char server[300];
    snprintf(server, sizeof(server), "%s:%lld", cfg->smtp.host, (long long)cfg->smtp.port);
    struct sent_state st = {.port = (long)cfg->smtp.port};
    smtp_message_t msgs[n ? n : 1];
    smtp_recipient_t rcpts[n ? n : 1];
    char *texts[n ? n : 1];
    smtp_set_server(s, server);
    smtp_set_eventcb(s, on_event, &st);
    smtp_set_timeout(s, Timeout_GREETING | Timeout_OVERRIDE_RFC2822_MINIMUM, 20);
    smtp_set_timeout(s, Timeout_ENVELOPE | Timeout_OVERRIDE_RFC2822_MINIMUM, 20);
    smtp_set_timeout(s, Timeout_DATA | Timeout_OVERRIDE_RFC2822_MINIMUM, 20);
    smtp_set_timeout(s, Timeout_TRANSFER | Timeout_OVERRIDE_RFC2822_MINIMUM, 30);
    smtp_set_timeout(s, Timeout_DATA2 | Timeout_OVERRIDE_RFC2822_MINIMUM, 60);
    SSL_CTX *tls = NULL;
    if (strcmp(cfg->smtp.tls, "starttls") == 0) {
        char err[200];
        if (!(tls = email_tls_ctx(cfg, 1, err, sizeof(err)))) {
            for (size_t i = 0; i < n; i++)
                items[i].outcome = SEND_RETRY, text_copy(items[i].error, sizeof(items[i].error), err);
            smtp_destroy_session(s);
            return;
        }
        smtp_starttls_set_ctx(s, tls); /* our trust; libesmtp checks the verdict and the host name */
        SSL_CTX_free(tls);             /* the session holds its own reference */
        smtp_starttls_enable(s, Starttls_REQUIRED);
    }
    static int auth_ready;
    auth_context_t auth = NULL;
    if (cfg->smtp.user[0]) {
        if (!auth_ready) { /* only the outbox worker thread sends */
            auth_client_init();
            auth_ready = 1;
        }
        auth = auth_create_context();
        auth_set_mechanism_flags(auth, AUTH_PLUGIN_PLAIN, 0);
        auth_set_interact_cb(auth, auth_interact, (void *)cfg);
        smtp_auth_set_context(s, auth);
    }
    for (size_t i = 0; i < n; i++) {
        const char *from = pstr(&items[i], "from");
        if (!*from)
            from = strchr(cfg->smtp.from, '@') ? cfg->smtp.from : "support@switchboard.invalid";
        texts[i] = compose(&items[i], from);
        msgs[i] = smtp_add_message(s);
        smtp_set_reverse_path(msgs[i], from);
        rcpts[i] = smtp_add_recipient(msgs[i], items[i].recipient);
        json_t *cc = json_object_get(items[i].payload, "cc"); /* their refusal does not fail the reply */
        for (size_t k = 0; k < json_array_size(cc); k++)
            smtp_add_recipient(msgs[i], json_string_value(json_array_get(cc, k)));
        smtp_set_message_str(msgs[i], texts[i]);
        items[i].outcome = SEND_RETRY; /* until the server says otherwise */
    }
    if (!smtp_start_session(s)) {
        char err[200];
        smtp_strerror(smtp_errno(), err, sizeof(err));
        for (size_t i = 0; i < n; i++)
            snprintf(items[i].error, sizeof(items[i].error), "cannot deliver to %s: %s%s", server,
                     st.tls_problem[0] ? "TLS: " : "", st.tls_problem[0] ? st.tls_problem : err);
    }
    for (size_t i = 0; i < n; i++) {
        const smtp_status_t *rs = smtp_recipient_status(rcpts[i]);
        const smtp_status_t *ms = smtp_message_transfer_status(msgs[i]);
        if (rs && rs->code && (rs->code < 200 || rs->code >= 300))
            classify(&items[i], rs->code, rs->text);           /* the recipient was refused */
        else if (ms && ms->code)
            classify(&items[i], ms->code, ms->text);           /* the answer to the data */
        else if (rs && rs->code >= 200 && rs->code < 300 && st.data_sent) {
            items[i].outcome = SEND_AMBIGUOUS;                 /* data went out, no answer came */
            text_copy(items[i].error, sizeof(items[i].error), "the connection ended after the message was sent; "
                                                              "it may have been delivered");
        }
        if (items[i].outcome == SEND_RETRY && !items[i].error[0]) /* the session ended before this message */
            snprintf(items[i].error, sizeof(items[i].error), "cannot deliver to %s: %s%s", server,
                     st.tls_problem[0] ? "TLS: " : "",
                     st.tls_problem[0] ? st.tls_problem : "the server ended the session before taking the message");
        free(texts[i]);
    }
    smtp_destroy_session(s);
    if (auth)
        auth_destroy_context(auth);
}

const struct channel_ops email_smtp_channel = {
    .name = "email",
    .enabled = enabled,
    .prepare = prepare,
    .send = send_batch,
    .record = record,
};
