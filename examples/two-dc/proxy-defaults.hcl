# A bare config entry, as written for `consul config write`: every sidecar of dc1 sends
# cross-datacenter traffic through dc1's own mesh gateways, unless its registration or an
# upstream says otherwise; the gateway gives up on a connection after 5 s (Consul's default,
# written out).
Kind = "proxy-defaults"
Name = "global"
Config {
  connect_timeout_ms = 5000
}
MeshGateway {
  Mode = "local"
}
