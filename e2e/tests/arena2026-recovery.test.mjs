// End-to-end, the hard cases of today's site (issue 13, "Done when"): real Chromium running the
// real userscript on the fake https://arena.ai speaking the 2026 protocol, the real server with
// the shipped defaults (no flow named: evaluation; no captured ids), the official openai Node
// client. A battle turn, a token refused twice (the v2 checkbox, ticked here by the test), a
// Cloudflare 429, a rate-limit cooldown, and each 2026 error of the README's error table with
// its status and code, streamed and not.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import OpenAI from 'openai';

import { MODEL_NAMES, startStack } from '../harness/stack.mjs';

const CREATE_PATH = '/nextjs-api/stream/create-evaluation';
const POST_PREFIX = '/nextjs-api/stream/post-to-evaluation/';
const OVERLAY = '[data-lmarena-bridge-overlay]';
const CHECKBOX = '.fake-recaptcha-checkbox';
const V2_PROMPT = 'lmarena-bridge needs you to tick this box';
/** `Retry-After` of the fake's `rate_limit` scenario (fake_arena::RATE_LIMIT_RETRY_AFTER_SECS). */
const FAKE_RETRY_AFTER = 7;
/** Shorter than FAKE_RETRY_AFTER: a request during the cooldown is answered at once. */
const QUEUE_TIMEOUT = 3;
const TEXT_GREETING = '你好，世界';

function client(stack) {
  return new OpenAI({ baseURL: stack.baseUrl, apiKey: 'unused', maxRetries: 0 });
}

async function ask(stack, messages, stream) {
  const res = await client(stack).chat.completions.create({ model: MODEL_NAMES.text, stream, messages });
  if (!stream) return res.choices[0].message.content;
  let text = '';
  for await (const chunk of res) text += chunk.choices[0]?.delta?.content ?? '';
  return text;
}

const user = (content) => ({ role: 'user', content });

async function streamRequests(fake) {
  return (await fake.requests()).filter((r) => r.path.includes('/stream/'));
}

async function metrics(stack) {
  return (await fetch(stack.url('/metrics'))).text();
}

/** Polls /status until `check` holds for it; returns that status. */
async function waitForStatus(stack, check, what, timeoutMs = 20000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const status = await stack.status();
    if (check(status)) return status;
    if (Date.now() > deadline) throw new Error(`/status never showed ${what}: ${JSON.stringify(status.tabs)}`);
    await new Promise((resolve) => { setTimeout(resolve, 200); });
  }
}

describe('today\'s arena.ai: what a new user survives (default config, real browser)', () => {
  let stack;
  before(async () => {
    stack = await startStack({ tabs: 1, hosts: ['arena.ai'], extra: { queue_timeout_seconds: QUEUE_TIMEOUT } });
  });
  after(async () => { await stack?.stop(); });

  test('a battle turn demanded on a follow-up: one fresh conversation with the history, counted', async () => {
    await stack.fake.battleTurnAfter(1);
    try {
      const before = (await stack.status()).counts.fresh_fallbacks;
      const first = [user('battle turn: first question')];
      const answer = await ask(stack, first, false);
      const second = await ask(stack, [...first, { role: 'assistant', content: answer }, user('battle turn: second question')], true);
      assert.ok(second.startsWith(TEXT_GREETING), second);

      const [create, post, fresh] = (await streamRequests(stack.fake)).slice(-3);
      assert.equal(create.path, CREATE_PATH);
      assert.equal(create.status, 200, create.rejection);
      assert.equal(post.path, `${POST_PREFIX}${create.body.id}`);
      assert.equal(post.status, 400, 'the fake demanded a battle turn');
      assert.equal(fresh.path, CREATE_PATH);
      assert.equal(fresh.status, 200, fresh.rejection);
      assert.notEqual(fresh.body.id, create.body.id);
      assert.equal(fresh.body.mode, 'direct-battle');
      const folded = fresh.body.userMessage.content;
      assert.ok(folded.includes('battle turn: first question') && folded.endsWith('battle turn: second question'), folded);

      assert.equal((await stack.status()).counts.fresh_fallbacks, before + 1);
      assert.match(await metrics(stack), new RegExp(`^bridge_evaluation_fallbacks_total ${before + 1}$`, 'm'));
      assert.equal((await stack.fake.stats()).battle_turn_refusals, 1);
    } finally {
      await stack.fake.battleTurnAfter(null);
    }
  });

  test('a token refused twice: the tab shows the checkbox and is needs_human; ticked, the answer arrives', async () => {
    const { page } = stack.pages[0];
    const rejected = (await stack.fake.stats()).recaptcha_rejections;
    await stack.fake.rejectNextRecaptcha(2);
    const pending = ask(stack, [user('checkbox please')], true);
    pending.catch(() => {});
    const overlay = page.locator(OVERLAY);
    await overlay.waitFor({ state: 'visible', timeout: 20000 });
    assert.equal(await overlay.locator('p').textContent(), V2_PROMPT);
    const waiting = await stack.status();
    assert.equal(waiting.tabs[0].state, 'needs_human');
    assert.match(await metrics(stack), /^bridge_tabs\{state="needs_human"\} 1$/m);

    await overlay.locator(CHECKBOX).click();
    const text = await pending;
    assert.ok(text.includes('checkbox please'), text);
    const create = (await streamRequests(stack.fake)).at(-1);
    assert.equal(create.status, 200, create.rejection);
    assert.equal(create.body.userMessage.content, 'checkbox please');
    assert.match(create.body.recaptchaV2Token, /^fake-recaptcha-/);
    assert.equal((await stack.fake.stats()).recaptcha_rejections, rejected + 2);
    assert.equal(await page.locator(OVERLAY).count(), 0);
    assert.equal((await stack.status()).tabs[0].state, 'ready');
  });

  test('a person slow to tick: the waiting stream gets keep-alive comments, then the answer', async () => {
    const { page } = stack.pages[0];
    await stack.fake.rejectNextRecaptcha(2);
    const res = await fetch(`${stack.baseUrl}/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model: MODEL_NAMES.text, stream: true, messages: [user('slow tick')] }),
    });
    assert.equal(res.status, 200, 'the stream starts while the person is asked');
    const reader = res.body.getReader();
    const decoder = new TextDecoder();
    let body = '';
    // The server's keep-alive comes every 10 s while nobody ticks the box.
    while (!body.includes(': keep-alive')) {
      const { value, done } = await reader.read();
      assert.ok(!done, `the stream ended before a keep-alive: ${body}`);
      body += decoder.decode(value, { stream: true });
    }
    assert.ok(!body.includes('data:'), `no event before the box is ticked: ${body}`);
    const overlay = page.locator(OVERLAY);
    assert.ok(await overlay.isVisible(), 'the checkbox is still waiting');
    await overlay.locator(CHECKBOX).click();
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      body += decoder.decode(value, { stream: true });
    }
    const text = body.split('\n')
      .filter((l) => l.startsWith('data: {'))
      .map((l) => JSON.parse(l.slice(6)).choices[0]?.delta?.content ?? '')
      .join('');
    assert.ok(text.includes('slow tick'), text);
    assert.ok(body.trim().endsWith('data: [DONE]'), body);
    assert.equal((await stack.status()).tabs[0].state, 'ready');
  });

  for (const stream of [false, true]) {
    const rows = [
      // [scenario, status, code, message]
      ['prompt_failed', 429, 'upstream_prompt_failed', /quota.*reCAPTCHA.*too large/],
      ['models_not_found', 404, 'model_unavailable_upstream', /does not offer this model/],
      ['login_required', 502, 'upstream_login_required', /log in to arena\.ai in the browser of tab #\d+\./],
      ['arena_error', 502, 'upstream_inband_error', /hasArenaError/],
    ];
    for (const [scenario, status, code, message] of rows) {
      test(`${scenario} reaches the client as ${status} ${code} (stream=${stream})`, async () => {
        await assert.rejects(ask(stack, [user(`[scenario:${scenario}]`)], stream), (err) => {
          assert.equal(err.code, code, err.message);
          // hasArenaError comes after the first text: streamed, it is an SSE error event.
          const midStream = stream && scenario === 'arena_error';
          assert.equal(err.status, midStream ? undefined : status, err.message);
          assert.match(err.message, message);
          return true;
        });
      });
    }
  }

  test('heartbeat lines are not counted as unknown lines', async () => {
    const text = await ask(stack, [user('[scenario:heartbeat]')], true);
    assert.equal(text, 'After the heartbeats: done ✓');
    assert.deepEqual((await stack.status()).unknown_line_types, {});
    assert.doesNotMatch(await metrics(stack), /bridge_upstream_unknown_lines_total/);
  });

  test('a Cloudflare 429 challenge is a challenge, not a rate limit: 503, the tab reloads and serves again', async () => {
    const before = (await stack.status()).tabs[0].tab_id;
    await assert.rejects(ask(stack, [user('[scenario:challenge_429]')], false), (err) => {
      assert.equal(err.status, 503, err.message);
      assert.equal(err.code, 'cloudflare_challenge');
      assert.equal(err.headers.get('x-should-retry'), 'false');
      assert.equal(err.headers.get('retry-after'), null, 'no rate-limit wait is passed on');
      return true;
    });
    const status = await waitForStatus(
      stack,
      (s) => s.tabs.length === 1 && s.tabs[0].tab_id !== before && s.tabs[0].state === 'ready',
      'the reloaded tab ready',
    );
    assert.equal(status.tabs[0].cooldown_secs, null);
    const text = await ask(stack, [user('after the challenge')], false);
    assert.ok(text.includes('after the challenge'), text);
  });

  // Last: the tab cools down for FAKE_RETRY_AFTER seconds.
  test('a 429 with retry-after cools the tab down; meanwhile a request is answered at once without reaching the site', async () => {
    await assert.rejects(ask(stack, [user('[scenario:rate_limit]')], false), (err) => {
      assert.equal(err.status, 429, err.message);
      assert.equal(err.code, 'upstream_rate_limited');
      assert.equal(err.headers.get('retry-after'), String(FAKE_RETRY_AFTER));
      return true;
    });
    const status = await stack.status();
    assert.equal(status.tabs[0].state, 'cooling_down');
    assert.ok(status.tabs[0].cooldown_secs >= 1 && status.tabs[0].cooldown_secs <= FAKE_RETRY_AFTER, JSON.stringify(status.tabs));
    assert.match(await metrics(stack), /^bridge_tabs\{state="cooling_down"\} 1$/m);

    const seen = (await stack.fake.requests()).length;
    for (const stream of [false, true]) {
      await assert.rejects(ask(stack, [user('while cooling down')], stream), (err) => {
        assert.equal(err.status, 429, err.message);
        assert.equal(err.code, 'tabs_cooling_down');
        const retryAfter = Number(err.headers.get('retry-after'));
        assert.ok(retryAfter > QUEUE_TIMEOUT && retryAfter <= FAKE_RETRY_AFTER, `retry-after ${retryAfter}`);
        return true;
      });
    }
    assert.deepEqual(await stack.fake.callsSince(seen), [], 'nothing reached the site during the cooldown');

    await waitForStatus(stack, (s) => s.tabs[0].state === 'ready', 'the cooldown end', (FAKE_RETRY_AFTER + 5) * 1000);
    const text = await ask(stack, [user('after the cooldown')], false);
    assert.ok(text.includes('after the cooldown'), text);
  });
});
