"""--show: refused with a pointer to --serve where OpenCV has no GUI; wired to imshow where it has."""

from __future__ import annotations

import numpy as np
import pytest
from sinks_helpers import classify_result, stats_for

from edgekit.errors import ConfigError
from edgekit.sinks import WindowSink
from edgekit.sinks.window import check_gui


@pytest.fixture
def fake_gui(monkeypatch: pytest.MonkeyPatch) -> list[tuple]:
    """Pretend OpenCV was built with GTK and a display exists; record the GUI calls."""
    import cv2

    calls: list[tuple] = []
    monkeypatch.setattr(cv2, "getBuildInformation", lambda: "  GUI:                           GTK3\n")
    monkeypatch.setenv("DISPLAY", ":0")
    monkeypatch.setattr(cv2, "namedWindow", lambda title, flags=0: calls.append(("named", title)))
    monkeypatch.setattr(cv2, "imshow", lambda title, image: calls.append(("show", title, image)))
    keys = iter([-1, ord("q")])
    monkeypatch.setattr(cv2, "waitKey", lambda delay=0: next(keys, -1))
    monkeypatch.setattr(cv2, "destroyWindow", lambda title: calls.append(("destroy", title)))
    return calls


def test_show_without_gui_support_points_to_serve(monkeypatch: pytest.MonkeyPatch) -> None:
    import cv2

    monkeypatch.setattr(cv2, "getBuildInformation", lambda: "  GUI:                           NONE\n")
    with pytest.raises(ConfigError, match=r"^WindowSink needs OpenCV with GUI support \(this one is headless\); "
                                          r"preview in a browser with a WebSink instead$"):
        WindowSink()


def test_show_without_a_display_is_refused(fake_gui: list[tuple],
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DISPLAY")
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    with pytest.raises(ConfigError, match=r"^WindowSink needs a display \(DISPLAY is not set\)"):
        check_gui()


def test_window_shows_annotated_frames_and_q_asks_to_quit(fake_gui: list[tuple],
                                                          photos: list[np.ndarray]) -> None:
    sink = WindowSink(title="cam")
    sink.write(classify_result(1), photos[0], stats_for(1))
    assert not sink.quit_requested
    sink.write(classify_result(2), photos[1], stats_for(2))
    assert sink.quit_requested
    sink.close()
    shown = [c for c in fake_gui if c[0] == "show"]
    assert [c[0] for c in fake_gui] == ["named", "show", "show", "destroy"]
    assert shown[0][2].shape == photos[0].shape and not np.array_equal(shown[0][2], photos[0])
