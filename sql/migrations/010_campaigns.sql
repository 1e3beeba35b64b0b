-- 010_campaigns: templates, segments, campaigns and the at-most-once send ledger (issue 9).

-- Mustache templates per channel (gateway/template.c). An e-mail template has a subject,
-- a text and an HTML body; an SMS template a text body.
CREATE TABLE templates (
  id          BIGINT UNSIGNED AUTO_INCREMENT PRIMARY KEY,
  name        VARCHAR(200) NOT NULL,
  channel     ENUM('email','sms') NOT NULL,
  subject     VARCHAR(1000) NULL,
  body_text   MEDIUMTEXT NOT NULL,
  body_html   MEDIUMTEXT NULL,
  created_by  BIGINT UNSIGNED NULL,
  created_at  DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
  updated_at  DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3) ON UPDATE CURRENT_TIMESTAMP(3),
  UNIQUE KEY uq_templates_name (name)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_uca1400_as_ci;

-- Saved segments: the rule language of DESIGN.md section 7 (gateway/segment.c).
CREATE TABLE segments (
  id          BIGINT UNSIGNED AUTO_INCREMENT PRIMARY KEY,
  name        VARCHAR(200) NOT NULL,
  rule        VARCHAR(4000) NOT NULL,
  created_by  BIGINT UNSIGNED NULL,
  created_at  DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
  updated_at  DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3) ON UPDATE CURRENT_TIMESTAMP(3),
  UNIQUE KEY uq_segments_name (name)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_uca1400_as_ci;

-- A campaign: segment + template + channel (+ schedule and rate). Status:
--   draft → (scheduled →) starting (the ledger is being materialised) → sending
--   ⇄ paused → finished | cancelled
CREATE TABLE campaigns (
  id               BIGINT UNSIGNED AUTO_INCREMENT PRIMARY KEY,
  name             VARCHAR(200) NOT NULL,
  channel          ENUM('email','sms') NOT NULL,
  segment_id       BIGINT UNSIGNED NULL,
  template_id      BIGINT UNSIGNED NOT NULL,
  kind             ENUM('campaign','sequence_step') NOT NULL DEFAULT 'campaign',
  status           ENUM('draft','scheduled','starting','sending','paused','finished','cancelled') NOT NULL DEFAULT 'draft',
  scheduled_at     DATETIME(3) NULL,
  rate_per_minute  INT UNSIGNED NULL,
  created_by       BIGINT UNSIGNED NULL,
  materialized_upto BIGINT UNSIGNED NOT NULL DEFAULT 0,
  started_at       DATETIME(3) NULL,
  finished_at      DATETIME(3) NULL,
  created_at       DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
  updated_at       DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3) ON UPDATE CURRENT_TIMESTAMP(3),
  KEY ix_campaigns_status (status, scheduled_at),
  CONSTRAINT fk_campaigns_segment FOREIGN KEY (segment_id) REFERENCES segments(id),
  CONSTRAINT fk_campaigns_template FOREIGN KEY (template_id) REFERENCES templates(id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_uca1400_as_ci;

-- The ledger: one row per campaign, customer and channel (UNIQUE: starting twice adds
-- nothing). A row is sent at most once: queued → sending (claimed under a lease) →
-- sent | failed | ambiguous (the lease ran out: a crash mid-send; re-sent only by an
-- explicit action) | skipped (skip_reason: no_address, suppressed, cancelled).
CREATE TABLE campaign_recipients (
  id               BIGINT UNSIGNED AUTO_INCREMENT PRIMARY KEY,
  campaign_id      BIGINT UNSIGNED NOT NULL,
  customer_id      BIGINT UNSIGNED NOT NULL,
  channel          ENUM('email','sms') NOT NULL,
  address          VARCHAR(255) NULL,
  state            ENUM('queued','sending','sent','failed','ambiguous','skipped') NOT NULL DEFAULT 'queued',
  skip_reason      VARCHAR(32) NULL,
  attempts         TINYINT UNSIGNED NOT NULL DEFAULT 0,
  lease_until      DATETIME(3) NULL,
  provider_id      VARCHAR(255) NULL,
  error            VARCHAR(500) NULL,
  sent_at          DATETIME(3) NULL,
  delivered_at     DATETIME(3) NULL,
  opened_at        DATETIME(3) NULL,
  clicked_at       DATETIME(3) NULL,
  replied_at       DATETIME(3) NULL,
  unsubscribed_at  DATETIME(3) NULL,
  created_at       DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
  UNIQUE KEY uq_campaign_recipient (campaign_id, customer_id, channel),
  KEY ix_recipients_claim (campaign_id, state, id),
  KEY ix_recipients_lease (state, lease_until),
  KEY ix_recipients_sent (sent_at),
  KEY ix_recipients_customer (customer_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_uca1400_as_ci;

-- Process-wide secrets that must be the same on every gateway node (the unsubscribe
-- links' HMAC key), made once here.
CREATE TABLE settings (
  name   VARCHAR(64) NOT NULL PRIMARY KEY,
  value  VARCHAR(1000) NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_uca1400_as_ci;
INSERT INTO settings (name, value) VALUES ('unsubscribe_key', HEX(RANDOM_BYTES(32)));

-- Nurture sequences: customers are enrolled when they get a tag (trigger_tag) or enter a
-- segment (trigger_segment_id); each step waits delay_minutes after the previous one (or
-- the enrolment) and sends its template through its own ledger — a campaign row of kind
-- sequence_step, always "sending" — so a step reaches an enrolled customer at most once,
-- with everything the campaign sender guarantees (suppressions, ambiguous after a crash,
-- throttles, windows). Conditions: skip_if_replied (the customer wrote to us since the
-- enrolment); stop_on_stage (e.g. won) ends the enrolment; an unsubscribed address is
-- skipped by the sender.
CREATE TABLE sequences (
  id                  BIGINT UNSIGNED AUTO_INCREMENT PRIMARY KEY,
  name                VARCHAR(200) NOT NULL,
  trigger_tag         VARCHAR(64) NULL,
  trigger_segment_id  BIGINT UNSIGNED NULL,
  stop_on_stage       ENUM('potential','contacted','proposal','won','maintain','renewal','churned') NULL,
  enabled             TINYINT(1) NOT NULL DEFAULT 1,
  created_by          BIGINT UNSIGNED NULL,
  created_at          DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
  UNIQUE KEY uq_sequences_name (name)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_uca1400_as_ci;

CREATE TABLE sequence_steps (
  id               BIGINT UNSIGNED AUTO_INCREMENT PRIMARY KEY,
  sequence_id      BIGINT UNSIGNED NOT NULL,
  position         INT NOT NULL,
  delay_minutes    INT UNSIGNED NOT NULL DEFAULT 0,
  campaign_id      BIGINT UNSIGNED NOT NULL,
  skip_if_replied  TINYINT(1) NOT NULL DEFAULT 0,
  UNIQUE KEY uq_steps (sequence_id, position),
  CONSTRAINT fk_steps_sequence FOREIGN KEY (sequence_id) REFERENCES sequences(id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_uca1400_as_ci;

CREATE TABLE sequence_enrollments (
  id            BIGINT UNSIGNED AUTO_INCREMENT PRIMARY KEY,
  sequence_id   BIGINT UNSIGNED NOT NULL,
  customer_id   BIGINT UNSIGNED NOT NULL,
  status        ENUM('active','completed','stopped') NOT NULL DEFAULT 'active',
  next_position INT NOT NULL DEFAULT 1,
  next_at       DATETIME(3) NOT NULL,
  stop_reason   VARCHAR(32) NULL,
  enrolled_at   DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
  UNIQUE KEY uq_enrollment (sequence_id, customer_id),
  KEY ix_enrollments_due (status, next_at),
  CONSTRAINT fk_enrollments_sequence FOREIGN KEY (sequence_id) REFERENCES sequences(id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_uca1400_as_ci;
