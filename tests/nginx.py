"""nginx with WebDAV (Debian's `nginx-light` + `libnginx-mod-http-dav-ext`) on loopback, the
real server a plain HTTP store is most often put on. One process, foreground, its own temp
config and directories; stopped (and waited for) on exit."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

DAV_EXT = Path("/usr/lib/nginx/modules/ngx_http_dav_ext_module.so")


def available() -> bool:
    return shutil.which("nginx") is not None and DAV_EXT.exists()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def nginx_store(
    work: Path, user: str, password: str, create_full_put_path: bool = False
) -> Iterator[tuple[str, Path]]:
    """Serve `<work>/root/store/` with WebDAV and Basic auth; yields (base URL, store dir)."""
    root = work / "root"
    (root / "store").mkdir(parents=True)
    for d in ("body", "logs"):
        (work / d).mkdir()
    (work / "htpasswd").write_text(f"{user}:{{PLAIN}}{password}\n")
    port = _free_port()
    conf = work / "nginx.conf"
    conf.write_text(f"""
load_module {DAV_EXT};
daemon off;
master_process off;
pid {work}/nginx.pid;
error_log {work}/logs/error.log;
events {{ worker_connections 64; }}
http {{
    access_log off;
    client_body_temp_path {work}/body;
    server {{
        listen 127.0.0.1:{port};
        location /store/ {{
            root {root};
            dav_methods PUT DELETE MKCOL;
            dav_ext_methods PROPFIND OPTIONS;
            create_full_put_path {"on" if create_full_put_path else "off"};
            client_max_body_size 0;
            auth_basic "mvm";
            auth_basic_user_file {work}/htpasswd;
        }}
    }}
}}
""")
    proc = subprocess.Popen(["nginx", "-p", str(work), "-c", str(conf)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    err = proc.stderr.read().decode() if proc.stderr else ""
                    raise RuntimeError(f"nginx did not start: {err}") from None
                time.sleep(0.05)
        yield f"http://127.0.0.1:{port}/store", root / "store"
    finally:
        proc.terminate()
        try:
            proc.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()
