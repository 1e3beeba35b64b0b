-- 015_rules.sql — one rule engine (DESIGN.md "One rule engine", issue 12; contract in
-- docs/rules.md): rules with versions and a firing log, the records a schedule rule
-- matches now (so it fires once per occasion), and approvals that hold a change.
-- The hard-wired CRM behaviours become seed rules (system_key) an admin can edit.

CREATE TABLE rules (
  id               BIGINT UNSIGNED AUTO_INCREMENT PRIMARY KEY,
  name             VARCHAR(200) NOT NULL,
  description      VARCHAR(2000) NULL,
  trigger_kind     VARCHAR(64) NOT NULL,
  schedule_record  ENUM('customer','deal') NULL,
  conditions       VARCHAR(4000) NOT NULL DEFAULT '',
  actions          LONGTEXT NOT NULL CHECK (JSON_VALID(actions)),
  position         INT NOT NULL DEFAULT 0,
  enabled          TINYINT(1) NOT NULL DEFAULT 0,
  version          INT UNSIGNED NOT NULL DEFAULT 1,
  system_key       VARCHAR(64) NULL,
  created_by       BIGINT UNSIGNED NULL,
  created_at       DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
  updated_at       DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3) ON UPDATE CURRENT_TIMESTAMP(3),
  UNIQUE KEY uq_rules_system (system_key),
  KEY ix_rules_trigger (enabled, trigger_kind, position, id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_uca1400_as_ci;

CREATE TABLE rule_versions (
  rule_id          BIGINT UNSIGNED NOT NULL,
  version          INT UNSIGNED NOT NULL,
  name             VARCHAR(200) NOT NULL,
  description      VARCHAR(2000) NULL,
  trigger_kind     VARCHAR(64) NOT NULL,
  schedule_record  ENUM('customer','deal') NULL,
  conditions       VARCHAR(4000) NOT NULL,
  actions          LONGTEXT NOT NULL,
  enabled          TINYINT(1) NOT NULL,
  changed_by       BIGINT UNSIGNED NULL,
  changed_at       DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
  PRIMARY KEY (rule_id, version),
  CONSTRAINT fk_rule_versions_rule FOREIGN KEY (rule_id) REFERENCES rules(id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_uca1400_as_ci;

-- One row per rule that matched (or was stopped) for an event or a schedule occasion.
CREATE TABLE rule_firings (
  id               BIGINT UNSIGNED AUTO_INCREMENT PRIMARY KEY,
  rule_id          BIGINT UNSIGNED NOT NULL,
  rule_version     INT UNSIGNED NOT NULL,
  trigger_kind     VARCHAR(64) NOT NULL,
  event_id         BIGINT UNSIGNED NULL,
  record_type      VARCHAR(16) NOT NULL,
  record_id        BIGINT UNSIGNED NOT NULL,
  outcome          ENUM('done','failed','stopped','held') NOT NULL,
  reason           VARCHAR(1000) NULL,
  actions          LONGTEXT NULL,
  depth            TINYINT UNSIGNED NOT NULL DEFAULT 1,
  created_at       DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
  KEY ix_rule_firings_rule (rule_id, id),
  KEY ix_rule_firings_record (record_type, record_id, id),
  CONSTRAINT fk_rule_firings_rule FOREIGN KEY (rule_id) REFERENCES rules(id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_uca1400_as_ci;

-- The records a schedule rule matched at its last pass: a record fires when it enters.
CREATE TABLE rule_matches (
  rule_id          BIGINT UNSIGNED NOT NULL,
  record_id        BIGINT UNSIGNED NOT NULL,
  since            DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
  PRIMARY KEY (rule_id, record_id),
  CONSTRAINT fk_rule_matches_rule FOREIGN KEY (rule_id) REFERENCES rules(id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_uca1400_as_ci;

CREATE TABLE approvals (
  id               BIGINT UNSIGNED AUTO_INCREMENT PRIMARY KEY,
  kind             VARCHAR(64) NOT NULL,
  record_type      VARCHAR(16) NOT NULL,
  record_id        BIGINT UNSIGNED NOT NULL,
  summary          VARCHAR(500) NOT NULL,
  role             ENUM('admin','manager') NOT NULL,
  status           ENUM('pending','approved','rejected','cancelled') NOT NULL DEFAULT 'pending',
  rule_id          BIGINT UNSIGNED NULL,
  requested_by     BIGINT UNSIGNED NULL,
  decided_by       BIGINT UNSIGNED NULL,
  decided_at       DATETIME(3) NULL,
  decision_comment VARCHAR(2000) NULL,
  reminded_at      DATETIME(3) NULL,
  created_at       DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
  pending_key      VARCHAR(100) AS (IF(status = 'pending', CONCAT(kind, ':', record_id), NULL)) PERSISTENT,
  UNIQUE KEY uq_approvals_pending (pending_key),
  KEY ix_approvals_status (status, role, id),
  KEY ix_approvals_record (record_type, record_id),
  CONSTRAINT fk_approvals_rule FOREIGN KEY (rule_id) REFERENCES rules(id) ON DELETE SET NULL,
  CONSTRAINT fk_approvals_requested FOREIGN KEY (requested_by) REFERENCES agents(id) ON DELETE SET NULL,
  CONSTRAINT fk_approvals_decided FOREIGN KEY (decided_by) REFERENCES agents(id) ON DELETE SET NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_uca1400_as_ci;

CREATE TABLE approval_comments (
  id               BIGINT UNSIGNED AUTO_INCREMENT PRIMARY KEY,
  approval_id      BIGINT UNSIGNED NOT NULL,
  agent_id         BIGINT UNSIGNED NULL,
  body             VARCHAR(2000) NOT NULL,
  created_at       DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
  KEY ix_approval_comments (approval_id, id),
  CONSTRAINT fk_approval_comments_approval FOREIGN KEY (approval_id) REFERENCES approvals(id) ON DELETE CASCADE,
  CONSTRAINT fk_approval_comments_agent FOREIGN KEY (agent_id) REFERENCES agents(id) ON DELETE SET NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_uca1400_as_ci;

-- The seed rules: what used to be hard-wired, now editable. The mature-deal and
-- no-follow-up reminders keep their reminder kinds; their reminder_rules policies end here.
INSERT INTO rules (name, description, trigger_kind, schedule_record, conditions, actions, position, enabled, system_key) VALUES
  ('Lead assignment by region', 'A new lead without an owner goes to the least busy sales agent of its region, or the least busy sales agent when the region has none.',
   'lead.created', NULL, '', '[{"type":"assign_owner","strategy":"region_least_busy","only_unowned":true}]', 0, 1, 'lead_assignment'),
  ('First follow-up for a new customer', 'A new customer with an owner gets a follow-up task for the owner, due the next day.',
   'customer.created', NULL, 'owner_id > 0', '[{"type":"create_task","title":"First follow-up: {{customer.name}}","due_days":1,"assignee":"owner"}]', 0, 1, 'first_followup'),
  ('No follow-up for 3 days', 'An active customer nobody followed up for 3 days: the owner''s team manager hears about it.',
   'schedule', 'customer', '(stage:contacted OR stage:proposal OR stage:won OR stage:maintain OR stage:renewal) AND followup_days >= 3 AND owner_id > 0',
   '[{"type":"notify","to":"manager","kind":"no_followup","message":"No follow-up for {{customer.followup_days}} days: {{customer.name}} ({{customer.customer_no}})"}]', 0, 1, 'no_followup'),
  ('Mature deal: tell the manager', 'A deal entering a stage marked "notify manager" is reported to the owner''s team manager.',
   'deal.stage_changed', NULL, 'deal.stage_notify = 1', '[{"type":"notify","to":"manager","kind":"deal_stage","once":true,"message":"Deal \\"{{deal.title}}\\" ({{deal.customer_name}}) reached stage {{deal.stage}}"}]', 10, 1, 'mature_deal_manager'),
  ('Deal stage moves the customer lifecycle', 'The customer''s lifecycle stage follows its deals forward (never backwards).',
   'deal.stage_changed', NULL, '', '[{"type":"advance_lifecycle"}]', 0, 1, 'deal_lifecycle');

INSERT INTO rule_versions (rule_id, version, name, description, trigger_kind, schedule_record, conditions, actions, enabled)
  SELECT id, 1, name, description, trigger_kind, schedule_record, conditions, actions, enabled FROM rules;

DELETE FROM reminder_rules WHERE kind IN ('no_followup', 'deal_stage');

-- A rule's send_template action sends through the campaign ledger (once per customer, with
-- suppressions, unsubscribe links and the sender's guarantees): one hidden campaign per
-- rule and template.
ALTER TABLE campaigns ADD COLUMN rule_id BIGINT UNSIGNED NULL,
  ADD UNIQUE KEY uq_campaigns_rule_template (rule_id, template_id),
  ADD CONSTRAINT fk_campaigns_rule FOREIGN KEY (rule_id) REFERENCES rules(id) ON DELETE SET NULL;
