"""Spark Connect's per-operation RPCs, for several sessions at once through one endpoint.

usage: connect_operations.py sc://HOST:PORT SESSIONS WORK_DIR

Each session, in a thread of its own, keeps a temp view, a conf and a temp function of its own,
reads the view and the conf back after every step, and in turn:
  slow:      an aggregation over a Python UDF that sleeps, longer than the server keeps a
             response stream open (the test sets senderMaxStreamDuration), so the client
             reattaches while the query runs;
  error:     raise_error with a message longer than the 2048 characters the server puts in the
             gRPC status; a client that fetches the error's details gets all of it;
  artifacts: a Python module uploaded with addArtifacts(pyfile=True) and a UDF that imports it on
             the server, then a DataFrame over the local-relation cache threshold, which the
             client uploads as a cached artifact after asking ArtifactStatus;
  big:       a result of many Arrow batches, each over the server's senderMaxStreamSize, so the
             client reattaches after every batch.
Steps record their start and end (epoch ms) so the test can match the gateway's access log.
Then prints SPARKPLANE_PAUSED, waits for WORK_DIR/continue and stops every session.
prints: SPARKPLANE_RESULT {json}
"""
import json
import os
import sys
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import pandas
from pyspark.sql.connect.session import SparkSession as ConnectSession
from pyspark.sql.types import LongType

PAUSE_WAIT_SECONDS = 300
SLOW_ROWS = 16
SLOW_ROW_SECONDS = 0.25
BIG_ROWS = 200_000
CACHED_ROWS = 20_000
ERROR_FILLER = 3000


def open_session(url: str, session_id: str, params: str):
    extra = f";{params}" if params else ""
    return ConnectSession(connection=f"{url}/;session_id={session_id};user_id=interop{extra}")


def now_ms() -> float:
    return time.time() * 1000


def describe(error: BaseException) -> str:
    texts = []
    seen = error
    while seen is not None and len(texts) < 5:
        texts.append(f"{type(seen).__name__}: {seen}")
        seen = seen.__cause__ or seen.__context__
    return " <- ".join(texts)


def slow_square(x):
    import time as worker_time

    worker_time.sleep(SLOW_ROW_SECONDS)
    return x * x


def module_udf(module_name: str):
    def tag(x):
        import importlib

        return importlib.import_module(module_name).tag(x)

    return tag


class SessionRun:
    def __init__(self, spark, index: int, work_dir: str):
        self.spark = spark
        self.index = index
        self.work_dir = work_dir
        self.read_backs = []
        self.steps = {}

    def read_back(self) -> None:
        spark, index = self.spark, self.index
        count = spark.sql(f"SELECT count(*) AS n FROM ops_view_{index}").collect()[0]["n"]
        partitions = spark.conf.get("spark.sql.shuffle.partitions")
        self.read_backs.append({"count": count, "partitions": partitions})

    def step(self, name: str, work) -> None:
        started = now_ms()
        try:
            outcome = {"ok": True, **work()}
        except Exception as error:  # the test asserts on the text
            outcome = {"ok": False, "error": describe(error)}
        self.steps[name] = {**outcome, "startMs": started, "endMs": now_ms()}
        self.read_back()

    def setup(self) -> dict:
        spark, index = self.spark, self.index
        spark.range(0, 1000 * (index + 1)).createOrReplaceTempView(f"ops_view_{index}")
        spark.conf.set("spark.sql.shuffle.partitions", str(index + 3))
        # A DataType, not "long": parsing a DDL string needs an active session, and sessions
        # opened from a connection string are not made active.
        spark.udf.register("slow_square", slow_square, LongType())
        return {}

    def slow(self) -> dict:
        row = self.spark.sql(
            f"SELECT count(*) AS n, sum(slow_square(id)) AS s FROM range(0, {SLOW_ROWS}, 1, 4)"
        ).collect()[0]
        return {"count": row["n"], "sum": row["s"]}

    def error(self) -> dict:
        marker = f"boom-{self.index}-"
        try:
            self.spark.sql(
                f"SELECT raise_error('{marker}' || repeat('x', {ERROR_FILLER}) || '-end') AS e"
            ).collect()
        except Exception as error:
            message = str(error)
            return {
                "raised": type(error).__name__,
                "hasMarker": marker in message,
                "hasEnd": "-end" in message,
                "length": len(message),
                "head": message[:200],
            }
        return {"raised": None}

    def artifacts(self) -> dict:
        spark, index = self.spark, self.index
        module_name = f"sparkplane_ops_module_{index}"
        folder = os.path.join(self.work_dir, f"session-{index}")
        os.makedirs(folder, exist_ok=True)
        path = os.path.join(folder, f"{module_name}.py")
        with open(path, "w") as module:
            module.write(f"OFFSET = {index}\n\n\ndef tag(x):\n    return x * 1000 + OFFSET\n")
        spark.addArtifacts(path, pyfile=True)
        spark.udf.register("module_tag", module_udf(module_name), LongType())
        tagged = spark.sql("SELECT sum(module_tag(id)) AS s FROM range(0, 10)").collect()[0]["s"]

        spark.conf.set("spark.sql.session.localRelationCacheThreshold", "1024")
        frame = spark.createDataFrame(pandas.DataFrame({"v": range(CACHED_ROWS)}))
        cached = frame.selectExpr("count(*) AS n", "sum(v) AS s").collect()[0]
        return {"tagged": tagged, "cachedCount": cached["n"], "cachedSum": cached["s"]}

    def big(self) -> dict:
        frame = self.spark.range(0, BIG_ROWS, 1, 4).selectExpr("id", "id * 3 AS t").toPandas()
        return {
            "rows": len(frame),
            "distinct": int(frame["id"].nunique()),
            "sumId": int(frame["id"].sum()),
            "sumT": int(frame["t"].sum()),
        }

    def run(self) -> dict:
        self.step("setup", self.setup)
        self.step("slow", self.slow)
        self.step("error", self.error)
        self.step("artifacts", self.artifacts)
        self.step("big", self.big)
        return {"steps": self.steps, "readBacks": self.read_backs}


def wait_for(path: str) -> None:
    started = time.time()
    while not os.path.exists(path):
        if time.time() - started > PAUSE_WAIT_SECONDS:
            raise SystemExit(f"the test never created {path}")
        time.sleep(0.2)


def main(url: str, count: int, work_dir: str, params: str) -> None:
    ids = [str(uuid.uuid4()) for _ in range(count)]
    with ThreadPoolExecutor(max_workers=count) as pool:
        sessions = list(pool.map(lambda sid: open_session(url, sid, params), ids))
        runs = [SessionRun(spark, index, work_dir) for index, spark in enumerate(sessions)]
        results = list(pool.map(lambda run: run.run(), runs))
    version = sessions[0].version
    print("SPARKPLANE_PAUSED", flush=True)
    wait_for(os.path.join(work_dir, "continue"))
    # Stopped only now, with nothing in flight: PySpark 3.5 and 4.0 share one thread pool for
    # ReleaseExecute between sessions and shut it down when any session stops.
    stops = []
    for spark in sessions:
        try:
            spark.stop()
            stops.append({"ok": True})
        except Exception as error:
            stops.append({"ok": False, "error": describe(error)})
    print(
        "SPARKPLANE_RESULT "
        + json.dumps(
            {
                "sparkVersion": version,
                "sessionIds": ids,
                "sessions": results,
                "stops": stops,
            }
        ),
        flush=True,
    )


if __name__ == "__main__":
    # An optional fourth argument: more connection string parameters, e.g. use_ssl=true.
    main(sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4] if len(sys.argv) > 4 else "")
