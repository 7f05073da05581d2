// End-to-end, `evaluation` flow (LMArena since late 2025): no captured ids, a reCAPTCHA token
// minted in the page for every new message, on https://arena.ai and https://lmarena.ai.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import OpenAI from 'openai';

import { MODEL_NAMES, startStack } from '../harness/stack.mjs';

/** `recaptcha_v2_wait_seconds`: short, since no one ticks the checkbox here. */
const V2_WAIT = 2;

function client(stack) {
  return new OpenAI({ baseURL: stack.baseUrl, apiKey: 'unused', maxRetries: 0 });
}

async function streamRequests(fake) {
  return (await fake.requests()).filter((r) => r.path.includes('/stream/'));
}

for (const host of ['arena.ai', 'lmarena.ai']) {
  describe(`evaluation flow on https://${host}`, () => {
    let stack;
    before(async () => {
      stack = await startStack({ flow: 'evaluation', tabs: 1, hosts: [host], extra: { recaptcha_v2_wait_seconds: V2_WAIT } });
    });
    after(async () => { await stack?.stop(); });

    test('a new user chats without capturing ids; the follow-up continues the conversation', async () => {
      const openai = client(stack);
      const first = await openai.chat.completions.create({
        model: MODEL_NAMES.text,
        messages: [{ role: 'user', content: 'first question' }],
      });
      const answer = first.choices[0].message.content;
      assert.ok(answer.includes('first question'), answer);
      let reqs = await streamRequests(stack.fake);
      const create = reqs.at(-1);
      assert.equal(create.path, '/nextjs-api/stream/create-evaluation');
      assert.equal(create.status, 200, `fake rejected: ${create.rejection}`);
      assert.equal(create.origin, `https://${host}`);
      assert.equal(typeof create.body.recaptchaV3Token, 'string', 'the page minted a token');
      assert.equal(create.body.mode, 'direct-battle');
      assert.equal(create.body.modelBMessageId, undefined);
      assert.equal(create.body.userMessage.content, 'first question');

      const stream = await openai.chat.completions.create({
        model: MODEL_NAMES.text,
        stream: true,
        messages: [
          { role: 'user', content: 'first question' },
          { role: 'assistant', content: answer },
          { role: 'user', content: 'second question' },
        ],
      });
      let second = '';
      for await (const chunk of stream) second += chunk.choices[0]?.delta?.content ?? '';
      assert.ok(second.includes('second question'), second);
      reqs = await streamRequests(stack.fake);
      const post = reqs.at(-1);
      assert.equal(post.path, `/nextjs-api/stream/post-to-evaluation/${create.body.id}`);
      assert.equal(post.status, 200, `fake rejected: ${post.rejection}`);
      assert.equal(post.body.userMessage.content, 'second question');
    });

    test('a refused reCAPTCHA token is retried once with a fresh one', async () => {
      const before = (await stack.fake.stats()).recaptcha_rejections;
      await stack.fake.rejectNextRecaptcha(1);
      const res = await client(stack).chat.completions.create({
        model: MODEL_NAMES.text,
        messages: [{ role: 'user', content: 'captcha once' }],
      });
      assert.ok(res.choices[0].message.content.includes('captcha once'));
      assert.equal((await stack.fake.stats()).recaptcha_rejections, before + 1);
    });

    test('a second refusal asks a person for the checkbox; nobody ticks: 503 recaptcha_needs_human', async () => {
      await stack.fake.rejectNextRecaptcha(2);
      await assert.rejects(
        client(stack).chat.completions.create({
          model: MODEL_NAMES.text,
          messages: [{ role: 'user', content: 'captcha twice' }],
        }),
        (err) => {
          assert.equal(err.status, 503, err.message);
          assert.equal(err.code, 'recaptcha_needs_human');
          assert.match(err.message, /tick the box/);
          assert.match(err.message, new RegExp(`waited ${V2_WAIT} s`));
          return true;
        },
      );
      // The checkbox is gone, nothing was sent without it, and the tab serves again.
      assert.equal(await stack.pages[0].page.locator('[data-lmarena-bridge-overlay]').count(), 0);
      assert.ok(!(await streamRequests(stack.fake)).some((r) => r.body?.recaptchaV2Token));
      assert.equal((await stack.status()).tabs[0].state, 'ready');
    });

    test('a client leaving mid-answer aborts the stream and the page sends the stop call', async () => {
      const before = await stack.fake.stats();
      const controller = new AbortController();
      const res = await fetch(`${stack.baseUrl}/chat/completions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({
          model: MODEL_NAMES.text,
          stream: true,
          messages: [{ role: 'user', content: 'leave early [scenario:slow]' }],
        }),
        signal: controller.signal,
      });
      assert.equal(res.status, 200);
      const reader = res.body.getReader();
      // Read until the first content delta: the answer has started upstream.
      let seen = '';
      while (!seen.includes('"content"')) {
        const { value, done } = await reader.read();
        assert.ok(!done, `the stream ended before any content: ${seen}`);
        seen += new TextDecoder().decode(value);
      }
      controller.abort();
      await stack.fake.waitFor('aborted_streams', before.aborted_streams + 1, 10000);
      const after = await stack.fake.waitFor('stop_calls', before.stop_calls + 1, 10000);
      assert.equal(after.stop_calls, before.stop_calls + 1, 'one stop call');

      const reqs = await stack.fake.requests();
      const create = reqs.filter((r) => r.path === '/nextjs-api/stream/create-evaluation').at(-1);
      assert.equal(create.body.userMessage.content, 'leave early [scenario:slow]');
      const stop = reqs.filter((r) => r.path.startsWith('/nextjs-api/stream/stop/')).at(-1);
      assert.equal(stop.method, 'POST');
      assert.equal(stop.status, 200, `fake rejected: ${stop.rejection}`);
      assert.equal(stop.origin, `https://${host}`, 'sent by the page, with its cookies and origin');
      assert.ok(
        stop.path.startsWith(`/nextjs-api/stream/stop/${create.body.id}/messages/`),
        `stop names the conversation just created: ${stop.path}`,
      );
      // The slot is free again: the tab serves the next request.
      const next = await client(stack).chat.completions.create({
        model: MODEL_NAMES.text,
        messages: [{ role: 'user', content: 'after the stop' }],
      });
      assert.ok(next.choices[0].message.content.includes('after the stop'));
    });

    test('image model uses the image modality', async () => {
      const res = await client(stack).images.generate({ model: MODEL_NAMES.image, prompt: 'a fox' });
      assert.match(res.data[0].url, /fake-images/);
      const create = (await streamRequests(stack.fake)).at(-1);
      assert.equal(create.body.modality, 'image');
      assert.equal(create.status, 200, `fake rejected: ${create.rejection}`);
    });
  });
}
