import ipaddress

import pytest

from connectors.errors import SsrfBlockedError
from connectors.ssrf import SsrfPolicy, blocked_reason, embedded_ipv4

REFUSED = [
    "127.0.0.1", "127.255.255.254", "::1", "0.0.0.0", "::",
    "10.1.2.3", "172.16.0.1", "172.31.255.255", "192.168.1.1", "100.64.0.1",
    "169.254.169.254", "169.254.0.1", "fe80::1",
    "fc00::1", "fd12:3456::1",
    "::ffff:127.0.0.1", "::ffff:10.0.0.1", "::ffff:169.254.169.254",
    "64:ff9b::127.0.0.1", "64:ff9b::10.0.0.1", "64:ff9b::a9fe:a9fe", "64:ff9b:1::a00:1",
    "::127.0.0.1", "2002:7f00:1::1", "2002:c0a8:101::1", "2001:0:4136:e378:8000:63bf:3fff:fdd2",
    "224.0.0.1", "ff02::1", "192.0.2.1", "198.18.0.1", "240.0.0.1", "255.255.255.255",
]
ALLOWED = ["8.8.8.8", "1.1.1.1", "2001:4860:4860::8888", "::ffff:8.8.8.8", "64:ff9b::808:808"]


@pytest.mark.parametrize("address", REFUSED)
def test_refused_addresses(address: str) -> None:
    assert blocked_reason(ipaddress.ip_address(address)) is not None


@pytest.mark.parametrize("address", ALLOWED)
def test_public_addresses_pass(address: str) -> None:
    assert blocked_reason(ipaddress.ip_address(address)) is None


def test_embedded_ipv4_forms() -> None:
    assert str(embedded_ipv4(ipaddress.IPv6Address("64:ff9b::c0a8:101"))) == "192.168.1.1"
    assert str(embedded_ipv4(ipaddress.IPv6Address("::ffff:127.0.0.1"))) == "127.0.0.1"
    assert embedded_ipv4(ipaddress.IPv6Address("2001:db8::1")) is None


@pytest.mark.parametrize("host", ["127.0.0.1", "2130706433", "0x7f.0.0.1", "0177.0.0.1", "127.1", "0",
                                  "::ffff:127.0.0.1", "[::1]", "localhost", "169.254.169.254"])
async def test_vet_refuses_loopback_spellings_through_the_real_resolver(host: str) -> None:
    with pytest.raises(SsrfBlockedError) as err:
        await SsrfPolicy.parse("").vet(host, 80)
    assert "FLOWWRIGHT_HTTP_ALLOW_HOSTS" in err.value.message
    assert err.value.code == "ssrf_blocked"


async def test_allowlist_by_cidr_host_and_wildcard() -> None:
    assert str(await SsrfPolicy.parse("127.0.0.0/8").vet("2130706433", 80)) == "127.0.0.1"
    assert str(await SsrfPolicy.parse(["localhost"]).vet("LOCALHOST", 80)) in {"127.0.0.1", "::1"}
    policy = SsrfPolicy.parse("*.internal.example, 10.0.0.0/8 , ::1")
    assert policy.host_allowed("api.internal.example")
    assert not policy.host_allowed("internal.example.evil.com")
    assert str(await policy.vet("::1", 80)) == "::1"
    with pytest.raises(SsrfBlockedError):
        await policy.vet("127.0.0.1", 80)  # the v6 entry does not open v4 loopback
    assert str(await SsrfPolicy.parse("", enabled=False).vet("127.0.0.1", 80)) == "127.0.0.1"
