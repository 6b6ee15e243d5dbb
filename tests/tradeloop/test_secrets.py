"""The one masking function (``tradeloop._secrets``): every URL and secret shape, everywhere it is used."""

from __future__ import annotations

import logging

import pytest

from gitops._git import scrub
from optimizer import mask_url as optimizer_mask_url
from tradeloop._secrets import environment_secrets, install_log_masking, mask_secrets, mask_url, url_password
from warehouse import masked_url

PW = "S3cret-pw"
SHAPES = {
    "scheme": f"postgresql+psycopg://tl:{PW}@db.example:5432/tl",
    "no scheme colon": f"postgresql//tl:{PW}@127.0.0.1:1/tl",
    "no scheme": f"tl:{PW}@127.0.0.1/tl",
    "odd port": f"postgresql://tl:{PW}@127.0.0.1:abc/tl",
    "no port": f"postgresql://tl:{PW}@localhost/tl",
    "ipv6 host": f"postgresql://tl:{PW}@[::1]:5432/tl",
    "password with slash": f"postgresql://tl:{PW}/x@host/tl",
    "password with at": f"postgresql://tl:{PW}@x@host/tl",
    "empty user": f"redis://:{PW}@host:6379/0",
    "query password": f"postgresql://tl@host/tl?sslmode=require&password={PW}",
    "query sslpassword": f"postgresql://tl@host/tl?sslpassword={PW}&x=1",
    "libpq dsn": f"host=db port=5432 user=tl password={PW} dbname=tl",
    "quoted in a message": f"error: --storage 'postgresql://tl:{PW}@h/db' cannot open",
    "token variable": f"GITHUB_TOKEN={PW}",
    "bearer header": f"Authorization: Bearer {PW}",
    "token header": f"Authorization: token {PW}",
    "git credential url": f"https://x-access-token:{PW}@github.com/o/r.git",
}


@pytest.mark.parametrize("text", list(SHAPES.values()), ids=list(SHAPES))
def test_every_shape_is_masked_everywhere(text: str) -> None:
    for mask in (mask_secrets, mask_url, masked_url, optimizer_mask_url, lambda t: scrub(t, [])):
        masked = mask(text)
        assert PW not in masked and "***" in masked, (mask, masked)


@pytest.mark.parametrize(
    "text",
    ["sqlite:////tmp/home/optuna.db", "memory", "postgresql+psycopg://postgres@127.0.0.1:5432/test",
     "git@github.com:owner/repo.git", "user@host:5432/db", "10:30 at noon", "error: row 3, column 'close'"],
)  # fmt: skip
def test_text_without_a_secret_is_unchanged(text: str) -> None:
    assert mask_secrets(text) == text


def test_token_shapes_and_known_secrets_are_masked_anywhere() -> None:
    token = "ghp_" + "a1B2c3D4e5F6g7H8i9J0k1L2"
    assert mask_secrets(f"the token {token} was refused") == "the token *** was refused"
    assert mask_secrets("the password hunter22 appears in free text", ["hunter22"]).count("***") == 1
    assert "hunter%2F2" not in mask_secrets("url-encoded hunter%2F2", ["hunter/2"])


def test_environment_secrets_come_from_token_and_url_variables() -> None:
    env = {
        "GITHUB_TOKEN": "ghs_tokenvalue",
        "TRADELOOP_DB_URL": f"postgresql//tl:{PW}@h/db",
        "TRADELOOP_OPTUNA_STORAGE": "postgresql://tl:other-pw@h/db",
    }
    assert sorted(environment_secrets(env)) == sorted(["ghs_tokenvalue", PW, "other-pw"])
    assert url_password(f"tl:{PW}@h/db") == PW and url_password("sqlite:////x.db") is None


def test_log_records_are_masked(caplog: pytest.LogCaptureFixture) -> None:
    install_log_masking()
    with caplog.at_level(logging.WARNING):
        logging.getLogger("some.library").warning("cannot connect to %s", SHAPES["scheme"])
    assert PW not in caplog.text and "tl:***@" in caplog.text
