"""A small FastCGI client for tests: well-formed requests (with keep-conn),
and the raw bytes to send malformed ones."""
import socket
import struct

BEGIN_REQUEST, ABORT_REQUEST, END_REQUEST, PARAMS, STDIN, STDOUT, STDERR = 1, 2, 3, 4, 5, 6, 7
RESPONDER = 1
KEEP_CONN = 1


def record(rtype, request_id, content=b"", version=1):
    pad = (8 - len(content) % 8) % 8
    return struct.pack(">BBHHBx", version, rtype, request_id, len(content), pad) + content + b"\0" * pad


def stream(rtype, request_id, data):
    """data split into records of at most 65535 bytes, then the empty record."""
    out = b""
    for i in range(0, len(data), 65535):
        out += record(rtype, request_id, data[i:i + 65535])
    return out + record(rtype, request_id)


def nv_len(n):
    return bytes([n]) if n < 128 else struct.pack(">I", n | 0x80000000)


def encode_params(params):
    out = b""
    for k, v in params.items():
        k = k.encode() if isinstance(k, str) else k
        v = v.encode() if isinstance(v, str) else v
        out += nv_len(len(k)) + nv_len(len(v)) + k + v
    return out


def request_bytes(params, body=b"", request_id=1, keep_conn=False):
    begin = struct.pack(">HB5x", RESPONDER, KEEP_CONN if keep_conn else 0)
    return (record(BEGIN_REQUEST, request_id, begin) + stream(PARAMS, request_id, encode_params(params)) +
            stream(STDIN, request_id, body))


def http_params(method="GET", path="/", query="", body=b"", cookie=None, headers=None):
    p = {"REQUEST_METHOD": method, "REQUEST_URI": path + ("?" + query if query else ""), "DOCUMENT_URI": path,
         "QUERY_STRING": query, "CONTENT_LENGTH": str(len(body)), "REMOTE_ADDR": "127.0.0.1",
         "SERVER_PROTOCOL": "HTTP/1.1", "GATEWAY_INTERFACE": "CGI/1.1"}
    if cookie:
        p["HTTP_COOKIE"] = cookie
    for k, v in (headers or {}).items():
        p["HTTP_" + k.upper().replace("-", "_")] = v
    return p


class Reply:
    def __init__(self, stdout, stderr, app_status):
        self.raw, self.stderr, self.app_status = stdout, stderr, app_status
        head, _, self.body = stdout.partition(b"\r\n\r\n")
        self.headers = []
        self.status = 200
        for line in head.decode("latin-1").split("\r\n"):
            k, _, v = line.partition(":")
            v = v.strip()
            if k.lower() == "status":
                self.status = int(v.split()[0])
            elif k:
                self.headers.append((k, v))

    def header(self, name):
        return [v for k, v in self.headers if k.lower() == name.lower()]


def connect(addr, timeout=10):
    if addr.startswith("unix:"):
        s = socket.socket(socket.AF_UNIX)
        s.settimeout(timeout)
        s.connect(addr[5:])
    else:
        host, port = addr.rsplit(":", 1)
        s = socket.create_connection((host, int(port)), timeout=timeout)
    return s


def read_reply(sock, request_id=1):
    """Reads records until END_REQUEST for request_id. Raises EOFError if the
    connection closes first."""
    buf, out, err = b"", b"", b""
    while True:
        while len(buf) < 8:
            chunk = sock.recv(65536)
            if not chunk:
                raise EOFError("connection closed before END_REQUEST")
            buf += chunk
        _, rtype, rid, clen, plen = struct.unpack(">BBHHBx", buf[:8])
        while len(buf) < 8 + clen + plen:
            chunk = sock.recv(65536)
            if not chunk:
                raise EOFError("connection closed inside a record")
            buf += chunk
        content, buf = buf[8:8 + clen], buf[8 + clen + plen:]
        if rid != request_id:
            continue
        if rtype == STDOUT:
            out += content
        elif rtype == STDERR:
            err += content
        elif rtype == END_REQUEST:
            return Reply(out, err, struct.unpack(">I", content[:4])[0])


class Connection:
    """One FastCGI connection; with keep_conn, several requests in turn."""

    def __init__(self, addr, timeout=10):
        self.sock = connect(addr, timeout)

    def request(self, keep_conn=True, body=b"", **kw):
        self.sock.sendall(request_bytes(http_params(body=body, **kw), body, keep_conn=keep_conn))
        return read_reply(self.sock)

    def close(self):
        self.sock.close()


def get(addr, path="/", **kw):
    c = Connection(addr)
    try:
        return c.request(keep_conn=False, path=path, **kw)
    finally:
        c.close()


def direct(addr, path, method="GET", remote="127.0.0.1", headers=None, body=b""):
    """One request straight to a worker as if nginx sent it from `remote`; a
    body goes as a form (application/x-www-form-urlencoded)."""
    params = http_params(method=method, path=path, body=body, headers=headers)
    params["REMOTE_ADDR"] = remote
    if body:
        params["CONTENT_TYPE"] = "application/x-www-form-urlencoded"
    conn = Connection(addr)
    try:
        conn.sock.sendall(request_bytes(params, body))
        return read_reply(conn.sock)
    finally:
        conn.close()


def byte_params(method, path, query=b"", body=b"", cookie=None, content_type=None, headers=None):
    """Like http_params, with any bytes in every value (and in header names):
    for hostile requests. headers: {b"HTTP_X_NAME": value}, names as given."""
    b = lambda v: v if isinstance(v, bytes) else v.encode()  # noqa: E731
    p = {b"REQUEST_METHOD": b(method), b"REQUEST_URI": b(path) + (b"?" + b(query) if query else b""),
         b"DOCUMENT_URI": b(path), b"QUERY_STRING": b(query), b"CONTENT_LENGTH": str(len(body)).encode(),
         b"REMOTE_ADDR": b"127.0.0.1", b"SERVER_PROTOCOL": b"HTTP/1.1"}
    if cookie is not None:
        p[b"HTTP_COOKIE"] = b(cookie)
    if content_type is not None:
        p[b"CONTENT_TYPE"] = b(content_type)
    for k, v in (headers or {}).items():
        p[b(k)] = b(v)
    return p


def raw_request(addr, params, body=b"", timeout=30):
    """One request whose params are bytes names and values (byte_params); the
    Reply. EOFError if the worker closes the connection first."""
    s = connect(addr, timeout)
    try:
        content = b"".join(nv_len(len(k)) + nv_len(len(v)) + k + v for k, v in params.items())
        begin = struct.pack(">HB5x", RESPONDER, 0)
        s.sendall(record(BEGIN_REQUEST, 1, begin) + stream(PARAMS, 1, content) + stream(STDIN, 1, body))
        return read_reply(s)
    finally:
        s.close()


def get_values_overflow():
    """libfcgi's FCGI_GET_VALUES overflow (issue 17): eight names overflow the
    64-byte stack buffer of its ProcessManagementRecord, before any tether
    code runs, then a request that makes it read the record."""
    names = b"".join(b"\x0f\x00FCGI_MPXS_CONNS" for _ in range(8))
    return (struct.pack(">BBHHBx", 1, 9, 0, len(names), 0) + names + struct.pack(">BBHHBx", 1, 1, 1, 8, 0) +
            struct.pack(">HB5x", 1, 0))


def refused_by_peer_listener(addr, data, timeout=10):
    """Sends data to a worker's peer listener, which answers only tether's
    peer handshake: True when it closes the connection without a byte back."""
    s = connect(addr, timeout)
    try:
        s.sendall(data)
        return s.recv(65536) == b""
    except (ConnectionResetError, BrokenPipeError):  # closed while we still sent, or with bytes unread
        return True
    finally:
        s.close()
