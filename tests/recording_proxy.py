"""A recording HTTP server for the model gateway tests.

It stands where TwakeAI expects a remote OpenAI-compatible model and
appends every request body it receives to a log file, so that tests can
check at the socket what left the perimeter. It either forwards each
request unchanged to a real model (a second `twake-ai serve` on
UPSTREAM_PORT), or answers by itself:

- `stream`: an SSE chat completion whose text is the sentence of the
  prompt's source [1] closest to the question, cited `[1]` (a stand-in that
  answers instantly, for tests that check what is *sent*, not what a model
  makes of it);
- `json`: the same answer as one `chat.completion` body, as servers that
  ignore `stream: true` send it;
- `garbage`: a 200 answer that is neither (an HTML page).

usage: recording_proxy.py LISTEN_PORT UPSTREAM_PORT|stream|json|garbage LOG_FILE
"""
import http.client
import http.server
import json
import re
import sys

LISTEN, UPSTREAM, LOG = int(sys.argv[1]), sys.argv[2], sys.argv[3]


def extract_answer(body):
    """The sentence of source [1] that shares most words with the question
    (a crude extractive answerer), cited [1]."""
    messages = json.loads(body).get("messages", [])
    user = next((m["content"] for m in messages if m.get("role") == "user"), "")
    source = re.search(r"^\[1\][^\n]*\n(.+?)(?=\n\n\[\d+\] |\n\nQuestion ?: |\Z)", user, re.S | re.M)
    question = re.search(r"^Question ?: (.*)$", user, re.M)
    if not source or not question:
        return "NO_ANSWER"
    words = lambda t: {w for w in re.findall(r"\w+", t.lower()) if len(w) > 3}
    sentences = re.split(r"(?<=[.!?])\s+", " ".join(source.group(1).split()))
    best = max(sentences, key=lambda s: len(words(s) & words(question.group(1))))
    return best + " [1]"


class Handler(http.server.BaseHTTPRequestHandler):
    def reply(self, status, content_type, data):
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        with open(LOG, "ab") as f:
            f.write(body + b"\n")
        if UPSTREAM == "garbage":
            return self.reply(200, "text/html", b"<html><body>Service temporarily moved</body></html>")
        if UPSTREAM in ("stream", "json"):
            text = extract_answer(body)
            usage = {"prompt_tokens": len(body) // 4, "completion_tokens": len(text) // 4}
            if UPSTREAM == "json":
                answer = {
                    "object": "chat.completion",
                    "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
                    "usage": usage,
                }
                return self.reply(200, "application/json", json.dumps(answer).encode())
            events = [{"choices": [{"index": 0, "delta": {"content": w}}]} for w in re.findall(r"\S+\s*", text)]
            events.append({"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
            events.append({"choices": [], "usage": usage})
            data = "".join(f"data: {json.dumps(e)}\n\n" for e in events) + "data: [DONE]\n\n"
            return self.reply(200, "text/event-stream", data.encode())
        conn = http.client.HTTPConnection("127.0.0.1", int(UPSTREAM), timeout=600)
        headers = {k: v for k, v in self.headers.items() if k.lower() in ("authorization", "content-type")}
        conn.request("POST", self.path, body=body, headers=headers)
        resp = conn.getresponse()
        data = resp.read()
        self.reply(resp.status, resp.getheader("Content-Type", "application/json"), data)

    def log_message(self, *args):
        pass


http.server.ThreadingHTTPServer(("127.0.0.1", LISTEN), Handler).serve_forever()
