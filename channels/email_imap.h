/* email_imap.h — the e-mail channel's receiving side (libetpan): one thread per enabled
 * mailbox, so a slow or broken mailbox never delays the others.
 *
 * Each thread: connect (none / STARTTLS / implicit TLS), LOGIN, SELECT the folder;
 * a UIDVALIDITY different from the one stored resets last_uid (a resync: messages are
 * stored once by Message-ID, so nothing is duplicated); `UID FETCH last+1:*` (UID
 * RFC822.SIZE) — the server answers with the last message even when nothing is newer,
 * so UIDs ≤ last are dropped — then BODY.PEEK[] of each (not marking it read); a message
 * over 25 MiB becomes a stub with a warning instead of blocking the mailbox. Parsed by
 * email_mime, stored through the ingest writer (threading there); only after its COMMIT
 * is the message flagged \Seen and last_uid advanced. Then IDLE (or a 5 s poll without
 * IDLE) until something arrives. Errors reconnect with backoff (1 s … 60 s) and are shown
 * in mailboxes.last_error.
 *
 * Owns: the fetcher threads and their IMAP sessions. Thread: start/stop from main.
 * Mailboxes added or changed over REST are picked up at the next start.
 */
#ifndef SB_EMAIL_IMAP_H
#define SB_EMAIL_IMAP_H
#include "gateway/config.h"

int email_imap_start(const struct sb_config *cfg);
void email_imap_stop(void);

#endif
