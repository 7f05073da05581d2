// The real userscript in headless Chromium on the fake https://lmarena.ai, driven by a
// stand-in relay server (protocol v2, DESIGN.md §5). Run: `npm test` in e2e/.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import {
  MODELS, PAGE_MESSAGE_ID, PAGE_SESSION_ID, TITLE_PREFIX, createEvaluationRequest, launchBrowser,
  openTab, retryRequest, startCaptureListener, startFakeArena, startStandInServer, waitForTitle,
} from '../harness/index.mjs';

let fake;
let browser;
let server;
let listener;
let tab; // { page, ... } on https://lmarena.ai/
let conn; // its connection to the stand-in server
let nextJobId = 1;

before(async () => {
  fake = await startFakeArena({ delayMs: 5 });
  browser = await launchBrowser(fake.port);
  server = await startStandInServer();
  listener = await startCaptureListener();
  tab = await openTab(browser, { serverUrl: server.url });
  conn = await server.nextConnection();
  await conn.hello;
});

after(async () => {
  await browser?.close();
  await server?.close();
  await listener?.close();
  await fake?.stop();
});

/** Send a fetch job on `c` and collect its frames. */
async function runJob(c, request, extra = {}) {
  const id = nextJobId++;
  c.send({ type: 'fetch', id, request, recaptcha: null, ...extra });
  return { id, ...(await c.collectJob(id)) };
}

/** The fake's record of the upstream request whose body contains `marker`. */
async function recordedWith(marker) {
  const all = await fake.requests();
  const found = all.filter((r) => JSON.stringify(r.body ?? r.body_text ?? '').includes(marker));
  assert.equal(found.length, 1, `expected one upstream request carrying ${marker}, got ${found.length}`);
  return found[0];
}

describe('connection', () => {
  test('hello comes first with protocol 2, a tab id, the client and the page', async () => {
    const hello = await conn.hello;
    assert.equal(hello.protocol, 2);
    assert.match(hello.tab_id, /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    assert.equal(hello.client, 'LMArenaApiBridge/0.1.0');
    assert.equal(hello.page, 'https://lmarena.ai/');
    assert.equal(conn.origin, 'https://lmarena.ai');
  });

  test('ping gets pong, and malformed frames are ignored without dropping the socket', async () => {
    conn.send('this is not json');
    conn.send({ type: 42 });
    conn.send({ no_type: true });
    conn.send({ type: 'fetch' }); // no id, no request
    conn.send({ type: 'abort', id: 999999 }); // unknown job
    conn.send({ type: 'ping' });
    const pong = await conn.nextOfType('pong');
    assert.deepEqual(pong, { type: 'pong' });
  });

  test('title shows connected, and keeps the prefix when the page changes its title', async () => {
    await waitForTitle(tab.page, (t) => t === `${TITLE_PREFIX.connected}LMArena`);
    await tab.page.evaluate(() => { document.title = 'Chat with models'; });
    await waitForTitle(tab.page, (t) => t === `${TITLE_PREFIX.connected}Chat with models`);
  });
});

describe('fetch jobs', () => {
  test('text scenario: response, chunks equal to the transcript byte for byte, done', async () => {
    const marker = `m-${crypto.randomUUID()}`;
    const job = await runJob(conn, retryRequest({ content: `你好 ${marker} [scenario:text]` }));
    assert.equal(job.response.status, 200);
    assert.equal(job.response.headers['content-type'], 'text/event-stream');
    assert.equal(job.response.headers.ratelimit, 'limit=3000, remaining=2987, reset=39');
    assert.equal(job.end.type, 'done');
    const record = await recordedWith(marker);
    assert.equal(record.status, 200);
    assert.equal(record.has_auth_cookie, true, 'page cookies must go with the request');
    assert.equal(record.origin, 'https://lmarena.ai');
    assert.equal(job.text, record.transcript);
    assert.ok(job.text.startsWith('a0:"你好，世界 👋🏽 "\n'));
    assert.ok(!job.text.includes('\uFFFD'), 'a split character was decoded into U+FFFD');
    assert.ok(job.chunks.length > 3, `expected many network reads, got ${job.chunks.length}`);
  });

  test('the fake really splits characters across reads (a per-read decoder breaks them)', async () => {
    const req = retryRequest({ content: 'naive [scenario:text]' });
    const naive = await tab.page.evaluate(async (r) => {
      const res = await fetch(r.path, { method: r.method, headers: r.headers, body: r.body });
      const reader = res.body.getReader();
      let text = '';
      let reads = 0;
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        reads += 1;
        text += new TextDecoder().decode(value); // the original script's bug
      }
      return { text, reads };
    }, req);
    assert.ok(naive.reads > 3);
    assert.ok(naive.text.includes('\uFFFD'), 'writes were coalesced: the split test above proves nothing');
  });

  test('429: response head with Retry-After, then an error with status and body', async () => {
    const job = await runJob(conn, retryRequest({ content: 'limit me [scenario:rate_limit]' }));
    assert.equal(job.response.status, 429);
    assert.equal(job.response.headers['retry-after'], '7');
    assert.equal(job.end.type, 'error');
    assert.equal(job.end.status, 429);
    assert.deepEqual(JSON.parse(job.end.body), { error: 'Too Many Requests', message: 'Too Many Requests' });
    assert.equal(job.chunks.length, 0);
  });

  test('challenge page: error body is the first 4 KiB of the HTML', async () => {
    const job = await runJob(conn, retryRequest({ content: 'cf [scenario:challenge]' }));
    assert.equal(job.end.type, 'error');
    assert.equal(job.end.status, 403);
    assert.equal(job.response.headers['content-type'], 'text/html; charset=UTF-8');
    assert.equal(job.response.headers['cf-mitigated'], 'challenge');
    assert.ok(job.end.body.includes('<title>Just a moment...</title>'));
    assert.equal(new TextEncoder().encode(job.end.body).length, 4096);
  });

  test('a body the fake rejects comes back as 400 Invalid content', async () => {
    const req = retryRequest({ content: 'x' });
    req.body = JSON.stringify({ messages: [], modelId: null });
    const job = await runJob(conn, req);
    assert.equal(job.end.type, 'error');
    assert.equal(job.end.status, 400);
    assert.deepEqual(JSON.parse(job.end.body), { error: 'Invalid content' });
  });

  test('paths outside same-origin /nextjs-api/ and /api/ are refused and never fetched', async () => {
    const bad = ['/other/secret-1', '//evil.example/nextjs-api/x', 'https://evil.example/nextjs-api/x',
      '/nextjs-api/../secret-2', 'nextjs-api/relative', '/\\evil.example/nextjs-api/x'];
    for (const path of bad) {
      const job = await runJob(conn, { path, method: 'GET', headers: {}, body: '' });
      assert.equal(job.response, null, path);
      assert.equal(job.end.type, 'error', path);
      assert.equal(job.end.status, null, path);
      assert.match(job.end.message, /only fetches same-origin paths/, path);
    }
    // A good job after them: anything the bad ones fetched would have arrived before it.
    const marker = `m-${crypto.randomUUID()}`;
    const good = await runJob(conn, retryRequest({ content: `${marker} [scenario:text]` }));
    assert.equal(good.end.type, 'done');
    const paths = (await fake.requests()).map((r) => r.path);
    assert.ok(!paths.some((p) => p.includes('secret') || p.includes('relative') || p.includes('evil')), paths.join(' '));
  });

  test('abort: the upstream stream is cancelled and the job ends with status null', async () => {
    const initial = await fake.stats();
    const id = nextJobId++;
    conn.send({ type: 'fetch', id, request: retryRequest({ content: 'slowly [scenario:slow]' }), recaptcha: null });
    const response = await conn.next((f) => f.id === id && f.type === 'response');
    assert.equal(response.status, 200);
    await conn.next((f) => f.id === id && f.type === 'chunk');
    conn.send({ type: 'abort', id });
    const end = await conn.next((f) => f.id === id && (f.type === 'error' || f.type === 'done'));
    assert.equal(end.type, 'error');
    assert.equal(end.status, null);
    assert.match(end.message, /abort/);
    const stats = await fake.waitFor('aborted_streams', initial.aborted_streams + 1, 5000);
    assert.equal(stats.aborted_streams, initial.aborted_streams + 1);
  });
});

/** Runs `fn(tab, connection)` on a new tab whose page has no reCAPTCHA, then closes it. */
async function withPlainTab(fn) {
  const plain = await openTab(browser, { serverUrl: server.url, path: '/?recaptcha=0' });
  try {
    const c = await server.nextConnection();
    await c.hello;
    await fn(plain, c);
  } finally {
    await plain.close();
  }
}

describe('reCAPTCHA jobs', () => {
  test('a token minted in the page goes into the named body field', async () => {
    const marker = `m-${crypto.randomUUID()}`;
    const job = await runJob(conn, createEvaluationRequest({ content: `${marker} [scenario:reasoning]` }), {
      recaptcha: { action: 'chat_submit', field: 'recaptchaV3Token' },
    });
    assert.equal(job.end.type, 'done', JSON.stringify(job.end));
    assert.ok(job.text.startsWith('ag:'));
    const record = await recordedWith(marker);
    assert.match(record.body.recaptchaV3Token, /^fake-recaptcha-/);
    assert.equal(record.status, 200);
  });

  test('a rejected token is reported as the upstream 403', async () => {
    await fake.rejectNextRecaptcha(1);
    const job = await runJob(conn, createEvaluationRequest({ content: 'hi' }), {
      recaptcha: { action: 'chat_submit', field: 'recaptchaV3Token' },
    });
    assert.equal(job.end.status, 403);
    assert.deepEqual(JSON.parse(job.end.body), { error: 'recaptcha validation failed' });
  });

  test('on a page without reCAPTCHA and no key from the server the job fails clearly, nothing is sent', async () => {
    await withPlainTab(async (plain, c) => {
      const marker = `m-${crypto.randomUUID()}`;
      const job = await runJob(c, createEvaluationRequest({ content: marker }), {
        recaptcha: { action: 'chat_submit', field: 'recaptchaV3Token' },
      });
      assert.equal(job.end.type, 'error');
      assert.equal(job.end.status, null);
      assert.match(job.end.message, /no reCAPTCHA site key/);
      const all = await fake.requests();
      assert.ok(!all.some((r) => JSON.stringify(r.body ?? '').includes(marker)));
    });
  });

  test('a fresh tab without reCAPTCHA loads enterprise.js itself once; every request gets a fresh token', async () => {
    await withPlainTab(async (plain, c) => {
      assert.equal(await plain.page.evaluate(() => typeof window.grecaptcha), 'undefined');
      const spec = { action: 'chat_submit', field: 'recaptchaV3Token', site_key: fake.siteKey };
      const tokens = [];
      for (let i = 0; i < 2; i += 1) {
        const marker = `m-${crypto.randomUUID()}`;
        const job = await runJob(c, createEvaluationRequest({ content: `${marker} [scenario:text]` }), { recaptcha: spec });
        assert.equal(job.end.type, 'done', JSON.stringify(job.end));
        const record = await recordedWith(marker);
        assert.equal(record.status, 200, record.rejection);
        tokens.push(record.body.recaptchaV3Token);
      }
      assert.notEqual(tokens[0], tokens[1], 'a token is never reused');
      const scripts = await plain.page.evaluate(() => [...document.scripts].map((s) => s.src).filter((s) => s.includes('recaptcha')));
      assert.deepEqual(scripts, [`https://www.google.com/recaptcha/enterprise.js?render=${fake.siteKey}`]);
      // Nothing about tokens or bodies in the console.
      assert.ok(!plain.consoleLines.some((l) => tokens.some((t) => l.includes(t))));
    });
  });

  test('a wrong key from the server is a clear error, not a hang', async () => {
    await withPlainTab(async (plain, c) => {
      const job = await runJob(c, createEvaluationRequest({ content: 'wrong key' }), {
        recaptcha: { action: 'chat_submit', field: 'recaptchaV3Token', site_key: '6LwrongKey-000000000' },
      });
      assert.equal(job.end.type, 'error');
      assert.match(job.end.message, /reCAPTCHA failed to mint a token/);
    });
  });

  const V2 = {
    site_key: '6Le3_cYsAAAAAGwWOK2RLDgNI15Bh8C0yLBOL1yL',
    field: 'recaptchaV2Token',
    prompt: 'lmarena-bridge needs you to tick this box',
  };

  test('v2: the overlay shows the sentence and the checkbox; ticking it sends the body with both tokens', async () => {
    const marker = `m-${crypto.randomUUID()}`;
    const id = nextJobId++;
    conn.send({
      type: 'fetch', id, request: createEvaluationRequest({ content: `${marker} [scenario:text]` }),
      recaptcha: { action: 'chat_submit', field: 'recaptchaV3Token', site_key: fake.siteKey, v2: V2 },
    });
    const overlay = tab.page.locator('[data-lmarena-bridge-overlay]');
    await overlay.waitFor({ state: 'visible', timeout: 10000 });
    assert.equal((await overlay.locator('p').textContent()), V2.prompt);
    assert.equal(await tab.page.locator('[data-lmarena-bridge-overlay]').count(), 1);
    // Nothing is sent before a person ticks the box.
    assert.ok(!(await fake.requests()).some((r) => JSON.stringify(r.body ?? '').includes(marker)));
    await overlay.locator('.fake-recaptcha-checkbox').click();
    const job = await conn.collectJob(id);
    assert.equal(job.end.type, 'done', JSON.stringify(job.end));
    const record = await recordedWith(marker);
    assert.equal(record.status, 200, record.rejection);
    assert.match(record.body.recaptchaV2Token, /^fake-recaptcha-/);
    assert.match(record.body.recaptchaV3Token, /^fake-recaptcha-/);
    assert.equal(await tab.page.locator('[data-lmarena-bridge-overlay]').count(), 0);
  });

  test('v2: an abort removes the overlay and nothing is sent; a second v2 job in the tab is refused', async () => {
    const marker = `m-${crypto.randomUUID()}`;
    const id = nextJobId++;
    const spec = { action: 'chat_submit', field: 'recaptchaV3Token', site_key: fake.siteKey, v2: V2 };
    conn.send({ type: 'fetch', id, request: createEvaluationRequest({ content: marker }), recaptcha: spec });
    const overlay = tab.page.locator('[data-lmarena-bridge-overlay]');
    await overlay.waitFor({ state: 'visible', timeout: 10000 });
    const second = await runJob(conn, createEvaluationRequest({ content: `${marker}-2` }), { recaptcha: spec });
    assert.equal(second.end.type, 'error');
    assert.match(second.end.message, /already waiting/);
    assert.equal(await tab.page.locator('[data-lmarena-bridge-overlay]').count(), 1);
    conn.send({ type: 'abort', id });
    const job = await conn.collectJob(id);
    assert.equal(job.end.type, 'error');
    assert.match(job.end.message, /aborted/);
    assert.equal(await tab.page.locator('[data-lmarena-bridge-overlay]').count(), 0);
    assert.ok(!(await fake.requests()).some((r) => JSON.stringify(r.body ?? '').includes(marker)));
  });

  test('works the same on https://arena.ai', async () => {
    const arena = await openTab(browser, { serverUrl: server.url, host: 'arena.ai' });
    try {
      const c = await server.nextConnection();
      const hello = await c.hello;
      assert.equal(hello.page, 'https://arena.ai/');
      assert.equal(c.origin, 'https://arena.ai');
      const marker = `m-${crypto.randomUUID()}`;
      const job = await runJob(c, createEvaluationRequest({ content: `${marker} [scenario:text]` }), {
        recaptcha: { action: 'chat_submit', field: 'recaptchaV3Token' },
      });
      assert.equal(job.end.type, 'done', JSON.stringify(job.end));
      const record = await recordedWith(marker);
      assert.equal(record.origin, 'https://arena.ai');
      assert.equal(job.text, record.transcript);
    } finally {
      await arena.close();
    }
  });
});

describe('commands', () => {
  test('send_page_source returns the page HTML with the model list', async () => {
    conn.send({ type: 'command', command: 'send_page_source', id: 7001 });
    const frame = await conn.nextOfType('page_source');
    assert.equal(frame.id, 7001);
    assert.ok(frame.html.includes('initialModels'));
    assert.ok(frame.html.includes('self.__next_f.push'));
  });

  test('id capture: the page\'s own retry request is reported once; bridge requests are not', async () => {
    conn.send({ type: 'command', command: 'activate_id_capture', report_to: listener.url });
    await waitForTitle(tab.page, (t) => t.startsWith(TITLE_PREFIX.capturing));
    // The bridge's own request to the retry endpoint must not trigger the capture.
    const own = await runJob(conn, retryRequest({ sessionId: 'bridge-session', messageId: 'bridge-message', content: 'x' }));
    assert.equal(own.end.type, 'done');
    assert.ok((await tab.page.title()).startsWith(TITLE_PREFIX.capturing));

    const result = await tab.page.evaluate(([s, m]) => window.fakeArena.retry(s, m), [PAGE_SESSION_ID, PAGE_MESSAGE_ID]);
    assert.equal(result.status, 200, 'the page\'s own request must pass through the hook untouched');
    assert.ok(result.text.includes('你好，世界'));
    const post = await listener.nextPost();
    assert.deepEqual(JSON.parse(post.body), { sessionId: PAGE_SESSION_ID, messageId: PAGE_MESSAGE_ID });
    assert.equal(post.origin, 'https://lmarena.ai');
    await waitForTitle(tab.page, (t) => t.startsWith(TITLE_PREFIX.connected));

    // One shot: a second page retry is not reported. A new capture reports the next one.
    await tab.page.evaluate(([s]) => window.fakeArena.retry(s, 'second-message'), [PAGE_SESSION_ID]);
    conn.send({ type: 'command', command: 'activate_id_capture', report_to: listener.url });
    await waitForTitle(tab.page, (t) => t.startsWith(TITLE_PREFIX.capturing));
    await tab.page.click('#retry');
    const next = await listener.nextPost();
    assert.deepEqual(JSON.parse(next.body), { sessionId: PAGE_SESSION_ID, messageId: PAGE_MESSAGE_ID });
    assert.equal(listener.received.length, 0);
  });

  test('id capture refuses a report_to that is not loopback', async () => {
    const probe = 'https://lmarena.ai/__capture-probe';
    conn.send({ type: 'command', command: 'activate_id_capture', id: 7002, report_to: probe });
    const err = await conn.nextOfType('error');
    assert.equal(err.id, 7002);
    assert.match(err.message, /loopback/);
    assert.ok((await tab.page.title()).startsWith(TITLE_PREFIX.connected));
    await tab.page.evaluate(([s]) => window.fakeArena.retry(s, 'probe-message'), [PAGE_SESSION_ID]);
    // Arm a valid capture and let it report: an earlier report would have been sent first.
    conn.send({ type: 'command', command: 'activate_id_capture', report_to: listener.url });
    await waitForTitle(tab.page, (t) => t.startsWith(TITLE_PREFIX.capturing));
    await tab.page.evaluate(([s]) => window.fakeArena.retry(s, 'after-probe'), [PAGE_SESSION_ID]);
    assert.equal(JSON.parse((await listener.nextPost()).body).messageId, 'after-probe');
    const paths = (await fake.requests()).map((r) => r.path);
    assert.ok(!paths.includes('/__capture-probe'));
  });
});

describe('reconnect and refresh', () => {
  test('after the server closes the socket the tab shows disconnected, then reconnects', async () => {
    const oldTabId = (await conn.hello).tab_id;
    const closing = conn.close(1001);
    await closing;
    await waitForTitle(tab.page, (t) => t.startsWith(TITLE_PREFIX.disconnected), 3000);
    const started = Date.now();
    conn = await server.nextConnection(5000);
    const hello = await conn.hello;
    assert.equal(hello.tab_id, oldTabId, 'same page load, same tab id');
    assert.ok(Date.now() - started < 3000);
    await waitForTitle(tab.page, (t) => t.startsWith(TITLE_PREFIX.connected));
    conn.send({ type: 'ping' });
    await conn.nextOfType('pong');
  });

  test('refresh reloads the page, which connects again with a new tab id', async () => {
    const oldTabId = (await conn.hello).tab_id;
    conn.send({ type: 'command', command: 'refresh' });
    conn = await server.nextConnection();
    const hello = await conn.hello;
    assert.notEqual(hello.tab_id, oldTabId);
  });
});

describe('console', () => {
  test('request and response bodies never reach the console', async () => {
    const text = tab.consoleLines.join('\n');
    assert.ok(text.includes('[LMArena Bridge]'), 'the script logs frame types and ids');
    for (const secret of ['你好', 'Too Many Requests', 'initialModels', 'Just a moment', 'scenario:']) {
      assert.ok(!text.includes(secret), `console shows ${secret}`);
    }
  });
});
