/* email_smtp.h — the e-mail channel's sending side (libesmtp): agents' replies from the
 * outbox as multipart/alternative (text + HTML) mail with Message-ID, In-Reply-To and
 * References for threading, "Re: subject [#ticket]" as an RFC 2047 UTF-8 subject, From
 * the ticket's mailbox address (or [smtp] from).
 *
 * A batch goes out in ONE SMTP session (libesmtp pipelines when the server offers it);
 * every recipient's status is checked — a session that "succeeds" is not enough: 2xx ⇒
 * sent, 4xx ⇒ retry, 5xx ⇒ failed with the server's reply, a reply lost after the data
 * was sent ⇒ ambiguous (never re-sent automatically). Our Message-IDs are recorded in
 * email_threads so that customers' replies thread into their ticket.
 *
 * [smtp] user/password enable SMTP AUTH (PLAIN/LOGIN/CRAM-MD5, libesmtp's SASL plugins);
 * tls = starttls requires STARTTLS.
 *
 * Thread: the outbox worker only. Enabled when [smtp] host is set.
 */
#ifndef SB_EMAIL_SMTP_H
#define SB_EMAIL_SMTP_H
#include "gateway/channel.h"

extern const struct channel_ops email_smtp_channel;

#endif
