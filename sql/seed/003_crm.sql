-- Demo sales data (loaded by `make run` only): custom fields, a pipeline with deals in
-- every stage, leads, follow-ups and the sales team's manager.
UPDATE teams SET manager_id = (SELECT id FROM agents WHERE email = 'manager@example.com') WHERE name = '销售部 Sales';
UPDATE agents SET region = '华东 East China' WHERE email = 'sales@example.com';

INSERT INTO field_defs (`key`, label, type, options, required, position) VALUES
  ('budget', '预算 Budget (¥)', 'number', NULL, 0, 10),
  ('products', '意向产品 Products', 'multiselect', '["服务器 Servers","存储 Storage","网络 Network","云服务 Cloud"]', 0, 20),
  ('contract_end', '合同到期 Contract end', 'date', NULL, 0, 30),
  ('level', '客户等级 Level', 'select', '["VIP","重点 Key","普通 Normal"]', 0, 40);

UPDATE customers SET attrs = JSON_OBJECT('budget', 50000 + id * 7000, 'level', ELT(1 + id % 3, 'VIP', '重点 Key', '普通 Normal'),
                                         'products', JSON_ARRAY(ELT(1 + id % 4, '服务器 Servers', '存储 Storage', '网络 Network', '云服务 Cloud')))
  WHERE id <= 30;

INSERT INTO deals (customer_id, title, stage_id, status, amount, currency, expected_close, owner_id, payment_due, competitor,
                   win_loss_reason, stage_entered_at, created_at, closed_at)
SELECT c.id, CONCAT(ELT(1 + c.id % 5, '服务器采购', '存储扩容', '网络改造', '年度维保', 'Cloud migration'), ' · ', c.name),
       s.id, s.kind, 20000 + (c.id * 3517) % 480000, IF(c.id % 7 = 0, 'USD', 'CNY'),
       CURDATE() + INTERVAL (c.id % 60) DAY, COALESCE(c.owner_id, (SELECT id FROM agents WHERE email = 'sales@example.com')),
       IF(c.id % 9 = 0, CURDATE() + INTERVAL 2 DAY, NULL), IF(c.id % 4 = 0, '友商 A 报价低 5%', NULL),
       IF(s.kind = 'lost', '预算冻结 Budget frozen', NULL), NOW(3) - INTERVAL (c.id % 20) DAY,
       NOW(3) - INTERVAL (20 + c.id % 40) DAY, IF(s.kind = 'open', NULL, NOW(3) - INTERVAL (c.id % 10) DAY)
FROM customers c JOIN pipeline_stages s ON s.position = 10 * (1 + c.id % 5)
WHERE c.id <= 24;

INSERT INTO deal_stage_history (deal_id, from_stage_id, to_stage_id, at)
SELECT d.id, NULL, d.stage_id, d.created_at FROM deals d;

INSERT INTO activities (customer_id, deal_id, owner_id, method, content, next_step, next_at, happened_at)
SELECT d.customer_id, d.id, d.owner_id, ELT(1 + d.id % 5, 'call', 'visit', 'email', 'wechat', 'other'),
       ELT(1 + d.id % 4, '电话沟通需求，客户关注价格与交付周期', '上门拜访，演示了产品方案', '发送报价单和技术白皮书',
           'WeChat follow-up: asked for a reference customer'),
       ELT(1 + d.id % 3, '发正式报价', '安排技术交流', 'Send the contract draft'),
       NOW(3) + INTERVAL (d.id % 5) DAY, NOW(3) - INTERVAL (d.id % 6) DAY
FROM deals d WHERE d.status = 'open';
UPDATE customers c JOIN (SELECT customer_id, MAX(happened_at) AS at FROM activities GROUP BY customer_id) a
  ON a.customer_id = c.id SET c.last_followup_at = a.at;

INSERT INTO leads (name, company, email, phone, source, grade, region, owner_id, assigned_by, status, notes) VALUES
  ('周杰', '苏州精工机械有限公司', 'zhoujie@example.cn', '+8613912345001', '展会 trade show', 'A', '华东 East China',
   (SELECT id FROM agents WHERE email = 'sales@example.com'), 'region', 'new', '对数控设备联网方案感兴趣'),
  ('Laura Chen', 'Bright Future Education', 'laura@example.com', '+8613912345002', 'website', 'B', '华南 South China',
   (SELECT id FROM agents WHERE email = 'sales@example.com'), 'least_busy', 'working', 'Asked for a demo next week'),
  ('吴磊', '成都天府物流', NULL, '+8613912345003', '转介绍 referral', 'C', '西南 Southwest',
   (SELECT id FROM agents WHERE email = 'sales@example.com'), 'least_busy', 'new', NULL);
