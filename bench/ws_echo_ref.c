/* ws_echo_ref.c — the reference for the websocket chat benchmark (bench/ws_chat.js): a
 * minimal libwebsockets echo server on the libev event loop, shaped like lws's
 * minimal-examples/ws-server/minimal-ws-server-echo. Each text message received is queued
 * on its connection (a small lws_ring, the payload with LWS_PRE headroom) and written
 * back only from LWS_CALLBACK_SERVER_WRITEABLE, the way the gateway writes.
 *
 * Like the gateway: the libev loop is ours (a foreign loop, so SIGINT and SIGTERM are our
 * watchers), the fd soft limit is raised to the hard one before the context exists (lws
 * sizes its tables from it), and only 127.0.0.1 is bound. It stops by itself after
 * MAX_SECS (default 600) so it can never outlive a benchmark.
 *
 * Usage: ws_echo_ref PORT [MAX_SECS]; prints "ready" on stdout once listening.
 */
#include <ev.h>
#include <libwebsockets.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#define RING_DEPTH 32

struct msg {
    unsigned char *payload; /* LWS_PRE + len bytes, the data after LWS_PRE */
    size_t len;
    int first, final;
};

struct pss {
    struct lws_ring *ring;
    uint32_t tail;
    int flow_off;
};

static void msg_free(void *p)
{
    struct msg *m = p;
    free(m->payload);
    m->payload = NULL;
}

static int on_echo(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in, size_t len)
{
    struct pss *ps = user;
    switch (reason) {
    case LWS_CALLBACK_ESTABLISHED:
        ps->ring = lws_ring_create(sizeof(struct msg), RING_DEPTH, msg_free);
        ps->tail = 0;
        ps->flow_off = 0;
        return ps->ring ? 0 : -1;
    case LWS_CALLBACK_RECEIVE: {
        struct msg m = {.len = len, .first = lws_is_first_fragment(wsi), .final = lws_is_final_fragment(wsi)};
        size_t free_slots = lws_ring_get_count_free_elements(ps->ring);
        if (!free_slots || !(m.payload = malloc(LWS_PRE + len + 1)))
            return -1; /* flow control below keeps this from happening */
        memcpy(m.payload + LWS_PRE, in, len);
        if (lws_ring_insert(ps->ring, &m, 1) != 1) {
            msg_free(&m);
            return -1;
        }
        if (free_slots < 4 && !ps->flow_off) {
            ps->flow_off = 1;
            lws_rx_flow_control(wsi, 0);
        }
        lws_callback_on_writable(wsi);
        return 0;
    }
    case LWS_CALLBACK_SERVER_WRITEABLE: {
        const struct msg *m = lws_ring_get_element(ps->ring, &ps->tail);
        if (!m)
            return 0;
        int flags = lws_write_ws_flags(LWS_WRITE_TEXT, m->first, m->final);
        if (lws_write(wsi, m->payload + LWS_PRE, m->len, (enum lws_write_protocol)flags) < (int)m->len)
            return -1;
        lws_ring_consume_single_tail(ps->ring, &ps->tail, 1);
        if (ps->flow_off && lws_ring_get_count_free_elements(ps->ring) > RING_DEPTH / 2) {
            ps->flow_off = 0;
            lws_rx_flow_control(wsi, 1);
        }
        if (lws_ring_get_element(ps->ring, &ps->tail))
            lws_callback_on_writable(wsi);
        return 0;
    }
    case LWS_CALLBACK_CLOSED:
        lws_ring_destroy(ps->ring);
        ps->ring = NULL;
        return 0;
    default:
        return lws_callback_http_dummy(wsi, reason, user, in, len);
    }
}

/* a client that names no subprotocol is bound to protocols[0] */
static const struct lws_protocols protocols[] = {
    {"echo", on_echo, sizeof(struct pss), 4096, 0, NULL, 0},
    {NULL, NULL, 0, 0, 0, NULL, 0},
};

static void on_stop(struct ev_loop *loop, ev_signal *w, int revents)
{
    (void)w;
    (void)revents;
    ev_break(loop, EVBREAK_ALL);
}

static void on_lifetime(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)w;
    (void)revents;
    fprintf(stderr, "ws_echo_ref: maximum lifetime reached, stopping\n");
    ev_break(loop, EVBREAK_ALL);
}

/* lws loads libev support as a plugin at context creation: is it mapped into us? */
static int evlib_loaded(void)
{
    FILE *f = fopen("/proc/self/maps", "r");
    char line[512];
    int found = 0;
    while (f && !found && fgets(line, sizeof(line), f))
        found = strstr(line, "libwebsockets-evlib_ev") != NULL;
    if (f)
        fclose(f);
    return found;
}

int main(int argc, char **argv)
{
    if (argc < 2 || argc > 3) {
        fprintf(stderr, "usage: %s PORT [MAX_SECS]\n", argv[0]);
        return 2;
    }
    long port = strtol(argv[1], NULL, 10), max_secs = argc > 2 ? strtol(argv[2], NULL, 10) : 600;
    if (port <= 0 || port > 65535 || max_secs <= 0) {
        fprintf(stderr, "ws_echo_ref: bad PORT or MAX_SECS\n");
        return 2;
    }
    struct rlimit rl; /* before the context: lws sizes its fd tables from the soft limit */
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
            perror("ws_echo_ref: setrlimit");
    }
    signal(SIGPIPE, SIG_IGN);
    lws_set_log_level(LLL_ERR | LLL_WARN, NULL);

    struct ev_loop *loop = ev_default_loop(EVFLAG_AUTO);
    ev_signal sig_int, sig_term;
    ev_timer lifetime;
    ev_signal_init(&sig_int, on_stop, SIGINT);
    ev_signal_init(&sig_term, on_stop, SIGTERM);
    ev_timer_init(&lifetime, on_lifetime, (double)max_secs, 0.);
    ev_signal_start(loop, &sig_int);
    ev_signal_start(loop, &sig_term);
    ev_timer_start(loop, &lifetime);

    struct lws_context_creation_info info;
    memset(&info, 0, sizeof(info));
    void *foreign[1] = {loop};
    info.port = (int)port;
    info.iface = "127.0.0.1";
    info.protocols = protocols;
    info.foreign_loops = foreign;
    info.options = LWS_SERVER_OPTION_LIBEV | LWS_SERVER_OPTION_DISABLE_IPV6;
    info.pt_serv_buf_size = 32768;
    struct lws_context *ctx = lws_create_context(&info);
    if (!ctx) {
        fprintf(stderr, "ws_echo_ref: lws context creation failed (port in use, or the libev plugin, "
                        "package libwebsockets-evlib-ev, is missing)\n");
        return 1;
    }
    if (!evlib_loaded()) {
        fprintf(stderr, "ws_echo_ref: the libev event-library plugin is not loaded: lws would poll\n");
        lws_context_destroy(ctx);
        return 1;
    }
    printf("ready\n");
    fflush(stdout);
    ev_run(loop, 0);
    lws_context_destroy(ctx);
    ev_loop_destroy(loop);
    return 0;
}
