# Consul's [DC] "failover-through-remote-gateway" fixture (hashicorp/consul:
# agent/proxycfg/testing_upstreams.go, TestConfigSnapshotDiscoveryChain), as a meshgw mesh
# file. Goldens (read from the project's reference, beside the checkout):
# ../shared/reference/consul-goldens/*-connect-proxy-with-tcp-chain-failover-through-*.json.
#
# web-sidecar-proxy in dc1 (port 9999, local app 127.0.0.1:8080) with two upstreams:
#   db         :9191             resolver db: ConnectTimeout 33s, Failover "*" -> dc2;
#                                service-defaults db: MeshGateway remote
#   geo-cache  127.10.10.10:8181 a prepared query (meshgw cannot evaluate it offline)
datacenter         = "dc1"
primary_datacenter = "dc1"
trust_domain       = "11111111-2222-3333-4444-555555555555.consul"

# Consul's snapshot has no intentions and a default-deny ACL policy (its RBAC filter
# allows nobody: "rules": {}).
acl {
  enabled        = true
  default_policy = "deny"
}

service {
  kind    = "connect-proxy"
  name    = "web-sidecar-proxy"
  id      = "web-sidecar-proxy"
  port    = 9999
  proxy {
    destination_service_name = "web"
    destination_service_id   = "web"
    local_service_address    = "127.0.0.1"
    local_service_port       = 8080
    upstreams = [
      { destination_name = "db", local_bind_port = 9191 },
      {
        destination_type   = "prepared_query"
        destination_name   = "geo-cache"
        local_bind_address = "127.10.10.10"
        local_bind_port    = 8181
      },
    ]
  }
}

config_entries {
  bootstrap = [
    { kind = "service-defaults", name = "db", mesh_gateway = { mode = "remote" } },
    {
      kind            = "service-resolver"
      name            = "db"
      connect_timeout = "33s"
      failover = { "*" = { datacenters = ["dc2"] } }
    },
  ]
}

catalog = [
  # db in dc1 (the primary target): its sidecars' addresses are the endpoints.
  {
    datacenter = "dc1", node = "test1", address = "10.10.1.1"
    service = {
      kind = "connect-proxy", service = "db-sidecar-proxy", port = 8080
      proxy = { destination_service_name = "db" }
    }
    checks = [{ check_id = "db-alive", status = "passing" }]
  },
  {
    datacenter = "dc1", node = "test2", address = "10.10.1.2"
    service = {
      kind = "connect-proxy", service = "db-sidecar-proxy", port = 8080
      proxy = { destination_service_name = "db" }
    }
    checks = [{ check_id = "db-alive", status = "passing" }]
  },
  # dc1's mesh gateways. The lan tags differ from the service address on purpose: Consul
  # uses the service address (BestAddress(wan=false) never reads the lan tag).
  {
    datacenter = "dc1", node = "mesh-gateway-1", address = "10.10.1.1"
    service = {
      kind = "mesh-gateway", service = "mesh-gateway", address = "10.10.1.1", port = 8443
      tagged_addresses = {
        lan = { address = "10.0.1.1", port = 8443 }
        wan = { address = "198.18.0.1", port = 443 }
      }
    }
    checks = [{ check_id = "gw-alive", status = "passing" }]
  },
  {
    datacenter = "dc1", node = "mesh-gateway-2", address = "10.10.1.2"
    service = {
      kind = "mesh-gateway", service = "mesh-gateway", address = "10.10.1.2", port = 8443
      tagged_addresses = {
        lan = { address = "10.0.1.2", port = 8443 }
        wan = { address = "198.18.0.2", port = 443 }
      }
    }
    checks = [{ check_id = "gw-alive", status = "passing" }]
  },
  # dc2's mesh gateways, reached at their WAN addresses.
  {
    datacenter = "dc2", node = "mesh-gateway-1", address = "10.0.1.1"
    service = {
      kind = "mesh-gateway", service = "mesh-gateway", port = 8443
      tagged_addresses = {
        lan = { address = "10.0.1.1", port = 8443 }
        wan = { address = "198.18.1.1", port = 443 }
      }
    }
    checks = [{ check_id = "gw-alive", status = "passing" }]
  },
  {
    datacenter = "dc2", node = "mesh-gateway-2", address = "10.0.1.2"
    service = {
      kind = "mesh-gateway", service = "mesh-gateway", port = 8443
      tagged_addresses = {
        lan = { address = "10.0.1.2", port = 8443 }
        wan = { address = "198.18.1.2", port = 443 }
      }
    }
    checks = [{ check_id = "gw-alive", status = "passing" }]
  },
  # db in dc2 (the failover target): healthy, so the gateway endpoints are HEALTHY.
  {
    datacenter = "dc2", node = "test1", address = "10.20.1.1"
    service = {
      kind = "connect-proxy", service = "db-sidecar-proxy", port = 8080
      proxy = { destination_service_name = "db" }
    }
    checks = [{ check_id = "db-alive", status = "passing" }]
  },
  {
    datacenter = "dc2", node = "test2", address = "10.20.1.2"
    service = {
      kind = "connect-proxy", service = "db-sidecar-proxy", port = 8080
      proxy = { destination_service_name = "db" }
    }
    checks = [{ check_id = "db-alive", status = "passing" }]
  },
]
