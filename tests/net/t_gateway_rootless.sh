#!/bin/bash
# The gateway's HTTP and TLS checks (t_gateway_http.sh) again, the gateway
# now run as uid 65534 with no capabilities: userspace mode, the mesh
# reached through its node's SOCKS5 proxy, ports 8080 and 8443.
GW_ROOTLESS=1
# shellcheck source=tests/net/t_gateway_http.sh
. "$(dirname "$0")/t_gateway_http.sh"
