"""Discovered themes, and promoting one into the topic taxonomy."""

from __future__ import annotations

import builtins  # `list` names a handler (its operationId) in the class below

from litestar import Controller, get, post
from litestar.di import NamedDependency
from litestar.params import JSONBody

from aftercare import themes
from aftercare.clock import Clock
from aftercare.themes import PromoteTheme, ThemeView
from aftercare.topics import TopicView
from api.auth import CURATORS, REPORT_READERS
from api.openapi import problems
from api.params import Id
from api.problems import StrictBody


class ThemeController(Controller):
    path = "/themes"
    tags = ["themes"]

    @get(
        "/",
        summary="Themes found by the latest discovery run, largest first",
        guards=[REPORT_READERS],
    )
    async def list(self) -> builtins.list[ThemeView]:
        return await themes.latest_themes()

    @post(
        "/{theme_id:int}/promote",
        summary="Make a discovered theme a topic of the taxonomy",
        guards=[CURATORS],
        request_max_body_size=16 * 1024,
        responses=problems(
            {404: "No theme with this id", 409: "The theme or a topic with this key exists"}
        ),
        dto=StrictBody[PromoteTheme],
        return_dto=None,
    )
    async def promote(
        self, theme_id: Id, data: JSONBody[PromoteTheme], clock: NamedDependency[Clock]
    ) -> TopicView:
        return await themes.promote_theme(theme_id, data, now=clock())
