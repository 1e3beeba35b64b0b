-- 014_integrations: reports over indexed columns, API keys, outbound webhooks (issue 11).

-- Reports read periods by these timestamps (docs/reports.md); without them a dashboard
-- would scan every ticket, message or deal. Several carry the columns their report reads,
-- so a period is an index range without row lookups (bench/reports.js: ten times the
-- history outside the period must not slow a report down).
ALTER TABLE tickets ADD KEY ix_tickets_created (created_at, channel, team_id, first_response_at, solved_at,
                                                sla_due_at, sla_breached),
                    ADD KEY ix_tickets_solved (solved_at, created_at, team_id, channel, assignee_id);
ALTER TABLE messages ADD KEY ix_messages_author (author_id, created_at);
ALTER TABLE deals ADD KEY ix_deals_closed (closed_at),
                  ADD KEY ix_deals_created (created_at),
                  ADD KEY ix_deals_won (status, closed_at, customer_id, currency, amount),
                  ADD KEY ix_deals_customer_won (customer_id, status, closed_at, currency, amount);
ALTER TABLE deal_stage_history ADD KEY ix_dsh_at (at, from_stage_id, deal_id, secs_in_from);
ALTER TABLE activities ADD KEY ix_activities_happened (happened_at, owner_id);
ALTER TABLE customers ADD KEY ix_customers_contact (last_contact_at),
                      DROP KEY ix_customers_created,
                      ADD KEY ix_customers_created (created_at, source, merged_into, owner_id);
ALTER TABLE campaigns ADD COLUMN cost DECIMAL(16,2) NULL AFTER rate_per_minute,
                      ADD KEY ix_campaigns_started (kind, started_at);
ALTER TABLE events ADD KEY ix_events_agent (agent_id, kind, created_at);

-- An API key acts as its own agent row (kind 'integration': never logs in, never routed,
-- not listed with the people), so audit, ownership and data scopes work unchanged.
ALTER TABLE agents ADD COLUMN kind ENUM('person','integration') NOT NULL DEFAULT 'person' AFTER role;

CREATE TABLE api_keys (
  id               BIGINT UNSIGNED AUTO_INCREMENT PRIMARY KEY,
  name             VARCHAR(100) NOT NULL,
  agent_id         BIGINT UNSIGNED NOT NULL,
  prefix           CHAR(12) NOT NULL,
  key_hash         BINARY(32) NOT NULL,
  rate_per_minute  INT UNSIGNED NOT NULL DEFAULT 600,
  created_by       BIGINT UNSIGNED NULL,
  created_at       DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
  expires_at       DATETIME(3) NULL,
  last_used_at     DATETIME(3) NULL,
  last_used_ip     VARCHAR(64) NULL,
  revoked_at       DATETIME(3) NULL,
  UNIQUE KEY uq_api_keys_hash (key_hash),
  KEY ix_api_keys_agent (agent_id),
  CONSTRAINT fk_api_keys_agent FOREIGN KEY (agent_id) REFERENCES agents(id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_uca1400_as_ci;

-- Outbound webhooks. The secret signs deliveries (HMAC-SHA256), so it is kept as given;
-- it is shown once, at creation. failure_count counts failed attempts in a row.
CREATE TABLE webhooks (
  id               BIGINT UNSIGNED AUTO_INCREMENT PRIMARY KEY,
  url              VARCHAR(2000) NOT NULL,
  events           LONGTEXT NOT NULL CHECK (JSON_VALID(events)),
  description      VARCHAR(500) NULL,
  secret           VARCHAR(100) NOT NULL,
  active           TINYINT(1) NOT NULL DEFAULT 1,
  failure_count    INT UNSIGNED NOT NULL DEFAULT 0,
  disabled_at      DATETIME(3) NULL,
  disabled_reason  VARCHAR(500) NULL,
  created_by       BIGINT UNSIGNED NULL,
  created_at       DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
  updated_at       DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3) ON UPDATE CURRENT_TIMESTAMP(3),
  last_delivery_at DATETIME(3) NULL,
  last_status      SMALLINT NULL,
  KEY ix_webhooks_active (active)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_uca1400_as_ci;

-- The durable queue: one row per webhook and event (UNIQUE: the fan-out never queues an
-- event twice), the body kept as first sent so every attempt and a redelivery carry the
-- same bytes and event id. queued → sending (leased) → delivered | retrying → … | failed.
-- A lease that runs out (a crash mid-POST) makes the row retrying: webhooks are
-- at-least-once, receivers dedupe by event id.
CREATE TABLE webhook_deliveries (
  id               BIGINT UNSIGNED AUTO_INCREMENT PRIMARY KEY,
  webhook_id       BIGINT UNSIGNED NOT NULL,
  event_id         VARCHAR(40) NOT NULL,
  event            VARCHAR(64) NOT NULL,
  body             LONGTEXT NOT NULL,
  state            ENUM('queued','sending','delivered','retrying','failed') NOT NULL DEFAULT 'queued',
  attempts         INT UNSIGNED NOT NULL DEFAULT 0,
  next_attempt_at  DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
  lease_until      DATETIME(3) NULL,
  last_status      SMALLINT NULL,
  last_error       VARCHAR(500) NULL,
  created_at       DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
  delivered_at     DATETIME(3) NULL,
  UNIQUE KEY uq_webhook_deliveries (webhook_id, event_id),
  KEY ix_webhook_deliveries_claim (state, next_attempt_at, id),
  CONSTRAINT fk_webhook_deliveries_webhook FOREIGN KEY (webhook_id) REFERENCES webhooks(id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_uca1400_as_ci;

-- A priority's default SLA target (channel NULL) is one row. NULLs are distinct in a
-- UNIQUE key, so PUT /routing/sla used to add a row each time; the key is now on a
-- generated column ('' for the default). Of any duplicates the latest (the last PUT) stays.
DELETE p1 FROM sla_policies p1 JOIN sla_policies p2
  ON p2.priority = p1.priority AND p1.channel IS NULL AND p2.channel IS NULL AND p2.id > p1.id;
ALTER TABLE sla_policies ADD COLUMN channel_key VARCHAR(8) AS (COALESCE(channel, '')) PERSISTENT,
                         DROP KEY uq_sla_policies,
                         ADD UNIQUE KEY uq_sla_policies (priority, channel_key);
