# The mesh as seen from datacenter dc1: local settings and what the catalog knows.
datacenter         = "dc1"
primary_datacenter = "dc1"
trust_domain       = "7d6c6a53-2b5e-4f8e-9f1d-2a9f1c3b4e5d.consul"
node_name          = "dc1-agent-1"
advertise_addr     = "10.1.0.9"

catalog = [
  # dc1's own mesh gateway is not listed: mesh-gateway.hcl registers it with this agent,
  # and the local agent's registrations are part of the catalog (sidecars in mode
  # "local" send cross-datacenter traffic to it).
  # dc2's mesh gateways, reached at their WAN addresses.
  {
    datacenter = "dc2"
    node       = "dc2-gw-1"
    address    = "10.2.0.5"
    service = {
      kind = "mesh-gateway", service = "mesh-gateway", port = 8443
      tagged_addresses = { wan = { address = "198.18.2.5", port = 443 } }
    }
    checks = [{ check_id = "gw-alive", status = "passing" }]
  },
  {
    datacenter = "dc2"
    node       = "dc2-gw-2"
    address    = "10.2.0.6"
    service = {
      kind = "mesh-gateway", service = "mesh-gateway", port = 8443
      tagged_addresses = { wan = { address = "198.18.2.6", port = 443 } }
    }
    checks = [{ check_id = "gw-alive", status = "passing" }]
  },
  # Services in dc2 (their sidecars), for mode "none" (direct) and for health.
  {
    datacenter = "dc2"
    node       = "dc2-app-1"
    address    = "10.2.1.10"
    service = {
      kind = "connect-proxy", service = "api-sidecar-proxy", port = 21000
      proxy = { destination_service_name = "api", local_service_port = 8080 }
    }
  },
  {
    datacenter = "dc2"
    node       = "dc2-app-1"
    address    = "10.2.1.10"
    service = {
      kind = "connect-proxy", service = "db-sidecar-proxy", port = 21001
      proxy = { destination_service_name = "db", local_service_port = 8080 }
    }
  },
  {
    datacenter = "dc2"
    node       = "dc2-app-2"
    address    = "10.2.1.11"
    service = {
      kind = "connect-proxy", service = "redis-sidecar-proxy", port = 21000
      proxy = { destination_service_name = "redis", local_service_port = 8080 }
    }
  },
  # A local service the dc1 gateway forwards to when dc2 calls it.
  {
    datacenter = "dc1"
    node       = "dc1-app-1"
    address    = "10.1.1.10"
    service = {
      kind = "connect-proxy", service = "billing-sidecar-proxy", port = 21000
      proxy = { destination_service_name = "billing", local_service_port = 8080 }
    }
  },
]
