/* email_imap.c — see email_imap.h. */
#include "email_imap.h"
#include "email_mime.h"
#include "email_tls.h"
#include "gateway/db.h"
#include "gateway/event_tailer.h"
#include "gateway/ingest.h"
#include "gateway/lib/text.h"
#include "gateway/log.h"
#include <libetpan/libetpan.h>
#include <poll.h>
#include <sys/socket.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#define MAX_FETCHERS 32
#define SIZE_LIMIT (25u << 20)
#define IDLE_RENEW_SECS (25 * 60)
#define POLL_SECS 5
#define IMAP_TIMEOUT_SECS 60
#define BATCH_MAX 100              /* messages per UID FETCH and ingest batch */
#define BATCH_BYTES (32u << 20)    /* their raw size; one larger message goes alone */

struct fetcher {
    int64_t id;
    char name[64], host[256], user[256], secret[1024], folder[256], tls[16];
    int64_t port;
    uint32_t uidvalidity, last_uid;
    pthread_t thread;
    struct db *db;
    mailimap *imap;             /* the live session, for email_imap_stop (under mu) */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    size_t pending;             /* messages submitted, not yet answered by the ingest writer */
};

static const struct sb_config *cfg;
static struct fetcher fetchers[MAX_FETCHERS];
static size_t nfetchers;
static atomic_int stopping;

static void set_error(struct fetcher *f, const char *what)
{
    log_warn("imap", "event=error mailbox=%s error=\"%s\"", f->name, what);
    db_exec(f->db, "UPDATE mailboxes SET last_error = ? WHERE id = ?", DBP(P_S(what), P_I(f->id)), NULL);
}

/* Sleeps up to secs, returning early (false) when stopping. */
static int nap(int secs)
{
    for (int i = 0; i < secs * 10 && !atomic_load(&stopping); i++)
        usleep(100000);
    return !atomic_load(&stopping);
}

/* ---- storing one message ---- */

static void on_stored(struct ingest_msg *m)
{
    struct fetcher *f = m->user;
    pthread_mutex_lock(&f->mu);
    if (--f->pending == 0)
        pthread_cond_signal(&f->cv);
    pthread_mutex_unlock(&f->mu);
}

static void fill_from_mime(struct ingest_msg *m, struct mime_message *mm, const struct fetcher *f, uint32_t uid)
{
    text_copy(m->channel, sizeof(m->channel), "email");
    if (mm->message_id && strlen(mm->message_id) < sizeof(m->external_id))
        text_copy(m->external_id, sizeof(m->external_id), mm->message_id);
    else
        snprintf(m->external_id, sizeof(m->external_id), "imap:%lld:%u:%u", (long long)f->id, f->uidvalidity, uid);
    if (mm->message_id)
        text_copy(m->email_message_id, sizeof(m->email_message_id), mm->message_id);
    if (mm->in_reply_to)
        text_copy(m->in_reply_to, sizeof(m->in_reply_to), mm->in_reply_to);
    m->references = mm->references ? strdup(mm->references) : NULL;
    if (mm->dsn_action && mm->dsn_original_id) { /* a delivery report: maybe about a campaign mail */
        text_copy(m->dsn_action, sizeof(m->dsn_action), mm->dsn_action);
        text_copy(m->dsn_status, sizeof(m->dsn_status), mm->dsn_status ? mm->dsn_status : "");
        text_copy(m->dsn_diag, sizeof(m->dsn_diag), mm->dsn_diag ? mm->dsn_diag : "");
        text_copy(m->dsn_original_id, sizeof(m->dsn_original_id), mm->dsn_original_id);
    }
    text_copy(m->identity_kind, sizeof(m->identity_kind), "email");
    text_copy(m->identity_value, sizeof(m->identity_value),
              mm->from_addr && *mm->from_addr ? mm->from_addr : "unknown-sender@invalid.invalid");
    if (mm->from_name)
        text_copy(m->name, sizeof(m->name), mm->from_name);
    if (mm->subject)
        text_copy(m->subject, sizeof(m->subject), mm->subject);
    m->body_text = strdup(mm->text);
    m->body_html = mm->html ? strdup(mm->html) : NULL;
    m->mailbox_id = f->id;
    if (strcmp(mm->text_visible, mm->text) != 0)
        m->body_visible = strdup(mm->text_visible);
    m->to_addrs = mm->to_addrs ? strdup(mm->to_addrs) : NULL;
    m->cc_addrs = mm->cc_addrs ? strdup(mm->cc_addrs) : NULL;
    m->attachments = mm->n_attachments ? calloc(mm->n_attachments, sizeof(*m->attachments)) : NULL;
    for (size_t i = 0; m->attachments && i < mm->n_attachments; i++) {
        struct mime_attachment *a = &mm->attachments[i];
        struct ingest_attachment *t = &m->attachments[m->n_attachments++];
        t->filename = a->filename; /* the parse result is dropped after this: take, not copy */
        t->content_type = a->content_type;
        t->data = a->data;
        a->filename = a->content_type = a->data = NULL;
        t->size = a->size;
        memcpy(t->sha256, a->sha256_hex, sizeof(t->sha256));
    }
}

/* ---- auto-acknowledgement (RFC 3834 loop protection) ---- */

static const char ack_text[] =
    "Thank you for your message. We have received it as ticket #%lld and will answer soon.\n"
    "Reply to this e-mail to add to it.\n\n"
    "感谢您的来信。我们已收到并创建工单 #%lld，会尽快回复。\n"
    "直接回复此邮件即可补充信息。\n";

static int automated_sender(const char *addr)
{
    static const char *const locals[] = {"mailer-daemon", "postmaster", "noreply", "no-reply", "no_reply",
                                         "donotreply", "do-not-reply", "bounce", "bounces", NULL};
    const char *at = addr ? strchr(addr, '@') : NULL;
    if (!at)
        return 1;
    for (size_t i = 0; locals[i]; i++)
        if ((size_t)(at - addr) == strlen(locals[i]) && strncasecmp(addr, locals[i], strlen(locals[i])) == 0)
            return 1;
    return strncasecmp(addr, "bounce", 6) == 0 || strncasecmp(addr, "noreply", 7) == 0;
}

/* RFC 3834: never answer automated mail, lists, bulk, or ourselves. */
static int wants_ack(const struct mime_message *mm)
{
    if (mm->auto_submitted && strcasecmp(mm->auto_submitted, "no") != 0)
        return 0;
    if (mm->precedence && (strcasecmp(mm->precedence, "bulk") == 0 || strcasecmp(mm->precedence, "junk") == 0 ||
                           strcasecmp(mm->precedence, "list") == 0))
        return 0;
    return !mm->list_id && !automated_sender(mm->from_addr);
}

struct ack {
    int64_t ticket_id, customer_id;
    char to[256], subject[501];
    int sent;
};

static int ack_tx(struct db *db, void *arg)
{
    struct ack *a = arg;
    int64_t ours = 0, recent = 0;
    a->sent = 0;
    int rc = db_scalar_i64(db, "SELECT COUNT(*) FROM mailboxes WHERE address = ?", DBP(P_S(a->to)), 0, &ours);
    if (!rc && !ours) /* a storm guard besides "once per new ticket" */
        rc = db_scalar_i64(db, "SELECT COUNT(*) FROM outbox WHERE recipient = ? AND JSON_VALUE(payload, '$.auto') = 'true' "
                               "AND created_at > NOW(3) - INTERVAL 1 HOUR", DBP(P_S(a->to)), 0, &recent);
    if (rc || ours || recent >= 10)
        return rc;
    char body[700];
    snprintf(body, sizeof(body), ack_text, (long long)a->ticket_id, (long long)a->ticket_id);
    struct db_result r;
    rc = db_exec(db, "INSERT INTO messages (ticket_id, customer_id, direction, channel, author_type, body_text, status) "
                     "VALUES (?, ?, 'out', 'email', 'bot', ?, 'queued')",
                 DBP(P_I(a->ticket_id), P_I(a->customer_id), P_S(body)), &r);
    if (rc)
        return rc;
    int64_t mid = (int64_t)r.insert_id;
    db_result_free(&r);
    json_t *payload = json_pack("{s:I, s:I, s:s, s:s, s:b}", "message_id", (json_int_t)mid, "ticket_id",
                                (json_int_t)a->ticket_id, "subject", a->subject, "body_text", body, "auto", 1);
    char *ps = json_dumps(payload, JSON_COMPACT);
    json_decref(payload);
    rc = db_exec(db, "INSERT INTO outbox (message_id, channel, recipient, payload) VALUES (?, 'email', ?, ?)",
                 DBP(P_I(mid), P_S(a->to), P_S(ps)), NULL);
    free(ps);
    if (!rc)
        rc = event_insert(db, "message.created", a->ticket_id, a->customer_id, 0, 0,
                          json_pack("{s:{s:I, s:I, s:s, s:s, s:s, s:s, s:s, s:b}}", "message", "id", (json_int_t)mid,
                                    "ticket_id", (json_int_t)a->ticket_id, "direction", "out", "channel", "email",
                                    "author_type", "bot", "body_text", body, "status", "queued", "internal", 0));
    a->sent = !rc;
    return rc;
}

/* One message on its way: parsed, then submitted with the rest of its batch. */
struct pending_msg {
    uint32_t uid;
    int wants_ack;
    struct ingest_msg *m;
};

/* Parses one message (raw NULL: over the size limit, a stub instead) into p->m. */
static int prepare(struct fetcher *f, struct pending_msg *p, const char *raw, size_t len, uint32_t size)
{
    struct mime_message mm;
    memset(&mm, 0, sizeof(mm));
    struct ingest_msg *m = p->m = calloc(1, sizeof(*m));
    if (!m)
        return -1;
    if (raw) {
        if (mime_parse(raw, len, NULL, &mm) != 0)
            return -1;
        fill_from_mime(m, &mm, f, p->uid);
        p->wants_ack = wants_ack(&mm);
        mime_message_free(&mm);
    } else { /* over the size limit: a stub the agents see, instead of a blocked mailbox */
        log_warn("imap", "event=oversize mailbox=%s uid=%u size=%u limit=%u", f->name, p->uid, size, SIZE_LIMIT);
        text_copy(m->channel, sizeof(m->channel), "email");
        snprintf(m->external_id, sizeof(m->external_id), "imap:%lld:%u:%u", (long long)f->id, f->uidvalidity, p->uid);
        text_copy(m->identity_kind, sizeof(m->identity_kind), "email");
        text_copy(m->identity_value, sizeof(m->identity_value), "unknown-sender@invalid.invalid");
        snprintf(m->subject, sizeof(m->subject), "Message too large (%u bytes)", size);
        char note[200];
        snprintf(note, sizeof(note), "[A message of %u bytes in mailbox %s (UID %u) was not fetched: it is over the "
                                     "25 MiB limit. Open it in the mail server.]", size, f->name, p->uid);
        m->body_text = strdup(note);
        m->mailbox_id = f->id;
    }
    m->done = on_stored;
    m->user = f;
    return m->body_text ? 0 : -1;
}

/* After the commit: log, and acknowledge a new ticket. 0 when stored (or refused for good). */
static int finish(struct fetcher *f, const struct pending_msg *p)
{
    const struct ingest_msg *m = p->m;
    int rc = m->rc;
    if (rc == INGEST_EINVAL)
        log_warn("imap", "event=refused mailbox=%s uid=%u", f->name, p->uid);
    else if (!rc)
        log_debug("imap", "event=stored mailbox=%s uid=%u message=%lld ticket=%lld duplicate=%d", f->name, p->uid,
                  (long long)m->message_id, (long long)m->ticket_id, m->duplicate);
    if (!rc && p->wants_ack && m->new_ticket && cfg->smtp.host[0]) { /* only when we can send it */
        struct ack a = {.ticket_id = m->ticket_id, .customer_id = m->customer_id};
        text_copy(a.to, sizeof(a.to), m->identity_value);
        text_copy(a.subject, sizeof(a.subject), m->subject);
        if (db_transaction(f->db, ack_tx, &a) == DB_OK && a.sent) {
            log_info("imap", "event=auto_ack mailbox=%s ticket=%lld", f->name, (long long)m->ticket_id);
            event_tailer_wake();
        }
    }
    return rc == INGEST_EINVAL ? 0 : rc;
}

/* Hands the batch to the ingest writer (which commits it in one go, mostly) and waits
 * for every answer. Returns how many of p[0..n) were taken. */
static size_t submit_and_wait(struct fetcher *f, struct pending_msg *p, size_t n)
{
    size_t taken = 0;
    pthread_mutex_lock(&f->mu);
    f->pending = 0;
    pthread_mutex_unlock(&f->mu);
    for (; taken < n; taken++) {
        pthread_mutex_lock(&f->mu);
        f->pending++;
        pthread_mutex_unlock(&f->mu);
        if (ingest_submit(p[taken].m) != 0) {
            pthread_mutex_lock(&f->mu);
            f->pending--;
            pthread_mutex_unlock(&f->mu);
            break;
        }
    }
    pthread_mutex_lock(&f->mu);
    while (f->pending)
        pthread_cond_wait(&f->cv, &f->mu);
    pthread_mutex_unlock(&f->mu);
    return taken;
}

/* ---- IMAP ---- */

/* \Seen on uids[0..n) in one STORE, and last_uid moves past them in one write. */
static int seen_and_advance(struct fetcher *f, mailimap *imap, const uint32_t *uids, size_t n)
{
    if (!n)
        return 0;
    struct mailimap_set *set = mailimap_set_new_empty();
    for (size_t i = 0; set && i < n; i++)
        mailimap_set_add_single(set, uids[i]);
    struct mailimap_flag_list *flags = mailimap_flag_list_new_empty();
    mailimap_flag_list_add(flags, mailimap_flag_new_seen());
    struct mailimap_store_att_flags *st = mailimap_store_att_flags_new_add_flags_silent(flags);
    int r = set ? mailimap_uid_store(imap, set, st) : MAILIMAP_ERROR_MEMORY;
    mailimap_store_att_flags_free(st);
    if (set)
        mailimap_set_free(set);
    f->last_uid = uids[n - 1];
    db_exec(f->db, "UPDATE mailboxes SET last_uid = ?, last_sync_at = NOW(3), last_error = NULL WHERE id = ?",
            DBP(P_I(f->last_uid), P_I(f->id)), NULL);
    return r == MAILIMAP_NO_ERROR ? 0 : -1;
}

/* UIDs above last_uid with their sizes. */
static int list_new(struct fetcher *f, mailimap *imap, uint32_t **uids, uint32_t **sizes, size_t *n)
{
    struct mailimap_set *set = mailimap_set_new_interval(f->last_uid + 1, 0);
    struct mailimap_fetch_type *ft = mailimap_fetch_type_new_fetch_att_list_empty();
    mailimap_fetch_type_new_fetch_att_list_add(ft, mailimap_fetch_att_new_uid());
    mailimap_fetch_type_new_fetch_att_list_add(ft, mailimap_fetch_att_new_rfc822_size());
    clist *result = NULL;
    int r = mailimap_uid_fetch(imap, set, ft, &result);
    mailimap_fetch_type_free(ft);
    mailimap_set_free(set);
    *n = 0;
    if (r != MAILIMAP_NO_ERROR)
        return -1;
    size_t cap = (size_t)clist_count(result) + 1;
    *uids = calloc(cap, sizeof(uint32_t));
    *sizes = calloc(cap, sizeof(uint32_t));
    for (clistiter *it = clist_begin(result); *uids && *sizes && it; it = clist_next(it)) {
        struct mailimap_msg_att *att = clist_content(it);
        uint32_t uid = 0, size = 0;
        for (clistiter *j = clist_begin(att->att_list); j; j = clist_next(j)) {
            struct mailimap_msg_att_item *item = clist_content(j);
            if (item->att_type != MAILIMAP_MSG_ATT_ITEM_STATIC)
                continue;
            if (item->att_data.att_static->att_type == MAILIMAP_MSG_ATT_UID)
                uid = item->att_data.att_static->att_data.att_uid;
            else if (item->att_data.att_static->att_type == MAILIMAP_MSG_ATT_RFC822_SIZE)
                size = item->att_data.att_static->att_data.att_rfc822_size;
        }
        if (uid > f->last_uid) { /* "n+1:*" also answers the last message: drop what we have */
            (*uids)[*n] = uid;
            (*sizes)[*n] = size;
            (*n)++;
        }
    }
    mailimap_fetch_list_free(result);
    return *uids && *sizes ? 0 : -1;
}

/* The body of each message of one UID FETCH answer, matched to p[] by UID. */
static int parse_bodies(struct fetcher *f, clist *result, struct pending_msg *p, size_t n, const uint32_t *sizes)
{
    for (clistiter *it = clist_begin(result); it; it = clist_next(it)) {
        struct mailimap_msg_att *att = clist_content(it);
        uint32_t uid = 0;
        const char *body = NULL;
        size_t len = 0;
        for (clistiter *j = clist_begin(att->att_list); j; j = clist_next(j)) {
            struct mailimap_msg_att_item *item = clist_content(j);
            if (item->att_type != MAILIMAP_MSG_ATT_ITEM_STATIC)
                continue;
            struct mailimap_msg_att_static *a = item->att_data.att_static;
            if (a->att_type == MAILIMAP_MSG_ATT_UID)
                uid = a->att_data.att_uid;
            else if (a->att_type == MAILIMAP_MSG_ATT_BODY_SECTION && a->att_data.att_body_section->sec_body_part) {
                body = a->att_data.att_body_section->sec_body_part;
                len = a->att_data.att_body_section->sec_length;
            }
        }
        for (size_t k = 0; body && k < n; k++)
            if (p[k].uid == uid && !p[k].m && prepare(f, &p[k], body, len, sizes[k]) < 0)
                return -1;
    }
    return 0;
}

/* Fetches uids[0..n) (sizes known) in one command, stores them in one ingest batch, then
 * flags and advances past every message stored. Messages that vanished meanwhile are
 * skipped; oversized ones become stubs. */
static int fetch_batch(struct fetcher *f, mailimap *imap, const uint32_t *uids, const uint32_t *sizes, size_t n)
{
    struct pending_msg *p = calloc(n, sizeof(*p));
    struct mailimap_set *set = mailimap_set_new_empty();
    int rc = p && set ? 0 : -1, any = 0;
    for (size_t i = 0; !rc && i < n; i++) {
        p[i].uid = uids[i];
        if (sizes[i] > SIZE_LIMIT)
            rc = prepare(f, &p[i], NULL, 0, sizes[i]);
        else if (mailimap_set_add_single(set, uids[i]) == MAILIMAP_NO_ERROR)
            any = 1;
        else
            rc = -1;
    }
    clist *result = NULL;
    if (!rc && any) {
        struct mailimap_fetch_type *ft = mailimap_fetch_type_new_fetch_att_list_empty();
        mailimap_fetch_type_new_fetch_att_list_add(ft, mailimap_fetch_att_new_uid());
        mailimap_fetch_type_new_fetch_att_list_add(ft, mailimap_fetch_att_new_body_peek_section(mailimap_section_new(NULL)));
        rc = mailimap_uid_fetch(imap, set, ft, &result) == MAILIMAP_NO_ERROR ? 0 : -1;
        mailimap_fetch_type_free(ft);
        if (!rc)
            rc = parse_bodies(f, result, p, n, sizes);
        if (result)
            mailimap_fetch_list_free(result); /* the parsed copies own their text now */
    }
    /* all or nothing up to here: a message that failed to arrive or parse must not be
     * skipped by advancing past it, so a failed fetch stores nothing (the retry will) */
    size_t ready = 0;
    struct pending_msg *batch = !rc ? calloc(n, sizeof(*batch)) : NULL;
    uint32_t *done = !rc ? calloc(n, sizeof(*done)) : NULL;
    size_t ndone = 0;
    for (size_t i = 0; batch && i < n; i++)
        if (p[i].m)
            batch[ready++] = p[i]; /* no m after a good fetch: the message vanished meanwhile */
    if (!rc && (!batch || !done))
        rc = -1;
    size_t taken = batch && done ? submit_and_wait(f, batch, ready) : 0;
    for (size_t i = 0; i < taken; i++) {
        if (finish(f, &batch[i]) != 0) {
            rc = -1;
            break;
        }
        done[ndone++] = batch[i].uid;
    }
    if (taken < ready)
        rc = -1;
    /* a vanished message (no body) is acknowledged with its neighbours */
    if (!rc && done) {
        ndone = 0;
        for (size_t i = 0; i < n; i++)
            done[ndone++] = uids[i];
    }
    if (ndone && seen_and_advance(f, imap, done, ndone) < 0)
        rc = -1;
    for (size_t i = 0; p && i < n; i++)
        ingest_msg_free(p[i].m);
    free(batch);
    free(done);
    free(p);
    if (set)
        mailimap_set_free(set);
    return rc;
}

/* New mail in batches of at most BATCH_MAX messages and BATCH_BYTES bytes. */
static int fetch_new(struct fetcher *f, mailimap *imap)
{
    uint32_t *uids = NULL, *sizes = NULL;
    size_t n = 0;
    int rc = list_new(f, imap, &uids, &sizes, &n);
    for (size_t i = 0; !rc && i < n && !atomic_load(&stopping);) {
        size_t k = 0;
        uint64_t bytes = 0;
        while (i + k < n && k < BATCH_MAX && (k == 0 || bytes + (sizes[i + k] > SIZE_LIMIT ? 0 : sizes[i + k]) <= BATCH_BYTES))
            bytes += sizes[i + k] > SIZE_LIMIT ? 0 : sizes[i + k], k++;
        rc = fetch_batch(f, imap, uids + i, sizes + i, k);
        i += k;
    }
    free(uids);
    free(sizes);
    return rc;
}

/* Blocks until the server reports a change, the IDLE renewal time passes, or stop. */
static int wait_for_mail(mailimap *imap)
{
    if (!mailimap_has_idle(imap))
        return nap(POLL_SECS) ? 0 : 1;
    if (mailimap_idle(imap) != MAILIMAP_NO_ERROR)
        return -1;
    int fd = mailimap_idle_get_fd(imap);
    /* news that arrived with the IDLE answer sits in a buffer, not on the socket */
    int buffered = email_tls_pending(imap) || imap->imap_stream->read_buffer_len > 0;
    for (int waited = 0; !buffered && waited < IDLE_RENEW_SECS * 5 && !atomic_load(&stopping); waited++) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (poll(&p, 1, 200) > 0)
            break;
    }
    return mailimap_idle_done(imap) == MAILIMAP_NO_ERROR ? 0 : -1;
}

static int connect_and_select(struct fetcher *f, mailimap *imap)
{
    char err[300];
    if (strcmp(f->tls, "implicit") == 0) {
        if (email_tls_imap_connect(imap, cfg, f->host, (uint16_t)f->port, IMAP_TIMEOUT_SECS, err, sizeof(err)) < 0) {
            set_error(f, err);
            return -1;
        }
    } else {
        int r = mailimap_socket_connect(imap, f->host, (uint16_t)f->port);
        if (r != MAILIMAP_NO_ERROR && r != MAILIMAP_NO_ERROR_NON_AUTHENTICATED && r != MAILIMAP_NO_ERROR_AUTHENTICATED) {
            set_error(f, "cannot connect to the IMAP server");
            return -1;
        }
        if (strcmp(f->tls, "starttls") == 0 &&
            email_tls_imap_starttls(imap, cfg, f->host, IMAP_TIMEOUT_SECS, err, sizeof(err)) < 0) {
            set_error(f, err);
            return -1;
        }
    }
    if (mailimap_login(imap, f->user, f->secret) != MAILIMAP_NO_ERROR) {
        set_error(f, "login refused by the IMAP server");
        return -1;
    }
    if (mailimap_select(imap, f->folder) != MAILIMAP_NO_ERROR || !imap->imap_selection_info) {
        set_error(f, "cannot select the folder");
        return -1;
    }
    uint32_t v = imap->imap_selection_info->sel_uidvalidity;
    if (v != f->uidvalidity) {
        /* a new UIDVALIDITY: start over; Message-IDs keep the resync free of duplicates */
        log_info("imap", "event=uidvalidity mailbox=%s old=%u new=%u", f->name, f->uidvalidity, v);
        f->uidvalidity = v;
        f->last_uid = 0;
        db_exec(f->db, "UPDATE mailboxes SET uidvalidity = ?, last_uid = 0 WHERE id = ?", DBP(P_I(v), P_I(f->id)), NULL);
    }
    return 0;
}

/* Returns 1 when the session got as far as a selected folder (a healthy server). */
static int session(struct fetcher *f)
{
    int healthy = 0;
    mailimap *imap = mailimap_new(0, NULL);
    if (!imap)
        return 0;
    mailimap_set_timeout(imap, IMAP_TIMEOUT_SECS);
    pthread_mutex_lock(&f->mu);
    f->imap = imap;
    pthread_mutex_unlock(&f->mu);
    if (connect_and_select(f, imap) == 0) {
        healthy = 1;
        log_info("imap", "event=connected mailbox=%s last_uid=%u", f->name, f->last_uid);
        db_exec(f->db, "UPDATE mailboxes SET last_error = NULL WHERE id = ?", DBP(P_I(f->id)), NULL);
        int rc = 0;
        while (!rc && !atomic_load(&stopping)) {
            rc = fetch_new(f, imap);
            if (!rc)
                rc = wait_for_mail(imap);
        }
        if (rc < 0 && !atomic_load(&stopping)) /* a shutdown cuts sessions on purpose */
            set_error(f, "the IMAP session failed; reconnecting");
        if (!atomic_load(&stopping))
            mailimap_logout(imap);
    }
    pthread_mutex_lock(&f->mu);
    f->imap = NULL;
    pthread_mutex_unlock(&f->mu);
    mailimap_free(imap);
    return healthy;
}

static void *fetcher_main(void *arg)
{
    struct fetcher *f = arg;
    db_thread_init();
    f->db = db_new(cfg, 1);
    int backoff = 1;
    while (!atomic_load(&stopping)) {
        /* a session that worked and then ended (the server said BYE) reconnects after 1 s;
         * repeated failures wait longer and longer, up to a minute */
        backoff = session(f) ? 1 : (backoff < 60 ? backoff * 2 : 60);
        if (!nap(backoff))
            break;
    }
    db_free(f->db);
    db_thread_end();
    return NULL;
}

int email_imap_start(const struct sb_config *config)
{
    cfg = config;
    atomic_store(&stopping, 0);
    struct db *db = db_new(cfg, 1);
    struct db_result r;
    int rc = db_exec(db, "SELECT id, name, imap_host, imap_port, imap_tls, imap_user, imap_secret, folder, "
                         "COALESCE(uidvalidity, 0), last_uid FROM mailboxes WHERE enabled = 1 ORDER BY id LIMIT 32",
                     DBP0, &r);
    db_free(db);
    if (rc)
        return -1;
    for (size_t i = 0; i < r.nrows && nfetchers < MAX_FETCHERS; i++) {
        struct fetcher *f = &fetchers[nfetchers];
        memset(f, 0, sizeof(*f));
        f->id = db_cell_i64(&r, i, 0);
        text_copy(f->name, sizeof(f->name), db_cell(&r, i, 1));
        text_copy(f->host, sizeof(f->host), db_cell(&r, i, 2));
        f->port = db_cell_i64(&r, i, 3);
        text_copy(f->tls, sizeof(f->tls), db_cell(&r, i, 4));
        text_copy(f->user, sizeof(f->user), db_cell(&r, i, 5));
        text_copy(f->secret, sizeof(f->secret), db_cell(&r, i, 6));
        text_copy(f->folder, sizeof(f->folder), db_cell(&r, i, 7));
        f->uidvalidity = (uint32_t)db_cell_i64(&r, i, 8);
        f->last_uid = (uint32_t)db_cell_i64(&r, i, 9);
        pthread_mutex_init(&f->mu, NULL);
        pthread_cond_init(&f->cv, NULL);
        if (pthread_create(&f->thread, NULL, fetcher_main, f) == 0)
            nfetchers++;
    }
    db_result_free(&r);
    if (nfetchers)
        log_info("imap", "event=started mailboxes=%zu", nfetchers);
    return 0;
}

/* A session blocked on a silent server (a greeting or answer that never comes) would hold
 * the shutdown for the whole network timeout: cut its socket so the read returns. */
static void interrupt(struct fetcher *f)
{
    pthread_mutex_lock(&f->mu);
    if (f->imap && f->imap->imap_stream) {
        mailstream_low *low = mailstream_get_low(f->imap->imap_stream);
        int fd = low ? mailstream_low_get_fd(low) : -1;
        if (fd >= 0)
            shutdown(fd, SHUT_RDWR);
    }
    pthread_mutex_unlock(&f->mu);
}

void email_imap_stop(void)
{
    atomic_store(&stopping, 1);
    for (size_t i = 0; i < nfetchers; i++)
        interrupt(&fetchers[i]);
    for (size_t i = 0; i < nfetchers; i++) {
        pthread_join(fetchers[i].thread, NULL);
        pthread_mutex_destroy(&fetchers[i].mu);
        pthread_cond_destroy(&fetchers[i].cv);
    }
    nfetchers = 0;
}
