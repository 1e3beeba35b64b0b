'use strict';
// clients.js — the clients system tests drive the gateway with: a websocket that collects
// frames (ws package), and Debian's Chromium through playwright-core.
const WebSocket = require('ws');
const { chromium } = require('playwright-core');

// Flags that keep headless Chromium off this machine's closed network (NOTES.md).
const CHROMIUM_ARGS = ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync'];

function launchChromium() {
  return chromium.launch({ executablePath: '/usr/bin/chromium', args: CHROMIUM_ARGS });
}

/**
 * Opens a websocket on path. Resolves once open (rejects with the handshake failure):
 * {ws, frames, waitFor(pred, ms, what, from), closed, send(obj), raw(str)}. frames collects
 * every parsed frame; waitFor resolves the first frame at index >= from (seen or future)
 * matching pred; closed resolves {code, reason}.
 */
function wsOpen(server, path, { headers = {}, origin, autoPong = true } = {}) {
  const url = `${server.url.replace(/^http/, 'ws')}${path}`;
  const ws = new WebSocket(url, { headers, origin, autoPong, handshakeTimeout: 5000 });
  const frames = [];
  const waiters = [];
  ws.on('message', (data) => {
    let f;
    try { f = JSON.parse(data.toString('utf8')); } catch { f = { unparsed: data.toString('utf8') }; }
    frames.push(f);
    for (const w of [...waiters]) {
      if (w.pred(f)) { waiters.splice(waiters.indexOf(w), 1); clearTimeout(w.timer); w.resolve(f); }
    }
  });
  ws.on('error', () => { /* surfaced through closed / the handshake promise */ });
  const closed = new Promise((resolve) => ws.on('close', (code, reason) => resolve({ code, reason: reason.toString() })));
  const waitFor = (pred, ms = 3000, what = 'frame', from = 0) => {
    const seen = frames.slice(from).find(pred);
    if (seen) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const w = { pred, resolve };
      w.timer = setTimeout(() => {
        waiters.splice(waiters.indexOf(w), 1);
        reject(new Error(`no ${what} within ${ms} ms on ${path}; frames so far: ${JSON.stringify(frames).slice(-3000)}`));
      }, ms);
      waiters.push(w);
    });
  };
  const s = {
    ws, frames, waitFor, closed,
    send: (obj) => ws.send(JSON.stringify(obj)),
    raw: (str) => ws.send(str),
  };
  return new Promise((resolve, reject) => {
    ws.once('open', () => resolve(s));
    ws.once('unexpected-response', (req, res) => reject(Object.assign(new Error(`handshake answered ${res.statusCode}`), { statusCode: res.statusCode })));
    ws.once('error', (err) => reject(err));
  });
}

/**
 * Opens a console view by its top-bar tab, also when the tab sits in the "More" menu (an
 * admin's tabs do not all fit: app.js fitTabs).
 */
async function openTab(page, view) {
  const tab = page.locator(`.topbar nav .tab[data-view=${view}]`);
  if (await tab.isVisible()) return tab.click();
  await page.click('.topbar nav .tab-more');
  return page.click(`.tab-menu .tab-menu-item[data-view=${view}]`);
}

/** Whether the signed-in role has the view's tab (in the bar or in the "More" menu). */
async function hasTab(page, view) {
  return page.$eval(`.topbar nav .tab[data-view=${view}]`, (t) => !t.hidden).catch(() => false);
}

module.exports = { wsOpen, launchChromium, openTab, hasTab, CHROMIUM_ARGS };
