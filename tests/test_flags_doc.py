"""docs/flags.md is generated from the flag definitions and must match them."""

from __future__ import annotations

import pytest

from tools import flags_doc


@pytest.mark.slow  # one subprocess per entry point (every trainer imports TensorFlow): about 20 s
def test_flags_page_is_up_to_date():
    assert flags_doc.OUT.read_text() == flags_doc.render(), "run: python -m tools.flags_doc"


def test_the_library_defines_no_flags():
    """Flags belong to entry points: no module under purify_tf/ defines one."""
    offenders = [str(p.relative_to(flags_doc.REPO)) for p in sorted((flags_doc.REPO / "purify_tf").rglob("*.py"))
                 if "flags.DEFINE" in p.read_text()]
    assert offenders == []
