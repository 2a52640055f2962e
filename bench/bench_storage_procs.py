"""The storage unit's programs, for the storage section of make bench (bench_storage.py) and its
cluster cases (bench_cluster.py): finding them, a redis-server's config, tern-kv's command line
and load options, the lines that say each one listens, and the check that a chain stores and
answers before it is measured.  Standard library only."""

import http.client
import os
import shutil
import tempfile

KV_VALUE = "v" * 100           # the PUT body of the kv and cluster cases
KV_KEY = "bench-key"


# ------------------------------------------------------------------------- programs
def program(name):
    """A program found on PATH (redis-server, redis-benchmark), or None."""
    return shutil.which(name)


def built(ctx, b, *parts):
    """(path, why it cannot run or "") of a program of the build."""
    path = ctx.binary(*parts)
    return path, "" if os.access(path, os.X_OK) else "%s not built: %s" % (parts[-1], b.rel(path))


def fresh_dir(ctx, prefix):
    d = tempfile.mkdtemp(prefix=prefix, dir=ctx.tmp)
    os.chmod(d, 0o755)
    return d


def redis_config(ctx, port, cluster_like):
    """A redis-server config in a fresh dir of the run's temp dir -> its path.  resp cases:
    no persistence (the clients are measured, not the disk); cluster cases: make cluster's
    settings (appendonly, fsync every second)."""
    d = fresh_dir(ctx, "redis.")
    lines = ["port %d" % port, "bind 127.0.0.1", "protected-mode no", "daemonize no",
             "logfile \"\"", "save \"\"", "dir %s" % d,
             "appendonly %s" % ("yes" if cluster_like else "no")]
    if cluster_like:
        lines += ["appendfsync everysec", "maxmemory 256mb", "maxmemory-policy noeviction"]
    path = os.path.join(d, "redis.conf")
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")
    return path


REDIS_BANNER = r"Ready to accept connections"


# ------------------------------------------------------------------------- tern-kv
def kv_argv(kv, port, store, durability="full"):
    return [kv, "--host", "127.0.0.1", "--port", str(port), "--store", store, "--durability",
            durability, "--backend", "epoll", "--model", "single", "--threads", "1"]


KV_BANNER = r"^tern-kv: listening on"


def kv_load_options(method):
    """tern-bench http's options for PUT (the value as the body) or GET."""
    return ["-m", "PUT", "--body", KV_VALUE] if method == "PUT" else []


# ------------------------------------------------------------------------- checks
def http_exchange(port, method, path, body=None, host="127.0.0.1", timeout=5.0):
    """(status, body bytes, why it failed or "")."""
    try:
        c = http.client.HTTPConnection(host, port, timeout=timeout)
        c.request(method, path, body=body)
        r = c.getresponse()
        data = r.read()
        c.close()
    except (OSError, http.client.HTTPException) as e:
        return None, b"", "%s %s failed: %s" % (method, path, e)
    return r.status, data, ""


def check_kv(port, tries=1):
    """PUT the benchmark's key and GET it back, `tries` times (once per upstream behind a
    round-robin proxy): the chain stores and answers before it is measured."""
    for _ in range(tries):
        status, _, why = http_exchange(port, "PUT", "/kv/" + KV_KEY, KV_VALUE.encode())
        if why:
            return why
        if status not in (201, 204):
            return "PUT /kv/%s answered %d, not 201 or 204" % (KV_KEY, status)
        status, data, why = http_exchange(port, "GET", "/kv/" + KV_KEY)
        if why:
            return why
        if status != 200 or data != KV_VALUE.encode():
            return "GET /kv/%s answered %d %r, not 200 and the value put" % (KV_KEY, status,
                                                                              data[:40])
    return ""


class Named:
    """A client or server of b.interleaved that is only a name (no ServerSpec)."""

    def __init__(self, name):
        self.name = name
