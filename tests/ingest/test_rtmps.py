"""RTMPS: the same server over TLS, with a self-signed certificate made for the test."""

import shutil
import ssl
import subprocess

import pytest

from ingest.media import VIDEO
from ingest.rtmp import RtmpServer


@pytest.fixture(scope="module")
def certificate(tmp_path_factory) -> tuple[str, str]:
    if shutil.which("openssl") is None:
        pytest.skip("openssl not installed")
    directory = tmp_path_factory.mktemp("tls")
    cert, key = str(directory / "cert.pem"), str(directory / "key.pem")
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-subj",
            "/CN=localhost",
            "-days",
            "1",
            "-keyout",
            key,
            "-out",
            cert,
        ],
        check=True,
        capture_output=True,
    )
    return cert, key


@pytest.fixture
async def tls_server(authorizer, certificate):
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(*certificate)
    server = RtmpServer(authorizer, ssl_context=context, protocol="rtmps")
    await server.start("127.0.0.1", 0)
    yield server
    await server.close()


async def test_ffmpeg_publishes_over_rtmps(tls_server, authorizer, ffmpeg_publish):
    code, stderr = await ffmpeg_publish(
        f"rtmps://127.0.0.1:{tls_server.port}/in/secure?good", seconds=2, extra=("-tls_verify", "0")
    )
    assert code == 0, stderr
    sink = await authorizer.sink("secure")
    await sink.wait_closed()
    assert (sink.request.protocol, sink.request.name, sink.request.query) == ("rtmps", "secure", "good")
    assert sink.close_reasons == ["unpublished"]
    assert len([m for m in sink.messages if m.kind == VIDEO]) >= 45


async def test_python_tls_client_and_plain_rtmp_is_refused(tls_server, certificate, raw_client):
    context = ssl.create_default_context(cafile=certificate[0])
    context.check_hostname = False
    client = await raw_client.open(tls_server.port, ssl_context=context)
    assert (await client.publish("in", "pytls?good"))["code"] == "NetStream.Publish.Start"
    client.close()

    plain = await raw_client.open(tls_server.port)
    plain.writer.write(b"\x03" + bytes(1536))
    assert await plain.closed_by_server()
