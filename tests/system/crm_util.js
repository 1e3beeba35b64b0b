'use strict';
// crm_util.js — small helpers shared by the CRM system tests (crm*.test.js): CSV writing
// and parsing (RFC 4180, as the importer and exporter speak it), the agent websocket with
// its auth frame, and the server's resident memory.
const assert = require('node:assert/strict');
const fs = require('node:fs');
const { wsOpen } = require('./clients');

/** One CSV cell: quoted when it holds a comma, quote, CR or LF. */
function csvCell(v) {
  const s = v === null || v === undefined ? '' : String(v);
  return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

/** CSV text of rows (arrays of cells), lines ended by eol (default CRLF, as Excel writes). */
function csvText(rows, eol = '\r\n') {
  return rows.map((r) => r.map(csvCell).join(',')).join(eol) + eol;
}

/** Records of CSV text (a leading BOM is dropped): arrays of strings. */
function parseCsv(text) {
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
  const rows = [];
  let row = [];
  let cell = '';
  let quoted = false;
  let i = 0;
  let any = false;
  while (i < text.length) {
    const ch = text[i];
    if (quoted) {
      if (ch === '"') {
        if (text[i + 1] === '"') { cell += '"'; i += 2; continue; }
        quoted = false; i++; continue;
      }
      cell += ch; i++; continue;
    }
    if (ch === '"') { quoted = true; any = true; i++; continue; }
    if (ch === ',') { row.push(cell); cell = ''; any = true; i++; continue; }
    if (ch === '\r' || ch === '\n') {
      if (ch === '\r' && text[i + 1] === '\n') i++;
      i++;
      row.push(cell);
      rows.push(row);
      row = []; cell = ''; any = false;
      continue;
    }
    cell += ch; any = true; i++;
  }
  if (any || cell !== '' || row.length) { row.push(cell); rows.push(row); }
  return rows;
}

/** Records of a CSV export as objects keyed by the header. */
function csvObjects(text) {
  const [head, ...rest] = parseCsv(text);
  return rest.map((r) => Object.fromEntries(head.map((h, i) => [h, r[i]])));
}

/**
 * Opens /ws/agent and authenticates with the first frame. Resolves the wsOpen() handle
 * (frames, waitFor, closed, send) once auth_ok arrived.
 */
async function agentSocket(server, token) {
  const s = await wsOpen(server, '/ws/agent');
  s.send({ type: 'auth', token });
  const ok = await s.waitFor((f) => f.type === 'auth_ok' || f.type === 'error', 5000, 'auth_ok');
  assert.equal(ok.type, 'auth_ok', JSON.stringify(ok));
  return s;
}

/** VmRSS of a process in KiB (Linux /proc). */
function rssKiB(pid) {
  const m = /VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) : NaN;
}

/** Sorted copy of numbers. */
const sortNum = (xs) => [...xs].sort((x, y) => x - y);

module.exports = { csvCell, csvText, parseCsv, csvObjects, agentSocket, rssKiB, sortNum };
