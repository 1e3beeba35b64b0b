'use strict';
// layouts.test.js — page layouts (issue 12, docs/layouts.md): the default layout of the
// customer, deal and custom-object pages (one group "Details 详情", every field in default
// order, customised false), a stored layout (groups in order, unplaced fields — also a
// custom field added later — in a last group "Other 其他", vanished fields left out),
// validation (422 naming groups / groups[i].title / groups[i].fields), roles (everyone
// reads, admins write), DELETE back to the default, audit, unknown objects 404.
const test = require('node:test');
const assert = require('node:assert/strict');
const {
  startServer, bootstrapAdmin, api, sql, dropDatabase, createAgent, expectError,
} = require('./harness');

const V1 = '/api/v1';
const ROLES = ['manager', 'agent', 'sales', 'marketer'];
const CUSTOMER_BASE = ['name', 'customer_no', 'company', 'industry', 'type', 'stage', 'grade', 'source', 'region',
  'address', 'uscc', 'owner_id', 'email', 'phone', 'tags'];
const DEAL = ['title', 'amount', 'currency', 'stage_id', 'probability', 'expected_close', 'payment_due', 'owner_id',
  'win_loss_reason', 'competitor'];
const EQUIPMENT = {
  key: 'equipment', label: '设备 Equipment',
  fields: [
    { key: 'serial_no', label: '序列号', type: 'text', required: true },
    { key: 'model', label: '型号', type: 'select', options: ['X100', 'X200'] },
    { key: 'install_date', label: '安装日期', type: 'date' },
    { key: 'warranty_end', label: '保修截止', type: 'date' },
    { key: 'hours', label: '运行小时', type: 'number' },
  ],
};

test.describe('page layouts (docs/layouts.md)', () => {
  let server;
  let admin;
  let a;
  const V = {};
  const audits = () => Number(sql(server, "SELECT COUNT(*) FROM audit_log WHERE action = 'layout.updated'")[0][0]);
  const shape = (layout) => layout.groups.map((g) => [g.title, g.fields]);

  test.before(async () => {
    server = await startServer();
    admin = await bootstrapAdmin(server);
    a = api(server, admin.token);
    for (const role of ROLES) {
      const v = await createAgent(server, admin.token, { role });
      V[role] = api(server, v.token);
    }
    for (const [key, type] of [['budget', 'number'], ['level', 'select']]) {
      const r = await a.post(`${V1}/field-defs`, { key, label: key, type, ...(type === 'select' ? { options: ['金', '银'] } : {}) });
      assert.equal(r.status, 201, r.text);
    }
    const r = await a.post(`${V1}/object-types`, EQUIPMENT);
    assert.equal(r.status, 201, r.text);
  });

  test.after(async () => {
    if (server) {
      await server.stop();
      dropDatabase(server);
    }
  });

  test('defaults: one group "Details 详情" with every field in default order, customised false; every role reads them', async () => {
    const customer = [...CUSTOMER_BASE, 'attrs.budget', 'attrs.level'];
    const cases = [['customer', customer], ['deal', DEAL], ['obj.equipment', EQUIPMENT.fields.map((f) => f.key)]];
    for (const [object, fields] of cases) {
      for (const [who, w] of [['admin', a], ...ROLES.map((r) => [r, V[r]])]) {
        const r = await w.get(`${V1}/layouts/${object}`);
        assert.equal(r.status, 200, `${who} GET ${object}: ${r.text}`);
        assert.equal(r.json.object, object);
        assert.equal(r.json.customised, false, `${object}: ${r.text}`);
        assert.deepEqual(shape(r.json), [['Details 详情', fields]], `${who} ${object}`);
        assert.deepEqual(r.json.fields, fields, `${object} fields`);
      }
    }
  });

  test('PUT stores groups; unplaced fields follow in "Other 其他" in default order; GET shows the same; audited', async () => {
    const n = audits();
    const groups = [
      { title: '基本信息 Basics', fields: ['name', 'company', 'stage', 'owner_id'] },
      { title: '工商 Registration', fields: ['uscc', 'address', 'attrs.budget'] },
    ];
    const r = await a.put(`${V1}/layouts/customer`, { groups });
    assert.equal(r.status, 200, r.text);
    const all = [...CUSTOMER_BASE, 'attrs.budget', 'attrs.level'];
    const placed = new Set(groups.flatMap((g) => g.fields));
    const want = [...groups.map((g) => [g.title, g.fields]), ['Other 其他', all.filter((f) => !placed.has(f))]];
    assert.equal(r.json.object, 'customer');
    assert.equal(r.json.customised, true);
    assert.deepEqual(shape(r.json), want);
    assert.deepEqual(r.json.fields, all);
    assert.ok(typeof r.json.updated_at === 'string' && r.json.updated_at, `updated_at: ${r.text}`);
    for (const w of [a, ...ROLES.map((x) => V[x])]) {
      const g = await w.get(`${V1}/layouts/customer`);
      assert.equal(g.status, 200, g.text);
      assert.deepEqual(g.json, r.json);
    }
    assert.equal(audits(), n + 1, 'layout.updated audited');
  });

  test('a custom field added later appears in "Other 其他"; a deleted one is left out', async () => {
    let r = await a.post(`${V1}/field-defs`, { key: 'tier', label: '层级', type: 'text' });
    assert.equal(r.status, 201, r.text);
    let g = (await a.get(`${V1}/layouts/customer`)).json;
    assert.equal(g.groups.at(-1).title, 'Other 其他');
    assert.equal(g.groups.at(-1).fields.at(-1), 'attrs.tier', JSON.stringify(g.groups));
    assert.ok(g.fields.includes('attrs.tier'));
    const budget = (await a.get(`${V1}/field-defs`)).json.items.find((d) => d.key === 'budget');
    r = await a.del(`${V1}/field-defs/${budget.id}`);
    assert.equal(r.status, 204, r.text);
    g = (await a.get(`${V1}/layouts/customer`)).json;
    assert.deepEqual(g.groups[1], { title: '工商 Registration', fields: ['uscc', 'address'] });
    assert.ok(!g.fields.includes('attrs.budget'));
    assert.ok(!JSON.stringify(g.groups).includes('attrs.budget'));
    // a layout placing every field has no "Other" group
    const groups = [{ title: '金额', fields: ['amount', 'currency', 'probability'] }, { title: '其余', fields: DEAL.filter((f) => !['amount', 'currency', 'probability'].includes(f)).reverse() }];
    r = await a.put(`${V1}/layouts/deal`, { groups });
    assert.equal(r.status, 200, r.text);
    assert.deepEqual(shape(r.json), groups.map((x) => [x.title, x.fields]));
    assert.deepEqual(r.json.fields, DEAL);
  });

  test('custom objects: a layout of obj.TYPE; fields added to the type land in Other, removed ones vanish', async () => {
    let r = await a.put(`${V1}/layouts/obj.equipment`, { groups: [{ title: '保修 Warranty', fields: ['warranty_end', 'serial_no'] }] });
    assert.equal(r.status, 200, r.text);
    assert.deepEqual(shape(r.json), [['保修 Warranty', ['warranty_end', 'serial_no']], ['Other 其他', ['model', 'install_date', 'hours']]]);
    const fields = [...EQUIPMENT.fields.filter((f) => f.key !== 'hours'), { key: 'site', label: '地点', type: 'text' }];
    r = await a.patch(`${V1}/object-types/equipment`, { fields });
    assert.equal(r.status, 200, r.text);
    r = await V.agent.get(`${V1}/layouts/obj.equipment`);
    assert.equal(r.status, 200, r.text);
    assert.deepEqual(shape(r.json), [['保修 Warranty', ['warranty_end', 'serial_no']], ['Other 其他', ['model', 'install_date', 'site']]]);
    assert.deepEqual(r.json.fields, ['serial_no', 'model', 'install_date', 'warranty_end', 'site']);
    // a field of the customer page is not a field of this page
    const e = expectError(await a.put(`${V1}/layouts/obj.equipment`, { groups: [{ title: 'x', fields: ['name'] }] }), 422, 'validation_failed');
    assert.ok(e.fields && e.fields['groups[0].fields'], JSON.stringify(e));
  });

  test('422 names groups, groups[i].title and groups[i].fields; a refused PUT changes nothing', async () => {
    const before = (await a.get(`${V1}/layouts/customer`)).text;
    const n = audits();
    const ok = { title: '基本', fields: ['name'] };
    const cases = [
      [{ groups: [] }, 'groups'],
      [{}, 'groups'],
      [{ groups: 'x' }, 'groups'],
      [{ groups: Array.from({ length: 21 }, (_, i) => ({ title: `g${i}`, fields: [] })) }, 'groups'],
      [{ groups: [ok, { title: '', fields: ['company'] }] }, 'groups[1].title'],
      [{ groups: [ok, { fields: ['company'] }] }, 'groups[1].title'],
      [{ groups: [{ title: 'x'.repeat(101), fields: ['name'] }] }, 'groups[0].title'],
      [{ groups: [{ title: 'ok', fields: ['shoe_size'] }] }, 'groups[0].fields'],
      [{ groups: [{ title: 'ok', fields: ['attrs.nonexistent'] }] }, 'groups[0].fields'],
      [{ groups: [{ title: 'ok', fields: ['amount'] }] }, 'groups[0].fields'],
      [{ groups: [{ title: 'ok', fields: ['name', 'stage', 'name'] }] }, 'groups[0].fields'],
      [{ groups: [ok, { title: '再次', fields: ['company', 'name'] }] }, 'groups[1].fields'],
    ];
    const problems = [];
    for (const [body, name] of cases) {
      const r = await a.put(`${V1}/layouts/customer`, body);
      if (r.status !== 422 || !r.json || !r.json.error || r.json.error.code !== 'validation_failed' || !r.json.error.fields || !(name in r.json.error.fields)) {
        problems.push(`${JSON.stringify(body).slice(0, 120)}: want 422 naming ${name}, got ${r.status} ${r.text.slice(0, 300)}`);
      }
    }
    // the limits themselves are fine: 20 groups, a title of 100 characters (not bytes)
    let r = await a.put(`${V1}/layouts/deal`, { groups: [{ title: '字'.repeat(100), fields: ['title'] }, ...DEAL.slice(1).map((f, i) => ({ title: `g${i}`, fields: [f] }))] });
    if (r.status !== 200) problems.push(`10 groups, a 100-character title: ${r.status} ${r.text.slice(0, 300)}`);
    else if (r.json.groups[0].title !== '字'.repeat(100)) problems.push('the 100-character title did not round-trip');
    // 20 groups (some necessarily empty on the 10-field deal page): never refused for their number
    const twenty = Array.from({ length: 20 }, (_, i) => ({ title: `g${i}`, fields: DEAL[i] ? [DEAL[i]] : [] }));
    const t = await a.put(`${V1}/layouts/deal`, { groups: twenty });
    if (t.status !== 200 && !(t.status === 422 && t.json.error.fields && !('groups' in t.json.error.fields))) {
      problems.push(`20 groups refused for their number: ${t.status} ${t.text.slice(0, 300)}`);
    }
    assert.equal((await a.get(`${V1}/layouts/customer`)).text, before, 'a refused PUT changed the layout');
    assert.equal(audits(), n + (r.status === 200 ? 1 : 0) + (t.status === 200 ? 1 : 0), 'only accepted PUTs are audited');
    assert.deepEqual(problems, [], `${problems.length} problems:\n${problems.join('\n')}`);
  });

  test('only admins PUT and DELETE (403, nothing changes)', async () => {
    const before = (await a.get(`${V1}/layouts/customer`)).text;
    for (const role of ROLES) {
      expectError(await V[role].put(`${V1}/layouts/customer`, { groups: [{ title: 'x', fields: ['name'] }] }), 403);
      expectError(await V[role].del(`${V1}/layouts/customer`), 403);
      assert.equal((await V[role].get(`${V1}/layouts/customer`)).status, 200);
    }
    assert.equal((await a.get(`${V1}/layouts/customer`)).text, before);
  });

  test('DELETE resets to the default order (204)', async () => {
    const r = await a.del(`${V1}/layouts/customer`);
    assert.equal(r.status, 204, r.text);
    assert.equal(r.text, '');
    const g = (await V.sales.get(`${V1}/layouts/customer`)).json;
    const all = [...CUSTOMER_BASE, 'attrs.level', 'attrs.tier'];
    assert.equal(g.customised, false);
    assert.deepEqual(shape(g), [['Details 详情', all]]);
    assert.equal((await a.del(`${V1}/layouts/obj.equipment`)).status, 204);
    assert.equal((await a.get(`${V1}/layouts/obj.equipment`)).json.customised, false);
  });

  test('unknown objects are 404 for GET, PUT and DELETE', async () => {
    const problems = [];
    const n = audits();
    for (const object of ['lead', 'ticket', 'obj.nope', 'obj.', 'customers', 'obj.equipment.x']) {
      for (const [what, r] of [
        ['admin GET', await a.get(`${V1}/layouts/${object}`)],
        ['agent GET', await V.agent.get(`${V1}/layouts/${object}`)],
        ['admin PUT', await a.put(`${V1}/layouts/${object}`, { groups: [{ title: 'x', fields: ['name'] }] })],
        ['admin DELETE', await a.del(`${V1}/layouts/${object}`)],
      ]) {
        if (r.status !== 404) problems.push(`${what} /layouts/${object} → ${r.status} ${r.text.slice(0, 200)}, want 404`);
      }
    }
    assert.equal(audits(), n, 'nothing audited for unknown objects');
    assert.deepEqual(problems, [], `${problems.length} problems:\n${problems.join('\n')}`);
  });

  test('a custom object type deleted while it has a stored layout is unknown again (404)', async () => {
    let r = await a.post(`${V1}/object-types`, { key: 'course', label: '课程', fields: [{ key: 'title', label: '名称', type: 'text' }] });
    assert.equal(r.status, 201, r.text);
    r = await a.put(`${V1}/layouts/obj.course`, { groups: [{ title: 'x', fields: ['title'] }] });
    assert.equal(r.status, 200, r.text);
    assert.equal((await a.del(`${V1}/object-types/course`)).status, 204);
    expectError(await a.get(`${V1}/layouts/obj.course`), 404);
  });
});
