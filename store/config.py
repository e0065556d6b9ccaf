"""Service settings, read once from environment variables.

Every layer may read these; only `app.py` builds them.
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson


def _int(env: dict[str, str], name: str, default: int) -> int:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError as exc:
        raise SystemExit(f"setting {name} must be a whole number, got {raw!r}") from exc


def _bool(env: dict[str, str], name: str, default: bool) -> bool:
    raw = (env.get(name) or "").strip().lower()
    if raw == "":
        return default
    if raw not in ("true", "false", "1", "0", "yes", "no"):
        raise SystemExit(f"setting {name} must be true or false, got {raw!r}")
    return raw in ("true", "1", "yes")


def _positive(env: dict[str, str], name: str, default: int) -> int:
    value = _int(env, name, default)
    if value < 1:
        raise SystemExit(f"setting {name} must be at least 1, got {value}")
    return value


def _broker_url(raw: str | None) -> str | None:
    value = (raw or "").strip()
    if not value:
        return None
    if not value.startswith(("nats://", "tls://")):
        raise SystemExit(f"setting EVENT_BROKER_URL must be a nats:// (or tls://) address, got {value!r}")
    return value


def _choice(env: dict[str, str], name: str, allowed: tuple[str, ...], default: str) -> str:
    value = (env.get(name) or default).lower()
    if value not in allowed:
        raise SystemExit(f"setting {name} must be one of {', '.join(allowed)}, got {value!r}")
    return value


PRICE_KEYS = ("input", "output", "cacheRead", "cacheWrite")
DEFAULT_COMMANDS = {
    "claude": "claude -p {prompt} --output-format stream-json --verbose --dangerously-skip-permissions"
    " {model} {resume}",
    "qwen": "qwen -p {prompt} --output-format stream-json --yolo {model} {resume}",
    "gemini": "gemini -p {prompt} --output-format stream-json --yolo {model} {resume}",
    "codex": "codex exec --json --skip-git-repo-check --dangerously-bypass-approvals-and-sandbox"
    " {model} {resume} {prompt}",
    "bash": "bash -c {prompt}",
}
"""Each CLI in its machine-readable streaming mode, unattended; `{model}` and `{resume}` expand to their
flags only when there is a model or a session to resume."""


def _prices(env: dict[str, str]) -> dict[str, dict[str, float]]:
    """AGENT_PRICES: {"model or model prefix": {"input": usd, "output": usd, ...}} per million tokens."""
    raw = env.get("AGENT_PRICES")
    if not raw:
        return {}
    try:
        table: Any = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise SystemExit(f"setting AGENT_PRICES must be JSON: {exc}") from exc
    if not isinstance(table, dict):
        raise SystemExit("setting AGENT_PRICES must be a JSON object of models")
    for model, prices in table.items():
        if not isinstance(prices, dict) or not set(prices) <= set(PRICE_KEYS) or "input" not in prices:
            raise SystemExit(f"AGENT_PRICES[{model!r}] must be an object with input, and output, cacheRead, cacheWrite")
        for key, value in prices.items():
            if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
                raise SystemExit(f"AGENT_PRICES[{model!r}].{key} must be a number of USD per million tokens, >= 0")
    return {model: {key: float(value) for key, value in prices.items()} for model, prices in table.items()}


def _public_url(raw: str) -> str:
    url = raw.strip().rstrip("/")
    if url and not url.startswith(("http://", "https://")):
        raise SystemExit(f"setting PUBLIC_URL must start with http:// or https://, got {raw!r}")
    if url.endswith("/api"):
        raise SystemExit("setting PUBLIC_URL is this server's address without /api (the console adds it)")
    return url


@dataclass(frozen=True)
class Settings:
    host: str = "127.0.0.1"
    port: int = 9900
    data_dir: Path = Path("data")
    base_root: Path = Path("data/base-root")
    database_url: str = "sqlite+aiosqlite:///data/orchestrator.db"
    auth_username: str = "admin"
    auth_password: str | None = None
    jwt_secret: str | None = None
    access_token_ttl: int = 3600
    refresh_token_ttl: int = 30 * 24 * 3600
    login_max_failures: int = 5
    login_lockout_seconds: int = 60
    host_browse_root: Path = field(default_factory=Path.home)
    log_level: str = "info"
    sandbox_backend: str = "auto"
    docker_host: str | None = None
    image_name: str = "flexy-dev-sandbox:latest"
    sandbox_images: tuple[str, ...] = ()
    sandbox_memory_mb: int = 2048
    sandbox_cpus: float = 2.0
    sandbox_pids: int = 512
    sandbox_user_id: int = 1000
    sandbox_group_id: int = 1000
    """Who commands run as inside sandboxes (USER_ID/GROUP_ID, as the original platform passes them)."""
    sandbox_nofile: int = 8192
    sandbox_nproc: int = 4096
    sandbox_log_max_size: str = "10m"
    sandbox_log_max_file: int = 3
    backend_url: str = "http://host.docker.internal:9900"
    event_retention_seconds: int = 7 * 24 * 3600
    event_retention_count: int = 200_000
    task_command_claude: str = DEFAULT_COMMANDS["claude"]
    task_command_qwen: str = DEFAULT_COMMANDS["qwen"]
    task_command_gemini: str = DEFAULT_COMMANDS["gemini"]
    task_command_codex: str = DEFAULT_COMMANDS["codex"]
    task_command_bash: str = DEFAULT_COMMANDS["bash"]
    """Argv templates (split like a shell would, never run by one); `{prompt}` becomes one argument."""
    agent_prices: dict[str, dict[str, float]] = field(default_factory=dict)
    """USD per million tokens by model (or model prefix), over the built-in table (resolvers/prices.py)."""
    worktree_retention_seconds: int = 7 * 24 * 3600
    """How long the worktree of a finished task is kept after its last task ended."""
    worktree_cleanup_seconds: int = 600
    task_timeout_seconds: int = 1800
    context_enabled: bool = True
    auto_capture_enabled: bool = False
    """Save each finished task's prompt and output as a `task-dialog` memory."""
    embedding_model: str = "all-MiniLM-L6-v2"
    """The bundled model, or any sentence-transformers model name or folder available offline."""
    memory_index_ivf_min: int = 20_000
    """From this many memories on, the index is an IVF one (approximate lists) instead of exact."""
    memory_index_nprobe: int = 64
    memory_index_save_seconds: float = 2.0
    context_chunk_chars: int = 1500
    context_import_max_bytes: int = 2 * 1024 * 1024
    graphql_max_cost: int = 100_000
    """How many objects one GraphQL operation may ask for (page sizes multiplied down the tree)."""
    graphql_max_depth: int = 20
    secrets_key: str | None = None
    """Base64 of the 32-byte key that seals stored secrets; generated into DATA_DIR/secrets-key when unset."""
    request_body_max_bytes: int = 1024 * 1024
    ws_max_message_bytes: int = 1024 * 1024
    socket_opens_per_minute_per_user: int = 120
    socket_opens_per_minute_per_address: int = 300
    logins_per_minute_per_user: int = 60
    logins_per_minute_per_address: int = 300
    lease_seconds: int = 30
    """How long a replica's claim on a task or an execution lasts without renewal (renewed every third of it)."""
    replica_name: str = ""
    """This process's name among the replicas (REPLICA_NAME, default host name and port); unique per replica."""
    event_broker_url: str | None = None
    """None: PostgreSQL LISTEN/NOTIFY with PostgreSQL, in-process with SQLite; `nats://…` for NATS JetStream."""
    sandbox_hosts: str | None = None
    """SANDBOX_HOSTS: several Docker engines with names and capacities (see `sandbox.hosts.parse_hosts`)."""
    replica_url: str | None = None
    """How other replicas and operators reach this one (REPLICA_URL), shown in health."""
    console_dir: Path | None = None
    """A built AInTandem console to serve at `/`."""
    public_url: str = ""
    """This server's address as browsers reach it, for the console's runtime config ("" = the page's origin)."""

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> Settings:
        env = dict(os.environ if env is None else env)
        data_dir = Path(env.get("DATA_DIR") or "data").resolve()
        base_root = Path(env.get("BASE_ROOT") or env.get("KAI_BASE_ROOT") or data_dir / "base-root")
        database_url = env.get("DATABASE_URL") or f"sqlite+aiosqlite:///{data_dir / 'orchestrator.db'}"
        return cls(
            host=env.get("HOST") or "127.0.0.1",
            port=_int(env, "PORT", 9900),
            data_dir=data_dir,
            base_root=base_root.resolve(),
            database_url=database_url,
            auth_username=env.get("AUTH_USERNAME") or "admin",
            auth_password=env.get("AUTH_PASSWORD") or None,
            jwt_secret=env.get("JWT_SECRET") or None,
            access_token_ttl=_int(env, "ACCESS_TOKEN_TTL", 3600),
            refresh_token_ttl=_int(env, "REFRESH_TOKEN_TTL", 30 * 24 * 3600),
            login_max_failures=_int(env, "LOGIN_MAX_FAILURES", 5),
            login_lockout_seconds=_int(env, "LOGIN_LOCKOUT_SECONDS", 60),
            host_browse_root=Path(env.get("HOST_BROWSE_ROOT") or Path.home()).resolve(),
            log_level=(env.get("LOG_LEVEL") or "info").lower(),
            sandbox_backend=_choice(env, "SANDBOX_BACKEND", ("auto", "docker", "local"), "auto"),
            docker_host=env.get("DOCKER_HOST") or None,
            image_name=env.get("IMAGE_NAME") or "flexy-dev-sandbox:latest",
            sandbox_images=tuple(i.strip() for i in (env.get("SANDBOX_IMAGES") or "").split(",") if i.strip()),
            sandbox_memory_mb=_int(env, "SANDBOX_MEMORY_MB", 2048),
            sandbox_cpus=float(env.get("SANDBOX_CPUS") or 2.0),
            sandbox_pids=_int(env, "SANDBOX_PIDS", 512),
            sandbox_user_id=_int(env, "USER_ID", 1000),
            sandbox_group_id=_int(env, "GROUP_ID", 1000),
            sandbox_nofile=_int(env, "SANDBOX_NOFILE", 8192),
            sandbox_nproc=_int(env, "SANDBOX_NPROC", 4096),
            sandbox_log_max_size=env.get("SANDBOX_LOG_MAX_SIZE") or "10m",
            sandbox_log_max_file=_int(env, "SANDBOX_LOG_MAX_FILE", 3),
            backend_url=env.get("KAI_BACKEND_URL") or f"http://host.docker.internal:{_int(env, 'PORT', 9900)}",
            event_retention_seconds=_int(env, "EVENT_RETENTION_SECONDS", 7 * 24 * 3600),
            event_retention_count=_int(env, "EVENT_RETENTION_COUNT", 200_000),
            task_command_claude=env.get("TASK_COMMAND_CLAUDE") or DEFAULT_COMMANDS["claude"],
            task_command_qwen=env.get("TASK_COMMAND_QWEN") or DEFAULT_COMMANDS["qwen"],
            task_command_gemini=env.get("TASK_COMMAND_GEMINI") or DEFAULT_COMMANDS["gemini"],
            task_command_codex=env.get("TASK_COMMAND_CODEX") or DEFAULT_COMMANDS["codex"],
            task_command_bash=env.get("TASK_COMMAND_BASH") or DEFAULT_COMMANDS["bash"],
            agent_prices=_prices(env),
            worktree_retention_seconds=_int(env, "WORKTREE_RETENTION_SECONDS", 7 * 24 * 3600),
            worktree_cleanup_seconds=_int(env, "WORKTREE_CLEANUP_SECONDS", 600),
            task_timeout_seconds=_int(env, "TASK_TIMEOUT_SECONDS", 1800),
            context_enabled=_bool(env, "CONTEXT_ENABLED", True),
            auto_capture_enabled=_bool(env, "AUTO_CAPTURE_ENABLED", False),
            embedding_model=env.get("EMBEDDING_MODEL") or "all-MiniLM-L6-v2",
            memory_index_ivf_min=_int(env, "MEMORY_INDEX_IVF_MIN", 20_000),
            memory_index_nprobe=_int(env, "MEMORY_INDEX_NPROBE", 64),
            memory_index_save_seconds=float(env.get("MEMORY_INDEX_SAVE_SECONDS") or 2.0),
            context_chunk_chars=_int(env, "CONTEXT_CHUNK_CHARS", 1500),
            context_import_max_bytes=_int(env, "CONTEXT_IMPORT_MAX_BYTES", 2 * 1024 * 1024),
            graphql_max_cost=_int(env, "GRAPHQL_MAX_COST", 100_000),
            graphql_max_depth=_int(env, "GRAPHQL_MAX_DEPTH", 20),
            secrets_key=env.get("SECRETS_KEY") or None,
            request_body_max_bytes=_int(env, "REQUEST_BODY_MAX_BYTES", 1024 * 1024),
            ws_max_message_bytes=_int(env, "WS_MAX_MESSAGE_BYTES", 1024 * 1024),
            socket_opens_per_minute_per_user=_int(env, "SOCKET_OPENS_PER_MINUTE_PER_USER", 120),
            socket_opens_per_minute_per_address=_int(env, "SOCKET_OPENS_PER_MINUTE_PER_ADDRESS", 300),
            logins_per_minute_per_user=_int(env, "LOGINS_PER_MINUTE_PER_USER", 60),
            logins_per_minute_per_address=_int(env, "LOGINS_PER_MINUTE_PER_ADDRESS", 300),
            lease_seconds=_positive(env, "LEASE_SECONDS", 30),
            replica_name=(env.get("REPLICA_NAME") or f"{socket.gethostname()}:{_int(env, 'PORT', 9900)}")[:200],
            event_broker_url=_broker_url(env.get("EVENT_BROKER_URL")),
            sandbox_hosts=(env.get("SANDBOX_HOSTS") or "").strip() or None,
            replica_url=env.get("REPLICA_URL") or None,
            console_dir=Path(env["CONSOLE_DIR"]).resolve() if env.get("CONSOLE_DIR") else None,
            public_url=_public_url(env.get("PUBLIC_URL") or ""),
        )
