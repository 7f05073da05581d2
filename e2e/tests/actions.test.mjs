// The userscript's server actions and uploads (issue 14 items 3 and 4), driven by a stand-in
// relay server: action ids come from the page's own JavaScript, only the allowed actions are
// called, and an `upload` PUTs only to a URL that a generateUploadUrl answer named in this tab,
// once.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import { launchBrowser, openTab, startFakeArena, startStandInServer, UPLOAD_HOST } from '../harness/index.mjs';

let fake;
let browser;
let server;
let conn;
let nextId = 1;

before(async () => {
  fake = await startFakeArena({ delayMs: 5 });
  browser = await launchBrowser(fake.port);
  server = await startStandInServer();
  await openTab(browser, { serverUrl: server.url });
  conn = await server.nextConnection();
  await conn.hello;
});

after(async () => {
  await browser?.close();
  await server?.close();
  await fake?.stop();
});

async function step(frame) {
  const id = nextId++;
  conn.send({ ...frame, id });
  for (;;) {
    const result = await conn.nextOfType('action_result');
    if (result.id === id) return result;
  }
}

const PNG_B64 = 'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==';

describe('server actions', () => {
  test('an action that is not on the allow-list is refused without a request', async () => {
    const before = (await fake.requests()).length;
    const r = await step({ type: 'action', name: 'deleteAccount', args: [] });
    assert.equal(r.status, null);
    assert.match(r.message, /refused/);
    assert.deepEqual(await fake.callsSince(before), []);
  });

  test('the upload steps: generateUploadUrl, PUT to that URL only and once, getSignedUrl', async () => {
    const gen = await step({ type: 'action', name: 'generateUploadUrl', args: ['image.png', 'image/png'] });
    assert.equal(gen.status, 200);
    const result = JSON.parse(gen.body.split('\n').find((l) => l.startsWith('1:')).slice(2));
    const { uploadUrl, key } = result.data;
    assert.ok(uploadUrl.startsWith(`https://${UPLOAD_HOST}/put/`), uploadUrl);

    const forged = await step({ type: 'upload', url: `https://${UPLOAD_HOST}/put/other.png`, content_type: 'image/png', data: PNG_B64 });
    assert.equal(forged.status, null);
    assert.match(forged.message, /refused/);

    const put = await step({ type: 'upload', url: uploadUrl, content_type: 'image/png', data: PNG_B64 });
    assert.equal(put.status, 200, put.message ?? '');
    const again = await step({ type: 'upload', url: uploadUrl, content_type: 'image/png', data: PNG_B64 });
    assert.equal(again.status, null, 'each upload URL is used once');

    const signed = await step({ type: 'action', name: 'getSignedUrl', args: [key] });
    assert.equal(signed.status, 200);
    assert.match(signed.body, new RegExp(`"url":"https://${UPLOAD_HOST.replaceAll('.', '\\.')}/get/`));
    const stats = await fake.stats();
    assert.equal(stats.uploads, 1);
  });
});
