#!/usr/bin/env python3
"""The controller's HTTP API suite; the same checks run against SQLite and
PostgreSQL. Prints "PASS: name" / "FAIL: name" lines (tests/run.sh counts
them) and exits non-zero on any failure.

  api_suite.py suite --base URL [--base2 URL] --master KEY --label L
  api_suite.py concurrent --base URL --base2 URL --master KEY [--joins N]
  api_suite.py ratelimit --base URL --master KEY --burst N
"""
import argparse
import base64
import concurrent.futures
import http.client
import ipaddress
import json
import os
import sys
import threading
import time
import urllib.parse

failures = 0
LABEL = ""


def check(name, cond, detail=""):
    global failures
    if cond:
        print(f"PASS: {LABEL}{name}", flush=True)
    else:
        failures += 1
        print(f"FAIL: {LABEL}{name} {detail}", flush=True)
    return cond


class Resp:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers
        self.body = body

    @property
    def json(self):
        try:
            return json.loads(self.body)
        except ValueError:
            return None

    def __repr__(self):
        return f"<{self.status} {self.body[:300]!r}>"


def call(base, method, path, body=None, key=None, headers=None,
         timeout=60, raw=None):
    u = urllib.parse.urlsplit(base)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=timeout)
    h = dict(headers or {})
    if key:
        h["Authorization"] = "Bearer " + key
    data = raw
    if body is not None:
        data = json.dumps(body).encode()
        h["Content-Type"] = "application/json"
    try:
        conn.request(method, path, body=data, headers=h)
        r = conn.getresponse()
        return Resp(r.status, {k.lower(): v for k, v in r.getheaders()},
                    r.read())
    except (ConnectionError, http.client.HTTPException) as e:
        return Resp(0, {}, str(e).encode())
    finally:
        conn.close()


def pubkey():
    while True:
        k = os.urandom(32)
        if any(k):
            return base64.b64encode(k).decode()


def is_json_error(r, status):
    j = r.json
    return (r.status == status and isinstance(j, dict) and
            isinstance(j.get("error"), str) and
            r.headers.get("content-type", "").startswith("application/json"))


def token(base, master, **kw):
    r = call(base, "POST", "/tokens", kw, key=master)
    assert r.status == 201, r
    return r.json["token"]


def join(base, tok, node_id, key, **kw):
    body = {"node_id": node_id, "public_key": key}
    body.update(kw)
    hdr = {"X-Join-Token": tok} if tok else {}
    return call(base, "POST", "/join", body, headers=hdr)


class Poll(threading.Thread):
    """GET /netmap in the background, timing it."""

    def __init__(self, base, node_token, since, timeout):
        super().__init__(daemon=True)
        self.args = (base, node_token, since, timeout)
        self.resp = None
        self.elapsed = None

    def run(self):
        base, tok, since, timeout = self.args
        t = time.monotonic()
        self.resp = call(base, "GET",
                         f"/netmap?since={since}&timeout={timeout}",
                         key=tok, timeout=timeout + 30)
        self.elapsed = time.monotonic() - t


def peer_ids(netmap):
    return sorted(p["node_id"] for p in netmap["peers"])


def suite(a):
    base, master = a.base, a.master
    base2 = a.base2 or base

    r = call(base, "GET", "/health")
    check("health", r.status == 200 and r.json["status"] == "pass" and
          r.json["checks"]["store:connection"][0]["status"] == "pass" and
          r.headers.get("content-type") == "application/health+json", r)
    r = call(base, "GET", "/metrics")
    check("metrics text", r.status == 200 and
          b"spokewire_controller_joins_total" in r.body and
          r.headers.get("content-type", "").startswith("text/plain"), r)

    # credentials
    r = call(base, "POST", "/tokens", {"uses": 1})
    check("tokens without key 401", is_json_error(r, 401) and
          "bearer" in r.headers.get("www-authenticate", "").lower(), r)
    r = call(base, "POST", "/tokens", {"uses": 1}, key="swm_" + "0" * 64)
    check("tokens wrong key 401", is_json_error(r, 401), r)
    r = call(base, "GET", "/nodes", key=master[:-1])
    check("nodes truncated key 401", is_json_error(r, 401), r)

    # tokens
    r = call(base, "POST", "/tokens", {"role": "hub", "uses": 1,
                                       "expires_in": 600}, key=master)
    check("token create 201", r.status == 201 and
          r.json["token"].startswith("swj_") and r.json["role"] == "hub", r)
    hub_tok, hub_tok_id = r.json["token"], r.json["id"]
    r = call(base, "GET", "/tokens", key=master)
    toks = r.json["tokens"] if r.status == 200 else []
    check("token list hides tokens", r.status == 200 and
          any(t["id"] == hub_tok_id for t in toks) and
          hub_tok.encode() not in r.body, r)
    for name, body in [("not json", b"{uses: 3"), ("array", b"[1,2]"),
                       ("uses string", b'{"uses":"3"}'),
                       ("uses zero", b'{"uses":0}'),
                       ("role admin", b'{"role":"admin"}'),
                       ("expires negative", b'{"expires_in":-5}'),
                       ("duplicate keys", b'{"uses":1,"uses":2}'),
                       ("trailing garbage", b'{"uses":1} x')]:
        r = call(base, "POST", "/tokens", key=master, raw=body)
        check(f"token body {name} 400", is_json_error(r, 400), r)

    # a hub joins
    hub_key = pubkey()
    r = join(base, hub_tok, "hub1", hub_key, role="hub")
    j = r.json or {}
    check("hub join", r.status == 200 and j.get("address") == "10.50.0.1"
          and j.get("role") == "hub" and j.get("node_token", "")
          .startswith("swn_") and j.get("peers") == [], r)
    hub = j
    check("join config has no private key",
          "Address = 10.50.0.1/16" in hub.get("config", "") and
          "\nPrivateKey" not in hub.get("config", ""), hub.get("config"))
    r = join(base, hub_tok, "hub2", pubkey(), role="hub")
    check("token uses exhausted 403", is_json_error(r, 403), r)

    # spokes join
    tok = token(base, master, role="spoke", uses=3, expires_in=600)
    k1 = pubkey()
    r = join(base, tok, "spoke-1", k1, endpoint="198.51.100.7:51820")
    s1 = r.json or {}
    check("spoke join", r.status == 200 and s1.get("address") ==
          "10.50.0.2" and s1.get("network") == "10.50.0.0/16", r)
    peers = s1.get("peers", [])
    check("spoke sees hub with the network", len(peers) == 1 and
          peers[0]["public_key"] == hub_key and
          peers[0]["allowed_ips"] == ["10.50.0.0/16"] and
          peers[0]["endpoint"] == "hub.example.net:51820" and
          peers[0]["persistent_keepalive"] == 25, peers)
    check("spoke config", "Endpoint = hub.example.net:51820" in
          s1.get("config", "") and "AllowedIPs = 10.50.0.0/16" in
          s1.get("config", ""), s1.get("config"))
    r = join(base2, tok, "spoke-1", k1, endpoint="198.51.100.7:51820")
    check("re-join same answer", r.status == 200 and r.json == s1,
          (r, s1))
    r = join(base, tok, "spoke-1", k1)
    check("re-join without endpoint keeps it", r.status == 200 and
          r.json["node_token"] == s1["node_token"], r)
    k2 = pubkey()
    r = join(base, tok, "spoke-2", k2)
    s2 = r.json or {}
    check("second spoke", r.status == 200 and s2.get("address") ==
          "10.50.0.3", r)

    # hub netmap
    r = call(base, "GET", "/netmap", key=hub["node_token"])
    nm = r.json or {}
    check("hub netmap lists spokes", r.status == 200 and
          peer_ids(nm) == ["spoke-1", "spoke-2"], r)
    sp = {p["node_id"]: p for p in nm.get("peers", [])}
    check("hub netmap spoke entries",
          sp.get("spoke-1", {}).get("allowed_ips") == ["10.50.0.2/32"] and
          sp["spoke-1"]["endpoint"] == "198.51.100.7:51820" and
          sp.get("spoke-2", {}).get("endpoint") is None, sp)
    hub_version = nm.get("version", 0)
    r = call(base, "GET", "/netmap", key=s1["node_token"])
    check("spoke netmap lists hub only", r.status == 200 and
          peer_ids(r.json) == ["hub1"], r)
    spoke_version = r.json["version"] if r.status == 200 else 0

    # key rotation
    k1b = pubkey()
    r = join(base, tok, "spoke-1", k1b)
    rot = r.json or {}
    check("key rotation keeps address", r.status == 200 and
          rot.get("address") == "10.50.0.2" and
          rot.get("node_token") != s1["node_token"], r)
    r = call(base, "GET", "/netmap", key=s1["node_token"])
    check("old node token 401 after rotation", is_json_error(r, 401), r)
    r = call(base, "GET", "/netmap", key=hub["node_token"])
    check("hub sees rotated key", r.status == 200 and
          any(p["public_key"] == k1b for p in r.json["peers"]) and
          r.json["version"] > hub_version, r)
    k1c = pubkey()
    r = call(base, "POST", "/join", {"node_id": "spoke-1",
                                     "public_key": k1c},
             key=rot.get("node_token"))
    check("rotation with node token", r.status == 200 and
          r.json["address"] == "10.50.0.2", r)
    s1 = r.json or s1
    r = call(base, "POST", "/join", {"node_id": "spoke-2",
                                     "public_key": pubkey()},
             key=s1.get("node_token"))
    check("node token of another node 401", is_json_error(r, 401), r)
    r = call(base, "POST", "/join", {"node_id": "new-node",
                                     "public_key": pubkey()},
             key=s1.get("node_token"))
    check("node token cannot create nodes 401", is_json_error(r, 401), r)

    # hostile joins
    r = join(base, None, "x1", pubkey())
    check("join without token 401", is_json_error(r, 401), r)
    r = join(base, "swj_" + "ab" * 32, "x1", pubkey())
    check("join wrong token 401", is_json_error(r, 401), r)
    short = token(base, master, uses=5, expires_in=1)
    time.sleep(2.1)
    r = join(base, short, "x1", pubkey())
    check("join expired token 401", is_json_error(r, 401) and
          "expired" in r.json["error"], r)
    r = join(base, tok, "x1", pubkey(), role="hub")
    check("spoke token as hub 403", is_json_error(r, 403), r)
    r = join(base, tok, "hub1", pubkey())
    check("spoke token on hub's id 409", is_json_error(r, 409), r)
    r = join(base, tok, "x1", k2)
    check("another node's key 409", is_json_error(r, 409), r)
    for name, body in [("not json", b'{"node_id": "a",'),
                       ("not object", b'"hello"'),
                       ("empty", b''),
                       ("no node_id", json.dumps(
                           {"public_key": pubkey()}).encode()),
                       ("bad node_id", json.dumps(
                           {"node_id": "../etc", "public_key": pubkey()}
                       ).encode()),
                       ("long node_id", json.dumps(
                           {"node_id": "a" * 65, "public_key": pubkey()}
                       ).encode()),
                       ("bad key", json.dumps(
                           {"node_id": "a", "public_key": "abc"}).encode()),
                       ("zero key", json.dumps(
                           {"node_id": "a", "public_key":
                            base64.b64encode(bytes(32)).decode()}
                       ).encode()),
                       ("bad endpoint", json.dumps(
                           {"node_id": "a", "public_key": pubkey(),
                            "endpoint": "no port"}).encode()),
                       ("bad role", json.dumps(
                           {"node_id": "a", "public_key": pubkey(),
                            "role": 7}).encode()),
                       ("nul in id", b'{"node_id":"a\\u0000b",'
                        b'"public_key":"' + pubkey().encode() + b'"}')]:
        r = call(base, "POST", "/join", raw=body,
                 headers={"X-Join-Token": tok})
        check(f"join body {name} 400", is_json_error(r, 400), r)
    r = call(base, "GET", "/tokens", key=master)
    left = [t for t in r.json["tokens"] if t["uses"] == 3]
    check("failed joins used no token uses", len(left) == 1 and
          left[0]["uses_left"] == 1, left)

    # long-poll
    p = Poll(base, hub["node_token"], hub_version + 100, 1)
    p.start()
    p.join()
    r = call(base, "GET", "/netmap", key=hub["node_token"])
    hub_version = r.json["version"]
    p = Poll(base, hub["node_token"], hub_version, 1)
    p.start()
    p.join()
    check("netmap poll times out", p.resp.status == 200 and
          p.resp.json["version"] == hub_version and
          0.9 < p.elapsed < 5, (p.resp, p.elapsed))
    p = Poll(base, hub["node_token"], hub_version, 20)
    sp_poll = Poll(base, s2["node_token"], spoke_version, 3)
    p.start()
    sp_poll.start()
    time.sleep(0.3)
    r = join(base2, tok, "spoke-3", pubkey())
    check("third spoke", r.status == 200 and r.json["address"] ==
          "10.50.0.4", r)
    s3 = r.json or {}
    p.join()
    check("netmap poll wakes on join", p.resp.status == 200 and
          p.resp.json["version"] > hub_version and
          "spoke-3" in peer_ids(p.resp.json) and p.elapsed < 3,
          (p.resp, p.elapsed))
    sp_poll.join()
    check("spoke poll ignores other spokes", sp_poll.resp.status == 200
          and sp_poll.elapsed > 2.5 and
          peer_ids(sp_poll.resp.json) == ["hub1"],
          (sp_poll.resp, sp_poll.elapsed))
    for q in ["since=abc", "since=-1", "since=1&timeout=99999",
              "since=1&timeout=x"]:
        r = call(base, "GET", "/netmap?" + q, key=hub["node_token"])
        check(f"netmap {q} 400", is_json_error(r, 400), r)
    r = call(base, "GET", "/netmap", key=master)
    check("netmap with master key 401", is_json_error(r, 401), r)

    # users
    r = call(base, "POST", "/users", {"client_id": "alice"}, key=master)
    alice = r.json or {}
    check("user create 201", r.status == 201 and
          alice.get("api_key", "").startswith("swu_") and
          alice.get("status") == "active" and
          alice.get("client_id") == "alice" and "created_at" in alice, r)
    ak = alice.get("api_key", "")
    r = call(base, "POST", "/users", {"client_id": "alice"}, key=master)
    check("user duplicate 409", is_json_error(r, 409), r)
    r = call(base, "POST", "/users", {"client_id": "bob"}, key=master)
    bk = (r.json or {}).get("api_key", "")
    for name, body in [("no id", b"{}"), ("bad id", b'{"client_id":"a b"}'),
                       ("number", b'{"client_id":5}'), ("junk", b"\xff\xfe")]:
        r = call(base, "POST", "/users", key=master, raw=body)
        check(f"user body {name} 400", is_json_error(r, 400), r)
    r = call(base, "GET", "/users", key=ak)
    check("user lists users", r.status == 200 and
          r.json == ["alice", "bob"], r)
    r = call(base, "GET", "/users/alice", key=ak)
    check("user gets self", r.status == 200 and
          r.json["client_id"] == "alice" and r.json["devices"] == [], r)
    r = call(base, "GET", "/users/bob", key=ak)
    check("user gets other user 403", is_json_error(r, 403), r)
    for m, path, body in [("POST", "/users", {"client_id": "eve"}),
                          ("POST", "/tokens", {"uses": 1}),
                          ("GET", "/tokens", None),
                          ("GET", "/nodes", None),
                          ("GET", "/nodes/hub1", None),
                          ("DELETE", "/nodes/spoke-1", None),
                          ("DELETE", "/users/bob", None),
                          ("DELETE", "/users/alice", None)]:
        r = call(base, m, path, body, key=ak)
        check(f"user key {m} {path} 403", is_json_error(r, 403), r)
    r = call(base, "POST", "/users/bob/devices", {}, key=ak)
    check("user device for other user 403", is_json_error(r, 403), r)

    # devices
    r = call(base, "POST", "/users/alice/devices", {"name": "laptop"},
             key=ak)
    dev = r.json or {}
    conf = dev.get("config", "")
    check("device config", r.status == 201 and
          "\nPrivateKey = " in conf and
          f"PublicKey = {hub_key}" in conf and
          "AllowedIPs = 10.50.0.0/16" in conf and
          "Endpoint = hub.example.net:51820" in conf and
          dev.get("address") == "10.50.0.5", r)
    priv = conf.split("PrivateKey = ")[1].split("\n")[0] if conf else "?"
    r = call(base, "POST", "/users/alice/devices?format=svg", key=ak)
    check("device svg", r.status == 201 and
          r.headers.get("content-type") == "image/svg+xml" and
          r.body.startswith(b"<?xml") and b"<svg" in r.body, r)
    r = call(base, "POST", "/users/alice/devices?format=ansi", key=master)
    check("device ansi", r.status == 201 and b"\x1b[40m" in r.body, r)
    r = call(base, "POST", "/users/alice/devices?format=conf", key=ak)
    check("device conf", r.status == 201 and
          r.body.startswith(b"# spokewire device") and
          b"Address = 10.50.0.8/32" in r.body, r)
    r = call(base, "POST", "/users/alice/devices?format=png", key=ak)
    check("device bad format 400", is_json_error(r, 400), r)
    r = call(base, "POST", "/users/alice/devices", key=ak,
             raw=b'{"name": 1}')
    check("device bad body 400", is_json_error(r, 400), r)
    r = call(base, "GET", "/users/alice", key=master)
    check("user shows devices, not keys", r.status == 200 and
          len(r.json["devices"]) == 4 and priv.encode() not in r.body, r)
    r = call(base, "GET", "/netmap", key=hub["node_token"])
    check("hub netmap has devices", r.status == 200 and
          dev.get("device_id") in peer_ids(r.json), r)
    hub_version = r.json["version"]

    # unknown ids, paths, methods
    for m, path in [("GET", "/nodes/nope"), ("DELETE", "/nodes/nope"),
                    ("GET", "/users/nope"), ("DELETE", "/users/nope"),
                    ("POST", "/users/nope/devices"),
                    ("DELETE", "/tokens/tok_000000000000"),
                    ("GET", "/nope"), ("GET", "/users/a/b/c"),
                    ("GET", "/nodes/..%2f..")]:
        r = call(base, m, path, key=master)
        check(f"{m} {path} 404", is_json_error(r, 404), r)
    r = call(base, "PUT", "/users", key=master)
    check("wrong method 405", is_json_error(r, 405), r)
    r = call(base, "GET", "/nodes", key=master)
    check("node list", r.status == 200 and
          [n["node_id"] for n in r.json["nodes"]] ==
          ["hub1", "spoke-1", "spoke-2", "spoke-3"], r)
    r = call(base, "GET", "/nodes/spoke-1", key=master)
    check("node get", r.status == 200 and
          r.json["address"] == "10.50.0.2" and
          r.json["public_key"] == k1c and r.json["role"] == "spoke", r)

    # huge bodies
    big = b"{" + b" " * (900 << 10) + b"}"
    r = call(base, "POST", "/users", key=master, raw=big)
    check("huge body 413", is_json_error(r, 413), r)
    r = call(base, "POST", "/join", raw=b'{"node_id":"' + b"a" * 70000
             + b'"}', headers={"X-Join-Token": tok})
    check("huge join 413", is_json_error(r, 413), r)

    # removal reaches hubs
    p = Poll(base, hub["node_token"], hub_version, 20)
    p.start()
    time.sleep(0.3)
    r = call(base2, "DELETE", "/nodes/spoke-2", key=master)
    check("node delete", r.status == 200, r)
    p.join()
    check("hub poll sees node removal", p.resp.status == 200 and
          "spoke-2" not in peer_ids(p.resp.json) and p.elapsed < 2,
          (p.resp, p.elapsed))
    r = call(base, "GET", "/netmap", key=s2["node_token"])
    check("deleted node's token 401", is_json_error(r, 401), r)
    r = call(base, "GET", "/nodes/spoke-2", key=master)
    check("deleted node 404", is_json_error(r, 404), r)
    hub_version = p.resp.json["version"]
    p = Poll(base, hub["node_token"], hub_version, 20)
    p.start()
    time.sleep(0.3)
    r = call(base2, "DELETE", "/users/alice", key=master)
    check("user delete", r.status == 200, r)
    p.join()
    check("hub poll sees user removal", p.resp.status == 200 and
          not any(x["role"] == "device" for x in p.resp.json["peers"]) and
          p.elapsed < 2, (p.resp, p.elapsed))
    r = call(base, "GET", "/users", key=ak)
    check("deleted user's key 401", is_json_error(r, 401), r)
    r = call(base, "GET", "/users", key=bk)
    check("remaining users", r.status == 200 and r.json == ["bob"],
          r)
    r = call(base, "DELETE", f"/tokens/{hub_tok_id}", key=master)
    check("token delete", r.status == 200, r)
    r = call(base, "GET", "/metrics")
    check("metrics count", r.status == 200 and
          b"spokewire_controller_nodes 3" in r.body, r.body[-600:])


def concurrent_joins(a):
    bases = [a.base, a.base2]
    tok = token(a.base, a.master, uses=a.joins, expires_in=600)
    htok = token(a.base, a.master, role="hub", uses=1)
    r = join(a.base2, htok, "chub", pubkey(), role="hub")
    check("concurrent: hub", r.status == 200, r)

    def one(i):
        return join(bases[i % 2], tok, f"c{i}", pubkey())

    t = time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(max_workers=32) as ex:
        results = list(ex.map(one, range(a.joins)))
    dt = time.monotonic() - t
    bad = [r for r in results if r.status != 200]
    check(f"concurrent: {a.joins} joins over two controllers",
          not bad, bad[:3])
    addrs = [r.json["address"] for r in results if r.status == 200]
    check("concurrent: addresses unique", len(set(addrs)) == len(addrs),
          len(addrs) - len(set(addrs)))
    net = ipaddress.ip_network("10.50.0.0/16")
    check("concurrent: addresses in network",
          all(ipaddress.ip_address(x) in net for x in addrs))
    r = join(a.base, tok, "one-too-many", pubkey())
    check("concurrent: token exhausted after joins", is_json_error(r, 403),
          r)
    r = call(a.base2, "GET", "/nodes", key=a.master)
    nodes = r.json["nodes"] if r.status == 200 else []
    check("concurrent: both controllers agree", len(nodes) == a.joins + 1
          and len({n["address"] for n in nodes}) == len(nodes), len(nodes))
    print(f"# {a.joins} joins in {dt:.2f}s ({a.joins / dt:.0f}/s)")


def ratelimit(a):
    for i in range(a.burst):
        r = call(a.base, "GET", "/nodes", key="wrong-key-%d" % i)
        if r.status != 401:
            break
    check("ratelimit: failures up to the burst get 401", r.status == 401, r)
    r = call(a.base, "GET", "/nodes", key="wrong-again")
    check("ratelimit: then 429", is_json_error(r, 429), r)
    r = call(a.base, "GET", "/nodes", key=a.master)
    check("ratelimit: even a good key waits", is_json_error(r, 429), r)
    r = call(a.base, "POST", "/join", {"node_id": "a",
                                       "public_key": pubkey()},
             headers={"X-Join-Token": "swj_x"})
    check("ratelimit: joins too", is_json_error(r, 429), r)
    r = call(a.base, "GET", "/health")
    check("ratelimit: health still answers", r.status == 200, r)
    time.sleep(1.5)
    r = call(a.base, "GET", "/nodes", key=a.master)
    check("ratelimit: recovers", r.status == 200, r)


def main():
    global LABEL
    ap = argparse.ArgumentParser()
    ap.add_argument("mode", choices=["suite", "concurrent", "ratelimit"])
    ap.add_argument("--base", required=True)
    ap.add_argument("--base2")
    ap.add_argument("--master", required=True)
    ap.add_argument("--label", default="")
    ap.add_argument("--joins", type=int, default=200)
    ap.add_argument("--burst", type=int, default=5)
    a = ap.parse_args()
    LABEL = a.label + ": " if a.label else ""
    {"suite": suite, "concurrent": concurrent_joins,
     "ratelimit": ratelimit}[a.mode](a)
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
