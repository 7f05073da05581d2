// bridge-model-updater run as a new user would, against the fake arena.ai of today: the model
// list comes from the site's public catalog (GET /nextjs-api/model-catalog), fetched by the
// real userscript in a real Chromium tab through the real bridge-server; the page HTML is not
// needed. The catalog is the fixture reconstructed from UPSTREAM.md §7.

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';

import OpenAI from 'openai';

import { MODELS, REPO_ROOT } from '../harness/index.mjs';
import { MODEL_NAMES, startStack } from '../harness/stack.mjs';

const UPDATER_BIN = process.env.BRIDGE_MODEL_UPDATER_BIN ||
  path.join(REPO_ROOT, 'target', 'debug', 'bridge-model-updater');
const CATALOG_PATH = '/nextjs-api/model-catalog';
// An id gemini-2.5-pro had before the site changed it (the fake knows only the new one).
const STALE_ID = '0199b1a2-6f1b-7c3e-9a41-2f5d8e7c1a00';

function updater(stack, ...args) {
  const run = spawnSync(UPDATER_BIN, ['--config-dir', stack.configDir, '--server', `http://127.0.0.1:${stack.port}`, ...args], {
    encoding: 'utf8',
    timeout: 60000,
    env: { ...process.env, NO_COLOR: '1', BRIDGE_NO_UPDATE_CHECK: '1' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  assert.equal(run.status, 0, `exit ${run.status}\nstdout: ${run.stdout}\nstderr: ${run.stderr}`);
  return run.stdout;
}

describe('bridge-model-updater on today\'s arena.ai (catalog through the tab)', () => {
  let stack;
  let modelsPath;
  before(async () => {
    assert.ok(existsSync(UPDATER_BIN), `${UPDATER_BIN} is missing: cargo build -p bridge-model-updater`);
    stack = await startStack({ tabs: 1, hosts: ['arena.ai'], paths: ['/?recaptcha=0'] });
    // The user's models.json from before the site changed gemini-2.5-pro's id.
    modelsPath = path.join(stack.configDir, 'models.json');
    writeFileSync(modelsPath, `{
  // my models
  "${MODEL_NAMES.text}": "${STALE_ID}",
  "${MODEL_NAMES.image}": "${MODELS.image}:image"
}
`);
  });
  after(async () => { await stack?.stop(); });

  test('fills available_models.json from the catalog and reports the drifted id', async () => {
    await stack.fake.reset();
    const stdout = updater(stack, '--yes');
    assert.match(stdout, /Model catalog from the LMArena tab: 6 arenas, 15 entries\./);
    assert.ok(
      stdout.includes(`~ "${MODEL_NAMES.text}": ${STALE_ID} -> ${MODELS.text}`),
      stdout,
    );
    assert.match(stdout, /Run with --fix-ids/);
    const available = JSON.parse(readFileSync(path.join(stack.configDir, 'available_models.json'), 'utf8'));
    assert.equal(available.length, 11);
    const gemini = available.find((m) => m.publicName === MODEL_NAMES.text);
    assert.equal(gemini.id, MODELS.text);
    assert.deepEqual(gemini.arenas, ['text', 'vision', 'webdev']);
    assert.equal(gemini.organization, 'google');
    assert.ok(available.every((m) => Array.isArray(m.arenas) && m.arenas.length > 0));
    // Reported only: the file is as the user left it.
    assert.ok(readFileSync(modelsPath, 'utf8').includes(STALE_ID));

    // The tab made one same-origin GET, with the page's cookie and no token; no page source
    // was needed.
    const requests = await stack.fake.requests();
    const gets = requests.filter((r) => r.path === CATALOG_PATH);
    assert.equal(gets.length, 1);
    assert.equal(gets[0].method, 'GET');
    assert.equal(gets[0].status, 200);
    assert.equal(gets[0].has_auth_cookie, true);
    assert.equal(gets[0].body, null);
  });

  test('--fix-ids rewrites the id in place and the chat then works', async () => {
    const stdout = updater(stack, '--fix-ids', '--yes');
    assert.match(stdout, /Wrote .*models\.json/);
    assert.equal(readFileSync(modelsPath, 'utf8'), `{
  // my models
  "${MODEL_NAMES.text}": "${MODELS.text}",
  "${MODEL_NAMES.image}": "${MODELS.image}:image"
}
`);
    const client = new OpenAI({ baseURL: stack.baseUrl, apiKey: 'unused', maxRetries: 0 });
    // The server re-reads models.json on change; ask until it has (bounded).
    let answer = null;
    for (let i = 0; i < 50 && answer === null; i += 1) {
      try {
        const res = await client.chat.completions.create({
          model: MODEL_NAMES.text, messages: [{ role: 'user', content: 'after the id fix' }],
        });
        answer = res.choices[0].message.content;
      } catch (e) {
        await new Promise((r) => setTimeout(r, 100));
      }
    }
    assert.ok(answer && answer.includes('after the id fix'), String(answer));
    const creates = (await stack.fake.requests()).filter((r) => r.path === '/nextjs-api/stream/create-evaluation');
    assert.equal(creates.at(-1).body.modelAId, MODELS.text);
  });

  test('/v1/models says each type, and ?all=true adds the catalog models', async () => {
    const plain = await (await fetch(stack.url('/v1/models'))).json();
    assert.deepEqual(plain.data.map((m) => [m.id, m.type]), [[MODEL_NAMES.text, 'chat'], [MODEL_NAMES.image, 'image']]);
    const all = await (await fetch(stack.url('/v1/models?all=true'))).json();
    const types = Object.fromEntries(all.data.map((m) => [m.id, m.type]));
    assert.equal(all.data.length, 11);
    assert.equal(types['gpt-5-high'], 'chat');
    assert.equal(types[MODEL_NAMES.search], 'search');
    assert.equal(types['imagen-4.0-generate'], 'image');
  });
});
