#!/usr/bin/python3
"""Drives a kvd cluster with the python3-etcd3 library (Debian's package), as a Python service
would: key-value basics, transactions, the watch iterator, leases (grant, refresh, TTL, keys,
revoke, expiry) and a lock built from lease, txn and watch, across the members of the cluster.

Usage: etcd3_client_check.py HOST:PORT [HOST:PORT ...]
Prints one line per check and exits non-zero at the first failure.
"""
import sys
import threading
import time

import etcd3


def check(cond, what):
    if not cond:
        print("FAIL:", what, flush=True)
        sys.exit(1)
    print("ok:", what, flush=True)


def until(cond, timeout, what):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return
        time.sleep(0.05)
    check(cond(), what)


def connect(endpoint):
    host, port = endpoint.rsplit(":", 1)
    return etcd3.client(host=host, port=int(port), timeout=10)


def main(endpoints):
    clients = [connect(e) for e in endpoints]
    a = clients[0]
    b = clients[-1]

    # Key-value basics, written through one member, read through another.
    a.put("/py/config/color", "blue")
    value, meta = b.get("/py/config/color")
    check(value == b"blue", "put on one member, get on another")
    check(meta.version == 1 and meta.create_revision == meta.mod_revision, "metadata of a new key")
    a.put("/py/config/size", "10")
    check(sorted(m.key for _, m in b.get_prefix("/py/config/")) ==
          [b"/py/config/color", b"/py/config/size"], "get_prefix")

    # Transactions: compare-and-swap in both directions.
    ok, _ = a.transaction(
        compare=[a.transactions.value("/py/config/color") == "blue"],
        success=[a.transactions.put("/py/config/color", "red")],
        failure=[a.transactions.get("/py/config/color")])
    check(ok, "txn compare succeeds and runs success ops")
    ok, responses = b.transaction(
        compare=[b.transactions.value("/py/config/color") == "blue"],
        success=[b.transactions.put("/py/config/color", "green")],
        failure=[b.transactions.get("/py/config/color")])
    check(not ok and responses[0][0][0] == b"red", "txn compare fails and runs failure ops")
    ok, _ = a.transaction(
        compare=[a.transactions.version("/py/missing") == 0],
        success=[a.transactions.put("/py/created", "1"), a.transactions.delete("/py/config/size")],
        failure=[])
    check(ok and b.get("/py/config/size")[0] is None and b.get("/py/created")[0] == b"1",
          "txn with several ops is applied whole")

    # The watch iterator, on a member other than the writer's.
    events, cancel = b.watch_prefix("/py/svc/")
    seen = []

    def consume():
        for ev in events:
            seen.append(ev)

    reader = threading.Thread(target=consume, daemon=True)
    reader.start()
    for i in range(5):
        a.put("/py/svc/node%d" % i, "up%d" % i)
    a.delete("/py/svc/node0")
    until(lambda: len(seen) >= 6, 15, "watch iterator receives every event")
    check([type(e).__name__ for e in seen] == ["PutEvent"] * 5 + ["DeleteEvent"],
          "watch events in order with their types")
    check([e.key for e in seen[:5]] == [b"/py/svc/node%d" % i for i in range(5)],
          "watch event keys")
    check(seen[4].value == b"up4", "watch event values")
    revs = [e.mod_revision for e in seen]
    check(revs == sorted(revs) and len(set(revs)) == len(revs), "watch revisions increase")
    cancel()

    # Replay from a past revision.
    first = seen[0].mod_revision
    replayed = []
    events2, cancel2 = a.watch_prefix("/py/svc/", start_revision=first)
    for ev in events2:
        replayed.append(ev)
        if len(replayed) == 6:
            break
    cancel2()
    check([e.mod_revision for e in replayed] == revs, "watch from a start revision replays history")

    # Leases: grant, attach, refresh, TTL and keys, revoke.
    lease = a.lease(30)
    check(lease.ttl == 30, "lease grant")
    a.put("/py/svc/leased", "x", lease=lease)
    info = b.get_lease_info(lease.id)
    check(info.ID == lease.id and info.grantedTTL == 30 and 0 < info.TTL <= 30,
          "lease TTL from another member")
    check(list(info.keys) == [b"/py/svc/leased"], "lease keys")
    refreshed = lease.refresh()
    check(refreshed and refreshed[0].TTL == 30, "lease refresh (keep-alive)")
    check(b.refresh_lease is not None and list(b.refresh_lease(lease.id))[0].TTL == 30,
          "keep-alive through another member")
    lease.revoke()
    check(b.get("/py/svc/leased")[0] is None, "revoking a lease deletes its keys")
    check(b.get_lease_info(lease.id).TTL == -1, "a revoked lease has TTL -1")
    check(list(a.refresh_lease(lease.id))[0].TTL == 0, "keep-alive of a revoked lease: TTL 0")

    # A short lease left alone expires, and watchers see its keys go.
    # The watch starts at the put's revision: the lease may expire before the watch is created.
    short = b.lease(1)
    put = b.put("/py/svc/ephemeral", "x", lease=short)
    gone = []
    events3, cancel3 = a.watch("/py/svc/ephemeral", start_revision=put.header.revision)

    def wait_delete():
        for ev in events3:
            if type(ev).__name__ == "DeleteEvent":
                gone.append(ev)
                return

    t = threading.Thread(target=wait_delete, daemon=True)
    t.start()
    until(lambda: gone, 20, "an expired lease's key is deleted and watched")
    cancel3()
    check(a.get_lease_info(short.id).TTL == -1, "the expired lease is gone")

    # The lock recipe of the library (lease + create-revision txn + watch), written out with the
    # library's primitives: Debian's python3-etcd3 Lock.acquire does not run with Debian's
    # tenacity. One holder at a time.
    holders = []
    overlap = []
    lock_errors = []

    def acquire(client, key):
        while True:
            lease = client.lease(10)
            ok, _ = client.transaction(
                compare=[client.transactions.create(key) == 0],
                success=[client.transactions.put(key, "held", lease)],
                failure=[])
            if ok:
                return lease
            lease.revoke()
            try:
                client.watch_once(key, timeout=0.5)
            except etcd3.exceptions.WatchTimedOut:
                pass

    def worker(client, n):
        try:
            for _ in range(3):
                lease = acquire(client, "/py/lock")
                holders.append(n)
                if len(holders) > 1:
                    overlap.append(list(holders))
                time.sleep(0.05)
                holders.remove(n)
                lease.revoke()
        except Exception as e:  # reported below
            lock_errors.append(repr(e))

    threads = [threading.Thread(target=worker, args=(c, i)) for i, c in enumerate(clients)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(60)
    check(not lock_errors, "lock recipe ran without errors %s" % lock_errors)
    check(not overlap, "lock holders never overlapped")

    status = a.status()
    check(status.leader is not None, "status names a leader")
    print("all checks passed", flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
