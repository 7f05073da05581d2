// Tool calls through the whole chain: the official openai Node client → real bridge-server →
// headless Chromium with the real userscript → fake LMArena, whose `tool_call` scenario
// answers like a model using the bridge's tools (prose, then a <tool_call> split over
// several deltas; after a tool result, an answer quoting it).

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import OpenAI from 'openai';

import { MODEL_NAMES, startStack } from '../harness/stack.mjs';

const TOOLS = [{
  type: 'function',
  function: {
    name: 'get_weather',
    description: 'Current weather of a city',
    parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] },
  },
}];

/** Runs the tool the model asked for. */
function runTool(call) {
  assert.equal(call.function.name, 'get_weather');
  const { city } = JSON.parse(call.function.arguments);
  return `18C and sunny in ${city}`;
}

describe('tool loop with the official Node client', () => {
  let stack;
  before(async () => { stack = await startStack({ tabs: 1 }); });
  after(async () => { await stack?.stop(); });

  const client = () => new OpenAI({ baseURL: stack.baseUrl, apiKey: 'unused', maxRetries: 0 });

  test('non-streaming: call → tool result → final answer', async () => {
    const openai = client();
    const messages = [{ role: 'user', content: 'Weather in Paris? [scenario:tool_call]' }];
    const first = await openai.chat.completions.create({
      model: MODEL_NAMES.text, tools: TOOLS, messages,
    });
    const choice = first.choices[0];
    assert.equal(choice.finish_reason, 'tool_calls');
    assert.equal(choice.message.tool_calls.length, 1);
    const call = choice.message.tool_calls[0];
    assert.match(call.id, /^call_/);
    assert.ok(!(choice.message.content ?? '').includes('tool_call'));
    messages.push(choice.message);
    messages.push({ role: 'tool', tool_call_id: call.id, content: runTool(call) });
    const second = await openai.chat.completions.create({
      model: MODEL_NAMES.text, tools: TOOLS, messages,
    });
    assert.equal(second.choices[0].finish_reason, 'stop');
    assert.match(second.choices[0].message.content, /18C and sunny in Paris/);
  });

  test('streaming: call deltas are accumulated by the client', async () => {
    const openai = client();
    const messages = [{ role: 'user', content: 'Weather in Paris? [scenario:tool_call]' }];
    const runner = openai.chat.completions.stream({
      model: MODEL_NAMES.text, tools: TOOLS, messages, stream_options: { include_usage: true },
    });
    const first = await runner.finalChatCompletion();
    assert.equal(first.choices[0].finish_reason, 'tool_calls');
    const call = first.choices[0].message.tool_calls[0];
    assert.deepEqual(JSON.parse(call.function.arguments), { city: 'Paris' });
    assert.equal(first.usage.estimated, true);
    messages.push(first.choices[0].message);
    messages.push({ role: 'tool', tool_call_id: call.id, content: runTool(call) });
    const stream = await openai.chat.completions.create({
      model: MODEL_NAMES.text, tools: TOOLS, messages, stream: true,
    });
    let text = '';
    let finish = null;
    for await (const chunk of stream) {
      const c = chunk.choices[0];
      if (!c) continue;
      text += c.delta.content ?? '';
      finish = c.finish_reason ?? finish;
    }
    assert.equal(finish, 'stop');
    assert.match(text, /18C and sunny in Paris/);
  });
});
