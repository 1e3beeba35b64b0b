/* config.c — see config.h. One table lists every key with its type and bounds; the file
 * parser, the environment overrides and the defaults all go through it. */
#include "gateway/config.h"
#include "gateway/lib/text.h"
#include <ctype.h>
#include <errno.h>
#include <ini.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

extern char **environ;

enum cfg_type { T_STR, T_INT, T_LISTEN, T_URL, T_ENUM };

struct cfg_key {
    const char *section;  /* "mailbox" means any [mailbox.NAME] */
    const char *key;
    enum cfg_type type;
    size_t offset;        /* into struct sb_config, or struct cfg_mailbox for "mailbox" */
    size_t size;          /* for strings */
    const char *def;
    int64_t min, max;     /* for ints */
    const char *choices;  /* for enums: "a|b|c" */
};

#define S(sec, field) #sec, #field, T_STR, offsetof(struct sb_config, sec.field), sizeof(((struct sb_config *)0)->sec.field)
#define I(sec, field) #sec, #field, T_INT, offsetof(struct sb_config, sec.field), 0
#define M(field) "mailbox", #field, T_STR, offsetof(struct cfg_mailbox, field), sizeof(((struct cfg_mailbox *)0)->field)
#define MI(field) "mailbox", #field, T_INT, offsetof(struct cfg_mailbox, field), 0

static const struct cfg_key keys[] = {
    {"server", "listen", T_LISTEN, offsetof(struct sb_config, server.listen), CFG_STR, "127.0.0.1:8080", 0, 0, NULL},
    {"server", "public_url", T_URL, offsetof(struct sb_config, server.public_url), CFG_STR, "", 0, 0, NULL},
    {S(server, www_dir), "gateway/www", 0, 0, NULL},
    {I(server, body_limit), "1048576", 1024, 1LL << 30, NULL},
    {I(server, import_limit), "67108864", 1024, 1LL << 31, NULL},
    {I(server, timeout_secs), "15", 1, 3600, NULL},
    {I(server, ws_frame_limit), "65536", 256, 16 << 20, NULL},
    {I(server, ws_idle_secs), "75", 5, 3600, NULL},
    {I(server, chat_messages_per_10s), "10", 1, 1000, NULL},
    {I(server, presence_grace_secs), "30", 1, 3600, NULL},
    {I(server, read_cache_ms), "1000", 0, 60000, NULL},
    {"server", "event_lib", T_ENUM, offsetof(struct sb_config, server.event_lib), 16, "libev", 0, 0, "libev"},
    {S(database, host), "127.0.0.1", 0, 0, NULL},
    {I(database, port), "3306", 1, 65535, NULL},
    {S(database, socket), "", 0, 0, NULL},
    {S(database, user), "switchboard", 0, 0, NULL},
    {S(database, password), "", 0, 0, NULL},
    {S(database, name), "switchboard", 0, 0, NULL},
    {I(database, pool_size), "8", 1, 256, NULL},
    {I(database, connect_timeout), "3", 1, 60, NULL},
    {I(auth, session_hours), "12", 1, 24 * 90, NULL},
    {I(auth, login_max_failures), "5", 1, 1000, NULL},
    {I(auth, login_max_ip), "30", 1, 100000, NULL},
    {I(auth, login_window_secs), "900", 1, 86400, NULL},
    {I(ingest, batch_max), "500", 1, 10000, NULL},
    {I(ingest, batch_wait_us), "2000", 0, 1000000, NULL},
    {I(ingest, writers), "2", 1, 8, NULL},
    {I(ingest, queue_max), "20000", 1, 1000000, NULL},
    {I(outbox, retry_secs), "30", 1, 3600, NULL},
    {"log", "level", T_ENUM, offsetof(struct sb_config, log.level), 16, "info", 0, 0, "debug|info|warn|error"},
    {"log", "access", T_ENUM, offsetof(struct sb_config, log.access), 8, "yes", 0, 0, "yes|no"},
    {S(smtp, host), "", 0, 0, NULL},
    {I(smtp, port), "25", 1, 65535, NULL},
    {S(smtp, user), "", 0, 0, NULL},
    {S(smtp, password), "", 0, 0, NULL},
    {"smtp", "tls", T_ENUM, offsetof(struct sb_config, smtp.tls), 16, "none", 0, 0, "none|starttls"},
    {S(smtp, from), "", 0, 0, NULL},
    {S(tls, ca_file), "", 0, 0, NULL},
    {"routing", "enabled", T_ENUM, offsetof(struct sb_config, routing.enabled), 8, "yes", 0, 0, "yes|no"},
    {I(routing, interval_ms), "200", 10, 60000, NULL},
    {I(crm, interval_secs), "30", 1, 86400, NULL},
    {I(campaigns, batch), "200", 1, 200, NULL},
    {I(campaigns, lease_secs), "300", 1, 86400, NULL},
    {I(campaigns, email_per_minute), "0", 0, 10000000, NULL},
    {I(campaigns, sms_per_minute), "0", 0, 10000000, NULL},
    {I(campaigns, utc_offset_mins), "480", -720, 840, NULL},
    {S(campaigns, sms_window), "08:00-21:00", 0, 0, NULL},
    {I(campaigns, track_opens), "1", 0, 1, NULL},
    {I(campaigns, track_clicks), "1", 0, 1, NULL},
    {I(campaigns, reply_days), "7", 1, 365, NULL},
    {S(webhooks, allow_hosts), "", 0, 0, NULL},
    {I(webhooks, timeout_ms), "10000", 100, 120000, NULL},
    {I(webhooks, retry_base_ms), "30000", 10, 86400000, NULL},
    {I(webhooks, retry_max_ms), "3600000", 10, 604800000, NULL},
    {I(webhooks, max_attempts), "8", 1, 100, NULL},
    {I(webhooks, disable_after), "20", 1, 100000, NULL},
    {"quality", "csat", T_ENUM, offsetof(struct sb_config, quality.csat), 4, "yes", 0, 0, "yes|no"},
    {"kb", "auto_answer", T_ENUM, offsetof(struct sb_config, kb.auto_answer), 4, "yes", 0, 0, "yes|no"},
    {I(kb, auto_answer_coverage), "60", 0, 100, NULL},
    {I(kb, auto_answer_margin), "20", 0, 99, NULL},
    {I(campaigns, enrol_secs), "10", 1, 3600, NULL},
    {I(campaigns, attribution_days), "30", 1, 365, NULL},
    {I(crm, settle_ms), "2000", 0, 60000, NULL},
    {I(rules, approval_remind_hours), "24", 1, 8760, NULL},
    {I(routing, batch), "200", 1, 5000, NULL},
    {I(routing, weight_chat), "34", 0, 100, NULL},
    {I(routing, weight_email), "10", 0, 100, NULL},
    {I(routing, weight_sms), "20", 0, 100, NULL},
    {I(routing, overflow_optional_secs), "60", 1, 86400, NULL},
    {I(routing, overflow_team_secs), "180", 1, 86400, NULL},
    {I(routing, escalate_secs), "600", 1, 604800, NULL},
    {I(routing, accept_timeout_secs), "30", 1, 3600, NULL},
    {"sms", "provider", T_ENUM, offsetof(struct sb_config, sms.provider), 16, "twilio", 0, 0, "twilio"},
    {"sms", "api_base", T_URL, offsetof(struct sb_config, sms.api_base), CFG_STR, "", 0, 0, NULL},
    {S(sms, account_sid), "", 0, 0, NULL},
    {S(sms, auth_token), "", 0, 0, NULL},
    {S(sms, from), "", 0, 0, NULL},
    {S(sms, messaging_service_sid), "", 0, 0, NULL},
    {S(sms, default_country), "86", 0, 0, NULL},
    {I(sms, max_inflight), "16", 1, 256, NULL},
    {I(sms, timeout_secs), "15", 1, 300, NULL},
    {I(sms, rate_per_sec), "30", 1, 10000, NULL},
    {I(sms, recipient_per_min), "6", 1, 1000, NULL},
    {S(sms, stop_reply), "You are unsubscribed and will get no more messages. Reply START to subscribe again. "
                         "您已退订，回复 START 可重新订阅。", 0, 0, NULL},
    {S(sms, start_reply), "You are subscribed again. Reply STOP to unsubscribe. 您已重新订阅，回复 TD 退订。", 0, 0, NULL},
    {S(sms, help_reply), "Reply with your question and an agent will answer. Reply STOP to unsubscribe. "
                         "直接回复您的问题即可，客服会尽快答复。回复 TD 退订。", 0, 0, NULL},
    {M(host), "", 0, 0, NULL},
    {MI(port), "993", 1, 65535, NULL},
    {"mailbox", "tls", T_ENUM, offsetof(struct cfg_mailbox, tls), 16, "implicit", 0, 0, "none|starttls|implicit"},
    {M(user), "", 0, 0, NULL},
    {M(password), "", 0, 0, NULL},
    {M(folder), "INBOX", 0, 0, NULL},
    {M(address), "", 0, 0, NULL},
    {M(team), "", 0, 0, NULL},
};
#define NKEYS (sizeof(keys) / sizeof(keys[0]))

static int seterr(char *err, size_t errsz, const char *sec, const char *key, const char *what, const char *val)
{
    char shown[81];
    size_t i = 0;
    /* one line, always: control characters of the value are shown as '?' */
    for (const char *p = val ? val : ""; *p && i < sizeof(shown) - 1; p++)
        shown[i++] = (unsigned char)*p < 0x20 || *p == 0x7f ? '?' : *p;
    shown[i] = '\0';
    snprintf(err, errsz, "[%s] %s: %s (got \"%s\")", sec, key, what, shown);
    return -1;
}

static int choice_ok(const char *choices, const char *v)
{
    size_t n = strlen(v);
    for (const char *p = choices; *p;) {
        const char *bar = strchr(p, '|');
        size_t len = bar ? (size_t)(bar - p) : strlen(p);
        if (len == n && strncmp(p, v, n) == 0)
            return 1;
        if (!bar)
            break;
        p = bar + 1;
    }
    return 0;
}

static int parse_listen(struct sb_config *cfg, const char *v, char *err, size_t errsz)
{
    const char *colon = strrchr(v, ':');
    int64_t port;
    if (!colon || colon == v || text_parse_i64(colon + 1, &port) < 0 || port < 1 || port > 65535)
        return seterr(err, errsz, "server", "listen", "must be host:port with port 1..65535", v);
    if (text_copy_n(cfg->server.host, sizeof(cfg->server.host), v, (size_t)(colon - v)) < 0)
        return seterr(err, errsz, "server", "listen", "host too long", v);
    cfg->server.port = port;
    return 0;
}

static int assign(void *base, const struct cfg_key *k, struct sb_config *cfg, const char *sec,
                  const char *v, char *err, size_t errsz)
{
    char *field = (char *)base + k->offset;
    int64_t n;
    switch (k->type) {
    case T_INT:
        if (text_parse_i64(v, &n) < 0 || n < k->min || n > k->max) {
            char what[96];
            snprintf(what, sizeof(what), "must be an integer from %lld to %lld", (long long)k->min, (long long)k->max);
            return seterr(err, errsz, sec, k->key, what, v);
        }
        *(int64_t *)field = n;
        return 0;
    case T_ENUM:
        if (!choice_ok(k->choices, v)) {
            char what[128];
            snprintf(what, sizeof(what), "must be one of %s", k->choices);
            return seterr(err, errsz, sec, k->key, what, v);
        }
        break;
    case T_URL: {
        const char *host = strncmp(v, "http://", 7) == 0 ? v + 7 : strncmp(v, "https://", 8) == 0 ? v + 8 : NULL;
        if (*v && (!host || !*host || *host == '/' || *host == ':'))
            return seterr(err, errsz, sec, k->key, "must be http:// or https:// followed by a host", v);
        break;
    }
    case T_LISTEN:
        if (parse_listen(cfg, v, err, errsz) < 0)
            return -1;
        break;
    case T_STR:
        break;
    }
    if (text_copy(field, k->size, v) < 0)
        return seterr(err, errsz, sec, k->key, "value too long", v);
    return 0;
}

static struct cfg_mailbox *mailbox_get(struct sb_config *cfg, const char *name, char *err, size_t errsz)
{
    for (size_t i = 0; i < cfg->n_mailboxes; i++)
        if (strcasecmp(cfg->mailboxes[i].name, name) == 0)
            return &cfg->mailboxes[i];
    if (cfg->n_mailboxes == CFG_MAX_MAILBOXES) {
        seterr(err, errsz, "mailbox", name, "too many mailboxes", name);
        return NULL;
    }
    if (!*name || strlen(name) >= sizeof(cfg->mailboxes[0].name)) {
        seterr(err, errsz, "mailbox", "name", "mailbox name must be 1..63 characters", name);
        return NULL;
    }
    struct cfg_mailbox *mb = &cfg->mailboxes[cfg->n_mailboxes++];
    memset(mb, 0, sizeof(*mb));
    text_copy(mb->name, sizeof(mb->name), name);
    text_lower(mb->name);
    for (size_t i = 0; i < NKEYS; i++)
        if (strcmp(keys[i].section, "mailbox") == 0)
            assign(mb, &keys[i], cfg, "mailbox", keys[i].def, err, errsz);
    return mb;
}

int config_set(struct sb_config *cfg, const char *section, const char *key, const char *value,
               char *err, size_t errsz)
{
    void *base = cfg;
    const char *sec = section;
    if (strncasecmp(section, "mailbox.", 8) == 0) {
        base = mailbox_get(cfg, section + 8, err, errsz);
        if (!base)
            return -1;
        sec = "mailbox";
    }
    for (size_t i = 0; i < NKEYS; i++)
        if (strcasecmp(keys[i].section, sec) == 0 && strcasecmp(keys[i].key, key) == 0)
            return assign(base, &keys[i], cfg, section, value, err, errsz);
    return seterr(err, errsz, section, key, "unknown setting", value);
}

struct ini_ctx {
    struct sb_config *cfg;
    char *err;
    size_t errsz;
    int failed;
};

static int on_ini_entry(void *user, const char *section, const char *name, const char *value)
{
    struct ini_ctx *c = user;
    if (c->failed)
        return 0;
    if (config_set(c->cfg, section, name, value, c->err, c->errsz) < 0) {
        c->failed = 1;
        return 0;
    }
    return 1;
}

/* SWITCHBOARD_SERVER_LISTEN → [server] listen; SWITCHBOARD_MAILBOX_DEMO_PASSWORD →
 * [mailbox.demo] password (the key is the longest known mailbox key that ends it). */
static int apply_env_one(struct sb_config *cfg, const char *name, const char *value, char *err, size_t errsz)
{
    char lower[256];
    if (text_copy(lower, sizeof(lower), name) < 0)
        return 0;
    text_lower(lower);
    if (strncmp(lower, "mailbox_", 8) == 0) {
        const char *rest = lower + 8;
        size_t rn = strlen(rest);
        for (size_t i = 0; i < NKEYS; i++) {
            if (strcmp(keys[i].section, "mailbox") != 0)
                continue;
            size_t kn = strlen(keys[i].key);
            if (rn > kn + 1 && strcmp(rest + rn - kn, keys[i].key) == 0 && rest[rn - kn - 1] == '_') {
                char sec[128];
                snprintf(sec, sizeof(sec), "mailbox.%.*s", (int)(rn - kn - 1), rest);
                return config_set(cfg, sec, keys[i].key, value, err, errsz);
            }
        }
        return 0;
    }
    for (size_t i = 0; i < NKEYS; i++) {
        const struct cfg_key *k = &keys[i];
        size_t sn = strlen(k->section);
        if (strcmp(k->section, "mailbox") == 0 || strncmp(lower, k->section, sn) != 0 || lower[sn] != '_')
            continue;
        if (strcmp(lower + sn + 1, k->key) == 0)
            return config_set(cfg, k->section, k->key, value, err, errsz);
    }
    return 0;
}

static int apply_env(struct sb_config *cfg, char *err, size_t errsz)
{
    for (char **e = environ; *e; e++) {
        if (strncmp(*e, "SWITCHBOARD_", 12) != 0)
            continue;
        const char *eq = strchr(*e, '=');
        if (!eq)
            continue;
        char name[256];
        if (text_copy_n(name, sizeof(name), *e + 12, (size_t)(eq - *e - 12)) < 0)
            continue;
        char where[300];
        if (apply_env_one(cfg, name, eq + 1, where, sizeof(where)) < 0) {
            snprintf(err, errsz, "environment SWITCHBOARD_%s: %s", name, where);
            return -1;
        }
    }
    return 0;
}

int config_load(struct sb_config *cfg, const char *path, int path_was_given, char *err, size_t errsz)
{
    memset(cfg, 0, sizeof(*cfg));
    for (size_t i = 0; i < NKEYS; i++)
        if (strcmp(keys[i].section, "mailbox") != 0 && assign(cfg, &keys[i], cfg, keys[i].section, keys[i].def, err, errsz) < 0)
            return -1;
    if (path && *path) {
        FILE *f = fopen(path, "r");
        if (!f && (path_was_given || errno != ENOENT)) {
            snprintf(err, errsz, "%s: cannot open config file: %s", path, strerror(errno));
            return -1;
        }
        if (f) {
            struct ini_ctx c = {cfg, err, errsz, 0};
            char where[300] = "";
            c.err = where;
            c.errsz = sizeof(where);
            int line = ini_parse_file(f, on_ini_entry, &c);
            fclose(f);
            if (c.failed || line != 0) {
                if (!c.failed)
                    snprintf(where, sizeof(where), "syntax error");
                snprintf(err, errsz, "%s:%d: %s", path, line, where);
                return -1;
            }
        }
    }
    if (apply_env(cfg, err, errsz) < 0)
        return -1;
    if (!cfg->server.public_url[0])
        snprintf(cfg->server.public_url, sizeof(cfg->server.public_url), "http://%s:%lld",
                 cfg->server.host, (long long)cfg->server.port);
    size_t n = strlen(cfg->server.public_url);
    while (n > 0 && cfg->server.public_url[n - 1] == '/')
        cfg->server.public_url[--n] = '\0';
    for (size_t i = 0; i < cfg->n_mailboxes; i++)
        if (!cfg->mailboxes[i].host[0]) {
            snprintf(err, errsz, "[mailbox.%s] host: required", cfg->mailboxes[i].name);
            return -1;
        }
    return 0;
}
