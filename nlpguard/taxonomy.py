"""The nlpguard label taxonomy (v1.1): the single source of label ids.

Everything else — data validation, model configs, scan output, reports —
reads label ids, families, severities and legal grounds from here. The text
follows ``taxonomy.md`` of the project's shared specification.
"""
from __future__ import annotations

from dataclasses import dataclass

TAXONOMY_VERSION = "1.2"


@dataclass(frozen=True)
class Label:
    """One label of a task: its id, family, severity, definition and grounds."""

    id: str
    task: str
    family: str
    severity: str
    definition: str
    grounds: str


_LABELS = (
    Label(
        "intimidation", "messages", "intimidation", "high",
        "Threatens violence or harm; threatens to come to the home, workplace, school or "
        "family to pressure or shame; threatens the family; stalks; states false or "
        "exaggerated legal consequences; impersonates police, courts, prosecutors, lawyers "
        "or government.",
        "刑法 293-1 (催收非法债务); 治安管理处罚法 42 (恐吓), 51 (冒充国家机关); GB/T 45251-2025",
    ),
    Label(
        "privacy_disclosure", "messages", "privacy_disclosure", "high",
        "Threatens to disclose, or discloses, the debtor's debt or personal information to "
        "contacts, family, employer, colleagues or the public, or reveals a third party's "
        "personal information.",
        "个人信息保护法 25; 民法典 1032, 1034, 1038; 刑法 253-1; 治安管理处罚法 42",
    ),
    Label(
        "insult", "messages", "harassment", "medium",
        "Insults, humiliates or degrades the recipient, including disguised spellings.",
        "治安管理处罚法 42 (公然侮辱); 民法典 1024",
    ),
    Label(
        "bundled_consent", "clauses", "abusive_consent", "high",
        "Obtains consent by bundling or implication: use means consent, default-ticked "
        "boxes, one consent for many purposes, core service refused unless non-essential "
        "processing or marketing is accepted.",
        "个人信息保护法 14, 16; 民法典 496; App违法违规收集使用个人信息行为认定方法",
    ),
    Label(
        "excessive_collection", "clauses", "abusive_consent", "high",
        "Collects or demands permissions beyond what the service needs (contacts, call log, "
        "SMS, photos, precise location, app list) or vague catch-all collection.",
        "个人信息保护法 6; 常见类型移动互联网应用程序必要个人信息范围规定",
    ),
    Label(
        "contact_disclosure", "clauses", "abusive_consent", "high",
        "Authorises contacting the user's contacts, emergency contacts, employer or family "
        "for collection, or disclosing debt or personal information to them, to collection "
        "agencies or to the public.",
        "个人信息保护法 23, 25; GB/T 45251-2025",
    ),
    Label(
        "irrevocable_consent", "clauses", "abusive_consent", "medium",
        "Makes consent irrevocable or obstructs withdrawal, deletion, correction or account "
        "cancellation.",
        "个人信息保护法 15, 44–47",
    ),
    Label(
        "unilateral_terms", "clauses", "abusive_consent", "medium",
        "Lets the provider change, suspend, terminate, penalise or interpret the agreement "
        "at its sole discretion.",
        "民法典 496–497; 消费者权益保护法 26; 侵害消费者权益行为处罚办法 12",
    ),
    Label(
        "liability_waiver", "clauses", "abusive_consent", "medium",
        "Excludes or limits the provider's own liability, increases the user's liability, "
        "or restricts the user's rights to complain, sue or choose a forum.",
        "民法典 497, 506; 消费者权益保护法 26",
    ),
)

LABELS: dict[str, Label] = {label.id: label for label in _LABELS}


@dataclass(frozen=True)
class Task:
    """How a task reads, scores and reports: the one place where the two tasks differ.

    Attributes:
        id: the task id.
        documents: a record's text is a whole document that scoring splits into clauses
            (document files are read whole; reports list clauses); otherwise a message that
            scoring splits into sentences (a ``.txt`` file holds one message per line).
        aggregations: the aggregations a model of the task may use, the default first.
        reference: what ``../shared/corpora`` gives training: ``"negatives"`` (real texts that
            are compliant) or ``"labelled"`` (hand-labelled real texts, split by document).
        reference_text: how model cards describe that reference data.
        limits: what the model cards of the project's own models say to watch for.
    """

    id: str
    documents: bool
    aggregations: tuple[str, ...]
    reference: str
    reference_text: str
    limits: tuple[str, ...]


TASK_TABLE: dict[str, Task] = {
    "messages": Task(
        "messages", documents=False, aggregations=("max_sentence", "whole"), reference="negatives",
        reference_text="real SMS and spam as compliant messages",
        limits=("The corpus is authored, not collected; expect a gap on real traffic and check thresholds on your own data.",
                "Reported speech, quotations and news about abuse are the main source of false alarms.",
                "Disguised spellings outside the training variants may be missed.")),
    "clauses": Task(
        "clauses", documents=True, aggregations=("max_clause",), reference="labelled",
        reference_text="hand-labelled real policy clauses",
        limits=("Authored clauses and a real-clause overlay from mainstream apps; real loan-app agreements are rare in "
                "training. Check on your own documents.",)),
}
TASKS = tuple(TASK_TABLE)


def task_labels(task: str) -> list[str]:
    """Return the label ids of ``task`` in their canonical order.

    >>> task_labels("messages")
    ['intimidation', 'privacy_disclosure', 'insult']
    """
    check_task(task)
    return [label.id for label in _LABELS if label.task == task]


def task_info(task: str) -> Task:
    """The :class:`Task` entry of ``task``; ValueError naming the known tasks."""
    return TASK_TABLE[check_task(task)]


def check_task(task: str) -> str:
    """Return ``task`` unchanged, or raise ``ValueError`` naming the known tasks."""
    if task not in TASKS:
        raise ValueError(f"unknown task {task!r}; known tasks: {', '.join(TASKS)}")
    return task


def label_info(label_id: str) -> Label:
    """The taxonomy's entry for ``label_id``; for a label outside it (a researcher's extra label)
    an entry with only the id: no task, family, severity, definition or grounds."""
    return LABELS.get(label_id) or Label(label_id, "", "", "", "", "")


def families_of(labels: list[str]) -> list[str]:
    """Return the families flagged by ``labels``, in taxonomy order, without repeats.

    Labels outside the taxonomy (a researcher's extra labels) are their own family.
    """
    seen: list[str] = []
    for label_id in labels:
        family = LABELS[label_id].family if label_id in LABELS else label_id
        if family not in seen:
            seen.append(family)
    return seen


# Sub-types of the messages corpus annotation (corpus v2, ``subtypes`` field): which label each
# refines, or None for the kinds of compliant text. Writer-held-out reports give recall per
# positive sub-type and the flagged share per compliant one.
MESSAGE_SUBTYPES: dict[str, str | None] = {
    "explicit_threat": "intimidation", "veiled_threat": "intimidation", "stalking": "intimidation",
    "family_threat": "intimidation", "visit_pressure": "intimidation", "false_legal": "intimidation",
    "impersonation": "intimidation", "fake_blacklist": "intimidation",
    "to_contacts": "privacy_disclosure", "to_relatives": "privacy_disclosure", "to_employer": "privacy_disclosure",
    "to_school": "privacy_disclosure", "group_chat": "privacy_disclosure", "public_post": "privacy_disclosure",
    "wanted_poster": "privacy_disclosure", "third_party_reveal": "privacy_disclosure",
    "degrading": "insult", "sexual": "insult", "dialect_insult": "insult", "disguised_insult": "insult",
    "lawful_reminder": None, "angry_lawful": None, "banter": None, "complaint": None, "news_reported": None,
    "customer_service": None, "neutral_contact": None, "spam_marketing": None,
}
