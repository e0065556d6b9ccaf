"""Per-user settings: git identity for sandboxes, the default sandbox image, UI preferences."""

from __future__ import annotations

import re
from typing import Any

from resolvers.errors import invalid
from resolvers.runtime import Caller, Runtime
from resolvers.tx import writing
from resolvers.validation import UNSET, Maybe, optional_text
from store.models import UserSettings, utcnow

EMAIL = re.compile(r"^[^@\s]+@[^@\s]+$")
IMAGE_REFERENCE = re.compile(r"^[a-z0-9][a-z0-9._/:@-]*$")
SETTING_FIELDS = {"gitDisplayName": "git_display_name", "gitEmail": "git_email", "dockerImage": "docker_image"}
"""The settings a caller may clear one by one, by their contract names."""
DEFAULT_PREFERENCES: dict[str, Any] = {
    "theme": "light",
    "language": "en",
    "notifications": {"push": True, "email": False},
}


def _defaults(user_id: str) -> UserSettings:
    return UserSettings(user_id=user_id, preferences=None, updated_at=None)


def preferences_of(settings: UserSettings) -> dict[str, Any]:
    return {**DEFAULT_PREFERENCES, **(settings.preferences or {})}


async def get_settings(rt: Runtime, caller: Caller) -> UserSettings:
    async with rt.db.read() as session:
        return await session.get(UserSettings, caller.user_id) or _defaults(caller.user_id)


async def update_settings(
    rt: Runtime,
    caller: Caller,
    git_display_name: Maybe[object] = UNSET,
    git_email: Maybe[object] = UNSET,
    docker_image: Maybe[object] = UNSET,
) -> UserSettings:
    """Change the fields sent; null or "" clears one."""
    changes: dict[str, str | None] = {}
    if git_display_name is not UNSET:
        changes["git_display_name"] = optional_text("gitDisplayName", git_display_name, 200)
    if git_email is not UNSET:
        email = optional_text("gitEmail", git_email, 320)
        if email is not None and not EMAIL.match(email):
            raise invalid("gitEmail", "must be an email address")
        changes["git_email"] = email
    if docker_image is not UNSET:
        image = optional_text("dockerImage", docker_image, 255)
        if image is not None and not IMAGE_REFERENCE.match(image):
            raise invalid("dockerImage", "must be an image reference such as registry/name:tag")
        changes["docker_image"] = image
    async with writing(rt) as session:
        settings = await session.get(UserSettings, caller.user_id)
        if settings is None:
            settings = UserSettings(user_id=caller.user_id)
            session.add(settings)
        for attribute, value in changes.items():
            setattr(settings, attribute, value)
        settings.updated_at = utcnow()
    return settings


async def reset_settings(rt: Runtime, caller: Caller) -> UserSettings:
    """Back to the defaults: no git identity, no image of one's own, the default preferences."""
    async with writing(rt) as session:
        settings = await session.get(UserSettings, caller.user_id)
        if settings is None:
            settings = UserSettings(user_id=caller.user_id)
            session.add(settings)
        for attribute in SETTING_FIELDS.values():
            setattr(settings, attribute, None)
        settings.preferences = None
        settings.updated_at = utcnow()
    return settings


async def clear_setting(rt: Runtime, caller: Caller, key: str) -> UserSettings:
    """Clear one setting, named as the contract names it (`gitDisplayName`, `gitEmail`, `dockerImage`)."""
    if key not in SETTING_FIELDS:
        raise invalid("key", f"must be one of {', '.join(SETTING_FIELDS)}", "INVALID_VALUE")
    return await update_settings(rt, caller, **{SETTING_FIELDS[key]: None})
