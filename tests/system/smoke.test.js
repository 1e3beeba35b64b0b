'use strict';
// smoke.test.js — the binary starts on a fresh database, answers /healthz and /readyz,
// and exits 0 on SIGTERM.
const test = require('node:test');
const assert = require('node:assert/strict');
const { startServer, dropDatabase } = require('./harness');

test('serve: healthz, readyz, clean SIGTERM exit', async () => {
  const server = await startServer();
  try {
    const health = await fetch(`${server.url}/healthz`);
    assert.equal(health.status, 200, `healthz: ${await health.text()}`);

    const ready = await fetch(`${server.url}/readyz`);
    const text = await ready.text();
    assert.equal(ready.status, 200, `readyz: ${text}`);
    assert.match(ready.headers.get('content-type') || '', /application\/json/);
    assert.doesNotThrow(() => JSON.parse(text), `readyz body is not JSON: ${text}`);

    const exit = await server.stop('SIGTERM');
    assert.deepEqual(exit, { code: 0, signal: null }, `exit after SIGTERM; log:\n${server.logs()}`);
  } finally {
    await server.kill9();
    dropDatabase(server);
  }
});
