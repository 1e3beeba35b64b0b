-- 003_mailboxes: support mailboxes of the e-mail channel (IMAP in, SMTP out).
-- The IMAP secret is write-only through the API. uidvalidity/last_uid are the fetcher's
-- bookkeeping: a changed UIDVALIDITY means a resync (messages are deduplicated by
-- Message-ID, so nothing is stored twice).
CREATE TABLE mailboxes (
  id              BIGINT UNSIGNED AUTO_INCREMENT PRIMARY KEY,
  name            VARCHAR(64) NOT NULL,
  address         VARCHAR(254) NOT NULL,
  imap_host       VARCHAR(255) NOT NULL,
  imap_port       INT UNSIGNED NOT NULL DEFAULT 993,
  imap_tls        ENUM('none','starttls','implicit') NOT NULL DEFAULT 'implicit',
  imap_user       VARCHAR(255) NOT NULL,
  imap_secret     VARCHAR(1024) NOT NULL DEFAULT '',
  folder          VARCHAR(255) NOT NULL DEFAULT 'INBOX',
  team_id         BIGINT UNSIGNED NULL,
  default_skills  LONGTEXT NOT NULL DEFAULT '[]' CHECK (JSON_VALID(default_skills)),
  enabled         TINYINT(1) NOT NULL DEFAULT 1,
  source          ENUM('config','api') NOT NULL DEFAULT 'api',
  uidvalidity     BIGINT UNSIGNED NULL,
  last_uid        BIGINT UNSIGNED NOT NULL DEFAULT 0,
  last_sync_at    DATETIME(3) NULL,
  last_error      VARCHAR(1000) NULL,
  created_at      DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
  updated_at      DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3) ON UPDATE CURRENT_TIMESTAMP(3),
  UNIQUE KEY uq_mailboxes_name (name),
  KEY ix_mailboxes_address (address),
  CONSTRAINT fk_mailboxes_team FOREIGN KEY (team_id) REFERENCES teams(id) ON DELETE SET NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_uca1400_as_ci;

-- Message-IDs we stored or sent, for threading replies into their ticket.
CREATE TABLE email_threads (
  message_id   VARCHAR(255) NOT NULL PRIMARY KEY,
  ticket_id    BIGINT UNSIGNED NOT NULL,
  mailbox_id   BIGINT UNSIGNED NULL,
  created_at   DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
  KEY ix_email_threads_ticket (ticket_id),
  CONSTRAINT fk_email_threads_ticket FOREIGN KEY (ticket_id) REFERENCES tickets(id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

ALTER TABLE tickets ADD CONSTRAINT fk_tickets_mailbox FOREIGN KEY (mailbox_id) REFERENCES mailboxes(id) ON DELETE SET NULL;
