-- Demo teams (loaded by `make run` only, never by `switchboard migrate`).
INSERT INTO teams (name, description) VALUES
  ('客服一组 Support A', 'Chat and e-mail support, Chinese and English'),
  ('Support B', 'E-mail and SMS support, billing'),
  ('销售部 Sales', 'New business and renewals');
