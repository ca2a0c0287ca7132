"""Reading survey comments: language, sentences, sentiment, topics, themes; training too.

Importing this package (or `nlp.types`) stays cheap: torch and transformers load only when
`nlp.encoder` or `nlp.sentiment` is imported, so the web API can use the types alone.
"""

from nlp.types import SENTIMENT_LABELS, Sentiment, SentimentLabel

__all__ = ["SENTIMENT_LABELS", "Sentiment", "SentimentLabel"]
