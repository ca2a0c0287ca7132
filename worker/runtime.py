"""What actors need besides their message: settings, a clock and the comment analyser.

Read from the environment by default; tests and the embedded mode hand in their own.
"""

from __future__ import annotations

from functools import cache

from aftercare.analysis import CommentAnalyser
from aftercare.clock import Clock, system_clock
from aftercare.settings import Settings, load_settings
from aftercare.themes import ThemeFinder


class WorkerRuntime:
    def __init__(self) -> None:
        self.settings: Settings | None = None
        self.clock: Clock = system_clock
        self.analyser: CommentAnalyser | None = None

    def configure(
        self,
        settings: Settings | None = None,
        clock: Clock | None = None,
        analyser: CommentAnalyser | None = None,
    ) -> None:
        if settings is not None:
            self.settings = settings
        if clock is not None:
            self.clock = clock
        if analyser is not None:
            self.analyser = analyser

    def get_settings(self) -> Settings:
        if self.settings is None:
            self.settings = load_settings()
        return self.settings

    def get_analyser(self) -> CommentAnalyser:
        return self.analyser or default_analyser(self.get_settings())

    def get_theme_finder(self) -> ThemeFinder:
        from nlp.pipeline import find_themes

        return find_themes


def default_analyser(settings: Settings) -> CommentAnalyser:
    """The packaged models as the settings ask for them, loaded once per process."""
    return _packaged_analyser(settings.sentiment_int8, settings.torch_threads)


@cache
def _packaged_analyser(int8: bool, torch_threads: int) -> CommentAnalyser:
    from nlp.encoder import set_torch_threads
    from nlp.pipeline import CommentPipeline
    from nlp.sentiment import get_model

    set_torch_threads(torch_threads)
    return CommentPipeline(get_model(int8))


runtime = WorkerRuntime()
