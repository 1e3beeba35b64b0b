'use strict';
// objects.test.js — custom objects (issue 12, docs/objects.md) against the real binary,
// written from the contract alone:
//   - an administrator defines "设备 Equipment" through the API on the running server and
//     its records have working CRUD at once (201 and the record's shape, merge-PATCH where
//     null removes a value, 204 then 404), a paged list with its total;
//   - every 422 of a record write names its field (values.KEY, customer_id, deal_id,
//     ticket_id) and a refused write changes nothing;
//   - type definitions: 422 naming key / label / fields[i].x / title_field, 409 duplicate,
//     PATCH adds a field (usable at once), refuses a type change, removes a field with its
//     values; DELETE 409 in_use while records exist; only admins write, everyone reads;
//   - filters (f.KEY, .gt/.gte/.lt/.lte with today±N, .contains), q, sort and customer_id,
//     each compared with the set computed here from the records this file created; an
//     unknown field or a wrongly typed value is a 400 naming it;
//   - the data scope: a sales agent sees and writes only records of customers in scope;
//   - segment rules and rule conditions over obj.TYPE.FIELD; the customer 360's `objects`;
//     merging customers moves the records; audit rows, events and websocket frames.
const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const {
  startServer, bootstrapAdmin, api, sql, dropDatabase, createAgent, counts, expectError, sleep,
} = require('./harness');
const { agentSocket, sortNum } = require('./crm_util');

const V1 = '/api/v1';
const enc = encodeURIComponent;

// The contract's example type, verbatim.
const EQUIPMENT = {
  key: 'equipment', label: '设备 Equipment', label_plural: '设备 Equipment',
  relations: { deal: false, ticket: true }, title_field: 'serial_no',
  fields: [
    { key: 'serial_no', label: '序列号 Serial number', type: 'text', required: true },
    { key: 'model', label: '型号 Model', type: 'select', options: ['X100', 'X200'] },
    { key: 'install_date', label: '安装日期 Installed', type: 'date' },
    { key: 'warranty_end', label: '保修截止 Warranty end', type: 'date' },
    { key: 'hours', label: '运行小时 Hours', type: 'number' },
  ],
};
// A second type: a deal relation, no ticket relation, no title_field (the first text field
// names a record), a multiselect.
const COURSE = {
  key: 'course', label: '课程 Course', label_plural: '课程 Courses', relations: { deal: true },
  fields: [
    { key: 'level', label: '级别 Level', type: 'select', options: ['初级', '中级', '高级'] },
    { key: 'name', label: '课程名 Name', type: 'text', required: true },
    { key: 'topics', label: '主题 Topics', type: 'multiselect', options: ['数学', '物理', '化学'] },
    { key: 'start_on', label: '开课 Starts', type: 'date' },
  ],
};

let server, admin, a;
let TA, TB;
let S1, S2, MK, AG, MG; // sales (team A), sales (team B), marketer, service agent, manager (team A)
const C = {};   // label → customer {id, name, owner}
const D = {};   // deals
const T = {};   // tickets
const eq = new Map(); // every live equipment record this file made: id → {id, customer_id, values}
const TODAY = new Date().toISOString().slice(0, 10); // the server's "today" is UTC (gateway/segment.h)

const q1 = (query) => { const rows = sql(server, query); return rows.length ? rows[0][0] : null; };
const num = (query) => Number(q1(query));
const addDays = (date, n) => {
  const d = new Date(`${date}T00:00:00Z`);
  d.setUTCDate(d.getUTCDate() + n);
  return d.toISOString().slice(0, 10);
};
const rel = (n) => addDays(TODAY, n);
const OBJ_TABLES = ['object_types', 'object_fields', 'object_records', 'object_values'];
/** Row counts of the object tables plus the object.* audit rows and events. */
function objCounts() {
  const c = counts(server, OBJ_TABLES);
  c.audit = num("SELECT COUNT(*) FROM audit_log WHERE action LIKE 'object%'");
  c.events = num("SELECT COUNT(*) FROM events WHERE kind LIKE 'object%'");
  return c;
}

async function mkCustomer(label, body) {
  const r = await a.post(`${V1}/customers`, { name: `${label} 客户`, ...body });
  assert.equal(r.status, 201, `customer ${label}: ${r.text}`);
  C[label] = { id: r.json.id, name: r.json.name, owner: body.owner_id || null };
  return C[label];
}

/** POST /objects/equipment as who, asserting 201; registers the record. */
async function mkEq(who, customer, values, extra = {}) {
  const r = await who.post(`${V1}/objects/equipment`, { customer_id: customer.id, values, ...extra });
  assert.equal(r.status, 201, `create equipment ${JSON.stringify(values)}: ${r.text}`);
  eq.set(r.json.id, { id: r.json.id, customer_id: customer.id, ticket_id: extra.ticket_id || null, values: { ...values } });
  return r.json;
}

/** GET a list as who; asserts 200; returns {items, total, ids}. */
async function list(who, path) {
  const r = await who.get(path);
  assert.equal(r.status, 200, `${path}: ${r.text}`);
  assert.ok(Array.isArray(r.json.items) && typeof r.json.total === 'number', `${path}: ${r.text.slice(0, 300)}`);
  return { ...r.json, ids: r.json.items.map((x) => x.id) };
}

/** Whether any value of an error answer (message, fields keys and texts) mentions word. */
const mentions = (e, word) => JSON.stringify(e).includes(word);

before(async () => {
  server = await startServer();
  admin = await bootstrapAdmin(server);
  a = api(server, admin.token);
  TA = (await a.post(`${V1}/teams`, { name: '设备 A 组' })).json.id;
  TB = (await a.post(`${V1}/teams`, { name: '设备 B 组' })).json.id;
  S1 = await createAgent(server, admin.token, { role: 'sales', team_id: TA, name: '销售甲' });
  S2 = await createAgent(server, admin.token, { role: 'sales', team_id: TB, name: '销售乙' });
  MK = await createAgent(server, admin.token, { role: 'marketer', name: '市场' });
  AG = await createAgent(server, admin.token, { role: 'agent', team_id: TA, name: '客服' });
  MG = await createAgent(server, admin.token, { role: 'manager', team_id: TA, name: '经理' });
  for (const x of [S1, S2, MK, AG, MG]) x.api = api(server, x.token);
  await mkCustomer('A1', { name: '华东机械', owner_id: S1.id, region: '华东' });
  await mkCustomer('A2', { owner_id: S1.id });
  await mkCustomer('B1', { owner_id: S2.id });
  await mkCustomer('B2', { owner_id: S2.id });
  await mkCustomer('U', {});
  for (const [k, c] of [['A1', C.A1], ['B1', C.B1]]) {
    let r = await a.post(`${V1}/deals`, { customer_id: c.id, title: `${k} 的商机`, owner_id: c.owner });
    assert.equal(r.status, 201, r.text);
    D[k] = r.json;
    r = await a.post(`${V1}/tickets`, { customer_id: c.id, channel: 'email', subject: `${k} 的工单` });
    assert.equal(r.status, 201, r.text);
    T[k] = r.json;
  }
});

after(async () => {
  if (server) {
    await server.stop();
    dropDatabase(server);
  }
});

// ------------------------------------------------------------------ types

/** Asserts a type answer matches a definition (fields in order, defaults applied). */
function assertType(got, def, what) {
  assert.equal(got.key, def.key, what);
  assert.equal(got.label, def.label, what);
  if (def.label_plural !== undefined) assert.equal(got.label_plural, def.label_plural, what);
  assert.deepEqual(got.relations, { deal: !!(def.relations || {}).deal, ticket: !!(def.relations || {}).ticket }, `${what}: relations`);
  const firstText = def.fields.find((f) => f.type === 'text');
  assert.equal(got.title_field, def.title_field || (firstText && firstText.key), `${what}: title_field`);
  assert.equal(got.fields.length, def.fields.length, `${what}: ${JSON.stringify(got.fields)}`);
  def.fields.forEach((f, i) => {
    const g = got.fields[i];
    assert.equal(g.key, f.key, `${what}: fields[${i}]`);
    assert.equal(g.label, f.label, `${what}: fields[${i}].label`);
    assert.equal(g.type, f.type, `${what}: fields[${i}].type`);
    assert.equal(g.required, !!f.required, `${what}: fields[${i}].required`);
    if (f.options) assert.deepEqual(g.options, f.options, `${what}: fields[${i}].options`);
    else assert.ok(g.options === undefined || g.options === null, `${what}: fields[${i}].options ${JSON.stringify(g.options)}`);
  });
  assert.equal(typeof got.records, 'number', `${what}: records`);
  assert.ok(got.created_at && got.updated_at, `${what}: timestamps`);
}

test('an admin defines a type on the running server; records work at once; everyone reads types, only admins write them', async () => {
  expectError(await a.get(`${V1}/objects/equipment`), 404); // not defined yet
  for (const who of [S1, MK, AG, MG]) {
    expectError(await who.api.post(`${V1}/object-types`, EQUIPMENT), 403);
  }
  const baseTypes = num('SELECT COUNT(*) FROM object_types'); // a fresh database: none, unless the migration seeds some
  const r = await a.post(`${V1}/object-types`, EQUIPMENT);
  assert.equal(r.status, 201, r.text);
  assertType(r.json, EQUIPMENT, 'POST answer');
  assert.equal(r.json.records, 0);
  // the same server process, no restart: records of the new type at once
  const rec = await mkEq(a, C.A1, { serial_no: 'FIRST-1', model: 'X100' });
  assert.equal(rec.type, 'equipment');
  const c = await a.post(`${V1}/object-types`, COURSE);
  assert.equal(c.status, 201, c.text);
  assertType(c.json, COURSE, 'course');
  assert.equal(c.json.title_field, 'name', 'the first text field names a record by default');
  // everyone reads
  for (const who of [a, S1.api, S2.api, MK.api, AG.api, MG.api]) {
    const l = await who.get(`${V1}/object-types`);
    assert.equal(l.status, 200, l.text);
    assert.equal(l.json.total, baseTypes + 2);
    assert.deepEqual(l.json.items.map((x) => x.key).filter((k) => k === 'course' || k === 'equipment').sort(), ['course', 'equipment']);
    const g = await who.get(`${V1}/object-types/equipment`);
    assert.equal(g.status, 200, g.text);
    assertType(g.json, EQUIPMENT, 'GET by a reader');
    assert.equal(g.json.records, 1, 'records counts the type\'s records');
  }
  expectError(await a.get(`${V1}/object-types/nope`), 404);
  // only admins change or delete one
  for (const who of [S1, MK, AG, MG]) {
    expectError(await who.api.patch(`${V1}/object-types/equipment`, { label: '被改了' }), 403);
    expectError(await who.api.del(`${V1}/object-types/course`), 403);
  }
  assert.equal((await a.get(`${V1}/object-types/equipment`)).json.label, EQUIPMENT.label);
  assert.equal((await a.get(`${V1}/object-types/course`)).status, 200);
});

test('records: create (201, the shape), get, PATCH merges values (null removes one), DELETE 204 then 404', async () => {
  const values = { serial_no: 'SN-0001', model: 'X100', install_date: '2026-01-05', warranty_end: '2027-01-05', hours: 1520 };
  const r = await a.post(`${V1}/objects/equipment`, { customer_id: C.A1.id, ticket_id: T.A1.id, values });
  assert.equal(r.status, 201, r.text);
  const rec = r.json;
  eq.set(rec.id, { id: rec.id, customer_id: C.A1.id, ticket_id: T.A1.id, values: { ...values } });
  assert.equal(typeof rec.id, 'number');
  assert.equal(rec.type, 'equipment');
  assert.equal(rec.customer_id, C.A1.id);
  assert.equal(rec.customer_name, '华东机械');
  assert.equal(rec.deal_id, null);
  assert.equal(rec.ticket_id, T.A1.id);
  assert.equal(rec.title, 'SN-0001');
  assert.deepEqual(rec.values, values);
  assert.ok(rec.created_at && rec.updated_at);

  const g = await a.get(`${V1}/objects/equipment/${rec.id}`);
  assert.equal(g.status, 200, g.text);
  assert.deepEqual(g.json, rec);
  // one typed row per value
  const rows = sql(server, `SELECT f.field_key, v.v_text, v.v_num, v.v_date FROM object_values v
    JOIN object_fields f ON f.id = v.field_id WHERE v.record_id = ${rec.id} ORDER BY f.field_key`);
  assert.deepEqual(rows.map((x) => x[0]), ['hours', 'install_date', 'model', 'serial_no', 'warranty_end']);
  const byKey = Object.fromEntries(rows.map((x) => [x[0], x]));
  assert.equal(Number(byKey.hours[2]), 1520);
  assert.equal(byKey.install_date[3], '2026-01-05');
  assert.equal(byKey.serial_no[1], 'SN-0001');

  // PATCH: given values merge, null removes one, the rest stay; the title follows the title field
  let p = await a.patch(`${V1}/objects/equipment/${rec.id}`, { values: { hours: 2000.5, install_date: null, serial_no: 'SN-0001-B' } });
  assert.equal(p.status, 200, p.text);
  const merged = { serial_no: 'SN-0001-B', model: 'X100', warranty_end: '2027-01-05', hours: 2000.5 };
  assert.deepEqual(p.json.values, merged);
  assert.equal(p.json.title, 'SN-0001-B');
  assert.equal(p.json.ticket_id, T.A1.id, 'a PATCH of values keeps the relations');
  eq.get(rec.id).values = { ...merged };
  assert.deepEqual((await a.get(`${V1}/objects/equipment/${rec.id}`)).json.values, merged);
  assert.equal(num(`SELECT COUNT(*) FROM object_values v JOIN object_fields f ON f.id = v.field_id
    WHERE v.record_id = ${rec.id} AND f.field_key = 'install_date'`), 0, 'the removed value has no typed row left');
  assert.equal(num(`SELECT COUNT(*) FROM object_values v JOIN object_fields f ON f.id = v.field_id
    WHERE v.record_id = ${rec.id} AND f.field_key = 'serial_no' AND v.v_text = 'SN-0001-B'`), 1);
  // an empty PATCH of values changes nothing
  p = await a.patch(`${V1}/objects/equipment/${rec.id}`, { values: {} });
  assert.equal(p.status, 200, p.text);
  assert.deepEqual(p.json.values, merged);

  // a text of exactly 255 characters (the contract's limit) is kept whole
  const long = 'L'.repeat(254) + '尾';
  const lr = await mkEq(a, C.A2, { serial_no: long });
  assert.equal((await a.get(`${V1}/objects/equipment/${lr.id}`)).json.values.serial_no, long);

  // DELETE
  const x = await mkEq(a, C.A2, { serial_no: 'TO-DELETE' });
  const del = await a.del(`${V1}/objects/equipment/${x.id}`);
  assert.equal(del.status, 204, del.text);
  eq.delete(x.id);
  expectError(await a.get(`${V1}/objects/equipment/${x.id}`), 404);
  expectError(await a.patch(`${V1}/objects/equipment/${x.id}`, { values: { hours: 1 } }), 404);
  expectError(await a.del(`${V1}/objects/equipment/${x.id}`), 404);
  assert.equal(num(`SELECT COUNT(*) FROM object_values WHERE record_id = ${x.id}`), 0);
  assert.equal(num(`SELECT COUNT(*) FROM object_records WHERE id = ${x.id}`), 0);
  // a record of another type is not reachable under this one; unknown types are 404
  const course = await a.post(`${V1}/objects/course`, { customer_id: C.A1.id, values: { name: '高等数学' } });
  assert.equal(course.status, 201, course.text);
  assert.equal(course.json.title, '高等数学');
  expectError(await a.get(`${V1}/objects/equipment/${course.json.id}`), 404);
  expectError(await a.get(`${V1}/objects/nope`), 404);
  expectError(await a.get(`${V1}/objects/nope/1`), 404);
  expectError(await a.post(`${V1}/objects/nope`, { customer_id: C.A1.id, values: { serial_no: 'x' } }), 404);
});

test('list: newest first, total and paging', async () => {
  for (let i = 0; i < 5; i++) await mkEq(a, C.U, { serial_no: `PAGE-${i}`, model: 'X200' });
  const all = sortNum([...eq.keys()]).reverse();
  const l = await list(a, `${V1}/objects/equipment?per_page=200`);
  assert.equal(l.total, all.length);
  assert.deepEqual(l.ids, all, 'newest first (by id)');
  assert.ok(l.items.every((x) => x.type === 'equipment' && x.values && typeof x.customer_id === 'number'));
  const p2 = await list(a, `${V1}/objects/equipment?per_page=3&page=2`);
  assert.equal(p2.total, all.length);
  assert.deepEqual(p2.ids, all.slice(3, 6));
  const beyond = await list(a, `${V1}/objects/equipment?per_page=3&page=50`);
  assert.deepEqual(beyond.ids, []);
  assert.equal(beyond.total, all.length);
  expectError(await a.get(`${V1}/objects/equipment?per_page=201`), 400);
  expectError(await a.get(`${V1}/objects/equipment?page=0`), 400);
});

test('record validation: every 422 names its field, and a refused write changes nothing', async () => {
  const ok = { serial_no: 'VAL-OK', model: 'X200', install_date: '2026-02-28', hours: 12 };
  const cases = [
    [{ customer_id: C.A1.id, values: { model: 'X100' } }, 'values.serial_no'],
    [{ customer_id: C.A1.id, values: { ...ok, serial_no: '' } }, 'values.serial_no'],
    [{ customer_id: C.A1.id, values: { ...ok, serial_no: 'x'.repeat(256) } }, 'values.serial_no'],
    [{ customer_id: C.A1.id, values: { ...ok, hours: 'many' } }, 'values.hours'],
    [{ customer_id: C.A1.id, values: { ...ok, hours: '12' } }, 'values.hours'],
    [{ customer_id: C.A1.id, values: { ...ok, install_date: '2026-02-30' } }, 'values.install_date'],
    [{ customer_id: C.A1.id, values: { ...ok, install_date: '2026/02/28' } }, 'values.install_date'],
    [{ customer_id: C.A1.id, values: { ...ok, warranty_end: '2025-13-01' } }, 'values.warranty_end'],
    [{ customer_id: C.A1.id, values: { ...ok, model: 'X300' } }, 'values.model'],
    [{ customer_id: C.A1.id, values: { ...ok, model: 'x100' } }, 'values.model'],
    [{ customer_id: C.A1.id, values: { ...ok, colour: 'red' } }, 'values.colour'],
    [{ values: ok }, 'customer_id'],
    [{ customer_id: 99999999, values: ok }, 'customer_id'],
    [{ customer_id: C.A1.id, deal_id: D.A1.id, values: ok }, 'deal_id'], // equipment has no deal relation
    [{ customer_id: C.A1.id, ticket_id: T.B1.id, values: ok }, 'ticket_id'], // another customer's ticket
    [{ customer_id: C.A1.id, ticket_id: 99999999, values: ok }, 'ticket_id'],
  ];
  const before = objCounts();
  for (const [body, field] of cases) {
    const r = await a.post(`${V1}/objects/equipment`, body);
    const e = expectError(r, 422, 'validation_failed');
    assert.ok(e.fields && e.fields[field], `${JSON.stringify(body).slice(0, 160)} must name ${field}: ${r.text}`);
  }
  // out of scope: sales of team B for a team-A customer
  let r = await S2.api.post(`${V1}/objects/equipment`, { customer_id: C.A1.id, values: ok });
  let e = expectError(r, 422, 'validation_failed');
  assert.ok(e.fields && e.fields.customer_id, r.text);
  // course: a deal relation (the customer's deals only), no ticket relation
  for (const [body, field] of [
    [{ customer_id: C.A1.id, deal_id: D.B1.id, values: { name: '物理' } }, 'deal_id'],
    [{ customer_id: C.A1.id, deal_id: 99999999, values: { name: '物理' } }, 'deal_id'],
    [{ customer_id: C.A1.id, ticket_id: T.A1.id, values: { name: '物理' } }, 'ticket_id'],
    [{ customer_id: C.A1.id, values: { name: '物理', topics: ['生物'] } }, 'values.topics'],
    [{ customer_id: C.A1.id, values: { name: '物理', level: '专家' } }, 'values.level'],
  ]) {
    r = await a.post(`${V1}/objects/course`, body);
    e = expectError(r, 422, 'validation_failed');
    assert.ok(e.fields && e.fields[field], `course ${JSON.stringify(body)} must name ${field}: ${r.text}`);
  }
  // refused PATCHes leave the record as it was
  const rec = await a.get(`${V1}/objects/equipment/${[...eq.keys()][0]}`);
  assert.equal(rec.status, 200);
  for (const [body, field] of [
    [{ values: { hours: 'x' } }, 'values.hours'],
    [{ values: { serial_no: null } }, 'values.serial_no'], // required: cannot be removed
    [{ values: { install_date: '2026-02-29' } }, 'values.install_date'],
    [{ values: { nope: 1 } }, 'values.nope'],
    [{ ticket_id: T.B1.id }, 'ticket_id'],
    [{ deal_id: D.A1.id }, 'deal_id'],
  ]) {
    r = await a.patch(`${V1}/objects/equipment/${rec.json.id}`, body);
    e = expectError(r, 422, 'validation_failed');
    assert.ok(e.fields && e.fields[field], `PATCH ${JSON.stringify(body)} must name ${field}: ${r.text}`);
  }
  assert.deepEqual((await a.get(`${V1}/objects/equipment/${rec.json.id}`)).json, rec.json);
  assert.deepEqual(objCounts(), before, 'refused writes change nothing');

  // the relations that are allowed
  r = await a.post(`${V1}/objects/course`, { customer_id: C.A1.id, deal_id: D.A1.id, values: { name: '物理', topics: ['物理', '数学'], level: '高级', start_on: '2026-09-01' } });
  assert.equal(r.status, 201, r.text);
  assert.equal(r.json.deal_id, D.A1.id);
  assert.equal(r.json.ticket_id, null);
  assert.deepEqual([...r.json.values.topics].sort(), ['数学', '物理']);
  // a date on 29 February of a leap year is a calendar date
  await mkEq(a, C.A2, { serial_no: 'LEAP', install_date: '2024-02-29' });
});

test('type definitions: 422 naming the field, 409 duplicate, nothing stored', async () => {
  const base = { key: 'ok_type', label: '好的', fields: [{ key: 'name', label: '名称', type: 'text' }] };
  const sel = { key: 'kind', label: '种类', type: 'select', options: ['a', 'b'] };
  const bad = [
    [{ ...base, key: 'Equipment2' }, 'key'],
    [{ ...base, key: '1abc' }, 'key'],
    [{ ...base, key: 'a-b' }, 'key'],
    [{ ...base, key: 'a'.repeat(41) }, 'key'],
    [{ ...base, key: undefined }, 'key'],
    [{ ...base, label: undefined }, 'label'],
    [{ ...base, label: '' }, 'label'],
    [{ ...base, label: 'x'.repeat(201) }, 'label'],
    [{ ...base, fields: [] }, 'fields'],
    [{ ...base, fields: Array.from({ length: 51 }, (_, i) => ({ key: `f${i}`, label: `F${i}`, type: 'text' })) }, 'fields'],
    [{ ...base, fields: [base.fields[0], { key: 'kind', label: '种类', type: 'select' }] }, 'fields[1].options'],
    [{ ...base, fields: [base.fields[0], { ...sel, options: [] }] }, 'fields[1].options'],
    [{ ...base, fields: [base.fields[0], { ...sel, options: ['a', 'a'] }] }, 'fields[1].options'],
    [{ ...base, fields: [base.fields[0], { ...sel, options: Array.from({ length: 101 }, (_, i) => `o${i}`) }] }, 'fields[1].options'],
    [{ ...base, fields: [base.fields[0], { ...sel, type: 'multiselect', options: undefined }] }, 'fields[1].options'],
    [{ ...base, fields: [{ ...base.fields[0], options: ['a'] }, sel] }, 'fields[0].options'],
    [{ ...base, fields: [base.fields[0], sel, { key: 'n', label: 'N', type: 'number', options: ['1'] }] }, 'fields[2].options'],
    [{ ...base, fields: [{ ...base.fields[0], type: 'boolean' }] }, 'fields[0].type'],
    [{ ...base, fields: [base.fields[0], { ...sel, key: 'Bad-Key' }] }, 'fields[1].key'],
    [{ ...base, fields: [base.fields[0], { ...sel, key: 'k'.repeat(65) }] }, 'fields[1].key'],
    [{ ...base, fields: [base.fields[0], { ...sel, key: 'name' }] }, 'fields[1].key'],
    [{ ...base, fields: [{ key: 'name', type: 'text' }] }, 'fields[0].label'],
    [{ ...base, title_field: 'nope' }, 'title_field'],
    [{ ...base, fields: [...base.fields, { key: 'n', label: 'N', type: 'number' }], title_field: 'n' }, 'title_field'],
  ];
  const before = objCounts();
  for (const [body, field] of bad) {
    const clean = JSON.parse(JSON.stringify(body));
    const r = await a.post(`${V1}/object-types`, clean);
    const e = expectError(r, 422, 'validation_failed');
    assert.ok(e.fields && e.fields[field], `${JSON.stringify(clean).slice(0, 160)} must name ${field}: ${r.text.slice(0, 400)}`);
  }
  const d = expectError(await a.post(`${V1}/object-types`, { ...EQUIPMENT, label: '又一个' }), 409, 'duplicate');
  assert.ok(mentions(d, 'key') || d.field === 'key', JSON.stringify(d));
  assert.deepEqual(objCounts(), before);
  // a select field may name records
  const r = await a.post(`${V1}/object-types`, { ...base, fields: [sel], title_field: 'kind' });
  assert.equal(r.status, 201, r.text);
  assert.equal(r.json.title_field, 'kind');
  assert.equal((await a.del(`${V1}/object-types/ok_type`)).status, 204);
});

test('PATCH a type: a new field works at once, a type change is 422, a removed field takes its values (filters on it 400)', async () => {
  // add a field to equipment
  const fields = [...EQUIPMENT.fields, { key: 'location', label: '位置 Location', type: 'text' }];
  let r = await a.patch(`${V1}/object-types/equipment`, { fields });
  assert.equal(r.status, 200, r.text);
  assert.deepEqual(r.json.fields.map((f) => f.key), fields.map((f) => f.key));
  const withLoc = await mkEq(a, C.A2, { serial_no: 'LOC-1', location: '上海仓库' });
  assert.equal(withLoc.values.location, '上海仓库');
  const byLoc = await list(a, `${V1}/objects/equipment?f.location=${enc('上海仓库')}`);
  assert.deepEqual(byLoc.ids, [withLoc.id]);
  // the key is fixed; a field's type cannot change
  const before = (await a.get(`${V1}/object-types/equipment`)).json;
  r = await a.patch(`${V1}/object-types/equipment`, { fields: fields.map((f) => (f.key === 'hours' ? { ...f, type: 'text' } : f)) });
  let e = expectError(r, 422, 'validation_failed');
  assert.ok(e.fields && Object.keys(e.fields).some((k) => k.startsWith('fields[4]')), `names fields[4]: ${r.text}`);
  r = await a.patch(`${V1}/object-types/equipment`, { key: 'machines' });
  e = expectError(r, 422, 'validation_failed');
  assert.ok(e.fields && e.fields.key, r.text);
  r = await a.patch(`${V1}/object-types/equipment`, { title_field: 'hours' });
  e = expectError(r, 422, 'validation_failed');
  assert.ok(e.fields && e.fields.title_field, r.text);
  assert.deepEqual((await a.get(`${V1}/object-types/equipment`)).json, before, 'refused PATCHes change nothing');
  // labels change, order changes
  r = await a.patch(`${V1}/object-types/equipment`, { label_plural: '设备们 Equipment' });
  assert.equal(r.status, 200, r.text);
  assert.equal(r.json.label_plural, '设备们 Equipment');
  assert.deepEqual(r.json.fields.map((f) => f.key), fields.map((f) => f.key), 'fields untouched when not given');
  assert.equal((await a.patch(`${V1}/object-types/equipment`, { label_plural: EQUIPMENT.label_plural })).status, 200);

  // the order of the array is the order of the fields
  const reordered = [fields[1], fields[0], ...fields.slice(2)];
  r = await a.patch(`${V1}/object-types/equipment`, { fields: reordered });
  assert.equal(r.status, 200, r.text);
  assert.deepEqual((await a.get(`${V1}/object-types/equipment`)).json.fields.map((f) => f.key), reordered.map((f) => f.key));
  assert.equal((await a.patch(`${V1}/object-types/equipment`, { fields })).status, 200);
  // the title field cannot be removed while it names records
  r = await a.patch(`${V1}/object-types/equipment`, { fields: fields.filter((f) => f.key !== 'serial_no') });
  e = expectError(r, 422, 'validation_failed');
  assert.ok(e.fields && (e.fields.title_field || Object.keys(e.fields).some((k) => k.startsWith('fields'))), r.text);
  assert.deepEqual((await a.get(`${V1}/object-types/equipment`)).json.fields.map((f) => f.key), fields.map((f) => f.key));

  // remove course.level, which records use
  const c1 = await a.post(`${V1}/objects/course`, { customer_id: C.A2.id, values: { name: '化学', level: '初级', topics: ['化学'] } });
  assert.equal(c1.status, 201, c1.text);
  const levelId = q1("SELECT f.id FROM object_fields f JOIN object_types t ON t.id = f.type_id WHERE t.type_key = 'course' AND f.field_key = 'level'");
  assert.ok(num(`SELECT COUNT(*) FROM object_values WHERE field_id = ${levelId}`) >= 2);
  assert.deepEqual((await list(a, `${V1}/objects/course?f.level=${enc('初级')}`)).ids, [c1.json.id]);
  assert.equal((await a.post(`${V1}/segments/preview`, { rule: 'obj.course.level = 初级' })).status, 200);
  const courseFields = COURSE.fields.filter((f) => f.key !== 'level');
  r = await a.patch(`${V1}/object-types/course`, { fields: courseFields });
  assert.equal(r.status, 200, r.text);
  assert.deepEqual(r.json.fields.map((f) => f.key), ['name', 'topics', 'start_on']);
  assert.equal(num(`SELECT COUNT(*) FROM object_values WHERE field_id = ${levelId}`), 0, 'the field\'s values are gone');
  const after = await a.get(`${V1}/objects/course/${c1.json.id}`);
  assert.equal(after.status, 200);
  assert.deepEqual(after.json.values, { name: '化学', topics: ['化学'] });
  e = expectError(await a.get(`${V1}/objects/course?f.level=${enc('初级')}`), 400);
  assert.ok(mentions(e, 'level'), JSON.stringify(e));
  e = expectError(await a.post(`${V1}/segments/preview`, { rule: 'obj.course.level = 初级' }), 422);
  assert.ok(e.fields && e.fields.rule, JSON.stringify(e));
  e = expectError(await a.post(`${V1}/objects/course`, { customer_id: C.A2.id, values: { name: '生物', level: '初级' } }), 422);
  assert.ok(e.fields && e.fields['values.level'], JSON.stringify(e));
  // a field added again under the removed key starts empty (the old values do not come back)
  r = await a.patch(`${V1}/object-types/course`, { fields: [...courseFields, COURSE.fields[0]] });
  assert.equal(r.status, 200, r.text);
  assert.deepEqual((await a.get(`${V1}/objects/course/${c1.json.id}`)).json.values, { name: '化学', topics: ['化学'] });
  assert.equal((await list(a, `${V1}/objects/course?f.level=${enc('初级')}`)).total, 0);
  assert.equal((await a.post(`${V1}/segments/preview`, { rule: 'obj.course.level = 初级' })).json.count, 0);
  r = await a.patch(`${V1}/object-types/course`, { fields: courseFields });
  assert.equal(r.status, 200, r.text);
  // the multiselect filter: has the option
  assert.deepEqual(sortNum((await list(a, `${V1}/objects/course?f.topics=${enc('物理')}`)).ids),
    sortNum((await list(a, `${V1}/objects/course?per_page=200`)).items.filter((x) => (x.values.topics || []).includes('物理')).map((x) => x.id)));
  assert.equal((await list(a, `${V1}/objects/course?f.topics=${enc('物理')}`)).total, 1);
  const byDeal = await list(a, `${V1}/objects/course?deal_id=${D.A1.id}`);
  assert.equal(byDeal.total, 1);
  assert.equal(byDeal.items[0].deal_id, D.A1.id);
});

test('DELETE a type: 409 in_use while it has records, 204 without; then 404', async () => {
  let r = await a.post(`${V1}/object-types`, { key: 'tmp_thing', label: '临时', fields: [{ key: 'name', label: '名称', type: 'text' }] });
  assert.equal(r.status, 201, r.text);
  r = await a.post(`${V1}/objects/tmp_thing`, { customer_id: C.U.id, values: { name: 'one' } });
  assert.equal(r.status, 201, r.text);
  const rid = r.json.id;
  expectError(await a.del(`${V1}/object-types/tmp_thing`), 409, 'in_use');
  assert.equal((await a.get(`${V1}/object-types/tmp_thing`)).status, 200);
  assert.equal((await a.get(`${V1}/objects/tmp_thing/${rid}`)).status, 200);
  assert.equal((await a.del(`${V1}/objects/tmp_thing/${rid}`)).status, 204);
  r = await a.del(`${V1}/object-types/tmp_thing`);
  assert.equal(r.status, 204, r.text);
  expectError(await a.get(`${V1}/object-types/tmp_thing`), 404);
  expectError(await a.get(`${V1}/objects/tmp_thing`), 404);
  expectError(await a.del(`${V1}/object-types/tmp_thing`), 404);
  assert.equal(num("SELECT COUNT(*) FROM object_types WHERE type_key = 'tmp_thing'"), 0);
  assert.equal((await a.get(`${V1}/object-types`)).json.total, num('SELECT COUNT(*) FROM object_types'));
  assert.ok((await a.get(`${V1}/object-types`)).json.items.every((t) => t.key !== 'tmp_thing'));
});

// ------------------------------------------------------------------ filters

// The filter data set: distinct warranty ends and hours, so sorts have one right answer.
const SET = [
  ['A1', { serial_no: 'SN-AB-0001', model: 'X100', install_date: '2025-01-05', warranty_end: -10, hours: 1520 }],
  ['A1', { serial_no: 'sn-ab-0002', model: 'X200', install_date: '2025-03-01', warranty_end: 0, hours: 250.5 }],
  ['A2', { serial_no: 'SN-CD-0003', model: 'X100', install_date: '2025-06-30', warranty_end: 5, hours: 9800 }],
  ['B1', { serial_no: 'SN-CD-0004', model: 'X200', warranty_end: 29, hours: 0 }],
  ['B1', { serial_no: 'SN-EF-0005', model: 'X100', install_date: '2024-12-31', warranty_end: 30, hours: 3000 }],
  ['B2', { serial_no: 'SN-EF-0006', install_date: '2026-01-05', warranty_end: 31 }],
  ['U', { serial_no: 'SN-GH-0007', model: 'X200', install_date: '2023-02-28', warranty_end: 100, hours: 12000 }],
  ['U', { serial_no: 'SN-GH-0008', model: 'X100', hours: 77 }],
  ['A2', { serial_no: 'XYZ-0009', model: 'X200', install_date: '2024-02-29', warranty_end: 365, hours: 1000 }],
  ['B2', { serial_no: 'ab-lower-10', model: 'X100', install_date: '2025-01-04', warranty_end: -400, hours: 999.999 }],
];

let setMade = false;
async function makeSet() {
  if (setMade) return;
  setMade = true;
  for (const [cust, v] of SET) {
    const values = { ...v };
    if (typeof v.warranty_end === 'number') values.warranty_end = rel(v.warranty_end);
    await mkEq(a, C[cust], values);
  }
}

/** Ids (newest first) of the registered records for which pred(values, record) holds. */
const expectIds = (pred) => sortNum([...eq.values()].filter((r) => pred(r.values, r)).map((r) => r.id)).reverse();
const has = (v, k) => v[k] !== undefined && v[k] !== null;
const lc = (s) => String(s).toLowerCase();
/** The text and select values of a record (what q searches). */
const textVals = (v) => ['serial_no', 'model', 'location'].filter((k) => has(v, k)).map((k) => v[k]);
const qMatch = (v, q) => textVals(v).some((x) => lc(x).includes(lc(q)));

test('filters, q, sort and customer_id answer exactly the records that match', async () => {
  await makeSet();
  const cases = [
    ['f.model=X100', (v) => v.model === 'X100'],
    ['f.model=X200', (v) => v.model === 'X200'],
    [`f.warranty_end.lt=${enc('today+30')}`, (v) => has(v, 'warranty_end') && v.warranty_end < rel(30)],
    [`f.warranty_end.lte=${enc('today+30')}`, (v) => has(v, 'warranty_end') && v.warranty_end <= rel(30)],
    ['f.warranty_end.gt=today', (v) => has(v, 'warranty_end') && v.warranty_end > TODAY],
    ['f.warranty_end.gte=today-10', (v) => has(v, 'warranty_end') && v.warranty_end >= rel(-10)],
    ['f.warranty_end.lt=today', (v) => has(v, 'warranty_end') && v.warranty_end < TODAY],
    [`f.warranty_end=${rel(29)}`, (v) => v.warranty_end === rel(29)],
    ['f.install_date.lt=2025-01-05', (v) => has(v, 'install_date') && v.install_date < '2025-01-05'],
    ['f.install_date.gte=2024-02-29&f.install_date.lte=2025-03-01',
      (v) => has(v, 'install_date') && v.install_date >= '2024-02-29' && v.install_date <= '2025-03-01'],
    ['f.hours.gte=1000', (v) => has(v, 'hours') && v.hours >= 1000],
    ['f.hours.gt=1000', (v) => has(v, 'hours') && v.hours > 1000],
    ['f.hours.lt=250.5', (v) => has(v, 'hours') && v.hours < 250.5],
    ['f.hours.lte=250.5', (v) => has(v, 'hours') && v.hours <= 250.5],
    ['f.hours=0', (v) => v.hours === 0],
    ['f.hours=999.999', (v) => v.hours === 999.999],
    ['f.hours.gt=-1', (v) => has(v, 'hours') && v.hours > -1],
    ['f.serial_no.contains=CD', (v) => has(v, 'serial_no') && lc(v.serial_no).includes('cd')],
    ['f.serial_no.contains=-00', (v) => has(v, 'serial_no') && v.serial_no.includes('-00')],
    ['f.serial_no=SN-EF-0005', (v) => v.serial_no === 'SN-EF-0005'],
    ['f.model=X200&f.hours.gte=1000', (v) => v.model === 'X200' && has(v, 'hours') && v.hours >= 1000],
    [`f.model=X100&f.warranty_end.lt=${enc('today+30')}`, (v) => v.model === 'X100' && has(v, 'warranty_end') && v.warranty_end < rel(30)],
    [`customer_id=${C.A1.id}`, (v, r) => r.customer_id === C.A1.id],
    [`customer_id=${C.B1.id}&f.model=X100`, (v, r) => r.customer_id === C.B1.id && v.model === 'X100'],
    [`ticket_id=${T.A1.id}`, (v, r) => r.ticket_id === T.A1.id],
    // q: a substring of any text or select value, case-insensitive
    ['q=cd', (v) => qMatch(v, 'cd')],
    ['q=AB', (v) => qMatch(v, 'AB')],
    ['q=x200', (v) => qMatch(v, 'x200')],
    ['q=0009', (v) => qMatch(v, '0009')],
    [`q=${enc('上海')}`, (v) => qMatch(v, '上海')],
    ['q=sn&f.model=X100', (v) => v.model === 'X100' && qMatch(v, 'sn')],
    ['q=nothing-like-this', () => false],
  ];
  const problems = [];
  for (const [query, pred] of cases) {
    const want = expectIds(pred);
    const r = await a.get(`${V1}/objects/equipment?per_page=200&${query}`);
    if (r.status !== 200) { problems.push(`${query}: ${r.status} ${r.text.slice(0, 200)}`); continue; }
    const got = r.json.items.map((x) => x.id);
    if (JSON.stringify(got) !== JSON.stringify(want)) problems.push(`${query}: got ${JSON.stringify(got)} want ${JSON.stringify(want)}`);
    if (r.json.total !== want.length) problems.push(`${query}: total ${r.json.total} want ${want.length}`);
  }
  assert.ok(expectIds((v) => v.model === 'X100').length >= 5 && expectIds((v) => has(v, 'warranty_end') && v.warranty_end < rel(30)).length === 5,
    'the data set is what the cases need');
  assert.deepEqual(problems, [], problems.join('\n'));

  // paging inside a filter
  const x100 = expectIds((v) => v.model === 'X100');
  const p = await list(a, `${V1}/objects/equipment?f.model=X100&per_page=2&page=2`);
  assert.deepEqual(p.ids, x100.slice(2, 4));
  assert.equal(p.total, x100.length);

  // sorts (the filter keeps records without the value out of the comparison)
  const sorted = (key, dir) => {
    const rs = [...eq.values()].filter((r) => has(r.values, key));
    assert.equal(new Set(rs.map((r) => r.values[key])).size, rs.length, `${key}: no ties`);
    rs.sort((x, y) => (x.values[key] < y.values[key] ? -1 : x.values[key] > y.values[key] ? 1 : 0) * dir);
    return rs.map((r) => r.id);
  };
  for (const [query, want] of [
    ['sort=warranty_end&f.warranty_end.gte=1900-01-01', sorted('warranty_end', 1)],
    ['sort=-warranty_end&f.warranty_end.gte=1900-01-01', sorted('warranty_end', -1)],
    ['sort=-hours&f.hours.gte=-1', sorted('hours', -1)],
    ['sort=hours&f.hours.gte=-1', sorted('hours', 1)],
    ['sort=-hours&f.hours.gte=-1&per_page=3&page=2', sorted('hours', -1).slice(3, 6)],
  ]) {
    const l = await list(a, `${V1}/objects/equipment?${query.includes('per_page') ? '' : 'per_page=200&'}${query}`);
    assert.deepEqual(l.ids, want, query);
  }
  // a sort by warranty_end without a filter still holds every record, in order where dated
  const all = await list(a, `${V1}/objects/equipment?per_page=200&sort=warranty_end`);
  assert.equal(all.total, eq.size);
  assert.deepEqual(all.ids.filter((i) => has(eq.get(i).values, 'warranty_end')), sorted('warranty_end', 1));
});

test('q finds a serial number by any substring, whatever its case', async () => {
  await makeSet();
  const target = [...eq.values()].find((r) => r.values.serial_no === 'SN-GH-0007');
  for (const q of ['SN-GH-0007', 'sn-gh-0007', 'gh-00', 'H-0007', 'Gh-0007', '0007']) {
    const l = await list(a, `${V1}/objects/equipment?q=${enc(q)}&per_page=200`);
    assert.ok(l.ids.includes(target.id), `q=${q}: ${JSON.stringify(l.ids)}`);
    assert.deepEqual(l.ids, expectIds((v) => qMatch(v, q)), `q=${q}`);
  }
  // LIKE wildcards in q are literal
  assert.equal((await list(a, `${V1}/objects/equipment?q=${enc('%')}`)).total, 0);
  assert.equal((await list(a, `${V1}/objects/equipment?q=${enc('SN_GH')}`)).total, 0);
});

test('long and unusual values: q, contains, equality and segments see a whole 255-character text; limits count characters', async () => {
  const w = await mkCustomer('wide', {});
  const made = [];
  try {
    // q / contains / = are over the whole value, up to its last character
    const needle = `${'P'.repeat(225)}NEEDLE-X${'Q'.repeat(22)}`;
    const long = await mkEq(a, w, { serial_no: needle });
    made.push(long.id);
    assert.equal((await a.get(`${V1}/objects/equipment/${long.id}`)).json.values.serial_no, needle);
    const problems = [];
    for (const query of [`q=${enc('needle-x')}`, `f.serial_no.contains=${enc('NEEDLE-X')}`, `f.serial_no=${enc(needle)}`]) {
      const l = await list(a, `${V1}/objects/equipment?${query}&customer_id=${w.id}`);
      if (JSON.stringify(l.ids) !== JSON.stringify([long.id])) problems.push(`${query.slice(0, 40)}: ${JSON.stringify(l.ids)}`);
    }
    const sp = await a.post(`${V1}/segments/preview`, { rule: 'obj.equipment.serial_no ~ NEEDLE-X' });
    if (sp.status !== 200 || sp.json.count !== 1) problems.push(`segment ~ NEEDLE-X: ${sp.status} ${sp.text.slice(0, 200)}`);
    // two values that differ only in their last characters are different values
    const twin = await mkEq(a, w, { serial_no: `${'P'.repeat(225)}NEEDLE-Y` });
    made.push(twin.id);
    const eqq = await list(a, `${V1}/objects/equipment?f.serial_no=${enc(needle)}`);
    if (JSON.stringify(eqq.ids) !== JSON.stringify([long.id])) problems.push(`f.serial_no= a 255-character value: ${JSON.stringify(eqq.ids)} want [${long.id}]`);
    // 255 characters, not bytes
    const cjk = '设'.repeat(255);
    const r = await a.post(`${V1}/objects/equipment`, { customer_id: w.id, values: { serial_no: cjk } });
    if (r.status !== 201) problems.push(`255 Chinese characters: ${r.status} ${r.text.slice(0, 200)}`);
    else {
      made.push(r.json.id);
      eq.set(r.json.id, { id: r.json.id, customer_id: w.id, values: { serial_no: cjk } });
      if ((await a.get(`${V1}/objects/equipment/${r.json.id}`)).json.values.serial_no !== cjk) problems.push('255 Chinese characters do not round-trip');
    }
    const r2 = await a.post(`${V1}/objects/equipment`, { customer_id: w.id, values: { serial_no: `${cjk}设` } });
    if (r2.status !== 422 || !r2.json.error.fields || !r2.json.error.fields['values.serial_no']) problems.push(`256 characters: ${r2.status}`);
    assert.deepEqual(problems, [], problems.join('\n'));
    // numbers: negative and fractional values compare as numbers; an out-of-range one is refused or kept exactly, never a 500
    const neg = await mkEq(a, w, { serial_no: 'NEG', hours: -12.5 });
    made.push(neg.id);
    assert.deepEqual((await list(a, `${V1}/objects/equipment?customer_id=${w.id}&f.hours.lt=0`)).ids, [neg.id]);
    assert.deepEqual((await list(a, `${V1}/objects/equipment?customer_id=${w.id}&f.hours=-12.5`)).ids, [neg.id]);
    const huge = await a.post(`${V1}/objects/equipment`, { customer_id: w.id, values: { serial_no: 'HUGE', hours: 1e30 } });
    assert.ok(huge.status === 201 || huge.status === 422, `hours 1e30: ${huge.status} ${huge.text}`);
    if (huge.status === 201) {
      made.push(huge.json.id);
      eq.set(huge.json.id, { id: huge.json.id, customer_id: w.id, values: { serial_no: 'HUGE', hours: 1e30 } });
      assert.equal((await a.get(`${V1}/objects/equipment/${huge.json.id}`)).json.values.hours, 1e30);
    } else {
      assert.ok(huge.json.error.fields['values.hours'], huge.text);
    }
    // wrong shapes
    for (const [body, field] of [
      [{ customer_id: w.id, values: 'x' }, 'values'],
      [{ customer_id: w.id, values: { serial_no: 'D', install_date: '2026-2-3' } }, 'values.install_date'],
      [{ customer_id: w.id, values: { serial_no: 'D', install_date: '2026-02-03T00:00:00Z' } }, 'values.install_date'],
      [{ customer_id: w.id, values: { serial_no: 'D', hours: true } }, 'values.hours'],
      [{ customer_id: w.id, values: { serial_no: ['D'] } }, 'values.serial_no'],
      [{ customer_id: w.id, values: { serial_no: 'D', model: ['X100'] } }, 'values.model'],
    ]) {
      const x = await a.post(`${V1}/objects/equipment`, body);
      const e = expectError(x, 422, 'validation_failed');
      assert.ok(e.fields && e.fields[field], `${JSON.stringify(body)} must name ${field}: ${x.text}`);
    }
    const t = expectError(await a.post(`${V1}/objects/course`, { customer_id: w.id, values: { name: 'M', topics: '数学' } }), 422);
    assert.ok(t.fields['values.topics'], JSON.stringify(t));
    // LIKE wildcards in contains are literal
    assert.equal((await list(a, `${V1}/objects/equipment?f.serial_no.contains=${enc('%')}`)).total, 0);
  } finally {
    for (const id of made) {
      if (!eq.has(id)) eq.set(id, { id, customer_id: w.id, values: {} });
      assert.equal((await a.del(`${V1}/objects/equipment/${id}`)).status, 204);
      eq.delete(id);
    }
  }
});

test('an unknown field or a value of the wrong type is a 400 naming it', async () => {
  for (const [query, name] of [
    ['f.nope=1', 'nope'],
    ['f.nope.gt=1', 'nope'],
    ['f.hours.gte=abc', 'hours'],
    ['f.hours=abc', 'hours'],
    ['f.warranty_end.lt=2026-02-30', 'warranty_end'],
    ['f.warranty_end.lt=tomorrow', 'warranty_end'],
    ['f.install_date=05.01.2026', 'install_date'],
    ['f.hours.contains=1', 'hours'],
    ['f.serial_no.gt=A', 'serial_no'],
    ['f.model.lt=X200', 'model'],
    ['f.hours.between=1', 'hours'],
  ]) {
    const r = await a.get(`${V1}/objects/equipment?${query}`);
    const e = expectError(r, 400);
    assert.ok(mentions(e, name), `${query} must name ${name}: ${r.text}`);
  }
  // a sort by an unknown field: 400 naming the parameter (or the field)
  for (const query of ['sort=nope', 'sort=-nope']) {
    const r = await a.get(`${V1}/objects/equipment?${query}`);
    const e = expectError(r, 400);
    assert.ok(mentions(e, 'nope') || mentions(e, 'sort'), `${query}: ${r.text}`);
  }
});

// ------------------------------------------------------------------ scope

test('scope: a sales agent sees and writes only records of customers in their scope; 404 otherwise', async () => {
  await makeSet();
  const teamA = new Set([S1.id, AG.id, MG.id]);
  const ownerOf = new Map(Object.values(C).map((c) => [c.id, c.owner]));
  const scopes = [
    [S1, (r) => teamA.has(ownerOf.get(r.customer_id))],
    [S2, (r) => ownerOf.get(r.customer_id) === S2.id],
  ];
  for (const [who, sees] of scopes) {
    const want = sortNum([...eq.values()].filter(sees).map((r) => r.id)).reverse();
    const hidden = [...eq.values()].filter((r) => !sees(r));
    assert.ok(want.length >= 2 && hidden.length >= 2, 'records on both sides');
    const l = await list(who.api, `${V1}/objects/equipment?per_page=200`);
    assert.deepEqual(l.ids, want, `${who.agent.name} list`);
    assert.equal(l.total, want.length);
    const f = await list(who.api, `${V1}/objects/equipment?per_page=200&f.model=X100`);
    assert.deepEqual(f.ids, want.filter((i) => eq.get(i).values.model === 'X100'));
    const q = await list(who.api, `${V1}/objects/equipment?per_page=200&q=SN`);
    assert.ok(q.ids.every((i) => want.includes(i)), `q leaks: ${q.ids}`);
    for (const r of hidden.slice(0, 6)) {
      const before = (await a.get(`${V1}/objects/equipment/${r.id}`)).json;
      expectError(await who.api.get(`${V1}/objects/equipment/${r.id}`), 404);
      expectError(await who.api.patch(`${V1}/objects/equipment/${r.id}`, { values: { hours: 1 } }), 404);
      expectError(await who.api.del(`${V1}/objects/equipment/${r.id}`), 404);
      assert.deepEqual((await a.get(`${V1}/objects/equipment/${r.id}`)).json, before, 'unchanged');
      const c = await list(who.api, `${V1}/objects/equipment?customer_id=${r.customer_id}`);
      assert.equal(c.total, 0);
    }
    for (const id of want.slice(0, 3)) {
      assert.equal((await who.api.get(`${V1}/objects/equipment/${id}`)).status, 200);
    }
  }
  // writes in scope
  const mine = await mkEq(S1.api, C.A1, { serial_no: 'S1-OWN', model: 'X200' });
  let r = await S1.api.patch(`${V1}/objects/equipment/${mine.id}`, { values: { hours: 5 } });
  assert.equal(r.status, 200, r.text);
  eq.get(mine.id).values.hours = 5;
  let e = expectError(await S1.api.post(`${V1}/objects/equipment`, { customer_id: C.B1.id, values: { serial_no: 'S1-THEIRS' } }), 422);
  assert.ok(e.fields && e.fields.customer_id, JSON.stringify(e));
  e = expectError(await S1.api.post(`${V1}/objects/equipment`, { customer_id: C.U.id, values: { serial_no: 'S1-UNOWNED' } }), 422);
  assert.ok(e.fields && e.fields.customer_id, JSON.stringify(e));
  // a service agent (scope all) writes; a marketer reads everything and writes nothing
  const ag = await mkEq(AG.api, C.B2, { serial_no: 'AGENT-MADE' });
  const mk = await list(MK.api, `${V1}/objects/equipment?per_page=200`);
  assert.equal(mk.total, eq.size);
  expectError(await MK.api.post(`${V1}/objects/equipment`, { customer_id: C.U.id, values: { serial_no: 'MK' } }), 403);
  expectError(await MK.api.patch(`${V1}/objects/equipment/${ag.id}`, { values: { hours: 1 } }), 403);
  expectError(await MK.api.del(`${V1}/objects/equipment/${ag.id}`), 403);
  assert.equal((await MK.api.get(`${V1}/objects/equipment/${ag.id}`)).status, 200);
  // a change of scope applies to records at once
  assert.equal((await a.patch(`${V1}/agents/${S2.id}`, { data_scope: 'all' })).status, 200);
  try {
    const l = await list(S2.api, `${V1}/objects/equipment?per_page=200`);
    assert.equal(l.total, eq.size);
  } finally {
    assert.equal((await a.patch(`${V1}/agents/${S2.id}`, { data_scope: null })).status, 200);
  }
  // the type's record count
  assert.equal((await a.get(`${V1}/object-types/equipment`)).json.records, eq.size);
});

// ------------------------------------------------------------------ segments and rules

test('segment rules over obj.TYPE.FIELD: customers with at least one matching record; NOT is the complement; unknown names 422', async () => {
  await makeSet();
  const liveCustomers = sortNum(sql(server, 'SELECT id FROM customers WHERE merged_into IS NULL').map((x) => Number(x[0])));
  const holders = (pred) => sortNum([...new Set([...eq.values()].filter((r) => pred(r.values)).map((r) => r.customer_id))]);
  const cases = [
    ['obj.equipment.warranty_end < today+30', (v) => has(v, 'warranty_end') && v.warranty_end < rel(30)],
    ['obj.equipment.warranty_end >= today+30', (v) => has(v, 'warranty_end') && v.warranty_end >= rel(30)],
    ['obj.equipment.model = X100', (v) => v.model === 'X100'],
    ['obj.equipment.model != X100', (v) => has(v, 'model') && v.model !== 'X100'],
    ['obj.equipment.hours >= 9800', (v) => has(v, 'hours') && v.hours >= 9800],
    ['obj.equipment.serial_no ~ EF-000', (v) => has(v, 'serial_no') && lc(v.serial_no).includes('ef-000')],
    ['obj.equipment.install_date = 2024-02-29', (v) => v.install_date === '2024-02-29'],
    ['obj.equipment.install_date >= 2025-01-05', (v) => has(v, 'install_date') && v.install_date >= '2025-01-05'],
    ['obj.equipment.warranty_end <= today', (v) => has(v, 'warranty_end') && v.warranty_end <= TODAY],
    ['obj.equipment.model = X100 AND obj.equipment.hours < 100', null], // two records may satisfy the parts
  ];
  const problems = [];
  for (const [rule, pred] of cases) {
    const want = pred ? holders(pred)
      : holders((v) => v.model === 'X100').filter((c) => holders((v) => has(v, 'hours') && v.hours < 100).includes(c));
    const r = await a.post(`${V1}/segments/preview`, { rule });
    if (r.status !== 200) { problems.push(`${rule}: ${r.status} ${r.text}`); continue; }
    if (r.json.count !== want.length) problems.push(`${rule}: count ${r.json.count} want ${want.length}`);
    const sample = sortNum(r.json.sample.map((c) => c.id));
    if (!sample.every((id) => want.includes(id)) || sample.length !== Math.min(20, want.length)) {
      problems.push(`${rule}: sample ${JSON.stringify(sample)} want ${JSON.stringify(want)}`);
    }
    const l = await a.get(`${V1}/customers?per_page=200&rule=${enc(rule)}`);
    if (l.status !== 200) problems.push(`customers?rule=${rule}: ${l.status} ${l.text}`);
    else if (JSON.stringify(sortNum(l.json.items.map((c) => c.id))) !== JSON.stringify(want)) {
      problems.push(`customers?rule=${rule}: ${JSON.stringify(sortNum(l.json.items.map((c) => c.id)))} want ${JSON.stringify(want)}`);
    }
    // NOT is the complement
    const not = await a.post(`${V1}/segments/preview`, { rule: `NOT ${rule.includes(' AND ') ? `(${rule})` : rule}` });
    const wantNot = liveCustomers.filter((c) => !want.includes(c));
    if (not.status !== 200 || not.json.count !== wantNot.length) problems.push(`NOT ${rule}: ${not.status} count ${not.json && not.json.count} want ${wantNot.length}`);
  }
  assert.deepEqual(problems, [], problems.join('\n'));
  // the exact customers of the contract's example, and its complement
  const soon = holders((v) => has(v, 'warranty_end') && v.warranty_end < rel(30));
  assert.deepEqual(soon, sortNum([C.A1.id, C.A2.id, C.B1.id, C.B2.id]), 'the data set puts an expiring warranty on these four');
  const nx = await a.get(`${V1}/customers?per_page=200&rule=${enc('NOT obj.equipment.model = X100')}`);
  assert.equal(nx.status, 200, nx.text);
  assert.deepEqual(sortNum(nx.json.items.map((c) => c.id)), liveCustomers.filter((c) => !holders((v) => v.model === 'X100').includes(c)));
  // scope: a sales agent's preview counts only customers in scope
  const s1 = await S1.api.post(`${V1}/segments/preview`, { rule: 'obj.equipment.warranty_end < today+30' });
  assert.equal(s1.status, 200, s1.text);
  assert.deepEqual(sortNum(s1.json.sample.map((c) => c.id)), sortNum([C.A1.id, C.A2.id]));
  // unknown type, unknown field, wrong value type: 422 naming the rule
  for (const rule of ['obj.nope.serial_no = 1', 'obj.equipment.nope = 1', 'obj.equipment.hours >= many',
    'obj.equipment.warranty_end < 2026-02-30', 'obj.equipment = 1', 'obj..x = 1']) {
    const r = await a.post(`${V1}/segments/preview`, { rule });
    const e = expectError(r, 422, 'validation_failed');
    assert.ok(e.fields && typeof e.fields.rule === 'string', `${rule}: ${r.text}`);
  }
  // multiselect: = means "has the option"
  const courses = (await list(a, `${V1}/objects/course?per_page=200`)).items;
  const wantCourse = sortNum([...new Set(courses.filter((x) => (x.values.topics || []).includes('物理')).map((x) => x.customer_id))]);
  assert.ok(wantCourse.length >= 1);
  const cp = await a.post(`${V1}/segments/preview`, { rule: 'obj.course.topics = 物理' });
  assert.equal(cp.status, 200, cp.text);
  assert.deepEqual(sortNum(cp.json.sample.map((x) => x.id)), wantCourse);
  // a saved segment with an object condition
  const seg = await a.post(`${V1}/segments`, { name: '保修将到期', rule: 'obj.equipment.warranty_end < today+30' });
  assert.equal(seg.status, 201, seg.text);
  assert.equal((await a.del(`${V1}/segments/${seg.json.id}`)).status, 204);
});

test('rule conditions over obj.TYPE.FIELD: a dry run matches a customer with such a record and not one without', async () => {
  await makeSet();
  const withX200 = [...new Set([...eq.values()].filter((r) => r.values.model === 'X200').map((r) => r.customer_id))];
  const all = Object.values(C).map((c) => c.id);
  const without = all.filter((id) => !withX200.includes(id));
  assert.ok(withX200.length && without.length);
  const rule = { name: '有 X200 设备', trigger: 'customer.updated', conditions: 'obj.equipment.model = X200', actions: [{ type: 'tag', tag: 'X200用户' }] };
  const saved = await a.post(`${V1}/rules`, rule);
  assert.equal(saved.status, 201, saved.text);
  try {
    assert.equal(saved.json.conditions, 'obj.equipment.model = X200');
    for (const [id, matched] of [[withX200[0], true], [without[0], false]]) {
      let r = await a.post(`${V1}/rules/${saved.json.id}/test`, { record_id: id });
      assert.equal(r.status, 200, r.text);
      assert.equal(r.json.matched, matched, `customer ${id}: ${r.text}`);
      r = await a.post(`${V1}/rules/test`, { rule: { trigger: rule.trigger, conditions: rule.conditions, actions: rule.actions }, record_id: id });
      assert.equal(r.status, 200, r.text);
      assert.equal(r.json.matched, matched, `unsaved, customer ${id}: ${r.text}`);
    }
    const r = await a.post(`${V1}/rules/test`, { rule: { ...rule, conditions: 'NOT obj.equipment.model = X200' }, record_id: without[0] });
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.matched, true);
    // on a deal trigger, the deal's customer's records count
    const d = await a.post(`${V1}/rules/test`, { rule: { trigger: 'deal.created', conditions: 'obj.equipment.model = X200', actions: rule.actions }, record_id: D.A1.id });
    assert.equal(d.status, 200, d.text);
    assert.equal(d.json.matched, withX200.includes(C.A1.id), d.text);
    for (const conditions of ['obj.equipment.nope = X200', 'obj.nope.model = X200']) {
      const e = expectError(await a.post(`${V1}/rules`, { ...rule, conditions }), 422, 'validation_failed');
      assert.ok(Object.keys(e.fields).some((k) => /conditions/.test(k)), JSON.stringify(e));
    }
  } finally {
    await a.del(`${V1}/rules/${saved.json.id}`);
  }
});

test('rules on object.created: a new record whose customer now has a matching one tags the customer, once', async () => {
  const cust = await mkCustomer('trigger', {});
  const rule = await a.post(`${V1}/rules`, { name: '新设备提醒', trigger: 'object.created', conditions: 'obj.equipment.model = X200',
    actions: [{ type: 'tag', tag: 'X200设备客户' }], enabled: true });
  assert.equal(rule.status, 201, rule.text);
  try {
    const tags = async () => (await a.get(`${V1}/customers/${cust.id}`)).json.tags;
    await mkEq(a, cust, { serial_no: `TRG-${Date.now()}-1`, model: 'X100' });
    assert.ok(!(await tags()).includes('X200设备客户'), 'an X100 record does not match');
    const rec = await mkEq(a, cust, { serial_no: `TRG-${Date.now()}-2`, model: 'X200' });
    assert.ok((await tags()).includes('X200设备客户'), 'the rule ran in the creating request');
    const f = (await a.get(`${V1}/rules/${rule.json.id}/firings`)).json;
    assert.equal(f.total, 1, JSON.stringify(f));
    assert.equal(f.items[0].record_type, 'customer');
    assert.equal(f.items[0].record_id, cust.id);
    assert.equal(f.items[0].outcome, 'done');
    assert.ok(rec.id);
  } finally {
    await a.del(`${V1}/rules/${rule.json.id}`);
  }
});

// ------------------------------------------------------------------ 360, merge, audit

test('customer 360: objects holds every type (total, newest 20, fields with labels), also total 0', async () => {
  const c = await mkCustomer('360', { owner_id: S1.id });
  const none = await mkCustomer('none', { owner_id: S1.id });
  const made = [];
  for (let i = 0; i < 32; i++) made.push((await mkEq(a, c, { serial_no: `360-${i}`, model: i % 2 ? 'X100' : 'X200', hours: i })).id);
  const types = (await a.get(`${V1}/object-types`)).json.items;
  // (with more than 50 records, an unpaged list shows the default 50)
  assert.ok(eq.size > 50, `${eq.size} records`);
  const dflt = await list(a, `${V1}/objects/equipment`);
  assert.equal(dflt.total, eq.size);
  assert.deepEqual(dflt.ids, sortNum([...eq.keys()]).reverse().slice(0, 50));
  const check = (view, totals) => {
    assert.ok(Array.isArray(view.objects), `objects: ${JSON.stringify(view).slice(0, 300)}`);
    assert.deepEqual(view.objects.map((o) => o.type).sort(), types.map((t) => t.key).sort(), 'one entry per type');
    for (const o of view.objects) {
      const t = types.find((x) => x.key === o.type);
      assert.equal(o.label, t.label);
      assert.equal(o.label_plural, t.label_plural);
      assert.deepEqual(o.fields.map((f) => ({ key: f.key, label: f.label, type: f.type })),
        t.fields.map((f) => ({ key: f.key, label: f.label, type: f.type })));
      assert.equal(o.total, totals[o.type] || 0, o.type);
    }
    return Object.fromEntries(view.objects.map((o) => [o.type, o]));
  };
  const r = await a.get(`${V1}/customers/${c.id}`);
  assert.equal(r.status, 200, r.text);
  const by = check(r.json, { equipment: 32 });
  assert.deepEqual(by.equipment.items.map((x) => x.id), sortNum(made).reverse().slice(0, 20), 'the newest 20');
  assert.deepEqual(by.equipment.items[0].values, { serial_no: '360-31', model: 'X100', hours: 31 });
  assert.equal(by.equipment.items[0].title, '360-31');
  assert.equal(by.equipment.fields.find((f) => f.key === 'warranty_end').label, '保修截止 Warranty end');
  assert.deepEqual(by.course.items, []);
  const n = await a.get(`${V1}/customers/${none.id}`);
  assert.equal(n.status, 200, n.text);
  const byNone = check(n.json, {});
  for (const o of Object.values(byNone)) assert.deepEqual(o.items, []);
  // the sales owner sees the same section
  const s = await S1.api.get(`${V1}/customers/${c.id}`);
  assert.equal(s.status, 200, s.text);
  check(s.json, { equipment: 32 });
});

test('merging customers moves the absorbed customer\'s records to the survivor', async () => {
  const A = await mkCustomer('merge-A', { owner_id: S1.id });
  const B = await mkCustomer('merge-B', { owner_id: S1.id });
  const a1 = await mkEq(a, A, { serial_no: 'MERGE-A-1', model: 'X200', warranty_end: rel(3) });
  const a2 = await mkEq(a, A, { serial_no: 'MERGE-A-2' });
  const b1 = await mkEq(a, B, { serial_no: 'MERGE-B-1' });
  const ca = await a.post(`${V1}/objects/course`, { customer_id: A.id, values: { name: '合并课程' } });
  assert.equal(ca.status, 201, ca.text);
  const r = await a.post(`${V1}/customers/${B.id}/merge`, { from_id: A.id });
  assert.equal(r.status, 200, r.text);
  for (const id of [a1.id, a2.id]) eq.get(id).customer_id = B.id;
  for (const id of [a1.id, a2.id, b1.id]) {
    const g = await a.get(`${V1}/objects/equipment/${id}`);
    assert.equal(g.status, 200, g.text);
    assert.equal(g.json.customer_id, B.id);
    assert.equal(g.json.customer_name, B.name);
  }
  assert.equal((await a.get(`${V1}/objects/course/${ca.json.id}`)).json.customer_id, B.id);
  assert.deepEqual((await list(a, `${V1}/objects/equipment?customer_id=${B.id}`)).ids, [b1.id, a2.id, a1.id]);
  assert.equal(num(`SELECT COUNT(*) FROM object_records WHERE customer_id = ${A.id}`), 0);
  assert.equal(num(`SELECT COUNT(*) FROM object_values WHERE customer_id = ${A.id}`), 0, 'the typed rows follow the record');
  const view = (await a.get(`${V1}/customers/${B.id}`)).json;
  assert.equal(view.objects.find((o) => o.type === 'equipment').total, 3);
  assert.equal(view.objects.find((o) => o.type === 'course').total, 1);
  const p = await a.post(`${V1}/segments/preview`, { rule: 'obj.equipment.serial_no = MERGE-A-1' });
  assert.equal(p.status, 200, p.text);
  assert.deepEqual(p.json.sample.map((c) => c.id), [B.id], 'segment conditions see the survivor');
});

test('every record write is audited and emits an event scoped like its customer (websocket too)', async () => {
  const c = await mkCustomer('audit', { owner_id: S1.id });
  const sockets = [];
  try {
    const master = await agentSocket(server, admin.token);
    const s1 = await agentSocket(server, S1.token);
    const s2 = await agentSocket(server, S2.token);
    sockets.push(master, s1, s2);
    const before = objCounts();
    const rec = await mkEq(a, c, { serial_no: 'AUDIT-1', model: 'X100' });
    let r = await a.patch(`${V1}/objects/equipment/${rec.id}`, { values: { model: 'X200', hours: 3 } });
    assert.equal(r.status, 200, r.text);
    r = await a.del(`${V1}/objects/equipment/${rec.id}`);
    assert.equal(r.status, 204, r.text);
    eq.delete(rec.id);
    const audit = sql(server, `SELECT action, actor_id, before_json IS NOT NULL, after_json IS NOT NULL FROM audit_log
      WHERE action LIKE 'object.%' AND object_id = ${rec.id} ORDER BY id`);
    assert.deepEqual(audit.map((x) => x[0]), ['object.created', 'object.updated', 'object.deleted']);
    assert.ok(audit.every((x) => Number(x[1]) === admin.agent.id), JSON.stringify(audit));
    // created: the record after; updated: before and after; deleted: the record before
    assert.deepEqual([audit[0][3], audit[1][2], audit[1][3], audit[2][2]], ['1', '1', '1', '1'], `before/after: ${JSON.stringify(audit)}`);
    const upd = JSON.parse(q1(`SELECT after_json FROM audit_log WHERE action = 'object.updated' AND object_id = ${rec.id}`));
    assert.ok(JSON.stringify(upd).includes('X200'), JSON.stringify(upd));
    const events = sql(server, `SELECT kind FROM events WHERE kind LIKE 'object.%' AND customer_id = ${c.id} ORDER BY id`);
    assert.deepEqual(events.map((x) => x[0]), ['object.created', 'object.updated', 'object.deleted']);
    const after = objCounts();
    assert.equal(after.audit - before.audit, 3);
    assert.equal(after.events - before.events, 3);
    // the websocket: the admin and the customer's owner hear it, a sales agent of another team does not
    // (a socket may also get earlier tests' events the dispatcher had not yet sent: only
    // this record's frames are compared)
    const objFrames = (s) => s.frames.filter((f) => /^object\./.test(f.type || '') && f.object && f.object.id === rec.id).map((f) => f.type);
    for (const [s, who] of [[master, 'admin'], [s1, 'owner']]) {
      await s.waitFor(() => objFrames(s).includes('object.deleted'), 5000, `object.deleted for the ${who}`)
        .catch(() => assert.fail(`the ${who} got ${JSON.stringify(objFrames(s))}`));
      assert.deepEqual(objFrames(s), ['object.created', 'object.updated', 'object.deleted'], who);
    }
    await sleep(500);
    assert.deepEqual(objFrames(s2), [], 'out of scope: no object events');
    const ownerOf = new Map(Object.values(C).map((x) => [x.id, x.owner]));
    const leaked = s2.frames.filter((f) => /^object\./.test(f.type || '') && ownerOf.get(f.object ? f.object.customer_id : f.customer_id) !== S2.id);
    assert.deepEqual(leaked, [], 'the team-B sales agent hears only of team-B customers\' records');
    const frame = master.frames.find((f) => f.type === 'object.created' && f.object && f.object.id === rec.id);
    assert.equal(frame.object.customer_id, c.id);
    assert.equal(frame.object.values.serial_no, 'AUDIT-1');
  } finally {
    for (const s of sockets) s.ws.terminate();
  }
});
