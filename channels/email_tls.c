/* email_tls.c — see email_tls.h. */
#include "email_tls.h"
#include "gateway/lib/text.h"
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netdb.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

/* The first certificate problem of the handshake running on this thread, for the error
 * line (OpenSSL itself only says "certificate verify failed"). */
static __thread char verify_problem[160];

static int on_verify(int ok, X509_STORE_CTX *st)
{
    if (!ok && !verify_problem[0])
        snprintf(verify_problem, sizeof(verify_problem), "%s",
                 X509_verify_cert_error_string(X509_STORE_CTX_get_error(st)));
    return ok;
}

int email_tls_check(const struct sb_config *cfg, char *err, size_t errsz)
{
    SSL_CTX *ctx = email_tls_ctx(cfg, 0, err, errsz);
    if (!ctx)
        return -1;
    SSL_CTX_free(ctx);
    return 0;
}

SSL_CTX *email_tls_ctx(const struct sb_config *cfg, int max_tls12, char *err, size_t errsz)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    if (!ctx) {
        snprintf(err, errsz, "TLS: cannot create a context");
        return NULL;
    }
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    if (max_tls12)
        SSL_CTX_set_max_proto_version(ctx, TLS1_2_VERSION);
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, on_verify);
    if (SSL_CTX_set_default_verify_paths(ctx) != 1) {
        snprintf(err, errsz, "TLS: cannot load the system trust store");
        goto fail;
    }
    if (cfg->tls.ca_file[0] && SSL_CTX_load_verify_locations(ctx, cfg->tls.ca_file, NULL) != 1) {
        snprintf(err, errsz, "[tls] ca_file: cannot load \"%s\" as PEM certificates", cfg->tls.ca_file);
        goto fail;
    }
    ERR_clear_error();
    return ctx;
fail:
    ERR_clear_error();
    SSL_CTX_free(ctx);
    return NULL;
}

/* ---- an OpenSSL stream under libetpan (struct mailstream_low_driver) ---- */

struct tls_stream {
    SSL_CTX *ctx;
    SSL *ssl;
    int fd;
};

static ssize_t ts_read(mailstream_low *s, void *buf, size_t n)
{
    struct tls_stream *t = s->data;
    int r = SSL_read(t->ssl, buf, n > INT_MAX ? INT_MAX : (int)n);
    if (r > 0)
        return r;
    int e = SSL_get_error(t->ssl, r);
    ERR_clear_error();
    return e == SSL_ERROR_ZERO_RETURN ? 0 : -1; /* a timeout (SO_RCVTIMEO) is an error too */
}

static ssize_t ts_write(mailstream_low *s, const void *buf, size_t n)
{
    struct tls_stream *t = s->data;
    int r = SSL_write(t->ssl, buf, n > INT_MAX ? INT_MAX : (int)n);
    if (r > 0)
        return r;
    ERR_clear_error();
    return -1;
}

static int ts_close(mailstream_low *s)
{
    struct tls_stream *t = s->data;
    if (t->fd >= 0) {
        (void)SSL_shutdown(t->ssl); /* close_notify, without waiting for the answer */
        ERR_clear_error();
        close(t->fd);
        t->fd = -1;
    }
    return 0;
}

static int ts_get_fd(mailstream_low *s)
{
    return ((struct tls_stream *)s->data)->fd;
}

static void ts_free(mailstream_low *s)
{
    struct tls_stream *t = s->data;
    if (t) {
        SSL_free(t->ssl);
        SSL_CTX_free(t->ctx);
        free(t);
    }
    free(s);
}

static mailstream_low_driver tls_driver = {
    .mailstream_read = ts_read,
    .mailstream_write = ts_write,
    .mailstream_close = ts_close,
    .mailstream_get_fd = ts_get_fd,
    .mailstream_free = ts_free,
};

static void set_timeouts(int fd, int secs)
{
    struct timeval tv = {.tv_sec = secs > 0 ? secs : 60};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
}

/* One address after another, each connect bounded by timeout_secs. */
static int tcp_connect(const char *host, uint16_t port, int timeout_secs, char *err, size_t errsz)
{
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_family = AF_UNSPEC}, *res = NULL;
    char ps[8];
    snprintf(ps, sizeof(ps), "%u", port);
    int g = getaddrinfo(host, ps, &hints, &res);
    if (g) {
        snprintf(err, errsz, "connect: cannot resolve %s: %s", host, gai_strerror(g));
        return -1;
    }
    int fd = -1, why = ECONNREFUSED;
    for (struct addrinfo *a = res; a && fd < 0; a = a->ai_next) {
        fd = socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, a->ai_protocol);
        if (fd < 0)
            continue;
        int r = connect(fd, a->ai_addr, a->ai_addrlen);
        if (r < 0 && errno == EINPROGRESS) {
            struct pollfd p = {.fd = fd, .events = POLLOUT};
            socklen_t len = sizeof(why);
            r = poll(&p, 1, timeout_secs * 1000) == 1 && getsockopt(fd, SOL_SOCKET, SO_ERROR, &why, &len) == 0 && !why
                    ? 0 : -1;
            if (r < 0 && !why)
                why = ETIMEDOUT;
        } else if (r < 0) {
            why = errno;
        }
        if (r < 0) {
            close(fd);
            fd = -1;
        }
    }
    freeaddrinfo(res);
    if (fd < 0) {
        snprintf(err, errsz, "connect: %s", strerror(why));
        return -1;
    }
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
    set_timeouts(fd, timeout_secs);
    return fd;
}

/* The verified handshake on fd; a low stream owning fd, or NULL (fd then still the caller's). */
static mailstream_low *handshake(const struct sb_config *cfg, int fd, const char *host, char *err, size_t errsz)
{
    struct tls_stream *t = calloc(1, sizeof(*t));
    if (!t) {
        snprintf(err, errsz, "TLS: out of memory");
        return NULL;
    }
    t->fd = fd;
    if (!(t->ctx = email_tls_ctx(cfg, 0, err, errsz)))
        goto fail;
    if (!(t->ssl = SSL_new(t->ctx)) || SSL_set_fd(t->ssl, fd) != 1) {
        snprintf(err, errsz, "TLS: cannot create a session");
        goto fail;
    }
    unsigned char ip[16];
    int is_ip = inet_pton(AF_INET, host, ip) == 1 || inet_pton(AF_INET6, host, ip) == 1;
    if (is_ip ? X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(t->ssl), host) != 1
              : SSL_set_tlsext_host_name(t->ssl, host) != 1 || SSL_set1_host(t->ssl, host) != 1) {
        snprintf(err, errsz, "TLS: cannot check the name %s", host);
        goto fail;
    }
    verify_problem[0] = '\0';
    if (SSL_connect(t->ssl) != 1) {
        long v = SSL_get_verify_result(t->ssl);
        if (v != X509_V_OK)
            snprintf(err, errsz, "TLS: certificate of %s not accepted: %s", host,
                     verify_problem[0] ? verify_problem : X509_verify_cert_error_string(v));
        else
            snprintf(err, errsz, "TLS: handshake with %s failed: %s", host,
                     ERR_peek_error() ? ERR_reason_error_string(ERR_peek_error()) : "connection closed");
        goto fail;
    }
    mailstream_low *low = mailstream_low_new(t, &tls_driver);
    if (!low) {
        snprintf(err, errsz, "TLS: out of memory");
        goto fail;
    }
    ERR_clear_error();
    return low;
fail:
    ERR_clear_error();
    SSL_free(t->ssl);
    SSL_CTX_free(t->ctx);
    free(t);
    return NULL;
}

int email_tls_imap_connect(mailimap *imap, const struct sb_config *cfg, const char *host, uint16_t port,
                           int timeout_secs, char *err, size_t errsz)
{
    int fd = tcp_connect(host, port, timeout_secs, err, errsz);
    if (fd < 0)
        return -1;
    mailstream_low *low = handshake(cfg, fd, host, err, errsz);
    if (!low) {
        close(fd);
        return -1;
    }
    mailstream *s = mailstream_new(low, 8192);
    if (!s) {
        mailstream_low_close(low);
        mailstream_low_free(low);
        snprintf(err, errsz, "TLS: out of memory");
        return -1;
    }
    int r = mailimap_connect(imap, s); /* owns s from here, even on failure */
    if (r != MAILIMAP_NO_ERROR && r != MAILIMAP_NO_ERROR_AUTHENTICATED && r != MAILIMAP_NO_ERROR_NON_AUTHENTICATED) {
        snprintf(err, errsz, "no IMAP greeting from %s:%u over TLS (libetpan error %d)", host, port, r);
        return -1;
    }
    return 0;
}

int email_tls_imap_starttls(mailimap *imap, const struct sb_config *cfg, const char *host, int timeout_secs,
                            char *err, size_t errsz)
{
    int r = mailimap_starttls(imap);
    if (r != MAILIMAP_NO_ERROR) {
        snprintf(err, errsz, "STARTTLS refused by %s (libetpan error %d)", host, r);
        return -1;
    }
    mailstream_low *plain = mailstream_get_low(imap->imap_stream);
    int fd = mailstream_low_get_fd(plain);
    if (fd < 0) {
        snprintf(err, errsz, "STARTTLS: the connection is gone");
        return -1;
    }
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK); /* libetpan's plain sockets do not block */
    set_timeouts(fd, timeout_secs);
    mailstream_low *low = handshake(cfg, fd, host, err, errsz);
    if (!low)
        return -1; /* the plain stream still owns fd; the session is dropped by the caller */
    mailstream_low_free(plain); /* frees the plain layer, keeps fd (now ours) */
    mailstream_set_low(imap->imap_stream, low);
    return 0;
}

int email_tls_pending(mailimap *imap)
{
    if (!imap || !imap->imap_stream)
        return 0;
    mailstream_low *low = mailstream_get_low(imap->imap_stream);
    if (!low || low->driver != &tls_driver)
        return 0;
    return SSL_pending(((struct tls_stream *)low->data)->ssl) > 0;
}
