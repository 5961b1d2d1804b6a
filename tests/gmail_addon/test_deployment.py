"""The deployment resource and `stepline gmail deployment`."""
from __future__ import annotations

import json
from urllib.parse import urlsplit

import pytest
from click.testing import CliRunner
from flask import Flask

from gmail_addon.cli import gmail_cli
from gmail_addon.deployment import OAUTH_SCOPES, build_deployment, write_deployment

BASE = "https://stepline.example.com"


def test_deployment_has_the_triggers_and_the_minimal_scopes():
    d = build_deployment(BASE)
    assert d["oauthScopes"] == [
        "https://www.googleapis.com/auth/gmail.addons.execute",
        "https://www.googleapis.com/auth/gmail.addons.current.action.compose",
        "https://www.googleapis.com/auth/gmail.addons.current.message.metadata",
        "https://www.googleapis.com/auth/userinfo.email",
    ]
    common, gmail = d["addOns"]["common"], d["addOns"]["gmail"]
    assert common["name"] == "Stepline"
    assert common["logoUrl"] == BASE + "/addons/gmail/static/logo.png"
    assert common["homepageTrigger"]["runFunction"] == BASE + "/addons/gmail/homepage"
    assert gmail["homepageTrigger"]["runFunction"] == BASE + "/addons/gmail/homepage"
    assert gmail["contextualTriggers"] == [
        {"unconditional": {}, "onTriggerFunction": BASE + "/addons/gmail/message"}]
    compose = gmail["composeTrigger"]
    assert compose["draftAccess"] == "METADATA"
    assert [a["runFunction"] for a in compose["selectActions"]] == [BASE + "/addons/gmail/compose"]
    assert all(a["text"] for a in compose["selectActions"])


def test_every_url_in_the_deployment_is_served_by_the_blueprint():
    from gmail_addon import bp

    app = Flask("t")
    app.register_blueprint(bp, url_prefix="/addons/gmail")
    adapter = app.url_map.bind("stepline.example.com")
    d = build_deployment(BASE + "/")  # a trailing slash must not double up
    gmail = d["addOns"]["gmail"]
    urls = [d["addOns"]["common"]["homepageTrigger"]["runFunction"], gmail["homepageTrigger"]["runFunction"],
            gmail["contextualTriggers"][0]["onTriggerFunction"], gmail["composeTrigger"]["selectActions"][0]["runFunction"]]
    for url in urls:
        assert url.startswith(BASE + "/addons/gmail/")
        endpoint, _ = adapter.match(urlsplit(url).path, method="POST")
        assert endpoint.startswith("gmail_addon.")
    endpoint, _ = adapter.match(urlsplit(d["addOns"]["common"]["logoUrl"]).path, method="GET")
    assert endpoint == "gmail_addon.static"
    with app.test_client() as client:
        logo = client.get("/addons/gmail/static/logo.png")
        assert logo.status_code == 200 and logo.data.startswith(b"\x89PNG")


def test_write_deployment_and_cli(tmp_path, monkeypatch):
    path = write_deployment(BASE, tmp_path)
    assert path == tmp_path / "deployment.json"
    assert json.loads(path.read_text()) == build_deployment(BASE)

    folder = tmp_path / "cwd"
    folder.mkdir()
    monkeypatch.chdir(folder)
    runner = CliRunner()
    result = runner.invoke(gmail_cli, ["deployment", "--base-url", BASE])
    assert result.exit_code == 0, result.output
    assert result.output.strip() == str(folder / "deployment.json")
    assert json.loads((folder / "deployment.json").read_text())["oauthScopes"] == OAUTH_SCOPES
    bad = runner.invoke(gmail_cli, ["deployment", "--base-url", "stepline.example.com"])
    assert bad.exit_code == 2 and "absolute" in bad.output


def test_relative_base_url_is_refused():
    with pytest.raises(ValueError):
        build_deployment("/addons")
