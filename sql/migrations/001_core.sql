-- 001_core: the core tables of DESIGN.md section 4 (Foundation issue).
-- utf8mb4 everywhere; times are UTC (every connection sets time_zone '+00:00').

CREATE TABLE teams (
  id            BIGINT UNSIGNED AUTO_INCREMENT PRIMARY KEY,
  name          VARCHAR(100) NOT NULL,
  description   VARCHAR(500) NULL,
  created_at    DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
  updated_at    DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3) ON UPDATE CURRENT_TIMESTAMP(3),
  UNIQUE KEY uq_teams_name (name)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_uca1400_as_ci;

CREATE TABLE agents (
  id            BIGINT UNSIGNED AUTO_INCREMENT PRIMARY KEY,
  email         VARCHAR(254) NOT NULL,
  name          VARCHAR(200) NOT NULL,
  role          ENUM('admin','manager','agent','sales','marketer') NOT NULL,
  team_id       BIGINT UNSIGNED NULL,
  region        VARCHAR(100) NULL,
  password_hash VARCHAR(255) NOT NULL,
  active        TINYINT(1) NOT NULL DEFAULT 1,
  created_at    DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
  updated_at    DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3) ON UPDATE CURRENT_TIMESTAMP(3),
  last_login_at DATETIME(3) NULL,
  UNIQUE KEY uq_agents_email (email),
  KEY ix_agents_team (team_id),
  CONSTRAINT fk_agents_team FOREIGN KEY (team_id) REFERENCES teams(id) ON DELETE SET NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_uca1400_as_ci;

CREATE TABLE agent_skills (
  agent_id  BIGINT UNSIGNED NOT NULL,
  skill     VARCHAR(64) NOT NULL,
  level     TINYINT UNSIGNED NOT NULL,
  PRIMARY KEY (agent_id, skill),
  KEY ix_agent_skills_skill (skill, level),
  CONSTRAINT ck_agent_skills_level CHECK (level BETWEEN 1 AND 10),
  CONSTRAINT fk_agent_skills_agent FOREIGN KEY (agent_id) REFERENCES agents(id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_uca1400_as_ci;

CREATE TABLE agent_capacity (
  agent_id  BIGINT UNSIGNED NOT NULL,
  channel   ENUM('chat','email','sms') NOT NULL,
  max_load  SMALLINT UNSIGNED NOT NULL,
  PRIMARY KEY (agent_id, channel),
  CONSTRAINT fk_agent_capacity_agent FOREIGN KEY (agent_id) REFERENCES agents(id) ON DELETE CASCADE
) ENGINE=InnoDB;

CREATE TABLE agent_presence (
  agent_id      BIGINT UNSIGNED NOT NULL PRIMARY KEY,
  status        ENUM('online','away','offline') NOT NULL DEFAULT 'offline',
  node          VARCHAR(64) NULL,
  heartbeat_at  DATETIME(3) NULL,
  changed_at    DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
  CONSTRAINT fk_agent_presence_agent FOREIGN KEY (agent_id) REFERENCES agents(id) ON DELETE CASCADE
) ENGINE=InnoDB;

CREATE TABLE sessions (
  id          BIGINT UNSIGNED AUTO_INCREMENT PRIMARY KEY,
  token_hash  BINARY(32) NOT NULL,
  agent_id    BIGINT UNSIGNED NOT NULL,
  created_at  DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
  expires_at  DATETIME(3) NOT NULL,
  ip          VARCHAR(64) NULL,
  UNIQUE KEY uq_sessions_token (token_hash),
  KEY ix_sessions_agent (agent_id),
  KEY ix_sessions_expiry (expires_at),
  CONSTRAINT fk_sessions_agent FOREIGN KEY (agent_id) REFERENCES agents(id) ON DELETE CASCADE
) ENGINE=InnoDB;

CREATE TABLE companies (
  id          BIGINT UNSIGNED AUTO_INCREMENT PRIMARY KEY,
  name        VARCHAR(200) NOT NULL,
  name_norm   VARCHAR(200) NOT NULL,
  industry    VARCHAR(100) NULL,
  uscc        VARCHAR(18) NULL,
  address     VARCHAR(500) NULL,
  created_at  DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
  KEY ix_companies_norm (name_norm)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_uca1400_as_ci;

CREATE TABLE customers (
  id              BIGINT UNSIGNED AUTO_INCREMENT PRIMARY KEY,
  customer_no     VARCHAR(32) NULL,
  name            VARCHAR(200) NOT NULL,
  company_id      BIGINT UNSIGNED NULL,
  industry        VARCHAR(100) NULL,
  type            ENUM('new','returning','churned') NOT NULL DEFAULT 'new',
  stage           ENUM('potential','contacted','proposal','won','maintain','renewal','churned') NOT NULL DEFAULT 'potential',
  grade           VARCHAR(32) NULL,
  source          VARCHAR(64) NULL,
  region          VARCHAR(100) NULL,
  owner_id        BIGINT UNSIGNED NULL,
  uscc            VARCHAR(18) NULL,
  address         VARCHAR(500) NULL,
  attrs           LONGTEXT NOT NULL DEFAULT '{}' CHECK (JSON_VALID(attrs)),
  created_at      DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
  updated_at      DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3) ON UPDATE CURRENT_TIMESTAMP(3),
  last_contact_at DATETIME(3) NULL,
  merged_into     BIGINT UNSIGNED NULL,
  UNIQUE KEY uq_customers_no (customer_no),
  KEY ix_customers_name (name),
  KEY ix_customers_owner (owner_id),
  KEY ix_customers_stage (stage),
  KEY ix_customers_company (company_id),
  KEY ix_customers_created (created_at),
  CONSTRAINT fk_customers_company FOREIGN KEY (company_id) REFERENCES companies(id) ON DELETE SET NULL,
  CONSTRAINT fk_customers_owner FOREIGN KEY (owner_id) REFERENCES agents(id) ON DELETE SET NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_uca1400_as_ci;

-- is_primary is 1 for the identity that routes inbound messages (unique per kind+value)
-- and NULL for an unverified duplicate contact kept for the merge workflow.
CREATE TABLE customer_identities (
  id           BIGINT UNSIGNED AUTO_INCREMENT PRIMARY KEY,
  customer_id  BIGINT UNSIGNED NOT NULL,
  kind         ENUM('email','phone','chat','external') NOT NULL,
  value        VARCHAR(255) NOT NULL,
  is_primary   TINYINT(1) NULL DEFAULT 1,
  created_at   DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
  UNIQUE KEY uq_identity (kind, value, is_primary),
  KEY ix_identity_customer (customer_id),
  KEY ix_identity_value (value),
  CONSTRAINT fk_identity_customer FOREIGN KEY (customer_id) REFERENCES customers(id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE tags (
  id          BIGINT UNSIGNED AUTO_INCREMENT PRIMARY KEY,
  name        VARCHAR(64) NOT NULL,
  color       VARCHAR(16) NULL,
  created_at  DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
  UNIQUE KEY uq_tags_name (name)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_uca1400_as_ci;

CREATE TABLE customer_tags (
  customer_id  BIGINT UNSIGNED NOT NULL,
  tag_id       BIGINT UNSIGNED NOT NULL,
  created_at   DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
  created_by   BIGINT UNSIGNED NULL,
  PRIMARY KEY (customer_id, tag_id),
  KEY ix_customer_tags_tag (tag_id, customer_id),
  CONSTRAINT fk_ct_customer FOREIGN KEY (customer_id) REFERENCES customers(id) ON DELETE CASCADE,
  CONSTRAINT fk_ct_tag FOREIGN KEY (tag_id) REFERENCES tags(id) ON DELETE CASCADE
) ENGINE=InnoDB;

CREATE TABLE field_defs (
  id          BIGINT UNSIGNED AUTO_INCREMENT PRIMARY KEY,
  `key`       VARCHAR(64) NOT NULL,
  label       VARCHAR(200) NOT NULL,
  type        ENUM('text','number','date','select','multiselect') NOT NULL,
  options     LONGTEXT NULL CHECK (options IS NULL OR JSON_VALID(options)),
  required    TINYINT(1) NOT NULL DEFAULT 0,
  position    INT NOT NULL DEFAULT 0,
  created_at  DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
  UNIQUE KEY uq_field_defs_key (`key`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_uca1400_as_ci;

CREATE TABLE tickets (
  id                 BIGINT UNSIGNED AUTO_INCREMENT PRIMARY KEY,
  customer_id        BIGINT UNSIGNED NOT NULL,
  channel            ENUM('chat','email','sms','phone','web') NOT NULL,
  subject            VARCHAR(500) NULL,
  status             ENUM('new','open','pending','solved','closed') NOT NULL DEFAULT 'new',
  priority           ENUM('low','normal','high','urgent') NOT NULL DEFAULT 'normal',
  team_id            BIGINT UNSIGNED NULL,
  assignee_id        BIGINT UNSIGNED NULL,
  required_skills    LONGTEXT NULL CHECK (required_skills IS NULL OR JSON_VALID(required_skills)),
  mailbox_id         BIGINT UNSIGNED NULL,
  sla_due_at         DATETIME(3) NULL,
  first_response_at  DATETIME(3) NULL,
  solved_at          DATETIME(3) NULL,
  csat               TINYINT NULL,
  created_at         DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
  updated_at         DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3) ON UPDATE CURRENT_TIMESTAMP(3),
  last_message_at    DATETIME(3) NULL,
  KEY ix_tickets_queue (status, priority, created_at, id),
  KEY ix_tickets_assignee (assignee_id, status),
  KEY ix_tickets_customer (customer_id, status),
  KEY ix_tickets_team (team_id, status),
  KEY ix_tickets_channel (channel, status, created_at),
  CONSTRAINT fk_tickets_customer FOREIGN KEY (customer_id) REFERENCES customers(id),
  CONSTRAINT fk_tickets_team FOREIGN KEY (team_id) REFERENCES teams(id) ON DELETE SET NULL,
  CONSTRAINT fk_tickets_assignee FOREIGN KEY (assignee_id) REFERENCES agents(id) ON DELETE SET NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_uca1400_as_ci;

CREATE TABLE messages (
  id           BIGINT UNSIGNED AUTO_INCREMENT PRIMARY KEY,
  ticket_id    BIGINT UNSIGNED NOT NULL,
  customer_id  BIGINT UNSIGNED NOT NULL,
  direction    ENUM('in','out') NOT NULL,
  channel      ENUM('chat','email','sms','phone','web') NOT NULL,
  author_type  ENUM('customer','agent','bot','system') NOT NULL,
  author_id    BIGINT UNSIGNED NULL,
  body_text    MEDIUMTEXT NOT NULL,
  body_html    MEDIUMTEXT NULL,
  external_id  VARCHAR(255) NULL,
  internal     TINYINT(1) NOT NULL DEFAULT 0,
  status       ENUM('received','queued','sending','sent','delivered','failed','ambiguous','note') NOT NULL DEFAULT 'received',
  created_at   DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
  UNIQUE KEY uq_messages_external (channel, external_id),
  KEY ix_messages_ticket (ticket_id, id),
  KEY ix_messages_customer (customer_id, id),
  CONSTRAINT fk_messages_ticket FOREIGN KEY (ticket_id) REFERENCES tickets(id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_uca1400_as_ci;

CREATE TABLE attachments (
  id            BIGINT UNSIGNED AUTO_INCREMENT PRIMARY KEY,
  message_id    BIGINT UNSIGNED NOT NULL,
  filename      VARCHAR(255) NULL,
  content_type  VARCHAR(255) NULL,
  size          BIGINT UNSIGNED NOT NULL DEFAULT 0,
  sha256        CHAR(64) NULL,
  storage       VARCHAR(1000) NULL,
  created_at    DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
  KEY ix_attachments_message (message_id),
  CONSTRAINT fk_attachments_message FOREIGN KEY (message_id) REFERENCES messages(id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_uca1400_as_ci;

CREATE TABLE outbox (
  id               BIGINT UNSIGNED AUTO_INCREMENT PRIMARY KEY,
  message_id       BIGINT UNSIGNED NULL,
  channel          ENUM('chat','email','sms') NOT NULL,
  recipient        VARCHAR(255) NOT NULL,
  payload          LONGTEXT NOT NULL CHECK (JSON_VALID(payload)),
  state            ENUM('queued','sending','sent','failed','ambiguous') NOT NULL DEFAULT 'queued',
  attempts         INT UNSIGNED NOT NULL DEFAULT 0,
  next_attempt_at  DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
  lease_until      DATETIME(3) NULL,
  provider_id      VARCHAR(255) NULL,
  error            VARCHAR(1000) NULL,
  created_at       DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
  updated_at       DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3) ON UPDATE CURRENT_TIMESTAMP(3),
  KEY ix_outbox_claim (state, next_attempt_at, id),
  KEY ix_outbox_message (message_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_uca1400_as_ci;

-- The change feed: written in the same transaction as the change it describes.
-- ticket_id/customer_id/agent_id/team_id let the tailer route an event to the sockets
-- allowed to see it without parsing the payload.
CREATE TABLE events (
  id           BIGINT UNSIGNED AUTO_INCREMENT PRIMARY KEY,
  kind         VARCHAR(64) NOT NULL,
  ticket_id    BIGINT UNSIGNED NULL,
  customer_id  BIGINT UNSIGNED NULL,
  agent_id     BIGINT UNSIGNED NULL,
  team_id      BIGINT UNSIGNED NULL,
  payload      LONGTEXT NOT NULL CHECK (JSON_VALID(payload)),
  created_at   DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
  KEY ix_events_kind (kind, id),
  KEY ix_events_ticket (ticket_id, id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_uca1400_as_ci;

CREATE TABLE audit_log (
  id           BIGINT UNSIGNED AUTO_INCREMENT PRIMARY KEY,
  actor_id     BIGINT UNSIGNED NULL,
  actor_type   ENUM('agent','system','api') NOT NULL DEFAULT 'agent',
  action       VARCHAR(64) NOT NULL,
  object_type  VARCHAR(64) NOT NULL,
  object_id    BIGINT UNSIGNED NULL,
  before_json  LONGTEXT NULL CHECK (before_json IS NULL OR JSON_VALID(before_json)),
  after_json   LONGTEXT NULL CHECK (after_json IS NULL OR JSON_VALID(after_json)),
  request_id   VARCHAR(32) NULL,
  at           DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
  KEY ix_audit_object (object_type, object_id, id),
  KEY ix_audit_actor (actor_id, id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_uca1400_as_ci;
