"""Enough of the Hugging Face Hub for `hf_hub_download`,
`HfApi.get_paths_info` and `HfApi.create_repo` / `upload_folder`, answering
as the real Hub does (huggingface_hub 2.x is what reads these answers).

Storage. Weight files (`LFS_SUFFIXES`, the patterns of the `.gitattributes`
a new repository gets) are Git LFS files: the repository holds a pointer,
the bytes live on a storage host. So, as on the Hub:

- `HEAD`/`GET .../resolve/<rev>/<file>` of an LFS file answers
  `302 Found` to the file on the storage origin (a second port of this
  stub, so a different origin as the CDN is), with `X-Linked-Etag` (the
  sha256), `X-Linked-Size`, `X-Repo-Commit` and, as its own `ETag`, the git
  blob id of the pointer. A repository is Xet-backed by default
  (`xet_backed`), as every repository on the Hub now is: the answer also
  carries `X-Xet-Hash` and a `Link` header with `rel="xet-auth"` (the
  token route) and `rel="xet-reconstruction-info"`. Other files answer
  200 with their git blob id as `ETag`.
- paths-info states `oid` (the git blob id: of the pointer for an LFS file),
  `lfs: {oid: sha256, size, pointerSize}` and `xetHash`.
- Xet itself (token routes, CAS) is not served: a request for a Xet token
  gets `501` and is recorded. The tests keep huggingface_hub off Xet (see
  `loopback_guard`), since hf_xet's transfers run in native code.

Accounts. Any `Authorization: Bearer ...` counts as a token of the owner of
every repository. A missing or private repository answers `401` with
`X-Error-Code: RepoNotFound` to an anonymous request and `404` to one with a
token (the Hub does not tell a stranger which private repositories exist).
Writes (create, preupload, LFS batch, commit) need a token: `401` without.

Uploads go the Hub's way: `preupload` answers `uploadMode: "lfs"` for LFS
files (with the `oid` of a file already at that revision, so unchanged files
are skipped); the client then asks the LFS batch endpoint
(`<repo>.git/info/lfs/objects/batch`) for upload actions, `PUT`s the bytes to
the storage origin, `POST`s the verify action, and commits with `lfsFile`
entries, which must name a verified object of that size.

The tests point `huggingface_hub` here by setting its endpoint
(`huggingface_hub.constants.ENDPOINT`, as `HF_ENDPOINT` would at import).
"""

import base64
import hashlib
import json
import re
from urllib.parse import parse_qs
from urllib.parse import quote
from urllib.parse import unquote

from stub_servers.server import StubHandler
from stub_servers.server import StubServer

LFS_SUFFIXES = (".h5", ".safetensors")
GITATTRIBUTES = b"".join(
    b"*%s filter=lfs diff=lfs merge=lfs -text\n" % suffix.encode() for suffix in LFS_SUFFIXES
)
_LFS_CONTENT_TYPE = "application/vnd.git-lfs+json"
_DISPOSITION_NAME = re.compile(r'filename="([^"]*)"')


def git_blob_id(data):
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def sha256(data):
    return hashlib.sha256(data).hexdigest()


def lfs_pointer(data):
    """The pointer file git stores for an LFS file."""
    return (
        "version https://git-lfs.github.com/spec/v1\n"
        f"oid sha256:{sha256(data)}\nsize {len(data)}\n"
    ).encode()


def xet_hash(data):
    """A stand-in for the file's Xet content hash: 64 hex digits, as the Hub's,
    but not Xet's chunk merkle hash (no Xet transfer ever uses it here)."""
    return hashlib.sha256(b"xet\0" + data).hexdigest()


def is_lfs(name):
    return name.endswith(LFS_SUFFIXES)


def stated_digest(name, data):
    """What the Hub states for a file: sha256 for LFS files, else the git blob id."""
    return sha256(data) if is_lfs(name) else git_blob_id(data)


class HuggingFaceStub(StubServer):
    """Repositories are `{repo_id: {"refs": {branch: sha}, "commits": {sha: {name: bytes}}}}`.

    `storage_url` is the storage origin that LFS files redirect to.

    Knobs, each answering the way the Hub does:
    `private` (401 to anonymous requests, 404 with a token),
    `gated` (403 GatedRepo), `fail_status` (that status on every route, no
    error code), `paths_info_status` (that status, no error code, on
    paths-info only: a server that resolves files but not the API, as a
    mirror forwarding only `/resolve/` would),
    `xet_backed` (default True; False: plain LFS, no Xet headers),
    `short` (file names whose body is shorter than announced),
    `corrupt` (file names served with one byte changed, while the ETag and
    paths-info state the stored file's digest, as a broken proxy or disk
    would) and
    `after_get` (called with `(repo_id, filename)` after each file's bytes
    are served).

    Records: `served` (`(repo_id, filename, origin)` for every file body
    sent), `created_repos`, `commit_bodies` (the ndjson of each commit
    request), `lfs_objects` (sha256 -> bytes: committed or verified uploads)
    and, from `StubServer`, every request and answer.
    """

    def __init__(self):
        self.repos = {}
        self.private = set()
        self.gated = set()
        self.fail_status = None
        self.paths_info_status = None
        self.xet_backed = True
        self.short = set()
        self.corrupt = set()
        self.after_get = None
        self.created_repos = []
        self.commit_bodies = []
        self.served = []
        self.lfs_objects = {}
        self.uploaded = {}  # PUT to storage, not yet verified: oid -> bytes
        self.storage_url = None  # set once its port is open
        super().__init__(_HubHandler)
        self.storage_url = self.add_origin()

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
        for name, data in files.items():
            if is_lfs(name):
                self.lfs_objects[sha256(data)] = data
        return sha

    def files(self, repo_id, revision="main"):
        repo = self.repos[repo_id]
        return repo["commits"][repo["refs"].get(revision, revision)]

    def exchanges_for(self, path_part, method=None):
        """The recorded exchanges whose path contains `path_part`."""
        return [
            e for e in self.exchanges if path_part in e.path and method in (None, e.method)
        ]


class _HubHandler(StubHandler):
    def respond(self, method, path):
        if self.stub.fail_status is not None:
            return self._hub_error(self.stub.fail_status, None, "Refused by the stub")
        parts = [unquote(part) for part in path.split("/")[1:]]
        if self.origin == self.stub.storage_url:
            return self._storage(method, parts)
        if method in ("GET", "HEAD") and len(parts) >= 5 and parts[2] == "resolve":
            return self._resolve(method, f"{parts[0]}/{parts[1]}", parts[3], "/".join(parts[4:]))
        if method == "POST" and parts == ["api", "repos", "create"]:
            return self._create_repo()
        if method == "GET" and len(parts) in (4, 6) and parts[:2] == ["api", "models"]:
            if len(parts) == 4 or parts[4] == "revision":
                return self._repo_info(f"{parts[2]}/{parts[3]}", parts[5] if len(parts) == 6 else "main")
        if len(parts) >= 5 and parts[:2] == ["api", "models"]:
            repo_id, action, revision = f"{parts[2]}/{parts[3]}", parts[4], "/".join(parts[5:])
            if action in ("xet-read-token", "xet-write-token"):
                return self._hub_error(501, None, "This stub does not serve Xet storage")
            if method == "POST" and action == "preupload":
                return self._preupload(repo_id, revision)
            if method == "POST" and action == "commit":
                return self._commit(repo_id, revision)
            if method == "POST" and action == "paths-info":
                return self._paths_info(repo_id, revision)
        if method == "POST" and len(parts) == 6 and parts[1].endswith(".git"):
            repo_id = f"{parts[0]}/{parts[1].removesuffix('.git')}"
            if parts[2:] == ["info", "lfs", "objects", "batch"]:
                return self._lfs_batch(repo_id)
            if parts[2:] == ["info", "lfs", "objects", "verify"]:
                return self._lfs_verify()
        self._hub_error(404, "NotFound", "Not found")

    # --- answers ---

    def _hub_error(self, status, code, message, commit=None):
        headers = [("X-Error-Message", message)]
        if code is not None:
            headers.append(("X-Error-Code", code))
        if commit is not None:
            headers.append(("X-Repo-Commit", commit))
        self.send(status, json.dumps({"error": message}).encode(), headers)

    def _json(self, payload, status=200, content_type="application/json"):
        self.send(status, json.dumps(payload).encode(), [("Content-Type", content_type)])

    @property
    def _has_token(self):
        return self.headers.get("Authorization", "").startswith("Bearer ")

    def _repo_or_refusal(self, repo_id):
        """The repository, or None after answering as the Hub does when it
        does not exist or is private."""
        repo = self.stub.repos.get(repo_id)
        if repo is None or repo_id in self.stub.private:
            status = 404 if self._has_token else 401
            self._hub_error(status, "RepoNotFound", "Repository not found")
            return None
        return repo

    def _needs_token(self):
        if self._has_token:
            return False
        self._hub_error(401, None, "Invalid username or password.")
        return True

    # --- downloads ---

    def _resolve(self, method, repo_id, revision, filename):
        stub = self.stub
        repo = self._repo_or_refusal(repo_id)
        if repo is None:
            return
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
        if is_lfs(filename):
            return self._redirect_to_storage(repo_id, sha, filename, data)
        etag = f'"{git_blob_id(data)}"'
        self._serve_bytes(method, repo_id, filename, data, [("X-Repo-Commit", sha), ("ETag", etag)])

    def _redirect_to_storage(self, repo_id, sha, filename, data):
        stub = self.stub
        # As the CDN's signed URLs do, the query names the file for the
        # answer's Content-Disposition.
        disposition = f"inline; filename*=UTF-8''{quote(filename)}; filename=\"{filename}\";"
        location = (
            f"{stub.storage_url}/repos/{repo_id}/{sha256(data)}"
            f"?response-content-disposition={quote(disposition)}"
        )
        headers = [
            ("Location", location),
            ("X-Repo-Commit", sha),
            ("ETag", f'"{git_blob_id(lfs_pointer(data))}"'),
            ("X-Linked-Etag", f'"{sha256(data)}"'),
            ("X-Linked-Size", str(len(data))),
            ("Content-Type", "text/plain; charset=utf-8"),
        ]
        if stub.xet_backed:
            file_hash = xet_hash(data)
            headers += [
                ("X-Xet-Hash", file_hash),
                (
                    "Link",
                    f'<{stub.url}/api/models/{repo_id}/xet-read-token/{sha}>; rel="xet-auth", '
                    f'<{stub.url}/v1/reconstructions/{file_hash}>; rel="xet-reconstruction-info"',
                ),
            ]
        self.send(302, f"Found. Redirecting to {location}".encode(), headers)

    def _storage(self, method, parts):
        """The storage origin: LFS bytes by sha256 (`GET /repos/<repo>/<oid>`)
        and LFS uploads (`PUT /upload/<oid>`)."""
        stub = self.stub
        if method == "PUT" and len(parts) == 2 and parts[0] == "upload":
            stub.uploaded[parts[1]] = self.body
            return self.send(200, headers=[("ETag", f'"{hashlib.md5(self.body).hexdigest()}"')])
        if method in ("GET", "HEAD") and len(parts) == 4 and parts[0] == "repos":
            repo_id, oid = f"{parts[1]}/{parts[2]}", parts[3]
            data = stub.lfs_objects.get(oid)
            if data is None:
                return self.send(404, b"NoSuchKey")
            disposition = self.query.get("response-content-disposition", ["inline"])[0]
            named = _DISPOSITION_NAME.search(disposition)
            filename = named.group(1) if named else oid
            headers = [("ETag", f'"{oid}"'), ("Content-Disposition", disposition)]
            return self._serve_bytes(method, repo_id, filename, data, headers)
        self.send(403, b"AccessDenied")

    def _serve_bytes(self, method, repo_id, filename, data, headers):
        stub = self.stub
        if method == "GET" and filename in stub.short:
            data = data[: len(data) // 2]
        if method == "GET" and filename in stub.corrupt:
            data = data[:-1] + bytes([data[-1] ^ 0xFF])
        self.send(200, data, headers)
        if method == "GET":
            stub.served.append((repo_id, filename, self.origin))
            if stub.after_get is not None:
                stub.after_get(repo_id, filename)

    def _repo_info(self, repo_id, revision):
        repo = self._repo_or_refusal(repo_id)
        if repo is None:
            return
        sha = repo["refs"].get(revision, revision)
        if sha not in repo["commits"]:
            return self._hub_error(404, "RevisionNotFound", "Invalid rev id")
        siblings = [{"rfilename": name} for name in sorted(repo["commits"][sha])]
        self._json({"id": repo_id, "modelId": repo_id, "sha": sha, "private": False,
                    "siblings": siblings})

    def _paths_info(self, repo_id, revision):
        if self.stub.paths_info_status is not None:
            return self._hub_error(self.stub.paths_info_status, None, "Refused by the stub")
        repo = self._repo_or_refusal(repo_id)
        if repo is None:
            return
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
            if is_lfs(path):
                pointer = lfs_pointer(data)
                info["oid"] = git_blob_id(pointer)
                info["lfs"] = {"oid": sha256(data), "size": len(data), "pointerSize": len(pointer)}
                if self.stub.xet_backed:
                    info["xetHash"] = xet_hash(data)
            infos.append(info)
        self._json(infos)

    # --- uploads ---

    def _create_repo(self):
        if self._needs_token():
            return
        request = json.loads(self.body)
        repo_id = f"{request['organization']}/{request['name']}"
        url = f"{self.stub.url}/{repo_id}"
        if repo_id in self.stub.repos:
            return self._json({"error": "You already created this model repo", "url": url}, 409)
        self.stub.created_repos.append(repo_id)
        self.stub.add_commit(repo_id, {".gitattributes": GITATTRIBUTES})
        self._json({"url": url, "name": repo_id, "id": repo_id})

    def _writable_revision(self, repo_id, revision):
        """The commit `revision` names in a repository the caller may write,
        or None after refusing."""
        if self._needs_token():
            return None
        repo = self._repo_or_refusal(repo_id)
        if repo is None:
            return None
        sha = repo["refs"].get(revision)
        if sha is None:
            self._hub_error(404, "RevisionNotFound", "Invalid rev id")
        return sha

    def _preupload(self, repo_id, revision):
        sha = self._writable_revision(repo_id, revision)
        if sha is None:
            return
        tree = self.stub.repos[repo_id]["commits"][sha]
        modes = []
        for entry in json.loads(self.body)["files"]:
            path = entry["path"]
            mode = {"path": path, "uploadMode": "lfs" if is_lfs(path) else "regular"}
            mode["shouldIgnore"] = False
            if path in tree:
                mode["oid"] = sha256(tree[path]) if is_lfs(path) else git_blob_id(tree[path])
            modes.append(mode)
        self._json({"files": modes, "commitOid": sha})

    def _lfs_batch(self, repo_id):
        if self._needs_token() or self._repo_or_refusal(repo_id) is None:
            return
        request = json.loads(self.body)
        if request.get("operation") != "upload" or "basic" not in request.get("transfers", []):
            return self._hub_error(422, None, f"Unsupported LFS batch request {request}")
        objects = []
        for item in request["objects"]:
            oid, size = item["oid"], item["size"]
            answer = {"oid": oid, "size": size, "authenticated": True}
            stored = self.stub.lfs_objects.get(oid)
            # No actions: the storage already holds the object.
            if stored is None or len(stored) != size:
                answer["actions"] = {
                    "upload": {"href": f"{self.stub.storage_url}/upload/{oid}", "expires_in": 86400},
                    "verify": {"href": f"{self.stub.url}/{repo_id}.git/info/lfs/objects/verify"},
                }
            objects.append(answer)
        self._json({"transfer": "basic", "objects": objects}, content_type=_LFS_CONTENT_TYPE)

    def _lfs_verify(self):
        if self._needs_token():
            return
        request = json.loads(self.body)
        data = self.stub.uploaded.pop(request["oid"], None)
        if data is None or sha256(data) != request["oid"] or len(data) != request["size"]:
            return self._hub_error(422, None, f"Object {request['oid']} was not uploaded as stated")
        self.stub.lfs_objects[request["oid"]] = data
        self._json({"success": True}, content_type=_LFS_CONTENT_TYPE)

    def _commit(self, repo_id, revision):
        if self._writable_revision(repo_id, revision) is None:
            return
        self.stub.commit_bodies.append(self.body)
        files = {}
        for line in self.body.splitlines():
            entry = json.loads(line)
            key, value = entry["key"], entry["value"]
            if key == "file":
                files[value["path"]] = base64.b64decode(value["content"])
            elif key == "lfsFile":
                data = self.stub.lfs_objects.get(value["oid"])
                if value.get("algo") != "sha256" or data is None or len(data) != value["size"]:
                    return self._hub_error(
                        422,
                        None,
                        f"Your push was rejected because an LFS pointer ({value['path']}) "
                        "pointed to a file that does not exist",
                    )
                files[value["path"]] = data
            elif key != "header":
                return self._hub_error(400, None, f"Unsupported entry {key}")
        sha = self.stub.add_commit(repo_id, files, branch=revision)
        self._json({"commitUrl": f"{self.stub.url}/{repo_id}/commit/{sha}", "commitOid": sha})
