"""Tortoise models, one module per domain. `MODEL_MODULES` is what Tortoise and aerich load."""

from models.analyses import Analysis, AnalysisEvent, AnalysisStatus, Chapter, Highlight
from models.chat import Citation, Conversation, Message, MessageRole
from models.library import Bookmark, Interaction, InteractionKind, LibraryEntry
from models.templates import GeneratedContent, Template
from models.users import Role, Session, User
from models.videos import Channel, Chunk, ChunkEmbedding, Segment, Transcript, TranscriptSource, Video, VideoSource

MODEL_MODULES = [
    "models.users",
    "models.videos",
    "models.analyses",
    "models.library",
    "models.chat",
    "models.templates",
]

__all__ = [
    "MODEL_MODULES",
    "Analysis",
    "AnalysisEvent",
    "AnalysisStatus",
    "Bookmark",
    "Channel",
    "Chapter",
    "Chunk",
    "ChunkEmbedding",
    "Citation",
    "Conversation",
    "GeneratedContent",
    "Highlight",
    "Interaction",
    "InteractionKind",
    "LibraryEntry",
    "Message",
    "MessageRole",
    "Role",
    "Segment",
    "Session",
    "Template",
    "Transcript",
    "TranscriptSource",
    "User",
    "Video",
    "VideoSource",
]
