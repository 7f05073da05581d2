"""The official openai Python client against the real browser chain."""

import json
import time
import urllib.request

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


def tab_states(stack):
    with urllib.request.urlopen(f"http://127.0.0.1:{stack['serverPort']}/status") as res:
        return [t["state"] for t in json.load(res)["tabs"]]


def test_rate_limit_raises_rate_limit_error(client, stack):
    with pytest.raises(openai.RateLimitError) as info:
        client.chat.completions.create(
            model=TEXT_MODEL, messages=[{"role": "user", "content": "[scenario:rate_limit]"}]
        )
    assert info.value.status_code == 429
    assert info.value.response.headers["retry-after"] == "7"
    # The tab now cools down for those 7 s; the next tests start after it (a request that
    # waits for a tab gets its SSE head early, so a later error would be an SSE event).
    assert tab_states(stack) == ["cooling_down"]
    deadline = time.monotonic() + 15
    while tab_states(stack) != ["ready"]:
        assert time.monotonic() < deadline, tab_states(stack)
        time.sleep(0.2)


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


WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Current weather of a city",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
        },
    },
}


def run_tool(call):
    assert call.function.name == "get_weather"
    city = json.loads(call.function.arguments)["city"]
    return f"18C and sunny in {city}"


def test_tool_loop_non_streaming(client):
    messages = [{"role": "user", "content": "Weather in Paris? [scenario:tool_call]"}]
    first = client.chat.completions.create(
        model=TEXT_MODEL, tools=[WEATHER_TOOL], messages=messages
    )
    choice = first.choices[0]
    assert choice.finish_reason == "tool_calls"
    call = choice.message.tool_calls[0]
    assert call.id.startswith("call_")
    messages.append(choice.message.model_dump(exclude_none=True))
    messages.append({"role": "tool", "tool_call_id": call.id, "content": run_tool(call)})
    second = client.chat.completions.create(
        model=TEXT_MODEL, tools=[WEATHER_TOOL], messages=messages
    )
    assert second.choices[0].finish_reason == "stop"
    assert "18C and sunny in Paris" in second.choices[0].message.content


def test_tool_loop_streaming(client):
    messages = [{"role": "user", "content": "Weather in Paris? [scenario:tool_call]"}]
    calls, finish = {}, None
    for chunk in client.chat.completions.create(
        model=TEXT_MODEL, tools=[WEATHER_TOOL], messages=messages, stream=True
    ):
        if not chunk.choices:
            continue
        for d in chunk.choices[0].delta.tool_calls or []:
            entry = calls.setdefault(d.index, {"id": None, "name": "", "arguments": ""})
            entry["id"] = d.id or entry["id"]
            entry["name"] += d.function.name or ""
            entry["arguments"] += d.function.arguments or ""
        finish = chunk.choices[0].finish_reason or finish
    assert finish == "tool_calls"
    assert list(calls) == [0]
    call = calls[0]
    assert json.loads(call["arguments"]) == {"city": "Paris"}
    messages.append(
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": call["id"],
                    "type": "function",
                    "function": {"name": call["name"], "arguments": call["arguments"]},
                }
            ],
        }
    )
    messages.append(
        {"role": "tool", "tool_call_id": call["id"], "content": "18C and sunny in Paris"}
    )
    text, finish = "", None
    for chunk in client.chat.completions.create(
        model=TEXT_MODEL, tools=[WEATHER_TOOL], messages=messages, stream=True
    ):
        if chunk.choices:
            text += chunk.choices[0].delta.content or ""
            finish = chunk.choices[0].finish_reason or finish
    assert finish == "stop"
    assert "18C and sunny in Paris" in text
