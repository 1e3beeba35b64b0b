/* http_post_load.c — the load generator of the HTTP ingest benchmark (bench/sms_ingest.js).
 *
 *   http_post_load URL CLIENTS MAX_SECS FILE
 *
 * POSTs every request of FILE to URL once, from CLIENTS closed-loop clients over kept-alive
 * connections (libcurl multi: a client sends its next request as soon as the previous one
 * is answered), and stops when every request is answered or MAX_SECS have passed. The
 * requests are built (and signed) by the caller before the timed window, so what is timed
 * is the server: a Node HTTP client doing the same took ~40 % of one of this machine's two
 * cores at 2,000 requests/s, CPU the server under test then did not have (bench/RESULTS.md).
 *
 * FILE holds the requests one after another, each as
 *   <number of headers>\n<header line>\n...<body length>\n<body bytes>
 *
 * Prints one JSON object on stdout:
 *   {"ok": answered 200, "failed": the rest, "failures": {"503": n, "error: …": n},
 *    "secs": first send to last answer, "unsent": n, "cpu_secs": this process's CPU,
 *    "per_sec": [200s in each second], "lat_ms": [each 200's latency]}
 * Exit 0 when it ran (whatever the answers), 2 on bad usage or an unreadable FILE.
 */
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/resource.h>

struct request {
    struct curl_slist *headers;
    char *body;
    long len;
};

struct client {
    CURL *easy;
    double started;
};

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static size_t discard(char *p, size_t s, size_t n, void *u)
{
    (void)p;
    (void)u;
    return s * n;
}

/* Reads FILE into reqs; returns how many, or -1 with a message on stderr. */
static long load_requests(const char *path, struct request **out)
{
    FILE *f = fopen(path, "rb");
    long n = 0, cap = 0;
    struct request *reqs = NULL;
    char line[4096];
    if (!f) {
        perror(path);
        return -1;
    }
    while (fgets(line, sizeof(line), f)) {
        if (n == cap) {
            cap = cap ? cap * 2 : 1024;
            struct request *grown = realloc(reqs, (size_t)cap * sizeof(*reqs));
            if (!grown)
                goto bad;
            reqs = grown;
        }
        struct request *r = &reqs[n];
        memset(r, 0, sizeof(*r));
        long nh = strtol(line, NULL, 10);
        for (long i = 0; i < nh; i++) {
            if (!fgets(line, sizeof(line), f))
                goto bad;
            line[strcspn(line, "\r\n")] = '\0';
            r->headers = curl_slist_append(r->headers, line);
        }
        r->headers = curl_slist_append(r->headers, "Expect:"); /* no 100-continue round trip */
        if (!fgets(line, sizeof(line), f))
            goto bad;
        r->len = strtol(line, NULL, 10);
        if (r->len < 0 || !(r->body = malloc((size_t)r->len + 1)) || fread(r->body, 1, (size_t)r->len, f) != (size_t)r->len)
            goto bad;
        n++;
    }
    fclose(f);
    *out = reqs;
    return n;
bad:
    fprintf(stderr, "http_post_load: %s: malformed request %ld\n", path, n + 1);
    fclose(f);
    return -1;
}

/* failures by kind, a handful of kinds at most */
struct failure {
    char kind[96];
    long n;
};
static struct failure failures[32];
static size_t nfailures;

static void count_failure(const char *kind)
{
    size_t i = 0;
    while (i < nfailures && strcmp(failures[i].kind, kind) != 0)
        i++;
    if (i == nfailures && nfailures < sizeof(failures) / sizeof(failures[0]))
        snprintf(failures[nfailures++].kind, sizeof(failures[0].kind), "%s", kind);
    if (i < nfailures)
        failures[i].n++;
}

static void start(CURLM *m, struct client *c, const char *url, const struct request *r)
{
    curl_easy_setopt(c->easy, CURLOPT_URL, url);
    curl_easy_setopt(c->easy, CURLOPT_HTTPHEADER, r->headers);
    curl_easy_setopt(c->easy, CURLOPT_POSTFIELDS, r->body);
    curl_easy_setopt(c->easy, CURLOPT_POSTFIELDSIZE, r->len);
    curl_easy_setopt(c->easy, CURLOPT_PRIVATE, c);
    c->started = now_s();
    curl_multi_add_handle(m, c->easy);
}

int main(int argc, char **argv)
{
    if (argc != 5) {
        fprintf(stderr, "usage: %s URL CLIENTS MAX_SECS FILE\n", argv[0]);
        return 2;
    }
    const char *url = argv[1];
    long nclients = strtol(argv[2], NULL, 10);
    double max_secs = strtod(argv[3], NULL);
    struct request *reqs = NULL;
    long n = load_requests(argv[4], &reqs);
    if (n < 0 || nclients < 1 || nclients > 4096 || max_secs <= 0) {
        if (n >= 0)
            fprintf(stderr, "http_post_load: CLIENTS 1..4096, MAX_SECS positive\n");
        return 2;
    }
    curl_global_init(CURL_GLOBAL_DEFAULT);
    CURLM *m = curl_multi_init();
    curl_multi_setopt(m, CURLMOPT_MAX_TOTAL_CONNECTIONS, nclients);
    curl_multi_setopt(m, CURLMOPT_MAX_HOST_CONNECTIONS, nclients);
    struct client *clients = calloc((size_t)nclients, sizeof(*clients));
    double *lat = malloc(((size_t)n + 1) * sizeof(*lat));
    long *per_sec = calloc((size_t)max_secs + 2, sizeof(*per_sec));
    if (!clients || !lat || !per_sec)
        return 2;
    for (long i = 0; i < nclients; i++) {
        clients[i].easy = curl_easy_init();
        curl_easy_setopt(clients[i].easy, CURLOPT_WRITEFUNCTION, discard);
        curl_easy_setopt(clients[i].easy, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(clients[i].easy, CURLOPT_TIMEOUT_MS, 30000L);
    }
    long next = 0, ok = 0, failed = 0, inflight = 0;
    double t0 = now_s(), deadline = t0 + max_secs, t_last = t0;
    for (long i = 0; i < nclients && next < n; i++, inflight++)
        start(m, &clients[i], url, &reqs[next++]);
    while (inflight > 0) {
        int running, left;
        curl_multi_perform(m, &running);
        CURLMsg *msg;
        while ((msg = curl_multi_info_read(m, &left))) {
            if (msg->msg != CURLMSG_DONE)
                continue;
            struct client *c = NULL;
            long code = 0;
            char kind[96];
            curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&c);
            curl_easy_getinfo(msg->easy_handle, CURLINFO_RESPONSE_CODE, &code);
            CURLcode res = msg->data.result;
            curl_multi_remove_handle(m, msg->easy_handle);
            t_last = now_s();
            inflight--;
            if (res == CURLE_OK && code == 200) {
                lat[ok++] = (t_last - c->started) * 1000.0;
                per_sec[(long)(t_last - t0) <= (long)max_secs ? (long)(t_last - t0) : (long)max_secs]++;
            } else {
                failed++;
                if (res != CURLE_OK)
                    snprintf(kind, sizeof(kind), "error: %s", curl_easy_strerror(res));
                else
                    snprintf(kind, sizeof(kind), "%ld", code);
                count_failure(kind);
            }
            if (next < n && t_last < deadline) {
                start(m, c, url, &reqs[next++]);
                inflight++;
            }
        }
        if (inflight > 0)
            curl_multi_poll(m, NULL, 0, 100, NULL);
    }
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    double cpu = (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 + (double)ru.ru_stime.tv_sec +
                 (double)ru.ru_stime.tv_usec / 1e6;
    printf("{\"ok\":%ld,\"failed\":%ld,\"failures\":{", ok, failed);
    for (size_t i = 0; i < nfailures; i++) /* kinds are status codes and curl's own messages: no quotes in them */
        printf("%s\"%s\":%ld", i ? "," : "", failures[i].kind, failures[i].n);
    printf("},\"secs\":%.6f,\"unsent\":%ld,\"cpu_secs\":%.3f,\"per_sec\":[", t_last - t0, n - next, cpu);
    long last_sec = (long)(t_last - t0) < (long)max_secs ? (long)(t_last - t0) : (long)max_secs;
    for (long i = 0; i <= last_sec; i++)
        printf("%s%ld", i ? "," : "", per_sec[i]);
    printf("],\"lat_ms\":[");
    for (long i = 0; i < ok; i++)
        printf("%s%.3f", i ? "," : "", lat[i]);
    printf("]}\n");
    for (long i = 0; i < nclients; i++)
        curl_easy_cleanup(clients[i].easy);
    curl_multi_cleanup(m);
    curl_global_cleanup();
    for (long i = 0; i < n; i++) {
        curl_slist_free_all(reqs[i].headers);
        free(reqs[i].body);
    }
    free(reqs);
    free(clients);
    free(lat);
    free(per_sec);
    return 0;
}
