"""runner/lease.py: a runner's claims live as long as it does, renewed by a heartbeat and released on exit."""
import time

from conftest import as_record, wait_for
from mlp.options import resolve_config
from runner.lease import Lease, lease_seconds
from store import RunStore


def test_the_heartbeat_renews_the_leases_it_holds_and_releases_them_on_exit(tmp_path, monkeypatch):
    """Whatever the load, a renewal pushes the expiry past the one the claim set (the wait is only a deadline)."""
    monkeypatch.setenv("MLP_LEASE_SECONDS", "0.4")  # a renewal every 0.1 s
    store = RunStore(tmp_path / "runs.db")
    with Lease(store) as lease:
        run_id = lease.claim("s", resolve_config({}))
        claimed_until = store.get(run_id)["lease_until"]
        wait_for(lambda: store.get(run_id)["lease_until"] > claimed_until, timeout=30)  # 300 renewals' time
        assert store.get(run_id)["status"] == "running"
    row = store.get(run_id)
    assert (row["status"], row["error"], row["lease_until"]) == ("failed", "interrupted", None)


def test_a_lease_lasts_mlp_lease_seconds_60_by_default(tmp_path, monkeypatch):
    monkeypatch.delenv("MLP_LEASE_SECONDS", raising=False)
    assert lease_seconds() == 60
    monkeypatch.setenv("MLP_LEASE_SECONDS", "7.5")
    store = RunStore(tmp_path / "runs.db")
    before = time.time()
    run_id = Lease(store).claim("s", resolve_config({}))  # a lease not entered: no heartbeat renews it
    assert before + 7.5 <= store.get(run_id)["lease_until"] <= time.time() + 7.5


def test_a_lease_claims_a_finished_run_again_only_for_a_rerun_begun_after_it_ended(tmp_path):
    store = RunStore(tmp_path / "runs.db")
    config = resolve_config({})
    store.record("s", as_record(config, {"status": "finished", "ended_at": time.time() - 10}))
    lease = Lease(store)
    assert lease.claim("s", config) is None
    assert lease.claim("s", config, rerun_before=time.time() - 20) is None
    assert lease.claim("s", config, rerun_before=time.time()) is not None


def test_the_heartbeat_never_creates_a_store_deleted_under_it(tmp_path, monkeypatch):
    """Its first act is to open the store, which it must find, not make anew."""
    monkeypatch.setenv("MLP_LEASE_SECONDS", "0.4")
    store = RunStore(tmp_path / "runs.db")
    for path in tmp_path.glob("runs.db*"):
        path.unlink()
    with Lease(store):
        pass
    assert list(tmp_path.iterdir()) == []



def test_a_claim_lives_as_long_as_its_holder_however_many_lease_lengths_that_is(tmp_path, monkeypatch):
    """Each renewal is an event seen in the store: every one comes before the lease it extends ran out, and
    after each a second runner is refused the run, over three lease lengths past the claim's own expiry."""
    monkeypatch.setenv("MLP_LEASE_SECONDS", "2")  # a renewal every 0.5 s, each good for 2 s
    store, other = RunStore(tmp_path / "runs.db"), RunStore(tmp_path / "runs.db")
    config = resolve_config({})
    with Lease(store) as lease:
        run_id = lease.claim("s", config)
        first = previous = store.get(run_id)["lease_until"]
        while previous < first + 3 * lease_seconds():
            wait_for(lambda: store.get(run_id)["lease_until"] > previous, timeout=60)
            renewed = store.get(run_id)["lease_until"]
            assert renewed - lease_seconds() <= previous, "the lease ran out before it was renewed"
            assert other.claim("s", config, "another-host:1:x", lease_seconds()) is None
            previous = renewed
        assert store.get(run_id)["status"] == "running" and store.get(run_id)["attempts"] == 1
