// End-to-end against the fake arena.ai speaking the 2026 protocol (UPSTREAM.md §7), with the
// shipped defaults: no flow named in the config (evaluation), no captured ids, and a fresh tab
// whose page has not loaded reCAPTCHA.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import OpenAI from 'openai';

import { MODEL_NAMES, startStack } from '../harness/stack.mjs';

function client(stack) {
  return new OpenAI({ baseURL: stack.baseUrl, apiKey: 'unused', maxRetries: 0 });
}

async function creates(fake) {
  return (await fake.requests()).filter((r) => r.path === '/nextjs-api/stream/create-evaluation');
}

async function ask(stack, content, stream = false) {
  const res = await client(stack).chat.completions.create({
    model: MODEL_NAMES.text, stream, messages: [{ role: 'user', content }],
  });
  if (!stream) return res.choices[0].message.content;
  let text = '';
  for await (const chunk of res) text += chunk.choices[0]?.delta?.content ?? '';
  return text;
}

describe('a new user on a fresh arena.ai tab (default config)', () => {
  let stack;
  before(async () => {
    stack = await startStack({ tabs: 1, hosts: ['arena.ai'], paths: ['/?recaptcha=0'] });
  });
  after(async () => { await stack?.stop(); });

  test('chats: the tab loads enterprise.js itself, direct-battle, one fresh token per request', async () => {
    const page = stack.pages[0].page;
    for (const stream of [false, true]) {
      const text = await ask(stack, `fresh tab stream=${stream}`, stream);
      assert.ok(text.includes(`fresh tab stream=${stream}`), text);
    }
    const bodies = (await creates(stack.fake)).map((r) => {
      assert.equal(r.status, 200, `fake rejected: ${r.rejection}`);
      return r.body;
    });
    assert.equal(bodies.length, 2);
    for (const body of bodies) {
      assert.equal(body.mode, 'direct-battle');
      assert.equal(typeof body.recaptchaV3Token, 'string');
    }
    assert.notEqual(bodies[0].recaptchaV3Token, bodies[1].recaptchaV3Token);
    const scripts = await page.evaluate(() => [...document.scripts].map((s) => s.src).filter((s) => s.includes('recaptcha')));
    assert.deepEqual(scripts, [`https://www.google.com/recaptcha/enterprise.js?render=${stack.fake.siteKey}`]);
    assert.equal((await stack.fake.stats()).recaptcha_rejections, 0);
  });

  test('heartbeat lines are neither text nor images', async () => {
    for (const stream of [false, true]) {
      const text = await ask(stack, '[scenario:heartbeat]', stream);
      assert.equal(text, 'After the heartbeats: done ✓');
    }
  });

  test('hasArenaError is an error, never assistant text', async () => {
    for (const stream of [false, true]) {
      await assert.rejects(
        ask(stack, '[scenario:arena_error]', stream),
        (err) => {
          // Streamed: after the first text the error is an SSE error event (no status).
          assert.ok(err.status === 502 || (stream && err.status === undefined), `${err.status} ${err.message}`);
          assert.match(err.message, /hasArenaError/);
          return true;
        },
      );
    }
  });

  test('battle lines (b…) never reach the answer of a direct-battle request', async () => {
    for (const stream of [false, true]) {
      const text = await ask(stack, '[scenario:battle]', stream);
      assert.ok(text.includes('Hello from A'), text);
      assert.ok(!text.includes('from B') && !text.includes('更多 B'), text);
    }
  });
});
