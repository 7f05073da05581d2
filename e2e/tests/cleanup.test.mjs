// End-to-end, `evaluation_cleanup` (issue 14 item 4): the real userscript finds the
// `deleteEvaluationSession` server action in the fake site's JavaScript chunk and deletes the
// bridge's conversations from the person's history; a new deployment of the site (new action
// ids) mid-run is picked up after one 404.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import OpenAI from 'openai';

import { MODEL_NAMES, startStack } from '../harness/stack.mjs';

function client(stack) {
  return new OpenAI({ baseURL: stack.baseUrl, apiKey: 'unused', maxRetries: 0 });
}

async function ask(stack, text) {
  const res = await client(stack).chat.completions.create({
    model: MODEL_NAMES.text,
    messages: [{ role: 'user', content: text }],
  });
  assert.ok(res.choices[0].message.content.includes(text));
}

/** Polls /status until `pred` holds (deletions run after the answer). */
async function statusUntil(stack, pred, ms = 10000) {
  const end = Date.now() + ms;
  let status;
  do {
    status = await stack.status();
    if (pred(status.evaluation_cleanup)) return status.evaluation_cleanup;
    await new Promise((r) => setTimeout(r, 50));
  } while (Date.now() < end);
  assert.fail(`cleanup counts never matched: ${JSON.stringify(status.evaluation_cleanup)}`);
}

describe('evaluation_cleanup: delete_after_answer', () => {
  let stack;
  before(async () => {
    stack = await startStack({ flow: 'evaluation', extra: { evaluation_cleanup: 'delete_after_answer' } });
  });
  after(async () => { await stack?.stop(); });

  test('the history is empty after a conversation', async () => {
    await ask(stack, 'first to delete');
    await ask(stack, 'second to delete');
    const counts = await statusUntil(stack, (c) => c.deleted === 2);
    assert.equal(counts.failed, 0);
    const history = await stack.fake.history();
    assert.deepEqual(history.evaluations, []);
    assert.equal(history.deleted.length, 2);
  });

  test('a new deployment mid-run: the old id answers 404, the ids are read again once', async () => {
    await stack.fake.deploy();
    await ask(stack, 'after the deployment');
    const counts = await statusUntil(stack, (c) => c.deleted === 3);
    assert.equal(counts.failed, 0);
    assert.deepEqual((await stack.fake.history()).evaluations, []);
    const actionPosts = (await stack.fake.requests()).filter((r) => r.method === 'POST' && r.path === '/');
    assert.equal(actionPosts.at(-2).status, 404, 'the stale id was tried first');
    assert.equal(actionPosts.at(-1).status, 200);
  });
});

describe('evaluation_cleanup: keep and delete_on_evict', () => {
  test('keep leaves every conversation in the history', async () => {
    const stack = await startStack({ flow: 'evaluation' });
    try {
      await ask(stack, 'kept one');
      await ask(stack, 'kept two');
      assert.equal((await stack.fake.history()).evaluations.length, 2);
      const counts = (await stack.status()).evaluation_cleanup;
      assert.equal(counts.mode, 'keep');
      assert.equal(counts.deleted, 0);
    } finally {
      await stack.stop();
    }
  });

  test('delete_on_evict deletes what leaves the memory', async () => {
    const stack = await startStack({
      flow: 'evaluation', extra: { evaluation_cleanup: 'delete_on_evict', evaluation_history_size: 1 },
    });
    try {
      await ask(stack, 'evicted later');
      await ask(stack, 'remembered');
      await statusUntil(stack, (c) => c.deleted === 1);
      const history = await stack.fake.history();
      assert.equal(history.evaluations.length, 1);
      assert.equal(history.deleted.length, 1);
    } finally {
      await stack.stop();
    }
  });
});
