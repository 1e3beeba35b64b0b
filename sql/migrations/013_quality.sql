-- 013_quality: service-quality signals (issue 10, point 5): complaint keywords that flag a
-- ticket, and customer satisfaction (CSAT) ratings.

-- A customer message containing a keyword (case-insensitive, full-width folded) flags its
-- ticket, raises its priority to at least `priority` and tells the team's manager.
CREATE TABLE quality_keywords (
  id          BIGINT UNSIGNED AUTO_INCREMENT PRIMARY KEY,
  word        VARCHAR(100) NOT NULL,
  priority    ENUM('normal','high','urgent') NOT NULL DEFAULT 'high',
  created_at  DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
  UNIQUE KEY uq_quality_keywords (word)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_uca1400_as_ci;

INSERT INTO quality_keywords (word, priority) VALUES
  ('投诉', 'high'), ('不满意', 'high'), ('差评', 'high'), ('太差', 'high'), ('骗子', 'high'),
  ('举报', 'urgent'), ('律师', 'urgent'), ('起诉', 'urgent'), ('消协', 'urgent'), ('12315', 'urgent'),
  ('complaint', 'high'), ('refund', 'normal'), ('unacceptable', 'high'), ('lawyer', 'urgent'),
  ('chargeback', 'urgent');

-- flagged_at: when a keyword first flagged it (NULL: never); flag_reason: the words found.
ALTER TABLE tickets
  ADD COLUMN flagged_at DATETIME(3) NULL,
  ADD COLUMN flag_reason VARCHAR(255) NULL,
  ADD COLUMN csat_asked_at DATETIME(3) NULL,
  ADD KEY ix_tickets_flagged (flagged_at);

-- One rating per ticket (the first counts; a second submission changes nothing), with
-- who and where it was about, as they were when the ticket was solved.
CREATE TABLE csat_responses (
  id          BIGINT UNSIGNED AUTO_INCREMENT PRIMARY KEY,
  ticket_id   BIGINT UNSIGNED NOT NULL,
  rating      TINYINT UNSIGNED NOT NULL,
  comment     VARCHAR(1000) NULL,
  agent_id    BIGINT UNSIGNED NULL,
  team_id     BIGINT UNSIGNED NULL,
  channel     VARCHAR(16) NOT NULL,
  created_at  DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
  UNIQUE KEY uq_csat_ticket (ticket_id),
  KEY ix_csat_created (created_at),
  CONSTRAINT ck_csat_rating CHECK (rating BETWEEN 1 AND 5)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_uca1400_as_ci;

-- Chat self-service (gateway/kb_answer.c): a bot message offering an article carries it
-- (the widget shows "this solved it" / "talk to a person" under it); the ticket waits
-- (pending, not routed) on that offer, and remembers when the customer solved it alone.
ALTER TABLE messages ADD COLUMN kb_article_id BIGINT UNSIGNED NULL;
ALTER TABLE tickets
  ADD COLUMN kb_offer_message_id BIGINT UNSIGNED NULL,
  ADD COLUMN self_served TINYINT(1) NOT NULL DEFAULT 0;
