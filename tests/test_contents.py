"""SR220/SR221 from a saved image, built here as `docker save` lays it out."""

from __future__ import annotations

import io
import json
import tarfile

import pytest

from pytest_shipready.checks import Status
from pytest_shipready.container.inspect import contents


def _tar(files: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def saved(layers: list[tuple[str, dict[str, bytes]]]) -> list[bytes]:
    """A saved image of ``layers`` (created_by, files), in 1 kB chunks."""
    names = [f"l{i}/layer.tar" for i in range(len(layers))]
    config = {"history": [{"created_by": by} for by, _ in layers]}
    image = _tar({**{n: _tar(files) for n, (_, files) in zip(names, layers, strict=True)},
                  "cfg.json": json.dumps(config).encode(),
                  "manifest.json": json.dumps([{"Config": "cfg.json",
                                                "Layers": names}]).encode()})
    return [image[i:i + 1024] for i in range(0, len(image), 1024)]


KEY = b"-----BEGIN RSA PRIVATE KEY-----\nnot-a-key\n-----END RSA PRIVATE KEY-----\n"


def test_a_secret_deleted_by_a_later_layer_is_still_found() -> None:
    image = contents.scan(saved([
        ("/bin/sh -c #(nop) ADD file:abc in /", {"usr/bin/python3": b"x" * 10}),
        ("/bin/sh -c #(nop) COPY dir:def in /srv", {
            "srv/.env": b"TOKEN=s3cr3t\n", "srv/certs/server.key": KEY,
            "srv/certs/ca.pem": b"-----BEGIN CERTIFICATE-----\n",  # a certificate: fine
            "srv/.npmrc": b"engine-strict=true\n",  # settings only: fine
            "usr/local/lib/python3.11/site-packages/x/tests/test.key": KEY,  # not ours
            "srv/.git/HEAD": b"ref: refs/heads/main\n"}),
        ("/bin/sh -c rm -rf /srv/certs /srv/.env", {"srv/.wh.certs": b"", "srv/.wh..env": b""}),
    ]))
    result = contents.check_secrets(image)
    assert result.status == Status.FAILED
    messages = [f.message for f in result.findings]
    assert messages == [
        "/srv/.env looks like a secret (a dotenv file), in layer 2 of 3 (`COPY dir:def in "
        "/srv`) (a later layer deletes it, but it stays in this layer of the image)",
        "/srv/certs/server.key looks like a secret (a private key), in layer 2 of 3 (`COPY "
        "dir:def in /srv`) (a later layer deletes it, but it stays in this layer of the image)",
        "/srv/.git (a git directory: the whole history) is in layer 2 of 3 (`COPY dir:def in "
        "/srv`)"]
    assert not any("s3cr3t" in m for m in messages)


def test_waste_counts_deleted_files_and_caches_and_flags_compilers() -> None:
    image = contents.scan(saved([
        ("/bin/sh -c #(nop) ADD file:base in /", {"usr/bin/gcc": b"base gcc"}),
        ("/bin/sh -c pip install -r requirements.txt", {
            "root/.cache/pip/http/a": b"c" * 2_000_000, "srv/blob": b"b" * 3_000_000}),
        ("/bin/sh -c rm /srv/blob", {"srv/.wh.blob": b""}),
        ("/bin/sh -c cp /bin/true /usr/bin/gcc", {"usr/bin/gcc": b"y"}),
    ]))
    ok = contents.check_waste(image, 50, multi_stage=False, own_from=1)
    assert ok.status == Status.PASSED
    assert ok.summary == ("5.0 MB wasted (caches, files deleted later) of a 50 MB budget in "
                          "4 layers")
    over = contents.check_waste(image, 4, multi_stage=False, own_from=1)
    assert over.status == Status.FAILED and over.summary == "5.0 MB wasted, over the 4 MB budget"
    assert [f.message for f in over.findings] == [
        "pip's cache: 2.0 MB in layer 2 (`RUN pip install -r requirements.txt`)",
        "3.0 MB of layer 2 (`RUN pip install -r requirements.txt`) is deleted by a later "
        "layer, but still shipped"]
    multi = contents.check_waste(image, 50, multi_stage=True, own_from=1)
    assert multi.status == Status.FAILED  # the base image's gcc (layer 1) is not judged
    assert [f.message for f in multi.findings] == [
        "compilers or build headers in the final stage, layer 4 (`RUN cp /bin/true "
        "/usr/bin/gcc`): /usr/bin/gcc"]


def test_virtualenvs_app_data_is_a_cache() -> None:
    """telescope: Poetry's virtualenv leaves its seed wheels in ~/.cache/virtualenv."""
    image = contents.scan(saved([
        ("/bin/sh -c #(nop) ADD file:base in /", {"usr/bin/python3": b"x"}),
        ("/bin/sh -c poetry install --only main", {
            "home/app/.cache/virtualenv/wheel/3.11/pip.whl": b"w" * 1_500_000,
            "root/.local/share/virtualenv/py_info/1/x.json": b"j" * 500_000,
            "home/app/.cache/pypoetry/virtualenvs/app-py3.11/bin/python": b"p"}),
    ]))
    over = contents.check_waste(image, 1, multi_stage=False, own_from=1)
    assert over.status == Status.FAILED
    assert [f.message for f in over.findings] == [
        "virtualenv's app data: 2.0 MB in layer 2 (`RUN poetry install --only main`)"]
    assert "rm -rf ~/.cache/virtualenv" in over.findings[0].hint


# --- SR520/SR521: observability, from the answer and the log lines ---------------------------


def test_metrics_in_prometheus_text_format() -> None:
    from pytest_shipready.container.run import observability

    body = ('# HELP app_requests_total Requests.\n# TYPE app_requests_total counter\n'
            'app_requests_total{status="200"} 3\napp_up 1 1700000000000\n')
    ok = observability.check_metrics("/metrics", 200, "text/plain", body)
    assert ok.status == Status.PASSED
    assert ok.summary == "/metrics: 2 samples of 2 metrics in Prometheus text format"
    assert observability.check_metrics("/metrics", 200, "", "<html>hi</html>").status \
        == Status.FAILED
    assert observability.check_metrics("/metrics", 200, "", "# only comments\n").summary \
        == "/metrics has no samples"
    assert observability.check_metrics("/metrics", 404, "", "").summary == \
        "/metrics answered 404"


def test_a_failure_must_be_one_structured_error_event() -> None:
    from pytest_shipready.config import LogsConfig
    from pytest_shipready.container.run import observability

    cfg = LogsConfig()
    good = [b'{"event": "request_failed", "level": "error", "timestamp": "2026-12-01T00:00:00Z",'
            b' "exception": [{"exc_type": "RuntimeError"}]}']
    assert observability.check_error_event("/fail", 500, good, cfg).status == Status.PASSED
    raw = [b'{"event": "oops", "level": "error", "timestamp": "2026-12-01T00:00:00Z"}',
           b"Traceback (most recent call last):", b'  File "app.py", line 3, in f',
           b"RuntimeError: boom"]
    bad = observability.check_error_event("/fail", 500, raw, cfg)
    assert bad.status == Status.FAILED
    assert "raw traceback line" in bad.findings[0].message
    assert observability.check_error_event("/fail", 200, good, cfg).summary == \
        "/fail answered 200, not an error"
    assert observability.new_lines([b"a", b"b"], [b"a", b"b", b"c", b"d"]) == [b"c", b"d"]


def test_bytecode_copied_from_the_build_context_is_waste() -> None:
    image = contents.scan(saved([
        ("/bin/sh -c #(nop) ADD file:base in /", {
            "usr/lib/python3.11/__pycache__/os.cpython-311.pyc": b"p" * 5000}),  # not ours
        ("/bin/sh -c #(nop) COPY dir:abc in /srv/app/", {
            "srv/app/main.py": b"print()", "srv/app/__pycache__/main.cpython-312.pyc":
            b"q" * 2000}),
        ("/bin/sh -c python -m compileall /srv/app", {  # made in the image: fine
            "srv/app/__pycache__/main.cpython-311.pyc": b"r" * 2000}),
    ]))
    result = contents.check_waste(image, 0.001, multi_stage=False, own_from=1)
    assert [f.message for f in result.findings] == [
        "__pycache__ copied from the build context: 2.0 kB in layer 2 (`COPY dir:abc in "
        "/srv/app/`)"]


def test_compilers_a_later_layer_removes_are_not_in_the_final_stage() -> None:
    """consvc-shepherd's shape: `apt-get install gcc python3-dev`, pip install, then
    `apt-get remove gcc python3-dev` in a later layer. The compilers are gone from the
    final stage; their bytes are still shipped (deleted later), and counted once."""
    image = contents.scan(saved([
        ("/bin/sh -c #(nop) ADD file:base in /", {"usr/bin/python3": b"x"}),
        ("/bin/sh -c apt-get install -y gcc python3-dev", {
            "usr/bin/gcc-12": b"g" * 600_000, "usr/lib/gcc/x86_64-linux-gnu/12/cc1":
            b"c" * 1_400_000, "usr/include/python3.11/Python.h": b"h" * 1000,
            "usr/lib/x86_64-linux-gnu/libpq.so.5": b"l" * 1000,  # kept: not deleted
            "root/.cache/pip/http/a": b"p" * 1_000_000}),
        ("/bin/sh -c pip install -r requirements.txt", {"srv/x.py": b"x"}),
        ("/bin/sh -c apt-get remove -y gcc python3-dev && rm -rf /root/.cache", {
            "usr/bin/.wh.gcc-12": b"", "usr/lib/.wh.gcc": b"", "root/.wh..cache": b"",
            "usr/include/.wh.python3.11": b""}),
        # a second whiteout of a path already deleted: each file is counted once
        ("/bin/sh -c rm -rf /usr/lib/gcc /root/.cache/pip", {
            "usr/lib/.wh.gcc": b"", "root/.cache/.wh.pip": b""}),
    ]))
    result = contents.check_waste(image, 2.5, multi_stage=True, own_from=1)
    assert [f.message for f in result.findings] == [
        "3.0 MB of layer 2 (`RUN apt-get install -y gcc python3-dev`) is deleted by a later "
        "layer, but still shipped"]
    assert result.status == Status.FAILED
    assert result.summary == "3.0 MB wasted, over the 2.5 MB budget"
    under = contents.check_waste(image, 50, multi_stage=True, own_from=1)
    assert under.status == Status.PASSED, under.findings
    assert under.figures["wasted_mb"] == 3.0


@pytest.mark.parametrize(("created_by", "shown"), [
    ("/bin/sh -c apt-get update && apt-get install -y tini",
     "RUN apt-get update && apt-get install -y tini"),
    ("RUN /bin/sh -c apt-get update && apt-get install -y tini # buildkit",
     "RUN apt-get update && apt-get install -y tini"),
    ("RUN |1 TOKEN=abc /bin/sh -c pip install -r r.txt # buildkit", "RUN pip install -r r.txt"),
    ("|1 TOKEN=abc /bin/sh -c pip install -r r.txt", "RUN pip install -r r.txt"),
    ("/bin/sh -c #(nop) COPY file:abc in /srv/ ", "COPY file:abc in /srv/"),
    ("COPY app.py /srv/app.py # buildkit", "COPY app.py /srv/app.py"),
    ('RUN ["pip", "install", "x"] # buildkit', 'RUN ["pip", "install", "x"]'),
])
def test_a_layer_is_shown_as_the_dockerfile_wrote_it_whichever_builder(created_by: str,
                                                                      shown: str) -> None:
    from pytest_shipready.container.inspect.contents import _instruction

    assert _instruction(created_by) == shown
