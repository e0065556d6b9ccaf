"""Auth (operations 91-95), settings (49-50), folders (64-67) and health (68)."""

from typing import Annotated, Literal, NotRequired

from pydantic import StringConstraints
from typing_extensions import TypedDict

from rest_compat.spec import WHITE, Timestamp, optional_text, text

EMAIL = rf"^([{WHITE}]*|[^@{WHITE}]+@[^@{WHITE}]+)$"
IMAGE = rf"^([{WHITE}]*|[a-z0-9][a-z0-9._/:@-]*)$"


class User(TypedDict):
    username: str
    id: str


class LoginRequest(TypedDict):
    username: text(200)
    password: text(1024)


class LoginResponse(TypedDict):
    """The refresh token is also set as the httpOnly cookie `aintandem_refresh_token`; it is null when the
    server's storage is full (the access token still works, and logout still revokes it)."""

    success: bool
    token: str
    refreshToken: str | None
    user: User


class RefreshRequest(TypedDict, total=False):
    """Without a body, the `aintandem_refresh_token` cookie is read."""

    refreshToken: text(1024)


class RefreshResponse(TypedDict):
    success: bool
    token: str
    refreshToken: str


class LogoutResponse(TypedDict):
    success: bool
    message: str


class VerifyTokenRequest(TypedDict):
    token: text(4096)


class VerifyResponse(TypedDict):
    """`success: false` with `error` for a bad token."""

    success: bool
    user: NotRequired[User]
    error: NotRequired[str]


class Me(User):
    isAdmin: bool


class Notifications(TypedDict):
    push: bool
    email: bool


class UserPreferences(TypedDict):
    theme: Literal["light", "dark"]
    language: str
    notifications: Notifications


class SettingsResponse(TypedDict):
    """`dockerImage` is the image of the user's new sandboxes; the git identity goes into them."""

    userId: str
    preferences: UserPreferences
    gitDisplayName: NotRequired[str]
    gitEmail: NotRequired[str]
    dockerImage: NotRequired[str]
    updatedAt: NotRequired[Timestamp]


class UpdateSettingsRequest(TypedDict, total=False):
    """null or "" clears a field."""

    gitDisplayName: optional_text(200)
    gitEmail: Annotated[str, StringConstraints(pattern=EMAIL, max_length=320)] | None
    dockerImage: Annotated[str, StringConstraints(pattern=IMAGE, max_length=255)] | None


class BrowseDirectoriesRequest(TypedDict, total=False):
    currentPath: optional_text(4096)


class BrowseDirectoriesResponse(TypedDict):
    currentPath: str
    directories: list[str]


class ListFoldersResponse(TypedDict):
    folders: list[str]


class StorageHealth(TypedDict):
    """Whether DATA_DIR takes writes: `full` (writes wait for space), `unwritable`, or `ok`."""

    status: Literal["ok", "full", "unwritable"]
    freeBytes: int | None
    waitingWrites: int
    lastFullAt: Timestamp | None


class HealthResponse(TypedDict):
    """`uptime` in seconds; `degraded` while the storage is not `ok`."""

    status: Literal["ok", "degraded"]
    uptime: float
    storage: StorageHealth
