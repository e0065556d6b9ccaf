"""Per-user settings (resolvers/settings.py, operations 49-50)."""

from __future__ import annotations

from datetime import datetime
from enum import Enum

import strawberry
from strawberry.scalars import JSON

from resolvers import settings
from resolvers.settings import preferences_of
from schema.context import GraphInfo
from schema.errors import Payload, attempt
from schema.unset import sent
from store import models


@strawberry.enum(description="The console's colour scheme.")
class Theme(Enum):
    LIGHT = strawberry.enum_value("light", description="Light background.")
    DARK = strawberry.enum_value("dark", description="Dark background.")


@strawberry.type(description="How the console looks and notifies you.")
class Preferences:
    theme: Theme = strawberry.field(description="The colour scheme.")
    language: str = strawberry.field(description="The interface language (a code such as `en`).")
    notifications: JSON = strawberry.field(description="Which notifications are on, by channel (`push`, `email`).")


@strawberry.type(description="Your settings: the git identity and image your sandboxes get, and preferences.")
class Settings:
    preferences: Preferences = strawberry.field(description="Console preferences.")
    git_display_name: str | None = strawberry.field(description="The git author name in your sandboxes.")
    git_email: str | None = strawberry.field(description="The git author email in your sandboxes.")
    docker_image: str | None = strawberry.field(description="The image your new sandboxes use when none is named.")
    updated_at: datetime | None = strawberry.field(description="When they last changed; null if never.")

    @classmethod
    def of(cls, stored: models.UserSettings) -> Settings:
        prefs = preferences_of(stored)
        theme = prefs["theme"] if prefs["theme"] in ("light", "dark") else "light"
        return cls(
            preferences=Preferences(
                theme=Theme(theme), language=str(prefs["language"]), notifications=prefs["notifications"]
            ),
            git_display_name=stored.git_display_name,
            git_email=stored.git_email,
            docker_image=stored.docker_image,
            updated_at=stored.updated_at,
        )


@strawberry.input(description="The settings to change; a field left out stays, null clears it.")
class UpdateSettingsInput:
    git_display_name: str | None = strawberry.field(default=strawberry.UNSET, description="Git author name.")
    git_email: str | None = strawberry.field(default=strawberry.UNSET, description="Git author email.")
    docker_image: str | None = strawberry.field(
        default=strawberry.UNSET, description="Default sandbox image (registry/name:tag)."
    )


@strawberry.type(description="The result of updateSettings.")
class UpdateSettingsPayload(Payload):
    settings: Settings | None = strawberry.field(default=None, description="Your settings after the change.")


SettingKey = strawberry.enum(
    Enum(  # type: ignore[misc]
        "SettingKey",
        {
            "GIT_DISPLAY_NAME": strawberry.enum_value("gitDisplayName", description="The git author name."),
            "GIT_EMAIL": strawberry.enum_value("gitEmail", description="The git author email."),
            "DOCKER_IMAGE": strawberry.enum_value("dockerImage", description="The default sandbox image."),
        },
    ),
    description="A setting that can be cleared on its own.",
)


@strawberry.input(description="A setting to clear.")
class ClearSettingInput:
    key: SettingKey = strawberry.field(description="Which one.")  # type: ignore[valid-type]


@strawberry.type
class SettingsMutations:
    @strawberry.mutation(description="Change your settings.")
    async def update_settings(self, info: GraphInfo, input: UpdateSettingsInput) -> UpdateSettingsPayload:
        updated, errors = await attempt(
            settings.update_settings(
                info.context.rt,
                info.context.caller,
                git_display_name=sent(input.git_display_name),
                git_email=sent(input.git_email),
                docker_image=sent(input.docker_image),
            )
        )
        return UpdateSettingsPayload(settings=Settings.of(updated) if updated else None, user_errors=errors)

    @strawberry.mutation(description="Put every setting back to its default.")
    async def reset_settings(self, info: GraphInfo) -> UpdateSettingsPayload:
        updated, errors = await attempt(settings.reset_settings(info.context.rt, info.context.caller))
        return UpdateSettingsPayload(settings=Settings.of(updated) if updated else None, user_errors=errors)

    @strawberry.mutation(description="Clear one setting.")
    async def clear_setting(self, info: GraphInfo, input: ClearSettingInput) -> UpdateSettingsPayload:
        call = settings.clear_setting(info.context.rt, info.context.caller, input.key.value)
        updated, errors = await attempt(call)
        return UpdateSettingsPayload(settings=Settings.of(updated) if updated else None, user_errors=errors)
