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
        return self.analyser or default_analyser()

    def get_theme_finder(self) -> ThemeFinder:
        from nlp.pipeline import find_themes

        return find_themes


@cache
def default_analyser() -> CommentAnalyser:
    """The packaged models, loaded once per process on first use."""
    from nlp.pipeline import CommentPipeline

    return CommentPipeline()


runtime = WorkerRuntime()
