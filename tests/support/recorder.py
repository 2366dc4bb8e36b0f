#!/usr/bin/env python3
"""A real, non-Rust upstream for hookwall's tests.

Records every request exactly as it arrived (request line, header lines in order with their
original case, body bytes, client port) and answers it. Tests read the records from
GET /__recorder/requests (straight from this server, never through hookwall) and clear them
with POST /__recorder/clear.

The answer can be steered with query parameters, which hookwall forwards unchanged:
  hw_status=NNN    answer with this status (default 200)
  hw_delay=SECS    sleep before answering
  hw_reset=1       close the connection without answering
  hw_partial=1     send the head and half the body, then close (a reset mid-response)
  hw_body=N        answer with an N-byte body
  hw_framing=length_and_chunked
                   answer "hello world" chunked, with a wrong Content-Length beside it
                   (a misbehaving app); hw_status=101 answers an unasked upgrade

Listens on 127.0.0.1 (port from argv[1], default 0) or on a Unix socket with --unix PATH,
and prints "READY <port or path>" once listening.
"""

import base64
import json
import os
import socket
import socketserver
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

RECORDS = []
LOCK = threading.Lock()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "recorder"
    sys_version = ""

    def log_message(self, *args):
        pass

    def handle_any(self):
        if self.path.startswith("/__recorder/"):
            return self.control()
        length = int(self.headers.get("Content-Length", "0") or "0")
        body = self.rfile.read(length) if length else b""
        client = self.client_address
        record = {
            "request_line": self.raw_requestline.decode("latin-1").rstrip("\r\n"),
            "method": self.command,
            "target": self.path,
            "headers": [[name, value] for name, value in self.headers.items()],
            "body_b64": base64.b64encode(body).decode(),
            "client_port": client[1] if isinstance(client, tuple) else 0,
        }
        with LOCK:
            RECORDS.append(record)

        query = parse_qs(urlsplit(self.path).query)
        option = lambda key: query.get(key, [None])[0]
        if option("hw_delay"):
            time.sleep(float(option("hw_delay")))
        if option("hw_reset"):
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        if option("hw_framing") == "length_and_chunked":
            self.wfile.write(
                b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 3\r\n"
                b"Transfer-Encoding: chunked\r\n\r\nb\r\nhello world\r\n0\r\n\r\n"
            )
            self.close_connection = True
            return
        status = int(option("hw_status") or 200)
        if option("hw_body"):
            payload = b"x" * int(option("hw_body"))
        else:
            payload = json.dumps({"received": True, "bytes": len(body)}).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("X-Upstream-Header", "Kept-As-Is")
        self.send_header("Set-Cookie", "a=1")
        self.send_header("Set-Cookie", "b=2")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        if option("hw_partial"):
            self.wfile.write(payload[: len(payload) // 2])
            self.wfile.flush()
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        self.wfile.write(payload)

    def control(self):
        if self.path == "/__recorder/requests":
            with LOCK:
                payload = json.dumps(RECORDS).encode()
        elif self.path == "/__recorder/clear":
            with LOCK:
                RECORDS.clear()
            payload = b"[]"
        else:
            payload = b"null"
        length = int(self.headers.get("Content-Length", "0") or "0")
        if length:
            self.rfile.read(length)
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    # CONNECT and TRACE too: were hookwall ever to forward them, the record would show it.
    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = do_OPTIONS = handle_any
    do_CONNECT = do_TRACE = handle_any


class UnixHTTPServer(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True

    def get_request(self):
        request, _ = super().get_request()
        return request, ("unix", 0)


def main():
    if len(sys.argv) >= 3 and sys.argv[1] == "--unix":
        path = sys.argv[2]
        if os.path.exists(path):
            os.unlink(path)
        server = UnixHTTPServer(path, Handler)
        print(f"READY {path}", flush=True)
    else:
        port = int(sys.argv[1]) if len(sys.argv) > 1 else 0
        ThreadingHTTPServer.daemon_threads = True
        server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        print(f"READY {server.server_address[1]}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
