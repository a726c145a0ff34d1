"""The project's own download: a local HTTP mirror of the real files, a fresh cache, and every way it can fail.

The mirror is ``http.server`` in a thread, serving the real data folder under
``/good/``, and the same files spoiled under other prefixes: ``/flipped/`` (one
byte of t10k-labels changed), ``/cut/`` (half of each file, then the connection
closes), ``/slow/`` (so a download can be killed midway) and ``/missing/`` (404).
"""
import hashlib
import http.server
import os
import signal
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

import mlp.data
from mlp import data_sources
from mlp.data import DataError, load_dataset

FILES = data_sources.FILES


class MirrorHandler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802 - http.server's name
        mode, _, rest = self.path.lstrip("/").partition("/")
        self.server.requests.append(self.path)
        file = self.server.root / rest
        if mode not in ("good", "flipped", "cut", "slow") or not file.is_file():
            self.send_error(404)
            return
        body = bytearray(file.read_bytes())
        if mode == "flipped" and file.name == "t10k-labels-idx1-ubyte.gz":
            body[len(body) // 2] ^= 0xFF
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if mode == "cut":
            self.wfile.write(body[:len(body) // 2])
        elif mode == "slow":
            for at in range(0, len(body), 64 * 1024):
                self.wfile.write(body[at:at + 64 * 1024])
                time.sleep(0.05)
        else:
            self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def mirror(data_dir):
    """The base URL of the local mirror; ``mirror.requests`` lists the paths asked for."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), MirrorHandler)
    server.root, server.requests = data_dir, []
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    server.url = f"http://127.0.0.1:{server.server_address[1]}"
    yield server
    server.shutdown()


@pytest.fixture
def fresh_machine(tmp_path, monkeypatch):
    """No data folder, an empty home (no keras cache) and an empty per-user cache."""
    monkeypatch.delenv("MLP_DATA_DIR", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    mlp.data._load_uint8.cache_clear()
    yield tmp_path / "cache" / "mlp-sweeps"
    mlp.data._load_uint8.cache_clear()


def md5(path):
    return hashlib.md5(path.read_bytes()).hexdigest()


def cached_files(cache):
    """Every file left in the cache, temporary ones included."""
    return sorted(p.name for p in cache.rglob("*") if p.is_file())


def test_a_fresh_cache_fills_from_the_mirror_and_verifies(fresh_machine, mirror, monkeypatch, data_dir, mnist):
    monkeypatch.setenv("MLP_DATA_URL", f"{mirror.url}/good")
    data = load_dataset("mnist")
    np.testing.assert_array_equal(data.X_train, mnist.X_train)
    np.testing.assert_array_equal(data.y_test, mnist.y_test)
    assert cached_files(fresh_machine) == sorted(FILES)
    for name in FILES:  # byte for byte the real files, whose MD5s SOURCES.md lists
        assert md5(fresh_machine / "mnist" / name) == md5(data_dir / "mnist" / name)
    # a second process (no in-memory cache) reads the cache and asks the mirror for nothing
    asked = len(mirror.requests)
    mlp.data._load_uint8.cache_clear()
    load_dataset("mnist")
    assert len(mirror.requests) == asked


def test_a_flipped_byte_is_refused_and_nothing_is_kept(fresh_machine, mirror, monkeypatch):
    monkeypatch.setenv("MLP_DATA_URL", f"{mirror.url}/flipped")
    mirror.requests.clear()
    with pytest.raises(DataError) as info:
        load_dataset("mnist")
    message = str(info.value)
    url = f"{mirror.url}/flipped/mnist/t10k-labels-idx1-ubyte.gz"
    assert "\n" not in message and "t10k-labels-idx1-ubyte.gz" in message and url in message
    assert "MD5" in message and "MLP_DATA_DIR" in message
    assert mirror.requests.count(url.removeprefix(mirror.url)) == 2  # a first try and one retry
    assert "t10k-labels-idx1-ubyte.gz" not in cached_files(fresh_machine)
    assert not [name for name in cached_files(fresh_machine) if name.endswith(".tmp")]


def test_a_missing_first_mirror_falls_over_to_the_second(fresh_machine, mirror, monkeypatch):
    monkeypatch.delenv("MLP_DATA_URL", raising=False)
    monkeypatch.setitem(data_sources.MIRRORS, "mnist", (f"{mirror.url}/missing/mnist/", f"{mirror.url}/good/mnist/"))
    mirror.requests.clear()
    assert load_dataset("mnist").X_test.shape == (10000, 784)
    assert cached_files(fresh_machine) == sorted(FILES)
    assert sorted(p for p in mirror.requests if p.startswith("/missing/")) == sorted(f"/missing/mnist/{f}" for f in FILES)


def test_a_download_cut_short_leaves_no_file(fresh_machine, mirror, monkeypatch):
    monkeypatch.setenv("MLP_DATA_URL", f"{mirror.url}/cut")
    with pytest.raises(DataError, match="train-images-idx3-ubyte.gz"):
        load_dataset("mnist")
    assert cached_files(fresh_machine) == []


def test_an_unreachable_mirror_names_the_url_and_the_setting(fresh_machine, monkeypatch):
    monkeypatch.setenv("MLP_DATA_URL", "http://127.0.0.1:1")
    with pytest.raises(DataError) as info:
        load_dataset("fashion_mnist")
    message = str(info.value)
    assert "http://127.0.0.1:1/fashion_mnist/train-images-idx3-ubyte.gz" in message and "MLP_DATA_DIR" in message
    assert cached_files(fresh_machine) == []


def fetch_command(cache_home, url, *args):
    env = {**os.environ, "XDG_CACHE_HOME": str(cache_home), "HOME": str(cache_home.parent / "home"),
           "MLP_DATA_URL": url}
    env.pop("MLP_DATA_DIR", None)
    return [sys.executable, "-m", "mlp.data", "fetch", *args], env


def test_fetch_command_fills_the_cache_or_fails_in_one_line(tmp_path, mirror):
    command, env = fetch_command(tmp_path / "cache", f"{mirror.url}/flipped", "-d", "mnist")
    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr.strip().count("\n") == 0 and "t10k-labels-idx1-ubyte.gz" in result.stderr
    assert "t10k-labels-idx1-ubyte.gz" not in cached_files(tmp_path / "cache")
    command, env = fetch_command(tmp_path / "cache", f"{mirror.url}/good")
    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    cache = tmp_path / "cache" / "mlp-sweeps"
    assert f"mnist: {cache / 'mnist'}" in result.stdout and f"fashion_mnist: {cache / 'fashion_mnist'}" in result.stdout
    for name in ("mnist", "fashion_mnist"):
        assert {md5(cache / name / f) for f in FILES} == set(data_sources.OFFICIAL_MD5[name].values())


def test_a_download_killed_midway_leaves_no_file_and_the_next_run_cleans_up(tmp_path, mirror):
    cache = tmp_path / "cache" / "mlp-sweeps" / "mnist"
    command, env = fetch_command(tmp_path / "cache", f"{mirror.url}/slow", "-d", "mnist")
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 60
    while not (cache.is_dir() and any(p.stat().st_size > 0 for p in cache.glob(".*.tmp"))):
        assert time.time() < deadline and process.poll() is None, "the download never started"
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert [p.name for p in cache.iterdir()] == [f".train-images-idx3-ubyte.gz.{process.pid}.tmp"]
    command, env = fetch_command(tmp_path / "cache", f"{mirror.url}/good", "-d", "mnist")
    assert subprocess.run(command, env=env, capture_output=True, timeout=120).returncode == 0
    assert sorted(p.name for p in cache.iterdir()) == sorted(FILES)


def can_mount_tmpfs():
    probe = ["unshare", "--mount", "--propagation", "private", "sh", "-c", "mount -t tmpfs tmpfs /mnt"]
    try:
        return subprocess.run(probe, capture_output=True, timeout=10).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


@pytest.mark.skipif(not can_mount_tmpfs(), reason="a full disk is made with a 2 MB tmpfs, which needs root and unshare")
def test_a_full_disk_gives_one_line_and_keeps_nothing(tmp_path, mirror):
    cache_home = tmp_path / "cache"
    cache_home.mkdir()
    command, env = fetch_command(cache_home, f"{mirror.url}/good", "-d", "mnist")
    mirror.requests.clear()
    script = (f"mount -t tmpfs -o size=2m tmpfs {cache_home} && {' '.join(command)} 2>{tmp_path}/err; "
              f"echo status $?; ls -A {cache_home}/mlp-sweeps/mnist")
    result = subprocess.run(["unshare", "--mount", "--propagation", "private", "sh", "-c", script],
                            env=env, capture_output=True, text=True, timeout=120)
    error = (tmp_path / "err").read_text()
    assert result.stdout.split("\n")[0] == "status 2" and result.stdout.split("\n")[1:] == [""], result.stdout
    assert error.count("\n") == 1 and error.startswith(
        f"python -m mlp.data: error: the disk at {cache_home} is full: could not write the download "
        f"{cache_home}/mlp-sweeps/mnist/train-images-idx3-ubyte.gz; free some space")
    # no retry and no other mirror: they would fill the same disk
    assert mirror.requests.count("/good/mnist/train-images-idx3-ubyte.gz") == 1

