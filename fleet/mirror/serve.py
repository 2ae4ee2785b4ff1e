"""Static HTTP server of the fleet's apt mirror: serves a directory read-only.

`python3 -m http.server` answers in HTTP/1.0, and apt, which keeps connections
open, then waits about 10 s before it retries each further file on a new one.
Answering in HTTP/1.1 with a Content-Length lets apt reuse the connection.
"""

import functools
import http.server
import sys


class MirrorHandler(http.server.SimpleHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_PUT(self):  # noqa: N802 - the stdlib's naming
        self.send_error(405, "read-only mirror")

    do_POST = do_DELETE = do_PUT


def main():
    port, root = int(sys.argv[1]), sys.argv[2]
    handler = functools.partial(MirrorHandler, directory=root)
    with http.server.ThreadingHTTPServer(("0.0.0.0", port), handler) as server:
        server.serve_forever()


if __name__ == "__main__":
    main()
