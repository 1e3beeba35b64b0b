-- 011_campaign_results: what came back from a campaign (issue 9, point 5): bounces and
-- delivery reports on the ledger row, the ticket a reply opened, and the ledger found by
-- the provider's id (an e-mail's Message-ID, an SMS's message SID) when they arrive.

ALTER TABLE campaign_recipients
  ADD COLUMN bounced_at DATETIME(3) NULL AFTER delivered_at,
  ADD COLUMN bounce_reason VARCHAR(255) NULL AFTER bounced_at,
  ADD COLUMN reply_ticket_id BIGINT UNSIGNED NULL AFTER replied_at,
  ADD KEY ix_recipients_provider (provider_id),
  ADD KEY ix_recipients_customer_sent (customer_id, channel, sent_at),
  DROP KEY ix_recipients_customer; -- the key above starts with customer_id

-- A ticket opened by a reply to a campaign remembers it (the console links them).
ALTER TABLE tickets
  ADD COLUMN campaign_id BIGINT UNSIGNED NULL,
  ADD KEY ix_tickets_campaign (campaign_id);
