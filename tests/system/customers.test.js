'use strict';
// customers.test.js — the customer API: Unicode round trips (Foundation issue: "Chinese
// names and emoji round-trip through create/read/list/search"), search by name, phone as
// typed, email and tag, pagination, PATCH, duplicates (409 existing_id, allow_duplicate),
// identities and tags endpoints, audit_log rows, and the sales data scope (DESIGN.md
// section 10: another scope's object is 404, lists are filtered in SQL).
const test = require('node:test');
const assert = require('node:assert/strict');
const {
  startServer, bootstrapAdmin, api, sql, dropDatabase, createAgent, counts, expectError,
} = require('./harness');

const enc = encodeURIComponent;

test.describe('customers', () => {
  let server;
  let admin;
  let a;

  test.before(async () => {
    server = await startServer();
    admin = await bootstrapAdmin(server);
    a = api(server, admin.token);
    sql(server, "INSERT INTO field_defs (`key`, label, type) VALUES ('coupon', '优惠券', 'text'), ('budget', 'Budget', 'number')");
  });
  test.after(async () => {
    if (server) {
      await server.stop();
      dropDatabase(server);
    }
  });

  const names = ['张伟 😀', 'Ünïcødé', '李小龙🐉', '𠮷野家 (ext-B)', 'مرحبا بالعالم', '👩‍👩‍👧 family', 'e\u0301 combining'];

  test('Chinese names and emoji round-trip through create, read, list and search', async () => {
    const created = [];
    for (const [i, name] of names.entries()) {
      const res = await a.post('/api/v1/customers', {
        name,
        email: `u${i}@example.com`,
        company: '阿里巴巴（中国）有限公司',
        address: '浙江省杭州市余杭区文一西路969号 🏢',
        region: '华东',
        industry: '电子商务',
        source: '展会',
        attrs: { coupon: `优惠券🎁${i}` },
        tags: ['重要客户', 'VIP'],
      });
      assert.equal(res.status, 201, `${name}: ${res.text}`);
      assert.equal(res.json.name, name);
      assert.equal(res.json.company, '阿里巴巴（中国）有限公司');
      assert.equal(res.json.address, '浙江省杭州市余杭区文一西路969号 🏢');
      assert.deepEqual(res.json.attrs, { coupon: `优惠券🎁${i}` });
      assert.deepEqual([...res.json.tags].sort(), ['VIP', '重要客户'].sort());
      created.push(res.json);
    }
    for (const c of created) {
      const got = await a.get(`/api/v1/customers/${c.id}`);
      assert.equal(got.status, 200, got.text);
      assert.equal(got.json.name, c.name);
      assert.equal(got.json.region, '华东');
      assert.equal(got.json.industry, '电子商务');
      assert.equal(got.json.source, '展会');
      assert.deepEqual(got.json.attrs, c.attrs);
      // Stored as real utf8mb4, not mojibake or escapes.
      const [[stored, hex]] = sql(server, `SELECT name, HEX(name) FROM customers WHERE id = ${c.id}`);
      assert.equal(stored, c.name);
      assert.equal(hex, Buffer.from(c.name, 'utf8').toString('hex').toUpperCase());
    }
    const list = await a.get('/api/v1/customers?per_page=200');
    assert.equal(list.status, 200, list.text);
    const listed = new Map(list.json.items.map((c) => [c.id, c.name]));
    for (const c of created) assert.equal(listed.get(c.id), c.name);

    // Search by a Chinese substring, by a full emoji name, by non-ASCII Latin.
    const q1 = await a.get(`/api/v1/customers?q=${enc('小龙')}`);
    assert.equal(q1.status, 200, q1.text);
    assert.deepEqual(q1.json.items.map((c) => c.name), ['李小龙🐉']);
    assert.equal(q1.json.total, 1);
    const q2 = await a.get(`/api/v1/customers?q=${enc('张伟')}`);
    assert.deepEqual(q2.json.items.map((c) => c.name), ['张伟 😀']);
    const q3 = await a.get(`/api/v1/customers?q=${enc('李小龙🐉')}`);
    assert.deepEqual(q3.json.items.map((c) => c.name), ['李小龙🐉']);
    const q4 = await a.get(`/api/v1/customers?q=${enc('Ünïcødé')}`);
    assert.deepEqual(q4.json.items.map((c) => c.name), ['Ünïcødé']);
    const q5 = await a.get(`/api/v1/customers?q=${enc('𠮷野家')}`);
    assert.deepEqual(q5.json.items.map((c) => c.name), ['𠮷野家 (ext-B)']);
    // A different emoji is a different string.
    const q6 = await a.get(`/api/v1/customers?q=${enc('🦄')}`);
    assert.deepEqual(q6.json.items, [], q6.text);
    // Chinese tag filter.
    const t = await a.get(`/api/v1/customers?tag=${enc('重要客户')}&per_page=200`);
    assert.equal(t.json.total, names.length, t.text);
  });

  test('search by phone as typed, by email, by customer number', async () => {
    const res = await a.post('/api/v1/customers', { name: '王芳', phone: '138 1234 5678', email: 'Wang.Fang@Example.cn' });
    assert.equal(res.status, 201, res.text);
    assert.equal(res.json.phone, '+8613812345678');
    const id = res.json.id;
    for (const q of ['138 1234 5678', '13812345678', '+86 138-1234-5678', '+8613812345678', '12345678']) {
      const r = await a.get(`/api/v1/customers?q=${enc(q)}`);
      assert.equal(r.status, 200, r.text);
      assert.deepEqual(r.json.items.map((c) => c.id), [id], `q=${q}: ${r.text}`);
    }
    for (const q of ['wang.fang@example.cn', 'Wang.Fang', 'example.cn']) {
      const r = await a.get(`/api/v1/customers?q=${enc(q)}`);
      assert.deepEqual(r.json.items.map((c) => c.id), [id], `q=${q}: ${r.text}`);
    }
    const byNo = await a.get(`/api/v1/customers?q=${enc(res.json.customer_no)}`);
    assert.ok(byNo.json.items.some((c) => c.id === id), byNo.text);
    // A foreign number in E.164 is kept as given.
    const uk = await a.post('/api/v1/customers', { name: 'Oliver', phone: '+44 20 7946 0958' });
    assert.equal(uk.status, 201, uk.text);
    assert.equal(uk.json.phone, '+442079460958');
  });

  test('tags: filter, add, remove (Chinese and emoji tags are distinct)', async () => {
    const c1 = (await a.post('/api/v1/customers', { name: 'Tagged one', tags: ['🔥', '新客户'] })).json;
    const c2 = (await a.post('/api/v1/customers', { name: 'Tagged two', tags: ['🎉'] })).json;
    assert.ok(c1 && c2);
    assert.deepEqual((await a.get(`/api/v1/customers/${c2.id}`)).json.tags, ['🎉']);
    const hot = await a.get(`/api/v1/customers?tag=${enc('🔥')}`);
    assert.deepEqual(hot.json.items.map((c) => c.id), [c1.id], hot.text);
    const party = await a.get(`/api/v1/customers?tag=${enc('🎉')}`);
    assert.deepEqual(party.json.items.map((c) => c.id), [c2.id], party.text);

    const add = await a.post(`/api/v1/customers/${c2.id}/tags`, { tags: ['新客户', 'VIP'] });
    assert.ok(add.status === 200 || add.status === 201, add.text);
    let got = (await a.get(`/api/v1/customers/${c2.id}`)).json;
    assert.deepEqual([...got.tags].sort(), ['VIP', '新客户', '🎉'].sort());
    const newc = await a.get(`/api/v1/customers?tag=${enc('新客户')}`);
    assert.deepEqual(newc.json.items.map((c) => c.id).sort(), [c1.id, c2.id].sort());
    // Adding the same tag again is harmless.
    const again = await a.post(`/api/v1/customers/${c2.id}/tags`, { tags: ['VIP'] });
    assert.ok(again.status === 200 || again.status === 201, again.text);

    const del = await a.del(`/api/v1/customers/${c2.id}/tags/${enc('新客户')}`);
    assert.ok(del.status === 200 || del.status === 204, del.text);
    got = (await a.get(`/api/v1/customers/${c2.id}`)).json;
    assert.deepEqual([...got.tags].sort(), ['VIP', '🎉'].sort());
    const after = await a.get(`/api/v1/customers?tag=${enc('新客户')}`);
    assert.deepEqual(after.json.items.map((c) => c.id), [c1.id]);
    // Bad tag bodies.
    expectError(await a.post(`/api/v1/customers/${c2.id}/tags`, { tags: 'VIP' }), 422);
    expectError(await a.post(`/api/v1/customers/${c2.id}/tags`, { tags: [''] }), 422);
  });

  test('pagination: per_page, page, total', async () => {
    const ids = [];
    for (let i = 0; i < 25; i++) {
      const r = await a.post('/api/v1/customers', { name: `分页客户 ${String(i).padStart(2, '0')}`, tags: ['page-test'] });
      assert.equal(r.status, 201, r.text);
      ids.push(r.json.id);
    }
    const seen = [];
    for (const [page, size] of [[1, 10], [2, 10], [3, 5], [4, 0]]) {
      const r = await a.get(`/api/v1/customers?tag=page-test&per_page=10&page=${page}`);
      assert.equal(r.status, 200, r.text);
      assert.equal(r.json.total, 25, r.text);
      assert.equal(r.json.items.length, size, `page ${page}`);
      seen.push(...r.json.items.map((c) => c.id));
    }
    assert.equal(new Set(seen).size, 25, 'pages overlap or miss rows');
    assert.deepEqual([...seen].sort((x, y) => x - y), [...ids].sort((x, y) => x - y));
    // Paging with a search.
    const q = await a.get(`/api/v1/customers?q=${enc('分页客户')}&per_page=7&page=4`);
    assert.equal(q.json.total, 25);
    assert.equal(q.json.items.length, 4);
    // Bad paging parameters are a 4xx, never a 500.
    for (const qs of ['page=0', 'per_page=0', 'page=-1', 'per_page=abc', 'page=99999999999999999999']) {
      const r = await a.get(`/api/v1/customers?${qs}`);
      assert.ok(r.status === 200 || r.status === 400 || r.status === 422, `${qs}: ${r.status} ${r.text}`);
    }
  });

  test('filter by stage and owner', async () => {
    const sales = await createAgent(server, admin.token, { role: 'sales' });
    const c = (await a.post('/api/v1/customers', { name: 'Stage won', stage: 'won', owner_id: sales.id })).json;
    const won = await a.get('/api/v1/customers?stage=won');
    assert.deepEqual(won.json.items.map((x) => x.id), [c.id], won.text);
    const owned = await a.get(`/api/v1/customers?owner_id=${sales.id}`);
    assert.deepEqual(owned.json.items.map((x) => x.id), [c.id], owned.text);
    const both = await a.get(`/api/v1/customers?owner_id=${sales.id}&stage=potential`);
    assert.deepEqual(both.json.items, []);
  });

  test('PATCH updates fields, writes audit_log and a customer.updated event', async () => {
    const c = (await a.post('/api/v1/customers', { name: 'Before', email: 'patch@example.com', tags: ['a'] })).json;
    const auditCreate = sql(server, `SELECT actor_id, action, object_type, before_json, after_json FROM audit_log
      WHERE object_type = 'customer' AND object_id = ${c.id} ORDER BY id`);
    assert.equal(auditCreate.length, 1, JSON.stringify(auditCreate));
    assert.equal(auditCreate[0][0], String(admin.agent.id));
    assert.match(auditCreate[0][1], /creat/);
    assert.equal(auditCreate[0][3], null);
    assert.equal(JSON.parse(auditCreate[0][4]).name, 'Before');

    const res = await a.patch(`/api/v1/customers/${c.id}`, {
      name: '之后 ✨', stage: 'contacted', phone: '13900001111', region: '华南',
    });
    assert.equal(res.status, 200, res.text);
    assert.equal(res.json.name, '之后 ✨');
    assert.equal(res.json.stage, 'contacted');
    assert.equal(res.json.phone, '+8613900001111');
    assert.equal(res.json.email, 'patch@example.com', 'fields not in the PATCH stay');
    assert.deepEqual(res.json.tags, ['a']);
    const got = (await a.get(`/api/v1/customers/${c.id}`)).json;
    assert.equal(got.name, '之后 ✨');
    assert.equal(got.region, '华南');
    assert.ok((await a.get(`/api/v1/customers?q=${enc('13900001111')}`)).json.items.some((x) => x.id === c.id));

    const audit = sql(server, `SELECT actor_id, action, before_json, after_json FROM audit_log
      WHERE object_type = 'customer' AND object_id = ${c.id} ORDER BY id`);
    assert.equal(audit.length, 2, JSON.stringify(audit));
    assert.equal(audit[1][0], String(admin.agent.id));
    assert.match(audit[1][1], /updat/);
    assert.equal(JSON.parse(audit[1][2]).name, 'Before');
    assert.equal(JSON.parse(audit[1][3]).name, '之后 ✨');
    assert.equal(JSON.parse(audit[1][3]).stage, 'contacted');

    const ev = sql(server, `SELECT kind FROM events WHERE customer_id = ${c.id} ORDER BY id`).map((r) => r[0]);
    // the tag given at creation is announced after the customer (customer.tagged: tag.added rules, docs/rules.md)
    assert.deepEqual(ev, ['customer.created', 'customer.tagged', 'customer.updated']);
    // Clearing a field with null.
    const cleared = await a.patch(`/api/v1/customers/${c.id}`, { region: null });
    assert.equal(cleared.status, 200, cleared.text);
    assert.equal(cleared.json.region, null);
  });

  test('duplicates: 409 with existing_id, allow_duplicate=1 keeps an unverified contact', async () => {
    const orig = (await a.post('/api/v1/customers', { name: 'Original', email: 'dup@example.com', phone: '13700001234' })).json;
    const before = counts(server, ['customers', 'customer_identities', 'audit_log', 'events']);
    let r = await a.post('/api/v1/customers', { name: 'Copy', email: 'dup@example.com' });
    assert.equal(expectError(r, 409, 'duplicate').existing_id, orig.id, r.text);
    r = await a.post('/api/v1/customers', { name: 'Copy', phone: '137 0000 1234' });
    assert.equal(expectError(r, 409, 'duplicate').existing_id, orig.id, r.text);
    assert.deepEqual(counts(server, ['customers', 'customer_identities', 'audit_log', 'events']), before);
    // PATCH to another customer's email is a duplicate too.
    const other = (await a.post('/api/v1/customers', { name: 'Other' })).json;
    r = await a.patch(`/api/v1/customers/${other.id}`, { email: 'dup@example.com' });
    assert.equal(expectError(r, 409, 'duplicate').existing_id, orig.id, r.text);

    r = await a.post('/api/v1/customers?allow_duplicate=1', { name: 'Copy allowed', email: 'dup@example.com' });
    assert.equal(r.status, 201, r.text);
    assert.notEqual(r.json.id, orig.id);
    const ids = (await a.get(`/api/v1/customers/${r.json.id}/identities`));
    assert.equal(ids.status, 200, ids.text);
    const list = Array.isArray(ids.json) ? ids.json : ids.json.items;
    const dupId = list.find((i) => i.kind === 'email' && i.value === 'dup@example.com');
    assert.ok(dupId, ids.text);
    assert.equal(dupId.verified, false, `the copied email must be unverified: ${ids.text}`);
    // The original keeps routing: search by the email finds both, the original's identity is verified.
    const origIds = (await a.get(`/api/v1/customers/${orig.id}/identities`)).json;
    const ol = Array.isArray(origIds) ? origIds : origIds.items;
    assert.equal(ol.find((i) => i.kind === 'email').verified, true);
  });

  test('duplicate email is found whatever its case', async () => {
    const orig = (await a.post('/api/v1/customers', { name: 'Case', email: 'case.test@example.com' })).json;
    const r = await a.post('/api/v1/customers', { name: 'Case copy', email: 'Case.Test@EXAMPLE.com' });
    assert.equal(expectError(r, 409, 'duplicate').existing_id, orig.id, r.text);
  });

  test('identities: list, add, duplicate, invalid, delete', async () => {
    const c = (await a.post('/api/v1/customers', { name: 'Ident', email: 'ident@example.com' })).json;
    const other = (await a.post('/api/v1/customers', { name: 'Ident other', email: 'ident-other@example.com' })).json;
    const auditBefore = Number(sql(server, `SELECT COUNT(*) FROM audit_log WHERE object_id = ${c.id} AND object_type = 'customer'`)[0][0]);
    let r = await a.post(`/api/v1/customers/${c.id}/identities`, { kind: 'phone', value: '186 0000 2222' });
    assert.equal(r.status, 201, r.text);
    assert.equal(r.json.value, '+8618600002222');
    const phoneId = r.json.id;
    r = await a.post(`/api/v1/customers/${c.id}/identities`, { kind: 'email', value: 'ident2@example.com' });
    assert.equal(r.status, 201, r.text);
    r = await a.get(`/api/v1/customers/${c.id}/identities`);
    assert.equal(r.status, 200, r.text);
    const list = Array.isArray(r.json) ? r.json : r.json.items;
    assert.deepEqual(list.map((i) => `${i.kind}:${i.value}`).sort(),
      ['email:ident2@example.com', 'email:ident@example.com', 'phone:+8618600002222'].sort());
    // Another customer's identity ⇒ 409 duplicate.
    r = await a.post(`/api/v1/customers/${c.id}/identities`, { kind: 'email', value: 'ident-other@example.com' });
    assert.equal(expectError(r, 409, 'duplicate').existing_id, other.id, r.text);
    // Invalid values and kinds ⇒ 422 naming the field.
    r = await a.post(`/api/v1/customers/${c.id}/identities`, { kind: 'email', value: 'nope' });
    assert.ok(expectError(r, 422).fields.value, r.text);
    r = await a.post(`/api/v1/customers/${c.id}/identities`, { kind: 'phone', value: '12' });
    assert.ok(expectError(r, 422).fields.value, r.text);
    r = await a.post(`/api/v1/customers/${c.id}/identities`, { kind: 'pigeon', value: 'coo' });
    assert.ok(expectError(r, 422).fields.kind, r.text);
    // The phone identity finds the customer.
    assert.deepEqual((await a.get(`/api/v1/customers?q=${enc('18600002222')}`)).json.items.map((x) => x.id), [c.id]);
    // Delete.
    r = await a.del(`/api/v1/customers/${c.id}/identities/${phoneId}`);
    assert.ok(r.status === 200 || r.status === 204, r.text);
    assert.deepEqual((await a.get(`/api/v1/customers?q=${enc('18600002222')}`)).json.items, []);
    // Someone else's identity id under this customer ⇒ 404.
    const otherIdent = (await a.get(`/api/v1/customers/${other.id}/identities`)).json;
    const oid = (Array.isArray(otherIdent) ? otherIdent : otherIdent.items)[0].id;
    expectError(await a.del(`/api/v1/customers/${c.id}/identities/${oid}`), 404);
    assert.equal(sql(server, `SELECT COUNT(*) FROM customer_identities WHERE id = ${oid}`)[0][0], '1');
    // Identity changes are customer changes: audited.
    const auditAfter = Number(sql(server, `SELECT COUNT(*) FROM audit_log WHERE object_id = ${c.id} AND object_type = 'customer'`)[0][0]);
    assert.ok(auditAfter >= auditBefore + 3, `audit rows ${auditBefore} -> ${auditAfter}`);
  });

  test('sales scope: own and team customers only; others are 404 and not listed', async () => {
    const teamA = (await a.post('/api/v1/teams', { name: '华东销售', description: 'East' })).json;
    const teamB = (await a.post('/api/v1/teams', { name: '华南销售', description: 'South' })).json;
    assert.ok(teamA && teamA.id && teamB && teamB.id);
    const s1 = await createAgent(server, admin.token, { role: 'sales', team_id: teamA.id });
    const s2 = await createAgent(server, admin.token, { role: 'sales', team_id: teamA.id });
    const s3 = await createAgent(server, admin.token, { role: 'sales', team_id: teamB.id });
    const mk = async (name, owner) => {
      const r = await a.post('/api/v1/customers', { name, owner_id: owner, email: `${name.replace(/\W/g, '')}@scope.example`, tags: ['scope'] });
      assert.equal(r.status, 201, r.text);
      return r.json;
    };
    const mine = await mk('scope mine', s1.id);
    const team = await mk('scope teammate', s2.id);
    const foreign = await mk('scope foreign', s3.id);
    const nobody = await mk('scope unowned', null);

    const s = api(server, s1.token);
    assert.equal((await s.get(`/api/v1/customers/${mine.id}`)).status, 200);
    assert.equal((await s.get(`/api/v1/customers/${team.id}`)).status, 200);
    expectError(await s.get(`/api/v1/customers/${foreign.id}`), 404);
    expectError(await s.get(`/api/v1/customers/${nobody.id}`), 404);
    expectError(await s.get(`/api/v1/customers/${foreign.id}/identities`), 404);

    const list = await s.get('/api/v1/customers?tag=scope&per_page=200');
    assert.equal(list.status, 200, list.text);
    assert.deepEqual(list.json.items.map((c) => c.id).sort((x, y) => x - y), [mine.id, team.id].sort((x, y) => x - y));
    assert.equal(list.json.total, 2);
    const all = await s.get('/api/v1/customers?per_page=200');
    assert.ok(all.json.items.every((c) => c.owner_id === s1.id || c.owner_id === s2.id), 'foreign customer listed');
    // Searching for the foreign customer by name or email finds nothing.
    assert.deepEqual((await s.get(`/api/v1/customers?q=${enc('scope foreign')}`)).json.items, []);
    assert.deepEqual((await s.get(`/api/v1/customers?q=${enc('scopeforeign@scope.example')}`)).json.items, []);
    assert.equal((await s.get(`/api/v1/customers?q=${enc('scopeforeign@scope.example')}`)).json.total, 0);

    // Writes outside the scope are 404 and change nothing.
    const before = counts(server, ['customers', 'customer_identities', 'customer_tags', 'audit_log', 'events']);
    expectError(await s.patch(`/api/v1/customers/${foreign.id}`, { name: 'hijacked' }), 404);
    expectError(await s.post(`/api/v1/customers/${foreign.id}/tags`, { tags: ['x'] }), 404);
    expectError(await s.post(`/api/v1/customers/${foreign.id}/identities`, { kind: 'email', value: 'h@example.com' }), 404);
    assert.deepEqual(counts(server, ['customers', 'customer_identities', 'customer_tags', 'audit_log', 'events']), before);
    assert.equal(sql(server, `SELECT name FROM customers WHERE id = ${foreign.id}`)[0][0], 'scope foreign');

    // A duplicate answer must not leak the id of a customer outside the scope... but it
    // still refuses the create.
    const dup = await s.post('/api/v1/customers', { name: 'dup of foreign', email: 'scopeforeign@scope.example' });
    assert.equal(dup.status, 409, dup.text);

    // A customer the sales user creates is theirs and visible to them.
    const own = await s.post('/api/v1/customers', { name: 'created by sales' });
    assert.equal(own.status, 201, own.text);
    assert.equal(own.json.owner_id, s1.id);
    assert.equal((await s.get(`/api/v1/customers/${own.json.id}`)).status, 200);
    // ... and not to the other team.
    expectError(await api(server, s3.token).get(`/api/v1/customers/${own.json.id}`), 404);
  });

  test('agent role reads customers but cannot change them', async () => {
    const ag = await createAgent(server, admin.token, { role: 'agent' });
    const c = (await a.post('/api/v1/customers', { name: 'Read only' })).json;
    const g = api(server, ag.token);
    assert.equal((await g.get(`/api/v1/customers/${c.id}`)).status, 200);
    assert.equal((await g.get('/api/v1/customers')).status, 200);
    const before = counts(server, ['customers', 'audit_log']);
    expectError(await g.post('/api/v1/customers', { name: 'nope' }), 403);
    expectError(await g.patch(`/api/v1/customers/${c.id}`, { name: 'nope' }), 403);
    expectError(await g.post(`/api/v1/customers/${c.id}/identities`, { kind: 'email', value: 'n@example.com' }), 403);
    assert.deepEqual(counts(server, ['customers', 'audit_log']), before);
  });

  test('per_page is capped at 200', async () => {
    sql(server, "INSERT INTO customers (name) SELECT CONCAT('bulk-', seq) FROM seq_1_to_210");
    const r = await a.get('/api/v1/customers?per_page=1000');
    if (r.status === 200) {
      assert.ok(r.json.items.length <= 200, `per_page=1000 returned ${r.json.items.length} items`);
      assert.ok(r.json.total >= 210);
    } else {
      expectError(r, r.status);
      assert.ok(r.status === 400 || r.status === 422, r.text);
    }
    const ok = await a.get('/api/v1/customers?per_page=200');
    assert.equal(ok.json.items.length, 200);
    // Big answers interleaved with slow requests (argon2) must not upset the server
    // (it once aborted in lws_service_fd_tsi here).
    for (let i = 0; i < 4; i++) {
      const big = await a.get('/api/v1/customers?per_page=200');
      assert.equal(big.status, 200);
      await createAgent(server, admin.token, { role: 'agent' });
      assert.equal((await a.get('/api/v1/customers?stage=won')).status, 200);
    }
    assert.equal(server.exited(), null, `server died; log:\n${server.logs().slice(-2000)}`);
  });
});
