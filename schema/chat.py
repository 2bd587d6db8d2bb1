"""Conversations with videos: types, mutations and the answer stream."""

from __future__ import annotations

import enum
from collections.abc import AsyncGenerator
from datetime import datetime

import strawberry
from strawberry import relay

from models import Citation as CitationModel
from models import Conversation as ConversationModel
from models import Message as MessageModel
from models import MessageRole as MessageRoleModel
from resolvers import chat as resolvers
from schema.context import Info
from schema.errors import UserError, expected_errors
from schema.nodes import Connection, node_resolver
from schema.videos import Video
from services.errors import ServiceError
from services.timestamps import format_timestamp

MessageRole = strawberry.enum(MessageRoleModel, name="MessageRole", description="Who wrote a message.")


@strawberry.type(description="Where an answer got a claim: a transcript passage of a video.")
class Citation:
    position: int = strawberry.field(description="0 for the first source the answer cites, then 1, 2, …")
    start: float = strawberry.field(description="Where the passage begins, in seconds from the start of the video.")
    end: float = strawberry.field(description="Where it ends, in seconds from the start of the video.")
    quote: str = strawberry.field(description="The sentence of the passage closest to the question.")
    video_id: strawberry.Private[str]

    @classmethod
    def from_model(cls, m: CitationModel) -> Citation:
        return cls(position=m.position, start=m.start, end=m.end, quote=m.quote, video_id=str(m.video_id))  # type: ignore[attr-defined]

    @strawberry.field(description="`start` as mm:ss or h:mm:ss.")
    def timestamp(self) -> str:
        return format_timestamp(self.start)

    @strawberry.field(description="The video; null when it has left your library since.")
    async def video(self, info: Info) -> Video | None:
        if await info.context.loaders.library_entry_by_video_id.load(self.video_id) is None:
            return None
        return Video.from_model(await info.context.loaders.video_by_id.load(self.video_id))


@strawberry.type(description="A question, or an answer with its citations.")
class Message(relay.Node):
    id: relay.NodeID[str]
    role: MessageRole = strawberry.field(description="USER for a question, ASSISTANT for an answer.")  # type: ignore[valid-type]
    content: str = strawberry.field(
        description="The text; an answer marks each claim with its source number in brackets, like [2]."
    )
    created_at: datetime = strawberry.field(description="When it was stored.")
    model: str | None = strawberry.field(description="What wrote the answer: the LLM's name, or local.")
    retrieval_ms: float | None = strawberry.field(description="How long finding the passages took.")

    @classmethod
    def from_model(cls, m: MessageModel) -> Message:
        meta = m.metadata or {}
        return cls(
            id=str(m.id),
            role=m.role,
            content=m.content,
            created_at=m.created_at,
            model=meta.get("model"),
            retrieval_ms=meta.get("retrieval_ms"),
        )

    @strawberry.field(description="The passages this answer cites, in the order it cites them.")
    async def citations(self, info: Info) -> list[Citation]:
        return [Citation.from_model(c) for c in await info.context.loaders.citations_by_message_id.load(self.id)]


@strawberry.type(description="A chat about one video, several, or your whole library.")
class Conversation(relay.Node):
    id: relay.NodeID[str]
    title: str | None = strawberry.field(
        description="Yours, or the start of the first question; null until either exists."
    )
    created_at: datetime = strawberry.field(description="When the conversation was started.")
    updated_at: datetime = strawberry.field(description="When it last changed: a message, an answer or a new title.")

    @classmethod
    def from_model(cls, m: ConversationModel) -> Conversation:
        return cls(id=str(m.id), title=m.title, created_at=m.created_at, updated_at=m.updated_at)

    @strawberry.field(description="The videos asked about; empty means the whole library.")
    async def videos(self, info: Info) -> list[Video]:
        ids = await info.context.loaders.video_ids_by_conversation_id.load(self.id)
        entries = await info.context.loaders.library_entry_by_video_id.load_many(ids)
        kept = [i for i, e in zip(ids, entries, strict=True) if e is not None]
        return [Video.from_model(v) for v in await info.context.loaders.video_by_id.load_many(kept)]

    @strawberry.field(description="The newest message, question or answer; null before the first question.")
    async def last_message(self, info: Info) -> Message | None:
        row = await info.context.loaders.last_message_by_conversation_id.load(self.id)
        return Message.from_model(row) if row else None

    @strawberry.field(description="Messages, newest first.")
    async def messages(self, info: Info, first: int, after: str | None = None) -> Connection[Message]:
        page = await resolvers.messages_page(info, conversation_id=self.id, first=first, after=after)
        return Connection[Message].from_page(page, Message.from_model)


@strawberry.enum(description="DELTA: a piece of the answer being written. MESSAGE: the answer, stored.")
class MessageEventKind(enum.Enum):
    DELTA = "delta"
    MESSAGE = "message"


@strawberry.type(description="A piece of an answer as it is written, or the stored answer.")
class MessageEvent:
    kind: MessageEventKind = strawberry.field(description="Which of the two this event is.")
    delta: str | None = strawberry.field(
        description="The next piece of the answer's text, on DELTA events; null on the MESSAGE event."
    )
    message_id: strawberry.Private[str | None]

    @strawberry.field(description="The stored answer, on the MESSAGE event.")
    async def message(self, info: Info) -> Message | None:
        if self.message_id is None:
            return None
        row = await resolvers.own_message(info, self.message_id)
        return Message.from_model(row) if row else None


@strawberry.input(description="What the conversation is about.")
class StartConversationInput:
    video_ids: list[relay.GlobalID] = strawberry.field(default_factory=list, description="Empty: the whole library.")
    title: str | None = strawberry.field(
        default=None, description="At most 500 characters; default: the start of the first question."
    )


@strawberry.input(description="A question in one of your conversations.")
class SendMessageInput:
    conversation_id: relay.GlobalID = strawberry.field(description="Your conversation to ask in.")
    content: str = strawberry.field(description="The question, at most 4000 characters.")


@strawberry.type(description="The conversation as saved, or why it was not.")
class ConversationPayload:
    conversation: Conversation | None = strawberry.field(description="Null when there are errors.")
    errors: list[UserError] = strawberry.field(description="Expected failures; nothing was saved when there are any.")


@strawberry.type(description="The question and its answer, or why it was not answered.")
class SendMessagePayload:
    question: Message | None = strawberry.field(description="Your question as stored. Null when there are errors.")
    answer: Message | None = strawberry.field(description="The answer, with its citations. Null when there are errors.")
    errors: list[UserError] = strawberry.field(description="Expected failures, e.g. an empty or too long question.")


@strawberry.type(description="The conversation deleted, or why it was not.")
class DeleteConversationPayload:
    deleted_id: relay.GlobalID | None = strawberry.field(
        description="The id of the deleted conversation. Null when there are errors."
    )
    errors: list[UserError] = strawberry.field(description="Expected failures; nothing was deleted when there are any.")


@strawberry.type
class ChatMutations:
    @strawberry.mutation(description="Start a conversation about videos in your library.")
    async def start_conversation(self, info: Info, input: StartConversationInput) -> ConversationPayload:
        try:
            row = await resolvers.start_conversation(info, video_ids=input.video_ids, title=input.title)
        except ServiceError as error:
            return ConversationPayload(conversation=None, errors=expected_errors(error))
        return ConversationPayload(conversation=Conversation.from_model(row), errors=[])

    @strawberry.mutation(
        description="Ask a question. The answer streams on `messageStream` while it is written and is returned here."
    )
    async def send_message(self, info: Info, input: SendMessageInput) -> SendMessagePayload:
        try:
            question, answer = await resolvers.send_message(
                info, conversation_id=input.conversation_id, content=input.content
            )
        except ServiceError as error:
            return SendMessagePayload(question=None, answer=None, errors=expected_errors(error))
        return SendMessagePayload(question=Message.from_model(question), answer=Message.from_model(answer), errors=[])

    @strawberry.mutation(description="Give one of your conversations a new title; it cannot be blank.")
    async def rename_conversation(self, info: Info, id: relay.GlobalID, title: str) -> ConversationPayload:
        try:
            row = await resolvers.rename_conversation(info, conversation_id=id, title=title)
        except ServiceError as error:
            return ConversationPayload(conversation=None, errors=expected_errors(error))
        return ConversationPayload(conversation=Conversation.from_model(row), errors=[])

    @strawberry.mutation(description="Delete a conversation with its messages.")
    async def delete_conversation(self, info: Info, id: relay.GlobalID) -> DeleteConversationPayload:
        try:
            await resolvers.delete_conversation(info, conversation_id=id)
        except ServiceError as error:
            return DeleteConversationPayload(deleted_id=None, errors=expected_errors(error))
        return DeleteConversationPayload(deleted_id=id, errors=[])


@strawberry.type
class ChatSubscriptions:
    @strawberry.subscription(description="Each answer of a conversation as it is written, then the stored message.")
    async def message_stream(self, info: Info, conversation_id: relay.GlobalID) -> AsyncGenerator[MessageEvent, None]:
        async for event in resolvers.message_events(info, conversation_id=conversation_id):
            kind = MessageEventKind(event["kind"])
            yield MessageEvent(kind=kind, delta=event.get("delta"), message_id=event.get("message_id"))


@node_resolver("Conversation")
async def _conversation_node(info: Info, node_id: str) -> Conversation | None:
    row = await resolvers.own_conversation(info, node_id)
    return Conversation.from_model(row) if row else None


@node_resolver("Message")
async def _message_node(info: Info, node_id: str) -> Message | None:
    row = await resolvers.own_message(info, node_id)
    return Message.from_model(row) if row else None
