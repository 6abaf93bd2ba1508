"""`headwater` command line: `serve` runs a node, `api-key` shows or rotates the API key."""

from __future__ import annotations

import argparse
import asyncio
import sys

from pydantic import ValidationError

from server.settings import Settings

SERVE_FLAGS = {
    "--data-dir": ("data_dir", "directory for the database and live files (default ./data)"),
    "--http-port": ("http_port", "HTTP port for the API, playback and WHIP (default 8080)"),
    "--rtmp-port": ("rtmp_port", "RTMP ingest port (default 1935)"),
    "--srt-port": ("srt_port", "SRT ingest UDP port (default 8890)"),
    "--public-host": ("public_host", "host name put in the URLs handed to operators"),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="headwater", description="Headwater live streaming node")
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="run the node (applies DB migrations first)")
    key = commands.add_parser("api-key", help="show the API key, or rotate it")
    key.add_argument("--rotate", action="store_true", help="generate a new key (restart nodes)")
    for sub in (serve, key):
        sub.add_argument("--data-dir", dest="data_dir", help=SERVE_FLAGS["--data-dir"][1])
    for flag, (dest, help_text) in SERVE_FLAGS.items():
        if flag != "--data-dir":
            serve.add_argument(flag, dest=dest, help=f"{help_text}; env HEADWATER_{dest.upper()}")
    return parser


def settings_from(args: argparse.Namespace) -> Settings:
    """Environment first (pydantic-settings), then the flags that were given."""
    overrides = {dest: getattr(args, dest) for dest, _ in SERVE_FLAGS.values() if getattr(args, dest, None) is not None}
    return Settings(**overrides)


def serve(settings: Settings) -> None:
    from server.heap import limit_arenas

    limit_arenas()  # before any import or start of the node's threads (server/heap.py)
    from server import http_server
    from server.app import create_asgi
    from server.db.migrate import upgrade
    from server.delivery.live_wire import LiveWireProtocol
    from server.log_format import configure_logging

    configure_logging(settings.log_level, settings.log_format)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    upgrade(settings.resolved_database_url)
    asgi = create_asgi(settings)
    http_server.run(
        asgi,
        tick=settings.on_rest_grid(http_server.TICK),
        # signed playback: the ASGI wrapper's tokens (None when off), one cache for both paths
        protocol=LiveWireProtocol.serving(asgi.live.routes, getattr(asgi, "tokens", None)),
        request_timeout=settings.http_request_timeout,
        max_body=settings.http_max_body,
        timeout_keep_alive=settings.http_idle_timeout,
        host=settings.http_host,
        port=settings.http_port,
        log_level=settings.log_level.lower(),
        access_log=settings.access_log,
        timeout_graceful_shutdown=5,
        # json: uvicorn's loggers go through the node's handler instead of uvicorn's own (text)
        **({"log_config": None} if settings.log_format == "json" else {}),
    )


async def api_key(settings: Settings, rotate: bool) -> str:
    from server.db.engine import create_engine_for, db_session_factory
    from server.db.migrate import upgrade
    from server.db.node_settings import rotate_api_key, stored_api_key

    settings.data_dir.mkdir(parents=True, exist_ok=True)
    await asyncio.to_thread(upgrade, settings.resolved_database_url)
    engine = create_engine_for(settings.resolved_database_url, settings.database_timeout)
    try:
        async with db_session_factory(engine)() as db:
            if rotate:
                return await rotate_api_key(db)
            key, _ = await stored_api_key(db, create=True)
            return key
    finally:
        await engine.dispose()


def settings_problems(error: ValidationError) -> str:
    """One line per wrong setting, named as its environment variable, without pydantic's
    traceback and documentation links."""
    lines = []
    for problem in error.errors():
        name = "HEADWATER_" + "_".join(str(part) for part in problem["loc"]).upper()
        lines.append(f"  {name}: {problem['msg'].removeprefix('Value error, ')}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        settings = settings_from(args)
    except ValidationError as error:
        print(f"headwater: invalid settings\n{settings_problems(error)}", file=sys.stderr)
        return 2
    if args.command == "serve":
        serve(settings)
        return 0
    if settings.api_key and not args.rotate:
        print(f"{settings.api_key}  (from HEADWATER_API_KEY)")
        return 0
    key = asyncio.run(api_key(settings, args.rotate))
    print(key)
    if args.rotate:
        print("Rotated. Restart running nodes to use the new key.", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
