/* fuzz_config.c — arbitrary INI text → config_load (through a temporary file), and
 * arbitrary section/key/value triples → config_set.
 * Invariants: no crash, no overrun; on failure one NUL-terminated line naming the file;
 * on success every value is within its documented bounds and every string field is
 * NUL-terminated inside its array. */
#include "tests/fuzz/fuzz.h"
#include "gateway/config.h"
#include <string.h>
#include <strings.h>
#include <unistd.h>

extern char **environ;

static char path[64];
static int fd = -1;

static void remove_temp(void)
{
    if (path[0])
        unlink(path);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    /* The environment must not leak into what is being fuzzed. */
    for (int again = 1; again;) {
        again = 0;
        for (char **e = environ; *e; e++) {
            if (strncmp(*e, "SWITCHBOARD_", 12) == 0) {
                char name[256];
                size_t n = strcspn(*e, "=");
                if (n >= sizeof(name))
                    continue;
                memcpy(name, *e, n);
                name[n] = '\0';
                unsetenv(name);
                again = 1;
                break;
            }
        }
    }
    snprintf(path, sizeof(path), "/tmp/sbfuzz_cfg_XXXXXX");
    fd = mkstemp(path);
    if (fd < 0) {
        perror("mkstemp");
        abort();
    }
    atexit(remove_temp);
    return 0;
}

#define TERMINATED(field) FUZZ_CHECK(memchr((field), '\0', sizeof(field)) != NULL)

static void check_config(const struct sb_config *c)
{
    TERMINATED(c->server.listen);
    TERMINATED(c->server.host);
    TERMINATED(c->server.public_url);
    TERMINATED(c->server.www_dir);
    TERMINATED(c->server.event_lib);
    TERMINATED(c->database.host);
    TERMINATED(c->database.socket);
    TERMINATED(c->database.user);
    TERMINATED(c->database.password);
    TERMINATED(c->database.name);
    TERMINATED(c->log.level);
    TERMINATED(c->smtp.host);
    TERMINATED(c->smtp.tls);
    TERMINATED(c->smtp.from);
    TERMINATED(c->sms.api_base);
    TERMINATED(c->sms.auth_token);
    FUZZ_CHECK(c->server.port >= 1 && c->server.port <= 65535);
    FUZZ_CHECK(c->database.port >= 1 && c->database.port <= 65535);
    FUZZ_CHECK(c->database.pool_size >= 1 && c->database.pool_size <= 256);
    FUZZ_CHECK(c->server.body_limit >= 1024);
    FUZZ_CHECK(c->ingest.batch_max >= 1);
    FUZZ_CHECK(c->ingest.batch_wait_us >= 0);
    FUZZ_CHECK(strcmp(c->log.level, "debug") == 0 || strcmp(c->log.level, "info") == 0 ||
               strcmp(c->log.level, "warn") == 0 || strcmp(c->log.level, "error") == 0);
    FUZZ_CHECK(strcmp(c->smtp.tls, "none") == 0 || strcmp(c->smtp.tls, "starttls") == 0 ||
               strcmp(c->smtp.tls, "implicit") == 0);
    FUZZ_CHECK(c->sms.api_base[0] == '\0' || strncmp(c->sms.api_base, "http://", 7) == 0 ||
               strncmp(c->sms.api_base, "https://", 8) == 0);
    FUZZ_CHECK(c->n_mailboxes <= CFG_MAX_MAILBOXES);
    for (size_t i = 0; i < c->n_mailboxes; i++) {
        const struct cfg_mailbox *m = &c->mailboxes[i];
        TERMINATED(m->name);
        TERMINATED(m->host);
        TERMINATED(m->password);
        TERMINATED(m->folder);
        FUZZ_CHECK(m->name[0] != '\0');
        FUZZ_CHECK(m->port >= 1 && m->port <= 65535);
        for (size_t j = 0; j < i; j++)
            FUZZ_CHECK(strcasecmp(m->name, c->mailboxes[j].name) != 0);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct sb_config cfg;
    char err[512];
    if (size > 16384)
        return 0;

    /* 1. the bytes as a config file */
    if (ftruncate(fd, 0) != 0 || pwrite(fd, data, size, 0) != (ssize_t)size)
        abort();
    memset(err, 'Z', sizeof(err));
    if (config_load(&cfg, path, 1, err, sizeof(err)) == 0) {
        check_config(&cfg);
        FUZZ_CHECK(strncmp(cfg.server.public_url, "http://", 7) == 0 ||
                   strncmp(cfg.server.public_url, "https://", 8) == 0);
        size_t n = strlen(cfg.server.public_url);
        FUZZ_CHECK(n > 0 && cfg.server.public_url[n - 1] != '/');
        for (size_t i = 0; i < cfg.n_mailboxes; i++)
            FUZZ_CHECK(cfg.mailboxes[i].host[0] != '\0');
    } else {
        FUZZ_CHECK(memchr(err, '\0', sizeof(err)) != NULL);
        FUZZ_CHECK(err[0] != '\0');
        FUZZ_CHECK(strchr(err, '\n') == NULL);
    }

    /* 2. the bytes as "section\0key\0value" straight into config_set */
    const char *parts[3] = {"", "", ""};
    char *copy = malloc(size + 1);
    if (!copy)
        return 0;
    memcpy(copy, data, size);
    copy[size] = '\0';
    size_t k = 0;
    parts[k++] = copy;
    for (size_t i = 0; i < size && k < 3; i++)
        if (copy[i] == '\0')
            parts[k++] = copy + i + 1;
    if (config_load(&cfg, NULL, 0, err, sizeof(err)) != 0)
        abort();
    memset(err, 'Z', sizeof(err));
    if (config_set(&cfg, parts[0], parts[1], parts[2], err, sizeof(err)) == 0)
        check_config(&cfg);
    else
        FUZZ_CHECK(memchr(err, '\0', sizeof(err)) != NULL && err[0] != '\0');
    free(copy);
    return 0;
}
