"""A webhook receiver over HTTPS, for the end-to-end tests: Python's own
http.server behind ssl, so weir's TLS client meets a TLS stack it did not
bring. Prints its port, then one JSON line per POST it gets."""
import http.server
import json
import ssl
import sys

cert, key = sys.argv[1], sys.argv[2]


class Hook(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        print(json.dumps({
            "path": self.path,
            "signature": self.headers.get("X-Weir-Signature"),
            "raw": body.decode(),
        }), flush=True)
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args):
        pass


server = http.server.HTTPServer(("127.0.0.1", 0), Hook)
context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
context.load_cert_chain(cert, key)
server.socket = context.wrap_socket(server.socket, server_side=True)
print(server.server_address[1], flush=True)
server.serve_forever()
