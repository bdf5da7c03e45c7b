"""The router raises the kernel's neighbour table thresholds, never lowers them."""

from pathlib import Path

from moorage.router.neighbours import ensure_room


def test_low_thresholds_are_raised_and_high_ones_kept(tmp_path: Path) -> None:
    (tmp_path / "gc_thresh1").write_text("128\n")
    (tmp_path / "gc_thresh2").write_text("512\n")
    (tmp_path / "gc_thresh3").write_text("65536\n")
    changed = ensure_room(tmp_path)
    assert changed == ["gc_thresh2 512 -> 16384", "gc_thresh1 128 -> 4096"]
    assert (tmp_path / "gc_thresh3").read_text().strip() == "65536"
    assert ensure_room(tmp_path) == []


def test_a_table_it_cannot_read_changes_nothing(tmp_path: Path) -> None:
    assert ensure_room(tmp_path / "missing") == []
