'use strict';
// openapi.test.js — the OpenAPI 3.1 document (gateway/www/openapi.json) stays honest:
// it is served without login at GET /api/v1/openapi.json exactly as committed, it is a
// valid OpenAPI 3.1 document (@seriousme/openapi-schema-validator) whose internal $refs
// all resolve, and it describes exactly the routes of gateway/api_routes.c — every row
// (method, path pattern, name as operationId, public or not, roles as x-roles) and
// nothing else — with every {placeholder} declared as a path parameter.
const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const { startServer, api, dropDatabase, ROOT } = require('./harness');

const DOC_FILE = path.join(ROOT, 'gateway', 'www', 'openapi.json');
const ROUTES_FILE = path.join(ROOT, 'gateway', 'api_routes.c');
const METHODS = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace'];
const ALL_ROLES = ['admin', 'manager', 'agent', 'sales', 'marketer'];

let server;
let served;
const doc = JSON.parse(fs.readFileSync(DOC_FILE, 'utf8'));

before(async () => {
  server = await startServer();
  served = await api(server, null).get('/api/v1/openapi.json');
});

after(async () => {
  if (server) { await server.stop(); dropDatabase(server); }
});

/** The role names a roles expression of api_routes.c allows (its #defines expanded). */
function roleNames(expr, defines) {
  const bits = new Set();
  const visit = (e, depth) => {
    assert.ok(depth < 10, `roles expression too deep: ${expr}`);
    for (const tok of e.split('|').map((t) => t.trim().replace(/^\(|\)$/g, '').trim()).filter(Boolean)) {
      if (tok === '0') continue;
      if (tok === 'ROLES_ALL') ALL_ROLES.forEach((r) => bits.add(r));
      else if (/^ROLE_[A-Z]+$/.test(tok)) bits.add(tok.slice(5).toLowerCase());
      else if (defines[tok]) visit(defines[tok], depth + 1);
      else assert.fail(`unknown roles token ${tok} in ${expr}`);
    }
  };
  visit(expr, 0);
  return ALL_ROLES.filter((r) => bits.has(r));
}

/** Rows of the route table: {method, path, handler, roles, public, name}. */
function routeRows() {
  const src = fs.readFileSync(ROUTES_FILE, 'utf8').replace(/\/\*[\s\S]*?\*\//g, '');
  const defines = {};
  for (const m of src.matchAll(/^#define\s+(\w+)\s+(.+)$/gm)) defines[m[1]] = m[2].trim().replace(/^\((.*)\)$/, '$1');
  const re = /\{\s*HTTP_(GET|POST|PUT|PATCH|DELETE)\s*,\s*"([^"]+)"\s*,\s*(\w+)\s*,\s*([^,{}]+?)\s*,\s*([^,{}]+?)\s*,\s*"(\w+)"\s*\}/g;
  const rows = [...src.matchAll(re)].map((m) => ({
    method: m[1].toLowerCase(), path: m[2], handler: m[3], roles: roleNames(m[4], defines),
    public: /\bROUTE_PUBLIC\b/.test(m[5]), name: m[6],
  }));
  // every table row must have been understood by the pattern above
  const table = src.slice(src.indexOf('api_routes[]'));
  assert.equal(rows.length, (table.match(/\{\s*HTTP_/g) || []).length, 'a row of api_routes.c the test cannot parse');
  return rows;
}

/** Operations of the document: {method, path, op, pathItem}. */
function documentedOps(d) {
  const ops = [];
  for (const [p, item] of Object.entries(d.paths || {})) {
    for (const m of METHODS) if (item[m]) ops.push({ method: m, path: p, op: item[m], pathItem: item });
  }
  return ops;
}

function deref(d, x) {
  let v = x;
  for (let i = 0; v && v.$ref && i < 10; i++) {
    assert.match(v.$ref, /^#\//, `only internal $refs: ${v.$ref}`);
    v = v.$ref.slice(2).split('/').map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~')).reduce((o, k) => (o ? o[k] : undefined), d);
    assert.ok(v !== undefined, `dangling $ref ${x.$ref}`);
  }
  return v;
}

const key = (method, p) => `${method.toUpperCase()} ${p}`;

test('GET /api/v1/openapi.json is public and serves gateway/www/openapi.json', async () => {
  assert.equal(served.status, 200, `answer ${served.status} ${served.text.slice(0, 300)}`);
  assert.match(served.headers.get('content-type') || '', /^application\/json/);
  assert.ok(served.json, 'the body is JSON');
  assert.deepEqual(served.json, doc, 'the served document equals gateway/www/openapi.json');
});

test('the document is valid OpenAPI 3.1 and every $ref resolves', async () => {
  assert.equal(doc.openapi, '3.1.0');
  assert.deepEqual(doc.servers, [{ url: '/' }]);
  const { Validator } = await import('@seriousme/openapi-schema-validator');
  const validator = new Validator();
  const res = await validator.validate(structuredClone(doc));
  assert.ok(res.valid, `not a valid OpenAPI document:\n${JSON.stringify(res.errors || null, null, 2).slice(0, 4000)}`);
  assert.equal(validator.version, '3.1');
  // every internal reference points somewhere
  const walk = (v) => {
    if (Array.isArray(v)) v.forEach(walk);
    else if (v && typeof v === 'object') {
      if (typeof v.$ref === 'string') deref(doc, v);
      Object.values(v).forEach(walk);
    }
  };
  walk(doc);
  // the shared pieces the operations lean on
  assert.equal(doc.components.securitySchemes.bearer.type, 'http');
  assert.equal(doc.components.securitySchemes.bearer.scheme, 'bearer');
  assert.deepEqual({ ...doc.components.securitySchemes.cookie, description: undefined },
    { type: 'apiKey', in: 'cookie', name: 'sb_session', description: undefined });
  assert.deepEqual(doc.security, [{ bearer: [] }, { cookie: [] }]);
  assert.ok(doc.components.schemas.Error.properties.error, 'the Error schema');
  assert.ok(doc.webhooks && Object.keys(doc.webhooks).length > 0, 'the outbound webhook events');
});

test('every route of api_routes.c is documented, and nothing else', () => {
  const rows = routeRows();
  const ops = documentedOps(doc);
  const byKey = new Map(ops.map((o) => [key(o.method, o.path), o]));
  const rowKeys = new Set(rows.map((r) => key(r.method, r.path)));
  const undocumented = rows.filter((r) => !byKey.has(key(r.method, r.path))).map((r) => `${key(r.method, r.path)} (${r.name})`);
  const unrouted = ops.filter((o) => !rowKeys.has(key(o.method, o.path))).map((o) => `${key(o.method, o.path)} (${o.op.operationId})`);
  const problems = [];
  for (const r of rows) {
    const o = byKey.get(key(r.method, r.path));
    if (!o) continue;
    const k = key(r.method, r.path);
    if (o.op.operationId !== r.name) problems.push(`${k}: operationId ${o.op.operationId}, the route's name is ${r.name}`);
    if (!o.op.summary || !Array.isArray(o.op.tags) || !o.op.tags.length) problems.push(`${k}: needs a summary and a tag`);
    if (!Object.keys(o.op.responses || {}).some((c) => /^[23]/.test(c))) problems.push(`${k}: no success answer documented`);
    if (r.public) {
      if (!Array.isArray(o.op.security) || o.op.security.length !== 0) problems.push(`${k}: public route without security: []`);
    } else {
      if (o.op.security !== undefined) problems.push(`${k}: needs a login but overrides security`);
      if (JSON.stringify(o.op['x-roles']) !== JSON.stringify(r.roles)) {
        problems.push(`${k}: x-roles ${JSON.stringify(o.op['x-roles'])}, api_routes.c allows ${JSON.stringify(r.roles)}`);
      }
      if (!(o.op.description || '').includes(`Roles: ${r.roles.join(', ')}.`)) problems.push(`${k}: the description does not name the roles`);
    }
  }
  const ids = ops.map((o) => o.op.operationId);
  const dupIds = ids.filter((x, i) => ids.indexOf(x) !== i);
  assert.deepEqual({ undocumented, unrouted, problems, dupIds }, { undocumented: [], unrouted: [], problems: [], dupIds: [] });
});

test('every {placeholder} of a documented path is a declared path parameter', () => {
  const problems = [];
  for (const { method, path: p, op, pathItem } of documentedOps(doc)) {
    const declared = [...(pathItem.parameters || []), ...(op.parameters || [])].map((x) => deref(doc, x));
    const pathParams = declared.filter((x) => x.in === 'path');
    const names = [...p.matchAll(/\{([^}]+)\}/g)].map((m) => m[1]);
    for (const n of names) {
      const par = pathParams.find((x) => x.name === n);
      if (!par) problems.push(`${key(method, p)}: {${n}} is not declared`);
      else if (par.required !== true) problems.push(`${key(method, p)}: path parameter ${n} must be required`);
    }
    for (const x of pathParams) if (!names.includes(x.name)) problems.push(`${key(method, p)}: path parameter ${x.name} is not in the path`);
  }
  assert.deepEqual(problems, []);
});
