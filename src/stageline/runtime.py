"""The composition root's product: the concrete parts one process runs with."""

from __future__ import annotations

from dataclasses import dataclass

from stageline.domain.arns import Arns
from stageline.identity import KeyStore
from stageline.persistence.db import Database
from stageline.settings import Settings


@dataclass
class Runtime:
    settings: Settings
    db: Database
    keys: KeyStore
    arns: Arns

    @classmethod
    def from_settings(cls, settings: Settings) -> Runtime:
        return cls(
            settings=settings,
            db=Database(settings.resolved_database_url),
            keys=KeyStore(settings),
            arns=Arns(settings.region, settings.account_id),
        )

    def close(self) -> None:
        self.db.dispose()
