"""Drives a running `twake-ai serve` with the official `openai` Python client.

Run by crates/twake-ai/tests/openai_client.rs, which starts the server with
the real models and passes TWAKE_AI_URL and TWAKE_AI_KEY.
"""
import json
import os
import sys
import traceback

import openai

URL = os.environ["TWAKE_AI_URL"] + "/v1"
KEY = os.environ["TWAKE_AI_KEY"]
client = openai.OpenAI(base_url=URL, api_key=KEY, max_retries=0, timeout=300)
RAW = "qwen2.5-coder-1.5b-instruct-q4_k_m"
EMBED = "multilingual-e5-small-q4_0"


def test_models_list():
    ids = [m.id for m in client.models.list()]
    assert ids == ["twake-ai", RAW, EMBED], ids


def test_assistant_answers_with_citations():
    r = client.chat.completions.create(
        model="twake-ai",
        messages=[{"role": "user", "content": "Quand a lieu la bascule du datacenter de Lyon ?"}],
    )
    text = r.choices[0].message.content
    assert "14 mars" in text, text
    assert "[1]" in text, text
    assert r.choices[0].finish_reason == "stop"
    citations = r.model_extra["citations"]
    assert any(c["path"].endswith(".mbox") for c in citations), citations
    assert all(f"[{c['n']}]" in text for c in citations), (text, citations)
    assert r.usage.prompt_tokens > 100 and r.usage.completion_tokens > 0


def test_assistant_streams_its_sources_first():
    stream = client.chat.completions.create(
        model="twake-ai",
        messages=[{"role": "user", "content": "When will the network switches be delivered?"}],
        stream=True,
    )
    sources, text, citations = None, "", None
    for chunk in stream:
        extra = chunk.model_extra or {}
        if "sources" in extra:
            assert text == "", "the sources come before any text"
            sources = extra["sources"]
        for c in chunk.choices:
            text += c.delta.content or ""
        if extra.get("citations") is not None:
            citations = extra["citations"]
    assert sources and all(s["path"] and s["title"] for s in sources), sources
    assert citations, text
    for c in citations:
        # [n] is the n-th source of the first chunk.
        assert sources[c["n"] - 1]["chunk_id"] == c["chunk_id"], (sources, citations)


def test_assistant_runs_a_translation_tool_streamed():
    stream = client.chat.completions.create(
        model="twake-ai",
        messages=[{"role": "user", "content": "Traduis en anglais : Alice Martin confirme le budget de 12500 euros pour Lyon."}],
        stream=True,
        stream_options={"include_usage": True},
    )
    pieces, usage, tool = [], None, None
    for chunk in stream:
        if chunk.usage is not None:
            usage = chunk.usage
        if (chunk.model_extra or {}).get("tool"):
            tool = chunk.model_extra["tool"]
        for c in chunk.choices:
            if c.delta.content:
                pieces.append(c.delta.content)
    text = "".join(pieces)
    assert "Alice Martin" in text and "12500" in text, text
    assert tool["name"] == "translate" and tool["arguments"]["to"] == "en", tool
    assert tool["result"]["lang"] == "en" and tool["result"]["missing"] == [], tool
    assert usage.prompt_tokens > 0 and usage.completion_tokens > 0, usage


def test_assistant_runs_a_thread_summary_tool():
    r = client.chat.completions.create(
        model="twake-ai",
        messages=[{"role": "user", "content": "Résume le fil <lyon-002@valmont.fr>"}],
    )
    tool = r.model_extra["tool"]
    assert tool["name"] == "summarize_thread" and tool["arguments"] == {"message_id": "lyon-002@valmont.fr"}, tool
    n = len(tool["result"]["messages"])
    assert n == 3, tool["result"]
    for key in ("asked", "decided", "open"):
        assert all(1 <= p["message"] <= n for p in tool["result"][key]), tool["result"]
    text = r.choices[0].message.content
    assert text.startswith("# ") and "lyon-002@valmont.fr" in text, text
    assert r.model_extra["audit_id"] == tool["result"]["audit_id"]
    assert r.usage.completion_tokens > 0 and r.usage.total_tokens == tool["result"]["tokens"], r.usage


def test_assistant_runs_a_room_catch_up_tool():
    # The sample workspace's exported room "Infra Lyon" (messages of 24-26
    # November 2026), named in lower case; no read receipt for an export.
    r = client.chat.completions.create(
        model="twake-ai",
        messages=[{"role": "user", "content": "Résume le salon infra lyon depuis le 2026-11-26"}],
    )
    tool = r.model_extra["tool"]
    assert tool["name"] == "summarize_room", tool
    assert tool["arguments"] == {"room": "Infra Lyon", "since": "2026-11-26T00:00:00Z"}, tool
    # Its last three messages, found by the tool; the model summarises them.
    assert [m["from"] for m in tool["result"]["messages"]] == ["Claire Dubois", "Bob Leroy", "Claire Dubois"], tool
    assert r.choices[0].message.content.startswith("# Infra Lyon"), r.choices[0].message.content
    # Without a day: since the last 24 hours, nothing new, no model called.
    r = client.chat.completions.create(
        model="twake-ai", messages=[{"role": "user", "content": "Résume le salon Infra Lyon"}]
    )
    tool = r.model_extra["tool"]
    assert tool["name"] == "summarize_room" and tool["result"]["messages"] == [], tool
    assert tool["result"]["model"] == "" and r.usage.total_tokens == 0, (tool, r.usage)


def test_streaming_raw_model_with_usage():
    stream = client.chat.completions.create(
        model=RAW,
        messages=[{"role": "system", "content": "Answer with one word."},
                  {"role": "user", "content": "What is the capital of France?"}],
        stream=True,
        stream_options={"include_usage": True},
        max_tokens=8,
        temperature=0,
    )
    pieces, usage, finish = [], None, None
    for chunk in stream:
        if chunk.usage is not None:
            usage = chunk.usage
        for c in chunk.choices:
            if c.delta.content:
                pieces.append(c.delta.content)
            if c.finish_reason:
                finish = c.finish_reason
    text = "".join(pieces)
    assert "Paris" in text, text
    assert finish in ("stop", "length"), finish
    assert usage is not None and usage.completion_tokens >= 1, usage


def test_embeddings_float_and_default_base64():
    # The client asks for base64 by default and decodes it.
    e = client.embeddings.create(model=EMBED, input=["bonjour", "hello"])
    assert len(e.data) == 2 and len(e.data[0].embedding) == 384
    f = client.embeddings.create(model=EMBED, input="bonjour", encoding_format="float")
    a, b = e.data[0].embedding, f.data[0].embedding
    assert max(abs(x - y) for x, y in zip(a, b)) < 1e-6
    assert e.usage.prompt_tokens > 0


def test_json_schema_output_parses_and_follows_the_schema():
    schema = {
        "type": "object",
        "properties": {
            "city": {"type": "string"},
            "country": {"type": "string"},
            "is_capital": {"type": "boolean"},
            "languages": {"type": "array", "items": {"type": "string"}, "minItems": 1, "maxItems": 3},
        },
        "required": ["city", "country", "is_capital", "languages"],
    }
    r = client.chat.completions.create(
        model=RAW,
        messages=[{"role": "user", "content": "Describe Paris as JSON: city, country, whether it is a capital, languages spoken."}],
        response_format={"type": "json_schema", "json_schema": {"name": "city", "schema": schema}},
        max_tokens=200,
    )
    data = json.loads(r.choices[0].message.content)
    assert list(data) == ["city", "country", "is_capital", "languages"], data
    assert isinstance(data["city"], str) and isinstance(data["is_capital"], bool), data
    assert 1 <= len(data["languages"]) <= 3 and all(isinstance(x, str) for x in data["languages"]), data


def test_json_object_output_parses():
    r = client.chat.completions.create(
        model=RAW,
        messages=[{"role": "user", "content": "Give the French and English words for 'cat' as a JSON object."}],
        response_format={"type": "json_object"},
        max_tokens=120,
    )
    assert isinstance(json.loads(r.choices[0].message.content), dict), r.choices[0].message.content


def test_bad_key_is_an_authentication_error():
    bad = openai.OpenAI(base_url=URL, api_key="twk_wrong", max_retries=0)
    try:
        bad.models.list()
    except openai.AuthenticationError as e:
        assert e.status_code == 401
        return
    raise AssertionError("a bad key was accepted")


def test_unknown_model_and_bad_request():
    try:
        client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "hi"}])
        raise AssertionError("unknown model accepted")
    except openai.NotFoundError as e:
        assert e.body["code"] == "model_not_found", e.body
    try:
        client.chat.completions.create(model="twake-ai", messages=[])
        raise AssertionError("empty messages accepted")
    except openai.BadRequestError as e:
        assert e.body["param"] == "messages", e.body


if __name__ == "__main__":
    tests = [(n, f) for n, f in sorted(globals().items()) if n.startswith("test_") and callable(f)]
    failed = 0
    for name, fn in tests:
        try:
            fn()
            print(f"ok     {name}")
        except Exception:
            failed += 1
            print(f"FAILED {name}")
            traceback.print_exc()
    print(f"openai client: {len(tests) - failed} passed, {failed} failed")
    sys.exit(1 if failed else 0)
