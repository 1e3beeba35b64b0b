/* config.h — switchboard.ini plus SWITCHBOARD_<SECTION>_<KEY> environment overrides.
 *
 * Owns: struct sb_config (filled once at start-up, read-only afterwards).
 * Thread: config_load runs on the main thread before any other thread starts; afterwards
 * every thread may read the struct.
 * Errors: config_load returns 0, or -1 after writing ONE line naming the file, section and
 * key and what is wrong into err. Unknown sections/keys in the file are errors (typos must
 * not pass silently); unknown SWITCHBOARD_* environment variables are ignored because
 * scripts use the prefix for their own settings.
 */
#ifndef SB_CONFIG_H
#define SB_CONFIG_H
#include <stddef.h>
#include <stdint.h>

#define CFG_STR 256
#define CFG_MAX_MAILBOXES 32

struct cfg_mailbox {
    char name[64];
    char host[CFG_STR];
    int64_t port;
    char tls[16]; /* none | starttls | implicit */
    char user[CFG_STR];
    char password[CFG_STR];
    char folder[CFG_STR];
    char address[CFG_STR];
    char team[CFG_STR];
};

struct sb_config {
    struct {
        char listen[CFG_STR];       /* host:port */
        char host[CFG_STR];         /* derived from listen */
        int64_t port;               /* derived from listen */
        char public_url[CFG_STR];
        char www_dir[CFG_STR];
        int64_t body_limit;         /* bytes; larger bodies get 413 */
        int64_t import_limit;       /* bytes of a CSV import (ROUTE_LARGE_BODY routes) */
        int64_t timeout_secs;       /* slow-client / idle timeout */
        int64_t ws_frame_limit;     /* bytes */
        int64_t ws_idle_secs;       /* a silent websocket is closed (pinged at 30 s) */
        int64_t chat_messages_per_10s; /* a visitor socket's messages in any 10 s (frames: 6× that) */
        int64_t presence_grace_secs; /* an agent without sockets goes offline after this */
        char event_lib[16];         /* libev (only choice; checked at start) */
        int64_t read_cache_ms;      /* how long a cached ticket view / session may serve a read; 0: off */
    } server;
    struct {
        char host[CFG_STR];
        int64_t port;
        char socket[CFG_STR];
        char user[CFG_STR];
        char password[CFG_STR];
        char name[64];
        int64_t pool_size;
        int64_t connect_timeout;
    } database;
    struct {
        int64_t session_hours;
        int64_t login_max_failures;  /* per account per window */
        int64_t login_max_ip;        /* per IP per window */
        int64_t login_window_secs;
    } auth;
    struct {
        int64_t batch_max;
        int64_t batch_wait_us;
        int64_t writers; /* writer threads (lanes by sender), each its own group commit */
        int64_t queue_max; /* messages waiting for a writer before new ones are refused */
    } ingest;
    struct {
        int64_t retry_secs;         /* first retry delay; later ones are multiples */
    } outbox;
    struct {
        char level[16];
        char access[8];             /* yes|no: one info line per HTTP request */
    } log;
    struct {
        char host[CFG_STR];
        int64_t port;
        char user[CFG_STR];
        char password[CFG_STR];
        char tls[16];               /* none | starttls (libesmtp has no implicit TLS) */
        char from[CFG_STR];
    } smtp;
    struct {
        char ca_file[CFG_STR];      /* PEM bundle trusted besides the system store */
    } tls;
    struct {
        char enabled[8];            /* yes | no: this node runs a router */
        int64_t interval_ms;        /* a round at least this often (woken sooner by new work) */
        int64_t batch;              /* tickets considered per round */
        int64_t weight_chat;        /* capacity units one ticket of the channel costs */
        int64_t weight_email;
        int64_t weight_sms;
        int64_t overflow_optional_secs; /* waiting this long drops optional skills */
        int64_t overflow_team_secs;     /* … then any team's agents may take it */
        int64_t escalate_secs;          /* … then managers are told */
        int64_t accept_timeout_secs;    /* offers of tickets without a team */
    } routing;
    struct {
        int64_t batch;              /* recipients claimed and sent per round */
        int64_t lease_secs;         /* a claimed batch not settled by then was interrupted: ambiguous */
        int64_t email_per_minute;   /* all campaigns' e-mail, all gateway processes together (0 = no limit) */
        int64_t sms_per_minute;     /* the same for SMS */
        char sms_window[16];        /* local hours SMS campaigns may send in, "08:00-21:00" */
        int64_t utc_offset_mins;    /* of those hours (480 = China) */
        int64_t track_opens;        /* a 1x1 image in campaign HTML: opened_at */
        int64_t track_clicks;       /* links through signed redirects: clicked_at */
        int64_t enrol_secs;         /* how often sequences look for customers to enrol */
        int64_t reply_days;         /* an SMS from a customer this many days after a campaign SMS is its reply */
        int64_t attribution_days;   /* a deal won this many days after a campaign reached the customer is its revenue */
    } campaigns;
    struct {
        char csat[4];               /* yes|no: a 1-5 survey when a ticket is first solved */
    } quality;
    struct {
        char allow_hosts[CFG_STR];  /* hosts exempt from the private-address refusal ("a, b") */
        int64_t timeout_ms;         /* one delivery attempt, connect to answer */
        int64_t retry_base_ms;      /* first retry after this, doubling per attempt */
        int64_t retry_max_ms;       /* ... up to this */
        int64_t max_attempts;       /* then the delivery is failed */
        int64_t disable_after;      /* failed attempts in a row that disable the webhook */
    } webhooks;
    struct {
        char auto_answer[4];        /* yes|no: chat self-service (kb_answer.h) */
        int64_t auto_answer_coverage; /* percent of the question the best article must cover */
        int64_t auto_answer_margin; /* and beat the second one by this many percent */
    } kb;
    struct {
        int64_t interval_secs;      /* how often the CRM worker runs tag rules and reminders */
        int64_t settle_ms;          /* events younger than this wait (ids commit out of order) */
    } crm;
    struct {
        int64_t approval_remind_hours; /* a pending approval reminds its approvers again after */
    } rules;
    struct {
        char provider[16];          /* twilio (the ops table in channels/sms_provider.h) */
        char api_base[CFG_STR];     /* e.g. https://api.twilio.com */
        char account_sid[CFG_STR];
        char auth_token[CFG_STR];
        char from[CFG_STR];         /* our number, E.164 */
        char messaging_service_sid[CFG_STR]; /* instead of from, when set */
        char default_country[8];    /* calling code for numbers without +: "86" */
        int64_t max_inflight;       /* requests in flight at once */
        int64_t timeout_secs;       /* a request without an answer by then is ambiguous */
        int64_t rate_per_sec;       /* sends per second, all numbers together */
        int64_t recipient_per_min;  /* sends per minute to one number */
        char stop_reply[CFG_STR];   /* confirmations of the keywords */
        char start_reply[CFG_STR];
        char help_reply[CFG_STR];
    } sms;
    struct cfg_mailbox mailboxes[CFG_MAX_MAILBOXES];
    size_t n_mailboxes;
};

/* Defaults, then the file (path may be NULL or "/dev/null"; a missing explicitly named
 * file is an error, a missing default ./switchboard.ini is not), then the environment. */
int config_load(struct sb_config *cfg, const char *path, int path_was_given, char *err, size_t errsz);

/* Sets one value by section/key as the file would; used by config_load and tests. */
int config_set(struct sb_config *cfg, const char *section, const char *key, const char *value,
               char *err, size_t errsz);

#endif
