"""The packaged models as the settings ask for them, loaded once per process on first use."""

from __future__ import annotations

from functools import cache

from aftercare.analysis import CommentAnalyser
from aftercare.settings import Settings
from aftercare.themes import ThemeFinder


def packaged_analyser(settings: Settings) -> CommentAnalyser:
    """The sentiment + topic pipeline (int8 and thread count from the settings)."""
    return _packaged_analyser(settings.sentiment_int8, settings.torch_threads)


@cache
def _packaged_analyser(int8: bool, torch_threads: int) -> CommentAnalyser:
    from nlp.encoder import set_torch_threads
    from nlp.pipeline import CommentPipeline
    from nlp.sentiment import get_model

    set_torch_threads(torch_threads)
    return CommentPipeline(get_model(int8))


def packaged_theme_finder() -> ThemeFinder:
    from nlp.pipeline import find_themes

    return find_themes
