"""`manage.py demo_service`: a stand-in external service for the demo probe (Ctrl-C stops it, the alert fires)."""

import json
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from django.core.management.base import BaseCommand

from tourbrain_support.alerting.demo import DEMO_SERVICE_PORT


class _Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        body = json.dumps({"status": {"indicator": "none", "description": "All Systems Operational"}}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format, *args):
        return


class Command(BaseCommand):
    help = "Serve a status page for the demo HTTP probe (demo-service) until stopped."

    def add_arguments(self, parser):
        parser.add_argument("--port", type=int, default=DEMO_SERVICE_PORT)

    def handle(self, *args, port, **options):
        server = ThreadingHTTPServer(("127.0.0.1", port), _Handler)
        self.stdout.write(f"Demo service at http://127.0.0.1:{port}/status.json (Ctrl-C stops it)")
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            pass
        finally:
            server.server_close()
