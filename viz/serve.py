"""Serve the workshop app (viz/app.py) with Solara's server, offline, and say when it is ready.

    python viz/serve.py [--host 127.0.0.1] [--port 8765]

Prints "msksim app ready at http://HOST:PORT/" once the server accepts connections, so scripts
and tests can wait for that line instead of polling. `msksim viz` runs this.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

APP = Path(__file__).resolve().parent / "app.py"


def serve(host: str = "127.0.0.1", port: int = 8765) -> None:
    os.environ.setdefault("SOLARA_APP", str(APP))
    os.environ.setdefault("SOLARA_MODE", "production")
    # no "This website runs on Solara" banner over the bottom of the page on a projector
    os.environ.setdefault("SOLARA_THEME_SHOW_BANNER", "false")
    import uvicorn  # after SOLARA_APP: Solara's server reads it on import

    class _Server(uvicorn.Server):
        async def startup(self, sockets=None):
            await super().startup(sockets=sockets)
            print(f"msksim app ready at http://{host}:{port}/", flush=True)

    config = uvicorn.Config("solara.server.starlette:app", host=host, port=port,
                            log_level="warning", ws="auto")
    _Server(config).run()


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description="Serve the msksim workshop app")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=8765)
    a = ap.parse_args(argv)
    serve(a.host, a.port)


if __name__ == "__main__":
    sys.exit(main())
