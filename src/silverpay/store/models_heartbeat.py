"""The workers' heartbeats: one row per running worker process, so health can tell a worker that
keeps up from one that stopped (see service/heartbeats.py)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from silverpay.store.models import Base, UTCDateTime


class WorkerHeartbeat(Base):
    """A worker process as it last reported itself. ``id`` is ``host:pid:random`` (a restarted
    process is a new row); a clean stop deletes the row, rows unseen for a day are pruned."""

    __tablename__ = "worker_heartbeats"

    id: Mapped[str] = mapped_column(String(160), primary_key=True)
    host: Mapped[str] = mapped_column(String(128))
    pid: Mapped[int] = mapped_column(Integer)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime())
    seen_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    passes: Mapped[int] = mapped_column(BigInteger, default=0)  # passes over the WeChat jobs so far
    last_error_code: Mapped[str | None] = mapped_column(String(64), default=None)  # of the latest pass, if it failed
