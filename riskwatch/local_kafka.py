"""A single-node KRaft Kafka broker on 127.0.0.1 for demos and tests (`riskwatch kafka up|down`).

The jars come from Maven Central through deploy/kafka/pom.xml; data lives under RISKWATCH_HOME.
"""

from __future__ import annotations

import base64
import os
import shutil
import signal
import socket
import subprocess
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
KAFKA_DEPLOY = REPO_ROOT / "deploy" / "kafka"


class LocalKafkaError(RuntimeError):
    pass


def _port_open(host: str, port: int, timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def _alive(pid: int) -> bool:
    try:
        # Reap it if it is our own child (tests start and stop it in one process).
        if os.waitpid(pid, os.WNOHANG)[0] == pid:
            return False
    except ChildProcessError:
        pass
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


@dataclass
class LocalKafka:
    home: Path
    host: str = "127.0.0.1"
    port: int = 9092
    lib: Path = KAFKA_DEPLOY / "lib"
    heap: str = "512m"

    @classmethod
    def from_bootstrap(cls, bootstrap: str, home: Path) -> LocalKafka:
        first = bootstrap.split(",")[0].strip()
        host, _, port = first.rpartition(":")
        if host not in ("127.0.0.1", "localhost"):
            raise LocalKafkaError(
                f"RISKWATCH_KAFKA_BOOTSTRAP={bootstrap!r} is not local: `riskwatch kafka up` only "
                "runs a broker on 127.0.0.1; point riskwatch at your cluster instead"
            )
        lib = Path(os.environ.get("RISKWATCH_KAFKA_LIB", KAFKA_DEPLOY / "lib"))
        return cls(home=home / "kafka", host="127.0.0.1", port=int(port or 9092), lib=lib)

    @property
    def bootstrap(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def pid_file(self) -> Path:
        return self.home / "broker.pid"

    @property
    def log_file(self) -> Path:
        return self.home / "broker.log"

    def is_up(self) -> bool:
        return _port_open(self.host, self.port)

    def ensure_jars(self) -> None:
        if self.lib.is_dir() and any(self.lib.glob("kafka_2.13-*.jar")):
            return
        mvn = shutil.which("mvn")
        if mvn is None:
            raise LocalKafkaError(f"no Kafka jars in {self.lib} and no `mvn` to fetch them")
        subprocess.run(
            [
                mvn,
                "-q",
                "-B",
                "-f",
                str(KAFKA_DEPLOY / "pom.xml"),
                "dependency:copy-dependencies",
                f"-DoutputDirectory={self.lib}",
            ],
            check=True,
        )

    def _write_config(self) -> Path:
        data = self.home / "data"
        controller = self.port + 1
        props = {
            "process.roles": "broker,controller",
            "node.id": "1",
            "controller.quorum.voters": f"1@{self.host}:{controller}",
            "listeners": f"PLAINTEXT://{self.host}:{self.port},CONTROLLER://{self.host}:{controller}",
            "advertised.listeners": f"PLAINTEXT://{self.host}:{self.port}",
            "controller.listener.names": "CONTROLLER",
            "listener.security.protocol.map": "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
            "inter.broker.listener.name": "PLAINTEXT",
            "log.dirs": str(data.resolve()),
            "num.partitions": "4",
            "auto.create.topics.enable": "true",
            "offsets.topic.replication.factor": "1",
            "offsets.topic.num.partitions": "8",
            "transaction.state.log.replication.factor": "1",
            "transaction.state.log.min.isr": "1",
            "share.coordinator.state.topic.replication.factor": "1",
            "share.coordinator.state.topic.min.isr": "1",
            "group.initial.rebalance.delay.ms": "0",
            "log.retention.hours": "168",
        }
        path = self.home / "server.properties"
        path.write_text("".join(f"{k}={v}\n" for k, v in props.items()))
        return path

    def _java(self, *args: str) -> list[str]:
        java = shutil.which("java")
        if java is None:
            raise LocalKafkaError("`java` (17 or newer) is needed to run the local Kafka broker")
        log4j = KAFKA_DEPLOY / "log4j2.properties"
        return [
            java,
            f"-Xmx{self.heap}",
            f"-Dlog4j2.configurationFile={log4j}",
            "-cp",
            f"{self.lib}/*",
            *args,
        ]

    def up(self, timeout: float = 120.0) -> str:
        if self.is_up():
            return self.bootstrap
        self.ensure_jars()
        self.home.mkdir(parents=True, exist_ok=True)
        config = self._write_config()
        if not (self.home / "data" / "meta.properties").exists():
            cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
            # "=" form: a base64 id may start with "-" and must not be read as an option.
            done = subprocess.run(
                self._java(
                    "kafka.tools.StorageTool",
                    "format",
                    f"--cluster-id={cluster_id}",
                    f"--config={config}",
                ),
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
            )
            if done.returncode != 0:
                raise LocalKafkaError(
                    f"formatting {self.home / 'data'} failed: "
                    f"{done.stdout.decode(errors='replace')[-800:]}"
                )
        with self.log_file.open("ab") as log:
            proc = subprocess.Popen(
                self._java("kafka.Kafka", str(config)),
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        self.pid_file.write_text(str(proc.pid))
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise LocalKafkaError(f"broker exited with {proc.returncode}; see {self.log_file}")
            if self.is_up() and self._ready():
                return self.bootstrap
            time.sleep(0.5)
        raise LocalKafkaError(f"broker not ready after {timeout:.0f}s; see {self.log_file}")

    def _ready(self) -> bool:
        from kafka import KafkaAdminClient  # the client import is slow; only needed here

        try:
            admin = KafkaAdminClient(bootstrap_servers=self.bootstrap, request_timeout_ms=5000)
        except Exception:
            return False
        try:
            admin.list_topics()
            return True
        except Exception:
            return False
        finally:
            admin.close()

    def down(self, timeout: float = 60.0) -> bool:
        """Stop the broker this home started. Returns False when none was running."""
        if not self.pid_file.exists():
            return False
        try:
            pid = int(self.pid_file.read_text().strip())
        except ValueError:
            self.pid_file.unlink()
            return False
        try:
            os.killpg(pid, signal.SIGTERM)
        except ProcessLookupError:
            self.pid_file.unlink(missing_ok=True)
            return False
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not _alive(pid):
                break
            time.sleep(0.3)
        else:
            os.killpg(pid, signal.SIGKILL)
        self.pid_file.unlink(missing_ok=True)
        return True
