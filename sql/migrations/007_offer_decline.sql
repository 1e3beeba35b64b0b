-- 007_offer_decline: an agent may decline an offer (the agent socket's "decline"); it then
-- goes to the next agent at once instead of waiting out the accept timeout.
ALTER TABLE ticket_offers MODIFY outcome ENUM('offered','accepted','auto','expired','withdrawn','declined') NOT NULL DEFAULT 'offered';
