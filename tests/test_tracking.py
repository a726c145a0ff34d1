"""runner/tracking.py: W&B's `auto` mode goes online only with credentials, whatever the suite's environment."""
import pytest

from runner.tracking import has_credentials, resolve_mode


@pytest.fixture
def no_settings(tmp_path, monkeypatch):
    """An empty home (no ~/.netrc) and no W&B variables: each test sets what it needs."""
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("NETRC", raising=False)
    for name in ("WANDB_MODE", "WANDB_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    return tmp_path


def test_auto_is_offline_without_credentials(no_settings):
    assert not has_credentials() and resolve_mode("auto") == "offline"


def test_auto_is_online_with_an_api_key(no_settings, monkeypatch):
    monkeypatch.setenv("WANDB_API_KEY", "k" * 40)
    assert resolve_mode("auto") == "online"


def test_auto_is_online_with_a_wandb_login_in_netrc(no_settings):
    (no_settings / ".netrc").write_text("machine api.wandb.ai\n  login user\n  password " + "p" * 40 + "\n")
    (no_settings / ".netrc").chmod(0o600)
    assert resolve_mode("auto") == "online"
    (no_settings / ".netrc").write_text("machine example.org\n  login user\n  password secret\n")
    assert resolve_mode("auto") == "offline"  # another site's login is no W&B credential


def test_wandb_mode_and_an_explicit_mode_win_over_credentials(no_settings, monkeypatch):
    monkeypatch.setenv("WANDB_API_KEY", "k" * 40)
    monkeypatch.setenv("WANDB_MODE", "offline")
    assert resolve_mode("auto") == "offline"
    assert resolve_mode("disabled") == "disabled" and resolve_mode("online") == "online"
