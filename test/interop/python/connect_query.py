"""A PySpark Connect client session: runs a small aggregation on a Spark Connect server.

usage: connect_query.py sc://HOST:PORT
prints: SPARKPLANE_RESULT {json}
"""
import json
import sys

from pyspark.sql import SparkSession, functions as F


def main(url: str) -> None:
    spark = SparkSession.builder.remote(url).getOrCreate()
    rows = (
        spark.range(10_000)
        .groupBy((F.col("id") % 10).alias("k"))
        .agg(F.count("*").alias("n"), F.sum("id").alias("s"))
        .orderBy("k")
        .collect()
    )
    result = {
        "sparkVersion": spark.version,
        "sessionId": spark.client._session_id if hasattr(spark, "client") else None,
        "keys": [r["k"] for r in rows],
        "counts": [r["n"] for r in rows],
        "total": sum(r["s"] for r in rows),
        "sql": spark.sql("SELECT 40 + 2 AS answer").collect()[0]["answer"],
    }
    spark.stop()
    print("SPARKPLANE_RESULT " + json.dumps(result), flush=True)


if __name__ == "__main__":
    main(sys.argv[1])
