"""A real S3-compatible server for tests: moto's server mode (`python -m moto.server`, from the dev extras) on its own
port on 127.0.0.1, as tests/redisproc.py starts redis-server. It speaks the S3 HTTP API, so boto3 talks to it as to
any S3-compatible store (ENGINE_FLEET_S3_ENDPOINT); it keeps everything in memory and needs no network."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

from redisproc import free_port, stop

# moto takes any credentials; boto3 wants some, and a region.
CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "easel-test",
    "AWS_SECRET_ACCESS_KEY": "easel-test",
    "AWS_DEFAULT_REGION": "us-east-1",
}


class S3Server:
    def __init__(self, log: Path) -> None:
        self.port = free_port()
        self.log = log
        self.process: subprocess.Popen | None = None

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> S3Server:
        self.log.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log, "ab") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(self.port)],
                env={**os.environ, **CREDENTIALS},
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return self
            except OSError:
                if self.process.poll() is not None:
                    raise RuntimeError(f"moto's S3 server exited: {self.log.read_text()[-2000:]}") from None
                time.sleep(0.1)
        raise RuntimeError(f"moto's S3 server did not start on port {self.port}")

    def client(self):
        import boto3

        return boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            aws_access_key_id=CREDENTIALS["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
            region_name=CREDENTIALS["AWS_DEFAULT_REGION"],
        )

    def bucket(self, name: str) -> str:
        self.client().create_bucket(Bucket=name)
        return name

    def stop(self) -> None:
        stop(self.process)
        self.process = None
