-- 004_email_details: what an e-mail carries beyond its text (issue 5).
-- Attachment content is stored once per content hash, in chunks of at most 512 KiB, so a
-- 25 MiB attachment never needs a max_allowed_packet above the 16 MiB default and two
-- mails carrying the same file share its bytes. attachments.storage = 'db' marks a row
-- whose content is here; NULL means metadata only (a size-limit stub).
CREATE TABLE attachment_chunks (
  sha256  CHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  seq     INT UNSIGNED NOT NULL,
  data    MEDIUMBLOB NOT NULL,
  PRIMARY KEY (sha256, seq)
) ENGINE=InnoDB;

-- The text with quoted history collapsed away, for display; NULL when it equals body_text.
ALTER TABLE messages ADD COLUMN body_visible MEDIUMTEXT NULL AFTER body_html;

-- Everyone an e-mail ticket involves besides our own mailboxes: the senders, and the
-- To/Cc addresses of inbound mail. A participant may thread with a "[#id]" subject token
-- and is copied (Cc) on agent replies. The first role seen is kept.
CREATE TABLE ticket_participants (
  ticket_id   BIGINT UNSIGNED NOT NULL,
  address     VARCHAR(254) NOT NULL,
  role        ENUM('from','to','cc') NOT NULL,
  created_at  DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
  PRIMARY KEY (ticket_id, address),
  KEY ix_ticket_participants_address (address),
  CONSTRAINT fk_ticket_participants_ticket FOREIGN KEY (ticket_id) REFERENCES tickets(id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_uca1400_as_ci;
