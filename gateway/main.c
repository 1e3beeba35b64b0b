/* main.c — the switchboard command line, and the one place that knows the list of
 * threads, channels and workers (DESIGN.md section 2).
 *
 *   switchboard [-c FILE] serve | migrate | agent add ... | version | --help
 *
 * Exit status: 0 success, 1 runtime failure, 2 usage or configuration error.
 */
#include "gateway/agent_socket.h"
#include "gateway/auth.h"
#include "gateway/config.h"
#include "gateway/db.h"
#include "gateway/dbpool.h"
#include "gateway/event_tailer.h"
#include "gateway/customer_import.h"
#include "gateway/ingest.h"
#include "gateway/scope.h"
#include "gateway/lib/contact.h"
#include "gateway/lib/text.h"
#include "gateway/log.h"
#include "gateway/read_cache.h"
#include "gateway/mailboxes.h"
#include "gateway/loop.h"
#include "gateway/migrate.h"
#include "gateway/server.h"
#include "gateway/templates.h"
#include "gateway/tickets.h"
#include "channels/email_imap.h"
#include "channels/email_smtp.h"
#include "channels/email_tls.h"
#include "channels/sms_http.h"
#include "gateway/api_sms.h"
#include "gateway/campaign_results.h"
#include "gateway/csat.h"
#include "gateway/kb_answer.h"
#include "channels/webchat.h"
#include "workers/campaigns.h"
#include "workers/crm.h"
#include "workers/quality.h"
#include "gateway/webhooks.h"
#include "workers/webhooks.h"
#include "workers/housekeeping.h"
#include "workers/outbox.h"
#include "workers/router.h"
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define SB_VERSION "0.1.0"

static const char usage[] =
    "usage: switchboard [-c FILE] COMMAND\n"
    "\n"
    "commands:\n"
    "  serve                 run the gateway (HTTP, websockets, workers)\n"
    "  migrate               create the database if needed and apply schema migrations\n"
    "  agent add --email E --name N --role R [--team-id T] [--password-stdin]\n"
    "                        create an agent; without --password-stdin a password is\n"
    "                        generated and printed once. Roles: admin manager agent sales marketer\n"
    "  import customers FILE [--dry-run] [--charset C]\n"
    "                        import customers from CSV (UTF-8, or C = gbk, gb18030, big5…);\n"
    "                        prints the counts and every rejected line with its reasons\n"
    "  templates load [DIR]  add the default message templates of DIR (./templates) that\n"
    "                        the database does not have yet\n"
    "  version               print the version\n"
    "\n"
    "options:\n"
    "  -c FILE               configuration file (default ./switchboard.ini if present)\n"
    "  -h, --help            this help\n"
    "\n"
    "Every setting can be overridden by SWITCHBOARD_<SECTION>_<KEY>, e.g.\n"
    "SWITCHBOARD_DATABASE_PASSWORD or SWITCHBOARD_MAILBOX_DEMO_PASSWORD.\n";

static const struct ws_endpoint *const endpoints[] = {&agent_socket_endpoint, &webchat_endpoint, NULL};
static const struct channel_ops *const senders[] = {&email_smtp_channel, &sms_http_channel, NULL};

/* The change feed reaches every socket kind on this node (net thread). */
static void deliver_events(struct event_batch *b)
{
    read_cache_drop_events(b); /* first: a console that reads after the push reads the change */
    agent_socket_deliver(b);
    webchat_deliver(b);
    event_batch_free(b);
}

static void on_tick(void)
{
    agent_socket_tick();
}

static int schema_check(const struct sb_config *cfg)
{
    struct db *db = db_new(cfg, 1);
    int version = 0, rc = DB_EGONE;
    for (int attempt = 0; attempt < 50 && rc == DB_EGONE; attempt++) {
        rc = migrate_current_version(db, &version);
        if (rc == DB_EGONE)
            usleep(100000);
    }
    if (rc) {
        fprintf(stderr, "switchboard: cannot reach database %s: %s\n", cfg->database.name, db_error(db));
        db_free(db);
        return -1;
    }
    /* the knowledge base's Chinese search indexes two-character tokens (012_kb.sql) */
    int64_t ft_min = 0;
    if (db_scalar_i64(db, "SELECT @@innodb_ft_min_token_size", DBP0, 0, &ft_min) == DB_OK && ft_min > 2)
        log_error("kb", "event=bad_db_setting innodb_ft_min_token_size=%lld needed=2 effect=\"no Chinese search: "
                        "set it in the server's my.cnf and rebuild the index (ALTER TABLE kb_articles FORCE)\"",
                  (long long)ft_min);
    db_free(db);
    if (version < migrate_latest_version()) {
        fprintf(stderr, "switchboard: database schema is at version %d, this binary needs %d; "
                        "run `switchboard migrate` first\n", version, migrate_latest_version());
        return -1;
    }
    return 0;
}

static void on_draining(void)
{
    /* nothing yet: channels and workers stop taking new work here in later issues */
}

static int cmd_serve(const struct sb_config *cfg)
{
    char err[300];
    if (email_tls_check(cfg, err, sizeof(err)) < 0) { /* configuration first: no database needed to see it */
        fprintf(stderr, "switchboard: %s\n", err);
        return 1;
    }
    if (schema_check(cfg) < 0)
        return 1;
    if (mailboxes_sync_config(cfg, err, sizeof(err)) < 0) {
        fprintf(stderr, "switchboard: %s\n", err);
        return 1;
    }
    if (auth_init(cfg) < 0) {
        fprintf(stderr, "switchboard: libsodium initialisation failed\n");
        return 1;
    }
    agent_socket_init(cfg);
    webchat_init(cfg);
    api_sms_init(cfg, sms_provider_for(cfg));
    tickets_init(cfg);
    campaign_results_init(cfg);
    csat_init(cfg);
    kb_answer_init(cfg);
    webhooks_init(cfg);
    agent_socket_on_agent_typing(webchat_agent_typing);
    if (dbpool_start(cfg) < 0 || event_tailer_start(cfg, deliver_events) < 0 || ingest_start(cfg) < 0 ||
        housekeeping_start(cfg) < 0 || outbox_start(cfg, senders) < 0 || router_start(cfg) < 0 ||
        crm_worker_start(cfg) < 0 || campaign_sender_start(cfg, senders) < 0 || quality_worker_start(cfg) < 0 ||
        webhook_worker_start(cfg) < 0 ||
        email_imap_start(cfg) < 0) {
        fprintf(stderr, "switchboard: cannot start threads\n");
        return 1;
    }
    struct server_hooks hooks = {.endpoints = endpoints, .on_draining = on_draining, .on_tick = on_tick};
    int rc = server_run(cfg, &hooks);
    email_imap_stop(); /* before the ingest writer: fetchers wait for its commits */
    router_stop();
    campaign_sender_stop();
    quality_worker_stop();
    webhook_worker_stop();
    crm_worker_stop();
    outbox_stop();
    housekeeping_stop();
    ingest_stop();
    event_tailer_stop();
    dbpool_stop();
    loop_drain(); /* the completions of the last jobs release what they hold */
    loop_detach();
    log_info("main", "event=stopped rc=%d", rc);
    return rc == 0 ? 0 : 1;
}

static int cmd_migrate(const struct sb_config *cfg)
{
    char err[512] = "";
    int applied = 0;
    if (migrate_run(cfg, &applied, err, sizeof(err)) != 0) {
        fprintf(stderr, "switchboard migrate: %s\n", err);
        return 1;
    }
    printf("schema at version %d (%d migration%s applied)\n", migrate_latest_version(), applied, applied == 1 ? "" : "s");
    return 0;
}

static int read_password_line(char *out, size_t outsz)
{
    if (!fgets(out, (int)outsz, stdin))
        return -1;
    out[strcspn(out, "\r\n")] = '\0';
    return strlen(out) >= 10 ? 0 : -1;
}

static int cmd_agent_add(const struct sb_config *cfg, int argc, char **argv)
{
    static const struct option opts[] = {
        {"email", required_argument, NULL, 'e'}, {"name", required_argument, NULL, 'n'},
        {"role", required_argument, NULL, 'r'},  {"team-id", required_argument, NULL, 't'},
        {"password-stdin", no_argument, NULL, 'p'}, {NULL, 0, NULL, 0},
    };
    const char *email_in = NULL, *name = NULL, *role = NULL, *team_s = NULL;
    int from_stdin = 0, ch;
    optind = 1;
    while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (ch) {
        case 'e': email_in = optarg; break;
        case 'n': name = optarg; break;
        case 'r': role = optarg; break;
        case 't': team_s = optarg; break;
        case 'p': from_stdin = 1; break;
        default: fputs(usage, stderr); return 2;
        }
    }
    char email[CONTACT_MAX];
    const char *why = NULL;
    int64_t team = 0;
    if (!email_in || contact_email_normalise(email_in, email, sizeof(email), &why) < 0) {
        fprintf(stderr, "switchboard agent add: --email %s\n", email_in ? why : "is required");
        return 2;
    }
    text_lower(email);
    if (!name || !*name || !role || !auth_role_bit(role) || (team_s && (text_parse_i64(team_s, &team) < 0 || team < 1))) {
        fprintf(stderr, "switchboard agent add: --name, and --role one of admin manager agent sales marketer, "
                        "are required (--team-id must be a positive integer)\n");
        return 2;
    }
    char password[256] = "", hash[AUTH_HASH_MAX];
    if (from_stdin && read_password_line(password, sizeof(password)) < 0) {
        fprintf(stderr, "switchboard agent add: the password on stdin must be at least 10 characters\n");
        return 2;
    }
    if (!from_stdin)
        auth_generate_password(password, sizeof(password));
    if (auth_init(cfg) < 0 || auth_hash_password(password, hash) < 0)
        return 1;
    struct db *db = db_new(cfg, 1);
    struct db_result r;
    int rc = db_exec(db, "INSERT INTO agents (email, name, role, team_id, password_hash) VALUES (?, ?, ?, ?, ?) "
                         "ON DUPLICATE KEY UPDATE name = VALUES(name), role = VALUES(role), "
                         "password_hash = VALUES(password_hash), active = 1, id = LAST_INSERT_ID(id)",
                     DBP(P_S(email), P_S(name), P_S(role), P_IOPT(team), P_S(hash)), &r);
    if (rc) {
        fprintf(stderr, "switchboard agent add: %s\n", db_error(db));
        db_free(db);
        return 1;
    }
    printf("agent %llu %s (%s)\n", (unsigned long long)r.insert_id, email, role);
    if (!from_stdin)
        printf("password: %s\n", password);
    db_result_free(&r);
    db_free(db);
    return 0;
}

struct cli_import {
    struct buf file;
    struct import_opts opts;
    struct import_result res;
};

static int import_tx(struct db *db, void *arg)
{
    struct cli_import *ci = arg;
    customer_import_result_free(&ci->res);
    int rc = customer_import_run(db, ci->file.data ? ci->file.data : "", ci->file.len, &ci->opts, &ci->res);
    return rc == 1 ? 1 : rc; /* a bad file rolls back like an error */
}

static void print_rejected(const struct import_result *res)
{
    size_t i;
    json_t *row;
    json_array_foreach(res->rejected, i, row) {
        const char *field;
        json_t *why, *errors = json_object_get(row, "errors");
        printf("line %lld:", (long long)json_integer_value(json_object_get(row, "line")));
        json_object_foreach(errors, field, why) {
            printf(" %s: %s;", field, json_string_value(why));
        }
        putchar('\n');
    }
}

static int cmd_import_customers(const struct sb_config *cfg, int argc, char **argv)
{
    static const struct option opts[] = {
        {"dry-run", no_argument, NULL, 'd'}, {"charset", required_argument, NULL, 'c'}, {NULL, 0, NULL, 0},
    };
    static struct agent_info system = {.scope = SCOPE_ALL, .role_bit = ROLE_ADMIN};
    struct cli_import ci = {.opts = {.me = &system, .request_id = "cli"}};
    int ch;
    optind = 1;
    while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        if (ch == 'd')
            ci.opts.dry_run = true;
        else if (ch == 'c')
            ci.opts.charset = optarg;
        else {
            fputs(usage, stderr);
            return 2;
        }
    }
    if (optind >= argc) {
        fprintf(stderr, "switchboard import customers: FILE is required\n");
        return 2;
    }
    FILE *f = fopen(argv[optind], "rb");
    if (!f) {
        fprintf(stderr, "switchboard import customers: %s: %s\n", argv[optind], strerror(errno));
        return 2;
    }
    buf_init(&ci.file, (size_t)cfg->server.import_limit);
    char chunk[65536];
    size_t n;
    int toobig = 0;
    while (!toobig && (n = fread(chunk, 1, sizeof(chunk), f)) > 0)
        toobig = buf_append(&ci.file, chunk, n) < 0;
    fclose(f);
    if (toobig) {
        fprintf(stderr, "switchboard import customers: larger than [server] import_limit (%lld bytes)\n",
                (long long)cfg->server.import_limit);
        buf_free(&ci.file);
        return 2;
    }
    struct db *db = db_new(cfg, 1);
    int rc = db_transaction(db, import_tx, &ci);
    if (rc == 1)
        fprintf(stderr, "switchboard import customers: %s\n", ci.res.error);
    else if (rc)
        fprintf(stderr, "switchboard import customers: database error: %s\n", db_error(db));
    else {
        printf("%s%lld rows: %lld imported, %lld updated, %lld rejected\n", ci.opts.dry_run ? "dry run: " : "",
               (long long)ci.res.rows, (long long)ci.res.imported, (long long)ci.res.updated,
               (long long)ci.res.rejected_count);
        print_rejected(&ci.res);
    }
    customer_import_result_free(&ci.res);
    buf_free(&ci.file);
    db_free(db);
    return rc == 0 ? 0 : rc == 1 ? 2 : 1;
}

static int cmd_templates_load(const struct sb_config *cfg, int argc, char **argv)
{
    const char *dir = argc > 1 ? argv[1] : "templates";
    char err[600] = "";
    int added = 0;
    struct db *db = db_new(cfg, 1);
    int rc = templates_load_dir(db, dir, &added, err, sizeof(err));
    db_free(db);
    if (rc < 0) {
        fprintf(stderr, "switchboard templates load: %s\n", err);
        return 2;
    }
    printf("templates: %d added from %s\n", added, dir);
    return 0;
}

int main(int argc, char **argv)
{
    const char *cfg_path = "switchboard.ini";
    int cfg_given = 0, i = 1;
    for (; i < argc && argv[i][0] == '-'; i++) {
        if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
            fputs(usage, stdout);
            return 0;
        }
        if (strcmp(argv[i], "-c") == 0 && i + 1 < argc) {
            cfg_path = argv[++i];
            cfg_given = 1;
            continue;
        }
        fprintf(stderr, "switchboard: unknown option %s\n%s", argv[i], usage);
        return 2;
    }
    if (i >= argc) {
        fputs(usage, stderr);
        return 2;
    }
    const char *cmd = argv[i];
    if (strcmp(cmd, "version") == 0) {
        printf("switchboard %s (schema %d)\n", SB_VERSION, migrate_latest_version());
        return 0;
    }
    static struct sb_config cfg;
    char err[512];
    if (config_load(&cfg, cfg_path, cfg_given, err, sizeof(err)) < 0) {
        fprintf(stderr, "switchboard: config error: %s\n", err);
        return 2;
    }
    static const char *const levels[] = {"debug", "info", "warn", "error"};
    for (int l = 0; l < 4; l++)
        if (strcmp(cfg.log.level, levels[l]) == 0)
            log_set_level((enum log_level)l);
    signal(SIGPIPE, SIG_IGN);
    db_library_init();
    int rc;
    if (strcmp(cmd, "serve") == 0)
        rc = cmd_serve(&cfg);
    else if (strcmp(cmd, "migrate") == 0)
        rc = cmd_migrate(&cfg);
    else if (strcmp(cmd, "agent") == 0 && i + 1 < argc && strcmp(argv[i + 1], "add") == 0)
        rc = cmd_agent_add(&cfg, argc - i - 1, argv + i + 1);
    else if (strcmp(cmd, "templates") == 0 && i + 1 < argc && strcmp(argv[i + 1], "load") == 0)
        rc = cmd_templates_load(&cfg, argc - i - 1, argv + i + 1);
    else if (strcmp(cmd, "import") == 0 && i + 1 < argc && strcmp(argv[i + 1], "customers") == 0)
        rc = cmd_import_customers(&cfg, argc - i - 1, argv + i + 1);
    else {
        fprintf(stderr, "switchboard: unknown command %s\n%s", cmd, usage);
        rc = 2;
    }
    db_library_end();
    return rc;
}
