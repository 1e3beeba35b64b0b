-- 002_webchat: chat visitors (web chat channel issue).
-- A visitor is known by a random token the widget keeps; only its SHA-256 is stored. Its
-- customer is created by the ingest writer with the first message, under the identity
-- ('chat', 'v<visitor id>') — the token itself never appears in the database.
CREATE TABLE chat_visitors (
  id            BIGINT UNSIGNED AUTO_INCREMENT PRIMARY KEY,
  token_hash    BINARY(32) NOT NULL,
  name          VARCHAR(200) NULL,
  email         VARCHAR(254) NULL,
  created_at    DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
  last_seen_at  DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
  UNIQUE KEY uq_chat_visitors_token (token_hash)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_uca1400_as_ci;

CREATE INDEX ix_agent_presence_status ON agent_presence (status, heartbeat_at);
