"""The two manifests: documented XML structure, and the JSON one validated by Microsoft's tool."""
from __future__ import annotations

import io
import json
import shutil
import subprocess
import xml.etree.ElementTree as ET
import zipfile
from pathlib import Path

import pytest
from click.testing import CliRunner

from outlook_addin.cli import outlook_cli
from outlook_addin.manifest import build_json_manifest, build_xml_manifest, write_manifests

BASE = "https://stepline.example.com"
CLIENT_ID = "6f1c2a9e-0d4b-4c4e-9a51-3b2f5d7e8a90"
TOOLS = Path(__file__).resolve().parents[2] / "outlook_addin" / "tools"
VALIDATOR = TOOLS / "node_modules" / "office-addin-manifest" / "cli.js"

NS = {
    "o": "http://schemas.microsoft.com/office/appforoffice/1.1",
    "bt": "http://schemas.microsoft.com/office/officeappbasictypes/1.0",
    "v10": "http://schemas.microsoft.com/office/mailappversionoverrides",
    "v11": "http://schemas.microsoft.com/office/mailappversionoverrides/1.1",
}
XSI_TYPE = "{http://www.w3.org/2001/XMLSchema-instance}type"


def local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


@pytest.fixture
def root():
    return ET.fromstring(build_xml_manifest(BASE, CLIENT_ID).encode())


def test_xml_root_is_a_mail_app(root):
    assert root.tag == f"{{{NS['o']}}}OfficeApp"
    assert root.get(XSI_TYPE) == "MailApp"


def test_xml_base_elements_in_schema_order(root):
    # OfficeApp + MailApp xs:sequence (MS-OWEMXML); xs:sequence means order matters.
    order = ["Id", "Version", "ProviderName", "DefaultLocale", "DisplayName", "Description", "IconUrl",
             "HighResolutionIconUrl", "SupportUrl", "AppDomains", "Hosts", "Requirements", "FormSettings",
             "Permissions", "Rule", "DisableEntityHighlighting", "VersionOverrides"]
    assert [local(child.tag) for child in root] == order
    for child in root[:-1]:
        assert child.tag.startswith(f"{{{NS['o']}}}"), child.tag


def test_xml_base_values(root):
    assert len(root.find("o:Id", NS).text) == 36
    assert root.find("o:Version", NS).text == "1.0.0.0"
    assert root.find("o:Hosts/o:Host", NS).get("Name") == "Mailbox"
    sets = root.findall("o:Requirements/o:Sets/o:Set", NS)
    assert [(s.get("Name"), s.get("MinVersion")) for s in sets] == [("Mailbox", "1.6")]
    assert root.find("o:Permissions", NS).text == "ReadWriteItem"
    assert root.find("o:FormSettings/o:Form", NS).get(XSI_TYPE) == "ItemRead"
    assert root.find("o:FormSettings/o:Form/o:DesktopSettings/o:SourceLocation", NS).get("DefaultValue") == \
        f"{BASE}/addins/outlook/taskpane.html"
    rule = root.find("o:Rule", NS)
    assert rule.get(XSI_TYPE) == "RuleCollection"
    assert rule.find("o:Rule", NS).attrib == {XSI_TYPE: "ItemIs", "ItemType": "Message", "FormType": "Read"}
    for tag in ("IconUrl", "HighResolutionIconUrl", "SupportUrl"):
        assert root.find(f"o:{tag}", NS).get("DefaultValue").startswith(f"{BASE}/addins/outlook/")


def _resources(overrides, ns):
    return {
        image.get("id"): image.get("DefaultValue")
        for image in overrides.findall(f"{ns}:Resources/bt:Images/bt:Image", NS) + overrides.findall(f"{ns}:Resources/bt:Urls/bt:Url", NS)
    }


def test_xml_version_overrides_1_0_has_read_surface_button(root):
    v10 = root.find("v10:VersionOverrides", NS)
    assert v10 is not None and v10.get(XSI_TYPE) == "VersionOverridesV1_0"
    assert [local(c.tag) for c in v10] == ["Requirements", "Hosts", "Resources", "VersionOverrides"]
    host = v10.find("v10:Hosts/v10:Host", NS)
    assert host.get(XSI_TYPE) == "MailHost"
    point = host.find("v10:DesktopFormFactor/v10:ExtensionPoint", NS)
    assert point.get(XSI_TYPE) == "MessageReadCommandSurface"
    action = point.find("v10:OfficeTab/v10:Group/v10:Control/v10:Action", NS)
    assert action.get(XSI_TYPE) == "ShowTaskpane"
    # SupportsPinning/SupportsNoItemContext exist only in the 1.1 schema.
    assert [local(c.tag) for c in action] == ["SourceLocation"]
    resources = _resources(v10, "v10")
    assert resources[action.find("v10:SourceLocation", NS).get("resid")] == f"{BASE}/addins/outlook/taskpane.html"


def test_xml_version_overrides_1_1_is_pinnable_without_item_context(root):
    v11 = root.find("v10:VersionOverrides/v11:VersionOverrides", NS)
    assert v11 is not None and v11.get(XSI_TYPE) == "VersionOverridesV1_1"
    assert [local(c.tag) for c in v11] == ["Requirements", "Hosts", "Resources", "WebApplicationInfo"]
    sets = v11.find("v11:Requirements/bt:Sets", NS)
    assert sets.get("DefaultMinVersion") == "1.13"  # SupportsNoItemContext's requirement set
    assert sets.find("bt:Set", NS).get("Name") == "Mailbox"
    form = v11.find("v11:Hosts/v11:Host/v11:DesktopFormFactor", NS)
    assert [local(c.tag) for c in form] == ["FunctionFile", "ExtensionPoint"]
    point = form.find("v11:ExtensionPoint", NS)
    assert point.get(XSI_TYPE) == "MessageReadCommandSurface"
    assert point.find("v11:OfficeTab", NS).get("id") == "TabDefault"
    control = point.find("v11:OfficeTab/v11:Group/v11:Control", NS)
    assert control.get(XSI_TYPE) == "Button"
    assert [local(c.tag) for c in control] == ["Label", "Supertip", "Icon", "Action"]
    assert sorted(i.get("size") for i in control.findall("v11:Icon/bt:Image", NS)) == ["16", "32", "80"]
    action = control.find("v11:Action", NS)
    assert action.get(XSI_TYPE) == "ShowTaskpane"
    # ShowTaskpane's xs:sequence in the 1.1 schema: SourceLocation, SupportsPinning, SupportsNoItemContext.
    assert [local(c.tag) for c in action] == ["SourceLocation", "SupportsPinning", "SupportsNoItemContext"]
    assert action.find("v11:SupportsPinning", NS).text == "true"
    assert action.find("v11:SupportsNoItemContext", NS).text == "true"

    resources = _resources(v11, "v11")
    referenced = [action.find("v11:SourceLocation", NS).get("resid"), form.find("v11:FunctionFile", NS).get("resid")]
    referenced += [i.get("resid") for i in control.findall("v11:Icon/bt:Image", NS)]
    for resid in referenced:
        assert resources[resid].startswith(f"{BASE}/addins/outlook/"), resid
        assert len(resid) <= 32
    strings = {s.get("id") for s in v11.findall("v11:Resources/bt:ShortStrings/bt:String", NS)}
    strings |= {s.get("id") for s in v11.findall("v11:Resources/bt:LongStrings/bt:String", NS)}
    labels = [control.find("v11:Label", NS).get("resid"), control.find("v11:Supertip/v11:Description", NS).get("resid"),
              point.find("v11:OfficeTab/v11:Group/v11:Label", NS).get("resid")]
    assert set(labels) <= strings

    info = v11.find("v11:WebApplicationInfo", NS)
    assert [local(c.tag) for c in info] == ["Id", "Resource", "Scopes"]
    assert info.find("v11:Id", NS).text == CLIENT_ID
    assert info.find("v11:Resource", NS).text == f"api://stepline.example.com/{CLIENT_ID}"


def test_xml_without_client_id_has_no_sso_registration():
    root = ET.fromstring(build_xml_manifest(BASE).encode())
    assert root.find(".//v11:WebApplicationInfo", NS) is None


def test_xml_escapes_and_keeps_a_path_prefix():
    text = build_xml_manifest("https://example.com/stepline&co/")
    root = ET.fromstring(text.encode())
    assert root.find("o:IconUrl", NS).get("DefaultValue") == "https://example.com/stepline&co/addins/outlook/assets/icon-64.png"


@pytest.mark.parametrize("bad", ["http://stepline.example.com", "stepline.example.com", "https://", "https://x.com/?a=b"])
def test_manifests_need_an_https_base_url(bad):
    with pytest.raises(ValueError):
        build_xml_manifest(bad)
    with pytest.raises(ValueError):
        build_json_manifest(bad)


def test_ids_are_stable_per_deployment():
    assert build_json_manifest(BASE)["id"] == build_json_manifest(BASE + "/")["id"]
    assert build_json_manifest(BASE)["id"] != build_json_manifest("https://other.example.com")["id"]


def test_json_manifest_shape():
    manifest = build_json_manifest(BASE, CLIENT_ID)
    assert manifest["$schema"] == "https://developer.microsoft.com/json-schemas/teams/v1.17/MicrosoftTeams.schema.json"
    assert manifest["manifestVersion"] == "1.17"
    assert manifest["webApplicationInfo"] == {"id": CLIENT_ID, "resource": f"api://stepline.example.com/{CLIENT_ID}"}
    assert manifest["authorization"]["permissions"]["resourceSpecific"] == [
        {"name": "MailboxItem.ReadWrite.User", "type": "Delegated"}]
    (extension,) = manifest["extensions"]
    assert extension["requirements"]["scopes"] == ["mail"]
    (runtime,) = extension["runtimes"]
    assert runtime["code"]["page"] == f"{BASE}/addins/outlook/taskpane.html"
    (action,) = runtime["actions"]
    assert action["type"] == "openPage" and action["pinnable"] is True and action["supportsNoItemContext"] is True
    (ribbon,) = extension["ribbons"]
    assert ribbon["contexts"] == ["mailRead"]
    control = ribbon["tabs"][0]["groups"][0]["controls"][0]
    assert control["actionId"] == action["id"]


def test_json_manifest_without_client_id_has_no_web_application_info():
    assert "webApplicationInfo" not in build_json_manifest(BASE)


def _validate_with_office_tool(path: Path) -> subprocess.CompletedProcess:
    if shutil.which("node") is None:
        pytest.skip("node is not installed: the JSON manifest is validated with the npm package office-addin-manifest")
    assert VALIDATOR.is_file(), "office-addin-manifest is missing: run `npm ci --prefix outlook_addin/tools`"
    return subprocess.run(["node", str(VALIDATOR), "validate", str(path)], cwd=TOOLS, capture_output=True,
                          text=True, timeout=120, stdin=subprocess.DEVNULL)


def test_json_manifest_passes_office_addin_manifest_validation(tmp_path):
    paths = write_manifests(BASE, tmp_path, CLIENT_ID)
    result = _validate_with_office_tool(paths[1])
    assert result.returncode == 0, result.stdout + result.stderr
    assert "not valid" not in result.stdout


def test_office_addin_manifest_does_reject_a_broken_manifest(tmp_path):
    """Guards the test above against a validator that accepts anything."""
    manifest = build_json_manifest(BASE, CLIENT_ID)
    manifest["accentColor"] = "blue"  # the schema wants #RRGGBB
    path = tmp_path / "manifest.json"
    path.write_text(json.dumps(manifest))
    result = _validate_with_office_tool(path)
    assert result.returncode != 0
    assert "accentColor" in result.stdout


def test_write_manifests_writes_both_and_an_app_package(tmp_path):
    paths = write_manifests(BASE, tmp_path / "out", CLIENT_ID)
    assert [p.name for p in paths[:2]] == ["manifest.xml", "manifest.json"]
    assert all(p.is_file() and p.parent == tmp_path / "out" for p in paths)
    ET.parse(paths[0])
    assert json.loads(paths[1].read_text())["webApplicationInfo"]["id"] == CLIENT_ID
    package = next(p for p in paths if p.suffix == ".zip")
    with zipfile.ZipFile(io.BytesIO(package.read_bytes())) as zf:
        assert sorted(zf.namelist()) == ["color.png", "manifest.json", "outline.png"]
        assert zf.read("color.png")[:8] == b"\x89PNG\r\n\x1a\n"
        assert json.loads(zf.read("manifest.json")) == json.loads(paths[1].read_text())


def test_cli_writes_into_the_current_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(outlook_cli, ["manifest", "--base-url", BASE + "/", "--client-id", CLIENT_ID])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "manifest.xml").is_file()
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert manifest["extensions"][0]["runtimes"][0]["code"]["page"] == f"{BASE}/addins/outlook/taskpane.html"
    assert manifest["webApplicationInfo"]["id"] == CLIENT_ID


def test_cli_takes_the_client_id_from_the_environment(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(outlook_cli, ["manifest", "--base-url", BASE], env={"MS_CLIENT_ID": CLIENT_ID})
    assert result.exit_code == 0, result.output
    assert json.loads((tmp_path / "manifest.json").read_text())["webApplicationInfo"]["id"] == CLIENT_ID


def test_cli_refuses_http(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(outlook_cli, ["manifest", "--base-url", "http://stepline.example.com"],
                                env={"MS_CLIENT_ID": ""})
    assert result.exit_code == 2
    assert "https" in result.output
    assert not (tmp_path / "manifest.xml").exists()


def test_cli_group_is_named_outlook():
    assert outlook_cli.name == "outlook"
    assert "manifest" in outlook_cli.commands
