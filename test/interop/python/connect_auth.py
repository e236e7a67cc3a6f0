"""Authenticated Spark Connect sessions through a TLS gateway.

Usage: connect_auth.py HOST PORT TOKENS_JSON SESSION_ID [CLAIM [ECHO]]

TOKENS_JSON maps a name to a bearer token: "alice" and "bob" (static gateway tokens), "carol"
(a JWT) and "wrong" (a token the gateway does not know). The gateway's certificate is trusted
through GRPC_DEFAULT_SSL_ROOTS_FILE_PATH.

Alice, Bob and Carol all connect with the same session id and, with CLAIM "admin" (the
default), all claim the user id "admin"; with CLAIM "self" each uses its own name as its user id
(a gateway with --relay pinned passes requests through unchanged and requires that). Each creates
a temp view and sets a conf, then reads both back: each must see only its own, because the
gateway binds the verified identity into the session and the user id. A client without a token,
with an unknown token, and without TLS must be refused; with CLAIM "self", so must Alice's token
claiming the user id "admin" ("claimed").

With ECHO (the servers' own token, which a client never holds), Alice has the server send that
text back in a result row and in an error message, with and without enriched errors; the result
reports what she got ("echo").

Prints one line "SPARKPLANE_RESULT <json>" at the end and exits at once (see report.py).
"""

import json
import sys
import traceback

from error_text import error_text
from interop_retries import few_retries
from report import report_and_exit
from pyspark.sql.connect import functions as F
from pyspark.sql.connect.session import SparkSession


def connect(host, port, session_id, token=None, tls=True, user_id="admin"):
    parts = [f"sc://{host}:{port}/", f"session_id={session_id}", f"user_id={user_id}"]
    if tls:
        parts.append("use_ssl=true")
    if token is not None:
        parts.append(f"token={token}")
    return SparkSession(connection=";".join(parts))



def trailers_of(error):
    """The gRPC trailers of the call behind an error, binary values as latin-1 text."""
    seen = set()
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        trailing = getattr(error, "trailing_metadata", None)
        if callable(trailing):
            try:
                return {
                    key: value.decode("latin-1") if isinstance(value, bytes) else value
                    for key, value in (trailing() or ())
                }
            except Exception:  # noqa: BLE001 - not a finished call
                pass
        error = error.__cause__ or error.__context__
    return None


def main():
    host, port, tokens_json, session_id = sys.argv[1:5]
    claim = sys.argv[5] if len(sys.argv) > 5 else "admin"
    echo = sys.argv[6] if len(sys.argv) > 6 else None
    tokens = json.loads(open(tokens_json).read())
    result = {"users": {}, "refused": {}}

    sessions = {}
    for name, partitions in (("alice", 3), ("bob", 5), ("carol", 7)):
        user_id = name if claim == "self" else claim
        spark = connect(host, port, session_id, tokens[name], user_id=user_id)
        few_retries(spark, 1, 100)
        sessions[name] = spark
        spark.range(partitions * 10).createOrReplaceTempView(f"mine_{name}")
        spark.conf.set("spark.sql.shuffle.partitions", str(partitions))

    for name, spark in sessions.items():
        views = sorted(
            row.viewName for row in spark.sql("SHOW VIEWS").collect() if row.viewName.startswith("mine_")
        )
        count = spark.sql(f"SELECT count(*) AS n FROM mine_{name}").collect()[0].n
        token_conf = None
        try:
            token_conf = spark.conf.get("spark.connect.authenticate.token")
        except Exception as error:  # noqa: BLE001 - reported, the test decides
            token_conf = f"error: {error_text(error)[:300]}"
        result["users"][name] = {
            "views": views,
            "count": count,
            "partitions": spark.conf.get("spark.sql.shuffle.partitions"),
            "user": spark.sql("SELECT current_user() AS u").collect()[0].u,
            "tokenConf": token_conf,
        }

    if echo is not None:
        spark = sessions["alice"]
        # DataFrame calls, not SQL: spark.sql() returns its text in a response (masked by the
        # gateway), and collect() would then run the masked text.
        row = spark.range(1).select(F.lit(f"echo:{echo}").alias("t")).collect()[0].t
        errors = []
        # Enriched errors come with FetchErrorDetails; without, from grpc-status-details-bin.
        for enriched in ("true", "false"):
            spark.conf.set("spark.sql.connect.enrichError.enabled", enriched)
            try:
                spark.range(1).select(F.raise_error(F.lit(f"leak:{echo}"))).collect()
                errors.append("no error")
            except Exception as raised:  # noqa: BLE001 - its text is the point
                # The parameters come from the ErrorInfo inside grpc-status-details-bin.
                parameters = getattr(raised, "getMessageParameters", lambda: None)()
                errors.append(
                    error_text(raised)[:4000]
                    + " parameters="
                    + json.dumps(parameters)
                    + " trailers="
                    + json.dumps(trailers_of(raised))
                )
        result["echo"] = {"row": row, "error": errors[0], "plainError": errors[1]}

    refusals = [
        ("none", None, True, "admin"),
        ("wrong", tokens["wrong"], True, "admin"),
        ("cleartext", None, False, "admin"),
    ]
    if claim == "self":
        refusals.append(("claimed", tokens["alice"], True, "admin"))
    for label, token, tls, user_id in refusals:
        try:
            spark = connect(host, port, session_id, token, tls, user_id)
            few_retries(spark, 1, 100)
            spark.range(1).collect()
            result["refused"][label] = "not refused"
        except Exception as error:  # noqa: BLE001 - the refusal is the point
            result["refused"][label] = error_text(error)[:2000]

    # Sessions stay open: stopping one in PySpark 3.5/4.0 shuts down the release pool of all.
    report_and_exit(result)


if __name__ == "__main__":
    try:
        main()
    except Exception:
        traceback.print_exc()
        sys.exit(1)
