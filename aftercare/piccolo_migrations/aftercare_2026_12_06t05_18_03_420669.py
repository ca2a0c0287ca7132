import json

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.table import Table

ID = "2026-12-06T05:18:03:420669"
VERSION = "1.38.0"
DESCRIPTION = "Fill sentence_topic from the topics stored as JSON on the sentences analysed so far"


class CommentSentence(Table, tablename="comment_sentence", schema=None):
    """Only for raw queries: the table as it stands at this migration."""


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="aftercare", description=DESCRIPTION)

    async def topics_of_sentences_analysed_so_far() -> None:
        # Every topic already stored as JSON on a sentence becomes a row, as new analyses write.
        rows = await CommentSentence.raw(
            "SELECT id, response, position, topics, sentiment_label, analysed_at "
            "FROM comment_sentence"
        )
        for row in rows:
            for match in json.loads(row["topics"] or "[]"):
                await CommentSentence.raw(
                    "INSERT INTO sentence_topic (key, response, sentence, position, topic, "
                    "score, sentiment_label, analysed_at) VALUES ({}, {}, {}, {}, {}, {}, {}, {})",
                    f"{row['response']}:{row['position']}:{match['key']}",
                    row["response"],
                    row["id"],
                    row["position"],
                    match["key"],
                    float(match["score"]),
                    row["sentiment_label"],
                    row["analysed_at"],
                )

    manager.add_raw(topics_of_sentences_analysed_so_far)

    return manager
