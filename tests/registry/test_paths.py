"""The manifest path rules, over the traversal corpus of shared/notes/security-reliability.md (T-1.1)."""

import re

import pytest

from registry.paths import MAX_FILES, PathError, check_manifest_paths, check_path

GOOD = [
    "model.safetensors",
    "config.json",
    "tokenizer/tokenizer.json",
    "shards/model-00001-of-00002.safetensors",
    "données/é.txt",
    "a b/c.txt",
    "v1.0/weights..bin",
]

CORPUS = [
    ("../x", "'..'"),
    ("a/../../etc/passwd", "'..'"),
    ("..\\x", "backslash"),
    ("a\\b", "backslash"),
    ("%2e%2e/x", "percent-escape"),
    ("%252e%252e%252f", "percent-escape"),
    ("/etc/passwd", "absolute"),
    ("C:\\x", "backslash"),
    ("C:/x", "absolute"),
    ("x\x00y", "U+0000"),
    ("x\ny", "U+000A"),
    ("x\ty", "U+0009"),
    ("x\u202ey", "U+202E"),  # right-to-left override
    ("x\u200by", "U+200B"),  # zero-width space
    ("\uff0e\uff0e\uff0fetc", "normalize"),  # fullwidth dots and slash
    ("\ufb01le.txt", "normalize"),  # ligature
    ("a//b", "empty"),
    ("a/./b", "'.'"),
    ("a/", "empty"),
    ("", "required"),
    (" a/b", "whitespace"),
    ("a" * 256, "segment longer"),
    ("a/" * 600 + "b", "longer than 1024"),
]


@pytest.mark.parametrize("path", GOOD)
def test_plain_relative_paths_pass(path: str) -> None:
    assert check_path(path) == path


@pytest.mark.parametrize(("path", "reason"), CORPUS)
def test_the_traversal_corpus_is_refused_with_the_reason(path: str, reason: str) -> None:
    with pytest.raises(PathError, match=re.escape(reason)):
        check_path(path)


def test_a_manifest_refuses_duplicates_and_case_only_differences_by_index() -> None:
    problems = check_manifest_paths(["a.txt", "b/../c", "A.txt", "a.txt", "d.txt"])
    assert problems == {
        1: "has an empty, '.' or '..' segment",
        2: "differs from 'a.txt' only in case",
        3: "repeats 'a.txt'",
    }


def test_a_manifest_holds_at_most_ten_thousand_files() -> None:
    assert check_manifest_paths([f"f{i}" for i in range(MAX_FILES)]) == {}
    assert check_manifest_paths([f"f{i}" for i in range(MAX_FILES + 1)]) == {
        MAX_FILES: f"a version holds at most {MAX_FILES} files, not {MAX_FILES + 1}"
    }
