"""Thin resolvers for conversations and the answer stream."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from typing import TYPE_CHECKING, Any

from strawberry import relay

from models import Conversation, Message
from resolvers.ids import as_uuid
from resolvers.library import EMPTY, owned_by_viewer, raw_id, viewer_of
from resolvers.pagination import Page, paginate
from services import chat
from services.errors import ErrorCode, ServiceError

if TYPE_CHECKING:
    from schema.context import Info


def answerer_of(info: Info) -> chat.Answerer:
    services = info.context.services
    return chat.Answerer(client=services.llm_client, settings=services.llm_settings, embedder=services.embedder)


async def start_conversation(info: Info, *, video_ids: list[relay.GlobalID], title: str | None) -> Conversation:
    ids = [raw_id(v, "Video", "videoIds") for v in video_ids]
    return await chat.start_conversation(user=viewer_of(info), video_ids=[i for i in ids if i], title=title)


async def send_message(info: Info, *, conversation_id: relay.GlobalID, content: str) -> tuple[Message, Message]:
    cid = raw_id(conversation_id, "Conversation", "conversationId")
    assert cid is not None
    return await chat.send_message(
        user=viewer_of(info),
        conversation_id=cid,
        content=content,
        answerer=answerer_of(info),
        broker=info.context.services.broker,
    )


async def rename_conversation(info: Info, *, conversation_id: relay.GlobalID, title: str) -> Conversation:
    cid = raw_id(conversation_id, "Conversation", "id")
    assert cid is not None
    return await chat.rename_conversation(user=viewer_of(info), conversation_id=cid, title=title)


async def delete_conversation(info: Info, *, conversation_id: relay.GlobalID) -> None:
    cid = raw_id(conversation_id, "Conversation", "id")
    assert cid is not None
    await chat.delete_conversation(user=viewer_of(info), conversation_id=cid)


async def conversations_page(info: Info, *, user_id: str, first: int, after: str | None) -> Page[Conversation]:
    user = owned_by_viewer(info, user_id)
    if user is None:
        return EMPTY  # type: ignore[return-value]
    return await paginate(Conversation.filter(user_id=user.id), first=first, after=after, key="updated_at")


async def messages_page(info: Info, *, conversation_id: str, first: int, after: str | None) -> Page[Message]:
    return await paginate(Message.filter(conversation_id=conversation_id), first=first, after=after)


async def own_conversation(info: Info, node_id: str) -> Conversation | None:
    key = as_uuid(node_id)
    if key is None or info.context.viewer is None:
        return None
    return await Conversation.get_or_none(id=key, user_id=info.context.viewer.id)


async def own_message(info: Info, node_id: str) -> Message | None:
    key = as_uuid(node_id)
    if key is None or info.context.viewer is None:
        return None
    return await Message.get_or_none(id=key, conversation__user_id=info.context.viewer.id)


async def message_events(info: Info, *, conversation_id: relay.GlobalID) -> AsyncIterator[Mapping[str, Any]]:
    """Deltas of each answer as it is written, then the stored message; for the owner only."""
    cid = (
        raw_id(conversation_id, "Conversation", "conversationId")
        if conversation_id.type_name == "Conversation"
        else None
    )
    if cid is None or await own_conversation(info, cid) is None:
        raise ServiceError(ErrorCode.NOT_FOUND, "No such conversation.", field="conversationId")
    async with info.context.services.broker.subscribe(chat.channel_of(cid)) as messages:
        async for message in messages:
            info.context.reset_loaders()
            yield message
