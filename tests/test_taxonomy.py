import re

import pytest

from nlpguard.taxonomy import LABELS, TASKS, check_task, families_of, task_labels

from .conftest import REPO


def test_label_ids_match_the_shared_taxonomy():
    spec = REPO.parent / "shared" / "taxonomy.md"
    if not spec.is_file():
        pytest.skip("../shared/taxonomy.md not present")
    ids = re.findall(r"^\| `([a-z_]+)` \|", spec.read_text(encoding="utf-8"), flags=re.M)
    assert ids == task_labels("messages") + task_labels("clauses")


def test_every_label_has_family_severity_and_grounds():
    for label in LABELS.values():
        assert label.task in TASKS
        assert label.severity in ("high", "medium")
        assert label.grounds and label.definition


def test_families_in_taxonomy_order_without_repeats():
    assert families_of(["insult", "intimidation"]) == ["harassment", "intimidation"]
    assert families_of(["bundled_consent", "liability_waiver"]) == ["abusive_consent"]
    assert families_of(["my_extra_label"]) == ["my_extra_label"]


def test_unknown_task_is_rejected_by_name():
    with pytest.raises(ValueError, match="unknown task 'sms'"):
        check_task("sms")


def test_label_info_gives_custom_labels_an_entry_without_family_severity_or_grounds():
    from nlpguard.taxonomy import LABELS, label_info

    assert label_info("insult") is LABELS["insult"]
    custom = label_info("offensive")
    assert (custom.id, custom.family, custom.severity, custom.grounds, custom.definition) == ("offensive", "", "", "", "")
