"""The official anthropic and openai Python clients on the translated APIs (/v1/messages and
/v1/responses) through the real browser chain."""

import anthropic
import pytest
from openai import OpenAI

TEXT_MODEL = "gemini-2.5-pro"
# The fake LMArena answers with this, then the prompt it was sent.
GREETING = "你好，世界 👋🏽"


@pytest.fixture()
def claude(stack):
    # The Anthropic client adds /v1/messages itself.
    root = stack["baseUrl"].removesuffix("/v1")
    return anthropic.Anthropic(base_url=root, api_key="unused", max_retries=0)


@pytest.fixture()
def client(stack):
    return OpenAI(base_url=stack["baseUrl"], api_key="unused", max_retries=0)


def test_anthropic_streamed_message(claude):
    with claude.messages.stream(
        model=TEXT_MODEL,
        max_tokens=300,
        system="be nice",
        messages=[{"role": "user", "content": "anthropic stream ünïcödé"}],
    ) as stream:
        text = "".join(stream.text_stream)
        final = stream.get_final_message()
    assert text.startswith(GREETING)
    assert "anthropic stream ünïcödé" in text
    assert "\ufffd" not in text
    assert final.role == "assistant"
    assert final.stop_reason == "end_turn"
    assert final.content[0].type == "text" and final.content[0].text == text
    assert final.usage.output_tokens > 0


def test_anthropic_message_with_history_and_stop_sequence(claude):
    msg = claude.messages.create(
        model=TEXT_MODEL,
        max_tokens=300,
        stop_sequences=["STOPHERE"],
        messages=[
            {"role": "user", "content": "first turn"},
            {"role": "assistant", "content": [{"type": "text", "text": "first answer"}]},
            {"role": "user", "content": [{"type": "text", "text": "say it STOPHERE and more"}]},
        ],
    )
    assert msg.type == "message"
    assert msg.id.startswith("msg_")
    assert msg.stop_reason == "stop_sequence"
    assert msg.stop_sequence == "STOPHERE"
    text = msg.content[0].text
    assert text.startswith(GREETING) and "say it " in text and "STOPHERE" not in text


def test_anthropic_unknown_model_is_not_found(claude):
    with pytest.raises(anthropic.NotFoundError) as info:
        claude.messages.create(
            model="no-such-model", max_tokens=10, messages=[{"role": "user", "content": "x"}]
        )
    assert info.value.body["error"]["type"] == "not_found_error"


def test_responses_create_and_continue(client):
    # No `instructions`: they are not carried over to a response that names this one as
    # previous_response_id (OpenAI's rule), so the second request's history would not be the
    # conversation LMArena holds and the evaluation flow would start a new one.
    first = client.responses.create(model=TEXT_MODEL, input="responses first ünïcödé")
    assert first.object == "response"
    assert first.status == "completed"
    assert first.output_text.startswith(GREETING)
    assert "responses first ünïcödé" in first.output_text
    assert first.usage.output_tokens > 0
    second = client.responses.create(
        model=TEXT_MODEL, input="responses second", previous_response_id=first.id
    )
    assert second.previous_response_id == first.id
    assert second.status == "completed"
    # The evaluation flow continues the conversation it created for the first response, so
    # only the new input goes upstream (the fake echoes the last user message).
    assert "responses second" in second.output_text
    assert "responses first" not in second.output_text


def test_responses_stream(client):
    events = list(
        client.responses.create(
            model=TEXT_MODEL,
            input=[{"role": "user", "content": [{"type": "input_text", "text": "responses stream"}]}],
            stream=True,
        )
    )
    types = [e.type for e in events]
    assert types[:4] == [
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.content_part.added",
    ]
    assert types[-1] == "response.completed"
    assert [e.sequence_number for e in events] == list(range(len(events)))
    text = "".join(e.delta for e in events if e.type == "response.output_text.delta")
    assert "responses stream" in text
    assert events[-1].response.output_text == text


def test_responses_unknown_previous_id_is_400(client):
    import openai

    with pytest.raises(openai.BadRequestError) as info:
        client.responses.create(model=TEXT_MODEL, input="x", previous_response_id="resp_nope")
    assert info.value.code == "previous_response_not_found"


WEATHER_SCHEMA = {
    "type": "object",
    "properties": {"city": {"type": "string"}},
    "required": ["city"],
}


def test_anthropic_tool_loop(claude):
    tools = [{"name": "get_weather", "description": "Current weather of a city", "input_schema": WEATHER_SCHEMA}]
    messages = [{"role": "user", "content": "Weather in Paris? [scenario:tool_call]"}]
    first = claude.messages.create(model=TEXT_MODEL, max_tokens=300, tools=tools, messages=messages)
    assert first.stop_reason == "tool_use"
    uses = [b for b in first.content if b.type == "tool_use"]
    assert len(uses) == 1 and uses[0].name == "get_weather"
    assert uses[0].input == {"city": "Paris"}
    messages.append({"role": "assistant", "content": [b.model_dump(exclude_none=True) for b in first.content]})
    messages.append(
        {
            "role": "user",
            "content": [{"type": "tool_result", "tool_use_id": uses[0].id, "content": "18C and sunny in Paris"}],
        }
    )
    with claude.messages.stream(model=TEXT_MODEL, max_tokens=300, tools=tools, messages=messages) as stream:
        text = "".join(stream.text_stream)
        final = stream.get_final_message()
    assert final.stop_reason == "end_turn"
    assert "18C and sunny in Paris" in text


def test_responses_call_with_a_tool(client):
    tools = [{"type": "function", "name": "get_weather", "description": "Current weather of a city", "parameters": WEATHER_SCHEMA}]
    first = client.responses.create(model=TEXT_MODEL, input="Weather in Paris? [scenario:tool_call]", tools=tools)
    calls = [item for item in first.output if item.type == "function_call"]
    assert len(calls) == 1 and calls[0].name == "get_weather"
    assert calls[0].arguments.replace(" ", "") == '{"city":"Paris"}'
    second = client.responses.create(
        model=TEXT_MODEL,
        previous_response_id=first.id,
        tools=tools,
        input=[{"type": "function_call_output", "call_id": calls[0].call_id, "output": "18C and sunny in Paris"}],
    )
    assert second.status == "completed"
    assert "18C and sunny in Paris" in second.output_text
