"""The widget on /widget/demo/ in chromium: keyboard use (labels, focus trap, Escape) and its shadow-root isolation."""

import pytest

from tests.e2e.widget_helpers import demo_widget_fixture, open_widget, widget  # noqa: F401 (a fixture)

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_escape_closes_and_focus_returns_to_the_help_button(page, demo_widget):
    demo_widget()
    panel = open_widget(page)

    # The panel is a labelled dialog and every control has a label
    assert panel.get_attribute("role") == "dialog"
    assert widget(page, "#tbw-title").inner_text() == "TourBrain Support"
    for control in ("What is it about?", "How urgent is it?", "Describe the problem or question"):
        assert page.get_by_label(control).count() == 1
    assert page.get_by_label("Steps to reproduce (optional)").count() == 1
    assert _focused_testid_or_id(page) == "tbw-type"  # focus moved into the panel

    page.keyboard.press("Escape")

    assert panel.is_hidden()
    assert _focused_testid_or_id(page) == "launcher"
    assert widget(page, "[data-testid=launcher]").get_attribute("aria-expanded") == "false"


def test_tab_and_shift_tab_stay_in_the_panel(page, demo_widget):
    demo_widget()
    open_widget(page)
    forward, backward = [], []

    for _ in range(14):  # more presses than the panel has controls: focus wraps around, never leaves
        page.keyboard.press("Tab")
        forward.append(_focused_in_panel(page))
    for _ in range(14):
        page.keyboard.press("Shift+Tab")
        backward.append(_focused_in_panel(page))

    assert None not in forward + backward, (forward, backward)
    # wrapping passed both ends: the close button (first) and the submit button (last)
    assert {"close", "submit", "tbw-description"} <= set(forward)
    assert {"close", "submit"} <= set(backward)


def test_host_page_css_does_not_reach_the_widget(page, demo_widget):
    # The demo page styles every button yellow, dashed and upper-case, and every element in Georgia.
    demo_widget()
    launcher = widget(page, "[data-testid=launcher]")
    launcher.wait_for()
    style = launcher.evaluate(
        "b => { const s = getComputedStyle(b); "
        "return [s.backgroundColor, s.borderStyle, s.textTransform, s.fontFamily] }"
    )
    host_font = page.locator("h1").evaluate("h => getComputedStyle(h).fontFamily")

    assert "Georgia" in host_font
    assert style[0] == "rgb(67, 56, 202)"
    assert style[1] == "none"
    assert style[2] == "none"
    assert "Georgia" not in style[3]
    assert page.locator("tourbrain-support").count() == 1
    assert page.evaluate("() => document.querySelector('tourbrain-support').shadowRoot !== null")


def _focused_testid_or_id(page):
    return page.evaluate(
        """() => {
            const host = document.querySelector('tourbrain-support');
            const inside = host && document.activeElement === host;
            const active = inside ? host.shadowRoot.activeElement : document.activeElement;
            if (!active) return null;
            if (active.classList && active.classList.contains('tbw-close')) return 'close';
            return active.dataset.testid || active.id || active.tagName;
        }"""
    )


def _focused_in_panel(page):
    """The focused control's test id / id when it is inside the widget's panel, else None."""
    return page.evaluate(
        """() => {
            const host = document.querySelector('tourbrain-support');
            if (document.activeElement !== host) return null;
            const active = host.shadowRoot.activeElement;
            if (!active || !host.shadowRoot.getElementById('tbw-panel').contains(active)) return null;
            if (active.classList.contains('tbw-close')) return 'close';
            return active.dataset.testid || active.id || active.tagName;
        }"""
    )
