/* test_config.c — config_load / config_set (gateway/config.h): defaults, the INI file,
 * SWITCHBOARD_<SECTION>_<KEY> overrides, and error messages that name the file, line,
 * section and key. */
#include "tests/unit/unit.h"
#include "gateway/config.h"
#include <errno.h>
#include <stdlib.h>
#include <unistd.h>

extern char **environ;

/* Every SWITCHBOARD_* variable is removed before each test: run-all.sh exports the
 * database settings, and a test must see only what it sets itself. */
static void clear_env(void)
{
    for (;;) {
        char name[256] = "";
        for (char **e = environ; *e; e++) {
            if (strncmp(*e, "SWITCHBOARD_", 12) == 0) {
                const char *eq = strchr(*e, '=');
                size_t n = eq ? (size_t)(eq - *e) : strlen(*e);
                if (n < sizeof(name)) {
                    memcpy(name, *e, n);
                    name[n] = '\0';
                }
                break;
            }
        }
        if (!name[0])
            return;
        unsetenv(name);
    }
}

static int setup(void **state)
{
    (void)state;
    clear_env();
    return 0;
}

static char tmp_path[64];

/* Writes text to a fresh temporary file whose path is left in tmp_path. */
static const char *write_ini(const char *text)
{
    snprintf(tmp_path, sizeof(tmp_path), "/tmp/sbunit_cfg_XXXXXX");
    int fd = mkstemp(tmp_path);
    assert_true(fd >= 0);
    size_t n = strlen(text);
    assert_int_equal(write(fd, text, n), (ssize_t)n);
    close(fd);
    return tmp_path;
}

static int teardown(void **state)
{
    (void)state;
    if (tmp_path[0])
        unlink(tmp_path);
    tmp_path[0] = '\0';
    clear_env();
    return 0;
}

static struct sb_config cfg; /* large: keep it off the stack */
static char err[512];

static int load(const char *path, int given)
{
    err[0] = '\0';
    return config_load(&cfg, path, given, err, sizeof(err));
}

/* Loads text as an INI file and expects an error that mentions every needle and the
 * file:line prefix. */
static void expect_file_error(const char *text, int line, const char *needle1, const char *needle2)
{
    const char *path = write_ini(text);
    assert_int_equal(load(path, 1), -1);
    char where[128];
    snprintf(where, sizeof(where), "%s:%d", path, line);
    assert_contains(err, where);
    if (needle1)
        assert_contains(err, needle1);
    if (needle2)
        assert_contains(err, needle2);
    assert_null(strchr(err, '\n')); /* one line */
}

static void test_defaults(void **state)
{
    (void)state;
    assert_int_equal(load(NULL, 0), 0);
    assert_string_equal(cfg.server.listen, "127.0.0.1:8080");
    assert_string_equal(cfg.server.host, "127.0.0.1");
    assert_int_equal(cfg.server.port, 8080);
    assert_string_equal(cfg.server.public_url, "http://127.0.0.1:8080");
    assert_int_equal(cfg.server.body_limit, 1048576);
    assert_true(cfg.server.timeout_secs > 0);
    assert_true(cfg.server.ws_frame_limit > 0);
    assert_string_equal(cfg.server.event_lib, "libev");
    assert_string_equal(cfg.database.host, "127.0.0.1");
    assert_int_equal(cfg.database.port, 3306);
    assert_string_equal(cfg.database.socket, "");
    assert_string_equal(cfg.database.user, "switchboard");
    assert_string_equal(cfg.database.name, "switchboard");
    assert_int_equal(cfg.database.pool_size, 8);
    assert_int_equal(cfg.ingest.batch_max, 500);
    assert_int_equal(cfg.ingest.batch_wait_us, 2000);
    assert_string_equal(cfg.log.level, "info");
    assert_string_equal(cfg.smtp.tls, "none");
    assert_int_equal(cfg.smtp.port, 25);
    assert_int_equal(cfg.n_mailboxes, 0);
}

static void test_dev_null_is_empty_file(void **state)
{
    (void)state;
    assert_int_equal(load("/dev/null", 1), 0);
    assert_int_equal(cfg.server.port, 8080);
}

static void test_file_values(void **state)
{
    (void)state;
    const char *path = write_ini("; a comment\n"
                                 "# another comment\n"
                                 "[server]\n"
                                 "listen = 0.0.0.0:9090\n"
                                 "public_url = https://support.example.com/\n"
                                 "body_limit = 2048\n"
                                 "\n"
                                 "[database]\n"
                                 "host = db.internal\n"
                                 "port = 3307\n"
                                 "user = sb\n"
                                 "password = s3cret\n"
                                 "name = sb_prod\n"
                                 "pool_size = 4\n"
                                 "\n"
                                 "[log]\n"
                                 "level = debug\n"
                                 "\n"
                                 "[smtp]\n"
                                 "host = smtp.example.com\n"
                                 "port = 587\n"
                                 "tls = starttls\n"
                                 "from = Support <support@example.com>\n"
                                 "\n"
                                 "[sms]\n"
                                 "api_base = http://127.0.0.1:9000\n"
                                 "account_sid = AC123\n"
                                 "\n"
                                 "[mailbox.Support]\n"
                                 "host = imap.example.com\n"
                                 "user = support@example.com\n"
                                 "password = 密码\n"
                                 "\n"
                                 "[mailbox.sales]\n"
                                 "host = imap2.example.com\n"
                                 "port = 143\n"
                                 "tls = starttls\n"
                                 "folder = Sales\n"
                                 "team = sales\n");
    assert_int_equal(load(path, 1), 0);
    assert_string_equal(cfg.server.listen, "0.0.0.0:9090");
    assert_string_equal(cfg.server.host, "0.0.0.0");
    assert_int_equal(cfg.server.port, 9090);
    /* A trailing slash would double up when paths are appended to it. */
    assert_string_equal(cfg.server.public_url, "https://support.example.com");
    assert_int_equal(cfg.server.body_limit, 2048);
    assert_string_equal(cfg.database.host, "db.internal");
    assert_int_equal(cfg.database.port, 3307);
    assert_string_equal(cfg.database.user, "sb");
    assert_string_equal(cfg.database.password, "s3cret");
    assert_string_equal(cfg.database.name, "sb_prod");
    assert_int_equal(cfg.database.pool_size, 4);
    assert_string_equal(cfg.log.level, "debug");
    assert_string_equal(cfg.smtp.host, "smtp.example.com");
    assert_int_equal(cfg.smtp.port, 587);
    assert_string_equal(cfg.smtp.tls, "starttls");
    assert_string_equal(cfg.smtp.from, "Support <support@example.com>");
    assert_string_equal(cfg.sms.api_base, "http://127.0.0.1:9000");
    assert_string_equal(cfg.sms.account_sid, "AC123");

    assert_int_equal(cfg.n_mailboxes, 2);
    const struct cfg_mailbox *m = &cfg.mailboxes[0];
    assert_string_equal(m->name, "support"); /* names are case-insensitive, kept lower-case */
    assert_string_equal(m->host, "imap.example.com");
    assert_string_equal(m->user, "support@example.com");
    assert_string_equal(m->password, "密码");
    assert_int_equal(m->port, 993);          /* mailbox defaults */
    assert_string_equal(m->tls, "implicit");
    assert_string_equal(m->folder, "INBOX");
    m = &cfg.mailboxes[1];
    assert_string_equal(m->name, "sales");
    assert_int_equal(m->port, 143);
    assert_string_equal(m->tls, "starttls");
    assert_string_equal(m->folder, "Sales");
    assert_string_equal(m->team, "sales");
}

static void test_env_listen(void **state)
{
    (void)state;
    setenv("SWITCHBOARD_SERVER_LISTEN", "127.0.0.1:9999", 1);
    assert_int_equal(load(NULL, 0), 0);
    assert_string_equal(cfg.server.listen, "127.0.0.1:9999");
    assert_int_equal(cfg.server.port, 9999);
    /* The default public URL follows the effective listen address. */
    assert_string_equal(cfg.server.public_url, "http://127.0.0.1:9999");
}

static void test_env_database(void **state)
{
    (void)state;
    setenv("SWITCHBOARD_DATABASE_SOCKET", "/tmp/x.sock", 1);
    setenv("SWITCHBOARD_DATABASE_PORT", "33061", 1);
    setenv("SWITCHBOARD_DATABASE_PASSWORD", "pw", 1);
    setenv("SWITCHBOARD_DATABASE_POOL_SIZE", "16", 1);
    assert_int_equal(load(NULL, 0), 0);
    assert_string_equal(cfg.database.socket, "/tmp/x.sock");
    assert_int_equal(cfg.database.port, 33061);
    assert_string_equal(cfg.database.password, "pw");
    assert_int_equal(cfg.database.pool_size, 16);
}

static void test_env_mailbox_only(void **state)
{
    (void)state;
    setenv("SWITCHBOARD_MAILBOX_DEMO_HOST", "127.0.0.1", 1);
    setenv("SWITCHBOARD_MAILBOX_DEMO_PASSWORD", "hunter2", 1);
    assert_int_equal(load(NULL, 0), 0);
    assert_int_equal(cfg.n_mailboxes, 1);
    assert_string_equal(cfg.mailboxes[0].name, "demo");
    assert_string_equal(cfg.mailboxes[0].host, "127.0.0.1");
    assert_string_equal(cfg.mailboxes[0].password, "hunter2");
    assert_int_equal(cfg.mailboxes[0].port, 993);
}

static void test_env_mailbox_password_overrides_file(void **state)
{
    (void)state;
    const char *path = write_ini("[mailbox.demo]\nhost = imap.local\nuser = demo\npassword = from-file\n");
    setenv("SWITCHBOARD_MAILBOX_DEMO_PASSWORD", "from-env", 1);
    assert_int_equal(load(path, 1), 0);
    assert_int_equal(cfg.n_mailboxes, 1);
    assert_string_equal(cfg.mailboxes[0].name, "demo");
    assert_string_equal(cfg.mailboxes[0].user, "demo");
    assert_string_equal(cfg.mailboxes[0].password, "from-env");
}

static void test_env_mailbox_name_with_underscore(void **state)
{
    (void)state;
    const char *path = write_ini("[mailbox.sales_cn]\nhost = imap.local\n");
    setenv("SWITCHBOARD_MAILBOX_SALES_CN_FOLDER", "Archive", 1);
    assert_int_equal(load(path, 1), 0);
    assert_int_equal(cfg.n_mailboxes, 1);
    assert_string_equal(cfg.mailboxes[0].name, "sales_cn");
    assert_string_equal(cfg.mailboxes[0].folder, "Archive");
}

static void test_env_overrides_file(void **state)
{
    (void)state;
    const char *path = write_ini("[server]\nlisten = 127.0.0.1:9090\n[database]\nname = from_file\nuser = u\n");
    setenv("SWITCHBOARD_SERVER_LISTEN", "127.0.0.1:7070", 1);
    setenv("SWITCHBOARD_DATABASE_NAME", "from_env", 1);
    assert_int_equal(load(path, 1), 0);
    assert_int_equal(cfg.server.port, 7070);
    assert_string_equal(cfg.database.name, "from_env");
    assert_string_equal(cfg.database.user, "u"); /* untouched keys keep the file's value */
}

static void test_env_unknown_ignored(void **state)
{
    (void)state;
    setenv("SWITCHBOARD_BIN", "/usr/bin/true", 1);
    setenv("SWITCHBOARD_SANITIZED", "1", 1);
    setenv("SWITCHBOARD_SERVER_NO_SUCH_KEY", "x", 1);
    setenv("SWITCHBOARD_NOSECTION_KEY", "x", 1);
    assert_int_equal(load(NULL, 0), 0);
}

static void test_env_bad_value_names_variable(void **state)
{
    (void)state;
    setenv("SWITCHBOARD_DATABASE_POOL_SIZE", "abc", 1);
    assert_int_equal(load(NULL, 0), -1);
    assert_contains(err, "SWITCHBOARD_DATABASE_POOL_SIZE");
    assert_contains(err, "pool_size");
    assert_null(strchr(err, '\n'));
}

/* The error stays one line even when the offending value holds a newline (possible only
 * through the environment): start-up prints it as one log line. */
static void test_env_error_with_newline_is_one_line(void **state)
{
    (void)state;
    setenv("SWITCHBOARD_DATABASE_POOL_SIZE", "4\nlevel=error injected", 1);
    assert_int_equal(load(NULL, 0), -1);
    assert_contains(err, "pool_size");
    assert_null(strchr(err, '\n'));
    assert_null(strchr(err, '\r'));
}

static void test_error_unknown_key(void **state)
{
    (void)state;
    expect_file_error("[server]\nlisten = 127.0.0.1:8080\ncolour = blue\n", 3, "colour", "server");
}

static void test_error_unknown_section(void **state)
{
    (void)state;
    expect_file_error("[server]\nlisten = 127.0.0.1:8080\n\n[servre]\nlisten = 127.0.0.1:8081\n", 5, "servre", "listen");
}

static void test_error_key_before_section(void **state)
{
    (void)state;
    expect_file_error("listen = 127.0.0.1:8080\n", 1, "listen", NULL);
}

static void test_error_pool_size_not_number(void **state)
{
    (void)state;
    expect_file_error("[database]\n\npool_size=abc\n", 3, "pool_size", "database");
}

static void test_error_pool_size_out_of_range(void **state)
{
    (void)state;
    expect_file_error("[database]\npool_size=0\n", 2, "pool_size", NULL);
    unlink(tmp_path);
    expect_file_error("[database]\npool_size=100000\n", 2, "pool_size", NULL);
    unlink(tmp_path);
    expect_file_error("[database]\npool_size=99999999999999999999999\n", 2, "pool_size", NULL);
}

static void test_error_listen_without_port(void **state)
{
    (void)state;
    expect_file_error("[server]\nlisten = localhost\n", 2, "listen", NULL);
    unlink(tmp_path);
    expect_file_error("[server]\nlisten = localhost:\n", 2, "listen", NULL);
    unlink(tmp_path);
    expect_file_error("[server]\nlisten = :8080\n", 2, "listen", NULL);
    unlink(tmp_path);
    expect_file_error("[server]\nlisten = localhost:65536\n", 2, "listen", NULL);
    unlink(tmp_path);
    expect_file_error("[server]\nlisten = localhost:http\n", 2, "listen", NULL);
}

static void test_error_bad_log_level(void **state)
{
    (void)state;
    expect_file_error("[log]\nlevel = verbose\n", 2, "level", "verbose");
}

static void test_error_public_url_without_http(void **state)
{
    (void)state;
    expect_file_error("[server]\npublic_url = support.example.com\n", 2, "public_url", NULL);
    unlink(tmp_path);
    expect_file_error("[server]\npublic_url = ftp://support.example.com\n", 2, "public_url", NULL);
}

/* "https://" alone has no host; once the trailing slashes are trimmed it would become
 * "https:", which is no URL at all. */
static void test_error_public_url_without_host(void **state)
{
    (void)state;
    expect_file_error("[server]\npublic_url = https://\n", 2, "public_url", NULL);
    unlink(tmp_path);
    expect_file_error("[server]\npublic_url = http:///\n", 2, "public_url", NULL);
    unlink(tmp_path);
    expect_file_error("[sms]\napi_base = http://\n", 2, "api_base", NULL);
}

static void test_error_mailbox_without_host(void **state)
{
    (void)state;
    const char *path = write_ini("[mailbox.demo]\nuser = demo\n");
    assert_int_equal(load(path, 1), -1);
    assert_contains(err, "mailbox.demo");
    assert_contains(err, "host");
}

static void test_error_syntax(void **state)
{
    (void)state;
    expect_file_error("[server]\nlisten = 127.0.0.1:8080\nthis line has no equals sign\n", 3, NULL, NULL);
}

static void test_error_value_too_long(void **state)
{
    (void)state;
    char big[400];
    memset(big, 'x', 300);
    big[300] = '\0';
    assert_int_equal(load(NULL, 0), 0);
    assert_int_equal(config_set(&cfg, "database", "host", big, err, sizeof(err)), -1);
    assert_contains(err, "host");
}

static void test_error_missing_given_file(void **state)
{
    (void)state;
    assert_int_equal(load("/nonexistent/dir/switchboard.ini", 1), -1);
    assert_contains(err, "/nonexistent/dir/switchboard.ini");
}

static void test_missing_default_file_is_fine(void **state)
{
    (void)state;
    assert_int_equal(load("/nonexistent/dir/switchboard.ini", 0), 0);
    assert_int_equal(cfg.server.port, 8080);
}

static void test_config_set(void **state)
{
    (void)state;
    assert_int_equal(load(NULL, 0), 0);
    assert_int_equal(config_set(&cfg, "ingest", "batch_max", "100", err, sizeof(err)), 0);
    assert_int_equal(cfg.ingest.batch_max, 100);
    assert_int_equal(config_set(&cfg, "ingest", "batch_max", " 100", err, sizeof(err)), -1);
    assert_contains(err, "batch_max");
    assert_int_equal(config_set(&cfg, "ingest", "batch_max", "100 ", err, sizeof(err)), -1);
    assert_int_equal(config_set(&cfg, "ingest", "batch_max", "", err, sizeof(err)), -1);
    assert_int_equal(config_set(&cfg, "ingest", "batch_max", "0x10", err, sizeof(err)), -1);
    assert_int_equal(cfg.ingest.batch_max, 100); /* a rejected value changes nothing */
    assert_int_equal(config_set(&cfg, "server", "listen", "[::1]:8443", err, sizeof(err)), 0);
    assert_int_equal(cfg.server.port, 8443);
    assert_int_equal(config_set(&cfg, "smtp", "tls", "ssl", err, sizeof(err)), -1);
    assert_contains(err, "tls");
    assert_int_equal(config_set(&cfg, "nosuch", "key", "v", err, sizeof(err)), -1);
    assert_contains(err, "key");
    assert_int_equal(config_set(&cfg, "sms", "api_base", "mailto:x", err, sizeof(err)), -1);
    assert_contains(err, "api_base");
    assert_int_equal(config_set(&cfg, "database", "database_name", "x", err, sizeof(err)), -1);
}

static void test_error_too_many_mailboxes(void **state)
{
    (void)state;
    assert_int_equal(load(NULL, 0), 0);
    for (int i = 0; i < CFG_MAX_MAILBOXES; i++) {
        char sec[32];
        snprintf(sec, sizeof(sec), "mailbox.m%d", i);
        assert_int_equal(config_set(&cfg, sec, "host", "h", err, sizeof(err)), 0);
    }
    assert_int_equal(cfg.n_mailboxes, CFG_MAX_MAILBOXES);
    assert_int_equal(config_set(&cfg, "mailbox.one_too_many", "host", "h", err, sizeof(err)), -1);
    assert_int_equal(cfg.n_mailboxes, CFG_MAX_MAILBOXES);
    /* An existing one can still be changed. */
    assert_int_equal(config_set(&cfg, "mailbox.m3", "port", "143", err, sizeof(err)), 0);
    assert_int_equal(cfg.mailboxes[3].port, 143);
}

static void test_error_mailbox_name(void **state)
{
    (void)state;
    assert_int_equal(load(NULL, 0), 0);
    assert_int_equal(config_set(&cfg, "mailbox.", "host", "h", err, sizeof(err)), -1);
    char sec[128] = "mailbox.";
    memset(sec + 8, 'n', 80);
    sec[88] = '\0';
    assert_int_equal(config_set(&cfg, sec, "host", "h", err, sizeof(err)), -1);
    assert_int_equal(cfg.n_mailboxes, 0);
}

/* A value the line-based parser cannot hold must be an error, never silently cut. */
static void test_long_line_not_truncated_silently(void **state)
{
    (void)state;
    char text[600];
    char url[300];
    memset(url, 'a', sizeof(url));
    memcpy(url, "https://", 8);
    url[240] = '\0';
    snprintf(text, sizeof(text), "[server]\npublic_url = %s\n", url);
    const char *path = write_ini(text);
    int rc = load(path, 1);
    if (rc == 0)
        assert_string_equal(cfg.server.public_url, url);
    else
        assert_contains(err, path);
}

/* A small error buffer still gets a NUL-terminated message. */
static void test_small_error_buffer(void **state)
{
    (void)state;
    const char *path = write_ini("[server]\ncolour = blue\n");
    char small[16];
    memset(small, 'Z', sizeof(small));
    assert_int_equal(config_load(&cfg, path, 1, small, sizeof(small)), -1);
    assert_true(memchr(small, '\0', sizeof(small)) != NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_defaults, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dev_null_is_empty_file, setup, teardown),
        cmocka_unit_test_setup_teardown(test_file_values, setup, teardown),
        cmocka_unit_test_setup_teardown(test_env_listen, setup, teardown),
        cmocka_unit_test_setup_teardown(test_env_database, setup, teardown),
        cmocka_unit_test_setup_teardown(test_env_mailbox_only, setup, teardown),
        cmocka_unit_test_setup_teardown(test_env_mailbox_password_overrides_file, setup, teardown),
        cmocka_unit_test_setup_teardown(test_env_mailbox_name_with_underscore, setup, teardown),
        cmocka_unit_test_setup_teardown(test_env_overrides_file, setup, teardown),
        cmocka_unit_test_setup_teardown(test_env_unknown_ignored, setup, teardown),
        cmocka_unit_test_setup_teardown(test_env_bad_value_names_variable, setup, teardown),
        cmocka_unit_test_setup_teardown(test_env_error_with_newline_is_one_line, setup, teardown),
        cmocka_unit_test_setup_teardown(test_error_unknown_key, setup, teardown),
        cmocka_unit_test_setup_teardown(test_error_unknown_section, setup, teardown),
        cmocka_unit_test_setup_teardown(test_error_key_before_section, setup, teardown),
        cmocka_unit_test_setup_teardown(test_error_pool_size_not_number, setup, teardown),
        cmocka_unit_test_setup_teardown(test_error_pool_size_out_of_range, setup, teardown),
        cmocka_unit_test_setup_teardown(test_error_listen_without_port, setup, teardown),
        cmocka_unit_test_setup_teardown(test_error_bad_log_level, setup, teardown),
        cmocka_unit_test_setup_teardown(test_error_public_url_without_http, setup, teardown),
        cmocka_unit_test_setup_teardown(test_error_public_url_without_host, setup, teardown),
        cmocka_unit_test_setup_teardown(test_error_mailbox_without_host, setup, teardown),
        cmocka_unit_test_setup_teardown(test_error_syntax, setup, teardown),
        cmocka_unit_test_setup_teardown(test_error_value_too_long, setup, teardown),
        cmocka_unit_test_setup_teardown(test_error_missing_given_file, setup, teardown),
        cmocka_unit_test_setup_teardown(test_missing_default_file_is_fine, setup, teardown),
        cmocka_unit_test_setup_teardown(test_config_set, setup, teardown),
        cmocka_unit_test_setup_teardown(test_error_too_many_mailboxes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_error_mailbox_name, setup, teardown),
        cmocka_unit_test_setup_teardown(test_long_line_not_truncated_silently, setup, teardown),
        cmocka_unit_test_setup_teardown(test_small_error_buffer, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
