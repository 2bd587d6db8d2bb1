"""Library benchmark (issue 4): the deep library query through vidgraph, a hand-written endpoint and
PostGraphile over the same PostgreSQL tables; SQL statements per request; search latency.

Run from the repository root (needs a PostgreSQL server it may create a database on, `wrk`, Node 20
and npm; it creates and drops its own database and stops every process it starts):

    python -m bench.bench_library [--server postgres://postgres@127.0.0.1:5432/postgres]
        [--concurrency 16] [--rounds 3] [--seconds 10] [--search-videos 1000] [--json out.json]

Steps: create and migrate a database (`python main.py migrate`); start vidgraph
(`python main.py serve`), bench/handwritten.py (uvicorn) and bench/postgraphile/server.js (node);
sign people up through vidgraph and give them libraries (asyncpg COPY); check the three answer the
same data (and a second vidgraph with SQL_JSON=false, whose page the resolvers make); load each
with wrk at fixed concurrency in interleaved rounds; restart vidgraph with
LOG_LEVEL=DEBUG and count Tortoise's statements per request (grouped by X-Request-ID) at 10, 100
and 1,000 entries; add three-hour transcripts to 1,000 videos and time `search` through vidgraph,
with EXPLAIN ANALYZE of the statements search runs and of a proposed transcript statement.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import itertools
import json
import os
import random
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import httpx

from bench.common import free_port, percentile
from tests.helpers import data_of, gql, sign_up

ROOT = Path(__file__).resolve().parent.parent
POSTGRAPHILE_DIR = ROOT / "bench" / "postgraphile"
SEED = 20260401
POOL_SIZE = 5  # Tortoise's default pool size; the other two servers get the same
LIBRARY_SIZE = 50
VIDEOS = 1000  # every library below points into these shared videos
CHANNELS = 25
HIGHLIGHTS = 12
CHAPTERS = 3
SEARCH_P99_TARGET_MS = 50.0

NODE = """id addedAt bookmarked video { id title duration channel { name } }
      analysis { id status summary highlights { id start title agentName } chapters { start title } }"""
LIBRARY = "{ viewer { library(first: 50) { edges { node { " + NODE + " } } } } }"
LIBRARY_PAGE = (
    "query($first: Int!, $after: String) { viewer { library(first: $first, after: $after) {"
    " pageInfo { hasNextPage endCursor } edges { node { " + NODE + " } } } } }"
)
# PostGraphile has no sessions: the viewer's id is part of the query instead
POSTGRAPHILE_LIBRARY = """
query($uid: UUID!) { userById(id: $uid) {
  libraryEntriesByUserId(first: 50, orderBy: [CREATED_AT_DESC, ID_DESC]) { nodes { id createdAt
    videoByVideoId { id title duration channelByChannelId { name }
      bookmarksByVideoId(condition: {userId: $uid}) { totalCount } }
    analysisByAnalysisId { id status summary
      highlightsByAnalysisId(orderBy: POSITION_ASC) { nodes { id start title agentName } }
      chaptersByAnalysisId(orderBy: POSITION_ASC) { nodes { start title } } } } } } }
"""
SEARCH = """
query($q: String!) { search(query: $q, first: 20) {
  edges { node { kind snippet seconds timestamp video { id title } highlight { id } } } } }
"""


# ---------------------------------------------------------------- processes


@dataclass
class Server:
    name: str
    port: int
    log: Path
    process: subprocess.Popen[bytes]

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)


@dataclass
class Processes:
    """Every server this run starts, so that each one is stopped whatever happens."""

    workdir: Path
    servers: list[Server] = field(default_factory=list)

    def start(self, name: str, command: list[str], env: dict[str, str], *, cwd: Path, port: int) -> Server:
        log = self.workdir / f"{name}.log"
        with log.open("wb") as out:
            process = subprocess.Popen(  # noqa: S603 -- our own fixed commands
                command, cwd=cwd, env={**os.environ, **env}, stdout=out, stderr=subprocess.STDOUT
            )
        server = Server(name, port, log, process)
        self.servers.append(server)
        return server

    def stop(self, server: Server) -> None:
        server.stop()
        self.servers.remove(server)

    def stop_all(self) -> None:
        for server in list(self.servers):
            self.stop(server)


async def wait_until_up(server: Server, path: str, *, within: float = 90.0) -> None:
    deadline = time.monotonic() + within
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{server.port}") as client:
        while time.monotonic() < deadline:
            if server.process.poll() is not None:
                raise RuntimeError(f"{server.name} exited: {server.log.read_text()[-2000:]}")
            with contextlib.suppress(httpx.HTTPError):
                if (await client.get(path)).status_code < 500:
                    return
            await asyncio.sleep(0.25)
    raise RuntimeError(f"{server.name} did not answer within {within:.0f}s: {server.log.read_text()[-2000:]}")


def vidgraph_env(database_url: str, **extra: str) -> dict[str, str]:
    # rate limits off: the benchmark measures query cost, and history allows 20 requests a minute
    return {"DATABASE_URL": database_url, "REDIS_URL": "", "GRAPHIQL": "false", "RATE_LIMITS_ENABLED": "false",
            "LOG_LEVEL": "INFO", **extra}


async def start_vidgraph(procs: Processes, database_url: str, *, name: str = "vidgraph", **env: str) -> Server:
    port = free_port()
    server = procs.start(name, [sys.executable, "main.py", "serve", "--port", str(port)],
                         vidgraph_env(database_url, **env), cwd=ROOT, port=port)
    await wait_until_up(server, "/healthz")
    return server


async def start_handwritten(procs: Processes, database_url: str) -> Server:
    port = free_port()
    command = [sys.executable, "-m", "uvicorn", "bench.handwritten:create_app", "--factory", "--port", str(port)]
    server = procs.start("handwritten", command, {"DATABASE_URL": database_url, "POOL_SIZE": str(POOL_SIZE)},
                         cwd=ROOT, port=port)
    await wait_until_up(server, "/library?first=0")
    return server


def npm_install() -> str:
    """PostGraphile's pinned packages (package-lock.json) in bench/postgraphile/node_modules; its version."""
    npm = shutil.which("npm")
    if npm is None:
        raise RuntimeError("PostGraphile needs Node and npm")
    if not (POSTGRAPHILE_DIR / "node_modules" / "postgraphile").exists():
        subprocess.run([npm, "ci", "--no-audit", "--no-fund"], cwd=POSTGRAPHILE_DIR,  # noqa: S603
                       check=True, timeout=300, capture_output=True)
    package = json.loads((POSTGRAPHILE_DIR / "node_modules" / "postgraphile" / "package.json").read_text())
    return str(package["version"])


async def start_postgraphile(procs: Processes, database_url: str) -> Server:
    node = shutil.which("node")
    if node is None:
        raise RuntimeError("PostGraphile needs Node")
    port = free_port()
    env = {"DATABASE_URL": database_url, "PORT": str(port), "POOL_SIZE": str(POOL_SIZE), "NODE_ENV": "production"}
    server = procs.start("postgraphile", [node, "server.js"], env, cwd=POSTGRAPHILE_DIR, port=port)
    # GET /graphql answers (405) once the schema is introspected
    await wait_until_up(server, "/graphql")
    return server


# ---------------------------------------------------------------- database


def connect(url: str) -> Any:
    return asyncpg.connect(url.replace("postgres://", "postgresql://", 1))


async def admin(server: str, sql: str) -> None:
    conn = await connect(server)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


async def migrate(url: str) -> None:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "main.py", "migrate", cwd=ROOT, env={**os.environ, "DATABASE_URL": url},
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )
    output, _ = await asyncio.wait_for(process.communicate(), 300)
    if process.returncode != 0:
        raise RuntimeError(f"migrate failed: {output.decode()}")


@contextlib.asynccontextmanager
async def fresh_database(server: str, *, keep: bool) -> AsyncIterator[str]:
    name = f"vidgraph_bench_{uuid.uuid4().hex[:10]}"
    await admin(server, f'CREATE DATABASE "{name}"')
    url = f"{server.rpartition('/')[0]}/{name}"
    try:
        await migrate(url)
        yield url
    finally:
        if keep:
            print(f"kept database {url}", file=sys.stderr)
        else:
            await admin(server, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


# ---------------------------------------------------------------- data


FUNCTION_WORDS = "the and of to a in that is it you we so this for with on but what if then just".split()
SYLLABLES = "ka lo mi ne ru sa to vi de pa ge ho ri mu fe ta be si lu zo qua tri bra cle".split()
# where speech puts stopwords (F) among content words (V), ten words a line
SEGMENT_PATTERN = "FVVFVFVVFV"
PHRASE = ("garbage", "collector")  # said in one video in ten, to search for as a phrase


class Vocabulary:
    """Made-up content words with Zipf frequencies: a few in every chunk, most in a handful."""

    def __init__(self, rng: random.Random, size: int = 30_000) -> None:
        words: set[str] = set()
        while len(words) < size:
            words.add("".join(rng.choice(SYLLABLES) for _ in range(rng.randint(2, 4))))
        self.words = sorted(words)
        rng.shuffle(self.words)  # the index is the rank
        self.cumulative = list(itertools.accumulate(1.0 / (rank + 10) for rank in range(size)))

    def sample(self, rng: random.Random, k: int) -> list[str]:
        return rng.choices(self.words, cum_weights=self.cumulative, k=k)

    def text(self, rng: random.Random, k: int) -> str:
        return " ".join(self.sample(rng, k))


@dataclass
class Library:
    user_ids: dict[str, str]  # email -> user id
    video_ids: list[str]


async def copy(conn: Any, table: str, rows: list[tuple[Any, ...]], columns: str) -> None:
    await conn.copy_records_to_table(table, records=rows, columns=columns.split())


async def fill_libraries(conn: Any, vocab: Vocabulary, rng: random.Random, sizes: dict[str, int]) -> Library:
    """VIDEOS analysed videos (channel, analysis, 12 highlights, 3 chapters) and each person's library."""
    now = datetime.now(UTC)
    users = {r["email"]: r["id"] for r in await conn.fetch("SELECT id, email FROM users")}
    channels = [(uuid.uuid4(), f"UCbench{i:04d}", f"Channel {vocab.text(rng, 2)}", now, now) for i in range(CHANNELS)]
    videos, analyses, highlights, chapters = [], [], [], []
    for i in range(VIDEOS):
        vid, aid, key = uuid.uuid4(), uuid.uuid4(), f"b{i:010d}"
        videos.append((vid, "youtube", key, f"https://www.youtube.com/watch?v={key}", f"Talk {i}: {vocab.text(rng, 4)}",
                       "", 3 * 3600.0, "[]", "[]", "[]", "en", now, now, channels[i % CHANNELS][0]))
        analyses.append((aid, "local:1", "k", "en", "COMPLETED", 1.0, f"Summary of talk {i}. {vocab.text(rng, 30)}",
                         0, 0, "", 1, False, now, now, now, now, vid))
        highlights += [(uuid.uuid4(), p, p * 900.0, p * 900.0 + 30, f"Point {p}: {vocab.text(rng, 3)}",
                        vocab.text(rng, 12), ("key-point", "insight", "quote")[p % 3], now, aid)
                       for p in range(HIGHLIGHTS)]
        chapters += [(uuid.uuid4(), p, p * 3600.0, (p + 1) * 3600.0, f"Part {p}: {vocab.text(rng, 2)}", "", aid)
                     for p in range(CHAPTERS)]
    await copy(conn, "channels", channels, "id source_id name created_at updated_at")
    await copy(conn, "videos", videos, "id source youtube_id url title description duration tags categories "
                                       "uploader_chapters language created_at updated_at channel_id")
    await copy(conn, "analyses", analyses, "id analyzer settings_key language status progress summary prompt_tokens "
                                           "completion_tokens model attempts cancel_requested created_at started_at "
                                           "finished_at updated_at video_id")
    await copy(conn, "highlights", highlights,
               "id position start end title description agent_name created_at analysis_id")
    await copy(conn, "chapters", chapters, "id position start end title summary analysis_id")
    base = datetime(2026, 1, 1, tzinfo=UTC)
    entries, bookmarks = [], []
    for email, size in sizes.items():
        for i in range(size):
            entries.append((uuid.uuid4(), base + timedelta(seconds=i), now, analyses[i][0], users[email], videos[i][0]))
            if i % 5 == 0:  # some entries bookmarked, so `bookmarked` is not constant
                bookmarks.append((uuid.uuid4(), "", "", now, now, users[email], videos[i][0]))
    await copy(conn, "library_entries", entries, "id created_at updated_at analysis_id user_id video_id")
    await copy(conn, "bookmarks", bookmarks, "id moment_key note created_at updated_at user_id video_id")
    await conn.execute("ANALYZE")
    return Library({email: str(uid) for email, uid in users.items()}, [str(v[0]) for v in videos])


def transcript_rows(
    vocab: Vocabulary, rng: random.Random, transcript_id: uuid.UUID, *, segments: int, chunk_segments: int
) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    """Three hours of lines, and chunks of `chunk_segments` lines with 20% overlap (services/chunking.py)."""
    step = 3 * 3600.0 / segments
    content = iter(vocab.sample(rng, segments * SEGMENT_PATTERN.count("V")))
    function = iter(rng.choices(FUNCTION_WORDS, k=segments * SEGMENT_PATTERN.count("F")))
    texts = [" ".join(next(content) if kind == "V" else next(function) for kind in SEGMENT_PATTERN)
             for _ in range(segments)]
    if rng.random() < 0.1:
        for position in rng.sample(range(segments), 3):
            texts[position] = f"so the {PHRASE[0]} {PHRASE[1]} {texts[position]}"
    lines = [(p, round(p * step, 2), round((p + 1) * step, 2), texts[p], transcript_id) for p in range(segments)]
    chunks = []
    hop = chunk_segments * 4 // 5
    for position, first in enumerate(range(0, segments - chunk_segments // 5, hop)):
        last = min(first + chunk_segments, segments) - 1
        text = " ".join(texts[first : last + 1])
        chunks.append((uuid.uuid4(), position, lines[first][1], lines[last][2], text,
                       int(len(text.split()) * 1.2), first, last, transcript_id))
    return lines, chunks


async def fill_transcripts(
    conn: Any, vocab: Vocabulary, rng: random.Random, video_ids: Sequence[str], *, segments: int
) -> dict[str, int]:
    """A transcript per video (`segments` lines, ≈700-token chunks) by COPY; the search vectors fill themselves."""
    now, batch = datetime.now(UTC), 20
    totals: Counter[str] = Counter()
    for start in range(0, len(video_ids), batch):
        transcripts, lines, chunks = [], [], []
        for video_id in video_ids[start : start + batch]:
            tid = uuid.uuid4()
            some_lines, some_chunks = transcript_rows(vocab, rng, tid, segments=segments, chunk_segments=60)
            tokens = sum(c[5] for c in some_chunks)
            transcripts.append((tid, "en", "auto", "vtt", segments, tokens, now, uuid.UUID(video_id)))
            lines += some_lines
            chunks += some_chunks
        await copy(conn, "transcripts", transcripts,
                   "id language source format segment_count token_count created_at video_id")
        await copy(conn, "segments", lines, "position start end text transcript_id")
        await copy(conn, "chunks", chunks,
                   "id position start end text token_count first_segment last_segment transcript_id")
        totals.update(transcripts=len(transcripts), segments=len(lines), chunks=len(chunks))
    return dict(totals)


# ---------------------------------------------------------------- answers compared


def _row_id(global_id: str) -> str:
    return base64.b64decode(global_id).decode().split(":", 1)[1]


def normalised_vidgraph(body: dict[str, Any]) -> list[tuple[Any, ...]]:
    rows = []
    for edge in data_of(body)["viewer"]["library"]["edges"]:
        n, a = edge["node"], edge["node"]["analysis"]
        rows.append((_row_id(n["id"]), n["bookmarked"], n["video"]["title"], n["video"]["channel"]["name"], a["status"],
                     tuple((_row_id(h["id"]), h["start"], h["title"], h["agentName"]) for h in a["highlights"]),
                     tuple((c["start"], c["title"]) for c in a["chapters"])))
    return rows


def normalised_postgraphile(body: dict[str, Any]) -> list[tuple[Any, ...]]:
    rows = []
    for n in data_of(body)["userById"]["libraryEntriesByUserId"]["nodes"]:
        v, a = n["videoByVideoId"], n["analysisByAnalysisId"]
        highlights = a["highlightsByAnalysisId"]["nodes"]
        rows.append((n["id"], v["bookmarksByVideoId"]["totalCount"] > 0, v["title"], v["channelByChannelId"]["name"],
                     a["status"], tuple((h["id"], h["start"], h["title"], h["agentName"]) for h in highlights),
                     tuple((c["start"], c["title"]) for c in a["chaptersByAnalysisId"]["nodes"])))
    return rows


@dataclass(frozen=True)
class Target:
    name: str
    url: str
    method: str
    headers: dict[str, str]
    body: str | None


async def check_answers(targets: Sequence[Target]) -> tuple[dict[str, Any], dict[str, Any]]:
    """The three answer the same entries, videos, analyses, highlights and chapters, in the same order;
    what was checked, and vidgraph's answer."""
    bodies = {}
    async with httpx.AsyncClient(timeout=60) as client:
        for t in targets:
            response = await client.request(t.method, t.url, headers=t.headers, content=t.body)
            response.raise_for_status()
            bodies[t.name] = response.json()
    vg, hw = data_of(bodies["vidgraph"]), data_of(bodies["handwritten"])
    if vg != hw:
        raise RuntimeError("the hand-written endpoint does not answer what vidgraph answers")
    if "vidgraph-resolvers" in bodies and bodies["vidgraph-resolvers"] != bodies["vidgraph"]:
        raise RuntimeError("vidgraph answers differently with SQL_JSON=false")
    if normalised_vidgraph(bodies["vidgraph"]) != normalised_postgraphile(bodies["postgraphile"]):
        raise RuntimeError("PostGraphile does not answer the same data as vidgraph")
    edges = vg["viewer"]["library"]["edges"]
    checked = {"entries": len(edges), "highlights_per_entry": len(edges[0]["node"]["analysis"]["highlights"]),
               "bytes": {name: len(json.dumps(body, separators=(",", ":"))) for name, body in bodies.items()}}
    return checked, bodies["vidgraph"]


# ---------------------------------------------------------------- load (wrk)


WRK_SCRIPT = """
wrk.method = "{method}"
{headers}
{body}
local threads = {{}}
function setup(thread) table.insert(threads, thread) end
function init(args) bad = 0 end
function response(status, headers, body)
  if status ~= 200 or string.find(body, '"errors"', 1, true) then bad = bad + 1 end
end
function done(summary, latency, requests)
  local total = 0
  for _, t in ipairs(threads) do total = total + t:get("bad") end
  io.write(string.format("BAD_RESPONSES %d\\n", total))
end
"""


def wrk_script(target: Target, directory: Path) -> Path:
    headers = "\n".join(f'wrk.headers["{k}"] = [==[{v}]==]' for k, v in target.headers.items())
    body = f"wrk.body = [==[{target.body}]==]" if target.body is not None else ""
    path = directory / f"{target.name}.lua"
    path.write_text(WRK_SCRIPT.format(method=target.method, headers=headers, body=body))
    return path


def _ms(text: str) -> float:
    found = re.fullmatch(r"([\d.]+)(us|ms|s)", text)
    if found is None:
        raise RuntimeError(f"not a wrk duration: {text!r}")
    return float(found.group(1)) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[found.group(2)]


def _number(pattern: str, text: str) -> float:
    found = re.search(pattern, text)
    return float(found.group(1)) if found else 0.0


@dataclass(frozen=True)
class Round:
    rps: float
    p50_ms: float
    p99_ms: float
    requests: int
    failed: int  # not 200, a GraphQL error, or a socket error
    load_before: float  # the machine's 1-minute load average as the round started


def run_wrk(script: Path, url: str, *, concurrency: int, seconds: int, threads: int) -> Round:
    wrk = shutil.which("wrk")
    if wrk is None:
        raise RuntimeError("install wrk (apt-get install -y wrk)")
    load_before = os.getloadavg()[0]
    # a long timeout: a slow answer must count as slow, not vanish as a socket timeout
    command = [wrk, f"-t{threads}", f"-c{concurrency}", f"-d{seconds}s", "--timeout", "60s", "--latency",
               "-s", str(script), url]
    out = subprocess.run(command, capture_output=True, text=True, timeout=seconds + 90, check=True).stdout  # noqa: S603
    percentiles = dict(re.findall(r"^\s+(50|99)%\s+(\S+)\s*$", out, re.MULTILINE))
    if set(percentiles) != {"50", "99"}:
        raise RuntimeError(f"unexpected wrk output for {url}:\n{out}")
    sockets = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    return Round(
        rps=_number(r"Requests/sec:\s+([\d.]+)", out), p50_ms=_ms(percentiles["50"]), p99_ms=_ms(percentiles["99"]),
        requests=int(_number(r"(\d+) requests in", out)),
        failed=int(_number(r"BAD_RESPONSES (\d+)", out)) + (sum(map(int, sockets.groups())) if sockets else 0),
        load_before=load_before,
    )


def wait_for_quiet(max_load: float, within: float) -> float:
    """Wait (up to `within` s) for other work on the machine to settle; the load average we start at."""
    deadline = time.monotonic() + within
    while os.getloadavg()[0] > max_load and time.monotonic() < deadline:
        time.sleep(10)
    return os.getloadavg()[0]


def load_rounds(targets: Sequence[Target], *, directory: Path, concurrency: int, rounds: int, seconds: int,
                threads: int) -> tuple[dict[str, list[Round]], dict[str, Round]]:
    """Warm each up, then interleave the rounds so drift on the machine hits all alike; then one
    round each with a single client, whose latency is the cost of one request."""
    scripts = {t.name: wrk_script(t, directory) for t in targets}
    for t in targets:
        run_wrk(scripts[t.name], t.url, concurrency=concurrency, seconds=3, threads=threads)
    results: dict[str, list[Round]] = {t.name: [] for t in targets}
    for _ in range(rounds):
        for t in targets:
            results[t.name].append(
                run_wrk(scripts[t.name], t.url, concurrency=concurrency, seconds=seconds, threads=threads))
    alone = {t.name: run_wrk(scripts[t.name], t.url, concurrency=1, seconds=5, threads=1) for t in targets}
    return results, alone


def summary(rounds: list[Round]) -> dict[str, float]:
    return {"rps": statistics.median(r.rps for r in rounds), "p50_ms": statistics.median(r.p50_ms for r in rounds),
            "p99_ms": statistics.median(r.p99_ms for r in rounds)}


# ---------------------------------------------------------------- statements per request

VERBS = ("SELECT", "INSERT", "UPDATE", "DELETE", "WITH")  # what tests/sql_counter.py counts


def statements_by_request(log: Path) -> dict[str, list[str]]:
    """Tortoise's DEBUG lines in a server's JSON log, by the request id each carries."""
    found: dict[str, list[str]] = {}
    for line in log.read_text().splitlines():
        with contextlib.suppress(ValueError):
            record = json.loads(line)
            message = str(record.get("message", "")).lstrip()
            if str(record.get("logger", "")).startswith("tortoise") and message.upper().startswith(VERBS):
                found.setdefault(str(record.get("request_id")), []).append(message[:160])
    return found


async def count_statements(server: Server, tokens: dict[int, str], *, repeats: int = 3) -> dict[str, Any]:
    """Statements per request at each library size; 1,000 entries take ten pages of 100."""
    sent: dict[str, tuple[int, int]] = {}
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{server.port}", timeout=60) as client:
        for size, token in tokens.items():
            for attempt in range(repeats):
                after, page = None, 0
                while True:
                    rid = f"stmt{size}x{attempt}p{page}"
                    variables = {"first": min(size, 100), "after": after}
                    response = await client.post("/graphql", json={"query": LIBRARY_PAGE, "variables": variables},
                                                 headers={"Authorization": f"Bearer {token}", "X-Request-ID": rid})
                    library = data_of(response.json())["viewer"]["library"]
                    sent[rid] = (size, len(library["edges"]))
                    if not library["pageInfo"]["hasNextPage"]:
                        break
                    after, page = library["pageInfo"]["endCursor"], page + 1
        await asyncio.sleep(0.5)  # the server logs before it answers; this is only for the file system
    logged = statements_by_request(server.log)
    per_page: dict[int, list[int]] = {}
    rows: Counter[int] = Counter()
    for rid, (size, edges) in sent.items():
        per_page.setdefault(size, []).append(len(logged.get(rid, [])))
        rows[size] += edges
    return {"per_page": {s: sorted(set(c)) for s, c in per_page.items()},
            "pages": {s: len(c) // repeats for s, c in per_page.items()},
            "rows": {s: n // repeats for s, n in rows.items()}}


async def statements_of_one(server: Server, token: str) -> list[str]:
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{server.port}", timeout=60) as client:
        for i in range(2):  # the first may also touch the session's last_used_at
            response = await client.post("/graphql", json={"query": LIBRARY},
                                         headers={"Authorization": f"Bearer {token}", "X-Request-ID": f"lib50x{i}"})
            data_of(response.json())
        await asyncio.sleep(0.5)
    return statements_by_request(server.log).get("lib50x1", [])


# ---------------------------------------------------------------- search


async def search_latency(server: Server, token: str, queries: dict[str, str], *, repeats: int) -> dict[str, Any]:
    """One client, one search at a time, the kinds interleaved; milliseconds as the client sees them."""
    timings: dict[str, list[float]] = {k: [] for k in queries}
    hits: dict[str, int] = {}
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{server.port}", timeout=120) as client:
        for kind, text in queries.items():  # warm-up, and each query must answer without errors
            hits[kind] = len(data_of(await gql(client, SEARCH, {"q": text}, token=token))["search"]["edges"])
        for _ in range(repeats):
            for kind, text in queries.items():
                started = time.perf_counter()
                data_of(await gql(client, SEARCH, {"q": text}, token=token))
                timings[kind].append((time.perf_counter() - started) * 1000)
    everything = [t for ts in timings.values() for t in ts]
    return {
        "per_query": {k: {"query": queries[k], "hits": hits[k], "p50_ms": percentile(ts, 50),
                          "p99_ms": percentile(ts, 99), "max_ms": max(ts)} for k, ts in timings.items()},
        "all": {"p50_ms": percentile(everything, 50), "p99_ms": percentile(everything, 99),
                "requests": len(everything)},
    }


# A proposed shape for the transcript statement, timed beside today's (not used by the service): rank
# at most 500 matching chunks of the viewer's library instead of every one. The tsquery comes from a
# materialized CTE, so the planner cannot see how common the words are and keeps the GIN bitmap scan,
# which finds plain-word matches without reading (detoasting) a single tsvector; only the 500
# candidates are read and ranked.
PROPOSED_TRANSCRIPT = """
WITH q AS MATERIALIZED (SELECT to_tsquery('english', $1) AS q),
candidates AS MATERIALIZED (
    SELECT ch.id FROM library_entries le
    JOIN transcripts t ON t.video_id = le.video_id
    JOIN chunks ch ON ch.transcript_id = t.id, q
    WHERE le.user_id = $2 AND ch.search_vector @@ q.q
    LIMIT 500)
SELECT ch.id, t.video_id, ch.transcript_id, ch.start, ch.first_segment, ch.last_segment,
       ts_rank_cd(ch.search_vector, q.q) AS rank
FROM candidates c JOIN chunks ch ON ch.id = c.id JOIN transcripts t ON t.id = ch.transcript_id, q
ORDER BY rank DESC, ch.id LIMIT $3"""


def numbered(sql: str) -> str:
    """`?` placeholders as asyncpg's `$1, $2, …`, as services/search.py sends them."""
    counter = itertools.count(1)
    return re.sub(r"\?", lambda _m: f"${next(counter)}", sql)


async def explain(conn: Any, sql: str, args: Sequence[Any], runs: int = 3) -> tuple[float, str]:
    """EXPLAIN (ANALYZE, BUFFERS): the median execution time of `runs`, and that run's plan."""
    results = []
    for _ in range(runs):
        plan = "\n".join(r[0] for r in await conn.fetch("EXPLAIN (ANALYZE, BUFFERS) " + sql, *args))
        results.append((_number(r"Execution Time: ([\d.]+) ms", plan), plan))
    return sorted(results)[runs // 2]


async def explain_search(url: str, user_id: str, text: str) -> dict[str, Any]:
    """Each statement services/search.py runs for `text`, with custom and generic plans, and the proposal."""
    from services.search import _CHANNELS, _PG
    from services.search_query import parse_query

    query = parse_query(text)
    uid, words, limit = uuid.UUID(user_id), query.words(), 21  # search() asks for first + 1 rows of each kind
    statements = {kind: (numbered(sql), [query.tsquery(), uid, limit]) for kind, sql in _PG.items()}
    # the viewer's channel names, matched in the process by the same rules as the text
    del words
    statements["channel"] = (numbered(_CHANNELS), [uid])
    conn = await connect(url)
    result: dict[str, Any] = {}
    try:
        for mode in ("auto", "force_generic_plan"):
            await conn.execute(f"SET plan_cache_mode = {mode}")
            for kind, (sql, args) in statements.items():
                try:
                    ms, plan = await explain(conn, sql, args)
                except (asyncpg.PostgresError, asyncpg.InterfaceError) as error:  # a statement of another shape
                    ms, plan = float("nan"), f"not explained: {error}"
                result.setdefault(mode, {})[kind] = {"execution_ms": ms, "plan": plan}
        await conn.execute("RESET plan_cache_mode")
        ms, plan = await explain(conn, PROPOSED_TRANSCRIPT, [query.tsquery(), uid, limit])
        try:
            exact = {r["id"] for r in await conn.fetch(statements["transcript"][0], query.tsquery(), uid, 20)}
        except (asyncpg.PostgresError, asyncpg.InterfaceError):
            exact = set()
        proposed = {r["id"] for r in await conn.fetch(PROPOSED_TRANSCRIPT, query.tsquery(), uid, 20)}
        result["proposed_transcript"] = {"execution_ms": ms, "plan": plan, "same_hits": len(exact & proposed),
                                         "exact_hits": len(exact)}
        result["matching_chunks"] = await conn.fetchval(
            "SELECT count(*) FROM chunks WHERE search_vector @@ to_tsquery('english', $1)", query.tsquery())
    finally:
        await conn.close()
    return result


async def search_phase(args: argparse.Namespace, url: str, procs: Processes, vocab: Vocabulary, rng: random.Random,
                       library: Library, user: str, token: str, timings: dict[str, float]) -> dict[str, Any]:
    videos = library.video_ids[: args.search_videos]
    conn = await connect(url)
    try:
        with timed(f"load transcripts for {len(videos)} videos (COPY)", timings):
            loaded = await fill_transcripts(conn, vocab, rng, videos, segments=args.segments)
        with timed("VACUUM ANALYZE", timings):
            for table in ("transcripts", "segments", "chunks"):
                await conn.execute(f"VACUUM ANALYZE {table}")
        size = await conn.fetchval("SELECT pg_size_pretty(pg_database_size(current_database()))")
    finally:
        await conn.close()
    # by Zipf rank: a word in nearly every chunk, one in a few percent, one in a handful
    queries = {
        "rare word": vocab.words[25_000],
        "medium word": vocab.words[400],
        "common word": vocab.words[0],
        "two common words": f"{vocab.words[1]} {vocab.words[2]}",
        "phrase": f'"{PHRASE[0]} {PHRASE[1]}"',
    }
    load_average = wait_for_quiet(args.max_load, args.quiet_wait)
    with timed("search latency through vidgraph", timings):
        server = await start_vidgraph(procs, url, name="vidgraph-search")
        latency = await search_latency(server, token, queries, repeats=args.search_repeats)
        procs.stop(server)
    with timed("EXPLAIN ANALYZE of the search statements", timings):
        explains = {kind: await explain_search(url, library.user_ids[user], text) for kind, text in queries.items()}
    return {"loaded": loaded, "database_size": size, "load_average_at_start": load_average, "latency": latency,
            "explain": explains}


# ---------------------------------------------------------------- where the time goes


async def median_ms(action: Any, repeats: int = 30) -> float:
    for _ in range(3):
        await action()
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        await action()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def in_memory_schema(*, async_relations: bool) -> Any:
    """graphql-core alone, the deep query's shape over the answer's own dicts: no Strawberry, no database."""
    from graphql import (
        GraphQLArgument,
        GraphQLBoolean,
        GraphQLField,
        GraphQLFloat,
        GraphQLID,
        GraphQLInt,
        GraphQLList,
        GraphQLNonNull,
        GraphQLObjectType,
        GraphQLSchema,
        GraphQLString,
    )

    def relation(name: str) -> Any:
        async def load(obj: dict[str, Any], info: Any) -> Any:
            return obj[name]
        return load if async_relations else (lambda obj, info: obj[name])

    def obj(name: str, fields: dict[str, Any]) -> GraphQLObjectType:
        return GraphQLObjectType(name, {k: v if isinstance(v, GraphQLField) else GraphQLField(v)
                                        for k, v in fields.items()})

    text, number, ident = GraphQLNonNull(GraphQLString), GraphQLNonNull(GraphQLFloat), GraphQLNonNull(GraphQLID)
    channel = obj("Channel", {"name": text})
    video = obj("Video", {"id": ident, "title": text, "duration": GraphQLFloat,
                          "channel": GraphQLField(channel, resolve=relation("channel"))})
    highlight = obj("Highlight", {"id": ident, "start": number, "title": text, "agentName": text})
    chapter = obj("Chapter", {"start": number, "title": text})
    analysis = obj("Analysis", {
        "id": ident, "status": text, "summary": text,
        "highlights": GraphQLField(GraphQLList(GraphQLNonNull(highlight)), resolve=relation("highlights")),
        "chapters": GraphQLField(GraphQLList(GraphQLNonNull(chapter)), resolve=relation("chapters"))})
    entry = obj("LibraryEntry", {
        "id": ident, "addedAt": text, "bookmarked": GraphQLField(GraphQLBoolean, resolve=relation("bookmarked")),
        "video": GraphQLField(video, resolve=relation("video")),
        "analysis": GraphQLField(analysis, resolve=relation("analysis"))})
    connection = obj("Connection", {"edges": GraphQLList(obj("Edge", {"node": entry}))})
    user = obj("User", {"library": GraphQLField(connection, args={"first": GraphQLArgument(GraphQLInt)},
                                                resolve=lambda root, info, first: root["library"])})
    return GraphQLSchema(obj("Query", {"viewer": GraphQLField(user, resolve=lambda root, info: root["viewer"])}))


async def where_time_goes(url: str, email: str, answer: dict[str, Any]) -> dict[str, float]:
    """The deep query's parts, one at a time in this process: SQL, the ORM, GraphQL execution alone."""
    from graphql import execute, parse

    from bench.handwritten import CHAPTERS as HW_CHAPTERS
    from bench.handwritten import ENTRIES as HW_ENTRIES
    from bench.handwritten import HIGHLIGHTS as HW_HIGHLIGHTS
    from models import Analysis, Bookmark, Channel, Chapter, Highlight, LibraryEntry, Session, Video
    from resolvers.dataloaders import Loaders
    from resolvers.rows import LibraryEntryRow, values_of
    from services import database
    from services.settings import Settings

    parts: dict[str, float] = {}
    conn = await connect(url)
    try:
        uid = await conn.fetchval("SELECT id FROM users WHERE email = $1", email)

        async def handwritten_sql() -> None:
            await conn.fetchval("SELECT user_id FROM sessions WHERE user_id = $1 LIMIT 1", uid)
            ids = [e["analysis_id"] for e in await conn.fetch(HW_ENTRIES, uid, LIBRARY_SIZE)]
            await conn.fetch(HW_HIGHLIGHTS, ids)
            await conn.fetch(HW_CHAPTERS, ids)

        parts["hand-written: its 4 statements (asyncpg)"] = await median_ms(handwritten_sql)
    finally:
        await conn.close()

    await database.init_database(Settings(database_url=url))
    try:
        async def orm() -> None:
            # what the session lookup and the DataLoaders ask Tortoise for, as model objects
            await Session.filter(user_id=uid).select_related("user").first()
            entries = await LibraryEntry.filter(user_id=uid).order_by("-created_at", "-id").limit(LIBRARY_SIZE + 1)
            video_ids = [e.video_id for e in entries]  # type: ignore[attr-defined]
            analysis_ids = [e.analysis_id for e in entries]  # type: ignore[attr-defined]
            await Bookmark.filter(user_id=uid, video_id__in=video_ids)
            videos = await Video.filter(id__in=video_ids)
            await Analysis.filter(id__in=analysis_ids)
            await Channel.filter(id__in=list({v.channel_id for v in videos}))  # type: ignore[attr-defined]
            await Highlight.filter(analysis_id__in=analysis_ids).order_by("position")
            await Chapter.filter(analysis_id__in=analysis_ids).order_by("position")

        parts["SQL_JSON=false, before rows: its 8 statements through Tortoise, as model objects"] = await median_ms(orm)

        async def rows() -> None:
            # what vidgraph asks for now: the session as models, the page and its loaders as rows
            await Session.filter(user_id=uid).select_related("user").first()
            page = LibraryEntry.filter(user_id=uid).order_by("-created_at", "-id").limit(LIBRARY_SIZE + 1)
            entries = await values_of(LibraryEntryRow, page)
            loaders = Loaders(viewer_id=str(uid))
            video_ids = [str(e.video_id) for e in entries]
            analysis_ids = [str(e.analysis_id) for e in entries]
            await loaders.bookmarks_by_video_id.load_many(video_ids)
            videos = await loaders.video_by_id.load_many(video_ids)
            await loaders.analysis_by_id.load_many(analysis_ids)
            await loaders.channel_by_id.load_many(list({str(v.channel_id) for v in videos}))
            await loaders.highlights_by_analysis_id.load_many(analysis_ids)
            await loaders.chapters_by_analysis_id.load_many(analysis_ids)

        parts["SQL_JSON=false: its 8 statements as rows (resolvers/rows.py)"] = await median_ms(rows)
    finally:
        await database.close_database()

    document = parse(LIBRARY)
    for async_relations in (False, True):
        schema = in_memory_schema(async_relations=async_relations)

        async def run_graphql(schema: Any = schema) -> None:
            result = execute(schema, document, root_value=answer["data"])
            if not isinstance(result, dict) and hasattr(result, "__await__"):
                result = await result
            if result.errors or result.data != answer["data"]:  # type: ignore[union-attr]
                raise RuntimeError(f"the in-memory schema answered differently: {result.errors}")  # type: ignore[union-attr]

        kind = "async" if async_relations else "plain"
        parts[f"graphql-core alone, in memory, {kind} relation resolvers"] = await median_ms(run_graphql)
    return parts


# ---------------------------------------------------------------- the run


@contextlib.contextmanager
def timed(label: str, timings: dict[str, float]) -> Iterator[None]:
    started = time.perf_counter()
    print(f"… {label}", file=sys.stderr, flush=True)
    yield
    timings[label] = round(time.perf_counter() - started, 1)


async def run(args: argparse.Namespace) -> dict[str, Any]:
    rng = random.Random(SEED)  # noqa: S311 -- seeded data, not secrets
    vocab = Vocabulary(rng)
    report: dict[str, Any] = {"settings": {k: str(v) for k, v in vars(args).items()}, "timings": {}}
    timings: dict[str, float] = report["timings"]
    report["postgraphile_version"] = npm_install()
    sizes = {"library@bench.example": LIBRARY_SIZE, "n10@bench.example": 10, "n100@bench.example": 100,
             "n1000@bench.example": VIDEOS}
    with tempfile.TemporaryDirectory(prefix="vidgraph-bench-library-") as tmp:
        async with fresh_database(args.server, keep=args.keep) as url:
            procs = Processes(Path(tmp))
            try:
                with timed("sign up through vidgraph and fill libraries", timings):
                    vidgraph = await start_vidgraph(procs, url)
                    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{vidgraph.port}", timeout=60) as client:
                        tokens = {email: await sign_up(client, email=email) for email in sizes}
                    conn = await connect(url)
                    try:
                        library = await fill_libraries(conn, vocab, rng, sizes)
                    finally:
                        await conn.close()
                if args.search_only:
                    procs.stop(vidgraph)
                    report["search"] = await search_phase(args, url, procs, vocab, rng, library, "n1000@bench.example",
                                                          tokens["n1000@bench.example"], timings)
                    return report
                with timed("start the hand-written endpoint and PostGraphile", timings):
                    handwritten = await start_handwritten(procs, url)
                    postgraphile = await start_postgraphile(procs, url)
                    # the same vidgraph with the page left to the resolvers, for the gain of SQL_JSON
                    resolvers = await start_vidgraph(procs, url, name="vidgraph-resolvers", SQL_JSON="false")
                token, uid = tokens["library@bench.example"], library.user_ids["library@bench.example"]
                targets = [
                    Target("vidgraph", f"http://127.0.0.1:{vidgraph.port}/graphql", "POST",
                           {"Content-Type": "application/json", "Authorization": f"Bearer {token}"},
                           json.dumps({"query": LIBRARY})),
                    Target("handwritten", f"http://127.0.0.1:{handwritten.port}/library?first={LIBRARY_SIZE}", "GET",
                           {"Authorization": f"Bearer {token}"}, None),
                    Target("postgraphile", f"http://127.0.0.1:{postgraphile.port}/graphql", "POST",
                           {"Content-Type": "application/json"},
                           json.dumps({"query": POSTGRAPHILE_LIBRARY, "variables": {"uid": uid}})),
                    Target("vidgraph-resolvers", f"http://127.0.0.1:{resolvers.port}/graphql", "POST",
                           {"Content-Type": "application/json", "Authorization": f"Bearer {token}"},
                           json.dumps({"query": LIBRARY})),
                ]
                report["correctness"], answer = await check_answers(targets)
                # other benchmarks on a shared machine would be measured along with ours
                report["load_average_at_start"] = wait_for_quiet(args.max_load, args.quiet_wait)
                with timed("load rounds (wrk)", timings):
                    results, alone = load_rounds(targets, directory=Path(tmp), concurrency=args.concurrency,
                                                 rounds=args.rounds, seconds=args.seconds, threads=args.threads)
                medians = {name: summary(rs) for name, rs in results.items()}
                report["load"] = {name: {"rounds": [vars(r) for r in rs], "median": medians[name],
                                         "one_client": vars(alone[name])} for name, rs in results.items()}
                rps = {name: m["rps"] for name, m in medians.items()}
                report["ratios"] = {"vidgraph/handwritten": rps["vidgraph"] / rps["handwritten"],
                                    "vidgraph/postgraphile": rps["vidgraph"] / rps["postgraphile"],
                                    "vidgraph/vidgraph-resolvers": rps["vidgraph"] / rps["vidgraph-resolvers"]}
                for server in (vidgraph, handwritten, postgraphile, resolvers):
                    procs.stop(server)
                with timed("where the time goes", timings):
                    report["parts"] = await where_time_goes(url, "library@bench.example", answer)

                with timed("statements per request (LOG_LEVEL=DEBUG)", timings):
                    debug = await start_vidgraph(procs, url, name="vidgraph-debug", LOG_LEVEL="DEBUG")
                    report["statements"] = await count_statements(debug, {
                        10: tokens["n10@bench.example"], 100: tokens["n100@bench.example"],
                        1000: tokens["n1000@bench.example"]})
                    report["statements_library_50"] = await statements_of_one(debug, token)
                    procs.stop(debug)

                if args.search_videos:
                    report["search"] = await search_phase(args, url, procs, vocab, rng, library, "n1000@bench.example",
                                                          tokens["n1000@bench.example"], timings)
            finally:
                procs.stop_all()
    return report


def print_report(r: dict[str, Any]) -> None:
    print(f"# Library benchmark, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {os.cpu_count()} CPUs\n")
    if "load" in r:
        print_library_report(r)
    if "search" in r:
        print_search_report(r)
    print(f"\nphase timings (s): {r['timings']}")


def print_library_report(r: dict[str, Any]) -> None:
    s = r["settings"]
    print(f"wrk -t{s['threads']} -c{s['concurrency']} -d{s['seconds']}s, {s['rounds']} interleaved rounds after a "
          f"3 s warm-up each; PostGraphile {r['postgraphile_version']}; database pool of {POOL_SIZE} everywhere.")
    c = r["correctness"]
    print(f"Answers checked first: {c['entries']} entries with {c['highlights_per_entry']} highlights each; "
          f"vidgraph's data equals the hand-written endpoint's, PostGraphile has the same rows; bytes {c['bytes']}.")
    print(f"1-minute load average when timing started: {r['load_average_at_start']:.2f}\n")
    print("| server | req/s (median) | p50 ms | p99 ms | rounds: req/s (load average before) "
          "| one client: req/s, p50 ms |")
    print("| --- | ---: | ---: | ---: | --- | --- |")
    for name, result in r["load"].items():
        m = result["median"]
        rounds = ", ".join(f"{x['rps']:.0f} ({x['load_before']:.1f})" for x in result["rounds"])
        failed = sum(x["failed"] for x in result["rounds"])
        one = result["one_client"]
        print(f"| {name} | {m['rps']:.1f} | {m['p50_ms']:.1f} | {m['p99_ms']:.1f} | {rounds}"
              f"{f'; {failed} failed' if failed else ''} | {one['rps']:.1f}, {one['p50_ms']:.1f} |")
    ratios = r["ratios"]
    print(f"\nvidgraph/handwritten = {ratios['vidgraph/handwritten']:.2f} (target >= 0.5); "
          f"vidgraph/PostGraphile = {ratios['vidgraph/postgraphile']:.2f} (target >= 1); "
          f"vidgraph/vidgraph-resolvers (SQL_JSON=false) = {ratios['vidgraph/vidgraph-resolvers']:.2f}\n")
    st = r["statements"]
    print("| library size | pages (first <= 100) | statements per page |")
    print("| ---: | ---: | --- |")
    for size in st["per_page"]:
        print(f"| {size} | {st['pages'][size]} | {st['per_page'][size]} |")
    print("\nthe 50-entry query's parts, one at a time in one process (median ms):")
    for part, ms in r["parts"].items():
        print(f"    {ms:7.1f}  {part}")
    print("\nstatements of the 50-entry query:")
    for line in r["statements_library_50"]:
        print(f"    {line[:110]}")


def print_search_report(r: dict[str, Any]) -> None:
    se = r["search"]
    print(f"\nsearch data: {se['loaded']}, database {se['database_size']}; "
          f"load average when timing started {se['load_average_at_start']:.2f}\n")
    print("| query | text | hits | p50 ms | p99 ms | max ms | matching chunks | transcript statement ms: "
          "custom / generic plan / proposed (of today's top 20, how many it keeps) |")
    print("| --- | --- | ---: | ---: | ---: | ---: | ---: | --- |")
    for kind, q in se["latency"]["per_query"].items():
        ex = se["explain"][kind]
        proposed = ex["proposed_transcript"]
        print(f"| {kind} | `{q['query']}` | {q['hits']} | {q['p50_ms']:.1f} | {q['p99_ms']:.1f} | {q['max_ms']:.1f} | "
              f"{ex['matching_chunks']} | {ex['auto']['transcript']['execution_ms']:.1f} / "
              f"{ex['force_generic_plan']['transcript']['execution_ms']:.1f} / {proposed['execution_ms']:.1f} "
              f"({proposed['same_hits']}/{proposed['exact_hits']}) |")
    a = se["latency"]["all"]
    print(f"\nall searches: p50 {a['p50_ms']:.1f} ms, p99 {a['p99_ms']:.1f} ms over {a['requests']} requests "
          f"(target p99 <= {SEARCH_P99_TARGET_MS:.0f} ms)")
    for kind in se["explain"]:
        times = ", ".join(f"{k} {e['execution_ms']:.1f}" for k, e in se["explain"][kind]["auto"].items())
        print(f"    {kind}: statement ms (custom plans): {times}")
    worst = max(se["latency"]["per_query"], key=lambda k: se["latency"]["per_query"][k]["p99_ms"])
    print(f"\nplan of the transcript statement for the slowest query ({worst}):\n"
          f"{se['explain'][worst]['auto']['transcript']['plan']}")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="vidgraph's library benchmark (issue 4)")
    parser.add_argument("--server", default=os.environ.get("VIDGRAPH_BENCH_DATABASE_SERVER",
                                                           "postgres://postgres@127.0.0.1:5432/postgres"))
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--threads", type=int, default=2, help="wrk threads")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=int, default=10, help="length of one wrk round")
    parser.add_argument("--search-videos", type=int, default=VIDEOS, help="videos given transcripts (0: no search)")
    parser.add_argument("--segments", type=int, default=3000, help="transcript lines per three-hour video")
    parser.add_argument("--search-repeats", type=int, default=100, help="timed requests per search query")
    parser.add_argument("--max-load", type=float, default=1.0,
                        help="wait for the 1-minute load average to fall to this before timing")
    parser.add_argument("--quiet-wait", type=float, default=900, help="wait at most this many seconds for it")
    parser.add_argument("--json", type=Path, help="also write every figure (and the plans) here")
    parser.add_argument("--keep", action="store_true", help="keep the database for inspection")
    parser.add_argument("--search-only", action="store_true", help="only the search part (no wrk, no PostGraphile)")
    args = parser.parse_args(argv)
    report = asyncio.run(run(args))
    print_report(report)
    if args.json:
        args.json.write_text(json.dumps(report, indent=2, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
