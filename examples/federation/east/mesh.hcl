# Cluster "east": datacenters dc1 (primary; this file is written from it) and dc2, joined
# by WAN federation: one trust domain, config entries replicated from dc1. Registrations
# of dc2 are catalog entries with their proxy blocks: meshgw translates them as dc2's
# Consul would.
datacenter         = "dc1"
primary_datacenter = "dc1"
trust_domain       = "e1e1e1e1-0000-4000-8000-000000000001.consul"
node_name          = "dc1-agent-1"
advertise_addr     = "10.1.0.9"

catalog = [
  # dc1: the billing service's sidecar (web, in web.hcl, runs on the agent's own node).
  {
    datacenter = "dc1"
    node       = "dc1-app-1"
    address    = "10.1.1.10"
    service = {
      kind = "connect-proxy", service = "billing-sidecar-proxy", port = 21000
      proxy = { destination_service_name = "billing", local_service_port = 8080 }
    }
  },
  # dc2: its mesh gateway and the api service, whose sidecar calls billing in dc1.
  {
    datacenter = "dc2"
    node       = "dc2-gw-1"
    address    = "10.2.0.5"
    service = {
      kind = "mesh-gateway", service = "mesh-gateway", port = 8443
      tagged_addresses = {
        lan = { address = "10.2.0.5", port = 8443 }
        wan = { address = "198.18.2.5", port = 443 }
      }
      proxy = { config = { envoy_gateway_bind_tagged_addresses = true, envoy_gateway_no_default_bind = true } }
    }
    checks = [{ check_id = "gw-alive", status = "passing" }]
  },
  {
    datacenter = "dc2"
    node       = "dc2-app-1"
    address    = "10.2.1.10"
    service = {
      kind = "connect-proxy", service = "api-sidecar-proxy", port = 21000
      proxy = {
        destination_service_name = "api"
        local_service_port       = 8080
        upstreams = [
          { destination_name = "billing", datacenter = "dc1", local_bind_port = 10000 },
        ]
      }
    }
  },
]

# Cluster peering with cluster "west" (../west): its own trust domain and catalog.
peers = [
  {
    name         = "west"
    remote_name  = "east"   # what west calls this cluster
    trust_domain = "a2a2a2a2-0000-4000-8000-000000000002.consul"
    datacenter   = "dc3"
    gateways     = [{ address = "198.18.3.5", port = 443 }]
    services     = [{ name = "payments" }]
  },
]
