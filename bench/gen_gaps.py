#!/usr/bin/env python3
"""Write a synthetic project for `cargo testflow coverage gaps`: N Python and N Rust
sources of about 300 lines each (functions, methods, nested functions, branches) and one
LCOV file covering every code line, with some functions partly or wholly missed.
Deterministic. Usage: gen_gaps.py OUT_DIR [FILES_PER_LANGUAGE]"""
import os
import random
import sys

out = sys.argv[1]
per_lang = int(sys.argv[2]) if len(sys.argv) > 2 else 1000
rng = random.Random(7)


def py_source(i):
    lines = [f'"""Generated module {i}."""', "", "import os", ""]
    for c in range(2):
        lines += ["", f"class Model{c}:", "    def __init__(self, n):", "        self.n = n", ""]
        for m in range(6):
            lines += [
                f"    def method_{m}(self, x, items):",
                "        total = 0",
                "        for item in items:",
                "            if item > x and item % 2 == 0:",
                "                total += item",
                "            elif item < 0 or x is None:",
                "                total -= 1",
                "        try:",
                "            total = total // self.n",
                "        except ZeroDivisionError:",
                "            total = 0",
                "        return [v for v in items if v] if total else total",
                "",
            ]
    for f in range(8):
        lines += [
            "",
            f"def helper_{f}(a, b=None):",
            "    def inner(v):",
            "        return v * 2 if v else 0",
            "",
            "    while a > 0:",
            "        a -= 1",
            "        if b:",
            "            b = inner(b)",
            "    return a, b",
        ]
    return lines


def rs_source(i):
    lines = [f"//! Generated module {i}.", "", "pub struct Thing {", "    n: u64,", "}", ""]
    for block in range(2):
        lines += [f"impl Thing {{"]
        for m in range(8):
            lines += [
                f"    pub fn method_{block}_{m}(&self, xs: &[u64]) -> Option<u64> {{",
                "        let mut total = 0;",
                "        for x in xs {",
                "            if *x > self.n && *x % 2 == 0 {",
                "                total += x;",
                "            } else if *x == 0 || self.n == 0 {",
                "                total += 1;",
                "            }",
                "        }",
                "        match total {",
                "            0 => None,",
                "            t if t > 100 => Some(t.checked_div(self.n)?),",
                "            t => Some(t),",
                "        }",
                "    }",
                "",
            ]
        lines += ["}", ""]
    for f in range(6):
        lines += [
            f"pub fn helper_{f}(mut a: u64, b: Option<u64>) -> u64 {{",
            "    fn inner(v: u64) -> u64 {",
            "        v * 2",
            "    }",
            "    while a > 10 {",
            "        a /= 2;",
            "    }",
            "    a + inner(b.unwrap_or_default())",
            "}",
            "",
        ]
    return lines


def coverable(line):
    s = line.strip()
    return bool(s) and s not in ("}", "{") and not s.startswith(("//", '"""', "impl", "pub struct", "n: u64"))


os.makedirs(out, exist_ok=True)
lcov = []
total_lines = 0
for lang, make, ext in (("py", py_source, "py"), ("rs", rs_source, "rs")):
    d = os.path.join(out, f"src_{lang}")
    os.makedirs(d, exist_ok=True)
    for i in range(per_lang):
        src = make(i)
        total_lines += len(src)
        rel = f"src_{lang}/mod_{i}.{ext}"
        with open(os.path.join(out, rel), "w") as fh:
            fh.write("\n".join(src) + "\n")
        lcov.append(f"TN:\nSF:{rel}")
        # Each stretch of ~15 lines is missed with probability 0.3.
        missed_block = False
        for n, line in enumerate(src, 1):
            if n % 15 == 1:
                missed_block = rng.random() < 0.3
            if coverable(line):
                hits = 0 if missed_block and n > 4 else rng.randint(1, 9)
                lcov.append(f"DA:{n},{hits}")
        lcov.append("end_of_record")
with open(os.path.join(out, "lcov.info"), "w") as fh:
    fh.write("\n".join(lcov) + "\n")
print(f"{2 * per_lang} files, {total_lines} lines, lcov.info {os.path.getsize(os.path.join(out, 'lcov.info')) // 1024} KiB in {out}")
