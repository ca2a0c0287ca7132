"""The topic taxonomy, editable by leads."""

from __future__ import annotations

import builtins  # `list` names a handler (its operationId) in the class below

from litestar import Controller, get, patch, post
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery, JSONBody

from aftercare import topics
from aftercare.clock import Clock
from aftercare.topics import NewTopic, TopicChanges, TopicView
from api.auth import CURATORS, EVERYONE
from api.openapi import problems
from api.problems import StrictBody

MAX_TOPIC_BODY = 64 * 1024


class TopicController(Controller):
    path = "/topics"
    tags = ["topics"]

    @get(
        "/",
        summary="The taxonomy: every topic with its description and example phrases",
        guards=[EVERYONE],
    )
    async def list(self, active_only: FromQuery[bool] = False) -> builtins.list[TopicView]:
        return await topics.list_topics(active_only=active_only)

    @post(
        "/",
        summary="Add a topic",
        guards=[CURATORS],
        request_max_body_size=MAX_TOPIC_BODY,
        responses=problems({409: "A topic with this key exists"}),
        dto=StrictBody[NewTopic],
        return_dto=None,
    )
    async def create(self, data: JSONBody[NewTopic], clock: NamedDependency[Clock]) -> TopicView:
        return await topics.create_topic(data, now=clock())

    @get(
        "/{key:str}",
        summary="One topic",
        guards=[EVERYONE],
        responses=problems({404: "No topic with this key"}),
    )
    async def read(self, key: FromPath[str]) -> TopicView:
        return await topics.get_topic(key)

    @patch(
        "/{key:str}",
        summary="Change a topic's name, description, examples, or switch it off",
        guards=[CURATORS],
        request_max_body_size=MAX_TOPIC_BODY,
        responses=problems({404: "No topic with this key"}),
        dto=StrictBody[TopicChanges],
        return_dto=None,
    )
    async def update(
        self, key: FromPath[str], data: JSONBody[TopicChanges], clock: NamedDependency[Clock]
    ) -> TopicView:
        return await topics.update_topic(key, data, now=clock())
