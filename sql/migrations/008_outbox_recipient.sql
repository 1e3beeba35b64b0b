-- 008_outbox_recipient: the SMS sender's per-number limit counts a number's recent rows;
-- without this index that count read the whole outbox for every message sent.
ALTER TABLE outbox ADD KEY ix_outbox_recipient (channel, recipient, state, updated_at);
