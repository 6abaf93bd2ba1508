"""Fuzz one target with atheris: `python -m fuzz.run <target> [libFuzzer flags]`.

The target's seeds (`fuzz/seeds/<target>/`) are copied into a corpus directory (the first
directory among the flags, else a temporary one), so what the fuzzer adds never lands in the
repository. libFuzzer's flags pass through: `-runs=N`, `-seed=S`, `-max_total_time=T`,
`-timeout=T` (a hang), `-rss_limit_mb=M` (unbounded memory); a crash leaves its input in
`-artifact_prefix`.
"""

from __future__ import annotations

import logging
import shutil
import sys
import tempfile
from pathlib import Path

import atheris

DEFAULT_FLAGS = ["-timeout=10", "-rss_limit_mb=1024", "-max_len=65536"]


def main(argv: list[str]) -> None:
    if len(argv) < 2:
        raise SystemExit(__doc__)
    name, flags = argv[1], argv[2:]
    with atheris.instrument_imports(include=["ingest", "server", "fuzz"]):
        from fuzz.target import load

        target = load(name)
    corpora = [flag for flag in flags if not flag.startswith("-")]
    if corpora:
        corpus = Path(corpora[0])
        corpus.mkdir(parents=True, exist_ok=True)
    else:
        corpus = Path(tempfile.mkdtemp(prefix=f"fuzz-{name}-"))
        flags.append(str(corpus))
    for index, seed in enumerate(target.seeds()):
        (corpus / f"seed-{index}").write_bytes(seed)
    given = {flag.split("=")[0] for flag in flags}
    flags = [flag for flag in DEFAULT_FLAGS if flag.split("=")[0] not in given] + flags
    logging.disable(logging.CRITICAL)  # the parsers log every refusal; the fuzzer reports
    atheris.Setup([argv[0], *flags], target.check)
    try:
        atheris.Fuzz()
    finally:
        if not corpora:
            shutil.rmtree(corpus, ignore_errors=True)


if __name__ == "__main__":
    main(sys.argv)
