"""The console's policies pages over real HTTP: the policy set in force with each policy's
id, effect, advice and place, and the subtraction table, row for row what `enclave policy
table` computes from the same policies; the view follows a reload."""

from __future__ import annotations

import html
import shutil
from pathlib import Path

from console_support import SignIn, error_message

from enclave.config import Settings
from enclave.console.policy_views import PoliciesPage, table_rows
from enclave.policy import PolicyEngine, default_directory


def test_policies_page_lists_the_policies_in_force(signed: SignIn, settings: Settings) -> None:
    engine = PolicyEngine.from_settings(settings)
    for who in ("root", "auditor"):
        page = html.unescape(signed(who).get("/policies?per=100").text)
        assert engine.info.digest in page
        for info in engine.policies.values():
            assert info.id in page and f"{info.file}:{info.line}" in page
        assert "access.cedar" in page and "risk.cedar" in page
    root = signed("root")
    by_id = root.get("/policies?sort=id&dir=desc&per=100").text
    assert by_id.index("purpose-not-on-key") < by_id.index("flag-elevated-risk")
    bad = root.get("/policies?sort=nope", status=400)
    assert "cannot sort by" in html.unescape(error_message(bad))


def test_subtraction_table_is_the_computed_one(signed: SignIn, settings: Settings) -> None:
    engine = PolicyEngine.from_settings(settings)
    expected = table_rows(engine.subtraction_table(), settings.tiers)
    page = html.unescape(signed("auditor").get("/policies/table?per=100").text)
    assert len(expected) <= 100
    for row in expected:
        assert row.summary in page
    # The shipped policies: the public tier is blocked at 0.8, vetted tiers only flagged.
    public = [r for r in expected if r.tier == "public" and r.categories != "none"]
    assert public and public[0].summary == "allow; flag >= 0.5000; block >= 0.8000"
    assert "block &gt;= 0.8000" in signed("root").get("/policies/table?per=100").text
    # Rows keep the computed order by default (tiers as configured).
    first = page.index("<td>public</td>")
    assert first < page.index("<td>maintainer</td>") < page.index("<td>partner</td>")


def test_the_view_follows_a_reload(tmp_path: Path, settings: Settings) -> None:
    directory = tmp_path / "policies"
    shutil.copytree(default_directory(), directory)
    engine = PolicyEngine.load(directory, tiers=settings.tiers)
    page = PoliciesPage(engine)
    before = page.view()
    assert "flag-elevated-risk" in {p.id for p in before.policies}
    text = (directory / "risk.cedar").read_text()
    (directory / "risk.cedar").write_text(
        text.replace('@id("flag-elevated-risk")', '@id("flag-raised-risk")')
    )
    engine.reload()
    after = page.view()
    assert after.digest != before.digest
    ids = {p.id for p in after.policies}
    assert "flag-raised-risk" in ids and "flag-elevated-risk" not in ids
    assert page.view() is after  # computed once per policy set
