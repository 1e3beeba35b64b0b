-- 005_sms: the SMS channel (issue 6).

-- Who must not get messages on a channel: an SMS number that texted STOP (or that the
-- provider reports unsubscribed, error 21610), later an e-mail that unsubscribed.
-- Campaign sends skip these; agent replies to them are refused.
CREATE TABLE suppressions (
  id          BIGINT UNSIGNED AUTO_INCREMENT PRIMARY KEY,
  channel     ENUM('sms','email') NOT NULL,
  value       VARCHAR(255) NOT NULL,
  reason      VARCHAR(64) NOT NULL,
  message_id  BIGINT UNSIGNED NULL,
  created_at  DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
  UNIQUE KEY uq_suppressions (channel, value)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_uca1400_as_ci;

-- What an SMS costs: GSM-7 or UCS-2 segments (NULL for other channels).
ALTER TABLE messages ADD COLUMN segments SMALLINT UNSIGNED NULL AFTER body_visible,
                     ADD COLUMN encoding ENUM('gsm7','ucs2') NULL AFTER segments;

-- MMS media and other content kept by reference (storage = 'url').
ALTER TABLE attachments ADD COLUMN url VARCHAR(2048) NULL AFTER storage;

-- Delivery reports of the provider, by its message id. Kept apart from the outbox row
-- because a report can arrive before the sender has recorded the id it got back; the
-- sender applies what is waiting here when it records the send.
CREATE TABLE sms_delivery (
  provider_id  VARCHAR(64) CHARACTER SET ascii NOT NULL PRIMARY KEY,
  status       ENUM('queued','sending','sent','delivered','undelivered','failed') NOT NULL,
  error_code   VARCHAR(16) NULL,
  updated_at   DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3) ON UPDATE CURRENT_TIMESTAMP(3)
) ENGINE=InnoDB;

ALTER TABLE outbox ADD COLUMN delivery ENUM('queued','sending','sent','delivered','undelivered','failed') NULL AFTER provider_id,
                   ADD KEY ix_outbox_provider (channel, provider_id);
