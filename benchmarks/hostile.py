"""Hostile input against a real platform: every attack of the "safe to share" issue, timed.

Starts a platform with the Procfile's commands (gunicorn, a Celery worker and a private Redis,
as `make run` does) on a temporary data directory, with two users: mallory, who sends
everything below, and ada, who meanwhile uploads a small CSV every few seconds. For each
attack it prints the answer (an HTTP status, or the state a job ended in), the seconds until
the request or job ended, and the longest ada waited for one of her uploads to be ready while
it ran. Targets: every line ends in under 10 s with a 4xx or a plain failed state, never a
500, and ada's uploads stay ready within a few seconds.

    python benchmarks/hostile.py
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import re
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from live import ROOT, Client, manage, new_user, platform

sys.path.insert(0, str(ROOT))

from tests import hostile

CUSTOMERS = ROOT / "tests" / "data" / "customers.csv"
FINAL = {"ready", "failed", "finished", "cancelled"}


@dataclass
class Victim:
    """Ada: uploads a small file every few seconds and records how long each took to be ready."""

    client: Client
    path: Path
    waits: list[tuple[float, float]] = field(default_factory=list)  # (started, seconds)
    stop: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        while not self.stop.is_set():
            started = time.monotonic()
            created = self.client.upload(self.path)
            self.client.wait(f"/api/v1/datasets/{created['id']}", FINAL, timeout=600, every=0.2)
            self.waits.append((started, time.monotonic() - started))
            self.client.request("DELETE", f"/api/v1/datasets/{created['id']}")
            self.stop.wait(2)

    def longest_between(self, start: float, end: float) -> float:
        waits = [seconds for began, seconds in self.waits if start - 5 <= began <= end]
        return max(waits, default=float("nan"))


def raw(port: int, method: str, path: str, body: bytes = b"", headers: dict | None = None):
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    # The server may answer before reading the whole body (a 413): read its answer anyway.
    with contextlib.suppress(BrokenPipeError, ConnectionResetError):
        connection.request(method, path, body=body, headers=headers or {})
    response = connection.getresponse()
    return response.status, response.read(), dict(response.getheaders())


def detail(body: bytes) -> str:
    try:
        text = json.loads(body).get("detail", "")
    except (ValueError, AttributeError):
        return body[:80].decode(errors="replace")
    return str(text)[:90]


class Attacks:
    """Each method is one attack: it returns ``(answer, note)`` once its request or job ended."""

    def __init__(self, client: Client, env: dict, tmp: Path):
        self.client, self.env, self.tmp, self.port = client, env, tmp, client.port
        self.auth = {"Authorization": f"Bearer {client.token}"}

    def prepare(self) -> None:
        """A deployed model of mallory's, a predict key and a batch key."""
        created = self.client.upload(CUSTOMERS)
        self.client.wait(f"/api/v1/datasets/{created['id']}", FINAL)
        launch = {"dataset": created["id"], "target": "churned", "time_budget": 10,
                  "families": ["linear"]}  # fmt: skip
        experiment = self.client.post("/api/v1/experiments", launch)
        done = self.client.wait(f"/api/v1/experiments/{experiment['id']}", FINAL)
        deployed = self.client.post("/api/v1/deployments", {"model_id": done["best_model_id"],
                                                            "slug": "churn"})  # fmt: skip
        self.key = deployed["api_key"]
        self.batch_key = manage(
            self.env,
            "from webapp.deployments.models import Deployment, DeploymentKey; "
            "print(DeploymentKey.issue(Deployment.objects.get(slug='churn'), 'files', "
            "scope='batch')[1])",
        ).strip()
        _status, body, _ = raw(self.port, "GET", "/api/v1/deployments/churn",
                              headers={"Authorization": f"Bearer {self.key}"})  # fmt: skip
        self.row = json.loads(body)["example"]["rows"][0]

    def _ingest(self, path: Path) -> tuple[str, str]:
        created = self.client.upload(path)
        if "id" not in created:
            return "refused", created.get("detail", "")[:90]
        dataset = self.client.wait(f"/api/v1/datasets/{created['id']}", FINAL, every=0.2)
        self.client.request("DELETE", f"/api/v1/datasets/{created['id']}")
        return dataset["status"], dataset["error"][:90]

    def pathological_cell(self):
        return self._ingest(hostile.pathological_csv_gz(self.tmp / "cell.csv.gz"))

    def gzip_bomb(self):
        return self._ingest(hostile.gzip_bomb(self.tmp / "bomb.csv.gz", gigabytes=20))

    def excel_shared_text_bomb(self):
        return self._ingest(hostile.shared_string_bomb(self.tmp / "shared.xlsx", cells=200_000))

    def excel_huge_sheet(self):
        return self._ingest(hostile.dimension_bomb(self.tmp / "corner.xlsx"))

    def excel_diagonal_sheet(self):
        return self._ingest(hostile.diagonal_sheet(self.tmp / "diagonal.xlsx", size=16_000))

    def upload_over_storage_quota(self):
        big = self.tmp / "big.csv"
        with big.open("wb") as out:
            out.write(b"a,b\n" + b"1,2\n" * (80 << 20))  # 320 MB, over the 200 MB quota
        status, body, _ = raw(self.port, "POST", "/api/v1/datasets", big.read_bytes(), {
            **self.auth, "Content-Type": "multipart/form-data; boundary=x"})  # fmt: skip
        big.unlink()
        return status, detail(body)

    def parquet_bomb(self):
        return self._ingest(hostile.parquet_bomb(self.tmp / "bomb.parquet", rows=20_000_000))

    def _predict(self, body: bytes, key: str | None = None):
        headers = {"Authorization": f"Bearer {key or self.key}",
                   "Content-Type": "application/json"}  # fmt: skip
        status, answer, _ = raw(self.port, "POST", "/api/v1/deployments/churn/predict", body,
                                headers)  # fmt: skip
        return status, detail(answer)

    def _row(self, **values) -> bytes:
        return json.dumps({"rows": [{**self.row, **values}]}).encode()

    def predict_pathological_cell(self):
        return self._predict(self._row(monthly_fee=hostile.PATHOLOGICAL_CELL))

    def predict_deep_nesting(self):
        return self._predict(b"[" * 100_000 + b"]" * 100_000)

    def predict_5000_digits(self):
        return self._predict(self._row()[:-3] + b', "age": 1' + b"0" * 5000 + b"}]}")

    def predict_10_to_the_400(self):
        return self._predict(self._row()[:-3] + b', "age": 1' + b"0" * 400 + b"}]}")

    def predict_nan(self):
        return self._predict(self._row()[:-3] + b', "age": NaN}]}')

    def predict_huge_body(self):
        return self._predict(b'{"rows": [' + b'{"age": 1},' * 2_000_000 + b"{}]}")

    def predict_long_strings_for_monitoring(self):
        return self._predict(json.dumps({"rows": [{**self.row, "plan": "p" * 100_000}] * 20})
                             .encode())  # fmt: skip

    def rate_limit(self):
        statuses = [self._predict(self._row())[0] for _ in range(650)]
        first_refusal = statuses.index(429) + 1 if 429 in statuses else None
        return f"429 from request {first_refusal}", f"{statuses.count(200)} answered"

    def predict_key_lists_batches(self):
        status, body, _ = raw(self.port, "GET", "/api/v1/deployments/churn/batches",
                              headers={"Authorization": f"Bearer {self.key}"})  # fmt: skip
        return status, detail(body)

    def batch_with_pathological_cell(self):
        path = self.tmp / "rows.csv"
        lines = CUSTOMERS.read_text().splitlines()
        cells = lines[1].split(",")
        cells[3] = hostile.PATHOLOGICAL_CELL
        path.write_text("\n".join([lines[0], ",".join(cells), *lines[2:]]) + "\n")
        batches = Client(self.port, self.batch_key)
        created = batches.upload(path, "/api/v1/deployments/churn/batches")
        if "id" not in created:
            return "refused", created.get("detail", "")
        done = batches.wait(f"/api/v1/deployments/churn/batches/{created['id']}", FINAL,
                            every=0.2)  # fmt: skip
        return done["status"], (done["error"] or "; ".join(done["notes"]))[:90]

    def ready_without_key(self):
        status, body, _ = raw(self.port, "GET", "/api/v1/deployments/churn/ready")
        return status, body.decode()[:90]

    def unknown_path_and_method(self):
        status, body, _ = raw(self.port, "GET", "/api/v1/../../etc/passwd", headers=self.auth)
        other, body2, _ = raw(self.port, "PUT", "/api/v1/datasets", headers=self.auth)
        return f"{status}, {other}", f"{detail(body)} / {detail(body2)}"[:90]

    def stranger_signs_up(self):
        _, _, headers = raw(self.port, "GET", "/accounts/login/")
        token = re.search(r"csrftoken=([^;]+)", headers.get("Set-Cookie", "")).group(1)
        form = ("username=stranger&password1=Xy-long-pass-1&password2=Xy-long-pass-1"
                f"&csrfmiddlewaretoken={token}")  # fmt: skip
        status, _, headers = raw(self.port, "POST", "/accounts/signup/", form.encode(), {
            "Content-Type": "application/x-www-form-urlencoded", "Cookie": f"csrftoken={token}",
            "Referer": f"http://127.0.0.1:{self.port}/accounts/signup/"})  # fmt: skip
        check = "from django.contrib.auth.models import User; "
        check += "print(User.objects.filter(username='stranger').exists())"
        made = manage(self.env, check).strip()
        return status, f"sent to {headers.get('Location', '-')}; account made: {made}"

    def brute_force_login(self):
        statuses = []
        for attempt in range(30):
            _, _, headers = raw(self.port, "GET", "/accounts/login/")
            token = re.search(r"csrftoken=([^;]+)", headers.get("Set-Cookie", "")).group(1)
            form = f"username=bench&password=guess{attempt}&csrfmiddlewaretoken={token}"
            status, _page, _ = raw(self.port, "POST", "/accounts/login/", form.encode(), {
                "Content-Type": "application/x-www-form-urlencoded",
                "Cookie": f"csrftoken={token}",
                "Referer": f"http://127.0.0.1:{self.port}/accounts/login/"})  # fmt: skip
            statuses.append(status)
        first = statuses.index(429) + 1 if 429 in statuses else None
        return f"429 from attempt {first}", f"{statuses.count(200)} refused as wrong"

    def flood_of_uploads(self):
        answers: list[dict] = []
        threads = [threading.Thread(target=lambda: answers.append(self.client.upload(CUSTOMERS)))
                   for _ in range(30)]  # fmt: skip
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        refused = [a for a in answers if "id" not in a]
        for created in answers:
            if "id" in created:
                self.client.wait(f"/api/v1/datasets/{created['id']}", FINAL, every=0.2)
                self.client.request("DELETE", f"/api/v1/datasets/{created['id']}")
        message = refused[0]["detail"][:70] if refused else ""
        return f"{len(answers) - len(refused)} taken, {len(refused)} refused", message


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        small = tmp / "small.csv"
        small.write_text("a,b,label\n" + "".join(f"{i},{i * 2},{i % 2}\n" for i in range(300)))
        with platform(tmp / "data", QUOTA_STORAGE=str(200 << 20)) as (client, _processes):
            env = client.env
            ada_token = new_user(env, "ada")
            attacks = Attacks(client, env, tmp)
            print("Preparing mallory's deployment…", flush=True)
            attacks.prepare()
            victim = Victim(Client(client.port, ada_token), small)
            watcher = threading.Thread(target=victim.run, daemon=True)
            watcher.start()
            time.sleep(3)
            names = [n for n in Attacks.__dict__ if not n.startswith("_") and n != "prepare"]
            print(f"\n{'attack':38} {'answer':24} {'seconds':>8} {'ada waited':>10}  detail")
            for name in names:
                started = time.monotonic()
                try:
                    answer, note = getattr(attacks, name)()
                except Exception as err:  # a benchmark reports, it does not stop
                    answer, note = "ERROR", f"{type(err).__name__}: {err}"[:90]
                ended = time.monotonic()
                time.sleep(3)  # ada's next upload happens during or just after it
                waited = victim.longest_between(started, ended)
                print(f"{name:38} {answer!s:24} {ended - started:8.1f} {waited:9.1f}s  {note}",
                      flush=True)  # fmt: skip
            victim.stop.set()
            watcher.join(timeout=60)
            print(f"\nada's uploads: {len(victim.waits)}, longest wait "
                  f"{max(s for _, s in victim.waits):.1f} s")  # fmt: skip


if __name__ == "__main__":
    main()
