// ==UserScript==
// @name         LMArena API Bridge
// @namespace    https://github.com/lmarena-bridge/lmarena-bridge
// @version      0.1.0
// @description  Connects this LMArena tab to a local lmarena-bridge server (relay protocol v2): the server asks, the tab fetches with its own session and streams the answer back.
// @match        https://lmarena.ai/*
// @match        https://*.lmarena.ai/*
// @match        https://arena.ai/*
// @match        https://*.arena.ai/*
// @run-at       document-start
// @grant        none
// @noframes
// ==/UserScript==

/*
 * Design notes
 *
 * - `@grant none`: the script runs in the page's own JavaScript world. That is what lets the
 *   id-capture hook wrap the page's real `window.fetch` at document-start (before the app's
 *   code keeps a reference to it) without `unsafeWindow` or a sandbox boundary, and it behaves
 *   the same in Tampermonkey, Violentmonkey and a test browser that injects this file. The
 *   bridge's own requests use the original `fetch` kept at start-up, so the capture hook never
 *   sees them: only requests made by the page pass through the hook.
 * - Server URL: default `ws://127.0.0.1:5102/ws`. To change it, set the localStorage key
 *   `lmarenaBridge.serverUrl` on the LMArena page (DevTools console:
 *   `localStorage.setItem('lmarenaBridge.serverUrl', 'ws://127.0.0.1:5102/ws')`) and reload.
 *   Only loopback servers (127.0.0.1, localhost, [::1]) are used without asking; another
 *   host is used after you confirm it once in a prompt (the confirmed host is remembered in
 *   `lmarenaBridge.confirmedHost`).
 * - API key: when the server has an `api_key`, set it in `lmarenaBridge.apiKey`
 *   (`localStorage.setItem('lmarenaBridge.apiKey', 'sk-…')`); it is sent in the `hello`
 *   frame, never in the URL. A tab on another machine needs it to be admitted.
 *   If the userscript manager offers `GM_registerMenuCommand` (it does not under
 *   `@grant none`), a menu command does the same.
 * - Title indicator (prefix of the tab title): `✅ ` connected to the server, `🎯 ` id capture
 *   armed (waiting for you to click Retry), `⛔ ` not connected (connecting or retrying).
 * - Nothing from request or response bodies is ever written to the console: only frame
 *   types, job ids, statuses and error messages. reCAPTCHA tokens are never logged either.
 * - reCAPTCHA: a fetch frame may ask for a token (`recaptcha: {action, field, site_key?, v2?}`).
 *   The key is the page's own (from its reCAPTCHA script URL), else the server's `site_key`;
 *   a page without `grecaptcha.enterprise` gets enterprise.js loaded once. Every request mints
 *   a fresh token. With `v2`, a small overlay shows the server's one sentence and the v2
 *   checkbox; once a person ticks it the request goes out with that token (and a fresh v3 token
 *   or null). An `abort` removes the overlay and nothing is sent. One overlay at a time.
 */

(function () {
  'use strict';

  if (window.top !== window.self) return; // one bridge per tab, never in iframes
  if (window.__lmarenaApiBridgeLoaded) return; // injected twice (two managers): keep one
  window.__lmarenaApiBridgeLoaded = true;

  const VERSION = '0.1.0';
  const CLIENT = 'LMArenaApiBridge/' + VERSION;
  const PROTOCOL = 2;
  const DEFAULT_SERVER_URL = 'ws://127.0.0.1:5102/ws';
  const SERVER_URL_KEY = 'lmarenaBridge.serverUrl';
  const CONFIRMED_HOST_KEY = 'lmarenaBridge.confirmedHost';
  const API_KEY_KEY = 'lmarenaBridge.apiKey';
  const LOOPBACK_HOSTS = ['127.0.0.1', 'localhost', '[::1]'];
  const DEFAULT_REPORT_TO = 'http://127.0.0.1:5103/update';
  const ALLOWED_PATH_PREFIXES = ['/nextjs-api/', '/api/'];
  const ALLOWED_METHODS = ['GET', 'POST', 'PUT', 'PATCH', 'DELETE'];
  const ERROR_BODY_LIMIT = 4096;
  // Next.js server actions the server may ask for (bridge_core::arena::upload::ACTIONS), POSTed
  // same-origin to ACTION_PATH; nothing else is called this way.
  const ALLOWED_ACTIONS = ['generateUploadUrl', 'getSignedUrl', 'deleteEvaluationSession'];
  const ACTION_PATH = '/';
  // How the page's JavaScript chunks name an action: createServerReference("<42 hex>", …, "<name>").
  const SERVER_REFERENCE = /createServerReference\)?\("([0-9a-f]{42})"[^)]*?"([A-Za-z0-9_$]+)"\)/g;
  const ACTION_ANSWER_LIMIT = 65536;
  const BACKOFF_MIN_MS = 1000;
  const BACKOFF_MAX_MS = 30000;
  const RECAPTCHA_LOAD_TIMEOUT_MS = 15000;
  const RECAPTCHA_TIMEOUT_MS = 20000;
  // Loaded into a page that has no reCAPTCHA of its own (a fresh tab), with `?render=<key>`.
  const RECAPTCHA_SCRIPT_URL = 'https://www.google.com/recaptcha/enterprise.js';
  const RECAPTCHA_LOAD_ERROR = 'reCAPTCHA could not be loaded in this tab (' + RECAPTCHA_SCRIPT_URL +
    '): check that this browser can reach www.google.com, then reload the LMArena tab';
  const SITE_KEY = /^[A-Za-z0-9_-]{8,100}$/;
  const RETRY_PATH = /^\/(?:nextjs-api|api)\/stream\/retry-evaluation-session-message\/([^/]+)\/messages\/([^/]+)\/?$/;
  const SAFE_ID = /^[A-Za-z0-9_-]{1,128}$/;
  // Response headers the server may act on (content type, rate limits, Cloudflare marks).
  const FORWARDED_HEADERS = [
    'content-type', 'retry-after', 'ratelimit', 'ratelimit-policy', 'ratelimit-limit',
    'ratelimit-remaining', 'ratelimit-reset', 'x-ratelimit-limit', 'x-ratelimit-remaining',
    'x-ratelimit-reset', 'cf-mitigated', 'cf-ray',
  ];
  const TITLE = { connected: '✅ ', capturing: '🎯 ', disconnected: '⛔ ', late: '⚠️ ' };
  const TITLE_PREFIX_RE = /^(?:(?:✅|🎯|⛔|⚠️) )+/;

  const log = {
    info: (...a) => console.info('[LMArena Bridge]', ...a),
    warn: (...a) => console.warn('[LMArena Bridge]', ...a),
  };

  // Injected after the page started (no real document-start, e.g. Tampermonkey's default MV3
  // injection mode): the page may already have made requests the capture hook never sees.
  const lateInjection = detectLateInjection();

  // The page's fetch as it was before anyone wrapped it; the bridge's own requests use it.
  const pageFetch = window.fetch;
  const tabId = crypto.randomUUID();

  let socket = null;
  let connected = false; // a welcome arrived on the current socket
  let attempts = 0; // failed connection attempts since the last welcome
  let reconnectTimer = null;
  let capture = null; // { reportTo } while id capture is armed
  const jobs = new Map(); // job id → AbortController

  // ---------------------------------------------------------------- server URL

  function validServerUrl(value) {
    if (typeof value !== 'string') return null;
    try {
      const u = new URL(value);
      return u.protocol === 'ws:' || u.protocol === 'wss:' ? u.href : null;
    } catch (_) {
      return null;
    }
  }

  function storageGet(key) {
    try {
      return localStorage.getItem(key);
    } catch (_) {
      return null; // storage blocked
    }
  }

  // A server off this machine sees every prompt: it is used only once the person has
  // confirmed its host in a visible prompt (remembered per host).
  function hostConfirmed(url) {
    const host = new URL(url).host.toLowerCase();
    if (LOOPBACK_HOSTS.includes(new URL(url).hostname.toLowerCase())) return true;
    if (storageGet(CONFIRMED_HOST_KEY) === host) return true;
    const ok = window.confirm(
      'LMArena Bridge: send your LMArena prompts and answers to the bridge server at ' + host +
      ' (not this computer)? Only confirm if you run that server yourself.');
    if (ok) {
      try { localStorage.setItem(CONFIRMED_HOST_KEY, host); } catch (_) { /* not remembered */ }
    }
    return ok;
  }

  function serverUrl() {
    const stored = storageGet(SERVER_URL_KEY);
    if (stored) {
      const url = validServerUrl(stored.trim());
      if (url && hostConfirmed(url)) return url;
      if (url) {
        log.warn('server ' + new URL(url).host + ' was not confirmed, using ' + DEFAULT_SERVER_URL);
      } else {
        log.warn('ignoring invalid ' + SERVER_URL_KEY + ' (want ws:// or wss://), using ' + DEFAULT_SERVER_URL);
      }
    }
    return DEFAULT_SERVER_URL;
  }

  function helloFrame() {
    const hello = { type: 'hello', protocol: PROTOCOL, tab_id: tabId, client: CLIENT, page: location.href };
    const key = storageGet(API_KEY_KEY);
    if (key && key.trim()) hello.api_key = key.trim();
    if (lateInjection) hello.late_injection = true;
    return hello;
  }

  function registerMenu() {
    if (typeof GM_registerMenuCommand !== 'function') return; // eslint-disable-line no-undef
    GM_registerMenuCommand('Set bridge server URL…', () => { // eslint-disable-line no-undef
      const answer = window.prompt('LMArena Bridge server URL (ws:// or wss://)', serverUrl());
      if (answer === null) return;
      const url = validServerUrl(answer.trim());
      if (!url) {
        window.alert('Not a ws:// or wss:// URL: ' + answer);
        return;
      }
      localStorage.setItem(SERVER_URL_KEY, url);
      reconnectNow();
    });
  }

  // ---------------------------------------------------------------- title indicator

  function wantedPrefix() {
    if (capture) return TITLE.capturing;
    const state = connected ? TITLE.connected : TITLE.disconnected;
    return lateInjection ? TITLE.late + state : state;
  }

  /** True when the script runs after the page began: the document is parsed already, or the
   * page has fetched scripts' data before the hook existed. */
  function detectLateInjection() {
    if (document.readyState !== 'loading') return true;
    try {
      return performance.getEntriesByType('resource')
        .some((e) => e.initiatorType === 'fetch' || e.initiatorType === 'xmlhttprequest');
    } catch (_) {
      return false;
    }
  }

  function applyTitle() {
    if (!document.head && !document.querySelector('title')) return; // nothing to decorate yet
    const current = document.title;
    const wanted = wantedPrefix() + current.replace(TITLE_PREFIX_RE, '');
    // Only write when it differs, so our own write does not trigger another round.
    if (current !== wanted) document.title = wanted;
  }

  function watchTitle() {
    const observer = new MutationObserver(applyTitle);
    const observeHead = () => {
      if (!document.head) return false;
      observer.observe(document.head, { childList: true, subtree: true, characterData: true });
      applyTitle();
      return true;
    };
    if (!observeHead()) {
      document.addEventListener('DOMContentLoaded', observeHead, { once: true });
    }
  }

  // ---------------------------------------------------------------- connection

  function send(frame) {
    if (!socket || socket.readyState !== WebSocket.OPEN) return false;
    socket.send(JSON.stringify(frame));
    return true;
  }

  function backoffDelay() {
    const base = Math.min(BACKOFF_MAX_MS, BACKOFF_MIN_MS * Math.pow(2, attempts));
    const jittered = base * (0.75 + Math.random() * 0.5);
    return Math.round(Math.min(BACKOFF_MAX_MS, Math.max(BACKOFF_MIN_MS, jittered)));
  }

  function scheduleReconnect() {
    if (reconnectTimer !== null) return;
    const delay = backoffDelay();
    attempts += 1;
    log.info('reconnecting in ' + delay + ' ms');
    reconnectTimer = setTimeout(() => {
      reconnectTimer = null;
      connect();
    }, delay);
  }

  function reconnectNow() {
    if (reconnectTimer !== null) {
      clearTimeout(reconnectTimer);
      reconnectTimer = null;
    }
    attempts = 0;
    if (socket) socket.close(); // its close handler schedules the next attempt
    else connect();
  }

  function abortAllJobs(reason) {
    for (const controller of jobs.values()) controller.abort(reason);
    jobs.clear();
  }

  function connect() {
    const url = serverUrl();
    let ws;
    try {
      ws = new WebSocket(url);
    } catch (e) {
      log.warn('cannot open ' + url + ': ' + e.message);
      scheduleReconnect();
      return;
    }
    socket = ws;
    ws.addEventListener('open', () => {
      if (socket !== ws) return;
      send(helloFrame());
    });
    ws.addEventListener('message', (event) => {
      if (socket !== ws) return;
      onFrame(event.data);
    });
    ws.addEventListener('close', (event) => {
      if (socket !== ws) return;
      socket = null;
      const wasConnected = connected;
      connected = false;
      applyTitle();
      // Jobs of this connection cannot report any more: stop them upstream too.
      abortAllJobs(new DOMException('bridge connection closed', 'AbortError'));
      if (wasConnected) log.info('disconnected (code ' + event.code + ')');
      scheduleReconnect();
    });
    // 'error' is always followed by 'close', which does the work.
  }

  // ---------------------------------------------------------------- frames from the server

  function onFrame(data) {
    let frame;
    try {
      frame = JSON.parse(data);
    } catch (_) {
      log.warn('ignored a frame that is not JSON');
      return;
    }
    if (!frame || typeof frame !== 'object' || typeof frame.type !== 'string') {
      log.warn('ignored a frame without a type');
      return;
    }
    switch (frame.type) {
      case 'welcome':
        connected = true;
        attempts = 0;
        log.info('connected to ' + (typeof frame.server === 'string' ? frame.server : 'server') +
          ' (protocol ' + frame.protocol + ')');
        applyTitle();
        break;
      case 'ping':
        send({ type: 'pong' });
        break;
      case 'fetch':
        runFetch(frame);
        break;
      case 'abort':
        if (jobs.has(frame.id)) {
          log.info('abort job ' + frame.id);
          jobs.get(frame.id).abort(new DOMException('aborted by the server', 'AbortError'));
        }
        break;
      case 'command':
        onCommand(frame);
        break;
      case 'probe':
        runProbe(frame);
        break;
      case 'action':
        runAction(frame);
        break;
      case 'upload':
        runUpload(frame);
        break;
      default:
        log.warn('ignored frame type ' + JSON.stringify(frame.type).slice(0, 40));
    }
  }

  function validJobId(id) {
    return (typeof id === 'number' && Number.isSafeInteger(id) && id >= 0) ||
      (typeof id === 'string' && id.length > 0 && id.length <= 64);
  }

  function onCommand(frame) {
    switch (frame.command) {
      case 'refresh':
        log.info('refresh requested by the server');
        location.reload();
        break;
      case 'send_page_source':
        log.info('page source requested (job ' + frame.id + ')');
        send({ type: 'page_source', id: validJobId(frame.id) ? frame.id : null, html: document.documentElement.outerHTML });
        break;
      case 'activate_id_capture':
        armCapture(frame);
        break;
      default:
        log.warn('ignored command ' + JSON.stringify(frame.command).slice(0, 40));
    }
  }

  // ---------------------------------------------------------------- fetch jobs

  class JobError extends Error {
    constructor(message, status, body) {
      super(message);
      this.status = status === undefined ? null : status;
      this.body = body === undefined ? null : body;
    }
  }

  function jobError(id, message, status, body) {
    send({ type: 'error', id, message, status: status === undefined ? null : status, body: body === undefined ? null : body });
  }

  /** The absolute URL of a same-origin path under an allowed prefix, or null. */
  function allowedUrl(path) {
    if (typeof path !== 'string' || !path.startsWith('/') || path.startsWith('//')) return null;
    let url;
    try {
      url = new URL(path, location.origin);
    } catch (_) {
      return null;
    }
    // Checked after parsing: `..` segments and backslashes are resolved by now.
    if (url.origin !== location.origin) return null;
    if (!ALLOWED_PATH_PREFIXES.some((p) => url.pathname.startsWith(p))) return null;
    return url;
  }

  function pickHeaders(headers) {
    const out = {};
    for (const name of FORWARDED_HEADERS) {
      const value = headers.get(name);
      if (value !== null) out[name] = value;
    }
    return out;
  }

  function requestHeaders(raw) {
    const out = {};
    if (raw && typeof raw === 'object') {
      for (const [k, v] of Object.entries(raw)) {
        if (typeof v === 'string') out[k] = v;
      }
    }
    return out;
  }

  async function runFetch(frame) {
    const id = frame.id;
    if (!validJobId(id)) {
      log.warn('ignored a fetch frame without a valid id');
      return;
    }
    if (jobs.has(id)) {
      jobError(id, 'job id ' + id + ' is already running');
      return;
    }
    const request = frame.request && typeof frame.request === 'object' ? frame.request : {};
    const url = allowedUrl(request.path);
    if (!url) {
      log.warn('refused job ' + id + ': path outside /nextjs-api/ and /api/');
      jobError(id, 'refused: the bridge only fetches same-origin paths under /nextjs-api/ or /api/');
      return;
    }
    const method = typeof request.method === 'string' ? request.method.toUpperCase() : 'GET';
    if (!ALLOWED_METHODS.includes(method)) {
      jobError(id, 'refused: method ' + method.slice(0, 16) + ' is not allowed');
      return;
    }
    const controller = new AbortController();
    jobs.set(id, controller);
    log.info('job ' + id + ': ' + method + ' ' + url.pathname);
    try {
      let body = typeof request.body === 'string' ? request.body : null;
      if (frame.recaptcha) {
        body = await withRecaptchaToken(id, body, frame.recaptcha, controller.signal);
      }
      const init = {
        method,
        headers: requestHeaders(request.headers),
        credentials: 'include',
        cache: 'no-store',
        signal: controller.signal,
      };
      if (body !== null && method !== 'GET') init.body = body;
      const response = await pageFetch.call(window, url.href, init);
      send({ type: 'response', id, status: response.status, headers: pickHeaders(response.headers) });
      if (response.ok) {
        await streamBody(id, response);
        send({ type: 'done', id });
        log.info('job ' + id + ': done');
      } else {
        const text = await readErrorBody(response);
        log.warn('job ' + id + ': upstream answered HTTP ' + response.status);
        jobError(id, 'upstream answered HTTP ' + response.status, response.status, text);
      }
    } catch (e) {
      const aborted = controller.signal.aborted;
      const message = aborted
        ? 'aborted: ' + (controller.signal.reason && controller.signal.reason.message ? controller.signal.reason.message : 'aborted')
        : e instanceof JobError ? e.message : 'network error: ' + (e && e.message ? e.message : String(e));
      log.warn('job ' + id + ': ' + message);
      jobError(id, message, e instanceof JobError ? e.status : null, e instanceof JobError ? e.body : null);
    } finally {
      if (jobs.get(id) === controller) jobs.delete(id);
    }
  }

  /** Send the body as `chunk` frames; one streaming decoder per job keeps split characters whole. */
  async function streamBody(id, response) {
    const decoder = new TextDecoder('utf-8');
    if (!response.body) {
      const text = await response.text();
      if (text) send({ type: 'chunk', id, data: text });
      return;
    }
    const reader = response.body.getReader();
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      const text = decoder.decode(value, { stream: true });
      if (text) send({ type: 'chunk', id, data: text });
    }
    const tail = decoder.decode();
    if (tail) send({ type: 'chunk', id, data: tail });
  }

  /** The first 4 KiB of an error body, as text (a character cut at the end is dropped). */
  async function readErrorBody(response) {
    if (!response.body) return null;
    const reader = response.body.getReader();
    const parts = [];
    let size = 0;
    try {
      while (size < ERROR_BODY_LIMIT) {
        const { done, value } = await reader.read();
        if (done) break;
        parts.push(value);
        size += value.byteLength;
      }
    } finally {
      reader.cancel().catch(() => {});
    }
    const bytes = new Uint8Array(Math.min(size, ERROR_BODY_LIMIT));
    let offset = 0;
    for (const part of parts) {
      const take = part.subarray(0, bytes.length - offset);
      bytes.set(take, offset);
      offset += take.length;
      if (offset >= bytes.length) break;
    }
    return new TextDecoder('utf-8').decode(bytes, { stream: size > ERROR_BODY_LIMIT });
  }

  // ---------------------------------------------------------------- reCAPTCHA

  let siteKey = null; // the page's own v3 key, once found
  let scriptLoad = null; // promise of our own enterprise.js load, at most one per page
  let overlay = null; // { id, box } while a v2 checkbox waits for a person

  /** The v3 key of the page's own reCAPTCHA script (`render=<key>`), or null. */
  function pageSiteKey() {
    if (siteKey) return siteKey;
    for (const script of document.querySelectorAll('script[src*="recaptcha"]')) {
      if (script.dataset.lmarenaBridge) continue; // ours carries the server's key
      try {
        const key = new URL(script.src, location.href).searchParams.get('render');
        if (key && key !== 'explicit' && SITE_KEY.test(key)) {
          siteKey = key;
          return key;
        }
      } catch (_) { /* not a URL: next */ }
    }
    return null;
  }

  function withTimeout(promise, ms, message, signal) {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new JobError(message)), ms);
      const onAbort = () => reject(signal.reason || new DOMException('aborted', 'AbortError'));
      if (signal) {
        if (signal.aborted) onAbort();
        signal.addEventListener('abort', onAbort, { once: true });
      }
      promise.then(resolve, reject).finally(() => {
        clearTimeout(timer);
        if (signal) signal.removeEventListener('abort', onAbort);
      });
    });
  }

  function enterpriseApi() {
    const api = window.grecaptcha && window.grecaptcha.enterprise;
    return api && typeof api.execute === 'function' ? api : null;
  }

  /** Resolves once `grecaptcha.enterprise` exists (polled: the script defines it when it runs). */
  function apiDefined() {
    if (enterpriseApi()) return Promise.resolve(enterpriseApi());
    return new Promise((resolve) => {
      const timer = setInterval(() => {
        if (enterpriseApi()) {
          clearInterval(timer);
          resolve(enterpriseApi());
        }
      }, 100);
      setTimeout(() => clearInterval(timer), RECAPTCHA_LOAD_TIMEOUT_MS + 100);
    });
  }

  /** Loads enterprise.js with `key` into the page; once per page, again only after a failure. */
  function loadRecaptchaScript(key) {
    if (scriptLoad) return scriptLoad;
    const script = document.createElement('script');
    script.src = RECAPTCHA_SCRIPT_URL + '?render=' + encodeURIComponent(key);
    script.async = true;
    script.dataset.lmarenaBridge = '1';
    scriptLoad = new Promise((resolve, reject) => {
      script.addEventListener('load', () => resolve(), { once: true });
      script.addEventListener('error', () => reject(new JobError(RECAPTCHA_LOAD_ERROR)), { once: true });
    }).then(apiDefined);
    scriptLoad.catch(() => {
      scriptLoad = null;
      script.remove();
    });
    log.info('this page has no reCAPTCHA; loading it');
    (document.head || document.documentElement).appendChild(script);
    return scriptLoad;
  }

  /** `grecaptcha.enterprise`, ready to use: the page's own, or one this script loads. */
  async function recaptchaApi(key, signal) {
    let api = enterpriseApi();
    if (!api) {
      const pageLoads = pageSiteKey() !== null; // the page's script is on its way
      const loading = pageLoads ? apiDefined() : loadRecaptchaScript(key);
      api = await withTimeout(loading, RECAPTCHA_LOAD_TIMEOUT_MS, RECAPTCHA_LOAD_ERROR, signal);
    }
    if (typeof api.ready === 'function') {
      await withTimeout(new Promise((resolve) => api.ready(resolve)), RECAPTCHA_TIMEOUT_MS, 'reCAPTCHA did not become ready', signal);
    }
    return api;
  }

  /** A fresh v3 token; never cached, one per upstream request. */
  async function mintToken(api, key, action, signal) {
    let token;
    try {
      token = await withTimeout(Promise.resolve(api.execute(key, { action })), RECAPTCHA_TIMEOUT_MS, 'reCAPTCHA did not answer in time', signal);
    } catch (e) {
      if (e instanceof JobError || signal.aborted) throw e;
      throw new JobError('reCAPTCHA failed to mint a token: ' + (e && e.message ? e.message : String(e)));
    }
    if (typeof token !== 'string' || token === '') throw new JobError('reCAPTCHA returned no token');
    return token;
  }

  function removeOverlay() {
    if (!overlay) return;
    overlay.box.remove();
    overlay = null;
  }

  /** Shows the v2 checkbox with the server's one sentence; resolves with the token once ticked. */
  function askPerson(id, api, v2, signal) {
    if (overlay) return Promise.reject(new JobError('another reCAPTCHA checkbox is already waiting in this tab'));
    if (typeof api.render !== 'function') {
      return Promise.reject(new JobError('reCAPTCHA in this tab cannot show a checkbox (grecaptcha.enterprise.render missing)'));
    }
    if (signal.aborted) return Promise.reject(signal.reason);
    const box = document.createElement('div');
    box.setAttribute('role', 'dialog');
    box.dataset.lmarenaBridgeOverlay = String(id);
    box.style.cssText = 'position:fixed;right:16px;bottom:16px;z-index:2147483647;background:#fff;' +
      'color:#111;border:1px solid #888;border-radius:8px;padding:12px;box-shadow:0 2px 12px rgba(0,0,0,.3);' +
      'font:14px/1.4 system-ui,sans-serif;max-width:340px';
    const text = document.createElement('p');
    text.style.cssText = 'margin:0 0 8px 0';
    text.textContent = v2.prompt;
    const slot = document.createElement('div');
    box.append(text, slot);
    (document.body || document.documentElement).appendChild(box);
    overlay = { id, box };
    log.info('job ' + id + ': waiting for a person to tick the reCAPTCHA checkbox');
    return new Promise((resolve, reject) => {
      const onAbort = () => {
        if (overlay && overlay.box === box) removeOverlay();
        reject(signal.reason || new DOMException('aborted', 'AbortError'));
      };
      signal.addEventListener('abort', onAbort, { once: true });
      const finish = () => {
        signal.removeEventListener('abort', onAbort);
        if (overlay && overlay.box === box) removeOverlay();
      };
      try {
        api.render(slot, {
          sitekey: v2.site_key,
          callback: (token) => {
            finish();
            if (typeof token === 'string' && token) resolve(token);
            else reject(new JobError('the reCAPTCHA checkbox gave no token'));
          },
        });
      } catch (e) {
        finish();
        reject(new JobError('could not show the reCAPTCHA checkbox: ' + (e && e.message ? e.message : String(e))));
      }
    });
  }

  function validV2(v2) {
    return v2 && typeof v2 === 'object' && typeof v2.field === 'string' && v2.field !== '' &&
      typeof v2.site_key === 'string' && SITE_KEY.test(v2.site_key) &&
      typeof v2.prompt === 'string' && v2.prompt.length > 0 && v2.prompt.length <= 300;
  }

  async function withRecaptchaToken(id, body, spec, signal) {
    if (typeof spec.action !== 'string' || typeof spec.field !== 'string' || !spec.field) {
      throw new JobError('invalid recaptcha spec in fetch frame (want {action, field})');
    }
    if (spec.v2 !== undefined && spec.v2 !== null && !validV2(spec.v2)) {
      throw new JobError('invalid recaptcha v2 spec in fetch frame (want {site_key, field, prompt})');
    }
    let parsed;
    try {
      parsed = JSON.parse(body);
    } catch (_) {
      parsed = null;
    }
    if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) {
      throw new JobError('a reCAPTCHA job needs a JSON object body');
    }
    const serverKey = typeof spec.site_key === 'string' && SITE_KEY.test(spec.site_key) ? spec.site_key : null;
    const key = pageSiteKey() || serverKey;
    if (!key) {
      throw new JobError('no reCAPTCHA site key: the page has no reCAPTCHA script and the server sent none (set recaptcha_site_key in config.jsonc)');
    }
    const api = await recaptchaApi(key, signal);
    if (spec.v2) {
      parsed[spec.v2.field] = await askPerson(id, api, spec.v2, signal);
      let fresh = null;
      try {
        fresh = await mintToken(api, key, spec.action, signal);
      } catch (e) {
        if (signal.aborted) throw e;
      }
      parsed[spec.field] = fresh;
    } else {
      parsed[spec.field] = await mintToken(api, key, spec.action, signal);
    }
    return JSON.stringify(parsed);
  }

  // ---------------------------------------------------------------- readiness probe

  /** One GET of the page path or an allowed API path (body discarded) and, when asked, a
   * reCAPTCHA token that is thrown away; answers what worked. */
  async function runProbe(frame) {
    if (!validJobId(frame.id)) return;
    const result = { type: 'probe_result', id: frame.id, ok: false, status: null, recaptcha: false, message: null };
    const url = frame.path === '/' ? new URL('/', location.origin) : allowedUrl(frame.path);
    const problems = [];
    if (!url) {
      problems.push('refused: probe path outside /, /nextjs-api/ and /api/');
    } else {
      try {
        const response = await pageFetch.call(window, url.href, { method: 'GET', credentials: 'include', cache: 'no-store' });
        result.status = response.status;
        result.ok = response.ok;
        if (response.body) response.body.cancel().catch(() => {});
      } catch (e) {
        problems.push('network error: ' + (e && e.message ? e.message : String(e)));
      }
    }
    if (typeof frame.recaptcha_action === 'string') {
      try {
        const serverKey = typeof frame.site_key === 'string' && SITE_KEY.test(frame.site_key) ? frame.site_key : null;
        const key = pageSiteKey() || serverKey;
        if (!key) throw new JobError('no reCAPTCHA site key: the page has no reCAPTCHA script and the server sent none');
        const signal = new AbortController().signal;
        await mintToken(await recaptchaApi(key, signal), key, frame.recaptcha_action, signal);
        result.recaptcha = true;
      } catch (e) {
        problems.push(e && e.message ? e.message : String(e));
      }
    }
    if (problems.length) result.message = problems.join('; ');
    send(result);
  }

  // ---------------------------------------------------------------- server actions

  // Action name → id, read from this page's own JavaScript once per page load (a promise, so
  // concurrent actions share one scan). When an action answers 404 the site has a new
  // deployment: the ids are read again once, from the scripts of a freshly fetched page.
  let actionIds = null;

  async function freshPageScripts() {
    const response = await pageFetch.call(window, new URL('/', location.origin).href, { credentials: 'include', cache: 'no-store' });
    if (!response.ok) return [];
    // Parsed, never run: DOMParser documents do not execute scripts.
    const doc = new DOMParser().parseFromString(await response.text(), 'text/html');
    return Array.from(doc.querySelectorAll('script[src]')).map((el) => el.getAttribute('src'));
  }

  async function scanActionIds(freshPage) {
    const found = new Map();
    let sources = Array.from(document.scripts).map((el) => el.src).filter(Boolean);
    if (freshPage) {
      try {
        sources = await freshPageScripts();
      } catch (_) { /* keep this page's scripts */ }
    }
    for (const src of sources) {
      let url;
      try {
        url = new URL(src, location.href);
      } catch (_) {
        continue;
      }
      if (url.origin !== location.origin) continue;
      try {
        const response = await pageFetch.call(window, url.href, { credentials: 'same-origin' });
        if (!response.ok) continue;
        const text = await response.text();
        for (const m of text.matchAll(SERVER_REFERENCE)) {
          if (ALLOWED_ACTIONS.includes(m[2])) found.set(m[2], m[1]);
        }
      } catch (_) { /* a chunk that cannot be read names no action */ }
    }
    log.info('server actions found in the page: ' + (found.size ? Array.from(found.keys()).join(', ') : 'none'));
    return found;
  }

  function actionIdsOnce(refresh) {
    if (refresh || !actionIds) actionIds = scanActionIds(refresh);
    return actionIds;
  }

  async function postAction(actionId, args) {
    return pageFetch.call(window, new URL(ACTION_PATH, location.origin).href, {
      method: 'POST',
      headers: {
        'next-action': actionId,
        'accept': 'text/x-component',
        'content-type': 'text/plain;charset=UTF-8',
      },
      body: JSON.stringify(args),
      credentials: 'include',
      cache: 'no-store',
    });
  }

  /** Calls one allowed server action by name; answers `action_result` with the status and the
   * answer text, or why nothing was sent. A 404 (a new deployment) re-reads the ids once. */
  async function runAction(frame) {
    if (!validJobId(frame.id)) return;
    const result = { type: 'action_result', id: frame.id, status: null, body: null, message: null };
    if (!ALLOWED_ACTIONS.includes(frame.name) || !Array.isArray(frame.args)) {
      result.message = 'refused: not an allowed server action';
      send(result);
      return;
    }
    try {
      let refreshed = false;
      for (;;) {
        const id = (await actionIdsOnce(false)).get(frame.name);
        if (!id) {
          if (!refreshed) {
            refreshed = true;
            await actionIdsOnce(true);
            continue;
          }
          result.message = 'no id for ' + frame.name + ' in the page';
          break;
        }
        const response = await postAction(id, frame.args);
        if (response.status === 404 && !refreshed) {
          refreshed = true;
          await actionIdsOnce(true);
          continue;
        }
        result.status = response.status;
        result.body = (await response.text()).slice(0, ACTION_ANSWER_LIMIT);
        if (frame.name === 'generateUploadUrl' && response.ok) rememberUploadUrl(result.body);
        break;
      }
    } catch (e) {
      result.message = 'network error: ' + (e && e.message ? e.message : String(e));
    }
    log.info('action ' + frame.name + ': ' + (result.status === null ? result.message : 'HTTP ' + result.status));
    send(result);
  }

  // Upload URLs that a generateUploadUrl answer named in this tab: the only URLs an `upload`
  // frame may PUT to, each once.
  const uploadUrls = new Set();

  function rememberUploadUrl(answer) {
    for (const line of answer.split('\n')) {
      if (!line.startsWith('1:')) continue;
      try {
        const url = JSON.parse(line.slice(2))?.data?.uploadUrl;
        if (typeof url === 'string' && url.startsWith('https://')) uploadUrls.add(url);
      } catch (_) { /* not the result line */ }
    }
  }

  /** PUTs the frame's bytes to an upload URL this tab was given; answers `action_result`. */
  async function runUpload(frame) {
    if (!validJobId(frame.id)) return;
    const result = { type: 'action_result', id: frame.id, status: null, body: null, message: null };
    if (typeof frame.url !== 'string' || !uploadUrls.has(frame.url)) {
      result.message = 'refused: not an upload URL the site gave this tab';
      send(result);
      return;
    }
    uploadUrls.delete(frame.url);
    try {
      const binary = atob(typeof frame.data === 'string' ? frame.data : '');
      const bytes = Uint8Array.from(binary, (c) => c.charCodeAt(0));
      const contentType = typeof frame.content_type === 'string' ? frame.content_type : 'application/octet-stream';
      const response = await pageFetch.call(window, frame.url, {
        method: 'PUT',
        headers: { 'content-type': contentType },
        body: bytes,
        credentials: 'omit',
        cache: 'no-store',
      });
      result.status = response.status;
      result.body = (await response.text()).slice(0, ERROR_BODY_LIMIT);
    } catch (e) {
      result.message = 'network error: ' + (e && e.message ? e.message : String(e));
    }
    log.info('upload: ' + (result.status === null ? result.message : 'HTTP ' + result.status));
    send(result);
  }

  // ---------------------------------------------------------------- id capture

  function loopbackReportUrl(value) {
    if (value === undefined || value === null) return DEFAULT_REPORT_TO;
    if (typeof value !== 'string') return null;
    try {
      const u = new URL(value);
      const loopback = ['127.0.0.1', 'localhost', '[::1]'].includes(u.hostname);
      return u.protocol === 'http:' && loopback ? u.href : null;
    } catch (_) {
      return null;
    }
  }

  function armCapture(frame) {
    const reportTo = loopbackReportUrl(frame.report_to);
    if (!reportTo) {
      log.warn('refused id capture: report_to must be http://127.0.0.1, localhost or [::1]');
      send({ type: 'error', id: validJobId(frame.id) ? frame.id : null, message: 'refused: id capture reports only to a loopback http URL', status: null, body: null });
      return;
    }
    capture = { reportTo };
    log.info('id capture armed: click Retry on an answer in this tab');
    applyTitle();
  }

  function requestPathname(input) {
    let raw;
    if (typeof input === 'string') raw = input;
    else if (input instanceof URL) raw = input.href;
    else if (input && typeof input.url === 'string') raw = input.url; // a Request
    else return null;
    try {
      const url = new URL(raw, location.href);
      return url.origin === location.origin ? url.pathname : null;
    } catch (_) {
      return null;
    }
  }

  function maybeCapture(input) {
    const pathname = requestPathname(input);
    const match = pathname && RETRY_PATH.exec(pathname);
    if (!match) return;
    let sessionId, messageId;
    try {
      sessionId = decodeURIComponent(match[1]);
      messageId = decodeURIComponent(match[2]);
    } catch (_) {
      return;
    }
    if (!SAFE_ID.test(sessionId) || !SAFE_ID.test(messageId)) return;
    const { reportTo } = capture;
    capture = null; // one shot
    applyTitle();
    log.info('captured session and message ids; reporting to ' + reportTo);
    // A simple request (text/plain) needs no CORS preflight; the listener parses the JSON.
    pageFetch.call(window, reportTo, {
      method: 'POST',
      headers: { 'Content-Type': 'text/plain;charset=UTF-8' },
      body: JSON.stringify({ sessionId, messageId }),
      credentials: 'omit',
      cache: 'no-store',
    }).catch((e) => log.warn('could not report captured ids: ' + e.message));
  }

  // Wrap the page's fetch: pass everything through untouched; while capture is armed, look at
  // the URL of what the page asks for.
  function bridgeFetchHook(input) {
    if (capture) {
      try {
        maybeCapture(input);
      } catch (_) { /* never break the page's request */ }
    }
    return pageFetch.apply(window, arguments);
  }
  window.fetch = bridgeFetchHook;

  // ---------------------------------------------------------------- start

  registerMenu();
  watchTitle();
  connect();
})();
