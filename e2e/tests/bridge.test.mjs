// End-to-end: the official openai Node client → real bridge-server → headless Chromium with
// the real userscript → fake LMArena over HTTPS. Each test checks one behaviour of the whole
// chain; the fake records what reached "LMArena".

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import OpenAI from 'openai';

import {
  PAGE_MESSAGE_ID, PAGE_SESSION_ID, TITLE_PREFIX, startCaptureListener, waitForTitle,
} from '../harness/index.mjs';
import { MODEL_NAMES, startStack } from '../harness/stack.mjs';

/** The text the fake sent for a request, rebuilt from its exact transcript (`a0:` lines). */
function textOfTranscript(transcript) {
  return transcript
    .split('\n')
    .filter((l) => l.startsWith('a0:'))
    .map((l) => JSON.parse(l.slice(3)))
    .join('');
}

async function lastRequest(fake) {
  const reqs = await fake.requests();
  return reqs.filter((r) => r.path.includes('/stream/')).at(-1);
}

function client(stack, extra = {}) {
  return new OpenAI({ baseURL: stack.baseUrl, apiKey: 'unused', maxRetries: 0, ...extra });
}

/** Polls /status until no tab is in a rate-limit cooldown (the fake's is 7 s). */
async function waitUntilNoTabCoolsDown(stack, timeoutMs = 15000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const { tabs } = await stack.status();
    if (!tabs.some((t) => t.state === 'cooling_down')) return;
    if (Date.now() > deadline) throw new Error(`a tab still cools down: ${JSON.stringify(tabs)}`);
    await new Promise((resolve) => { setTimeout(resolve, 200); });
  }
}

describe('retry flow through the real browser chain', () => {
  let stack;
  before(async () => { stack = await startStack({ flow: 'retry', tabs: 1 }); });
  after(async () => { await stack?.stop(); });

  test('streaming chat: CJK and emoji split across network reads arrive intact', async () => {
    const openai = client(stack);
    const stream = await openai.chat.completions.create({
      model: MODEL_NAMES.text,
      stream: true,
      messages: [{ role: 'system', content: 'be brief' }, { role: 'user', content: 'héllo 世界 🌍' }],
    });
    let content = '';
    let role = null;
    let finish = null;
    const ids = new Set();
    for await (const chunk of stream) {
      ids.add(chunk.id);
      const choice = chunk.choices[0];
      if (!choice) continue;
      role ??= choice.delta.role ?? null;
      content += choice.delta.content ?? '';
      finish = choice.finish_reason ?? finish;
    }
    const upstream = await lastRequest(stack.fake);
    assert.equal(upstream.status, 200);
    assert.equal(upstream.method, 'PUT');
    assert.ok(upstream.path.includes(PAGE_SESSION_ID) && upstream.path.includes(PAGE_MESSAGE_ID));
    const expected = textOfTranscript(upstream.transcript);
    assert.ok(expected.includes('你好，世界 👋🏽'), 'fixture sanity');
    assert.equal(content, expected);
    assert.ok(!content.includes('\uFFFD'));
    assert.equal(role, 'assistant');
    assert.equal(finish, 'stop');
    assert.equal(ids.size, 1);
    // The history reached LMArena as the retry-flow message chain.
    const msgs = upstream.body.messages;
    assert.deepEqual(msgs.map((m) => m.role), ['system', 'user']);
    assert.deepEqual(msgs.map((m) => m.status), ['success', 'pending']);
    assert.equal(msgs[1].content, 'héllo 世界 🌍');
  });

  test('non-streaming chat and usage', async () => {
    const openai = client(stack);
    const res = await openai.chat.completions.create({
      model: MODEL_NAMES.text,
      messages: [{ role: 'user', content: 'non-stream please' }],
    });
    const upstream = await lastRequest(stack.fake);
    assert.equal(res.object, 'chat.completion');
    assert.equal(res.choices[0].message.content, textOfTranscript(upstream.transcript));
    assert.equal(res.choices[0].finish_reason, 'stop');
    assert.ok(res.usage && res.usage.completion_tokens > 0, 'usage from the finish line');
  });

  test('models.list() shows the configured names', async () => {
    const list = await client(stack).models.list();
    const ids = list.data.map((m) => m.id);
    assert.deepEqual(ids, [MODEL_NAMES.text, MODEL_NAMES.image, MODEL_NAMES.search]);
    assert.equal(list.data[0].owned_by, 'lmarena');
  });

  test('reasoning arrives as reasoning_content', async () => {
    const stream = await client(stack).chat.completions.create({
      model: MODEL_NAMES.text,
      stream: true,
      messages: [{ role: 'user', content: 'think [scenario:reasoning]' }],
    });
    let reasoning = '';
    let content = '';
    for await (const chunk of stream) {
      const d = chunk.choices[0]?.delta ?? {};
      reasoning += d.reasoning_content ?? '';
      content += d.content ?? '';
    }
    assert.ok(reasoning.length > 0, 'reasoning text');
    assert.ok(content.length > 0, 'answer text');
    assert.ok(!content.includes(reasoning), 'reasoning not mixed into content');
  });

  test('image model: Markdown image in chat, URL in images.generate', async () => {
    const openai = client(stack);
    const res = await openai.chat.completions.create({
      model: MODEL_NAMES.image,
      messages: [{ role: 'user', content: 'a cat' }],
    });
    assert.match(res.choices[0].message.content, /^!\[image\]\(https:\/\/lmarena\.ai\/fake-images\/[^)]+\)$/);
    const upstream = await lastRequest(stack.fake);
    assert.ok(upstream.body.messages.every((m) => m.status === 'success'));
    const img = await openai.images.generate({ model: MODEL_NAMES.image, prompt: 'a dog', n: 2 });
    assert.equal(img.data.length, 2);
    assert.match(img.data[0].url, /^https:\/\/lmarena\.ai\/fake-images\//);
  });

  test('content filter finish reason', async () => {
    const res = await client(stack).chat.completions.create({
      model: MODEL_NAMES.text,
      messages: [{ role: 'user', content: '[scenario:content_filter]' }],
    });
    assert.equal(res.choices[0].finish_reason, 'content_filter');
  });

  const errorRows = [
    ['rate_limit', OpenAI.RateLimitError, 429],
    ['too_large', OpenAI.APIError, 413],
    ['moderation', OpenAI.BadRequestError, 400],
    ['unauthorized', OpenAI.APIError, 502],
    ['inband_error', OpenAI.APIError, 502],
    ['json_error', OpenAI.APIError, 502],
  ];
  for (const [scenario, cls, status] of errorRows) {
    test(`error scenario ${scenario} → ${status}`, async () => {
      for (const stream of [false, true]) {
        await assert.rejects(
          async () => {
            const r = await client(stack).chat.completions.create({
              model: MODEL_NAMES.text,
              stream,
              messages: [{ role: 'user', content: `[scenario:${scenario}]` }],
            });
            if (stream) for await (const _ of r) { /* drain */ }
          },
          (err) => {
            assert.ok(err instanceof cls, `${scenario}: ${err.constructor.name}`);
            assert.equal(err.status, status, `${scenario} stream=${stream}: ${err.message}`);
            return true;
          },
        );
        // A rate limit cools the tab down for its Retry-After; a request meanwhile would wait
        // in the queue (its SSE head sent early) instead of meeting the scenario's status.
        await waitUntilNoTabCoolsDown(stack);
      }
    });
  }

  test('rate limit passes Retry-After on', async () => {
    const res = await fetch(`${stack.baseUrl}/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model: MODEL_NAMES.text, messages: [{ role: 'user', content: '[scenario:rate_limit]' }] }),
    });
    assert.equal(res.status, 429);
    assert.equal(res.headers.get('retry-after'), '7');
  });

  test('client disconnect aborts the upstream request in the page', async () => {
    const before = (await stack.fake.stats()).aborted_streams;
    const controller = new AbortController();
    const res = await fetch(`${stack.baseUrl}/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model: MODEL_NAMES.text, stream: true, messages: [{ role: 'user', content: '[scenario:slow]' }] }),
      signal: controller.signal,
    });
    assert.equal(res.status, 200);
    const reader = res.body.getReader();
    await reader.read();
    controller.abort();
    await stack.fake.waitFor('aborted_streams', before + 1, 10000);
  });

  test('page source through /internal/request_model_update', async () => {
    const res = await fetch(stack.url('/internal/request_model_update'), { method: 'POST' });
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type'), /text\/html/);
    const html = await res.text();
    assert.ok(html.includes('initialModels') || html.includes('self.__next_f'), 'page carries the model list');
  });

  test('id capture: the page clicks Retry, the ids reach the listener', async () => {
    const listener = await startCaptureListener();
    try {
      const res = await fetch(stack.url('/internal/start_id_capture'), {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ listen_port: Number(new URL(listener.url).port) }),
      });
      assert.equal(res.status, 200);
      const { page } = stack.pages[0];
      await waitForTitle(page, (t) => t.startsWith(TITLE_PREFIX.capturing));
      await page.click('#retry');
      const capture = JSON.parse((await listener.nextPost()).body);
      assert.equal(capture.sessionId, PAGE_SESSION_ID);
      assert.equal(capture.messageId, PAGE_MESSAGE_ID);
      await waitForTitle(page, (t) => t.startsWith(TITLE_PREFIX.connected));
    } finally {
      await listener.close();
    }
  });

  test('server restart: the tab reconnects by itself and serves the next request', async () => {
    await stack.restartServer();
    await waitForTitle(stack.pages[0].page, (t) => t.startsWith(TITLE_PREFIX.connected), 40000);
    const res = await client(stack).chat.completions.create({
      model: MODEL_NAMES.text,
      messages: [{ role: 'user', content: 'after restart' }],
    });
    assert.ok(res.choices[0].message.content.includes('after restart'));
  });
});

describe('two tabs', () => {
  let stack;
  before(async () => { stack = await startStack({ flow: 'retry', tabs: 2, hosts: ['lmarena.ai', 'arena.ai'] }); });
  after(async () => { await stack?.stop(); });

  test('two tabs share the load', async () => {
    const openai = client(stack);
    for (let i = 0; i < 4; i += 1) {
      await openai.chat.completions.create({
        model: MODEL_NAMES.text,
        messages: [{ role: 'user', content: `share ${i}` }],
      });
    }
    const status = await stack.status();
    const served = status.tabs.map((t) => t.served).sort();
    assert.deepEqual(served, [2, 2]);
    const origins = status.tabs.map((t) => t.origin).sort();
    assert.deepEqual(origins, ['https://arena.ai', 'https://lmarena.ai']);
  });

  test('challenge page: that tab is refreshed, the other serves', async () => {
    const openai = client(stack);
    await assert.rejects(
      openai.chat.completions.create({
        model: MODEL_NAMES.text,
        messages: [{ role: 'user', content: '[scenario:challenge]' }],
      }),
      (err) => err.status === 503 && /challenge/i.test(err.message),
    );
    // The challenged tab reloads (its title loses ✅ then regains it); meanwhile and after,
    // requests keep being served.
    for (let i = 0; i < 3; i += 1) {
      const res = await openai.chat.completions.create({
        model: MODEL_NAMES.text,
        messages: [{ role: 'user', content: `still serving ${i}` }],
      });
      assert.ok(res.choices[0].message.content.includes(`still serving ${i}`));
    }
    const reloads = (await stack.fake.requests()).filter((r) => r.method === 'GET' && r.path === '/').length;
    assert.ok(reloads >= 3, `the challenged tab reloaded its page (page loads: ${reloads})`);
  });
});
