from __future__ import annotations

import asyncio
import json

import pytest
import websockets

from models import Citation, Conversation, LibraryEntry, Message, User
from services import chat
from services.llm import LLMSettings, make_client
from services.pubsub import InMemoryBroker
from tests.fixture_source import COMPILER_TALK, INDEX_TALK
from tests.helpers import data_of, gql, sign_up
from tests.llm_stub import LLMStub, Reply
from tests.schema.test_analyses import analyze, wait_until_done

START = """
mutation($input: StartConversationInput!) { startConversation(input: $input) {
  conversation { id title videos { id } } errors { code field message } } }
"""
SEND = """
mutation($input: SendMessageInput!) { sendMessage(input: $input) {
  question { id role content }
  answer { id role content model retrievalMs citations { position start end timestamp quote video { id } } }
  errors { code field message } } }
"""
CONVERSATIONS = "{ viewer { conversations(first: 10) { edges { node { id title lastMessage { role content } } } } } }"
STREAM = "subscription($id: ID!) { messageStream(conversationId: $id) { kind delta message { id content } } }"


async def analysed(client, token, video_id):
    payload = await analyze(client, token, f"https://youtu.be/{video_id}")
    await wait_until_done(client, token, payload["analysis"]["id"])
    return payload["video"]["id"]


async def test_question_about_a_video_is_answered_with_checked_citations(client):
    token = await sign_up(client)
    video_id = await analysed(client, token, COMPILER_TALK)
    conversation = data_of(await gql(client, START, {"input": {"videoIds": [video_id]}}, token=token))[
        "startConversation"
    ]
    assert conversation["errors"] == [] and conversation["conversation"]["videos"] == [{"id": video_id}]
    body = data_of(
        await gql(
            client,
            SEND,
            {
                "input": {
                    "conversationId": conversation["conversation"]["id"],
                    "content": "How does the parser build the syntax tree?",
                }
            },
            token=token,
        )
    )["sendMessage"]
    assert body["errors"] == []
    answer = body["answer"]
    assert answer["role"] == "ASSISTANT" and answer["model"] == "local"
    assert answer["citations"], answer
    for citation in answer["citations"]:
        assert citation["video"]["id"] == video_id and citation["start"] < citation["end"]
        assert f"[{citation['position'] + 1}]" in answer["content"]
        assert ":" in citation["timestamp"]
    # every stored citation points at a chunk retrieved for this answer
    stored = await Message.get(role="assistant")
    assert {str(c.chunk_id) for c in await Citation.filter(message_id=stored.id)} <= set(
        stored.metadata["source_chunk_ids"]
    )
    assert stored.metadata["retrieval_ms"] >= 0
    listed = data_of(await gql(client, CONVERSATIONS, token=token))["viewer"]["conversations"]["edges"]
    assert listed[0]["node"]["title"] == "How does the parser build the syntax tree?"
    assert listed[0]["node"]["lastMessage"]["role"] == "ASSISTANT"


async def test_conversation_about_the_whole_library(client):
    token = await sign_up(client)
    await analysed(client, token, COMPILER_TALK)
    await analysed(client, token, INDEX_TALK)
    conversation = data_of(await gql(client, START, {"input": {}}, token=token))["startConversation"]["conversation"]
    assert conversation["videos"] == []
    body = data_of(
        await gql(
            client,
            SEND,
            {"input": {"conversationId": conversation["id"], "content": "why is my database index not used"}},
            token=token,
        )
    )["sendMessage"]
    assert body["answer"]["citations"]


async def test_answers_stream_to_the_owner(client, live_server):
    token = await sign_up(client)
    video_id = await analysed(client, token, INDEX_TALK)
    cid = data_of(await gql(client, START, {"input": {"videoIds": [video_id]}}, token=token))["startConversation"][
        "conversation"
    ]["id"]
    ws = await websockets.connect(f"ws://{live_server}/graphql", subprotocols=["graphql-transport-ws"])
    async with ws:
        await ws.send(json.dumps({"type": "connection_init", "payload": {"Authorization": f"Bearer {token}"}}))
        assert json.loads(await ws.recv())["type"] == "connection_ack"
        await ws.send(
            json.dumps({"id": "1", "type": "subscribe", "payload": {"query": STREAM, "variables": {"id": cid}}})
        )
        await asyncio.sleep(0.2)  # the subscription is registered before the question is sent
        sent = asyncio.create_task(
            gql(
                client,
                SEND,
                {"input": {"conversationId": cid, "content": "what makes the planner skip an index"}},
                token=token,
            )
        )
        deltas, final = [], None
        while final is None:
            event = json.loads(await asyncio.wait_for(ws.recv(), 10))["payload"]["data"]["messageStream"]
            if event["kind"] == "DELTA":
                deltas.append(event["delta"])
            else:
                final = event["message"]
        answer = data_of(await sent)["sendMessage"]["answer"]
    assert len(deltas) > 3
    assert final["id"] == answer["id"]
    # the stored answer is the streamed text, less any invented citation
    assert "".join(deltas).strip() == answer["content"]


async def test_another_person_cannot_use_my_conversation(client, live_server):
    ada = await sign_up(client, email="ada@example.com")
    bob = await sign_up(client, email="bob@example.com")
    video_id = await analysed(client, ada, INDEX_TALK)
    cid = data_of(await gql(client, START, {"input": {"videoIds": [video_id]}}, token=ada))["startConversation"][
        "conversation"
    ]["id"]
    answer = data_of(await gql(client, SEND, {"input": {"conversationId": cid, "content": "index"}}, token=ada))[
        "sendMessage"
    ]["answer"]
    for node_id in (cid, answer["id"]):
        assert data_of(await gql(client, "query($id: ID!) { node(id: $id) { id } }", {"id": node_id}, token=bob)) == {
            "node": None
        }
    assert data_of(await gql(client, CONVERSATIONS, token=bob))["viewer"]["conversations"]["edges"] == []
    send = data_of(await gql(client, SEND, {"input": {"conversationId": cid, "content": "hi"}}, token=bob))[
        "sendMessage"
    ]
    assert send["errors"][0]["code"] == "NOT_FOUND"
    rename = 'mutation($id: ID!) { renameConversation(id: $id, title: "x") { errors { code } } }'
    delete = "mutation($id: ID!) { deleteConversation(id: $id) { errors { code } } }"
    for mutation in (rename, delete):
        body = data_of(await gql(client, mutation, {"id": cid}, token=bob))
        assert next(iter(body.values()))["errors"][0]["code"] == "NOT_FOUND"
    # Bob cannot start a conversation about a video that is not in his library
    start = data_of(await gql(client, START, {"input": {"videoIds": [video_id]}}, token=bob))["startConversation"]
    assert (start["errors"][0]["code"], start["errors"][0]["field"]) == ("NOT_FOUND", "videoIds")
    ws = await websockets.connect(f"ws://{live_server}/graphql", subprotocols=["graphql-transport-ws"])
    async with ws:
        await ws.send(json.dumps({"type": "connection_init", "payload": {"Authorization": f"Bearer {bob}"}}))
        json.loads(await ws.recv())
        await ws.send(
            json.dumps({"id": "1", "type": "subscribe", "payload": {"query": STREAM, "variables": {"id": cid}}})
        )
        message = json.loads(await asyncio.wait_for(ws.recv(), 10))
    assert message["payload"]["errors"][0]["extensions"]["code"] == "NOT_FOUND"
    assert await Message.all().count() == 2


async def test_rename_and_delete(client):
    token = await sign_up(client)
    cid = data_of(await gql(client, START, {"input": {"title": "Notes"}}, token=token))["startConversation"][
        "conversation"
    ]["id"]
    await gql(client, SEND, {"input": {"conversationId": cid, "content": "anything"}}, token=token)
    rename = (
        "mutation($id: ID!, $t: String!) { renameConversation(id: $id, title: $t) "
        "{ conversation { title } errors { code field } } }"
    )
    assert (
        data_of(await gql(client, rename, {"id": cid, "t": "Better"}, token=token))["renameConversation"][
            "conversation"
        ]["title"]
        == "Better"
    )
    empty = data_of(await gql(client, rename, {"id": cid, "t": "  "}, token=token))["renameConversation"]
    assert empty["errors"] == [{"code": "INVALID_INPUT", "field": "title"}]
    delete = "mutation($id: ID!) { deleteConversation(id: $id) { deletedId errors { code } } }"
    assert data_of(await gql(client, delete, {"id": cid}, token=token))["deleteConversation"]["errors"] == []
    assert await Conversation.all().count() == 0 and await Message.all().count() == 0


async def test_empty_and_oversized_questions_are_refused(client):
    token = await sign_up(client)
    cid = data_of(await gql(client, START, {"input": {}}, token=token))["startConversation"]["conversation"]["id"]
    for content in ("   ", "x" * 5000):
        body = data_of(await gql(client, SEND, {"input": {"conversationId": cid, "content": content}}, token=token))[
            "sendMessage"
        ]
        assert (body["errors"][0]["code"], body["errors"][0]["field"]) == ("INVALID_INPUT", "content")
    assert await Message.all().count() == 0


async def test_llm_answer_keeps_real_citations_and_drops_invented_ones(client):
    token = await sign_up(client)
    await analysed(client, token, INDEX_TALK)
    user = await User.get(email="ada@example.com")
    video_id = str((await LibraryEntry.get(user=user)).video_id)
    conversation = await chat.start_conversation(user=user, video_ids=[video_id], title=None)
    with LLMStub() as stub:
        stub.queue(
            Reply(
                "The planner skips the index when a function wraps the column [1]. Also see [7] and [2].",
                prompt_tokens=900,
                completion_tokens=40,
            )
        )
        settings = LLMSettings(api_key="sk-test", base_url=stub.base_url, model="stub-model")
        client_ = make_client(settings)
        try:
            _, answer = await chat.send_message(
                user=user,
                conversation_id=str(conversation.id),
                content="why is the index not used",
                answerer=chat.Answerer(client=client_, settings=settings),
                broker=InMemoryBroker(),
            )
        finally:
            await client_.close()
        [request] = stub.chat_requests
    assert "[7]" not in answer.content and "[1]" in answer.content
    citations = await Citation.filter(message_id=answer.id).order_by("position")
    retrieved = answer.metadata["source_chunk_ids"]
    assert len(retrieved) >= 2 and len(citations) == 2
    assert [str(c.chunk_id) for c in citations] == [retrieved[0], retrieved[1]]
    assert answer.metadata["model"] == "stub-model" and answer.metadata["prompt_tokens"] == 900
    # the sources were numbered in the prompt, and earlier messages would be context
    assert "[1]" in request.prompt and "Question: why is the index not used" in request.prompt


async def test_last_ten_messages_are_the_context(client):
    await sign_up(client)
    user = await User.get(email="ada@example.com")
    conversation = await chat.start_conversation(user=user, video_ids=[], title="t")
    for i in range(7):
        await chat.send_message(
            user=user,
            conversation_id=str(conversation.id),
            content=f"question {i}",
            answerer=chat.Answerer(None, None),
            broker=InMemoryBroker(),
        )
    with LLMStub() as stub:
        settings = LLMSettings(api_key="sk-test", base_url=stub.base_url, model="stub-model")
        client_ = make_client(settings)
        try:
            await chat.send_message(
                user=user,
                conversation_id=str(conversation.id),
                content="the last one",
                answerer=chat.Answerer(client_, settings),
                broker=InMemoryBroker(),
            )
        finally:
            await client_.close()
        [request] = stub.chat_requests
    history = request.body["messages"][1:-1]
    assert len(history) == 10
    assert history[0]["content"] == "question 2" and history[-1]["role"] == "assistant"


@pytest.mark.parametrize(
    "question,title",
    [
        ("short one", "short one"),
        ("word " * 40, ("word " * 16).strip() + "…"),
    ],
)
def test_title_comes_from_the_first_question(question, title):
    assert chat.title_from(question) == title
