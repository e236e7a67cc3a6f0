"""Lowers a PySpark Connect session's retries of UNAVAILABLE (its default retries for ten minutes)."""


def few_retries(spark, max_retries: int, max_backoff_ms: int) -> None:
    client = spark.client
    try:
        # PySpark 4.x
        from pyspark.sql.connect.client.retries import DefaultPolicy

        client.set_retry_policies(
            [DefaultPolicy(max_retries=max_retries, initial_backoff=50, max_backoff=max_backoff_ms)]
        )
    except (ImportError, AttributeError):
        # PySpark 3.5: a dict, every key required.
        client._retry_policy = {
            "max_retries": max_retries,
            "initial_backoff": 50,
            "max_backoff": max_backoff_ms,
            "backoff_multiplier": 2,
            "jitter": 0,
            "min_jitter_threshold": 0,
        }
