-- 009_crm: customer lifecycle, merges, leads, deals pipeline, follow-ups, reminders,
-- dynamic tag rules and data scopes (issue 8).

-- Data scope (DESIGN.md section 10): which CRM records an agent sees. NULL = the role's
-- default (admin/agent/marketer all, manager/sales team). region scope = own records plus
-- those whose region equals agents.region. manager_id names who is told about a team's
-- overdue follow-ups and mature deals.
ALTER TABLE agents ADD COLUMN data_scope ENUM('own','team','region','all') NULL;
ALTER TABLE teams ADD COLUMN manager_id BIGINT UNSIGNED NULL,
                  ADD CONSTRAINT fk_teams_manager FOREIGN KEY (manager_id) REFERENCES agents(id) ON DELETE SET NULL;

-- last_followup_at: the latest activity (follow-up) on the customer, for "no follow-up
-- for N days" reminders. merged_into keeps an absorbed record resolvable.
ALTER TABLE customers ADD COLUMN last_followup_at DATETIME(3) NULL,
                      ADD KEY ix_customers_region (region),
                      ADD KEY ix_customers_merged (merged_into),
                      ADD KEY ix_customers_followup (stage, last_followup_at);
ALTER TABLE customer_identities ADD COLUMN merged_from BIGINT UNSIGNED NULL;
-- rule_id: the dynamic tag rule that put the tag there (NULL = a person did); a schedule
-- rule takes its tag away again when the customer stops matching.
ALTER TABLE customer_tags ADD COLUMN rule_id BIGINT UNSIGNED NULL;

-- Companies are found by the name as written (duplicates by name_norm).
ALTER TABLE companies ADD KEY ix_companies_name (name);

-- Events carry the region of the CRM record they describe so the tailer can apply the
-- region scope to websocket subscribers without reading the record.
ALTER TABLE events ADD COLUMN region VARCHAR(100) NULL;

-- Lifecycle changes: who moved a customer from which stage to which, and why
-- ('manual', 'deal' when a deal's stage implied it, 'import', 'merge', 'rule').
CREATE TABLE customer_stage_history (
  id           BIGINT UNSIGNED AUTO_INCREMENT PRIMARY KEY,
  customer_id  BIGINT UNSIGNED NOT NULL,
  from_stage   VARCHAR(16) NULL,
  to_stage     VARCHAR(16) NOT NULL,
  actor_id     BIGINT UNSIGNED NULL,
  reason       VARCHAR(32) NOT NULL DEFAULT 'manual',
  at           DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
  KEY ix_csh_customer (customer_id, at),
  CONSTRAINT fk_csh_customer FOREIGN KEY (customer_id) REFERENCES customers(id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_uca1400_as_ci;

-- One row per merge: the absorbed customer, the survivor, and what moved (counts).
CREATE TABLE customer_merges (
  id           BIGINT UNSIGNED AUTO_INCREMENT PRIMARY KEY,
  survivor_id  BIGINT UNSIGNED NOT NULL,
  absorbed_id  BIGINT UNSIGNED NOT NULL,
  actor_id     BIGINT UNSIGNED NULL,
  moved        LONGTEXT NOT NULL DEFAULT '{}' CHECK (JSON_VALID(moved)),
  at           DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
  UNIQUE KEY uq_merges_absorbed (absorbed_id),
  KEY ix_merges_survivor (survivor_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_uca1400_as_ci;

-- Pairs a person looked at and declared different customers ("not a duplicate"):
-- never proposed again. a_id < b_id.
CREATE TABLE customer_distinct_pairs (
  a_id        BIGINT UNSIGNED NOT NULL,
  b_id        BIGINT UNSIGNED NOT NULL,
  actor_id    BIGINT UNSIGNED NULL,
  at          DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
  PRIMARY KEY (a_id, b_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_uca1400_as_ci;

-- Deal stages as a sales team names them. kind: open stages are the funnel, won/lost
-- close the deal. notify_manager: entering it tells the owner's team manager ("mature").
-- customer_stage: the lifecycle stage a customer moves to when one of its deals enters
-- this stage (never backwards out of won/maintain/renewal except by an explicit edit).
CREATE TABLE pipeline_stages (
  id              BIGINT UNSIGNED AUTO_INCREMENT PRIMARY KEY,
  name            VARCHAR(64) NOT NULL,
  position        INT NOT NULL,
  probability     TINYINT UNSIGNED NOT NULL DEFAULT 0,
  kind            ENUM('open','won','lost') NOT NULL DEFAULT 'open',
  notify_manager  TINYINT(1) NOT NULL DEFAULT 0,
  customer_stage  ENUM('potential','contacted','proposal','won','maintain','renewal','churned') NULL,
  active          TINYINT(1) NOT NULL DEFAULT 1,
  KEY ix_pipeline_stages_order (active, position),
  CONSTRAINT ck_stage_probability CHECK (probability <= 100)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_uca1400_as_ci;
INSERT INTO pipeline_stages (name, position, probability, kind, notify_manager, customer_stage) VALUES
  ('萌芽 Budding', 10, 10, 'open', 0, 'contacted'),
  ('发展 Developing', 20, 30, 'open', 0, 'proposal'),
  ('成熟 Mature', 30, 70, 'open', 1, 'proposal'),
  ('赢单 Won', 40, 100, 'won', 0, 'won'),
  ('丢单 Lost', 50, 0, 'lost', 0, NULL);

CREATE TABLE leads (
  id           BIGINT UNSIGNED AUTO_INCREMENT PRIMARY KEY,
  name         VARCHAR(200) NOT NULL,
  company      VARCHAR(200) NULL,
  email        VARCHAR(254) NULL,
  phone        VARCHAR(32) NULL,
  source       VARCHAR(64) NULL,
  grade        ENUM('A','B','C') NOT NULL DEFAULT 'C',
  region       VARCHAR(100) NULL,
  owner_id     BIGINT UNSIGNED NULL,
  assigned_by  ENUM('manual','region','least_busy') NULL,
  status       ENUM('new','working','converted','disqualified') NOT NULL DEFAULT 'new',
  notes        VARCHAR(2000) NULL,
  customer_id  BIGINT UNSIGNED NULL,
  deal_id      BIGINT UNSIGNED NULL,
  created_at   DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
  updated_at   DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3) ON UPDATE CURRENT_TIMESTAMP(3),
  KEY ix_leads_owner (owner_id, status),
  KEY ix_leads_region (region),
  KEY ix_leads_status (status, id),
  CONSTRAINT fk_leads_owner FOREIGN KEY (owner_id) REFERENCES agents(id) ON DELETE SET NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_uca1400_as_ci;

CREATE TABLE deals (
  id                BIGINT UNSIGNED AUTO_INCREMENT PRIMARY KEY,
  customer_id       BIGINT UNSIGNED NOT NULL,
  title             VARCHAR(200) NOT NULL,
  stage_id          BIGINT UNSIGNED NOT NULL,
  status            ENUM('open','won','lost') NOT NULL DEFAULT 'open',
  amount            DECIMAL(16,2) NOT NULL DEFAULT 0,
  currency          CHAR(3) NOT NULL DEFAULT 'CNY',
  expected_close    DATE NULL,
  probability       TINYINT UNSIGNED NULL,
  owner_id          BIGINT UNSIGNED NULL,
  win_loss_reason   VARCHAR(500) NULL,
  competitor        VARCHAR(500) NULL,
  payment_due       DATE NULL,
  lead_id           BIGINT UNSIGNED NULL,
  stage_entered_at  DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
  closed_at         DATETIME(3) NULL,
  created_at        DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
  updated_at        DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3) ON UPDATE CURRENT_TIMESTAMP(3),
  KEY ix_deals_customer (customer_id, status),
  KEY ix_deals_owner (owner_id, status),
  KEY ix_deals_stage (stage_id, status),
  KEY ix_deals_payment (status, payment_due),
  CONSTRAINT ck_deal_probability CHECK (probability IS NULL OR probability <= 100),
  CONSTRAINT fk_deals_customer FOREIGN KEY (customer_id) REFERENCES customers(id),
  CONSTRAINT fk_deals_stage FOREIGN KEY (stage_id) REFERENCES pipeline_stages(id),
  CONSTRAINT fk_deals_owner FOREIGN KEY (owner_id) REFERENCES agents(id) ON DELETE SET NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_uca1400_as_ci;

-- Stage history for conversion analysis: time spent in the stage that was left.
CREATE TABLE deal_stage_history (
  id             BIGINT UNSIGNED AUTO_INCREMENT PRIMARY KEY,
  deal_id        BIGINT UNSIGNED NOT NULL,
  from_stage_id  BIGINT UNSIGNED NULL,
  to_stage_id    BIGINT UNSIGNED NOT NULL,
  actor_id       BIGINT UNSIGNED NULL,
  secs_in_from   BIGINT UNSIGNED NULL,
  at             DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
  KEY ix_dsh_deal (deal_id, at),
  KEY ix_dsh_to (to_stage_id, at),
  CONSTRAINT fk_dsh_deal FOREIGN KEY (deal_id) REFERENCES deals(id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_uca1400_as_ci;

-- Follow-up records (跟进记录).
CREATE TABLE activities (
  id           BIGINT UNSIGNED AUTO_INCREMENT PRIMARY KEY,
  customer_id  BIGINT UNSIGNED NOT NULL,
  deal_id      BIGINT UNSIGNED NULL,
  owner_id     BIGINT UNSIGNED NULL,
  method       ENUM('call','visit','email','wechat','other') NOT NULL,
  content      VARCHAR(4000) NOT NULL,
  next_step    VARCHAR(1000) NULL,
  next_at      DATETIME(3) NULL,
  happened_at  DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
  created_at   DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
  KEY ix_activities_customer (customer_id, happened_at),
  KEY ix_activities_deal (deal_id),
  KEY ix_activities_owner (owner_id, happened_at),
  CONSTRAINT fk_activities_customer FOREIGN KEY (customer_id) REFERENCES customers(id),
  CONSTRAINT fk_activities_owner FOREIGN KEY (owner_id) REFERENCES agents(id) ON DELETE SET NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_uca1400_as_ci;

-- Reminder policies (the worker reads them every pass): no_followup (days without a
-- follow-up on an active customer ⇒ the owner's manager), deal_stage (a deal entering a
-- notify_manager stage ⇒ the owner's manager), payment_due (days before deals.payment_due
-- ⇒ the owner).
CREATE TABLE reminder_rules (
  kind     ENUM('no_followup','deal_stage','payment_due') NOT NULL PRIMARY KEY,
  days     INT UNSIGNED NOT NULL DEFAULT 3,
  enabled  TINYINT(1) NOT NULL DEFAULT 1
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_uca1400_as_ci;
INSERT INTO reminder_rules (kind, days) VALUES ('no_followup', 3), ('deal_stage', 0), ('payment_due', 3);

-- A reminder is delivered once: dedupe_key names the occasion (e.g.
-- "no_followup:42:2026-11-20" = customer 42's follow-up last at that time).
CREATE TABLE reminders (
  id           BIGINT UNSIGNED AUTO_INCREMENT PRIMARY KEY,
  kind         VARCHAR(32) NOT NULL,
  agent_id     BIGINT UNSIGNED NOT NULL,
  customer_id  BIGINT UNSIGNED NULL,
  deal_id      BIGINT UNSIGNED NULL,
  message      VARCHAR(1000) NOT NULL,
  dedupe_key   VARCHAR(191) NOT NULL,
  due_at       DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
  notified_at  DATETIME(3) NULL,
  done_at      DATETIME(3) NULL,
  emailed      TINYINT(1) NOT NULL DEFAULT 0,
  created_at   DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
  UNIQUE KEY uq_reminders_once (dedupe_key, agent_id),
  KEY ix_reminders_agent (agent_id, done_at, due_at),
  KEY ix_reminders_pending (notified_at, due_at),
  CONSTRAINT fk_reminders_agent FOREIGN KEY (agent_id) REFERENCES agents(id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_uca1400_as_ci;

-- Dynamic tags: when `event_kind` happens to a customer (or on every pass of the worker
-- when event_kind is 'schedule'), customers matching `rule` (the segment language of
-- DESIGN.md section 7) get `tag`; notify_owner tells the owner once per tagging.
CREATE TABLE tag_rules (
  id            BIGINT UNSIGNED AUTO_INCREMENT PRIMARY KEY,
  name          VARCHAR(100) NOT NULL,
  tag           VARCHAR(64) NOT NULL,
  event_kind    VARCHAR(64) NOT NULL,
  rule          VARCHAR(4000) NOT NULL,
  notify_owner  TINYINT(1) NOT NULL DEFAULT 0,
  enabled       TINYINT(1) NOT NULL DEFAULT 1,
  fired         BIGINT UNSIGNED NOT NULL DEFAULT 0,
  created_at    DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
  updated_at    DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3) ON UPDATE CURRENT_TIMESTAMP(3),
  KEY ix_tag_rules_event (enabled, event_kind)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_uca1400_as_ci;
INSERT INTO tag_rules (name, tag, event_kind, rule, enabled) VALUES
  ('3 chats within 7 days', 'intent', 'ticket.created', 'tickets.chat.7d >= 3', 1),
  ('No contact for 90 days', 'dormant', 'schedule', 'contact_days > 90', 1),
  ('Deal won', 'customer', 'deal.stage_changed', 'deals.won >= 1', 1);

-- Where the CRM worker has read the event feed up to (one row per worker name; two
-- gateway processes share it under a row lock so an event is evaluated once).
CREATE TABLE worker_cursors (
  name     VARCHAR(64) NOT NULL PRIMARY KEY,
  last_id  BIGINT UNSIGNED NOT NULL DEFAULT 0,
  ran_at   DATETIME(3) NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_uca1400_as_ci;
-- Tag rules start with the events written after this migration (not with history).
INSERT INTO worker_cursors (name, last_id) SELECT 'crm_events', COALESCE(MAX(id), 0) FROM events;
