'use strict';
// field_permissions.test.js — field-level permissions (issue 12, docs/field-permissions.md).
// The issue's done-when is the matrix: for each role (manager, agent, sales, marketer) a
// hidden field never appears in any response, export or event, and a read-only (or hidden)
// field cannot be written by any route. The seed carries a distinctive sentinel value in
// every governed field (builtin, attrs.*, deal fields); each role gets a different set of
// hidden and read-only fields; then every route that answers customer or deal records is
// crawled as each role and the raw body is searched for that role's hidden sentinels (and
// the records' keys checked). Writes naming a read-only/hidden field must be a 403
// forbidden_field naming it and change nothing (checked in SQL); CSV imports mapping such a
// column are refused whole; rules and list filters naming a hidden field are refused.
// Admins are never restricted. Also: the admin API (GET/PUT, validation, audit, /mine).
const test = require('node:test');
const assert = require('node:assert/strict');
const {
  startServer, bootstrapAdmin, api, sql, dropDatabase, createAgent, expectError, sleep, counts,
} = require('./harness');
const { csvText, parseCsv, agentSocket } = require('./crm_util');

const V1 = '/api/v1';
const enc = encodeURIComponent;
const ROLES = ['manager', 'agent', 'sales', 'marketer'];
const CRM_WRITE = new Set(['admin', 'manager', 'sales']);
const SERVICE = new Set(['admin', 'manager', 'agent', 'sales']);
const MARKETING = new Set(['admin', 'manager', 'marketer']);
const EXPORT = new Set(['admin', 'manager', 'sales', 'marketer']);
const PREVIEW = new Set(['admin', 'manager', 'marketer', 'sales']);

const CUSTOMER_FIELDS = ['industry', 'type', 'grade', 'source', 'region', 'address', 'uscc', 'company', 'owner_id'];
const DEAL_FIELDS = ['amount', 'currency', 'probability', 'expected_close', 'payment_due', 'win_loss_reason', 'competitor'];

// Sentinel strings: searched for in raw bodies. owner_id is revealed by the owner's name/e-mail.
const OWNER_NAME = 'OwnerSentinel 哨兵负责人';
const OWNER_EMAIL = 'owner.sentinel@fp.example';
const SENT = {
  customer: {
    industry: ['SENT-IND-制造'],
    grade: ['SENT-GRADE-Z'],
    source: ['SENT-SRC-展会'],
    region: ['SENTREG-哨兵区'],
    address: ['SENT-ADDR-哨兵路88号'],
    uscc: ['91440300MA5FPWX7KA'],
    company: ['SENTCO 哨兵控股'],
    owner_id: ['OwnerSentinel', OWNER_EMAIL],
    'attrs.budget': ['7654321.5'],
    'attrs.secret_code': ['SECRET-CODE-哨兵XYZ'],
  },
  deal: {
    amount: ['987654.32'],
    currency: ['CHF'],
    expected_close: ['2031-07-19'],
    payment_due: ['2031-08-23'],
    competitor: ['竞争对手X-SENTINEL'],
    win_loss_reason: ['LOSS-SENTINEL-价格'],
    probability: [], // a number: checked by key only
  },
};

// The matrix: per role, hidden and read-only fields (varied; builtin, attrs.* and deal fields).
const MATRIX = {
  manager: {
    customer: { uscc: 'hidden', 'attrs.secret_code': 'hidden', owner_id: 'hidden', address: 'read', industry: 'read', 'attrs.budget': 'read' },
    deal: { competitor: 'hidden', win_loss_reason: 'hidden', amount: 'read', currency: 'read' },
  },
  agent: {
    customer: { address: 'hidden', region: 'hidden', 'attrs.budget': 'hidden', company: 'hidden', industry: 'read', grade: 'read' },
    deal: { amount: 'hidden' },
  },
  sales: {
    customer: { region: 'hidden', company: 'hidden', 'attrs.budget': 'hidden', grade: 'hidden', uscc: 'read', source: 'read', 'attrs.secret_code': 'read', owner_id: 'read' },
    deal: { amount: 'hidden', expected_close: 'hidden', payment_due: 'hidden', competitor: 'read', probability: 'read', win_loss_reason: 'read' },
  },
  marketer: {
    customer: { uscc: 'hidden', address: 'hidden', 'attrs.secret_code': 'hidden', owner_id: 'hidden', industry: 'hidden', source: 'hidden', region: 'read', grade: 'read' },
    deal: { competitor: 'hidden' },
  },
};
const matrixItems = () => {
  const items = [];
  for (const role of ROLES) {
    for (const object of ['customer', 'deal']) {
      for (const [field, access] of Object.entries(MATRIX[role][object])) items.push({ role, object, field, access });
    }
  }
  return items;
};
const hiddenOf = (role, object) => (role === 'admin' ? [] : Object.keys(MATRIX[role][object]).filter((f) => MATRIX[role][object][f] === 'hidden'));
const lockedOf = (role, object) => (role === 'admin' ? [] : Object.keys(MATRIX[role][object]));

/** Keys a hidden field removes from a record. */
function keysOf(object, field) {
  if (object === 'customer' && field === 'owner_id') return ['owner_id', 'owner_name', 'owner_email'];
  if (object === 'customer' && field === 'company') return ['company', 'company_id'];
  return [field];
}

/** Sentinel strings a role must never receive. */
function forbiddenStrings(role) {
  const out = [];
  for (const object of ['customer', 'deal']) {
    for (const f of hiddenOf(role, object)) for (const s of SENT[object][f]) out.push({ object, field: f, s });
  }
  return out;
}

/** Customer records (customer_no + name) and deal records (title + stage_id) anywhere in a JSON value. */
function records(value, out = { customers: [], deals: [] }, path = '$') {
  if (Array.isArray(value)) {
    value.forEach((v, i) => records(v, out, `${path}[${i}]`));
  } else if (value && typeof value === 'object') {
    if ('customer_no' in value && 'name' in value) out.customers.push({ rec: value, path });
    if ('title' in value && 'stage_id' in value && !('subject' in value)) out.deals.push({ rec: value, path });
    for (const [k, v] of Object.entries(value)) records(v, out, `${path}.${k}`);
  }
  return out;
}

/** Objects that reference a customer by customer_id (not leads, whose region is their own). */
function refs(value, out = [], path = '$') {
  if (Array.isArray(value)) value.forEach((v, i) => refs(v, out, `${path}[${i}]`));
  else if (value && typeof value === 'object') {
    if ('customer_id' in value && !('assigned_by' in value)) out.push({ rec: value, path });
    for (const [k, v] of Object.entries(value)) refs(v, out, `${path}.${k}`);
  }
  return out;
}

/** Problems (strings) of a body seen by `role`: hidden sentinels in the raw text, hidden keys in records. */
function leaks(role, text, json) {
  const problems = [];
  for (const { object, field, s } of forbiddenStrings(role)) {
    const at = text.indexOf(s);
    if (at >= 0) problems.push(`hidden ${object}.${field} value "${s}" appears: …${text.slice(Math.max(0, at - 120), at + s.length + 40)}…`);
  }
  if (json !== undefined) {
    const { customers, deals } = records(json);
    for (const { rec, path } of customers) {
      for (const f of hiddenOf(role, 'customer')) {
        if (f.startsWith('attrs.')) {
          const k = f.slice(6);
          if (rec.attrs && typeof rec.attrs === 'object' && k in rec.attrs) problems.push(`${path}.attrs has hidden key ${k}`);
        } else {
          for (const key of keysOf('customer', f)) if (key in rec) problems.push(`${path} has hidden key ${key}`);
        }
      }
    }
    for (const { rec, path } of deals) {
      for (const f of hiddenOf(role, 'deal')) if (f in rec) problems.push(`${path} (deal) has hidden key ${f}`);
    }
    // records that name a customer (deals, follow-ups, …) must not carry its hidden fields either
    for (const { rec, path } of refs(json)) {
      if (hiddenOf(role, 'customer').includes('region') && 'region' in rec) problems.push(`${path} carries the customer's hidden region`);
      if (hiddenOf(role, 'customer').includes('owner_id') && 'customer_owner_id' in rec) problems.push(`${path} carries the customer's hidden owner (customer_owner_id)`);
    }
  }
  return problems;
}

// ---------------------------------------------------------------------------------------
// Discrepancies are also written to var/BUGS-fields.md by the lead (not by this file).

test.describe('field permissions (docs/field-permissions.md)', () => {
  let server;
  let admin;
  let a;
  let OWNER;
  const V = {}; // role → {id, token, api, role}
  let C1; let C2; let C3; // C1, C2: sentinel customers; C3: a plain one for editable writes
  let D1; let D2;         // D1: open deal with sentinels; D2: lost deal (win/loss reason)
  let TICKET; let OBJ; let TEMPLATE; let SEGMENT;
  let stages;
  const stageId = (frag) => stages.find((s) => s.name.includes(frag)).id;

  const q1 = (query) => { const rows = sql(server, query); return rows.length ? rows[0][0] : null; };
  const rowOf = (table, id) => JSON.stringify(sql(server, `SELECT * FROM ${table} WHERE id = ${id}`));

  test.before(async () => {
    server = await startServer();
    admin = await bootstrapAdmin(server);
    a = api(server, admin.token);
    for (const [key, type] of [['budget', 'number'], ['secret_code', 'text']]) {
      const r = await a.post(`${V1}/field-defs`, { key, label: key, type });
      assert.equal(r.status, 201, r.text);
    }
    OWNER = await createAgent(server, admin.token, { role: 'sales', name: OWNER_NAME, email: OWNER_EMAIL });
    for (const role of ROLES) {
      const v = await createAgent(server, admin.token, { role, name: `viewer ${role}` });
      // scope all: field permissions are what is tested here, not data scopes
      const r = await a.patch(`${V1}/agents/${v.id}`, { data_scope: 'all' });
      assert.equal(r.status, 200, r.text);
      V[role] = { ...v, role, api: api(server, v.token) };
    }
    V.admin = { id: admin.agent.id, token: admin.token, api: a, role: 'admin' };
    stages = (await a.get(`${V1}/pipeline-stages`)).json.items;

    const sentinelCustomer = (name, email) => ({
      name, email, tags: ['fpmatrix'], type: 'returning',
      industry: SENT.customer.industry[0], grade: SENT.customer.grade[0], source: SENT.customer.source[0],
      region: SENT.customer.region[0], address: SENT.customer.address[0], company: SENT.customer.company[0],
      owner_id: OWNER.id, attrs: { budget: 7654321.5, secret_code: SENT.customer['attrs.secret_code'][0] },
    });
    let r = await a.post(`${V1}/customers`, { ...sentinelCustomer('哨兵客户甲', 'c1@fp.example'), uscc: SENT.customer.uscc[0] });
    assert.equal(r.status, 201, r.text);
    C1 = r.json;
    r = await a.post(`${V1}/customers`, sentinelCustomer('哨兵客户乙', 'c2@fp.example'));
    assert.equal(r.status, 201, r.text);
    C2 = r.json;
    r = await a.post(`${V1}/customers`, { name: '可写客户丙', email: 'c3@fp.example', tags: ['fpwrite'] });
    assert.equal(r.status, 201, r.text);
    C3 = r.json;
    // the seed must hold every sentinel (otherwise the crawl proves nothing)
    const seeded = JSON.stringify((await a.get(`${V1}/customers/${C1.id}`)).json);
    for (const [f, ss] of Object.entries(SENT.customer)) {
      for (const s of ss) if (s !== OWNER_EMAIL) assert.ok(seeded.includes(s), `seed lacks ${f} ${s}: ${seeded}`); // the e-mail: exports only
    }

    r = await a.post(`${V1}/deals`, {
      customer_id: C1.id, title: '哨兵商机一', amount: 987654.32, currency: 'CHF', probability: 37,
      expected_close: '2031-07-19', payment_due: '2031-08-23', competitor: SENT.deal.competitor[0],
    });
    assert.equal(r.status, 201, r.text);
    D1 = r.json;
    r = await a.post(`${V1}/deals`, { customer_id: C1.id, title: '哨兵商机二', amount: 1111, competitor: SENT.deal.competitor[0] });
    assert.equal(r.status, 201, r.text);
    D2 = r.json;
    r = await a.patch(`${V1}/deals/${D2.id}`, { stage_id: stageId('Lost'), win_loss_reason: SENT.deal.win_loss_reason[0] });
    assert.equal(r.status, 200, r.text);
    const dealText = JSON.stringify([(await a.get(`${V1}/deals/${D1.id}`)).json, (await a.get(`${V1}/deals/${D2.id}`)).json]);
    for (const [f, ss] of Object.entries(SENT.deal)) for (const s of ss) assert.ok(dealText.includes(s), `deal seed lacks ${f} ${s}`);

    // a ticket, a follow-up, a custom object record, a template and a segment around C1
    r = await a.post(`${V1}/tickets`, { customer_id: C1.id, channel: 'email', subject: '哨兵工单' });
    assert.equal(r.status, 201, r.text);
    TICKET = r.json;
    r = await a.post(`${V1}/activities`, { customer_id: C1.id, deal_id: D1.id, method: 'call', content: '哨兵跟进' });
    assert.equal(r.status, 201, r.text);
    r = await a.post(`${V1}/object-types`, {
      key: 'asset', label: '资产 Asset', fields: [{ key: 'serial', label: 'Serial', type: 'text', required: true }],
    });
    assert.equal(r.status, 201, r.text);
    r = await a.post(`${V1}/objects/asset`, { customer_id: C1.id, values: { serial: 'AS-1' } });
    assert.equal(r.status, 201, r.text);
    OBJ = r.json;
    r = await a.post(`${V1}/templates`, {
      name: '哨兵模板', channel: 'email', subject: '{{customer.name}} {{customer.region}}',
      text: TEMPLATE_TEXT, html: `<p>${TEMPLATE_TEXT}</p>`,
    });
    assert.equal(r.status, 201, r.text);
    TEMPLATE = r.json;
    r = await a.post(`${V1}/segments`, { name: '哨兵分群', rule: 'tag:fpmatrix' });
    assert.equal(r.status, 201, r.text);
    SEGMENT = r.json;

    r = await a.put(`${V1}/field-permissions`, { items: matrixItems() });
    assert.equal(r.status, 200, r.text);
  });

  test.after(async () => {
    if (server) {
      await server.stop();
      dropDatabase(server);
    }
  });

  const TEMPLATE_TEXT = [
    'N={{customer.name}}', 'I={{customer.industry}}', 'G={{customer.grade}}', 'S={{customer.source}}',
    'R={{customer.region}}', 'A={{customer.address}}', 'U={{customer.uscc}}', 'C={{customer.company}}',
    'O={{customer.owner_name}}/{{customer.owner_email}}/{{customer.owner_id}}', 'B={{customer.attrs.budget}}',
    'X={{customer.attrs.secret_code}}',
  ].join('\n');

  // ----------------------------------------------------------------------------- the API

  test('GET /field-permissions: the matrix as PUT, with the catalogue of governed fields', async () => {
    const r = await a.get(`${V1}/field-permissions`);
    assert.equal(r.status, 200, r.text);
    const key = (x) => `${x.role}/${x.object}/${x.field}/${x.access}`;
    assert.deepEqual(r.json.items.map(key).sort(), matrixItems().map(key).sort());
    assert.equal(r.json.total, matrixItems().length);
    assert.deepEqual([...r.json.catalogue.customer].sort(), [...CUSTOMER_FIELDS, 'attrs.budget', 'attrs.secret_code'].sort());
    assert.deepEqual([...r.json.catalogue.deal].sort(), [...DEAL_FIELDS].sort());
    // name, number, stage and the contact identities are not governed
    for (const f of ['name', 'customer_no', 'stage', 'email', 'phone']) assert.ok(!r.json.catalogue.customer.includes(f), f);
  });

  test('GET /field-permissions/mine: each role gets exactly what it may not edit; admins nothing', async () => {
    for (const role of ROLES) {
      const r = await V[role].api.get(`${V1}/field-permissions/mine`);
      assert.equal(r.status, 200, `${role}: ${r.text}`);
      assert.deepEqual(r.json, { customer: MATRIX[role].customer, deal: MATRIX[role].deal }, role);
    }
    const r = await a.get(`${V1}/field-permissions/mine`);
    assert.equal(r.status, 200, r.text);
    assert.deepEqual(r.json, { customer: {}, deal: {} });
  });

  test('GET and PUT /field-permissions are admin-only (403 for every other role)', async () => {
    const before = (await a.get(`${V1}/field-permissions`)).text;
    for (const role of ROLES) {
      expectError(await V[role].api.get(`${V1}/field-permissions`), 403);
      expectError(await V[role].api.put(`${V1}/field-permissions`, { items: [] }), 403);
    }
    assert.equal((await a.get(`${V1}/field-permissions`)).text, before);
  });

  // ------------------------------------------------------------------------- the crawl

  /** Every GET/POST answering customer or deal records that `role` may call: [label, fn]. */
  function routesFor(role, extra = {}) {
    const w = V[role].api;
    const R = [];
    const get = (p) => R.push([`GET ${p}`, () => w.get(p)]);
    const post = (p, body) => R.push([`POST ${p} ${JSON.stringify(body)}`, () => w.post(p, body)]);
    // customers: every role reads them
    get(`${V1}/customers?per_page=200`);
    get(`${V1}/customers?tag=fpmatrix`);
    get(`${V1}/customers?q=${enc('哨兵客户')}`);
    get(`${V1}/customers?q=${enc('c1@fp.example')}`);
    get(`${V1}/customers?stage=${C1.stage}`);
    if (!hiddenOf(role, 'customer').includes('owner_id')) get(`${V1}/customers?owner_id=${OWNER.id}`); // else refused: see the owner_id= test
    get(`${V1}/customers?rule=${enc('tag:fpmatrix AND name ~ 哨兵')}`);
    get(`${V1}/customers/${C1.id}`);
    get(`${V1}/customers/${C2.id}`);
    get(`${V1}/customers/${C1.id}/timeline?limit=200`);
    get(`${V1}/customers/${C1.id}/identities`);
    get(`${V1}/objects/asset?customer_id=${C1.id}`);
    get(`${V1}/objects/asset/${OBJ.id}`);
    get(`${V1}/reminders?status=all`);
    get(`${V1}/approvals`);
    if (SERVICE.has(role)) {
      get(`${V1}/tickets?customer_id=${C1.id}`);
      if (role !== 'sales') get(`${V1}/tickets/${TICKET.id}`); // sales see their own tickets only
      get(`${V1}/activities?customer_id=${C1.id}`);
    }
    if (CRM_WRITE.has(role)) {
      get(`${V1}/customers/duplicates?per_page=200`);
      get(`${V1}/deals?per_page=200`);
      get(`${V1}/deals?customer_id=${C1.id}`);
      get(`${V1}/deals?stage_id=${D1.stage_id}`); // the pipeline board's column
      get(`${V1}/deals?status=lost`);
      get(`${V1}/deals?status=open`);
      get(`${V1}/deals/${D1.id}`);
      get(`${V1}/deals/${D2.id}`);
      get(`${V1}/leads?per_page=200`);
    }
    if (EXPORT.has(role)) {
      get(`${V1}/customers/export`);
      get(`${V1}/customers/export?tag=fpmatrix`);
      get(`${V1}/customers/export?q=${enc('哨兵客户')}`);
    }
    if (PREVIEW.has(role)) post(`${V1}/segments/preview`, { rule: 'tag:fpmatrix' });
    if (MARKETING.has(role)) {
      get(`${V1}/segments/${SEGMENT.id}`);
      post(`${V1}/templates/preview`, { channel: 'email', subject: '{{customer.uscc}}|{{customer.region}}', text: TEMPLATE_TEXT, html: `<b>${TEMPLATE_TEXT}</b>`, customer_id: C1.id });
      post(`${V1}/templates/preview`, { channel: 'sms', text: TEMPLATE_TEXT, customer_id: C1.id });
      post(`${V1}/templates/${TEMPLATE.id}/preview`, { customer_id: C1.id });
      // whole objects, sections and iteration over the customer must not bring hidden values back
      post(`${V1}/templates/preview`, {
        channel: 'sms', customer_id: C1.id,
        text: '[{{customer}}][{{customer.attrs}}][{{#customer.attrs}}{{budget}}/{{secret_code}}{{/customer.attrs}}]'
          + '[{{#customer}}{{uscc}}/{{region}}/{{address}}/{{owner_name}}{{/customer}}][{{{customer.address}}}][{{&customer.uscc}}]',
      });
    }
    if (extra.writes && CRM_WRITE.has(role)) {
      // lead conversion onto C1 (found by its e-mail) and a merge into C1: both answer C1
      R.push([`POST /leads/{id}/convert (onto C1) as ${role}`, async () => {
        const l = await w.post(`${V1}/leads`, { name: `转化 ${role}`, email: 'c1@fp.example', owner_id: V[role].id });
        assert.equal(l.status, 201, l.text);
        return w.post(`${V1}/leads/${l.json.id}/convert`, {});
      }]);
      R.push([`POST /customers/C1/merge as ${role}`, async () => {
        const v = await a.post(`${V1}/customers`, { name: `被合并 ${role}`, email: `merge-${role}@fp.example` });
        assert.equal(v.status, 201, v.text);
        return w.post(`${V1}/customers/${C1.id}/merge`, { from_id: v.json.id });
      }]);
    }
    return R;
  }

  async function crawl(role, extra) {
    const problems = [];
    const bodies = [];
    for (const [label, fn] of routesFor(role, extra)) {
      const r = await fn();
      if (r.status !== 200) { problems.push(`${role} ${label} → ${r.status} ${r.text.slice(0, 200)}`); continue; }
      bodies.push([label, r.text, r.json]);
      for (const p of leaks(role, r.text, r.json)) problems.push(`${role} ${label}: ${p}`);
      if (label.includes('/customers/export')) {
        const head = parseCsv(r.text)[0] || [];
        for (const f of hiddenOf(role, 'customer')) {
          const cols = f.startsWith('attrs.') ? [f.slice(6), f] : f === 'owner_id' ? ['owner_id', 'owner_email', 'owner_name', 'owner'] : keysOf('customer', f);
          for (const c of cols) if (head.includes(c)) problems.push(`${role} ${label}: CSV has a column "${c}" for hidden ${f}`);
        }
      }
    }
    return { problems, bodies };
  }

  test('the crawl sees every sentinel as admin (admins are never restricted)', async () => {
    const { problems, bodies } = await crawl('admin');
    assert.deepEqual(problems, []);
    const all = bodies.map(([, t]) => t).join('\n');
    for (const object of ['customer', 'deal']) {
      for (const [f, ss] of Object.entries(SENT[object])) for (const s of ss) assert.ok(all.includes(s), `admin never saw ${object}.${f} ${s}`);
    }
    const exp = bodies.find(([l]) => l.includes('/customers/export?tag')); // budget / secret_code columns exist
    const head = parseCsv(exp[1])[0];
    for (const c of ['region', 'address', 'uscc', 'company', 'budget', 'secret_code']) assert.ok(head.includes(c), `admin export lacks ${c}: ${head}`);
  });

  for (const role of ROLES) {
    test(`matrix, reads: ${role} never receives a hidden field (every JSON answer, export, template preview)`, async () => {
      const { problems, bodies } = await crawl(role, { writes: true });
      // and the fields it may see are there (the filter is per field, not all-or-nothing)
      const view = bodies.find(([l]) => l === `GET ${V1}/customers/${C1.id}`);
      assert.ok(view, `${role} could not read the 360`);
      for (const f of [...CUSTOMER_FIELDS, 'attrs.budget', 'attrs.secret_code']) {
        if (hiddenOf(role, 'customer').includes(f)) continue;
        const present = f.startsWith('attrs.') ? view[2].attrs && f.slice(6) in view[2].attrs : f in view[2];
        if (!present) problems.push(`${role} GET /customers/C1: visible field ${f} is missing`);
      }
      if (CRM_WRITE.has(role)) {
        const deal = bodies.find(([l]) => l === `GET ${V1}/deals/${D1.id}`);
        for (const f of DEAL_FIELDS) {
          if (!hiddenOf(role, 'deal').includes(f) && !(f in deal[2])) problems.push(`${role} GET /deals/D1: visible field ${f} is missing`);
        }
      }
      if (MARKETING.has(role)) {
        const p = bodies.find(([l]) => l.startsWith(`POST ${V1}/templates/preview {"channel":"email"`));
        // visible fields render, hidden ones render empty
        for (const [f, letter] of [['industry', 'I'], ['region', 'R'], ['address', 'A'], ['uscc', 'U'], ['attrs.secret_code', 'X']]) {
          const want = hiddenOf(role, 'customer').includes(f) ? '' : SENT.customer[f][0];
          const line = p[2].text.split('\n').find((x) => x.startsWith(`${letter}=`));
          if (line !== `${letter}=${want}`) problems.push(`${role} template preview: ${f} rendered "${line}", want "${letter}=${want}"`);
        }
      }
      assert.deepEqual(problems, [], `${problems.length} problems:\n${problems.join('\n')}`);
    });
  }

  // ------------------------------------------------------------------------ websocket

  test('websocket: customer.* and deal.* frames reach manager and sales without their hidden fields; the admin gets them whole', async () => {
    const socks = {};
    try {
      for (const role of ['admin', ...ROLES]) socks[role] = await agentSocket(server, V[role].token);
      const from = Object.fromEntries(Object.entries(socks).map(([k, s]) => [k, s.frames.length]));
      // changes as the admin: a customer update, a new sentinel customer, a deal update, a new deal, a stage move
      let r = await a.patch(`${V1}/customers/${C1.id}`, { tags: ['fpmatrix', 'ws'] });
      assert.equal(r.status, 200, r.text);
      r = await a.post(`${V1}/customers`, {
        name: '哨兵客户 ws', email: 'ws@fp.example', region: SENT.customer.region[0], address: SENT.customer.address[0],
        uscc: SENT.customer.uscc[0], company: SENT.customer.company[0], industry: SENT.customer.industry[0],
        grade: SENT.customer.grade[0], source: SENT.customer.source[0], owner_id: OWNER.id,
        attrs: { budget: 7654321.5, secret_code: SENT.customer['attrs.secret_code'][0] },
      });
      assert.equal(r.status, 201, r.text);
      const wsCustomer = r.json.id;
      r = await a.patch(`${V1}/deals/${D1.id}`, { title: '哨兵商机一 ws' });
      assert.equal(r.status, 200, r.text);
      r = await a.post(`${V1}/deals`, {
        customer_id: C1.id, title: '哨兵商机 ws', amount: 987654.32, currency: 'CHF', expected_close: '2031-07-19',
        payment_due: '2031-08-23', competitor: SENT.deal.competitor[0],
      });
      assert.equal(r.status, 201, r.text);
      const wsDeal = r.json.id;
      r = await a.patch(`${V1}/deals/${wsDeal}`, { stage_id: stageId('Developing') });
      assert.equal(r.status, 200, r.text);
      r = await a.post(`${V1}/activities`, { customer_id: C1.id, deal_id: wsDeal, method: 'call', content: 'ws 跟进' });
      assert.equal(r.status, 201, r.text);

      const want = [['customer.updated', C1.id], ['customer.created', wsCustomer], ['deal.updated', D1.id], ['deal.created', wsDeal], ['deal.stage_changed', wsDeal]];
      const has = (s, role, [type, id]) => s.frames.slice(from[role]).some((f) => f.type === type
        && ((f.customer && f.customer.id === id) || (f.deal && f.deal.id === id)));
      for (const role of ['admin', 'manager', 'sales']) {
        for (const w of want) {
          await socks[role].waitFor(() => has(socks[role], role, w), 5000, `${w.join(' ')} on the ${role} socket`, from[role])
            .catch(() => assert.fail(`${role} never received ${w.join(' ')}: ${JSON.stringify(socks[role].frames.slice(from[role])).slice(0, 2000)}`));
        }
      }
      await sleep(500);
      // the admin's frames carried every sentinel (so the events do carry the fields)
      const adminText = socks.admin.frames.slice(from.admin).map((f) => JSON.stringify(f)).join('\n');
      for (const object of ['customer', 'deal']) {
        for (const [f, ss] of Object.entries(SENT[object])) {
          if (object === 'deal' && f === 'win_loss_reason') continue; // no lost deal changed here
          for (const s of ss) if (s !== OWNER_EMAIL) assert.ok(adminText.includes(s), `the admin's frames lack ${object}.${f} ${s}`);
        }
      }
      const problems = [];
      for (const role of ROLES) {
        for (const f of socks[role].frames.slice(from[role])) {
          for (const p of leaks(role, JSON.stringify(f), f)) problems.push(`${role} frame ${f.type}: ${p}`);
        }
      }
      assert.deepEqual(problems, [], `${problems.length} problems:\n${problems.join('\n')}`);
    } finally {
      for (const s of Object.values(socks)) s.ws.terminate();
    }
  });

  // --------------------------------------------------------------------------- writes

  const CUSTOMER_VALUES = {
    industry: 'W-IND', type: 'new', grade: 'W-GRADE', source: 'W-SRC', region: 'W-REG', address: 'W-ADDR',
    uscc: '91310115MA1K3YJ12X', company: 'W-Company', 'attrs.budget': 1, 'attrs.secret_code': 'w-code',
  };
  const DEAL_VALUES = {
    amount: 1, currency: 'USD', probability: 55, expected_close: '2030-01-01', payment_due: '2030-02-01',
    win_loss_reason: 'w-reason', competitor: 'w-competitor',
  };
  const customerBody = (field, value) => (field.startsWith('attrs.') ? { attrs: { [field.slice(6)]: value } } : { [field]: value });
  const customerValue = (field) => (field === 'owner_id' ? V.admin.id : CUSTOMER_VALUES[field]);

  for (const role of ['manager', 'sales']) {
    test(`matrix, writes: ${role} cannot write a read-only or hidden field by POST/PATCH /customers or /deals (403 forbidden_field naming it, nothing changes)`, async () => {
      const w = V[role].api;
      const problems = [];
      const check = (what, r, field) => {
        if (r.status !== 403 || !r.json || !r.json.error || r.json.error.code !== 'forbidden_field' || r.json.error.field !== field) {
          problems.push(`${role} ${what}: want 403 forbidden_field field=${field}, got ${r.status} ${r.text.slice(0, 300)}`);
        }
      };
      for (const field of lockedOf(role, 'customer')) {
        const body = customerBody(field, customerValue(field));
        const nBefore = q1('SELECT COUNT(*) FROM customers');
        const c1Before = rowOf('customers', C1.id);
        const c3Before = rowOf('customers', C3.id);
        check(`POST /customers ${JSON.stringify(body)}`, await w.post(`${V1}/customers`, { name: `禁止 ${role} ${field}`, ...body }), field);
        check(`PATCH /customers/C1 ${JSON.stringify(body)}`, await w.patch(`${V1}/customers/${C1.id}`, body), field);
        if (field.startsWith('attrs.')) {
          check(`PATCH /customers/C1 attrs.${field.slice(6)}: null`, await w.patch(`${V1}/customers/${C1.id}`, { attrs: { [field.slice(6)]: null } }), field);
        }
        // together with an editable change: still refused whole
        check(`PATCH /customers/C3 name + ${field}`, await w.patch(`${V1}/customers/${C3.id}`, { name: '改名不应生效', ...body }), field);
        if (q1('SELECT COUNT(*) FROM customers') !== nBefore) problems.push(`${role} POST with ${field} created a customer`);
        if (rowOf('customers', C1.id) !== c1Before) problems.push(`${role} PATCH ${field} changed C1`);
        if (rowOf('customers', C3.id) !== c3Before) problems.push(`${role} PATCH name + ${field} changed C3`);
      }
      for (const field of lockedOf(role, 'deal')) {
        const body = { [field]: DEAL_VALUES[field] };
        const nBefore = q1('SELECT COUNT(*) FROM deals');
        const dBefore = rowOf('deals', D1.id);
        check(`POST /deals ${JSON.stringify(body)}`, await w.post(`${V1}/deals`, { customer_id: C3.id, title: `禁止 ${role} ${field}`, ...body }), field);
        check(`PATCH /deals/D1 ${JSON.stringify(body)}`, await w.patch(`${V1}/deals/${D1.id}`, body), field);
        check(`PATCH /deals/D1 title + ${field}`, await w.patch(`${V1}/deals/${D1.id}`, { title: '改名不应生效', ...body }), field);
        if (q1('SELECT COUNT(*) FROM deals') !== nBefore) problems.push(`${role} POST /deals with ${field} created a deal`);
        if (rowOf('deals', D1.id) !== dBefore) problems.push(`${role} PATCH /deals ${field} changed D1`);
      }
      // editable fields still write fine
      const free = CUSTOMER_FIELDS.filter((f) => !lockedOf(role, 'customer').includes(f));
      const body = {};
      for (const f of free) body[f] = customerValue(f);
      let r = await w.patch(`${V1}/customers/${C3.id}`, body);
      if (r.status !== 200) problems.push(`${role} PATCH editable ${JSON.stringify(body)} → ${r.status} ${r.text.slice(0, 300)}`);
      else for (const f of free) if (f !== 'owner_id' && r.json[f] !== body[f]) problems.push(`${role} PATCH editable ${f}: ${r.json[f]}`);
      r = await w.post(`${V1}/customers`, { name: `可写 ${role}`, ...body });
      if (r.status !== 201) problems.push(`${role} POST editable → ${r.status} ${r.text.slice(0, 300)}`);
      const freeDeal = DEAL_FIELDS.filter((f) => !lockedOf(role, 'deal').includes(f) && f !== 'win_loss_reason');
      const dbody = Object.fromEntries(freeDeal.map((f) => [f, DEAL_VALUES[f]]));
      r = await w.post(`${V1}/deals`, { customer_id: C3.id, title: `可写商机 ${role}`, ...dbody });
      if (r.status !== 201) problems.push(`${role} POST /deals editable ${JSON.stringify(dbody)} → ${r.status} ${r.text.slice(0, 300)}`);
      else {
        const p = await w.patch(`${V1}/deals/${r.json.id}`, { title: `可写商机 ${role} 2`, ...dbody });
        if (p.status !== 200) problems.push(`${role} PATCH /deals editable → ${p.status} ${p.text.slice(0, 300)}`);
      }
      assert.deepEqual(problems, [], `${problems.length} problems:\n${problems.join('\n')}`);
    });
  }

  test('matrix, write answers: the records answered to allowed writes (tags, editable fields, deals, follow-ups, objects) lack the hidden fields', async () => {
    const problems = [];
    const see = (role, label, r, want = [200, 201]) => {
      if (!want.includes(r.status)) { problems.push(`${role} ${label} → ${r.status} ${r.text.slice(0, 200)}`); return; }
      for (const p of leaks(role, r.text, r.json)) problems.push(`${role} ${label}: ${p}`);
    };
    for (const role of ROLES) {
      const w = V[role].api;
      see(role, 'POST /customers/C1/tags', await w.post(`${V1}/customers/${C1.id}/tags`, { tags: [`t-${role}`] }),
        role === 'marketer' ? [403] : [200, 201]);
      see(role, 'DELETE /customers/C1/tags/…', await w.del(`${V1}/customers/${C1.id}/tags/${enc(`t-${role}`)}`),
        role === 'marketer' ? [403] : [200, 204]);
      if (role !== 'agent') see(role, 'POST /customers/bulk-tags', await w.post(`${V1}/customers/bulk-tags`, { ids: [C1.id, C2.id], add: [`b-${role}`] }));
      if (role !== 'marketer') {
        const o = await w.post(`${V1}/objects/asset`, { customer_id: C1.id, values: { serial: `AS-${role}` } });
        see(role, 'POST /objects/asset', o);
        if (o.status === 201) see(role, 'PATCH /objects/asset/{id}', await w.patch(`${V1}/objects/asset/${o.json.id}`, { values: { serial: `AS2-${role}` } }));
      }
      if (!CRM_WRITE.has(role)) continue;
      // an editable field of the sentinel customer: the answer is C1 as this role may see it
      see(role, 'PATCH /customers/C1 {type}', await w.patch(`${V1}/customers/${C1.id}`, { type: 'returning', tags: ['fpmatrix'] }));
      see(role, 'POST /customers/C1/identities', await w.post(`${V1}/customers/${C1.id}/identities?allow_duplicate=1`, { kind: 'phone', value: role === 'sales' ? '13900001111' : '13900002222' }));
      const d = await w.post(`${V1}/deals`, { customer_id: C1.id, title: `答复商机 ${role}` });
      see(role, 'POST /deals on C1', d);
      see(role, 'PATCH /deals/D1 {title}', await w.patch(`${V1}/deals/${D1.id}`, { title: '哨兵商机一' }));
      if (d.status === 201) see(role, 'PATCH /deals/{new} {stage_id}', await w.patch(`${V1}/deals/${d.json.id}`, { stage_id: stageId('Developing') }));
      const act = await w.post(`${V1}/activities`, { customer_id: C1.id, deal_id: D1.id, method: 'visit', content: `答复跟进 ${role}` });
      see(role, 'POST /activities on C1', act);
      if (act.status === 201) see(role, 'PATCH /activities/{id}', await w.patch(`${V1}/activities/${act.json.id}`, { content: `答复跟进 ${role} 2` }));
    }
    assert.deepEqual(problems, [], `${problems.length} problems:\n${problems.join('\n')}`);
  });

  test('matrix, writes by other routes: a lead conversion may not set a read-only or hidden deal field (the issue: "by any route")', async () => {
    const problems = [];
    for (const [role, deal, field] of [['sales', { amount: 5 }, 'amount'], ['sales', { expected_close: '2030-01-01' }, 'expected_close'], ['manager', { currency: 'USD' }, 'currency'], ['manager', { amount: 5 }, 'amount']]) {
      const w = V[role].api;
      const l = await w.post(`${V1}/leads`, { name: `转化字段 ${role} ${field}`, email: `conv-${role}-${field}@fp.example`, owner_id: V[role].id });
      assert.equal(l.status, 201, l.text);
      const nDeals = q1('SELECT COUNT(*) FROM deals');
      const r = await w.post(`${V1}/leads/${l.json.id}/convert`, { deal: { title: 'x', ...deal } });
      if (r.status !== 403 || r.json.error.code !== 'forbidden_field' || r.json.error.field !== field) {
        problems.push(`${role} POST /leads/{id}/convert {deal:${JSON.stringify(deal)}}: want 403 forbidden_field ${field}, got ${r.status} ${r.text.slice(0, 200)}`);
      }
      if (r.status !== 200 && q1('SELECT COUNT(*) FROM deals') !== nDeals) problems.push(`${role} refused convert still wrote a deal`);
    }
    assert.deepEqual(problems, [], `${problems.length} problems:\n${problems.join('\n')}`);
  });

  test('matrix, writes: agents and marketers may not write customers or deals at all (403)', async () => {
    for (const role of ['agent', 'marketer']) {
      const before = rowOf('customers', C1.id);
      for (const field of lockedOf(role, 'customer')) {
        const body = customerBody(field, customerValue(field));
        expectError(await V[role].api.patch(`${V1}/customers/${C1.id}`, body), 403);
        expectError(await V[role].api.post(`${V1}/customers`, { name: 'x', ...body }), 403);
      }
      assert.equal(rowOf('customers', C1.id), before);
    }
  });

  test('matrix, writes: admins are never restricted (every governed field written)', async () => {
    const body = { ...Object.fromEntries(CUSTOMER_FIELDS.map((f) => [f, customerValue(f)])), attrs: { budget: 2, secret_code: 'admin' } };
    let r = await a.patch(`${V1}/customers/${C3.id}`, body);
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.uscc, CUSTOMER_VALUES.uscc);
    assert.deepEqual(r.json.attrs, { budget: 2, secret_code: 'admin' });
    r = await a.post(`${V1}/deals`, { customer_id: C3.id, title: 'admin deal', ...DEAL_VALUES, win_loss_reason: undefined });
    assert.equal(r.status, 201, r.text);
    r = await a.patch(`${V1}/deals/${r.json.id}`, { amount: 3, competitor: 'admin', expected_close: '2030-03-03' });
    assert.equal(r.status, 200, r.text);
  });

  test('CSV import: a column mapped to a read-only or hidden field is refused whole, naming column and field; nothing imported', async () => {
    const CSV = { 'Content-Type': 'text/csv' };
    const TABLES = ['customers', 'customer_identities', 'customer_tags', 'companies', 'audit_log', 'events'];
    const cases = [
      ['sales', [['name', 'email', '统一社会信用代码'], ['导入甲', 'imp1@fp.example', '91310115MA1K3YJ12X']], '', '统一社会信用代码', 'uscc'],
      ['sales', [['name', 'email', 'region'], ['导入乙', 'imp2@fp.example', '华北']], '', 'region', 'region'],
      ['sales', [['name', 'email', 'Budget X'], ['导入丙', 'imp3@fp.example', '5']], `?map=${enc(JSON.stringify({ 'Budget X': 'attrs.budget' }))}`, 'Budget X', 'budget'],
      ['sales', [['姓名', '邮箱', '负责人邮箱'], ['导入丁', 'imp4@fp.example', OWNER_EMAIL]], '', '负责人邮箱', 'owner'],
      ['manager', [['name', 'email', '地址'], ['导入戊', 'imp5@fp.example', '某路1号']], '', '地址', 'address'],
      ['manager', [['name', 'email', 'secret_code'], ['导入己', 'imp6@fp.example', 'x']], '', 'secret_code', 'secret_code'],
      ['manager', [['name', 'email', 'industry'], ['导入庚', 'imp7@fp.example', '制造']], '?dry_run=1', 'industry', 'industry'],
    ];
    const problems = [];
    for (const [role, rows, qs, column, field] of cases) {
      const snap = counts(server, TABLES);
      const r = await V[role].api.post(`${V1}/customers/import${qs}`, csvText(rows), { headers: CSV });
      const what = `${role} import [${rows[0]}]${qs}`;
      if (r.status < 400) problems.push(`${what}: accepted ${r.status} ${r.text.slice(0, 300)}`);
      else if (!r.text.includes(column) || !r.text.includes(field)) problems.push(`${what}: error must name column "${column}" and field "${field}": ${r.status} ${r.text.slice(0, 300)}`);
      if (JSON.stringify(counts(server, TABLES)) !== JSON.stringify(snap)) problems.push(`${what}: something was written`);
    }
    // editable columns import fine; a forbidden column skipped with null in the map is fine
    let r = await V.sales.api.post(`${V1}/customers/import`, csvText([['name', 'email', 'industry'], ['导入可写', 'imp8@fp.example', '制造']]), { headers: CSV });
    if (r.status !== 200 || r.json.imported !== 1) problems.push(`sales import of editable columns → ${r.status} ${r.text.slice(0, 300)}`);
    r = await V.sales.api.post(`${V1}/customers/import?map=${enc(JSON.stringify({ region: null }))}`,
      csvText([['name', 'email', 'region'], ['导入跳过', 'imp9@fp.example', '华北']]), { headers: CSV });
    if (r.status !== 200 || r.json.imported !== 1) problems.push(`sales import with the region column skipped → ${r.status} ${r.text.slice(0, 300)}`);
    // admins are never restricted
    r = await a.post(`${V1}/customers/import`, csvText([['name', 'email', 'uscc', 'region', 'budget'], ['导入管理员', 'imp10@fp.example', '91310115MA1K3YJ12X', '华北', '5']]), { headers: CSV });
    if (r.status !== 200 || r.json.imported !== 1) problems.push(`admin import → ${r.status} ${r.text.slice(0, 300)}`);
    assert.deepEqual(problems, [], `${problems.length} problems:\n${problems.join('\n')}`);
  });

  // ------------------------------------------------------------------ rules and filters

  test('segment rules and list filters naming a hidden field are refused (422) for that role; read-only ones and admins are fine', async () => {
    const problems = [];
    const hiddenRules = {
      manager: ['uscc ~ 9144', 'attr.secret_code ~ SECRET', `owner_id = ${OWNER.id}`, 'tag:fpmatrix AND NOT (uscc = x)'],
      agent: [`region = ${SENT.customer.region[0]}`, 'attr.budget > 10', 'address ~ 哨兵', 'company ~ SENTCO'],
      sales: [`region = ${SENT.customer.region[0]}`, 'attr.budget > 10', 'company ~ SENTCO', 'grade = x', 'tag:fpmatrix OR (NOT region != y)'],
      marketer: ['uscc ~ 9144', 'address ~ 哨兵', 'attr.secret_code ~ SECRET', 'industry = x', 'source = x', `owner_id = ${OWNER.id}`],
    };
    const readRules = {
      manager: ['address ~ 哨兵', 'industry ~ SENT', 'attr.budget > 10'],
      agent: ['industry ~ SENT', 'grade = x'],
      sales: ['uscc ~ 9144', 'source = x', 'attr.secret_code ~ SECRET', `owner_id = ${OWNER.id}`],
      marketer: [`region = ${SENT.customer.region[0]}`, 'grade = x'],
    };
    const refused = (what, r) => {
      if (r.status !== 422 || !r.json || !r.json.error || !r.json.error.fields || !r.json.error.fields.rule) {
        problems.push(`${what}: want 422 with fields.rule, got ${r.status} ${r.text.slice(0, 300)}`);
      }
    };
    const allowed = (what, r) => { if (r.status !== 200) problems.push(`${what}: want 200, got ${r.status} ${r.text.slice(0, 300)}`); };
    for (const role of ROLES) {
      const w = V[role].api;
      for (const rule of hiddenRules[role]) {
        refused(`${role} GET /customers?rule=${rule}`, await w.get(`${V1}/customers?rule=${enc(rule)}`));
        if (EXPORT.has(role)) refused(`${role} GET /customers/export?rule=${rule}`, await w.get(`${V1}/customers/export?rule=${enc(rule)}`));
        if (PREVIEW.has(role)) refused(`${role} POST /segments/preview ${rule}`, await w.post(`${V1}/segments/preview`, { rule }));
        if (MARKETING.has(role)) {
          const n = q1('SELECT COUNT(*) FROM segments');
          refused(`${role} POST /segments ${rule}`, await w.post(`${V1}/segments`, { name: `hidden ${role} ${rule}`, rule }));
          refused(`${role} PATCH /segments/{id} ${rule}`, await w.patch(`${V1}/segments/${SEGMENT.id}`, { rule }));
          if (q1('SELECT COUNT(*) FROM segments') !== n) problems.push(`${role} POST /segments ${rule} stored a segment`);
        }
        // admins may filter on anything
        allowed(`admin GET /customers?rule=${rule}`, await a.get(`${V1}/customers?rule=${enc(rule)}`));
        allowed(`admin POST /segments/preview ${rule}`, await a.post(`${V1}/segments/preview`, { rule }));
      }
      for (const rule of readRules[role]) {
        allowed(`${role} GET /customers?rule=${rule} (read-only field)`, await w.get(`${V1}/customers?rule=${enc(rule)}`));
        if (PREVIEW.has(role)) allowed(`${role} POST /segments/preview ${rule} (read-only field)`, await w.post(`${V1}/segments/preview`, { rule }));
      }
    }
    assert.equal((await a.get(`${V1}/segments/${SEGMENT.id}`)).json.rule, 'tag:fpmatrix');
    assert.deepEqual(problems, [], `${problems.length} problems:\n${problems.join('\n')}`);
  });

  test('list filters on a hidden field other than rule= (owner_id=) do not reveal it (a filter would reveal the value)', async () => {
    // Interpretation: the contract names rules; ?owner_id= is the same filter in another form.
    const problems = [];
    for (const role of ROLES.filter((x) => hiddenOf(x, 'customer').includes('owner_id'))) {
      for (const p of [`${V1}/customers?owner_id=${OWNER.id}`, `${V1}/customers?owner_id=${V.admin.id}`]) {
        const r = await V[role].api.get(p);
        if (r.status !== 403 || r.json.error.code !== 'forbidden_field') {
          problems.push(`${role} GET ${p} → ${r.status}: a filter on a hidden field must be refused (403 forbidden_field)`);
        }
      }
    }
    assert.deepEqual(problems, [], `${problems.length} problems:\n${problems.join('\n')}`);
  });

  // ------------------------------------------------------------------ PUT validation

  test('PUT /field-permissions validation: 422 naming items[i].field / .role / .access and duplicates; nothing changes; audited', async () => {
    const before = (await a.get(`${V1}/field-permissions`)).text;
    const ok = { role: 'sales', object: 'customer', field: 'uscc', access: 'read' };
    const cases = [
      [[ok, ok, ok, { role: 'sales', object: 'customer', field: 'shoe_size', access: 'hidden' }], 'items[3].field'],
      [[{ ...ok, role: 'admin' }], 'items[0].role'],
      [[{ ...ok, role: 'superuser' }], 'items[0].role'],
      [[ok, { ...ok, field: 'region', access: 'write' }], 'items[1].access'],
      [[ok, { ...ok, field: 'region', access: 'editable' }], 'items[1].access'],
      [[{ ...ok, field: 'name' }], 'items[0].field'],
      [[{ ...ok, field: 'email' }], 'items[0].field'],
      [[{ ...ok, field: 'attrs.nonexistent' }], 'items[0].field'],
      [[{ ...ok, field: 'amount' }], 'items[0].field'],
      [[{ ...ok, object: 'deal', field: 'uscc' }], 'items[0].field'],
    ];
    const problems = [];
    const audits = () => Number(q1("SELECT COUNT(*) FROM audit_log WHERE action = 'field_permissions.updated'"));
    const nAudit = audits();
    for (const [items, name] of cases) {
      const r = await a.put(`${V1}/field-permissions`, { items });
      if (r.status !== 422 || !r.json.error || r.json.error.code !== 'validation_failed' || !r.json.error.fields || !(name in r.json.error.fields)) {
        problems.push(`${JSON.stringify(items).slice(0, 160)}: want 422 naming ${name}, got ${r.status} ${r.text.slice(0, 300)}`);
      }
    }
    // a duplicate (same role, object and field, also with another access)
    for (const items of [[ok, ok], [ok, { ...ok, access: 'hidden' }]]) {
      const r = await a.put(`${V1}/field-permissions`, { items });
      if (r.status !== 422 || !r.json.error.fields || !Object.keys(r.json.error.fields).some((k) => k.startsWith('items[1]'))) {
        problems.push(`duplicate ${JSON.stringify(items)}: want 422 naming items[1]…, got ${r.status} ${r.text.slice(0, 300)}`);
      }
    }
    for (const body of [{}, { items: 'x' }, { items: [1] }]) {
      const r = await a.put(`${V1}/field-permissions`, body);
      if (r.status !== 422) problems.push(`${JSON.stringify(body)}: want 422, got ${r.status} ${r.text.slice(0, 200)}`);
    }
    assert.equal((await a.get(`${V1}/field-permissions`)).text, before, 'a refused PUT changed the matrix');
    assert.equal(audits(), nAudit, 'a refused PUT was audited');
    assert.deepEqual(problems, [], `${problems.length} problems:\n${problems.join('\n')}`);
  });

  // Last: it replaces the matrix.
  test('PUT replaces the whole matrix: removed rows make the field visible and editable again; audited', async () => {
    const audits = () => Number(q1("SELECT COUNT(*) FROM audit_log WHERE action = 'field_permissions.updated'"));
    const nAudit = audits();
    const keep = [{ role: 'marketer', object: 'customer', field: 'uscc', access: 'hidden' }];
    const r = await a.put(`${V1}/field-permissions`, { items: keep });
    assert.equal(r.status, 200, r.text);
    assert.deepEqual(r.json.items.map(({ role, object, field, access }) => ({ role, object, field, access })), keep);
    assert.equal(r.json.total, 1);
    assert.ok(r.json.catalogue && r.json.catalogue.customer.includes('attrs.budget'), 'PUT answers like GET (with the catalogue)');
    assert.deepEqual(JSON.parse((await a.get(`${V1}/field-permissions`)).text), r.json, 'PUT answers the same as GET');
    assert.equal(audits(), nAudit + 1, 'field_permissions.updated audited');
    for (const role of ['manager', 'agent', 'sales']) {
      assert.deepEqual((await V[role].api.get(`${V1}/field-permissions/mine`)).json, { customer: {}, deal: {} }, role);
    }
    assert.deepEqual((await V.marketer.api.get(`${V1}/field-permissions/mine`)).json, { customer: { uscc: 'hidden' }, deal: {} });
    // sales sees region, company, budget and amount again, and writes uscc and amount
    const c = (await V.sales.api.get(`${V1}/customers/${C1.id}`)).json;
    assert.equal(c.region, SENT.customer.region[0]);
    assert.equal(c.company, SENT.customer.company[0]);
    assert.equal(c.attrs.budget, 7654321.5);
    assert.equal((await V.sales.api.get(`${V1}/deals/${D1.id}`)).json.amount, 987654.32);
    let w = await V.sales.api.patch(`${V1}/customers/${C3.id}`, { uscc: '91440300MA5FPWX7KA', attrs: { budget: 9 } });
    assert.equal(w.status, 200, w.text);
    w = await V.manager.api.patch(`${V1}/deals/${D1.id}`, { competitor: 'now editable' });
    assert.equal(w.status, 200, w.text);
    // the marketer still does not see uscc; the manager now does
    assert.ok(!(await V.marketer.api.get(`${V1}/customers/${C1.id}`)).text.includes(SENT.customer.uscc[0]));
    assert.ok((await V.manager.api.get(`${V1}/customers/${C1.id}`)).text.includes(SENT.customer.uscc[0]));
    // and an empty matrix makes everything editable
    assert.equal((await a.put(`${V1}/field-permissions`, { items: [] })).json.total, 0);
    assert.deepEqual((await V.marketer.api.get(`${V1}/field-permissions/mine`)).json, { customer: {}, deal: {} });
  });
});
