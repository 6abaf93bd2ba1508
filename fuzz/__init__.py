"""Fuzzing of every parser that reads network bytes (issue 22).

`fuzz/targets/` holds one harness per parser: a `Target` (`fuzz/target.py`) naming the
function that takes one input and the errors that parser declares. The property is the same
everywhere: a parser returns or raises one of its declared errors, in bounded time and memory;
anything else is a crash. `python -m fuzz.run <target>` fuzzes one with atheris (coverage
guided, seeded from `fuzz/seeds/<target>/`); `python -m fuzz.all` (`make fuzz`) runs them all;
`tests/fuzz/` runs a short deterministic pass of each (`fuzz/mutate.py`).
"""
