"""Microsoft's own Graph client against the oathvault directory.

Run by crates/directory/tests/msgraph_sdk.rs with the cached virtual
environment that scripts/test makes (msgraph-beta-sdk from PyPI). Only the
base URL is changed; the token comes from the directory's token endpoint.
Reads a JSON config on stdin, prints one JSON object of results on stdout.
"""

import asyncio
import json
import sys
import urllib.parse
import urllib.request

from kiota_abstractions.authentication import (
    AccessTokenProvider,
    AllowedHostsValidator,
    BaseBearerTokenAuthenticationProvider,
)
from kiota_abstractions.base_request_configuration import RequestConfiguration
from msgraph_beta import GraphServiceClient
from msgraph_beta.graph_request_adapter import GraphRequestAdapter
from msgraph_beta.generated.directory.authentication_method_devices.hardware_oath_devices.hardware_oath_devices_request_builder import (
    HardwareOathDevicesRequestBuilder,
)
from msgraph_beta.generated.models.hardware_oath_authentication_method import (
    HardwareOathAuthenticationMethod,
)
from msgraph_beta.generated.models.hardware_oath_token_authentication_method_device import (
    HardwareOathTokenAuthenticationMethodDevice,
)
from msgraph_beta.generated.models.hardware_oath_token_hash_function import (
    HardwareOathTokenHashFunction,
)
from msgraph_beta.generated.users.item.authentication.hardware_oath_methods.item.activate.activate_post_request_body import (
    ActivatePostRequestBody,
)


class DirectoryToken(AccessTokenProvider):
    """Client credentials against the directory's token endpoint."""

    def __init__(self, cfg):
        self.cfg = cfg
        self.token = None

    async def get_authorization_token(self, uri, additional_authentication_context=None):
        if self.token is None:
            form = urllib.parse.urlencode({
                "grant_type": "client_credentials",
                "client_id": self.cfg["client_id"],
                "client_secret": self.cfg["client_secret"],
                "scope": "https://graph.microsoft.com/.default",
            }).encode()
            url = f"{self.cfg['authority']}/{self.cfg['tenant_id']}/oauth2/v2.0/token"
            with urllib.request.urlopen(url, data=form) as r:
                self.token = json.load(r)["access_token"]
        return self.token

    def get_allowed_hosts_validator(self):
        return AllowedHostsValidator([])


async def main(cfg):
    adapter = GraphRequestAdapter(BaseBearerTokenAuthenticationProvider(DirectoryToken(cfg)))
    adapter.base_url = cfg["graph_url"]
    client = GraphServiceClient(request_adapter=adapter)
    devices = client.directory.authentication_method_devices.hardware_oath_devices
    out = {}

    # Create (the documented example).
    created = await devices.post(HardwareOathTokenAuthenticationMethodDevice(
        display_name="Token 1",
        serial_number="TOTP123456",
        manufacturer="Contoso",
        model="Hardware Token 1000",
        secret_key=cfg["secret"],
        time_interval_in_seconds=30,
        hash_function=HardwareOathTokenHashFunction.Hmacsha1,
    ))
    out["created"] = {"id": created.id, "status": str(created.status.value), "secret": created.secret_key}

    # List everything, following @odata.nextLink.
    page = await devices.get()
    serials, pages = [], 0
    while True:
        pages += 1
        serials += [d.serial_number for d in page.value]
        if not page.odata_next_link:
            break
        page = await devices.with_url(page.odata_next_link).get()
    out["listed"] = len(serials)
    out["distinct"] = len(set(serials))
    out["pages"] = pages

    # Filter.
    q = HardwareOathDevicesRequestBuilder.HardwareOathDevicesRequestBuilderGetQueryParameters(
        filter="serialNumber eq 'TOTP123456'", select=["id", "serialNumber", "status"], top=5)
    found = await devices.get(RequestConfiguration(query_parameters=q))
    out["filtered"] = [d.serial_number for d in found.value]

    # Assign to a user, activate with the code read from the token.
    methods = client.users.by_user_id(cfg["user"]).authentication.hardware_oath_methods
    assigned = await methods.post(HardwareOathAuthenticationMethod(
        device=HardwareOathTokenAuthenticationMethodDevice(id=created.id)))
    out["assigned"] = assigned.id
    await methods.by_hardware_oath_authentication_method_id(created.id).activate.post(
        ActivatePostRequestBody(verification_code=cfg["code"], display_name="Amy's token"))
    after = await devices.by_hardware_oath_token_authentication_method_device_id(created.id).get()
    out["activated"] = {"status": str(after.status.value), "display_name": after.display_name,
                        "assigned_to": after.assigned_to.id if after.assigned_to else None}

    # Unassign and delete.
    await methods.by_hardware_oath_authentication_method_id(created.id).delete()
    await devices.by_hardware_oath_token_authentication_method_device_id(created.id).delete()
    gone = await devices.get(RequestConfiguration(query_parameters=q))
    out["after_delete"] = len(gone.value)
    print(json.dumps(out))


if __name__ == "__main__":
    asyncio.run(main(json.load(sys.stdin)))
