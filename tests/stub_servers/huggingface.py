"""Just enough of the Hugging Face Hub for `hf_hub_download`,
`HfApi.get_paths_info` and `HfApi.create_repo` / `upload_folder`.

As on the Hub, weight files (`LFS_SUFFIXES`) are stored with Git LFS: their
ETag and their `lfs.oid` in paths-info are the file's sha256; other files'
ETag and `oid` are their git blob id (sha1 of `blob <size>\\0` + content).

The tests point `huggingface_hub` here by setting its endpoint
(`huggingface_hub.constants.ENDPOINT`, as `HF_ENDPOINT` would at import).
"""

import base64
import hashlib
import json
from urllib.parse import parse_qs
from urllib.parse import unquote

from stub_servers.server import StubHandler
from stub_servers.server import StubServer

LFS_SUFFIXES = (".h5", ".safetensors")


def git_blob_id(data):
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def stated_digest(name, data):
    """What the Hub states for a file: sha256 for LFS files, else the git blob id."""
    if name.endswith(LFS_SUFFIXES):
        return hashlib.sha256(data).hexdigest()
    return git_blob_id(data)


class HuggingFaceStub(StubServer):
    """Repositories are `{repo_id: {"refs": {branch: sha}, "commits": {sha: {name: bytes}}}}`.

    Knobs, each answering file requests the way the Hub does:
    `private` (401, like an anonymous request to a private or missing repo),
    `gated` (403 GatedRepo), `fail_status` (that status on every route, no error code),
    `short` (file names whose body is shorter than announced),
    `corrupt` (file names served with one byte changed, while the ETag and
    paths-info state the stored file's digest, as a broken proxy or disk
    would) and
    `after_get` (called with `(repo_id, filename)` after each file is served).
    """

    def __init__(self):
        self.repos = {}
        self.private = set()
        self.gated = set()
        self.fail_status = None
        self.short = set()
        self.corrupt = set()
        self.after_get = None
        self.created_repos = []
        super().__init__(_HubHandler)

    def add_commit(self, repo_id, files, branch="main"):
        """Commit `files` on top of `branch` and return the new commit sha."""
        repo = self.repos.setdefault(repo_id, {"refs": {}, "commits": {}})
        parent = repo["refs"].get(branch)
        tree = dict(repo["commits"].get(parent, {}))
        tree.update(files)
        digest = hashlib.sha1(f"{repo_id}:{len(repo['commits'])}".encode())
        for name in sorted(tree):
            digest.update(name.encode() + hashlib.sha256(tree[name]).digest())
        sha = digest.hexdigest()
        repo["commits"][sha] = tree
        repo["refs"][branch] = sha
        return sha

    def files(self, repo_id, revision="main"):
        repo = self.repos[repo_id]
        return repo["commits"][repo["refs"].get(revision, revision)]


class _HubHandler(StubHandler):
    def respond(self, method, path):
        if self.stub.fail_status is not None:
            return self._hub_error(self.stub.fail_status, None, "Refused by the stub")
        parts = [unquote(part) for part in path.split("/")[1:]]
        if method in ("GET", "HEAD") and len(parts) >= 5 and parts[2] == "resolve":
            return self._resolve(method, f"{parts[0]}/{parts[1]}", parts[3], "/".join(parts[4:]))
        if method == "POST" and parts == ["api", "repos", "create"]:
            return self._create_repo()
        if method == "POST" and len(parts) >= 6 and parts[:2] == ["api", "models"]:
            repo_id, action, revision = f"{parts[2]}/{parts[3]}", parts[4], "/".join(parts[5:])
            if action == "preupload":
                return self._preupload()
            if action == "commit":
                return self._commit(repo_id, revision)
            if action == "paths-info":
                return self._paths_info(repo_id, revision)
        self._hub_error(404, "NotFound", "Not found")

    def _hub_error(self, status, code, message, commit=None):
        headers = [("X-Error-Message", message)]
        if code is not None:
            headers.append(("X-Error-Code", code))
        if commit is not None:
            headers.append(("X-Repo-Commit", commit))
        self.send(status, json.dumps({"error": message}).encode(), headers)

    def _json(self, payload):
        self.send(200, json.dumps(payload).encode(), [("Content-Type", "application/json")])

    def _resolve(self, method, repo_id, revision, filename):
        stub = self.stub
        repo = stub.repos.get(repo_id)
        if repo_id in stub.private or repo is None:
            status = 401 if repo_id in stub.private else 404
            return self._hub_error(status, "RepoNotFound", "Repository not found")
        if repo_id in stub.gated:
            return self._hub_error(
                403, "GatedRepo", f"Access to model {repo_id} is restricted."
            )
        sha = repo["refs"].get(revision, revision)
        if sha not in repo["commits"]:
            return self._hub_error(404, "RevisionNotFound", "Invalid rev id")
        tree = repo["commits"][sha]
        if filename not in tree:
            return self._hub_error(404, "EntryNotFound", "Entry not found", commit=sha)
        data = tree[filename]
        if method == "GET" and filename in stub.short:
            data = data[: len(data) // 2]
        if method == "GET" and filename in stub.corrupt:
            data = data[:-1] + bytes([data[-1] ^ 0xFF])
        etag = '"' + stated_digest(filename, tree[filename]) + '"'
        self.send(200, data, [("X-Repo-Commit", sha), ("ETag", etag)])
        if method == "GET" and stub.after_get is not None:
            stub.after_get(repo_id, filename)

    def _paths_info(self, repo_id, revision):
        repo = self.stub.repos.get(repo_id)
        if repo is None:
            return self._hub_error(404, "RepoNotFound", "Repository not found")
        sha = repo["refs"].get(revision, revision)
        if sha not in repo["commits"]:
            return self._hub_error(404, "RevisionNotFound", "Invalid rev id")
        tree = repo["commits"][sha]
        infos = []
        for path in parse_qs(self.body.decode()).get("paths", []):
            if path not in tree:
                continue  # the Hub leaves out paths it does not have
            data = tree[path]
            info = {"type": "file", "path": path, "size": len(data), "oid": git_blob_id(data)}
            if path.endswith(LFS_SUFFIXES):
                info["lfs"] = {
                    "oid": hashlib.sha256(data).hexdigest(),
                    "size": len(data),
                    "pointerSize": 134,
                }
            infos.append(info)
        self._json(infos)

    def _create_repo(self):
        request = json.loads(self.body)
        repo_id = f"{request['organization']}/{request['name']}"
        self.stub.created_repos.append(repo_id)
        self._json({"url": f"{self.stub.url}/{repo_id}"})

    def _preupload(self):
        files = json.loads(self.body)["files"]
        modes = [{"path": f["path"], "uploadMode": "regular", "shouldIgnore": False} for f in files]
        self._json({"files": modes})

    def _commit(self, repo_id, revision):
        files = {}
        for line in self.body.splitlines():
            entry = json.loads(line)
            if entry["key"] == "file":
                value = entry["value"]
                files[value["path"]] = base64.b64decode(value["content"])
            elif entry["key"] != "header":
                return self._hub_error(400, None, f"Unsupported entry {entry['key']}")
        sha = self.stub.add_commit(repo_id, files, branch=revision)
        self._json({"commitUrl": f"{self.stub.url}/{repo_id}/commit/{sha}", "commitOid": sha})
