"""Console lines on a terminal fit its width without cutting a ref; pipes and logs get every line whole."""

import io

from acrtasks.util.console import Console

REF = "127.0.0.1:45001/ai-infra-matrix-production/ai-infra-matrix:backend-v0.0.3.4"  # 76 characters


class Terminal(io.StringIO):
    def isatty(self):
        return True


def test_a_long_warning_wraps_between_words_on_a_terminal_and_a_ref_stays_whole(monkeypatch):
    monkeypatch.setenv("COLUMNS", "80")
    out, err = Terminal(), Terminal()
    text = f"component backend: build arg VERSION takes {{version}}, so every release rebuilds it; pushed {REF} again"
    Console(out, err).warn(text)
    lines = err.getvalue().splitlines()
    assert len(lines) > 1 and all(len(line) <= 80 for line in lines if REF not in line)
    assert any(line.strip() == REF or REF in line for line in lines), lines  # whole, on a line of its own
    assert " ".join(line.strip() for line in lines) == f"warning: {text}"  # nothing lost, nothing added
    assert all(line.startswith("  ") for line in lines[1:])


def test_a_pipe_gets_lines_whole():
    out = io.StringIO()
    line = "x " * 100
    Console(out, io.StringIO()).say(line)
    assert out.getvalue() == line + "\n"
