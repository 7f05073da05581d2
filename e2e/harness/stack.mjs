// The whole chain for end-to-end tests: fake LMArena (HTTPS) ← headless Chromium running the
// real userscript ← real bridge-server (target/debug/bridge-server) on a temporary config.
//
// Used by the node tests directly (`startStack()`), and by the Python client tests through
// the command line: `node harness/stack.mjs [--flow evaluation] [--api-key K]` prints one JSON
// line `{"baseUrl", "serverPort", "fakePort", "fakeCertPem"}` once a tab is connected, and tears everything
// down when its stdin closes.

import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import {
  MODELS, PAGE_MESSAGE_ID, PAGE_SESSION_ID, REPO_ROOT, TITLE_PREFIX,
  launchBrowser, openTab, startFakeArena, waitForTitle,
} from './index.mjs';

export const BRIDGE_SERVER_BIN =
  process.env.BRIDGE_SERVER_BIN || path.join(REPO_ROOT, 'target', 'debug', 'bridge-server');

/** Public model names of the test config, mapped onto the fake page's model ids. */
export const MODEL_NAMES = {
  text: 'gemini-2.5-pro',
  image: 'gpt-image-1',
  search: 'grok-4-search',
};

function writeConfig(dir, { flow, apiKey, siteKey, extra }) {
  // The evaluation flow needs no captured ids: leave them out, as a new user would. No flow
  // named: the default (evaluation), as in the shipped config.
  const ids = flow === 'retry' ? { session_id: PAGE_SESSION_ID, message_id: PAGE_MESSAGE_ID } : {};
  const config = {
    ...ids,
    ...(flow ? { upstream_flow: flow } : {}),
    // The fake arena's key stands in for arena.ai's (a fresh tab mints with it).
    recaptcha_site_key: siteKey,
    api_key: apiKey || '',
    stream_response_timeout_seconds: 20,
    first_byte_timeout_seconds: 30,
    queue_timeout_seconds: 15,
    ...extra,
  };
  writeFileSync(path.join(dir, 'config.jsonc'), `// e2e test config\n${JSON.stringify(config, null, 2)}\n`);
  writeFileSync(path.join(dir, 'models.json'), JSON.stringify({
    [MODEL_NAMES.text]: MODELS.text,
    [MODEL_NAMES.image]: `${MODELS.image}:image`,
    [MODEL_NAMES.search]: `${MODELS.search}:search`,
  }, null, 2));
  writeFileSync(path.join(dir, 'model_endpoint_map.json'), '{}');
}

/** Start bridge-server; resolves with its port once it listens. */
export async function startServer(configDir, port = 0) {
  if (!existsSync(BRIDGE_SERVER_BIN)) {
    throw new Error(`${BRIDGE_SERVER_BIN} is missing: run \`cargo build -p bridge-server\` first`);
  }
  const child = spawn(BRIDGE_SERVER_BIN, ['--config-dir', configDir, '--port', String(port)], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, NO_COLOR: '1', BRIDGE_NO_UPDATE_CHECK: '1', RUST_LOG: process.env.RUST_LOG || 'info' },
  });
  let log = '';
  const listening = new Promise((resolve, reject) => {
    const onData = (d) => {
      log += d;
      const m = /listening on http:\/\/127\.0\.0\.1:(\d+)/.exec(log);
      if (m) resolve(Number(m[1]));
    };
    child.stderr.on('data', onData);
    child.stdout.on('data', onData);
    child.once('exit', (code) => reject(new Error(`bridge-server exited (${code}): ${log}`)));
  });
  const actualPort = await Promise.race([
    listening,
    new Promise((_, reject) => setTimeout(() => reject(new Error(`bridge-server did not start: ${log}`)), 15000)),
  ]);
  return {
    port: actualPort,
    child,
    log: () => log,
    async stop(signal = 'SIGTERM') {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill(signal);
      await once(child, 'exit');
    },
  };
}

/**
 * Start fake LMArena, bridge-server and a browser with `tabs` connected tabs.
 * `hosts` picks the origin of each tab (lmarena.ai or arena.ai).
 */
export async function startStack({
  flow = null, apiKey = null, tabs = 1, hosts = null, paths = null, extra = {}, fakeOptions = {},
} = {}) {
  const configDir = mkdtempSync(path.join(os.tmpdir(), 'bridge-e2e-'));
  const fake = await startFakeArena(fakeOptions);
  writeConfig(configDir, { flow, apiKey, siteKey: fake.siteKey, extra });
  let server = await startServer(configDir);
  const browser = await launchBrowser(fake.port);
  const serverUrl = () => `ws://127.0.0.1:${server.port}/ws`;
  const pages = [];
  const stack = {
    fake,
    browser,
    configDir,
    pages,
    get server() { return server; },
    get port() { return server.port; },
    get baseUrl() { return `http://127.0.0.1:${server.port}/v1`; },
    url(p) { return `http://127.0.0.1:${server.port}${p}`; },
    async addTab(host = 'lmarena.ai', pagePath = '/') {
      const tab = await openTab(browser, { serverUrl: serverUrl(), host, path: pagePath });
      await waitForTitle(tab.page, (t) => t.startsWith(TITLE_PREFIX.connected), 15000);
      pages.push(tab);
      return tab;
    },
    /** Kill the server and start a new one on the same port and config. */
    async restartServer() {
      const port = server.port;
      await server.stop('SIGKILL');
      server = await startServer(configDir, port);
    },
    async status() {
      const headers = apiKey ? { authorization: `Bearer ${apiKey}` } : {};
      const res = await fetch(stack.url('/status'), { headers });
      return res.json();
    },
    async stop() {
      await browser.close().catch(() => {});
      await server.stop().catch(() => {});
      await fake.stop().catch(() => {});
      rmSync(configDir, { recursive: true, force: true });
    },
  };
  try {
    for (let i = 0; i < tabs; i += 1) {
      await stack.addTab((hosts && hosts[i]) || 'lmarena.ai', (paths && paths[i]) || '/');
    }
  } catch (e) {
    await stack.stop();
    throw new Error(`${e.message}\nserver log:\n${server.log()}`);
  }
  return stack;
}

// Command-line use (Python tests).
if (process.argv[1] && fileURLToPath(import.meta.url) === path.resolve(process.argv[1])) {
  const args = process.argv.slice(2);
  const opt = (name) => {
    const i = args.indexOf(name);
    return i >= 0 ? args[i + 1] : null;
  };
  const stack = await startStack({ flow: opt('--flow'), apiKey: opt('--api-key') });
  process.stdout.write(`${JSON.stringify({
    baseUrl: stack.baseUrl, serverPort: stack.port, fakePort: stack.fake.port, fakeCertPem: stack.fake.certPem,
  })}\n`);
  process.stdin.resume();
  const stop = async () => { await stack.stop(); process.exit(0); };
  process.stdin.on('end', stop);
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}
