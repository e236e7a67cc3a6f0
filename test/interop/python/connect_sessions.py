"""Many Spark Connect sessions through one endpoint, in phases the test steps through.

usage: connect_sessions.py sc://HOST:PORT SESSIONS PAUSE_DIR

Phase 1: SESSIONS sessions at once (threads), each caches a temp view of its own size and sets
its own shuffle-partitions conf, then reads both back over several calls.
Then prints SPARKPLANE_PAUSED 1 and waits for PAUSE_DIR/continue-1.
Phase 2: every session reads its view and conf again.
Then prints SPARKPLANE_PAUSED 2 and waits for PAUSE_DIR/continue-2.
Phase 3: every session runs one more query (recording the error text of any that fails), and
three new sessions run a query each.
prints: SPARKPLANE_RESULT {json}
"""
import os
import sys
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

from interop_retries import few_retries
from report import report_and_exit
from pyspark.sql.connect.session import SparkSession as ConnectSession

PAUSE_WAIT_SECONDS = 300


def open_session(url: str, session_id: str):
    return ConnectSession(connection=f"{url}/;session_id={session_id};user_id=interop")


def wait_for(path: str) -> None:
    started = time.time()
    while not os.path.exists(path):
        if time.time() - started > PAUSE_WAIT_SECONDS:
            raise SystemExit(f"the test never created {path}")
        time.sleep(0.2)


def read_back(spark, index: int) -> dict:
    count = spark.sql(f"SELECT count(*) AS n FROM view_{index}").collect()[0]["n"]
    partitions = spark.conf.get("spark.sql.shuffle.partitions")
    return {"count": count, "partitions": partitions}


def create(spark, index: int) -> dict:
    spark.range(0, 100 * (index + 1)).createOrReplaceTempView(f"view_{index}")
    spark.sql(f"CACHE TABLE view_{index}")
    spark.conf.set("spark.sql.shuffle.partitions", str(index + 3))
    reads = [read_back(spark, index) for _ in range(3)]
    return reads[-1] if all(r == reads[0] for r in reads) else {"inconsistent": reads}


def attempt(work) -> dict:
    try:
        return {"ok": True, **work()}
    except Exception as error:  # the test asserts on the text, causes included
        texts = []
        seen = error
        while seen is not None and len(texts) < 5:
            texts.append(f"{type(seen).__name__}: {seen}")
            seen = seen.__cause__ or seen.__context__
        return {"ok": False, "error": " <- ".join(texts)}


def main(url: str, count: int, pause_dir: str) -> None:
    ids = [str(uuid.uuid4()) for _ in range(count)]
    with ThreadPoolExecutor(max_workers=count) as pool:
        sessions = list(pool.map(lambda sid: open_session(url, sid), ids))
        phase1 = list(pool.map(lambda i: attempt(lambda: create(sessions[i], i)), range(count)))
        version = sessions[0].version
        print("SPARKPLANE_PAUSED 1", flush=True)
        wait_for(os.path.join(pause_dir, "continue-1"))
        phase2 = list(pool.map(lambda i: attempt(lambda: read_back(sessions[i], i)), range(count)))
        print("SPARKPLANE_PAUSED 2", flush=True)
        wait_for(os.path.join(pause_dir, "continue-2"))
        # Phases 1 and 2 keep the default policy: across the gateway restart the client's channel
        # is in reconnect backoff for a moment, which retries ride out. Phase 3 wants the answer
        # for sessions of the killed server at once.
        for spark in sessions:
            few_retries(spark, 2, 200)
        phase3 = list(pool.map(lambda i: attempt(lambda: read_back(sessions[i], i)), range(count)))

        fresh_sessions = [open_session(url, str(uuid.uuid4())) for _ in range(3)]

        def fresh(spark) -> dict:
            result = attempt(lambda: {"answer": spark.sql("SELECT 40 + 2 AS a").collect()[0]["a"]})
            result["sessionId"] = spark.client._session_id
            return result

        new_sessions = list(pool.map(fresh, fresh_sessions))
    # Reported before the sessions go out of scope: releasing them would wait for PySpark's shared
    # ReleaseExecute pool, where a release queued (with the default ten-minute retry policy) before
    # the server was killed can still be retrying against the killed server's sessions on a slow
    # machine. The gateway answers those UNAVAILABLE, as it should; the test has its result.
    report_and_exit(
        {
            "sparkVersion": version,
            "sessionIds": ids,
            "phase1": phase1,
            "phase2": phase2,
            "phase3": phase3,
            "newSessions": new_sessions,
        }
    )


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]), sys.argv[3])
