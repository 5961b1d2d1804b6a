"""The Outlook add-in's two manifests, both generated from the server's public URL.

Admins install an Office add-in from a manifest that names absolute HTTPS URLs, so the manifest
depends on where *this* Stepline runs; it is generated (CLI ``stepline outlook manifest`` or
``GET /addins/outlook/manifest.xml``) rather than checked in.

* ``manifest.xml``: the add-in only manifest (``MailApp``). It works in every Outlook that runs
  add-ins and is what "Add a custom add-in from file" and Exchange admin deployment take.
* ``manifest.json``: the unified manifest for Microsoft 365 (Teams app schema with
  ``extensions``), for Microsoft 365 admin center "Integrated apps" and Teams admin center. It
  is zipped with its two icons (``color.png``, ``outline.png``) into an app package.

Both declare the same thing: a button on the message read surface that opens the task pane,
pinnable and able to open with no message selected (Mailbox 1.13), ReadWriteItem access
(needed for ``displayReplyForm``), and, when a client id is given, the Entra app used for SSO.
"""
from __future__ import annotations

import io
import json
import uuid
import zipfile
from pathlib import Path
from urllib.parse import urlsplit
from xml.sax.saxutils import escape, quoteattr

from .icons import icon_png

ADDIN_PATH = "/addins/outlook"
VERSION = "1.0.0"
NAME = "Stepline"
FULL_NAME = "Stepline tasks for Outlook"
DESCRIPTION = "Your Stepline tasks in Outlook, opened in Outlook's own compose window."
LONG_DESCRIPTION = (
    "Shows the signed-in rep's Stepline tasks due today and overdue, email tasks first. "
    "Open fills Outlook's compose window with the recipient, subject and rendered template "
    "(a reply in the thread for follow-ups); Mark as sent, Complete and Skip update Stepline."
)
JSON_SCHEMA_URL = "https://developer.microsoft.com/json-schemas/teams/v1.17/MicrosoftTeams.schema.json"
MAILBOX_MIN = "1.6"  # displayNewMessageForm with toRecipients/subject/htmlBody needs 1.6
NO_ITEM_CONTEXT_MIN = "1.13"  # SupportsNoItemContext / supportsNoItemContext
APP_PACKAGE_NAME = "stepline-outlook-app.zip"


def normalize_base_url(base_url: str) -> str:
    """``https://host[/prefix]`` without a trailing slash; Office only loads add-ins over HTTPS."""
    base = (base_url or "").strip().rstrip("/")
    parts = urlsplit(base)
    if parts.scheme != "https" or not parts.hostname:
        raise ValueError(f"the base URL must be an https:// URL (Office loads add-ins only over HTTPS), got {base_url!r}")
    if parts.query or parts.fragment:
        raise ValueError("the base URL must not have a query or fragment")
    return base


def addin_ids(base: str) -> tuple[str, str]:
    """Stable ids per deployment: regenerating a manifest for the same URL updates, not duplicates."""
    return (
        str(uuid.uuid5(uuid.NAMESPACE_URL, base + ADDIN_PATH + "#xml")),
        str(uuid.uuid5(uuid.NAMESPACE_URL, base + ADDIN_PATH + "#json")),
    )


def sso_resource(base: str, client_id: str) -> str:
    """The Application ID URI that Office SSO (``getAccessToken``) asks for: api://host/client-id."""
    return f"api://{urlsplit(base).netloc}/{client_id}"


def _urls(base: str) -> dict[str, str]:
    root = base + ADDIN_PATH
    return {
        "root": root,
        "taskpane": f"{root}/taskpane.html",
        "commands": f"{root}/commands.html",
        "support": f"{root}/support",
        **{f"icon{n}": f"{root}/assets/icon-{n}.png" for n in (16, 32, 64, 80, 128)},
    }


def build_xml_manifest(base_url: str, client_id: str | None = None) -> str:
    """The add-in only (XML) manifest for a Stepline served at ``base_url``."""
    base = normalize_base_url(base_url)
    u = _urls(base)
    xml_id, _ = addin_ids(base)
    host = urlsplit(base).netloc
    a = quoteattr  # attribute values, quoted and escaped

    def button(extra: str) -> str:
        return f"""
            <ExtensionPoint xsi:type="MessageReadCommandSurface">
              <OfficeTab id="TabDefault">
                <Group id="steplineReadGroup">
                  <Label resid="Group.Label"/>
                  <Control xsi:type="Button" id="steplineOpenPane">
                    <Label resid="Button.Label"/>
                    <Supertip>
                      <Title resid="Button.Label"/>
                      <Description resid="Button.Tooltip"/>
                    </Supertip>
                    <Icon>
                      <bt:Image size="16" resid="Icon.16"/>
                      <bt:Image size="32" resid="Icon.32"/>
                      <bt:Image size="80" resid="Icon.80"/>
                    </Icon>
                    <Action xsi:type="ShowTaskpane">
                      <SourceLocation resid="Taskpane.Url"/>{extra}
                    </Action>
                  </Control>
                </Group>
              </OfficeTab>
            </ExtensionPoint>"""

    resources = f"""
          <Resources>
            <bt:Images>
              <bt:Image id="Icon.16" DefaultValue={a(u["icon16"])}/>
              <bt:Image id="Icon.32" DefaultValue={a(u["icon32"])}/>
              <bt:Image id="Icon.80" DefaultValue={a(u["icon80"])}/>
            </bt:Images>
            <bt:Urls>
              <bt:Url id="Taskpane.Url" DefaultValue={a(u["taskpane"])}/>
              <bt:Url id="Commands.Url" DefaultValue={a(u["commands"])}/>
            </bt:Urls>
            <bt:ShortStrings>
              <bt:String id="Group.Label" DefaultValue="Stepline"/>
              <bt:String id="Button.Label" DefaultValue="Stepline tasks"/>
            </bt:ShortStrings>
            <bt:LongStrings>
              <bt:String id="Button.Tooltip" DefaultValue="Open your Stepline tasks due today and overdue."/>
            </bt:LongStrings>
          </Resources>"""

    web_app_info = ""
    if client_id:
        web_app_info = f"""
          <WebApplicationInfo>
            <Id>{escape(client_id)}</Id>
            <Resource>{escape(sso_resource(base, client_id))}</Resource>
            <Scopes>
              <Scope>openid</Scope>
              <Scope>profile</Scope>
            </Scopes>
          </WebApplicationInfo>"""

    return f"""<?xml version="1.0" encoding="UTF-8"?>
<!-- Generated by `stepline outlook manifest` for {escape(base)}; regenerate rather than edit. -->
<OfficeApp xmlns="http://schemas.microsoft.com/office/appforoffice/1.1"
           xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"
           xmlns:bt="http://schemas.microsoft.com/office/officeappbasictypes/1.0"
           xmlns:mailappor="http://schemas.microsoft.com/office/mailappversionoverrides/1.0"
           xsi:type="MailApp">
  <Id>{xml_id}</Id>
  <Version>{VERSION}.0</Version>
  <ProviderName>Stepline</ProviderName>
  <DefaultLocale>en-US</DefaultLocale>
  <DisplayName DefaultValue="{NAME}"/>
  <Description DefaultValue={a(DESCRIPTION)}/>
  <IconUrl DefaultValue={a(u["icon64"])}/>
  <HighResolutionIconUrl DefaultValue={a(u["icon128"])}/>
  <SupportUrl DefaultValue={a(u["support"])}/>
  <AppDomains>
    <AppDomain>{escape("https://" + host)}</AppDomain>
  </AppDomains>
  <Hosts>
    <Host Name="Mailbox"/>
  </Hosts>
  <Requirements>
    <Sets>
      <Set Name="Mailbox" MinVersion="{MAILBOX_MIN}"/>
    </Sets>
  </Requirements>
  <FormSettings>
    <Form xsi:type="ItemRead">
      <DesktopSettings>
        <SourceLocation DefaultValue={a(u["taskpane"])}/>
        <RequestedHeight>450</RequestedHeight>
      </DesktopSettings>
    </Form>
  </FormSettings>
  <Permissions>ReadWriteItem</Permissions>
  <Rule xsi:type="RuleCollection" Mode="Or">
    <Rule xsi:type="ItemIs" ItemType="Message" FormType="Read"/>
  </Rule>
  <DisableEntityHighlighting>false</DisableEntityHighlighting>
  <VersionOverrides xmlns="http://schemas.microsoft.com/office/mailappversionoverrides" xsi:type="VersionOverridesV1_0">
    <Requirements>
      <bt:Sets DefaultMinVersion="{MAILBOX_MIN}">
        <bt:Set Name="Mailbox"/>
      </bt:Sets>
    </Requirements>
    <Hosts>
      <Host xsi:type="MailHost">
        <DesktopFormFactor>
          <FunctionFile resid="Commands.Url"/>{button("")}
        </DesktopFormFactor>
      </Host>
    </Hosts>{resources}
    <!-- Clients with Mailbox {NO_ITEM_CONTEXT_MIN} use this instead: pinnable, and opens with no message selected. -->
    <VersionOverrides xmlns="http://schemas.microsoft.com/office/mailappversionoverrides/1.1" xsi:type="VersionOverridesV1_1">
      <Requirements>
        <bt:Sets DefaultMinVersion="{NO_ITEM_CONTEXT_MIN}">
          <bt:Set Name="Mailbox"/>
        </bt:Sets>
      </Requirements>
      <Hosts>
        <Host xsi:type="MailHost">
          <DesktopFormFactor>
            <FunctionFile resid="Commands.Url"/>{button('''
                      <SupportsPinning>true</SupportsPinning>
                      <SupportsNoItemContext>true</SupportsNoItemContext>''')}
          </DesktopFormFactor>
        </Host>
      </Hosts>{resources}{web_app_info}
    </VersionOverrides>
  </VersionOverrides>
</OfficeApp>
"""


def build_json_manifest(base_url: str, client_id: str | None = None) -> dict:
    """The unified manifest for Microsoft 365 (schema v1.17) for a Stepline at ``base_url``."""
    base = normalize_base_url(base_url)
    u = _urls(base)
    _, json_id = addin_ids(base)
    host = urlsplit(base).hostname
    icons = [{"size": n, "url": u[f"icon{n}"]} for n in (16, 32, 80)]
    manifest: dict = {
        "$schema": JSON_SCHEMA_URL,
        "manifestVersion": "1.17",
        "version": VERSION,
        "id": json_id,
        "localizationInfo": {"defaultLanguageTag": "en-us", "additionalLanguages": []},
        "developer": {
            "name": "Stepline",
            "websiteUrl": base,
            "privacyUrl": u["support"],
            "termsOfUseUrl": u["support"],
        },
        "name": {"short": NAME, "full": FULL_NAME},
        "description": {"short": DESCRIPTION, "full": LONG_DESCRIPTION},
        "icons": {"outline": "outline.png", "color": "color.png"},
        "accentColor": "#1F6FEB",
        "validDomains": [host],
        "authorization": {
            "permissions": {"resourceSpecific": [{"name": "MailboxItem.ReadWrite.User", "type": "Delegated"}]}
        },
        "extensions": [
            {
                "requirements": {
                    "scopes": ["mail"],
                    "capabilities": [{"name": "Mailbox", "minVersion": MAILBOX_MIN}],
                },
                "runtimes": [
                    {
                        "requirements": {"capabilities": [{"name": "Mailbox", "minVersion": NO_ITEM_CONTEXT_MIN}]},
                        "id": "TaskPaneRuntime",
                        "type": "general",
                        "code": {"page": u["taskpane"]},
                        "lifetime": "short",
                        "actions": [
                            {
                                "id": "ShowStepline",
                                "type": "openPage",
                                "view": "dashboard",
                                "pinnable": True,
                                "supportsNoItemContext": True,
                                "multiselect": True,
                            }
                        ],
                    }
                ],
                "ribbons": [
                    {
                        "contexts": ["mailRead"],
                        "tabs": [
                            {
                                "builtInTabId": "TabDefault",
                                "groups": [
                                    {
                                        "id": "steplineReadGroup",
                                        "label": "Stepline",
                                        "icons": icons,
                                        "controls": [
                                            {
                                                "id": "steplineOpenPane",
                                                "type": "button",
                                                "label": "Stepline tasks",
                                                "icons": icons,
                                                "supertip": {
                                                    "title": "Stepline tasks",
                                                    "description": "Open your Stepline tasks due today and overdue.",
                                                },
                                                "actionId": "ShowStepline",
                                            }
                                        ],
                                    }
                                ],
                            }
                        ],
                    }
                ],
            }
        ],
    }
    if client_id:
        manifest["webApplicationInfo"] = {"id": client_id, "resource": sso_resource(base, client_id)}
    return manifest


def app_package(base_url: str, client_id: str | None = None) -> bytes:
    """The zip that Microsoft 365 admin center and Teams take: manifest.json plus its two icons."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("manifest.json", json.dumps(build_json_manifest(base_url, client_id), indent=2) + "\n")
        zf.writestr("color.png", icon_png(192))
        zf.writestr("outline.png", icon_png(32, outline=True))
    return buffer.getvalue()


def write_manifests(base_url: str, folder: Path, client_id: str | None = None) -> list[Path]:
    """Write manifest.xml, manifest.json, its icons and the app package zip into ``folder``.

    Returns the paths written, manifest.xml and manifest.json first.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    files: dict[str, bytes] = {
        "manifest.xml": build_xml_manifest(base_url, client_id).encode("utf-8"),
        "manifest.json": (json.dumps(build_json_manifest(base_url, client_id), indent=2) + "\n").encode("utf-8"),
        "color.png": icon_png(192),
        "outline.png": icon_png(32, outline=True),
        APP_PACKAGE_NAME: app_package(base_url, client_id),
    }
    written = []
    for name, data in files.items():
        path = folder / name
        path.write_bytes(data)
        written.append(path)
    return written
