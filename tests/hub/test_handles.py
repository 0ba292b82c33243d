"""Handle parsing and the checks made before any request: bad handles, bad
`download_first_available` arguments, bad upload folders; and the loopback
guard the other hub tests rely on."""

import os
import pathlib
import socket

import pytest
from stub_servers import loopback_guard

from densenet_hub.hub import download_first_available
from densenet_hub.hub import download_preset
from densenet_hub.hub import is_remote_handle
from densenet_hub.hub import parse_handle
from densenet_hub.hub import upload_preset

COMMIT = "0123456789abcdef0123456789abcdef01234567"


@pytest.mark.parametrize(
    "text, fields, client_id, pinned",
    [
        (
            "kaggle://keras/densenet/keras/densenet_121_imagenet/3",
            ("kaggle", "keras", "densenet", "keras", "densenet_121_imagenet", 3, None),
            "keras/densenet/keras/densenet_121_imagenet/3",
            True,
        ),
        (
            "kaggle://keras/densenet/keras/densenet_121_imagenet",
            ("kaggle", "keras", "densenet", "keras", "densenet_121_imagenet", None, None),
            "keras/densenet/keras/densenet_121_imagenet",
            False,
        ),
        (
            "hf://keras/densenet_121_imagenet",
            ("hf", "keras", "densenet_121_imagenet", None, None, None, None),
            "keras/densenet_121_imagenet",
            False,
        ),
        (
            f"hf://timm/densenet121.tv_in1k@{COMMIT}",
            ("hf", "timm", "densenet121.tv_in1k", None, None, None, COMMIT),
            "timm/densenet121.tv_in1k",
            True,
        ),
        (
            "hf://Org-1/repo_2@refs/pr/1",
            ("hf", "Org-1", "repo_2", None, None, None, "refs/pr/1"),
            "Org-1/repo_2",
            False,
        ),
    ],
)
def test_valid_handles_parse_and_print_back(text, fields, client_id, pinned):
    handle = parse_handle(text)
    assert (
        handle.scheme,
        handle.owner,
        handle.name,
        handle.framework,
        handle.variation,
        handle.version,
        handle.revision,
    ) == fields
    assert handle.client_id == client_id
    assert handle.is_pinned is pinned
    assert str(handle) == text
    assert is_remote_handle(text)


KAGGLE_FORM = "kaggle://owner/model/framework/variation[/version]"
HF_FORM = "hf://owner/repo[@revision]"

BAD_HANDLES = [
    # (handle, words the message must contain)
    ("hf://user/../x", ["segment '..'", HF_FORM]),
    ("hf://a/b/c", ["3 path segment(s)", HF_FORM]),
    ("hf://a--b", ["'a--b'", HF_FORM]),
    ("hf://a/b--c", ["'b--c'", HF_FORM]),
    ("hf://a", ["1 path segment(s)", HF_FORM]),
    ("hf:///etc/passwd", ["segment ''", HF_FORM]),
    ("hf://a\\b/c", ["segment 'a\\\\b'", HF_FORM]),
    ("hf://a/b@", ["revision ''", HF_FORM]),
    ("hf://a/b@../main", ["revision '../main'", HF_FORM]),
    ("hf://a/b@main//x", ["revision 'main//x'", HF_FORM]),
    ("hf://a/ b", ["segment ' b'", HF_FORM]),
    ("kaggle://a/../keras/b", ["segment '..'", KAGGLE_FORM]),
    ("kaggle://keras/densenet/keras/densenet_121_imagenet/x", ["version 'x'", KAGGLE_FORM]),
    ("kaggle://keras/densenet/keras/densenet_121_imagenet/1.5", ["version '1.5'", KAGGLE_FORM]),
    ("kaggle://keras/densenet/keras/densenet_121_imagenet/0", ["version '0'", KAGGLE_FORM]),
    ("kaggle://keras/densenet/keras/densenet_121_imagenet/-1", ["version '-1'", KAGGLE_FORM]),
    ("kaggle://keras/densenet/keras/densenet_121_imagenet/", ["version ''", KAGGLE_FORM]),
    ("kaggle://keras/densenet/keras", ["3 path segment(s)", KAGGLE_FORM]),
    ("kaggle://keras/densenet/keras/v/3/extra", ["6 path segment(s)", KAGGLE_FORM]),
    ("kaggle://keras//keras/v", ["segment ''", KAGGLE_FORM]),
    ("kaggle:///etc/passwd/x/y", ["segment ''", KAGGLE_FORM]),
    ("kaggle://keras/densenet\\..\\x/keras/v", ["segment 'densenet", KAGGLE_FORM]),
    ("gs://bucket/preset", ["unknown scheme 'gs://'", KAGGLE_FORM, HF_FORM]),
    ("HF://keras/densenet_121_imagenet", ["unknown scheme 'HF://'", HF_FORM]),
    ("densenet_121_imagenet", ["no scheme", KAGGLE_FORM, HF_FORM]),
    ("", ["no scheme", HF_FORM]),
]


def test_bad_handles_are_refused_before_any_request(guard):
    for text, words in BAD_HANDLES:
        for call in (parse_handle, download_preset):
            with pytest.raises(ValueError) as info:
                call(text)
            message = str(info.value)
            assert repr(text) in message, (text, message)
            for word in words:
                assert word in message, (text, word, message)
    assert guard.connections == [] and guard.lookups == []


@pytest.mark.parametrize("value", [None, 3, b"hf://a/b", pathlib.Path("hf:/a/b"), ["hf://a/b"]])
def test_non_string_handles_are_refused(value):
    with pytest.raises(ValueError, match=r"must be a string, got .*Expected kaggle://"):
        parse_handle(value)
    assert not is_remote_handle(value)


def test_names_and_paths_are_not_remote_handles():
    for text in ("densenet_121_imagenet", "./my_preset", "/abs/preset", "C:\\presets\\x"):
        assert not is_remote_handle(text)
    assert is_remote_handle("gs://bucket/x")  # remote, then refused by parse_handle


def test_download_first_available_checks_every_handle_first(guard):
    good = "kaggle://keras/densenet/keras/densenet_121_imagenet/3"
    with pytest.raises(ValueError, match=r"'hf://a/\.\./b'"):
        download_first_available([good, "hf://a/../b"])
    for handles in ("hf://a/b", [], None):
        with pytest.raises(ValueError, match="non-empty list of preset handles"):
            download_first_available(handles)
    assert guard.connections == [] and guard.lookups == []


def _preset_folder(tmp_path, config='{"class_name": "DenseNetBackbone"}'):
    folder = tmp_path / "preset"
    folder.mkdir()
    if config is not None:
        (folder / "config.json").write_text(config)
    return folder


def test_upload_refuses_folders_that_are_not_presets(guard, tmp_path):
    uri = "hf://me/my_densenet"
    cases = [
        (tmp_path / "missing", "which is missing"),
        (_preset_folder(tmp_path, config=None), "has no config.json"),
    ]
    a_file = tmp_path / "a_file"
    a_file.write_text("{}")
    cases.append((a_file, "which is not a folder"))
    for path, words in cases:
        with pytest.raises(ValueError, match=words):
            upload_preset(uri, path)
    for config, words in [
        ("not json", "is not valid JSON"),
        ("[1, 2]", "must hold a JSON object, got a JSON list"),
    ]:
        (tmp_path / "preset" / "config.json").write_text(config)
        with pytest.raises(ValueError, match=words):
            upload_preset(uri, tmp_path / "preset")
    with pytest.raises(TypeError, match="must be the path of a preset folder"):
        upload_preset(uri, 42)
    with pytest.raises(ValueError, match="unknown scheme"):
        upload_preset("s3://me/x", tmp_path / "preset")
    assert guard.connections == [] and guard.lookups == []


def test_upload_refuses_symbolic_links(guard, tmp_path):
    folder = _preset_folder(tmp_path)
    secret = tmp_path / "secret.txt"
    secret.write_text("not for upload")
    os.symlink(secret, folder / "model.weights.h5")
    with pytest.raises(ValueError, match="model.weights.h5' is a symbolic link"):
        upload_preset("hf://me/my_densenet", folder)
    assert guard.connections == [] and guard.lookups == []


def test_loopback_guard_refuses_other_hosts_and_lets_loopback_through():
    class FakeSocket:
        family = socket.AF_INET

    with loopback_guard.loopback_only() as record:
        # The hook is called directly: a broken guard would otherwise send
        # real traffic off the machine.
        with pytest.raises(PermissionError, match="203.0.113.5"):
            loopback_guard.audit("socket.connect", (FakeSocket(), ("203.0.113.5", 443)))
        with pytest.raises(PermissionError, match="example.com"):
            loopback_guard.audit("socket.getaddrinfo", ("example.com", 443, 0, 0, 0, 0))
        loopback_guard.audit("socket.connect", (FakeSocket(), ("127.0.0.1", 80)))
        loopback_guard.audit("socket.getaddrinfo", ("localhost", 80, 0, 0, 0, 0))
        # A real loopback lookup goes through the installed hook.
        socket.getaddrinfo("127.0.0.1", 80)
    assert record.refused == [
        ("socket.connect", "203.0.113.5", 443),
        ("socket.getaddrinfo", "example.com", 443),
    ]
    assert ("socket.getaddrinfo", "127.0.0.1", 80) in record.lookups
    assert ("socket.connect", "127.0.0.1", 80) in record.connections
