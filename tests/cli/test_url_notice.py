"""The command line says which transport URL it uses: always when it is only the default
(RabbitMQ on localhost), with --verbose where it came from (password masked); when nothing
answers over fake:// the error says that fake:// reaches this process only; the usage line of
``call`` and ``cast`` lists only what is required."""

from __future__ import annotations

import pytest

from rpcmsg.cli import main


def test_the_default_url_is_announced(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("RPCMSG_TRANSPORT_URL", raising=False)
    main(["ping", "nobody", "--timeout", "0.2"])
    err = capsys.readouterr().err
    assert "no --url, $RPCMSG_TRANSPORT_URL or transport_url" in err
    assert "rabbit://" in err


def test_verbose_names_the_url_and_its_source_masked(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RPCMSG_TRANSPORT_URL", "redis://:s3cret@127.0.0.1:1/0")
    main(["-v", "ping", "nobody", "--timeout", "0.2"])
    err = capsys.readouterr().err
    assert "transport URL redis://" in err and "(from $RPCMSG_TRANSPORT_URL)" in err
    assert "s3cret" not in err


def test_fake_urls_say_they_reach_this_process_only(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--url", "fake://", "call", "nobody", "add", "--timeout", "0.2"]) == 3
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "no server listens on topic 'nobody'" in err[0]
    assert "fake:// is a broker inside this one process" in err[0]


def test_no_fake_hint_for_real_brokers(capsys: pytest.CaptureFixture[str]) -> None:
    main(["--url", "redis://127.0.0.1:1/0", "call", "nobody", "add", "--timeout", "0.2"])
    assert "fake://" not in capsys.readouterr().err


@pytest.mark.parametrize("command", ["call", "cast"])
def test_usage_lists_key_value_as_optional(
    command: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit):
        main([command])
    last = capsys.readouterr().err.strip().splitlines()[-1]
    assert last.endswith("the following arguments are required: topic, method")


def test_a_given_url_is_not_announced_without_verbose(
    capsys: pytest.CaptureFixture[str],
) -> None:
    main(["--url", "redis://127.0.0.1:1/0", "ping", "nobody", "--timeout", "0.2"])
    assert "transport URL" not in capsys.readouterr().err
