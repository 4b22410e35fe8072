import http.server
import os
import signal
import sys

VERSION = "v1"


class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = ("python-app %s\n" % VERSION).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, fmt, *args):
        sys.stdout.write("request: " + (fmt % args) + "\n")


signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
http.server.ThreadingHTTPServer(("", int(os.environ.get("PORT", "8080"))), Handler).serve_forever()
