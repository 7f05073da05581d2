"""The official openai Python client in the default flow: the stack's config names no flow and
no captured ids (as the shipped config), so the server uses `evaluation`; each chat, streamed
and not, must reach the fake arena.ai as a `direct-battle` create-evaluation with a fresh
reCAPTCHA token minted in the page."""

import http.client
import json
import ssl
import urllib.request
import uuid

import pytest
from openai import OpenAI

TEXT_MODEL = "gemini-2.5-pro"
CREATE_PATH = "/nextjs-api/stream/create-evaluation"


@pytest.fixture()
def client(stack):
    return OpenAI(base_url=stack["baseUrl"], api_key="unused", max_retries=0)


def server_status(stack):
    with urllib.request.urlopen(f"http://127.0.0.1:{stack['serverPort']}/status") as res:
        return json.load(res)


def fake_requests(stack):
    """What the fake LMArena received (its control endpoint, over its self-signed HTTPS)."""
    context = ssl.create_default_context(cadata=stack["fakeCertPem"])
    # The certificate names the LMArena hosts, not 127.0.0.1; the CA is still checked.
    context.check_hostname = False
    conn = http.client.HTTPSConnection("127.0.0.1", stack["fakePort"], context=context)
    try:
        conn.request("GET", "/__fake/requests")
        res = conn.getresponse()
        assert res.status == 200
        return json.loads(res.read())
    finally:
        conn.close()


def upstream_request_with(stack, marker):
    found = [
        r
        for r in fake_requests(stack)
        if ((r.get("body") or {}).get("userMessage") or {}).get("content") == marker
    ]
    assert len(found) == 1, found
    return found[0]


def test_the_default_flow_is_evaluation(stack):
    assert server_status(stack)["flow"] == "evaluation"


@pytest.mark.parametrize("stream", [False, True])
def test_chat_in_the_default_flow(client, stack, stream):
    marker = f"default flow {uuid.uuid4()}"
    res = client.chat.completions.create(
        model=TEXT_MODEL, stream=stream, messages=[{"role": "user", "content": marker}]
    )
    if stream:
        text = "".join((c.choices[0].delta.content or "") for c in res if c.choices)
    else:
        assert res.choices[0].finish_reason == "stop"
        text = res.choices[0].message.content
    assert marker in text
    upstream = upstream_request_with(stack, marker)
    assert upstream["path"] == CREATE_PATH
    assert upstream["status"] == 200, upstream.get("rejection")
    assert upstream["body"]["mode"] == "direct-battle"
    assert isinstance(upstream["body"]["recaptchaV3Token"], str)
