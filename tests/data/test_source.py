"""Where data comes from: named folders, the md5-checked download, offline failure."""

from __future__ import annotations

import functools
import hashlib
import http.server
import shutil
import socket
import threading
import time
from pathlib import Path

import pandas as pd
import pytest

from molstrata.core.errors import ChecksumError, DataNotFoundError
from molstrata.data import admet_dir, load_task
from molstrata.data._source import TDC_MD5


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):  # keep pytest output clean
        pass


@pytest.fixture
def serve(tmp_path):
    """Start a loopback HTTP server on a random port serving a folder; yield its base URL."""
    servers = []

    def start(folder: Path) -> str:
        handler = functools.partial(_QuietHandler, directory=str(folder))
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_address[1]}"

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


@pytest.fixture
def no_local_data(tmp_path, monkeypatch):
    """No MOLSTRATA_DATA_DIR, and an empty user data dir under tmp_path."""
    from molstrata.data import _source

    monkeypatch.delenv("MOLSTRATA_DATA_DIR", raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    target = tmp_path / "xdg" / "molstrata"
    monkeypatch.setattr(_source, "user_data_dir", lambda: target)  # any OS, not only XDG
    return target


def test_shared_archive_has_tdc_md5(data_dir):
    digest = hashlib.md5((data_dir / "admet_group.zip").read_bytes()).hexdigest()
    assert digest == TDC_MD5 == "e3e4dda2f7f62268448fc813ceefccd5"


def test_download_from_loopback_server(data_dir, serve, no_local_data, monkeypatch):
    url = serve(data_dir) + "/admet_group.zip"
    monkeypatch.setenv("MOLSTRATA_TDC_URL", url)
    split = load_task("caco2_wang", seed=2)  # no data_dir, no env: must download
    folder = no_local_data / "admet_group"
    assert (folder / "caco2_wang" / "train_val.csv").is_file()
    assert len(list(folder.glob("*/test.csv"))) == 22
    # the extracted files are byte-identical to the shared copy
    for name in ("caco2_wang", "herg"):
        for f in ("train_val.csv", "test.csv"):
            assert (folder / name / f).read_bytes() == (
                data_dir / "admet_group" / name / f
            ).read_bytes()
    reference = load_task("caco2_wang", seed=2, data_dir=data_dir)
    pd.testing.assert_frame_equal(split.train, reference.train)
    pd.testing.assert_frame_equal(split.test, reference.test)
    # a second call uses the cached copy, even with the server gone
    monkeypatch.setenv("MOLSTRATA_TDC_URL", "http://127.0.0.1:9/none.zip")
    assert admet_dir() == folder


def test_corrupted_archive_is_refused(data_dir, serve, no_local_data, monkeypatch, tmp_path):
    served = tmp_path / "srv"
    served.mkdir()
    payload = bytearray((data_dir / "admet_group.zip").read_bytes())
    payload[len(payload) // 2] ^= 0xFF  # flip one byte
    (served / "admet_group.zip").write_bytes(bytes(payload))
    monkeypatch.setenv("MOLSTRATA_TDC_URL", serve(served) + "/admet_group.zip")
    with pytest.raises(ChecksumError, match="e3e4dda2f7f62268448fc813ceefccd5"):
        load_task("herg", seed=1)
    assert not (no_local_data / "admet_group").exists()
    assert not (no_local_data / "admet_group.zip").exists()


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_offline_without_data_fails_fast_naming_env_and_flag(no_local_data, monkeypatch):
    monkeypatch.setenv("MOLSTRATA_TDC_URL", f"http://127.0.0.1:{_closed_port()}/admet_group.zip")
    start = time.monotonic()
    with pytest.raises(DataNotFoundError) as err:
        load_task("caco2_wang")
    assert time.monotonic() - start < 5
    assert "MOLSTRATA_DATA_DIR" in str(err.value) and "--data-dir" in str(err.value)


def test_unreachable_host_respects_connect_timeout(no_local_data, monkeypatch):
    # 10.255.255.1 is non-routable: the connection hangs until the connect timeout
    monkeypatch.setenv("MOLSTRATA_TDC_URL", "http://10.255.255.1/admet_group.zip")
    monkeypatch.setenv("MOLSTRATA_DOWNLOAD_TIMEOUT", "1")
    start = time.monotonic()
    with pytest.raises(DataNotFoundError, match="MOLSTRATA_DATA_DIR"):
        admet_dir()
    assert time.monotonic() - start < 5


def test_named_folder_without_data_is_an_error_not_a_download(tmp_path, monkeypatch):
    monkeypatch.setenv("MOLSTRATA_TDC_URL", "http://127.0.0.1:9/should-not-be-used.zip")
    monkeypatch.setenv("MOLSTRATA_DATA_DIR", str(tmp_path))
    with pytest.raises(DataNotFoundError, match="from MOLSTRATA_DATA_DIR"):
        load_task("caco2_wang")
    with pytest.raises(DataNotFoundError, match="--data-dir"):
        load_task("caco2_wang", data_dir=tmp_path / "nope")


def test_admet_folder_itself_is_accepted(data_dir):
    assert admet_dir(data_dir / "admet_group") == data_dir / "admet_group"
    assert admet_dir(data_dir) == data_dir / "admet_group"


def test_missing_task_file_names_the_file(data_dir, tmp_path):
    root = tmp_path / "admet_group" / "caco2_wang"
    root.mkdir(parents=True)
    shutil.copy(data_dir / "admet_group" / "caco2_wang" / "train_val.csv", root)
    with pytest.raises(DataNotFoundError, match=r"caco2_wang/test\.csv is missing"):
        load_task("caco2_wang", data_dir=tmp_path)


def test_modified_task_file_warns_not_official(data_dir, tmp_path):
    root = tmp_path / "admet_group" / "dili"
    root.mkdir(parents=True)
    shutil.copy(data_dir / "admet_group" / "dili" / "test.csv", root)
    lines = (data_dir / "admet_group" / "dili" / "train_val.csv").read_text().splitlines()
    (root / "train_val.csv").write_text("\n".join(lines[:-1]) + "\n")  # one row fewer
    with pytest.warns(UserWarning, match="not comparable with the TDC leaderboard"):
        split = load_task("dili", data_dir=tmp_path)
    assert len(split.train) + len(split.valid) == len(lines) - 2
