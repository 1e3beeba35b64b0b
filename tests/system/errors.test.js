'use strict';
// errors.test.js — bad input gets a clear 4xx in the error format and changes nothing
// (Foundation issue: "malformed JSON ⇒ 400; 2 MiB body ⇒ 413; invalid email/phone ⇒ 422
// naming the field; unknown id ⇒ 404; all with the error format, and nothing written";
// DESIGN.md section 11.3: SQL/HTML in any field is stored and returned verbatim).
const test = require('node:test');
const assert = require('node:assert/strict');
const net = require('node:net');
const { Readable } = require('node:stream');
const {
  startServer, bootstrapAdmin, api, sql, dropDatabase, counts, expectError,
} = require('./harness');

const JSON_CT = { 'Content-Type': 'application/json' };
const TABLES = ['customers', 'customer_identities', 'customer_tags', 'tags', 'companies', 'tickets', 'messages',
  'agents', 'teams', 'audit_log', 'events', 'outbox'];

/** One raw HTTP/1.1 exchange; resolves everything the server sent within waitMs. */
function rawHttp(port, request, waitMs = 400) {
  return new Promise((resolve, reject) => {
    const sock = net.connect(port, '127.0.0.1');
    const chunks = [];
    sock.on('data', (d) => chunks.push(d));
    sock.on('error', reject);
    sock.on('connect', () => sock.write(request));
    const done = () => { sock.destroy(); resolve(Buffer.concat(chunks).toString('utf8')); };
    sock.on('close', done);
    setTimeout(done, waitMs);
  });
}

test.describe('bad input changes nothing', () => {
  let server;
  let admin;
  let a;
  let existing; // a customer the 404/409/422 cases must leave alone

  test.before(async () => {
    server = await startServer();
    admin = await bootstrapAdmin(server);
    a = api(server, admin.token);
    const res = await a.post('/api/v1/customers', { name: 'Existing', email: 'existing@example.com', phone: '13800000001' });
    assert.equal(res.status, 201, res.text);
    existing = res.json;
    // attrs are checked against field_defs; the verbatim test stores a note.
    sql(server, "INSERT INTO field_defs (`key`, label, type) VALUES ('note', 'Note', 'text')");
  });
  test.after(async () => {
    if (server) {
      await server.stop();
      dropDatabase(server);
    }
  });

  /** Runs fn, then asserts every table's row count is what it was before. */
  async function unchanged(fn) {
    const before = counts(server, TABLES);
    await fn();
    assert.deepEqual(counts(server, TABLES), before, 'something was written');
  }

  test('malformed JSON ⇒ 400', async () => {
    await unchanged(async () => {
      for (const body of ['{bad', '{"name": "x",}', '{"name": "x"', '', '   ', 'null x', '{"name":"x"} trailing',
        '{"name": "\\ud800"}', "{'name': 'x'}"]) {
        const res = await a.post('/api/v1/customers', body, { headers: JSON_CT });
        expectError(res, 400);
      }
      // The same on PATCH, on login and on tickets.
      expectError(await a.patch(`/api/v1/customers/${existing.id}`, '{"name":', { headers: JSON_CT }), 400);
      expectError(await api(server).post('/api/v1/auth/login', '{"email":', { headers: JSON_CT }), 400);
      expectError(await a.post('/api/v1/tickets', '{"subject":', { headers: JSON_CT }), 400);
    });
  });

  test('a JSON body that is not an object ⇒ 400', async () => {
    await unchanged(async () => {
      for (const body of ['[]', '[{"name":"x"}]', '"name"', '42', 'null', 'true']) {
        expectError(await a.post('/api/v1/customers', body, { headers: JSON_CT }), 400);
      }
      expectError(await a.patch(`/api/v1/customers/${existing.id}`, '[{"name":"y"}]', { headers: JSON_CT }), 400);
    });
  });

  test('invalid UTF-8 in a JSON body ⇒ 400', async () => {
    await unchanged(async () => {
      const body = Buffer.concat([Buffer.from('{"name":"bad '), Buffer.from([0xff, 0xfe, 0xc3]), Buffer.from('"}')]);
      expectError(await a.post('/api/v1/customers', body, { headers: JSON_CT }), 400);
    });
  });

  test('2 MiB body ⇒ 413 payload_too_large', async () => {
    await unchanged(async () => {
      const big = JSON.stringify({ name: 'Big', address: 'x'.repeat(2 * 1024 * 1024) });
      const res = await a.post('/api/v1/customers', big, { headers: JSON_CT });
      expectError(res, 413, 'payload_too_large');
      // The server is still fine afterwards.
      assert.equal((await a.get(`/api/v1/customers/${existing.id}`)).status, 200);
    });
  });

  test('chunked body: read (and limited) or refused, never misparsed', async () => {
    // A small chunked JSON body: either it is read (201) or refused with 411; the chunk
    // bytes must never be taken for the next request on the connection.
    const body = JSON.stringify({ name: 'Chunky' });
    const raw = await rawHttp(server.port,
      'POST /api/v1/customers HTTP/1.1\r\nHost: x\r\n'
      + `Authorization: Bearer ${admin.token}\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n`
      + `${body.length.toString(16)}\r\n${body}\r\n0\r\n\r\n`
      + `GET /api/v1/customers/${existing.id} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${admin.token}\r\n\r\n`, 700);
    const statuses = (raw.match(/HTTP\/1\.1 \d{3}/g) || []).map((x) => Number(x.slice(9)));
    assert.ok(statuses.length >= 1, `no answer: ${raw}`);
    assert.ok(statuses[0] === 201 || statuses[0] === 411, `chunked create answered ${statuses[0]}: ${raw}`);
    const created = Number(sql(server, "SELECT COUNT(*) FROM customers WHERE name = 'Chunky'")[0][0]);
    assert.equal(created, statuses[0] === 201 ? 1 : 0);
    // The pipelined GET is answered 200 or the connection was closed after the refusal.
    if (statuses.length > 1) assert.equal(statuses[1], 200, raw);
    else assert.equal(statuses[0], 411, `pipelined request lost: ${raw}`);

    // 2 MiB chunked ⇒ 413 (or 411), nothing written. Raw socket: the server may answer
    // and close before the upload ends, which fetch reports only as EPIPE.
    await unchanged(async () => {
      const answer = await new Promise((resolve, reject) => {
        const sock = net.connect(server.port, '127.0.0.1');
        const got = [];
        let finished = false;
        const finish = () => {
          if (finished) return;
          finished = true;
          sock.destroy();
          resolve(Buffer.concat(got).toString('utf8'));
        };
        sock.on('data', (d) => {
          got.push(d);
          if (/\r\n\r\n/.test(Buffer.concat(got).toString('latin1'))) setTimeout(finish, 100);
        });
        sock.on('error', (err) => {
          if (err.code === 'EPIPE' || err.code === 'ECONNRESET') finish();
          else reject(err);
        });
        sock.on('close', finish);
        setTimeout(() => { got.push(Buffer.from('<<timed out>>')); finish(); }, 10000);
        sock.on('connect', async () => {
          sock.write('POST /api/v1/customers HTTP/1.1\r\nHost: x\r\n'
            + `Authorization: Bearer ${admin.token}\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n`);
          const head = '{"name":"Chunked big","address":"';
          sock.write(`${head.length.toString(16)}\r\n${head}\r\n`);
          const part = 'x'.repeat(64 * 1024);
          for (let i = 0; i < 32 && !finished; i++) {
            if (!sock.write(`${part.length.toString(16)}\r\n${part}\r\n`)) {
              await new Promise((r) => { sock.once('drain', r); setTimeout(r, 1000); });
            }
          }
          if (!finished) sock.write('2\r\n"}\r\n0\r\n\r\n');
        });
      });
      // A refusal sent while the client is still uploading can be lost to the TCP reset
      // of the close; then the connection must at least have been closed (not hung).
      assert.ok(!answer.includes('<<timed out>>'), `no answer and no close in 10 s: ${answer.slice(0, 300)}`);
      if (answer !== '') {
        const st = /^HTTP\/1\.1 (\d{3})/.exec(answer);
        assert.ok(st && (st[1] === '413' || st[1] === '411'), answer.slice(0, 500));
      }
    });
    assert.equal((await api(server).get('/healthz')).status, 200);
  });

  test('a body just under the limit is accepted (the limit is 1 MiB, not less)', async () => {
    const res = await a.post('/api/v1/customers', { name: 'Almost big', attrs: {}, address: 'y'.repeat(400) });
    assert.equal(res.status, 201, res.text);
    const body = JSON.stringify({ name: 'x'.repeat(100) }).padEnd(900 * 1024, ' ');
    const res2 = await a.post('/api/v1/customers', body, { headers: JSON_CT });
    assert.equal(res2.status, 201, res2.text);
  });

  test('invalid email, phone and stage ⇒ 422 naming each field', async () => {
    await unchanged(async () => {
      const res = await a.post('/api/v1/customers', { name: 'Valid name', email: 'not-an-email', phone: '12345', stage: 'lunch' });
      const err = expectError(res, 422);
      assert.ok(err.fields && typeof err.fields === 'object', res.text);
      for (const f of ['email', 'phone', 'stage']) {
        assert.equal(typeof err.fields[f], 'string', `error.fields.${f} missing: ${res.text}`);
        assert.ok(err.fields[f].length > 0);
      }
      assert.equal(err.fields.name, undefined, `name was valid: ${res.text}`);
      // One at a time, each names only itself.
      for (const [field, value] of [['email', 'a@'], ['email', 'a b@example.com'], ['email', '@example.com'],
        ['phone', '1380013800'], ['phone', '23800138000'], ['phone', '138001380000'], ['phone', '+86abc'],
        ['phone', 'call me'], ['stage', 'POTENTIAL '], ['type', 'vip']]) {
        const r = await a.post('/api/v1/customers', { name: 'One bad field', [field]: value });
        const e = expectError(r, 422);
        assert.deepEqual(Object.keys(e.fields || {}), [field], `${field}=${JSON.stringify(value)}: ${r.text}`);
      }
    });
  });

  test('name is required; wrong types and unknown fields ⇒ 422', async () => {
    await unchanged(async () => {
      let e = expectError(await a.post('/api/v1/customers', { email: 'noname@example.com' }), 422);
      assert.ok(e.fields && e.fields.name, JSON.stringify(e));
      e = expectError(await a.post('/api/v1/customers', { name: '   ' }), 422);
      assert.ok(e.fields && e.fields.name, JSON.stringify(e));
      e = expectError(await a.post('/api/v1/customers', { name: 42 }), 422);
      assert.ok(e.fields && e.fields.name, JSON.stringify(e));
      e = expectError(await a.post('/api/v1/customers', { name: 'X', tags: 'not-an-array' }), 422);
      assert.ok(e.fields && e.fields.tags, JSON.stringify(e));
      e = expectError(await a.post('/api/v1/customers', { name: 'X', attrs: [1] }), 422);
      assert.ok(e.fields && e.fields.attrs, JSON.stringify(e));
      e = expectError(await a.post('/api/v1/customers', { name: 'X', owner_id: 999999 }), 422);
      assert.ok(e.fields && e.fields.owner_id, JSON.stringify(e));
      const r = await a.post('/api/v1/customers', { name: 'X', favourite_colour: 'blue' });
      e = expectError(r, 422);
      assert.ok(e.fields && e.fields.favourite_colour, r.text);
      assert.match(e.fields.favourite_colour, /unknown field/, r.text);
    });
  });

  test('invalid PATCH ⇒ 422 and the customer is unchanged', async () => {
    const before = (await a.get(`/api/v1/customers/${existing.id}`)).json;
    await unchanged(async () => {
      const r = await a.patch(`/api/v1/customers/${existing.id}`, { name: 'Renamed', email: 'broken', phone: '99' });
      const e = expectError(r, 422);
      assert.ok(e.fields.email && e.fields.phone, r.text);
    });
    assert.deepEqual((await a.get(`/api/v1/customers/${existing.id}`)).json, before);
  });

  test('duplicate email ⇒ 409 and nothing written', async () => {
    await unchanged(async () => {
      const r = await a.post('/api/v1/customers', { name: 'Copy', email: 'existing@example.com' });
      const e = expectError(r, 409, 'duplicate');
      assert.equal(e.existing_id, existing.id, r.text);
      // The phone as typed differently is the same identity.
      const p = await a.post('/api/v1/customers', { name: 'Copy', phone: '+86 138 0000 0001' });
      assert.equal(expectError(p, 409, 'duplicate').existing_id, existing.id, p.text);
    });
  });

  test('a duplicate email plus an unknown field ⇒ 422 (validation first), nothing written', async () => {
    await unchanged(async () => {
      const r = await a.post('/api/v1/customers', { name: 'Copy', email: 'existing@example.com', foo: 1 });
      expectError(r, 422);
    });
  });

  test('unknown id ⇒ 404 on every resource, nothing written', async () => {
    await unchanged(async () => {
      for (const p of ['/api/v1/customers/999999', '/api/v1/tickets/999999', '/api/v1/agents/999999',
        '/api/v1/teams/999999', '/api/v1/customers/999999/identities', '/api/v1/tickets/999999/messages']) {
        expectError(await a.get(p), 404);
      }
      expectError(await a.patch('/api/v1/customers/999999', { name: 'Ghost' }), 404);
      expectError(await a.patch('/api/v1/tickets/999999', { status: 'open' }), 404);
      expectError(await a.patch('/api/v1/agents/999999', { name: 'Ghost' }), 404);
      expectError(await a.patch('/api/v1/teams/999999', { name: 'Ghost' }), 404);
      expectError(await a.post('/api/v1/customers/999999/identities', { kind: 'email', value: 'g@example.com' }), 404);
      expectError(await a.post('/api/v1/customers/999999/tags', { tags: ['ghost'] }), 404);
      expectError(await a.del(`/api/v1/customers/${existing.id}/identities/999999`), 404);
      expectError(await a.post('/api/v1/tickets/999999/messages', { body_text: 'hello?' }), 404);
      // A ticket for a customer that does not exist is refused too.
      const t = await a.post('/api/v1/tickets', { customer_id: 999999, channel: 'email', subject: 'Ghost' });
      assert.ok(t.status === 404 || t.status === 422, t.text);
      expectError(t, t.status);
    });
  });

  test('odd ids in the path ⇒ 404 (or 400), never 500', async () => {
    await unchanged(async () => {
      for (const id of ['abc', '-1', '0', '1.5', '99999999999999999999999', '1abc', '1%20OR%201=1']) {
        const res = await a.get(`/api/v1/customers/${id}`);
        assert.ok(res.status === 404 || res.status === 400, `/customers/${id}: ${res.status} ${res.text}`);
        expectError(res, res.status);
      }
    });
  });

  test('unknown route ⇒ 404, wrong method ⇒ 405, both in the error format', async () => {
    await unchanged(async () => {
      expectError(await a.get('/api/v1/nothing-here'), 404);
      expectError(await a.post('/api/v1/nothing-here', { name: 'x' }), 404);
      expectError(await a.get('/api/v2/customers'), 404);
      expectError(await a.get('/api/v1/customers/1/unknown'), 404);
      expectError(await api(server).get('/api/v1/nothing-here'), 404);
      expectError(await a.del('/api/v1/customers'), 405);
      expectError(await a.put(`/api/v1/customers/${existing.id}`, { name: 'Put' }), 405);
      expectError(await a.del(`/api/v1/customers/${existing.id}`), 405);
      expectError(await a.post('/api/v1/auth/me', {}), 405);
      expectError(await a.patch('/api/v1/customers', { name: 'x' }), 405);
    });
  });

  test('POST with Content-Length: 0 is answered exactly once', async () => {
    // A POST without a body must run its handler once and produce one response.
    for (let i = 0; i < 10; i++) {
      const raw = await rawHttp(server.port,
        'POST /api/v1/customers HTTP/1.1\r\nHost: x\r\n'
        + `Authorization: Bearer ${admin.token}\r\nContent-Type: application/json\r\nContent-Length: 0\r\n\r\n`);
      const statuses = raw.match(/HTTP\/1\.1 \d{3}/g) || [];
      assert.equal(statuses.length, 1, `expected one response, got: ${raw}`);
      assert.match(statuses[0], /HTTP\/1\.1 4\d\d/, raw);
    }
  });

  test('SQL-looking and HTML strings are stored and returned verbatim', async () => {
    const nasty = [
      "Robert'); DROP TABLE customers;--",
      '<script>alert("x")</script>',
      '<img src=x onerror=alert(1)>&amp;&lt;',
      "' OR '1'='1",
      '100% _off_ \\ back\\slash',
      '"quoted" `tick` $dollar {{customer.name}}',
      'tab\there',
    ];
    const ids = [];
    for (const name of nasty) {
      const res = await a.post('/api/v1/customers', {
        name, company: name, address: name, attrs: { note: name }, tags: [name.slice(0, 60)],
      });
      assert.equal(res.status, 201, `${name}: ${res.text}`);
      assert.equal(res.json.name, name);
      ids.push(res.json.id);
      const got = await a.get(`/api/v1/customers/${res.json.id}`);
      assert.equal(got.status, 200, got.text);
      assert.equal(got.json.name, name);
      assert.equal(got.json.company, name);
      assert.equal(got.json.address, name);
      assert.deepEqual(got.json.attrs, { note: name });
      assert.deepEqual(got.json.tags, [name.slice(0, 60)]);
      // JSON, not HTML: the response is application/json and the text is not entity-escaped.
      assert.match(got.headers.get('content-type'), /application\/json/);
      const [[stored]] = sql(server, `SELECT name FROM customers WHERE id = ${res.json.id}`);
      assert.equal(stored, name);
    }
    // The table survived, and a search for a LIKE wildcard finds only the literal.
    assert.ok(Number(sql(server, 'SELECT COUNT(*) FROM customers')[0][0]) >= nasty.length);
    const pct = await a.get(`/api/v1/customers?q=${encodeURIComponent('100%')}`);
    assert.equal(pct.status, 200, pct.text);
    assert.deepEqual(pct.json.items.map((c) => c.name), ['100% _off_ \\ back\\slash']);
    const quote = await a.get(`/api/v1/customers?q=${encodeURIComponent("' OR '1'='1")}`);
    assert.equal(quote.status, 200, quote.text);
    assert.deepEqual(quote.json.items.map((c) => c.name), ["' OR '1'='1"]);
    const under = await a.get(`/api/v1/customers?q=${encodeURIComponent('_')}`);
    assert.ok(under.json.items.every((c) => c.name.includes('_')), under.text);
    // Listed verbatim too.
    const list = await a.get('/api/v1/customers?per_page=200');
    const byId = new Map(list.json.items.map((c) => [c.id, c.name]));
    ids.forEach((id, i) => assert.equal(byId.get(id), nasty[i]));
  });
});
