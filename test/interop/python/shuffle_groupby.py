"""A PySpark job with a real shuffle, run against a standalone cluster whose executors use an
external shuffle service: a groupBy over 10^6 rows into 8 partitions. With dynamic allocation
every executor leaves once idle, and the same result is read again by new executors, so the
second read can only come from the external shuffle service.

usage: shuffle_groupby.py MASTER_URL SHUFFLE_SERVICE_PORT [PAUSE_FILE]
With PAUSE_FILE it prints SPARKPLANE_PAUSED once the executors are gone and waits for that file
to exist before the second read (the test restarts the shuffle service meanwhile).
Extra Spark confs come as a JSON object in the SPARKPLANE_JOB_CONF environment variable.
prints: SPARKPLANE_RESULT {json}
"""
import json
import os
import sys
import time

from pyspark.sql import SparkSession, functions as F

ROWS = 1_000_000
GROUPS = 1000
PARTITIONS = 8
IDLE_WAIT_SECONDS = 90
PAUSE_WAIT_SECONDS = 180


def main(master: str, shuffle_port: str, pause_file: str | None) -> None:
    started = time.time()
    builder = (
        SparkSession.builder.master(master)
        .appName("sparkplane-shuffle-groupby")
        .config("spark.driver.host", "127.0.0.1")
        .config("spark.driver.bindAddress", "127.0.0.1")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.shuffle.service.enabled", "true")
        .config("spark.shuffle.service.port", shuffle_port)
        .config("spark.dynamicAllocation.enabled", "true")
        .config("spark.dynamicAllocation.minExecutors", "0")
        .config("spark.dynamicAllocation.maxExecutors", "2")
        .config("spark.dynamicAllocation.executorIdleTimeout", "2s")
        .config("spark.executor.cores", "1")
        .config("spark.executor.memory", "512m")
        .config("spark.sql.shuffle.partitions", str(PARTITIONS))
        # Keep exactly 8 reduce partitions: no adaptive coalescing.
        .config("spark.sql.adaptive.enabled", "false")
    )
    for key, value in json.loads(os.environ.get("SPARKPLANE_JOB_CONF", "{}")).items():
        builder = builder.config(key, value)
    spark = builder.getOrCreate()
    sc = spark.sparkContext

    def executors() -> int:
        # The driver is one entry of the block manager list.
        return sc._jsc.sc().getExecutorMemoryStatus().size() - 1

    grouped = (
        spark.range(ROWS)
        .withColumn("k", F.col("id") % GROUPS)
        .groupBy("k")
        .agg(F.count("*").alias("n"), F.sum("id").alias("s"))
    )

    def summary(rows):
        return {
            "groups": len(rows),
            "rows": sum(r["n"] for r in rows),
            "sum": sum(r["s"] for r in rows),
            "minGroup": min(r["n"] for r in rows),
            "maxGroup": max(r["n"] for r in rows),
        }

    first = summary(grouped.collect())
    executors_during = executors()
    waited_from = time.time()
    while executors() > 0 and time.time() - waited_from < IDLE_WAIT_SECONDS:
        time.sleep(0.2)
    executors_after_idle = executors()
    if pause_file is not None:
        print("SPARKPLANE_PAUSED", flush=True)
        paused_from = time.time()
        while not os.path.exists(pause_file):
            if time.time() - paused_from > PAUSE_WAIT_SECONDS:
                raise SystemExit("the test never released the pause")
            time.sleep(0.1)
    # The same Dataset reuses its shuffle: the map stage is skipped and new executors fetch
    # every block written by executors that are gone.
    second = summary(grouped.collect())

    result = {
        "sparkVersion": spark.version,
        "appId": sc.applicationId,
        "partitions": grouped.rdd.getNumPartitions(),
        "first": first,
        "second": second,
        "executorsDuring": executors_during,
        "executorsAfterIdle": executors_after_idle,
        "seconds": round(time.time() - started, 1),
    }
    spark.stop()
    print("SPARKPLANE_RESULT " + json.dumps(result), flush=True)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], sys.argv[3] if len(sys.argv) > 3 else None)
