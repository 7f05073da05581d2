// The README quick start, followed literally as far as a test can: the one build step, the
// server started by its bare name on a copy of the shipped config/ (on a free port, which the
// README explains: the userscript is then given the server URL), the userscript in real
// Chromium on the fake https://arena.ai, `bridge-server doctor`, and a first streamed answer
// through the official openai client for a model of the shipped models.json. bridge-id-updater
// is never run.

import assert from 'node:assert/strict';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { cpSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';

import OpenAI from 'openai';

import {
  REPO_ROOT, TITLE_PREFIX, launchBrowser, openTab, startFakeArena, waitForTitle,
} from '../harness/index.mjs';

/** Quick start step 1, word for word (both READMEs are checked to say exactly this). */
const BUILD_LINE = 'cargo build --release -p bridge-server -p bridge-id-updater -p bridge-model-updater';
const PATH_LINE = 'export PATH="$PWD/target/release:$PATH"';
/**
 * A release build from nothing takes longer than the rest of `scripts/test` together on a
 * 2-core machine, so by default the same command runs without `--release` (the e2e step has
 * already built those binaries, so it is quick) and `target/debug` goes on the PATH.
 * `QUICKSTART_RELEASE=1` runs the line exactly as written.
 */
const RELEASE = process.env.QUICKSTART_RELEASE === '1';
const PROFILE_DIR = RELEASE ? 'release' : 'debug';
const BUILD_ARGS = BUILD_LINE.split(' ').slice(1).filter((a) => RELEASE || a !== '--release');
/** Quick start step 5: a model of the shipped config/models.json. */
const MODEL = 'gemini-2.5-pro';
const BUILD_TIMEOUT_MS = 30 * 60 * 1000;

function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

describe('README quick start', () => {
  let work; let env; let fake; let browser; let server; let port; let log = '';

  before(async () => {
    for (const readme of ['README.md', 'README.zh-CN.md']) {
      const text = readFileSync(path.join(REPO_ROOT, readme), 'utf8');
      assert.ok(text.includes(BUILD_LINE), `${readme} quick start builds with: ${BUILD_LINE}`);
      assert.ok(text.includes(PATH_LINE), `${readme} quick start puts the programs on the PATH: ${PATH_LINE}`);
    }
    execFileSync('cargo', BUILD_ARGS, { cwd: REPO_ROOT, stdio: 'inherit', timeout: BUILD_TIMEOUT_MS });
    // `export PATH="$PWD/target/release:$PATH"` (target/debug unless QUICKSTART_RELEASE=1)
    env = {
      ...process.env,
      PATH: `${path.join(REPO_ROOT, 'target', PROFILE_DIR)}${path.delimiter}${process.env.PATH}`,
      BRIDGE_NO_UPDATE_CHECK: '1',
      NO_COLOR: '1',
    };
    delete env.BRIDGE_CONFIG_DIR;
    // A new user's directory: the shipped config/ as it is in the repository.
    work = mkdtempSync(path.join(os.tmpdir(), 'bridge-quickstart-'));
    cpSync(path.join(REPO_ROOT, 'config'), path.join(work, 'config'), { recursive: true });
    port = await freePort();
    // Step 2: `bridge-server` (here with `--port`, as the README says for another port).
    server = spawn('bridge-server', ['--port', String(port)], { cwd: work, env, stdio: ['ignore', 'pipe', 'pipe'] });
    const listening = new Promise((resolve, reject) => {
      const onData = (d) => {
        log += d;
        if (log.includes(`listening on http://127.0.0.1:${port}`)) resolve();
      };
      server.stdout.on('data', onData);
      server.stderr.on('data', onData);
      server.once('exit', (code) => reject(new Error(`bridge-server exited (${code}): ${log}`)));
    });
    await listening;
    fake = await startFakeArena();
    browser = await launchBrowser(fake.port);
  });

  after(async () => {
    await browser?.close().catch(() => {});
    if (server && server.exitCode === null && server.signalCode === null) {
      server.kill('SIGTERM');
      await once(server, 'exit');
    }
    await fake?.stop().catch(() => {});
    if (work) rmSync(work, { recursive: true, force: true });
  });

  test('a new user reaches a streamed answer without bridge-id-updater', async () => {
    // The status page tells the URL the userscript needs on this port.
    const status = await (await fetch(`http://127.0.0.1:${port}/status`)).json();
    assert.equal(status.userscript_url, `ws://127.0.0.1:${port}/ws`);
    assert.equal(status.flow, 'evaluation', 'the shipped config uses the flow that needs no capture');
    assert.deepEqual(status.config.warnings, [], 'the shipped config has nothing that cannot work');

    // Step 3: the userscript (given that URL) on https://arena.ai.
    const tab = await openTab(browser, { serverUrl: status.userscript_url, host: 'arena.ai' });
    await waitForTitle(tab.page, (t) => t.startsWith(TITLE_PREFIX.connected), 15000);

    // Step 4: `bridge-server doctor` says ready.
    const doctor = spawnSync('bridge-server', ['doctor', '--port', String(port)], { cwd: work, env, encoding: 'utf8', timeout: 120000 });
    assert.equal(doctor.status, 0, `doctor: ${doctor.stdout}${doctor.stderr}`);
    assert.ok(doctor.stdout.includes('Ready to chat.'), doctor.stdout);

    // Step 5: the official client, streaming.
    const openai = new OpenAI({ baseURL: `http://127.0.0.1:${port}/v1`, apiKey: 'anything-or-your-api_key', maxRetries: 0 });
    const stream = await openai.chat.completions.create({
      model: MODEL, stream: true, messages: [{ role: 'user', content: 'Hello!' }],
    });
    let text = '';
    let chunks = 0;
    for await (const chunk of stream) {
      text += chunk.choices[0]?.delta?.content ?? '';
      chunks += 1;
    }
    assert.ok(chunks > 1, 'the answer was streamed');
    assert.ok(text.includes('Hello!'), text);
  });
});
