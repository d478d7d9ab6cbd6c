"""The teacher for distillation (kd, seqkd, gkd), checked against the student before training.

Every distillation loss here compares the teacher's and the student's next-token
distributions position by position, so token i must mean the same string to both: the
two tokenizers must be the same (same vocabulary, same special tokens) and the output
layers the same width. TRL checks only the width, and only after the student is loaded;
checking the tokenizers first turns a silent mismatch (same width, different tokens:
the loss trains the student towards nonsense) into one clear error.
"""

from __future__ import annotations

from rmbench import models
from rmbench.errors import ModelError

SPECIALS = ("bos_token", "eos_token", "unk_token")


def check_shared_tokenizer(student: str, teacher: str) -> None:
    """Raise one ModelError unless teacher and student tokenize identically."""
    tokenizers, widths = {}, {}
    for role, source in (("student", student), ("teacher", teacher)):
        tokenizers[role] = models.load_tokenizer(source)
        widths[role] = models.checkpoint_config(source).get_text_config().vocab_size
    problem = tokenizer_difference(tokenizers["student"], tokenizers["teacher"])
    if problem:
        raise ModelError(f"teacher {teacher} and student {student} must share a tokenizer for distillation, and "
                         f"they do not ({problem}): the loss compares their next-token distributions token by "
                         "token. Pick a teacher from the student's model family (same tokenizer)")
    if widths["student"] != widths["teacher"]:
        raise ModelError(f"teacher {teacher} and student {student} share a tokenizer but their output layers "
                         f"differ ({widths['teacher']} vs {widths['student']} logits): distillation compares full "
                         "next-token distributions, so both models need the same vocab_size")


def tokenizer_difference(student, teacher) -> str | None:
    """What differs between two tokenizers, in words, or None when they are the same."""
    student_vocab, teacher_vocab = student.get_vocab(), teacher.get_vocab()
    if student_vocab != teacher_vocab:
        only_teacher = sorted(set(teacher_vocab) - set(student_vocab))[:3]
        only_student = sorted(set(student_vocab) - set(teacher_vocab))[:3]
        moved = [t for t in student_vocab if t in teacher_vocab and student_vocab[t] != teacher_vocab[t]][:3]
        details = [f"{len(teacher_vocab)} vs {len(student_vocab)} tokens"]
        if only_teacher:
            details.append(f"teacher-only tokens {only_teacher}")
        if only_student:
            details.append(f"student-only tokens {only_student}")
        if moved:
            details.append(f"tokens with other ids {moved}")
        return "vocabularies differ: " + ", ".join(details)
    for special in SPECIALS:
        if getattr(student, special) != getattr(teacher, special):
            return f"{special} is {getattr(teacher, special)!r} for the teacher, {getattr(student, special)!r} " \
                   "for the student"
    return None


def load_teacher(teacher: str, student: str):
    """The teacher model, after the tokenizer check."""
    check_shared_tokenizer(student, teacher)
    return models.load_model(teacher, "causal_lm", role="the teacher", tokenizer=False).model
