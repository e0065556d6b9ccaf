"""The durable event log and its live fan-out, on a real SQLite file."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import delete, update

from store.bus import InProcessBus, StoredEvent, SubscriberLagged
from store.db import Database
from store.events import EventLog
from store.migrate import upgrade_to_head
from store.models import Event, Organization, Project, Workspace, utcnow


@asynccontextmanager
async def event_log(path: Path, retention_count: int = 1000) -> AsyncIterator[tuple[EventLog, list[str]]]:
    database = Database(f"sqlite+aiosqlite:///{path / 'events.db'}")
    try:
        await upgrade_to_head(database)
        async with database.write() as session:
            org = Organization(name="o", folder_path="o")
            session.add(org)
            await session.flush()
            workspace = Workspace(organization_id=org.id, name="w", folder_path="w")
            session.add(workspace)
            await session.flush()
            projects = [Project(workspace_id=workspace.id, name=f"p{i}", folder_path=f"p{i}") for i in range(2)]
            session.add_all(projects)
        yield EventLog(database, InProcessBus(), 3600, retention_count), [p.id for p in projects]
    finally:
        await database.dispose()


def run(path: Path, test: Callable[[EventLog, list[str]], Awaitable[None]], **options: int) -> None:
    async def main() -> None:
        async with event_log(path, **options) as (log, projects):
            await test(log, projects)

    asyncio.run(main())


async def take(stream: AsyncIterator[StoredEvent], count: int) -> list[StoredEvent]:
    return [await asyncio.wait_for(anext(stream), 5) for _ in range(count)]


def test_ids_grow_and_replay_returns_exactly_what_was_missed(tmp_path: Path) -> None:
    async def test(log: EventLog, projects: list[str]) -> None:
        first = [await log.append(projects[0], "task", "t1", "output", {"n": n}) for n in range(5)]
        await log.append(projects[1], "task", "t2", "output", {"n": 99})
        assert [e.id for e in first] == sorted({e.id for e in first})
        missed = await log.replay(projects[0], first[1].id)
        assert [e.payload["n"] for e in missed] == [2, 3, 4]

    run(tmp_path, test)


def test_follow_replays_then_goes_live_without_gap_or_duplicate(tmp_path: Path) -> None:
    async def test(log: EventLog, projects: list[str]) -> None:
        project = projects[0]
        seen = [await log.append(project, "task", "t", "output", {"n": n}) for n in range(3)]
        for n in range(3, 8):
            await log.append(project, "task", "t", "output", {"n": n})
        stream = log.follow(project, seen[-1].id)

        async def writer() -> None:
            for n in range(8, 40):
                await log.append(project, "task", "t", "output", {"n": n})
                await log.append(projects[1], "task", "other", "output", {"n": -1})

        writing = asyncio.create_task(writer())
        received = await take(stream, 37)
        await writing
        assert [e.payload["n"] for e in received] == list(range(3, 40))
        assert all(e.project_id == project for e in received)
        await stream.aclose()
        assert log.bus.subscriber_count() == 0

    run(tmp_path, test)


def test_follow_without_cursor_starts_from_now(tmp_path: Path) -> None:
    async def test(log: EventLog, projects: list[str]) -> None:
        await log.append(projects[0], "sandbox", "s", "sandbox_created", {})
        stream = log.follow(projects[0], None)
        waiting = asyncio.create_task(take(stream, 1))
        await asyncio.sleep(0.1)
        await log.append(projects[0], "sandbox", "s", "sandbox_started", {})
        assert [e.type for e in await waiting] == ["sandbox_started"]
        await stream.aclose()

    run(tmp_path, test)


def test_filter_keeps_only_accepted_events(tmp_path: Path) -> None:
    async def test(log: EventLog, projects: list[str]) -> None:
        for subject in ("a", "b", "a", "b"):
            await log.append(projects[0], "task", subject, "output", {})
        stream = log.follow(projects[0], 0, lambda e: e.subject_id == "b")
        assert [e.subject_id for e in await take(stream, 2)] == ["b", "b"]
        await stream.aclose()

    run(tmp_path, test)


def test_a_subscriber_that_falls_behind_is_dropped(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("store.bus.DEFAULT_QUEUE_LIMIT", 5)

    async def test(log: EventLog, projects: list[str]) -> None:
        subscription = log.bus.subscribe(projects[0])
        for n in range(10):
            await log.append(projects[0], "task", "t", "output", {"n": n})
        received = []
        with pytest.raises(SubscriberLagged):
            while True:
                received.append((await subscription.next()).payload["n"])
        assert received == [0, 1, 2, 3, 4], "everything queued before the overflow is delivered, in order"
        assert log.bus.subscriber_count() == 0

    run(tmp_path, test)


def test_prune_by_count_and_age_and_ids_are_never_reused(tmp_path: Path) -> None:
    async def test(log: EventLog, projects: list[str]) -> None:
        appended = [await log.append(projects[0], "task", "t", "output", {"n": n}) for n in range(6)]
        async with log.db.write() as session:
            await session.execute(
                update(Event).where(Event.id == appended[0].id).values(created_at=utcnow() - timedelta(hours=2))
            )
        assert await log.prune() == 3  # one too old, then the oldest beyond the newest three
        assert [e.payload["n"] for e in await log.replay(projects[0], 0)] == [3, 4, 5]
        async with log.db.write() as session:
            await session.execute(delete(Event))
        fresh = await log.append(projects[0], "task", "t", "output", {})
        assert fresh.id > appended[-1].id

    run(tmp_path, test, retention_count=3)
