// Browser test harness: the fake LMArena process, headless Chromium with the real userscript
// injected before page scripts, a stand-in relay server (protocol v2) and a capture listener.
//
// Chromium is the system one (/usr/bin/chromium, or $CHROMIUM_PATH); playwright-core never
// downloads a browser. LMArena host names are mapped onto the fake with --host-resolver-rules,
// so pages really run on https://lmarena.ai and https://arena.ai.

import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import path from 'node:path';
import readline from 'node:readline';
import { fileURLToPath } from 'node:url';

import { chromium } from 'playwright-core';
import { WebSocketServer } from 'ws';

const here = path.dirname(fileURLToPath(import.meta.url));
export const REPO_ROOT = path.resolve(here, '..', '..');
export const USERSCRIPT_PATH =
  process.env.BRIDGE_USERSCRIPT || path.join(REPO_ROOT, 'userscript', 'LMArenaApiBridge.user.js');
export const CHROMIUM_PATH = process.env.CHROMIUM_PATH || '/usr/bin/chromium';
export const FAKE_LMARENA_BIN =
  process.env.FAKE_LMARENA_BIN || path.join(REPO_ROOT, 'target', 'debug', 'fake-lmarena');
export const SERVER_URL_KEY = 'lmarenaBridge.serverUrl';
/** The fake's object store for image uploads (a second HTTPS origin). */
export const UPLOAD_HOST = 'uploads.fake-arena-storage.test';

/** Ids of the assistant message the fake page's Retry button regenerates. */
export const PAGE_SESSION_ID = '0199c0de-0000-7000-8000-00000000a001';
export const PAGE_MESSAGE_ID = '0199c0de-0000-7000-8000-00000000b002';
/** Model ids of the fake page (see bridge_test_support::fake_arena::FAKE_MODELS). */
export const MODELS = {
  text: '0199b1a2-6f1b-7c3e-9a41-2f5d8e7c1a01',
  image: '0199b1a2-6f1b-7c3e-9a41-2f5d8e7c1a04',
  search: '0199b1a2-6f1b-7c3e-9a41-2f5d8e7c1a05',
};
export const TITLE_PREFIX = { connected: '✅ ', capturing: '🎯 ', disconnected: '⛔ ' };

const DEFAULT_TIMEOUT_MS = 10000;

function withTimeout(promise, ms, what) {
  let timer;
  return Promise.race([
    promise,
    new Promise((_, reject) => {
      timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

// ------------------------------------------------------------------ fake LMArena

/**
 * Start `fake-lmarena --port 0`. Build it first:
 * `cargo build -p bridge-test-support --bin fake-lmarena` (`npm run build-fake`).
 */
export async function startFakeArena({ delayMs = 5, slowIntervalMs = 200, extraArgs = [] } = {}) {
  if (!existsSync(FAKE_LMARENA_BIN)) {
    throw new Error(
      `${FAKE_LMARENA_BIN} is missing: run \`cargo build -p bridge-test-support --bin fake-lmarena\` first`,
    );
  }
  const child = spawn(
    FAKE_LMARENA_BIN,
    ['--port', '0', '--delay-ms', String(delayMs), '--slow-interval-ms', String(slowIntervalMs),
      '--exit-on-stdin-close', ...extraArgs],
    { stdio: ['pipe', 'pipe', 'pipe'] },
  );
  let stderr = '';
  child.stderr.on('data', (d) => { stderr += d; });
  const lines = readline.createInterface({ input: child.stdout });
  const exited = once(child, 'exit').then(([code]) => {
    throw new Error(`fake-lmarena exited (${code}) before it was ready: ${stderr}`);
  });
  const [first] = await withTimeout(Promise.race([once(lines, 'line'), exited]), DEFAULT_TIMEOUT_MS, 'fake-lmarena to start');
  exited.catch(() => {});
  const ready = JSON.parse(first);
  const { port } = ready;
  const ca = ready.cert_pem;

  function control(method, route, body) {
    return new Promise((resolve, reject) => {
      const payload = body === undefined ? null : JSON.stringify(body);
      const req = https.request({
        host: '127.0.0.1', port, method, path: `/__fake/${route}`, ca, servername: 'localhost',
        headers: payload ? { 'content-type': 'application/json' } : {},
      }, (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (d) => { text += d; });
        res.on('end', () => resolve({ status: res.statusCode, json: text ? JSON.parse(text) : null }));
      });
      req.on('error', reject);
      if (payload) req.write(payload);
      req.end();
    });
  }

  return {
    port,
    siteKey: ready.site_key,
    certPem: ca,
    async requests() { return (await control('GET', 'requests')).json; },
    /**
     * The requests after the first `seen` that are not GETs, as `METHOD path` lines. Chromium
     * fetches page resources (the favicon, scripts) by GET whenever it likes, even late after
     * the load; every upstream call, server action and upload is a POST or a PUT.
     */
    async callsSince(seen) {
      return (await this.requests()).slice(seen).filter((r) => r.method !== 'GET').map((r) => `${r.method} ${r.path}`);
    },
    async stats() { return (await control('GET', 'stats')).json; },
    async reset() { await control('POST', 'reset'); },
    async rejectNextRecaptcha(count) { await control('POST', 'recaptcha/reject-next', { count }); },
    /** Follow-ups of a direct-battle conversation with `turns` turns get the battle-turn 400. */
    async battleTurnAfter(turns) { await control('POST', 'battle-turn-after', { turns }); },
    async redirectLmarena(on) { await control('POST', 'redirect-lmarena', { on }); },
    /** A new deployment of the site: new server-action ids, the old ones answer 404. */
    async deploy() { return (await control('POST', 'deploy')).json.deployment; },
    /** The person's history: `{ evaluations: [ids], deleted: [ids] }`. */
    async history() { return (await control('GET', 'history')).json; },
    /** Wait until a counter of /__fake/stats reaches `min`; returns the stats or throws. */
    async waitFor(counter, min, timeoutMs = DEFAULT_TIMEOUT_MS) {
      const r = await control('GET', `wait?counter=${counter}&min=${min}&timeout_ms=${timeoutMs}`);
      if (r.status !== 200) throw new Error(`fake stats ${counter} did not reach ${min}: ${JSON.stringify(r.json)}`);
      return r.json;
    },
    async stop() {
      if (child.exitCode !== null) return;
      child.stdin.end();
      child.kill('SIGTERM');
      await once(child, 'exit');
    },
  };
}

// ------------------------------------------------------------------ Chromium

/**
 * Launch headless Chromium with LMArena's host names mapped onto the fake; each of
 * `loopbackAliases` (host names) is mapped onto 127.0.0.1, to play a server off this machine.
 */
export async function launchBrowser(fakePort, { loopbackAliases = [] } = {}) {
  if (!existsSync(CHROMIUM_PATH)) {
    throw new Error(`Chromium not found at ${CHROMIUM_PATH}: install it (apt-get install -y chromium) or set CHROMIUM_PATH`);
  }
  const target = `127.0.0.1:${fakePort}`;
  // www.google.com too: the fake serves the stub reCAPTCHA script a fresh tab loads from there.
  // The object store of image uploads is a second origin on the same fake
  // (bridge_test_support::fake_arena::actions::UPLOAD_HOST).
  const rules = ['lmarena.ai', '*.lmarena.ai', 'arena.ai', '*.arena.ai', 'www.google.com', UPLOAD_HOST]
    .map((h) => `MAP ${h} ${target}`)
    .concat(loopbackAliases.map((h) => `MAP ${h} 127.0.0.1`))
    .join(', ');
  const browser = await chromium.launch({
    executablePath: CHROMIUM_PATH,
    headless: true,
    args: [
      '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync',
      `--host-resolver-rules=${rules}`,
    ],
  });
  return browser;
}

/**
 * Open a tab on the fake LMArena with the userscript pointed at `serverUrl`.
 * Each call makes its own browser context (fresh storage and cookies).
 */
export async function openTab(browser, { serverUrl, host = 'lmarena.ai', path: pagePath = '/', storage = {}, onDialog = null }) {
  const context = await browser.newContext({ ignoreHTTPSErrors: true });
  const page = await context.newPage();
  // Without a handler Playwright dismisses dialogs (a confirm() answers false).
  if (onDialog) page.on('dialog', onDialog);
  const consoleLines = [];
  page.on('console', (m) => consoleLines.push(m.text()));
  // Order matters: the server URL must be in localStorage before the userscript reads it.
  await page.addInitScript(([key, url]) => {
    try { localStorage.setItem(key, url); } catch (_) { /* opaque origins */ }
  }, [SERVER_URL_KEY, serverUrl]);
  // More localStorage entries (API key, confirmed host), also before the userscript runs.
  await page.addInitScript((entries) => {
    try {
      for (const [k, v] of entries) localStorage.setItem(k, v);
    } catch (_) { /* opaque origins */ }
  }, Object.entries(storage));
  await page.addInitScript({ path: USERSCRIPT_PATH });
  await page.goto(`https://${host}${pagePath}`);
  return { context, page, consoleLines, close: () => context.close() };
}

/** Wait until the page title satisfies `check`. */
export async function waitForTitle(page, check, timeoutMs = DEFAULT_TIMEOUT_MS) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const title = await page.title();
    if (check(title)) return title;
    if (Date.now() > deadline) throw new Error(`title ${JSON.stringify(title)} never matched`);
    await page.waitForFunction((t) => document.title !== t, title, { timeout: Math.max(1, deadline - Date.now()) }).catch(() => {});
  }
}

// ------------------------------------------------------------------ stand-in relay server

/** One tab's WebSocket as seen by the stand-in server. */
export class TabConnection {
  constructor(ws, req) {
    this.ws = ws;
    this.origin = req.headers.origin;
    this.buffer = [];
    this.waiters = [];
    this.closed = once(ws, 'close');
    ws.on('message', (data) => {
      let frame;
      try { frame = JSON.parse(String(data)); } catch (_) { frame = { type: '__not_json__', raw: String(data) }; }
      this.buffer.push(frame);
      this.flush();
    });
  }

  flush() {
    for (const w of [...this.waiters]) {
      const i = this.buffer.findIndex(w.check);
      if (i >= 0) {
        const [frame] = this.buffer.splice(i, 1);
        this.waiters.splice(this.waiters.indexOf(w), 1);
        clearTimeout(w.timer);
        w.resolve(frame);
      }
    }
  }

  /** The next received frame (oldest first) matching `check`; it is consumed. */
  next(check, timeoutMs = DEFAULT_TIMEOUT_MS, what = 'a frame') {
    return new Promise((resolve, reject) => {
      const w = { check, resolve };
      w.timer = setTimeout(() => {
        this.waiters.splice(this.waiters.indexOf(w), 1);
        reject(new Error(`timed out waiting for ${what}; unconsumed frames: ${JSON.stringify(this.buffer.map((f) => f.type))}`));
      }, timeoutMs);
      this.waiters.push(w);
      this.flush();
    });
  }

  nextOfType(type, timeoutMs) {
    return this.next((f) => f.type === type, timeoutMs, `a ${type} frame`);
  }

  send(frame) {
    this.ws.send(typeof frame === 'string' ? frame : JSON.stringify(frame));
  }

  /** Collect a fetch job's frames: `response` (if any), `chunk`s, and `done` or `error`. */
  async collectJob(id, timeoutMs = DEFAULT_TIMEOUT_MS) {
    const mine = (f) => f.id === id && ['response', 'chunk', 'done', 'error'].includes(f.type);
    const frames = [];
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const f = await this.next(mine, Math.max(1, deadline - Date.now()), `frames of job ${id}`);
      frames.push(f);
      if (f.type === 'done' || f.type === 'error') break;
    }
    const response = frames.find((f) => f.type === 'response') || null;
    const chunks = frames.filter((f) => f.type === 'chunk').map((f) => f.data);
    return { response, chunks, text: chunks.join(''), end: frames[frames.length - 1], frames };
  }

  close(code = 1000) {
    this.ws.close(code);
    return this.closed;
  }
}

/**
 * A stand-in for bridge-server's `/ws`: answers `hello` with `welcome` (unless `autoWelcome`
 * is false) and hands each connection to the test.
 */
export async function startStandInServer({ autoWelcome = true } = {}) {
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0, path: '/ws' });
  await once(wss, 'listening');
  const pending = [];
  const waiting = [];
  wss.on('connection', (ws, req) => {
    const tab = new TabConnection(ws, req);
    tab.hello = tab.nextOfType('hello').then((hello) => {
      if (autoWelcome) tab.send({ type: 'welcome', protocol: 2, server: 'stand-in/0.0.0' });
      return hello;
    });
    tab.hello.catch(() => {});
    const w = waiting.shift();
    if (w) w(tab); else pending.push(tab);
  });
  return {
    url: `ws://127.0.0.1:${wss.address().port}/ws`,
    /** The next tab that connects (already connected ones first). */
    nextConnection(timeoutMs = DEFAULT_TIMEOUT_MS) {
      const ready = pending.shift();
      if (ready) return Promise.resolve(ready);
      return withTimeout(new Promise((resolve) => waiting.push(resolve)), timeoutMs, 'a tab to connect');
    },
    async close() {
      for (const c of wss.clients) c.terminate();
      await new Promise((resolve) => wss.close(resolve));
    },
  };
}

// ------------------------------------------------------------------ capture listener

/** A loopback HTTP listener that records POSTed bodies (stand-in for bridge-id-updater). */
export async function startCaptureListener() {
  const posts = [];
  const waiting = [];
  const server = http.createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (d) => { body += d; });
    req.on('end', () => {
      res.writeHead(200, { 'access-control-allow-origin': '*', 'content-type': 'application/json' });
      res.end('{"ok":true}');
      if (req.method !== 'POST') return;
      const post = { path: req.url, contentType: req.headers['content-type'], origin: req.headers.origin, body };
      const w = waiting.shift();
      if (w) w(post); else posts.push(post);
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    url: `http://127.0.0.1:${server.address().port}/update`,
    received: posts,
    nextPost(timeoutMs = DEFAULT_TIMEOUT_MS) {
      const ready = posts.shift();
      if (ready) return Promise.resolve(ready);
      return withTimeout(new Promise((resolve) => waiting.push(resolve)), timeoutMs, 'a capture POST');
    },
    close: () => new Promise((resolve) => server.close(resolve)),
  };
}

// ------------------------------------------------------------------ upstream request bodies

/** A UUIDv7 string (what LMArena's client generates for evaluation ids). */
export function uuidv7() {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  const ms = BigInt(Date.now());
  for (let i = 0; i < 6; i++) bytes[i] = Number((ms >> BigInt(8 * (5 - i))) & 0xffn);
  bytes[6] = (bytes[6] & 0x0f) | 0x70;
  bytes[8] = (bytes[8] & 0x3f) | 0x80;
  const hex = [...bytes].map((b) => b.toString(16).padStart(2, '0')).join('');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

/** A valid retry-flow request (UPSTREAM.md §2) whose last user message is `content`. */
export function retryRequest({ sessionId = PAGE_SESSION_ID, messageId = PAGE_MESSAGE_ID, content, modelId = MODELS.text }) {
  const now = new Date().toISOString();
  const userId = crypto.randomUUID();
  const common = {
    evaluationId: null, evaluationSessionId: sessionId, experimental_attachments: [],
    failureReason: null, metadata: null, participantPosition: 'a', createdAt: now, updatedAt: now,
  };
  const body = {
    messages: [
      { role: 'user', content, id: userId, parentMessageIds: [], status: 'success', ...common },
      { role: 'assistant', content: '', id: crypto.randomUUID(), parentMessageIds: [userId], status: 'pending', ...common },
    ],
    modelId,
  };
  return {
    path: `/nextjs-api/stream/retry-evaluation-session-message/${sessionId}/messages/${messageId}`,
    method: 'PUT',
    headers: { 'Content-Type': 'text/plain;charset=UTF-8', Accept: '*/*' },
    body: JSON.stringify(body),
  };
}

/** A create-evaluation request (UPSTREAM.md §3) without its reCAPTCHA token. */
export function createEvaluationRequest({ content, modelId = MODELS.text, modality = 'chat' }) {
  const body = {
    id: uuidv7(), mode: 'direct-battle', modelAId: modelId, userMessageId: uuidv7(),
    modelAMessageId: uuidv7(),
    userMessage: { content, experimental_attachments: [], metadata: {} }, modality,
  };
  return {
    path: '/nextjs-api/stream/create-evaluation',
    method: 'POST',
    headers: { 'Content-Type': 'text/plain;charset=UTF-8' },
    body: JSON.stringify(body),
  };
}
