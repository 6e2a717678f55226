"""The local Hub-protocol server, driven by the real huggingface_hub client (Xet off), as the
publisher will drive it; raw HTTP only where the client cannot reach a case."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from unittest.mock import ANY

import httpx
import httpx2
import pytest
from huggingface_hub import CommitOperationAdd, CommitOperationDelete, HfApi, hf_hub_download, snapshot_download
from huggingface_hub.errors import (
    GatedRepoError,
    HfHubHTTPError,
    RemoteEntryNotFoundError,
    RepositoryNotFoundError,
    RevisionNotFoundError,
)

from consortium.devhub import DevHub
from consortium.embedded import free_port_block

TOKEN = "hf_test_token"
README = b"""---
license: apache-2.0
tags: [consortium]
---
# A model <script>alert("card")</script>

Trained on & evaluated with care.
"""
BROKEN_MODEL_INDEX = b"""---
model-index:
- name: m
  results:
  - task: {type: text-generation}
---
# m
"""


@pytest.fixture
def api(hub: DevHub) -> HfApi:
    return HfApi(endpoint=hub.url, token=TOKEN)


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def publish(api: HfApi) -> tuple[str, bytes]:
    """org-a/model with a regular file, an LFS file and a card; returns (commit id, the weights)."""
    weights = os.urandom(1_100_000)
    api.create_repo("org-a/model", exist_ok=True)
    info = api.create_commit(
        "org-a/model",
        operations=[
            CommitOperationAdd("config.json", b'{"layers": 2}'),
            CommitOperationAdd("model.safetensors", weights),
            CommitOperationAdd("README.md", README),
        ],
        commit_message="Publish v1",
        commit_description="first release",
    )
    return info.oid, weights


def test_create_repo_twice_needs_exist_ok(api: HfApi, hub: DevHub) -> None:
    url = api.create_repo("org-a/model")
    assert url == f"{hub.url}/org-a/model"
    assert url.repo_id == "org-a/model"

    with pytest.raises(HfHubHTTPError) as conflict:
        api.create_repo("org-a/model")
    assert conflict.value.response.status_code == 409
    assert api.create_repo("org-a/model", exist_ok=True) == url

    repo = hub.repo("model", "org-a/model")
    assert repo is not None
    assert [c.title for c in repo.commit_list] == ["initial commit"]
    assert list(repo.tree()) == [".gitattributes"]


def test_commit_stores_regular_lfs_and_card_then_a_pinned_delete(api: HfApi, hub: DevHub) -> None:
    first, weights = publish(api)

    repo = hub.repo("model", "org-a/model")
    assert repo is not None
    tree = repo.tree(first)
    assert sorted(tree) == [".gitattributes", "README.md", "config.json", "model.safetensors"]
    assert tree["model.safetensors"].lfs
    assert tree["model.safetensors"].sha256 == sha256(weights)
    assert not tree["config.json"].lfs
    assert hub.read_file("model", "org-a/model", "README.md") == README
    # The bytes of the LFS file went through the batch API and a PUT, not through the commit.
    assert ("PUT", 200) in [(r.method, r.status) for r in hub.requests.matching(path_regex=r"^/-/lfs/")]

    second = api.create_commit(
        "org-a/model",
        operations=[CommitOperationDelete("config.json")],
        commit_message="Drop the config",
        parent_commit=first,
    )
    repo = hub.repo("model", "org-a/model")
    assert repo is not None
    assert second.commit_url == f"{hub.url}/org-a/model/commit/{second.oid}"
    assert repo.branches == {"main": second.oid}
    assert [(c.title, c.parent) for c in repo.commit_list[:2]] == [("Drop the config", first), ("Publish v1", ANY)]
    assert repo.commit_list[1].message == "first release"
    assert "config.json" not in repo.tree()
    assert "config.json" in repo.tree(first)


def test_stale_parent_commit_is_refused_with_412(api: HfApi, hub: DevHub) -> None:
    first, _ = publish(api)
    api.upload_file(path_or_fileobj=b"x", path_in_repo="later.txt", repo_id="org-a/model")

    with pytest.raises(HfHubHTTPError) as stale:
        api.create_commit(
            "org-a/model",
            operations=[CommitOperationAdd("mine.txt", b"mine")],
            commit_message="Based on an old head",
            parent_commit=first,
        )
    assert stale.value.response.status_code == 412
    repo = hub.repo("model", "org-a/model")
    assert repo is not None
    assert "mine.txt" not in repo.tree()


def test_tags_are_created_once_listed_and_deleted(api: HfApi, hub: DevHub) -> None:
    first, _ = publish(api)
    api.create_tag("org-a/model", tag="v1", revision=first, tag_message="first release")
    api.create_tag("org-a/model", tag="v1", exist_ok=True)
    with pytest.raises(HfHubHTTPError) as conflict:
        api.create_tag("org-a/model", tag="v1")
    assert conflict.value.response.status_code == 409

    refs = api.list_repo_refs("org-a/model")
    assert [(t.name, t.ref, t.target_commit) for t in refs.tags] == [("v1", "refs/tags/v1", first)]
    assert [(b.name, b.target_commit) for b in refs.branches] == [("main", first)]

    api.delete_tag("org-a/model", tag="v1")
    assert api.list_repo_refs("org-a/model").tags == []
    with pytest.raises(RevisionNotFoundError):
        api.delete_tag("org-a/model", tag="v1")


def test_branches_with_a_slash_work_as_quoted_revisions(api: HfApi, hub: DevHub) -> None:
    first, _ = publish(api)
    api.create_branch("org-a/model", branch="eval/run-1", revision=first)
    api.upload_file(path_or_fileobj=b"0.5", path_in_repo="eval/score.txt", repo_id="org-a/model", revision="eval/run-1")

    assert "eval/score.txt" in api.list_repo_files("org-a/model", revision="eval/run-1")
    assert "eval/score.txt" not in api.list_repo_files("org-a/model")
    assert [r.path for r in hub.requests.matching("POST", "/commit/")] == [
        "/api/models/org-a/model/commit/main",
        "/api/models/org-a/model/commit/eval%2Frun-1",
    ]
    api.delete_branch("org-a/model", branch="eval/run-1")
    assert [b.name for b in api.list_repo_refs("org-a/model").branches] == ["main"]


def test_history_and_trees_page_through_link_headers(api: HfApi, hub: DevHub) -> None:
    first, _ = publish(api)
    api.upload_file(path_or_fileobj=b"{}", path_in_repo="sub/dir/results.json", repo_id="org-a/model")
    hub.page_size = 2

    commits = api.list_repo_commits("org-a/model")
    assert [c.title for c in commits] == [
        "Upload sub/dir/results.json with huggingface_hub",
        "Publish v1",
        "initial commit",
    ]
    assert commits[1].commit_id == first
    assert commits[1].authors == ["devhub"]

    files = api.list_repo_files("org-a/model")
    assert files == [".gitattributes", "README.md", "config.json", "model.safetensors", "sub/dir/results.json"]
    top = {item.path: type(item).__name__ for item in api.list_repo_tree("org-a/model")}
    assert top == {
        ".gitattributes": "RepoFile",
        "README.md": "RepoFile",
        "config.json": "RepoFile",
        "model.safetensors": "RepoFile",
        "sub": "RepoFolder",
    }
    inside = [item.path for item in api.list_repo_tree("org-a/model", path_in_repo="sub/dir")]
    assert inside == ["sub/dir/results.json"]
    # 7 entries in 4 pages (recursive, which the "next" links must keep), 5 in 3, then 1; and 3 commits in 2.
    assert len(hub.requests.matching("GET", r"/tree/")) == 4 + 3 + 1
    assert len(hub.requests.matching("GET", r"/commits/")) == 2
    with pytest.raises(RemoteEntryNotFoundError):
        list(api.list_repo_tree("org-a/model", path_in_repo="missing"))


def test_model_info_with_files_metadata_names_lfs_sha256(api: HfApi) -> None:
    first, weights = publish(api)
    info = api.model_info("org-a/model", files_metadata=True)

    assert info.sha == first
    assert info.private is False
    assert info.gated is False
    assert info.tags == ["consortium"]
    assert info.card_data is not None
    assert info.card_data.license == "apache-2.0"
    siblings = {s.rfilename: s for s in info.siblings or []}
    lfs = siblings["model.safetensors"].lfs
    assert lfs is not None
    assert lfs.sha256 == sha256(weights)
    assert lfs.size == len(weights)
    assert siblings["config.json"].lfs is None
    assert siblings["config.json"].size == len(b'{"layers": 2}')


def test_settings_make_a_repo_private_and_gated(api: HfApi, hub: DevHub) -> None:
    publish(api)
    api.update_repo_settings("org-a/model", private=True, gated="manual")

    info = api.model_info("org-a/model")
    assert (info.private, info.gated) == (True, "manual")
    anonymous = HfApi(endpoint=hub.url, token=False)
    with pytest.raises(RepositoryNotFoundError):
        anonymous.model_info("org-a/model")
    with pytest.raises(RepositoryNotFoundError):
        anonymous.list_repo_files("org-a/model")

    api.update_repo_settings("org-a/model", private=False)
    assert anonymous.model_info("org-a/model").gated == "manual"
    with pytest.raises(GatedRepoError):
        anonymous.hf_hub_download("org-a/model", "config.json", cache_dir=str(hub.root / "anon-cache"))


def test_snapshot_at_a_tag_matches_every_sha256(api: HfApi, hub: DevHub, tmp_path: Path) -> None:
    first, _ = publish(api)
    api.create_tag("org-a/model", tag="v1", revision=first)
    api.upload_file(path_or_fileobj=b"after the tag", path_in_repo="later.txt", repo_id="org-a/model")

    folder = Path(
        snapshot_download(
            "org-a/model",
            revision="v1",
            local_dir=tmp_path / "v1",
            cache_dir=tmp_path / "cache",
            endpoint=hub.url,
            token=TOKEN,
        )
    )
    got = {
        p.relative_to(folder).as_posix(): sha256(p.read_bytes())
        for p in folder.rglob("*")
        if p.is_file() and ".cache" not in p.relative_to(folder).parts
    }
    repo = hub.repo("model", "org-a/model")
    assert repo is not None
    assert got == {path: entry.sha256 for path, entry in repo.tree("v1").items()}
    assert "later.txt" not in got


def test_a_dataset_repo_round_trips(api: HfApi, hub: DevHub, tmp_path: Path) -> None:
    table = os.urandom(300_000)
    api.create_repo("org-a/data", repo_type="dataset")
    api.create_commit(
        "org-a/data",
        repo_type="dataset",
        operations=[CommitOperationAdd("train.parquet", table), CommitOperationAdd("README.md", b"---\n{}\n---\n")],
        commit_message="Add the split",
    )
    path = hf_hub_download(
        "org-a/data", "train.parquet", repo_type="dataset", endpoint=hub.url, token=TOKEN, cache_dir=tmp_path
    )
    assert Path(path).read_bytes() == table
    repo = hub.repo("dataset", "org-a/data")
    assert repo is not None
    assert repo.tree()["train.parquet"].lfs
    assert hub.repo("model", "org-a/data") is None
    assert ("POST", "/datasets/org-a/data.git/info/lfs/objects/batch") in [(r.method, r.path) for r in hub.requests]


def test_writes_need_the_right_token(hub: DevHub) -> None:
    for token in ("hf_wrong", False):
        with pytest.raises(HfHubHTTPError) as denied:
            HfApi(endpoint=hub.url, token=token).create_repo("org-a/model")
        assert denied.value.response.status_code == 401
    assert hub.repo("model", "org-a/model") is None


def test_403_before_apply_commits_nothing(api: HfApi, hub: DevHub) -> None:
    first, _ = publish(api)
    hub.faults.add("POST", r"/commit/main$", status=403, message="the token cannot write here")

    with pytest.raises(HfHubHTTPError) as refused:
        api.upload_file(path_or_fileobj=b"x", path_in_repo="x.txt", repo_id="org-a/model")
    assert refused.value.response.status_code == 403
    assert "the token cannot write here" in str(refused.value)
    repo = hub.repo("model", "org-a/model")
    assert repo is not None
    assert repo.branches["main"] == first


def test_a_dropped_answer_after_the_commit_applied(api: HfApi, hub: DevHub) -> None:
    """The client sees a broken connection, yet the commit is there: a retry must look before it writes."""
    first, _ = publish(api)
    hub.faults.add("POST", r"/commit/main$", after_apply=True, drop=True)

    with pytest.raises(httpx2.TransportError):
        api.create_commit(
            "org-a/model",
            operations=[CommitOperationAdd("notes.txt", b"landed")],
            commit_message="Lost answer",
            parent_commit=first,
        )
    commits = api.list_repo_commits("org-a/model")
    assert commits[0].title == "Lost answer"
    assert commits[1].commit_id == first
    assert hub.requests.matching("POST", r"/commit/")[-1].status is None
    assert not hub.faults.pending()


def test_a_429_on_preupload_is_retried_by_the_client(api: HfApi, hub: DevHub) -> None:
    api.create_repo("org-a/model")
    hub.faults.add("POST", r"/preupload/", status=429, times=1)

    api.upload_file(path_or_fileobj=b"x", path_in_repo="x.txt", repo_id="org-a/model")

    assert [r.status for r in hub.requests.matching("POST", r"/preupload/")] == [429, 200]
    assert hub.read_file("model", "org-a/model", "x.txt") == b"x"


def test_validate_yaml_rejects_a_broken_model_index(api: HfApi, hub: DevHub) -> None:
    api.create_repo("org-a/model")
    with pytest.raises(ValueError, match=r"Invalid metadata in README\.md"):
        api.upload_file(path_or_fileobj=BROKEN_MODEL_INDEX, path_in_repo="README.md", repo_id="org-a/model")

    answers = {
        name: httpx.post(f"{hub.url}/api/validate-yaml", json={"content": content, "repoType": "model"})
        for name, content in {
            "good": README.decode(),
            "model-index": BROKEN_MODEL_INDEX.decode(),
            "yaml": "---\nlicense: [unclosed\n---\n",
            "none": "# no metadata\n",
        }.items()
    }
    assert {name: r.status_code for name, r in answers.items()} == {
        "good": 200,
        "model-index": 400,
        "yaml": 400,
        "none": 200,
    }
    assert "model_index" in answers["model-index"].json()["errors"][0]["message"]
    assert answers["none"].json() == {
        "errors": [],
        "warnings": [{"message": "empty or missing yaml metadata in repo card"}],
    }


def test_pages_show_a_repo_and_a_commit_with_the_card_escaped(api: HfApi, hub: DevHub) -> None:
    first, _ = publish(api)
    api.create_tag("org-a/model", tag="v1", revision=first)

    repo_page = httpx.get(f"{hub.url}/org-a/model")
    commit_page = httpx.get(f"{hub.url}/org-a/model/commit/{first}")
    tree_page = httpx.get(f"{hub.url}/org-a/model/tree/v1")
    index = httpx.get(f"{hub.url}/")

    for page in (repo_page, commit_page, tree_page, index):
        assert page.status_code == 200
        assert page.headers["content-type"].startswith("text/html")
    for page in (repo_page, commit_page):
        assert "<script>" not in page.text
        assert "&lt;script&gt;alert(&quot;card&quot;)&lt;/script&gt;" in page.text
        assert "license: apache-2.0" in page.text
    assert "model.safetensors" in repo_page.text
    assert "v1" in repo_page.text
    assert "Publish v1" in repo_page.text
    assert "added" in commit_page.text
    assert "first release" in commit_page.text
    assert "org-a/model" in index.text


def test_private_repos_stay_off_the_pages_without_the_token(api: HfApi, hub: DevHub) -> None:
    api.create_repo("org-a/secret", private=True)
    assert httpx.get(f"{hub.url}/org-a/secret").status_code == 404
    assert "org-a/secret" not in httpx.get(f"{hub.url}/").text
    assert httpx.get(f"{hub.url}/org-a/secret", headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 200


def test_lfs_upload_links_check_the_bytes_and_work_once(api: HfApi, hub: DevHub) -> None:
    api.create_repo("org-a/model")
    data = b"weights" * 1000
    batch = httpx.post(
        f"{hub.url}/org-a/model.git/info/lfs/objects/batch",
        json={"operation": "upload", "objects": [{"oid": sha256(data), "size": len(data)}]},
        headers={"Authorization": f"Bearer {TOKEN}"},
    ).json()
    href = batch["objects"][0]["actions"]["upload"]["href"]

    assert httpx.put(href, content=data[::-1]).status_code == 400  # wrong bytes: not stored, link kept
    chunked = httpx.put(href, content=iter([data[:1000], data[1000:]]))  # no Content-Length: chunked
    assert chunked.status_code == 200
    assert httpx.put(href, content=data).status_code == 403  # spent
    again = httpx.post(
        f"{hub.url}/org-a/model.git/info/lfs/objects/batch",
        json={"operation": "upload", "objects": [{"oid": sha256(data), "size": len(data)}]},
        headers={"Authorization": f"Bearer {TOKEN}"},
    ).json()
    assert "actions" not in again["objects"][0]  # stored: the client skips the upload


def commit_ndjson(*lines: dict[str, object]) -> bytes:
    return b"".join(json.dumps(line).encode() + b"\n" for line in lines)


def test_commit_lines_are_checked_and_an_unchanged_tree_still_commits(api: HfApi, hub: DevHub) -> None:
    """Like the Hub, the server makes a commit even when nothing changed (huggingface_hub avoids
    sending such commits itself); an lfsFile must name an uploaded object."""
    first, _ = publish(api)
    url, auth = f"{hub.url}/api/models/org-a/model/commit/main", {"Authorization": f"Bearer {TOKEN}"}
    header = {"key": "header", "value": {"summary": "Nothing new", "description": ""}}

    missing = {"key": "lfsFile", "value": {"path": "w.bin", "algo": "sha256", "oid": "0" * 64, "size": 3}}
    assert httpx.post(url, content=commit_ndjson(header, missing), headers=auth).status_code == 422
    inline = {"key": "file", "value": {"path": "w.bin", "content": base64.b64encode(b"abc").decode()}}
    assert httpx.post(url, content=commit_ndjson(header, inline), headers=auth).status_code == 400  # must be LFS
    escape = {"key": "deletedFile", "value": {"path": "../config.json"}}
    assert httpx.post(url, content=commit_ndjson(header, escape), headers=auth).status_code == 400

    empty = httpx.post(url, content=commit_ndjson(header), headers=auth)
    assert empty.status_code == 200
    repo = hub.repo("model", "org-a/model")
    assert repo is not None
    assert repo.branches["main"] == empty.json()["commitOid"] != first
    assert repo.tree() == repo.tree(first)


def test_downloads_answer_head_and_ranges_like_the_hub(api: HfApi, hub: DevHub) -> None:
    first, weights = publish(api)
    url = f"{hub.url}/org-a/model/resolve/main/model.safetensors"

    head = httpx.head(url)
    assert head.headers["x-repo-commit"] == first
    assert head.headers["etag"] == f'"{sha256(weights)}"'
    assert int(head.headers["content-length"]) == len(weights)
    assert head.content == b""
    part = httpx.get(url, headers={"Range": "bytes=10-19"})
    assert part.status_code == 206
    assert part.content == weights[10:20]
    missing = httpx.head(f"{hub.url}/org-a/model/resolve/main/nope.bin")
    assert missing.status_code == 404
    assert missing.headers["x-error-code"] == "EntryNotFound"
    assert httpx.head(f"{hub.url}/org-a/model/resolve/v9/config.json").headers["x-error-code"] == "RevisionNotFound"
    assert not api.file_exists("org-a/model", "nope.bin")


def test_a_restart_on_the_same_root_keeps_repos(tmp_path: Path) -> None:
    with DevHub(tmp_path, token=TOKEN) as before:
        api = HfApi(endpoint=before.url, token=TOKEN)
        first, weights = publish(api)
        api.create_tag("org-a/model", tag="v1", revision=first)
        api.update_repo_settings("org-a/model", private=True)

    with DevHub(tmp_path, token=TOKEN) as after:
        api = HfApi(endpoint=after.url, token=TOKEN)
        assert api.list_repo_refs("org-a/model").tags[0].target_commit == first
        assert api.model_info("org-a/model").private is True
        assert after.read_file("model", "org-a/model", "model.safetensors", revision="v1") == weights


def test_the_command_line_server_stops_cleanly_on_sigterm(tmp_path: Path) -> None:
    (tmp_path / "token").write_text(TOKEN)
    port = free_port_block(1)
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "consortium.devhub",
            f"--root={tmp_path / 'data'}",
            f"--port={port}",
            f"--token-file={tmp_path / 'token'}",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert "listening on" in (server.stdout.readline() if server.stdout else "")
        assert (
            httpx.get(f"http://127.0.0.1:{port}/api/whoami-v2", headers={"Authorization": f"Bearer {TOKEN}"}).json()[
                "name"
            ]
            == "devhub"
        )
        server.send_signal(signal.SIGTERM)
        output, _ = server.communicate(timeout=10)
    finally:
        server.kill()
    assert server.returncode == 0
    assert "method=GET path=/api/whoami-v2 status=200" in output
    assert "devhub stopped" in output
