-- 006_routing: skill-based routing, offers, overflow, business hours and SLAs (issue 7).

-- Ordered rules: the first enabled rule whose conditions all match a waiting ticket gives
-- it skills, a team and a priority; the default rule (is_default, always last) matches
-- everything. Conditions and skills are JSON:
--   match:           {"channels":["email"], "mailbox_ids":[1], "keywords":["退款","refund"],
--                     "tags":["VIP"], "languages":["zh"]}  (every given key must match;
--                     within a key, any value)
--   required_skills: [{"skill":"billing","min_level":5}]   never relaxed
--   optional_skills: [{"skill":"mandarin","min_level":3}]  required until the overflow wait
CREATE TABLE routing_rules (
  id               BIGINT UNSIGNED AUTO_INCREMENT PRIMARY KEY,
  position         INT NOT NULL DEFAULT 100,
  name             VARCHAR(100) NOT NULL,
  enabled          TINYINT(1) NOT NULL DEFAULT 1,
  is_default       TINYINT(1) NOT NULL DEFAULT 0,
  match_json       LONGTEXT NOT NULL DEFAULT '{}' CHECK (JSON_VALID(match_json)),
  required_skills  LONGTEXT NOT NULL DEFAULT '[]' CHECK (JSON_VALID(required_skills)),
  optional_skills  LONGTEXT NOT NULL DEFAULT '[]' CHECK (JSON_VALID(optional_skills)),
  team_id          BIGINT UNSIGNED NULL,
  priority         ENUM('low','normal','high','urgent') NULL,
  created_at       DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
  updated_at       DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3) ON UPDATE CURRENT_TIMESTAMP(3),
  KEY ix_routing_rules_order (enabled, is_default, position, id),
  CONSTRAINT fk_routing_rules_team FOREIGN KEY (team_id) REFERENCES teams(id) ON DELETE SET NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_uca1400_as_ci;
INSERT INTO routing_rules (position, name, is_default) VALUES (1000000, 'Default', 1);

-- How a team takes work: offers must be accepted within accept_timeout_secs unless
-- auto_accept; business hours per weekday at the team's UTC offset in minutes (480 =
-- China; a fixed offset, so a team in a zone with daylight saving updates it twice a
-- year) as {"mon":[["09:00","18:00"]], …, "sun":[]} — {} = always open;
-- after_hours_reply is sent once to a ticket that arrives while the team is closed.
ALTER TABLE teams ADD COLUMN auto_accept TINYINT(1) NOT NULL DEFAULT 0,
                  ADD COLUMN accept_timeout_secs INT UNSIGNED NOT NULL DEFAULT 30,
                  ADD COLUMN utc_offset_mins SMALLINT NOT NULL DEFAULT 480,
                  ADD COLUMN business_hours LONGTEXT NOT NULL DEFAULT '{}' CHECK (JSON_VALID(business_hours)),
                  ADD COLUMN after_hours_reply VARCHAR(1000) NULL;

-- Capacity: per channel (agent_capacity.max_load) and in total, in units: a ticket costs
-- its channel's weight ([routing] weight_*), an agent has capacity_units (100).
ALTER TABLE agents ADD COLUMN capacity_units SMALLINT UNSIGNED NOT NULL DEFAULT 100;
ALTER TABLE agent_presence ADD COLUMN last_assigned_at DATETIME(3) NULL;

-- A ticket's routing: queued_at (waiting since; NULL = not waiting for the router),
-- the rule that classified it (rule_id NULL = not classified yet), its optional skills,
-- the pending offer, the overflow stage reached (0 all skills, 1 optional dropped,
-- 2 any team, 3 escalated), why it went where it went, and the SLA bookkeeping.
ALTER TABLE tickets ADD COLUMN queued_at DATETIME(3) NULL,
                    ADD COLUMN rule_id BIGINT UNSIGNED NULL,
                    ADD COLUMN optional_skills LONGTEXT NULL CHECK (optional_skills IS NULL OR JSON_VALID(optional_skills)),
                    ADD COLUMN offer_agent_id BIGINT UNSIGNED NULL,
                    ADD COLUMN offer_expires_at DATETIME(3) NULL,
                    ADD COLUMN routing_stage TINYINT UNSIGNED NOT NULL DEFAULT 0,
                    ADD COLUMN assign_reason LONGTEXT NULL CHECK (assign_reason IS NULL OR JSON_VALID(assign_reason)),
                    ADD COLUMN after_hours_replied TINYINT(1) NOT NULL DEFAULT 0,
                    ADD COLUMN sla_warned TINYINT(1) NOT NULL DEFAULT 0,
                    ADD COLUMN sla_breached TINYINT(1) NOT NULL DEFAULT 0,
                    ADD KEY ix_tickets_waiting (queued_at, priority, id),
                    ADD KEY ix_tickets_offer (offer_agent_id, offer_expires_at),
                    ADD KEY ix_tickets_sla (sla_due_at, sla_breached),
                    ADD KEY ix_tickets_load (assignee_id, channel, status);

-- Every offer made, for "go to the next agent" and for the manager's "why her?".
CREATE TABLE ticket_offers (
  id          BIGINT UNSIGNED AUTO_INCREMENT PRIMARY KEY,
  ticket_id   BIGINT UNSIGNED NOT NULL,
  agent_id    BIGINT UNSIGNED NOT NULL,
  offered_at  DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
  outcome     ENUM('offered','accepted','auto','expired','withdrawn') NOT NULL DEFAULT 'offered',
  reason      LONGTEXT NULL CHECK (reason IS NULL OR JSON_VALID(reason)),
  KEY ix_ticket_offers_ticket (ticket_id, agent_id),
  CONSTRAINT fk_ticket_offers_ticket FOREIGN KEY (ticket_id) REFERENCES tickets(id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_uca1400_as_ci;

-- Targets per priority and channel (channel NULL = any); the most specific row wins.
CREATE TABLE sla_policies (
  id                   BIGINT UNSIGNED AUTO_INCREMENT PRIMARY KEY,
  priority             ENUM('low','normal','high','urgent') NOT NULL,
  channel              ENUM('chat','email','sms','phone','web') NULL,
  first_response_mins  INT UNSIGNED NOT NULL,
  resolution_mins      INT UNSIGNED NOT NULL,
  UNIQUE KEY uq_sla_policies (priority, channel)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_uca1400_as_ci;
INSERT INTO sla_policies (priority, channel, first_response_mins, resolution_mins) VALUES
  ('urgent', NULL, 15, 240), ('high', NULL, 60, 480), ('normal', NULL, 240, 1440), ('low', NULL, 1440, 4320),
  ('urgent', 'chat', 2, 60), ('high', 'chat', 3, 120), ('normal', 'chat', 5, 240), ('low', 'chat', 10, 480);

-- Every waiting, unassigned ticket that exists now starts waiting for the router.
UPDATE tickets SET queued_at = created_at WHERE assignee_id IS NULL AND status IN ('new','open');
