# Cluster "east", datacenter dc2, as its agent on node dc2-app-1 sees it: the api service
# (with its sidecar) registered here, dc2's mesh gateway in the catalog.
datacenter         = "dc2"
primary_datacenter = "dc1"
trust_domain       = "e1e1e1e1-0000-4000-8000-000000000001.consul"
node_name          = "dc2-app-1"
advertise_addr     = "10.2.1.10"

service {
  name = "api"
  port = 8080
  connect {
    sidecar_service {
      port = 21000
      proxy {
        upstreams = [
          { destination_name = "billing", datacenter = "dc1", local_bind_port = 10000 },
        ]
      }
    }
  }
}

catalog = [
  {
    node    = "dc2-gw-1"
    address = "10.2.0.5"
    service = {
      kind = "mesh-gateway", service = "mesh-gateway", port = 8443
      tagged_addresses = {
        lan = { address = "10.2.0.5", port = 8443 }
        wan = { address = "198.18.2.5", port = 443 }
      }
      proxy = {
        config = {
          envoy_gateway_bind_tagged_addresses = true
          envoy_gateway_no_default_bind       = true
        }
      }
    }
    checks = [{ check_id = "gw-alive", status = "passing" }]
  },
  # dc1's gateway, which dc2 reaches for dc1's services.
  {
    datacenter = "dc1"
    node       = "dc1-agent-1"
    address    = "10.1.0.9"
    service = {
      kind = "mesh-gateway", service = "mesh-gateway", port = 8443, address = "10.1.0.5"
      tagged_addresses = {
        lan = { address = "10.1.0.5", port = 8443 }
        wan = { address = "198.18.1.5", port = 443 }
      }
    }
  },
]
