"""Reading the agent CLIs' streaming output: the four formats as the fake CLIs print them (after their
documentation), usage counted once per message, costs reported or priced, and anything else kept as text."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from resolvers import agent_output as out
from resolvers.agents import AGENTS, command_argv
from resolvers.prices import PriceTable
from resolvers.usage import Tally
from store.config import Settings
from tests.image_extras import FAKE_AGENT

SCRIPT = "!say Looking around\n!write notes/plan.md the plan\n!run cat notes/plan.md\n!run exit 3\n!tokens 2000 500 10000 1000\n!say Finished"
FLAGS = {
    "claude": ["-p", SCRIPT, "--output-format", "stream-json", "--verbose"],
    "qwen": ["-p", SCRIPT, "--output-format", "stream-json"],
    "gemini": ["-p", SCRIPT, "--output-format", "stream-json"],
    "codex": ["exec", "--json", SCRIPT],
}


def run_fake(tmp_path: Path, name: str, *args: str) -> list[str]:
    program = tmp_path / "bin" / name
    program.parent.mkdir(exist_ok=True)
    if not program.exists():
        program.symlink_to(FAKE_AGENT)
    work = tmp_path / "work"
    work.mkdir(exist_ok=True)
    done = subprocess.run(
        [str(program), *args], cwd=work, env={"HOME": str(tmp_path), "PATH": "/usr/bin:/bin"}, capture_output=True,
        text=True, check=True, timeout=30,
    )  # fmt: skip
    return done.stdout.splitlines()


def parse(name: str, lines: list[str], model: str | None = None) -> list[out.Step]:
    parser = out.parser_for(AGENTS[name].output, model)
    return [step for line in lines for step in parser.parse(line)] + parser.finish()


@pytest.mark.parametrize("name", ["claude", "qwen", "gemini", "codex"])
def test_each_cli_gives_its_session_messages_tool_calls_and_results(tmp_path: Path, name: str) -> None:
    steps = parse(name, run_fake(tmp_path, name, *FLAGS[name]), "gpt-5-codex" if name == "codex" else None)
    sessions = [step for step in steps if isinstance(step, out.Session)]
    assert len(sessions) == 1 and len(sessions[0].session_id) == 36
    calls = [step for step in steps if isinstance(step, out.ToolCall)]
    results = [step for step in steps if isinstance(step, out.ToolResult)]
    assert len(calls) == len(results) == 3
    assert [result.call_id for result in results] == [call.call_id for call in calls]
    assert [result.ok for result in results] == [True, True, False]
    assert "the plan" in results[1].output
    assert "cat notes/plan.md" in out.render(calls[1])
    messages = "".join(step.text for step in steps if isinstance(step, out.Message))
    assert "Looking" in messages and "Finished" in messages
    result = next(step for step in steps if isinstance(step, out.Result))
    assert result.ok and "Finished" in (result.text or "")
    assert not [step for step in steps if isinstance(step, out.Text)], "every line of the CLI parsed"


def test_claude_usage_counts_each_message_once_and_the_final_figures_win(tmp_path: Path) -> None:
    lines = run_fake(tmp_path, "claude", *FLAGS["claude"])
    tally = Tally(PriceTable({}))
    parser = out.parser_for("claude-stream")
    for line in lines[:-1]:  # everything but the result: what a running task knows
        for step in parser.parse(line):
            if isinstance(step, out.Usage):
                tally.add(step)
    # Five messages (a tool call's text and tool_use share one), four at 120/30 tokens, the last 2000/500/10000/1000.
    running = tally.totals()
    assert (running.input_tokens, running.output_tokens) == (4 * 120 + 2000, 4 * 30 + 500)
    assert (running.cache_read_tokens, running.cache_write_tokens) == (10000, 1000)
    assert running.cost_source == "estimated"
    expected = (2480 * 3 + 620 * 15 + 10000 * 0.3 + 1000 * 3.75) / 1e6
    assert running.cost_usd == pytest.approx(expected)
    for step in parser.parse(lines[-1]):
        if isinstance(step, out.Usage):
            tally.add(step)
    final = tally.totals()
    assert final.cost_source == "reported" and final.cost_usd == pytest.approx(expected, abs=1e-6)
    assert tally.model() == "claude-sonnet-4-5-20250929"


def test_qwen_and_gemini_costs_come_from_the_price_table(tmp_path: Path) -> None:
    # qwen3-coder-plus: 1 / 5 / 0.1 / 1 USD per million; gemini-2.5-pro: 1.25 / 10 / 0.31 (no cache writes).
    expected = {
        "qwen": ((2480, 620, 10000, 1000), (2480 * 1 + 620 * 5 + 10000 * 0.1 + 1000 * 1) / 1e6),
        "gemini": ((2480, 620, 10000, 0), (2480 * 1.25 + 620 * 10 + 10000 * 0.31) / 1e6),
    }
    for name, (tokens, cost) in expected.items():
        tally = Tally(PriceTable({}))
        for step in parse(name, run_fake(tmp_path, name, *FLAGS[name])):
            if isinstance(step, out.Usage):
                tally.add(step)
        totals = tally.totals()
        counted = (totals.input_tokens, totals.output_tokens, totals.cache_read_tokens, totals.cache_write_tokens)
        assert counted == tokens, name
        assert (totals.cost_usd, totals.cost_source) == (pytest.approx(cost), "estimated"), name


def test_a_price_override_and_an_unknown_model() -> None:
    table = PriceTable({"my-model": {"input": 2, "output": 4}, "claude-sonnet-4": {"input": 10, "output": 20}})
    assert table.cost("my-model-v2", 1_000_000, 500_000, 0, 0) == pytest.approx(4.0)
    assert table.cost("claude-sonnet-4-5-20250929", 1_000_000, 0, 0, 0) == pytest.approx(10.0)
    assert table.cost("mystery", 1, 1, 1, 1) is None
    tally = Tally(table)
    tally.add(out.Usage("mystery", "message:1", 100, 10))
    assert (tally.totals().cost_usd, tally.totals().cost_source) == (0.0, "unknown")


def test_malformed_and_unknown_lines_are_text(tmp_path: Path) -> None:
    lines = run_fake(
        tmp_path, "claude", "-p", "!garbage\n!say still here", "--output-format", "stream-json", "--verbose"
    )
    steps = parse("claude", lines)
    texts = [step.text for step in steps if isinstance(step, out.Text)]
    assert texts == [
        '{"type":"assistant","message":{"id":"msg_broken","content":[{"type":"text","text":"cut off',
        "this line is not JSON at all",
        '{"type":"mystery_event","detail":42}',
    ]
    assert any(isinstance(step, out.Message) and step.text == "still here" for step in steps)
    assert parse("claude", ["plain words", "[1, 2]", '"a string"']) == [
        out.Text("plain words"), out.Text("[1, 2]"), out.Text('"a string"')
    ]  # fmt: skip


def test_commands_put_the_model_and_the_session_where_each_cli_takes_them() -> None:
    settings = Settings()
    assert command_argv(settings, "claude", "do it", "claude-opus-4-1", "s-1") == [
        "claude", "-p", "do it", "--output-format", "stream-json", "--verbose", "--dangerously-skip-permissions",
        "--model", "claude-opus-4-1", "--resume", "s-1",
    ]  # fmt: skip
    assert command_argv(settings, "codex", "do it", None, "t-1")[-3:] == ["resume", "t-1", "do it"]
    assert command_argv(settings, "gemini", "do it") == [
        "gemini",
        "-p",
        "do it",
        "--output-format",
        "stream-json",
        "--yolo",
    ]
    plain = Settings(task_command_qwen="qwen -p {prompt}")
    assert command_argv(plain, "qwen", "x", "m", "s-2") == ["qwen", "-p", "x", "--resume", "s-2"]
