#!/usr/bin/env python3
"""Checks the module graph of twake-core against ARCHITECTURE.md.

Each file of `crates/twake-core/src` is a module; a module uses another
when its code (tests left out) names it by a path: `crate::a::b`,
`super::x`, `self::x`, a child module by name (`imap::sync`), or a name the
crate root re-exports (`crate::Workspace`); or when it calls a method that
the other module adds to `Workspace` (`self.ask(…)`, `ws.sync_source(…)`,
`self.ws.pass_for(…)`: the capabilities' entry points are `Workspace`
methods, each defined in its capability's folder). Three rules:

1. the capability folders are layered: a folder uses only the folders
   listed as below it in LAYERS (the crate root, `lib.rs`, holds the error
   type every folder uses);
2. no modules form a circle (a folder's `mod.rs` included);
3. a folder names nothing FORBIDDEN says it must not (a model from a
   connector, a system pass or an index write outside engine and ingest).

Prints each violation with the files that make it; exits 1 on any.
"""

import re
import sys
from pathlib import Path

SRC = Path(__file__).resolve().parent.parent / "crates" / "twake-core" / "src"

# Each folder and the folders it may use. Keep in step with ARCHITECTURE.md.
LAYERS = {
    "engine": set(),
    "policy": {"engine"},
    "ingest": {"engine", "policy"},
    "connectors": {"engine", "policy", "ingest"},
    "retrieve": {"engine", "policy", "ingest"},
    "assist": {"engine", "policy", "connectors", "retrieve"},
    "history": {"engine", "policy"},
}

# Names a folder must not use, and why.
ONLY_ENGINE_AND_INGEST = ["engine", "ingest"]
FORBIDDEN = [
    # Connectors fetch and hand items to ingestion; they never call a model.
    (["connectors"], r"\btwake_llm::", "connectors never call a model"),
    # Policy decides; it neither parses files nor reads the network itself.
    (["policy"], r"\btwake_extract::", "policy parses no file"),
    (["policy"], r"\breqwest::", "policy reads no network"),
    # Every read for a person goes through their pass: a system pass (which
    # reads everything) is for rebuilding and filling the derived indexes.
    (None, r"AccessPass::system\(", "only engine and ingest read with a system pass"),
    # The derived indexes are written by ingestion and rebuilt by the engine.
    (None, r"\b(vectors_mut|lexical_mut)\(", "only engine and ingest write the derived indexes"),
]


def module_of(path: Path) -> tuple[str, ...]:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    if parts[-1] in ("mod", "lib"):
        parts.pop()
    return tuple(parts)


def code_of(text: str) -> str:
    """The file's code: unit tests (a trailing `#[cfg(test)]` module) and
    comments left out."""
    cut = text.find("#[cfg(test)]\nmod tests")
    if cut >= 0:
        text = text[:cut]
    text = re.sub(r"//[^\n]*", "", text)
    return text


def expand(prefix: str, body: str) -> list[str]:
    """`a::{b, c::{d, e}}` as paths."""
    out, depth, item = [], 0, ""
    for ch in body + ",":
        if ch == "{":
            depth += 1
        elif ch == "}":
            depth -= 1
        if ch == "," and depth == 0:
            item = item.strip()
            if item:
                m = re.match(r"([\w:]*?)::\{(.*)\}$", item, re.S)
                if m:
                    out += expand(prefix + m.group(1) + "::", m.group(2))
                else:
                    out.append(prefix + item.split(" as ")[0].strip())
            item = ""
        else:
            item += ch
    return out


def paths_in(code: str) -> list[str]:
    out = []
    for m in re.finditer(r"\b((?:crate|super|self)(?:::super)*)::\{", code):
        depth, i = 1, m.end()
        while depth and i < len(code):
            depth += {"{": 1, "}": -1}.get(code[i], 0)
            i += 1
        out += expand(m.group(1) + "::", code[m.end() : i - 1])
    out += re.findall(r"\b((?:crate|super|self)(?:::\w+)+)", code)
    return out


def main() -> int:
    files = sorted(SRC.rglob("*.rs"))
    modules = {module_of(f): f for f in files}
    children = {m: {c[-1] for c in modules if len(c) == len(m) + 1 and c[: len(m)] == m} for m in modules}
    reexports = {}
    for m in re.finditer(r"pub use ([\w:]+)::\{?([\w, ]+)\}?;", (SRC / "lib.rs").read_text()):
        for name in m.group(2).split(","):
            reexports[name.strip()] = tuple(m.group(1).split("::"))

    def resolve(path: str, here: tuple[str, ...]) -> tuple[str, ...]:
        segs = path.split("::")
        if segs[0] == "crate":
            base, segs = (), segs[1:]
        else:
            base = here
            if segs[0] == "self":
                segs = segs[1:]
            while segs and segs[0] == "super":
                base, segs = base[:-1], segs[1:]
        target = base
        for s in segs:
            if target + (s,) in modules:
                target = target + (s,)
            else:
                if target == () and s in reexports:
                    target = reexports[s]
                break
        return target

    codes = {m: code_of(f.read_text()) for m, f in modules.items()}
    edges: dict[tuple, dict[tuple, str]] = {m: {} for m in modules}
    # Which module adds each method to `Workspace`.
    methods: dict[str, tuple] = {}
    impl_block = re.compile(r"^impl (?:crate::)?Workspace \{\n(.*?)^\}", re.S | re.M)
    for m, code in codes.items():
        for block in impl_block.finditer(code):
            for name in re.findall(r"^    (?:pub(?:\([^)]*\))? )?(?:async )?fn (\w+)", block.group(1), re.M):
                if name in methods and methods[name] != m:
                    sys.exit(f"Workspace::{name} is defined twice ({methods[name]} and {m})")
                methods[name] = m
    problems = []
    for m, f in modules.items():
        code = codes[m]
        is_folder = f.name in ("mod.rs", "lib.rs")
        found = paths_in(code)
        # A child module named from its parent: `imap::sync(…)`.
        if is_folder:
            for child in children[m]:
                if re.search(r"(?<![\w:])" + child + r"::", code):
                    found.append("self::" + child)
        for p in found:
            t = resolve(p, m)
            if t != m and t in modules:
                edges[m].setdefault(t, f"{f.relative_to(SRC)} names {p}")
        for call in re.finditer(r"\b(?:self\.ws|self|ws)\.(\w+)\(", code):
            t = methods.get(call.group(1))
            if t is not None and t != m:
                edges[m].setdefault(t, f"{f.relative_to(SRC)} calls Workspace::{call.group(1)}")
        for folders, pattern, why in FORBIDDEN:
            applies = m and (m[0] in folders if folders else m[0] not in ONLY_ENGINE_AND_INGEST)
            if applies and re.search(pattern, code):
                problems.append(f"{f.relative_to(SRC)}: {why} ({pattern})")

    for m, ts in edges.items():
        for t, why in ts.items():
            if not m or not t or m[0] == t[0]:
                continue
            if t[0] not in LAYERS.get(m[0], set()):
                problems.append(f"layering: {m[0]} must not use {t[0]} ({why})")

    # Circles: strongly connected components of more than one module.
    index, low, stack, on, comps, counter = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in edges[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                comps.append(comp)

    sys.setrecursionlimit(10000)
    for v in modules:
        if v not in index:
            visit(v)
    for comp in comps:
        names = sorted("::".join(c) or "crate" for c in comp)
        detail = "; ".join(why for a in comp for b, why in edges[a].items() if b in comp)
        problems.append(f"circle between modules {{{', '.join(names)}}}: {detail}")

    for p in problems:
        print(p, file=sys.stderr)
    if problems:
        return 1
    print(f"modules: ok ({len(modules)} modules, {sum(len(t) for t in edges.values())} uses, no circle)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
