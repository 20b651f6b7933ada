# Intentions, worked example (docs/intentions.md): web calls three services in dc1.
datacenter   = "dc1"
trust_domain = "7d6c6a53-2b5e-4f8e-9f1d-2a9f1c3b4e5d.consul"

# ACLs on with a default-deny policy: what no intention allows is refused.
acl {
  enabled        = true
  default_policy = "deny"
}

services = [
  {
    name = "web"
    port = 9090
    connect {
      sidecar_service {
        proxy {
          upstreams = [
            { destination_name = "payments", local_bind_port = 10000 },
            { destination_name = "api", local_bind_port = 10001 },
            { destination_name = "reports", local_bind_port = 10002 },
          ]
        }
      }
    }
  },
  { name = "payments", port = 9091, connect { sidecar_service {} } },
  { name = "api", port = 9092, connect { sidecar_service {} } },
  { name = "reports", port = 9093, connect { sidecar_service {} } },
]

config_entries {
  bootstrap = [
    { kind = "service-defaults", name = "api", protocol = "http" },
  ]
}
