"""Summarize a py-spy `--format raw` (collapsed stacks) file as text: where the samples go.

    python bench/pyspy_summary.py PROFILE.raw [--top 25] [--focus walnats_django] [--only FRAME]

Prints, each as % of all samples: the top functions by self time (leaf frame), by total
time (anywhere on the stack), and self time grouped by package (django, nats, asyncio, ...).
"""

from __future__ import annotations

import argparse
import collections
import re
from pathlib import Path

_FRAME = re.compile(r"^(?P<func>.*?) \((?P<file>[^()]*?)(?::(?P<line>\d+))?\)$")


def parse(path: Path) -> list[tuple[list[str], int]]:
    """(frames root first, sample count) per line of a raw py-spy file."""
    stacks = []
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if stack and count.isdigit():
            stacks.append((stack.split(";"), int(count)))
    return stacks


def function_of(frame: str) -> str:
    """`func (file)` without the line number, so a function's lines add up."""
    match = _FRAME.match(frame)
    if not match:
        return frame
    return f"{match['func']} ({match['file']})"


def is_python(frame: str) -> bool:
    """Python frames name a .py file (or a frozen module); `--native` frames name a binary or C file."""
    match = _FRAME.match(frame)
    file = match["file"] if match else ""
    return file.endswith(".py") or file.startswith(("<frozen", "<string>"))


def package_of(frame: str) -> str:
    match = _FRAME.match(frame)
    file = match["file"] if match else frame
    if file.startswith("<"):
        return file
    parts = file.split("/")
    if "site-packages" in parts:
        parts = parts[parts.index("site-packages") + 1 :]
    return parts[0].removesuffix(".py") if len(parts) > 1 else f"stdlib:{parts[0].removesuffix('.py')}"


def summarize(path: Path, top: int = 25, focus: str | None = None, only: str | None = None) -> str:
    stacks = parse(path)
    everything = sum(count for _, count in stacks) or 1
    if only:
        stacks = [(frames, count) for frames, count in stacks if any(only in f for f in frames)]
    total = sum(count for _, count in stacks) or 1
    self_time: collections.Counter[str] = collections.Counter()
    native_leaf: collections.Counter[str] = collections.Counter()
    inclusive: collections.Counter[str] = collections.Counter()
    packages: collections.Counter[str] = collections.Counter()
    native = any(not is_python(f) for frames, _ in stacks for f in frames)
    for all_frames, count in stacks:
        # With --native, C frames are left out of the Python views: a Python function's self time
        # then includes the C code it calls (json, sockets, the loop), as without --native.
        frames = [f for f in all_frames if is_python(f)] or all_frames
        leaf = frames[-1]
        self_time[function_of(leaf)] += count
        packages[package_of(leaf)] += count
        if native:
            native_leaf[function_of(all_frames[-1])] += count
        for name in {function_of(f) for f in frames}:
            inclusive[name] += count
    out = [f"{path.name}: {total} samples" + (" (with native frames)" if native else "")]
    if only:
        out[0] += f" with {only!r} on the stack ({100 * total / everything:.0f}% of {everything})"

    def block(title: str, counter: collections.Counter[str], n: int, only: str | None = None) -> None:
        out.append(f"\n{title}")
        shown = [(k, v) for k, v in counter.most_common() if only is None or only in k][:n]
        for name, count in shown:
            out.append(f"  {100 * count / total:5.1f}%  {name}")

    # Frames on (nearly) every stack -- the interpreter's and the event loop's entry points -- say nothing.
    everywhere = {name for name, count in inclusive.items() if count >= 0.99 * total}
    for name in everywhere:
        del inclusive[name]
    block("self time by package", packages, 15)
    block("self time (innermost Python function)", self_time, top)
    if native:
        block("native leaf (C function on top of the stack)", native_leaf, 15)
    block(
        f"total time (function on the stack; {len(everywhere)} frames on every stack left out)",
        inclusive,
        top,
    )
    if focus:
        block(f"total time of functions in {focus!r}", inclusive, top, only=focus)
    return "\n".join(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("profile", type=Path, nargs="+")
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--focus", help="Also list total time of functions whose name/file contains this.")
    parser.add_argument(
        "--only",
        help="Keep only stacks with a frame containing this (e.g. a thread "
        "id from --threads, or 'Runner.run' for the event loop thread).",
    )
    args = parser.parse_args()
    for path in args.profile:
        print(summarize(path, args.top, args.focus, args.only))
        print()


if __name__ == "__main__":
    main()
