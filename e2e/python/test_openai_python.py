"""The official openai Python client against the real browser chain."""

import openai
import pytest
from openai import OpenAI

TEXT_MODEL = "gemini-2.5-pro"


@pytest.fixture()
def client(stack):
    return OpenAI(base_url=stack["baseUrl"], api_key="unused", max_retries=0)


def test_streaming_chat(client):
    stream = client.chat.completions.create(
        model=TEXT_MODEL,
        stream=True,
        messages=[{"role": "user", "content": "python stream ünïcödé"}],
    )
    parts, roles, finish, ids = [], [], None, set()
    for chunk in stream:
        ids.add(chunk.id)
        if not chunk.choices:
            continue
        delta = chunk.choices[0].delta
        if delta.role:
            roles.append(delta.role)
        parts.append(delta.content or "")
        finish = chunk.choices[0].finish_reason or finish
    text = "".join(parts)
    assert text.startswith("你好，世界 👋🏽")
    assert "python stream ünïcödé" in text
    assert "\ufffd" not in text
    assert roles == ["assistant"]
    assert finish == "stop"
    assert len(ids) == 1


def test_non_streaming_chat(client):
    res = client.chat.completions.create(
        model=TEXT_MODEL,
        messages=[
            {"role": "developer", "content": "be nice"},
            {"role": "user", "content": "python non-stream"},
        ],
    )
    assert res.object == "chat.completion"
    assert "python non-stream" in res.choices[0].message.content
    assert res.choices[0].finish_reason == "stop"
    assert res.usage is not None and res.usage.completion_tokens > 0


def test_models_list(client):
    ids = [m.id for m in client.models.list()]
    assert ids == [TEXT_MODEL, "gpt-image-1", "grok-4-search"]


def test_rate_limit_raises_rate_limit_error(client):
    with pytest.raises(openai.RateLimitError) as info:
        client.chat.completions.create(
            model=TEXT_MODEL, messages=[{"role": "user", "content": "[scenario:rate_limit]"}]
        )
    assert info.value.status_code == 429
    assert info.value.response.headers["retry-after"] == "7"


def test_unknown_model_raises_not_found(client):
    with pytest.raises(openai.NotFoundError) as info:
        client.chat.completions.create(
            model="no-such-model", messages=[{"role": "user", "content": "x"}]
        )
    assert info.value.code == "model_not_found"


def test_upstream_error_in_a_stream_is_raised_never_text(client):
    with pytest.raises(openai.InternalServerError) as info:
        stream = client.chat.completions.create(
            model=TEXT_MODEL,
            stream=True,
            messages=[{"role": "user", "content": "[scenario:inband_error]"}],
        )
        for _chunk in stream:
            pass
    assert info.value.status_code == 502
    assert "overloaded" in str(info.value)
