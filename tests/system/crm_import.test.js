'use strict';
// crm_import.test.js — POST /api/v1/customers/import and GET /api/v1/customers/export
// (docs/api.md "Import and export"): Chinese header aliases, UTF-8 with and without BOM,
// GBK, ?map=, custom fields by label, tag splitting, Chinese type/stage words, the exact
// rejected-rows report (line numbers counting quoted newlines and blank lines), in-file
// duplicates, updates of existing customers, the importer's data scope, dry runs that
// change nothing, formula neutralisation on export, export → re-import round trips, and
// the bulk target: 100,000 rows with known bad and duplicate rows imported in
// under 30 s, exported again as a stream without the server holding it in memory.
const test = require('node:test');
const assert = require('node:assert/strict');
const { execFileSync } = require('node:child_process');
const {
  startServer, bootstrapAdmin, api, sql, dropDatabase, createAgent, counts, expectError, SANITIZED,
} = require('./harness');
const { csvText, parseCsv, csvObjects, rssKiB } = require('./crm_util');

const V1 = '/api/v1';
const enc = encodeURIComponent;
const CSV = { 'Content-Type': 'text/csv' };
const toGbk = (text) => execFileSync('iconv', ['-f', 'UTF-8', '-t', 'GBK'], { input: Buffer.from(text, 'utf8') });

/** Every customer (not merged) as the API lists it, keyed by id, with the fields an import/export carries. */
async function snapshot(a) {
  const out = {};
  for (let page = 1; ; page++) {
    const r = await a.get(`${V1}/customers?per_page=200&page=${page}`);
    assert.equal(r.status, 200, r.text);
    for (const c of r.json.items) {
      out[c.id] = {
        customer_no: c.customer_no, name: c.name, email: c.email, phone: c.phone, company: c.company,
        industry: c.industry, type: c.type, stage: c.stage, grade: c.grade, source: c.source, region: c.region,
        address: c.address, uscc: c.uscc, owner_id: c.owner_id, tags: [...c.tags].sort(), attrs: c.attrs,
      };
    }
    if (r.json.items.length < 200) return out;
  }
}

test.describe('customer import and export', () => {
  let server;
  let admin;
  let a;
  let S1; let S3; let AG; let MK;
  const q1 = (query) => { const rows = sql(server, query); return rows.length ? rows[0][0] : null; };
  const num = (query) => Number(q1(query));
  const importCsv = (who, body, qs = '', headers = CSV) => who.post(`${V1}/customers/import${qs}`, body, { headers });
  const findBy = async (q) => {
    const r = await a.get(`${V1}/customers?q=${enc(q)}`);
    assert.equal(r.json.items.length, 1, `q=${q}: ${r.text}`);
    return r.json.items[0];
  };
  const TABLES = ['customers', 'customer_identities', 'customer_tags', 'tags', 'companies', 'customer_stage_history',
    'audit_log', 'events'];

  test.before(async () => {
    server = await startServer();
    admin = await bootstrapAdmin(server);
    a = api(server, admin.token);
    const T1 = (await a.post(`${V1}/teams`, { name: '导入一组' })).json;
    const T2 = (await a.post(`${V1}/teams`, { name: '导入二组' })).json;
    S1 = await createAgent(server, admin.token, { role: 'sales', team_id: T1.id, email: 'sales.one@import.example' });
    S3 = await createAgent(server, admin.token, { role: 'sales', team_id: T2.id, email: 'sales.three@import.example' });
    AG = await createAgent(server, admin.token, { role: 'agent' });
    MK = await createAgent(server, admin.token, { role: 'marketer' });
    for (const x of [S1, S3, AG, MK]) x.api = api(server, x.token);
    for (const body of [
      { key: 'budget', label: '预算', type: 'number' },
      { key: 'level', label: '会员等级', type: 'select', options: ['金', '银', '铜'] },
      { key: 'interests', label: '兴趣', type: 'multiselect', options: ['a', 'b', 'c'] },
      { key: 'signed_on', label: '签约日期', type: 'date' },
    ]) {
      const r = await a.post(`${V1}/field-defs`, body);
      assert.equal(r.status, 201, r.text);
    }
  });
  test.after(async () => {
    if (server) {
      await server.stop();
      dropDatabase(server);
    }
  });

  test('Chinese headers, UTF-8 with BOM, custom fields by label, tags split on ; | ； ， 、, Chinese type and stage words', async () => {
    const head = ['姓名', '手机', '邮箱', '公司', '行业', '类型', '阶段', '等级', '来源', '地区', '地址', '统一社会信用代码', '客户编号',
      '标签', '负责人邮箱', '预算', '会员等级', '兴趣', '签约日期', '备注X'];
    const rows = [
      ['张三', '138 0013 8000', 'ZhangSan@Example.cn', '华为技术有限公司', '通信', '老客户', '成交', 'A', '展会', '广东',
        '深圳市龙岗区坂田', '914403001922038216', 'KH-0001', '重要；华南|展会、VIP，大客户', S1.email, '12345.5', '金', 'a;b', '2024/3/5', '忽略'],
      ['李四', '', 'lisi@example.com', '', '', '新客户', '潜在', '', '', '', '', '', '', '', '', '', '', '', '', ''],
      ['王五', '+44 20 7946 0000', '', 'Acme Ltd', '', '流失', '维护', '', '', '', '', '', '', '', '', '', '银', 'c', '2025-12-31', ''],
    ];
    const before = counts(server, ['customers', 'audit_log']);
    const r = await importCsv(a, `\uFEFF${csvText([head, ...rows])}`);
    assert.equal(r.status, 200, r.text);
    assert.deepEqual(r.json, { rows: 3, imported: 3, updated: 0, rejected_count: 0, rejected: [], ignored_columns: ['备注X'], dry_run: false });
    assert.equal(num('SELECT COUNT(*) FROM customers'), before.customers + 3);
    const z = await findBy('zhangsan@example.cn');
    assert.deepEqual(
      [z.name, z.phone, z.email, z.company, z.industry, z.type, z.stage, z.grade, z.source, z.region, z.address, z.uscc, z.customer_no, z.owner_id],
      ['张三', '+8613800138000', 'zhangsan@example.cn', '华为技术有限公司', '通信', 'returning', 'won', 'A', '展会', '广东',
        '深圳市龙岗区坂田', '914403001922038216', 'KH-0001', S1.id]);
    assert.deepEqual([...z.tags].sort(), ['VIP', '华南', '展会', '重要', '大客户'].sort());
    assert.deepEqual(z.attrs, { budget: 12345.5, level: '金', interests: ['a', 'b'], signed_on: '2024-03-05' });
    const l = await findBy('lisi@example.com');
    assert.deepEqual([l.name, l.type, l.stage, l.owner_id, l.phone], ['李四', 'new', 'potential', null, null]);
    const w = await findBy('王五');
    assert.deepEqual([w.phone, w.type, w.stage, w.company], ['+442079460000', 'churned', 'maintain', 'Acme Ltd']);
    assert.deepEqual(w.attrs, { level: '银', interests: ['c'], signed_on: '2025-12-31' });
    const hist = (await a.get(`${V1}/customers/${z.id}`)).json.stage_history;
    assert.deepEqual(hist.map((h) => [h.from_stage, h.to_stage, h.reason]), [[null, 'won', 'import']]);
    // The import is audited once and announced once.
    const audit = sql(server, "SELECT after_json FROM audit_log WHERE action = 'customers.imported' ORDER BY id DESC LIMIT 1");
    assert.equal(JSON.parse(audit[0][0]).imported, 3);
    assert.ok(num("SELECT COUNT(*) FROM events WHERE kind = 'customer.imported'") >= 1);
    // The same file without a BOM, with English keys and LF line ends, also reads.
    const r2 = await importCsv(a, csvText([['name', 'email', 'tags'], ['无BOM', 'nobom@example.com', 'x|y']], '\n'));
    assert.equal(r2.json.imported, 1, r2.text);
    assert.deepEqual([...(await findBy('nobom@example.com')).tags].sort(), ['x', 'y']);
  });

  test('GBK files: charset from Content-Type or ?charset=; undeclared GBK bytes are a 400 naming the line', async () => {
    const text = csvText([
      ['name', 'email', 'company', 'tags', '会员等级'],
      ['赵六', 'zhaoliu@gbk.example', '北京字节跳动科技有限公司', '重要客户；北京', '铜'],
      ['钱七', 'qianqi@gbk.example', '', '', ''],
    ]);
    const gbk = toGbk(text);
    assert.notDeepEqual(gbk, Buffer.from(text, 'utf8'), 'iconv really produced GBK');
    let r = await importCsv(a, gbk, '', { 'Content-Type': 'text/csv; charset=gbk' });
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.imported, 2, r.text);
    const z = await findBy('zhaoliu@gbk.example');
    assert.deepEqual([z.name, z.company, [...z.tags].sort(), z.attrs], ['赵六', '北京字节跳动科技有限公司', ['北京', '重要客户'].sort(), { level: '铜' }]);
    assert.equal(q1(`SELECT HEX(name) FROM customers WHERE id = ${z.id}`), Buffer.from('赵六').toString('hex').toUpperCase());
    // ?charset= wins; the rows now update the same customers.
    r = await importCsv(a, gbk, '?charset=GBK');
    assert.equal(r.status, 200, r.text);
    assert.deepEqual([r.json.imported, r.json.updated], [0, 2], r.text);
    // Undeclared: a clear 400 naming the first bad line; nothing written.
    const snap = counts(server, TABLES);
    r = await importCsv(a, toGbk(csvText([['name', 'email'], ['ascii', 'ascii@gbk.example'], ['孙八', 'sunba@gbk.example']])));
    const e = expectError(r, 400);
    assert.match(e.message, /line 3/, r.text);
    r = await importCsv(a, gbk, '?charset=klingon');
    expectError(r, 400);
    assert.deepEqual(counts(server, TABLES), snap);
  });

  test('?map= maps any header to a field or custom field; bad maps and files are 400s; only CSV is accepted', async () => {
    const map = { 客户全称: 'name', 'Mobile No': 'phone', 预算金额: 'budget', 档次: 'attrs.level' };
    const text = csvText([['客户全称', 'Mobile No', '预算金额', '档次', 'Company'], ['映射客户', '13911112222', '88', '金', '映射公司']]);
    let r = await importCsv(a, text, `?map=${enc(JSON.stringify(map))}`);
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.imported, 1, r.text);
    const c = await findBy('13911112222');
    assert.deepEqual([c.name, c.company, c.attrs], ['映射客户', '映射公司', { budget: 88, level: '金' }]);
    const snap = counts(server, TABLES);
    for (const [body, qs, what] of [
      [text, '', 'no name column'],
      [text, `?map=${enc('{not json')}`, 'bad JSON map'],
      [text, `?map=${enc('["name"]')}`, 'map not an object'],
      [text, `?map=${enc(JSON.stringify({ ...map, Company: 'shoe_size' }))}`, 'unknown target'],
      [text, `?map=${enc(JSON.stringify({ ...map, Company: 'name' }))}`, 'two columns to one field'],
      ['', '', 'empty file'],
      ['\uFEFF', '', 'only a BOM'],
    ]) {
      r = await importCsv(a, body, qs);
      assert.equal(r.status, 400, `${what}: ${r.status} ${r.text}`);
      expectError(r, 400);
    }
    // 手机 and 电话 both mean phone: refused whole, until one is skipped with null (or "")
    const two = csvText([['姓名', '手机', '电话'], ['双号码客户', '13911113333', '010-12345678']]);
    r = await importCsv(a, two, '');
    assert.equal(r.status, 400);
    assert.match(r.json.error.message, /both map to the same field/);
    for (const skip of [null, '']) {
      r = await importCsv(a, two, `?dry_run=1&map=${enc(JSON.stringify({ 电话: skip }))}`);
      assert.equal(r.status, 200, r.text);
      assert.deepEqual([r.json.imported, r.json.rejected_count, r.json.ignored_columns], [1, 0, []]);
    }
    expectError(await a.post(`${V1}/customers/import`, { name: 'json' }), 415);
    expectError(await AG.api.post(`${V1}/customers/import`, text, { headers: CSV }), 403);
    expectError(await MK.api.post(`${V1}/customers/import`, text, { headers: CSV }), 403);
    assert.deepEqual(counts(server, TABLES), snap);
  });

  test('the rejected-rows report is exact: physical line numbers (quoted newlines, blank lines), every bad field, in-file duplicates', async () => {
    const lines = [
      /* 1 */ 'name,email,phone,type,stage,uscc,budget,level,signed_on,customer_no,负责人邮箱,address',
      /* 2 */ '好行一,good1@rej.example,13900000001,,,,,,,,,',
      /* 3 */ '好行二,good2@rej.example,13900000002,,,,,,,,,"上海市',
      /* 4 */ '浦东新区, ""世纪大道"" 100 号"',
      /* 5 */ ',noname@rej.example,,,,,,,,,,',
      /* 6 */ '坏邮箱,not-an-email,,,,,,,,,,',
      /* 7 */ '十位电话,,1390000000,,,,,,,,,',
      /* 8 */ '',
      /* 9 */ '坏类型,,,VIP,,,,,,,,',
      /* 10 */ '坏阶段,,,,unknown,,,,,,,',
      /* 11 */ '坏信用代码,,,,,ABC,,,,,,',
      /* 12 */ '坏预算,,,,,,abc,,,,,',
      /* 13 */ '坏等级,,,,,,,钻石,,,,',
      /* 14 */ '坏日期,,,,,,,,2026-02-30,,,',
      /* 15 */ '重复邮箱,GOOD1@rej.example,,,,,,,,,,',
      /* 16 */ '重复电话,,139 0000 0002,,,,,,,,,',
      /* 17 */ '好行三,,,,,,,,,NO-1,,',
      /* 18 */ '重复编号,,,,,,,,,NO-1,,',
      /* 19 */ '未知负责人,,,,,,,,,,nobody@rej.example,',
      /* 20 */ '多格,,,,,,,,,,,,extra',
      /* 21 */ ',bad@,123,,,,,,,,,',
      /* 22 */ '再次重复,good1@rej.example,,,,,,,,,,',
      /* 23 */ '好行四,good4@rej.example,+86 139-0000-0004,new,contacted,,1e3,银,2026-1-5,,,',
    ];
    const body = lines.join('\r\n');
    const expected = [
      [5, ['name']], [6, ['email']], [7, ['phone']], [9, ['type']], [10, ['stage']], [11, ['uscc']],
      [12, ['attrs.budget']], [13, ['attrs.level']], [14, ['attrs.signed_on']],
      [15, { email: 'duplicate of line 2' }], [16, { phone: 'duplicate of line 3' }], [18, { customer_no: 'duplicate of line 17' }],
      [19, ['owner_email']], [20, ['row']], [21, ['email', 'name', 'phone']], [22, { email: 'duplicate of line 2' }],
    ];
    for (const dry of [true, false]) {
      const r = await importCsv(a, body, dry ? '?dry_run=1' : '');
      assert.equal(r.status, 200, r.text);
      assert.equal(r.json.rows, 20, r.text);
      assert.equal(r.json.imported, 4, r.text);
      assert.equal(r.json.updated, 0);
      assert.equal(r.json.rejected_count, expected.length);
      assert.equal(r.json.dry_run, dry);
      assert.deepEqual(r.json.rejected.map((x) => x.line), expected.map(([line]) => line), JSON.stringify(r.json.rejected));
      for (const [i, [line, want]] of expected.entries()) {
        const got = r.json.rejected[i].errors;
        if (Array.isArray(want)) {
          assert.deepEqual(Object.keys(got).sort(), want, `line ${line}: ${JSON.stringify(got)}`);
          for (const k of want) assert.ok(typeof got[k] === 'string' && got[k].length > 0, `line ${line} ${k}`);
        } else {
          assert.deepEqual(got, want, `line ${line}`);
        }
      }
    }
    const g2 = await findBy('good2@rej.example');
    assert.equal(g2.address.replace(/\r\n/g, '\n'), '上海市\n浦东新区, "世纪大道" 100 号', 'the quoted newline is kept');
    const g4 = await findBy('good4@rej.example');
    assert.deepEqual([g4.phone, g4.type, g4.stage, g4.attrs], ['+8613900000004', 'new', 'contacted', { budget: 1000, level: '银', signed_on: '2026-01-05' }]);
    assert.equal((await findBy('NO-1')).name, '好行三');
    assert.equal((await a.get(`${V1}/customers?q=${enc('重复')}`)).json.total, 0, 'no rejected row was written');
  });

  test('dry run checks everything and writes nothing; the real run then reports the same numbers', async () => {
    const ex = (await a.post(`${V1}/customers`, { name: '演练已有', email: 'dry.existing@example.com', tags: ['旧'] })).json;
    const text = csvText([
      ['姓名', '邮箱', '手机', '公司', '标签', '阶段', '预算'],
      ['演练一', 'dry1@example.com', '13800000101', '演练新公司甲', '演练;新', '已联系', '1'],
      ['演练二', 'dry2@example.com', '', '演练新公司乙', '', '', ''],
      ['演练三', '', '13800000103', '', '演练', '', ''],
      ['演练四', 'dry4@example.com', '', '', '', '', ''],
      ['演练五', 'dry5@example.com', '', '', '', '', '2.5'],
      ['演练已有改', 'DRY.existing@example.com', '', '', '新', '方案', ''],
      ['', 'dry-noname@example.com', '', '', '', '', ''],
      ['演练坏', 'dry-bad@', '', '', '', '', ''],
    ]);
    const checksum = () => sql(server, `SELECT
      (SELECT MD5(GROUP_CONCAT(CONCAT_WS('|', id, name, COALESCE(company_id, ''), type, stage, COALESCE(owner_id, ''), attrs, updated_at) ORDER BY id)) FROM customers),
      (SELECT MD5(GROUP_CONCAT(CONCAT_WS('|', id, customer_id, kind, value) ORDER BY id)) FROM customer_identities),
      (SELECT MD5(GROUP_CONCAT(CONCAT_WS('|', customer_id, tag_id) ORDER BY customer_id, tag_id)) FROM customer_tags)`)[0];
    const beforeCounts = counts(server, TABLES);
    const beforeSum = checksum();
    const dry = await importCsv(a, text, '?dry_run=1');
    assert.equal(dry.status, 200, dry.text);
    assert.deepEqual([dry.json.rows, dry.json.imported, dry.json.updated, dry.json.rejected_count, dry.json.dry_run], [8, 5, 1, 2, true], dry.text);
    assert.deepEqual(counts(server, TABLES), beforeCounts, 'a dry run wrote rows');
    assert.deepEqual(checksum(), beforeSum, 'a dry run changed rows');
    const real = await importCsv(a, text);
    assert.equal(real.status, 200, real.text);
    assert.deepEqual({ ...real.json, dry_run: true }, dry.json, 'the dry run predicted the real run');
    assert.equal(num('SELECT COUNT(*) FROM customers'), beforeCounts.customers + 5);
    const got = (await a.get(`${V1}/customers/${ex.id}`)).json;
    assert.deepEqual([got.name, got.stage, [...got.tags].sort()], ['演练已有改', 'proposal', ['新', '旧'].sort()]);
    assert.deepEqual(got.stage_history.map((h) => [h.from_stage, h.to_stage, h.reason]),
      [['potential', 'proposal', 'import'], [null, 'potential', 'created']]);
  });

  test('rows matching existing customers update them: non-empty cells win, tags are added, each update audited with before and after', async () => {
    const mk = async (body) => (await a.post(`${V1}/customers`, body)).json;
    const c1 = await mk({ name: '老客户甲', email: 'old.a@upd.example', phone: '13600000001', industry: '零售', region: '华南', tags: ['原有'], attrs: { budget: 1, level: '铜' } });
    const c2 = await mk({ name: '老客户乙', phone: '13600000002', region: '华北', industry: '能源' });
    const c3 = await mk({ name: '老客户丙', customer_no: 'CUST-3', address: '旧地址' });
    const text = csvText([
      ['name', 'email', 'phone', 'industry', 'region', 'tags', 'budget', 'customer_no', 'address'],
      ['老客户甲（新）', 'OLD.A@upd.example', '', '', '华东', '新标签', '2', '', ''],
      ['老客户乙', '', '136 0000 0002', '制造', '', '', '', '', ''],
      ['老客户丙', 'c3@upd.example', '', '', '', '', '', 'CUST-3', '新地址'],
    ]);
    const r = await importCsv(a, text);
    assert.equal(r.status, 200, r.text);
    assert.deepEqual([r.json.imported, r.json.updated, r.json.rejected_count], [0, 3, 0], r.text);
    const g1 = (await a.get(`${V1}/customers/${c1.id}`)).json;
    assert.deepEqual([g1.name, g1.industry, g1.region, g1.phone, [...g1.tags].sort(), g1.attrs],
      ['老客户甲（新）', '零售', '华东', '+8613600000001', ['原有', '新标签'].sort(), { budget: 2, level: '铜' }]);
    const g2 = (await a.get(`${V1}/customers/${c2.id}`)).json;
    assert.deepEqual([g2.industry, g2.region], ['制造', '华北']);
    const g3 = (await a.get(`${V1}/customers/${c3.id}`)).json;
    assert.deepEqual([g3.address, g3.email], ['新地址', 'c3@upd.example'], 'the row\'s e-mail becomes an identity');
    // Identities pointing at two customers: rejected, neither changes.
    const c4 = await mk({ name: '冲突甲', email: 'conflict@upd.example' });
    const c5 = await mk({ name: '冲突乙', phone: '13600000077' });
    const r2 = await importCsv(a, csvText([['name', 'email', 'phone'], ['冲突行', 'conflict@upd.example', '13600000077']]));
    assert.equal(r2.json.rejected_count, 1, r2.text);
    const errs = r2.json.rejected[0].errors;
    assert.equal(r2.json.rejected[0].line, 2);
    assert.equal(Object.keys(errs).length, 1, JSON.stringify(errs));
    assert.ok(['email', 'phone'].includes(Object.keys(errs)[0]), JSON.stringify(errs));
    assert.equal((await a.get(`${V1}/customers/${c4.id}`)).json.name, '冲突甲');
    assert.equal((await a.get(`${V1}/customers/${c5.id}`)).json.name, '冲突乙');
    // Every change to a customer is audited with before and after (docs: "Customers").
    const rows = sql(server, `SELECT object_id, before_json, after_json FROM audit_log WHERE object_type = 'customer'
      AND object_id IN (${c1.id}, ${c2.id}, ${c3.id}) AND action LIKE '%import%' ORDER BY object_id`);
    assert.equal(rows.length, 3, JSON.stringify(rows));
    for (const [id, before, after] of rows) {
      assert.ok(after && JSON.parse(after), `audit after for ${id}`);
      assert.ok(before && JSON.parse(before), `an import update of customer ${id} must record the customer before it (audit before_json is ${before})`);
    }
  });

  test('a sales importer: new rows are theirs; identities or owners outside their scope are rejected, never updated', async () => {
    const mine = (await a.post(`${V1}/customers`, { name: '一组的客户', email: 's1.cust@scope-import.example', owner_id: S1.id, industry: '原行业' })).json;
    const text = csvText([
      ['name', 'email', 'industry', 'owner_email'],
      ['三组新客户', 's3.new@scope-import.example', '', ''],
      ['越权更新', 'S1.Cust@scope-import.example', '篡改', ''],
      ['越权负责人', 'other@scope-import.example', '', S1.email],
    ]);
    const dry = await importCsv(S3.api, text, '?dry_run=1');
    const r = await importCsv(S3.api, text);
    for (const x of [dry, r]) {
      assert.equal(x.status, 200, x.text);
      assert.deepEqual([x.json.imported, x.json.updated, x.json.rejected_count], [1, 0, 2], x.text);
      assert.deepEqual(x.json.rejected.map((y) => [y.line, Object.keys(y.errors)]), [[3, ['email']], [4, ['owner_email']]]);
      assert.ok(!JSON.stringify(x.json).includes(String(mine.customer_no)), 'the answer names the out-of-scope customer');
    }
    const got = (await a.get(`${V1}/customers/${mine.id}`)).json;
    assert.deepEqual([got.name, got.industry, got.owner_id], ['一组的客户', '原行业', S1.id]);
    const created = (await S3.api.get(`${V1}/customers?q=${enc('s3.new@scope-import.example')}`)).json.items;
    assert.equal(created.length, 1);
    assert.equal(created[0].owner_id, S3.id);
    assert.equal(num("SELECT COUNT(*) FROM customers WHERE name IN ('越权负责人', '越权更新')"), 0);
  });

  test('export: CSV with BOM, formula cells neutralised with a quote, the importer strips it again', async () => {
    const evil = ['=1+2', '+SUM(A1:A9)', '-10', '@cmd', '=HYPERLINK("http://evil.example","点我")'];
    const ids = [];
    for (const [i, name] of evil.entries()) {
      const r = await a.post(`${V1}/customers`, { name, address: i === 0 ? '=CALL("x")' : '普通地址', tags: ['ftest'], phone: `1370000010${i}` });
      assert.equal(r.status, 201, r.text);
      ids.push(r.json.id);
    }
    const res = await fetch(`${server.url}${V1}/customers/export?tag=ftest`, { headers: { Authorization: `Bearer ${admin.token}` } });
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type'), /^text\/csv/);
    assert.match(res.headers.get('content-disposition') || '', /attachment/);
    const bytes = Buffer.from(await res.arrayBuffer());
    assert.deepEqual([...bytes.subarray(0, 3)], [0xef, 0xbb, 0xbf], 'UTF-8 BOM');
    const text = bytes.toString('utf8');
    const recs = csvObjects(text);
    assert.equal(recs.length, evil.length);
    for (const name of evil) {
      const rec = recs.find((x) => x.name.replace(/^'/, '') === name);
      assert.ok(rec, `${name} exported: ${text}`);
      if (/^[=+\-@]/.test(name)) assert.equal(rec.name, `'${name}`, `formula cell ${name} not neutralised`);
    }
    for (const rec of recs) {
      for (const [col, v] of Object.entries(rec)) assert.ok(!/^[=+\-@]/.test(v), `column ${col} starts a formula: ${v}`);
      assert.match(rec.phone, /^'\+86137/);
    }
    assert.equal(recs.find((x) => x.name === "'=1+2").address, `'=CALL("x")`);
    // Re-importing the export restores the values, not the quotes.
    const r = await importCsv(a, text);
    assert.equal(r.status, 200, r.text);
    assert.deepEqual([r.json.imported, r.json.updated, r.json.rejected_count], [0, evil.length, 0], r.text);
    const names = sql(server, `SELECT name FROM customers WHERE id IN (${ids.join(',')}) ORDER BY id`).map((x) => x[0]);
    assert.deepEqual(names, evil);
    assert.equal(q1(`SELECT address FROM customers WHERE id = ${ids[0]}`), '=CALL("x")');
    // Roles and filters.
    expectError(await AG.api.get(`${V1}/customers/export`), 403);
    const mk = await MK.api.get(`${V1}/customers/export?tag=ftest`);
    assert.equal(mk.status, 200, mk.text.slice(0, 200));
    assert.equal(csvObjects(mk.text).length, evil.length);
    const byQ = csvObjects((await a.get(`${V1}/customers/export?q=${enc('HYPERLINK')}`)).text);
    assert.deepEqual(byQ.map((x) => x.name), [`'${evil[4]}`]);
    assert.ok(num("SELECT COUNT(*) FROM audit_log WHERE action = 'customers.exported'") >= 3, 'exports are audited');
  });

  test('export → re-import round trip: every row "updated", nothing imported or rejected, nothing changed', async () => {
    const before = await snapshot(a);
    const n = Object.keys(before).length;
    assert.ok(n >= 20, `too few customers for a round trip (${n})`);
    const exp = await a.get(`${V1}/customers/export`);
    assert.equal(exp.status, 200);
    const recs = parseCsv(exp.text);
    assert.equal(recs.length - 1, n, 'one record per customer');
    const r = await importCsv(a, exp.text);
    assert.equal(r.status, 200, r.text);
    assert.deepEqual([r.json.rows, r.json.imported, r.json.updated, r.json.rejected_count], [n, 0, n, 0], JSON.stringify(r.json).slice(0, 2000));
    assert.deepEqual(r.json.ignored_columns.sort(), ['created_at', 'last_contact_at'].sort());
    const after = await snapshot(a);
    for (const id of Object.keys(before)) assert.deepEqual(after[id], before[id], `customer ${id} changed by the round trip`);
    assert.equal(Object.keys(after).length, n);
  });

  test('the same file imported twice at once: every customer exactly once, no 500', async () => {
    const rows = [['name', 'email', 'phone', 'company']];
    for (let i = 0; i < 1500; i++) rows.push([`并发导入 ${i}`, `par${i}@parallel.example`, `1350${String(i).padStart(7, '0')}`, `并发公司 ${i % 50}`]);
    const text = csvText(rows);
    const rs = await Promise.all([importCsv(a, text), importCsv(a, text)]);
    for (const r of rs) assert.ok(r.status === 200 || r.status === 409 || r.status === 503, `${r.status} ${r.text.slice(0, 300)}`);
    const ok = rs.filter((r) => r.status === 200);
    assert.ok(ok.length >= 1, rs.map((r) => r.text.slice(0, 200)).join('\n'));
    assert.equal(num("SELECT COUNT(*) FROM customer_identities WHERE value LIKE 'par%@parallel.example'"), 1500);
    assert.equal(num("SELECT COUNT(*) FROM customers WHERE name LIKE '并发导入 %'"), 1500);
    assert.equal(num("SELECT COUNT(*) FROM companies WHERE name LIKE '并发公司 %'"), 50, 'companies created twice');
    if (ok.length === 2) {
      assert.deepEqual(ok.map((r) => [r.json.imported, r.json.updated]).sort(), [[0, 1500], [1500, 0]]);
    }
  });

  test('a file over [server] import_limit (64 MiB) is a 413 and changes nothing', async () => {
    const row = Buffer.from('超限客户,over@limit.example,13900001234,超限公司\r\n', 'utf8');
    const head = Buffer.from('name,email,phone,company\r\n', 'utf8');
    const n = Math.ceil((64 * 1048576 + 4096) / row.length);
    const body = Buffer.concat([head, Buffer.alloc(row.length * n)]);
    for (let i = 0; i < n; i++) row.copy(body, head.length + i * row.length);
    const snap = counts(server, TABLES);
    const r = await importCsv(a, body);
    expectError(r, 413);
    assert.deepEqual(counts(server, TABLES), snap);
    assert.equal((await a.get(`${V1}/customers?per_page=1`)).status, 200, 'the server still answers');
  });

  test('round trip: a value that itself starts with an apostrophe survives export → import', async () => {
    const names = ["'=literal", "'+86 kept", "'plain"];
    const ids = [];
    for (const name of names) ids.push((await a.post(`${V1}/customers`, { name, tags: ['apos'] })).json.id);
    const exp = await a.get(`${V1}/customers/export?tag=apos`);
    const r = await importCsv(a, exp.text);
    assert.deepEqual([r.json.updated, r.json.rejected_count], [names.length, 0], r.text);
    const got = sql(server, `SELECT name FROM customers WHERE id IN (${ids.join(',')}) ORDER BY id`).map((x) => x[0]);
    assert.deepEqual(got, names);
  });
});

// ---------------------------------------------------------------------------- 100k

test('100,000 rows with 600 known bad rows: the exact report; the export streams without holding the file in memory', async (t) => {
  const server = await startServer();
  let second = null;
  try {
    const admin = await bootstrapAdmin(server);
    const a = api(server, admin.token);
    assert.equal((await a.post(`${V1}/field-defs`, { key: 'budget', label: '预算', type: 'number' })).status, 201);
    const N = 100000;
    const lines = ['姓名,邮箱,手机,公司,地区,标签,预算'];
    const expected = [];
    for (let i = 0; i < N; i++) {
      const line = i + 2;
      let name = `客户${i}`;
      let email = `u${i}@bulk.example`;
      let phone = `139${String(i).padStart(8, '0')}`;
      if (i % 500 === 7) { name = ''; expected.push({ line, errors: ['name'] }); }
      else if (i % 1000 === 13) { email = `bad-email-${i}`; expected.push({ line, errors: ['email'] }); }
      else if (i % 1000 === 517) { phone = phone.slice(1); expected.push({ line, errors: ['phone'] }); }
      else if (i % 500 === 250) { email = `u${i - 1}@bulk.example`; expected.push({ line, errors: { email: `duplicate of line ${line - 1}` } }); }
      lines.push(`${name},${email},${phone},公司${i % 20000}有限公司,${['华东', '华南', '华北'][i % 3]},bulk;t${i % 10},${i}`);
    }
    assert.equal(expected.length, 600);
    const body = Buffer.from(`${lines.join('\r\n')}\r\n`, 'utf8');
    const t0 = process.hrtime.bigint();
    const r = await a.post(`${V1}/customers/import`, body, { headers: CSV });
    const secs = Number(process.hrtime.bigint() - t0) / 1e9;
    t.diagnostic(`import of ${N} rows (${(body.length / 1048576).toFixed(1)} MiB): ${secs.toFixed(2)} s`);
    assert.equal(r.status, 200, r.text.slice(0, 500));
    assert.deepEqual([r.json.rows, r.json.imported, r.json.updated, r.json.rejected_count], [N, N - 600, 0, 600]);
    assert.equal(r.json.rejected.length, 600);
    for (const [k, want] of expected.entries()) {
      const got = r.json.rejected[k];
      assert.equal(got.line, want.line, `rejected[${k}]`);
      if (Array.isArray(want.errors)) assert.deepEqual(Object.keys(got.errors), want.errors, `line ${want.line}: ${JSON.stringify(got)}`);
      else assert.deepEqual(got.errors, want.errors, `line ${want.line}`);
    }
    assert.equal(Number(sql(server, 'SELECT COUNT(*) FROM customers')[0][0]), N - 600);
    assert.equal(Number(sql(server, "SELECT COUNT(*) FROM customer_identities WHERE kind = 'email'")[0][0]), N - 600);
    assert.equal(Number(sql(server, 'SELECT COUNT(DISTINCT customer_no) FROM customers')[0][0]), N - 600);
    assert.equal(Number(sql(server, "SELECT COUNT(*) FROM customer_tags ct JOIN tags t ON t.id = ct.tag_id WHERE t.name = 'bulk'")[0][0]), N - 600);
    // the "< 30 s" is judged by `make bench` (bench/customer_import.js), not here:
    // no timed assertions in tests

    // Export the lot from a freshly started server (same database), sampling its RSS
    // while the answer streams.
    await server.stop();
    second = await startServer({ dbName: server.dbName, migrate: false });
    const tok = (await api(second).post(`${V1}/auth/login`, { email: 'admin@example.com', password: 'admin-pass-123' })).json.token;
    const pid = second.proc.pid;
    const base = rssKiB(pid);
    let peak = base;
    const timer = setInterval(() => { try { peak = Math.max(peak, rssKiB(pid)); } catch { /* gone */ } }, 5);
    const t1 = process.hrtime.bigint();
    const res = await fetch(`${second.url}${V1}/customers/export`, { headers: { Authorization: `Bearer ${tok}` } });
    assert.equal(res.status, 200);
    const chunks = [];
    let size = 0;
    for await (const chunk of res.body) {
      chunks.push(chunk);
      size += chunk.length;
      peak = Math.max(peak, rssKiB(pid));
    }
    clearInterval(timer);
    const esecs = Number(process.hrtime.bigint() - t1) / 1e9;
    const growthKiB = peak - base;
    t.diagnostic(`export: ${size} bytes in ${esecs.toFixed(2)} s; server RSS ${base} KiB → peak ${peak} KiB (+${growthKiB} KiB = ${(growthKiB * 1024 / size * 100).toFixed(1)} % of the CSV)`);
    const text = Buffer.concat(chunks).toString('utf8');
    const recs = parseCsv(text);
    assert.equal(recs.length - 1, N - 600, 'one record per customer');
    assert.equal(recs[0][0], 'customer_no');
    const names = new Set(recs.slice(1).map((x) => x[1]));
    assert.ok(names.has('客户0') && names.has(`客户${N - 1}`) && !names.has('客户7'));
    if (SANITIZED) { // ASan keeps freed memory in its quarantine (256 MiB): RSS says nothing there
      t.diagnostic('RSS not judged under AddressSanitizer; the uninstrumented run judges it');
    } else {
      assert.ok(growthKiB * 1024 < size / 2, `server RSS grew by ${growthKiB} KiB while exporting ${size} bytes`);
    }
  } finally {
    if (second) await second.stop();
    else await server.stop();
    dropDatabase(server);
  }
});
