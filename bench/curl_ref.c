/* curl_ref.c — the reference for the SMS sending benchmark: a bare libcurl multi loop
 * that POSTs N Twilio-shaped form requests to the provider fake, `inflight` at a time
 * over kept-alive connections, and prints the requests per second it managed. The
 * gateway's sender (claim from the outbox, send, record the outcome) is measured against
 * this on the same machine in the same run (bench/run.sh).
 *
 * Usage: curl_ref URL USER:PASSWORD N INFLIGHT [STATUS_CALLBACK_URL]
 */
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static size_t discard(char *p, size_t s, size_t n, void *u)
{
    (void)p;
    (void)u;
    return s * n;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static CURL *make(const char *url, const char *userpwd, const char *body)
{
    CURL *e = curl_easy_init();
    curl_easy_setopt(e, CURLOPT_URL, url);
    curl_easy_setopt(e, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(e, CURLOPT_USERPWD, userpwd);
    curl_easy_setopt(e, CURLOPT_HTTPAUTH, CURLAUTH_BASIC);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, discard);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_TIMEOUT, 30L);
    return e;
}

int main(int argc, char **argv)
{
    if (argc != 5 && argc != 6) {
        fprintf(stderr, "usage: %s URL USER:PASSWORD N INFLIGHT [STATUS_CALLBACK_URL]\n", argv[0]);
        return 2;
    }
    const char *url = argv[1], *userpwd = argv[2];
    long n = strtol(argv[3], NULL, 10), inflight = strtol(argv[4], NULL, 10);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    CURLM *m = curl_multi_init();
    curl_multi_setopt(m, CURLMOPT_MAX_TOTAL_CONNECTIONS, inflight);
    char body[1024];
    char *cb = argc == 6 ? curl_easy_escape(NULL, argv[5], 0) : NULL;
    snprintf(body, sizeof(body), "To=%%2B8613800138000&From=%%2B8610690000&Body=%%E6%%82%%A8%%E5%%A5%%BD+bench%s%s",
             cb ? "&StatusCallback=" : "", cb ? cb : "");
    curl_free(cb);
    long started = 0, done = 0, ok = 0;
    double t0 = now_s();
    while (done < n) {
        while (started < n && started - done < inflight) {
            curl_multi_add_handle(m, make(url, userpwd, body));
            started++;
        }
        int running;
        curl_multi_perform(m, &running);
        CURLMsg *msg;
        int left;
        while ((msg = curl_multi_info_read(m, &left))) {
            if (msg->msg != CURLMSG_DONE)
                continue;
            long code = 0;
            curl_easy_getinfo(msg->easy_handle, CURLINFO_RESPONSE_CODE, &code);
            ok += msg->data.result == CURLE_OK && code == 201;
            curl_multi_remove_handle(m, msg->easy_handle);
            curl_easy_cleanup(msg->easy_handle);
            done++;
        }
        if (done < n)
            curl_multi_poll(m, NULL, 0, 100, NULL);
    }
    double dt = now_s() - t0;
    printf("%ld %ld %.3f %.1f\n", n, ok, dt, (double)n / dt);
    curl_multi_cleanup(m);
    curl_global_cleanup();
    return ok == n ? 0 : 1;
}
