"""Spark Connect sessions of several users through a gateway that launches a server per user.

Usage: connect_users.py HOST PORT STEPS_JSON

STEPS_JSON is a list of steps run in order, each {"user": U, "session": S, "action": A}:
"create" makes a temp view `mine` of the user's own size in session S and reads it back; "read"
reads it again. Every step's outcome is kept: the view's row count, or the error's text.

Prints one line "SPARKPLANE_RESULT <json>" at the end and exits at once: a session whose
server is gone would otherwise hold PySpark's release threads for minutes.
"""

import json
import sys

from error_text import error_text
from interop_retries import few_retries
from report import report_and_exit
from pyspark.sql.connect.session import SparkSession

SIZES = {"alice": 30, "bob": 50}



def main():
    host, port, steps_json = sys.argv[1:4]
    steps = json.loads(steps_json)
    sessions = {}
    outcomes = []
    for step in steps:
        user, session_id, action = step["user"], step["session"], step["action"]
        try:
            spark = sessions.get(session_id)
            if spark is None:
                spark = SparkSession(
                    connection=f"sc://{host}:{port}/;session_id={session_id};user_id={user}"
                )
                few_retries(spark, 1, 100)
                sessions[session_id] = spark
            if action == "create":
                spark.range(SIZES[user]).createOrReplaceTempView("mine")
            count = spark.sql("SELECT count(*) AS n FROM mine").collect()[0].n
            outcomes.append({"ok": True, "count": count})
        except Exception as error:  # noqa: BLE001 - every failure is reported to the test
            outcomes.append({"ok": False, "error": error_text(error)})
    report_and_exit({"steps": outcomes})


if __name__ == "__main__":
    main()
