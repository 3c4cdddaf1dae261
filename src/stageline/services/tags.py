"""Tags of any resource, with AWS's limits (50 per resource, no 'aws:' prefix)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from stageline.domain.errors import InvalidTagsException, TooManyTagsException
from stageline.persistence.models import Tag
from stageline.services.pagination import decode_token, encode_token

MAX_TAGS_PER_RESOURCE = 50


def check_tags(tags: Sequence[dict[str, Any]]) -> dict[str, str]:
    """Tags as a dict; InvalidTagsException for a reserved prefix or a key given twice."""
    result: dict[str, str] = {}
    for tag in tags:
        key, value = tag["key"], tag["value"]
        if key.lower().startswith("aws:"):
            raise InvalidTagsException(f"Tag key '{key}' uses the reserved prefix 'aws:'.")
        if key in result:
            raise InvalidTagsException(f"Tag key '{key}' appears more than once.")
        result[key] = value
    if len(result) > MAX_TAGS_PER_RESOURCE:
        raise TooManyTagsException(
            f"A resource can have at most {MAX_TAGS_PER_RESOURCE} tags; {len(result)} were given."
        )
    return result


class TagService:
    def __init__(self, session: Session) -> None:
        self.session = session

    def tag(self, arn: str, tags: Sequence[dict[str, Any]]) -> None:
        wanted = check_tags(tags)
        existing = {
            t.key: t for t in self.session.scalars(select(Tag).where(Tag.resource_arn == arn))
        }
        added = [key for key in wanted if key not in existing]
        if len(existing) + len(added) > MAX_TAGS_PER_RESOURCE:
            raise TooManyTagsException(
                f"Tagging would give {arn} {len(existing) + len(added)} tags; "
                f"the limit is {MAX_TAGS_PER_RESOURCE}."
            )
        for key, value in wanted.items():
            if key in existing:
                existing[key].value = value
            else:
                self.session.add(Tag(resource_arn=arn, key=key, value=value))
        self.session.flush()

    def untag(self, arn: str, keys: Sequence[str]) -> None:
        for key in keys:
            if key.lower().startswith("aws:"):
                raise InvalidTagsException(f"Tag key '{key}' uses the reserved prefix 'aws:'.")
        self.session.execute(delete(Tag).where(Tag.resource_arn == arn, Tag.key.in_(list(keys))))

    def list(
        self, arn: str, max_results: int | None = None, next_token: str | None = None
    ) -> tuple[list[dict[str, str]], str | None]:
        after = decode_token("tags", next_token)
        limit = max_results or MAX_TAGS_PER_RESOURCE
        query = select(Tag).where(Tag.resource_arn == arn).order_by(Tag.key)
        if after is not None:
            query = query.where(Tag.key > str(after.get("key", "")))
        rows = list(self.session.scalars(query.limit(limit + 1)))
        token = encode_token("tags", {"key": rows[limit - 1].key}) if len(rows) > limit else None
        return [{"key": t.key, "value": t.value} for t in rows[:limit]], token

    def count(self, arn: str) -> int:
        query = select(func.count()).select_from(Tag).where(Tag.resource_arn == arn)
        return int(self.session.scalar(query) or 0)

    def delete_all(self, arn: str) -> None:
        self.session.execute(delete(Tag).where(Tag.resource_arn == arn))
