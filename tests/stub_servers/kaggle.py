"""Just enough of Kaggle's model API for `kagglehub` downloads and uploads.

kagglesdk posts JSON to `<endpoint>/api/v1/<Service>/<Method>`; the tests
point it at `http://localhost` (`KAGGLE_API_ENVIRONMENT=LOCALHOST`) through
an HTTP proxy setting that leads to this server.

File downloads state the file's MD5 in an `x-goog-hash` header, as Kaggle's
storage (Google Cloud Storage) does; kagglehub checks the bytes against it.
"""

import base64
import hashlib
import json
import re

from stub_servers.server import StubHandler
from stub_servers.server import StubServer

_ROUTE = re.compile(r"^/api/v1/(?:models\.ModelApiService|blobs\.BlobApiService)/(\w+)$")


class KaggleStub(StubServer):
    """Models are `{(owner, model, framework, variation): {version: {name: bytes}}}`.

    Knobs: `fail_status` answers every API call with that HTTP status;
    `truncate` holds file names whose transfer breaks off halfway.
    Uploads land in `blobs` (`token -> (name, bytes)`) and become versions.
    """

    def __init__(self):
        self.models = {}
        self.fail_status = None
        self.truncate = set()
        self.blobs = {}
        self.created = []
        super().__init__(_KaggleHandler)

    def add_version(self, variation_path, version, files):
        key = tuple(variation_path.split("/"))
        self.models.setdefault(key, {})[version] = dict(files)


def _variation_key(request):
    framework = request.get("framework", "")
    framework = framework.removeprefix("MODEL_FRAMEWORK_").lower()
    return (
        request.get("ownerSlug"),
        request.get("modelSlug"),
        framework,
        request.get("instanceSlug"),
    )


class _KaggleHandler(StubHandler):
    def respond(self, method, path):
        if method == "PUT" and path.startswith("/upload/"):
            return self._receive_blob(path.removeprefix("/upload/"))
        route = _ROUTE.match(path)
        if method != "POST" or route is None:
            return self._error(404, "No such route")
        request = json.loads(self.body or b"{}")
        if self.stub.fail_status is not None:
            return self._error(self.stub.fail_status, "Refused by the stub")
        action = getattr(self, "_" + route.group(1), None)
        if action is None:
            return self._error(404, "No such method")
        action(request)

    def _json(self, payload):
        body = json.dumps(payload).encode()
        self.send(200, body, [("Content-Type", "application/json")])

    def _error(self, status, message):
        body = json.dumps({"code": status, "message": message}).encode()
        self.send(status, body, [("Content-Type", "application/json")])

    def _versions(self, request):
        return self.stub.models.get(_variation_key(request))

    def _files(self, request):
        versions = self._versions(request) or {}
        return versions.get(request.get("versionNumber"))

    def _GetModelInstance(self, request):
        versions = self._versions(request)
        if not versions:
            return self._error(404, "Model instance not found")
        self._json({"versionNumber": max(versions)})

    def _ListModelInstanceVersionFiles(self, request):
        files = self._files(request)
        if files is None:
            return self._error(404, "Model version not found")
        listing = [{"name": name, "size": len(data)} for name, data in files.items()]
        self._json({"files": listing, "nextPageToken": ""})

    def _DownloadModelInstanceVersion(self, request):
        files = self._files(request)
        name = request.get("path")
        if files is None or name not in files:
            return self._error(404, "File not found")
        data = files[name]
        cut_at = len(data) // 2 if name in self.stub.truncate else None
        md5 = base64.b64encode(hashlib.md5(data).digest()).decode()
        headers = [("Content-Type", "application/octet-stream"), ("x-goog-hash", f"md5={md5}")]
        self.send(200, data, headers, cut_at)

    def _GetModel(self, request):
        owner, model = request.get("ownerSlug"), request.get("modelSlug")
        if not any(key[:2] == (owner, model) for key in self.stub.models):
            return self._error(404, "Model not found")
        self._json({"id": 1})

    def _CreateModel(self, request):
        self.stub.created.append(("model", request))
        self._json({"ref": f"{request.get('ownerSlug')}/{request.get('slug')}"})

    def _StartBlobUpload(self, request):
        token = f"blob-{len(self.stub.blobs)}"
        self.stub.blobs[token] = (request.get("name"), None)
        self._json({"token": token, "createUrl": f"{self.stub.url}/upload/{token}"})

    def _receive_blob(self, token):
        name, _ = self.stub.blobs[token]
        self.stub.blobs[token] = (name, self.body)
        self.send(200)

    def _CreateModelInstance(self, request):
        body = request.get("body", {})
        key = (
            request.get("ownerSlug"),
            request.get("modelSlug"),
            body.get("framework", "").removeprefix("MODEL_FRAMEWORK_").lower(),
            body.get("instanceSlug"),
        )
        if key in self.stub.models:
            # kagglehub then creates a new version of the existing instance.
            return self._json({"error": "Instance already exists", "errorCode": 409})
        self._publish(key, body)

    def _CreateModelInstanceVersion(self, request):
        self._publish(_variation_key(request), request.get("body", {}))

    def _publish(self, key, body):
        files = {
            self.stub.blobs[item["token"]][0]: self.stub.blobs[item["token"]][1]
            for item in body.get("files", [])
        }
        versions = self.stub.models.setdefault(key, {})
        version = max(versions, default=0) + 1
        versions[version] = files
        self.stub.created.append(("version", key, version))
        self._json({"ref": "/".join(key), "url": f"{self.stub.url}/models/{'/'.join(key)}"})
