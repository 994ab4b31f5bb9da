"""`python -m ops.model_server PORT`: the embedded model as a server of its own, shared by
the replicas of `make cluster` (exec'd, so its pid is the server's)."""

from __future__ import annotations

import asyncio
import os
import sys

from service.llm.embedded import EmbeddedModelServer
from service.llm.factory import embedded_model_file, embedded_model_name
from service.settings import Settings


def main() -> None:
    port = int(sys.argv[1])
    settings = Settings.from_env()
    path = asyncio.run(embedded_model_file(settings))
    server = EmbeddedModelServer.from_settings(
        settings, path, embedded_model_name(settings), port=port
    )
    command = server.command()
    os.execv(command[0], command)


if __name__ == "__main__":
    main()
