/* email_tls.h — verified TLS for the e-mail channel.
 *
 * Every outbound TLS connection of the e-mail channel checks the server's certificate
 * chain against the system trust store plus the PEM bundle in [tls] ca_file, and the
 * certificate's names against the host we connected to; there is no switch to turn this
 * off (a corporate CA goes into ca_file). Two users:
 *   - libesmtp (SMTP STARTTLS) takes an SSL_CTX from email_tls_ctx(); libesmtp then checks
 *     the verify result and the host name itself;
 *   - libetpan's own TLS layer (GnuTLS on Debian) checks no certificate at all, so IMAP
 *     TLS runs through an OpenSSL stream of ours under libetpan's mailstream: implicit TLS
 *     (email_tls_imap_connect) and STARTTLS (email_tls_imap_starttls).
 *
 * Owns: nothing global; each SSL_CTX/stream belongs to its caller (a stream is freed
 * with its mailimap session). Thread: any; a session is used by one thread at a time.
 * Errors: functions return 0 or -1 with one line for the admin in err ("certificate
 * verify failed: self-signed certificate", "connect: Connection refused", ...).
 * TLS 1.2 is the minimum; libesmtp contexts are capped at 1.2 (NOTES.md: its STARTTLS
 * was flaky with 1.3).
 */
#ifndef SB_EMAIL_TLS_H
#define SB_EMAIL_TLS_H
#include <libetpan/libetpan.h>
#include <stddef.h>
#include <stdint.h>
#include <openssl/ssl.h>
#include "gateway/config.h"

/* Start-up check: [tls] ca_file, when set, must be a readable PEM bundle. */
int email_tls_check(const struct sb_config *cfg, char *err, size_t errsz);

/* A client context that verifies peers (trust as above); NULL with err on failure. */
SSL_CTX *email_tls_ctx(const struct sb_config *cfg, int max_tls12, char *err, size_t errsz);

/* TCP connect (bounded by timeout_secs), TLS handshake with SNI and host name check,
 * then mailimap_connect over it. 0 once the greeting is read. */
int email_tls_imap_connect(mailimap *imap, const struct sb_config *cfg, const char *host, uint16_t port,
                           int timeout_secs, char *err, size_t errsz);

/* STARTTLS on a connected plain session, then the same verified handshake. */
int email_tls_imap_starttls(mailimap *imap, const struct sb_config *cfg, const char *host, int timeout_secs,
                            char *err, size_t errsz);

/* 1 when our TLS stream holds decrypted bytes not yet read (polling the socket alone
 * would miss them), else 0. */
int email_tls_pending(mailimap *imap);

#endif
