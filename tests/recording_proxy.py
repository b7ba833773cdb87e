"""A recording HTTP proxy for the model gateway tests.

It stands between TwakeAI and a "remote" OpenAI-compatible model (a second
`twake-ai serve`), forwards every request unchanged and appends every
request body it receives to a log file, so that tests can check at the
socket what left the perimeter.

usage: recording_proxy.py LISTEN_PORT UPSTREAM_PORT LOG_FILE
"""
import http.client
import http.server
import sys

LISTEN, UPSTREAM, LOG = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]


class Handler(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        with open(LOG, "ab") as f:
            f.write(body + b"\n")
        conn = http.client.HTTPConnection("127.0.0.1", UPSTREAM, timeout=600)
        headers = {k: v for k, v in self.headers.items() if k.lower() in ("authorization", "content-type")}
        conn.request("POST", self.path, body=body, headers=headers)
        resp = conn.getresponse()
        data = resp.read()
        self.send_response(resp.status)
        self.send_header("Content-Type", resp.getheader("Content-Type", "application/json"))
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


http.server.ThreadingHTTPServer(("127.0.0.1", LISTEN), Handler).serve_forever()
