"""Markdown rendering: useful Markdown survives, hostile input is inert."""

import re

import pytest

from knowledge_base.rendering import render_markdown

HOSTILE = [
    ("<script>alert(1)</script>", "<script"),
    ("<img src=x onerror=alert(1)>", '<img src="x"'),
    ("[click](javascript:alert(1))", "javascript:"),
    ("[data](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)", "data:text"),
    ('<a href="#" onclick="alert(1)">x</a>', '<a href="#" onclick'),
    ('<div style="background:url(javascript:alert(1))">x</div>', "<div style"),
    ("<style>body{display:none}</style>", "<style"),
    ("<iframe src=https://evil.example></iframe>", "<iframe"),
    ("![x](javascript:alert(1))", "javascript:"),
    ('<svg onload="alert(1)"></svg>', "<svg"),
]


@pytest.mark.parametrize(("source", "forbidden"), HOSTILE)
def test_hostile_markdown_is_inert(source, forbidden):
    html = render_markdown(source)
    assert forbidden not in html
    assert not re.search(r"<[^>]*\son\w+\s*=", html)  # no live element carries an event handler
    assert not re.search(r"<[^>]*(href|src)=\"(javascript|data):", html)


def test_markdown_features_survive():
    source = "## Heading\n\n- one\n- two\n\n`code` and **bold** [docs](/docs/exports/)\n\n"
    source += "| a | b |\n|---|---|\n| 1 | 2 |"
    html = render_markdown(source)
    assert '<h2 id="heading">Heading</h2>' in html
    assert "<li>one</li>" in html
    assert "<code>code</code>" in html
    assert "<strong>bold</strong>" in html
    assert '<a href="/docs/exports/" rel="noopener noreferrer nofollow">docs</a>' in html
    assert "<td>1</td>" in html


def test_raw_html_is_shown_as_text_not_markup():
    html = render_markdown("Press <kbd>Ctrl</kbd> and <b onclick=x>go</b>")
    assert "&lt;b onclick=x&gt;" in html
    assert "<b " not in html


def test_nul_and_huge_input_do_not_break_rendering():
    assert "ab" in render_markdown("a\x00b")
    assert len(render_markdown("x" * 300_000)) < 210_000
