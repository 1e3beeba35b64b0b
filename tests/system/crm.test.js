'use strict';
// crm.test.js — the CRM API against docs/api.md ("Customers" … "Sales: pipeline, deals,
// leads, follow-ups, reminders"): custom fields (every type, options, required, errors
// naming attrs.KEY, immutable keys, deletion removing values), tags and bulk tags inside
// the data scope, the lifecycle history (manual, deal-driven forward only), pipeline
// stages, deals (validation, lost reason, stage history seconds, manager reminders),
// leads (region / least-busy assignment, conversion), follow-ups, duplicate candidates
// (e-mail, phone, normalised company names), merge (every kind of child row moves), the
// customer 360 with its timeline paging, and the audit list.
const test = require('node:test');
const assert = require('node:assert/strict');
const {
  startServer, bootstrapAdmin, api, sql, dropDatabase, createAgent, counts, expectError,
} = require('./harness');
const { sortNum } = require('./crm_util');

const enc = encodeURIComponent;
const V1 = '/api/v1';

test.describe('CRM', () => {
  let server;
  let admin;
  let a;
  let T1; let T2;
  let M1; let S1; let S2; let S3; let MK; let AG;
  let stages; // name fragment → stage row
  const stageId = (frag) => stages.find((s) => s.name.includes(frag)).id;

  const q1 = (query) => { const rows = sql(server, query); return rows.length ? rows[0][0] : null; };
  const num = (query) => Number(q1(query));

  /** POST /customers as `who` (an api()), asserting 201. */
  async function mkCustomer(who, body) {
    const r = await who.post(`${V1}/customers`, body);
    assert.equal(r.status, 201, `create ${JSON.stringify(body)}: ${r.text}`);
    return r.json;
  }
  async function mkDeal(who, body) {
    const r = await who.post(`${V1}/deals`, body);
    assert.equal(r.status, 201, `deal ${JSON.stringify(body)}: ${r.text}`);
    return r.json;
  }

  test.before(async () => {
    server = await startServer();
    admin = await bootstrapAdmin(server);
    a = api(server, admin.token);
    T1 = (await a.post(`${V1}/teams`, { name: '华东销售', description: 'East' })).json;
    T2 = (await a.post(`${V1}/teams`, { name: '华南销售', description: 'South' })).json;
    assert.ok(T1 && T1.id && T2 && T2.id);
    M1 = await createAgent(server, admin.token, { role: 'manager', team_id: T1.id, name: '经理一' });
    S1 = await createAgent(server, admin.token, { role: 'sales', team_id: T1.id, name: '销售一' });
    S2 = await createAgent(server, admin.token, { role: 'sales', team_id: T1.id, name: '销售二' });
    S3 = await createAgent(server, admin.token, { role: 'sales', team_id: T2.id, name: '销售三' });
    MK = await createAgent(server, admin.token, { role: 'marketer', name: '市场' });
    AG = await createAgent(server, admin.token, { role: 'agent', team_id: T1.id, name: '客服' });
    for (const x of [M1, S1, S2, S3, MK, AG]) x.api = api(server, x.token);
    const r = await a.patch(`${V1}/teams/${T1.id}`, { manager_id: M1.id });
    assert.equal(r.status, 200, r.text);
    assert.equal((await a.get(`${V1}/teams/${T1.id}`)).json.manager_id, M1.id);
    stages = (await a.get(`${V1}/pipeline-stages`)).json.items;
    assert.equal(stages.length, 5, JSON.stringify(stages));
  });

  test.after(async () => {
    if (server) {
      await server.stop();
      dropDatabase(server);
    }
  });

  // ---------------------------------------------------------------- custom fields

  test('custom fields: every type with options and required; values checked on every write as attrs.KEY', async () => {
    const mk = async (body) => {
      const r = await a.post(`${V1}/field-defs`, body);
      assert.equal(r.status, 201, `${JSON.stringify(body)}: ${r.text}`);
      assert.equal(r.json.key, body.key);
      assert.equal(r.json.type, body.type);
      return r.json;
    };
    await mk({ key: 'note_txt', label: '备注', type: 'text' });
    const budget = await mk({ key: 'budget', label: '预算', type: 'number' });
    await mk({ key: 'signed_on', label: '签约日期', type: 'date' });
    const size = await mk({ key: 'size', label: '规模', type: 'select', options: ['S', 'M', 'L'] });
    const chans = await mk({
      key: 'channels', label: '渠道', type: 'multiselect',
      options: [{ value: 'wechat', label: '微信' }, { value: 'email', label: '邮件' }, { value: 'phone', label: '电话' }],
    });
    assert.deepEqual(size.options, ['S', 'M', 'L']);
    assert.deepEqual(chans.options.map((o) => o.value), ['wechat', 'email', 'phone']);
    const listed = await AG.api.get(`${V1}/field-defs`);
    assert.equal(listed.status, 200, listed.text);
    assert.deepEqual(listed.json.items.map((d) => d.key).sort(), ['budget', 'channels', 'note_txt', 'signed_on', 'size']);

    // Bad definitions: 422 naming the field, nothing stored.
    const before = counts(server, ['field_defs', 'audit_log']);
    const bad = [
      [{ key: '1abc', label: 'x', type: 'text' }, 'key'],
      [{ key: 'Budget2', label: 'x', type: 'text' }, 'key'],
      [{ key: 'a-b', label: 'x', type: 'text' }, 'key'],
      [{ key: 'a'.repeat(65), label: 'x', type: 'text' }, 'key'],
      [{ key: 'ok_key', label: 'x', type: 'boolean' }, 'type'],
      [{ key: 'ok_key', label: 'x', type: 'select' }, 'options'],
      [{ key: 'ok_key', label: 'x', type: 'select', options: [] }, 'options'],
      [{ key: 'ok_key', label: 'x', type: 'multiselect', options: ['a', 'a'] }, 'options'],
      [{ key: 'ok_key', label: 'x', type: 'select', options: Array.from({ length: 201 }, (_, i) => `o${i}`) }, 'options'],
      [{ key: 'ok_key', label: 'x', type: 'select', options: [''] }, 'options'],
      [{ key: 'ok_key', label: 'x', type: 'text', options: ['a'] }, 'options'],
      [{ key: 'ok_key', type: 'text' }, 'label'],
      [{ key: 'ok_key', label: 'x', type: 'text', colour: 'red' }, 'colour'],
    ];
    for (const [body, field] of bad) {
      const r = await a.post(`${V1}/field-defs`, body);
      const e = expectError(r, 422, 'validation_failed');
      assert.ok(e.fields && e.fields[field], `${JSON.stringify(body).slice(0, 80)} must name ${field}: ${r.text}`);
    }
    expectError(await a.post(`${V1}/field-defs`, { key: 'budget', label: '重复', type: 'number' }), 409, 'duplicate');
    expectError(await S1.api.post(`${V1}/field-defs`, { key: 'by_sales', label: 'x', type: 'text' }), 403);
    assert.deepEqual(counts(server, ['field_defs', 'audit_log']), before);

    // Good values of every type round-trip.
    const good = { note_txt: '中文备注 😀', budget: 12.5, signed_on: '2024-02-29', size: 'M', channels: ['wechat', 'email'] };
    const c = await mkCustomer(a, { name: '字段客户', attrs: good });
    assert.deepEqual(c.attrs, good);
    assert.deepEqual((await a.get(`${V1}/customers/${c.id}`)).json.attrs, good);

    // Every bad value is named as attrs.KEY, all in one answer, and nothing is written.
    const cBefore = counts(server, ['customers', 'audit_log', 'events']);
    let r = await a.post(`${V1}/customers`, {
      name: '坏字段',
      attrs: { budget: '12', signed_on: '2026-02-30', size: 'XL', channels: 'wechat', note_txt: 'x'.repeat(2001), nope: 1 },
    });
    let e = expectError(r, 422, 'validation_failed');
    assert.deepEqual(Object.keys(e.fields).sort(),
      ['attrs.budget', 'attrs.channels', 'attrs.note_txt', 'attrs.nope', 'attrs.signed_on', 'attrs.size'].sort(), r.text);
    for (const [attrs, key] of [
      [{ channels: ['sms'] }, 'attrs.channels'], [{ channels: ['wechat', 7] }, 'attrs.channels'],
      [{ signed_on: '2026/02/28' }, 'attrs.signed_on'], [{ signed_on: '2023-02-29' }, 'attrs.signed_on'],
      [{ budget: true }, 'attrs.budget'], [{ size: ['S'] }, 'attrs.size'], [{ note_txt: 42 }, 'attrs.note_txt'],
    ]) {
      r = await a.post(`${V1}/customers`, { name: 'bad attr', attrs });
      e = expectError(r, 422, 'validation_failed');
      assert.deepEqual(Object.keys(e.fields), [key], `${JSON.stringify(attrs)}: ${r.text}`);
    }
    e = expectError(await a.post(`${V1}/customers`, { name: 'bad attrs', attrs: ['x'] }), 422);
    assert.ok(e.fields.attrs, JSON.stringify(e));
    assert.deepEqual(counts(server, ['customers', 'audit_log', 'events']), cBefore);

    // PATCH merges attrs, null removes a key, a bad value is refused and changes nothing.
    r = await a.patch(`${V1}/customers/${c.id}`, { attrs: { size: 'L', budget: null } });
    assert.equal(r.status, 200, r.text);
    const { budget: _dropped, ...rest } = good;
    assert.deepEqual(r.json.attrs, { ...rest, size: 'L' });
    e = expectError(await a.patch(`${V1}/customers/${c.id}`, { attrs: { size: 'XXL' }, name: 'renamed' }), 422);
    assert.deepEqual(Object.keys(e.fields), ['attrs.size']);
    const now = (await a.get(`${V1}/customers/${c.id}`)).json;
    assert.equal(now.name, '字段客户');
    assert.equal(now.attrs.size, 'L');

    // Keys and types never change; labels and options do.
    e = expectError(await a.patch(`${V1}/field-defs/${budget.id}`, { key: 'budget2' }), 422);
    assert.ok(e.fields.key, JSON.stringify(e));
    e = expectError(await a.patch(`${V1}/field-defs/${budget.id}`, { type: 'text' }), 422);
    assert.ok(e.fields.type, JSON.stringify(e));
    e = expectError(await a.patch(`${V1}/field-defs/${budget.id}`, { options: ['a'] }), 422);
    assert.ok(e.fields.options, JSON.stringify(e));
    r = await a.patch(`${V1}/field-defs/${budget.id}`, { label: '年度预算' });
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.key, 'budget');
    assert.equal(r.json.label, '年度预算');
    assert.equal(q1(`SELECT \`key\` FROM field_defs WHERE id = ${budget.id}`), 'budget');
    r = await a.patch(`${V1}/field-defs/${size.id}`, { options: ['S', 'M', 'L', 'XL'] });
    assert.equal(r.status, 200, r.text);
    assert.equal((await a.patch(`${V1}/customers/${c.id}`, { attrs: { size: 'XL' } })).status, 200);
    expectError(await S1.api.patch(`${V1}/field-defs/${size.id}`, { label: 'x' }), 403);
    expectError(await a.patch(`${V1}/field-defs/999999`, { label: 'x' }), 404);

    // Required fields: refused when missing or empty on create.
    const vip = await mk({ key: 'vip_level', label: 'VIP 等级', type: 'select', options: ['金', '银'], required: true });
    assert.equal(vip.required, true);
    e = expectError(await a.post(`${V1}/customers`, { name: 'no vip' }), 422);
    assert.deepEqual(Object.keys(e.fields), ['attrs.vip_level']);
    e = expectError(await a.post(`${V1}/customers`, { name: 'empty vip', attrs: { vip_level: '' } }), 422);
    assert.deepEqual(Object.keys(e.fields), ['attrs.vip_level']);
    const withVip = await mkCustomer(a, { name: 'has vip', attrs: { vip_level: '金' } });
    assert.equal(withVip.attrs.vip_level, '金');
    assert.equal((await a.patch(`${V1}/field-defs/${vip.id}`, { required: false })).json.required, false);
    await mkCustomer(a, { name: 'vip optional now' });

    // Deleting a field removes its values everywhere; the key is unknown afterwards.
    assert.equal(num("SELECT COUNT(*) FROM customers WHERE JSON_EXISTS(attrs, '$.size')"), 1);
    r = await a.del(`${V1}/field-defs/${size.id}`);
    assert.equal(r.status, 204, r.text);
    assert.equal(num("SELECT COUNT(*) FROM customers WHERE JSON_EXISTS(attrs, '$.size')"), 0);
    const after = (await a.get(`${V1}/customers/${c.id}`)).json;
    assert.equal(after.attrs.size, undefined, JSON.stringify(after.attrs));
    assert.equal(after.attrs.note_txt, good.note_txt, 'other fields stay');
    e = expectError(await a.post(`${V1}/customers`, { name: 'size gone', attrs: { size: 'S' } }), 422);
    assert.deepEqual(Object.keys(e.fields), ['attrs.size']);
    assert.ok(!(await a.get(`${V1}/field-defs`)).json.items.some((d) => d.key === 'size'));
    expectError(await a.del(`${V1}/field-defs/${size.id}`), 404);
    assert.equal((await a.del(`${V1}/field-defs/${vip.id}`)).status, 204);
    assert.equal(num("SELECT COUNT(*) FROM customers WHERE JSON_EXISTS(attrs, '$.vip_level')"), 0);
    // Each definition change is audited.
    assert.ok(num("SELECT COUNT(*) FROM audit_log WHERE action LIKE 'field_def.%'") >= 10);
  });

  // ---------------------------------------------------------------- tags

  test('bulk tags: only customers in the caller\'s scope change; the rest are not_found; errors name the field', async () => {
    const cA = await mkCustomer(a, { name: '批量甲', owner_id: S1.id, tags: ['old'] });
    const cB = await mkCustomer(a, { name: '批量乙', owner_id: S2.id, tags: ['old', 'keep'] });
    const cC = await mkCustomer(a, { name: '批量丙', owner_id: S3.id, tags: ['old'] });
    const audits = (id) => num(`SELECT COUNT(*) FROM audit_log WHERE object_type = 'customer' AND object_id = ${id}`);
    const evs = (id) => num(`SELECT COUNT(*) FROM events WHERE kind = 'customer.updated' AND customer_id = ${id}`);
    const before = { a: audits(cA.id), b: audits(cB.id), c: audits(cC.id), ea: evs(cA.id), ec: evs(cC.id) };

    let r = await S1.api.post(`${V1}/customers/bulk-tags`, { ids: [cA.id, cB.id, cC.id, 99999999], add: ['展会 2026', 'VIP'], remove: ['old'] });
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.updated, 2, r.text);
    assert.deepEqual(sortNum(r.json.not_found), sortNum([cC.id, 99999999]));
    const tagsOf = async (id) => [...(await a.get(`${V1}/customers/${id}`)).json.tags].sort();
    assert.deepEqual(await tagsOf(cA.id), ['VIP', '展会 2026'].sort());
    assert.deepEqual(await tagsOf(cB.id), ['VIP', 'keep', '展会 2026'].sort());
    assert.deepEqual(await tagsOf(cC.id), ['old'], 'out-of-scope customer changed');
    assert.equal(audits(cA.id), before.a + 1);
    assert.equal(audits(cB.id), before.b + 1);
    assert.equal(audits(cC.id), before.c);
    assert.equal(evs(cA.id), before.ea + 1);
    assert.equal(evs(cC.id), before.ec);

    // The same request again changes nothing and says so.
    r = await S1.api.post(`${V1}/customers/bulk-tags`, { ids: [cA.id, cB.id], add: ['VIP'], remove: ['old'] });
    assert.equal(r.json.updated, 0, r.text);
    assert.equal(audits(cA.id), before.a + 1);

    // A marketer (scope all) may tag; a service agent may not.
    r = await MK.api.post(`${V1}/customers/bulk-tags`, { ids: [cC.id], add: ['营销'] });
    assert.equal(r.status, 200, r.text);
    assert.deepEqual(await tagsOf(cC.id), ['old', '营销'].sort());
    expectError(await AG.api.post(`${V1}/customers/bulk-tags`, { ids: [cA.id], add: ['x'] }), 403);

    // Validation: the bad field is named, nothing changes.
    const snap = counts(server, ['customer_tags', 'tags', 'audit_log', 'events']);
    const bad = [
      [{ ids: [], add: ['x'] }, 'ids'],
      [{ ids: Array.from({ length: 1001 }, (_, i) => i + 1), add: ['x'] }, 'ids'],
      [{ ids: ['1'], add: ['x'] }, 'ids'],
      [{ ids: [0], add: ['x'] }, 'ids'],
      [{ add: ['x'] }, 'ids'],
      [{ ids: [cA.id], add: ['x'], colour: 1 }, 'colour'],
    ];
    for (const [body, field] of bad) {
      r = await a.post(`${V1}/customers/bulk-tags`, body);
      const e = expectError(r, 422, 'validation_failed');
      assert.ok(e.fields && e.fields[field], `${JSON.stringify(body).slice(0, 80)} must name "${field}": ${r.text}`);
    }
    const nothing = await a.post(`${V1}/customers/bulk-tags`, { ids: [cA.id] });
    expectError(nothing, 422, 'validation_failed');
    assert.deepEqual(counts(server, ['customer_tags', 'tags', 'audit_log', 'events']), snap);

    // The single-customer tag routes follow the scope too.
    expectError(await S3.api.post(`${V1}/customers/${cA.id}/tags`, { tags: ['x'] }), 404);
    expectError(await S3.api.del(`${V1}/customers/${cA.id}/tags/VIP`), 404);
    assert.deepEqual(await tagsOf(cA.id), ['VIP', '展会 2026'].sort());
  });

  test('bulk tags: a bad tag list is refused naming its own field (add / remove)', async () => {
    const c = await mkCustomer(a, { name: '批量校验', tags: ['keep'] });
    const snap = counts(server, ['customer_tags', 'tags', 'audit_log', 'events']);
    for (const [body, field] of [
      [{ ids: [c.id], add: [''] }, 'add'],
      [{ ids: [c.id], add: 'VIP' }, 'add'],
      [{ ids: [c.id], remove: ['x'.repeat(65)] }, 'remove'],
      [{ ids: [c.id], add: ['ok'], remove: [7] }, 'remove'],
    ]) {
      const r = await a.post(`${V1}/customers/bulk-tags`, body);
      const e = expectError(r, 422, 'validation_failed');
      assert.deepEqual(Object.keys(e.fields), [field], `${JSON.stringify(body).slice(0, 80)} must name "${field}": ${r.text}`);
    }
    assert.deepEqual(counts(server, ['customer_tags', 'tags', 'audit_log', 'events']), snap);
  });

  // ---------------------------------------------------------------- lifecycle

  test('lifecycle: manual changes and deal-driven forward moves (never backwards) are recorded and shown in the 360', async () => {
    const c = await mkCustomer(S1.api, { name: '生命周期客户', stage: 'potential' });
    assert.equal(c.owner_id, S1.id, 'sales creating a customer own it');
    let r = await S1.api.patch(`${V1}/customers/${c.id}`, { stage: 'contacted' });
    assert.equal(r.status, 200, r.text);
    const d = await mkDeal(S1.api, { customer_id: c.id, title: '生命周期商机', stage_id: stageId('Developing') });
    assert.equal((await a.get(`${V1}/customers/${c.id}`)).json.stage, 'proposal', 'a deal in Developing moves contacted → proposal');
    r = await S1.api.patch(`${V1}/customers/${c.id}`, { stage: 'won' });
    assert.equal(r.status, 200, r.text);
    for (const s of ['Mature', 'Budding', 'Developing']) {
      r = await S1.api.patch(`${V1}/deals/${d.id}`, { stage_id: stageId(s) });
      assert.equal(r.status, 200, r.text);
      assert.equal((await a.get(`${V1}/customers/${c.id}`)).json.stage, 'won', `deal to ${s} must not move a won customer back`);
    }
    const view = (await S1.api.get(`${V1}/customers/${c.id}`)).json;
    const hist = view.stage_history.map((h) => [h.from_stage, h.to_stage, h.reason, h.actor_id]);
    assert.deepEqual(hist, [
      ['proposal', 'won', 'manual', S1.id],
      ['contacted', 'proposal', 'deal', S1.id],
      ['potential', 'contacted', 'manual', S1.id],
      [null, 'potential', 'created', S1.id],
    ], JSON.stringify(view.stage_history));
    assert.equal(num(`SELECT COUNT(*) FROM customer_stage_history WHERE customer_id = ${c.id}`), 4);
    for (const h of view.stage_history) assert.match(h.at, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    const tlStages = view.timeline.filter((t) => t.kind === 'stage').map((t) => [t.from_value, t.to_value, t.text]);
    assert.deepEqual(tlStages, hist.map(([f, t, why]) => [f, t, why]), JSON.stringify(view.timeline));
    const tlDeals = view.timeline.filter((t) => t.kind === 'deal_stage');
    assert.equal(tlDeals.length, 4, 'creation + three moves');
    assert.ok(tlDeals.every((t) => t.text === '生命周期商机'), JSON.stringify(tlDeals));
    assert.deepEqual(tlDeals.map((t) => [t.from_value, t.to_value]).reverse(), [
      [null, '发展 Developing'], ['发展 Developing', '成熟 Mature'], ['成熟 Mature', '萌芽 Budding'], ['萌芽 Budding', '发展 Developing']]);
    // A stage that is no lifecycle stage is refused, naming the field.
    const e = expectError(await S1.api.patch(`${V1}/customers/${c.id}`, { stage: 'vip' }), 422);
    assert.ok(e.fields.stage, JSON.stringify(e));
    // An explicit edit may move back; it is recorded as manual.
    r = await a.patch(`${V1}/customers/${c.id}`, { stage: 'maintain' });
    assert.equal(r.status, 200, r.text);
    const [last] = (await a.get(`${V1}/customers/${c.id}`)).json.stage_history;
    assert.deepEqual([last.from_stage, last.to_stage, last.reason, last.actor_id], ['won', 'maintain', 'manual', admin.agent.id]);
  });

  // ---------------------------------------------------------------- pipeline

  test('pipeline stages: PUT replaces the pipeline, validates each stage by index, admin only', async () => {
    const original = (await a.get(`${V1}/pipeline-stages`)).json.items;
    const unchanged = async () => assert.deepEqual((await a.get(`${V1}/pipeline-stages`)).json.items, original);
    const plain = original.map(({ id, name, position, probability, kind, notify_manager: nm, customer_stage: cs, active }) =>
      ({ id, name, position, probability, kind, notify_manager: nm, customer_stage: cs, active }));
    expectError(await S1.api.put(`${V1}/pipeline-stages`, { stages: plain }), 403);
    expectError(await M1.api.put(`${V1}/pipeline-stages`, { stages: plain }), 403);
    const bad = [
      [{ stages: 'x' }, ['stages']],
      [{}, ['stages']],
      [{ stages: [{ name: 'A', kind: 'open' }, { name: 'B', kind: 'won' }] }, ['stages']],
      [{ stages: [{ name: 'A', kind: 'open' }, { name: 'A', kind: 'won' }, { name: 'C', kind: 'lost' }] }, ['stages']],
      [{ stages: [{ name: 'A', kind: 'open' }, { name: 'W', kind: 'won' }, { name: 'L', kind: 'lost', active: false }] }, ['stages']],
      [{
        stages: [{ name: 'A', kind: 'open', probability: 101 }, { name: 'B', kind: 'maybe' }, { kind: 'lost' },
          { name: 'D', kind: 'won', customer_stage: 'vip', colour: 'red' }, { name: 'E', kind: 'lost', position: 'x' }],
      }, ['stages[0].probability', 'stages[1].kind', 'stages[2].name', 'stages[3].colour', 'stages[3].customer_stage', 'stages[4].position']],
    ];
    for (const [body, fields] of bad) {
      const r = await a.put(`${V1}/pipeline-stages`, body);
      const e = expectError(r, 422, 'validation_failed');
      for (const f of fields) assert.ok(e.fields[f], `${JSON.stringify(body).slice(0, 100)} must name ${f}: ${r.text}`);
      await unchanged();
    }

    // A valid pipeline: rename one, add one; the list follows positions.
    const next = plain.map((s) => (s.name.includes('Developing') ? { ...s, name: '发展 Developing ✓' } : s));
    next.push({ name: '谈判 Negotiation', position: 35, probability: 80, kind: 'open', notify_manager: false, customer_stage: 'proposal', active: true });
    let r = await a.put(`${V1}/pipeline-stages`, { stages: next });
    assert.equal(r.status, 200, r.text);
    const got = (await a.get(`${V1}/pipeline-stages`)).json.items.filter((s) => s.active);
    assert.deepEqual(got.map((s) => s.name), ['萌芽 Budding', '发展 Developing ✓', '成熟 Mature', '谈判 Negotiation', '赢单 Won', '丢单 Lost']);
    const nego = got.find((s) => s.name === '谈判 Negotiation');
    assert.equal(nego.probability, 80);
    assert.ok(num("SELECT COUNT(*) FROM audit_log WHERE action = 'pipeline.updated'") >= 1);
    // A stage left out is deactivated: no new deals in it.
    r = await a.put(`${V1}/pipeline-stages`, { stages: plain });
    assert.equal(r.status, 200, r.text);
    const all = (await a.get(`${V1}/pipeline-stages`)).json.items;
    assert.equal(all.find((s) => s.id === nego.id).active, false);
    assert.deepEqual(all.filter((s) => s.active), original);
    const c = await mkCustomer(a, { name: 'pipeline customer' });
    const e = expectError(await a.post(`${V1}/deals`, { customer_id: c.id, title: 'x', stage_id: nego.id }), 422);
    assert.ok(e.fields.stage_id, JSON.stringify(e));
    stages = original;
  });

  test('pipeline stages: an unknown stage id is refused, never silently dropped (the pipeline keeps a lost stage)', async () => {
    const original = (await a.get(`${V1}/pipeline-stages`)).json.items;
    const plain = original.map(({ id, name, position, probability, kind, notify_manager: nm, customer_stage: cs, active }) =>
      ({ id, name, position, probability, kind, notify_manager: nm, customer_stage: cs, active }));
    const body = plain.map((st) => (st.kind === 'lost' ? { ...st, id: 999999 } : st));
    const r = await a.put(`${V1}/pipeline-stages`, { stages: body });
    const now = (await a.get(`${V1}/pipeline-stages`)).json.items.filter((st) => st.active);
    if (r.status !== 422) {
      // Put the pipeline back before failing, so the tests after this one keep their stages.
      await a.put(`${V1}/pipeline-stages`, { stages: plain });
    }
    assert.ok(now.some((st) => st.kind === 'lost'), `PUT with an unknown id left no active lost stage (answer ${r.status}): ${JSON.stringify(now)}`);
    const e = expectError(r, 422, 'validation_failed');
    assert.ok(Object.keys(e.fields).some((k) => k.startsWith('stages')), r.text);
    assert.deepEqual((await a.get(`${V1}/pipeline-stages`)).json.items, original);
  });

  // ---------------------------------------------------------------- deals

  test('deals: validation names amount, currency, dates, probability; defaults; lost needs a reason; stage history seconds', async () => {
    const c = await mkCustomer(a, { name: '商机客户', owner_id: S1.id, stage: 'potential' });
    const snap = () => counts(server, ['deals', 'deal_stage_history', 'audit_log', 'events', 'reminders']);
    const before = snap();
    let r = await S1.api.post(`${V1}/deals`, {
      customer_id: c.id, title: '', amount: -1, currency: 'usd', expected_close: '2026-02-30', payment_due: 'tomorrow',
      probability: 101, stage_id: 999999, colour: 'red',
    });
    let e = expectError(r, 422, 'validation_failed');
    assert.deepEqual(Object.keys(e.fields).sort(),
      ['amount', 'colour', 'currency', 'expected_close', 'payment_due', 'probability', 'stage_id', 'title'], r.text);
    e = expectError(await S1.api.post(`${V1}/deals`, {}), 422);
    assert.deepEqual(Object.keys(e.fields).sort(), ['customer_id', 'title']);
    for (const [body, field] of [
      [{ amount: 'abc' }, 'amount'], [{ amount: 1e14 }, 'amount'], [{ amount: null, currency: 'EURO' }, 'currency'],
      [{ currency: 'C1Y' }, 'currency'], [{ expected_close: '2026-1-5' }, 'expected_close'], [{ probability: -1 }, 'probability'],
      [{ probability: 50.5 }, 'probability'], [{ payment_due: '2026-02-29' }, 'payment_due'],
    ]) {
      e = expectError(await S1.api.post(`${V1}/deals`, { customer_id: c.id, title: 't', ...body }), 422);
      assert.deepEqual(Object.keys(e.fields), [field], `${JSON.stringify(body)}: ${JSON.stringify(e)}`);
    }
    // Customer and owner must be in the caller's scope.
    e = expectError(await S3.api.post(`${V1}/deals`, { customer_id: c.id, title: 'not mine' }), 422);
    assert.deepEqual(Object.keys(e.fields), ['customer_id']);
    e = expectError(await S1.api.post(`${V1}/deals`, { customer_id: c.id, title: 'for S3', owner_id: S3.id }), 422);
    assert.deepEqual(Object.keys(e.fields), ['owner_id']);
    // Created directly in a lost stage without a reason.
    e = expectError(await S1.api.post(`${V1}/deals`, { customer_id: c.id, title: 'lost at once', stage_id: stageId('Lost') }), 422);
    assert.deepEqual(Object.keys(e.fields), ['win_loss_reason']);
    expectError(await MK.api.post(`${V1}/deals`, { customer_id: c.id, title: 'marketer' }), 403);
    expectError(await AG.api.get(`${V1}/deals`), 403);
    assert.deepEqual(snap(), before, 'refused deals changed something');

    // Defaults: first open stage, its probability, CNY, the caller as owner.
    const d = await mkDeal(S1.api, { customer_id: c.id, title: '年度采购 🚀', amount: 99999.99, expected_close: '2026-12-31' });
    assert.equal(d.stage_id, stageId('Budding'));
    assert.equal(d.stage_kind, 'open');
    assert.equal(d.status, 'open');
    assert.equal(d.probability, 10);
    assert.equal(d.currency, 'CNY');
    assert.equal(d.amount, 99999.99);
    assert.equal(d.owner_id, S1.id);
    assert.equal(d.owner_name, '销售一');
    assert.equal(d.customer_name, '商机客户');
    assert.equal(d.expected_close, '2026-12-31');
    assert.equal(d.closed_at, null);
    assert.equal((await a.get(`${V1}/customers/${c.id}`)).json.stage, 'contacted', 'a Budding deal moves potential → contacted');
    const usd = await mkDeal(S1.api, { customer_id: c.id, title: 'USD', currency: 'USD', probability: 55, payment_due: '2027-01-31' });
    assert.equal(usd.currency, 'USD');
    assert.equal(usd.probability, 55);
    assert.equal(usd.payment_due, '2027-01-31');
    r = await S1.api.patch(`${V1}/deals/${usd.id}`, { probability: null });
    assert.equal(r.json.probability, 10, 'null probability falls back to the stage default');

    let g = (await S1.api.get(`${V1}/deals/${d.id}`)).json;
    assert.deepEqual(g.history.map((h) => [h.from_stage, h.to_stage, h.secs_in_from]), [[null, '萌芽 Budding', null]]);

    // Seconds in the stage left: an hour in Budding.
    sql(server, `UPDATE deals SET stage_entered_at = NOW(3) - INTERVAL 3600 SECOND WHERE id = ${d.id}`);
    r = await S1.api.patch(`${V1}/deals/${d.id}`, { stage_id: stageId('Developing') });
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.stage, '发展 Developing');
    g = (await S1.api.get(`${V1}/deals/${d.id}`)).json;
    assert.equal(g.history.length, 2);
    assert.equal(g.history[1].from_stage, '萌芽 Budding');
    assert.equal(g.history[1].to_stage, '发展 Developing');
    assert.ok(g.history[1].secs_in_from >= 3600 && g.history[1].secs_in_from < 3700, JSON.stringify(g.history));

    // Lost needs a reason; refused moves change nothing.
    const h0 = snap();
    e = expectError(await S1.api.patch(`${V1}/deals/${d.id}`, { stage_id: stageId('Lost') }), 422);
    assert.deepEqual(Object.keys(e.fields), ['win_loss_reason']);
    e = expectError(await S1.api.patch(`${V1}/deals/${d.id}`, { stage_id: stageId('Lost'), win_loss_reason: '' }), 422);
    assert.ok(e.fields.win_loss_reason);
    assert.deepEqual(snap(), h0);
    g = (await S1.api.get(`${V1}/deals/${d.id}`)).json;
    assert.equal(g.stage_id, stageId('Developing'));
    assert.equal(g.status, 'open');
    r = await S1.api.patch(`${V1}/deals/${d.id}`, { stage_id: stageId('Lost'), win_loss_reason: '价格太高', competitor: '对手甲' });
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.status, 'lost');
    assert.equal(r.json.stage_kind, 'lost');
    assert.equal(r.json.win_loss_reason, '价格太高');
    assert.ok(r.json.closed_at, 'closed_at set');
    // Reopening clears closed_at; winning closes again.
    r = await S1.api.patch(`${V1}/deals/${d.id}`, { stage_id: stageId('Budding') });
    assert.equal(r.json.status, 'open');
    assert.equal(r.json.closed_at, null);
    r = await S1.api.patch(`${V1}/deals/${d.id}`, { stage_id: stageId('Won') });
    assert.equal(r.json.status, 'won');
    assert.ok(r.json.closed_at);
    assert.equal((await a.get(`${V1}/customers/${c.id}`)).json.stage, 'won');
    e = expectError(await S1.api.patch(`${V1}/deals/${d.id}`, { customer_id: c.id }), 422);
    assert.ok(e.fields.customer_id);
    // Every stage move is an event; every change audited.
    assert.equal(num(`SELECT COUNT(*) FROM events WHERE kind = 'deal.stage_changed' AND JSON_VALUE(payload, '$.deal.id') = ${d.id}`), 5);
    assert.equal(num(`SELECT COUNT(*) FROM deal_stage_history WHERE deal_id = ${d.id}`), 5);
    assert.equal(num(`SELECT COUNT(*) FROM audit_log WHERE object_type = 'deal' AND object_id = ${d.id}`), 5);

    // Lists filter by status and customer; a bad status is a 400.
    let l = await S1.api.get(`${V1}/deals?customer_id=${c.id}&status=won`);
    assert.deepEqual(l.json.items.map((x) => x.id), [d.id]);
    l = await S1.api.get(`${V1}/deals?customer_id=${c.id}&status=open`);
    assert.deepEqual(l.json.items.map((x) => x.id), [usd.id]);
    assert.equal(l.json.total, 1);
    expectError(await S1.api.get(`${V1}/deals?status=maybe`), 400);
    // Another team's sales: 404 for read and write, nothing changes.
    expectError(await S3.api.get(`${V1}/deals/${d.id}`), 404);
    expectError(await S3.api.patch(`${V1}/deals/${d.id}`, { title: 'hijack' }), 404);
    assert.equal(q1(`SELECT title FROM deals WHERE id = ${d.id}`), '年度采购 🚀');
    assert.deepEqual((await S3.api.get(`${V1}/deals?customer_id=${c.id}`)).json, { items: [], total: 0 });
  });

  test('a deal entering a notify_manager stage queues one reminder for the owner\'s team manager', async () => {
    const c = await mkCustomer(S1.api, { name: '成熟商机客户' });
    const d = await mkDeal(S1.api, { customer_id: c.id, title: '成熟商机' });
    const mgrReminders = async () => (await M1.api.get(`${V1}/reminders?status=all`)).json.items.filter((x) => x.deal_id === d.id);
    assert.deepEqual(await mgrReminders(), []);
    let r = await S1.api.patch(`${V1}/deals/${d.id}`, { stage_id: stageId('Mature') });
    assert.equal(r.status, 200, r.text);
    let rem = await mgrReminders();
    assert.equal(rem.length, 1, JSON.stringify(rem));
    assert.equal(rem[0].kind, 'deal_stage');
    assert.equal(rem[0].customer_id, c.id);
    assert.equal(rem[0].agent_id, M1.id);
    assert.match(rem[0].message, /成熟商机/);
    assert.ok(!(await S1.api.get(`${V1}/reminders?status=all`)).json.items.some((x) => x.deal_id === d.id), 'the owner is not the manager');
    // Leaving and re-entering the stage does not queue it twice.
    await S1.api.patch(`${V1}/deals/${d.id}`, { stage_id: stageId('Developing') });
    await S1.api.patch(`${V1}/deals/${d.id}`, { stage_id: stageId('Mature') });
    assert.equal((await mgrReminders()).length, 1);
    // The reminder shows in the customer's 360 while open.
    assert.ok((await a.get(`${V1}/customers/${c.id}`)).json.reminders.some((x) => x.deal_id === d.id && x.kind === 'deal_stage'));
    // Only its agent completes it; others get 404; admins may list anyone's, others may not.
    expectError(await S1.api.patch(`${V1}/reminders/${rem[0].id}`, { done: true }), 404);
    expectError(await S1.api.get(`${V1}/reminders?agent_id=${M1.id}`), 403);
    assert.ok((await a.get(`${V1}/reminders?agent_id=${M1.id}`)).json.items.some((x) => x.id === rem[0].id));
    expectError(await M1.api.patch(`${V1}/reminders/${rem[0].id}`, { done: 'yes' }), 422);
    r = await M1.api.patch(`${V1}/reminders/${rem[0].id}`, { done: true });
    assert.equal(r.status, 200, r.text);
    assert.ok(r.json.done_at);
    assert.deepEqual((await M1.api.get(`${V1}/reminders`)).json.items.filter((x) => x.deal_id === d.id), []);
    rem = (await M1.api.get(`${V1}/reminders?status=done`)).json.items.filter((x) => x.deal_id === d.id);
    assert.equal(rem.length, 1);
    expectError(await M1.api.get(`${V1}/reminders?status=soon`), 400);
    // A team without a manager: nobody is reminded (and certainly not another team's manager).
    const c3 = await mkCustomer(S3.api, { name: '华南客户' });
    const d3 = await mkDeal(S3.api, { customer_id: c3.id, title: '华南商机', stage_id: stageId('Mature') });
    assert.equal(num(`SELECT COUNT(*) FROM reminders WHERE deal_id = ${d3.id}`), 0);
  });

  // ---------------------------------------------------------------- leads

  test('leads: region assignment, least-busy fallback with exact counts, manual owners, validation', async () => {
    const R1 = await createAgent(server, admin.token, { role: 'sales', team_id: T2.id, region: '华南', name: '华南一' });
    const R2 = await createAgent(server, admin.token, { role: 'sales', team_id: T2.id, region: '华南', name: '华南二' });
    const R3 = await createAgent(server, admin.token, { role: 'sales', team_id: T2.id, region: '华北', name: '华北一' });
    // The model: every active sales agent with their region and open-lead count, read
    // from the tables (not from the API), then updated as the test creates leads.
    const agents = new Map(sql(server, "SELECT id, COALESCE(region, '') FROM agents WHERE role = 'sales' AND active = 1")
      .map(([id, region]) => [Number(id), { region, open: 0, active: true }]));
    for (const [owner, n] of sql(server, "SELECT owner_id, COUNT(*) FROM leads WHERE status IN ('new','working') AND owner_id IS NOT NULL GROUP BY owner_id")) {
      if (agents.has(Number(owner))) agents.get(Number(owner)).open = Number(n);
    }
    const expectOwner = (region) => {
      const pick = (pred) => [...agents.entries()].filter(([, x]) => x.active && pred(x))
        .sort(([ia, xa], [ib, xb]) => xa.open - xb.open || ia - ib)[0];
      const inRegion = region ? pick((x) => x.region === region) : undefined;
      if (inRegion) return [inRegion[0], 'region'];
      const any = pick(() => true);
      return [any[0], 'least_busy'];
    };
    const made = [];
    const lead = async (body, who = a) => {
      const [owner, by] = body.owner_id ? [body.owner_id, 'manual'] : expectOwner(body.region);
      const r = await who.post(`${V1}/leads`, body);
      assert.equal(r.status, 201, r.text);
      assert.equal(r.json.owner_id, owner, `${JSON.stringify(body)} → owner ${r.json.owner_id}, expected ${owner} (${JSON.stringify([...agents])})`);
      assert.equal(r.json.assigned_by, by);
      agents.get(owner).open += 1;
      made.push(r.json);
      return r.json;
    };
    const l1 = await lead({ name: '线索一', region: '华南' });
    assert.equal(l1.owner_id, R1.id);
    const l2 = await lead({ name: '线索二', region: '华南' });
    assert.equal(l2.owner_id, R2.id);
    await lead({ name: '线索三', region: '华南' });
    await lead({ name: '线索四', region: '华北' });
    await lead({ name: '线索五', region: '西藏' });
    await lead({ name: '线索六' });
    await lead({ name: '线索七', owner_id: S2.id, region: '华南' });
    // Disqualifying frees a slot: R1 and R2 tie again, the lower id wins.
    let r = await a.patch(`${V1}/leads/${l1.id}`, { status: 'disqualified' });
    assert.equal(r.status, 200, r.text);
    agents.get(R1.id).open -= 1;
    const l8 = await lead({ name: '线索八', region: '华南' });
    assert.equal(l8.owner_id, R1.id);
    // A deactivated agent gets nothing: the region falls back to the least busy.
    assert.equal((await a.patch(`${V1}/agents/${R3.id}`, { active: false })).status, 200);
    agents.get(R3.id).active = false;
    const l9 = await lead({ name: '线索九', region: '华北' });
    assert.equal(l9.assigned_by, 'least_busy');
    // The counts the model predicted are the table's.
    for (const [id, x] of agents) {
      assert.equal(num(`SELECT COUNT(*) FROM leads WHERE owner_id = ${id} AND status IN ('new','working')`), x.open, `agent ${id}`);
    }

    // Defaults and validation.
    assert.equal(l2.grade, 'C');
    assert.equal(l2.status, 'new');
    const snap = counts(server, ['leads', 'audit_log', 'events']);
    for (const [body, fields] of [
      [{}, ['name']], [{ name: 'x', email: 'not-mail' }, ['email']], [{ name: 'x', phone: '12345' }, ['phone']],
      [{ name: 'x', grade: 'D' }, ['grade']], [{ name: 'x', status: 'converted' }, ['status']],
      [{ name: 'x', owner_id: 99999 }, ['owner_id']], [{ name: 'x', colour: 1 }, ['colour']],
    ]) {
      const e = expectError(await a.post(`${V1}/leads`, body), 422, 'validation_failed');
      assert.deepEqual(Object.keys(e.fields).sort(), fields, JSON.stringify(e));
    }
    assert.deepEqual(counts(server, ['leads', 'audit_log', 'events']), snap);
    // Marketers may create leads but not read them; agents neither.
    const mkLead = await lead({ name: '市场线索', source: '展会', grade: 'A', region: '华南' }, MK.api);
    expectError(await MK.api.get(`${V1}/leads`), 403);
    expectError(await AG.api.post(`${V1}/leads`, { name: 'x' }), 403);
    // Filters.
    const byGrade = await a.get(`${V1}/leads?grade=A`);
    assert.deepEqual(byGrade.json.items.map((x) => x.id), [mkLead.id]);
    const byQ = await a.get(`${V1}/leads?q=${enc('线索八')}`);
    assert.deepEqual(byQ.json.items.map((x) => x.id), [l8.id]);
    const byOwner = await a.get(`${V1}/leads?owner_id=${R2.id}&status=new`);
    assert.deepEqual(sortNum(byOwner.json.items.map((x) => x.id)), sortNum(made.filter((x) => x.owner_id === R2.id).map((x) => x.id)));
    assert.equal(byOwner.json.total, made.filter((x) => x.owner_id === R2.id).length);
  });

  test('leads: concurrent creation spreads evenly over the least busy agents of the region', async () => {
    const W1 = await createAgent(server, admin.token, { role: 'sales', team_id: T2.id, region: '西北', name: '西北一' });
    const W2 = await createAgent(server, admin.token, { role: 'sales', team_id: T2.id, region: '西北', name: '西北二' });
    const rs = await Promise.all(Array.from({ length: 10 }, (_, i) => a.post(`${V1}/leads`, { name: `并发线索 ${i}`, region: '西北' })));
    for (const r of rs) {
      assert.equal(r.status, 201, r.text);
      assert.equal(r.json.assigned_by, 'region');
    }
    const per = (id) => rs.filter((r) => r.json.owner_id === id).length;
    assert.deepEqual([per(W1.id), per(W2.id)], [5, 5], 'two leads created at once landed on the same "least busy" agent');
  });

  test('lead conversion races: five converts at once ⇒ one customer, one deal, four 409s', async () => {
    const lead = (await S1.api.post(`${V1}/leads`, { name: '并发转化', email: 'race.convert@example.com', owner_id: S1.id })).json;
    const rs = await Promise.all(Array.from({ length: 5 }, () => S1.api.post(`${V1}/leads/${lead.id}/convert`, {})));
    assert.deepEqual(rs.map((r) => r.status).sort(), [200, 409, 409, 409, 409], rs.map((r) => r.text).join('\n'));
    assert.equal(num(`SELECT COUNT(*) FROM deals WHERE lead_id = ${lead.id}`), 1);
    assert.equal(num("SELECT COUNT(*) FROM customer_identities WHERE value = 'race.convert@example.com'"), 1);
  });

  test('lead conversion: creates customer + deal, or reuses the customer with the same e-mail/phone; a second convert is 409', async () => {
    const mkLead = async (who, body) => {
      const r = await who.post(`${V1}/leads`, body);
      assert.equal(r.status, 201, r.text);
      return r.json;
    };
    const lead = await mkLead(S1.api, {
      name: '转化线索', company: '转化科技有限公司', email: 'Convert.Me@Example.cn', phone: '137 1234 5670',
      source: '官网', region: '华东', owner_id: S1.id,
    });
    assert.equal(lead.email, 'convert.me@example.cn');
    assert.equal(lead.phone, '+8613712345670');
    assert.equal(lead.assigned_by, 'manual');
    let r = await S1.api.post(`${V1}/leads/${lead.id}/convert`, {});
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.customer_created, true);
    const cust = r.json.customer;
    assert.equal(cust.name, '转化线索');
    assert.equal(cust.company, '转化科技有限公司');
    assert.equal(cust.email, 'convert.me@example.cn');
    assert.equal(cust.phone, '+8613712345670');
    assert.equal(cust.owner_id, S1.id);
    assert.equal(cust.source, '官网');
    assert.equal(cust.region, '华东');
    assert.equal(cust.stage, 'contacted');
    assert.ok(cust.customer_no, 'a customer number is given');
    assert.equal(r.json.lead.status, 'converted');
    assert.equal(r.json.lead.customer_id, cust.id);
    assert.equal(r.json.lead.deal_id, r.json.deal_id);
    const deal = (await S1.api.get(`${V1}/deals/${r.json.deal_id}`)).json;
    assert.equal(deal.customer_id, cust.id);
    assert.equal(deal.title, '转化科技有限公司');
    assert.equal(deal.stage_id, stageId('Budding'));
    assert.equal(deal.owner_id, S1.id);
    assert.equal(deal.lead_id, lead.id);
    assert.equal(deal.currency, 'CNY');
    const view = (await S1.api.get(`${V1}/customers/${cust.id}`)).json;
    assert.deepEqual(view.stage_history.map((h) => [h.from_stage, h.to_stage, h.reason]), [[null, 'contacted', 'lead']]);
    assert.deepEqual(view.deals.map((d) => d.id), [deal.id]);
    // The same identity used by the inbound channels finds the new customer.
    assert.deepEqual((await a.get(`${V1}/customers?q=${enc('13712345670')}`)).json.items.map((x) => x.id), [cust.id]);

    // A converted lead answers 409 and nothing changes; it is closed for edits.
    const snap = counts(server, ['customers', 'deals', 'leads', 'customer_identities', 'audit_log', 'events']);
    expectError(await S1.api.post(`${V1}/leads/${lead.id}/convert`, {}), 409);
    expectError(await a.post(`${V1}/leads/${lead.id}/convert`, { deal: { title: 'again' } }), 409);
    expectError(await S1.api.patch(`${V1}/leads/${lead.id}`, { notes: 'x' }), 422);
    assert.deepEqual(counts(server, ['customers', 'deals', 'leads', 'customer_identities', 'audit_log', 'events']), snap);

    // Reuse by e-mail (any case): no new customer; the deal is as asked.
    const ex = await mkCustomer(a, { name: '已有客户', email: 'existing.lead@example.com', owner_id: S1.id, stage: 'potential' });
    const lead2 = await mkLead(S1.api, { name: '重复线索', email: 'EXISTING.Lead@example.com', owner_id: S1.id });
    const nCust = num('SELECT COUNT(*) FROM customers');
    r = await S1.api.post(`${V1}/leads/${lead2.id}/convert`, {
      deal: { title: '续单', amount: 5000, currency: 'USD', stage_id: stageId('Developing'), expected_close: '2027-03-31' },
    });
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.customer_created, false);
    assert.equal(r.json.customer.id, ex.id);
    assert.equal(num('SELECT COUNT(*) FROM customers'), nCust);
    const d2 = (await S1.api.get(`${V1}/deals/${r.json.deal_id}`)).json;
    assert.deepEqual([d2.customer_id, d2.title, d2.amount, d2.currency, d2.stage_id, d2.expected_close, d2.lead_id],
      [ex.id, '续单', 5000, 'USD', stageId('Developing'), '2027-03-31', lead2.id]);
    // Reuse by phone as typed differently.
    const byPhone = await mkCustomer(a, { name: '电话客户', phone: '+86 135-0000-7777', owner_id: S1.id });
    const lead3 = await mkLead(S1.api, { name: '电话线索', phone: '13500007777', owner_id: S1.id });
    r = await S1.api.post(`${V1}/leads/${lead3.id}/convert`);
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.customer.id, byPhone.id);
    assert.equal(r.json.customer_created, false);

    // Bad conversion bodies name the field; the lead stays open.
    const lead4 = await mkLead(S1.api, { name: '校验线索', owner_id: S1.id });
    for (const [body, fields] of [
      [{ deal: { stage_id: stageId('Won') } }, ['deal.stage_id']],
      [{ deal: { currency: 'usd', amount: -5 } }, ['deal.amount', 'deal.currency']],
      [{ deal: { expected_close: '2027-02-30' } }, ['deal.expected_close']],
      [{ deal: 'x' }, ['deal']],
      [{ colour: 1 }, ['colour']],
    ]) {
      const e = expectError(await S1.api.post(`${V1}/leads/${lead4.id}/convert`, body), 422, 'validation_failed');
      assert.deepEqual(Object.keys(e.fields).sort(), fields, JSON.stringify(e));
    }
    assert.equal((await S1.api.get(`${V1}/leads/${lead4.id}`)).json.status, 'new');
    // Another team's sales cannot see or convert it.
    expectError(await S3.api.get(`${V1}/leads/${lead4.id}`), 404);
    expectError(await S3.api.post(`${V1}/leads/${lead4.id}/convert`, {}), 404);
    expectError(await S3.api.patch(`${V1}/leads/${lead4.id}`, { grade: 'A' }), 404);
    assert.equal((await a.get(`${V1}/leads/${lead4.id}`)).json.status, 'new');
    // The deal of lead 2 entered Developing (customer_stage proposal): the existing
    // customer moves forward as for any deal entering a stage, recorded as such.
    const exNow = (await a.get(`${V1}/customers/${ex.id}`)).json;
    assert.equal(exNow.stage, 'proposal',
      'a converted lead\'s deal entering a stage must move the existing customer\'s lifecycle forward');
    assert.ok(exNow.stage_history.some((h) => h.to_stage === 'proposal'));
  });

  // ---------------------------------------------------------------- activities

  test('activities: last_followup_at moves forward only, next_at reminds the author, only author/manager/admin edit', async () => {
    const c = await mkCustomer(a, { name: '跟进客户', owner_id: S1.id });
    const d = await mkDeal(S1.api, { customer_id: c.id, title: '跟进商机' });
    const other = await mkCustomer(a, { name: '别的客户', owner_id: S1.id });
    const dOther = await mkDeal(S1.api, { customer_id: other.id, title: '别的商机' });
    const followup = () => q1(`SELECT DATE_FORMAT(last_followup_at, '%Y-%m-%d %H:%i:%s') FROM customers WHERE id = ${c.id}`);
    assert.equal(followup(), null);
    let r = await S1.api.post(`${V1}/activities`, {
      customer_id: c.id, deal_id: d.id, method: 'visit', content: '上门拜访，讨论报价', happened_at: '2026-03-10T09:30:00Z',
      next_step: '发送报价单', next_at: '2030-03-12',
    });
    assert.equal(r.status, 201, r.text);
    const act = r.json;
    assert.equal(act.owner_id, S1.id);
    assert.equal(act.method, 'visit');
    assert.equal(act.happened_at, '2026-03-10T09:30:00Z');
    assert.equal(act.next_at, '2030-03-12T00:00:00Z');
    assert.equal(followup(), '2026-03-10 09:30:00');
    r = await S1.api.post(`${V1}/activities`, { customer_id: c.id, method: 'call', content: '更早的电话', happened_at: '2026-01-01' });
    assert.equal(r.status, 201, r.text);
    assert.equal(followup(), '2026-03-10 09:30:00', 'an older follow-up must not move the clock back');
    r = await S1.api.post(`${V1}/activities`, { customer_id: c.id, method: 'wechat', content: '微信沟通', happened_at: '2026-03-11' });
    assert.equal(followup(), '2026-03-11 00:00:00');

    // next_at ⇒ a reminder for the author only.
    const mine = async (who) => (await who.api.get(`${V1}/reminders?status=all`)).json.items.filter((x) => x.customer_id === c.id && x.kind === 'next_step');
    let rem = await mine(S1);
    assert.equal(rem.length, 1, JSON.stringify(rem));
    assert.equal(rem[0].deal_id, d.id);
    assert.equal(rem[0].due_at, '2030-03-12T00:00:00Z');
    assert.match(rem[0].message, /发送报价单/);
    assert.deepEqual(await mine(M1), []);
    assert.deepEqual(await mine(S2), []);
    // Editing the date moves the same reminder.
    r = await S1.api.patch(`${V1}/activities/${act.id}`, { next_at: '2030-04-01T08:00:00Z' });
    assert.equal(r.status, 200, r.text);
    rem = await mine(S1);
    assert.equal(rem.length, 1);
    assert.equal(rem[0].due_at, '2030-04-01T08:00:00Z');

    // Who may edit: the author, a manager, an admin; a teammate who sees it may not; others get 404.
    const snap = counts(server, ['activities', 'audit_log', 'events', 'reminders']);
    expectError(await S2.api.patch(`${V1}/activities/${act.id}`, { content: '同事改的' }), 403);
    expectError(await S3.api.patch(`${V1}/activities/${act.id}`, { content: '别组改的' }), 404);
    expectError(await AG.api.patch(`${V1}/activities/${act.id}`, { content: '客服改的' }), 403);
    expectError(await MK.api.patch(`${V1}/activities/${act.id}`, { content: '市场改的' }), 403);
    assert.deepEqual(counts(server, ['activities', 'audit_log', 'events', 'reminders']), snap);
    r = await M1.api.patch(`${V1}/activities/${act.id}`, { content: '经理补充' });
    assert.equal(r.status, 200, r.text);
    r = await a.patch(`${V1}/activities/${act.id}`, { method: 'call' });
    assert.equal(r.status, 200, r.text);
    assert.deepEqual([r.json.content, r.json.method, r.json.owner_id], ['经理补充', 'call', S1.id]);

    // Validation names the field.
    for (const [body, fields] of [
      [{ customer_id: c.id, method: 'fax', content: 'x' }, ['method']],
      [{ customer_id: c.id, method: 'call' }, ['content']],
      [{ method: 'call', content: 'x' }, ['customer_id']],
      [{ customer_id: c.id, method: 'call', content: 'x', happened_at: 'yesterday' }, ['happened_at']],
      [{ customer_id: c.id, method: 'call', content: 'x', next_at: '2026-13-01' }, ['next_at']],
      [{ customer_id: c.id, method: 'call', content: 'x', next_at: '2026-01-01T25:00:00Z' }, ['next_at']],
      [{ customer_id: c.id, method: 'call', content: 'x', deal_id: dOther.id }, ['deal_id']],
      [{ customer_id: c.id, method: 'call', content: 'x', colour: 1 }, ['colour']],
    ]) {
      const e = expectError(await S1.api.post(`${V1}/activities`, body), 422, 'validation_failed');
      assert.deepEqual(Object.keys(e.fields).sort(), fields, `${JSON.stringify(body)}: ${JSON.stringify(e)}`);
    }
    let e = expectError(await S3.api.post(`${V1}/activities`, { customer_id: c.id, method: 'call', content: 'x' }), 422);
    assert.deepEqual(Object.keys(e.fields), ['customer_id']);
    e = expectError(await S1.api.patch(`${V1}/activities/${act.id}`, { customer_id: other.id }), 422);
    assert.ok(e.fields.customer_id);

    // Lists: service agents read, marketers do not; the scope filters.
    const l = await AG.api.get(`${V1}/activities?customer_id=${c.id}`);
    assert.equal(l.status, 200, l.text);
    assert.equal(l.json.total, 3);
    assert.equal(l.json.items[0].content, '微信沟通', 'newest first');
    expectError(await MK.api.get(`${V1}/activities`), 403);
    expectError(await AG.api.post(`${V1}/activities`, { customer_id: c.id, method: 'call', content: 'x' }), 403);
    assert.deepEqual((await S3.api.get(`${V1}/activities?customer_id=${c.id}`)).json, { items: [], total: 0 });
    assert.equal((await S1.api.get(`${V1}/activities?deal_id=${d.id}`)).json.total, 1);
    // The timeline shows the follow-up.
    const tl = (await S1.api.get(`${V1}/customers/${c.id}/timeline`)).json.items.find((x) => x.kind === 'activity' && x.id === act.id);
    assert.ok(tl, 'follow-up in the timeline');
    assert.deepEqual([tl.channel, tl.text, tl.from_value, tl.to_value, tl.actor_id], ['call', '经理补充', '发送报价单', '2030-04-01T08:00:00Z', S1.id]);
    assert.equal(num(`SELECT COUNT(*) FROM events WHERE kind = 'activity.created' AND customer_id = ${c.id}`), 3);
  });

  // ---------------------------------------------------------------- duplicates

  test('duplicates: unverified e-mail/phone copies and normalised company names pair up, inside the scope', async () => {
    const e1 = await mkCustomer(a, { name: '重复甲', email: 'same@dup.example', owner_id: S1.id });
    let r = await a.post(`${V1}/customers?allow_duplicate=1`, { name: '重复乙', email: 'SAME@dup.example', owner_id: S1.id });
    assert.equal(r.status, 201, r.text);
    const e2 = r.json;
    const p1 = await mkCustomer(a, { name: '电话甲', phone: '13900009999', owner_id: S1.id });
    r = await a.post(`${V1}/customers?allow_duplicate=1`, { name: '电话乙', phone: '+86 139 0000 9999', owner_id: S3.id });
    assert.equal(r.status, 201, r.text);
    const p2 = r.json;
    const h1 = await mkCustomer(a, { name: '华为甲', company: '深圳华为技术有限公司', owner_id: S1.id });
    const h2 = await mkCustomer(a, { name: '华为乙', company: '深圳 华为技术 股份有限公司', owner_id: S2.id });
    const k1 = await mkCustomer(a, { name: 'Acme one', company: 'Acme Co., Ltd.', owner_id: S1.id });
    const k2 = await mkCustomer(a, { name: 'Acme two', company: 'ACME LTD', owner_id: S1.id });
    const k3 = await mkCustomer(a, { name: 'Acme three', company: 'Ａｃｍｅ　Ｃｏ．', owner_id: S2.id });
    const n1 = await mkCustomer(a, { name: 'Acme trading', company: 'Acme Trading', owner_id: S1.id });
    const n2 = await mkCustomer(a, { name: '华为终端', company: '华为终端有限公司', owner_id: S1.id });
    const mine = new Set([e1, e2, p1, p2, h1, h2, k1, k2, k3, n1, n2].map((x) => x.id));
    const key = (x, y) => `${Math.min(x, y)}-${Math.max(x, y)}`;
    const pairsOf = async (who) => {
      const res = await who.get(`${V1}/customers/duplicates?per_page=200`);
      assert.equal(res.status, 200, res.text);
      assert.equal(res.json.total, res.json.items.length, 'total counts pairs');
      const keys = res.json.items.map((p) => key(p.a.id, p.b.id));
      assert.equal(new Set(keys).size, keys.length, `a pair listed twice: ${res.text}`);
      return Object.fromEntries(res.json.items.filter((p) => mine.has(p.a.id) || mine.has(p.b.id))
        .map((p) => [key(p.a.id, p.b.id), { reasons: [...p.reasons].sort(), matches: p.matches, a: p.a, b: p.b }]));
    };
    const all = await pairsOf(a);
    assert.deepEqual(Object.fromEntries(Object.entries(all).map(([k, v]) => [k, v.reasons])), {
      [key(e1.id, e2.id)]: ['email'],
      [key(p1.id, p2.id)]: ['phone'],
      [key(h1.id, h2.id)]: ['company'],
      [key(k1.id, k2.id)]: ['company'],
      [key(k1.id, k3.id)]: ['company'],
      [key(k2.id, k3.id)]: ['company'],
    });
    assert.deepEqual(all[key(e1.id, e2.id)].matches, [{ reason: 'email', value: 'same@dup.example' }]);
    assert.deepEqual(all[key(p1.id, p2.id)].matches, [{ reason: 'phone', value: '+8613900009999' }]);
    const pe = all[key(e1.id, e2.id)];
    assert.deepEqual([pe.a, pe.b].map((x) => x.name).sort(), ['重复乙', '重复甲'].sort());
    assert.ok([pe.a, pe.b].every((x) => x.customer_no), 'sides carry customer_no');
    // Sales of team 1 see pairs whose both sides are theirs or their team's.
    assert.deepEqual(Object.keys(await pairsOf(S1.api)).sort(),
      [key(e1.id, e2.id), key(h1.id, h2.id), key(k1.id, k2.id), key(k1.id, k3.id), key(k2.id, k3.id)].sort());
    assert.deepEqual(Object.keys(await pairsOf(S3.api)), []);
    expectError(await AG.api.get(`${V1}/customers/duplicates`), 403);
    expectError(await MK.api.get(`${V1}/customers/duplicates`), 403);
  });

  // ---------------------------------------------------------------- merge

  test('merge moves every kind of child row, fills empty survivor fields, keeps the absorbed id resolving, audits', async () => {
    for (const body of [{ key: 'merge_score', label: '合并分', type: 'number' }, { key: 'merge_note', label: '合并备注', type: 'text' }]) {
      const r = await a.post(`${V1}/field-defs`, body);
      assert.ok(r.status === 201 || r.status === 409, r.text);
    }
    const A = await mkCustomer(a, {
      name: '被合并客户', email: 'absorbed@merge.example', phone: '13600001111', company: '合并科技有限公司',
      industry: '制造', source: '展会', region: '华东', address: '上海市浦东新区世纪大道 100 号', uscc: '91310115MA1K3YJ12X',
      grade: 'A', owner_id: S1.id, stage: 'potential', tags: ['甲', '共同'], attrs: { merge_score: 5, merge_note: 'A 的备注' },
    });
    const B = await mkCustomer(a, { name: '存活客户', email: 'survivor@merge.example', tags: ['共同', '乙'], attrs: { merge_note: 'B wins' } });
    // Identities: a chat id, and an unverified copy of B's e-mail (redundant after the merge).
    let r = await a.post(`${V1}/customers/${A.id}/identities`, { kind: 'chat', value: 'visitor-merge-1' });
    assert.equal(r.status, 201, r.text);
    r = await a.post(`${V1}/customers/${A.id}/identities?allow_duplicate=1`, { kind: 'email', value: 'survivor@merge.example' });
    assert.equal(r.status, 201, r.text);
    assert.equal(r.json.verified, false);
    // A ticket with two messages (an inbound one and an agent's note).
    r = await a.post(`${V1}/tickets`, { customer_id: A.id, channel: 'email', subject: '合并前的工单' });
    assert.equal(r.status, 201, r.text);
    const ticket = r.json;
    sql(server, `INSERT INTO messages (ticket_id, customer_id, direction, channel, author_type, body_text)
      VALUES (${ticket.id}, ${A.id}, 'in', 'email', 'customer', '客户来信：合并前')`);
    r = await a.post(`${V1}/tickets/${ticket.id}/messages`, { body_text: '内部备注：合并前', internal: true });
    assert.equal(r.status, 201, r.text);
    // A deal moved to Mature (stage history + a manager reminder), a converted lead (a second deal).
    const dA = await mkDeal(S1.api, { customer_id: A.id, title: 'A 的商机' });
    assert.equal((await S1.api.patch(`${V1}/deals/${dA.id}`, { stage_id: stageId('Mature') })).status, 200);
    const leadA = (await S1.api.post(`${V1}/leads`, { name: 'A 的线索', email: 'absorbed@merge.example', owner_id: S1.id })).json;
    r = await S1.api.post(`${V1}/leads/${leadA.id}/convert`, {});
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.customer.id, A.id);
    const convDeal = r.json.deal_id;
    // A follow-up with a next step (a reminder for its author).
    r = await S1.api.post(`${V1}/activities`, { customer_id: A.id, method: 'call', content: 'A 的跟进', next_step: '回访', next_at: '2031-01-01' });
    assert.equal(r.status, 201, r.text);
    const act = r.json;
    assert.equal((await a.patch(`${V1}/customers/${A.id}`, { stage: 'renewal' })).status, 200);

    const children = {
      identities: 'customer_identities', tickets: 'tickets', messages: 'messages', deals: 'deals', leads: 'leads',
      activities: 'activities', reminders: 'reminders', stage_history: 'customer_stage_history', tags: 'customer_tags',
    };
    const countOf = (table, id) => num(`SELECT COUNT(*) FROM ${table} WHERE customer_id = ${id}`);
    const onA = Object.fromEntries(Object.entries(children).map(([k, t]) => [k, countOf(t, A.id)]));
    const onB = Object.fromEntries(Object.entries(children).map(([k, t]) => [k, countOf(t, B.id)]));
    for (const [k, n] of Object.entries(onA)) assert.ok(n >= 1, `the absorbed customer needs a ${k} row to prove the move`);
    // reminders include the first follow-up task the seed rule (docs/rules.md) gives a new customer with an owner
    assert.deepEqual([onA.tickets, onA.messages, onA.deals, onA.leads, onA.activities, onA.reminders], [1, 2, 2, 1, 1, 3]);
    assert.equal(onA.identities, 4);

    r = await a.post(`${V1}/customers/${B.id}/merge`, { from_id: A.id });
    assert.equal(r.status, 200, r.text);
    const merged = r.json;
    assert.equal(merged.id, B.id);
    for (const k of ['tickets', 'messages', 'deals', 'leads', 'activities', 'reminders', 'stage_history']) {
      assert.equal(merged.moved[k], onA[k], `moved.${k}: ${JSON.stringify(merged.moved)}`);
    }
    assert.equal(merged.moved.identities, 3, 'email, phone and chat move; the redundant copy of B\'s e-mail is dropped');
    // Nothing is left on A; B holds the sum.
    for (const [k, t] of Object.entries(children)) {
      assert.equal(countOf(t, A.id), 0, `${k} left on the absorbed customer`);
    }
    for (const k of ['tickets', 'messages', 'deals', 'leads', 'activities', 'reminders', 'stage_history']) {
      assert.equal(countOf(children[k], B.id), onB[k] + onA[k], k);
    }
    assert.deepEqual([...merged.tags].sort(), ['乙', '共同', '甲'].sort());
    assert.equal(num(`SELECT COUNT(*) FROM customer_identities WHERE value = 'survivor@merge.example'`), 1);
    const ids = sql(server, `SELECT kind, value, is_primary, merged_from FROM customer_identities WHERE customer_id = ${B.id}`);
    assert.deepEqual(ids.map((x) => [x[0], x[1], x[2], x[3]]).sort((p, q) => `${p[0]}${p[1]}`.localeCompare(`${q[0]}${q[1]}`)), [
      ['chat', 'visitor-merge-1', '1', String(A.id)],
      ['email', 'absorbed@merge.example', '1', String(A.id)],
      ['email', 'survivor@merge.example', '1', null],
      ['phone', '+8613600001111', '1', String(A.id)],
    ]);
    // Empty survivor fields are filled; the survivor's own values win.
    assert.deepEqual(
      [merged.company, merged.industry, merged.source, merged.region, merged.address, merged.uscc, merged.grade, merged.owner_id],
      ['合并科技有限公司', '制造', '展会', '华东', '上海市浦东新区世纪大道 100 号', '91310115MA1K3YJ12X', 'A', S1.id]);
    assert.deepEqual(merged.attrs, { merge_score: 5, merge_note: 'B wins' });
    assert.equal(merged.phone, '+8613600001111');
    assert.equal(merged.name, '存活客户');
    // Every child is reachable through the survivor.
    assert.equal((await a.get(`${V1}/tickets/${ticket.id}`)).json.customer_id, B.id);
    assert.deepEqual(sortNum((await a.get(`${V1}/deals?customer_id=${B.id}`)).json.items.map((x) => x.id)), sortNum([dA.id, convDeal]));
    assert.equal((await a.get(`${V1}/leads/${leadA.id}`)).json.customer_id, B.id);
    assert.equal((await a.get(`${V1}/activities?customer_id=${B.id}`)).json.items[0].id, act.id);
    const view = (await a.get(`${V1}/customers/${B.id}`)).json;
    assert.deepEqual(view.merged_from.map((x) => x.id), [A.id]);
    assert.ok(view.tickets.some((t) => t.id === ticket.id));
    assert.ok(view.activities.some((x) => x.id === act.id));
    assert.ok(view.reminders.some((x) => x.kind === 'next_step'));
    assert.ok(view.stage_history.some((h) => h.to_stage === 'renewal' && h.reason === 'manual'), 'A\'s history moved');
    const merge = view.timeline.find((t) => t.kind === 'merge' && String(t.from_value) === String(A.id));
    assert.ok(merge, 'the merge is on the timeline');
    assert.equal(JSON.parse(merge.text).tickets, 1, `the merge's moved counts, whole: ${merge.text}`);
    assert.ok(view.timeline.some((t) => t.kind === 'message' && t.text === '客户来信：合并前'));
    assert.ok(view.identities.filter((i) => i.merged_from === A.id).length === 3);
    assert.ok((await S1.api.get(`${V1}/reminders?status=all`)).json.items.some((x) => x.kind === 'next_step' && x.customer_id === B.id),
      'the follow-up reminder now points at the survivor');

    // The absorbed id keeps resolving, to the survivor.
    r = await a.get(`${V1}/customers/${A.id}`);
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.id, B.id);
    assert.equal(r.json.resolved_from, A.id);
    r = await a.get(`${V1}/customers/${A.id}/timeline`);
    assert.equal(r.status, 200, r.text);
    assert.ok(r.json.items.some((t) => t.kind === 'merge'));
    assert.deepEqual((await a.get(`${V1}/customers?q=${enc('被合并客户')}`)).json, { items: [], total: 0 });
    assert.equal(q1(`SELECT merged_into FROM customers WHERE id = ${A.id}`), String(B.id));
    // Audited, recorded, announced.
    const audit = sql(server, `SELECT actor_id, object_id, before_json FROM audit_log WHERE action = 'customer.merged'`);
    assert.equal(audit.length, 1);
    assert.equal(audit[0][0], String(admin.agent.id));
    assert.equal(audit[0][1], String(B.id));
    assert.equal(JSON.parse(audit[0][2]).absorbed.id, A.id);
    const listed = await a.get(`${V1}/audit?object_type=customer&object_id=${B.id}`);
    assert.equal(listed.json.items[0].action, 'customer.merged', listed.text);
    assert.equal(num(`SELECT COUNT(*) FROM customer_merges WHERE survivor_id = ${B.id} AND absorbed_id = ${A.id}`), 1);
    assert.equal(num(`SELECT COUNT(*) FROM events WHERE kind = 'customer.merged' AND customer_id = ${B.id}`), 1);
    // Merging the absorbed one again: 404, nothing changes.
    const snap = counts(server, ['customers', 'customer_merges', 'audit_log', 'events']);
    expectError(await a.post(`${V1}/customers/${B.id}/merge`, { from_id: A.id }), 404);
    expectError(await a.post(`${V1}/customers/${A.id}/merge`, { from_id: B.id }), 404);
    assert.deepEqual(counts(server, ['customers', 'customer_merges', 'audit_log', 'events']), snap);
    // The survivor's own (non-empty) e-mail stays its e-mail; the absorbed one is an extra identity.
    assert.equal(merged.email, 'survivor@merge.example', 'merge replaced the survivor\'s e-mail with the absorbed one\'s');
    assert.equal((await a.get(`${V1}/customers/${B.id}`)).json.email, 'survivor@merge.example');
  });

  test('merge: into itself 422, out-of-scope or unknown ids 404, roles 403; merged chains keep resolving', async () => {
    const x = await mkCustomer(S1.api, { name: 'S1 的客户 x' });
    const y = await mkCustomer(S1.api, { name: 'S1 的客户 y' });
    const z = await mkCustomer(S3.api, { name: 'S3 的客户 z' });
    const snap = counts(server, ['customers', 'customer_merges', 'customer_identities', 'audit_log', 'events']);
    for (const [body, field] of [[{ from_id: x.id }, 'from_id'], [{}, 'from_id'], [{ from_id: String(y.id) }, 'from_id'],
      [{ from_id: y.id, extra: 1 }, 'extra']]) {
      const e = expectError(await S1.api.post(`${V1}/customers/${x.id}/merge`, body), 422, 'validation_failed');
      assert.ok(e.fields[field], `${JSON.stringify(body)}: ${JSON.stringify(e)}`);
    }
    expectError(await S1.api.post(`${V1}/customers/${x.id}/merge`, { from_id: z.id }), 404);
    expectError(await S3.api.post(`${V1}/customers/${z.id}/merge`, { from_id: x.id }), 404);
    expectError(await S1.api.post(`${V1}/customers/${z.id}/merge`, { from_id: y.id }), 404);
    expectError(await S1.api.post(`${V1}/customers/${x.id}/merge`, { from_id: 99999999 }), 404);
    expectError(await AG.api.post(`${V1}/customers/${x.id}/merge`, { from_id: y.id }), 403);
    expectError(await MK.api.post(`${V1}/customers/${x.id}/merge`, { from_id: y.id }), 403);
    assert.deepEqual(counts(server, ['customers', 'customer_merges', 'customer_identities', 'audit_log', 'events']), snap);
    assert.equal(num(`SELECT COUNT(*) FROM customers WHERE id IN (${x.id}, ${y.id}, ${z.id}) AND merged_into IS NULL`), 3);
    // y → x by sales, then x → w by an admin: y resolves to w.
    let r = await S1.api.post(`${V1}/customers/${x.id}/merge`, { from_id: y.id });
    assert.equal(r.status, 200, r.text);
    assert.equal(q1(`SELECT actor_id FROM audit_log WHERE action = 'customer.merged' AND object_id = ${x.id}`), String(S1.id));
    const w = await mkCustomer(a, { name: '最终客户 w', owner_id: S3.id });
    r = await a.post(`${V1}/customers/${w.id}/merge`, { from_id: x.id });
    assert.equal(r.status, 200, r.text);
    for (const old of [x.id, y.id]) {
      r = await a.get(`${V1}/customers/${old}`);
      assert.equal(r.status, 200, r.text);
      assert.equal(r.json.id, w.id);
      assert.equal(r.json.resolved_from, old);
    }
    // S1's old ids now resolve to a survivor outside S1's scope: 404, like a missing id.
    const missing = await S1.api.get(`${V1}/customers/99999999`);
    for (const old of [x.id, y.id]) {
      const res = await S1.api.get(`${V1}/customers/${old}`);
      expectError(res, 404);
      assert.equal(res.text, missing.text);
      expectError(await S1.api.get(`${V1}/customers/${old}/timeline`), 404);
    }
    // An absorbed customer is not a merge target or source any more.
    expectError(await a.post(`${V1}/customers/${x.id}/merge`, { from_id: z.id }), 404);
    expectError(await a.patch(`${V1}/customers/${x.id}`, { name: 'edit an absorbed record' }), 404);
  });

  test('merge races: A←B and B←A at once, or C into two survivors at once: exactly one merge wins, no cycle', async () => {
    const A = await mkCustomer(a, { name: '竞态甲', email: 'race.a@example.com' });
    const B = await mkCustomer(a, { name: '竞态乙', email: 'race.b@example.com' });
    let rs = await Promise.all([a.post(`${V1}/customers/${A.id}/merge`, { from_id: B.id }), a.post(`${V1}/customers/${B.id}/merge`, { from_id: A.id })]);
    assert.deepEqual(rs.map((r) => r.status).sort(), [200, 404], rs.map((r) => r.text).join('\n'));
    const into = sql(server, `SELECT id, merged_into FROM customers WHERE id IN (${A.id}, ${B.id}) ORDER BY id`);
    assert.equal(into.filter(([, m]) => m !== null).length, 1, `exactly one absorbed: ${JSON.stringify(into)}`);
    const C = await mkCustomer(a, { name: '竞态丙', email: 'race.c@example.com', tags: ['竞态'] });
    const D = await mkCustomer(a, { name: '竞态丁' });
    const E = await mkCustomer(a, { name: '竞态戊' });
    rs = await Promise.all([a.post(`${V1}/customers/${D.id}/merge`, { from_id: C.id }), a.post(`${V1}/customers/${E.id}/merge`, { from_id: C.id })]);
    assert.deepEqual(rs.map((r) => r.status).sort(), [200, 404], rs.map((r) => r.text).join('\n'));
    const winner = rs.find((r) => r.status === 200).json.id;
    assert.equal(q1(`SELECT merged_into FROM customers WHERE id = ${C.id}`), String(winner));
    assert.equal(num(`SELECT COUNT(*) FROM customer_identities WHERE value = 'race.c@example.com' AND customer_id = ${winner}`), 1);
    assert.equal(num(`SELECT COUNT(*) FROM customer_merges WHERE absorbed_id = ${C.id}`), 1);
  });

  // ---------------------------------------------------------------- 360 / audit

  /** A customer of S1 with a ticket + note, a deal, five dated follow-ups and three on one date. */
  async function seed360(tag) {
    const c = await mkCustomer(a, { name: `三六零客户 ${tag}`, email: `c360-${tag}@example.com`, owner_id: S1.id, tags: ['360'] });
    let r = await a.post(`${V1}/tickets`, { customer_id: c.id, channel: 'email', subject: '360 工单' });
    assert.equal(r.status, 201, r.text);
    const ticket = r.json;
    r = await a.post(`${V1}/tickets/${ticket.id}/messages`, { body_text: '360 内部备注', internal: true });
    assert.equal(r.status, 201, r.text);
    const d = await mkDeal(S1.api, { customer_id: c.id, title: '360 商机' });
    const acts = [];
    for (let day = 1; day <= 5; day++) {
      r = await S1.api.post(`${V1}/activities`, { customer_id: c.id, method: 'call', content: `第 ${day} 天`, happened_at: `2026-01-0${day}T09:00:00Z` });
      assert.equal(r.status, 201, r.text);
      acts.push(r.json);
    }
    // Three follow-ups entered by date only: the same timestamp.
    for (let k = 1; k <= 3; k++) {
      r = await S1.api.post(`${V1}/activities`, { customer_id: c.id, method: 'visit', content: `同日拜访 ${k}`, happened_at: '2026-01-06' });
      assert.equal(r.status, 201, r.text);
      acts.push(r.json);
    }
    const full = (await S1.api.get(`${V1}/customers/${c.id}/timeline?limit=200`)).json.items;
    return { c, ticket, d, acts, full };
  }

  test('customer 360 holds every section; the timeline is newest first and limit= / before= select', async () => {
    const { c, ticket, d, acts, full } = await seed360('a');
    let r;
    const view = (await S1.api.get(`${V1}/customers/${c.id}`)).json;
    for (const k of ['identities', 'stage_history', 'tickets', 'deals', 'activities', 'reminders', 'attachments',
      'suppressions', 'merged_from', 'campaigns', 'timeline']) {
      assert.ok(Array.isArray(view[k]), `360 lacks ${k}: ${Object.keys(view)}`);
    }
    assert.deepEqual(view.identities.map((i) => [i.kind, i.value, i.verified]), [['email', 'c360-a@example.com', true]]);
    assert.deepEqual(view.tickets.map((t) => t.id), [ticket.id]);
    assert.deepEqual(view.deals.map((x) => x.id), [d.id]);
    assert.equal(view.activities.length, 8);
    assert.deepEqual(view.tags, ['360']);
    const tl = view.timeline;
    for (let i = 1; i < tl.length; i++) assert.ok(tl[i - 1].at >= tl[i].at, `timeline not newest first at ${i}`);
    for (const item of tl) {
      for (const k of ['kind', 'at', 'id', 'ticket_id', 'channel', 'direction', 'actor_type', 'actor_id', 'text', 'from_value',
        'to_value', 'internal', 'cursor']) {
        assert.ok(k in item, `timeline item lacks ${k}: ${JSON.stringify(item)}`);
      }
    }
    assert.equal(view.timeline_next, null, 'all 12 items fit the 360: no next page');
    const note = tl.find((x) => x.kind === 'message');
    assert.deepEqual([note.ticket_id, note.channel, note.direction, note.text, note.internal, note.actor_id],
      [ticket.id, 'email', 'out', '360 内部备注', true, admin.agent.id]);
    // kinds present: message, stage (created + deal), deal_stage, activity ×8
    assert.equal(full.length, 1 + 2 + 1 + 8, JSON.stringify(full.map((x) => x.kind)));
    assert.deepEqual(tl, full, 'the 360 timeline is the newest 50 of the timeline');
    r = await S1.api.get(`${V1}/customers/${c.id}/timeline?limit=3`);
    assert.deepEqual(r.json.items, full.slice(0, 3));
    r = await S1.api.get(`${V1}/customers/${c.id}/timeline?before=${enc('2026-01-05T12:00:00Z')}&limit=3`);
    assert.deepEqual(r.json.items.map((x) => [x.kind, x.id]), [acts[4], acts[3], acts[2]].map((x) => ['activity', x.id]));
    r = await S1.api.get(`${V1}/customers/${c.id}/timeline?before=${enc('2026-01-01T09:00:00Z')}`);
    assert.deepEqual(r.json.items, []);
    // Outside the scope: 404 for the 360 and the timeline.
    expectError(await S3.api.get(`${V1}/customers/${c.id}`), 404);
    expectError(await S3.api.get(`${V1}/customers/${c.id}/timeline`), 404);
    expectError(await a.get(`${V1}/customers/99999999/timeline`), 404);
  });

  test('timeline: a bad before= or limit= is a 400, not a silently empty page', async () => {
    const { c } = await seed360('b');
    // Bad paging parameters are 400s.
    for (const qs of ['limit=0', 'limit=201', 'limit=abc', 'before=x', `before=${enc('yesterday!!')}`, `before=${enc('2026-13-45T99:00:00Z')}`,
      `before=${enc('2026-01-01T00:00:00.000000Z~bogus~1')}`, `before=${enc('2026-01-01T00:00:00.000000Z~activity~x')}`,
      `before=${enc("2026-01-01T00:00:00Z' OR 1=1 -- ")}`]) {
      const res = await S1.api.get(`${V1}/customers/${c.id}/timeline?${qs}`);
      assert.equal(res.status, 400, `timeline?${qs}: ${res.status} ${res.text.slice(0, 200)}`);
      expectError(res, 400);
    }
  });

  test('timeline: paging with next_before (cursors) visits every item exactly once, ties included', async () => {
    const { c, full } = await seed360('c');
    // Walking the whole timeline two at a time with next_before visits every item exactly
    // once (three follow-ups share one date; several items share a second).
    const walked = [];
    let cursor = null;
    for (let guard = 0; guard < 20; guard++) {
      const res = await S1.api.get(`${V1}/customers/${c.id}/timeline?limit=2${cursor ? `&before=${enc(cursor)}` : ''}`);
      assert.equal(res.status, 200, res.text);
      const page = res.json.items;
      walked.push(...page);
      if (page.length) assert.equal(res.json.next_before === null ? null : page[page.length - 1].cursor, res.json.next_before);
      cursor = res.json.next_before;
      if (!cursor) break;
    }
    assert.deepEqual(walked.map((x) => `${x.kind}:${x.id}`), full.map((x) => `${x.kind}:${x.id}`),
      'paging with next_before skipped or repeated items');
    // The 360 hands out the first cursor when there is more than fits.
    const many = await mkCustomer(a, { name: '多条时间线', owner_id: S1.id });
    for (let k = 0; k < 55; k++) {
      const r = await S1.api.post(`${V1}/activities`, { customer_id: many.id, method: 'call', content: `批量 ${k}`, happened_at: '2026-02-02' });
      assert.equal(r.status, 201, r.text);
    }
    const v = (await S1.api.get(`${V1}/customers/${many.id}`)).json;
    assert.equal(v.timeline.length, 50);
    assert.equal(v.timeline_next, v.timeline[49].cursor);
    const rest = (await S1.api.get(`${V1}/customers/${many.id}/timeline?limit=200&before=${enc(v.timeline_next)}`)).json;
    assert.equal(rest.items.length, 56 - 50, 'the 55 follow-ups and the creation, 50 in the 360, the rest after its cursor');
    assert.equal(rest.next_before, null);
    assert.equal(new Set([...v.timeline, ...rest.items].map((x) => `${x.kind}:${x.id}`)).size, 56);
  });

  test('audit list: admin only; filtered by object and actor; newest first; paged', async () => {
    const c = await mkCustomer(S1.api, { name: '审计客户' });
    assert.equal((await S1.api.patch(`${V1}/customers/${c.id}`, { name: '审计客户 改' })).status, 200);
    assert.equal((await a.patch(`${V1}/customers/${c.id}`, { industry: '零售' })).status, 200);
    for (const who of [M1, S1, AG, MK]) expectError(await who.api.get(`${V1}/audit`), 403);
    let r = await a.get(`${V1}/audit?object_type=customer&object_id=${c.id}`);
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.total, 3);
    assert.deepEqual(r.json.items.map((x) => [x.action, x.actor_id]),
      [['customer.updated', admin.agent.id], ['customer.updated', S1.id], ['customer.created', S1.id]]);
    assert.ok(r.json.items[0].id > r.json.items[1].id);
    assert.equal(r.json.items[0].before.industry, null);
    assert.equal(r.json.items[0].after.industry, '零售');
    assert.equal(r.json.items[1].before.name, '审计客户');
    assert.equal(r.json.items[1].after.name, '审计客户 改');
    assert.equal(r.json.items[2].before, null);
    r = await a.get(`${V1}/audit?object_type=customer&object_id=${c.id}&per_page=1&page=2`);
    assert.equal(r.json.total, 3);
    assert.deepEqual(r.json.items.map((x) => x.actor_id), [S1.id]);
    r = await a.get(`${V1}/audit?object_id=${c.id}&object_type=customer&actor_id=${S1.id}`);
    assert.equal(r.json.total, 2);
    r = await a.get(`${V1}/audit?actor_id=${S1.id}&per_page=200`);
    assert.ok(r.json.items.every((x) => x.actor_id === S1.id));
    assert.equal(r.json.total, num(`SELECT COUNT(*) FROM audit_log WHERE actor_id = ${S1.id}`));
    expectError(await a.get(`${V1}/audit?actor_id=abc`), 400);
    expectError(await a.get(`${V1}/audit?object_type=${'x'.repeat(65)}`), 400);
  });

  // ---------------------------------------------------------------- 360 / audit
});
