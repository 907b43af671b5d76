"""An experiment, not a product: the pipeline worker in a process of its own.

`ingest.py --split-pipeline` runs `ticketgate serve --spool-only` for SMTP and this for the
pipeline, on the same site and database, to measure what ingest gains when the pipeline no
longer shares the daemon's GIL. It composes the worker and the outbox exactly as `serve`
does (through `ticketgate.daemon.Daemon`), but opens no listener. Without the daemon's
wake-up call it polls the spool (the worker's own one-second idle wait).

    python bench/pipeline_proc.py --config SITE/ticketgate.yaml
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
from pathlib import Path

from ticketgate.config import load_settings
from ticketgate.daemon import Daemon
from ticketgate.log import configure


async def run(config: Path) -> None:
    settings = load_settings(config)
    configure(settings.log_format)
    daemon = Daemon(settings)
    daemon.store.open()
    daemon.worker.start()
    await daemon.outbox.start()
    print("PIPELINE READY", flush=True)  # procs.py waits for this line
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    await asyncio.to_thread(daemon.worker.stop)
    await daemon.outbox.stop(grace=5.0)
    await asyncio.to_thread(daemon.store.close)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", type=Path, required=True)
    asyncio.run(run(parser.parse_args().config))
    return 0


if __name__ == "__main__":
    sys.exit(main())
